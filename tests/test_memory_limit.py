"""The embedded engine's memory is bounded by ``memory_limit``, not by the batch.

A batch several times larger than the limit runs, spilling to the lakehouse's scratch folder,
and gives exactly the tables an unlimited run gives. The scratch folder is gone after a run;
one left by a killed run (a real SIGKILL) is removed by the next writer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from tests.conftest import SMALL, assert_matches_the_files, write_csv
from tests.engines.parity import RUN_COLUMNS

from banklake.bronze.landing import LandingBatch, RejectedFile
from banklake.config import Settings, default_memory_limit, load_settings, memory_bytes
from banklake.engines import FileCount, embedded
from banklake.engines.embedded import EmbeddedEngine
from banklake.errors import UsageError
from banklake.faults import CRASH_AT
from banklake.generate import GeneratorSpec, generate
from banklake.lakehouse.catalog import Lakehouse
from banklake.lakehouse.lock import SCRATCH
from banklake.pipeline import run
from banklake.transform import Step

# About 17 MB of CSV, 30 MB as text in DuckDB and more in the joins: several times DuckDB's
# share of the limit below.
BIG = GeneratorSpec(
    customers=2_000, accounts=3_000, days=5, transactions=300_000, end_date=date.today(), seed=3
)
SMALL_LIMIT = "96MB"


@pytest.fixture(scope="module")
def big_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "landing"
    generate(BIG, path)
    return path


def _content(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, in a stable order, without the columns that differ between runs."""
    content = {}
    for name, table in Lakehouse.local(settings.lakehouse, settings.namespace).tables().items():
        rows = table.scan().to_arrow()
        if name == "load_ledger":
            rows = rows.filter(pc.not_equal(rows["status"], "ignored"))
        rows = rows.drop_columns([c for c in rows.column_names if c in RUN_COLUMNS])
        content[name] = sorted(rows.to_pylist(), key=repr)
    return content


class _Watched(EmbeddedEngine):
    """The embedded engine, noting its files in scratch as it goes (observing only): DuckDB's
    temporary files, and the steps it wrote to Parquet."""

    spilled: list[tuple[str, int]]
    steps: set[str]

    def load_bronze(self, batch: LandingBatch) -> tuple[list[FileCount], list[RejectedFile]]:
        self.spilled, self.steps = [], set()
        loaded = super().load_bronze(batch)
        self._note()
        return loaded

    def run(self, step: Step) -> None:
        super().run(step)
        self._note()

    def _note(self) -> None:
        files = self.connection.execute("SELECT path, size FROM duckdb_temporary_files()")
        self.spilled.extend(files.fetchall())
        self.steps.update(path.stem for path in self.scratch.glob("steps/*.parquet"))


def _scratch_folders(settings: Settings) -> list[Path]:
    scratch = settings.lakehouse / SCRATCH
    return sorted(scratch.iterdir()) if scratch.exists() else []


def test_a_batch_larger_than_the_limit_spills_and_gives_the_same_tables(
    big_landing: Path, tmp_path: Path
) -> None:
    limited = load_settings(
        landing=big_landing, lakehouse=tmp_path / "limited", memory_limit=SMALL_LIMIT
    )
    engine = _Watched(limited)
    result = run(limited, engine)
    assert not result.rejected
    assert result.rows_read("transactions") == BIG.transactions

    # The batch was too large to keep its checked rows in memory: they went to Parquet files in
    # the lakehouse's scratch folder, as did anything DuckDB spilled.
    assert {"transactions_checked", "transactions_keys"} <= engine.steps
    scratch = (limited.lakehouse / SCRATCH).resolve()
    assert all(Path(path).resolve().is_relative_to(scratch) for path, _ in engine.spilled)
    assert not (limited.lakehouse / SCRATCH).exists(), "the scratch folder outlived the run"

    unlimited = load_settings(
        landing=big_landing, lakehouse=tmp_path / "unlimited", memory_limit="8GB"
    )
    run(unlimited)
    assert _content(limited) == _content(unlimited)


def test_steps_kept_in_parquet_give_the_tables_steps_kept_in_memory_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch too large for memory keeps its steps' rows in Parquet files: with every kind of
    defect and daily snapshots, that gives the same tables, and the counts the files dictate."""
    landing = tmp_path / "landing"
    generate(replace(SMALL, defect_rate=0.05, snapshots="daily", days=4), landing)
    in_memory = load_settings(landing=landing, lakehouse=tmp_path / "in_memory")
    run(in_memory)
    monkeypatch.setattr(embedded, "_IN_MEMORY_SHARE", 10**15)  # any batch is "too large"
    in_parquet = load_settings(landing=landing, lakehouse=tmp_path / "in_parquet")
    engine = _Watched(in_parquet)
    run(in_parquet, engine)
    assert {"transactions_checked", "quarantine_new", "silver_customers"} <= engine.steps
    assert _content(in_parquet) == _content(in_memory)
    assert_matches_the_files(in_parquet)


def test_the_scratch_folder_is_gone_after_a_run(settings: Settings) -> None:
    run(settings)
    assert not (settings.lakehouse / SCRATCH).exists()


def test_a_killed_runs_scratch_folder_is_removed_by_the_next_run(settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKLAKE_")}
    env[CRASH_AT] = "read"  # a real SIGKILL once the Bronze files are in DuckDB
    command = [sys.executable, "-m", "banklake", "run", "--landing", str(settings.landing)]
    killed = subprocess.run(
        [*command, "--lakehouse", str(settings.lakehouse)], env=env, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL
    [stale] = _scratch_folders(settings)
    assert stale.name.startswith("duckdb-")

    run(settings)

    assert not stale.exists()
    assert not (settings.lakehouse / SCRATCH).exists()


def test_the_default_limit_is_a_quarter_of_memory_at_most_4_gb() -> None:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = memory_bytes(default_memory_limit())
    assert limit == min(total // 4 // 10**6, 4000) * 10**6
    assert load_settings().memory_limit == default_memory_limit()


def test_the_limit_comes_from_the_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "banklake.toml").write_text('memory_limit = "512MB"\n')
    assert load_settings().memory_limit == "512MB"
    monkeypatch.setenv("BANKLAKE_MEMORY_LIMIT", "2GiB")
    assert load_settings().memory_limit == "2GiB"
    assert memory_bytes("2GiB") == 2 * 2**30
    assert memory_bytes("1.5GB") == 1_500_000_000
    assert memory_bytes("2G") == 2 * 10**9


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("lots", "'lots' is not a memory size; write a number and a unit, like '4GB' or '512MB'"),
        ("2", "'2' is not a memory size"),
        ("10KB", "'10KB' is too little to run in; give at least 32MB"),
    ],
)
def test_a_wrong_limit_is_one_line_naming_it(value: str, says: str) -> None:
    with pytest.raises(UsageError) as raised:
        load_settings(memory_limit=value)
    message = str(raised.value)
    assert message.startswith("invalid settings: memory_limit: ")
    assert says in message
    assert "\n" not in message


def test_a_limit_too_small_for_the_batch_is_one_line_and_commits_nothing(
    big_landing: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKLAKE_")}
    env["BANKLAKE_MEMORY_LIMIT"] = "32MB"
    lakehouse = tmp_path / "lakehouse"
    command = [sys.executable, "-m", "banklake", "run", "--landing", str(big_landing)]
    done = subprocess.run(
        [*command, "--lakehouse", str(lakehouse)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: the batch needs more memory than memory_limit (32MB)")
    assert "nothing was committed" in line
    settings = load_settings(lakehouse=lakehouse)
    tables = Lakehouse.local(settings.lakehouse, settings.namespace).tables()
    assert all(table.current_snapshot() is None for table in tables.values())
    assert not (lakehouse / SCRATCH).exists()


def test_a_file_unreadable_part_way_leaves_none_of_its_rows(
    settings: Settings, landing: Path
) -> None:
    """Its first blocks were already in DuckDB when its last one failed: they are taken out."""
    rows = b"".join(
        b"TX_9%06d,ACC_000001,1.00,Debit,2020-01-01 10:00:00\n" % n for n in range(700_000)
    )
    header = b"tx_id,account_id,amount,tx_type,timestamp\n"
    bad = write_csv(
        landing / "transactions" / "transactions_2020-01-01.csv",
        header + rows + b"TX_X,ACC_000001,1.00,Debit,2020-01-01 \xff\n",
    )
    result = run(settings)
    [rejected] = result.rejected
    assert rejected.source_file == "transactions/transactions_2020-01-01.csv"
    assert f"{bad}, line 700002, column 39: not UTF-8" in str(rejected.problem)
    tables = Lakehouse.local(settings.lakehouse, settings.namespace).tables()
    assert tables["enriched_transactions"].scan().to_arrow().num_rows == SMALL.transactions
    quarantine = tables["quarantine"].scan().to_arrow()
    assert rejected.source_file not in quarantine["source_file"].to_pylist()
