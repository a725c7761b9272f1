"""Feature shards: a folder of plain ``.npy`` files plus ``index.json``; numpy alone can read them.

Layout of ``shards/<shard-id>/``::

    audio.npy      float32 (total_samples,)     every item's audio, concatenated
    f0.npy         float32 (total_frames,)      F0 in Hz (unvoiced frames as configured)
    uv.npy         uint8   (total_frames,)      1 = voiced
    coarse_f0.npy  uint8   (total_frames,)      RVC's 1..255 coarse F0
    mel.npy        float32 (total_frames, n_mels)
    volume.npy     float32 (total_frames,)      frame RMS
    index.json     {"format": "svcprep-shard", "format_version": 1,
                    "items": [{"id": ..., "audio": [start, stop], "frames": [start, stop]}, ...]}

The arrays are those the stage registry declares as stored
(:func:`svcprep.stages.shard_layout`); ``index.json`` lists them under ``arrays``.
Item ``k``'s audio is ``audio[start:stop]`` and its frame arrays are rows
``frames[0]:frames[1]`` of every frame array; with content units (``units.npy``, their own
20 ms rate) each entry also has ``"units": [start, stop]``. Every file loads with
``np.load(path, mmap_mode="r", allow_pickle=False)``: nothing in a shard can run code.
A shard's id is the hash of the ids and content keys of its items, so an unchanged
group of items keeps its shard across versions and the folder is written only once.

Shards are written with plain sequential writes (a memory-mapped write on a full disk
kills the process with SIGBUS), after checking that the disk has room for them, and
``index.json`` holds the xxh3-128 digest of every array file (``digests``), which
:func:`shard_problems` checks; a damaged shard is rewritten by the next build.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import xxhash

from svcprep.store.atomic import atomic_dir
from svcprep.store.keys import canonical_json, digest_bytes

if TYPE_CHECKING:
    from svcprep.stages import ShardLayout

__all__ = ["SHARD_FORMAT_VERSION", "ShardItem", "plan_shards", "shard_problems", "write_shard"]

SHARD_FORMAT_VERSION = 2


@dataclass(frozen=True)
class ShardItem:
    """One item to pack: its id, content key, sizes and a loader of its arrays."""

    id: str
    key: str
    n_samples: int
    n_frames: int
    load: Callable[[], Mapping[str, npt.NDArray[Any]]]
    n_units: int = 0  # rows of the content units (their own 20 ms rate), 0 without

    def rows(self, level: str) -> int:
        """Rows the item has at an array level (``sample``, ``frame`` or ``unit``)."""
        return {"sample": self.n_samples, "frame": self.n_frames, "unit": self.n_units}[level]

    def nbytes(self, layout: ShardLayout) -> int:
        """Bytes the item takes in a shard."""
        total = 0
        for _name, dtype, level, width in layout.arrays:
            rows = self.rows(level)
            total += rows * max(width, 1) * np.dtype(dtype).itemsize
        return total


def plan_shards(
    items: Sequence[ShardItem], *, layout: ShardLayout, shard_size_bytes: int
) -> list[list[ShardItem]]:
    """Group items (in the given order) into shards of about ``shard_size_bytes``.

    Boundaries are content-defined: a shard ends after an item whose key hash falls in
    a 1-in-``k`` class, ``k`` being the power of two nearest the number of items that
    fill a shard, so the decision depends on the item alone. Adding, changing or removing
    one item changes only the shard holding it (and its neighbour when the change moves
    a boundary); every other shard keeps its content and so its id. A shard that reaches
    twice the target size is cut regardless.
    """
    if not items:
        return []
    mean = sum(it.nbytes(layout) for it in items) / len(items)
    per_shard = max(1.0, shard_size_bytes / max(mean, 1.0))
    k = 1 << max(0, round(math.log2(per_shard)))
    groups: list[list[ShardItem]] = []
    cur: list[ShardItem] = []
    size = 0
    for it in items:
        cur.append(it)
        size += it.nbytes(layout)
        if int(it.key[:8], 16) % k == 0 or size >= 2 * shard_size_bytes:
            groups.append(cur)
            cur, size = [], 0
    if cur:
        groups.append(cur)
    return groups


def shard_id(items: Sequence[ShardItem], *, layout: ShardLayout) -> str:
    """Content name of a shard."""
    payload = {
        "v": SHARD_FORMAT_VERSION,
        "arrays": layout.to_json(),
        "items": [[it.id, it.key] for it in items],
    }
    return digest_bytes(canonical_json(payload))


def shard_problems(folder: Path) -> list[str]:
    """What is wrong with a shard's files (missing, truncated, digest mismatch); [] when sound.

    Shards written before digests existed are checked for a readable index and arrays
    whose sizes match it.
    """
    try:
        meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return [f"{folder}: missing (no index.json)"]
    except (OSError, ValueError) as err:
        return [f"{folder / 'index.json'}: unreadable or damaged ({err})"]
    from svcprep.store.keys import file_digest

    out = []
    digests = meta.get("digests")
    arrays = meta.get("arrays")
    names = [str(a.get("name")) for a in arrays if isinstance(a, dict)] if isinstance(arrays, list) else []
    names = names or sorted(f.stem for f in folder.glob("*.npy"))
    for name in names:
        f = folder / f"{name}.npy"
        try:
            if isinstance(digests, dict) and f.name in digests:
                if file_digest(f, memo=True) != digests[f.name]:
                    out.append(f"{f}: content does not match its digest (damaged or truncated)")
            else:
                arr = np.load(f, mmap_mode="r", allow_pickle=False)
                del arr
        except FileNotFoundError:
            out.append(f"{f}: missing")
        except (OSError, ValueError) as err:
            out.append(f"{f}: unreadable ({err})")
    return out


def write_shard(
    root: Path, items: Sequence[ShardItem], *, layout: ShardLayout, verify_existing: bool = False
) -> tuple[str, dict[str, dict[str, Any]]]:
    """Write one shard (unless a shard with the same content exists) and return its id and item index.

    With ``verify_existing`` an existing shard is checked against its digests first and
    rewritten when damaged.

    Returns
    -------
    shard_id, index
        ``index`` maps item id to ``{"shard", "audio": [start, stop], "frames": [start, stop]}``.
    """
    sid = shard_id(items, layout=layout)
    index: dict[str, dict[str, Any]] = {}
    a = f = u = 0
    has_units = any(level == "unit" for _n, _d, level, _w in layout.arrays)
    entries = []
    for it in items:
        ranges: dict[str, Any] = {"audio": [a, a + it.n_samples], "frames": [f, f + it.n_frames]}
        if has_units:
            ranges["units"] = [u, u + it.n_units]
        index[it.id] = {"shard": sid, **ranges}
        entries.append({"id": it.id, **ranges})
        a += it.n_samples
        f += it.n_frames
        u += it.n_units
    totals = {"sample": a, "frame": f, "unit": u}
    where = {"sample": "audio", "frame": "frames", "unit": "units"}
    target = root / sid
    damaged = False
    if (target / "index.json").is_file():
        if not verify_existing or not shard_problems(target):
            return sid, index
        damaged = True
    need = sum(it.nbytes(layout) for it in items) + (1 << 20)
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free < need:
        raise OSError(
            errno.ENOSPC,
            f"{os.strerror(errno.ENOSPC)}: a shard needs {need / 1e6:.1f} MB, {free / 1e6:.1f} MB are free",
        )
    with atomic_dir(target, replace=damaged) as tmp:
        files: dict[str, Any] = {}
        hashes: dict[str, Any] = {}
        try:
            for name, dtype, level, width in layout.arrays:
                rows = totals[level]
                shape = (rows,) if width == 0 else (rows, width)
                head = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    head,
                    {
                        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                        "fortran_order": False,
                        "shape": shape,
                    },
                )
                files[name] = open(tmp / f"{name}.npy", "wb")  # noqa: SIM115 - closed below
                hashes[name] = xxhash.xxh3_128(head.getvalue())
                files[name].write(head.getvalue())
            for it in items:
                arrays = it.load()
                e = index[it.id]
                for name, dtype, level, width in layout.arrays:
                    lo, hi = e[where[level]]
                    block = np.ascontiguousarray(arrays[name], dtype=dtype)
                    want = (hi - lo,) if width == 0 else (hi - lo, width)
                    if block.shape != want:
                        raise ValueError(
                            f"item {it.id}: {name} has shape {block.shape}, the shard expects {want}"
                        )
                    if block.size == 0:
                        continue  # (a memoryview of no bytes cannot be cast)
                    buf = block.data.cast("B")
                    files[name].write(buf)
                    hashes[name].update(buf)
        finally:
            for fh in files.values():
                fh.close()
        meta = {
            "format": "svcprep-shard",
            "format_version": SHARD_FORMAT_VERSION,
            "n_mels": layout.width("mel") if "mel" in layout.names() else None,
            "arrays": layout.to_json(),
            "items": entries,
            "digests": {f"{name}.npy": h.hexdigest() for name, h in hashes.items()},
        }
        (tmp / "index.json").write_text(json.dumps(meta, ensure_ascii=True, sort_keys=True), encoding="utf-8")
    return sid, index
