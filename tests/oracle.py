"""What the lakehouse must hold, computed straight from the landing files by a model of its own.

Plain Python over the CSVs (``csv``, ``decimal``, ``datetime``) that shares no code with banklake,
so the tests can hold the pipeline's tables and verify's verdicts against an expected value the
code under test did not compute. It models the README's rules for the files tests write: plain
``.csv`` files under ``customers/``, ``accounts/`` and ``transactions/``, dated in their names,
timestamps ``YYYY-MM-DD HH:MM:SS`` in UTC, and snapshots that are each a customer's or an
account's full state on their date.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
_ID = {"customer_id": r"CUST_\d{1,12}", "account_id": r"ACC_\d{1,12}", "tx_id": r"TX_\d{1,18}"}
_PLAIN_AMOUNT = re.compile(r" *-?\d+(\.\d{1,2})? *")
_NUMBER = re.compile(r" *[+-]?(\d+\.?\d*|\.\d+) *")
_TYPES = {"credit": "Credit", "debit": "Debit"}
_COLUMNS = {
    "customers": ("customer_id", "name", "email", "country"),
    "accounts": ("account_id", "customer_id", "account_type", "balance"),
    "transactions": ("tx_id", "account_id", "amount", "tx_type", "timestamp"),
}


@dataclass(frozen=True)
class Transaction:
    tx_id: str
    customer_id: str
    name: str
    amount: Decimal
    tx_type: str
    tx_date: date


@dataclass
class Expected:
    """Test 1's terms and Gold's rows, as the landing files dictate them."""

    rows_read: int = 0
    rows_in_rejected_files: int = 0
    duplicates: int = 0
    gold: list[Transaction] = field(default_factory=list)
    rejected_files: list[str] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return self.rows_read - self.rows_in_rejected_files - self.duplicates - len(self.gold)

    def top3(self, end: date) -> list[tuple[str, Decimal]]:
        """The corrected Test 2: credits of the 30 days up to ``end``, by customer id."""
        days = {end - timedelta(days=back) for back in range(30)}
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for tx in self.gold:
            if tx.tx_type == "Credit" and tx.tx_date in days:
                totals[tx.customer_id] += tx.amount
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:3]

    def seed_top3(self) -> list[tuple[str, Decimal]]:
        """The seed's Test 2 as written: every credit ever, grouped by name."""
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for tx in self.gold:
            if tx.tx_type == "Credit":
                totals[tx.name] += tx.amount
        return sorted(totals.items(), key=lambda item: -item[1])[:3]


def expected(landing: Path, now: datetime | None = None) -> Expected:
    """Everything the landing zone ``landing`` must become."""
    now = now or datetime.now(UTC)
    result = Expected()
    customers = _History(_snapshots(landing, "customers", result, _valid_customer))
    accounts = _History(
        _snapshots(landing, "accounts", result, _valid_account_at(customers)),
    )
    records = [r for _, file in _files(landing, "transactions", result) for r in file]
    result.rows_read += len(records)
    checked = [(record, _transaction(record, accounts, customers, now)) for record in records]
    by_key: dict[str, list[tuple[dict[str, str], Transaction | None, tuple[str, ...]]]] = (
        defaultdict(list)
    )
    for record, (tx, content) in checked:
        if content is not None:  # malformed rows never reach the key comparison
            by_key[record["tx_id"].strip(" ")].append((record, tx, content))
    for copies in by_key.values():
        if len({content for _, _, content in copies}) > 1:
            continue  # a conflict: every version is held back
        valid = [tx for _, tx, _ in copies if tx is not None]
        if valid and len(valid) == len(copies):
            result.gold.append(valid[0])
            result.duplicates += len(copies) - 1
    return result


def _files(landing: Path, entity: str, result: Expected) -> list[tuple[str, list[dict[str, str]]]]:
    """The records of each file of ``entity``, by header name (``{}``: malformed). A file that
    is not UTF-8 is refused whole: it has no records, and is listed in ``rejected_files``."""
    out = []
    for path in sorted((landing / entity).glob("*.csv")):
        name = f"{entity}/{path.name}"
        data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            result.rejected_files.append(name)
            if entity == "transactions":
                rows = _records(data.decode("latin-1"))
                result.rows_read += len(rows) - 1
                result.rows_in_rejected_files += len(rows) - 1
            continue
        header, *rows = _records(text)
        columns = [column.strip(" ").lower() for column in header]
        if any(columns.count(column) != 1 for column in _COLUMNS[entity]):
            result.rejected_files.append(name)  # a column missing or repeated
            if entity == "transactions":
                result.rows_read += len(rows)
                result.rows_in_rejected_files += len(rows)
            continue
        out.append((name, [_record(columns, fields) for fields in rows]))
    return out


def _records(text: str) -> list[list[str]]:
    return [r for r in csv.reader(io.StringIO(text, newline="")) if r]  # [] is a blank line


def _record(header: list[str], fields: list[str]) -> dict[str, str]:
    if len(fields) != len(header):
        return {}  # malformed: not split into the header's fields
    return dict(zip(header, fields, strict=True))


Content = tuple[str, ...]
Validity = Callable[[dict[str, str], date], Content | None]


def _snapshots(
    landing: Path, entity: str, result: Expected, valid: Validity
) -> dict[date, dict[str, Content]]:
    """Per snapshot date, the valid rows by key: a key with differing rows in one snapshot is
    none of them, identical copies are one."""
    versions: dict[date, dict[str, set[Content | None]]] = defaultdict(lambda: defaultdict(set))
    key = f"{entity[:-1]}_id"
    for name, records in _files(landing, entity, result):
        day = date.fromisoformat(_DATE_IN_NAME.findall(name)[0])  # a date's files are one
        for record in records:
            if record and re.fullmatch(_ID[key], record[key].strip(" ")):
                versions[day][record[key].strip(" ")].add(valid(record, day))
    snapshots: dict[date, dict[str, Content]] = {}
    for day, by_key in versions.items():
        kept = {k: next(iter(v)) for k, v in by_key.items() if len(v) == 1}
        snapshots[day] = {k: content for k, content in kept.items() if content is not None}
    return snapshots


class _History:
    """A dimension's state on a date: the latest snapshot on or before it; before the first
    snapshot, the first one (its versions have an open start)."""

    def __init__(self, snapshots: dict[date, dict[str, tuple[str, ...]]]) -> None:
        self.snapshots = dict(sorted(snapshots.items()))

    def on(self, day: date) -> dict[str, tuple[str, ...]]:
        if not self.snapshots:
            return {}
        dates = [d for d in self.snapshots if d <= day] or [next(iter(self.snapshots))]
        return self.snapshots[dates[-1]]


def _valid_customer(record: dict[str, str], day: date) -> tuple[str, ...] | None:
    return (record["name"].strip(" "), record["email"].strip(" "), record["country"].strip(" "))


def _valid_account_at(customers: _History) -> Validity:
    def valid(record: dict[str, str], day: date) -> tuple[str, ...] | None:
        kind = record["account_type"].strip(" ").lower()
        owner = record["customer_id"].strip(" ")
        if kind not in ("savings", "current") or _decimal(record["balance"]) is None:
            return None
        if owner not in customers.on(day):
            return None
        return (owner, kind, str(_decimal(record["balance"])))

    return valid


def _decimal(value: str) -> Decimal | None:
    if not _NUMBER.fullmatch(value):
        return None
    try:
        return Decimal(value.strip(" ")).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _transaction(
    record: dict[str, str], accounts: _History, customers: _History, now: datetime
) -> tuple[Transaction | None, tuple[str, ...] | None]:
    """The Gold row ``record`` becomes (None: it is quarantined), and the content that makes
    two rows with its key the same (None: malformed)."""
    if not record:
        return None, None
    tx_id, account = record["tx_id"].strip(" "), record["account_id"].strip(" ")
    amount = _decimal(record["amount"])
    kind = _TYPES.get(record["tx_type"].strip(" ").lower())
    try:
        moment = datetime.strptime(record["timestamp"].strip(" "), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        moment = None
    content = (account, str(amount), str(kind), str(moment))
    if not re.fullmatch(_ID["tx_id"], tx_id) or amount is None or kind is None or not moment:
        return None, content
    if amount <= 0 or not _PLAIN_AMOUNT.fullmatch(record["amount"]):
        return None, content
    if moment.replace(tzinfo=UTC) > now + timedelta(days=1):
        return None, content
    on = moment.date()
    owner = accounts.on(on).get(account)
    if owner is None or owner[0] not in customers.on(on):
        return None, content
    name = customers.on(on)[owner[0]][0]
    return Transaction(tx_id, owner[0], name, amount, kind, on), content
