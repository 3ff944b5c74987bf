"""The Spark engine: the same plan on PySpark 3.5 with the Apache Iceberg Spark runtime.

Locally each engine, once entered, has a session of its own on the process's Spark application
(``[spark] master``: ``local[*]`` or a cluster; started on first use and kept for the next
engine) whose catalog is the lakehouse's SQLite file through JDBC, so both engines read and
write the same tables; on AWS Glue it runs on the job's session, whose catalog is S3 Tables
(``banklake.lakehouse.routes``); ``spark.remote`` reaches a cluster through Spark Connect.

Staging computes each output once and keeps it (a local checkpoint) until the audit passes; a
commit then replaces the selected rows in one Iceberg commit: an append when nothing is
replaced, an overwrite when everything is, and otherwise a MERGE that deletes the selected rows
and inserts the new ones (copy-on-write: only data files holding replaced rows are rewritten).
Tables are created beforehand (``CREATE`` if missing, never CTAS or ``createOrReplace``, which
S3 Tables refuses).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import pickle
import re
import shutil
import socket
import sys
import uuid
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from py4j.protocol import Py4JJavaError
from pyiceberg.table import Table
from pyspark import StorageLevel
from pyspark.errors.exceptions.captured import CapturedException, PythonException
from pyspark.errors.exceptions.connect import SparkConnectGrpcException
from pyspark.sql import DataFrame, DataFrameWriterV2, SparkSession
from pyspark.sql import functions as F

from banklake.bronze.landing import LandedFile, LandingBatch, RejectedFile
from banklake.config import Settings
from banklake.contracts import ENTITIES
from banklake.engines.base import Commit, Engine, FileCount, Rows, Staged
from banklake.engines.bronze_files import SCHEMAS, BronzeFiles, Written, prepare, write_file
from banklake.engines.spark_jars import MAVEN_PACKAGES, jars
from banklake.errors import EngineError, QueryError
from banklake.lakehouse import routes
from banklake.lakehouse.catalog import Lakehouse, catalog_errors, with_commit_retries
from banklake.lakehouse.lock import scratch_folder
from banklake.lakehouse.maintenance import JobResult
from banklake.transform import Step, compile_sql
from banklake.verify.query import Queries

# A MERGE joins the table's rows to the new ones on a key only delete markers can match; the
# keys are spread over this many values so that no single task carries the whole join.
_SPREAD = 64
_KEY = "_banklake_key"
# Relations up to this size travel inside the plan; larger ones through the scratch folder.
_WITH_THE_PLAN = 64 * 2**20
_WRITTEN = "written binary"  # what a task that read a file returns: (its number, Written)


class SparkEngine(Engine):
    name = "spark"
    dialect = "spark"

    def __init__(self, settings: Settings, session: SparkSession | None = None) -> None:
        """An engine on ``session`` (the Glue job's) or, once entered, on a session of its own."""
        super().__init__(settings)
        self._given = session
        self.spark: SparkSession
        # Files every executor reads: on storage the whole cluster sees, never the driver's
        # temp folder. Made (by ``load_bronze``) under the writer lock, which clears the
        # lakehouse's folders of writers that were killed.
        folder = scratch_folder(settings.lakehouse, "spark")
        if settings.spark.scratch:
            folder = settings.spark.scratch / folder.name
        self.scratch = folder.absolute()
        self._kept: list[DataFrame] = []
        self._doing = "starting"  # what a failed Spark job was doing, for its message

    def __enter__(self) -> SparkEngine:
        self.spark = self._given or start_session(self.settings)
        self.spark.conf.set("spark.sql.session.timeZone", self.settings.timezone)
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        error = exc[1]
        if isinstance(error, (Py4JJavaError, CapturedException)):
            # One line with the root cause (an executor's exception), not Py4J's traceback.
            raise EngineError(f"Spark failed {self._doing}: {_root_cause(error)}") from None

    def load_bronze(self, batch: LandingBatch) -> tuple[list[FileCount], list[RejectedFile]]:
        """The executors read the files (shared out by size, a task per core) and write them as
        Parquet in the scratch folder; the driver gets only each file's count or refusal."""
        files = [file for entity in ENTITIES for file in batch.of(entity)]
        # Executors have working folders of their own: they open the files by absolute path.
        opened = [dataclasses.replace(file, path=file.path.absolute()) for file in files]
        bronze = BronzeFiles(self.scratch / "bronze")
        prepare(bronze.folder)
        folder = bronze.folder
        shares = _shares([_size(file.path) for file in files], self._cores(len(files)))

        def read(tasks: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
            for batch in tasks:
                for task in batch.column(0).to_pylist():
                    for number in shares[task]:
                        written = pickle.dumps((number, _write_file(opened[number], folder)))
                        yield pa.record_batch([pa.array([written], pa.binary())], ["written"])

        # A task per share of the files: a range of n numbers in n partitions holds one in each.
        tasks = self.spark.range(len(shares), numPartitions=max(len(shares), 1))
        self._doing = "reading the batch's files"
        written = [
            pickle.loads(row["written"]) for row in tasks.mapInArrow(read, _WRITTEN).collect()
        ]
        loads = [bronze.add(_as_given(load, files[number])) for number, load in written]
        for name, paths in bronze.relations().items():
            frame = self.spark.read.schema(_spark_schema(SCHEMAS[name])).parquet(
                *[path.as_uri() for path in paths]
            )
            frame.createOrReplaceTempView(f"bronze_{name}")
        counts = [load for load in loads if isinstance(load, FileCount)]
        return counts, [load for load in loads if isinstance(load, RejectedFile)]

    def _cores(self, files: int) -> int:
        """How many tasks to read ``files`` files in: as many as the cluster runs at once (each
        task starts a Python worker, a fixed cost), and no more than the files."""
        if self.settings.spark.remote:  # Spark Connect does not say
            return files
        return max(min(files, self.spark.sparkContext.defaultParallelism), 1)

    def register(self, name: str, rows: pa.Table) -> None:
        """A small relation travels with the plan; a large one through the scratch folder."""
        if rows.nbytes <= _WITH_THE_PLAN:
            # Exact types (dates, decimals, maps) from Python values, no pandas on the way.
            values = rows.to_pylist(maps_as_pydicts="strict")
            frame = self.spark.createDataFrame(values, _spark_schema(rows.schema))
        else:
            path = self.scratch / "relations" / f"{name}-{uuid.uuid4()}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(rows, path)
            frame = self.spark.read.parquet(path.as_uri())
        frame.createOrReplaceTempView(name)

    def expose(self, name: str, rows: Rows) -> None:
        with _catalog_errors(self.settings):
            frame = self.spark.table(table_name(rows.table))
            frame.where(compile_sql(rows.where, self.dialect)).createOrReplaceTempView(name)

    def run(self, step: Step) -> None:
        self._doing = f"running the step {step.name}"
        frame = self.spark.sql(compile_sql(step.sql, self.dialect))
        if step.materialize:
            frame = self._keep(frame)
        frame.createOrReplaceTempView(step.name)

    def fetch(self, sql: str) -> list[dict[str, Any]]:
        self._doing = "running a query of the batch"
        return [row.asDict() for row in self.spark.sql(compile_sql(sql, self.dialect)).collect()]

    def stage(self, step: Step, table: Table) -> Staged:
        self._doing = f"staging the new rows of {table_name(table)}"
        with _catalog_errors(self.settings):
            target = self.spark.table(table_name(table)).schema
        result = self.spark.table(step.name)
        frame = self._keep(
            result.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in target.fields])
        )
        return _Staged(table, frame.count(), frame)

    def commit(self, staged: Staged, replaced: Rows, summary: Mapping[str, str]) -> Commit:
        assert isinstance(staged, _Staged)
        name = table_name(staged.table)
        self._doing = f"committing to {name}"
        # The table as the batch found it: nothing else writes it while the batch runs.
        before = staged.table.current_snapshot()
        matched = (
            before is not None
            and not replaced.nothing
            and any(True for _ in staged.table.scan(row_filter=replaced.prune).plan_files())
        )
        if not matched and staged.rows == 0:
            return Commit(None, 0)

        def attempt(number: int) -> None:
            # After a lost race (another writer, S3 Tables' compaction say, changed files this
            # commit replaces), the redo is a MERGE on the table's new state.
            with _catalog_errors(self.settings):
                self._write(name, staged.frame, replaced, matched or number > 0, summary)

        with_commit_retries(name, attempt, _lost_race)
        with _catalog_errors(self.settings):  # the table's metadata, read without a Spark job
            current = staged.table.refresh().current_snapshot()
        if current is None or (before is not None and current.snapshot_id == before.snapshot_id):
            return Commit(None, 0)
        added = current.summary.get("added-data-files") if current.summary else None
        return Commit(current.snapshot_id, int(added or 0))

    def _write(
        self,
        name: str,
        rows: DataFrame,
        replaced: Rows,
        matched: bool,
        summary: Mapping[str, str],
    ) -> None:
        writer = _writer(rows, name, summary)
        if not matched:
            writer.append()
        elif replaced.everything:
            writer.overwrite(F.lit(True))
        else:
            self._merge(name, rows, replaced.where)

    def append(self, table: Table, rows: pa.Table, summary: Mapping[str, str]) -> None:
        self._doing = f"appending to {table_name(table)}"
        self.register("_banklake_append", rows)
        writer = _writer(self.spark.table("_banklake_append"), table_name(table), summary)
        with _catalog_errors(self.settings):
            writer.append()

    def maintain(self, tables: Mapping[str, Table]) -> dict[str, list[JobResult]]:
        """Iceberg's Spark procedures (``banklake.engines.spark_maintenance``)."""
        from banklake.engines.spark_maintenance import maintain as maintain_table

        now = datetime.now(UTC)
        catalog = str(self.spark.conf.get("spark.sql.defaultCatalog"))
        return {
            name: maintain_table(self.spark, catalog, table, now) for name, table in tables.items()
        }

    def queries(self, lakehouse: Lakehouse) -> Queries:
        return SparkQueries(lakehouse, self.settings.table_bucket, self.spark)

    def close(self) -> None:
        for frame in self._kept:
            frame.unpersist()
        shutil.rmtree(self.scratch, ignore_errors=True)
        if not self.settings.spark.scratch:
            with contextlib.suppress(OSError):  # kept while another folder is in it
                self.scratch.parent.rmdir()
        if self._given is None and not self.settings.spark.remote:
            _close_catalog(self.spark)

    def _keep(self, frame: DataFrame) -> DataFrame:
        """The frame computed once and kept, its lineage cut: later steps plan against it as a
        leaf, not the whole chain of steps before it."""
        if self.settings.spark.remote:  # Spark Connect 3.5 has no checkpoints
            kept = frame.persist(StorageLevel.MEMORY_AND_DISK)
            self._kept.append(kept)
            return kept
        return frame.localCheckpoint(eager=True)

    def _merge(self, name: str, rows: DataFrame, where: str) -> None:
        """Delete the rows ``where`` selects and insert ``rows``, in one MERGE (one commit).

        The new rows carry negative keys and one delete marker per positive key is added: a
        table row that ``where`` selects gets a marker's key (and is deleted), any other row a
        key nothing carries. Every table row so matches at most one source row, as MERGE
        requires, and the join has an equality to distribute on.
        """
        fields = rows.schema.fields
        columns = ", ".join(f"`{f.name}`" for f in fields)
        self.spark.createDataFrame([(i,) for i in range(_SPREAD)], f"{_KEY} int").select(
            *[F.lit(None).cast(f.dataType).alias(f.name) for f in fields], _KEY
        ).unionByName(
            rows.withColumn(_KEY, -1 - _SPREAD - F.pmod(F.hash(*rows.columns), F.lit(_SPREAD)))
        ).createOrReplaceTempView("_banklake_merge_source")
        selected = _qualified(where, "t")
        spread = f"pmod(hash(t.`{fields[0].name}`), {_SPREAD})"
        self.spark.sql(
            f"MERGE INTO {name} t USING _banklake_merge_source s "
            f"ON s.{_KEY} = CASE WHEN {selected} THEN {spread} ELSE -1 - {spread} END "
            "WHEN MATCHED THEN DELETE "
            f"WHEN NOT MATCHED AND s.{_KEY} < -{_SPREAD} THEN INSERT ({columns}) "
            f"VALUES ({', '.join(f's.`{f.name}`' for f in fields)})"
        )


class SparkQueries(Queries):
    """The verification's Athena SQL on a Spark session's catalog."""

    dialect = "spark"

    def __init__(self, lakehouse: Lakehouse, table_bucket: str, spark: SparkSession):
        super().__init__(lakehouse, table_bucket)
        self.spark = spark

    def query(self, sql: str) -> pa.Table:
        translated = self.translate(sql)
        try:
            frame = self.spark.sql(translated)
            rows = [row.asDict() for row in frame.collect()]
        except Exception as error:
            raise QueryError(f"query failed: {error}\nas run on Spark: {translated}") from None
        return pa.table({column: [row[column] for row in rows] for column in frame.columns})


class _Staged(Staged):
    def __init__(self, table: Table, rows: int, frame: DataFrame) -> None:
        super().__init__(table, rows)
        self.frame = frame


def _writer(rows: DataFrame, name: str, summary: Mapping[str, str]) -> DataFrameWriterV2:
    """A write of ``rows`` to ``name`` whose snapshot records the ``summary`` properties."""
    writer = rows.writeTo(name)
    for key, value in summary.items():
        writer = writer.option(f"snapshot-property.{key}", value)
    return writer


# Iceberg's exceptions for a commit that lost a race with another writer: the table's metadata
# moved under it (CommitFailedException, once Iceberg's own retries are spent), or the other
# writer's change conflicts with what the commit read (ValidationException: a file it replaces
# is gone, say). Not CommitStateUnknownException: that commit may have landed.
_LOST_RACE = frozenset(
    {
        "org.apache.iceberg.exceptions.CommitFailedException",
        "org.apache.iceberg.exceptions.ValidationException",
    }
)
_CAUSES = 16  # how deep to follow an exception's causes (a cycle ends there too)
# Spark Connect 3.5 sends the outermost Java class's name as the error's reason, which PySpark
# puts before the message: "(org.apache.iceberg.exceptions.ValidationException) Found ...".
_CONNECT_REASON = re.compile(r"\(([\w$.]+)\) ")


def _lost_race(error: Exception) -> bool:
    """Whether ``error`` is a commit that lost a race with another writer, as the Java classes
    of the exception and of its causes tell; never what a message says."""
    return not _LOST_RACE.isdisjoint(_java_classes(error))


def _java_classes(error: Exception) -> set[str]:
    """The Java classes (and superclasses) of the throwable behind ``error`` and its causes.

    Py4J raises a ``Py4JJavaError`` holding the throwable; PySpark turns some throwables (an
    IllegalArgumentException, say) into its own exceptions, which keep it as ``_origin``.
    """
    if isinstance(error, SparkConnectGrpcException):
        reason = _CONNECT_REASON.match(error.message or "")
        return {reason.group(1)} if reason else set()
    throwable = getattr(error, "java_exception", None)
    if throwable is None:
        throwable = getattr(error, "_origin", None)
    names = set()
    for _ in range(_CAUSES):
        if throwable is None:
            break
        kind = throwable.getClass()
        while kind is not None:
            names.add(str(kind.getName()))
            kind = kind.getSuperclass()
        throwable = throwable.getCause()
    return names


def table_name(table: Table) -> str:
    """The table's name in the session's default catalog."""
    return ".".join(f"`{part}`" for part in table.name())


def start_session(settings: Settings) -> SparkSession:
    """A session of its own for an engine: through Spark Connect, or on the process's Spark
    application with the lakehouse's catalog."""
    if settings.spark.remote:
        return SparkSession.builder.remote(settings.spark.remote).getOrCreate()
    session = _application(settings).newSession()  # its own temporary views and settings
    for key, value in routes.local(settings.lakehouse).spark_session().items():
        session.conf.set(key, value)
    return session


# The process's Spark application and the properties it was started with: one per process (a
# JVM has one SparkContext), kept for the next engine, as starting one takes seconds.
_application_started: list[tuple[dict[str, str], SparkSession]] = []


def _application(settings: Settings) -> SparkSession:
    """The running application if it was started with the settings' properties, else a new one
    (the other is stopped first)."""
    options = settings.spark
    conf = {
        "spark.app.name": "banklake",
        "spark.master": options.master,
        "spark.driver.memory": options.driver_memory,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.extensions": routes.ICEBERG_EXTENSIONS,
        **options.conf,
    }
    if options.jars == "maven":
        conf["spark.jars.packages"] = ",".join(MAVEN_PACKAGES)
    else:
        conf["spark.jars"] = ",".join(str(jar) for jar in jars())
    if _application_started:
        started, session = _application_started[0]
        if started == conf:
            return session
        stop_session(session)
    # The executors' Python (PySpark reads only the variable): this one, which has banklake,
    # unless the user chose another.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    _application_started.append((conf, session))
    atexit.register(stop_application)  # a cluster sees the application finish
    return session


def _close_catalog(session: SparkSession) -> None:
    """Close the connections the session's JDBC catalog holds on the lakehouse's SQLite file:
    they keep read transactions open, and the session is not used again."""
    catalogs = session._jsparkSession.sessionState().catalogManager()
    cached = catalogs.catalog(routes.LOCAL_CATALOG).icebergCatalog()
    field = cached.getClass().getDeclaredField("catalog")  # CachingCatalog keeps it private
    field.setAccessible(True)
    field.get(cached).close()


def stop_session(session: SparkSession) -> None:
    """Stop the session and, for a local JVM, the JVM itself."""
    from pyspark import SparkContext

    _application_started[:] = [(c, s) for c, s in _application_started if s is not session]
    gateway = SparkContext._gateway
    session.stop()
    if gateway is None:
        return
    process = getattr(gateway, "proc", None)
    gateway.shutdown()
    if process is not None:
        process.terminate()
        process.wait(timeout=30)
    SparkContext._gateway = None
    SparkContext._jvm = None


def stop_application() -> None:
    """Stop the process's Spark application, if one runs (a process's exit stops it too)."""
    for _, session in list(_application_started):
        stop_session(session)


def _shares(sizes: list[int], tasks: int) -> list[list[int]]:
    """The numbers of the files (by their ``sizes``) split into ``tasks`` shares of about
    equal bytes: each next largest file to the share with the fewest bytes so far."""
    shares: list[list[int]] = [[] for _ in range(tasks)]
    loads = [0] * tasks
    for number in sorted(range(len(sizes)), key=lambda n: -sizes[n]):
        lightest = loads.index(min(loads))
        shares[lightest].append(number)
        loads[lightest] += sizes[number]
    return shares


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # gone since it was listed: its task refuses it, as the embedded engine does
        return 0


def _write_file(file: LandedFile, folder: Path) -> Written:
    """``write_file`` on an executor, which must see the landing zone and the scratch folder
    where the driver does: a file it cannot find fails the job, it is not refused."""
    for needed in (file.path, folder):
        if not needed.exists():
            raise EngineError(
                f"{needed} is not there on executor host {socket.gethostname()}: the landing "
                "zone and [spark] scratch must be on storage every executor sees"
            )
    return write_file(file, folder)


def _as_given(written: Written, file: LandedFile) -> Written:
    """``written`` of ``file``, which an executor opened by its absolute path, as if opened by
    the path it was given: a refusal names the file as the embedded engine's does."""
    if not isinstance(written.load, RejectedFile):
        return written
    problem = written.load.problem.replace(str(file.path.absolute()), str(file.path))
    return Written(dataclasses.replace(written.load, path=file.path, problem=problem))


def _spark_schema(schema: pa.Schema) -> Any:
    """The Spark schema of Arrow ``schema``; a dictionary column is its values' type."""
    from pyspark.sql.pandas.types import from_arrow_schema

    plain = pa.schema(
        [
            field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field
            for field in schema
        ]
    )
    return from_arrow_schema(plain)


def _root_cause(error: Exception) -> str:
    """What failed, in a line: for a Python task that raised, the Python exception; else the
    innermost Java exception behind ``error``, with its class."""
    if isinstance(error, PythonException):  # its text is the task's traceback
        return _raised(error.desc)
    throwable = getattr(error, "java_exception", None) or getattr(error, "_origin", None)
    innermost = None
    for _ in range(_CAUSES):
        if throwable is None:
            break
        innermost, throwable = throwable, throwable.getCause()
    if innermost is None:
        return _raised(str(error))
    message = str(innermost.getMessage() or "")
    if innermost.getClass().getName() == "org.apache.spark.api.python.PythonException":
        return _raised(message)
    first = message.strip().splitlines() or ["no message"]
    return f"{innermost.getClass().getName()}: {first[0]}"


def _raised(traceback: str) -> str:
    """The exception a Python traceback ends with; banklake's own errors say all in their
    message, without their class."""
    lines = [line.strip() for line in traceback.splitlines() if line.strip()] or ["no message"]
    return re.sub(r"^banklake\.errors\.\w+: ", "", lines[-1])


def _catalog_errors(settings: Settings) -> AbstractContextManager[None]:
    return catalog_errors(settings.lakehouse / "catalog.db")


def _qualified(condition: str, alias: str) -> str:
    """``condition`` (Spark SQL) with every column read from the table aliased ``alias``."""
    tree = sqlglot.parse_one(condition, read="spark")
    for column in tree.find_all(sqlglot.exp.Column):
        if not column.table:
            column.set("table", sqlglot.exp.to_identifier(alias))
    return tree.sql(dialect="spark")
