"""The quality-flag vocabulary, its thresholds, and metrics -> flags.

A flag is a named, explained verdict on one item: which metric crossed which threshold,
by how much, in a sentence a person can act on. :class:`FlagName` is the one place
where every flag and reason code is defined, with its meaning; :data:`FLAG_DOCS`, the
manifest, the report, the CLI and the README's table derive from it.

The default thresholds in :class:`QualityConfig` come from ``bench/bench_quality.py``:
the 22 real recordings in ``shared/data`` (clean negatives) against the same
recordings and synthetic voices with injected defects. Each field's description says
what was measured.
"""

from __future__ import annotations

import difflib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field

from svcprep._strict import StrictScalars

__all__ = [
    "FLAG_DOCS",
    "FLAG_NAMES",
    "Flag",
    "FlagName",
    "QualityConfig",
    "flag_detail",
    "flag_item",
    "input_flags",
    "loudness_outliers",
    "parse_flag_names",
    "source_flags",
    "speaker_outliers",
]


class FlagName(str, Enum):
    """Every flag and reason code a build can put in a record's ``flags``: a closed vocabulary.

    Each member's value is the name written to the manifest; ``origin`` says which part
    of the build sets it and ``doc`` is its one-sentence meaning (shown by
    ``svcprep flags``, the build summary and the report). Anything that accepts flag names
    (``--exclude``/``--include`` on ``build``, ``check`` and ``export``, ``[split]`` in a
    config file) accepts exactly these, through :func:`parse_flag_names`.
    """

    origin: str
    doc: str

    def __new__(cls, value: str, origin: str, doc: str) -> FlagName:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.origin = origin
        obj.doc = doc
        return obj

    def __str__(self) -> str:
        return str(self.value)

    # set by discovery and the loader (a whole input)
    UNREADABLE = (
        "unreadable",
        "input",
        "The file or folder could not be opened or listed (permissions, a "
        "dangling symlink or a symlink loop).",
    )
    EMPTY = ("empty", "input", "The file holds no audio frames at all (0 bytes, or a header with 0 frames).")
    DECODE_ERROR = ("decode_error", "input", "The file could not be decoded into audio.")
    TRUNCATED = ("truncated", "input", "The file holds fewer samples than its header declares.")
    NON_FINITE = ("non_finite", "input", "The decoded samples contain NaN or infinity.")
    BAD_SAMPLE_RATE = (
        "bad_sample_rate",
        "input",
        "The file's sample rate is 0 or outside "
        "load.min_source_sample_rate_hz .. load.max_source_sample_rate_hz.",
    )
    CHANNEL_CANCELLATION = (
        "channel_cancellation",
        "input",
        "The channels cancel in the mono downmix "
        "(left is about minus right): the mix is much quieter than either channel.",
    )
    DEAD_CHANNEL = (
        "dead_channel",
        "input",
        "One channel of a multichannel file is silent or near it (50 dB under the loudest): the "
        "downmix uses the live channels only.",
    )
    # set by the quality scan (each with a metric and a threshold in flag_details)
    EXACT_DUPLICATE = (
        "exact_duplicate",
        "quality",
        "The decoded samples (quantised to 16 bits) are identical to another item's.",
    )
    NEAR_DUPLICATE = (
        "near_duplicate",
        "quality",
        "Another item is the same recording after re-encoding, gain, resampling, trim, light noise, "
        "a pitch shift or a time stretch.",
    )
    SILENCE = (
        "silence",
        "quality",
        "Too little of the item is active audio, it starts or ends with a long "
        "silence, or the whole input is silent.",
    )
    CLIPPING = (
        "clipping",
        "quality",
        "Flat-topped peaks: runs of samples stuck at the item's maximum or minimum, or crests whose "
        "tops are flat at one level or a straight line (clipped, then turned down, resampled, "
        "compressed or lossy-coded).",
    )
    UNSTABLE_F0 = (
        "unstable_f0",
        "quality",
        "The F0 track jumps by octaves (splices, alternations) or sits at the search limits.",
    )
    NOISY = (
        "noisy",
        "quality",
        "The blind signal-to-noise estimate is low: steady hiss, hum or room noise under the voice.",
    )
    HUM = (
        "hum",
        "quality",
        "Mains hum: steady spectral lines at multiples of 50 or 60 Hz under the voice (a ground loop).",
    )
    REVERBERANT = (
        "reverberant",
        "quality",
        "The room rings: no frequency band's level ever falls faster than a long reverberation tail "
        "allows (not judged on an item flagged accompaniment, whose struck notes ring on too).",
    )
    ACCOMPANIMENT = (
        "accompaniment",
        "quality",
        "Backing music under the voice: struck notes (piano, guitar, mallets) that start at once, hold "
        "their pitch and decay.",
    )
    DROPOUT = (
        "dropout",
        "quality",
        "The recording drops to digital zero in the middle of sound (a buffer underrun or a bad edit).",
    )
    LOSSY_CODEC = (
        "lossy_codec",
        "quality",
        "Decoded from a low-bitrate lossy file (MP3, Vorbis, Opus): codec artefacts even where the "
        "band is kept.",
    )
    LOW_BANDWIDTH = (
        "low_bandwidth",
        "quality",
        "No content above a low frequency: upsampled from a low rate, or low-passed by a codec.",
    )
    TOO_SHORT = (
        "too_short",
        "quality",
        "The item (or a dropped piece) is shorter than the shortest useful length.",
    )
    TOO_LONG = (
        "too_long",
        "quality",
        "The item is longer than the longest allowed length (memory, padding waste).",
    )
    DC_OFFSET = ("dc_offset", "quality", "The mean sample value is far from zero.")
    LOUDNESS_OUTLIER = (
        "loudness_outlier",
        "quality",
        "The item's loudness is far from its speaker's typical level (robust median/MAD).",
    )
    SPEAKER_OUTLIER = (
        "speaker_outlier",
        "quality",
        "The voice (pitch range and spectral envelope) is far from the rest of its speaker folder: "
        "probably another person's recording.",
    )
    # set by validation of the computed features
    NAN_FEATURES = (
        "nan_features",
        "validation",
        "A frame-level feature (F0, mel, volume ...) contains NaN or infinity.",
    )
    FRAME_MISMATCH = (
        "frame_mismatch",
        "validation",
        "A frame-level feature does not have the frame count of the item's grid.",
    )
    F0_OUT_OF_RANGE = (
        "f0_out_of_range",
        "validation",
        "Voiced F0 values lie outside f0.f0_floor_hz .. f0.f0_ceil_hz.",
    )
    # set when a stage fails on an item
    PROCESSING_ERROR = (
        "processing_error",
        "build",
        "A processing stage raised on this item; the error field has the exception and where it happened.",
    )
    QUALITY_ERROR = (
        "quality_error",
        "build",
        "The quality measurements failed on this item, so it is unchecked.",
    )


#: Flag name -> its meaning, in the order of :class:`FlagName` (derived, never edited by hand).
FLAG_DOCS: dict[str, str] = {f.value: f.doc for f in FlagName}

#: Every flag name, in the order of :class:`FlagName`.
FLAG_NAMES: frozenset[str] = frozenset(FLAG_DOCS)


def parse_flag_names(names: Iterable[str], *, what: str, allow_all: bool = False) -> tuple[str, ...]:
    """Check flag names against :class:`FlagName`; the one validation every entry point uses.

    Parameters
    ----------
    names
        Flag names as given by a user (``--include``, ``split.exclude_flags`` ...).
    what
        Where they came from, for the message (``"--include"``, ``"split.exclude_flags"``).
    allow_all
        Accept the word ``"all"`` (every flag).

    Returns
    -------
    tuple[str, ...]
        The names, unchanged and in order.

    Raises
    ------
    ValueError
        An unknown name; the message names it, suggests the closest flag and points to
        ``svcprep flags``. (:class:`~svcprep.errors.ConfigError` is a ``ValueError``.)
    """
    out = tuple(str(n) for n in names)
    for n in out:
        if n in FLAG_NAMES or (allow_all and n == "all"):
            continue
        close = difflib.get_close_matches(n, sorted(FLAG_NAMES), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        allowed = ", ".join(FLAG_DOCS) + (", or all" if allow_all else "")
        raise ValueError(
            f"{what}: unknown flag {n!r}{hint}; use one of {allowed} (`svcprep flags` lists their meanings)"
        )
    return out


@dataclass(frozen=True)
class Flag:
    """One quality verdict on an item.

    Attributes
    ----------
    name
        A key of :data:`FLAG_DOCS`.
    metric
        The metric that triggered it (a key of :func:`svcprep.quality.metrics.item_metrics`).
    value
        The metric's value.
    threshold
        The threshold it crossed.
    detail
        A sentence for people, e.g. "412 samples in 9 runs stuck at the peak (0.7071)".
    """

    name: str
    metric: str
    value: float
    threshold: float
    detail: str


class QualityConfig(StrictScalars):
    """Thresholds of every quality flag (units in the names).

    Defaults were set from ``bench/bench_quality.py`` (see the README table). The
    measurements behind each are in the field descriptions: "clean" is the 22 real
    recordings of ``shared/data``, "injected" the defects added to them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    min_duration_s: float | None = Field(
        None,
        ge=0.0,
        description="too_short below this; unset: slice.min_segment_s, so a build never flags the "
        "segments its own slicer cut.",
    )
    max_duration_s: float | None = Field(
        None,
        gt=0.0,
        description="too_long above this; unset: slice.max_segment_s (with slicing on, only inputs "
        "longer than that which are not cut, i.e. with slicing off, reach it).",
    )
    min_active_ratio: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="silence when less of the item is active. Clean items read 0.70-1.00 (0.70: a larynx "
        "mic; vocadito_1 0.76 with 36 % unvoiced).",
    )
    max_edge_silence_s: float = Field(
        3.0,
        gt=0.0,
        description="silence when the leading or trailing silence is longer. Clean items read up to 2.6 s "
        "(NIT song070 keeps 2.4-2.6 s of studio silence at both ends); the slicer keeps 0.2 s margins.",
    )
    max_clip_ratio: float = Field(
        1e-4,
        ge=0.0,
        le=1.0,
        description="clipping when more of the samples sit in stuck runs (and there are at least "
        "min_clip_runs runs). Clean items read 0.",
    )
    min_clip_runs: int = Field(
        3, ge=1, description="clipping needs at least this many stuck runs (one flat crest is not a clip)."
    )
    min_snr_db: float = Field(
        12.0,
        description="noisy below this blind SNR. bench_quality: voice + white, pink or brown noise 10 dB "
        "under it reads 8.9-10.2 dB, 0-5 dB under it -0.6-4.2 dB; real takes without added noise read "
        "13.2-43.5 dB (13.2 a compressed clipped take, 14.6 a 4 s LibriSpeech window with no pause), "
        "20 dB of added noise 16-20 dB.",
    )
    min_bandwidth_hz: float = Field(
        11000.0,
        gt=0.0,
        description="low_bandwidth below this (only where the rate allows it, see "
        "min_bandwidth_nyquist_share). Upsampled 16 kHz reads ~7.7 kHz, 22.05 kHz ~10.6 kHz; "
        "clean full-band items 13.8-20.6 kHz.",
    )
    min_bandwidth_nyquist_share: float = Field(
        0.7,
        gt=0.0,
        le=1.0,
        description="The cutoff is min(min_bandwidth_hz, this x Nyquist): a 16 kHz dataset is only "
        "flagged below 5.6 kHz.",
    )
    max_abs_dc_offset: float = Field(
        0.01, ge=0.0, description="dc_offset above this |mean sample|. Clean items read below 0.001."
    )
    max_octave_jumps_per_s: float = Field(
        0.5,
        ge=0.0,
        description="unstable_f0 above this many octave jumps per voiced second (not judged on items "
        "flagged hum or accompaniment, whose F0 follows the hum or the bass). bench_quality --part "
        "build: octave splices and alternations read 0.55-7.9, clean takes, intentional leaps, "
        "dropouts and reverb up to 0.40; backing music 0.58-1.77 and loud hum 1.04.",
    )
    max_short_voiced_run_ratio: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Measured, no longer flagged (it fired on hum, backing music and reverb): "
        "the share of voiced frames in runs shorter than 0.1 s (clean: <= 0.07).",
    )
    max_f0_at_limits_ratio: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="unstable_f0 when more voiced frames are within 1 % of floor/ceiling (clean: <= 0.002).",
    )
    max_f0_disagreement_ratio: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Measured, no longer flagged (it fired on hum, backing music and reverb): "
        "the share of jointly voiced frames more than 50 cents apart (clean harvest vs "
        "dio: <= 0.12).",
    )
    loudness_outlier_z: float = Field(
        3.5, gt=0.0, description="loudness_outlier beyond this many robust SDs (1.4826 x MAD) off the median."
    )
    loudness_outlier_min_db: float = Field(
        6.0, ge=0.0, description="... and at least this many dB from the speaker's median (tight groups)."
    )
    loudness_outlier_max_db: float = Field(
        20.0,
        gt=0.0,
        description="... and always beyond this many dB from the median, however wide the spread (a few "
        "wrong-gain items in a small group inflate the MAD). NIT song070's two sessions, 11 LU apart, "
        "put natural 2 s items up to 14 dB off their singer's median.",
    )
    loudness_outlier_min_items: int = Field(
        5, ge=3, description="Speakers with fewer items are not judged (no robust typical level)."
    )
    near_duplicate_min_score: float = Field(
        0.85,
        ge=0.0,
        le=1.0,
        description="near_duplicate at or above this score (1 - 2 x bit error rate of the reliable "
        "fingerprint bits). Copies (ogg, mp3, gain, resample, trim, 20-30 dB noise) score 0.90-1.00; "
        "unrelated items <= 0.18, choir bleed <= 0.34, other takes ~0.5, the same bass on two mics 0.81.",
    )
    min_source_active_ratio: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="silence on a source (and its items) when less of the whole file is sound: a few "
        "seconds of voice in a long silent recording. Clean sources read 0.8-1.0.",
    )
    min_voiced_ratio: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="silence (no voice: room tone or noise only) when fewer frames are voiced. Clean "
        "singing reads 0.4-0.95, speech 0.3-0.6.",
    )
    max_clip_top_ratio: float = Field(
        1.0,
        gt=0.0,
        description="clipping when more samples sit in the top 5 % of a polarity's range than this "
        "times those in the 15 % below (flat tops after a gain change, a compressor or resampling). "
        "bench_quality --part build: clean and loud real takes read <= 0.39, clipped ones 0.45-4.5 "
        "(0-0.01 after MP3); synthetic voices whose crests all reach one height read up to 0.92, "
        "hence the margin.",
    )
    min_flat_crests: int = Field(
        15,
        ge=1,
        description="clipping when at least this many crests reaching 80 % of the peak have flat tops at "
        "one level (and min_flat_crest_share of them do). Set on bench_clipping's 205 real takes "
        "(normalised, limited, compressed, MP3-coded: at most 5) and bench_quality's band-limited "
        "copies (at most 14).",
    )
    min_flat_crest_share: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="clipping needs this share of the judged crests reaching 80 % of the peak to be flat "
        "at one level. Real and band-limited takes with 10 or more read at most 0.09; clipped ones "
        "0.16-0.82.",
    )
    min_flat_crests_mild: int = Field(
        6,
        ge=1,
        description="clipping also with this many flat crests at one level near the peak when they are "
        "min_flat_crest_share_mild of the crests there (a mild clip reaches only the loudest crests, "
        "but most of those). bench_clipping: real takes with 4 or more read at most 0.08.",
    )
    min_flat_crest_share_mild: float = Field(
        0.25,
        gt=0.0,
        le=1.0,
        description="the share of the judged crests near the peak that min_flat_crests_mild needs.",
    )
    min_straight_crests: int = Field(
        8,
        ge=1,
        description="clipping also when at least this many crests (at any height) have a top that is a "
        "straight line within 0.1 %, at min_straight_crests_per_s: a clipped top after a gain that moves "
        "(a compressor tilts it). Real takes, band-limited and synthetic voices read at most 2.",
    )
    min_straight_crests_per_s: float = Field(
        2.0,
        gt=0.0,
        description="straight-topped crests per second needed as well (real takes: at most 0.3).",
    )
    min_hum_lines: int = Field(
        3, ge=1, description="hum needs this many steady mains harmonics (clean and reverberant items: <= 2)."
    )
    min_hum_db: float = Field(
        -35.0,
        description="hum when the lines' power is above this many dB relative to the item's mean power "
        "(hum 10 dB under the voice reads about -10 dB).",
    )
    max_rt60_s: float = Field(
        0.42,
        gt=0.0,
        description="reverberant when the reverberation time read off the steepest falls of the item's "
        "band levels is longer. Dry takes (every shared recording, whole and in 4 s windows, at 16 and "
        "44.1 kHz) read 0.34 s or less; synthetic rooms of RT60 0.6-2.5 s on the same audio 0.41 s "
        "or more (0.44 s and more but for RT60 0.6 s at +6 dB direct/reverberant).",
    )
    min_reverb_windows: int = Field(
        50, ge=1, description="reverberant is only judged with this many falling 160 ms band windows."
    )
    max_struck_share: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="accompaniment when more of the item's loud frames open a struck note (an onset, "
        "then partials that hold their pitch within 3 cents and only decay for 116 ms). bench_quality: "
        "clean, reverberant, hummed, vibrato, melisma and coded takes read <= 0.063; a piano or a band "
        "6-12 dB under the voice 0.32-0.53 (20 dB under: 0.06-0.46).",
    )
    min_codec_kbps_per_channel: float = Field(
        100.0,
        ge=0.0,
        description="lossy_codec when an MP3/Vorbis/Opus input spends less than this per channel "
        "(96 kbit/s mono or 192 stereo and under: the encoder still low-passes the band or smears "
        "breaths and sibilants, which a vocoder learns); 128 kbit/s mono and up are not flagged.",
    )
    speaker_outlier_min_items: int = Field(
        5, ge=3, description="Speakers with fewer items are not judged for speaker_outlier."
    )
    speaker_outlier_semitones: float = Field(
        7.0,
        gt=0.0,
        description="speaker_outlier when the item's median pitch is this far from its speaker's median "
        "and beyond speaker_outlier_z robust SDs.",
    )
    speaker_outlier_z: float = Field(
        4.0, gt=0.0, description="speaker_outlier beyond this many robust SDs (pitch or spectral envelope)."
    )
    near_duplicate_contour_min_score: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="near_duplicate through a pitch shift (up to +-2 semitones) or a time stretch "
        "(0.9-1.1) when this share of the voiced frames follow the other item's F0 contour within 30 "
        "cents after the shift and stretch. bench_quality --part build: librosa-shifted/stretched "
        "copies of real singing score 0.76-0.87, of speech 0.45-0.52; different items at most 0.46.",
    )
    near_duplicate_spectral_min_score: float = Field(
        0.45,
        ge=0.0,
        le=1.0,
        description="near_duplicate through a pitch shift (up to +-2 semitones) or a time stretch "
        "(0.9-1.1) when the fingerprints match at this score (1 - 2 x bit error rate) with the bands "
        "moved by the shift and the frames by the stretch. bench_quality --part build: librosa copies "
        "of singing and speech score 0.50-0.94 (0.50: -1.5 semitones, between two bands); different "
        "items, other windows of a take and choir voices of one moment at most 0.37 through a transform.",
    )
    max_frame_count_error: int = Field(
        0, ge=0, description="frame_mismatch when a feature is more frames off the grid than this."
    )


def _fmt_s(x: float) -> str:
    return f"{x:.2f} s"


def flag_item(metrics: Mapping[str, float], cfg: QualityConfig) -> list[Flag]:
    """Turn one item's metrics into flags.

    Metrics that are absent (no F0 given, no feature check run) produce no flag. At
    most one flag per name is returned; when several metrics trigger the same flag
    (``silence``, ``unstable_f0``), the first in the documented order is the flag's
    metric and the detail names the others.

    Parameters
    ----------
    metrics
        From :func:`svcprep.quality.metrics.item_metrics` and
        :func:`~svcprep.quality.metrics.feature_metrics` (merged).
    cfg
        Thresholds.

    Returns
    -------
    list[Flag]
        In the order of :data:`FLAG_DOCS`.
    """
    m = {k: float(v) for k, v in metrics.items()}
    found: dict[str, list[Flag]] = defaultdict(list)

    def add(name: str, metric: str, threshold: float, detail: str) -> None:
        found[name].append(Flag(name, metric, m[metric], float(threshold), detail))

    def has(key: str) -> bool:
        return key in m and math.isfinite(m[key])

    if has("duration_s"):
        d = m["duration_s"]
        if cfg.min_duration_s is not None and d < cfg.min_duration_s:
            text = f"{_fmt_s(d)} long, under {_fmt_s(cfg.min_duration_s)}"
            add("too_short", "duration_s", cfg.min_duration_s, text)
        if cfg.max_duration_s is not None and d > cfg.max_duration_s:
            text = f"{_fmt_s(d)} long, over {_fmt_s(cfg.max_duration_s)}"
            add("too_long", "duration_s", cfg.max_duration_s, text)
    if has("active_ratio") and m["active_ratio"] < cfg.min_active_ratio:
        add(
            "silence",
            "active_ratio",
            cfg.min_active_ratio,
            f"only {m['active_ratio']:.0%} of the item is active audio (minimum {cfg.min_active_ratio:.0%})",
        )
    for key, where in (("leading_silence_s", "starts"), ("trailing_silence_s", "ends")):
        if has(key) and m[key] > cfg.max_edge_silence_s:
            add(
                "silence",
                key,
                cfg.max_edge_silence_s,
                f"{where} with {_fmt_s(m[key])} of silence (maximum {_fmt_s(cfg.max_edge_silence_s)})",
            )
    if has("clip_ratio") and has("clip_runs"):
        ratio, runs = m["clip_ratio"], m["clip_runs"]
        if ratio > cfg.max_clip_ratio and runs >= cfg.min_clip_runs:
            samples = m.get("clip_samples", float("nan"))
            peak = m.get("peak_abs", float("nan"))
            add(
                "clipping",
                "clip_ratio",
                cfg.max_clip_ratio,
                f"{samples:.0f} samples ({ratio:.3%}) in {runs:.0f} runs stuck at the peak ({peak:.4f})",
            )
    if has("source_active_ratio") and m["source_active_ratio"] < cfg.min_source_active_ratio:
        dur = m.get("source_duration_s", float("nan"))
        add(
            "silence",
            "source_active_ratio",
            cfg.min_source_active_ratio,
            f"the source file is {1 - m['source_active_ratio']:.0%} silence "
            f"({m['source_active_ratio'] * dur:.1f} s of sound in {dur:.1f} s)",
        )
    if has("clip_top_ratio") and m["clip_top_ratio"] > cfg.max_clip_top_ratio:
        add(
            "clipping",
            "clip_top_ratio",
            cfg.max_clip_top_ratio,
            f"samples pile up within 5 % of the peak, {m['clip_top_ratio']:.2f} x those in the 15 % "
            f"below (limit {cfg.max_clip_top_ratio:g}): flat tops, clipped before it was turned down",
        )
    # flat tops judged crest by crest (svcprep.quality.defects.crest_summary)
    if has("flat_crests") and has("flat_crest_share"):
        n, share = m["flat_crests"], m["flat_crest_share"]
        for min_n, min_share, why in (
            (cfg.min_flat_crests, cfg.min_flat_crest_share, "clipped, then turned down, resampled or coded"),
            (cfg.min_flat_crests_mild, cfg.min_flat_crest_share_mild, "a mild clip"),
        ):
            if n >= min_n and share >= min_share:
                add(
                    "clipping",
                    "flat_crest_share",
                    min_share,
                    f"{n:.0f} crests near the peak ({share:.0%} of them) have flat tops at one level "
                    f"(limits {min_n} and {min_share:.0%}): {why}",
                )
                break
    if has("straight_crests") and has("straight_crests_per_s"):
        n, rate = m["straight_crests"], m["straight_crests_per_s"]
        if n >= cfg.min_straight_crests and rate >= cfg.min_straight_crests_per_s:
            add(
                "clipping",
                "straight_crests_per_s",
                cfg.min_straight_crests_per_s,
                f"{n:.0f} crests ({rate:.1f} per second) have a top that is a straight line (limits "
                f"{cfg.min_straight_crests} and {cfg.min_straight_crests_per_s:g}/s): clipped, then "
                "turned down or compressed",
            )
    if (
        has("hum_lines")
        and has("hum_db")
        and m["hum_lines"] >= cfg.min_hum_lines
        and m["hum_db"] > cfg.min_hum_db
    ):
        add(
            "hum",
            "hum_db",
            cfg.min_hum_db,
            f"{m['hum_lines']:.0f} steady lines at multiples of {m.get('hum_hz', 0):.0f} Hz, "
            f"{m['hum_db']:.1f} dB relative to the item (limit {cfg.min_hum_db:g} dB): mains hum",
        )
    # hum as loud as the voice pulls the F0 onto the mains line and leaves no frame voiced: the
    # item is not silent, it hums (an item with no voice at all is still kept out of training)
    if (
        has("voiced_ratio")
        and has("duration_s")
        and m["voiced_ratio"] < cfg.min_voiced_ratio
        and "hum" not in found
    ):
        add(
            "silence",
            "voiced_ratio",
            cfg.min_voiced_ratio,
            f"no voice: only {m['voiced_ratio']:.0%} of the frames are voiced (minimum "
            f"{cfg.min_voiced_ratio:.0%}): room tone or noise",
        )
    accompanied = has("struck_share") and m["struck_share"] > cfg.max_struck_share
    # a struck note rings on as a room does (a piano's partials decay over seconds), so the
    # decays of an accompanied item are the instrument's: its diagnosis is the backing
    reverberant = (
        has("rt60_s")
        and m.get("decays", 0.0) >= cfg.min_reverb_windows
        and m["rt60_s"] > cfg.max_rt60_s
        and not accompanied
    )
    if reverberant:
        add(
            "reverberant",
            "rt60_s",
            cfg.max_rt60_s,
            f"no frequency band's level falls faster than a {m['rt60_s']:.2f} s reverberation tail (limit "
            f"{cfg.max_rt60_s:g} s): a live room",
        )
    if accompanied:
        add(
            "accompaniment",
            "struck_share",
            cfg.max_struck_share,
            f"struck notes open {m['struck_share']:.0%} of the loud frames "
            f"({m.get('struck_notes_per_s', 0):.1f} partials struck per second; limit "
            f"{cfg.max_struck_share:.0%}): backing music under the voice, use the dry vocal stem",
        )
    if has("dropouts") and m["dropouts"] >= 1:
        add(
            "dropout",
            "dropouts",
            1.0,
            f"{m['dropouts']:.0f} gap(s) of digital zero inside sound, {m.get('dropout_s', 0) * 1000:.0f} ms "
            f"in all (longest {m.get('longest_dropout_s', 0) * 1000:.0f} ms)",
        )
    if has("codec_kbps_per_channel") and m["codec_kbps_per_channel"] < cfg.min_codec_kbps_per_channel:
        add(
            "lossy_codec",
            "codec_kbps_per_channel",
            cfg.min_codec_kbps_per_channel,
            f"decoded from a lossy file at {m['codec_kbps_per_channel']:.0f} kbit/s per channel (minimum "
            f"{cfg.min_codec_kbps_per_channel:g}): use the lossless original",
        )
    # a reverberant item's quietest frames are the room's tail, which the blind SNR reads as its
    # noise floor: the diagnosis is the room (reverberant), not noise
    if has("snr_db") and m["snr_db"] < cfg.min_snr_db and not reverberant:
        text = f"estimated SNR {m['snr_db']:.1f} dB, under {cfg.min_snr_db:g} dB"
        add("noisy", "snr_db", cfg.min_snr_db, text)
    if has("bandwidth_hz") and has("duration_s"):
        sr = m.get("sample_rate_hz")
        cutoff = cfg.min_bandwidth_hz
        if sr is not None and math.isfinite(sr) and sr > 0:
            cutoff = min(cutoff, cfg.min_bandwidth_nyquist_share * sr / 2)
        active = m.get("active_ratio", 1.0) > 0
        if active and m["bandwidth_hz"] < cutoff:
            add(
                "low_bandwidth",
                "bandwidth_hz",
                cutoff,
                f"no content above {m['bandwidth_hz'] / 1000:.1f} kHz (expected at least "
                f"{cutoff / 1000:.1f} kHz): upsampled or low-passed",
            )
    if has("dc_offset") and abs(m["dc_offset"]) > cfg.max_abs_dc_offset:
        add(
            "dc_offset",
            "dc_offset",
            cfg.max_abs_dc_offset,
            f"mean sample {m['dc_offset']:+.4f} (|mean| limit {cfg.max_abs_dc_offset:g}): "
            "high-pass the input",
        )
    # (a second extractor's disagreement and fragmented voicing are measured but flag nothing:
    # on bench_quality --part build they read higher on hum, backing music and reverb, 0.4-1.0
    # and 0.2-0.3, than on real octave splices and alternations, <= 0.11 and <= 0.05)
    f0_checks = (
        ("octave_jumps", cfg.max_octave_jumps_per_s, "{v:.2f} octave jumps per voiced second"),
        ("f0_at_limits_ratio", cfg.max_f0_at_limits_ratio, "{v:.0%} of voiced frames at the F0 limits"),
    )
    # over backing music or hum the F0 track follows the bass or the mains line, and jumps with
    # it: those items have their diagnosis, and their octave jumps say nothing of the voice
    followed = "accompaniment" in found or "hum" in found
    for key, thr, text in f0_checks:
        if key == "octave_jumps" and followed:
            continue
        if has(key) and m[key] > thr:
            add("unstable_f0", key, thr, text.format(v=m[key]) + f" (limit {thr:g})")
    if has("non_finite_feature_values") and m["non_finite_feature_values"] > 0:
        add(
            "nan_features",
            "non_finite_feature_values",
            0.0,
            f"{m['non_finite_feature_values']:.0f} NaN or infinite feature values",
        )
    if has("frame_count_error") and m["frame_count_error"] > cfg.max_frame_count_error:
        add(
            "frame_mismatch",
            "frame_count_error",
            float(cfg.max_frame_count_error),
            f"a feature is {m['frame_count_error']:.0f} frames off the item's grid",
        )
    out = []
    for name in FLAG_DOCS:
        flags = found.get(name)
        if not flags:
            continue
        first = flags[0]
        if len(flags) > 1:
            more = "; ".join(f.detail for f in flags[1:])
            detail = f"{first.detail}; also {more}"
            first = Flag(first.name, first.metric, first.value, first.threshold, detail)
        out.append(first)
    return out


def source_flags(metrics: Mapping[str, float], cfg: QualityConfig) -> list[Flag]:
    """The quality flags a source file earns on its own metrics (before any item is cut).

    ``silence`` on a mostly silent file (``source_active_ratio``) and ``lossy_codec``
    (``codec_kbps_per_channel``): the rules of :func:`flag_item`, applied to the
    metrics of the load and slice stages, so a source whose every piece is dropped is
    still flagged, with the same detail its items would carry.
    """
    return flag_item(metrics, cfg)


def input_flags(
    flags: Iterable[str], metrics: Mapping[str, float], *, cancellation_ratio: float
) -> list[Flag]:
    """The loader's channel verdicts as flags with their metric, threshold and sentence.

    The loader (:func:`svcprep.audio.load_audio`) decides ``dead_channel`` (a channel
    :data:`svcprep.audio.DEAD_CHANNEL_DB` under the loudest, ``quietest_channel_db``) and
    ``channel_cancellation`` (``downmix_rms_ratio`` under ``load.cancellation_ratio``);
    this gives those of ``flags`` the detail every quality flag carries, read off the
    source's ``metrics``. Other flags, and metrics that are missing, give nothing.
    """
    from svcprep.audio import DEAD_CHANNEL_DB

    names = set(flags)
    out: list[Flag] = []
    if "dead_channel" in names and "quietest_channel_db" in metrics:
        db = float(metrics["quietest_channel_db"])
        n = int(metrics.get("channels", 2))
        out.append(
            Flag(
                "dead_channel",
                "quietest_channel_db",
                db,
                -DEAD_CHANNEL_DB,
                (
                    f"one of {n} channels is digital silence"
                    if db <= -120.0
                    else f"the quietest of {n} channels is {-db:.0f} dB under the loudest"
                )
                + f" (dead at {DEAD_CHANNEL_DB:g} dB): an unplugged or muted input; the downmix uses "
                "the live channels, at their level",
            )
        )
    if "channel_cancellation" in names and "downmix_rms_ratio" in metrics:
        ratio = float(metrics["downmix_rms_ratio"])
        out.append(
            Flag(
                "channel_cancellation",
                "downmix_rms_ratio",
                ratio,
                cancellation_ratio,
                f"the mono downmix has {ratio:.0%} of the channels' level (limit "
                f"{cancellation_ratio:.0%}): left is about minus right (one channel's polarity is "
                "inverted); use one channel",
            )
        )
    return out


def flag_detail(flag: Flag, **extra: Any) -> dict[str, Any]:
    """A flag as it is written to a record's ``flag_details``: metric, value, threshold, sentence."""
    value = flag.value if math.isfinite(flag.value) else None
    return {
        "metric": flag.metric,
        "value": None if value is None else round(float(value), 6),
        "threshold": round(float(flag.threshold), 6),
        "detail": flag.detail,
        **extra,
    }


def loudness_outliers(values_by_item: Mapping[str, tuple[str, float]], cfg: QualityConfig) -> dict[str, Flag]:
    """Items whose loudness is far from their speaker's typical level.

    Per speaker: median ``m`` and ``s = 1.4826 * MAD`` of the items' loudness. An item
    is an outlier when ``|x - m| > min(max(cfg.loudness_outlier_z * s,
    cfg.loudness_outlier_min_db), cfg.loudness_outlier_max_db)``. Speakers with fewer than
    ``cfg.loudness_outlier_min_items`` items with a finite level are skipped.

    Parameters
    ----------
    values_by_item
        item id -> (speaker, loudness in LUFS or dBFS).
    cfg
        Thresholds.

    Returns
    -------
    dict[str, Flag]
        item id -> ``loudness_outlier`` flag (``metric`` = ``loudness_lufs``, ``threshold`` =
        the allowed distance in dB).
    """
    groups: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for item, (speaker, value) in values_by_item.items():
        v = float(value)
        if math.isfinite(v):
            groups[speaker].append((item, v))
    out: dict[str, Flag] = {}
    for speaker, rows in groups.items():
        if len(rows) < cfg.loudness_outlier_min_items:
            continue
        vals = np.array([v for _, v in rows])
        med = float(np.median(vals))
        sd = 1.4826 * float(np.median(np.abs(vals - med)))
        allowed = max(cfg.loudness_outlier_z * sd, cfg.loudness_outlier_min_db)
        allowed = min(allowed, max(cfg.loudness_outlier_max_db, cfg.loudness_outlier_min_db))
        for item, v in rows:
            if abs(v - med) > allowed:
                side = "louder" if v > med else "quieter"
                out[item] = Flag(
                    "loudness_outlier",
                    "loudness_lufs",
                    v,
                    allowed,
                    f"{abs(v - med):.1f} dB {side} than speaker {speaker!r}'s median {med:.1f} "
                    f"(allowed {allowed:.1f} dB)",
                )
    return out


def speaker_outliers(
    profiles_by_item: Mapping[str, tuple[str, list[float]]], cfg: QualityConfig
) -> dict[str, Flag]:
    """Items whose voice is far from the rest of their speaker folder.

    Per speaker with at least ``cfg.speaker_outlier_min_items`` profiles
    (:func:`svcprep.quality.defects.voice_profile`: median pitch in semitones, then
    MFCC 1..12): the median and robust SD (1.4826 x MAD, floored at 1.5 semitones for
    pitch and 1.0 for each MFCC) of every dimension. An item is an outlier when its
    pitch is more than ``cfg.speaker_outlier_semitones`` and ``cfg.speaker_outlier_z``
    robust SDs from the median, or when the RMS of its MFCC z-scores exceeds
    ``cfg.speaker_outlier_z``.

    Returns
    -------
    dict[str, Flag]
        item id -> ``speaker_outlier`` (metric ``speaker_distance_z``: the larger of the
        two distances, in robust SDs).
    """
    groups: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for item, (speaker, prof) in profiles_by_item.items():
        v = np.asarray(prof, dtype=np.float64)
        if v.size >= 2 and np.isfinite(v).all():
            groups[speaker].append((item, v))
    out: dict[str, Flag] = {}
    for speaker, rows in groups.items():
        if len(rows) < cfg.speaker_outlier_min_items:
            continue
        dim = min(r[1].size for r in rows)
        x = np.stack([r[1][:dim] for r in rows])
        med = np.median(x, axis=0)
        sd = 1.4826 * np.median(np.abs(x - med), axis=0)
        sd = np.maximum(sd, np.r_[1.5, np.ones(dim - 1)])
        z = (x - med) / sd
        for (item, v), zi in zip(rows, z, strict=True):
            dp = float(v[0] - med[0])
            pitch_z = abs(float(zi[0]))
            env_z = float(np.sqrt(np.mean(zi[1:] ** 2))) if dim > 1 else 0.0
            pitch_far = abs(dp) > cfg.speaker_outlier_semitones and pitch_z > cfg.speaker_outlier_z
            env_far = env_z > cfg.speaker_outlier_z
            if not (pitch_far or env_far):
                continue
            hz = 55.0 * 2 ** (float(v[0]) / 12)
            med_hz = 55.0 * 2 ** (float(med[0]) / 12)
            parts = [
                f"median pitch {hz:.0f} Hz, {abs(dp):.1f} semitones {'above' if dp > 0 else 'below'} "
                f"speaker {speaker!r}'s {med_hz:.0f} Hz ({pitch_z:.1f} robust SDs)",
                f"spectral envelope {env_z:.1f} robust SDs from the speaker's",
            ]
            out[item] = Flag(
                "speaker_outlier",
                "speaker_distance_z",
                max(pitch_z if pitch_far else 0.0, env_z),
                cfg.speaker_outlier_z,
                "; ".join(parts) + ": another person's recording?",
            )
    return out
