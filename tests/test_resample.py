"""Tests of svcprep.dsp.resample against analytic signals and exact length formulas."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep.dsp.resample import StreamResampler, resample, resampled_length
from svcprep.errors import NonFiniteAudioError
from svcprep.testing import noise, tone

RATES = st.integers(min_value=8000, max_value=96000)


def exact_length(n: int, orig: int, target: int) -> int:
    """Reference: round(n * target / orig) with halves rounded up, in exact fractions."""
    q = Fraction(n * target, orig)
    return int(q + Fraction(1, 2)) if q.denominator != 1 else int(q)


def sine(freq_hz: float, n: int, sr: int, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq_hz * np.arange(n) / sr)


def measured_freq(y: np.ndarray, sr: int) -> float:
    """Frequency of a pure tone: Hann-windowed FFT peak refined by a Gaussian (log-parabolic) fit."""
    w = np.hanning(y.size)
    spec = np.abs(np.fft.rfft(y * w, n=8 * y.size))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-30)
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + delta) * sr / (8 * y.size)


def test_length_formula_matches_reference_and_soxr() -> None:
    rng = np.random.default_rng(0)
    for orig, target in [
        (44100, 16000),
        (16000, 44100),
        (48000, 44100),
        (8000, 96000),
        (96000, 8000),
        (16000, 8000),
    ]:
        for n in [0, 1, 2, 3, 7, 441, 1001, 44101]:
            want = exact_length(n, orig, target)
            assert resampled_length(n, orig_sr_hz=orig, target_sr_hz=target) == want
            y = rng.standard_normal(n).astype(np.float32) * 0.1
            assert resample(y, orig_sr_hz=orig, target_sr_hz=target).size == want


def test_half_sample_rounds_up() -> None:
    # 1 sample at 16 kHz -> 0.5 samples at 8 kHz: soxr produces one sample
    assert resampled_length(1, orig_sr_hz=16000, target_sr_hz=8000) == 1
    assert resample(np.ones(1, np.float32), orig_sr_hz=16000, target_sr_hz=8000).size == 1
    assert resampled_length(3, orig_sr_hz=16000, target_sr_hz=8000) == 2


@pytest.mark.parametrize(
    ("orig", "target", "freq"), [(44100, 16000, 1000.0), (16000, 48000, 3000.0), (48000, 22050, 440.0)]
)
def test_tone_keeps_frequency_and_level(orig: int, target: int, freq: float) -> None:
    y = tone(freq, duration_s=1.0, sample_rate_hz=orig, amplitude=0.5)
    out = resample(y, orig_sr_hz=orig, target_sr_hz=target)
    assert out.dtype == np.float32 and out.ndim == 1
    mid = out[target // 10 : -target // 10]
    assert measured_freq(mid.astype(np.float64), target) == pytest.approx(freq, abs=0.05)
    assert np.sqrt(np.mean(mid.astype(np.float64) ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=2e-3)


def test_tone_matches_analytic_tone_at_new_rate() -> None:
    orig, target, freq = 44100, 16000, 1234.5
    out = resample(sine(freq, orig, orig).astype(np.float32), orig_sr_hz=orig, target_sr_hz=target)
    ref = sine(freq, out.size, target)
    err = np.abs(out - ref)[200:-200]  # the filter's edge transients are excluded
    assert err.max() < 2e-4


def test_round_trip_44k_16k_44k_in_band() -> None:
    sr = 44100
    n = sr
    # band-limited content well below the 8 kHz Nyquist of 16 kHz
    y = (sine(220.0, n, sr, 0.3) + sine(1500.0, n, sr, 0.2) + sine(5000.0, n, sr, 0.1)).astype(np.float32)
    down = resample(y, orig_sr_hz=sr, target_sr_hz=16000)
    back = resample(down, orig_sr_hz=16000, target_sr_hz=sr)
    assert back.size == n
    err = (back - y)[1000:-1000].astype(np.float64)
    snr_db = 10 * np.log10(np.mean(y[1000:-1000].astype(np.float64) ** 2) / np.mean(err**2))
    assert snr_db > 60.0


def test_content_above_new_nyquist_is_removed() -> None:
    # 7 kHz at 44.1 kHz -> 8 kHz: above the 4 kHz Nyquist, must not alias into the band
    y = tone(7000.0, duration_s=1.0, sample_rate_hz=44100, amplitude=0.5)
    out = resample(y, orig_sr_hz=44100, target_sr_hz=8000)
    assert np.sqrt(np.mean(out[800:-800].astype(np.float64) ** 2)) < 1e-3


def test_same_rate_is_a_copy() -> None:
    y = noise(duration_s=0.1, sample_rate_hz=22050, seed=1)
    out = resample(y, orig_sr_hz=22050, target_sr_hz=22050)
    assert np.array_equal(out, y)
    out[0] = 5.0
    assert y[0] != 5.0


def test_float64_and_int_input_become_float32() -> None:
    y = sine(440.0, 4410, 44100)
    out = resample(y, orig_sr_hz=44100, target_sr_hz=22050)
    assert out.dtype == np.float32 and out.size == 2205


def test_streaming_equals_one_shot() -> None:
    y = noise(duration_s=1.0, sample_rate_hz=48000, seed=7)
    one = resample(y, orig_sr_hz=48000, target_sr_hz=44100)
    rs = StreamResampler(orig_sr_hz=48000, target_sr_hz=44100)
    pieces = [rs.process(y[i : i + 3001]) for i in range(0, y.size, 3001)]
    pieces.append(rs.process(np.zeros(0, np.float32), last=True))
    streamed = np.concatenate(pieces)
    assert streamed.size == one.size == resampled_length(y.size, orig_sr_hz=48000, target_sr_hz=44100)
    assert np.max(np.abs(streamed - one)) <= 1e-6
    assert rs.samples_in == y.size and rs.samples_out == one.size


def test_stream_same_rate_passthrough_and_last_block() -> None:
    y = noise(duration_s=0.05, sample_rate_hz=16000, seed=2)
    rs = StreamResampler(orig_sr_hz=16000, target_sr_hz=16000)
    out = np.concatenate([rs.process(y[:100]), rs.process(y[100:], last=True)])
    assert np.array_equal(out, y)
    with pytest.raises(RuntimeError, match="after the last block"):
        rs.process(y)


def test_bad_arguments_raise_clear_errors() -> None:
    y = np.zeros(100, np.float32)
    with pytest.raises(ValueError, match="1-D mono"):
        resample(np.zeros((100, 2), np.float32), orig_sr_hz=44100, target_sr_hz=16000)
    with pytest.raises(ValueError, match="orig_sr_hz=0"):
        resample(y, orig_sr_hz=0, target_sr_hz=16000)
    with pytest.raises(ValueError, match="target_sr_hz=-1"):
        StreamResampler(orig_sr_hz=16000, target_sr_hz=-1)
    with pytest.raises(ValueError, match="quality='ultra'"):
        resample(y, orig_sr_hz=16000, target_sr_hz=8000, quality="ultra")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_samples=-1"):
        resampled_length(-1, orig_sr_hz=1, target_sr_hz=2)
    bad = y.copy()
    bad[17] = np.nan
    bad[50] = np.inf
    with pytest.raises(NonFiniteAudioError, match=r"2 non-finite.*index 17"):
        resample(bad, orig_sr_hz=44100, target_sr_hz=16000)
    with pytest.raises(NonFiniteAudioError):
        StreamResampler(orig_sr_hz=44100, target_sr_hz=16000).process(bad)


def test_empty_input() -> None:
    assert resample(np.zeros(0, np.float32), orig_sr_hz=44100, target_sr_hz=16000).size == 0
    rs = StreamResampler(orig_sr_hz=44100, target_sr_hz=16000)
    assert rs.process(np.zeros(0, np.float32), last=True).size == 0


@settings(max_examples=20, deadline=None)
@given(
    orig=RATES,
    target=RATES,
    n=st.integers(min_value=0, max_value=6001).filter(lambda v: v % 2 == 1 or v == 0),
)
def test_property_length_and_finite(orig: int, target: int, n: int) -> None:
    y = noise(duration_s=n / orig, sample_rate_hz=orig, seed=n)[:n]
    y = np.pad(y, (0, n - y.size))
    out = resample(y, orig_sr_hz=orig, target_sr_hz=target)
    assert out.dtype == np.float32 and out.ndim == 1
    assert (
        out.size == exact_length(n, orig, target) == resampled_length(n, orig_sr_hz=orig, target_sr_hz=target)
    )
    assert np.isfinite(out).all()


@settings(max_examples=20, deadline=None)
@given(orig=RATES, target=RATES, data=st.data())
def test_property_tone_matches_analytic(orig: int, target: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=2001, max_value=9001).map(lambda v: v | 1), label="n")
    freq = min(orig, target) * data.draw(st.floats(min_value=0.02, max_value=0.3), label="freq_fraction")
    out = resample(sine(freq, n, orig).astype(np.float32), orig_sr_hz=orig, target_sr_hz=target)
    ref = sine(freq, out.size, target)
    edge = max(64, out.size // 8)
    assert np.max(np.abs(out - ref)[edge:-edge]) < 2e-3


@settings(max_examples=15, deadline=None)
@given(
    orig=RATES,
    target=RATES,
    n=st.integers(min_value=1, max_value=20001),
    block=st.integers(min_value=1, max_value=5000),
)
def test_property_streaming_equals_one_shot(orig: int, target: int, n: int, block: int) -> None:
    y = (np.random.default_rng(n).standard_normal(n) * 0.1).astype(np.float32)
    one = resample(y, orig_sr_hz=orig, target_sr_hz=target)
    rs = StreamResampler(orig_sr_hz=orig, target_sr_hz=target)
    pieces = [rs.process(y[i : i + block], last=i + block >= n) for i in range(0, n, block)]
    streamed = np.concatenate(pieces)
    assert streamed.size == one.size
    assert np.max(np.abs(streamed - one), initial=0.0) <= 1e-6
