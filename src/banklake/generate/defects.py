"""Labelled defects: corrupt a share of the generated rows and record what each must become.

Each kind names the column it corrupts, how, and the outcome the pipeline must produce:
``quarantined`` with these rule ids, ``flagged`` (loads, with these warn rules in
``quality_flags``), ``loaded`` unchanged (the pipeline cleans it) or ``duplicate`` (an identical
copy: one loads, the others are counted). The manifest lists every injected defect with its file
and line, and every row that fails because of another row's defect (an account whose customer
does not load, a transaction whose account or customer does not), with that ``cause``: a test
can require the pipeline to match it exactly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from banklake.contracts import (
    ACCOUNTS,
    MALFORMED_ROW_RULE,
    RULES,
    TRANSACTIONS,
    Entity,
    Severity,
)

Outcome = Literal["quarantined", "flagged", "loaded", "duplicate"]
MANIFEST_NAME = "defects_manifest.json"
TRUNCATED = "row_truncated"
DUPLICATE = "tx_duplicate"  # the previous row again, exactly: loads once, counted
CONFLICT = "tx_conflict"  # the previous row's tx_id with another amount: both held back
ORPHAN = "orphan_account"  # an account whose customer does not exist, and its transactions
LATE_CUSTOMER = "customer_joins_late"  # a customer absent from an earlier snapshot
EARLIER_SNAPSHOT = "earlier_snapshot"  # that snapshot, a file of its own
FUTURE = "timestamp_future"
# Kinds whose transaction is looked up on no date of the file: without a timestamp there is no
# date, a malformed row is never checked, and a future one is looked up on its own date.
_UNDATED = {"timestamp_invalid", TRUNCATED, FUTURE}
_WARN = {rule.id for rule in RULES if rule.severity is Severity.WARN}
Cause = dict[str, str]  # the row whose defect another row fails by: entity, key and kind
Record = dict[str, Any]


@dataclass(frozen=True)
class DefectKind:
    name: str
    column: str | None  # None: the defect is in the line's text, not in one value
    outcome: Outcome
    rule_ids: tuple[str, ...]
    corrupt: Callable[[str], str] = str
    # A dimension defect that is a second row with the key (``corrupt`` applied to its
    # ``column``, if any), written after the snapshot's last row.
    copy: bool = False


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
        FUTURE, "timestamp", "quarantined", ("timestamp_not_future",), lambda v: f"2999{v[4:]}"
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
    DefectKind(
        "customer_id_missing", "customer_id", "quarantined", ("customer_id_present",), lambda v: ""
    ),
    DefectKind(
        "customer_id_malformed",
        "customer_id",
        "quarantined",
        ("customer_id_format",),
        lambda v: v.replace("_", "-"),
    ),
    DefectKind("customer_duplicate", None, "duplicate", (), copy=True),
    DefectKind(
        "customer_conflict",
        "name",
        "quarantined",
        ("customer_id_conflict",),
        lambda v: f"{v} Jr",
        copy=True,
    ),
)
ACCOUNT_DEFECTS = (
    DefectKind(
        "account_id_missing", "account_id", "quarantined", ("account_id_present",), lambda v: ""
    ),
    DefectKind(
        "account_id_malformed",
        "account_id",
        "quarantined",
        ("account_id_format",),
        lambda v: v.replace("_", "-"),
    ),
    DefectKind(
        "account_type_invalid",
        "account_type",
        "quarantined",
        ("account_type_valid",),
        lambda v: "Checking",
    ),
    DefectKind(
        "balance_not_numeric", "balance", "quarantined", ("balance_numeric",), lambda v: f"{v} USD"
    ),
    DefectKind("account_duplicate", None, "duplicate", (), copy=True),
    DefectKind(
        "account_conflict",
        "account_type",
        "quarantined",
        ("account_id_conflict",),
        lambda v: "Current" if v == "Savings" else "Savings",
        copy=True,
    ),
)


@dataclass
class Injected:
    table: pa.Table
    truncated: list[int]  # row indexes whose line is to be cut short when written
    records: list[Record]  # the manifest entries


@dataclass
class Snapshot:
    """A dimension snapshot with its defects, and the keys of which no row loads."""

    table: pa.Table
    records: list[Record]
    failed: dict[str, Cause]  # key -> the defect that keeps it out


@dataclass(frozen=True)
class Lookups:
    """Why transactions on some accounts fail their lookups, by the date they are on.

    On the last day (or later) an account must hold in the latest snapshot; before it, in the
    snapshots of that day. ``current`` are the accounts that hold from the last day on.
    """

    earlier: dict[str, tuple[str, Cause]]  # account -> (rule, cause) before the last day
    latest: dict[str, tuple[str, Cause]]  # on the last day and after
    current: frozenset[str]

    def failing(self, latest: bool) -> tuple[dict[str, tuple[str, Cause]], pa.Array]:
        found = self.latest if latest else self.earlier
        return found, pa.array(sorted(found), pa.string())


def _kinds(kinds: tuple[DefectKind, ...], count: int, rng: np.random.Generator) -> list[DefectKind]:
    """``count`` kinds in turn from a random one: any ``len(kinds)`` in a row hold every kind."""
    start = int(rng.integers(0, len(kinds)))
    return [kinds[(start + i) % len(kinds)] for i in range(count)]


def _record(
    entity: str, file: str, line: int, key: str, kind: str, outcome: Outcome, rules: list[str]
) -> Record:
    return {
        "entity": entity,
        "file": file,
        "line": line,
        "key": key,  # as written (a corrupted key is written corrupted)
        "kind": kind,
        "outcome": outcome,
        "rule_ids": rules,
    }


def inject(
    table: pa.Table,
    kinds: tuple[DefectKind, ...],
    rate: float,
    rng: np.random.Generator,
    file: str,
    first_line: int,
    lookups: Lookups | None = None,
    latest: bool = False,
) -> Injected:
    """Corrupt about ``rate`` of the transactions of ``table`` (one defect each); describe them.

    Rows that fail a lookup (``lookups``; ``latest``: the file is of the last day) are described
    too: they fail with their account or its customer.
    """
    rows = np.flatnonzero(rng.random(table.num_rows) < rate)
    chosen = _kinds(kinds, len(rows), rng)
    # A copy of the previous row needs a previous row that is itself clean.
    taken = set(rows.tolist())
    pairs = [
        (row, kind)
        for row, kind in zip(rows.tolist(), chosen, strict=True)
        if kind.name not in (DUPLICATE, CONFLICT) or (row > 0 and row - 1 not in taken)
    ]
    copying = any(kind.name in (DUPLICATE, CONFLICT) for _, kind in pairs)
    columns = set(table.column_names) if copying else {k.column for _, k in pairs if k.column}
    key = TRANSACTIONS.key
    values = {column: table[column].to_pylist() for column in columns}
    keys = list(values.get(key) or table[key].to_pylist())
    truncated: list[int] = []
    records: list[Record] = []

    def record(row: int, kind: DefectKind) -> None:
        records.append(
            _record(
                TRANSACTIONS.name,
                file,
                first_line + row,
                keys[row],
                kind.name,
                kind.outcome,
                list(kind.rule_ids),
            )
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
    if lookups is not None:
        records = _cascade(table, lookups, latest, records, file, first_line)
    return Injected(table, truncated, records)


def _cascade(
    table: pa.Table,
    lookups: Lookups,
    latest: bool,
    records: list[Record],
    file: str,
    first_line: int,
) -> list[Record]:
    """Add the lookup rules transactions fail to their records (or give them one)."""
    import pyarrow.compute as pc  # imported when needed: a plain generation does without it

    by_line = {r["line"]: r for r in records}

    def fail(row: int, tx_id: str, rule: str, cause: Cause | None) -> None:
        found = by_line.get(first_line + row)
        if found is None:
            assert cause is not None  # a row with no defect of its own fails by another's
            found = _record(
                TRANSACTIONS.name, file, first_line + row, tx_id, cause["kind"], "quarantined", []
            )
            records.append(found)
        found["outcome"] = "quarantined"
        found["rule_ids"] = in_catalogue_order([*found["rule_ids"], rule])
        if cause is not None:
            found["cause"] = cause

    failing, accounts = lookups.failing(latest)
    hits = np.flatnonzero(pc.is_in(table["account_id"], accounts).to_numpy(False))
    # Only the few rows that fail are read into Python.
    found_rows = zip(
        hits.tolist(),
        table["tx_id"].take(hits).to_pylist(),
        table["account_id"].take(hits).to_pylist(),
        strict=True,
    )
    for row, tx_id, account in found_rows:
        found = by_line.get(first_line + row)
        if found is None or found["kind"] not in _UNDATED:
            fail(row, tx_id, *failing[account])
    # A future timestamp is looked up on its own date, after the last day.
    for found in [r for r in records if r["kind"] == FUTURE]:
        row = found["line"] - first_line
        account = table["account_id"][row].as_py()
        if account in lookups.latest:
            fail(row, found["key"], *lookups.latest[account])
        elif account not in lookups.current:
            fail(row, found["key"], "tx_account_known", None)
    return sorted(records, key=lambda r: r["line"])


def inject_snapshot(
    table: pa.Table,
    entity: Entity,
    kinds: tuple[DefectKind, ...],
    rate: float,
    rng: np.random.Generator,
    file: str,
    orphans: frozenset[str] = frozenset(),
    missing: dict[str, Cause] | None = None,
) -> Snapshot:
    """Give about ``rate`` of a dimension snapshot's rows one defect each; describe every row
    that fails, and which keys do not load.

    Copies are written after the last row. An account fails ``account_customer_known`` besides
    its own defect when it is one of the ``orphans`` or its customer is ``missing`` (does not
    load, for the given cause).
    """
    rows = np.flatnonzero(rng.random(table.num_rows) < rate).tolist()
    written = _Written.of(table, entity.key, rows, _kinds(kinds, len(rows), rng))
    missing = missing or {}
    records: list[Record] = []
    loads: set[str] = set()
    held: dict[str, Cause] = {}
    for row, defect in enumerate(written.own):
        origin = written.origin[row]
        rules = list(defect.rule_ids) if defect else []
        cause = None
        customer = written.values["customer_id"][row]
        if entity is ACCOUNTS and (origin in orphans or customer in missing):
            rules.append("account_customer_known")
            cause = missing.get(customer)
        quarantined = any(rule not in _WARN for rule in rules)
        if not quarantined and (defect is None or defect.outcome != "duplicate"):
            loads.add(origin)
        if defect is None and not rules:
            continue
        kind = defect.name if defect else cause["kind"] if cause else ORPHAN
        outcome: Outcome = "quarantined" if quarantined else defect.outcome if defect else "loaded"
        key = written.values[entity.key][row]
        found = _record(entity.name, file, 2 + row, key, kind, outcome, in_catalogue_order(rules))
        if key != origin:  # what its dependants (an account's customer_id) refer to
            found["original_key"] = origin
        if cause is not None:
            found["cause"] = cause
        records.append(found)
        if quarantined:  # its own defect keeps the key out, or the one it fails by
            mine = {"entity": entity.name, "key": origin, "kind": kind}
            held.setdefault(origin, cause if cause is not None and defect is None else mine)
    failed = {key: cause for key, cause in held.items() if key not in loads}
    return Snapshot(written.table(table.column_names), records, failed)


@dataclass
class _Written:
    """A snapshot's rows as written: values, the key each row stands for, and its defect."""

    values: dict[str, list[str]]
    origin: list[str]  # the key before any defect
    own: list[DefectKind | None]

    @classmethod
    def of(cls, table: pa.Table, key: str, rows: list[int], kinds: list[DefectKind]) -> _Written:
        values = {column: table[column].to_pylist() for column in table.column_names}
        written = cls(values, list(values[key]), [None] * table.num_rows)
        for row, kind in zip(rows, kinds, strict=True):
            if kind.copy:
                for column_values in values.values():
                    column_values.append(column_values[row])
                written.origin.append(written.origin[row])
                written.own.append(kind)
                if kind.column is not None:
                    values[kind.column][-1] = kind.corrupt(values[kind.column][-1])
            if kind.outcome != "duplicate":  # the row an identical copy repeats still loads
                written.own[row] = kind
                if not kind.copy and kind.column is not None:
                    values[kind.column][row] = kind.corrupt(values[kind.column][row])
        return written

    def table(self, columns: list[str]) -> pa.Table:
        return pa.table([pa.array(self.values[c], pa.string()) for c in columns], names=columns)


def in_catalogue_order(rule_ids: list[str]) -> list[str]:
    """Rule ids as the quarantine lists them: errors, then warnings, each in catalogue order."""
    return sorted(set(rule_ids), key=_POSITION.__getitem__)


_POSITION = {rule.id: (rule.severity is Severity.WARN, i) for i, rule in enumerate(RULES)}


def orphan_accounts(
    accounts: pa.Table, chosen: pa.Array, file: str
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Give the ``chosen`` accounts a customer that does not exist; describe those lines."""
    if not len(chosen):
        return accounts, []
    import pyarrow.compute as pc  # imported when needed: a plain generation does without it

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
