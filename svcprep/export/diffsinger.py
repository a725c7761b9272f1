"""DiffSinger (openvpi/DiffSinger) acoustic raw data and configs for v2.5+ (main) and v2.4.0.

DiffSinger's acoustic binarizer reads, per dataset, ``<raw_data_dir>/transcriptions.csv``
(columns ``name``, ``ph_seq``, ``ph_dur``) and ``<raw_data_dir>/wavs/<name>.wav``, and
computes the mel and F0 itself. Copied into the DiffSinger folder (the commands run
there), the export is::

    data/<experiment>/raw/<speaker>/wavs/<name>.wav       float32 mono WAV at 44.1 kHz
    data/<experiment>/raw/<speaker>/transcriptions.csv    name,ph_seq,ph_dur (the labels
                                                          are left empty for the user)
    configs/svcprep-<experiment>.yaml                     for v2.5 and later (main)
    configs/svcprep-<experiment>-v2.4.yaml                for v2.4.0 and earlier

Checked against DiffSinger's source (main and tag v2.4.0):

* v2.5+ reads a ``datasets:`` list (``raw_data_dir``, ``speaker``, ``spk_id``,
  ``language``, ``test_prefixes`` per entry) and ``dictionaries:`` (language -> file);
  each of a dataset's ``test_prefixes`` becomes ``<dataset index>:<prefix>``, and a
  prefix that equals an item key selects that one item, so the entries are svcprep's
  validation names of that dataset.
* v2.4.0 reads flat lists: ``raw_data_dir``, ``speakers`` (as many), ``spk_ids``, one
  global ``test_prefixes`` and one ``dictionary``; the prefixes are written as the full
  keys ``<dataset index>:<name>``, which select exactly one item each.
* Both need ``use_spk_id: true`` and ``num_spk`` greater than every speaker id for more
  than one speaker, and assert that the validation and the training set are not empty.
* ``base_config: configs/acoustic.yaml`` and every other path open relative to the
  working folder (the DiffSinger folder).
"""

from __future__ import annotations

import csv
import io
import shlex
from typing import Any

import numpy as np

from svcprep.errors import ConfigError
from svcprep.export.common import ExportItem, ExportJob, check_grid, yaml_text
from svcprep.export.diffsvc import balance

__all__ = ["DICTIONARY", "LANGUAGE", "config_v24", "config_v25", "export_diffsinger"]

SAMPLE_RATE_HZ = 44100
HOP = 512
#: The language name and dictionary the configs name (DiffSinger's shipped Mandarin one).
LANGUAGE = "zh"
DICTIONARY = "dictionaries/opencpop-extension.txt"


def _common(job: ExportJob, n_spk: int) -> dict[str, Any]:
    mel = job.mel_config
    f0 = dict(job.ds.config.get("f0", {}))

    def number(x: Any) -> int | float:
        v = float(x)
        return int(v) if v.is_integer() else v

    return {
        "use_spk_id": n_spk > 1,
        "num_spk": n_spk,
        "audio_sample_rate": job.sample_rate,
        "audio_num_mel_bins": int(mel.get("n_mels", 128)),
        "hop_size": job.hop_length,
        "fft_size": int(mel.get("n_fft", 2048)),
        "win_size": int(mel.get("win_length", 2048)),
        "fmin": number(mel.get("fmin_hz", 40)),
        "fmax": number(mel.get("fmax_hz", 16000)),
        "pe": "parselmouth",
        "f0_min": number(f0.get("f0_floor_hz", 65)),
        "f0_max": number(f0.get("f0_ceil_hz", 1100)),
        "hnsep": "world",
    }


def config_v25(job: ExportJob, datasets: list[dict[str, Any]], *, binary_data_dir: str) -> dict[str, Any]:
    """The v2.5+ (main) acoustic config: ``datasets`` entries ``raw_data_dir``, ``speaker``,
    ``spk_id``, ``test_prefixes`` (names)."""
    return {
        "base_config": ["configs/acoustic.yaml"],
        "dictionaries": {LANGUAGE: DICTIONARY},
        "extra_phonemes": [],
        "merged_phoneme_groups": [],
        "datasets": [
            {
                "raw_data_dir": d["raw_data_dir"],
                "speaker": d["speaker"],
                "spk_id": d["spk_id"],
                "language": LANGUAGE,
                "test_prefixes": list(d["test_prefixes"]),
            }
            for d in datasets
        ],
        "binary_data_dir": binary_data_dir,
        "use_lang_id": False,
        "num_lang": 1,
        **_common(job, len(datasets)),
    }


def config_v24(job: ExportJob, datasets: list[dict[str, Any]], *, binary_data_dir: str) -> dict[str, Any]:
    """The v2.4.0 acoustic config: flat ``raw_data_dir``, ``speakers``, ``spk_ids`` and
    global ``test_prefixes`` as full keys ``<dataset index>:<name>``."""
    return {
        "base_config": "configs/acoustic.yaml",
        "raw_data_dir": [d["raw_data_dir"] for d in datasets],
        "speakers": [d["speaker"] for d in datasets],
        "spk_ids": [d["spk_id"] for d in datasets],
        "test_prefixes": [f"{i}:{name}" for i, d in enumerate(datasets) for name in d["test_prefixes"]],
        "dictionary": DICTIONARY,
        "binary_data_dir": binary_data_dir,
        **_common(job, len(datasets)),
    }


def export_diffsinger(job: ExportJob) -> None:
    """Write DiffSinger raw data folders and two acoustic configs into ``job.dest``."""
    check_grid(job.ds, "diffsinger", frame_count="floor", preset="diffsinger", rates=(SAMPLE_RATE_HZ,))
    if job.hop_length != HOP:
        raise ConfigError(
            f"the dataset in {job.ds.root} has hop {job.hop_length} where DiffSinger's acoustic config "
            f"uses {HOP}. Rebuild it with `svcprep build RAW OUT --preset diffsinger`"
        )

    def voiced(it: ExportItem) -> str | None:
        if np.any(np.asarray(it.arrays["uv"]) > 0):
            return None
        return "no voiced frame (DiffSinger's binarizer skips such items)"

    job.keep(voiced)
    if len(job.items) < 2:
        raise ConfigError(
            f"{len(job.items)} item(s) to export: DiffSinger needs at least one training and one "
            "validation item"
        )
    # DiffSinger asserts a non-empty validation and training set (over all datasets).
    why = balance(job.items)
    if why is not None:
        job.notes.append(f"{why}: DiffSinger's binarizer stops on an empty validation or training set")

    exp = job.experiment
    speakers = sorted({i.speaker for i in job.items})
    datasets: list[dict[str, Any]] = []
    for spk_id, spk in enumerate(speakers):
        folder = job.speakers[spk]
        raw = f"data/{exp}/raw/{folder}"
        items = [it for it in job.iter_items() if it.speaker == spk]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["name", "ph_seq", "ph_dur"])
        for it in sorted(items, key=lambda i: i.name):
            job.write_wav(
                f"{raw}/wavs/{it.name}.wav", it.audio, sample_rate_hz=job.sample_rate, subtype="FLOAT"
            )
            w.writerow([it.name, "", ""])
        job.write_text(f"{raw}/transcriptions.csv", buf.getvalue())
        datasets.append(
            {
                "raw_data_dir": raw,
                "speaker": folder,
                "spk_id": spk_id,
                "test_prefixes": sorted(it.name for it in items if it.split == "val"),
            }
        )
    job.speaker_ids = {d["speaker"]: d["spk_id"] for d in datasets}
    binary = f"data/{exp}/binary"
    main_cfg = f"configs/svcprep-{exp}.yaml"
    old_cfg = f"configs/svcprep-{exp}-v2.4.yaml"
    note = [
        "Run from the DiffSinger folder: every path here is relative to it. Fill ph_seq and ph_dur in",
        "each transcriptions.csv first; the dictionary must list exactly the phonemes the labels use.",
    ]
    job.write_text(
        main_cfg,
        yaml_text(
            config_v25(job, datasets, binary_data_dir=binary),
            [f"DiffSinger v2.5+ (main) acoustic config for {exp}, written by svcprep.", *note],
        ),
    )
    job.write_text(
        old_cfg,
        yaml_text(
            config_v24(job, datasets, binary_data_dir=binary),
            [f"DiffSinger v2.4.0 acoustic config for {exp}, written by svcprep.", *note],
        ),
    )

    job.todo.append(
        "phoneme labels: fill ph_seq (space-separated phonemes, with AP and SP for breaths and silence) "
        "and ph_dur (their durations in seconds) in every "
        "data/<experiment>/raw/<speaker>/transcriptions.csv, "
        "e.g. with a forced aligner such as SOFA or MakeDiffSinger's scripts; DiffSinger's binarizer aborts "
        "until every row has them (an empty row fails in its mel2ph step)"
    )
    job.todo.append(
        f"a dictionary: the configs name {DICTIONARY} (language {LANGUAGE!r}, shipped with DiffSinger); "
        "the binarizer stops unless the labels use every phoneme of the dictionary and AP and SP and no "
        "other (v2.4.0: exactly that set; v2.5+: any phoneme outside it is a KeyError, any unused one a "
        "BinarizationError), so for a small dataset write a dictionary of just the phonemes used and point "
        "dictionaries (v2.5+) / dictionary (v2.4.0) at it, with your language's name"
    )
    job.notes.append(
        "DiffSinger's binarizer always recomputes the mel and the F0 (pe: parselmouth here; rmvpe needs "
        "pe_ckpt) from the wavs; nothing but the wavs and transcriptions.csv is read"
    )
    job.notes.append(
        "hnsep is set to world: DiffSinger's default, vr, loads checkpoints/vr/model.pt and its "
        "config.yaml for every binarization even when no breathiness/voicing/tension embedding is used"
    )
    job.todo.append(
        "the NSF-HiFiGAN 44.1 kHz vocoder that configs/acoustic.yaml's vocoder_ckpt names, which "
        "training uses to render its validation audio: "
        "checkpoints/pc_nsf_hifigan_44.1k_hop512_128bin_2025.02/model.ckpt for main, "
        "checkpoints/nsf_hifigan_44.1k_hop512_128bin_2024.02/model.ckpt for v2.4.0"
    )
    job.notes.append(
        "the wavs are float32, the samples svcprep computed every feature from; DiffSinger reads them "
        "with librosa"
    )
    job.notes.append(
        f"{main_cfg} is for DiffSinger v2.5 and later (datasets:, dictionaries:); {old_cfg} for v2.4.0 "
        "(raw_data_dir/speakers/test_prefixes lists, dictionary:); "
        + (
            f"{len(datasets)} speakers: use_spk_id true, num_spk {len(datasets)}"
            if len(datasets) > 1
            else "one speaker: use_spk_id false"
        )
    )
    if job.has_units:
        job.notes.append("the encoder was not used: DiffSinger's acoustic model takes phonemes, not units")
    src = shlex.quote(str(job.dest))
    job.next_steps.append(f"cp -r {src}/data {src}/configs DIFFSINGER_FOLDER/ && cd DIFFSINGER_FOLDER")
    job.next_steps.append(f"python scripts/binarize.py --config {main_cfg}   # v2.5+ (main)")
    job.next_steps.append(f"python scripts/train.py --config {main_cfg} --exp_name {exp} --reset")
    job.next_steps.append(f"python scripts/binarize.py --config {old_cfg}   # v2.4.0 instead")
    job.next_steps.append(f"python scripts/train.py --config {old_cfg} --exp_name {exp} --reset")
