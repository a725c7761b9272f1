"""RVC experiment folder: the content of ``logs/<experiment>`` in Retrieval-based-Voice-Conversion-WebUI.

Copied to ``<RVC root>/logs/<experiment>``, the export is what RVC's web UI leaves there
after its preprocess, F0 and feature steps and its training button, so RVC's
``train.py -e <experiment> ...`` (run, like every RVC script, from the RVC root) trains
on it as it is::

    config.json                 the template RVC's training button copies for this rate and
                                version (v2 32k/48k: configs/v2/<sr>.json; 40k, and every v1:
                                configs/v1/<sr>.json), written as the button writes it (sorted
                                keys, indent 4), with train.fp16_run = false and
                                data.training_files = ./logs/<experiment>/filelist.txt
    filelist.txt                one line per item, paths relative to the RVC root:
                                logs/<exp>/0_gt_wavs/<name>.wav|logs/<exp>/3_feature768/<name>.npy
                                |logs/<exp>/2a_f0/<name>.wav.npy|logs/<exp>/2b-f0nsf/<name>.wav.npy|<spk>
                                then RVC's two lines for its shipped silence (logs/mute/...)
    0_gt_wavs/<name>.wav        float32 WAV at the model rate (32/40/48 kHz)
    1_16k_wavs/<name>.wav       float32 WAV at 16 kHz (svcprep's soxr copy of the same audio)
    2a_f0/<name>.wav.npy        coarse F0, int64 codes 1..255 (1 = unvoiced), 10 ms frames
    2b-f0nsf/<name>.wav.npy     F0 in Hz, float64, 0 on unvoiced frames, 10 ms frames
    3_feature768/<name>.npy     content units (frames, 768) float32 at 20 ms; 3_feature256 for a
                                256-wide encoder (a v1 experiment); only with an encoder
    speakers.json               speaker -> the speaker id in filelist.txt

Formats and lengths, as RVC writes and reads them (20240604 branch; main is the same
unless said):

* Both wavs are written the way RVC's ``preprocess.py`` writes its own (an IEEE-float
  WAV from ``scipy.io.wavfile.write``); the training loader reads the ground truth with
  ``scipy.io.wavfile.read`` and uses the samples as they are (no division by
  ``max_wav_value``), so it has to be float in [-1, 1].
* The F0 files are what RVC's ``extract_f0_print.py`` writes: ``len16 // 160 + 1`` frames
  (``len16`` = samples of the 16 kHz wav), Hz as float64 with 0 where unvoiced, and the
  coarse codes of RVC's formula (``1127 ln(1 + f0/700)`` mapped linearly from 50 Hz -> 1 to
  1100 Hz -> 255, clipped to 1..255, rounded half to even) as numpy's default int.
  The first ``len // hop`` frames (svcprep's grid) are the dataset's F0: for an ``rvc-*``
  preset (``f0.match = "rvc"``, native voicing) that is RVC's own harvest + StoneMask at
  16 kHz, 10 ms, 50-1100 Hz on exactly the 16 kHz samples of ``1_16k_wavs``. The one or two
  frames RVC's track has past the grid (the last 10-20 ms) are written unvoiced rather
  than recomputing harvest for them: RVC's loader never reads them, because it cuts the
  pitch to twice the unit frames, ``2 * ((len16 - 400) // 320 + 1) <= len16 // 160``.
* Units have RVC's feature-step frame count ``(len16 - 400) // 320 + 1`` (HuBERT's
  400-sample window, 320-sample stride); an encoder that returns another count is cut,
  or its last frame repeated, to that count.
* RVC's bucket sampler (boundaries 100..900) silently drops an item whose
  ``file size // (3 * hop)`` is not in (100, 900], about 0.76-6.76 s for float32 wavs;
  the export leaves such items out and reports them.
* Names never contain ``wav`` (RVC's feature step names its output
  ``file.replace("wav", "npy")``), dots (RVC's filelist step splits names at the first
  dot) or ``spec`` (its F0 step skips every path containing ``spec``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import shlex
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.errors import ConfigError
from svcprep.export.common import ExportItem, ExportJob, check_grid
from svcprep.export.content import UNIT_HOP_16K, align_units

__all__ = [
    "BUCKET_BOUNDARIES",
    "RATES",
    "SPK_EMBED_DIM",
    "coarse_f0_rvc",
    "config_text",
    "export_rvc",
    "f0_frames",
    "filelist_line",
    "length_problem",
    "mute_line",
    "rvc_config",
    "template_name",
    "unit_frames",
    "wav_bytes",
]

#: Model rates RVC trains at and the ``-sr`` / file-name tag of each.
RATES = {32000: "32k", 40000: "40k", 48000: "48k"}

#: ``model.spk_embed_dim`` in every RVC template: speaker ids must be below it.
SPK_EMBED_DIM = 109

#: First and last boundary of RVC's ``DistributedBucketSampler`` (``train.py``): an item is
#: kept when ``BUCKET_BOUNDARIES[0] < getsize(wav) // (3 * hop) <= BUCKET_BOUNDARIES[1]``.
BUCKET_BOUNDARIES = (100, 900)

#: Content-unit width -> RVC model version (``3_feature<width>``).
VERSION_BY_DIMS = {768: "v2", 256: "v1"}

F0_RATE_HZ = 16000  # RVC's F0 step: 16 kHz audio, hop 160 (10 ms)
F0_HOP = 160
UNIT_WINDOW = 400  # HuBERT's receptive field at 16 kHz; stride UNIT_HOP_16K = 320

# ---- config.json ---------------------------------------------------------------------------
#
# RVC's five templates share everything but these values (facts read from configs/v1/*.json
# and configs/v2/*.json): filter/win length, hop, mel bins, segment size, upsampling.
_TEMPLATE_VALUES: dict[str, dict[str, Any]] = {
    "v1/32k.json": {
        "sr": 32000, "n_fft": 1024, "hop": 320, "n_mels": 80, "segment": 12800,
        "rates": [10, 4, 2, 2, 2], "kernels": [16, 16, 4, 4, 4],
    },
    "v1/40k.json": {
        "sr": 40000, "n_fft": 2048, "hop": 400, "n_mels": 125, "segment": 12800,
        "rates": [10, 10, 2, 2], "kernels": [16, 16, 4, 4],
    },
    "v1/48k.json": {
        "sr": 48000, "n_fft": 2048, "hop": 480, "n_mels": 128, "segment": 11520,
        "rates": [10, 6, 2, 2, 2], "kernels": [16, 16, 4, 4, 4],
    },
    "v2/32k.json": {
        "sr": 32000, "n_fft": 1024, "hop": 320, "n_mels": 80, "segment": 12800,
        "rates": [10, 8, 2, 2], "kernels": [20, 16, 4, 4],
    },
    "v2/48k.json": {
        "sr": 48000, "n_fft": 2048, "hop": 480, "n_mels": 128, "segment": 17280,
        "rates": [12, 10, 2, 2], "kernels": [24, 20, 4, 4],
    },
}  # fmt: skip


def template_name(sample_rate_hz: int, version: str = "v2") -> str:
    """The template RVC's training button copies: ``v1/<sr>.json`` for v1 and for 40 kHz, else ``v2``.

    RVC has no ``configs/v2/40k.json``; a v2 40 kHz model trains with the v1 40k config.
    """
    if sample_rate_hz not in RATES:
        raise ConfigError(f"RVC trains at 32000, 40000 or 48000 Hz, not {sample_rate_hz}")
    if version not in ("v1", "v2"):
        raise ConfigError(f"RVC model version {version!r}: use 'v1' or 'v2'")
    tag = RATES[sample_rate_hz]
    return f"v1/{tag}.json" if version == "v1" or tag == "40k" else f"v2/{tag}.json"


def rvc_config(sample_rate_hz: int, version: str = "v2", *, experiment: str) -> dict[str, Any]:
    """``logs/<experiment>/config.json`` as RVC's training button writes it, every key.

    The template of :func:`template_name`, with ``train.fp16_run = False`` (what RVC
    itself sets on CPU, MPS and the GPUs it runs in fp32; the main branch ignores the
    key and picks the precision at run time) and ``data.training_files`` set to
    ``./logs/<experiment>/filelist.txt``, the value RVC's ``utils.get_hparams`` gives it
    (it overrides the key, so the template has none; stating it does no harm).
    """
    v = _TEMPLATE_VALUES[template_name(sample_rate_hz, version)]
    return {
        "data": {
            "filter_length": v["n_fft"],
            "hop_length": v["hop"],
            "max_wav_value": 32768.0,
            "mel_fmax": None,
            "mel_fmin": 0.0,
            "n_mel_channels": v["n_mels"],
            "sampling_rate": v["sr"],
            "training_files": f"./logs/{experiment}/filelist.txt",
            "win_length": v["n_fft"],
        },
        "model": {
            "filter_channels": 768,
            "gin_channels": 256,
            "hidden_channels": 192,
            "inter_channels": 192,
            "kernel_size": 3,
            "n_heads": 2,
            "n_layers": 6,
            "p_dropout": 0,
            "resblock": "1",
            "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
            "resblock_kernel_sizes": [3, 7, 11],
            "spk_embed_dim": SPK_EMBED_DIM,
            "upsample_initial_channel": 512,
            "upsample_kernel_sizes": list(v["kernels"]),
            "upsample_rates": list(v["rates"]),
            "use_spectral_norm": False,
        },
        "train": {
            "batch_size": 4,
            "betas": [0.8, 0.99],
            "c_kl": 1.0,
            "c_mel": 45,
            "epochs": 20000,
            "eps": 1e-09,
            "fp16_run": False,
            "init_lr_ratio": 1,
            "learning_rate": 0.0001,
            "log_interval": 200,
            "lr_decay": 0.999875,
            "seed": 1234,
            "segment_size": v["segment"],
            "warmup_epochs": 0,
        },
    }


def config_text(config: dict[str, Any]) -> str:
    """The file text, as RVC's button dumps it: sorted keys, indent 4, a final newline."""
    return json.dumps(config, ensure_ascii=False, indent=4, sort_keys=True) + "\n"


# ---- frames, F0 and wavs -------------------------------------------------------------------


def f0_frames(n_samples_16k: int) -> int:
    """Frames of RVC's harvest/dio track of a 16 kHz wav: ``len16 // 160 + 1``."""
    return int(n_samples_16k) // F0_HOP + 1


def unit_frames(n_samples_16k: int) -> int:
    """Frames RVC's feature step (HuBERT) writes for a 16 kHz wav: ``(len16 - 400) // 320 + 1``."""
    return max(0, (int(n_samples_16k) - UNIT_WINDOW) // UNIT_HOP_16K + 1)


def coarse_f0_rvc(f0_hz: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """RVC's coarse F0 of an F0 track (Hz, 0 = unvoiced): int64 codes 1..255.

    ``m = 1127 ln(1 + f0 / 700)``; where ``m > 0`` it is mapped linearly so that 50 Hz
    gives 1 and 1100 Hz gives 255 (256 bins less the unused 0 and the top); values at or
    below 1 become 1, above 255 become 255; then rounded half to even.
    """
    f0 = np.asarray(f0_hz, dtype=np.float64)
    mel_lo = 1127.0 * np.log(1.0 + 50.0 / 700.0)
    mel_hi = 1127.0 * np.log(1.0 + 1100.0 / 700.0)
    mel = 1127.0 * np.log(1.0 + f0 / 700.0)
    scaled = np.where(mel > 0, (mel - mel_lo) * 254.0 / (mel_hi - mel_lo) + 1.0, mel)
    return np.rint(np.clip(scaled, 1.0, 255.0)).astype(np.int64)


def wav_bytes(y: npt.ArrayLike, sample_rate_hz: int) -> bytes:
    """A float32 WAV as RVC's preprocess writes it (``scipy.io.wavfile.write``)."""
    from scipy.io import wavfile

    a = np.ascontiguousarray(y, dtype=np.float32)
    if a.ndim != 1 or not np.isfinite(a).all():
        raise ValueError("RVC wavs are 1-D finite float32 audio")
    buf = io.BytesIO()
    wavfile.write(buf, int(sample_rate_hz), a)
    return buf.getvalue()


def _wav_header_bytes(sample_rate_hz: int) -> int:
    return len(wav_bytes(np.zeros(1, np.float32), sample_rate_hz)) - 4


def length_problem(n_samples: int, sample_rate_hz: int, *, header_bytes: int | None = None) -> str | None:
    """Why RVC's bucket sampler would drop a float32 ground-truth wav of ``n_samples``; None if kept.

    RVC's loader takes ``getsize(wav) // (3 * hop_length)`` as the item's length and its
    sampler keeps only lengths in ``(100, 900]``.
    """
    hop = sample_rate_hz // 100
    header = _wav_header_bytes(sample_rate_hz) if header_bytes is None else header_bytes
    length = (header + 4 * int(n_samples)) // (3 * hop)
    lo, hi = BUCKET_BOUNDARIES
    if lo < length <= hi:
        return None
    # the shortest and longest kept clip, in seconds, for the message
    n_min = math.ceil(((lo + 1) * 3 * hop - header) / 4)
    n_max = ((hi + 1) * 3 * hop - 1 - header) // 4
    what = "too short" if length <= lo else "too long"
    return (
        f"{what} for RVC: its bucket sampler drops float32 clips outside "
        f"{n_min / sample_rate_hz:.3f}-{n_max / sample_rate_hz:.3f} s (rebuild with "
        "slice.min_segment_s / slice.max_segment_s inside that range)"
    )


# ---- filelist ------------------------------------------------------------------------------


def filelist_line(experiment: str, name: str, spk_id: int, *, feature_dims: int = 768) -> str:
    """One filelist line with RVC's five fields, paths relative to the RVC root."""
    e = f"logs/{experiment}"
    return (
        f"{e}/0_gt_wavs/{name}.wav|{e}/3_feature{feature_dims}/{name}.npy"
        f"|{e}/2a_f0/{name}.wav.npy|{e}/2b-f0nsf/{name}.wav.npy|{spk_id}"
    )


def mute_line(sample_rate_hz: int, spk_id: int = 0, *, feature_dims: int = 768) -> str:
    """RVC's silence line (its training button adds two), relative to the RVC root."""
    m = "logs/mute"
    return (
        f"{m}/0_gt_wavs/mute{RATES[sample_rate_hz]}.wav|{m}/3_feature{feature_dims}/mute.npy"
        f"|{m}/2a_f0/mute.wav.npy|{m}/2b-f0nsf/mute.wav.npy|{spk_id}"
    )


def _rvc_names(items: list[ExportItem]) -> dict[str, str]:
    """Item id -> file stem without ``spec`` (RVC's F0 step skips any path containing it)."""
    taken = {it.name.lower() for it in items}
    out = {}
    for it in items:
        name = it.name
        if "spec" in name:
            while "spec" in name:
                name = name.replace("spec", "spc")
            if name.lower() in taken:
                name = f"{name}_{hashlib.sha1(it.id.encode()).hexdigest()[:8]}"
            taken.add(name.lower())
        out[it.id] = name
    return out


# ---- the export ----------------------------------------------------------------------------


def _check_experiment(name: str) -> None:
    if name == "mute":
        raise ConfigError(
            "experiment name 'mute': RVC keeps its silence references in logs/mute; choose another --name"
        )
    if name.startswith("-"):
        raise ConfigError(f"experiment name {name!r}: RVC's -e option cannot take a name starting with '-'")


def _f0_match_is_rvc(job: ExportJob) -> bool:
    f0 = job.ds.config.get("f0", {})
    return bool(f0.get("match") == "rvc" and f0.get("voicing") == "native")


def export_rvc(job: ExportJob) -> None:
    """Write RVC's ``logs/<experiment>`` folder for the job (see the module docstring)."""
    check_grid(job.ds, "rvc", frame_count="floor", preset="rvc-v2-40k", rates=RATES)
    exp = job.experiment
    _check_experiment(exp)
    sr = job.sample_rate
    tag = RATES[sr]
    header = _wav_header_bytes(sr)

    speakers = sorted(job.speakers)
    job.speaker_ids = {spk: i for i, spk in enumerate(speakers)}
    job.keep(
        lambda it: (
            f"speaker id {job.speaker_ids[it.speaker]} is not below RVC's spk_embed_dim {SPK_EMBED_DIM}"
            if job.speaker_ids[it.speaker] >= SPK_EMBED_DIM
            else length_problem(it.audio.size, sr, header_bytes=header)
        )
    )
    left = {it.speaker for it in job.items}
    job.speaker_ids = {s: i for s, i in job.speaker_ids.items() if s in left}
    n_val = sum(it.split == "val" for it in job.items)
    for it in job.items:
        it.split = "train"  # RVC has no validation list: every line of filelist.txt is trained on
    names = _rvc_names(job.items)

    dims: set[int] = set()
    resized_units = 0
    rows: list[tuple[str, int]] = []
    for it in job.items:
        name = names[it.id]
        gt = wav_bytes(it.audio, sr)
        if len(gt) != header + 4 * it.audio.size:  # the length check above assumed this size
            raise RuntimeError(f"unexpected WAV size for {it.id}: {len(gt)} bytes")
        job.write_bytes(f"0_gt_wavs/{name}.wav", gt)
        a16 = job.audio_16k(it)
        job.write_bytes(f"1_16k_wavs/{name}.wav", wav_bytes(a16, F0_RATE_HZ))

        n_f0 = f0_frames(a16.size)
        grid_f0 = np.asarray(it.arrays["f0"], dtype=np.float64)
        voiced = np.asarray(it.arrays["uv"]) > 0
        m = min(n_f0, grid_f0.size)
        f0 = np.zeros(n_f0, dtype=np.float64)
        f0[:m] = np.where(voiced[:m], grid_f0[:m], 0.0)
        job.write_npy(f"2b-f0nsf/{name}.wav.npy", f0)
        job.write_npy(f"2a_f0/{name}.wav.npy", coarse_f0_rvc(f0))

        units = job.content(it)
        if units is not None:
            dims.add(int(units.shape[1]))
            if len(dims) > 1:
                raise ConfigError(f"the encoder returned units of different widths ({sorted(dims)})")
            n_units = unit_frames(a16.size)
            if units.shape[0] != n_units:
                resized_units += 1
                units = align_units(units, n_frames=n_units, frame_period_s=0.02, unit_period_s=0.02)
            job.write_npy(f"3_feature{units.shape[1]}/{name}.npy", np.asarray(units, dtype=np.float32))
        rows.append((name, job.speaker_ids[it.speaker]))

    width = dims.pop() if dims else 768
    if width not in VERSION_BY_DIMS:
        raise ConfigError(
            f"the encoder returned {width}-wide units; RVC's models take 768 (v2, HuBERT/ContentVec "
            "layer 12) or 256 (v1, layer 9 through final_proj)"
        )
    version = VERSION_BY_DIMS[width]
    lines = [filelist_line(exp, name, spk, feature_dims=width) for name, spk in rows]
    lines += [mute_line(sr, 0, feature_dims=width)] * 2
    job.write_text("filelist.txt", "\n".join(lines))  # RVC writes no final newline either
    job.write_text("config.json", config_text(rvc_config(sr, version, experiment=exp)))
    job.write_text("speakers.json", json.dumps(job.speaker_ids, indent=2, ensure_ascii=False) + "\n")
    _report(job, version=version, width=width, tag=tag, n_val=n_val, resized_units=resized_units)


def _report(job: ExportJob, *, version: str, width: int, tag: str, n_val: int, resized_units: int) -> None:
    exp = job.experiment
    feat = f"3_feature{width}"
    pre = "pretrained_v2" if version == "v2" else "pretrained"
    train_args = (
        f'-e "{exp}" -sr {tag} -f0 1 -bs 4 -g 0 -te 20 -se 5 -pg assets/{pre}/f0G{tag}.pth '
        f"-pd assets/{pre}/f0D{tag}.pth -l 0 -c 0 -sw 0 -v {version}"
    )
    feature_args = f"cuda:0 1 0 logs/{exp} {version} False"
    feature_old = f"python infer/modules/train/extract_feature_print.py {feature_args}"
    feature_main = f"PYTHONPATH=. python -P train/dataset/extract_hubert_feature.py {feature_args}"
    job.next_steps.append(
        f"# cp -r {shlex.quote(str(job.dest.resolve()))} <RVC root>/logs/{exp}  (a new folder), "
        "then in the RVC root:"
    )
    job.next_steps.append("# 20240604 branch:")
    if not job.has_units:
        job.todo.append(
            f"{feat}/<name>.npy (HuBERT units) for every item: RVC's feature step writes them from "
            f"1_16k_wavs (needs assets/hubert/hubert_base.pt): {feature_old}  "
            f"[main: {feature_main}, needs assets/hubert_base/]"
        )
        job.next_steps.append(feature_old)
    job.next_steps.append(f"python infer/modules/train/train.py {train_args}")
    job.next_steps.append(
        f"# index: web UI, Train tab, experiment {exp}, version {version}, 'Train feature index' "
        f"(writes logs/{exp}/added_IVF*_{exp}_{version}.index)"
    )
    job.next_steps.append("# main branch (no logs/mute in git: unzip its mute.zip into logs/ first):")
    if not job.has_units:
        job.next_steps.append(feature_main)
    job.next_steps.append(f"PYTHONPATH=. python -P train/train.py {train_args}")
    job.next_steps.append(f'PYTHONPATH=. python -P train/train_index.py "{exp}" {version} assets/indices 4')

    method = job.ds.config.get("f0", {}).get("method", "harvest")
    f0_note = (
        f"2a_f0 / 2b-f0nsf hold what RVC's F0 step writes: the dataset's F0, which for an rvc-* "
        f"preset is RVC's own {method} + StoneMask (16 kHz, 10 ms, 50-1100 Hz) on exactly the samples "
        "of 1_16k_wavs, float64 Hz with 0 where unvoiced, and RVC's coarse codes of it (int64). "
        "The files have RVC's len16 // 160 + 1 frames; the last 1-2, past svcprep's len // hop "
        "grid, are written unvoiced: RVC's loader cuts the pitch to twice the unit frames and never "
        "reads them"
    )
    if not _f0_match_is_rvc(job):
        f0 = job.ds.config.get("f0", {})
        f0_note += (
            f". This dataset's F0 is svcprep's {f0.get('method')} with {f0.get('voicing')} voicing "
            f"(f0.match={f0.get('match')!r}), not RVC's own extractor: rebuild with an rvc-* preset "
            "for RVC's harvest, or delete both folders and run RVC's F0 step "
            f"(python infer/modules/train/extract/extract_f0_print.py logs/{exp} 2 harvest)"
        )
    job.notes += [
        f"This folder is RVC's logs/{exp}: filelist.txt names its files relative to the RVC root "
        f"(logs/{exp}/...), the working folder RVC's train.py must run in, so copy it to exactly "
        f"<RVC root>/logs/{exp}. The two silence lines point to logs/mute, which the 20240604 "
        "branch ships and the main branch's README has you unzip from mute.zip.",
        f"config.json is RVC's configs/{template_name(job.sample_rate, version)} as its training "
        "button writes it (RVC has no v2 40k template; it trains v2 40k with the v1 one), with "
        "train.fp16_run = false: RVC's own value on CPU, MPS and older GPUs and always safe; set it "
        "to true for mixed precision on a recent NVIDIA GPU (the main branch ignores the key and "
        "chooses itself). train.py's -bs overrides train.batch_size.",
        f0_note + ".",
        "RVC recomputes the linear spectrogram from 0_gt_wavs during training (cached as "
        "0_gt_wavs/<name>.spec.pt); svcprep's mel and volume are not used.",
        f"Speakers: RVC's web UI trains one speaker (id 0) per experiment, but its loader reads the "
        f"id on every line, so this export keeps all {len(job.speaker_ids)} speaker(s) in one "
        f"multi-speaker model with the ids of speakers.json (below spk_embed_dim {SPK_EMBED_DIM}; "
        "choose the id as 'speaker id' at inference). The feature index mixes every speaker's units; "
        "export speakers separately for one model and index each.",
        "The main branch keeps its scripts in train/ (run them with PYTHONPATH=. python -P (3.11+) "
        "or python -m train.train ..., since plain python train/train.py imports itself as the "
        "package 'train'), loads HuBERT from assets/hubert_base/, and has no pyworld: its own F0 "
        "step offers only pm and rmvpe and interpolates unvoiced frames, while these files keep 0 "
        "there, which its loader reads the same way.",
    ]
    if n_val:
        job.notes.append(
            f"RVC has no validation set: svcprep's {n_val} validation item(s) are trained on like "
            "the others (export with val_items_per_speaker=0 to say so)."
        )
    if resized_units:
        job.notes.append(
            f"{resized_units} item(s): the encoder's frame count differed from RVC's "
            "(len16 - 400) // 320 + 1; units were cut or their last frame repeated to it."
        )
    if "spec" in exp:
        job.notes.append(
            f"The experiment name {exp!r} contains 'spec': RVC's own F0 step would skip every file "
            "of it (train.py does not care; the F0 files are already here)."
        )
