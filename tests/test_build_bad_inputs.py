"""End-to-end: every kind of bad input becomes a record with a reason and the build goes on."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

import svcprep
from svcprep.cli import main
from svcprep.testing import sing_phrase
from tests.badfiles import make_bad_inputs, make_unreadable, run_unprivileged, world_readable_tmpdir

FAST = ["--set", "denoise.spectral_gating=false", "--no-progress", "-q", "-j", "2"]
ERROR_CODES = {"empty", "decode_error", "truncated", "non_finite", "bad_sample_rate"}


def _good(path, sr: int = 22050) -> None:
    v = sing_phrase(sample_rate_hz=sr, notes_hz=(200.0, 220.0), note_s=1.2, pause_s=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, v.audio, sr)


@pytest.mark.parametrize("slicing", [True, False])
def test_every_bad_input_is_a_record_and_the_rest_is_built(tmp_path, capsys, slicing: bool) -> None:
    raw = tmp_path / "raw"
    expected = make_bad_inputs(raw)
    _good(raw / "good" / "song.wav")
    out = tmp_path / "out"
    extra = [] if slicing else ["--set", "slice.enabled=false"]
    code = main(["build", str(raw), str(out), *extra, *FAST])
    assert code == 1, "some inputs failed, so the exit code is 1"
    records = [json.loads(x) for x in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    by_source: dict[str, list[dict]] = {}
    for r in records:
        by_source.setdefault(r["source"], []).append(r)

    for rel, outcome in expected.items():
        recs = by_source.get(rel)
        assert recs, f"no record for {rel}"
        if outcome in ERROR_CODES:
            (r,) = recs
            assert r["status"] == "error" and outcome in r["flags"], r
            assert r["error"] and len(r["error"]) > 10
        elif outcome in ("skipped", "error"):
            (r,) = recs
            assert r["status"] == outcome and r["error"], r
        else:  # loads fine: processed, or dropped on purpose with a reason
            assert all(r["status"] in ("ok", "dropped") for r in recs), recs
            if not slicing:
                assert any(r["status"] == "ok" for r in recs) or "silence.wav" in rel, recs
            for r in recs:
                if r["status"] == "dropped":
                    assert r["error"]

    good = by_source["good/song.wav"]
    assert good and all(r["status"] == "ok" for r in good)
    ds = svcprep.open(out)
    assert any(it["record"]["source"] == "good/song.wav" for it in ds)
    for it in ds:
        assert np.isfinite(it["mel"]).all() and np.isfinite(it["f0"]).all() and np.isfinite(it["audio"]).all()
    err = capsys.readouterr().err
    assert "truncated" in err or "empty" in err  # -q prints the errors


def test_unreadable_file_is_an_error_record(tmp_path) -> None:
    with world_readable_tmpdir() as base:
        raw, out = base / "raw", base / "out"
        _good(raw / "s" / "good.wav")
        _good(raw / "s" / "locked.wav")
        make_unreadable(raw / "s" / "locked.wav")
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        res = run_unprivileged(
            f"""
import svcprep
cfg = svcprep.load_config(overrides=["denoise.spectral_gating=false"])
rep = svcprep.build({str(raw)!r}, {str(out)!r}, cfg, jobs=1)
print(json.dumps({{r["id"]: [r["status"], r["error"]] for r in rep.records}}))
"""
        )
        if res is None:
            pytest.skip("cannot drop privileges here, so permission errors cannot be observed")
        assert res["s/locked.wav"][0] == "error"
        assert "ermission" in res["s/locked.wav"][1]
        assert any(k.startswith("s/good.wav#") and v[0] == "ok" for k, v in res.items())
