"""Fundamental-frequency (F0) extraction on svcprep's frame grid, and F0 utilities.

:func:`extract_f0` runs one of four extractors (WORLD Harvest, WORLD DIO + StoneMask,
librosa pYIN, Praat's autocorrelation method) and returns an :class:`F0Track` on the
shared frame grid: frame ``i`` is centred at ``i * hop_length / sample_rate_hz``
seconds (see :mod:`svcprep.dsp.frames`).

Voicing
    ``voicing="native"`` keeps the extractor's own voiced/unvoiced decision.
    ``voicing="refined"`` re-decides it from a per-frame periodicity (the normalised
    cross-correlation of the low band at the candidate period, see
    :func:`_periodicity`) and an energy gate relative to the item's loudest frame,
    then removes short voiced blips and fills short gaps. Harvest, for example, marks
    about a third of the truly unvoiced frames of real singing voiced; the refined
    decision removes most of those while keeping the voiced ones.

Framework conventions
    :func:`extract_f0_as` reproduces a framework's own WORLD path instead (the ``f0.match``
    setting): RVC's (Harvest or DIO with StoneMask on the 16 kHz copy, 10 ms frames) and
    so-vits-svc 4.1's (Harvest or DIO with StoneMask at the dataset rate, the track
    linearly resized onto ``len // hop`` frames). No normalising, chunking or clamping:
    the values are the framework's to within floating-point rounding.

Long inputs
    Inputs longer than ``chunk_s`` are analysed in overlapping chunks whose
    boundaries fall on the frame grid; every frame is taken from the chunk in which
    it lies furthest from an edge, so the result matches an unchunked run on almost
    every frame while the extractor's memory stays bounded (Harvest needs about
    3 GB for a 10-minute array).
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from svcprep._compat import import_pyworld
from svcprep.dsp.frames import fit_frames
from svcprep.errors import ConfigError, NonFiniteAudioError

__all__ = [
    "F0Match",
    "F0Method",
    "F0Track",
    "SearchRange",
    "UnvoicedFill",
    "VoicingMode",
    "coarse_f0",
    "compare_f0",
    "extract_f0",
    "extract_f0_as",
    "fill_unvoiced",
    "fit_search_range",
    "range_from_prepass",
    "read_f0_csv",
    "refine_voicing",
    "resize_track",
    "track_on_grid",
]

F0Method = Literal["harvest", "dio", "pyin", "praat", "fcpe", "rmvpe"]
VoicingMode = Literal["refined", "native"]
UnvoicedFill = Literal["interpolate_hz", "interpolate_log", "zero"]
F0Match = Literal["rvc", "sovits"]

#: RVC's F0 analysis: 16 kHz audio, 160-sample (10 ms) hop.
RVC_F0_RATE_HZ = 16000
RVC_F0_HOP = 160

_METHODS: tuple[str, ...] = ("harvest", "dio", "pyin", "praat", "fcpe", "rmvpe")
_VOICINGS: tuple[str, ...] = ("refined", "native")
_FILLS: tuple[str, ...] = ("interpolate_hz", "interpolate_log", "zero")

# Periodicity analysis (refined voicing). The low band carries the harmonics that
# make a voice periodic; breath and fricative noise live higher up.
_PERIODICITY_RATE_HZ = 16000
_PERIODICITY_WINDOW_S = 0.020
_PERIODICITY_BLOCK_FRAMES = 2048
# Voicing cleanup: voiced runs shorter than this are dropped, unvoiced gaps shorter
# than this (between voiced runs, on frames that have a candidate) are filled.
_MIN_VOICED_RUN_S = 0.030
_MAX_GAP_S = 0.020
# Context analysed on each side of a chunk's own frames.
_CHUNK_CONTEXT_S = 1.0
_PYIN_RATE_HZ = 16000
_SILENT_PEAK = 2.0**-24
_PYIN_MAX_NATIVE_RATE_HZ = 22050
# Adaptive search range (harvest): a DIO + StoneMask pre-pass on a 16 kHz copy; the range
# runs from a fourth below its 2nd percentile to a fifth above its 98th. Harvest's cost
# grows with the octaves it searches, so a one-octave voice costs a fraction of 50-1100 Hz.
_PREPASS_RATE_HZ = 16000
_PREPASS_PERCENTILES = (2.0, 98.0)
_PREPASS_BELOW = 2.0 ** (-5 / 12)
_PREPASS_ABOVE = 2.0 ** (7 / 12)
# Too little voicing to trust the pre-pass: search the full range.
_PREPASS_MIN_VOICED_S = 0.25
_PREPASS_MIN_VOICED_RATIO = 0.05
# A pre-pass steadier than a major third between its 2nd and 98th percentiles is more
# likely locked on mains hum or another steady tone than on a voice (bench_quality: hum as
# loud as the voice fitted 50-75 Hz and lost the voice): search the full range.
_PREPASS_MIN_SPREAD = 2.0 ** (4 / 12)
_SEARCH_RANGES: tuple[str, ...] = ("fixed", "adaptive")
SearchRange = Literal["fixed", "adaptive"]


@dataclass(frozen=True, eq=False)
class F0Track:
    """F0 of one item on the frame grid.

    Attributes
    ----------
    f0_hz
        float32 ``(n_frames,)``: the extractor's F0 candidate on every frame where it
        has one, also on frames the voicing decision calls unvoiced; 0 where it has
        none. Every non-zero value lies in ``[f0_floor_hz, f0_ceil_hz]``.
    voiced
        bool ``(n_frames,)``: the final voiced/unvoiced decision. ``voiced`` implies
        ``f0_hz > 0``.
    periodicity
        float32 ``(n_frames,)`` in ``[0, 1]``: normalised cross-correlation of the
        low band at the candidate period (1 = perfectly periodic; 0 on frames without
        a candidate). The refined voicing thresholds it.
    prepass_f0_hz
        float32 ``(n_frames,)`` with ``search_range="adaptive"``: the 16 kHz DIO +
        StoneMask pre-pass that fitted the search range (0 where DIO calls the frame
        unvoiced); None otherwise.
    search_range_hz
        ``(floor, ceil)`` the extractor searched: the fitted range with
        ``search_range="adaptive"``, else ``(f0_floor_hz, f0_ceil_hz)``.
    """

    f0_hz: npt.NDArray[np.float32]
    voiced: npt.NDArray[np.bool_]
    periodicity: npt.NDArray[np.float32]
    prepass_f0_hz: npt.NDArray[np.float32] | None = None
    search_range_hz: tuple[float, float] | None = None

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.f0_hz.shape[0])


# --------------------------------------------------------------------------- checks


def _check_params(
    *,
    sample_rate_hz: int,
    hop_length: int,
    n_frames: int,
    method: str,
    f0_floor_hz: float,
    f0_ceil_hz: float,
    voicing: str,
    voicing_threshold: float,
    voicing_min_db: float,
    chunk_s: float,
) -> None:
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, (int, np.integer)):
        raise ConfigError(
            f"sample_rate_hz={sample_rate_hz!r} must be an integer number of samples per second"
        )
    if sample_rate_hz <= 0:
        raise ConfigError(f"sample_rate_hz={sample_rate_hz} must be positive")
    if isinstance(hop_length, bool) or not isinstance(hop_length, (int, np.integer)) or hop_length <= 0:
        raise ConfigError(f"hop_length={hop_length!r} must be a positive integer")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 0:
        raise ConfigError(f"n_frames={n_frames!r} must be a non-negative integer")
    if method not in _METHODS:
        raise ConfigError(f"f0 method={method!r} is unknown: use one of {', '.join(_METHODS)}")
    if voicing not in _VOICINGS:
        raise ConfigError(f"voicing={voicing!r} is unknown: use 'refined' or 'native'")
    if not (math.isfinite(f0_floor_hz) and f0_floor_hz > 0):
        raise ConfigError(f"f0_floor_hz={f0_floor_hz} must be a positive number of Hz")
    if not (math.isfinite(f0_ceil_hz) and f0_ceil_hz > f0_floor_hz):
        raise ConfigError(f"f0_ceil_hz={f0_ceil_hz} must be above f0_floor_hz={f0_floor_hz}")
    nyq = sample_rate_hz / 2
    if f0_ceil_hz >= nyq:
        raise ConfigError(
            f"f0_ceil_hz={f0_ceil_hz} must be below the Nyquist frequency {nyq:g} Hz of "
            f"sample_rate_hz={sample_rate_hz}: lower f0_ceil_hz"
        )
    if not (math.isfinite(voicing_threshold) and 0.0 <= voicing_threshold <= 1.0):
        raise ConfigError(f"voicing_threshold={voicing_threshold} must lie in [0, 1]")
    if not (math.isfinite(voicing_min_db) and voicing_min_db <= 0.0):
        raise ConfigError(f"voicing_min_db={voicing_min_db} must be a level in dB at or below 0")
    if not (math.isfinite(chunk_s) and chunk_s > 0):
        raise ConfigError(f"chunk_s={chunk_s} must be a positive number of seconds")


def _as_audio(y: npt.ArrayLike) -> npt.NDArray[np.float64]:
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(f"F0 extraction needs mono 1-D audio, got an array of shape {a.shape}")
    if a.dtype.kind not in "fiu":
        raise ValueError(f"audio must hold real numbers, got dtype {a.dtype}")
    x = a.astype(np.float64)
    if x.size and not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise NonFiniteAudioError(f"audio has {bad} NaN or infinite samples; F0 cannot be extracted")
    return x


# --------------------------------------------------------------------------- extractors


def _native(
    x: npt.NDArray[np.float64],
    *,
    method: str,
    sample_rate_hz: int,
    hop_length: int,
    n_frames: int,
    f0_floor_hz: float,
    f0_ceil_hz: float,
    analysis_rate_hz: int | None = None,
    dio_speed: int = 1,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Run one extractor on ``x``; return (candidate Hz or 0, native voiced) with ``n_frames`` frames.

    ``x`` starts on frame 0 of its own grid. Too-short or silent input never reaches the
    extractor (WORLD's Harvest raises MemoryError on empty arrays).
    """
    none = (np.zeros(n_frames), np.zeros(n_frames, dtype=bool))
    if n_frames == 0 or x.size < math.ceil(sample_rate_hz / f0_floor_hz) or not np.any(x):
        return none
    if method in ("harvest", "dio"):
        cand, voiced = _world(
            x, method=method, sample_rate_hz=sample_rate_hz, hop_length=hop_length,
            f0_floor_hz=f0_floor_hz, f0_ceil_hz=f0_ceil_hz, analysis_rate_hz=analysis_rate_hz,
            dio_speed=dio_speed,
        )  # fmt: skip
    elif method == "pyin":
        cand, voiced = _pyin(
            x, sample_rate_hz=sample_rate_hz, hop_length=hop_length,
            f0_floor_hz=f0_floor_hz, f0_ceil_hz=f0_ceil_hz,
        )  # fmt: skip
    else:
        cand, voiced = _praat(
            x, sample_rate_hz=sample_rate_hz, hop_length=hop_length, n_frames=n_frames,
            f0_floor_hz=f0_floor_hz, f0_ceil_hz=f0_ceil_hz,
        )  # fmt: skip
    cand = fit_frames(cand, n_frames, max_diff=3)
    voiced = fit_frames(voiced, n_frames, max_diff=3)
    cand = np.where(np.isfinite(cand) & (cand > 0), cand, 0.0)
    return cand, voiced & (cand > 0)


def _world(
    x: npt.NDArray[np.float64],
    *,
    method: str,
    sample_rate_hz: int,
    hop_length: int,
    f0_floor_hz: float,
    f0_ceil_hz: float,
    analysis_rate_hz: int | None = None,
    dio_speed: int = 1,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    pyworld = import_pyworld()
    xc = np.ascontiguousarray(x, dtype=np.float64)
    frame_period_ms = 1000.0 * hop_length / sample_rate_hz  # frame times do not depend on the rate
    rate = sample_rate_hz
    if analysis_rate_hz is not None and analysis_rate_hz < sample_rate_hz:
        import soxr

        xc = np.ascontiguousarray(soxr.resample(xc, sample_rate_hz, analysis_rate_hz, quality="HQ"))
        rate = analysis_rate_hz
    if method == "harvest":
        f0, _ = pyworld.harvest(
            xc, rate, f0_floor=f0_floor_hz, f0_ceil=f0_ceil_hz, frame_period=frame_period_ms
        )
    else:
        f0, t = pyworld.dio(
            xc, rate, f0_floor=f0_floor_hz, f0_ceil=f0_ceil_hz, frame_period=frame_period_ms, speed=dio_speed
        )
        f0 = pyworld.stonemask(xc, f0, t, rate)
    f0 = np.asarray(f0, dtype=np.float64)
    # WORLD has no candidate on the frames it calls unvoiced.
    return f0, f0 > 0


def _fcpe(
    x: npt.NDArray[np.float64],
    *,
    sample_rate_hz: int,
    hop_length: int,
    n_frames: int,
    threshold: float | None,
) -> npt.NDArray[np.float64]:
    from svcprep.dsp.fcpe import FCPE_RATE_HZ, fcpe_f0_16k
    from svcprep.dsp.resample import resample

    x16 = resample(x.astype(np.float32), orig_sr_hz=sample_rate_hz, target_sr_hz=FCPE_RATE_HZ)
    return track_on_grid(
        fcpe_f0_16k(x16),
        frame_rate_hz=100,
        sample_rate_hz=sample_rate_hz,
        hop_length=hop_length,
        n_frames=n_frames,
    )


def _pyin(
    x: npt.NDArray[np.float64],
    *,
    sample_rate_hz: int,
    hop_length: int,
    f0_floor_hz: float,
    f0_ceil_hz: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    import librosa
    import soxr

    if sample_rate_hz <= _PYIN_MAX_NATIVE_RATE_HZ:
        rate: float = float(sample_rate_hz)
        hop = hop_length
        xr = x
    else:
        # Resample so that the grid's hop is a whole number of samples: the analysis
        # rate is chosen near 16 kHz such that frame j sits at exactly j*hop/sr.
        hop = max(1, round(hop_length * _PYIN_RATE_HZ / sample_rate_hz))
        rate = hop * sample_rate_hz / hop_length
        if rate <= 2 * f0_ceil_hz:
            hop = max(1, math.ceil(hop_length * 2.2 * f0_ceil_hz / sample_rate_hz))
            rate = hop * sample_rate_hz / hop_length
        xr = soxr.resample(x, sample_rate_hz, rate, quality="HQ")
    frame_length = 1 << max(9, math.ceil(math.log2(2 * math.ceil(rate / f0_floor_hz) + 2)))
    with _first_numba_call():
        f0, voiced, _ = librosa.pyin(
            xr,
            fmin=f0_floor_hz,
            fmax=f0_ceil_hz,
            sr=rate,
            frame_length=frame_length,
            hop_length=hop,
            center=True,
            fill_na=None,
        )
    return np.asarray(f0, dtype=np.float64), np.asarray(voiced, dtype=bool)


_NUMBA_WARM = False


@contextlib.contextmanager
def _first_numba_call() -> Iterator[None]:
    """Hold a machine-wide lock around a process's first pYIN call.

    librosa's numba kernels are compiled on first use and cached on disk, and numba's cache
    is not safe for processes compiling the same function at once: a worker can crash
    loading an entry another is writing. The first call of each process waits for the
    others' (POSIX file lock); later calls run freely.
    """
    global _NUMBA_WARM
    if _NUMBA_WARM:
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        _NUMBA_WARM = True
        return
    import tempfile

    path = os.path.join(tempfile.gettempdir(), f"svcprep-numba-{os.getuid()}.lock")
    try:
        lock = open(path, "a+b")  # noqa: SIM115 - closed below
    except OSError:  # no writable temporary folder: no lock
        yield
        _NUMBA_WARM = True
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
            _NUMBA_WARM = True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _praat(
    x: npt.NDArray[np.float64],
    *,
    sample_rate_hz: int,
    hop_length: int,
    n_frames: int,
    f0_floor_hz: float,
    f0_ceil_hz: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    try:
        import parselmouth
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "f0 method='praat' needs praat-parselmouth, which is not installed: "
            "pip install 'svcprep[praat]' (GPL-3), or choose method='harvest'"
        ) from err

    # Praat analyses whole windows only (3 periods of the floor), so zeros are padded on
    # both sides for the first and last grid frames to get an analysis frame. Praat
    # centres its frames in the sound: with N samples and F frames the first sits at
    # (N - (F - 1) * hop) / 2 samples. Choosing the padding (left, right) so that
    # right - left + n is a multiple of the hop and floor((2 * left - W) / hop) is even
    # puts every Praat frame exactly on a grid frame (no interpolation, and chunks agree).
    n = x.size
    win = 3.0 * sample_rate_hz / f0_floor_hz
    min_pad = math.ceil(win / 2) + hop_length
    left = min_pad
    for cand_left in range(min_pad, min_pad + 2 * hop_length + 2):
        q = (2 * cand_left - win) / hop_length
        # keep clear of integer q, where Praat's own rounding could pick the other frame count
        if math.floor(q) % 2 == 0 and 0.05 < q - math.floor(q) < 0.95:
            left = cand_left
            break
    right = left - n + math.ceil((min_pad - left + n) / hop_length) * hop_length
    xp = np.concatenate([np.zeros(left), x, np.zeros(right)])
    sound = parselmouth.Sound(xp, sampling_frequency=float(sample_rate_hz))
    pitch = sound.to_pitch_ac(
        time_step=hop_length / sample_rate_hz, pitch_floor=f0_floor_hz, pitch_ceiling=f0_ceil_hz
    )
    times = np.asarray(pitch.xs(), dtype=np.float64) - left / sample_rate_hz
    selected = np.asarray(pitch.selected_array["frequency"], dtype=np.float64)
    # Best voiced candidate of each frame, also where Praat's path chose "unvoiced".
    cands = pitch.to_array()
    freq = np.asarray(cands["frequency"], dtype=np.float64)
    strength = np.where(
        (freq >= f0_floor_hz) & (freq <= f0_ceil_hz), np.asarray(cands["strength"], dtype=np.float64), -np.inf
    )
    best = np.argmax(strength, axis=0)
    best_f = freq[best, np.arange(freq.shape[1])]
    best_f = np.where(np.isfinite(strength[best, np.arange(freq.shape[1])]), best_f, 0.0)
    cand = np.where(selected > 0, selected, best_f)
    voiced = selected > 0
    if times.size == 0:
        return np.zeros(n_frames), np.zeros(n_frames, dtype=bool)
    step = hop_length / sample_rate_hz
    pos = (np.arange(n_frames) * step - times[0]) / step
    if np.all(np.abs(pos - np.rint(pos)) < 1e-3):
        k = np.rint(pos).astype(np.int64)
        inside = (k >= 0) & (k < times.size)
        kc = np.clip(k, 0, times.size - 1)
        return np.where(inside, cand[kc], 0.0), voiced[kc] & inside
    # Fallback (hop of 1-2 samples): map Praat's offset frames onto the grid by time.
    lo = np.clip(np.floor(pos).astype(np.int64), 0, times.size - 1)
    hi = np.clip(lo + 1, 0, times.size - 1)
    w = np.clip(pos - lo, 0.0, 1.0)
    near = np.where(w < 0.5, lo, hi)
    both = (cand[lo] > 0) & (cand[hi] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        interp = np.exp(
            (1 - w) * np.log(np.where(both, cand[lo], 1.0)) + w * np.log(np.where(both, cand[hi], 1.0))
        )
    out = np.where(both, interp, cand[near])
    inside = (pos >= -0.5) & (pos <= times.size - 0.5)
    return np.where(inside, out, 0.0), voiced[near] & inside


# --------------------------------------------------------------------------- voicing


def _analysis_signal(
    x: npt.NDArray[np.float64], sample_rate_hz: int
) -> tuple[npt.NDArray[np.float64], float]:
    """The band used for periodicity and energy: at most 16 kHz, no DC or rumble."""
    import soxr

    from svcprep.dsp.filters import zero_phase_highpass

    if sample_rate_hz > _PERIODICITY_RATE_HZ:
        xa = soxr.resample(x, sample_rate_hz, _PERIODICITY_RATE_HZ, quality="HQ")
        rate = float(_PERIODICITY_RATE_HZ)
    else:
        xa, rate = x, float(sample_rate_hz)
    if xa.size > 12:
        xa = zero_phase_highpass(xa, sample_rate_hz=rate, cutoff_hz=30.0, order=2)
    return np.asarray(xa, dtype=np.float64), rate


def _periodicity(
    xa: npt.NDArray[np.float64],
    *,
    rate_hz: float,
    frame_times_s: npt.NDArray[np.float64],
    f0_hz: npt.NDArray[np.float64],
    window_s: float = _PERIODICITY_WINDOW_S,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-frame periodicity at the candidate period, and per-frame energy.

    For a frame centred at ``c`` with candidate period ``T`` (samples, fractional), the
    periodicity is the normalised cross-correlation between the ``W`` samples that
    start at ``c - (W + T) / 2`` and the same samples ``T`` later (linear interpolation
    for the fractional part), clipped to [0, 1]. Energy is the mean square of the
    centred ``W`` samples. Frames without a candidate get periodicity 0.
    """
    n = frame_times_s.size
    per = np.zeros(n)
    energy = np.zeros(n)
    if n == 0 or xa.size == 0:
        return per, energy
    win = max(8, round(window_s * rate_hz))
    has = f0_hz > 0
    period = np.where(has, rate_hz / np.where(has, f0_hz, 1.0), 0.0)
    max_t = int(np.ceil(period.max())) + 2 if n else 2
    pad = win + max_t + 2
    xp = np.concatenate([np.zeros(pad), xa, np.zeros(pad)])
    centre = frame_times_s * rate_hz + pad
    offs = np.arange(win)
    for b0 in range(0, n, _PERIODICITY_BLOCK_FRAMES):
        sl = slice(b0, min(n, b0 + _PERIODICITY_BLOCK_FRAMES))
        c = centre[sl]
        t = period[sl]
        # energy: centred window
        e_idx = np.rint(c - win / 2).astype(np.int64)[:, None] + offs
        energy[sl] = np.mean(xp[e_idx] ** 2, axis=1)
        start = np.rint(c - (win + t) / 2).astype(np.int64)
        a_idx = start[:, None] + offs
        a = xp[a_idx]
        tf = np.floor(t).astype(np.int64)
        frac = (t - tf)[:, None]
        b_idx = a_idx + tf[:, None]
        b = (1.0 - frac) * xp[b_idx] + frac * xp[b_idx + 1]
        num = np.sum(a * b, axis=1)
        den = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
        ok = has[sl] & (den > 0)
        per[sl] = np.where(ok, num / np.where(den > 0, den, 1.0), 0.0)
    return np.clip(per, 0.0, 1.0), energy


def _refine_pitch(
    xa: npt.NDArray[np.float64],
    *,
    rate_hz: float,
    frame_times_s: npt.NDArray[np.float64],
    f0_hz: npt.NDArray[np.float64],
    span_cents: float = 15.0,
    step_cents: float = 3.0,
) -> npt.NDArray[np.float64]:
    """Move each candidate to the periodicity peak within +-``span_cents`` (parabolic fit).

    Used for pYIN, whose candidates are the centres of 10-cent bins.
    """
    offsets = np.arange(-span_cents, span_cents + step_cents / 2, step_cents)
    scores = np.stack(
        [
            _periodicity(xa, rate_hz=rate_hz, frame_times_s=frame_times_s, f0_hz=f0_hz * 2.0 ** (c / 1200.0))[
                0
            ]
            for c in offsets
        ]
    )
    k = np.argmax(scores, axis=0)
    cols = np.arange(f0_hz.size)
    inner = (k > 0) & (k < offsets.size - 1)
    kc = np.clip(k, 1, offsets.size - 2)
    y0, y1, y2 = scores[kc - 1, cols], scores[kc, cols], scores[kc + 1, cols]
    curv = y0 - 2.0 * y1 + y2
    shift = np.where(inner & (curv < 0), 0.5 * (y0 - y2) / np.where(curv < 0, curv, -1.0), 0.0)
    cents = offsets[k] + np.clip(shift, -0.5, 0.5) * step_cents
    ok = (f0_hz > 0) & (scores[k, cols] > 0)
    return np.where(ok, f0_hz * 2.0 ** (cents / 1200.0), f0_hz)


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, stop) of every run of True in ``mask``."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _cleanup(
    voiced: npt.NDArray[np.bool_], has_cand: npt.NDArray[np.bool_], *, min_run: int, max_gap: int
) -> npt.NDArray[np.bool_]:
    out = voiced.copy()
    if max_gap > 0:
        unv = ~out
        for s, e in _runs(unv):
            if s > 0 and e < out.size and e - s <= max_gap and np.all(has_cand[s:e]):
                out[s:e] = True
    if min_run > 1:
        for s, e in _runs(out):
            if e - s < min_run:
                out[s:e] = False
    return out


# --------------------------------------------------------------------------- main API


def _dio_speed(rate_hz: float, f0_ceil_hz: float) -> int:
    """DIO's inner decimation: to about 3x the ceiling (on vocadito: 44.1 kHz, 1100 Hz -> 12,
    the same RPA, voicing and median error as no decimation, 5-10x faster; 16 kHz -> 4)."""
    return int(min(12, max(1, rate_hz // (3 * f0_ceil_hz))))


def _prepass(
    xn: npt.NDArray[np.float64],
    *,
    sample_rate_hz: int,
    hop_length: int,
    n_frames: int,
    f0_floor_hz: float,
    f0_ceil_hz: float,
    chunk_s: float,
) -> npt.NDArray[np.float64]:
    """DIO + StoneMask on a 16 kHz copy of normalised ``xn`` (0 = unvoiced), on the grid."""
    rate = _PREPASS_RATE_HZ if sample_rate_hz > _PREPASS_RATE_HZ else None
    ceil = max(min(f0_ceil_hz, (rate or sample_rate_hz) / 4 - 1.0), f0_floor_hz * 2)
    cand, voiced = _chunked(
        xn, method="dio", sample_rate_hz=sample_rate_hz, hop_length=hop_length, n_frames=n_frames,
        f0_floor_hz=f0_floor_hz, f0_ceil_hz=ceil, chunk_s=chunk_s, analysis_rate_hz=rate,
        dio_speed=_dio_speed(rate or sample_rate_hz, ceil),
    )  # fmt: skip
    return np.where(voiced, cand, 0.0)


def range_from_prepass(
    prepass_hz: npt.ArrayLike, *, frame_s: float, f0_floor_hz: float, f0_ceil_hz: float
) -> tuple[float, float]:
    """The search range a pre-pass track gives (see :func:`fit_search_range`).

    Parameters
    ----------
    prepass_hz
        :attr:`F0Track.prepass_f0_hz` (0 = unvoiced).
    frame_s
        Seconds per frame (``hop_length / sample_rate_hz``).
    f0_floor_hz, f0_ceil_hz
        The full range.

    Returns
    -------
    tuple of float
        ``(floor_hz, ceil_hz)``: the range the adaptive harvest searched.
    """
    prepass_hz = np.asarray(prepass_hz, dtype=np.float64)
    v = prepass_hz[(prepass_hz >= f0_floor_hz) & (prepass_hz <= f0_ceil_hz)]
    if v.size * frame_s < _PREPASS_MIN_VOICED_S or v.size < _PREPASS_MIN_VOICED_RATIO * prepass_hz.size:
        return float(f0_floor_hz), float(f0_ceil_hz)
    lo, hi = np.percentile(v, _PREPASS_PERCENTILES)
    if hi < lo * _PREPASS_MIN_SPREAD:
        return float(f0_floor_hz), float(f0_ceil_hz)
    return max(float(f0_floor_hz), float(lo) * _PREPASS_BELOW), min(
        float(f0_ceil_hz), float(hi) * _PREPASS_ABOVE
    )


def fit_search_range(
    y: npt.ArrayLike,
    *,
    sample_rate_hz: int,
    hop_length: int,
    f0_floor_hz: float = 50.0,
    f0_ceil_hz: float = 1100.0,
) -> tuple[float, float]:
    """The F0 search range ``search_range="adaptive"`` gives an item.

    A DIO + StoneMask pre-pass on a 16 kHz copy of ``y`` finds the voiced frames; the
    range runs from a fourth below their 2nd percentile to a fifth above their 98th,
    inside ``[f0_floor_hz, f0_ceil_hz]``, so it always spans more than an octave and a
    third. With under 0.25 s or 5 % of frames voiced, or a pre-pass steadier than a major
    third (mains hum, a steady tone), it is the full ``[f0_floor_hz, f0_ceil_hz]``.

    Parameters
    ----------
    y
        Mono 1-D finite audio.
    sample_rate_hz, hop_length
        Its rate and the frame grid of the pre-pass.
    f0_floor_hz, f0_ceil_hz
        The full range.

    Returns
    -------
    tuple of float
        ``(floor_hz, ceil_hz)``.
    """
    _check_params(
        sample_rate_hz=sample_rate_hz, hop_length=hop_length, n_frames=0, method="dio",
        f0_floor_hz=f0_floor_hz, f0_ceil_hz=f0_ceil_hz, voicing="native", voicing_threshold=0.5,
        voicing_min_db=-50.0, chunk_s=30.0,
    )  # fmt: skip
    x = _as_audio(y)
    xn = _normalised(x)
    if xn is None:
        return float(f0_floor_hz), float(f0_ceil_hz)
    n = x.size // int(hop_length) + 1
    pre = _prepass(
        xn, sample_rate_hz=int(sample_rate_hz), hop_length=int(hop_length), n_frames=n,
        f0_floor_hz=f0_floor_hz, f0_ceil_hz=f0_ceil_hz, chunk_s=30.0,
    )  # fmt: skip
    return range_from_prepass(
        pre, frame_s=hop_length / sample_rate_hz, f0_floor_hz=f0_floor_hz, f0_ceil_hz=f0_ceil_hz
    )


def extract_f0(
    y: npt.ArrayLike,
    *,
    sample_rate_hz: int,
    hop_length: int,
    n_frames: int,
    method: F0Method = "harvest",
    f0_floor_hz: float = 50.0,
    f0_ceil_hz: float = 1100.0,
    voicing: VoicingMode = "refined",
    voicing_threshold: float = 0.5,
    voicing_min_db: float = -50.0,
    chunk_s: float = 30.0,
    analysis_rate_hz: int | None = None,
    model_path: str | None = None,
    model_threshold: float | None = None,
    search_range: SearchRange = "fixed",
) -> F0Track:
    """Extract F0 on svcprep's frame grid.

    Parameters
    ----------
    y
        Mono 1-D audio (float32 in the pipeline; any real dtype is accepted). It must
        be finite. Any DC offset is ignored.
    sample_rate_hz
        Rate of ``y``.
    hop_length
        Samples between frame centres; frame ``i`` is at ``i * hop_length / sample_rate_hz`` s.
    n_frames
        Frames to return, from :func:`svcprep.dsp.frames.num_frames` (either
        convention). It must be within 3 of ``len(y) // hop_length + 1``.
    method
        ``"harvest"`` (pyworld, default), ``"dio"`` (pyworld DIO refined by
        StoneMask), ``"pyin"`` (librosa; analysed at about 16 kHz when the input rate
        is above 22.05 kHz), ``"praat"`` (Praat's autocorrelation method; needs the
        optional extra ``svcprep[praat]``) or ``"fcpe"`` (the FCPE network of the
        optional extra ``svcprep[fcpe]``, see :mod:`svcprep.dsp.fcpe`; run on the whole
        item, never chunked) or ``"rmvpe"`` (your own RMVPE model file, ``model_path``;
        see :mod:`svcprep.dsp.rmvpe`).
    f0_floor_hz, f0_ceil_hz
        Search range. Candidates outside it are clamped into it and marked unvoiced.
    voicing
        ``"refined"`` (periodicity + energy decision, see the module docstring) or
        ``"native"`` (the extractor's own decision).
    voicing_threshold
        Minimum periodicity (0-1) of a voiced frame (``"refined"`` only).
    voicing_min_db
        Frames whose low-band energy is more than this many dB below the item's
        loudest frame are unvoiced (``"refined"`` only).
    chunk_s
        Inputs longer than this many seconds are analysed in overlapping chunks of
        about this length (1 s of context on each side of a chunk's own frames).
    analysis_rate_hz
        Run ``harvest`` or ``dio`` on a copy resampled to this rate when it is below
        ``sample_rate_hz`` (None: at ``sample_rate_hz``). Frame times are unchanged;
        16000 makes dio at 44.1 kHz about twice as fast. Voicing is still decided on
        the input itself.
    model_path
        The RMVPE model file (``.pt`` or ``.onnx``) of ``method="rmvpe"``.
    model_threshold
        The network's voicing threshold on its peak salience (None: FCPE 0.006, RMVPE 0.03).
    search_range
        ``"fixed"`` searches ``[f0_floor_hz, f0_ceil_hz]``. ``"adaptive"`` (``harvest``
        only) first fits the item's own range with a 16 kHz DIO pre-pass (see
        :func:`fit_search_range`), then searches that: Harvest's cost grows with the
        octaves searched, so a voice spanning an octave and a half costs about half.
        The pre-pass is returned as :attr:`F0Track.prepass_f0_hz`.

    Returns
    -------
    F0Track
        ``f0_hz`` (candidate, 0 where none), ``voiced`` and ``periodicity``, each with
        exactly ``n_frames`` frames. Empty, too-short (under one period of
        ``f0_floor_hz``), silent (peak under 2**-24 after removing the mean) and
        constant inputs give an all-unvoiced track without calling the extractor.

    Raises
    ------
    ConfigError
        A parameter is out of range (e.g. ``f0_ceil_hz`` at or above Nyquist), or
        ``method="praat"`` without praat-parselmouth installed.
    NonFiniteAudioError
        ``y`` contains NaN or infinity.
    ValueError
        ``y`` is not 1-D, or ``n_frames`` does not fit its length.
    """
    _check_params(
        sample_rate_hz=sample_rate_hz, hop_length=hop_length, n_frames=n_frames, method=method,
        f0_floor_hz=f0_floor_hz, f0_ceil_hz=f0_ceil_hz, voicing=voicing,
        voicing_threshold=voicing_threshold, voicing_min_db=voicing_min_db, chunk_s=chunk_s,
    )  # fmt: skip
    if search_range not in _SEARCH_RANGES:
        raise ConfigError(f"search_range={search_range!r} is unknown: use 'fixed' or 'adaptive'")
    if search_range == "adaptive" and method != "harvest":
        raise ConfigError(
            f"search_range='adaptive' fits harvest's search range; method={method!r} searches the full "
            "range: use search_range='fixed'"
        )
    if analysis_rate_hz is not None and not (analysis_rate_hz >= 8000 and f0_ceil_hz < analysis_rate_hz / 4):
        raise ConfigError(
            f"analysis_rate_hz={analysis_rate_hz} is too low for f0_ceil_hz={f0_ceil_hz}: use at least "
            f"8000 Hz and more than 4 x f0_ceil_hz, or None to analyse at the input rate"
        )
    x = _as_audio(y)
    sr = int(sample_rate_hz)
    hop = int(hop_length)
    n_frames = int(n_frames)
    _check_frames(n_frames, x.size, hop)
    if method == "praat":
        try:
            import parselmouth  # noqa: F401
        except ImportError as err:
            raise ConfigError(
                "f0 method='praat' needs praat-parselmouth, which is not installed: "
                "pip install 'svcprep[praat]' (GPL-3), or choose method='harvest'"
            ) from err
    if method == "fcpe":
        from svcprep.dsp.fcpe import check_fcpe

        check_fcpe()
    if method == "rmvpe":
        from svcprep.dsp.rmvpe import check_rmvpe

        if model_path is None:
            raise ConfigError("f0 method='rmvpe' needs model_path: your rmvpe.pt or rmvpe.onnx")
        check_rmvpe(model_path)

    xn = _normalised(x)
    if n_frames == 0 or xn is None:
        return F0Track(
            f0_hz=np.zeros(n_frames, dtype=np.float32),
            voiced=np.zeros(n_frames, dtype=bool),
            periodicity=np.zeros(n_frames, dtype=np.float32),
            prepass_f0_hz=np.zeros(n_frames, dtype=np.float32) if search_range == "adaptive" else None,
            search_range_hz=(float(f0_floor_hz), float(f0_ceil_hz)),
        )

    prepass: npt.NDArray[np.float64] | None = None
    lo, hi = float(f0_floor_hz), float(f0_ceil_hz)
    if method == "fcpe":
        # the network sees the whole item at its own level: no chunks (its normalisation spans
        # the time axis), no rescaling
        cand = _fcpe(x, sample_rate_hz=sr, hop_length=hop, n_frames=n_frames, threshold=model_threshold)
        native_voiced = cand > 0
    elif method == "rmvpe":
        from svcprep.dsp.rmvpe import RMVPE_THRESHOLD, rmvpe_f0

        if model_path is None:
            raise ConfigError("f0 method='rmvpe' needs model_path: your rmvpe.pt or rmvpe.onnx")
        cand, native_voiced = rmvpe_f0(
            x.astype(np.float32), sample_rate_hz=sr, hop_length=hop, n_frames=n_frames, model_path=model_path,
            threshold=RMVPE_THRESHOLD if model_threshold is None else model_threshold,
        )  # fmt: skip
    else:
        if search_range == "adaptive":
            prepass = _prepass(
                xn, sample_rate_hz=sr, hop_length=hop, n_frames=n_frames, f0_floor_hz=f0_floor_hz,
                f0_ceil_hz=f0_ceil_hz, chunk_s=chunk_s,
            )  # fmt: skip
            # from the float32 track the F0Track holds: the quality stage derives the same range
            lo, hi = range_from_prepass(
                prepass.astype(np.float32), frame_s=hop / sr, f0_floor_hz=f0_floor_hz, f0_ceil_hz=f0_ceil_hz
            )
        world_rate = analysis_rate_hz if analysis_rate_hz is not None and analysis_rate_hz < sr else sr
        cand, native_voiced = _chunked(
            xn, method=method, sample_rate_hz=sr, hop_length=hop, n_frames=n_frames, f0_floor_hz=lo,
            f0_ceil_hz=hi, chunk_s=chunk_s, analysis_rate_hz=analysis_rate_hz,
            dio_speed=_dio_speed(world_rate, hi) if method == "dio" else 1,
        )  # fmt: skip
    if method == "pyin":
        # pYIN reports 10-cent bin centres: move each to the periodicity peak nearby.
        xa, rate = _analysis_signal(xn, sr)
        times = np.arange(n_frames, dtype=np.float64) * (hop / sr)
        cand = _refine_pitch(xa, rate_hz=rate, frame_times_s=times, f0_hz=cand)
    # Clamp into the search range; a candidate the extractor put outside it is not voiced.
    has = cand > 0
    in_range = (cand >= f0_floor_hz) & (cand <= f0_ceil_hz)
    native_voiced = native_voiced & has & in_range
    cand = np.where(has, np.clip(cand, f0_floor_hz, f0_ceil_hz), 0.0)

    voiced, per = _refine(
        xn, cand, native_voiced, sample_rate_hz=sr, hop_length=hop,
        voicing_threshold=voicing_threshold, voicing_min_db=voicing_min_db,
    )  # fmt: skip
    return F0Track(
        f0_hz=cand.astype(np.float32),
        voiced=native_voiced.copy() if voicing == "native" else voiced,
        periodicity=per.astype(np.float32),
        prepass_f0_hz=None if prepass is None else prepass.astype(np.float32),
        search_range_hz=(float(lo), float(hi)),
    )


def track_on_grid(
    f0_hz: npt.ArrayLike, *, frame_rate_hz: int, sample_rate_hz: int, hop_length: int, n_frames: int
) -> npt.NDArray[np.float64]:
    """Map a track with frame ``j`` at ``j / frame_rate_hz`` s onto svcprep's grid.

    Grid frame ``i`` is at ``i * hop_length / sample_rate_hz`` s; its position in source
    frames is computed in exact integers. Between two voiced source frames the value is
    interpolated linearly in log-F0 (exactly the source value where the times coincide);
    where either neighbour is unvoiced (0) the nearer frame's value is taken, the later one
    at exactly half way; grid times past the last source frame take its value.

    Parameters
    ----------
    f0_hz
        Source track in Hz, 0 = unvoiced.
    frame_rate_hz
        Source frames per second (FCPE and RMVPE: 100).
    sample_rate_hz, hop_length
        The grid.
    n_frames
        Frames of the grid.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_frames,)``, 0 = unvoiced.
    """
    src = np.asarray(f0_hz, dtype=np.float64)
    if n_frames <= 0:
        return np.zeros(0)
    if src.size == 0:
        return np.zeros(n_frames)
    sr = int(sample_rate_hz)
    num = np.arange(n_frames, dtype=np.int64) * (int(hop_length) * int(frame_rate_hz))
    j = num // sr
    frac = (num - j * sr) / float(sr)
    last = src.size - 1
    frac = np.where(j >= last, 0.0, frac)
    j = np.minimum(j, last)
    k = np.minimum(j + 1, last)
    a, b = src[j], src[k]
    both = (a > 0) & (b > 0)
    log_a = np.log(np.where(both, a, 1.0))
    log_b = np.log(np.where(both, b, 1.0))
    interp = np.where(frac == 0, a, np.exp(log_a + (log_b - log_a) * frac))
    nearest = np.where(frac < 0.5, a, b)
    return np.where(both, interp, nearest)


def resize_track(f0_hz: npt.ArrayLike, n_frames: int) -> npt.NDArray[np.float64]:
    """Linearly resize an F0 track to ``n_frames`` frames the way so-vits-svc 4.1 does.

    Target frame ``j`` reads the source at position ``j * len / n_frames``; frames whose
    interpolation touches an unvoiced source frame (F0 under 0.001 Hz) are unvoiced (0).
    """
    src = np.array(f0_hz, dtype=np.float64)
    if n_frames <= 0:
        return np.zeros(0)
    if src.size == 0:
        return np.zeros(n_frames)
    src[src < 0.001] = np.nan
    pos = np.arange(0, src.size * n_frames, src.size, dtype=np.float64)[:n_frames] / n_frames
    return np.nan_to_num(np.interp(pos, np.arange(src.size, dtype=np.float64), src))


def extract_f0_as(
    y: npt.ArrayLike,
    *,
    match: F0Match,
    sample_rate_hz: int,
    hop_length: int,
    n_frames: int,
    method: Literal["harvest", "dio"] = "harvest",
    f0_floor_hz: float = 50.0,
    f0_ceil_hz: float = 1100.0,
    voicing: VoicingMode = "native",
    voicing_threshold: float = 0.5,
    voicing_min_db: float = -50.0,
) -> F0Track:
    """Extract F0 exactly as a framework's own preprocessing does (its WORLD path).

    Parameters
    ----------
    y
        Mono 1-D audio at ``sample_rate_hz``: the samples the framework reads (for
        so-vits-svc, the 16-bit-rounded audio of its wavs).
    match
        ``"rvc"``: RVC's ``extract_f0_print.py``: the audio resampled to 16 kHz (the
        ``1_16k_wavs`` copy an export writes, with :func:`svcprep.dsp.resample.resample`),
        ``harvest``/``dio`` at 16 kHz with a 10 ms frame period, then StoneMask. The
        grid must be 10 ms (``hop_length * 100 == sample_rate_hz``). ``"sovits"``:
        so-vits-svc 4.1's ``HarvestF0Predictor``/``DioF0Predictor``: ``harvest``/``dio``
        at the input rate with a ``hop_length`` frame period, StoneMask, then
        :func:`resize_track` onto ``len(y) // hop_length`` frames.
    sample_rate_hz, hop_length
        The grid (frame ``i`` at ``i * hop_length / sample_rate_hz`` s).
    n_frames
        Frames to return (within 3 of ``len(y) // hop_length + 1``); the framework's own
        track is cut or padded with unvoiced frames to it.
    method
        ``"harvest"`` or ``"dio"``.
    f0_floor_hz, f0_ceil_hz
        The extractor's search range (both frameworks use 50-1100 Hz). Values are not
        clamped afterwards: StoneMask may move a frame slightly outside.
    voicing
        ``"native"`` (the framework's: a frame is voiced where its F0 is above 0) or
        ``"refined"`` (svcprep's periodicity decision on the framework's candidates).
    voicing_threshold, voicing_min_db
        As in :func:`extract_f0` (``"refined"`` only).

    Returns
    -------
    F0Track
        ``f0_hz`` (0 on unvoiced frames), ``voiced`` and ``periodicity``.

    Raises
    ------
    ConfigError
        An unknown ``match`` or ``method``, or a grid the framework does not use.
    NonFiniteAudioError
        ``y`` contains NaN or infinity.
    """
    if match not in ("rvc", "sovits"):
        raise ConfigError(f"f0 match={match!r} is unknown: use 'rvc' or 'sovits'")
    if method not in ("harvest", "dio"):
        raise ConfigError(
            f"f0 match={match!r} reproduces the WORLD extractors: use method 'harvest' or 'dio'"
        )
    _check_params(
        sample_rate_hz=sample_rate_hz, hop_length=hop_length, n_frames=n_frames, method=method,
        f0_floor_hz=f0_floor_hz, f0_ceil_hz=f0_ceil_hz, voicing=voicing,
        voicing_threshold=voicing_threshold, voicing_min_db=voicing_min_db, chunk_s=30.0,
    )  # fmt: skip
    sr, hop, n_frames = int(sample_rate_hz), int(hop_length), int(n_frames)
    if match == "rvc" and hop * 100 != sr:
        raise ConfigError(
            f"f0 match='rvc' needs RVC's 10 ms grid: hop_length={hop} at {sr} Hz is "
            f"{1000 * hop / sr:.3g} ms (use hop_length={sr // 100})"
        )
    x = _as_audio(y)
    _check_frames(n_frames, x.size, hop)
    pyworld = import_pyworld()
    if match == "rvc":
        from svcprep.dsp.resample import resample

        # the 16 kHz copy as the export writes it (float32 WAV), read back as RVC does
        xa = resample(x.astype(np.float32), orig_sr_hz=sr, target_sr_hz=RVC_F0_RATE_HZ).astype(np.float64)
        rate, period_ms = RVC_F0_RATE_HZ, 1000.0 * RVC_F0_HOP / RVC_F0_RATE_HZ
    else:
        xa, rate, period_ms = x, sr, 1000.0 * hop / sr
    xa = np.ascontiguousarray(xa)
    if xa.size < math.ceil(rate / f0_floor_hz) or not np.any(xa):
        track = np.zeros(0)
    else:
        extract = pyworld.harvest if method == "harvest" else pyworld.dio
        raw, t = extract(xa, rate, f0_floor=f0_floor_hz, f0_ceil=f0_ceil_hz, frame_period=period_ms)
        track = np.asarray(pyworld.stonemask(xa, raw, t, rate), dtype=np.float64)
    if match == "sovits":
        track = resize_track(track, x.size // hop)
    cand = np.zeros(n_frames)
    m = min(n_frames, track.size)
    cand[:m] = track[:m]
    cand = np.where(np.isfinite(cand) & (cand > 0), cand, 0.0)
    native = cand > 0
    xn = _normalised(x)
    if xn is None:
        return F0Track(
            f0_hz=cand.astype(np.float32),
            voiced=native,
            periodicity=np.zeros(n_frames, dtype=np.float32),
        )
    voiced, per = _refine(
        xn, cand, native, sample_rate_hz=sr, hop_length=hop,
        voicing_threshold=voicing_threshold, voicing_min_db=voicing_min_db,
    )  # fmt: skip
    return F0Track(
        f0_hz=cand.astype(np.float32),
        voiced=native.copy() if voicing == "native" else voiced,
        periodicity=per.astype(np.float32),
    )


def _normalised(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
    """``x`` without its mean, scaled to peak 1; None when nothing is left.

    Nothing is left of empty input, digital silence, DC, and input whose peak (after
    removing the mean) is below 2**-24, i.e. under the last bit of 24-bit audio: no
    recording holds a measurable voice there.
    """
    if x.size == 0:
        return None
    x = x - np.mean(x)
    peak = float(np.max(np.abs(x)))
    if peak < _SILENT_PEAK:
        return None
    # F0 does not depend on level; scaling keeps very quiet input well inside pyworld's range.
    return x / peak


def _refine(
    x: npt.NDArray[np.float64],
    cand: npt.NDArray[np.float64],
    native_voiced: npt.NDArray[np.bool_],
    *,
    sample_rate_hz: int,
    hop_length: int,
    voicing_threshold: float,
    voicing_min_db: float,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """The refined voiced mask and the periodicity of normalised audio ``x``."""
    sr, hop = sample_rate_hz, hop_length
    xa, rate = _analysis_signal(x, sr)
    times = np.arange(cand.size, dtype=np.float64) * (hop / sr)
    per, energy = _periodicity(xa, rate_hz=rate, frame_times_s=times, f0_hz=cand)
    emax = float(np.max(energy)) if energy.size else 0.0
    if emax <= 0.0:
        return np.zeros(cand.size, dtype=bool), per
    with np.errstate(divide="ignore"):
        level_db = 10.0 * np.log10(energy / emax)
    loud = level_db >= voicing_min_db
    # Refinement only removes frames from the extractor's own decision (then fills short
    # gaps): Praat's and pYIN's native decisions are already selective, and adding frames
    # back raised their false alarms on real singing.
    decided = native_voiced & loud & (per >= voicing_threshold)
    min_run = max(1, round(_MIN_VOICED_RUN_S * sr / hop))
    max_gap = round(_MAX_GAP_S * sr / hop)
    return _cleanup(decided, (cand > 0) & loud, min_run=min_run, max_gap=max_gap), per


def refine_voicing(
    y: npt.ArrayLike,
    f0_hz: npt.ArrayLike,
    native_voiced: npt.ArrayLike,
    *,
    sample_rate_hz: int,
    hop_length: int,
    voicing_threshold: float = 0.5,
    voicing_min_db: float = -50.0,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32]]:
    """Re-decide voicing of an existing F0 track from periodicity and energy.

    This is the ``voicing="refined"`` step of :func:`extract_f0` on its own, so that a
    track computed with ``voicing="native"`` (or cached) can be re-decided with another
    threshold without running the extractor again.

    Parameters
    ----------
    y
        The audio the track was extracted from (mono, 1-D, finite).
    f0_hz
        F0 candidate per frame (0 = none), on the grid ``i * hop_length / sample_rate_hz``.
    native_voiced
        The extractor's voiced mask, same length. Frames outside it stay unvoiced,
        apart from short gaps (under 20 ms) inside voiced runs.
    sample_rate_hz, hop_length
        The grid.
    voicing_threshold
        Minimum periodicity (0-1) of a voiced frame.
    voicing_min_db
        Frames more than this many dB below the item's loudest frame are unvoiced.

    Returns
    -------
    tuple of numpy.ndarray
        ``(voiced, periodicity)``: bool and float32 arrays of the track's length.
    """
    _check_params(
        sample_rate_hz=sample_rate_hz, hop_length=hop_length, n_frames=0, method="harvest",
        f0_floor_hz=1.0, f0_ceil_hz=2.0, voicing="refined", voicing_threshold=voicing_threshold,
        voicing_min_db=voicing_min_db, chunk_s=1.0,
    )  # fmt: skip
    x = _as_audio(y)
    cand = np.asarray(f0_hz, dtype=np.float64)
    nv = np.asarray(native_voiced)
    if cand.ndim != 1 or nv.shape != cand.shape:
        raise ValueError(f"f0_hz {cand.shape} and native_voiced {nv.shape} must be 1-D and equal in length")
    if cand.size and not np.all(np.isfinite(cand)):
        raise ValueError("f0_hz contains NaN or infinity; mark frames without a candidate with 0")
    _check_frames(cand.size, x.size, hop_length)
    cand = np.where(cand > 0, cand, 0.0)
    xn = _normalised(x)
    if xn is None or cand.size == 0:
        return np.zeros(cand.size, dtype=bool), np.zeros(cand.size, dtype=np.float32)
    voiced, per = _refine(
        xn, cand, nv.astype(bool) & (cand > 0), sample_rate_hz=int(sample_rate_hz),
        hop_length=int(hop_length), voicing_threshold=voicing_threshold, voicing_min_db=voicing_min_db,
    )  # fmt: skip
    return voiced, per.astype(np.float32)


def _check_frames(n_frames: int, n_samples: int, hop_length: int) -> None:
    expected = n_samples // hop_length + 1
    if abs(n_frames - expected) > 3:
        raise ValueError(
            f"n_frames={n_frames} does not fit {n_samples} samples at hop_length={hop_length} "
            f"(expected about {expected}); compute it with svcprep.dsp.frames.num_frames"
        )


def _chunked(
    x: npt.NDArray[np.float64],
    *,
    method: str,
    sample_rate_hz: int,
    hop_length: int,
    n_frames: int,
    f0_floor_hz: float,
    f0_ceil_hz: float,
    chunk_s: float,
    analysis_rate_hz: int | None = None,
    dio_speed: int = 1,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Run the extractor over grid-aligned overlapping chunks and stitch the frames."""
    sr, hop = sample_rate_hz, hop_length
    kw = {"method": method, "sample_rate_hz": sr, "hop_length": hop, "f0_floor_hz": f0_floor_hz,
          "f0_ceil_hz": f0_ceil_hz, "analysis_rate_hz": analysis_rate_hz, "dio_speed": dio_speed}  # fmt: skip
    chunk_frames = max(1, round(chunk_s * sr / hop))
    if x.size <= chunk_frames * hop:
        return _native(x, n_frames=n_frames, **kw)  # type: ignore[arg-type]
    ctx_frames = max(1, math.ceil(min(_CHUNK_CONTEXT_S, chunk_s / 4) * sr / hop))
    core_frames = max(1, chunk_frames - 2 * ctx_frames)
    cand = np.zeros(n_frames)
    voiced = np.zeros(n_frames, dtype=bool)
    for g0 in range(0, n_frames, core_frames):
        g1 = min(n_frames, g0 + core_frames)
        a_frame = max(0, g0 - ctx_frames)
        s0 = a_frame * hop
        s1 = min(x.size, (g1 + ctx_frames) * hop)
        seg = x[s0:s1]
        local_n = seg.size // hop + 1
        c, v = _native(seg, n_frames=local_n, **kw)  # type: ignore[arg-type]
        lo, hi = g0 - a_frame, g1 - a_frame
        take = min(hi, local_n) - lo
        if take > 0:
            cand[g0 : g0 + take] = c[lo : lo + take]
            voiced[g0 : g0 + take] = v[lo : lo + take]
    return cand, voiced


def fill_unvoiced(
    f0_hz: npt.ArrayLike, voiced: npt.ArrayLike, *, mode: UnvoicedFill
) -> npt.NDArray[np.float32]:
    """The F0 track with unvoiced frames filled for a model input.

    Parameters
    ----------
    f0_hz
        F0 per frame in Hz (values on unvoiced frames are ignored).
    voiced
        Voiced mask per frame; frames with ``voiced`` and ``f0_hz > 0`` are the anchors.
    mode
        ``"interpolate_hz"``: linear interpolation between anchors in Hz;
        ``"interpolate_log"``: linear in log F0 (straight lines in cents);
        ``"zero"``: 0 on every unvoiced frame. Before the first and after the last
        anchor the nearest anchor's value is held. Without any anchor the result is
        all zeros.

    Returns
    -------
    numpy.ndarray
        float32, same length; anchors keep their value exactly.
    """
    if mode not in _FILLS:
        raise ConfigError(f"unvoiced fill mode={mode!r} is unknown: use one of {', '.join(_FILLS)}")
    f0 = np.asarray(f0_hz, dtype=np.float64)
    v = np.asarray(voiced)
    if f0.ndim != 1 or v.shape != f0.shape:
        raise ValueError(f"f0_hz {f0.shape} and voiced {v.shape} must be 1-D arrays of the same length")
    if v.dtype != np.bool_:
        raise ValueError(f"voiced must be a boolean mask, got dtype {v.dtype}")
    anchor = v & np.isfinite(f0) & (f0 > 0)
    if mode == "zero" or not np.any(anchor):
        return np.where(anchor, f0, 0.0).astype(np.float32)
    idx = np.flatnonzero(anchor)
    grid = np.arange(f0.size, dtype=np.float64)
    if mode == "interpolate_hz":
        out = np.interp(grid, idx, f0[idx])
    else:
        out = np.exp(np.interp(grid, idx, np.log(f0[idx])))
    out[idx] = f0[idx]
    return out.astype(np.float32)


def coarse_f0(
    f0_hz: npt.ArrayLike,
    voiced: npt.ArrayLike | None = None,
    *,
    f0_min_hz: float = 50.0,
    f0_max_hz: float = 1100.0,
    n_bins: int = 256,
) -> npt.NDArray[np.int32]:
    """RVC's coarse (quantised mel) F0: integers 1..n_bins-1, 1 = unvoiced.

    ``mel = 1127 ln(1 + f0/700)`` is mapped linearly from ``mel(f0_min_hz)`` ->
    1 to ``mel(f0_max_hz)`` -> ``n_bins - 1``, clipped to that range and rounded with
    :func:`numpy.rint` (half to even), exactly as RVC does.

    Parameters
    ----------
    f0_hz
        F0 per frame in Hz.
    voiced
        Optional mask; frames where it is False are coded 1 whatever their F0.
    f0_min_hz, f0_max_hz
        Ends of the scale (RVC: 50 and 1100).
    n_bins
        Number of codes including the unused 0 (RVC: 256).

    Returns
    -------
    numpy.ndarray
        int32 codes, same length.
    """
    if not (math.isfinite(f0_min_hz) and math.isfinite(f0_max_hz) and 0 < f0_min_hz < f0_max_hz):
        raise ConfigError(f"coarse F0 range {f0_min_hz}..{f0_max_hz} Hz must be positive and increasing")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 3:
        raise ConfigError(f"n_bins={n_bins!r} must be an integer of at least 3")
    f0 = np.asarray(f0_hz, dtype=np.float64)
    if f0.size and not np.all(np.isfinite(f0)):
        raise ValueError("f0_hz contains NaN or infinity; mark unvoiced frames with 0 instead")
    mask = f0 > 0
    if voiced is not None:
        v = np.asarray(voiced)
        if v.shape != f0.shape:
            raise ValueError(f"voiced {v.shape} must have the shape of f0_hz {f0.shape}")
        mask &= v.astype(bool)
    mel_min = 1127.0 * math.log1p(f0_min_hz / 700.0)
    mel_max = 1127.0 * math.log1p(f0_max_hz / 700.0)
    mel = 1127.0 * np.log1p(np.where(mask, f0, 0.0) / 700.0)
    scaled = (mel - mel_min) * (n_bins - 2) / (mel_max - mel_min) + 1.0
    scaled = np.clip(np.where(mask, scaled, 1.0), 1.0, n_bins - 1.0)
    return np.rint(scaled).astype(np.int32)


def compare_f0(
    est_times_s: npt.ArrayLike,
    est_f0_hz: npt.ArrayLike,
    est_voiced: npt.ArrayLike,
    ref_times_s: npt.ArrayLike,
    ref_f0_hz: npt.ArrayLike,
    *,
    cents: float = 50.0,
) -> dict[str, float]:
    """Score an estimated F0 track against a reference (mir_eval's melody measures).

    The estimate is sampled at each reference time from its nearest frame; reference
    times more than half an estimate step outside the estimate's span count as
    unvoiced with no candidate.

    Parameters
    ----------
    est_times_s, est_f0_hz, est_voiced
        Estimate: increasing frame times, F0 candidate (0 = none; the candidate is used
        for pitch accuracy even on frames called unvoiced) and the voiced mask.
    ref_times_s, ref_f0_hz
        Reference: increasing times and F0 (0 = unvoiced).
    cents
        Tolerance of the pitch accuracy.

    Returns
    -------
    dict
        ``raw_pitch_accuracy`` (share of reference-voiced frames whose candidate is
        within ``cents``), ``voicing_recall`` (share of reference-voiced frames called
        voiced), ``voicing_false_alarm`` (share of reference-unvoiced frames called
        voiced), ``median_abs_cents`` (over frames voiced in both), and the counts
        ``n_ref_voiced``, ``n_ref_unvoiced``, ``n_both_voiced``. A share with an empty
        denominator is 0.0 (mir_eval's convention); ``median_abs_cents`` is NaN when
        no frame is voiced in both.
    """
    et = np.asarray(est_times_s, dtype=np.float64)
    ef = np.asarray(est_f0_hz, dtype=np.float64)
    ev = np.asarray(est_voiced).astype(bool)
    rt = np.asarray(ref_times_s, dtype=np.float64)
    rf = np.asarray(ref_f0_hz, dtype=np.float64)
    if not (et.ndim == ef.ndim == ev.ndim == 1 and et.shape == ef.shape == ev.shape):
        raise ValueError(
            f"estimate arrays must be 1-D and equal in length: {et.shape}, {ef.shape}, {ev.shape}"
        )
    if not (rt.ndim == rf.ndim == 1 and rt.shape == rf.shape):
        raise ValueError(f"reference arrays must be 1-D and equal in length: {rt.shape}, {rf.shape}")
    for name, arr in (("est_times_s", et), ("est_f0_hz", ef), ("ref_times_s", rt), ("ref_f0_hz", rf)):
        if arr.size and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
    for name, arr in (("est_times_s", et), ("ref_times_s", rt)):
        if arr.size > 1 and np.any(np.diff(arr) <= 0):
            raise ValueError(f"{name} must be strictly increasing")
    if not (math.isfinite(cents) and cents > 0):
        raise ValueError(f"cents={cents} must be positive")

    ref_v = rf > 0
    if et.size == 0:
        cand = np.zeros(rt.size)
        vo = np.zeros(rt.size, dtype=bool)
    else:
        step = float(np.median(np.diff(et))) if et.size > 1 else 0.0
        j = np.clip(np.searchsorted(et, rt), 1, max(1, et.size - 1))
        if et.size == 1:
            near = np.zeros(rt.size, dtype=np.int64)
        else:
            near = np.where(np.abs(rt - et[j - 1]) <= np.abs(et[j] - rt), j - 1, j)
        inside = (rt >= et[0] - step / 2) & (rt <= et[-1] + step / 2)
        cand = np.where(inside, ef[near], 0.0)
        vo = inside & ev[near] & (cand > 0)

    n_rv = int(np.count_nonzero(ref_v))
    n_ru = int(ref_v.size - n_rv)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(1200.0 * np.log2(np.where((cand > 0) & ref_v, cand, 1.0) / np.where(ref_v, rf, 1.0)))
    good = ref_v & (cand > 0) & (err <= cents)
    both = ref_v & vo
    return {
        "raw_pitch_accuracy": float(np.count_nonzero(good) / n_rv) if n_rv else 0.0,
        "voicing_recall": float(np.count_nonzero(both) / n_rv) if n_rv else 0.0,
        "voicing_false_alarm": float(np.count_nonzero(vo & ~ref_v) / n_ru) if n_ru else 0.0,
        "median_abs_cents": float(np.median(err[both])) if np.any(both) else float("nan"),
        "n_ref_voiced": float(n_rv),
        "n_ref_unvoiced": float(n_ru),
        "n_both_voiced": float(np.count_nonzero(both)),
    }


def read_f0_csv(path: str | os.PathLike[str]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Read an F0 truth file in the shared-data format.

    The file has a ``time_s,f0_hz`` header and one row per frame: the frame centre in
    seconds (strictly increasing) and F0 in Hz, 0 = unvoiced.

    Parameters
    ----------
    path
        The ``.f0.csv`` file.

    Returns
    -------
    tuple of numpy.ndarray
        ``(times_s, f0_hz)``, float64.

    Raises
    ------
    ValueError
        The header, a row, or the time order is not as described (the message names
        the file and line).
    """
    times: list[float] = []
    f0s: list[float] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["time_s", "f0_hz"]:
            raise ValueError(f"{path}: expected the header 'time_s,f0_hz', found {header!r}")
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{reader.line_num}: expected 2 columns, found {len(row)}")
            try:
                t, f = float(row[0]), float(row[1])
            except ValueError as err:
                raise ValueError(f"{path}:{reader.line_num}: not a number in {row!r}") from err
            if not (math.isfinite(t) and math.isfinite(f)) or f < 0:
                raise ValueError(
                    f"{path}:{reader.line_num}: time and F0 must be finite and F0 >= 0, got {row!r}"
                )
            times.append(t)
            f0s.append(f)
    ta = np.asarray(times, dtype=np.float64)
    fa = np.asarray(f0s, dtype=np.float64)
    if ta.size > 1 and np.any(np.diff(ta) <= 0):
        k = int(np.flatnonzero(np.diff(ta) <= 0)[0])
        raise ValueError(f"{path}: times must be strictly increasing (row {k + 2} -> {k + 3})")
    return ta, fa
