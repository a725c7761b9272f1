"""Synthesise the example raw folder shipped in ``examples/raw``: two singers, about 90 s in all.

Every file is a harmonic voice with note glides, vibrato, breath noise and pauses, made
by :mod:`svcprep.testing` from a fixed seed, written in a different format and rate each
to show the loader at work. Run from the repository root::

    python examples/make_examples.py          # writes examples/raw/
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from svcprep.dsp.resample import resample
from svcprep.testing import sing_phrase

# (speaker, file name, rate written, format subtype, phrases as MIDI notes, vibrato cents, seed)
SONGS = [
    (
        "alice",
        "scale_up.flac",
        44100,
        "PCM_16",
        [[69, 71, 73, 74], [76, 74, 73, 71], [69, 72, 76, 81]],
        45,
        1,
    ),
    ("alice", "lullaby.wav", 48000, "PCM_24", [[72, 71, 69, 67], [69, 71, 72, 74], [76, 72, 69, 67]], 35, 2),
    ("alice", "arpeggio.ogg", 32000, "VORBIS", [[65, 69, 72, 77], [77, 72, 69, 65]], 50, 3),
    ("bob", "low_line.wav", 44100, "PCM_16", [[45, 47, 48, 50], [52, 50, 48, 47], [45, 48, 52, 57]], 30, 4),
    ("bob", "chant.flac", 22050, "PCM_16", [[50, 50, 52, 53], [55, 53, 52, 50], [48, 50, 52, 50]], 25, 5),
    ("bob", "call.wav", 16000, "FLOAT", [[43, 47, 50, 55], [55, 50, 47, 43]], 40, 6),
]


def midi_to_hz(note: float) -> float:
    """Frequency of a MIDI note number."""
    return float(440.0 * 2 ** ((note - 69) / 12))


def make_song(
    phrases: list[list[int]], *, vibrato_cents: float, seed: int, sample_rate_hz: int = 44100
) -> np.ndarray:
    """Phrases of four notes each, separated by pauses with breath noise only."""
    rng = np.random.default_rng(seed)
    parts = [np.zeros(int(0.4 * sample_rate_hz), np.float32)]
    for i, notes in enumerate(phrases):
        v = sing_phrase(
            sample_rate_hz=sample_rate_hz,
            notes_hz=tuple(midi_to_hz(n) for n in notes),
            note_s=float(rng.uniform(0.9, 1.3)),
            pause_s=0.25,
            vibrato_cents=vibrato_cents,
            vibrato_hz=float(rng.uniform(5.0, 6.2)),
            breath=0.004,
            amplitude=float(rng.uniform(0.25, 0.45)),
            seed=seed * 100 + i,
        )
        parts.append(v.audio)
        parts.append(np.zeros(int(rng.uniform(0.7, 1.1) * sample_rate_hz), np.float32))
    y = np.concatenate(parts)
    y += (0.0015 * rng.standard_normal(y.size)).astype(np.float32)  # room noise floor
    return y.astype(np.float32)


def main() -> None:
    """Write every example file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "raw")
    args = ap.parse_args()
    for speaker, name, rate, subtype, phrases, vib, seed in SONGS:
        y = make_song(phrases, vibrato_cents=vib, seed=seed)
        if rate != 44100:
            y = resample(y, orig_sr_hz=44100, target_sr_hz=rate)
        path = args.out / speaker / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = {"flac": "FLAC", "wav": "WAV", "ogg": "OGG"}[name.rsplit(".", 1)[1]]
        sf.write(path, y, rate, format=fmt, subtype=subtype)
        print(f"{path}: {y.size / rate:.1f} s at {rate} Hz ({fmt}/{subtype})")


if __name__ == "__main__":
    main()
