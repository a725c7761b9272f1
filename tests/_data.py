"""The shared evaluation corpus of real recordings: its one location, and how tests reach it.

The corpus lives outside the repository, in ``../shared/data`` beside the repository root (see its
README.md). On a developer machine without it, the tests that read it skip. Under CI (``.ci/run``
sets ``SVCPREP_REQUIRE_SHARED_DATA=1``) a missing file fails the test instead, so a lost corpus
cannot turn into a green run of skipped tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REQUIRE_ENV = "SVCPREP_REQUIRE_SHARED_DATA"


def shared_data_required() -> bool:
    """True when a missing corpus must fail the tests (``SVCPREP_REQUIRE_SHARED_DATA=1``)."""
    return os.environ.get(REQUIRE_ENV, "").strip() == "1"


def shared_data_missing(what: str) -> NoReturn:
    """Skip the current test because ``what`` is missing from the corpus, or fail it under CI."""
    if shared_data_required():
        pytest.fail(f"shared data missing: {what} ({REQUIRE_ENV}=1, so this fails instead of skipping)")
    pytest.skip(f"shared data missing: {what} (the corpus belongs in ../shared/data beside the repo)")


def shared_file(relpath: str | Path = "") -> Path:
    """The path of ``relpath`` inside the corpus (the corpus folder itself for ``""``).

    Skips the calling test when that file or folder does not exist, or fails it when
    ``SVCPREP_REQUIRE_SHARED_DATA=1``.
    """
    path = SHARED_DATA / relpath
    if not path.exists():
        shared_data_missing(str(path))
    return path
