"""RMVPE pitch estimation from the user's own model file (``rmvpe.pt`` or ``rmvpe.onnx``).

``f0.method = "rmvpe"`` with ``f0.model_path`` pointing at the file an RVC install already
has (``assets/rmvpe/rmvpe.pt``, often also ``rmvpe.onnx``). svcprep ships no weights; it
rebuilds the network and everything around it from the published facts of RVC's
``infer/lib/rmvpe.py`` (tag 20240604):

Input
    16 kHz mono audio (svcprep's soxr resample), log-mel of a 1024-point STFT with a
    periodic 1024-sample Hann window, hop 160, ``center=True`` with reflect padding
    (``torch.stft``'s default), magnitude ``sqrt(re**2 + im**2)`` with no epsilon,
    128 mel bands from 30 to 8000 Hz on the HTK mel scale with Slaney area
    normalisation (``librosa.filters.mel(htk=True)``, whose default ``norm`` is
    ``"slaney"``), then ``ln(max(mel, 1e-5))``: ``len // 160 + 1`` frames, frame ``j``
    centred on sample ``160 j``, i.e. at ``10 j`` ms. The frame axis is zero-padded at
    the end (constant 0, not the log floor) to a multiple of 32 before the network and
    the output is cut back to the original frame count.
Network
    RVC's ``E2E(n_blocks=4, n_gru=1, kernel_size=(2, 2))``: a U-Net of 5 encoder stages
    (16, 32, 64, 128, 256 channels, 2x2 average pooling), 4 intermediate stages
    (512 channels) and 5 decoder stages (3x3 transposed convolutions of stride 2), each
    stage 4 residual blocks of two 3x3 conv + batch-norm + ReLU (a 1x1 shortcut where the
    channel count changes); a 3x3 conv to 3 channels; a bidirectional GRU (384 -> 2 x 256)
    and a linear layer to 360 pitch bins with a sigmoid. RVC loads the released
    ``rmvpe.pt`` strictly into this layout, and the module has the layout's parameter
    names and shapes, so the file loads with ``strict=True`` (checked against the layout;
    the file itself is not available here). so-vits-svc 4.1's checkpoint (the same
    tensors under ``"model"``, plus a timbre filter its network never calls) loads too.
Decoding
    Bin ``k`` is ``20 k + 1997.3794084376191`` cents (re 10 Hz). Around the salience peak
    the cents are averaged over 9 bins (peak +- 4, bins outside 0..359 count as salience
    0) weighted by salience, ``f0 = 10 * 2 ** (cents / 1200)`` Hz, and a frame whose peak
    salience is at or below the threshold is unvoiced (RVC uses 0.03 for training
    features and inference; so-vits-svc 4.1's preprocessing uses 0.05).

Precision
    The mel is computed in float64 and returned as float32. RVC computes it in float32;
    on two vocadito recordings the two differ by at most 1.5e-3 (in the quiet top bands)
    and by under 1e-4 on all but 0.2 % of the values. The network runs in float32 on every
    device (RVC switches to float16 on GPUs that support it).

What is not known here
    The released weights are not available in this project, so the pitch accuracy of this
    path has not been measured. The tests check the front end and the decoding against
    independent computations, the ``.pt`` path with a network of the full layout and
    random weights, and the ``.onnx`` path (a torch export and a hand-built graph) against
    the torch path with a narrower network of the same code.

Runtime
    torch for ``.pt`` (extra ``pip install 'svcprep[rmvpe]'``), onnxruntime for ``.onnx``
    (``pip install onnxruntime``); neither is imported by ``import svcprep`` nor by
    importing this module. CUDA is used when torch (or onnxruntime) sees a GPU, the CPU
    otherwise. On the CPU each item runs on one intra-op thread, so the values do not
    depend on how many build workers share the machine. Loaded models are kept per file
    (path, size and modification time) for the life of the process.

Memory and long items
    The network runs over the whole item in one pass, as RVC runs it: its bidirectional GRU
    sees every frame and its U-Net reaches about 13 s to either side, so no chunking
    reproduces a one-pass run exactly. The U-Net holds activations of 16-32 channels x 128
    bands per frame: with torch on the CPU the peak grows by about 0.5 GB per minute of
    audio (measured: +0.38 GB for 31 s, +0.51 GB for 60 s), and the time a little faster
    than the length (measured on one busy core: 1.2 s for 5 s, 11.5 s for 30 s, 37 s for
    60 s). Only items longer than ``chunk_frames`` (default 30000 frames,
    5 minutes, far beyond svcprep's 15 s segments) are analysed in chunks, overlapping by
    ``context_frames`` (default 3200, 32 s) on each side with every boundary on a multiple
    of 32 frames; each frame comes from the chunk in whose core it lies. Such items differ
    from a one-pass run by an amount that could not be measured without the released
    weights (with random weights and only 2.6 s of context, a quarter of the frames moved
    by more than one cent).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from svcprep.errors import ConfigError

__all__ = [
    "RMVPE_CENTS_OFFSET",
    "RMVPE_FRAME_S",
    "RMVPE_N_BINS",
    "RMVPE_RATE_HZ",
    "RMVPE_THRESHOLD",
    "RmvpeModel",
    "build_rmvpe_network",
    "check_rmvpe",
    "decode_salience",
    "rmvpe_f0",
    "rmvpe_mel",
    "rmvpe_model_digest",
]

#: RMVPE's input rate, hop and frame period (frame ``j`` at ``10 j`` ms).
RMVPE_RATE_HZ = 16000
RMVPE_HOP = 160
RMVPE_FRAME_S = 0.010
#: Mel front end (RVC: ``MelSpectrogram(is_half, 128, 16000, 1024, 160, None, 30, 8000)``).
RMVPE_N_FFT = 1024
RMVPE_N_MELS = 128
RMVPE_FMIN_HZ = 30.0
RMVPE_FMAX_HZ = 8000.0
RMVPE_LOG_FLOOR = 1e-5
#: Pitch classes and the cents of class 0 (re 10 Hz); classes are 20 cents apart.
RMVPE_N_BINS = 360
RMVPE_CENTS_OFFSET = 1997.3794084376191
RMVPE_CENTS_STEP = 20.0
#: Voicing threshold on the peak salience RVC uses (so-vits-svc 4.1 preprocessing: 0.05).
RMVPE_THRESHOLD = 0.03
#: The network needs a frame count that is a multiple of 2 ** 5 (five 2x2 poolings).
RMVPE_FRAME_MULTIPLE = 32
#: Default chunking of long items (frames of 10 ms).
RMVPE_CHUNK_FRAMES = 30000
RMVPE_CONTEXT_FRAMES = 3200

_HALF_WINDOW = 4  # the local average spans the peak +- 4 classes
_TORCH_SUFFIXES = (".pt", ".pth")
_ONNX_SUFFIXES = (".onnx",)
_INSTALL_TORCH = "pip install 'svcprep[rmvpe]'"
_INSTALL_ONNX = "pip install onnxruntime"
_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------
# front end and decoding (numpy only)


def rmvpe_mel(audio_16k: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """RMVPE's log-mel input of 16 kHz audio, ``(128, len // 160 + 1)``.

    Parameters
    ----------
    audio_16k
        Mono floating-point audio at 16 kHz, 1-D.

    Returns
    -------
    numpy.ndarray
        float32 ``(128, frames)``: ``ln(max(M @ |STFT|, 1e-5))`` with a 1024-point STFT,
        periodic Hann window, hop 160, ``center=True`` reflect padding, and ``M`` the
        128-band HTK-scale, Slaney-normalised mel basis from 30 to 8000 Hz. Frame ``j`` is
        centred on sample ``160 j``. Signals too short to reflect (512 samples or fewer)
        are padded with zeros instead (torch's reflect padding refuses them).

    Raises
    ------
    ValueError
        ``audio_16k`` is not 1-D floating-point audio.
    NonFiniteAudioError
        It contains NaN or infinity.
    """
    from svcprep.dsp._checks import as_audio
    from svcprep.dsp.mel import log_mel

    x = as_audio(audio_16k, what="rmvpe_mel")
    mel = log_mel(
        x,
        sample_rate_hz=RMVPE_RATE_HZ,
        n_fft=RMVPE_N_FFT,
        hop_length=RMVPE_HOP,
        win_length=RMVPE_N_FFT,
        n_mels=RMVPE_N_MELS,
        fmin_hz=RMVPE_FMIN_HZ,
        fmax_hz=RMVPE_FMAX_HZ,
        padding="center",
        pad_mode="reflect",
        magnitude_eps=0.0,
        log_floor=RMVPE_LOG_FLOOR,
        log_base="e",
        mel_scale="htk",
        mel_norm="slaney",
        n_frames=x.size // RMVPE_HOP + 1,
    )
    return np.ascontiguousarray(mel.T)


def _cents_of_classes() -> npt.NDArray[np.float64]:
    """Cents of each class, with ``_HALF_WINDOW`` zero entries on either side."""
    cents = RMVPE_CENTS_STEP * np.arange(RMVPE_N_BINS, dtype=np.float64) + RMVPE_CENTS_OFFSET
    return np.pad(cents, (_HALF_WINDOW, _HALF_WINDOW))


def decode_salience(
    salience: npt.ArrayLike, *, threshold: float = RMVPE_THRESHOLD
) -> npt.NDArray[np.float64]:
    """F0 in Hz from RMVPE's salience ``(frames, 360)`` by the local weighted average.

    For each frame, ``k`` is the class of maximal salience (the first on ties) and the
    cents are ``sum(s[i] * c[i]) / sum(s[i])`` over ``i = k - 4 .. k + 4``, where
    ``c[i] = 20 i + 1997.3794084376191`` and classes outside 0..359 count with salience
    0. ``f0 = 10 * 2 ** (cents / 1200)``.

    Parameters
    ----------
    salience
        ``(frames, 360)`` network output (sigmoid, in [0, 1]).
    threshold
        A frame whose peak salience is at or below this is unvoiced (0 Hz). RVC: 0.03.

    Returns
    -------
    numpy.ndarray
        float64 ``(frames,)`` F0 in Hz, 0 on unvoiced frames.

    Raises
    ------
    ValueError
        Wrong shape, non-finite values, or a negative or non-finite threshold.
    """
    s = np.asarray(salience, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != RMVPE_N_BINS:
        raise ValueError(f"salience must have shape (frames, {RMVPE_N_BINS}), got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("salience contains NaN or infinity")
    thr = float(threshold)
    if not (np.isfinite(thr) and thr >= 0):
        raise ValueError(f"threshold={threshold!r} must be a finite number >= 0")
    if s.shape[0] == 0:
        return np.zeros(0)
    peak = np.argmax(s, axis=1)
    padded = np.pad(s, ((0, 0), (_HALF_WINDOW, _HALF_WINDOW)))
    cents = _cents_of_classes()
    # padded column peak + 4 is class peak; the window is padded columns peak .. peak + 8
    cols = peak[:, None] + np.arange(2 * _HALF_WINDOW + 1)[None, :]
    weights = np.take_along_axis(padded, cols, axis=1)
    weight_sum = weights.sum(axis=1)
    voiced = s.max(axis=1) > thr
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_cents = (weights * cents[cols]).sum(axis=1) / weight_sum
    ok = voiced & (weight_sum > 0)
    return np.where(ok, 10.0 * np.exp2(np.where(ok, mean_cents, 0.0) / 1200.0), 0.0)


def _padded_frames(n_frames: int) -> int:
    """``n_frames`` rounded up to a multiple of 32 (RVC: ``32 * ((n - 1) // 32 + 1)``)."""
    m = RMVPE_FRAME_MULTIPLE
    return m * ((n_frames - 1) // m + 1)


# ---------------------------------------------------------------------------------------
# the network (torch imported on first use)


@functools.lru_cache(maxsize=1)
def _network_class() -> Any:
    """Define the RMVPE modules (needs torch); returns the top-level class."""
    import torch
    from torch import nn

    bn_momentum = 0.01

    class ResidualBlock(nn.Module):
        """Two 3x3 conv + BN + ReLU, plus the input (1x1 conv of it when channels change)."""

        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(c_in, c_out, (3, 3), stride=(1, 1), padding=(1, 1), bias=False),
                nn.BatchNorm2d(c_out, momentum=bn_momentum),
                nn.ReLU(),
                nn.Conv2d(c_out, c_out, (3, 3), stride=(1, 1), padding=(1, 1), bias=False),
                nn.BatchNorm2d(c_out, momentum=bn_momentum),
                nn.ReLU(),
            )
            self.shortcut = nn.Conv2d(c_in, c_out, (1, 1)) if c_in != c_out else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            skip = x if self.shortcut is None else self.shortcut(x)
            return self.conv(x) + skip

    class Stage(nn.Module):
        """``n_blocks`` residual blocks (an encoder stage also has its 2x2 average pool)."""

        def __init__(self, c_in: int, c_out: int, n_blocks: int, pool: tuple[int, int] | None) -> None:
            super().__init__()
            self.conv = nn.ModuleList(
                [ResidualBlock(c_in if i == 0 else c_out, c_out) for i in range(n_blocks)]
            )
            self.pool = nn.AvgPool2d(kernel_size=pool) if pool is not None else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for block in self.conv:
                x = block(x)
            return x

    class Encoder(nn.Module):
        def __init__(
            self, c_in: int, c_first: int, n_stages: int, n_blocks: int, pool: tuple[int, int]
        ) -> None:
            super().__init__()
            self.bn = nn.BatchNorm2d(c_in, momentum=bn_momentum)
            chans = [c_in] + [c_first * 2**i for i in range(n_stages)]
            self.layers = nn.ModuleList(
                [Stage(chans[i], chans[i + 1], n_blocks, pool) for i in range(n_stages)]
            )
            self.out_channels = chans[-1] * 2

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
            skips: list[torch.Tensor] = []
            x = self.bn(x)
            for stage in self.layers:
                y = stage(x)
                skips.append(y)  # the pre-pool output feeds the decoder stage of the same size
                pool = stage.pool
                assert isinstance(pool, nn.Module)
                x = pool(y)
            return x, skips

    class Intermediate(nn.Module):
        def __init__(self, c_in: int, c_out: int, n_stages: int, n_blocks: int) -> None:
            super().__init__()
            self.layers = nn.ModuleList(
                [Stage(c_in if i == 0 else c_out, c_out, n_blocks, None) for i in range(n_stages)]
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for stage in self.layers:
                x = stage(x)
            return x

    class UpStage(nn.Module):
        """Transposed 3x3 conv (x2 up), concatenation with the skip, residual blocks."""

        def __init__(self, c_in: int, c_out: int, stride: tuple[int, int], n_blocks: int) -> None:
            super().__init__()
            out_pad = (0, 1) if tuple(stride) == (1, 2) else (1, 1)
            self.conv1 = nn.Sequential(
                nn.ConvTranspose2d(
                    c_in, c_out, (3, 3), stride=stride, padding=(1, 1), output_padding=out_pad, bias=False
                ),
                nn.BatchNorm2d(c_out, momentum=bn_momentum),
                nn.ReLU(),
            )
            self.conv2 = nn.ModuleList(
                [ResidualBlock(2 * c_out if i == 0 else c_out, c_out) for i in range(n_blocks)]
            )

        def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
            x = torch.cat((self.conv1(x), skip), dim=1)
            for block in self.conv2:
                x = block(x)
            return x

    class Decoder(nn.Module):
        def __init__(self, c_in: int, n_stages: int, stride: tuple[int, int], n_blocks: int) -> None:
            super().__init__()
            chans = [c_in // 2**i for i in range(n_stages + 1)]
            self.layers = nn.ModuleList(
                [UpStage(chans[i], chans[i + 1], stride, n_blocks) for i in range(n_stages)]
            )

        def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
            for i, stage in enumerate(self.layers):
                x = stage(x, skips[-1 - i])
            return x

    class UNet(nn.Module):
        def __init__(
            self, kernel: tuple[int, int], n_blocks: int, n_stages: int, n_inter: int, c_in: int, c_first: int
        ) -> None:
            super().__init__()
            self.encoder = Encoder(c_in, c_first, n_stages, n_blocks, kernel)
            top = self.encoder.out_channels
            self.intermediate = Intermediate(top // 2, top, n_inter, n_blocks)
            self.decoder = Decoder(top, n_stages, kernel, n_blocks)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x, skips = self.encoder(x)
            return self.decoder(self.intermediate(x), skips)

    class BiGRU(nn.Module):
        def __init__(self, n_in: int, n_hidden: int, n_layers: int) -> None:
            super().__init__()
            self.gru = nn.GRU(n_in, n_hidden, num_layers=n_layers, batch_first=True, bidirectional=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gru(x)[0]

    class RmvpeNet(nn.Module):
        """RMVPE: log-mel ``(B, 128, T)`` -> salience ``(B, T, 360)``, ``T`` a multiple of 32."""

        def __init__(
            self,
            n_blocks: int = 4,
            n_gru: int = 1,
            kernel: tuple[int, int] = (2, 2),
            n_stages: int = 5,
            n_inter: int = 4,
            c_in: int = 1,
            c_first: int = 16,
        ) -> None:
            super().__init__()
            self.unet = UNet(kernel, n_blocks, n_stages, n_inter, c_in, c_first)
            self.cnn = nn.Conv2d(c_first, 3, (3, 3), padding=(1, 1))
            self.fc = nn.Sequential(
                BiGRU(3 * RMVPE_N_MELS, 256, n_gru),
                nn.Linear(512, RMVPE_N_BINS),
                nn.Dropout(0.25),
                nn.Sigmoid(),
            )

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            x = mel.transpose(-1, -2).unsqueeze(1)  # (B, 1, T, 128)
            x = self.cnn(self.unet(x))  # (B, 3, T, 128)
            return self.fc(x.transpose(1, 2).flatten(-2))  # (B, T, 384) -> (B, T, 360)

    return RmvpeNet


def build_rmvpe_network() -> Any:
    """RVC's RMVPE network (``E2E(4, 1, (2, 2))``) with freshly initialised weights, in eval mode.

    Returns
    -------
    torch.nn.Module
        Maps a log-mel ``(batch, 128, frames)`` (frames a multiple of 32) to salience
        ``(batch, frames, 360)``. Its state dict has the names and shapes RVC's layout
        gives, which the released ``rmvpe.pt`` must have since RVC loads it strictly:
        741 entries (387 parameter tensors holding 90,423,165 values, and the batch-norm
        buffers, 118 of them ``num_batches_tracked``), from ``unet.encoder.bn.weight`` to
        ``fc.1.bias``. Stored as float16 that is about 181 MB, the size of the released file.

    Raises
    ------
    ConfigError
        torch is not installed (the message gives the pip command).
    """
    _import_torch()
    return _network_class()().eval()


def _empty_network(torch: Any) -> tuple[Any, bool]:
    """The network without initialising its weights (they are about to be overwritten).

    Built on the meta device when this torch can then take the file's tensors as the
    module's own (``load_state_dict(assign=True)``, torch >= 2.1); else built normally.
    """
    import inspect

    if "assign" in inspect.signature(torch.nn.Module.load_state_dict).parameters:
        with torch.device("meta"):
            return _network_class()(), True
    return _network_class()(), False


# ---------------------------------------------------------------------------------------
# loading a model file


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ConfigError(
            f"f0.method='rmvpe' with a .pt model needs PyTorch, which is not installed: {_INSTALL_TORCH}"
        ) from None
    return torch


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError(
            "f0.method='rmvpe' with an .onnx model needs onnxruntime, which is not installed: "
            + _INSTALL_ONNX
        ) from None
    return onnxruntime


def _model_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _TORCH_SUFFIXES:
        return "torch"
    if suffix in _ONNX_SUFFIXES:
        return "onnx"
    raise ConfigError(
        f"f0.model_path={str(path)!r}: an RMVPE model must be a .pt/.pth (PyTorch state dict) or an "
        f".onnx file, not {path.suffix or 'a file without extension'!r}"
    )


def check_rmvpe(model_path: str | os.PathLike[str]) -> Path:
    """Fail before any work when RMVPE cannot run from ``model_path``; imports nothing heavy.

    Checks that the file exists, that its extension is ``.pt``/``.pth`` or ``.onnx``, and
    that the runtime it needs (torch or onnxruntime) is installed.

    Returns
    -------
    pathlib.Path
        The resolved path.

    Raises
    ------
    ConfigError
        Naming the problem and, for a missing runtime, the pip command.
    """
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"f0.model_path={str(model_path)!r}: no such file. Point it at the rmvpe.pt (or rmvpe.onnx) "
            "of your RVC install (assets/rmvpe/ there)"
        )
    kind = _model_kind(path)
    if kind == "torch" and importlib.util.find_spec("torch") is None:
        raise ConfigError(
            f"f0.method='rmvpe' with a .pt model needs PyTorch, which is not installed: {_INSTALL_TORCH}"
        )
    if kind == "onnx" and importlib.util.find_spec("onnxruntime") is None:
        raise ConfigError(
            "f0.method='rmvpe' with an .onnx model needs onnxruntime, which is not installed: "
            + _INSTALL_ONNX
        )
    return path.resolve()


def rmvpe_model_digest(model_path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of the model file, for the F0 cache key; reads the file, imports nothing.

    Raises
    ------
    ConfigError
        The file does not exist.
    """
    from svcprep.store.keys import file_sha256

    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"f0.model_path={str(model_path)!r}: no such file")
    return file_sha256(path)


def _unwrap_state_dict(obj: Any, torch: Any) -> dict[str, Any] | None:
    """The tensor mapping in a checkpoint (bare, or under ``model``/``state_dict``/``net``); None if none."""

    def is_state(o: Any) -> bool:
        return isinstance(o, dict) and bool(o) and all(isinstance(v, torch.Tensor) for v in o.values())

    for _ in range(3):
        if is_state(obj) or not isinstance(obj, dict):
            break
        obj = next((obj[k] for k in ("model", "state_dict", "net") if isinstance(obj.get(k), dict)), None)
    if not is_state(obj):
        return None
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    # so-vits-svc's checkpoint also stores a timbre filter its E2E0 never calls
    return {k: v for k, v in state.items() if not k.startswith("unet.tf.")}


def _fit_state_dict(net: Any, state: dict[str, Any], path: Path, *, assign: bool = False) -> None:
    expected = net.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), the first: {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), the first: {', '.join(unexpected[:3])}")
        if wrong:
            parts.append(f"{len(wrong)} tensor(s) of the wrong shape, the first: {', '.join(wrong[:3])}")
        raise ConfigError(
            f"f0.model_path={str(path)!r} is not an RMVPE state dict of RVC's layout "
            f"(E2E(4, 1, (2, 2))): {'; '.join(parts)}"
        )
    if assign:
        # the module was built on the meta device: take the file's tensors as its own
        net.load_state_dict(state, strict=True, assign=True)
    else:
        net.load_state_dict(state, strict=True)


class RmvpeModel:
    """An RMVPE model loaded from the user's ``.pt`` (torch) or ``.onnx`` (onnxruntime) file.

    Parameters
    ----------
    model_path
        ``rmvpe.pt`` / ``.pth`` (a state dict, possibly under ``"model"``, loaded with
        ``weights_only=True``) or ``rmvpe.onnx`` (input a log-mel ``(1, 128, frames)``,
        output the salience ``(1, frames, 360)``; the names are read from the file).
    device
        ``"auto"`` (default: ``"cuda"`` when torch sees a GPU, else ``"cpu"``), ``"cpu"``
        or ``"cuda"``. For ``.onnx`` the CUDA provider is used when onnxruntime offers it.

    Raises
    ------
    ConfigError
        Missing file, unknown extension, torch or onnxruntime not installed (with the pip
        command), or a state dict that does not fit the network (naming the first
        missing, unexpected or mis-shaped keys).
    """

    def __init__(self, model_path: str | os.PathLike[str], *, device: str = "auto") -> None:
        if device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device={device!r}: use 'auto', 'cpu' or 'cuda'")
        self.path = check_rmvpe(model_path)
        self.kind = _model_kind(self.path)
        self._digest: str | None = None
        self._input_name = ""
        self._output_name = ""
        self._input_half = False
        if self.kind == "torch":
            torch = _import_torch()
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            elif device == "cuda" and not torch.cuda.is_available():
                raise ConfigError("device='cuda' was asked for but torch sees no CUDA device")
            self.device = device
            try:
                ckpt = torch.load(self.path, map_location="cpu", weights_only=True)
            except Exception as err:
                raise ConfigError(
                    f"f0.model_path={str(self.path)!r} could not be read as a PyTorch weights file "
                    f"(loaded with weights_only=True): {type(err).__name__}: {err}"
                ) from None
            state = _unwrap_state_dict(ckpt, torch)
            if state is None:
                raise ConfigError(
                    f"f0.model_path={str(self.path)!r} holds no state dict (a mapping of parameter names "
                    "to tensors, possibly under 'model'): is it an RMVPE checkpoint?"
                )
            net, on_meta = _empty_network(torch)
            _fit_state_dict(net, state, self.path, assign=on_meta)
            self._net = net.float().eval().to(device)
        else:
            ort = _import_onnxruntime()
            available = ort.get_available_providers()
            want_cuda = device in ("auto", "cuda") and "CUDAExecutionProvider" in available
            if device == "cuda" and not want_cuda:
                raise ConfigError(
                    "device='cuda' was asked for but onnxruntime offers no CUDAExecutionProvider"
                )
            providers = (
                ["CUDAExecutionProvider", "CPUExecutionProvider"] if want_cuda else ["CPUExecutionProvider"]
            )
            self.device = "cuda" if want_cuda else "cpu"
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.use_deterministic_compute = True
            try:
                self._session = ort.InferenceSession(
                    str(self.path), sess_options=options, providers=providers
                )
            except Exception as err:
                raise ConfigError(
                    f"f0.model_path={str(self.path)!r} could not be opened by onnxruntime: {err}"
                ) from None
            inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
            if len(inputs) != 1 or not outputs:
                raise ConfigError(
                    f"f0.model_path={str(self.path)!r}: an RMVPE ONNX model has one input (the log-mel) "
                    f"and the salience as its first output, this one has {len(inputs)} input(s)"
                )
            self._input_name, self._output_name = inputs[0].name, outputs[0].name
            self._input_half = inputs[0].type == "tensor(float16)"

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the model file (part of the F0 cache key)."""
        if self._digest is None:
            self._digest = rmvpe_model_digest(self.path)
        return self._digest

    def salience(self, mel: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The network's salience ``(frames, 360)`` for one log-mel ``(128, frames)``.

        The frame axis is zero-padded to a multiple of 32 and the output cut back to
        ``frames``, as RVC does.
        """
        m = np.asarray(mel, dtype=np.float32)
        if m.ndim != 2 or m.shape[0] != RMVPE_N_MELS:
            raise ValueError(f"mel must have shape ({RMVPE_N_MELS}, frames), got {m.shape}")
        n = m.shape[1]
        if n == 0:
            return np.zeros((0, RMVPE_N_BINS), dtype=np.float32)
        padded = np.zeros((1, RMVPE_N_MELS, _padded_frames(n)), dtype=np.float32)
        padded[0, :, :n] = m
        if self.kind == "onnx":
            feed = padded.astype(np.float16) if self._input_half else padded
            out = self._session.run([self._output_name], {self._input_name: feed})[0]
        else:
            out = self._torch_forward(padded)
        out = np.asarray(out, dtype=np.float32)
        if out.ndim != 3 or out.shape[0] != 1 or out.shape[2] != RMVPE_N_BINS or out.shape[1] < n:
            raise ConfigError(
                f"f0.model_path={str(self.path)!r}: the model returned shape {out.shape} for a log-mel of "
                f"shape {padded.shape}; an RMVPE model returns (1, frames, {RMVPE_N_BINS})"
            )
        return np.ascontiguousarray(out[0, :n])

    def _torch_forward(self, padded: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        import torch

        with _LOCK:
            threads = torch.get_num_threads()
            if self.device == "cpu":
                torch.set_num_threads(1)
            try:
                with (
                    torch.inference_mode(),
                    torch.backends.cudnn.flags(
                        enabled=True, benchmark=False, deterministic=True, allow_tf32=False
                    ),
                ):
                    x = torch.from_numpy(padded).to(self.device)
                    return np.asarray(self._net(x).float().cpu().numpy())
            finally:
                torch.set_num_threads(threads)

    def f0(
        self,
        audio_16k: npt.ArrayLike,
        threshold: float = RMVPE_THRESHOLD,
        *,
        chunk_frames: int = RMVPE_CHUNK_FRAMES,
        context_frames: int = RMVPE_CONTEXT_FRAMES,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
        """RMVPE's F0 of 16 kHz audio: ``len // 160 + 1`` frames, frame ``j`` at ``10 j`` ms.

        Parameters
        ----------
        audio_16k
            Mono floating-point audio at 16 kHz.
        threshold
            Peak salience at or below which a frame is unvoiced (RVC: 0.03).
        chunk_frames
            Items of more frames than this run in overlapping chunks (bounded memory,
            results no longer those of one pass); shorter ones run in one pass.
        context_frames
            Frames of context each chunk has beyond its core on either side (rounded up
            to a multiple of 32).

        Returns
        -------
        f0_hz : numpy.ndarray
            float64 ``(frames,)`` in Hz, 0 = unvoiced.
        salience_max : numpy.ndarray
            float32 ``(frames,)`` peak salience per frame (the voicing evidence).
        """
        mel = rmvpe_mel(audio_16k)
        sal = self._chunked_salience(mel, chunk_frames=chunk_frames, context_frames=context_frames)
        return decode_salience(sal, threshold=threshold), sal.max(axis=1)

    def _chunked_salience(
        self, mel: npt.NDArray[np.float32], *, chunk_frames: int, context_frames: int
    ) -> npt.NDArray[np.float32]:
        m = RMVPE_FRAME_MULTIPLE
        n = mel.shape[1]
        if chunk_frames < 1 or context_frames < 0:
            raise ValueError(
                f"chunk_frames={chunk_frames} must be >= 1 and context_frames={context_frames} >= 0"
            )
        if n <= chunk_frames:
            return self.salience(mel)
        # chunk edges on multiples of 32 frames so the pooling grid matches the one-pass run
        ctx = m * -(-context_frames // m)
        core = max(m, m * (max(1, chunk_frames - 2 * ctx) // m))
        out = np.empty((n, RMVPE_N_BINS), dtype=np.float32)
        for g0 in range(0, n, core):
            g1 = min(n, g0 + core)
            a, b = max(0, g0 - ctx), min(n, g1 + ctx)
            out[g0:g1] = self.salience(mel[:, a:b])[g0 - a : g1 - a]
        return out


@functools.lru_cache(maxsize=2)  # a loaded model holds about 360 MB of float32 weights
def _cached_model(path: str, size: int, mtime_ns: int) -> RmvpeModel:
    return RmvpeModel(path)


def _model_for(model_path: str | os.PathLike[str]) -> RmvpeModel:
    path = check_rmvpe(model_path)
    st = path.stat()
    return _cached_model(str(path), st.st_size, st.st_mtime_ns)


# ---------------------------------------------------------------------------------------
# svcprep's frame grid


def _on_grid(
    f0_10ms: npt.NDArray[np.float64], *, sample_rate_hz: int, hop_length: int, n_frames: int
) -> npt.NDArray[np.float64]:
    """Map the 10 ms track onto the grid (:func:`svcprep.dsp.f0.track_on_grid`)."""
    from svcprep.dsp.f0 import track_on_grid

    return track_on_grid(
        f0_10ms, frame_rate_hz=100, sample_rate_hz=sample_rate_hz, hop_length=hop_length, n_frames=n_frames
    )


def rmvpe_f0(
    y: npt.ArrayLike,
    *,
    sample_rate_hz: int,
    hop_length: int,
    n_frames: int,
    model_path: str | os.PathLike[str],
    threshold: float = RMVPE_THRESHOLD,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """RMVPE's F0 of ``y`` on svcprep's frame grid (frame ``i`` at ``i * hop_length / sample_rate_hz`` s).

    ``y`` is resampled to 16 kHz with :func:`svcprep.dsp.resample.resample`, analysed by
    the model in ``model_path`` (loaded once per process and file), and the 10 ms track is
    mapped onto the grid: linear interpolation in log-F0 between the two surrounding
    10 ms frames when both are voiced, else the nearer frame's value (0 if unvoiced).

    Parameters
    ----------
    y
        Mono floating-point audio.
    sample_rate_hz
        Rate of ``y`` in Hz.
    hop_length
        Grid hop in samples of ``y``.
    n_frames
        Frames of the grid (``svcprep.dsp.frames.num_frames``).
    model_path
        The user's ``rmvpe.pt`` or ``rmvpe.onnx``.
    threshold
        Voicing threshold on the peak salience (RVC: 0.03; so-vits-svc 4.1: 0.05).

    Returns
    -------
    f0_hz : numpy.ndarray
        float64 ``(n_frames,)`` in Hz, 0 where there is no candidate.
    voiced : numpy.ndarray
        bool ``(n_frames,)``, ``f0_hz > 0``.

    Raises
    ------
    ConfigError
        The model cannot be loaded (see :class:`RmvpeModel`).
    ValueError
        Bad audio, rates or frame counts.
    """
    from svcprep.dsp.resample import resample

    if isinstance(hop_length, bool) or int(hop_length) != hop_length or hop_length <= 0:
        raise ValueError(f"hop_length={hop_length!r} must be a positive integer")
    if isinstance(n_frames, bool) or int(n_frames) != n_frames or n_frames < 0:
        raise ValueError(f"n_frames={n_frames!r} must be a non-negative integer")
    model = _model_for(model_path)
    y16 = resample(y, orig_sr_hz=sample_rate_hz, target_sr_hz=RMVPE_RATE_HZ)
    f0_10ms, _ = model.f0(y16, threshold=threshold)
    f0 = _on_grid(
        f0_10ms, sample_rate_hz=int(sample_rate_hz), hop_length=int(hop_length), n_frames=int(n_frames)
    )
    return f0, f0 > 0
