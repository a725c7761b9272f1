"""DDSP-SVC 6.x (reflow) training data: ``data/train``, ``data/val`` and a complete config.

Written the way DDSP-SVC's ``preprocess.py`` leaves a set folder and the reflow loader
(``reflow/data_loaders.py`` of branch 6.1 and of master) reads it back, with ``<id>`` the
1-based speaker number (the loader parses ``int`` of the folder name) and ``<file>`` the
wav's path below ``audio/`` *including* ``.wav``::

    data/{train,val}/audio/<id>/<name>.wav        float32 WAV, 44.1 kHz (librosa reads it as is)
    data/{train,val}/f0/<file>.npy                float64 (L//512+1,) Hz, unvoiced interpolated
    data/{train,val}/volume/<file>.npy            float32 (L//512+1,) frame RMS
    data/{train,val}/mel/<file>.npy               float32 (L//512, 128) NSF-HiFiGAN log-mel
    data/{train,val}/aug_mel/<file>.npy           float32 (L//512, 128) mel of the gained, key-shifted copy
    data/{train,val}/aug_vol/<file>.npy           float32 (L//512+1,) volume of the gained copy
    data/{train,val}/units/<file>.npy             float32 (L//512+1, dims) content units (with an encoder)
    data/{train,val}/pitch_aug_dict.npy           pickled dict <file> -> key shift (semitones)
    data/speakers.json                            speaker -> id
    configs/svcprep-reflow.yaml                   configs/reflow.yaml of DDSP-SVC 6.1, filled in
    svcprep_fill_units.py                         (without an encoder) fills units/ only

``L`` is the item's length in samples. The mel has one frame less than F0 and volume, as
DDSP's nvSTFT makes it (svcprep's stored mel repeats its last frame to reach the
``L//512+1`` grid: the export cuts it). The validation set gets key shift 0, as
``preprocess.py`` gives it. Both sets need ``pitch_aug_dict.npy``: the loader opens it for
the validation set too. A dataset built with other mel or volume settings (on the same
44.1 kHz, hop-512, ``L//512+1`` grid) gets DDSP's mel and volume computed from the
exported samples.

Left out, with their reason in the report: items without a voiced frame (``preprocess.py``
moves them to ``skip/``) and items DDSP's loaders would silently pass over (under 2.1 s).
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.errors import ConfigError
from svcprep.export.common import ExportItem, ExportJob, check_grid, yaml_text
from svcprep.export.content import nearest_unit_index

__all__ = [
    "CONFIG_PATH",
    "TRAIN_WINDOW_S",
    "UNITS_SCRIPT",
    "export_ddsp",
    "loader_skip_reason",
    "reflow_config",
    "unit_index",
]

#: The NSF-HiFiGAN vocoder DDSP-SVC trains with (nsf_hifigan_44.1k_hop512_128bin): its
#: mel is the training target, so the dataset's rate, hop and mel must be these.
SAMPLE_RATE = 44100
HOP = 512
_VOCODER_MEL: dict[str, Any] = {
    "n_fft": 2048,
    "win_length": 2048,
    "n_mels": 128,
    "fmin_hz": 40.0,
    "fmax_hz": 16000.0,
    "magnitude_eps": 1e-9,
    "log_floor": 1e-5,
    "log_base": "e",
    "mel_scale": "slaney",
    "mel_norm": "slaney",
    "padding": "nsf_hifigan",
    "pad_mode": "reflect",
}

#: ``data.duration`` of the template: the training crop in seconds.
TRAIN_WINDOW_S = 2
#: Content encoders run at 16 kHz with a 320-sample hop (``data.encoder_sample_rate`` / ``_hop_size``).
ENCODER_SAMPLE_RATE = 16000
ENCODER_HOP = 320

CONFIG_PATH = "configs/svcprep-reflow.yaml"
UNITS_SCRIPT = "svcprep_fill_units.py"

#: DDSP-SVC encoder names by output width, with the checkpoint path its README gives.
_ENCODERS: dict[int, tuple[str, str | None]] = {
    768: ("contentvec768l12", "pretrain/contentvec/checkpoint_best_legacy_500.pt"),
    256: ("hubertsoft", "pretrain/hubert/hubert-soft-0d54a1f4.pt"),
    1024: ("hubertlarge1024l24", None),
}


def reflow_config(
    *,
    n_spk: int,
    expdir: str,
    encoder: str = "contentvec768l12",
    encoder_out_channels: int = 768,
    encoder_ckpt: str = "pretrain/contentvec/checkpoint_best_legacy_500.pt",
    use_pitch_aug: bool = True,
) -> dict[str, Any]:
    """DDSP-SVC 6.1's ``configs/reflow.yaml``, every section and key, with this export's values.

    master's (6.0) ``train_reflow.py`` reads the same keys minus ``model.n_aux_layers``,
    ``n_aux_chans``, ``use_norm`` and ``use_attention``, which it ignores, so the one file
    serves both.
    """
    return {
        "data": {
            "f0_extractor": "rmvpe",
            "f0_min": 65,
            "f0_max": 800,
            "sampling_rate": SAMPLE_RATE,
            "block_size": HOP,
            "duration": TRAIN_WINDOW_S,
            "encoder": encoder,
            "cnhubertsoft_gate": 10,
            "encoder_sample_rate": ENCODER_SAMPLE_RATE,
            "encoder_hop_size": ENCODER_HOP,
            "encoder_out_channels": int(encoder_out_channels),
            "encoder_ckpt": encoder_ckpt,
            "train_path": "data/train",
            "valid_path": "data/val",
            "extensions": ["wav"],
        },
        "model": {
            "type": "RectifiedFlow",
            "win_length": 2048,
            "n_aux_layers": 3,
            "n_aux_chans": 256,
            "n_layers": 6,
            "n_chans": 512,
            "t_start": 0.7,
            "use_norm": False,
            "use_attention": False,
            "use_pitch_aug": bool(use_pitch_aug),
            "n_spk": int(n_spk),
        },
        "device": "cuda",
        "vocoder": {"type": "nsf-hifigan", "ckpt": "pretrain/nsf_hifigan/model"},
        "infer": {"infer_step": 20, "method": "euler"},
        "env": {"expdir": expdir, "gpu_id": 0},
        "train": {
            "num_workers": 2,
            "amp_dtype": "fp32",
            "batch_size": 48,
            "cache_all_data": True,
            "cache_device": "cpu",
            "cache_fp16": True,
            "epochs": 100000,
            "interval_log": 1,
            "interval_val": 2000,
            "interval_force_save": 10000,
            "lr": 0.0002,
            "decay_step": 50000,
            "gamma": 0.5,
            "weight_decay": 0,
            "lambda_ddsp": 1,
            "save_opt": False,
        },
    }


def unit_index(
    n_frames: int,
    n_units: int,
    *,
    sample_rate: int = SAMPLE_RATE,
    hop: int = HOP,
    encoder_sample_rate: int = ENCODER_SAMPLE_RATE,
    encoder_hop: int = ENCODER_HOP,
) -> npt.NDArray[np.int64]:
    """The unit frame DDSP-SVC's ``Units_Encoder.encode`` gives each of ``n_frames`` frames.

    :func:`svcprep.export.content.nearest_unit_index` with DDSP's periods (ratio 0.5805
    for 44.1 kHz / 512 against 16 kHz / 320).
    """
    return nearest_unit_index(
        n_frames, n_units, frame_period_s=hop / sample_rate, unit_period_s=encoder_hop / encoder_sample_rate
    )


def loader_skip_reason(n_samples: int, *, sample_rate: int = SAMPLE_RATE, hop: int = HOP) -> str | None:
    """Why DDSP-SVC's reflow loader would pass over a clip of ``n_samples``, or None.

    Both loaders replace a too-short item by the next one without a word: 6.1 when its
    shortest array (the ``L // hop`` mel frames) is below ``int(duration * sr / hop)``,
    master (6.0) when the wav is shorter than ``duration + 0.1`` seconds.
    """
    crop = int(TRAIN_WINDOW_S * sample_rate / hop)
    if n_samples / sample_rate < TRAIN_WINDOW_S + 0.1 or n_samples // hop < crop:
        return (
            f"shorter than {TRAIN_WINDOW_S + 0.1:g} s: DDSP-SVC's loader silently skips it (master: under "
            f"data.duration + 0.1 s; 6.1: under {crop} mel frames)"
        )
    return None


def _check_grid(job: ExportJob) -> None:
    check_grid(job.ds, "ddsp", frame_count="centered", preset="ddsp-svc-6", rates=(SAMPLE_RATE,))
    if job.hop_length != HOP:
        raise ConfigError(
            f"the dataset in {job.ds.root} (version {job.ds.version}) does not fit ddsp: hop "
            f"{job.hop_length} where the NSF-HiFiGAN vocoder's is {HOP}. Rebuild it with "
            "`svcprep build RAW OUT --preset ddsp-svc-6`"
        )


def _mel_differs(job: ExportJob) -> list[str]:
    """The dataset's mel settings that are not the DDSP-SVC vocoder's (empty when it is that mel)."""
    mel = job.mel_config
    out = []
    for key, want in _VOCODER_MEL.items():
        have = mel.get(key)
        if isinstance(want, (int, float)):
            same = isinstance(have, (int, float)) and math.isclose(float(have), float(want), rel_tol=1e-9)
        else:
            same = have == want
        if not same:
            out.append(f"mel.{key}={have!r} (DDSP-SVC: {want!r})")
    return out


def _ddsp_mel(y: npt.NDArray[np.float32], keyshift: float = 0.0) -> npt.NDArray[np.float32]:
    """DDSP-SVC's vocoder mel of ``y`` (nvSTFT, ``len // 512`` frames), optionally key-shifted."""
    from svcprep.dsp.mel import log_mel

    return log_mel(y, sample_rate_hz=SAMPLE_RATE, hop_length=HOP, keyshift_semitones=keyshift, **_VOCODER_MEL)


def _ddsp_volume(y: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """DDSP-SVC's volume: RMS of the 512 samples centred on each of ``len // 512 + 1`` frames."""
    from svcprep.dsp.volume import frame_rms

    return frame_rms(y, hop_length=HOP, n_frames=y.size // HOP + 1, window_length=HOP)


def _ddsp_f0(item: ExportItem) -> npt.NDArray[np.float64]:
    """F0 with unvoiced frames filled as ``preprocess.py`` fills them (np.interp in Hz, edges held)."""
    f0 = np.asarray(item.arrays["f0"], dtype=np.float64)
    voiced = (np.asarray(item.arrays["uv"]) > 0) & (f0 > 0)
    idx = np.flatnonzero(voiced)
    return np.interp(np.arange(f0.size, dtype=np.float64), idx, f0[idx])


def _pickled(obj: object) -> bytes:
    buf = io.BytesIO()
    np.save(buf, obj, allow_pickle=True)  # type: ignore[arg-type]  # a dict, as DDSP saves it
    return buf.getvalue()


def _encoder_settings(job: ExportJob, dims: int | None) -> tuple[str, int, str]:
    name, ckpt = _ENCODERS[768]
    if dims is None:
        return name, 768, str(ckpt)
    if dims in _ENCODERS:
        name, maybe = _ENCODERS[dims]
        ckpt = maybe if maybe is not None else "pretrain/<encoder checkpoint>"
    job.notes.append(
        f"units/ come from the --encoder given ({dims} channels; data.encoder_out_channels={dims}). "
        f"svcprep cannot tell which model it is: data.encoder is set to {name!r} by its width"
        + ("" if dims in _ENCODERS else f" (no DDSP-SVC encoder has {dims} channels)")
        + f"; set data.encoder and data.encoder_ckpt in {CONFIG_PATH} to the DDSP-SVC encoder that "
        "matches yours: main_reflow.py encodes the input with it at inference"
    )
    return name, int(dims), str(ckpt)


_UNITS_SCRIPT_TEXT = '''\
"""Fill units/ of an svcprep export with DDSP-SVC's own content encoder, and nothing else.

Run it in the DDSP-SVC folder (it imports DDSP-SVC's ddsp.vocoder and logger.utils):

    python {script} -c {config} [-d cpu|cuda]

It reads each wav under data.train_path/audio and data.valid_path/audio the way
preprocess.py does (librosa at data.sampling_rate), encodes it with Units_Encoder (the
data.encoder / encoder_ckpt of the config) and writes units/<file>.npy. Unlike
preprocess.py it leaves f0/, volume/, mel/, aug_mel/, aug_vol/ and pitch_aug_dict.npy
as svcprep wrote them. Written by svcprep.
"""

import argparse
import os

import librosa
import numpy as np
import torch

from ddsp.vocoder import Units_Encoder
from logger.utils import load_config, traverse_dir


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--device", default=None)
    cmd = parser.parse_args()
    device = cmd.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args = load_config(cmd.config)
    gate = args.data.cnhubertsoft_gate if args.data.encoder == "cnhubertsoftfish" else 10
    encoder = Units_Encoder(
        args.data.encoder,
        args.data.encoder_ckpt,
        args.data.encoder_sample_rate,
        args.data.encoder_hop_size,
        cnhubertsoft_gate=gate,
        device=device,
    )
    for root in (args.data.train_path, args.data.valid_path):
        files = traverse_dir(
            os.path.join(root, "audio"),
            extensions=args.data.extensions,
            is_pure=True,
            is_sort=True,
            is_ext=True,
        )
        for rel in files:
            audio, _ = librosa.load(os.path.join(root, "audio", rel), sr=args.data.sampling_rate)
            if audio.ndim > 1:
                audio = librosa.to_mono(audio)
            x = torch.from_numpy(audio).float().to(device).unsqueeze(0)
            with torch.no_grad():
                units = encoder.encode(x, args.data.sampling_rate, args.data.block_size)
            out = os.path.join(root, "units", rel + ".npy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            np.save(out, units.squeeze(0).to("cpu").numpy().astype(np.float32))
        print(f"units written for {{len(files)}} files under {{root}}")


if __name__ == "__main__":
    main()
'''


def export_ddsp(job: ExportJob) -> None:
    """Write DDSP-SVC 6.x ``data/train``, ``data/val`` and the reflow config into ``job.dest``."""
    _check_grid(job)
    sr, hop = SAMPLE_RATE, HOP
    other_mel = _mel_differs(job)
    other_volume = job.ds.config.get("volume", {}).get("window_length", 0) not in (0, HOP)

    def voiced(it: ExportItem) -> str | None:
        if np.any(np.asarray(it.arrays["uv"]) > 0):
            return None
        return "no voiced frame (DDSP-SVC's preprocess moves such files to skip/)"

    job.keep(voiced)
    job.keep(lambda it: loader_skip_reason(it.audio.size, sample_rate=sr, hop=hop))
    if not any(it.split == "train" for it in job.items):
        raise ConfigError(
            f"no training item is left for DDSP-SVC ({len(job.skipped)} left out: flagged, unvoiced or "
            f"shorter than {TRAIN_WINDOW_S + 0.1:g} s, which its loader would skip): export segments of at "
            "least 2.1 s (the ddsp-svc-6 preset's slicing)"
        )
    no_val = not any(it.split == "val" for it in job.items)

    speakers = sorted({it.speaker for it in job.items})
    spk_ids = {spk: i + 1 for i, spk in enumerate(speakers)}
    job.speaker_ids = dict(spk_ids)
    use_pitch_aug = True
    pitch_aug: dict[str, dict[str, float | int]] = {"train": {}, "val": {}}
    dims: int | None = None
    for it in job.iter_items():
        n = it.audio.size
        n_frames, n_mel = n // hop + 1, n // hop
        rel = f"{spk_ids[it.speaker]}/{it.name}.wav"
        top = f"data/{it.split}"
        job.write_wav(f"{top}/audio/{rel}", it.audio, sample_rate_hz=sr, subtype="FLOAT")
        job.write_npy(f"{top}/f0/{rel}.npy", _ddsp_f0(it))
        shift = use_pitch_aug and it.split == "train"
        aug = job.augmentation(it, pitch_shift=shift)
        volume, aug_volume = it.arrays["volume"], aug.volume
        mel, aug_mel = np.asarray(it.arrays["mel"])[:n_mel], np.asarray(aug.mel)[:n_mel]
        if other_volume or other_mel:  # the dataset's are not DDSP's: compute DDSP's from the samples
            gained = (it.audio.astype(np.float64) * 10.0**aug.log10_gain).astype(np.float32)
            if other_volume:
                volume, aug_volume = _ddsp_volume(it.audio), _ddsp_volume(gained)
            if other_mel:
                mel, aug_mel = _ddsp_mel(it.audio), _ddsp_mel(gained, aug.keyshift_semitones)
        job.write_npy(f"{top}/volume/{rel}.npy", np.asarray(volume, dtype=np.float32))
        job.write_npy(f"{top}/mel/{rel}.npy", np.asarray(mel, dtype=np.float32))
        job.write_npy(f"{top}/aug_mel/{rel}.npy", np.asarray(aug_mel, dtype=np.float32))
        job.write_npy(f"{top}/aug_vol/{rel}.npy", np.asarray(aug_volume, dtype=np.float32)[:n_frames])
        key: float | int = float(aug.keyshift_semitones) if shift else 0
        pitch_aug[it.split][rel] = key
        # Windows: DDSP lists the files with os.sep, so its keys read 1\\name.wav there
        pitch_aug[it.split][rel.replace("/", "\\")] = key
        units = job.content(it)
        if units is not None:
            u = np.asarray(units, dtype=np.float32)
            if dims is not None and u.shape[1] != dims:
                raise ConfigError(f"the encoder gave {u.shape[1]} channels for {it.id} and {dims} before")
            dims = int(u.shape[1])
            aligned = u[unit_index(n_frames, u.shape[0], sample_rate=sr, hop=hop)]
            job.write_npy(f"{top}/units/{rel}.npy", np.ascontiguousarray(aligned, dtype=np.float32))
    for split in ("train", "val") if not no_val else ("train",):
        job.write_bytes(f"data/{split}/pitch_aug_dict.npy", _pickled(pitch_aug[split]))
    job.write_text("data/speakers.json", json.dumps(spk_ids, indent=2, ensure_ascii=False) + "\n")

    encoder, channels, ckpt = _encoder_settings(job, dims)
    cfg = reflow_config(
        n_spk=len(speakers),
        expdir=f"exp/{job.experiment}",
        encoder=encoder,
        encoder_out_channels=channels,
        encoder_ckpt=ckpt,
        use_pitch_aug=use_pitch_aug,
    )
    header = (
        "DDSP-SVC reflow config (configs/reflow.yaml of DDSP-SVC 6.1, every key), written by svcprep.\n"
        "Speakers (audio/<id>/, main_reflow.py -id <id>): "
        + ", ".join(f"{i} = {json.dumps(s)}" for s, i in spk_ids.items())  # ASCII: any locale reads it
        + ".\ndata.f0_extractor is only used by preprocess.py: the f0/ files are svcprep's."
    )
    job.write_text(CONFIG_PATH, yaml_text(cfg, header.splitlines()))

    job.notes.append(
        f"copy everything in {job.dest} (data/, configs/"
        + ("" if dims is not None else f", {UNITS_SCRIPT}")
        + ") into the DDSP-SVC folder; data/train/audio and data/val/audio there must hold no other wavs"
    )
    job.notes.append(
        "f0/ is svcprep's F0 (harvest with refined voicing, unvoiced frames interpolated in Hz as "
        "preprocess.py does); data.f0_extractor ('rmvpe', the template's) only matters if you run "
        "preprocess.py, which recomputes f0/, volume/, mel/, aug_mel/, aug_vol/, units/ and "
        "pitch_aug_dict.npy with its own extractors and overwrites every file svcprep wrote"
    )
    job.notes.append(
        "aug_mel/ and aug_vol/ are DDSP-SVC's volume / key-shift augmentation (gain 10^U(-1, "
        "min(1, log10(1/peak))), key shift U(-5, 5) semitones on the training set and 0 on the "
        "validation set, as preprocess.py draws them), seeded per item; pitch_aug_dict.npy holds each "
        "file's key shift (under both the / and the Windows \\ spelling of its path)"
    )
    job.notes.append(
        f"model.n_spk = {len(speakers)}; speaker ids (audio/<id>/, main_reflow.py -id) are in "
        "data/speakers.json and the config's header"
    )
    if other_mel or other_volume:
        job.notes.append(
            "the dataset's "
            + " and ".join(w for w, o in (("mel", other_mel), ("volume", other_volume)) if o)
            + " settings are not DDSP-SVC's ("
            + ", ".join(other_mel + (["volume.window_length"] if other_volume else []))
            + "): the export computed DDSP-SVC's from the exported samples instead"
        )
    if no_val:
        job.todo.append(
            "a validation set: data/val has no item (the split has none, or every one was left out). "
            "train_reflow.py opens data/val/pitch_aug_dict.npy at start and needs at least one validation "
            f"clip of {TRAIN_WINDOW_S + 0.1:g} s or more (its validation divides by the item count, and "
            "loops forever when every clip is too short): export again with --val-items 1 or more"
        )
    job.todo.append(
        "pretrain/nsf_hifigan/model and pretrain/nsf_hifigan/config.json in the DDSP-SVC folder: the "
        "44.1 kHz hop-512 128-bin NSF-HiFiGAN vocoder from DDSP-SVC's README (train_reflow.py loads it "
        "at start)"
    )
    config = CONFIG_PATH
    if dims is None:
        job.todo.append(
            f"units/<id>/<name>.wav.npy (content units) for data/train and data/val: run `python "
            f"{UNITS_SCRIPT} -c {config}` in the DDSP-SVC folder. It runs DDSP-SVC's own Units_Encoder "
            f"(data.encoder {encoder!r}, checkpoint {ckpt}, which you download per DDSP-SVC's README) and "
            "writes units/ only. DDSP-SVC itself has no units-only step: `python preprocess.py -c "
            f"{config}` also fills units/ but recomputes and overwrites every other feature file "
            "(F0 with data.f0_extractor, volume, mel, augmentation); or re-export with --encoder"
        )
        job.next_steps.append(f"python {UNITS_SCRIPT} -c {config}")
        job.write_text(UNITS_SCRIPT, _UNITS_SCRIPT_TEXT.format(script=UNITS_SCRIPT, config=config))
    job.next_steps.append(f"python train_reflow.py -c {config}")
