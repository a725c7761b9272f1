"""PyTorch adapter (optional extra ``svcprep[torch]``; ``import svcprep`` never imports torch).

::

    from svcprep.torch import TorchDataset
    ds = svcprep.open("out/")
    split = ds.split()
    train = TorchDataset(ds, ids=split.train)
    loader = torch.utils.data.DataLoader(train, batch_size=None, shuffle=True)

Reading is a slice of memory-mapped shards, so ``num_workers=0`` is usually fastest:
worker processes add the cost of passing tensors between processes (measured 20x
slower for plain reads); use workers only when the training-side transform is heavy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    import torch
    from torch.utils.data import Dataset as _TorchBase
except ImportError as err:  # pragma: no cover - exercised only without torch
    raise ImportError("svcprep.torch needs PyTorch, an optional extra: pip install 'svcprep[torch]'") from err

from svcprep.store.reader import ARRAY_NAMES, Dataset

__all__ = ["TorchDataset"]


class TorchDataset(_TorchBase):
    """A map-style ``torch.utils.data.Dataset`` over a built svcprep dataset.

    Each item is a dict of tensors (``audio``, ``f0``, ``uv``, ``coarse_f0``, ``mel``,
    ``volume``; float32, except ``uv`` and ``coarse_f0`` as int64) plus ``id`` (str).
    Safe with DataLoader workers: shard memory maps are reopened in each worker.

    Parameters
    ----------
    dataset
        A :class:`svcprep.Dataset` or the output folder of a build.
    ids
        Item ids to serve (e.g. ``ds.split().train``); None serves every item.
    fields
        Which arrays to return.
    """

    def __init__(
        self,
        dataset: Dataset | str | Path,
        ids: Sequence[str] | None = None,
        fields: Sequence[str] = ARRAY_NAMES,
    ) -> None:
        self.dataset = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
        self.ids = list(self.dataset.ids if ids is None else ids)
        unknown = set(fields) - set(ARRAY_NAMES)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}: choose from {ARRAY_NAMES}")
        self.fields = tuple(fields)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item_id = self.ids[index]
        arrays = self.dataset.arrays(item_id)
        out: dict[str, Any] = {"id": item_id}
        for name in self.fields:
            a = np.array(arrays[name])  # copy out of the read-only memory map
            if name in ("uv", "coarse_f0"):
                out[name] = torch.from_numpy(a.astype(np.int64))
            else:
                out[name] = torch.from_numpy(a.astype(np.float32, copy=False))
        return out
