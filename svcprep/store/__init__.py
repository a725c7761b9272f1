"""The output store: cache keys, content-addressed stage objects, shards, versions and the reader."""

from svcprep.store.reader import Dataset, open_dataset

__all__ = ["Dataset", "open_dataset"]
