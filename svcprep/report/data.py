"""What the report shows, gathered from a built dataset: no plotting and no HTML here.

Everything comes from the output folder: the version record, its manifest, the stored F0
tracks and, for the previous version, its record and manifest. The numbers are plain
Python values so they can be tested against the manifest directly.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.quality.dataset import note_name, speaker_view
from svcprep.quality.flags import FLAG_DOCS
from svcprep.records import Record, dataset_items, originals
from svcprep.stages import f0_cents_histogram, f0_histogram
from svcprep.store.manage import diff_records
from svcprep.store.reader import Dataset
from svcprep.store.versions import read_manifest, read_version

__all__ = [
    "PITCH_BIN_CENTS",
    "PITCH_MIDI_RANGE",
    "ReportData",
    "SpeakerStats",
    "collect",
    "flag_severity",
    "pitch_histogram",
]

#: Pitch histogram grid: MIDI notes 24 (C1, 32.7 Hz) to 108 (C8, 4186 Hz) in quarter tones.
PITCH_MIDI_RANGE = (24.0, 108.0)
PITCH_BIN_CENTS = 25.0

_NOT_IN_DATASET = ("error", "dropped", "skipped")


def _edges() -> npt.NDArray[np.float64]:
    lo, hi = PITCH_MIDI_RANGE
    n = round((hi - lo) * 100 / PITCH_BIN_CENTS)
    return np.linspace(lo, hi, n + 1)


def pitch_histogram(f0_hz: npt.ArrayLike, voiced: npt.ArrayLike | None = None) -> npt.NDArray[np.int64]:
    """Voiced-frame counts on the quarter-tone grid of :data:`PITCH_MIDI_RANGE`.

    Parameters
    ----------
    f0_hz
        Frame F0 in Hz; frames with 0, negative or non-finite values are unvoiced.
    voiced
        Optional voicing mask (non-zero = voiced), ANDed with ``f0_hz > 0``.

    Returns
    -------
    numpy.ndarray
        int64 counts, one per bin; frames outside the grid are clipped to its end bins.
    """
    f0 = np.asarray(f0_hz, dtype=np.float64).ravel()
    ok = np.isfinite(f0) & (f0 > 0)
    if voiced is not None:
        ok &= np.asarray(voiced).ravel() != 0
    edges = _edges()
    if not ok.any():
        return np.zeros(edges.size - 1, dtype=np.int64)
    midi = 69.0 + 12.0 * np.log2(f0[ok] / 440.0)
    idx = np.clip(np.searchsorted(edges, midi, side="right") - 1, 0, edges.size - 2)
    return np.bincount(idx, minlength=edges.size - 1).astype(np.int64)


def hist_quantile_hz(hist: npt.NDArray[np.int64], q: float) -> float:
    """The ``q``-quantile (0..1) of a :func:`pitch_histogram`, in Hz (bin centre); NaN when empty."""
    total = int(hist.sum())
    if total == 0:
        return float("nan")
    edges = _edges()
    i = int(np.searchsorted(np.cumsum(hist), q * total, side="left"))
    i = min(i, hist.size - 1)
    midi = 0.5 * (edges[i] + edges[i + 1])
    return float(440.0 * 2 ** ((midi - 69.0) / 12.0))


def flag_severity(detail: dict[str, Any]) -> float:
    """How far past its threshold a flag's metric is: 0 at the threshold, larger is worse.

    Ratios (octaves) for positive quantities, threshold-relative differences otherwise;
    a flag without a finite value (NaN metric) counts as the worst.
    """
    value, threshold = detail.get("value"), detail.get("threshold")
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return math.inf
    if threshold is None or not isinstance(threshold, (int, float)):
        return 0.0
    if value > 0 and threshold > 0:
        return abs(math.log2(value) - math.log2(threshold))
    return abs(value - threshold) / max(1.0, abs(threshold))


@dataclass
class SpeakerStats:
    """One speaker's numbers for the report (seconds, counts, distributions)."""

    name: str
    items: int = 0
    variants: int = 0
    source_s: float = 0.0
    kept_s: float = 0.0
    train_s: float = 0.0
    val_s: float = 0.0
    excluded_s: float = 0.0
    dropped_pieces_s: float = 0.0
    failed_s: float = 0.0
    errors: int = 0
    flagged: int = 0
    flags: dict[str, int] = field(default_factory=dict)
    pitch_all: npt.NDArray[np.int64] = field(default_factory=lambda: pitch_histogram([]))
    pitch_train: npt.NDArray[np.int64] = field(default_factory=lambda: pitch_histogram([]))
    loudness_lufs: list[float] = field(default_factory=list)
    durations_s: list[float] = field(default_factory=list)
    #: Each kept original item's median F0 (Hz, from its metrics) and whether it is a
    #: ``speaker_outlier``: ``(item id, f0_median_hz, outlier)``.
    item_pitch_hz: list[tuple[str, float, bool]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    voiced_share: float = float("nan")

    @property
    def dropped_s(self) -> float:
        """Source audio not in the dataset: trimmed silence, dropped pieces, failed sources."""
        return max(0.0, self.source_s - self.kept_s)

    @property
    def train_range_hz(self) -> tuple[float, float]:
        """5th and 95th percentile of voiced F0 in the training split (NaN when none)."""
        return hist_quantile_hz(self.pitch_train, 0.05), hist_quantile_hz(self.pitch_train, 0.95)

    @property
    def train_range_notes(self) -> str:
        """The training range as note names, e.g. ``"C3-A4"``."""
        lo, hi = self.train_range_hz
        return f"{note_name(lo)}-{note_name(hi)}" if math.isfinite(lo) else "-"


@dataclass
class ReportData:
    """Everything the report shows, for one version of a dataset."""

    out: Path
    version: dict[str, Any]
    records: list[Record]
    speakers: dict[str, SpeakerStats]
    flag_counts: dict[str, int]
    flagged_rows: list[dict[str, Any]]
    other_rows: list[dict[str, Any]]
    worst: dict[str, list[Record]]
    changes: dict[str, Any] | None
    totals: dict[str, float]
    dataset: Dataset

    @property
    def vid(self) -> str:
        """The version id."""
        return str(self.version["id"])

    @property
    def config(self) -> dict[str, Any]:
        """The build config of the version."""
        return dict(self.version.get("config", {}))


def _source_seconds(version: dict[str, Any], records: list[Record]) -> dict[str, tuple[str, float]]:
    """Seconds of every source, from the version record or (older versions) the records."""
    speakers: dict[str, str] = {}
    secs: dict[str, float] = defaultdict(float)
    for r in records:
        if r["kind"] not in ("item", "source", "piece") or r.get("variant_of"):
            continue
        src = r["source"]
        speakers[src] = r["speaker"]
        m = r.get("metrics") or {}
        cand = [
            m.get("source_duration_s"),
            r["duration_s"] if r["kind"] == "source" else None,
            r.get("end_s"),
        ]
        secs[src] = max([secs[src], *(float(c) for c in cand if isinstance(c, (int, float)))])
    known = version.get("source_seconds") or {}
    for src, s in known.items():
        secs[src] = float(s)
    return {src: (speakers.get(src, src.split("/")[0]), secs[src]) for src in secs}


def _speaker_stats(
    ds: Dataset | None, version: dict[str, Any], records: list[Record]
) -> dict[str, SpeakerStats]:
    stats: dict[str, SpeakerStats] = {}

    def get(name: str) -> SpeakerStats:
        if name not in stats:
            stats[name] = SpeakerStats(name)
        return stats[name]

    for _src, (sp, s) in _source_seconds(version, records).items():
        get(sp).source_s += s
    midi_hist: dict[str, list[int]] = {}
    cents: dict[str, dict[str, int]] = {}
    for r in records:
        if r["kind"] == "file":
            continue
        st = get(r["speaker"])
        dur = float(r["duration_s"] or 0.0)
        if r["status"] == "error":
            st.errors += 1
            if r["kind"] == "source":
                st.failed_s += dur
            continue
        if r["status"] == "dropped":
            if r["kind"] == "piece":
                st.dropped_pieces_s += dur
            continue
        if not r.in_dataset:
            continue
        if r.is_variant:
            st.variants += 1
            continue
        st.items += 1
        st.kept_s += dur
        split = r.get("split")
        if split == "train":
            st.train_s += dur
        elif split == "val":
            st.val_s += dur
        else:
            st.excluded_s += dur
        st.durations_s.append(dur)
        lufs = (r.get("metrics") or {}).get("loudness_lufs")
        if isinstance(lufs, (int, float)) and math.isfinite(lufs):
            st.loudness_lufs.append(float(lufs))
        f0_med = (r.get("metrics") or {}).get("f0_median_hz")
        if isinstance(f0_med, (int, float)) and math.isfinite(f0_med) and f0_med > 0:
            st.item_pitch_hz.append((str(r["id"]), float(f0_med), "speaker_outlier" in r["flags"]))
        if r["flags"]:
            st.flagged += 1
            for f in r["flags"]:
                st.flags[f] = st.flags.get(f, 0) + 1
        if ds is not None and r["id"] in ds:
            a = ds.arrays(r["id"])
            h = pitch_histogram(a["f0"], a["uv"])
            st.pitch_all += h
            if split == "train":
                st.pitch_train += h
            midi_hist[r["id"]] = f0_histogram(a["f0"], a["uv"])
            cents[r["id"]] = f0_cents_histogram(a["f0"], a["uv"])
    view = speaker_view(records, midi_hist, f0_cents=cents if ds is not None else None)
    for sp, row in view.items():
        if sp in stats:
            stats[sp].warnings = list(row["warnings"])
            stats[sp].voiced_share = float(row["voiced_share"])
    return dict(sorted(stats.items()))


def _row(r: Mapping[str, Any], flag: str, detail: dict[str, Any] | None) -> dict[str, Any]:
    d = detail or {}
    value = d.get("value")
    return {
        "id": r["id"],
        "speaker": r["speaker"],
        "split": r.get("split") or r["status"],
        "flag": flag,
        "metric": d.get("metric") or "",
        "value": value if isinstance(value, (int, float)) and math.isfinite(value) else None,
        "threshold": d.get("threshold"),
        "reason": d.get("detail") or r.get("error") or FLAG_DOCS.get(flag, ""),
        "duplicate_of": d.get("duplicate_of") or "",
        "duration_s": r["duration_s"],
        "severity": None,
    }


def _rows(records: list[Record]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    flagged, other = [], []
    for r in records:
        if r["status"] == "ok":
            for f in r["flags"]:
                d = r.get("flag_details", {}).get(f)
                row = _row(r, f, d)
                sev = flag_severity(d or {})
                row["severity"] = None if math.isinf(sev) else round(sev, 4)
                flagged.append(row)
        elif r["status"] in _NOT_IN_DATASET:
            other.append(
                {
                    "id": r["id"],
                    "speaker": r["speaker"],
                    "status": r["status"],
                    "flag": ", ".join(r["flags"]) or "-",
                    "reason": r.get("error") or "",
                    "duration_s": r["duration_s"],
                }
            )
    return flagged, other


def _worst(records: list[Record], per_flag: int) -> dict[str, list[Record]]:
    by_flag: dict[str, list[tuple[float, str, Record]]] = defaultdict(list)
    for r in originals(records):
        for f in r.flags:
            sev = flag_severity(r.get("flag_details", {}).get(f, {}))
            by_flag[f].append((-sev, r["id"], r))
    out = {}
    for f in sorted(by_flag, key=lambda f: (-len(by_flag[f]), f)):
        ranked = sorted(by_flag[f], key=lambda t: (t[0], t[1]))
        out[f] = [r for _, _, r in ranked[:per_flag]]
    return out


def _kept_by_speaker(records: list[Record]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for r in originals(records):
        out[r.speaker] += float(r.duration_s or 0.0)
    return dict(out)


def _flag_totals(records: list[Record]) -> Counter[str]:
    return Counter(f for r in records for f in r["flags"])


def version_changes(
    old: dict[str, Any],
    old_records: list[Record],
    new: dict[str, Any],
    new_records: list[Record],
) -> dict[str, Any]:
    """What changed from version ``old`` to ``new``: items, flags, hours per speaker, config values.

    Items are "changed" when their stored features differ (different cache key).
    """
    d = diff_records(old, new)
    fa = {r.id: set(r.flags) for r in dataset_items(old_records)}
    fb = {r.id: set(r.flags) for r in dataset_items(new_records)}
    newly, cleared = [], []
    for i in sorted(set(fa) & set(fb)):
        for f in sorted(fb[i] - fa[i]):
            newly.append({"id": i, "flag": f})
        for f in sorted(fa[i] - fb[i]):
            cleared.append({"id": i, "flag": f})
    config = [{"key": k, "old": o, "new": n} for k, (o, n) in d.config.items()]
    ka, kb = _kept_by_speaker(old_records), _kept_by_speaker(new_records)
    hours = [
        {"speaker": sp, "old_s": ka.get(sp, 0.0), "new_s": kb.get(sp, 0.0)}
        for sp in sorted(set(ka) | set(kb))
        if abs(ka.get(sp, 0.0) - kb.get(sp, 0.0)) > 1e-6
    ]
    ta, tb = _flag_totals(old_records), _flag_totals(new_records)
    flags = [
        {"flag": f, "old": ta.get(f, 0), "new": tb.get(f, 0)}
        for f in sorted(set(ta) | set(tb))
        if ta.get(f, 0) != tb.get(f, 0)
    ]
    return {
        "previous": old.get("id"),
        "previous_created_utc": old.get("created_utc", ""),
        "added": d.added,
        "removed": d.removed,
        "changed": d.changed,
        "inputs_added": d.inputs_added,
        "inputs_removed": d.inputs_removed,
        "inputs_changed": d.inputs_changed,
        "newly_flagged": newly,
        "cleared": cleared,
        "config": config,
        "hours": hours,
        "flags": flags,
        "hours_before": sum(ka.values()) / 3600.0,
        "hours_after": sum(kb.values()) / 3600.0,
    }


def collect(out: str | Path, version: str | None = None, *, worst_per_flag: int = 3) -> ReportData:
    """Gather the report's numbers for one version of the dataset in ``out``.

    Parameters
    ----------
    out
        Output folder of ``svcprep build``.
    version
        Version id; None is the latest.
    worst_per_flag
        Items kept per flag kind as the "worst" (those get a spectrogram and audio).

    Returns
    -------
    ReportData
    """
    out_p = Path(out)
    ds = Dataset(out_p, version)
    vrec = ds.info
    records = ds.manifest
    speakers = _speaker_stats(ds, vrec, records)
    flag_counts = dict(_flag_totals(records).most_common())
    flagged, other = _rows(records)
    worst = _worst(records, worst_per_flag)
    changes = None
    parent = vrec.get("parent")
    if parent:
        try:
            old = read_version(out_p, parent)
            changes = version_changes(old, read_manifest(out_p, parent), vrec, records)
        except Exception as err:  # a removed (gc) or damaged parent: say so instead of failing
            changes = {"previous": parent, "unavailable": str(err)}
    items = dataset_items(records)
    heads = originals(records)
    totals = {
        "speakers": float(len(speakers)),
        "items": float(len(heads)),
        "variants": float(len(items) - len(heads)),
        "flagged_items": float(sum(1 for r in heads if r.flags)),
        "source_s": sum(s.source_s for s in speakers.values()),
        "kept_s": sum(s.kept_s for s in speakers.values()),
        "train_s": sum(s.train_s for s in speakers.values()),
        "val_s": sum(s.val_s for s in speakers.values()),
        "excluded_s": sum(s.excluded_s for s in speakers.values()),
        "dropped_s": sum(s.dropped_s for s in speakers.values()),
        "dropped_pieces_s": sum(s.dropped_pieces_s for s in speakers.values()),
        "failed_s": sum(s.failed_s for s in speakers.values()),
        "errors": float(sum(1 for r in records if r["status"] == "error")),
        "dropped": float(sum(1 for r in records if r["status"] == "dropped")),
        "skipped": float(sum(1 for r in records if r["status"] == "skipped")),
    }
    return ReportData(
        out=out_p,
        version=vrec,
        records=records,
        speakers=speakers,
        flag_counts=flag_counts,
        flagged_rows=flagged,
        other_rows=other,
        worst=worst,
        changes=changes,
        totals=totals,
        dataset=ds,
    )
