"""Built-in content encoders: HuBERT and ContentVec checkpoints run through ``transformers``.

``--encoder`` takes, besides ``MODULE:FUNCTION`` and ``.onnx`` plug-ins
(:mod:`svcprep.export.content`), three built-in forms (extra ``pip install 'svcprep[hubert]'``)::

    hubert:PATH        a fairseq HuBERT checkpoint (RVC's assets/hubert/hubert_base.pt)
    contentvec:PATH    a fairseq ContentVec checkpoint (so-vits-svc's checkpoint_best_legacy_500.pt)
    hf:DIR             a Hugging Face folder of a HuBERT / ContentVec model (config.json + weights)

Each may end in ``@OUTPUT``, the representation to take (see :data:`OUTPUTS`)::

    hubert:assets/hubert/hubert_base.pt              RVC v2: layer 12, 768 wide (the default for hubert:)
    hubert:assets/hubert/hubert_base.pt@rvc-v1       RVC v1: final_proj of layer 9, 256 wide
    contentvec:pretrain/checkpoint_best_legacy_500.pt             so-vits vec768l12 (default)
    contentvec:pretrain/checkpoint_best_legacy_500.pt@vec256l9    so-vits vec256l9
    hf:models/content-vec-best@l9                    any layer: l1 .. lN
    hf:models/content-vec-best@final_proj9           final_proj of any layer

Layers count the way fairseq's ``extract_features(output_layer=k)`` does, the call RVC,
so-vits-svc and DDSP-SVC make: layer ``k`` is the output of the ``k``-th transformer block
(1-based), without the final layer norm of "layer norm first" models (HuBERT large); in
transformers 5 that is ``hidden_states[k]`` of ``HubertModel``.

Everything runs in ``transformers.HubertModel``; fairseq checkpoints are mapped into it by
parameter name (fairseq itself is never imported) and read with a restricted unpickler, so
neither fairseq nor omegaconf needs to be installed and a checkpoint cannot run code while
it loads. The input normalisation the checkpoint's config asks for is applied
(fairseq ``task.normalize``: a layer norm over the whole clip, as RVC's feature step does
it; an HF folder's ``preprocessor_config.json`` ``do_normalize``: zero mean, unit variance).
A clip of ``N >= 400`` samples at 16 kHz gives ``hubert_frames(N) = (N - 400) // 320 + 1``
frames (:func:`hubert_frames`); a shorter one raises :class:`~svcprep.errors.TooShortError`.

Inference is float32, one clip at a time, on CUDA when torch sees a GPU (cuDNN
deterministic, no TF32) and otherwise on the CPU with a fixed number of threads (one by
default), so a clip's units do not depend on the number of build workers.

``import svcprep.encoders`` imports neither torch nor transformers; they are imported when
an encoder is loaded.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import importlib.util
import json
import pickle
import re
import sys
import threading
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.errors import ConfigError, TooShortError
from svcprep.store.keys import file_sha256

__all__ = [
    "DEFAULT_OUTPUTS",
    "HUBERT_INSTALL",
    "KINDS",
    "OUTPUTS",
    "SAMPLE_RATE_HZ",
    "UNIT_HOP",
    "UNIT_WINDOW",
    "BuiltinEncoder",
    "EncoderSpec",
    "OutputSpec",
    "check_builtin_encoder",
    "hubert_frames",
    "is_builtin_spec",
    "load_builtin_encoder",
    "parse_encoder_spec",
    "resolve_output",
]

#: The install command of the optional extra these encoders need.
HUBERT_INSTALL = "pip install 'svcprep[hubert]'"

#: Input rate of every HuBERT / ContentVec model.
SAMPLE_RATE_HZ = 16000

#: HuBERT's convolutional feature extractor: (kernel, stride) of its seven layers.
HUBERT_CONV: tuple[tuple[int, int], ...] = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))

#: Samples per output frame (the product of the strides) and samples seen by one frame
#: (the receptive field of the stack).
UNIT_HOP = 320
UNIT_WINDOW = 400

#: The built-in spec prefixes.
KINDS = ("hubert", "contentvec", "hf")

#: Bumped whenever a change here changes the numbers an encoder returns (it enters ``digest``).
_MAPPING_VERSION = "svcprep-hubert-1"


@dataclass(frozen=True)
class OutputSpec:
    """Which representation of the model an encoder returns.

    Attributes
    ----------
    name
        The selector as written after ``@`` (``"rvc-v1"``, ``"l9"``, ...).
    layer
        Transformer block whose output is taken (1-based, fairseq's ``output_layer``);
        ``None`` for the model's last block.
    final_proj
        Pass that output through the checkpoint's ``final_proj`` linear layer.
    framework_dims
        The width the framework that uses this output expects (768 for HuBERT / ContentVec
        base layers, 256 for their ``final_proj``); ``None`` for the generic selectors. Only
        informative: the encoder returns what the checkpoint gives.
    description
        Who uses it.
    """

    name: str
    layer: int | None
    final_proj: bool = False
    framework_dims: int | None = None
    description: str = ""


#: Named outputs: the settings of RVC, so-vits-svc and DDSP-SVC (besides these, ``lK``,
#: ``final_projK`` and ``last`` select any layer).
OUTPUTS: dict[str, OutputSpec] = {
    o.name: o
    for o in (
        OutputSpec("rvc-v2", 12, False, 768, "RVC v2 (3_feature768): output of layer 12"),
        OutputSpec("rvc-v1", 9, True, 256, "RVC v1 (3_feature256): final_proj of layer 9"),
        OutputSpec("vec768l12", 12, False, 768, "so-vits-svc 4.x speech_encoder vec768l12 (ContentVec)"),
        OutputSpec("vec256l9", 9, True, 256, "so-vits-svc 4.x speech_encoder vec256l9 (ContentVec)"),
        OutputSpec("contentvec768l12", 12, False, 768, "DDSP-SVC units_encoder contentvec768l12"),
        OutputSpec("contentvec768", 9, False, 768, "DDSP-SVC units_encoder contentvec768 (layer 9)"),
        OutputSpec("contentvec", 9, True, 256, "DDSP-SVC units_encoder contentvec (final_proj of layer 9)"),
        OutputSpec("hubertbase768l12", 12, False, 768, "DDSP-SVC units_encoder hubertbase768l12"),
        OutputSpec("hubertbase768", 9, False, 768, "DDSP-SVC units_encoder hubertbase768 (layer 9)"),
        OutputSpec("hubertbase", 9, True, 256, "DDSP-SVC units_encoder hubertbase (final_proj of layer 9)"),
        OutputSpec("hubertlarge1024l24", 24, False, 1024, "DDSP-SVC units_encoder hubertlarge1024l24"),
        OutputSpec("last", None, False, None, "output of the model's last layer"),
    )
}

#: The output each kind gives without ``@OUTPUT``.
DEFAULT_OUTPUTS: dict[str, str] = {"hubert": "rvc-v2", "contentvec": "vec768l12", "hf": "last"}

#: Encoder names of the frameworks that are other models, not a layer of HuBERT / ContentVec.
_OTHER_MODELS: dict[str, str] = {
    "hubertsoft": (
        "HuBERT-Soft (so-vits-svc / DDSP-SVC 'hubertsoft') is a different model, with its own "
        "soft-unit head and checkpoint format; it is not built in"
    ),
    "cnhubertsoftfish": (
        "DDSP-SVC's 'cnhubertsoftfish' adds its own trained projection and top-k gate on top of a "
        "Chinese HuBERT; it is not built in"
    ),
}

_GENERIC = re.compile(r"(?:l|layer)(\d+)|final_proj(\d+)")


def _allowed_outputs() -> str:
    return ", ".join([*OUTPUTS, "lK", "final_projK"])


def resolve_output(name: str) -> OutputSpec:
    """The :class:`OutputSpec` of an ``@OUTPUT`` selector.

    Parameters
    ----------
    name
        A key of :data:`OUTPUTS` (case-insensitive), ``lK`` / ``layerK`` (output of layer
        ``K >= 1``) or ``final_projK`` (``final_proj`` of layer ``K``).

    Raises
    ------
    ConfigError
        An unknown selector (the message lists the allowed ones), layer 0, or a framework
        encoder that is another model (HuBERT-Soft).
    """
    key = name.strip().lower()
    if key in OUTPUTS:
        return OUTPUTS[key]
    if key in _OTHER_MODELS:
        raise ConfigError(
            f"encoder output {name!r}: {_OTHER_MODELS[key]}; "
            "use --encoder MODULE:FUNCTION or an ONNX export of it"
        )
    m = _GENERIC.fullmatch(key)
    if m is not None:
        layer = int(m.group(1) or m.group(2))
        if layer < 1:
            raise ConfigError(f"encoder output {name!r}: layers count from 1 (fairseq's output_layer)")
        proj = m.group(2) is not None
        return OutputSpec(f"final_proj{layer}" if proj else f"l{layer}", layer, proj)
    raise ConfigError(f"encoder output {name!r} is unknown; choose one of: {_allowed_outputs()}")


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed built-in ``--encoder`` spec.

    Attributes
    ----------
    kind
        ``"hubert"``, ``"contentvec"`` (fairseq checkpoint files) or ``"hf"`` (a folder).
    path
        The checkpoint file or model folder.
    output
        The representation to return.
    text
        The spec as given.
    """

    kind: str
    path: Path
    output: OutputSpec
    text: str

    @property
    def fairseq(self) -> bool:
        """True for a fairseq checkpoint file (``hubert:`` / ``contentvec:``)."""
        return self.kind != "hf"

    @property
    def rvc_version(self) -> str | None:
        """``"v2"`` / ``"v1"`` when the output is RVC's feature of that version, else None."""
        o = self.output
        if (o.layer, o.final_proj) == (12, False):
            return "v2"
        if (o.layer, o.final_proj) == (9, True):
            return "v1"
        return None

    @property
    def sovits_speech_encoder(self) -> str | None:
        """so-vits-svc's ``speech_encoder`` for this output (``vec768l12`` / ``vec256l9``), else None."""
        o = self.output
        if (o.layer, o.final_proj) == (12, False):
            return "vec768l12"
        if (o.layer, o.final_proj) == (9, True):
            return "vec256l9"
        return None

    @property
    def ddsp_encoder(self) -> str | None:
        """DDSP-SVC's ``data.encoder`` that computes this output from this kind of checkpoint, else None.

        DDSP-SVC names its fairseq encoders after the checkpoint (``contentvec*`` for
        ContentVec, ``hubertbase*`` / ``hubertlarge*`` for HuBERT); an ``hf:`` folder has
        no DDSP-SVC name.
        """
        o = self.output
        return _DDSP_NAMES.get((self.kind, o.layer, o.final_proj))


#: DDSP-SVC's units encoders (ddsp/vocoder.py Units_Encoder): (kind, layer, final_proj) -> name.
_DDSP_NAMES: dict[tuple[str, int | None, bool], str] = {
    ("contentvec", 12, False): "contentvec768l12",
    ("contentvec", 9, False): "contentvec768",
    ("contentvec", 9, True): "contentvec",
    ("hubert", 12, False): "hubertbase768l12",
    ("hubert", 9, False): "hubertbase768",
    ("hubert", 9, True): "hubertbase",
    ("hubert", 24, False): "hubertlarge1024l24",
}


def is_builtin_spec(spec: object) -> bool:
    """True when ``spec`` is a string starting with ``hubert:``, ``contentvec:`` or ``hf:``."""
    if not isinstance(spec, str):
        return False
    kind, sep, _ = spec.strip().partition(":")
    return bool(sep) and kind.lower() in KINDS


def parse_encoder_spec(spec: str) -> EncoderSpec:
    """Parse ``KIND:PATH[@OUTPUT]`` into an :class:`EncoderSpec` (no file is opened).

    Parameters
    ----------
    spec
        ``hubert:PATH``, ``contentvec:PATH`` or ``hf:DIR``, optionally followed by
        ``@OUTPUT`` (a key of :data:`OUTPUTS`, ``lK`` or ``final_projK``). The text after
        the last ``@`` is a selector only when it holds no path separator, so
        ``hf:/models/me@home/vec`` is a path. Defaults: ``hubert`` -> ``rvc-v2``
        (layer 12), ``contentvec`` -> ``vec768l12`` (layer 12), ``hf`` -> ``last``.

    Returns
    -------
    EncoderSpec

    Raises
    ------
    ConfigError
        Another prefix, an empty path, or an unknown output (the message lists the allowed
        values).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"--encoder {spec!r}: give {', '.join(k + ':PATH' for k in KINDS)}")
    text = spec.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if not sep or kind not in KINDS:
        raise ConfigError(
            f"--encoder {text!r}: a built-in encoder is hubert:PATH (fairseq HuBERT checkpoint), "
            "contentvec:PATH (fairseq ContentVec checkpoint) or hf:DIR (Hugging Face folder), "
            f"optionally ending in @OUTPUT ({_allowed_outputs()})"
        )
    path_text, selector = rest, None
    head, at, tail = rest.rpartition("@")
    if at and head and "/" not in tail and "\\" not in tail:
        path_text, selector = head, tail
    if not path_text.strip():
        raise ConfigError(f"--encoder {text!r}: the path after {kind}: is empty")
    if selector is not None and not selector.strip():
        raise ConfigError(f"--encoder {text!r}: nothing after '@'; choose one of: {_allowed_outputs()}")
    try:
        output = resolve_output(selector if selector is not None else DEFAULT_OUTPUTS[kind])
    except ConfigError as err:
        raise ConfigError(
            f"--encoder {text!r}: {err} (if '@' belongs to the path, end the spec in an explicit "
            f"@OUTPUT, e.g. @{DEFAULT_OUTPUTS[kind]})"
        ) from None
    return EncoderSpec(kind=kind, path=Path(path_text.strip()).expanduser(), output=output, text=text)


def hubert_frames(n_samples: int) -> int:
    """Frames HuBERT's convolutional feature extractor gives for ``n_samples`` samples.

    Each of the seven layers (kernels 10, 3, 3, 3, 3, 2, 2; strides 5, 2, 2, 2, 2, 2, 2)
    maps ``L`` samples to ``(L - kernel) // stride + 1`` (no padding), which composes to
    ``(n - 400) // 320 + 1`` for ``n >= 400`` (receptive field 400 samples, hop 320) and 0
    below 400 samples, where the first layers have nothing to slide over.

    Parameters
    ----------
    n_samples
        Length of the 16 kHz input.

    Returns
    -------
    int
    """
    n = int(n_samples)
    if n < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    for kernel, stride in HUBERT_CONV:
        if n < kernel:
            return 0
        n = (n - kernel) // stride + 1
    return n


# ---------------------------------------------------------------------------------------------
# reading fairseq checkpoints without fairseq


class _Unknown:
    """What a class the unpickler does not trust becomes: it records its arguments and state.

    Nothing of the original class runs; calling, ``__setstate__``, item assignment and
    ``append`` only store what the pickle hands over, which :func:`_plain` reads back.
    """

    _pickled_as = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> _Unknown:
        obj = object.__new__(cls)
        obj.__dict__.update(_svc_args=args, _svc_kwargs=kwargs, _svc_state=None, _svc_items={}, _svc_list=[])
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_svc_state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__["_svc_items"][key] = value

    def append(self, value: Any) -> None:
        self.__dict__["_svc_list"].append(value)

    def extend(self, values: Iterable[Any]) -> None:
        self.__dict__["_svc_list"].extend(values)

    def __repr__(self) -> str:
        return f"<unpickled stand-in for {self._pickled_as}>"


_STAND_INS: dict[tuple[str, str], type] = {}
_SAFE_BUILTINS = frozenset(
    {
        "set", "frozenset", "list", "dict", "tuple", "int", "float", "bool", "str", "bytes",
        "bytearray", "complex", "slice", "range", "object", "NoneType",
    }
)  # fmt: skip


def _stand_in(module: str, name: str) -> type:
    key = (module, name)
    cls = _STAND_INS.get(key)
    if cls is None:
        cls = type(name.rpartition(".")[2] or "Unknown", (_Unknown,), {"_pickled_as": f"{module}.{name}"})
        _STAND_INS[key] = cls
    return cls


def _trusted_global(module: str, name: str) -> Any | None:
    """The real object for the few globals a state-dict checkpoint needs, else None."""
    if module == "builtins" and name in _SAFE_BUILTINS:
        return getattr(__import__("builtins"), name, None)
    if module == "collections" and name in ("OrderedDict", "defaultdict", "Counter"):
        import collections

        return getattr(collections, name)
    if (module, name) in (("argparse", "Namespace"), ("copyreg", "_reconstructor"), ("_codecs", "encode")):
        return getattr(__import__(module), name)
    if module.startswith("numpy") and module.split(".")[0] == "numpy":
        return _numpy_global(module, name)
    if module.split(".")[0] == "torch":
        return _torch_global(module, name)
    return None


def _numpy_global(module: str, name: str) -> Any | None:
    if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
        return getattr(np, name)
    if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
        try:  # numpy >= 2 (numpy.core is a deprecated alias there)
            return getattr(importlib.import_module("numpy._core.multiarray"), name)
        except ImportError:
            return getattr(importlib.import_module("numpy.core.multiarray"), name)
    if module == "numpy.dtypes" and name.endswith("DType"):
        return getattr(importlib.import_module("numpy.dtypes"), name, None)
    return None


def _torch_global(module: str, name: str) -> Any | None:
    import torch

    if module == "torch._utils" and name.startswith("_rebuild"):
        return getattr(torch._utils, name, None)
    if (module, name) in (("torch._tensor", "_rebuild_from_type_v2"), ("torch.nn.parameter", "Parameter")):
        return getattr(importlib.import_module(module), name, None)
    if module == "torch":
        obj = getattr(torch, name, None)
        if isinstance(obj, (torch.dtype, torch.layout, torch.memory_format)) or any(
            obj is c for c in (torch.Size, torch.device, torch.Tensor)
        ):
            return obj
    return None


class _CheckpointUnpickler(pickle.Unpickler):
    """An unpickler that imports nothing outside a short list of data types.

    Tensors, plain containers and ``argparse.Namespace`` load as themselves; every other
    class (omegaconf's ``DictConfig``, fairseq's ``Dictionary`` and enums, or anything
    hostile such as ``os.system``) becomes a :class:`_Unknown` stand-in that only records
    its data.
    """

    def find_class(self, module: str, name: str) -> Any:
        real = _trusted_global(module, name)
        return real if real is not None else _stand_in(module, name)


def _pickle_module() -> types.ModuleType:
    mod = types.ModuleType("svcprep_checkpoint_pickle")
    mod.Unpickler = _CheckpointUnpickler  # type: ignore[attr-defined]

    def load(file: Any, **kwargs: Any) -> Any:
        return _CheckpointUnpickler(file, **kwargs).load()

    mod.load = load  # type: ignore[attr-defined]
    return mod


def _plain(obj: Any, depth: int = 0) -> Any:
    """Plain Python data (dicts, lists, scalars) from an unpickled config; tensors become None."""
    if depth > 64:
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, depth + 1) for v in obj]
    import argparse

    if isinstance(obj, argparse.Namespace):
        return _plain(vars(obj), depth + 1)
    if isinstance(obj, _Unknown):
        d = obj.__dict__
        state = d["_svc_state"]
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}  # (dict state, slot state)
        if isinstance(state, dict):
            if "_content" in state:  # an omegaconf container: its children
                return _plain(state["_content"], depth + 1)
            if "_val" in state:  # an omegaconf value node
                return _plain(state["_val"], depth + 1)
            merged = {k: v for k, v in state.items() if k not in ("_parent", "_metadata")}
            merged.update(d["_svc_items"])
            return _plain(merged, depth + 1)
        if d["_svc_items"]:
            return _plain(d["_svc_items"], depth + 1)
        if d["_svc_list"]:
            return _plain(d["_svc_list"], depth + 1)
        if len(d["_svc_args"]) == 1:  # an enum member, pickled as EnumClass(value)
            return _plain(d["_svc_args"][0], depth + 1)
    return None


def _read_fairseq(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(state_dict, model_cfg, task_cfg)`` of a fairseq checkpoint, without fairseq or omegaconf."""
    import torch

    try:
        ckpt = torch.load(str(path), map_location="cpu", pickle_module=_pickle_module(), weights_only=False)
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        raise ConfigError(
            f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("model"), Mapping):
        keys = sorted(map(str, ckpt)) if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise ConfigError(
            f"{path}: not a fairseq checkpoint (expected a dict with the state dict under 'model', "
            f"found {keys}); for a Hugging Face folder use hf:DIR"
        )
    state = {str(k): v for k, v in ckpt["model"].items() if isinstance(v, torch.Tensor)}
    cfg = _plain(ckpt.get("cfg"))
    if isinstance(cfg, dict) and (cfg.get("model") or cfg.get("task")):
        model_cfg = cfg.get("model") or {}
        task_cfg = cfg.get("task") or {}
    else:  # older checkpoints: one flat argparse namespace under "args"
        args = _plain(ckpt.get("args"))
        model_cfg = task_cfg = args if isinstance(args, dict) else {}
    return state, dict(model_cfg), dict(task_cfg)


def _conv_spec(text: Any) -> list[tuple[int, int, int]] | None:
    """fairseq's ``conv_feature_layers`` (a Python list expression) read without ``eval``."""
    if not isinstance(text, str):
        return None

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError("unsupported expression")

    try:
        spec = value(ast.parse(text, mode="eval").body)
        layers = [(int(d), int(k), int(s)) for d, k, s in spec]
    except (SyntaxError, ValueError, TypeError):
        return None
    return layers or None


_LAYER_KEY = re.compile(r"encoder\.layers\.(\d+)\.(.+)")
_CONV_KEY = re.compile(r"feature_extractor\.conv_layers\.(\d+)\.(0|2|2\.1)\.(weight|bias)")
_LAYER_PARTS = {
    "self_attn.k_proj": "attention.k_proj",
    "self_attn.v_proj": "attention.v_proj",
    "self_attn.q_proj": "attention.q_proj",
    "self_attn.out_proj": "attention.out_proj",
    "self_attn_layer_norm": "layer_norm",
    "fc1": "feed_forward.intermediate_dense",
    "fc2": "feed_forward.output_dense",
    "final_layer_norm": "final_layer_norm",
}
_TOP = {
    "layer_norm": "feature_projection.layer_norm",
    "post_extract_proj": "feature_projection.projection",
    "encoder.layer_norm": "encoder.layer_norm",
}
#: Pre-training heads no output needs.
_IGNORED = re.compile(r"label_embs_concat|mask_emb|target_glu\..*")
_ACTIVATIONS = {"gelu": "gelu", "relu": "relu"}


def _map_fairseq(
    state: dict[str, Any], model_cfg: dict[str, Any], path: Path
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """HubertConfig arguments, the HubertModel state dict and the ``final_proj`` tensors."""
    mapped: dict[str, Any] = {}
    proj: dict[str, Any] = {}
    unmapped: list[str] = []
    conv: dict[int, dict[str, Any]] = {}
    layers: set[int] = set()
    for key, tensor in state.items():
        t = tensor.detach().float()
        m = _CONV_KEY.fullmatch(key)
        if m is not None:
            i, part, kind = int(m.group(1)), m.group(2), m.group(3)
            conv.setdefault(i, {})[f"{part}.{kind}"] = t
            target = "conv" if part == "0" else "layer_norm"
            mapped[f"feature_extractor.conv_layers.{i}.{target}.{kind}"] = t
            continue
        m = _LAYER_KEY.fullmatch(key)
        if m is not None:
            i, rest = int(m.group(1)), m.group(2)
            module, _, kind = rest.rpartition(".")
            if module in _LAYER_PARTS and kind in ("weight", "bias"):
                layers.add(i)
                mapped[f"encoder.layers.{i}.{_LAYER_PARTS[module]}.{kind}"] = t
                continue
        module, _, kind = key.rpartition(".")
        if module in _TOP and kind in ("weight", "bias"):
            mapped[f"{_TOP[module]}.{kind}"] = t
        elif key in ("encoder.pos_conv.0.weight_g", "encoder.pos_conv.0.parametrizations.weight.original0"):
            mapped["pos_conv.g"] = t
        elif key in ("encoder.pos_conv.0.weight_v", "encoder.pos_conv.0.parametrizations.weight.original1"):
            mapped["pos_conv.v"] = t
        elif key == "encoder.pos_conv.0.bias":
            mapped["encoder.pos_conv_embed.conv.bias"] = t
        elif module == "final_proj" and kind in ("weight", "bias"):
            proj[kind] = t
        elif not _IGNORED.fullmatch(key):
            unmapped.append(key)

    def fail(what: str) -> ConfigError:
        return ConfigError(f"{path}: not a HuBERT / ContentVec checkpoint svcprep can map: {what}")

    if unmapped:
        shown = ", ".join(sorted(unmapped)[:12]) + (" ..." if len(unmapped) > 12 else "")
        raise fail(f"{len(unmapped)} parameter(s) with no place in HubertModel: {shown}")
    needed = ["encoder.layer_norm.weight", "feature_projection.layer_norm.weight", "pos_conv.g", "pos_conv.v"]
    missing = [k for k in needed if k not in mapped]
    if missing or not conv or not layers:
        fairseq_names = {
            "encoder.layer_norm.weight": "encoder.layer_norm.weight",
            "feature_projection.layer_norm.weight": "layer_norm.weight",
            "pos_conv.g": "encoder.pos_conv.0.weight_g",
            "pos_conv.v": "encoder.pos_conv.0.weight_v",
        }
        names = [fairseq_names[k] for k in missing]
        if not conv:
            names.append("feature_extractor.conv_layers.*")
        if not layers:
            names.append("encoder.layers.*")
        raise fail(f"missing {', '.join(names)}")
    n_layers = max(layers) + 1
    if sorted(layers) != list(range(n_layers)) or sorted(conv) != list(range(len(conv))):
        raise fail("the layer numbers have gaps")

    hidden = int(mapped["encoder.layer_norm.weight"].shape[0])
    conv_dims = [int(conv[i]["0.weight"].shape[0]) for i in range(len(conv))]
    kernels = [int(conv[i]["0.weight"].shape[2]) for i in range(len(conv))]
    declared = _conv_spec(model_cfg.get("conv_feature_layers"))
    if declared is None:
        if tuple(kernels) != tuple(k for k, _ in HUBERT_CONV):
            raise fail(f"no conv_feature_layers in its config and kernels {kernels} are not HuBERT's")
        strides = [s for _, s in HUBERT_CONV]
    else:
        if [(d, k) for d, k, _ in declared] != list(zip(conv_dims, kernels, strict=False)) or len(
            declared
        ) != len(conv):
            raise fail(f"conv_feature_layers {declared} does not match the weights ({conv_dims}, {kernels})")
        strides = [s for _, _, s in declared]
    if tuple(zip(kernels, strides, strict=True)) != HUBERT_CONV:
        raise fail(
            f"its feature extractor (kernels {kernels}, strides {strides}) is not HuBERT's 20 ms, "
            "320-sample-hop stack"
        )
    with_norm = [i for i in range(len(conv)) if any(k.startswith("2") for k in conv[i])]
    if with_norm == [0]:
        norm = "group"
    elif with_norm == list(range(len(conv))):
        norm = "layer"
    else:
        raise fail(f"normalised conv layers {with_norm}: expected the first (group norm) or all (layer norm)")
    conv_bias = all("0.bias" in conv[i] for i in range(len(conv)))
    if not conv_bias and any("0.bias" in conv[i] for i in range(len(conv))):
        raise fail("only some conv layers have a bias")

    v = mapped["pos_conv.v"]
    pos_kernel = int(v.shape[2])
    if hidden % int(v.shape[1]) != 0:
        raise fail(f"positional convolution of shape {tuple(v.shape)} for width {hidden}")
    pos_groups = hidden // int(v.shape[1])
    heads = int(model_cfg.get("encoder_attention_heads") or 12)
    if hidden % heads != 0:
        raise fail(f"width {hidden} is not divisible by encoder_attention_heads={heads}")
    act = str(model_cfg.get("activation_fn") or "gelu")
    if act not in _ACTIVATIONS:
        raise fail(f"activation_fn={act!r} (supported: {', '.join(_ACTIVATIONS)})")
    if "feature_projection.projection.weight" not in mapped:
        if conv_dims[-1] != hidden:
            raise fail("post_extract_proj is missing")
        import torch

        # fairseq skips the projection when the widths agree: an identity does the same
        mapped["feature_projection.projection.weight"] = torch.eye(hidden)
        mapped["feature_projection.projection.bias"] = torch.zeros(hidden)
    ffn = int(mapped["encoder.layers.0.feed_forward.intermediate_dense.weight"].shape[0])
    config = {
        "hidden_size": hidden,
        "num_hidden_layers": n_layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "hidden_act": _ACTIVATIONS[act],
        "conv_dim": conv_dims,
        "conv_kernel": kernels,
        "conv_stride": strides,
        "conv_bias": conv_bias,
        "feat_extract_norm": norm,
        "feat_extract_activation": "gelu",
        "num_conv_pos_embeddings": pos_kernel,
        "num_conv_pos_embedding_groups": pos_groups,
        "do_stable_layer_norm": bool(model_cfg.get("layer_norm_first", False)),
        "feat_proj_layer_norm": True,
        "layer_norm_eps": 1e-5,
    }
    return config, mapped, proj


# ---------------------------------------------------------------------------------------------
# checks before any work


def _check_backend(text: str) -> None:
    for module in ("torch", "transformers"):
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"--encoder {text}: the built-in content encoders run on PyTorch and transformers; "
                f"{module} is not installed: {HUBERT_INSTALL}"
            )


def _check_path(spec: EncoderSpec) -> None:
    p = spec.path
    if spec.fairseq:
        if p.is_dir():
            raise ConfigError(
                f"--encoder {spec.text}: {p} is a folder; {spec.kind}: takes a checkpoint file "
                "(hf:DIR takes a folder)"
            )
        if not p.is_file():
            raise ConfigError(f"--encoder {spec.text}: no such checkpoint file: {p}")
    else:
        if not p.is_dir():
            raise ConfigError(
                f"--encoder {spec.text}: no such folder: {p} (hf: takes a Hugging Face model folder)"
            )
        if not (p / "config.json").is_file():
            raise ConfigError(
                f"--encoder {spec.text}: {p} has no config.json (not a Hugging Face model folder)"
            )


def check_builtin_encoder(spec: str | EncoderSpec) -> EncoderSpec:
    """Validate a built-in spec before any work, without importing torch.

    Parses it, checks that the checkpoint file (or the folder and its ``config.json``)
    exists and that torch and transformers are installed.

    Returns
    -------
    EncoderSpec

    Raises
    ------
    ConfigError
        A bad spec, a missing file, or a missing package (with :data:`HUBERT_INSTALL`).
    """
    parsed = spec if isinstance(spec, EncoderSpec) else parse_encoder_spec(spec)
    _check_path(parsed)
    _check_backend(parsed.text)
    return parsed


# ---------------------------------------------------------------------------------------------
# digests


def _hf_files(folder: Path) -> list[Path]:
    """The files of an HF folder that decide its numbers: configs and weights."""
    names = ("config.json", "preprocessor_config.json")
    weights = (".safetensors", ".bin", ".safetensors.index.json", ".bin.index.json")
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and (p.name in names or p.name.endswith(weights))
    )


# ---------------------------------------------------------------------------------------------
# the encoder

_RUN_LOCK = threading.Lock()


class BuiltinEncoder:
    """A loaded HuBERT / ContentVec encoder: ``enc(audio_16k) -> (frames, dims)`` float32.

    Made by :func:`load_builtin_encoder`.

    Attributes
    ----------
    spec
        The parsed spec.
    name
        ``KIND:FILE@OUTPUT``, with the output resolved (``l12`` rather than ``last``).
    dims
        Width of each frame.
    layer
        The transformer block whose output is returned (1-based).
    final_proj
        Whether ``final_proj`` is applied.
    normalize
        Whether the clip is normalised before the model (from the checkpoint's config).
    digest
        sha256 (hex) of the checkpoint's bytes (every config and weight file of an HF
        folder), the output's layer and projection, and svcprep's mapping version: equal
        digests mean equal numbers, so it can key a cache.
    device
        ``"cuda"`` or ``"cpu"``.
    num_layers
        Transformer blocks the checkpoint has.
    """

    def __init__(
        self,
        *,
        spec: EncoderSpec,
        model: Any,
        final_proj: Any | None,
        layer: int,
        num_layers: int,
        normalize: str | None,
        digest: str,
        device: str,
        threads: int | None,
    ) -> None:
        self.spec = spec
        self._model = model
        self._captured: list[Any] = []
        # the selected block is the last one kept; its output is taken by a hook, which reads
        # the same across transformers versions (whose hidden_states differ in whether the
        # last entry of a "layer norm first" model is before or after the final norm)
        model.encoder.layers[-1].register_forward_hook(self._capture)
        self._proj = final_proj
        self.layer = layer
        self.num_layers = num_layers
        self.final_proj = final_proj is not None
        self._normalize = normalize
        self.normalize = normalize is not None
        self.digest = digest
        self.device = device
        self._threads = threads
        self.dims = int(final_proj.out_features if final_proj is not None else model.config.hidden_size)
        output = f"final_proj{layer}" if self.final_proj else f"l{layer}"
        if spec.output.layer is not None:
            output = spec.output.name
        self.name = f"{spec.kind}:{spec.path.name}@{output}"

    def __repr__(self) -> str:
        return f"BuiltinEncoder({self.name!r}, dims={self.dims}, device={self.device!r})"

    @staticmethod
    def frames(n_samples: int) -> int:
        """Frames returned for ``n_samples`` samples: :func:`hubert_frames`."""
        return hubert_frames(n_samples)

    def __call__(self, audio_16k: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Encode one clip.

        Parameters
        ----------
        audio_16k
            Mono float audio at 16 kHz, shape ``(N,)``, ``N >= 400``.

        Returns
        -------
        numpy.ndarray
            float32 ``(hubert_frames(N), dims)``.

        Raises
        ------
        TooShortError
            Fewer than 400 samples (HuBERT's first frame needs 25 ms).
        ValueError
            Not 1-D, or NaN / infinity in the audio.
        """
        import torch

        x = np.asarray(audio_16k, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"audio_16k must be mono (N,), got shape {x.shape}")
        if x.size < UNIT_WINDOW:
            raise TooShortError(
                f"{x.size} samples at 16 kHz: HuBERT's first frame needs {UNIT_WINDOW} samples (25 ms)"
            )
        if not np.isfinite(x).all():
            raise ValueError("audio_16k holds NaN or infinite samples")
        if self._normalize == "hf":
            # Wav2Vec2FeatureExtractor(do_normalize=True): (x - mean) / sqrt(var + 1e-7)
            x = ((x - x.mean()) / np.sqrt(x.var() + np.float32(1e-7))).astype(np.float32)
        with _RUN_LOCK, self._torch_settings(torch), torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
            if self._normalize == "fairseq":
                # fairseq task.normalize, as RVC's feature step: layer norm over the whole clip
                t = torch.nn.functional.layer_norm(t, t.shape)
            self._captured.clear()
            self._model(t[None])
            hidden = self._captured.pop()
            if self._proj is not None:
                hidden = self._proj(hidden)
            units = hidden[0].float().cpu().numpy()
        expected = hubert_frames(x.size)
        if units.shape != (expected, self.dims):  # pragma: no cover - a broken install
            raise RuntimeError(
                f"the model returned {units.shape} for {x.size} samples, expected ({expected}, {self.dims})"
            )
        return np.ascontiguousarray(units, dtype=np.float32)

    def _capture(self, module: Any, args: Any, output: Any) -> None:
        self._captured.append(output[0] if isinstance(output, tuple) else output)

    def _torch_settings(self, torch: Any) -> Any:
        """A context fixing what changes the last digits: cuDNN's algorithm and TF32, CPU threads."""
        import contextlib

        stack = contextlib.ExitStack()
        if self.device.startswith("cuda"):
            stack.enter_context(
                torch.backends.cudnn.flags(
                    enabled=True, benchmark=False, deterministic=True, allow_tf32=False
                )
            )
        elif self._threads is not None:
            before = torch.get_num_threads()
            torch.set_num_threads(self._threads)
            stack.callback(torch.set_num_threads, before)
        return stack


def _torchaudio_loads() -> bool:
    """Whether ``import torchaudio`` works (False also when it is not installed)."""
    if "torchaudio" in sys.modules:
        return True
    if importlib.util.find_spec("torchaudio") is None:
        return False
    try:
        importlib.import_module("torchaudio")
    except Exception:  # a torchaudio built for another torch fails with OSError, ImportError, ...
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[name]
        return False
    return True


def _import_backend(text: str) -> tuple[Any, Any]:
    """torch and transformers, with transformers' HuBERT modules imported.

    transformers imports torchaudio whenever it is installed, although HuBERT never uses
    it; a torchaudio that does not load beside this torch (built for another version) would
    make the import fail, so a blank stand-in takes its place for the duration of the
    import and is removed again.
    """
    try:
        import torch
    except ImportError as err:
        raise ConfigError(f"--encoder {text}: PyTorch cannot be imported ({err}): {HUBERT_INSTALL}") from None
    stub = None
    if "transformers.models.hubert.modeling_hubert" not in sys.modules and not (
        importlib.util.find_spec("torchaudio") is None or _torchaudio_loads()
    ):
        stub = types.ModuleType("torchaudio")
        stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        sys.modules["torchaudio"] = stub
    try:
        import transformers
        from transformers.models.hubert import modeling_hubert  # noqa: F401 - imported for its side effect
    except (ImportError, OSError) as err:
        raise ConfigError(
            f"--encoder {text}: the built-in content encoders run on transformers, which cannot be "
            f"imported ({type(err).__name__}: {err}): {HUBERT_INSTALL}"
        ) from None
    finally:
        if stub is not None and sys.modules.get("torchaudio") is stub:
            del sys.modules["torchaudio"]
    return torch, transformers


def _quiet(transformers: Any) -> Callable[[], None]:
    """Silence transformers' loading chatter (key reports, progress bars) until the returned undo runs."""
    logging = transformers.utils.logging
    level = logging.get_verbosity()
    bar = getattr(logging, "is_progress_bar_enabled", lambda: False)()
    logging.set_verbosity_error()
    if bar:
        logging.disable_progress_bar()

    def undo() -> None:
        logging.set_verbosity(level)
        if bar:
            logging.enable_progress_bar()

    return undo


def _hf_final_proj(folder: Path, torch: Any) -> dict[str, Any]:
    """``final_proj.weight`` / ``.bias`` stored beside the HubertModel weights (HF ContentVec folders)."""
    found: dict[str, Any] = {}
    for p in _hf_files(folder):
        if p.name.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(str(p), framework="pt") as f:
                for key in f.keys():  # noqa: SIM118 - a safetensors handle, not a dict
                    if key.split(".")[-2:-1] == ["final_proj"]:
                        found[key.rsplit(".", 1)[1]] = f.get_tensor(key)
        elif p.name.endswith(".bin"):
            sd = torch.load(str(p), map_location="cpu", weights_only=True)
            for key, value in sd.items():
                if key.split(".")[-2:-1] == ["final_proj"]:
                    found[key.rsplit(".", 1)[1]] = value
    return found


def _hf_normalize(folder: Path, text: str) -> str | None:
    cfg_path = folder / "preprocessor_config.json"
    if not cfg_path.is_file():
        return None
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"--encoder {text}: cannot read {cfg_path}: {err}") from None
    rate = cfg.get("sampling_rate", SAMPLE_RATE_HZ)
    if rate != SAMPLE_RATE_HZ:
        raise ConfigError(
            f"--encoder {text}: the model takes {rate} Hz audio; HuBERT encoders here run at 16 kHz"
        )
    # Wav2Vec2FeatureExtractor's default is do_normalize=True
    return "hf" if cfg.get("do_normalize", True) else None


def load_builtin_encoder(
    spec: str | EncoderSpec, *, device: str | None = None, threads: int | None = 1
) -> BuiltinEncoder:
    """Load a built-in HuBERT / ContentVec encoder.

    Parameters
    ----------
    spec
        ``hubert:PATH[@OUTPUT]``, ``contentvec:PATH[@OUTPUT]`` or ``hf:DIR[@OUTPUT]``
        (see :func:`parse_encoder_spec`), or a parsed :class:`EncoderSpec`.
    device
        ``"cuda"``, ``"cpu"``, ...; default CUDA when torch sees a GPU, else the CPU.
    threads
        Intra-op threads on the CPU while a clip is encoded (restored afterwards); the
        default 1 keeps the last digits independent of the machine's core count and of
        parallel build workers. ``None`` leaves torch's setting.

    Returns
    -------
    BuiltinEncoder

    Raises
    ------
    ConfigError
        A bad spec, a missing file or folder, torch or transformers missing (the message
        gives ``pip install 'svcprep[hubert]'``), a checkpoint whose parameters do not map
        onto HubertModel (the message names them), a layer the model does not have, or
        ``final_proj`` asked of a model without one.
    """
    parsed = spec if isinstance(spec, EncoderSpec) else parse_encoder_spec(spec)
    _check_path(parsed)
    torch, transformers = _import_backend(parsed.text)
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")

    normalize: str | None
    proj_tensors: dict[str, Any]
    files: list[Path]
    undo = _quiet(transformers)
    try:
        if parsed.fairseq:
            state, model_cfg, task_cfg = _read_fairseq(parsed.path)
            config_args, mapped, proj_tensors = _map_fairseq(state, model_cfg, parsed.path)
            config = transformers.HubertConfig(
                **config_args,
                mask_time_prob=0.0,
                mask_feature_prob=0.0,
                apply_spec_augment=False,
                layerdrop=0.0,
                hidden_dropout=0.0,
                attention_dropout=0.0,
                activation_dropout=0.0,
                feat_proj_dropout=0.0,
                final_dropout=0.0,
            )
            model = transformers.HubertModel(config)
            target = model.state_dict()
            g_key = next(
                k
                for k in target
                if k.startswith("encoder.pos_conv_embed.conv.") and k.endswith(("original0", "weight_g"))
            )
            v_key = next(
                k
                for k in target
                if k.startswith("encoder.pos_conv_embed.conv.") and k.endswith(("original1", "weight_v"))
            )
            mapped[g_key] = mapped.pop("pos_conv.g")
            mapped[v_key] = mapped.pop("pos_conv.v")
            missing = sorted(set(target) - set(mapped))
            if missing:
                raise ConfigError(
                    f"{parsed.path}: the checkpoint has no values for {', '.join(missing[:12])}"
                )
            try:
                model.load_state_dict(mapped, strict=True)
            except RuntimeError as err:
                raise ConfigError(f"{parsed.path}: the parameters do not fit HubertModel: {err}") from None
            normalize = "fairseq" if bool(task_cfg.get("normalize", False)) else None
            files = [parsed.path]
        else:
            cfg = json.loads((parsed.path / "config.json").read_text(encoding="utf-8"))
            if cfg.get("model_type") != "hubert":
                raise ConfigError(
                    f"--encoder {parsed.text}: config.json has model_type {cfg.get('model_type')!r}; "
                    "hf: loads HuBERT / ContentVec models (model_type 'hubert')"
                )
            try:
                model, info = transformers.HubertModel.from_pretrained(
                    str(parsed.path), local_files_only=True, output_loading_info=True
                )
            except (OSError, ValueError) as err:
                raise ConfigError(
                    f"--encoder {parsed.text}: transformers cannot load the folder: {err}"
                ) from None
            missing = [k for k in info.get("missing_keys", ()) if "masked_spec_embed" not in k]
            mismatched = list(info.get("mismatched_keys") or [])
            if missing or mismatched:
                raise ConfigError(
                    f"--encoder {parsed.text}: the folder's weights do not fill HubertModel "
                    f"(missing {sorted(missing)[:12]}, mismatched {mismatched[:12]})"
                )
            proj_tensors = _hf_final_proj(parsed.path, torch) if parsed.output.final_proj else {}
            normalize = _hf_normalize(parsed.path, parsed.text)
            files = _hf_files(parsed.path)
    finally:
        undo()

    num_layers = int(model.config.num_hidden_layers)
    layer = parsed.output.layer if parsed.output.layer is not None else num_layers
    if layer > num_layers:
        raise ConfigError(
            f"--encoder {parsed.text}: output {parsed.output.name} takes layer {layer}, "
            f"but the checkpoint has {num_layers} transformer layers"
        )
    final_proj = None
    if parsed.output.final_proj:
        if "weight" not in proj_tensors:
            raise ConfigError(
                f"--encoder {parsed.text}: output {parsed.output.name} needs final_proj, which the "
                "checkpoint does not have; choose a layer output (e.g. @l9)"
            )
        w = proj_tensors["weight"].detach().float()
        b = proj_tensors.get("bias")
        if w.ndim != 2 or w.shape[1] != model.config.hidden_size:
            raise ConfigError(f"--encoder {parsed.text}: final_proj has shape {tuple(w.shape)}")
        final_proj = torch.nn.Linear(int(w.shape[1]), int(w.shape[0]), bias=b is not None)
        with torch.no_grad():
            final_proj.weight.copy_(w)
            if b is not None:
                final_proj.bias.copy_(b.detach().float())

    # the blocks after the selected one are never needed
    model.encoder.layers = model.encoder.layers[:layer]
    model.config.num_hidden_layers = layer
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = model.float().eval().to(dev)
    if final_proj is not None:
        final_proj = final_proj.float().eval().to(dev)

    h = hashlib.sha256()
    h.update(f"{_MAPPING_VERSION}\n{'fairseq' if parsed.fairseq else 'hf'}\n".encode())
    for p in files:
        h.update(f"{p.name if not parsed.fairseq else ''}:{file_sha256(p)}\n".encode())
    h.update(f"layer={layer}\nfinal_proj={final_proj is not None}\n".encode())
    return BuiltinEncoder(
        spec=parsed,
        model=model,
        final_proj=final_proj,
        layer=layer,
        num_layers=num_layers,
        normalize=normalize,
        digest=h.hexdigest(),
        device=str(dev),
        threads=threads,
    )
