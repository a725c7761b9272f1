"""The shared corpus is where the tests expect it, and a missing corpus fails CI instead of skipping.

With ``SVCPREP_REQUIRE_SHARED_DATA=1`` (set by ``.ci/run``) the corpus must exist; without it, these
checks run only when the corpus folder exists.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests._data import REQUIRE_ENV, SHARED_DATA, shared_data_required, shared_file

# The two frame-level F0 truth files (README.md, "F0 annotation format"), each beside its audio.
F0_TRUTH = [
    "singing/vocadito/vocadito_1.f0.csv",
    "singing/vocadito/vocadito_10_excerpt_0.350-5.050s.f0.csv",
]


@pytest.fixture
def corpus() -> Path:
    if shared_data_required():
        assert SHARED_DATA.is_dir(), f"{REQUIRE_ENV}=1 but the shared data folder {SHARED_DATA} is absent"
    elif not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (set {REQUIRE_ENV}=1 to require it)")
    return SHARED_DATA


def test_corpus_holds_its_readme_manifest_and_f0_truth(corpus: Path) -> None:
    for rel in ["README.md", "manifest.csv", *F0_TRUTH]:
        assert (corpus / rel).is_file(), f"missing from the shared data: {corpus / rel}"
    for rel in F0_TRUTH:
        truth = corpus / rel
        assert truth.read_text(encoding="utf-8").splitlines()[0] == "time_s,f0_hz", truth
        assert truth.with_name(truth.name.removesuffix(".f0.csv") + ".wav").is_file(), truth


def test_every_file_in_the_manifest_is_present(corpus: Path) -> None:
    with (corpus / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        path = corpus / row["path"]
        assert path.is_file(), f"listed in manifest.csv but missing: {path}"
        assert path.stat().st_size == int(row["bytes"]), f"size differs from manifest.csv: {path}"
    with_truth = {row["path"].rsplit(".", 1)[0] for row in rows if row["has_f0_truth"] == "yes"}
    assert with_truth == {rel.removesuffix(".f0.csv") for rel in F0_TRUTH}


def test_missing_shared_file_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no_such_file\.wav"):
        shared_file("singing/no_such_file.wav")
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=rf"no_such_file\.wav.*{REQUIRE_ENV}=1"):
        shared_file("singing/no_such_file.wav")
    monkeypatch.setenv(REQUIRE_ENV, "0")
    with pytest.raises(pytest.skip.Exception):
        shared_file("singing/no_such_file.wav")
