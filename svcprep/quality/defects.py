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
    soft limiting and resampling (lossy coding smears it: not caught).
reverb
    ``rt60_s``: reverberation time read off the free decays after the voice stops (the
    fastest decays of an item are bounded by the room's; a dry take decays in tens of
    milliseconds), ``decays`` how many were measured.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "clip_top_stats",
    "dropout_gaps",
    "dropout_stats",
    "hum_spectrum",
    "hum_stats",
    "level_falls",
    "reverb_stats",
    "steepest_fall_db_per_s",
    "voice_profile",
]

FloatArray = npt.NDArray[np.float64]

_DB_FLOOR = -120.0
# hum
_HUM_MAINS_HZ = (50.0, 60.0)
_HUM_MAX_HZ = 1000.0
_HUM_QUANTILE = 0.2
_HUM_LINE_DB = 10.0
# dropouts
_ZERO_LEVEL = 1e-5  # -100 dBFS: below any real recording's noise floor, above resampler residue
_MIN_DROPOUT_S = 0.010
_CONTEXT_S = 0.015
_CONTEXT_BELOW_LOUD_DB = 25.0
# clipping through processing
_MIN_TOP_SAMPLES = 40
# reverb
#: Frame of the level envelope that :func:`level_falls` reads (seconds).
ENVELOPE_FRAME_S = 0.010
_FALL_WINDOW_S = 0.100
_FALL_START_ABOVE_FLOOR_DB = 15.0
_FALL_PERCENTILE = 3.0


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
        ``0.9 * voice_floor_hz``.

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
                below |= voice_floor_hz is not None and f < 0.9 * voice_floor_hz
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


# --------------------------------------------------------------------------- reverb


def level_falls(
    a: FloatArray, *, sample_rate_hz: float
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """The level envelope and the falls :func:`reverb_stats` reads.

    Returns
    -------
    tuple
        ``(envelope_db, slopes_db_per_s, falling)``: the 10 ms level envelope (frame ``i``
        starts at ``i * 0.01`` s), the least-squares slope of every 100 ms window of it
        (window ``j`` starts at frame ``j``) and which windows count as falls (they start
        at least 15 dB above the item's floor, its 5th percentile, and fall). Empty
        slopes when the item is shorter than 0.3 s.
    """
    sr = float(sample_rate_hz)
    frame = max(1, round(ENVELOPE_FRAME_S * sr))
    env = _frame_db(a, frame)
    w = round(_FALL_WINDOW_S / ENVELOPE_FRAME_S)
    if env.size < 3 * w:
        return env, np.zeros(0), np.zeros(0, dtype=bool)
    floor = float(np.percentile(env, 5))
    win = np.lib.stride_tricks.sliding_window_view(env, w)
    t = (np.arange(w) - (w - 1) / 2) * ENVELOPE_FRAME_S
    slope = win @ t / float(t @ t)  # dB/s
    ok = (win[:, 0] >= floor + _FALL_START_ABOVE_FLOOR_DB) & (slope < 0)
    return env, slope, ok


def reverb_stats(a: FloatArray, *, sample_rate_hz: float) -> dict[str, float]:
    """Reverberation time from the steepest falls of the item's level (see the module docstring).

    The 10 ms level envelope (dB) gets a least-squares slope over every 100 ms window
    that starts at least 15 dB above the item's floor (so the floor does not stop the
    fall; :func:`level_falls`). Sound can stop at once, but the room's tail falls at most
    60 dB per RT60, so the steepest falls of an item (the 3rd percentile of the slopes)
    bound the reverberation time: ``rt60_s = 60 / that rate``.

    Returns
    -------
    dict
        ``rt60_s`` (0 when fewer than 10 falling windows were found) and
        ``decays`` (the number of windows that fall).
    """
    _, slope, ok = level_falls(a, sample_rate_hz=sample_rate_hz)
    rate = steepest_fall_db_per_s(slope, ok)
    return {"rt60_s": float(60.0 / rate) if rate > 0 else 0.0, "decays": float(np.count_nonzero(ok))}


def steepest_fall_db_per_s(slopes_db_per_s: FloatArray, falling: npt.NDArray[np.bool_]) -> float:
    """How fast the steepest falls of :func:`level_falls` fall (dB/s, positive).

    The 3rd percentile of the falling windows' slopes, negated; 0 when fewer than 10
    windows fall (too little to judge a room by).
    """
    if np.count_nonzero(falling) < 10:
        return 0.0
    return float(-np.percentile(slopes_db_per_s[falling], _FALL_PERCENTILE))


# --------------------------------------------------------------------------- voice profile


def voice_profile(
    a: npt.ArrayLike, *, sample_rate_hz: float, f0_hz: npt.ArrayLike, voiced: npt.ArrayLike, hop_length: int
) -> list[float] | None:
    """The item's voice in a few numbers: median pitch and its spectral envelope.

    ``[median F0 in semitones above 55 Hz, MFCC 1..12 averaged over voiced frames]``
    (40 mel bands to 8 kHz on 46 ms windows of the item's grid), or None with fewer than
    20 voiced frames. Used to compare items within a speaker (``speaker_outlier``).
    """
    from svcprep.dsp.mel import mel_filterbank, stft_magnitude

    sr = float(sample_rate_hz)
    f0 = np.asarray(f0_hz, dtype=np.float64)
    v = np.asarray(voiced).astype(bool) & (f0 > 0)
    if v.sum() < 20:
        return None
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
    from scipy.fft import dct

    mfcc = dct(logmel, type=2, axis=0, norm="ortho")[1:13]
    pitch = 12.0 * math.log2(float(np.median(f0[v])) / 55.0)
    profile = [round(pitch, 4), *(round(float(c), 4) for c in mfcc.mean(axis=1))]
    return profile if all(math.isfinite(c) for c in profile) else None
