"""DDSP-SVC 6.x (reflow) export, read back the way DDSP-SVC reads it.

The reader mirrors ``reflow/data_loaders.py`` of DDSP-SVC 6.1 and master (listing of
``audio/`` with ``os.walk`` and ``endswith('.wav')``, relative names with extension, sorted;
``pitch_aug_dict.npy`` through ``np.load(allow_pickle=True).item()``; 6.1's ``.npy``
header shapes and ``min`` frame length; master's ``librosa.get_duration``; the speaker id
from the folder name), ``preprocess.py`` (volume, F0 filling, augmentation) and
``nsf_hifigan/nvSTFT.py`` (mel, key shift), all rewritten here from their documented rules.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import sys
import textwrap
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

import svcprep
from svcprep._compat import import_pyworld
from svcprep.errors import ConfigError
from svcprep.export import export_dataset
from svcprep.export.common import ExportItem, ExportJob, item_name, unique_names
from svcprep.export.ddsp import CONFIG_PATH, UNITS_SCRIPT, export_ddsp, loader_skip_reason, unit_index
from tests._exportdata import build_preset

SR, HOP = 44100, 512
DURATION = 2  # data.duration of configs/reflow.yaml
CROP_LEN = int(DURATION * SR / HOP)  # 6.1's crop_len: 172
DIMS = 8
ENCODER = "tests.test_export_ddsp:tiny_encoder"


def tiny_encoder(audio_16k: np.ndarray) -> np.ndarray:
    """A deterministic stand-in for HuBERT: one frame per 320 samples of a 400-sample window.

    Channel 0 is the frame's own index, so the alignment can be read off the exported units.
    """
    x = np.asarray(audio_16k, dtype=np.float64)
    n = max(1, (x.size - 400) // 320 + 1)
    out = np.zeros((n, DIMS), dtype=np.float32)
    for j in range(n):
        w = x[j * 320 : j * 320 + 400]
        out[j, 0] = j
        out[j, 1] = np.log(np.mean(w * w) + 1e-9)
        out[j, 2] = np.mean(w)
        out[j, 3:] = np.abs(np.fft.rfft(w, 16)[1:6])
    return out


# ---------------------------------------------------------------------------------------------
# readers written from DDSP-SVC's rules


def ddsp_listing(audio_dir: Path, extensions: list[str]) -> list[str]:
    """traverse_dir(..., is_pure=True, is_sort=True, is_ext=True) of logger/utils.py."""
    root_dir = str(audio_dir)
    files = []
    for root, _, names in os.walk(root_dir):
        for name in names:
            if any(name.endswith(f".{ext}") for ext in extensions):
                files.append(os.path.join(root, name)[len(root_dir) + 1 :])
    files.sort()
    return files


def npy_shape(path: Path) -> tuple[int, ...]:
    """get_npy_shape of 6.1's data loader: the header only, format 1.0 or 2.0."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return tuple(np.lib.format.read_array_header_1_0(f)[0])
        if version == (2, 0):
            return tuple(np.lib.format.read_array_header_2_0(f)[0])
    raise AssertionError(f"{path}: npy version {version} is not one DDSP-SVC reads")


def ddsp_spk_id(name_ext: str, n_spk: int) -> int:
    if n_spk > 1:
        head = re.split(r"_|\-", os.path.dirname(name_ext), maxsplit=2)[0]
        spk = int(head) if str.isdigit(head) else 0
        assert 1 <= spk <= n_spk, f"{name_ext}: speaker id {spk} outside 1..{n_spk}"
        return spk
    return 1


def ddsp_volume(audio: np.ndarray) -> np.ndarray:
    """Volume_Extractor.extract of ddsp/vocoder.py."""
    n = len(audio) // HOP + 1
    a2 = np.pad(audio.astype(np.float64) ** 2, (HOP // 2, (HOP + 1) // 2), mode="reflect")
    return np.sqrt(np.array([np.mean(a2[i * HOP : (i + 1) * HOP]) for i in range(n)]))


_BASIS = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=128, fmin=40, fmax=16000)


def nvstft_mel(y: np.ndarray, keyshift: float = 0.0) -> np.ndarray:
    """STFT.get_mel of nsf_hifigan/nvSTFT.py with the 44.1 kHz vocoder's settings, in numpy float64."""
    n_fft = win = 2048
    factor = 2 ** (keyshift / 12)
    n_fft_new, win_new = int(np.round(n_fft * factor)), int(np.round(win * factor))
    left = (win_new - HOP) // 2
    right = max((win_new - HOP + 1) // 2, win_new - y.size - left)
    mode = "reflect" if right < y.size else "constant"
    padded = np.pad(y.astype(np.float64), (left, right), mode=mode)
    k = np.arange(win_new)
    window = np.zeros(n_fft_new)
    start = (n_fft_new - win_new) // 2
    window[start : start + win_new] = 0.5 - 0.5 * np.cos(2 * np.pi * k / win_new)  # periodic Hann
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft_new)[::HOP]
    spec = np.fft.rfft(frames * window, axis=1)
    mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    if keyshift != 0:
        size = n_fft // 2 + 1
        if mag.shape[1] < size:
            mag = np.pad(mag, ((0, 0), (0, size - mag.shape[1])))
        mag = mag[:, :size] * win / win_new
    return np.log(np.maximum(mag @ _BASIS.T.astype(np.float64), 1e-5))


def read_set(root: Path, cfg: dict) -> dict[str, dict]:
    """Everything the reflow loader reads from one set folder, keyed by name_ext."""
    data = cfg["data"]
    paths = ddsp_listing(root / "audio", data["extensions"])
    pitch_aug = np.load(root / "pitch_aug_dict.npy", allow_pickle=True).item()
    out = {}
    for name_ext in paths:
        audio, _ = librosa.load(root / "audio" / name_ext, sr=data["sampling_rate"])
        item = {
            "audio": audio,
            "duration": librosa.get_duration(path=str(root / "audio" / name_ext), sr=data["sampling_rate"]),
            "spk_id": ddsp_spk_id(name_ext, cfg["model"]["n_spk"]),
            "shapes": {},
        }
        for key in ("f0", "volume", "aug_vol", "mel", "aug_mel", "units"):
            path = root / key / (name_ext + ".npy")
            if path.exists():
                item[key] = np.load(path)
                item["shapes"][key] = npy_shape(path)
        out[name_ext] = item
    out["__pitch_aug__"] = pitch_aug  # type: ignore[assignment]
    return out


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_preset(tmp_path_factory, "ddsp-svc-6")


@pytest.fixture(scope="module")
def exported(built: Path, tmp_path_factory: pytest.TempPathFactory):
    dest = tmp_path_factory.mktemp("ddsp-export") / "singers"
    report = export_dataset(built, "ddsp", dest, encoder=ENCODER, include_flags=["low_bandwidth"])
    cfg = load_yaml(dest / CONFIG_PATH)
    sets = {s: read_set(dest / "data" / s, cfg) for s in ("train", "val")}
    return dest, report, cfg, sets


@pytest.fixture(scope="module")
def bare(built: Path, tmp_path_factory: pytest.TempPathFactory):
    dest = tmp_path_factory.mktemp("ddsp-bare") / "bare"
    return dest, export_dataset(built, "ddsp", dest)


def load_yaml(path: Path) -> dict:
    import yaml

    with open(path) as f:
        return yaml.safe_load(f)  # logger/utils.py load_config


def items_of(sets: dict) -> list[tuple[str, str, dict]]:
    return [(s, k, v) for s, d in sets.items() for k, v in d.items() if k != "__pitch_aug__"]


# ---------------------------------------------------------------------------------------------
# the loader's view


def test_every_file_the_reflow_loader_opens_has_the_loaders_shape(exported) -> None:
    _dest, report, _cfg, sets = exported
    assert len(report.train) + len(report.val) == 5  # the flagged item included
    assert len(sets["train"]) - 1 == len(report.train) and len(sets["val"]) - 1 == len(report.val)
    for _split, name_ext, it in items_of(sets):
        n = it["audio"].size
        assert name_ext.endswith(".wav") and name_ext.count("/") == 1
        assert it["shapes"]["f0"] == it["shapes"]["volume"] == it["shapes"]["aug_vol"] == (n // HOP + 1,)
        assert it["shapes"]["mel"] == it["shapes"]["aug_mel"] == (n // HOP, 128)
        assert it["shapes"]["units"] == (n // HOP + 1, DIMS)
        assert it["f0"].dtype == np.float64  # as preprocess.py's harvest/rmvpe path saves it
        for key in ("volume", "aug_vol", "mel", "aug_mel", "units"):
            assert it[key].dtype == np.float32, key
        assert np.all(np.isfinite(it["f0"])) and np.all(it["f0"] > 0)  # interpolated, no zeros
        # 6.1: frame_len is the shortest array, the mel's L // 512 frames, and is long enough
        frame_len = min(s[0] for s in it["shapes"].values())
        assert frame_len == n // HOP >= CROP_LEN
        # 6.1's crops (train: any start in 0..frame_len-crop_len; val: the whole file) stay full
        for start in (0, frame_len - CROP_LEN):
            assert all(len(it[k][start : start + CROP_LEN]) == CROP_LEN for k in it["shapes"])
        assert all(len(it[k][:frame_len]) == frame_len for k in it["shapes"])
        # master: duration from the wav, >= duration + 0.1 s, crops in whole frames
        assert it["duration"] == pytest.approx(n / SR) and it["duration"] >= DURATION + 0.1
        frame_res = HOP / SR
        last_start = int((it["duration"] - DURATION - 0.1) / frame_res)
        units_len = int(DURATION / frame_res)
        assert all(len(it[k][last_start : last_start + units_len]) == units_len for k in it["shapes"])
        whole = int(it["duration"] / frame_res)
        assert whole <= frame_len


def test_speaker_folders_parse_to_the_speaker_map(exported, built: Path) -> None:
    dest, report, cfg, sets = exported
    spk_map = json.loads((dest / "data/speakers.json").read_text())
    assert spk_map == report.speakers == {"alice": 1, "bob": 2}
    assert cfg["model"]["n_spk"] == len(spk_map)
    ds = svcprep.open(built)
    ids = list(report.train) + list(report.val)
    names = unique_names(ids, stem=item_name)
    for split, ids_of in (("train", report.train), ("val", report.val)):
        want = {f"{spk_map[ds.record(i).speaker]}/{names[i]}.wav" for i in ids_of}
        listed = {k for k in sets[split] if k != "__pitch_aug__"}
        assert listed == want
        for name_ext in listed:
            assert sets[split][name_ext]["spk_id"] == int(name_ext.split("/")[0])


def test_pitch_aug_dict_names_every_listed_file_with_its_key_shift(exported) -> None:
    _dest, _report, _cfg, sets = exported
    for split, d in sets.items():
        pitch_aug = d["__pitch_aug__"]
        listed = {k for k in d if k != "__pitch_aug__"}
        # every file, under the POSIX and the Windows spelling DDSP's os.walk gives there
        assert set(pitch_aug) == listed | {k.replace("/", "\\") for k in listed}
        for k in listed:
            assert pitch_aug[k] == pitch_aug[k.replace("/", "\\")]
        shifts = [pitch_aug[k] for k in listed]
        if split == "val":
            assert shifts == [0] * len(listed)  # preprocess.py: use_pitch_aug=False for the val set
        else:
            assert all(-5 <= s <= 5 for s in shifts) and len(set(shifts)) == len(shifts)


def test_config_has_every_key_train_reflow_and_the_loaders_read(exported) -> None:
    dest, _report, cfg, sets = exported
    template = {  # configs/reflow.yaml of DDSP-SVC 6.1
        "data": {"f0_extractor", "f0_min", "f0_max", "sampling_rate", "block_size", "duration", "encoder",
                 "cnhubertsoft_gate", "encoder_sample_rate", "encoder_hop_size", "encoder_out_channels",
                 "encoder_ckpt", "train_path", "valid_path", "extensions"},
        "model": {"type", "win_length", "n_aux_layers", "n_aux_chans", "n_layers", "n_chans", "t_start",
                  "use_norm", "use_attention", "use_pitch_aug", "n_spk"},
        "vocoder": {"type", "ckpt"},
        "infer": {"infer_step", "method"},
        "env": {"expdir", "gpu_id"},
        "train": {"num_workers", "amp_dtype", "batch_size", "cache_all_data", "cache_device", "cache_fp16",
                  "epochs", "interval_log", "interval_val", "interval_force_save", "lr", "decay_step",
                  "gamma", "weight_decay", "lambda_ddsp", "save_opt"},
    }  # fmt: skip
    assert set(cfg) == set(template) | {"device"}
    for section, keys in template.items():
        assert set(cfg[section]) == keys, section
    data, model, train = cfg["data"], cfg["model"], cfg["train"]
    # train_reflow.py: Unit2Wav(sampling_rate, block_size, win_length, encoder_out_channels, n_spk,
    # use_norm, use_attention, use_pitch_aug, vocoder.dimension, n_aux_layers, n_aux_chans, n_layers, n_chans)
    assert model["type"] == "RectifiedFlow"
    assert (data["sampling_rate"], data["block_size"], model["win_length"]) == (SR, HOP, 2048)
    assert data["encoder_out_channels"] == DIMS == next(it["units"].shape[1] for _, _, it in items_of(sets))
    assert (data["encoder_sample_rate"], data["encoder_hop_size"]) == (16000, 320)
    assert isinstance(model["use_norm"], bool) and isinstance(model["use_attention"], bool)
    assert model["use_pitch_aug"] is True
    for key in ("n_aux_layers", "n_aux_chans", "n_layers", "n_chans", "n_spk"):
        assert isinstance(model[key], int) and model[key] > 0
    # the loaders and the solver
    assert data["duration"] == DURATION and data["extensions"] == ["wav"]
    assert (dest / data["train_path"] / "audio").is_dir() and (dest / data["valid_path"] / "audio").is_dir()
    assert not os.path.isabs(data["train_path"]) and not os.path.isabs(data["valid_path"])
    assert train["amp_dtype"] in ("fp32", "fp16", "bf16") and train["cache_device"] in ("cpu", "cuda")
    assert isinstance(train["lr"], float) and isinstance(train["gamma"], float)
    assert cfg["infer"]["method"] in ("euler", "rk4") and isinstance(model["t_start"], float)
    assert cfg["env"]["expdir"] == "exp/singers" and cfg["vocoder"]["type"] == "nsf-hifigan"


# ---------------------------------------------------------------------------------------------
# the features are DDSP's, of the exported samples


def test_volume_mel_and_f0_are_ddsp_s_of_the_exported_wav(exported, built: Path) -> None:
    _dest, _report, cfg, sets = exported
    pyworld = import_pyworld()
    ds = svcprep.open(built)
    uv_of = {}
    for rec in ds.manifest:
        arr = ds[rec.id]
        uv_of[np.asarray(arr["audio"], np.float32).tobytes()] = np.asarray(arr["uv"]) > 0
    for k, (_split, name_ext, it) in enumerate(items_of(sets)):
        y = it["audio"]
        n = y.size // HOP + 1
        assert np.max(np.abs(it["volume"] - ddsp_volume(y))) < 1e-6
        ref = nvstft_mel(y)
        assert ref.shape == it["mel"].shape
        assert np.max(np.abs(it["mel"] - ref)) < 2e-3, name_ext
        voiced = uv_of[y.tobytes()]
        # unvoiced frames filled as preprocess.py fills them
        idx = np.flatnonzero(voiced)
        assert np.array_equal(it["f0"], np.interp(np.arange(n), idx, it["f0"][idx]))
        if k % 3:
            continue  # harvest is slow: two of the five clips (one train, one val)
        # F0: harvest with DDSP-SVC's settings (data.f0_min/max, frame_period = 1000 * hop / sr)
        f0, _ = pyworld.harvest(
            y.astype(np.float64), SR, f0_floor=cfg["data"]["f0_min"], f0_ceil=cfg["data"]["f0_max"],
            frame_period=1000 * HOP / SR,
        )  # fmt: skip
        f0 = np.pad(f0, (0, n - len(f0)))
        assert voiced.sum() > n // 3
        assert np.all(f0[voiced] > 0)  # svcprep's refined voicing only removes harvest's voiced frames
        # svcprep's harvest searches the item's own fitted range (f0.search_range), DDSP's the
        # whole 65-800 Hz: the same track to within harvest's own refinement steps
        cents = np.abs(1200 * np.log2(it["f0"][voiced] / f0[voiced]))
        assert np.median(cents) < 1.0 and np.max(cents) < 25.0


def test_aug_mel_reproduces_from_gain_and_key_shift(exported) -> None:
    _dest, _report, _cfg, sets = exported
    for split, name_ext, it in items_of(sets):
        y = it["audio"]
        loud = it["volume"] > 1e-4
        gain = float(np.median(it["aug_vol"][loud] / it["volume"][loud]))
        assert np.allclose(it["aug_vol"][loud], gain * it["volume"][loud], rtol=1e-4)
        peak = float(np.max(np.abs(y)))
        assert 0.1 * (1 - 1e-4) <= gain <= min(10.0, 1 / (peak + 1e-5)) * (1 + 1e-4)
        shift = sets[split]["__pitch_aug__"][name_ext]
        ref = nvstft_mel((y * np.float32(gain)).astype(np.float32), keyshift=shift)
        assert ref.shape == it["aug_mel"].shape
        assert np.max(np.abs(it["aug_mel"] - ref)) < 5e-3, (name_ext, shift)
        if shift:  # the shift is really there: the unshifted mel of the gained copy is far off
            assert np.mean(np.abs(it["aug_mel"] - nvstft_mel(y * np.float32(gain)))) > 0.05


def test_units_are_aligned_as_ddsps_units_encoder_aligns_them(exported) -> None:
    torch = pytest.importorskip("torch")
    from svcprep.dsp.resample import resample

    _dest, _report, _cfg, sets = exported
    ratio = (HOP / SR) / (320 / 16000)
    for _split, _name_ext, it in items_of(sets):
        raw = tiny_encoder(resample(it["audio"], orig_sr_hz=SR, target_sr_hz=16000))
        n = it["audio"].size // HOP + 1
        index = torch.clamp(torch.round(ratio * torch.arange(n)).long(), max=raw.shape[0] - 1).numpy()
        assert np.array_equal(it["units"][:, 0], index.astype(np.float32))
        assert index[-1] == raw.shape[0] - 1  # the clamp is in play on these clips
        assert np.allclose(it["units"], raw[index], atol=1e-5)
    # and far beyond any clip, where float64 rounding would pick other frames
    n = 400_000
    index = torch.clamp(torch.round(ratio * torch.arange(n)).long(), max=n).numpy()
    assert np.array_equal(unit_index(n, n + 1), index)


# ---------------------------------------------------------------------------------------------
# what is left out, and the export without an encoder


def _job(built: Path, dest: Path) -> ExportJob:
    ds = svcprep.open(built)
    split = ds.split()
    chosen = [(i, "train") for i in split.train] + [(i, "val") for i in split.val]
    names = unique_names((i for i, _ in chosen), stem=item_name)
    job = ExportJob(ds=ds, framework="ddsp", dest=dest, encoder=None, items=[], speakers={})
    for item_id, which in chosen:
        rec = ds.record(item_id)
        arrays = dict(ds.arrays(item_id).items())
        job.items.append(ExportItem(item_id, rec.speaker, which, names[item_id], arrays, rec))
    return job


def _cut(item: ExportItem, n_samples: int) -> None:
    n = n_samples // HOP + 1
    item.arrays = {
        k: (np.asarray(v)[:n_samples] if k == "audio" else np.asarray(v)[:n]) for k, v in item.arrays.items()
    }


def test_short_and_unvoiced_items_are_reported_not_written(built: Path, tmp_path: Path) -> None:
    assert loader_skip_reason(92610) is None and loader_skip_reason(92609) is not None  # 2.1 s at 44.1 kHz
    job = _job(built, tmp_path)
    short = next(it for it in job.items if it.split == "train")
    unvoiced = next(it for it in job.items if it.split == "val")
    _cut(short, 90405)  # 2.05 s: its 176 mel frames pass 6.1's check, master's 2.1 s skips it
    unvoiced.arrays["uv"] = np.zeros_like(unvoiced.arrays["uv"])
    before = len(job.items)
    export_ddsp(job)
    reasons = dict(job.skipped)
    assert len(reasons) == 2 and len(job.items) == before - 2
    assert "master" in reasons[short.id] and "2.1 s" in reasons[short.id]
    assert "no voiced frame" in reasons[unvoiced.id]
    assert not any(short.name in f or unvoiced.name in f for f in job.files)
    for split in ("train", "val"):
        names = np.load(job.staged(f"data/{split}/pitch_aug_dict.npy"), allow_pickle=True).item()
        assert not any(short.name in k or unvoiced.name in k for k in names)
    job.abort()
    # a validation set whose every item is too short would loop forever in DDSP: not written, reported
    job = _job(built, tmp_path)
    for it in job.items:
        if it.split == "val":
            _cut(it, 88064)  # 172 mel frames (6.1 would take it), 1.997 s (master would not)
    export_ddsp(job)
    assert not [f for f in job.files if f.startswith("data/val/")]
    assert any("validation" in t and "--val-items" in t for t in job.todo)
    assert sum("2.1 s" in why for _, why in job.skipped) == 2
    job.abort()
    # nothing left to train on: refused
    job = _job(built, tmp_path)
    for it in job.items:
        _cut(it, 80000)
    with pytest.raises(ConfigError, match="no training item"):
        export_ddsp(job)
    job.abort()


def test_mel_and_volume_are_ddsps_even_when_the_dataset_s_are_not(
    built: Path, bare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest, _report = bare
    real = svcprep.open(built).config
    other = {
        **real,
        "mel": {**real["mel"], "padding": "center", "magnitude_eps": 0.0},
        "volume": {"window_length": 1024},
    }
    monkeypatch.setattr(type(svcprep.open(built)), "config", property(lambda self: other))
    job = _job(built, tmp_path)
    export_ddsp(job)
    assert any("not DDSP-SVC's" in n and "volume.window_length" in n for n in job.notes)
    written = [f for f in job.files if f.split("/")[2:3] in (["mel"], ["aug_mel"], ["volume"], ["aug_vol"])]
    assert len(written) == 4 * len(job.items)
    for f in written:  # the same files as from the dataset built with DDSP's mel and volume
        assert np.array_equal(np.load(job.staged(f)), np.load(dest / f)), f
    job.abort()


def test_bare_export_names_the_units_command_and_nothing_else_is_missing(
    bare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest, report = bare
    assert not list(dest.rglob("units"))
    todo = " ".join(report.todo)
    assert f"python {UNITS_SCRIPT} -c {CONFIG_PATH}" in todo and "preprocess.py" in todo
    assert "overwrites" in todo and "nsf_hifigan" in todo
    assert report.next_steps == (
        f"python {UNITS_SCRIPT} -c {CONFIG_PATH}",
        f"python train_reflow.py -c {CONFIG_PATH}",
    )
    for split in ("train", "val"):
        root = dest / "data" / split
        listed = ddsp_listing(root / "audio", ["wav"])
        assert listed
        for key in ("f0", "volume", "aug_vol", "mel", "aug_mel"):
            assert all((root / key / (f + ".npy")).is_file() for f in listed), key
    # run the written script against a stand-in DDSP-SVC checkout (its two imports), in this process
    pytest.importorskip("torch")
    ddsp_dir = tmp_path / "DDSP-SVC"
    for pkg, text in (("ddsp", _STUB_VOCODER), ("logger", _STUB_UTILS)):
        (ddsp_dir / pkg).mkdir(parents=True)
        (ddsp_dir / pkg / "__init__.py").write_text("")
        (ddsp_dir / pkg / ("vocoder.py" if pkg == "ddsp" else "utils.py")).write_text(text)
    for part in ("data", "configs"):
        shutil.copytree(dest / part, ddsp_dir / part)
    shutil.copy(dest / UNITS_SCRIPT, ddsp_dir / UNITS_SCRIPT)
    for mod in ("ddsp", "ddsp.vocoder", "logger", "logger.utils"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    monkeypatch.syspath_prepend(str(ddsp_dir))
    monkeypatch.chdir(ddsp_dir)
    monkeypatch.setattr(sys, "argv", [UNITS_SCRIPT, "-c", CONFIG_PATH, "-d", "cpu"])
    try:
        runpy.run_path(UNITS_SCRIPT, run_name="__main__")
    finally:
        for mod in ("ddsp", "ddsp.vocoder", "logger", "logger.utils"):
            sys.modules.pop(mod, None)
    for split in ("train", "val"):
        root = ddsp_dir / "data" / split
        for f in ddsp_listing(root / "audio", ["wav"]):
            n = sf.info(str(root / "audio" / f)).frames
            units = np.load(root / "units" / (f + ".npy"))
            assert units.shape == (n // HOP + 1, 768) and units.dtype == np.float32
            assert np.array_equal(units[:, 0], unit_index(n // HOP + 1, (n * 16000 // SR - 400) // 320 + 1))
            for key in ("f0", "mel", "aug_mel"):  # left as svcprep wrote them
                written = np.load(dest / "data" / split / key / (f + ".npy"))
                assert np.array_equal(np.load(root / key / (f + ".npy")), written)


_STUB_VOCODER = textwrap.dedent(
    """
    import numpy as np
    import torch

    class Units_Encoder:
        def __init__(self, encoder, encoder_ckpt, encoder_sample_rate=16000, encoder_hop_size=320,
                     device=None, cnhubertsoft_gate=10):
            assert encoder == "contentvec768l12"
            self.sr, self.hop = encoder_sample_rate, encoder_hop_size

        def encode(self, audio, sample_rate, hop_size):
            n = audio.size(-1) // hop_size + 1
            n_units = max(1, (audio.size(-1) * self.sr // sample_rate - 400) // self.hop + 1)
            units = torch.arange(n_units, dtype=torch.float32)[None, :, None].repeat(1, 1, 768)
            ratio = (hop_size / sample_rate) / (self.hop / self.sr)
            index = torch.clamp(torch.round(ratio * torch.arange(n)).long(), max=n_units - 1)
            return torch.gather(units, 1, index[None, :, None].repeat(1, 1, 768))
    """
)

_STUB_UTILS = textwrap.dedent(
    """
    import os
    import yaml

    class DotDict(dict):
        def __getattr__(*args):
            val = dict.get(*args)
            return DotDict(val) if type(val) is dict else val

    def load_config(path):
        with open(path) as f:
            return DotDict(yaml.safe_load(f))

    def traverse_dir(root_dir, extensions, is_pure=False, is_sort=False, is_ext=True):
        out = []
        for root, _, files in os.walk(root_dir):
            for name in files:
                if any(name.endswith("." + e) for e in extensions):
                    p = os.path.join(root, name)
                    out.append(p[len(root_dir) + 1:] if is_pure else p)
        return sorted(out) if is_sort else out
    """
)


# ---------------------------------------------------------------------------------------------
# regressions (issue 11)


def test_regression_pitch_aug_dict_and_augmentation_files_exist(exported) -> None:
    """The 6.x loader opened pitch_aug_dict.npy, aug_vol/ and aug_mel/, which were never written."""
    dest, _report, _cfg, sets = exported
    for split, d in sets.items():
        assert (dest / "data" / split / "pitch_aug_dict.npy").is_file()
        for name_ext in (k for k in d if k != "__pitch_aug__"):
            assert (dest / "data" / split / "aug_mel" / (name_ext + ".npy")).is_file()
            assert (dest / "data" / split / "aug_vol" / (name_ext + ".npy")).is_file()


def test_regression_mel_has_no_extra_frame(exported, built: Path) -> None:
    """The exported mel had len//512+1 frames (svcprep's repeated last frame); DDSP's has len//512."""
    _dest, report, _cfg, sets = exported
    ds = svcprep.open(built)
    stored = {}
    for item_id in report.items:
        arr = ds[item_id]
        stored[np.asarray(arr["audio"], np.float32).tobytes()] = np.asarray(arr["mel"])
    for _split, _name_ext, it in items_of(sets):
        mel = stored[it["audio"].tobytes()]
        n = it["audio"].size
        assert mel.shape[0] == n // HOP + 1  # the dataset's grid
        assert it["mel"].shape[0] == n // HOP
        assert np.array_equal(it["mel"], mel[: n // HOP])
