"""Listing, comparing and garbage-collecting dataset versions."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svcprep.errors import StoreError
from svcprep.store.lock import BuildLock
from svcprep.store.objects import ObjectStore
from svcprep.store.versions import latest_version_id, list_versions, read_version

__all__ = ["GcResult", "VersionDiff", "diff_records", "diff_versions", "gc", "version_summaries"]


def version_summaries(out: Path) -> list[dict[str, Any]]:
    """One row per kept version: id, time, items, hours, what changed, whether it is the latest."""
    latest = latest_version_id(out)
    rows = []
    for vid in list_versions(out):
        v = read_version(out, vid)
        ch = v.get("changes", {})
        what = []
        for k, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
            if ch.get(k):
                what.append(f"{sign}{ch[k]} items")
        if ch.get("config"):
            cfg = ch["config"]
            what.append("config: " + ", ".join(cfg[:4]) + (f" (+{len(cfg) - 4})" if len(cfg) > 4 else ""))
        rows.append(
            {
                "id": vid,
                "created_utc": v.get("created_utc", ""),
                "items": v.get("stats", {}).get("items", len(v.get("items", {}))),
                "hours": v.get("stats", {}).get("hours", 0.0),
                "errors": v.get("stats", {}).get("errors", 0),
                "changes": "; ".join(what)
                or ("first version" if v.get("parent") is None else "no item changes"),
                "latest": vid == latest,
            }
        )
    return rows


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@dataclass
class VersionDiff:
    """Differences between two versions."""

    a: str
    b: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    config: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    inputs_added: list[str] = field(default_factory=list)
    inputs_removed: list[str] = field(default_factory=list)
    inputs_changed: list[str] = field(default_factory=list)


def diff_versions(out: Path, a: str, b: str) -> VersionDiff:
    """Items added, removed and changed from version ``a`` to ``b``, and the config differences."""
    return diff_records(read_version(out, a), read_version(out, b))


def diff_records(va: dict[str, Any], vb: dict[str, Any]) -> VersionDiff:
    """:func:`diff_versions` on two version records already read."""
    ia = {i: e.get("key") for i, e in va.get("items", {}).items()}
    ib = {i: e.get("key") for i, e in vb.get("items", {}).items()}
    d = VersionDiff(str(va.get("id")), str(vb.get("id")))
    d.added = sorted(set(ib) - set(ia))
    d.removed = sorted(set(ia) - set(ib))
    d.changed = sorted(i for i in set(ia) & set(ib) if ia[i] != ib[i])
    ca, cb = _flatten(va.get("config", {})), _flatten(vb.get("config", {}))
    d.config = {k: (ca.get(k), cb.get(k)) for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)}
    sa, sb = va.get("inputs", {}), vb.get("inputs", {})
    d.inputs_added = sorted(set(sb) - set(sa))
    d.inputs_removed = sorted(set(sa) - set(sb))
    d.inputs_changed = sorted(k for k in set(sa) & set(sb) if sa[k] != sb[k])
    return d


@dataclass
class GcResult:
    """What garbage collection removed."""

    versions_removed: list[str]
    shards_removed: int
    objects_removed: int
    bytes_freed: int


def _size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def gc(out: Path, *, keep: int, dry_run: bool = False) -> GcResult:
    """Keep the ``keep`` newest versions (always the latest) and delete data no kept version uses.

    Takes the build lock, so it never runs beside a build. Shards and cached stage
    objects referenced by any kept version stay; everything else goes.
    """
    if keep < 1:
        raise StoreError(f"--keep {keep}: keep at least 1 version (the latest)")
    with BuildLock(out):
        vids = list_versions(out)
        latest = latest_version_id(out)
        kept = vids[-keep:]
        if latest and latest not in kept:
            kept.append(latest)
        drop = [v for v in vids if v not in kept]
        used_shards: set[str] = set()
        used_objects: set[str] = set()
        for vid in kept:
            v = read_version(out, vid)
            used_shards.update(v.get("shards", []))
            used_objects.update(v.get("objects", []))
        freed = 0
        shards_removed = objects_removed = 0
        shard_root = out / "shards"
        if shard_root.is_dir():
            for sh in shard_root.iterdir():
                if sh.is_dir() and sh.name not in used_shards:
                    freed += _size(sh)
                    shards_removed += 1
                    if not dry_run:
                        shutil.rmtree(sh)
        store = ObjectStore(out / "objects")
        for key in store.all_keys():
            if key not in used_objects:
                freed += store.size_bytes(key)
                objects_removed += 1
                if not dry_run:
                    store.delete(key)
        for vid in drop:
            for suffix in (".json", ".manifest.jsonl"):
                p = out / "versions" / f"{vid}{suffix}"
                if p.exists():
                    freed += p.stat().st_size
                    if not dry_run:
                        p.unlink()
        return GcResult(drop, shards_removed, objects_removed, freed)
