"""Decoding and encoding of audio files: the only module of svcprep that touches codecs.

:func:`load_audio` decodes any format libsndfile reads (WAV, RF64, W64, FLAC, Ogg
Vorbis/Opus, MP3, AIFF, CAF, AU ...) block by block, downmixes each block to mono,
resamples it with a streaming soxr resampler and writes the result into one
preallocated float32 array. Peak memory is about one mono float32 copy of the result
plus one decoded block, whatever the length of the file.

Damaged inputs raise a subclass of :class:`svcprep.errors.AudioDecodeError` whose
``reason`` is a stable code and whose message says what is wrong. What can be
detected depends on the container:

* WAV / RF64 / W64 / AIFF / AU: the header declares the data size. A file cut short
  has fewer frames than declared -> :class:`TruncatedAudioError` with both counts.
  A sample rate of 0 in the header -> :class:`SourceRateError`.
* FLAC: STREAMINFO declares the total; a cut file fails to decode or yields fewer
  frames -> :class:`TruncatedAudioError`.
* MP3: there is no reliable length in the format. With a Xing/Info/VBRI header
  (what LAME and libsndfile write) the frame count is exact and a cut file yields
  fewer frames -> truncated. Without one, libsndfile only *estimates* the length
  from the first frame's bit rate and never decodes past that estimate, so the
  stream's MPEG frames are walked here: a last frame that runs past the end of the
  file means the file was cut (truncated), and an estimate far below the walked
  length raises :class:`AudioDecodeError` instead of silently dropping audio. A
  file cut exactly on a frame boundary cannot be told from a shorter recording.
* Ogg (Vorbis, Opus): the length comes from the last intact page, so a cut is
  found from the stream's structure instead: the last page must be complete and
  carry the end-of-stream flag. The original length is unknowable.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf

from svcprep.dsp.resample import ResampleQuality, StreamResampler, resampled_length
from svcprep.errors import (
    AudioDecodeError,
    EmptyAudioError,
    NonFiniteAudioError,
    SourceRateError,
    TruncatedAudioError,
)

__all__ = ["AudioInfo", "LoadedAudio", "load_audio", "probe", "write_audio"]

PathLike = str | os.PathLike[str]

#: Peak level reported for digital silence (instead of -inf, which is not valid JSON).
SILENCE_DBFS = -240.0
#: Channels whose RMS is below this are treated as silent (no cancellation flag).
_SILENT_RMS = 1e-7
#: Extra output samples allocated beyond the expected length.
_SLACK = 64
#: Most frames per byte of file a compressed stream is trusted to hold before decoding
#: proves it (Opus DTX or FLAC constant blocks of silence stay well below this). The
#: output buffer is first sized from the header only up to this bound, then grows as
#: frames really decode, so a header that lies about the length cannot allocate much.
_MAX_FRAMES_PER_BYTE = 64
#: A declared length above this many frames per byte of file cannot be real audio: the
#: header is damaged (rather than the file cut short).
_IMPOSSIBLE_FRAMES_PER_BYTE = 1 << 14
#: A channel this many dB (RMS) below the loudest one is dead: ``dead_channel``, and the
#: downmix is the mean of the live channels. Real stereo vocal takes differ by at most
#: ~20 dB between channels; an unplugged input reads digital zero or its own noise floor.
DEAD_CHANNEL_DB = 50.0
#: Lossy codecs: the loader reports their bitrate (``codec_kbps_per_channel``).
_LOSSY_FORMATS = frozenset({"MP3", "MPEG"})
_LOSSY_SUBTYPES = frozenset({"VORBIS", "OPUS", "MPEG_LAYER_III", "MPEG_LAYER_II", "MPEG_LAYER_I"})
#: MP3's declared length is the encoder's count with its delay and padding: decoders return
#: up to a couple of 1152-sample granules fewer (a complete 56 kbit/s file: 697 fewer).
_MP3_LENGTH_TOLERANCE_FRAMES = 4 * 1152
#: Bytes of one decoded block at most (many channels shorten the block, not the result).
_MAX_BLOCK_BYTES = 1 << 26


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says.

    Attributes
    ----------
    sample_rate_hz
        Sample rate in Hz.
    channels
        Number of channels.
    frames
        Frames per channel as libsndfile reports them (an estimate for MP3 files
        without a Xing/Info header).
    format
        libsndfile container name, e.g. ``"WAV"``, ``"FLAC"``, ``"OGG"``, ``"MP3"``.
    subtype
        libsndfile sample format, e.g. ``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``.
    """

    sample_rate_hz: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        """Duration in seconds (``frames / sample_rate_hz``)."""
        return self.frames / self.sample_rate_hz if self.sample_rate_hz > 0 else 0.0


@dataclass(frozen=True)
class LoadedAudio:
    """A decoded, downmixed and resampled input.

    Attributes
    ----------
    samples
        float32 mono, 1-D, finite, at ``sample_rate_hz``.
    sample_rate_hz
        Rate of ``samples`` (the target rate).
    info
        Header information of the source file.
    flags
        Quality flags raised while loading, e.g. ``("channel_cancellation",)``.
    metrics
        ``source_sample_rate_hz``, ``channels``, ``source_frames``,
        ``source_duration_s``, ``downmix_rms_ratio`` (RMS of the mono downmix over
        the mean RMS of the channels; 1.0 for mono or silent input),
        ``source_peak_dbfs`` (over all channels; ``SILENCE_DBFS`` for silence) and
        ``source_rms_dbfs`` (of the downmix).
    """

    samples: npt.NDArray[np.float32]
    sample_rate_hz: int
    info: AudioInfo
    flags: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def _show(path: PathLike | bytes) -> str:
    """A printable form of a path, even when its bytes are not UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _dbfs(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0 else SILENCE_DBFS


@dataclass
class _Container:
    """What svcprep's own reading of the container found (beyond libsndfile)."""

    sample_rate_hz: int | None = None
    declared_frames: int | None = None
    truncated: str | None = None  # a message when the structure proves the file was cut
    mp3_walk_samples: int | None = None


_PCM_TAGS = {0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE}
_AU_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}
_W64_RIFF = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"


def _riff(f: BinaryIO, size: int, head: bytes) -> _Container:
    end = "<" if head[:4] != b"RIFX" else ">"
    c = _Container()
    pos = 12
    block_align = 0
    tag = 0
    ds64_data: int | None = None
    while pos + 8 <= size:
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            break
        cid, csize = hdr[:4], struct.unpack(end + "I", hdr[4:])[0]
        if cid == b"ds64":
            body = f.read(24)
            if len(body) == 24:
                ds64_data = struct.unpack("<Q", body[8:16])[0]
        elif cid == b"fmt ":
            body = f.read(16)
            if len(body) >= 14:
                tag, _ch, sr, _bps, block_align = struct.unpack(end + "HHIIH", body[:14])
                c.sample_rate_hz = sr
        elif cid == b"data":
            data_size = csize
            if csize == 0xFFFFFFFF and ds64_data is not None:
                data_size = ds64_data
            if data_size not in (0, 0xFFFFFFFF) and block_align > 0 and tag in _PCM_TAGS:
                c.declared_frames = data_size // block_align
            break
        pos += 8 + csize + (csize & 1)
    return c


def _w64(f: BinaryIO, size: int) -> _Container:
    c = _Container()
    pos = 40  # riff GUID + size + wave GUID
    block_align = 0
    tag = 0
    while pos + 24 <= size:
        f.seek(pos)
        hdr = f.read(24)
        if len(hdr) < 24:
            break
        cid, csize = hdr[:4], struct.unpack("<Q", hdr[16:24])[0]
        if csize < 24:
            break
        if cid == b"fmt ":
            body = f.read(16)
            if len(body) >= 14:
                tag, _ch, sr, _bps, block_align = struct.unpack("<HHIIH", body[:14])
                c.sample_rate_hz = sr
        elif cid == b"data":
            if block_align > 0 and tag in _PCM_TAGS:
                c.declared_frames = (csize - 24) // block_align
            break
        pos += (csize + 7) // 8 * 8
    return c


def _extended_to_float(b: bytes) -> float:
    expon = struct.unpack(">H", b[:2])[0]
    mant = struct.unpack(">Q", b[2:10])[0]
    sign = -1.0 if expon & 0x8000 else 1.0
    expon &= 0x7FFF
    if expon == 0 and mant == 0:
        return 0.0
    return sign * math.ldexp(mant, expon - 16383 - 63)


def _aiff(f: BinaryIO, size: int) -> _Container:
    c = _Container()
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            break
        cid, csize = hdr[:4], struct.unpack(">I", hdr[4:])[0]
        if cid == b"COMM":
            body = f.read(18)
            if len(body) >= 18:
                c.declared_frames = struct.unpack(">I", body[2:6])[0]
                with contextlib.suppress(OverflowError):
                    c.sample_rate_hz = round(_extended_to_float(body[8:18]))
            break
        pos += 8 + csize + (csize & 1)
    return c


def _au(head: bytes) -> _Container:
    c = _Container()
    if len(head) >= 24:
        _off, dsize, enc, sr, ch = struct.unpack(">IIIII", head[4:24])
        c.sample_rate_hz = sr
        nbytes = _AU_BYTES.get(enc)
        if dsize != 0xFFFFFFFF and nbytes and ch > 0:
            c.declared_frames = dsize // (nbytes * ch)
    return c


def _flac(head: bytes) -> _Container:
    c = _Container()
    # fLaC, block header (4), STREAMINFO: 2+2+3+3 bytes, then 20 bits of sample rate
    if len(head) >= 8 + 18 and (head[4] & 0x7F) == 0:
        bits = int.from_bytes(head[8 + 10 : 8 + 18], "big")
        c.sample_rate_hz = bits >> 44
    return c


def _ogg(f: BinaryIO, size: int) -> _Container:
    """Check that the last Ogg page is complete and ends the stream."""
    c = _Container()
    tail_len = min(size, 1 << 18)
    base = size - tail_len
    f.seek(base)
    tail = f.read(tail_len)
    cand = tail.find(b"OggS")
    while cand >= 0:
        pos = cand
        last_flags = -1
        while pos + 27 <= len(tail) and tail[pos : pos + 4] == b"OggS" and tail[pos + 4] == 0:
            nseg = tail[pos + 26]
            seg_end = pos + 27 + nseg
            if seg_end > len(tail):
                c.truncated = "the last Ogg page header is incomplete"
                return c
            body = sum(tail[pos + 27 : seg_end])
            if seg_end + body > len(tail):
                c.truncated = (
                    f"the last Ogg page is incomplete ({len(tail) - seg_end} of {body} bytes present)"
                )
                return c
            last_flags = tail[pos + 5]
            pos = seg_end + body
        if pos == len(tail) and last_flags >= 0:
            if not last_flags & 0x04:
                c.truncated = "the Ogg stream ends without its end-of-stream page"
            return c
        if pos + 27 > len(tail) and pos < len(tail) and last_flags >= 0:
            c.truncated = "the last Ogg page header is incomplete"
            return c
        cand = tail.find(b"OggS", cand + 1)
    return c


# MPEG audio: bit rates (kbit/s) by [version is MPEG-1][layer], sample rates by version.
_MP3_BR = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_SR = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame(h: int) -> tuple[int, int] | None:
    """(frame length in bytes, samples per frame) of a 4-byte MPEG audio header, or None."""
    if (h >> 21) & 0x7FF != 0x7FF:
        return None
    ver, layer_bits, br_i, sr_i, pad = (
        (h >> 19) & 3,
        (h >> 17) & 3,
        (h >> 12) & 15,
        (h >> 10) & 3,
        (h >> 9) & 1,
    )
    if ver == 1 or layer_bits == 0 or br_i in (0, 15) or sr_i == 3:
        return None
    layer = 4 - layer_bits
    mpeg1 = ver == 3
    br = _MP3_BR[(mpeg1, min(layer, 3) if not mpeg1 else layer)][br_i] * 1000
    sr = _MP3_SR[ver][sr_i]
    if layer == 1:
        return (12 * br // sr + pad) * 4, 384
    spf = 1152 if (layer == 2 or mpeg1) else 576
    return spf // 8 * br // sr + pad, spf


def _mp3(f: BinaryIO, size: int) -> _Container:
    """Walk the MPEG frames: count samples, find a cut last frame."""
    c = _Container()
    if size < 4:
        return c
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        pos = 0
        if m[:3] == b"ID3" and size >= 10:
            pos = 10 + ((m[6] & 0x7F) << 21 | (m[7] & 0x7F) << 14 | (m[8] & 0x7F) << 7 | (m[9] & 0x7F))
            if m[5] & 0x10:
                pos += 10
        start = pos
        end = size
        if end >= 128 and m[end - 128 : end - 125] == b"TAG":
            end -= 128
        samples = 0
        frames = 0
        while pos + 4 <= end:
            fr = _mp3_frame(int.from_bytes(m[pos : pos + 4], "big"))
            if fr is None:
                if frames == 0 and pos < start + 65536:
                    nxt = m.find(b"\xff", pos + 1, min(end, pos + 65536))
                    if nxt < 0:
                        break
                    pos = nxt
                    continue
                break  # trailing tags (APE, Lyrics) or junk after the stream
            length, spf = fr
            if length < 4:
                break
            if pos + length > end:
                if frames < 2:  # a lone sync-like pattern in junk proves nothing
                    break
                c.truncated = (
                    f"the last MPEG frame is cut ({end - pos} of {length} bytes present at byte {pos})"
                )
                break
            frames += 1
            samples += spf
            pos += length
        if frames:
            c.mp3_walk_samples = samples
    return c


def _inspect(f: BinaryIO, size: int, suffix: str) -> _Container:
    f.seek(0)
    head = f.read(64)
    if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return _riff(f, size, head)
    if head[:16] == _W64_RIFF:
        return _w64(f, size)
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return _aiff(f, size)
    if head[:4] == b".snd":
        return _au(head)
    if head[:4] == b"fLaC":
        return _flac(head)
    if head[:4] == b"OggS":
        return _ogg(f, size)
    if suffix == ".mp3" or head[:3] == b"ID3":
        return _mp3(f, size)
    return _Container()


def _open_checked(path: PathLike) -> tuple[Path, str, BinaryIO, int]:
    p = Path(path)
    shown = _show(p)
    try:
        fh = open(p, "rb")  # noqa: SIM115 - closed by the caller
    except PermissionError:
        raise AudioDecodeError(
            f"{shown}: permission denied: the file cannot be read by this user (check its permissions)"
        ) from None
    except FileNotFoundError:
        raise AudioDecodeError(f"{shown}: file not found") from None
    except IsADirectoryError:
        raise AudioDecodeError(f"{shown}: is a directory, not an audio file") from None
    except OSError as err:
        raise AudioDecodeError(f"{shown}: cannot open: {err.strerror or err}") from None
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        fh.close()
        raise EmptyAudioError(f"{shown}: the file is empty (0 bytes)")
    return p, shown, fh, size


def _sf_open(p: Path, shown: str, container: _Container) -> sf.SoundFile:
    try:
        return sf.SoundFile(os.fsencode(p))
    except sf.LibsndfileError as err:
        if container.sample_rate_hz == 0:
            raise SourceRateError(
                f"{shown}: the header declares a sample rate of 0 Hz; the file is damaged "
                "(re-export it from the original recording)"
            ) from None
        if container.truncated:
            raise TruncatedAudioError(f"{shown}: the file is cut short: {container.truncated}") from None
        msg = err.error_string
        if "not a regular file" in msg or "does not exist" in msg:
            # libsndfile's MP3 reader says this of any stream without MPEG frames; the file
            # itself was opened above, so the message would only mislead.
            raise AudioDecodeError(
                f"{shown}: cannot decode: no audio stream libsndfile can read was found in it "
                f"({'no valid MPEG audio frames' if p.suffix.lower() == '.mp3' else 'not audio or damaged'}"
                "; check that it plays, or convert it to FLAC/WAV with ffmpeg)"
            ) from None
        raise AudioDecodeError(
            f"{shown}: cannot decode: libsndfile says {msg!r} (unknown format, not audio or damaged; "
            "check that it plays, or convert it to FLAC/WAV with ffmpeg)"
        ) from None
    except (RuntimeError, OSError, ValueError) as err:
        raise AudioDecodeError(f"{shown}: cannot decode: {err}") from None


def _info_of(snd: sf.SoundFile) -> AudioInfo:
    return AudioInfo(
        sample_rate_hz=int(snd.samplerate),
        channels=int(snd.channels),
        frames=int(snd.frames),
        format=str(snd.format),
        subtype=str(snd.subtype),
    )


def _check_structure(shown: str, info: AudioInfo, c: _Container) -> None:
    """Raise for problems visible before decoding (rate, cut containers)."""
    if c.sample_rate_hz == 0 or info.sample_rate_hz <= 0:
        raise SourceRateError(f"{shown}: the header declares a sample rate of 0 Hz; the file is damaged")
    if c.truncated:
        if info.format == "MP3":
            known = f"libsndfile expects {info.frames} frames"
        else:
            known = f"{info.frames} frames can be read; the original length is unknown"
        raise TruncatedAudioError(f"{shown}: the file is cut short: {c.truncated} ({known})")
    if c.declared_frames is not None and c.declared_frames > info.frames:
        raise TruncatedAudioError(
            f"{shown}: the file is cut short: the header declares {c.declared_frames} frames but only "
            f"{info.frames} are present"
        )
    if info.format == "MP3" and c.mp3_walk_samples is not None:
        # libsndfile never decodes past its frame count; with no Xing header that count is
        # a bit-rate estimate. Refuse rather than silently drop audio.
        slack = 2 * 1152 + 2 * 576  # encoder delay and padding removed by the decoder
        if info.frames + slack < c.mp3_walk_samples * 0.98:
            raise AudioDecodeError(
                f"{shown}: libsndfile estimates {info.frames} frames for this MP3 (no Xing/Info header) "
                f"but its MPEG frames hold about {c.mp3_walk_samples}; decoding would drop audio. "
                "Re-encode it (e.g. ffmpeg -i in.mp3 out.flac)"
            )


def _check_rate_range(shown: str, sr: int, lo: int, hi: int) -> None:
    if sr < lo:
        raise SourceRateError(
            f"{shown}: recorded at {sr} Hz, below load.min_source_sample_rate_hz={lo}: too band-limited "
            "to use (lower the setting to accept it)"
        )
    if sr > hi:
        raise SourceRateError(
            f"{shown}: recorded at {sr} Hz, above load.max_source_sample_rate_hz={hi} "
            "(raise the setting to accept it)"
        )


def _length_tolerance(info: AudioInfo) -> int:
    """Frames a complete file may decode short of its header's count (MP3 only)."""
    lossy_mpeg = info.format in _LOSSY_FORMATS or info.subtype.startswith("MPEG_LAYER")
    return _MP3_LENGTH_TOLERANCE_FRAMES if lossy_mpeg else 0


def _raise_short(shown: str, info: AudioInfo, size: int, n_in: int, *, detail: str = "") -> None:
    """Fewer frames decoded than declared: a damaged header when the claim is impossible."""
    if info.frames > size * _IMPOSSIBLE_FRAMES_PER_BYTE:
        hours = info.frames / info.sample_rate_hz / 3600
        raise AudioDecodeError(
            f"{shown}: the header is damaged: it declares {info.frames} frames ({hours:.0f} h), more "
            f"than a file of {size} bytes can hold, and {n_in} frames decode{detail}; re-export the "
            "file from the original recording"
        )
    if not detail:
        raise TruncatedAudioError(
            f"{shown}: the file is cut short: the header declares {info.frames} frames but only "
            f"{n_in} could be read"
        )


# --------------------------------------------------------------------------- public API


def probe(path: PathLike) -> AudioInfo:
    """Read the header of an audio file without decoding its samples.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    AudioInfo
        Rate, channels, frames, container and sample format as libsndfile reports them.

    Raises
    ------
    EmptyAudioError
        The file has 0 bytes.
    SourceRateError
        The header declares a sample rate of 0.
    TruncatedAudioError
        The container structure shows that the file was cut short.
    AudioDecodeError
        The file cannot be opened or is not audio libsndfile can read.
    """
    p, shown, fh, size = _open_checked(path)
    with fh:
        container = _inspect(fh, size, p.suffix.lower())
    with _sf_open(p, shown, container) as snd:
        info = _info_of(snd)
    _check_structure(shown, info, container)
    return info


def load_audio(
    path: PathLike,
    *,
    target_sr_hz: int = 44100,
    quality: ResampleQuality = "VHQ",
    min_source_sample_rate_hz: int = 8000,
    max_source_sample_rate_hz: int = 384000,
    cancellation_ratio: float = 0.25,
    block_frames: int = 1 << 20,
    out: npt.NDArray[np.float32] | None = None,
) -> LoadedAudio:
    """Decode, downmix and resample an audio file, block by block.

    Parameters
    ----------
    path
        The file (any name, including non-UTF-8 bytes). It is only read.
    target_sr_hz
        Rate of the returned samples.
    quality
        soxr recipe (``load.resample_quality``).
    min_source_sample_rate_hz, max_source_sample_rate_hz
        Accepted range of source rates (``load.*_source_sample_rate_hz``).
    cancellation_ratio
        Flag ``channel_cancellation`` when RMS(mono) < this * mean RMS of the
        channels and the channels are not silent (``load.cancellation_ratio``).
    block_frames
        Frames decoded per block (``load.block_frames``); does not change the result.
    out
        Optional 1-D float32 buffer to write into; the result's ``samples`` is then
        ``out[:n]`` (a view). It must hold at least
        ``resampled_length(frames, ...)`` samples, else ``ValueError``.

    Returns
    -------
    LoadedAudio
        float32 mono finite samples at ``target_sr_hz`` with the source's info,
        flags and metrics. Digital silence loads fine.

    Raises
    ------
    EmptyAudioError
        0-byte file or a header with 0 frames.
    TruncatedAudioError
        Fewer frames than the header declares (see the module notes per format).
    NonFiniteAudioError
        NaN or infinite samples (the message gives their count and the first frame).
    SourceRateError
        Sample rate 0 or outside the accepted range.
    AudioDecodeError
        Unreadable (permission denied, missing), unknown format or a decoder error.
    """
    if block_frames < 1:
        raise ValueError(f"block_frames={block_frames} must be positive")
    if not 0.0 <= cancellation_ratio <= 1.0:
        raise ValueError(f"cancellation_ratio={cancellation_ratio} must be within [0, 1]")
    p, shown, fh, size = _open_checked(path)
    with fh:
        container = _inspect(fh, size, p.suffix.lower())
    with _sf_open(p, shown, container) as snd:
        info = _info_of(snd)
        _check_structure(shown, info, container)
        _check_rate_range(shown, info.sample_rate_hz, min_source_sample_rate_hz, max_source_sample_rate_hz)
        if info.frames <= 0:
            raise EmptyAudioError(f"{shown}: the header declares 0 frames: there is no audio in the file")
        if info.channels < 1:
            raise AudioDecodeError(f"{shown}: the header declares {info.channels} channels")

        # The header's length is a claim: size the buffer by what a file this big can hold
        # and let it grow as frames really decode (a lying header then costs nothing).
        plausible = min(info.frames, max(size * _MAX_FRAMES_PER_BYTE, 1 << 16))
        expected = resampled_length(plausible, orig_sr_hz=info.sample_rate_hz, target_sr_hz=target_sr_hz)
        if out is not None:
            if out.ndim != 1 or out.dtype != np.float32:
                raise ValueError(f"out must be a 1-D float32 array, got {out.dtype} with shape {out.shape}")
            needed = resampled_length(info.frames, orig_sr_hz=info.sample_rate_hz, target_sr_hz=target_sr_hz)
            if out.size < needed:
                raise ValueError(f"out holds {out.size} samples; this file needs {needed}")
            buf = out
        else:
            buf = np.empty(expected + _SLACK, dtype=np.float32)

        rs = StreamResampler(orig_sr_hz=info.sample_rate_hz, target_sr_hz=target_sr_hz, quality=quality)
        nch = info.channels
        block_rows = min(block_frames, plausible, max(1024, _MAX_BLOCK_BYTES // (4 * nch)))
        block = np.empty((block_rows, nch), dtype=np.float32)
        n_in = 0
        n_out = 0
        ch_sumsq = np.zeros(nch, dtype=np.float64)
        mono_sumsq = 0.0
        peak = 0.0
        bad_count = 0
        bad_first = -1

        def put(y: npt.NDArray[np.float32]) -> None:
            nonlocal buf, n_out
            if n_out + y.size > buf.size:
                grown = np.empty(max(n_out + y.size, buf.size + buf.size // 4) + _SLACK, dtype=np.float32)
                grown[:n_out] = buf[:n_out]
                buf = grown
            buf[n_out : n_out + y.size] = y
            n_out += y.size

        while True:
            try:
                got = snd.read(out=block)
            except (sf.LibsndfileError, RuntimeError) as err:
                msg = getattr(err, "error_string", str(err))
                if n_in < info.frames:
                    _raise_short(shown, info, size, n_in, detail=f" (libsndfile says {msg!r})")
                    raise TruncatedAudioError(
                        f"{shown}: decoding failed in the block starting at frame {n_in}, before the "
                        f"{info.frames} frames the header declares were read (libsndfile says {msg!r}): "
                        "the file is cut short or damaged"
                    ) from None
                raise AudioDecodeError(f"{shown}: decoding failed: libsndfile says {msg!r}") from None
            k = got.shape[0]
            if k == 0:
                break
            finite = np.isfinite(got)
            if not finite.all():
                rows = np.flatnonzero(~finite.all(axis=1))
                if bad_count == 0:
                    bad_first = n_in + int(rows[0])
                bad_count += int((~finite).sum())
            if bad_count == 0:
                mono = got[:, 0] if nch == 1 else got.mean(axis=1, dtype=np.float32)
                ch_sumsq += np.einsum("ij,ij->j", got, got, dtype=np.float64)
                mono_sumsq += float(np.dot(mono.astype(np.float64), mono))
                peak = max(peak, float(np.max(np.abs(got))))
                put(rs.process(mono))
            n_in += k
        if bad_count:
            raise NonFiniteAudioError(
                f"{shown}: {bad_count} sample(s) are NaN or infinite, the first in frame {bad_first} "
                f"({bad_first / info.sample_rate_hz:.3f} s); the file is damaged"
            )
        if n_in < info.frames - _length_tolerance(info):
            _raise_short(shown, info, size, n_in)
        if n_in == 0:
            raise EmptyAudioError(f"{shown}: no audio frames could be decoded")
        put(rs.process(np.zeros(0, dtype=np.float32), last=True))

    samples = buf[:n_out]
    if out is None and buf.size - n_out > _SLACK:
        samples = samples.copy()  # do not pin a much larger buffer
    ch_rms = np.sqrt(ch_sumsq / n_in)
    mean_ch_rms = float(ch_rms.mean())
    mono_rms = math.sqrt(mono_sumsq / n_in)
    ratio = mono_rms / mean_ch_rms if (nch > 1 and mean_ch_rms > _SILENT_RMS) else 1.0
    flags: list[str] = []
    loudest = float(ch_rms.max())
    quietest_db = _dbfs(float(ch_rms.min()) / loudest) if (nch > 1 and loudest > _SILENT_RMS) else 0.0
    dead = ch_rms < loudest * 10.0 ** (-DEAD_CHANNEL_DB / 20.0)
    if nch > 1 and loudest > _SILENT_RMS and dead.any():
        # A dead channel only halves the downmix: scale it back to the live channels' mean
        # (exact when the dead one is digital zero; the resampler is linear).
        flags.append("dead_channel")
        gain = np.float32(nch / int(nch - dead.sum()))
        samples = samples * gain
        mono_rms *= float(gain)
    elif nch > 1 and mean_ch_rms > _SILENT_RMS and mono_rms < cancellation_ratio * mean_ch_rms:
        flags.append("channel_cancellation")
    metrics = {
        "source_sample_rate_hz": float(info.sample_rate_hz),
        "channels": float(nch),
        "source_frames": float(n_in),
        "source_duration_s": n_in / info.sample_rate_hz,
        "downmix_rms_ratio": float(ratio),
        "source_peak_dbfs": _dbfs(peak),
        "source_rms_dbfs": _dbfs(mono_rms),
        "quietest_channel_db": float(quietest_db),
    }
    if info.format in _LOSSY_FORMATS or info.subtype in _LOSSY_SUBTYPES:
        # what the file spends per second of audio, per channel (container overhead included)
        metrics["codec_kbps_per_channel"] = size * 8.0 / 1000.0 / max(n_in / info.sample_rate_hz, 1e-9) / nch
    return LoadedAudio(
        samples=samples,
        sample_rate_hz=int(target_sr_hz),
        info=info,
        flags=tuple(flags),
        metrics=metrics,
    )


def _zero_peak_time(path: Path) -> None:
    """Zero the time stamp of libsndfile's PEAK chunk, so equal audio gives equal bytes.

    libsndfile writes a PEAK chunk (version, time stamp, per-channel peaks) into float WAV
    files; its time stamp is the only part that differs between two writes of the same samples.
    """
    with open(path, "r+b") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        while True:
            f.seek(pos)
            hdr = f.read(8)
            if len(hdr) < 8 or hdr[:4] == b"data":
                return
            size = struct.unpack("<I", hdr[4:])[0]
            if hdr[:4] == b"PEAK" and size >= 8:
                f.seek(pos + 8 + 4)
                f.write(b"\0\0\0\0")
                return
            pos += 8 + size + (size & 1)


_FORMAT_BY_SUFFIX = {
    ".wav": "WAV",
    ".wave": "WAV",
    ".flac": "FLAC",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".opus": "OGG",
    ".mp3": "MP3",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".aifc": "AIFF",
    ".w64": "W64",
    ".rf64": "RF64",
    ".caf": "CAF",
    ".au": "AU",
    ".snd": "AU",
}


def write_audio(path: PathLike, y: npt.ArrayLike, *, sample_rate_hz: int, subtype: str = "PCM_16") -> None:
    """Write mono audio atomically: a temporary file in the same folder, then ``os.replace``.

    Readers never see a half-written file; a failed write leaves the old file (if any)
    untouched and no temporary behind.

    Parameters
    ----------
    path
        Destination; the container comes from its extension (``.wav``, ``.flac`` ...).
    y
        1-D finite audio. For integer subtypes (``PCM_*``) it is clipped to [-1, 1]
        first, so a level above full scale cannot wrap around.
    sample_rate_hz
        Rate of ``y``.
    subtype
        libsndfile sample format, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``.

    Raises
    ------
    ValueError
        ``y`` is not 1-D, the rate is not positive, or the extension/subtype is unknown.
    NonFiniteAudioError
        ``y`` contains NaN or infinity.
    """
    p = Path(path)
    fmt = _FORMAT_BY_SUFFIX.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the audio format from {_show(p)!r}: use one of "
            + ", ".join(sorted(_FORMAT_BY_SUFFIX))
        )
    if sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz={sample_rate_hz} must be positive")
    if not sf.check_format(fmt, subtype):
        raise ValueError(f"subtype {subtype!r} cannot be written in a {fmt} file")
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(f"write_audio expects 1-D mono audio, got shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    finite = np.isfinite(a)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise NonFiniteAudioError(
            f"refusing to write {_show(p)}: {bad.size} non-finite sample(s), the first at index {bad[0]}"
        )
    if subtype.startswith("PCM") or subtype in ("ULAW", "ALAW"):
        a = np.clip(a, -1.0, 1.0)
    # a bounded temporary name: the final name may already be near the 255-byte limit
    stem = os.fsencode(p.stem)[:96].decode("utf-8", "ignore")
    tmp = p.with_name(f".{stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{p.suffix[:16]}")
    try:
        try:
            sf.write(os.fsencode(tmp), a, int(sample_rate_hz), subtype=subtype, format=fmt)
        except sf.LibsndfileError as err:
            raise OSError(f"libsndfile cannot write {_show(p)}: {err.error_string}") from None
        if fmt == "WAV":
            _zero_peak_time(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
