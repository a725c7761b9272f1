"""Sample-rate conversion with soxr, one-shot and block-wise.

Both paths use the same soxr recipe, so resampling a long signal in blocks with
:class:`StreamResampler` gives the same samples as :func:`resample` on the whole
signal (bit-identical with the soxr versions tested), and the output length is always
:func:`resampled_length` of the input length: ``round(n * target / orig)``, halves
rounded up.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import soxr

from svcprep.errors import NonFiniteAudioError

__all__ = ["ResampleQuality", "StreamResampler", "resample", "resampled_length"]

ResampleQuality = Literal["VHQ", "HQ", "MQ", "LQ"]
_QUALITIES = ("VHQ", "HQ", "MQ", "LQ")


def _check_rates(orig_sr_hz: int, target_sr_hz: int) -> None:
    for name, value in (("orig_sr_hz", orig_sr_hz), ("target_sr_hz", target_sr_hz)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name}={value!r} must be an integer number of samples per second")
        if value <= 0:
            raise ValueError(f"{name}={value} must be positive")


def _check_quality(quality: str) -> None:
    if quality not in _QUALITIES:
        raise ValueError(f"quality={quality!r} is not a soxr recipe: use one of {', '.join(_QUALITIES)}")


def _as_mono_f32(y: npt.ArrayLike, *, what: str) -> npt.NDArray[np.float32]:
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(
            f"{what} must be 1-D mono audio, got shape {a.shape}: downmix multichannel audio first"
        )
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{what} has dtype {a.dtype}; expected float32 audio")
    a = np.ascontiguousarray(a, dtype=np.float32)
    finite = np.isfinite(a)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise NonFiniteAudioError(
            f"{what} holds {bad.size} non-finite sample(s) (NaN or infinity), the first at index {bad[0]}"
        )
    return a


def resampled_length(n_samples: int, *, orig_sr_hz: int, target_sr_hz: int) -> int:
    """Number of samples :func:`resample` returns for ``n_samples`` input samples.

    Parameters
    ----------
    n_samples
        Input length (>= 0).
    orig_sr_hz
        Input rate in Hz (> 0).
    target_sr_hz
        Output rate in Hz (> 0).

    Returns
    -------
    int
        ``round(n_samples * target_sr_hz / orig_sr_hz)`` in exact integer arithmetic,
        halves rounded up (this is what soxr produces).
    """
    _check_rates(orig_sr_hz, target_sr_hz)
    if n_samples < 0:
        raise ValueError(f"n_samples={n_samples} must not be negative")
    return (2 * int(n_samples) * int(target_sr_hz) + int(orig_sr_hz)) // (2 * int(orig_sr_hz))


def resample(
    y: npt.ArrayLike, *, orig_sr_hz: int, target_sr_hz: int, quality: ResampleQuality = "VHQ"
) -> npt.NDArray[np.float32]:
    """Resample mono audio with soxr.

    Parameters
    ----------
    y
        1-D mono audio (converted to float32).
    orig_sr_hz
        Rate of ``y`` in Hz.
    target_sr_hz
        Wanted rate in Hz.
    quality
        soxr recipe: ``"VHQ"`` (default), ``"HQ"``, ``"MQ"`` or ``"LQ"``.

    Returns
    -------
    numpy.ndarray
        float32, 1-D, ``resampled_length(len(y), ...)`` samples. When the rates are
        equal this is a copy of ``y``.

    Raises
    ------
    ValueError
        ``y`` is not 1-D, a rate is not positive, or ``quality`` is unknown.
    NonFiniteAudioError
        ``y`` contains NaN or infinity (soxr would smear it over the neighbourhood).
    """
    _check_rates(orig_sr_hz, target_sr_hz)
    _check_quality(quality)
    a = _as_mono_f32(y, what="resample input")
    if orig_sr_hz == target_sr_hz:
        return a.copy()
    if a.size == 0:
        return np.zeros(0, dtype=np.float32)
    out = soxr.resample(a, int(orig_sr_hz), int(target_sr_hz), quality=quality)
    return np.ascontiguousarray(out, dtype=np.float32)


class StreamResampler:
    """Block-wise soxr resampling of one long mono signal.

    Feed consecutive blocks to :meth:`process`; the last call must have
    ``last=True`` (an empty block is fine) to flush the filter's tail. The
    concatenated outputs equal :func:`resample` of the concatenated blocks.

    Parameters
    ----------
    orig_sr_hz
        Rate of the input blocks in Hz.
    target_sr_hz
        Wanted rate in Hz.
    quality
        soxr recipe: ``"VHQ"`` (default), ``"HQ"``, ``"MQ"`` or ``"LQ"``.
    """

    def __init__(self, *, orig_sr_hz: int, target_sr_hz: int, quality: ResampleQuality = "VHQ") -> None:
        _check_rates(orig_sr_hz, target_sr_hz)
        _check_quality(quality)
        self.orig_sr_hz = int(orig_sr_hz)
        self.target_sr_hz = int(target_sr_hz)
        self.quality = quality
        self._passthrough = self.orig_sr_hz == self.target_sr_hz
        self._stream = (
            None
            if self._passthrough
            else soxr.ResampleStream(self.orig_sr_hz, self.target_sr_hz, 1, dtype="float32", quality=quality)
        )
        self._finished = False
        self.samples_in = 0
        self.samples_out = 0

    def process(self, block: npt.ArrayLike, *, last: bool = False) -> npt.NDArray[np.float32]:
        """Resample the next block.

        Parameters
        ----------
        block
            The next 1-D mono samples (any length, including 0).
        last
            True for the final block: the remaining filter output is flushed and the
            resampler cannot be used again.

        Returns
        -------
        numpy.ndarray
            float32 1-D output available so far (may be empty while the filter fills).

        Raises
        ------
        RuntimeError
            Called again after a call with ``last=True``.
        NonFiniteAudioError
            The block contains NaN or infinity.
        """
        if self._finished:
            raise RuntimeError("StreamResampler.process() called after the last block was flushed")
        a = _as_mono_f32(block, what="resampler block")
        self.samples_in += a.size
        if self._stream is None:
            out = a.copy()
        else:
            out = np.ascontiguousarray(self._stream.resample_chunk(a, last=last), dtype=np.float32)
        if last:
            self._finished = True
        self.samples_out += out.size
        return out
