"""so-vits-svc 4.1 dataset (``dataset/44k``, ``filelists``, ``configs/config.json``).

Per item, next to the wav, as ``preprocess_hubert_f0.py`` writes them and ``data_utils.py`` /
``diffusion/data_loaders.py`` read them::

    dataset/44k/<speaker>/<name>.wav           PCM_16 WAV (read back / 32768)
    dataset/44k/<speaker>/<name>.wav.f0.npy    (2, T): row 0 F0 in Hz (interpolated), row 1 uv
    dataset/44k/<speaker>/<name>.wav.vol.npy   (T,) frame RMS
    dataset/44k/<speaker>/<name>.wav.mel.npy   (T, 128) NSF-HiFiGAN mel (shallow diffusion only)
    dataset/44k/<speaker>/<name>.wav.soft.pt   content units (1, dims, frames), torch, with an encoder

so-vits saves ``f0.npy`` as a pickled object pair ``(f0, uv)`` and loads it with
``f0, uv = np.load(path, allow_pickle=True)``; a plain float32 ``(2, T)`` array unpacks the
same way without any pickle.
"""

from __future__ import annotations

import importlib
import io
import json
from typing import Any

import numpy as np

from svcprep.export.common import ExportItem, ExportJob, check_grid

__all__ = ["export_sovits"]

MIN_DURATION_S = 0.3


def _is_nsf_mel(mel: dict[str, object]) -> bool:
    return (
        mel.get("n_mels") == 128
        and mel.get("padding") == "nsf_hifigan"
        and mel.get("fmin_hz") == 40.0
        and mel.get("fmax_hz") == 16000.0
        and mel.get("log_base") == "e"
    )


def export_sovits(job: ExportJob) -> None:
    """Write a so-vits-svc 4.1 dataset into ``job.dest``."""
    check_grid(job.ds, "sovits", frame_count="floor", preset="sovits-4.1")
    sr, hop = job.sample_rate, job.hop_length

    def long_enough(it: ExportItem) -> str | None:
        dur = it.audio.size / sr
        return None if dur >= MIN_DURATION_S else f"{dur:.2f} s is shorter than so-vits' 0.3 s minimum"

    job.keep(long_enough)
    folders = {spk: job.speakers[spk] for spk in sorted({i.speaker for i in job.items})}
    job.speaker_ids = {folders[spk]: i for i, spk in enumerate(sorted(folders))}
    with_mel = _is_nsf_mel(job.mel_config)
    torch: Any
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        torch = None
    rate_dir = "44k"
    lists: dict[str, list[str]] = {"train": [], "val": []}
    for it in job.iter_items():
        base = f"dataset/{rate_dir}/{folders[it.speaker]}/{it.name}.wav"
        job.write_wav(base, it.audio, sample_rate_hz=sr, subtype="PCM_16")
        voiced = (np.asarray(it.arrays["uv"]) > 0).astype(np.float32)
        f0 = np.asarray(it.arrays["f0"], dtype=np.float32)
        job.write_npy(base + ".f0.npy", np.stack([f0, voiced]))
        job.write_npy(base + ".vol.npy", np.asarray(it.arrays["volume"], dtype=np.float32))
        if with_mel:
            job.write_npy(base + ".mel.npy", np.asarray(it.arrays["mel"], dtype=np.float32))
        units = job.content(it)
        if units is not None and torch is not None:
            buf = io.BytesIO()
            torch.save(torch.from_numpy(np.ascontiguousarray(units.T[None])), buf)
            job.write_bytes(base + ".soft.pt", buf.getvalue())
        lists[it.split].append(f"./{base}")
    job.write_text("filelists/train.txt", "".join(f"{p}\n" for p in lists["train"]))
    job.write_text("filelists/val.txt", "".join(f"{p}\n" for p in lists["val"]))
    mel = job.mel_config
    config = {
        "data": {
            "training_files": "filelists/train.txt",
            "validation_files": "filelists/val.txt",
            "max_wav_value": 32768.0,
            "sampling_rate": sr,
            "filter_length": 2048,
            "hop_length": hop,
            "win_length": 2048,
            "n_mel_channels": 80,
            "mel_fmin": 0.0,
            "mel_fmax": 22050,
        },
        "model": {"n_speakers": len(job.speaker_ids)},
        "spk": job.speaker_ids,
        "svcprep": {
            "note": "skeleton: merge 'data', 'model.n_speakers' and 'spk' into "
            "configs_template/config_template.json",
            "dataset_version": job.ds.version,
            "mel": mel,
        },
    }
    job.write_text("configs/config.json", json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    if job.encoder is None:
        job.todo.append(
            "<name>.wav.soft.pt (content units): run `python preprocess_hubert_f0.py` in the so-vits-svc "
            "folder "
            "(add --use_diff for shallow diffusion); it keeps the .f0.npy/.vol.npy/.mel.npy written here and "
            "only adds what is missing"
        )
    elif torch is None:
        job.todo.append(
            "<name>.wav.soft.pt: the encoder ran, but writing so-vits' torch files needs torch "
            "(pip install torch), "
            "or run `python preprocess_hubert_f0.py` in the so-vits-svc folder"
        )
    if with_mel:
        job.todo.append(
            "<name>.wav.aug_mel.npy and .aug_vol.npy (shallow diffusion augmentation): run "
            "`python preprocess_hubert_f0.py --use_diff`"
        )
    else:
        job.notes.append(
            "no .mel.npy written: the dataset's mel is not the 128-bin NSF-HiFiGAN mel of shallow diffusion "
            "(build with --preset sovits-4.1-diffusion for it); so-vits computes its .spec.pt from the wavs"
        )
    job.notes.append(
        "wavs are PCM_16 as so-vits expects; the F0/volume/mel were computed from svcprep's float audio, "
        "so they differ from the quantised wav's by at most the int16 rounding (~3e-5)"
    )
