"""Local (``-j N``) worker processes end with the build that started them, even a SIGKILLed one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from svcprep.testing import sing_phrase

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, None when it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # the command name may hold spaces
    state = fields[0].decode()
    return None if state in ("Z", "X") else (state, int(fields[1]))


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None and st[1] == pid:
            kids.append(int(entry.name))
    return kids


def test_loky_workers_end_within_seconds_of_a_sigkilled_build(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for i in range(4):
        v = sing_phrase(sample_rate_hz=22050, notes_hz=(200.0 + 30 * i, 250.0), note_s=0.6, seed=i)
        (raw / "ann").mkdir(parents=True, exist_ok=True)
        sf.write(raw / "ann" / f"t{i}.wav", v.audio, 22050, subtype="PCM_16")
    args = ["build", str(raw), str(tmp_path / "out"), "-j", "2", "--no-progress", "-q"]
    args += ["--set", "f0.method=dio", "--set", "denoise.enabled=false"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "svcprep.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while len(kids := _children(proc.pid)) < 2:  # the two loky workers (and loky's resource tracker)
        assert proc.poll() is None, f"the build ended before its workers started: {proc.communicate()[1]!r}"
        assert time.monotonic() < deadline, "no workers started"
        time.sleep(0.05)
    time.sleep(0.5)
    kids = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    t_kill = time.monotonic()
    while (alive := [k for k in kids if _stat(k) is not None]) and time.monotonic() - t_kill < 10:
        time.sleep(0.1)
    assert not alive, f"worker processes {alive} outlived their build by 10 s"
