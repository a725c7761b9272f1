"""Finding the input recordings under a raw folder.

:func:`discover` walks the raw root (following symlinks that stay inside it, never around
a loop; links leading outside only with ``follow_links``, never into ``/proc``, ``/sys`` or
``/dev``), keeps the files whose extension libsndfile decodes, and explains every other
entry it met in a :class:`Skipped` row. It only reads: nothing under the raw root is
created, changed or deleted. The result does not depend on the order in which the
file system lists a folder.

Speakers come from the layout::

    raw/alice/take1.wav          -> speaker "alice"
    raw/alice/day2/take3.flac    -> speaker "alice" (any depth below the speaker folder)
    raw/solo.wav                 -> speaker "raw" (files directly in the root: the root's name)
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from svcprep.errors import ConfigError

__all__ = [
    "AUDIO_EXTENSIONS",
    "NO_DECODER_EXTENSIONS",
    "Discovery",
    "Skipped",
    "Source",
    "discover",
    "printable_name",
]

#: Extensions of containers libsndfile decodes (lower case, with the dot).
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".w64",
        ".rf64",
        ".caf",
        ".au",
        ".snd",
    }
)
#: Audio containers libsndfile has no decoder for: reported, with a conversion hint.
NO_DECODER_EXTENSIONS: frozenset[str] = frozenset({".m4a", ".aac", ".mp4", ".wma", ".ape", ".alac"})


@dataclass(frozen=True)
class Source:
    """One input recording.

    Attributes
    ----------
    path
        The path that opens the file (the raw root joined with the real name, whatever
        its bytes).
    rel
        Path relative to the raw root, ``/``-separated, printable UTF-8 and unique
        within one :class:`Discovery`. Bytes that are not UTF-8 and unprintable
        characters are shown as backslash escapes.
    speaker
        The first folder below the raw root, or the root's own name for files
        directly in it.
    """

    path: Path
    rel: str
    speaker: str


@dataclass(frozen=True)
class Skipped:
    """An entry under the raw root that is not an input, and why.

    Attributes
    ----------
    rel
        Printable path relative to the raw root, as for :class:`Source`.
    reason
        What the entry is and, where useful, what to do about it.
    status
        ``"skipped"`` for entries that are deliberately not inputs (hidden files,
        other file types, formats without a decoder, symlink loops); ``"error"`` for
        entries that look like inputs but cannot be reached (dangling symlinks,
        permission denied).
    """

    rel: str
    reason: str
    status: Literal["skipped", "error"]


@dataclass(frozen=True)
class Discovery:
    """Result of :func:`discover`: the inputs and every other entry met, both sorted by ``rel``."""

    sources: tuple[Source, ...]
    skipped: tuple[Skipped, ...]


def printable_name(raw: bytes) -> tuple[str, bool]:
    """Render file-name bytes as printable UTF-8 text.

    Parameters
    ----------
    raw
        The name (or a ``/``-separated relative path) as bytes.

    Returns
    -------
    tuple[str, bool]
        The text, and whether it is an exact rendering (valid UTF-8, every character
        printable). Inexact renderings use ``\\xNN`` for undecodable bytes and
        ``\\xNN``/``\\uNNNN`` escapes for control characters.
    """
    text = raw.decode("utf-8", "backslashreplace")
    exact = True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        exact = False
    if not text.isprintable():
        exact = False
        text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return text, exact


@dataclass
class _Entry:
    raw: bytes  # relative path bytes, b"/"-separated
    path: Path | None = None
    speaker: str = ""
    reason: str = ""
    status: Literal["source", "skipped", "error"] = "source"


#: Virtual file systems: a link into one is never followed (``/proc`` alone lists thousands
#: of "files", some of which block forever when read).
_VIRTUAL_ROOTS = ("/proc", "/sys", "/dev")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _link_refusal(link: str, root_real: str, follow: bool) -> str | None:
    """Why the symlink ``link`` is not followed, or None to follow it."""
    target = os.path.realpath(link)
    shown = _readlink(link)
    for vfs in _VIRTUAL_ROOTS:
        if _inside(target, vfs):
            return f"symlink -> {shown} points into {vfs}, a virtual file system: never followed"
    if not follow and not _inside(target, root_real):
        return (
            f"symlink -> {shown} leads outside the raw folder: not followed (use --follow-links, or "
            "follow_links=True, to read it)"
        )
    return None


def _scan(
    root: Path,
    rel: tuple[str, ...],
    ancestors: frozenset[tuple[int, int]],
    visited: dict[tuple[int, int], bytes],
    out: list[_Entry],
    *,
    root_real: str,
    follow: bool,
) -> None:
    folder = root.joinpath(*rel) if rel else root
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
    except PermissionError:
        out.append(
            _Entry(
                raw=_raw(rel),
                reason="permission denied: the folder cannot be listed (check its permissions)",
                status="error",
            )
        )
        return
    except OSError as err:
        out.append(
            _Entry(raw=_raw(rel), reason=f"cannot list the folder: {err.strerror or err}", status="error")
        )
        return
    for e in entries:
        parts = (*rel, e.name)
        raw = _raw(parts)
        if e.name.startswith("."):
            kind = "folder" if _is_dir(e) else "file"
            out.append(_Entry(raw=raw, reason=f"hidden {kind}", status="skipped"))
            continue
        try:
            is_link = e.is_symlink()
            st = os.stat(e.path)  # follows symlinks
        except FileNotFoundError:
            target = _readlink(e.path)
            out.append(_Entry(raw=raw, reason=f"dangling symlink -> {target}", status="error"))
            continue
        except PermissionError:
            out.append(_Entry(raw=raw, reason="permission denied: cannot read its status", status="error"))
            continue
        except OSError as err:
            if is_link and err.errno == 40:  # ELOOP: a symlink chain that points at itself
                out.append(
                    _Entry(
                        raw=raw,
                        reason=f"symlink loop -> {_readlink(e.path)}: the link resolves to itself",
                        status="skipped",
                    )
                )
            else:
                out.append(_Entry(raw=raw, reason=f"cannot stat: {err.strerror or err}", status="error"))
            continue
        refusal = _link_refusal(e.path, root_real, follow) if is_link else None
        if refusal is not None:
            out.append(_Entry(raw=raw, reason=refusal, status="skipped"))
            continue
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                out.append(
                    _Entry(
                        raw=raw,
                        reason=f"symlink loop -> {_readlink(e.path)}: it points to a folder that "
                        "contains it; not followed",
                        status="skipped",
                    )
                )
                continue
            if key in visited:
                other = printable_name(visited[key])[0] or "."
                out.append(
                    _Entry(
                        raw=raw,
                        reason=f"same folder as {other!r} (reached through a symlink): listed only once",
                        status="skipped",
                    )
                )
                continue
            visited[key] = raw
            _scan(root, parts, ancestors | {key}, visited, out, root_real=root_real, follow=follow)
            continue
        if not stat.S_ISREG(st.st_mode):
            out.append(
                _Entry(raw=raw, reason="not a regular file (pipe, socket or device)", status="skipped")
            )
            continue
        ext = os.path.splitext(e.name)[1].lower()
        if ext in NO_DECODER_EXTENSIONS:
            out.append(
                _Entry(
                    raw=raw,
                    reason=f"no decoder for {ext} files (libsndfile cannot read them): convert it to FLAC or "
                    f"WAV with ffmpeg, e.g. ffmpeg -i input{ext} output.flac",
                    status="skipped",
                )
            )
            continue
        if ext not in AUDIO_EXTENSIONS:
            what = f"{ext} file" if ext else "file without an extension"
            out.append(_Entry(raw=raw, reason=f"not an audio file ({what})", status="skipped"))
            continue
        path = root.joinpath(*parts)
        try:
            with open(path, "rb"):
                pass
        except PermissionError:
            out.append(
                _Entry(
                    raw=raw,
                    reason="permission denied: the file cannot be read by this user (check its permissions)",
                    status="error",
                )
            )
            continue
        except OSError as err:
            out.append(_Entry(raw=raw, reason=f"cannot open: {err.strerror or err}", status="error"))
            continue
        out.append(_Entry(raw=raw, path=path))


def _raw(parts: tuple[str, ...]) -> bytes:
    return b"/".join(os.fsencode(p) for p in parts)


def _is_dir(e: os.DirEntry[str]) -> bool:
    try:
        return e.is_dir()
    except OSError:
        return False


def _readlink(path: str) -> str:
    try:
        return printable_name(os.fsencode(os.readlink(path)))[0]
    except OSError:
        return "?"


def _unique_rels(entries: list[_Entry]) -> list[str]:
    """Printable rel of every entry; inexact renderings that collide get a hash suffix."""
    rendered = [printable_name(e.raw) for e in entries]
    count: dict[str, int] = {}
    for text, _ in rendered:
        count[text] = count.get(text, 0) + 1
    out = []
    for e, (text, exact) in zip(entries, rendered, strict=True):
        if count[text] > 1 and not exact:
            text = f"{text}~{hashlib.blake2b(e.raw, digest_size=4).hexdigest()}"
        out.append(text)
    return out


def discover(raw_root: str | os.PathLike[str], *, follow_links: bool = False) -> Discovery:
    """List the input recordings under ``raw_root`` and explain everything else.

    Parameters
    ----------
    raw_root
        Folder holding one sub-folder per speaker (and/or files of a single speaker
        directly in it). It is only read.
    follow_links
        Also follow symlinks (to files or folders) that lead outside ``raw_root``. By
        default they are ``skipped`` rows saying so; links that stay inside are always
        followed. Links into ``/proc``, ``/sys`` and ``/dev`` are never followed.

    Returns
    -------
    Discovery
        ``sources``: every regular file with an extension in :data:`AUDIO_EXTENSIONS`
        that can be opened (whether its content decodes is found out when it is
        loaded). ``skipped``: hidden entries, other file types, formats without a
        decoder, symlink loops (status ``"skipped"``) and dangling symlinks,
        unreadable files and folders (status ``"error"``). Both are sorted by the
        UTF-8 bytes of ``rel``, so the order never depends on the file system.

    Raises
    ------
    ConfigError
        ``raw_root`` does not exist, is not a folder or cannot be listed.
    """
    root = Path(raw_root)
    shown = printable_name(os.fsencode(root))[0]
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise ConfigError(f"raw folder {shown!r} does not exist: check the path") from None
    except OSError as err:
        raise ConfigError(f"raw folder {shown!r} cannot be read: {err.strerror or err}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(
            f"raw folder {shown!r} is a file, not a folder: give the folder that holds the recordings"
        )
    try:
        with os.scandir(root):
            pass
    except OSError as err:
        raise ConfigError(f"raw folder {shown!r} cannot be listed: {err.strerror or err}") from None

    root_name = Path(os.path.abspath(root)).name or "root"
    root_speaker = printable_name(os.fsencode(root_name))[0]
    entries: list[_Entry] = []
    root_key = (st.st_dev, st.st_ino)
    root_real = os.path.realpath(root)
    _scan(root, (), frozenset({root_key}), {root_key: b""}, entries, root_real=root_real, follow=follow_links)
    rels = _unique_rels(entries)
    sources: list[Source] = []
    skipped: list[Skipped] = []
    for e, rel in zip(entries, rels, strict=True):
        if e.status == "source" and e.path is not None:
            first, sep, _ = e.raw.partition(b"/")
            speaker = printable_name(first)[0] if sep else root_speaker
            sources.append(Source(path=e.path, rel=rel, speaker=speaker))
        elif e.status != "source":
            skipped.append(Skipped(rel=rel, reason=e.reason, status=e.status))
    sources.sort(key=lambda s: (s.rel.encode("utf-8"), os.fsencode(s.path)))
    skipped.sort(key=lambda s: s.rel.encode("utf-8"))
    return Discovery(sources=tuple(sources), skipped=tuple(skipped))
