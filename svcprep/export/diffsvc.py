"""Diff-SVC raw data folders (``raw_data_dir`` of ``preprocessing/binarize.py``).

Diff-SVC trains one speaker per config and finds every ``*.wav`` below ``raw_data_dir``;
its binariser computes HuBERT units, F0 and the mel itself. The export writes::

    data/raw/<speaker>/<name>.wav          PCM_16 WAV at 44.1 kHz
    data/raw/<speaker>/<name>.f0.npy       (T,) F0 in Hz (interpolated), T = len // 512
    data/raw/<speaker>/<name>.mel.npy      (T, 128) the dataset's mel (log10 with --preset diff-svc)
    configs/<speaker>.yaml                 raw_data_dir, test_prefixes and the audio parameters
"""

from __future__ import annotations

import json

import numpy as np

from svcprep.export.common import ExportJob, check_grid

__all__ = ["export_diffsvc"]


def export_diffsvc(job: ExportJob) -> None:
    """Write Diff-SVC raw data folders and config snippets into ``job.dest``."""
    check_grid(job.ds, "diff-svc", frame_count="floor", preset="diff-svc")
    sr, hop = job.sample_rate, job.hop_length
    cfg = job.ds.config
    mel = job.mel_config
    folders = {spk: job.speakers[spk] for spk in sorted({i.speaker for i in job.items})}
    job.speaker_ids = {folders[s]: 0 for s in folders}
    val: dict[str, list[str]] = {s: [] for s in folders}
    for it in job.iter_items():
        base = f"data/raw/{folders[it.speaker]}/{it.name}"
        job.write_wav(base + ".wav", it.audio, sample_rate_hz=sr, subtype="PCM_16")
        job.write_npy(base + ".f0.npy", np.asarray(it.arrays["f0"], dtype=np.float32))
        job.write_npy(base + ".mel.npy", np.asarray(it.arrays["mel"], dtype=np.float32))
        if it.split == "val":
            val[it.speaker].append(base + ".wav")
    f0 = cfg.get("f0", {})
    for spk, folder in folders.items():
        lines = [
            "# Diff-SVC settings for this speaker (merge into training/config_nsf.yaml); written by svcprep",
            f"raw_data_dir: {json.dumps(f'data/raw/{folder}')}",
            f"binary_data_dir: {json.dumps(f'data/binary/{folder}')}",
            f"speaker_id: {json.dumps(folder)}",
            f"audio_sample_rate: {sr}",
            f"hop_size: {hop}",
            f"fft_size: {mel.get('n_fft', 2048)}",
            f"win_size: {mel.get('win_length', 2048)}",
            f"audio_num_mel_bins: {mel.get('n_mels', 128)}",
            f"fmin: {mel.get('fmin_hz', 40.0):g}",
            f"fmax: {mel.get('fmax_hz', 16000.0):g}",
            f"f0_min: {f0.get('f0_floor_hz', 40.0):g}",
            f"f0_max: {f0.get('f0_ceil_hz', 1100.0):g}",
            "test_prefixes:",
            *[f"  - {json.dumps(p)}" for p in val[spk]],
        ]
        job.write_text(f"configs/{folder}.yaml", "\n".join(lines) + "\n")
    job.todo.append(
        "HuBERT units and the binary dataset: run `python preprocessing/binarize.py --config <config>` "
        "in the Diff-SVC folder for each speaker's config (configs/<speaker>.yaml merged into "
        "training/config_nsf.yaml); "
        "the binariser recomputes F0 (crepe or parselmouth) and the mel from the wavs"
    )
    job.notes.append(
        "the .f0.npy and .mel.npy sidecars are svcprep's F0 and mel on Diff-SVC's grid (len//512 frames), "
        "for checking or replacing the binariser's; Diff-SVC itself reads only the wavs"
    )
    if job.encoder is not None:
        job.notes.append("the encoder was not used: Diff-SVC's binariser computes its own HuBERT units")
