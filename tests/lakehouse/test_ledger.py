"""The ``Ledger``: what it records reads back, and what it says a batch takes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import write_csv

from banklake.bronze.landing import Candidate, file_checksum, list_landing
from banklake.config import Settings, load_settings
from banklake.lakehouse.catalog import Lakehouse
from banklake.lakehouse.ledger import FileOutcome, Ledger

HEADER = "tx_id,account_id,amount,tx_type,timestamp\n"
ROW = "TX_1,ACC_1,1.00,Debit,2026-01-01 09:00:00\n"


@pytest.fixture
def lake(tmp_path: Path) -> Settings:
    return load_settings(
        landing=tmp_path / "landing", lakehouse=tmp_path / "lakehouse", reports=tmp_path / "r"
    )


def _ledger(lake: Settings) -> Ledger:
    tables = Lakehouse.local(lake.lakehouse, lake.namespace).ensure_tables(lake)
    return Ledger(tables["load_ledger"])


def _landed(lake: Settings, name: str, text: str) -> Candidate:
    write_csv(lake.landing / name, text)
    return next(c for c in list_landing(lake.landing) if c.name == name)


def _loaded(candidate: Candidate, status: str = "loaded") -> FileOutcome:
    return FileOutcome(
        "b1",
        "transactions",
        candidate.name,
        file_checksum(candidate.path),
        candidate.size_bytes,
        candidate.modified_ns,
        None,
        status,  # type: ignore[arg-type]
        rows_read=1,
        rows_loaded=1,
        quarantined_by_rule={"amount_numeric": 0},
        snapshot_ids={"transactions": 42},
    )


def test_what_is_recorded_reads_back_and_a_refusal_retracts_the_holding(lake: Settings) -> None:
    one = _landed(lake, "transactions/transactions_2026-01-01.csv", HEADER + ROW)
    two = _landed(lake, "transactions/transactions_2026-01-02.csv", HEADER + ROW)
    ledger = _ledger(lake)
    ledger.record([_loaded(one), _loaded(two)])
    ledger.record(Ledger.of_batch("b2", [_loaded(two, "rejected")]))
    again = _ledger(lake)
    assert again.holdings == {one.name: _loaded(one)}  # every field, maps included
    assert again.deliveries[two.name].status == "rejected"
    assert again.deliveries[two.name].batch_id == "b2"


def test_a_batch_takes_new_and_changed_files_only(lake: Settings) -> None:
    kept = _landed(lake, "transactions/transactions_2026-01-01.csv", HEADER + ROW)
    touched = _landed(lake, "transactions/transactions_2026-01-02.csv", HEADER + ROW)
    changed = _landed(lake, "transactions/transactions_2026-01-03.csv", HEADER + ROW)
    ledger = _ledger(lake)
    ledger.record([_loaded(kept), _loaded(touched), _loaded(changed)])
    os.utime(touched.path, ns=(touched.modified_ns + 10**9, touched.modified_ns + 10**9))
    write_csv(changed.path, HEADER + ROW.replace("1.00", "2.00"))
    new = _landed(lake, "transactions/transactions_2026-01-04.csv", HEADER + ROW)
    ledger = _ledger(lake)
    taken = ledger.take_new(list_landing(lake.landing))
    assert {t.candidate.name: t.redelivered for t in taken} == {
        changed.name: True,
        new.name: False,
    }
    landed = {c.name: c for c in list_landing(lake.landing)}
    as_loaded = ledger.again(landed[kept.name])
    assert (as_loaded.redelivered, as_loaded.checksum) == (False, _loaded(kept).checksum)
    redelivered = ledger.again(landed[changed.name])
    assert (redelivered.redelivered, redelivered.checksum) == (True, file_checksum(changed.path))
