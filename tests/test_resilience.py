"""Crashes, full disks and concurrent writers on real Iceberg tables.

A crash is a real SIGKILL of a real ``banklake`` process (``BANKLAKE_CRASH_AT`` names where;
``test_crash_anywhere`` kills at random points); after it, every table must be readable, and
the next run must converge to exactly the tables a clean run gives. A full disk is a write
failing with ENOSPC at a named point (``BANKLAKE_FAIL_AT``), or a real tiny file system that
fills; it must leave no staged file behind. Concurrent runs are real processes started together.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests import mounts
from tests.runs import banklake, clean_run, content, half_loaded

from banklake.config import Settings, load_settings
from banklake.contracts import TABLES
from banklake.engines.embedded import rewrite_data_files
from banklake.generate import GeneratorSpec, generate
from banklake.lakehouse import catalog as catalog_module
from banklake.lakehouse.catalog import Lakehouse, local_path
from banklake.lakehouse.lock import writer_lock
from banklake.lakehouse.maintenance import compact, referenced_files
from banklake.lakehouse.policy import policy_from_properties
from banklake.pipeline import maintain, run


def _unreferenced_data_files(settings: Settings) -> list[str]:
    """Data files in the tables' folders that no snapshot references: what a failed write left."""
    stray = []
    for table in Lakehouse.local(settings.lakehouse, settings.namespace).tables().values():
        keep = referenced_files(table)
        files = local_path(table.location()).rglob("*.parquet")
        stray += [str(path) for path in files if str(path) not in keep]
    return sorted(stray)


@pytest.mark.parametrize(
    ("engine", "point"),
    [
        *[
            ("embedded", p)
            for p in ("read", "staging", "staged", "silver-committed", "gold-committed")
        ],
        # A Spark process (local[*]) starts a JVM: the points on each side of the first commit.
        *[
            pytest.param("spark", p, marks=pytest.mark.spark)
            for p in ("staged", "silver-committed")
        ],
    ],
)
def test_a_crash_during_a_run_converges_on_the_next_run(
    settings: Settings, clean: dict[str, list[dict[str, Any]]], engine: str, point: str
) -> None:
    half_loaded(settings)
    before = content(settings)
    crashed = banklake(settings, "run", "--engine", engine, crash_at=point)
    crashed.communicate(timeout=600)
    assert crashed.returncode == -signal.SIGKILL
    after_crash = content(settings)  # every table still reads, and holds the old or new state
    for name, rows in after_crash.items():
        assert rows in (before[name], clean[name]), name
    if point in ("read", "staging", "staged"):
        assert after_crash == before  # nothing was committed
    else:
        assert after_crash != before  # Silver moved on
    run(settings, engine)
    assert content(settings) == clean


@pytest.mark.parametrize("point", ["silver-committed", "gold-committed"])
def test_a_crash_with_daily_snapshots_converges_on_the_next_run(tmp_path: Path, point: str) -> None:
    """The crashed batch brings new customer and account snapshots: history is rebuilt twice."""
    spec = GeneratorSpec(
        customers=150, accounts=250, days=6, transactions=6_000, end_date=date(2026, 3, 6),
        seed=9, snapshots="daily",
    )  # fmt: skip
    generate(spec, tmp_path / "landing")
    settings = load_settings(landing=tmp_path / "landing", lakehouse=tmp_path / "lh")
    reference = load_settings(landing=settings.landing, lakehouse=tmp_path / "reference")
    run(reference)
    half_loaded(settings, ("customers", "accounts", "transactions"))
    crashed = banklake(settings, "run", crash_at=point)
    crashed.communicate(timeout=120)
    assert crashed.returncode == -signal.SIGKILL
    run(settings)
    assert content(settings) == content(reference)


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


NO_SPACE = r"error: /\S+: no space left on device; free some space and run again; "


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        # The third data file written: the batch's first outputs are staged, one is half written.
        ("data-file-written:ENOSPC:3", "nothing was committed"),
        # The second commit: Silver transactions is committed, the quarantine and Gold are not.
        ("commit:ENOSPC:2", "part of this batch was committed: run again and it completes it"),
    ],
)
def test_a_full_disk_during_a_run_leaves_no_staged_files_and_the_next_run_converges(
    settings: Settings, clean: dict[str, list[dict[str, Any]]], fault: str, outcome: str
) -> None:
    half_loaded(settings)
    before = content(settings)
    failed = banklake(settings, "run", fail_at=fault)
    _, stderr = failed.communicate(timeout=120)
    assert failed.returncode == 2
    assert re.fullmatch(NO_SPACE + re.escape(outcome), _one_error_line(stderr))
    assert _unreferenced_data_files(settings) == []
    after = content(settings)
    if fault.startswith("commit"):
        assert after["transactions"] == clean["transactions"] != before["transactions"]
        assert after["enriched_transactions"] == before["enriched_transactions"]
    else:
        assert after == before
    run(settings)
    assert content(settings) == clean
    assert _unreferenced_data_files(settings) == []


def _on_a_tiny_disk(landing: str, lakehouse: str, report: str) -> None:
    """Run inside a private mount namespace, where ``lakehouse`` is a tiny file system: a run that
    fills it, what it left, then a run once there is room, and the tables that gives."""
    settings = load_settings(landing=Path(landing), lakehouse=Path(lakehouse))
    paths = ["--landing", landing, "--lakehouse", lakehouse]
    command = [sys.executable, "-m", "banklake", "run", *paths]
    full = subprocess.run(command, capture_output=True, text=True)
    stray = _unreferenced_data_files(settings)
    subprocess.run(["mount", "-o", "remount,size=256m", lakehouse], check=True)
    again = subprocess.run(command, capture_output=True, text=True)
    facts = {
        "full": [full.returncode, full.stderr],
        "stray": stray,
        "again": [again.returncode, again.stderr],
        "content": content(settings),
    }
    Path(report).write_text(json.dumps(facts, default=str))


def test_a_really_full_disk_ends_the_run_in_one_line_and_leaves_nothing_staged(
    settings: Settings, clean: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """512 KiB holds the new tables and the dimensions, not Silver transactions."""
    settings.lakehouse.mkdir()
    report = tmp_path / "report.json"
    inside = "import sys, tests.test_resilience as t; t._on_a_tiny_disk(*sys.argv[1:])"
    done = mounts.with_mount(
        mounts.tiny_disk(settings.lakehouse, "512k"),
        "-c", inside, settings.landing, settings.lakehouse, report,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    facts = json.loads(report.read_text())
    code, stderr = facts["full"]
    assert code == 2
    assert re.fullmatch(NO_SPACE + "nothing was committed", _one_error_line(stderr))
    assert facts["stray"] == []
    assert facts["again"] == [0, ""]
    assert facts["content"] == json.loads(json.dumps(clean, default=str))


def test_a_crash_during_compaction_leaves_the_data_as_it_was(
    one_month: Settings, tmp_path: Path
) -> None:
    settings, clean = one_month, clean_run(one_month.landing, tmp_path / "reference")
    half_loaded(settings)
    run(settings)  # a second batch: two small files per month to compact
    crashed = banklake(settings, "maintain", crash_at="compaction-staged")
    crashed.communicate(timeout=120)
    assert crashed.returncode == -signal.SIGKILL
    assert content(settings) == clean
    maintain(settings)
    assert content(settings) == clean
    assert run(settings).files == []


def test_a_full_disk_during_compaction_leaves_the_data_and_no_files(
    one_month: Settings, tmp_path: Path
) -> None:
    settings, clean = one_month, clean_run(one_month.landing, tmp_path / "reference")
    half_loaded(settings)
    run(settings)  # a second batch: two small files per month to compact
    failed = banklake(settings, "maintain", fail_at="data-file-written:ENOSPC")
    _, stderr = failed.communicate(timeout=120)
    assert failed.returncode == 2
    unchanged = r"the data of analytics_db\.\w+ is unchanged; run `banklake maintain` again"
    assert re.fullmatch(NO_SPACE + unchanged, _one_error_line(stderr))
    assert _unreferenced_data_files(settings) == []
    assert content(settings) == clean
    maintain(settings)
    assert content(settings) == clean


def test_concurrent_runs_load_every_file_exactly_once(
    settings: Settings, clean: dict[str, list[dict[str, Any]]]
) -> None:
    runs = [banklake(settings, "run", "--json") for _ in range(3)]
    outputs = [process.communicate(timeout=300) for process in runs]
    assert [process.returncode for process in runs] == [0, 0, 0], outputs
    assert content(settings) == clean
    ledger = [row["source_file"] for row in content(settings)["load_ledger"]]
    assert len(ledger) == len(set(ledger)) == 12  # each file recorded once, by one run


def test_a_busy_lakehouse_stops_a_writer_with_a_clear_message(settings: Settings) -> None:
    waiting = load_settings(
        landing=settings.landing, lakehouse=settings.lakehouse, lock_timeout_seconds=0.3
    )
    messages: list[str] = []
    settings.lakehouse.mkdir()  # only `run` makes a lakehouse folder; `maintain` needs one
    with writer_lock(settings.lakehouse, "maintain", 1, messages.append):
        env = {**os.environ, "BANKLAKE_LOCK_TIMEOUT_SECONDS": "0.3"}
        command = [sys.executable, "-m", "banklake", "run"]
        command += ["--landing", str(waiting.landing), "--lakehouse", str(waiting.lakehouse)]
        busy = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert busy.returncode == 2
    assert "is busy: `banklake maintain` (pid" in busy.stderr
    assert "nothing was written" in busy.stderr
    assert run(settings).files  # free again


def test_a_commit_that_loses_a_race_is_retried(
    one_month: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer (S3 Tables' own compaction, say) commits between our read and commit."""
    settings = one_month
    half_loaded(settings)
    run(settings)  # two batches: small files that compaction merges
    day = sorted((settings.landing / "transactions").iterdir())[-1]
    lines = day.read_text().splitlines(keepends=True)
    day.write_text("".join(lines[:-1]))  # re-delivered without its last row
    real = catalog_module._replace_rows
    raced: list[int] = []

    def racing(table: Any, *args: Any) -> Any:
        if table.name()[-1] == "transactions" and not raced:
            # A fault: the table is compacted under the commit about to be made.
            other = Lakehouse.local(settings.lakehouse, settings.namespace).table(TABLES[2])
            before = len(list(other.scan().plan_files()))
            compact(other, policy_from_properties(other.properties), rewrite_data_files)
            raced.append(before - len(list(other.scan().plan_files())))
        return real(table, *args)

    monkeypatch.setattr(catalog_module, "_replace_rows", racing)
    (redelivered,) = run(settings).files
    assert raced and raced[0] > 0  # the race happened: compaction removed files
    assert redelivered.rows_read == len(lines) - 2
    reference = load_settings(landing=settings.landing, lakehouse=tmp_path / "reference")
    run(reference)
    ours, theirs = content(settings), content(reference)
    del ours["load_ledger"], theirs["load_ledger"]  # ours also records the first delivery
    assert ours == theirs
