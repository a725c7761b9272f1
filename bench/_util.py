"""Shared helpers of the svcprep benchmarks (``bench_build.py``, ``bench_memory.py``).

Three things live here:

* **Synthetic songs**: :func:`make_song` strings phrases from
  :func:`svcprep.testing.sing_phrase` together with pauses (as
  ``examples/make_examples.py`` does), seeded, so every run benchmarks the same audio.
* **One build in its own process**: :func:`run_build_subprocess` starts this file as
  a script (``python bench/_util.py child ...``). The child imports svcprep, runs
  :func:`svcprep.build`, shuts the loky worker pool down and prints one JSON line with
  the report's timings and the peak resident set sizes. A fresh process per build
  means the memory figures belong to that build alone and no warm cache in the parent
  helps it.
* **Formatting**: MB / ratio / table helpers for the printed summaries.

Memory figures
--------------
``peak_rss_main_bytes`` is the ``VmHWM`` (peak resident set) of the child, the
process that called ``build``, read from ``/proc/self/status`` after the build.
``peak_rss_worker_bytes`` is the largest ``VmHWM`` of any single descendant (a loky
worker; 0 when the build ran in-process with one job), read from ``/proc`` every
``sample_s`` seconds and once more after the build while the idle workers are still
alive. ``VmHWM`` only grows, so sampling loses at most what a worker that exits
between two samples did in its last moments.

Why not ``getrusage``: on Linux ``ru_maxrss`` survives ``execve``. A process made by
fork (or vfork) + exec starts with ``ru_maxrss`` already at its parent's resident size
(or peak), so ``RUSAGE_SELF`` of the child reports at least the benchmark script's own
memory, and ``RUSAGE_CHILDREN`` at least the main build process's size when it spawned
the workers. Both are still recorded (``ru_maxrss_*``) for comparison; on systems
without ``/proc`` they are the only figures.

``peak_rss_tree_bytes`` is the largest *sum* of the current RSS of the child and all
its descendants at one sampling instant (Linux only; it can miss spikes shorter than
the sampling interval). RSS counts file-backed pages too, so memory-mapped cache
objects that were touched count, and pages shared between processes are counted once
per process in the sum.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Prefix of the child's result line on stdout (everything else the child prints is ignored).
RESULT_MARK = "SVCPREP_BENCH_RESULT "
MB = 1e6


# --- synthetic songs --------------------------------------------------------------------


def midi_to_hz(note: float) -> float:
    """Frequency of a MIDI note number."""
    return float(440.0 * 2 ** ((note - 69) / 12))


def make_song(
    duration_s: float,
    *,
    sample_rate_hz: int,
    low_midi: int,
    high_midi: int,
    vibrato_cents: float,
    seed: int,
) -> np.ndarray:
    """A sung song of exactly ``duration_s`` seconds: four-note phrases separated by pauses.

    Notes are drawn from ``[low_midi, high_midi]``; each phrase is followed by 0.6-1.4 s
    of near-silence (breath and a room noise floor), so the slicer has pauses to cut at.
    Deterministic for a given ``seed``. Returns float32 mono.
    """
    from svcprep.testing import sing_phrase

    rng = np.random.default_rng(seed)
    sr = sample_rate_hz
    n_total = round(duration_s * sr)
    parts = [np.zeros(int(0.4 * sr), np.float32)]
    n = parts[0].size
    i = 0
    while n < n_total:
        notes = tuple(midi_to_hz(m) for m in rng.integers(low_midi, high_midi + 1, size=4))
        v = sing_phrase(
            sample_rate_hz=sr,
            notes_hz=notes,
            note_s=float(rng.uniform(0.8, 1.3)),
            pause_s=0.25,
            vibrato_cents=vibrato_cents,
            vibrato_hz=float(rng.uniform(5.0, 6.2)),
            breath=0.004,
            amplitude=float(rng.uniform(0.25, 0.45)),
            seed=seed * 1000 + i,
        )
        gap = np.zeros(int(rng.uniform(0.6, 1.4) * sr), np.float32)
        parts += [v.audio, gap]
        n += v.audio.size + gap.size
        i += 1
    y = np.concatenate(parts)[:n_total]
    y += (0.0015 * rng.standard_normal(y.size)).astype(np.float32)  # room noise floor
    return y.astype(np.float32)


# --- the child process: one build, then its resource usage --------------------------------


def peak_rss_self() -> int:
    """Peak resident set of this process in bytes (``VmHWM``; ``ru_maxrss`` without ``/proc``)."""
    try:
        return _status_bytes("self", "VmHWM")["VmHWM"]
    except (OSError, KeyError):
        return maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF))


def maxrss_bytes(ru: resource.struct_rusage) -> int:
    """``ru_maxrss`` in bytes (Linux reports KiB, macOS bytes)."""
    return int(ru.ru_maxrss) if sys.platform == "darwin" else int(ru.ru_maxrss) * 1024


def _status_bytes(pid: int | str, *fields: str) -> dict[str, int]:
    """``VmRSS`` / ``VmHWM`` style fields of ``/proc/<pid>/status``, in bytes (missing ones left out)."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            name, _, rest = line.partition(b":")
            key = name.decode()
            if key in fields:
                out[key] = int(rest.split()[0]) * 1024  # the kernel writes kB
    return out


class TreeRssSampler:
    """Samples the memory of this process and all its descendants from ``/proc`` (Linux).

    Runs in a daemon thread. ``peak_bytes`` is the largest sum of ``VmRSS`` over the
    tree seen at one instant (``peak_processes`` processes then); ``hwm`` maps every
    descendant pid ever seen to its largest ``VmHWM``. Does nothing where ``/proc`` is
    missing (``available`` is False).
    """

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.peak_processes = 0
        self.samples = 0
        self.hwm: dict[int, int] = {}
        self.available = Path("/proc/self/status").exists()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRssSampler:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()

    @staticmethod
    def _descendants() -> list[int]:
        root = os.getpid()
        parent: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            # the command name is in parentheses and may contain spaces: split after the last ')'
            fields = stat[stat.rfind(b")") + 2 :].split()
            parent[int(entry.name)] = int(fields[1])
        found, frontier = [], [root]
        while frontier:
            p = frontier.pop()
            kids = [c for c, pp in parent.items() if pp == p]
            found += kids
            frontier += kids
        return found

    def sample(self) -> None:
        """Take one sample now."""
        total, count = 0, 0
        for pid in [os.getpid(), *self._descendants()]:
            try:
                st = _status_bytes(pid, "VmRSS", "VmHWM")
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile
            total += st.get("VmRSS", 0)
            count += 1
            if pid != os.getpid():
                self.hwm[pid] = max(self.hwm.get(pid, 0), st.get("VmHWM", 0))
        self.samples += 1
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_processes = total, count

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)


def _shutdown_loky() -> bool:
    """Shut the reusable loky pool down (waiting), so its workers are reaped. True if one existed."""
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:  # pragma: no cover
        return False
    if getattr(reusable_executor, "_executor", None) is None:
        return False  # never created (one job): do not start one just to stop it
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
    return True


def child_main(argv: Sequence[str]) -> int:
    """Run one build and print its figures as one JSON line (``RESULT_MARK`` + JSON)."""
    t_process = time.perf_counter()
    ap = argparse.ArgumentParser(prog="_util.py child")
    ap.add_argument("raw")
    ap.add_argument("out")
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--sample-s", type=float, default=0.2)
    args = ap.parse_args(argv)

    with TreeRssSampler(args.sample_s) as sampler:
        t_import = time.perf_counter()
        import svcprep

        cfg = svcprep.load_config(overrides=args.overrides)
        import_s = time.perf_counter() - t_import
        load_before = os.getloadavg()
        report = svcprep.build(args.raw, args.out, cfg, jobs=args.jobs)
        sampler.sample()  # the idle workers are still alive: their VmHWM is final
        had_pool = _shutdown_loky()
        load_after = os.getloadavg()

    ru_self = resource.getrusage(resource.RUSAGE_SELF)
    ru_kids = resource.getrusage(resource.RUSAGE_CHILDREN)

    if sampler.available:
        main_peak = _status_bytes("self", "VmHWM")["VmHWM"]
        worker_peak = max(sampler.hwm.values(), default=0)
    else:  # no /proc: fall back to getrusage (see the module docstring for its bias)
        main_peak, worker_peak = maxrss_bytes(ru_self), maxrss_bytes(ru_kids)
    records = report.records
    result: dict[str, Any] = {
        "jobs": args.jobs,
        "overrides": list(args.overrides),
        "f0_method": cfg.f0.method,
        "wall_seconds": report.wall_seconds,
        "process_seconds": time.perf_counter() - t_process,
        "import_seconds": import_s,
        "stage_seconds": dict(report.stage_seconds),
        "source_seconds": report.source_seconds,
        "computed": bool(report.computed),
        "published": bool(report.published),
        "version": report.version,
        "records": len(records),
        "items_ok": sum(r["kind"] == "item" and r["status"] == "ok" for r in records),
        "errors": sum(r["status"] == "error" for r in records),
        "error_messages": sorted({str(r["error"]) for r in records if r["status"] == "error"})[:5],
        "exit_code": report.exit_code,
        # CPU time of this process and its reaped workers, imports included
        "cpu_seconds": ru_self.ru_utime + ru_self.ru_stime + ru_kids.ru_utime + ru_kids.ru_stime,
        # 1-minute load average before and after: well above `jobs` means other work shared the cores
        "loadavg_1min": [load_before[0], load_after[0]],
        "peak_rss_main_bytes": main_peak,
        "peak_rss_worker_bytes": worker_peak,
        "peak_rss_source": "VmHWM" if sampler.available else "ru_maxrss",
        "worker_processes_seen": len(sampler.hwm),
        # getrusage figures, inflated by the parent's memory at fork/exec (see the module docstring)
        "ru_maxrss_self_bytes": maxrss_bytes(ru_self),
        "ru_maxrss_children_bytes": maxrss_bytes(ru_kids),
        "peak_rss_tree_bytes": sampler.peak_bytes if sampler.available else None,
        "peak_tree_processes": sampler.peak_processes,
        "rss_samples": sampler.samples,
        "worker_pool_used": had_pool,
    }
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    return 0


def run_build_subprocess(
    raw: Path, out: Path, *, jobs: int, overrides: Sequence[str] = (), timeout_s: float | None = None
) -> dict[str, Any]:
    """Run one build in a fresh Python process and return the child's figures.

    Raises ``RuntimeError`` with the child's stderr when it fails or prints no result.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "child", str(raw), str(out), "--jobs", str(jobs)]
    for o in overrides:
        cmd += ["--set", o]
    return run_child(cmd, mark=RESULT_MARK, timeout_s=timeout_s)


def run_child(cmd: list[str], *, mark: str, timeout_s: float | None = None) -> dict[str, Any]:
    """Run a benchmark child process; return the JSON it printed after ``mark``, plus
    ``subprocess_seconds`` (its wall time).

    Raises ``RuntimeError`` with the child's stderr when it fails or prints no result.
    """
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    elapsed = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith(mark):
            res: dict[str, Any] = json.loads(line[len(mark) :])
            res["subprocess_seconds"] = elapsed
            return res
    raise RuntimeError(
        f"benchmark child failed (exit {proc.returncode}): {' '.join(cmd)}\n"
        f"--- stderr ---\n{proc.stderr[-4000:]}"
    )


# --- context and formatting -------------------------------------------------------------

#: Libraries the default build imports lazily inside its stages. If one of them fails to
#: import, every item of a build fails fast with a ``processing_error`` record and the
#: timings are meaningless, so the benchmarks check them before starting.
BUILD_LIBRARIES = (
    "numpy",
    "scipy.signal",
    "soundfile",
    "soxr",
    "librosa",
    "noisereduce",
    "pyworld",
    "joblib",
)


_PREFLIGHT = """
import importlib, json, sys
problems = []
for name in sys.argv[1:]:
    try:
        if name == "pyworld":  # svcprep imports it through a shim for setuptools without pkg_resources
            from svcprep._compat import import_pyworld
            import_pyworld()
        else:
            importlib.import_module(name)
    except Exception as err:
        problems.append(f"import {name}: {type(err).__name__}: {err}")
print(json.dumps(problems))
"""


def preflight() -> list[str]:
    """Import every library a default build needs; return one message per failure (empty = fine).

    Runs in a throw-away interpreter: the imports weigh ~300 MB (librosa, numba), which
    would otherwise stay in the benchmark script's own memory.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _PREFLIGHT, *BUILD_LIBRARIES], capture_output=True, text=True, check=False
    )
    try:
        return list(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError):
        return [f"the import check itself failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"]


def require_libraries() -> None:
    """Exit with status 2 and a message when :func:`preflight` finds a library that does not import."""
    problems = preflight()
    if problems:
        sys.exit(
            "svcprep's dependencies do not all import, so a build would only record errors:\n  "
            + "\n  ".join(problems)
        )


def machine_info() -> dict[str, Any]:
    """What the figures were measured on (for the JSON results)."""
    import svcprep

    return {
        "svcprep_version": svcprep.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def mb(n_bytes: float | None) -> str:
    """Bytes as a short MB string (1 MB = 10^6 bytes)."""
    return "n/a" if n_bytes is None else f"{n_bytes / MB:,.0f} MB"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain fixed-width text table (first column left-aligned, the rest right-aligned)."""
    cols = [header, *rows]
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        pairs = enumerate(zip(r, widths, strict=True))
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in pairs]
        return "  ".join(cells)

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def write_json(out_dir: Path, name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` to ``out_dir/<name>-<UTC timestamp>.json`` and return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "child":
        sys.exit(child_main(sys.argv[2:]))
    sys.exit("usage: python bench/_util.py child RAW OUT --jobs N [--set K=V ...] (used by the benchmarks)")
