"""What an engine does: load a Bronze batch, run the plan's steps, stage and commit the outputs.

Engines differ only in how they read files, which SQL dialect they speak, how their output
becomes Iceberg data files and how those are committed. The plan itself (``banklake.transform``)
is the same for all. The lakehouse's tables are opened (and created) before an engine starts;
from then on, every read and write of the batch goes through the engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.table import Table

from banklake.bronze.landing import LandingBatch, RejectedFile
from banklake.config import Settings
from banklake.transform import Step

if TYPE_CHECKING:
    from banklake.lakehouse.catalog import Lakehouse
    from banklake.lakehouse.maintenance import JobResult
    from banklake.verify.query import Queries


@dataclass(frozen=True)
class FileCount:
    entity: str
    file: str
    rows: int  # every data row read: well-formed and malformed


ALL_ROWS = AlwaysTrue()


@dataclass(frozen=True)
class Rows:
    """Rows of a lakehouse table, read by a step or replaced by a commit: ``where`` selects
    them (Spark SQL); ``prune`` is a PyIceberg expression true of every selected row, so files
    holding none of them are skipped unread. For a commit, ``prune`` selects exactly them."""

    table: Table
    where: str = "TRUE"
    prune: BooleanExpression = ALL_ROWS

    @property
    def everything(self) -> bool:
        return self.where == "TRUE"

    @property
    def nothing(self) -> bool:
        return self.where == "FALSE"


@dataclass
class Staged:
    """An output computed (and, by the embedded engine, written as data files) but not yet
    committed: invisible to every reader."""

    table: Table
    rows: int


@dataclass(frozen=True)
class Commit:
    snapshot_id: int | None  # None: the commit changed nothing
    data_files: int


class Engine(ABC):
    name: ClassVar[str]
    dialect: ClassVar[str]  # sqlglot's name for the engine's SQL dialect

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def load_bronze(self, batch: LandingBatch) -> tuple[list[FileCount], list[RejectedFile]]:
        """Provide ``bronze_<entity>`` and ``bronze_malformed``; count what was read.

        A file that turns out unreadable is left out and returned as rejected.
        """

    @abstractmethod
    def register(self, name: str, rows: pa.Table) -> None:
        """Provide a small relation the pipeline computed (batch files, line texts, ...)."""

    @abstractmethod
    def expose(self, name: str, rows: Rows) -> None:
        """Provide rows already in the lakehouse as the relation ``name``."""

    @abstractmethod
    def run(self, step: Step) -> None:
        """Make the step's result available to later steps under ``step.name``."""

    @abstractmethod
    def fetch(self, sql: str) -> list[dict[str, Any]]:
        """Run a small query written in the plan's dialect and return its rows."""

    @abstractmethod
    def stage(self, step: Step, table: Table) -> Staged:
        """Prepare the step's result as ``table``'s new rows, without committing them."""

    @abstractmethod
    def commit(self, staged: Staged, replaced: Rows, summary: Mapping[str, str]) -> Commit:
        """Replace the ``replaced`` rows with the staged ones, in one atomic commit.

        Readers see the old contents or the new, never a mix; replacing a file's rows with the
        rows of the same file makes a retried or repeated load change nothing.
        """

    @abstractmethod
    def append(self, table: Table, rows: pa.Table, summary: Mapping[str, str]) -> None:
        """Append a few rows (the ledger's) in one commit."""

    @abstractmethod
    def maintain(self, tables: Mapping[str, Table]) -> dict[str, list[JobResult]]:
        """Run each table's maintenance jobs (compaction, expiry, unreferenced files) under
        its policy, and say how each went."""

    @abstractmethod
    def queries(self, lakehouse: Lakehouse) -> Queries:
        """A session of the verification's Athena SQL on ``lakehouse`` (a context manager)."""

    def discard_uncommitted(self) -> None:  # noqa: B027 - engines staging nothing need not
        """Delete what was staged and never committed: no snapshot references it."""

    def close(self) -> None:  # noqa: B027 - engines holding no resources need not override
        """Release the engine's resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        # A batch that failed between staging and commit leaves no files behind it.
        try:
            self.discard_uncommitted()
        finally:
            self.close()
