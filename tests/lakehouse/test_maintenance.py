"""Maintenance on real Iceberg tables: compaction, snapshot expiry, unreferenced files."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.manifest import DataFile
from pyiceberg.table import DataScan, Table

from banklake.config import MaintenancePolicy, Settings
from banklake.contracts import ENRICHED_TRANSACTIONS, SILVER_TRANSACTIONS, TABLES
from banklake.engines.embedded import rewrite_data_files
from banklake.errors import StorageError
from banklake.faults import FAIL_AT
from banklake.lakehouse.catalog import Lakehouse, local_path, set_properties
from banklake.lakehouse.maintenance import (
    compact,
    expire_snapshots,
    maintain,
    referenced_files,
    remove_unreferenced_files,
)
from banklake.lakehouse.policy import JOBS, job_status, policy_properties
from banklake.pipeline import RunResult
from banklake.pipeline import maintain as maintain_lakehouse
from banklake.verify.checks import maintenance as maintenance_check

LATER = datetime.now(UTC) + timedelta(days=30)


@pytest.fixture
def gold(settings: Settings, loaded: RunResult) -> Table:
    """Gold after a run plus four small appends: several small files in the same partitions."""
    table = Lakehouse.local(settings.lakehouse, settings.namespace).table(ENRICHED_TRANSACTIONS)
    rows = table.scan().to_arrow()
    for start in range(0, 4000, 1000):
        table.append(_renumbered(rows.slice(start, 1000), start))
    return table


def _renumbered(rows: pa.Table, start: int) -> pa.Table:
    ids = pa.array([f"TX_EXTRA_{start + i}" for i in range(rows.num_rows)])
    return rows.set_column(0, "tx_id", ids)


def _content(source: Table | DataScan) -> pa.Table:
    scan = source.scan() if isinstance(source, Table) else source
    return scan.to_arrow().sort_by("tx_id")


def _files(table: Table) -> int:
    return len(list(table.scan().plan_files()))


def test_maintenance_compacts_and_removes_old_unreferenced_files(
    settings: Settings, gold: Table, engine: str
) -> None:
    """Each engine's maintenance (on Spark, Iceberg's own procedures) under the tables' policy."""
    before, files_before = _content(gold), _files(gold)
    data = local_path(gold.location()) / "data"
    old_orphan, young_orphan = data / "left-by-a-crash.parquet", data / "in-flight.parquet"
    for orphan in (old_orphan, young_orphan):
        orphan.write_bytes(b"not referenced")
    week_ago = (datetime.now(UTC) - timedelta(days=7)).timestamp()
    os.utime(old_orphan, (week_ago, week_ago))

    results = maintain_lakehouse(settings, engine)

    gold = Lakehouse.local(settings.lakehouse, settings.namespace).table(ENRICHED_TRANSACTIONS)
    assert _content(gold).equals(before)
    jobs = {job.job: job for job in results["enriched_transactions"]}
    assert jobs["icebergCompaction"].before == files_before > _files(gold)
    assert jobs["icebergCompaction"].after == _files(gold)
    assert not old_orphan.exists() and young_orphan.exists()
    assert {job_status(gold.properties, job)["status"] for job in JOBS} == {"Successful"}
    assert set(results) == {contract.name for contract in TABLES}


def test_compaction_rewrites_small_files_atomically_with_identical_data(gold: Table) -> None:
    before, files_before, snapshots_before = (
        _content(gold),
        _files(gold),
        len(gold.metadata.snapshots),
    )
    partitions = {repr(task.file.partition) for task in gold.scan().plan_files()}
    result = compact(gold, MaintenancePolicy(), rewrite_data_files)
    assert (result.before, result.after) == (files_before, len(partitions))
    assert len(gold.metadata.snapshots) == snapshots_before + 1  # one commit
    assert gold.current_snapshot().summary["banklake.operation"] == "compaction"  # type: ignore[union-attr]
    assert _content(gold).equals(before)


def test_a_failed_compaction_removes_the_files_it_wrote(gold: Table) -> None:
    before, data = _content(gold), local_path(gold.location()) / "data"
    on_disk = sorted(data.rglob("*.parquet"))
    written: list[DataFile] = []

    def losing_a_file(table: Table, files: list[DataFile]) -> list[DataFile]:
        """A fault: the rewrite leaves out a file's rows, so the commit must not happen."""
        written.extend(rewrite_data_files(table, files[1:]))
        return written

    with pytest.raises(RuntimeError, match="changed the row count; nothing was committed"):
        compact(gold, MaintenancePolicy(), losing_a_file)
    assert written and all(not local_path(f.file_path).exists() for f in written)
    assert sorted(data.rglob("*.parquet")) == on_disk
    assert _content(gold).equals(before)


def test_compacted_table_is_left_alone(gold: Table) -> None:
    compact(gold, MaintenancePolicy(), rewrite_data_files)
    snapshots = len(gold.metadata.snapshots)
    result = compact(gold, MaintenancePolicy(), rewrite_data_files)
    assert result.before == result.after
    assert len(gold.metadata.snapshots) == snapshots  # no commit when there is nothing to do


def test_compaction_disabled_by_policy(gold: Table) -> None:
    files = _files(gold)
    result = compact(gold, MaintenancePolicy(compaction_enabled=False), rewrite_data_files)
    assert (result.status, result.after) == ("Disabled", files)


def test_snapshot_expiry_follows_the_policy(gold: Table) -> None:
    count = len(gold.metadata.snapshots)
    kept = expire_snapshots(gold, MaintenancePolicy(max_snapshot_age_hours=120), datetime.now(UTC))
    assert kept.after == count  # nothing is older than 120 hours
    result = expire_snapshots(gold, MaintenancePolicy(min_snapshots_to_keep=2), LATER)
    assert (result.before, result.after) == (count, 2)


def test_unreferenced_files_are_removed_only_after_the_safety_window(gold: Table) -> None:
    location = Path(gold.location().removeprefix("file://"))
    stray = location / "data" / "crashed-write" / "leftover.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"not referenced by any snapshot")
    policy = MaintenancePolicy()
    result = remove_unreferenced_files(gold, policy, datetime.now(UTC))
    assert result.after == result.before
    assert stray.exists()  # younger than the window: it may belong to a commit in flight
    old = (datetime.now(UTC) - timedelta(days=4)).timestamp()
    os.utime(stray, (old, old))
    remove_unreferenced_files(gold, policy, datetime.now(UTC))
    assert not stray.exists()
    assert all(Path(p).exists() for p in referenced_files(gold))


def test_time_travel_to_every_retained_snapshot_after_maintenance(gold: Table) -> None:
    set_properties(gold, policy_properties(MaintenancePolicy(min_snapshots_to_keep=3)))
    before = {
        s.snapshot_id: _content(gold.scan(snapshot_id=s.snapshot_id))
        for s in gold.metadata.snapshots
    }
    current = _content(gold.scan())
    # 30 days on: compaction commits, all but the three newest snapshots expire, and the files
    # only the expired ones referenced are deleted.
    maintain(gold, rewrite_data_files, now=LATER)
    retained = [s.snapshot_id for s in gold.metadata.snapshots]
    assert len(retained) == 3
    for snapshot_id in retained:
        # the compaction's own snapshot holds what was current; the others are unchanged
        expected = before.get(snapshot_id, current)
        assert _content(gold.scan(snapshot_id=snapshot_id)).equals(expected)


def test_maintain_records_policy_and_job_evidence(settings: Settings, loaded: RunResult) -> None:
    results = maintain_lakehouse(settings)
    assert set(results) == {
        "customers",
        "accounts",
        "transactions",
        "quarantine",
        "enriched_transactions",
        "load_ledger",
    }
    gold = Lakehouse.local(settings.lakehouse, settings.namespace).table(ENRICHED_TRANSACTIONS)
    props = gold.properties
    assert props["banklake.maintenance.compaction.status"] == "enabled"
    assert props["write.target-file-size-bytes"] == str(512 * 1024 * 1024)
    assert props["history.expire.max-snapshot-age-ms"] == str(120 * 3_600_000)
    for job in ("icebergCompaction", "icebergSnapshotManagement", "icebergUnreferencedFileRemoval"):
        assert props[f"banklake.maintenance.job.{job}.status"] == "Successful"
        assert "->" in props[f"banklake.maintenance.job.{job}.summary"]


def _losing_a_file(table: Table, files: list[DataFile]) -> list[DataFile]:
    """A fault: the rewrite leaves out a file's rows, so compaction must fail and commit nothing."""
    return rewrite_data_files(table, files[1:])


def test_a_job_that_raises_is_recorded_failed_and_the_other_jobs_still_run(gold: Table) -> None:
    before, data = _content(gold), local_path(gold.location()) / "data"
    parquet = sorted(data.rglob("*.parquet"))
    stray = data / "left-by-a-crash.parquet"
    stray.write_bytes(b"not referenced by any snapshot")
    month_ago = (LATER - timedelta(days=60)).timestamp()
    os.utime(stray, (month_ago, month_ago))

    results = {result.job: result for result in maintain(gold, _losing_a_file, now=LATER)}

    message = "RuntimeError: compaction changed the row count; nothing was committed"
    compaction = results["icebergCompaction"]
    assert (compaction.status, compaction.failure_message) == ("Failed", message)
    # The data and its files are as they were: nothing of the failed rewrite is left.
    assert _content(gold).equals(before)
    assert sorted(data.rglob("*.parquet")) == parquet
    # Snapshot expiry and the removal ran all the same, each on its own.
    assert results["icebergSnapshotManagement"].status == "Successful"
    assert len(gold.metadata.snapshots) == 1
    assert results["icebergUnreferencedFileRemoval"].status == "Successful"
    assert not stray.exists()
    recorded = job_status(gold.properties, "icebergCompaction")
    assert (recorded["status"], recorded["failure_message"]) == ("Failed", message)
    assert recorded["summary"] == message

    check = maintenance_check({"enriched_transactions": gold})
    assert not check.passed
    assert check.details["failed_jobs"] == ["enriched_transactions.icebergCompaction"]
    assert check.details["problems"] == [
        f"enriched_transactions.icebergCompaction Failed: {message}"
    ]

    # The next run that succeeds clears the failure, and Test 3 passes again.
    maintain(gold, rewrite_data_files, now=LATER)
    assert {job_status(gold.properties, job)["failure_message"] for job in JOBS} == {""}
    assert maintenance_check({"enriched_transactions": gold}).passed


def test_a_refusing_storage_stops_maintenance_with_one_message_and_records_it(
    gold: Table,
) -> None:
    before, snapshots = _content(gold), len(gold.metadata.snapshots)

    def disk_full(table: Table, files: list[DataFile]) -> list[DataFile]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(local_path(table.location())))

    with pytest.raises(StorageError, match="no space left on device") as stopped:
        maintain(gold, disk_full, now=LATER)
    assert str(stopped.value).endswith(
        "the data of analytics_db.enriched_transactions is unchanged; run `banklake maintain` again"
    )
    gold.refresh()
    assert _content(gold).equals(before)
    assert len(gold.metadata.snapshots) == snapshots  # expiry did not run on a refusing disk
    recorded = job_status(gold.properties, "icebergCompaction")
    assert (recorded["status"], recorded["failure_message"]) == ("Failed", str(stopped.value))


def _banklake(
    settings: Settings, *args: str, fail_at: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BANKLAKE_")}
    if fail_at:
        env[FAIL_AT] = fail_at
    command = [sys.executable, "-m", "banklake", *args, "--lakehouse", str(settings.lakehouse)]
    command += ["--landing", str(settings.landing), "--reports", str(settings.reports)] * (
        args[0] == "verify"
    )
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_maintain_says_which_job_failed_and_verify_fails_test_3(
    settings: Settings, gold: Table
) -> None:
    before = _content(gold)
    # A fault: the compaction's first data file cannot be written (an I/O error, not a full disk).
    failed = _banklake(settings, "maintain", fail_at="data-file-written:EIO")

    assert failed.returncode == 2, failed.stderr
    assert "Traceback" not in failed.stderr
    (line,) = failed.stderr.strip().splitlines()
    assert re.fullmatch(
        r"error: analytics_db\.enriched_transactions: icebergCompaction Failed: OSError: "
        r"\[Errno 5\] Input/output error: '/\S+'; the table's data is unchanged; once that is "
        r"fixed, run `banklake maintain` again \(Test 3 fails until then\)",
        line,
    )
    gold.refresh()
    assert _content(gold).equals(before)
    jobs = {job: job_status(gold.properties, job)["status"] for job in JOBS}
    assert jobs == {
        "icebergCompaction": "Failed",
        "icebergSnapshotManagement": "Successful",
        "icebergUnreferencedFileRemoval": "Successful",
    }
    # The other tables were maintained as usual.
    other = Lakehouse.local(settings.lakehouse, settings.namespace).table(SILVER_TRANSACTIONS)
    assert {job_status(other.properties, job)["status"] for job in JOBS} == {"Successful"}

    verified = _banklake(settings, "verify")
    assert verified.returncode == 1, verified.stderr
    assert "FAIL  Test 3" in verified.stdout
    assert re.search(
        r"enriched_transactions\.icebergCompaction Failed: OSError: \[Errno 5\] Input/output",
        verified.stdout,
    )
