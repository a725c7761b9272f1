"""Local worker processes end with the build process that started them.

Kept apart from :mod:`svcprep.pipeline` so that a new loky worker runs its initializer
(:func:`exit_with_parent`) within moments of starting, before it imports the heavy modules
its tasks need.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["exit_with_parent"]


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
