"""A damaged dataset is detected, and a rebuild repairs it (the integrity issue)."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import svcprep
import svcprep.store.versions as versions_mod
from svcprep.cli import main
from svcprep.errors import StoreError
from svcprep.store.objects import ObjectStore
from svcprep.store.verify import verify
from svcprep.testing import tone

SETTINGS = [
    "denoise.spectral_gating=false",
    "f0.method=dio",
    "slice.enabled=false",
    "load.sample_rate_hz=16000",
]
SETTINGS += ["mel.fmax_hz=8000", "store.shard_size_mb=0.05"]


def _take(path: Path, hz: float, seconds: float = 2.2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(hz, duration_s=seconds, sample_rate_hz=16000, amplitude=0.4), 16000, subtype="PCM_16")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("integrity")
    for k, hz in enumerate((180.0, 220.0, 260.0, 300.0)):
        _take(root / "raw" / "s" / f"t{k}.wav", hz)
    _build(root / "raw", root / "out")
    return root


@pytest.fixture
def copy(base: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(base / "raw", tmp_path / "raw")
    shutil.copytree(base / "out", tmp_path / "out", symlinks=True)
    return tmp_path / "raw", tmp_path / "out"


def _build(raw: Path, out: Path) -> svcprep.BuildReport:
    return svcprep.build(raw, out, svcprep.load_config(overrides=SETTINGS), jobs=1)


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "shards").rglob("*.npy"))}


def _flip(path: Path, offset_from_end: int = 7) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_flipped_bit_in_a_shard_is_detected_and_the_rebuild_repairs_it(copy, capsys) -> None:
    raw, out = copy
    assert main(["verify", str(out)]) == 0
    before = _snapshot(out)
    victim = next(p for p in sorted((out / "shards").rglob("mel.npy")))
    _flip(victim)
    assert main(["verify", str(out)]) == 1
    assert str(victim) in capsys.readouterr().err
    with pytest.raises(StoreError, match="damaged"):
        svcprep.open(out, verify=True)
    rep = _build(raw, out)
    assert rep.repaired and not rep.published, "repaired in place: the version is the same"
    assert _snapshot(out) == before and verify(out).ok


def test_deleted_and_truncated_shards_and_objects_are_rebuilt(copy) -> None:
    raw, out = copy
    before = _snapshot(out)
    shards = sorted(p for p in (out / "shards").iterdir() if p.is_dir())
    assert len(shards) >= 2
    shutil.rmtree(shards[0])
    audio = shards[1] / "audio.npy"
    audio.write_bytes(audio.read_bytes()[:-100])
    store = ObjectStore(out / "objects")
    obj_file = next(f for k in store.all_keys() for f in store.path(k).glob("*.npy"))
    _flip(obj_file, 3)
    problems = verify(out).problems
    assert any(str(shards[0]) in p for p in problems) and any(str(audio) in p for p in problems)
    assert any(str(obj_file) in p for p in problems)
    with pytest.raises(StoreError):
        list(svcprep.open(out))
    _build(raw, out)
    assert _snapshot(out) == before and verify(out).ok
    assert len(svcprep.open(out, verify=True)) == 4


def test_a_damaged_cache_object_outside_the_latest_version_is_recomputed_in_one_build(copy) -> None:
    raw, out = copy
    first = svcprep.open(out).info["shards"]
    before = _snapshot(out)
    other = svcprep.load_config(overrides=[*SETTINGS, "mel.n_mels=64"])
    svcprep.build(raw, out, other, jobs=1)  # the 128-band mel objects now belong to v0001 only
    # their rows live in v0001's shards: damage one of those, then go back to 128 bands
    _flip(out / "shards" / first[0] / "mel.npy")
    rep = _build(raw, out)
    assert rep.stage_runs.get("mel", 0) >= 1, "the damaged rows were recomputed, not copied"
    latest = svcprep.open(out, verify=True)
    assert latest.info["shards"] == first
    now = _snapshot(out)
    assert {k: now[k] for k in before} == before and verify(out).ok


def test_unreadable_store_files_are_store_errors_and_a_build_repairs_them(copy) -> None:
    raw, out = copy
    (out / "LATEST").write_bytes(b"\xff\xfev0001\n")
    with pytest.raises(StoreError, match="LATEST"):
        svcprep.open(out)
    assert main(["versions", str(out)]) == 2
    rep = _build(raw, out)  # nothing changed: the pointer is rewritten to the newest version
    assert not rep.published and (out / "LATEST").read_text().strip() == "v0001"
    assert len(svcprep.open(out)) == 4

    vid = svcprep.open(out).version
    (out / "versions" / f"{vid}.manifest.jsonl").write_bytes(b'{"id": 1}\nnot json \xff\n')
    with pytest.raises(StoreError, match=f"{vid}.manifest.jsonl"):
        svcprep.open(out)
    (out / "manifest.jsonl").write_bytes(b"\x00garbage")
    rep = _build(raw, out)
    assert not rep.published
    ds = svcprep.open(out)
    assert (
        len(ds) == 4
        and (out / "manifest.jsonl").read_bytes() == (out / "versions" / f"{vid}.manifest.jsonl").read_bytes()
    )

    # a damaged pointer with changed content: the new version's parent is the newest kept one
    (out / "LATEST").write_bytes(b"garbage")
    rep = svcprep.build(raw, out, svcprep.load_config(overrides=[*SETTINGS, "mel.n_mels=64"]), jobs=1)
    assert rep.published and svcprep.open(out).info["parent"] == vid, "the history is kept"
    vid = svcprep.open(out).version

    (out / "versions" / f"{vid}.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(StoreError, match=f"{vid}.json"):
        svcprep.open(out)


def test_a_kill_before_latest_leaves_the_old_manifest_and_the_resume_reuses_the_version(
    copy, monkeypatch
) -> None:
    raw, out = copy
    old_top = (out / "manifest.jsonl").read_bytes()
    _take(raw / "s" / "t9.wav", 340.0)

    def killed(out_: Path, vid: str) -> None:
        raise KeyboardInterrupt  # as if SIGKILLed after the version files were written

    monkeypatch.setattr(versions_mod, "publish_pointer", killed)
    with pytest.raises(KeyboardInterrupt):
        _build(raw, out)
    monkeypatch.undo()
    assert (out / "manifest.jsonl").read_bytes() == old_top, "the top manifest follows LATEST"
    assert (out / "LATEST").read_text().strip() == "v0001"
    orphans = versions_mod.list_versions(out)
    rep = _build(raw, out)
    assert rep.published and versions_mod.list_versions(out) == orphans == ["v0001", "v0002"]
    assert svcprep.open(out).version == "v0002" and len(svcprep.open(out)) == 5
    assert json.loads((out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()[0]) == json.loads(
        (out / "versions" / "v0002.manifest.jsonl").read_text(encoding="utf-8").splitlines()[0]
    )


@pytest.mark.parametrize("where", ["free_space", "while_writing"])
def test_a_full_disk_is_named_and_the_previous_version_stays_readable(copy, monkeypatch, where) -> None:
    import svcprep.pipeline as pipeline_mod
    import svcprep.store.shards as shards_mod

    raw, out = copy
    _take(raw / "s" / "t9.wav", 340.0)
    if where == "free_space":
        usage = shutil.disk_usage(out)
        monkeypatch.setattr(shards_mod.shutil, "disk_usage", lambda p: usage._replace(free=1000))
    else:

        def full(store, key):  # the first array read of a new shard: the write "fails"
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(pipeline_mod, "_sound_object", full)
    with pytest.raises(StoreError, match="the disk is full"):
        _build(raw, out)
    monkeypatch.undo()
    assert not list((out / "shards").glob(".tmp-*")), "nothing half-written is left behind"
    ds = svcprep.open(out, verify=True)
    assert ds.version == "v0001" and len(ds) == 4
    assert all(np.isfinite(it["audio"]).all() for it in ds)
