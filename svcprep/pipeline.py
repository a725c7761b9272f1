"""The build: discovery, per-source and per-item stages in parallel, cache reuse, shards, versions.

Work happens in two passes. The source pass decodes, resamples and slices each input
(bounded memory: one mono copy of a source at the target rate). The item pass runs
loudness, denoise, augmentation, F0, mel, volume and validation on each segment. Every
stage output is stored under its cache key, so a rebuild recomputes only what changed,
and an item whose every key is already stored costs a few small JSON reads.

A bad input never stops the build: it becomes a manifest record with the reason.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from svcprep import __version__
from svcprep.config import BuildConfig
from svcprep.errors import AudioDecodeError, ConfigError, DependencyError, StoreError
from svcprep.quality.dataset import apply_quality, assign_splits
from svcprep.quality.flags import Flag, flag_detail, input_flags, source_flags
from svcprep.records import (
    MANIFEST_SCHEMA_VERSION,
    FileRecord,
    ItemRecord,
    PieceRecord,
    Record,
    SourceRecord,
    dataset_items,
)
from svcprep.sources import AUDIO_EXTENSIONS, Discovery, Source, discover
from svcprep.stages import (
    STAGES,
    Stage,
    Variant,
    f0_cents_histogram,
    feature_stages,
    feature_view,
    item_frames,
    item_metrics,
    run_augment,
    run_denoise,
    run_loudness,
    run_quality,
    run_quantize,
    shard_layout,
    validate_item,
    variants,
)
from svcprep.store.atomic import atomic_write_bytes, sweep_temporaries, write_error_message
from svcprep.store.keys import (
    FileHashMemo,
    canonical_json,
    digest_bytes,
    forget_file_digests,
    library_versions,
)
from svcprep.store.lock import BuildLock
from svcprep.store.objects import ObjectStore
from svcprep.store.shards import ShardItem, plan_shards, write_shard
from svcprep.store.verify import repair_latest
from svcprep.store.versions import (
    VERSION_FORMAT,
    latest_version_id,
    list_versions,
    manifest_text,
    next_version_id,
    publish_pointer,
    publish_version,
    read_version,
    sync_top_manifest,
    unpublished_twin,
)

if TYPE_CHECKING:
    from svcprep.cluster import DaskRunner

__all__ = ["BuildReport", "build", "check"]

T = TypeVar("T")
R = TypeVar("R")

ALL_LIBRARIES = ("numpy", "scipy", "librosa", "soundfile", "libsndfile", "soxr", "noisereduce", "pyworld")


def key_for(cfg: BuildConfig, stage: str, upstream: str, extra: dict[str, Any] | None = None) -> str:
    """Cache key of ``stage`` applied to the object named ``upstream`` (see :meth:`Stage.key`)."""
    return STAGES[stage].key(cfg, upstream, extra)


# --- plans and outcomes (small, picklable) ----------------------------------------------


@dataclass(frozen=True)
class SourcePlan:
    """A source to load and slice."""

    source: Source
    digest: str
    load_key: str
    slice_key: str


@dataclass(frozen=True)
class ItemPlan:
    """A segment of a source, to run through the item stages."""

    item_id: str
    source_rel: str
    speaker: str
    load_key: str
    segment_key: str
    start: int
    end: int
    source_flags: tuple[str, ...]
    source_metrics: dict[str, float]


@dataclass
class SourceOutcome:
    """What the source pass produced for one source."""

    rel: str = ""
    speaker: str = ""
    items: list[ItemPlan] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    source_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    computed: bool = False
    objects: list[str] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)


@dataclass
class ItemOutcome:
    """What the item pass produced for one item (and its variants)."""

    records: list[Record] = field(default_factory=list)
    arrays: dict[str, dict[str, Any]] = field(default_factory=dict)  # item id -> where its arrays are
    fingerprints: dict[str, dict[str, Any]] = field(default_factory=dict)
    voices: dict[str, dict[str, Any]] = field(default_factory=dict)  # profile and F0 contour
    f0_hist: dict[str, list[int]] = field(default_factory=dict)
    f0_cents: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    computed: bool = False
    objects: list[str] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)


# --- the source pass --------------------------------------------------------------------


def plan_source(source: Source, digest: str, cfg: BuildConfig) -> SourcePlan:
    """Keys of a source's load and slice outputs."""
    load_key = key_for(cfg, "load", digest)
    return SourcePlan(source, digest, load_key, key_for(cfg, "slice", load_key))


def _strip_path(message: str, path: Path) -> str:
    """A decoder message without the ``"<path>: "`` it starts with."""
    shown = os.fsencode(path).decode("utf-8", "backslashreplace")
    return message[len(shown) + 2 :] if message.startswith(shown + ": ") else message


def _load_error(meta: dict[str, Any], rel: str) -> str:
    """The error of a cached failed load, named after the file that has this content now.

    Load objects are keyed by content, so two files with the same bytes share one, and a
    renamed file keeps its object: the cached text holds no name. Objects written before
    ``error_detail`` existed start with the name of the file they were made from; it is
    cut at the first ``"<audio extension>: "``, which ends every such name.
    """
    detail = meta.get("error_detail")
    if detail is None:
        old = str(meta["error"])
        lower = old.lower()
        cuts = [i + len(ext) for ext in AUDIO_EXTENSIONS if (i := lower.find(ext + ": ")) >= 0]
        detail = old[min(cuts) + 2 :] if cuts else old
    return f"{rel}: {detail}"


def _slice_whole(n: int, sr: int, cfg: BuildConfig) -> dict[str, Any]:
    dur = n / sr
    flags = []
    if dur < cfg.slice.min_segment_s:
        flags.append("too_short")
    if dur > cfg.slice.max_segment_s:
        flags.append("too_long")
    return {"segments": [[0, n]] if n > 0 else [], "dropped": [], "silent": False, "flags": flags}


def run_source(
    plan: SourcePlan, cfg: BuildConfig, objects_root: str, *, compute: bool = True, need_audio: bool = False
) -> SourceOutcome | None:
    """Load and slice one source (from the cache when possible).

    With ``compute=False`` returns None instead of doing any audio work. The decoded audio
    is not kept once a version is published (see :mod:`svcprep.store.objects`): it is
    decoded again when slicing needs it or ``need_audio`` (its items have work to do).
    """
    store = ObjectStore(Path(objects_root))
    src = plan.source
    sr = cfg.load.sample_rate_hz
    out = SourceOutcome(rel=src.rel, speaker=src.speaker, objects=[plan.load_key, plan.slice_key])
    base: dict[str, Any] = {"source": src.rel, "speaker": src.speaker}

    load_obj = store.get(plan.load_key)
    if load_obj is not None and "audio" in load_obj.dropped and (need_audio or not store.has(plan.slice_key)):
        load_obj = None  # decode it again
    if load_obj is None:
        if not compute:
            return None
        from svcprep.audio import load_audio

        t0 = time.perf_counter()
        try:
            loaded = load_audio(
                src.path,
                target_sr_hz=sr,
                quality=cfg.load.resample_quality,
                min_source_sample_rate_hz=cfg.load.min_source_sample_rate_hz,
                max_source_sample_rate_hz=cfg.load.max_source_sample_rate_hz,
                cancellation_ratio=cfg.load.cancellation_ratio,
                block_frames=cfg.load.block_frames,
            )
        except AudioDecodeError as err:
            # cached by content: the reason must not carry this file's name (see _load_error)
            detail = _strip_path(str(err), src.path)
            load_obj = store.put(
                plan.load_key, {}, {"error": detail, "error_detail": detail, "reason": err.reason}
            )
        except (MemoryError, ValueError, RuntimeError, OSError) as err:  # fail the item, not the run
            out.records.append(
                SourceRecord(
                    id=src.rel,
                    status="error",
                    error=f"{src.rel}: cannot decode: {type(err).__name__}: {err}",
                    flags=("decode_error",),
                    **base,
                )
            )
            out.timings["load"] = time.perf_counter() - t0
            return out  # not cached: it may not happen again
        else:
            load_meta = {
                "n_samples": int(loaded.samples.size),
                "flags": sorted(loaded.flags),
                "metrics": {k: round(float(v), 6) for k, v in loaded.metrics.items()},
            }
            load_obj = store.put(plan.load_key, {"audio": loaded.samples}, load_meta)
            del loaded
        out.timings["load"] = time.perf_counter() - t0
        out.runs["load"] = 1
        out.computed = True

    meta: dict[str, Any] = load_obj.meta
    if "error" in meta:
        out.records.append(
            SourceRecord(
                id=src.rel, status="error", error=_load_error(meta, src.rel), flags=(meta["reason"],), **base
            )
        )
        return out
    n = int(meta["n_samples"])
    out.source_seconds = n / sr
    src_flags = tuple(meta.get("flags", ()))
    src_metrics = dict(meta.get("metrics", {}))

    slice_obj = store.get(plan.slice_key)
    if slice_obj is None:
        if not compute:
            return None
        t0 = time.perf_counter()
        if cfg.slice.enabled:
            from svcprep.dsp.slicing import slice_audio

            audio = load_obj.array("audio", mmap=True)
            sc = cfg.slice
            res = slice_audio(
                audio,
                sample_rate_hz=sr,
                min_segment_s=sc.min_segment_s,
                max_segment_s=sc.max_segment_s,
                silence_top_db=sc.silence_top_db,
                min_silence_s=sc.min_silence_s,
                margin_s=sc.margin_s,
                frame_s=sc.frame_s,
                hop_s=sc.hop_s,
            )
            del audio
            smeta: dict[str, Any] = {
                "segments": [[s.start, s.end] for s in res.segments],
                "dropped": [[d.start, d.end, d.reason] for d in res.dropped],
                "silent": bool(res.silent),
                "flags": [],
            }
        else:
            smeta = _slice_whole(n, sr, cfg)
        slice_obj = store.put(plan.slice_key, {}, smeta)
        out.timings["slice"] = time.perf_counter() - t0
        out.runs["slice"] = 1
        out.computed = True

    smeta = dict(slice_obj.meta)
    src_details = _source_flag_details(src_flags, src_metrics, cfg)
    if n == 0 or smeta["silent"]:
        what = "no samples" if n == 0 else "digital silence or no signal above the silence threshold"
        qc = cfg.quality_thresholds()
        silent = Flag("silence", "source_active_ratio", 0.0, qc.min_source_active_ratio, what)
        out.records.append(
            SourceRecord(
                id=src.rel,
                status="dropped",
                error=f"{what}: nothing to train on",
                flags=tuple(sorted({"silence", *src_flags})),  # e.g. channel_cancellation made it silent
                flag_details={**src_details, "silence": flag_detail(silent)},
                duration_s=n / sr,
                metrics=src_metrics,
                **base,
            )
        )
        return out
    if cfg.slice.enabled and n > 0:
        sound = sum(e - s for s, e in smeta["segments"]) + sum(e - s for s, e, _ in smeta["dropped"])
        src_metrics["source_active_ratio"] = round(sound / n, 6)
        mostly_silent = [
            f for f in source_flags(src_metrics, cfg.quality_thresholds()) if f.name == "silence"
        ]
        if mostly_silent and not smeta["segments"]:
            flag = mostly_silent[0]
            out.records.append(
                SourceRecord(
                    id=src.rel,
                    status="dropped",
                    error=f"{flag.detail}: no stretch long enough to train on",
                    flags=tuple(sorted({"silence", *src_flags})),
                    flag_details={**src_details, "silence": flag_detail(flag)},
                    duration_s=n / sr,
                    metrics=src_metrics,
                    **base,
                )
            )
    for k, (start, end, reason) in enumerate(smeta["dropped"]):
        short = Flag("too_short", "duration_s", (end - start) / sr, cfg.slice.min_segment_s, reason)
        out.records.append(
            PieceRecord(
                id=f"{src.rel}#dropped{k:03d}",
                status="dropped",
                error=reason,
                flags=("too_short",),
                flag_details={"too_short": flag_detail(short)},
                start_s=start / sr,
                end_s=end / sr,
                duration_s=(end - start) / sr,
                **base,
            )
        )
    for j, (start, end) in enumerate(smeta["segments"]):
        seg_key = digest_bytes(canonical_json({"slice": plan.slice_key, "segment": [start, end]}))
        out.items.append(
            ItemPlan(
                item_id=f"{src.rel}#{j:03d}",
                source_rel=src.rel,
                speaker=src.speaker,
                load_key=plan.load_key,
                segment_key=seg_key,
                start=int(start),
                end=int(end),
                source_flags=tuple(sorted(set(src_flags) | set(smeta.get("flags", [])))),
                source_metrics=src_metrics,
            )
        )
    return out


# --- the item pass ----------------------------------------------------------------------


@dataclass(frozen=True)
class ItemKeys:
    """Cache keys of one item (or variant): its audio, each feature stage, the record, quality."""

    audio: str
    features: dict[str, str]  # feature stage name -> key
    record: str
    quality: str | None  # only originals: variants share their source's recording
    unquantized: str = ""  # the audio before the quantize stage ("" = it is off)

    def all(self) -> list[str]:
        """Every key the item's data lives under (the quality key included)."""
        keys = [self.audio, *self.features.values(), self.record]
        keys += [self.unquantized] if self.unquantized else []
        return keys + ([self.quality] if self.quality else [])


def item_keys(plan: ItemPlan, cfg: BuildConfig) -> tuple[str, str, list[tuple[Variant | None, ItemKeys]]]:
    """Pure key arithmetic for an item: (loudness key, denoise key, [(variant, keys)])."""
    k = plan.segment_key
    lk = key_for(cfg, "loudness", k) if STAGES["loudness"].enabled(cfg) else k
    dk = key_for(cfg, "denoise", lk) if STAGES["denoise"].enabled(cfg) else lk
    out: list[tuple[Variant | None, ItemKeys]] = []
    for v in [None, *variants(cfg)]:
        pre = dk if v is None else key_for(cfg, "augment", dk, {"variant": v.describe()})
        ak = key_for(cfg, "quantize", pre) if STAGES["quantize"].enabled(cfg) else pre
        feats = {st.name: st.key(cfg, ak) for st in feature_stages(cfg)}
        rk = key_for(cfg, "validate", digest_bytes(canonical_json([ak, *feats.values()])))
        qk = (
            None if v is not None else key_for(cfg, "quality", digest_bytes(canonical_json([k, feats["f0"]])))
        )
        out.append((v, ItemKeys(ak, feats, rk, qk, pre if ak != pre else "")))
    return lk, dk, out


class _ItemRun:
    """Computes (or reads from the cache) the stage outputs of one segment and its variants."""

    def __init__(self, plan: ItemPlan, cfg: BuildConfig, store: ObjectStore) -> None:
        self.plan, self.cfg, self.store = plan, cfg, store
        self.lk, self.dk, self.per_variant = item_keys(plan, cfg)
        self.timings: dict[str, float] = defaultdict(float)
        self.runs: Counter[str] = Counter()
        self.computed = False
        self._audio: dict[str, npt.NDArray[np.float32]] = {}
        self._features: dict[str, dict[str, npt.NDArray[Any]]] = {}

    def _compute(self, stage: str, make: Callable[[], T]) -> T:
        t0 = time.perf_counter()
        value = make()
        self.timings[stage] += time.perf_counter() - t0
        self.runs[stage] += 1
        self.computed = True
        return value

    def _cached_audio(
        self, key: str, stage: str, make: Callable[[], npt.NDArray[np.float32]]
    ) -> npt.NDArray[np.float32]:
        if key not in self._audio:
            obj = self.store.get(key, verify=True)  # a damaged object is computed again
            if obj is not None:
                self._audio[key] = obj.array("audio")
            else:
                y = self._compute(stage, make)
                self.store.put(key, {"audio": y}, {"n_samples": int(y.size)})
                self._audio[key] = y
        return self._audio[key]

    def needs_segment(self) -> bool:
        """Whether running this item reads its source's decoded audio (not every cached step is there)."""
        st, seg = self.store, self.plan.segment_key

        def have(key: str) -> bool:
            return bool(key) and key != seg and st.has(key)

        for _variant, keys in self.per_variant:
            if keys.quality is not None and not st.has(keys.quality):
                return True
            # the item's audio is the segment itself (kept), or some step towards it is cached
            if keys.audio == seg or any(have(k) for k in (keys.audio, keys.unquantized, self.dk, self.lk)):
                continue
            return True
        return False

    def segment(self) -> npt.NDArray[np.float32]:
        """The segment's samples, read from the source's decoded audio."""
        p = self.plan
        if p.segment_key not in self._audio:
            obj = self.store.get(p.load_key)
            if obj is None:
                raise StoreError(f"cache object {p.load_key} of {p.source_rel} vanished during the build")
            if "audio" in obj.dropped:  # the source pass restores it before any item needs it
                raise StoreError(f"the decoded audio of {p.source_rel} was not restored before its items ran")
            self._audio[p.segment_key] = np.array(obj.array("audio", mmap=True)[p.start : p.end], np.float32)
        return self._audio[p.segment_key]

    def leveled(self) -> npt.NDArray[np.float32]:
        """After the loudness stage (the segment itself when it is off)."""
        if self.lk == self.plan.segment_key:
            return self.segment()
        return self._cached_audio(self.lk, "loudness", lambda: run_loudness(self.segment(), self.cfg)[0])

    def clean(self) -> npt.NDArray[np.float32]:
        """After the denoise stage."""
        if self.dk == self.lk:
            return self.leveled()
        return self._cached_audio(self.dk, "denoise", lambda: run_denoise(self.leveled(), self.cfg))

    def audio(self, variant: Variant | None, keys: ItemKeys) -> npt.NDArray[np.float32]:
        """The audio an item's features are computed on (its variant, when it is one)."""
        if keys.unquantized:
            pre = keys.unquantized
            return self._cached_audio(
                keys.audio, "quantize", lambda: run_quantize(self._augmented(variant, pre))
            )
        return self._augmented(variant, keys.audio)

    def _augmented(self, variant: Variant | None, key: str) -> npt.NDArray[np.float32]:
        if variant is None:
            return self.clean()
        return self._cached_audio(key, "augment", lambda: run_augment(self.clean(), variant, self.cfg))

    def feature(self, stage: Stage, key: str, y: Callable[[], npt.NDArray[np.float32]]) -> dict[str, Any]:
        """One feature stage's cached arrays, computed on its own grid when missing."""
        if key not in self._features:
            obj = self.store.get(key, verify=True)
            if obj is not None:
                self._features[key] = {n: obj.array(n) for n in obj.array_names}
            else:
                assert stage.compute is not None  # only feature stages have keys here
                compute = stage.compute

                def make() -> dict[str, npt.NDArray[Any]]:
                    audio = y()
                    return compute(audio, self.cfg, stage.frames(audio.size, self.cfg))

                arrays = self._compute(stage.name, make)
                self.store.put(key, arrays, {})
                self._features[key] = arrays
        return self._features[key]

    def features(self, variant: Variant | None, keys: ItemKeys) -> dict[str, npt.NDArray[Any]]:
        """Every feature stage's arrays of one item, on the item's grid."""
        y = self.audio(variant, keys)
        n = item_frames(y.size, self.cfg)
        out: dict[str, npt.NDArray[Any]] = {}
        for st in feature_stages(self.cfg):
            out.update(feature_view(st, self.feature(st, keys.features[st.name], lambda: y), n, self.cfg))
        return out

    def quality_meta(self, keys: ItemKeys) -> dict[str, Any]:
        """Quality metrics, fingerprint and pitch histogram of an original item (cached)."""
        if keys.quality is None:
            raise ValueError("quality is measured on original items only")
        obj = self.store.get(keys.quality)
        if obj is not None:
            return obj.meta
        y = self.segment()
        f0 = self.feature(STAGES["f0"], keys.features["f0"], lambda: self.audio(None, keys))
        metrics, extra = self._compute("quality", lambda: run_quality(y, f0, self.cfg))
        meta = {"metrics": metrics, **extra}
        self.store.put(keys.quality, {}, meta)
        return meta

    def record_meta(self, variant: Variant | None, keys: ItemKeys) -> dict[str, Any]:
        """Validation result, metrics and sizes of one item (cached under the record key)."""
        obj = self.store.get(keys.record)
        if obj is not None:
            return obj.meta
        cfg = self.cfg
        try:
            y = self.audio(variant, keys)
            feats = self.features(variant, keys)
            flags, error = self._compute("validate", lambda: validate_item(y, feats, cfg))
            meta: dict[str, Any] = {
                "flags": flags,
                "error": error,
                "metrics": item_metrics(y, feats, cfg),
                "n_samples": int(y.size),
                "n_frames": int(item_frames(y.size, cfg)),
                "n_units": int(np.shape(feats["units"])[0]) if "units" in feats else 0,
                "f0_cents": f0_cents_histogram(feats["f0_raw"], feats["uv"]),
            }
        except StoreError:
            raise  # the output folder is broken: stop, do not blame the item
        except Exception as err:  # fail the item, never the run (and retry it next build)
            tb = traceback.extract_tb(err.__traceback__)
            where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
            return {
                "flags": ["processing_error"],
                "error": f"{type(err).__name__}: {err}{where}",
                "metrics": {},
                "n_samples": 0,
                "n_frames": 0,
            }
        self.store.put(keys.record, {}, meta)
        self.computed = True
        return meta


def run_item(
    plan: ItemPlan, cfg: BuildConfig, objects_root: str, *, compute: bool = True
) -> ItemOutcome | None:
    """Run the item stages for one segment and its variants (cached stages are read, not run).

    With ``compute=False`` returns None unless every output is already stored.
    """
    store = ObjectStore(Path(objects_root))
    run = _ItemRun(plan, cfg, store)
    # every object a shard may have to be written from (a repaired store lacks some)
    needed = [k for _, ks in run.per_variant for k in ks.all() if k != plan.segment_key]
    if not compute and not all(store.get(k, verify=True) is not None for k in needed):
        return None  # (a damaged object, in or out of the latest version, is recomputed)
    sr = cfg.load.sample_rate_hz
    out = ItemOutcome()
    out.objects = sorted(
        ({run.lk, run.dk} | {k for _, ks in run.per_variant for k in ks.all()}) - {plan.segment_key}
    )
    for variant, keys in run.per_variant:
        item_id = plan.item_id + (variant.suffix if variant else "")
        meta = run.record_meta(variant, keys)
        ok = not meta["error"]
        if ok and not all(
            store.get(k, verify=True) is not None
            for k in [*keys.features.values(), keys.audio]
            if k != plan.segment_key
        ):
            run.features(variant, keys)  # the record is cached, but arrays were lost or damaged
        quality_metrics: dict[str, Any] = {}
        if ok and keys.quality is not None:
            try:
                q = run.quality_meta(keys)
            except StoreError:
                raise
            except Exception as err:  # a failed measurement must not lose the item
                meta = {**meta, "flags": [*meta["flags"], "quality_error"]}
                quality_metrics = {}
                out.notes[item_id] = f"quality metrics failed: {type(err).__name__}: {err}"
            else:
                quality_metrics = q["metrics"]
                out.fingerprints[item_id] = q["fingerprint"]
                out.voices[item_id] = {"profile": q.get("profile"), "contour": q.get("contour")}
                out.f0_hist[item_id] = q["f0_hist"]
        if ok and "f0_cents" in meta:
            out.f0_cents[item_id] = meta["f0_cents"]
        out.records.append(
            ItemRecord(
                id=item_id,
                source=plan.source_rel,
                speaker=plan.speaker,
                status="ok" if ok else "error",
                error=meta["error"],
                flags=(*plan.source_flags, *meta["flags"]),
                flag_details=_source_flag_details(plan.source_flags, plan.source_metrics, cfg),
                metrics={**plan.source_metrics, **meta["metrics"], **quality_metrics},
                start_s=plan.start / sr,
                end_s=plan.end / sr,
                duration_s=(meta["n_samples"] if ok else plan.end - plan.start) / sr,
                variant_of=plan.item_id if variant else None,
                variant=variant.describe() if variant else None,
                sample_rate_hz=sr,
                n_samples=meta["n_samples"],
                n_frames=meta["n_frames"],
            )
        )
        if ok:
            audio = (
                {"key": plan.load_key, "start": plan.start, "end": plan.end}
                if keys.audio == plan.segment_key
                else {"key": keys.audio, "start": None, "end": None}
            )
            out.arrays[item_id] = {
                "audio": audio,
                "features": dict(keys.features),
                "key": keys.record,
                "n_samples": meta["n_samples"],
                "n_frames": meta["n_frames"],
                "n_units": int(meta.get("n_units", 0)),
            }
    out.timings = dict(run.timings)
    out.runs = dict(run.runs)
    out.computed = run.computed
    return out


# --- running in parallel ----------------------------------------------------------------


class _LocalRunner:
    """Runs a build's tasks in ``jobs`` processes here, this one included.

    See :func:`svcprep._workers.parallel_map`, and ``svcprep.cluster`` for Dask.
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def __enter__(self) -> _LocalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(
        self,
        fn: Callable[[T], R],
        tasks: list[T],
        on_done: Callable[[R], None],
        lost: Callable[[T, str], R],
        *,
        what: str,
    ) -> None:
        """Run ``fn`` over ``tasks`` (no task is ever lost here: a dead worker stops the build)."""
        from svcprep._workers import parallel_map

        parallel_map(fn, tasks, self.jobs, on_done)


def _lost_source(task: tuple[SourcePlan, BuildConfig, str], reason: str) -> SourceOutcome:
    """The outcome of a source whose every worker died: one error record, nothing cached."""
    plan = task[0]
    src = plan.source
    record = SourceRecord(
        id=src.rel,
        source=src.rel,
        speaker=src.speaker,
        status="error",
        error=f"{src.rel}: {reason}",
        flags=("processing_error",),
    )
    return SourceOutcome(
        rel=src.rel, speaker=src.speaker, records=[record], objects=[plan.load_key, plan.slice_key]
    )


def _source_flag_details(
    flags: Sequence[str], metrics: Mapping[str, float], cfg: BuildConfig
) -> dict[str, dict[str, Any]]:
    """``flag_details`` of the loader's flags on a source (its items carry them too)."""
    found = input_flags(flags, metrics, cancellation_ratio=cfg.load.cancellation_ratio)
    return {f.name: flag_detail(f) for f in found}


def _lost_item(task: tuple[ItemPlan, BuildConfig, str], reason: str) -> ItemOutcome:
    """The outcome of an item whose every worker died: one error record, nothing cached."""
    plan, cfg, _ = task
    sr = cfg.load.sample_rate_hz
    lk, dk, per_variant = item_keys(plan, cfg)
    record = ItemRecord(
        id=plan.item_id,
        source=plan.source_rel,
        speaker=plan.speaker,
        status="error",
        error=reason,
        flags=(*plan.source_flags, "processing_error"),
        flag_details=_source_flag_details(plan.source_flags, plan.source_metrics, cfg),
        metrics=dict(plan.source_metrics),
        start_s=plan.start / sr,
        end_s=plan.end / sr,
        duration_s=(plan.end - plan.start) / sr,
        sample_rate_hz=sr,
    )
    objects = sorted(({lk, dk} | {k for _, ks in per_variant for k in ks.all()}) - {plan.segment_key})
    return ItemOutcome(records=[record], objects=objects)


def _hash_on_workers(runner: DaskRunner, memo: FileHashMemo, sources: Sequence[Source], ui: Any) -> None:
    """Hash the inputs the memo does not know on the cluster's workers and record them in it.

    An input a worker cannot read is left out: the client's own attempt reports it.
    """
    from svcprep.cluster import hash_file

    todo = []
    for src in sources:
        try:
            if memo.lookup(src.path) is None:
                todo.append(src.path)
        except OSError:
            continue
    task = ui.task("hash inputs", len(todo))

    def done(res: tuple[Path, tuple[str, int, int] | None]) -> None:
        path, found = res
        if found is not None:
            memo.record(path, found[0], size=found[1], mtime_ns=found[2])
        ui.advance(task)

    runner.map(hash_file, todo, done, lambda path, _: (path, None), what="file")


def _collect(results: list[R], result: R, ui: Any, task: Any) -> None:
    results.append(result)
    ui.advance(task)


def _src_task(args: tuple[SourcePlan, BuildConfig, str]) -> SourceOutcome:
    plan, cfg, root = args
    res = run_source(plan, cfg, root, compute=True)
    assert res is not None  # compute=True always returns an outcome
    return res


def _restore_task(args: tuple[SourcePlan, BuildConfig, str]) -> SourceOutcome:
    plan, cfg, root = args
    res = run_source(plan, cfg, root, compute=True, need_audio=True)
    assert res is not None
    return res


def _item_task(args: tuple[ItemPlan, BuildConfig, str]) -> ItemOutcome:
    plan, cfg, root = args
    res = run_item(plan, cfg, root, compute=True)
    assert res is not None
    return res


# --- the report -------------------------------------------------------------------------


@dataclass
class BuildReport:
    """What a build did. ``exit_code`` is what the CLI exits with (0 ok, 1 some inputs failed)."""

    out: Path
    version: str | None
    published: bool
    records: list[Record]
    stage_seconds: dict[str, float]
    wall_seconds: float
    source_seconds_by_speaker: dict[str, float]
    computed: bool
    previous_version: str | None = None
    stage_runs: dict[str, int] = field(default_factory=dict)
    f0_hist: dict[str, list[int]] = field(default_factory=dict)
    f0_cents: dict[str, dict[str, int]] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)  # damaged files this build found and rewrote

    @property
    def source_seconds(self) -> float:
        """Seconds of decoded input audio (all speakers)."""
        return float(sum(self.source_seconds_by_speaker.values()))

    @property
    def items(self) -> list[ItemRecord]:
        """Records of the items in the dataset (:attr:`Record.in_dataset`)."""
        return dataset_items(self.records)

    @property
    def train(self) -> list[ItemRecord]:
        """Records of the items in the training split."""
        return [r for r in self.items if r.trains]

    @property
    def errors(self) -> list[Record]:
        """Records that failed (unreadable sources, failed items)."""
        return [r for r in self.records if r.status == "error"]

    @property
    def skipped(self) -> list[Record]:
        """Files that are not audio and were skipped."""
        return [r for r in self.records if r.status == "skipped"]

    @property
    def dropped(self) -> list[Record]:
        """Pieces and sources left out on purpose (too short, silent)."""
        return [r for r in self.records if r.status == "dropped"]

    @property
    def kept_seconds(self) -> float:
        """Audio kept in the dataset from the sources (variants not counted)."""
        return float(sum(r.duration_s or 0.0 for r in self.items if not r.is_variant))

    @property
    def exit_code(self) -> int:
        """0 when every input was read and processed, 1 when some failed."""
        return 1 if self.errors else 0

    def per_speaker(self) -> dict[str, dict[str, float]]:
        """Per speaker: items, variants, seconds kept and in training, dropped, errors, flagged items."""
        rows: dict[str, dict[str, float]] = defaultdict(
            lambda: {
                "items": 0,
                "variants": 0,
                "kept_s": 0.0,
                "train_s": 0.0,
                "source_s": 0.0,
                "errors": 0,
                "flagged": 0,
            }
        )
        for r in self.records:
            row = rows[r.speaker]
            if r.in_dataset:
                if r.is_variant:
                    row["variants"] += 1
                else:
                    row["items"] += 1
                    row["kept_s"] += r.duration_s or 0.0
                    row["train_s"] += (r.duration_s or 0.0) if r.trains else 0.0
                    row["flagged"] += 1 if r.flags else 0
            elif r.status == "error":
                row["errors"] += 1
        for sp, secs in self.source_seconds_by_speaker.items():
            rows[sp]["source_s"] = secs
        for row in rows.values():
            row["dropped_s"] = max(0.0, row["source_s"] - row["kept_s"])
        return dict(sorted(rows.items()))

    def flag_counts(self) -> Counter[str]:
        """How many records carry each flag."""
        return Counter(f for r in self.records for f in r.flags)


# --- the build --------------------------------------------------------------------------


def check_environment(cfg: BuildConfig) -> None:
    """Import every library the configured stages need, failing once with a clear message.

    A broken install would otherwise surface as the same error on every item.
    """
    import importlib
    import importlib.util

    from svcprep._compat import import_pyworld

    problems = []
    for name in ("soundfile", "soxr"):
        try:
            importlib.import_module(name)
        except Exception as err:  # any import failure is a broken environment
            problems.append(f"{name}: {type(err).__name__}: {err}")
    for name in ("scipy", "librosa", "noisereduce"):  # slow to import: only look them up
        if importlib.util.find_spec(name) is None:
            problems.append(f"{name}: not installed")
    try:
        import_pyworld()
    except Exception as err:
        problems.append(f"pyworld: {type(err).__name__}: {err}")
    if problems:
        raise DependencyError(
            "svcprep's libraries do not import, so nothing was built:\n  "
            + "\n  ".join(problems)
            + "\nReinstall them (pip install --force-reinstall svcprep) and run again."
        )


def check_optional_backends(cfg: BuildConfig) -> None:
    """Fail before any work when the config asks for an optional extra that is not installed."""
    if cfg.f0.method == "praat":
        try:
            import parselmouth  # noqa: F401
        except ImportError:
            raise ConfigError(
                "f0.method='praat' needs praat-parselmouth (GPL-3), an optional extra: "
                "pip install 'svcprep[praat]', or choose f0.method = harvest, dio or pyin"
            ) from None
    if cfg.f0.method == "fcpe":
        from svcprep.dsp.fcpe import check_fcpe

        check_fcpe()
    if cfg.f0.method == "rmvpe" and cfg.f0.model_path is not None:
        from svcprep.dsp.rmvpe import check_rmvpe

        check_rmvpe(cfg.f0.model_path)
    if cfg.content.encoder is not None:
        from svcprep.export.content import check_encoder_spec

        check_encoder_spec(cfg.content.encoder)


def _check_paths(raw: Path, out: Path) -> None:
    if not raw.exists():
        raise ConfigError(f"raw folder {raw} does not exist")
    if not raw.is_dir():
        raise ConfigError(f"raw folder {raw} is a file; give the folder that holds the recordings")
    r, o = raw.resolve(), out.resolve()
    if o == r or r in o.parents:
        raise ConfigError(f"output folder {out} is inside the raw folder {raw}: choose a folder outside it")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out} exists and is not a folder")


def build(
    raw: str | Path,
    out: str | Path,
    config: BuildConfig | None = None,
    *,
    jobs: int | None = None,
    progress: bool = False,
    console: Any = None,
    dask: Any = None,
    follow_links: bool = False,
) -> BuildReport:
    """Build (or update) the dataset in ``out`` from the recordings in ``raw``.

    Parameters
    ----------
    raw
        Folder of recordings, one sub-folder per speaker. Never written to.
    out
        Output folder: cache objects, shards, versions and ``manifest.jsonl``.
    config
        The build config (defaults when None).
    jobs
        Processes computing, this one included (``jobs - 1`` loky workers); None = all cores.
        Not with ``dask``.
    progress
        Show progress bars (rich) on the console.
    console
        A ``rich.console.Console`` for progress output (stderr when None).
    dask
        Run the work on Dask (``pip install 'svcprep[dask]'``, see ``svcprep.cluster``):
        ``"local"`` or ``"local:N"`` starts N worker processes on this machine, a scheduler
        address (``"tcp://host:8786"``) or scheduler file uses a running cluster, and a
        ``distributed.Client`` is used as it is. RAW and OUT must be on a filesystem every
        worker sees. The published version is byte-identical to a local build's.
    follow_links
        Also read symlinks that lead outside ``raw`` (by default they are skipped records
        saying so; see :func:`svcprep.sources.discover`).

    Returns
    -------
    BuildReport
        Records, timings and the published version. Bad inputs are records with
        ``status == "error"`` (``report.exit_code == 1``), never exceptions.

    Raises
    ------
    ConfigError
        Bad paths or configuration (before any work).
    StoreError
        The output folder cannot be written, or another build holds it.
    ClusterError
        The Dask scheduler cannot be reached or went away (finished work stays cached).
    """
    t_start = time.perf_counter()
    cfg = config or BuildConfig()
    raw_p, out_p = Path(raw), Path(out)
    _check_paths(raw_p, out_p)
    check_optional_backends(cfg)
    n_jobs = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
    runner: _LocalRunner | DaskRunner = _LocalRunner(n_jobs)
    if dask is not None:
        from svcprep.cluster import DaskRunner, keyed_versions, parse_dask_target

        target = parse_dask_target(dask)
        if jobs is not None:
            raise ConfigError(
                f"jobs={jobs} and dask={target.spec!r} both say where to run: -j N runs N processes here, "
                "--dask local:N runs N Dask workers here, and a cluster's workers are its own; give one"
            )
        raw_p, out_p = raw_p.resolve(), out_p.resolve()  # workers have other working directories
        runner = DaskRunner(target, out=out_p, raw=raw_p, versions=keyed_versions(cfg, ALL_LIBRARIES))
    disc: Discovery = discover(raw_p, follow_links=follow_links)
    if not disc.sources:
        raise ConfigError(_no_audio_message(raw_p, disc))
    try:
        out_p.mkdir(parents=True, exist_ok=True)
        (out_p / "objects").mkdir(exist_ok=True)
        (out_p / "shards").mkdir(exist_ok=True)
        (out_p / "versions").mkdir(exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot write to output folder {out_p}: {err.strerror or err}") from None

    from svcprep.ui import BuildProgress

    with BuildLock(out_p), runner:
        sweep_temporaries(out_p)
        forget_file_digests()  # digests are memoised within one build only
        repaired = repair_latest(out_p)  # damaged shards/objects of the latest version: recomputed below
        objects_root = str(out_p / "objects")
        records: list[Record] = [
            FileRecord(
                id=sk.rel,
                source=sk.rel,
                speaker="",
                status=sk.status,
                error=sk.reason,
                flags=() if sk.status == "skipped" else ("unreadable",),
            )
            for sk in disc.skipped
        ]
        memo = FileHashMemo(out_p / "filehashes.json")
        stage_seconds: dict[str, float] = defaultdict(float)
        stage_runs: Counter[str] = Counter()
        computed = False
        ui = BuildProgress(enabled=progress, console=console)
        with ui:
            # hash inputs and resolve what the cache already has
            plans: list[SourcePlan] = []
            inputs: dict[str, str] = {}
            if not isinstance(runner, _LocalRunner):  # the client reads no audio: workers hash it
                _hash_on_workers(runner, memo, disc.sources, ui)
            for src in disc.sources:
                try:
                    d = memo.digest(src.path)
                except OSError as err:
                    records.append(
                        SourceRecord(
                            id=src.rel,
                            source=src.rel,
                            speaker=src.speaker,
                            status="error",
                            error=f"cannot read file: {err.strerror or err}",
                            flags=("unreadable",),
                        )
                    )
                    continue
                inputs[src.rel] = d
                plans.append(plan_source(src, d, cfg))
            try:
                memo.save()
            except OSError as err:
                raise StoreError(write_error_message(out_p, err)) from None

            src_outcomes: list[SourceOutcome] = []
            todo_src = []
            for p in plans:
                res = run_source(p, cfg, objects_root, compute=False)
                if res is None:
                    todo_src.append(p)
                else:
                    src_outcomes.append(res)
            env_checked = False
            if todo_src:
                check_environment(cfg)
                env_checked = True
            task_src = ui.task("decode + slice", len(todo_src))
            runner.map(
                _src_task,
                [(p, cfg, objects_root) for p in todo_src],
                lambda r: _collect(src_outcomes, r, ui, task_src),
                _lost_source,
                what="source",
            )
            src_outcomes.sort(key=lambda so: so.rel)  # the order tasks finished in changes nothing
            item_plans: list[ItemPlan] = []
            src_secs: dict[str, float] = defaultdict(float)
            secs_by_source: dict[str, float] = {}
            used_objects: set[str] = set()
            for so in src_outcomes:
                used_objects.update(so.objects)
                records.extend(so.records)
                item_plans.extend(so.items)
                computed |= so.computed
                for k, v in so.timings.items():
                    stage_seconds[k] += v
                stage_runs.update(so.runs)
                src_secs[so.speaker] += so.source_seconds
                secs_by_source[so.rel] = round(so.source_seconds, 6)

            item_outcomes: list[ItemOutcome] = []
            todo_items = []
            for ip in item_plans:
                res_i = run_item(ip, cfg, objects_root, compute=False)
                if res_i is None:
                    todo_items.append(ip)
                else:
                    item_outcomes.append(res_i)
            if todo_items and not env_checked:
                check_environment(cfg)
            # items with work to do read their source's decoded audio, which a published
            # version does not keep: decode those sources again first
            store_now = ObjectStore(Path(objects_root))
            need = {ip.load_key for ip in todo_items if _ItemRun(ip, cfg, store_now).needs_segment()}
            restore = [
                p
                for p in plans
                if p.load_key in need and "audio" in getattr(store_now.get(p.load_key), "dropped", ())
            ]
            if restore:
                task_dec = ui.task("decode again", len(restore))

                def restored(r: SourceOutcome) -> None:
                    for k, v in r.timings.items():
                        stage_seconds[k] += v
                    stage_runs.update(r.runs)
                    ui.advance(task_dec)

                runner.map(
                    _restore_task,
                    [(p, cfg, objects_root) for p in restore],
                    restored,
                    _lost_source,
                    what="source",
                )
            # longest first: the last task to finish is a short one, so no worker idles long
            # at the end (results are sorted afterwards: the order changes nothing)
            todo_items.sort(key=lambda ip: (ip.start - ip.end, ip.item_id))
            task_items = ui.task("features", len(todo_items))
            runner.map(
                _item_task,
                [(ip, cfg, objects_root) for ip in todo_items],
                lambda r: _collect(item_outcomes, r, ui, task_items),
                _lost_item,
                what="item",
            )
            item_outcomes.sort(key=lambda io: io.records[0].id if io.records else "")
            arrays: dict[str, dict[str, Any]] = {}
            fingerprints: dict[str, dict[str, Any]] = {}
            voices: dict[str, dict[str, Any]] = {}
            f0_hist: dict[str, list[int]] = {}
            f0_cents: dict[str, dict[str, int]] = {}
            for io in item_outcomes:
                fingerprints.update(io.fingerprints)
                voices.update(io.voices)
                f0_hist.update(io.f0_hist)
                f0_cents.update(io.f0_cents)
                used_objects.update(io.objects)
                records.extend(io.records)
                arrays.update(io.arrays)
                computed |= io.computed
                for k, v in io.timings.items():
                    stage_seconds[k] += v
                stage_runs.update(io.runs)

            records.sort(key=lambda r: (r.id, r.kind))
            t0 = time.perf_counter()
            records = assign_splits(apply_quality(records, fingerprints, cfg, voices=voices), cfg)
            stage_seconds["dataset checks"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            try:
                vid, published, prev = _publish(
                    out_p,
                    cfg,
                    records,
                    arrays,
                    inputs,
                    used_objects,
                    ui,
                    raw=raw_p,
                    source_seconds=secs_by_source,
                    transient=_transient(plans, item_plans, arrays, cfg),
                )
            except StoreError:
                raise
            except OSError as err:
                raise StoreError(write_error_message(out_p, err)) from None
            stage_seconds["write"] += time.perf_counter() - t0

    report = BuildReport(
        out=out_p,
        version=vid,
        published=published,
        records=records,
        stage_seconds=dict(stage_seconds),
        wall_seconds=time.perf_counter() - t_start,
        source_seconds_by_speaker=dict(src_secs),
        computed=computed,
        previous_version=prev,
        stage_runs=dict(stage_runs),
        f0_hist=f0_hist,
        f0_cents=f0_cents,
        repaired=repaired,
    )
    return report


def _no_audio_message(raw: Path, disc: Discovery, *, shown: int = 10) -> str:
    what = f"no audio files found in {raw}"
    if not disc.skipped:
        return f"{what}: it is empty; put one sub-folder of recordings per speaker in it"
    n = len(disc.skipped)
    lines = [f"{what}; {n} file{'s were' if n != 1 else ' was'} skipped:"]
    lines += [f"  {sk.rel}: {sk.reason}" for sk in disc.skipped[:shown]]
    if len(disc.skipped) > shown:
        lines.append(f"  ... and {len(disc.skipped) - shown} more")
    lines.append(
        "give the folder that holds the recordings (wav, flac, ogg, mp3 ...), one sub-folder per speaker"
    )
    return "\n".join(lines)


def _sound_object(store: ObjectStore, key: str) -> Any:
    """A cached object about to be copied into a shard, checked against its digests first.

    A damaged one is removed (so the next build recomputes it) and the build stops: damaged
    data is never copied into a version.
    """
    obj = store.get(key)
    problems = ["missing"] if obj is None else obj.problems()
    if problems:
        if obj is not None:
            store.delete(key)
        raise StoreError(
            f"cache object {store.path(key)} is {'missing' if obj is None else 'damaged'} "
            f"({'; '.join(problems)}); it was removed: run the build again to recompute it "
            "(nothing was published)"
        )
    return obj


def _shard_loader(
    store: ObjectStore, where: dict[str, Any], cfg: BuildConfig
) -> Callable[[], dict[str, npt.NDArray[Any]]]:
    def load() -> dict[str, npt.NDArray[Any]]:
        a = where["audio"]
        obj = _sound_object(store, a["key"])
        audio = obj.array("audio", mmap=True)
        if a["start"] is not None:
            audio = audio[a["start"] : a["end"]]
        out: dict[str, npt.NDArray[Any]] = {"audio": audio}
        for st in feature_stages(cfg):
            fo = _sound_object(store, where["features"][st.name])
            arrays = {n: fo.array(n) for n in fo.array_names}
            out.update(feature_view(st, arrays, int(where["n_frames"]), cfg))
        return out

    return load


def _readable_version(out: Path, vid: str) -> bool:
    try:
        read_version(out, vid)
    except StoreError:
        return False
    return True


def _transient(
    plans: Sequence[SourcePlan],
    items: Sequence[ItemPlan],
    arrays: dict[str, dict[str, Any]],
    cfg: BuildConfig,
) -> tuple[set[str], set[str]]:
    """Objects not kept once a version is published: (sources' decoded audio, intermediates).

    A source's decoded audio is re-decoded when needed (unless an item's audio is a plain
    slice of it); the loudness stage's output is recomputed from it when denoise follows.
    """
    direct = {w["audio"]["key"] for w in arrays.values() if w["audio"]["start"] is not None}
    drop_audio = {p.load_key for p in plans} - direct
    delete = set()
    for ip in items:
        lk, dk, _ = item_keys(ip, cfg)
        if lk not in (dk, ip.segment_key):
            delete.add(lk)
    return drop_audio, delete - direct


def _settle(
    store: ObjectStore,
    cfg: BuildConfig,
    arrays: dict[str, dict[str, Any]],
    index: dict[str, dict[str, Any]],
    transient: tuple[set[str], set[str]],
) -> None:
    """After publishing: shard rows replace the objects' copies of them; transient data goes.

    Only arrays whose shard rows are the object's array whole (same length: no cut to
    another frame grid) are replaced, so an object reads back exactly as it was written.
    """
    where_rows = {"sample": "audio", "frame": "frames", "unit": "units"}
    for item_id, where in arrays.items():
        ix = index.get(item_id)
        if ix is None:
            continue
        sid = str(ix["shard"])
        a = where["audio"]
        if a["start"] is None:
            obj = store.get(a["key"])
            if (
                obj is not None
                and "audio" in obj.array_names
                and obj.array("audio", mmap=True).dtype == np.float32
            ):
                store.spill(a["key"], {"audio": (sid, int(ix["audio"][0]), int(ix["audio"][1]))})
        for st in feature_stages(cfg):
            key = where["features"][st.name]
            obj = store.get(key)
            if obj is None:
                continue
            refs = {}
            for spec in st.stored_arrays:
                rows = ix.get(where_rows[spec.level])
                if rows is None or spec.name not in obj.array_names:
                    continue
                arr = obj.array(spec.name, mmap=True)
                if arr.shape[0] == int(rows[1]) - int(rows[0]) and arr.dtype == np.dtype(spec.dtype):
                    refs[spec.name] = (sid, int(rows[0]), int(rows[1]))
            store.spill(key, refs)
    drop_audio, delete = transient
    for key in sorted(drop_audio):
        store.drop_arrays(key, ["audio"])
    for key in sorted(delete):
        store.delete(key)


def _publish(
    out: Path,
    cfg: BuildConfig,
    records: list[Record],
    arrays: dict[str, dict[str, Any]],
    inputs: dict[str, str],
    used_objects: set[str],
    ui: Any,
    *,
    raw: Path | None = None,
    source_seconds: dict[str, float] | None = None,
    transient: tuple[set[str], set[str]] = (set(), set()),
) -> tuple[str | None, bool, str | None]:
    """Write shards and publish a new version unless nothing changed. Returns (id, published, previous)."""
    store = ObjectStore(out / "objects")
    ids = sorted(arrays)
    items = [
        ShardItem(
            id=i,
            key=arrays[i]["key"],
            n_samples=arrays[i]["n_samples"],
            n_frames=arrays[i]["n_frames"],
            n_units=int(arrays[i].get("n_units", 0)),
            load=_shard_loader(store, arrays[i], cfg),
        )
        for i in ids
    ]
    layout = shard_layout(cfg)
    n_mels = cfg.mel.n_mels
    groups = plan_shards(items, layout=layout, shard_size_bytes=int(cfg.store.shard_size_mb * 1e6))
    text = manifest_text(records)
    item_keys_map = {i: arrays[i]["key"] for i in ids}
    digest = digest_bytes(
        canonical_json(
            {
                "config": cfg.to_dict(),
                "manifest": digest_bytes(text),
                "items": item_keys_map,
                "groups": [[it.id for it in g] for g in groups],
            }
        )
    )
    pointer_ok = True
    try:
        prev = latest_version_id(out)
    except StoreError:  # a damaged pointer: the newest readable version is the parent
        pointer_ok = False
        prev = next((v for v in reversed(list_versions(out)) if _readable_version(out, v)), None)
    prev_rec: dict[str, Any] | None = None
    if prev is not None:
        try:
            prev_rec = read_version(out, prev)
        except StoreError:
            prev_rec = None
        if prev_rec is not None and prev_rec.get("digest") == digest:
            # nothing changed; rewrite what a damaged folder lacks (same content, same names)
            same: dict[str, dict[str, Any]] = {}
            for g in groups:
                same.update(write_shard(out / "shards", g, layout=layout)[1])
            _restore_manifest(out, prev, text)
            if not pointer_ok:
                publish_pointer(out, prev)
            sync_top_manifest(out, prev)
            _settle(store, cfg, arrays, same, transient)
            return prev, False, prev
    index: dict[str, dict[str, Any]] = {}
    shard_ids = []
    task = ui.task("write shards", len(groups))
    for g in groups:
        # a shard this version shares with an older one is checked first: only the latest
        # version's were checked when the build started
        sid, idx = write_shard(out / "shards", g, layout=layout, verify_existing=True)
        shard_ids.append(sid)
        index.update(idx)
        ui.advance(task)
    twin = unpublished_twin(out, digest, prev)
    if twin is not None:  # a build killed before LATEST was replaced wrote this very version
        _restore_manifest(out, twin, text)
        publish_pointer(out, twin)
        _settle(store, cfg, arrays, index, transient)
        return twin, True, prev
    vid = next_version_id(out)
    changes = _changes(prev_rec, cfg, item_keys_map)
    in_dataset = dataset_items(records)
    stats = {
        "records": len(records),
        "items": len(ids),
        "errors": sum(r.status == "error" for r in records),
        "dropped": sum(r.status == "dropped" for r in records),
        "skipped": sum(r.status == "skipped" for r in records),
        "hours": round(sum(r.duration_s or 0 for r in in_dataset) / 3600, 6),
        "split": {s: sum(r.split == s for r in in_dataset) for s in ("train", "val", "excluded")},
    }
    record = {
        "format": "svcprep-version",
        "format_version": VERSION_FORMAT,
        "id": vid,
        "parent": prev,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "digest": digest,
        "svcprep_version": __version__,
        "python": sys.version.split()[0],
        "libraries": library_versions(ALL_LIBRARIES),
        "config": cfg.to_dict(),
        "sample_rate_hz": cfg.load.sample_rate_hz,
        "hop_length": cfg.features.hop_length,
        "frame_count": cfg.features.frame_count,
        "n_mels": n_mels,
        "arrays": layout.to_json(),
        "manifest_schema_version": MANIFEST_SCHEMA_VERSION,
        "inputs": inputs,
        "raw": None if raw is None else str(raw.resolve()),
        "source_seconds": dict(sorted((source_seconds or {}).items())),
        "items": {i: {**index[i], "key": item_keys_map[i]} for i in ids},
        "shards": shard_ids,
        "objects": sorted(used_objects),
        "stats": stats,
        "changes": changes,
    }
    publish_version(out, vid, record, records)
    _settle(store, cfg, arrays, index, transient)
    return vid, True, prev


def _restore_manifest(out: Path, vid: str, text: str) -> None:
    """Rewrite version ``vid``'s manifest when it is not ``text`` (its digest says it must be)."""
    path = out / "versions" / f"{vid}.manifest.jsonl"
    want = text.encode("utf-8")
    try:
        if path.read_bytes() == want:
            return
    except OSError:
        pass
    atomic_write_bytes(path, want)


def _changes(prev: dict[str, Any] | None, cfg: BuildConfig, keys: dict[str, str]) -> dict[str, Any]:
    if prev is None:
        return {"added": len(keys), "removed": 0, "changed": 0, "config": []}
    old = {i: e.get("key") for i, e in prev.get("items", {}).items()}
    added = [i for i in keys if i not in old]
    removed = [i for i in old if i not in keys]
    changed = [i for i in keys if i in old and old[i] != keys[i]]
    new_cfg, old_cfg = cfg.to_dict(), prev.get("config", {})
    diffs = []
    for section, values in new_cfg.items():
        ov = old_cfg.get(section)
        if isinstance(values, dict) and isinstance(ov, dict):
            diffs += [f"{section}.{k}" for k in values if values[k] != ov.get(k)]
        elif values != ov:
            diffs.append(section)
    return {"added": len(added), "removed": len(removed), "changed": len(changed), "config": diffs}


def check_config(cfg: BuildConfig) -> BuildConfig:
    """The config of a quality scan: the recordings as they are, no variants, a fast F0 extractor."""
    return cfg.model_copy(
        update={
            "denoise": cfg.denoise.model_copy(update={"enabled": False}),
            "loudness": cfg.loudness.model_copy(update={"mode": "off"}),
            "augment": cfg.augment.model_copy(update={"enabled": False}),
            "f0": cfg.f0.model_copy(
                update={
                    "method": "dio",
                    "analysis_sample_rate_hz": 16000
                    if cfg.load.sample_rate_hz > 16000 and cfg.f0.f0_ceil_hz < 4000
                    else None,
                }
            ),
        }
    )


def check(
    raw: str | Path,
    manifest: str | Path,
    config: BuildConfig | None = None,
    *,
    jobs: int | None = None,
    progress: bool = False,
    console: Any = None,
    follow_links: bool = False,
) -> BuildReport:
    """Scan ``raw`` for quality problems and write the manifest, without keeping any features.

    The scan decodes, slices and measures every input as recorded (no denoise, no
    augmentation, dio for F0), in a temporary folder that is deleted afterwards. Nothing
    is written to ``raw``.

    Parameters
    ----------
    raw
        Folder of recordings, as for :func:`build`.
    manifest
        Where the manifest (JSON Lines) is written.
    config
        Thresholds and slicing as for a build.
    jobs, progress, console, follow_links
        As for :func:`build`.
    """
    import shutil
    import tempfile

    from svcprep.store.atomic import atomic_write_bytes

    target = Path(manifest)
    raw_p = Path(raw)
    if raw_p.exists() and target.resolve().is_relative_to(raw_p.resolve()):
        raise ConfigError(f"manifest {target} is inside the raw folder {raw}: write it elsewhere")
    tmp = Path(tempfile.mkdtemp(prefix="svcprep-check-"))
    try:
        report = build(
            raw,
            tmp / "out",
            check_config(config or BuildConfig()),
            jobs=jobs,
            progress=progress,
            console=console,
            follow_links=follow_links,
        )
        try:
            atomic_write_bytes(target, (tmp / "out" / "manifest.jsonl").read_bytes())
        except OSError as err:
            raise StoreError(f"cannot write the manifest {target}: {err.strerror or err}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.out = target
    report.published = False
    report.version = None
    return report
