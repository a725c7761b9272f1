"""svcprep.dsp.filters against scipy.signal, the reference it stands in for."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from svcprep.dsp.filters import (
    butter_highpass_power,
    dilate,
    oversample_4x,
    running_mean,
    running_median,
    smooth_axis,
    sos_filter,
    zero_phase_highpass,
)
from svcprep.dsp.loudness import k_weighting_sos


def _reach(sample_rate_hz: float, cutoff_hz: float, order: int) -> int:
    """Samples over which the forward-backward response of the scipy design lasts (1e-12)."""
    sos = signal.butter(order, cutoff_hz, btype="highpass", fs=sample_rate_hz, output="sos")
    radius = float(np.max(np.abs(signal.sos2zpk(sos)[1])))
    return int(np.ceil(np.log(1e-12) / np.log(radius)))


@settings(max_examples=25, deadline=None)
@given(
    sr=st.sampled_from([8000, 16000, 22050, 32000, 44100, 48000, 96000]),
    cutoff=st.floats(20.0, 300.0),
    order=st.integers(1, 8),
    seconds=st.floats(0.05, 3.0),
)
def test_zero_phase_highpass_is_sosfiltfilt(sr: int, cutoff: float, order: int, seconds: float) -> None:
    x = np.random.default_rng(order).standard_normal(int(seconds * sr))
    got = zero_phase_highpass(x, sample_rate_hz=sr, cutoff_hz=cutoff, order=order)
    sos = signal.butter(order, cutoff, btype="highpass", fs=sr, output="sos")
    reach = _reach(sr, cutoff, order)
    # sosfiltfilt padded as far as the response reaches computes the same zero-phase filter
    want = signal.sosfiltfilt(sos, x, padlen=min(2 * reach, x.size - 1))
    if x.size > 2 * reach:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # with its default short padding, sosfiltfilt differs only near the ends
    short = signal.sosfiltfilt(sos, x)
    inner = slice(min(reach, x.size // 2), max(x.size - reach, x.size // 2))
    np.testing.assert_allclose(got[inner], short[inner], rtol=0, atol=1e-9)


@pytest.mark.parametrize("order", [1, 2, 4, 8])
def test_highpass_power_is_the_butter_design(order: int) -> None:
    sr, cutoff = 44100.0, 40.0
    sos = signal.butter(order, cutoff, btype="highpass", fs=sr, output="sos")
    freqs = np.geomspace(1.0, sr / 2, 400)
    _, h = signal.sosfreqz(sos, worN=freqs, fs=sr)
    np.testing.assert_allclose(
        butter_highpass_power(freqs, sample_rate_hz=sr, cutoff_hz=cutoff, order=order),
        np.abs(h) ** 2,
        rtol=1e-6,
        atol=1e-12,
    )
    assert butter_highpass_power([0.0], sample_rate_hz=sr, cutoff_hz=cutoff, order=order)[0] == 0.0


def test_zero_phase_highpass_removes_dc_and_keeps_the_voice_band() -> None:
    sr = 16000
    t = np.arange(2 * sr) / sr
    x = 0.3 + 0.5 * np.sin(2 * np.pi * 220.0 * t)
    y = zero_phase_highpass(x, sample_rate_hz=sr, cutoff_hz=30.0, order=2)
    assert abs(float(y.mean())) < 1e-4
    np.testing.assert_allclose(y[sr // 2 : -sr // 2], x[sr // 2 : -sr // 2] - 0.3, atol=2e-3)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 40, 1000])
def test_zero_phase_highpass_short_inputs(n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n)
    y = zero_phase_highpass(x, sample_rate_hz=16000, cutoff_hz=40.0, order=4)
    assert y.shape == (n,) and np.isfinite(y).all()
    if n == 1:
        assert y[0] == 0.0  # a single sample is a constant: no AC content


@settings(max_examples=25, deadline=None)
@given(sr=st.integers(8000, 192000), n=st.integers(0, 200_000))
def test_sos_filter_is_sosfilt_for_k_weighting(sr: int, n: int) -> None:
    sos = k_weighting_sos(sample_rate_hz=sr)
    x = np.random.default_rng(n).standard_normal(n)
    got = sos_filter(sos, x)
    assert got.shape == (n,)
    if n:
        np.testing.assert_allclose(got, signal.sosfilt(sos, x), rtol=0, atol=1e-10)


def test_sos_filter_long_input_in_blocks() -> None:
    """Longer than one FFT frame: block edges must not show."""
    sos = signal.butter(6, [100.0, 3000.0], btype="bandpass", fs=44100, output="sos")
    x = np.random.default_rng(7).standard_normal(3_000_000)
    np.testing.assert_allclose(sos_filter(sos, x), signal.sosfilt(sos, x), rtol=0, atol=1e-10)


def test_sos_filter_rejects_an_unstable_section() -> None:
    with pytest.raises(ValueError, match="not stable"):
        sos_filter([[1.0, 0.0, 0.0, 1.0, -2.0, 1.0]], np.ones(10))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 5000), seed=st.integers(0, 2**16))
def test_oversample_4x_is_resample_poly(n: int, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(n)
    got = oversample_4x(x)
    assert got.shape == (4 * n,)
    if n:
        np.testing.assert_allclose(got, signal.resample_poly(x, 4, 1), rtol=0, atol=1e-12)


def test_a_default_build_imports_no_scipy(tmp_path) -> None:
    """scipy.signal costs each build process 0.6-1.3 s of import, scipy.ndimage 0.1-0.2 s:
    a default build (decode, slice, denoise, F0, mel, volume, quality) needs neither."""
    import soundfile as sf

    from svcprep.testing import sing_phrase

    raw = tmp_path / "raw" / "ann"
    raw.mkdir(parents=True)
    v = sing_phrase(sample_rate_hz=44100, notes_hz=(220.0, 330.0, 262.0), note_s=0.8, seed=3)
    sf.write(raw / "take.wav", v.audio, 44100, subtype="PCM_16")
    code = (
        "import sys\n"
        "import svcprep\n"
        f"r = svcprep.build({str(tmp_path / 'raw')!r}, {str(tmp_path / 'out')!r}, jobs=1, progress=False)\n"
        "assert r.exit_code == 0 and r.items, r.exit_code\n"
        "print(sorted(m for m in sys.modules if m == 'scipy' or m.startswith('scipy.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --------------------------------------------------------------------------- running statistics


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 300),
    cols=st.integers(1, 4),
    size=st.integers(1, 40),
    axis=st.sampled_from([0, 1]),
    f32=st.booleans(),
)
def test_running_mean_is_uniform_filter1d(n: int, cols: int, size: int, axis: int, f32: bool) -> None:
    from scipy import ndimage

    x = np.random.default_rng(n * 7 + size).standard_normal((n, cols))
    x = x.astype(np.float32) if f32 else x
    got = running_mean(x, size, axis=axis)
    want = ndimage.uniform_filter1d(x, size=size, axis=axis, mode="nearest")
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 if f32 else 1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 400), half=st.integers(0, 30))
def test_running_median_is_median_filter(n: int, half: int) -> None:
    from scipy import ndimage

    x = np.random.default_rng(n + half).standard_normal(n)
    got = running_median(x, 2 * half + 1)
    if n:
        np.testing.assert_array_equal(got, ndimage.median_filter(x, size=2 * half + 1, mode="nearest"))
    with pytest.raises(ValueError, match="odd"):
        running_median(x, 2 * half + 2)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 60), st.integers(1, 60)),
    taps=st.integers(0, 12),
    axis=st.sampled_from([0, 1]),
    f32=st.booleans(),
)
def test_smooth_axis_is_convolve1d(shape: tuple[int, int], taps: int, axis: int, f32: bool) -> None:
    from scipy import ndimage

    rng = np.random.default_rng(sum(shape) + taps)
    x = rng.random(shape)
    w = rng.random(2 * taps + 1)  # not symmetric: the kernel's orientation is checked too
    x = x.astype(np.float32) if f32 else x
    got = smooth_axis(x, w, axis=axis)
    want = ndimage.convolve1d(x, w, axis=axis, mode="constant")
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 if f32 else 1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 200), steps=st.integers(0, 5), seed=st.integers(0, 1000))
def test_dilate_is_binary_dilation(n: int, steps: int, seed: int) -> None:
    from scipy import ndimage

    m = np.random.default_rng(seed).random(n) > 0.85
    want = ndimage.binary_dilation(m, iterations=steps) if steps else m
    np.testing.assert_array_equal(dilate(m, steps), want)
