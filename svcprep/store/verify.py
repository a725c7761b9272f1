"""Checking a built dataset against its digests (``svcprep verify``) and repairing it on rebuild.

Every shard's ``index.json`` and every cached object's ``meta.json`` hold the xxh3-128
digest of each of their array files. :func:`verify` reads every file of the output
folder and lists what is missing, truncated, damaged or unreadable; :func:`repair_latest`
(run by every build) removes the damaged shards and objects of the latest version, so the
build recomputes and rewrites them instead of saying "nothing changed".
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from svcprep.errors import StoreError
from svcprep.store.atomic import TMP_PREFIX
from svcprep.store.objects import ObjectStore
from svcprep.store.shards import shard_problems
from svcprep.store.versions import latest_version_id, list_versions, read_manifest, read_version

__all__ = ["VerifyReport", "repair_latest", "verify"]


@dataclass
class VerifyReport:
    """What :func:`verify` found. ``problems`` is empty when the folder is sound."""

    out: Path
    problems: list[str] = field(default_factory=list)
    versions: int = 0
    shards: int = 0
    objects: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def verify(out: str | Path) -> VerifyReport:
    """Check every version, shard and cached object of an output folder against its digests.

    Parameters
    ----------
    out
        The output folder of ``svcprep build``.

    Returns
    -------
    VerifyReport
        One line per problem, naming the file.

    Raises
    ------
    StoreError
        ``out`` is not an output folder.
    """
    root = Path(out)
    if not (root / "versions").is_dir():
        raise StoreError(f"{root} is not the output folder of `svcprep build` (no versions folder)")
    rep = VerifyReport(root)
    try:
        latest = latest_version_id(root)
    except StoreError as err:
        rep.problems.append(str(err))
        latest = None
    used_shards: set[str] = set()
    for vid in list_versions(root):
        rep.versions += 1
        try:
            rec = read_version(root, vid)
            read_manifest(root, vid)
        except StoreError as err:
            rep.problems.append(str(err))
            continue
        used_shards.update(str(s) for s in rec.get("shards", []))
    if latest is not None:
        try:
            want = (root / "versions" / f"{latest}.manifest.jsonl").read_bytes()
            if (root / "manifest.jsonl").read_bytes() != want:
                rep.problems.append(
                    f"{root / 'manifest.jsonl'}: not the manifest of the latest version {latest} (the next "
                    "build rewrites it)"
                )
        except OSError as err:
            rep.problems.append(f"{root / 'manifest.jsonl'}: {err.strerror or err}")
    shard_root = root / "shards"
    present = {p.name for p in shard_root.iterdir() if p.is_dir()} if shard_root.is_dir() else set()
    for sid in sorted(present | used_shards):
        if sid.startswith(TMP_PREFIX):
            continue
        rep.shards += 1
        rep.problems.extend(shard_problems(shard_root / sid))
    store = ObjectStore(root / "objects")
    for key in store.all_keys():
        if key.startswith(TMP_PREFIX):
            continue
        rep.objects += 1
        obj = store.get(key)
        if obj is None:
            rep.problems.append(f"{store.path(key) / 'meta.json'}: missing or damaged")
        else:
            rep.problems.extend(obj.problems())
    return rep


def _remove(folder: Path) -> None:
    if not folder.is_dir():
        return
    aside = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + "bad-", dir=folder.parent))
    os.rename(folder, aside / folder.name)
    shutil.rmtree(aside, ignore_errors=True)


def repair_latest(out: Path) -> list[str]:
    """Remove the damaged shards and cached objects of the latest version; returns what was wrong.

    The build that calls this then recomputes the removed objects and rewrites the
    removed shards (their ids, from their content, do not change). Nothing is removed
    when there is no readable latest version.
    """
    try:
        vid = latest_version_id(out)
        if vid is None:
            return []
        rec = read_version(out, vid)
    except StoreError as err:
        return [str(err)]
    found: list[str] = []
    for sid in rec.get("shards", []):
        folder = out / "shards" / str(sid)
        problems = shard_problems(folder)
        if problems:
            found.extend(problems)
            _remove(folder)
    store = ObjectStore(out / "objects")
    for key in rec.get("objects", []):
        folder = store.path(str(key))
        if not folder.is_dir():
            continue
        obj = store.get(str(key))
        problems = [f"{folder / 'meta.json'}: damaged"] if obj is None else obj.problems()
        if problems:
            found.extend(problems)
            _remove(folder)
    return found
