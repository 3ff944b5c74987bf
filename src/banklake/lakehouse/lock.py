"""One writer at a time on a local lakehouse.

The SQLite catalog takes concurrent commits safely (each is a compare-and-swap of the metadata
pointer), but two runs of the same batch would each do the whole batch's work, and the loser's
commits would only be retried away. So writers take turns: a run waits for the one before it,
then finds its files already loaded and commits nothing. The lock is the operating system's
(``flock``): it is released when its holder exits, however it exits, SIGKILL included.

Only ``run`` makes a lakehouse where there is none: the other writers (``quarantine replay``,
``maintain``) have nothing to do in an empty one, so a mistyped path stops them before anything
is created.

The lock holder alone has working files (DuckDB's spills) under ``<lakehouse>/.scratch``: no
reader ever uses them, so whatever is there when the lock is taken was left by a writer that was
killed, and is removed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from banklake.errors import LakehouseError
from banklake.lakehouse.catalog import prepare_for_writing, storage_errors

LOCK_NAME = ".banklake.lock"
SCRATCH = ".scratch"
CREATES_LAKEHOUSE = frozenset({"run"})


@contextmanager
def writer_lock(
    lakehouse: Path, command: str, timeout_s: float, say: Callable[[str], None]
) -> Iterator[None]:
    """Hold the lakehouse's writer lock; wait up to ``timeout_s`` for another holder."""
    prepare_for_writing(lakehouse, command, create=command in CREATES_LAKEHOUSE)
    path = lakehouse / LOCK_NAME
    with storage_errors(lakehouse, "nothing was written"):
        handle = path.open("a+")
    with handle:
        deadline = time.monotonic() + timeout_s
        waiting = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if time.monotonic() >= deadline:
                    raise LakehouseError(
                        f"{lakehouse} is busy: {holder} has held it for over {timeout_s:.0f} s; "
                        "nothing was written. Run again when it is done (or raise "
                        "lock_timeout_seconds)"
                    ) from None
                if not waiting:
                    say(f"waiting for {holder} to finish with {lakehouse}")
                    waiting = True
                time.sleep(0.1)
        facts = {
            "pid": os.getpid(),
            "command": command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with storage_errors(lakehouse, "nothing was written"):
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(facts))
            handle.flush()
        shutil.rmtree(lakehouse / SCRATCH, ignore_errors=True)
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def scratch_folder(lakehouse: Path, purpose: str) -> Path:
    """A folder of this process's working files: removed by its user, or by the next writer.

    Only the writer lock's holder may ask for one (``writer_lock`` clears them all)."""
    return lakehouse / SCRATCH / f"{purpose}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _holder(path: Path) -> str:
    try:
        facts = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        facts = {}
    if not facts:
        return "another banklake process"
    return f"`banklake {facts['command']}` (pid {facts['pid']}, since {facts['since']})"
