"""The embedded engine: PyArrow reads the CSVs, DuckDB runs the plan and writes Parquet.

Memory is bounded by the ``memory_limit`` setting, not by the batch: the files are streamed into
Parquet files a block at a time, and DuckDB reads those and spills what does not fit, all in a
scratch folder in the lakehouse (``banklake.lakehouse.lock``) removed when the engine closes.

DuckDB writes each output as Parquet files carrying Iceberg field ids, straight into the table's
data folder, in parallel and streaming; PyIceberg then commits those files. At 10M rows this was
twice as fast as handing PyIceberg an Arrow table to write, at half the peak memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.transforms import MonthTransform

from banklake.bronze.landing import LandingBatch, RejectedFile
from banklake.bronze.reader import SOURCE_FILE
from banklake.config import Settings, memory_bytes
from banklake.contracts import ENTITIES
from banklake.engines.base import Commit, Engine, FileCount, Rows, Staged
from banklake.engines.bronze_files import PARQUET, BronzeFiles, prepare, write_file
from banklake.errors import UsageError
from banklake.faults import fault_point
from banklake.lakehouse.catalog import (
    Lakehouse,
    catalog_errors,
    local_path,
    parquet_field_ids,
    replace_rows,
    storage_errors,
)
from banklake.lakehouse.lock import scratch_folder
from banklake.lakehouse.maintenance import JobResult
from banklake.lakehouse.maintenance import maintain as run_maintenance
from banklake.transform import Step, compile_sql, sql_literal
from banklake.verify.query import LocalQueries, Queries

_SOURCE_FILE = "source_file_name"  # the ENUM type of the batch's file names
# Files parsed at once: each holds a block or two of its text in memory, outside DuckDB's limit.
_READERS = min(os.cpu_count() or 1, 4)


class EmbeddedEngine(Engine):
    name = "embedded"
    dialect = "duckdb"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        # DuckDB's spills; made (by ``load_bronze``) under the writer lock, which clears the
        # folders of writers that were killed.
        self.scratch = scratch_folder(settings.lakehouse, "duckdb")
        self.connection = duckdb.connect()
        # The session timezone decides both how source timestamps are read and which business
        # date an instant falls on; Spark's session timezone plays the same role.
        self.connection.execute("SET TimeZone = ?", [settings.timezone])
        self.connection.execute("SET preserve_insertion_order = false")
        self.connection.execute("SET memory_limit = ?", [duckdb_memory(settings.memory_limit)])
        self.connection.execute("SET temp_directory = ?", [str(self.scratch)])
        self._uncommitted: list[_Staged] = []
        self._commits = 0
        self._duckdb_bytes = memory_bytes(duckdb_memory(settings.memory_limit)) or 0
        self._bronze_bytes = 0  # the batch's Bronze, as written to Parquet

    def load_bronze(self, batch: LandingBatch) -> tuple[list[FileCount], list[RejectedFile]]:
        files = [file for entity in ENTITIES for file in batch.of(entity)]
        bronze = BronzeFiles(self.scratch / "bronze")
        with (
            storage_errors(self.settings.lakehouse, "nothing was committed"),
            ThreadPoolExecutor(max_workers=_READERS) as pool,
        ):
            prepare(bronze.folder)
            try:
                loads = list(pool.map(lambda f: bronze.add(write_file(f, bronze.folder)), files))
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the files not started yet stay unread
                raise
            self._create_bronze_views(bronze, batch)
            self._bronze_bytes = bronze.bytes()
        pa.default_memory_pool().release_unused()  # the parsers' blocks, which DuckDB can use
        counts = [load for load in loads if isinstance(load, FileCount)]
        return counts, [load for load in loads if isinstance(load, RejectedFile)]

    def _create_bronze_views(self, bronze: BronzeFiles, batch: LandingBatch) -> None:
        """``bronze_<entity>`` and ``bronze_malformed``, over the Parquet files of the batch."""
        # Each row's file as an ENUM: a small number per row in every relation that keeps it,
        # where text would be copied ten million times; it compares equal to the file's name.
        names = ", ".join(sql_literal(file.name, self.dialect) for file in batch.all_files)
        self.connection.execute(f"CREATE TYPE {_SOURCE_FILE} AS ENUM ({names})")
        for name, files in bronze.relations().items():
            self._parquet_view(f"bronze_{name}", files, [SOURCE_FILE])

    def register(self, name: str, rows: pa.Table) -> None:
        self.connection.register(name, rows)

    def expose(self, name: str, rows: Rows) -> None:
        scan = rows.table.scan(row_filter=rows.prune)
        tasks = list(scan.plan_files())
        where = compile_sql(rows.where, self.dialect)
        if not tasks or any(task.delete_files for task in tasks):
            # Delete files (a merge-on-read writer's) need Iceberg's reader to apply them: its
            # rows go through a scratch file a batch at a time, not through memory whole.
            copy = self.scratch / "lakehouse" / f"{name}.parquet"
            copy.parent.mkdir(parents=True, exist_ok=True)
            reader = scan.to_arrow_batch_reader()
            with pq.ParquetWriter(copy, reader.schema, **PARQUET) as writer:
                for batch in reader:
                    writer.write_batch(batch)
            source = f"read_parquet('{copy}')"
        else:
            files = ", ".join(f"'{local_path(task.file.file_path)}'" for task in tasks)
            source = f"read_parquet([{files}])"
        self.connection.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {source} WHERE {where}"
        )

    def run(self, step: Step) -> None:
        sql = compile_sql(step.sql, self.dialect)
        with self._memory():
            if step.materialize and self._bronze_bytes > self._duckdb_bytes // _IN_MEMORY_SHARE:
                self._materialize(step.name, sql)
            else:
                kind = "TABLE" if step.materialize else "VIEW"
                self.connection.execute(f"CREATE OR REPLACE TEMP {kind} {step.name} AS {sql}")

    def _materialize(self, name: str, sql: str) -> None:
        """The step's rows as a Parquet file in the scratch folder, and a view over it: a
        batch too large for memory writes them once, compressed, and streams them back,
        where a table would spill uncompressed and be read back a block at a time."""
        path = self.scratch / "steps" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = self.connection.execute(f"DESCRIBE {sql}").fetchall()
        self.connection.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, COMPRESSION lz4_raw)")
        enums = [column for column, kind, *_ in columns if kind.startswith("ENUM")]
        self._parquet_view(name, [path], enums)

    def _parquet_view(self, name: str, files: list[Path], file_names: list[str]) -> None:
        """A view over Parquet files whose ``file_names`` columns hold the batch's file names.

        Parquet has no ENUM: the names come back as text, and are made the ENUM again.
        """
        listed = ", ".join(f"'{path}'" for path in files)
        enums = ", ".join(f'CAST("{c}" AS {_SOURCE_FILE}) AS "{c}"' for c in file_names)
        replace = f" REPLACE ({enums})" if enums else ""
        self.connection.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT *{replace} FROM read_parquet([{listed}])"
        )

    def fetch(self, sql: str) -> list[dict[str, Any]]:
        with self._memory():
            cursor = self.connection.execute(compile_sql(sql, self.dialect))
            columns = [column[0] for column in cursor.description or []]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def stage(self, step: Step, table: Table) -> Staged:
        dates = compile_sql(step.dates_from, self.dialect) if step.dates_from else None
        folder = new_data_folder(table)
        with self._memory(), self._writes():
            files = write_data_files(self.connection, step.name, table, dates, folder)
        staged = _Staged(table, files, folder)
        self._uncommitted.append(staged)
        return staged

    def commit(self, staged: Staged, replaced: Rows, summary: Mapping[str, str]) -> Commit:
        assert isinstance(staged, _Staged)
        staged.attempted = True
        with self._writes():
            fault_point("commit", local_path(staged.table.location()))
            snapshot_id = replace_rows(staged.table, staged.files, replaced.prune, summary)
        self._uncommitted.remove(staged)
        self._commits += 1
        return Commit(snapshot_id, len(staged.files))

    def append(self, table: Table, rows: pa.Table, summary: Mapping[str, str]) -> None:
        # An append cannot conflict with another writer: PyIceberg retries it on a lost race.
        with self._writes():
            table.append(rows, snapshot_properties=dict(summary))
        self._commits += 1

    def maintain(self, tables: Mapping[str, Table]) -> dict[str, list[JobResult]]:
        return {name: run_maintenance(table, rewrite_data_files) for name, table in tables.items()}

    def queries(self, lakehouse: Lakehouse) -> Queries:
        return LocalQueries(lakehouse, self.settings.table_bucket, self.settings.timezone)

    def _outcome(self) -> str:
        """What of the batch is in the tables, said when it fails."""
        if self._commits:
            return "part of this batch was committed: run again and it completes it"
        return "nothing was committed"

    @contextlib.contextmanager
    def _memory(self) -> Iterator[None]:
        """DuckDB out of memory even spilling (a query that cannot spill), as one line."""
        try:
            yield
        except duckdb.OutOfMemoryException:
            raise UsageError(
                f"the batch needs more memory than memory_limit ({self.settings.memory_limit}) "
                f"gives DuckDB; {self._outcome()}. Raise memory_limit (banklake.toml or "
                "BANKLAKE_MEMORY_LIMIT) and run again"
            ) from None

    @contextlib.contextmanager
    def _writes(self) -> Iterator[None]:
        """A refused write (full disk, read-only) or a catalog problem, as one line that says
        what of the batch is in the tables."""
        outcome = self._outcome()
        with (
            storage_errors(self.settings.lakehouse, outcome),
            catalog_errors(self.settings.lakehouse / "catalog.db"),
        ):
            yield

    def discard_uncommitted(self) -> None:
        for staged in self._uncommitted:
            # A commit that raised may still have landed (its outcome unknown): keep its files
            # unless the table shows it did not; maintenance removes them otherwise.
            if not staged.attempted or not _referenced(staged):
                shutil.rmtree(staged.folder, ignore_errors=True)
        self._uncommitted.clear()

    def close(self) -> None:
        self.connection.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
        with contextlib.suppress(OSError):  # kept while another folder is in it
            self.scratch.parent.rmdir()


def duckdb_memory(memory_limit: str) -> str:
    """DuckDB's share of the process's ``memory_limit``: the rest is for the files being parsed,
    Python and PyIceberg, and what DuckDB allocates outside its buffer pool."""
    limit = memory_bytes(memory_limit)
    assert limit is not None, "settings validate memory_limit"
    return f"{limit * _DUCKDB_SHARE // 100 // 10**6}MB"


_DUCKDB_SHARE = 60  # percent
# A step's rows stay in DuckDB's memory while the batch's Bronze Parquet is under this share of
# it: checked rows take about five times their Bronze bytes in memory, and the joins need room.
_IN_MEMORY_SHARE = 10


class _Staged(Staged):
    """Parquet data files already in the table's folder, not yet in any snapshot."""

    def __init__(self, table: Table, files: list[DataFile], folder: Path) -> None:
        super().__init__(table, sum(f.record_count for f in files))
        self.files = files
        self.folder = folder  # holds these files and nothing else
        self.attempted = False  # whether a commit of them was tried


def _referenced(staged: _Staged) -> bool:
    """Whether the table's current state holds any of the staged files (True when unknown)."""
    try:
        staged.table.refresh()
        live = {task.file.file_path for task in staged.table.scan().plan_files()}
    except Exception:
        return True
    return any(data_file.file_path in live for data_file in staged.files)


def new_data_folder(table: Table) -> Path:
    """A fresh folder per write: concurrent or crashed writes never mix their files."""
    return local_path(table.location()) / "data" / f"{uuid.uuid4()}"


def write_data_files(
    connection: duckdb.DuckDBPyConnection,
    relation: str,
    table: Table,
    dates: str | None = None,
    folder: Path | None = None,
) -> list[DataFile]:
    """Write ``relation`` as Parquet data files of ``table`` (uncommitted) and describe them.

    The files carry the table's field ids, so they are ordinary Iceberg data files, and are cut
    by the table's month partition and target file size. ``dates``, a query whose one column
    holds every partition date of the rows, finds the months cheaper than the relation can.
    They go into ``folder`` (by default a new one under the table's data); a write that fails
    removes it, with whatever it had written.
    """
    folder = folder or new_data_folder(table)
    folder.mkdir(parents=True)
    try:
        return _write_data_files(connection, relation, table, dates, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _write_data_files(
    connection: duckdb.DuckDBPyConnection,
    relation: str,
    table: Table,
    dates: str | None,
    folder: Path,
) -> list[DataFile]:
    schema = table.schema()
    options = {
        "FORMAT": "parquet",
        # Without the property, use Iceberg's own default codec, as other writers would.
        "COMPRESSION": table.properties.get("write.parquet.compression-codec", "zstd"),
        "FIELD_IDS": _duckdb_literal(parquet_field_ids(schema)),
        "FILE_SIZE_BYTES": table.properties.get("write.target-file-size-bytes", "512MB"),
        "RETURN_FILES": "true",
    }
    rendered = ", ".join(f"{key} {value}" for key, value in options.items())
    columns = ", ".join(f'"{field.name}"' for field in schema.fields)
    # An Iceberg data file holds one partition. One COPY per month is several times faster than
    # DuckDB's PARTITION_BY, and keeps each month in as few files as the target size allows.
    selections = {"all": ""}
    months = [f for f in table.spec().fields if isinstance(f.transform, MonthTransform)]
    if months:
        column = f'"{schema.find_column_name(months[0].source_id)}"'
        source = f"SELECT {column} FROM {relation}" if dates is None else dates
        found = connection.execute(
            f"SELECT DISTINCT date_trunc('month', {column}) FROM ({source}) d"
        ).fetchall()
        # A date range, not a formatted month: the scans below can skip by it, cheaply.
        selections = {}
        for (start,) in found:
            if start is None:
                selections[f"{months[0].name}=null"] = f" WHERE {column} IS NULL"
            else:
                selections[f"{months[0].name}={start:%Y-%m}"] = (
                    f" WHERE {column} >= DATE '{start}'"
                    f" AND {column} < DATE '{start}' + INTERVAL 1 MONTH"
                )
    paths: list[str] = []
    for name, where in sorted(selections.items()):
        target = folder / name
        query = f"SELECT {columns} FROM {relation}{where}"
        result = connection.execute(f"COPY ({query}) TO '{target}' ({rendered})").fetchone()
        paths.extend(result[1] if result else [])
        fault_point("data-file-written", target)
    data_files = [
        # PyIceberg takes file locations verbatim (no percent-decoding), as it writes them.
        parquet_file_to_data_file(table.io, table.metadata, f"file://{path}")
        for path in sorted(paths)
    ]
    for empty in (f for f in data_files if f.record_count == 0):
        local_path(empty.file_path).unlink()  # a month the dates hinted at that has no rows
    return [data_file for data_file in data_files if data_file.record_count > 0]


def rewrite_data_files(table: Table, data_files: list[DataFile]) -> list[DataFile]:
    """Compaction's rewrite: the rows of ``data_files`` as new files near the target size."""
    paths = ", ".join(f"'{local_path(f.file_path)}'" for f in data_files)
    with duckdb.connect() as connection:
        return write_data_files(connection, f"read_parquet([{paths}])", table)


def _duckdb_literal(value: object) -> str:
    """A Python dict of ids as a DuckDB struct literal: {name: 1, nested: {...}}."""
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(k)}: {_duckdb_literal(v)}" for k, v in value.items())
            + "}"
        )
    return str(value)
