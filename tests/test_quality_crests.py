"""Clipping judged crest by crest (``crests`` / ``crest_stats``): flat tops through later processing."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import lfilter

from svcprep import testing
from svcprep.quality.defects import crest_stats, crests
from svcprep.quality.flags import QualityConfig, flag_item
from tests._data import shared_file
from tests.badfiles import mp3_supported

SR = 44100
#: The metrics each crest rule reads, by the metric its flag names.
RULES = {
    "flat_crest_share": ("flat_crests", "flat_crest_share"),
    "straight_crests_per_s": ("straight_crests", "straight_crests_per_s"),
}


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    """8 s of real solo singing at 44.1 kHz (vocadito_1 from 2 s), peak 1."""
    y, sr = sf.read(shared_file("singing/vocadito/vocadito_1.wav"), dtype="float64")
    y = np.asarray(soxr.resample(y, sr, SR) if sr != SR else y)[2 * SR : 10 * SR]
    return y / np.abs(y).max()


def _crest_flags(m: dict[str, float]) -> set[str]:
    """Which of the two crest rules set ``clipping`` (each judged on its own metrics alone)."""
    return {
        rule
        for rule, keys in RULES.items()
        if any(f.name == "clipping" for f in flag_item({k: m[k] for k in keys}, QualityConfig()))
    }


def _stats(y: np.ndarray, sr: int = SR) -> dict[str, float]:
    return crest_stats(np.asarray(y, dtype=np.float64), sample_rate_hz=sr)


def _mp3(y: np.ndarray, sr: int = SR) -> np.ndarray:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="MP3", subtype="MPEG_LAYER_III", compression_level=0.3)
    buf.seek(0)
    z, _ = sf.read(buf, dtype="float64")
    return np.asarray(z)


def _compressor(
    y: np.ndarray,
    *,
    threshold: float = 0.25,
    ratio: float = 4.0,
    attack_s: float = 0.005,
    release_s: float = 0.08,
) -> np.ndarray:
    """A feed-forward compressor on a peak envelope with attack and release: its gain moves within
    a crest (by up to a few per cent), which tilts a clipped top."""
    att, rel = np.exp(-1.0 / (attack_s * SR)), np.exp(-1.0 / (release_s * SR))
    env = np.empty_like(y)
    e = 0.0
    for i, v in enumerate(np.abs(y).tolist()):
        k = att if v > e else rel
        e = k * e + (1.0 - k) * v
        env[i] = e
    gain = np.maximum(env / threshold, 1.0) ** (1.0 / ratio - 1.0)
    z = y * gain
    return np.asarray(z * 0.85 / np.abs(z).max())


def test_top_residual_is_the_least_squares_line_residual() -> None:
    """Each crest's ``top_residual`` is the RMS distance of its top samples from their own polyfit line."""
    rng = np.random.default_rng(3)
    y = lfilter([1.0], [1.0, -1.98, 0.985], rng.standard_normal(40000))
    c = crests(y)
    checked = 0
    for i in np.flatnonzero(c.within_2 >= 3)[:200]:
        side = y[c.start[i] : c.end[i]] * c.polarity[i]
        top = side.max()
        t = np.flatnonzero(side >= 0.98 * top)
        v = side[t] / top
        fit = np.polyval(np.polyfit(t, v, 1), t)
        assert c.top_residual[i] == pytest.approx(np.sqrt(np.mean((v - fit) ** 2)), abs=1e-9)
        assert c.within_2[i] == t.size and c.within_6[i] == np.count_nonzero(side >= 0.94 * top)
        assert side[c.top_index[i] - c.start[i]] == top
        checked += 1
    assert checked >= 30
    # every crest rises above 30 % of its polarity's peak, and only there
    assert np.all(c.height > 0.3) and np.all(c.height <= 1.0)


@pytest.mark.parametrize(("f0_hz", "sr"), [(110.0, 44100), (220.0, 48000), (100.0, 16000), (300.0, 22050)])
def test_a_sine_crest_follows_the_parabola_law(f0_hz: float, sr: int) -> None:
    """A smooth crest spends acos(0.98) / acos(0.94) = 0.575 of its time within 6 % also within 2 %
    (to within a sample either way: the counts are whole samples)."""
    t = np.arange(2 * sr) / sr
    c = crests(np.sin(2 * np.pi * f0_hz * t))
    ok = c.judged
    assert ok.sum() >= 300
    law = np.arccos(0.98) / np.arccos(0.94)
    expected_6 = 2 * np.arccos(0.94) / (2 * np.pi) * sr / f0_hz
    assert np.all(np.abs(c.within_6[ok] - expected_6) <= 1.0)
    assert np.all(np.abs(c.within_2[ok] - law * expected_6) <= 1.0)
    assert not c.flat.any() and not c.straight.any()
    st_ = _stats(np.sin(2 * np.pi * f0_hz * t), sr)
    assert st_["flat_crests"] == 0 and st_["straight_crests"] == 0


def test_clipped_then_mp3_coded_voice_is_clipping(voice: np.ndarray) -> None:
    if not mp3_supported():
        pytest.skip("this libsndfile cannot write MP3")
    clean = _mp3(voice * 0.9)
    for overdrive_db in (3.0, 6.0, 12.0):
        coded = _mp3(np.asarray(testing.clipped(voice, gain_db=overdrive_db)) * 0.9)
        m = _stats(coded)
        assert "flat_crest_share" in _crest_flags(m), (overdrive_db, m)
        # the codec leaves no sample stuck at the peak: only the crest shape shows the clip
        assert np.count_nonzero(coded == coded.max()) < 3
    assert not _crest_flags(_stats(clean))


def test_clipped_then_compressed_voice_is_clipping(voice: np.ndarray) -> None:
    """A compressor moves every crest's height, but a clipped top stays a straight (tilted) line."""
    for overdrive_db in (6.0, 12.0):
        z = _compressor(np.asarray(testing.clipped(voice, gain_db=overdrive_db), dtype=np.float64))
        m = _stats(z)
        assert "straight_crests_per_s" in _crest_flags(m), (overdrive_db, m)
    assert not _crest_flags(_stats(_compressor(voice)))


def test_loud_band_limited_and_offset_takes_are_not_clipping(voice: np.ndarray) -> None:
    """Regressions: a take through 11.025 kHz (its crests broad and smooth) and one with a DC offset
    (a crest's 2 % must be 2 % of its height over the mean) read as flat tops before."""
    y, sr = sf.read(shared_file("singing/sms_tools/singing-female.wav"), dtype="float64")
    y = soxr.resample(y, sr, SR) if sr != SR else y
    y = 0.95 * y / np.abs(y).max()
    for z in (
        soxr.resample(soxr.resample(y, SR, 11025), 11025, SR),
        soxr.resample(soxr.resample(y, SR, 8000), 8000, SR),
        y,
        0.8 * voice + 0.1,
        0.99 * voice,
    ):
        assert not _crest_flags(_stats(z))


def test_silence_and_dc_have_no_crests() -> None:
    for y in (np.zeros(1000), np.full(1000, 0.3), np.zeros(0)):
        m = _stats(y)
        assert m == dict.fromkeys((*RULES["flat_crest_share"], *RULES["straight_crests_per_s"]), 0.0)


def test_flag_details_name_metric_threshold_and_why(voice: np.ndarray) -> None:
    z = _compressor(np.asarray(testing.clipped(voice, gain_db=12.0), dtype=np.float64))
    cfg = QualityConfig()
    m = _stats(z)
    (d,) = flag_item({k: m[k] for k in RULES["straight_crests_per_s"]}, cfg)
    assert d.threshold == cfg.min_straight_crests_per_s and d.value >= cfg.min_straight_crests_per_s
    assert "straight line" in d.detail and "compressed" in d.detail


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    sr=st.sampled_from([16000, 22050, 32000, 44100, 48000]),
    f0_hz=st.floats(90.0, 450.0),
    duration_s=st.floats(0.5, 4.0),
    overdrive_db=st.floats(3.0, 12.0),
)
def test_clipped_tones_are_found_at_any_rate_and_length(
    sr: int, f0_hz: float, duration_s: float, overdrive_db: float
) -> None:
    """A tone whose level falls 20 % across the item: clipped then scaled, every crest is flat at one
    level; unclipped (or with its gain ramp applied after the clip), its crests stay curved."""
    t = np.arange(round(duration_s * sr)) / sr
    tone = np.sin(2 * np.pi * f0_hz * t)
    ramp = np.linspace(1.0, 0.8, t.size)
    clean = _stats(0.9 * tone * ramp, sr)
    assert not _crest_flags(clean)
    assert clean["flat_crests"] == 0 and clean["straight_crests"] == 0
    clipped = np.clip(tone * 10 ** (overdrive_db / 20), -1.0, 1.0)
    scaled = _stats(0.6 * clipped, sr)
    assert "flat_crest_share" in _crest_flags(scaled)
    assert scaled["flat_crest_share"] > 0.9
    # a gain that moves after the clip spreads the flat tops over 20 %: still found
    tilted = _stats(0.6 * clipped * ramp, sr)
    assert _crest_flags(tilted)
    assert not _crest_flags(_stats(0.9 * tone * ramp + 0.05, sr))


@pytest.mark.parametrize(
    ("flat", "share", "found"),
    [
        (16, 0.12, True),
        (14, 0.2, False),
        (6, 0.25, True),
        (7, 0.24, False),
        (5, 0.9, False),
        (40, 0.09, False),
    ],
)
def test_flat_crests_need_a_count_and_a_share(flat: int, share: float, found: bool) -> None:
    """15 flat crests being 10 % of the crests near the peak, or 6 being 25 % (a mild clip)."""
    assert (
        bool(
            _crest_flags(
                {
                    "flat_crests": flat,
                    "flat_crest_share": share,
                    **dict.fromkeys(RULES["straight_crests_per_s"], 0.0),
                }
            )
        )
        is found
    )


def test_a_mild_clip_of_a_short_take_is_found(voice: np.ndarray) -> None:
    """1.5 dB of overdrive on 3 s of singing flattens a handful of crests, but most of the loudest."""
    short = voice[: 3 * SR] / np.abs(voice[: 3 * SR]).max()
    m = _stats(0.7 * np.asarray(testing.clipped(short, gain_db=1.5), dtype=np.float64))
    assert QualityConfig().min_flat_crests_mild <= m["flat_crests"] < QualityConfig().min_flat_crests
    assert "flat_crest_share" in _crest_flags(m), m


@pytest.mark.parametrize("subtype", ["PCM_U8", "ULAW", "ALAW"])
def test_coarsely_quantised_audio_is_not_clipping(voice: np.ndarray, subtype: str) -> None:
    """Regression: on 8-bit or mu-law audio a crest's top sits on one or two levels, which read as a
    straight line; a line is only judged where the audio has 6 levels within 2 % under the top."""
    buf = io.BytesIO()
    sf.write(buf, 0.5 * voice, SR, format="WAV", subtype=subtype)
    buf.seek(0)
    z, _ = sf.read(buf, dtype="float64")
    c = crests(z - z.mean())
    lines = c.judged & (c.within_2 >= 6) & (c.top_residual <= 0.001)
    assert lines.sum() > 20 and np.median(c.top_levels[lines]) < 6, "coarse tops read as lines"
    assert not _crest_flags(_stats(z))
    # at full resolution a clipped copy's tops are lines, and the item holds the levels under them
    fine = crests(0.5 * np.asarray(testing.clipped(voice, gain_db=6.0), dtype=np.float64))
    lines = fine.judged & (fine.within_2 >= 6) & (fine.top_residual <= 0.001)
    assert lines.sum() > 20 and np.median(fine.top_levels[lines]) >= 12


def test_a_crest_cut_by_either_end_is_left_out() -> None:
    """Regression: the runs at the ends were cut one sample short instead of dropped, so a tone
    ending mid-crest left a short, straight "top" (sr 32 kHz, 135.5 Hz, 3.5625 s)."""
    sr, n = 32000, 114000
    t = np.arange(n) / sr
    x = 0.9 * np.sin(2 * np.pi * 135.5078125 * t) * np.linspace(1.0, 0.8, n)
    c = crests(x)
    assert c.start.min() > 0 and c.end.max() < n
    assert not c.straight.any()
    # a whole crest next to each end is kept
    y = np.sin(np.linspace(0.0, 6 * np.pi, 3001))  # starts and ends at 0, three periods
    whole = crests(y)
    assert whole.start.size == 6 and whole.start.min() > 0 and whole.end.max() < y.size
    # and a run over the whole item is no crest
    assert crests(np.full(100, 0.5)).start.size == 0


def test_both_flat_crest_limits_give_one_sentence() -> None:
    """Regression: a clip past both the 15-at-10 % and the 6-at-25 % limits said the same twice."""
    flags = flag_item({"flat_crests": 135.0, "flat_crest_share": 0.38}, QualityConfig())
    (flag,) = [f for f in flags if f.name == "clipping"]
    assert flag.threshold == QualityConfig().min_flat_crest_share
    assert flag.detail.count("flat tops at one level") == 1 and "also" not in flag.detail
    (mild,) = flag_item({"flat_crests": 7.0, "flat_crest_share": 0.4}, QualityConfig())
    assert mild.threshold == QualityConfig().min_flat_crest_share_mild and "mild clip" in mild.detail
