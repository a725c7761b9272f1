"""Input checks shared by the DSP functions: 1-D finite floating-point audio, a positive rate."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from svcprep.errors import ConfigError, NonFiniteAudioError

__all__ = ["as_audio", "check_rate"]


def as_audio(y: npt.ArrayLike, *, what: str) -> npt.NDArray[np.floating]:
    """``y`` as an array after checking it is mono, 1-D, floating point and finite.

    Raises ``ValueError`` naming ``what`` for a wrong shape or dtype, and
    :class:`~svcprep.errors.NonFiniteAudioError` for NaN or infinite samples.
    """
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(
            f"{what}: audio must be mono and 1-D, got an array of shape {a.shape}: "
            "downmix or select a channel first"
        )
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(
            f"{what}: audio must be floating point in [-1, 1], got dtype {a.dtype}: "
            "convert integer PCM first (e.g. int16 samples / 32768)"
        )
    if a.size and not np.isfinite(a).all():
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise NonFiniteAudioError(f"{what}: audio contains {bad} NaN or infinite sample(s) out of {a.size}")
    return a


def check_rate(sample_rate_hz: float, *, what: str) -> None:
    """Raise :class:`~svcprep.errors.ConfigError` unless the rate is a positive finite number."""
    if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise ConfigError(f"{what}: sample_rate_hz={sample_rate_hz} must be a positive number")
