"""RVC v2 experiment folder (``logs/<experiment>`` of Retrieval-based-Voice-Conversion-WebUI).

Layout, as RVC's preprocess, F0 and feature steps write it and its training loader reads it::

    0_gt_wavs/<name>.wav        float32 WAV at the model rate (32/40/48 kHz)
    1_16k_wavs/<name>.wav       float32 WAV at 16 kHz
    2a_f0/<name>.wav.npy        coarse F0, int64 codes 1..255 (1 = unvoiced), 10 ms frames
    2b-f0nsf/<name>.wav.npy     F0 in Hz, float64, 0 on unvoiced frames
    3_feature768/<name>.npy     content features (frames, 768) at 20 ms (only with an encoder)
    filelist.txt                gt|feature|f0coarse|f0nsf|spk_id, plus RVC's two "mute" lines
    speakers.json               speaker -> spk_id
"""

from __future__ import annotations

import json

import numpy as np

from svcprep.export.common import ExportJob, check_grid

__all__ = ["export_rvc"]

RATES = {32000: "32k", 40000: "40k", 48000: "48k"}


def export_rvc(job: ExportJob) -> None:
    """Write an RVC v2 experiment folder into ``job.dest``."""
    check_grid(job.ds, "rvc", frame_count="floor", preset="rvc-v2-40k", rates=RATES)
    sr = job.sample_rate
    sr_tag = RATES[sr]
    job.speaker_ids = {spk: i for i, spk in enumerate(sorted(job.speakers))}
    root = job.dest.resolve().as_posix()
    dims: set[int] = set()
    lines = []
    for it in job.iter_items():
        name = it.name
        job.write_wav(f"0_gt_wavs/{name}.wav", it.audio, sample_rate_hz=sr, subtype="FLOAT")
        job.write_wav(f"1_16k_wavs/{name}.wav", job.audio_16k(it), sample_rate_hz=16000, subtype="FLOAT")
        voiced = np.asarray(it.arrays["uv"]) > 0
        coarse = np.where(voiced, np.asarray(it.arrays["coarse_f0"], dtype=np.int64), 1)
        job.write_npy(f"2a_f0/{name}.wav.npy", coarse.astype(np.int64))
        f0 = np.where(voiced, np.asarray(it.arrays["f0"], dtype=np.float64), 0.0)
        job.write_npy(f"2b-f0nsf/{name}.wav.npy", f0)
        units = job.content(it)
        feat_dir = "3_feature768"
        if units is not None:
            dims.add(units.shape[1])
            feat_dir = f"3_feature{units.shape[1]}"
            job.write_npy(f"{feat_dir}/{name}.npy", units)
        spk = job.speaker_ids[it.speaker]
        lines.append(
            f"{root}/0_gt_wavs/{name}.wav|{root}/{feat_dir}/{name}.npy|{root}/2a_f0/{name}.wav.npy"
            f"|{root}/2b-f0nsf/{name}.wav.npy|{spk}"
        )
    fea_dim = dims.pop() if len(dims) == 1 else 768
    for _ in range(2):  # RVC's click_train adds two silent reference items (shipped in logs/mute)
        lines.append(
            f"logs/mute/0_gt_wavs/mute{sr_tag}.wav|logs/mute/3_feature{fea_dim}/mute.npy"
            f"|logs/mute/2a_f0/mute.wav.npy|logs/mute/2b-f0nsf/mute.wav.npy|0"
        )
    job.write_text("filelist.txt", "\n".join(lines) + "\n")
    job.write_text("speakers.json", json.dumps(job.speaker_ids, indent=2, ensure_ascii=False) + "\n")
    if job.encoder is None:
        job.todo.append(
            "3_feature768/<name>.npy (content features): copy this folder to RVC's logs/<experiment> and run "
            "the 'feature extraction' step (infer/modules/train/extract_feature_print.py, web UI step 2b) "
            "with pitch extraction already done; or re-export with --encoder"
        )
    job.notes.append(
        "filelist.txt holds absolute paths to this folder: export straight into RVC's logs/<experiment> or "
        "rewrite the paths after moving it. The two mute lines use paths relative to the RVC root (the "
        "training working folder), where RVC ships logs/mute."
    )
    job.notes.append(
        "RVC has no validation set: training and validation items are all in filelist.txt. Speaker ids must "
        "stay below the model's spk_embed_dim (109); the web UI trains one speaker (id 0) per experiment."
    )
