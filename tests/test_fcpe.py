"""FCPE F0 (``f0.method = "fcpe"``): the front end, the 10 ms timing, accuracy on real singing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from svcprep import testing as synth
from svcprep.config import load_config
from svcprep.dsp.f0 import compare_f0, extract_f0, read_f0_csv, track_on_grid
from svcprep.dsp.frames import num_frames
from svcprep.errors import ConfigError
from svcprep.stages import STAGES
from tests._data import shared_file
from tests.test_mel import ref_log_mel

pytest.importorskip("torch")
if importlib.util.find_spec("torchfcpe") is None:  # not importorskip: its __init__ needs torchaudio
    pytest.skip("torchfcpe is not installed (pip install 'svcprep[fcpe]')", allow_module_level=True)

from svcprep.dsp.fcpe import fcpe_f0_16k, fcpe_mel


def _fcpe(y: np.ndarray, sr: int, hop: int, voicing: str = "refined") -> object:
    return extract_f0(
        y, sample_rate_hz=sr, hop_length=hop, n_frames=num_frames(y.size, hop_length=hop),
        method="fcpe", voicing=voicing, voicing_threshold=0.7,
    )  # fmt: skip


def test_front_end_is_the_models_log_mel() -> None:
    y = synth.sing_phrase(sample_rate_hz=16000, notes_hz=(220.0,), note_s=0.5, pause_s=0.1, seed=1).audio
    got = fcpe_mel(y)
    # the model's training front end: nvSTFT-style pads of (1024 - 160) // 2, 128 Slaney bins 0-8 kHz,
    # sqrt(+1e-9), ln clamp 1e-5, then the last frame repeated to len // 160 + 1 frames
    want = ref_log_mel(
        y, sr=16000, n_fft=1024, hop=160, win=1024, n_mels=128, fmin=0.0, fmax=8000.0, rule="nsf_hifigan",
        eps=1e-9, floor=1e-5, base10=False, htk=False, norm=True,
    )  # fmt: skip
    assert got.shape == (y.size // 160 + 1, 128) and want.shape[0] == y.size // 160
    np.testing.assert_allclose(got[:-1], want, atol=1e-4)
    np.testing.assert_array_equal(got[-1], got[-2])


def test_pitch_belongs_at_10_ms_frames_and_maps_onto_the_grid() -> None:
    # a step from 220 to 330 Hz at 0.5 s: on a 44.1 kHz / 512 grid the change sits at frame 0.5 / (512/44100)
    sr, hop = 44100, 512
    t = np.arange(sr) / sr
    f = np.where(t < 0.5, 220.0, 330.0)
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6)).astype(np.float32)
    track = _fcpe(y, sr, hop, voicing="native")
    times = np.arange(track.n_frames) * hop / sr
    low = (times > 0.1) & (times < 0.5 - 0.02)
    high = (times > 0.5 + 0.02) & (times < 0.9)
    assert np.all(np.abs(1200 * np.log2(track.f0_hz[low] / 220.0)) < 20)
    assert np.all(np.abs(1200 * np.log2(track.f0_hz[high] / 330.0)) < 20)
    # the raw 10 ms track switches within a frame of 50
    raw = fcpe_f0_16k(np.interp(np.arange(16000) / 16000, t, y).astype(np.float32))
    switch = int(np.argmax(raw > 275.0))
    assert abs(switch - 50) <= 1


def test_track_on_grid_interpolates_in_log_f0_and_takes_the_nearest_at_voicing_edges() -> None:
    src = np.array([100.0, 200.0, 0.0, 400.0])
    got = track_on_grid(src, frame_rate_hz=100, sample_rate_hz=16000, hop_length=80, n_frames=8)
    # grid times 0, 5, ..., 35 ms: 100, sqrt(100*200), 200, then the nearest of (200, 0) and (0, 400)
    want = [100.0, np.sqrt(100 * 200), 200.0, 0.0, 0.0, 400.0, 400.0, 400.0]
    np.testing.assert_allclose(got, want)


def test_fcpe_on_vocadito_meets_the_accuracy_targets() -> None:
    y, sr = sf.read(shared_file("singing/vocadito/vocadito_1.wav"), dtype="float32")
    ref_t, ref_f = read_f0_csv(shared_file("singing/vocadito/vocadito_1.f0.csv"))
    y = y[: 8 * sr]
    keep = ref_t < 8.0
    ref_t, ref_f = ref_t[keep], ref_f[keep]
    hop = 256
    track = _fcpe(y, sr, hop)
    times = np.arange(track.n_frames) * hop / sr
    score = compare_f0(times, track.f0_hz, track.voiced, ref_t, ref_f)
    assert score["raw_pitch_accuracy"] >= 0.985, score  # harvest + refined voicing: 0.947 on the first 12 s
    assert score["voicing_false_alarm"] <= 0.10, score  # FCPE's own voicing: 0.22 on the whole file
    # same values and voicing on a second run
    again = _fcpe(y, sr, hop)
    np.testing.assert_array_equal(again.f0_hz, track.f0_hz)
    np.testing.assert_array_equal(again.voiced, track.voiced)
    # at 10 dB SNR (white noise) FCPE keeps its pitch
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(y.size)
    noisy = (y + noise * np.sqrt(np.mean(y**2) / np.mean(noise**2) / 10.0)).astype(np.float32)
    n = _fcpe(noisy, sr, hop)
    assert compare_f0(times, n.f0_hz, n.voiced, ref_t, ref_f)["raw_pitch_accuracy"] >= 0.97


def test_fcpe_never_imports_torchaudio_and_keys_its_device() -> None:
    code = (
        "import numpy as np, sys\n"
        "from svcprep.dsp.fcpe import fcpe_f0_16k\n"
        "fcpe_f0_16k(np.zeros(3200, np.float32))\n"
        "print('torchaudio' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
    cfg = load_config(overrides=["f0.method=fcpe"])
    conf = STAGES["f0"].config(cfg)
    assert conf["method"] == "fcpe" and conf["_runtime"] in ("onnxruntime", "torch-cpu", "torch-cuda")
    assert {"torch", "torchfcpe"} <= set(STAGES["f0"].libraries_for(cfg))


def test_missing_extra_fails_before_work_with_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from svcprep.pipeline import check_optional_backends

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torchfcpe" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"pip install 'svcprep\[fcpe\]'"):
        check_optional_backends(load_config(overrides=["f0.method=fcpe"]))


def test_onnxruntime_and_torch_give_the_same_pitch() -> None:
    pytest.importorskip("onnxruntime")
    import torch

    from svcprep.dsp import fcpe

    y = synth.sing_phrase(
        sample_rate_hz=16000, notes_hz=(196.0, 294.0), note_s=0.4, pause_s=0.1, seed=2
    ).audio
    mel = torch.from_numpy(fcpe.fcpe_mel(y))[None]
    net, _ = fcpe._network("cpu")
    with torch.inference_mode():
        sal = net(mel)
        ref = net.infer(mel, decoder="local_argmax", threshold=0.006).reshape(-1).numpy()
    # svcprep's decoding of torch's salience equals torchfcpe's own decoder
    ours = fcpe.decode_local_argmax(sal[0].numpy(), net.cent_table.numpy(), threshold=0.006)
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    if fcpe.fcpe_runtime() == "onnxruntime":  # and the onnxruntime path agrees with torch
        got = fcpe.fcpe_f0_16k(y)
        assert np.array_equal(got > 0, ref > 0)
        v = ref > 0
        assert np.max(np.abs(1200 * np.log2(got[v] / ref[v]))) < 0.1
