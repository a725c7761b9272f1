"""Per-item data-quality metrics: pure functions from audio (and frame features) to numbers.

Every metric is a finite float (levels are floored at :data:`DB_FLOOR` instead of
``-inf``), so the manifest never holds NaN. The names of the keys returned by
:func:`item_metrics` and :func:`feature_metrics` are the manifest's metric names;
:mod:`svcprep.quality.flags` turns them into flags.

Metric families
---------------
level
    ``sample_rate_hz`` (echoed, for the bandwidth rule), ``duration_s``, ``peak_dbfs``,
    ``rms_dbfs``, ``loudness_lufs`` (ITU-R BS.1770 via
    :func:`svcprep.dsp.loudness.integrated_loudness_lufs`), ``dc_offset`` (mean sample).
silence
    ``active_ratio``, ``leading_silence_s``, ``trailing_silence_s`` on 20 ms frames.
clipping
    ``clip_ratio``, ``clip_runs``, ``clip_samples``, ``peak_abs``: runs of at least
    three consecutive samples stuck at the item's maximum or minimum.
noise
    ``snr_db``: signal-to-noise ratio estimated blind from a noise-floor spectrum.
bandwidth
    ``bandwidth_hz``: where the long-term spectrum falls 60 dB below its peak for good.
defects
    ``hum_*``, ``dropout*``, ``clip_top_ratio``, ``flat_crest*``/``straight_crests*``,
    ``rt60_s``/``decays``, ``struck_share``/
    ``struck_notes_per_s``: see :mod:`svcprep.quality.defects`.
F0 stability (only when ``f0_hz`` is given)
    ``voiced_ratio``, ``octave_jumps``, ``voiced_runs_per_s``, ``short_voiced_run_ratio``,
    ``f0_at_limits_ratio``, and ``f0_disagreement_ratio`` when ``second_f0_hz`` is given.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from svcprep.dsp.filters import running_mean, running_median
from svcprep.dsp.frames import num_frames
from svcprep.dsp.loudness import integrated_loudness_lufs
from svcprep.errors import ConfigError, NonFiniteAudioError, QualityInputError
from svcprep.quality.defects import (
    accompaniment_stats,
    analysis_copy,
    clip_top_stats,
    crest_stats,
    dropout_stats,
    hum_stats,
    reverb_stats,
)

__all__ = [
    "BANDWIDTH_DROP_DB",
    "DB_FLOOR",
    "SNR_CEIL_DB",
    "QualityInputError",
    "bandwidth_hz",
    "clipping_stats",
    "f0_stability",
    "feature_metrics",
    "item_metrics",
    "silence_stats",
    "snr_db",
    "spectrum_evidence",
]

DB_FLOOR = -120.0
"""Levels (dBFS, LUFS) of digital silence or of empty items are reported as this."""
SNR_CEIL_DB = 100.0
"""``snr_db`` is clipped to ``[-SNR_CEIL_DB, SNR_CEIL_DB]``; digital silence reads the ceiling (no noise)."""

# silence
_SILENCE_FRAME_S = 0.020
_SILENCE_TOP_DB = 40.0
_SILENCE_FLOOR_DBFS = -60.0
# clipping
_CLIP_MIN_RUN = 3
_CLIP_REL_TOL = 1e-6
_CLIP_MIN_SLOPE = 0.1  # entry/exit slope of a clipped run, as a share of the item's mean |diff|
# spectra (noise floor and bandwidth)
_SPEC_WINDOW_S = 0.046
_NOISE_SMOOTH_FRAMES = 5  # power averaged over this many frames before the low quantile
_NOISE_QUANTILE = 0.2
_NOISE_MEDIAN_HZ = 400.0  # running median across frequency removes harmonic peaks from the floor
#: ``bandwidth_hz`` is where the long-term spectrum stays this far under its peak (dB).
BANDWIDTH_DROP_DB = 60.0
_BANDWIDTH_SMOOTH_HZ = 200.0
# F0
_OCTAVE_JUMP_LOG2 = 0.75
_OCTAVE_GAP_S = 0.1
_OCTAVE_LAG_FRAMES = 3
_OCTAVE_MEDIAN_FRAMES = 5
_OCTAVE_EDGE_S = 0.15
_LIMIT_TOL = 0.01
_DISAGREE_CENTS = 50.0
_SHORT_RUN_S = 0.1


FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- checks


def _audio(y: npt.ArrayLike, *, what: str) -> FloatArray:
    a = np.asarray(y)
    if a.ndim != 1:
        raise QualityInputError(f"{what}: audio must be mono and 1-D, got an array of shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise QualityInputError(
            f"{what}: audio must be floating point in [-1, 1] (float32), got dtype {a.dtype}: "
            "convert integer PCM with y / 32768"
        )
    a = a.astype(np.float64, copy=False)
    if a.size and not np.isfinite(a).all():
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise NonFiniteAudioError(f"{what}: audio contains {bad} NaN or infinite samples")
    return a


def _rate(sample_rate_hz: float, *, what: str) -> float:
    ok = isinstance(sample_rate_hz, (int, float)) and math.isfinite(sample_rate_hz) and sample_rate_hz > 0
    if not ok:
        raise ConfigError(f"{what}: sample_rate_hz={sample_rate_hz!r} must be a positive number")
    return float(sample_rate_hz)


def _db(power: float) -> float:
    """10*log10(power) floored at DB_FLOOR (never -inf or NaN)."""
    if not power > 10 ** (DB_FLOOR / 10):
        return DB_FLOOR
    return 10.0 * math.log10(power)


# --------------------------------------------------------------------------- silence


def silence_stats(y: npt.ArrayLike, *, sample_rate_hz: float) -> dict[str, float]:
    """Share of active audio and the silent stretches at each edge.

    The signal is cut into consecutive 20 ms frames (the last one may be shorter). A
    frame is *active* when its RMS level is within 40 dB of the loudest frame and above
    -60 dBFS.

    Parameters
    ----------
    y
        Mono audio.
    sample_rate_hz
        Rate of ``y``.

    Returns
    -------
    dict
        ``active_ratio`` (0-1, share of frames that are active), ``leading_silence_s``
        and ``trailing_silence_s`` (seconds before the first / after the last active
        frame; both equal the duration when nothing is active).
    """
    a = _audio(y, what="silence_stats")
    sr = _rate(sample_rate_hz, what="silence_stats")
    n = a.size
    duration = n / sr
    if n == 0:
        return {"active_ratio": 0.0, "leading_silence_s": 0.0, "trailing_silence_s": 0.0}
    flen = max(1, round(_SILENCE_FRAME_S * sr))
    starts = np.arange(0, n, flen)
    sq = np.add.reduceat(a * a, starts)
    counts = np.diff(np.append(starts, n))
    with np.errstate(divide="ignore"):
        level = 10.0 * np.log10(sq / counts)
    top = float(level.max())
    active = (level >= top - _SILENCE_TOP_DB) & (level > _SILENCE_FLOOR_DBFS)
    if not active.any():
        return {"active_ratio": 0.0, "leading_silence_s": duration, "trailing_silence_s": duration}
    idx = np.flatnonzero(active)
    first_start = int(starts[idx[0]])
    last_end = int(starts[idx[-1]] + counts[idx[-1]])
    return {
        "active_ratio": float(active.mean()),
        "leading_silence_s": first_start / sr,
        "trailing_silence_s": (n - last_end) / sr,
    }


# --------------------------------------------------------------------------- clipping


def _stuck_runs(a: FloatArray, mask: npt.NDArray[np.bool_], min_slope: float) -> tuple[int, int]:
    """Runs of True in ``mask`` at least _CLIP_MIN_RUN long that are entered or left steeply.

    Returns the number of such runs and the samples in them. The slope test keeps a
    clipped crest (the waveform arrives at the ceiling at full speed) and drops the
    smooth crest of a slow, quantised waveform (which creeps up to its top one
    quantisation step at a time).
    """
    if not mask.any():
        return 0, 0
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    keep = (ends - starts) >= _CLIP_MIN_RUN
    starts, ends = starts[keep], ends[keep]
    if starts.size == 0:
        return 0, 0
    n = a.size
    # slope just outside the run on each side (0 where the run touches the edge)
    left = np.where(starts >= 2, np.abs(a[np.maximum(starts - 1, 0)] - a[np.maximum(starts - 2, 0)]), 0.0)
    right = np.where(ends + 1 < n, np.abs(a[np.minimum(ends, n - 1)] - a[np.minimum(ends + 1, n - 1)]), 0.0)
    edge = (starts < 2) | (ends + 1 >= n)
    steep = (np.maximum(left, right) >= min_slope) | edge
    return int(steep.sum()), int((ends - starts)[steep].sum())


def clipping_stats(y: npt.ArrayLike) -> dict[str, float]:
    """Flat-topped peaks: runs of >= 3 consecutive samples stuck at the item's max or min.

    A sample is *stuck* when it equals the item's maximum (or minimum) within a relative
    tolerance of 1e-6. Only the item's own extremes count, so a signal that was clipped
    and then turned down (flat tops at 0.7, say) is found as well as one clipped at full
    scale. A clean waveform passes its extreme in a single sample per cycle (a 100 Hz
    sine at 44.1 kHz moves 1e-4 of its amplitude in the sample after the crest, a
    hundred times the tolerance), so it reads ~0. A run must also be entered or left
    steeply (a sample-to-sample step at least 0.1 x the item's mean |step| next to it):
    a slow, 16-bit-quantised crest (a 50 Hz sine at 96 kHz sits on its top quantum for
    several samples) creeps up one quantum at a time and is not counted.

    Parameters
    ----------
    y
        Mono audio.

    Returns
    -------
    dict
        ``clip_runs`` (number of runs, max and min side together), ``clip_samples``
        (samples in those runs), ``clip_ratio`` (``clip_samples / len(y)``) and
        ``peak_abs`` (max |y|).
    """
    a = _audio(y, what="clipping_stats")
    if a.size == 0:
        return {"clip_ratio": 0.0, "clip_runs": 0.0, "clip_samples": 0.0, "peak_abs": 0.0}
    runs = 0
    samples = 0
    peak_abs = float(np.max(np.abs(a)))
    min_slope = _CLIP_MIN_SLOPE * float(np.mean(np.abs(np.diff(a)))) if a.size > 1 else 0.0
    for extreme in (float(a.max()), float(a.min())):
        if extreme == 0.0:  # digital silence or a one-sided signal: no flat top at 0
            continue
        stuck = np.abs(a - extreme) <= _CLIP_REL_TOL * abs(extreme)
        r, s = _stuck_runs(a, stuck, min_slope)
        runs += r
        samples += s
    return {
        "clip_ratio": samples / a.size,
        "clip_runs": float(runs),
        "clip_samples": float(samples),
        "peak_abs": peak_abs,
    }


# --------------------------------------------------------------------------- spectra


def _n_fft(sample_rate_hz: float) -> int:
    return int(2 ** round(math.log2(_SPEC_WINDOW_S * sample_rate_hz)))


def _power_spectrogram(a: FloatArray, sample_rate_hz: float) -> tuple[FloatArray, FloatArray]:
    """Hann-windowed power spectrogram (frames x bins), zero-padded when short, and bin freqs."""
    n_fft = _n_fft(sample_rate_hz)
    hop = n_fft // 4
    if a.size < n_fft:
        a = np.pad(a, (0, n_fft - a.size))
    n_frames = 1 + (a.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(a, n_fft)[::hop][:n_frames]
    win = np.hanning(n_fft + 2)[1:-1]
    spec = np.fft.rfft(frames * win, axis=1)
    power = (spec.real**2 + spec.imag**2) / (win.sum() ** 2)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)
    return np.asarray(power, dtype=np.float64), np.asarray(freqs, dtype=np.float64)


def _noise_floor_factor() -> float:
    """Expected ratio (low quantile / mean) of the smoothed noise-only power used by snr_db.

    Measured once on white noise with the same analysis (cached): it undoes the
    downward bias of taking a low quantile of a random power estimate.
    """
    global _NOISE_FACTOR
    if _NOISE_FACTOR is None:
        rng = np.random.default_rng(12345)
        sr = 16000.0
        w = rng.standard_normal(int(sr * 20))
        power, _ = _power_spectrogram(w, sr)
        floor = _floor_spectrum(power, sr)
        _NOISE_FACTOR = float(np.mean(floor[1:-1]) / np.mean(power[:, 1:-1]))
    return _NOISE_FACTOR


_NOISE_FACTOR: float | None = None


def _floor_spectrum(power: FloatArray, sample_rate_hz: float) -> FloatArray:
    """Per-bin noise floor: a low quantile over time, then a running median over frequency."""
    k = min(_NOISE_SMOOTH_FRAMES, power.shape[0])
    smooth = running_mean(power, k, axis=0)
    floor = np.quantile(smooth, _NOISE_QUANTILE, axis=0)
    n_fft = 2 * (power.shape[1] - 1)
    width = max(3, round(_NOISE_MEDIAN_HZ * n_fft / sample_rate_hz) | 1)
    out: FloatArray = running_median(floor, width)
    return out


def snr_db(y: npt.ArrayLike, *, sample_rate_hz: float) -> float:
    """Blind signal-to-noise ratio of an item, in dB.

    The noise power spectrum is estimated without a reference: the power spectrogram
    (Hann, ~46 ms, 75 % overlap) is smoothed over 5 frames, its 20th percentile over
    time is taken per bin (pauses and the gaps between moving harmonics show the
    floor), a 400 Hz running median across frequency removes harmonics that sit in
    one bin the whole time, and the result is divided by the quantile's own bias,
    measured on white noise. ``snr = (P_total - P_noise) / P_noise`` over the whole
    item, which for voice plus stationary noise estimates ``P_voice / P_noise``.

    Parameters
    ----------
    y
        Mono audio.
    sample_rate_hz
        Rate of ``y``.

    Returns
    -------
    float
        dB, clipped to ``[-100, 100]``; digital silence reads 100 (nothing to call
        noise). Stationary noise is what is measured: a steady hum or hiss counts,
        a single cough does not.
    """
    a = _audio(y, what="snr_db")
    sr = _rate(sample_rate_hz, what="snr_db")
    if a.size == 0 or not np.any(a):
        return SNR_CEIL_DB
    power, _ = _power_spectrogram(a - a.mean(), sr)
    return _snr_from_power(power, sr)


def _snr_from_power(power: FloatArray, sample_rate_hz: float) -> float:
    total = float(np.sum(np.mean(power[:, 1:], axis=0)))
    noise = float(np.sum(_floor_spectrum(power, sample_rate_hz)[1:])) / _noise_floor_factor()
    if total <= 0.0:
        return SNR_CEIL_DB
    if noise <= total * 10 ** (-SNR_CEIL_DB / 10):
        return SNR_CEIL_DB
    signal_power = max(total - noise, total * 10 ** (-SNR_CEIL_DB / 10))
    return float(np.clip(10.0 * math.log10(signal_power / noise), -SNR_CEIL_DB, SNR_CEIL_DB))


def bandwidth_hz(y: npt.ArrayLike, *, sample_rate_hz: float) -> float:
    """Effective audio bandwidth: where the long-term spectrum drops 60 dB below its peak for good.

    The long-term power spectrum (mean of the power spectrogram) is smoothed over
    200 Hz, converted to dB, and the highest frequency still within 60 dB of the peak is
    returned. Audio resampled up from 16 kHz reads ~8 kHz at any output rate; an mp3 or
    other low-passed copy reads its low-pass frequency; full-band recordings (breath,
    room noise, sibilants) read close to Nyquist.

    Parameters
    ----------
    y
        Mono audio.
    sample_rate_hz
        Rate of ``y``.

    Returns
    -------
    float
        Hz in ``[0, sample_rate_hz / 2]``; 0 for empty audio or digital silence.
    """
    a = _audio(y, what="bandwidth_hz")
    sr = _rate(sample_rate_hz, what="bandwidth_hz")
    if a.size == 0 or not np.any(a):
        return 0.0
    power, freqs = _power_spectrogram(a - a.mean(), sr)
    return _bandwidth_from_power(power, freqs, sr)


def _long_term(power: FloatArray, sample_rate_hz: float) -> FloatArray:
    """The long-term power spectrum that :func:`bandwidth_hz` reads (200 Hz smoothing, no DC)."""
    lt = power.mean(axis=0)
    n_fft = 2 * (lt.size - 1)
    width = max(1, round(_BANDWIDTH_SMOOTH_HZ * n_fft / sample_rate_hz))
    out: FloatArray = np.asarray(running_mean(lt, width), dtype=np.float64)
    out[0] = 0.0  # DC is not audio bandwidth
    return out


def spectrum_evidence(
    y: npt.ArrayLike, *, sample_rate_hz: float
) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """What :func:`bandwidth_hz` and :func:`snr_db` read, for the report to draw.

    Returns
    -------
    tuple or None
        ``(freqs_hz, long_term_db, noise_floor_db)``: the long-term spectrum (smoothed
        over 200 Hz) and the blind noise-floor estimate per bin, both in dB relative to
        the long-term spectrum's peak; None for empty audio or digital silence.
    """
    a = _audio(y, what="spectrum_evidence")
    sr = _rate(sample_rate_hz, what="spectrum_evidence")
    if a.size == 0 or not np.any(a):
        return None
    power, freqs = _power_spectrogram(a - a.mean(), sr)
    lt = _long_term(power, sr)
    floor = _floor_spectrum(power, sr) / _noise_floor_factor()
    peak = float(lt.max())
    if not peak > 0.0:
        return None
    with np.errstate(divide="ignore"):
        lt_db = np.maximum(10.0 * np.log10(lt / peak), -150.0)
        floor_db = np.maximum(10.0 * np.log10(floor / peak), -150.0)
    return freqs, lt_db, floor_db


def _bandwidth_from_power(power: FloatArray, freqs: FloatArray, sample_rate_hz: float) -> float:
    lt = _long_term(power, sample_rate_hz)
    peak = float(lt.max())
    if peak <= 0.0:
        return 0.0
    above = np.flatnonzero(lt >= peak * 10 ** (-BANDWIDTH_DROP_DB / 10))
    return min(float(freqs[above[-1]]), sample_rate_hz / 2)  # rfft bin rounding can overshoot Nyquist


# --------------------------------------------------------------------------- F0


def _frame_array(x: npt.ArrayLike, *, name: str, n: int | None) -> FloatArray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise QualityInputError(f"{name} must be 1-D (one value per frame), got shape {a.shape}")
    if n is not None and a.size != n:
        raise QualityInputError(
            f"{name} has {a.size} frames but f0_hz has {n}: they must share one frame grid"
        )
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise QualityInputError(f"{name} must be numeric, got dtype {a.dtype}")
    return a.astype(np.float64)


def _runs(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(d == -1) - np.flatnonzero(d == 1)


def f0_stability(
    f0_hz: npt.ArrayLike,
    *,
    sample_rate_hz: float,
    hop_length: int = 512,
    voiced: npt.ArrayLike | None = None,
    f0_floor_hz: float = 50.0,
    f0_ceil_hz: float = 1100.0,
    second_f0_hz: npt.ArrayLike | None = None,
    short_run_s: float = _SHORT_RUN_S,
) -> dict[str, float]:
    """Stability of a frame-level F0 track.

    Frames whose F0 is not finite or not positive are treated as unvoiced.

    Parameters
    ----------
    f0_hz
        F0 per frame in Hz (unvoiced frames may hold anything).
    sample_rate_hz, hop_length
        The frame grid: frame ``i`` is at ``i * hop_length / sample_rate_hz`` s.
    voiced
        Voicing per frame (1/True = voiced); default ``f0_hz > 0``.
    f0_floor_hz, f0_ceil_hz
        The extractor's search range.
    second_f0_hz
        F0 of the same frames from another extractor (0 = unvoiced), optional.
    short_run_s
        Voiced runs shorter than this count as fragments.

    Returns
    -------
    dict
        ``voiced_ratio``; ``octave_jumps``: adjacent voiced frames whose F0 ratio is
        beyond ``2**±0.75`` (about an octave), per second of voiced audio;
        ``voiced_runs_per_s``: voiced runs per second of the item;
        ``short_voiced_run_ratio``: share of voiced frames in runs shorter than
        ``short_run_s``; ``f0_at_limits_ratio``: share of voiced frames within 1 % of
        the floor or the ceiling; ``f0_disagreement_ratio`` (only with
        ``second_f0_hz``): share of frames voiced in both tracks that are more than
        50 cents apart. Ratios of nothing (no voiced frame) are 0.
    """
    sr = _rate(sample_rate_hz, what="f0_stability")
    if not (isinstance(hop_length, (int, np.integer)) and hop_length > 0):
        raise ConfigError(f"f0_stability: hop_length={hop_length!r} must be a positive integer")
    if not (0 < f0_floor_hz < f0_ceil_hz):
        raise ConfigError(f"f0_stability: need 0 < f0_floor_hz={f0_floor_hz} < f0_ceil_hz={f0_ceil_hz}")
    f0 = _frame_array(f0_hz, name="f0_hz", n=None)
    n = f0.size
    ok = np.isfinite(f0) & (f0 > 0)
    if voiced is not None:
        v = _frame_array(voiced, name="voiced", n=n)
        ok &= np.nan_to_num(v, nan=0.0) > 0.5
    f0 = np.where(ok, f0, 1.0)
    frame_s = hop_length / sr
    n_voiced = int(ok.sum())
    out: dict[str, float] = {"voiced_ratio": n_voiced / n if n else 0.0}
    if n_voiced:
        # consecutive voiced frames, and the frames either side of an unvoiced gap of at most
        # 0.1 s (a splice or an alternation breaks the voicing for a frame or two)
        # (harvest spreads a jump over two or three frames, so frames up to 35 ms apart are
        # compared too; a jump counts once however many pairs span it)
        vi = np.flatnonzero(ok)
        # a 5-frame median over the voiced frames first: an extractor's one- or two-frame
        # octave slip at an onset is not an unstable recording (a splice or alternation
        # lasts at least 0.1 s and survives it)
        lf = running_median(np.log2(f0[vi]), _OCTAVE_MEDIAN_FRAMES) if vi.size else np.zeros(0)
        # Phrase edges are left out: a voice sliding into creak as a phrase ends (329, 191, 112,
        # 83 Hz) or an onset from below is natural, and an extractor follows it down.
        t = vi * frame_s
        brk = np.flatnonzero(np.diff(vi) * frame_s > _OCTAVE_GAP_S)
        starts = np.r_[0, brk + 1]
        ends = np.r_[brk, vi.size - 1]
        run_of = np.repeat(np.arange(starts.size), ends - starts + 1)
        from_start = t - t[starts[run_of]]
        to_end = t[ends[run_of]] - t
        jump = np.zeros(vi.size, dtype=bool)
        for lag in range(1, _OCTAVE_LAG_FRAMES + 1):
            if vi.size <= lag:
                break
            close = (vi[lag:] - vi[:-lag]) * frame_s <= _OCTAVE_GAP_S
            inner = (from_start[:-lag] >= _OCTAVE_EDGE_S) & (to_end[lag:] >= _OCTAVE_EDGE_S)
            big = close & inner & (np.abs(lf[lag:] - lf[:-lag]) > _OCTAVE_JUMP_LOG2)
            jump[:-lag] |= big
        jumps = int(np.count_nonzero(jump[1:] & ~jump[:-1])) + int(jump[0]) if vi.size else 0
        runs = _runs(ok)
        short = int(runs[runs * frame_s < short_run_s].sum())
        limits = ok & ((f0 <= f0_floor_hz * (1 + _LIMIT_TOL)) | (f0 >= f0_ceil_hz * (1 - _LIMIT_TOL)))
        out["octave_jumps"] = jumps / (n_voiced * frame_s)
        out["voiced_runs_per_s"] = runs.size / (n * frame_s)
        out["short_voiced_run_ratio"] = short / n_voiced
        out["f0_at_limits_ratio"] = int(limits.sum()) / n_voiced
    else:
        for key in ("octave_jumps", "voiced_runs_per_s", "short_voiced_run_ratio", "f0_at_limits_ratio"):
            out[key] = 0.0
    if second_f0_hz is not None:
        f2 = _frame_array(second_f0_hz, name="second_f0_hz", n=n)
        joint = ok & np.isfinite(f2) & (f2 > 0)
        nj = int(joint.sum())
        if nj:
            cents = 1200.0 * np.abs(np.log2(f0[joint] / f2[joint]))
            out["f0_disagreement_ratio"] = float(np.count_nonzero(cents > _DISAGREE_CENTS)) / nj
        else:
            out["f0_disagreement_ratio"] = 0.0
    return out


# --------------------------------------------------------------------------- all together


def item_metrics(
    y: npt.ArrayLike,
    *,
    sample_rate_hz: float,
    f0_hz: npt.ArrayLike | None = None,
    voiced: npt.ArrayLike | None = None,
    periodicity: npt.ArrayLike | None = None,
    hop_length: int = 512,
    f0_floor_hz: float = 50.0,
    f0_ceil_hz: float = 1100.0,
    second_f0_hz: npt.ArrayLike | None = None,
) -> dict[str, float]:
    """Every quality metric of one item (see the module docstring for the names).

    Parameters
    ----------
    y
        float32 mono audio of the item.
    sample_rate_hz
        Rate of ``y`` (the dataset rate).
    f0_hz, voiced, periodicity
        Frame-level features on the grid of ``hop_length`` (optional). F0 metrics are
        only computed when ``f0_hz`` is given; ``periodicity`` adds
        ``mean_voiced_periodicity``.
    hop_length
        Samples between frames.
    f0_floor_hz, f0_ceil_hz
        The F0 extractor's range (for ``f0_at_limits_ratio``).
    second_f0_hz
        F0 from a second extractor on the same frames (adds ``f0_disagreement_ratio``).

    Returns
    -------
    dict[str, float]
        Finite values only.

    Raises
    ------
    NonFiniteAudioError
        ``y`` holds NaN or infinity.
    QualityInputError
        ``y`` is not 1-D, or frame arrays disagree in length.
    ConfigError
        ``sample_rate_hz`` or ``hop_length`` is not positive.
    """
    a = _audio(y, what="item_metrics")
    sr = _rate(sample_rate_hz, what="item_metrics")
    n = a.size
    out: dict[str, float] = {"sample_rate_hz": sr, "duration_s": n / sr}
    mean_sq = float(np.mean(a * a)) if n else 0.0
    peak = float(np.max(np.abs(a))) if n else 0.0
    out["peak_dbfs"] = _db(peak * peak)
    out["rms_dbfs"] = _db(mean_sq)
    out["dc_offset"] = float(a.mean()) if n else 0.0
    lufs = integrated_loudness_lufs(a, sample_rate_hz=sr) if n else -math.inf
    out["loudness_lufs"] = max(float(lufs), DB_FLOOR) if math.isfinite(lufs) else DB_FLOOR
    out.update(silence_stats(a, sample_rate_hz=sr))
    out.update(clipping_stats(a))
    out.update(clip_top_stats(a))
    out.update(crest_stats(a, sample_rate_hz=sr))
    out.update(dropout_stats(a, sample_rate_hz=sr))
    a16, sr16 = analysis_copy(a, sample_rate_hz=sr)  # one 16 kHz copy for both analyses
    out.update(reverb_stats(a16, sample_rate_hz=sr16))
    out.update(accompaniment_stats(a16, sample_rate_hz=sr16))
    voice_floor = None
    if f0_hz is not None:
        f0v = np.asarray(f0_hz, dtype=np.float64)
        vmask = np.isfinite(f0v) & (f0v > 0)
        if voiced is not None:
            vmask &= np.nan_to_num(_frame_array(voiced, name="voiced", n=f0v.size), nan=0.0) > 0.5
        voice_floor = float(np.percentile(f0v[vmask], 5)) if vmask.sum() >= 10 else None
    hum = hum_stats(a - a.mean() if n else a, sample_rate_hz=sr, voice_floor_hz=voice_floor)
    out.update(hum)
    if n == 0 or not np.any(a):
        out["snr_db"] = SNR_CEIL_DB
        out["bandwidth_hz"] = 0.0
    else:
        power, freqs = _power_spectrogram(a - a.mean(), sr)
        out["snr_db"] = _snr_from_power(power, sr)
        out["bandwidth_hz"] = _bandwidth_from_power(power, freqs, sr)
    if f0_hz is not None:
        out.update(
            f0_stability(
                f0_hz,
                sample_rate_hz=sr,
                hop_length=hop_length,
                voiced=voiced,
                f0_floor_hz=f0_floor_hz,
                f0_ceil_hz=f0_ceil_hz,
                second_f0_hz=second_f0_hz,
            )
        )
        if periodicity is not None:
            f0n = np.asarray(f0_hz).size
            p = _frame_array(periodicity, name="periodicity", n=f0n)
            f0a = np.asarray(f0_hz, dtype=np.float64)
            v = np.isfinite(f0a) & (f0a > 0)
            if voiced is not None:
                v &= np.nan_to_num(_frame_array(voiced, name="voiced", n=f0n), nan=0.0) > 0.5
            v &= np.isfinite(p)
            out["mean_voiced_periodicity"] = float(p[v].mean()) if v.any() else 0.0
    elif voiced is not None or second_f0_hz is not None or periodicity is not None:
        raise QualityInputError("item_metrics: voiced, periodicity and second_f0_hz need f0_hz as well")
    return out


def feature_metrics(
    n_samples: int,
    features: dict[str, npt.ArrayLike],
    *,
    hop_length: int = 512,
    convention: str = "centered",
) -> dict[str, float]:
    """Integrity of an item's frame-level features.

    Parameters
    ----------
    n_samples
        Length of the item's audio.
    features
        Name -> array whose first axis is frames (``f0``, ``uv``, ``mel``, ``volume`` ...).
    hop_length
        Samples between frames.
    convention
        ``"centered"`` or ``"floor"`` (see :func:`svcprep.dsp.frames.num_frames`).

    Returns
    -------
    dict
        ``non_finite_feature_values``: NaN/inf values over all arrays;
        ``frame_count_error``: the largest ``|frames - expected|`` over the arrays
        (0 when every array is on the grid).
    """
    if convention not in ("centered", "floor"):
        raise ConfigError(f"feature_metrics: convention={convention!r}: use 'centered' or 'floor'")
    expected = num_frames(n_samples, hop_length=hop_length, convention=convention)  # type: ignore[arg-type]
    bad = 0
    err = 0
    for name, arr in features.items():
        a = np.asarray(arr)
        if a.ndim == 0:
            raise QualityInputError(f"feature_metrics: feature {name!r} is a scalar, expected frames first")
        if np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating):
            bad += int(np.count_nonzero(~np.isfinite(a)))
        err = max(err, abs(a.shape[0] - expected))
    return {"non_finite_feature_values": float(bad), "frame_count_error": float(err)}
