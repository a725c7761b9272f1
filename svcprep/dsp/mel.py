"""Magnitude STFT, mel filterbanks and log-mel spectrograms.

One implementation covers the conventions of the SVC frameworks svcprep prepares data
for (see ``PRESETS.md``): the explicit padding rule (``center``, ``vits``,
``nsf_hifigan``, ``diffsinger``), an epsilon inside the square root of the magnitude,
a floor before the log, natural or base-10 log, Slaney or HTK mel scale, and Slaney
area normalisation or none.

The STFT follows ``torch.stft(center=False, onesided=True, normalized=False)`` applied
to an explicitly padded signal: a periodic Hann window of ``win_length`` samples,
zero-padded (centred) to ``n_fft``; frame ``i`` covers padded samples
``[i * hop_length, i * hop_length + n_fft)``. An input of ``n`` samples padded by
``(pad_left, pad_right)`` gives ``(n + pad_left + pad_right - n_fft) // hop_length + 1``
frames, or 0 when the padded signal is shorter than ``n_fft``. With the ``center`` rule
and an even ``n_fft`` that is ``n // hop_length + 1`` (the ``"centered"`` grid of
:mod:`svcprep.dsp.frames`); the other rules give ``n // hop_length`` (the ``"floor"``
grid) for inputs long enough when ``win_length == n_fft`` and ``win_length - hop_length``
is even (see :func:`padding_for` for the exact counts otherwise).

Frame centres: with ``center`` frame ``i`` is centred on sample ``i * hop_length``; the
other rules centre it on ``i * hop_length + hop_length / 2`` (when ``win_length ==
n_fft``), which is how those frameworks define their mel.

All arithmetic is done in float64 and the results are returned as float32.
"""

from __future__ import annotations

import functools
import math
import operator
import warnings
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from svcprep.dsp._checks import as_audio
from svcprep.dsp.frames import fit_frames
from svcprep.errors import ConfigError, TooShortError

__all__ = [
    "LogBase",
    "MelNorm",
    "MelScale",
    "PadMode",
    "PaddingRule",
    "log_mel",
    "mel_filterbank",
    "padding_for",
    "stft_magnitude",
]

MelScale = Literal["slaney", "htk"]
MelNorm = Literal["slaney", "none"]
PaddingRule = Literal["center", "vits", "nsf_hifigan", "diffsinger"]
PadMode = Literal["reflect", "constant"]
LogBase = Literal["e", "10"]

_PADDING_RULES: tuple[str, ...] = ("center", "vits", "nsf_hifigan", "diffsinger")
_PAD_MODES: tuple[str, ...] = ("reflect", "constant")

# Slaney (Auditory Toolbox) mel scale: linear below 1 kHz, logarithmic above.
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL  # 15 mels
_SLANEY_LOG_STEP = math.log(6.4) / 27.0

# Frames transformed at once: bounds the temporary memory to ~4 MB of samples whatever the input length.
_BLOCK_SAMPLES = 1 << 19


# ---------------------------------------------------------------------------------------------
# argument checks


def _int_arg(name: str, value: object, *, minimum: int) -> int:
    try:
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"{name}={value!r} must be an integer") from None
    if out < minimum:
        raise ConfigError(f"{name}={out} must be >= {minimum}")
    return int(out)


def _float_arg(name: str, value: object, *, minimum: float, inclusive: bool = True) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} must be a number") from None
    if not math.isfinite(out):
        raise ConfigError(f"{name}={value!r} must be finite")
    if out < minimum or (not inclusive and out == minimum):
        relation = ">=" if inclusive else ">"
        raise ConfigError(f"{name}={out:g} must be {relation} {minimum:g}")
    return out


def _choice_arg(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"{name}={value!r} is not supported: use one of {', '.join(map(repr, allowed))}")
    return value


# ---------------------------------------------------------------------------------------------
# mel filterbank


def _hz_to_mel(freq_hz: npt.NDArray[np.float64], mel_scale: str) -> npt.NDArray[np.float64]:
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + freq_hz / 700.0)
    lin = freq_hz / _SLANEY_HZ_PER_MEL
    above = freq_hz >= _SLANEY_BREAK_HZ
    logp = (
        _SLANEY_BREAK_MEL
        + np.log(np.maximum(freq_hz, _SLANEY_BREAK_HZ) / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
    )
    return np.where(above, logp, lin)


def _mel_to_hz(mels: npt.NDArray[np.float64], mel_scale: str) -> npt.NDArray[np.float64]:
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    lin = mels * _SLANEY_HZ_PER_MEL
    above = mels >= _SLANEY_BREAK_MEL
    logp = _SLANEY_BREAK_HZ * np.exp(
        _SLANEY_LOG_STEP * (np.maximum(mels, _SLANEY_BREAK_MEL) - _SLANEY_BREAK_MEL)
    )
    return np.where(above, logp, lin)


@functools.lru_cache(maxsize=32)
def _cached_filterbank(
    sample_rate_hz: float,
    n_fft: int,
    n_mels: int,
    fmin_hz: float,
    fmax_hz: float,
    mel_scale: str,
    mel_norm: str,
) -> npt.NDArray[np.float32]:
    bin_hz = np.arange(n_fft // 2 + 1, dtype=np.float64) * (sample_rate_hz / n_fft)
    edge_mels = np.linspace(
        _hz_to_mel(np.array([fmin_hz]), mel_scale)[0],
        _hz_to_mel(np.array([fmax_hz]), mel_scale)[0],
        n_mels + 2,
    )
    edges_hz = _mel_to_hz(edge_mels, mel_scale)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bin_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bin_hz[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if mel_norm == "slaney":
        weights *= 2.0 / (upper - lower)
    empty = ~(weights.max(axis=1) > 0)
    # a filter whose lower edge is 0 Hz touches the DC bin with weight 0 by construction; ignore it
    empty &= edges_hz[:-2] > 0
    if empty.any():
        warnings.warn(
            f"{int(empty.sum())} of the {n_mels} mel filters contain no FFT bin (n_fft={n_fft} at "
            f"{sample_rate_hz:g} Hz gives {sample_rate_hz / n_fft:.3g} Hz per bin): those mel channels "
            "will always be at the log floor; lower n_mels or raise n_fft",
            stacklevel=3,
        )
    out = weights.astype(np.float32)
    out.flags.writeable = False
    return out


def mel_filterbank(
    *,
    sample_rate_hz: float,
    n_fft: int,
    n_mels: int,
    fmin_hz: float,
    fmax_hz: float,
    mel_scale: MelScale = "slaney",
    mel_norm: MelNorm = "slaney",
) -> npt.NDArray[np.float32]:
    """Triangular mel filterbank mapping ``n_fft // 2 + 1`` FFT bins to ``n_mels`` bands.

    ``n_mels + 2`` edge frequencies are spaced evenly on the mel scale from ``fmin_hz`` to
    ``fmax_hz``; filter ``m`` rises linearly (in Hz) from edge ``m`` to edge ``m + 1`` and
    falls back to zero at edge ``m + 2``, evaluated at the FFT bin frequencies
    ``k * sample_rate_hz / n_fft``. This is the same basis as ``librosa.filters.mel``
    (``htk=False`` for ``"slaney"``, ``htk=True`` for ``"htk"``; ``norm="slaney"`` or
    ``None``).

    Parameters
    ----------
    sample_rate_hz
        Sample rate of the audio.
    n_fft
        FFT size; the basis has ``n_fft // 2 + 1`` columns.
    n_mels
        Number of mel bands (rows).
    fmin_hz, fmax_hz
        Lowest and highest edge frequency; ``0 <= fmin_hz < fmax_hz <= sample_rate_hz / 2``.
    mel_scale
        ``"slaney"`` (linear below 1 kHz at 200/3 Hz per mel, logarithmic above with a step
        of ln(6.4)/27 per mel) or ``"htk"`` (``2595 * log10(1 + f / 700)``).
    mel_norm
        ``"slaney"`` scales filter ``m`` by ``2 / (f[m + 2] - f[m])`` (constant energy per
        band); ``"none"`` leaves peak weights at 1.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(n_mels, n_fft // 2 + 1)``. It is cached and shared
        between calls, so it is read-only.

    Raises
    ------
    ConfigError
        If a parameter is out of range.

    Warns
    -----
    UserWarning
        When some filters fall between two FFT bins and are all zero.
    """
    return _cached_filterbank(
        *_filterbank_key(sample_rate_hz, n_fft, n_mels, fmin_hz, fmax_hz, mel_scale, mel_norm)
    )


_FilterbankKey = tuple[float, int, int, float, float, str, str]


def _filterbank_key(
    sample_rate_hz: object,
    n_fft: object,
    n_mels: object,
    fmin_hz: object,
    fmax_hz: object,
    mel_scale: object,
    mel_norm: object,
) -> _FilterbankKey:
    """Validated, normalised filterbank arguments (the cache key)."""
    sr = _float_arg("sample_rate_hz", sample_rate_hz, minimum=0.0, inclusive=False)
    n_fft_i = _int_arg("n_fft", n_fft, minimum=2)
    n_mels_i = _int_arg("n_mels", n_mels, minimum=1)
    fmin = _float_arg("fmin_hz", fmin_hz, minimum=0.0)
    fmax = _float_arg("fmax_hz", fmax_hz, minimum=0.0, inclusive=False)
    scale = _choice_arg("mel_scale", mel_scale, ("slaney", "htk"))
    norm = _choice_arg("mel_norm", mel_norm, ("slaney", "none"))
    if fmin >= fmax:
        raise ConfigError(f"fmin_hz={fmin:g} must be below fmax_hz={fmax:g}")
    if fmax > sr / 2:
        raise ConfigError(
            f"fmax_hz={fmax:g} is above the Nyquist frequency {sr / 2:g} Hz of sample_rate_hz={sr:g}: "
            f"set fmax_hz <= {sr / 2:g}"
        )
    return sr, n_fft_i, n_mels_i, fmin, fmax, scale, norm


class _BandedBasis:
    """A mel filterbank kept as each band's run of non-zero weights.

    Each FFT bin feeds at most two bands, so multiplying only over each band's run is
    ~4x faster than a dense product, single-threaded and deterministic.
    """

    def __init__(self, basis: npt.NDArray[np.floating]) -> None:
        b = np.asarray(basis, dtype=np.float64)
        self.bands: list[tuple[int, npt.NDArray[np.float64]]] = []
        for row in b:
            nz = np.flatnonzero(row)
            lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
            self.bands.append((lo, np.ascontiguousarray(row[lo:hi])))

    def apply(self, mag: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``mag @ basis.T`` for ``mag`` of shape (frames, bins): (frames, n_mels)."""
        out = np.zeros((mag.shape[0], len(self.bands)), dtype=np.float64)
        for m, (lo, w) in enumerate(self.bands):
            if w.size:
                out[:, m] = mag[:, lo : lo + w.size] @ w
        return out


@functools.lru_cache(maxsize=32)
def _cached_banded_filterbank(*key: Any) -> _BandedBasis:
    """The float64 filterbank of ``key`` as a :class:`_BandedBasis`."""
    return _BandedBasis(_cached_filterbank(*key))


# ---------------------------------------------------------------------------------------------
# padding and STFT


def padding_for(
    rule: PaddingRule,
    *,
    n_samples: int,
    n_fft: int,
    win_length: int,
    hop_length: int,
    pad_mode: PadMode = "reflect",
) -> tuple[int, int, PadMode]:
    """Padding a framework applies before its ``center=False`` STFT.

    ``"center"``
        ``n_fft // 2`` on both sides (librosa / torch ``center=True``; svcprep's default).
    ``"vits"``
        ``(n_fft - hop_length) // 2`` on both sides (so-vits-svc VITS, RVC, Diff-SVC NSF,
        Amphion).
    ``"nsf_hifigan"``
        left ``(win_length - hop_length) // 2``, right
        ``max((win_length - hop_length + 1) // 2, win_length - n_samples - left)``
        (nvSTFT of so-vits-svc shallow diffusion and DDSP-SVC).
    ``"diffsinger"``
        ``(win_length - hop_length) // 2`` and ``(win_length - hop_length + 1) // 2``.

    Reflect padding needs both pads shorter than the signal; when the signal is too short
    to reflect (this includes empty input) the mode falls back to ``"constant"`` (zeros).
    This covers nvSTFT's own switch to zeros when ``pad_right >= n_samples``.

    The resulting STFT has ``(n_samples + pad_left + pad_right - n_fft) // hop_length + 1``
    frames, or 0 if that padded length is below ``n_fft``. Examples with n_fft = win = 2048,
    hop = 512: ``center`` gives ``n // 512 + 1`` (1 frame for empty input); ``vits`` and
    ``diffsinger`` give ``n // 512`` (0 for fewer than 512 samples); ``nsf_hifigan`` gives
    ``max(n // 512, 1)`` because its right pad grows to fill one window.

    Parameters
    ----------
    rule
        ``"center"``, ``"vits"``, ``"nsf_hifigan"`` or ``"diffsinger"``.
    n_samples
        Length of the signal to be padded.
    n_fft, win_length, hop_length
        STFT sizes (``1 <= win_length <= n_fft``).
    pad_mode
        Mode used when the signal is long enough to reflect; ``"constant"`` forces zero
        padding (Diff-SVC's 24 kHz HiFiGAN uses ``center`` with zeros).

    Returns
    -------
    tuple of (int, int, str)
        ``(pad_left, pad_right, pad_mode)`` for :func:`stft_magnitude`.

    Raises
    ------
    ConfigError
        For an unknown rule or mode, or sizes that would make a pad negative.
    """
    rule_s = _choice_arg("padding", rule, _PADDING_RULES)
    mode = _choice_arg("pad_mode", pad_mode, _PAD_MODES)
    n = _int_arg("n_samples", n_samples, minimum=0)
    n_fft_i, win, hop = _stft_sizes(n_fft, win_length, hop_length)
    if rule_s == "center":
        left = right = n_fft_i // 2
    elif rule_s == "vits":
        if hop > n_fft_i:
            raise ConfigError(f"padding 'vits' needs hop_length={hop} <= n_fft={n_fft_i}")
        left = right = (n_fft_i - hop) // 2
    else:
        if hop > win:
            raise ConfigError(
                f"padding {rule_s!r} needs hop_length={hop} <= win_length={win}: "
                "raise win_length or lower hop_length"
            )
        left = (win - hop) // 2
        right = (win - hop + 1) // 2
        if rule_s == "nsf_hifigan":
            # nvSTFT grows the right pad so that a clip shorter than a window still fills one
            right = max(right, win - n - left)
    if max(left, right) >= n:
        mode = "constant"
    return left, right, mode  # type: ignore[return-value]


def _stft_sizes(n_fft: int, win_length: int, hop_length: int) -> tuple[int, int, int]:
    n_fft_i = _int_arg("n_fft", n_fft, minimum=2)
    win = _int_arg("win_length", win_length, minimum=1)
    hop = _int_arg("hop_length", hop_length, minimum=1)
    if win > n_fft_i:
        raise ConfigError(
            f"win_length={win} must not exceed n_fft={n_fft_i}: raise n_fft or lower win_length"
        )
    return n_fft_i, win, hop


@functools.lru_cache(maxsize=16)
def _window(n_fft: int, win_length: int) -> npt.NDArray[np.float64]:
    """Periodic Hann window of ``win_length`` zero-padded, centred, to ``n_fft`` (torch.stft layout)."""
    k = np.arange(win_length, dtype=np.float64)
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * k / win_length)
    out = np.zeros(n_fft, dtype=np.float64)
    start = (n_fft - win_length) // 2
    out[start : start + win_length] = hann
    out.flags.writeable = False
    return out


def _padded(
    y: npt.NDArray[np.float64], pad_left: int, pad_right: int, pad_mode: str
) -> npt.NDArray[np.float64]:
    if pad_mode == "reflect" and max(pad_left, pad_right) >= y.size and (pad_left or pad_right):
        raise TooShortError(
            f"reflect padding of ({pad_left}, {pad_right}) samples needs a signal longer than both pads, got "
            f"{y.size} samples: use pad_mode='constant' (padding_for() chooses it automatically)"
        )
    if pad_left == 0 and pad_right == 0:
        return y
    return np.pad(y, (pad_left, pad_right), mode="reflect" if pad_mode == "reflect" else "constant")


def _stft_num_frames(n_padded: int, n_fft: int, hop_length: int) -> int:
    return 0 if n_padded < n_fft else (n_padded - n_fft) // hop_length + 1


def _magnitude_blocks(
    padded: npt.NDArray[np.float64], *, n_fft: int, hop_length: int, win_length: int, magnitude_eps: float
) -> Iterator[npt.NDArray[np.float64]]:
    """Yield float64 magnitude spectra ``(frames_in_block, n_fft // 2 + 1)`` block by block."""
    n_frames = _stft_num_frames(padded.size, n_fft, hop_length)
    if n_frames == 0:
        return
    window = _window(n_fft, win_length)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:n_frames]
    block = max(1, _BLOCK_SAMPLES // n_fft)
    for start in range(0, n_frames, block):
        spec = np.fft.rfft(frames[start : start + block] * window, n=n_fft, axis=1)
        power = spec.real * spec.real
        power += spec.imag * spec.imag
        if magnitude_eps:
            power += magnitude_eps
        yield np.sqrt(power, out=power)


def stft_magnitude(
    y: npt.ArrayLike,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int,
    pad_left: int,
    pad_right: int,
    pad_mode: PadMode = "reflect",
    magnitude_eps: float = 0.0,
) -> npt.NDArray[np.float32]:
    """Magnitude short-time Fourier transform of an explicitly padded signal.

    ``y`` is padded by ``(pad_left, pad_right)`` samples (reflect or zeros) and cut into
    frames of ``n_fft`` samples every ``hop_length`` samples, with no further centring
    (``torch.stft(center=False)``). Each frame is multiplied by a periodic Hann window
    of ``win_length`` samples zero-padded on both sides to ``n_fft`` (the left zero run
    is ``(n_fft - win_length) // 2``), and transformed with a one-sided, unnormalised DFT.
    The magnitude is ``sqrt(re**2 + im**2 + magnitude_eps)``.

    Parameters
    ----------
    y
        Mono float audio, 1-D.
    n_fft
        DFT size (>= 2).
    hop_length
        Samples between frame starts (>= 1).
    win_length
        Hann window length, ``1 <= win_length <= n_fft``.
    pad_left, pad_right
        Samples added before and after ``y`` (see :func:`padding_for`).
    pad_mode
        ``"reflect"`` (mirror without repeating the edge sample; needs both pads shorter
        than ``y``) or ``"constant"`` (zeros).
    magnitude_eps
        Added to ``re**2 + im**2`` inside the square root (so-vits-svc VITS and RVC use
        1e-6, the NSF-HiFiGAN family 1e-9, librosa and DiffSinger 0).

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n_frames, n_fft // 2 + 1)`` with
        ``n_frames = (len(y) + pad_left + pad_right - n_fft) // hop_length + 1``, or 0 rows
        when the padded signal is shorter than ``n_fft``.

    Raises
    ------
    ConfigError
        For out-of-range sizes, pads or mode.
    TooShortError
        If ``pad_mode="reflect"`` but a pad is not shorter than the signal.
    NonFiniteAudioError
        If ``y`` contains NaN or infinity.
    ValueError
        If ``y`` is not a 1-D floating-point array.
    """
    n_fft_i, win, hop = _stft_sizes(n_fft, win_length, hop_length)
    left = _int_arg("pad_left", pad_left, minimum=0)
    right = _int_arg("pad_right", pad_right, minimum=0)
    mode = _choice_arg("pad_mode", pad_mode, _PAD_MODES)
    eps = _float_arg("magnitude_eps", magnitude_eps, minimum=0.0)
    padded = _padded(as_audio(y, what="stft_magnitude").astype(np.float64, copy=False), left, right, mode)
    n_frames = _stft_num_frames(padded.size, n_fft_i, hop)
    out = np.empty((n_frames, n_fft_i // 2 + 1), dtype=np.float32)
    row = 0
    for mag in _magnitude_blocks(padded, n_fft=n_fft_i, hop_length=hop, win_length=win, magnitude_eps=eps):
        out[row : row + mag.shape[0]] = mag
        row += mag.shape[0]
    return out


# ---------------------------------------------------------------------------------------------
# log-mel


def log_mel(
    y: npt.ArrayLike,
    *,
    sample_rate_hz: float,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int = 2048,
    n_mels: int = 128,
    fmin_hz: float = 40.0,
    fmax_hz: float = 16000.0,
    padding: PaddingRule = "center",
    pad_mode: PadMode = "reflect",
    magnitude_eps: float = 0.0,
    log_floor: float = 1e-5,
    log_base: LogBase = "e",
    mel_scale: MelScale = "slaney",
    mel_norm: MelNorm = "slaney",
    n_frames: int | None = None,
    keyshift_semitones: float = 0.0,
) -> npt.NDArray[np.float32]:
    """Log-mel spectrogram, ``log(max(mel_basis @ |STFT|, log_floor))``, as ``(frames, n_mels)``.

    The defaults are svcprep's own convention (:class:`svcprep.config.MelConfig`): the
    NSF-HiFiGAN 44.1 kHz parameters with librosa-style ``center`` padding so that frame
    ``i`` is centred on sample ``i * hop_length``. Each framework's mel is reproduced by
    choosing ``padding``, ``magnitude_eps``, ``log_floor``, ``log_base``, ``mel_scale``,
    ``mel_norm`` and the sizes listed in ``PRESETS.md``.

    Parameters
    ----------
    y
        Mono float audio, 1-D.
    sample_rate_hz
        Rate of ``y``.
    n_fft, hop_length, win_length
        STFT sizes; see :func:`stft_magnitude`.
    n_mels, fmin_hz, fmax_hz, mel_scale, mel_norm
        Mel basis; see :func:`mel_filterbank`.
    padding
        Padding rule; see :func:`padding_for` (which also gives the frame count).
    pad_mode
        ``"reflect"`` (default) or ``"constant"`` to pad with zeros even when the signal
        is long enough to reflect. Too-short signals are always zero-padded.
    magnitude_eps
        Added to ``re**2 + im**2`` inside the square root.
    log_floor
        The mel magnitude is clamped to at least this before the log (> 0).
    log_base
        ``"e"`` (natural log) or ``"10"``.
    n_frames
        If given, the result is trimmed or edge-padded to exactly this many frames; a
        difference of more than one frame raises. When the STFT gives no frame at all the
        rows are filled with ``log(log_floor)`` (silence).
    keyshift_semitones
        The NSF-HiFiGAN key-shift augmentation (so-vits-svc shallow diffusion, DDSP-SVC):
        with ``factor = 2 ** (k / 12)`` the STFT uses ``round(n_fft * factor)`` and
        ``round(win_length * factor)`` samples at the same hop (the padding rule applied to
        those sizes), its magnitude is cut or zero-padded to ``n_fft // 2 + 1`` bins and
        scaled by ``win_length / round(win_length * factor)``, so content at ``f`` appears
        at ``f * factor``. 0 (default) is the plain mel.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(frames, n_mels)``.

    Raises
    ------
    ConfigError
        For out-of-range parameters, or when ``n_frames`` differs from the STFT's frame
        count by more than one (the padding rule does not match the frame grid).
    NonFiniteAudioError
        If ``y`` contains NaN or infinity.
    ValueError
        If ``y`` is not a 1-D floating-point array.
    """
    audio = as_audio(y, what="log_mel").astype(np.float64, copy=False)
    key = _filterbank_key(sample_rate_hz, n_fft, n_mels, fmin_hz, fmax_hz, mel_scale, mel_norm)
    basis = _cached_banded_filterbank(*key)
    n_mels_i = key[2]
    n_fft_i, win, hop = _stft_sizes(n_fft, win_length, hop_length)
    eps = _float_arg("magnitude_eps", magnitude_eps, minimum=0.0)
    floor = _float_arg("log_floor", log_floor, minimum=0.0, inclusive=False)
    base = _choice_arg("log_base", log_base, ("e", "10"))
    want = None if n_frames is None else _int_arg("n_frames", n_frames, minimum=0)
    shift = float(keyshift_semitones)
    if not math.isfinite(shift) or abs(shift) > 24:
        raise ConfigError(f"keyshift_semitones={keyshift_semitones!r} must be a number within +-24")
    n_bins = n_fft_i // 2 + 1
    scale = 1.0
    if shift:
        factor = 2.0 ** (shift / 12.0)
        win0 = win
        n_fft_i, win = int(np.round(n_fft_i * factor)), int(np.round(win * factor))
        scale = win0 / win
    left, right, mode = padding_for(
        padding, n_samples=audio.size, n_fft=n_fft_i, win_length=win, hop_length=hop, pad_mode=pad_mode
    )
    padded = _padded(audio, left, right, mode)
    have = _stft_num_frames(padded.size, n_fft_i, hop)
    if want is not None and abs(have - want) > 1:
        raise ConfigError(
            f"the {padding!r} padding gives {have} mel frames for {audio.size} samples but the frame grid "
            f"has {want}: the padding rule does not match the grid (use 'center' for the centered grid, "
            "a win_length-based rule with win_length == n_fft for the floor grid)"
        )
    log = np.log10 if base == "10" else np.log
    out = np.empty((have, n_mels_i), dtype=np.float32)
    row = 0
    for mag in _magnitude_blocks(padded, n_fft=n_fft_i, hop_length=hop, win_length=win, magnitude_eps=eps):
        if shift:
            fitted = np.zeros((mag.shape[0], n_bins))
            m = min(n_bins, mag.shape[1])
            fitted[:, :m] = mag[:, :m] * scale
            mag = fitted
        mel = basis.apply(mag)  # (frames_in_block, n_mels)
        out[row : row + mel.shape[0]] = log(np.maximum(mel, floor, out=mel), out=mel)
        row += mel.shape[0]
    if want is None or want == have:
        return out
    if have == 0:
        return np.full((want, n_mels_i), log(floor), dtype=np.float32)
    return fit_frames(out, want, max_diff=1)
