"""What every command group of the ``banklake`` command shares: output, ``--json``, errors."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

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


def errors_as_messages(command: F) -> F:
    """A user's error ends the command with its message and exit code, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BanklakeError as error:
            err.print(f"[red]error:[/red] {error}")
            raise typer.Exit(error.exit_code) from None

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
