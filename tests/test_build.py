"""End-to-end: `svcprep build` on temporary folders, through the CLI and the library."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import svcprep
from svcprep.cli import main
from svcprep.dsp.frames import num_frames
from svcprep.store.lock import BuildLock
from svcprep.testing import harmonic_voice, sing_phrase

FAST = ["--set", "denoise.spectral_gating=false", "--no-progress", "-q"]
MANIFEST_FIELDS = {
    "id",
    "source",
    "speaker",
    "start_s",
    "end_s",
    "duration_s",
    "variant_of",
    "status",
    "error",
    "flags",
    "metrics",
}


def _song(seed: int, notes: tuple[float, ...], sr: int = 44100) -> tuple[np.ndarray, object]:
    v = sing_phrase(sample_rate_hz=sr, notes_hz=notes, note_s=0.7, pause_s=0.5, seed=seed)
    y = np.concatenate([np.zeros(sr // 4, np.float32), v.audio, np.zeros(sr // 2, np.float32)])
    return y, v


def make_raw(root: Path) -> dict[str, object]:
    """Two speakers, three files, about 10 s of audio in formats of several rates."""
    truth = {}
    for spk, name, notes, sr, fmt in [
        ("alice", "a1.wav", (220.0, 247.0, 262.0, 294.0), 44100, "WAV"),
        ("alice", "sub/a2.flac", (330.0, 294.0, 262.0, 247.0), 22050, "FLAC"),
        ("bob", "b1.wav", (110.0, 123.0, 131.0, 147.0), 48000, "WAV"),
    ]:
        y, v = _song(len(truth) + 1, notes, sr)
        p = root / spk / name
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, y, sr, format=fmt, subtype="PCM_16")
        truth[f"{spk}/{name}"] = (v, sr)
    return truth


def tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    base = tmp_path_factory.mktemp("e2e")
    raw, out = base / "raw", base / "out"
    truth = make_raw(raw)
    before = tree_digest(raw)
    code = main(["build", str(raw), str(out), "-j", "2", "--set", "slice.min_segment_s=1.0", *FAST])
    assert code == 0
    assert tree_digest(raw) == before, "the raw folder must never be written to"
    return raw, out, truth


def test_manifest_and_dataset_contract(built) -> None:
    _, out, truth = built
    lines = (out / "manifest.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]
    assert records, "manifest is empty"
    for r in records:
        assert set(r) >= MANIFEST_FIELDS
    ok = [r for r in records if r["status"] == "ok"]
    assert {r["speaker"] for r in ok} == {"alice", "bob"}
    assert {r["source"] for r in ok} == set(truth)

    ds = svcprep.open(out)
    assert len(ds) == len(ok)
    assert ds.sample_rate == 44100 and ds.hop_length == 512
    assert ds.manifest == records
    for i, item in enumerate(ds):
        rec = item["record"]
        assert ds[rec["id"]]["record"] == rec == ds[i]["record"]
        n = num_frames(item["audio"].size, hop_length=512)
        assert item["audio"].dtype == np.float32 and item["audio"].ndim == 1
        assert item["mel"].shape == (n, 128) and item["mel"].dtype == np.float32
        for k in ("f0", "uv", "coarse_f0", "volume"):
            assert item[k].shape == (n,), k
        assert item["audio"].size == rec["n_samples"]
        assert abs(rec["duration_s"] - item["audio"].size / 44100) < 1e-5
        assert rec["end_s"] > rec["start_s"] >= 0
        assert np.isfinite(item["mel"]).all() and np.isfinite(item["f0"]).all()
        assert set(np.unique(item["uv"])) <= {0, 1}
        assert item["coarse_f0"].min() >= 1 and item["coarse_f0"].max() <= 255


def test_features_match_the_synthetic_truth(built) -> None:
    """Pipeline-level truth: the F0 of every item follows the F0 the signal was made with."""
    _, out, truth = built
    ds = svcprep.open(out)
    errs = []
    for item in ds:
        rec = item["record"]
        v, _ = truth[rec["source"]]
        t = rec["start_s"] + np.arange(item["f0"].size) * 512 / 44100
        # the source was padded with 0.25 s of silence before the phrase
        ref = v.f0_at(t - 0.25)
        both = (item["uv"] == 1) & (ref > 0)
        assert both.mean() > 0.3
        cents = 1200 * np.abs(np.log2(item["f0"][both] / ref[both]))
        errs.append(np.median(cents))
        assert np.mean(cents < 50) > 0.9, rec["id"]
    assert np.median(errs) < 10


def test_audio_position_matches_the_source(built) -> None:
    raw, out, _ = built
    ds = svcprep.open(out)
    item = next(it for it in ds if it["record"]["source"] == "alice/a1.wav")
    rec = item["record"]
    y, sr = sf.read(raw / "alice" / "a1.wav", dtype="float32")
    seg = y[round(rec["start_s"] * sr) : round(rec["end_s"] * sr)]
    # denoise high-pass only removes < 40 Hz: the segment is the source's samples at the same place
    n = min(seg.size, item["audio"].size)
    corr = np.corrcoef(seg[:n], item["audio"][:n])[0, 1]
    assert corr > 0.99


def test_noop_rebuild_publishes_nothing_and_does_no_audio_work(built) -> None:
    raw, out, _ = built
    versions_before = sorted(p.name for p in (out / "versions").iterdir())
    cfg = svcprep.load_config(overrides=["slice.min_segment_s=1.0", "denoise.spectral_gating=false"])
    report = svcprep.build(raw, out, cfg, jobs=2)
    assert report.exit_code == 0
    assert not report.published and not report.computed
    assert sorted(p.name for p in (out / "versions").iterdir()) == versions_before


def test_serial_and_parallel_builds_are_byte_identical(tmp_path) -> None:
    raw = tmp_path / "raw"
    make_raw(raw)
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        assert main(["build", str(raw), str(out), "-j", jobs, "--set", "slice.min_segment_s=1.0", *FAST]) == 0
        outs.append(out)
    assert (outs[0] / "manifest.jsonl").read_bytes() == (outs[1] / "manifest.jsonl").read_bytes()
    assert tree_digest(outs[0] / "shards") == tree_digest(outs[1] / "shards")


def test_bad_config_fails_before_any_work(tmp_path, capsys) -> None:
    raw = tmp_path / "raw"
    (raw / "s").mkdir(parents=True)
    out = tmp_path / "out"
    assert main(["build", str(raw), str(out), "--set", "mel.n_mels=0"]) == 2
    err = capsys.readouterr().err
    assert "mel.n_mels=0" in err
    assert not out.exists()
    assert main(["build", str(tmp_path / "missing"), str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["build", str(raw), str(raw / "out")]) == 2
    assert "inside the raw folder" in capsys.readouterr().err


def test_second_build_on_the_same_out_fails_naming_the_holder(tmp_path, capsys) -> None:
    raw = tmp_path / "raw"
    (raw / "s").mkdir(parents=True)
    sf.write(raw / "s" / "a.wav", np.zeros(4410, np.float32), 44100)
    out = tmp_path / "out"
    out.mkdir()
    with BuildLock(out):
        assert main(["build", str(raw), str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "another svcprep build" in err and f'"pid": {os.getpid()}' in err


def test_config_command_prints_loadable_toml(tmp_path, capsys) -> None:
    assert main(["config", "--set", "f0.method=dio"]) == 0
    text = capsys.readouterr().out
    p = tmp_path / "c.toml"
    p.write_text(text)
    assert svcprep.load_config(p).f0.method == "dio"


def test_slicing_off_and_augment_variants(tmp_path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    y = harmonic_voice(np.full(round(2.5 * 22050), 220.0), sample_rate_hz=22050).audio
    sf.write(raw / "note.wav", y, 22050)  # a file directly in raw/: speaker = folder name
    out = tmp_path / "out"
    code = main(
        [
            "build",
            str(raw),
            str(out),
            "--set",
            "slice.enabled=false",
            "--set",
            "augment.enabled=true",
            "--set",
            "augment.pitch_shift_semitones=[3]",
            "--set",
            "augment.time_stretch_rates=[0.8]",
            "--set",
            "load.sample_rate_hz=22050",
            "--set",
            "mel.fmax_hz=11025",
            *FAST,
        ]
    )
    assert code == 0
    ds = svcprep.open(out)
    ids = sorted(ds.ids)
    assert ids == ["note.wav#000", "note.wav#000~pitch+3", "note.wav#000~stretch0.8"]
    base, shifted, slow = (ds[i] for i in ids)
    assert base["record"]["speaker"] == "raw"
    assert shifted["record"]["variant_of"] == "note.wav#000" and base["record"]["variant_of"] is None
    assert slow["audio"].size == round(base["audio"].size / 0.8)
    f_base = np.median(base["f0"][base["uv"] == 1])
    f_shift = np.median(shifted["f0"][shifted["uv"] == 1])
    assert abs(1200 * np.log2(f_shift / f_base) - 300) < 15


def test_console_script_runs(tmp_path) -> None:
    exe = shutil.which("svcprep")
    cmd = [exe] if exe else [sys.executable, "-m", "svcprep.cli"]
    res = subprocess.run([*cmd, "--version"], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "svcprep" in res.stdout


def test_preset_sets_the_framework_grid_and_still_takes_overrides(tmp_path, capsys) -> None:
    assert main(["config", "--preset", "rvc-v2-40k", "--set", "slice.max_segment_s=5"]) == 0
    p = tmp_path / "c.toml"
    p.write_text(capsys.readouterr().out)
    cfg = svcprep.load_config(p)
    assert (cfg.load.sample_rate_hz, cfg.features.hop_length, cfg.mel.n_mels) == (40000, 400, 125)
    assert cfg.slice.max_segment_s == 5
    assert main(["config", "--preset", "nope"]) == 2
    assert "sovits-4.1" in capsys.readouterr().err


def test_praat_without_parselmouth_fails_before_any_work(tmp_path, capsys, monkeypatch) -> None:
    raw = tmp_path / "raw"
    (raw / "s").mkdir(parents=True)
    monkeypatch.setitem(sys.modules, "parselmouth", None)  # as if the extra were not installed
    assert main(["build", str(raw), str(tmp_path / "out"), "--set", "f0.method=praat", "--no-progress"]) == 2
    assert "pip install 'svcprep[praat]'" in capsys.readouterr().err
