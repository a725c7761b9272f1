"""Exceptions raised by svcprep.

Every exception derives from :class:`SvcprepError` and also from the builtin that
describes it best, so callers can catch either (``except ValueError`` keeps working
for configuration mistakes).
"""

from __future__ import annotations

__all__ = [
    "AudioDecodeError",
    "BuildLockedError",
    "ClusterError",
    "ConfigError",
    "DependencyError",
    "EmptyAudioError",
    "NonFiniteAudioError",
    "QualityInputError",
    "SourceRateError",
    "StoreError",
    "SvcprepError",
    "TooShortError",
    "TruncatedAudioError",
]


class SvcprepError(Exception):
    """Base class of every error svcprep raises on purpose."""


class ConfigError(SvcprepError, ValueError):
    """Invalid configuration: raised before any work, naming the field, the value and the fix."""


class AudioDecodeError(SvcprepError, OSError):
    """An input could not be decoded into trustworthy audio.

    ``reason`` is a short, stable machine-readable code (``decode_error``,
    ``truncated``, ``non_finite`` ...) used as the manifest flag; ``str(err)`` is the
    human-readable explanation written to the manifest's ``error`` field.
    """

    reason = "decode_error"


class TruncatedAudioError(AudioDecodeError):
    """Fewer frames could be read than the file header declares."""

    reason = "truncated"


class NonFiniteAudioError(AudioDecodeError):
    """The decoded samples contain NaN or infinity."""

    reason = "non_finite"


class EmptyAudioError(AudioDecodeError):
    """The file holds no audio frames (0 bytes, or a header with 0 frames)."""

    reason = "empty"


class SourceRateError(AudioDecodeError):
    """The declared sample rate is missing, zero or outside the accepted range."""

    reason = "bad_sample_rate"


class QualityInputError(SvcprepError, ValueError):
    """Arrays given to a quality metric have the wrong shape, length or type."""


class TooShortError(SvcprepError, ValueError):
    """A signal is too short for the requested processing."""

    reason = "too_short"


class DependencyError(SvcprepError, ImportError):
    """A library the requested processing needs is missing or broken."""


class StoreError(SvcprepError, OSError):
    """The output store cannot be read or written (missing, read-only, full disk, corrupt)."""


class BuildLockedError(StoreError):
    """Another build holds the lock on the output folder."""


class ClusterError(SvcprepError, ConnectionError):
    """The Dask cluster a build runs on cannot be reached or went away; finished work stays cached."""
