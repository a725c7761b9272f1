"""Exports: build tiny datasets, export them, and read them back the way each framework's loader does."""

from __future__ import annotations

import argparse
import csv
import json
import math
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
    for spk, notes in [("alice", (220.0, 262.0)), ("bob", (110.0, 131.0))]:
        for k in range(3):
            v = sing_phrase(sample_rate_hz=sr, notes_hz=notes, note_s=0.55 + 0.05 * k, pause_s=0.2, seed=k)
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
    return {p: _build(tmp, p) for p in ("rvc-v2-40k", "sovits-4.1-diffusion", "ddsp-svc-6")}


def _flagged(out: Path) -> str:
    ds = svcprep.open(out)
    ids = [r["id"] for r in ds.manifest if r.get("status") == "ok" and "too_short" in r.get("flags", ())]
    assert len(ids) == 1
    return ids[0]


def _coarse(f0: np.ndarray) -> np.ndarray:
    mel_min, mel_max = 1127 * math.log(1 + 50 / 700), 1127 * math.log(1 + 1100 / 700)
    m = 1127 * np.log(1 + f0 / 700)
    m[m > 0] = (m[m > 0] - mel_min) * 254 / (mel_max - mel_min) + 1
    m[m <= 1] = 1
    m[m > 255] = 255
    return np.rint(m).astype(np.int64)


def test_rvc_export_reads_back(built: dict[str, Path], tmp_path: Path) -> None:
    out = built["rvc-v2-40k"]
    dest = tmp_path / "rvc"
    rep = export_dataset(out, "rvc", dest, encoder=frame_energy_encoder)
    ds = svcprep.open(out)
    flagged = _flagged(out)
    assert flagged not in rep.items and any(i == flagged and "too_short" in why for i, why in rep.skipped)
    assert len(rep.items) == 6 and rep.todo == ()
    lines = (dest / "filelist.txt").read_text().splitlines()
    mute = [ln for ln in lines if ln.startswith("logs/mute/")]
    assert len(mute) == 2 and all(ln.split("|")[0].endswith("mute40k.wav") for ln in mute)
    speakers = json.loads((dest / "speakers.json").read_text())
    assert speakers == rep.speakers == {"alice": 0, "bob": 1}
    items = [ln.split("|") for ln in lines if not ln.startswith("logs/mute/")]
    assert len(items) == len(rep.items)
    by_name = {v: k for k, v in unique_names(rep.items).items()}
    for gt, feat, coarse_p, nsf_p, spk in items:
        name = Path(gt).stem
        assert "." not in name  # RVC splits names at the first dot
        item = ds[by_name[name]]
        assert int(spk) == speakers[item["record"]["speaker"]]
        info = sf.info(gt)
        assert (info.samplerate, info.subtype) == (40000, "FLOAT")
        audio, _ = sf.read(gt, dtype="float32")
        np.testing.assert_array_equal(audio, item["audio"])
        a16, sr16 = sf.read(dest / "1_16k_wavs" / f"{name}.wav", dtype="float32")
        assert sr16 == 16000 and abs(a16.size - audio.size * 16000 // 40000) <= 1
        coarse = np.load(coarse_p, allow_pickle=False)
        f0 = np.load(nsf_p, allow_pickle=False)
        assert coarse.dtype == np.int64 and f0.dtype == np.float64
        assert coarse.shape == f0.shape == (audio.size // 400,)
        assert np.all(f0[item["uv"] == 0] == 0) and np.all(f0[item["uv"] == 1] > 0)
        np.testing.assert_array_equal(coarse, _coarse(f0.copy()))
        units = np.load(feat, allow_pickle=False)
        assert Path(feat).parent.name == f"3_feature{N_BINS}"
        np.testing.assert_allclose(units, frame_energy_encoder(a16), rtol=1e-6)
        # RVC's loader repeats units x2 and trims everything to the shortest: a frame or two at most
        assert abs(2 * units.shape[0] - f0.shape[0]) <= 2


def test_rvc_without_encoder_says_what_is_missing(built: dict[str, Path], tmp_path: Path) -> None:
    rep = export_dataset(built["rvc-v2-40k"], "rvc", tmp_path / "rvc")
    assert any("3_feature768" in t and "extract_feature_print" in t for t in rep.todo)
    assert not (tmp_path / "rvc" / "3_feature768").exists()
    assert "|" in (tmp_path / "rvc" / "filelist.txt").read_text()


def test_sovits_export_reads_back(built: dict[str, Path], tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    out = built["sovits-4.1-diffusion"]
    dest = tmp_path / "sovits"
    rep = export_dataset(out, "sovits", dest, encoder=frame_energy_encoder, include_flags=["too_short"])
    ds = svcprep.open(out)
    assert _flagged(out) in rep.items and len(rep.items) == 7
    config = json.loads((dest / "configs" / "config.json").read_text())
    assert config["spk"] == {"alice": 0, "bob": 1} and config["model"]["n_speakers"] == 2
    train = (dest / "filelists" / "train.txt").read_text().splitlines()
    val = (dest / "filelists" / "val.txt").read_text().splitlines()
    assert len(val) == 4 and len(train) == 3 and not set(train) & set(val)
    names = unique_names(rep.items)
    ids_by_name = {v: k for k, v in names.items()}
    for line in train + val:
        assert line.startswith("./dataset/44k/")
        path = dest / line[2:]
        spk = path.parent.name
        assert spk in config["spk"]
        item = ds[ids_by_name[path.stem]]
        info = sf.info(path)
        assert (info.samplerate, info.subtype) == (44100, "PCM_16")
        pcm, _ = sf.read(path, dtype="int16")
        audio = pcm.astype(np.float32) / 32768.0
        assert np.max(np.abs(audio - item["audio"])) <= 1.0 / 32768 + 1e-7
        f0, uv = np.load(str(path) + ".f0.npy", allow_pickle=True)  # as so-vits' data_utils does
        f0 = np.array(f0, dtype=float)
        uv = np.array(uv, dtype=float)
        n = audio.size // 512
        assert f0.shape == uv.shape == (n,)
        np.testing.assert_array_equal(uv, item["uv"].astype(float))
        vol = np.load(str(path) + ".vol.npy")
        mel = np.load(str(path) + ".mel.npy")
        assert vol.shape == (n,) and mel.shape == (n, 128) and mel.dtype == np.float32
        soft = torch.load(str(path) + ".soft.pt")
        a16 = svcprep.dsp.resample.resample(item["audio"], orig_sr_hz=44100, target_sr_hz=16000)
        assert tuple(soft.shape) == (1, N_BINS, a16.size // 320)
        np.testing.assert_allclose(soft[0].numpy().T, frame_energy_encoder(a16), rtol=1e-6)


def test_ddsp_export_reads_back(built: dict[str, Path], tmp_path: Path) -> None:
    out = built["ddsp-svc-6"]
    dest = tmp_path / "ddsp"
    rep = export_dataset(out, "ddsp", dest, encoder=frame_energy_encoder)
    ds = svcprep.open(out)
    assert rep.speakers == {"alice": 1, "bob": 2}
    names = {v: k for k, v in unique_names(rep.items).items()}
    seen = {"train": 0, "val": 0}
    for split in ("train", "val"):
        root = dest / "data" / split
        for wav in sorted((root / "audio").rglob("*.wav")):
            name_ext = wav.relative_to(root / "audio").as_posix()  # what DDSP's loader iterates
            spk_id = int(name_ext.split("/")[0])
            item = ds[names[wav.stem]]
            assert spk_id == rep.speakers[item["record"]["speaker"]]
            audio, sr = sf.read(wav, dtype="float32")
            n = audio.size // 512 + 1
            f0 = np.load(root / "f0" / f"{name_ext}.npy")
            vol = np.load(root / "volume" / f"{name_ext}.npy")
            mel = np.load(root / "mel" / f"{name_ext}.npy")
            units = np.load(root / "units" / f"{name_ext}.npy")
            assert sr == 44100 and f0.shape == vol.shape == (n,) and mel.shape == (n, 128)
            assert np.all(f0 > 0)  # interpolated: DDSP discards uv
            a16 = svcprep.dsp.resample.resample(audio, orig_sr_hz=44100, target_sr_hz=16000)
            raw_units = frame_energy_encoder(a16)
            idx = np.minimum(np.rint(np.arange(n) * (512 / 44100) / 0.02).astype(int), raw_units.shape[0] - 1)
            np.testing.assert_allclose(units, raw_units[idx], rtol=1e-6)
            seen[split] += 1
    assert seen == {"train": 2, "val": 4} and len(rep.items) == 6


def test_diffsvc_and_diffsinger_exports(built: dict[str, Path], tmp_path: Path) -> None:
    out = built["sovits-4.1-diffusion"]  # 44.1 kHz, hop 512, len//512 frames: the grid of both
    rep = export_dataset(out, "diff-svc", tmp_path / "dsvc")
    for wav in (tmp_path / "dsvc" / "data" / "raw").rglob("*.wav"):
        n = sf.info(wav).frames // 512
        assert np.load(wav.with_suffix(".f0.npy")).shape == (n,)
        assert np.load(wav.with_suffix(".mel.npy")).shape == (n, 128)
    cfg_text = (tmp_path / "dsvc" / "configs" / "alice.yaml").read_text()
    prefixes = [ln.strip()[2:] for ln in cfg_text.splitlines() if ln.startswith("  - ")]
    assert len(prefixes) == 2 and all((tmp_path / "dsvc" / json.loads(p)).is_file() for p in prefixes)
    assert rep.todo and "binarize.py" in rep.todo[0]

    rep = export_dataset(out, "diffsinger", tmp_path / "ds")
    for spk in ("alice", "bob"):
        with open(tmp_path / "ds" / spk / "transcriptions.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert rows and set(rows[0]) == {"name", "ph_seq", "ph_dur"}
        for r in rows:
            assert (tmp_path / "ds" / spk / "wavs" / f"{r['name']}.wav").is_file()
    assert len(rep.items) == 6 and "ph_seq" in rep.todo[0]


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
    with pytest.raises(ConfigError, match="preset rvc-v2-40k"):
        export_dataset(built["ddsp-svc-6"], "rvc", tmp_path / "y")
    with pytest.raises(ConfigError, match="unknown framework 'vits'"):
        export_dataset(built["rvc-v2-40k"], "vits", tmp_path / "z")


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
    for p in dest.rglob("*"):
        if p.is_file():
            assert not p.name.startswith(".tmp-")
            if p.suffix == ".npy":
                np.load(p)  # every file that exists is complete
            elif p.suffix == ".wav":
                assert sf.info(p).frames > 0


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
    assert "exported 7 items" in capsys.readouterr().out
