"""Noise removal: a zero-phase high-pass for rumble and spectral gating for hiss.

Every function takes float32 mono 1-D audio and returns float32 audio of the same
length, always finite.
"""

from __future__ import annotations

import math
import sys
import warnings
from types import ModuleType

import numpy as np
import numpy.typing as npt
from scipy import signal

from svcprep.dsp._checks import as_audio, check_rate
from svcprep.errors import ConfigError

__all__ = ["denoise", "gate_n_fft", "highpass", "spectral_gate"]

FloatArray = npt.NDArray[np.float32]


def _noisereduce() -> ModuleType:
    """noisereduce, imported without its optional torch gate.

    noisereduce imports torch whenever it is installed, for a streamed GPU gate svcprep
    never calls (it runs the numpy gate with ``n_jobs=1``); that import costs each worker
    process 1.5-2 s. When torch is not loaded yet, it is hidden from noisereduce's import.
    """
    if "noisereduce" in sys.modules or "torch" in sys.modules:
        import noisereduce

        return noisereduce
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes "import torch" raise ImportError
    try:
        import noisereduce
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return noisereduce


#: Peak level below which spectral gating leaves the input alone: under the 16-bit
#: quantisation step there is nothing to gate, and noisereduce divides by ~0 there.
QUIET_PEAK = 2.0**-20
#: Share of the quietest 50 ms frames used as the noise sample of the stationary gate.
NOISE_FRAME_SHARE = 0.1
_NOISE_FRAME_S = 0.05
#: The noise sample must be this much quieter than the median frame, else the
#: stationary gate gives way to the non-stationary one.
MIN_PAUSE_DEPTH_DB = 6.0
#: Mask smoothing across frequency. noisereduce's default (500 Hz) is wider than the
#: harmonic spacing of a voice and gates the harmonics themselves.
_FREQ_MASK_SMOOTH_HZ = 50.0
_TIME_MASK_SMOOTH_MS = 50.0
#: Non-stationary gate: noise floor tracked over 5 s; a bin passes 1x above it. With
#: noisereduce's defaults (2 s, 2x) sustained sung notes are taken for noise.
_NONSTATIONARY_TIME_CONSTANT_S = 5.0
_NONSTATIONARY_THRESH_MULT = 1.0


def gate_n_fft(sample_rate_hz: float) -> int:
    """FFT size of the spectral gate: the power of two nearest to 50 ms (1024 at 16 kHz)."""
    return int(2 ** round(math.log2(0.05 * sample_rate_hz)))


def _noise_sample(
    x: npt.NDArray[np.float32], sample_rate_hz: float, n_fft: int
) -> npt.NDArray[np.float32] | None:
    """The quietest :data:`NOISE_FRAME_SHARE` of 50 ms frames (at least two FFTs' worth).

    None when those frames are not clearly quieter (:data:`MIN_PAUSE_DEPTH_DB`) than
    the median frame: the input has no pauses to learn the noise from.
    """
    frame = max(1, round(_NOISE_FRAME_S * sample_rate_hz))
    k = x.size // frame
    frames = x[: k * frame].reshape(k, frame)
    energy = np.einsum("ij,ij->i", frames, frames, dtype=np.float64)
    n_keep = min(k, max(math.ceil(NOISE_FRAME_SHARE * k), math.ceil(2 * n_fft / frame)))
    order = np.argsort(energy, kind="stable")
    keep = np.sort(order[:n_keep])
    if float(energy[keep].mean()) > float(np.median(energy)) * 10.0 ** (-MIN_PAUSE_DEPTH_DB / 10.0):
        return None
    return np.ascontiguousarray(frames[keep].ravel())


def _check_highpass(sample_rate_hz: float, cutoff_hz: float, order: int) -> None:
    nyquist = sample_rate_hz / 2.0
    if not (math.isfinite(cutoff_hz) and 0.0 <= cutoff_hz < nyquist):
        raise ConfigError(
            f"denoise.highpass_hz={cutoff_hz} must be 0 (off) or a frequency below the Nyquist "
            f"frequency {nyquist:g} Hz of sample_rate_hz={sample_rate_hz:g}"
        )
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= 12:
        raise ConfigError(f"denoise.highpass_order={order!r} must be an integer from 1 to 12")


def _check_gate(strength: float, n_std_thresh: float) -> None:
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise ConfigError(f"denoise.strength={strength} must be between 0 (no change) and 1 (full removal)")
    if not (math.isfinite(n_std_thresh) and n_std_thresh > 0):
        raise ConfigError(f"denoise.n_std_thresh={n_std_thresh} must be a positive number")


def highpass(
    y: npt.ArrayLike, *, sample_rate_hz: float, cutoff_hz: float = 40.0, order: int = 4
) -> FloatArray:
    """Zero-phase Butterworth high-pass (forward-backward, ``scipy.signal.sosfiltfilt``).

    The forward-backward pass doubles the attenuation: the magnitude response is
    ``1 / (1 + (cutoff_hz / f) ** (2 * order))``, -6 dB at ``cutoff_hz``, with no
    phase shift.

    Parameters
    ----------
    y
        float32 mono audio.
    sample_rate_hz
        Sample rate of ``y``.
    cutoff_hz
        Cut-off frequency (``denoise.highpass_hz``); 0 returns the input unchanged.
    order
        Butterworth order of one pass (``denoise.highpass_order``), 1 to 12.

    Returns
    -------
    numpy.ndarray
        Filtered float32 audio, same length. Inputs shorter than the filter's edge
        padding are filtered with the padding shortened to fit.

    Raises
    ------
    ConfigError
        The cut-off is negative or not below Nyquist, or the order is out of range.
    """
    a = as_audio(y, what="highpass")
    check_rate(sample_rate_hz, what="highpass")
    _check_highpass(sample_rate_hz, cutoff_hz, order)
    if cutoff_hz == 0.0 or a.size == 0:
        return a.astype(np.float32, copy=True)
    sos = signal.butter(int(order), cutoff_hz, btype="highpass", fs=sample_rate_hz, output="sos")
    # sosfiltfilt's default edge padding, shortened for inputs that are too short for it
    n_zeros = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    padlen = min(3 * (2 * len(sos) + 1 - n_zeros), a.size - 1)
    out = signal.sosfiltfilt(sos, a.astype(np.float64), padlen=padlen)
    return np.asarray(out, dtype=np.float32)


def spectral_gate(
    y: npt.ArrayLike,
    *,
    sample_rate_hz: float,
    stationary: bool = True,
    strength: float = 0.8,
    n_std_thresh: float = 1.5,
) -> FloatArray:
    """Spectral gating with noisereduce (single process, ``n_jobs=1``).

    Parameters
    ----------
    y
        float32 mono audio.
    sample_rate_hz
        Sample rate of ``y``.
    stationary
        True: one noise spectrum, estimated from the quietest
        :data:`NOISE_FRAME_SHARE` of 50 ms frames (the pauses and edge margins of a
        sliced segment), gated at ``n_std_thresh`` standard deviations above its mean.
        This needs some pauses: when the quietest frames are not at least
        :data:`MIN_PAUSE_DEPTH_DB` below the median frame (a segment voiced
        throughout, where they would hold voice and the gate would eat into it), the
        non-stationary gate is used instead. False: noisereduce's
        non-stationary gate, which tracks the noise floor of every bin over 5 s
        (``n_std_thresh`` does not apply to it); use it for voiced-throughout material
        and changing noise.
    strength
        Share of the noise removed (noisereduce ``prop_decrease``): 0 leaves the input
        unchanged, 1 removes all of the estimated noise.
    n_std_thresh
        Stationary gate threshold in noise standard deviations.

    Returns
    -------
    numpy.ndarray
        float32 audio of the same length, always finite. Digital silence, input whose
        peak is below :data:`QUIET_PEAK` and any input for which noisereduce produces
        non-finite values come back unchanged. The FFT size is :func:`gate_n_fft`;
        inputs shorter than four FFTs cannot give a noise estimate and are returned
        unchanged too.
    """
    a = as_audio(y, what="spectral_gate")
    check_rate(sample_rate_hz, what="spectral_gate")
    _check_gate(strength, n_std_thresh)
    x = a.astype(np.float32, copy=True)
    n_fft = gate_n_fft(sample_rate_hz)
    if x.size < 4 * n_fft or strength == 0.0 or float(np.max(np.abs(x))) < QUIET_PEAK:
        return x
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        common = {
            "y": x,
            "sr": sample_rate_hz,
            "prop_decrease": strength,
            "n_fft": n_fft,
            "freq_mask_smooth_hz": max(_FREQ_MASK_SMOOTH_HZ, 2.0 * sample_rate_hz / n_fft + 1.0),
            "time_mask_smooth_ms": max(_TIME_MASK_SMOOTH_MS, 1000.0 * n_fft / 4 / sample_rate_hz + 1.0),
            "n_jobs": 1,
        }
        noise_sample = _noise_sample(x, sample_rate_hz, n_fft) if stationary else None
        noisereduce = _noisereduce()
        if noise_sample is not None:
            out = noisereduce.reduce_noise(
                stationary=True, y_noise=noise_sample, n_std_thresh_stationary=n_std_thresh, **common
            )
        else:
            out = noisereduce.reduce_noise(
                stationary=False,
                time_constant_s=_NONSTATIONARY_TIME_CONSTANT_S,
                thresh_n_mult_nonstationary=_NONSTATIONARY_THRESH_MULT,
                **common,
            )
    out = np.asarray(out, dtype=np.float32)
    if out.shape != x.shape or not np.isfinite(out).all():
        return x
    return out


def denoise(
    y: npt.ArrayLike,
    *,
    sample_rate_hz: float,
    highpass_hz: float = 40.0,
    highpass_order: int = 4,
    spectral_gating: bool = True,
    stationary: bool = True,
    strength: float = 0.8,
    n_std_thresh: float = 1.5,
) -> FloatArray:
    """High-pass, then (optionally) spectral gating: the ``denoise`` stage's processing.

    Parameters
    ----------
    y
        float32 mono audio.
    sample_rate_hz
        Sample rate of ``y``.
    highpass_hz, highpass_order
        See :func:`highpass` (``cutoff_hz``, ``order``); ``highpass_hz=0`` skips it.
    spectral_gating
        Run :func:`spectral_gate` after the high-pass.
    stationary, strength, n_std_thresh
        See :func:`spectral_gate`.

    Returns
    -------
    numpy.ndarray
        float32 audio of the same length, always finite.
    """
    a = as_audio(y, what="denoise")
    check_rate(sample_rate_hz, what="denoise")
    _check_highpass(sample_rate_hz, highpass_hz, highpass_order)
    _check_gate(strength, n_std_thresh)
    out = highpass(a, sample_rate_hz=sample_rate_hz, cutoff_hz=highpass_hz, order=highpass_order)
    if spectral_gating:
        out = spectral_gate(
            out,
            sample_rate_hz=sample_rate_hz,
            stationary=stationary,
            strength=strength,
            n_std_thresh=n_std_thresh,
        )
    return out
