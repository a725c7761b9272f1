"""What every export shares: destination handling, staging, the split policy, names, encoders, the CLI.

Each framework's own layout is read back the way its loader reads it in ``test_export_<framework>.py``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import svcprep
from svcprep.config import load_config
from svcprep.errors import ConfigError, StoreError
from svcprep.export import export_dataset, load_encoder
from svcprep.export.cli import add_commands, run
from svcprep.export.common import safe_name, unique_names
from svcprep.export.content import align_units, encode
from svcprep.presets import get_preset
from svcprep.testing import sing_phrase

FAST = ["denoise.spectral_gating=false", "f0.method=dio", "slice.enabled=false"]
N_BINS = 8


def frame_energy_encoder(audio_16k: np.ndarray) -> np.ndarray:
    """A tiny content encoder: per 20 ms frame, the mean of |x| over N_BINS sub-blocks (known answer)."""
    frames = audio_16k.size // 320
    x = np.abs(audio_16k[: frames * 320]).reshape(frames, N_BINS, 320 // N_BINS)
    return x.mean(axis=2).astype(np.float32)


def _make_raw(root: Path, sr: int) -> None:
    tunes = {
        "alice": ((220.0, 262.0), (330.0, 247.0), (165.0, 196.0)),
        "bob": ((110.0, 131.0), (98.0, 147.0), (156.0, 117.0)),
    }
    for spk, takes in tunes.items():
        for k in range(3):
            # a tune of its own per take: one phrase at three tempi would be time-stretched copies
            v = sing_phrase(
                sample_rate_hz=sr,
                notes_hz=takes[k],
                note_s=0.55 + 0.05 * k,
                pause_s=0.2,
                vibrato_hz=4.5 + k,
                seed=k,
            )
            y = np.concatenate([v.audio, v.audio])  # about 2.4 s: above the 2 s slice minimum
            p = root / spk / f"take {k}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, y, sr, subtype="FLOAT")
    # a 1.2 s take: shorter than slice.min_segment_s, so the build flags it "too_short"
    v = sing_phrase(sample_rate_hz=sr, notes_hz=(247.0,), note_s=1.2, pause_s=0.0, seed=9)
    sf.write(root / "alice" / "short.wav", v.audio, sr, subtype="FLOAT")


def _build(tmp: Path, preset: str) -> Path:
    cfg = load_config(base=get_preset(preset).config, overrides=FAST)
    raw = tmp / f"raw-{preset}"
    _make_raw(raw, cfg.load.sample_rate_hz)
    out = tmp / f"out-{preset}"
    svcprep.build(raw, out, cfg, jobs=1)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("export")
    return {p: _build(tmp, p) for p in ("rvc-v2-40k",)}


def _flagged(out: Path) -> str:
    ds = svcprep.open(out)
    ids = [r["id"] for r in ds.manifest if r.get("status") == "ok" and "too_short" in r.get("flags", ())]
    assert len(ids) == 1
    return ids[0]


def test_dest_must_be_empty_and_grid_must_fit(built: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "keep.txt").write_text("user file")
    with pytest.raises(StoreError, match=r"not empty.*--overwrite"):
        export_dataset(built["rvc-v2-40k"], "rvc", dest)
    rep = export_dataset(built["rvc-v2-40k"], "rvc", dest, overwrite=True)
    assert (dest / "keep.txt").read_text() == "user file" and rep.files
    assert not list(dest.rglob(".tmp-*"))
    with pytest.raises(ConfigError, match="preset ddsp-svc-6"):
        export_dataset(built["rvc-v2-40k"], "ddsp", tmp_path / "x")
    with pytest.raises(ConfigError, match="unknown framework 'vits'"):
        export_dataset(built["rvc-v2-40k"], "vits", tmp_path / "z")
    # a refused export creates nothing
    assert not (tmp_path / "x").exists() and not (tmp_path / "z").exists()


def test_failed_export_leaves_no_partial_file(
    built: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}

    def flaky(audio_16k: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("encoder crashed")
        return frame_energy_encoder(audio_16k)

    dest = tmp_path / "rvc"
    with pytest.raises(RuntimeError, match="encoder crashed"):
        export_dataset(built["rvc-v2-40k"], "rvc", dest, encoder=flaky)
    assert calls["n"] == 3 and not dest.exists()  # regression: empty folders were left behind
    # into an existing folder: the user's files stay, nothing of the failed export does
    dest.mkdir()
    (dest / "mine.txt").write_text("x")
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="encoder crashed"):
        export_dataset(built["rvc-v2-40k"], "rvc", dest, encoder=flaky, overwrite=True)
    assert sorted(p.name for p in dest.iterdir()) == ["mine.txt"]


def test_split_policy_changes_add_to_the_builds(built: dict[str, Path], tmp_path: Path) -> None:
    out = built["rvc-v2-40k"]
    flagged = _flagged(out)
    base = export_dataset(out, "rvc", tmp_path / "a")
    assert flagged not in base.items
    assert dict(base.skipped_counts) == {"flagged too_short (--include too_short)": 1}
    # regression: --exclude X used to re-admit every item flagged with anything but X
    other = export_dataset(out, "rvc", tmp_path / "b", exclude_flags=["clipping"])
    assert flagged not in other.items and set(other.items) == set(base.items)
    more = export_dataset(out, "rvc", tmp_path / "c", include_flags=["too_short"])
    assert flagged in more.items
    with pytest.raises(ConfigError, match=r"clippin.*clipping"):
        export_dataset(out, "rvc", tmp_path / "d", include_flags=["clippin"])
    with pytest.raises(ConfigError, match="both --exclude and --include"):
        export_dataset(out, "rvc", tmp_path / "e", include_flags=["noisy"], exclude_flags=["noisy"])
    text = base.summary()
    assert "left out 1 items" in text and f"  {flagged}:" not in text  # counted, not listed


def test_export_names_drop_the_extension_and_survive_rvc(built: dict[str, Path]) -> None:
    from svcprep.export.common import item_name

    assert item_name("alice/lullaby.wav#000") == "alice_lullaby_000"
    assert item_name("alice/lullaby.wav#001~pitch+2") == "alice_lullaby_001_pitchp2"
    assert "wav" not in item_name("wavy/wave.wav#000")  # RVC renames with replace("wav", "npy")
    names = unique_names(["a/x.wav#000", "a/x.flac#000"], stem=item_name)
    assert len(set(names.values())) == 2


def test_encoder_specs() -> None:
    enc = load_encoder("tests.test_export:frame_energy_encoder")
    y = np.ones(16000, np.float32)
    np.testing.assert_array_equal(encode(enc, y), np.ones((50, N_BINS), np.float32))
    with pytest.raises(ConfigError, match="cannot import module"):
        load_encoder("no_such_module_xyz:f")
    with pytest.raises(ConfigError, match="no attribute"):
        load_encoder("tests.test_export:missing")
    with pytest.raises(ConfigError, match="MODULE:FUNCTION"):
        load_encoder("just_a_name")
    with pytest.raises(ConfigError, match=r"no such ONNX model|onnxruntime"):
        load_encoder("/nonexistent/model.onnx")
    with pytest.raises(ConfigError, match=r"\(frames, dims\)"):
        encode(lambda a: np.zeros(5), y)
    with pytest.raises(ConfigError, match="NaN"):
        encode(lambda a: np.full((3, 2), np.nan), y)


def test_onnx_encoder(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 1, 320)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[320], strides=[320]),
            helper.make_node("Transpose", ["c"], ["y"], perm=[0, 2, 1]),
        ],
        "units",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, 4])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "units.onnx"
    onnx.save(model, str(path))
    enc = load_encoder(str(path))
    x = rng.standard_normal(16000 + 123).astype(np.float32)
    got = encode(enc, x)
    frames = x.size // 320
    want = x[: frames * 320].reshape(frames, 320) @ w[:, 0, :].T
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_align_units_nearest_frame() -> None:
    u = np.arange(10, dtype=np.float32)[:, None]
    got = align_units(u, n_frames=7, frame_period_s=0.03, unit_period_s=0.02)
    np.testing.assert_array_equal(got[:, 0], [0, 2, 3, 4, 6, 8, 9])  # rint(1.5 i), clipped to 9


def test_safe_names() -> None:
    assert safe_name("alice/song.wav#003~pitch+2") != safe_name("alice/song.wav#003~pitch-2")
    assert "." not in safe_name("a.b/c d.wav#001")
    names = unique_names(["a/x", "a_x", "b"])
    assert len(set(names.values())) == 3


def test_cli_presets_and_export(
    built: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command")
    add_commands(sub)
    assert run(ap.parse_args(["presets"])) == 0
    table = capsys.readouterr().out
    assert "rvc-v2-48k" in table and "ddsp-svc-6" in table
    args = ap.parse_args(
        ["export", str(built["rvc-v2-40k"]), "--to", "rvc", str(tmp_path / "e"), "--include", "too_short"]
    )
    assert run(args) == 0
    printed = capsys.readouterr().out
    assert "exported 7 items" in printed and "next:" in printed


def test_export_never_writes_through_a_link_in_dest_and_overwrite_sweeps_staging(
    built: dict[str, Path], tmp_path: Path
) -> None:
    first = tmp_path / "first"
    export_dataset(built["rvc-v2-40k"], "rvc", first)
    top = sorted(p.name for p in first.iterdir() if p.is_dir())[0]
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    outside.mkdir()
    dest.mkdir()
    os.symlink(outside, dest / top)
    stale = dest / ".svcprep-export-killed"
    stale.mkdir()
    (stale / ".x.tmp-1-ab.wav").write_bytes(b"RIFF")
    with pytest.raises(StoreError, match="symlink"):
        export_dataset(built["rvc-v2-40k"], "rvc", dest, overwrite=True)
    assert not list(outside.iterdir()), "nothing was written outside DEST"
    assert not stale.exists() and not list(dest.glob(".svcprep-export-*"))


def test_long_names_are_bounded() -> None:
    a, b = safe_name("x" * 250 + "a"), safe_name("x" * 250 + "b")
    assert len(a) <= 120 and len(b) <= 120 and a != b


@pytest.mark.parametrize("framework", ["rvc", "sovits"])
def test_a_source_named_with_250_bytes_builds_and_exports(tmp_path: Path, framework: str) -> None:
    # regression: the exporter's temporary file name grew past the 255-byte limit
    preset = {"rvc": "rvc-v2-40k", "sovits": "sovits-4.1"}[framework]
    cfg = load_config(base=get_preset(preset).config, overrides=FAST)
    sr = cfg.load.sample_rate_hz
    raw = tmp_path / "raw"
    (raw / "alice").mkdir(parents=True)
    long_name = "é" * 60 + "n" * 126 + ".wav"  # 250 bytes in UTF-8
    assert len(long_name.encode()) == 250
    for k, name in enumerate((long_name, "short.wav")):
        v = sing_phrase(sample_rate_hz=sr, notes_hz=(220.0 + 30 * k, 262.0), note_s=1.2, pause_s=0.2, seed=k)
        sf.write(raw / "alice" / name, v.audio, sr, subtype="PCM_16")
    out = tmp_path / "out"
    svcprep.build(raw, out, cfg, jobs=1)
    records = svcprep.open(out).manifest
    assert any(r["source"] == f"alice/{long_name}" and r["status"] == "ok" for r in records)
    report = export_dataset(out, framework, tmp_path / "dest")
    written = list((tmp_path / "dest").rglob("*.wav"))
    assert len(written) >= 2 and all(len(p.name.encode()) <= 255 for p in written)
    assert report.dest == tmp_path / "dest"
