"""Table maintenance on Spark: Iceberg's own procedures, under the policy the tables record.

The policy (``banklake.lakehouse.policy``) is the embedded maintenance's: compaction rewrites
groups of at least two files under 75% of the target size, per partition; snapshot expiry keeps
the newest ``min_snapshots_to_keep`` and removes older ones past the maximum age; unreferenced
files are removed once older than the safety window. Each job's outcome is recorded on the table
the same way, so ``banklake verify`` reads it whichever engine ran.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pyiceberg.table import Table
from pyspark.sql import SparkSession

from banklake.config import MaintenancePolicy
from banklake.errors import UsageError
from banklake.lakehouse.maintenance import SMALL_FILE_SHARE, JobResult, evidence, failure_message
from banklake.lakehouse.policy import (
    COMPACTION,
    SNAPSHOT_MANAGEMENT,
    UNREFERENCED_FILE_REMOVAL,
    policy_from_properties,
)
from banklake.transform import sql_literal

# Iceberg's remove_orphan_files procedure refuses a shorter window.
_ORPHAN_WINDOW_FLOOR_HOURS = 24
# The lines of a Java stack trace that say where, not what: "\tat ...", "... 12 more".
_JAVA_FRAME = re.compile(r"^\s*(at |\.\.\. \d+ more)")


def maintain(spark: SparkSession, catalog: str, table: Table, now: datetime) -> list[JobResult]:
    """Run the three jobs on ``table`` (its name in ``catalog``) and record each outcome.

    A procedure that raises is recorded as ``Failed`` with its message and the others still
    run, as on the embedded engine (``banklake.lakehouse.maintenance`` says why that is safe):
    each procedure commits atomically or not at all.
    """
    policy = policy_from_properties(table.properties)
    if policy.unreferenced_file_age_hours < _ORPHAN_WINDOW_FLOOR_HOURS:
        raise UsageError(
            f"maintenance.unreferenced_file_age_hours is {policy.unreferenced_file_age_hours}; "
            f"Iceberg's remove_orphan_files on Spark needs at least {_ORPHAN_WINDOW_FLOOR_HOURS}"
        )
    procedures = _Procedures(spark, catalog, table, policy, now)
    jobs: list[tuple[str, str, Callable[[], JobResult]]] = [
        (COMPACTION, "data files", procedures.compact),
        (SNAPSHOT_MANAGEMENT, "snapshots", procedures.expire_snapshots),
        (UNREFERENCED_FILE_REMOVAL, "unreferenced files", procedures.remove_orphan_files),
    ]
    results = []
    for job, detail, run in jobs:
        try:
            results.append(run())
        except Exception as error:
            results.append(JobResult.failed(job, detail, spark_failure_message(error)))
    assignments = ", ".join(
        f"{sql_literal(key)} = {sql_literal(value)}"
        for key, value in evidence(results, now).items()
    )
    spark.sql(f"ALTER TABLE {procedures.quoted} SET TBLPROPERTIES ({assignments})")
    return results


def spark_failure_message(error: BaseException) -> str:
    """A Spark or Py4J error in one line: the Java exception and its message, not its frames."""
    java = getattr(error, "java_exception", None)  # a Py4JJavaError: name the Java exception
    if java is not None:
        try:
            return " ".join(str(java.toString()).split())
        except Exception:
            pass  # the JVM is gone: what Python holds of it is all there is
    lines = [line for line in str(error).splitlines() if not _JAVA_FRAME.match(line)]
    return failure_message(error, "\n".join(lines))


class _Procedures:
    """Iceberg's procedures on one table, each one maintenance job with its counts."""

    def __init__(
        self,
        spark: SparkSession,
        catalog: str,
        table: Table,
        policy: MaintenancePolicy,
        now: datetime,
    ) -> None:
        self.spark, self.policy, self.now = spark, policy, now
        self.name = ".".join(table.name())
        self.quoted = ".".join(f"`{part}`" for part in table.name())
        self.call = f"CALL `{catalog}`.system"

    def count(self, metadata: str) -> int:
        query = f"SELECT COUNT(*) AS n FROM {self.quoted}.{metadata}"
        return int(self.spark.sql(query).collect()[0]["n"])

    def compact(self) -> JobResult:
        files_before = self.count("files")
        if not self.policy.compaction_enabled:
            return JobResult(COMPACTION, "Disabled", files_before, files_before, "data files")
        rendered = ", ".join(
            f"'{key}', '{value}'" for key, value in compaction_options(self.policy).items()
        )
        self.spark.sql(
            f"{self.call}.rewrite_data_files(table => '{self.name}', options => map({rendered}))"
        )
        return JobResult(COMPACTION, "Successful", files_before, self.count("files"), "data files")

    def expire_snapshots(self) -> JobResult:
        snapshots_before = self.count("snapshots")
        cutoff = self.now - timedelta(hours=self.policy.max_snapshot_age_hours)
        self.spark.sql(
            f"{self.call}.expire_snapshots(table => '{self.name}', "
            f"older_than => {_timestamp(cutoff)}, "
            f"retain_last => {self.policy.min_snapshots_to_keep})"
        )
        return JobResult(
            SNAPSHOT_MANAGEMENT,
            "Successful",
            snapshots_before,
            self.count("snapshots"),
            "snapshots",
        )

    def remove_orphan_files(self) -> JobResult:
        window = self.now - timedelta(hours=self.policy.unreferenced_file_age_hours)
        removed = self.spark.sql(
            f"{self.call}.remove_orphan_files(table => '{self.name}', "
            f"older_than => {_timestamp(window)})"
        ).count()
        return JobResult(UNREFERENCED_FILE_REMOVAL, "Successful", removed, 0, "unreferenced files")


def compaction_options(policy: MaintenancePolicy) -> dict[str, int]:
    """``rewrite_data_files``' options for the policy: the embedded compaction's rule."""
    target = policy.target_file_size_mb * 1024 * 1024
    return {
        "target-file-size-bytes": target,
        "min-file-size-bytes": int(target * SMALL_FILE_SHARE),
        "min-input-files": 2,
    }


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP {sql_literal(moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S'))}"
