"""Builds on a Dask cluster (``build --dask``): the bytes of a local build, and a cluster's faults.

One ``LocalCluster`` of two worker processes serves the module (it takes a few seconds to
start, and its workers import the DSP libraries once). Faults are injected from the tests
by worker plugins (tests/_daskplugins.py), never by hooks in svcprep.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

import svcprep
from svcprep.cli import main
from svcprep.errors import ClusterError, ConfigError, StoreError
from svcprep.store.objects import ObjectStore
from svcprep.testing import sing_phrase

SETTINGS = ["denoise.enabled=false", "slice.min_segment_s=1.0", "f0.method=dio"]
SR = 22050


def _take(path: Path, seed: int, base_hz: float) -> None:
    v = sing_phrase(
        sample_rate_hz=SR, notes_hz=(base_hz, base_hz * 1.12, base_hz * 1.26), note_s=0.5, seed=seed
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, v.audio, SR, subtype="PCM_16")


def _cfg() -> svcprep.BuildConfig:
    return svcprep.load_config(overrides=SETTINGS)


def published(out: Path) -> dict[str, bytes]:
    """Every published file's bytes (the version record without its creation time)."""
    files = {"manifest.jsonl": (out / "manifest.jsonl").read_bytes()}
    for p in sorted((out / "shards").rglob("*")):
        if p.is_file():
            files[str(p.relative_to(out))] = p.read_bytes()
    for p in sorted((out / "versions").iterdir()):
        data = p.read_bytes()
        if p.suffix == ".json":
            record = json.loads(data)
            record.pop("created_utc")
            data = json.dumps(record, sort_keys=True).encode()
        files[str(p.relative_to(out))] = data
    return files


@dataclass(frozen=True)
class Reference:
    raw: Path
    out: Path
    items: int


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """Three short takes by two speakers, built locally with one job."""
    root = tmp_path_factory.mktemp("dask-ref")
    raw = root / "raw"
    _take(raw / "ann" / "a1.wav", 1, 220.0)
    _take(raw / "ann" / "slow-a2.wav", 2, 262.0)
    _take(raw / "bob" / "b1.wav", 3, 131.0)
    report = svcprep.build(raw, root / "out", _cfg(), jobs=1)
    assert report.exit_code == 0 and len(report.items) >= 3
    return Reference(raw, root / "out", len(report.items))


def _warm_up() -> None:
    import importlib

    for name in ("pipeline", "audio", "dsp.slicing", "dsp.f0", "dsp.mel"):
        importlib.import_module(f"svcprep.{name}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A client of two worker processes, which import svcprep while the reference builds.

    The scheduler gives a task up at the first death of its worker (``allowed-failures`` 0:
    each worker restart costs seconds here), so svcprep's own second try, with nothing else
    queued on the worker, is what runs a killed task again.
    """
    distributed = pytest.importorskip("distributed")
    import dask

    settings = {"distributed.scheduler.allowed-failures": 0, "distributed.scheduler.worker-saturation": 1.0}
    with dask.config.set(settings):
        lc = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
    client = distributed.Client(lc, set_as_default=False)
    warm = [client.submit(_warm_up, workers=[w], pure=False) for w in client.nthreads()]
    try:
        yield client
        del warm
    finally:
        client.close()
        lc.close()


def _with_plugin(client: Any, plugin: Any) -> Any:
    client.register_plugin(plugin)
    return plugin


# --- the same bytes -----------------------------------------------------------------------


def test_a_cluster_build_is_byte_identical_to_a_local_one_and_a_local_rebuild_is_a_noop(
    cluster: Any, reference: Reference, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = svcprep.build(reference.raw, out, _cfg(), dask=cluster)
    assert report.exit_code == 0 and report.published and report.stage_runs["f0"] == reference.items
    assert published(out) == published(reference.out)
    assert not list(out.glob(".tmp-*")), "the build's marker file must be removed"
    again = svcprep.build(reference.raw, out, _cfg(), jobs=1)
    assert not again.published and not again.computed


# --- faults -------------------------------------------------------------------------------


def test_a_worker_killed_mid_build_is_replaced_and_changes_no_byte(
    cluster: Any, reference: Reference, tmp_path: Path
) -> None:
    from tests._daskplugins import LoadAudioFault

    killed = tmp_path / "killed"
    fault = LoadAudioFault("svcprep-kill", "/ann/", "kill-once", once_file=str(killed))
    plugin = _with_plugin(cluster, fault)
    try:
        report = svcprep.build(reference.raw, tmp_path / "out", _cfg(), dask=cluster)
    finally:
        cluster.unregister_worker_plugin(plugin.name)
    assert killed.exists(), "no worker was killed"
    assert report.exit_code == 0, [r.error for r in report.errors]
    assert published(tmp_path / "out") == published(reference.out)


def test_a_build_whose_client_is_killed_resumes_locally_to_the_same_bytes(
    cluster: Any, reference: Reference, tmp_path: Path
) -> None:
    from tests._daskplugins import LoadAudioFault

    out = tmp_path / "out"
    sets = [x for s in SETTINGS for x in ("--set", s)]
    plugin = _with_plugin(cluster, LoadAudioFault("svcprep-slow", "slow-", "sleep", sleep_s=3.0))
    try:
        address = cluster.scheduler.address
        args = ["build", str(reference.raw), str(out), "--dask", address, "--no-progress", "-q", *sets]
        proc = subprocess.Popen(
            [sys.executable, "-m", "svcprep.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 90
        store = ObjectStore(out / "objects")
        while not [k for k in store.all_keys() if not k.startswith(".")]:  # a source is finished
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the cluster build wrote nothing"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        cluster.unregister_worker_plugin(plugin.name)
    assert not (out / "manifest.jsonl").exists(), "nothing may be published by the killed build"
    report = svcprep.build(reference.raw, out, _cfg(), jobs=1)
    assert report.exit_code == 0 and report.stage_runs.get("load", 0) < 3, "the cluster's work was lost"
    assert published(out) == published(reference.out)


def test_an_input_that_kills_every_worker_becomes_one_error_record_and_is_not_cached(
    cluster: Any, reference: Reference, tmp_path: Path
) -> None:
    from tests._daskplugins import LoadAudioFault

    raw, out = tmp_path / "raw", tmp_path / "out"
    shutil.copytree(reference.raw, raw)
    shutil.copytree(reference.out, out)  # only the new input has work left
    _take(raw / "bob" / "CRASH.wav", 4, 147.0)
    plugin = _with_plugin(cluster, LoadAudioFault("svcprep-crash", "CRASH", "exit"))
    try:
        report = svcprep.build(raw, out, _cfg(), dask=cluster)
    finally:
        cluster.unregister_worker_plugin(plugin.name)
    [err] = report.errors
    assert (err.kind, err.id, err.flags) == ("source", "bob/CRASH.wav", ("processing_error",))
    assert "worker process died each time" in str(err.error) and "2 tries" in str(err.error)
    assert report.exit_code == 1 and len(report.items) == reference.items
    again = svcprep.build(raw, out, _cfg(), jobs=1)  # nothing was cached for it
    assert again.exit_code == 0 and any(r.source == "bob/CRASH.wav" for r in again.items)


def _slow(x: float) -> float:
    time.sleep(x)
    return x


def test_losing_the_scheduler_fails_with_a_clear_message(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from svcprep.cluster import DaskRunner, DaskTarget

    lc = distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=":0")
    client = distributed.Client(lc, set_as_default=False)
    try:
        runner = DaskRunner(DaskTarget("test-scheduler", client=client), out=tmp_path, versions={})
        done: list[float] = []
        threading.Timer(1.0, lc.close).start()
        with runner, pytest.raises(ClusterError, match="lost the Dask scheduler at test-scheduler") as err:
            runner.map(_slow, [0.2] * 50, done.append, lambda t, why: t, what="item")
        assert "resumes" in str(err.value) and 0 < len(done) < 50
    finally:
        client.close(timeout=5)


# --- before any work ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["local:0", "local:x", "foo"])
def test_a_bad_dask_value_fails_before_any_work(tmp_path: Path, capsys: Any, value: str) -> None:
    (tmp_path / "raw").mkdir()
    assert main(["build", str(tmp_path / "raw"), str(tmp_path / "out"), "--dask", value]) == 2
    msg = capsys.readouterr().err
    assert repr(value) in msg and "local:N" in msg and "tcp://HOST:8786" in msg
    assert not (tmp_path / "out").exists()


def test_jobs_and_dask_together_fail_before_any_work(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "raw").mkdir()
    assert main(["build", str(tmp_path / "raw"), str(tmp_path / "out"), "-j", "2", "--dask", "local"]) == 2
    assert "give one" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_dask_extra_names_the_pip_command(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    (tmp_path / "raw").mkdir()
    assert main(["build", str(tmp_path / "raw"), str(tmp_path / "out"), "--dask", "local:2"]) == 2
    assert "pip install 'svcprep[dask]'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"svcprep\[dask\]"):
        svcprep.build(tmp_path / "raw", tmp_path / "out", dask="tcp://127.0.0.1:8786")


def test_importing_svcprep_imports_no_dask() -> None:
    code = (
        "import sys, svcprep, svcprep.cli, svcprep.cluster\n"
        "svcprep.build\n"
        "print([m for m in ('dask', 'distributed') if m in sys.modules])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_every_task_checks_that_its_worker_sees_out_and_runs_the_clients_versions(tmp_path: Path) -> None:
    from svcprep.cluster import _check_worker, _WorkerCheck

    with pytest.raises(StoreError, match=r"cannot see .* every worker mounts at the same path"):
        _check_worker(_WorkerCheck(str(tmp_path / "marker")))
    (tmp_path / "marker").write_text("")
    _check_worker(_WorkerCheck(str(tmp_path / "marker"), {"svcprep": svcprep.__version__}))
    with pytest.raises(ConfigError, match=r"numpy \S+ \(client: 9\.9\)"):
        _check_worker(_WorkerCheck(str(tmp_path / "marker"), {"numpy": "9.9"}))
    with pytest.raises(ConfigError, match="cannot see the raw folder"):
        _check_worker(_WorkerCheck(str(tmp_path / "marker"), {}, raw=str(tmp_path / "raw")))
