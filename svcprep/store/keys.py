"""Cache keys: content hashes of inputs and declared versions of stages, never code or paths.

A stage's key is the hash of the canonical JSON of its name, its declared version, the
part of its config that changes outputs, the upstream key and the versions of the
libraries whose numbers it depends on. The leaf key of every chain is the hash of the
raw input bytes, memoised on (path, size, mtime_ns) so unchanged files are not re-read.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import xxhash

__all__ = [
    "FileHashMemo",
    "canonical_json",
    "digest_bytes",
    "file_digest",
    "file_sha256",
    "library_versions",
    "stage_key",
]

_CHUNK = 1 << 22


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace and exact float reprs: equal data, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def digest_bytes(data: bytes | str) -> str:
    """128-bit xxh3 hex digest of bytes (or of the UTF-8 encoding of a string)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return xxhash.xxh3_128_hexdigest(data)


def file_digest(path: str | os.PathLike[str], *, memo: bool = False) -> str:
    """128-bit xxh3 hex digest of a file's bytes, read in 4 MiB chunks.

    ``memo=True`` reuses a digest this process computed in the last 10 minutes, since the
    last :func:`forget_file_digests`, for the same file (inode, size and modification
    time): a shard that many cached objects point into is read once per build, not once
    per object.
    """
    key = None
    if memo:
        st = os.stat(path)
        key = (os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns)
        with _DIGEST_LOCK:
            hit = _DIGEST_MEMO.get(key)
            if hit is not None and time.monotonic() - hit[1] < _DIGEST_MEMO_S:
                return hit[0]
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    out = h.hexdigest()
    if key is not None:
        with _DIGEST_LOCK:
            _DIGEST_MEMO[key] = (out, time.monotonic())
    return out


# a long-lived worker (Dask) re-reads a file after this long even if nothing about it changed
_DIGEST_MEMO_S = 600.0
_DIGEST_MEMO: dict[tuple[str, int, int, int], tuple[str, float]] = {}
_DIGEST_LOCK = threading.Lock()


def forget_file_digests() -> None:
    """Drop the memo of :func:`file_digest` (every build starts with it empty)."""
    with _DIGEST_LOCK:
        _DIGEST_MEMO.clear()


_SHA256_MEMO: dict[tuple[str, int, int], str] = {}
_SHA256_LOCK = threading.Lock()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, memoised per process on (resolved path, size, mtime).

    For model files (content encoders, RMVPE), whose digest enters cache keys: hashed once
    per process however many items use them.
    """
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _SHA256_LOCK:
        known = _SHA256_MEMO.get(key)
    if known is not None:
        return known
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    with _SHA256_LOCK:
        _SHA256_MEMO[key] = digest
    return digest


@cache
def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


@cache
def _libsndfile_version() -> str:
    import soundfile

    return str(soundfile.__libsndfile_version__)


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of the named distributions (``libsndfile`` is the C library)."""
    out = {}
    for n in sorted(set(names)):
        out[n] = _libsndfile_version() if n == "libsndfile" else _dist_version(n)
    return out


def stage_key(
    stage: str,
    *,
    version: int,
    config: Mapping[str, Any],
    upstream: str,
    libraries: Iterable[str] = (),
) -> str:
    """Cache key of one stage's output for one item.

    Parameters
    ----------
    stage
        Stage name (``load``, ``slice``, ``denoise``, ``f0`` ...).
    version
        The stage's declared version; bumped whenever its output changes for the same input.
    config
        The output-affecting part of the stage's configuration.
    upstream
        Key of the stage's input (the raw-bytes hash for ``load``).
    libraries
        Distributions whose numbers the stage depends on; their versions enter the key.
    """
    payload = {
        "stage": stage,
        "version": version,
        "config": config,
        "upstream": upstream,
        "libraries": library_versions(libraries),
    }
    return digest_bytes(canonical_json(payload))


class FileHashMemo:
    """Raw-input hashes memoised on (path, size, mtime_ns), persisted as one JSON file.

    Parameters
    ----------
    path
        Where the memo is kept (inside the output folder, never inside the raw folder).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, list[Any]] = {}
        self._dirty = False
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self._data = loaded
        except (OSError, ValueError):
            self._data = {}

    @staticmethod
    def _ident(path: Path) -> tuple[str, int, int]:
        st = path.stat()
        return os.fsencode(path).decode("utf-8", "surrogateescape"), st.st_size, st.st_mtime_ns

    def lookup(self, path: Path) -> str | None:
        """The memoised hash if the file's size and mtime are unchanged, else None."""
        name, size, mtime = self._ident(path)
        hit = self._data.get(name)
        if hit and hit[0] == size and hit[1] == mtime:
            return str(hit[2])
        return None

    def record(self, path: Path, digest: str, *, size: int, mtime_ns: int) -> None:
        """Remember the hash of a file as it was when it was read."""
        name = os.fsencode(path).decode("utf-8", "surrogateescape")
        self._data[name] = [size, mtime_ns, digest]
        self._dirty = True

    def digest(self, path: Path) -> str:
        """The file's hash, read only when the file changed since it was last hashed."""
        hit = self.lookup(path)
        if hit is not None:
            return hit
        st = path.stat()
        d = file_digest(path)
        self.record(path, d, size=st.st_size, mtime_ns=st.st_mtime_ns)
        return d

    def save(self) -> None:
        """Write the memo atomically (only if something was added)."""
        if not self._dirty:
            return
        from svcprep.store.atomic import atomic_write_text

        text = json.dumps(self._data, ensure_ascii=True, sort_keys=True)
        atomic_write_text(self.path, text)
        self._dirty = False
