"""Content units as a cached build stage (``content.encoder`` / ``build --encoder``), read and exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import svcprep
from svcprep.config import load_config
from svcprep.dsp.resample import resample
from svcprep.export import export_dataset
from svcprep.presets import get_preset
from svcprep.testing import sing_phrase
from tests._hubert import tiny_hubert_dir


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("units")
    model = tiny_hubert_dir(tmp)
    spec = f"hf:{model}@l1"
    raw = tmp / "raw"
    for spk, notes in (("ann", (220.0, 262.0)), ("ben", (131.0, 147.0))):
        for k in range(2):
            v = sing_phrase(sample_rate_hz=40000, notes_hz=notes, note_s=0.9, pause_s=0.15, seed=k)
            (raw / spk).mkdir(parents=True, exist_ok=True)
            sf.write(raw / spk / f"take{k}.wav", v.audio, 40000, subtype="FLOAT")
    cfg = load_config(
        base=get_preset("rvc-v2-40k").config,
        overrides=[
            "f0.method=dio",
            "slice.enabled=false",
            "denoise.spectral_gating=false",
            f"content.encoder={spec}",
        ],
    )
    out = tmp / "out"
    first = svcprep.build(raw, out, cfg, jobs=1)
    again = svcprep.build(raw, out, cfg, jobs=1)
    return {"out": out, "spec": spec, "first": first, "again": again, "cfg": cfg, "tmp": tmp}


def test_units_are_the_encoders_output_on_the_items_16k_audio(built: dict) -> None:  # type: ignore[type-arg]
    from svcprep.encoders import hubert_frames, load_builtin_encoder

    ds = svcprep.open(built["out"])
    assert "units" in ds.array_names and ds.layout.width("units") == 256
    enc = load_builtin_encoder(built["spec"])
    assert ds.ids
    for item_id in ds.ids:
        it = ds[item_id]
        y16 = resample(np.asarray(it["audio"]), orig_sr_hz=40000, target_sr_hz=16000)
        units = np.asarray(it["units"])
        assert units.shape == (hubert_frames(y16.size), 256) and units.dtype == np.float32
        np.testing.assert_array_equal(units, enc(y16))
    assert "units" in built["first"].stage_runs
    assert "units" not in built["again"].stage_runs  # cached: the rebuild reads them back


def test_the_key_follows_the_model_not_its_path(built: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    import shutil

    from svcprep.stages import STAGES

    cfg = built["cfg"]
    moved = tmp_path / "elsewhere"
    shutil.copytree(Path(built["spec"][3:].rsplit("@", 1)[0]), moved)
    other = cfg.model_copy(update={"content": cfg.content.model_copy(update={"encoder": f"hf:{moved}@l1"})})
    units = STAGES["units"]
    assert units.key(cfg, "up") == units.key(other, "up")  # the same weights elsewhere: same cache
    assert "units" not in STAGES["f0"].config(cfg)


def test_export_writes_the_stored_units_without_an_encoder(built: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    ds = svcprep.open(built["out"])
    rep = export_dataset(built["out"], "rvc", tmp_path / "rvc", include_flags=["low_bandwidth"])
    assert rep.items and not any("3_feature" in t for t in rep.todo)
    feats = sorted((tmp_path / "rvc" / "3_feature256").glob("*.npy"))
    assert len(feats) == len(rep.items)
    stored = {i: np.asarray(ds[i]["units"]) for i in rep.items}
    got = [np.load(f) for f in feats]
    for g in got:
        assert g.shape[1] == 256 and any(g.shape == s.shape and np.array_equal(g, s) for s in stored.values())


def test_build_encoder_flag_and_a_missing_model_fail_before_work(built: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    from svcprep.cli import _parser, _resolve_config
    from svcprep.errors import ConfigError

    args = _parser().parse_args(["build", "raw", "out", "--encoder", built["spec"]])
    assert _resolve_config(args).content.encoder == built["spec"]
    (tmp_path / "raw").mkdir()
    missing = load_config(overrides=[f"content.encoder=hubert:{tmp_path}/x.pt"])
    with pytest.raises(ConfigError, match=r"x\.pt"):
        svcprep.build(tmp_path / "raw", tmp_path / "o", missing)
    assert not (tmp_path / "o").exists()  # nothing was started
    with pytest.raises(ConfigError, match=r"content\.encoder"):
        load_config(overrides=["content.encoder=hubert:model.pt@nosuchlayer"])
