"""The stage registry is the one declaration of every stage: keys, layout, validation and
the libraries whose numbers matter all follow from it, and the declarations are true."""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from pydantic import BaseModel

from svcprep.config import BuildConfig, load_config
from svcprep.stages import (
    DATASET_SECTIONS,
    FEATURE_STAGES,
    STAGES,
    Variant,
    feature_view,
    item_frames,
    run_augment,
    run_denoise,
    run_f0,
    run_loudness,
    run_mel,
    run_quality,
    run_quantize,
    run_units,
    run_volume,
    shard_layout,
    validate_item,
)
from svcprep.testing import sing_phrase

#: Top-level modules of numeric libraries -> the distribution a stage declares.
NUMERIC = {
    "numpy": "numpy",
    "scipy": "scipy",
    "librosa": "librosa",
    "soxr": "soxr",
    "pyworld": "pyworld",
    "noisereduce": "noisereduce",
    "soundfile": "soundfile",
    "_soundfile": "soundfile",
    "xxhash": "xxhash",
    "numba": "numba",
    "sklearn": "scikit-learn",
    "parselmouth": "praat-parselmouth",
    "resampy": "resampy",
    "samplerate": "samplerate",
    "torch": "torch",
    "torchfcpe": "torchfcpe",
    "einops": "einops",
    "transformers": "transformers",
    "onnxruntime": "onnxruntime",
}


@contextmanager
def _libraries_used() -> Iterator[set[str]]:
    """Distributions whose code runs inside the block (Python frames, C calls, Cython functions)."""
    used: set[str] = set()

    def prof(frame: types.FrameType, event: str, arg: Any) -> None:
        if event == "call":
            mod = str(frame.f_globals.get("__name__", "")).split(".")[0]
        elif event == "c_call":
            mod = str(getattr(arg, "__module__", "") or "").split(".")[0]
        else:
            return
        if mod in NUMERIC:
            used.add(NUMERIC[mod])

    # Cython functions (pyworld) raise no profile events: wrap them while the block runs
    from svcprep._compat import import_pyworld

    pyworld = import_pyworld()
    patched: dict[str, Any] = {}
    for name in dir(pyworld):
        fn = getattr(pyworld, name)
        if callable(fn) and type(fn).__name__ in ("cython_function_or_method", "builtin_function_or_method"):
            patched[name] = fn

            def wrap(*a: Any, _fn: Callable[..., Any] = fn, **k: Any) -> Any:
                used.add("pyworld")
                return _fn(*a, **k)

            setattr(pyworld, name, wrap)
    sys.setprofile(prof)
    try:
        yield used
    finally:
        sys.setprofile(None)
        for name, fn in patched.items():
            setattr(pyworld, name, fn)


def _voice(sr: int = 44100, seconds: float = 2.5) -> np.ndarray:
    v = sing_phrase(
        sample_rate_hz=sr, notes_hz=(220.0, 247.0, 262.0), note_s=seconds / 3, pause_s=0.1, seed=3
    )
    return v.audio.astype(np.float32)


def _cfg(*overrides: str) -> BuildConfig:
    return load_config(overrides=list(overrides))


def _stage_runs(name: str, tmp_path: Path) -> list[tuple[BuildConfig, Callable[[], object]]]:
    """(config, call) pairs that run the code behind one stage in each configuration it has.

    Inputs (and other stages' outputs) are prepared here, outside the traced call.
    """
    y = _voice()
    if name == "load":
        from svcprep.audio import load_audio

        path = tmp_path / "in.wav"
        sf.write(path, np.stack([y, 0.5 * y], axis=1), 48000, subtype="PCM_24")
        return [(_cfg(), lambda: load_audio(path, target_sr_hz=44100))]
    if name == "slice":
        from svcprep.dsp.slicing import slice_audio

        long = np.concatenate([y, np.zeros(44100, np.float32), y])
        return [(_cfg(), lambda: slice_audio(long, sample_rate_hz=44100))]
    if name == "loudness":
        return [
            (c, lambda c=c: run_loudness(y, c))
            for c in (_cfg("loudness.mode=loudness"), _cfg("loudness.mode=peak"))
        ]
    if name == "denoise":
        return [(c, lambda c=c: run_denoise(y, c)) for c in (_cfg(), _cfg("denoise.stationary=false"))]
    if name == "augment":
        runs: list[tuple[BuildConfig, Callable[[], object]]] = []
        for method in ("world", "phase_vocoder"):
            c = _cfg(f"augment.pitch_method={method}")
            runs.append((c, lambda c=c: run_augment(y, Variant("pitch", 2.0), c)))
            runs.append((c, lambda c=c: run_augment(y, Variant("stretch", 1.1), c)))
        return runs
    if name == "quantize":
        return [(_cfg("features.sample_format=pcm16"), lambda: run_quantize(y))]
    if name == "units":
        from tests._hubert import tiny_hubert_dir

        c = _cfg(f"content.encoder=hf:{tiny_hubert_dir(tmp_path)}@l1")
        return [(c, lambda: run_units(y, c))]
    if name == "f0":
        cfgs = [_cfg(f"f0.method={m}") for m in ("harvest", "dio", "pyin")]
        cfgs.append(_cfg("f0.method=dio", "f0.analysis_sample_rate_hz=16000"))
        if all(importlib.util.find_spec(m) is not None for m in ("torch", "torchfcpe")):
            cfgs.append(_cfg("f0.method=fcpe"))
        return [(c, lambda c=c: run_f0(y, c)) for c in cfgs]
    if name == "mel":
        return [(_cfg(), lambda: run_mel(y, _cfg()))]
    if name == "volume":
        return [(_cfg(), lambda: run_volume(y, _cfg()))]
    cfg = _cfg()
    f0 = run_f0(y, cfg)
    if name == "validate":
        feats = {**f0, "mel": run_mel(y, cfg), "volume": run_volume(y, cfg)}
        return [(cfg, lambda: validate_item(y, feats, cfg))]
    if name == "quality":
        return [(cfg, lambda: run_quality(y, f0, cfg))]
    raise AssertionError(f"no runner for stage {name!r}: add one to _stage_runs")  # pragma: no cover


@pytest.mark.parametrize("name", list(STAGES))
def test_a_stage_uses_only_the_numeric_libraries_it_declares(name: str, tmp_path: Path) -> None:
    for cfg, call in _stage_runs(name, tmp_path):
        call()  # warm up: imports and JIT compilation are not the stage's numbers
        with _libraries_used() as used:
            call()
        declared = set(STAGES[name].libraries_for(cfg)) | {"numpy"}
        undeclared = used - declared
        assert not undeclared, (
            f"stage {name!r} computes with {sorted(undeclared)} but declares {sorted(declared)}"
        )


def _fields(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, Any]]:
    for fname, info in model.model_fields.items():
        yield f"{prefix}{fname}", info


def _all_config_fields() -> dict[str, Any]:
    out = {}
    cfg = BuildConfig()
    for section_name, info in BuildConfig.model_fields.items():
        public = info.alias or section_name
        section = getattr(cfg, section_name)
        if isinstance(section, BaseModel):
            out.update(dict(_fields(type(section), f"{public}.")))
    return out


def _neutral(info: Any) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and extra.get("affects_output") is False


def test_every_config_field_is_keyed_by_a_stage_neutral_or_dataset_level() -> None:
    cfg = BuildConfig()
    keyed = set().union(*(st.config_paths(cfg) for st in STAGES.values()))
    loose = []
    for path, info in _all_config_fields().items():
        section = path.split(".")[0]
        if path in keyed or _neutral(info) or section in DATASET_SECTIONS:
            continue
        loose.append(path)
    assert not loose, f"fields that change output but enter no stage key: {loose}"


def _probe_block_frames(tmp_path: Path) -> tuple[Any, Any]:
    from svcprep.audio import load_audio

    path = tmp_path / "long.flac"
    y = np.concatenate([_voice(48000, 3.0)] * 3)
    sf.write(path, y, 48000, subtype="PCM_24")
    a = load_audio(path, target_sr_hz=44100, block_frames=4096).samples
    b = load_audio(path, target_sr_hz=44100, block_frames=1 << 20).samples
    return a, b


def _probe_shard_size(tmp_path: Path) -> tuple[Any, Any]:
    import svcprep

    raw = tmp_path / "raw"
    (raw / "ann").mkdir(parents=True)
    for k in range(3):
        sf.write(raw / "ann" / f"t{k}.wav", _voice(44100, 2.4 + 0.3 * k), 44100, subtype="PCM_16")
    outs = []
    for mb in ("0.05", "256"):
        out = tmp_path / f"out{mb}"
        svcprep.build(
            raw,
            out,
            _cfg(f"store.shard_size_mb={mb}", "denoise.spectral_gating=false", "f0.method=dio"),
            jobs=1,
        )
        ds = svcprep.open(out)
        outs.append({i: {k: np.array(v) for k, v in ds.arrays(i).items()} for i in ds.ids})
    assert len({len(list((tmp_path / f"out{mb}" / "shards").iterdir())) for mb in ("0.05", "256")}) == 2
    return outs[0], outs[1]


#: Every field marked output-neutral, with a probe returning two outputs that must be equal.
NEUTRAL_PROBES: dict[str, Callable[[Path], tuple[Any, Any]]] = {
    "load.block_frames": _probe_block_frames,
    "store.shard_size_mb": _probe_shard_size,
}


def test_every_output_neutral_field_has_a_probe() -> None:
    neutral = {p for p, info in _all_config_fields().items() if _neutral(info)}
    assert neutral == set(NEUTRAL_PROBES), "add a probe for each field marked affects_output=False"


@pytest.mark.parametrize("path", sorted(NEUTRAL_PROBES))
def test_an_output_neutral_field_does_not_change_output(path: str, tmp_path: Path) -> None:
    a, b = NEUTRAL_PROBES[path](tmp_path)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for i in a:
            for k in a[i]:
                assert np.array_equal(a[i][k], b[i][k]), (path, i, k)
    else:
        assert np.array_equal(a, b), path


def test_f0_chunking_changes_output_so_it_enters_the_key_unless_default() -> None:
    f0 = STAGES["f0"]
    assert "chunk_s" not in f0.config(BuildConfig())  # caches of earlier releases stay valid
    assert f0.key(BuildConfig(), "up") != f0.key(_cfg("f0.chunk_s=10"), "up")
    y = np.concatenate([_voice(16000, 12.0)] * 2)
    cfg16 = _cfg("load.sample_rate_hz=16000", "mel.fmax_hz=8000", "features.hop_length=160", "f0.method=dio")
    a = run_f0(y, cfg16)["f0_raw"]
    b = run_f0(y, cfg16.model_copy(update={"f0": cfg16.f0.model_copy(update={"chunk_s": 5.0})}))["f0_raw"]
    assert a.shape == b.shape  # the probe that made chunk_s a keyed field: outputs may differ


def test_the_quality_stage_compares_with_the_f0_stage_prepass_only_where_there_is_one() -> None:
    y = _voice(44100, 2.0)
    default = run_f0(y, BuildConfig())
    assert default["f0_prepass"].shape == default["f0_raw"].shape
    metrics, _ = run_quality(y, default, BuildConfig())
    assert "f0_disagreement_ratio" in metrics
    for opts in (
        ("f0.search_range=fixed",),
        ("f0.method=dio",),
        ("f0.match=sovits", "features.frame_count=floor"),
    ):
        cfg = _cfg(*opts)
        arrays = run_f0(y, cfg)
        assert "f0_prepass" not in arrays, opts
        assert "f0_disagreement_ratio" not in run_quality(y, arrays, cfg)[0], opts
    # the fitted range changes harvest's output: it is part of the F0 key
    assert STAGES["f0"].key(BuildConfig(), "up") != STAGES["f0"].key(_cfg("f0.search_range=fixed"), "up")


def test_frame_count_convention_shares_centered_f0_and_volume_objects() -> None:
    floor, centered = _cfg("features.frame_count=floor"), _cfg()
    for name in ("f0", "volume", "quality"):
        assert STAGES[name].key(floor, "up") == STAGES[name].key(centered, "up"), name
    for name in ("mel", "validate"):
        assert STAGES[name].key(floor, "up") != STAGES[name].key(centered, "up"), name


def test_a_centered_result_cut_to_the_floor_grid_equals_computing_on_it() -> None:
    y = _voice()
    floor = _cfg("features.frame_count=floor")
    n = item_frames(y.size, floor)
    for st in FEATURE_STAGES:
        if st.grid != "centered":
            continue
        assert st.compute is not None
        full = st.compute(y, floor, st.frames(y.size, floor))
        cut = feature_view(st, full, n, floor)
        for a in st.arrays:
            assert cut[a.name].shape[0] == n == full[a.name].shape[0] - 1
        if st.name == "f0":
            direct = run_f0(y, floor)  # computed on the floor grid itself
            assert np.array_equal(cut["uv"], direct["uv"])
            assert np.array_equal(cut["f0_raw"], direct["f0_raw"])
            assert np.array_equal(cut["f0"], direct["f0"])
        if st.name == "volume":
            assert np.array_equal(cut["volume"], run_volume(y, floor))


def test_shard_layout_and_validation_follow_the_registry() -> None:
    cfg = _cfg("mel.n_mels=80")
    layout = shard_layout(cfg)
    stored = [a.name for st in FEATURE_STAGES if st.enabled(cfg) for a in st.stored_arrays]
    assert layout.names() == ("audio", *stored) and "units" not in stored  # units: content.encoder only
    assert layout.width("mel") == 80 and layout.width("f0") == 0
    assert "f0_raw" not in layout.names()  # cache-only arrays stay out of shards

    y = _voice()
    feats = {**run_f0(y, cfg), "mel": run_mel(y, cfg), "volume": run_volume(y, cfg)}
    assert validate_item(y, feats, cfg) == ([], None)
    for name in stored:  # every stored array is checked, by the declaration alone
        short = {**feats, name: feats[name][:-1]}
        flags, error = validate_item(y, short, cfg)
        assert "frame_mismatch" in flags and error and name in error
        if np.issubdtype(feats[name].dtype, np.floating):
            bad = np.array(feats[name], copy=True)
            bad.flat[0] = np.nan
            flags, error = validate_item(y, {**feats, name: bad}, cfg)
            assert "nan_features" in flags and error and name in error


def test_stage_versions_and_upstreams_are_declared_once() -> None:
    names = list(STAGES)
    for st in STAGES.values():
        assert st.version >= 1
        for up in st.upstream:
            assert up in STAGES and names.index(up) < names.index(st.name), (st.name, up)
        if st.compute is not None:  # feature stages: on the grid, or the encoder's own unit rate
            assert st.arrays and all(a.level in ("frame", "unit") for a in st.arrays)
