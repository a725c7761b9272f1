"""DDSP-SVC 6.x data folders (``data/train`` and ``data/val``).

As DDSP-SVC's ``preprocess.py`` writes them and its data loader reads them, with
``<spk>`` the 1-based numeric speaker id and ``<file>`` the wav's path below ``audio``::

    data/{train,val}/audio/<spk>/<name>.wav         float32 WAV at 44.1 kHz
    data/{train,val}/f0/<spk>/<name>.wav.npy        (T,) F0 in Hz, unvoiced interpolated
    data/{train,val}/volume/<spk>/<name>.wav.npy    (T,) frame RMS
    data/{train,val}/mel/<spk>/<name>.wav.npy       (T, 128) NSF-HiFiGAN mel
    data/{train,val}/units/<spk>/<name>.wav.npy     (T, dims) content units (with an encoder)

with ``T = len // 512 + 1``.
"""

from __future__ import annotations

import json

import numpy as np

from svcprep.export.common import ExportItem, ExportJob, check_grid
from svcprep.export.content import UNIT_HOP_16K, align_units

__all__ = ["export_ddsp"]


def export_ddsp(job: ExportJob) -> None:
    """Write DDSP-SVC 6.x ``data/train`` and ``data/val`` folders into ``job.dest``."""
    check_grid(job.ds, "ddsp", frame_count="centered", preset="ddsp-svc-6")
    sr, hop = job.sample_rate, job.hop_length

    def voiced(it: ExportItem) -> str | None:
        if np.any(np.asarray(it.arrays["uv"]) > 0):
            return None
        return "no voiced frame (DDSP-SVC's preprocess moves such files to skip/)"

    job.keep(voiced)
    spk_ids = {spk: i + 1 for i, spk in enumerate(sorted({i.speaker for i in job.items}))}
    job.speaker_ids = dict(spk_ids)
    mel = job.mel_config
    with_mel = mel.get("n_mels") == 128 and mel.get("padding") == "nsf_hifigan" and mel.get("log_base") == "e"
    for it in job.iter_items():
        rel = f"{spk_ids[it.speaker]}/{it.name}.wav"
        top = f"data/{it.split}"
        job.write_wav(f"{top}/audio/{rel}", it.audio, sample_rate_hz=sr, subtype="FLOAT")
        job.write_npy(f"{top}/f0/{rel}.npy", np.asarray(it.arrays["f0"], dtype=np.float32))
        job.write_npy(f"{top}/volume/{rel}.npy", np.asarray(it.arrays["volume"], dtype=np.float32))
        if with_mel:
            job.write_npy(f"{top}/mel/{rel}.npy", np.asarray(it.arrays["mel"], dtype=np.float32))
        units = job.content(it)
        if units is not None:
            n = int(np.shape(it.arrays["f0"])[0])
            aligned = align_units(
                units, n_frames=n, frame_period_s=hop / sr, unit_period_s=UNIT_HOP_16K / 16000
            )
            job.write_npy(f"{top}/units/{rel}.npy", aligned)
    job.write_text("data/speakers.json", json.dumps(spk_ids, indent=2, ensure_ascii=False) + "\n")
    job.todo.append(
        "aug_vol/, aug_mel/ and pitch_aug_dict.npy (DDSP-SVC's random volume/key augmentation)"
        + ("" if job.encoder is not None else " and units/ (content units)")
        + ": run `python preprocess.py -c configs/<model>.yaml` in the DDSP-SVC folder with data.train_path="
        "data/train and data.valid_path=data/val; note that it recomputes every feature (F0, volume, mel) "
        "with its own extractors"
    )
    if not with_mel:
        job.notes.append("no mel/ written: the dataset's mel is not DDSP-SVC's 128-bin NSF-HiFiGAN mel")
    job.notes.append(
        f"set model.n_spk >= {len(spk_ids)} in the DDSP-SVC config; speaker folders are numbered 1..n in "
        "speakers.json order. DDSP's loader skips clips shorter than its training window "
        "(data.duration) + 0.1 s"
    )
