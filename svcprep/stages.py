"""The stage registry: one declaration per stage, and thin adapters over :mod:`svcprep.dsp`.

Each :class:`Stage` says, once, everything the rest of svcprep needs to know about it:
its name and declared version, the config section and fields that change its output,
its upstream stages, the arrays it produces (name, dtype, sample- or frame-level), the
frame grid it computes on, and the libraries whose numbers it depends on. Cache keys
(:meth:`Stage.key`), the shard layout (:func:`shard_layout`), the reader, validation
(:func:`validate_item`) and the build summary all derive from :data:`STAGES`.

Adding a frame-level feature is one :class:`Stage` entry in :data:`STAGES` whose
``compute`` maps ``(audio, cfg, n_frames)`` to its arrays: the pipeline computes and
caches it for every item and variant, validation checks its frame counts and finiteness,
shards store it and ``svcprep.open`` reads it.

Bump a stage's ``version`` whenever its output changes for the same input and config;
the version is part of every cache key downstream of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from svcprep.config import BuildConfig, output_config
from svcprep.dsp.frames import num_frames
from svcprep.store.keys import stage_key

__all__ = [
    "DATASET_SECTIONS",
    "FEATURE_STAGES",
    "GRID_FIELDS",
    "STAGES",
    "ArraySpec",
    "ShardLayout",
    "Stage",
    "Variant",
    "f0_cents_histogram",
    "feature_stages",
    "feature_view",
    "legacy_layout",
    "run_augment",
    "run_denoise",
    "run_f0",
    "run_loudness",
    "run_mel",
    "run_quantize",
    "run_units",
    "run_volume",
    "shard_layout",
    "stage_config",
    "validate_item",
    "variants",
]

FloatArray = npt.NDArray[np.float32]

#: The frame grid: every frame-level stage's key holds these (``load.sample_rate_hz``,
#: ``features.hop_length``, ``features.frame_count``).
GRID_FIELDS: tuple[str, ...] = ("load.sample_rate_hz", "features.hop_length", "features.frame_count")

#: Config sections applied to the whole dataset after every item is computed (flags,
#: splits): they change the manifest, never a cached object, so they enter no stage key.
DATASET_SECTIONS: tuple[str, ...] = ("quality", "split")


@dataclass(frozen=True)
class ArraySpec:
    """One array a stage produces for an item.

    Attributes
    ----------
    name
        The array's name in cache objects, shards and ``ds[i]``.
    dtype
        numpy dtype name (``"float32"``, ``"uint8"``).
    level
        ``"sample"`` (one value per audio sample), ``"frame"`` (one row per frame of the
        grid) or ``"unit"`` (one row per frame of the content encoder, 20 ms).
    columns
        Dotted config path of the second dimension (``"mel.n_mels"``), or a function of the
        config giving it (the encoder's width), None for 1-D.
    stored
        False for arrays kept in the cache only (inputs of other stages), never in shards.
    """

    name: str
    dtype: str
    level: Literal["sample", "frame", "unit"]
    columns: str | Callable[[BuildConfig], int] | None = None
    stored: bool = True

    def width(self, cfg: BuildConfig) -> int:
        """Columns per row (1 for a 1-D array)."""
        if self.columns is None:
            return 1
        if callable(self.columns):
            return int(self.columns(cfg))
        return int(_get(cfg, self.columns))

    def row_bytes(self, cfg: BuildConfig) -> int:
        """Bytes per sample or frame."""
        return np.dtype(self.dtype).itemsize * self.width(cfg)


@dataclass(frozen=True)
class Stage:
    """Declaration of one pipeline stage.

    Attributes
    ----------
    name, version
        Identity in cache keys; bump ``version`` when the output changes.
    scope
        ``"source"`` (once per input file) or ``"item"`` (per segment and variant).
    section
        Config section whose output-affecting fields (see :func:`svcprep.config.output_config`)
        enter the key, or None.
    fields
        Further dotted config paths that enter the key (the grid, shared F0 limits ...).
    upstream
        The stages whose output this stage reads.
    arrays
        What it produces per item.
    libraries
        Distributions whose numbers it depends on (their versions enter the key); a test
        fails when its code calls a numeric library not listed here.
    grid
        ``"item"``: frame arrays have the item's frame count. ``"centered"``: computed on the
        ``n // hop + 1`` grid whatever ``features.frame_count`` is and cut to the item's
        count when read, so one cached result serves both conventions.
    omit_defaults
        Section fields left out of the key while they hold their default, so caches of
        releases that did not key them stay valid.
    selects
        Fields that decide which outputs exist rather than what one holds (the list of
        augmentation variants): each output's own parameter enters its key.
    replaced
        Section fields whose value enters the key through ``key_extra`` instead (a model
        file's path: its digest), so moving the file keeps the cache.
    extra_libraries
        Libraries used only in some configurations (librosa's numba kernels for
        ``f0.method = "pyin"``); added to ``libraries`` for those.
    key_extra
        Computed values that enter the key (e.g. the Praat version).
    enabled
        Whether the stage runs for a config (a disabled audio stage passes audio through).
    compute
        For frame-level feature stages: ``(audio, cfg, n_frames) -> {array name: array}``.
    finish
        Optional: ``(arrays, n_frames, cfg) -> arrays`` applied after cutting a
        ``"centered"`` result to the item's frame count.
    """

    name: str
    version: int
    scope: Literal["source", "item"]
    section: str | None = None
    fields: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    arrays: tuple[ArraySpec, ...] = ()
    libraries: tuple[str, ...] = ("numpy",)
    grid: Literal["item", "centered"] = "item"
    omit_defaults: tuple[str, ...] = ()
    selects: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    extra_libraries: Callable[[BuildConfig], tuple[str, ...]] | None = None
    key_extra: Callable[[BuildConfig], dict[str, Any]] | None = None
    enabled: Callable[[BuildConfig], bool] = field(default=lambda cfg: True)
    compute: Callable[[FloatArray, BuildConfig, int], dict[str, npt.NDArray[Any]]] | None = None
    finish: Callable[[dict[str, npt.NDArray[Any]], int, BuildConfig], dict[str, npt.NDArray[Any]]] | None = (
        None
    )

    def config(self, cfg: BuildConfig) -> dict[str, Any]:
        """The part of ``cfg`` that changes this stage's output (what enters its key)."""
        data: dict[str, Any] = {}
        for path in self.fields:
            name = path.rsplit(".", 1)[-1]
            data[name] = _get(cfg, path)
        if self.grid == "centered" and "frame_count" in data:
            data["frame_count"] = "centered"  # one result serves both conventions
        if self.section is not None:
            section = _section(cfg, self.section)
            values = output_config(section)
            for name in self.omit_defaults:
                default = type(section).model_fields[name].get_default(call_default_factory=True)
                if values.get(name) == default:
                    values.pop(name, None)
            for name in self.replaced:
                values.pop(name, None)
            data.update(values)
        if self.key_extra is not None:
            data.update(self.key_extra(cfg))
        return data

    def config_paths(self, cfg: BuildConfig) -> set[str]:
        """Dotted paths of every config field that enters this stage's key."""
        out = set(self.fields) | set(self.selects)
        if self.section is not None:
            section = _section(cfg, self.section)
            out |= {f"{self.section}.{k}" for k in output_config(section)}
            out |= {f"{self.section}.{k}" for k in self.omit_defaults}
        return out

    def key(self, cfg: BuildConfig, upstream: str, extra: Mapping[str, Any] | None = None) -> str:
        """Cache key of this stage applied to the object named ``upstream``."""
        conf = self.config(cfg)
        if extra:
            conf = {**conf, **extra}
        return stage_key(
            self.name, version=self.version, config=conf, upstream=upstream, libraries=self.libraries_for(cfg)
        )

    def libraries_for(self, cfg: BuildConfig) -> tuple[str, ...]:
        """The libraries whose numbers this stage's output depends on under ``cfg``."""
        extra = self.extra_libraries(cfg) if self.extra_libraries is not None else ()
        return tuple(dict.fromkeys((*self.libraries, *extra)))

    def frames(self, n_samples: int, cfg: BuildConfig) -> int:
        """Frames this stage computes for an item of ``n_samples`` samples."""
        convention = "centered" if self.grid == "centered" else cfg.features.frame_count
        return num_frames(n_samples, hop_length=cfg.features.hop_length, convention=convention)

    @property
    def stored_arrays(self) -> tuple[ArraySpec, ...]:
        """The arrays that go into shards and the reader."""
        return tuple(a for a in self.arrays if a.stored)


def _section(cfg: BuildConfig, name: str) -> BaseModel:
    section = getattr(cfg, "validate_" if name == "validate" else name)
    if not isinstance(section, BaseModel):
        raise KeyError(f"{name} is not a config section")
    return section


def _get(cfg: BuildConfig, path: str) -> Any:
    section, _, name = path.partition(".")
    return getattr(_section(cfg, section), name)


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


def run_quantize(y: FloatArray) -> FloatArray:
    """Round audio to the 16-bit grid (``features.sample_format = "pcm16"``).

    The result holds exactly the values a PCM_16 WAV of it holds when read back as
    float (``k / 32768``), so features computed on it are the features of the exported
    file. Samples beyond full scale saturate as a PCM_16 writer does.
    """
    q = np.clip(np.round(np.asarray(y, dtype=np.float64) * 32768.0), -32768.0, 32767.0)
    return (q / 32768.0).astype(np.float32)


# --- feature stages --------------------------------------------------------------------


def run_f0(y: FloatArray, cfg: BuildConfig, n_frames: int | None = None) -> dict[str, npt.NDArray[Any]]:
    """F0 (filled as configured), voiced mask, coarse F0, the raw candidate and periodicity.

    ``n_frames`` defaults to the item's grid (:func:`item_frames`); the build passes the
    centered grid's count (see :attr:`Stage.grid`).
    """
    from svcprep.dsp import f0 as f0mod

    fc = cfg.f0
    n = item_frames(y.size, cfg) if n_frames is None else n_frames
    if fc.match != "none":
        track = f0mod.extract_f0_as(
            y,
            match=fc.match,
            sample_rate_hz=cfg.load.sample_rate_hz,
            hop_length=cfg.features.hop_length,
            n_frames=n,
            method="dio" if fc.method == "dio" else "harvest",
            f0_floor_hz=fc.f0_floor_hz,
            f0_ceil_hz=fc.f0_ceil_hz,
            voicing=fc.voicing,
            voicing_threshold=fc.voicing_threshold,
            voicing_min_db=fc.voicing_min_db,
        )
    else:
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
            model_path=fc.model_path,
            model_threshold=fc.model_threshold,
            search_range="adaptive" if fits_f0_range(cfg) else "fixed",
        )
    voiced = np.asarray(track.voiced, dtype=bool)
    raw = np.where(voiced, track.f0_hz, 0.0).astype(np.float32)
    return {
        "f0": _filled(raw, voiced, cfg),
        "uv": voiced.astype(np.uint8),
        "coarse_f0": np.asarray(
            f0mod.coarse_f0(raw, voiced, f0_min_hz=fc.coarse_f0_min_hz, f0_max_hz=fc.coarse_f0_max_hz)
        ).astype(np.uint8),
        "f0_raw": raw,
        "periodicity": np.asarray(track.periodicity, dtype=np.float32),
        **(
            {} if track.prepass_f0_hz is None else {"f0_prepass": np.asarray(track.prepass_f0_hz, np.float32)}
        ),
    }


def _filled(raw: npt.NDArray[Any], voiced: npt.NDArray[Any], cfg: BuildConfig) -> npt.NDArray[np.float32]:
    from svcprep.dsp.f0 import fill_unvoiced

    return np.asarray(fill_unvoiced(raw, np.asarray(voiced, dtype=bool), mode=cfg.f0.unvoiced), np.float32)


def _finish_f0(
    arrays: dict[str, npt.NDArray[Any]], n_frames: int, cfg: BuildConfig
) -> dict[str, npt.NDArray[Any]]:
    # the filled track near the end depends on the frames after it: fill again once cut
    return {**arrays, "f0": _filled(arrays["f0_raw"], arrays["uv"], cfg)}


def run_mel(
    y: FloatArray, cfg: BuildConfig, n_frames: int | None = None, *, keyshift_semitones: float = 0.0
) -> npt.NDArray[np.float32]:
    """Log-mel spectrogram (frames x mels) on the grid (key-shifted for augmentation when asked)."""
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
        n_frames=item_frames(y.size, cfg) if n_frames is None else n_frames,
        keyshift_semitones=keyshift_semitones,
    )
    return np.asarray(out, dtype=np.float32)


def run_volume(y: FloatArray, cfg: BuildConfig, n_frames: int | None = None) -> npt.NDArray[np.float32]:
    """Frame RMS on the grid."""
    from svcprep.dsp.volume import frame_rms

    out = frame_rms(
        y,
        hop_length=cfg.features.hop_length,
        n_frames=item_frames(y.size, cfg) if n_frames is None else n_frames,
        window_length=cfg.volume.window_length,
    )
    return np.asarray(out, dtype=np.float32)


def run_units(y: FloatArray, cfg: BuildConfig) -> npt.NDArray[np.float32]:
    """Content units ``(unit frames, dims)`` of the item's 16 kHz audio (``content.encoder``)."""
    from svcprep.dsp.resample import resample
    from svcprep.export.content import cached_encoder, encode

    spec = cfg.content.encoder
    if spec is None:
        raise ValueError("run_units needs content.encoder")
    y16 = resample(y, orig_sr_hz=cfg.load.sample_rate_hz, target_sr_hz=16000)
    return encode(cached_encoder(spec), y16)


def _units_dims(cfg: BuildConfig) -> int:
    from svcprep.export.content import encoder_dims

    assert cfg.content.encoder is not None
    return encoder_dims(cfg.content.encoder)


def _units_key_extra(cfg: BuildConfig) -> dict[str, Any]:
    from svcprep.export.content import encoder_identity

    assert cfg.content.encoder is not None
    return {"_encoder": encoder_identity(cfg.content.encoder)}


def _units_libraries(cfg: BuildConfig) -> tuple[str, ...]:
    from svcprep.encoders import is_builtin_spec

    spec = cfg.content.encoder or ""
    if is_builtin_spec(spec):
        return ("torch", "transformers")
    return ("onnxruntime",) if spec.lower().endswith(".onnx") else ()


# --- the registry ----------------------------------------------------------------------


def _f0_key_extra(cfg: BuildConfig) -> dict[str, Any]:
    if cfg.f0.method == "praat":
        return {"_praat": _praat_version()}
    if cfg.f0.method == "fcpe":
        from svcprep.dsp.fcpe import fcpe_runtime

        # a GPU's kernels and onnxruntime's round differently from torch's CPU ones: keep apart
        return {"_runtime": fcpe_runtime()}
    if cfg.f0.method == "rmvpe":
        from svcprep.dsp.rmvpe import rmvpe_model_digest

        assert cfg.f0.model_path is not None
        # the model's content, not where the file lies
        return {"_model": rmvpe_model_digest(cfg.f0.model_path)}
    return {}


def _f0_extra_libraries(cfg: BuildConfig) -> tuple[str, ...]:
    if cfg.f0.method == "pyin":
        return ("numba",)
    if cfg.f0.method == "fcpe":
        from svcprep.dsp.fcpe import fcpe_runtime

        return ("torch", "torchfcpe") + (("onnxruntime",) if fcpe_runtime() == "onnxruntime" else ())
    if cfg.f0.method == "rmvpe":
        path = cfg.f0.model_path or ""
        return ("onnxruntime",) if path.lower().endswith(".onnx") else ("torch",)
    return ()


def _quality_key_extra(cfg: BuildConfig) -> dict[str, Any]:
    return {"second_f0": second_f0_method(cfg)}


_F0_LIMITS = ("f0.f0_floor_hz", "f0.f0_ceil_hz")

#: Every stage, in pipeline order.
STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "load",
            2,
            "source",
            section="load",
            arrays=(ArraySpec("audio", "float32", "sample"),),
            libraries=("numpy", "soundfile", "libsndfile", "soxr"),
        ),
        Stage("slice", 1, "source", section="slice", upstream=("load",)),
        Stage(
            "loudness",
            2,
            "item",
            section="loudness",
            upstream=("slice",),
            arrays=(ArraySpec("audio", "float32", "sample"),),
            libraries=("numpy", "soxr"),
            enabled=lambda cfg: cfg.loudness.mode != "off",
        ),
        Stage(
            "denoise",
            3,
            "item",
            section="denoise",
            upstream=("loudness",),
            arrays=(ArraySpec("audio", "float32", "sample"),),
            libraries=("numpy", "scipy", "noisereduce"),
            enabled=lambda cfg: cfg.denoise.enabled,
        ),
        Stage(
            "augment",
            1,
            "item",
            fields=("augment.pitch_method", *_F0_LIMITS),
            selects=("augment.enabled", "augment.pitch_shift_semitones", "augment.time_stretch_rates"),
            upstream=("denoise",),
            arrays=(ArraySpec("audio", "float32", "sample"),),
            libraries=("numpy", "scipy", "pyworld", "librosa", "soxr"),
            extra_libraries=lambda cfg: ("numba",) if cfg.augment.pitch_method == "phase_vocoder" else (),
            enabled=lambda cfg: bool(variants(cfg)),
        ),
        Stage(
            "quantize",
            1,
            "item",
            fields=("features.sample_format",),
            upstream=("augment",),
            arrays=(ArraySpec("audio", "float32", "sample"),),
            enabled=lambda cfg: cfg.features.sample_format == "pcm16",
        ),
        Stage(
            "f0",
            3,
            "item",
            section="f0",
            fields=GRID_FIELDS,
            upstream=("quantize",),
            arrays=(
                ArraySpec("f0", "float32", "frame"),
                ArraySpec("uv", "uint8", "frame"),
                ArraySpec("coarse_f0", "uint8", "frame"),
                ArraySpec("f0_raw", "float32", "frame", stored=False),
                ArraySpec("periodicity", "float32", "frame", stored=False),
                ArraySpec("f0_prepass", "float32", "frame", stored=False),
            ),
            libraries=("numpy", "scipy", "pyworld", "librosa", "soxr"),
            extra_libraries=_f0_extra_libraries,
            grid="centered",
            omit_defaults=("analysis_sample_rate_hz", "chunk_s", "match", "model_path", "model_threshold"),
            replaced=("model_path",),
            key_extra=_f0_key_extra,
            compute=lambda y, cfg, n: run_f0(y, cfg, n),
            finish=_finish_f0,
        ),
        Stage(
            "mel",
            2,
            "item",
            section="mel",
            fields=GRID_FIELDS,
            upstream=("quantize",),
            arrays=(ArraySpec("mel", "float32", "frame", columns="mel.n_mels"),),
            libraries=("numpy",),
            compute=lambda y, cfg, n: {"mel": run_mel(y, cfg, n)},
        ),
        Stage(
            "volume",
            1,
            "item",
            section="volume",
            fields=GRID_FIELDS,
            upstream=("quantize",),
            arrays=(ArraySpec("volume", "float32", "frame"),),
            grid="centered",
            compute=lambda y, cfg, n: {"volume": run_volume(y, cfg, n)},
        ),
        Stage(
            "units",
            1,
            "item",
            fields=("load.sample_rate_hz",),
            # the spec names files: the key holds the model's digest and layer instead (key_extra)
            selects=("content.encoder",),
            upstream=("quantize",),
            arrays=(ArraySpec("units", "float32", "unit", columns=_units_dims),),
            libraries=("numpy", "soxr"),
            extra_libraries=_units_libraries,
            key_extra=_units_key_extra,
            enabled=lambda cfg: cfg.content.encoder is not None,
            compute=lambda y, cfg, n: {"units": run_units(y, cfg)},
        ),
        Stage(
            "validate",
            2,
            "item",
            section="validate",
            fields=(*GRID_FIELDS, *_F0_LIMITS),
            upstream=("quantize", "f0", "mel", "volume"),
        ),
        Stage(
            "quality",
            9,
            "item",
            fields=(*GRID_FIELDS, *_F0_LIMITS),
            upstream=("slice", "f0"),
            libraries=("numpy", "soxr", "xxhash"),
            grid="centered",
            key_extra=_quality_key_extra,
        ),
    )
}

#: The feature stages, computed on every item and variant's audio (where enabled).
FEATURE_STAGES: tuple[Stage, ...] = tuple(s for s in STAGES.values() if s.compute is not None)


def feature_stages(cfg: BuildConfig) -> tuple[Stage, ...]:
    """The feature stages a config runs (``units`` only with ``content.encoder``)."""
    return tuple(s for s in FEATURE_STAGES if s.enabled(cfg))


def stage_config(cfg: BuildConfig, name: str) -> dict[str, Any]:
    """The part of ``cfg`` that changes the output of stage ``name`` (what enters its key)."""
    return STAGES[name].config(cfg)


def feature_view(
    stage: Stage, arrays: Mapping[str, npt.NDArray[Any]], n_frames: int, cfg: BuildConfig
) -> dict[str, npt.NDArray[Any]]:
    """A feature stage's cached arrays on the item's grid (cut to ``n_frames`` when needed)."""
    out = dict(arrays)
    if stage.grid == "centered":
        have = {int(np.shape(out[a.name])[0]) for a in stage.arrays if a.level == "frame" and a.name in out}
        if have and have != {n_frames}:
            for a in stage.arrays:
                if a.level == "frame" and a.name in out:
                    out[a.name] = out[a.name][:n_frames]
            if stage.finish is not None:
                out = stage.finish(out, n_frames, cfg)
    return out


@dataclass(frozen=True)
class ShardLayout:
    """The arrays a shard holds: from the registry, per config (mel's width)."""

    arrays: tuple[tuple[str, str, str, int], ...]  # (name, dtype, level, columns; 0 = 1-D)

    def names(self) -> tuple[str, ...]:
        """Array names, audio first."""
        return tuple(a[0] for a in self.arrays)

    def width(self, name: str) -> int:
        """Columns of one array (0 for a 1-D array)."""
        for a in self.arrays:
            if a[0] == name:
                return a[3]
        raise KeyError(name)

    def to_json(self) -> list[dict[str, Any]]:
        """As recorded in a version and a shard's index."""
        return [{"name": n, "dtype": d, "level": lv, "width": w} for n, d, lv, w in self.arrays]

    @classmethod
    def from_json(cls, data: list[Mapping[str, Any]]) -> ShardLayout:
        """Inverse of :meth:`to_json`."""
        return cls(tuple((str(a["name"]), str(a["dtype"]), str(a["level"]), int(a["width"])) for a in data))


def shard_layout(cfg: BuildConfig) -> ShardLayout:
    """The stored arrays of every item: the audio, then each feature stage's stored arrays."""
    rows = [("audio", "float32", "sample", 0)]
    for st in feature_stages(cfg):
        rows += [(a.name, a.dtype, a.level, a.width(cfg) if a.columns else 0) for a in st.stored_arrays]
    return ShardLayout(tuple(rows))


def legacy_layout(n_mels: int) -> ShardLayout:
    """The layout of datasets written before versions recorded their layout."""
    return ShardLayout(
        (
            ("audio", "float32", "sample", 0),
            ("f0", "float32", "frame", 0),
            ("uv", "uint8", "frame", 0),
            ("coarse_f0", "uint8", "frame", 0),
            ("mel", "float32", "frame", int(n_mels)),
            ("volume", "float32", "frame", 0),
        )
    )


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


#: Width of the bins of :func:`f0_cents_histogram` (the speaker summary's pitch range).
F0_CENTS_BIN = 10


def f0_cents_histogram(f0_hz: npt.NDArray[Any], voiced: npt.NDArray[Any]) -> dict[str, int]:
    """Voiced frames per 10-cent bin (bin ``b`` is centred at ``b * 10`` cents above 10 Hz), sparse."""
    v = np.asarray(f0_hz, dtype=np.float64)[np.asarray(voiced, dtype=bool)]
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return {}
    bins = np.rint(1200.0 * np.log2(v / 10.0) / F0_CENTS_BIN).astype(np.int64)
    idx, counts = np.unique(bins, return_counts=True)
    return {str(int(i)): int(c) for i, c in zip(idx, counts, strict=True)}


def validate_item(
    y: FloatArray, feats: dict[str, npt.NDArray[Any]], cfg: BuildConfig
) -> tuple[list[str], str | None]:
    """Check an item's arrays; returns (flags, error). An error fails the item.

    Checks, for every array of every feature stage in :data:`STAGES`: frame-level arrays
    have the grid's frame count and their declared width, floating-point arrays are
    finite; the audio is finite; F0 on voiced frames lies inside [f0_floor_hz,
    f0_ceil_hz] (1 % tolerance, a semitone with ``f0.match``; ``f0_out_of_range``, which
    does not fail the item).
    """
    flags: list[str] = []
    problems: list[str] = []
    if not cfg.validate_.enabled:
        return flags, None
    n = item_frames(y.size, cfg)
    if not np.all(np.isfinite(y)):
        problems.append(f"audio has {int(np.sum(~np.isfinite(y)))} non-finite samples")
        flags.append("non_finite")
    bad: dict[str, Any] = {}
    nonfinite: dict[str, int] = {}
    for st in feature_stages(cfg):
        for spec in st.stored_arrays:
            a = feats.get(spec.name)
            if a is None:
                bad[spec.name] = "missing"
                continue
            shape = np.shape(a)
            rows = shape[0] if spec.level == "unit" and shape else n  # units keep the encoder's rate
            want = (rows,) if spec.columns is None else (rows, spec.width(cfg))
            if shape != want or (spec.level == "unit" and rows == 0):
                bad[spec.name] = f"shape {shape}, expected {want}"
            if np.issubdtype(np.asarray(a).dtype, np.floating):
                k = int(np.sum(~np.isfinite(a)))
                if k:
                    nonfinite[spec.name] = k
    if bad:
        flags.append("frame_mismatch")
        problems.append(f"arrays off the grid of {n} frames: {bad}")
    if nonfinite:
        flags.append("nan_features")
        problems.append(f"non-finite values in {nonfinite}")
    uv = np.asarray(feats["uv"], dtype=bool)
    raw = np.asarray(feats["f0_raw"], dtype=np.float64)
    if uv.shape == raw.shape and uv.any():
        v = raw[uv]
        # f0.match keeps the framework's unclamped StoneMask values, which may leave the
        # search range by a few percent: allow a semitone there, 1 % otherwise.
        semitone = 2.0 ** (1.0 / 12.0)
        lo, hi = cfg.f0.f0_floor_hz * 0.99, cfg.f0.f0_ceil_hz * 1.01
        if cfg.f0.match != "none":
            lo, hi = cfg.f0.f0_floor_hz / semitone, cfg.f0.f0_ceil_hz * semitone
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


def fits_f0_range(cfg: BuildConfig) -> bool:
    """Whether the F0 stage fits each item's harvest range with its 16 kHz DIO pre-pass."""
    fc = cfg.f0
    return fc.method == "harvest" and fc.search_range == "adaptive" and fc.match == "none"


def second_f0_method(cfg: BuildConfig) -> Literal["dio16k"] | None:
    """The second F0 track the quality stage compares with the first (None: none).

    It is the F0 stage's own 16 kHz DIO pre-pass (``f0_prepass``) of an adaptive-range
    harvest build: free, since that pass fits harvest's range. Other builds have none (a
    second full-rate extractor cost 9 % of a build for a metric no flag reads).
    """
    return "dio16k" if fits_f0_range(cfg) else None


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
    from svcprep.quality.defects import voice_profile
    from svcprep.quality.duplicates import f0_contour, fingerprint
    from svcprep.quality.metrics import item_metrics as quality_metrics

    sr = cfg.load.sample_rate_hz
    hop = cfg.features.hop_length
    second = f0.get("f0_prepass") if second_f0_method(cfg) else None
    floor, ceil = cfg.f0.f0_floor_hz, cfg.f0.f0_ceil_hz
    if second is not None:
        from svcprep.dsp.f0 import range_from_prepass

        # "at the limits" means at the limits harvest searched: the item's fitted range
        floor, ceil = range_from_prepass(second, frame_s=hop / sr, f0_floor_hz=floor, f0_ceil_hz=ceil)
    metrics = quality_metrics(
        y,
        sample_rate_hz=sr,
        f0_hz=f0["f0_raw"],
        voiced=f0["uv"].astype(bool),
        periodicity=f0.get("periodicity"),
        hop_length=hop,
        f0_floor_hz=floor,
        f0_ceil_hz=ceil,
        second_f0_hz=second,
    )
    clean = {k: round(float(v), 6) for k, v in metrics.items() if np.isfinite(v)}
    fp = fingerprint(y, sample_rate_hz=sr).to_dict()
    voiced = f0["uv"].astype(bool)
    profile = voice_profile(y, sample_rate_hz=sr, f0_hz=f0["f0_raw"], voiced=voiced, hop_length=hop)
    return clean, {
        "fingerprint": fp,
        "f0_hist": f0_histogram(f0["f0_raw"], f0["uv"]),
        "profile": profile,
        "contour": f0_contour(f0["f0_raw"], voiced, frame_s=hop / sr),
    }
