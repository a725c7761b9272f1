"""The defect detectors of the quality manifest v2, against signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep import testing
from svcprep.audio import load_audio
from svcprep.quality.defects import (
    accompaniment_stats,
    clip_top_stats,
    dropout_gaps,
    dropout_stats,
    hum_spectrum,
    hum_stats,
    level_falls,
    reverb_stats,
    struck_partials,
    voice_profile,
)
from svcprep.quality.duplicates import f0_contour, transformed_duplicates
from svcprep.quality.flags import QualityConfig, flag_item, speaker_outliers
from tests._data import shared_file

SR = 44100


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    """8 s of real solo singing at 44.1 kHz (vocadito_1 from 2 s)."""
    y, sr = sf.read(shared_file("singing/vocadito/vocadito_1.wav"), dtype="float64")
    return np.asarray(soxr.resample(y, sr, SR) if sr != SR else y)[2 * SR : 10 * SR]


def _hum(n: int, *, mains_hz: float, rms: float) -> np.ndarray:
    t = np.arange(n) / SR
    h = sum(0.7**k * np.sin(2 * np.pi * mains_hz * k * t + k) for k in (1, 2, 3, 5, 7))
    return np.asarray(h / np.sqrt(np.mean(h**2)) * rms)


def _flags(m: dict[str, float]) -> set[str]:
    return {f.name for f in flag_item(m, QualityConfig())}


@pytest.mark.parametrize(("mains_hz", "under_db"), [(50.0, 10.0), (60.0, 10.0), (50.0, 20.0)])
def test_hum_lines_are_found_under_a_real_voice(voice: np.ndarray, mains_hz: float, under_db: float) -> None:
    rms = float(np.sqrt(np.mean(voice**2)))
    clean = hum_stats(voice, sample_rate_hz=SR)
    hum = hum_stats(
        voice + _hum(voice.size, mains_hz=mains_hz, rms=rms * 10 ** (-under_db / 20)), sample_rate_hz=SR
    )
    assert clean["hum_lines"] <= 2
    assert hum["hum_hz"] == mains_hz and hum["hum_lines"] >= 4
    # the lines' power is the injected hum's level relative to the mix, within 1.5 dB
    expected = -10 * np.log10(1 + 10 ** (under_db / 10))
    assert hum["hum_db"] == pytest.approx(expected, abs=1.5)
    assert "hum" in _flags({**hum}) and "hum" not in _flags({**clean})


def test_dropouts_inside_sound_not_gated_silence(voice: np.ndarray) -> None:
    y = voice.copy()
    frame = 882  # 20 ms
    rms = np.sqrt(np.mean(y[: y.size // frame * frame].reshape(-1, frame) ** 2, axis=1))
    loud = rms >= 0.3 * rms.max()
    run = np.flatnonzero(np.convolve(loud, np.ones(7), "valid") == 7)  # 140 ms of loud frames
    start = int(run[run.size // 2] + 1) * frame
    y[start : start + int(0.05 * SR)] = 0.0  # 50 ms of digital zero in the middle of a note
    d = dropout_stats(y, sample_rate_hz=SR)
    assert d["dropouts"] == 1 and d["longest_dropout_s"] == pytest.approx(0.05, abs=0.002)
    assert "dropout" in _flags(d)
    # a gate: zeros only where the sound had already faded
    gated = voice.copy()
    env = np.convolve(gated**2, np.ones(441) / 441, "same")
    gated[env < 1e-5 * env.max()] = 0.0
    assert dropout_stats(gated, sample_rate_hz=SR)["dropouts"] == 0
    assert dropout_stats(voice, sample_rate_hz=SR)["dropouts"] == 0


def test_the_report_evidence_is_what_the_detectors_read(voice: np.ndarray) -> None:
    """dropout_gaps, hum_spectrum and level_falls (drawn by the report) are the detectors' inputs."""
    y = voice.copy()
    frame = 882
    rms = np.sqrt(np.mean(y[: y.size // frame * frame].reshape(-1, frame) ** 2, axis=1))
    start = int(np.argmax(rms)) * frame
    y[start : start + 1323] = 0.0  # 30 ms at the loudest frame
    gaps = dropout_gaps(y, sample_rate_hz=SR)
    assert len(gaps) == 1
    s, e = gaps[0]
    assert start - 2 <= s <= start and start + 1323 <= e <= start + 1325  # a crossing may touch zero
    d = dropout_stats(y, sample_rate_hz=SR)
    assert d["longest_dropout_s"] == pytest.approx((e - s) / SR)
    # the steady spectrum shows the injected mains lines 10+ dB over their neighbourhood
    hummed = voice + _hum(voice.size, mains_hz=60.0, rms=0.1 * float(np.sqrt(np.mean(voice**2))))
    spectra = hum_spectrum(hummed, sample_rate_hz=SR)
    assert spectra is not None
    freqs, low, mid = spectra
    assert freqs[1] == pytest.approx(1.0, rel=1e-3) and freqs[-1] > 1000
    for f in (60, 120, 180):
        side = np.median(np.r_[low[f - 9 : f - 3], low[f + 4 : f + 10]])
        assert 10 * np.log10(low[f - 1 : f + 2].max() / side) > 10, f
    assert np.all(low <= mid + 1e-18), "the 20th percentile never exceeds the median"
    assert hum_spectrum(voice[: SR // 2], sample_rate_hz=SR) is None
    # the band falls give reverb_stats' reverberation time
    lf = level_falls(voice, sample_rate_hz=SR)
    n_bands, n_frames = lf.levels_db.shape
    assert n_bands == 12 and lf.band_edges_hz[0, 0] == pytest.approx(150.0)
    assert lf.band_edges_hz[-1, 1] == pytest.approx(5000.0)
    assert n_frames == voice.size // 441 + 1  # centred 10 ms frames
    assert lf.slopes_db_per_s.shape == (n_bands, n_frames - lf.window_frames + 1) == lf.falling.shape
    rt = reverb_stats(voice, sample_rate_hz=SR)
    assert rt["decays"] == np.count_nonzero(lf.falling)
    assert rt["rt60_s"] == pytest.approx(60.0 / -np.percentile(lf.slopes_db_per_s[lf.falling], 5.0))
    # each slope is a least-squares line through its window's first fitted_frames frames, which
    # stay at least 6 dB over the band's floor (its 10th percentile)
    floor = np.percentile(lf.levels_db, 10, axis=1)
    for b, j in list(zip(*np.nonzero(lf.falling), strict=True))[::97]:
        k = int(lf.fitted_frames[b, j])
        seg = lf.levels_db[b, j : j + k]
        assert 3 <= k <= lf.window_frames and np.all(seg >= floor[b] + 6.0)
        assert k == lf.window_frames or lf.levels_db[b, j + k] < floor[b] + 6.0
        ref = np.polyfit(np.arange(k) * 0.01, seg, 1)[0]
        assert lf.slopes_db_per_s[b, j] == pytest.approx(ref, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("after", ["scaled", "resampled", "limited"])
def test_clipping_survives_processing(voice: np.ndarray, after: str) -> None:
    clipped = np.asarray(testing.clipped(voice / np.abs(voice).max(), gain_db=9.0), dtype=np.float64)
    if after == "scaled":
        z = clipped * 0.5
    elif after == "resampled":
        z = soxr.resample(soxr.resample(clipped * 0.9, SR, 48000), 48000, SR)
    else:
        z = np.tanh(1.5 * clipped) / np.tanh(1.5)
    assert "clipping" in _flags(clip_top_stats(z))
    assert "clipping" not in _flags(clip_top_stats(voice))
    # a loud take turned up to -0.1 dBFS is not clipped
    assert "clipping" not in _flags(clip_top_stats(voice / np.abs(voice).max() * 0.99))


def _room(y: np.ndarray, *, rt60_s: float, drr_db: float, seed: int) -> np.ndarray:
    """``y`` in a synthetic room: a direct impulse and exponentially decaying noise, ``drr_db`` apart."""
    rng = np.random.default_rng(seed)
    n = int(min(1.5 * rt60_s, 3.0) * SR)
    tail = rng.standard_normal(n) * np.exp(-6.91 * np.arange(n) / SR / rt60_s)
    tail[: int(0.002 * SR)] = 0.0  # the first reflections arrive after the direct sound
    tail *= 10 ** (-drr_db / 20) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    spec = np.fft.rfft(y, y.size + n) * np.fft.rfft(tail, y.size + n)
    wet = np.fft.irfft(spec, y.size + n)[: y.size]
    return np.asarray(wet / np.abs(wet).max() * 0.5)


def test_reverberation_time_separates_dry_and_wet(voice: np.ndarray) -> None:
    dry = reverb_stats(voice, sample_rate_hz=SR)
    rev = reverb_stats(_room(voice, rt60_s=1.2, drr_db=0.0, seed=3), sample_rate_hz=SR)
    qc = QualityConfig()
    assert dry["rt60_s"] < qc.max_rt60_s < rev["rt60_s"]
    assert rev["decays"] >= qc.min_reverb_windows
    assert "reverberant" in _flags(rev) and "reverberant" not in _flags(dry)


@pytest.mark.parametrize(
    ("name", "rt60_s", "drr_db"),
    [
        ("singing/vocadito/vocadito_14.wav", 2.5, 6.0),
        ("singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav", 2.5, -6.0),
        ("singing/nit_song070/nitech_jp_song070_f001_004.wav", 0.6, 0.0),
        ("speech/librispeech/198-209-0000.flac", 0.6, 6.0),
    ],
)
def test_a_long_room_on_legato_singing_is_reverberant(name: str, rt60_s: float, drr_db: float) -> None:
    """Regression: 2.5 s rooms on continuous singing read 0.33 s off the broadband level (missed).

    Its broadband level hardly ever falls, but a band's does at every change of note; the
    same 4 s dry reads under the limit at the file's rate and at 16 kHz.
    """
    y = np.asarray(load_audio(shared_file(name), target_sr_hz=SR).samples, dtype=np.float64)[: 4 * SR]
    qc = QualityConfig()
    wet = reverb_stats(_room(y, rt60_s=rt60_s, drr_db=drr_db, seed=7), sample_rate_hz=SR)
    assert wet["rt60_s"] > qc.max_rt60_s and "reverberant" in _flags(wet)
    for rate in (SR, 16000):
        d = y if rate == SR else soxr.resample(y, SR, rate)
        dry = reverb_stats(np.asarray(d), sample_rate_hz=rate)
        assert 0.0 < dry["rt60_s"] < qc.max_rt60_s, rate


def test_an_accompanied_item_is_not_also_called_reverberant() -> None:
    """A piano's partials ring on like a room; the diagnosis is the backing music."""
    m = {"rt60_s": 0.61, "decays": 900.0, "struck_share": 0.32, "struck_notes_per_s": 4.0}
    assert _flags(m) == {"accompaniment"}
    assert _flags({**m, "struck_share": 0.05}) == {"reverberant"}


@settings(max_examples=25, deadline=None)
@given(
    rate=st.sampled_from([8000, 16000, 22050, 32000, 44100, 48000]),
    duration_s=st.floats(min_value=0.0, max_value=3.0),
    seed=st.integers(0, 2**16),
)
def test_level_falls_any_rate_and_length(rate: int, duration_s: float, seed: int) -> None:
    y = testing.sing_phrase(sample_rate_hz=rate, seed=seed).audio.astype(np.float64)
    y = y[: round(duration_s * rate)]
    lf = level_falls(y, sample_rate_hz=rate)
    assert lf.levels_db.shape[0] == lf.band_edges_hz.shape[0] == lf.slopes_db_per_s.shape[0]
    assert np.all(lf.band_edges_hz[:, 1] <= 0.45 * min(rate, 16000) + 1e-6)
    r = reverb_stats(y, sample_rate_hz=rate)
    assert np.isfinite(r["rt60_s"]) and r["rt60_s"] >= 0.0 and r["decays"] >= 0.0
    if duration_s < 0.3:
        assert r == {"rt60_s": 0.0, "decays": 0.0}


def test_dead_channel_is_flagged_and_the_level_kept(tmp_path, voice: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    stereo = np.stack([voice * 0.5, np.zeros_like(voice)], axis=1)
    path = tmp_path / "dead.wav"
    sf.write(path, stereo, SR, subtype="FLOAT")
    loaded = load_audio(path, target_sr_hz=SR)
    assert "dead_channel" in loaded.flags
    assert np.allclose(loaded.samples, voice * 0.5, atol=1e-6)  # the live channel, not half of it
    both = np.stack([voice * 0.5, voice * 0.4], axis=1)
    sf.write(path, both, SR, subtype="FLOAT")
    assert "dead_channel" not in load_audio(path, target_sr_hz=SR).flags


def test_mostly_silent_source_and_no_voice_rules() -> None:
    qc = QualityConfig()
    assert "silence" in _flags({"source_active_ratio": 0.12, "source_duration_s": 12.0})
    assert "silence" not in _flags({"source_active_ratio": 0.85, "source_duration_s": 12.0})
    assert "silence" in _flags({"voiced_ratio": 0.01, "duration_s": 4.0})
    assert "silence" not in _flags({"voiced_ratio": 0.4, "duration_s": 4.0})
    assert qc.min_voiced_ratio < 0.3


def test_hum_that_hides_the_voice_is_hum_not_silence() -> None:
    """Regression: hum as loud as a singer pulled the F0 onto the mains line, no frame was voiced,
    and the item was called silent ("room tone or noise") instead of humming."""
    qc = QualityConfig()
    hum = {"hum_lines": 5.0, "hum_db": -0.3, "hum_hz": 50.0}
    no_voice = {"voiced_ratio": 0.0, "duration_s": 4.0, "active_ratio": 1.0}
    assert _flags({**no_voice, **hum}) >= {"hum"} and "silence" not in _flags({**no_voice, **hum})
    assert "silence" in _flags(no_voice)
    weak_hum = {**hum, "hum_db": qc.min_hum_db - 5.0}  # lines too weak to be the diagnosis
    assert "silence" in _flags({**no_voice, **weak_hum})


def test_lossy_codec_from_the_bitrate() -> None:
    assert "lossy_codec" in _flags({"codec_kbps_per_channel": 56.0})
    assert "lossy_codec" not in _flags({"codec_kbps_per_channel": 160.0})
    # mono MP3 at 80 and 96 kbit/s keeps the band but not the detail (bench_quality's codec class)
    assert "lossy_codec" in _flags({"codec_kbps_per_channel": 97.8})
    assert "lossy_codec" not in _flags({"codec_kbps_per_channel": 128.0})


def test_pitch_shifted_and_stretched_copies_are_near_duplicates() -> None:
    import librosa

    phrase = testing.sing_phrase(notes_hz=(220.0, 262.0, 247.0, 294.0, 330.0, 262.0), note_s=0.5, seed=4)
    other = testing.sing_phrase(notes_hz=(196.0, 220.0, 262.0, 220.0, 247.0, 196.0), note_s=0.5, seed=5)
    y = phrase.audio.astype(np.float64)
    copies = {
        "a/orig": y,
        "b/up2": librosa.effects.pitch_shift(y, sr=SR, n_steps=2.0),
        "c/slow": librosa.effects.time_stretch(y, rate=0.92),
        "d/other": other.audio.astype(np.float64),
    }
    from svcprep.dsp.f0 import extract_f0

    contours = {}
    for name, z in copies.items():
        n = z.size // 512 + 1
        tr = extract_f0(z, sample_rate_hz=SR, hop_length=512, n_frames=n, method="dio")
        contours[name] = f0_contour(tr.f0_hz, tr.voiced, frame_s=512 / SR)
    found = {
        m.item_id: m
        for m in transformed_duplicates(contours, min_score=QualityConfig().near_duplicate_contour_min_score)
    }
    assert set(found) == {"b/up2", "c/slow"}
    assert found["b/up2"].other_id == "a/orig" and found["b/up2"].shift_semitones == pytest.approx(
        2.0, abs=0.15
    )
    assert found["c/slow"].stretch == pytest.approx(1 / 0.92, abs=0.03)


def test_speaker_outlier_by_pitch_and_envelope() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 12)
    profiles = {
        f"s/take{i}": ("s", [30.0 + rng.normal(0, 1), *(base + rng.normal(0, 0.5, 12))]) for i in range(8)
    }
    profiles["s/intruder"] = ("s", [12.0, *(base + rng.normal(0, 0.5, 12))])  # 18 semitones lower
    profiles["s/other_mic"] = ("s", [30.0, *(base + 8.0)])  # another voice's envelope
    out = speaker_outliers(profiles, QualityConfig())
    assert set(out) == {"s/intruder", "s/other_mic"}
    assert "semitones below" in out["s/intruder"].detail


def test_voice_profile_tracks_pitch(voice: np.ndarray) -> None:
    n = voice.size // 512 + 1
    f0 = np.full(n, 220.0)
    prof = voice_profile(voice, sample_rate_hz=SR, f0_hz=f0, voiced=np.ones(n, bool), hop_length=512)
    assert prof is not None and prof[0] == pytest.approx(24.0, abs=1e-3)  # 220 Hz = 24 semitones above 55
    assert len(prof) == 13 and np.isfinite(prof).all()


def test_transformed_duplicate_search_aligns_only_plausible_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    # regression: every pair of similar length and pitch was aligned (4,000 items: 8 minutes);
    # the contour's distribution and course pre-filter them, and a planted copy is still found
    from svcprep.quality import duplicates as dup

    rng = np.random.default_rng(7)

    def melody(n: int) -> np.ndarray:
        c = np.repeat(rng.integers(-7, 8, size=n // 25 + 1) * 100.0, 25)[:n] + 5000 + rng.normal(0, 5, n)
        c[np.arange(n) % 25 >= 22] = 0  # a breath after every note
        return c

    contours = {
        f"s/take{k:04d}": {"cents": melody(int(rng.integers(150, 400))).tolist()} for k in range(2000)
    }
    original = np.asarray(contours["s/take0042"]["cents"])
    t = np.arange(round(original.size * 1.05)) / 1.05
    copy = np.interp(t, np.arange(original.size), original) + 150.0  # stretched 1.05, shifted 1.5 semitones
    copy[np.interp(t, np.arange(original.size), (original > 0).astype(float)) < 1] = 0
    contours["s/zcopy"] = {"cents": copy.tolist()}
    calls = []
    real = dup._contour_score
    monkeypatch.setattr(dup, "_contour_score", lambda a, b: calls.append(1) or real(a, b))
    found = dup.transformed_duplicates(contours, min_score=0.8)
    assert [(m.item_id, m.other_id) for m in found] == [("s/zcopy", "s/take0042")]
    assert len(calls) < 100, f"{len(calls)} alignments for 2,001 items"


@pytest.mark.parametrize("stretch", [0.9, 1.1])
def test_a_stretched_contour_is_not_marked_down_for_its_length(stretch: float) -> None:
    """Regression: the score divided by the longer item's voiced frames, so a copy stretched by 1.1
    lost a tenth of its score (0.83 here) and real stretched singing fell under the limit."""
    from svcprep.quality import duplicates as dup

    rng = np.random.default_rng(11)
    notes = np.repeat(rng.integers(-7, 8, size=13) * 100.0, 25)[:300] + 5000 + rng.normal(0, 5, 300)
    notes[np.arange(300) % 25 >= 22] = 0
    t = np.arange(round(notes.size * stretch)) / stretch
    copy = np.interp(t, np.arange(notes.size), notes)
    copy[np.interp(t, np.arange(notes.size), (notes > 0).astype(float)) < 1] = 0
    contours = {"s/a": {"cents": notes.tolist()}, "s/b": {"cents": copy.tolist()}}
    (m,) = dup.transformed_duplicates(contours, min_score=0.88)
    # the frames at each note's edges that the resampled voicing loses are all it misses
    assert m.stretch == pytest.approx(stretch, abs=0.02) and m.score > 0.88


def _arpeggio(n: int, *, sample_rate_hz: int, root_hz: float = 131.0, bpm: float = 104.0) -> np.ndarray:
    """I-V-vi-IV eighth-note arpeggios (piano-like struck notes) filling ``n`` samples."""
    eighth = 30.0 / bpm
    chords = ((0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12))
    notes, onsets = [], []
    for i in range(int(n / sample_rate_hz / eighth) + 1):
        chord = chords[(i // 8) % 4]
        notes.append(root_hz * 2 ** (chord[(0, 1, 2, 1)[i % 4]] / 12) * (2 if i % 8 >= 4 else 1))
        onsets.append(i * eighth)
    y = testing.struck_notes(notes, onsets, duration_s=n / sample_rate_hz, sample_rate_hz=sample_rate_hz)
    return np.asarray(y, dtype=np.float64)[:n]


def _under(voice: np.ndarray, part: np.ndarray, under_db: float) -> np.ndarray:
    rms_v, rms_p = np.sqrt(np.mean(voice**2)), np.sqrt(np.mean(part**2))
    return voice + part * rms_v / rms_p * 10 ** (-under_db / 20)


@pytest.mark.parametrize("under_db", [6.0, 12.0])
def test_accompaniment_is_flagged_under_a_real_voice(voice: np.ndarray, under_db: float) -> None:
    piano = _arpeggio(voice.size, sample_rate_hz=SR)
    mixed = accompaniment_stats(_under(voice, piano, under_db), sample_rate_hz=SR)
    clean = accompaniment_stats(voice, sample_rate_hz=SR)
    qc = QualityConfig()
    assert clean["struck_share"] < qc.max_struck_share / 2 < qc.max_struck_share < mixed["struck_share"]
    # an eighth-note arpeggio at 104 BPM strikes 3.5 notes a second, each with several partials
    assert mixed["struck_notes_per_s"] > 3.5
    assert "accompaniment" in _flags(mixed) and "accompaniment" not in _flags(clean)


def test_accompaniment_is_not_a_room_hum_or_a_sustained_tone(voice: np.ndarray) -> None:
    """The hard negatives: a reverberant take (its tails hold a pitch), mains hum (steady lines), an organ."""
    rng = np.random.default_rng(5)
    t = np.arange(int(1.2 * SR)) / SR
    ir = rng.standard_normal(t.size) * np.exp(-6.91 * t / 1.2)
    ir[0] = 2.0
    from scipy.signal import fftconvolve

    wet = fftconvolve(voice, ir)[: voice.size]
    hummed = voice + _hum(voice.size, mains_hz=50.0, rms=0.3 * float(np.sqrt(np.mean(voice**2))))
    tt = np.arange(voice.size) / SR
    organ = sum(np.sin(2 * np.pi * 196.0 * k * tt) / k for k in range(1, 8))  # held, never struck
    limit = QualityConfig().max_struck_share
    for name, y in {"reverb": wet, "hum": hummed, "organ": _under(voice, organ, 6.0)}.items():
        m = accompaniment_stats(y / np.abs(y).max() * 0.5, sample_rate_hz=SR)
        # a white-noise room tail reads 0.10 here (the bench's low-passed rooms <= 0.06)
        assert m["struck_share"] < (limit if name == "reverb" else limit / 2), name


def test_struck_partials_are_the_notes_played() -> None:
    """Every partial found belongs to a note then ringing, and starts within a window of its onset."""
    sr = 22050
    notes = np.array([196.0, 262.0, 330.0, 247.0])
    onsets = np.array([0.2, 0.8, 1.4, 2.0])
    y = testing.struck_notes(notes, onsets, duration_s=3.0, sample_rate_hz=sr, inharmonicity=0.0)
    y = np.asarray(y, dtype=np.float64)
    sp = struck_partials(y, sample_rate_hz=sr)
    # analysed at 16 kHz whatever the input rate: 90 ms windows, 8 hops per window
    assert (sp.sample_rate_hz, sp.n_fft, sp.hop_length) == (16000, 1440, 180)
    window_s = sp.n_fft / sp.sample_rate_hz
    assert sp.start_frames.size >= 8
    found = set()
    for t0, f in zip(sp.start_frames, sp.freqs_hz, strict=True):
        start_s = t0 * sp.hop_length / sp.sample_rate_hz
        # the note struck last before this frame's window ends
        i = int(np.searchsorted(onsets, start_s + window_s) - 1)
        assert i >= 0 and start_s + window_s - onsets[i] < 2 * window_s
        k = round(f / notes[i])
        assert k >= 1 and abs(1200 * np.log2(f / (k * notes[i]))) < 5.0, (f, notes[i])
        found.add(i)
    assert found == {0, 1, 2, 3}, "every note is found"


def test_a_sung_phrase_swells_and_wavers_so_it_is_not_struck() -> None:
    for sr in (16000, 44100):
        sung = np.asarray(testing.sing_phrase(sample_rate_hz=sr, vibrato_cents=15.0).audio, dtype=np.float64)
        assert accompaniment_stats(sung, sample_rate_hz=sr)["struck_share"] < 0.05
        # the same notes struck instead of sung
        # the same notes struck instead, one every 0.3 s: each covers the ~170 ms of its onset
        # and of the frames its partials are followed over
        notes = np.resize([220.0, 247.0, 262.0, 294.0], 12)
        struck = np.asarray(
            testing.struck_notes(notes, np.arange(12) * 0.3, duration_s=3.6, sample_rate_hz=sr),
            dtype=np.float64,
        )
        m = accompaniment_stats(struck, sample_rate_hz=sr)
        assert m["struck_share"] > 0.4 and m["struck_notes_per_s"] >= 3.0


@settings(max_examples=12, deadline=None)
@given(
    sr=st.sampled_from([16000, 22050, 24000, 32000, 40000, 44100, 48000]),
    seconds=st.floats(min_value=0.0, max_value=1.5),
)
def test_accompaniment_stats_is_finite_on_any_rate_and_length(sr: int, seconds: float) -> None:
    y = np.asarray(testing.noise(duration_s=seconds, sample_rate_hz=sr, amplitude=0.05, seed=1), np.float64)
    m = accompaniment_stats(y, sample_rate_hz=sr)
    assert set(m) == {"struck_share", "struck_notes_per_s"}
    assert all(np.isfinite(v) and v >= 0 for v in m.values()) and m["struck_share"] <= 1.0
    silent = accompaniment_stats(np.zeros(int(seconds * sr)), sample_rate_hz=sr)
    assert silent == {"struck_share": 0.0, "struck_notes_per_s": 0.0}


def test_hum_as_loud_as_the_voice_is_found_when_the_f0_follows_it(voice: np.ndarray) -> None:
    """Regression: hum at 0 dB pulled the F0 (and so the voice floor) onto 60 Hz, which hid every line."""
    rms = float(np.sqrt(np.mean(voice**2)))
    hummed = voice + _hum(voice.size, mains_hz=60.0, rms=rms)
    m = hum_stats(hummed, sample_rate_hz=SR, voice_floor_hz=57.5)  # the floor the extractor then reads
    assert m["hum_hz"] == 60.0 and m["hum_lines"] >= 4 and "hum" in _flags(m)
    # the profile of such an item is not the voice's: speaker_outlier does not judge it
    frames = voice.size // 512 + 1
    f0 = np.full(frames, 60.2)
    assert voice_profile(hummed, sample_rate_hz=SR, f0_hz=f0, voiced=np.ones(frames), hop_length=512) is None
    assert voice_profile(hummed, sample_rate_hz=SR, f0_hz=f0 * 3, voiced=np.ones(frames), hop_length=512)


@pytest.mark.parametrize("note_hz", [150.0, 240.0])
def test_a_note_held_on_a_multiple_of_the_mains_is_not_hum(note_hz: float) -> None:
    """Its steady harmonics sit on mains multiples, but all on multiples of one F0 above them."""
    t = np.arange(6 * SR) / SR
    held = sum(np.sin(2 * np.pi * note_hz * k * t) / k for k in range(1, 7))
    m = hum_stats(np.asarray(held) * 0.1, sample_rate_hz=SR, voice_floor_hz=note_hz * 0.99)
    assert "hum" not in _flags(m), m


@pytest.mark.parametrize("n", [1, 2, 13, 40])
def test_voice_profile_dct_is_scipy_orthonormal_dct(n: int) -> None:
    from scipy.fft import dct

    from svcprep.quality.defects import _dct_ortho

    x = np.random.default_rng(n).standard_normal((n, 9))
    np.testing.assert_allclose(_dct_ortho(n) @ x, dct(x, type=2, axis=0, norm="ortho"), atol=1e-12)


def test_tones_with_equal_crests_are_not_clipping() -> None:
    """A pure tone crests as often near its peak as just below it (the arcsine law gives
    (acos 0.95) / (acos 0.8 - acos 0.95) = 0.975 at the peak): not a flat top."""
    t = np.arange(2 * SR) / SR
    st = clip_top_stats(np.sin(2 * np.pi * 220.0 * t))
    assert st["clip_top_ratio"] == pytest.approx(0.975, abs=0.01)
    assert "clipping" not in _flags(st)
    notes = np.concatenate(
        [a * np.sin(2 * np.pi * f * t[: SR // 2]) for a, f in [(1.0, 220), (0.85, 330)] * 3]
    )
    assert "clipping" not in _flags(clip_top_stats(notes))
