"""Tests of svcprep.dsp.loudness against BS.1770 reference values and analytic signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from svcprep.dsp.loudness import (
    integrated_loudness_lufs,
    k_weighting_sos,
    normalize_loudness,
    normalize_peak,
    true_peak_dbfs,
)
from svcprep.errors import ConfigError, NonFiniteAudioError
from svcprep.testing import noise, silence, sing_phrase, tone
from tests._data import shared_file

# ITU-R BS.1770-4, tables 1 and 2: the K-weighting biquads at 48 kHz.
BS1770_48K_SHELF = (
    [1.53512485958697, -2.69169618940638, 1.19839281085285],
    [1.0, -1.69065929318241, 0.73248077421585],
)
BS1770_48K_HIGHPASS = ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621])


def reference_loudness_48k(y: np.ndarray) -> float:
    """A plain, loop-based BS.1770 reading at 48 kHz with the standard's table coefficients."""
    z = signal.lfilter(*BS1770_48K_SHELF, y.astype(np.float64))
    z = signal.lfilter(*BS1770_48K_HIGHPASS, z)
    block, step = 19200, 4800
    powers = [float(np.mean(z[j : j + block] ** 2)) for j in range(0, len(z) - block + 1, step)]
    loud = [p for p in powers if p > 0 and -0.691 + 10 * math.log10(p) > -70.0]
    if not loud:
        return -math.inf
    rel = -0.691 + 10 * math.log10(sum(loud) / len(loud)) - 10.0
    gated = [p for p in loud if -0.691 + 10 * math.log10(p) > rel]
    return -0.691 + 10 * math.log10(sum(gated) / len(gated))


def test_k_weighting_matches_the_bs1770_table_at_48k() -> None:
    sos = k_weighting_sos(sample_rate_hz=48000)
    np.testing.assert_allclose(sos[0, :3], BS1770_48K_SHELF[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(sos[0, 3:], BS1770_48K_SHELF[1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(sos[1, :3], BS1770_48K_HIGHPASS[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(sos[1, 3:], BS1770_48K_HIGHPASS[1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("sr", [48000, 44100, 16000])
def test_full_scale_997hz_sine_reads_minus_3_01_lufs(sr: int) -> None:
    y = tone(997.0, duration_s=3.0, sample_rate_hz=sr, amplitude=1.0)
    assert integrated_loudness_lufs(y, sample_rate_hz=sr) == pytest.approx(-3.01, abs=0.1)


@settings(max_examples=20, deadline=None)
@given(
    sr=st.integers(8000, 96000),
    level_db=st.floats(-50.0, 0.0),
    extra=st.integers(0, 999),
)
def test_sine_loudness_follows_its_level_at_any_rate(sr: int, level_db: float, extra: int) -> None:
    # a 997 Hz sine reads its RMS level (level - 3.01 dB) in LUFS at any sample rate
    n = sr + 2 * extra + 1  # odd length
    t = np.arange(n) / sr
    y = (10 ** (level_db / 20) * np.sin(2 * np.pi * 997.0 * t)).astype(np.float32)
    assert integrated_loudness_lufs(y, sample_rate_hz=sr) == pytest.approx(level_db - 3.0103, abs=0.1)


def test_minus_20_dbfs_sine_reads_minus_23_01() -> None:
    y = tone(997.0, duration_s=3.0, sample_rate_hz=48000, amplitude=0.1)
    assert integrated_loudness_lufs(y, sample_rate_hz=48000) == pytest.approx(-23.01, abs=0.05)


def test_gating_ignores_silence_padding() -> None:
    sr = 48000
    core = tone(997.0, duration_s=5.0, sample_rate_hz=sr, amplitude=0.1)
    pad = silence(duration_s=10.0, sample_rate_hz=sr)
    padded = np.concatenate([pad, core, pad])
    got = integrated_loudness_lufs(padded, sample_rate_hz=sr)
    # 47 blocks lie wholly in the tone and 3 on each side straddle an edge (75, 50, 25 %
    # tone); all pass both gates, the 200 silent blocks pass none.
    expected = -23.0103 + 10 * math.log10((47 + 2 * (0.75 + 0.5 + 0.25)) / 53)
    assert got == pytest.approx(expected, abs=0.02)
    assert got == pytest.approx(reference_loudness_48k(padded), abs=1e-6)
    ungated = -0.691 + 10 * math.log10(
        np.mean(signal.sosfilt(k_weighting_sos(sample_rate_hz=sr), padded) ** 2)
    )
    assert ungated < got - 6.0  # without the gate, 20 s of silence would pull it down by ~7 LU


def test_relative_gate_drops_a_much_quieter_passage() -> None:
    sr = 48000
    loud = tone(997.0, duration_s=4.0, sample_rate_hz=sr, amplitude=0.1)
    quiet = tone(997.0, duration_s=8.0, sample_rate_hz=sr, amplitude=0.005)  # -26 dB: below the -10 LU gate
    y = np.concatenate([loud, quiet])
    got = integrated_loudness_lufs(y, sample_rate_hz=sr)
    assert got == pytest.approx(reference_loudness_48k(y), abs=1e-6)
    assert got == pytest.approx(-23.01, abs=0.2)


def test_real_recording_matches_the_reference_implementation() -> None:
    path = shared_file("singing/nit_song070/nitech_jp_song070_f001_004.wav")
    y, sr = sf.read(path, dtype="float32", frames=48000 * 10)
    assert sr == 48000
    assert integrated_loudness_lufs(y, sample_rate_hz=sr) == pytest.approx(
        reference_loudness_48k(y), abs=1e-6
    )


def test_silence_and_empty_read_minus_inf() -> None:
    assert (
        integrated_loudness_lufs(silence(duration_s=2.0, sample_rate_hz=16000), sample_rate_hz=16000)
        == -math.inf
    )
    assert integrated_loudness_lufs(np.zeros(0, np.float32), sample_rate_hz=16000) == -math.inf
    assert true_peak_dbfs(np.zeros(100, np.float32), sample_rate_hz=16000) == -math.inf
    very_quiet = noise(duration_s=1.0, sample_rate_hz=16000, amplitude=1e-5)  # about -100 LUFS
    assert integrated_loudness_lufs(very_quiet, sample_rate_hz=16000) == -math.inf


def test_true_peak_finds_the_peak_between_samples() -> None:
    # a sine at fs/4 sampled 45 degrees off its crests: every sample is at A/sqrt(2)
    sr, amp = 48000, 0.9
    n = np.arange(48000)
    fade = np.ones(n.size)
    ramp = np.sin(np.linspace(0, np.pi / 2, 2000)) ** 2  # no abrupt start, whose ringing is a real overshoot
    fade[:2000], fade[-2000:] = ramp, ramp[::-1]
    y = (amp * fade * np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.float32)
    assert 20 * np.log10(np.max(np.abs(y))) == pytest.approx(20 * np.log10(amp) - 3.01, abs=0.01)
    assert true_peak_dbfs(y, sample_rate_hz=sr) == pytest.approx(20 * np.log10(amp), abs=0.1)


@settings(max_examples=20, deadline=None)
@given(sr=st.integers(8000, 96000), n=st.integers(1, 5001), seed=st.integers(0, 1000))
def test_true_peak_is_never_below_the_sample_peak(sr: int, n: int, seed: int) -> None:
    y = np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 0.1
    sample_peak_db = 20 * np.log10(float(np.max(np.abs(y))))
    tp = true_peak_dbfs(y, sample_rate_hz=sr)
    assert sample_peak_db <= tp <= sample_peak_db + 6.0


def test_normalize_hits_the_target_when_the_peak_allows() -> None:
    v = sing_phrase(sample_rate_hz=22050, amplitude=0.05, seed=3).audio
    before = integrated_loudness_lufs(v, sample_rate_hz=22050)
    out, gain = normalize_loudness(v, sample_rate_hz=22050, target_lufs=-20.0, peak_dbfs=-1.0)
    assert integrated_loudness_lufs(out, sample_rate_hz=22050) == pytest.approx(-20.0, abs=0.1)
    assert gain == pytest.approx(-20.0 - before, abs=1e-6)
    assert out.dtype == np.float32 and out.shape == v.shape
    assert true_peak_dbfs(out, sample_rate_hz=22050) <= -1.0


def test_normalize_stops_at_the_peak_ceiling() -> None:
    v = sing_phrase(sample_rate_hz=16000, amplitude=0.3).audio
    out, gain = normalize_loudness(v, sample_rate_hz=16000, target_lufs=0.0, peak_dbfs=-1.0)
    tp = true_peak_dbfs(out, sample_rate_hz=16000)
    assert -1.01 <= tp <= -1.0  # lands on the ceiling, never above it
    assert integrated_loudness_lufs(out, sample_rate_hz=16000) < -3.0  # so the target is not reached
    assert gain == pytest.approx(-1.0 - true_peak_dbfs(v, sample_rate_hz=16000), abs=1e-3)


@settings(max_examples=20, deadline=None)
@given(
    sr=st.integers(8000, 96000),
    n=st.integers(100, 30001).filter(lambda k: k % 2 == 1),
    amp=st.floats(1e-3, 1.0),
    target=st.floats(-40.0, 0.0),
    ceiling=st.floats(-20.0, 0.0),
    seed=st.integers(0, 1000),
)
def test_normalized_output_never_exceeds_the_ceiling(
    sr: int, n: int, amp: float, target: float, ceiling: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    y = (amp * np.clip(rng.standard_normal(n), -4, 4) / 4).astype(np.float32)
    out, gain = normalize_loudness(y, sample_rate_hz=sr, target_lufs=target, peak_dbfs=ceiling)
    assert np.isfinite(out).all() and np.isfinite(gain)
    assert true_peak_dbfs(out, sample_rate_hz=sr) <= ceiling
    assert float(np.max(np.abs(out))) <= 10 ** (ceiling / 20)


def test_silence_in_silence_out() -> None:
    z = silence(duration_s=1.0, sample_rate_hz=16000)
    out, gain = normalize_loudness(z, sample_rate_hz=16000)
    assert gain == 0.0 and np.array_equal(out, z) and out.dtype == np.float32
    out, gain = normalize_peak(z)
    assert gain == 0.0 and np.array_equal(out, z)
    out, gain = normalize_loudness(np.zeros(0, np.float32), sample_rate_hz=16000)
    assert out.size == 0 and gain == 0.0


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 2001), peak=st.floats(-40.0, 0.0), amp=st.floats(1e-4, 4.0), seed=st.integers(0, 99))
def test_normalize_peak_lands_on_the_target(n: int, peak: float, amp: float, seed: int) -> None:
    y = (amp * np.random.default_rng(seed).uniform(-1, 1, n)).astype(np.float32)
    if not np.any(y):
        return
    out, gain = normalize_peak(y, peak_dbfs=peak)
    got = float(np.max(np.abs(out)))
    assert got <= 10 ** (peak / 20)
    assert 20 * np.log10(got) == pytest.approx(peak, abs=1e-4)
    assert gain == pytest.approx(peak - 20 * np.log10(float(np.max(np.abs(y)))), abs=1e-4)


def test_bad_input_raises_clear_errors() -> None:
    with pytest.raises(NonFiniteAudioError, match="NaN"):
        integrated_loudness_lufs(np.array([0.0, np.nan], np.float32), sample_rate_hz=16000)
    with pytest.raises(ValueError, match="1-D"):
        true_peak_dbfs(np.zeros((2, 10), np.float32), sample_rate_hz=16000)
    with pytest.raises(ConfigError, match="sample_rate_hz"):
        integrated_loudness_lufs(np.zeros(10, np.float32), sample_rate_hz=0)
    with pytest.raises(ConfigError, match="peak_dbfs"):
        normalize_loudness(np.ones(10, np.float32), sample_rate_hz=16000, peak_dbfs=3.0)
