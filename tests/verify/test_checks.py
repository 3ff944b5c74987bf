from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from tests.conftest import SMALL, write_csv

from banklake.config import Settings
from banklake.contracts import ENRICHED_TRANSACTIONS
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import RunResult, maintain, run
from banklake.verify.checks import count_data_rows, verify
from banklake.verify.report import write_reports


def test_all_three_pass_after_run_and_maintain(settings: Settings, engine: str) -> None:
    run(settings, engine)
    maintain(settings, engine)
    verification = verify(settings, engine)
    assert [c.passed for c in verification.checks] == [True, True, True]
    integrity = verification.checks[0].details
    assert integrity["rows_read"] == SMALL.transactions == integrity["rows_in_gold"]
    assert integrity["rows_quarantined"] == 0
    logic = verification.checks[1].details
    assert len(logic["corrected_result"]) == 3 and len(logic["seed_result"]) == 3
    jobs = verification.checks[2].details["tables"]["enriched_transactions"]["jobs"]
    assert jobs["icebergCompaction"]["status"] == "Successful"


def test_integrity_counts_quarantined_rows(settings: Settings, landing: Path, engine: str) -> None:
    write_csv(
        landing / "transactions" / "transactions_2020-01-01.csv",
        "tx_id,account_id,amount,tx_type,timestamp\n"
        "T1,ACC_000001,x,Debit,2020-01-01 00:00:00\nT2\n",
    )
    run(settings, engine)
    details = verify(settings).checks[0].details
    assert details["rows_read"] == SMALL.transactions + 2
    assert details["rows_quarantined"] == 2
    assert details["equation"] == f"{SMALL.transactions + 2} = {SMALL.transactions} + 2 + 0 + 0"
    ledger = {r["source_file"]: r for r in details["ledger"]}
    day = ledger["transactions/transactions_2020-01-01.csv"]
    assert (day["rows_read"], day["rows_quarantined"]) == (2, 2)
    assert day["quarantined_by_rule"] == {
        "amount_numeric": 1,
        "tx_id_format": 1,
        "row_malformed": 1,
    }


def test_integrity_fails_when_gold_and_files_disagree(
    settings: Settings, loaded: RunResult
) -> None:
    gold = Lakehouse.local(settings.lakehouse, settings.namespace).table(ENRICHED_TRANSACTIONS)
    gold.append(gold.scan(limit=5).to_arrow())  # rows no input file accounts for
    verification = verify(settings)
    assert not verification.checks[0].passed and not verification.passed
    assert verification.checks[0].details["rows_in_gold"] == SMALL.transactions + 5


def test_business_logic_follows_table_changes_on_both_paths(
    settings: Settings, loaded: RunResult
) -> None:
    gold = Lakehouse.local(settings.lakehouse, settings.namespace).table(ENRICHED_TRANSACTIONS)
    top = verify(settings).checks[1].details["corrected_result"][0]["customer_id"]
    # The SQL path and the independent PyIceberg path both see the delete and agree on a new leader.
    gold.delete(f"customer_id = '{top}'")
    check = verify(settings).checks[1]
    assert check.passed and check.details["corrected_result"][0]["customer_id"] != top


def test_maintenance_check_fails_when_compaction_is_disabled(
    settings: Settings, engine: str
) -> None:
    settings.maintenance.compaction_enabled = False
    run(settings, engine)
    check = verify(settings).checks[2]
    assert not check.passed
    assert check.details["tables"]["enriched_transactions"]["compaction"] == "disabled"
    assert (
        "enriched_transactions: compaction is disabled in its maintenance policy"
        in (check.details["problems"])
    )


def test_reports_are_written(settings: Settings, loaded: RunResult, tmp_path: Path) -> None:
    markdown, machine = write_reports(verify(settings), tmp_path / "out")
    text = markdown.read_text()
    assert "# banklake verification report" in text and "**PASSED**" in text
    assert "Test 1: Gold row count matches the input files: pass" in text
    assert '"s3tablescatalog/banking-lakehouse"."analytics_db"."enriched_transactions"' in text
    data = json.loads(machine.read_text())
    assert data["passed"] is True and [c["id"] for c in data["checks"]] == [
        "data_integrity", "business_logic", "maintenance",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "rows"),
    [
        (b"", 0),
        (b"h\n", 0),
        (b"h\na\nb\n", 2),
        (b"h\na\nb", 2),
        (b"\xef\xbb\xbfh\r\na\r\n", 1),
        (b"h\ra\rb", 2),  # carriage returns alone end lines too
        (b'h\n"a\nstill a",1\nb\n', 2),  # a quoted line break is inside one record
    ],
)
def test_count_data_rows(tmp_path: Path, content: bytes, rows: int) -> None:
    assert count_data_rows(write_csv(tmp_path / "f.csv", content)) == rows


def test_seed_query_merging_namesakes_is_shown(
    settings: Settings, landing: Path, engine: str
) -> None:
    customers = next((landing / "customers").iterdir())
    accounts = next((landing / "accounts").iterdir())
    customers.write_text(
        customers.read_text() + "CUST_888888881,Ada Twin,a1@example.com,UK\n"
        "CUST_888888882,Ada Twin,a2@example.com,UK\n"
    )
    accounts.write_text(
        accounts.read_text()
        + "ACC_888888881,CUST_888888881,Savings,1.00\nACC_888888882,CUST_888888882,Savings,1.00\n"
    )
    big = "9000000.00"  # large enough to lead any generated customer
    write_csv(
        landing / "transactions" / "transactions_2020-01-01.csv",
        "tx_id,account_id,amount,tx_type,timestamp\n"
        f"TX_88888881,ACC_888888881,{big},Credit,2020-01-01 10:00:00\n"
        f"TX_88888882,ACC_888888882,{big},Credit,2020-01-01 10:00:00\n",
    )
    run(settings, engine)
    details = verify(settings).checks[1].details
    assert details["seed_result"][0]["name"] == "Ada Twin"
    assert details["seed_result"][0]["total_volume"] == 2 * Decimal(big)  # two people as one
    assert details["seed_namesakes"]["Ada Twin"] == 2
    markdown, _ = write_reports(verify(settings), settings.reports)
    assert "**Ada Twin** is 2 different customers added together" in markdown.read_text()


def test_an_empty_window_fails_test_2_and_can_be_anchored_at_the_data(tmp_path: Path) -> None:
    from banklake.config import load_settings

    landing = tmp_path / "landing"
    write_csv(
        landing / "customers" / "customers_2020-01-01.csv",
        "customer_id,name,email,country\nCUST_1,Ann,a@example.com,UK\nCUST_2,Bo,b@example.com,UK\n",
    )
    write_csv(
        landing / "accounts" / "accounts_2020-01-01.csv",
        "account_id,customer_id,account_type,balance\nACC_1,CUST_1,Savings,1.00\n"
        "ACC_2,CUST_2,Savings,1.00\n",
    )
    write_csv(  # March 1: Ann's 5.00 is 31 days before the last day, outside its window
        landing / "transactions" / "transactions_2020-03-31.csv",
        "tx_id,account_id,amount,tx_type,timestamp\n"
        "TX_1,ACC_1,5.00,Credit,2020-03-01 10:00:00\n"
        "TX_2,ACC_2,7.00,Credit,2020-03-02 10:00:00\n"
        "TX_3,ACC_1,3.00,Credit,2020-03-31 10:00:00\n"
        "TX_4,ACC_2,9.00,Debit,2020-03-31 11:00:00\n",
    )
    settings = load_settings(landing=landing, lakehouse=tmp_path / "lh", reports=tmp_path / "r")
    run(settings)
    today = verify(settings).checks[1]
    assert not today.passed
    assert today.details["problems"][0].endswith(
        "holds no transactions; the data runs from 2020-03-01 to 2020-03-31: pass "
        "--window-end latest (or a date) to rank the 30 days up to the data's last day"
    )
    latest = verify(settings, window_end="latest").checks[1]
    assert latest.passed and latest.details["window"] == "2020-03-02 .. 2020-03-31 (UTC)"
    assert [(r["customer_id"], r["total_volume"]) for r in latest.details["corrected_result"]] == [
        ("CUST_2", Decimal("7.00")),
        ("CUST_1", Decimal("3.00")),
    ]


def test_a_refused_snapshot_fails_test_1_until_it_is_fixed(settings: Settings) -> None:
    customers = next((settings.landing / "customers").iterdir())
    good = customers.read_bytes()
    customers.write_bytes(good + b"\xff")  # one undecodable byte refuses the whole snapshot
    run(settings)
    integrity = verify(settings).checks[0]
    assert not integrity.passed and integrity.details["rows_in_gold"] == 0
    problems = integrity.details["problems"]
    empty = f"Gold is empty, though the transactions files hold {SMALL.transactions} rows"
    assert empty in problems
    assert f"refused files: customers/{customers.name}" in problems[-1]
    customers.write_bytes(good)  # delivered again, fixed: every row it held back now loads
    run(settings)
    integrity = verify(settings).checks[0]
    assert integrity.passed and integrity.details["rows_in_gold"] == SMALL.transactions
