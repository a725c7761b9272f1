"""Tests of svcprep.dsp.volume.frame_rms against analytic values and loop-based references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep.dsp.frames import num_frames
from svcprep.dsp.volume import frame_rms
from svcprep.errors import ConfigError, NonFiniteAudioError
from svcprep.testing import noise, sing_phrase, tone
from tests._data import shared_file


def ref_sample(y: np.ndarray, j: int, reflect: bool) -> float:
    """Sample j of y extended by a single mirror reflection (or zeros)."""
    n = y.size
    if 0 <= j < n:
        return float(y[j])
    if not reflect:
        return 0.0
    return float(y[-j] if j < 0 else y[2 * (n - 1) - j])


def ref_frame_rms(y: np.ndarray, hop: int, n_frames: int, w: int) -> np.ndarray:
    """One frame at a time: RMS of w samples starting w//2 before the frame centre."""
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    left = w // 2
    right = max(0, (n_frames - 1) * hop - left + w - n)
    reflect = left < n and right < n
    out = np.zeros(n_frames)
    for i in range(n_frames):
        start = i * hop - left
        acc = 0.0
        for j in range(start, start + w):
            v = ref_sample(y, j, reflect)
            acc += v * v
        out[i] = math.sqrt(acc / w)
    return out


def sovits_volume(y: np.ndarray, hop: int) -> np.ndarray:
    """so-vits-svc's recipe as described in PRESETS.md: square, reflect-pad (hop//2, (hop+1)//2),
    average non-overlapping blocks of hop, keep len//hop frames, square root."""
    sq = np.asarray(y, dtype=np.float64) ** 2
    n = sq.size
    left, right = hop // 2, (hop + 1) // 2
    padded = np.concatenate([sq[1 : left + 1][::-1], sq, sq[n - 1 - right : n - 1][::-1]])
    count = n // hop
    blocks = padded[: count * hop].reshape(count, hop)
    return np.sqrt(blocks.mean(axis=1))


def load(rel: str) -> tuple[np.ndarray, int]:
    path = shared_file(rel)
    y, sr = sf.read(path, dtype="float32", always_2d=False)
    return np.ascontiguousarray(y), int(sr)


@pytest.mark.parametrize("value", [0.25, -0.5, 0.0])
@pytest.mark.parametrize("window", [0, 300, 1024, 1])
def test_constant_signal_has_constant_rms(value, window):
    y = np.full(10_000, value, dtype=np.float32)
    frames = num_frames(y.size, hop_length=256)
    got = frame_rms(y, hop_length=256, n_frames=frames, window_length=window)
    assert got.shape == (frames,)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, abs(value), rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    ("sr", "freq", "hop", "window"),
    [
        (8000, 250.0, 160, 320),  # period 32 samples, window 10 periods
        (44100, 441.0, 512, 0),  # period 100, window = hop = 512: not a multiple (checked loosely below)
        (44100, 441.0, 512, 1000),  # window 10 periods
        (48000, 1000.0, 480, 480),  # period 48, window 10 periods
    ],
)
@pytest.mark.parametrize("amplitude", [1.0, 0.3, 1e-4])
def test_sine_rms_is_amplitude_over_sqrt2(sr, freq, hop, window, amplitude):
    y = tone(freq, duration_s=0.5, sample_rate_hz=sr, amplitude=amplitude, phase_rad=0.7)
    frames = num_frames(y.size, hop_length=hop)
    got = frame_rms(y, hop_length=hop, n_frames=frames, window_length=window).astype(np.float64)
    w = window or hop
    first = math.ceil((w // 2) / hop)  # frames whose window lies inside the signal
    last = (y.size - (w - w // 2)) // hop
    interior = got[first : last + 1]
    assert interior.size > 10
    period = sr / freq
    exact = abs(w / period - round(w / period)) < 1e-9
    # a window of whole periods gives exactly A/sqrt(2); otherwise within the partial-period error
    tol = 1e-6 if exact else (period / w)
    np.testing.assert_allclose(interior, amplitude / math.sqrt(2), rtol=tol)


@pytest.mark.parametrize("n", [0, 1, 2, 100, 255, 256, 257, 5000])
@pytest.mark.parametrize("window", [0, 512, 1024, 7])
@pytest.mark.parametrize("convention", ["centered", "floor"])
def test_matches_loop_reference_including_short_inputs(n, window, convention):
    y = noise(duration_s=n / 16000, sample_rate_hz=16000, amplitude=0.2, seed=n)
    hop = 256
    frames = num_frames(n, hop_length=hop, convention=convention)
    got = frame_rms(y, hop_length=hop, n_frames=frames, window_length=window)
    assert got.shape == (frames,)
    np.testing.assert_allclose(got, ref_frame_rms(y, hop, frames, window or hop), rtol=1e-6, atol=1e-9)


def test_equals_sovits_volume_on_its_frames():
    y = sing_phrase(sample_rate_hz=44100, note_s=0.5).audio
    ours = frame_rms(y, hop_length=512, n_frames=y.size // 512)
    np.testing.assert_allclose(ours, sovits_volume(y, 512), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "rel",
    [
        "singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav",
        "singing/sms_tools/soprano-E4.wav",
        "speech/cmu_arctic/arctic_a0009.wav",
    ],
)
def test_real_audio_sovits_and_ddsp_grids(rel):
    y, sr = load(rel)
    hop = 512 if sr == 44100 else sr // 100
    ours = frame_rms(y, hop_length=hop, n_frames=y.size // hop)
    np.testing.assert_allclose(ours, sovits_volume(y, hop), rtol=1e-5, atol=1e-9)
    # DDSP-SVC grid: one more frame, centred on the last multiple of the hop
    ddsp = frame_rms(y, hop_length=hop, n_frames=num_frames(y.size, hop_length=hop))
    np.testing.assert_array_equal(ddsp[:-1], ours)
    clip = y[: 20 * hop + 77]
    np.testing.assert_allclose(
        frame_rms(clip, hop_length=hop, n_frames=21),
        ref_frame_rms(clip, hop, 21, hop),
        rtol=1e-5,
        atol=1e-9,
    )
    assert float(ours.max()) > 0.01


def test_scale_invariance_for_quiet_signals():
    y = noise(duration_s=1.0, sample_rate_hz=16000, amplitude=0.3, seed=3)
    base = frame_rms(y, hop_length=160, n_frames=101).astype(np.float64)
    for k in (1e-5, 1e-3, 3.0):
        scaled = frame_rms((k * y.astype(np.float64)).astype(np.float32), hop_length=160, n_frames=101)
        np.testing.assert_allclose(scaled, k * base, rtol=1e-5)


def test_more_frames_than_the_grid_still_gives_n_frames():
    y = noise(duration_s=0.1, sample_rate_hz=16000, seed=1)
    for frames in (0, 1, 10, 11, 40):
        got = frame_rms(y, hop_length=160, n_frames=frames)
        assert got.shape == (frames,)
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, ref_frame_rms(y, 160, frames, 160), rtol=1e-6, atol=1e-9)


def test_rejects_bad_arguments():
    y = np.zeros(1000, np.float32)
    with pytest.raises(ConfigError, match="hop_length"):
        frame_rms(y, hop_length=0, n_frames=3)
    with pytest.raises(ConfigError, match="n_frames"):
        frame_rms(y, hop_length=100, n_frames=-1)
    with pytest.raises(ConfigError, match="window_length"):
        frame_rms(y, hop_length=100, n_frames=3, window_length=-5)
    with pytest.raises(ConfigError, match="integer"):
        frame_rms(y, hop_length=100.5, n_frames=3)
    with pytest.raises(ValueError, match="1-D"):
        frame_rms(np.zeros((2, 100), np.float32), hop_length=10, n_frames=3)
    with pytest.raises(ValueError, match="int16"):
        frame_rms(np.zeros(100, np.int16), hop_length=10, n_frames=3)
    y[3] = np.nan
    with pytest.raises(NonFiniteAudioError, match="NaN"):
        frame_rms(y, hop_length=100, n_frames=3)


@settings(max_examples=25, deadline=None)
@given(
    sr=st.integers(8000, 96000),
    n=st.one_of(st.integers(0, 2000), st.integers(0, 40000)),
    hop_div=st.sampled_from([50, 86, 100, 200]),
    window_mult=st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0]),
    convention=st.sampled_from(["centered", "floor"]),
    odd=st.booleans(),
)
def test_property_rates_lengths_windows(sr, n, hop_div, window_mult, convention, odd):
    hop = max(16, sr // hop_div) + int(odd)
    window = int(window_mult * hop) + int(odd and window_mult > 0)
    y = noise(duration_s=n / sr, sample_rate_hz=sr, amplitude=0.5, seed=n)[:n]
    frames = num_frames(y.size, hop_length=hop, convention=convention)
    got = frame_rms(y, hop_length=hop, n_frames=frames, window_length=window)
    assert got.shape == (frames,)
    assert got.dtype == np.float32
    assert np.isfinite(got).all()
    assert (got >= 0).all()
    # every frame against the loop reference (skipped only for the largest inputs, to stay fast)
    ref = ref_frame_rms(y, hop, frames, window or hop) if frames * (window or hop) <= 400_000 else None
    if ref is not None:
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9)
