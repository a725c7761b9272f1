"""Near duplicates through a pitch shift or a time stretch, found on the audio fingerprints.

The F0 contour (``transformed_duplicates``) cannot follow speech or broken voicing; these
tests check the fingerprint path (``spectral_duplicates``) on real speech, where it has to
work, and that it leaves different utterances, untransformed copies and known groups alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep.quality.duplicates import (
    BANDS_PER_SEMITONE,
    Fingerprint,
    fingerprint,
    profile_agreement,
    spectral_duplicates,
    spectral_score,
)
from svcprep.quality.flags import QualityConfig
from tests._data import shared_file

MIN = QualityConfig().near_duplicate_spectral_min_score


def _speech(rel: str, start_s: float = 0.0, dur_s: float = 4.0) -> tuple[np.ndarray, int]:
    y, sr = sf.read(shared_file(rel), dtype="float64", always_2d=True)
    y = y.mean(axis=1)
    return y[int(start_s * sr) : int((start_s + dur_s) * sr)], int(sr)


@pytest.fixture(scope="module")
def libri() -> tuple[np.ndarray, int]:
    return _speech("speech/librispeech/3436-172162-0000.flac", 1.0, 4.0)


def test_bands_are_one_semitone_wide() -> None:
    assert abs(BANDS_PER_SEMITONE - 1.0) < 0.01


@pytest.mark.parametrize(("steps", "rate"), [(2.0, 1.0), (-1.0, 1.0), (0.0, 0.92), (0.0, 1.08), (1.0, 0.95)])
def test_shifted_or_stretched_speech_scores_high_and_names_the_transform(
    libri: tuple[np.ndarray, int], steps: float, rate: float
) -> None:
    import librosa

    y, sr = libri
    z = y
    if steps:
        z = librosa.effects.pitch_shift(z, sr=sr, n_steps=steps)
    if rate != 1.0:
        z = librosa.effects.time_stretch(z, rate=rate)
    fa, fb = fingerprint(y, sample_rate_hz=sr), fingerprint(z, sample_rate_hz=sr)
    score, shift, stretch, _ = spectral_score(fa, fb)
    assert score >= MIN + 0.15
    assert shift == pytest.approx(steps, abs=0.1)
    assert stretch == pytest.approx(1.0 / rate, abs=0.015)


def test_different_utterances_of_one_reader_score_low() -> None:
    a, sr = _speech("speech/librispeech/3436-172162-0000.flac", 1.0, 4.0)
    b, _ = _speech("speech/librispeech/3436-172162-0000.flac", 6.0, 4.0)
    c, sr_c = _speech("speech/cmu_arctic/arctic_a0007.wav", 0.0, 4.0)
    fa, fb = fingerprint(a, sample_rate_hz=sr), fingerprint(b, sample_rate_hz=sr)
    fc = fingerprint(c, sample_rate_hz=sr_c)
    assert spectral_score(fa, fb)[0] < MIN - 0.15
    assert spectral_score(fa, fc)[0] < MIN - 0.15


def test_spectral_duplicates_finds_copies_of_speech_and_names_them(libri: tuple[np.ndarray, int]) -> None:
    import librosa

    y, sr = libri
    other, _ = _speech("speech/librispeech/3436-172162-0000.flac", 6.0, 4.0)
    fps = {
        "r/a_orig": fingerprint(y, sample_rate_hz=sr),
        "r/b_up": fingerprint(librosa.effects.pitch_shift(y, sr=sr, n_steps=2.0), sample_rate_hz=sr),
        "r/c_slow": fingerprint(librosa.effects.time_stretch(y, rate=0.9), sample_rate_hz=sr),
        "r/e_other": fingerprint(other, sample_rate_hz=sr),
    }
    found = {m.item_id: m for m in spectral_duplicates(fps, min_score=MIN)}
    assert set(found) == {"r/b_up", "r/c_slow"}
    assert found["r/b_up"].evidence == "spectrum"
    assert found["r/b_up"].shift_semitones == pytest.approx(2.0, abs=0.05)
    assert found["r/c_slow"].stretch == pytest.approx(1 / 0.9, abs=0.015)
    # pairs already known as one group of copies are not aligned again
    known = {frozenset(("r/a_orig", "r/b_up")), frozenset(("r/a_orig", "r/c_slow"))}
    assert spectral_duplicates(fps, min_score=MIN, skip=known) == []
    # an untransformed copy is the plain index's to report, not this search's
    gain = {"r/a_orig": fps["r/a_orig"], "r/d_gain": fingerprint(0.5 * y, sample_rate_hz=sr)}
    assert spectral_duplicates(gain, min_score=MIN) == []


@pytest.mark.parametrize("steps", [-1.5, 0.5])
def test_a_shift_between_two_bands_is_placed_between_them(
    libri: tuple[np.ndarray, int], steps: float
) -> None:
    import librosa

    y, sr = libri
    z = librosa.effects.pitch_shift(y, sr=sr, n_steps=steps)
    fps = {"r/a": fingerprint(y, sample_rate_hz=sr), "r/b": fingerprint(z, sample_rate_hz=sr)}
    (m,) = spectral_duplicates(fps, min_score=MIN)
    assert m.shift_semitones == pytest.approx(steps, abs=0.25)  # from the neighbouring bands' scores


def test_a_followable_contour_names_the_shift_exactly() -> None:
    import librosa

    from svcprep.dsp.f0 import extract_f0
    from svcprep.quality.duplicates import f0_contour

    y, sr = _speech("singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav", 0.0, 4.0)
    z = librosa.effects.pitch_shift(y, sr=sr, n_steps=-1.5)
    fps = {"s/a": fingerprint(y, sample_rate_hz=sr), "s/b": fingerprint(z, sample_rate_hz=sr)}
    contours = {}
    for name, w in (("s/a", y), ("s/b", z)):
        tr = extract_f0(w, sample_rate_hz=sr, hop_length=512, n_frames=w.size // 512 + 1, method="harvest")
        contours[name] = f0_contour(tr.f0_hz, tr.voiced, frame_s=512 / sr)
    (m,) = spectral_duplicates(fps, min_score=MIN, contours=contours)
    assert m.item_id == "s/b" and m.shift_semitones == pytest.approx(-1.5, abs=0.08)


def test_envelope_survives_storage_and_old_fingerprints_still_load(libri: tuple[np.ndarray, int]) -> None:
    y, sr = libri
    fp = fingerprint(y, sample_rate_hz=sr)
    assert fp.envelope.shape == (32,) and fp.envelope.max() >= -6 and fp.envelope.min() >= -60
    assert fp.profile.shape == (33,) and fp.profile.max() == 0 and fp.profile.min() >= -60
    back = Fingerprint.from_dict(fp.to_dict())
    assert np.array_equal(back.envelope, fp.envelope) and np.array_equal(back.profile, fp.profile)
    old = fp.to_dict()
    del old["envelope"], old["profile"]  # stored before they existed
    assert Fingerprint.from_dict(old).envelope.size == 0 and Fingerprint.from_dict(old).profile.size == 0
    assert spectral_duplicates({"a": Fingerprint.from_dict(old), "b": fp}, min_score=0.0) == []


def test_silence_and_tiny_items_never_match() -> None:
    sr = 16000
    quiet = fingerprint(np.zeros(sr * 3), sample_rate_hz=sr)
    tiny = fingerprint(np.zeros(1), sample_rate_hz=sr)
    assert spectral_score(quiet, quiet)[0] == -1.0
    assert spectral_duplicates({"a": quiet, "b": quiet, "c": tiny}, min_score=0.0) == []


def test_alignments_grow_with_the_items_not_their_square() -> None:
    """3,000 items with nearly the same level envelope (a folder of one phrase sung over and
    over): each keeps its 4 best-correlated partners, and a planted copy is still among them."""
    from svcprep.quality.duplicates import _envelope_candidates

    rng = np.random.default_rng(3)
    base = rng.normal(-20.0, 8.0, 32)
    n = 400

    def item(env: np.ndarray) -> Fingerprint:
        return Fingerprint(
            "x",
            rng.integers(0, 2**32, n, dtype=np.uint32),
            np.ones(n, bool),
            rng.integers(0, 2**32, n, dtype=np.uint32),
            np.zeros(0, np.uint64),
            np.zeros(0, np.int32),
            n * 0.0128,
            np.clip(np.rint(env), -60, 0).astype(np.int8),
            -rng.integers(0, 40, 33).astype(np.int8),
        )

    fps = {f"s/take{k:04d}": item(base + rng.normal(0, 3.0, 32)) for k in range(3000)}
    original = fps["s/take0042"]
    fps["s/zcopy"] = Fingerprint(
        "y",
        original.bits << np.uint32(1),
        original.active,
        original.reliable << np.uint32(1),
        original.keys,
        original.key_frames,
        original.duration_s,
        original.envelope,
        np.concatenate(([np.int8(-60)], original.profile[:-1])),  # the bands moved up by one
    )
    pairs = _envelope_candidates(fps, {})
    assert len(pairs) <= 6 * len(fps)
    assert ("s/take0042", "s/zcopy") in pairs
    found = spectral_duplicates({k: fps[k] for k in ("s/take0042", "s/take0043", "s/zcopy")}, min_score=MIN)
    (m,) = found
    assert (m.item_id, m.other_id) == ("s/zcopy", "s/take0042") and m.score > 0.95
    assert m.shift_semitones == pytest.approx(1.0, abs=0.05)


@settings(max_examples=20, deadline=None)
@given(
    sr=st.sampled_from([8000, 16000, 22050, 32000, 44100, 48000, 96000]),
    seconds=st.floats(0.0, 5.0),
    seed=st.integers(0, 2**16),
)
def test_an_item_matches_itself_untransformed_at_any_rate_and_length(
    sr: int, seconds: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    y = np.sin(2 * np.pi * rng.uniform(150, 400) * t) * (0.2 + 0.2 * np.sin(2 * np.pi * 1.3 * t) ** 2)
    y += 0.01 * rng.standard_normal(n)
    fp = fingerprint(y, sample_rate_hz=sr)
    assert fp.envelope.size in (0, 32)
    if fp.envelope.size:
        assert fp.envelope.max() <= 0 and fp.envelope.min() >= -60
    score, shift, stretch, offset = spectral_score(fp, fp)
    if score == -1.0:  # too little audio to judge: under a second of joint active frames
        assert seconds < 1.6
    else:
        assert score == pytest.approx(1.0) and shift == pytest.approx(0.0, abs=0.05)
        assert stretch == pytest.approx(1.0) and offset == 0
    # an item is never reported as a transformed copy of its own audio
    assert spectral_duplicates({"a": fp, "b": fp}, min_score=MIN) == []


def _reference_contour_score(a: np.ndarray, b: np.ndarray, min_joint: int = 40) -> tuple[float, float, float]:
    """The contour alignment one offset at a time, written plainly (the search scores them all at once)."""
    na, nb = int((a > 0).sum()), int((b > 0).sum())
    best = (0.0, 0.0, 1.0)
    if min(na, nb) < min_joint:
        return best
    for stretch in (b.size / a.size) * np.array([0.97, 0.985, 1.0, 1.015, 1.03]):
        if not 0.88 <= stretch <= 1.14:
            continue
        for off in np.arange(-4.0, 4.01, 0.5):
            diffs = []
            for i in range(a.size):
                t = i * stretch + off
                if not (0 <= t <= b.size - 1) or a[i] <= 0:
                    continue
                i0 = int(np.floor(t))
                i1 = min(i0 + 1, b.size - 1)
                w = t - i0
                b0, b1 = b[i0], b[i1]
                v = (1 - w) * b0 + w * b1 if b0 > 0 and b1 > 0 else 0.0  # an unvoiced neighbour: none
                if v > 0:
                    diffs.append(v - a[i])
            if len(diffs) < min_joint:
                continue
            d = np.asarray(diffs)
            shift = float(np.median(d))
            if abs(shift) > 250.0:
                continue
            score = int(np.count_nonzero(np.abs(d - shift) < 30.0)) / max(na, nb / stretch)
            if score > best[0]:
                best = (score, shift, float(stretch))
    return best


def test_contour_alignment_equals_the_plain_reference() -> None:
    from svcprep.quality import duplicates as dup

    rng = np.random.default_rng(5)

    def melody(n: int) -> np.ndarray:
        c = np.repeat(rng.integers(-7, 8, size=n // 20 + 1) * 100.0, 20)[:n] + 5000 + rng.normal(0, 8, n)
        c[np.arange(n) % 20 >= 17] = 0  # a breath after every note
        return c

    copies = []
    for _ in range(12):
        a = melody(int(rng.integers(60, 160)))
        stretch = float(rng.uniform(0.9, 1.1))
        t = np.arange(round(a.size * stretch)) / stretch
        b = np.interp(t, np.arange(a.size), a) + float(rng.uniform(-200, 200))
        b[np.interp(t, np.arange(a.size), (a > 0).astype(float)) < 1] = 0
        for other in (b, melody(b.size)):
            for min_joint in (20, 40):
                got = dup._contour_score(a, other, min_joint=min_joint)
                want = _reference_contour_score(a, other, min_joint=min_joint)
                assert got == pytest.approx(want, abs=1e-9)
        copies.append(dup._contour_score(a, b)[0])
    assert min(copies) > 0.6  # the copies were aligned, not just the empty cases compared


def _held_notes(notes_hz: list[float], formants_hz: tuple[float, ...], sr: int = 16000) -> np.ndarray:
    """Held harmonic notes with a 5.5 Hz vibrato through fixed formants (a plain sung line)."""
    per = int(0.6 * sr)
    t = np.arange(per * len(notes_hz)) / sr
    f0 = np.repeat(notes_hz, per) * 2 ** (40 * np.sin(2 * np.pi * 5.5 * t) / 1200)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = np.zeros_like(t)
    for h in range(1, 16):
        fh = h * f0
        gain = sum(np.exp(-0.5 * ((fh - fc) / (0.12 * fc)) ** 2) for fc in formants_hz) + 0.05
        y += np.where(fh < 0.45 * sr, gain / h * np.sin(h * phase), 0.0)
    gate = np.clip(np.minimum(np.arange(t.size) % per, per - np.arange(t.size) % per) / (0.05 * sr), 0, 1)
    return 0.3 * y * gate / np.max(np.abs(y))


def test_other_notes_of_another_voice_are_not_a_shifted_copy() -> None:
    """Held notes a semitone apart match sub-fingerprints through a shift whoever sings them; the
    formants (the band profile) tell another voice from a pitch-shifted copy."""
    import librosa

    sr = 16000
    notes = [220.0, 247.0, 196.0, 262.0, 233.0, 208.0]
    a = _held_notes(notes, (700.0, 1200.0, 2600.0), sr)
    b = _held_notes([f * 2 ** (1 / 12) for f in notes], (450.0, 1900.0, 2900.0), sr)
    fa, fb = fingerprint(a, sample_rate_hz=sr), fingerprint(b, sample_rate_hz=sr)
    shifted = fingerprint(librosa.effects.pitch_shift(a, sr=sr, n_steps=1.0), sample_rate_hz=sr)
    score, shift, _, _ = spectral_score(fa, fb)
    assert score >= MIN and shift == pytest.approx(1.0, abs=0.3)  # the bits alone would match
    assert profile_agreement(fa, fb, shift) < 0.85 <= profile_agreement(fa, shifted, 1.0)
    found = spectral_duplicates({"s/a": fa, "s/b": fb, "s/c_shifted": shifted}, min_score=MIN)
    assert [(m.item_id, m.other_id) for m in found] == [("s/c_shifted", "s/a")]
