"""Benchmark builds on Dask (``build --dask``): 1 vs 2 workers, and the client's cost per item.

Usage (from the repository root; needs ``pip install '.[dask]'``)::

    python bench/bench_dask.py                              # 2 min of songs, then 10,000 short items
    python bench/bench_dask.py --minutes 2 --files 8 --items 10000 --workers 1 2 --out bench/results
    python bench/bench_dask.py --workers 2 --minutes 0.3 --files 2 --items 0   # a quick check

What it does
------------
1. Starts a scheduler and its workers as processes of their own, as on a cluster
   (``python -m dask scheduler --scheduler-file F``, ``python -m dask worker --scheduler-file
   F --nworkers N --nthreads 1 --preload svcprep.pipeline``), and waits until every worker
   has imported svcprep: a long-lived cluster pays that once, not per build. This process
   is only the client, so its CPU time is the client's work alone.
2. **Scaling**: the seeded raw folder of ``bench_build.py`` (``--minutes`` of songs in
   ``--files`` files, default config), built once locally with ``-j 1`` (in this process,
   its libraries imported first, as the workers' are) and once on a cluster of each
   ``--workers`` count. Reports wall time, the speed-up from the first worker count to the
   others (also estimated from the workers' CPU time, which other load on the machine
   disturbs less), and checks that every build published the same manifest and shards, byte
   for byte.
3. **Client overhead**: ``--items`` short items (files of ten sung phrases at 16 kHz, sliced
   into one item each, a fast config: dio, no denoise) built on the largest cluster. The
   client's CPU time (planning, submitting, collecting, dataset checks and shard writing)
   per item is set against the audio work per item (the workers' summed stage seconds).
   Their ratio is how many workers one client keeps busy before it becomes the bottleneck.
4. **Client rate**: ``--rate-tasks`` empty tasks through the build's own ``DaskRunner.map``:
   the client's CPU per task when results arrive many per fetch, as on a large cluster.
5. Prints a summary and writes everything as JSON to ``--out``.

The machine is shared and noisy: compare the ratios measured within one run, and look at
the load average printed with each build.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_info, require_libraries, table, write_json
from bench_build import raw_folder

#: Bump when the generated short items change, so stale cached raw folders are not reused.
ITEMS_GENERATOR_VERSION = 1
PHRASES_PER_FILE = 10
FAST = [
    "load.sample_rate_hz=16000",
    "mel.fmax_hz=8000",
    "f0.method=dio",
    "denoise.enabled=false",
    "slice.min_segment_s=0.5",
    "slice.max_segment_s=2",
]
CLIENT_STAGES = ("dataset checks", "write")  # stage_seconds measured in the client, not on workers
#: Imported by every worker when it starts (``dask worker --preload``), as a long-lived cluster would
#: have them imported after its first build.
PRELOAD = ("svcprep.pipeline", "svcprep.audio", "svcprep.dsp.denoise", "svcprep.dsp.f0", "svcprep.dsp.mel")


def _cpu_seconds() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def workers_cpu(client: Any) -> float:
    """Summed CPU seconds of every worker process so far."""
    return float(sum(client.run(_cpu_seconds).values()))


def short_items_folder(n_items: int, cache_root: Path) -> Path:
    """Seeded files of ``PHRASES_PER_FILE`` short phrases each (0.5 s of silence between them)."""
    from svcprep.testing import sing_phrase

    tag = hashlib.sha256(json.dumps([ITEMS_GENERATOR_VERSION, n_items]).encode()).hexdigest()[:12]
    root = cache_root / f"items-{n_items}-{tag}"
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    sr = 16000
    gap = np.zeros(sr // 2, np.float32)
    n_files = -(-n_items // PHRASES_PER_FILE)
    for i in range(n_files):
        parts = []
        for j in range(min(PHRASES_PER_FILE, n_items - i * PHRASES_PER_FILE)):
            base = 150.0 + 11.0 * ((i * 7 + j) % 30)
            v = sing_phrase(
                sample_rate_hz=sr, notes_hz=(base, base * 1.2), note_s=0.35, pause_s=0.0, seed=i * 100 + j
            )
            parts += [v.audio, gap]
        path = root / f"singer{i % 8}" / f"take{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.concatenate(parts), sr, subtype="PCM_16")
    (root / ".complete").write_text("")
    return root


class Cluster:
    """A scheduler and ``n_workers`` one-thread worker processes, started as on a real cluster."""

    def __init__(self, n_workers: int, work: Path) -> None:
        self.n_workers = n_workers
        self.dir = work / f"cluster-{n_workers}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.client: Any = None

    def __enter__(self) -> Cluster:
        from distributed import Client

        self.dir.mkdir(parents=True, exist_ok=True)
        sched = self.dir / "scheduler.json"
        log = open(self.dir / "log.txt", "ab")  # the processes' output, kept with the cluster
        py = [sys.executable, "-m", "dask"]
        sched_args = ["scheduler", "--scheduler-file", str(sched), "--port", "0", "--dashboard-address", ":0"]
        self.procs.append(subprocess.Popen([*py, *sched_args], stdout=log, stderr=log))
        deadline = time.monotonic() + 120
        while not sched.exists():
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                raise RuntimeError(f"the scheduler did not start; see {self.dir / 'log.txt'}")
            time.sleep(0.1)
        worker_args = ["worker", "--scheduler-file", str(sched), "--nworkers", str(self.n_workers)]
        worker_args += ["--nthreads", "1", "--no-dashboard"]
        for module in PRELOAD:
            worker_args += ["--preload", module]
        self.procs.append(subprocess.Popen([*py, *worker_args], stdout=log, stderr=log))
        self.client = Client(scheduler_file=str(sched), set_as_default=False)
        self.client.wait_for_workers(self.n_workers, timeout=300)
        self.scheduler_file = sched
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        for p in reversed(self.procs):
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def timed_build(raw: Path, out: Path, overrides: list[str], client: Any = None) -> dict[str, Any]:
    """One build (on ``client``, else locally with one job); wall and CPU times, and where they went.

    The client's CPU time is split into submitting and collecting (``DaskRunner.map``),
    writing shards and the version (``_publish``) and the rest (discovery, planning, the
    dataset checks).
    """
    import svcprep
    import svcprep.cluster as cluster
    import svcprep.pipeline as pipeline

    cfg = svcprep.load_config(overrides=overrides)
    spent = {"map": 0.0, "map_wall": 0.0, "publish": 0.0}
    real_map, real_publish = cluster.DaskRunner.map, pipeline._publish

    def map_timed(self: Any, *args: Any, **kwargs: Any) -> None:
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            real_map(self, *args, **kwargs)
        finally:
            spent["map"] += time.process_time() - c0
            spent["map_wall"] += time.perf_counter() - w0

    def publish_timed(*args: Any, **kwargs: Any) -> Any:
        c0 = time.process_time()
        try:
            return real_publish(*args, **kwargs)
        finally:
            spent["publish"] += time.process_time() - c0

    cluster.DaskRunner.map = map_timed  # type: ignore[method-assign]
    pipeline._publish = publish_timed
    load_before = os.getloadavg()[0]
    w_cpu0 = workers_cpu(client) if client is not None else 0.0
    c0 = time.process_time()
    try:
        if client is None:
            report = svcprep.build(raw, out, cfg, jobs=1)
        else:
            report = svcprep.build(raw, out, cfg, dask=client)
    finally:
        cluster.DaskRunner.map = real_map  # type: ignore[method-assign]
        pipeline._publish = real_publish
    client_cpu = time.process_time() - c0
    w_cpu = workers_cpu(client) - w_cpu0 if client is not None else 0.0
    worker_stage_s = sum(v for k, v in report.stage_seconds.items() if k not in CLIENT_STAGES)
    return {
        "wall_seconds": report.wall_seconds,
        "client_cpu_seconds": client_cpu,
        "client_cpu_in_map_seconds": spent["map"],
        "client_cpu_in_publish_seconds": spent["publish"],
        "map_wall_seconds": spent["map_wall"],
        "workers_cpu_seconds": w_cpu,
        "client_stage_seconds": {k: report.stage_seconds.get(k, 0.0) for k in CLIENT_STAGES},
        "worker_stage_seconds": worker_stage_s,
        "stage_seconds": dict(report.stage_seconds),
        "source_seconds": report.source_seconds,
        "items": len(report.items),
        "errors": len(report.errors),
        "error_messages": sorted({str(r.error) for r in report.errors})[:5],
        "loadavg_1min": [load_before, os.getloadavg()[0]],
        "client_peak_rss_bytes": _peak_rss(),
    }


def _echo(task: tuple[int, str]) -> dict[str, Any]:
    """A task that does no work and returns about what an item's outcome weighs (a few kB)."""
    return {"id": task[0], "outcome": task[1]}


def client_rate(client: Any, work: Path, n_tasks: int) -> dict[str, Any]:
    """The client's CPU per task when results arrive as fast as the cluster can run empty tasks.

    What a large cluster looks like to the client: many results per fetch. Runs ``n_tasks``
    empty tasks (each sending and returning about an item's worth of data) through the
    build's own ``DaskRunner.map``.
    """
    import svcprep
    from svcprep.cluster import DaskRunner, DaskTarget

    runner = DaskRunner(
        DaskTarget("bench", client=client), out=work, versions={"svcprep": svcprep.__version__}
    )
    got: list[Any] = []
    payload = "x" * 4000
    with runner:
        c0, w0 = time.process_time(), time.perf_counter()
        runner.map(
            _echo, [(i, payload) for i in range(n_tasks)], got.append, lambda t, why: None, what="echo"
        )
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {
        "tasks": len(got),
        "client_cpu_ms_per_task": 1000 * cpu / max(1, len(got)),
        "tasks_per_second": len(got) / wall,
    }


def _peak_rss() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def published_digest(out: Path) -> str:
    """Digest of the manifest and every shard (what must match across builds)."""
    h = hashlib.sha256((out / "manifest.jsonl").read_bytes())
    for p in sorted((out / "shards").rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Run the Dask benchmark; returns the exit code (1 if a sanity check failed)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="audio in the scaling raw folder (default 2)")
    ap.add_argument("--files", type=int, default=8, help="songs in the scaling raw folder (default 8)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    ap.add_argument("--items", type=int, default=10_000, help="short items of the overhead run (0 = skip)")
    ap.add_argument("--rate-tasks", type=int, default=3000, help="empty tasks of the client-rate run")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "svcprep-bench")
    args = ap.parse_args(argv)
    require_libraries()
    try:
        import distributed  # noqa: F401
    except ImportError:
        sys.exit("bench_dask needs Dask's distributed: pip install '.[dask]'")

    raw, listing = raw_folder(args.minutes, args.files, args.cache)
    audio_s = sum(f["seconds"] for f in listing)
    print(f"scaling raw folder: {raw} ({len(listing)} files, {audio_s:.1f} s of audio)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="svcprep-bench-dask-"))
    checks: list[str] = []
    builds: dict[str, Any] = {}
    overhead: dict[str, Any] | None = None
    rate: dict[str, Any] = {}
    try:
        print("local build, -j 1 (in this process, libraries imported first) ...", flush=True)
        import importlib

        for module in PRELOAD:
            importlib.import_module(module)
        local = timed_build(raw, work / "out-local", [])
        builds["local -j 1"] = local
        digests = {"local -j 1": published_digest(work / "out-local")}
        for n in args.workers:
            with Cluster(n, work) as c:
                print(f"cluster build, {n} worker{'s' if n > 1 else ''} ...", flush=True)
                res = timed_build(raw, work / f"out-{n}", [], c.client)
                builds[f"dask {n}"] = res
                digests[f"dask {n}"] = published_digest(work / f"out-{n}")
                print(f"  {res['wall_seconds']:.1f} s wall, load {res['loadavg_1min'][0]:.1f}", flush=True)
                if n == max(args.workers):
                    print(f"client rate: {args.rate_tasks} empty tasks on {n} workers ...", flush=True)
                    rate = client_rate(c.client, work, args.rate_tasks)
                    rate["workers"] = n
                if n == max(args.workers) and args.items > 0:
                    items_raw = short_items_folder(args.items, args.cache)
                    print(f"overhead build: {args.items} short items on {n} workers ...", flush=True)
                    overhead = timed_build(items_raw, work / "out-items", FAST, c.client)
                    overhead["workers"] = n
        if len(set(digests.values())) != 1:
            checks.append(f"published bytes differ between builds: {digests}")
        for name, b in builds.items():
            if b["errors"]:
                checks.append(f"{name}: {b['errors']} error records: {b['error_messages']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    first = f"dask {args.workers[0]}"
    speedups = {
        f"{args.workers[0]}->{n}": builds[first]["wall_seconds"] / builds[f"dask {n}"]["wall_seconds"]
        for n in args.workers[1:]
    }
    derived: dict[str, Any] = {"speedup": speedups}
    # on busy cores the wall ratio understates it: n x (CPU of 1 worker / CPU of n workers)
    derived["speedup_cpu_estimate"] = {
        f"{args.workers[0]}->{n}": n
        / args.workers[0]
        * builds[first]["workers_cpu_seconds"]
        / max(builds[f"dask {n}"]["workers_cpu_seconds"], 1e-9)
        for n in args.workers[1:]
    }
    derived["dask_1_over_local_j1"] = (
        builds["dask 1"]["wall_seconds"] / local["wall_seconds"] if "dask 1" in builds else None
    )
    if overhead is not None:
        n_items = max(1, overhead["items"])
        client_ms = 1000 * overhead["client_cpu_seconds"] / n_items
        publish_ms = 1000 * overhead["client_cpu_in_publish_seconds"] / n_items
        audio_ms = 1000 * overhead["worker_stage_seconds"] / n_items
        derived["overhead"] = {
            "client_cpu_ms_per_item": client_ms,
            "client_cpu_in_map_ms_per_item": 1000 * overhead["client_cpu_in_map_seconds"] / n_items,
            "client_cpu_publish_ms_per_item": publish_ms,
            "client_cpu_planning_collecting_ms_per_item": client_ms - publish_ms,
            "audio_work_ms_per_item": audio_ms,
            "workers_cpu_ms_per_item": 1000 * overhead["workers_cpu_seconds"] / n_items,
            "audio_work_over_client_cpu": audio_ms / client_ms if client_ms > 0 else None,
            "audio_work_over_planning_collecting": audio_ms / (client_ms - publish_ms)
            if client_ms > publish_ms
            else None,
        }
        if overhead["errors"]:
            checks.append(f"overhead build: {overhead['errors']} errors: {overhead['error_messages']}")

    result = {
        "benchmark": "dask",
        "machine": machine_info(),
        "params": vars(args) | {"out": str(args.out), "cache": str(args.cache)},
        "raw": {"path": str(raw), "audio_seconds": audio_s, "files": len(listing)},
        "builds": builds,
        "overhead_build": overhead,
        "client_rate": rate,
        "derived": derived,
        "checks": checks,
    }
    path = write_json(args.out, "dask", result)

    print()
    print(f"svcprep on Dask: {audio_s / 60:.2f} min of songs in {len(listing)} files (compare ratios)")
    rows = [
        [
            name,
            f"{b['wall_seconds']:.1f}",
            f"{b['source_seconds'] / b['wall_seconds']:.2f}",
            "{:.1f}/{:.1f}".format(*b["loadavg_1min"]),
        ]
        for name, b in builds.items()
    ]
    print(table(rows, ["build", "wall s", "RTF", "load"]))
    for k, v in speedups.items():
        est = derived["speedup_cpu_estimate"][k]
        print(f"speed-up {k} workers (wall ratio): {v:.2f}x; from the workers' CPU time: {est:.2f}x")
    if derived["dask_1_over_local_j1"] is not None:
        print(f"1 Dask worker / local -j 1 wall: {derived['dask_1_over_local_j1']:.2f}")
    if overhead is not None:
        o = derived["overhead"]
        print(
            f"{overhead['items']} short items on {overhead['workers']} workers: "
            f"{overhead['wall_seconds']:.0f} s wall; client CPU {o['client_cpu_ms_per_item']:.2f} ms/item: "
            f"{o['client_cpu_planning_collecting_ms_per_item']:.2f} planning and collecting (of which "
            f"{o['client_cpu_in_map_ms_per_item']:.2f} submitting and collecting), "
            f"{o['client_cpu_publish_ms_per_item']:.2f} writing shards; audio work "
            f"{o['audio_work_ms_per_item']:.1f} ms/item ({o['audio_work_over_client_cpu']:.0f}x the client's "
            f"CPU, {o['audio_work_over_planning_collecting']:.0f}x its planning and collecting)"
        )
        print(f"client peak RSS: {overhead['client_peak_rss_bytes'] / 1e6:.0f} MB")
    if rate:
        print(
            f"client at full rate ({rate['tasks']} empty tasks on {rate['workers']} workers): "
            f"{rate['client_cpu_ms_per_task']:.2f} ms of client CPU per task, "
            f"{rate['tasks_per_second']:.0f} tasks/s"
        )
    for c in checks:
        print(f"CHECK FAILED: {c}")
    print(f"results: {path}")
    return 1 if checks else 0


if __name__ == "__main__":
    sys.exit(main())
