"""Labelled benchmark of the quality flags and the duplicate index.

Builds a labelled set from the real recordings in ``shared/data`` (resampled to the
dataset rate, 44.1 kHz, as the pipeline would) and synthetic voices
(:mod:`svcprep.testing`), injects every kind of defect at several strengths, runs
metrics -> flags, and prints precision and recall per flag as a table and as JSON.
A second part measures the duplicate index at scale (10,000 synthetic items).

Run from the repository root::

    python bench/bench_quality.py                 # everything (a few minutes on 2 cores)
    python bench/bench_quality.py --scale 0       # skip the 10,000-item timing
    python bench/bench_quality.py --json out.json # also write the JSON to a file

Labels
------
Clean real recordings are negatives for every flag except what they really are:
shorter than 2 s (``too_short``), longer than 20 s (``too_long``), recorded at 16 or
22.05 kHz and so upsampled to 44.1 kHz (``low_bandwidth``), and the two vocadito clips
14 and 10 whose spectrum is 90 dB down above 10 kHz (``low_bandwidth``, a consumer-device
band limit, read off the long-term spectrum). A defect variant is positive for the
injected flag; flags that the injection can legitimately change too (added noise is
full-band, so ``low_bandwidth`` is no longer meaningful) are left unscored for it, as
are grey-zone strengths (added noise at 15-25 dB SNR for ``noisy``).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from joblib import Parallel, delayed
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from svcprep import testing
from svcprep.dsp.f0 import extract_f0
from svcprep.dsp.frames import num_frames
from svcprep.quality.duplicates import DuplicateIndex, Fingerprint, fingerprint
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
        # a second extractor that disagrees (octave errors on 30 % of its voiced frames)
        second_bad = second.copy()
        flip = rng.random(second.size) < 0.3
        second_bad[flip] *= 2.0
        cases.append(
            Case(f"{bid}:second_f0_off", y, {"unstable_f0"}, {"unstable_f0"}, (f0, voiced, second_bad))
        )
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
    for k, src in enumerate(rng.choice(n_items, size=n_dups, replace=False).tolist()):
        y = _scale_item(int(src))
        y = y[int(rng.integers(0, 4000)) :] * float(rng.uniform(0.3, 1.0))
        y = y + float(rng.uniform(0.003, 0.01)) * rng.standard_normal(y.size)
        index.add(f"dup{k}", y.astype(np.float32), sample_rate_hz=8000)
        planted[f"dup{k}"] = f"s{src}"
    t0 = time.perf_counter()
    found = index.find_duplicates()
    match_s = time.perf_counter() - t0
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
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=10000, help="items in the scale test (0 = skip)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--errors", action="store_true", help="list every misclassified case")
    args = ap.parse_args(argv)
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
            f"{scale['planted_near_duplicates']} found, {scale['other_matches']} other matches"
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
    text = json.dumps(out, indent=2)
    print("\n" + text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
