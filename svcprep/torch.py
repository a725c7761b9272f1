"""PyTorch adapter (optional extra ``svcprep[torch]``; ``import svcprep`` never imports torch).

::

    from svcprep.torch import TorchDataset
    ds = svcprep.open("out/")
    train = TorchDataset(ds)                 # the training split the build stored
    val = TorchDataset(ds, split="val")      # or TorchDataset(ds.val)
    loader = torch.utils.data.DataLoader(train, batch_size=None, shuffle=True)

Reading is a slice of memory-mapped shards, so ``num_workers=0`` is usually fastest:
worker processes add the cost of passing tensors between processes (measured 20x
slower for plain reads); use workers only when the training-side transform is heavy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

try:
    import torch
    from torch.utils.data import Dataset as _TorchBase
except ImportError as err:  # pragma: no cover - exercised only without torch
    raise ImportError("svcprep.torch needs PyTorch, an optional extra: pip install 'svcprep[torch]'") from err

from svcprep.store.reader import Dataset

__all__ = ["TorchDataset"]


class TorchDataset(_TorchBase):
    """A map-style ``torch.utils.data.Dataset`` over a built svcprep dataset.

    Each item is a dict of tensors (``audio``, ``f0``, ``uv``, ``coarse_f0``, ``mel``,
    ``volume``, and any other array the dataset's stages store; float32, except integer
    arrays such as ``uv`` and ``coarse_f0`` as int64) plus ``id`` (str). Safe with
    DataLoader workers: shard memory maps are reopened in each worker.

    By default it serves the training split the build stored, so the obvious training
    loop never sees validation items or the flagged items the build excluded.

    Parameters
    ----------
    dataset
        A :class:`svcprep.Dataset`, a view of one (``ds.train``, ``ds.val``) or the output
        folder of a build.
    ids
        Item ids to serve; overrides ``split``.
    fields
        Which arrays to return (default: all of the dataset's).
    split
        ``"train"`` (default), ``"val"``, ``"excluded"`` or ``"all"``; ignored for a view,
        which serves its own items.
    """

    def __init__(
        self,
        dataset: Dataset | str | Path,
        ids: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        split: Literal["train", "val", "excluded", "all"] = "train",
    ) -> None:
        self.dataset = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
        if ids is not None:
            self.ids = list(ids)
        elif self.dataset.subset is not None or split == "all":
            self.ids = list(self.dataset.ids)
        elif split in ("train", "val", "excluded"):
            self.ids = list(getattr(self.dataset.split(), split))
        else:
            raise ValueError(f"split={split!r}: use 'train', 'val', 'excluded' or 'all'")
        names = self.dataset.array_names
        chosen = names if fields is None else tuple(fields)
        unknown = set(chosen) - set(names)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}: choose from {names}")
        self.fields = tuple(chosen)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item_id = self.ids[index]
        arrays = self.dataset.arrays(item_id)
        out: dict[str, Any] = {"id": item_id}
        for name in self.fields:
            a = np.array(arrays[name])  # copy out of the read-only memory map
            if np.issubdtype(a.dtype, np.integer):
                out[name] = torch.from_numpy(a.astype(np.int64))
            else:
                out[name] = torch.from_numpy(a.astype(np.float32, copy=False))
        return out
