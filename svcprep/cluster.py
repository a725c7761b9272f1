"""Running a build's work on a Dask cluster (``svcprep build RAW OUT --dask ADDRESS``).

The process that calls :func:`svcprep.build` is the client: it discovers the inputs, plans,
collects the small outcome of every task and publishes the version, exactly as a local
build does. Workers run the same task functions as local workers (hash a file, decode and
slice a source, compute one item) and write content-addressed objects into ``OUT/objects``
themselves, atomically, so RAW and OUT must be on a filesystem every worker mounts at the
same path. Nothing here changes what is computed or how it is keyed, so a version built on a
cluster is byte-identical to a local ``-j 1`` build, and each builds on the other's cache.

Faults
------
- A worker that dies mid-task (killed, out of memory): the scheduler runs the task again
  elsewhere. After ``distributed.scheduler.allowed-failures`` deaths (3 by default; 2 for
  ``local:N``) it gives up with ``KilledWorker``, and the input becomes one ``error`` record
  flagged ``processing_error``. Nothing is cached for it, so the next build tries it again.
- A task that raises is run again ``TASK_RETRIES`` times (a flaky shared filesystem); then
  its exception stops the build, as it does locally.
- The scheduler going away: :class:`~svcprep.errors.ClusterError`. Nothing is published, and
  every object finished so far stays in the cache for the next run, local or on a cluster.

Every task checks, on its worker, that it sees this build's marker file in OUT and runs the
client's svcprep and library versions (they enter the cache keys), and runs alone in its
worker process with one BLAS/OpenMP thread, as a local worker does.

``distributed`` is imported only here, and only when a build asks for a cluster.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from svcprep import __version__
from svcprep.errors import ClusterError, ConfigError, StoreError

if TYPE_CHECKING:
    from svcprep.config import BuildConfig

__all__ = [
    "ACCEPTED_FORMS",
    "INSTALL_HINT",
    "DaskRunner",
    "DaskTarget",
    "hash_file",
    "keyed_versions",
    "parse_dask_target",
    "require_distributed",
]

T = TypeVar("T")
R = TypeVar("R")

INSTALL_HINT = "pip install 'svcprep[dask]'"

ACCEPTED_FORMS = (
    "local (one worker process per core of this machine), local:N (N worker processes, N >= 1), "
    "a scheduler address such as tcp://HOST:8786 (also tls://, ws://, wss://, ucx://, or HOST:PORT), "
    "or the JSON file written by `dask scheduler --scheduler-file FILE`"
)

#: Times a task that raised is run again before its exception stops the build. Worker deaths
#: are counted separately, by the scheduler's ``distributed.scheduler.allowed-failures``.
TASK_RETRIES = 2

#: Finished tasks are fetched together at most this often: each fetch costs the client a few ms
#: of CPU, so fetching every result alone would dominate its time when items are short.
GATHER_EVERY_S = 0.25

#: ``allowed-failures`` of the scheduler ``local:N`` starts: a decoder that crashes its worker
#: costs three worker restarts before the input is given up.
LOCAL_ALLOWED_FAILURES = 2

_LOCAL = re.compile(r"local(?::(.*))?")
_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)"
_URL = re.compile(rf"(?:tcp|tls|ws|wss|ucx)://{_HOST}(?::\d{{1,5}})?")
_HOST_PORT = re.compile(rf"{_HOST}:\d{{1,5}}")


def require_distributed() -> None:
    """Raise :class:`ConfigError` with the install command when Dask's distributed is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError as err:
        raise ConfigError(
            f"--dask runs the build on Dask's distributed scheduler, an optional extra that is not "
            f"installed ({err}): {INSTALL_HINT}"
        ) from None


@dataclass(frozen=True)
class DaskTarget:
    """Where a build's tasks go (parsed from ``--dask`` before any work).

    Exactly one of: ``local`` (a ``LocalCluster`` of ``n_workers`` processes, all cores when
    None), ``address``, ``scheduler_file``, or ``client`` (an existing ``distributed.Client``).
    """

    spec: str
    local: bool = False
    n_workers: int | None = None
    address: str | None = None
    scheduler_file: Path | None = None
    client: Any = None


def _bad(value: str, why: str = "") -> str:
    return f"--dask {value!r} is not a Dask cluster{': ' + why if why else ''}; use {ACCEPTED_FORMS}"


def parse_dask_target(value: Any) -> DaskTarget:
    """Check a ``--dask`` / ``dask=`` value (its form only: connecting comes later).

    Raises
    ------
    ConfigError
        The value has none of the accepted forms, or ``distributed`` is not installed.
    """
    if not isinstance(value, str):
        require_distributed()
        from distributed import Client

        if isinstance(value, Client):
            address = getattr(getattr(value, "scheduler", None), "address", None)
            return DaskTarget(spec=str(address or "the given client"), client=value)
        raise ConfigError(
            f"dask={value!r}: give a string ({ACCEPTED_FORMS}) or a distributed.Client, or None to "
            "build on this machine"
        )
    spec = value.strip()
    m = _LOCAL.fullmatch(spec)
    if m is not None:
        n: int | None = None
        if m.group(1) is not None:
            try:
                n = int(m.group(1))
            except ValueError:
                n = 0
            if n < 1:
                raise ConfigError(_bad(value, "N in local:N must be a whole number of at least 1"))
        target = DaskTarget(spec, local=True, n_workers=n)
    elif _URL.fullmatch(spec) or _HOST_PORT.fullmatch(spec):
        target = DaskTarget(spec, address=spec)
    elif spec.endswith(".json"):
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(_bad(value, f"the scheduler file {path} does not exist"))
        target = DaskTarget(spec, scheduler_file=path)
    else:
        raise ConfigError(_bad(value))
    require_distributed()
    return target


def keyed_versions(cfg: BuildConfig, libraries: Iterable[str] = ()) -> dict[str, str]:
    """svcprep's version, and those of ``libraries`` and of every library a stage's cache key
    names under ``cfg``.

    Every worker must run these exact versions: the client computes the keys, the workers
    compute what is stored under them.
    """
    from svcprep.stages import STAGES
    from svcprep.store.keys import library_versions

    names = {lib for st in STAGES.values() for lib in st.libraries_for(cfg)} | set(libraries)
    return {"svcprep": __version__, **library_versions(sorted(names))}


# --- on the worker ----------------------------------------------------------------------


@dataclass(frozen=True)
class _WorkerCheck:
    """What every task checks on its worker before it runs (small: sent with each task)."""

    marker: str  # a file the client wrote in OUT for this build
    versions: Mapping[str, str] = field(default_factory=dict)
    raw: str = ""  # the raw folder, as the client sees it


_WORKER_LOCK = threading.Lock()
_WORKER_STATE: dict[str, Any] = {}


def _check_worker(check: _WorkerCheck) -> None:
    shared = "RAW and OUT must be on a filesystem every worker mounts at the same path (NFS, Lustre, ...)"
    if not os.path.exists(check.marker):
        raise StoreError(
            f"the Dask worker on {socket.gethostname()} (pid {os.getpid()}) cannot see {check.marker}, "
            f"which the client wrote in OUT: {shared}"
        )
    if check.raw and not os.path.isdir(check.raw):
        raise ConfigError(
            f"the Dask worker on {socket.gethostname()} (pid {os.getpid()}) cannot see the raw folder "
            f"{check.raw}: {shared}"
        )
    mine: dict[str, str] = _WORKER_STATE.setdefault("versions", {"svcprep": __version__})
    missing = sorted(k for k in check.versions if k not in mine)
    if missing:
        from svcprep.store.keys import library_versions

        mine.update(library_versions(missing))
    diff = [f"{k} {mine.get(k)} (client: {v})" for k, v in check.versions.items() if mine.get(k) != v]
    if diff:
        raise ConfigError(
            f"the Dask worker on {socket.gethostname()} runs other versions than the client: "
            + ", ".join(diff)
            + ". They enter the cache keys: install the same versions on every worker and the client"
        )


def _limit_threads() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # this worker process only; kept until it exits


def _on_worker(task: Any, *, fn: Callable[[Any], Any], check: _WorkerCheck) -> Any:
    """Run one task on a Dask worker: alone in its process, with one BLAS/OpenMP thread."""
    with _WORKER_LOCK:  # a worker started with --nthreads > 1 still runs one item at a time
        _check_worker(check)
        first = not _WORKER_STATE.get("limited")
        if first:
            _limit_threads()
        try:
            return fn(task)
        finally:
            if first:  # again, for the native libraries the first task loaded
                _limit_threads()
                _WORKER_STATE["limited"] = True


def hash_file(path: Path) -> tuple[Path, tuple[str, int, int] | None]:
    """``(path, (digest, size, mtime_ns))`` of one raw input, or ``(path, None)`` when unreadable.

    Runs on a worker so that the client never reads the audio; the client records the result
    in its :class:`~svcprep.store.keys.FileHashMemo` (an unreadable file is reported there).
    """
    from svcprep.store.keys import file_digest

    try:
        st = path.stat()
        return path, (file_digest(path), st.st_size, st.st_mtime_ns)
    except OSError:
        return path, None


# --- on the client ----------------------------------------------------------------------


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Only critical messages from the loggers ``names`` while the block runs."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _batches(pending: Any, *, every_s: float) -> Iterator[list[Any]]:
    """The futures of a ``distributed.as_completed`` as they finish, at most one batch per ``every_s``."""
    last = time.monotonic()
    while True:
        try:
            batch = pending.next_batch(block=True)
        except StopIteration:
            return
        wait = last + every_s - time.monotonic()
        if wait > 0 and pending.count():
            time.sleep(wait)
            batch += pending.next_batch(block=False)
        last = time.monotonic()
        yield batch


def _death_reason(err: BaseException, what: str) -> str:
    tries = 2 * (int(getattr(err, "allowed_failures", 0)) + 1)
    return (
        f"the Dask worker process died each time it ran this {what} ({tries} tries; killed, out of "
        "memory, or a crash inside a decoder or native library): see the worker logs. The next build "
        "tries it again"
    )


class DaskRunner:
    """Runs a build's tasks on a Dask cluster.

    A context manager: entering connects to the scheduler (or starts the ``LocalCluster`` of
    ``local:N``); leaving cancels what is still queued and closes what it started (never a
    client it was given).

    Parameters
    ----------
    target
        From :func:`parse_dask_target`.
    out
        The output folder (the marker file every task looks for is written there).
    versions
        From :func:`keyed_versions`: what every worker must run.
    raw
        The raw folder, which every task checks it sees (not checked when None).
    """

    def __init__(
        self, target: DaskTarget, *, out: Path, versions: Mapping[str, str], raw: Path | None = None
    ) -> None:
        self.target = target
        self.out = out
        self.raw = raw
        self.versions = dict(versions)
        self.client: Any = None
        self._cluster: Any = None
        self._marker: Path | None = None
        self._pending: dict[str, Any] = {}  # key -> future not collected yet

    # -- connecting ------------------------------------------------------------------------

    def __enter__(self) -> DaskRunner:
        try:
            self._connect()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _connect(self) -> None:
        import dask
        from distributed import Client, LocalCluster

        t = self.target
        if t.client is not None:
            self.client = t.client
            return
        if t.local:
            n = t.n_workers or os.cpu_count() or 1
            settings = {
                "distributed.scheduler.allowed-failures": LOCAL_ALLOWED_FAILURES,
                "distributed.scheduler.worker-saturation": 1.0,  # no task waits on a worker that may die
            }
            try:
                with dask.config.set(settings):
                    self._cluster = LocalCluster(
                        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
                    )
            except RuntimeError as err:
                raise ClusterError(
                    f"cannot start {n} local Dask workers ({err}). Dask starts them with multiprocessing's "
                    "spawn, which imports the calling script again: a script that builds with "
                    "dask='local...' must do its work under `if __name__ == \"__main__\":`"
                ) from None
            self.client = Client(self._cluster, set_as_default=False)
            return
        try:
            if t.scheduler_file is not None:
                self.client = Client(scheduler_file=str(t.scheduler_file), set_as_default=False)
            else:
                self.client = Client(t.address, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {t.spec}: {err}. Start one with `dask scheduler` "
                "and workers with `dask worker ADDRESS --nthreads 1`, or build on this machine with "
                "--dask local:N or -j N"
            ) from None

    def close(self) -> None:
        """Cancel this build's unfinished tasks, remove the marker, close what was started here."""
        if self.client is not None and self._pending and self.client.status == "running":
            with contextlib.suppress(Exception):  # best effort: the scheduler may be gone already
                self.client.cancel(list(self._pending.values()), force=True)
        self._pending.clear()
        if self._marker is not None:
            with contextlib.suppress(OSError):
                self._marker.unlink()
            self._marker = None
        if self.target.client is None:
            lost = self.client is not None and self.client.status != "running"
            quiet = _quiet("distributed", "distributed.client") if lost else contextlib.nullcontext()
            with quiet:  # closing a client that is still trying to reconnect logs tracebacks
                if self.client is not None:
                    self.client.close()
                if self._cluster is not None:
                    self._cluster.close()
        self.client = self._cluster = None

    def _check(self) -> _WorkerCheck:
        if self._marker is None:  # written on first use: the build sweeps temporaries after connecting
            from svcprep.store.atomic import TMP_PREFIX

            marker = self.out.resolve() / f"{TMP_PREFIX}dask-{uuid.uuid4().hex}"
            try:
                marker.write_text("svcprep build in progress: every Dask worker must see this file\n")
            except OSError as err:
                raise StoreError(f"cannot write to output folder {self.out}: {err.strerror or err}") from None
            self._marker = marker
        return _WorkerCheck(str(self._marker), self.versions, "" if self.raw is None else str(self.raw))

    # -- running ---------------------------------------------------------------------------

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        on_done: Callable[[R], None],
        lost: Callable[[T, str], R],
        *,
        what: str,
    ) -> None:
        """Run ``fn`` over ``tasks`` on the cluster, calling ``on_done`` as each result arrives.

        All tasks are submitted at once and the scheduler balances them. A worker that dies
        also counts against the tasks queued on it beside the one it was running, so a task
        the scheduler gives up on (``KilledWorker``) runs once more with no other task queued
        on its worker (at most one per worker) before it becomes ``lost(task, reason)``. A
        task that raised (after its retries) raises here; losing the scheduler raises
        :class:`ClusterError`.
        """
        if not tasks:
            return
        killed = self._run(fn, list(tasks), on_done, what=what, one_per_worker=False)
        if killed:
            again = self._run(fn, [t for t, _ in killed], on_done, what=what, one_per_worker=True)
            for task, err in again:
                on_done(lost(task, _death_reason(err, what)))

    def _run(
        self,
        fn: Callable[[T], R],
        tasks: list[T],
        on_done: Callable[[R], None],
        *,
        what: str,
        one_per_worker: bool,
    ) -> list[tuple[T, BaseException]]:
        """One pass over ``tasks``; returns the tasks whose workers all died, with the error."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        check = self._check()
        queue = list(reversed(tasks))  # popped from the end: submitted in the given order
        by_key: dict[str, T] = {}
        killed: list[tuple[T, BaseException]] = []
        failed: Any = None

        def submit(n: int) -> list[Any]:
            batch = [queue.pop() for _ in range(min(n, len(queue)))]
            keys = [f"svcprep-{what}-{uuid.uuid4().hex}" for _ in batch]
            by_key.update(zip(keys, batch, strict=True))
            futures = self.client.map(
                _on_worker, batch, fn=fn, check=check, key=keys, retries=TASK_RETRIES, pure=False
            )
            self._pending.update((f.key, f) for f in futures)
            return list(futures)

        def room() -> int:  # how many more tasks may be in flight
            if not one_per_worker:
                return len(queue)
            return max(1, len(self.client.nthreads())) - len(self._pending)

        try:
            pending = as_completed(submit(room()), loop=self.client.loop)
            for batch in _batches(pending, every_s=0 if one_per_worker else GATHER_EVERY_S):
                done = [f for f in batch if f.status == "finished"]
                results = self.client.gather(done) if done else []
                for f, res in zip(done, results, strict=True):
                    self._pending.pop(f.key, None)
                    on_done(res)
                for f in batch:
                    if f.status == "finished":
                        continue
                    if f.status == "cancelled":
                        raise ClusterError(self._lost_message("the connection to it closed"))
                    if f.status != "error":  # its result was lost with its worker: computed again
                        pending.add(f)
                        continue
                    self._pending.pop(f.key, None)
                    err = f.exception()
                    if isinstance(err, KilledWorker):
                        killed.append((by_key[f.key], err))
                    elif failed is None:
                        failed = f
                del batch, done, results
                if failed is not None:
                    break
                if queue:
                    pending.update(submit(room()))
        except (OSError, TimeoutError, asyncio.CancelledError, concurrent.futures.CancelledError) as err:
            if isinstance(err, ClusterError):
                raise
            raise ClusterError(self._lost_message(f"{type(err).__name__}: {err}")) from None
        if failed is not None:
            try:
                failed.result()  # raises the task's own exception, with its traceback from the worker
            except (asyncio.CancelledError, concurrent.futures.CancelledError) as err:
                raise ClusterError(self._lost_message(f"{type(err).__name__}: {err}")) from None
        return killed

    def _lost_message(self, detail: str) -> str:
        return (
            f"lost the Dask scheduler at {self.target.spec} during the build ({detail}). Nothing was "
            f"published; every result finished so far is kept in {self.out}: run the build again, "
            "on the cluster or locally, and it resumes from there"
        )
