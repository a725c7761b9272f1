"""DiffSinger export, read back the way DiffSinger's acoustic binarizer reads it.

The framework is not installed: the checks re-do what openvpi/DiffSinger does with the
exported files, for main (v2.5+: ``datasets:`` entries, per-dataset test prefixes) and for
v2.4.0 (flat ``raw_data_dir``/``speakers``/``spk_ids`` lists, global test prefixes):
``csv.DictReader`` on ``transcriptions.csv``, ``wavs/<name>.wav``, item keys
``<dataset index>:<name>``, the four test-prefix rules with their asserts, the speaker-map
asserts, ``librosa.load`` of the wavs and the NSF-HiFiGAN mel.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import svcprep
from svcprep.export import export_dataset
from svcprep.export.common import item_name, unique_names
from tests._exportdata import build_preset
from tests.test_export_diffsvc import read_yaml

SR = 44100
HOP = 512
#: configs/acoustic.yaml's audio values (both versions).
ACOUSTIC = {
    "audio_sample_rate": 44100,
    "audio_num_mel_bins": 128,
    "hop_size": 512,
    "fft_size": 2048,
    "win_size": 2048,
    "fmin": 40,
    "fmax": 16000,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_preset(tmp_path_factory, "diffsinger")


@pytest.fixture(scope="module")
def exported(built: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    dest = tmp_path_factory.mktemp("diffsinger") / "demo"
    rep = export_dataset(built, "diffsinger", dest)
    ds = svcprep.open(built)
    split = ds.split()
    names = unique_names([*split.train, *split.val], stem=item_name)
    return SimpleNamespace(dest=dest, rep=rep, ds=ds, names=names)


def _configs(dest: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    main = read_yaml((dest / "configs" / "svcprep-demo.yaml").read_text(encoding="utf-8"))
    old = read_yaml((dest / "configs" / "svcprep-demo-v2.4.yaml").read_text(encoding="utf-8"))
    return main, old


def _load_meta(raw_data_dir: str, ds_id: int, *, main: bool) -> dict[str, str]:
    """AcousticBinarizer.load_meta_data: key '<ds_id>:<name>' -> wav path."""
    raw = Path(raw_data_dir)
    out = {}
    with open(raw / "transcriptions.csv", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["name", "ph_seq", "ph_dur"]
        for row in reader:
            name = row["name"]
            assert len(row["ph_seq"].split()) == len(row["ph_dur"].split())
            candidates = [raw / "wavs" / f"{name}{ext}" for ext in ((".wav", ".flac") if main else (".wav",))]
            found = [c for c in candidates if c.exists()]
            assert found, f"no wav for {name}"
            out[f"{ds_id}:{name}"] = str(found[0])
    return out


def _split(prefixes: list[str], item_names: list[str]) -> tuple[list[str], list[str]]:
    """BaseBinarizer.split_train_valid_set (same rules in main and v2.4.0)."""
    left = {str(p): 1 for p in prefixes}
    valid: dict[str, int] = {}
    rules = [
        lambda p, n: p == n,  # the whole key
        lambda p, n: n.split(":")[-1] == p,  # the name in any dataset
        lambda p, n: n.startswith(p),
        lambda p, n: n.split(":")[-1].startswith(p),
    ]
    for k, rule in enumerate(rules):
        for p in list(left):
            hits = [n for n in item_names if rule(p, n)] if k else ([p] if p in item_names else [])
            for n in hits:
                valid[n] = 1
            if hits:
                left.pop(p)
    if left:
        warnings.warn(f"no matching names: {', '.join(left)}", UserWarning, stacklevel=2)
    val = list(valid)
    assert val, "Validation set is empty!"
    train = [n for n in item_names if n not in set(val)]
    assert train, "Training set is empty!"
    return train, val


def _main_split(cfg: dict[str, Any]) -> tuple[dict[str, str], list[str], list[str]]:
    items: dict[str, str] = {}
    prefixes: list[str] = []
    for ds_id, d in enumerate(cfg["datasets"]):
        items.update(_load_meta(d["raw_data_dir"], ds_id, main=True))
        prefixes += [f"{ds_id}:{p}" for p in d.get("test_prefixes", [])]
    train, val = _split(prefixes, sorted(items))
    return items, train, val


def _v24_split(cfg: dict[str, Any]) -> tuple[dict[str, str], list[str], list[str]]:
    dirs = cfg["raw_data_dir"] if isinstance(cfg["raw_data_dir"], list) else [cfg["raw_data_dir"]]
    items: dict[str, str] = {}
    for ds_id, d in enumerate(dirs):
        items.update(_load_meta(d, ds_id, main=False))
    train, val = _split(cfg["test_prefixes"], sorted(items))
    return items, train, val


def _expected_val(ex: SimpleNamespace, speakers: list[str]) -> set[str]:
    """svcprep's validation items as DiffSinger keys."""
    return {f"{speakers.index(ex.ds.record(i).speaker)}:{ex.names[i]}" for i in ex.rep.val}


def test_transcriptions_and_wavs(exported: SimpleNamespace) -> None:
    ex = exported
    csvs = sorted(ex.dest.glob("data/demo/raw/*/transcriptions.csv"))
    assert len(csvs) == 2
    exported_names = {ex.names[i] for i in ex.rep.items}
    seen = set()
    for path in csvs:
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")  # a BOM would rename the first column
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        names = [r["name"] for r in rows]
        assert set(names) == {p.stem for p in (path.parent / "wavs").glob("*.wav")}
        assert all(r["ph_seq"] == "" and r["ph_dur"] == "" for r in rows)  # left to the user
        seen |= set(names)
    assert seen == exported_names


def test_wavs_are_float32_and_read_by_librosa_unchanged(exported: SimpleNamespace) -> None:
    import librosa

    ex = exported
    by_name = {ex.names[i]: i for i in ex.rep.items}
    for wav in sorted(ex.dest.glob("data/demo/raw/*/wavs/*.wav")):
        info = sf.info(wav)
        assert (info.subtype, info.samplerate, info.channels) == ("FLOAT", SR, 1)
        y, _ = librosa.load(wav, sr=SR, mono=True)  # process_item
        audio = np.asarray(ex.ds[by_name[wav.stem]]["audio"], dtype=np.float32)
        np.testing.assert_array_equal(y, audio)


def _diffsinger_mel(y: np.ndarray) -> np.ndarray:
    """get_mel_torch written out: reflect pad (win-hop)//2 and (win-hop+1)//2, STFT without
    centring, |X| (no epsilon), librosa's mel basis, ln clamped at 1e-5."""
    import librosa
    import torch

    x = torch.from_numpy(y.astype(np.float32))[None, None]
    x = torch.nn.functional.pad(x, ((2048 - HOP) // 2, (2048 - HOP + 1) // 2), mode="reflect")[:, 0]
    spec = torch.stft(
        x, 2048, hop_length=HOP, win_length=2048, window=torch.hann_window(2048), center=False,
        return_complex=True,
    ).abs()  # fmt: skip
    basis = torch.from_numpy(librosa.filters.mel(sr=SR, n_fft=2048, n_mels=128, fmin=40, fmax=16000)).float()
    return torch.log(torch.clamp(basis @ spec, min=1e-5))[0].T.numpy()


def test_regression_dataset_mel_is_the_mel_of_the_exported_wav(exported: SimpleNamespace) -> None:
    """The wavs were PCM_16 while svcprep's mel came from the float audio (2.3 apart in ln
    mel); float32 wavs give DiffSinger the samples svcprep's features describe."""
    import librosa

    ex = exported
    by_name = {ex.names[i]: i for i in ex.rep.items}
    for wav in sorted(ex.dest.glob("data/demo/raw/*/wavs/*.wav"))[:2]:
        y, _ = librosa.load(wav, sr=SR, mono=True)
        theirs = _diffsinger_mel(y)
        ours = np.asarray(ex.ds[by_name[wav.stem]]["mel"], dtype=np.float32)
        assert theirs.shape == ours.shape == (y.size // HOP, 128)
        assert float(np.max(np.abs(theirs - ours))) < 2e-3


def test_regression_v25_datasets_schema(exported: SimpleNamespace, monkeypatch) -> None:
    ex = exported
    main, _ = _configs(ex.dest)
    monkeypatch.chdir(ex.dest)  # paths are relative to the DiffSinger folder
    assert main["base_config"] == ["configs/acoustic.yaml"]
    for key in ("raw_data_dir", "speakers", "spk_ids", "test_prefixes", "dictionary"):
        assert key not in main  # v2.4 keys that main does not read
    assert isinstance(main["datasets"], list) and len(main["datasets"]) == 2
    speakers = []
    for d in main["datasets"]:
        assert set(d) == {"raw_data_dir", "speaker", "spk_id", "language", "test_prefixes"}
        assert d["language"] in main["dictionaries"]  # build_lang_map
        assert (Path(d["raw_data_dir"]) / "transcriptions.csv").is_file()
        assert PurePosixPath(d["raw_data_dir"]).name == d["speaker"]
        speakers.append(d["speaker"])
    assert len(main["dictionaries"]) <= main["num_lang"]
    # build_spk_map
    ids = [d["spk_id"] for d in main["datasets"]]
    assert ids == [0, 1] and max(ids) < main["num_spk"]
    assert main["use_spk_id"] is True and main["num_spk"] == 2
    assert ex.rep.speakers == dict(zip(speakers, ids, strict=True))
    items, train, val = _main_split(main)
    assert len(items) == len(ex.rep.items)
    assert set(val) == _expected_val(ex, sorted({ex.ds.record(i).speaker for i in ex.rep.items}))
    assert set(train) == set(items) - set(val)


def test_regression_v24_num_spk_and_use_spk_id(exported: SimpleNamespace, monkeypatch) -> None:
    ex = exported
    _, old = _configs(ex.dest)
    monkeypatch.chdir(ex.dest)
    assert old["base_config"] == "configs/acoustic.yaml"
    assert "datasets" not in old and "dictionaries" not in old
    assert isinstance(old["speakers"], list) and len(old["speakers"]) == len(old["raw_data_dir"]) == 2
    assert len(old["spk_ids"]) == len(old["raw_data_dir"])
    assert max(old["spk_ids"]) < old["num_spk"] == 2  # acoustic.yaml's num_spk: 1 would fail
    assert old["use_spk_id"] is True  # acoustic.yaml's false would train one voice
    assert isinstance(old["dictionary"], str)
    # Full keys '<index>:<name>' select one item each (rule 1), never a whole dataset.
    assert all(p.split(":")[0].isdigit() and len(p.split(":")) == 2 for p in old["test_prefixes"])
    _, train, val = _v24_split(old)
    assert set(val) == set(old["test_prefixes"])
    assert set(val) == _expected_val(ex, old["speakers"])
    # Both versions split identically.
    main, _ = _configs(ex.dest)
    _, train_main, val_main = _main_split(main)
    assert sorted(val) == sorted(val_main) and sorted(train) == sorted(train_main)


def test_configs_set_audio_extractors_and_commands(exported: SimpleNamespace) -> None:
    ex = exported
    for cfg in _configs(ex.dest):
        for key, value in ACOUSTIC.items():
            assert cfg[key] == value and type(cfg[key]) is type(value), key
        assert cfg["audio_sample_rate"] == ex.ds.sample_rate and cfg["hop_size"] == ex.ds.hop_length
        assert cfg["pe"] == "parselmouth"
        assert (cfg["f0_min"], cfg["f0_max"]) == (65, 1100)
        assert cfg["hnsep"] == "world"  # vr would need checkpoints/vr/model.pt
        assert cfg["binary_data_dir"] == "data/demo/binary"
        dictionary = cfg.get("dictionary") or cfg["dictionaries"]["zh"]
        assert not str(dictionary).startswith(("/", "."))
    steps = ex.rep.next_steps
    for path in ("configs/svcprep-demo.yaml", "configs/svcprep-demo-v2.4.yaml"):
        assert any(s.startswith(f"python scripts/binarize.py --config {path}") for s in steps)
        assert f"python scripts/train.py --config {path} --exp_name demo --reset" in steps
    assert any("ph_seq" in t and "ph_dur" in t for t in ex.rep.todo)
    assert any("dictionary" in t and "AP and SP" in t for t in ex.rep.todo)
    assert any("always recomputes the mel and the F0" in n for n in ex.rep.notes)
    assert any("checkpoints/vr/model.pt" in n for n in ex.rep.notes)


def test_reference_f0_against_world_and_diffsinger_parselmouth(exported: SimpleNamespace) -> None:
    """svcprep's F0 (harvest 65-1100 Hz) against pyworld run here on the exported wav, and
    against DiffSinger's default extractor (pe: parselmouth: the wav padded by
    ceil(1.5 / f0_min * sr) on the left, to_pitch_ac(time_step=hop/sr, voicing 0.6))."""
    import librosa
    import parselmouth

    from svcprep._compat import import_pyworld

    pyworld = import_pyworld()
    ex = exported
    by_name = {ex.names[i]: i for i in ex.rep.items}
    wavs = sorted(ex.dest.glob("data/demo/raw/*/wavs/*.wav"))
    wav = max(wavs, key=lambda w: int(np.sum(ex.ds[by_name[w.stem]]["uv"])))
    item = ex.ds[by_name[wav.stem]]
    f0 = np.asarray(item["f0"], dtype=np.float64)
    uv = np.asarray(item["uv"]) > 0
    y, _ = librosa.load(wav, sr=SR, mono=True)
    n = y.size // HOP
    world, _ = pyworld.harvest(
        y.astype(np.float64), SR, f0_floor=65.0, f0_ceil=1100.0, frame_period=1000.0 * HOP / SR
    )
    world = world[:n]
    assert np.all(world[uv] > 0)
    assert float(np.max(np.abs(f0[uv] - world[uv]))) < 1.0
    l_pad = int(np.ceil(1.5 / 65.0 * SR))
    r_pad = HOP * ((len(y) - 1) // HOP + 1) - len(y) + l_pad + 1
    s = parselmouth.Sound(np.pad(y, (l_pad, r_pad)), sampling_frequency=SR).to_pitch_ac(
        time_step=HOP / SR, voicing_threshold=0.6, pitch_floor=65.0, pitch_ceiling=1100.0
    )
    pm = s.selected_array["frequency"]
    pm = np.pad(pm, (0, max(0, n - len(pm))))[:n]
    both = uv & (pm > 0)
    cents = 1200.0 * np.abs(np.log2(f0[both] / pm[both]))
    assert both.sum() > 0.8 * uv.sum()
    assert float(np.median(cents)) < 15.0
    assert float(np.mean(uv == (pm > 0))) > 0.9


def test_no_validation_item_still_gives_diffsinger_one(built: Path, tmp_path: Path, monkeypatch) -> None:
    dest = tmp_path / "noval"
    rep = export_dataset(built, "diffsinger", dest, val_items_per_speaker=0, name="demo")
    assert len(rep.val) == 1 and len(rep.train) == 3
    assert any("no validation item" in n for n in rep.notes)
    monkeypatch.chdir(dest)
    main, old = _configs(dest)
    _, train_main, val_main = _main_split(main)
    _, train_old, val_old = _v24_split(old)
    assert len(val_main) == len(val_old) == 1 and sorted(train_main) == sorted(train_old)


def test_one_speaker_configs_train_a_single_voice() -> None:
    from svcprep.export.diffsinger import config_v24, config_v25

    job: Any = SimpleNamespace(
        mel_config={"n_mels": 128, "n_fft": 2048, "win_length": 2048, "fmin_hz": 40.0, "fmax_hz": 16000.0},
        ds=SimpleNamespace(config={"f0": {"f0_floor_hz": 65.0, "f0_ceil_hz": 1100.0}}),
        sample_rate=SR,
        hop_length=HOP,
    )
    one = [{"raw_data_dir": "data/x/raw/solo", "speaker": "solo", "spk_id": 0, "test_prefixes": ["solo_a"]}]
    main = config_v25(job, one, binary_data_dir="data/x/binary")
    old = config_v24(job, one, binary_data_dir="data/x/binary")
    for cfg in (main, old):
        assert cfg["use_spk_id"] is False and cfg["num_spk"] == 1
    assert main["datasets"][0]["test_prefixes"] == ["solo_a"]
    assert old["test_prefixes"] == ["0:solo_a"] and old["speakers"] == ["solo"]
    # What the binarizers select with them: that one item, not every name starting with it.
    keys = ["0:solo_a", "0:solo_ab", "0:solo_b"]
    assert _split([f"0:{p}" for p in main["datasets"][0]["test_prefixes"]], keys)[1] == ["0:solo_a"]
    assert _split(old["test_prefixes"], keys)[1] == ["0:solo_a"]
