"""Tests of svcprep.dsp.denoise: filter response, zero phase, SNR gain, edge inputs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep.dsp.denoise import denoise, highpass, spectral_gate
from svcprep.errors import ConfigError, NonFiniteAudioError
from svcprep.testing import f0_vibrato, harmonic_voice, noise, silence, sing_phrase, tone
from tests._data import shared_file


def gain_db(freq_hz: float, sr: int, duration_s: float = 4.0, **kw: float) -> float:
    """Measured gain of `highpass` on a steady sine (middle half, away from the edges)."""
    y = tone(freq_hz, duration_s=duration_s, sample_rate_hz=sr, amplitude=0.5)
    out = highpass(y, sample_rate_hz=sr, **kw)  # type: ignore[arg-type]
    mid = slice(y.size // 4, 3 * y.size // 4)
    return float(20 * np.log10(np.std(out[mid].astype(np.float64)) / np.std(y[mid].astype(np.float64))))


def butterworth_zero_phase_db(freq_hz: float, cutoff_hz: float, order: int) -> float:
    """Analog Butterworth high-pass magnitude, squared by the forward-backward pass (in dB)."""
    return float(-20 * np.log10(1 + (cutoff_hz / freq_hz) ** (2 * order)))


def snr_db(clean: np.ndarray, x: np.ndarray) -> float:
    c = clean.astype(np.float64)
    return float(10 * np.log10(np.sum(c**2) / np.sum((x.astype(np.float64) - c) ** 2)))


def test_highpass_stops_10hz_and_passes_440hz() -> None:
    assert gain_db(10.0, 16000) < -20.0
    assert abs(gain_db(440.0, 16000)) < 0.1


@settings(max_examples=15, deadline=None)
@given(sr=st.integers(8000, 96000), cutoff=st.floats(20.0, 200.0), order=st.integers(1, 8))
def test_highpass_follows_the_butterworth_response(sr: int, cutoff: float, order: int) -> None:
    for ratio in (0.5, 1.0, 2.0, 8.0):
        freq = cutoff * ratio
        expected = butterworth_zero_phase_db(freq, cutoff, order)
        # the digital filter is pre-warped at the cut-off, so low frequencies match closely
        got = gain_db(freq, sr, duration_s=1.5, cutoff_hz=cutoff, order=order)
        assert got == pytest.approx(expected, abs=0.25)


def test_highpass_is_zero_phase() -> None:
    impulse = np.zeros(8001, np.float32)
    impulse[4000] = 1.0
    h = highpass(impulse, sample_rate_hz=16000, cutoff_hz=100.0).astype(np.float64)
    assert int(np.argmax(np.abs(h))) == 4000
    # a zero-phase response is symmetric about the impulse
    np.testing.assert_allclose(h[4000 - 2000 : 4000], h[4001 : 4001 + 2000][::-1], atol=1e-6)


def test_cutoff_zero_is_passthrough() -> None:
    y = noise(duration_s=0.5, sample_rate_hz=16000, seed=2)
    assert np.array_equal(highpass(y, sample_rate_hz=16000, cutoff_hz=0.0), y)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 27, 100])
def test_highpass_handles_short_inputs(n: int) -> None:
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    out = highpass(y, sample_rate_hz=16000)
    assert out.shape == (n,) and out.dtype == np.float32 and np.isfinite(out).all()


def _noisy_phrase(sr: int, snr: float) -> tuple[np.ndarray, np.ndarray]:
    clean = sing_phrase(sample_rate_hz=sr, breath=0.0).audio
    power = float(np.mean(clean.astype(np.float64) ** 2))
    n = noise(
        duration_s=clean.size / sr, sample_rate_hz=sr, amplitude=np.sqrt(power / 10 ** (snr / 10)), seed=1
    )
    return clean, (clean + n).astype(np.float32)


@pytest.mark.parametrize("stationary", [True, False])
@pytest.mark.parametrize("sr", [16000, 44100])
def test_spectral_gate_raises_the_snr_of_a_noisy_voice(stationary: bool, sr: int) -> None:
    clean, noisy = _noisy_phrase(sr, 10.0)
    before = snr_db(clean, noisy)
    assert before == pytest.approx(10.0, abs=0.2)
    out = denoise(noisy, sample_rate_hz=sr, stationary=stationary)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert snr_db(clean, out) > before + 1.5


def _noisereduce_stationary(x: np.ndarray, sr: int, strength: float, n_std: float) -> np.ndarray:
    """noisereduce's own stationary gate with the settings svcprep passes it."""
    import warnings

    from svcprep.dsp import denoise as dn

    n_fft = dn.gate_n_fft(sr)
    noise_sample = dn._noise_sample(x, sr, n_fft)
    assert noise_sample is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = dn._noisereduce().reduce_noise(
            y=x, sr=sr, stationary=True, y_noise=noise_sample, prop_decrease=strength, n_fft=n_fft,
            n_std_thresh_stationary=n_std, n_jobs=1,
            freq_mask_smooth_hz=max(dn._FREQ_MASK_SMOOTH_HZ, 2.0 * sr / n_fft + 1.0),
            time_mask_smooth_ms=max(dn._TIME_MASK_SMOOTH_MS, 1000.0 * n_fft / 4 / sr + 1.0),
        )  # fmt: skip
    return np.asarray(out, dtype=np.float32)


@pytest.mark.parametrize(
    ("sr", "seconds", "strength", "n_std"),
    [(16000, 3.0, 0.8, 1.5), (44100, 2.0, 1.0, 1.5), (22050, 4.0, 0.5, 2.5), (48000, 14.0, 0.8, 1.5)],
)
def test_stationary_gate_is_noisereduces_to_float32_rounding(
    sr: int, seconds: float, strength: float, n_std: float
) -> None:
    # svcprep's own implementation of noisereduce's stationary gate (faster); 14 s at 48 kHz
    # crosses noisereduce's 600,000-sample chunks
    _, noisy = _noisy_phrase(sr, 10.0)
    noisy = np.resize(noisy, round(seconds * sr))
    ours = spectral_gate(noisy, sample_rate_hz=sr, strength=strength, n_std_thresh=n_std)
    ref = _noisereduce_stationary(noisy, sr, strength, n_std)
    assert float(np.max(np.abs(ours - ref))) < 1e-4 * float(np.max(np.abs(noisy)))
    assert float(np.max(np.abs(ours - noisy))) > 0.01, "the gate did something"


def test_stationary_gate_matches_noisereduce_on_real_speech() -> None:
    y, sr = sf.read(shared_file("speech/librispeech/5703-47212-0000.flac"), dtype="float32")
    ours = spectral_gate(y, sample_rate_hz=sr)
    ref = _noisereduce_stationary(y, sr, 0.8, 1.5)
    assert float(np.max(np.abs(ours - ref))) < 1e-4 * float(np.max(np.abs(y)))


def test_stationary_gate_does_not_eat_a_voice_without_pauses() -> None:
    # voiced throughout: the quietest frames hold voice, so the stationary noise estimate
    # would be wrong; the gate must fall back and not make things worse
    sr = 16000
    f0 = f0_vibrato(center_hz=220.0, depth_cents=40.0, rate_hz=5.5, duration_s=2.0, sample_rate_hz=sr)
    clean = harmonic_voice(f0, sample_rate_hz=sr).audio
    power = float(np.mean(clean.astype(np.float64) ** 2))
    noisy = clean + noise(duration_s=2.0, sample_rate_hz=sr, amplitude=np.sqrt(power / 10), seed=4)
    assert snr_db(clean, spectral_gate(noisy, sample_rate_hz=sr, stationary=True)) > snr_db(clean, noisy)


def test_strength_zero_changes_nothing() -> None:
    _, noisy = _noisy_phrase(16000, 10.0)
    out = spectral_gate(noisy, sample_rate_hz=16000, strength=0.0)
    assert np.array_equal(out, noisy)


@pytest.mark.parametrize("stationary", [True, False])
@pytest.mark.parametrize(
    "make",
    [
        lambda: silence(duration_s=1.0, sample_rate_hz=16000),
        lambda: noise(duration_s=1.0, sample_rate_hz=16000, amplitude=1e-9),
        lambda: np.array([0.3], np.float32),
        lambda: np.zeros(0, np.float32),
        lambda: noise(duration_s=0.1, sample_rate_hz=16000),
    ],
    ids=["digital_silence", "1e-9_noise", "one_sample", "empty", "100ms"],
)
def test_edge_inputs_stay_finite_and_keep_their_length(stationary: bool, make) -> None:  # type: ignore[no-untyped-def]
    y = make()
    out = denoise(y, sample_rate_hz=16000, stationary=stationary)
    assert out.shape == y.shape and out.dtype == np.float32 and np.isfinite(out).all()
    gated = spectral_gate(y, sample_rate_hz=16000, stationary=stationary)
    assert np.array_equal(gated, y)  # too quiet or too short to gate: unchanged


@settings(max_examples=15, deadline=None)
@given(
    sr=st.integers(8000, 96000), n=st.integers(0, 40001), level=st.floats(1e-12, 1.0), seed=st.integers(0, 99)
)
def test_denoise_never_returns_nan(sr: int, n: int, level: float, seed: int) -> None:
    y = (level * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)
    for stationary in (True, False):
        out = denoise(y, sample_rate_hz=sr, stationary=stationary)
        assert out.shape == (n,) and np.isfinite(out).all()


def test_real_recording_keeps_its_length_and_voice() -> None:
    path = shared_file("singing/sms_tools/soprano-E4.wav")
    y, sr = sf.read(path, dtype="float32")
    out = denoise(y, sample_rate_hz=sr)
    assert out.shape == y.shape and np.isfinite(out).all()
    # a clean sustained note: gating must keep nearly all of its energy
    assert np.sum(out.astype(np.float64) ** 2) > 0.8 * np.sum(y.astype(np.float64) ** 2)


def test_bad_parameters_raise_config_errors() -> None:
    y = np.zeros(100, np.float32)
    with pytest.raises(ConfigError, match="highpass_hz"):
        highpass(y, sample_rate_hz=16000, cutoff_hz=9000.0)
    with pytest.raises(ConfigError, match="highpass_order"):
        highpass(y, sample_rate_hz=16000, order=0)
    with pytest.raises(ConfigError, match="strength"):
        spectral_gate(y, sample_rate_hz=16000, strength=1.5)
    with pytest.raises(NonFiniteAudioError, match="NaN"):
        denoise(np.array([np.inf], np.float32), sample_rate_hz=16000)


def test_non_stationary_gate_in_a_fresh_process_without_scipy_loaded() -> None:
    """Regression: with scipy no longer imported by the default path, noisereduce's first
    import (torch hidden) imported scipy.signal, whose array-API layer failed on the hidden
    torch: every item needing the non-stationary gate became a processing error."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from svcprep.dsp.denoise import spectral_gate\n"
        "assert 'scipy' not in sys.modules\n"
        "x = (np.random.default_rng(0).standard_normal(32000) * 0.05).astype(np.float32)\n"
        "y = spectral_gate(x, sample_rate_hz=16000, stationary=False)\n"
        "assert y.shape == x.shape and np.isfinite(y).all()\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "False"  # noisereduce's optional torch gate stayed unloaded
