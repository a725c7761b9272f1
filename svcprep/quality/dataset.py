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
from svcprep.quality.duplicates import DuplicateIndex, Fingerprint
from svcprep.quality.flags import Flag, flag_item, loudness_outliers
from svcprep.store.splits import split_records

__all__ = ["apply_quality", "assign_splits", "note_name", "speaker_view", "worst_items"]

_NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _add_flag(rec: dict[str, Any], flag: Flag, **extra: Any) -> None:
    if flag.name not in rec["flags"]:
        rec["flags"] = sorted({*rec["flags"], flag.name})
    value = flag.value if math.isfinite(flag.value) else None
    rec["flag_details"][flag.name] = {
        "metric": flag.metric,
        "value": None if value is None else round(float(value), 6),
        "threshold": round(float(flag.threshold), 6),
        "detail": flag.detail,
        **extra,
    }


def apply_quality(
    records: list[dict[str, Any]], fingerprints: Mapping[str, Mapping[str, Any]], cfg: BuildConfig
) -> None:
    """Flag ``ok`` items in place from their metrics, their speaker's loudness and duplicates.

    Variants are not measured (they are made from an item already measured); duplicates
    are searched among original items only, across speakers, and the later item (by id)
    of a pair is the one flagged, naming the other in ``duplicate_of``.
    """
    qc = cfg.quality
    items = {r["id"]: r for r in records if r["status"] == "ok" and r["kind"] == "item"}
    originals = {i: r for i, r in items.items() if not r["variant_of"]}
    for r in originals.values():
        m = dict(r["metrics"])
        m.setdefault("duration_s", r["duration_s"])
        m.setdefault("sample_rate_hz", r.get("sample_rate_hz", cfg.load.sample_rate_hz))
        for flag in flag_item(m, qc):
            _add_flag(r, flag)
    levels = {
        i: (r["speaker"], float(r["metrics"]["loudness_lufs"]))
        for i, r in originals.items()
        if math.isfinite(float(r["metrics"].get("loudness_lufs", float("nan"))))
    }
    for i, flag in loudness_outliers(levels, qc).items():
        _add_flag(originals[i], flag)

    index = DuplicateIndex(min_score=qc.near_duplicate_min_score)
    for i in sorted(fingerprints):
        if i in originals:
            index.add_fingerprint(i, Fingerprint.from_dict(fingerprints[i]))
    for match in index.find_duplicates():
        rec = originals.get(match.item_id)
        if rec is None:
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
        _add_flag(rec, flag, duplicate_of=match.other_id, offset_s=round(float(match.offset_s), 3))
        rec["duplicate_of"] = match.other_id


def assign_splits(records: list[dict[str, Any]], cfg: BuildConfig) -> None:
    """Write ``split`` (``train``, ``val`` or ``excluded``) into every ``ok`` item record, in place."""
    sc = cfg.split
    exclude = None if "all" in sc.exclude_flags else sc.exclude_flags
    split = split_records(
        records,
        val_items_per_speaker=sc.val_items_per_speaker,
        seed=sc.seed,
        exclude_flags=exclude,
        include_flags=sc.include_flags,
    )
    where = {i: "train" for i in split.train}
    where.update({i: "val" for i in split.val})
    where.update({i: "excluded" for i in split.excluded})
    for r in records:
        if r["status"] == "ok" and r["kind"] == "item":
            r["split"] = where.get(r["id"], "excluded")


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


def speaker_view(
    records: list[dict[str, Any]], f0_hist: Mapping[str, list[int]], *, min_minutes: float = 10.0
) -> dict[str, dict[str, Any]]:
    """Per speaker: hours kept, pitch range (5-95 %), voiced share, loudness spread, flags, warnings."""
    rows: dict[str, dict[str, Any]] = {}
    by_speaker: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["kind"] == "item" and not r["variant_of"]:
            by_speaker[r["speaker"]].append(r)
    medians = {}
    for sp, recs in sorted(by_speaker.items()):
        ok = [r for r in recs if r["status"] == "ok"]
        hist = np.zeros(128, dtype=np.int64)
        for r in ok:
            if r["id"] in f0_hist:
                hist += np.asarray(f0_hist[r["id"]], dtype=np.int64)
        p5, p50, p95 = (_hist_percentile(hist, q) for q in (5, 50, 95))
        loud = np.array([r["metrics"].get("loudness_lufs", np.nan) for r in ok], dtype=np.float64)
        loud = loud[np.isfinite(loud)]
        voiced = np.array([r["metrics"].get("voiced_ratio", np.nan) for r in ok], dtype=np.float64)
        durs = np.array([r["duration_s"] or 0.0 for r in ok], dtype=np.float64)
        flagged = [r for r in ok if r["flags"]]
        flag_counts = Counter(f for r in ok for f in r["flags"])
        kept_s = float(durs.sum())
        rows[sp] = {
            "items": len(ok),
            "kept_s": kept_s,
            "train_s": float(sum(r["duration_s"] or 0 for r in ok if r.get("split") == "train")),
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
        if kept_s < min_minutes * 60:
            w.append(
                f"only {kept_s / 60:.1f} min of audio: SVC models want "
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


def worst_items(records: list[dict[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    """The flagged items most likely to hurt training: duplicates, clipping, noise and F0 trouble first."""
    weight = {"exact_duplicate": 3, "near_duplicate": 3, "clipping": 2, "noisy": 2, "unstable_f0": 2}
    flagged = [r for r in records if r["status"] == "ok" and r["kind"] == "item" and r["flags"]]
    flagged.sort(key=lambda r: (-sum(weight.get(f, 1) for f in r["flags"]), r["id"]))
    return flagged[:n]
