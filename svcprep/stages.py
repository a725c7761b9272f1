"""Pipeline stages: each one a name, a declared version, the libraries its numbers depend on,
the output-affecting part of the config, and a thin adapter over :mod:`svcprep.dsp`.

Bump a stage's ``version`` whenever its output changes for the same input and config;
the version is part of every cache key downstream of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from svcprep.config import BuildConfig, output_config
from svcprep.dsp.frames import num_frames

__all__ = [
    "STAGES",
    "Stage",
    "Variant",
    "run_augment",
    "run_denoise",
    "run_f0",
    "run_loudness",
    "run_mel",
    "run_volume",
    "stage_config",
    "validate_item",
    "variants",
]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Stage:
    """Identity of a stage in cache keys."""

    name: str
    version: int
    libraries: tuple[str, ...]


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("load", 1, ("numpy", "soundfile", "libsndfile", "soxr")),
        Stage("slice", 1, ("numpy",)),
        Stage("loudness", 1, ("numpy", "scipy", "soxr")),
        Stage("denoise", 1, ("numpy", "scipy", "noisereduce")),
        Stage("augment", 1, ("numpy", "pyworld", "librosa")),
        Stage("f0", 1, ("numpy", "scipy", "pyworld", "librosa", "soxr")),
        Stage("mel", 1, ("numpy", "librosa")),
        Stage("volume", 1, ("numpy",)),
        Stage("validate", 1, ("numpy",)),
        Stage("quality", 1, ("numpy", "scipy", "pyworld")),
    )
}


def stage_config(cfg: BuildConfig, name: str) -> dict[str, Any]:
    """The part of ``cfg`` that changes the output of stage ``name`` (what enters its key)."""
    grid = {"sample_rate_hz": cfg.load.sample_rate_hz, **output_config(cfg.features)}
    if name == "load":
        return output_config(cfg.load)
    if name == "slice":
        return output_config(cfg.slice)
    if name == "loudness":
        return output_config(cfg.loudness)
    if name == "denoise":
        return output_config(cfg.denoise)
    if name == "augment":
        return {
            "pitch_method": cfg.augment.pitch_method,
            "f0_floor_hz": cfg.f0.f0_floor_hz,
            "f0_ceil_hz": cfg.f0.f0_ceil_hz,
        }
    if name == "f0":
        data = output_config(cfg.f0)
        if data.get("analysis_sample_rate_hz") is None:  # unset: keys stay those of earlier releases
            data.pop("analysis_sample_rate_hz", None)
        if data["method"] == "praat":
            data["_praat"] = _praat_version()
        return {**grid, **data}
    if name == "mel":
        return {**grid, **output_config(cfg.mel)}
    if name == "volume":
        return {**grid, **output_config(cfg.volume)}
    if name == "quality":
        return {
            **grid,
            "f0_floor_hz": cfg.f0.f0_floor_hz,
            "f0_ceil_hz": cfg.f0.f0_ceil_hz,
            "second_f0": second_f0_method(cfg),
        }
    if name == "validate":
        return {
            **grid,
            "f0_floor_hz": cfg.f0.f0_floor_hz,
            "f0_ceil_hz": cfg.f0.f0_ceil_hz,
            "enabled": cfg.validate_.enabled,
        }
    raise KeyError(name)


def _praat_version() -> str:
    from svcprep.store.keys import library_versions

    return library_versions(["praat-parselmouth"])["praat-parselmouth"]


def item_frames(n_samples: int, cfg: BuildConfig) -> int:
    """Frames of an item of ``n_samples`` samples on the configured grid."""
    return num_frames(n_samples, hop_length=cfg.features.hop_length, convention=cfg.features.frame_count)


# --- per-item audio stages -------------------------------------------------------------


def run_loudness(y: FloatArray, cfg: BuildConfig) -> tuple[FloatArray, dict[str, float]]:
    """Loudness or peak normalisation as configured; returns the audio and ``{"gain_db": ...}``."""
    from svcprep.dsp import loudness

    lc = cfg.loudness
    sr = cfg.load.sample_rate_hz
    if lc.mode == "peak":
        out, gain = loudness.normalize_peak(y, peak_dbfs=lc.peak_dbfs)
    elif lc.mode == "loudness":
        out, gain = loudness.normalize_loudness(
            y, sample_rate_hz=sr, target_lufs=lc.target_lufs, peak_dbfs=lc.peak_dbfs
        )
    else:
        return y, {}
    return np.asarray(out, dtype=np.float32), {"gain_db": float(gain)}


def run_denoise(y: FloatArray, cfg: BuildConfig) -> FloatArray:
    """High-pass and spectral gating as configured."""
    from svcprep.dsp.denoise import denoise

    d = cfg.denoise
    out = denoise(
        y,
        sample_rate_hz=cfg.load.sample_rate_hz,
        highpass_hz=d.highpass_hz,
        highpass_order=d.highpass_order,
        spectral_gating=d.spectral_gating,
        stationary=d.stationary,
        strength=d.strength,
        n_std_thresh=d.n_std_thresh,
    )
    return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class Variant:
    """One augmentation variant of an item."""

    kind: str  # "pitch" or "stretch"
    value: float

    @property
    def suffix(self) -> str:
        """Suffix of the variant's item id (``~pitch+2``, ``~stretch0.9``)."""
        return f"~pitch{self.value:+g}" if self.kind == "pitch" else f"~stretch{self.value:g}"

    def describe(self) -> dict[str, float]:
        """The variant as recorded in the manifest."""
        key = "pitch_shift_semitones" if self.kind == "pitch" else "time_stretch_rate"
        return {key: self.value}


def variants(cfg: BuildConfig) -> list[Variant]:
    """The variants asked for by the augment config (empty when it is off)."""
    a = cfg.augment
    if not a.enabled:
        return []
    out = [Variant("pitch", float(s)) for s in a.pitch_shift_semitones]
    out += [Variant("stretch", float(r)) for r in a.time_stretch_rates]
    return out


def run_augment(y: FloatArray, variant: Variant, cfg: BuildConfig) -> FloatArray:
    """Make one variant of an item's audio."""
    from svcprep.dsp import augment

    sr = cfg.load.sample_rate_hz
    method = cfg.augment.pitch_method
    if variant.kind == "pitch":
        out = augment.pitch_shift(
            y,
            sample_rate_hz=sr,
            semitones=variant.value,
            method=method,
            f0_floor_hz=cfg.f0.f0_floor_hz,
            f0_ceil_hz=cfg.f0.f0_ceil_hz,
        )
    else:
        out = augment.time_stretch(
            y,
            sample_rate_hz=sr,
            rate=variant.value,
            method=method,
            f0_floor_hz=cfg.f0.f0_floor_hz,
            f0_ceil_hz=cfg.f0.f0_ceil_hz,
        )
    return np.asarray(out, dtype=np.float32)


# --- feature stages --------------------------------------------------------------------


def run_f0(y: FloatArray, cfg: BuildConfig) -> dict[str, npt.NDArray[Any]]:
    """F0 (filled as configured), voiced mask, coarse F0 and the raw F0 candidate, on the grid."""
    from svcprep.dsp import f0 as f0mod

    fc = cfg.f0
    n = item_frames(y.size, cfg)
    track = f0mod.extract_f0(
        y,
        sample_rate_hz=cfg.load.sample_rate_hz,
        hop_length=cfg.features.hop_length,
        n_frames=n,
        method=fc.method,
        f0_floor_hz=fc.f0_floor_hz,
        f0_ceil_hz=fc.f0_ceil_hz,
        voicing=fc.voicing,
        voicing_threshold=fc.voicing_threshold,
        voicing_min_db=fc.voicing_min_db,
        chunk_s=fc.chunk_s,
        analysis_rate_hz=fc.analysis_sample_rate_hz,
    )
    voiced = np.asarray(track.voiced, dtype=bool)
    raw = np.where(voiced, track.f0_hz, 0.0).astype(np.float32)
    filled = f0mod.fill_unvoiced(raw, voiced, mode=fc.unvoiced)
    coarse = f0mod.coarse_f0(raw, voiced, f0_min_hz=fc.coarse_f0_min_hz, f0_max_hz=fc.coarse_f0_max_hz)
    return {
        "f0": np.asarray(filled, dtype=np.float32),
        "uv": voiced.astype(np.uint8),
        "coarse_f0": np.asarray(coarse).astype(np.uint8),
        "f0_raw": raw,
        "periodicity": np.asarray(track.periodicity, dtype=np.float32),
    }


def run_mel(y: FloatArray, cfg: BuildConfig) -> npt.NDArray[np.float32]:
    """Log-mel spectrogram (frames x mels) on the grid."""
    from svcprep.dsp.mel import log_mel

    m = cfg.mel
    out = log_mel(
        y,
        sample_rate_hz=cfg.load.sample_rate_hz,
        n_fft=m.n_fft,
        hop_length=cfg.features.hop_length,
        win_length=m.win_length,
        n_mels=m.n_mels,
        fmin_hz=m.fmin_hz,
        fmax_hz=m.fmax_hz,
        padding=m.padding,
        pad_mode=m.pad_mode,
        magnitude_eps=m.magnitude_eps,
        log_floor=m.log_floor,
        log_base=m.log_base,
        mel_scale=m.mel_scale,
        mel_norm=m.mel_norm,
        n_frames=item_frames(y.size, cfg),
    )
    return np.asarray(out, dtype=np.float32)


def run_volume(y: FloatArray, cfg: BuildConfig) -> npt.NDArray[np.float32]:
    """Frame RMS on the grid."""
    from svcprep.dsp.volume import frame_rms

    out = frame_rms(
        y,
        hop_length=cfg.features.hop_length,
        n_frames=item_frames(y.size, cfg),
        window_length=cfg.volume.window_length,
    )
    return np.asarray(out, dtype=np.float32)


# --- validation ------------------------------------------------------------------------


def _db(x: float) -> float:
    return float(20.0 * np.log10(max(x, 1e-10)))


def item_metrics(y: FloatArray, feats: dict[str, npt.NDArray[Any]], cfg: BuildConfig) -> dict[str, float]:
    """Basic per-item measurements recorded in the manifest."""
    yy = np.asarray(y, dtype=np.float64)
    peak = float(np.max(np.abs(yy))) if yy.size else 0.0
    rms = float(np.sqrt(np.mean(yy * yy))) if yy.size else 0.0
    uv = np.asarray(feats["uv"], dtype=bool)
    raw = np.asarray(feats["f0_raw"], dtype=np.float64)
    m: dict[str, float] = {
        "peak_dbfs": round(_db(peak), 3),
        "rms_dbfs": round(_db(rms), 3),
        "voiced_ratio": round(float(uv.mean()) if uv.size else 0.0, 4),
    }
    if uv.any():
        v = raw[uv]
        p5, p50, p95 = np.percentile(v, [5, 50, 95])
        m.update(
            f0_p5_hz=round(float(p5), 2), f0_median_hz=round(float(p50), 2), f0_p95_hz=round(float(p95), 2)
        )
    return m


def validate_item(
    y: FloatArray, feats: dict[str, npt.NDArray[Any]], cfg: BuildConfig
) -> tuple[list[str], str | None]:
    """Check an item's arrays; returns (flags, error). An error fails the item.

    Checks: every array finite; ``f0``, ``uv``, ``coarse_f0``, ``mel`` and ``volume``
    all have the grid's frame count; ``mel`` has ``n_mels`` columns; F0 on voiced frames
    inside [f0_floor_hz, f0_ceil_hz] (1 % tolerance).
    """
    flags: list[str] = []
    problems: list[str] = []
    if not cfg.validate_.enabled:
        return flags, None
    n = item_frames(y.size, cfg)
    if not np.all(np.isfinite(y)):
        problems.append(f"audio has {int(np.sum(~np.isfinite(y)))} non-finite samples")
        flags.append("non_finite")
    counts = {k: int(np.shape(feats[k])[0]) for k in ("f0", "uv", "coarse_f0", "mel", "volume")}
    bad = {k: c for k, c in counts.items() if c != n}
    if bad:
        flags.append("frame_mismatch")
        problems.append(f"frame counts {bad} differ from the grid's {n}")
    if np.ndim(feats["mel"]) != 2 or np.shape(feats["mel"])[1] != cfg.mel.n_mels:
        flags.append("frame_mismatch")
        problems.append(f"mel has shape {np.shape(feats['mel'])}, expected (frames, {cfg.mel.n_mels})")
    nonfinite = {k: int(np.sum(~np.isfinite(feats[k]))) for k in ("f0", "mel", "volume")}
    nonfinite = {k: v for k, v in nonfinite.items() if v}
    if nonfinite:
        flags.append("nan_features")
        problems.append(f"non-finite values in {nonfinite}")
    uv = np.asarray(feats["uv"], dtype=bool)
    raw = np.asarray(feats["f0_raw"], dtype=np.float64)
    if uv.shape == raw.shape and uv.any():
        v = raw[uv]
        lo, hi = cfg.f0.f0_floor_hz * 0.99, cfg.f0.f0_ceil_hz * 1.01
        out = int(np.sum((v < lo) | (v > hi)))
        if out:
            flags.append("f0_out_of_range")
            problems.append(
                f"{out} voiced frames with F0 outside [{cfg.f0.f0_floor_hz}, {cfg.f0.f0_ceil_hz}] Hz"
            )
    error = (
        "; ".join(problems)
        if problems and ({"frame_mismatch", "nan_features", "non_finite"} & set(flags))
        else None
    )
    return sorted(set(flags)), error


# --- quality ---------------------------------------------------------------------------


def second_f0_method(cfg: BuildConfig) -> Literal["dio"] | None:
    """A cheap second extractor whose disagreement with the first marks unstable F0 (None: none)."""
    return None if cfg.f0.method == "dio" else "dio"


def f0_histogram(f0_hz: npt.NDArray[Any], voiced: npt.NDArray[Any]) -> list[int]:
    """Voiced frames per MIDI note 0..127 (a compact pitch distribution for speaker summaries)."""
    v = np.asarray(f0_hz, dtype=np.float64)[np.asarray(voiced, dtype=bool)]
    v = v[v > 0]
    notes = np.clip(np.rint(69 + 12 * np.log2(v / 440.0)), 0, 127).astype(np.int64)
    return [int(c) for c in np.bincount(notes, minlength=128)]


def run_quality(
    y: FloatArray, f0: dict[str, npt.NDArray[Any]], cfg: BuildConfig
) -> tuple[dict[str, float], dict[str, Any]]:
    """Quality metrics and the duplicate fingerprint of one item's recorded audio.

    ``y`` is the segment as recorded (before loudness and denoise, so hiss and clipping are
    measured as they are in the data); ``f0`` holds the F0 stage's arrays.
    """
    from svcprep.quality.duplicates import fingerprint
    from svcprep.quality.metrics import item_metrics as quality_metrics

    sr = cfg.load.sample_rate_hz
    hop = cfg.features.hop_length
    second = None
    method = second_f0_method(cfg)
    if method is not None and y.size:
        from svcprep.dsp.f0 import extract_f0

        track = extract_f0(
            y,
            sample_rate_hz=sr,
            hop_length=hop,
            n_frames=int(f0["f0_raw"].size),
            method=method,
            f0_floor_hz=cfg.f0.f0_floor_hz,
            f0_ceil_hz=cfg.f0.f0_ceil_hz,
            voicing="native",
        )
        second = np.where(track.voiced, track.f0_hz, 0.0)
    metrics = quality_metrics(
        y,
        sample_rate_hz=sr,
        f0_hz=f0["f0_raw"],
        voiced=f0["uv"].astype(bool),
        periodicity=f0.get("periodicity"),
        hop_length=hop,
        f0_floor_hz=cfg.f0.f0_floor_hz,
        f0_ceil_hz=cfg.f0.f0_ceil_hz,
        second_f0_hz=second,
    )
    clean = {k: round(float(v), 6) for k, v in metrics.items() if np.isfinite(v)}
    fp = fingerprint(y, sample_rate_hz=sr).to_dict()
    return clean, {"fingerprint": fp, "f0_hist": f0_histogram(f0["f0_raw"], f0["uv"])}
