"""Table maintenance under the recorded policy: compaction, snapshot expiry, unreferenced files.

PyIceberg has snapshot expiry but no compaction and deletes no files, so this module does the
other two itself, the way Iceberg's Spark procedures do: compaction rewrites a partition's small
files into files near the target size in one atomic commit; unreferenced-file removal deletes
files under the table that no retained snapshot or metadata version references, once they are
older than a safety window (a younger one may belong to a commit still in flight).

A job that raises is recorded as ``Failed`` with its message (S3 Tables' ``failureMessage``),
and the jobs after it still run, as S3 Tables runs its three independently. That is safe: a
failed compaction committed nothing (its new files are deleted), or, if its commit landed after
all, the same rows; expiry never removes the current snapshot; and the removal keeps every file
a retained snapshot references and every file younger than the window, a failed job's leftovers
among them. Storage that refuses writes (full, read-only) stops the command instead: the next
job's writes, and the record, would be refused too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from banklake.config import MaintenancePolicy
from banklake.errors import BanklakeError
from banklake.faults import crash_point
from banklake.lakehouse.catalog import local_path, storage_errors, storage_problem
from banklake.lakehouse.policy import (
    COMPACTION,
    SNAPSHOT_MANAGEMENT,
    UNREFERENCED_FILE_REMOVAL,
    JobStatus,
    job_properties,
    policy_from_properties,
)

# A file is "small" below this share of the target size: rewriting a nearly full file gains little.
SMALL_FILE_SHARE = 0.75
Rewriter = Callable[[Table, list[DataFile]], list[DataFile]]


# A failure message is kept short: it is a table property, and one line of `banklake maintain`.
MAX_FAILURE_MESSAGE = 1000


@dataclass(frozen=True)
class JobResult:
    job: str
    status: JobStatus
    before: int | None  # None: a Failed job's counts are not known
    after: int | None
    detail: str
    failure_message: str = ""  # S3 Tables' failureMessage: why a Failed job stopped

    @classmethod
    def failed(cls, job: str, detail: str, message: str) -> JobResult:
        return cls(job, "Failed", None, None, detail, message[:MAX_FAILURE_MESSAGE])

    @property
    def summary(self) -> str:
        if self.status == "Failed":
            return self.failure_message
        return f"{self.detail}: {self.before} -> {self.after}"


def failure_message(error: BaseException, text: str | None = None) -> str:
    """Why a job stopped (``text``, by default the error's own), in one line; an error of a
    library is named by its type."""
    text = " ".join((str(error) if text is None else text).split())
    if isinstance(error, BanklakeError):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def evidence(results: list[JobResult], now: datetime) -> dict[str, str]:
    """Each job's outcome as the table properties that record it."""
    recorded: dict[str, str] = {}
    for result in results:
        recorded |= job_properties(
            result.job, result.status, now, result.summary, result.failure_message
        )
    return recorded


def record(table: Table, results: list[JobResult], now: datetime) -> None:
    with table.transaction() as transaction:
        transaction.set_properties(evidence(results, now))


def maintain(table: Table, rewrite: Rewriter, now: datetime | None = None) -> list[JobResult]:
    """Run the three jobs on ``table`` under its own policy and record each outcome on it."""
    now = now or datetime.now(UTC)
    policy = policy_from_properties(table.properties)
    jobs: list[tuple[str, str, Callable[[], JobResult]]] = [
        (COMPACTION, "data files", lambda: compact(table, policy, rewrite)),
        (SNAPSHOT_MANAGEMENT, "snapshots", lambda: expire_snapshots(table, policy, now)),
        (UNREFERENCED_FILE_REMOVAL, "files", lambda: remove_unreferenced_files(table, policy, now)),
    ]
    where = local_path(table.location())
    # Every job keeps the table's data as it is, whatever stops it.
    outcome = f"the data of {'.'.join(table.name())} is unchanged; run `banklake maintain` again"
    results: list[JobResult] = []
    for job, detail, run in jobs:
        try:
            if _any_failed(results):
                table.refresh()  # a failed commit may have left this view of the table behind
            results.append(run())
        except Exception as error:
            refused = storage_problem(error, where, outcome)
            results.append(JobResult.failed(job, detail, failure_message(refused or error)))
            if refused is not None:
                _record_if_possible(table, results, now)
                raise refused from None
    with storage_errors(where, outcome):
        if _any_failed(results):
            table.refresh()
        record(table, results, now)
    return results


def _any_failed(results: list[JobResult]) -> bool:
    return any(result.status == "Failed" for result in results)


def _record_if_possible(table: Table, results: list[JobResult], now: datetime) -> None:
    try:
        table.refresh()
        record(table, results, now)
    except Exception:
        return  # the error that stopped the jobs is the one to report


def _live_files(table: Table) -> list[DataFile]:
    return [task.file for task in table.scan().plan_files()]


def compact(table: Table, policy: MaintenancePolicy, rewrite: Rewriter) -> JobResult:
    files = _live_files(table)
    if not policy.compaction_enabled:
        return JobResult(COMPACTION, "Disabled", len(files), len(files), "data files")
    small_limit = policy.target_file_size_mb * 1024 * 1024 * SMALL_FILE_SHARE
    groups: dict[tuple[int, str], list[DataFile]] = defaultdict(list)
    for data_file in files:
        if data_file.file_size_in_bytes < small_limit:
            groups[(data_file.spec_id, repr(data_file.partition))].append(data_file)
    rewritten = [group for group in groups.values() if len(group) > 1]
    if not rewritten:
        return JobResult(COMPACTION, "Successful", len(files), len(files), "data files")
    old = [data_file for group in rewritten for data_file in group]
    new = rewrite(table, old)
    try:
        _replace_files(table, old, new)
    except BaseException:
        _discard_unless_committed(table, new)
        raise
    after = len(_live_files(table))
    return JobResult(COMPACTION, "Successful", len(files), after, "data files")


def _replace_files(table: Table, old: list[DataFile], new: list[DataFile]) -> None:
    crash_point("compaction-staged")
    if sum(f.record_count for f in new) != sum(f.record_count for f in old):
        raise RuntimeError("compaction changed the row count; nothing was committed")
    # PyIceberg 0.12 cannot write a "replace" snapshot, so this is an overwrite that the summary
    # marks as compaction; the data before and after is the same.
    summary = {"banklake.operation": "compaction"}
    with (
        table.transaction() as transaction,
        transaction.update_snapshot(snapshot_properties=summary).overwrite() as update,
    ):
        for data_file in old:
            update.delete_data_file(data_file)
        for data_file in new:
            update.append_data_file(data_file)


def _discard_unless_committed(table: Table, new: list[DataFile]) -> None:
    """Delete a failed compaction's files, unless its commit landed after all (or it cannot
    tell: the unreferenced-file removal takes them later)."""
    try:
        table.refresh()
        live = {data_file.file_path for data_file in _live_files(table)}
    except Exception:
        return
    for data_file in new:
        if data_file.file_path not in live:
            local_path(data_file.file_path).unlink(missing_ok=True)


def expire_snapshots(table: Table, policy: MaintenancePolicy, now: datetime) -> JobResult:
    """Expire snapshots older than the maximum age, always keeping the newest ones."""
    snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
    protected = {ref.snapshot_id for ref in table.metadata.refs.values()}
    cutoff_ms = (now - timedelta(hours=policy.max_snapshot_age_hours)).timestamp() * 1000
    expired = [
        snapshot.snapshot_id
        for snapshot in snapshots[policy.min_snapshots_to_keep :]
        if snapshot.timestamp_ms < cutoff_ms and snapshot.snapshot_id not in protected
    ]
    if expired:
        table.maintenance.expire_snapshots().by_ids(expired).commit()
    return JobResult(
        SNAPSHOT_MANAGEMENT,
        "Successful",
        len(snapshots),
        len(table.metadata.snapshots),
        "snapshots",
    )


def referenced_files(table: Table) -> set[str]:
    """Every file a retained snapshot or metadata version of ``table`` points at."""
    io = table.io
    paths = {
        table.metadata_location,
        *(entry.metadata_file for entry in table.metadata.metadata_log),
    }
    for snapshot in table.metadata.snapshots:
        paths.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            paths.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                paths.add(entry.data_file.file_path)
    return {str(local_path(path)) for path in paths}


def remove_unreferenced_files(table: Table, policy: MaintenancePolicy, now: datetime) -> JobResult:
    root = local_path(table.location())
    on_disk = [path for path in root.rglob("*") if path.is_file()]
    keep = referenced_files(table)
    cutoff = (now - timedelta(hours=policy.unreferenced_file_age_hours)).timestamp()
    removed = 0
    for path in on_disk:
        if str(path) not in keep and path.stat().st_mtime < cutoff:
            path.unlink()
            removed += 1
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()) and folder.stat().st_mtime < cutoff:
            folder.rmdir()
    return JobResult(
        UNREFERENCED_FILE_REMOVAL, "Successful", len(on_disk), len(on_disk) - removed, "files"
    )
