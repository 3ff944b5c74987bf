"""What every command group of the ``banklake`` command shares: output, ``--json``, errors."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from banklake.errors import BanklakeError

out = Console(highlight=False)
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout")]
F = TypeVar("F", bound=Callable[..., Any])


def errors_as_messages(command: F) -> F:
    """A user's error ends the command with its message and exit code, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BanklakeError as error:
            Console(stderr=True, highlight=False).print(f"[red]error:[/red] {error}")
            raise typer.Exit(error.exit_code) from None

    return wrapper  # type: ignore[return-value]


def emit_json(data: Any) -> None:
    from banklake.verify.report import to_json

    sys.stdout.write(to_json(data) + "\n")
