"""Labelled defects: corrupt a share of the generated rows and record what each must become.

Each kind names the column it corrupts, how, and the outcome the pipeline must produce:
``quarantined`` with these rule ids, ``flagged`` (loads, with these warn rules in
``quality_flags``), or ``loaded`` unchanged (the pipeline cleans it). The manifest lists every
injected defect with its file and line, so a test can require the pipeline to match it exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from banklake.contracts import MALFORMED_ROW_RULE

Outcome = Literal["quarantined", "flagged", "loaded"]
MANIFEST_NAME = "defects_manifest.json"
TRUNCATED = "row_truncated"


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
) -> Injected:
    """Corrupt about ``rate`` of the rows of ``table`` (one defect each) and describe them."""
    rows = np.flatnonzero(rng.random(table.num_rows) < rate)
    chosen = [kinds[i] for i in rng.integers(0, len(kinds), len(rows))]
    columns = {kind.column for kind in chosen if kind.column is not None}
    values = {column: table[column].to_pylist() for column in columns}
    keys = values.get(key) or table[key].to_pylist()
    truncated, records = [], []
    for row, kind in zip(rows.tolist(), chosen, strict=True):
        if kind.column is None:
            truncated.append(row)
        else:
            values[kind.column][row] = kind.corrupt(values[kind.column][row])
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
    for column, new in values.items():
        table = table.set_column(
            table.schema.get_field_index(column), column, pa.array(new, pa.string())
        )
    return Injected(table, truncated, records)


def truncate_lines(csv_rows: bytes, rows: list[int]) -> bytes:
    """Cut the given data lines (0-based) of a headerless CSV chunk after their second field."""
    lines = csv_rows.split(b"\n")
    for row in rows:
        lines[row] = b",".join(lines[row].split(b",")[:2])
    return b"\n".join(lines)
