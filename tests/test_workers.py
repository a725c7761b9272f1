"""svcprep._workers.parallel_map: ``jobs`` processes, the calling one included."""

from __future__ import annotations

import os
import threading
import time

import pytest

from svcprep._workers import parallel_map


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"task {x} failed")
    time.sleep(0.05)
    return x


def _die_in_worker(parent_pid: int) -> int:
    if os.getpid() != parent_pid:
        os._exit(3)
    time.sleep(0.2)
    return 0


def _thread_env(seconds: float) -> tuple[int, str | None]:
    time.sleep(seconds)
    return os.getpid(), os.environ.get("OPENBLAS_NUM_THREADS")


def test_every_result_arrives_once_in_the_calling_thread() -> None:
    seen: list[int] = []
    threads: set[int] = set()

    def done(r: int) -> None:
        seen.append(r)
        threads.add(threading.get_ident())

    parallel_map(_square, list(range(40)), 2, done)
    assert sorted(seen) == [x * x for x in range(40)]
    assert threads == {threading.get_ident()}


def test_two_jobs_are_this_process_and_one_worker() -> None:
    pids: list[int] = []
    parallel_map(_pid_after, [0.4] * 12, 2, pids.append)  # the worker starts well within 4.8 s
    assert os.getpid() in pids  # the caller computes too
    assert len(set(pids)) == 2  # and one worker: two processes in all
    assert pids.count(os.getpid()) >= 2


def test_one_job_runs_in_process() -> None:
    pids: list[int] = []
    parallel_map(_pid_after, [0.0] * 5, 1, pids.append)
    assert set(pids) == {os.getpid()}


def test_workers_run_with_one_blas_thread() -> None:
    envs: list[tuple[int, str | None]] = []
    parallel_map(_thread_env, [0.4] * 12, 2, envs.append)
    from_workers = {env for pid, env in envs if pid != os.getpid()}
    assert from_workers == {"1"}


def test_a_failing_task_stops_the_run_with_its_error() -> None:
    got: list[int] = []
    with pytest.raises(ValueError, match="task 3 failed"):
        parallel_map(_fail_on_three, list(range(12)), 2, got.append)
    assert len(got) < 12
    # the pool is usable again afterwards
    out: list[int] = []
    parallel_map(_square, [1, 2, 3], 2, out.append)
    assert sorted(out) == [1, 4, 9]


def test_a_dead_worker_stops_the_run() -> None:
    with pytest.raises(Exception, match=r"(?i)terminat|broken|exit"):
        parallel_map(_die_in_worker, [os.getpid()] * 24, 2, lambda r: None)
    out: list[int] = []
    parallel_map(_square, [1, 2, 3], 2, out.append)  # a new pool replaces the broken one
    assert sorted(out) == [1, 4, 9]
