"""Frame loudness: the RMS of a window centred on every frame of the grid.

This is the "volume" feature of so-vits-svc 4.1 and DDSP-SVC: for hop 512 they square
the signal, reflect-pad it by ``(256, 256)`` and average 512 squared samples per frame,
so frame ``i`` covers samples ``[i * 512 - 256, i * 512 + 256)``. :func:`frame_rms`
computes the same on any frame grid (``len // hop`` frames for so-vits-svc,
``len // hop + 1`` for DDSP-SVC) and with any window length.
"""

from __future__ import annotations

import operator

import numpy as np
import numpy.typing as npt

from svcprep.dsp._checks import as_audio
from svcprep.errors import ConfigError

__all__ = ["frame_rms"]


def _int_arg(name: str, value: object, *, minimum: int) -> int:
    try:
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"{name}={value!r} must be an integer") from None
    if out < minimum:
        raise ConfigError(f"{name}={out} must be >= {minimum}")
    return int(out)


def frame_rms(
    y: npt.ArrayLike, *, hop_length: int, n_frames: int, window_length: int = 0
) -> npt.NDArray[np.float32]:
    """Root-mean-square level of a window centred on each frame centre.

    Frame ``i`` is centred on sample ``c = i * hop_length``; its value is the RMS of the
    ``w`` samples ``[c - w // 2, c - w // 2 + w)``. Samples outside the signal come from
    reflect padding (mirroring without repeating the edge sample, as ``torch``'s and
    numpy's ``"reflect"``), or are zeros when the signal is too short to reflect, i.e.
    when a pad would not be shorter than the signal (this includes empty input).

    Parameters
    ----------
    y
        Mono float audio, 1-D.
    hop_length
        Samples between frame centres (>= 1).
    n_frames
        Number of frames to return (>= 0), normally
        :func:`svcprep.dsp.frames.num_frames` of the item.
    window_length
        Window ``w`` in samples; 0 (default) means ``hop_length``.

    Returns
    -------
    numpy.ndarray
        float32 array of length ``n_frames``, linear amplitude (not dB).

    Raises
    ------
    ConfigError
        If ``hop_length``, ``n_frames`` or ``window_length`` is out of range.
    NonFiniteAudioError
        If ``y`` contains NaN or infinity.
    ValueError
        If ``y`` is not a 1-D floating-point array.

    Notes
    -----
    The computation is vectorised over a strided view of the squared, padded signal, so
    its extra memory is one float64 copy of the signal whatever the window overlap.
    """
    hop = _int_arg("hop_length", hop_length, minimum=1)
    frames = _int_arg("n_frames", n_frames, minimum=0)
    w = _int_arg("window_length", window_length, minimum=0) or hop
    audio = as_audio(y, what="frame_rms").astype(np.float64, copy=False)
    if frames == 0:
        return np.zeros(0, dtype=np.float32)
    n = audio.size
    left = w // 2
    right = max(0, (frames - 1) * hop - left + w - n)
    reflect = max(left, right) < n
    squared = np.pad(audio, (left, right), mode="reflect" if reflect else "constant")
    np.multiply(squared, squared, out=squared)
    windows = np.lib.stride_tricks.sliding_window_view(squared, w)[::hop][:frames]
    mean_square = windows.sum(axis=1) / w
    return np.sqrt(mean_square).astype(np.float32)
