"""Property-based, through the whole pipeline: whatever text a transactions file holds, the run
completes, the file is either refused whole or every one of its lines is placed (loaded,
quarantined or duplicate), and no valid row is lost."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import write_csv

from banklake.config import load_settings
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import run
from banklake.verify.checks import verify

COLUMNS = ("tx_id", "account_id", "amount", "tx_type", "timestamp")
ACCOUNTS = ("ACC_1", "ACC_2")
CUSTOMERS = "customer_id,name,email,country\nCUST_1,Ann,a@example.com,UK\n"
ACCOUNT_ROWS = (
    "account_id,customer_id,account_type,balance\n"
    "ACC_1,CUST_1,Savings,1.00\nACC_2,CUST_1,Current,2.00\n"
)
NOISE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@st.composite
def valid_row(draw: st.DrawFn) -> dict[str, str]:
    return {
        "tx_id": f"TX_{draw(st.integers(1, 10**6))}",
        "account_id": draw(st.sampled_from(ACCOUNTS)),
        "amount": f"{draw(st.integers(1, 10**6))}.{draw(st.integers(0, 99)):02d}",
        "tx_type": draw(st.sampled_from(["Credit", "Debit", " credit ", "DEBIT"])),
        "timestamp": f"2026-01-{draw(st.integers(1, 28)):02d} {draw(st.integers(0, 23)):02d}:30:00",
    }


def _field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value


@given(
    order=st.permutations(COLUMNS),
    lines=st.lists(
        st.one_of(
            valid_row().map(lambda row: ("valid", row)),
            st.lists(NOISE, min_size=5, max_size=5).map(lambda f: ("noise", f)),
            st.lists(NOISE, min_size=0, max_size=8).map(lambda f: ("ragged", f)),
        ),
        max_size=12,
    ),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    final_newline=st.booleans(),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_line_is_placed_and_no_valid_row_is_lost(
    order: list[str],
    lines: list[tuple[str, object]],
    line_end: str,
    bom: bool,
    final_newline: bool,
) -> None:
    texts, valid = [], {}
    for kind, value in lines:
        if kind == "valid":
            row = value  # type: ignore[assignment]
            texts.append(",".join(_field(row[c]) for c in order))  # type: ignore[index]
            valid.setdefault(row["tx_id"], []).append(row)  # type: ignore[index]
        else:
            texts.append(",".join(_field(f) for f in value))  # type: ignore[attr-defined]
    body = line_end.join([",".join(order), *texts]) + (line_end if final_newline else "")
    with tempfile.TemporaryDirectory() as folder:
        landing = Path(folder) / "landing"
        write_csv(landing / "customers" / "customers_2026-01-01.csv", CUSTOMERS)
        write_csv(landing / "accounts" / "accounts_2026-01-01.csv", ACCOUNT_ROWS)
        path = landing / "transactions" / "transactions_2026-01-01.csv"
        write_csv(path, ("\ufeff" if bom else "") + body)
        lake = load_settings(
            landing=landing, lakehouse=Path(folder) / "lakehouse", max_quarantine_share=1.0
        )
        result = run(lake)  # no exception, whatever the text
        # Every row counted from the bytes is placed (a file whose every row is held back
        # also fails Test 1 for an empty Gold, which is not what this property is about).
        problems = verify(lake).checks[0].details["problems"]
        assert [p for p in problems if not p.startswith(("Gold is empty", "largest"))] == []

        (day,) = [f for f in result.files if f.entity == "transactions"]
        if day.status == "rejected":  # refused whole, with where and why
            assert "transactions_2026-01-01.csv" in str(day.problem)
            return
        assert day.rows_read == day.rows_loaded + day.rows_quarantined + day.rows_duplicate
        tables = Lakehouse.local(lake.lakehouse, lake.namespace).tables()
        gold = set(tables["enriched_transactions"].scan().to_arrow()["tx_id"].to_pylist())
        held = tables["quarantine"].scan().to_arrow().num_rows
        assert len(gold) + held + day.rows_duplicate == day.rows_read
        claimed = [
            fields[order.index("tx_id")].strip(" ")
            for fields in csv.reader(texts)
            if len(fields) == len(order)
        ]
        for tx_id, copies in valid.items():
            # A valid row loads unless another line claims its tx_id with other content.
            if claimed.count(tx_id) == len(copies) and all(c == copies[0] for c in copies):
                assert tx_id in gold
