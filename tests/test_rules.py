"""Each rule of the catalogue on real tables: errors quarantine the row, warnings flag it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import write_csv

from banklake.config import Settings
from banklake.contracts import NAMESPACE
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import run

TX = "tx_id,account_id,amount,tx_type,timestamp\n"
GOOD_TIME = "2020-01-01 10:00:00"


def _rows(settings: Settings, table: str) -> list[dict[str, object]]:
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    rows: list[dict[str, object]] = (
        lakehouse.catalog.load_table(f"{NAMESPACE}.{table}").scan().to_arrow().to_pylist()
    )
    return rows


@pytest.mark.parametrize(
    ("line", "rules"),
    [
        (f"TX-1,ACC_000001,1.00,Debit,{GOOD_TIME}", ["tx_id_format"]),
        (f"TX_7000000001,ACC_000001,1e3,Debit,{GOOD_TIME}", ["amount_scale"]),
        (f"TX_7000000002,ACC_000001,12.345,Debit,{GOOD_TIME}", ["amount_scale"]),
        (f"TX_7000000003,ACC_000001,-5.00,Debit,{GOOD_TIME}", ["amount_positive"]),
        (f"TX_7000000004,ACC_000001,0,Debit,{GOOD_TIME}", ["amount_positive"]),
        ("TX_7000000005,ACC_000001,1.00,Debit,2999-01-01 00:00:00", ["timestamp_not_future"]),
        (f"TX_7000000006,ACC_000001,abc,Debit,{GOOD_TIME}", ["amount_numeric"]),
        (
            f"TX_7000000007,ACC_000001,-1.005,Refund,{GOOD_TIME}",
            ["amount_scale", "amount_positive", "tx_type_valid"],
        ),
    ],
)
def test_transaction_errors_quarantine_with_every_rule(
    settings: Settings, landing: Path, engine: str, line: str, rules: list[str]
) -> None:
    write_csv(landing / "transactions" / "transactions_2020-01-01.csv", f"{TX}{line}\n")
    result = run(settings, engine)
    (row,) = [r for r in _rows(settings, "quarantine") if r["entity"] == "transactions"]
    assert row["rule_ids"] == rules
    assert row["line_number"] == 2
    assert len(str(row["reasons"]).split("; ")) == len(rules)
    errors = {f["rule_id"]: f["rows"] for f in result.findings if f["severity"] == "error"}
    assert errors == dict.fromkeys(rules, 1)


def test_warnings_load_the_row_and_flag_it(settings: Settings, landing: Path, engine: str) -> None:
    customers = next((landing / "customers").iterdir())
    customers.write_text(customers.read_text() + "CUST_777777777,Ann Odd,not-an-email,Atlantis\n")
    accounts = next((landing / "accounts").iterdir())
    accounts.write_text(accounts.read_text() + "ACC_777777777,CUST_777777777,Current,5.00\n")
    write_csv(
        landing / "transactions" / "transactions_2020-01-01.csv",
        f"{TX}TX_7000000010,ACC_777777777,2000000.00, credit ,{GOOD_TIME}\n",
    )
    result = run(settings, engine)
    (customer,) = [r for r in _rows(settings, "customers") if r["customer_id"] == "CUST_777777777"]
    assert customer["quality_flags"] == ["email_format", "country_known"]
    (tx,) = [r for r in _rows(settings, "transactions") if r["tx_id"] == "TX_7000000010"]
    assert tx["quality_flags"] == ["amount_plausible"] and tx["tx_type"] == "Credit"
    assert any(r["tx_id"] == "TX_7000000010" for r in _rows(settings, "enriched_transactions"))
    warnings = {
        (f["entity"], f["rule_id"]): f["rows"] for f in result.findings if f["severity"] == "warn"
    }
    assert warnings == {
        ("customers", "country_known"): 1,
        ("customers", "email_format"): 1,
        ("transactions", "amount_plausible"): 1,
    }
    assert all(r["quality_flags"] is None for r in _rows(settings, "accounts"))


def test_a_quarantined_row_lists_its_warnings_too(
    settings: Settings, landing: Path, engine: str
) -> None:
    write_csv(
        landing / "transactions" / "transactions_2020-01-01.csv",
        f"{TX}TX_7000000020,ACC_000001,2000000.00,Bogus,{GOOD_TIME}\n",
    )
    run(settings, engine)
    (row,) = _rows(settings, "quarantine")
    assert row["rule_ids"] == ["tx_type_valid", "amount_plausible"]
    assert "amount is above 1000000.00" in str(row["reasons"])


@pytest.mark.parametrize(
    ("file", "line", "rule"),
    [
        ("customers", "C-1,Bad Id,b@example.com,UK", "customer_id_format"),
        ("accounts", "A-1,CUST_000001,Savings,1.00", "account_id_format"),
    ],
)
def test_dimension_id_formats(
    settings: Settings, landing: Path, engine: str, file: str, line: str, rule: str
) -> None:
    path = next((landing / file).iterdir())
    path.write_text(path.read_text() + line + "\n")
    run(settings, engine)
    (row,) = [r for r in _rows(settings, "quarantine") if r["entity"] == file]
    assert row["rule_ids"] == [rule]
    assert json.loads(str(row["record"]))[f"{file[:-1]}_id"] == line.split(",")[0]
