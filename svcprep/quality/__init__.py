"""Data-quality checks: per-item metrics, the flag vocabulary, and duplicate detection.

:mod:`svcprep.quality.metrics` computes numbers from audio and features,
:mod:`svcprep.quality.flags` turns them into named, explained flags against the
thresholds of :class:`QualityConfig`, and :mod:`svcprep.quality.duplicates` finds
exact and near-duplicate items through an inverted index that can be stored with a
dataset version.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svcprep.quality.duplicates import DuplicateIndex, Fingerprint, Match, exact_fingerprint, fingerprint
    from svcprep.quality.flags import FLAG_DOCS, Flag, QualityConfig, flag_item, loudness_outliers
    from svcprep.quality.metrics import QualityInputError, feature_metrics, item_metrics

# Loaded on first use: the flag vocabulary (imported by every record) must not pull in
# the metrics and the DSP modules behind them.
_HOME = {
    **dict.fromkeys(
        ("DuplicateIndex", "Fingerprint", "Match", "exact_fingerprint", "fingerprint"), "duplicates"
    ),
    **dict.fromkeys(("FLAG_DOCS", "Flag", "QualityConfig", "flag_item", "loudness_outliers"), "flags"),
    **dict.fromkeys(("QualityInputError", "feature_metrics", "item_metrics"), "metrics"),
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'svcprep.quality' has no attribute {name!r}")
    return getattr(importlib.import_module(f"svcprep.quality.{_HOME[name]}"), name)


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
