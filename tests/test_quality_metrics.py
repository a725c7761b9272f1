"""Quality metrics and flags against signals with known answers."""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pytest
import soundfile as sf
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import signal

from svcprep import testing
from svcprep.errors import ConfigError, NonFiniteAudioError, SvcprepError
from svcprep.quality.flags import FLAG_DOCS, Flag, QualityConfig, flag_item, loudness_outliers
from svcprep.quality.metrics import (
    DB_FLOOR,
    QualityInputError,
    bandwidth_hz,
    clipping_stats,
    f0_stability,
    feature_metrics,
    item_metrics,
    silence_stats,
    snr_db,
    spectrum_evidence,
)
from tests._data import shared_file


def _data(rel: str) -> tuple[np.ndarray, int]:
    y, sr = sf.read(shared_file(rel), dtype="float32")
    return y, sr


def _ref_stuck_runs(y: np.ndarray, value: float, min_run: int = 3) -> int:
    """Independent count: runs of exactly `value` at least min_run long (plain loop)."""
    runs, length = 0, 0
    for v in [*y.tolist(), None]:
        if v is not None and v == value:
            length += 1
        else:
            if length >= min_run:
                runs += 1
            length = 0
    return runs


# --------------------------------------------------------------------------- silence


@pytest.mark.parametrize("sr", [16000, 44100, 48000])
def test_silence_edges_and_active_ratio(sr: int) -> None:
    lead_s, body_s, trail_s = 1.0, 2.0, 0.5
    body = testing.tone(220.0, duration_s=body_s, sample_rate_hz=sr, amplitude=0.5)
    y = np.concatenate(
        [np.zeros(round(lead_s * sr), np.float32), body, np.zeros(round(trail_s * sr), np.float32)]
    )
    s = silence_stats(y, sample_rate_hz=sr)
    frame_s = round(0.02 * sr) / sr
    assert s["leading_silence_s"] == pytest.approx(lead_s, abs=frame_s)
    assert s["trailing_silence_s"] == pytest.approx(trail_s, abs=frame_s)
    assert s["active_ratio"] == pytest.approx(body_s / (lead_s + body_s + trail_s), abs=0.02)


def test_silence_thresholds_relative_and_absolute() -> None:
    sr = 44100
    loud = testing.tone(300.0, duration_s=1.0, sample_rate_hz=sr, amplitude=0.5)
    # 50 dB below the loud part: inactive (more than 40 dB down)
    quiet = testing.tone(300.0, duration_s=1.0, sample_rate_hz=sr, amplitude=0.5 * 10 ** (-50 / 20))
    s = silence_stats(np.concatenate([loud, quiet]), sample_rate_hz=sr)
    assert s["active_ratio"] == pytest.approx(0.5, abs=0.02)
    assert s["trailing_silence_s"] == pytest.approx(1.0, abs=0.02)
    # everything below -60 dBFS: nothing is active, both edges are the whole item
    faint = testing.tone(300.0, duration_s=1.0, sample_rate_hz=sr, amplitude=10 ** (-70 / 20))
    s = silence_stats(faint, sample_rate_hz=sr)
    assert s == {"active_ratio": 0.0, "leading_silence_s": 1.0, "trailing_silence_s": 1.0}


# --------------------------------------------------------------------------- clipping


@pytest.mark.parametrize(("freq", "sr"), [(55.0, 8000), (100.0, 44100), (440.0, 44100), (987.0, 96000)])
def test_clean_sines_do_not_clip(freq: float, sr: int) -> None:
    y = testing.tone(freq, duration_s=1.0, sample_rate_hz=sr, amplitude=0.999)
    assert clipping_stats(y)["clip_runs"] == 0
    # also after 16-bit quantisation, and a slow sine at a high rate
    q = (np.round(y * 32767) / 32768).astype(np.float32)
    assert clipping_stats(q)["clip_runs"] == 0


def test_quantised_slow_sine_is_not_clipping() -> None:
    # a 50 Hz sine at 96 kHz sits on its top 16-bit step for several samples each cycle
    y = testing.tone(50.0, duration_s=1.0, sample_rate_hz=96000, amplitude=0.99)
    q = (np.round(y * 32767) / 32768).astype(np.float32)
    assert _ref_stuck_runs(q, float(q.max())) > 0  # the naive rule would fire
    assert clipping_stats(q)["clip_runs"] == 0


def test_band_limited_square_hits_its_peak_once_per_cycle() -> None:
    sr, f = 44100, 110.0
    t = np.arange(sr) / sr
    y = sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 40, 2))
    y = (0.9 * y / np.max(np.abs(y))).astype(np.float32)
    assert clipping_stats(y)["clip_runs"] == 0


@pytest.mark.parametrize("turn_down", [1.0, 0.5])
@pytest.mark.parametrize("gain_db", [3.0, 6.0, 12.0])
def test_clipped_voice_counts_match_reference(gain_db: float, turn_down: float) -> None:
    v = testing.sing_phrase(sample_rate_hz=44100, amplitude=0.8).audio
    y = (testing.clipped(v, gain_db=gain_db) * turn_down).astype(np.float32)
    c = clipping_stats(y)
    expected = _ref_stuck_runs(y, float(y.max())) + _ref_stuck_runs(y, float(y.min()))
    assert expected > 10
    # hard clips are entered steeply; only crests that barely graze the ceiling (entered
    # at less than 0.1 x the mean slope) may be left out
    assert 0.97 * expected <= c["clip_runs"] <= expected
    assert c["clip_ratio"] == pytest.approx(c["clip_samples"] / y.size)
    assert c["peak_abs"] == pytest.approx(turn_down, rel=1e-6)


# --------------------------------------------------------------------------- noise


def _voice_plus_noise(snr: float, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    v = testing.sing_phrase(sample_rate_hz=44100, breath=0.002, seed=seed).audio.astype(np.float64)
    w = np.random.default_rng(100 + seed).standard_normal(v.size)
    w *= math.sqrt(np.mean(v**2) / np.mean(w**2) / 10 ** (snr / 10))
    return v, w


def test_snr_tracks_known_white_noise_levels() -> None:
    estimates = []
    for snr in (0.0, 10.0, 20.0, 30.0):
        v, w = _voice_plus_noise(snr)
        true = 10 * math.log10(np.mean(v**2) / np.mean(w**2))
        est = snr_db((v + w).astype(np.float32), sample_rate_hz=44100)
        estimates.append(est)
        if snr >= 10:
            assert est == pytest.approx(true, abs=3.0), (snr, est)
    assert all(b > a + 5 for a, b in itertools.pairwise(estimates))


def test_snr_of_pink_noise_and_silence() -> None:
    sr = 22050
    v, _ = _voice_plus_noise(20.0, seed=1)
    v = soxr.resample(v, 44100, sr)
    rng = np.random.default_rng(5)
    spec = np.fft.rfft(rng.standard_normal(v.size))
    spec /= np.sqrt(np.maximum(np.fft.rfftfreq(v.size, 1 / sr), 20.0))
    pink = np.fft.irfft(spec, n=v.size)
    pink *= math.sqrt(np.mean(v**2) / np.mean(pink**2) / 10 ** (15 / 10))
    est = snr_db((v + pink).astype(np.float32), sample_rate_hz=sr)
    assert est == pytest.approx(15.0, abs=4.0)
    assert snr_db(np.zeros(1000, np.float32), sample_rate_hz=sr) == 100.0


# --------------------------------------------------------------------------- bandwidth


def test_bandwidth_of_full_band_and_upsampled_audio() -> None:
    sr = 44100
    v = testing.sing_phrase(sample_rate_hz=sr, breath=0.01).audio
    assert bandwidth_hz(v, sample_rate_hz=sr) > 14000
    for src, lo, hi in ((16000, 7000, 8000), (11025, 4800, 5513), (8000, 3400, 4000), (22050, 9600, 11025)):
        up = soxr.resample(soxr.resample(v, sr, src), src, sr)
        assert lo <= bandwidth_hz(up, sample_rate_hz=sr) <= hi, src


def test_bandwidth_of_lowpass_mp3_and_tone() -> None:
    sr = 44100
    v = testing.sing_phrase(sample_rate_hz=sr, breath=0.01).audio
    sos = signal.butter(12, 6000, fs=sr, output="sos")
    lp = signal.sosfiltfilt(sos, v).astype(np.float32)
    assert 5500 <= bandwidth_hz(lp, sample_rate_hz=sr) <= 8000
    buf = io.BytesIO()
    sf.write(buf, v, sr, format="MP3", subtype="MPEG_LAYER_III")
    buf.seek(0)
    mp3, _ = sf.read(buf, dtype="float32")
    assert bandwidth_hz(mp3, sample_rate_hz=sr) < 20000  # the encoder's low-pass
    t = testing.tone(1000.0, duration_s=1.0, sample_rate_hz=sr)
    assert bandwidth_hz(t, sample_rate_hz=sr) == pytest.approx(1000.0, abs=300.0)


def test_spectrum_evidence_is_what_bandwidth_and_snr_read() -> None:
    """The report's spectrum panel draws the detectors' own inputs."""
    sr = 44100
    v = testing.sing_phrase(sample_rate_hz=sr, breath=0.01).audio
    rng = np.random.default_rng(4)
    for y in (
        v,
        soxr.resample(soxr.resample(v, sr, 16000), 16000, sr),
        v + 0.02 * rng.standard_normal(v.size),
    ):
        y = np.asarray(y, dtype=np.float32)
        ev = spectrum_evidence(y, sample_rate_hz=sr)
        assert ev is not None
        freqs, lt_db, floor_db = ev
        assert freqs.shape == lt_db.shape == floor_db.shape and lt_db.max() == pytest.approx(0.0)
        # the highest frequency within 60 dB of the peak is bandwidth_hz
        assert float(freqs[np.flatnonzero(lt_db >= -60.0)[-1]]) == pytest.approx(
            bandwidth_hz(y, sample_rate_hz=sr)
        )
    # the last y: white noise under the phrase. Above 12 kHz, where the voice has little, the
    # floor is the spectrum (within 3 dB) and flat like white noise; in the voice's band
    # (200 Hz-1 kHz) the spectrum stands well over it
    hi = freqs > 12000
    assert np.median(np.abs(lt_db[hi] - floor_db[hi])) < 3.0 and floor_db[hi].std() < 3.0
    band = (freqs > 200) & (freqs < 1000)
    assert np.median(lt_db[band] - floor_db[band]) > 10.0
    assert spectrum_evidence(np.zeros(1000, np.float32), sample_rate_hz=sr) is None


# --------------------------------------------------------------------------- level


def test_levels_and_dc_offset_of_a_sine() -> None:
    sr, amp, dc = 48000, 0.5, 0.05
    y = testing.tone(1000.0, duration_s=2.0, sample_rate_hz=sr, amplitude=amp)
    m = item_metrics(y, sample_rate_hz=sr)
    assert m["peak_dbfs"] == pytest.approx(20 * math.log10(amp), abs=0.01)
    assert m["rms_dbfs"] == pytest.approx(20 * math.log10(amp / math.sqrt(2)), abs=0.01)
    # BS.1770: a full-scale 1 kHz sine reads -3.01 LKFS (K-weighting gain at 1 kHz ~ +0.69 dB)
    assert m["loudness_lufs"] == pytest.approx(-3.01 + 20 * math.log10(amp), abs=0.1)
    assert m["dc_offset"] == pytest.approx(0.0, abs=1e-6)
    m = item_metrics((y + dc).astype(np.float32), sample_rate_hz=sr)
    assert m["dc_offset"] == pytest.approx(dc, abs=1e-6)
    assert m["duration_s"] == 2.0
    assert m["sample_rate_hz"] == sr


# --------------------------------------------------------------------------- F0


def test_f0_stability_counts_on_a_constructed_track() -> None:
    sr, hop = 44100, 512
    frame_s = hop / sr
    f0 = np.full(400, 220.0)
    voiced = np.ones(400, bool)
    f0[100:120] = 440.0  # up an octave and back: 2 jumps
    f0[200:210] = 110.0  # down and back: 2 jumps
    f0[300:305] = 230.0  # small step: no jump
    voiced[50:60] = False  # 3 runs: [0,50) [60,400) split at 350 below
    voiced[350:352] = False
    voiced[355:357] = False  # makes a 3-frame run [352,355): a fragment under 0.1 s
    f0[60] = 50.2  # within 1 % of the 50 Hz floor
    f0[61] = 1095.0  # within 1 % of the 1100 Hz ceiling
    m = f0_stability(f0, sample_rate_hz=sr, hop_length=hop, voiced=voiced)
    n_voiced = int(voiced.sum())
    # frame 60 follows a 116 ms unvoiced gap (no jump across it); the two-frame spike 50.2 -> 1095
    # -> 220 is an extractor slip that the 5-frame median removes; each excursion counts twice
    jumps = 4
    assert m["octave_jumps"] == pytest.approx(jumps / (n_voiced * frame_s))
    assert m["voiced_runs_per_s"] == pytest.approx(4 / (400 * frame_s))
    assert m["short_voiced_run_ratio"] == pytest.approx(3 / n_voiced)
    assert m["f0_at_limits_ratio"] == pytest.approx(2 / n_voiced)
    assert m["voiced_ratio"] == pytest.approx(n_voiced / 400)


def test_octave_jumps_spread_over_frames_and_across_short_gaps() -> None:
    """Regression: harvest spreads an octave splice over 2-3 frames (250, 233, 148, 129 Hz) and
    alternations break the voicing for a frame or two; both read 0 jumps before."""
    sr, hop = 44100, 512
    f0 = np.r_[np.full(100, 250.0), 233.0, 148.0, np.full(100, 129.0)]
    m = f0_stability(f0, sample_rate_hz=sr, hop_length=hop)
    assert m["octave_jumps"] * (f0.size * hop / sr) == pytest.approx(1.0)
    alt = np.tile(np.r_[np.full(10, 220.0), 0.0, np.full(10, 440.0), 0.0], 10)
    m = f0_stability(alt, sample_rate_hz=sr, hop_length=hop)
    voiced_s = np.count_nonzero(alt) * hop / sr
    # 19 alternations, less the first and the last, within 0.15 s of the phrase's edges
    assert m["octave_jumps"] * voiced_s == pytest.approx(17.0)


def test_f0_disagreement_ratio() -> None:
    f0 = np.full(200, 300.0)
    second = f0.copy()
    second[:50] *= 2 ** (60 / 1200)  # 60 cents off: disagree
    second[50:80] *= 2 ** (40 / 1200)  # 40 cents: agree
    second[180:] = 0.0  # unvoiced in the second track: not jointly voiced
    m = f0_stability(f0, sample_rate_hz=16000, hop_length=160, second_f0_hz=second)
    assert m["f0_disagreement_ratio"] == pytest.approx(50 / 180)


def test_f0_stability_of_real_truth_track() -> None:
    path = shared_file("singing/vocadito/vocadito_1.f0.csv")
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    f0 = rows[:, 1]
    m = f0_stability(f0, sample_rate_hz=44100, hop_length=256)
    # hand-annotated singing: no octave errors, voiced ~64 % (README: 36 % unvoiced)
    assert m["octave_jumps"] < 0.1
    assert m["voiced_ratio"] == pytest.approx(0.64, abs=0.03)
    # the same track with every other 100-frame block doubled disagrees on those blocks
    doubled = f0.copy()
    blocks = (np.arange(f0.size) // 100) % 2 == 1
    doubled[blocks] *= 2
    m = f0_stability(f0, sample_rate_hz=44100, hop_length=256, second_f0_hz=doubled)
    voiced = f0 > 0
    assert m["f0_disagreement_ratio"] == pytest.approx((blocks & voiced).sum() / voiced.sum())
    m = f0_stability(doubled, sample_rate_hz=44100, hop_length=256)
    assert m["octave_jumps"] > 1.0


def test_item_metrics_with_features() -> None:
    v = testing.sing_phrase(sample_rate_hz=44100)
    n = v.audio.size // 512 + 1
    f0 = v.f0_at(np.arange(n) * 512 / 44100)
    per = np.where(f0 > 0, 0.9, 0.1)
    m = item_metrics(v.audio, sample_rate_hz=44100, f0_hz=f0, voiced=f0 > 0, periodicity=per, second_f0_hz=f0)
    assert m["octave_jumps"] == 0.0
    assert m["f0_disagreement_ratio"] == 0.0
    assert m["mean_voiced_periodicity"] == pytest.approx(0.9)
    assert all(math.isfinite(x) for x in m.values())


def test_feature_metrics() -> None:
    n_samples, hop = 44100, 512
    n = n_samples // hop + 1
    good = {"f0": np.zeros(n), "mel": np.zeros((n, 128)), "volume": np.zeros(n)}
    assert feature_metrics(n_samples, good, hop_length=hop) == {
        "non_finite_feature_values": 0.0,
        "frame_count_error": 0.0,
    }
    bad = dict(good, mel=np.zeros((n - 2, 128)))
    bad["f0"] = np.where(np.arange(n) < 3, np.nan, 0.0)
    m = feature_metrics(n_samples, bad, hop_length=hop)
    assert m == {"non_finite_feature_values": 3.0, "frame_count_error": 2.0}
    flags = {f.name for f in flag_item(m, QualityConfig())}
    assert flags == {"nan_features", "frame_mismatch"}


# --------------------------------------------------------------------------- bad input


def test_bad_input_raises_svcprep_errors() -> None:
    y = np.zeros(1000, np.float32)
    with pytest.raises(NonFiniteAudioError, match="NaN"):
        item_metrics(np.array([0.0, np.nan], np.float32), sample_rate_hz=16000)
    with pytest.raises(QualityInputError, match="1-D"):
        item_metrics(np.zeros((2, 100), np.float32), sample_rate_hz=16000)
    with pytest.raises(ConfigError, match="sample_rate_hz"):
        item_metrics(y, sample_rate_hz=0)
    with pytest.raises(QualityInputError, match="floating point"):
        item_metrics(np.zeros(100, np.int16), sample_rate_hz=16000)
    with pytest.raises(QualityInputError, match="frames"):
        item_metrics(y, sample_rate_hz=16000, f0_hz=np.ones(10), voiced=np.ones(9))
    with pytest.raises(QualityInputError, match="need f0_hz"):
        item_metrics(y, sample_rate_hz=16000, voiced=np.ones(3))
    with pytest.raises(ConfigError, match="f0_floor_hz"):
        f0_stability(np.ones(3), sample_rate_hz=16000, f0_floor_hz=500, f0_ceil_hz=100)
    assert issubclass(QualityInputError, SvcprepError)


def test_nan_in_f0_is_treated_as_unvoiced() -> None:
    f0 = np.array([200.0, np.nan, 200.0, np.inf, 200.0])
    m = f0_stability(f0, sample_rate_hz=16000, hop_length=160)
    assert m["voiced_ratio"] == pytest.approx(3 / 5)
    assert all(math.isfinite(x) for x in m.values())


@settings(max_examples=25, deadline=None)
@given(
    sr=st.integers(8000, 96000),
    n=st.one_of(st.sampled_from([0, 1, 2, 3, 511, 513]), st.integers(0, 30000)),
    kind=st.sampled_from(["silence", "noise", "tone", "dc"]),
)
def test_metrics_are_finite_for_any_rate_and_length(sr: int, n: int, kind: str) -> None:
    rng = np.random.default_rng(n)
    if kind == "silence":
        y = np.zeros(n, np.float32)
    elif kind == "noise":
        y = (0.1 * rng.standard_normal(n)).astype(np.float32)
    elif kind == "tone":
        y = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(n) / sr)).astype(np.float32)
    else:
        y = np.full(n, 0.25, np.float32)
    f0 = np.full(n // 512 + 1, 220.0)
    m = item_metrics(y, sample_rate_hz=sr, f0_hz=f0, voiced=np.ones_like(f0), second_f0_hz=f0)
    assert all(math.isfinite(v) for v in m.values()), m
    assert 0.0 <= m["active_ratio"] <= 1.0
    assert 0.0 <= m["bandwidth_hz"] <= sr / 2
    assert m["leading_silence_s"] + m["trailing_silence_s"] <= 2 * n / sr + 1e-9
    assert m["loudness_lufs"] >= DB_FLOOR
    if kind == "silence":
        assert m["peak_dbfs"] == DB_FLOOR
        assert m["clip_runs"] == 0.0
    flag_item(m, QualityConfig())  # never raises on finite metrics


# --------------------------------------------------------------------------- flags


def test_flag_vocabulary() -> None:
    assert set(FLAG_DOCS) == {
        "decode_error",
        "truncated",
        "non_finite",
        "exact_duplicate",
        "near_duplicate",
        "silence",
        "clipping",
        "unstable_f0",
        "noisy",
        "low_bandwidth",
        "too_short",
        "too_long",
        "dc_offset",
        "loudness_outlier",
        "nan_features",
        "frame_mismatch",
        # reason codes and build flags, in the same closed vocabulary since schema 2
        "unreadable",
        "empty",
        "bad_sample_rate",
        "channel_cancellation",
        "f0_out_of_range",
        "processing_error",
        "quality_error",
        # quality manifest v2: one flag per defect
        "dead_channel",
        "hum",
        "reverberant",
        "accompaniment",
        "dropout",
        "lossy_codec",
        "speaker_outlier",
    }
    assert all(isinstance(v, str) and v.endswith(".") for v in FLAG_DOCS.values())


def test_quality_config_is_frozen_and_strict() -> None:
    cfg = QualityConfig()
    with pytest.raises(ValidationError):
        cfg.min_snr_db = 3.0  # type: ignore[misc]
    with pytest.raises(ValidationError):
        QualityConfig(min_snr_dB=3.0)  # type: ignore[call-arg]


CLEAN = {
    "sample_rate_hz": 44100.0,
    "duration_s": 8.0,
    "active_ratio": 0.9,
    "leading_silence_s": 0.2,
    "trailing_silence_s": 0.3,
    "clip_ratio": 0.0,
    "clip_runs": 0.0,
    "clip_samples": 0.0,
    "peak_abs": 0.5,
    "snr_db": 35.0,
    "bandwidth_hz": 18000.0,
    "dc_offset": 0.0001,
    "octave_jumps": 0.0,
    "short_voiced_run_ratio": 0.05,
    "f0_at_limits_ratio": 0.0,
    "f0_disagreement_ratio": 0.02,
}


@pytest.mark.parametrize(
    ("change", "flag", "metric"),
    [
        ({"duration_s": 1.0}, "too_short", "duration_s"),
        ({"duration_s": 25.0}, "too_long", "duration_s"),
        ({"active_ratio": 0.3}, "silence", "active_ratio"),
        ({"trailing_silence_s": 4.0}, "silence", "trailing_silence_s"),
        ({"clip_ratio": 0.01, "clip_runs": 40.0, "clip_samples": 3528.0}, "clipping", "clip_ratio"),
        ({"snr_db": 8.0}, "noisy", "snr_db"),
        ({"bandwidth_hz": 7800.0}, "low_bandwidth", "bandwidth_hz"),
        ({"dc_offset": -0.05}, "dc_offset", "dc_offset"),
        ({"octave_jumps": 2.0}, "unstable_f0", "octave_jumps"),
        ({"f0_at_limits_ratio": 0.5}, "unstable_f0", "f0_at_limits_ratio"),
    ],
)
def test_each_threshold_fires_alone(change: dict[str, float], flag: str, metric: str) -> None:
    cfg = QualityConfig(min_duration_s=2.0, max_duration_s=20.0)  # a build fills these from [slice]
    assert flag_item(CLEAN, cfg) == []
    flags = flag_item({**CLEAN, **change}, cfg)
    assert [f.name for f in flags] == [flag]
    f = flags[0]
    assert f.metric == metric
    assert f.value == change[metric]
    assert isinstance(f.detail, str) and len(f.detail) > 10


def test_a_reverberant_item_is_not_also_called_noisy() -> None:
    """Regression: a 2.5 s room's tail filled the pauses, and the blind SNR read it as noise."""
    cfg = QualityConfig()
    wet = {**CLEAN, "snr_db": 9.3, "rt60_s": 0.61, "decays": 216.0}
    assert [f.name for f in flag_item(wet, cfg)] == ["reverberant"]
    # the same SNR in a dry room is noise
    assert [f.name for f in flag_item({**wet, "rt60_s": 0.2}, cfg)] == ["noisy"]


def test_octave_jumps_over_backing_music_or_hum_are_not_unstable_f0() -> None:
    """Regression: over a band the F0 followed the bass (1.77 jumps per voiced second) and the item
    got unstable_f0 besides accompaniment; real octave splices read 0.55 and up."""
    cfg = QualityConfig()
    spliced = {**CLEAN, "octave_jumps": 0.55}
    assert [f.name for f in flag_item(spliced, cfg)] == ["unstable_f0"]
    band = {**CLEAN, "octave_jumps": 1.77, "struck_share": 0.45, "struck_notes_per_s": 7.0}
    assert [f.name for f in flag_item(band, cfg)] == ["accompaniment"]
    hummed = {**CLEAN, "octave_jumps": 1.04, "hum_db": -3.3, "hum_hz": 60.0, "hum_lines": 5.0}
    assert [f.name for f in flag_item(hummed, cfg)] == ["hum"]
    # an F0 pinned at the search limits is still unstable there
    pinned = {**band, "f0_at_limits_ratio": 0.5}
    assert {f.name for f in flag_item(pinned, cfg)} == {"accompaniment", "unstable_f0"}


def test_flag_details_and_merging() -> None:
    cfg = QualityConfig()
    m = {**CLEAN, "clip_ratio": 412 / 352800, "clip_runs": 9.0, "clip_samples": 412.0, "peak_abs": 0.7071}
    (f,) = flag_item(m, cfg)
    assert "412 samples" in f.detail and "9 runs" in f.detail and "0.7071" in f.detail
    assert f.threshold == cfg.max_clip_ratio
    m = {**CLEAN, "leading_silence_s": 5.0, "trailing_silence_s": 6.0}
    (f,) = flag_item(m, cfg)
    assert f.metric == "leading_silence_s" and "6.00 s" in f.detail
    # a clip ratio over the limit with fewer runs than min_clip_runs is one flat crest
    assert flag_item({**CLEAN, "clip_ratio": 0.01, "clip_runs": 2.0}, cfg) == []


def test_low_bandwidth_respects_the_dataset_rate() -> None:
    cfg = QualityConfig()
    at16k = {**CLEAN, "sample_rate_hz": 16000.0, "bandwidth_hz": 7600.0}
    assert flag_item(at16k, cfg) == []  # full band for a 16 kHz dataset
    at16k_lp = {**at16k, "bandwidth_hz": 3900.0}  # upsampled from 8 kHz
    assert [f.name for f in flag_item(at16k_lp, cfg)] == ["low_bandwidth"]


def test_loudness_outliers_per_speaker() -> None:
    cfg = QualityConfig()
    values = {f"a{i}": ("alice", -20.0 + 0.5 * (i % 5 - 2)) for i in range(12)}
    values["a_loud"] = ("alice", -8.0)
    values["a_quiet"] = ("alice", -33.0)
    values["a_edge"] = ("alice", -25.0)  # 5 dB off: under the 6 dB floor
    values.update({f"b{i}": ("bob", -30.0 + i) for i in range(3)})  # too few to judge
    values["b_far"] = ("bob", -5.0)
    out = loudness_outliers(values, cfg)
    assert set(out) == {"a_loud", "a_quiet"}
    f = out["a_loud"]
    assert isinstance(f, Flag) and f.name == "loudness_outlier"
    assert "louder" in f.detail and "quieter" in out["a_quiet"].detail
    # the threshold is the robust spread or the floor, whichever is larger
    vals = np.array([v for k, (s, v) in values.items() if s == "alice"])
    med = np.median(vals)
    mad = 1.4826 * np.median(np.abs(vals - med))
    assert f.threshold == pytest.approx(max(cfg.loudness_outlier_z * mad, cfg.loudness_outlier_min_db))
    # a wide spread never hides an item more than loudness_outlier_max_db off the median
    wide = {f"w{i}": ("w", -20.0 + 8.0 * (i % 5 - 2)) for i in range(10)}
    wide["w_far"] = ("w", -20.0 - 21.0)
    out = loudness_outliers(wide, cfg)
    assert set(out) == {"w_far"} and out["w_far"].threshold == cfg.loudness_outlier_max_db


# --------------------------------------------------------------------------- real recordings


@pytest.mark.parametrize(
    "rel",
    [
        "singing/nit_song070/nitech_jp_song070_f001_004.wav",
        "singing/sms_tools/soprano-E4.wav",
        "singing/vocadito/vocadito_1.wav",
        "speech/sms_tools/speech-male.wav",
    ],
)
def test_real_recordings_clean_and_defects(rel: str) -> None:
    y, sr = _data(rel)
    y = y[: sr * 10]
    cfg = QualityConfig()
    names = {f.name for f in flag_item(item_metrics(y, sample_rate_hz=sr), cfg)}
    assert not names & {"clipping", "dc_offset", "noisy", "low_bandwidth"}
    peak = float(np.max(np.abs(y)))
    hot = (np.clip(y / peak * 10 ** (6 / 20), -1, 1) * 0.7).astype(np.float32)  # clipped, then turned down
    assert "clipping" in {f.name for f in flag_item(item_metrics(hot, sample_rate_hz=sr), cfg)}
    shifted = (y + 0.05).astype(np.float32)
    assert "dc_offset" in {f.name for f in flag_item(item_metrics(shifted, sample_rate_hz=sr), cfg)}
    up = soxr.resample(soxr.resample(y, sr, 16000), 16000, sr)
    assert "low_bandwidth" in {f.name for f in flag_item(item_metrics(up, sample_rate_hz=sr), cfg)}
