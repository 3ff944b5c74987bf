"""Progress for long steps, on stderr, shown only to a person at a terminal.

Machine output (``--json``) goes to stdout and is never mixed with progress.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def stderr_console() -> Console:
    return Console(stderr=True)


def enabled(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


@contextmanager
def status(show: bool) -> Iterator[Callable[[str], None]]:
    """A spinner whose text each call replaces; a no-op when ``show`` is false."""
    if not show:
        yield lambda _message: None
        return
    with stderr_console().status("starting") as spinner:
        yield lambda message: spinner.update(message)


@contextmanager
def bar(show: bool, total: int, description: str) -> Iterator[Callable[[], None]]:
    """A progress bar; each call advances it by one."""
    if not show:
        yield lambda: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr_console(), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)
