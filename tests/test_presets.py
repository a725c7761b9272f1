"""Framework presets: each preset's mel equals an independent implementation of the framework's formula."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

import svcprep
from svcprep.config import load_config
from svcprep.dsp.mel import log_mel
from svcprep.dsp.resample import resample
from svcprep.errors import ConfigError
from svcprep.presets import PRESETS, get_preset, preset_table
from svcprep.testing import sing_phrase
from tests._data import shared_file

# The frameworks' numbers as PRESETS.md gives them (read from each framework's source), written out
# here independently of svcprep.presets: sr, n_fft, win, hop, n_mels, fmin, fmax, eps, padding rule,
# log scale ("ln" or "ln*0.434294"), frame rule of F0/volume ("floor" n//hop, "centered" n//hop+1).
FRAMEWORK: dict[str, dict[str, Any]] = {
    "sovits-4.1": dict(
        sr=44100,
        n_fft=2048,
        win=2048,
        hop=512,
        n_mels=80,
        fmin=0.0,
        fmax=22050.0,
        eps=1e-6,
        pad="nfft",
        log="ln",
    ),
    "sovits-4.1-diffusion": dict(
        sr=44100,
        n_fft=2048,
        win=2048,
        hop=512,
        n_mels=128,
        fmin=40.0,
        fmax=16000.0,
        eps=1e-9,
        pad="nvstft",
        log="ln",
    ),
    "rvc-v2-32k": dict(
        sr=32000,
        n_fft=1024,
        win=1024,
        hop=320,
        n_mels=80,
        fmin=0.0,
        fmax=16000.0,
        eps=1e-6,
        pad="nfft",
        log="ln",
    ),
    "rvc-v2-40k": dict(
        sr=40000,
        n_fft=2048,
        win=2048,
        hop=400,
        n_mels=125,
        fmin=0.0,
        fmax=20000.0,
        eps=1e-6,
        pad="nfft",
        log="ln",
    ),
    "rvc-v2-48k": dict(
        sr=48000,
        n_fft=2048,
        win=2048,
        hop=480,
        n_mels=128,
        fmin=0.0,
        fmax=24000.0,
        eps=1e-6,
        pad="nfft",
        log="ln",
    ),
    "ddsp-svc-6": dict(
        sr=44100,
        n_fft=2048,
        win=2048,
        hop=512,
        n_mels=128,
        fmin=40.0,
        fmax=16000.0,
        eps=1e-9,
        pad="nvstft",
        log="ln",
    ),
    "diff-svc": dict(
        sr=44100,
        n_fft=2048,
        win=2048,
        hop=512,
        n_mels=128,
        fmin=40.0,
        fmax=16000.0,
        eps=1e-9,
        pad="nfft",
        log="ln*0.434294",
    ),
    "diffsinger": dict(
        sr=44100,
        n_fft=2048,
        win=2048,
        hop=512,
        n_mels=128,
        fmin=40.0,
        fmax=16000.0,
        eps=0.0,
        pad="win",
        log="ln",
    ),
}
GRID = {name: "centered" if name == "ddsp-svc-6" else "floor" for name in FRAMEWORK}
F0_RANGE = {
    "sovits-4.1": (50, 1100),
    "sovits-4.1-diffusion": (50, 1100),
    "rvc-v2-32k": (50, 1100),
    "rvc-v2-40k": (50, 1100),
    "rvc-v2-48k": (50, 1100),
    "ddsp-svc-6": (65, 800),
    "diff-svc": (40, 1100),
    "diffsinger": (65, 1100),
}


# ---- independent reference ------------------------------------------------------------------


def _hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    mel = 3.0 * f / 200.0
    log_part = 15.0 + 27.0 * np.log(np.maximum(f, 1e-12) / 1000.0) / np.log(6.4)
    return np.where(f >= 1000.0, log_part, mel)


def _mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (m - 15.0)), 200.0 * m / 3.0)


def ref_filterbank(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-scale, Slaney-normalised triangular filters (Auditory Toolbox formulas)."""
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    edges = _mel_to_hz_slaney(np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2))
    fb = np.zeros((n_mels, freqs.size))
    for m in range(n_mels):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[m] = np.maximum(0.0, np.minimum(up, down)) * (2.0 / (hi - lo))
    return fb


def ref_pads(rule: str, n: int, n_fft: int, win: int, hop: int) -> tuple[int, int, str]:
    if rule == "nfft":  # int((n_fft - hop) / 2) both sides
        return int((n_fft - hop) / 2), int((n_fft - hop) / 2), "reflect"
    if rule == "win":  # DiffSinger
        return (win - hop) // 2, (win - hop + 1) // 2, "reflect"
    left = (win - hop) // 2  # nvSTFT
    right = max((win - hop + 1) // 2, win - n - left)
    return left, right, ("constant" if right >= n else "reflect")


def ref_mel(y: np.ndarray, fw: dict[str, Any], *, zeros_when_too_short: bool = False) -> np.ndarray:
    """The framework's log-mel from its documented maths, with numpy only.

    torch's reflect pad fails when a pad is not shorter than the signal; the frameworks never see
    such clips (real data here never does), and ``zeros_when_too_short`` applies svcprep's documented
    fallback (zero padding) for the property test instead.
    """
    y = np.asarray(y, dtype=np.float64)
    n_fft, win, hop = fw["n_fft"], fw["win"], fw["hop"]
    left, right, mode = ref_pads(fw["pad"], y.size, n_fft, win, hop)
    total = y.size + left + right
    frames = 0 if total < n_fft else (total - n_fft) // hop + 1
    if frames == 0:
        return np.zeros((0, fw["n_mels"]))
    if mode == "reflect" and zeros_when_too_short and max(left, right) >= y.size:
        mode = "constant"
    if mode == "reflect":
        assert max(left, right) < y.size, "torch's reflect pad would fail; frames should be 0 here"
        yp = np.pad(y, (left, right), mode="reflect")
    else:
        yp = np.pad(y, (left, right))
    k = np.arange(win)
    window = np.zeros(n_fft)
    off = (n_fft - win) // 2
    window[off : off + win] = 0.5 - 0.5 * np.cos(2 * np.pi * k / win)  # periodic Hann
    spec = np.stack([np.fft.rfft(yp[i * hop : i * hop + n_fft] * window) for i in range(frames)])
    mag = np.sqrt(spec.real**2 + spec.imag**2 + fw["eps"])
    mel = mag @ ref_filterbank(fw["sr"], n_fft, fw["n_mels"], fw["fmin"], fw["fmax"]).T
    out = np.log(np.maximum(mel, 1e-5))
    if fw["log"] == "ln*0.434294":
        out = out * 0.434294
    return out


def svcprep_mel(y: np.ndarray, name: str, n_frames: int | None = None) -> np.ndarray:
    cfg = load_config(base=get_preset(name).config)
    m = cfg.mel
    return log_mel(
        y,
        sample_rate_hz=cfg.load.sample_rate_hz,
        n_fft=m.n_fft,
        hop_length=cfg.features.hop_length,
        win_length=m.win_length,
        n_mels=m.n_mels,
        fmin_hz=m.fmin_hz,
        fmax_hz=m.fmax_hz,
        padding=m.padding,
        pad_mode=m.pad_mode,
        magnitude_eps=m.magnitude_eps,
        log_floor=m.log_floor,
        log_base=m.log_base,
        mel_scale=m.mel_scale,
        mel_norm=m.mel_norm,
        n_frames=n_frames,
    )


# ---- tests ----------------------------------------------------------------------------------


def test_reference_filterbank_matches_librosa() -> None:
    import librosa

    for sr, n_fft, n_mels, fmin, fmax in [
        (44100, 2048, 128, 40.0, 16000.0),
        (40000, 2048, 125, 0.0, 20000.0),
    ]:
        ours = ref_filterbank(sr, n_fft, n_mels, fmin, fmax)
        theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_validates_and_overrides_apply(name: str) -> None:
    p = get_preset(name)
    cfg = load_config(base=p.config)
    fw = FRAMEWORK[name]
    assert cfg.load.sample_rate_hz == fw["sr"]
    assert cfg.features.hop_length == fw["hop"]
    assert cfg.features.frame_count == GRID[name]
    assert (cfg.f0.f0_floor_hz, cfg.f0.f0_ceil_hz) == F0_RANGE[name]
    assert (cfg.mel.n_fft, cfg.mel.win_length, cfg.mel.n_mels) == (fw["n_fft"], fw["win"], fw["n_mels"])
    assert p.notes and p.framework in {"rvc", "sovits", "ddsp", "diff-svc", "diffsinger"}
    over = load_config(base=p.config, overrides=["f0.method=dio", "volume.window_length=256"])
    assert over.f0.method == "dio" and over.volume.window_length == 256
    assert over.mel.n_mels == fw["n_mels"]  # the rest of the preset stays


def test_rvc_frame_period_is_10ms_and_unvoiced_zero() -> None:
    for name in ("rvc-v2-32k", "rvc-v2-40k", "rvc-v2-48k"):
        cfg = load_config(base=get_preset(name).config)
        assert cfg.features.hop_length * 1000 / cfg.load.sample_rate_hz == pytest.approx(160 * 1000 / 16000)
        assert cfg.f0.unvoiced == "zero"
        assert (cfg.f0.coarse_f0_min_hz, cfg.f0.coarse_f0_max_hz) == (50, 1100)


def test_get_preset_unknown_and_copy() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'rvc-v3'.*rvc-v2-40k"):
        get_preset("rvc-v3")
    a = get_preset("diffsinger")
    a.config["load"]["sample_rate_hz"] = 1
    assert get_preset("diffsinger").config["load"]["sample_rate_hz"] == 44100


def test_preset_table() -> None:
    rows = preset_table()
    assert [r["name"] for r in rows] == list(PRESETS)
    for r in rows:
        fw = FRAMEWORK[r["name"]]
        assert r["sample_rate_hz"] == fw["sr"] and r["hop_length"] == fw["hop"]
        assert r["frame_period_ms"] == pytest.approx(1000 * fw["hop"] / fw["sr"], abs=1e-3)
        assert str(fw["n_mels"]) in r["mel"] and r["f0_range_hz"] == "{}-{}".format(*F0_RANGE[r["name"]])


def _clips(sr: int) -> list[np.ndarray]:
    paths = [
        (shared_file(rel), start_s)
        for rel, start_s in [
            ("singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav", 0.5),
            ("singing/sms_tools/singing-female.wav", 1.0),
            ("speech/world/vaiueo2d.wav", 0.0),
        ]
    ]
    out = []
    for path, start_s in paths:
        y, file_sr = sf.read(path, dtype="float32")
        y = y[int(start_s * file_sr) : int((start_s + 1.5) * file_sr)]
        out.append(resample(y, orig_sr_hz=file_sr, target_sr_hz=sr))
    return out


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_mel_matches_framework_formula_on_real_recordings(name: str) -> None:
    fw = FRAMEWORK[name]
    clips = _clips(fw["sr"])
    long_clip = clips[0]
    clips += [long_clip[:300], long_clip[:1500], long_clip[: fw["hop"] * 7 + 3]]
    worst = 0.0
    for y in clips:
        ref = ref_mel(y, fw)
        ours = svcprep_mel(y, name)
        assert ours.shape == ref.shape, (y.size, ours.shape, ref.shape)
        if ref.size:
            worst = max(worst, float(np.max(np.abs(ours - ref))))
    assert worst < 1e-4, worst


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_mel_on_the_grid_follows_the_framework_frame_rule(name: str) -> None:
    """On the preset's grid the mel has the F0 frame count; DDSP repeats the last frame, the others trim."""
    fw = FRAMEWORK[name]
    y = _clips(fw["sr"])[1]
    for n in (y.size, 1500, 300):
        clip = y[:n]
        grid = n // fw["hop"] + (1 if GRID[name] == "centered" else 0)
        ours = svcprep_mel(clip, name, n_frames=grid)
        assert ours.shape == (grid, fw["n_mels"])
        ref = ref_mel(clip, fw)
        if ref.shape[0] >= grid:
            np.testing.assert_allclose(ours, ref[:grid], atol=1e-4)
        else:  # DDSP-SVC's Vocoder.extract: repeat the last frame up to len//hop + 1
            padded = np.concatenate([ref, np.repeat(ref[-1:], grid - ref.shape[0], axis=0)])
            np.testing.assert_allclose(ours, padded, atol=1e-4)


@settings(max_examples=15, deadline=None)
@given(
    sr=st.integers(8000, 96000),
    n=st.integers(0, 6000).map(lambda v: 2 * v + 1),
    rule=st.sampled_from(["nfft", "nvstft", "win"]),
)
def test_padding_rules_match_reference_at_any_rate(sr: int, n: int, rule: str) -> None:
    hop = max(16, sr // 100)
    n_fft = 1 << int(np.ceil(np.log2(3 * hop)))
    if (n_fft - hop) % 2:
        hop += 1
    fw = dict(
        sr=sr, n_fft=n_fft, win=n_fft, hop=hop, n_mels=40, fmin=0.0, fmax=sr / 2, eps=1e-6, pad=rule, log="ln"
    )
    y = sing_phrase(sample_rate_hz=sr, notes_hz=(220.0, 330.0), note_s=0.2, pause_s=0.05).audio[:n]
    padding = {"nfft": "vits", "nvstft": "nsf_hifigan", "win": "diffsinger"}[rule]
    ours = log_mel(
        y,
        sample_rate_hz=sr,
        n_fft=n_fft,
        hop_length=hop,
        win_length=n_fft,
        n_mels=40,
        fmin_hz=0.0,
        fmax_hz=sr / 2,
        padding=padding,
        magnitude_eps=1e-6,
    )
    ref = ref_mel(y, fw, zeros_when_too_short=True)
    assert ours.shape == ref.shape
    if ref.size:
        np.testing.assert_allclose(ours, ref, atol=1e-4)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_build_frame_counts_follow_the_framework(name: str, tmp_path: Path) -> None:
    fw = FRAMEWORK[name]
    raw = tmp_path / "raw" / "alice"
    raw.mkdir(parents=True)
    v = sing_phrase(sample_rate_hz=fw["sr"], notes_hz=(220.0, 262.0), note_s=0.6, pause_s=0.2)
    sf.write(raw / "a.wav", v.audio, fw["sr"], subtype="FLOAT")
    cfg = load_config(
        base=get_preset(name).config,
        overrides=["denoise.spectral_gating=false", "f0.method=dio", "slice.enabled=false"],
    )
    svcprep.build(tmp_path / "raw", tmp_path / "out", cfg, jobs=1)
    ds = svcprep.open(tmp_path / "out")
    assert len(ds) == 1
    item = ds[0]
    n = item["audio"].size
    grid = n // fw["hop"] + (1 if GRID[name] == "centered" else 0)
    for key in ("f0", "uv", "coarse_f0", "volume"):
        assert item[key].shape[0] == grid, key
    assert item["mel"].shape == (grid, fw["n_mels"])
    # the framework's own mel frame count: equal (floor presets) or one less (DDSP repeats one)
    left, right, _ = ref_pads(fw["pad"], n, fw["n_fft"], fw["win"], fw["hop"])
    own = (n + left + right - fw["n_fft"]) // fw["hop"] + 1
    assert own == (grid - 1 if GRID[name] == "centered" else grid)
    np.testing.assert_allclose(item["mel"][:own], ref_mel(item["audio"], fw)[:grid], atol=1e-4)
    voiced = item["uv"] > 0
    lo, hi = F0_RANGE[name]
    assert voiced.any() and np.all((item["f0"][voiced] >= lo * 0.99) & (item["f0"][voiced] <= hi * 1.01))
    if cfg.f0.unvoiced == "zero":
        assert np.all(item["f0"][~voiced] == 0)
