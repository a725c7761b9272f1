"""The frame grid shared by every frame-level feature (F0, uv, coarse F0, mel, volume).

This module is the only place that does frame arithmetic. Frame ``i`` of an item is
centred at ``i * hop_length / sample_rate_hz`` seconds from the item's first sample.
The number of frames depends on the convention:

``"centered"``
    ``n_samples // hop_length + 1`` frames: frames run from t = 0 to the last
    multiple of the hop inside the signal (librosa ``center=True``, DDSP-SVC).
``"floor"``
    ``n_samples // hop_length`` frames (so-vits-svc, RVC, the NSF-HiFiGAN mel).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["FrameConvention", "fit_frames", "frame_times_s", "num_frames"]

FrameConvention = Literal["centered", "floor"]


def num_frames(n_samples: int, *, hop_length: int, convention: FrameConvention = "centered") -> int:
    """Number of frames of an item of ``n_samples`` samples.

    Parameters
    ----------
    n_samples
        Length of the item in samples (>= 0).
    hop_length
        Samples between frame centres (> 0).
    convention
        ``"centered"`` (``n // hop + 1``) or ``"floor"`` (``n // hop``).

    Returns
    -------
    int
        The frame count every frame-level array of the item must have.
    """
    if hop_length <= 0:
        raise ValueError(f"hop_length={hop_length} must be positive")
    if n_samples < 0:
        raise ValueError(f"n_samples={n_samples} must not be negative")
    if convention == "centered":
        return n_samples // hop_length + 1
    if convention == "floor":
        return n_samples // hop_length
    raise ValueError(f"unknown frame convention {convention!r}: use 'centered' or 'floor'")


def frame_times_s(n_frames: int, *, hop_length: int, sample_rate_hz: float) -> npt.NDArray[np.float64]:
    """Centre time in seconds of each frame: ``i * hop_length / sample_rate_hz``."""
    return np.arange(n_frames, dtype=np.float64) * (hop_length / float(sample_rate_hz))


def fit_frames(values: npt.NDArray, n_frames: int, *, max_diff: int | None = None) -> npt.NDArray:
    """Trim or edge-pad ``values`` along axis 0 to exactly ``n_frames`` rows.

    Extractors whose own frame count differs from the grid by a frame or two (rounding
    of a millisecond frame period, padding rules) are fitted with this.

    Parameters
    ----------
    values
        Array whose first axis is frames.
    n_frames
        The grid's frame count.
    max_diff
        If given, a difference larger than this raises ``ValueError`` (it would mean
        the extractor used another grid, not a rounding difference).
    """
    have = values.shape[0]
    if max_diff is not None and abs(have - n_frames) > max_diff:
        raise ValueError(f"extractor gave {have} frames where the grid has {n_frames}")
    if have == n_frames:
        return values
    if have > n_frames:
        return values[:n_frames]
    if have == 0:
        return np.zeros((n_frames, *values.shape[1:]), dtype=values.dtype)
    pad = [(0, n_frames - have)] + [(0, 0)] * (values.ndim - 1)
    return np.pad(values, pad, mode="edge")
