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

from svcprep.dsp._checks import as_audio, check_rate
from svcprep.dsp.filters import smooth_axis, zero_phase_highpass
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
    # scipy.signal first, with torch visible: its array-API layer looks torch up in
    # sys.modules while it imports, and a hidden (None) torch breaks it
    import scipy.signal  # noqa: F401

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


# noisereduce's stationary gate, reproduced with the same arithmetic (its chunks of 600,000
# samples with 30,000 of context, scipy's STFT conventions, top-db clamp, threshold, mask
# smoothing and inverse STFT) in float32 with a separable mask smoothing and a vectorised
# overlap-add: the same output to float32 rounding, about 3x faster (tests/test_denoise.py)
_NR_CHUNK = 600_000
_NR_PAD = 30_000
_NR_TOP_DB = 80.0
_EPS = float(np.finfo(np.float64).eps)


def _triangle(n: int) -> npt.NDArray[np.float64]:
    """One axis of noisereduce's smoothing filter (2n + 1 taps), normalised to sum 1."""
    k = np.concatenate([np.linspace(0, 1, n + 1, endpoint=False), np.linspace(1, 0, n + 2)])[1:-1]
    return np.asarray(k / k.sum(), dtype=np.float64)


class _Gate:
    """Spectral gating of one signal against a fixed noise spectrum (noisereduce's stationary mode)."""

    def __init__(
        self, noise: FloatArray, *, sample_rate_hz: float, n_fft: int, prop: float, n_std: float,
        freq_smooth_hz: float, time_smooth_ms: float,
    ) -> None:  # fmt: skip
        self.n_fft, self.hop, self.prop = n_fft, n_fft // 4, prop
        # scipy's "hann" window of that length: periodic
        self.win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
        n_freq = int(freq_smooth_hz / (sample_rate_hz / (n_fft / 2)))
        n_time = int(time_smooth_ms / (self.hop / sample_rate_hz * 1000))
        if n_freq < 1 or n_time < 1:
            raise ConfigError("the spectral gate's mask smoothing is shorter than one bin or frame")
        self.smooth = n_freq > 1 or n_time > 1  # noisereduce skips a 1 x 1 filter
        self.k_freq = _triangle(n_freq).astype(np.float32)
        self.k_time = _triangle(n_time).astype(np.float32)
        self.n_time = n_time
        db = self._db(self._stft(np.asarray(noise[:_NR_CHUNK], dtype=np.float32)))
        self.thresh = (db.mean(axis=1) + db.std(axis=1) * n_std).astype(np.float32)

    def _stft(self, x: FloatArray) -> npt.NDArray[np.complex64]:
        """scipy.signal.stft(x, nperseg=n_fft, noverlap=3 n_fft / 4, padded=False): (freq, frames)."""
        n = self.n_fft
        xp = np.pad(x, (n // 2, n // 2))
        n_seg = (xp.size - n) // self.hop + 1
        frames = np.lib.stride_tricks.sliding_window_view(xp, n)[:: self.hop][:n_seg]
        spec = np.fft.rfft(frames * self.win, axis=1)  # float32 in, complex64 out
        spec *= np.float32(1.0 / float(self.win.sum()))
        return np.ascontiguousarray(spec.T)

    @staticmethod
    def _db(spec: npt.NDArray[np.complex64]) -> FloatArray:
        db = 20.0 * np.log10(np.abs(spec) + np.float32(_EPS))
        return np.maximum(db, db.max(axis=1, keepdims=True) - np.float32(_NR_TOP_DB))

    def _istft(self, spec: npt.NDArray[np.complex64]) -> FloatArray:
        """scipy.signal.istft of the one-sided ``spec`` with the same window and overlap."""
        n, hop = self.n_fft, self.hop
        n_seg = spec.shape[1]
        frames = np.fft.irfft(spec.T, n=n, axis=1)[:, :n].astype(np.float32)
        frames *= self.win * np.float32(float(self.win.sum()))
        length = n + (n_seg - 1) * hop
        out = np.zeros(length, dtype=np.float32)
        norm = np.zeros(length, dtype=np.float32)
        w2 = self.win * self.win
        parts = n // hop
        for k in range(parts):  # frame j's k-th hop-long block lands at (j + k) * hop
            blocks = frames[:, k * hop : (k + 1) * hop]
            out[k * hop : k * hop + n_seg * hop] += blocks.reshape(-1)
            norm[k * hop : k * hop + n_seg * hop] += np.tile(w2[k * hop : (k + 1) * hop], n_seg)
        out = out[n // 2 : -(n // 2)]
        norm = norm[n // 2 : -(n // 2)]
        return np.asarray(out / np.where(norm > 1e-10, norm, np.float32(1.0)), dtype=np.float32)

    def _chunk(self, c: FloatArray) -> FloatArray:
        spec = self._stft(c)
        mask = (self._db(spec) > self.thresh[:, None]).astype(np.float32) * np.float32(self.prop)
        mask += np.float32(1.0 - self.prop)
        if self.smooth:
            mask = smooth_axis(mask, self.k_freq, axis=0)
            mask = smooth_axis(mask, self.k_time, axis=1)
        y = self._istft(spec * mask)
        out = np.zeros(c.size, dtype=np.float32)
        out[: min(y.size, c.size)] = y[: c.size]
        return out

    def __call__(self, x: FloatArray) -> FloatArray:
        n = x.size
        # zeros beyond the signal's ends only matter within a frame and the smoothing's reach;
        # the left padding keeps noisereduce's frame grid (30,000 samples mod the hop)
        need = self.n_fft + (self.n_time + 2) * self.hop
        left = _NR_PAD - self.hop * max(0, (_NR_PAD - need) // self.hop)
        out = np.empty(n, dtype=np.float32)
        for start in range(0, n, _NR_CHUNK):
            a = start - (_NR_PAD if start else left)
            b = min(start + _NR_CHUNK + _NR_PAD, n + need)
            c = np.zeros(b - a, dtype=np.float32)
            c[max(0, -a) : min(b, n) - a] = x[max(0, a) : min(b, n)]
            stop = min(start + _NR_CHUNK, n)
            out[start:stop] = self._chunk(c)[start - a : stop - a]
        return out


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
    """Zero-phase Butterworth high-pass (the response of forward-backward filtering).

    The response is that of ``scipy.signal.sosfiltfilt`` with the Butterworth design of
    ``scipy.signal.butter``, computed in numpy by FFT convolution
    (:func:`svcprep.dsp.filters.zero_phase_highpass`): the magnitude response is
    ``1 / (1 + (tan(pi cutoff_hz / fs) / tan(pi f / fs)) ** (2 * order))``, -6 dB at
    ``cutoff_hz``, with no phase shift. The ends are padded by odd reflection over the
    whole length of the filter's response.

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
        Filtered float32 audio, same length. Inputs shorter than the filter's response
        are padded by reflection over their own length only.

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
    out = zero_phase_highpass(a, sample_rate_hz=sample_rate_hz, cutoff_hz=cutoff_hz, order=int(order))
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
        freq_smooth_hz = max(_FREQ_MASK_SMOOTH_HZ, 2.0 * sample_rate_hz / n_fft + 1.0)
        time_smooth_ms = max(_TIME_MASK_SMOOTH_MS, 1000.0 * n_fft / 4 / sample_rate_hz + 1.0)
        common = {
            "y": x,
            "sr": sample_rate_hz,
            "prop_decrease": strength,
            "n_fft": n_fft,
            "freq_mask_smooth_hz": freq_smooth_hz,
            "time_mask_smooth_ms": time_smooth_ms,
            "n_jobs": 1,
        }
        noise_sample = _noise_sample(x, sample_rate_hz, n_fft) if stationary else None
        if noise_sample is not None:
            gate = _Gate(
                noise_sample, sample_rate_hz=sample_rate_hz, n_fft=n_fft, prop=strength, n_std=n_std_thresh,
                freq_smooth_hz=freq_smooth_hz, time_smooth_ms=time_smooth_ms,
            )  # fmt: skip
            out = gate(x)
        else:
            noisereduce = _noisereduce()
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
