"""Seeded synthetic signals with known answers, for svcprep's tests and for users' own.

Every generator is deterministic for a given ``seed`` and returns float32 mono audio.
The voice-like generators also return the true F0 track (Hz, 0 = unvoiced) so that
extractors can be checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "SyntheticVoice",
    "clipped",
    "f0_glide",
    "f0_vibrato",
    "harmonic_voice",
    "noise",
    "silence",
    "sing_phrase",
    "struck_notes",
    "tone",
]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SyntheticVoice:
    """A synthetic signal and its ground truth.

    Attributes
    ----------
    audio
        float32 mono samples.
    sample_rate_hz
        Rate of ``audio``.
    f0_hz
        True F0 at every sample (0 where unvoiced), float64, same length as ``audio``.
    """

    audio: FloatArray
    sample_rate_hz: int
    f0_hz: npt.NDArray[np.float64]

    def f0_at(self, times_s: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """True F0 at the given times (nearest sample; 0 outside the signal)."""
        t = np.asarray(times_s, dtype=np.float64)
        idx = np.round(t * self.sample_rate_hz).astype(np.int64)
        out = np.zeros(t.shape, dtype=np.float64)
        ok = (idx >= 0) & (idx < self.f0_hz.size)
        out[ok] = self.f0_hz[idx[ok]]
        return out


def tone(
    freq_hz: float, *, duration_s: float, sample_rate_hz: int, amplitude: float = 0.5, phase_rad: float = 0.0
) -> FloatArray:
    """A pure sine tone."""
    n = round(duration_s * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t + phase_rad)).astype(np.float32)


def silence(*, duration_s: float, sample_rate_hz: int) -> FloatArray:
    """Digital silence (all zeros)."""
    return np.zeros(round(duration_s * sample_rate_hz), dtype=np.float32)


def noise(*, duration_s: float, sample_rate_hz: int, amplitude: float = 0.1, seed: int = 0) -> FloatArray:
    """White Gaussian noise with standard deviation ``amplitude``."""
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(round(duration_s * sample_rate_hz))).astype(np.float32)


def f0_glide(
    *, start_hz: float, end_hz: float, duration_s: float, sample_rate_hz: int
) -> npt.NDArray[np.float64]:
    """A per-sample F0 track gliding exponentially (linear in cents) from start to end."""
    n = round(duration_s * sample_rate_hz)
    frac = np.arange(n) / max(n - 1, 1)
    return start_hz * (end_hz / start_hz) ** frac


def f0_vibrato(
    *,
    center_hz: float,
    depth_cents: float,
    rate_hz: float,
    duration_s: float,
    sample_rate_hz: int,
) -> npt.NDArray[np.float64]:
    """A per-sample F0 track with sinusoidal vibrato around ``center_hz``."""
    n = round(duration_s * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    return center_hz * 2.0 ** (depth_cents * np.sin(2 * np.pi * rate_hz * t) / 1200.0)


def harmonic_voice(
    f0_hz: npt.ArrayLike,
    *,
    sample_rate_hz: int,
    amplitude: float = 0.3,
    n_harmonics: int = 30,
    rolloff_db_per_octave: float = 9.0,
    formants_hz: tuple[float, ...] = (700.0, 1200.0, 2600.0),
    breath: float = 0.0,
    seed: int = 0,
) -> SyntheticVoice:
    """A voice-like harmonic signal following a per-sample F0 track.

    Harmonics above Nyquist are left out at every sample (no aliasing). Samples where
    ``f0_hz`` is 0 are silent apart from the breath noise, with a 10 ms fade at each
    voiced/unvoiced boundary.

    Parameters
    ----------
    f0_hz
        F0 of every sample in Hz; 0 = unvoiced.
    sample_rate_hz
        Output rate.
    amplitude
        Peak-ish level of the voiced part.
    n_harmonics
        Number of harmonics synthesised (those above Nyquist are dropped).
    rolloff_db_per_octave
        Spectral tilt of the source.
    formants_hz
        Centre frequencies of gentle resonances that shape the harmonics.
    breath
        Level of band-passed breath noise added everywhere (0 = none).
    seed
        Seed of the breath noise.
    """
    f0 = np.asarray(f0_hz, dtype=np.float64)
    voiced = f0 > 0
    phase = 2 * np.pi * np.cumsum(np.where(voiced, f0, 0.0)) / sample_rate_hz
    out = np.zeros(f0.size, dtype=np.float64)
    nyq = sample_rate_hz / 2
    for h in range(1, n_harmonics + 1):
        fh = h * f0
        gain = 10 ** (-rolloff_db_per_octave * np.log2(h) / 20)
        env = np.ones_like(fh)
        for fc in formants_hz:
            env += 2.0 * np.exp(-0.5 * ((fh - fc) / (0.15 * fc)) ** 2)
        keep = (fh < nyq * 0.95) & voiced
        out += np.where(keep, gain * env * np.sin(h * phase), 0.0)
    peak = np.max(np.abs(out)) if out.size else 0.0
    if peak > 0:
        out *= amplitude / peak
    fade = max(1, round(0.01 * sample_rate_hz))
    if out.size:
        gate = np.convolve(voiced.astype(np.float64), np.ones(fade) / fade, mode="same")
        out *= np.clip(gate, 0.0, 1.0)
    if breath > 0:
        rng = np.random.default_rng(seed)
        b = rng.standard_normal(f0.size)
        # crude high-shelf colouring: first difference emphasises highs like breath noise
        b = np.diff(b, prepend=0.0)
        out += breath * b / (np.std(b) + 1e-12)
    return SyntheticVoice(
        audio=out.astype(np.float32), sample_rate_hz=sample_rate_hz, f0_hz=np.where(voiced, f0, 0.0)
    )


def sing_phrase(
    *,
    sample_rate_hz: int = 44100,
    notes_hz: tuple[float, ...] = (220.0, 247.0, 262.0, 294.0),
    note_s: float = 0.8,
    pause_s: float = 0.4,
    vibrato_cents: float = 40.0,
    vibrato_hz: float = 5.5,
    glide_s: float = 0.08,
    breath: float = 0.01,
    amplitude: float = 0.3,
    seed: int = 0,
) -> SyntheticVoice:
    """A sung phrase: notes with glides between them, vibrato, pauses and breath noise.

    Each note glides from the previous pitch over ``glide_s`` seconds, then holds with
    vibrato; a pause of ``pause_s`` (unvoiced, breath only) follows every second note.
    """
    sr = sample_rate_hz
    parts: list[npt.NDArray[np.float64]] = []
    prev = notes_hz[0]
    for i, note in enumerate(notes_hz):
        n_glide = round(glide_s * sr)
        n_hold = round(note_s * sr) - n_glide
        glide = prev * (note / prev) ** (np.arange(n_glide) / max(n_glide, 1))
        t = np.arange(n_hold) / sr
        hold = note * 2.0 ** (vibrato_cents * np.sin(2 * np.pi * vibrato_hz * t) / 1200.0)
        parts.extend([glide, hold])
        prev = note
        if i % 2 == 1:
            parts.append(np.zeros(round(pause_s * sr)))
    f0 = np.concatenate(parts) if parts else np.zeros(0)
    return harmonic_voice(f0, sample_rate_hz=sr, amplitude=amplitude, breath=breath, seed=seed)


def clipped(y: npt.ArrayLike, *, gain_db: float, ceiling: float = 1.0) -> FloatArray:
    """Amplify by ``gain_db`` and hard-clip at ``+-ceiling`` (a flat-topped, clipped signal)."""
    a = np.asarray(y, dtype=np.float64) * 10 ** (gain_db / 20)
    return np.clip(a, -ceiling, ceiling).astype(np.float32)


def struck_notes(
    notes_hz: npt.ArrayLike,
    onsets_s: npt.ArrayLike,
    *,
    duration_s: float,
    sample_rate_hz: int,
    ring_s: float = 1.2,
    decay_per_s: float = 2.5,
    n_partials: int = 10,
    inharmonicity: float = 1e-4,
    attack_s: float = 0.004,
    amplitude: float = 0.3,
) -> FloatArray:
    """Struck notes, piano-like: each starts at once, holds its pitch and decays exponentially.

    Note ``i`` (``notes_hz[i]``) starts at ``onsets_s[i]`` and rings for ``ring_s``;
    partial ``k`` sits at ``k * f * sqrt(1 + B k^2)`` (string stiffness ``B =
    inharmonicity``), falls off as ``1 / k`` and decays as ``exp(-decay_per_s * k**0.5 * t)``
    after a linear ``attack_s`` ramp. Partials above 0.45 of the rate are left out. The
    sum is scaled to peak ``amplitude``.
    """
    sr = int(sample_rate_hz)
    notes = np.atleast_1d(np.asarray(notes_hz, dtype=np.float64))
    onsets = np.atleast_1d(np.asarray(onsets_s, dtype=np.float64))
    if notes.shape != onsets.shape:
        raise ValueError(f"notes_hz ({notes.size}) and onsets_s ({onsets.size}) must have one entry per note")
    out = np.zeros(round(duration_s * sr), dtype=np.float64)
    t = np.arange(round(ring_s * sr)) / sr
    ramp = np.minimum(1.0, t / attack_s) if attack_s > 0 else np.ones_like(t)
    for f, t0 in zip(notes, onsets, strict=True):
        note = np.zeros_like(t)
        for k in range(1, n_partials + 1):
            fk = k * f * np.sqrt(1.0 + inharmonicity * k * k)
            if fk >= 0.45 * sr:
                break
            note += np.sin(2 * np.pi * fk * t) * np.exp(-decay_per_s * np.sqrt(k) * t) / k
        start = round(t0 * sr)
        if start >= out.size:
            continue
        seg = (note * ramp)[: out.size - start]
        out[start : start + seg.size] += seg
    peak = np.max(np.abs(out)) if out.size else 0.0
    if peak > 0:
        out *= amplitude / peak
    return out.astype(np.float32)
