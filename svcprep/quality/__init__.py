"""Data-quality checks: per-item metrics, the flag vocabulary, and duplicate detection.

:mod:`svcprep.quality.metrics` computes numbers from audio and features,
:mod:`svcprep.quality.flags` turns them into named, explained flags against the
thresholds of :class:`QualityConfig`, and :mod:`svcprep.quality.duplicates` finds
exact and near-duplicate items through an inverted index that can be stored with a
dataset version.
"""

from __future__ import annotations

from svcprep.quality.duplicates import DuplicateIndex, Fingerprint, Match, exact_fingerprint, fingerprint
from svcprep.quality.flags import FLAG_DOCS, Flag, QualityConfig, flag_item, loudness_outliers
from svcprep.quality.metrics import QualityInputError, feature_metrics, item_metrics

__all__ = [
    "FLAG_DOCS",
    "DuplicateIndex",
    "Fingerprint",
    "Flag",
    "Match",
    "QualityConfig",
    "QualityInputError",
    "exact_fingerprint",
    "feature_metrics",
    "fingerprint",
    "flag_item",
    "item_metrics",
    "loudness_outliers",
]
