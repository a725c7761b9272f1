"""The local process pool a build runs on, whose workers end with the build process.

Kept apart from :mod:`svcprep.pipeline` so that a new loky worker runs its initializer
(:func:`exit_with_parent`) within moments of starting, before it imports the heavy modules
its tasks need.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["exit_with_parent", "parallel_map"]

T = TypeVar("T")
R = TypeVar("R")


def exit_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """Loky worker initializer: end this worker within ``poll_s`` once ``parent_pid`` is gone.

    A build process killed with SIGKILL cannot shut its pool down, and its idle workers
    would wait out loky's 300 s idle timeout. The kernel gives an orphan a new parent, so a
    parent pid that is no longer ``parent_pid`` means the build is gone (also when it died
    before this worker got here).
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="svcprep-exit-with-parent", daemon=True).start()


#: Idle workers stay this long (joblib's default), so the phases of a build share them.
_IDLE_TIMEOUT_S = 300

#: Thread-pool size variables set to 1 in every worker (joblib's loky backend sets the same).
_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def _import_module(name: str) -> None:
    """Worker warm-up: import the module a task function comes from."""
    import importlib

    importlib.import_module(name)


def parallel_map(fn: Callable[[T], R], tasks: Sequence[T], jobs: int, on_done: Callable[[R], None]) -> None:
    """Run ``fn`` over ``tasks`` in ``jobs`` processes, this one included.

    This process is one of the ``jobs``: it runs tasks itself while ``jobs - 1`` loky
    worker processes run the others. Each worker is fed one task at a time by a thread
    of its own, from the same queue this process takes its next task from, so tasks
    start in the order given (callers put the longest first) and no process idles while
    a task is waiting. Compared with ``jobs`` workers and an idle parent this saves the
    parent's wait for the pool to start (0.3-0.6 s: a worker takes tasks only once it
    has imported their module), one process's imports and the pickling of the results
    this process computes.

    ``on_done`` is called in this thread only, for each result as it comes (a worker's
    result waits at most for the task this process is running). Every process runs with
    one BLAS/OpenMP thread: workers by their environment, this process by threadpoolctl
    for the duration of the call, so the caller's thread settings are left as they were.
    Workers end with this process (:func:`exit_with_parent`), even when it is killed.
    An exception in any task (or a worker that dies) stops the run: no new task starts,
    the workers are stopped and the exception is raised here.
    """
    if not tasks:
        return
    from threadpoolctl import threadpool_limits

    n_workers = min(jobs, len(tasks)) - 1
    if n_workers <= 0:
        with threadpool_limits(limits=1):
            for t in tasks:
                on_done(fn(t))
        return

    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(
        max_workers=n_workers,
        timeout=_IDLE_TIMEOUT_S,
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
        env=dict.fromkeys(_THREAD_VARS, "1"),
    )
    todo: deque[T] = deque(tasks)
    lock = threading.Lock()
    stop = threading.Event()
    # ("result", value), ("error", exception) or ("end", None) when a feeder is done
    done: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def take() -> list[T]:
        with lock:
            return [todo.popleft()] if todo and not stop.is_set() else []

    def feed() -> None:
        try:
            # tasks go to a worker only once it has started and imported their module:
            # meanwhile this process takes them, so a starting pool delays nothing
            executor.submit(_import_module, fn.__module__).result()
            while task := take():
                done.put(("result", executor.submit(fn, task[0]).result()))
        except BaseException as err:  # a task's error or a dead worker: raised by the caller
            stop.set()
            done.put(("error", err))
        finally:
            done.put(("end", None))

    ended = 0

    def handle(block: bool) -> None:
        nonlocal ended
        while ended < n_workers:
            try:
                kind, value = done.get(block=block)
            except queue.Empty:
                return
            if kind == "error":
                raise value
            if kind == "end":
                ended += 1
            else:
                on_done(value)

    for i in range(n_workers):
        threading.Thread(target=feed, name=f"svcprep-feed-{i}", daemon=True).start()
    try:
        with threadpool_limits(limits=1):
            while task := take():
                result = fn(task[0])
                handle(block=False)
                on_done(result)
        handle(block=True)
    except BaseException:
        stop.set()
        executor.shutdown(wait=False, kill_workers=True)
        raise
