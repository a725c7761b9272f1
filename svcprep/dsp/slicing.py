"""Cutting long recordings into training segments at silences.

:func:`slice_audio` finds the voiced stretches of a recording from a frame RMS
envelope, keeps a margin of silence at their edges, cuts stretches that are too long
at their quietest points and merges (or drops, with a reason) pieces that are too
short. Every returned segment is guaranteed to last between ``min_segment_s`` and
``max_segment_s``.

The envelope is computed block by block, so a read-only ``np.memmap`` of an hour of
audio is sliced with O(n / hop) extra memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from svcprep.dsp.frames import num_frames
from svcprep.errors import ConfigError, NonFiniteAudioError

__all__ = [
    "CUT_TOLERANCE_DB",
    "SILENCE_FLOOR_DBFS",
    "DroppedPiece",
    "Segment",
    "SliceResult",
    "frame_envelope_db",
    "slice_audio",
]

#: Frames below this RMS level are silent whatever the loudest frame is.
SILENCE_FLOOR_DBFS = -90.0
#: Frames this close to the quietest one are equally good places to cut a long stretch.
CUT_TOLERANCE_DB = 3.0
_BLOCK_SAMPLES = 1 << 20  # samples read (as float64) per block of the envelope


@dataclass(frozen=True)
class Segment:
    """A segment to keep: samples ``[start, end)`` of the source."""

    start: int
    end: int

    @property
    def n_samples(self) -> int:
        """Length in samples."""
        return self.end - self.start


@dataclass(frozen=True)
class DroppedPiece:
    """Audio that holds sound but could not become a segment, with the reason why."""

    start: int
    end: int
    reason: str


@dataclass(frozen=True)
class SliceResult:
    """The outcome of :func:`slice_audio`.

    Attributes
    ----------
    segments
        Segments in time order, non-overlapping, each within the length bounds.
    dropped
        Pieces with sound that were left out, in time order, each with a reason.
    silent
        True when no frame of the input rises above the silence floor (digital
        silence, or an empty input).
    """

    segments: tuple[Segment, ...]
    dropped: tuple[DroppedPiece, ...]
    silent: bool


def _check_params(
    *,
    sample_rate_hz: float,
    min_segment_s: float,
    max_segment_s: float,
    silence_top_db: float,
    min_silence_s: float,
    margin_s: float,
    frame_s: float,
    hop_s: float,
) -> None:
    if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise ConfigError(f"slice_audio: sample_rate_hz={sample_rate_hz} must be a positive number")
    for name, value in (("min_segment_s", min_segment_s), ("max_segment_s", max_segment_s)):
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"slice.{name}={value} must be a positive number of seconds")
    if min_segment_s >= max_segment_s:
        raise ConfigError(
            f"slice.min_segment_s={min_segment_s} must be below slice.max_segment_s={max_segment_s}: "
            "lower min_segment_s or raise max_segment_s"
        )
    if not (math.isfinite(silence_top_db) and silence_top_db > 0):
        raise ConfigError(f"slice.silence_top_db={silence_top_db} must be a positive number of dB")
    for name, value in (("min_silence_s", min_silence_s), ("margin_s", margin_s)):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"slice.{name}={value} must be zero or a positive number of seconds")
    for name, value in (("frame_s", frame_s), ("hop_s", hop_s)):
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"slice.{name}={value} must be a positive number of seconds")
    if hop_s > frame_s:
        raise ConfigError(f"slice.hop_s={hop_s} must not exceed slice.frame_s={frame_s}")


def frame_envelope_db(
    y: npt.NDArray[np.floating], *, frame_length: int, hop_length: int
) -> npt.NDArray[np.float32]:
    """RMS level in dBFS of frames centred at ``i * hop_length``, computed in blocks.

    Frame ``i`` covers samples ``[i*hop - frame_length//2, i*hop - frame_length//2 +
    frame_length)`` clipped to the signal, and its RMS is taken over the samples it
    covers. There are ``len(y) // hop_length + 1`` frames (the centred grid of
    :mod:`svcprep.dsp.frames`). Only one block of samples at a time is converted to
    float64, so ``y`` may be a memory map of any length.

    Parameters
    ----------
    y
        Mono audio (any floating dtype, possibly a read-only memory map).
    frame_length, hop_length
        In samples, both >= 1.

    Returns
    -------
    numpy.ndarray
        float32 levels in dBFS (digital silence reads -200 dBFS).
    """
    n = int(y.shape[0])
    n_fr = num_frames(n, hop_length=hop_length)
    out = np.empty(n_fr, dtype=np.float32)
    half = frame_length // 2
    block = max(16, _BLOCK_SAMPLES // hop_length)
    for f0 in range(0, n_fr, block):
        f1 = min(n_fr, f0 + block)
        starts = np.arange(f0, f1, dtype=np.int64) * hop_length - half
        ends = np.clip(starts + frame_length, 0, n)
        starts = np.clip(starts, 0, n)
        lo, hi = int(starts[0]), int(ends[-1])
        chunk = np.asarray(y[lo:hi], dtype=np.float64)
        np.square(chunk, out=chunk)
        csum = np.zeros(chunk.size + 1, dtype=np.float64)
        np.cumsum(chunk, out=csum[1:])
        del chunk
        sums = csum[ends - lo] - csum[starts - lo]
        counts = np.maximum(ends - starts, 1)
        ms = np.maximum(sums / counts, 0.0)
        out[f0:f1] = 10.0 * np.log10(np.maximum(ms, 1e-20))
    return out


def _exact_bounds(min_segment_s: float, max_segment_s: float, sr: float) -> tuple[int, int]:
    """Sample counts whose durations ``count / sr`` satisfy the bounds in floating point."""
    lo = math.ceil(min_segment_s * sr)
    while lo / sr < min_segment_s:
        lo += 1
    while lo > 1 and (lo - 1) / sr >= min_segment_s:
        lo -= 1
    hi = math.floor(max_segment_s * sr)
    while hi / sr > max_segment_s:
        hi -= 1
    while (hi + 1) / sr <= max_segment_s:
        hi += 1
    return lo, hi


def _feasible(length: npt.NDArray[np.int64], lo: int, hi: int) -> npt.NDArray[np.bool_]:
    """Whether each length can be cut into pieces that all lie within [lo, hi]."""
    k = -(-length // hi)  # fewest pieces that are short enough
    return (length >= lo) & (k * lo <= length)


def _split_long(
    start: int,
    end: int,
    env: npt.NDArray[np.float32],
    hop: int,
    lo: int,
    hi: int,
    sr: float,
    bounds_text: tuple[str, str],
    segments: list[Segment],
    dropped: list[DroppedPiece],
) -> None:
    """Cut ``[start, end)`` at its quietest frame centres until every piece fits."""
    stack = [(start, end)]
    while stack:
        s, e = stack.pop()
        length = e - s
        if length <= hi:
            if length >= lo:
                segments.append(Segment(s, e))
            else:
                dropped.append(
                    DroppedPiece(
                        s,
                        e,
                        f"{length / sr:.2f} s left over after cutting a long stretch to fit "
                        f"{bounds_text[1]} is shorter than {bounds_text[0]}",
                    )
                )
            continue
        # candidate cuts: frame centres strictly inside, both sides within bounds
        first = -(-(s + 1) // hop)
        last = (e - 1) // hop
        idx = np.arange(first, last + 1, dtype=np.int64)
        cuts = idx * hop
        ok = _feasible(cuts - s, lo, hi) & _feasible(e - cuts, lo, hi)
        if not ok.any():  # the length cannot be tiled: keep a maximal first piece
            ok = (cuts - s >= lo) & (cuts - s <= hi)
        if not ok.any():  # frames too coarse for the bounds: cut at the sample level
            cut = s + hi
        else:
            cand = idx[ok]
            level = env[cand]
            # the quietest frames (within CUT_TOLERANCE_DB of the minimum); among them the
            # fewest resulting pieces, then the cut nearest the middle, then the earliest
            cand = cand[level <= level.min() + CUT_TOLERANCE_DB]
            cand_cuts = cand * hop
            n_pieces = -(-(cand_cuts - s) // hi) - (-(e - cand_cuts) // hi)
            cand_cuts = cand_cuts[n_pieces == n_pieces.min()]
            cut = int(cand_cuts[int(np.argmin(np.abs(2 * cand_cuts - (s + e))))])
        # push the right side first so segments come out in time order
        stack.append((cut, e))
        stack.append((s, cut))


def slice_audio(
    y: npt.ArrayLike,
    *,
    sample_rate_hz: float,
    min_segment_s: float = 2.0,
    max_segment_s: float = 15.0,
    silence_top_db: float = 40.0,
    min_silence_s: float = 0.3,
    margin_s: float = 0.2,
    frame_s: float = 0.02,
    hop_s: float = 0.01,
) -> SliceResult:
    """Cut a recording into segments at its silences.

    1. A frame RMS envelope (``frame_s`` windows every ``hop_s``) marks frames as
       silent when they are more than ``silence_top_db`` below the loudest frame or
       below :data:`SILENCE_FLOOR_DBFS`. Each frame stands for the ``hop_s`` of audio
       around its centre.
    2. Runs of sound separated by pauses shorter than ``min_silence_s`` are joined
       into voiced stretches.
    3. Each stretch keeps up to ``margin_s`` of the silence on each side (half the
       pause at most, so neighbours never overlap).
    4. Pieces shorter than ``min_segment_s`` are merged into a neighbour, pause
       included (the neighbour across the shorter pause first), when the result is
       no longer than ``max_segment_s``; otherwise they are dropped with a reason.
    5. Pieces longer than ``max_segment_s`` are cut at their quietest frame,
       searched where both sides can still meet the bounds, recursively. Frames
       within :data:`CUT_TOLERANCE_DB` of the quietest count as equally quiet; among
       them the cut giving the fewest pieces, then the one nearest the middle, wins
       (so a steady note is cut into even pieces, not a string of minimum-length ones).

    Parameters
    ----------
    y
        Mono audio, float32 or float64; may be a read-only ``np.memmap``. It is read
        in blocks and never copied whole.
    sample_rate_hz
        Sample rate of ``y``.
    min_segment_s, max_segment_s, silence_top_db, min_silence_s, margin_s, frame_s, hop_s
        The :class:`svcprep.config.SliceConfig` fields of the same names.

    Returns
    -------
    SliceResult
        Segments, each with ``min_segment_s <= (end - start) / sample_rate_hz <=
        max_segment_s``, the dropped pieces with reasons, and whether the input is
        silent. Deterministic.

    Raises
    ------
    ConfigError
        A parameter is out of range.
    NonFiniteAudioError
        The audio holds NaN or infinity.
    """
    _check_params(
        sample_rate_hz=sample_rate_hz,
        min_segment_s=min_segment_s,
        max_segment_s=max_segment_s,
        silence_top_db=silence_top_db,
        min_silence_s=min_silence_s,
        margin_s=margin_s,
        frame_s=frame_s,
        hop_s=hop_s,
    )
    a = y if isinstance(y, np.ndarray) else np.asarray(y)
    if a.ndim != 1:
        raise ValueError(f"slice_audio: audio must be mono and 1-D, got an array of shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"slice_audio: audio must be floating point (float32), got dtype {a.dtype}")
    sr = float(sample_rate_hz)
    n = int(a.shape[0])
    lo, hi = _exact_bounds(min_segment_s, max_segment_s, sr)
    if lo > hi:
        raise ConfigError(
            f"slice.min_segment_s={min_segment_s} and slice.max_segment_s={max_segment_s} leave no whole "
            f"number of samples at {sr:g} Hz: widen the range"
        )
    if n == 0:
        return SliceResult(segments=(), dropped=(), silent=True)

    hop = max(1, round(hop_s * sr))
    frame = max(hop, round(frame_s * sr))
    env = frame_envelope_db(a, frame_length=frame, hop_length=hop)
    if not np.isfinite(env).all():
        raise NonFiniteAudioError("slice_audio: audio contains NaN or infinite samples")
    loudest = float(env.max())
    if loudest < SILENCE_FLOOR_DBFS:
        return SliceResult(segments=(), dropped=(), silent=True)
    threshold = max(loudest - silence_top_db, SILENCE_FLOOR_DBFS)
    sound = env >= threshold

    # frame i stands for samples [edge[i], edge[i+1])
    n_fr = env.size
    edges = np.clip(np.arange(n_fr + 1, dtype=np.int64) * hop - hop // 2, 0, n)
    edges[-1] = n
    change = np.flatnonzero(np.diff(np.concatenate(([0], sound.view(np.int8), [0]))))
    run_starts, run_ends = edges[change[0::2]], edges[change[1::2]]

    # join runs separated by pauses shorter than min_silence_s
    min_gap = math.ceil(min_silence_s * sr - 1e-9)
    gaps = run_starts[1:] - run_ends[:-1]
    split = np.flatnonzero(gaps >= min_gap)
    st_starts = run_starts[np.concatenate(([0], split + 1))]
    st_ends = run_ends[np.concatenate((split, [run_ends.size - 1]))]

    # margins: up to margin_s, at most half of each pause, never past the signal edges
    margin = round(margin_s * sr)
    pause = st_starts[1:] - st_ends[:-1]
    left_room = np.concatenate(([st_starts[0]], pause - pause // 2))
    right_room = np.concatenate((pause // 2, [n - st_ends[-1]]))
    starts = (st_starts - np.minimum(margin, left_room)).tolist()
    ends = (st_ends + np.minimum(margin, right_room)).tolist()

    dropped: list[DroppedPiece] = []
    bounds_text = (f"slice.min_segment_s={min_segment_s}", f"slice.max_segment_s={max_segment_s}")
    pieces = _merge_short(starts, ends, lo, hi, sr, bounds_text, dropped)

    segments: list[Segment] = []
    for s, e in pieces:
        _split_long(s, e, env, hop, lo, hi, sr, bounds_text, segments, dropped)
    dropped.sort(key=lambda d: d.start)
    return SliceResult(segments=tuple(segments), dropped=tuple(dropped), silent=False)


def _merge_short(
    starts: list[int],
    ends: list[int],
    lo: int,
    hi: int,
    sr: float,
    bounds_text: tuple[str, str],
    dropped: list[DroppedPiece],
) -> list[tuple[int, int]]:
    """Merge pieces shorter than ``lo`` into a neighbour (within ``hi``) or drop them."""
    s, e = list(starts), list(ends)
    i = 0
    while i < len(s):
        while e[i] - s[i] < lo:
            left_ok = i > 0 and e[i] - s[i - 1] <= hi
            right_ok = i + 1 < len(s) and e[i + 1] - s[i] <= hi
            if left_ok and right_ok:
                # the neighbour across the shorter pause; ties go left
                go_left = s[i] - e[i - 1] <= s[i + 1] - e[i]
            elif left_ok or right_ok:
                go_left = left_ok
            else:
                if len(s) == 1:
                    why = f"the whole input has {(e[i] - s[i]) / sr:.2f} s of sound, "
                else:
                    why = f"{(e[i] - s[i]) / sr:.2f} s is "
                dropped.append(
                    DroppedPiece(
                        s[i],
                        e[i],
                        why + f"shorter than {bounds_text[0]} and no neighbour can take it "
                        f"within {bounds_text[1]}",
                    )
                )
                del s[i], e[i]
                break
            if go_left:
                e[i - 1] = e[i]
                del s[i], e[i]
                i -= 1
            else:
                e[i] = e[i + 1]
                del s[i + 1], e[i + 1]
        else:
            i += 1
    return list(zip(s, e, strict=True))
