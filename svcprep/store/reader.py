"""Reading a built dataset: ``svcprep.open(out)``.

Reading needs neither the build config nor the raw folder: the version record holds the
rate, the frame grid and the index of every item into the memory-mapped shards.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from svcprep.errors import StoreError
from svcprep.records import Record
from svcprep.stages import ShardLayout, legacy_layout
from svcprep.store.splits import Split, stored_split
from svcprep.store.versions import read_manifest, read_version

__all__ = ["ARRAY_NAMES", "Dataset", "open_dataset"]

#: The arrays of an item in a dataset built with the default stages (``ds.array_names`` has a
#: dataset's own list, from its version record).
ARRAY_NAMES: tuple[str, ...] = legacy_layout(128).names()


class Dataset(Sequence[dict[str, Any]]):
    """A built dataset version: a sequence of items, addressable by position or by item id.

    ``ds[i]`` and ``ds["<item id>"]`` return a dict with the arrays ``audio`` (float32
    mono at :attr:`sample_rate`), ``f0`` (float32 Hz), ``uv`` (uint8, 1 = voiced),
    ``coarse_f0`` (uint8, 1..255), ``mel`` (float32, frames x mels) and ``volume``
    (float32 frame RMS), plus ``record``, the item's manifest record. Arrays are read-only
    views of memory-mapped shards: copy them before changing them.

    Only items with status ``ok`` are items of the dataset; :attr:`manifest` holds every
    record (errors, dropped pieces, skipped files) as well, as typed records
    (:mod:`svcprep.records`) that also read like the manifest's JSON objects.

    The build stored who trains: :attr:`train` and :attr:`val` are views of the training
    and validation items (the same interface, fewer items), :meth:`split` gives their ids.

    Parameters
    ----------
    out
        The output folder of ``svcprep build``.
    version
        A version id (``v0003``); None reads the latest.
    verify
        Check every shard of the version against its digests first (reads all of it once)
        and raise :class:`~svcprep.errors.StoreError` listing what is damaged.
    """

    def __init__(self, out: str | Path, version: str | None = None, *, verify: bool = False) -> None:
        self.root = Path(out)
        if not self.root.is_dir():
            raise StoreError(f"{self.root} is not a folder; give the OUT folder of `svcprep build`")
        self._version = read_version(self.root, version)
        self.version: str = self._version["id"]
        self.manifest: list[Record] = read_manifest(self.root, self.version)
        self._index: dict[str, dict[str, Any]] = self._version["items"]
        self.ids: list[str] = sorted(self._index)
        self.subset: str | None = None
        self._members: frozenset[str] | None = None  # a view's ids (None: every item)
        self._records = {r.id: r for r in self.manifest}
        self._shards: dict[str, dict[str, np.memmap[Any, Any]]] = {}
        arrays = self._version.get("arrays")
        self.layout: ShardLayout = (
            ShardLayout.from_json(arrays) if arrays else legacy_layout(int(self._version["n_mels"]))
        )
        if verify:
            from svcprep.store.shards import shard_problems

            problems = [
                p
                for sid in self._version.get("shards", [])
                for p in shard_problems(self.root / "shards" / sid)
            ]
            if problems:
                raise StoreError(
                    f"version {self.version} of {self.root} is damaged: "
                    + "; ".join(problems[:5])
                    + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
                    + ": run `svcprep build` again to repair it"
                )

    @property
    def array_names(self) -> tuple[str, ...]:
        """The arrays every item has (``audio`` first), as the build's stages declared them."""
        return self.layout.names()

    def view(self, ids: Iterable[str], name: str | None = None) -> Dataset:
        """The same dataset restricted to ``ids`` (in sorted order); shares memory maps and records."""
        wanted = set(ids)
        missing = sorted(wanted - set(self._index))
        if missing:
            raise KeyError(f"no items {missing[:3]} in {self.root} version {self.version}")
        out = object.__new__(Dataset)
        out.__dict__.update(self.__dict__)
        out.ids = [i for i in self.ids if i in wanted]
        out.subset = name
        out._members = frozenset(out.ids)
        return out

    @property
    def train(self) -> Dataset:
        """The training items (the split the build stored), as a :class:`Dataset` view."""
        return self.view(self.split().train, "train")

    @property
    def val(self) -> Dataset:
        """The validation items, as a :class:`Dataset` view."""
        return self.view(self.split().val, "val")

    @property
    def sample_rate(self) -> int:
        """Sample rate of every item's audio, in Hz."""
        return int(self._version["sample_rate_hz"])

    @property
    def hop_length(self) -> int:
        """Samples per frame of every frame-level array (frame i is centred at i*hop/rate s)."""
        return int(self._version["hop_length"])

    @property
    def n_mels(self) -> int:
        """Mel bins of ``mel``."""
        return int(self._version["n_mels"])

    @property
    def config(self) -> dict[str, Any]:
        """The full resolved build config of this version."""
        return dict(self._version["config"])

    @property
    def info(self) -> dict[str, Any]:
        """The whole version record (config, library versions, inputs, statistics)."""
        return dict(self._version)

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> dict[str, Any]:
        # memory maps are reopened in the receiving process (DataLoader workers)
        state = dict(self.__dict__)
        state["_shards"] = {}
        return state

    def split(
        self,
        *,
        val_items_per_speaker: int | None = None,
        val_fraction: float | None = None,
        seed: int | None = None,
        exclude_flags: Iterable[str] | None = None,
        include_flags: Iterable[str] | None = None,
    ) -> Split:
        """Train/validation/excluded item ids: the split the build stored, unless asked for another.

        With no arguments this is exactly the ``split`` field of the manifest, computed once
        by the build from its ``[split]`` config. Any argument gives a new split by the same
        rule (:func:`svcprep.store.splits.split_records`), the other policy values taken
        from the build's ``[split]`` config.
        """
        args = (val_items_per_speaker, val_fraction, seed, exclude_flags, include_flags)
        if all(a is None for a in args):
            stored = stored_split(self.manifest)
            if stored is not None:
                return stored
        from svcprep.config import SplitConfig, build_section
        from svcprep.store.splits import split_from_config

        given = {
            "val_items_per_speaker": val_items_per_speaker,
            "val_fraction": val_fraction,
            "seed": seed,
            "exclude_flags": None if exclude_flags is None else list(exclude_flags),
            "include_flags": None if include_flags is None else list(include_flags),
        }
        stored = self._version.get("config", {}).get("split", {})
        policy = build_section(
            SplitConfig, {**stored, **{k: v for k, v in given.items() if v is not None}}, "split"
        )
        return split_from_config(self.manifest, policy)

    def _shard(self, sid: str) -> dict[str, np.memmap[Any, Any]]:
        arrays = self._shards.get(sid)
        if arrays is None:
            folder = self.root / "shards" / sid
            try:
                arrays = {
                    name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                    for name in self.layout.names()
                }
            except (OSError, ValueError) as err:
                raise StoreError(f"shard {folder} is missing or damaged: {err}") from None
            self._shards[sid] = arrays
        return arrays

    def arrays(self, item_id: str) -> dict[str, npt.NDArray[Any]]:
        """The arrays of one item (no record)."""
        try:
            e = self._index[item_id]
        except KeyError:
            raise KeyError(f"no item {item_id!r} in {self.root} version {self.version}") from None
        sh = self._shard(e["shard"])
        where = {"sample": "audio", "frame": "frames", "unit": "units"}
        out: dict[str, npt.NDArray[Any]] = {}
        for name, _dtype, level, _width in self.layout.arrays:
            lo, hi = e[where[level]]
            out[name] = sh[name][lo:hi]
        return out

    def record(self, item_id: str) -> Record:
        """The manifest record of any record id (items, errors, dropped pieces)."""
        return self._records[item_id]

    @overload
    def __getitem__(self, key: int | str) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, key: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, key: int | str | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(key, slice):
            return [self[i] for i in range(*key.indices(len(self)))]
        if isinstance(key, (int, np.integer)):
            n = len(self.ids)
            i = int(key)
            if not -n <= i < n:
                raise IndexError(f"item {i} out of range for a dataset of {n} items")
            item_id = self.ids[i]
        elif isinstance(key, str):
            if self._members is not None and key not in self._members:
                raise KeyError(f"item {key!r} is not in the {self.subset} view of {self.root}")
            item_id = key
        else:
            raise TypeError(f"index the dataset with an int or an item id, not {type(key).__name__}")
        item: dict[str, Any] = dict(self.arrays(item_id))
        item["record"] = self._records[item_id]
        return item

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for item_id in self.ids:
            yield self[item_id]

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index if self._members is None else item_id in self._members

    def __repr__(self) -> str:
        subset = f" subset={self.subset}" if self.subset else ""
        return (
            f"<svcprep.Dataset {str(self.root)!r} version={self.version}{subset} items={len(self)} "
            f"sample_rate={self.sample_rate} hop_length={self.hop_length}>"
        )


def open_dataset(out: str | Path, version: str | None = None, *, verify: bool = False) -> Dataset:
    """Open a built dataset (the latest version unless ``version`` is given).

    Parameters
    ----------
    out
        The output folder of ``svcprep build``.
    version
        A kept version id such as ``"v0002"``; ``svcprep versions OUT`` lists them.
    verify
        Check the version's shards against their digests first (see :class:`Dataset`).

    Returns
    -------
    Dataset
        Sequence of items; see :class:`Dataset`.
    """
    return Dataset(out, version, verify=verify)
