"""Dask worker plugins for the cluster tests: faults injected from the test, never from svcprep.

Each plugin wraps ``svcprep.audio.load_audio`` inside every worker process (the build's
source tasks look it up at call time) and acts on files whose path holds ``marker``. The
scheduler hands a registered plugin to every worker that joins later, restarted ones
included; unregistering it restores the original function.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from distributed import WorkerPlugin


class LoadAudioFault(WorkerPlugin):
    """``exit``: the worker process exits at once (a decoder that crashes); ``kill-once``: the
    first worker to get there, across the cluster, is SIGKILLed (``once_file`` records it);
    ``sleep``: loading takes ``sleep_s`` longer."""

    def __init__(self, name: str, marker: str, how: str, *, once_file: str = "", sleep_s: float = 0.0):
        self.name = name
        self.marker, self.how, self.once_file, self.sleep_s = marker, how, once_file, sleep_s
        self._orig: Any = None

    def setup(self, worker: Any) -> None:
        import svcprep.audio as audio

        orig = self._orig = audio.load_audio
        marker, how, once_file, sleep_s = self.marker, self.how, self.once_file, self.sleep_s

        def load_audio(path: Any, **kwargs: Any) -> Any:
            if marker in os.fspath(path):
                if how == "exit":
                    os._exit(1)
                if how == "kill-once":
                    try:
                        os.close(os.open(once_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                    except FileExistsError:
                        pass
                    else:
                        os.kill(os.getpid(), signal.SIGKILL)
                        time.sleep(60)
                if how == "sleep":
                    time.sleep(sleep_s)
            return orig(path, **kwargs)

        audio.load_audio = load_audio

    def teardown(self, worker: Any) -> None:
        import svcprep.audio as audio

        if self._orig is not None:
            audio.load_audio = self._orig
