"""Tests of svcprep.dsp.rmvpe: front end, decoding, network layout, .pt / .onnx paths, grid mapping, errors.

The released RMVPE weights are not available here. The front end and the decoding are
checked against independent computations; the network's names and shapes against a list
written out from RVC's layout (``infer/lib/rmvpe.py``, tag 20240604); the ``.pt`` path with
that layout and random weights; the ``.onnx`` path (a torch export and a graph built by
hand from a state dict) against the torch path with a narrower network of the same code.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import subprocess
import sys
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from svcprep.dsp import rmvpe
from svcprep.dsp.resample import resample, resampled_length
from svcprep.dsp.rmvpe import RmvpeModel, decode_salience, rmvpe_f0, rmvpe_mel
from svcprep.errors import ConfigError
from tests._data import shared_file

EXCERPT = "singing/vocadito/vocadito_10_excerpt_0.350-5.050s.wav"
CENTS_0 = 1997.3794084376191  # cents (re 10 Hz) of class 0; classes are 20 cents apart


def _excerpt() -> tuple[np.ndarray, int]:
    import soundfile as sf

    y, sr = sf.read(shared_file(EXCERPT), dtype="float32")
    return (y if y.ndim == 1 else y.mean(axis=1)), int(sr)


# ---------------------------------------------------------------------------------------
# front end


def test_mel_matches_librosa_and_torch_stft() -> None:
    import librosa

    y, sr = _excerpt()
    y16 = resample(y, orig_sr_hz=sr, target_sr_hz=16000)
    mel = rmvpe_mel(y16)
    assert mel.dtype == np.float32 and mel.shape == (128, y16.size // 160 + 1)

    # independent: a centred, reflect-padded STFT written out with numpy (periodic Hann window)
    # and librosa's HTK mel basis (its default norm, Slaney, as RVC calls it)
    padded = np.pad(y16.astype(np.float64), 512, mode="reflect")
    frames = np.stack([padded[160 * j : 160 * j + 1024] for j in range(y16.size // 160 + 1)])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    spec = np.abs(np.fft.rfft(frames * window, axis=1)).T
    basis = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128, fmin=30, fmax=8000, htk=True, norm="slaney")
    expected = np.log(np.maximum(basis @ spec, 1e-5))
    assert expected.shape == mel.shape
    np.testing.assert_allclose(mel, expected, atol=1e-4, rtol=0)
    assert mel.min() >= np.float32(math.log(1e-5))

    # the operations RVC's MelSpectrogram performs, in torch (float64: its float32 STFT alone
    # differs by up to 1.5e-3 in the quietest top bands of this recording)
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(y16.astype(np.float64))[None]
    window = torch.hann_window(1024, dtype=torch.float64)
    fft = torch.stft(
        x, n_fft=1024, hop_length=160, win_length=1024, window=window, center=True, return_complex=True
    )
    magnitude = torch.sqrt(fft.real.pow(2) + fft.imag.pow(2))
    basis_rvc = (
        torch.from_numpy(librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128, fmin=30, fmax=8000, htk=True))
        .float()
        .double()
    )
    ref = torch.log(torch.clamp(torch.matmul(basis_rvc, magnitude), min=1e-5))[0].numpy()
    np.testing.assert_allclose(mel, ref, atol=1e-4, rtol=0)


def test_mel_of_short_and_bad_input() -> None:
    assert rmvpe_mel(np.zeros(0, np.float32)).shape == (128, 1)
    short = rmvpe_mel(np.full(300, 0.1, np.float32))  # too short to reflect: zero padding
    assert short.shape == (128, 2) and np.isfinite(short).all()
    with pytest.raises(ValueError):
        rmvpe_mel(np.zeros((2, 100), np.float32))


# ---------------------------------------------------------------------------------------
# decoding


def _decode_by_hand(salience: np.ndarray, threshold: float) -> np.ndarray:
    """The local weighted average written out frame by frame."""
    out = np.zeros(salience.shape[0])
    for t, row in enumerate(salience):
        if row.max() <= threshold:
            continue
        k = int(np.argmax(row))
        num = den = 0.0
        for i in range(k - 4, k + 5):
            if 0 <= i < 360:
                num += row[i] * (20 * i + CENTS_0)
                den += row[i]
        out[t] = 10 * 2 ** (num / den / 1200)
    return out


def _hz(cents: float) -> float:
    return 10 * 2 ** (cents / 1200)


def test_decode_known_peak_and_threshold() -> None:
    s = np.zeros((7, 360))
    s[0, 100], s[0, 99], s[0, 101], s[0, 104], s[0, 105] = 0.9, 0.3, 0.6, 0.2, 0.5  # 105 is outside +-4
    s[1, 0], s[1, 1], s[1, 2] = 0.8, 0.4, 0.1  # the window reaches below class 0
    s[2, 359], s[2, 357] = 0.7, 0.2  # ... and above class 359
    s[3, 200], s[3, 300], s[3, 301] = 0.7, 0.7, 0.6  # a tie: the first maximum is the peak
    s[4, 200] = 0.03  # exactly at the threshold: unvoiced
    s[5, 200] = 0.0300001  # just above: voiced, exactly class 200
    f0 = decode_salience(s, threshold=0.03)
    cents0 = (0.3 * 20 * 99 + 0.9 * 20 * 100 + 0.6 * 20 * 101 + 0.2 * 20 * 104) / 2.0 + CENTS_0
    assert f0[0] == pytest.approx(_hz(cents0), rel=1e-12)
    assert f0[1] == pytest.approx(_hz((0.4 * 20 + 0.1 * 40) / 1.3 + CENTS_0), rel=1e-12)
    assert f0[2] == pytest.approx(_hz((0.7 * 20 * 359 + 0.2 * 20 * 357) / 0.9 + CENTS_0), rel=1e-12)
    assert f0[3] == pytest.approx(_hz(20 * 200 + CENTS_0), rel=1e-12)
    assert f0[4] == 0 and f0[6] == 0
    assert f0[5] == pytest.approx(_hz(20 * 200 + CENTS_0), rel=1e-12)
    # class 0 is 31.7 Hz, class 359 2005 Hz
    assert abs(_hz(CENTS_0) - 31.70) < 0.01 and abs(_hz(20 * 359 + CENTS_0) - 2005.4) < 0.1
    assert decode_salience(s, threshold=0.95).tolist() == [0] * 7
    assert decode_salience(s, threshold=0.05)[[0, 3, 5]].tolist() == [f0[0], f0[3], 0]


def test_decode_matches_frame_by_frame_on_random_salience() -> None:
    rng = np.random.default_rng(3)
    s = rng.random((200, 360)) ** 8
    s[::7] *= 0.05
    for threshold in (0.0, 0.03, 0.05):
        np.testing.assert_allclose(
            decode_salience(s, threshold=threshold), _decode_by_hand(s, threshold), rtol=1e-12, atol=0
        )
    assert decode_salience(np.zeros((0, 360))).shape == (0,)
    with pytest.raises(ValueError):
        decode_salience(np.zeros((3, 359)))
    with pytest.raises(ValueError):
        decode_salience(s, threshold=-1)


# ---------------------------------------------------------------------------------------
# the network: layout of the released rmvpe.pt


def _expected_layout() -> dict[str, tuple[int, ...]]:
    """State-dict names and shapes of RVC's E2E(n_blocks=4, n_gru=1, kernel_size=(2, 2)).

    Written out from the layout, independently of svcprep's module: DeepUnet with
    en_de_layers=5, inter_layers=4, in_channels=1, en_out_channels=16 (encoder stages
    1->16->32->64->128->256, intermediate 256->512 then 512, decoder 512->...->16), each
    stage 4 ConvBlockRes; cnn 16->3; BiGRU(384, 256); Linear(512, 360).
    """
    out: dict[str, tuple[int, ...]] = {}

    def bn(p: str, c: int) -> None:
        out.update(
            {
                f"{p}.weight": (c,),
                f"{p}.bias": (c,),
                f"{p}.running_mean": (c,),
                f"{p}.running_var": (c,),
                f"{p}.num_batches_tracked": (),
            }
        )

    def block(p: str, c_in: int, c_out: int) -> None:
        out[f"{p}.conv.0.weight"] = (c_out, c_in, 3, 3)
        bn(f"{p}.conv.1", c_out)
        out[f"{p}.conv.3.weight"] = (c_out, c_out, 3, 3)
        bn(f"{p}.conv.4", c_out)
        if c_in != c_out:
            out[f"{p}.shortcut.weight"] = (c_out, c_in, 1, 1)
            out[f"{p}.shortcut.bias"] = (c_out,)

    bn("unet.encoder.bn", 1)
    chans = [1, 16, 32, 64, 128, 256]
    for i in range(5):
        for j in range(4):
            block(f"unet.encoder.layers.{i}.conv.{j}", chans[i] if j == 0 else chans[i + 1], chans[i + 1])
    for i in range(4):
        for j in range(4):
            block(f"unet.intermediate.layers.{i}.conv.{j}", 256 if i == 0 and j == 0 else 512, 512)
    dec = [512, 256, 128, 64, 32, 16]
    for i in range(5):
        # a ConvTranspose weight is (in, out, kh, kw)
        out[f"unet.decoder.layers.{i}.conv1.0.weight"] = (dec[i], dec[i + 1], 3, 3)
        bn(f"unet.decoder.layers.{i}.conv1.1", dec[i + 1])
        for j in range(4):
            block(f"unet.decoder.layers.{i}.conv2.{j}", 2 * dec[i + 1] if j == 0 else dec[i + 1], dec[i + 1])
    out["cnn.weight"], out["cnn.bias"] = (3, 16, 3, 3), (3,)
    for suffix in ("", "_reverse"):
        out[f"fc.0.gru.weight_ih_l0{suffix}"] = (768, 384)
        out[f"fc.0.gru.weight_hh_l0{suffix}"] = (768, 256)
        out[f"fc.0.gru.bias_ih_l0{suffix}"] = (768,)
        out[f"fc.0.gru.bias_hh_l0{suffix}"] = (768,)
    out["fc.1.weight"], out["fc.1.bias"] = (360, 512), (360,)
    return out


def _random_state_dict(torch: Any, shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, Any]:
    """Random weights for the given layout, scaled so that activations stay of order 1, as float16.

    Each tensor is cut at a random offset from a pool of 3 million normal deviates, more
    than the largest tensor holds (drawing all 90 million values afresh takes seconds).
    """
    g = torch.Generator().manual_seed(seed)
    size = 3_000_017
    pool = torch.randn(size, generator=g).repeat(2)
    out = {}
    for name, shape in shapes.items():
        if name.endswith("num_batches_tracked"):
            out[name] = torch.tensor(0)
            continue
        n = math.prod(shape)
        start = int(torch.randint(size, (1,), generator=g))
        noise = pool[start : start + n].reshape(shape)
        if name.endswith("running_var"):
            t = 1 + 0.1 * noise.abs()
        elif len(shape) > 1:  # conv, GRU and linear weights: variance 1 / fan-in
            t = noise / math.sqrt(math.prod(shape[1:]))
        elif name.endswith(".weight") and "fc." not in name:  # batch-norm scale
            t = 1 + 0.1 * noise
        else:
            t = 0.1 * noise
        out[name] = t.half()
    return out


@pytest.fixture(scope="module")
def network_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An rmvpe.pt of RVC's layout with random weights (float16, like the released file), loaded and run.

    torch runs on one thread in these tests: on a busy two-core machine a second thread
    makes the direct forward passes and the ONNX export several times slower.
    """
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("rmvpe") / "rmvpe.pt"
    torch.save(_random_state_dict(torch, _expected_layout(), seed=12), path)
    y, sr = _excerpt()
    y = y[: 2 * sr]
    y16 = resample(y, orig_sr_hz=sr, target_sr_hz=16000)
    model = rmvpe._model_for(path)
    f0, sal = model.f0(y16)
    yield {"pt": path, "model": model, "y": y, "sr": sr, "y16": y16, "f0": f0, "sal": sal}
    torch.set_num_threads(threads)


def test_layout_matches_the_released_rmvpe_pt() -> None:
    torch = pytest.importorskip("torch")
    with torch.device("meta"):  # names and shapes only: no weights are initialised
        net = rmvpe.build_rmvpe_network()
    state = net.state_dict()
    expected = _expected_layout()
    assert list(state) == list(expected)
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    names = list(state)
    assert names[:6] == [
        "unet.encoder.bn.weight",
        "unet.encoder.bn.bias",
        "unet.encoder.bn.running_mean",
        "unet.encoder.bn.running_var",
        "unet.encoder.bn.num_batches_tracked",
        "unet.encoder.layers.0.conv.0.conv.0.weight",
    ]
    assert names[-5:] == [
        "fc.0.gru.weight_hh_l0_reverse",
        "fc.0.gru.bias_ih_l0_reverse",
        "fc.0.gru.bias_hh_l0_reverse",
        "fc.1.weight",
        "fc.1.bias",
    ]
    # Counted from RVC's layout (infer/lib/rmvpe.py, E2E(4, 1, (2, 2))): 741 state-dict entries,
    # which a published inspection of the released rmvpe.pt also reports; 90,423,165 parameters,
    # i.e. 181 MB as float16, the released file's size.
    assert len(state) == 741
    params = dict(net.named_parameters())
    assert len(params) == 387 and sum(p.numel() for p in params.values()) == 90_423_165
    assert sum(k.endswith("num_batches_tracked") for k in state) == 118
    assert not net.training


def test_pt_model_runs_on_two_seconds(network_files: dict[str, Any]) -> None:
    import torch

    model: RmvpeModel = network_files["model"]
    y16, f0, sal = network_files["y16"], network_files["f0"], network_files["sal"]
    assert model.kind == "torch" and model.device in ("cpu", "cuda")
    # the file's float16 weights were loaded into the float32 network unchanged
    stored = torch.load(network_files["pt"], weights_only=True, mmap=True)
    loaded = model._net.state_dict()
    for k in ("unet.encoder.bn.running_var", "unet.intermediate.layers.3.conv.3.conv.3.weight", "fc.1.bias"):
        assert torch.equal(loaded[k].cpu(), stored[k].float())
    assert all(v.device.type == model.device for v in loaded.values())  # nothing left on the meta device
    assert y16.size == 32000 and f0.shape == (201,) and sal.shape == (201,)
    assert f0.dtype == np.float64 and np.isfinite(f0).all()
    assert ((f0 == 0) | ((f0 > 31) & (f0 < 2010))).all()
    assert np.array_equal(f0 > 0, sal > 0.03)
    assert model.digest == hashlib.sha256(Path(network_files["pt"]).read_bytes()).hexdigest()
    # the module itself on RVC's input (zero-padded to 224 frames, cut back to 201) gives it too
    padded = np.zeros((1, 128, 224), np.float32)
    padded[0, :, :201] = rmvpe_mel(y16)
    with torch.inference_mode():
        direct = model._net(torch.from_numpy(padded))[0, :201].numpy()
    np.testing.assert_allclose(sal, direct.max(axis=1), atol=1e-6)
    np.testing.assert_allclose(f0, decode_salience(direct), rtol=1e-6, atol=0)


def test_rmvpe_f0_on_the_grid_through_the_model(network_files: dict[str, Any]) -> None:
    y, sr = network_files["y"], network_files["sr"]
    hop = 512
    n_frames = y.size // hop + 1
    f0, voiced = rmvpe_f0(
        y, sample_rate_hz=sr, hop_length=hop, n_frames=n_frames, model_path=network_files["pt"]
    )
    assert f0.shape == (n_frames,) and f0.dtype == np.float64 and voiced.dtype == np.bool_
    np.testing.assert_array_equal(voiced, f0 > 0)
    # a second run is bit-identical, and the grid values come from the 10 ms track
    expected = rmvpe._on_grid(network_files["f0"], sample_rate_hz=sr, hop_length=hop, n_frames=n_frames)
    np.testing.assert_array_equal(f0, expected)
    assert rmvpe._model_for(network_files["pt"]) is network_files["model"]


def test_long_items_are_stitched_from_aligned_overlapping_chunks(network_files: dict[str, Any]) -> None:
    """The chunk arithmetic, with a per-frame stand-in for the network (so chunking changes nothing)."""
    windows: list[tuple[int, int]] = []

    def per_frame(mel: np.ndarray) -> np.ndarray:
        start = int(mel[0, 0])  # row 0 of the test mel holds the frame index
        windows.append((start, start + mel.shape[1]))
        return np.exp(-(((np.arange(360)[None, :] - mel[0, :, None] % 360) / 3.0) ** 2)).astype(np.float32)

    model = copy.copy(network_files["model"])
    model.salience = per_frame  # type: ignore[method-assign]
    mel = np.zeros((128, 1000), np.float32)
    mel[0] = np.arange(1000)
    one = per_frame(mel)
    windows.clear()
    out = model._chunked_salience(mel, chunk_frames=256, context_frames=50)  # context rounds up to 64
    np.testing.assert_array_equal(out, one)
    assert windows[:3] == [(0, 192), (64, 320), (192, 448)] and windows[-1] == (832, 1000)
    assert all(a % 32 == 0 and b - a <= 256 for a, b in windows)
    windows.clear()
    model._chunked_salience(mel, chunk_frames=1000, context_frames=50)
    assert windows == [(0, 1000)]  # not longer than chunk_frames: one pass


# ---------------------------------------------------------------------------------------
# ONNX
#
# Exporting or building the full network takes 10 s and more on two cores, so the ONNX
# files hold the same network code at a narrow width (2 blocks per stage, 2 intermediate
# stages, 4 channels at the top; the GRU and the output layer are full size). The torch
# path it is compared with is the loaded .pt model with that network in place of the full one.


@pytest.fixture(scope="module")
def narrow(network_files: dict[str, Any]) -> dict[str, Any]:
    torch = pytest.importorskip("torch")
    torch.manual_seed(5)
    net = rmvpe._network_class()(n_blocks=2, n_inter=2, c_first=4).eval()
    torch_path = copy.copy(network_files["model"])
    torch_path._net = net
    y16 = network_files["y16"][:16000]
    f0, sal = torch_path.f0(y16)
    return {"net": net, "y16": y16, "f0": f0, "sal": sal}


def _indices(state: dict[str, np.ndarray], prefix: str) -> range:
    found = {int(k[len(prefix) :].split(".")[0]) for k in state if k.startswith(prefix)}
    return range(len(found))


def _onnx_graph_from_state_dict(state: dict[str, np.ndarray], path: Path) -> None:
    """Build RMVPE as an ONNX graph by hand from a state dict (an independent forward pass).

    Input ``input`` (1, 128, frames), output ``salience`` (1, frames, 360); the number of
    stages and blocks is read from the key names.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    ids = itertools.count()

    def const(arr: np.ndarray) -> str:
        name = f"c{next(ids)}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(kind: str, inputs: list[str], **attrs: Any) -> str:
        out = f"t{next(ids)}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def conv(x: str, p: str, pad: int) -> str:
        w = state[f"{p}.weight"]
        ins = [x, const(w)] + ([const(state[f"{p}.bias"])] if f"{p}.bias" in state else [])
        return node("Conv", ins, kernel_shape=list(w.shape[2:]), pads=[pad] * 4)

    def bn(x: str, p: str) -> str:
        ins = [x] + [const(state[f"{p}.{n}"]) for n in ("weight", "bias", "running_mean", "running_var")]
        return node("BatchNormalization", ins, epsilon=1e-5)

    def block(x: str, p: str) -> str:
        h = node("Relu", [bn(conv(x, f"{p}.conv.0", 1), f"{p}.conv.1")])
        h = node("Relu", [bn(conv(h, f"{p}.conv.3", 1), f"{p}.conv.4")])
        skip = conv(x, f"{p}.shortcut", 0) if f"{p}.shortcut.weight" in state else x
        return node("Add", [h, skip])

    x = node("Transpose", ["input"], perm=[0, 2, 1])  # (1, T, 128)
    x = node("Unsqueeze", [x, const(np.array([1], np.int64))])  # (1, 1, T, 128): time x frequency image
    x = bn(x, "unet.encoder.bn")
    skips = []
    for i in _indices(state, "unet.encoder.layers."):
        for j in _indices(state, f"unet.encoder.layers.{i}.conv."):
            x = block(x, f"unet.encoder.layers.{i}.conv.{j}")
        skips.append(x)
        x = node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
    for i in _indices(state, "unet.intermediate.layers."):
        for j in _indices(state, f"unet.intermediate.layers.{i}.conv."):
            x = block(x, f"unet.intermediate.layers.{i}.conv.{j}")
    for i in _indices(state, "unet.decoder.layers."):
        p = f"unet.decoder.layers.{i}"
        up = [x, const(state[f"{p}.conv1.0.weight"])]
        x = node(
            "ConvTranspose", up, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]
        )
        x = node("Concat", [node("Relu", [bn(x, f"{p}.conv1.1")]), skips[-1 - i]], axis=1)
        for j in _indices(state, f"{p}.conv2."):
            x = block(x, f"{p}.conv2.{j}")
    x = conv(x, "cnn", 1)  # (1, 3, T, 128)
    x = node("Transpose", [x], perm=[0, 2, 1, 3])
    x = node("Reshape", [x, const(np.array([0, 0, 384], np.int64))])  # (1, T, 3 * 128)
    # torch's GRU gates are (r, z, n), ONNX's (z, r, h); torch's is ONNX's linear_before_reset=1
    h = 256

    def gates(w: np.ndarray) -> np.ndarray:
        return np.concatenate([w[h : 2 * h], w[:h], w[2 * h :]])

    sfx = ("", "_reverse")
    w = np.stack([gates(state[f"fc.0.gru.weight_ih_l0{s}"]) for s in sfx])
    r = np.stack([gates(state[f"fc.0.gru.weight_hh_l0{s}"]) for s in sfx])
    b = np.stack(
        [np.concatenate([gates(state[f"fc.0.gru.bias_{g}_l0{s}"]) for g in ("ih", "hh")]) for s in sfx]
    )
    x = node("Transpose", [x], perm=[1, 0, 2])  # (T, 1, 384)
    x = node(
        "GRU",
        [x, const(w), const(r), const(b)],
        hidden_size=h,
        direction="bidirectional",
        linear_before_reset=1,
    )
    x = node("Transpose", [x], perm=[2, 0, 1, 3])  # (T, 2, 1, 256) -> (1, T, 2, 256)
    x = node("Reshape", [x, const(np.array([0, 0, 512], np.int64))])  # forward then backward state
    x = node("Add", [node("MatMul", [x, const(state["fc.1.weight"].T)]), const(state["fc.1.bias"])])
    nodes.append(helper.make_node("Sigmoid", [x], ["salience"]))
    graph = helper.make_graph(
        nodes,
        "rmvpe",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 128, "frames"])],
        [helper.make_tensor_value_info("salience", TensorProto.FLOAT, [1, "frames", 360])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _same_track(f0: np.ndarray, sal: np.ndarray, ref: dict[str, Any]) -> None:
    np.testing.assert_allclose(f0, ref["f0"], atol=1e-3, rtol=0)
    np.testing.assert_array_equal(f0 > 0, ref["f0"] > 0)
    np.testing.assert_allclose(sal, ref["sal"], atol=1e-5)


def test_hand_built_onnx_graph_gives_the_torch_path_f0(narrow: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    state = {
        k: v.numpy() for k, v in narrow["net"].state_dict().items() if not k.endswith("num_batches_tracked")
    }
    path = tmp_path / "rmvpe.onnx"
    _onnx_graph_from_state_dict(state, path)
    model = RmvpeModel(path)
    assert model.kind == "onnx" and model.device in ("cpu", "cuda")
    f0, sal = model.f0(narrow["y16"])
    assert f0.shape == (101,)
    _same_track(f0, sal, narrow)


def test_torch_onnx_export_gives_the_torch_path_f0(narrow: dict[str, Any], tmp_path: Path) -> None:
    """A file as torch.onnx.export writes it (input "input" of shape (1, 128, frames))."""
    import torch

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path = tmp_path / "rmvpe.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            narrow["net"],
            (torch.zeros(1, 128, 32),),
            str(path),
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {2: "frames"}, "output": {1: "frames"}},
            dynamo=False,
            opset_version=17,
        )
    model = RmvpeModel(path)
    f0, sal = model.f0(narrow["y16"])
    _same_track(f0, sal, narrow)
    assert model.digest == hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------
# svcprep's grid


def _grid_by_hand(track: np.ndarray, sr: int, hop: int, n_frames: int) -> np.ndarray:
    out = np.zeros(n_frames)
    for i in range(n_frames):
        pos = Fraction(i * hop, sr) / Fraction(1, 100)  # in 10 ms frames
        j = math.floor(pos)
        if j >= track.size - 1:
            out[i] = track[-1]
            continue
        w = float(pos - j)
        a, b = track[j], track[j + 1]
        if a > 0 and b > 0:
            out[i] = math.exp((1 - w) * math.log(a) + w * math.log(b))
        else:
            out[i] = a if w < 0.5 else b
    return out


class _StubModel:
    """Stands in for a loaded model: returns a fixed 10 ms track and records its input."""

    def __init__(self, track: np.ndarray) -> None:
        self.track = track
        self.seen: list[int] = []

    def f0(self, audio_16k: np.ndarray, threshold: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
        self.seen.append(audio_16k.size)
        assert audio_16k.size // 160 + 1 == self.track.size
        return self.track, (self.track > 0).astype(np.float32)


@pytest.mark.parametrize(
    ("sr", "hop"), [(44100, 512), (48000, 480), (22050, 256), (16000, 160), (24000, 100)]
)
def test_rmvpe_f0_maps_the_10ms_track_onto_the_grid(
    monkeypatch: pytest.MonkeyPatch, sr: int, hop: int
) -> None:
    n = 2 * sr + 123
    n16 = resampled_length(n, orig_sr_hz=sr, target_sr_hz=16000)
    t = np.arange(n16 // 160 + 1)
    track = 220 * 2 ** (np.sin(t / 9.0) / 2)
    track[(t % 37) < 5] = 0  # unvoiced runs
    track[60] = 0  # a single unvoiced frame
    stub = _StubModel(track)
    monkeypatch.setattr(rmvpe, "_model_for", lambda path: stub)
    n_frames = n // hop + 1
    y = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1
    f0, voiced = rmvpe_f0(y, sample_rate_hz=sr, hop_length=hop, n_frames=n_frames, model_path="rmvpe.pt")
    assert stub.seen == [n16]
    assert f0.shape == (n_frames,) and voiced.shape == (n_frames,)
    np.testing.assert_allclose(f0, _grid_by_hand(track, sr, hop, n_frames), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(voiced, f0 > 0)
    if (sr, hop) == (16000, 160):
        np.testing.assert_array_equal(f0, track[:n_frames])
    # the floor grid (one frame fewer) is the same values
    f0_floor, _ = rmvpe_f0(y, sample_rate_hz=sr, hop_length=hop, n_frames=n // hop, model_path="rmvpe.pt")
    np.testing.assert_array_equal(f0_floor, f0[:-1])


# ---------------------------------------------------------------------------------------
# errors and imports


def test_errors_name_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        RmvpeModel(tmp_path / "missing.pt")
    bad = tmp_path / "rmvpe.bin"
    bad.write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"\.pt/\.pth .* \.onnx"):
        RmvpeModel(bad)
    import importlib.util

    real = importlib.util.find_spec
    pt, ox = tmp_path / "rmvpe.pt", tmp_path / "rmvpe.onnx"
    pt.write_bytes(b"x")
    ox.write_bytes(b"x")
    with monkeypatch.context() as m:
        m.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
        with pytest.raises(ConfigError, match=r"pip install 'svcprep\[rmvpe\]'"):
            rmvpe.check_rmvpe(pt)
    with monkeypatch.context() as m:
        m.setattr(
            importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a)
        )
        with pytest.raises(ConfigError, match="pip install onnxruntime"):
            RmvpeModel(ox)
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "onnxruntime", None)  # installed but not importable
        with pytest.raises(ConfigError, match="pip install onnxruntime"):
            rmvpe._import_onnxruntime()
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "torch", None)
        with pytest.raises(ConfigError, match=r"pip install 'svcprep\[rmvpe\]'"):
            rmvpe._import_torch()


def test_state_dicts_that_do_not_fit(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "rmvpe.pt"
    torch.save({"unet.encoder.bn.weight": torch.ones(1), "decoder.extra": torch.zeros(2)}, path)
    with pytest.raises(ConfigError, match=r"missing key\(s\), the first: unet\.encoder\.bn\.bias") as err:
        RmvpeModel(path)
    assert "unexpected key(s), the first: decoder.extra" in str(err.value)
    torch.save({"cnn.weight": torch.zeros(3, 8, 3, 3)}, path)
    with pytest.raises(ConfigError, match=r"wrong shape, the first: cnn\.weight \(3, 8, 3, 3\)"):
        RmvpeModel(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(ConfigError, match="no state dict"):
        RmvpeModel(path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match="could not be read"):
        RmvpeModel(path)
    # so-vits-svc's checkpoint: under "model", with a timbre filter the forward pass never uses;
    # files saved without num_batches_tracked load too
    with torch.device("meta"):
        net = rmvpe._network_class()()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    nested = {"model": {**state, "unet.tf.layers.0.conv.0.weight": torch.zeros(1)}, "epoch": 3}
    unwrapped = rmvpe._unwrap_state_dict(nested, torch)
    assert unwrapped is not None and set(unwrapped) == set(state)
    assert rmvpe._unwrap_state_dict({"model": {"a": 1}}, torch) is None
    rmvpe._fit_state_dict(net, unwrapped, path, assign=True)


def test_importing_svcprep_imports_neither_torch_nor_onnxruntime() -> None:
    code = (
        "import sys, svcprep, svcprep.dsp.rmvpe as r\n"
        "r.decode_salience(r.__dict__['np'].zeros((2, 360)))\n"
        "print(sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_f0_method_rmvpe_in_the_build_config_keys_on_the_models_digest(
    network_files: dict[str, Any], tmp_path: Path
) -> None:
    import shutil

    from svcprep.config import load_config
    from svcprep.errors import ConfigError
    from svcprep.stages import STAGES, run_f0

    pt = Path(network_files["pt"])
    cfg = load_config(overrides=["f0.method=rmvpe", f"f0.model_path={pt}", "f0.voicing=native"])
    out = run_f0(network_files["y"], cfg)
    n = network_files["y"].size // 512 + 1
    want, voiced = rmvpe_f0(
        network_files["y"], sample_rate_hz=network_files["sr"], hop_length=512, n_frames=n, model_path=pt
    )
    voiced &= (want >= 50.0) & (want <= 1100.0)  # the search range applies as to every method
    np.testing.assert_array_equal(out["uv"].astype(bool), voiced)
    np.testing.assert_allclose(out["f0_raw"][voiced], want[voiced].astype(np.float32), rtol=1e-6)
    moved = tmp_path / "elsewhere.pt"
    shutil.copy(pt, moved)
    other = load_config(overrides=["f0.method=rmvpe", f"f0.model_path={moved}", "f0.voicing=native"])
    f0 = STAGES["f0"]
    assert f0.key(cfg, "up") == f0.key(other, "up")  # the same weights elsewhere: the same cache
    assert str(pt) not in str(f0.config(cfg)) and "torch" in f0.libraries_for(cfg)
    so_vits = load_config(
        overrides=["f0.method=rmvpe", f"f0.model_path={pt}", "f0.voicing=native", "f0.model_threshold=0.05"]
    )
    assert f0.key(so_vits, "up") != f0.key(cfg, "up")
    with pytest.raises(ConfigError, match=r"f0\.model_path"):
        load_config(overrides=["f0.method=rmvpe"])
    with pytest.raises(ConfigError, match="only used by"):
        load_config(overrides=[f"f0.model_path={pt}"])
