"""A batch's scope: which loaded files it must decide again, what of the lakehouse it reads, and
what each commit replaces.

A clean run over the landing zone decides every row against all the others: a key against the
other rows with that key, an account against the customers snapshot of its date, a transaction
against the account and customer history on its date. A batch gives the same tables because it
decides again, from their files, every loaded row such a decision may have depended on:

- every file of a snapshot date the batch touches (rows of one date are compared together),
  and of every later date (a version may now start there);
- when a dimension's history changes from a date on, every file with rows from that date on
  that look it up (accounts look up customers; transactions look up both);
- every transactions file whose key range overlaps a re-decided file's, until none is left:
  rows sharing a key are always decided in one batch, so no decision rests on rows it cannot see.

The ledger records each file's snapshot date, key range and date range for this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysFalse, Or
from pyiceberg.table import Table

from banklake.bronze.landing import Candidate, RejectedFile, inspect, list_landing
from banklake.bronze.reader import read_file
from banklake.contracts import ACCOUNTS, CUSTOMERS, TRANSACTIONS
from banklake.engines import Engine, Rows
from banklake.errors import LandingError
from banklake.lakehouse.catalog import after, is_in, is_null
from banklake.lakehouse.ledger import FileOutcome, Ledger, Taken
from banklake.transform.sql import DIMENSIONS, sql_literal


@dataclass(frozen=True)
class Footprint:
    """What of a file's rows other files' rows may depend on, or it on theirs."""

    name: str
    entity: str
    snapshot: date | None = None  # dimensions: the snapshot date
    key_min: str | None = None  # transactions: the range of its keys
    key_max: str | None = None
    date_max: date | None = None  # transactions: its latest business date

    @classmethod
    def of(cls, record: FileOutcome) -> Footprint:
        return cls(
            record.source_file,
            record.entity,
            record.business_date,
            record.key_min,
            record.key_max,
            record.date_max,
        )

    def shares_keys_with(self, other: Footprint) -> bool:
        low, high, other_low, other_high = self.key_min, self.key_max, other.key_min, other.key_max
        if low is None or high is None or other_low is None or other_high is None:
            return False  # a file without keys decides nothing with others
        return not (high < other_low or other_high < low)


def snapshot_date(candidate: Candidate, today: date) -> date | None:
    """A dimension file's snapshot date (today when its name has none); a transactions
    file's date is only a label."""
    if candidate.entity in DIMENSIONS:
        return candidate.business_date or today
    return candidate.business_date


def with_dependents(
    landing: Path,
    ledger: Ledger,
    taken: list[Taken],
    withdrawn: dict[str, FileOutcome],
    today: date,
) -> list[Taken]:
    """The taken files, and the loaded files whose rows must be decided again with them."""
    known = ledger.holdings
    taken = list(taken)
    names = {t.candidate.name for t in taken} | set(withdrawn)
    footprints = [Footprint.of(record) for record in withdrawn.values()]
    for t in taken:
        if t.candidate.name in known:  # a re-delivery: what its earlier form touched
            footprints.append(Footprint.of(known[t.candidate.name]))
        if t.candidate.entity in DIMENSIONS:
            snapshot = snapshot_date(t.candidate, today)
            footprints.append(Footprint(t.candidate.name, t.candidate.entity.name, snapshot))
    held_transactions = any(
        r.entity == TRANSACTIONS.name and n not in names for n, r in known.items()
    )
    if held_transactions:  # the keys of new transactions files may repeat theirs
        footprints += [
            key_footprint(t.candidate) for t in taken if t.candidate.entity is TRANSACTIONS
        ]
    again = decided_again(known, footprints).again - names
    if not again:
        return taken
    landed = {c.name: c for c in list_landing(landing)}
    missing = sorted(again - landed.keys())
    if missing:
        raise LandingError(
            landing / missing[0],
            f"loaded earlier and no longer in the landing zone, but this batch must decide its "
            f"rows again ({len(missing)} such file(s)); put it back, or retract it with "
            f"`banklake withdraw {missing[0]}`",
        )
    return taken + [ledger.again(landed[name]) for name in sorted(again)]


def key_footprint(candidate: Candidate) -> Footprint:
    """A transactions file's key range, read from the file before the batch is planned."""
    inspected = inspect(candidate)
    if isinstance(inspected, RejectedFile):
        return Footprint(candidate.name, candidate.entity.name)
    try:
        keys = read_file(inspected).rows[TRANSACTIONS.key]
    except LandingError:
        return Footprint(candidate.name, candidate.entity.name)
    # As the plan compares keys: without surrounding spaces, and empty is no key.
    keys = pc.utf8_trim(keys, " ")
    keys = pc.filter(keys, pc.not_equal(keys, ""))
    bounds = pc.min_max(keys)
    return Footprint(
        candidate.name,
        candidate.entity.name,
        key_min=bounds["min"].as_py(),
        key_max=bounds["max"].as_py(),
    )


@dataclass(frozen=True)
class Decided:
    """The held files a batch decides again, and from which date dimension history changes."""

    again: frozenset[str]
    since: date | None  # None: no history changes; date.min: all of it


def decided_again(held: dict[str, FileOutcome], changed: Iterable[Footprint]) -> Decided:
    """The loaded files whose rows must be decided again because of the ``changed`` files
    (new files, new and earlier forms of re-delivered ones, withdrawn ones)."""
    changed = list(changed)
    others = {name: Footprint.of(r) for name, r in held.items()}
    again: set[str] = set()

    def touch(entity: str, dates: set[date]) -> date | None:
        """Decide again the files of every snapshot date after the last one before these, and
        say from when the history changes. (The history keeps each version's first file, not
        which file showed it on each later date: a version that now starts on a later date
        must be read from that date's files.)"""
        if not dates:
            return None
        on_record = {f.snapshot for f in others.values() if f.entity == entity and f.snapshot}
        window = max((day for day in on_record if day < min(dates)), default=None)
        again.update(
            name
            for name, f in others.items()
            if f.entity == entity and f.snapshot and (window is None or f.snapshot > window)
        )
        return _history_changes(others, entity, dates)

    def snapshots(entity: str) -> set[date]:
        return {f.snapshot for f in changed if f.entity == entity and f.snapshot}

    customers_since = touch(CUSTOMERS.name, snapshots(CUSTOMERS.name))
    accounts = snapshots(ACCOUNTS.name)
    if customers_since is not None:  # accounts look their customer up in that history
        accounts |= {
            f.snapshot
            for f in others.values()
            if f.entity == ACCOUNTS.name and f.snapshot and f.snapshot >= customers_since
        }
    accounts_since = touch(ACCOUNTS.name, accounts)
    since = min((d for d in (customers_since, accounts_since) if d is not None), default=None)
    transactions = {n: f for n, f in others.items() if f.entity == TRANSACTIONS.name}
    frontier = [f for f in changed if f.entity == TRANSACTIONS.name]
    if since is not None:
        dated = [f for n, f in transactions.items() if f.date_max and f.date_max >= since]
        again.update(f.name for f in dated)
        frontier += dated
    while frontier:  # every file a re-decided file shares keys with, and theirs, ...
        current = frontier.pop()
        for name, other in transactions.items():
            if name not in again and current.shares_keys_with(other):
                again.add(name)
                frontier.append(other)
    return Decided(frozenset(again), since)


def _history_changes(others: dict[str, Footprint], entity: str, dates: set[date]) -> date | None:
    """From which date a dimension's history changes when its snapshots of ``dates`` do.

    A snapshot as early as the earliest on record moves the history's open start, so all of
    it changes (``date.min``).
    """
    if not dates:
        return None
    on_record = [f.snapshot for f in others.values() if f.entity == entity and f.snapshot]
    if not on_record or min(dates) <= min(on_record):
        return date.min
    return min(dates)


def of_files(table: Table, names: Iterable[str]) -> Rows:
    """The rows loaded from the files ``names``."""
    names = sorted(names)
    if not names:
        return Rows(table, "FALSE", AlwaysFalse())
    return Rows(table, f"source_file IN ({_sql_list(names)})", is_in("source_file", names))


def from_window(table: Table, window: date | None) -> Rows:
    """A dimension's versions still valid on the day its history window starts, or later."""
    if window is None:
        return Rows(table)
    day = window.isoformat()
    return Rows(
        table,
        f"valid_to IS NULL OR valid_to > DATE {sql_literal(day)}",
        Or(is_null("valid_to"), after("valid_to", day)),
    )


@dataclass(frozen=True)
class Scope:
    """A batch's scope, computed once its files are read: the relations it gives the plan,
    what of the lakehouse it reads, and the rows each table's commit replaces."""

    taken: dict[str, Taken]  # every file the batch decides (read or not), by name
    snapshots: dict[str, date | None]  # each file read: its snapshot date (dimensions)
    relations: dict[str, pa.Table]  # batch_files, snapshot_dates, history_window
    exposed: dict[str, Rows]  # the dimension history and earlier quarantine it reads
    rebuilt: frozenset[str]  # the dimensions whose history the batch rewrites
    replaced: dict[str, Rows]  # per table: the rows its commit replaces

    @classmethod
    def of(
        cls,
        tables: dict[str, Table],
        known: dict[str, FileOutcome],
        taken: list[Taken],
        read: list[str],
        withdrawn: dict[str, FileOutcome],
        today: date,
    ) -> Scope:
        """The scope of a batch that decides ``taken`` and withdraws ``withdrawn``, of whose
        files it read ``read``; ``known`` is what the tables held before it."""
        by_name = {t.candidate.name: t for t in taken}
        snapshots = {name: snapshot_date(by_name[name].candidate, today) for name in read}
        files = {n: (by_name[n].candidate.entity.name, day) for n, day in snapshots.items()}
        earlier = {n: known[n] for n in by_name if n in known} | withdrawn
        changed = _snapshots(earlier)  # what its files' earlier forms and withdrawn ones held
        prior = _snapshots({n: r for n, r in known.items() if n not in earlier})
        dates, windows = _snapshot_dates(files, prior, changed)
        rerun = [name for name in read if name in known and not by_name[name].redelivered]
        return cls(
            taken=by_name,
            snapshots=snapshots,
            relations={
                "batch_files": _batch_files(files),
                "snapshot_dates": dates,
                "history_window": _history_window(windows),
            },
            exposed={
                **{f"prior_{entity.name}": Rows(tables[entity.name]) for entity in DIMENSIONS},
                "prior_quarantine": of_files(tables["quarantine"], rerun),
            },
            # The dimensions it has snapshots of, or had.
            rebuilt=frozenset(
                {entity for entity, _ in files.values() if entity in changed}
                | {entity for entity, days in changed.items() if days}
            ),
            replaced=_replaced(tables, windows, [*by_name, *withdrawn]),
        )

    def provide(self, engine: Engine) -> None:
        """Give the engine what the plan reads besides the batch's Bronze rows."""
        for name, rows in self.relations.items():
            engine.register(name, rows)
        for name, exposed in self.exposed.items():
            engine.expose(name, exposed)


def _snapshots(records: dict[str, FileOutcome]) -> dict[str, set[date]]:
    """Each dimension's snapshot dates among ``records``."""
    found: dict[str, set[date]] = {entity.name: set() for entity in DIMENSIONS}
    for record in records.values():
        if record.entity in found and record.business_date:
            found[record.entity].add(record.business_date)
    return found


def _replaced(
    tables: dict[str, Table], windows: dict[str, date | None], files: list[str]
) -> dict[str, Rows]:
    """Every table loses the rows of the batch's files (read, refused or withdrawn) and gains
    what the batch made of them; a dimension's versions from its history window on are
    replaced by the rebuilt ones."""
    return {
        **{name: from_window(tables[name], window) for name, window in windows.items()},
        "transactions": of_files(tables["transactions"], files),
        "quarantine": of_files(tables["quarantine"], files),
        "enriched_transactions": of_files(tables["enriched_transactions"], files),
    }


def _batch_files(files: dict[str, tuple[str, date | None]]) -> pa.Table:
    """The batch's files read (name → entity, snapshot date)."""
    names = sorted(files)
    return pa.table(
        {
            "entity": [files[n][0] for n in names],
            "source_file": names,
            "snapshot_date": pa.array([files[n][1] for n in names], pa.date32()),
        }
    )


def _snapshot_dates(
    files: dict[str, tuple[str, date | None]],
    prior_snapshots: dict[str, set[date]],
    changed_snapshots: dict[str, set[date]],
) -> tuple[pa.Table, dict[str, date | None]]:
    """The snapshot dates each dimension's history is rebuilt over, and its history window:
    the date the rebuilt history starts from.

    ``prior_snapshots`` are the dates on record outside the batch; the batch changes those in
    ``changed_snapshots`` (its earlier and withdrawn files') and its own. The window starts at
    the last snapshot on record before the batch's first change (None: the whole history);
    ``earliest`` marks the earliest snapshot that remains.
    """
    rows: dict[str, list[Any]] = {"entity": [], "snapshot_date": [], "earliest": []}
    windows: dict[str, date | None] = {}
    for entity in DIMENSIONS:
        prior = prior_snapshots.get(entity.name, set())
        batch = {day for kind, day in files.values() if kind == entity.name and day}
        changed = changed_snapshots.get(entity.name, set()) | batch
        every = sorted(prior | batch)
        window = max((d for d in prior if changed and d < min(changed)), default=None)
        for day in every:
            if window is None or day >= window:
                rows["entity"].append(entity.name)
                rows["snapshot_date"].append(day)
                rows["earliest"].append(day == every[0])
        windows[entity.name] = window
    return pa.table(rows, schema=_SNAPSHOT_DATES), windows


def _history_window(windows: dict[str, date | None]) -> pa.Table:
    rows = {"entity": list(windows), "since": list(windows.values())}
    return pa.table(rows, schema=_HISTORY_WINDOW)


_SNAPSHOT_DATES = pa.schema(
    [("entity", pa.string()), ("snapshot_date", pa.date32()), ("earliest", pa.bool_())]
)
_HISTORY_WINDOW = pa.schema([("entity", pa.string()), ("since", pa.date32())])


def _sql_list(values: list[str]) -> str:
    return ", ".join(map(sql_literal, values))
