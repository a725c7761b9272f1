"""The RVC export read back the way RVC's training code reads it (20240604 branch, same on main).

The export is copied to ``<fake RVC root>/logs/<experiment>`` beside fake ``logs/mute`` files
like the ones RVC ships, and every check runs with the fake root as the working folder, as
RVC's ``train.py`` does: ``utils.get_hparams`` (config.json, attribute access), the loader
``TextAudioLoaderMultiNSFsid`` (five fields per line, ``getsize // (3 * hop)`` lengths and the
bucket sampler's (100, 900] window, ``np.load`` of units / coarse / Hz F0, ``np.repeat(units, 2)``,
the 900-frame cap, scipy's wav reader, the spectrogram frame count and the cut to the shortest),
the model constructor's keyword arguments, and RVC's feature step's naming rule.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.io import wavfile

import svcprep
from svcprep._compat import import_pyworld
from svcprep.errors import ConfigError
from svcprep.export import export_dataset
from svcprep.export import rvc as rvcmod
from tests._exportdata import build_preset

EXP = "svc_test"
SR = 40000
HOP = 400
N_FFT = 2048


def units_768(audio_16k: np.ndarray) -> np.ndarray:
    """A known-answer encoder: per 320 samples, mean |x| spread over 768 dims (len // 320 frames)."""
    frames = audio_16k.size // 320
    level = np.abs(audio_16k[: frames * 320]).reshape(frames, 320).mean(axis=1)
    return (level[:, None] * np.linspace(0.5, 1.5, 768)[None, :]).astype(np.float32)


def units_256(audio_16k: np.ndarray) -> np.ndarray:
    return units_768(audio_16k)[:, :256]


def units_8(audio_16k: np.ndarray) -> np.ndarray:
    return units_768(audio_16k)[:, :8]


class HParams:
    """Attribute access over nested dicts, raising AttributeError on a missing key (as RVC's)."""

    def __init__(self, **kw: Any) -> None:
        for k, v in kw.items():
            setattr(self, k, HParams(**v) if isinstance(v, dict) else v)

    def keys(self) -> Any:
        return self.__dict__.keys()

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def synthesizer_ms768_nsf_sid(
    spec_channels: int,
    segment_size: int,
    inter_channels: int,
    hidden_channels: int,
    filter_channels: int,
    n_heads: int,
    n_layers: int,
    kernel_size: int,
    p_dropout: float,
    resblock: str,
    resblock_kernel_sizes: list[int],
    resblock_dilation_sizes: list[list[int]],
    upsample_rates: list[int],
    upsample_initial_channel: int,
    upsample_kernel_sizes: list[int],
    spk_embed_dim: int,
    gin_channels: int,
    sr: str,
    **kwargs: Any,
) -> dict[str, Any]:
    """The parameter list of RVC's SynthesizerTrnMs768NSFsid (infer_pack/models.py)."""
    return dict(locals())


def _all_flags(out: Path) -> list[str]:
    return sorted({f for r in svcprep.open(out).manifest for f in r.get("flags", ())})


def _fake_rvc_root(root: Path, export: Path, *, dims: int = 768) -> Path:
    """An RVC root with the export in logs/<EXP> and silence files like RVC's logs/mute."""
    shutil.copytree(export, root / "logs" / EXP)
    mute = root / "logs" / "mute"
    for sub in ("0_gt_wavs", "1_16k_wavs", "2a_f0", "2b-f0nsf", f"3_feature{dims}"):
        (mute / sub).mkdir(parents=True, exist_ok=True)
    wavfile.write(mute / "0_gt_wavs" / "mute40k.wav", SR, np.zeros(3 * SR, np.int16))
    wavfile.write(mute / "1_16k_wavs" / "mute.wav", 16000, np.zeros(48000, np.int16))
    np.save(mute / "2a_f0" / "mute.wav.npy", np.ones(301, np.int32))
    np.save(mute / "2b-f0nsf" / "mute.wav.npy", np.zeros(301, np.float64))
    np.save(mute / f"3_feature{dims}" / "mute.npy", np.zeros((149, dims), np.float32))
    return root


def _spectrogram_frames(audio: np.ndarray) -> int:
    """Frames of RVC's spectrogram_torch(center=False): reflect pad (n_fft - hop) / 2 each side."""
    y = torch.from_numpy(audio.astype(np.float32))[None, None, :]
    pad = (N_FFT - HOP) // 2
    y = torch.nn.functional.pad(y, (pad, pad), mode="reflect")[0]
    spec = torch.stft(
        y, N_FFT, hop_length=HOP, win_length=N_FFT, window=torch.hann_window(N_FFT),
        center=False, return_complex=True,
    )  # fmt: skip
    return int(spec.shape[-1])


def _read_filelist(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8") as f:  # utils.load_filepaths_and_text
        return [line.strip().split("|") for line in f]


def _load_like_rvc(hps: HParams) -> list[dict[str, Any]]:
    """TextAudioLoaderMultiNSFsid + DistributedBucketSampler's filter, run in the cwd (RVC root)."""
    data = hps.data
    out = []
    for audiopath, text, pitch, pitchf, dv in _read_filelist(Path(data.training_files)):
        assert 1 <= len(text) <= 5000
        length = os.path.getsize(audiopath) // (3 * data.hop_length)
        assert 100 < length <= 900, (audiopath, length)  # else the bucket sampler drops it
        phone = np.repeat(np.load(text), 2, axis=0)
        p, pf = np.load(pitch), np.load(pitchf)
        n_num = min(phone.shape[0], 900)
        phone, p, pf = phone[:n_num], p[:n_num], pf[:n_num]
        torch.LongTensor(p)  # RVC's conversions: coarse must be integers, Hz floats
        torch.FloatTensor(pf)
        rate, wav = wavfile.read(audiopath)
        assert rate == data.sampling_rate
        audio = torch.FloatTensor(wav.astype(np.float32)).numpy()
        n_spec = _spectrogram_frames(audio)
        t = min(phone.shape[0], n_spec)
        out.append(
            {
                "wav": audiopath, "raw": wav, "audio": audio[: t * data.hop_length], "units": phone[:t],
                "pitch": p[:t], "pitchf": pf[:t], "sid": int(dv), "frames": t, "n_units": phone.shape[0] // 2,
                "n_spec": n_spec,
            }
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_preset(tmp_path_factory, "rvc-v2-40k")


@pytest.fixture(scope="module")
def exported(built: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("rvc-export")
    dest = tmp / "export"
    rep = export_dataset(built, "rvc", dest, encoder=units_768, include_flags=_all_flags(built), name=EXP)
    root = _fake_rvc_root(tmp / "RVC", dest)
    return {"dest": dest, "report": rep, "root": root, "exp": root / "logs" / EXP}


def _hparams(exp_dir: Path) -> HParams:
    """utils.get_hparams: ./logs/<exp>/config.json, then training_files = ./logs/<exp>/filelist.txt."""
    with open(exp_dir / "config.json") as f:
        hps = HParams(**json.load(f))
    hps.data.training_files = f"./logs/{EXP}/filelist.txt"
    return hps


def test_filelist_reads_back_like_rvcs_loader(
    exported: dict[str, Any], built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rep, exp = exported["report"], exported["exp"]
    ds = svcprep.open(built)
    assert len(rep.items) == 5 and not rep.skipped and not rep.val  # RVC has no validation list
    speakers = json.loads((exp / "speakers.json").read_text())
    assert speakers == {"alice": 0, "bob": 1} == rep.speakers
    text = (exp / "filelist.txt").read_text()
    assert not text.endswith("\n")  # as RVC's button writes it
    lines = text.split("\n")
    assert len(lines) == 7
    mute = (
        "logs/mute/0_gt_wavs/mute40k.wav|logs/mute/3_feature768/mute.npy|logs/mute/2a_f0/mute.wav.npy"
        "|logs/mute/2b-f0nsf/mute.wav.npy|0"
    )
    assert lines[-2:] == [mute, mute]

    monkeypatch.chdir(exported["root"])  # train.py runs in the RVC root
    rows = _load_like_rvc(_hparams(exp))
    assert len(rows) == 7
    for row in rows[:5]:
        name = Path(row["wav"]).stem
        n16 = sf.info(f"logs/{EXP}/1_16k_wavs/{name}.wav").frames
        # units: RVC's feature-step count, repeated x2 to the 10 ms grid, never longer than pitch
        assert row["n_units"] == (n16 - 400) // 320 + 1
        assert np.load(f"logs/{EXP}/2b-f0nsf/{name}.wav.npy").size == n16 // 160 + 1 >= 2 * row["n_units"]
        assert row["n_spec"] == row["raw"].size // HOP
        assert row["frames"] == min(2 * row["n_units"], row["n_spec"])
        assert row["pitch"].size == row["pitchf"].size == row["frames"]  # collate pads nothing
        assert row["sid"] == speakers[name.split("_")[0]] < 109
        # the ground truth: float32 at 40 kHz, in [-1, 1] (RVC does not divide by max_wav_value)
        assert row["raw"].dtype == np.float32 and float(np.max(np.abs(row["raw"]))) <= 1.0
    by_stem = {Path(r["wav"]).stem: r for r in rows[:5]}
    for item_id in rep.items:
        rec = ds.record(item_id)
        match = [s for s, r in by_stem.items() if np.array_equal(r["raw"], ds.arrays(item_id)["audio"])]
        assert len(match) == 1 and by_stem[match[0]]["sid"] == speakers[rec.speaker]


def test_filelist_paths_are_relative_to_the_rvc_root(exported: dict[str, Any]) -> None:
    # regression: the filelist held absolute paths of where the export was written
    for fields in _read_filelist(exported["exp"] / "filelist.txt"):
        assert len(fields) == 5
        for p in fields[:4]:
            assert not os.path.isabs(p) and p.startswith(("logs/svc_test/", "logs/mute/"))
            assert "spec" not in p  # RVC's F0 step skips any path containing it
            assert (exported["root"] / p).is_file()
        assert str(exported["dest"]) not in "|".join(fields)


def test_f0_files_are_rvcs_f0_step_output(exported: dict[str, Any], built: Path) -> None:
    ds = svcprep.open(built)
    exp = exported["exp"]
    mel_lo, mel_hi = 1127 * math.log(1 + 50 / 700), 1127 * math.log(1 + 1100 / 700)
    for item_id in exported["report"].items:
        audio = ds.arrays(item_id)["audio"]
        name = next(
            p.stem for p in (exp / "0_gt_wavs").glob("*.wav") if np.array_equal(wavfile.read(p)[1], audio)
        )
        hz = np.load(exp / "2b-f0nsf" / f"{name}.wav.npy")
        coarse = np.load(exp / "2a_f0" / f"{name}.wav.npy")
        n16 = sf.info(exp / "1_16k_wavs" / f"{name}.wav").frames
        assert hz.dtype == np.float64 and coarse.dtype == np.int64
        assert hz.shape == coarse.shape == (n16 // 160 + 1,)
        f0, uv = ds.arrays(item_id)["f0"], ds.arrays(item_id)["uv"].astype(bool)
        grid = f0.size
        assert grid == audio.size // HOP and hz.size - grid in (1, 2)
        np.testing.assert_array_equal(hz[:grid], np.where(uv, f0.astype(np.float64), 0.0))
        assert np.all(hz[grid:] == 0)  # past the grid: unvoiced, and beyond what the loader reads
        assert 2 * ((n16 - 400) // 320 + 1) <= grid
        # coarse: RVC's formula, value by value
        ref = []
        for v in hz:
            m = 1127 * math.log(1 + v / 700)
            if m > 0:
                m = (m - mel_lo) * 254 / (mel_hi - mel_lo) + 1
            ref.append(round(min(max(m, 1.0), 255.0)))
        np.testing.assert_array_equal(coarse, ref)
        assert coarse.min() >= 1 and coarse.max() <= 255 and np.all(coarse[hz == 0] == 1)
        assert np.any(coarse > 1)


def test_f0_equals_rvcs_harvest_on_the_exported_16k_wav(exported: dict[str, Any]) -> None:
    pyworld = import_pyworld()
    exp = exported["exp"]
    wavs = sorted((exp / "1_16k_wavs").glob("*.wav"))
    for path in (wavs[0], wavs[-1]):  # one alice, one bob (harvest is slow: not all five)
        x, rate = sf.read(path, dtype="float32")  # RVC's load_audio: f32le mono at 16 kHz
        assert rate == 16000
        xd = x.astype(np.double)
        f0, t = pyworld.harvest(xd, fs=16000, f0_ceil=1100.0, f0_floor=50.0, frame_period=10.0)
        ref = pyworld.stonemask(xd, f0, t, 16000)
        hz = np.load(exp / "2b-f0nsf" / f"{path.name}.npy")
        assert ref.size == hz.size == x.size // 160 + 1
        n = x.size // 160  # the grid's frames; the rest is written unvoiced (never read)
        assert np.array_equal(ref[:n] > 0, hz[:n] > 0)
        voiced = ref[:n] > 0
        assert voiced.sum() > 50
        assert float(np.max(np.abs(ref[:n][voiced] - hz[:n][voiced]))) < 1.0


def test_units_are_the_encoders_at_rvcs_frame_count(exported: dict[str, Any]) -> None:
    exp = exported["exp"]
    for path in sorted((exp / "1_16k_wavs").glob("*.wav")):
        wav, rate = sf.read(path)  # RVC's readwave: soundfile, float
        assert rate == 16000
        units = np.load(exp / "3_feature768" / f"{path.stem}.npy")
        t = (wav.size - 400) // 320 + 1
        assert units.dtype == np.float32 and units.shape == (t, 768)
        ref = units_768(wav.astype(np.float32))
        ref = ref[np.minimum(np.arange(t), ref.shape[0] - 1)]
        np.testing.assert_allclose(units, ref, rtol=1e-6, atol=1e-9)


def test_config_json_is_complete_for_train_py(exported: dict[str, Any]) -> None:
    # regression: config.json was not written, and train.py stopped at once
    exp = exported["exp"]
    text = (exp / "config.json").read_text()
    cfg = json.loads(text)
    assert text == json.dumps(cfg, ensure_ascii=False, indent=4, sort_keys=True) + "\n"
    hps = _hparams(exp)
    t, d, m = hps.train, hps.data, hps.model
    # every key train.py, data_utils, mel_processing and process_ckpt.savee read
    read = [
        t.seed, t.batch_size, t.segment_size, t.learning_rate, t.betas, t.eps, t.lr_decay, t.epochs,
        t.fp16_run, t.c_mel, t.c_kl, t.log_interval, d.filter_length, d.hop_length, d.win_length,
        d.sampling_rate, d.n_mel_channels, d.mel_fmin, d.max_wav_value, m.use_spectral_norm,
    ]  # fmt: skip
    assert all(v is not None for v in read) and d.mel_fmax is None  # None: up to sr / 2
    assert t.fp16_run is False and cfg["data"]["training_files"] == f"./logs/{EXP}/filelist.txt"
    assert (d.sampling_rate, d.hop_length, d.filter_length, d.win_length, d.n_mel_channels) == (
        40000, 400, 2048, 2048, 125,
    )  # fmt: skip
    net = synthesizer_ms768_nsf_sid(
        d.filter_length // 2 + 1, t.segment_size // d.hop_length, **hps.model, is_half=t.fp16_run, sr="40k"
    )
    assert net["spec_channels"] == 1025 and net["segment_size"] == 32 and net["spk_embed_dim"] == 109
    assert math.prod(net["upsample_rates"]) == d.hop_length  # the generator upsamples frames to samples
    assert len(net["upsample_rates"]) == len(net["upsample_kernel_sizes"])
    assert set(net["kwargs"]) == {"use_spectral_norm", "is_half"}
    # RVC's configs/v1/40k.json (its v2 40k config), value for value
    assert cfg["model"]["upsample_rates"] == [10, 10, 2, 2]
    assert cfg["model"]["upsample_kernel_sizes"] == [16, 16, 4, 4]
    assert cfg["train"] == {
        "batch_size": 4, "betas": [0.8, 0.99], "c_kl": 1.0, "c_mel": 45, "epochs": 20000, "eps": 1e-09,
        "fp16_run": False, "init_lr_ratio": 1, "learning_rate": 0.0001, "log_interval": 200,
        "lr_decay": 0.999875, "seed": 1234, "segment_size": 12800, "warmup_epochs": 0,
    }  # fmt: skip
    assert set(cfg["data"]) == {
        "filter_length", "hop_length", "max_wav_value", "mel_fmax", "mel_fmin", "n_mel_channels",
        "sampling_rate", "training_files", "win_length",
    }  # fmt: skip
    steps = "\n".join(exported["report"].next_steps)
    assert (
        f'python infer/modules/train/train.py -e "{EXP}" -sr 40k -f0 1 -bs 4 -g 0 -te 20 -se 5 '
        "-pg assets/pretrained_v2/f0G40k.pth -pd assets/pretrained_v2/f0D40k.pth -l 0 -c 0 -sw 0 -v v2"
    ) in steps
    assert "PYTHONPATH=. python -P train/train.py" in steps and "train/train_index.py" in steps


@pytest.mark.parametrize(
    ("sr", "version", "template", "segment", "rates", "n_mels"),
    [
        (32000, "v2", "v2/32k.json", 12800, [10, 8, 2, 2], 80),
        (48000, "v2", "v2/48k.json", 17280, [12, 10, 2, 2], 128),
        (40000, "v2", "v1/40k.json", 12800, [10, 10, 2, 2], 125),
        (48000, "v1", "v1/48k.json", 11520, [10, 6, 2, 2, 2], 128),
        (32000, "v1", "v1/32k.json", 12800, [10, 4, 2, 2, 2], 80),
    ],
)
def test_templates_per_rate_and_version(
    sr: int, version: str, template: str, segment: int, rates: list[int], n_mels: int
) -> None:
    assert rvcmod.template_name(sr, version) == template
    cfg = rvcmod.rvc_config(sr, version, experiment="x")
    hps = HParams(**cfg)
    assert (hps.data.sampling_rate, hps.data.hop_length, hps.train.segment_size) == (sr, sr // 100, segment)
    assert hps.model.upsample_rates == rates and math.prod(rates) == sr // 100
    assert hps.data.n_mel_channels == n_mels and hps.data.filter_length == hps.data.win_length
    assert hps.train.segment_size % hps.data.hop_length == 0 and hps.train.fp16_run is False
    synthesizer_ms768_nsf_sid(1, 1, **hps.model, is_half=False, sr="x")  # every constructor argument
    assert set(cfg) == {"data", "model", "train"} and len(cfg["train"]) == 14 and len(cfg["model"]) == 16


def test_names_survive_rvcs_feature_step(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # regression: names kept ".wav" as "_wav", RVC's feature step renamed them with
    # replace("wav", "npy") and its filelist step dropped every item from a .wav source
    dest = tmp_path / "export"
    rep = export_dataset(built, "rvc", dest, include_flags=_all_flags(built), name=EXP)
    assert len(rep.items) == 5 and any(i.split("#")[0].endswith(".wav") for i in rep.items)
    assert not (dest / "3_feature768").exists()
    feature_cmd = f"python infer/modules/train/extract_feature_print.py cuda:0 1 0 logs/{EXP} v2 False"
    assert feature_cmd in rep.next_steps and any(feature_cmd in t for t in rep.todo)
    assert any("train/dataset/extract_hubert_feature.py" in t for t in rep.todo)
    root = _fake_rvc_root(tmp_path / "RVC", dest)
    exp = root / "logs" / EXP
    # RVC's feature step: sorted 1_16k_wavs, *.wav, out = file.replace("wav", "npy")
    (exp / "3_feature768").mkdir()
    for file in sorted(os.listdir(exp / "1_16k_wavs")):
        if file.endswith(".wav"):
            x, _ = sf.read(exp / "1_16k_wavs" / file)
            np.save(exp / "3_feature768" / file.replace("wav", "npy"), units_768(x.astype(np.float32)))
    # RVC's filelist step: names split at the first dot, intersected over the four folders
    sets = [
        {n.split(".")[0] for n in os.listdir(exp / d)}
        for d in ("0_gt_wavs", "3_feature768", "2a_f0", "2b-f0nsf")
    ]
    assert set.intersection(*sets) == sets[0] and len(sets[0]) == 5
    monkeypatch.chdir(root)
    assert len(_load_like_rvc(_hparams(exp))) == 7  # now every line of the export's filelist loads


def test_v1_for_256_wide_units_and_other_widths_refused(built: Path, tmp_path: Path) -> None:
    rep = export_dataset(built, "rvc", tmp_path / "v1", encoder=units_256, name="v1exp")
    lines = (tmp_path / "v1" / "filelist.txt").read_text().split("\n")
    assert all("|logs/v1exp/3_feature256/" in ln for ln in lines[:-2])
    assert lines[-1].split("|")[1] == "logs/mute/3_feature256/mute.npy"
    cfg = json.loads((tmp_path / "v1" / "config.json").read_text())
    assert cfg["model"]["upsample_rates"] == [10, 10, 2, 2]  # v1/40k
    assert np.load(next((tmp_path / "v1" / "3_feature256").glob("*.npy"))).shape[1] == 256
    assert any("-v v1" in s and "assets/pretrained/f0G40k.pth" in s for s in rep.next_steps)
    with pytest.raises(ConfigError, match=r"768 .* or 256"):
        export_dataset(built, "rvc", tmp_path / "w8", encoder=units_8)
    assert not (tmp_path / "w8").exists()
    with pytest.raises(ConfigError, match="logs/mute"):
        export_dataset(built, "rvc", tmp_path / "mute")


def test_length_filter_matches_rvcs_bucket_sampler(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for sr in (32000, 40000, 48000):
        hop = sr // 100
        # the shortest and longest kept clip, found from real files as RVC measures them
        for n in (int(0.75 * sr), int(0.76 * sr), int(6.75 * sr), int(6.76 * sr)):
            path = tmp_path / f"{sr}_{n}.wav"
            wavfile.write(path, sr, np.zeros(n, np.float32))
            kept = 100 < os.path.getsize(path) // (3 * hop) <= 900
            assert (rvcmod.length_problem(n, sr) is None) == kept, (sr, n)
        assert rvcmod.length_problem(int(0.75 * sr), sr) and rvcmod.length_problem(int(6.76 * sr), sr)
        assert rvcmod.length_problem(int(0.76 * sr), sr) is None is rvcmod.length_problem(int(6.75 * sr), sr)
    # an item RVC would drop is left out with the reason, not written
    monkeypatch.setattr(rvcmod, "BUCKET_BOUNDARIES", (100, 300))  # 2.6 s items have length 346
    rep = export_dataset(built, "rvc", tmp_path / "short", include_flags=_all_flags(built), name=EXP)
    assert not rep.items and rep.skipped and all("too long for RVC" in why for _, why in rep.skipped)
    assert not (tmp_path / "short" / "0_gt_wavs").exists()
    assert (tmp_path / "short" / "filelist.txt").read_text().count("\n") == 1  # the two mute lines


def test_names_without_spec() -> None:
    class It:
        def __init__(self, id_: str, name: str) -> None:
            self.id, self.name = id_, name

    items = [It("a/spectrum.wav#000", "a_spectrum_000"), It("a/sptrum", "a_spctrum_000"), It("b", "b_0")]
    names = rvcmod._rvc_names(items)  # type: ignore[arg-type]
    assert all("spec" not in n for n in names.values())
    assert len({n.lower() for n in names.values()}) == 3 and names["b"] == "b_0"
