"""The so-vits-svc 4.1 export, read back the way so-vits-svc 4.1-Stable reads it.

Every reader here follows one so-vits file: ``data_utils.TextAudioSpeakerLoader`` (main
model), ``diffusion/data_loaders.AudioDataset`` (shallow diffusion),
``preprocess_hubert_f0.py`` (which files it writes), ``train.py`` / ``models.SynthesizerTrn``
/ ``train_diff.py`` (config keys). The references (F0, volume, NSF mel with key shift) are
computed here from the exported wav with so-vits' documented settings.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io.wavfile
import yaml

import svcprep
from svcprep._compat import import_pyworld
from svcprep.errors import ConfigError
from svcprep.export import export_dataset
from svcprep.store.reader import Dataset
from tests._exportdata import build_preset

torch = pytest.importorskip("torch")

SR, HOP, DIMS = 44100, 512, 256


def contentvec_like(audio_16k: np.ndarray) -> np.ndarray:
    """A stand-in encoder with ContentVec's frame count ((N - 400) // 320 + 1) and 256 dims."""
    n = (audio_16k.size - 400) // 320 + 1
    frames = np.lib.stride_tricks.sliding_window_view(audio_16k, 400)[::320][:n]
    w = np.random.default_rng(7).standard_normal((400, DIMS)).astype(np.float32)
    return (frames @ w).astype(np.float32)


@pytest.fixture(scope="module")
def exp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = build_preset(tmp_path_factory, "sovits-4.1-diffusion")
    ds = svcprep.open(out)
    flags = sorted({f for r in ds.manifest for f in r.flags})
    tmp = tmp_path_factory.mktemp("sovits-export")
    rep = export_dataset(out, "sovits", tmp / "enc", encoder=contentvec_like, include_flags=flags)
    plain = export_dataset(out, "sovits", tmp / "noenc", include_flags=flags)
    audio = {i: np.asarray(ds[i]["audio"], dtype=np.float32) for i in rep.items}
    return {"out": out, "ds": ds, "flags": flags, "dest": tmp / "enc", "rep": rep,
            "plain_dest": tmp / "noenc", "plain": plain, "audio": audio, "tmp": tmp}  # fmt: skip


# ---- readers in so-vits' manner ---------------------------------------------------------------


def filelist(dest: Path, which: str) -> list[str]:
    """utils.load_filepaths_and_text: one path per line, the first "|" field."""
    text = (dest / f"filelists/{which}.txt").read_text(encoding="utf-8")
    return [line.strip().split("|")[0] for line in text.splitlines() if line.strip()]


def on_disk(dest: Path, path: str) -> Path:
    assert path.startswith("./dataset/44k/")
    return dest / path[2:]


def load_wav(path: Path) -> tuple[int, np.ndarray]:
    """utils.load_wav_to_torch (scipy, no scaling), then data_utils' / max_wav_value."""
    sr, data = scipy.io.wavfile.read(path)
    assert data.dtype == np.int16 and data.ndim == 1
    return sr, data.astype(np.float32) / 32768.0


def spectrogram_frames(audio: np.ndarray) -> int:
    """modules/mel_processing.spectrogram_torch's frame count (reflect 768 each side, center=False)."""
    y = torch.nn.functional.pad(torch.from_numpy(audio)[None, None], (768, 768), mode="reflect")[0]
    spec = torch.stft(y, 2048, hop_length=512, win_length=2048, window=torch.hann_window(2048),
                      center=False, return_complex=True)  # fmt: skip
    return int(spec.shape[-1])


def repeat_expand_nearest(c: Any, n: int) -> Any:
    """utils.repeat_expand_2d(content [h, t], n, mode="nearest")."""
    return torch.nn.functional.interpolate(c[None], size=n, mode="nearest")[0]


def read_yaml(text: str) -> dict[str, Any]:
    """The YAML as train_diff.py's ``yaml.safe_load`` reads it."""
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def diffusion_config(dest: Path) -> dict[str, Any]:
    text = (dest / "configs/diffusion.yaml").read_text(encoding="utf-8")
    cfg = read_yaml(text)
    try:
        import yaml
    except ImportError:
        return cfg
    assert yaml.safe_load(text) == cfg  # what train_diff.py's yaml.safe_load reads
    return cfg


def item_of(exp: dict[str, Any], audio: np.ndarray) -> str:
    """The one exported item whose samples the wav holds exactly."""
    hits = [i for i, a in exp["audio"].items() if a.shape == audio.shape and np.array_equal(a, audio)]
    assert len(hits) == 1
    return hits[0]


# ---- so-vits' extractors, written from its documented settings --------------------------------


def sovits_harvest(wav: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HarvestF0Predictor.compute_f0_uv: harvest + StoneMask at 44.1 kHz, resize, interpolate."""
    pw = import_pyworld()
    x = wav.astype(np.double)
    f0, t = pw.harvest(x, fs=SR, f0_floor=50, f0_ceil=1100, frame_period=1000 * HOP / SR)
    f0 = pw.stonemask(x, f0, t, SR)
    n = wav.size // HOP
    src = np.array(f0, dtype=np.float64)
    src[src < 0.001] = np.nan
    pos = np.arange(0, src.size * n, src.size) / n
    f0 = np.nan_to_num(np.interp(pos, np.arange(src.size), src))
    uv = (f0 > 0).astype(np.float32)
    nz = np.nonzero(f0)[0]
    if nz.size == 0:
        return np.zeros(n), uv
    t_frame = np.arange(n) * HOP / SR
    return np.interp(t_frame, t_frame[nz], f0[nz], left=f0[nz[0]], right=f0[nz[-1]]), uv


def sovits_volume(audio: np.ndarray) -> np.ndarray:
    """utils.Volume_Extractor(512).extract: RMS of 512 samples, reflect pad 256 / 256 of the squares."""
    n = audio.size // HOP
    sq = np.pad(audio.astype(np.float64) ** 2, (HOP // 2, (HOP + 1) // 2), mode="reflect")
    return np.sqrt(sq[: n * HOP].reshape(n, HOP).mean(axis=1))


def nsf_mel(audio: np.ndarray, keyshift: float = 0.0) -> np.ndarray:
    """vdecoder/nsf_hifigan/nvSTFT.STFT.get_mel with pretrain/nsf_hifigan/config.json's sizes, (T, 128)."""
    import librosa

    factor = 2 ** (keyshift / 12)
    n_fft = win = int(np.round(2048 * factor))
    left = (win - HOP) // 2
    right = max((win - HOP + 1) // 2, win - audio.size - left)
    y = np.pad(audio.astype(np.float64), (left, right), mode="reflect" if right < audio.size else "constant")
    n = (y.size - n_fft) // HOP + 1
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::HOP][:n]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    spec = np.fft.rfft(frames * window, axis=1)
    mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    if keyshift != 0:
        mag = np.pad(mag, ((0, 0), (0, max(0, 1025 - mag.shape[1]))))[:, :1025] * 2048 / win
    basis = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=128, fmin=40, fmax=16000)
    return np.log(np.maximum(mag @ basis.T, 1e-5))


# ---- the so-vits keys read (from the source files named) --------------------------------------

#: data_utils.TextAudioSpeakerLoader.__init__ / get_audio / random_slice.
LOADER_KEYS = ("data.max_wav_value", "data.sampling_rate", "data.filter_length", "data.hop_length",
               "data.win_length", "data.unit_interpolate_mode", "train.use_sr", "train.max_speclen",
               "spk", "model.vol_embedding", "train.vol_aug")  # fmt: skip
#: train.py (run, train_and_evaluate, evaluate) and utils.get_hparams.
TRAIN_KEYS = ("train.port", "train.seed", "train.all_in_mem", "train.batch_size", "train.learning_rate",
              "train.betas", "train.eps", "train.warmup_epochs", "train.lr_decay", "train.fp16_run",
              "train.half_type", "train.epochs", "train.segment_size", "train.c_mel", "train.c_kl",
              "train.log_interval", "train.eval_interval", "train.keep_ckpts", "data.training_files",
              "data.validation_files", "data.n_mel_channels", "data.mel_fmin", "data.mel_fmax",
              "model.use_spectral_norm", "model.speech_encoder")  # fmt: skip
#: diffusion: train_diff.py, diffusion/data_loaders.get_data_loaders, solver.py, logger/saver.py.
DIFFUSION_KEYS = ("data.encoder_out_channels", "model.n_spk", "model.use_pitch_aug", "model.n_layers",
                  "model.n_chans", "model.n_hidden", "model.timesteps", "model.k_step_max", "vocoder.type",
                  "vocoder.ckpt", "device", "env.expdir", "env.gpu_id", "train.lr", "train.gamma",
                  "train.decay_step", "train.weight_decay", "train.amp_dtype", "train.epochs",
                  "train.interval_log", "train.interval_val", "train.interval_force_save", "train.save_opt",
                  "train.batch_size", "train.num_workers", "train.cache_all_data", "train.cache_device",
                  "train.cache_fp16", "data.training_files", "data.validation_files", "data.duration",
                  "data.block_size", "data.sampling_rate", "data.extensions", "data.unit_interpolate_mode",
                  "spk", "infer.speedup", "infer.method", "data.encoder")  # fmt: skip


def synthesizer_trn(spec_channels, segment_size, inter_channels, hidden_channels, filter_channels,
                    n_heads, n_layers, kernel_size, p_dropout, resblock, resblock_kernel_sizes,
                    resblock_dilation_sizes, upsample_rates, upsample_initial_channel, upsample_kernel_sizes,
                    gin_channels, ssl_dim, n_speakers, sampling_rate=44100, vol_embedding=False,
                    vocoder_name="nsf-hifigan", use_depthwise_conv=False, use_automatic_f0_prediction=True,
                    flow_share_parameter=False, n_flow_layer=4, n_layers_trans_flow=3,
                    use_transformer_flow=False, **kwargs):  # fmt: skip
    """models.SynthesizerTrn.__init__'s signature: binding **hps.model fails where it would."""
    return locals()


def dotted(cfg: dict[str, Any], key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        assert isinstance(node, dict) and part in node, f"missing {key}"
        node = node[part]
    return node


# ---- tests ------------------------------------------------------------------------------------


def test_filelists_wavs_and_speakers_as_the_loader_reads_them(exp: dict[str, Any]) -> None:
    dest, rep = exp["dest"], exp["rep"]
    cfg = json.loads((dest / "configs/config.json").read_text())
    assert set(rep.speakers) == {"alice", "bob"} and cfg["spk"] == rep.speakers == {"alice": 0, "bob": 1}
    seen = {}
    for which, ids in (("train", rep.train), ("val", rep.val)):
        paths = filelist(dest, which)
        assert len(paths) == len(ids)
        for p in paths:
            assert re.fullmatch(r"\./dataset/44k/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+\.wav", p)
            assert p.count(".wav") == 1  # so ".spec.pt" replaces only the extension
            sr, audio = load_wav(on_disk(dest, p))
            assert sr == cfg["data"]["sampling_rate"] == SR
            item = item_of(exp, audio)  # bit-identical to the dataset's (16-bit grid) samples
            seen[item] = which
            spk = p.split("/")[-2]
            assert spk == exp["ds"].record(item).speaker and cfg["spk"][spk] < cfg["model"]["n_speakers"]
    assert seen == {**dict.fromkeys(rep.train, "train"), **dict.fromkeys(rep.val, "val")}
    assert len(seen) == 5  # every item of both speakers with the flags included


def test_main_model_loader_lengths_units_and_f0(exp: dict[str, Any]) -> None:
    dest = exp["dest"]
    cfg = json.loads((dest / "configs/config.json").read_text())
    from svcprep.dsp.resample import resample

    for p in filelist(dest, "train") + filelist(dest, "val"):
        wav = on_disk(dest, p)
        _, audio = load_wav(wav)
        spec_frames = spectrogram_frames(audio)
        assert spec_frames == audio.size // HOP
        f0, uv = np.load(f"{wav}.f0.npy", allow_pickle=True)
        f0 = np.array(f0, dtype=float)
        uv = np.array(uv, dtype=float)
        assert f0.shape == uv.shape == (audio.size // HOP,) and set(np.unique(uv)) <= {0.0, 1.0}
        # a plain float (2, T) array: no pickle, and it unpacks like so-vits' own pickled pair
        raw = np.load(f"{wav}.f0.npy")
        assert raw.dtype == np.float32 and raw.shape == (2, f0.size)
        theirs = exp["tmp"] / "theirs.f0.npy"
        np.save(theirs, np.asanyarray((raw[0].astype(np.float64), raw[1]), dtype=object))
        f0_t, uv_t = np.load(theirs, allow_pickle=True)
        np.testing.assert_array_equal(np.array(f0_t, dtype=float), f0)
        np.testing.assert_array_equal(np.array(uv_t, dtype=float), uv)
        c = torch.load(f"{wav}.soft.pt")
        assert c.dtype == torch.float32 and tuple(c.shape[:2]) == (1, cfg["model"]["ssl_dim"])
        units = contentvec_like(resample(audio, orig_sr_hz=SR, target_sr_hz=16000))
        np.testing.assert_array_equal(c[0].numpy().T, units)
        c = repeat_expand_nearest(c.squeeze(0), f0.shape[0])
        lmin = min(c.size(-1), spec_frames)
        assert abs(c.size(-1) - spec_frames) < 3
        assert abs(audio.size - lmin * cfg["data"]["hop_length"]) < 3 * cfg["data"]["hop_length"]
        vol = np.load(f"{wav}.vol.npy")
        assert vol.dtype == np.float32 and vol.shape == f0.shape
        np.testing.assert_allclose(vol, sovits_volume(audio), rtol=1e-6, atol=1e-9)


def test_f0_is_sovits_harvest_of_the_exported_wav(exp: dict[str, Any]) -> None:
    dest = exp["dest"]
    voiced_frames = 0
    # one wav per speaker (harvest at 44.1 kHz takes about 2 s per clip here)
    paths = filelist(dest, "train") + filelist(dest, "val")
    for p in [min(q for q in paths if f"/{spk}/" in q) for spk in ("alice", "bob")]:
        wav = on_disk(dest, p)
        _, audio = load_wav(wav)
        f0, uv = np.load(f"{wav}.f0.npy", allow_pickle=True)
        ref_f0, ref_uv = sovits_harvest(audio)
        np.testing.assert_array_equal(np.asarray(uv, dtype=float), ref_uv)
        v = ref_uv > 0
        voiced_frames += int(v.sum())
        assert np.max(np.abs(np.asarray(f0, dtype=float)[v] - ref_f0[v]), initial=0.0) < 1.0
        # the unvoiced frames are filled the way interpolate_f0 fills them
        assert np.max(np.abs(np.asarray(f0, dtype=float) - ref_f0)) < 1.0
    assert voiced_frames > 250


def test_diffusion_loader_reads_mel_aug_files_and_units(exp: dict[str, Any]) -> None:
    dest = exp["dest"]
    d = diffusion_config(dest)
    res = d["data"]["block_size"] / d["data"]["sampling_rate"]
    for key in ("training_files", "validation_files"):
        # AudioDataset: f.read().splitlines(), each line used verbatim as the wav's path
        for path in (dest / d["data"][key]).read_text(encoding="utf-8").splitlines():
            wav = on_disk(dest, path)
            _, audio = load_wav(wav)
            duration = audio.size / SR
            assert duration >= d["data"]["duration"] + 0.1  # else the loader skips it
            f0, _ = np.load(f"{wav}.f0.npy", allow_pickle=True)
            f0 = np.array(f0, dtype=float)
            volume = np.load(f"{wav}.vol.npy")
            aug_vol = np.load(f"{wav}.aug_vol.npy")
            spk_id = d["spk"][path.split("/")[-2]]
            assert 0 <= spk_id < d["model"]["n_spk"] == 2
            mel = np.load(f"{wav}.mel.npy")
            aug_mel, keyshift = np.load(f"{wav}.aug_mel.npy", allow_pickle=True)
            aug_mel = np.array(aug_mel, dtype=float)
            units = torch.load(f"{wav}.soft.pt")[0]
            units = repeat_expand_nearest(units, f0.shape[0]).transpose(0, 1)
            n = audio.size // HOP
            assert mel.dtype == np.float32 and mel.shape == aug_mel.shape == (n, 128)
            assert volume.shape == aug_vol.shape == f0.shape == (n,) and tuple(units.shape) == (n, DIMS)
            assert isinstance(keyshift, float) and -5 <= keyshift <= 5
            # whole-audio (validation) and a training crop take the same frames from each
            for start, length in ((0, int(duration / res)), (37, int(d["data"]["duration"] / res))):
                parts = [mel, aug_mel, f0, volume, aug_vol, units.numpy()]
                assert len({len(a[start : start + length]) for a in parts}) == 1
            # .mel.npy is the NSF-HiFiGAN mel of the wav
            np.testing.assert_allclose(mel, nsf_mel(audio), atol=1e-5)


def test_aug_mel_reproduces_its_gain_and_key_shift(exp: dict[str, Any]) -> None:
    dest = exp["dest"]
    shifts = []
    for p in filelist(dest, "train") + filelist(dest, "val"):
        wav = on_disk(dest, p)
        _, audio = load_wav(wav)
        aug_mel, keyshift = np.load(f"{wav}.aug_mel.npy", allow_pickle=True)
        vol, aug_vol = np.load(f"{wav}.vol.npy"), np.load(f"{wav}.aug_vol.npy")
        loud = vol > 1e-3
        gain = float(np.median(aug_vol[loud] / vol[loud]))
        np.testing.assert_allclose(aug_vol[loud] / vol[loud], gain, rtol=1e-4)
        peak = float(np.max(np.abs(audio)))
        assert -1 - 1e-6 <= math.log10(gain) <= min(1.0, math.log10(1 / (peak + 1e-5))) + 1e-6
        gained = (audio.astype(np.float64) * gain).astype(np.float32)
        ref = nsf_mel(gained, keyshift)
        np.testing.assert_allclose(np.asarray(aug_mel, dtype=float), ref, atol=5e-4)
        # and it is not the unshifted mel: the key shift moved the harmonics
        assert np.mean(np.abs(ref - nsf_mel(gained))) > 0.05
        shifts.append(keyshift)
    assert len(set(shifts)) == len(shifts)  # drawn per item


def test_config_json_is_complete_for_loader_model_and_train(exp: dict[str, Any]) -> None:
    cfg = json.loads((exp["dest"] / "configs/config.json").read_text())
    for key in LOADER_KEYS + TRAIN_KEYS:
        dotted(cfg, key)
    spec_channels = cfg["data"]["filter_length"] // 2 + 1
    segment_frames = cfg["train"]["segment_size"] // cfg["data"]["hop_length"]
    bound = synthesizer_trn(spec_channels, segment_frames, **cfg["model"])
    assert bound["spec_channels"] == 1025 and bound["segment_size"] == 20
    swallowed = {"n_layers_q", "use_spectral_norm", "speech_encoder", "speaker_embedding"}
    assert bound["kwargs"].keys() == swallowed
    model = cfg["model"]
    assert model["speech_encoder"] == "vec256l9" and model["ssl_dim"] == model["gin_channels"] == DIMS
    assert model["filter_channels"] == 768 and model["n_speakers"] == len(cfg["spk"]) == 2
    assert isinstance(cfg["train"]["port"], str) and cfg["data"]["unit_interpolate_mode"] == "nearest"
    # every other key and value of configs_template/config_template.json
    assert cfg["train"] == TEMPLATE_TRAIN
    assert cfg["data"] == TEMPLATE_DATA
    assert {k: v for k, v in model.items() if k not in FILLED} == {
        k: v for k, v in TEMPLATE_MODEL.items() if k not in FILLED
    }
    assert model.keys() == TEMPLATE_MODEL.keys()


def test_diffusion_yaml_is_complete_for_train_diff(exp: dict[str, Any]) -> None:
    d = diffusion_config(exp["dest"])
    for key in DIFFUSION_KEYS:
        assert dotted(d, key) is not None  # DotDict reads a missing key as None
    assert d["data"]["encoder"] == "vec256l9" and d["data"]["encoder_out_channels"] == DIMS
    assert d["model"]["n_spk"] == len(d["spk"]) == 2 and d["spk"] == {"alice": 0, "bob": 1}
    assert d["data"]["training_files"] == "filelists/train.txt"
    assert d["data"]["validation_files"] == "filelists/val.txt"
    assert (d["data"]["sampling_rate"], d["data"]["block_size"], d["data"]["duration"]) == (SR, HOP, 2)
    assert (d["vocoder"]["type"], d["vocoder"]["ckpt"]) == ("nsf-hifigan", "pretrain/nsf_hifigan/model")
    assert (d["train"]["lr"], d["train"]["batch_size"]) == (0.0001, 48)
    assert d["env"]["expdir"] == "logs/44k/diffusion" and d["data"]["extensions"] == ["wav"]
    assert d["model"]["timesteps"] == 1000 and d["model"]["k_step_max"] == 0
    steps = exp["rep"].next_steps
    assert "python train.py -c configs/config.json -m 44k" in steps
    assert "python train_diff.py -c configs/diffusion.yaml" in steps
    assert not exp["rep"].todo


def test_without_encoder_the_report_names_preprocess_hubert_f0(exp: dict[str, Any]) -> None:
    dest, rep = exp["plain_dest"], exp["plain"]
    assert not list(dest.rglob("*.soft.pt"))
    cfg = json.loads((dest / "configs/config.json").read_text())
    assert cfg["model"]["speech_encoder"] == "vec768l12" and cfg["model"]["ssl_dim"] == 768
    assert diffusion_config(dest)["data"]["encoder_out_channels"] == 768
    (todo,) = rep.todo
    assert "python preprocess_hubert_f0.py --f0_predictor harvest" in todo and ".soft.pt" in todo
    assert "python preprocess_hubert_f0.py --f0_predictor harvest" in rep.next_steps
    # every other file preprocess_hubert_f0.py --use_diff would write (it skips existing ones) is there
    for wav in dest.rglob("*.wav"):
        for ext in (".f0.npy", ".vol.npy", ".mel.npy", ".aug_mel.npy", ".aug_vol.npy"):
            assert Path(f"{wav}{ext}").is_file()


def test_regression_config_is_not_a_skeleton(exp: dict[str, Any]) -> None:
    """Issue 11: the loader failed on data.unit_interpolate_mode, train.py on the train section,
    preprocess_hubert_f0.py on model.speech_encoder; 27 model keys were missing."""
    cfg = json.loads((exp["dest"] / "configs/config.json").read_text())
    assert cfg["data"]["unit_interpolate_mode"] == "nearest"
    assert cfg["train"]["segment_size"] == 10240 and cfg["train"]["port"] == "8001"
    assert cfg["model"]["speech_encoder"] == "vec256l9" and len(cfg["model"]) == 28
    assert "svcprep" not in cfg


def test_regression_shallow_diffusion_files_are_written(exp: dict[str, Any]) -> None:
    """Issue 11: .aug_mel.npy / .aug_vol.npy and configs/diffusion.yaml were not written."""
    dest = exp["dest"]
    assert (dest / "configs/diffusion.yaml").is_file()
    wavs = sorted(dest.rglob("*.wav"))
    assert len(wavs) == 5
    for wav in wavs:
        assert Path(f"{wav}.aug_mel.npy").is_file() and Path(f"{wav}.aug_vol.npy").is_file()


def _patched_config(monkeypatch: pytest.MonkeyPatch, **sections: dict[str, Any]) -> None:
    original = Dataset.config.fget
    assert original is not None

    def config(self: Dataset) -> dict[str, Any]:
        cfg = original(self)
        return {**cfg, **{k: {**cfg.get(k, {}), **v} for k, v in sections.items()}}

    monkeypatch.setattr(Dataset, "config", property(config))


def test_regression_float_features_are_refused(exp: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11: sidecar mels came from float audio while the wav was PCM_16."""
    _patched_config(monkeypatch, features={"sample_format": "float32"})
    dest = exp["tmp"] / "float"
    with pytest.raises(ConfigError, match=r"sample_format.*--preset sovits-4\.1-diffusion"):
        export_dataset(exp["out"], "sovits", dest, include_flags=exp["flags"])
    assert not dest.exists()


def test_other_f0_and_plain_mel_are_noted(exp: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _patched_config(monkeypatch, f0={"match": "none"}, mel={"n_mels": 80, "padding": "vits"})
    dest = exp["tmp"] / "plain-mel"
    rep = export_dataset(exp["out"], "sovits", dest, include_flags=exp["flags"])
    notes = " ".join(rep.notes)
    assert "f0.match is not 'sovits'" in notes
    assert "--use_diff" in notes and "sovits-4.1-diffusion" in notes
    assert (dest / "configs/diffusion.yaml").is_file()
    assert not list(dest.rglob("*.mel.npy")) and not list(dest.rglob("*.aug_*.npy"))
    assert "python train_diff.py -c configs/diffusion.yaml" not in rep.next_steps


def test_no_validation_item_is_refused(exp: dict[str, Any]) -> None:
    # train.py's evaluate() fails on an empty filelists/val.txt
    dest = exp["tmp"] / "no-val"
    with pytest.raises(ConfigError, match="no val item"):
        export_dataset(exp["out"], "sovits", dest, include_flags=exp["flags"], val_items_per_speaker=0)
    assert not dest.exists()


def test_diffusion_crop_fits_the_lists() -> None:
    from types import SimpleNamespace

    from svcprep.export.sovits import _diffusion_crop

    def job(*items: tuple[float, str]) -> Any:
        its = [SimpleNamespace(audio=np.zeros(int(s * SR), np.float32), split=w) for s, w in items]
        return SimpleNamespace(items=its, sample_rate=SR, notes=[])

    long_lists = job((2.6, "train"), (2.05, "train"), (3.0, "val"))
    assert _diffusion_crop(long_lists) == 2 and "1 item(s)" in long_lists.notes[0]
    short_val = job((2.6, "train"), (1.5, "val"), (1.2, "val"))
    crop = _diffusion_crop(short_val)
    duration = 1.5
    assert crop == 1.39 and not duration < crop + 0.1  # the loader keeps the longest val clip
    assert "every val item" in short_val.notes[0]


def test_yaml_writer_reads_back() -> None:
    from svcprep.export.common import yaml_text

    data = {
        "a": {"b": 1e-05, "c": "yes", "yes": 2, "0": 1, "x y": [1.5, True, "z"]},
        "e": {},
        "f": [],
        "g": "é",
    }
    text = yaml_text(data, ["header"])
    assert text.startswith("# header\n") and text.isascii()
    assert read_yaml(text) == data
    assert list(read_yaml(text)["a"]) == ["b", "c", "yes", "0", "x y"]  # the template's order is kept


# configs_template/config_template.json (so-vits-svc 4.1-Stable), for the comparison above.
TEMPLATE_TRAIN = {
    "log_interval": 200, "eval_interval": 800, "seed": 1234, "epochs": 10000, "learning_rate": 0.0001,
    "betas": [0.8, 0.99], "eps": 1e-09, "batch_size": 6, "fp16_run": False, "half_type": "fp16",
    "lr_decay": 0.999875, "segment_size": 10240, "init_lr_ratio": 1, "warmup_epochs": 0, "c_mel": 45,
    "c_kl": 1.0, "use_sr": True, "max_speclen": 512, "port": "8001", "keep_ckpts": 3, "all_in_mem": False,
    "vol_aug": False,
}  # fmt: skip
TEMPLATE_DATA = {
    "training_files": "filelists/train.txt", "validation_files": "filelists/val.txt",
    "max_wav_value": 32768.0, "sampling_rate": 44100, "filter_length": 2048, "hop_length": 512,
    "win_length": 2048, "n_mel_channels": 80, "mel_fmin": 0.0, "mel_fmax": 22050,
    "unit_interpolate_mode": "nearest",
}  # fmt: skip
TEMPLATE_MODEL = {
    "inter_channels": 192, "hidden_channels": 192, "filter_channels": 768, "n_heads": 2, "n_layers": 6,
    "kernel_size": 3, "p_dropout": 0.1, "resblock": "1", "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "upsample_rates": [8, 8, 2, 2, 2],
    "upsample_initial_channel": 512, "upsample_kernel_sizes": [16, 16, 4, 4, 4], "n_layers_q": 3,
    "n_layers_trans_flow": 3, "n_flow_layer": 4, "use_spectral_norm": False, "gin_channels": 768,
    "ssl_dim": 768, "n_speakers": 200, "vocoder_name": "nsf-hifigan", "speech_encoder": "vec768l12",
    "speaker_embedding": False, "vol_embedding": False, "use_depthwise_conv": False,
    "flow_share_parameter": False, "use_automatic_f0_prediction": True, "use_transformer_flow": False,
}  # fmt: skip
#: what preprocess_flist_config.py fills in.
FILLED = {"n_speakers", "speech_encoder", "ssl_dim", "gin_channels", "filter_channels"}
