"""Dataset-level quality: flags on manifest records, duplicates, loudness outliers, splits, speaker view.

These run in the main process after every item's metrics are known (from the cache or
just computed); they are cheap, so changing a threshold or the split policy never
recomputes audio.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from svcprep.config import BuildConfig
from svcprep.quality.duplicates import (
    DuplicateIndex,
    Fingerprint,
    spectral_duplicates,
    transformed_duplicates,
)
from svcprep.quality.flags import Flag, flag_detail, flag_item, loudness_outliers, speaker_outliers
from svcprep.records import ItemRecord, Record, SplitName, originals
from svcprep.store.splits import split_from_config

__all__ = ["apply_quality", "assign_splits", "note_name", "speaker_view", "worst_items"]

_NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def apply_quality(
    records: list[Record],
    fingerprints: Mapping[str, Mapping[str, Any]],
    cfg: BuildConfig,
    *,
    voices: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Record]:
    """The records with quality flags on the items of the dataset (a new list; records are frozen).

    Original items are flagged from their metrics, their speaker's loudness and
    duplicates; duplicates are searched among original items only, across speakers, and
    the later item (by id) of a pair is the one flagged, naming the other in
    ``duplicate_of``. A variant is made from an item already measured, so it inherits its
    original's flags, details and ``duplicate_of`` (a shifted copy of a clipped or
    duplicate item is no better than the item).
    """
    qc = cfg.quality_thresholds()
    originals_by_id = {r.id: r for r in originals(records)}
    added: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    duplicate_of: dict[str, str] = {}
    for r in originals_by_id.values():
        m = dict(r.metrics)
        m.setdefault("duration_s", r.duration_s)
        m.setdefault("sample_rate_hz", r.sample_rate_hz or cfg.load.sample_rate_hz)
        for flag in flag_item(m, qc):
            # a cancelling pair's downmix is a thin difference signal, which the blind SNR
            # reads as noise: the diagnosis is channel_cancellation (use one channel), not noise
            if flag.name == "noisy" and "channel_cancellation" in r.flags:
                continue
            added[r.id][flag.name] = flag_detail(flag)
    levels = {
        i: (r.speaker, float(r.metrics["loudness_lufs"]))
        for i, r in originals_by_id.items()
        if math.isfinite(float(r.metrics.get("loudness_lufs", float("nan"))))
    }
    for i, flag in loudness_outliers(levels, qc).items():
        added[i][flag.name] = flag_detail(flag)

    fps = {i: Fingerprint.from_dict(fingerprints[i]) for i in sorted(fingerprints) if i in originals_by_id}
    index = DuplicateIndex(min_score=qc.near_duplicate_min_score)
    for i, fp in fps.items():
        index.add_fingerprint(i, fp)
    for match in index.find_duplicates():
        if match.item_id not in originals_by_id:
            continue
        name = "exact_duplicate" if match.kind == "exact" else "near_duplicate"
        flag = Flag(
            name,
            "duplicate_score",
            float(match.score),
            1.0 if match.kind == "exact" else qc.near_duplicate_min_score,
            f"same audio as {match.other_id}"
            + (
                "" if match.kind == "exact" else f" (score {match.score:.2f}, offset {match.offset_s:+.2f} s)"
            ),
        )
        added[match.item_id][name] = flag_detail(
            flag, duplicate_of=match.other_id, offset_s=round(float(match.offset_s), 3)
        )
        duplicate_of[match.item_id] = match.other_id

    voices = voices or {}
    contours = {i: v["contour"] for i, v in voices.items() if i in originals_by_id and v.get("contour")}
    known = {frozenset((a, b)) for a, b in duplicate_of.items()}
    by_contour = transformed_duplicates(contours, min_score=qc.near_duplicate_contour_min_score, skip=known)
    by_spectrum = spectral_duplicates(
        fps, min_score=qc.near_duplicate_spectral_min_score, skip=known, contours=contours
    )
    for tm in [*by_contour, *by_spectrum]:
        if tm.item_id in duplicate_of or not (tm.shifted or tm.stretched):
            # an untransformed copy is the audio fingerprint's to find; the same tune sung (or
            # synthesised) twice in the same key and tempo is not a copy of the recording
            continue
        what = []
        if tm.shifted:
            what.append(f"pitch-shifted by {tm.shift_semitones:+.1f} semitones")
        if tm.stretched:
            what.append(f"time-stretched by {tm.stretch:.2f}")
        if tm.evidence == "contour":
            metric, threshold = "contour_score", qc.near_duplicate_contour_min_score
            how = f"{tm.score:.0%} of the voiced frames follow its F0 contour"
        else:
            metric, threshold = "spectral_score", qc.near_duplicate_spectral_min_score
            how = f"its fingerprint matches through the transform, score {tm.score:.2f}"
        flag = Flag(
            "near_duplicate",
            metric,
            float(tm.score),
            threshold,
            f"same performance as {tm.other_id}, " + " and ".join(what) + f" ({how})",
        )
        added[tm.item_id]["near_duplicate"] = flag_detail(
            flag,
            duplicate_of=tm.other_id,
            pitch_shift_semitones=round(tm.shift_semitones, 2) + 0.0,  # never -0.0
            time_stretch=round(tm.stretch, 3),
        )
        duplicate_of[tm.item_id] = tm.other_id
        if "reverberant" in added[tm.item_id] and "reverberant" not in added.get(tm.other_id, {}):
            # a phase vocoder smears every decay: the copy of a dry take rings with the transform,
            # not with a room (bench_quality: a +0.5 semitone librosa copy read 0.37 s)
            del added[tm.item_id]["reverberant"]

    profiles = {
        i: (originals_by_id[i].speaker, v["profile"])
        for i, v in voices.items()
        if i in originals_by_id and v.get("profile")
    }
    for i, flag in speaker_outliers(profiles, qc).items():
        added[i][flag.name] = flag_detail(flag)

    out: list[Record] = []
    for rec in records:
        if not (isinstance(rec, ItemRecord) and rec.in_dataset):
            out.append(rec)
            continue
        r = rec
        head = r.variant_of if r.is_variant else r.id
        new = added.get(str(head))
        if head in originals_by_id and r.is_variant:
            base = originals_by_id[str(head)]
            new = {**{k: dict(v) for k, v in base.flag_details.items()}, **(new or {})}
            inherited = set(base.flags)
        else:
            inherited = set()
        if not new and not inherited:
            out.append(r)
            continue
        details = {**dict(r.flag_details), **(new or {})}
        out.append(
            r.replace(
                flags=tuple(sorted({*r.flags, *inherited, *details})),
                flag_details=details,
                duplicate_of=duplicate_of.get(str(head), r.duplicate_of),
            )
        )
    return out


def assign_splits(records: list[Record], cfg: BuildConfig) -> list[Record]:
    """The records with ``split`` (``train``, ``val`` or ``excluded``) on every item of the dataset.

    The one place a build decides who trains (:func:`svcprep.store.splits.split_from_config`
    on the ``[split]`` config); everything downstream reads the stored field.
    """
    split = split_from_config(records, cfg.split)
    where: dict[str, SplitName] = {i: "train" for i in split.train}
    where.update({i: "val" for i in split.val})
    where.update({i: "excluded" for i in split.excluded})
    return [
        r.replace(split=where.get(r.id, "excluded")) if isinstance(r, ItemRecord) and r.in_dataset else r
        for r in records
    ]


def note_name(f0_hz: float) -> str:
    """Nearest equal-tempered note name of a frequency (A4 = 440 Hz), e.g. ``"A3"``."""
    if not (f0_hz > 0 and math.isfinite(f0_hz)):
        return "-"
    midi = round(69 + 12 * math.log2(f0_hz / 440.0))
    return f"{_NOTES[midi % 12]}{midi // 12 - 1}"


def _hist_percentile(hist: np.ndarray, q: float) -> float:
    c = np.cumsum(hist)
    if c[-1] == 0:
        return float("nan")
    midi = int(np.searchsorted(c, q / 100.0 * c[-1]))
    return float(440.0 * 2 ** ((midi - 69) / 12))


def _cents_percentiles(hist: Mapping[int, int], qs: tuple[float, ...]) -> tuple[float, ...]:
    """Percentiles in Hz of a sparse 10-cent histogram (:func:`svcprep.stages.f0_cents_histogram`)."""
    from svcprep.stages import F0_CENTS_BIN

    if not hist:
        return tuple(float("nan") for _ in qs)
    bins = np.array(sorted(hist), dtype=np.float64)
    counts = np.array([hist[int(b)] for b in bins], dtype=np.float64)
    c = np.cumsum(counts)
    out = []
    for q in qs:
        i = int(np.searchsorted(c, q / 100.0 * c[-1]))
        cents = bins[min(i, bins.size - 1)] * F0_CENTS_BIN
        out.append(float(10.0 * 2 ** (cents / 1200.0)))
    return tuple(out)


def speaker_view(
    records: list[Record],
    f0_hist: Mapping[str, list[int]],
    *,
    min_minutes: float = 10.0,
    f0_cents: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per speaker: hours kept and in training, pitch range (5-95 %), voiced share, loudness, flags, warnings.

    The pitch range is measured on the training split's voiced frames, from
    ``f0_cents`` (10-cent histograms per item, exact to 5 cents) when given, else from the
    note histograms ``f0_hist``; items outside training only count when no item of the
    speaker trains. The minutes warning counts training audio.
    """
    rows: dict[str, dict[str, Any]] = {}
    by_speaker: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if r.kind == "item" and not r.is_variant:
            by_speaker[r.speaker].append(r)
    medians = {}
    for sp, recs in sorted(by_speaker.items()):
        ok = [r for r in recs if r.in_dataset]
        train = [r for r in ok if r.trains]
        pitched = train or ok
        if f0_cents is not None:
            fine: dict[int, int] = defaultdict(int)
            for r in pitched:
                for b, n in f0_cents.get(r.id, {}).items():
                    fine[int(b)] += int(n)
            p5, p50, p95 = _cents_percentiles(fine, (5, 50, 95))
        else:
            hist = np.zeros(128, dtype=np.int64)
            for r in pitched:
                if r.id in f0_hist:
                    hist += np.asarray(f0_hist[r.id], dtype=np.int64)
            p5, p50, p95 = (_hist_percentile(hist, q) for q in (5, 50, 95))
        loud = np.array([r.metrics.get("loudness_lufs", np.nan) for r in ok], dtype=np.float64)
        loud = loud[np.isfinite(loud)]
        voiced = np.array([r.metrics.get("voiced_ratio", np.nan) for r in ok], dtype=np.float64)
        durs = np.array([r.duration_s or 0.0 for r in ok], dtype=np.float64)
        flagged = [r for r in ok if r.flags]
        flag_counts = Counter(f for r in ok for f in r.flags)
        kept_s = float(durs.sum())
        train_s = float(sum(r.duration_s or 0 for r in train))
        rows[sp] = {
            "items": len(ok),
            "kept_s": kept_s,
            "train_s": train_s,
            "f0_p5_hz": p5,
            "f0_median_hz": p50,
            "f0_p95_hz": p95,
            "range": f"{note_name(p5)}-{note_name(p95)}" if math.isfinite(p5) else "-",
            "voiced_share": float(np.nansum(voiced * durs) / durs.sum()) if durs.sum() > 0 else float("nan"),
            "loudness_iqr_db": float(np.subtract(*np.percentile(loud, [75, 25])))
            if loud.size
            else float("nan"),
            "flagged": len(flagged),
            "flags": dict(flag_counts.most_common()),
            "warnings": [],
        }
        medians[sp] = p50
        w = rows[sp]["warnings"]
        if train_s < min_minutes * 60:
            kept = f" ({kept_s / 60:.1f} min kept)" if kept_s - train_s > 0.05 * 60 else ""
            w.append(
                f"only {train_s / 60:.1f} min of training audio{kept}: SVC models want "
                f"{min_minutes:g} min or more per speaker"
            )
        if ok and len(flagged) > len(ok) / 2:
            w.append(f"{len(flagged)} of {len(ok)} items are flagged: check the recordings")
    finite = [m for m in medians.values() if math.isfinite(m)]
    if len(finite) >= 2:
        center = float(np.median(finite))
        for sp, m in medians.items():
            if math.isfinite(m) and abs(12 * math.log2(m / center)) > 12:
                rows[sp]["warnings"].append(
                    f"median pitch {note_name(m)} is over an octave from "
                    f"the speakers' median {note_name(center)}"
                )
    return rows


def worst_items(records: list[Record], n: int = 10) -> list[ItemRecord]:
    """The flagged items most likely to hurt training: duplicates, clipping, noise and F0 trouble first."""
    weight = {"exact_duplicate": 3, "near_duplicate": 3, "clipping": 2, "noisy": 2, "unstable_f0": 2}
    flagged = [r for r in originals(records) if r.flags]
    flagged.sort(key=lambda r: (-sum(weight.get(f, 1) for f in r.flags), r.id))
    return flagged[:n]
