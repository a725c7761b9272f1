"""Broken and unusual input files, shared by the audio, sources and end-to-end tests.

:func:`make_bad_inputs` builds one file per case inside a folder and returns the
expected outcome of each. :func:`run_unprivileged` runs Python code in a child process
that cannot read ``chmod 000`` files even when the tests run as root.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

from svcprep.testing import noise, silence, tone

__all__ = [
    "NON_UTF8_NAME",
    "SR",
    "make_bad_inputs",
    "make_unreadable",
    "mp3_supported",
    "run_unprivileged",
    "world_readable_tmpdir",
]

SR = 44100
#: A file name that is not valid UTF-8 (Latin-1 "café.wav").
NON_UTF8_NAME = b"caf\xe9.wav"
REPO_ROOT = Path(__file__).resolve().parents[1]


def mp3_supported() -> bool:
    """Whether this libsndfile can write (and so read) MP3."""
    return "MP3" in sf.available_formats() and sf.check_format("MP3", "MPEG_LAYER_III")


def _tone(seconds: float = 1.0, sr: int = SR, channels: int = 1) -> np.ndarray:
    y = tone(440.0, duration_s=seconds, sample_rate_hz=sr, amplitude=0.5)
    if channels == 1:
        return y
    return np.stack([y * (0.5 + 0.1 * c) for c in range(channels)], axis=1)


def _cut(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def non_utf8_supported(folder: Path) -> bool:
    """Whether the file system under ``folder`` accepts a non-UTF-8 file name."""
    probe = os.path.join(os.fsencode(folder), b"probe-\xff")
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY, 0o644)
    except (OSError, UnicodeError):
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def make_bad_inputs(folder: Path) -> dict[str, str]:
    """Create one input per bad (or unusual but valid) case under ``folder / "spk"``.

    Parameters
    ----------
    folder
        An empty folder; it becomes the raw root.

    Returns
    -------
    dict[str, str]
        rel path (as :func:`svcprep.sources.discover` prints it) -> expected outcome:
        an error ``reason`` code (``empty``, ``decode_error``, ``truncated``,
        ``non_finite``, ``bad_sample_rate``), ``skipped``/``error`` for discovery
        outcomes, or ``ok`` for inputs that must load. MP3 cases are left out when
        libsndfile has no MP3 support, the non-UTF-8 name when the file system
        refuses it.
    """
    spk = folder / "spk"
    spk.mkdir(parents=True, exist_ok=True)
    cases: dict[str, str] = {}

    def add(name: str, code: str) -> Path:
        cases[f"spk/{name}"] = code
        return spk / name

    add("empty.wav", "empty").write_bytes(b"")
    sf.write(add("zero_frames.wav", "empty"), np.zeros(0, np.float32), SR, subtype="PCM_16")
    rng = np.random.default_rng(1234)
    for ext in ("wav", "flac") + (("mp3",) if mp3_supported() else ()):
        add(f"random.{ext}", "decode_error").write_bytes(rng.bytes(6000))

    p = add("truncated.wav", "truncated")
    sf.write(p, _tone(1.0), SR, subtype="PCM_16")
    _cut(p, 0.6)
    p = add("truncated.flac", "truncated")
    sf.write(p, noise(duration_s=1.0, sample_rate_hz=SR, amplitude=0.2, seed=3), SR, subtype="PCM_16")
    _cut(p, 0.6)
    if mp3_supported():
        p = add("truncated.mp3", "truncated")
        sf.write(p, _tone(2.0), SR, format="MP3", subtype="MPEG_LAYER_III")
        _cut(p, 0.6)

    y = _tone(0.5)
    y[1000] = np.nan
    y[3000:3010] = np.nan
    sf.write(add("nan.wav", "non_finite"), y, SR, subtype="FLOAT")
    y = _tone(0.5)
    y[2000] = np.inf
    y[2001] = -np.inf
    sf.write(add("inf.wav", "non_finite"), y, SR, subtype="FLOAT")

    sf.write(add("silence.wav", "ok"), silence(duration_s=1.0, sample_rate_hz=SR), SR, subtype="PCM_16")

    p = add("rate0.wav", "bad_sample_rate")
    sf.write(p, _tone(0.2), SR, subtype="PCM_16")
    data = bytearray(p.read_bytes())
    if data[12:16] != b"fmt ":
        raise RuntimeError("unexpected WAV layout: the fmt chunk is not first")
    data[24:28] = struct.pack("<I", 0)  # sample rate
    data[28:32] = struct.pack("<I", 0)  # byte rate
    p.write_bytes(bytes(data))

    sf.write(add("rate4k.wav", "bad_sample_rate"), _tone(0.5, sr=4000), 4000, subtype="PCM_16")
    sf.write(add("rate192k.wav", "ok"), _tone(0.25, sr=192000), 192000, subtype="PCM_24")
    sf.write(add("one_sample.wav", "ok"), np.array([0.25], np.float32), SR, subtype="PCM_16")
    sf.write(add("six_channels.wav", "ok"), _tone(0.5, channels=6), SR, subtype="PCM_16")

    if non_utf8_supported(spk):
        raw = os.path.join(os.fsencode(spk), NON_UTF8_NAME)
        sf.write(raw, _tone(0.3), SR, subtype="PCM_16", format="WAV")
        cases["spk/" + NON_UTF8_NAME.decode("utf-8", "backslashreplace")] = "ok"

    os.symlink(".", add("loop", "skipped"), target_is_directory=True)
    os.symlink("missing_target.wav", add("dangling.wav", "error"))
    add(".DS_Store", "skipped").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
    add("notes.txt", "skipped").write_text("take 3 was flat\n", encoding="utf-8")
    add("archive.zip", "skipped").write_bytes(b"PK\x05\x06" + bytes(18))
    add("song.m4a", "skipped").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(24))
    return cases


# --------------------------------------------------------------------------- lying headers


def _ogg_crc(page: bytes) -> int:
    """The CRC-32 of an Ogg page (polynomial 0x04C11DB7, not reflected, checksum field zeroed)."""
    crc = 0
    for b in page:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def lying_flac(path: Path, total_samples: int) -> None:
    """A valid 0.3 s FLAC whose STREAMINFO declares ``total_samples`` (36 bits) instead."""
    sf.write(path, _tone(0.3, sr=22050), 22050, subtype="PCM_16", format="FLAC")
    data = bytearray(path.read_bytes())
    if data[:4] != b"fLaC" or data[4] & 0x7F != 0:
        raise RuntimeError("unexpected FLAC layout: STREAMINFO is not the first block")
    bits = int.from_bytes(data[18:26], "big")  # 20 rate, 3 channels, 5 bits/sample, 36 total
    data[18:26] = ((bits >> 36 << 36) | (total_samples & (2**36 - 1))).to_bytes(8, "big")
    path.write_bytes(bytes(data))


def lying_mp3(path: Path, frames: int) -> None:
    """A valid 0.3 s MP3 whose Xing header declares ``frames`` MPEG frames."""
    sf.write(path, _tone(0.3, sr=22050), 22050, format="MP3", subtype="MPEG_LAYER_III")
    data = bytearray(path.read_bytes())
    at = data.find(b"Xing")
    if at < 0 or not data[at + 7] & 1:
        raise RuntimeError("libsndfile wrote no Xing header with a frame count")
    data[at + 8 : at + 12] = struct.pack(">I", frames)
    path.write_bytes(bytes(data))


def lying_ogg(path: Path, granule: int) -> None:
    """A valid 3 s Ogg Vorbis file whose last page claims granule position ``granule``."""
    y = np.random.default_rng(5).standard_normal(22050 * 3).astype(np.float32) * 0.1
    sf.write(path, y, 22050, format="OGG", subtype="VORBIS")
    data = bytearray(path.read_bytes())
    last = data.rfind(b"OggS")
    data[last + 6 : last + 14] = struct.pack("<q", granule)
    data[last + 22 : last + 26] = bytes(4)
    data[last + 22 : last + 26] = struct.pack("<I", _ogg_crc(bytes(data[last:])))
    path.write_bytes(bytes(data))


def make_lying_headers(folder: Path) -> dict[str, int]:
    """Files whose headers declare absurd lengths: name -> the length libsndfile must report.

    Each decodes to well under a second of audio; a decoder that trusts the header
    allocates gigabytes (or more than numpy can address) before reading a frame.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cases = {"flac33.flac": 2**33, "flac36.flac": 2**36 - 1, "ogg62.ogg": 2**62}
    lying_flac(folder / "flac33.flac", 2**33)
    lying_flac(folder / "flac36.flac", 2**36 - 1)
    lying_ogg(folder / "ogg62.ogg", 2**62)
    if mp3_supported():
        lying_mp3(folder / "xing.mp3", 0x7FFFFFFF)
        cases["xing.mp3"] = 0x7FFFFFFF * 576  # MPEG-2 layer III at 22.05 kHz: 576 samples a frame
    return cases


# --------------------------------------------------------------------------- permissions


@contextmanager
def world_readable_tmpdir() -> Iterator[Path]:
    """A temporary folder that user ``nobody`` can traverse (pytest's tmp_path is 0700 for root)."""
    d = Path(tempfile.mkdtemp(prefix="svcprep-perm-", dir="/tmp"))
    try:
        d.chmod(0o755)
        yield d
    finally:
        for sub, dirs, files in os.walk(d):
            for name in dirs + files:
                p = os.path.join(sub, name)
                if not os.path.islink(p):
                    os.chmod(p, stat.S_IRWXU)
        shutil.rmtree(d, ignore_errors=True)


def make_unreadable(path: Path) -> None:
    """Remove every permission bit of ``path`` (a file or folder)."""
    path.chmod(0)


_PRELUDE = """
import json, os, sys
sys.path.insert(0, {repo!r})
"""
_SETUID = """
import numpy, soundfile, soxr  # load what the code needs before losing access to site-packages
import svcprep.audio, svcprep.sources
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
"""
_CAPS_DROPPED = 97


def _drop_permission_override() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, from the bounding set
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            os._exit(_CAPS_DROPPED)


def run_unprivileged(code: str) -> dict[str, object] | None:
    """Run ``code`` in a child Python that cannot read ``chmod 000`` files.

    Not root: a plain child (file permissions apply anyway). Root on Linux: the child
    stays root but loses ``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH`` (dropped
    from its capability bounding set before exec, so its own children lose them too):
    it can still use everything root owns (the interpreter, site-packages, pytest's
    0700 tmp_path) but not files or folders whose permission bits deny access. If that
    is not allowed, it falls back to switching to user nobody (65534) after importing
    svcprep (the code then only sees world-readable paths, see
    :func:`world_readable_tmpdir`). ``subprocess.run(user=65534)`` is not used: it fails
    when the interpreter lives where nobody may not enter (e.g. /root/.pyenv).

    The code must print one JSON object on its last line of stdout; it is returned.
    Returns None when the child could not lose its privileges (the caller should skip).
    """
    script = _PRELUDE.format(repo=str(REPO_ROOT)) + code
    run = partial(subprocess.run, capture_output=True, text=True, timeout=300, cwd="/", check=False)
    if os.geteuid() != 0:
        proc = run([sys.executable, "-c", script])
    else:
        proc = None
        if sys.platform.startswith("linux"):
            proc = run([sys.executable, "-c", script], preexec_fn=_drop_permission_override)
            if proc.returncode == _CAPS_DROPPED:
                proc = None
        if proc is None:
            proc = run([sys.executable, "-c", _PRELUDE.format(repo=str(REPO_ROOT)) + _SETUID + code])
            if proc.returncode != 0 and "PermissionError" in proc.stderr and "setuid" in proc.stderr:
                return None
    if proc.returncode != 0:
        raise RuntimeError(f"unprivileged child failed:\n{proc.stderr}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    result: dict[str, object] = json.loads(lines[-1])
    return result


def permission_denied_observable(path: Path) -> bool:
    """Whether a child from :func:`run_unprivileged` really gets EACCES on ``path``."""
    res = run_unprivileged(
        f"""
try:
    open({str(path)!r}, "rb").close()
    print(json.dumps({{"denied": False}}))
except PermissionError:
    print(json.dumps({{"denied": True}}))
"""
    )
    return bool(res and res.get("denied"))
