"""Shared fixtures: the shared corpus of real recordings, and a small built dataset with two versions
for the report tests."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf

import svcprep
from tests._data import shared_file
from tests.reportdata import SR, make_raw, song


def pytest_configure(config: pytest.Config) -> None:
    """Give each test worker its own numba cache folder.

    numba's on-disk cache (librosa's pYIN kernels) is not safe for processes compiling the
    same function at once: two test workers segfaulted loading each other's half-written
    entries. This runs in every worker before any test module (and numba) is imported.
    """
    assert "numba" not in sys.modules, "numba was imported before the cache folder was set"
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), f"svcprep-numba-{os.getuid()}"
    )
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(base, worker)


BUILD_SETTINGS = ["denoise.spectral_gating=false", "slice.min_segment_s=1.0", "f0.method=dio"]


@pytest.fixture
def shared_data() -> Path:
    """The shared corpus folder (``../shared/data`` beside the repository, see tests/_data.py).

    Skips the test when the folder is absent, or fails it when ``SVCPREP_REQUIRE_SHARED_DATA=1``.
    For one file, call ``tests._data.shared_file(relpath)`` instead.
    """
    return shared_file()


@dataclass(frozen=True)
class Built:
    """A raw folder and its output folder with versions v0001 (first) and v0002 (changed)."""

    raw: Path
    out: Path


@pytest.fixture(scope="session")
def report_dataset(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """v0001: every kind of trouble and hostile names; v0002: one take added and the noise
    threshold lowered (clears the ``noisy`` flag), so the report has changes to show."""
    root = tmp_path_factory.mktemp("report")
    raw = make_raw(root)
    out = root / "out"
    svcprep.build(raw, out, svcprep.load_config(overrides=BUILD_SETTINGS), jobs=2)
    sf.write(raw / "ann" / "take3.wav", song(7, 208.0), SR, subtype="PCM_16")
    svcprep.build(raw, out, svcprep.load_config(overrides=[*BUILD_SETTINGS, "quality.min_snr_db=5"]), jobs=2)
    return Built(raw, out)


@dataclass(frozen=True)
class BigReport:
    """A 10,000-item version (cloned from ``report_dataset``) and its report."""

    out: Path
    version: str
    html_path: Path
    media_items: int
    max_media: int


@pytest.fixture(scope="session")
def big_report(report_dataset: Built, tmp_path_factory: pytest.TempPathFactory) -> BigReport:
    """The report of a 10,000-item dataset, media capped at 12 items."""
    import shutil

    from svcprep.report import write_report
    from tests.reportdata import scale_version

    root = tmp_path_factory.mktemp("big")
    out = root / "out"
    shutil.copytree(report_dataset.out, out)
    vid = scale_version(out, 10_000, seed=1)
    res = write_report(out, root / "big.html", version=vid, max_media=12, worst_per_flag=2)
    return BigReport(out, vid, res.path, res.media_items, 12)
