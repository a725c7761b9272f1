"""Built-in HuBERT / ContentVec encoders (``--encoder hubert:/contentvec:/hf:``).

A tiny randomly initialised HuBERT (12 narrow layers, so every framework's layer exists, and
HuBERT's own kernels and strides) is written by the test in both formats: a Hugging Face folder
(``save_pretrained``) and a fairseq checkpoint, renamed here by the test's own table of fairseq's
parameter names. Every output selector must equal the reference model's hidden state (or its
``final_proj``) at the right index, and the fairseq route must also equal a direct functional
computation of fairseq's forward pass from the fairseq-named tensors.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from svcprep.encoders import (
    HUBERT_INSTALL,
    OUTPUTS,
    BuiltinEncoder,
    check_builtin_encoder,
    hubert_frames,
    is_builtin_spec,
    load_builtin_encoder,
    parse_encoder_spec,
)
from svcprep.errors import ConfigError, TooShortError
from tests._data import shared_file

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
F = torch.nn.functional

from svcprep.encoders import _import_backend  # noqa: E402 - only with torch and transformers

_, transformers = _import_backend("tests")

HIDDEN, FFN, HEADS, LAYERS, PROJ = 32, 64, 2, 12, 16
CONV_DIMS = (8, 16, 16, 16, 16, 16, 24)  # 24 != 32: fairseq then has post_extract_proj
POS_K, POS_G = 16, 4  # an even kernel: the last positional frame is dropped
CONV_SPEC = "[(8, 10, 5)] + [(16, 3, 2)] * 4 + [(16, 2, 2)] + [(24, 2, 2)]"
STRIDES = (5, 2, 2, 2, 2, 2, 2)


class HubertWithProj(transformers.HubertModel):
    """HubertModel plus ContentVec's ``final_proj``, the way HF-format ContentVec folders store it."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.final_proj = torch.nn.Linear(config.hidden_size, config.classifier_proj_size)


def _config(**overrides: Any) -> Any:
    args: dict[str, Any] = dict(
        hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FFN,
        conv_dim=CONV_DIMS, num_conv_pos_embeddings=POS_K, num_conv_pos_embedding_groups=POS_G,
        classifier_proj_size=PROJ,
    )  # fmt: skip
    args.update(overrides)
    return transformers.HubertConfig(**args)


def _reference(seed: int = 0, **overrides: Any) -> Any:
    torch.manual_seed(seed)
    model = HubertWithProj(_config(**overrides)).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a swapped or dropped tensor shows
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


# fairseq's parameter names (fairseq/models/hubert/hubert.py, wav2vec2.py) for each HubertModel name
_TO_FAIRSEQ = [
    (r"feature_extractor\.conv_layers\.(\d+)\.conv\.(weight|bias)", r"feature_extractor.conv_layers.\1.0.\2"),
    (r"feature_projection\.layer_norm\.(weight|bias)", r"layer_norm.\1"),
    (r"feature_projection\.projection\.(weight|bias)", r"post_extract_proj.\1"),
    (r"encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original0", "encoder.pos_conv.0.weight_g"),
    (r"encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original1", "encoder.pos_conv.0.weight_v"),
    (r"encoder\.pos_conv_embed\.conv\.bias", "encoder.pos_conv.0.bias"),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.layer_norm.\1"),
    (r"encoder\.layers\.(\d+)\.attention\.(\w+)_proj\.(\w+)", r"encoder.layers.\1.self_attn.\2_proj.\3"),
    (r"encoder\.layers\.(\d+)\.layer_norm\.(weight|bias)", r"encoder.layers.\1.self_attn_layer_norm.\2"),
    (r"encoder\.layers\.(\d+)\.feed_forward\.intermediate_dense\.(weight|bias)", r"encoder.layers.\1.fc1.\2"),
    (r"encoder\.layers\.(\d+)\.feed_forward\.output_dense\.(weight|bias)", r"encoder.layers.\1.fc2.\2"),
    (r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)", r"encoder.layers.\1.final_layer_norm.\2"),
    (r"final_proj\.(weight|bias)", r"final_proj.\1"),
    (r"masked_spec_embed", "mask_emb"),
]  # fmt: skip


def fairseq_state(model: Any, *, layer_norm_extractor: bool = False) -> dict[str, Any]:
    """The model's weights under fairseq's names, plus the pre-training head fairseq also stores."""
    # the conv block's norm is module 2 of fairseq's Sequential (group norm), or 2.1 inside it (layer norm)
    norm = (
        r"feature_extractor.conv_layers.\1.2.1.\2"
        if layer_norm_extractor
        else r"feature_extractor.conv_layers.\1.2.\2"
    )
    table = [(r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(weight|bias)", norm), *_TO_FAIRSEQ]
    out: dict[str, Any] = {}
    for name, tensor in model.state_dict().items():
        for pattern, repl in table:
            if re.fullmatch(pattern, name):
                out[re.sub(pattern, repl, name)] = tensor.detach().clone()
                break
        else:
            raise AssertionError(f"the test's table has no fairseq name for {name}")
    out.setdefault("mask_emb", torch.rand(HIDDEN))
    out["label_embs_concat"] = torch.rand(504, PROJ)
    return out


def fairseq_cfg(
    *, normalize: bool = False, layer_norm_first: bool = False, ln_extractor: bool = False
) -> dict:
    model = {
        "_name": "hubert", "encoder_layers": LAYERS, "encoder_embed_dim": HIDDEN,
        "encoder_ffn_embed_dim": FFN, "encoder_attention_heads": HEADS, "activation_fn": "gelu",
        "layer_norm_first": layer_norm_first, "conv_feature_layers": CONV_SPEC, "conv_bias": ln_extractor,
        "conv_pos": POS_K, "conv_pos_groups": POS_G, "final_dim": PROJ,
        "extractor_mode": "layer_norm" if ln_extractor else "default",
    }  # fmt: skip
    return {
        "model": model,
        "task": {"_name": "hubert_pretraining", "normalize": normalize, "sample_rate": 16000},
    }


def fairseq_forward(sd: dict[str, Any], wav: Any, layer: int, *, layer_norm_first: bool = False) -> Any:
    """fairseq's ``extract_features(output_layer=layer)``, computed directly from the fairseq tensors."""
    x = wav[None, None]
    for i, stride in enumerate(STRIDES):
        x = F.conv1d(x, sd[f"feature_extractor.conv_layers.{i}.0.weight"],
                     sd.get(f"feature_extractor.conv_layers.{i}.0.bias"), stride=stride)  # fmt: skip
        if f"feature_extractor.conv_layers.{i}.2.1.weight" in sd:  # layer_norm mode: every block
            w, b = (
                sd[f"feature_extractor.conv_layers.{i}.2.1.weight"],
                sd[f"feature_extractor.conv_layers.{i}.2.1.bias"],
            )
            x = F.layer_norm(x.transpose(1, 2), (x.shape[1],), w, b).transpose(1, 2)
        elif i == 0:  # default mode: group norm (one group per channel) on the first block
            w, b = (
                sd["feature_extractor.conv_layers.0.2.weight"],
                sd["feature_extractor.conv_layers.0.2.bias"],
            )
            x = F.group_norm(x, x.shape[1], w, b)
        x = F.gelu(x)
    f = x.transpose(1, 2)
    f = F.layer_norm(f, (f.shape[-1],), sd["layer_norm.weight"], sd["layer_norm.bias"])
    f = F.linear(f, sd["post_extract_proj.weight"], sd["post_extract_proj.bias"])
    g, v = sd["encoder.pos_conv.0.weight_g"], sd["encoder.pos_conv.0.weight_v"]
    w = v * (g / v.norm(dim=(0, 1), keepdim=True))  # weight norm over every dim but 2
    pos = F.conv1d(f.transpose(1, 2), w, sd["encoder.pos_conv.0.bias"], padding=POS_K // 2, groups=POS_G)
    pos = F.gelu(pos[:, :, :-1] if POS_K % 2 == 0 else pos)
    x = f + pos.transpose(1, 2)

    def ln(t: Any, name: str) -> Any:
        return F.layer_norm(t, (HIDDEN,), sd[f"{name}.weight"], sd[f"{name}.bias"])

    def lin(t: Any, name: str) -> Any:
        return F.linear(t, sd[f"{name}.weight"], sd[f"{name}.bias"])

    def attn(t: Any, p: str) -> Any:
        n, d = t.shape[1], HIDDEN // HEADS
        q, k, vv = (lin(t, f"{p}.self_attn.{c}_proj").view(1, n, HEADS, d).transpose(1, 2) for c in "qkv")
        a = torch.softmax((q * d**-0.5) @ k.transpose(-1, -2), dim=-1) @ vv
        return lin(a.transpose(1, 2).reshape(1, n, HIDDEN), f"{p}.self_attn.out_proj")

    if not layer_norm_first:
        x = ln(x, "encoder.layer_norm")
    for i in range(layer):  # fairseq stops after block output_layer - 1 (0-based)
        p = f"encoder.layers.{i}"
        if layer_norm_first:
            x = x + attn(ln(x, f"{p}.self_attn_layer_norm"), p)
            x = x + lin(F.gelu(lin(ln(x, f"{p}.final_layer_norm"), f"{p}.fc1")), f"{p}.fc2")
        else:
            x = ln(x + attn(x, p), f"{p}.self_attn_layer_norm")
            x = ln(x + lin(F.gelu(lin(x, f"{p}.fc1")), f"{p}.fc2"), f"{p}.final_layer_norm")
    return x[0]  # with output_layer given, no final layer norm even for layer_norm_first


def _install_fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, type]:
    """Classes pickled under omegaconf's and fairseq's module paths, registered only while saving."""
    classes: dict[str, type] = {}
    for parent in ("omegaconf", "fairseq", "fairseq.data", "fairseq.dataclass"):
        if parent not in sys.modules:  # pickle imports the parents of a class's module too
            monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    for module, name in [
        ("omegaconf.dictconfig", "DictConfig"), ("omegaconf.nodes", "AnyNode"),
        ("omegaconf.nodes", "BooleanNode"), ("omegaconf.base", "ContainerMetadata"),
        ("fairseq.data.dictionary", "Dictionary"),
    ]:  # fmt: skip
        mod = sys.modules.get(module)
        if mod is None or not mod.__dict__.get("_svcprep_fake"):
            mod = types.ModuleType(module)
            mod._svcprep_fake = True  # type: ignore[attr-defined]
            monkeypatch.setitem(sys.modules, module, mod)
        cls = type(name, (), {"__module__": module, "__qualname__": name})
        setattr(mod, name, cls)
        classes[name] = cls

    class Choice:  # an enum member as fairseq's ChoiceEnum pickles it: Class(value)
        def __init__(self, value: str) -> None:
            self.value = value

        def __reduce__(self) -> tuple:
            return (type(self), (self.value,))

    enum_mod = types.ModuleType("fairseq.dataclass.constants")
    Choice.__module__, Choice.__qualname__ = "fairseq.dataclass.constants", "EXTRACTOR_MODE_CHOICES"
    enum_mod.EXTRACTOR_MODE_CHOICES = Choice  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fairseq.dataclass.constants", enum_mod)
    classes["Choice"] = Choice
    return classes


def _omegaconf_like(value: Any, classes: dict[str, type], parent: Any = None) -> Any:
    """A nested DictConfig-shaped object: ``_content`` of nodes holding ``_val``, parents linked back."""
    if isinstance(value, dict):
        node = classes["DictConfig"]()
        meta = classes["ContainerMetadata"]()
        meta.__dict__.update(ref_type=Any, object_type=dict, key_type=str)
        node.__dict__.update(_metadata=meta, _parent=parent, _content={})
        for k, v in value.items():
            node._content[k] = _omegaconf_like(v, classes, node)
        return node
    leaf = classes["BooleanNode" if isinstance(value, bool) else "AnyNode"]()
    if value == "default":
        value = classes["Choice"]("default")
    leaf.__dict__.update(_val=value, _metadata=None, _parent=parent)
    return leaf


class _Hostile:
    """Pickles as a call of ``os.system``: loading must not run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


class _HostileEval:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (eval, (f"__import__('pathlib').Path({str(self.marker)!r}).touch()",))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hubert")
    ref = _reference()
    hf = root / "hf"
    ref.save_pretrained(hf)
    plain = transformers.HubertModel(_config())  # the same weights, without final_proj
    plain.load_state_dict({k: v for k, v in ref.state_dict().items() if not k.startswith("final_proj")})
    plain.save_pretrained(root / "hf_plain")
    sd = fairseq_state(ref)
    torch.save({"model": sd, "cfg": fairseq_cfg(), "optimizer_history": []}, root / "hubert.pt")
    # the older layout: everything in one argparse namespace under "args"
    flat = {**fairseq_cfg()["model"], **fairseq_cfg()["task"]}
    # ... saved in torch's pre-1.6 (non-zip) format
    ckpt = {"model": sd, "args": argparse.Namespace(**flat), "cfg": None}
    torch.save(ckpt, root / "args.pt", _use_new_zipfile_serialization=False)
    return {"root": root, "ref": ref, "sd": sd, "hf": hf, "hf_plain": root / "hf_plain",
            "pt": root / "hubert.pt", "args_pt": root / "args.pt"}  # fmt: skip


def _wav(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def _real_audio() -> list[np.ndarray]:
    speech, sr = sf.read(shared_file("speech/cmu_arctic/arctic_a0009.wav"), dtype="float32")
    assert sr == 16000
    song, sr = sf.read(shared_file("singing/sms_tools/vignesh.wav"), dtype="float32", always_2d=True)
    song16 = soxr.resample(song.mean(axis=1), sr, 16000).astype(np.float32)
    return [speech[8000:24000], song16[8000:24000]]


def _ref_outputs(ref: Any, wav: np.ndarray) -> tuple[list[np.ndarray], Any]:
    with torch.no_grad():
        out = ref(torch.from_numpy(wav)[None], output_hidden_states=True)
    return [h[0].numpy() for h in out.hidden_states], out.hidden_states


def _expected(ref: Any, hidden: Any, layer: int, proj: bool) -> np.ndarray:
    with torch.no_grad():
        h = hidden[layer]
        return (ref.final_proj(h) if proj else h)[0].numpy()


SELECTORS = {  # selector -> (layer, final_proj) on the 12-layer model
    "": (12, False), "@rvc-v2": (12, False), "@rvc-v1": (9, True), "@vec768l12": (12, False),
    "@vec256l9": (9, True), "@contentvec768l12": (12, False), "@contentvec768": (9, False),
    "@hubertbase": (9, True), "@l1": (1, False), "@l5": (5, False), "@final_proj3": (3, True),
    "@last": (12, False),
}  # fmt: skip


@pytest.mark.parametrize("kind", ["hubert", "contentvec", "hf"])
def test_every_output_equals_the_reference_model(tiny: dict[str, Any], kind: str) -> None:
    path = tiny["hf"] if kind == "hf" else tiny["pt"]
    clips = [_wav(1, 16000), _wav(2, 5123), *_real_audio()]
    refs = [_ref_outputs(tiny["ref"], c)[1] for c in clips]
    # every selector through the fairseq mapping; the other kinds share that code past loading
    selectors = (
        SELECTORS if kind == "hubert" else {k: SELECTORS[k] for k in ("", "@vec256l9", "@l5", "@final_proj3")}
    )
    for selector, (layer, proj) in selectors.items():
        enc = load_builtin_encoder(f"{kind}:{path}{selector}", device="cpu")
        assert (enc.layer, enc.final_proj, enc.dims) == (layer, proj, PROJ if proj else HIDDEN)
        for clip, hidden in zip(clips, refs, strict=True):
            got = enc(clip)
            want = _expected(tiny["ref"], hidden, layer, proj)
            assert got.dtype == np.float32 and got.shape == (hubert_frames(clip.size), enc.dims)
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=f"{kind}{selector}")


def test_fairseq_route_equals_fairseqs_own_forward(tiny: dict[str, Any]) -> None:
    # independent of transformers: fairseq's post-norm blocks, layer k = after k blocks, no final norm
    sd = tiny["sd"]
    wav = _wav(3, 12000)
    for layer in (1, 9, 12):
        want = fairseq_forward(sd, torch.from_numpy(wav), layer)
        got = load_builtin_encoder(f"hubert:{tiny['pt']}@l{layer}", device="cpu")(wav)
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5, rtol=0)
    proj = F.linear(
        fairseq_forward(sd, torch.from_numpy(wav), 9), sd["final_proj.weight"], sd["final_proj.bias"]
    )
    got = load_builtin_encoder(f"hubert:{tiny['pt']}@rvc-v1", device="cpu")(wav)
    np.testing.assert_allclose(got, proj.numpy(), atol=1e-5, rtol=0)


def test_layer_norm_first_model_with_layer_norm_extractor(tmp_path: Path) -> None:
    # HuBERT-large style: pre-norm blocks (do_stable_layer_norm), a layer norm in every conv block, conv bias
    ref = _reference(seed=5, do_stable_layer_norm=True, feat_extract_norm="layer", conv_bias=True)
    sd = fairseq_state(ref, layer_norm_extractor=True)
    assert (
        "feature_extractor.conv_layers.3.2.1.weight" in sd and "feature_extractor.conv_layers.3.0.bias" in sd
    )
    cfg = fairseq_cfg(layer_norm_first=True, ln_extractor=True)
    torch.save({"model": sd, "cfg": cfg}, tmp_path / "large.pt")
    wav = _wav(4, 9000)
    _, hidden = _ref_outputs(ref, wav)
    for layer in (4, 12):
        got = load_builtin_encoder(f"hubert:{tmp_path / 'large.pt'}@l{layer}", device="cpu")(wav)
        np.testing.assert_allclose(got, hidden[layer][0].numpy(), atol=1e-5, rtol=0)
        want = fairseq_forward(sd, torch.from_numpy(wav), layer, layer_norm_first=True)
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5, rtol=0)


def test_config_pickled_as_omegaconf_and_fairseq_objects_loads_without_them(
    tiny: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "omega.pt"
    had_omegaconf = "omegaconf" in sys.modules
    with monkeypatch.context() as m:
        classes = _install_fakes(m)
        dictionary = classes["Dictionary"]()
        dictionary.__dict__.update(symbols=["<s>", "<pad>", "0", "1"], indices={"0": 2, "1": 3})
        ckpt = {
            "model": tiny["sd"],
            "cfg": _omegaconf_like(fairseq_cfg(normalize=True), classes),
            "task_state": {"dictionaries": [dictionary]},
            "extra_state": {"a": _Hostile(tmp_path / "pwned"), "b": _HostileEval(tmp_path / "pwned2")},
        }
        torch.save(ckpt, path)
    assert not [
        n for n, mod in list(sys.modules.items()) if getattr(mod, "__dict__", {}).get("_svcprep_fake")
    ]
    enc = load_builtin_encoder(f"contentvec:{path}@vec256l9", device="cpu")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert ("omegaconf" in sys.modules) == had_omegaconf
    assert enc.normalize  # task.normalize, read through DictConfig -> BooleanNode._val
    wav = _wav(6, 8000)
    normed = F.layer_norm(torch.from_numpy(wav), (wav.size,))
    _, hidden = _ref_outputs(tiny["ref"], normed.numpy())
    np.testing.assert_allclose(enc(wav), _expected(tiny["ref"], hidden, 9, True), atol=1e-5, rtol=0)


def test_args_namespace_checkpoint(tiny: dict[str, Any]) -> None:
    wav = _wav(7, 7000)
    a = load_builtin_encoder(f"hubert:{tiny['args_pt']}", device="cpu")
    b = load_builtin_encoder(f"hubert:{tiny['pt']}", device="cpu")
    assert not a.normalize
    np.testing.assert_array_equal(a(wav), b(wav))


def test_hf_preprocessor_normalisation(tiny: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "hf_norm"
    shutil.copytree(tiny["hf"], folder)
    pre = {"feature_extractor_type": "Wav2Vec2FeatureExtractor", "do_normalize": True, "sampling_rate": 16000}
    (folder / "preprocessor_config.json").write_text(json.dumps(pre))
    enc = load_builtin_encoder(f"hf:{folder}@l9", device="cpu")
    assert enc.normalize and enc.digest != load_builtin_encoder(f"hf:{tiny['hf']}@l9", device="cpu").digest
    wav = _wav(8, 6000)
    normed = ((wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)).astype(np.float32)
    _, hidden = _ref_outputs(tiny["ref"], normed)
    np.testing.assert_allclose(enc(wav), hidden[9][0].numpy(), atol=1e-5, rtol=0)
    (folder / "preprocessor_config.json").write_text(json.dumps({**pre, "sampling_rate": 22050}))
    with pytest.raises(ConfigError, match="22050"):
        load_builtin_encoder(f"hf:{folder}", device="cpu")


@pytest.fixture(scope="module")
def enc_l12(tiny: dict[str, Any]) -> BuiltinEncoder:
    return load_builtin_encoder(f"hubert:{tiny['pt']}", device="cpu")


def test_frame_count_is_hubert_conv_arithmetic() -> None:
    assert [hubert_frames(n) for n in (0, 1, 399, 400, 719, 720, 16000)] == [0, 0, 0, 1, 1, 2, 49]
    for n in range(400, 20000, 7):
        assert hubert_frames(n) == (n - 400) // 320 + 1
    assert all(hubert_frames(n) == 0 for n in range(400))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=400, max_value=9000))
def test_encoder_frames_match_the_arithmetic(enc_l12: BuiltinEncoder, tiny: dict[str, Any], n: int) -> None:
    wav = _wav(n, n)
    units = enc_l12(wav)
    with torch.no_grad():
        ref_frames = tiny["ref"](torch.from_numpy(wav)[None]).last_hidden_state.shape[1]
    assert units.shape == (hubert_frames(n), HIDDEN) == (ref_frames, HIDDEN)
    assert enc_l12.frames(n) == (n - 400) // 320 + 1


def test_short_and_bad_audio(enc_l12: BuiltinEncoder) -> None:
    with pytest.raises(TooShortError, match="400"):
        enc_l12(np.zeros(399, np.float32))
    with pytest.raises(ValueError, match="mono"):
        enc_l12(np.zeros((2, 1000), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        enc_l12(np.full(1000, np.nan, np.float32))
    assert enc_l12(np.zeros(400, np.float32)).shape == (1, HIDDEN)


def test_deterministic_and_digest(tiny: dict[str, Any], enc_l12: BuiltinEncoder) -> None:
    wav = _wav(9, 11111)
    np.testing.assert_array_equal(enc_l12(wav), enc_l12(wav))
    again = load_builtin_encoder(f"hubert:{tiny['pt']}@vec768l12", device="cpu")
    np.testing.assert_array_equal(again(wav), enc_l12(wav))
    assert again.digest == enc_l12.digest  # same file, same layer: same numbers
    assert len(enc_l12.digest) == 64 and enc_l12.name == "hubert:hubert.pt@rvc-v2"
    others = {
        load_builtin_encoder(f"hubert:{tiny['pt']}{s}", device="cpu").digest for s in ("@l9", "@final_proj9")
    }
    assert enc_l12.digest not in others and len(others) == 2
    assert load_builtin_encoder(f"hubert:{tiny['args_pt']}", device="cpu").digest != enc_l12.digest
    assert load_builtin_encoder(f"hf:{tiny['hf']}", device="cpu").digest != enc_l12.digest


def test_spec_parsing() -> None:
    s = parse_encoder_spec("hubert:assets/hubert/hubert_base.pt")
    assert (s.kind, s.path, s.output.name, s.output.layer, s.output.final_proj) == (
        "hubert", Path("assets/hubert/hubert_base.pt"), "rvc-v2", 12, False
    )  # fmt: skip
    assert (s.rvc_version, s.sovits_speech_encoder, s.ddsp_encoder) == ("v2", "vec768l12", "hubertbase768l12")
    s = parse_encoder_spec("contentvec:pretrain/checkpoint_best_legacy_500.pt")
    assert (s.output.name, s.ddsp_encoder) == ("vec768l12", "contentvec768l12")
    s = parse_encoder_spec("contentvec:x.pt@VEC256L9")
    assert (s.output.layer, s.output.final_proj, s.rvc_version, s.ddsp_encoder) == (
        9,
        True,
        "v1",
        "contentvec",
    )
    assert parse_encoder_spec("hf:models/cv").output.layer is None
    assert parse_encoder_spec("hf:models/cv@l7").output.layer == 7
    assert parse_encoder_spec("hf:models/cv@layer7").output.name == "l7"
    assert parse_encoder_spec("hubert:a.pt@final_proj9").output.final_proj
    assert parse_encoder_spec("hf:/data/me@home/cv").path == Path("/data/me@home/cv")  # '@' in the path
    assert parse_encoder_spec("HuBERT:C:\\models\\hubert_base.pt").path == Path("C:\\models\\hubert_base.pt")
    assert OUTPUTS["rvc-v1"].framework_dims == 256 and OUTPUTS["hubertlarge1024l24"].layer == 24
    assert (
        is_builtin_spec("contentvec:x.pt")
        and not is_builtin_spec("mypkg.units:fn")
        and not is_builtin_spec(None)
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("wavlm:x.pt", "hubert:PATH"),
        ("hubert:", "empty"),
        ("hubert:x.pt@", "nothing after"),
        ("hubert:x.pt@vec999", "rvc-v2, rvc-v1, vec768l12, vec256l9"),
        ("hubert:x.pt@l0", "count from 1"),
        ("contentvec:x.pt@hubertsoft", "different model"),
        ("hubert:x.pt@cnhubertsoftfish", "not built in"),
        ("", "hubert:PATH"),
    ],
)
def test_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_encoder_spec(spec)


def test_missing_files(tiny: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such checkpoint file"):
        load_builtin_encoder(f"hubert:{tmp_path / 'nope.pt'}")
    with pytest.raises(ConfigError, match="is a folder"):
        check_builtin_encoder(f"contentvec:{tiny['hf']}")
    with pytest.raises(ConfigError, match="no such folder"):
        check_builtin_encoder(f"hf:{tmp_path / 'nope'}")
    with pytest.raises(ConfigError, match=r"config\.json"):
        check_builtin_encoder(f"hf:{tmp_path}")
    assert check_builtin_encoder(f"hf:{tiny['hf']}@l3").output.layer == 3


def test_checkpoints_that_do_not_map(tiny: dict[str, Any], tmp_path: Path) -> None:
    sd = dict(tiny["sd"])
    cfg = fairseq_cfg()
    torch.save({"model": {**sd, "spk_proj.weight": torch.zeros(2, 2)}, "cfg": cfg}, tmp_path / "extra.pt")
    with pytest.raises(ConfigError, match=r"spk_proj\.weight"):
        load_builtin_encoder(f"hubert:{tmp_path / 'extra.pt'}")
    torch.save({"model": {k: v for k, v in sd.items() if k != "encoder.pos_conv.0.weight_g"}, "cfg": cfg},
               tmp_path / "missing.pt")  # fmt: skip
    with pytest.raises(ConfigError, match=r"encoder\.pos_conv\.0\.weight_g"):
        load_builtin_encoder(f"hubert:{tmp_path / 'missing.pt'}")
    torch.save({"model": {k: v for k, v in sd.items() if k != "encoder.layers.3.fc1.bias"}, "cfg": cfg},
               tmp_path / "hole.pt")  # fmt: skip
    with pytest.raises(ConfigError, match=r"fc1\.bias|intermediate_dense\.bias"):
        load_builtin_encoder(f"hubert:{tmp_path / 'hole.pt'}")
    torch.save({"state_dict": sd}, tmp_path / "lightning.pt")
    with pytest.raises(ConfigError, match="not a fairseq checkpoint"):
        load_builtin_encoder(f"hubert:{tmp_path / 'lightning.pt'}")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable PyTorch checkpoint"):
        load_builtin_encoder(f"hubert:{tmp_path / 'junk.pt'}")
    bad_strides = {
        **cfg,
        "model": {**cfg["model"], "conv_feature_layers": CONV_SPEC.replace("(8, 10, 5)", "(8, 10, 4)")},
    }
    torch.save({"model": sd, "cfg": bad_strides}, tmp_path / "strides.pt")
    with pytest.raises(ConfigError, match="320-sample"):
        load_builtin_encoder(f"hubert:{tmp_path / 'strides.pt'}")


def test_layers_and_final_proj_the_model_lacks(tiny: dict[str, Any], tmp_path: Path) -> None:
    four = {k: v for k, v in tiny["sd"].items() if not re.match(r"encoder\.layers\.([4-9]|1\d)\.", k)}
    torch.save({"model": four, "cfg": fairseq_cfg()}, tmp_path / "four.pt")
    with pytest.raises(ConfigError, match="layer 12, but the checkpoint has 4"):
        load_builtin_encoder(f"hubert:{tmp_path / 'four.pt'}")
    assert load_builtin_encoder(f"hubert:{tmp_path / 'four.pt'}@last").layer == 4
    no_proj = {k: v for k, v in tiny["sd"].items() if not k.startswith("final_proj")}
    torch.save({"model": no_proj, "cfg": fairseq_cfg()}, tmp_path / "noproj.pt")
    with pytest.raises(ConfigError, match="final_proj"):
        load_builtin_encoder(f"hubert:{tmp_path / 'noproj.pt'}@rvc-v1")
    with pytest.raises(ConfigError, match="final_proj"):
        load_builtin_encoder(f"hf:{tiny['hf_plain']}@vec256l9")
    wav = _wav(10, 5000)
    np.testing.assert_allclose(  # the plain folder has the same weights
        load_builtin_encoder(f"hf:{tiny['hf_plain']}@l9", device="cpu")(wav),
        load_builtin_encoder(f"hf:{tiny['hf']}@l9", device="cpu")(wav), atol=1e-6, rtol=0,
    )  # fmt: skip


def test_hf_folder_whose_weights_do_not_fill_the_model(tiny: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "hf13"
    shutil.copytree(tiny["hf"], folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 13}))
    with pytest.raises(ConfigError, match=r"encoder\.layers\.12\."):
        load_builtin_encoder(f"hf:{folder}")
    (folder / "config.json").write_text(json.dumps({**cfg, "model_type": "wav2vec2"}))
    with pytest.raises(ConfigError, match="model_type"):
        load_builtin_encoder(f"hf:{folder}")


def test_cuda_settings_are_deterministic_and_restored(
    enc_l12: BuiltinEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    cudnn = torch.backends.cudnn
    before = (cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32)
    monkeypatch.setattr(enc_l12, "device", "cuda")
    with enc_l12._torch_settings(torch):
        assert (cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32) == (True, False, False)
    assert (cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32) == before
    monkeypatch.setattr(enc_l12, "device", "cpu")
    threads = torch.get_num_threads()
    with enc_l12._torch_settings(torch):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads


def test_missing_backend_names_the_pip_command(tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=re.escape(HUBERT_INSTALL)):
        check_builtin_encoder(f"hubert:{tiny['pt']}")
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.setitem(sys.modules, "transformers.models.hubert", None)
    with pytest.raises(ConfigError, match=re.escape(HUBERT_INSTALL)):
        load_builtin_encoder(f"hubert:{tiny['pt']}")


def test_importing_svcprep_and_the_module_imports_no_torch() -> None:
    code = (
        "import sys, svcprep, svcprep.encoders as e\n"
        "e.parse_encoder_spec('hubert:x.pt@rvc-v1'); e.hubert_frames(1000)\n"
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
