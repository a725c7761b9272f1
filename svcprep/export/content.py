"""Content features (HuBERT / ContentVec / whisper units) from an encoder the user supplies.

svcprep cannot ship the model weights these encoders need, so the export takes a plug-in:

* ``"package.module:function"``: a Python callable ``f(audio_16k) -> (frames, dims)``
  taking float32 mono audio at 16 kHz;
* ``"path/to/model.onnx"``: an ONNX model run with onnxruntime (the optional extra
  ``pip install onnxruntime``), fed the 16 kHz audio as float32 of shape ``(1, T)``
  (or ``(T,)`` / ``(1, 1, T)`` when the model's input has rank 1 or 3); its first
  output, with leading axes of size 1 removed, must be ``(frames, dims)``.

Encoders are expected to produce one frame per :data:`UNIT_HOP_16K` samples (20 ms at
16 kHz, as HuBERT and ContentVec do); each framework aligns them to its F0 grid the way
it does itself.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.errors import ConfigError

__all__ = [
    "UNIT_HOP_16K",
    "Encoder",
    "align_units",
    "cached_encoder",
    "check_encoder_spec",
    "encode",
    "encoder_dims",
    "encoder_identity",
    "load_encoder",
    "nearest_unit_index",
]

#: Samples per content frame at 16 kHz (HuBERT / ContentVec: 20 ms).
UNIT_HOP_16K = 320

Encoder = Callable[[npt.NDArray[np.float32]], Any]


def _onnx_encoder(path: Path) -> Encoder:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(
            f"--encoder {path}: running an ONNX model needs onnxruntime, which is not installed: "
            "pip install onnxruntime"
        ) from None
    if not path.is_file():
        raise ConfigError(f"--encoder {path}: no such ONNX model file")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        raise ConfigError(f"--encoder {path}: onnxruntime cannot load the model: {err}") from None
    inp = session.get_inputs()[0]
    rank = len(inp.shape) if inp.shape is not None else 2

    def run(audio_16k: npt.NDArray[np.float32]) -> Any:
        x = np.ascontiguousarray(audio_16k, dtype=np.float32)
        if rank == 2:
            x = x[None, :]
        elif rank == 3:
            x = x[None, None, :]
        elif rank != 1:
            raise ConfigError(f"--encoder {path}: input {inp.name!r} has rank {rank}; use 1, 2 or 3")
        return session.run(None, {inp.name: x})[0]

    return run


def load_encoder(spec: str | Encoder) -> Encoder:
    """Resolve an encoder spec into a callable ``f(audio_16k) -> (frames, dims)``.

    Parameters
    ----------
    spec
        ``"module:function"`` (``function`` may be a dotted attribute path), a path to
        an ``.onnx`` file, or a callable (returned as is).

    Returns
    -------
    callable
        Takes float32 mono audio at 16 kHz; returns an array-like of shape
        ``(frames, dims)`` (check it with :func:`encode`).

    Raises
    ------
    ConfigError
        The module or function cannot be found, the ONNX file is missing or
        unreadable, or onnxruntime is not installed (with the install command).
    """
    if callable(spec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"--encoder {spec!r}: give MODULE:FUNCTION or a path to an .onnx model")
    text = spec.strip()
    from svcprep.encoders import is_builtin_spec, load_builtin_encoder

    if is_builtin_spec(text):
        return load_builtin_encoder(text)
    if text.lower().endswith(".onnx"):
        return _onnx_encoder(Path(text))
    module_name, sep, attr = text.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"--encoder {text!r}: give MODULE:FUNCTION (e.g. mypkg.units:contentvec) "
            "or a path to an .onnx model"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"--encoder {text!r}: cannot import module {module_name!r}: {err}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(
                f"--encoder {text!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    if not callable(obj):
        raise ConfigError(f"--encoder {text!r}: {attr!r} is not callable")
    return obj


@functools.lru_cache(maxsize=2)
def cached_encoder(spec: str) -> Encoder:
    """:func:`load_encoder` of a spec string, loaded once per process (models are large)."""
    return load_encoder(spec)


def encoder_dims(spec: str) -> int:
    """Width of an encoder's units (from a built-in model's config, else one probe run)."""
    enc = cached_encoder(spec)
    dims = getattr(enc, "dims", None)
    if isinstance(dims, int):
        return dims
    return int(encode(enc, np.zeros(16000, dtype=np.float32)).shape[1])


def check_encoder_spec(spec: str) -> None:
    """Validate an encoder spec before any work, importing no heavy library.

    Built-in specs (``hubert:PATH``, ``contentvec:PATH``, ``hf:DIR``) check their files and
    that torch and transformers are installed; an ``.onnx`` path must exist and
    onnxruntime be installed; ``MODULE:FUNCTION`` must name an importable module.

    Raises
    ------
    ConfigError
        What is wrong, and the fix (the pip command for a missing extra).
    """
    import importlib.util

    from svcprep.encoders import check_builtin_encoder, is_builtin_spec

    text = spec.strip()
    if is_builtin_spec(text):
        check_builtin_encoder(text)
    elif text.lower().endswith(".onnx"):
        if not Path(text).is_file():
            raise ConfigError(f"content.encoder {text!r}: no such ONNX model file")
        if importlib.util.find_spec("onnxruntime") is None:
            raise ConfigError(
                f"content.encoder {text!r}: running an ONNX model needs onnxruntime: pip install onnxruntime"
            )
    else:
        module, sep, attr = text.partition(":")
        if not sep or not module or not attr:
            raise ConfigError(
                f"content.encoder {text!r}: give hubert:PATH, contentvec:PATH, hf:DIR, FILE.onnx or "
                "MODULE:FUNCTION"
            )
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise ConfigError(f"content.encoder {text!r}: cannot find module {module!r}")


def encoder_identity(spec: str) -> dict[str, str]:
    """What identifies an encoder's output in a cache key: a content digest where there is a file.

    Built-in encoders: the checkpoint's digest and the output layer; ONNX: the file's
    sha256; ``MODULE:FUNCTION``: the spec itself (rename the function when it changes).
    """

    from svcprep.encoders import is_builtin_spec

    text = spec.strip()
    if is_builtin_spec(text):
        # the digest covers the weights and the output layer, not where the files are
        return {"kind": "builtin", "digest": str(getattr(cached_encoder(text), "digest", ""))}
    if text.lower().endswith(".onnx"):
        from svcprep.store.keys import file_sha256

        return {"kind": "onnx", "digest": file_sha256(text)}
    return {"kind": "python", "digest": text}


def encode(encoder: Encoder, audio_16k: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Run ``encoder`` on 16 kHz audio and check its output.

    Parameters
    ----------
    encoder
        From :func:`load_encoder`.
    audio_16k
        Mono float audio at 16 kHz.

    Returns
    -------
    numpy.ndarray
        float32 ``(frames, dims)``; leading axes of size 1 are removed (``(1, T, C)``).

    Raises
    ------
    ConfigError
        The output is not 2-D after squeezing, is empty, or holds NaN or infinity.
    """
    audio = np.ascontiguousarray(audio_16k, dtype=np.float32)
    out = encoder(audio)
    if hasattr(out, "detach"):  # a torch tensor
        out = out.detach().cpu().numpy()
    arr = np.asarray(out, dtype=np.float32)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ConfigError(
            f"the encoder returned an array of shape {np.shape(out)} for {audio.size} samples: "
            "it must return (frames, dims) with at least one frame"
        )
    if not np.isfinite(arr).all():
        raise ConfigError("the encoder returned NaN or infinite values")
    return np.ascontiguousarray(arr)


def nearest_unit_index(
    n_frames: int, n_units: int, *, frame_period_s: float, unit_period_s: float
) -> npt.NDArray[np.int64]:
    """The unit frame nearest in time to each of ``n_frames`` grid frames.

    ``min(round(i * ratio), n_units - 1)`` with ``ratio = frame_period_s / unit_period_s``,
    rounded half to even, the product formed in float32 as DDSP-SVC's ``Units_Encoder``
    forms it with torch (float64 would pick another frame from frame 113250 on at
    44.1 kHz / 512 against 16 kHz / 320).
    """
    if n_frames < 0 or frame_period_s <= 0 or unit_period_s <= 0:
        raise ValueError("n_frames must be >= 0 and both periods positive")
    ratio = np.float32(frame_period_s / unit_period_s)
    pos = ratio * np.arange(n_frames, dtype=np.float32)
    return np.minimum(np.rint(pos).astype(np.int64), max(n_units - 1, 0))


def align_units(
    units: npt.ArrayLike, *, n_frames: int, frame_period_s: float, unit_period_s: float
) -> npt.NDArray[np.float32]:
    """Pick the unit frame nearest in time to each frame of the grid.

    Frame ``i`` of the grid (time ``i * frame_period_s``) gets unit
    :func:`nearest_unit_index`; this is how DDSP-SVC's ``Units_Encoder`` aligns units to
    its ``len // hop + 1`` frames.

    Parameters
    ----------
    units
        ``(unit_frames, dims)``.
    n_frames
        Frames of the target grid.
    frame_period_s, unit_period_s
        Frame periods of the grid and of the units, in seconds.

    Returns
    -------
    numpy.ndarray
        float32 ``(n_frames, dims)``.
    """
    u = np.asarray(units, dtype=np.float32)
    if u.ndim != 2 or u.shape[0] == 0:
        raise ValueError(f"units must be (frames, dims) with at least one frame, got shape {u.shape}")
    index = nearest_unit_index(
        n_frames, u.shape[0], frame_period_s=frame_period_s, unit_period_s=unit_period_s
    )
    return np.ascontiguousarray(u[index])
