"""Incremental equals a clean rebuild: for any sequence of deliveries, loading them one batch at
a time leaves exactly the tables one clean run over the final landing zone gives.

A stateful property: hypothesis delivers new days, late files, copies under other names,
re-deliveries with rows edited, added and removed, snapshots that add, move and drop customers
and open, close and change accounts, and withdrawals; after every step the lakehouse is compared
with a clean run's, table by table, ignoring only the runs' own ids and times.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.conftest import assert_matches_the_files, write_csv

from banklake.config import Settings, load_settings
from banklake.contracts import NAMESPACE
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import run, withdraw
from banklake.verify.checks import verify

DAYS = [f"2026-01-0{day}" for day in range(1, 7)]
TX_IDS = [f"TX_{n}" for n in range(1, 13)]  # few keys, so copies and conflicts happen
ACCOUNT_IDS = [f"ACC_{n}" for n in range(1, 6)]
CUSTOMER_IDS = [f"CUST_{n}" for n in range(1, 5)]
HEADERS = {
    "transactions": "tx_id,account_id,amount,tx_type,timestamp",
    "customers": "customer_id,name,email,country",
    "accounts": "account_id,customer_id,account_type,balance",
}
# Columns a run sets for itself: the batch, and when it ran.
OWN_COLUMNS = {"batch_id", "quarantined_at", "resolved_at", "resolved_batch_id"}

transaction = st.builds(
    lambda key, account, cents, kind, day, hour: (
        f"{key},{account},{cents // 100}.{cents % 100:02d},{kind},{day} {hour:02d}:00:00"
    ),
    st.sampled_from(TX_IDS),
    st.sampled_from([*ACCOUNT_IDS, "ACC_9"]),  # ACC_9 is never opened
    st.integers(1, 400),
    st.sampled_from(["Credit", "Debit"]),
    st.sampled_from(DAYS),
    st.integers(0, 23),
)
customer = st.builds(
    lambda key, country: f"{key},Name {key[-1]},{key.lower()}@example.com,{country}",
    st.sampled_from(CUSTOMER_IDS),
    st.sampled_from(["UK", "USA", "Spain"]),
)
account = st.builds(
    lambda key, owner, kind, balance: f"{key},{owner},{kind},{balance}.00",
    st.sampled_from(ACCOUNT_IDS),
    st.sampled_from([*CUSTOMER_IDS, "CUST_9"]),  # CUST_9 is never a customer
    st.sampled_from(["Savings", "Current"]),
    st.integers(0, 3),
)
ROWS = {"transactions": transaction, "customers": customer, "accounts": account}


def tables_of(lake: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (the quarantine's open ones), without the runs' own columns."""
    lakehouse = Lakehouse.local(lake.lakehouse, lake.namespace)
    found = {}
    for name in ("customers", "accounts", "transactions", "enriched_transactions", "quarantine"):
        rows = lakehouse.catalog.load_table(f"{NAMESPACE}.{name}").scan().to_arrow().to_pylist()
        if name == "quarantine":
            rows = [row for row in rows if row["resolved_at"] is None]
        found[name] = sorted(
            tuple(str(v) for k, v in sorted(row.items()) if k not in OWN_COLUMNS) for row in rows
        )
    return found


def verdicts_of(lake: Settings) -> list[tuple[str, bool, dict[str, Any]]]:
    checks = verify(lake).checks
    kept = ("rows_read", "rows_in_gold", "rows_quarantined", "rows_duplicate", "problems")
    return [
        (c.id, c.passed, {k: v for k, v in c.details.items() if k in kept})
        for c in checks
        if c.id != "maintenance"  # records when each table was last maintained
    ]


class Deliveries(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="banklake-convergence-"))
        self.lake = self._settings("incremental")
        self.landing = self.lake.landing
        self.loaded: set[str] = set()  # paths of the landing zone the lakehouse has taken

    def _settings(self, lakehouse: str) -> Settings:
        return load_settings(
            landing=self.root / "landing", lakehouse=self.root / lakehouse, lock_timeout_seconds=5
        )

    def _write(self, entity: str, name: str, rows: list[str]) -> None:
        text = HEADERS[entity] + "\n" + "".join(f"{row}\n" for row in rows)
        write_csv(self.landing / entity / name, text)

    def _files(self, entity: str | None = None) -> list[str]:
        return sorted(
            str(p.relative_to(self.landing))
            for p in self.landing.glob("*/*.csv")
            if entity is None or p.parent.name == entity
        )

    def _run(self) -> None:
        run(self.lake)
        self.loaded = set(self._files())

    @rule(
        entity=st.sampled_from(sorted(ROWS)),
        day=st.sampled_from(DAYS),
        suffix=st.sampled_from(["", "_late", "_part2"]),
        data=st.data(),
    )
    def deliver(self, entity: str, day: str, suffix: str, data: st.DataObject) -> None:
        """A new file, or the same name again with other rows (a re-delivery)."""
        rows = data.draw(st.lists(ROWS[entity], min_size=0, max_size=6))
        self._write(entity, f"{entity}_{day}{suffix}.csv", rows)
        self._run()

    @precondition(lambda self: bool(self._files()))
    @rule(data=st.data())
    def copy_under_another_name(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._files()))
        source = self.landing / name
        shutil.copyfile(source, source.with_name(source.stem + "_resent.csv"))
        self._run()

    @precondition(lambda self: bool(self._files()))
    @rule(data=st.data(), edit=st.sampled_from(["change", "add", "remove"]))
    def edit(self, data: st.DataObject, edit: str) -> None:
        """A re-delivery under the same name: one row changed, added or removed."""
        name = data.draw(st.sampled_from(self._files()))
        entity = name.split("/")[0]
        path = self.landing / name
        _header, *rows = path.read_text().splitlines()
        if edit == "add" or not rows:
            rows.append(data.draw(ROWS[entity]))
        elif edit == "remove":
            rows.pop(data.draw(st.integers(0, len(rows) - 1)))
        else:
            rows[data.draw(st.integers(0, len(rows) - 1))] = data.draw(ROWS[entity])
        self._write(entity, path.name, rows)
        self._run()

    @precondition(lambda self: bool(self.loaded & set(self._files())))
    @rule(data=st.data())
    def withdraw_a_file(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.loaded & set(self._files()))))
        (self.landing / name).unlink()
        withdraw(self.lake, [name])
        self.loaded.discard(name)

    @invariant()
    def equals_a_clean_rebuild(self) -> None:
        if not (self.root / "incremental").exists():
            return
        clean = self._settings("clean")
        shutil.rmtree(clean.lakehouse, ignore_errors=True)
        run(clean)
        assert tables_of(self.lake) == tables_of(clean)
        assert verdicts_of(self.lake) == verdicts_of(clean)
        assert_matches_the_files(self.lake)  # and both are what the files say

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# Sized for the suite; a deeper search: CONVERGENCE_EXAMPLES=200 CONVERGENCE_STEPS=10 pytest
# tests/test_convergence.py --hypothesis-seed=N
Deliveries.TestCase.settings = settings(
    max_examples=int(os.environ.get("CONVERGENCE_EXAMPLES", "12")),
    stateful_step_count=int(os.environ.get("CONVERGENCE_STEPS", "6")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_incremental_equals_a_clean_rebuild = pytest.mark.slow(Deliveries.TestCase)
