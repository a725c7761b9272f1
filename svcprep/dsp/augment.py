"""Pitch-shift and time-stretch variants of a recording, for data augmentation.

Two methods:

``"world"``
    Analysis with pyworld (Harvest F0, CheapTrick spectral envelope, D4C
    aperiodicity) and resynthesis with the F0 scaled or the time axis resampled. The
    spectral envelope is kept, so a shifted voice keeps its formants (the same
    singer, singing higher or lower).
``"phase_vocoder"``
    librosa's phase vocoder (``librosa.effects``). Pitch shifting moves the formants
    with the pitch (a "chipmunk" voice).

Both are deterministic: the same input and arguments give the same samples.
"""

from __future__ import annotations

import math
from typing import Literal

import librosa
import numpy as np
import numpy.typing as npt

from svcprep._compat import import_pyworld
from svcprep.dsp._checks import as_audio
from svcprep.errors import ConfigError

pyworld = import_pyworld()
__all__ = ["FRAME_PERIOD_MS", "pitch_shift", "time_stretch"]

FloatArray = npt.NDArray[np.float32]
Method = Literal["world", "phase_vocoder"]

#: WORLD analysis frame period.
FRAME_PERIOD_MS = 5.0
#: Peak below which the input is treated as silence and returned as is.
_SILENT_PEAK = 2.0**-24
#: The phase vocoder's FFT size; shorter inputs are handled without it.
_PV_N_FFT = 2048


def _check_common(sample_rate_hz: float, method: str, what: str) -> None:
    if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise ConfigError(f"{what}: sample_rate_hz={sample_rate_hz} must be a positive number")
    if method not in ("world", "phase_vocoder"):
        raise ConfigError(f"augment.pitch_method={method!r}: use 'world' or 'phase_vocoder'")


def _min_world_samples(sample_rate_hz: float, f0_floor_hz: float) -> int:
    # CheapTrick and D4C need about three periods of the lowest F0 to say anything
    return math.ceil(3.0 * sample_rate_hz / f0_floor_hz)


def _world_analyse(
    x: npt.NDArray[np.float64], sample_rate_hz: int, f0_floor_hz: float, f0_ceil_hz: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    f0, t = pyworld.harvest(
        x, sample_rate_hz, f0_floor=f0_floor_hz, f0_ceil=f0_ceil_hz, frame_period=FRAME_PERIOD_MS
    )
    # CheapTrick's FFT size follows f0_floor; D4C must use the same one
    fft_size = pyworld.get_cheaptrick_fft_size(sample_rate_hz, f0_floor_hz)
    sp = pyworld.cheaptrick(x, f0, t, sample_rate_hz, f0_floor=f0_floor_hz, fft_size=fft_size)
    ap = pyworld.d4c(x, f0, t, sample_rate_hz, fft_size=fft_size)
    return f0, sp, ap


def _fit_length(y: npt.NDArray[np.float64], n: int) -> FloatArray:
    out = np.zeros(n, dtype=np.float32)
    m = min(n, y.size)
    out[:m] = y[:m]
    if not np.isfinite(out).all():  # WORLD never does this; guard the promise anyway
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def _world_rate(sample_rate_hz: float) -> int:
    sr = round(sample_rate_hz)
    if sr != sample_rate_hz:
        raise ConfigError(
            f"method='world' needs a whole-number sample rate, got sample_rate_hz={sample_rate_hz}"
        )
    return sr


def pitch_shift(
    y: npt.ArrayLike,
    *,
    sample_rate_hz: float,
    semitones: float,
    method: Method = "world",
    f0_floor_hz: float = 50.0,
    f0_ceil_hz: float = 1100.0,
) -> FloatArray:
    """Shift the pitch of a voice by ``semitones``, keeping its length.

    Parameters
    ----------
    y
        float32 mono audio.
    sample_rate_hz
        Sample rate of ``y``.
    semitones
        Shift in semitones (the F0 is multiplied by ``2 ** (semitones / 12)``); one
        value of ``augment.pitch_shift_semitones``.
    method
        ``"world"`` keeps the spectral envelope (formants); ``"phase_vocoder"`` moves
        it with the pitch (``augment.pitch_method``).
    f0_floor_hz, f0_ceil_hz
        F0 search range of the WORLD analysis (``f0.f0_floor_hz``, ``f0.f0_ceil_hz``).
        Shifted F0 values are kept below 95 % of Nyquist.

    Returns
    -------
    numpy.ndarray
        float32 audio with the same length as ``y``, always finite. Silence, and
        input too short to analyse (shorter than three periods of ``f0_floor_hz`` for
        WORLD, or than one FFT of 2048 samples for the phase vocoder), come back
        unchanged.

    Raises
    ------
    ConfigError
        A parameter is out of range.
    """
    a = as_audio(y, what="pitch_shift")
    _check_common(sample_rate_hz, method, "pitch_shift")
    if not (math.isfinite(semitones) and -48.0 <= semitones <= 48.0):
        raise ConfigError(
            f"augment.pitch_shift_semitones contains {semitones}: use a finite value in [-48, 48]"
        )
    _check_f0_range(sample_rate_hz, f0_floor_hz, f0_ceil_hz)
    n = a.size
    if n == 0 or semitones == 0.0 or float(np.max(np.abs(a))) < _SILENT_PEAK:
        return a.astype(np.float32, copy=True)
    ratio = 2.0 ** (semitones / 12.0)
    if method == "phase_vocoder":
        if n < _PV_N_FFT:
            return a.astype(np.float32, copy=True)
        out = librosa.effects.pitch_shift(a.astype(np.float32), sr=sample_rate_hz, n_steps=float(semitones))
        return _fit_length(np.asarray(out, dtype=np.float64), n)
    sr = _world_rate(sample_rate_hz)
    if n < _min_world_samples(sr, f0_floor_hz):
        return a.astype(np.float32, copy=True)
    x = a.astype(np.float64)
    f0, sp, ap = _world_analyse(x, sr, f0_floor_hz, f0_ceil_hz)
    f0_new = np.minimum(f0 * ratio, 0.95 * sr / 2.0)
    out = pyworld.synthesize(f0_new, sp, ap, sr, frame_period=FRAME_PERIOD_MS)
    return _fit_length(out, n)


def _check_f0_range(sample_rate_hz: float, f0_floor_hz: float, f0_ceil_hz: float) -> None:
    if not (math.isfinite(f0_floor_hz) and f0_floor_hz > 0):
        raise ConfigError(f"f0.f0_floor_hz={f0_floor_hz} must be a positive frequency")
    if not (math.isfinite(f0_ceil_hz) and f0_floor_hz < f0_ceil_hz < sample_rate_hz / 2):
        raise ConfigError(
            f"f0.f0_ceil_hz={f0_ceil_hz} must be above f0.f0_floor_hz={f0_floor_hz} and below the "
            f"Nyquist frequency {sample_rate_hz / 2:g} Hz"
        )


def _interp_frames(
    f0: npt.NDArray[np.float64],
    sp: npt.NDArray[np.float64],
    ap: npt.NDArray[np.float64],
    pos: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """WORLD parameters at fractional frame positions ``pos`` of the source."""
    last = f0.size - 1
    pos = np.clip(pos, 0.0, float(last))
    i0 = np.minimum(np.floor(pos).astype(np.int64), max(last - 1, 0))
    i1 = np.minimum(i0 + 1, last)
    w = (pos - i0)[:, None]
    sp_new = (1.0 - w) * sp[i0] + w * sp[i1]
    ap_new = (1.0 - w) * ap[i0] + w * ap[i1]
    w1 = w[:, 0]
    both = (f0[i0] > 0) & (f0[i1] > 0)
    # voiced on both sides: interpolate in log-frequency; else take the nearer frame
    with np.errstate(divide="ignore", invalid="ignore"):
        log_mix = np.exp((1.0 - w1) * np.log(f0[i0]) + w1 * np.log(f0[i1]))
    nearest = np.where(w1 < 0.5, f0[i0], f0[i1])
    f0_new = np.where(both, log_mix, nearest)
    return np.ascontiguousarray(f0_new), np.ascontiguousarray(sp_new), np.ascontiguousarray(ap_new)


def time_stretch(
    y: npt.ArrayLike,
    *,
    sample_rate_hz: float,
    rate: float,
    method: Method = "world",
    f0_floor_hz: float = 50.0,
    f0_ceil_hz: float = 1100.0,
) -> FloatArray:
    """Change the tempo of a voice without changing its pitch.

    Parameters
    ----------
    y
        float32 mono audio.
    sample_rate_hz
        Sample rate of ``y``.
    rate
        Speed factor: > 1 is faster and shorter (one value of
        ``augment.time_stretch_rates``).
    method
        ``"world"``: the WORLD parameter tracks are resampled in time (linear in the
        spectra, log-linear in F0) and resynthesised. ``"phase_vocoder"``:
        ``librosa.effects.time_stretch``.
    f0_floor_hz, f0_ceil_hz
        F0 search range of the WORLD analysis.

    Returns
    -------
    numpy.ndarray
        float32 audio of exactly ``round(len(y) / rate)`` samples, always finite.
        Silence comes back as silence of that length; input too short to analyse
        (see :func:`pitch_shift`) is resampled by linear interpolation instead.
    """
    a = as_audio(y, what="time_stretch")
    _check_common(sample_rate_hz, method, "time_stretch")
    if not (math.isfinite(rate) and 0.05 <= rate <= 20.0):
        raise ConfigError(f"augment.time_stretch_rates contains {rate}: use a finite rate in [0.05, 20]")
    _check_f0_range(sample_rate_hz, f0_floor_hz, f0_ceil_hz)
    n = a.size
    n_out = round(n / rate)
    if n == 0 or n_out == 0:
        return np.zeros(n_out, dtype=np.float32)
    if float(np.max(np.abs(a))) < _SILENT_PEAK:
        return np.zeros(n_out, dtype=np.float32)
    if rate == 1.0:
        return a.astype(np.float32, copy=True)
    too_short = (
        n < _PV_N_FFT if method == "phase_vocoder" else n < _min_world_samples(sample_rate_hz, f0_floor_hz)
    )
    if too_short:
        src = np.arange(n_out, dtype=np.float64) * ((n - 1) / max(n_out - 1, 1))
        return np.interp(src, np.arange(n), a.astype(np.float64)).astype(np.float32)
    if method == "phase_vocoder":
        out = librosa.effects.time_stretch(a.astype(np.float32), rate=float(rate))
        return _fit_length(np.asarray(out, dtype=np.float64), n_out)
    sr = _world_rate(sample_rate_hz)
    x = a.astype(np.float64)
    f0, sp, ap = _world_analyse(x, sr, f0_floor_hz, f0_ceil_hz)
    hop_s = FRAME_PERIOD_MS / 1000.0
    # output frame j sits at j*hop in the output, i.e. at j*hop*rate in the source
    m = math.ceil((n_out - 1) / (hop_s * sr)) + 1
    pos = np.arange(m, dtype=np.float64) * rate
    f0_new, sp_new, ap_new = _interp_frames(f0, sp, ap, pos)
    out = pyworld.synthesize(f0_new, sp_new, ap_new, sr, frame_period=FRAME_PERIOD_MS)
    return _fit_length(out, n_out)
