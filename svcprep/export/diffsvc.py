"""Diff-SVC (prophesier/diff-svc) raw data and one complete config per speaker.

Diff-SVC trains one single-speaker model per config. Its ``preprocessing/binarize.py``
lists every ``*.wav`` below ``raw_data_dir`` (``Path.rglob``; the item name is the path
string as rglob yields it), splits them by ``test_prefixes`` (``str.startswith`` on that
path when ``choose_test_manually`` is true, else the last 5 names in sorted order) and
computes the mel, the F0 and, unless ``<wav stem>.npy`` exists next to the wav, the
HuBERT-soft units itself. Copied into the Diff-SVC folder (the commands run there), the
export is, with ``<exp>`` = ``<experiment>_<speaker>``::

    data/raw/<exp>/<name>.wav            float32 mono WAV at 44.1 kHz: the dataset's samples
    data/raw/<exp>/<name>.npy            (U, 256) float32 content units, U = N_16k // 320
                                         (with --encoder; the binarizer loads them as is)
    training/svcprep-<exp>.yaml          base_config training/config_nsf.yaml plus every key
                                         this dataset sets; config_path names the file itself
    data/svcprep/<exp>/<name>.f0.npy     (T,) svcprep's F0 in Hz, unvoiced interpolated,
    data/svcprep/<exp>/<name>.uv.npy     (T,) uint8 voicing (1 voiced) and
    data/svcprep/<exp>/<name>.mel.npy    (T, 128) log10 NSF mel, T = len // 512: svcprep's
                                         features of exactly the exported samples, for
                                         checking; Diff-SVC reads none of them

Checked against Diff-SVC's source (branch main):

* ``test_prefixes`` are the exported wavs' paths exactly as ``rglob`` lists them from
  the Diff-SVC folder (``data/raw/<exp>/<name>.wav``, and the same with backslashes for
  Windows), so ``startswith`` selects exactly svcprep's validation items (a name has no
  dot, so no prefix also matches another wav). ``choose_test_manually: true`` makes the
  binarizer use them; without it a small speaker's last five files all become test items
  and the binarizer fails on an empty training set.
* The binarizer needs at least one training item (it takes the maximum of the training
  mels) and the trainer saves checkpoints only when validation runs, so every speaker
  gets at least one item of each; a speaker with a single item cannot be trained and is
  left out, one without a validation item lends one of its training items.
* ``base_config`` entries not starting with ``.`` open relative to the working folder
  (the Diff-SVC folder); ``config_path`` must name this very file because the binarizer
  writes the training set's ``spec_min``/``spec_max`` into the file it names.
* Units: the model adds them to a ``hidden_size`` (256) pitch embedding, so they must be
  256 wide (HuBERT-soft's projection); the binarizer stretches any frame count over the
  mel (``mel2ph``), HuBERT-soft gives ``N_16k // 320``.
* The mel loader divides a float WAV by 32769 when its peak exceeds 1.01, so such items
  are left out rather than written louder or clipped.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from svcprep.errors import ConfigError
from svcprep.export.common import ExportItem, ExportJob, check_grid, yaml_text
from svcprep.export.content import UNIT_HOP_16K

__all__ = ["UNIT_DIMS", "diffsvc_config", "export_diffsvc"]

SAMPLE_RATE_HZ = 44100
HOP = 512
#: ``hidden_size`` of training/config_nsf.yaml: the width of the units the model takes.
UNIT_DIMS = 256
#: The template every exported config builds on (relative to the Diff-SVC folder).
BASE_CONFIG = "training/config_nsf.yaml"
#: Where Diff-SVC's HuBERT encoder looks for a checkpoint (only the folder matters).
HUBERT_PATH = "checkpoints/hubert/hubert_soft.pt"
#: Diff-SVC's NSF mel loader rescales float input whose peak exceeds this.
FLOAT_PEAK_LIMIT = 1.01


# ---- split ------------------------------------------------------------------------------


def _group(it: ExportItem) -> str:
    return it.record.variant_of or it.id


def lend_item(items: Sequence[ExportItem], *, to: str) -> list[ExportItem]:
    """Move one group of ``items`` (an item and its augmentation variants) into split ``to``.

    ``items`` all lie in the other split and there are at least 2 of them. With 2 or more
    groups the last group (by id) moves whole; with one group (an item and its variants)
    a single item moves, a variant rather than the original where there is one. Returns
    the items moved.
    """
    groups: dict[str, list[ExportItem]] = {}
    for it in sorted(items, key=lambda i: i.id):
        groups.setdefault(_group(it), []).append(it)
    if len(groups) >= 2:
        moved = groups[sorted(groups)[-1 if to == "val" else 0]]
    else:
        (members,) = groups.values()
        variants = [i for i in members if i.record.variant_of is not None]
        moved = [(variants or members)[-1]]
    for it in moved:
        it.split = to
    return moved


def balance(items: Sequence[ExportItem]) -> str | None:
    """Give ``items`` (2 or more) at least one training and one validation item.

    Returns a sentence for the report when an item had to change sets, else None.
    """
    train = [i for i in items if i.split == "train"]
    val = [i for i in items if i.split == "val"]
    if val and train:
        return None
    if not val:
        moved = lend_item(train, to="val")
        return (
            f"svcprep's split has no validation item, so {', '.join(i.id for i in moved)} "
            "became the validation (test) set"
        )
    moved = lend_item(val, to="train")
    return f"svcprep's split has no training item, so {', '.join(i.id for i in moved)} became training items"


# ---- config -----------------------------------------------------------------------------


def diffsvc_config(
    *,
    config_path: str,
    raw_data_dir: str,
    binary_data_dir: str,
    speaker: str,
    test_prefixes: Iterable[str],
    mel: dict[str, Any],
    f0: dict[str, Any],
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    hop_length: int = HOP,
) -> dict[str, Any]:
    """The keys one speaker's config sets on top of ``training/config_nsf.yaml``."""
    n_mels = int(mel.get("n_mels", 128))
    return {
        "base_config": BASE_CONFIG,
        "config_path": config_path,
        "raw_data_dir": raw_data_dir,
        "binary_data_dir": binary_data_dir,
        "speaker_id": speaker,
        "choose_test_manually": True,
        "test_prefixes": list(test_prefixes),
        "audio_sample_rate": int(sample_rate_hz),
        "hop_size": int(hop_length),
        "fft_size": int(mel.get("n_fft", 2048)),
        "win_size": int(mel.get("win_length", 2048)),
        "audio_num_mel_bins": n_mels,
        "keep_bins": n_mels,
        "fmin": _number(mel.get("fmin_hz", 40)),
        "fmax": _number(mel.get("fmax_hz", 16000)),
        "f0_min": float(f0.get("f0_floor_hz", 40.0)),
        "f0_max": float(f0.get("f0_ceil_hz", 1100.0)),
        "hidden_size": UNIT_DIMS,
        "hubert_path": HUBERT_PATH,
        "use_vec": False,
        "num_spk": 1,
    }


def _number(x: Any) -> int | float:
    v = float(x)
    return int(v) if v.is_integer() else v


# ---- export -----------------------------------------------------------------------------


def export_diffsvc(job: ExportJob) -> None:
    """Write Diff-SVC raw data folders and one config per speaker into ``job.dest``."""
    check_grid(job.ds, "diff-svc", frame_count="floor", preset="diff-svc", rates=(SAMPLE_RATE_HZ,))
    sr, hop = job.sample_rate, job.hop_length
    if hop != HOP:
        raise ConfigError(
            f"the dataset in {job.ds.root} has hop {hop} where Diff-SVC's NSF-HiFiGAN config uses {HOP}. "
            "Rebuild it with `svcprep build RAW OUT --preset diff-svc`"
        )
    mel = job.mel_config
    f0 = dict(job.ds.config.get("f0", {}))

    def fits(it: ExportItem) -> str | None:
        if not np.any(np.asarray(it.arrays["uv"]) > 0):
            return "no voiced frame (Diff-SVC's binarizer skips items whose F0 is all zero)"
        if it.audio.size and float(np.max(np.abs(it.audio))) > FLOAT_PEAK_LIMIT:
            return (
                f"peak above {FLOAT_PEAK_LIMIT} (Diff-SVC reads such a float WAV as 16-bit values and "
                "divides it by 32769)"
            )
        return None

    job.keep(fits)
    by_speaker: dict[str, list[ExportItem]] = {}
    for it in job.items:
        by_speaker.setdefault(it.speaker, []).append(it)
    for spk, items in sorted(by_speaker.items()):
        if len(items) < 2:
            for it in items:
                job.skip(
                    it,
                    f"speaker {spk} has a single item: Diff-SVC needs at least one training and one "
                    "test item per model",
                    counted_as=["single item of its speaker (Diff-SVC needs a training and a test item)"],
                )
            del by_speaker[spk]
            job.notes.append(
                f"speaker {spk} was left out: one item cannot give Diff-SVC a training and a test set"
            )
            continue
        why = balance(items)
        if why is not None:
            job.notes.append(
                f"speaker {spk}: {why}; Diff-SVC saves checkpoints only when its test set is not empty"
            )
    job.items = [it for it in job.items if it.speaker in by_speaker]
    if not job.items:
        raise ConfigError(
            "nothing to export for Diff-SVC: every speaker needs at least two items (one to train on, "
            "one to test with)"
        )

    exps = {spk: f"{job.experiment}_{job.speakers[spk]}" for spk in by_speaker}
    job.speaker_ids = {job.speakers[spk]: 0 for spk in sorted(by_speaker)}
    frame_mismatch: list[str] = []
    test: dict[str, list[str]] = {spk: [] for spk in by_speaker}
    for it in job.iter_items():
        exp = exps[it.speaker]
        raw = f"data/raw/{exp}"
        wav = f"{raw}/{it.name}.wav"
        job.write_wav(wav, it.audio, sample_rate_hz=sr, subtype="FLOAT")
        ref = f"data/svcprep/{exp}/{it.name}"
        job.write_npy(ref + ".f0.npy", np.asarray(it.arrays["f0"], dtype=np.float32))
        job.write_npy(ref + ".uv.npy", np.asarray(it.arrays["uv"], dtype=np.uint8))
        job.write_npy(ref + ".mel.npy", np.asarray(it.arrays["mel"], dtype=np.float32))
        units = job.content(it)
        if units is not None:
            if units.shape[1] != UNIT_DIMS:
                raise ConfigError(
                    f"the encoder gives {units.shape[1]}-dimensional units where Diff-SVC's model takes "
                    f"{UNIT_DIMS} (HuBERT-soft's projection; hidden_size {UNIT_DIMS}) and its inference "
                    "computes HuBERT-soft units: use a HuBERT-soft encoder, or export without --encoder "
                    "and let the binarizer compute them"
                )
            expected = job.audio_16k(it).size // UNIT_HOP_16K
            if abs(units.shape[0] - expected) > 1:
                frame_mismatch.append(f"{it.id} ({units.shape[0]} frames, HuBERT-soft gives {expected})")
            job.write_npy(f"{raw}/{it.name}.npy", np.ascontiguousarray(units, dtype=np.float32))
        if it.split == "val":
            # The item name Diff-SVC's binarizer gives this wav: str() of rglob's path, with
            # "/" on Linux and macOS and "\\" on Windows; either form matches only its own OS.
            test[it.speaker].append(str(PurePosixPath(wav)))
            test[it.speaker].append(str(PureWindowsPath(wav)))

    configs: dict[str, str] = {}
    for spk in sorted(by_speaker):
        exp = exps[spk]
        path = f"training/svcprep-{exp}.yaml"
        configs[spk] = path
        doc = diffsvc_config(
            config_path=path,
            raw_data_dir=f"data/raw/{exp}",
            binary_data_dir=f"data/binary/{exp}",
            speaker=job.speakers[spk],
            test_prefixes=sorted(test[spk]),
            mel=mel,
            f0=f0,
            sample_rate_hz=sr,
            hop_length=hop,
        )
        header = [
            f"Diff-SVC config for speaker {spk!r} (model {exp}), written by svcprep.",
            "Run from the Diff-SVC folder: base_config, raw_data_dir, binary_data_dir and the",
            "test_prefixes (wav paths as the binarizer lists them) are relative to it. The binarizer",
            "writes spec_min/spec_max into this file (config_path); train with this same file.",
        ]
        job.write_text(path, yaml_text(doc, header))

    if not job.has_units:
        job.todo.append(
            "content units: preprocessing/binarize.py computes HuBERT-soft units itself from the "
            f"checkpoint in {PurePosixPath(HUBERT_PATH).parent}/ (it loads the first *.pt found there; on "
            "the GPU when hubert_gpu is true and CUDA is available), or re-export with --encoder to "
            "write data/raw/<model>/<name>.npy"
        )
    else:
        job.notes.append(
            "units: data/raw/<model>/<name>.npy next to each wav, (frames, 256) float32; Diff-SVC's "
            "binarizer loads them instead of running HuBERT. They must be HuBERT-soft units (what "
            "Diff-SVC's inference computes from checkpoints/hubert); another 256-wide encoder trains a "
            "model its inference cannot drive"
        )
        if frame_mismatch:
            job.notes.append(
                "the encoder's frame count differs from HuBERT-soft's N_16k // 320 for "
                + "; ".join(frame_mismatch[:3])
                + (f" and {len(frame_mismatch) - 3} more" if len(frame_mismatch) > 3 else "")
                + ": Diff-SVC stretches units evenly over the mel, so they still load"
            )
    job.todo.append(
        f"{PurePosixPath(HUBERT_PATH).parent}/hubert_soft.pt (the HuBERT-soft checkpoint): the binarizer "
        "loads the first *.pt in that folder before it reads any item, even when every unit is "
        "precomputed, and fails with IndexError when there is none"
    )
    job.todo.append(
        "checkpoints/nsf_hifigan/model and its config.json (the 44.1 kHz NSF-HiFiGAN vocoder of "
        "training/config_nsf.yaml's vocoder_ckpt), which training loads"
    )
    job.notes.append(
        "Diff-SVC's binarizer always recomputes the F0 (crepe on a CUDA GPU with the template's "
        "use_crepe: true; set use_crepe: false for parselmouth) and the mel from the wavs; svcprep's own "
        "F0, voicing and mel of exactly the exported samples are in data/svcprep/<model>/ for checking "
        "(Diff-SVC reads nothing there)"
    )
    job.notes.append(
        "the wavs are float32, the samples svcprep computed every feature from; Diff-SVC reads them with "
        "soundfile (mel, F0) and librosa (HuBERT)"
    )
    job.notes.append(
        "copy data/ and training/ into the Diff-SVC folder and run every command from there: the "
        "test_prefixes are the wav paths as the binarizer names its items (data/raw/<model>/<name>.wav), "
        "so raw_data_dir must stay as written; one model per speaker, "
        + ", ".join(f"{spk} -> checkpoints/{exps[spk]}" for spk in sorted(by_speaker))
    )
    src = shlex.quote(str(job.dest))
    job.next_steps.append(f"cp -r {src}/data {src}/training DIFF_SVC_FOLDER/ && cd DIFF_SVC_FOLDER")
    job.next_steps.append("export PYTHONPATH=.")
    for spk in sorted(by_speaker):
        job.next_steps.append(f"python preprocessing/binarize.py --config {configs[spk]}")
        job.next_steps.append(f"python run.py --config {configs[spk]} --exp_name {exps[spk]} --reset")
