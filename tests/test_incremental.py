"""Daily loads on real Iceberg tables: exactly once, re-deliveries, duplicates, late data,
backfills, dimension history and replay of quarantined rows."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.conftest import assert_matches_the_files, write_csv

from banklake.config import Settings, load_settings
from banklake.contracts import NAMESPACE
from banklake.errors import UsageError
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import replay, run, withdraw
from banklake.verify.checks import verify

TX = "tx_id,account_id,amount,tx_type,timestamp\n"
CUSTOMERS = "customer_id,name,email,country\n"
ACCOUNTS = "account_id,customer_id,account_type,balance\n"


@pytest.fixture
def lake(tmp_path: Path) -> Settings:
    """A small hand-written landing zone: two customers, two accounts, two days."""
    landing = tmp_path / "landing"
    write_csv(
        landing / "customers" / "customers_2026-01-01.csv",
        CUSTOMERS + "CUST_1,Ann Lee,ann@example.com,UK\nCUST_2,Bo Chen,bo@example.com,USA\n",
    )
    write_csv(
        landing / "accounts" / "accounts_2026-01-01.csv",
        ACCOUNTS + "ACC_1,CUST_1,Savings,100.00\nACC_2,CUST_2,Current,50.00\n",
    )
    _day(landing, "2026-01-01", "TX_1,ACC_1,10.00,Credit,2026-01-01 09:00:00")
    _day(landing, "2026-01-02", "TX_2,ACC_2,20.00,Debit,2026-01-02 09:00:00")
    # Two rows a day: one held back is half the day, which these tests do on purpose.
    return load_settings(
        landing=landing, lakehouse=tmp_path / "lakehouse", max_quarantine_share=1.0
    )


def _day(landing: Path, day: str, *lines: str) -> Path:
    return write_csv(
        landing / "transactions" / f"transactions_{day}.csv",
        TX + "".join(f"{line}\n" for line in lines),
    )


def _rows(settings: Settings, table: str) -> list[dict[str, Any]]:
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    rows: list[dict[str, Any]] = (
        lakehouse.catalog.load_table(f"{NAMESPACE}.{table}").scan().to_arrow().to_pylist()
    )
    return rows


def _gold(settings: Settings) -> dict[str, dict[str, Any]]:
    return {row["tx_id"]: row for row in _rows(settings, "enriched_transactions")}


def _snapshots(settings: Settings) -> dict[str, int | None]:
    tables = Lakehouse.local(settings.lakehouse, settings.namespace).tables()
    return {
        name: (t.current_snapshot().snapshot_id if t.current_snapshot() else None)  # type: ignore[union-attr]
        for name, t in tables.items()
    }


def test_each_run_takes_only_what_is_new(lake: Settings, engine: str) -> None:
    first = run(lake, engine)
    assert sorted(f.source_file for f in first.files) == [
        "accounts/accounts_2026-01-01.csv",
        "customers/customers_2026-01-01.csv",
        "transactions/transactions_2026-01-01.csv",
        "transactions/transactions_2026-01-02.csv",
    ]
    before = _snapshots(lake)
    assert run(lake, engine).files == [] and _snapshots(lake) == before  # no commit at all

    _day(lake.landing, "2026-01-03", "TX_3,ACC_1,30.00,Credit,2026-01-03 09:00:00")
    third = run(lake, engine)
    assert [f.source_file for f in third.files] == ["transactions/transactions_2026-01-03.csv"]
    assert sorted(_gold(lake)) == ["TX_1", "TX_2", "TX_3"]
    assert _snapshots(lake)["customers"] == before["customers"]  # dimensions untouched
    assert_matches_the_files(lake)


def test_backfill_a_date_range(lake: Settings, engine: str) -> None:
    run(lake, engine, since=date(2026, 1, 1), until=date(2026, 1, 1))
    assert sorted(_gold(lake)) == ["TX_1"]
    run(lake, engine, since=date(2026, 1, 2), until=date(2026, 1, 2))
    assert sorted(_gold(lake)) == ["TX_1", "TX_2"]


def test_a_redelivered_day_replaces_the_earlier_delivery(lake: Settings, engine: str) -> None:
    _day(
        lake.landing,
        "2026-01-02",
        "TX_2,ACC_2,20.00,Debit,2026-01-02 09:00:00",
        "TX_4,ACC_2,40.00,Debit,2026-01-02 10:00:00",
        "TX_5,ACC_2,50.00,Debit,2026-01-02 11:00:00",
    )
    run(lake, engine)
    _day(
        lake.landing,
        "2026-01-02",
        "TX_2,ACC_2,22.00,Debit,2026-01-02 09:00:00",  # changed
        "TX_5,ACC_2,50.00,Debit,2026-01-02 11:00:00",  # unchanged; TX_4 vanished
        "TX_6,ACC_2,60.00,Credit,2026-01-02 12:00:00",  # new
    )
    again = run(lake, engine)
    assert [(f.source_file, f.rows_loaded) for f in again.files] == [
        ("transactions/transactions_2026-01-02.csv", 3)
    ]
    gold = _gold(lake)
    assert sorted(gold) == ["TX_1", "TX_2", "TX_5", "TX_6"]
    assert str(gold["TX_2"]["amount"]) == "22.00"
    assert sorted(r["tx_id"] for r in _rows(lake, "transactions")) == sorted(gold)
    deliveries = [
        r for r in _rows(lake, "load_ledger") if r["source_file"].endswith("2026-01-02.csv")
    ]
    assert len(deliveries) == 2 and len({r["checksum"] for r in deliveries}) == 2
    assert_matches_the_files(lake)


def test_identical_copies_load_once_and_are_counted(lake: Settings, engine: str) -> None:
    line = "TX_7,ACC_1,7.00,Debit,2026-01-02 08:00:00"
    _day(lake.landing, "2026-01-02", line, line, "TX_2,ACC_2,20.00,Debit,2026-01-02 09:00:00")
    first = run(lake, engine)
    day = next(f for f in first.files if f.source_file.endswith("2026-01-02.csv"))
    assert (day.rows_read, day.rows_loaded, day.rows_duplicate) == (3, 2, 1)
    # The same day delivered again under another name: every row is a counted duplicate.
    copy = lake.landing / "transactions" / "transactions_2026-01-02_resent.csv"
    copy.write_bytes((lake.landing / "transactions" / "transactions_2026-01-02.csv").read_bytes())
    # The first delivery's rows are decided again with the copy's: still the first copy loads.
    original, resent = sorted(run(lake, engine).files, key=lambda f: f.source_file)
    assert (original.status, original.rows_loaded, original.rows_duplicate) == ("reprocessed", 2, 1)
    assert (resent.rows_read, resent.rows_loaded, resent.rows_duplicate) == (3, 0, 3)
    assert sorted(_gold(lake)) == ["TX_1", "TX_2", "TX_7"]
    integrity = verify(lake).checks[0]
    assert integrity.passed and integrity.details["rows_duplicate"] == 4


def test_a_key_loaded_before_with_other_content_is_a_conflict(lake: Settings, engine: str) -> None:
    run(lake, engine)
    _day(lake.landing, "2026-01-03", "TX_1,ACC_1,99.00,Credit,2026-01-01 09:00:00")
    files = run(lake, engine).files
    # As a clean run over both files decides: neither version can be trusted, whichever came first.
    assert {f.source_file: f.quarantined_by_rule for f in files} == {
        "transactions/transactions_2026-01-01.csv": {"tx_id_conflict": 1},
        "transactions/transactions_2026-01-03.csv": {"tx_id_conflict": 1},
    }
    reasons = {row["reasons"] for row in _rows(lake, "quarantine")}
    assert reasons == {
        "tx_id has different versions in the lakehouse or batch (versions at "
        "transactions/transactions_2026-01-01.csv:2, transactions/transactions_2026-01-03.csv:2)"
    }
    assert "TX_1" not in _gold(lake)


def test_late_data_lands_in_its_own_date(lake: Settings, engine: str) -> None:
    run(lake, engine)
    _day(lake.landing, "2026-02-10", "TX_8,ACC_1,8.00,Debit,2026-01-01 23:00:00")
    run(lake, engine)
    assert _gold(lake)["TX_8"]["tx_date"] == date(2026, 1, 1)
    gold = Lakehouse.local(lake.lakehouse, lake.namespace).catalog.load_table(
        f"{NAMESPACE}.enriched_transactions"
    )
    january = gold.scan(row_filter="tx_date < '2026-02-01'").to_arrow()
    assert "TX_8" in january["tx_id"].to_pylist()


def test_dimension_history_and_as_of_enrichment(lake: Settings, engine: str) -> None:
    # On Jan 2 Ann moves to Ireland and ACC_1 becomes a Current account; on Jan 3 ACC_2 closes.
    write_csv(
        lake.landing / "customers" / "customers_2026-01-02.csv",
        CUSTOMERS + "CUST_1,Ann Lee,ann@example.com,Ireland\nCUST_2,Bo Chen,bo@example.com,USA\n",
    )
    write_csv(
        lake.landing / "accounts" / "accounts_2026-01-02.csv",
        ACCOUNTS + "ACC_1,CUST_1,Current,100.00\nACC_2,CUST_2,Current,50.00\n",
    )
    write_csv(
        lake.landing / "accounts" / "accounts_2026-01-03.csv",
        ACCOUNTS + "ACC_1,CUST_1,Current,100.00\n",
    )
    _day(
        lake.landing,
        "2026-01-03",
        "TX_9,ACC_1,9.00,Credit,2026-01-03 09:00:00",
        "TX_10,ACC_2,1.00,Debit,2026-01-03 09:00:00",  # the account is closed by then
    )
    _day(lake.landing, "2026-01-02", "TX_2,ACC_1,20.00,Debit,2026-01-02 09:00:00")
    run(lake, engine)
    ann = sorted(
        (r for r in _rows(lake, "customers") if r["customer_id"] == "CUST_1"),
        key=lambda r: r["valid_from"] or date.min,
    )
    assert [(r["country"], r["valid_from"], r["valid_to"], r["is_current"]) for r in ann] == [
        ("UK", None, date(2026, 1, 2), False),
        ("Ireland", date(2026, 1, 2), None, True),
    ]
    acc2 = [r for r in _rows(lake, "accounts") if r["account_id"] == "ACC_2"]
    assert [(r["valid_from"], r["valid_to"], r["is_current"]) for r in acc2] == [
        (None, date(2026, 1, 3), False)
    ]
    gold = _gold(lake)
    assert (gold["TX_1"]["country"], gold["TX_1"]["account_type"]) == ("UK", "Savings")
    assert (gold["TX_2"]["country"], gold["TX_2"]["account_type"]) == ("Ireland", "Current")
    assert gold["TX_9"]["country"] == "Ireland"
    (closed,) = _rows(lake, "quarantine")
    assert (closed["line_number"], closed["rule_ids"]) == (3, ["tx_account_known"])


def test_a_later_snapshot_re_enriches_gold_rows_of_its_dates(lake: Settings, engine: str) -> None:
    run(lake, engine)
    assert _gold(lake)["TX_2"]["country"] == "USA"
    write_csv(
        lake.landing / "customers" / "customers_2026-01-02.csv",
        CUSTOMERS + "CUST_1,Ann Lee,ann@example.com,UK\nCUST_2,Bo Chen,bo@example.com,Canada\n",
    )
    result = run(lake, engine)
    gold = _gold(lake)
    assert (gold["TX_1"]["country"], gold["TX_2"]["country"]) == ("UK", "Canada")
    assert {w.table: w.rows for w in result.tables}["enriched_transactions"] == 1
    assert_matches_the_files(lake)


def test_rows_waiting_for_a_late_account_load_when_it_arrives(lake: Settings, engine: str) -> None:
    _day(lake.landing, "2026-01-02", "TX_2,ACC_3,20.00,Debit,2026-01-02 09:00:00")
    run(lake, engine)
    (held,) = _rows(lake, "quarantine")
    assert held["rule_ids"] == ["tx_account_known"] and held["resolved_at"] is None
    # The account file was late: the snapshot is delivered again with ACC_3, open since Jan 1.
    write_csv(
        lake.landing / "accounts" / "accounts_2026-01-01.csv",
        ACCOUNTS + "ACC_1,CUST_1,Savings,100.00\nACC_2,CUST_2,Current,50.00\n"
        "ACC_3,CUST_2,Savings,5.00\n",
    )
    late = run(lake, engine)
    assert {f.source_file: (f.status, f.rows_loaded) for f in late.files} == {
        "accounts/accounts_2026-01-01.csv": ("loaded", 3),
        "transactions/transactions_2026-01-01.csv": ("reprocessed", 1),
        "transactions/transactions_2026-01-02.csv": ("reprocessed", 1),
    }
    (resolved,) = _rows(lake, "quarantine")
    assert resolved["resolved_batch_id"] == late.batch_id
    assert _gold(lake)["TX_2"]["customer_id"] == "CUST_2"
    assert replay(lake, engine).files == []  # nothing left to replay
    assert run(lake, engine).files == []  # and nothing to load again
    assert sorted(_gold(lake)) == ["TX_1", "TX_2"]
    assert_matches_the_files(lake)


def test_replay_loads_rows_that_now_pass_exactly_once(lake: Settings, engine: str) -> None:
    # A row quarantined for a reason that time cures: a timestamp ahead of the clock.
    (lake.landing / "transactions" / "transactions_2026-01-02.csv").unlink()
    _day(lake.landing, "2026-01-02", "TX_2,ACC_2,20.00,Debit,2026-01-02 09:00:00")
    run(lake, engine)
    assert replay(lake, engine).files == []  # nothing is quarantined
    _day(lake.landing, "2026-01-05", "TX_5,ACC_9,5.00,Debit,2026-01-05 09:00:00")
    run(lake, engine)
    write_csv(
        lake.landing / "accounts" / "accounts_2026-01-01.csv",
        ACCOUNTS + "ACC_1,CUST_1,Savings,100.00\nACC_2,CUST_2,Current,50.00\n"
        "ACC_9,CUST_1,Savings,5.00\n",
    )
    run(lake, engine)
    assert "TX_5" in _gold(lake)
    replayed = replay(lake, engine)
    assert replayed.files == []
    assert_matches_the_files(lake)


def test_schema_drift_is_recorded_and_the_file_loads(lake: Settings, engine: str) -> None:
    write_csv(
        lake.landing / "transactions" / "transactions_2026-01-05.csv",
        "channel,tx_id,account_id,amount,tx_type,timestamp\n"
        'app,TX_11,ACC_1,"1,000.00",Credit,2026-01-05 09:00:00\n'
        "web,TX_12,ACC_1,5.00,Credit,2026-01-05 10:00:00\n",
    )
    result = run(lake, engine)
    day = next(f for f in result.files if f.source_file.endswith("2026-01-05.csv"))
    assert day.problem == "schema drift: unexpected column(s) channel"
    assert (day.rows_loaded, day.quarantined_by_rule) == (1, {"amount_numeric": 1})
    (held,) = _rows(lake, "quarantine")
    assert held["line_text"] == 'app,TX_11,ACC_1,"1,000.00",Credit,2026-01-05 09:00:00'


def test_nothing_is_committed_when_the_audit_fails(
    lake: Settings, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from banklake import pipeline
    from banklake.errors import AuditError

    run(lake, engine)
    before = _snapshots(lake)
    _day(lake.landing, "2026-01-03", "TX_3,ACC_1,30.00,Credit,2026-01-03 09:00:00")
    real = pipeline._outcomes

    def miscounted(*args: Any) -> list[Any]:  # a fault: the counts no longer add up
        outcomes = real(*args)
        outcomes[0].rows_loaded += 1
        return outcomes

    monkeypatch.setattr(pipeline, "_outcomes", miscounted)
    with pytest.raises(AuditError, match="read 1 != loaded 2"):
        run(lake, engine)
    assert _snapshots(lake) == before
    monkeypatch.undo()
    assert [f.rows_loaded for f in run(lake, engine).files] == [1]


# Faults in the SQL a table is staged from: one row too many in Silver, one lost in Gold.
MISSTAGED = {
    "transactions": lambda sql: (
        f"SELECT * FROM ({sql}) s UNION ALL SELECT * FROM ({sql}) t LIMIT 2"
    ),
    "enriched_transactions": lambda sql: f"SELECT * FROM ({sql}) g WHERE tx_id <> 'TX_3'",
}


@pytest.mark.parametrize("table", MISSTAGED)
def test_the_audit_stops_a_table_staged_off_by_one(
    lake: Settings, engine: str, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    from banklake import pipeline
    from banklake.errors import AuditError

    run(lake, engine)
    before = _snapshots(lake)
    _day(lake.landing, "2026-01-03", "TX_3,ACC_1,30.00,Credit,2026-01-03 09:00:00")
    real = pipeline.plan

    def faulty(*args: Any) -> list[Any]:
        return [
            replace(step, sql=MISSTAGED[table](step.sql))
            if step.target is not None and step.target.name == table
            else step
            for step in real(*args)
        ]

    monkeypatch.setattr(pipeline, "plan", faulty)
    staged = {"transactions": 2, "enriched_transactions": 0}[table]
    with pytest.raises(AuditError, match=rf"{table} staged {staged} != loaded 1$"):
        run(lake, engine)
    assert _snapshots(lake) == before  # nothing of the batch is committed
    monkeypatch.undo()
    assert [f.rows_loaded for f in run(lake, engine).files] == [1]
    assert "TX_3" in _gold(lake)


def test_undated_dimension_file_is_a_snapshot_of_today(lake: Settings, engine: str) -> None:
    write_csv(lake.landing / "customers" / "customers.csv", CUSTOMERS + "CUST_3,Cy,c@e.com,UK\n")
    result = run(lake, engine)
    undated = next(f for f in result.files if f.source_file == "customers/customers.csv")
    assert undated.business_date == date.today()
    current = {r["customer_id"] for r in _rows(lake, "customers") if r["is_current"]}
    assert current == {"CUST_3"}  # a full snapshot: the others are no longer current
    assert pa.array([r["valid_to"] for r in _rows(lake, "customers")]).null_count == 1


def _snapshot_files(landing: Path, seed: int) -> list[Path]:
    """Six daily customer snapshots in which customers join, leave, come back and move."""
    rng = random.Random(seed)
    paths = []
    for day in range(1, 7):
        lines = [
            f"CUST_{n},Name {n},c{n}@example.com,{rng.choice(['UK', 'USA', 'India'])}\n"
            for n in range(1, 9)
            if rng.random() < 0.8
        ]
        path = landing / "customers" / f"customers_2026-01-0{day}.csv"
        paths.append(write_csv(path, CUSTOMERS + "".join(lines)))
    return paths


def _history(settings: Settings) -> list[tuple[Any, ...]]:
    return sorted(
        (
            r["customer_id"],
            r["country"],
            r["valid_from"] or date.min,
            r["valid_to"] or date.max,
        )
        for r in _rows(settings, "customers")
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_history_is_the_same_whatever_the_order_snapshots_arrive_in(
    tmp_path: Path, engine: str, seed: int
) -> None:
    everything = load_settings(landing=tmp_path / "all", lakehouse=tmp_path / "all-lh")
    files = _snapshot_files(everything.landing, seed)
    run(everything, engine)
    expected = _history(everything)
    assert any(r[3] != date.max for r in expected)  # there is history to get right

    for name, order in (("in-order", files), ("shuffled", random.Random(seed).sample(files, 6))):
        arriving = load_settings(landing=tmp_path / name, lakehouse=tmp_path / f"{name}-lh")
        for path in order:
            write_csv(arriving.landing / "customers" / path.name, path.read_bytes())
            run(arriving, engine)
        assert _history(arriving) == expected, name

    # A middle snapshot re-delivered with other content rebuilds the history around it.
    middle = files[3]
    rewritten = middle.read_text().replace(",UK\n", ",Japan\n").replace(",USA\n", ",Japan\n")
    write_csv(middle, rewritten)
    run(everything, engine)
    fresh = load_settings(landing=everything.landing, lakehouse=tmp_path / "fresh-lh")
    run(fresh, engine)
    assert _history(everything) == _history(fresh)


def test_a_customer_missing_on_the_transaction_date_holds_it_back(
    lake: Settings, engine: str
) -> None:
    # Jan 2's customer snapshot no longer has Bo; his account's snapshot of that day is not in.
    write_csv(
        lake.landing / "customers" / "customers_2026-01-02.csv",
        CUSTOMERS + "CUST_1,Ann Lee,ann@example.com,UK\n",
    )
    run(lake, engine)
    (held,) = _rows(lake, "quarantine")
    assert (held["source_file"], held["rule_ids"]) == (
        "transactions/transactions_2026-01-02.csv",
        ["tx_customer_known"],
    )
    assert held["reasons"] == (
        "the account's customer is not a customer on the transaction's date (got \"ACC_2\")"
    )


def test_a_late_customer_loads_the_account_and_its_transactions(
    lake: Settings, engine: str
) -> None:
    write_csv(
        lake.landing / "accounts" / "accounts_2026-01-01.csv",
        ACCOUNTS + "ACC_1,CUST_1,Savings,100.00\nACC_2,CUST_2,Current,50.00\n"
        "ACC_3,CUST_3,Savings,5.00\n",
    )
    _day(lake.landing, "2026-01-02", "TX_2,ACC_3,20.00,Debit,2026-01-02 09:00:00")
    run(lake, engine)
    assert {(r["entity"], tuple(r["rule_ids"])) for r in _rows(lake, "quarantine")} == {
        ("accounts", ("account_customer_known",)),
        ("transactions", ("tx_account_known",)),
    }
    write_csv(  # the customers file is delivered again, now with Cy
        lake.landing / "customers" / "customers_2026-01-01.csv",
        CUSTOMERS + "CUST_1,Ann Lee,ann@example.com,UK\nCUST_2,Bo Chen,bo@example.com,USA\n"
        "CUST_3,Cy Diaz,cy@example.com,Spain\n",
    )
    late = run(lake, engine)
    assert sorted(f.source_file for f in late.files if f.status == "reprocessed") == [
        "accounts/accounts_2026-01-01.csv",
        "transactions/transactions_2026-01-01.csv",
        "transactions/transactions_2026-01-02.csv",
    ]
    assert all(r["resolved_batch_id"] == late.batch_id for r in _rows(lake, "quarantine"))
    assert _gold(lake)["TX_2"]["country"] == "Spain"
    assert replay(lake, engine).files == []
    assert_matches_the_files(lake)


def test_a_copy_of_an_edited_day_is_a_conflict_not_a_duplicate(lake: Settings, engine: str) -> None:
    run(lake, engine)
    original = lake.landing / "transactions" / "transactions_2026-01-02.csv"
    copy = original.with_name("transactions_2026-01-02_copy.csv")
    copy.write_bytes(original.read_bytes())
    run(lake, engine)
    assert "TX_2" in _gold(lake)
    _day(lake.landing, "2026-01-02", "TX_2,ACC_2,21.00,Debit,2026-01-02 09:00:00")  # edited
    run(lake, engine)
    # The copy no longer repeats a loaded row: the two versions conflict, as a clean run says.
    quarantined = {(r["source_file"], tuple(r["rule_ids"])) for r in _rows(lake, "quarantine")}
    assert quarantined == {
        ("transactions/transactions_2026-01-02.csv", ("tx_id_conflict",)),
        ("transactions/transactions_2026-01-02_copy.csv", ("tx_id_conflict",)),
    }
    assert "TX_2" not in _gold(lake)
    assert_matches_the_files(lake)


def test_a_customer_dropped_by_a_later_snapshot_takes_that_days_transactions_out_of_gold(
    lake: Settings, engine: str
) -> None:
    run(lake, engine)
    assert _gold(lake)["TX_2"]["customer_id"] == "CUST_2"
    # The Jan 2 snapshot no longer has Bo: his account has no customer from that day on.
    write_csv(
        lake.landing / "customers" / "customers_2026-01-02.csv",
        CUSTOMERS + "CUST_1,Ann Lee,ann@example.com,UK\n",
    )
    result = run(lake, engine)
    assert "TX_2" not in _gold(lake) and "TX_1" in _gold(lake)
    (row,) = _rows(lake, "quarantine")
    assert (row["source_file"], row["rule_ids"]) == (
        "transactions/transactions_2026-01-02.csv",
        ["tx_customer_known"],
    )
    assert result.retracted == 0  # no file's earlier delivery lost rows: a decision changed
    assert_matches_the_files(lake)


def test_withdrawing_a_file_retracts_its_rows_and_redecides_its_copies(
    lake: Settings, engine: str
) -> None:
    original = lake.landing / "transactions" / "transactions_2026-01-02.csv"
    original.with_name("transactions_2026-01-02_copy.csv").write_bytes(original.read_bytes())
    run(lake, engine)
    original.unlink()
    integrity = verify(lake).checks[0]
    assert not integrity.passed
    result = withdraw(lake, ["transactions/transactions_2026-01-02.csv"])
    assert {f.source_file: f.status for f in result.files} == {
        "transactions/transactions_2026-01-02.csv": "withdrawn",
        "transactions/transactions_2026-01-02_copy.csv": "reprocessed",
    }
    assert result.retracted == 1
    # The copy's row, a duplicate until now, is the one that loads.
    assert _gold(lake)["TX_2"]["source_file"] == "transactions/transactions_2026-01-02_copy.csv"
    assert_matches_the_files(lake)
    with pytest.raises(UsageError, match="not a loaded file"):
        withdraw(lake, ["transactions/transactions_2026-01-02.csv"])
