"""The Spark engine: the same plan on PySpark 3.5 with the Apache Iceberg Spark runtime.

Locally it starts ``local[*]`` with a JDBC catalog on the lakehouse's SQLite file, so both
engines read and write the same tables; on AWS Glue it runs on the job's session, whose
catalog is S3 Tables (``banklake.aws.spark_conf``); ``spark.remote`` reaches a cluster through
Spark Connect.

Staging computes each output once and keeps it (a local checkpoint) until the audit passes; a
commit then replaces the selected rows in one Iceberg commit: an append when nothing is
replaced, an overwrite when everything is, and otherwise a MERGE that deletes the selected rows
and inserts the new ones (copy-on-write: only data files holding replaced rows are rewritten).
Tables are created beforehand (``CREATE`` if missing, never CTAS or ``createOrReplace``, which
S3 Tables refuses).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from pyiceberg.table import Table
from pyspark import StorageLevel
from pyspark.errors.exceptions.connect import SparkConnectGrpcException
from pyspark.sql import DataFrame, DataFrameWriterV2, SparkSession
from pyspark.sql import functions as F

from banklake.aws.spark_conf import local_jdbc
from banklake.bronze.landing import LandingBatch, RejectedFile
from banklake.config import Settings
from banklake.engines.base import Commit, Engine, FileCount, Rows, Staged, read_bronze
from banklake.engines.spark_jars import MAVEN_PACKAGES, jars
from banklake.errors import QueryError
from banklake.lakehouse.catalog import Lakehouse, catalog_errors, with_commit_retries
from banklake.transform import Step, compile_sql
from banklake.verify.query import Queries

# A MERGE joins the table's rows to the new ones on a key only delete markers can match; the
# keys are spread over this many values so that no single task carries the whole join.
_SPREAD = 64
_KEY = "_banklake_key"


class SparkEngine(Engine):
    name = "spark"
    dialect = "spark"

    def __init__(self, settings: Settings, session: SparkSession | None = None) -> None:
        super().__init__(settings)
        self._owns_session = session is None
        self.spark = session or start_session(settings)
        self.spark.conf.set("spark.sql.session.timeZone", settings.timezone)
        self._scratch = Path(tempfile.mkdtemp(prefix="banklake-spark-"))
        self._kept: list[DataFrame] = []

    def load_bronze(self, batch: LandingBatch) -> tuple[list[FileCount], list[RejectedFile]]:
        counts, rejected, relations = read_bronze(batch)
        for name, rows in relations.items():
            self.register(name, rows)
        return counts, rejected

    def register(self, name: str, rows: pa.Table) -> None:
        # Through a Parquet file: exact types (dates, decimals, maps), no pandas on the way.
        path = self._scratch / f"relation-{name}.parquet"  # a leading _ would hide the file
        pq.write_table(rows, path)
        self.spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def expose(self, name: str, rows: Rows) -> None:
        with _catalog_errors(self.settings):
            frame = self.spark.table(table_name(rows.table))
            frame.where(compile_sql(rows.where, self.dialect)).createOrReplaceTempView(name)

    def run(self, step: Step) -> None:
        frame = self.spark.sql(compile_sql(step.sql, self.dialect))
        if step.materialize:
            frame = self._keep(frame)
        frame.createOrReplaceTempView(step.name)

    def fetch(self, sql: str) -> list[dict[str, Any]]:
        return [row.asDict() for row in self.spark.sql(compile_sql(sql, self.dialect)).collect()]

    def stage(self, step: Step, table: Table) -> Staged:
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
        [current] = self.spark.sql(
            f"SELECT r.snapshot_id, s.summary['added-data-files'] AS added "
            f"FROM {name}.refs r JOIN {name}.snapshots s USING (snapshot_id) "
            "WHERE r.name = 'main'"
        ).collect()
        if before is not None and current["snapshot_id"] == before.snapshot_id:
            return Commit(None, 0)
        return Commit(int(current["snapshot_id"]), int(current["added"] or 0))

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
        self.register("_banklake_append", rows)
        writer = _writer(self.spark.table("_banklake_append"), table_name(table), summary)
        with _catalog_errors(self.settings):
            writer.append()

    def close(self) -> None:
        for frame in self._kept:
            frame.unpersist()
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self._owns_session:
            stop_session(self.spark)

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
    """A Spark session for the settings: Spark Connect, or a local JVM on the lakehouse."""
    options = settings.spark
    if options.remote:
        return SparkSession.builder.remote(options.remote).getOrCreate()
    conf = {
        "spark.app.name": "banklake",
        "spark.driver.memory": options.driver_memory,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": settings.timezone,
        **local_jdbc(settings.lakehouse),
        **options.conf,
    }
    if options.jars == "maven":
        conf["spark.jars.packages"] = ",".join(MAVEN_PACKAGES)
    else:
        conf["spark.jars"] = ",".join(str(jar) for jar in jars())
    builder = SparkSession.builder.master(options.master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def stop_session(session: SparkSession) -> None:
    """Stop the session and, for a local JVM, the JVM itself.

    The JDBC catalog's SQLite connections keep a lock on the catalog file until their JVM
    exits: PyIceberg (this process's next step, or another banklake process) could not write
    the catalog before then.
    """
    from pyspark import SparkContext

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


def _catalog_errors(settings: Settings) -> AbstractContextManager[None]:
    return catalog_errors(settings.lakehouse / "catalog.db")


def _qualified(condition: str, alias: str) -> str:
    """``condition`` (Spark SQL) with every column read from the table aliased ``alias``."""
    tree = sqlglot.parse_one(condition, read="spark")
    for column in tree.find_all(sqlglot.exp.Column):
        if not column.table:
            column.set("table", sqlglot.exp.to_identifier(alias))
    return tree.sql(dialect="spark")
