"""Property-based, through the whole pipeline: whatever text a transactions file holds, the run
completes and every line ends where an independent model of the file (``tests.oracle``) says:
in Gold, in the quarantine, counted as a duplicate, or with the whole file refused."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.conftest import assert_matches_the_files, write_csv
from tests.oracle import expected

from banklake.config import load_settings
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import run

COLUMNS = ("tx_id", "account_id", "amount", "tx_type", "timestamp")
CUSTOMERS = "customer_id,name,email,country\nCUST_1,Ann,a@example.com,UK\n"
ACCOUNT_ROWS = (
    "account_id,customer_id,account_type,balance\n"
    "ACC_1,CUST_1,Savings,1.00\nACC_2,CUST_1,Current,2.00\n"
)
# Any text, NUL included: in a data line it is that row's problem, not the file's.
NOISE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
Row = dict[str, str]
# 60 in CI (about 40 s on two cores) reach duplicates, conflicts and refusals many times over;
# INGEST_EXAMPLES=500 for a deeper run.
EXAMPLES = int(os.environ.get("INGEST_EXAMPLES", "60"))


@st.composite
def valid_row(draw: st.DrawFn) -> Row:
    return {
        "tx_id": f"TX_{draw(st.integers(1, 10**6))}",
        # ACC_3 is no account: a well-formed row held back for its lookup.
        "account_id": draw(st.sampled_from(["ACC_1", "ACC_2", "ACC_2", "ACC_3"])),
        "amount": f"{draw(st.integers(1, 10**6))}.{draw(st.integers(0, 99)):02d}",
        "tx_type": draw(st.sampled_from(["Credit", "Debit", " credit ", "DEBIT"])),
        "timestamp": f"2026-01-{draw(st.integers(1, 28)):02d} {draw(st.integers(0, 23)):02d}:30:00",
    }


def _respelled(row: Row, spelling: int) -> Row:
    """The same typed values, written another way: still a copy of ``row``."""
    kind = row["tx_type"].strip().lower()
    return row | {
        "tx_type": [kind.upper(), f" {kind} ", kind.capitalize()][spelling % 3],
        "amount": f" {row['amount']}" if spelling % 2 else row["amount"],
    }


@st.composite
def lines(draw: st.DrawFn) -> list[list[str] | Row]:
    """Rows and other lines, with copies and conflicting versions of earlier rows on purpose."""
    out: list[list[str] | Row] = []
    rows: list[Row] = []
    for kind in draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=14)):
        if kind == "valid" or (kind in ("copy", "conflict") and not rows):
            rows.append(draw(valid_row()))
            out.append(rows[-1])
        elif kind == "copy":
            out.append(_respelled(draw(st.sampled_from(rows)), draw(st.integers(0, 5))))
        elif kind == "conflict":
            other = draw(st.sampled_from(rows))
            out.append(other | {"amount": f"{float(other['amount']) + 1:.2f}"})
        else:
            count = 5 if kind == "noise" else draw(st.integers(0, 8))
            out.append(draw(st.lists(NOISE, min_size=count, max_size=count)))
    return out


KINDS = ("valid", "valid", "valid", "copy", "copy", "conflict", "noise", "ragged")


def _field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value


@given(
    order=st.permutations(COLUMNS),
    body=lines(),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    final_newline=st.booleans(),
    damage=st.sampled_from([*[None] * 8, "header", "latin-1"]),
)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_line_ends_where_the_file_says(
    order: list[str],
    body: list[list[str] | Row],
    line_end: str,
    bom: bool,
    final_newline: bool,
    damage: str | None,
) -> None:
    header = list(order[:-1]) if damage == "header" else list(order)  # a column missing
    texts = [",".join(_field(value) for value in _values(line, order)) for line in body]
    text = line_end.join([",".join(header), *texts]) + (line_end if final_newline else "")
    data = ("\ufeff" if bom else "").encode() + text.encode()
    if damage == "latin-1":
        data += "TX_9,ACC_1,1.00,Credit,2026-01-02 10:00:00,Zürich".encode("latin-1")
    with tempfile.TemporaryDirectory() as folder:
        landing = Path(folder) / "landing"
        write_csv(landing / "customers" / "customers_2026-01-01.csv", CUSTOMERS)
        write_csv(landing / "accounts" / "accounts_2026-01-01.csv", ACCOUNT_ROWS)
        write_csv(landing / "transactions" / "transactions_2026-01-01.csv", data)
        lake = load_settings(
            landing=landing, lakehouse=Path(folder) / "lakehouse", max_quarantine_share=1.0
        )
        result = run(lake)  # no exception, whatever the text
        want = expected(landing)
        (day,) = [f for f in result.files if f.entity == "transactions"]
        refused = want.rejected_files == ["transactions/transactions_2026-01-01.csv"]
        event(f"refused: {refused}")
        event(f"duplicates: {want.duplicates > 0}")
        event(f"held back: {want.quarantined > 0}")
        event(f"loaded: {len(want.gold) > 0}")
        assert (day.status == "rejected") == refused == (damage is not None)
        if refused:  # refused whole, saying where and why; nothing of it is in any table
            assert "transactions_2026-01-01.csv" in str(day.problem)
            tables = Lakehouse.local(lake.lakehouse, lake.namespace).tables()
            assert tables["quarantine"].scan().to_arrow().num_rows == 0
        assert_matches_the_files(lake, want)


def _values(line: list[str] | Row, order: list[str]) -> list[str]:
    return line if isinstance(line, list) else [line[column] for column in order]
