"""Datasets for the report tests and ``bench/bench_report.py``.

:func:`make_raw` writes a small raw folder with every kind of trouble the report must
show (clipping, an exact duplicate, hiss, a silent file, an undecodable file, a piece
too short to keep) and speaker and file names that are HTML and script.

:func:`scale_version` publishes a new version of a built dataset with ``n_items`` items
by cloning the real items: the clones point at the real items' shard data, get their
own ids, speakers and jittered metrics and flags, so the report sees a 10,000-item
dataset without building hours of audio.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from svcprep.quality.flags import FLAG_DOCS
from svcprep.records import record_from_dict
from svcprep.store.versions import (
    latest_version_id,
    next_version_id,
    publish_version,
    read_manifest,
    read_version,
)
from svcprep.testing import clipped, noise, sing_phrase

__all__ = ["HOSTILE_FILE", "HOSTILE_SPEAKER", "SR", "make_raw", "scale_version", "song"]

#: A speaker folder name that is HTML with an event handler (no "/" allowed in names).
HOSTILE_SPEAKER = '"><img src=x onerror=window.__xss=1>'
#: A file name that is markup too.
HOSTILE_FILE = "<svg onload=window.__xss=2> & 'q'.wav"

SR = 44100


def song(seed: int, base_hz: float, notes: int = 6) -> np.ndarray:
    # a different tune per seed: one tune in two keys is a pitch-shifted copy (near_duplicate)
    steps = tuple(np.random.default_rng(seed).permutation((0, 2, 4, 5, 7, 5, 4, 2)[:notes]).tolist())
    v = sing_phrase(
        sample_rate_hz=SR,
        notes_hz=tuple(base_hz * 2 ** (k / 12) for k in steps),
        note_s=0.6,
        pause_s=0.4,
        breath=0.002,
        seed=seed,
    )
    return np.asarray(v.audio, dtype=np.float32)


def make_raw(root: Path) -> Path:
    """Write the raw folder under ``root / "raw"`` and return it."""
    raw = root / "raw"
    ann, ben, bad = raw / "ann", raw / "ben", raw / HOSTILE_SPEAKER
    for d in (ann, ben, bad):
        d.mkdir(parents=True, exist_ok=True)
    a = song(1, 220.0)
    sf.write(ann / "take1.wav", a, SR, subtype="PCM_16")
    same, _ = sf.read(ann / "take1.wav", dtype="float32")
    sf.write(ann / "take1_copy.flac", same, SR, subtype="PCM_24")
    sf.write(ann / "take2.wav", song(2, 233.0), SR, subtype="PCM_16")
    hiss = (
        song(5, 247.0)
        + noise(duration_s=len(a) / SR + 1, sample_rate_hz=SR, amplitude=0.05, seed=9)[: len(a)]
    )
    sf.write(ann / "hiss.wav", np.clip(hiss, -1, 1), SR, subtype="PCM_16")
    sf.write(ben / "hot.wav", clipped(song(3, 130.0), gain_db=12.0) * 0.5, SR, subtype="PCM_16")
    sf.write(ben / "calm.wav", song(4, 147.0), SR, subtype="PCM_16")
    sf.write(ben / "silent.wav", np.zeros(SR * 2, np.float32), SR, subtype="PCM_16")
    (ben / "broken.wav").write_bytes(b"RIFF" + np.random.default_rng(3).bytes(5000))
    sf.write(bad / HOSTILE_FILE, song(6, 196.0), SR, subtype="PCM_16")
    return raw


def scale_version(out: Path, n_items: int, *, n_speakers: int = 12, seed: int = 0) -> str:
    """Publish a version of ``out`` with ``n_items`` cloned items; returns its id.

    About a third of the clones carry one to three flags (with details) so the flagged
    table is large too; a few are duplicates of another clone.
    """
    rng = np.random.default_rng(seed)
    vid = latest_version_id(out)
    if vid is None:
        raise ValueError(f"{out} has no version to scale")
    base = read_version(out, vid)
    records = read_manifest(out, vid)
    items = [r for r in records if r["status"] == "ok" and r["kind"] == "item" and not r["variant_of"]]
    if not items:
        raise ValueError(f"{out} version {vid} has no items to clone")
    flags = [f for f in FLAG_DOCS if f not in ("decode_error", "truncated", "non_finite")]
    new_records: list[dict[str, Any]] = []
    index: dict[str, Any] = {}
    for k in range(n_items):
        src = items[k % len(items)]
        r = copy.deepcopy(src.to_dict())
        sp = f"singer{k % n_speakers:02d}"
        r["speaker"] = sp
        r["source"] = f"{sp}/take{k // n_speakers:05d}.wav"
        r["id"] = f"{r['source']}#000"
        m = r["metrics"]
        m["loudness_lufs"] = float(m.get("loudness_lufs", -20.0)) + float(rng.normal(0, 2.0))
        r["flags"], r["flag_details"], r["split"] = [], {}, "train"
        r["duplicate_of"] = None
        if rng.random() < 0.33:
            for f in rng.choice(flags, size=int(rng.integers(1, 4)), replace=False):
                thr = float(rng.uniform(0.1, 20.0))
                val = thr * float(rng.uniform(1.05, 4.0))
                detail = {
                    "metric": f"{f}_metric",
                    "value": round(val, 6),
                    "threshold": round(thr, 6),
                    "detail": f"{f}: {val:.2f} past {thr:.2f}",
                }
                if f in ("exact_duplicate", "near_duplicate") and new_records:
                    other = new_records[int(rng.integers(0, len(new_records)))]["id"]
                    detail["duplicate_of"] = other
                    r["duplicate_of"] = other
                r["flags"].append(str(f))
                r["flag_details"][str(f)] = detail
            r["flags"].sort()
            r["split"] = "excluded"
        elif rng.random() < 0.1:
            r["split"] = "val"
        new_records.append(r)
        index[r["id"]] = base["items"][src["id"]]
    extra = [r.to_dict() for r in records if r["status"] != "ok"]
    new_records.extend(extra)
    new_records.sort(key=lambda r: (r["id"], r["kind"]))
    typed = [record_from_dict(r) for r in new_records]
    new_vid = next_version_id(out)
    rec = copy.deepcopy(base)
    rec.update(
        {
            "id": new_vid,
            "parent": vid,
            "digest": f"scaled-{n_items}-{seed}",
            "items": index,
            "inputs": {r["source"]: f"{i:032x}" for i, r in enumerate(new_records)},
            "source_seconds": {},
            "raw": None,
        }
    )
    rec["stats"] = dict(rec.get("stats", {}), items=len(index), records=len(new_records))
    json.dumps(rec)  # fail here, not half-way through publishing, if anything is not JSON
    publish_version(out, new_vid, rec, typed)
    return new_vid
