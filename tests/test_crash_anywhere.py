"""Crashes anywhere, not only at the named points of ``test_resilience``: real ``banklake run``
and ``banklake maintain`` processes SIGKILLed at random points, trial after trial.

A trial puts the lakehouse back as it was before the command, starts the command and kills it
at a point drawn from a seeded RNG. The point is a count of file-system writes: the command runs
under ``strace``, which reports every call that changes a file (write, pwrite, fsync, truncate,
rename, unlink, mkdir, ...) from every thread, DuckDB's and SQLite's included; the test kills the
process as the N-th is reported, N drawn uniformly from 1 to the number an uncrashed run makes.
So kills spread over what the command changes, however fast or loaded the machine: a run spends
most of its time importing and transforming, and its commits take a few per cent of it (a delay
drawn from the run's duration, tried first, landed before every commit in 28 of 30 first runs).
Where ``strace`` cannot run, the kill comes after a delay drawn from the time an uncrashed run
spends writing the lakehouse (``CRASH_KILL=delay`` chooses it). Each test prints where its kills
landed: how many of the tables the command changes had committed, and whether staged files
were left.

Sized for the suite; more trials (per test) and another seed:
``CRASH_TRIALS=40 CRASH_SEED=N pytest tests/test_crash_anywhere.py``
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.table import Table
from tests.conftest import generated
from tests.runs import Content, banklake, clean_run, content, half_loaded, table_rows

from banklake.config import Settings, load_settings
from banklake.contracts import TABLES
from banklake.errors import LakehouseError
from banklake.generate import GeneratorSpec, generate
from banklake.lakehouse.catalog import Lakehouse
from banklake.lakehouse.maintenance import referenced_files
from banklake.pipeline import maintain, run

TRIALS = int(os.environ.get("CRASH_TRIALS", "3"))
SEED = int(os.environ.get("CRASH_SEED", "20261201"))
# What a table holds after a kill: its rows, or None where it does not exist (yet).
Tables = dict[str, list[dict[str, Any]] | None]
# Unreferenced files go at once, so the next maintenance takes what a killed one left.
EAGER_REMOVAL = {"BANKLAKE_MAINTENANCE__UNREFERENCED_FILE_AGE_HOURS": "0"}
FINISHED = "finished before the kill"
# The system calls that change a file or a folder: the points between which a kill can fall.
WRITES = (
    "write,pwrite64,writev,pwritev,pwritev2,ftruncate,truncate,fallocate,fsync,fdatasync,"
    "rename,renameat,renameat2,link,linkat,unlink,unlinkat,mkdir,mkdirat,rmdir"
)
# Smaller than the suite's landing zone: most of a trial is reading every table, twice.
LANDING = GeneratorSpec(
    customers=80, accounts=120, days=6, transactions=3_000, end_date=date(2026, 3, 6), seed=11
)


@dataclass
class Scenario:
    """A lakehouse before a command (kept aside, put back before each trial)."""

    settings: Settings
    saved: Path | None  # None: no lakehouse yet
    before: Tables
    # The tables the command must leave, where known beforehand: a clean run's, say.
    expected: Content | None
    # What the command leaves when nothing stops it: every killed one must converge to it.
    uncrashed: Content = field(default_factory=dict)
    uncrashed_files: dict[str, int] = field(default_factory=dict)  # data files per table

    def restore(self) -> None:
        # At the same path: Iceberg's metadata holds absolute paths.
        shutil.rmtree(self.settings.lakehouse, ignore_errors=True)
        if self.saved is not None:
            shutil.copytree(self.saved, self.settings.lakehouse, symlinks=True)


def _existing(settings: Settings) -> dict[str, Table]:
    """The contract tables that exist (a killed first run may have made only some)."""
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    try:
        catalog = lakehouse.catalog
    except LakehouseError as error:
        assert "no lakehouse here" in str(error), error  # killed before its catalog was made
        return {}
    return {
        contract.name: lakehouse.table(contract)
        for contract in TABLES
        if catalog.table_exists(contract.identifier(settings.namespace))
    }


def _tables(settings: Settings) -> Tables:
    """Every contract table's rows, None for one that does not exist; one that exists must read."""
    existing = _existing(settings)
    return {
        contract.name: table_rows(contract.name, existing[contract.name])
        if contract.name in existing
        else None
        for contract in TABLES
    }


def _files(settings: Settings) -> tuple[set[Path], set[Path]]:
    """The files under the lakehouse's tables, and those the existing tables reference."""
    tables = _existing(settings).values()
    referenced = {Path(path) for table in tables for path in referenced_files(table)}
    on_disk = {p for p in (settings.lakehouse / "warehouse").rglob("*") if p.is_file()}
    return on_disk, referenced


def _live_files(settings: Settings) -> dict[str, int]:
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    return {
        name: sum(1 for _ in table.scan().plan_files())
        for name, table in lakehouse.tables().items()
    }


@cache
def _strace_works() -> bool:
    if os.environ.get("CRASH_KILL") == "delay" or shutil.which("strace") is None:
        return False
    probe = ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=write", "-o", "/dev/null", "true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def _traced(
    scenario: Scenario, command: tuple[str, ...], env: Mapping[str, str], kill_at: int = 0
) -> tuple[bool, int]:
    """``command`` under strace, SIGKILLed as its ``kill_at``-th file-system write is reported
    (0: never); whether it was killed, and how many writes were reported."""
    read_end, write_end = os.pipe()
    tracer = ["strace", "-f", "-qq", "--seccomp-bpf", "-e", f"trace={WRITES}", "-e"]
    tracer += ["signal=none", "-o", f"/dev/fd/{write_end}"]
    process = banklake(
        scenario.settings, *command, extra_env=env, under=tracer, pass_fds=[write_end]
    )
    os.close(write_end)
    writes = 0
    with os.fdopen(read_end) as trace:
        for line in trace:  # read to the end: strace waits while the pipe is full
            thread, call = line.split(maxsplit=1)
            if call.startswith("<..."):  # the end of a call reported at its start
                continue
            writes += 1
            if writes == kill_at:
                os.kill(int(thread), signal.SIGKILL)  # to its thread's whole process
    # strace exits once its tracee has, with the tracee's status.
    _, stderr = process.communicate(timeout=300)
    assert process.returncode in (0, -signal.SIGKILL), stderr
    return process.returncode == -signal.SIGKILL, writes


def _delayed(
    scenario: Scenario, command: tuple[str, ...], env: Mapping[str, str], delay: float
) -> bool:
    """``command`` SIGKILLed after ``delay`` seconds; whether it was still running."""
    process = banklake(scenario.settings, *command, extra_env=env)
    try:
        _, stderr = process.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate(timeout=300)
    assert process.returncode in (0, -signal.SIGKILL), stderr
    return process.returncode == -signal.SIGKILL


def _writing_window(
    scenario: Scenario, command: tuple[str, ...], env: Mapping[str, str]
) -> tuple[float, float]:
    """When an uncrashed ``command`` first and last writes the lakehouse, in seconds after its
    start (as the files' modification times tell)."""
    lakehouse = scenario.settings.lakehouse
    started = time.time_ns()
    assert not _delayed(scenario, command, env, 300)  # uncrashed: it ends long before
    written = [path.stat().st_mtime_ns for path in [lakehouse, *lakehouse.rglob("*")]]
    written = [(ns - started) / 1e9 for ns in written if ns >= started]
    return min(written), max(written)


def _kill_points(
    scenario: Scenario, command: tuple[str, ...], env: Mapping[str, str]
) -> tuple[str, Callable[[random.Random], tuple[bool, str]]]:
    """Run ``command`` once uncrashed (its outcome is the scenario's ``uncrashed``); what the
    kills range over, and a trial: the command killed at a random point."""
    scenario.restore()
    if _strace_works():
        _, writes = _traced(scenario, command, env)

        def by_writes(rng: random.Random) -> tuple[bool, str]:
            point = rng.randint(1, writes)
            return _traced(scenario, command, env, point)[0], f"at write {point}"

        found: tuple[str, Callable[[random.Random], tuple[bool, str]]]
        found = f"the {writes} file-system writes of a run", by_writes
    else:
        first, last = _writing_window(scenario, command, env)

        def by_delay(rng: random.Random) -> tuple[bool, str]:
            delay = rng.uniform(first, last)
            return _delayed(scenario, command, env, delay), f"after {delay:.3f}s"

        found = f"{first:.2f}-{last:.2f}s after the start", by_delay
    scenario.uncrashed = content(scenario.settings)
    scenario.uncrashed_files = _live_files(scenario.settings)
    assert scenario.uncrashed == (scenario.expected or scenario.uncrashed)
    return found


def _kill_trials(
    scenario: Scenario,
    command: tuple[str, ...],
    after_kill: Callable[[Scenario], str],
    recover: Callable[[Scenario], None],
    capsys: pytest.CaptureFixture[str],
    env: Mapping[str, str] | None = None,
) -> None:
    """``command`` killed TRIALS times, each at a random point: what each kill left
    (``after_kill`` checks it and says what it saw), then ``recover``."""
    span, killed_at_random = _kill_points(scenario, command, env or {})
    rng = random.Random(f"{SEED}:{command}:{scenario.saved}")
    landed: Counter[str] = Counter()
    for trial in range(TRIALS):
        scenario.restore()
        killed, point = killed_at_random(rng)
        try:
            landed[after_kill(scenario) if killed else FINISHED] += 1
            recover(scenario)
        except AssertionError as failure:
            failure.add_note(f"trial {trial} (CRASH_SEED={SEED}), killed {point}")
            raise
    with capsys.disabled():
        seen = "; ".join(f"{n}x {where}" for where, n in sorted(landed.items()))
        print(f"\n{' '.join(command)}: {TRIALS} kills (seed {SEED}) over {span}: {seen}")
    assert landed[FINISHED] < max(TRIALS, 2), "no trial stopped the command before its end"


def _kept_aside(settings: Settings, expected: Content | None, tmp_path: Path) -> Scenario:
    saved = None
    if settings.lakehouse.exists():
        saved = Path(shutil.copytree(settings.lakehouse, tmp_path / "saved", symlinks=True))
    return Scenario(settings, saved, _tables(settings), expected)


@pytest.fixture(scope="module")
def small_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The landing zone the ``settings`` fixture copies, here ``LANDING``."""
    return generated(LANDING, tmp_path_factory, "crash")


@pytest.fixture
def first_run(settings: Settings, tmp_path: Path) -> Scenario:
    """No lakehouse yet: the run creates the catalog and the tables, then loads every file."""
    return _kept_aside(settings, None, tmp_path)  # uncrashed, it is a clean run


@pytest.fixture
def next_days(settings: Settings, tmp_path: Path) -> Scenario:
    """Four days loaded, two new ones landed."""
    clean = clean_run(settings.landing, tmp_path / "reference")
    half_loaded(settings)
    return _kept_aside(settings, clean, tmp_path)


@pytest.fixture
def redelivered(tmp_path: Path) -> Scenario:
    """Daily snapshots, all loaded; then an early day's accounts and customers come again,
    changed (history is rebuilt; later transactions are checked and enriched again), and a
    transactions file comes again without its last row (its rows are replaced by a MERGE).
    The ledger records both deliveries: a clean run's tables are not the outcome here."""
    spec = GeneratorSpec(
        customers=80, accounts=120, days=6, transactions=3_000, end_date=date(2026, 3, 6),
        seed=9, snapshots="daily",
    )  # fmt: skip
    landing = tmp_path / "landing-daily"
    generate(spec, landing)
    settings = load_settings(landing=landing, lakehouse=tmp_path / "lakehouse-daily")
    run(settings)
    accounts = landing / "accounts" / "accounts_2026-03-02.csv"
    accounts.write_text(accounts.read_text().replace(",Current,", ",Savings,", 1))
    for path in (
        landing / "customers" / "customers_2026-03-02.csv",
        landing / "transactions" / "transactions_2026-03-04.csv",
    ):
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    return _kept_aside(settings, None, tmp_path)


def _after_a_killed_run(scenario: Scenario) -> str:
    """Every table reads and holds its old or its new rows; where the kill landed."""
    after = _tables(scenario.settings)
    # Before its first commit a table is as it was: missing, or as it was created (empty).
    old = {name: [rows, *([[]] if rows is None else [])] for name, rows in scenario.before.items()}
    for name, rows in after.items():
        assert rows in [*old[name], scenario.uncrashed[name]], name
    changing = [name for name in after if scenario.uncrashed[name] not in old[name]]
    committed = sum(after[name] == scenario.uncrashed[name] for name in changing)
    on_disk, referenced = _files(scenario.settings)
    assert referenced <= on_disk  # the tables just read: no file of theirs is missing
    staged = any(path.suffix == ".parquet" for path in on_disk - referenced)
    return f"{committed}/{len(changing)} tables committed" + (", staged files" if staged else "")


def _next_run_converges(scenario: Scenario) -> None:
    run(scenario.settings)
    assert content(scenario.settings) == scenario.uncrashed


@pytest.mark.slow
@pytest.mark.parametrize("state", ["first_run", "next_days", "redelivered"])
def test_a_run_killed_anywhere_converges_on_the_next_run(
    state: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario: Scenario = request.getfixturevalue(state)
    _kill_trials(scenario, ("run",), _after_a_killed_run, _next_run_converges, capsys)


@pytest.fixture
def to_maintain(one_month: Settings, tmp_path: Path) -> Scenario:
    """Two batches (small files to compact) and the staged files of a run killed in between
    (unreferenced files to remove)."""
    settings = one_month
    half_loaded(settings)
    crashed = banklake(settings, "run", crash_at="staged")
    crashed.communicate(timeout=120)
    assert crashed.returncode == -signal.SIGKILL
    run(settings)
    scenario = _kept_aside(settings, content(settings), tmp_path)  # the data stays as it is
    on_disk, referenced = _files(settings)
    assert on_disk - referenced and _live_files(settings)["transactions"] > 1  # work to do
    return scenario


@pytest.mark.slow
def test_maintenance_killed_anywhere_keeps_the_data_and_the_next_one_completes(
    to_maintain: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = to_maintain.settings
    before = _live_files(settings)
    eager = load_settings(
        landing=settings.landing,
        lakehouse=settings.lakehouse,
        maintenance={"unreferenced_file_age_hours": 0},
    )

    def after_kill(scenario: Scenario) -> str:
        assert content(settings) == scenario.uncrashed  # the data as it was, and it reads
        on_disk, referenced = _files(settings)
        assert referenced <= on_disk
        after = _live_files(settings)
        compacted = sum(after[name] != before[name] for name in before)
        strays = len(on_disk - referenced)
        return f"{compacted}/{len(before)} tables compacted, {strays} unreferenced files"

    def recover(scenario: Scenario) -> None:
        maintain(eager)
        assert content(settings) == scenario.uncrashed
        on_disk, referenced = _files(settings)
        assert on_disk == referenced  # nothing missing, nothing left over
        assert _live_files(settings) == scenario.uncrashed_files  # compacted as if uncrashed

    _kill_trials(to_maintain, ("maintain",), after_kill, recover, capsys, EAGER_REMOVAL)
    assert to_maintain.uncrashed_files != before  # an uncrashed maintenance compacts
