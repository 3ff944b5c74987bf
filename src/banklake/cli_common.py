"""What every command group of the ``banklake`` command shares: output, ``--json``, errors."""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from banklake.errors import BanklakeError

if TYPE_CHECKING:
    from banklake.verify.checks import Verification


def console(stderr: bool = False) -> Console:
    """A console for people: to a terminal it wraps at its width; to a log or a pipe it never
    breaks a line of its own, so a message holding a long path stays whole."""
    made = Console(stderr=stderr, highlight=False)
    made.soft_wrap = not made.is_terminal
    return made


out = console()
err = console(stderr=True)
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout")]
F = TypeVar("F", bound=Callable[..., Any])


INTERRUPTED = 130  # the shell's code for a process ended by SIGINT (128 + 2)


class _Interrupt:
    """Whether Ctrl-C came while a command ran. Libraries may turn the KeyboardInterrupt into
    an error of their own (DuckDB raises RuntimeError "Query interrupted"), so the signal
    itself is noted."""

    seen = False

    @classmethod
    def handle(cls, signum: int, frame: FrameType | None) -> None:
        cls.seen = True
        raise KeyboardInterrupt


def errors_as_messages(command: F) -> F:
    """A user's error ends the command with its message and exit code, not a traceback; so does
    Ctrl-C. An interrupted run is safe to start again: each table's commit is atomic and the
    ledger is written last, so the next run takes the same files again."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Only in place of Python's own handler: not when SIGINT is ignored, as in a
        # background job, nor again in a command that another one calls (demo), nor off the
        # main thread, where no handler can be set.
        noting = (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        )
        if noting:
            _Interrupt.seen = False
            signal.signal(signal.SIGINT, _Interrupt.handle)
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (KeyboardInterrupt, Exception) as error:
            if isinstance(error, KeyboardInterrupt) or _Interrupt.seen:
                err.print("interrupted; run it again to continue")
                raise typer.Exit(INTERRUPTED) from None
            if not isinstance(error, BanklakeError):
                raise
            err.print(f"[red]error:[/red] {escape(str(error))}")  # a path may hold [...]
            raise typer.Exit(error.exit_code) from None
        finally:
            if noting:
                signal.signal(signal.SIGINT, signal.default_int_handler)

    return wrapper  # type: ignore[return-value]


def emit_json(data: Any) -> None:
    from banklake.verify.report import to_json

    sys.stdout.write(to_json(data) + "\n")


def print_checks(verification: Verification) -> None:
    """Each test's verdict, Test 1's equation, and the problems found."""
    for check in verification.checks:
        mark = "[green]pass[/green]" if check.passed else "[red]FAIL[/red]"
        out.print(f"{mark}  {check.title}")
        if check.id == "data_integrity":
            d = check.details
            out.print(
                f"      read {d['rows_read']:,} = Gold {d['rows_in_gold']:,} "
                f"+ quarantined {d['rows_quarantined']:,} + duplicate "
                f"{d['rows_duplicate']:,} + in rejected files {d['rows_in_rejected_files']:,}"
            )
        for problem in check.details.get("problems", []):
            out.print(f"      [red]{problem}[/red]")
