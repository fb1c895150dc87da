"""The first module the collection's fork server imports (`local.PRELOAD`), before the heavy ones.

Importing it there moves the fork server into a session of its own. A terminal's Ctrl-C goes to the
coordinator's process group, so from here on it reaches neither the fork server, which spends seconds importing,
nor the workers it forks. The coordinator handles Ctrl-C itself by cancelling the runs in flight. The server's
interpreter start-up, before this import, stays exposed for a few tens of milliseconds. Anywhere else, the
import does nothing.
"""

from __future__ import annotations

import os
import sys


def _in_fork_server() -> bool:
    """Started as ``python -c "from multiprocessing.forkserver import main; main(...)"`` and not leading a group."""
    return sys.argv == ["-c"] and "multiprocessing.forkserver" in sys.modules and os.getpgrp() != os.getpid()


if _in_fork_server():
    os.setsid()
