"""A batch's scope in the lakehouse: what of it the plan reads, and what each commit replaces.

A batch reads the dimension history, the loaded transactions its keys may repeat, its files'
earlier quarantine rows and the Gold rows whose dimension history it changes; its commits
replace exactly those rows (and its files' rows), which makes a repeated batch change nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import AlwaysFalse, And, Or
from pyiceberg.table import Table

from banklake.engines import Engine, Rows
from banklake.lakehouse.catalog import after, at_least, at_most, is_in, is_null
from banklake.lakehouse.ledger import FileOutcome, Taken
from banklake.transform.sql import DIMENSIONS, sql_literal


def restated_since(
    accepted: list[Taken], known: dict[str, FileOutcome], snapshot_of: dict[str, date | None]
) -> date | None:
    """From which business date Gold must be re-enriched, because dimension history changed.

    A snapshot as early as the earliest on record reopens the history's open start, so every
    Gold row is re-enriched (``date.min``).
    """
    dimension_names = {e.name for e in DIMENSIONS}
    changed = [
        day
        for t in accepted
        if t.candidate.entity.name in dimension_names
        and (day := snapshot_of[t.candidate.name]) is not None
    ]
    if not changed:
        return None
    earliest_known = [
        d.business_date for d in known.values() if d.entity in dimension_names and d.business_date
    ]
    if not earliest_known or min(changed) <= min(earliest_known):
        return date.min
    return min(changed)


def of_files(table: Table, names: list[str]) -> Rows:
    """The rows loaded from the files ``names``."""
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


def or_restated(files: Rows, since: date | None) -> Rows:
    """The files' Gold rows, and every row dated ``since`` or later."""
    if since is None:
        return files
    if since == date.min:
        return Rows(files.table)
    day = since.isoformat()
    return Rows(
        files.table,
        f"({files.where}) OR tx_date >= DATE {sql_literal(day)}",
        Or(files.prune, at_least("tx_date", day)),
    )


def provide(
    engine: Engine,
    tables: dict[str, Table],
    accepted: list[Taken],
    known: dict[str, FileOutcome],
    snapshot_of: dict[str, date | None],
    since: date | None,
) -> dict[str, date | None]:
    """Give the engine the batch's files, snapshot dates and the rows already loaded it reads.

    Returns each dimension's history window: the date its history is rebuilt from.
    """
    names = [t.candidate.name for t in accepted]
    engine.register(
        "batch_files",
        pa.table(
            {
                "entity": [t.candidate.entity.name for t in accepted],
                "source_file": names,
                "snapshot_date": pa.array([snapshot_of[n] for n in names], pa.date32()),
            }
        ),
    )
    windows = _register_snapshot_dates(engine, accepted, known, snapshot_of)
    not_in_batch = f"source_file NOT IN ({_sql_list(names)})" if names else "TRUE"
    for entity in DIMENSIONS:
        engine.expose(f"prior_{entity.name}", Rows(tables[entity.name]))
    engine.expose("prior_transactions", _prior_transactions(engine, tables, not_in_batch))
    again = [t.candidate.name for t in accepted if not t.redelivered]
    engine.expose("prior_quarantine", of_files(tables["quarantine"], again))
    gold = tables["enriched_transactions"]
    if since is None:
        engine.expose("prior_gold", Rows(gold, "FALSE", AlwaysFalse()))
    elif since == date.min:
        engine.expose("prior_gold", Rows(gold, not_in_batch))
    else:
        engine.expose(
            "prior_gold",
            Rows(
                gold,
                f"tx_date >= DATE {sql_literal(since.isoformat())} AND {not_in_batch}",
                at_least("tx_date", since.isoformat()),
            ),
        )
    return windows


def _register_snapshot_dates(
    engine: Engine,
    accepted: list[Taken],
    known: dict[str, FileOutcome],
    snapshot_of: dict[str, date | None],
) -> dict[str, date | None]:
    """The snapshot dates each dimension's history is rebuilt over, from its window on.

    The window starts at the last snapshot on record before the batch's first one (None: the
    whole history); ``earliest`` marks the earliest snapshot on record.
    """
    rows: dict[str, list[Any]] = {"entity": [], "snapshot_date": [], "earliest": []}
    windows: dict[str, date | None] = {}
    for entity in DIMENSIONS:
        prior = {
            d.business_date
            for d in known.values()
            if d.entity == entity.name and d.business_date and d.source_file not in snapshot_of
        }
        batch = {
            day
            for t in accepted
            if t.candidate.entity is entity and (day := snapshot_of[t.candidate.name])
        }
        every = sorted(prior | batch)
        window = max((d for d in prior if batch and d < min(batch)), default=None)
        for day in every:
            if window is None or day >= window:
                rows["entity"].append(entity.name)
                rows["snapshot_date"].append(day)
                rows["earliest"].append(day == every[0])
        windows[entity.name] = window
    engine.register("snapshot_dates", pa.table(rows, schema=_SNAPSHOT_DATES))
    history_window = {"entity": list(windows), "since": list(windows.values())}
    engine.register("history_window", pa.table(history_window, schema=_HISTORY_WINDOW))
    return windows


def _prior_transactions(engine: Engine, tables: dict[str, Table], not_in_batch: str) -> Rows:
    """Loaded transactions the batch's keys may repeat: those in the batch's key range."""
    silver = tables["transactions"]
    if silver.current_snapshot() is None:  # an empty table has no keys
        return Rows(silver, "FALSE", AlwaysFalse())
    keys = engine.fetch("SELECT MIN(tx_id) AS lo, MAX(tx_id) AS hi FROM bronze_transactions")[0]
    if keys["lo"] is None:
        return Rows(silver, "FALSE", AlwaysFalse())
    return Rows(
        silver,
        f"tx_id BETWEEN {sql_literal(keys['lo'])} AND {sql_literal(keys['hi'])} AND {not_in_batch}",
        And(at_least("tx_id", keys["lo"]), at_most("tx_id", keys["hi"])),
    )


_SNAPSHOT_DATES = pa.schema(
    [("entity", pa.string()), ("snapshot_date", pa.date32()), ("earliest", pa.bool_())]
)
_HISTORY_WINDOW = pa.schema([("entity", pa.string()), ("since", pa.date32())])


def _sql_list(values: list[str]) -> str:
    return ", ".join(map(sql_literal, values))
