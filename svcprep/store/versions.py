"""Immutable dataset versions and the pointer to the latest one.

``versions/<id>.json`` records a version (full resolved config, library versions,
input hashes, the item index into the shards, statistics), ``versions/<id>.manifest.jsonl``
its manifest. A version is published by writing both, then ``manifest.jsonl`` at the top
of the output folder, then replacing the one small pointer file ``LATEST`` last, so a
reader never sees a partial version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from svcprep.errors import StoreError
from svcprep.records import Record, records_from_jsonl, records_to_jsonl
from svcprep.store.atomic import atomic_write_text

__all__ = [
    "VERSION_FORMAT",
    "latest_version_id",
    "list_versions",
    "next_version_id",
    "publish_version",
    "read_manifest",
    "read_version",
]

VERSION_FORMAT = 1
POINTER = "LATEST"
_VID = re.compile(r"^v(\d{4,})$")


def latest_version_id(out: Path) -> str | None:
    """Id of the latest published version, or None if nothing was published yet."""
    try:
        vid = (out / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StoreError(f"cannot read {out / POINTER}: {err.strerror or err}") from None
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
        raise StoreError(f"cannot read version file {path}: {err}") from None
    return data


def read_manifest(out: Path, vid: str) -> list[Record]:
    """The manifest records of version ``vid``, typed (any manifest schema this svcprep reads)."""
    path = out / "versions" / f"{vid}.manifest.jsonl"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise StoreError(f"cannot read manifest {path}: {err.strerror or err}") from None
    return records_from_jsonl(text, where=str(path))


def manifest_text(records: Iterable[Record]) -> str:
    """Manifest records as JSON Lines, in the given order, byte-stable."""
    return records_to_jsonl(records)


def publish_version(out: Path, vid: str, record: dict[str, Any], records: Iterable[Record]) -> None:
    """Write a version and make it the latest (pointer replaced last)."""
    text = manifest_text(records)
    atomic_write_text(out / "versions" / f"{vid}.manifest.jsonl", text)
    atomic_write_text(
        out / "versions" / f"{vid}.json", json.dumps(record, sort_keys=True, ensure_ascii=False, indent=1)
    )
    atomic_write_text(out / "manifest.jsonl", text)
    atomic_write_text(out / POINTER, vid + "\n")
