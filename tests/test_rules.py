"""Each rule of the catalogue on real tables: errors quarantine the row, warnings flag it.

``CASES`` holds, for every rule, the smallest input that fails that rule and nothing else,
added to a tiny landing zone (two customers, two accounts, two transactions) that passes every
rule. A rule added to the catalogue without a case here fails ``test_every_rule_has_a_case``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import write_csv

from banklake.config import Settings, load_settings
from banklake.contracts import ENTITIES, MALFORMED_ROW_RULE, NAMESPACE, RULES, Severity
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import RunResult, run

GOOD_TIME = "2020-01-01 10:00:00"
HEADERS = {entity.folder: ",".join(entity.source_columns) + "\n" for entity in ENTITIES}
CUSTOMERS = "customers/customers_2020-01-01.csv"
ACCOUNTS = "accounts/accounts_2020-01-01.csv"
DAY = "transactions/transactions_2020-01-01.csv"
NEXT_DAY = "transactions/transactions_2020-01-02.csv"
# A clean landing zone: every rule passes on every row.
BASE = {
    CUSTOMERS: ("CUST_1,Ann Lee,ann@example.com,UK", "CUST_2,Bo Chen,bo@example.com,USA"),
    ACCOUNTS: ("ACC_1,CUST_1,Savings,100.00", "ACC_2,CUST_2,Current,5.00"),
    DAY: (f"TX_1,ACC_1,10.00,Debit,{GOOD_TIME}", f"TX_2,ACC_2,20.00,Credit,{GOOD_TIME}"),
}
LOADED = {"customers": 2, "accounts": 2, "transactions": 2, "enriched_transactions": 2}
SEVERITY = {rule.id: rule.severity for rule in RULES} | {MALFORMED_ROW_RULE: Severity.ERROR}
REASON = {rule.id: rule.reason for rule in RULES} | {MALFORMED_ROW_RULE: "expected 5 fields"}


@dataclass(frozen=True)
class Case:
    """Lines added to files of the landing zone (created with their header if new).

    An error rule must quarantine exactly the rows at ``fails`` (by default every added line),
    with that rule alone; a warn rule must load the row whose ``key`` is in ``flags`` (table,
    key column, key), with that rule alone in its quality flags.
    """

    adds: dict[str, tuple[str, ...]]
    fails: tuple[tuple[str, int], ...] | None = None
    flags: tuple[str, str, str] | None = None


def _tx(line: str) -> Case:
    return Case({DAY: (line,)})


CASES = {
    "customer_id_present": Case({CUSTOMERS: (",No Id,noid@example.com,UK",)}),
    "customer_id_format": Case({CUSTOMERS: ("C-3,Bad Id,bad@example.com,UK",)}),
    # Two versions of a customer nobody refers to: the conflict alone, no consequence.
    "customer_id_conflict": Case(
        {CUSTOMERS: ("CUST_3,Cy Diaz,cy@example.com,UK", "CUST_3,Cy Diaz,cy@example.org,UK")}
    ),
    "email_format": Case(
        {CUSTOMERS: ("CUST_3,Cy Diaz,not-an-email,UK",)},
        flags=("customers", "customer_id", "CUST_3"),
    ),
    "country_known": Case(
        {CUSTOMERS: ("CUST_3,Cy Diaz,cy@example.com,Atlantis",)},
        flags=("customers", "customer_id", "CUST_3"),
    ),
    "account_id_present": Case({ACCOUNTS: (",CUST_1,Savings,1.00",)}),
    "account_id_format": Case({ACCOUNTS: ("A-3,CUST_1,Savings,1.00",)}),
    "account_id_conflict": Case(
        {ACCOUNTS: ("ACC_3,CUST_1,Savings,1.00", "ACC_3,CUST_1,Savings,2.00")}
    ),
    "account_type_valid": Case({ACCOUNTS: ("ACC_3,CUST_1,Checking,1.00",)}),
    "balance_numeric": Case({ACCOUNTS: ("ACC_3,CUST_1,Savings,lots",)}),
    "account_customer_known": Case({ACCOUNTS: ("ACC_3,CUST_9,Savings,1.00",)}),
    "tx_id_present": _tx(f",ACC_1,1.00,Debit,{GOOD_TIME}"),
    "tx_id_format": _tx(f"TX-3,ACC_1,1.00,Debit,{GOOD_TIME}"),
    "tx_id_conflict": Case(
        {DAY: (f"TX_3,ACC_1,1.00,Debit,{GOOD_TIME}", f"TX_3,ACC_1,2.00,Debit,{GOOD_TIME}")}
    ),
    "amount_numeric": _tx(f"TX_3,ACC_1,abc,Debit,{GOOD_TIME}"),
    "amount_scale": _tx(f"TX_3,ACC_1,12.345,Debit,{GOOD_TIME}"),
    "amount_positive": _tx(f"TX_3,ACC_1,-5.00,Debit,{GOOD_TIME}"),
    "amount_plausible": Case(
        {DAY: (f"TX_3,ACC_1,2000000.00,Credit,{GOOD_TIME}",)},
        flags=("transactions", "tx_id", "TX_3"),
    ),
    "tx_type_valid": _tx(f"TX_3,ACC_1,1.00,Refund,{GOOD_TIME}"),
    "timestamp_valid": _tx("TX_3,ACC_1,1.00,Debit,2020-13-01 10:00:00"),
    # Far enough ahead of any clock this test will run under.
    "timestamp_not_future": _tx("TX_3,ACC_1,1.00,Debit,2999-01-01 00:00:00"),
    "tx_account_known": _tx(f"TX_3,ACC_9,1.00,Debit,{GOOD_TIME}"),
    # The Jan 2 customers snapshot no longer has Bo; his account (snapshot of Jan 1 only) still
    # holds on Jan 2, so a transaction on it that day has an account but no customer.
    "tx_customer_known": Case(
        {
            "customers/customers_2020-01-02.csv": (BASE[CUSTOMERS][0],),
            NEXT_DAY: ("TX_3,ACC_2,1.00,Debit,2020-01-02 10:00:00",),
        },
        fails=((NEXT_DAY, 2),),
    ),
    MALFORMED_ROW_RULE: _tx("TX_3,ACC_1,1.00"),
}


def test_every_rule_has_a_case() -> None:
    assert len({rule.id for rule in RULES}) == len(RULES)
    assert set(CASES) == {rule.id for rule in RULES} | {MALFORMED_ROW_RULE}
    for rule_id, case in CASES.items():  # a warn rule's row loads: there is nothing to hold
        assert (case.flags is not None) == (SEVERITY[rule_id] is Severity.WARN), rule_id


def _tiny(
    tmp_path: Path, adds: dict[str, tuple[str, ...]]
) -> tuple[Settings, list[tuple[str, int]]]:
    """The clean landing zone plus ``adds``; returns where the added lines are."""
    landing = tmp_path / "landing"
    files = {name: list(lines) for name, lines in BASE.items()}
    added = []
    for name, lines in adds.items():
        rows = files.setdefault(name, [])
        added += [(name, 2 + len(rows) + i) for i in range(len(lines))]
        rows += lines
    for name, rows in files.items():
        write_csv(landing / name, HEADERS[name.split("/")[0]] + "".join(f"{r}\n" for r in rows))
    settings = load_settings(
        landing=landing, lakehouse=tmp_path / "lakehouse", reports=tmp_path / "reports"
    )
    return settings, added


def _rows(settings: Settings, table: str) -> list[dict[str, object]]:
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    rows: list[dict[str, object]] = (
        lakehouse.catalog.load_table(f"{NAMESPACE}.{table}").scan().to_arrow().to_pylist()
    )
    return rows


def _counts(settings: Settings) -> dict[str, int]:
    return {table: len(_rows(settings, table)) for table in LOADED}


def _findings(result: RunResult, severity: Severity) -> dict[str, int]:
    found: dict[str, int] = {}
    for finding in result.findings:
        if finding["severity"] == severity:
            found[finding["rule_id"]] = found.get(finding["rule_id"], 0) + finding["rows"]
    return found


@pytest.mark.parametrize("rule_id", list(CASES))
def test_each_rule_fires_alone(tmp_path: Path, engine: str, rule_id: str) -> None:
    case = CASES[rule_id]
    settings, added = _tiny(tmp_path, case.adds)
    result = run(settings, engine)
    quarantine = {
        (str(r["source_file"]), r["line_number"]): r for r in _rows(settings, "quarantine")
    }
    if SEVERITY[rule_id] is Severity.ERROR:
        held = case.fails or tuple(added)
        found = {where: row["rule_ids"] for where, row in quarantine.items()}
        assert found == {where: [rule_id] for where in held}
        assert all(str(row["reasons"]).startswith(REASON[rule_id]) for row in quarantine.values())
        assert _findings(result, Severity.ERROR) == {rule_id: len(held)}
        assert _findings(result, Severity.WARN) == {}
        assert _counts(settings) == LOADED  # the clean rows load, the failing ones do not
        return
    assert case.flags is not None
    table, column, key = case.flags
    assert quarantine == {}
    (row,) = [r for r in _rows(settings, table) if r[column] == key]
    assert row["quality_flags"] == [rule_id]
    assert _findings(result, Severity.WARN) == {rule_id: 1}
    assert _findings(result, Severity.ERROR) == {}
    grown = {table} | ({"enriched_transactions"} if table == "transactions" else set())
    assert _counts(settings) == {t: n + (t in grown) for t, n in LOADED.items()}
    flagged = [
        r for t in ("customers", "transactions") for r in _rows(settings, t) if r["quality_flags"]
    ]
    assert flagged == [row]


@pytest.mark.parametrize(
    ("line", "rules"),
    [
        (f"TX_3,ACC_1,1e3,Debit,{GOOD_TIME}", ["amount_scale"]),
        (f"TX_3,ACC_1,0,Debit,{GOOD_TIME}", ["amount_positive"]),
        (
            f"TX_3,ACC_1,-1.005,Refund,{GOOD_TIME}",
            ["amount_scale", "amount_positive", "tx_type_valid"],
        ),
        # A quarantined row lists the warnings it failed too.
        (f"TX_3,ACC_1,2000000.00,Bogus,{GOOD_TIME}", ["tx_type_valid", "amount_plausible"]),
        (f"TX_3,ACC_9,-1.00,Debit,{GOOD_TIME}", ["amount_positive", "tx_account_known"]),
    ],
)
def test_a_row_lists_every_rule_it_fails(
    tmp_path: Path, engine: str, line: str, rules: list[str]
) -> None:
    settings, _ = _tiny(tmp_path, {DAY: (line,)})
    result = run(settings, engine)
    (row,) = _rows(settings, "quarantine")
    assert row["rule_ids"] == rules and row["line_number"] == 4
    assert len(str(row["reasons"]).split("; ")) == len(rules)
    errors = [rule for rule in rules if SEVERITY[rule] is Severity.ERROR]
    assert _findings(result, Severity.ERROR) == dict.fromkeys(errors, 1)
    assert _findings(result, Severity.WARN) == {}  # a quarantined row's warnings are not counted


def test_warnings_combine_and_untidy_values_are_cleaned(tmp_path: Path, engine: str) -> None:
    settings, _ = _tiny(
        tmp_path,
        {
            CUSTOMERS: ("CUST_3,Cy Diaz,not-an-email,Atlantis",),
            ACCOUNTS: ("ACC_3,CUST_3, current , 7.5 ",),
            DAY: (f"TX_3,ACC_3,2000000.00, credit ,{GOOD_TIME}",),
        },
    )
    run(settings, engine)
    assert _rows(settings, "quarantine") == []
    (customer,) = [r for r in _rows(settings, "customers") if r["customer_id"] == "CUST_3"]
    assert customer["quality_flags"] == ["email_format", "country_known"]
    (account,) = [r for r in _rows(settings, "accounts") if r["account_id"] == "ACC_3"]
    assert (account["account_type"], str(account["balance"])) == ("Current", "7.50")
    (tx,) = [r for r in _rows(settings, "enriched_transactions") if r["tx_id"] == "TX_3"]
    assert (tx["tx_type"], tx["country"], tx["account_type"]) == ("Credit", "Atlantis", "Current")


def _ledger(settings: Settings, name: str) -> tuple[object, ...]:
    (row,) = [r for r in _rows(settings, "load_ledger") if r["source_file"] == name]
    return row["rows_read"], row["rows_loaded"], row["rows_quarantined"], row["rows_duplicate"]


@pytest.mark.parametrize(
    ("file", "copies", "table", "key"),
    [
        (CUSTOMERS, ("CUST_2,Bo Chen,bo@example.com,USA",) * 2, "customers", "CUST_2"),
        (ACCOUNTS, ("ACC_2,CUST_2,Current,5.00",) * 2, "accounts", "ACC_2"),
        # The same values written differently are the same row: an account's type and balance
        # are compared as the values Silver keeps.
        (
            ACCOUNTS,
            ("ACC_2,CUST_2, current ,5.0", "ACC_2,CUST_2,CURRENT,05.00"),
            "accounts",
            "ACC_2",
        ),
    ],
    ids=["customers", "accounts", "accounts-respelled"],
)
def test_copies_in_a_snapshot_load_once_and_are_counted(
    tmp_path: Path, engine: str, file: str, copies: tuple[str, ...], table: str, key: str
) -> None:
    settings, _ = _tiny(tmp_path, {file: copies})
    result = run(settings, engine)
    assert _rows(settings, "quarantine") == []
    column = f"{table[:-1]}_id"
    (kept,) = [r for r in _rows(settings, table) if r[column] == key]
    assert kept["source_file"] == file
    assert _ledger(settings, file) == (4, 2, 0, 2)
    assert _counts(settings) == LOADED  # TX_2 is in Gold once, on the one version
    (gold,) = [r for r in _rows(settings, "enriched_transactions") if r["tx_id"] == "TX_2"]
    assert (gold["customer_id"], gold["account_id"]) == ("CUST_2", "ACC_2")
    assert _findings(result, Severity.ERROR) == {}


@pytest.mark.parametrize(
    ("file", "version", "rule", "consequences"),
    [
        (
            CUSTOMERS,
            "CUST_2,Bo Chen,bo@example.org,USA",
            "customer_id_conflict",
            # Bo's account has no customer, and its transaction no account.
            {(ACCOUNTS, 3): ["account_customer_known"], (DAY, 3): ["tx_account_known"]},
        ),
        (
            ACCOUNTS,
            "ACC_2,CUST_2,Current,6.00",
            "account_id_conflict",
            {(DAY, 3): ["tx_account_known"]},
        ),
    ],
    ids=["customers", "accounts"],
)
def test_versions_that_differ_in_a_snapshot_are_all_held_back_with_what_needs_them(
    tmp_path: Path,
    engine: str,
    file: str,
    version: str,
    rule: str,
    consequences: dict[tuple[str, int], list[str]],
) -> None:
    settings, _ = _tiny(tmp_path, {file: (version,)})
    result = run(settings, engine)
    quarantine = {(r["source_file"], r["line_number"]): r for r in _rows(settings, "quarantine")}
    expected = {(file, 3): [rule], (file, 4): [rule]} | consequences
    assert {where: row["rule_ids"] for where, row in quarantine.items()} == expected
    # Each version says where the others are.
    where = f"{file}:3, {file}:4"
    assert all(where in str(quarantine[(file, line)]["reasons"]) for line in (3, 4))
    assert json.loads(str(quarantine[(file, 4)]["record"])) == dict(
        zip(HEADERS[file.split("/")[0]].strip().split(","), version.split(","), strict=True)
    )
    table = file.split("/")[0]
    assert not [
        r for r in _rows(settings, table) if r[f"{table[:-1]}_id"] == version[: version.index(",")]
    ]
    assert [r["tx_id"] for r in _rows(settings, "enriched_transactions")] == ["TX_1"]
    assert _ledger(settings, file) == (3, 1, 2, 0)
    assert _findings(result, Severity.ERROR) == {
        rule: 2,
        **{rules[0]: 1 for rules in consequences.values()},
    }
