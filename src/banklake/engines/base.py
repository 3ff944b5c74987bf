"""What an engine does: load a Bronze batch, run the plan's steps, and stage the outputs.

Engines differ only in how they read files, which SQL dialect they speak and how their output
becomes Iceberg data files. The plan itself (``banklake.transform``) is the same for all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from banklake.bronze.landing import LandingBatch, RejectedFile
from banklake.config import Settings
from banklake.transform import Step


@dataclass(frozen=True)
class FileCount:
    entity: str
    file: str
    rows: int  # every data row read: well-formed and malformed


ALL_ROWS = AlwaysTrue()


@dataclass(frozen=True)
class Prior:
    """Rows already in a lakehouse table that a step reads: ``where`` selects them (Spark SQL);
    ``prune`` is a PyIceberg expression that holds for every selected row, to skip files."""

    table: Table
    where: str = "TRUE"
    prune: BooleanExpression = ALL_ROWS


@dataclass(frozen=True)
class Staged:
    """An output written as data files but not yet committed: invisible to every reader."""

    table: Table
    data_files: list[DataFile] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.record_count for f in self.data_files)


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
    def expose(self, name: str, prior: Prior) -> None:
        """Provide rows already in the lakehouse as the relation ``name``."""

    @abstractmethod
    def run(self, step: Step) -> None:
        """Make the step's result available to later steps under ``step.name``."""

    @abstractmethod
    def fetch(self, sql: str) -> list[dict[str, Any]]:
        """Run a small query written in the plan's dialect and return its rows."""

    @abstractmethod
    def stage(self, step: Step, table: Table) -> Staged:
        """Write the step's result as data files of ``table``, without committing them."""

    def close(self) -> None:  # noqa: B027 - engines holding no resources need not override
        """Release the engine's resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
