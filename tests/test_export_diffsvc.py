"""Diff-SVC export, read back the way Diff-SVC's binarizer and trainer read it.

The framework is not installed: every check re-does, in the test, what its code does
with the exported files (prophesier/diff-svc, branch main): ``Path(raw_data_dir)
.rglob("*.wav")`` for item discovery with the path string as the item name, the manual
split by ``str.startswith``, ``np.load(Path(wav).with_suffix(".npy"))`` for the units,
the ``mel2ph`` stretch of the units over the mel, the NSF-HiFiGAN log10 mel and the
config chain (``base_config`` relative to the working folder, ``config_path``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

import svcprep
from svcprep.errors import ConfigError
from svcprep.export import export_dataset
from tests._exportdata import build_preset

SR = 44100
HOP = 512
#: training/config_nsf.yaml's audio values (the NSF-HiFiGAN 44.1 kHz vocoder's).
NSF = {
    "audio_sample_rate": 44100,
    "hop_size": 512,
    "fft_size": 2048,
    "win_size": 2048,
    "audio_num_mel_bins": 128,
    "fmin": 40,
    "fmax": 16000,
    "f0_min": 40.0,
    "f0_max": 1100.0,
    "hidden_size": 256,
}


# ---- YAML as the framework reads it ------------------------------------------------------


def read_yaml(text: str) -> Any:
    """The config as Diff-SVC's and DiffSinger's ``yaml.safe_load`` read it."""
    return yaml.safe_load(text)


# ---- a tiny deterministic content encoder ------------------------------------------------

_DCT = np.cos(np.pi / 320 * (np.arange(320)[:, None] + 0.5) * np.arange(256)[None, :])


def tiny_encoder(audio_16k: np.ndarray) -> np.ndarray:
    """HuBERT-soft's framing (one 256-wide frame per 320 samples, ``N // 320`` frames):
    the first 256 DCT-II coefficients of each 20 ms frame."""
    n = audio_16k.size // 320
    frames = np.asarray(audio_16k[: n * 320], dtype=np.float64).reshape(n, 320)
    return (frames @ _DCT).astype(np.float32)


def wide_encoder(audio_16k: np.ndarray) -> np.ndarray:
    n = audio_16k.size // 320
    return np.zeros((n, 768), dtype=np.float32) + 0.5


# ---- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_preset(tmp_path_factory, "diff-svc")


@pytest.fixture(scope="module")
def exported(built: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    dest = tmp_path_factory.mktemp("diffsvc") / "demo"
    rep = export_dataset(built, "diff-svc", dest, encoder=tiny_encoder)
    return SimpleNamespace(dest=dest, rep=rep, ds=svcprep.open(built))


def _configs(dest: Path) -> dict[str, dict[str, Any]]:
    return {
        str(p.relative_to(dest).as_posix()): read_yaml(p.read_text(encoding="utf-8"))
        for p in sorted((dest / "training").glob("*.yaml"))
    }


def _binarizer_items(cfg: dict[str, Any]) -> list[str]:
    """File2Batch.file2temporary_dict + BaseBinarizer: str() of rglob's paths, sorted."""
    raw = Path(cfg["raw_data_dir"])
    return sorted(str(p) for p in [*raw.rglob("*.wav"), *raw.rglob("*.ogg")])


def _binarizer_split(cfg: dict[str, Any], names: list[str]) -> tuple[list[str], list[str]]:
    """SVCBinarizer.split_train_test_set."""
    if cfg["choose_test_manually"]:
        test = [x for x in names if any(x.startswith(p) for p in cfg["test_prefixes"])]
    else:
        test = names[-5:]
    return [x for x in names if x not in set(test)], test


def _item_of(ex: SimpleNamespace, stem: str) -> str:
    ids = [i for i in ex.rep.items if _name(ex, i) == stem]
    assert len(ids) == 1, stem
    return ids[0]


def _name(ex: SimpleNamespace, item_id: str) -> str:
    """The file stem export_dataset gives an item (names over the stored split's items)."""
    from svcprep.export.common import item_name, unique_names

    split = ex.ds.split()
    return unique_names([*split.train, *split.val], stem=item_name)[item_id]


def _wavs(ex: SimpleNamespace) -> list[Path]:
    return sorted((ex.dest / "data" / "raw").rglob("*.wav"))


# ---- tests -------------------------------------------------------------------------------


def test_binarizer_items_and_manual_split_follow_svcprep(exported: SimpleNamespace, monkeypatch) -> None:
    ex = exported
    monkeypatch.chdir(ex.dest)  # the user copies the export into the Diff-SVC folder
    configs = _configs(ex.dest)
    speakers = {ex.ds.record(i).speaker for i in ex.rep.items}
    assert len(configs) == len(speakers) == 2
    val_names = {_name(ex, i) for i in ex.rep.val}
    train_names = {_name(ex, i) for i in ex.rep.train}
    seen = set()
    for _path, cfg in configs.items():
        names = _binarizer_items(cfg)
        assert names and all(n == str(PurePosixPath(cfg["raw_data_dir"]) / Path(n).name) for n in names)
        train, test = _binarizer_split(cfg, names)
        assert train and test  # the binarizer needs a training item, the trainer a test item
        assert {Path(n).stem for n in test} <= val_names
        assert {Path(n).stem for n in train} <= train_names
        seen |= {Path(n).stem for n in names}
        # On Windows, rglob yields backslashes: the same items match there.
        win = [str(PureWindowsPath(n)) for n in names]
        _, win_test = _binarizer_split(cfg, win)
        assert [str(PurePosixPath(PureWindowsPath(n).as_posix())) for n in win_test] == test
    assert seen == val_names | train_names


def test_regression_choose_test_manually(exported: SimpleNamespace, monkeypatch) -> None:
    """Without choose_test_manually the binarizer takes the last five names as test items:
    a two-item speaker gets no training item and the binarizer fails (np.max of nothing)."""
    monkeypatch.chdir(exported.dest)
    for cfg in _configs(exported.dest).values():
        assert cfg["choose_test_manually"] is True
        names = _binarizer_items(cfg)
        train_default, _ = _binarizer_split({**cfg, "choose_test_manually": False}, names)
        assert train_default == []  # what the old snippet left to the template default
        train, test = _binarizer_split(cfg, names)
        assert len(train) >= 1 and len(test) >= 1


def test_config_is_complete_and_chains_from_the_diffsvc_folder(exported: SimpleNamespace) -> None:
    ds = exported.ds
    for path, cfg in _configs(exported.dest).items():
        # load_config: an entry not starting with '.' opens relative to the working folder.
        assert cfg["base_config"] == "training/config_nsf.yaml"
        assert not cfg["base_config"].startswith(".")
        # The binarizer rewrites spec_min/spec_max into config_path: it must be this file.
        assert cfg["config_path"] == path
        exp = PurePosixPath(path).stem.removeprefix("svcprep-")
        assert cfg["raw_data_dir"] == f"data/raw/{exp}"
        assert cfg["binary_data_dir"] == f"data/binary/{exp}"
        assert exp == f"demo_{cfg['speaker_id']}"
        for key, value in NSF.items():
            assert cfg[key] == value, key
            assert type(cfg[key]) is type(value), key
        assert cfg["audio_sample_rate"] == ds.sample_rate and cfg["hop_size"] == ds.hop_length
        mel = ds.config["mel"]
        assert (cfg["fft_size"], cfg["win_size"], cfg["audio_num_mel_bins"]) == (
            mel["n_fft"],
            mel["win_length"],
            mel["n_mels"],
        )
        assert cfg["keep_bins"] == cfg["audio_num_mel_bins"]
        assert PurePosixPath(cfg["hubert_path"]).parent == PurePosixPath("checkpoints/hubert")
        assert cfg["use_vec"] is False and cfg["num_spk"] == 1
        assert all(isinstance(p, str) for p in cfg["test_prefixes"])
    steps = exported.rep.next_steps
    assert "export PYTHONPATH=." in steps
    for path in _configs(exported.dest):
        exp = PurePosixPath(path).stem.removeprefix("svcprep-")
        assert f"python preprocessing/binarize.py --config {path}" in steps
        assert f"python run.py --config {path} --exp_name {exp} --reset" in steps


def test_regression_units_written_with_encoder(exported: SimpleNamespace, monkeypatch) -> None:
    """hubertinfer.encode loads <wav stem>.npy as is; the model adds it to a hidden_size
    embedding; mel2ph stretches its frames over the mel."""
    from svcprep.dsp.resample import resample

    monkeypatch.chdir(exported.dest)
    for cfg in _configs(exported.dest).values():
        for name in _binarizer_items(cfg):
            npy = Path(name).with_suffix(".npy")
            assert os.path.exists(npy)
            units = np.load(str(npy))
            assert units.dtype == np.float32 and units.ndim == 2
            assert units.shape[1] == cfg["hidden_size"] == 256
            y, sr = sf.read(name, always_2d=True)
            n = y.shape[0]
            n16 = math.ceil(n * 16000 / sr)  # librosa's and soxr's resampled length
            assert units.shape[0] == n16 // 320  # HuBERT-soft: (N + 80 - 400) // 320 + 1
            a16 = resample(y[:, 0].astype(np.float32), orig_sr_hz=sr, target_sr_hz=16000)
            assert a16.size == n16
            np.testing.assert_array_equal(units, tiny_encoder(a16))
            # get_align: unit i covers mel frames [start, int(i*d + d + 0.5)], d = n_mel / T.
            n_mel = n // cfg["hop_size"]
            mel2ph = np.zeros(n_mel, dtype=int)
            d, start = n_mel / units.shape[0], 0
            for i in range(units.shape[0]):
                end = int(i * d + d + 0.5)
                mel2ph[start : end + 1] = i + 1
                start = end + 1
            assert mel2ph.min() == 1 and mel2ph.max() == units.shape[0]
            assert np.all(np.diff(mel2ph) >= 0)
    assert not any("HuBERT-soft units itself" in t for t in exported.rep.todo)
    assert any("checkpoints/hubert" in t and "*.pt" in t for t in exported.rep.todo)


def test_without_encoder_no_units_and_the_command_that_makes_them(built: Path, tmp_path: Path) -> None:
    rep = export_dataset(built, "diff-svc", tmp_path / "plain")
    assert not [f for f in rep.files if f.startswith("data/raw/") and f.endswith(".npy")]
    assert any("preprocessing/binarize.py computes HuBERT-soft units" in t for t in rep.todo)
    assert any("*.pt" in t and "precomputed" in t for t in rep.todo)
    assert any("always recomputes the F0" in n for n in rep.notes)


def test_wavs_are_float32_and_the_items_samples(exported: SimpleNamespace) -> None:
    ex = exported
    for wav in _wavs(ex):
        info = sf.info(wav)
        assert (info.subtype, info.samplerate, info.channels) == ("FLOAT", SR, 1)
        # load_wav_to_torch: soundfile, channel 0, divided by 1.0 while the peak is <= 1.01.
        y, _ = sf.read(wav, always_2d=True)
        y = y[:, 0]
        assert max(np.amax(y), -np.amin(y)) <= 1.01
        audio = np.asarray(ex.ds[_item_of(ex, wav.stem)]["audio"], dtype=np.float32)
        np.testing.assert_array_equal(y.astype(np.float32), audio)


def _nsf_log10_mel(y: np.ndarray) -> np.ndarray:
    """Diff-SVC's NsfHifiGAN.wav2spec, written out: reflect pad (n_fft - hop) / 2, STFT
    without centring, sqrt(|X|^2 + 1e-9), librosa's mel basis, ln clamped at 1e-5, times
    0.434294."""
    import librosa
    import torch

    x = torch.from_numpy(y.astype(np.float32))[None, None]
    pad = (2048 - HOP) // 2
    x = torch.nn.functional.pad(x, (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(
        x, 2048, hop_length=HOP, win_length=2048, window=torch.hann_window(2048), center=False,
        return_complex=True,
    )  # fmt: skip
    mag = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    basis = torch.from_numpy(librosa.filters.mel(sr=SR, n_fft=2048, n_mels=128, fmin=40, fmax=16000)).float()
    mel = 0.434294 * torch.log(torch.clamp(basis @ mag, min=1e-5))
    return mel[0].T.numpy()


def test_reference_mel_is_the_mel_of_the_exported_samples(exported: SimpleNamespace) -> None:
    """The sidecar mel is computed from exactly the exported samples (the PCM_16 wav of
    old differed from them by up to 0.33 in log10 mel)."""
    from svcprep.dsp.mel import log_mel

    ex = exported
    m = ex.ds.config["mel"]
    for folder in sorted((ex.dest / "data" / "raw").iterdir()):  # one clip per speaker
        wav = sorted(folder.glob("*.wav"))[0]
        exp = wav.parent.name
        ref = np.load(ex.dest / "data" / "svcprep" / exp / f"{wav.stem}.mel.npy")
        y, _ = sf.read(wav, always_2d=True)
        y = y[:, 0].astype(np.float32)
        assert ref.shape == (y.size // HOP, 128) and ref.dtype == np.float32
        ours = log_mel(
            y, sample_rate_hz=SR, n_fft=m["n_fft"], hop_length=HOP, win_length=m["win_length"],
            n_mels=m["n_mels"], fmin_hz=m["fmin_hz"], fmax_hz=m["fmax_hz"], padding=m["padding"],
            pad_mode=m["pad_mode"], magnitude_eps=m["magnitude_eps"], log_floor=m["log_floor"],
            log_base=m["log_base"], mel_scale=m["mel_scale"], mel_norm=m["mel_norm"],
        )  # fmt: skip
        np.testing.assert_allclose(ref, ours, atol=1e-5)
        theirs = _nsf_log10_mel(y)
        assert theirs.shape == ref.shape
        assert float(np.max(np.abs(theirs - ref))) < 2e-3


def test_reference_f0_against_world_and_diffsvc_parselmouth(exported: SimpleNamespace) -> None:
    """svcprep's F0 (harvest, the preset's 40-1100 Hz, hop 512) against pyworld run here on
    the wav as Diff-SVC reads it, and against Diff-SVC's parselmouth path (use_crepe: false:
    to_pitch_ac(time_step=hop/sr, voicing_threshold=0.6), padded to the mel length)."""
    import parselmouth

    from svcprep._compat import import_pyworld

    pyworld = import_pyworld()
    ex = exported

    def ref_of(wav: Path) -> str:
        return str(ex.dest / "data" / "svcprep" / wav.parent.name / wav.stem)

    # Harvest takes seconds per clip at 44.1 kHz: check the clip with the most voiced frames.
    wav = max(_wavs(ex), key=lambda w: int(np.load(ref_of(w) + ".uv.npy").sum()))
    ref = ref_of(wav)
    f0 = np.load(ref + ".f0.npy").astype(np.float64)
    uv = np.load(ref + ".uv.npy") > 0
    y, _ = sf.read(wav, always_2d=True)
    y = y[:, 0]
    n = y.size // HOP
    assert f0.shape == uv.shape == (n,) and uv.any()
    world, _ = pyworld.harvest(y, SR, f0_floor=40.0, f0_ceil=1100.0, frame_period=1000.0 * HOP / SR)
    world = world[:n]
    assert np.all(world[uv] > 0)  # svcprep's refined voicing only removes voiced frames
    assert float(np.max(np.abs(f0[uv] - world[uv]))) < 1.0
    assert np.all(f0 > 0)  # unvoiced frames are interpolated
    pm = (
        parselmouth.Sound(y, SR)
        .to_pitch_ac(time_step=HOP / SR, voicing_threshold=0.6, pitch_floor=40.0, pitch_ceiling=1100.0)
        .selected_array["frequency"]
    )
    pad = (n - len(pm) + 1) // 2
    pm = np.pad(pm, [pad, n - len(pm) - pad])
    both = uv & (pm > 0)
    cents = 1200.0 * np.abs(np.log2(f0[both] / pm[both]))
    assert both.sum() > 0.8 * uv.sum()
    assert float(np.median(cents)) < 15.0
    assert float(np.mean(uv == (pm > 0))) > 0.9


def test_speaker_without_validation_item_lends_one(built: Path, tmp_path: Path, monkeypatch) -> None:
    dest = tmp_path / "noval"
    rep = export_dataset(built, "diff-svc", dest, val_items_per_speaker=0)
    assert len(rep.val) == 2 and len(rep.train) == 2  # one per speaker moved to test
    assert sum("no validation item" in n for n in rep.notes) == 2
    monkeypatch.chdir(dest)
    for cfg in _configs(dest).values():
        train, test = _binarizer_split(cfg, _binarizer_items(cfg))
        assert len(train) == 1 and len(test) == 1


def test_balance_rules() -> None:
    from svcprep.export.diffsvc import balance

    def item(i: str, split: str, variant_of: str | None = None) -> Any:
        return SimpleNamespace(id=i, split=split, record=SimpleNamespace(variant_of=variant_of))

    # Two groups, none in validation: the last group moves whole, variants included.
    items = [item("a", "train"), item("b", "train"), item("b~p", "train", "b")]
    assert balance(items) is not None
    assert [i.split for i in items] == ["train", "val", "val"]
    # One group (an item and its variant): the variant moves, the original stays.
    items = [item("a", "train"), item("a~p", "train", "a")]
    balance(items)
    assert [i.split for i in items] == ["train", "val"]
    # Everything in validation: the first group comes back to training.
    items = [item("a", "val"), item("b", "val")]
    balance(items)
    assert [i.split for i in items] == ["train", "val"]
    items = [item("a", "train"), item("b", "val")]
    assert balance(items) is None


def test_encoder_of_the_wrong_width_is_refused(built: Path, tmp_path: Path) -> None:
    dest = tmp_path / "wide"
    with pytest.raises(ConfigError, match=r"768-dimensional units.*256"):
        export_dataset(built, "diff-svc", dest, encoder=wide_encoder)
    assert not dest.exists()  # a failed export leaves nothing behind
