"""Labelled benchmark of the quality flags and the duplicate index.

Two parts (``--part``):

* ``flags`` (the default): builds a labelled set from the real recordings in
  ``shared/data`` (resampled to the dataset rate, 44.1 kHz, as the pipeline would) and
  synthetic voices (:mod:`svcprep.testing`), injects every kind of defect at several
  strengths, runs metrics -> flags item by item, and prints precision and recall per
  flag. It also measures the duplicate index at scale (10,000 synthetic items).
* ``build``: writes a labelled raw folder of real takes with injected defects and hard
  negatives, runs **one real default build** of it (``svcprep.build(raw, out, jobs=2)``,
  harvest F0) and scores every record of the manifest: precision and recall of every
  flag of the build's vocabulary and of the flags of issue 13 the build may not have
  yet (``hum``, ``reverberant``, ``accompaniment``, ``dropout``, ``dead_channel``,
  ``lossy_codec``, ``speaker_outlier``: they read recall 0 until they exist).

Run from the repository root::

    python bench/bench_quality.py                      # the flags part (a few minutes on 2 cores)
    python bench/bench_quality.py --scale 0            # ... without the 10,000-item timing
    python bench/bench_quality.py --part build         # the build part (~5 min idle, ~15 loaded)
    python bench/bench_quality.py --part build --cases hum,clean   # some classes only
    python bench/bench_quality.py --part build --keep  # keep the build output, then:
    python bench/bench_quality.py --part build --from-manifest OUT # score it again, no build
    python bench/bench_quality.py --part all --json out.json       # both, JSON to a file

Labels of the flags part
------------------------
Clean real recordings are negatives for every flag except what they really are:
shorter than 2 s (``too_short``), longer than 20 s (``too_long``), recorded at 16 or
22.05 kHz and so upsampled to 44.1 kHz (``low_bandwidth``), and the two vocadito clips
14 and 10 whose spectrum is 90 dB down above 10 kHz (``low_bandwidth``, a consumer-device
band limit, read off the long-term spectrum). A defect variant is positive for the
injected flag; flags that the injection can legitimately change too (added noise is
full-band, so ``low_bandwidth`` is no longer meaningful) are left unscored for it, as
are grey-zone strengths (added noise at 15-25 dB SNR for ``noisy``).

The build part
--------------
**Raw folder.** ``bench/_build_cases.py`` writes it (seed 20261202, deterministic) to
``$TMPDIR/svcprep-bench/quality-v2/raw`` (``--work`` to move it) and reuses it while the
generator version is unchanged (``--regenerate`` forces a new one). The labels live
outside it, in ``labels.json`` next to it: case id (the file's path relative to the raw
folder) -> ``class``, ``severity``, ``positive_flags``, ``negative_for`` (``"all"``),
``grey_flags`` (unscored), ``lineage``, ``notes``, ``measured`` (what the generator
measured of the defect it made) and, for copies, ``duplicate_of``/``duplicate_kind``/
``transform``. The signal code is in ``bench/_defects.py``.

Every real recording of ``shared/data`` is cut into 4 s windows of its most active audio
(the whole file when it is shorter than 5 s; at most 4-5 windows of each NIT file and 5
of vocadito 1, 3 of the others). Each window is a **clean take** at its native rate and
format, sample-exact (16-48 kHz, WAV or FLAC), in one folder per person
(``nit_f001``: both NIT files, one singer; ``vocadito_s1``; ``libri_3436``; ...). The
defect copies are made from those windows at 44.1 kHz (unless said otherwise) and put in
the folder of the person they came from, the way a user's folder would hold its bad
takes. 208 files, 878 s of audio (108 s of it the 12 s files of the mostly-silent
class), 19 speaker folders.

=================  =====  ==============================================================
class              cases  what (severities)
=================  =====  ==============================================================
clean                 39  every window, and the short files whole (Dagstuhl 1 s clips,
                          soprano E4, WORLD vowels: ``too_short``). Natural 16/22.05 kHz
                          sources and vocadito 10/14 are ``low_bandwidth`` positives
loud                   6  hard negatives for clipping: peak-normalised to -0.1 dBFS (3);
                          +9 dB into a 5 ms look-ahead limiter, ceiling -0.3 dBFS, whose
                          smooth gain leaves no flat top (3; checked: ``clip_runs`` 0)
breathy                3  hard negatives: softened (low-passed) voice at -30 dBFS with
                          aspiration noise (1.2-7 kHz, following the voice) 22/25/28 dB
                          under it
vibrato / melisma      6  hard negatives for ``unstable_f0`` (WORLD resynthesis, envelope
                          kept): vibrato +-1 semitone at 5/5.5/6 Hz; a run of 90/110/130 ms
                          notes (0,2,4,5,7,5,4,2 semitones)
leap                   3  hard negatives: one octave leap half way through that stays
resynth                2  WORLD analysis/resynthesis with F0 unchanged (vocoder control)
clipping              12  clipped at 3/6/12 dB overdrive, then (3 each) turned down 6 dB /
                          a 3:1 compressor (tilts the crests) / clipped at 48 kHz and
                          resampled to 44.1 kHz / MP3 (VBR, ~75-110 kbps)
hum                   12  50 or 60 Hz mains hum, harmonics 1,2,3,5,7, drifting, at 0/10
                          dB under the voice (positive) and 20 dB (grey)
polarity               9  stereo, R = -L: exact, R = -0.97 L, R = -L one sample late
                          -> ``channel_cancellation`` on any record of the source
mostly_silent          9  0.6/1.2/2 s of voice in 12 s of digital zero or pink room tone
                          at -75/-65 dBFS -> ``silence``
noise_only             9  no voice, 4 s: pink, brown, or a recording's own quietest
                          frames overlap-added (room tone), at -45/-50/-55 dBFS RMS
octave                12  F0 an octave off (WORLD) in alternate segments of 120-250 ms
                          (6) or in 2-5 spliced segments of 0.3-0.8 s (6) -> unstable_f0
codec                 11  MP3 CBR 56/80/96 kbps and VBR ~50-70 kbps, Vorbis at
                          libsndfile compression 0.9/1.0 (~50-75 kbps) -> lossy_codec;
                          one high-quality VBR MP3 (grey). All complete, valid files
accompaniment         12  piano arpeggios, or piano + bass + drums, in the take's key
                          (from its median F0), at 6/12 dB under the voice (positive),
                          20 dB (grey)
reverb                12  synthetic rooms (direct + 8 early reflections + exponential
                          noise tail) RT60 0.6/1.2/2.5 s x DRR +6/0/-6 dB; RT60 0.6 s at
                          +6 dB is grey
dropout                9  1-4 digital-zero gaps of 20-200 ms inside loud audio
dead_channel           9  stereo (PCM_24), right or left channel all zero, or at
                          -90 dBFS noise
noisy                 12  white, pink or brown noise at 0/5/10 dB under the voice's active
                          RMS (positive), 20 dB (grey)
speaker_outlier        9  another person's take copied (byte-identical) into a folder of
                          one singer/speaker: male speech and a male singer among NIT's
                          female singer (4), a female singer / female speech among
                          vocadito S1's male singer (3), a female reader and a singer
                          among LibriSpeech 3436 (2)
duplicate             12  librosa copies of a take in its own folder: pitch -2, -1.5,
                          -1, +0.5, +1, +2 semitones; time stretch 0.9, 0.95, 0.97, 1.03,
                          1.05, 1.1 -> ``near_duplicate`` for the pair
=================  =====  ==============================================================

**Scoring.** A case is *flagged X* when any record whose ``source`` is its file carries
X (the source record, a dropped piece or any item). For each flag, a case is positive
when X is in its ``positive_flags``, unscored when X is in its ``grey_flags``, negative
otherwise (``negative_for`` is ``"all"`` everywhere). Grey flags are the legitimate side
effects of an injection (e.g. ``silence`` on an exactly cancelling pair, whose downmix
is silent; ``noisy`` on hum; ``loudness_outlier`` on level changes; ``low_bandwidth``
where the injection changes the top of the band; ``lossy_codec`` on LibriSpeech, which
was Ogg Vorbis before it was FLAC; ``unstable_f0`` on a cancelled downmix) and the
grey-zone severities. Clean takes and hard negatives are negatives for everything but
what they naturally are.

``exact_duplicate`` and ``near_duplicate`` are scored by pairs: a detected pair is the
flagged record's source and the source of the item it names in ``duplicate_of``. The
required pairs are each transformed copy with its original (near) and each outlier copy
with its donor's take (exact); a copy counts as found when a link joins it to its original
or to another case of the same lineage (the index names one partner per item, and a
shifted copy may be matched to, say, the hum copy of its take; both are the same
recording). A detected pair is a false positive when its two cases
come from different stretches of audio (``lineage``) or are two segments of one case;
pairs within one lineage that are not required (a clipped copy of a take and the take)
are really duplicates and are not counted. ``near_duplicate transform named`` checks
whether the details of each detected transform pair name the kind (pitch/semitone,
stretch/tempo/rate) and the amount (within 0.25 semitone, or 1.5 % of the rate); the
details are in the JSON to read.

Special rows: ``noise_only_not_trained`` (no record of a noise-only case trains and one
carries ``silence`` or ``noisy``), ``mostly_silent_no_unflagged_training_item``,
``mp3_not_falsely_truncated`` / ``mp3_false_truncated`` (every MP3 case: no
``truncated``, no error). Timing: the build's wall time and ``stage_seconds``; the
quality share is (``quality`` + ``dataset checks``) / the summed stage time. The
generator's own checks are printed first (hum and backing levels, flat tops before
the post-processing, no flat tops on the loud negatives, measured RT60, the octave-off
share of the F0 edits and the measured shift of the pitch-shifted copies, by DIO).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from joblib import Parallel, delayed
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from svcprep import testing
from svcprep.dsp.f0 import extract_f0
from svcprep.dsp.frames import num_frames
from svcprep.quality.duplicates import DuplicateIndex, Fingerprint, fingerprint, spectral_duplicates
from svcprep.quality.flags import QualityConfig, flag_item, loudness_outliers
from svcprep.quality.metrics import feature_metrics, item_metrics

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SR = 44100
HOP = 512
EXCERPT_S = 8.0
NATURALLY_BAND_LIMITED = {"vocadito_14.wav", "vocadito_10_excerpt_0.350-5.050s.wav"}

AUDIO_FLAGS = ("silence", "clipping", "noisy", "low_bandwidth", "too_short", "too_long", "dc_offset")
ALL_FLAGS = (
    *AUDIO_FLAGS,
    "unstable_f0",
    "loudness_outlier",
    "nan_features",
    "frame_mismatch",
    "exact_duplicate",
    "near_duplicate",
)


@dataclass
class Case:
    """One labelled item."""

    id: str
    audio: np.ndarray
    labels: set[str]
    scored: set[str]
    f0: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
    predicted: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------- inputs


def load_real() -> list[tuple[str, str, np.ndarray, int]]:
    """(name, speaker, audio at 44.1 kHz, source rate) of every real recording."""
    if not DATA.exists():
        sys.exit(f"shared data not found at {DATA}")
    out = []
    for p in sorted(q for q in DATA.glob("*/*/*") if q.suffix in (".wav", ".flac")):
        y, sr = sf.read(p, dtype="float32")
        if y.ndim > 1:
            y = y.mean(axis=1)
        z = y if sr == SR else soxr.resample(y, sr, SR, quality="VHQ").astype(np.float32)
        # one speaker per file (README: every file is another person), except the two
        # NIT SONG070 files: one singer, two sessions 11 LU apart
        speaker = "nit_f001" if "nitech" in p.name else p.stem
        out.append((p.name, speaker, z, sr))
    return out


def excerpt(y: np.ndarray, seconds: float = EXCERPT_S) -> np.ndarray:
    """``seconds`` of audio starting just before the first loud sample."""
    thr = 0.1 * float(np.max(np.abs(y)))
    start = max(0, int(np.argmax(np.abs(y) > thr)) - SR // 10)
    return y[start : start + round(seconds * SR)].copy()


def synthetic_bases() -> list[tuple[str, np.ndarray]]:
    """Sung phrases of different songs (notes, timing, vibrato), full band (breath noise)."""
    out = []
    for k in range(4):
        rng = np.random.default_rng(k)
        notes = tuple(float(x) for x in 110.0 * 2 ** (rng.integers(0, 24, 8) / 12))
        v = testing.sing_phrase(
            sample_rate_hz=SR,
            notes_hz=notes,
            note_s=float(rng.uniform(0.7, 1.0)),
            vibrato_hz=float(rng.uniform(4.5, 6.5)),
            breath=0.01,
            amplitude=0.3,
            seed=k,
        )
        out.append((f"synth{k}", v.audio))
    return out


def add_noise(y: np.ndarray, snr_db: float, *, pink: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(y.size)
    if pink:
        spec = np.fft.rfft(w) / np.sqrt(np.maximum(np.fft.rfftfreq(y.size, 1 / SR), 20.0))
        w = np.fft.irfft(spec, n=y.size)
    w *= math.sqrt(np.mean(y.astype(np.float64) ** 2) / np.mean(w**2) / 10 ** (snr_db / 10))
    return (y + w).astype(np.float32)


def reencode(y: np.ndarray, fmt: str, subtype: str, **kw: float) -> np.ndarray:
    buf = io.BytesIO()
    sf.write(buf, y, SR, format=fmt, subtype=subtype, **kw)
    buf.seek(0)
    z, _ = sf.read(buf, dtype="float32")
    return z.astype(np.float32)


def clip_variant(y: np.ndarray, gain_db: float, turn_down: float) -> np.ndarray:
    a = y / float(np.max(np.abs(y))) * 10 ** (gain_db / 20)
    return (np.clip(a, -1.0, 1.0) * turn_down).astype(np.float32)


# --------------------------------------------------------------------------- labelled set


def base_labels(name: str, src_sr: int, duration_s: float, cfg: QualityConfig) -> set[str]:
    labels = set()
    if src_sr <= 22050 or name in NATURALLY_BAND_LIMITED:
        labels.add("low_bandwidth")
    if duration_s < cfg.min_duration_s:
        labels.add("too_short")
    if duration_s > cfg.max_duration_s:
        labels.add("too_long")
    return labels


def defect_variants(bid: str, y: np.ndarray, inherited: set[str], seed: int) -> list[Case]:
    """Every injected defect of one base excerpt."""
    cases: list[Case] = []
    scored_all = set(AUDIO_FLAGS)

    def add(suffix: str, audio: np.ndarray, flag: str | None, *, unscored: tuple[str, ...] = ()) -> None:
        labels = set(inherited) - set(unscored)
        if flag:
            labels.add(flag)
        cases.append(Case(f"{bid}:{suffix}", audio, labels, scored_all - set(unscored)))

    for gain in (3.0, 6.0, 12.0):
        for down in (1.0, 0.5):
            # clipping an asymmetric waveform really moves its mean: dc_offset is not scored here
            clip = clip_variant(y, gain, down)
            add(f"clip+{gain:g}dB*{down:g}", clip, "clipping", unscored=("low_bandwidth", "dc_offset"))
    for snr in (0.0, 5.0, 10.0):
        for pink in (False, True):
            kind = "pink" if pink else "white"
            noisy = add_noise(y, snr, pink=pink, seed=seed)
            add(f"{kind}{snr:g}dB", noisy, "noisy", unscored=("low_bandwidth",))
    for snr in (20.0,):
        add(
            f"white{snr:g}dB",
            add_noise(y, snr, pink=False, seed=seed),
            None,
            unscored=("low_bandwidth", "noisy"),
        )
    add("white30dB", add_noise(y, 30.0, pink=False, seed=seed), None, unscored=("low_bandwidth",))
    for src in (8000, 11025, 16000):
        up = soxr.resample(soxr.resample(y, SR, src), src, SR).astype(np.float32)
        add(f"via{src}", up, "low_bandwidth")
    for cut in (5000.0, 8000.0):
        sos = signal.butter(10, cut, fs=SR, output="sos")
        add(f"lowpass{cut:g}", signal.sosfiltfilt(sos, y).astype(np.float32), "low_bandwidth")
    z = np.zeros(round(4.0 * SR), np.float32)
    add("lead4s", np.concatenate([z, y]), "silence")
    add("trail4s", np.concatenate([y, z]), "silence")
    add("pad1s", np.concatenate([z[:SR], y, z[: SR // 2]]), None)
    for dc in (0.02, -0.05, 0.1):
        add(f"dc{dc:+g}", (y + dc).astype(np.float32), "dc_offset")
    add("dc+0.002", (y + 0.002).astype(np.float32), None)
    return cases


def _f0_tracks(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = num_frames(y.size, hop_length=HOP)
    h = extract_f0(y, sample_rate_hz=SR, hop_length=HOP, n_frames=n, method="harvest")
    d = extract_f0(y, sample_rate_hz=SR, hop_length=HOP, n_frames=n, method="dio")
    return (
        h.f0_hz.astype(np.float64),
        h.voiced.astype(bool),
        np.where(d.voiced, d.f0_hz, 0.0).astype(np.float64),
    )


def f0_cases(bases: list[tuple[str, np.ndarray]], seed: int = 7) -> list[Case]:
    """Clean harvest F0 (negatives) and tracks with injected octave errors (positives)."""
    tracks = Parallel(n_jobs=2)(delayed(_f0_tracks)(y) for _, y in bases)
    rng = np.random.default_rng(seed)
    cases = []
    for (bid, y), (f0, voiced, second) in zip(bases, tracks, strict=True):
        cases.append(Case(f"{bid}:f0clean", y, set(), {"unstable_f0"}, (f0, voiced, second)))
        vidx = np.flatnonzero(voiced)
        voiced_s = vidx.size * HOP / SR
        if vidx.size < 50:
            continue
        for rate in (1.0, 2.0, 4.0):  # octave-error segments per voiced second
            bad = f0.copy()
            for start in rng.choice(vidx, size=max(1, round(rate * voiced_s)), replace=False):
                bad[start : start + int(rng.integers(3, 15))] *= float(rng.choice([0.5, 2.0]))
            cases.append(
                Case(f"{bid}:octave{rate:g}/s", y, {"unstable_f0"}, {"unstable_f0"}, (bad, voiced, None))
            )
        # a second extractor that disagrees (octave errors on 30 % of its voiced frames) with a clean
        # primary track: the recording is fine, so it must not be flagged (the disagreement is
        # measured, f0_disagreement_ratio, but flags nothing: on the build part it reads higher on
        # hum, backing music and rooms than on real octave splices)
        second_bad = second.copy()
        flip = rng.random(second.size) < 0.3
        second_bad[flip] *= 2.0
        cases.append(Case(f"{bid}:second_f0_off", y, set(), {"unstable_f0"}, (f0, voiced, second_bad)))
    return cases


def feature_cases(n: int = 20) -> list[tuple[str, dict[str, float], set[str]]]:
    """Feature-integrity cases: clean frame arrays, NaN injected, a frame missing."""
    out = []
    rng = np.random.default_rng(3)
    for i in range(n):
        n_samples = int(rng.integers(2 * SR, 15 * SR))
        frames = num_frames(n_samples, hop_length=HOP)
        feats = {"f0": np.full(frames, 200.0), "mel": np.zeros((frames, 128)), "volume": np.zeros(frames)}
        out.append((f"feat{i}:clean", feature_metrics(n_samples, feats, hop_length=HOP), set()))
        nan = dict(feats, mel=feats["mel"].copy())
        nan["mel"][int(rng.integers(frames)), int(rng.integers(128))] = np.nan
        out.append((f"feat{i}:nan", feature_metrics(n_samples, nan, hop_length=HOP), {"nan_features"}))
        short = dict(feats, volume=feats["volume"][: frames - 1])
        out.append((f"feat{i}:short", feature_metrics(n_samples, short, hop_length=HOP), {"frame_mismatch"}))
    return out


# --------------------------------------------------------------------------- scoring


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 4), "recall": round(r, 4)}


def score_cases(cases: list[Case], cfg: QualityConfig) -> tuple[dict[str, dict], list[str]]:
    def one(c: Case) -> set[str]:
        kw = {}
        if c.f0 is not None:
            f0, voiced, second = c.f0
            kw = {"f0_hz": f0, "voiced": voiced, "second_f0_hz": second}
        m = item_metrics(c.audio, sample_rate_hz=SR, hop_length=HOP, **kw)
        return {f.name for f in flag_item(m, cfg)}

    preds = Parallel(n_jobs=2, batch_size=8)(delayed(one)(c) for c in cases)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    errors = []
    for c, pred in zip(cases, preds, strict=True):
        c.predicted = pred
        for flag in c.scored:
            truth, got = flag in c.labels, flag in pred
            counts[flag][0] += truth and got
            counts[flag][1] += got and not truth
            counts[flag][2] += truth and not got
            if truth != got:
                errors.append(f"{'FP' if got else 'FN'} {flag:14s} {c.id}")
    return {k: prf(*v) for k, v in counts.items()}, errors


def loudness_cases(
    real: list[tuple[str, str, np.ndarray, int]], cfg: QualityConfig
) -> tuple[dict, list[str]]:
    """Loudness outliers in speaker groups.

    Real: 2 s segments of each recording (speakers with at least 8), two set 22 and 24 dB
    off the speaker's median (gross gain errors; real groups are small and, for NIT, two
    sessions wide). Synthetic: 4 speakers of 30 phrases with a 2.5 dB natural spread,
    two items 15 and 18 dB off.
    """
    values: dict[str, tuple[str, float]] = {}
    truth: dict[str, bool] = {}
    rng = np.random.default_rng(11)
    by_speaker: dict[str, list[np.ndarray]] = defaultdict(list)
    for _name, speaker, y, _ in real:
        seg = 2 * SR
        for s in range(0, y.size - seg, seg):
            part = y[s : s + seg]
            if np.sqrt(np.mean(part**2)) > 0.3 * np.sqrt(np.mean(y**2)):  # an active stretch
                by_speaker[speaker].append(part)
    for speaker, parts in by_speaker.items():
        if len(parts) < 8:
            continue
        levels = [item_metrics(p, sample_rate_hz=SR)["loudness_lufs"] for p in parts]
        median = float(np.median(levels))
        for i, (part, level) in enumerate(zip(parts, levels, strict=True)):
            # outliers are set to a known distance from the speaker's median level; the
            # others keep their natural level, some moved by +-3 dB
            target, outlier = None, False
            if i == 1:
                target, outlier = median + 22.0, True
            elif i == 2:
                target, outlier = median - 24.0, True
            gain_db = (target - level) if target is not None else 0.0
            if i in (3, 4):
                gain_db = float(rng.choice([-3.0, 3.0]))
            a = (part * 10 ** (gain_db / 20)).astype(np.float32)
            key = f"{speaker}:{i}:{gain_db:+.1f}dB"
            values[key] = (speaker, item_metrics(a, sample_rate_hz=SR)["loudness_lufs"])
            truth[key] = outlier
    # synthetic speakers with realistic group sizes: 30 phrases each, natural level
    # spread of 2.5 dB (SD), two items 15 and 18 dB off the speaker's level
    for spk in range(4):
        level_db = float(rng.uniform(-30, -15))
        for i in range(30):
            notes = tuple(float(x) for x in 110.0 * 2 ** (rng.integers(0, 24, 4) / 12))
            v = testing.sing_phrase(sample_rate_hz=22050, notes_hz=notes, note_s=0.5, seed=i).audio
            offset, outlier = float(rng.normal(0.0, 2.5)), False
            if i == 0:
                offset, outlier = 15.0, True
            elif i == 1:
                offset, outlier = -18.0, True
            a = v / np.sqrt(np.mean(v.astype(np.float64) ** 2)) * 10 ** ((level_db + offset) / 20)
            key = f"synth_speaker{spk}:{i}:{offset:+.1f}dB"
            values[key] = (
                f"synth_speaker{spk}",
                item_metrics(a.astype(np.float32), sample_rate_hz=22050)["loudness_lufs"],
            )
            truth[key] = outlier
    found = loudness_outliers(values, cfg)
    tp = sum(1 for k in truth if truth[k] and k in found)
    fp = sum(1 for k in found if not truth[k])
    fn = sum(1 for k in truth if truth[k] and k not in found)
    errors = [
        f"{'FP' if k in found else 'FN'} loudness_outlier {k}" for k in truth if truth[k] != (k in found)
    ]
    return prf(tp, fp, fn), errors


def duplicate_bench(
    real: list[tuple[str, str, np.ndarray, int]], synth: list[tuple[str, np.ndarray]], cfg: QualityConfig
) -> tuple[dict, list[str], dict]:
    """Exact and near duplicates: pair-level precision/recall over a mixed index."""
    items: list[tuple[str, np.ndarray, str]] = []  # id, audio, group
    for name, _, y, _ in real:
        items.append((name, y, name))  # every real file is its own group (B2 mics too: see below)
    dup_sources = [(n, excerpt(y)) for n, _, y, _ in real if y.size >= 6 * SR][:6]
    dup_sources += [(n, y) for n, y in synth[:3]]
    for gid, y in dup_sources:
        q = (np.round(y * 32768) / 32768).astype(np.float32)
        items.append((f"{gid}|q16", q, gid))
        items.append((f"{gid}|pcm24", reencode(q, "WAV", "PCM_24"), gid))
        items.append((f"{gid}|flac", reencode(q, "FLAC", "PCM_16"), gid))
        items.append((f"{gid}|ogg", reencode(y, "OGG", "VORBIS"), gid))
        items.append((f"{gid}|mp3", reencode(y, "MP3", "MPEG_LAYER_III", compression_level=0.5), gid))
        items.append((f"{gid}|gain-9dB", (y * 10 ** (-9 / 20)).astype(np.float32), gid))
        items.append((f"{gid}|via22k", soxr.resample(soxr.resample(y, SR, 22050), 22050, SR), gid))
        items.append((f"{gid}|trim1.5s", y[round(1.5 * SR) :], gid))
        items.append(
            (f"{gid}|offset0.7s", np.concatenate([np.zeros(round(0.7 * SR), np.float32), y[SR:]]), gid)
        )
        items.append((f"{gid}|noise30", add_noise(y, 30.0, pink=False, seed=1), gid))
        items.append((f"{gid}|noise20", add_noise(y, 20.0, pink=False, seed=2), gid))
    for name, y in synth:  # the synthetic bases as negatives (other songs, same synthetic voice)
        if name not in {g for g, _ in dup_sources}:
            items.append((name, y, name))
    t0 = time.perf_counter()
    fps: list[Fingerprint] = Parallel(n_jobs=2)(
        delayed(fingerprint)(y, sample_rate_hz=SR) for _, y, _ in items
    )
    fp_s = time.perf_counter() - t0
    audio_s = sum(y.size for _, y, _ in items) / SR
    index = DuplicateIndex(min_score=cfg.near_duplicate_min_score)
    for (iid, _, _), fp in zip(items, fps, strict=True):
        index.add_fingerprint(iid, fp)
    t0 = time.perf_counter()
    found = index.find_duplicates()
    match_s = time.perf_counter() - t0
    group = {iid: g for iid, _, g in items}
    exact_of = {iid: fp.exact for (iid, _, _), fp in zip(items, fps, strict=True)}
    truth_pairs = {frozenset(p) for p in combinations(group, 2) if group[p[0]] == group[p[1]]}
    # truth, independent of the hash: identical 16-bit samples
    q16 = {iid: np.clip(np.round(y * 32768), -32768, 32767).astype(np.int16) for iid, y, _ in items}
    truth_exact = {
        p for p in truth_pairs if len({q16[i].size for i in p}) == 1 and np.array_equal(*(q16[i] for i in p))
    }
    truth_near = truth_pairs - truth_exact
    # expand exact matches (reported against the first copy) to all pairs of a group
    exact_groups: dict[str, list[str]] = defaultdict(list)
    for iid, h in exact_of.items():
        exact_groups[h].append(iid)
    got_exact = {frozenset(p) for ids in exact_groups.values() for p in combinations(ids, 2)}
    got_near = {frozenset((m.item_id, m.other_id)) for m in found if m.kind == "near"}
    res = {
        "exact_duplicate": prf(
            len(got_exact & truth_exact), len(got_exact - truth_exact), len(truth_exact - got_exact)
        ),
        "near_duplicate": prf(
            len(got_near & truth_near), len(got_near - truth_near), len(truth_near - got_near)
        ),
    }
    errors = [f"FP near_duplicate {sorted(p)}" for p in got_near - truth_near]
    errors += [f"FN near_duplicate {sorted(p)}" for p in truth_near - got_near]
    # scores of the hard negatives and of the variants, for the README
    low = DuplicateIndex(min_score=0.0, min_votes=1)
    for (iid, _, _), fp in zip(items, fps, strict=True):
        low.add_fingerprint(iid, fp)
    scores = defaultdict(list)
    for m in low.find_duplicates():
        a, b = m.item_id, m.other_id
        if m.kind != "near":
            continue
        if group[a] == group[b]:
            scores["variant:" + (a.split("|")[1] if "|" in a else "whole-file")].append(m.score)
        elif "DCS_" in a and "DCS_" in b:
            kind = "same bass, other mic" if "B2" in a and "B2" in b else "choir bleed"
            scores[kind].append(m.score)
        else:
            scores["unrelated"].append(m.score)
    summary = {k: {"n": len(v), "min": round(min(v), 3), "max": round(max(v), 3)} for k, v in scores.items()}
    timing = {
        "items": len(items),
        "audio_s": round(audio_s, 1),
        "fingerprint_ms_per_audio_s_2_jobs": round(1000 * fp_s / audio_s, 2),
        "find_duplicates_s": round(match_s, 3),
    }
    return res, errors, {"score_ranges": summary, "timing": timing}


# --------------------------------------------------------------------------- scale


def _scale_item(seed: int, sr: int = 8000, dur_s: float = 3.0) -> np.ndarray:
    """A cheap synthetic 'song': random notes, timing, vibrato, formants and gaps."""
    rng = np.random.default_rng(seed)
    n = int(sr * dur_s)
    t = np.arange(n) / sr
    n_notes = int(rng.integers(3, 8))
    cuts = np.sort(rng.integers(0, n, n_notes - 1))
    notes = 98.0 * 2 ** (rng.uniform(0, 30, n_notes) / 12)
    f0 = np.repeat(notes, np.diff(np.concatenate(([0], cuts, [n]))))
    f0 = f0 * 2 ** (
        rng.uniform(20, 60) * np.sin(2 * np.pi * rng.uniform(4, 7) * t + rng.uniform(0, 6)) / 1200
    )
    phase = 2 * np.pi * np.cumsum(f0) / sr
    formants = rng.uniform(300, 3000, 3)
    h = np.arange(1, 13)[:, None]
    fh = h * f0[None, :]
    gain = (1 + sum(2 * np.exp(-0.5 * ((fh - fc) / (0.15 * fc)) ** 2) for fc in formants)) / h
    y = np.sum(np.where(fh < 0.45 * sr, gain * np.sin(h * phase[None, :]), 0.0), axis=0)
    gate = np.repeat(rng.random(n // 400 + 1) > 0.1, 400)[:n].astype(np.float64)
    y *= np.convolve(gate, np.ones(200) / 200, mode="same")
    y += 0.003 * rng.standard_normal(n)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def _scale_fp(seeds: list[int]) -> list[Fingerprint]:
    return [fingerprint(_scale_item(s), sample_rate_hz=8000) for s in seeds]


def scale_bench(n_items: int, n_dups: int = 100) -> dict:
    t0 = time.perf_counter()
    chunks = [list(range(i, min(i + 250, n_items))) for i in range(0, n_items, 250)]
    fps = [fp for part in Parallel(n_jobs=2)(delayed(_scale_fp)(c) for c in chunks) for fp in part]
    gen_fp_s = time.perf_counter() - t0
    index = DuplicateIndex()
    for i, fp in enumerate(fps):
        index.add_fingerprint(f"s{i}", fp)
    rng = np.random.default_rng(0)
    planted = {}
    all_fps = {f"s{i}": fp for i, fp in enumerate(fps)}
    for k, src in enumerate(rng.choice(n_items, size=n_dups, replace=False).tolist()):
        y = _scale_item(int(src))
        y = y[int(rng.integers(0, 4000)) :] * float(rng.uniform(0.3, 1.0))
        y = y + float(rng.uniform(0.003, 0.01)) * rng.standard_normal(y.size)
        all_fps[f"dup{k}"] = index.add(f"dup{k}", y.astype(np.float32), sample_rate_hz=8000)
        planted[f"dup{k}"] = f"s{src}"
    t0 = time.perf_counter()
    found = index.find_duplicates()
    match_s = time.perf_counter() - t0
    # transformed copies (not in the plain index): the spectral search over everything
    import librosa

    planted_tr = {}
    for k, src in enumerate(rng.choice(n_items, size=n_dups // 5, replace=False).tolist()):
        y = _scale_item(int(src)).astype(np.float64)
        if k % 2:
            y = librosa.effects.pitch_shift(y, sr=8000, n_steps=float(rng.choice([-2.0, -1.0, 1.0, 2.0])))
        else:
            y = librosa.effects.time_stretch(y, rate=float(rng.choice([0.9, 0.95, 1.05, 1.1])))
        all_fps[f"tr{k}"] = fingerprint(y, sample_rate_hz=8000)
        planted_tr[f"tr{k}"] = f"s{src}"
    known = {frozenset((m.item_id, m.other_id)) for m in found}
    t0 = time.perf_counter()
    transformed = spectral_duplicates(
        all_fps, min_score=QualityConfig().near_duplicate_spectral_min_score, skip=known
    )
    spectral_s = time.perf_counter() - t0
    tr_hits = sum(1 for m in transformed if planted_tr.get(m.item_id) == m.other_id)
    tr_others = [m for m in transformed if planted_tr.get(m.item_id) != m.other_id]
    hits = sum(1 for m in found if planted.get(m.item_id) == m.other_id)
    others = [m for m in found if planted.get(m.item_id) != m.other_id]
    false = len(others)
    t0 = time.perf_counter()
    q = _scale_item(12345678)
    index.query(q, sample_rate_hz=8000)
    query_s = time.perf_counter() - t0
    return {
        "items": len(index),
        "item_s": 3.0,
        "generate_and_fingerprint_s_2_jobs": round(gen_fp_s, 1),
        "find_duplicates_s": round(match_s, 2),
        "query_one_item_s": round(query_s, 3),
        "planted_near_duplicates": n_dups,
        "planted_found": hits,
        "other_matches": false,
        "other_match_examples": [[m.item_id, m.other_id, m.kind, m.score] for m in others[:10]],
        "spectral_search_s": round(spectral_s, 2),
        "planted_transformed": len(planted_tr),
        "transformed_found": tr_hits,
        "transformed_other_matches": len(tr_others),
        "transformed_other_examples": [[m.item_id, m.other_id, round(m.score, 3)] for m in tr_others[:10]],
    }


# --------------------------------------------------------------------------- main


def flags_part(args: argparse.Namespace) -> dict:
    """The item-level part: metrics -> flags on labelled audio, loudness, duplicates, scale."""
    from svcprep.config import BuildConfig

    cfg = BuildConfig().quality_thresholds()  # duration bounds follow the default slicer
    t_start = time.perf_counter()

    real = load_real()
    synth = synthetic_bases()
    cases: list[Case] = []
    bases: list[tuple[str, np.ndarray]] = []
    for name, _, y, src_sr in real:
        labels = base_labels(name, src_sr, y.size / SR, cfg)
        cases.append(Case(f"{name}:clean", y, labels, set(AUDIO_FLAGS)))
        if y.size >= 4 * SR:
            ex = excerpt(y)
            bases.append((name, ex))
            inherited = labels & {"low_bandwidth"}
            cases.append(Case(f"{name}:excerpt", ex, set(inherited), set(AUDIO_FLAGS)))
            cases.extend(defect_variants(name, ex, inherited, seed=len(cases)))
    for name, y in synth:
        cases.append(Case(f"{name}:clean", y, set(), set(AUDIO_FLAGS)))
        bases.append((name, y))
        cases.extend(defect_variants(name, y, set(), seed=len(cases)))
    cases.extend(f0_cases(bases))
    results, errors = score_cases(cases, cfg)

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for cid, m, labels in feature_cases():
        pred = {f.name for f in flag_item(m, cfg)}
        for flag in ("nan_features", "frame_mismatch"):
            truth, got = flag in labels, flag in pred
            counts[flag][0] += truth and got
            counts[flag][1] += got and not truth
            counts[flag][2] += truth and not got
            if truth != got:
                errors.append(f"{'FP' if got else 'FN'} {flag} {cid}")
    results.update({k: prf(*v) for k, v in counts.items()})
    results["loudness_outlier"], errs = loudness_cases(real, cfg)
    errors += errs
    dup_res, errs, dup_info = duplicate_bench(real, synth, cfg)
    results.update(dup_res)
    errors += errs
    scale = scale_bench(args.scale) if args.scale > 0 else None

    # fingerprint and metric cost on real audio at 44.1 kHz (one core)
    audio = np.concatenate([y for _, _, y, _ in real])
    t0 = time.perf_counter()
    fingerprint(audio, sample_rate_hz=SR)
    fp_ms = 1000 * (time.perf_counter() - t0) / (audio.size / SR)
    t0 = time.perf_counter()
    item_metrics(audio, sample_rate_hz=SR)
    metric_ms = 1000 * (time.perf_counter() - t0) / (audio.size / SR)

    print(
        f"\nquality flags: {len(cases)} audio cases ({len(real)} real recordings, "
        f"{len(synth)} synthetic voices)\n"
    )
    print(f"{'flag':18s} {'TP':>5s} {'FP':>5s} {'FN':>5s} {'precision':>10s} {'recall':>8s}")
    for flag in ALL_FLAGS:
        r = results.get(flag)
        if r is None:
            continue
        print(f"{flag:18s} {r['tp']:5d} {r['fp']:5d} {r['fn']:5d} {r['precision']:10.3f} {r['recall']:8.3f}")
    print(
        "\nnear-duplicate scores (min..max): "
        + ", ".join(
            f"{k} {v['min']:.2f}..{v['max']:.2f} (n={v['n']})"
            for k, v in sorted(dup_info["score_ranges"].items())
        )
    )
    print(
        f"cost on real audio at 44.1 kHz, one core: fingerprint {fp_ms:.2f} ms and metrics "
        f"{metric_ms:.2f} ms per second of audio"
    )
    if scale:
        print(
            f"scale: {scale['items']} items of {scale['item_s']:g} s: "
            f"find_duplicates {scale['find_duplicates_s']} s, "
            f"one query {scale['query_one_item_s']} s; planted {scale['planted_found']}/"
            f"{scale['planted_near_duplicates']} found, {scale['other_matches']} other matches; "
            f"through shifts and stretches {scale['spectral_search_s']} s, planted "
            f"{scale['transformed_found']}/{scale['planted_transformed']} found, "
            f"{scale['transformed_other_matches']} other matches"
        )
    if args.errors or len(errors) <= 40:
        print("\nmisclassified:" if errors else "\nno misclassified case")
        for e in errors:
            print("  " + e)
    else:
        print(f"\n{len(errors)} misclassified cases (use --errors to list them)")
    out = {
        "flags": results,
        "duplicates": dup_info,
        "scale": scale,
        "cost_ms_per_audio_s": {"fingerprint": round(fp_ms, 2), "metrics": round(metric_ms, 2)},
        "config": cfg.model_dump(),
        "runtime_s": round(time.perf_counter() - t_start, 1),
    }
    print("\n" + json.dumps(out, indent=2))
    return out


# --------------------------------------------------------------------------- build-level part

#: Flags scored pair by pair (a detected pair names both cases) instead of case by case.
PAIR_FLAGS = ("exact_duplicate", "near_duplicate")


def _vocabulary() -> list[str]:
    """Every flag the build knows, in its order, then the issue's new flags it may not know yet."""
    from _build_cases import NEW_FLAGS

    from svcprep.quality.flags import FLAG_DOCS

    names = list(FLAG_DOCS)
    return names + [f for f in NEW_FLAGS if f not in names]


def _truth(label: dict, flag: str) -> bool | None:
    """True (positive), False (negative) or None (not scored) for one case and flag."""
    if flag in label["positive_flags"]:
        return True
    if flag in label["grey_flags"]:
        return None
    neg = label["negative_for"]
    return False if neg == "all" or flag in neg else None


def _detail(rec: Any, flag: str) -> str:
    d = rec.flag_details.get(flag) or {}
    text = d.get("detail") or ""
    return f"{rec.id}: {text}" if text else rec.id


def _source_of(item_id: str, item_source: dict[str, str]) -> str:
    return item_source.get(item_id) or item_id.split("#", 1)[0]


def _link_ends(recs: list[Any], flag: str, item_source: dict[str, str]) -> set[str]:
    """Both sources of every duplicate link in ``recs``."""
    ends = {r.source for r in recs}
    for r in recs:
        other = (r.flag_details.get(flag) or {}).get("duplicate_of") or r.get("duplicate_of")
        ends.add(_source_of(str(other), item_source))
    return ends


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _names_transform(detail: Any, transform: dict[str, float]) -> dict[str, bool]:
    """Whether a near-duplicate's flag details name the transform (kind, and amount)."""
    d = {k: v for k, v in dict(detail).items() if k not in ("value", "threshold", "offset_s", "metric")}
    text = json.dumps(d).lower()
    numbers = [float(x) for x in _NUMBER.findall(text)]
    if "pitch_shift_semitones" in transform:
        s = transform["pitch_shift_semitones"]
        kind = any(w in text for w in ("pitch", "semitone"))
        amount = any(abs(abs(x) - abs(s)) <= 0.25 for x in numbers)
    else:
        r = transform["time_stretch_rate"]
        kind = any(w in text for w in ("stretch", "tempo", "speed", "time_scale", "rate"))
        targets = [r, 1 / r]
        pct = [100 * (r - 1), 100 * (1 / r - 1)]
        amount = any(abs(x - t) <= 0.015 for x in numbers for t in targets) or any(
            abs(abs(x) - abs(q)) <= 1.5 for x in numbers for q in pct
        )
    return {"kind": kind, "amount": amount}


def score_build(
    records: list[Any], cases: dict[str, dict], all_cases: dict[str, dict] | None = None
) -> dict[str, Any]:
    """Per flag TP/FP/FN over ``cases`` (or pairs touching them) in one build's manifest.

    ``all_cases`` (every label; default ``cases``) gives the lineage of a pair's other end
    when only some classes are scored.
    """
    by_src: dict[str, list[Any]] = defaultdict(list)
    for r in records:
        by_src[r.source].append(r)
    present = {c: lab for c, lab in cases.items() if c in by_src}
    missing = sorted(c for c in cases if c not in by_src)
    item_source = {r.id: r.source for r in records}
    flagged = {c: set().union(*(set(r.flags) for r in by_src[c])) for c in present}
    vocab = _vocabulary()
    flags: dict[str, dict] = {}
    for flag in vocab:
        if flag in PAIR_FLAGS:
            continue
        tp = fp = fn = 0
        fps: list[dict] = []
        fns: list[dict] = []
        for c, lab in present.items():
            truth = _truth(lab, flag)
            if truth is None:
                continue
            got = flag in flagged[c]
            if truth and got:
                tp += 1
            elif got:
                fp += 1
                details = [_detail(r, flag) for r in by_src[c] if flag in r.flags]
                fps.append(
                    {"case": c, "class": lab["class"], "severity": lab["severity"], "details": details}
                )
            elif truth:
                fn += 1
                fns.append(
                    {
                        "case": c,
                        "class": lab["class"],
                        "severity": lab["severity"],
                        "got": sorted(flagged[c]),
                        "records": [
                            f"{r.kind}:{r.status}" + (f":{r.split}" if r.get("split") else "")
                            for r in by_src[c]
                        ],
                    }
                )
        flags[flag] = {**prf(tp, fp, fn), "fp_cases": fps, "fn_cases": fns}
    lineage = {c: lab["lineage"] for c, lab in (all_cases or cases).items()}
    transform_rows = []
    for flag in PAIR_FLAGS:
        kind = "exact" if flag == "exact_duplicate" else "near"
        # a link: a record carrying the flag and the item its details name (a record's own
        # duplicate_of holds one partner only, so the flag's details come first)
        detected: dict[frozenset, list[Any]] = defaultdict(list)
        for r in records:
            if flag not in r.flags:
                continue
            other = (r.flag_details.get(flag) or {}).get("duplicate_of") or r.get("duplicate_of")
            if other is None:
                continue
            detected[frozenset((r.source, _source_of(str(other), item_source)))].append(r)
        # a required copy is found when a link joins it to its original or to another case
        # made from the same stretch of audio (the index names one partner per item)
        required = {
            c: lab["duplicate_of"]
            for c, lab in present.items()
            if lab.get("duplicate_kind") == kind and lab.get("duplicate_of") in by_src
        }
        found: dict[str, list[Any]] = {}
        for c in required:
            links = [
                r
                for pair, recs in detected.items()
                if c in pair and len(pair) == 2 and lineage.get(next(iter(pair - {c}))) == lineage[c]
                for r in recs
            ]
            if links:
                found[c] = links
        fp_pairs = []
        allowed = 0
        for pair, recs in detected.items():
            ends = sorted(pair)
            if not pair & present.keys():
                continue  # neither end is scored (--cases)
            if len(ends) == 1 or len({lineage.get(e, e) for e in ends}) > 1:
                fp_pairs.append({"pair": ends, "details": [_detail(r, flag) for r in recs]})
            elif not any(c in pair for c in found):
                allowed += 1
        fn = [c for c in required if c not in found]
        flags[flag] = {
            **prf(len(found), len(fp_pairs), len(fn)),
            "unit": "pairs",
            "fp_cases": fp_pairs,
            "fn_cases": [
                {
                    "case": c,
                    "duplicate_of": required[c],
                    "severity": cases[c]["severity"],
                    "got": sorted(flagged[c]),
                }
                for c in fn
            ],
            "same_lineage_links": allowed,
        }
        if kind == "near":
            for c in required:
                tr = cases[c]["transform"]
                det = [dict(r.flag_details.get(flag) or {}) for r in found.get(c, [])]
                named = [_names_transform(d, tr) for d in det]
                transform_rows.append(
                    {
                        "case": c,
                        "transform": tr,
                        "detected": c in found,
                        "linked_to": sorted(_link_ends(found.get(c, []), flag, item_source) - {c}),
                        "named_kind": any(n["kind"] for n in named),
                        "named_amount": any(n["amount"] for n in named),
                        "flag_details": det,
                    }
                )
    special: dict[str, dict] = {}

    def row(name: str, cls_ok: list[tuple[str, bool, str]]) -> None:
        ok = sum(1 for _, good, _ in cls_ok if good)
        special[name] = {
            "passed": ok,
            "cases": len(cls_ok),
            "rate": round(ok / len(cls_ok), 4) if cls_ok else None,
            "failures": [{"case": c, "what": why} for c, good, why in cls_ok if not good],
        }

    def trains_summary(c: str) -> str:
        return "; ".join(
            f"{r.id} {r.kind}:{r.status}:{r.get('split') or '-'} [{','.join(r.flags)}]" for r in by_src[c]
        )

    noise = [c for c, lab in present.items() if lab["class"] == "noise_only"]
    row(
        "noise_only_not_trained",
        [
            (
                c,
                not any(r.trains for r in by_src[c]) and bool({"silence", "noisy"} & flagged[c]),
                trains_summary(c),
            )
            for c in noise
        ],
    )
    quiet = [c for c, lab in present.items() if lab["class"] == "mostly_silent"]
    row(
        "mostly_silent_no_unflagged_training_item",
        [
            (c, not any(r.trains and "silence" not in r.flags for r in by_src[c]), trains_summary(c))
            for c in quiet
        ],
    )
    mp3 = [c for c in present if c.endswith(".mp3")]
    row(
        "mp3_not_falsely_truncated",
        [
            (
                c,
                "truncated" not in flagged[c] and not any(r.status == "error" for r in by_src[c]),
                trains_summary(c) + " " + " ".join(str(r.error) for r in by_src[c] if r.error),
            )
            for c in mp3
        ],
    )
    special["mp3_false_truncated"] = {
        "cases": len(mp3),
        "truncated": sum(1 for c in mp3 if "truncated" in flagged[c]),
    }
    det_rows = [t for t in transform_rows if t["detected"]]
    special["near_duplicate_transform_named"] = {
        "detected_pairs": len(det_rows),
        "named_kind": sum(1 for t in det_rows if t["named_kind"]),
        "named_amount": sum(1 for t in det_rows if t["named_amount"]),
        "pairs": transform_rows,
    }
    # what each class gets: how many of its cases carry each flag
    classes: dict[str, dict] = {}
    for c, lab in present.items():
        k = classes.setdefault(
            lab["class"], {"cases": 0, "flags": defaultdict(int), "trains": 0, "in_dataset": 0}
        )
        k["cases"] += 1
        k["trains"] += any(r.trains for r in by_src[c])
        k["in_dataset"] += any(r.in_dataset for r in by_src[c])
        for f in flagged[c]:
            k["flags"][f] += 1
    for k in classes.values():
        k["flags"] = dict(sorted(k["flags"].items(), key=lambda kv: -kv[1]))
    errors = [f"{r.id}: {r.error}" for r in records if r.status == "error"]
    per_case = {
        c: {
            "class": present[c]["class"],
            "severity": present[c]["severity"],
            "flags": sorted(flagged[c]),
            "records": [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "status": r.status,
                    "split": r.get("split"),
                    "error": r.error,
                    "flags": list(r.flags),
                    "flag_details": {k: dict(v) for k, v in r.flag_details.items()},
                    "metrics": dict(r.metrics),
                }
                for r in by_src[c]
            ],
        }
        for c in sorted(present)
    }
    return {
        "flags": flags,
        "special": special,
        "classes": classes,
        "errors": errors,
        "missing_cases": missing,
        "scored_cases": len(present),
        "cases": per_case,
    }


def _generator_checks(cases: dict[str, dict]) -> dict[str, dict]:
    """Does each case hold what its label says? Measured while generating (labels.json)."""
    checks: dict[str, list[tuple[str, bool, str]]] = defaultdict(list)
    for c, lab in cases.items():
        m, cls, sev = lab["measured"], lab["class"], lab["severity"]
        if cls == "hum":
            nominal = float(sev.split("-")[1].rstrip("dB"))
            checks["hum level under the voice (+-0.1 dB)"].append(
                (c, abs(m["hum_under_voice_db"] - nominal) <= 0.1, f"{m['hum_under_voice_db']} dB")
            )
        elif cls == "clipping":
            checks["clipped: flat tops before post-processing"].append(
                (
                    c,
                    m["flat_top_share_before_post"] > 0 and m["clip_runs_svcprep_before_post"] > 0,
                    str(m["flat_top_share_before_post"]),
                )
            )
        elif cls == "loud":
            checks["loud negatives: no flat tops (own count and svcprep's clip_runs)"].append(
                (c, m["flat_top_share"] == 0 and m["clip_runs_svcprep"] == 0, f"peak {m['peak_dbfs']} dBFS")
            )
        elif cls == "reverb":
            rt = float(sev.split("-")[0][2:].rstrip("s"))
            checks["reverb: measured RT60 within 20 % of nominal"].append(
                (c, abs(m["rt60_s_measured"] - rt) <= 0.2 * rt, f"{m['rt60_s_measured']} s for {rt:g} s")
            )
        elif cls == "accompaniment":
            nominal = float(sev.split("-")[1].rstrip("dB"))
            checks["backing level under the voice (+-0.1 dB)"].append(
                (c, abs(m["backing_under_voice_db"] - nominal) <= 0.1, f"{m['backing_under_voice_db']} dB")
            )
        elif cls == "octave":
            checks["octave edits: >= 20 % of voiced frames an octave off the base (DIO)"].append(
                (c, m["shifted_share"] >= 0.2, f"{m['shifted_share']}, {m['switches_per_s']} switches/s")
            )
        elif cls == "leap":
            checks["leap: 25-75 % of voiced frames an octave off"].append(
                (c, 0.25 <= m["shifted_share"] <= 0.75, str(m["shifted_share"]))
            )
        elif cls in ("vibrato", "melisma", "resynth"):
            checks["vibrato/melisma/resynth: < 3 % of frames an octave off"].append(
                (c, m["shifted_share"] < 0.03, str(m["shifted_share"]))
            )
        elif cls == "duplicate":
            tr = lab["transform"]
            if "pitch_shift_semitones" in tr:
                s = tr["pitch_shift_semitones"]
                checks["pitch-shifted copies: measured shift within 0.3 semitone"].append(
                    (
                        c,
                        abs(m["measured_shift_semitones"] - s) <= 0.3,
                        f"{m['measured_shift_semitones']} for {s:+g}",
                    )
                )
            else:
                r = tr["time_stretch_rate"]
                checks["stretched copies: duration ratio 1/rate (+-1 %)"].append(
                    (c, abs(m["duration_ratio"] * r - 1) <= 0.01, f"{m['duration_ratio']} for rate {r:g}")
                )
        elif cls == "codec":
            checks["codec: decodes to every input frame"].append(
                (c, m["frames"] == m["frames_in"], f"{m['kbps']} kbps, band {m['bandwidth_hz_60dB']} Hz")
            )
        elif cls == "polarity":
            checks["polarity: downmix >= 12 dB under the channels (load.cancellation_ratio 0.25)"].append(
                (c, m["downmix_under_channels_db"] >= 12, f"{m['downmix_under_channels_db']} dB")
            )
        elif cls == "breathy":
            checks["breathy: voice -30 dBFS, breath >= 20 dB under"].append(
                (
                    c,
                    abs(m["voice_active_rms_dbfs"] + 30) <= 0.5 and m["breath_under_voice_db"] >= 20,
                    f"{m['breath_under_voice_db']} dB",
                )
            )
        elif cls == "noise_only":
            checks["noise only: RMS -45..-55 dBFS"].append(
                (c, -55.5 <= m["rms_dbfs"] <= -44.5, f"{m['rms_dbfs']} dBFS")
            )
        elif cls == "dead_channel":
            checks["dead channel: <= -90 dBFS"].append(
                (c, m["dead_rms_dbfs"] <= -89.5, f"{m['dead_rms_dbfs']} dBFS")
            )
    out = {}
    for name, rows in checks.items():
        bad = [f"{c} ({why})" for c, good, why in rows if not good]
        vals = [why for _, _, why in rows]
        out[name] = {"passed": len(rows) - len(bad), "cases": len(rows), "failed": bad, "values": vals}
    return out


def _measured_ranges(cases: dict[str, dict]) -> dict[str, dict[str, str]]:
    """min..max of every numeric measured figure, per class."""
    vals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for lab in cases.values():
        for k, v in lab["measured"].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                vals[lab["class"]][k].append(float(v))
    return {
        cls: {k: f"{min(v):g}..{max(v):g}" for k, v in sorted(d.items())} for cls, d in sorted(vals.items())
    }


def _class_counts(cases: dict[str, dict], res: dict) -> dict[str, dict]:
    """Cases, positives for the class's flag, how many of those were caught, grey severities, audio."""
    from _build_cases import MAIN_FLAG

    out = {}
    for cls in sorted({lab["class"] for lab in cases.values()}):
        labs = {c: lab for c, lab in cases.items() if lab["class"] == cls}
        main = MAIN_FLAG.get(cls)
        if cls == "duplicate":
            pos = sum(1 for lab in labs.values() if lab.get("duplicate_kind") == "near")
            caught = res["flags"]["near_duplicate"]["tp"]
        elif main:
            pos_cases = [c for c, lab in labs.items() if main in lab["positive_flags"]]
            pos = len(pos_cases)
            caught = sum(1 for c in pos_cases if main in res["cases"].get(c, {}).get("flags", ()))
        else:
            pos, caught = 0, 0
        out[cls] = {
            "cases": len(labs),
            "flag": main,
            "positive": pos,
            "caught": caught,
            "grey_severity": sum(1 for lab in labs.values() if lab["grey_severity"]),
            "audio_s": round(sum(lab["duration_s"] for lab in labs.values()), 1),
        }
    return out


def build_part(args: argparse.Namespace) -> dict:
    """Generate (or reuse) the labelled raw folder, build it with the defaults, score the manifest."""
    import _build_cases as bc

    import svcprep

    t0 = time.perf_counter()
    raw, meta = bc.load_or_generate(args.work, regenerate=args.regenerate, jobs=args.jobs)
    gen_s = time.perf_counter() - t0
    cases: dict[str, dict] = meta["cases"]
    all_classes = sorted({lab["class"] for lab in cases.values()})
    if args.cases:
        wanted = {c.strip() for c in args.cases.split(",") if c.strip()}
        unknown = wanted - set(all_classes)
        if unknown:
            sys.exit(
                f"--cases: unknown class(es) {sorted(unknown)}; the classes are {', '.join(all_classes)}"
            )
        cases = bc.subset_cases(meta, wanted)
        if not args.from_manifest:
            raw = bc.subset(raw, cases, args.work / "raw-subset")
    audio_s = sum(lab["duration_s"] for lab in cases.values())
    timing: dict[str, Any] = {"generate_or_reuse_s": round(gen_s, 1), "audio_s": round(audio_s, 1)}
    work_out: Path | None = None
    if args.from_manifest:
        out = args.from_manifest
        saved = out / "bench-timings.json"
        if saved.exists():
            timing.update(json.loads(saved.read_text(encoding="utf-8")))
            timing["from_saved_build"] = True
    else:
        work_out = Path(tempfile.mkdtemp(prefix="out-", dir=args.work))
        out = work_out
        load_before = os.getloadavg()[0]
        report = svcprep.build(raw, out, svcprep.BuildConfig(), jobs=args.jobs)
        stages = {k: round(v, 2) for k, v in report.stage_seconds.items()}
        summed = sum(report.stage_seconds.values())
        quality = report.stage_seconds.get("quality", 0.0) + report.stage_seconds.get("dataset checks", 0.0)
        built = {
            "wall_s": round(report.wall_seconds, 1),
            "jobs": args.jobs,
            "source_audio_s": round(report.source_seconds, 1),
            "real_time_factor": round(report.source_seconds / report.wall_seconds, 2),
            "stage_s": stages,
            "stage_sum_s": round(summed, 1),
            "quality_s": round(quality, 2),
            "quality_share_of_stage_time": round(quality / summed, 4) if summed else None,
            "quality_share_of_wall_x_jobs": round(quality / (report.wall_seconds * args.jobs), 4),
            "load_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "raw": str(raw),
        }
        timing.update(built)
        (out / "bench-timings.json").write_text(json.dumps(built, indent=1) + "\n", encoding="utf-8")
    records = svcprep.open(out).manifest
    res = score_build(records, cases, meta["cases"])
    res["timing"] = timing
    res["generator"] = {
        "version": meta["generator_version"],
        "seed": meta["seed"],
        "raw": str(raw),
        "labels": str(args.work / "labels.json"),
        "checks": _generator_checks(cases),
        "measured_ranges": _measured_ranges(cases),
        "classes": _class_counts(cases, res),
    }
    res["out"] = str(out)
    _print_build(res, errors=args.errors)
    if work_out is not None:
        if args.keep:
            print(f"\nbuild output kept: {work_out} (score it again with --from-manifest {work_out})")
        else:
            shutil.rmtree(work_out, ignore_errors=True)
            res["out"] = None
    return res


def _print_build(res: dict, *, errors: bool) -> None:
    g = res["generator"]
    print(
        f"\nbuild-level quality benchmark: {res['scored_cases']} cases, "
        f"generator v{g['version']} (seed {g['seed']})"
    )
    print(f"raw {g['raw']}\nlabels {g['labels']}")
    if res["missing_cases"]:
        print(f"{len(res['missing_cases'])} labelled cases have no record in this manifest (not scored)")
    print()
    print(
        f"{'class':16s} {'cases':>5s} {'flag':>20s} {'pos':>4s} {'caught':>6s} {'grey':>4s} {'audio s':>7s}"
        "  flags seen (cases)"
    )
    for cls, k in g["classes"].items():
        seen = res["classes"].get(cls, {}).get("flags", {})
        text = ", ".join(f"{f} {n}" for f, n in seen.items())
        print(
            f"{cls:16s} {k['cases']:5d} {k['flag'] or '-':>20s} {k['positive']:4d} {k['caught']:6d} "
            f"{k['grey_severity']:4d} {k['audio_s']:7.1f}  {text}"
        )
    print("\nmeasured while generating (min..max per class):")
    for cls, ranges in g["measured_ranges"].items():
        print(f"  {cls:16s} " + ", ".join(f"{k} {v}" for k, v in ranges.items()))
    print("\ngenerator checks:")
    for name, c in g["checks"].items():
        print(
            f"  {c['passed']:3d}/{c['cases']:<3d} {name}"
            + (f"  FAILED: {c['failed']}" if c["failed"] else "")
        )
    print(f"\n{'flag':22s} {'TP':>4s} {'FP':>4s} {'FN':>4s} {'precision':>10s} {'recall':>7s}")
    for flag, r in res["flags"].items():
        if r["tp"] + r["fp"] + r["fn"] == 0:
            continue
        unit = " (pairs)" if r.get("unit") == "pairs" else ""
        print(
            f"{flag:22s} {r['tp']:4d} {r['fp']:4d} {r['fn']:4d} "
            f"{r['precision']:10.3f} {r['recall']:7.3f}{unit}"
        )
    quiet = [f for f, r in res["flags"].items() if r["tp"] + r["fp"] + r["fn"] == 0]
    print(f"(never fired and no positives: {', '.join(quiet)})")
    print()
    for name, r in res["special"].items():
        if "passed" in r:
            print(f"{name:42s} {r['passed']}/{r['cases']}")
    s = res["special"]
    print(
        f"{'mp3_false_truncated':42s} {s['mp3_false_truncated']['truncated']}"
        f"/{s['mp3_false_truncated']['cases']}"
    )
    t = s["near_duplicate_transform_named"]
    print(
        f"{'near_duplicate transform named (kind/amount)':42s} {t['named_kind']}/{t['named_amount']} "
        f"of {t['detected_pairs']} detected pairs"
    )
    tm = res["timing"]
    if "wall_s" in tm:
        print(
            f"\nbuild: {tm['wall_s']} s wall, -j {tm['jobs']}, {tm['source_audio_s']} s of audio "
            f"(RTF {tm['real_time_factor']}), load {tm['load_1min_before_after']}; quality stage "
            f"{tm['quality_s']} s = {100 * tm['quality_share_of_stage_time']:.1f} % of the summed stage time "
            f"({100 * tm['quality_share_of_wall_x_jobs']:.1f} % of wall x jobs)"
        )
        print("stages: " + ", ".join(f"{k} {v}" for k, v in tm["stage_s"].items()))
    if res["errors"]:
        print(f"\n{len(res['errors'])} records with status error:")
        for e in res["errors"][: None if errors else 10]:
            print("  " + e)
    n_err = sum(len(r["fp_cases"]) + len(r["fn_cases"]) for r in res["flags"].values())
    if errors or n_err <= 60:
        print("\nmisclassified:")
        for flag, r in res["flags"].items():
            for e in r["fp_cases"]:
                what = e.get("case") or " ~ ".join(e["pair"])
                print(f"  FP {flag:20s} {what}  {' | '.join(e['details'])[:200]}")
            for e in r["fn_cases"]:
                print(f"  FN {flag:20s} {e['case']}  got [{', '.join(e.get('got', []))}]")
        for name, r in res["special"].items():
            for f in r.get("failures", []):
                print(f"  FAIL {name}: {f['case']}  {f['what'][:200]}")
    else:
        print(f"\n{n_err} misclassified (flag, case) pairs: --errors lists them (all are in the JSON)")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    import _build_cases as bc

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--part",
        choices=("flags", "build", "all"),
        default="flags",
        help="flags: item-level flags, loudness, duplicates, scale (the default); build: the labelled "
        "raw folder through a real default build; all: both",
    )
    ap.add_argument("--scale", type=int, default=10000, help="items in the scale test (0 = skip)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--errors", action="store_true", help="list every misclassified case")
    ap.add_argument(
        "--cases",
        default=None,
        help="build part: only these classes (comma-separated, e.g. hum,clean; 'clean' adds every clean "
        "take, the negatives of all flags)",
    )
    ap.add_argument(
        "--from-manifest",
        type=Path,
        default=None,
        metavar="OUT",
        help="build part: score the manifest of an existing build of the generated raw folder "
        "instead of building",
    )
    ap.add_argument("--keep", action="store_true", help="build part: keep the build output folder")
    ap.add_argument("--regenerate", action="store_true", help="build part: write the raw folder again")
    ap.add_argument("--jobs", type=int, default=2, help="build part: worker processes (default 2)")
    ap.add_argument(
        "--work",
        type=Path,
        default=bc.ROOT,
        help=f"build part: folder of the generated raw folder, labels and build outputs (default {bc.ROOT})",
    )
    args = ap.parse_args(argv)
    out: dict[str, Any] = {}
    if args.part in ("flags", "all"):
        out = flags_part(args)
    if args.part in ("build", "all"):
        res = build_part(args)
        out = {"flags_part": out, "build_part": res} if args.part == "all" else res
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
