"""The maintenance policy and job evidence, recorded as table properties.

The policy mirrors S3 Tables' maintenance configuration (compaction status and target size,
snapshot management, unreferenced-file removal); where Iceberg has a standard property for a
setting, that property is written too, so Spark's and other engines' procedures pick it up.
Each maintenance job records its outcome the way S3 Tables' job status API reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from banklake.config import MaintenancePolicy

PREFIX = "banklake.maintenance."
COMPACTION = "icebergCompaction"
SNAPSHOT_MANAGEMENT = "icebergSnapshotManagement"
UNREFERENCED_FILE_REMOVAL = "icebergUnreferencedFileRemoval"
JOBS = (COMPACTION, SNAPSHOT_MANAGEMENT, UNREFERENCED_FILE_REMOVAL)
JobStatus = Literal["Not_Yet_Run", "Successful", "Failed", "Disabled"]
_HOUR_MS = 3_600_000


def policy_properties(policy: MaintenancePolicy) -> dict[str, str]:
    return {
        f"{PREFIX}compaction.status": "enabled" if policy.compaction_enabled else "disabled",
        f"{PREFIX}compaction.target-file-size-mb": str(policy.target_file_size_mb),
        f"{PREFIX}unreferenced-file-age-hours": str(policy.unreferenced_file_age_hours),
        "write.target-file-size-bytes": str(policy.target_file_size_mb * 1024 * 1024),
        "history.expire.min-snapshots-to-keep": str(policy.min_snapshots_to_keep),
        "history.expire.max-snapshot-age-ms": str(policy.max_snapshot_age_hours * _HOUR_MS),
    }


def policy_from_properties(properties: Mapping[str, str]) -> MaintenancePolicy:
    """Read the policy back from a table, as maintenance and verification see it."""
    defaults = MaintenancePolicy()
    return MaintenancePolicy(
        compaction_enabled=properties.get(f"{PREFIX}compaction.status", "enabled") == "enabled",
        target_file_size_mb=int(
            properties.get(f"{PREFIX}compaction.target-file-size-mb", defaults.target_file_size_mb)
        ),
        min_snapshots_to_keep=int(
            properties.get("history.expire.min-snapshots-to-keep", defaults.min_snapshots_to_keep)
        ),
        max_snapshot_age_hours=int(
            properties.get(
                "history.expire.max-snapshot-age-ms", defaults.max_snapshot_age_hours * _HOUR_MS
            )
        )
        // _HOUR_MS,
        unreferenced_file_age_hours=int(
            properties.get(
                f"{PREFIX}unreferenced-file-age-hours", defaults.unreferenced_file_age_hours
            )
        ),
    )


def job_properties(
    job: str, status: JobStatus, ran_at: datetime, summary: str, failure_message: str = ""
) -> dict[str, str]:
    """A job's outcome as S3 Tables' GetTableMaintenanceJobStatus gives it: a ``Failed`` job
    has its ``failureMessage``. Every run writes all four, so a success clears an old failure."""
    return {
        f"{PREFIX}job.{job}.status": status,
        f"{PREFIX}job.{job}.last-run": ran_at.isoformat(timespec="seconds"),
        f"{PREFIX}job.{job}.summary": summary,
        f"{PREFIX}job.{job}.failure-message": failure_message,
    }


def job_status(properties: Mapping[str, str], job: str) -> dict[str, str]:
    return {
        "status": properties.get(f"{PREFIX}job.{job}.status", "Not_Yet_Run"),
        "last_run": properties.get(f"{PREFIX}job.{job}.last-run", ""),
        "summary": properties.get(f"{PREFIX}job.{job}.summary", ""),
        "failure_message": properties.get(f"{PREFIX}job.{job}.failure-message", ""),
    }
