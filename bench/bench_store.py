"""Benchmark svcprep's store: cached rebuilds, bytes written by incremental builds, read throughput.

Usage (from the repository root)::

    python bench/bench_store.py                            # 500 files of 3-5 s, 10 speakers, -j 2
    python bench/bench_store.py --files 500 --seconds-per-file 4 --jobs 2 --out bench/results
    python bench/bench_store.py --fast                     # f0.method=dio: a quicker full build
    python bench/bench_store.py --files 20 --read-epochs 1 # a quick smoke run

Takes about 5-10 minutes on 2 cores with the defaults (the full build dominates). Never
run by the test suite. Needs torch for the TorchDataset figures (skipped without it).

What it does
------------
1. **Input.** Generates (seeded) ``--files`` short sung phrases (durations uniform in
   0.75-1.25 x ``--seconds-per-file``, i.e. 3-5 s for the default 4) by 10 speakers
   with different ranges, alternating 22.05 / 44.1 kHz mono PCM_16 WAV. The folder is
   cached under ``$TMPDIR/svcprep-bench/`` and reused by later runs; every run builds
   from a hard-linked working copy, so the touched file of step 4 never alters the cache.
2. **Full build** into an empty output folder. The real default config unless ``--fast``
   (``f0.method=dio``). Before it, a probe build of ``--probe-files`` files estimates the
   full build's time; if the estimate exceeds ``--budget-min`` minutes the benchmark
   switches to ``--fast`` by itself and says so (``--budget-min 0`` skips the probe).
3. **No-op rebuild** (same input, same config), ``--noop-repeat`` times: seconds, seconds
   per 1000 inputs, bytes the process read. Checks ``report.computed`` is False, no version
   was published, nothing in ``objects/``, ``shards/`` or ``versions/`` changed and no
   stage ran.
4. **Touch one file**: one input is rewritten with different audio (same length and rate)
   and the dataset rebuilt: seconds, ``stage_runs`` (checked: only that file's items, one
   load and one slice), which items changed in the new version, and the bytes written into
   the output folder: ``du`` (allocated blocks and apparent size) before and after, the
   bytes of new or rewritten files per top-level folder (objects / shards / versions /
   other), and the block-device writes of the build's processes (``ru_oublock``).
5. **Mel-only rebuild** (``mel.n_mels=80``): seconds as a fraction of the full build,
   ``stage_runs`` (checked: only ``mel`` and ``validate``, once per item), bytes written.
6. **Random-access reads** of the version published in step 4 (128 mels): items per
   second over a seeded random permutation of every item, every array touched (summed):
   through ``svcprep.open`` (warm page cache, and one cold pass after evicting the shard
   files with ``posix_fadvise(DONTNEED)``), and through ``TorchDataset`` with a
   ``DataLoader(batch_size=None, shuffle=True)`` with ``num_workers`` 0 and 2 (persistent
   workers; the first epoch includes starting them). Each figure is also given as hours
   of audio per second and compared to what a GPU training loop consumes
   (``--gpu-batch`` items of ``--gpu-item-s`` seconds per step at ``--gpu-steps-per-s``
   steps/s: 16 x 10 s x 5/s = 80 items/s = 800 s of audio per second).
7. Prints a compact table and writes every figure as JSON to ``--out``
   (``store-<UTC time>.json``; ``bench/results`` is git-ignored).

**Frozen sources.** At the start the repository's ``svcprep`` package is copied into the
run's working folder and every import (this process and each build child, through
``PYTHONPATH``) uses that copy, so edits to the working tree during the run cannot change
cache keys between builds; the JSON records its hash and the git HEAD.

Every build runs in a **fresh Python process** (this script started with ``_child``), as
``svcprep build`` on the command line would: no warm imports or worker pool from an earlier
build helps it. ``build s`` is ``BuildReport.wall_seconds`` (the ``build()`` call alone);
``process s`` adds interpreter start-up and imports.

Noisy machines: absolute seconds depend on other load (the 1-minute load average before
and after each build is recorded); compare the ratios measured within one run. The page
cache is warm for every rebuild and for the warm read passes (the output was just
written); only the ``cold`` read pass evicts the shard files first.

Exit status: 0 when every check passed, 1 when a check failed (printed as ``CHECK FAILED``
and listed under ``checks`` in the JSON), 2 when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Bump when the generated audio changes, so stale cached raw folders are not reused.
GENERATOR_VERSION = 1
SEED = 20241125
#: Prefix of the child's result line on stdout.
RESULT_MARK = "SVCPREP_STORE_BENCH "
MEL_OVERRIDE = "mel.n_mels=80"
FAST_OVERRIDE = "f0.method=dio"
RATES = (22050, 44100)
#: (speaker folder, lowest MIDI note, highest MIDI note) of the ten singers.
SPEAKERS = [
    ("bass1", 40, 52),
    ("bass2", 42, 54),
    ("baritone", 45, 57),
    ("tenor1", 48, 60),
    ("tenor2", 50, 62),
    ("alto1", 53, 65),
    ("alto2", 55, 67),
    ("mezzo", 57, 69),
    ("soprano1", 60, 74),
    ("soprano2", 64, 79),
]
MB = 1e6


# --- input ------------------------------------------------------------------------------


def midi_to_hz(note: float) -> float:
    """Frequency of a MIDI note number."""
    return float(440.0 * 2 ** ((note - 69) / 12))


def make_clip(duration_s: float, *, sample_rate_hz: int, low: int, high: int, seed: int) -> np.ndarray:
    """One short sung phrase of exactly ``duration_s`` seconds (float32 mono).

    Four notes with glides and vibrato; the inner pause (0.2 s) is shorter than the
    slicer's ``min_silence_s`` (0.3 s), so each file normally becomes one item.
    """
    from svcprep.testing import sing_phrase

    rng = np.random.default_rng(seed)
    sr = sample_rate_hz
    lead, pause = 0.15, 0.2
    note_s = max(0.3, (duration_s - 2 * lead - 2 * pause) / 4)
    notes = tuple(midi_to_hz(m) for m in rng.integers(low, high + 1, size=4))
    v = sing_phrase(
        sample_rate_hz=sr,
        notes_hz=notes,
        note_s=float(note_s),
        pause_s=pause,
        vibrato_cents=float(rng.uniform(20, 50)),
        vibrato_hz=float(rng.uniform(5.0, 6.2)),
        breath=0.004,
        amplitude=float(rng.uniform(0.25, 0.45)),
        seed=seed,
    )
    n = round(duration_s * sr)
    y = np.zeros(n, np.float32)
    start = round(lead * sr)
    body = v.audio[: max(0, n - start)]
    y[start : start + body.size] = body
    y += (0.0015 * rng.standard_normal(n)).astype(np.float32)  # room noise floor
    return y


def file_plan(files: int, seconds_per_file: float, seed: int) -> list[dict[str, Any]]:
    """Name, speaker, rate, duration and seed of every generated file (deterministic)."""
    rng = np.random.default_rng(seed)
    plan = []
    for k in range(files):
        name, low, high = SPEAKERS[k % len(SPEAKERS)]
        rate = RATES[(k // len(SPEAKERS)) % len(RATES)]
        dur = round(float(rng.uniform(0.75, 1.25)) * seconds_per_file, 3)
        plan.append(
            {
                "rel": f"{name}/clip{k:04d}.wav",
                "low": low,
                "high": high,
                "rate": rate,
                "seconds": dur,
                "seed": seed * 10_000 + k,
            }
        )
    return plan


def ensure_raw(files: int, seconds_per_file: float, cache_root: Path) -> tuple[Path, list[dict[str, Any]]]:
    """The cached raw folder for these parameters, generated if missing or incomplete."""
    import soundfile as sf

    plan = file_plan(files, seconds_per_file, SEED)
    tag = hashlib.sha1(json.dumps([GENERATOR_VERSION, SEED, plan]).encode()).hexdigest()[:10]
    raw = cache_root / f"store-raw-{files}f-{seconds_per_file:g}s-{tag}"
    marker = raw.with_name(raw.name + ".done.json")  # next to the folder, not inside it
    if marker.is_file() and raw.is_dir():
        print(f"input: reusing {raw}", flush=True)
        return raw, plan
    if raw.exists():
        shutil.rmtree(raw)
    t0 = time.perf_counter()
    tmp = raw.with_name(raw.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    for p in plan:
        y = make_clip(p["seconds"], sample_rate_hz=p["rate"], low=p["low"], high=p["high"], seed=p["seed"])
        path = tmp / p["rel"]
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, p["rate"], subtype="PCM_16")
    tmp.rename(raw)
    marker.write_text(json.dumps({"files": files, "generated_s": time.perf_counter() - t0}), encoding="utf-8")
    print(f"input: generated {files} files in {time.perf_counter() - t0:.1f} s -> {raw}", flush=True)
    return raw, plan


def working_copy(raw: Path, dest: Path) -> str:
    """Copy ``raw`` to ``dest`` by hard links (plain copies across file systems). Returns the method."""
    method = "hardlink"

    def link(src: str, dst: str) -> None:
        nonlocal method
        try:
            os.link(src, dst)
        except OSError:
            method = "copy"
            shutil.copy2(src, dst)

    shutil.copytree(raw, dest, copy_function=link)
    return method


def rewrite_file(path: Path, entry: dict[str, Any]) -> None:
    """Replace one input with different audio of the same length and rate.

    The old file is unlinked first, so the hard-linked cached original stays intact.
    """
    import soundfile as sf

    y = make_clip(
        entry["seconds"],
        sample_rate_hz=entry["rate"],
        low=entry["low"],
        high=entry["high"],
        seed=entry["seed"] + 7_777_777,
    )
    path.unlink()
    sf.write(path, y, entry["rate"], subtype="PCM_16")


# --- the child process: one build --------------------------------------------------------


def _proc_io() -> dict[str, int]:
    """This process's I/O counters from ``/proc/self/io`` (empty where unavailable)."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return {}
    return {k.strip(): int(v) for k, v in (line.split(":") for line in text.splitlines() if ":" in line)}


def _shutdown_loky() -> bool:
    """Shut the reusable loky pool down (waiting) so its workers are reaped. True if one existed."""
    try:
        from joblib.externals.loky import get_reusable_executor, reusable_executor
    except ImportError:  # pragma: no cover
        return False
    if getattr(reusable_executor, "_executor", None) is None:
        return False
    get_reusable_executor().shutdown(wait=True)
    return True


def child_main(argv: Sequence[str]) -> int:
    """Run one build and print its figures as one JSON line."""
    t_process = time.perf_counter()
    ap = argparse.ArgumentParser(prog="bench_store.py _child")
    ap.add_argument("raw")
    ap.add_argument("out")
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args(argv)

    t_import = time.perf_counter()
    import svcprep

    cfg = svcprep.load_config(overrides=args.overrides)
    import_s = time.perf_counter() - t_import
    load_before = os.getloadavg()
    io0 = _proc_io()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    report = svcprep.build(args.raw, args.out, cfg, jobs=args.jobs)
    io1 = _proc_io()
    had_pool = _shutdown_loky()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    records = report.records
    errors = [r for r in records if r["status"] == "error"]
    result: dict[str, Any] = {
        "jobs": args.jobs,
        "overrides": list(args.overrides),
        "f0_method": cfg.f0.method,
        "n_mels": cfg.mel.n_mels,
        "wall_seconds": report.wall_seconds,
        "process_seconds": time.perf_counter() - t_process,
        "import_seconds": import_s,
        "stage_seconds": dict(report.stage_seconds),
        "stage_runs": dict(report.stage_runs),
        "computed": bool(report.computed),
        "published": bool(report.published),
        "version": report.version,
        "previous_version": report.previous_version,
        "records": len(records),
        "items": len(report.items),
        "errors": len(errors),
        "error_messages": sorted({f"{r['id']}: {r['error']}" for r in errors})[:5],
        "source_seconds": report.source_seconds,
        "kept_seconds": report.kept_seconds,
        # main process only (workers are not included): bytes read / written through syscalls
        "main_rchar": io1.get("rchar", 0) - io0.get("rchar", 0),
        "main_wchar": io1.get("wchar", 0) - io0.get("wchar", 0),
        # block-device I/O (512-byte blocks) of this process during build() and of all reaped workers
        "tree_oublock_bytes": 512 * (ru1.ru_oublock - ru0.ru_oublock + kids.ru_oublock),
        "tree_inblock_bytes": 512 * (ru1.ru_inblock - ru0.ru_inblock + kids.ru_inblock),
        "cpu_seconds": ru1.ru_utime + ru1.ru_stime + kids.ru_utime + kids.ru_stime,
        "loadavg_1min": [load_before[0], os.getloadavg()[0]],
        "worker_pool_used": had_pool,
        "svcprep_file": svcprep.__file__,
        "config": cfg.to_dict(),
    }
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    return 0


def run_build(raw: Path, out: Path, *, jobs: int, overrides: Sequence[str], label: str) -> dict[str, Any]:
    """One build in a fresh Python process; returns the child's figures plus ``subprocess_seconds``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", str(raw), str(out), "--jobs", str(jobs)]
    for o in overrides:
        cmd += ["--set", o]
    print(f"[{time.strftime('%H:%M:%S')}] {label}: {' '.join(cmd[2:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            res: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            res["subprocess_seconds"] = elapsed
            res["stderr_tail"] = proc.stderr[-2000:] if proc.stderr.strip() else ""
            frozen = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
            if frozen and not res["svcprep_file"].startswith(frozen):
                raise RuntimeError(
                    f"the build child imported {res['svcprep_file']}, not the snapshot in {frozen}"
                )
            print(
                f"    build {res['wall_seconds']:.2f} s, process {res['process_seconds']:.2f} s, "
                f"items {res['items']}, errors {res['errors']}, published {res['published']}, "
                f"runs {res['stage_runs']}",
                flush=True,
            )
            return res
    raise RuntimeError(
        f"build child failed (exit {proc.returncode}): {' '.join(cmd)}\n--- stderr ---\n{proc.stderr[-4000:]}"
    )


# --- the output folder ------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """rel path -> (inode, size, mtime_ns, allocated bytes) of every file under ``root``."""
    snap: dict[str, tuple[int, int, int, int]] = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            snap[os.path.relpath(p, root)] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_blocks * 512)
    return snap


def du(snap: dict[str, tuple[int, int, int, int]]) -> dict[str, int]:
    """Allocated and apparent bytes of the files of a snapshot (like ``du -s`` / ``du -sb``)."""
    return {"allocated": sum(v[3] for v in snap.values()), "apparent": sum(v[1] for v in snap.values())}


def _area(rel: str) -> str:
    top = rel.split(os.sep, 1)[0]
    return top if top in ("objects", "shards", "versions") and os.sep in rel else "other"


def diff_snapshots(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Files new, rewritten or removed between two snapshots, with their bytes per top-level area."""
    new = [p for p in after if p not in before]
    changed = [p for p in after if p in before and after[p][:3] != before[p][:3]]
    removed = [p for p in before if p not in after]
    areas = ("objects", "shards", "versions", "other")
    out: dict[str, Any] = {
        "du_before": du(before),
        "du_after": du(after),
        "new_files": len(new),
        "rewritten_files": len(changed),
        "removed_files": len(removed),
        "new_bytes": {a: 0 for a in areas},
        "rewritten_bytes": {a: 0 for a in areas},
        "new_dirs": {},
    }
    for p in new:
        out["new_bytes"][_area(p)] += after[p][1]
    for p in changed:
        out["rewritten_bytes"][_area(p)] += after[p][1]
    out["files_by_area"] = {
        a: {
            "new": sum(_area(p) == a for p in new),
            "rewritten": sum(_area(p) == a for p in changed),
            "removed": sum(_area(p) == a for p in removed),
        }
        for a in areas
    }
    # new object / shard folders (one per cache key / shard id)
    for area, depth in (("objects", 3), ("shards", 2)):
        folders = {os.sep.join(p.split(os.sep)[:depth]) for p in new if p.startswith(area + os.sep)}
        out["new_dirs"][area] = len(folders)
    out["written_bytes"] = sum(out["new_bytes"].values()) + sum(out["rewritten_bytes"].values())
    out["du_delta"] = {k: out["du_after"][k] - out["du_before"][k] for k in ("allocated", "apparent")}
    out["examples"] = {"rewritten": sorted(changed)[:8], "removed": sorted(removed)[:8]}
    return out


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file as a dict."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --- reading -----------------------------------------------------------------------------


def _touch(item: dict[str, Any]) -> float:
    """Sum every array of an item (forces every byte to be read)."""
    return float(sum(float(np.sum(v)) for k, v in item.items() if k != "record"))


def evict_shards(out: Path, shard_ids: Sequence[str]) -> bool:
    """Drop the page-cache pages of these shards' files (``posix_fadvise DONTNEED``). False if unsupported."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for sid in shard_ids:
        for f in (out / "shards" / sid).glob("*.npy"):
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return True


def read_rate(n_items: int, audio_s: float, seconds: float, nbytes: float) -> dict[str, float]:
    """Throughput figures of one pass."""
    return {
        "seconds": seconds,
        "items_per_s": n_items / seconds,
        "audio_s_per_s": audio_s / seconds,
        "audio_hours_per_s": audio_s / seconds / 3600,
        "mb_per_s": nbytes / seconds / MB,
    }


def bench_reads(out: Path, version: str | None, *, epochs: int, seed: int) -> dict[str, Any]:
    """Random-access read throughput through svcprep.open and TorchDataset + DataLoader."""
    import svcprep

    t0 = time.perf_counter()
    ds = svcprep.open(out, version)
    open_s = time.perf_counter() - t0
    n = len(ds)
    info = ds.info
    sr = ds.sample_rate
    spans = [info["items"][i] for i in ds.ids]
    samples = sum(e["audio"][1] - e["audio"][0] for e in spans)
    frames = sum(e["frames"][1] - e["frames"][0] for e in spans)
    audio_s = samples / sr
    nbytes = 4 * samples + frames * (4 * ds.n_mels + 4 + 1 + 1 + 4)
    res: dict[str, Any] = {
        "version": ds.version,
        "items": n,
        "n_mels": ds.n_mels,
        "audio_seconds": audio_s,
        "mean_item_seconds": audio_s / max(n, 1),
        "bytes": nbytes,
        "shards": len(info["shards"]),
        "open_seconds": open_s,
        "epochs": epochs,
        "passes": {},
    }
    rng = np.random.default_rng(seed)
    print(
        f"[{time.strftime('%H:%M:%S')}] reads: {n} items, {audio_s / 3600:.3f} h, "
        f"{nbytes / MB:.0f} MB in {len(info['shards'])} shards",
        flush=True,
    )

    def numpy_epoch(d: Any) -> float:
        perm = rng.permutation(n)
        t = time.perf_counter()
        acc = 0.0
        for i in perm:
            acc += _touch(d[int(i)])
        el = time.perf_counter() - t
        if not np.isfinite(acc):
            res.setdefault("notes", []).append("non-finite sum while reading")
        return el

    # cold: shard files evicted from the page cache first, fresh Dataset
    if evict_shards(out, info["shards"]):
        ds_cold = svcprep.open(out, version)
        res["passes"]["open_cold"] = [read_rate(n, audio_s, numpy_epoch(ds_cold), nbytes)]
    res["passes"]["open_warm"] = [read_rate(n, audio_s, numpy_epoch(ds), nbytes) for _ in range(epochs)]

    try:
        import torch
        from torch.utils.data import DataLoader

        from svcprep.torch import TorchDataset
    except ImportError as err:
        res["torch"] = f"skipped: {err}"
        return res
    res["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()}
    tds = TorchDataset(ds, split="all")  # every item, as the numpy passes read
    for workers in (0, 2):
        g = torch.Generator()
        g.manual_seed(seed)
        t_start = time.perf_counter()
        loader = DataLoader(
            tds,
            batch_size=None,
            shuffle=True,
            num_workers=workers,
            generator=g,
            persistent_workers=workers > 0,
        )
        rates = []
        first_item_s = None
        for _ in range(epochs):
            t = time.perf_counter()
            acc = 0.0
            count = 0
            for item in loader:
                if first_item_s is None:
                    first_item_s = time.perf_counter() - t_start
                # summed through numpy: torch's intra-op threads stall on a loaded 2-core machine
                acc += sum(float(np.sum(v.numpy())) for k, v in item.items() if k != "id")
                count += 1
            if count != n:
                res.setdefault("notes", []).append(
                    f"DataLoader num_workers={workers} gave {count} of {n} items"
                )
            rates.append(read_rate(n, audio_s, time.perf_counter() - t, nbytes))
        del loader  # stops persistent workers
        res["passes"][f"torch_w{workers}"] = rates
        res[f"torch_w{workers}_first_item_seconds"] = first_item_s
    return res


# --- checks and formatting ---------------------------------------------------------------


class Checks:
    """Collects failed checks (printed as CHECK FAILED, listed in the JSON)."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.passed: list[str] = []

    def __call__(self, ok: bool, what: str) -> bool:
        (self.passed if ok else self.failed).append(what)
        if not ok:
            print(f"    CHECK FAILED: {what}", flush=True)
        return ok


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """Fixed-width text table (first column left-aligned)."""
    cols = [list(map(str, header)), *[list(map(str, r)) for r in rows]]
    widths = [max(len(r[i]) for r in cols) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join([line(cols[0]), "  ".join("-" * w for w in widths), *(line(r) for r in cols[1:])])


def fmt_runs(runs: dict[str, int]) -> str:
    """stage_runs as ``stage=n`` pairs (``-`` when nothing ran)."""
    return " ".join(f"{k}={v}" for k, v in sorted(runs.items())) or "-"


def snapshot_sources(dest: Path) -> Path:
    """Copy the repository's ``svcprep`` package to ``dest/svcprep`` and put ``dest`` first on the path.

    Every build child (through ``PYTHONPATH``) and this process then import that frozen
    copy, so edits made to the working tree while the benchmark runs (a changed default,
    a half-saved file) cannot change the cache keys between the full build and the
    rebuilds, which would make a no-op rebuild recompute.
    """
    src = Path(__file__).resolve().parent.parent / "svcprep"
    shutil.copytree(src, dest / "svcprep", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    sys.path.insert(0, str(dest))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(dest), os.environ.get("PYTHONPATH")]))
    return dest / "svcprep"


def source_fingerprint(package: Path) -> dict[str, Any]:
    """Which svcprep code was measured: git HEAD and a hash of every source file of ``package``."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha1()
    for p in sorted(package.rglob("*.py")):
        h.update(str(p.relative_to(package)).encode())
        h.update(p.read_bytes())
    head = None
    try:
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
        head = (
            subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=False,
                env=env,
            ).stdout.strip()
            or None
        )
    except OSError:
        pass
    return {"git_head": head, "svcprep_sources_sha1": h.hexdigest(), "package": str(package)}


# --- main ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=500, help="input files (default 500)")
    ap.add_argument(
        "--seconds-per-file", type=float, default=4.0, help="mean file length; +-25%% (default 4)"
    )
    ap.add_argument("--jobs", type=int, default=2, help="build worker processes (default 2)")
    ap.add_argument("--out", type=Path, default=Path("bench/results"), help="folder for the JSON results")
    ap.add_argument("--fast", action="store_true", help=f"build with {FAST_OVERRIDE} (quicker F0)")
    ap.add_argument(
        "--budget-min",
        type=float,
        default=15.0,
        help="switch to --fast when the probe predicts a longer full build (0: no probe)",
    )
    ap.add_argument("--probe-files", type=int, default=20, help="files in the probe build (default 20)")
    ap.add_argument("--noop-repeat", type=int, default=3, help="no-op rebuilds to time (default 3)")
    ap.add_argument("--read-epochs", type=int, default=3, help="epochs per read configuration (default 3)")
    ap.add_argument("--keep", action="store_true", help="keep the working folder (raw copy + output)")
    ap.add_argument("--gpu-batch", type=int, default=16)
    ap.add_argument("--gpu-item-s", type=float, default=10.0)
    ap.add_argument("--gpu-steps-per-s", type=float, default=5.0)
    args = ap.parse_args(argv)

    cache_root = Path(tempfile.gettempdir()) / "svcprep-bench"
    cache_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="store-run-", dir=cache_root))
    frozen = snapshot_sources(work / "src")
    import svcprep

    if Path(svcprep.__file__).resolve().parent != frozen.resolve():
        sys.exit(f"svcprep was imported from {svcprep.__file__}, not from the snapshot {frozen}")
    fingerprint = source_fingerprint(frozen)
    live_package = Path(__file__).resolve().parent.parent / "svcprep"
    results: dict[str, Any] = {
        "benchmark": "store",
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {
            "svcprep_version": svcprep.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "loadavg_start": os.getloadavg(),
        },
        "source": fingerprint,
    }
    check = Checks()
    t_bench = time.perf_counter()

    raw_cached, plan = ensure_raw(args.files, args.seconds_per_file, cache_root)
    results["raw"] = {
        "path": str(raw_cached),
        "files": len(plan),
        "speakers": len(SPEAKERS),
        "audio_seconds": sum(p["seconds"] for p in plan),
        "rates_hz": dict(Counter(str(p["rate"]) for p in plan)),
        "bytes": sum((raw_cached / p["rel"]).stat().st_size for p in plan),
    }
    raw, out = work / "raw", work / "out"
    results["raw"]["working_copy"] = working_copy(raw_cached, raw)
    overrides: list[str] = []
    try:
        # --- probe: choose the config -------------------------------------------------
        mode_reason = "--fast given" if args.fast else "default config"
        if args.fast:
            overrides = [FAST_OVERRIDE]
        elif args.budget_min > 0 and args.files > args.probe_files:
            probe_raw, probe_out = work / "probe-raw", work / "probe-out"
            step = max(1, len(plan) // args.probe_files)
            for p in plan[::step][: args.probe_files]:
                (probe_raw / p["rel"]).parent.mkdir(parents=True, exist_ok=True)
                os.link(raw / p["rel"], probe_raw / p["rel"])
            probe = run_build(
                probe_raw, probe_out, jobs=args.jobs, overrides=[], label="probe (default config)"
            )
            n_probe = min(args.probe_files, len(plan[::step]))
            estimate = probe["wall_seconds"] * len(plan) / n_probe
            results["probe"] = {**probe, "files": n_probe, "estimated_full_build_seconds": estimate}
            shutil.rmtree(probe_out, ignore_errors=True)
            shutil.rmtree(probe_raw, ignore_errors=True)
            if estimate > args.budget_min * 60:
                overrides = [FAST_OVERRIDE]
                mode_reason = (
                    f"switched to --fast: the probe predicted {estimate / 60:.1f} min for the default "
                    f"config, over the {args.budget_min:g} min budget"
                )
            else:
                mode_reason = f"default config (probe predicted {estimate / 60:.1f} min)"
        results["config"] = {"overrides": overrides, "reason": mode_reason}
        print(f"config: {mode_reason}", flush=True)

        # --- 2. full build ------------------------------------------------------------
        full = run_build(raw, out, jobs=args.jobs, overrides=overrides, label="full build")
        results["full"] = full
        snap_full = snapshot(out)
        results["full"]["du"] = du(snap_full)
        check(full["errors"] == 0, f"full build: {full['errors']} error records {full['error_messages']}")
        check(full["published"] and full["computed"], "full build computed and published a version")
        v_full = full["version"]

        # --- 3. no-op rebuilds --------------------------------------------------------
        noops = []
        for r in range(args.noop_repeat):
            before = snapshot(out)
            latest_before = (out / "LATEST").read_text()
            res = run_build(raw, out, jobs=args.jobs, overrides=overrides, label=f"no-op rebuild {r + 1}")
            after = snapshot(out)
            d = diff_snapshots(before, after)
            res["diff"] = d
            noops.append(res)
            tag = f"no-op rebuild {r + 1}"
            check(res["computed"] is False, f"{tag}: report.computed is {res['computed']} (expected False)")
            check(
                res["published"] is False, f"{tag}: report.published is {res['published']} (expected False)"
            )
            check(
                (out / "LATEST").read_text() == latest_before and res["version"] == v_full,
                f"{tag}: LATEST / version unchanged ({res['version']} vs {v_full})",
            )
            check(not res["stage_runs"], f"{tag}: stages ran: {fmt_runs(res['stage_runs'])}")
            store_files = {a: c for a, c in d["files_by_area"].items() if a != "other" and any(c.values())}
            check(not store_files, f"{tag}: objects/shards/versions untouched (changes: {store_files})")
        walls = [x["wall_seconds"] for x in noops]
        procs = [x["process_seconds"] for x in noops]
        results["noop"] = {
            "runs": noops,
            "wall_seconds_min": min(walls),
            "wall_seconds_median": float(np.median(walls)),
            "process_seconds_min": min(procs),
            "seconds_per_1000_inputs": min(walls) / len(plan) * 1000,
            "seconds_per_1000_inputs_median": float(np.median(walls)) / len(plan) * 1000,
            "seconds_per_1000_items": min(walls) / max(full["items"], 1) * 1000,
            "fraction_of_full": min(walls) / full["wall_seconds"],
        }
        check(
            results["noop"]["seconds_per_1000_inputs"] < 1.0,
            f"no-op rebuild: {results['noop']['seconds_per_1000_inputs']:.3f} s per 1000 inputs (target < 1)",
        )

        # --- 4. touch one file --------------------------------------------------------
        entry = plan[len(plan) // 2]
        manifest_full = [
            json.loads(x)
            for x in (out / "versions" / f"{v_full}.manifest.jsonl").read_text(encoding="utf-8").splitlines()
            if x.strip()
        ]
        old_items = sorted(
            r["id"] for r in manifest_full if r["source"] == entry["rel"] and r["kind"] == "item"
        )
        rewrite_file(raw / entry["rel"], entry)
        before = snapshot(out)
        touch = run_build(raw, out, jobs=args.jobs, overrides=overrides, label=f"touch {entry['rel']}")
        after = snapshot(out)
        touch["diff"] = diff_snapshots(before, after)
        touch["touched"] = {
            "rel": entry["rel"],
            "rate_hz": entry["rate"],
            "seconds": entry["seconds"],
            "file_bytes": (raw / entry["rel"]).stat().st_size,
            "items_before": old_items,
        }
        touch["fraction_of_full"] = touch["wall_seconds"] / full["wall_seconds"]
        v_touch = touch["version"]
        check(touch["published"] and v_touch != v_full, f"touch: a new version was published ({v_touch})")
        check(touch["errors"] == 0, f"touch: {touch['errors']} error records {touch['error_messages']}")
        if v_touch and v_touch != v_full:
            vrec_old = read_json(out / "versions" / f"{v_full}.json")
            vrec_new = read_json(out / "versions" / f"{v_touch}.json")
            old_k = {i: e["key"] for i, e in vrec_old["items"].items()}
            new_k = {i: e["key"] for i, e in vrec_new["items"].items()}
            changed_ids = sorted(i for i in new_k.keys() | old_k.keys() if old_k.get(i) != new_k.get(i))
            new_items = sorted(i for i in new_k if i.split("#", 1)[0] == entry["rel"])
            touch["touched"]["items_after"] = new_items
            touch["changed_items"] = changed_ids
            touch["version_changes"] = vrec_new.get("changes")
            n_touched = max(len(old_items), len(new_items), 1)
            check(
                set(changed_ids) <= set(old_items) | set(new_items),
                f"touch: only the touched file's items changed (changed: {changed_ids[:6]})",
            )
            shards_new = set(vrec_new["shards"]) - set(vrec_old["shards"])
            touch["shards_total"] = len(vrec_new["shards"])
            touch["shards_new"] = len(shards_new)
            touch["shard_bytes_written"] = sum(
                f.stat().st_size for s in shards_new for f in (out / "shards" / s).iterdir()
            )
            item_bytes = sum(
                4 * (e["audio"][1] - e["audio"][0])
                + (e["frames"][1] - e["frames"][0]) * (4 * vrec_new["n_mels"] + 10)
                for i, e in vrec_new["items"].items()
                if i in new_items
            )
            touch["touched_item_shard_bytes"] = item_bytes
            touch["write_amplification"] = touch["diff"]["written_bytes"] / max(item_bytes, 1)
            runs = touch["stage_runs"]
            check(
                runs.get("load") == 1 and runs.get("slice") == 1,
                f"touch: load/slice ran once (runs: {fmt_runs(runs)})",
            )
            check(
                all(v <= n_touched for v in runs.values())
                and set(runs) <= {"load", "slice", "loudness", "denoise", "f0", "mel", "volume", "validate"},
                f"touch: stage_runs {fmt_runs(runs)} limited to the touched file's {n_touched} item(s)",
            )
        results["touch"] = touch

        # --- 5. mel-only rebuild ------------------------------------------------------
        before = snapshot(out)
        mel = run_build(
            raw, out, jobs=args.jobs, overrides=[*overrides, MEL_OVERRIDE], label="mel-only rebuild"
        )
        mel["diff"] = diff_snapshots(before, snapshot(out))
        mel["fraction_of_full"] = mel["wall_seconds"] / full["wall_seconds"]
        mel["process_fraction_of_full"] = mel["process_seconds"] / full["process_seconds"]
        mel_stage = mel["stage_seconds"].get("mel", 0.0)
        full_mel = full["stage_seconds"].get("mel", 0.0)
        mel["mel_stage_ratio_to_full"] = mel_stage / full_mel if full_mel else None
        results["mel"] = mel
        runs = mel["stage_runs"]
        check(
            set(runs) <= {"mel", "validate"},
            f"mel-only rebuild ran only mel/validate (runs: {fmt_runs(runs)})",
        )
        check(
            runs.get("mel") == touch["items"] and runs.get("validate") == touch["items"],
            f"mel-only rebuild: mel and validate ran once per item "
            f"({fmt_runs(runs)}, items {touch['items']})",
        )
        check(mel["errors"] == 0, f"mel-only rebuild: {mel['errors']} error records {mel['error_messages']}")

        # --- 6. reads -----------------------------------------------------------------
        read_version = v_touch or None
        reads = bench_reads(out, read_version, epochs=args.read_epochs, seed=SEED)
        need_items = args.gpu_batch * args.gpu_steps_per_s
        need_audio = need_items * args.gpu_item_s
        reads["gpu_need"] = {
            "items_per_s": need_items,
            "audio_s_per_s": need_audio,
            "audio_hours_per_s": need_audio / 3600,
            "what": f"{args.gpu_batch} items x {args.gpu_item_s:g} s per step at "
            f"{args.gpu_steps_per_s:g} steps/s",
        }
        for passes in reads["passes"].values():
            for p in passes:
                p["x_gpu_need_items"] = p["items_per_s"] / need_items
                p["x_gpu_need_audio"] = p["audio_s_per_s"] / need_audio
        results["reads"] = reads
    finally:
        results["bench_seconds"] = time.perf_counter() - t_bench
        results["machine"]["loadavg_end"] = os.getloadavg()
        live_end = source_fingerprint(live_package)["svcprep_sources_sha1"]
        results["source"]["working_tree_sha1_end"] = live_end
        if live_end != fingerprint["svcprep_sources_sha1"]:
            results.setdefault("notes", []).append(
                "the svcprep working tree changed while the benchmark ran; every build used the "
                "snapshot taken at the start (source.svcprep_sources_sha1)"
            )
        results["checks"] = {"failed": check.failed, "passed": check.passed}
        results["work_dir"] = str(work) if args.keep else None
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"store-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
        path.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print_summary(results)
    print(f"\nJSON: {path}")
    if args.keep:
        print(f"kept: {work}")
    return 1 if check.failed else 0


def print_summary(r: dict[str, Any]) -> None:
    """The compact human-readable summary."""
    raw, full, noop, touch, mel, reads = (r[k] for k in ("raw", "full", "noop", "touch", "mel", "reads"))
    print("\n=== svcprep store benchmark ===")
    print(
        f"input: {raw['files']} files, {raw['speakers']} speakers, "
        f"{raw['audio_seconds'] / 60:.1f} min of audio, "
        f"rates {raw['rates_hz']}, {raw['bytes'] / MB:.0f} MB"
    )
    print(
        f"config: {r['config']['reason']} (overrides {r['config']['overrides'] or 'none'}); "
        f"jobs {full['jobs']}; f0 {full['f0_method']}"
    )
    n_in = raw["files"]
    rows = [
        [
            "full build",
            f"{full['wall_seconds']:.1f}",
            f"{full['process_seconds']:.1f}",
            "1.000",
            f"{full['items']} items",
            f"{full['loadavg_1min'][0]:.1f}->{full['loadavg_1min'][1]:.1f}",
            fmt_runs(full["stage_runs"]),
        ],
    ]
    for k, x in enumerate(noop["runs"]):
        rows.append(
            [
                f"no-op {k + 1}",
                f"{x['wall_seconds']:.3f}",
                f"{x['process_seconds']:.2f}",
                f"{x['wall_seconds'] / full['wall_seconds']:.4f}",
                f"{x['wall_seconds'] / n_in * 1000:.3f} s/1k in",
                f"{x['loadavg_1min'][0]:.1f}->{x['loadavg_1min'][1]:.1f}",
                fmt_runs(x["stage_runs"]),
            ]
        )
    rows.append(
        [
            "touch 1 file",
            f"{touch['wall_seconds']:.2f}",
            f"{touch['process_seconds']:.2f}",
            f"{touch['fraction_of_full']:.4f}",
            f"{len(touch.get('changed_items', []))} changed",
            f"{touch['loadavg_1min'][0]:.1f}->{touch['loadavg_1min'][1]:.1f}",
            fmt_runs(touch["stage_runs"]),
        ]
    )
    rows.append(
        [
            "mel.n_mels=80",
            f"{mel['wall_seconds']:.2f}",
            f"{mel['process_seconds']:.2f}",
            f"{mel['fraction_of_full']:.4f}",
            f"{mel['items']} items",
            f"{mel['loadavg_1min'][0]:.1f}->{mel['loadavg_1min'][1]:.1f}",
            fmt_runs(mel["stage_runs"]),
        ]
    )
    print()
    print(table(rows, ["build", "build s", "process s", "x full", "note", "load", "stage_runs"]))
    print(
        f"\nfull build: RTF {raw['audio_seconds'] / full['wall_seconds']:.1f}, stage s "
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(full["stage_seconds"].items(), key=lambda kv: -kv[1]))
    )
    print(
        f"no-op: min {noop['wall_seconds_min']:.3f} s = "
        f"{noop['seconds_per_1000_inputs']:.3f} s per 1000 inputs "
        f"(median {noop['seconds_per_1000_inputs_median']:.3f}); main process read "
        f"{noop['runs'][0]['main_rchar'] / MB:.2f} MB, wrote {noop['runs'][0]['main_wchar'] / MB:.3f} MB"
    )

    drows = []
    for name, x in (("no-op 1", noop["runs"][0]), ("touch 1 file", touch), ("mel.n_mels=80", mel)):
        d = x["diff"]
        drows.append(
            [
                name,
                f"{d['du_before']['allocated'] / MB:.1f}",
                f"{d['du_after']['allocated'] / MB:.1f}",
                f"{d['du_delta']['allocated'] / MB:+.1f}",
                *(
                    f"{(d['new_bytes'][a] + d['rewritten_bytes'][a]) / MB:.2f}"
                    for a in ("objects", "shards", "versions", "other")
                ),
                f"{d['written_bytes'] / MB:.2f}",
                f"{x['tree_oublock_bytes'] / MB:.1f}",
            ]
        )
    print()
    print(
        table(
            drows,
            [
                "bytes (MB)",
                "du before",
                "du after",
                "du delta",
                "objects",
                "shards",
                "versions",
                "other",
                "written",
                "blk writes",
            ],
        )
    )
    if "touched_item_shard_bytes" in touch:
        print(
            f"touch: {touch['touched']['rel']} ({touch['touched']['file_bytes'] / 1e3:.0f} kB, "
            f"items {touch['touched']['items_before']} -> {touch['touched']['items_after']}); "
            f"{touch['shards_new']} of {touch['shards_total']} shards rewritten "
            f"({touch['shard_bytes_written'] / MB:.1f} MB) for "
            f"{touch['touched_item_shard_bytes'] / MB:.2f} MB "
            f"of item data: write amplification x{touch['write_amplification']:.0f}"
        )
    print(
        f"mel-only: {mel['fraction_of_full']:.3f} of the full build "
        f"(process {mel['process_fraction_of_full']:.3f}); "
        f"mel stage {mel['stage_seconds'].get('mel', 0):.1f} s "
        f"vs {full['stage_seconds'].get('mel', 0):.1f} s in the full build"
    )

    need = reads["gpu_need"]
    print(
        f"\nreads: {reads['items']} items ({reads['mean_item_seconds']:.2f} s mean, {reads['n_mels']} mels), "
        f"{reads['bytes'] / MB:.0f} MB in {reads['shards']} shards, "
        f"open {reads['open_seconds'] * 1e3:.0f} ms; "
        f"GPU need: {need['what']} = {need['items_per_s']:g} items/s = {need['audio_s_per_s']:g} audio s/s "
        f"({need['audio_hours_per_s']:.3f} h/s)"
    )
    rrows = []
    for name, passes in reads["passes"].items():
        best = max(passes, key=lambda p: p["items_per_s"])
        first = passes[0]
        rrows.append(
            [
                name,
                f"{first['items_per_s']:.0f}",
                f"{best['items_per_s']:.0f}",
                f"{best['mb_per_s']:.0f}",
                f"{best['audio_hours_per_s']:.2f}",
                f"{best['x_gpu_need_items']:.1f}",
                f"{best['x_gpu_need_audio']:.1f}",
            ]
        )
    print(
        table(
            rrows,
            ["path", "items/s ep1", "items/s best", "MB/s", "audio h/s", "x need items", "x need audio"],
        )
    )
    for w in (0, 2):
        if f"torch_w{w}_first_item_seconds" in reads:
            print(f"torch num_workers={w}: first item after {reads[f'torch_w{w}_first_item_seconds']:.2f} s")
    for note in r.get("notes", []) + reads.get("notes", []):
        print(f"note: {note}")
    failed = r["checks"]["failed"]
    print(f"\nchecks: {len(r['checks']['passed'])} passed, {len(failed)} failed")
    for f in failed:
        print(f"  CHECK FAILED: {f}")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "_child":
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
