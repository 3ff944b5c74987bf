"""Named points where a test can kill the process, to prove a crash there leaves no half state.

With ``BANKLAKE_CRASH_AT=<point>`` in its environment, the process kills itself with SIGKILL on
reaching that point: no cleanup runs, as with a power cut or the kernel's OOM killer.
"""

from __future__ import annotations

import os
import signal

CRASH_AT = "BANKLAKE_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)
