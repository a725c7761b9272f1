"""Filters in numpy alone: a zero-phase Butterworth high-pass, a causal biquad cascade,
4x polyphase oversampling, and the running means, medians, smoothing and dilation the
quality metrics and the spectral gate use.

These replace ``scipy.signal`` on the default build path. Importing ``scipy.signal``
imports ``scipy.stats``, ``scipy.interpolate`` and ``scipy.optimize`` with it, 0.6-1.3 s
per process; every build worker paid it on its first item, and two workers paying it
at once is serial time that ``-j 2`` cannot win back. The filters needed here are
small enough to write in numpy with FFT convolution:

* :func:`zero_phase_highpass` applies the squared magnitude of the bilinear-transform
  Butterworth high-pass ``scipy.signal.butter(order, cutoff_hz, "highpass")`` designs,
  which is exactly what forward-backward filtering (``sosfiltfilt``) applies, to the
  signal extended at both ends by odd reflection (as ``sosfiltfilt`` pads).
* :func:`sos_filter` is ``scipy.signal.sosfilt`` (causal, zero initial state) by FFT
  convolution with the cascade's impulse response, truncated where it has decayed
  below 1e-12 of its peak.
* :func:`oversample_4x` is ``scipy.signal.resample_poly(x, 4, 1)`` with its default
  Kaiser (beta 5) 81-tap anti-imaging filter, computed as four 21-tap polyphase
  convolutions.

All three work in float64 and agree with their ``scipy.signal`` counterparts to
float64 rounding (the tests check it), the high-pass away from the ends of the signal
(``sosfiltfilt`` pads only 3 * (2 * order + 1) samples and starts from steady state;
here the padding covers the whole response).

:func:`running_mean`, :func:`running_median`, :func:`smooth_axis` and :func:`dilate`
are ``scipy.ndimage``'s ``uniform_filter1d`` and ``median_filter`` (edge samples
repeated), ``convolve1d`` (zeros beyond the ends) and ``binary_dilation`` of a 1-D mask,
for the same reason: ``scipy.ndimage`` costs 0.1-0.2 s to import, more than all the
calls of a build together.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "OVERSAMPLE_FACTOR",
    "butter_highpass_power",
    "dilate",
    "oversample_4x",
    "running_mean",
    "running_median",
    "smooth_axis",
    "sos_filter",
    "zero_phase_highpass",
]

Float64Array = npt.NDArray[np.float64]

#: Relative level below which an impulse response is treated as zero.
_DECAY = 1e-12
#: Largest FFT that filters a signal in one block; longer signals go in blocks.
_ONE_BLOCK_MAX = 1 << 20
#: Smallest FFT of the block convolution of a long signal.
_MIN_FFT = 1 << 18
_SOS_FFT = 1 << 16  # sos_filter's frame: responses are cached per filter and frame


def butter_highpass_power(
    freqs_hz: npt.ArrayLike, *, sample_rate_hz: float, cutoff_hz: float, order: int
) -> Float64Array:
    """Squared magnitude of the digital Butterworth high-pass at ``freqs_hz``.

    The filter is the bilinear transform of the analog Butterworth high-pass with its
    cut-off pre-warped (``scipy.signal.butter(order, cutoff_hz, "highpass",
    fs=sample_rate_hz)``), whose power response is
    ``1 / (1 + (tan(pi cutoff_hz / fs) / tan(pi f / fs)) ** (2 order))``: 0 at DC,
    -3 dB at ``cutoff_hz``, 1 at Nyquist.

    Parameters
    ----------
    freqs_hz
        Frequencies from 0 to ``sample_rate_hz / 2``.
    sample_rate_hz
        Sample rate of the digital filter.
    cutoff_hz
        Cut-off frequency, between 0 and Nyquist (exclusive).
    order
        Filter order (one pass).

    Returns
    -------
    numpy.ndarray
        float64 power gains, same shape as ``freqs_hz``.
    """
    f = np.asarray(freqs_hz, dtype=np.float64)
    warped_cut = math.tan(math.pi * cutoff_hz / sample_rate_hz)
    with np.errstate(divide="ignore"):
        ratio = warped_cut / np.tan(np.pi * np.minimum(f, sample_rate_hz / 2.0) / sample_rate_hz)
        ratio = np.where(f >= sample_rate_hz / 2.0, 0.0, ratio)
        return 1.0 / (1.0 + ratio ** (2 * order))


def _highpass_decay_samples(sample_rate_hz: float, cutoff_hz: float, order: int) -> int:
    """Samples after which the forward-backward high-pass response is below ``_DECAY``."""
    fs2 = 2.0 * sample_rate_hz
    omega_c = fs2 * math.tan(math.pi * cutoff_hz / sample_rate_hz)
    k = np.arange(order)
    lowpass_poles = np.exp(1j * np.pi * (2 * k + order + 1) / (2 * order))
    analog = omega_c * np.conj(lowpass_poles)  # high-pass poles: omega_c / p = omega_c * conj(p)
    digital = (1.0 + analog / fs2) / (1.0 - analog / fs2)
    return _decay_samples(float(np.max(np.abs(digital))))


def _decay_samples(pole_radius: float) -> int:
    if pole_radius <= 0.0:
        return 64
    if pole_radius >= 1.0:
        raise ValueError(f"filter is not stable: pole radius {pole_radius}")
    return math.ceil(1.25 * math.log(_DECAY) / math.log(pole_radius)) + 64


def _fft_size(n: int) -> int:
    """The smallest ``2**a * 3**b * 5**c`` of at least ``n``: a size numpy's FFT does fast."""
    best = 1 << max(0, int(n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def _frame(n_signal: int, reach: int) -> int:
    """FFT size for ``n_signal`` samples and ``reach`` samples of filter context.

    One block whenever the whole signal fits in a frame of up to 2**20 points (most
    slices), otherwise blocks of at least 2**18 points and eight reaches.
    """
    if n_signal + reach <= _ONE_BLOCK_MAX:
        return _fft_size(n_signal + reach)
    return _fft_size(max(_MIN_FFT, 8 * reach))


def _block_convolve(
    x: Float64Array, response: Float64Array | npt.NDArray[np.complex128], n_fft: int, before: int, after: int
) -> Float64Array:
    """Overlap-save convolution of ``x`` with the filter whose ``rfft`` bins are ``response``.

    The filter's impulse response reaches ``before`` samples into the past and
    ``after`` samples into the future (its circular layout in the ``n_fft`` frame);
    ``x`` is taken as zero outside its ends.
    """
    n = x.size
    step = n_fft - before - after
    padded = np.concatenate([np.zeros(before), x, np.zeros(after + step)])
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, step):  # the zeros after x make every segment n_fft long
        y = np.fft.irfft(np.fft.rfft(padded[start : start + n_fft]) * response, n=n_fft)
        stop = min(n, start + step)
        out[start:stop] = y[before : before + stop - start]
    return out


def zero_phase_highpass(
    x: npt.ArrayLike, *, sample_rate_hz: float, cutoff_hz: float, order: int
) -> Float64Array:
    """Zero-phase Butterworth high-pass (the response of forward-backward filtering).

    The magnitude response is :func:`butter_highpass_power`: -6 dB at ``cutoff_hz``,
    with no phase shift. The signal is extended at each end by odd reflection about
    its end sample, as long as the filter's response (or the signal, if shorter), so
    that the ends carry no step.

    Parameters
    ----------
    x
        1-D signal.
    sample_rate_hz
        Sample rate of ``x``.
    cutoff_hz
        Cut-off frequency, between 0 and Nyquist (exclusive).
    order
        Butterworth order of one pass.

    Returns
    -------
    numpy.ndarray
        float64, same length as ``x``.
    """
    a = np.asarray(x, dtype=np.float64)
    n = a.size
    if n < 2:
        return a - a if n else a.copy()
    reach = _highpass_decay_samples(sample_rate_hz, cutoff_hz, order)
    pad = min(reach, n - 1)
    ext = np.concatenate([2.0 * a[0] - a[pad:0:-1], a, 2.0 * a[-1] - a[-2 : -pad - 2 : -1]])
    n_fft = _frame(ext.size, 2 * reach)
    power = butter_highpass_power(
        np.fft.rfftfreq(n_fft, d=1.0 / sample_rate_hz),
        sample_rate_hz=sample_rate_hz,
        cutoff_hz=cutoff_hz,
        order=order,
    )
    return _block_convolve(ext, power, n_fft, reach, reach)[pad : pad + n]


def _sos_response(sos: npt.ArrayLike, n_fft: int) -> npt.NDArray[np.complex128]:
    """Complex response of second-order sections at the ``rfft`` bins of an ``n_fft`` frame."""
    s = np.asarray(sos, dtype=np.float64)
    return _cached_sos_response(s.tobytes(), s.shape[0], n_fft)


@functools.lru_cache(maxsize=8)
def _cached_sos_response(sos_bytes: bytes, n_sections: int, n_fft: int) -> npt.NDArray[np.complex128]:
    s = np.frombuffer(sos_bytes, dtype=np.float64).reshape(n_sections, 6)
    zinv = np.exp(-2j * np.pi * np.arange(n_fft // 2 + 1) / n_fft)
    h = np.ones(zinv.size, dtype=np.complex128)
    for b0, b1, b2, a0, a1, a2 in s:
        h *= (b0 + zinv * (b1 + zinv * b2)) / (a0 + zinv * (a1 + zinv * a2))
    h.flags.writeable = False  # shared by every call with this filter and frame
    return h


def sos_filter(sos: npt.ArrayLike, x: npt.ArrayLike) -> Float64Array:
    """Causal filtering by second-order sections from a zero initial state.

    The same output as ``scipy.signal.sosfilt(sos, x)`` (to float64 rounding), by FFT
    convolution with the cascade's impulse response truncated where it has decayed
    below 1e-12 of its peak.

    Parameters
    ----------
    sos
        Shape (n_sections, 6): ``b0, b1, b2, a0, a1, a2`` per section, all stable.
    x
        1-D signal.

    Returns
    -------
    numpy.ndarray
        float64, same length as ``x``.
    """
    s = np.asarray(sos, dtype=np.float64)
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        return a.copy()
    radius = max(float(np.max(np.abs(np.roots(sec[3:])), initial=0.0)) for sec in s)
    reach = _decay_samples(radius)
    # one frame size per filter (not per signal length), so its response is computed once
    n_fft = _fft_size(max(_SOS_FFT, 8 * reach))
    return _block_convolve(a, _sos_response(s, n_fft), n_fft, reach, 0)


#: The factor of :func:`oversample_4x`.
OVERSAMPLE_FACTOR = 4
_UP = OVERSAMPLE_FACTOR
_HALF = 10 * _UP  # resample_poly's half-length for a factor of 4


@functools.lru_cache(maxsize=1)
def _oversample_phases() -> list[Float64Array]:
    """The four 21-tap polyphase components of ``resample_poly``'s filter for 4x."""
    m = np.arange(2 * _HALF + 1) - _HALF
    h = (1.0 / _UP) * np.sinc(m / _UP) * np.kaiser(2 * _HALF + 1, 5.0)
    h = h / h.sum() * _UP
    # output sample 4q + r = sum over t of h[4t + r + 40] * x[q - t], t from -10 up
    return [h[r::_UP] for r in range(_UP)]


def oversample_4x(x: npt.ArrayLike) -> Float64Array:
    """``x`` upsampled 4x as ``scipy.signal.resample_poly(x, 4, 1)`` does.

    Parameters
    ----------
    x
        1-D signal; taken as zero beyond its ends.

    Returns
    -------
    numpy.ndarray
        float64, ``4 * len(x)`` samples; sample ``4 q`` is ``x[q]`` filtered by the
        81-tap Kaiser (beta 5) low-pass at 1/4 of the new Nyquist frequency.
    """
    a = np.asarray(x, dtype=np.float64)
    n = a.size
    out = np.empty(_UP * n, dtype=np.float64)
    if n == 0:
        return out
    for r, g in enumerate(_oversample_phases()):
        out[r::_UP] = np.convolve(a, g)[10 : 10 + n]
    return out


# --------------------------------------------------------------------------- running statistics


def running_mean(x: npt.ArrayLike, size: int, *, axis: int = -1) -> npt.NDArray[np.floating]:
    """Mean over ``size`` consecutive samples along ``axis``, the end samples repeated outward.

    ``scipy.ndimage.uniform_filter1d(x, size, axis=axis, mode="nearest")``: output ``i``
    averages inputs ``i - size // 2`` to ``i - size // 2 + size - 1``. Computed in
    float64 (a cumulative sum); returned in the input's floating dtype.
    """
    a = np.asarray(x)
    if size < 1:
        raise ValueError(f"running_mean: size={size} must be at least 1")
    out_dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.dtype(np.float64)
    if a.shape[axis] == 0 or size == 1:
        return a.astype(out_dtype, copy=True)
    m = np.moveaxis(a.astype(np.float64), axis, 0)
    left = size // 2
    pad = [(left, size - 1 - left)] + [(0, 0)] * (m.ndim - 1)
    c = np.cumsum(np.pad(m, pad, mode="edge"), axis=0)
    c = np.concatenate([np.zeros((1, *m.shape[1:])), c], axis=0)
    out = (c[size:] - c[:-size]) / size
    return np.moveaxis(out, 0, axis).astype(out_dtype)


def running_median(x: npt.ArrayLike, size: int) -> npt.NDArray[np.float64]:
    """Median over an odd number ``size`` of samples centred on each, the end samples repeated.

    ``scipy.ndimage.median_filter(x, size=size, mode="nearest")`` for 1-D ``x``.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or size < 1 or size % 2 == 0:
        raise ValueError(f"running_median: 1-D input and an odd size are needed, got {a.shape}, {size}")
    if a.size == 0 or size == 1:
        return a.copy()
    half = size // 2
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(a, half, mode="edge"), size)
    return np.asarray(np.median(windows, axis=1), dtype=np.float64)


def smooth_axis(x: npt.ArrayLike, weights: npt.ArrayLike, *, axis: int) -> npt.NDArray[np.floating]:
    """Convolution with a short odd-length kernel along ``axis``, zeros beyond the ends.

    ``scipy.ndimage.convolve1d(x, weights, axis=axis, mode="constant")``: output ``i`` is
    ``sum_j weights[j] * x[i + c - j]`` with ``c = len(weights) // 2``. Sums in the
    input's floating dtype (float64 for other inputs), so float32 results are within a
    few float32 ulps of scipy's, which sums in float64.
    """
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    w = np.asarray(weights, dtype=a.dtype)
    if w.ndim != 1 or w.size % 2 == 0:
        raise ValueError(f"smooth_axis: weights must be 1-D of odd length, got shape {w.shape}")
    n, c = a.shape[axis], w.size // 2

    def along(lo: int, hi: int) -> tuple[slice, ...]:
        index = [slice(None)] * a.ndim
        index[axis] = slice(lo, hi)
        return tuple(index)

    out = np.zeros(a.shape, dtype=a.dtype)
    for j, wj in enumerate(w):
        shift = c - j  # out[i] += wj * x[i + shift]
        lo, hi = max(0, -shift), min(n, n - shift)
        if lo < hi:
            out[along(lo, hi)] += wj * a[along(lo + shift, hi + shift)]
    return out


def dilate(mask: npt.ArrayLike, steps: int) -> npt.NDArray[np.bool_]:
    """A 1-D mask grown by ``steps`` samples on each side of every true sample.

    ``scipy.ndimage.binary_dilation(mask, iterations=steps)`` (its 1-D structuring element
    is three samples wide; outside the mask counts as false).
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 1 or steps < 0:
        raise ValueError(f"dilate: a 1-D mask and steps >= 0 are needed, got {m.shape}, {steps}")
    if steps == 0 or m.size == 0:
        return m.copy()
    padded = np.pad(m, steps, constant_values=False)
    return np.asarray(np.lib.stride_tricks.sliding_window_view(padded, 2 * steps + 1).any(axis=1))
