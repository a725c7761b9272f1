"""Defect injection and measurement for the build-level part of ``bench_quality.py``.

Pure, seeded functions on float64 mono audio (``(n,)`` arrays) at a given rate: each
makes one kind of defect or hard negative, and a few measure what was made (levels,
flat tops, RT60, F0), so the benchmark can print that its cases are what their
labels say. Nothing here imports svcprep except :func:`f0_median` (pyworld through
svcprep's import work-around).

Levels
------
"The voice's RMS" is :func:`active_rms`: the RMS over 20 ms frames within 35 dB of
the loudest frame (and above -60 dBFS), so pauses in a take do not lower it. Every
"X dB under the voice" below is relative to that.
"""

from __future__ import annotations

import io
import math

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr
from scipy import ndimage, signal

Array = npt.NDArray[np.float64]

FRAME_S = 0.02


# --------------------------------------------------------------------------- levels


def db(x: float) -> float:
    """20 log10 of an amplitude ratio, floored at -200 dB."""
    return 20.0 * math.log10(max(float(x), 1e-10))


def rms(y: npt.ArrayLike) -> float:
    a = np.asarray(y, dtype=np.float64)
    return float(np.sqrt(np.mean(a * a))) if a.size else 0.0


def frame_rms(y: Array, sr: int, frame_s: float = FRAME_S) -> Array:
    """RMS of consecutive frames (the last partial frame dropped)."""
    n = max(1, round(frame_s * sr))
    m = y.size // n
    if m == 0:
        return np.array([rms(y)])
    return np.sqrt(np.mean(y[: m * n].reshape(m, n) ** 2, axis=1))


def active_mask(y: Array, sr: int, *, top_db: float = 35.0, floor_dbfs: float = -60.0) -> Array:
    """Per 20 ms frame: within ``top_db`` of the loudest frame and above ``floor_dbfs``."""
    lv = 20 * np.log10(np.maximum(frame_rms(y, sr), 1e-10))
    return (lv >= lv.max() - top_db) & (lv > floor_dbfs)


def active_rms(y: Array, sr: int) -> float:
    """RMS over the active frames: the voice's level, pauses excluded."""
    fr = frame_rms(y, sr)
    act = active_mask(y, sr)
    return float(np.sqrt(np.mean(fr[act] ** 2))) if act.any() else rms(y)


def set_active_rms(y: Array, sr: int, dbfs: float) -> Array:
    return y * (10 ** (dbfs / 20) / max(active_rms(y, sr), 1e-12))


def scale_to(noise: Array, ref_rms: float, below_db: float) -> Array:
    """``noise`` scaled to ``below_db`` dB under ``ref_rms``."""
    return noise * (ref_rms * 10 ** (-below_db / 20) / max(rms(noise), 1e-15))


def fade(y: Array, sr: int, ms: float = 10.0) -> Array:
    """Raised-cosine fade in and out."""
    n = min(round(ms * sr / 1000), y.size // 2)
    if n < 2:
        return y
    w = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))
    out = y.copy()
    out[:n] *= w
    out[-n:] *= w[::-1]
    return out


def resample(y: Array, sr_from: int, sr_to: int) -> Array:
    if sr_from == sr_to:
        return y.copy()
    return np.asarray(soxr.resample(y, sr_from, sr_to, quality="VHQ"), dtype=np.float64)


# --------------------------------------------------------------------------- excerpts


def pick_windows(y: Array, sr: int, length_s: float, max_n: int, *, step_s: float = 0.25) -> list[int]:
    """Start samples of up to ``max_n`` non-overlapping windows with the most active audio.

    Greedy on the share of active 20 ms frames (ties: earlier first); windows with less
    than 55 % active frames are not taken. Returned in time order.
    """
    n = round(length_s * sr)
    if y.size <= n:
        return [0]
    act = active_mask(y, sr).astype(np.float64)
    per = round(FRAME_S * sr)
    k = n // per
    csum = np.concatenate(([0.0], np.cumsum(act)))
    cands = []
    for s in range(0, y.size - n + 1, max(1, round(step_s * sr))):
        f = s // per
        if f + k <= act.size:
            cands.append(((csum[f + k] - csum[f]) / k, s))
    cands.sort(key=lambda c: (-c[0], c[1]))
    chosen: list[int] = []
    for share, s in cands:
        if share < 0.55 or len(chosen) >= max_n:
            break
        if all(abs(s - c) >= n for c in chosen):
            chosen.append(s)
    return sorted(chosen)


def loudest_span(y: Array, sr: int, length_s: float) -> Array:
    """The ``length_s`` stretch with the most energy (for short voice snippets)."""
    n = min(round(length_s * sr), y.size)
    e = np.concatenate(([0.0], np.cumsum(y * y)))
    s = int(np.argmax(e[n:] - e[:-n]))
    return y[s : s + n].copy()


# --------------------------------------------------------------------------- noise


def coloured_noise(n: int, sr: int, *, exponent: float, seed: int) -> Array:
    """Noise with power ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS, 20 Hz floor."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / sr), 20.0)
    w = np.fft.irfft(spec / f ** (exponent / 2), n=n)
    return w / rms(w)


def room_tone_from(y: Array, sr: int, n: int, *, seed: int, frame_s: float = 0.05) -> Array:
    """Stationary room tone made of a recording's quietest moments.

    The 15 % quietest 50 ms frames (of those not digital zero) are overlap-added in
    random order with a Hann window (50 % overlap) until ``n`` samples: the
    recording's own background, with no voice and no periodic loop. Unit RMS.
    """
    rng = np.random.default_rng(seed)
    L = round(frame_s * sr)
    m = y.size // L
    frames = y[: m * L].reshape(m, L)
    lv = np.sqrt(np.mean(frames**2, axis=1))
    ok = np.flatnonzero(lv > 1e-7)
    quiet = ok[np.argsort(lv[ok])[: max(4, int(0.15 * ok.size))]]
    hop = L // 2
    win = np.hanning(L)
    out = np.zeros(n + L)
    for pos in range(0, n, hop):
        out[pos : pos + L] += frames[int(rng.choice(quiet))] * win
    out = out[:n]
    return out / rms(out)


def mains_hum(n: int, sr: int, *, mains_hz: float, seed: int) -> Array:
    """Mains hum: harmonics 1, 2, 3, 5, 7 of ``mains_hz`` (amplitudes 1, .6, .45, .3, .2).

    The fundamental drifts slowly (a random walk of about +-0.1 Hz) and each harmonic
    has its own phase, as the hum of a ground loop through a rectifier does. Unit RMS.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    drift = np.cumsum(rng.standard_normal(n // 2000 + 2))
    drift = 0.1 * drift / max(1e-9, np.max(np.abs(drift)))
    f = mains_hz + np.interp(t, np.linspace(0, t[-1] if n > 1 else 1, drift.size), drift)
    phase = 2 * np.pi * np.cumsum(f) / sr
    h = np.zeros(n)
    for k, a in zip((1, 2, 3, 5, 7), (1.0, 0.6, 0.45, 0.3, 0.2), strict=True):
        h += a * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return h / rms(h)


def breath_noise(voice: Array, sr: int, *, seed: int) -> Array:
    """Aspiration: noise band-passed 1.2-7 kHz, following the voice's envelope. Unit RMS."""
    rng = np.random.default_rng(seed)
    sos = signal.butter(4, [1200, min(7000, 0.45 * sr)], btype="band", fs=sr, output="sos")
    w = signal.sosfilt(sos, rng.standard_normal(voice.size))
    env = ndimage.uniform_filter1d(np.abs(voice), size=max(3, round(0.03 * sr)))
    w = w * (0.25 * env.max() + env)  # a floor of breath between notes too
    return w / rms(w)


# --------------------------------------------------------------------------- clipping


def clip(y: Array, overdrive_db: float) -> Array:
    """Gain so that the peak sits ``overdrive_db`` above full scale, then a hard clip at +-1."""
    a = y / max(float(np.max(np.abs(y))), 1e-12) * 10 ** (overdrive_db / 20)
    return np.clip(a, -1.0, 1.0)


def flat_top_share(y: npt.ArrayLike, *, rel_tol: float = 1e-6, min_run: int = 3) -> float:
    """Share of samples in runs of >= ``min_run`` samples at the signal's own max or min."""
    a = np.asarray(y, dtype=np.float64)
    tot = 0
    for ext in (a.max(), a.min()):
        if ext == 0:
            continue
        m = np.abs(a - ext) <= rel_tol * abs(ext)
        d = np.diff(np.concatenate(([0], m.astype(np.int8), [0])))
        lengths = np.flatnonzero(d == -1) - np.flatnonzero(d == 1)
        tot += int(lengths[lengths >= min_run].sum())
    return tot / a.size


def envelope_compressor(
    y: Array, sr: int, *, threshold: float, ratio: float, attack_ms: float, release_ms: float
) -> Array:
    """A feed-forward compressor: a smoothly time-varying gain on a peak envelope.

    After a hard clip this keeps the clipped crests' shape but tilts them by the gain's
    movement, so they are no longer bit-exact flat: what a mastering chain or a
    recorder's automatic gain control does after an overloaded preamp.
    """
    a_att = math.exp(-1.0 / (attack_ms * 1e-3 * sr))
    a_rel = math.exp(-1.0 / (release_ms * 1e-3 * sr))
    x = np.abs(y)
    env = np.empty_like(x)
    e = 0.0
    for i, v in enumerate(x):  # ~200k samples: fine in a generator that runs once
        c = a_att if v > e else a_rel
        e = c * e + (1 - c) * v
        env[i] = e
    over = np.maximum(env / threshold, 1.0)
    gain = over ** (1.0 / ratio - 1.0)
    return y * gain


def lookahead_limiter(y: Array, sr: int, *, ceiling: float, lookahead_ms: float = 5.0) -> Array:
    """A clean brick-wall limiter with look-ahead: no sample above ``ceiling``, no flat tops.

    The gain each sample needs (``ceiling / |y|`` where ``|y| > ceiling``) is spread
    over the look-ahead before each peak (a running minimum, then a running mean of the
    same length, so the gain is already down when the peak arrives) and recovers with a
    50 ms release. The gain changes smoothly, so a crest keeps its rounded shape and
    touches the ceiling in at most a sample or two (verify with :func:`flat_top_share`).
    """
    L = max(3, round(lookahead_ms * 1e-3 * sr))
    need = np.minimum(1.0, ceiling / np.maximum(np.abs(y), 1e-12))
    # running minimum over the next L samples, then a mean over L: reaches the needed
    # gain at each peak and ramps down over the L samples before it
    g = ndimage.minimum_filter1d(need, size=2 * L + 1, mode="nearest")
    g = ndimage.uniform_filter1d(g, size=L, mode="nearest")
    g = np.minimum(g, need)  # the mean can only lift the minimum where it is flat
    # release: the gain may fall at once but rises at most exponentially
    a_rel = math.exp(-1.0 / (0.05 * sr))
    out = np.empty_like(g)
    cur = 1.0
    for i, v in enumerate(g):
        cur = v if v < cur else a_rel * cur + (1 - a_rel) * v
        out[i] = cur
    z = y * ndimage.uniform_filter1d(out, size=3, mode="nearest")
    peak = float(np.max(np.abs(z)))
    return z * (ceiling / peak) if peak > ceiling else z


# --------------------------------------------------------------------------- reverb


def room_impulse_response(sr: int, *, rt60_s: float, drr_db: float, seed: int) -> Array:
    """A synthetic room: direct sound, early reflections and an exponential noise tail.

    The tail is Gaussian noise whose level falls by 60 dB in ``rt60_s``, low-passed at
    6 kHz (air and soft walls absorb highs), starting 4 ms after the direct sound and
    fading in over 20 ms; 8 early reflections sit at 3-35 ms. Everything after the
    direct impulse is scaled so that direct / reverberant energy = ``drr_db``.
    """
    rng = np.random.default_rng(seed)
    n = round(min(1.3 * rt60_s, 3.5) * sr)
    t = np.arange(n) / sr
    noise = signal.sosfilt(signal.butter(2, 6000, fs=sr, output="sos"), rng.standard_normal(n))
    tail = noise * np.exp(-6.9078 * t / rt60_s)
    tail *= np.clip((t - 0.004) / 0.02, 0.0, 1.0)
    early = np.zeros(n)
    for d_ms in np.sort(rng.uniform(3, 35, 8)):
        i = round(d_ms * 1e-3 * sr)
        early[i] += rng.choice([-1.0, 1.0]) * 0.8 * math.exp(-d_ms / 40.0)
    rev = early / max(rms(early), 1e-12) * 0.35 * rms(tail) + tail
    rev *= math.sqrt(1.0 / (np.sum(rev**2) * 10 ** (drr_db / 10)))
    rev[0] = 1.0
    return rev


def rt60_schroeder(h: Array, sr: int) -> float:
    """RT60 of the reverberant part (after 2.5 ms): Schroeder backward integral, T20 fit x3."""
    h = h[max(1, round(0.0025 * sr)) :]
    e = np.cumsum(h[::-1] ** 2)[::-1]
    edc = 10 * np.log10(np.maximum(e / e[0], 1e-30))
    i5 = int(np.argmax(edc <= -5))
    i25 = int(np.argmax(edc <= -25))
    if i25 <= i5:
        return float("nan")
    t = np.arange(i5, i25) / sr
    slope = np.polyfit(t, edc[i5:i25], 1)[0]
    return float(-60.0 / slope)


def drr(h: Array, sr: int) -> float:
    """Direct-to-reverberant ratio (direct = the first 2.5 ms), dB."""
    k = max(1, round(0.0025 * sr))
    return 10 * math.log10(np.sum(h[:k] ** 2) / max(np.sum(h[k:] ** 2), 1e-30))


def reverberate(y: Array, sr: int, h: Array, *, tail_s: float) -> Array:
    """``y`` convolved with ``h``, keeping ``tail_s`` of the decay, at ``y``'s active level."""
    z = signal.fftconvolve(y, h)[: y.size + round(tail_s * sr)]
    return z * (active_rms(y, sr) / max(active_rms(z, sr), 1e-12))


# --------------------------------------------------------------------------- accompaniment


def _note(f: float, dur: float, sr: int, *, partials: int, decay: float, bright: float) -> Array:
    """A piano-like note: slightly inharmonic partials, each decaying faster than the last."""
    t = np.arange(round(dur * sr)) / sr
    out = np.zeros(t.size)
    for k in range(1, partials + 1):
        fk = k * f * math.sqrt(1 + 0.0004 * k * k)
        if fk > 0.45 * sr:
            break
        out += (1.0 / k**bright) * np.exp(-t * decay * (0.6 + 0.4 * k)) * np.sin(2 * np.pi * fk * t)
    att = min(t.size, round(0.004 * sr))
    out[:att] *= np.linspace(0, 1, att)
    return out


def accompaniment(n: int, sr: int, *, root_hz: float, style: str, seed: int) -> Array:
    """A backing part in the key of ``root_hz``: piano arpeggios, or piano + bass + drums.

    Chords I-V-vi-IV (major triads / minor vi), one chord per bar at 92-118 BPM. The
    ``"piano"`` style plays an eighth-note arpeggio in the octave below the voice's median
    pitch; ``"band"`` adds block chords, a root bass line (octave 2, on beats 1 and 3),
    a kick (150->45 Hz sweep), a snare (noise + 180 Hz) and hi-hats on eighths. Unit RMS.
    """
    rng = np.random.default_rng(seed)
    beat = 60.0 / float(rng.uniform(92, 118))
    root = root_hz
    while root > 262:
        root /= 2
    while root < 131:
        root *= 2
    chords = ([0, 4, 7], [7, 11, 14], [9, 12, 16], [5, 9, 12])
    out = np.zeros(n + 3 * sr)
    pos = 0.0
    bar = 0
    total = n / sr
    while pos < total:
        chord = chords[bar % 4]
        notes = [root * 2 ** (c / 12) for c in chord]
        for eighth in range(8):
            t0 = pos + eighth * beat / 2
            if t0 >= total:
                break
            i = round(t0 * sr)
            f = notes[[0, 1, 2, 1][eighth % 4]] * (2 if eighth >= 4 and style == "piano" else 1)
            v = _note(f, 1.2, sr, partials=10, decay=2.5, bright=1.1) * 0.6
            out[i : i + v.size] += v
            if style == "band":
                if eighth % 4 == 0:  # block chord on beats 1 and 3, bass too
                    for f2 in notes:
                        c = _note(f2, 1.5, sr, partials=8, decay=1.6, bright=1.3) * 0.35
                        out[i : i + c.size] += c
                    b = _note(notes[0] / 4, 1.0, sr, partials=3, decay=1.2, bright=2.0) * 1.2
                    out[i : i + b.size] += b
                    kt = np.arange(round(0.25 * sr)) / sr
                    kf = 45 + 105 * np.exp(-kt / 0.03)
                    kick = np.sin(2 * np.pi * np.cumsum(kf) / sr) * np.exp(-kt / 0.08) * 1.5
                    out[i : i + kick.size] += kick
                if eighth % 4 == 2:  # snare on beats 2 and 4
                    st = np.arange(round(0.2 * sr)) / sr
                    nz = signal.sosfilt(
                        signal.butter(2, [1000, 5000], "band", fs=sr, output="sos"),
                        rng.standard_normal(st.size),
                    )
                    sn = (nz * 1.2 + 0.6 * np.sin(2 * np.pi * 180 * st)) * np.exp(-st / 0.06)
                    out[i : i + sn.size] += sn
                ht = np.arange(round(0.05 * sr)) / sr
                hh = signal.sosfilt(
                    signal.butter(2, min(7000, 0.4 * sr), "high", fs=sr, output="sos"),
                    rng.standard_normal(ht.size),
                ) * np.exp(-ht / 0.012)
                out[i : i + hh.size] += 0.25 * hh
        pos += 4 * beat
        bar += 1
    out = out[:n]
    return out / rms(out)


# --------------------------------------------------------------------------- F0 edits (WORLD)


def world_analyse(y: Array, sr: int) -> dict[str, Array]:
    """WORLD analysis (harvest, CheapTrick, D4C) with the F0 track cleaned of octave errors.

    Octave errors of harvest itself would otherwise become real octave jumps in every
    resynthesised negative: voiced frames more than 0.6 octave from a 0.3 s running
    median of the voiced F0 are moved by whole octaves onto it.
    """
    from svcprep._compat import import_pyworld

    pw = import_pyworld()
    x = np.ascontiguousarray(y, dtype=np.float64)
    f0, t = pw.harvest(x, sr, f0_floor=60.0, f0_ceil=1000.0, frame_period=5.0)
    v = f0 > 0
    if v.sum() > 10:
        lf = np.log2(np.where(v, f0, 1.0))
        idx = np.flatnonzero(v)
        med = ndimage.median_filter(lf[idx], size=61, mode="nearest")
        off = np.round(lf[idx] - med)
        lf[idx] -= np.where(np.abs(lf[idx] - med) > 0.6, off, 0.0)
        f0 = np.where(v, 2**lf, 0.0)
    sp = pw.cheaptrick(x, f0, t, sr)
    ap = pw.d4c(x, f0, t, sr)
    return {"f0": f0, "t": t, "sp": sp, "ap": ap}


def world_synth(an: dict[str, Array], sr: int, semitones: Array, n: int) -> Array:
    """Resynthesis with the F0 moved by ``semitones`` (one value per 5 ms frame)."""
    from svcprep._compat import import_pyworld

    pw = import_pyworld()
    f0 = an["f0"] * 2 ** (np.asarray(semitones, dtype=np.float64) / 12)
    y = pw.synthesize(np.ascontiguousarray(f0), an["sp"], an["ap"], sr, frame_period=5.0)
    y = np.asarray(y, dtype=np.float64)[:n]
    return np.pad(y, (0, n - y.size)) if y.size < n else y


def smooth_steps(steps: Array, frames: int) -> Array:
    """A step contour (semitones per 5 ms frame) with the steps smoothed over ``frames``."""
    if frames <= 1:
        return steps
    return ndimage.uniform_filter1d(steps, size=frames, mode="nearest")


def voiced_span(f0: Array) -> tuple[int, int]:
    v = np.flatnonzero(f0 > 0)
    return (int(v[0]), int(v[-1]) + 1) if v.size else (0, f0.size)


# --------------------------------------------------------------------------- dropouts, codecs


def dropout_positions(y: Array, sr: int, *, n_gaps: int, gap_s: float, seed: int) -> list[int]:
    """Starts of ``n_gaps`` non-overlapping gaps that begin and end inside loud audio."""
    rng = np.random.default_rng(seed)
    fr = frame_rms(y, sr)
    per = round(FRAME_S * sr)
    g = max(1, round(gap_s / FRAME_S))
    loud = fr >= np.quantile(fr, 0.5)
    ok = [i for i in range(1, fr.size - g - 1) if loud[i - 1 : i + g + 1].all()]
    if len(ok) < n_gaps:  # short loud stretches: relax to "starts loud"
        ok = [i for i in range(1, fr.size - g - 1) if loud[i]]
    chosen: list[int] = []
    for i in rng.permutation(ok):
        if all(abs(int(i) - c) > g + 10 for c in chosen):
            chosen.append(int(i))
        if len(chosen) == n_gaps:
            break
    return sorted(c * per for c in chosen)


def encode(y: npt.ArrayLike, sr: int, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format=fmt, **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def decode(data: bytes) -> tuple[Array, int]:
    z, sr = sf.read(io.BytesIO(data), dtype="float64")
    return (z.mean(axis=1) if z.ndim > 1 else z), sr


def bandwidth_hz(y: Array, sr: int, drop_db: float = 60.0) -> float:
    """Where the long-term spectrum (Welch) falls ``drop_db`` below its peak for good."""
    f, p = signal.welch(y, sr, nperseg=4096)
    lv = 10 * np.log10(np.maximum(p, 1e-30))
    above = np.flatnonzero(lv >= lv.max() - drop_db)
    return float(f[above[-1]]) if above.size else 0.0


def f0_median(y: Array, sr: int) -> float:
    """Median voiced F0 (pyworld DIO + StoneMask), Hz; 0 when nothing is voiced."""
    from svcprep._compat import import_pyworld

    pw = import_pyworld()
    x = np.ascontiguousarray(y, dtype=np.float64)
    f0, t = pw.dio(x, sr, f0_floor=60.0, f0_ceil=1100.0, frame_period=10.0)
    f0 = pw.stonemask(x, f0, t, sr)
    v = f0[f0 > 0]
    return float(np.median(v)) if v.size else 0.0


def octave_shift_stats(base: Array, edited: Array, sr: int) -> dict[str, float]:
    """How much of ``edited`` sits an octave away from ``base`` (same timing), by DIO.

    ``shifted_share``: voiced-in-both 10 ms frames whose F0 ratio is more than 0.75
    octave from 1; ``switches_per_s``: changes between shifted and not shifted along
    those frames (unvoiced gaps skipped), per second of audio; ``median_shift_st``.
    """
    from svcprep._compat import import_pyworld

    pw = import_pyworld()

    def track(y: Array) -> Array:
        x = np.ascontiguousarray(y, dtype=np.float64)
        f0, t = pw.dio(x, sr, f0_floor=60.0, f0_ceil=1100.0, frame_period=10.0)
        return np.asarray(pw.stonemask(x, f0, t, sr))

    a, b = track(base), track(edited)
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    v = (a > 0) & (b > 0)
    if v.sum() < 5:
        return {"shifted_share": 0.0, "switches_per_s": 0.0, "median_shift_st": 0.0}
    r = np.log2(b[v] / a[v])
    shifted = np.abs(r) > 0.75
    return {
        "shifted_share": round(float(shifted.mean()), 3),
        "switches_per_s": round(
            float(np.count_nonzero(np.diff(shifted.astype(np.int8)))) / (base.size / sr), 2
        ),
        "median_shift_st": round(float(12 * np.median(r)), 2),
    }


def pitch_ratio_semitones(base: Array, edited: Array, sr: int) -> float:
    """Median frame-wise F0 ratio of two equally long signals, in semitones (DIO)."""
    from svcprep._compat import import_pyworld

    pw = import_pyworld()
    tr = []
    for y in (base, edited):
        x = np.ascontiguousarray(y, dtype=np.float64)
        f0, t = pw.dio(x, sr, f0_floor=60.0, f0_ceil=1100.0, frame_period=10.0)
        tr.append(np.asarray(pw.stonemask(x, f0, t, sr)))
    n = min(tr[0].size, tr[1].size)
    a, b = tr[0][:n], tr[1][:n]
    v = (a > 0) & (b > 0)
    return float(12 * np.median(np.log2(b[v] / a[v]))) if v.any() else float("nan")
