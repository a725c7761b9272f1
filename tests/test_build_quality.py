"""End-to-end: the build flags what will hurt training, and the split leaves it out."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

import svcprep
from svcprep.cli import main
from svcprep.testing import clipped, sing_phrase


def _song(seed: int, base_hz: float) -> np.ndarray:
    # a different tune per seed: one tune in two keys is a pitch-shifted copy (near_duplicate)
    steps = np.random.default_rng(seed).permutation([0, 2, 4, 5, 7, 9])
    notes = tuple(base_hz * 2 ** (k / 12) for k in steps)
    v = sing_phrase(sample_rate_hz=44100, notes_hz=notes, note_s=0.6, pause_s=0.4, breath=0.002, seed=seed)
    return v.audio


def test_defects_are_flagged_with_their_reason_and_kept_out_of_training(tmp_path, capsys) -> None:
    raw = tmp_path / "raw"
    (raw / "ann").mkdir(parents=True)
    (raw / "ben").mkdir(parents=True)
    a = _song(1, 220.0)
    sf.write(raw / "ann" / "take1.wav", a, 44100, subtype="PCM_16")
    same, _ = sf.read(raw / "ann" / "take1.wav", dtype="float32")
    sf.write(raw / "ann" / "take1_copy.flac", same, 44100, subtype="PCM_24")  # same audio, other container
    sf.write(raw / "ann" / "take2.wav", _song(2, 233.0), 44100, subtype="PCM_16")
    sf.write(raw / "ben" / "hot.wav", clipped(_song(3, 130.0), gain_db=12.0) * 0.5, 44100, subtype="PCM_16")
    sf.write(raw / "ben" / "calm.wav", _song(4, 147.0), 44100, subtype="PCM_16")
    out = tmp_path / "out"
    args = ["--set", "denoise.spectral_gating=false", "--set", "slice.min_segment_s=1.0", "--no-progress"]
    assert main(["build", str(raw), str(out), "-j", "2", *args]) == 0
    text = capsys.readouterr().out
    assert "worst items" in text and "exact_duplica" in text

    recs = {r["id"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    copy = [r for r in recs.values() if r["source"] == "ann/take1_copy.flac"]
    orig = [r for r in recs.values() if r["source"] == "ann/take1.wav"]
    assert copy and all("exact_duplicate" in r["flags"] for r in copy)
    assert all("exact_duplicate" not in r["flags"] for r in orig), "the first copy stays"
    d = copy[0]["flag_details"]["exact_duplicate"]
    assert d["duplicate_of"].startswith("ann/take1.wav#") and d["detail"]
    hot = [r for r in recs.values() if r["source"] == "ben/hot.wav"]
    assert hot and all("clipping" in r["flags"] for r in hot)
    det = hot[0]["flag_details"]["clipping"]
    assert det["metric"] == "clip_ratio" and det["value"] > det["threshold"]
    clean = [r for r in recs.values() if r["source"] in ("ann/take2.wav", "ben/calm.wav")]
    assert clean and not any(
        {"clipping", "exact_duplicate", "near_duplicate"} & set(r["flags"]) for r in clean
    )
    # the F0 stage's 16 kHz DIO pre-pass (which fitted harvest's range) is the second extractor
    assert all(r["metrics"]["f0_disagreement_ratio"] < 0.1 for r in clean)

    ds = svcprep.open(out)
    split = ds.split()
    assert set(split.excluded) == {r["id"] for r in recs.values() if r["status"] == "ok" and r["flags"]}
    assert not set(split.train) & {r["id"] for r in copy + hot}
    assert all(r["split"] in ("train", "val", "excluded") for r in recs.values() if r["status"] == "ok")

    # --include keeps clipped items in training; only metrics-free work is redone (no audio stage)
    report = svcprep.build(
        raw,
        out,
        svcprep.load_config(
            overrides=[
                "denoise.spectral_gating=false",
                "slice.min_segment_s=1.0",
                'split.include_flags=["clipping"]',
            ]
        ),
        jobs=2,
    )
    assert report.published and not report.stage_runs
    ds = svcprep.open(out)
    assert {r["id"] for r in hot} <= set(
        ds.split(include_flags=["clipping"]).train + ds.split(include_flags=["clipping"]).val
    )
    assert all(ds.record(r["id"])["split"] in ("train", "val") for r in hot)


def test_check_scans_without_keeping_features(tmp_path, capsys) -> None:
    raw = tmp_path / "raw"
    (raw / "s").mkdir(parents=True)
    sf.write(raw / "s" / "a.wav", _song(5, 196.0), 44100)
    manifest = tmp_path / "scan.jsonl"
    assert main(["check", str(raw), "--manifest", str(manifest), "--no-progress", "-j", "1"]) == 0
    recs = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert recs and all(r["status"] == "ok" for r in recs)
    assert all("snr_db" in r["metrics"] and "clip_ratio" in r["metrics"] for r in recs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw", "scan.jsonl"]
    assert "manifest written to" in capsys.readouterr().out


def test_shifted_and_stretched_copies_of_speech_are_near_duplicates(tmp_path, capsys) -> None:
    """Real speech, whose F0 contour is too broken to follow: the fingerprints find the copies."""
    import librosa

    from tests._data import shared_file

    y, sr = sf.read(shared_file("speech/cmu_arctic/arctic_a0007.wav"), dtype="float32")
    other, _ = sf.read(shared_file("speech/cmu_arctic/arctic_a0009.wav"), dtype="float32")
    raw = tmp_path / "raw" / "awb"
    raw.mkdir(parents=True)
    sf.write(raw / "a_take.wav", y, sr)
    sf.write(raw / "b_up2.wav", librosa.effects.pitch_shift(y, sr=sr, n_steps=2.0), sr)
    sf.write(raw / "c_slow.wav", librosa.effects.time_stretch(y, rate=0.9), sr)
    sf.write(raw / "d_other.wav", other, sr)
    out = tmp_path / "out"
    assert main(["build", str(tmp_path / "raw"), str(out), "--no-progress"]) == 0
    capsys.readouterr()
    recs = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    by_src: dict[str, list[dict]] = {}
    for r in recs:
        if r.get("kind", "item") == "item" and r["status"] == "ok":
            by_src.setdefault(r["source"], []).append(r)
    for name, what, amount in (
        ("awb/b_up2.wav", "pitch_shift_semitones", 2.0),
        ("awb/c_slow.wav", "time_stretch", 1 / 0.9),
    ):
        (rec,) = by_src[name]
        d = rec["flag_details"]["near_duplicate"]
        assert d["metric"] == "spectral_score" and d["value"] >= d["threshold"]
        assert d["duplicate_of"] == "awb/a_take.wav#000"
        assert abs(d[what] - amount) < 0.05
        assert "reverberant" not in rec["flags"]  # the phase vocoder's smear is not a room
    assert not any(
        "near_duplicate" in r["flags"] for n in ("awb/a_take.wav", "awb/d_other.wav") for r in by_src[n]
    )


def test_noisy_is_not_set_on_the_downmix_of_cancelling_channels() -> None:
    """The downmix of a cancelling pair is a thin difference signal whose blind SNR reads
    low: its diagnosis is channel_cancellation (use one channel), not noise."""
    from svcprep.config import BuildConfig
    from svcprep.quality.dataset import apply_quality
    from svcprep.records import ItemRecord

    def item(i: str, flags: tuple[str, ...]) -> ItemRecord:
        return ItemRecord(
            id=f"{i}.wav#000", source=f"{i}.wav", speaker="ann", status="ok", flags=flags,
            metrics={"snr_db": 7.8, "loudness_lufs": -23.0}, duration_s=4.0, sample_rate_hz=44100,
        )  # fmt: skip

    out = {
        r.id: r
        for r in apply_quality([item("a", ("channel_cancellation",)), item("b", ())], {}, BuildConfig())
    }
    assert "noisy" not in out["a.wav#000"].flags and "channel_cancellation" in out["a.wav#000"].flags
    assert "noisy" in out["b.wav#000"].flags


def test_every_measured_flag_carries_its_metric_threshold_and_sentence(tmp_path) -> None:
    """Regression: dead_channel, channel_cancellation, a dropped piece's too_short and a silent
    source's silence were written without flag_details (the loader and slicer set them)."""
    raw = tmp_path / "raw"
    (raw / "ann").mkdir(parents=True)
    song = _song(5, 220.0)
    sf.write(raw / "ann" / "take.wav", song, 44100, subtype="PCM_16")
    dead = _song(8, 196.0)
    sf.write(raw / "ann" / "dead.wav", np.stack([dead, np.zeros_like(dead)], axis=1), 44100, subtype="PCM_16")
    other = _song(6, 247.0)
    sf.write(raw / "ann" / "polarity.wav", np.stack([other, -other], axis=1), 44100, subtype="PCM_16")
    # 0.4 s of sound in 2.4 s: too short for any segment, and the source mostly silent
    blip = np.concatenate([np.zeros(44100), _song(7, 262.0)[: int(0.4 * 44100)], np.zeros(44100)])
    sf.write(raw / "ann" / "blip.wav", blip, 44100, subtype="PCM_16")
    out = tmp_path / "out"
    assert main(["build", str(raw), str(out), "--set", "denoise.spectral_gating=false", "--no-progress"]) == 0
    recs = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    seen = set()
    errors = {"unreadable", "empty", "decode_error", "truncated", "non_finite", "bad_sample_rate"}
    for r in recs:
        for f in set(r["flags"]) - errors - {"processing_error", "quality_error"}:
            d = r["flag_details"].get(f)
            assert d is not None, (r["id"], f)
            assert {"metric", "value", "threshold", "detail"} <= set(d) and d["detail"], (r["id"], f, d)
            seen.add((r["kind"], f))
    assert {("item", "dead_channel"), ("source", "channel_cancellation"), ("source", "silence")} <= seen
    assert ("piece", "too_short") in seen
    d = next(r for r in recs if r["kind"] == "item" and "dead_channel" in r["flags"])["flag_details"]
    assert d["dead_channel"]["metric"] == "quietest_channel_db" and d["dead_channel"]["value"] <= -50.0
    c = next(r for r in recs if r["kind"] == "source" and "channel_cancellation" in r["flags"])
    cc = c["flag_details"]["channel_cancellation"]
    assert cc["metric"] == "downmix_rms_ratio" and cc["value"] < cc["threshold"] == 0.25
    p = next(r for r in recs if r["kind"] == "piece")["flag_details"]["too_short"]
    assert p["metric"] == "duration_s" and p["value"] < p["threshold"]
