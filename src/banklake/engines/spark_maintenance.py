"""Table maintenance on Spark: Iceberg's own procedures, under the policy the tables record.

The policy (``banklake.lakehouse.policy``) is the embedded maintenance's: compaction rewrites
groups of at least two files under 75% of the target size, per partition; snapshot expiry keeps
the newest ``min_snapshots_to_keep`` and removes older ones past the maximum age; unreferenced
files are removed once older than the safety window. Each job's outcome is recorded on the table
the same way, so ``banklake verify`` reads it whichever engine ran.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyiceberg.table import Table
from pyspark.sql import SparkSession

from banklake.errors import UsageError
from banklake.lakehouse.maintenance import SMALL_FILE_SHARE, JobResult
from banklake.lakehouse.policy import (
    COMPACTION,
    SNAPSHOT_MANAGEMENT,
    UNREFERENCED_FILE_REMOVAL,
    job_properties,
    policy_from_properties,
)
from banklake.transform import sql_literal

# Iceberg's remove_orphan_files procedure refuses a shorter window.
_ORPHAN_WINDOW_FLOOR_HOURS = 24


def maintain(spark: SparkSession, catalog: str, table: Table, now: datetime) -> list[JobResult]:
    """Run the three jobs on ``table`` (its name in ``catalog``) and record each outcome."""
    policy = policy_from_properties(table.properties)
    name = ".".join(table.name())
    quoted = ".".join(f"`{part}`" for part in table.name())
    call = f"CALL `{catalog}`.system"

    def count(metadata: str) -> int:
        return int(spark.sql(f"SELECT COUNT(*) AS n FROM {quoted}.{metadata}").collect()[0]["n"])

    if policy.unreferenced_file_age_hours < _ORPHAN_WINDOW_FLOOR_HOURS:
        raise UsageError(
            f"maintenance.unreferenced_file_age_hours is {policy.unreferenced_file_age_hours}; "
            f"Iceberg's remove_orphan_files on Spark needs at least {_ORPHAN_WINDOW_FLOOR_HOURS}"
        )
    files_before = count("files")
    if policy.compaction_enabled:
        target = policy.target_file_size_mb * 1024 * 1024
        options = {
            "target-file-size-bytes": target,
            "min-file-size-bytes": int(target * SMALL_FILE_SHARE),
            "min-input-files": 2,
        }
        rendered = ", ".join(f"'{key}', '{value}'" for key, value in options.items())
        spark.sql(f"{call}.rewrite_data_files(table => '{name}', options => map({rendered}))")
        compaction = JobResult(COMPACTION, "Successful", files_before, count("files"), "data files")
    else:
        compaction = JobResult(COMPACTION, "Disabled", files_before, files_before, "data files")

    snapshots_before = count("snapshots")
    cutoff = now - timedelta(hours=policy.max_snapshot_age_hours)
    spark.sql(
        f"{call}.expire_snapshots(table => '{name}', older_than => {_timestamp(cutoff)}, "
        f"retain_last => {policy.min_snapshots_to_keep})"
    )
    expiry = JobResult(
        SNAPSHOT_MANAGEMENT, "Successful", snapshots_before, count("snapshots"), "snapshots"
    )

    window = now - timedelta(hours=policy.unreferenced_file_age_hours)
    removed = spark.sql(
        f"{call}.remove_orphan_files(table => '{name}', older_than => {_timestamp(window)})"
    ).count()
    orphans = JobResult(UNREFERENCED_FILE_REMOVAL, "Successful", removed, 0, "unreferenced files")

    results = [compaction, expiry, orphans]
    evidence: dict[str, str] = {}
    for result in results:
        evidence |= job_properties(result.job, result.status, now, result.summary)
    assignments = ", ".join(
        f"{sql_literal(key)} = {sql_literal(value)}" for key, value in evidence.items()
    )
    spark.sql(f"ALTER TABLE {quoted} SET TBLPROPERTIES ({assignments})")
    return results


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP {sql_literal(moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S'))}"
