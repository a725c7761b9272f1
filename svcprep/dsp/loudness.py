"""Loudness and peak measurement and normalisation (ITU-R BS.1770-4).

Everything here works on float32 mono 1-D audio and computes internally in float64.
Levels are in dBFS (0 dBFS = a sample value of 1.0) and LUFS.

The K-weighting filter is derived for any sample rate from its analog prototype
(a high shelf and a high-pass, each given by a centre frequency, a gain and a Q, as
in libebur128), so 16, 22.05 or 44.1 kHz are measured as correctly as 48 kHz, for
which BS.1770 tabulates the coefficients.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from svcprep.dsp._checks import as_audio, check_rate
from svcprep.dsp.filters import OVERSAMPLE_FACTOR, oversample_4x, sos_filter
from svcprep.errors import ConfigError

__all__ = [
    "integrated_loudness_lufs",
    "k_weighting_sos",
    "normalize_loudness",
    "normalize_peak",
    "true_peak_dbfs",
]

FloatArray = npt.NDArray[np.float32]

# Analog prototype of the BS.1770 K-weighting (pre-filter shelf and RLB high-pass).
_SHELF_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_HIGHPASS_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773

_BLOCK_S = 0.4  # gating block
_STEP_S = 0.1  # 75 % overlap
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_LUFS_OFFSET = -0.691

_OVERSAMPLE = OVERSAMPLE_FACTOR
_TRUE_PEAK_BLOCK = 1 << 18  # samples per block of the oversampled peak search
_TRUE_PEAK_PAD = 64  # input samples of context on each side of a block (filter half-length is 40)


def k_weighting_sos(*, sample_rate_hz: float) -> npt.NDArray[np.float64]:
    """Second-order sections of the BS.1770 K-weighting filter at any sample rate.

    Both biquads are obtained from the analog prototype with the bilinear transform
    pre-warped at the prototype's centre frequency.

    Parameters
    ----------
    sample_rate_hz
        Sample rate of the audio to be weighted.

    Returns
    -------
    numpy.ndarray
        Shape (2, 6), float64, in the layout of ``scipy.signal.sosfilt`` and
        :func:`svcprep.dsp.filters.sos_filter`: the high shelf, then the high-pass.
    """
    check_rate(sample_rate_hz, what="k_weighting_sos")
    k = math.tan(math.pi * _SHELF_HZ / sample_rate_hz)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    k = math.tan(math.pi * _HIGHPASS_HZ / sample_rate_hz)
    a0 = 1.0 + k / _HIGHPASS_Q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


def integrated_loudness_lufs(y: npt.ArrayLike, *, sample_rate_hz: float) -> float:
    """Integrated loudness of a mono signal per ITU-R BS.1770-4.

    K-weighting, mean square over 400 ms blocks every 100 ms (75 % overlap), an
    absolute gate at -70 LUFS and a relative gate 10 LU below the loudness of the
    blocks that pass the absolute gate.

    Parameters
    ----------
    y
        float32 mono audio.
    sample_rate_hz
        Sample rate of ``y``.

    Returns
    -------
    float
        Loudness in LUFS; ``-inf`` when no block passes the gates (silence, or audio
        quieter than -70 LUFS throughout). A signal shorter than one 400 ms block is
        measured as a single block over all of its samples.

    Raises
    ------
    NonFiniteAudioError
        ``y`` holds NaN or infinity.
    ConfigError
        ``sample_rate_hz`` is not positive.
    """
    a = as_audio(y, what="integrated_loudness_lufs")
    check_rate(sample_rate_hz, what="integrated_loudness_lufs")
    n = a.size
    if n == 0:
        return -math.inf
    z = sos_filter(k_weighting_sos(sample_rate_hz=sample_rate_hz), a)
    z *= z
    # Sums over 100 ms steps, then each 400 ms block is four consecutive steps. Step
    # boundaries are rounded so that any (even fractional) rate is handled.
    step = _STEP_S * sample_rate_hz
    bounds = np.round(np.arange(int(n / step) + 2) * step).astype(np.int64)
    bounds = bounds[bounds <= n]
    if bounds.size < 5:
        block_ms = np.array([z.mean()])
    else:
        step_sums = np.add.reduceat(z[: bounds[-1]], bounds[:-1])
        counts = np.diff(bounds).astype(np.float64)
        window = np.lib.stride_tricks.sliding_window_view
        block_ms = window(step_sums, 4).sum(axis=1) / window(counts, 4).sum(axis=1)
    with np.errstate(divide="ignore"):
        block_lufs = _LUFS_OFFSET + 10.0 * np.log10(block_ms)
    above_abs = block_ms[block_lufs > _ABSOLUTE_GATE_LUFS]
    if above_abs.size == 0:
        return -math.inf
    relative_gate = _LUFS_OFFSET + 10.0 * math.log10(float(above_abs.mean())) + _RELATIVE_GATE_LU
    gated = block_ms[(block_lufs > _ABSOLUTE_GATE_LUFS) & (block_lufs > relative_gate)]
    if gated.size == 0:  # cannot happen (the loudest block always passes), kept for safety
        return -math.inf
    return _LUFS_OFFSET + 10.0 * math.log10(float(gated.mean()))


def _true_peak_linear(a: npt.NDArray[np.floating]) -> float:
    if a.size == 0:
        return 0.0
    peak = float(np.max(np.abs(a)))
    if peak == 0.0:
        return 0.0
    n = a.size
    pad = _TRUE_PEAK_PAD
    for start in range(0, n, _TRUE_PEAK_BLOCK):
        stop = min(n, start + _TRUE_PEAK_BLOCK)
        lo, hi = max(0, start - pad), min(n, stop + pad)
        chunk = np.asarray(a[lo:hi], dtype=np.float64)
        up = oversample_4x(chunk)
        # keep only the oversampled points that belong to this block (context trimmed)
        keep = up[(start - lo) * _OVERSAMPLE : (stop - lo) * _OVERSAMPLE]
        if keep.size:
            peak = max(peak, float(np.max(np.abs(keep))))
    return peak


def true_peak_dbfs(y: npt.ArrayLike, *, sample_rate_hz: float) -> float:
    """True peak of a signal: the peak of its 4x oversampled version, in dBFS.

    Oversampling is that of ``scipy.signal.resample_poly(x, 4, 1)`` (polyphase, Kaiser-windowed
    low-pass), in blocks so that long inputs need little extra memory. The result is
    never below the sample peak.

    Parameters
    ----------
    y
        float32 mono audio.
    sample_rate_hz
        Sample rate of ``y`` (validated; the oversampling factor does not depend on it).

    Returns
    -------
    float
        ``20 * log10(true peak)``; ``-inf`` for silence or an empty input.
    """
    a = as_audio(y, what="true_peak_dbfs")
    check_rate(sample_rate_hz, what="true_peak_dbfs")
    peak = _true_peak_linear(a)
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def _apply_gain(a: npt.NDArray[np.floating], gain_db: float, ceiling: float | None) -> FloatArray:
    out = (a.astype(np.float64) * 10.0 ** (gain_db / 20.0)).astype(np.float32)
    if ceiling is not None:
        # float32 rounding can lift the peak by an ulp: pull it back under the ceiling
        for _ in range(4):
            tp = _true_peak_linear(out)
            if tp <= ceiling:
                break
            out = (out.astype(np.float64) * (ceiling / tp) * (1.0 - 1e-6)).astype(np.float32)
    return out


def normalize_loudness(
    y: npt.ArrayLike, *, sample_rate_hz: float, target_lufs: float = -20.0, peak_dbfs: float = -1.0
) -> tuple[FloatArray, float]:
    """Scale a signal to an integrated loudness, never letting its true peak pass a ceiling.

    Parameters
    ----------
    y
        float32 mono audio.
    sample_rate_hz
        Sample rate of ``y``.
    target_lufs
        Loudness to reach (``loudness.target_lufs``).
    peak_dbfs
        Ceiling for the true peak of the output (``loudness.peak_dbfs``). When the
        gain that reaches ``target_lufs`` would lift the true peak above it, the gain
        is reduced so the true peak lands on the ceiling and the output is quieter
        than the target.

    Returns
    -------
    tuple of (numpy.ndarray, float)
        The scaled float32 audio and the gain applied in dB. Silence (and audio with
        no block above the -70 LUFS gate) comes back unchanged with gain 0.
    """
    a = as_audio(y, what="normalize_loudness")
    check_rate(sample_rate_hz, what="normalize_loudness")
    if not (math.isfinite(target_lufs) and target_lufs <= 0):
        raise ConfigError(f"loudness.target_lufs={target_lufs} must be a finite level <= 0 LUFS")
    if not (math.isfinite(peak_dbfs) and peak_dbfs <= 0):
        raise ConfigError(f"loudness.peak_dbfs={peak_dbfs} must be a finite level <= 0 dBFS")
    lufs = integrated_loudness_lufs(a, sample_rate_hz=sample_rate_hz)
    if not math.isfinite(lufs):
        return a.astype(np.float32, copy=True), 0.0
    gain_db = target_lufs - lufs
    peak = _true_peak_linear(a)
    peak_db = 20.0 * math.log10(peak)
    if peak_db + gain_db > peak_dbfs:
        gain_db = peak_dbfs - peak_db
    out = _apply_gain(a, gain_db, 10.0 ** (peak_dbfs / 20.0))
    return out, float(gain_db)


def normalize_peak(y: npt.ArrayLike, *, peak_dbfs: float = -1.0) -> tuple[FloatArray, float]:
    """Scale a signal so that its sample peak is ``peak_dbfs``.

    Parameters
    ----------
    y
        float32 mono audio.
    peak_dbfs
        Target sample peak (``loudness.peak_dbfs``), <= 0 dBFS.

    Returns
    -------
    tuple of (numpy.ndarray, float)
        The scaled float32 audio and the gain in dB. Silence comes back unchanged with
        gain 0.
    """
    a = as_audio(y, what="normalize_peak")
    if not (math.isfinite(peak_dbfs) and peak_dbfs <= 0):
        raise ConfigError(f"loudness.peak_dbfs={peak_dbfs} must be a finite level <= 0 dBFS")
    peak = float(np.max(np.abs(a))) if a.size else 0.0
    if peak == 0.0:
        return a.astype(np.float32, copy=True), 0.0
    target = 10.0 ** (peak_dbfs / 20.0)
    gain_db = 20.0 * math.log10(target / peak)
    out = (a.astype(np.float64) * (target / peak)).astype(np.float32)
    # float32 rounding may land an ulp above the target: clip to the largest float32 <= target
    t32 = np.float32(target)
    if float(t32) > target:
        t32 = np.nextafter(t32, np.float32(0))
    np.clip(out, -t32, t32, out=out)
    return out, float(gain_db)
