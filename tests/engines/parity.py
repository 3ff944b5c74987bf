"""Table contents an engine's run is compared by: every row, without what names the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from banklake.contracts import TABLES
from banklake.lakehouse.catalog import Lakehouse

# Per run, not per input: the batch's id and clock, the snapshots it committed, and when the
# landing copy's files were last touched.
RUN_COLUMNS = {
    "modified_ns",
    "batch_id",
    "quarantined_at",
    "resolved_at",
    "resolved_batch_id",
    "recorded_at",
    "snapshot_ids",
}


def contents(
    lakehouse: Path, landing: Path, namespace: str = "analytics_db"
) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted, with the run's own columns left out and the landing zone's
    place (in the messages about refused files) made relative."""
    tables = Lakehouse.local(lakehouse, namespace).tables()
    found = {}
    for contract in TABLES:
        rows = tables[contract.name].scan().to_arrow()
        kept = [c for c in rows.column_names if c not in RUN_COLUMNS]
        found[contract.name] = sorted(
            (
                tuple(_comparable(row[c], f"{landing}/") for c in kept)
                for row in rows.select(kept).to_pylist()
            ),
            key=repr,
        )
    return found


def _comparable(value: Any, landing: str) -> Any:
    if isinstance(value, list):  # a map column arrives as (key, value) pairs
        return tuple(sorted(tuple(pair) for pair in value))
    if isinstance(value, str):
        return value.replace(landing, "")
    return value
