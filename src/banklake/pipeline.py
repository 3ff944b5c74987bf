"""One pipeline run: Bronze batch → Silver, quarantine and Gold tables.

Order matters for safety: every header is checked before anything is read, every output is
written as uncommitted data files before anything is committed, and the commits (each atomic)
come last and close together. A failure before the commits leaves the tables as they were.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from banklake import __version__
from banklake.bronze.landing import discover
from banklake.config import Settings
from banklake.engines import FileCount, create_engine
from banklake.lakehouse.catalog import Lakehouse, replace_contents
from banklake.lakehouse.maintenance import JobResult
from banklake.lakehouse.maintenance import maintain as run_maintenance
from banklake.transform import plan
from banklake.transform.plan import findings_sql

Progress = Callable[[str], None]


@dataclass
class TableWrite:
    table: str
    rows: int
    data_files: int
    snapshot_id: int | None


@dataclass
class RunResult:
    batch_id: str
    engine: str
    landing: str
    lakehouse: str
    started_at: str
    seconds: float = 0.0
    files: list[FileCount] = field(default_factory=list)
    tables: list[TableWrite] = field(default_factory=list)
    superseded_files: list[str] = field(default_factory=list)  # older dimension snapshots
    findings: list[dict[str, Any]] = field(default_factory=list)  # rows per rule and severity

    def rows_read(self, entity: str) -> int:
        return sum(f.rows for f in self.files if f.entity == entity)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_batch_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S.%fZ")


def run(
    settings: Settings, engine_name: str = "embedded", progress: Progress | None = None
) -> RunResult:
    say = progress or (lambda _message: None)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    batch = discover(settings.landing)
    result = RunResult(
        batch_id=new_batch_id(started),
        engine=engine_name,
        landing=str(settings.landing),
        lakehouse=str(settings.lakehouse),
        started_at=started.isoformat(timespec="seconds"),
        superseded_files=[str(path) for path in batch.superseded],
    )
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    tables = lakehouse.ensure_tables(settings)
    with create_engine(engine_name, settings) as engine:
        say(f"reading {sum(len(files) for files in batch.files.values())} landing files")
        result.files = engine.load_bronze(batch)
        staged = []
        for step in plan(result.batch_id):
            say(f"transforming: {step.name}")
            engine.run(step)
            if step.target is not None:
                staged.append(engine.stage(step, tables[step.target.name]))
        result.findings = engine.fetch(findings_sql())
    summary = {"banklake.batch-id": result.batch_id, "banklake.version": __version__}
    for output in staged:
        say(f"committing {output.table.name()[-1]}")
        snapshot_id = replace_contents(output.table, output.data_files, summary)
        name = output.table.name()[-1]
        result.tables.append(TableWrite(name, output.rows, len(output.data_files), snapshot_id))
    result.seconds = round(time.perf_counter() - clock, 3)
    return result


def maintain(settings: Settings) -> dict[str, list[JobResult]]:
    """Run every table's maintenance jobs under the configured policy."""
    from banklake.engines.embedded import rewrite_data_files

    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    lakehouse.tables()  # fail early, and clearly, when there is nothing to maintain yet
    tables = lakehouse.ensure_tables(settings)
    return {name: run_maintenance(table, rewrite_data_files) for name, table in tables.items()}
