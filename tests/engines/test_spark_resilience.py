"""What only the Spark engine meets: a catalog file another process holds, commits that lose a
race with another writer (told by their Java classes), and Spark Connect's errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.errors.exceptions.connect import SparkConnectGrpcException
from pyspark.sql import SparkSession
from tests.runs import content, half_loaded

from banklake.config import Settings, load_settings
from banklake.engines.spark import SparkEngine, _lost_race
from banklake.errors import EngineError, LakehouseError
from banklake.generate import GeneratorSpec, generate
from banklake.lakehouse.routes import LOCAL_CATALOG
from banklake.pipeline import run

pytestmark = pytest.mark.spark


def test_a_catalog_held_by_another_process_is_named(settings: Settings) -> None:
    """Another program in the middle of a write to the catalog file: the run says so."""
    half_loaded(settings)
    before = content(settings)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(settings.lakehouse / "catalog.db")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(LakehouseError, match="is held by another process"):
            run(settings, "spark")
    finally:
        holder.kill()
        holder.wait()
    assert content(settings) == before


HOLD_WRITE_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(600)
"""


# Every day in one month (one partition), so the two batches' files there are compacted together.
ONE_MONTH = GeneratorSpec(
    customers=80, accounts=120, days=6, transactions=3_000, end_date=date(2026, 3, 6), seed=11
)


def _compacted_by_another_writer(spark: SparkSession, table: str) -> int:
    """Iceberg's own compaction of ``table`` (its ``rewrite_data_files``), committed through a
    table object of its own: the tables this session has loaded, and keeps cached, do not see
    it until they next commit. How many data files it replaced."""
    jvm = spark._jvm
    # The catalog under the session's cache. It is another writer in this JVM, sharing the
    # session's connections to the SQLite catalog: while they are open, SQLite refuses a
    # commit from a connection of another process (SQLITE_BUSY_SNAPSHOT).
    cached = spark._jsparkSession.sessionState().catalogManager().catalog(LOCAL_CATALOG)
    caching = cached.icebergCatalog()
    field = caching.getClass().getDeclaredField("catalog")  # CachingCatalog keeps it private
    field.setAccessible(True)
    identifier = jvm.org.apache.iceberg.catalog.TableIdentifier.parse(f"analytics_db.{table}")
    other = field.get(caching).loadTable(identifier)
    actions = jvm.org.apache.iceberg.spark.actions.SparkActions.get(spark._jsparkSession)
    done = actions.rewriteDataFiles(other).option("min-input-files", "2").execute()
    return int(done.rewrittenDataFilesCount())


def test_a_spark_commit_that_loses_a_real_race_is_redone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer (S3 Tables' own compaction, say) compacts the files a re-delivery's MERGE
    rewrites, after the batch read them: Iceberg refuses the MERGE's commit (a
    ValidationException: files it replaces are gone), and the commit is redone."""
    generate(ONE_MONTH, tmp_path / "landing")
    settings = load_settings(landing=tmp_path / "landing", lakehouse=tmp_path / "lakehouse")
    half_loaded(settings)
    run(settings)  # two batches: two small files in the month of the re-delivered day
    day = sorted((settings.landing / "transactions").iterdir())[-1]
    day.write_text("".join(day.read_text().splitlines(keepends=True)[:-1]))
    real = SparkEngine._merge
    merges: list[str] = []
    compacted: list[int] = []

    def racing(self: SparkEngine, name: str, rows: Any, where: str) -> None:
        if name.endswith(".`transactions`"):
            merges.append(name)
            if not compacted:  # a fault: the table is compacted under the commit
                compacted.append(_compacted_by_another_writer(self.spark, "transactions"))
        real(self, name, rows, where)

    monkeypatch.setattr(SparkEngine, "_merge", racing)
    run(settings, "spark")
    assert compacted == [2]  # the race happened: the month's two files became one
    assert len(merges) == 2  # the MERGE lost it, and was redone
    reference = load_settings(landing=settings.landing, lakehouse=tmp_path / "reference")
    run(reference)
    ours, theirs = content(settings), content(reference)
    del ours["load_ledger"], theirs["load_ledger"]  # ours also records the first delivery
    assert ours == theirs


def _raised(call: Callable[[], object]) -> Exception:
    try:
        call()
    except Exception as error:
        return error
    raise AssertionError("nothing was raised")


def _java_errors(spark: SparkSession) -> dict[str, Exception]:
    """Real Java exceptions as they reach Python: raised by JVM calls through Py4J, some turned
    into PySpark's own exceptions on the way."""
    jvm = spark._jvm
    iceberg = jvm.org.apache.iceberg.exceptions
    no_args = spark.sparkContext._gateway.new_array(jvm.java.lang.Object, 0)
    runtime = jvm.java.lang.Class.forName("java.lang.RuntimeException")

    def throw(throwable: Any) -> Callable[[], object]:
        return lambda: jvm.org.apache.iceberg.util.ExceptionUtil.castAndThrow(throwable, runtime)

    failed_commit = iceberg.CommitFailedException("Cannot commit: stale metadata", no_args)
    return {
        "validation": _raised(
            lambda: iceberg.ValidationException.check(False, "Found conflicting files", no_args)
        ),
        "commit failed, as a cause": _raised(
            lambda: jvm.java.util.concurrent.CompletableFuture.failedFuture(failed_commit).get()
        ),
        "commit failed, under PySpark's exception": _raised(
            throw(jvm.java.lang.IllegalArgumentException("cannot write", failed_commit))
        ),
        "another error, naming them": _raised(
            throw(jvm.java.lang.IllegalStateException("CommitFailedException, ValidationException"))
        ),
        "PySpark's exception, naming them": _raised(
            throw(jvm.java.lang.IllegalArgumentException("CommitFailed, ValidationException"))
        ),
        "an SQL error, naming them": _raised(
            lambda: spark.sql("SELECT raise_error('CommitFailed ValidationException')").collect()
        ),
    }


def test_only_icebergs_commit_conflicts_are_lost_races(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Told by the Java classes of the exception and its causes, not by its message: an error
    whose message names CommitFailedException is not a lost race, and is not redone."""
    run(settings)
    first = sorted((settings.landing / "transactions").glob("transactions_*.csv"))[0]
    first.write_bytes(
        first.read_bytes() + b"TX_LATE_1,ACC_000001,3.00,Credit,2026-01-05 10:00:00\n"
    )
    seen: dict[str, tuple[bool, str, str]] = {}
    merges: list[str] = []

    def failing(self: SparkEngine, name: str, rows: Any, where: str) -> None:
        errors = _java_errors(self.spark)  # while the session lives
        seen.update({k: (_lost_race(e), type(e).__name__, str(e)) for k, e in errors.items()})
        merges.append(name)
        raise errors["another error, naming them"]

    monkeypatch.setattr(SparkEngine, "_merge", failing)
    committing = r"Spark failed committing to `analytics_db`\.`transactions`: "
    with pytest.raises(EngineError, match=committing + "java.lang.IllegalStateException: Commit"):
        run(settings, "spark")
    assert {kind: seen[kind][:2] for kind in seen} == {
        "validation": (True, "Py4JJavaError"),
        "commit failed, as a cause": (True, "Py4JJavaError"),
        "commit failed, under PySpark's exception": (True, "IllegalArgumentException"),
        "another error, naming them": (False, "Py4JJavaError"),
        "PySpark's exception, naming them": (False, "IllegalArgumentException"),
        "an SQL error, naming them": (False, "Py4JJavaError"),  # a task failed: SparkException
    }
    for kind in [kind for kind in seen if kind.endswith("naming them")]:
        assert "CommitFailed" in seen[kind][2] and "ValidationException" in seen[kind][2]
    assert len(merges) == 1  # not redone


def test_a_spark_connect_error_is_told_by_the_class_it_names() -> None:
    """Spark Connect 3.5 sends only the outermost Java class's name, as the error's reason."""
    validation = "org.apache.iceberg.exceptions.ValidationException"
    assert _lost_race(SparkConnectGrpcException("Found conflicting files", reason=validation))
    assert not _lost_race(
        SparkConnectGrpcException(f"{validation}: no", reason="java.lang.IllegalStateException")
    )
    assert not _lost_race(RuntimeError(f"{validation}: Found conflicting files"))
