"""Content-addressed stage outputs: one folder per cache key with ``.npy`` arrays and ``meta.json``.

An object is written under a temporary name and renamed into place whole, so a
reader sees either nothing or the complete object. Objects are never modified; the
same key always names the same content, so a repeated write is harmless.

``meta.json`` holds the xxh3-128 digest of every array file (``_digests``), so a flipped
bit or a truncated file is found (:meth:`StoredObject.problems`, ``svcprep verify``) and
the object is recomputed instead of being copied into a version. Objects written before
digests existed stay valid; they can only be checked for being readable.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
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
        return np.load(self.folder / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)

    @property
    def array_names(self) -> list[str]:
        """Names of the arrays the object holds."""
        return list(self.meta.get("_arrays", []))

    def problems(self) -> list[str]:
        """What is wrong with the object's files (missing, truncated, digest mismatch); [] when sound."""
        from svcprep.store.keys import file_digest

        out = []
        digests = self.meta.get("_digests")
        for name in self.array_names:
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
        if not (target / _META).is_file() or self._damaged(key):
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
