"""so-vits-svc 4.1 training folder: ``dataset/44k``, ``filelists`` and ``configs``.

Copied into a so-vits-svc 4.1-Stable checkout, the export is what ``resample.py``,
``preprocess_flist_config.py`` and ``preprocess_hubert_f0.py [--use_diff]`` would leave
there, so ``python train.py -c configs/config.json -m 44k`` (and, for shallow diffusion,
``python train_diff.py -c configs/diffusion.yaml``) train on it as it is::

    configs/config.json                         config_template.json with the speaker map,
                                                n_speakers and the encoder's settings
    configs/diffusion.yaml                      diffusion_template.yaml with n_spk, spk,
                                                encoder and encoder_out_channels
    filelists/train.txt, filelists/val.txt      ./dataset/44k/<speaker>/<name>.wav per line
    dataset/44k/<speaker>/<name>.wav            mono PCM_16 WAV at 44.1 kHz
    dataset/44k/<speaker>/<name>.wav.f0.npy     (2, T) float32: F0 in Hz (interpolated), uv
    dataset/44k/<speaker>/<name>.wav.vol.npy    (T,) float32 frame RMS
    dataset/44k/<speaker>/<name>.wav.mel.npy    (T, 128) float32 NSF-HiFiGAN log mel    [1]
    dataset/44k/<speaker>/<name>.wav.aug_mel.npy  pickled object pair (mel, keyshift)   [1]
    dataset/44k/<speaker>/<name>.wav.aug_vol.npy  (T,) float32 volume of the gained copy [1]
    dataset/44k/<speaker>/<name>.wav.soft.pt    torch float32 (1, dims, frames) units     [2]

with ``T = len // 512``. [1] only for a dataset built with the NSF-HiFiGAN mel
(``--preset sovits-4.1-diffusion``); [2] only with ``--encoder``.

Formats, checked against so-vits' loaders:

* so-vits reads its wavs as int16 and divides by 32768. The sovits presets round each
  item to the 16-bit grid before any feature (``features.sample_format = "pcm16"``), so
  the PCM_16 wav holds exactly the samples the F0, volume and mels were computed from;
  the export refuses a dataset that is not on that grid.
* so-vits saves ``.f0.npy`` as a pickled ``(f0, uv)`` object array and reads it with
  ``f0, uv = np.load(path, allow_pickle=True)`` followed by ``np.array(x, dtype=float)``;
  a plain float ``(2, T)`` array unpacks into the same two rows without any pickle.
* ``.aug_mel.npy`` has to be the pickled object pair so-vits indexes
  (``aug_mel, keyshift = np.load(path, allow_pickle=True)``), so it is written with
  ``allow_pickle=True``. The gain and key shift are drawn per item by
  :meth:`ExportJob.augmentation` from a generator seeded with the item id, by so-vits'
  rule (gain ``10 ** U(-1, min(1, log10(1 / (peak + 1e-5))))``, then ``U(-5, 5)``
  semitones); the mel is that of the gained audio with the key shift, the volume that of
  the gained audio.

Encoder settings (``model.speech_encoder``, ``ssl_dim``, ``gin_channels``,
``filter_channels``; ``data.encoder`` and ``encoder_out_channels`` for diffusion) follow
what ``preprocess_flist_config.py --speech_encoder`` sets, chosen from the width of the
units: 768 -> ``vec768l12``, 256 -> ``vec256l9``, 1024 -> ``whisper-ppg``, 1280 ->
``whisper-ppg-large``. Other encoders of the same width (``hubertsoft``,
``cnhubertlarge``, ``dphubert``, ``wavlmbase+``) train identically; the name only matters
at inference, where so-vits runs the named encoder on the source audio, so the report
asks to set it when it differs. Without an encoder the config names ``vec768l12``
(so-vits' default), which ``preprocess_hubert_f0.py`` then computes.
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import math
import shlex
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.errors import ConfigError
from svcprep.export.common import ExportItem, ExportJob, check_grid, yaml_text
from svcprep.export.content import UNIT_HOP_16K

__all__ = ["ENCODERS", "config_json", "diffusion_yaml", "export_sovits"]

SAMPLE_RATE_HZ = 44100
HOP = 512
#: preprocess_flist_config.py leaves out wavs shorter than this.
MIN_DURATION_S = 0.3
#: diffusion_template.yaml's ``data.duration`` (the training crop); the diffusion loader
#: skips every clip shorter than it plus this margin.
DIFFUSION_CROP_S = 2
DIFFUSION_MARGIN_S = 0.1
#: preprocess_flist_config.py's default ``--speech_encoder``.
DEFAULT_ENCODER = "vec768l12"

#: units width -> (speech_encoder, filter_channels), as preprocess_flist_config.py sets
#: them for that encoder (None: the template's filter_channels stays).
ENCODERS: dict[int, tuple[str, int | None]] = {
    768: ("vec768l12", 768),
    256: ("vec256l9", None),
    1024: ("whisper-ppg", 1024),
    1280: ("whisper-ppg-large", 1280),
}
#: so-vits' other encoders of each width (they train the same; inference runs the named one).
_SAME_WIDTH = {768: "dphubert, wavlmbase+", 256: "hubertsoft", 1024: "cnhubertlarge", 1280: ""}
#: the pretrain/ checkpoint each named encoder loads.
_CHECKPOINTS = {
    "vec768l12": "pretrain/checkpoint_best_legacy_500.pt",
    "vec256l9": "pretrain/checkpoint_best_legacy_500.pt",
    "whisper-ppg": "pretrain/medium.pt",
    "whisper-ppg-large": "pretrain/large-v2.pt",
}

# configs_template/config_template.json of so-vits-svc 4.1-Stable, every key and value.
_CONFIG_TEMPLATE: dict[str, Any] = {
    "train": {
        "log_interval": 200,
        "eval_interval": 800,
        "seed": 1234,
        "epochs": 10000,
        "learning_rate": 0.0001,
        "betas": [0.8, 0.99],
        "eps": 1e-09,
        "batch_size": 6,
        "fp16_run": False,
        "half_type": "fp16",
        "lr_decay": 0.999875,
        "segment_size": 10240,
        "init_lr_ratio": 1,
        "warmup_epochs": 0,
        "c_mel": 45,
        "c_kl": 1.0,
        "use_sr": True,
        "max_speclen": 512,
        "port": "8001",
        "keep_ckpts": 3,
        "all_in_mem": False,
        "vol_aug": False,
    },
    "data": {
        "training_files": "filelists/train.txt",
        "validation_files": "filelists/val.txt",
        "max_wav_value": 32768.0,
        "sampling_rate": 44100,
        "filter_length": 2048,
        "hop_length": 512,
        "win_length": 2048,
        "n_mel_channels": 80,
        "mel_fmin": 0.0,
        "mel_fmax": 22050,
        "unit_interpolate_mode": "nearest",
    },
    "model": {
        "inter_channels": 192,
        "hidden_channels": 192,
        "filter_channels": 768,
        "n_heads": 2,
        "n_layers": 6,
        "kernel_size": 3,
        "p_dropout": 0.1,
        "resblock": "1",
        "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "upsample_rates": [8, 8, 2, 2, 2],
        "upsample_initial_channel": 512,
        "upsample_kernel_sizes": [16, 16, 4, 4, 4],
        "n_layers_q": 3,
        "n_layers_trans_flow": 3,
        "n_flow_layer": 4,
        "use_spectral_norm": False,
        "gin_channels": 768,
        "ssl_dim": 768,
        "n_speakers": 200,
        "vocoder_name": "nsf-hifigan",
        "speech_encoder": "vec768l12",
        "speaker_embedding": False,
        "vol_embedding": False,
        "use_depthwise_conv": False,
        "flow_share_parameter": False,
        "use_automatic_f0_prediction": True,
        "use_transformer_flow": False,
    },
    "spk": {},
}

# configs_template/diffusion_template.yaml of so-vits-svc 4.1-Stable, every key and value.
_DIFFUSION_TEMPLATE: dict[str, Any] = {
    "data": {
        "sampling_rate": 44100,
        "block_size": 512,
        "duration": DIFFUSION_CROP_S,
        "encoder": "vec768l12",
        "cnhubertsoft_gate": 10,
        "encoder_sample_rate": 16000,
        "encoder_hop_size": 320,
        "encoder_out_channels": 768,
        "training_files": "filelists/train.txt",
        "validation_files": "filelists/val.txt",
        "extensions": ["wav"],
        "unit_interpolate_mode": "nearest",
    },
    "model": {
        "type": "Diffusion",
        "n_layers": 20,
        "n_chans": 512,
        "n_hidden": 256,
        "use_pitch_aug": True,
        "timesteps": 1000,
        "k_step_max": 0,
        "n_spk": 1,
    },
    "device": "cuda",
    "vocoder": {"type": "nsf-hifigan", "ckpt": "pretrain/nsf_hifigan/model"},
    "infer": {"speedup": 10, "method": "dpm-solver++"},
    "env": {"expdir": "logs/44k/diffusion", "gpu_id": 0},
    "train": {
        "num_workers": 4,
        "amp_dtype": "fp32",
        "batch_size": 48,
        "cache_all_data": True,
        "cache_device": "cpu",
        "cache_fp16": True,
        "epochs": 100000,
        "interval_log": 10,
        "interval_val": 2000,
        "interval_force_save": 5000,
        "lr": 0.0001,
        "decay_step": 100000,
        "gamma": 0.5,
        "weight_decay": 0,
        "save_opt": False,
    },
    "spk": {},
}


def config_json(speakers: dict[str, int], *, units_dims: int | None) -> dict[str, Any]:
    """``configs/config.json`` as ``preprocess_flist_config.py`` fills the template.

    ``units_dims`` None (no encoder) names so-vits' default encoder ``vec768l12``.
    """
    cfg = copy.deepcopy(_CONFIG_TEMPLATE)
    name, filter_channels = ENCODERS[768 if units_dims is None else units_dims]
    model = cfg["model"]
    model["n_speakers"] = len(speakers)
    model["speech_encoder"] = name
    model["ssl_dim"] = model["gin_channels"] = 768 if units_dims is None else units_dims
    if filter_channels is not None:
        model["filter_channels"] = filter_channels
    cfg["data"]["sampling_rate"] = SAMPLE_RATE_HZ
    cfg["data"]["hop_length"] = HOP
    cfg["data"]["training_files"] = "filelists/train.txt"
    cfg["data"]["validation_files"] = "filelists/val.txt"
    cfg["spk"] = dict(speakers)
    return cfg


def diffusion_yaml(
    speakers: dict[str, int], *, units_dims: int | None, duration_s: float = DIFFUSION_CROP_S
) -> dict[str, Any]:
    """``configs/diffusion.yaml`` as ``preprocess_flist_config.py`` fills the template."""
    cfg = copy.deepcopy(_DIFFUSION_TEMPLATE)
    dims = 768 if units_dims is None else units_dims
    cfg["data"]["encoder"] = ENCODERS[dims][0]
    cfg["data"]["encoder_out_channels"] = dims
    cfg["data"]["duration"] = duration_s
    cfg["data"]["training_files"] = "filelists/train.txt"
    cfg["data"]["validation_files"] = "filelists/val.txt"
    cfg["model"]["n_spk"] = len(speakers)
    cfg["spk"] = dict(speakers)
    return cfg


# ---- the export ------------------------------------------------------------------------------


def _is_nsf_mel(mel: dict[str, object]) -> bool:
    return (
        mel.get("n_mels") == 128
        and mel.get("n_fft") == 2048
        and mel.get("win_length") == 2048
        and mel.get("padding") == "nsf_hifigan"
        and mel.get("fmin_hz") == 40.0
        and mel.get("fmax_hz") == 16000.0
        and mel.get("log_base") == "e"
    )


def _pcm16(item: ExportItem) -> npt.NDArray[np.int16]:
    """The item's audio as int16 samples; ConfigError unless it lies on the 16-bit grid."""
    scaled = item.audio.astype(np.float64) * 32768.0
    q = np.round(scaled)
    if not np.array_equal(q, scaled) or (q.size and (q.min() < -32768 or q.max() > 32767)):
        raise ConfigError(
            f"item {item.id!r}: its audio is not on the 16-bit grid, so a PCM_16 wav of it would not hold "
            "the samples its features were computed from"
        )
    return q.astype(np.int16)


def _pickled(obj: npt.NDArray[Any]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, obj, allow_pickle=True)
    return buf.getvalue()


def _diffusion_crop(job: ExportJob) -> float:
    """``data.duration`` for diffusion.yaml: the template's 2 s unless a whole list is shorter.

    so-vits' diffusion loader replaces every clip shorter than ``duration + 0.1`` s by the
    next one in its list, and recurses forever when all of them are.
    """
    sr = job.sample_rate
    crop: float = DIFFUSION_CROP_S
    for which in ("train", "val"):
        durations = [it.audio.size / sr for it in job.items if it.split == which]
        longest = max(durations, default=math.inf)
        if longest < crop + DIFFUSION_MARGIN_S:
            # 10 ms below the limit, so that rounding cannot make the loader skip the longest clip
            crop = math.floor((longest - DIFFUSION_MARGIN_S - 0.01) * 100) / 100
            job.notes.append(
                f"configs/diffusion.yaml: data.duration (the diffusion training crop) is {crop} s instead of "
                f"{DIFFUSION_CROP_S} s: every {which} item is shorter than "
                f"{DIFFUSION_CROP_S + DIFFUSION_MARGIN_S} s, and so-vits' diffusion loader skips clips "
                "shorter than data.duration + 0.1 s (looping forever when it skips all)"
            )
    short = sum(1 for it in job.items if it.audio.size / sr < crop + DIFFUSION_MARGIN_S)
    if short:
        job.notes.append(
            f"{short} item(s) are shorter than {crop + DIFFUSION_MARGIN_S:g} s: so-vits' diffusion loader "
            "replaces them by the next clip in the list (they still train the main model)"
        )
    return crop


def export_sovits(job: ExportJob) -> None:
    """Write a so-vits-svc 4.1 training folder (main model and shallow diffusion) into ``job.dest``."""
    mel_cfg = job.mel_config
    with_mel = _is_nsf_mel(mel_cfg)
    preset = "sovits-4.1-diffusion" if with_mel else "sovits-4.1"
    check_grid(job.ds, "sovits", frame_count="floor", preset=preset, rates=(SAMPLE_RATE_HZ,))
    cfg = job.ds.config
    rebuild = f"Rebuild it with `svcprep build RAW OUT --preset {preset}`"
    if job.hop_length != HOP:
        raise ConfigError(
            f"the dataset in {job.ds.root} (version {job.ds.version}) has hop {job.hop_length} where "
            f"so-vits-svc 4.1 needs {HOP}. {rebuild}"
        )
    sample_format = cfg.get("features", {}).get("sample_format", "float32")
    if sample_format != "pcm16":
        raise ConfigError(
            f"the dataset in {job.ds.root} (version {job.ds.version}) has features.sample_format="
            f"{sample_format!r}: so-vits-svc reads its wavs as 16-bit PCM, so its features must be computed "
            f"on 16-bit samples (features.sample_format='pcm16'). {rebuild}"
        )
    torch: Any = None
    if job.has_units:
        try:
            torch = importlib.import_module("torch")
        except ImportError:
            raise ConfigError(
                "--encoder: so-vits-svc's .soft.pt files are torch tensors and torch is not installed: "
                "pip install torch, or export without --encoder and let preprocess_hubert_f0.py make them"
            ) from None
    import soundfile as sf

    sr = job.sample_rate

    def long_enough(it: ExportItem) -> str | None:
        dur = it.audio.size / sr
        return None if dur >= MIN_DURATION_S else f"shorter than so-vits' {MIN_DURATION_S} s minimum"

    job.keep(long_enough)
    for which, flag in (("train", ""), ("val", " (--val-items)")):
        if not any(it.split == which for it in job.items):
            raise ConfigError(
                f"no {which} item to export: so-vits-svc's train.py needs at least one in filelists/"
                f"{which}.txt (its evaluation fails on an empty validation list); change the split{flag}"
            )
    folders = {spk: job.speakers[spk] for spk in sorted({i.speaker for i in job.items})}
    speakers = {folders[spk]: i for i, spk in enumerate(sorted(folders, key=lambda s: folders[s]))}
    job.speaker_ids = dict(speakers)

    lists: dict[str, list[str]] = {"train": [], "val": []}
    dims: int | None = None
    for it in job.iter_items():
        base = f"dataset/44k/{folders[it.speaker]}/{it.name}.wav"
        samples = _pcm16(it)
        job.write_wav(base, it.audio, sample_rate_hz=sr, subtype="PCM_16")
        back, back_sr = sf.read(job.staged(base), dtype="int16")
        if back_sr != SAMPLE_RATE_HZ or not np.array_equal(back, samples):
            raise ConfigError(f"{base}: the PCM_16 wav does not read back as the item's samples")
        n = samples.size // HOP
        f0 = np.asarray(it.arrays["f0"], dtype=np.float32)
        uv = (np.asarray(it.arrays["uv"]) > 0).astype(np.float32)
        vol = np.asarray(it.arrays["volume"], dtype=np.float32)
        if f0.shape[0] != n or uv.shape[0] != n or vol.shape[0] != n:
            raise ConfigError(f"item {it.id!r}: F0/volume frames differ from so-vits' len // 512 = {n}")
        job.write_npy(base + ".f0.npy", np.stack([f0, uv]))
        job.write_npy(base + ".vol.npy", vol)
        if with_mel:
            mel = np.asarray(it.arrays["mel"], dtype=np.float32)
            if mel.shape != (n, 128):
                raise ConfigError(f"item {it.id!r}: mel of shape {mel.shape} where so-vits reads ({n}, 128)")
            job.write_npy(base + ".mel.npy", mel)
            aug = job.augmentation(it, pitch_shift=True)
            pair = np.empty(2, dtype=object)
            pair[0] = np.ascontiguousarray(aug.mel[:n], dtype=np.float32)
            pair[1] = float(aug.keyshift_semitones)
            job.write_bytes(base + ".aug_mel.npy", _pickled(pair))
            job.write_npy(base + ".aug_vol.npy", np.asarray(aug.volume[:n], dtype=np.float32))
        units = job.content(it)
        if units is not None:
            if dims is None:
                dims = int(units.shape[1])
                if dims not in ENCODERS:
                    raise ConfigError(
                        f"the encoder gives {dims}-dimensional units; so-vits-svc 4.1's encoders give "
                        + ", ".join(f"{d} ({ENCODERS[d][0]})" for d in sorted(ENCODERS))
                    )
            elif units.shape[1] != dims:
                raise ConfigError(f"the encoder gave {units.shape[1]} dims for {it.id!r} and {dims} before")
            expected = job.audio_16k(it).size / UNIT_HOP_16K
            if abs(units.shape[0] - expected) > 3:
                raise ConfigError(
                    f"the encoder gave {units.shape[0]} frames for {it.id!r} where so-vits' encoders give "
                    f"one per {UNIT_HOP_16K} samples at 16 kHz (about {expected:.0f})"
                )
            buf = io.BytesIO()
            torch.save(torch.from_numpy(np.ascontiguousarray(units.T[None], dtype=np.float32)), buf)
            job.write_bytes(base + ".soft.pt", buf.getvalue())
        lists[it.split].append(f"./{base}")
    job.write_text("filelists/train.txt", "".join(f"{p}\n" for p in lists["train"]))
    job.write_text("filelists/val.txt", "".join(f"{p}\n" for p in lists["val"]))

    encoder_name = ENCODERS[768 if dims is None else dims][0]
    job.write_text("configs/config.json", json.dumps(config_json(speakers, units_dims=dims), indent=2) + "\n")
    crop = _diffusion_crop(job)
    dyaml = diffusion_yaml(speakers, units_dims=dims, duration_s=crop)
    job.write_text(
        "configs/diffusion.yaml",
        "# so-vits-svc 4.1 shallow diffusion (configs_template/diffusion_template.yaml, filled in)\n"
        + yaml_text(dyaml),
    )

    where = "in the so-vits-svc 4.1 folder"
    if not job.has_units:
        job.todo.append(
            f"<name>.wav.soft.pt ({encoder_name} content units, configs/config.json model.speech_encoder): "
            f"put {_CHECKPOINTS[encoder_name]} in place and run `python preprocess_hubert_f0.py "
            f"--f0_predictor harvest` {where}. It writes only the files that are missing (.soft.pt, and the "
            ".spec.pt it would otherwise leave to train.py): every .f0.npy, .vol.npy"
            + (", .mel.npy, .aug_mel.npy and .aug_vol.npy" if with_mel else "")
            + " written here is kept, and the F0 predictor only runs for a wav without .f0.npy (harvest is "
            "the one this F0 reproduces; so-vits' default is rmvpe)"
        )
    else:
        alt = _SAME_WIDTH[dims or 768]
        job.notes.append(
            f"the {dims}-dimensional units are written as so-vits' {encoder_name} (model.speech_encoder, "
            f"diffusion data.encoder)"
            + (f"; if they come from {alt}, set that name in both configs" if alt else "")
            + ": so-vits runs the named encoder on the source audio at inference"
        )
    if with_mel:
        job.notes.append(
            "shallow diffusion: .mel.npy is the NSF-HiFiGAN mel, .aug_mel.npy/.aug_vol.npy the random gain + "
            "key-shift copy so-vits' preprocess makes, drawn per item from a generator seeded with the item "
            "id (so-vits draws them unseeded); train_diff.py loads pretrain/nsf_hifigan/config.json at "
            "start (and the model weights for validation): unzip openvpi's nsf_hifigan_20221211.zip there"
        )
    else:
        job.notes.append(
            "shallow diffusion is not prepared: the dataset's mel is not the 128-bin NSF-HiFiGAN mel, so no "
            ".mel.npy/.aug_mel.npy/.aug_vol.npy is written (configs/diffusion.yaml is, because "
            "preprocess_hubert_f0.py reads it even without --use_diff). To train it, put "
            "pretrain/nsf_hifigan/ in place and run `python preprocess_hubert_f0.py --f0_predictor harvest "
            f"--use_diff` {where} (it adds the missing mel and augmentation files), or rebuild with "
            "`svcprep build RAW OUT --preset sovits-4.1-diffusion` and export again"
        )
    if cfg.get("f0", {}).get("match", "none") != "sovits":
        job.notes.append(
            "the F0 in .f0.npy is svcprep's own (f0.match is not 'sovits'), not what so-vits' harvest "
            "predictor computes; build with --preset sovits-4.1 / sovits-4.1-diffusion for so-vits' F0, or "
            "delete the .f0.npy files and let preprocess_hubert_f0.py recompute them"
        )
    job.notes.append(
        "copy dataset/, filelists/ and configs/ into the so-vits-svc folder as they are and skip resample.py "
        "and preprocess_flist_config.py: they would rewrite the wavs, the configs and the split (so-vits "
        "puts 2 random wavs per speaker into val; here val is svcprep's split). Speaker ids follow the "
        "folder names' sorted order (config spk / diffusion spk). The .spec.pt files are made by so-vits' "
        "loader on first read; logs/44k/G_0.pth and D_0.pth (pretrained base) are optional"
    )
    dest = shlex.quote(str(job.dest))
    job.next_steps.append(f"cp -r {dest}/dataset {dest}/filelists {dest}/configs /path/to/so-vits-svc/")
    if not job.has_units:
        job.next_steps.append("python preprocess_hubert_f0.py --f0_predictor harvest")
    job.next_steps.append("python train.py -c configs/config.json -m 44k")
    if with_mel:
        job.next_steps.append("python train_diff.py -c configs/diffusion.yaml")
