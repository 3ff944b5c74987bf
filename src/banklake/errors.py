"""Every error a user can cause, in one place. Each message says what is wrong and what to do."""

from __future__ import annotations

from pathlib import Path


class BanklakeError(Exception):
    """Base class: the CLI prints the message (no traceback) and exits with ``exit_code``."""

    exit_code = 2


class UsageError(BanklakeError):
    """An option or setting has a value that cannot work."""


class LandingError(BanklakeError):
    """The landing zone, or a file in it, cannot be read as the contract says."""

    def __init__(
        self, path: Path, problem: str, line: int | None = None, column: int | None = None
    ):
        where = str(path)
        if line is not None:
            where += f", line {line}"
            if column is not None:
                where += f", column {column}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.column = column


class LakehouseError(BanklakeError):
    """The lakehouse (catalog or tables) is missing or not in the expected shape."""


class StorageError(LakehouseError):
    """The lakehouse's storage refused a write: the disk is full, read-only, or not ours."""


class QueryError(BanklakeError):
    """A query could not be parsed, translated or run."""


class EngineError(BanklakeError):
    """A job failed where the engine ran it (on a Spark executor, say)."""


class AuditError(BanklakeError):
    """A batch's outputs did not add up before publishing; nothing was committed."""


class AwsError(BanklakeError):
    """An AWS call failed, or a deployment, job or query ended badly."""
