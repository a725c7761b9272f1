"""The output store: cache keys, content-addressed stage objects, shards, versions and the reader."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svcprep.store.reader import Dataset, open_dataset

__all__ = ["Dataset", "open_dataset"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing a leaf module (svcprep.store.keys from svcprep.stages) does
    # not import the reader, which itself needs svcprep.stages.
    if name in __all__:
        from svcprep.store import reader

        return getattr(reader, name)
    raise AttributeError(f"module 'svcprep.store' has no attribute {name!r}")
