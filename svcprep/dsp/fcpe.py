"""FCPE pitch estimation (the ``torchfcpe`` model, MIT, its weights ship in the wheel).

``f0.method = "fcpe"`` (extra ``pip install 'svcprep[fcpe]'``). The network is
torchfcpe's bundled ``CFNaiveMelPE``; everything around it is svcprep's own:

* the input is svcprep's soxr resample to 16 kHz, and the log-mel front end is computed
  by :func:`svcprep.dsp.mel.log_mel` with the model's own settings (1024-point STFT,
  hop 160, 128 Slaney bins 0-8000 Hz, padding ``(1024 - 160) // 2`` on both sides as
  nvSTFT does, ``sqrt(|X|^2 + 1e-9)``, ``ln(max(x, 1e-5))``, ``len // 160 + 1`` frames);
  torchfcpe's own front end, which imports torchaudio for resampling, is never loaded
  (torchaudio builds on the package index do not import beside every torch build);
* output frame ``j`` belongs at ``10 * j`` ms (the spectrogram frame is centred 5 ms
  later; scoring at the centre costs about one point of raw-pitch accuracy on vocadito)
  and is mapped onto svcprep's grid by :func:`svcprep.dsp.f0.track_on_grid`;
* the model's own voicing (threshold 0.006 on its peak salience) is the native decision;
  svcprep's refined voicing runs on top as for the other methods.

On CPU the network runs in onnxruntime where it is installed (exported from torchfcpe's
weights once and kept in ``~/.cache/svcprep``, or ``$SVCPREP_CACHE_DIR``; about twice
torch's single-thread speed, salience within 2e-5 of torch's), decoded by
:func:`decode_local_argmax`; on a GPU, or without onnxruntime, in torch. Each item runs
alone (batch size 1) with one intra-op thread: FCPE's group norm takes its statistics
over the whole time axis, so zero-padding an item into a batch changes its frames (up to
30 cents and a few voicing flips measured on a 6 s item padded to 10 s), and torch's
thread count changes the last digits. One item at a time on one thread gives the same
result for any number of build workers. CUDA is used when torch sees a GPU.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import sys
import threading
import types
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.errors import ConfigError

__all__ = [
    "FCPE_FRAME_S",
    "FCPE_RATE_HZ",
    "FCPE_THRESHOLD",
    "check_fcpe",
    "decode_local_argmax",
    "fcpe_device",
    "fcpe_f0_16k",
    "fcpe_mel",
    "fcpe_runtime",
    "fcpe_version",
]

#: FCPE's input rate and frame period (frame j at 10 j ms).
FCPE_RATE_HZ = 16000
FCPE_FRAME_S = 0.010
#: torchfcpe's default voicing threshold on the peak salience.
FCPE_THRESHOLD = 0.006

_INSTALL = "pip install 'svcprep[fcpe]'"
_LOCK = threading.Lock()


def _missing(what: str) -> ConfigError:
    return ConfigError(f"f0.method='fcpe' needs {what}, which is not installed: {_INSTALL}")


def fcpe_version() -> str:
    """The installed torchfcpe version (it enters the F0 cache key).

    Raises
    ------
    ConfigError
        torchfcpe is not installed (the message gives the pip command).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torchfcpe")
    except PackageNotFoundError:
        raise _missing("torchfcpe") from None


def check_fcpe() -> None:
    """Fail before any work when FCPE cannot run (torch or torchfcpe missing)."""
    for module, dist in (("torch", "torch"), ("torchfcpe", "torchfcpe"), ("einops", "einops")):
        if importlib.util.find_spec(module) is None:
            raise _missing(dist)


def _models_module() -> Any:
    """``torchfcpe.models`` without running the package's ``__init__`` (which imports torchaudio)."""
    loaded = sys.modules.get("torchfcpe.models")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("torchfcpe")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("torchfcpe")
    if "torchfcpe" not in sys.modules:
        # A bare package object: Python finds the submodules through __path__, and the
        # installed files are neither run nor changed.
        package = types.ModuleType("torchfcpe")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["torchfcpe"] = package
    try:
        return importlib.import_module("torchfcpe.models")
    except ImportError as err:
        raise _missing(f"{err.name or 'a dependency of torchfcpe'}") from None


@functools.lru_cache(maxsize=1)
def fcpe_device() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"``.

    Where no NVIDIA driver can be present (no ``/dev/nvidiactl`` or ``/proc/driver/nvidia``
    on Linux; macOS) the answer is ``"cpu"`` without importing torch, which costs each
    process about 2 s.
    """
    import os
    import sys

    if sys.platform == "darwin" or (
        sys.platform.startswith("linux")
        and not (os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia"))
    ):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def fcpe_runtime() -> str:
    """What runs the network: ``"torch-cuda"`` on a GPU, else ``"onnxruntime"`` where it is
    installed (about twice torch's single-thread speed on CPU), else ``"torch-cpu"``."""
    if fcpe_device() == "cuda":
        return "torch-cuda"
    return "onnxruntime" if importlib.util.find_spec("onnxruntime") is not None else "torch-cpu"


def _onnx_cache_path() -> Path | None:
    """Where the exported network is kept between processes (None: no writable cache folder)."""
    import os
    from importlib.metadata import PackageNotFoundError, version

    try:
        tools = f"torch-{version('torch')}-onnx-{version('onnx')}"
    except PackageNotFoundError:
        return None
    base = os.environ.get("SVCPREP_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    name = f"fcpe-{fcpe_version()}-{tools}.onnx"
    return (root / "svcprep" / name) if base or Path.home().is_dir() else None


def _export_onnx() -> bytes:
    """The bundled network's forward (mel ``(1, T, 128)`` -> salience ``(1, T, 360)``) as ONNX bytes."""
    import io

    import torch

    net, _ = _network("cpu")

    class Salience(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, mel: Any) -> Any:
            return self.net(mel)

    buf = io.BytesIO()
    example = torch.zeros((1, 64, 128), dtype=torch.float32)
    with _LOCK, torch.inference_mode():
        torch.onnx.export(
            Salience().eval(), (example,), buf, input_names=["mel"], output_names=["salience"],  # type: ignore[arg-type]
            dynamic_axes={"mel": {1: "frames"}, "salience": {1: "frames"}}, opset_version=17, dynamo=False,
        )  # fmt: skip
    return buf.getvalue()


def _onnx_bytes() -> bytes:
    """The exported network, from the cache folder when an earlier process wrote it (about 7 s saved)."""
    path = _onnx_cache_path()
    if path is not None and path.is_file():
        try:
            return path.read_bytes()
        except OSError:
            pass
    data = _export_onnx()
    if path is not None:
        from svcprep.store.atomic import atomic_write_bytes

        with contextlib.suppress(OSError):  # a read-only home: export again next time
            atomic_write_bytes(path, data, fsync=False)
    return data


@functools.lru_cache(maxsize=1)
def _onnx_session() -> tuple[Any, npt.NDArray[np.float64]]:
    """The bundled network in onnxruntime (one thread, deterministic) and its cent table."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.use_deterministic_compute = True
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            _onnx_bytes(), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception:  # a damaged cache file: export afresh
        session = ort.InferenceSession(
            _export_onnx(), sess_options=options, providers=["CPUExecutionProvider"]
        )
    return session, _cent_table()


def _cent_table() -> npt.NDArray[np.float64]:
    """The network's cent per output bin (a buffer of the checkpoint), cached beside the ONNX file."""
    path = _onnx_cache_path()
    table_path = None if path is None else path.with_suffix(".cents.npy")
    if table_path is not None and table_path.is_file():
        try:
            table = np.load(table_path, allow_pickle=False)
            if table.ndim == 1 and table.size and np.all(np.isfinite(table)):
                return np.asarray(table, dtype=np.float64)
        except (OSError, ValueError):
            pass
    table = _checkpoint()["model"]["cent_table"].numpy().astype(np.float64)
    if table_path is not None:
        import io

        from svcprep.store.atomic import atomic_write_bytes

        buf = io.BytesIO()
        np.save(buf, table, allow_pickle=False)
        with contextlib.suppress(OSError):
            atomic_write_bytes(table_path, buf.getvalue(), fsync=False)
    return table


def decode_local_argmax(
    salience: npt.ArrayLike, cent_table: npt.ArrayLike, *, threshold: float
) -> npt.NDArray[np.float64]:
    """FCPE's ``local_argmax`` decoding: the salience-weighted mean cents of the 9 bins around the peak.

    Window indices beyond the table are clipped to its ends (so an edge bin counts more than
    once); a frame whose peak salience is at or below ``threshold`` is unvoiced (0). F0 is
    ``10 * 2 ** (cents / 1200)``.
    """
    sal = np.asarray(salience, dtype=np.float64)
    table = np.asarray(cent_table, dtype=np.float64)
    peak = np.argmax(sal, axis=-1)
    idx = np.clip(peak[:, None] + np.arange(-4, 5)[None, :], 0, table.size - 1)
    w = np.take_along_axis(sal, idx, axis=-1)
    total = w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cents = (table[idx] * w).sum(axis=-1) / total
    f0 = 10.0 * 2.0 ** (cents / 1200.0)
    voiced = (sal.max(axis=-1) > threshold) & np.isfinite(f0) & (total > 0)
    return np.where(voiced, f0, 0.0)


@functools.lru_cache(maxsize=1)
def _checkpoint() -> dict[str, Any]:
    """torchfcpe's bundled checkpoint (weights, cent table and config), read once per process."""
    import torch

    spec = importlib.util.find_spec("torchfcpe")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("torchfcpe")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "fcpe_c_v001.pt"
    if not path.is_file():
        raise ConfigError(f"the torchfcpe installation has no bundled model at {path}: reinstall, {_INSTALL}")
    ckpt: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return ckpt


@functools.lru_cache(maxsize=2)
def _network(device: str) -> tuple[Any, dict[str, Any]]:
    models = _models_module()
    ckpt = _checkpoint()
    cfg = ckpt["config_dict"]
    m = cfg["model"]
    net = models.CFNaiveMelPE(
        input_channels=cfg["mel"]["num_mels"],
        out_dims=m["out_dims"],
        hidden_dims=m["hidden_dims"],
        n_layers=m["n_layers"],
        n_heads=m["n_heads"],
        f0_max=m["f0_max"],
        f0_min=m["f0_min"],
        use_fa_norm=m["use_fa_norm"],
        conv_only=m["conv_only"],
        conv_dropout=0.0,
        atten_dropout=0.0,
        use_harmonic_emb=False,
    )
    net.load_state_dict(ckpt["model"])
    net.eval().to(device)
    return net, dict(cfg["mel"])


def fcpe_mel(audio_16k: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """FCPE's log-mel input ``(len // 160 + 1, 128)`` of 16 kHz audio.

    Parameters
    ----------
    audio_16k
        Mono float audio at 16 kHz.

    Returns
    -------
    numpy.ndarray
        float32 ``(frames, 128)``; frame ``j`` spans samples ``160 j - 432`` to
        ``160 j + 592`` (the last frame repeats the one before, as the model was trained).
    """
    from svcprep.dsp.mel import log_mel

    x = np.asarray(audio_16k, dtype=np.float32)
    return log_mel(
        x,
        sample_rate_hz=FCPE_RATE_HZ,
        n_fft=1024,
        hop_length=160,
        win_length=1024,
        n_mels=128,
        fmin_hz=0.0,
        fmax_hz=8000.0,
        padding="nsf_hifigan",
        magnitude_eps=1e-9,
        log_floor=1e-5,
        n_frames=x.size // 160 + 1,
    )


def fcpe_f0_16k(audio_16k: npt.ArrayLike, *, threshold: float = FCPE_THRESHOLD) -> npt.NDArray[np.float64]:
    """FCPE's pitch of 16 kHz audio: ``len // 160 + 1`` frames, frame ``j`` at ``10 j`` ms, 0 = unvoiced.

    Parameters
    ----------
    audio_16k
        Mono float audio at 16 kHz.
    threshold
        Frames whose peak salience is at or below this are unvoiced (torchfcpe: 0.006).

    Returns
    -------
    numpy.ndarray
        float64 F0 in Hz per frame.

    Raises
    ------
    ConfigError
        torch or torchfcpe is not installed.
    """
    mel = fcpe_mel(audio_16k)
    if fcpe_runtime() == "onnxruntime":
        session, table = _onnx_session()
        with _LOCK:
            sal = session.run(None, {"mel": np.ascontiguousarray(mel[None])})[0][0]
        return decode_local_argmax(sal, table, threshold=threshold)
    import torch

    device = fcpe_device()
    net, _ = _network(device)
    with _LOCK:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(mel))[None].to(device)
                f0 = net.infer(x, decoder="local_argmax", threshold=float(threshold))
        finally:
            torch.set_num_threads(threads)
    out = f0.reshape(-1).detach().to("cpu").numpy().astype(np.float64)
    return np.where(np.isfinite(out) & (out > 0), out, 0.0)
