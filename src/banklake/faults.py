"""Named points where a test can kill the process, or fail a write, to prove what follows.

With ``BANKLAKE_CRASH_AT=<point>`` in its environment, the process kills itself with SIGKILL on
reaching that point: no cleanup runs, as with a power cut or the kernel's OOM killer.

With ``BANKLAKE_FAIL_AT=<point>:<ERRNO>[:<n>]`` (say ``data-file-written:ENOSPC:3``), the n-th
time (default: the first) the process reaches that point, the write there fails with that
``OSError``, as a full disk would fail it: the ordinary error handling and cleanup run.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter
from pathlib import Path

CRASH_AT = "BANKLAKE_CRASH_AT"
FAIL_AT = "BANKLAKE_FAIL_AT"
_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def fault_point(name: str, path: Path | str) -> None:
    """Fail the write of ``path`` here, when ``BANKLAKE_FAIL_AT`` names this point."""
    point, _, rest = os.environ.get(FAIL_AT, "").partition(":")
    if point != name:
        return
    code, _, nth = rest.partition(":")
    _reached[name] += 1
    if _reached[name] == int(nth or 1):
        number = getattr(errno, code or "EIO")
        raise OSError(number, os.strerror(number), str(path))
