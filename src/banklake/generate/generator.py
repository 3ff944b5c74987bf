"""Synthetic Bronze data: customers, accounts and one transactions file per business day.

Everything is vectorised with NumPy. The transactions' CSV lines are assembled as bytes by NumPy
(a table is made of them only for defects to edit); the snapshots are written by PyArrow's CSV
writer. Each day is generated in chunks of at most ``CHUNK_ROWS`` rows from its own random
stream, so memory does not grow with volume and the same options and seed always give
byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from banklake.bronze.landing import dimension_file_name, transactions_file_name
from banklake.contracts import (
    ACCOUNTS,
    CUSTOMERS,
    ENTITIES,
    KNOWN_COUNTRIES,
    MALFORMED_ROW_RULE,
    RULES,
    TRANSACTIONS,
    Entity,
)
from banklake.errors import UsageError
from banklake.generate.defects import (
    ACCOUNT_DEFECTS,
    CUSTOMER_DEFECTS,
    EARLIER_SNAPSHOT,
    LATE_CUSTOMER,
    MANIFEST_NAME,
    ORPHAN,
    TRANSACTION_DEFECTS,
    Injected,
    Lookups,
    Record,
    file_defects,
    inject,
    inject_snapshot,
    orphan_accounts,
    truncate_lines,
)
from banklake.generate.history import Lifecycle, lifecycle
from banklake.generate.memory import freed_memory_kept

CHUNK_ROWS = 1_000_000
MAX_DAYS = 3660  # ten years of daily files: more is a typo, and would take hours

FIRST_NAMES = [
    "Aarav",
    "Aisha",
    "Alex",
    "Amelia",
    "Ana",
    "Ben",
    "Carlos",
    "Chen",
    "Chloe",
    "Daniel",
    "Elena",
    "Emma",
    "Farah",
    "Felix",
    "Grace",
    "Hannah",
    "Hiro",
    "Ines",
    "Isaac",
    "Jana",
    "Jonas",
    "Julia",
    "Kai",
    "Leila",
    "Liam",
    "Lucas",
    "Maya",
    "Mei",
    "Noah",
    "Olivia",
    "Omar",
    "Priya",
    "Rahul",
    "Rosa",
    "Sara",
    "Sofia",
    "Tom",
    "Wei",
    "Yusuf",
    "Zoe",
]
LAST_NAMES = [
    "Ahmed",
    "Brown",
    "Chen",
    "Costa",
    "Davies",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Gupta",
    "Hansen",
    "Ivanova",
    "Jones",
    "Kim",
    "Kumar",
    "Lee",
    "Martin",
    "Meyer",
    "Miller",
    "Moreau",
    "Muller",
    "Nakamura",
    "Novak",
    "Patel",
    "Rossi",
    "Sato",
    "Schmidt",
    "Shah",
    "Silva",
    "Singh",
    "Smith",
    "Taylor",
    "Thomas",
    "Wagner",
    "Walker",
    "Wang",
    "Weber",
    "Williams",
    "Wilson",
    "Wright",
]
EMAIL_DOMAINS = ("example.com", "example.org", "mail.example.net")
# Country names as the seed writes them, with a realistic skew towards the bank's home markets.
COUNTRIES = KNOWN_COUNTRIES[:8]
_COUNTRIES = pa.array(COUNTRIES)
COUNTRY_WEIGHTS = (0.28, 0.2, 0.18, 0.12, 0.07, 0.06, 0.05, 0.04)
# Relative activity by hour of day (00..23) and by weekday (Monday..Sunday).
HOUR_WEIGHTS = (
    0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 1.0, 1.6, 2.0, 2.2, 2.3,
    2.5, 2.3, 2.1, 2.0, 2.1, 2.4, 2.6, 2.3, 1.8, 1.3, 0.9, 0.5,
)  # fmt: skip
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.05, 1.2, 0.8, 0.6)
# Amounts are log-normal by kind: 0 = debit (card spend, bills), 1 = credit (transfers in),
# 2 = salary-like credit; the mix gives the heavy tail real ledgers show.
_AMOUNT_KIND_CDF = np.cumsum([0.7, 0.21])
_AMOUNT_MU = np.log([45.0, 150.0, 2_500.0])
_AMOUNT_SIGMA = np.array([1.1, 1.0, 0.4])
MAX_AMOUNT_CENTS = 25_000_000  # 250,000.00: larger single transactions are out of scope here

(
    _STREAM_CUSTOMERS,
    _STREAM_ACCOUNTS,
    _STREAM_DAY_COUNTS,
    _STREAM_ACTIVITY,
    _STREAM_DAY,
    _STREAM_DEFECTS,
    _STREAM_HISTORY,
) = range(7)


@dataclass(frozen=True)
class GeneratorSpec:
    customers: int = 10_000
    accounts: int = 15_000
    days: int = 30
    transactions: int = 1_000_000
    end_date: date = field(default_factory=date.today)
    seed: int = 42
    defect_rate: float = 0.0  # share of rows given one labelled defect (see defects.py)
    # "last": one customers and accounts snapshot, as of the last day; "daily": one per day, in
    # which customers move, accounts open, close and change, and balances move (history.py).
    snapshots: Literal["last", "daily"] = "last"

    @property
    def start_date(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)

    @property
    def business_days(self) -> list[date]:
        return [self.start_date + timedelta(days=i) for i in range(self.days)]


@dataclass(frozen=True)
class GeneratedFiles:
    customers: list[Path]
    accounts: list[Path]
    transactions: list[Path]
    rows: dict[str, int]
    manifest: Path | None = None  # the injected defects, when there are any


def generate(
    spec: GeneratorSpec,
    landing: Path,
    on_day: Callable[[date], None] | None = None,
    replace: bool = False,
) -> GeneratedFiles:
    """Write the whole dataset under ``landing`` and return where it went.

    A landing zone that already holds files is refused, unless ``replace``: then what a
    generation writes (the entity folders and the defects manifest) is removed first.
    """
    _check(spec)
    _make_room(landing, replace)
    with freed_memory_kept():
        return _generate(spec, landing, on_day)


def _generate(
    spec: GeneratorSpec, landing: Path, on_day: Callable[[date], None] | None
) -> GeneratedFiles:
    account_bytes = _id_bytes("ACC_", spec.accounts)
    account_ids = _text(account_bytes)
    life = None
    if spec.snapshots == "daily":
        life = lifecycle(
            _rng(spec, _STREAM_HISTORY), spec.days, spec.customers, spec.accounts, _COUNTRIES
        )

    def snapshots() -> _Snapshots:
        customer_ids = _id_bytes("CUST_", spec.customers)
        customers = _customers(spec, customer_ids)
        accounts, balance_cents = _accounts(spec, account_ids, customer_ids)
        orphans = _orphans(spec, account_ids)
        return _write_snapshots(spec, landing, customers, accounts, balance_cents, life, orphans)

    lookups: Lookups | None = None  # what defects find in the snapshots, once written
    last = spec.days - 1
    activity = _rng(spec, _STREAM_ACTIVITY).lognormal(0.0, 1.2, spec.accounts)
    activity /= activity.sum()
    day_counts = _day_counts(spec)
    first_tx = np.concatenate([[1], 1 + np.cumsum(day_counts)[:-1]])

    # Only the manifest records are kept, never the chunks: memory stays bounded.
    found: dict[int, list[Record]] = {}

    def write_day(index: int) -> Path:
        day = spec.business_days[index]
        name = transactions_file_name(day)
        weights = activity
        if life is not None:  # no transaction on an account that is not open that day
            weights = np.where(life.open_on(index), activity, 0.0)
            weights /= weights.sum()
        chunks = _transaction_chunks(
            spec, index, day, int(day_counts[index]), int(first_tx[index]), account_bytes, weights
        )
        records = found.setdefault(index, [])

        def labelled() -> Iterator[Injected | list[np.ndarray]]:
            line = 2
            file = f"{TRANSACTIONS.folder}/{name}"
            for chunk, lines in enumerate(chunks):
                if spec.defect_rate <= 0:
                    yield lines.text
                    continue
                injected = _with_defects(
                    spec, lines.table(), file, (1, index, chunk), line, lookups, index == last
                )
                records.extend(injected.records)
                line += lines.num_rows
                yield injected

        return _write(landing / TRANSACTIONS.folder / name, TRANSACTIONS, labelled())

    # NumPy and Arrow release the GIL, so days generate in parallel; each day has its own random
    # stream, so the files do not depend on which thread wrote them.
    tx_paths = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        # The snapshots are written while the first days are; transactions wait for them only
        # when their defects depend on what the snapshots hold.
        written = pool.submit(snapshots)
        if spec.defect_rate > 0:
            lookups = written.result().lookups
        for day, path in zip(
            spec.business_days, pool.map(write_day, range(spec.days)), strict=True
        ):
            tx_paths.append(path)
            if on_day is not None:
                on_day(day)
        dimensions = written.result()
    rows = {
        CUSTOMERS.name: spec.customers,
        ACCOUNTS.name: spec.accounts,
        TRANSACTIONS.name: spec.transactions,
    }
    manifest = None
    if spec.defect_rate > 0:
        records = [*dimensions.records, *(r for index in sorted(found) for r in found[index])]
        added, broken = file_defects(_rng(spec, _STREAM_DEFECTS, 2), landing, tx_paths)
        files = [*dimensions.files, *broken]
        manifest = _write_manifest(landing, spec, [*records, *added], files)
    return GeneratedFiles(dimensions.customers, dimensions.accounts, tx_paths, rows, manifest)


@dataclass
class _Snapshots:
    customers: list[Path]
    accounts: list[Path]
    records: list[Record] = field(default_factory=list)  # the manifest's rows
    files: list[Record] = field(default_factory=list)  # and its whole files
    lookups: Lookups | None = None  # what transactions find when they look up their account


def _write_snapshots(
    spec: GeneratorSpec,
    landing: Path,
    customers: pa.Table,
    accounts: pa.Table,
    balance_cents: np.ndarray,
    life: Lifecycle | None,
    orphans: pa.Array,
) -> _Snapshots:
    """The customers and accounts snapshots: the latest one, or one per day (``life``)."""
    written = _Snapshots([], [])
    last = spec.days - 1
    for index in range(spec.days) if life else [last]:
        day = spec.business_days[index]
        customer_file = f"{CUSTOMERS.folder}/{dimension_file_name(CUSTOMERS, day)}"
        account_file = f"{ACCOUNTS.folder}/{dimension_file_name(ACCOUNTS, day)}"
        people = life.customers_on(customers, index) if life else customers
        table = life.accounts_on(accounts, balance_cents, index, _money) if life else accounts
        table, orphaned = orphan_accounts(table, orphans, account_file)
        if index == last and spec.defect_rate > 0:  # value and key defects: the latest snapshot
            latest = _dimension_defects(spec, people, table, orphans, customer_file, account_file)
            written.lookups = latest.lookups
            if life is None and spec.days > 1:
                earlier, written.lookups = _joins_late(spec, customers, table, latest)
                written.customers.append(
                    _write_table(landing / earlier.file, CUSTOMERS, earlier.table)
                )
                written.files.append(earlier.entry)
            people, table = latest.customers, latest.accounts
            written.records += latest.records
        else:
            written.records += orphaned
        written.customers.append(_write_table(landing / customer_file, CUSTOMERS, people))
        written.accounts.append(_write_table(landing / account_file, ACCOUNTS, table))
    return written


def _orphans(spec: GeneratorSpec, account_ids: pa.Array) -> pa.Array:
    """The accounts whose customer is made not to exist (a third of the defect rate)."""
    if spec.defect_rate <= 0:
        return pa.array([], pa.string())
    chosen = _rng(spec, _STREAM_DEFECTS, 3).random(spec.accounts) < spec.defect_rate / 3
    return account_ids.filter(pa.array(chosen))


def _with_defects(
    spec: GeneratorSpec,
    table: pa.Table,
    file: str,
    stream: tuple[int, ...],
    first_line: int,
    lookups: Lookups | None,
    latest: bool,
) -> Injected:
    if spec.defect_rate <= 0:
        return Injected(table, [], [])
    rng = _rng(spec, _STREAM_DEFECTS, *stream)
    return inject(
        table, TRANSACTION_DEFECTS, spec.defect_rate, rng, file, first_line, lookups, latest
    )


@dataclass(frozen=True)
class _Latest:
    """The latest snapshots with their defects, and what the transactions' lookups find."""

    customers: pa.Table
    accounts: pa.Table
    records: list[Record]
    lookups: Lookups
    touched: frozenset[str]  # customers with a defect, or whose row does not load


def _dimension_defects(
    spec: GeneratorSpec,
    customers: pa.Table,
    accounts: pa.Table,
    orphans: pa.Array,
    customer_file: str,
    account_file: str,
) -> _Latest:
    """Defects in the latest snapshots: an account does not load if its own row fails, or if
    its customer's does; then its transactions fail too."""
    rate = spec.defect_rate
    people = inject_snapshot(
        customers, CUSTOMERS, CUSTOMER_DEFECTS, rate, _rng(spec, _STREAM_DEFECTS, 0), customer_file
    )
    owned = inject_snapshot(
        accounts,
        ACCOUNTS,
        ACCOUNT_DEFECTS,
        rate,
        _rng(spec, _STREAM_DEFECTS, 4),
        account_file,
        frozenset(orphans.to_pylist()),
        people.failed,
    )
    latest = {account: ("tx_account_known", cause) for account, cause in owned.failed.items()}
    current = frozenset(accounts["account_id"].to_pylist()) - owned.failed.keys()
    # A single snapshot holds on every day. Daily ones hold these defects in the latest only:
    # before it, only the orphans are missing.
    earlier = latest
    if spec.snapshots == "daily":
        earlier = {
            account: ("tx_account_known", {"entity": ACCOUNTS.name, "key": account, "kind": ORPHAN})
            for account in orphans.to_pylist()
        }
    touched = {str(r["key"]) for r in people.records} | people.failed.keys()
    return _Latest(
        people.table,
        owned.table,
        [*people.records, *owned.records],
        Lookups(earlier, latest, current),
        frozenset(touched),
    )


@dataclass(frozen=True)
class _Earlier:
    file: str
    table: pa.Table
    entry: Record


def _joins_late(
    spec: GeneratorSpec, customers: pa.Table, accounts: pa.Table, latest: _Latest
) -> tuple[_Earlier, Lookups]:
    """A customers snapshot of the first day without some customers that are clean in the
    latest one: their accounts (in the latest snapshot) transact from the first day, and those
    transactions have no customer on their date."""
    import pyarrow.compute as pc  # only with defects: a plain generation does without it

    ids = customers["customer_id"]
    touched = pc.is_in(ids, pa.array(sorted(latest.touched), pa.string()))
    chosen = _rng(spec, _STREAM_DEFECTS, 5).random(len(ids)) < spec.defect_rate / 3
    late = pc.and_(pa.array(chosen), pc.invert(touched))
    joined = set(ids.filter(late).to_pylist())
    lookups = latest.lookups
    earlier = dict(lookups.earlier)
    for account, customer in zip(
        accounts["account_id"].to_pylist(), accounts["customer_id"].to_pylist(), strict=True
    ):
        if customer in joined and account in lookups.current:
            cause = {"entity": CUSTOMERS.name, "key": customer, "kind": LATE_CUSTOMER}
            earlier[account] = ("tx_customer_known", cause)
    file = f"{CUSTOMERS.folder}/{dimension_file_name(CUSTOMERS, spec.business_days[0])}"
    entry: Record = {
        "file": file,
        "kind": EARLIER_SNAPSHOT,
        "outcome": "loaded",
        "without": sorted(joined),
    }
    table = customers.filter(pc.invert(late))
    return _Earlier(file, table, entry), Lookups(earlier, lookups.latest, lookups.current)


def _write_manifest(
    landing: Path,
    spec: GeneratorSpec,
    records: list[Record],
    files: list[Record],
) -> Path:
    path = landing / MANIFEST_NAME
    partial = path.with_name(f".{path.name}.partial")
    reached = {rule for record in records for rule in record["rule_ids"]}
    catalogue = [*(rule.id for rule in RULES), MALFORMED_ROW_RULE]
    document = {
        "seed": spec.seed,
        "defect_rate": spec.defect_rate,
        # The rules some defect makes a row fail (all of them, once the data is big enough).
        "rules_covered": [rule for rule in catalogue if rule in reached],
        "rules_not_covered": [rule for rule in catalogue if rule not in reached],
        "defects": records,
        "files": files,
    }
    fields = ",\n".join(f"{json.dumps(name)}: {_json(value)}" for name, value in document.items())
    partial.write_text(f"{{\n{fields}\n}}\n")
    os.replace(partial, path)
    return path


def _json(value: object) -> str:
    """JSON, with a list of records one record a line: readable, and written by the C encoder
    (an indented dump is pure Python, seconds at a million transactions)."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return "[\n" + ",\n".join(map(json.dumps, value)) + "\n]"
    return json.dumps(value)


def _make_room(landing: Path, replace: bool) -> None:
    if landing.exists() and not landing.is_dir():
        raise UsageError(f"{landing} is a file, not a folder; pass another --landing")
    if not landing.exists() or not any(path.is_file() for path in landing.rglob("*")):
        return
    ours = [landing / entity.folder for entity in ENTITIES] + [landing / MANIFEST_NAME]
    if not replace:
        raise UsageError(
            f"{landing} already holds files; pass --replace to replace the generated ones "
            f"({', '.join(path.name for path in ours)}; other files stay), or another --landing"
        )
    for path in ours:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _check(spec: GeneratorSpec) -> None:
    for name in ("customers", "accounts", "days"):
        if getattr(spec, name) < 1:
            raise UsageError(f"--{name} must be at least 1, got {getattr(spec, name)}")
    if spec.days > MAX_DAYS:
        raise UsageError(f"--days must be at most {MAX_DAYS} (ten years), got {spec.days}")
    if spec.transactions < 0:
        raise UsageError(f"--transactions must not be negative, got {spec.transactions}")
    if not 0 <= spec.defect_rate <= 0.5:
        raise UsageError(f"--defect-rate must be between 0 and 0.5, got {spec.defect_rate}")


def _rng(spec: GeneratorSpec, *stream: int) -> np.random.Generator:
    # One independent stream per purpose (and per day and chunk), so any file can be produced
    # without producing the others first, and adding a stream never shifts another one.
    return np.random.default_rng([spec.seed, *stream])


def _id_bytes(prefix: str, count: int, first: int = 1, width: int = 6) -> np.ndarray:
    """``PREFIX000042``-style keys, zero-padded to ``width`` (wider when the numbers need it),
    one a row of a byte matrix: they all have the same width."""
    numbers = np.arange(first, first + count, dtype=np.int64)
    width = max(width, len(str(first + count - 1)))
    head = np.frombuffer(prefix.encode(), np.uint8)
    return np.hstack([np.broadcast_to(head, (count, len(head))), _digits(numbers, width)])


def _customers(spec: GeneratorSpec, ids: np.ndarray) -> pa.Table:
    """The customers, from the bytes of their keys."""
    rng = _rng(spec, _STREAM_CUSTOMERS)
    n = spec.customers
    first = _Words(FIRST_NAMES, rng.integers(0, len(FIRST_NAMES), n))
    last = _Words(LAST_NAMES, rng.integers(0, len(LAST_NAMES), n))
    domain = _Words(EMAIL_DOMAINS, rng.integers(0, len(EMAIL_DOMAINS), n))
    country = _Words(COUNTRIES, rng.choice(len(COUNTRIES), n, p=COUNTRY_WEIGHTS))
    number = ids[:, len("CUST_") :]  # CUST_000042 -> 000042 keeps every email unique
    email = [first.lower(), b".", last.lower(), number, b"@", domain.part()]
    email_lengths = first.lengths + last.lengths + number.shape[1] + domain.lengths + 2
    return pa.table(
        {
            "customer_id": _text(ids),
            "name": _column([first.part(), b" ", last.part()], first.lengths + 1 + last.lengths),
            "email": _column(email, email_lengths),
            "country": _column([country.part()], country.lengths),
        }
    )


class _Words:
    """A word from ``words`` for each of ``chosen`` (their indexes), as parts for :func:`_lines`."""

    def __init__(self, words: Sequence[str], chosen: np.ndarray) -> None:
        width = max(map(len, words))
        table = np.zeros((len(words), width), np.uint8)
        for row, word in enumerate(words):
            table[row, : len(word)] = np.frombuffer(word.encode(), np.uint8)
        self._words = words
        self._chosen = chosen
        self._bytes = table.take(chosen, axis=0)
        self.lengths = np.array([len(word) for word in words]).take(chosen)
        self._mask = np.arange(width) < self.lengths[:, None]

    def part(self) -> _Part:
        return (self._bytes, self._mask)

    def lower(self) -> _Part:
        lowered = _Words([word.lower() for word in self._words], self._chosen)
        return (lowered._bytes, self._mask)


def _column(parts: list[_Part], lengths: np.ndarray) -> pa.Array:
    """A string array of the rows :func:`_lines` assembles, given each row's length."""
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return _strings(len(lengths), offsets, _lines(len(lengths), parts))


def _accounts(
    spec: GeneratorSpec, ids: pa.Array, customer_ids: np.ndarray
) -> tuple[pa.Table, np.ndarray]:
    """The accounts as of the first day, and their balances in cents."""
    rng = _rng(spec, _STREAM_ACCOUNTS)
    n = spec.accounts
    # Every customer gets one account first; the rest go to random customers, so some hold several.
    owner = np.arange(n) % spec.customers
    extra = np.arange(n) >= spec.customers
    owner[extra] = rng.integers(0, spec.customers, int(extra.sum()))
    savings = rng.random(n) < 0.55
    balance = np.where(
        savings, rng.lognormal(np.log(8_000), 1.2, n), rng.lognormal(np.log(2_500), 1.0, n)
    )
    overdrawn = ~savings & (rng.random(n) < 0.05)
    balance_cents = np.round(np.where(overdrawn, -balance / 10, balance) * 100).astype(np.int64)
    table = pa.table(
        {
            "account_id": ids,
            "customer_id": _text(customer_ids.take(owner, axis=0)),
            "account_type": _text(_ACCOUNT_TYPES.take(savings, axis=0)),
            "balance": _money(balance_cents),
        }
    )
    return table, balance_cents


_ACCOUNT_TYPES = np.frombuffer(b"CurrentSavings", np.uint8).reshape(2, 7)  # by whether savings


def _day_counts(spec: GeneratorSpec) -> np.ndarray:
    weights = np.array([WEEKDAY_WEIGHTS[day.weekday()] for day in spec.business_days])
    counts: np.ndarray = _rng(spec, _STREAM_DAY_COUNTS).multinomial(
        spec.transactions, weights / weights.sum()
    )
    return counts


@dataclass(frozen=True)
class _Lines:
    """A chunk of transactions as the text of its CSV lines (no header)."""

    text: list[np.ndarray]  # uint8, one after the other
    num_rows: int

    def table(self) -> pa.Table:
        """The chunk's values as strings, for defects to edit."""
        columns = list(TRANSACTIONS.source_columns)
        if not self.num_rows:
            return pa.table({column: pa.array([], pa.string()) for column in columns})
        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(np.concatenate(self.text))),
            read_options=pacsv.ReadOptions(column_names=columns, use_threads=False),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(columns, pa.string())),
        )


def _transaction_chunks(
    spec: GeneratorSpec,
    day_index: int,
    day: date,
    count: int,
    first_tx: int,
    account_bytes: np.ndarray,
    activity: np.ndarray,
) -> Iterator[_Lines]:
    for chunk, start in enumerate(range(0, max(count, 1), CHUNK_ROWS)):
        n = min(CHUNK_ROWS, count - start)
        rng = _rng(spec, _STREAM_DAY, day_index, chunk)
        seconds = _hours(rng.random(n))
        seconds *= 3600
        seconds += rng.integers(0, 3600, n)
        # A bank's daily extract is in booking order. Counting the rows of each second of the
        # day sorts them in one pass; the times are then those seconds, repeated.
        per_second = np.bincount(seconds, minlength=len(_times_of_day()))
        # The kind a uniform draw falls in: how many bounds of the kinds' CDF it reaches (what
        # searchsorted finds, in two comparisons).
        draw = rng.random(n)
        kind = (draw >= _AMOUNT_KIND_CDF[0]).view(np.int8) + (draw >= _AMOUNT_KIND_CDF[1])
        amount = rng.lognormal(_AMOUNT_MU[kind], _AMOUNT_SIGMA[kind])
        amount *= 100  # in place: fewer fresh pages for the system to hand out
        cents = np.clip(np.round(amount, out=amount), 1, MAX_AMOUNT_CENTS, out=amount).astype(
            np.int64
        )
        # Per-account counts from one multinomial, then shuffled: cheaper than a weighted draw
        # per row, and the same distribution.
        accounts = np.repeat(np.arange(len(activity)), rng.multinomial(n, activity))
        rng.shuffle(accounts)
        times = np.repeat(_times_of_day(), per_second)
        first = first_tx + start
        width = max(10, len(str(first + n - 1)))
        # Formatted a block at a time: the byte matrices stay in the CPU's cache.
        text = [
            _transaction_text(
                day, first + block, width, account_bytes.take(accounts[block:end], axis=0),
                cents[block:end], kind[block:end] == 0, times[block:end],
            )
            for block, end in _blocks(n)
        ]  # fmt: skip
        yield _Lines(text, n)


TEXT_ROWS = 16_384

# The hour of a uniform draw is how many bounds of the hours' CDF it reaches, as
# ``rng.choice(24, p=...)`` finds them (by a binary search). A table of equal buckets of the
# draws, none holding two bounds, gives the same hour with one lookup and one comparison.
_HOUR_CDF = np.cumsum(np.array(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS))
_HOUR_CDF /= _HOUR_CDF[-1]
_HOUR_BUCKETS = 4096  # a power of two: draw * buckets is exact
_HOUR_FIRST = np.searchsorted(_HOUR_CDF[:-1], np.arange(_HOUR_BUCKETS) / _HOUR_BUCKETS, "right")
_HOUR_NEXT = np.append(_HOUR_CDF[:-1], np.inf)  # the bound a bucket's draws may reach
assert np.diff(_HOUR_CDF, prepend=0).min() > 1 / _HOUR_BUCKETS, "two bounds in a bucket"


def _hours(draws: np.ndarray) -> np.ndarray:
    below = _HOUR_FIRST.take((draws * _HOUR_BUCKETS).astype(np.intp))
    hours: np.ndarray = below + (draws >= _HOUR_NEXT.take(below))
    return hours


def _blocks(count: int) -> Iterator[tuple[int, int]]:
    for start in range(0, count, TEXT_ROWS):
        yield start, min(start + TEXT_ROWS, count)


def _transaction_text(
    day: date,
    first: int,
    width: int,
    accounts: np.ndarray,
    cents: np.ndarray,
    debit: np.ndarray,
    times: np.ndarray,
) -> np.ndarray:
    """The CSV lines of transactions ``first``, ``first + 1``, ... (their ids ``width`` digits),
    on ``accounts`` (their keys' bytes), for ``cents``, debits or credits, at ``times`` of
    ``day`` (``HH:MM:SS`` words)."""
    n = len(cents)
    numbers = np.arange(first, first + n, dtype=np.int64)
    return _lines(
        n,
        [
            b"TX_", _digits(numbers, width), b",", accounts, b",",
            *_amount_parts(cents), b",",
            _TYPE_BYTES.take(debit, axis=0), (b"t", ~debit[:, None]), b",",
            f"{day.isoformat()} ".encode(), times.view(np.uint8).reshape(n, 8), b"\n",
        ],
    )  # fmt: skip


# "Credit" and "Debit" less their last letter, by whether a debit: the "t" is a part of its own,
# left out for debits.
_TYPE_BYTES = np.frombuffer(b"CrediDebit", np.uint8).reshape(2, 5)
_Part = bytes | np.ndarray | tuple[bytes | np.ndarray, np.ndarray]


def _lines(count: int, parts: list[_Part]) -> np.ndarray:
    """Text from ``count`` rows of byte columns side by side: each part is constant bytes or an
    ``(count, width)`` byte matrix, or either with a mask of the bytes to keep. Assembling rows
    of fixed width and then dropping the masked bytes does in two NumPy passes what formatting
    each value, then each line, would do a value at a time."""
    pieces = [part if isinstance(part, tuple) else (part, None) for part in parts]
    widths = [len(v) if isinstance(v, bytes) else v.shape[-1] for v, _ in pieces]
    edges = np.cumsum([0, *widths])
    # One row holds every constant part and every mask that is all true: one pass each.
    row = np.zeros(edges[-1], np.uint8)
    kept = np.ones(edges[-1], bool)
    for (value, mask), left, right in zip(pieces, edges[:-1], edges[1:], strict=True):
        if isinstance(value, bytes):
            row[left:right] = np.frombuffer(value, np.uint8)
        if mask is not None:
            kept[left:right] = False
    matrix = np.empty((count, edges[-1]), np.uint8)
    matrix[:] = row
    keep = np.empty(matrix.shape, bool)
    keep[:] = kept
    for (value, mask), left, right in zip(pieces, edges[:-1], edges[1:], strict=True):
        if not isinstance(value, bytes):
            matrix[:, left:right] = value
        if mask is not None:
            keep[:, left:right] = mask
    text: np.ndarray = matrix[keep]
    return text


def _amount_parts(cents: np.ndarray) -> list[_Part]:
    """Positive cents as ``12.30``-style parts for :func:`_lines`: units without their leading
    zeros, a point and the hundredths."""
    width = len(str(int(cents.max(initial=0)) // 100))
    digits = _digits(cents, width + 2)
    # A digit of the units shows when the number reaches it; the last one always does.
    reached = 10 ** np.arange(width + 1, 1, -1, dtype=np.int64)
    reached[-1] = 0
    shown = cents[:, None] >= reached
    return [(digits[:, :width], shown), b".", digits[:, width:]]


# Text columns are formatted straight into byte buffers: at tens of millions of rows, Python
# string formatting (or even Arrow's casts) would dominate the generator's time.


# "0000".."9999" as four-byte words: one lookup per four digits instead of a division per digit.
_DIGIT_QUADS = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), np.uint32)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """The ASCII digits of non-negative integers, zero-padded: an ``(n, width)`` byte matrix."""
    quads = -(-width // 4)
    matrix = np.empty((len(values), quads), np.uint32)
    rest = values
    for column in range(quads - 1, 0, -1):
        rest, quad = np.divmod(rest, 10_000)
        matrix[:, column] = _DIGIT_QUADS.take(quad)
    matrix[:, 0] = _DIGIT_QUADS.take(rest % 10_000)
    return matrix.view(np.uint8)[:, 4 * quads - width :]


def _text(matrix: np.ndarray) -> pa.Array:
    """A string array from the rows of an ASCII byte matrix."""
    count, width = matrix.shape
    data = np.ascontiguousarray(matrix)  # Arrow's buffer holds the array: no copy
    offsets = np.arange(0, count * width + 1, width, dtype=np.int32)
    return _strings(count, offsets, data)


def _strings(count: int, offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(
        pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _money(cents: np.ndarray) -> pa.Array:
    """Exact ``-12.30``-style text from integer cents (no float rounding on the way)."""
    count = len(cents)
    units, hundredths = np.divmod(np.abs(cents), 100)
    width = len(str(int(units.max(initial=0))))
    powers = 10 ** np.arange(1, width, dtype=np.int64)
    used = np.searchsorted(powers, np.asarray(units), "right") + 1
    matrix = np.empty((count, 1 + width + 3), np.uint8)
    matrix[:, 0] = ord("-")
    matrix[:, 1 : 1 + width] = _digits(units, width)
    matrix[:, -3] = ord(".")
    matrix[:, -2:] = _digits(hundredths, 2)
    keep = np.ones(matrix.shape, bool)
    keep[:, 0] = cents < 0
    keep[:, 1 : 1 + width] = np.arange(width) >= (width - used)[:, None]
    offsets = np.zeros(count + 1, np.int32)
    np.cumsum(used + 3 + (cents < 0), out=offsets[1:])
    return _strings(count, offsets, matrix[keep])


@cache
def _times_of_day() -> np.ndarray:
    """``HH:MM:SS`` for every second of a day, each as one 8-byte word."""
    hours, minutes, seconds = np.unravel_index(np.arange(24 * 3600), (24, 60, 60))
    text = np.full((len(hours), 8), ord(":"), np.uint8)
    for column, values in zip((0, 3, 6), (hours, minutes, seconds), strict=True):
        text[:, column : column + 2] = _digits(values, 2)
    words: np.ndarray = text.view(np.uint64)[:, 0]
    return words


def _write(path: Path, entity: Entity, chunks: Iterable[Injected | list[np.ndarray]]) -> Path:
    """Write CSV chunks (tables, or the text of their lines) to a temporary name and rename it:
    a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    columns = list(entity.source_columns)
    schema = pa.schema([(column, pa.string()) for column in columns])
    # Generated values never contain a delimiter, quote or line break, so nothing needs quoting.
    options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
    rows_only = pacsv.WriteOptions(quoting_style="none", include_header=False)
    with (
        partial.open("wb") as handle,
        pacsv.CSVWriter(handle, schema, write_options=options) as writer,
    ):
        for chunk in chunks:
            if isinstance(chunk, list):
                handle.writelines(text.data for text in chunk)
                continue
            if not chunk.truncated:
                writer.write_table(chunk.table.select(columns))
                continue
            # A cut-short line cannot come from the CSV writer: write this chunk as edited text.
            buffer = pa.BufferOutputStream()
            pacsv.write_csv(chunk.table.select(columns), buffer, write_options=rows_only)
            handle.write(truncate_lines(buffer.getvalue().to_pybytes(), chunk.truncated))
    os.replace(partial, path)
    return path


def _write_table(path: Path, entity: Entity, table: pa.Table) -> Path:
    return _write(path, entity, [Injected(table, [], [])])
