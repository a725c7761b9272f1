"""The store: stage-level cache reuse, versions, shards readable by numpy alone, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import svcprep
from svcprep.errors import StoreError
from svcprep.store.keys import FileHashMemo, stage_key
from svcprep.testing import sing_phrase
from tests.test_build import tree_digest

BASE = ["denoise.spectral_gating=false", "f0.method=dio", "slice.min_segment_s=1.0"]


def _cfg(*extra: str) -> svcprep.BuildConfig:
    return svcprep.load_config(overrides=[*BASE, *extra])


def _write_song(path: Path, seed: int, sr: int = 22050) -> None:
    rng = np.random.default_rng(seed)
    notes = tuple(float(x) for x in rng.uniform(150, 400, size=4))
    v = sing_phrase(sample_rate_hz=sr, notes_hz=notes, note_s=0.6, pause_s=0.5, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, v.audio, sr)


def _raw(root: Path, n: int = 4) -> Path:
    for i in range(n):
        _write_song(root / f"spk{i % 2}" / f"song{i}.wav", seed=i + 1)
    return root


def test_stage_keys_depend_on_what_matters_only() -> None:
    k = stage_key("mel", version=1, config={"n_mels": 128}, upstream="abc", libraries=["numpy"])
    assert k == stage_key("mel", version=1, config={"n_mels": 128}, upstream="abc", libraries=["numpy"])
    assert k != stage_key("mel", version=2, config={"n_mels": 128}, upstream="abc", libraries=["numpy"])
    assert k != stage_key("mel", version=1, config={"n_mels": 80}, upstream="abc", libraries=["numpy"])
    assert k != stage_key("mel", version=1, config={"n_mels": 128}, upstream="abd", libraries=["numpy"])
    # block sizes and shard sizes never enter keys (F0 chunking does: it changes output)
    c1 = _cfg()
    c2 = _cfg("store.shard_size_mb=1", "load.block_frames=8192")
    from svcprep.pipeline import key_for

    for stage in ("load", "slice", "denoise", "f0", "mel", "volume"):
        assert key_for(c1, stage, "up") == key_for(c2, stage, "up"), stage


def test_file_hash_memo_rereads_only_changed_files(tmp_path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"1234")
    memo = FileHashMemo(tmp_path / "memo.json")
    d1 = memo.digest(f)
    memo.save()
    memo2 = FileHashMemo(tmp_path / "memo.json")
    assert memo2.lookup(f) == d1
    f.write_bytes(b"12345")
    assert memo2.lookup(f) is None
    assert memo2.digest(f) != d1


def test_changing_only_mel_recomputes_only_mel(tmp_path) -> None:
    raw, out = _raw(tmp_path / "raw"), tmp_path / "out"
    r1 = svcprep.build(raw, out, _cfg(), jobs=2)
    assert r1.published and r1.stage_runs["load"] == 4
    n_items = len(r1.items)
    r2 = svcprep.build(raw, out, _cfg("mel.n_mels=80"), jobs=2)
    assert r2.published
    assert set(r2.stage_runs) == {"mel", "validate"}
    assert r2.stage_runs["mel"] == n_items
    assert svcprep.open(out)[0]["mel"].shape[1] == 80
    assert svcprep.open(out, version=r1.version)[0]["mel"].shape[1] == 128


def test_changing_the_denoiser_recomputes_denoise_and_after_only(tmp_path) -> None:
    raw, out = _raw(tmp_path / "raw"), tmp_path / "out"
    svcprep.build(raw, out, _cfg(), jobs=2)
    r = svcprep.build(raw, out, _cfg("denoise.highpass_hz=60"), jobs=2)
    # the decoded sources are not kept once published (2x the raw audio on disk): denoise
    # needs them, so each source is decoded once more, but nothing is sliced again
    assert "slice" not in r.stage_runs and r.stage_runs["load"] == len({i["source"] for i in r.items})
    n = len(r.items)
    assert r.stage_runs["denoise"] == r.stage_runs["f0"] == r.stage_runs["mel"] == r.stage_runs["volume"] == n


def test_adding_changing_removing_one_input_touches_only_it(tmp_path) -> None:
    raw, out = _raw(tmp_path / "raw"), tmp_path / "out"
    r1 = svcprep.build(raw, out, _cfg("store.shard_size_mb=0.2"), jobs=2)
    _write_song(raw / "spk0" / "new.wav", seed=99)
    r2 = svcprep.build(raw, out, _cfg("store.shard_size_mb=0.2"), jobs=2)
    assert r2.stage_runs["load"] == 1
    new_items = [r for r in r2.items if r["source"] == "spk0/new.wav"]
    assert r2.stage_runs["f0"] == len(new_items) > 0
    v1, v2 = (json.loads((out / "versions" / f"{v}.json").read_text()) for v in (r1.version, r2.version))
    assert len(set(v1["shards"]) & set(v2["shards"])) >= 1, "versions must share unchanged shards"
    (raw / "spk0" / "new.wav").unlink()
    r3 = svcprep.build(raw, out, _cfg("store.shard_size_mb=0.2"), jobs=2)
    assert not r3.stage_runs.get("load") and r3.published
    assert sorted(r["id"] for r in r3.items) == sorted(r["id"] for r in r1.items)


def test_shards_are_plain_numpy_without_pickle(tmp_path) -> None:
    raw, out = _raw(tmp_path / "raw", 2), tmp_path / "out"
    svcprep.build(raw, out, _cfg(), jobs=1)
    ds = svcprep.open(out)
    for shard in (out / "shards").iterdir():
        index = json.loads((shard / "index.json").read_text())
        arrays = {p.stem: np.load(p, mmap_mode="r", allow_pickle=False) for p in shard.glob("*.npy")}
        assert set(arrays) == {"audio", "f0", "uv", "coarse_f0", "mel", "volume"}
        for e in index["items"]:
            a0, a1 = e["audio"]
            f0, f1 = e["frames"]
            item = ds[e["id"]]
            np.testing.assert_array_equal(arrays["audio"][a0:a1], item["audio"])
            np.testing.assert_array_equal(arrays["mel"][f0:f1], item["mel"])
            np.testing.assert_array_equal(arrays["f0"][f0:f1], item["f0"])
    for p in out.rglob("*"):
        assert p.suffix not in (".pkl", ".pickle", ".pt")


def test_open_errors_are_clear(tmp_path) -> None:
    with pytest.raises(StoreError, match="no built dataset"):
        svcprep.open(tmp_path)
    with pytest.raises(StoreError, match="not a folder"):
        svcprep.open(tmp_path / "missing")


def _run_build(raw: Path, out: Path) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "svcprep.cli",
        "build",
        str(raw),
        str(out),
        "-j",
        "1",
        "--no-progress",
        "-q",
    ]
    for b in BASE:
        args += ["--set", b]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_gives_the_same_result(tmp_path) -> None:
    raw = _raw(tmp_path / "raw", 4)
    ref = tmp_path / "ref"
    t0 = time.monotonic()
    p = _run_build(raw, ref)
    assert p.wait(timeout=300) == 0
    took = time.monotonic() - t0
    out = tmp_path / "out"
    kills = 0
    # kill points spread over the build, whatever this machine's speed: each resumed run
    # starts with what the killed ones cached, so later kills come sooner
    for share in (0.1, 0.2, 0.3, 0.4, 0.5, 0.65):
        delay = share * took
        p = _run_build(raw, out)
        time.sleep(delay)
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            kills += 1
        p.wait(timeout=300)
        # readers never see a partial version: either none yet, or a complete one
        if (out / "LATEST").exists():
            ds = svcprep.open(out)
            for item in ds:
                assert item["mel"].shape[0] == item["f0"].shape[0]
    assert kills >= 3, "the build finished too fast to be killed mid-way"
    p = _run_build(raw, out)
    assert p.wait(timeout=300) == 0
    assert (out / "manifest.jsonl").read_bytes() == (ref / "manifest.jsonl").read_bytes()
    assert tree_digest(out / "shards") == tree_digest(ref / "shards")
    assert not [q for q in out.rglob(".tmp-*")], "stale temporaries must be swept"


def test_full_disk_gives_a_clear_error_and_keeps_the_previous_version(tmp_path) -> None:
    raw, out = _raw(tmp_path / "raw", 2), tmp_path / "out"
    r1 = svcprep.build(raw, out, _cfg(), jobs=1)
    code = f"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
from svcprep.cli import main
sys.exit(main(["build", {str(raw)!r}, {str(out)!r}, "-j", "1", "--no-progress",
               {", ".join(repr(x) for b in BASE for x in ("--set", b))}, "--set", "mel.n_mels=64"]))
"""
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert res.returncode == 2, res.stderr
    assert "cannot write to the output folder" in res.stderr and "previously published version" in res.stderr
    ds = svcprep.open(out)
    assert ds.version == r1.version and ds[0]["mel"].shape[1] == 128


def test_changing_one_item_changes_at_most_two_shards() -> None:
    import hashlib

    from svcprep.config import BuildConfig
    from svcprep.stages import shard_layout
    from svcprep.store.shards import ShardItem, plan_shards, shard_id

    layout = shard_layout(BuildConfig())

    def item(i: int, salt: str = "") -> ShardItem:
        key = hashlib.sha256(f"{i}{salt}".encode()).hexdigest()
        return ShardItem(id=f"i{i:04d}", key=key, n_samples=4 * 44100, n_frames=345, load=dict)

    items = [item(i) for i in range(400)]

    def ids(its: list[ShardItem]) -> set[str]:
        return {
            shard_id(g, layout=layout) for g in plan_shards(its, layout=layout, shard_size_bytes=40_000_000)
        }

    base = ids(items)
    assert len(base) >= 4
    rng = np.random.default_rng(0)
    for j in rng.integers(0, 400, size=40):
        changed = list(items)
        changed[j] = item(int(j), "new")
        assert len(ids(changed) - base) <= 2
        assert len(ids(items[:j] + items[j + 1 :]) - base) <= 2  # removal


def test_atomic_writes_get_the_permissions_of_a_plain_open(tmp_path) -> None:
    import os

    from svcprep.store.atomic import atomic_write_text

    old = os.umask(0o027)
    try:
        import svcprep.store.atomic as atomic

        atomic.file_mode.cache_clear()
        atomic_write_text(tmp_path / "a.json", "{}")
        (tmp_path / "b.json").write_text("{}")
        assert (
            (tmp_path / "a.json").stat().st_mode & 0o777
            == (tmp_path / "b.json").stat().st_mode & 0o777
            == 0o640
        )
    finally:
        os.umask(old)
        atomic.file_mode.cache_clear()


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _shard_digests(out: Path) -> dict[str, str]:
    ds = svcprep.open(out)
    return {
        name: digest
        for sid in ds.info["shards"]
        for name, digest in json.loads((out / "shards" / sid / "index.json").read_text())["digests"].items()
    }


def test_no_array_is_stored_twice_and_out_stays_under_three_times_the_raw_audio(tmp_path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    for i in range(3):  # at the dataset rate, so that sizes compare
        _write_song(raw / f"spk{i % 2}" / f"song{i}.wav", seed=i + 1, sr=44100)
    raw_pcm16 = sum(sf.info(p).frames * 2 for p in raw.rglob("*.wav"))  # mono 16-bit samples
    svcprep.build(raw, out, svcprep.load_config(overrides=["slice.min_segment_s=1.0"]), jobs=2)
    shards, objects = _disk_bytes(out / "shards"), _disk_bytes(out / "objects")
    # the shards hold float32 audio and the features; the cache keeps only what they do not
    # (small per-frame arrays and metadata), and no decoded source audio
    assert objects < 0.1 * shards
    assert _disk_bytes(out) <= 3 * raw_pcm16
    assert not list((out / "objects").rglob("audio.npy"))


def test_objects_read_from_shards_rebuild_byte_identical_to_a_fresh_build(tmp_path) -> None:
    raw, out, fresh = _raw(tmp_path / "raw"), tmp_path / "out", tmp_path / "fresh"
    svcprep.build(raw, out, _cfg(), jobs=1)
    r = svcprep.build(raw, out, _cfg("mel.n_mels=80"), jobs=1)
    assert set(r.stage_runs) == {"mel", "validate"}  # audio, F0 and volume came from the shard
    svcprep.build(raw, fresh, _cfg("mel.n_mels=80"), jobs=1)
    assert _shard_digests(out) == _shard_digests(fresh)
    assert (out / "manifest.jsonl").read_bytes() == (fresh / "manifest.jsonl").read_bytes()


def test_after_gc_the_cache_still_reads_from_the_kept_shards(tmp_path) -> None:
    from svcprep.store.manage import gc
    from svcprep.store.verify import verify

    raw, out = _raw(tmp_path / "raw"), tmp_path / "out"
    svcprep.build(raw, out, _cfg(), jobs=1)
    svcprep.build(raw, out, _cfg("mel.n_mels=80"), jobs=1)  # objects now point into v0002's shards
    gc(out, keep=1)
    assert len(list((out / "shards").iterdir())) == 1
    assert not verify(out).problems
    r = svcprep.build(raw, out, _cfg("mel.n_mels=64"), jobs=1)
    assert set(r.stage_runs) == {"mel", "validate"}
    r0 = svcprep.build(raw, out, _cfg(), jobs=1)  # back to the first config: its mel went with gc
    assert set(r0.stage_runs) == {"mel", "validate"} and r0.published
