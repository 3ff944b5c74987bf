"""Maintenance on Spark: a procedure Iceberg refuses is recorded as failed, in one line."""

from __future__ import annotations

import pytest

from banklake.config import MaintenancePolicy, Settings
from banklake.contracts import ENRICHED_TRANSACTIONS
from banklake.engines import spark_maintenance
from banklake.lakehouse.catalog import Lakehouse
from banklake.lakehouse.policy import job_status
from banklake.pipeline import maintain, run
from banklake.verify.checks import maintenance as maintenance_check

pytestmark = pytest.mark.spark


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
