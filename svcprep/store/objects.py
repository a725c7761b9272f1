"""Content-addressed stage outputs: one folder per cache key with ``.npy`` arrays and ``meta.json``.

An object is written under a temporary name and renamed into place whole, so a
reader sees either nothing or the complete object. Objects are never modified; the
same key always names the same content, so a repeated write is harmless.

``meta.json`` holds the xxh3-128 digest of every array file (``_digests``), so a flipped
bit or a truncated file is found (:meth:`StoredObject.problems`, ``svcprep verify``) and
the object is recomputed instead of being copied into a version. Objects written before
digests existed stay valid; they can only be checked for being readable.

No array is kept twice. Once a version is published, an object's arrays that its shards
hold byte for byte are replaced by references to the shard rows (``_in_shard``:
``name -> [shard id, start, stop]``, see :meth:`ObjectStore.spill`), and the decoded
audio of a source is dropped (``_dropped``, :meth:`ObjectStore.drop_arrays`): a later
build that needs it decodes the file again, which costs a fraction of a percent of what
the features cost. Reading an array is the same call either way.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.errors import StoreError
from svcprep.store.atomic import atomic_dir, write_error_message

__all__ = ["ObjectStore", "StoredObject"]

_META = "meta.json"


class StoredObject:
    """A stage output read back from the store: arrays (memory-mapped on demand) and metadata."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.meta: dict[str, Any]
        self.folder = folder
        self.meta = meta

    def array(self, name: str, *, mmap: bool = False) -> npt.NDArray[Any]:
        """Load one array; ``mmap=True`` maps it read-only instead of reading it."""
        ref = self.in_shard.get(name)
        if ref is None:
            return np.load(self.folder / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        rows = self._shard_array(name, ref)[int(ref[1]) : int(ref[2])]
        return rows if mmap else np.array(rows)

    @property
    def array_names(self) -> list[str]:
        """Names of the arrays the object holds (in its own files or in a shard)."""
        return list(self.meta.get("_arrays", []))

    @property
    def in_shard(self) -> dict[str, list[Any]]:
        """Arrays held by a shard instead of the object's own files: ``name -> [shard, start, stop]``."""
        refs = self.meta.get("_in_shard")
        return dict(refs) if isinstance(refs, dict) else {}

    @property
    def dropped(self) -> list[str]:
        """Arrays not kept after publishing (a source's decoded audio); the stage must run again."""
        return list(self.meta.get("_dropped", []))

    def _ref_problems(self, name: str, ref: list[Any]) -> list[str]:
        from svcprep.store.keys import file_digest

        shard = self.folder.parent.parent.parent / "shards" / str(ref[0])
        where = f"{self.folder}: {name} lies in shard {ref[0]}"
        try:
            n_rows = self._shard_array(name, ref).shape[0]
            index = json.loads((shard / "index.json").read_text(encoding="utf-8"))
            digest = index.get("digests", {}).get(f"{name}.npy") if isinstance(index, dict) else None
            if digest is not None and file_digest(shard / f"{name}.npy", memo=True) != digest:
                return [f"{where}, whose {name}.npy does not match its digest (damaged)"]
        except (OSError, ValueError, IndexError, AttributeError) as err:
            return [f"{where}, which is unreadable ({err})"]
        if not 0 <= int(ref[1]) <= int(ref[2]) <= n_rows:
            return [f"{self.folder}: {name} rows {ref[1]}:{ref[2]} lie outside shard {ref[0]}"]
        return []

    def _shard_array(self, name: str, ref: list[Any]) -> npt.NDArray[Any]:
        shards = self.folder.parent.parent.parent / "shards"
        return np.load(shards / str(ref[0]) / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    def problems(self) -> list[str]:
        """What is wrong with the object's files (missing, truncated, digest mismatch); [] when sound."""
        from svcprep.store.keys import file_digest

        out = []
        digests = self.meta.get("_digests")
        refs = self.in_shard
        for name in self.array_names:
            if name in refs:
                out.extend(self._ref_problems(name, refs[name]))
                continue
            f = self.folder / f"{name}.npy"
            try:
                if isinstance(digests, dict) and name in digests:
                    if file_digest(f) != digests[name]:
                        out.append(f"{f}: content does not match its digest (damaged)")
                else:  # an object from before digests: it can only be checked for readability
                    np.load(f, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:
                out.append(f"{f}: missing")
            except (OSError, ValueError) as err:
                out.append(f"{f}: unreadable ({err})")
        return out


class ObjectStore:
    """Stage outputs addressed by their cache key.

    Parameters
    ----------
    root
        The ``objects`` folder inside the output folder.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """Folder of the object with this key."""
        return self.root / key[:2] / key

    def has(self, key: str) -> bool:
        """Whether a complete object with this key exists."""
        return (self.path(key) / _META).is_file()

    def put(self, key: str, arrays: Mapping[str, npt.ArrayLike], meta: Mapping[str, Any]) -> StoredObject:
        """Store arrays and JSON-able metadata under ``key`` (atomically; no-op if present)."""
        target = self.path(key)
        full_meta = dict(meta)
        full_meta["_arrays"] = sorted(arrays)
        if not (target / _META).is_file() or self._damaged(key) or self._lacks(key, arrays):
            from svcprep.store.keys import file_digest

            try:
                with atomic_dir(target, replace=True) as tmp:
                    digests = {}
                    for name, arr in arrays.items():
                        np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
                        digests[name] = file_digest(tmp / f"{name}.npy")
                    full_meta["_digests"] = digests
                    (tmp / _META).write_text(
                        json.dumps(full_meta, sort_keys=True, ensure_ascii=True, allow_nan=False),
                        encoding="utf-8",
                    )
            except OSError as err:
                raise StoreError(write_error_message(self.root.parent, err)) from None
        else:
            existing = self.get(key)
            if existing is not None:
                return existing
        return StoredObject(target, full_meta)

    def spill(self, key: str, refs: Mapping[str, tuple[str, int, int]]) -> None:
        """Let a shard hold some of an object's arrays: ``name -> (shard id, start, stop)``.

        The caller guarantees those shard rows equal the arrays byte for byte. The object is
        rewritten atomically with its other array files (hard-linked, not copied) and the
        references; arrays already in a shard are re-pointed (the newest version's shards
        outlive older ones under ``gc``).
        """
        obj = self.get(key)
        if obj is None or not refs:
            return
        new_refs = {**obj.in_shard, **{n: [str(s), int(a), int(b)] for n, (s, a, b) in refs.items()}}
        if new_refs == obj.in_shard:
            return
        self._rewrite(obj, key, {**obj.meta, "_in_shard": new_refs})

    def drop_arrays(self, key: str, names: Iterable[str]) -> None:
        """Stop keeping some arrays of an object (they are recomputed when needed); its metadata stays."""
        obj = self.get(key)
        drop = sorted(set(names) & set(obj.array_names)) if obj is not None else []
        if obj is None or not drop:
            return
        meta = dict(obj.meta)
        meta["_arrays"] = [n for n in obj.array_names if n not in drop]
        meta["_dropped"] = sorted(set(obj.dropped) | set(drop))
        meta["_in_shard"] = {n: r for n, r in obj.in_shard.items() if n not in drop}
        meta["_digests"] = {n: d for n, d in dict(meta.get("_digests") or {}).items() if n not in drop}
        self._rewrite(obj, key, meta)

    def _rewrite(self, obj: StoredObject, key: str, meta: dict[str, Any]) -> None:
        local = [n for n in meta.get("_arrays", []) if n not in meta.get("_in_shard", {})]
        try:
            # not fsynced: a folder lost to a crash is only recomputed (its files are hard links)
            with atomic_dir(self.path(key), replace=True, durable=False) as tmp:
                for name in local:
                    src = obj.folder / f"{name}.npy"
                    try:
                        os.link(src, tmp / src.name)
                    except OSError:
                        shutil.copyfile(src, tmp / src.name)
                (tmp / _META).write_text(
                    json.dumps(meta, sort_keys=True, ensure_ascii=True, allow_nan=False), encoding="utf-8"
                )
        except OSError as err:
            raise StoreError(write_error_message(self.root.parent, err)) from None

    def _lacks(self, key: str, arrays: Mapping[str, Any]) -> bool:
        obj = self.get(key)
        return obj is not None and bool(set(arrays) - set(obj.array_names))

    def _damaged(self, key: str) -> bool:
        obj = self.get(key)
        return obj is None or bool(obj.problems())

    def get(self, key: str, *, verify: bool = False) -> StoredObject | None:
        """The object with this key, or None if there is none, it is unreadable or (``verify``) damaged."""
        folder = self.path(key)
        try:
            meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict):
            return None
        obj = StoredObject(folder, meta)
        if verify and obj.problems():
            return None
        return obj

    def all_keys(self) -> list[str]:
        """Every stored key."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for sub in self.root.iterdir() if sub.is_dir() for p in sub.iterdir() if p.is_dir()
        )

    def size_bytes(self, key: str) -> int:
        """Bytes on disk of one object."""
        folder = self.path(key)
        return sum(f.stat().st_size for f in folder.iterdir()) if folder.is_dir() else 0

    def delete(self, key: str) -> None:
        """Remove one object (garbage collection)."""
        folder = self.path(key)
        if folder.is_dir():
            tmp = folder.with_name(".tmp-del-" + folder.name)
            os.rename(folder, tmp)
            shutil.rmtree(tmp, ignore_errors=True)
