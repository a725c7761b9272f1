"""Immutable dataset versions and the pointer to the latest one.

``versions/<id>.json`` records a version (full resolved config, library versions,
input hashes, the item index into the shards, statistics), ``versions/<id>.manifest.jsonl``
its manifest. A version is published by writing both, then replacing the one small
pointer file ``LATEST``; ``manifest.jsonl`` at the top of the output folder is a copy of
the manifest of the version ``LATEST`` names, written after it (and rewritten by the
next build if it is missing or damaged), so it never describes an unpublished version.
Every read error is a :class:`~svcprep.errors.StoreError` naming the file and the fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from svcprep.errors import StoreError
from svcprep.records import Record, records_from_jsonl, records_to_jsonl
from svcprep.store.atomic import atomic_write_bytes, atomic_write_text

__all__ = [
    "VERSION_FORMAT",
    "latest_version_id",
    "list_versions",
    "next_version_id",
    "publish_pointer",
    "publish_version",
    "read_manifest",
    "read_version",
    "sync_top_manifest",
    "unpublished_twin",
]

VERSION_FORMAT = 1
POINTER = "LATEST"
_VID = re.compile(r"^v(\d{4,})$")


def latest_version_id(out: Path) -> str | None:
    """Id of the latest published version, or None if nothing was published yet."""
    path = out / POINTER
    try:
        vid = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StoreError(f"cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        vid = "\ufffd"
    if vid and not _VID.match(vid):
        raise StoreError(
            f"{path} is damaged (it should hold a version id like v0001): run `svcprep build` again "
            f"to republish, or write the id of a kept version (`svcprep versions {out}`) into it"
        )
    return vid or None


def list_versions(out: Path) -> list[str]:
    """Ids of every kept version, oldest first."""
    folder = out / "versions"
    if not folder.is_dir():
        return []
    vids = [p.stem for p in folder.glob("v*.json") if _VID.match(p.stem)]
    return sorted(vids, key=lambda v: int(v[1:]))


def next_version_id(out: Path) -> str:
    """The id the next published version gets."""
    vids = list_versions(out)
    n = int(vids[-1][1:]) + 1 if vids else 1
    return f"v{n:04d}"


def read_version(out: Path, vid: str | None = None) -> dict[str, Any]:
    """The record of version ``vid`` (the latest if None)."""
    if vid is None:
        vid = latest_version_id(out)
        if vid is None:
            raise StoreError(
                f"{out} holds no built dataset (no {POINTER} file): run `svcprep build RAW {out}` first"
            )
    if not _VID.match(vid):
        raise StoreError(
            f"version {vid!r} is not a version id (like v0001); `svcprep versions {out}` lists them"
        )
    path = out / "versions" / f"{vid}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(
            f"{out} has no version {vid}; `svcprep versions {out}` lists the kept ones"
        ) from None
    except (OSError, ValueError) as err:
        raise StoreError(
            f"version file {path} is unreadable or damaged ({type(err).__name__}: {err}); run "
            "`svcprep verify` on the folder, and `svcprep build` again to republish"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), dict):
        raise StoreError(
            f"version file {path} is damaged (not a version record); run `svcprep build` again to republish"
        )
    return data


def read_manifest(out: Path, vid: str) -> list[Record]:
    """The manifest records of version ``vid``, typed (any manifest schema this svcprep reads)."""
    path = out / "versions" / f"{vid}.manifest.jsonl"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise StoreError(f"cannot read manifest {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise StoreError(
            f"manifest {path} is damaged (not UTF-8 at byte {err.start}); run `svcprep build` again to "
            "republish it"
        ) from None
    try:
        return records_from_jsonl(text, where=str(path))
    except StoreError as err:
        raise StoreError(
            f"{err}; the manifest is damaged: run `svcprep build` again to republish it"
        ) from None


def manifest_text(records: Iterable[Record]) -> str:
    """Manifest records as JSON Lines, in the given order, byte-stable."""
    return records_to_jsonl(records)


def publish_version(out: Path, vid: str, record: dict[str, Any], records: Iterable[Record]) -> None:
    """Write a version, make it the latest (the pointer), then copy its manifest to the top."""
    text = manifest_text(records)
    atomic_write_text(out / "versions" / f"{vid}.manifest.jsonl", text)
    atomic_write_text(
        out / "versions" / f"{vid}.json", json.dumps(record, sort_keys=True, ensure_ascii=False, indent=1)
    )
    publish_pointer(out, vid)


def publish_pointer(out: Path, vid: str) -> None:
    """Make the written version ``vid`` the latest: replace ``LATEST``, then the top manifest."""
    atomic_write_text(out / POINTER, vid + "\n")
    sync_top_manifest(out, vid)


def sync_top_manifest(out: Path, vid: str) -> bool:
    """Make ``manifest.jsonl`` a copy of version ``vid``'s manifest; True when it had to be written."""
    want = (out / "versions" / f"{vid}.manifest.jsonl").read_bytes()
    try:
        if (out / "manifest.jsonl").read_bytes() == want:
            return False
    except OSError:
        pass
    atomic_write_bytes(out / "manifest.jsonl", want)
    return True


def unpublished_twin(out: Path, digest: str, after: str | None) -> str | None:
    """A version newer than ``after`` (the latest published) with this digest, left by a killed build."""
    newer = [v for v in list_versions(out) if after is None or int(v[1:]) > int(after[1:])]
    for vid in reversed(newer):
        try:
            rec = read_version(out, vid)
            if rec.get("digest") == digest and rec.get("parent") == after:
                return vid
        except StoreError:
            continue
    return None
