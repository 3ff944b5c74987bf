"""Labelled defects: corrupt a share of the generated rows and record what each must become.

Each kind names the column it corrupts, how, and the outcome the pipeline must produce:
``quarantined`` with these rule ids, ``flagged`` (loads, with these warn rules in
``quality_flags``), or ``loaded`` unchanged (the pipeline cleans it). The manifest lists every
injected defect with its file and line, so a test can require the pipeline to match it exactly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from banklake.contracts import MALFORMED_ROW_RULE, RULES, Severity

Outcome = Literal["quarantined", "flagged", "loaded", "duplicate"]
MANIFEST_NAME = "defects_manifest.json"
TRUNCATED = "row_truncated"
DUPLICATE = "tx_duplicate"  # the previous row again, exactly: loads once, counted
CONFLICT = "tx_conflict"  # the previous row's tx_id with another amount: both held back
ORPHAN = "orphan_account"  # an account whose customer does not exist, and its transactions
# Kinds after which an orphan account's transaction fails nothing more: without a timestamp the
# account is not looked up; a malformed row is never checked; an unknown account already fails.
_NO_CASCADE = {"timestamp_invalid", TRUNCATED, "account_unknown"}


@dataclass(frozen=True)
class DefectKind:
    name: str
    column: str | None  # None: the defect is in the line's text, not in one value
    outcome: Outcome
    rule_ids: tuple[str, ...]
    corrupt: Callable[[str], str] = str


TRANSACTION_DEFECTS = (
    DefectKind(
        "amount_not_numeric", "amount", "quarantined", ("amount_numeric",), lambda v: f"{v}.9"
    ),
    DefectKind("amount_too_precise", "amount", "quarantined", ("amount_scale",), lambda v: f"{v}5"),
    DefectKind("amount_negative", "amount", "quarantined", ("amount_positive",), lambda v: f"-{v}"),
    DefectKind(
        "amount_implausible", "amount", "flagged", ("amount_plausible",), lambda v: "5000000.00"
    ),
    DefectKind("tx_type_unknown", "tx_type", "quarantined", ("tx_type_valid",), lambda v: "Refund"),
    DefectKind("tx_type_untidy", "tx_type", "loaded", (), lambda v: f" {v.upper()} "),
    DefectKind(
        "timestamp_invalid",
        "timestamp",
        "quarantined",
        ("timestamp_valid",),
        lambda v: f"{v[:5]}13{v[7:]}",  # month 13
    ),
    DefectKind(
        "timestamp_future",
        "timestamp",
        "quarantined",
        ("timestamp_not_future",),
        lambda v: f"2999{v[4:]}",
    ),
    DefectKind(
        "account_unknown",
        "account_id",
        "quarantined",
        ("tx_account_known",),
        lambda v: v.replace("ACC_", "ACC_999"),  # far beyond any generated account number
    ),
    DefectKind(
        "tx_id_malformed", "tx_id", "quarantined", ("tx_id_format",), lambda v: v.replace("_", "-")
    ),
    DefectKind("tx_id_missing", "tx_id", "quarantined", ("tx_id_present",), lambda v: ""),
    DefectKind(TRUNCATED, None, "quarantined", (MALFORMED_ROW_RULE,)),
    DefectKind(DUPLICATE, None, "duplicate", ()),
    DefectKind(CONFLICT, None, "quarantined", ("tx_id_conflict",), lambda v: f"1{v}"),
)
CUSTOMER_DEFECTS = (
    DefectKind(
        "email_invalid", "email", "flagged", ("email_format",), lambda v: v.replace("@", ".at.")
    ),
    DefectKind("country_unknown", "country", "flagged", ("country_known",), lambda v: "Atlantis"),
)


@dataclass
class Injected:
    table: pa.Table
    truncated: list[int]  # row indexes whose line is to be cut short when written
    records: list[dict[str, Any]]  # the manifest entries


def inject(
    table: pa.Table,
    kinds: tuple[DefectKind, ...],
    rate: float,
    rng: np.random.Generator,
    entity: str,
    key: str,
    file: str,
    first_line: int,
    orphans: pa.Array | None = None,
) -> Injected:
    """Corrupt about ``rate`` of the rows of ``table`` (one defect each) and describe them.

    Rows on an ``orphans`` account are described too: they fail with their account.
    """
    rows = np.flatnonzero(rng.random(table.num_rows) < rate)
    chosen = [kinds[i] for i in rng.integers(0, len(kinds), len(rows))]
    # A copy of the previous row needs a previous row that is itself clean.
    taken = set(rows.tolist())
    pairs = [
        (row, kind)
        for row, kind in zip(rows.tolist(), chosen, strict=True)
        if kind.name not in (DUPLICATE, CONFLICT) or (row > 0 and row - 1 not in taken)
    ]
    copying = any(kind.name in (DUPLICATE, CONFLICT) for _, kind in pairs)
    columns = set(table.column_names) if copying else {k.column for _, k in pairs if k.column}
    values = {column: table[column].to_pylist() for column in columns}
    keys = list(values.get(key) or table[key].to_pylist())
    truncated, records = [], []

    def record(row: int, kind: DefectKind) -> None:
        records.append(
            {
                "entity": entity,
                "file": file,
                "line": first_line + row,
                "key": keys[row],  # as written (a corrupted key is written corrupted)
                "kind": kind.name,
                "outcome": kind.outcome,
                "rule_ids": list(kind.rule_ids),
            }
        )

    for row, kind in pairs:
        if kind.name in (DUPLICATE, CONFLICT):
            for column in columns:
                values[column][row] = values[column][row - 1]
            keys[row] = keys[row - 1]
            if kind.name == CONFLICT:
                values["amount"][row] = kind.corrupt(values["amount"][row])
                record(row - 1, kind)
        elif kind.column is None:
            truncated.append(row)
        else:
            values[kind.column][row] = kind.corrupt(values[kind.column][row])
            if kind.column == key:
                keys[row] = values[key][row]
        record(row, kind)
    for column, new in values.items():
        table = table.set_column(
            table.schema.get_field_index(column), column, pa.array(new, pa.string())
        )
    if orphans is not None and len(orphans):
        records = _cascade(table, orphans, records, entity, file, first_line)
    return Injected(table, truncated, records)


def _cascade(
    table: pa.Table,
    orphans: pa.Array,
    records: list[dict[str, Any]],
    entity: str,
    file: str,
    first_line: int,
) -> list[dict[str, Any]]:
    """Transactions on an orphan account fail ``tx_account_known`` besides their own defect."""
    by_line = {r["line"]: r for r in records}
    on_orphans = np.flatnonzero(pc.is_in(table["account_id"], orphans).to_numpy(False))
    for row in on_orphans.tolist():
        line = first_line + row
        found = by_line.get(line)
        if found is None:
            records.append(
                {
                    "entity": entity,
                    "file": file,
                    "line": line,
                    "key": table["tx_id"][row].as_py(),
                    "kind": ORPHAN,
                    "outcome": "quarantined",
                    "rule_ids": ["tx_account_known"],
                }
            )
        elif found["kind"] not in _NO_CASCADE:
            found["outcome"] = "quarantined"
            found["rule_ids"] = in_catalogue_order([*found["rule_ids"], "tx_account_known"])
    return sorted(records, key=lambda r: r["line"])


def in_catalogue_order(rule_ids: list[str]) -> list[str]:
    """Rule ids as the quarantine lists them: errors, then warnings, each in catalogue order."""
    position = {rule.id: (rule.severity is Severity.WARN, i) for i, rule in enumerate(RULES)}
    return sorted(set(rule_ids), key=lambda rule_id: position[rule_id])


def orphan_accounts(
    accounts: pa.Table, chosen: pa.Array, file: str
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Give the ``chosen`` accounts a customer that does not exist; describe those lines."""
    orphaned = pc.is_in(accounts["account_id"], chosen)
    ghosts = pc.binary_join_element_wise(
        "CUST_999", pc.utf8_slice_codeunits(accounts["account_id"], 4), ""
    )
    customer = pc.if_else(orphaned, ghosts, accounts["customer_id"])
    table = accounts.set_column(1, "customer_id", customer)
    rows = np.flatnonzero(orphaned.to_numpy(False)).tolist()
    records = [
        {
            "entity": "accounts",
            "file": file,
            "line": 2 + row,
            "key": accounts["account_id"][row].as_py(),
            "kind": ORPHAN,
            "outcome": "quarantined",
            "rule_ids": ["account_customer_known"],
        }
        for row in rows
    ]
    return table, records


def truncate_lines(csv_rows: bytes, rows: list[int]) -> bytes:
    """Cut the given data lines (0-based) of a headerless CSV chunk after their second field."""
    lines = csv_rows.split(b"\n")
    for row in rows:
        lines[row] = b",".join(lines[row].split(b",")[:2])
    return b"\n".join(lines)


def file_defects(
    rng: np.random.Generator, landing: Path, days: list[Path]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Whole-file defects: a day cut short, a day delivered twice, a file that is not UTF-8.

    Returns the records of the rows they add and of the files themselves.
    """
    cut, copied, source = (days[int(i)] for i in rng.integers(0, len(days), 3))
    folder = cut.parent.name
    # An interrupted transfer: the last line stops after two fields, with no line break.
    data = cut.read_bytes()
    line = data.count(b"\n") + 1
    _replace(cut, data + b"TX_9999999999,ACC_0")
    rows = [
        {
            "entity": "transactions",
            "file": f"{folder}/{cut.name}",
            "line": line,
            "key": "TX_9999999999",
            "kind": "truncated_last_line",
            "outcome": "quarantined",
            "rule_ids": [MALFORMED_ROW_RULE],
        }
    ]
    resent = copied.with_name(f"{copied.stem}_resent.csv")
    _replace(resent, copied.read_bytes())
    latin1 = source.with_name(f"{source.stem}_latin1.csv")
    header, first, *_ = source.read_bytes().split(b"\n", 2)
    accented = first.replace(b"Debit", b"D\xe9bit").replace(b"Credit", b"Cr\xe9dit")
    _replace(latin1, header + b"\n" + accented + b"\n")
    files: list[dict[str, Any]] = [
        {
            "file": f"{folder}/{resent.name}",
            "kind": "duplicate_file",
            "copy_of": f"{folder}/{copied.name}",
            "outcome": "duplicate",
        },
        {"file": f"{folder}/{latin1.name}", "kind": "not_utf8", "outcome": "rejected", "rows": 1},
    ]
    return rows, files


def _replace(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)
