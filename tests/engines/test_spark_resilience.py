"""Crash safety on Spark: a SIGKILLed ``banklake run --engine spark`` leaves every table in its
old or new state, and the next Spark run converges to a clean run's tables."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.test_resilience import _banklake, _content, _half_loaded, clean  # noqa: F401

from banklake.config import Settings, load_settings
from banklake.engines.spark import SparkEngine
from banklake.errors import LakehouseError
from banklake.pipeline import run

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("point", ["staged", "silver-committed"])
def test_a_crashed_spark_run_converges_on_the_next_run(
    settings: Settings,
    clean: dict[str, list[dict[str, Any]]],  # noqa: F811 - the fixture, imported
    point: str,
) -> None:
    _half_loaded(settings)
    before = _content(settings)
    crashed = _banklake(settings, "run", "--engine", "spark", crash_at=point)
    crashed.communicate(timeout=600)
    assert crashed.returncode == -signal.SIGKILL
    after_crash = _content(settings)
    for name, rows in after_crash.items():
        assert rows in (before[name], clean[name]), name
    if point == "staged":
        assert after_crash == before
    else:
        assert after_crash != before  # Silver moved on; Gold and the ledger did not
    run(settings, "spark")
    assert _content(settings) == clean


def test_a_catalog_held_by_another_process_is_named(settings: Settings) -> None:
    """Another program in the middle of a write to the catalog file: the run says so."""
    _half_loaded(settings)
    before = _content(settings)
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
    assert _content(settings) == before


HOLD_WRITE_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(600)
"""


def test_a_spark_commit_that_loses_a_race_is_redone(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-delivered file's MERGE fails once as if another writer had replaced its files."""
    reference = load_settings(landing=settings.landing, lakehouse=tmp_path / "reference")
    run(settings)
    run(reference)
    first = sorted((settings.landing / "transactions").glob("transactions_*.csv"))[0]
    first.write_bytes(
        first.read_bytes() + b"TX_LATE_1,ACC_000001,3.00,Credit,2026-01-05 10:00:00\n"
    )
    run(reference)
    real, failures = SparkEngine._merge, []

    def racing(self: SparkEngine, name: str, rows: Any, where: str) -> None:
        if not failures:
            failures.append(name)
            raise RuntimeError(
                "org.apache.iceberg.exceptions.ValidationException: Found conflicting files"
            )
        real(self, name, rows, where)

    monkeypatch.setattr(SparkEngine, "_merge", racing)
    run(settings, "spark")
    assert failures  # the fault was met, and the commit redone
    assert _content(settings) == _content(reference)
