"""Build configuration: one frozen pydantic model per stage, TOML loading and overrides.

Every model is frozen and forbids unknown fields, so a typo in a TOML file or a
``--set`` override fails before any work with a message that names the field, the
value and what is allowed. Units are part of the field names (``_hz``, ``_s``,
``_db``, ``_lufs``).

Fields that do not change any output (block sizes, shard sizes) are marked with
``json_schema_extra={"affects_output": False}`` and are left out of cache keys by
:func:`output_config`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import tomli_w
import tomllib
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from svcprep._strict import StrictScalars
from svcprep.errors import ConfigError
from svcprep.quality.flags import QualityConfig, parse_flag_names

__all__ = [
    "AugmentConfig",
    "BuildConfig",
    "ContentConfig",
    "DenoiseConfig",
    "F0Config",
    "FeaturesConfig",
    "LoadConfig",
    "LoudnessConfig",
    "MelConfig",
    "QualityConfig",
    "SliceConfig",
    "SplitConfig",
    "StoreConfig",
    "ValidateConfig",
    "VolumeConfig",
    "apply_overrides",
    "config_to_toml",
    "load_config",
    "output_config",
]

SCHEMA_VERSION: Literal[1] = 1
M = TypeVar("M", bound=BaseModel)


def _no_key(**kwargs: Any) -> Any:
    """A field that does not affect any output and so never enters a cache key."""
    return Field(json_schema_extra={"affects_output": False}, **kwargs)


class _Frozen(StrictScalars):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False)


class LoadConfig(_Frozen):
    """Decoding, downmix and resampling (stage ``load``)."""

    sample_rate_hz: int = Field(44100, ge=8000, le=192000, description="Rate of every item in the dataset.")
    resample_quality: Literal["VHQ", "HQ", "MQ", "LQ"] = Field("VHQ", description="soxr quality recipe.")
    min_source_sample_rate_hz: int = Field(
        8000, ge=1, description="Inputs recorded below this rate are rejected as unusable."
    )
    max_source_sample_rate_hz: int = Field(
        384000, ge=8000, description="Inputs above this rate are rejected."
    )
    cancellation_ratio: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Flag `channel_cancellation` when the mono downmix keeps less than this share of "
        "the channels' mean RMS (left ~ -right).",
    )
    block_frames: int = _no_key(default=1 << 20, ge=4096, le=1 << 24, description="Frames decoded per block.")

    @model_validator(mode="after")
    def _rates(self) -> LoadConfig:
        lo, hi = self.min_source_sample_rate_hz, self.max_source_sample_rate_hz
        if lo > hi:
            raise ValueError(
                f"load.min_source_sample_rate_hz={lo} is above load.max_source_sample_rate_hz={hi}, so "
                "every input would be rejected: lower the minimum or raise the maximum"
            )
        return self


class SliceConfig(_Frozen):
    """Cutting long recordings into training segments at silences (stage ``slice``)."""

    enabled: bool = Field(True, description="Off for datasets that are already cut: one item per file.")
    min_segment_s: float = Field(2.0, gt=0.0, description="Shortest segment kept.")
    max_segment_s: float = Field(15.0, gt=0.0, description="Longest segment; longer stretches are cut.")
    silence_top_db: float = Field(
        40.0, gt=0.0, le=120.0, description="Frames this far below the loudest frame count as silence."
    )
    min_silence_s: float = Field(0.3, ge=0.0, le=3600.0, description="Shorter pauses never split a segment.")
    margin_s: float = Field(
        0.2, ge=0.0, le=60.0, description="Silence kept at each edge so breaths are not cut away."
    )
    frame_s: float = Field(0.02, gt=0.0, le=0.2, description="Analysis window for the level envelope.")
    hop_s: float = Field(0.01, gt=0.0, le=0.1, description="Analysis hop for the level envelope.")

    @model_validator(mode="after")
    def _bounds(self) -> SliceConfig:
        if self.min_segment_s >= self.max_segment_s:
            raise ValueError(
                f"slice.min_segment_s={self.min_segment_s} must be below slice.max_segment_s="
                f"{self.max_segment_s}: lower min_segment_s or raise max_segment_s"
            )
        if self.hop_s > self.frame_s:
            raise ValueError(f"slice.hop_s={self.hop_s} must not exceed slice.frame_s={self.frame_s}")
        return self


class LoudnessConfig(_Frozen):
    """Optional level normalisation per item (stage ``loudness``). Off by default."""

    mode: Literal["off", "peak", "loudness"] = Field(
        "off", description="`peak`: scale to peak_dbfs; `loudness`: to target_lufs (ITU-R BS.1770)."
    )
    target_lufs: float = Field(-20.0, ge=-70.0, le=0.0)
    peak_dbfs: float = Field(
        -1.0, ge=-60.0, le=0.0, description="Peak target (`peak`) or ceiling (`loudness`)."
    )


class DenoiseConfig(_Frozen):
    """High-pass filter and spectral gating (stage ``denoise``)."""

    enabled: bool = True
    highpass_hz: float = Field(
        40.0, ge=0.0, description="Cut-off of a zero-phase Butterworth high-pass; 0 = off."
    )
    highpass_order: int = Field(4, ge=1, le=12)
    spectral_gating: bool = Field(True, description="noisereduce spectral gating.")
    stationary: bool = Field(True, description="Stationary noise estimate; false = non-stationary gating.")
    strength: float = Field(0.8, ge=0.0, le=1.0, description="Share of the noise removed (prop_decrease).")
    n_std_thresh: float = Field(
        1.5, gt=0.0, le=10.0, description="Gate threshold in noise standard deviations."
    )


class AugmentConfig(_Frozen):
    """Pitch-shift and time-stretch variants (stage ``augment``). Off by default.

    Every variant is a new item whose ``variant_of`` names its source item. The
    processing is deterministic: the same input and config give the same samples.
    """

    enabled: bool = False
    pitch_shift_semitones: tuple[float, ...] = Field((), description="One variant per value, e.g. [-2, 2].")
    time_stretch_rates: tuple[float, ...] = Field((), description="One variant per value, >1 is faster.")
    pitch_method: Literal["world", "phase_vocoder"] = Field(
        "world", description="`world` keeps formants (pyworld); `phase_vocoder` (librosa) moves them."
    )

    @model_validator(mode="after")
    def _lists(self) -> AugmentConfig:
        if self.enabled and not (self.pitch_shift_semitones or self.time_stretch_rates):
            raise ValueError(
                "augment.enabled=true but no variants are asked for: set augment.pitch_shift_semitones "
                "(e.g. [-2, 2]) or augment.time_stretch_rates (e.g. [0.9, 1.1])"
            )
        for s in self.pitch_shift_semitones:
            if not (math.isfinite(s) and -24.0 <= s <= 24.0 and s != 0.0):
                raise ValueError(
                    f"augment.pitch_shift_semitones contains {s}: use non-zero values in [-24, 24]"
                )
        for r in self.time_stretch_rates:
            if not (math.isfinite(r) and 0.25 <= r <= 4.0 and r != 1.0):
                raise ValueError(
                    f"augment.time_stretch_rates contains {r}: use values in [0.25, 4] other than 1"
                )
        return self


class FeaturesConfig(_Frozen):
    """The frame grid shared by F0, mel and volume.

    Frame ``i`` is centred at ``i * hop_length / sample_rate_hz`` seconds. With
    ``frame_count = "centered"`` an item of ``n`` samples has ``n // hop_length + 1``
    frames (librosa's ``center=True``); with ``"floor"`` it has ``n // hop_length``
    (so-vits-svc, RVC).
    """

    hop_length: int = Field(512, ge=16, le=8192, description="Samples per frame at load.sample_rate_hz.")
    frame_count: Literal["centered", "floor"] = "centered"
    sample_format: Literal["float32", "pcm16"] = Field(
        "float32",
        description="`pcm16` rounds each item's final audio to 16-bit steps before any feature is computed, "
        "so the dataset's audio and features are exactly those of a PCM_16 export (so-vits-svc reads "
        "16-bit wavs).",
    )


class F0Config(_Frozen):
    """Fundamental-frequency extraction (stage ``f0``)."""

    method: Literal["harvest", "dio", "pyin", "praat", "fcpe", "rmvpe"] = Field(
        "harvest",
        description="`praat` needs the optional extra svcprep[praat] (GPL-3); `fcpe` (the FCPE network, "
        "more accurate and faster than harvest) needs svcprep[fcpe]; `rmvpe` runs your own rmvpe.pt "
        "(svcprep[rmvpe]) or rmvpe.onnx (onnxruntime) from f0.model_path.",
    )
    model_path: str | None = Field(
        None,
        description="The model file of f0.method='rmvpe' (RVC's assets/rmvpe/rmvpe.pt or rmvpe.onnx); its "
        "digest, not its path, enters the cache key.",
    )
    model_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="The network's own voicing threshold on its peak salience (None: fcpe 0.006, rmvpe 0.03 "
        "as RVC; so-vits uses 0.05).",
    )
    f0_floor_hz: float = Field(50.0, gt=0.0)
    f0_ceil_hz: float = Field(1100.0, gt=0.0)
    search_range: Literal["adaptive", "fixed"] = Field(
        "adaptive",
        description="`adaptive`: harvest searches each item's own range, fitted by a 16 kHz DIO pre-pass "
        "(a fourth below its 2nd percentile to a fifth above its 98th, inside floor..ceil; the full range "
        "when under 5 % is voiced), about 2x faster at the same accuracy; the pre-pass is also the "
        "quality stage's second extractor. `fixed`: search f0_floor_hz..f0_ceil_hz. Other methods and "
        "f0.match always search the full range.",
    )
    voicing: Literal["refined", "native"] = Field(
        "refined",
        description="`refined` re-decides voicing from periodicity and energy; `native` keeps the "
        "extractor's own decision.",
    )
    voicing_threshold: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="Minimum periodicity (0-1) for a frame to count as voiced (`refined`).",
    )
    voicing_min_db: float = Field(
        -50.0,
        le=0.0,
        description="Frames quieter than this (relative to the item's peak frame) are unvoiced.",
    )
    unvoiced: Literal["interpolate_hz", "interpolate_log", "zero"] = Field(
        "interpolate_hz", description="What `f0` holds on unvoiced frames; `uv` always marks voicing."
    )
    coarse_f0_min_hz: float = Field(50.0, gt=0.0, description="Bottom of RVC's 256-bin coarse F0 scale.")
    coarse_f0_max_hz: float = Field(1100.0, gt=0.0, description="Top of RVC's 256-bin coarse F0 scale.")
    chunk_s: float = Field(
        30.0,
        ge=5.0,
        le=3600.0,
        description="Long items are analysed in overlapping chunks of this length (changes up to 1 % of "
        "frames of items longer than a chunk, so it is part of the F0 key when not the default).",
    )
    match: Literal["none", "rvc", "sovits"] = Field(
        "none",
        description="Reproduce a framework's own WORLD F0 path (StoneMask, its analysis rate and frame "
        "fitting, no clamping): `rvc` = RVC's harvest/dio on the 16 kHz copy, `sovits` = so-vits-svc 4.1's "
        "resized harvest/dio track. With voicing=native the F0 is the framework's own.",
    )
    analysis_sample_rate_hz: int | None = Field(
        None,
        ge=8000,
        description="Run harvest/dio on a copy resampled to this rate (None: the dataset rate). 16000 makes "
        "dio 3-4x faster at 44.1 kHz with the same accuracy on vocadito; `svcprep check` uses it.",
    )

    @model_validator(mode="after")
    def _range(self) -> F0Config:
        if self.f0_floor_hz >= self.f0_ceil_hz:
            raise ValueError(
                f"f0.f0_floor_hz={self.f0_floor_hz} must be below f0.f0_ceil_hz={self.f0_ceil_hz}"
            )
        rate = self.analysis_sample_rate_hz
        if self.method == "rmvpe" and not self.model_path:
            raise ValueError(
                "f0.method='rmvpe' needs f0.model_path: the rmvpe.pt or rmvpe.onnx of your RVC install "
                "(assets/rmvpe/), which svcprep cannot ship"
            )
        if self.model_path is not None and self.method != "rmvpe":
            raise ValueError(
                f"f0.model_path is only used by f0.method='rmvpe', not {self.method!r}: unset it"
            )
        if self.model_threshold is not None and self.method not in ("fcpe", "rmvpe"):
            raise ValueError(
                f"f0.model_threshold is the fcpe/rmvpe network's threshold, not used by {self.method!r}: "
                "unset it"
            )
        if self.match != "none":
            if self.method not in ("harvest", "dio"):
                raise ValueError(
                    f"f0.match={self.match!r} reproduces the framework's WORLD path: set f0.method to "
                    f"'harvest' or 'dio' (not {self.method!r}), or f0.match='none'"
                )
            if rate is not None:
                raise ValueError(
                    f"f0.match={self.match!r} analyses at the framework's own rate: leave "
                    "f0.analysis_sample_rate_hz unset"
                )
        if rate is not None and self.f0_ceil_hz >= rate / 4:
            raise ValueError(
                f"f0.analysis_sample_rate_hz={rate} is too low for f0.f0_ceil_hz={self.f0_ceil_hz}: "
                f"use more than {4 * self.f0_ceil_hz:g} Hz, or leave it unset"
            )
        if self.coarse_f0_min_hz >= self.coarse_f0_max_hz:
            raise ValueError(
                f"f0.coarse_f0_min_hz={self.coarse_f0_min_hz} must be below "
                f"f0.coarse_f0_max_hz={self.coarse_f0_max_hz}"
            )
        return self


class MelConfig(_Frozen):
    """Log-mel spectrogram (stage ``mel``).

    The default is the NSF-HiFiGAN convention: natural log of the magnitude mel,
    clamped at 1e-5. ``padding = "center"`` pads ``n_fft // 2`` samples on both sides
    (reflect, or zeros when the item is too short to reflect).
    """

    n_fft: int = Field(2048, ge=16, le=16384)
    win_length: int = Field(2048, ge=16, le=16384)
    n_mels: int = Field(128, ge=1, le=512)
    fmin_hz: float = Field(40.0, ge=0.0)
    fmax_hz: float = Field(16000.0, gt=0.0)
    magnitude_eps: float = Field(0.0, ge=0.0, description="Added to re²+im² inside the square root.")
    log_floor: float = Field(1e-5, gt=0.0, description="The mel magnitude is clamped at this before the log.")
    log_base: Literal["e", "10"] = "e"
    mel_scale: Literal["slaney", "htk"] = "slaney"
    mel_norm: Literal["slaney", "none"] = "slaney"
    padding: Literal["center", "nsf_hifigan", "vits", "diffsinger"] = Field(
        "center",
        description="`center`: n_fft//2 both sides; `vits`: (n_fft-hop)/2 both sides; `nsf_hifigan`: "
        "(win-hop)//2 left, right as in nvSTFT; `diffsinger`: (win-hop)//2, (win-hop+1)//2.",
    )
    pad_mode: Literal["reflect", "constant"] = Field(
        "reflect", description="Edge padding (reflect falls back to zeros on clips too short to reflect)."
    )

    @model_validator(mode="after")
    def _sizes(self) -> MelConfig:
        if self.win_length > self.n_fft:
            raise ValueError(
                f"mel.win_length={self.win_length} must not exceed mel.n_fft={self.n_fft}: raise n_fft"
            )
        if self.fmin_hz >= self.fmax_hz:
            raise ValueError(f"mel.fmin_hz={self.fmin_hz} must be below mel.fmax_hz={self.fmax_hz}")
        return self


class VolumeConfig(_Frozen):
    """Frame RMS (stage ``volume``)."""

    window_length: int = Field(
        0, ge=0, le=16384, description="RMS window in samples, centred on each frame; 0 = hop_length."
    )


class ValidateConfig(_Frozen):
    """Checks on every item's features (stage ``validate``)."""

    enabled: bool = True


class SplitConfig(_Frozen):
    """Which items train, which validate, and which flags keep an item out of both.

    Every ``ok`` item's manifest record says ``split``: ``train``, ``val`` or
    ``excluded``; ``svcprep.open(out).split()`` and the exports use the same policy.
    """

    val_items_per_speaker: int = Field(2, ge=0, le=10000, description="Validation items per speaker.")
    val_fraction: float | None = Field(
        None, gt=0.0, lt=1.0, description="Share of each speaker's items for validation instead (unset: off)."
    )
    seed: int = 0
    exclude_flags: tuple[str, ...] = Field(
        ("all",), description='Flags that keep an item out of training; ["all"] = every flag.'
    )
    include_flags: tuple[str, ...] = Field((), description="Flags that never exclude an item.")

    @model_validator(mode="after")
    def _flag_names(self) -> SplitConfig:
        parse_flag_names(self.exclude_flags, what="split.exclude_flags", allow_all=True)
        parse_flag_names(self.include_flags, what="split.include_flags")
        return self


class ContentConfig(_Frozen):
    """Content features (stage ``units``): HuBERT / ContentVec units stored with every item."""

    encoder: str | None = Field(
        None,
        description="`hubert:PATH` (RVC's hubert_base.pt), `contentvec:PATH` (so-vits' "
        "checkpoint_best_legacy_500.pt), `hf:DIR` (a Hugging Face HuBERT folder), each with an optional "
        "`@OUTPUT` (rvc-v2, rvc-v1, vec768l12, vec256l9, lN, final_projN); FILE.onnx; or MODULE:FUNCTION. "
        "Unset: no units. Built-in encoders need svcprep[hubert].",
    )

    @field_validator("encoder")
    @classmethod
    def _spec(cls, v: str | None) -> str | None:
        if v is None:
            return None
        text = v.strip()
        if not text:
            raise ValueError("content.encoder is empty: give an encoder spec or leave it unset")
        from svcprep.encoders import is_builtin_spec, parse_encoder_spec

        if is_builtin_spec(text):
            parse_encoder_spec(text)
        return text


class StoreConfig(_Frozen):
    """Output store layout. Nothing here changes feature values."""

    shard_size_mb: float = _no_key(default=256.0, gt=0.0, le=16384.0)


class BuildConfig(_Frozen):
    """The whole configuration of ``svcprep build``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    load: LoadConfig = LoadConfig()
    slice: SliceConfig = SliceConfig()
    loudness: LoudnessConfig = LoudnessConfig()
    denoise: DenoiseConfig = DenoiseConfig()
    augment: AugmentConfig = AugmentConfig()
    features: FeaturesConfig = FeaturesConfig()
    f0: F0Config = F0Config()
    mel: MelConfig = MelConfig()
    volume: VolumeConfig = VolumeConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    quality: QualityConfig = QualityConfig()
    split: SplitConfig = SplitConfig()
    content: ContentConfig = ContentConfig()
    store: StoreConfig = StoreConfig()

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, populate_by_name=True)

    @model_validator(mode="after")
    def _cross(self) -> BuildConfig:
        sr = self.load.sample_rate_hz
        nyq = sr / 2
        if self.mel.fmax_hz > nyq:
            raise ValueError(
                f"mel.fmax_hz={self.mel.fmax_hz} is above the Nyquist frequency {nyq:g} Hz of "
                f"load.sample_rate_hz={sr}: set mel.fmax_hz <= {nyq:g}"
            )
        if self.denoise.highpass_hz >= nyq:
            raise ValueError(
                f"denoise.highpass_hz={self.denoise.highpass_hz} must be below the Nyquist frequency "
                f"{nyq:g} Hz of load.sample_rate_hz={sr} (0 turns the high-pass off)"
            )
        if self.f0.f0_ceil_hz >= nyq:
            raise ValueError(
                f"f0.f0_ceil_hz={self.f0.f0_ceil_hz} must be below the Nyquist frequency {nyq:g} Hz"
            )
        if self.features.hop_length > self.mel.n_fft:
            raise ValueError(
                f"features.hop_length={self.features.hop_length} exceeds mel.n_fft={self.mel.n_fft}: "
                "frames would skip samples; raise n_fft or lower hop_length"
            )
        hop = self.features.hop_length
        if self.f0.match == "rvc" and hop * 100 != sr:
            raise ValueError(
                f"f0.match='rvc' needs RVC's 10 ms F0 grid: features.hop_length={hop} at {sr} Hz is "
                f"{1000 * hop / sr:.3g} ms; set features.hop_length={sr // 100} (or use an rvc-* preset)"
            )
        if self.f0.match == "sovits" and self.features.frame_count != "floor":
            raise ValueError(
                "f0.match='sovits' resizes the track onto so-vits-svc's len // hop frames: set "
                "features.frame_count='floor' (or use a sovits-* preset)"
            )
        q = self.quality
        lo = self.slice.min_segment_s if q.min_duration_s is None else q.min_duration_s
        hi = self.slice.max_segment_s if q.max_duration_s is None else q.max_duration_s
        if lo >= hi:
            raise ValueError(
                f"the shortest item quality allows ({lo:g} s) is not below the longest ({hi:g} s): "
                "raise quality.max_duration_s or lower quality.min_duration_s"
            )
        if self.slice.enabled and self.slice.max_segment_s * sr > 2**31:
            raise ValueError("slice.max_segment_s is too large for the sample rate")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data, with the public section names (``validate``, not ``validate_``)."""
        return self.model_dump(mode="json", by_alias=True)

    def quality_thresholds(self) -> QualityConfig:
        """``[quality]`` with unset duration bounds taken from the slicer's segment bounds.

        A build never flags the segments its own slicer made: ``too_short`` is below
        ``slice.min_segment_s`` and ``too_long`` above ``slice.max_segment_s`` unless
        ``quality.min_duration_s`` / ``quality.max_duration_s`` are set.
        """
        q = self.quality
        return q.model_copy(
            update={
                "min_duration_s": self.slice.min_segment_s if q.min_duration_s is None else q.min_duration_s,
                "max_duration_s": self.slice.max_segment_s if q.max_duration_s is None else q.max_duration_s,
            }
        )


def _key_fields(model: type[BaseModel]) -> list[str]:
    keep = []
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get("affects_output") is False:
            continue
        keep.append(name)
    return keep


def output_config(section: BaseModel) -> dict[str, Any]:
    """The fields of a config section that change outputs, as JSON-ready data (for cache keys)."""
    data = section.model_dump(mode="json", by_alias=True)
    return {k: data[k] for k in _key_fields(type(section)) if k in data}


def _format_validation_error(err: ValidationError, *, prefix: str = "") -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p != "__root__")
        loc = loc.replace("validate_", "validate")
        where = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or "config")
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown setting (check the spelling; `svcprep config` lists every field)")
        elif "input" in e and e["type"] not in ("value_error",) and not isinstance(e["input"], dict):
            lines.append(f"{where}={e['input']!r}: {msg}")
        else:
            lines.append(f"{where}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def build_section(model: type[M], data: Mapping[str, Any], section: str) -> M:
    """Validate plain data into one config section, raising :class:`ConfigError` naming ``section.field``."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, prefix=f"{section}.")) from None


def build_config(data: Mapping[str, Any] | None = None) -> BuildConfig:
    """Validate plain data into a :class:`BuildConfig`, raising :class:`ConfigError` on any mistake."""
    try:
        return BuildConfig.model_validate(dict(data or {}))
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err)) from None


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``section.field=value`` (value in TOML syntax, bare words taken as strings)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected SECTION.FIELD=VALUE, e.g. --set f0.method=dio")
    key, _, raw = item.partition("=")
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"--set {item!r}: the key before '=' is empty")
    return path, _parse_value(raw.strip())


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``--set`` style overrides to plain config data (not validated yet)."""
    out = dict(data)
    for item in overrides:
        path, value = parse_override(item)
        nested: Any = value
        for p in reversed(path):
            nested = {p: nested}
        out = _deep_merge(out, nested)
    return out


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    base: Mapping[str, Any] | None = None,
) -> BuildConfig:
    """Load a TOML config file (optional), apply overrides and validate.

    Parameters
    ----------
    path
        A TOML file with the same sections as ``svcprep config`` prints, or None.
    overrides
        ``section.field=value`` strings applied after the file.
    base
        Plain data applied before the file (a preset).

    Raises
    ------
    ConfigError
        The file cannot be read or parsed, or a value is invalid.
    """
    data: dict[str, Any] = dict(base or {})
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"cannot read config file {p}: {err.strerror or err}") from None
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"config file {p} is not UTF-8 text (byte {err.start} is {err.object[err.start]:#04x}): "
                "save it as UTF-8 (TOML files must be)"
            ) from None
        try:
            file_data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {p} is not valid TOML: {err}") from None
        data = _deep_merge(data, file_data)
    data = apply_overrides(data, overrides)
    return build_config(data)


def config_to_toml(config: BuildConfig | None = None) -> str:
    """The config as TOML text that :func:`load_config` reads back unchanged."""
    cfg = config or BuildConfig()
    data = cfg.to_dict()
    head = {"schema_version": data.pop("schema_version")}
    text = "# svcprep build configuration (svcprep config)\n" + tomli_w.dumps(head)
    for section, values in data.items():
        if isinstance(values, dict):  # TOML has no null: an unset optional field is left out
            values = {k: v for k, v in values.items() if v is not None}
        text += "\n" + tomli_w.dumps({section: values})
    return text
