"""Detectors of the defects a plain level/SNR scan misses: pure functions from audio to numbers.

Each function returns finite floats whose keys are manifest metric names; the thresholds
that turn them into flags live in :class:`svcprep.quality.flags.QualityConfig`.

hum
    ``hum_db`` (power of the mains lines over the item's mean power), ``hum_hz`` (50 or
    60), ``hum_lines`` (harmonics standing out of their neighbourhood). Mains hum is a
    set of steady spectral lines at multiples of 50 or 60 Hz: they survive a low
    quantile over time (a voice's harmonics move and do not) and stand well above the
    spectrum a few hertz either side (1 Hz resolution).
dropout
    ``dropouts``, ``dropout_s``, ``longest_dropout_s``: stretches of at least 10 ms of
    digital zero (below -100 dBFS) with loud audio right before and right after, i.e.
    the recording stops mid-sound. A noise gate closes only after the sound has faded,
    so its zeros are preceded by quiet audio and are not counted.
clipping that survives processing
    ``clip_top_ratio``: how many samples pile up in the top 5 % of a polarity's range
    against the 15 % below it. A smooth crest spends about as long in each band; a
    clipped one sits on its flat top, which stays flat (within ripple) through gain,
    soft limiting and resampling.
    ``flat_crests`` / ``flat_crest_share``: crests near the peak whose tops are flat at
    one level, and ``straight_crests`` / ``straight_crests_per_s``: crests at any level
    whose top is a straight line, flat or tilted. Each crest is judged on
    its own shape, so a flat top is found after lossy coding (whose ripple stays within
    a couple of per cent of it) and after a compressor (whose moving gain gives every
    crest its own height).
reverb
    ``rt60_s``: reverberation time read off the steepest falls of the level in 12
    frequency bands (150 Hz-5 kHz). Sound can stop at once, but a room's tail falls at
    most 60 dB per RT60, and in some band the level falls whenever the voice stops *or
    changes note* (a harmonic leaves the band), so continuous singing has falls to read
    too; ``decays`` is how many falling windows were measured.
accompaniment
    ``struck_share``: the share of the item's loud frames in the first ~170 ms of a
    struck note (its onset and the 116 ms its partials are followed over),
    ``struck_notes_per_s`` how many struck partials start per second. A piano, guitar or
    mallet note is a set of partials that appear at once (an onset), hold their pitch
    within a few cents and then only decay. A voice's harmonics wander by more than
    that (jitter, vibrato, glides) and its level swells and shimmers; a room's tail
    holds a partial but it did not start with an onset; hum never starts at all.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "ANALYSIS_RATE_HZ",
    "Crests",
    "LevelFalls",
    "StruckPartials",
    "accompaniment_stats",
    "analysis_copy",
    "clip_top_stats",
    "crest_stats",
    "crest_summary",
    "crests",
    "dropout_gaps",
    "dropout_stats",
    "hum_spectrum",
    "hum_stats",
    "level_falls",
    "reverb_stats",
    "steepest_fall_db_per_s",
    "struck_partials",
    "voice_profile",
]

FloatArray = npt.NDArray[np.float64]

_DB_FLOOR = -120.0
# hum
_HUM_MAINS_HZ = (50.0, 60.0)
_HUM_MAX_HZ = 1000.0
_HUM_QUANTILE = 0.2
_HUM_LINE_DB = 10.0
_HUM_ON_MAINS = 0.04  # an F0 this close to 50 or 60 Hz is the hum's, not a voice's
# dropouts
_ZERO_LEVEL = 1e-5  # -100 dBFS: below any real recording's noise floor, above resampler residue
_MIN_DROPOUT_S = 0.010
_CONTEXT_S = 0.015
_CONTEXT_BELOW_LOUD_DB = 25.0
# clipping through processing
_MIN_TOP_SAMPLES = 40
_CREST_FLOOR = 0.3  # a crest is a run above this share of its polarity's peak
_CREST_NEAR_PEAK = 0.8  # flat_crests counts crests reaching this share of the peak
_CREST_TOP = 0.02  # a flat crest stays within 2 % of its top ...
_CREST_BAND = 0.06  # ... for most of the time it spends within 6 % of it
_CREST_LEVEL = 0.03  # flat tops within 3 % of their median top sit at one (clip) level
_CREST_MIN_SAMPLES = 6  # samples within 6 % of the top for the shape to be judged
_CREST_FLAT_SHARE = 0.8
_CREST_STRAIGHT_RMS = 0.001  # a straight top: within 0.1 % (rms) of a line through it
_CREST_MIN_LEVELS = 6  # ... where the audio has this many levels within 2 % under the top
# reverb
#: Hop of the band levels that :func:`level_falls` reads (seconds).
ENVELOPE_FRAME_S = 0.010
_BAND_WINDOW_S = 0.064  # Hann window of the band levels
_BAND_EDGES_HZ = (150.0, 5000.0)
_N_BANDS = 12
_FALL_WINDOW_S = 0.160
_FALL_START_ABOVE_FLOOR_DB = 25.0  # above the band's 10th percentile
_FALL_START_BELOW_MAX_DB = 50.0  # and within this of the loudest band level
_FALL_FIT_ABOVE_FLOOR_DB = 6.0  # a fall is fitted down to this far over the band's floor
_MIN_FIT_FRAMES = 3  # and over at least this many frames (30 ms)
_FALL_PERCENTILE = 5.0
_MIN_FALLS = 10
#: The rate the reverb bands (to 5 kHz) and the struck notes (to 4 kHz) are analysed at.
ANALYSIS_RATE_HZ = 16000
# accompaniment (struck partials)
_STRUCK_RATE_HZ = ANALYSIS_RATE_HZ
_STRUCK_WINDOW_S = 0.09  # 1440 samples: 11.1 Hz bins, 11.25 ms hops
_STRUCK_HOPS_PER_WINDOW = 8
_STRUCK_BAND_HZ = (60.0, 4000.0)
_STRUCK_NEIGHBOURHOOD_HZ = 300.0
_STRUCK_PROMINENCE_DB = 8.0
_STRUCK_RANGE_DB = 50.0
_STRUCK_STEADY_SHARE = 0.6
#: A struck partial is followed this many frames (8 per window: 116 ms at 44.1 kHz).
STRUCK_FRAMES = 10
_STRUCK_CENTS = 3.0
_STRUCK_RISE_DB = 6.0
_STRUCK_RISE_SEARCH = 5
_STRUCK_SWELL_DB = 0.1
_STRUCK_LOUD_DB = 30.0


def _db(x: float) -> float:
    return 10.0 * math.log10(x) if x > 10 ** (_DB_FLOOR / 10) else _DB_FLOOR


# --------------------------------------------------------------------------- hum


def hum_stats(
    a: FloatArray, *, sample_rate_hz: float, voice_floor_hz: float | None = None
) -> dict[str, float]:
    """Mains hum: steady lines at multiples of 50 or 60 Hz (see the module docstring).

    Parameters
    ----------
    a
        Mono float64 audio (finite).
    sample_rate_hz
        Its rate.
    voice_floor_hz
        The lowest F0 the voice sings (its 5th percentile), when known. A voice held on
        a pitch that is a multiple of 50 or 60 Hz also draws steady lines at multiples of
        the mains frequency, but never below its own F0: hum needs a line under
        ``0.9 * voice_floor_hz`` or at the mains frequency itself, which no voice holds:
        hum as loud as the voice pulls the F0 extractor, and so the floor, onto it.

    Returns
    -------
    dict
        ``hum_db`` (the lines' power over the item's mean power, dB; the floor when none
        stand out), ``hum_hz`` (the mains frequency, 0 when none) and ``hum_lines``
        (harmonics up to 1 kHz at least 10 dB above their neighbourhood).
    """
    none = {"hum_db": _DB_FLOOR, "hum_hz": 0.0, "hum_lines": 0.0}
    spectra = hum_spectrum(a, sample_rate_hz=sample_rate_hz)
    if spectra is None:
        return none
    _, low, mid = spectra
    mean_power = float(np.mean(a * a))
    best = none
    for mains in _HUM_MAINS_HZ:
        line_power = 0.0
        lines = 0
        below = False
        for k in range(1, int(_HUM_MAX_HZ // mains) + 1):
            f = k * mains
            half = max(1.5, 0.004 * f)  # the grid drifts by up to 0.4 %
            lo, hi = math.floor(f - half), math.ceil(f + half) + 1
            b = lo + int(np.argmax(low[lo:hi]))
            peak = float(low[b])
            steady = peak >= 0.5 * float(mid[b])  # a line that is there all the time
            side = np.concatenate([low[max(1, lo - 10) : max(1, lo - 3)], low[hi + 3 : hi + 10]])
            floor = float(np.median(side)) if side.size else 0.0
            if steady and floor > 0 and peak > floor * 10 ** (_HUM_LINE_DB / 10):
                lines += 1
                # the mains frequency itself is under every voice, even when hum as loud as
                # the voice has pulled the F0 (and so the floor) onto it
                below |= k == 1 or (voice_floor_hz is not None and f < 0.9 * voice_floor_hz)
                # the line's power: its bins above the neighbourhood (Hann spreads it over ~3 bins)
                line_power += float(np.sum(np.maximum(low[lo:hi] - floor, 0.0)))
        if lines and voice_floor_hz is not None and not below:
            lines, line_power = 0, 0.0  # every line can be the voice's own harmonic
        hum_db = _db(line_power / mean_power) if (lines and mean_power > 0) else _DB_FLOOR
        if lines > best["hum_lines"] or (lines == best["hum_lines"] and hum_db > best["hum_db"]):
            best = {"hum_db": hum_db, "hum_hz": mains if lines else 0.0, "hum_lines": float(lines)}
    return best


def hum_spectrum(a: FloatArray, *, sample_rate_hz: float) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """The spectra :func:`hum_stats` reads: 1 Hz bins from 0 to just over 1 kHz.

    Returns
    -------
    tuple or None
        ``(freqs_hz, low, median)``: per bin, the 20th percentile and the median over
        half-overlapping 1 s Hann frames of the power (a steady line keeps its level in
        the low quantile, a moving harmonic does not). None when the audio is shorter than
        a second or its rate under 2 kHz.
    """
    sr = float(sample_rate_hz)
    n_fft = round(sr)  # 1 Hz bins
    if a.size < n_fft or sr < 2 * _HUM_MAX_HZ:
        return None
    hop = n_fft // 2
    frames = np.lib.stride_tricks.sliding_window_view(a, n_fft)[::hop]
    win = np.hanning(n_fft)
    top = int(_HUM_MAX_HZ * 1.05) + 16
    spec = np.fft.rfft(frames * win, axis=1)[:, :top]
    power = (spec.real**2 + spec.imag**2) * (2.0 / (win**2).sum() / n_fft)
    low = np.quantile(power, _HUM_QUANTILE, axis=0) if power.shape[0] > 1 else power[0]
    mid = np.median(power, axis=0)
    freqs = np.arange(top, dtype=np.float64) * (sr / n_fft)
    return freqs, np.asarray(low, dtype=np.float64), np.asarray(mid, dtype=np.float64)


# --------------------------------------------------------------------------- dropouts


def _frame_db(a: FloatArray, frame: int) -> FloatArray:
    n = a.size // frame
    if n == 0:
        return np.full(1, _DB_FLOOR)
    sq = np.mean(a[: n * frame].reshape(n, frame) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        return np.maximum(10.0 * np.log10(sq), _DB_FLOOR)


def dropout_gaps(a: FloatArray, *, sample_rate_hz: float) -> list[tuple[int, int]]:
    """The dropouts of :func:`dropout_stats` as ``(start, end)`` sample indices (end exclusive).

    A gap is at least 10 ms of digital zero (below -100 dBFS) with audio no more than
    25 dB under the item's loud level (its 90th percentile of 20 ms frames) in the 15 ms
    right before and right after it.
    """
    sr = float(sample_rate_hz)
    n = a.size
    min_run = max(2, round(_MIN_DROPOUT_S * sr))
    if n < 3 * min_run:
        return []
    zero = np.abs(a) < _ZERO_LEVEL
    d = np.diff(np.concatenate(([0], zero.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    keep = (ends - starts >= min_run) & (starts > 0) & (ends < n)
    if not keep.any():
        return []
    frame = max(1, round(0.020 * sr))
    loud = float(np.percentile(_frame_db(a, frame), 90))
    ctx = max(1, round(_CONTEXT_S * sr))
    gaps: list[tuple[int, int]] = []
    for s, e in zip(starts[keep].tolist(), ends[keep].tolist(), strict=True):
        before = a[max(0, s - ctx) : s]
        after = a[e : e + ctx]
        if before.size < ctx // 2 or after.size < ctx // 2:
            continue
        lb = _db(float(np.mean(before * before)))
        la = _db(float(np.mean(after * after)))
        if min(lb, la) >= loud - _CONTEXT_BELOW_LOUD_DB:
            gaps.append((int(s), int(e)))
    return gaps


def dropout_stats(a: FloatArray, *, sample_rate_hz: float) -> dict[str, float]:
    """Digital-zero gaps inside sound (see the module docstring and :func:`dropout_gaps`).

    Returns
    -------
    dict
        ``dropouts`` (count), ``dropout_s`` (their total length) and
        ``longest_dropout_s``.
    """
    sr = float(sample_rate_hz)
    lengths = [e - s for s, e in dropout_gaps(a, sample_rate_hz=sr)]
    return {
        "dropouts": float(len(lengths)),
        "dropout_s": sum(lengths) / sr,
        "longest_dropout_s": max(lengths, default=0) / sr,
    }


# --------------------------------------------------------------------------- clipping


def clip_top_stats(a: FloatArray) -> dict[str, float]:
    """Samples in the top 5 % of each polarity's range over those in the 15 % below.

    A clipped waveform sits on its flat top, which a later gain change, a compressor or
    resampling keeps within ripple; a smooth crest passes through the top band about as
    fast as through the band below, and most crests of a real voice stay well under the
    item's maximum.

    Returns
    -------
    dict
        ``clip_top_ratio`` (the larger polarity's; 0 when fewer than 40 samples reach the
        top band) and ``clip_top_samples`` (samples in that top band).
    """
    best_ratio = 0.0
    best_top = 0
    for side in (a, -a):
        m = float(side.max()) if side.size else 0.0
        if m <= 0:
            continue
        top = int(np.count_nonzero(side >= 0.95 * m))
        if top < _MIN_TOP_SAMPLES:
            continue
        band = int(np.count_nonzero((side >= 0.80 * m) & (side < 0.95 * m)))
        ratio = top / max(band, 1)
        if ratio > best_ratio:
            best_ratio, best_top = ratio, top
    return {"clip_top_ratio": float(best_ratio), "clip_top_samples": float(best_top)}


class Crests(NamedTuple):
    """Every crest of both polarities: a run of samples above 30 % of its polarity's peak.

    Runs that touch either end of the item are not crests (their top may lie outside it).

    Arrays hold one entry per crest, the positive polarity's crests first. Widths are
    sample counts within the crest.
    """

    #: First sample of the crest and one past its last.
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    #: Sample of the crest's top.
    top_index: npt.NDArray[np.int64]
    #: +1 for crests of the positive polarity, -1 for the negative one.
    polarity: npt.NDArray[np.int64]
    #: The crest's top over its polarity's peak (0.3-1).
    height: FloatArray
    #: Samples within 2 % and 6 % of the crest's top.
    within_2: npt.NDArray[np.int64]
    within_6: npt.NDArray[np.int64]
    #: RMS distance of the samples within 2 % of the top from their least-squares line,
    #: over the top (0 for a top that is a straight line, flat or tilted).
    top_residual: FloatArray
    #: Distinct sample values anywhere in the item (same polarity) within 2 % under the
    #: crest's top: how finely the audio is quantised where the top is measured. Counted
    #: for crests with 6 or more samples within 2 % of a top whose ``top_residual`` is
    #: within the straight limit; 0 for the others.
    top_levels: npt.NDArray[np.int64]

    @property
    def judged(self) -> npt.NDArray[np.bool_]:
        """Crests with at least 6 samples within 6 % of their top (enough to judge a shape)."""
        return self.within_6 >= _CREST_MIN_SAMPLES

    @property
    def flat(self) -> npt.NDArray[np.bool_]:
        """Judged crests that spend at least 80 % of their time within 6 % also within 2 %.

        A smooth (parabolic) crest spends ``sqrt(2 / 6)`` = 58 % there; a clipped one
        nearly all of it, and the ripple of lossy coding or resampling over a clipped
        top stays within the 2 %.
        """
        return self.judged & (self.within_2 >= _CREST_FLAT_SHARE * self.within_6)

    @property
    def straight(self) -> npt.NDArray[np.bool_]:
        """Judged crests whose top (>= 6 samples within 2 % of it) is a straight line within 0.1 %,
        resolved finely enough to tell (see below).

        A clipped top stays a line through a later gain change, however that gain moves
        (a compressor tilts it); a smooth crest's top is curved (a parabola 2 % deep is
        1.3 % (rms 0.6 %) off its best line) and a natural flat top wavers.
        """
        long_top = self.within_2 >= _CREST_MIN_SAMPLES
        # a line is only seen where the audio has 6 or more levels in the 2 % band: the top of
        # a crest of 8-bit or mu-law audio sits on one or two, straight by coarseness
        resolved = self.top_levels >= _CREST_MIN_LEVELS
        return self.judged & long_top & resolved & (self.top_residual <= _CREST_STRAIGHT_RMS)


def _top_residual(
    values: FloatArray,
    positions: npt.NDArray[np.intp],
    crest_of: npt.NDArray[np.intp],
    top_of: FloatArray,
    start: npt.NDArray[np.intp],
) -> FloatArray:
    """Per crest: RMS residual of a least-squares line through its samples within 2 % of its top."""
    near = values >= (1.0 - _CREST_TOP) * top_of
    c = crest_of[near]
    y = values[near] / top_of[near]
    t = (positions[near] - start[c]).astype(np.float64)
    m = start.size
    n = np.bincount(c, minlength=m).astype(np.float64)
    s_t, s_tt = np.bincount(c, t, m), np.bincount(c, t * t, m)
    s_y, s_ty, s_yy = np.bincount(c, y, m), np.bincount(c, t * y, m), np.bincount(c, y * y, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_t = s_tt - s_t * s_t / n
        cov = s_ty - s_t * s_y / n
        var_y = s_yy - s_y * s_y / n
        rss = np.where(var_t > 0, var_y - cov * cov / np.where(var_t > 0, var_t, 1.0), var_y)
        out = np.sqrt(np.maximum(rss, 0.0) / n)
    return np.asarray(np.where(n > 0, out, np.inf), dtype=np.float64)


def crests(a: FloatArray) -> Crests:
    """The crests of ``a`` (both polarities) and the measures of their tops that
    :func:`crest_summary` reads."""
    x = np.asarray(a, dtype=np.float64)
    cols: dict[str, list[npt.NDArray[np.generic]]] = {k: [] for k in Crests._fields}
    for sign in (1, -1):
        side = x if sign == 1 else -x
        peak = float(side.max()) if side.size else 0.0
        if peak <= _ZERO_LEVEL:  # digital silence, or rounding residue of taking a mean off
            continue
        above = side > _CREST_FLOOR * peak
        # a run cut by either end of the item is not a whole crest: drop it
        if above.all():
            continue
        if above[0]:
            above[: int(np.argmin(above))] = False
        if above[-1]:
            above[above.size - int(np.argmin(above[::-1])) :] = False
        edges = np.diff(np.concatenate(([0], above.astype(np.int8), [0])))
        start = np.flatnonzero(edges == 1)
        if start.size == 0:
            continue
        end = np.flatnonzero(edges == -1)
        crest_of = (np.cumsum(edges[:-1] == 1) - 1)[above]
        values = side[above]
        top = np.full(start.size, -np.inf)
        np.maximum.at(top, crest_of, values)
        top_of = top[crest_of]
        positions = np.flatnonzero(above)
        # the first sample of each crest at its top
        at_top = values == top_of
        first = np.full(start.size, np.iinfo(np.int64).max)
        np.minimum.at(first, crest_of[at_top], positions[at_top])
        within: dict[str, npt.NDArray[np.int64]] = {}
        for key, share in (("within_2", _CREST_TOP), ("within_6", _CREST_BAND)):
            near = values >= (1.0 - share) * top_of
            within[key] = np.bincount(crest_of[near], minlength=start.size).astype(np.int64)
            cols[key].append(within[key])
        residual = _top_residual(values, positions, crest_of, top_of, start)
        cols["top_residual"].append(residual)
        # how many distinct values the item holds within 2 % under the top of each crest
        # whose top is otherwise a line (sorting every value would cost as much as the rest)
        levels_at = np.zeros(start.size, dtype=np.int64)
        line = (residual <= _CREST_STRAIGHT_RMS) & (within["within_2"] >= _CREST_MIN_SAMPLES)
        if line.any():
            floor = (1.0 - _CREST_TOP) * float(top[line].min())
            levels = np.unique(values[values >= floor])
            lo = np.searchsorted(levels, (1.0 - _CREST_TOP) * top[line])
            levels_at[line] = np.searchsorted(levels, top[line], side="right") - lo
        cols["top_levels"].append(levels_at)
        cols["start"].append(start.astype(np.int64))
        cols["end"].append(end.astype(np.int64))
        cols["top_index"].append(first.astype(np.int64))
        cols["polarity"].append(np.full(start.size, sign, dtype=np.int64))
        cols["height"].append(top / peak)
    if not cols["start"]:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_f = np.zeros(0)
        return Crests(empty_i, empty_i, empty_i, empty_i, empty_f, empty_i, empty_i, empty_f, empty_i)
    return Crests(**{k: np.concatenate(v) for k, v in cols.items()})


def crest_stats(a: FloatArray, *, sample_rate_hz: float) -> dict[str, float]:
    """Flat-topped crests: clipping judged crest by crest, so it survives later processing.

    A crest is a run of samples above 30 % of its polarity's peak (after the item's mean
    is taken off); its shape is judged when at least 6 of its samples lie within 6 % of
    its top (see :class:`Crests`). Returns :func:`crest_summary` of :func:`crests`.
    """
    x = np.asarray(a, dtype=np.float64)
    c = crests(x - x.mean() if x.size else x)
    return crest_summary(c, duration_s=x.size / float(sample_rate_hz))


def crest_summary(c: Crests, *, duration_s: float) -> dict[str, float]:
    """The clipping metrics of a set of crests.

    Returns
    -------
    dict
        ``flat_crests``: flat crests reaching 80 % of their polarity's peak whose tops lie
        within 3 % of the median of those tops (a clip level is one level, and the item's
        top); ``flat_crest_share``: those over all judged crests reaching 80 %;
        ``straight_crests``: crests at any height whose top is a straight line (a clipped
        top after a gain that moves, as a compressor's does); ``straight_crests_per_s``:
        those per second of ``duration_s``.
    """
    near_peak = c.judged & (c.height >= _CREST_NEAR_PEAK)
    n_near = int(near_peak.sum())
    tops = c.height[c.flat & near_peak]
    level = float(np.median(tops)) if tops.size else 0.0
    n_flat = int(np.count_nonzero(np.abs(tops - level) <= _CREST_LEVEL * level))
    n_straight = int(c.straight.sum())
    return {
        "flat_crests": float(n_flat),
        "flat_crest_share": n_flat / n_near if n_near else 0.0,
        "straight_crests": float(n_straight),
        "straight_crests_per_s": n_straight / duration_s if duration_s > 0 else 0.0,
    }


# --------------------------------------------------------------------------- reverb


def analysis_copy(a: FloatArray, *, sample_rate_hz: float) -> tuple[FloatArray, float]:
    """``a`` at :data:`ANALYSIS_RATE_HZ` when it is faster (soxr, low quality), else as it is.

    :func:`level_falls` and :func:`struck_partials` read this copy; a caller measuring
    both makes it once and passes it to each (the result is the same).
    """
    import soxr

    sr = float(sample_rate_hz)
    if a.size and sr > ANALYSIS_RATE_HZ:
        return soxr.resample(np.asarray(a, dtype=np.float64), sr, ANALYSIS_RATE_HZ, quality="LQ"), float(
            ANALYSIS_RATE_HZ
        )
    return a, sr


class LevelFalls(NamedTuple):
    """The band levels and their falls that :func:`reverb_stats` reads (and the report draws).

    Frame ``i`` of a band level is centred at ``i * ENVELOPE_FRAME_S`` seconds; window
    ``j`` of the slopes covers frames ``j .. j + window_frames - 1``.
    """

    #: Lower and upper edge of each band (Hz), shape ``(n_bands, 2)``.
    band_edges_hz: FloatArray
    #: Level of each band per frame (dB), shape ``(n_bands, n_frames)``.
    levels_db: FloatArray
    #: Least-squares slope of each window of each band (dB/s), ``(n_bands, n_windows)``.
    slopes_db_per_s: FloatArray
    #: Windows that count as falls: they fall, and start at least 25 dB above their band's
    #: floor (its 10th percentile) and within 50 dB of the loudest band level.
    falling: npt.NDArray[np.bool_]
    #: Frames of each window the slope is fitted to: from its start to the first frame under
    #: 6 dB over the band's floor (the whole window when it never gets there).
    fitted_frames: npt.NDArray[np.int64]
    #: Frames per window.
    window_frames: int


def level_falls(a: FloatArray, *, sample_rate_hz: float) -> LevelFalls:
    """The level of 12 log-spaced bands (150 Hz-5 kHz) and their 160 ms falls.

    Band levels are the summed power of a 64 ms Hann STFT every 10 ms; every 160 ms
    window of each band gets a least-squares slope, fitted from the window's start to
    its first frame under 6 dB over the band's floor (its 10th percentile: noise under
    the voice stops a fall there, and a line through the fall and the flat floor after
    it would read as a slow decay). A window counts as a fall when that fit spans at
    least 3 frames and falls, and the window starts at least 25 dB above the band's
    floor and within 50 dB of the item's loudest band level.
    Audio faster than 16 kHz is analysed on a 16 kHz copy; bands above 0.45 x the
    analysis rate are left out. No windows when the item is shorter than 0.3 s.
    """
    from svcprep.dsp.mel import stft_magnitude

    # the bands end at 5 kHz: a 16 kHz copy holds them, at a third of a 44.1 kHz STFT's cost
    a, sr = analysis_copy(a, sample_rate_hz=sample_rate_hz)
    hop = max(1, round(ENVELOPE_FRAME_S * sr))
    win_length = max(16, round(_BAND_WINDOW_S * sr))
    n_fft = 1 << (win_length - 1).bit_length()  # the window zero-padded to a power of two
    w = round(_FALL_WINDOW_S / ENVELOPE_FRAME_S)
    lo, hi = _BAND_EDGES_HZ
    hi = min(hi, 0.45 * sr)
    edges = np.geomspace(lo, hi, _N_BANDS + 1) if hi > lo * 1.5 else np.zeros(1)
    bands = np.stack([edges[:-1], edges[1:]], axis=1) if edges.size > 1 else np.zeros((0, 2))
    none = np.zeros((bands.shape[0], 0))
    empty = LevelFalls(bands, none, none, none.astype(bool), none.astype(np.int64), w)
    if a.size < max(win_length, round(0.3 * sr)) or bands.shape[0] == 0:
        return empty
    half = n_fft // 2
    mag = stft_magnitude(
        a.astype(np.float32), n_fft=n_fft, hop_length=hop, win_length=win_length,
        pad_left=half, pad_right=half, pad_mode="constant",
    )  # fmt: skip
    power = mag.astype(np.float64) ** 2  # (frames, bins)
    freqs = np.arange(power.shape[1]) * sr / n_fft
    member = (freqs[None, :] >= bands[:, :1]) & (freqs[None, :] < bands[:, 1:])  # (bands, bins)
    summed = member.astype(np.float64) @ power.T
    with np.errstate(divide="ignore"):
        levels = np.maximum(10.0 * np.log10(summed), _DB_FLOOR)
    if levels.shape[1] < 2 * w:
        return empty._replace(levels_db=levels)
    floor = np.percentile(levels, 10, axis=1, keepdims=True)
    win = np.lib.stride_tricks.sliding_window_view(levels, w, axis=1)  # (bands, windows, w)
    # a fall is fitted only down to 6 dB over the band's floor: noise under the voice stops it
    # there, and a line through the fall and the floor after it would read as a slow decay
    above = np.cumprod(win >= floor[..., None] + _FALL_FIT_ABOVE_FLOOR_DB, axis=-1, dtype=np.int8)
    used = above.sum(axis=-1)
    wt = above.astype(np.float64)
    t = np.arange(w) * ENVELOPE_FRAME_S
    n = np.maximum(used, 1).astype(np.float64)
    t_mean = (wt @ t) / n
    x_mean = np.sum(wt * win, axis=-1) / n
    sxx = wt @ (t * t) - n * t_mean**2
    sxy = np.sum(wt * win * t, axis=-1) - n * t_mean * x_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = np.where(used >= _MIN_FIT_FRAMES, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
    first = win[..., 0]
    falling = (
        (slopes < 0)
        & (used >= _MIN_FIT_FRAMES)
        & (first >= floor + _FALL_START_ABOVE_FLOOR_DB)
        & (first >= float(levels.max()) - _FALL_START_BELOW_MAX_DB)
    )
    return LevelFalls(bands, levels, slopes, falling, used.astype(np.int64), w)


def reverb_stats(a: FloatArray, *, sample_rate_hz: float) -> dict[str, float]:
    """Reverberation time from the steepest falls of the item's band levels (see the module docstring).

    Sound can stop at once, but a room's tail falls at most 60 dB per RT60: the steepest
    falls of :func:`level_falls` (the 5th percentile of the falling windows' slopes, over
    every band) bound the reverberation time, ``rt60_s = 60 / that rate``. Dry takes
    read 0.34 s or less (the 64 ms window smooths the fastest falls); synthetic rooms of
    RT60 0.6-2.5 s read 0.41 s and more, also on legato singing, whose broadband level
    hardly ever falls.

    Returns
    -------
    dict
        ``rt60_s`` (0 when fewer than 10 windows fall) and ``decays`` (the number of
        falling windows, over all bands).
    """
    lf = level_falls(a, sample_rate_hz=sample_rate_hz)
    rate = steepest_fall_db_per_s(lf)
    return {"rt60_s": float(60.0 / rate) if rate > 0 else 0.0, "decays": float(np.count_nonzero(lf.falling))}


def steepest_fall_db_per_s(falls: LevelFalls) -> float:
    """How fast the steepest falls of :func:`level_falls` fall (dB/s, positive).

    The 5th percentile of the falling windows' slopes, negated; 0 when fewer than 10
    windows fall (too little to judge a room by).
    """
    if np.count_nonzero(falls.falling) < _MIN_FALLS:
        return 0.0
    return float(-np.percentile(falls.slopes_db_per_s[falls.falling], _FALL_PERCENTILE))


# --------------------------------------------------------------------------- accompaniment


class StruckPartials(NamedTuple):
    """What :func:`struck_partials` found: the struck notes' partials and the frames they cover.

    Frame ``i`` covers samples ``[i * hop_length, i * hop_length + n_fft)`` of the audio
    resampled to ``sample_rate_hz`` (the analysis rate, whatever the input's).
    """

    sample_rate_hz: int
    n_fft: int
    hop_length: int
    #: First frame of each struck partial (it rings for :data:`STRUCK_FRAMES` frames).
    start_frames: npt.NDArray[np.int64]
    #: Its frequency (Hz, interpolated between bins).
    freqs_hz: FloatArray
    #: Frames in which at least one struck partial rings.
    covered: npt.NDArray[np.bool_]
    #: Frames within 30 dB of the item's loud frames (the denominator of ``struck_share``).
    loud: npt.NDArray[np.bool_]

    @property
    def opened(self) -> npt.NDArray[np.bool_]:
        """The loud frames a struck partial covers."""
        return self.covered & self.loud

    @property
    def struck_share(self) -> float:
        """The share of the loud frames that a struck partial covers (0 with no loud frame)."""
        n_loud = int(np.count_nonzero(self.loud))
        return float(np.count_nonzero(self.opened) / n_loud) if n_loud else 0.0


def struck_partials(a: FloatArray, *, sample_rate_hz: float) -> StruckPartials:
    """Find the partials of struck notes (piano, guitar, mallets) in ``a``.

    A 90 ms Hann STFT of a 16 kHz copy (eight hops per window) from 60 Hz to 4 kHz; in each frame the
    spectral peaks standing 8 dB above the median of the 300 Hz around them and within
    50 dB of the item's loud frames, minus the bins that hold a peak in 60 % of the
    frames or more (hum, test tones: steady, never struck). A peak starts a struck
    partial when, over the next :data:`STRUCK_FRAMES` frames, a peak stays within one
    bin and 3 cents of its median frequency, its level never rises by more than 0.1 dB
    from one frame to the next (it only decays), and within the first five frames the
    level is 6 dB above everything within two bins one window earlier (an onset).

    Parameters
    ----------
    a
        Mono audio.
    sample_rate_hz
        Its rate.

    Returns
    -------
    StruckPartials
        Empty (no frames) when ``a`` is shorter than the frames one partial needs.
    """
    import soxr

    from svcprep.dsp.filters import dilate
    from svcprep.dsp.mel import stft_magnitude

    sr = _STRUCK_RATE_HZ
    n_fft = round(_STRUCK_WINDOW_S * sr)
    hop = n_fft // _STRUCK_HOPS_PER_WINDOW
    x = np.asarray(a, dtype=np.float64)
    if x.size and round(float(sample_rate_hz)) != sr:
        x = soxr.resample(x, float(sample_rate_hz), sr, quality="LQ")
    length = STRUCK_FRAMES
    peak_abs = float(np.max(np.abs(x))) if x.size else 0.0
    if x.size < n_fft + (length + _STRUCK_HOPS_PER_WINDOW) * hop or not 0.0 < peak_abs < math.inf:
        nothing = np.zeros(0, dtype=bool)
        return StruckPartials(sr, n_fft, hop, np.zeros(0, np.int64), np.zeros(0), nothing, nothing)
    mag = stft_magnitude(
        (x / peak_abs).astype(np.float32), n_fft=n_fft, hop_length=hop, win_length=n_fft,
        pad_left=0, pad_right=0, pad_mode="constant",
    )  # fmt: skip
    lo = max(1, int(_STRUCK_BAND_HZ[0] * n_fft / sr))
    hi = min(mag.shape[1] - 1, int(_STRUCK_BAND_HZ[1] * n_fft / sr))
    d = 20.0 * np.log10(np.maximum(mag[:, lo:hi].astype(np.float64), 1e-10))
    n_frames, n_bins = d.shape
    frame_max = d.max(axis=1)
    top = float(np.percentile(frame_max, 95))
    pk = np.zeros(d.shape, dtype=bool)
    pk[:, 1:-1] = (d[:, 1:-1] > d[:, :-2]) & (d[:, 1:-1] >= d[:, 2:])
    pk &= d >= top - _STRUCK_RANGE_DB
    # prominence over the median of the neighbourhood, computed at the local maxima only
    half = max(1, int(_STRUCK_NEIGHBOURHOOD_HZ * n_fft / sr) // 2)
    around = np.lib.stride_tricks.sliding_window_view(
        np.pad(d, ((0, 0), (half, half)), mode="edge"), 2 * half + 1, axis=1
    )
    pt, pb = np.nonzero(pk)
    pk[pt, pb] = d[pt, pb] - np.median(around[pt, pb], axis=1) >= _STRUCK_PROMINENCE_DB
    steady = dilate(pk.mean(axis=0) >= _STRUCK_STEADY_SHARE, 2)
    pk &= ~steady[None, :]
    # each peak's frequency (bins, parabolic interpolation), spread to the bins either side
    # so that a partial drifting by one bin is still followed
    pt, pb = np.nonzero(pk)
    left, mid, right = d[pt, pb - 1], d[pt, pb], d[pt, pb + 1]  # peaks are never at the edges
    den = left - 2.0 * mid + right
    safe = np.abs(den) > 1e-9
    freq = np.full(d.shape, np.nan)
    freq[pt, pb] = lo + pb + np.where(safe, 0.5 * (left - right) / np.where(safe, den, 1.0), 0.0)
    near = freq.copy()
    for shift in (-1, 1):
        near = np.where(np.isnan(near), np.roll(freq, shift, axis=1), near)
    # candidates: peaks with a peak nearby in each of the next `length` frames ...
    present = np.concatenate([np.zeros((1, n_bins)), np.cumsum(~np.isnan(near), axis=0)])
    starts = n_frames - length + 1
    held = (present[length : length + starts] - present[:starts]) == length
    ct, ck = np.nonzero(pk[:starts] & held)
    # ... after an onset: within the first frames, the level over the loudest of the two bins
    # either side one window earlier
    lag = _STRUCK_HOPS_PER_WINDOW
    search = np.arange(_STRUCK_RISE_SEARCH)
    at = ct[:, None] + search[None, :]  # (n, ahead)
    earlier = at[:, :, None] - (lag + search)[None, None, :]  # (n, ahead, back)
    bins = np.clip(ck[:, None] + np.arange(-2, 3)[None, :], 0, n_bins - 1)  # (n, 5)
    ok_at = at < n_frames
    ok_earlier = (earlier >= 0) & ok_at[:, :, None]
    prior = d[np.clip(earlier, 0, n_frames - 1)[..., None], bins[:, None, None, :]].max(axis=3)
    prior = np.where(ok_earlier, prior, -np.inf).max(axis=2)  # (n, ahead)
    rise = np.where(ok_at & (prior > -np.inf), d[np.minimum(at, n_frames - 1), ck[:, None]] - prior, -np.inf)
    onset = rise.max(axis=1) >= _STRUCK_RISE_DB
    t0, k = ct[onset], ck[onset]
    loud = frame_max >= top - _STRUCK_LOUD_DB
    rows = t0[:, None] + np.arange(length)[None, :]
    track = near[rows, k[:, None]]
    cents = 1200.0 * np.log2(track / np.median(track, axis=1, keepdims=True))
    level = np.maximum(np.maximum(d[rows, k[:, None] - 1], d[rows, k[:, None]]), d[rows, k[:, None] + 1])
    ok = (np.abs(cents).max(axis=1) <= _STRUCK_CENTS) & (np.diff(level, axis=1) <= _STRUCK_SWELL_DB).all(
        axis=1
    )
    t0, k, track = t0[ok], k[ok], track[ok]
    edges = np.zeros(n_frames + 1, dtype=np.int64)
    np.add.at(edges, t0, 1)
    np.add.at(edges, t0 + length, -1)
    covered = np.cumsum(edges[:-1]) > 0
    freqs_hz = np.median(track, axis=1) * sr / n_fft if t0.size else np.zeros(0)
    return StruckPartials(sr, n_fft, hop, t0.astype(np.int64), freqs_hz, covered, loud)


def accompaniment_stats(a: FloatArray, *, sample_rate_hz: float) -> dict[str, float]:
    """How much of the item rings with struck notes (see :func:`struck_partials`).

    Returns
    -------
    dict
        ``struck_share``: the share of the loud frames (within 30 dB of the item's 95th
        percentile frame) that a struck partial covers (from the frame it is found in,
        at most five frames after its onset, for :data:`STRUCK_FRAMES` frames); ``struck_notes_per_s``: struck
        partials that start (not continuing one that started a frame earlier at the same
        bin) per second. Both 0 on items too short to judge.
    """
    sp = struck_partials(a, sample_rate_hz=sample_rate_hz)
    bins = np.round(sp.freqs_hz * sp.n_fft / sp.sample_rate_hz).tolist()
    keyed = set(zip(sp.start_frames.tolist(), bins, strict=True))
    fresh = sum(1 for t, b in keyed if (t - 1, b) not in keyed)
    seconds = (sp.loud.size * sp.hop_length + sp.n_fft - sp.hop_length) / sp.sample_rate_hz
    return {"struck_share": sp.struck_share, "struck_notes_per_s": float(fresh / seconds)}


# --------------------------------------------------------------------------- voice profile


@functools.lru_cache(maxsize=8)
def _dct_ortho(n: int) -> npt.NDArray[np.float64]:
    """The orthonormal DCT-II matrix: ``scipy.fft.dct(x, type=2, norm="ortho", axis=0) == M @ x``."""
    k = np.arange(n)[:, None]
    m = np.sqrt(2.0 / n) * np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n))
    m[0] /= math.sqrt(2.0)
    return m


def voice_profile(
    a: npt.ArrayLike, *, sample_rate_hz: float, f0_hz: npt.ArrayLike, voiced: npt.ArrayLike, hop_length: int
) -> list[float] | None:
    """The item's voice in a few numbers: median pitch and its spectral envelope.

    ``[median F0 in semitones above 55 Hz, MFCC 1..12 averaged over voiced frames]``
    (40 mel bands to 8 kHz on 46 ms windows of the item's grid), or None with fewer than
    20 voiced frames or a median F0 within 4 % of 50 or 60 Hz (the F0 extractor locked
    onto mains hum: the pitch is not the voice's; the item gets ``hum`` instead).
    Used to compare items within a speaker (``speaker_outlier``).
    """
    from svcprep.dsp.mel import mel_filterbank, stft_magnitude

    sr = float(sample_rate_hz)
    f0 = np.asarray(f0_hz, dtype=np.float64)
    v = np.asarray(voiced).astype(bool) & (f0 > 0)
    if v.sum() < 20:
        return None
    median_f0 = float(np.median(f0[v]))
    if any(abs(median_f0 / mains - 1.0) <= _HUM_ON_MAINS for mains in _HUM_MAINS_HZ):
        return None  # the extractor followed mains hum (no voice centres on 50 or 60 Hz)
    n_fft = int(2 ** round(math.log2(0.046 * sr)))
    # the power mel of librosa.feature.melspectrogram's defaults (centred frames, zero padding,
    # Slaney bands from 0 Hz), without librosa's numba kernels: compiling those cost every
    # worker process about 20 s
    x = np.asarray(a, dtype=np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if not math.isfinite(peak):
        return None
    # out-of-range float samples would overflow float32 powers; a gain moves only MFCC 0
    x = x / peak if peak > 1.0 else x
    mag = stft_magnitude(
        x.astype(np.float32), n_fft=n_fft, hop_length=hop_length, win_length=n_fft,
        pad_left=n_fft // 2, pad_right=n_fft // 2, pad_mode="constant",
    )  # fmt: skip
    fb = mel_filterbank(sample_rate_hz=sr, n_fft=n_fft, n_mels=40, fmin_hz=0.0, fmax_hz=min(8000.0, sr / 2))
    mel = fb.astype(np.float64) @ (mag.astype(np.float64).T ** 2)
    n = min(mel.shape[1], v.size)
    logmel = np.log(np.maximum(mel[:, :n][:, v[:n]], 1e-10))
    if logmel.shape[1] == 0:
        return None
    mfcc = (_dct_ortho(logmel.shape[0]) @ logmel)[1:13]
    pitch = 12.0 * math.log2(median_f0 / 55.0)
    profile = [round(pitch, 4), *(round(float(c), 4) for c in mfcc.mean(axis=1))]
    return profile if all(math.isfinite(c) for c in profile) else None
