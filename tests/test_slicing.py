"""Tests of svcprep.dsp.slicing: cuts in pauses, margins, guaranteed bounds, merges and drops."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep.dsp.slicing import Segment, SliceResult, slice_audio
from svcprep.errors import ConfigError, NonFiniteAudioError
from svcprep.testing import noise, sing_phrase, tone
from tests._data import shared_file


def layout(
    parts: list[tuple[str, float]], sr: int, amplitude: float = 0.4
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Concatenate ("tone", s) / ("gap", s) parts; return audio and the tones' sample spans."""
    chunks, spans, pos = [], [], 0
    for i, (kind, dur) in enumerate(parts):
        n = round(dur * sr)
        if kind == "tone":
            chunks.append(tone(200.0 + 37.0 * i, duration_s=n / sr, sample_rate_hz=sr, amplitude=amplitude))
            spans.append((pos, pos + n))
        else:
            chunks.append(np.zeros(n, np.float32))
        pos += n
    return np.concatenate(chunks).astype(np.float32), spans


def check_bounds(result: SliceResult, n: int, sr: float, lo_s: float = 2.0, hi_s: float = 15.0) -> None:
    prev_end = 0
    for seg in result.segments:
        assert 0 <= prev_end <= seg.start < seg.end <= n
        assert lo_s <= (seg.end - seg.start) / sr <= hi_s
        prev_end = seg.end
    for d in result.dropped:
        assert 0 <= d.start < d.end <= n and d.reason


def covered(result: SliceResult, n: int) -> np.ndarray:
    mask = np.zeros(n, bool)
    for piece in (*result.segments, *result.dropped):
        mask[piece.start : piece.end] = True
    return mask


def test_cuts_land_in_the_pauses_and_keep_margins() -> None:
    sr = 16000
    y, spans = layout(
        [("gap", 1.0), ("tone", 3.0), ("gap", 1.0), ("tone", 4.0), ("gap", 0.6), ("tone", 2.5), ("gap", 1.0)],
        sr,
    )
    r = slice_audio(y, sample_rate_hz=sr)
    assert not r.silent and not r.dropped
    assert len(r.segments) == len(spans)
    margin, slack = round(0.2 * sr), round(0.02 * sr)
    gap_after = [round(1.0 * sr), round(0.6 * sr), round(1.0 * sr)]
    for seg, (on, off), room in zip(r.segments, spans, gap_after, strict=True):
        # the whole tone is inside, with the margin of silence (and at most a frame more) before it
        assert on - margin - slack <= seg.start <= on - margin
        keep_after = min(margin, room // 2)
        assert off + keep_after <= seg.end <= off + keep_after + slack
    # neighbours never overlap, even where the pause is short (0.6 s < 2 margins + slack)
    assert all(a.end <= b.start for a, b in zip(r.segments, r.segments[1:], strict=False))


def test_sung_phrase_is_cut_only_in_its_pauses() -> None:
    sr = 22050
    voice = sing_phrase(
        sample_rate_hz=sr,
        notes_hz=(220.0, 247.0, 262.0, 294.0, 330.0, 294.0),
        note_s=1.2,
        pause_s=0.6,
        breath=0.0,
    )
    r = slice_audio(voice.audio, sample_rate_hz=sr, min_segment_s=1.0, max_segment_s=5.0)
    check_bounds(r, voice.audio.size, sr, 1.0, 5.0)
    voiced = voice.f0_hz > 0
    assert covered(r, voiced.size)[voiced].all()  # no sung sample is lost
    for a, b in zip(r.segments, r.segments[1:], strict=False):
        # every boundary between segments lies in a pause (true F0 is 0 around it)
        assert not voiced[a.end - 1 : b.start + 1].any()
    assert len(r.segments) == 3  # three pairs of notes, each followed by a pause


def test_short_pause_does_not_split() -> None:
    sr = 16000
    y, spans = layout([("gap", 0.5), ("tone", 3.0), ("gap", 0.2), ("tone", 3.0), ("gap", 0.5)], sr)
    r = slice_audio(y, sample_rate_hz=sr, min_silence_s=0.3)
    assert len(r.segments) == 1
    assert r.segments[0].start <= spans[0][0] and r.segments[0].end >= spans[1][1]


def test_long_tone_is_cut_at_its_quiet_dip() -> None:
    sr = 16000
    y = tone(220.0, duration_s=40.0, sample_rate_hz=sr, amplitude=0.5)
    dip = slice(round(20.0 * sr), round(20.05 * sr))
    y[dip] *= 0.25  # 12 dB quieter for 50 ms, still far above the silence threshold
    r = slice_audio(y, sample_rate_hz=sr)
    check_bounds(r, y.size, sr)
    cuts = [s.end for s in r.segments[:-1]]
    assert any(dip.start <= c <= dip.stop for c in cuts)
    # contiguous: a continuous tone is cut, not trimmed
    assert r.segments[0].start == 0 and r.segments[-1].end == y.size
    assert all(a.end == b.start for a, b in zip(r.segments, r.segments[1:], strict=False))


def test_steady_note_is_cut_into_even_pieces() -> None:
    sr = 8000
    y = tone(300.0, duration_s=40.0, sample_rate_hz=sr)
    r = slice_audio(y, sample_rate_hz=sr)
    check_bounds(r, y.size, sr)
    assert len(r.segments) == 3  # the fewest pieces of at most 15 s, not a string of 2 s pieces


def test_short_piece_merges_across_the_shorter_pause() -> None:
    sr = 16000
    y, spans = layout(
        [("gap", 0.5), ("tone", 5.0), ("gap", 0.5), ("tone", 1.0), ("gap", 3.0), ("tone", 5.0), ("gap", 0.5)],
        sr,
    )
    r = slice_audio(y, sample_rate_hz=sr)
    check_bounds(r, y.size, sr)
    assert len(r.segments) == 2 and not r.dropped
    first = r.segments[0]
    assert first.start <= spans[0][0] and first.end >= spans[1][1]  # pause kept inside
    assert r.segments[1].start > spans[1][1]


def test_short_piece_that_fits_nowhere_is_dropped_with_a_reason() -> None:
    sr = 16000
    y, spans = layout([("tone", 14.0), ("gap", 0.5), ("tone", 1.0), ("gap", 0.5), ("tone", 14.0)], sr)
    r = slice_audio(y, sample_rate_hz=sr)
    check_bounds(r, y.size, sr)
    assert len(r.segments) == 2
    assert len(r.dropped) == 1
    d = r.dropped[0]
    assert d.start <= spans[1][0] and d.end >= spans[1][1]
    assert "shorter than slice.min_segment_s=2.0" in d.reason and "slice.max_segment_s=15.0" in d.reason


def test_input_shorter_than_the_minimum_is_dropped() -> None:
    sr = 16000
    y = tone(440.0, duration_s=1.5, sample_rate_hz=sr)
    r = slice_audio(y, sample_rate_hz=sr)
    assert r.segments == () and not r.silent
    assert len(r.dropped) == 1 and "1.50 s" in r.dropped[0].reason


@pytest.mark.parametrize(
    "y",
    [
        np.zeros(16000 * 3, np.float32),
        noise(duration_s=3.0, sample_rate_hz=16000, amplitude=1e-6),  # -120 dBFS
        np.zeros(0, np.float32),
    ],
    ids=["digital_silence", "near_silence", "empty"],
)
def test_silence_gives_no_segments(y: np.ndarray) -> None:
    r = slice_audio(y, sample_rate_hz=16000)
    assert r == SliceResult(segments=(), dropped=(), silent=True)


def test_memmap_input_gives_the_same_result(tmp_path: Path) -> None:
    sr = 16000
    y, _ = layout(
        [("gap", 0.7), ("tone", 4.0), ("gap", 1.0), ("tone", 18.0), ("gap", 0.4), ("tone", 0.5)], sr
    )
    path = tmp_path / "audio.f32"
    y.tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r")
    r_mm = slice_audio(mm, sample_rate_hz=sr)
    assert r_mm == slice_audio(y, sample_rate_hz=sr)
    check_bounds(r_mm, y.size, sr)


def test_deterministic() -> None:
    sr = 22050
    y = sing_phrase(sample_rate_hz=sr, note_s=2.0).audio
    assert slice_audio(y, sample_rate_hz=sr) == slice_audio(y.copy(), sample_rate_hz=sr)


part = st.tuples(st.sampled_from(["tone", "gap"]), st.floats(0.05, 9.0))


@settings(max_examples=20, deadline=None)
@given(
    parts=st.lists(part, min_size=1, max_size=8),
    sr=st.integers(8000, 96000),
    extra=st.integers(0, 50).map(lambda k: 2 * k + 1),
    min_s=st.floats(0.5, 3.0),
    span_s=st.floats(1.0, 12.0),
)
def test_bounds_are_guaranteed_for_any_layout(
    parts: list[tuple[str, float]], sr: int, extra: int, min_s: float, span_s: float
) -> None:
    y, spans = layout([*parts, ("gap", extra / sr)], sr)
    max_s = min_s + span_s
    r = slice_audio(y, sample_rate_hz=sr, min_segment_s=min_s, max_segment_s=max_s)
    check_bounds(r, y.size, sr, min_s, max_s)
    mask = covered(r, y.size)
    for on, off in spans:
        assert mask[on:off].all()  # every sample with sound is kept or reported as dropped
    if not spans:
        assert r.silent and not r.segments


def test_vocadito_voiced_frames_end_up_in_segments() -> None:
    wav = shared_file("singing/vocadito/vocadito_1.wav")
    truth = shared_file("singing/vocadito/vocadito_1.f0.csv")
    y, sr = sf.read(wav, dtype="float32")
    r = slice_audio(y, sample_rate_hz=sr)
    check_bounds(r, y.size, sr)
    with truth.open() as fh:
        rows = [(float(t), float(f)) for t, f in list(csv.reader(fh))[1:]]
    voiced_idx = [round(t * sr) for t, f in rows if f > 0 and round(t * sr) < y.size]
    inside = covered(SliceResult(segments=r.segments, dropped=(), silent=False), y.size)[voiced_idx]
    assert inside.mean() > 0.97  # annotated singing is kept in segments


def test_bad_parameters_raise_config_errors() -> None:
    y = np.zeros(100, np.float32)
    with pytest.raises(ConfigError, match="min_segment_s"):
        slice_audio(y, sample_rate_hz=16000, min_segment_s=5.0, max_segment_s=4.0)
    with pytest.raises(ConfigError, match="hop_s"):
        slice_audio(y, sample_rate_hz=16000, hop_s=0.05, frame_s=0.02)
    with pytest.raises(NonFiniteAudioError, match="NaN"):
        slice_audio(np.array([0.1, np.nan] * 1000, np.float32), sample_rate_hz=16000)
    with pytest.raises(ValueError, match="1-D"):
        slice_audio(np.zeros((2, 100), np.float32), sample_rate_hz=16000)


def test_segment_length_property() -> None:
    assert Segment(10, 25).n_samples == 15
