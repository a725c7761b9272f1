"""DiffSinger acoustic raw data (``wavs/`` and ``transcriptions.csv`` per speaker).

DiffSinger's binariser reads ``<raw_data_dir>/transcriptions.csv`` (columns ``name``,
``ph_seq``, ``ph_dur``) and ``<raw_data_dir>/wavs/<name>.wav``; it computes F0 and the
mel itself. The phoneme labels are left empty for the user::

    <speaker>/wavs/<name>.wav         PCM_16 WAV at 44.1 kHz
    <speaker>/transcriptions.csv      name,ph_seq,ph_dur (ph_seq and ph_dur empty)
    diffsinger.yaml                   speakers, raw_data_dir and test_prefixes
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from svcprep.export.common import ExportItem, ExportJob, check_grid

__all__ = ["export_diffsinger"]


def export_diffsinger(job: ExportJob) -> None:
    """Write DiffSinger raw data folders into ``job.dest``."""
    check_grid(job.ds, "diffsinger", frame_count="floor", preset="diffsinger")
    sr = job.sample_rate

    def voiced(it: ExportItem) -> str | None:
        if np.any(np.asarray(it.arrays["uv"]) > 0):
            return None
        return "no voiced frame (DiffSinger's binariser skips such items)"

    job.keep(voiced)
    folders = {spk: job.speakers[spk] for spk in sorted({i.speaker for i in job.items})}
    job.speaker_ids = {folders[s]: i for i, s in enumerate(folders)}
    rows: dict[str, list[str]] = {s: [] for s in folders}
    val: list[str] = []
    for it in job.iter_items():
        folder = folders[it.speaker]
        job.write_wav(f"{folder}/wavs/{it.name}.wav", it.audio, sample_rate_hz=sr, subtype="PCM_16")
        rows[it.speaker].append(it.name)
        if it.split == "val":
            val.append(f"{job.speaker_ids[folder]}:{it.name}")
    for spk, folder in folders.items():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["name", "ph_seq", "ph_dur"])
        for name in rows[spk]:
            w.writerow([name, "", ""])
        job.write_text(f"{folder}/transcriptions.csv", buf.getvalue())
    lines = [
        "# DiffSinger dataset settings (merge into your acoustic config); written by svcprep",
        "speakers:",
        *[f"  - {json.dumps(f)}" for f in folders.values()],
        "raw_data_dir:",
        *[f"  - {json.dumps(f)}" for f in folders.values()],
        "test_prefixes:",
        *[f"  - {json.dumps(v)}" for v in val],
    ]
    job.write_text("diffsinger.yaml", "\n".join(lines) + "\n")
    job.todo.append(
        "phoneme labels: fill ph_seq and ph_dur in each transcriptions.csv (e.g. with a forced aligner "
        "such as "
        "SOFA or MakeDiffSinger's scripts), then run `python scripts/binarize.py --config <config>` in the "
        "DiffSinger folder; it computes F0 and the mel from the wavs"
    )
    if job.encoder is not None:
        job.notes.append("the encoder was not used: DiffSinger's acoustic model takes phonemes, not units")
