"""Atomic file and folder writes: temporary name in the target folder, then rename."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "TMP_PREFIX",
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "sweep_temporaries",
    "write_error_message",
]

TMP_PREFIX = ".tmp-"


def write_error_message(out: Path, err: OSError) -> str:
    """A clear message for a failed write into the output folder ``out``."""
    import errno

    what = err.strerror or str(err)
    if err.errno == errno.ENOSPC:
        what = "the disk is full"
    hint = {
        errno.ENOSPC: "free some space (or `svcprep gc OUT --keep 1`) and run the build again",
        errno.EDQUOT: "free some space within your quota and run the build again",
        errno.EFBIG: "the file size limit of this process was reached; raise it (ulimit -f) and run again",
        errno.EROFS: "the output folder is on a read-only file system; choose a writable OUT",
        errno.EACCES: "you may not write there; choose a writable OUT or fix its permissions",
        errno.EPERM: "you may not write there; choose a writable OUT or fix its permissions",
    }.get(err.errno or 0, "check the output folder and run the build again")
    return (
        f"cannot write to the output folder {out}: {what}; {hint}. "
        "Finished work is kept, and the previously published version stays readable"
    )


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@functools.cache
def file_mode() -> int:
    """Permissions of a new file under the process umask (what ``open()`` would give)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The file gets the permissions a plain ``open()`` would give (the temporary file it is
    written through is private until it is complete).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, fsync: bool = True) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


@contextlib.contextmanager
def atomic_dir(path: Path, *, replace: bool = False, durable: bool = True) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it to ``path`` when the block ends.

    If ``path`` already exists when the block ends (content-named folders are written
    once), the temporary folder is discarded, unless ``replace`` (the existing folder is
    damaged): it is then moved aside and the new one renamed in its place. On error the
    temporary folder is removed. ``durable=False`` skips the fsyncs: for content that can
    be recomputed, where a crash may lose the folder but never leaves half of it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=path.parent))
    try:
        os.chmod(tmp, file_mode() | ((file_mode() & 0o444) >> 2))  # rw -> rwx where readable
        yield tmp
        for child in tmp.iterdir() if durable else ():
            with open(child, "rb") as f:
                os.fsync(f.fileno())
        if replace and path.is_dir():
            old = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + "old-", dir=path.parent))
            os.rename(path, old / path.name)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, path)
        except OSError:
            if path.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                raise
        if durable:
            _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sweep_temporaries(root: Path) -> int:
    """Remove temporaries left by an interrupted build anywhere below ``root``; returns the count."""
    n = 0
    if not root.is_dir():
        return 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in list(dirnames):
            if name.startswith(TMP_PREFIX):
                shutil.rmtree(Path(dirpath) / name, ignore_errors=True)
                dirnames.remove(name)
                n += 1
        for name in filenames:
            if name.startswith(TMP_PREFIX):
                with contextlib.suppress(OSError):
                    os.unlink(Path(dirpath) / name)
                n += 1
    return n
