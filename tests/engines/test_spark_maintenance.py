"""Maintenance on Spark: Iceberg's procedures under the tables' recorded policy."""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pytest

from banklake.config import MaintenancePolicy, Settings
from banklake.contracts import ENRICHED_TRANSACTIONS, TABLES
from banklake.engines import spark_maintenance
from banklake.lakehouse.catalog import Lakehouse, local_path
from banklake.lakehouse.policy import JOBS, job_status
from banklake.pipeline import maintain, run
from banklake.verify.checks import maintenance as maintenance_check

pytestmark = pytest.mark.spark


def test_spark_maintenance_compacts_and_removes_old_unreferenced_files(
    settings: Settings,
) -> None:
    run(settings)
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    gold = lakehouse.table(ENRICHED_TRANSACTIONS)
    rows = gold.scan().to_arrow()
    for start in range(0, 4000, 1000):  # small files in the same partitions
        extra = rows.slice(start, 1000)
        ids = pa.array([f"TX_EXTRA_{start + i}" for i in range(extra.num_rows)])
        gold.append(extra.set_column(0, "tx_id", ids))
    before = gold.scan().to_arrow().sort_by("tx_id")
    files_before = len(list(gold.scan().plan_files()))
    data = local_path(gold.location()) / "data"
    old_orphan, young_orphan = data / "left-by-a-crash.parquet", data / "in-flight.parquet"
    for orphan in (old_orphan, young_orphan):
        orphan.write_bytes(b"not referenced")
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(old_orphan, (week_ago, week_ago))

    results = maintain(settings, "spark")

    gold = lakehouse.table(ENRICHED_TRANSACTIONS)
    assert gold.scan().to_arrow().sort_by("tx_id").equals(before)
    assert len(list(gold.scan().plan_files())) < files_before
    jobs = {job.job: job for job in results["enriched_transactions"]}
    assert jobs["icebergCompaction"].before == files_before
    assert jobs["icebergCompaction"].after < files_before
    assert jobs["icebergUnreferencedFileRemoval"].before == 1
    assert not old_orphan.exists() and young_orphan.exists()
    assert {job_status(gold.properties, job)["status"] for job in JOBS} == {"Successful"}
    assert set(results) == {contract.name for contract in TABLES}


def test_a_procedure_that_raises_is_recorded_failed_and_the_others_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(settings)
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    before = lakehouse.table(ENRICHED_TRANSACTIONS).scan().to_arrow().sort_by("tx_id")

    def refused_options(policy: MaintenancePolicy) -> dict[str, int]:
        """A fault: an option Iceberg's rewrite_data_files refuses, so the procedure raises."""
        return {"banklake-fault": 1}

    monkeypatch.setattr(spark_maintenance, "compaction_options", refused_options)
    results = maintain(settings, "spark")

    jobs = {job.job: job for job in results["enriched_transactions"]}
    compaction = jobs["icebergCompaction"]
    assert compaction.status == "Failed"
    # Spark's own error, in one line: the exception and its message, no Java frames.
    assert "banklake-fault" in compaction.failure_message
    assert compaction.failure_message.split(":")[0].endswith("Exception")
    assert "\n" not in compaction.failure_message and "\tat " not in compaction.failure_message
    assert jobs["icebergSnapshotManagement"].status == "Successful"
    assert jobs["icebergUnreferencedFileRemoval"].status == "Successful"

    tables = lakehouse.tables()
    gold = tables["enriched_transactions"]
    assert gold.scan().to_arrow().sort_by("tx_id").equals(before)
    recorded = job_status(gold.properties, "icebergCompaction")
    assert (recorded["status"], recorded["failure_message"]) == (
        "Failed",
        compaction.failure_message,
    )
    check = maintenance_check(tables)
    assert not check.passed
    assert (
        f"enriched_transactions.icebergCompaction Failed: {compaction.failure_message}"
        in (check.details["problems"])
    )
