"""Tests of svcprep.dsp.augment: F0 after shifting, formant preservation, stretch lengths."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from svcprep._compat import import_pyworld
from svcprep.dsp.augment import pitch_shift, time_stretch
from svcprep.errors import ConfigError, NonFiniteAudioError
from svcprep.testing import harmonic_voice, silence
from tests._data import shared_file

pyworld = import_pyworld()

SR = 16000
METHODS = ["world", "phase_vocoder"]


def voice(f0_hz: float = 220.0, duration_s: float = 1.2, sr: int = SR, **kw: object) -> np.ndarray:
    return harmonic_voice(np.full(round(duration_s * sr), f0_hz), sample_rate_hz=sr, **kw).audio  # type: ignore[arg-type]


def median_f0(y: np.ndarray, sr: int = SR) -> float:
    """Median F0 of the middle 60 % (pyworld Harvest, an analysis independent of the synthesis)."""
    f0, _ = pyworld.harvest(y.astype(np.float64), sr, f0_floor=60.0, f0_ceil=1000.0)
    mid = f0[len(f0) // 5 : -len(f0) // 5]
    return float(np.median(mid[mid > 0]))


def cents(a: float, b: float) -> float:
    return float(1200 * np.log2(a / b))


def band_centroid_hz(y: np.ndarray, lo: float, hi: float, sr: int = SR) -> float:
    """Power-weighted mean frequency of the long-term spectrum in [lo, hi]: tracks a formant."""
    f, p = signal.welch(y.astype(np.float64), sr, nperseg=4096)
    m = (f >= lo) & (f <= hi)
    return float(np.sum(f[m] * p[m]) / np.sum(p[m]))


@pytest.fixture(scope="module")
def v220() -> np.ndarray:
    return voice()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("semitones", [2.0, -3.0])
def test_shift_moves_f0_by_the_interval(v220: np.ndarray, method: str, semitones: float) -> None:
    out = pitch_shift(v220, sample_rate_hz=SR, semitones=semitones, method=method)  # type: ignore[arg-type]
    assert out.shape == v220.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert abs(cents(median_f0(out), 220.0 * 2 ** (semitones / 12))) < 10.0


def test_world_shift_keeps_the_formants_the_phase_vocoder_moves_them() -> None:
    # flat source, two resonances: the band centroids follow the formants, not the harmonics
    y = voice(150.0, 1.5, rolloff_db_per_octave=0.0, formants_hz=(800.0, 2000.0), n_harmonics=45)
    bands = [(400.0, 1300.0), (1400.0, 2700.0)]
    ref = [band_centroid_hz(y, *b) for b in bands]
    for semitones in (4.0, -4.0):
        world = pitch_shift(y, sample_rate_hz=SR, semitones=semitones, method="world")
        pv = pitch_shift(y, sample_rate_hz=SR, semitones=semitones, method="phase_vocoder")
        for band, r in zip(bands, ref, strict=True):
            moved_world = abs(band_centroid_hz(world, *band) - r)
            moved_pv = abs(band_centroid_hz(pv, *band) - r)
            assert moved_pv > 50.0  # the phase vocoder scales the envelope with the pitch
            assert moved_world < 0.3 * moved_pv


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_stretch_has_the_exact_length_and_keeps_f0(v220: np.ndarray, method: str, rate: float) -> None:
    out = time_stretch(v220, sample_rate_hz=SR, rate=rate, method=method)  # type: ignore[arg-type]
    assert out.size == round(v220.size / rate) and out.dtype == np.float32 and np.isfinite(out).all()
    assert abs(cents(median_f0(out), 220.0)) < 10.0
    # the voice is still there at its level (not a silent or broken resynthesis)
    mid = slice(out.size // 4, 3 * out.size // 4)
    assert np.std(out[mid]) == pytest.approx(np.std(v220[v220.size // 4 : 3 * v220.size // 4]), rel=0.3)


@settings(max_examples=15, deadline=None)
@given(
    sr=st.integers(8000, 96000),
    n=st.integers(0, 2000).map(lambda k: 2 * k + 1),
    rate=st.floats(0.5, 2.0),
    method=st.sampled_from(METHODS),
)
def test_stretch_length_is_exact_for_any_rate_and_length(sr: int, n: int, rate: float, method: str) -> None:
    y = (0.3 * np.sin(2 * np.pi * 190.0 * np.arange(n) / sr)).astype(np.float32)
    out = time_stretch(y, sample_rate_hz=sr, rate=rate, method=method)  # type: ignore[arg-type]
    assert out.shape == (round(n / rate),) and np.isfinite(out).all()
    shifted = pitch_shift(y, sample_rate_hz=sr, semitones=1.5, method=method)  # type: ignore[arg-type]
    assert shifted.shape == (n,) and np.isfinite(shifted).all()


@pytest.mark.parametrize("method", METHODS)
def test_deterministic(v220: np.ndarray, method: str) -> None:
    a = pitch_shift(v220, sample_rate_hz=SR, semitones=2.0, method=method)  # type: ignore[arg-type]
    b = pitch_shift(v220.copy(), sample_rate_hz=SR, semitones=2.0, method=method)  # type: ignore[arg-type]
    assert np.array_equal(a, b)
    c = time_stretch(v220, sample_rate_hz=SR, rate=1.1, method=method)  # type: ignore[arg-type]
    d = time_stretch(v220.copy(), sample_rate_hz=SR, rate=1.1, method=method)  # type: ignore[arg-type]
    assert np.array_equal(c, d)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [0, 1, 50, 300])
def test_short_and_silent_inputs(method: str, n: int) -> None:
    y = (0.2 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    for x in (y, np.zeros(n, np.float32)):
        out = pitch_shift(x, sample_rate_hz=SR, semitones=-2.0, method=method)  # type: ignore[arg-type]
        assert out.shape == (n,) and np.isfinite(out).all()
        out = time_stretch(x, sample_rate_hz=SR, rate=0.9, method=method)  # type: ignore[arg-type]
        assert out.shape == (round(n / 0.9),) and np.isfinite(out).all()


@pytest.mark.parametrize("method", METHODS)
def test_silence_stays_silent(method: str) -> None:
    z = silence(duration_s=0.5, sample_rate_hz=SR)
    assert not pitch_shift(z, sample_rate_hz=SR, semitones=3.0, method=method).any()  # type: ignore[arg-type]
    assert not time_stretch(z, sample_rate_hz=SR, rate=1.5, method=method).any()  # type: ignore[arg-type]


def test_real_soprano_note_is_shifted() -> None:
    path = shared_file("singing/sms_tools/soprano-E4.wav")
    y, sr = sf.read(path, dtype="float32")
    before = median_f0(y, sr)
    out = pitch_shift(y, sample_rate_hz=sr, semitones=2.0)
    assert abs(cents(median_f0(out, sr), before) - 200.0) < 15.0


def test_bad_parameters_raise_config_errors(v220: np.ndarray) -> None:
    with pytest.raises(ConfigError, match="pitch_method"):
        pitch_shift(v220, sample_rate_hz=SR, semitones=2.0, method="sinc")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="time_stretch_rates"):
        time_stretch(v220, sample_rate_hz=SR, rate=0.0)
    with pytest.raises(ConfigError, match="pitch_shift_semitones"):
        pitch_shift(v220, sample_rate_hz=SR, semitones=float("nan"))
    with pytest.raises(ConfigError, match="f0_ceil_hz"):
        pitch_shift(v220, sample_rate_hz=SR, semitones=1.0, f0_ceil_hz=9000.0)
    with pytest.raises(NonFiniteAudioError, match="NaN"):
        time_stretch(np.array([np.nan] * 10, np.float32), sample_rate_hz=SR, rate=1.1)
