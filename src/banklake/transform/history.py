"""Dimension history (SCD type 2) as SQL: versions from full daily snapshots."""

from __future__ import annotations

from banklake.contracts import Entity, TableContract
from banklake.transform.sql import CONTENT, QUALITY_FLAGS, as_of, loads, sql_literal


def history_sql(entity: Entity, contract: TableContract) -> str:
    """The dimension's history (SCD type 2), rebuilt from the batch's snapshots on.

    Each snapshot date holds a full state: this batch's snapshots as checked, and every other
    date as the prior history says it was. A version starts where a key appears or its values
    change from the previous snapshot date, and ends at the first date that drops or changes it.
    Versions that start at the earliest snapshot on record are open towards the past.

    Only the dates from the last one before the batch's earliest snapshot (``history_window``)
    are rebuilt (``_rebuilt``); versions that ended by then are kept as they are, so a daily
    snapshot costs two dates' worth of work, not the whole history's, and only the rebuilt
    versions are written.
    """
    key = entity.key
    attributes = list(CONTENT[entity.name])
    typed = CONTENT[entity.name]
    batch_rows = ", ".join(f"{typed[a]} AS {a}" for a in attributes)
    prior_rows = ", ".join(f"h.{a}" for a in attributes)
    same = " AND ".join(
        f"LAG(st.{a}) OVER (PARTITION BY st.{key} ORDER BY st.d) <=> st.{a}" for a in attributes
    )
    picked = ", ".join(f"MIN_BY({a}, d) AS {a}" for a in attributes)
    columns = ", ".join((key, *attributes, "valid_from", "valid_to", "is_current"))
    kind = sql_literal(entity.name)
    assert contract.column_names[: len(attributes) + 4] == tuple(columns.split(", "))
    # A version's start is its first snapshot date (open if that is the earliest on record),
    # except for a prior version cut by the window's start: that keeps its own valid_from.
    cut = "_prior AND window_start AND NOT earliest"
    start = f"CASE WHEN {cut} THEN _from ELSE d END"
    open_start = f"CASE WHEN {cut} THEN _from IS NULL ELSE earliest END"
    return f"""
WITH dates AS (
  SELECT snapshot_date AS d, earliest,
    LAG(snapshot_date) OVER (ORDER BY snapshot_date) AS prev_d,
    LEAD(snapshot_date) OVER (ORDER BY snapshot_date) AS next_d
  FROM snapshot_dates WHERE entity = {kind}
),
states AS (
  SELECT {key}, {batch_rows}, {QUALITY_FLAGS}, _snapshot_date AS d,
    _source_file AS source_file, FALSE AS _prior, CAST(NULL AS DATE) AS _from
  FROM {entity.name}_checked WHERE {loads()}
  UNION ALL
  SELECT h.{key}, {prior_rows}, h.quality_flags, s.snapshot_date AS d, h.source_file,
    TRUE AS _prior, h.valid_from AS _from
  FROM prior_{entity.name} h
  JOIN snapshot_dates s ON s.entity = {kind} AND {as_of("h", "s.snapshot_date")}
  WHERE s.snapshot_date NOT IN (
    SELECT snapshot_date FROM batch_files WHERE entity = {kind})
),
marked AS (
  SELECT st.*, dates.earliest, dates.prev_d IS NULL AS window_start,
    CASE WHEN LAG(st.d) OVER (PARTITION BY st.{key} ORDER BY st.d) = dates.prev_d
      AND {same} THEN 0 ELSE 1 END AS starts
  FROM states st JOIN dates ON st.d = dates.d
),
versions AS (
  SELECT *, SUM(starts) OVER (PARTITION BY {key} ORDER BY d
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS version
  FROM marked
),
spans AS (
  SELECT {key}, {picked}, MAX(d) AS last_d,
    MAX(CASE WHEN starts = 1 AND {open_start} THEN 1 ELSE 0 END) AS open_start,
    MIN(CASE WHEN starts = 1 THEN {start} END) AS start_d,
    MIN_BY(source_file, d) AS source_file, MIN_BY(quality_flags, d) AS quality_flags
  FROM versions GROUP BY {key}, version
),
rebuilt AS (
  SELECT spans.{key}, {", ".join(f"spans.{a}" for a in attributes)},
    CASE WHEN open_start = 1 THEN NULL ELSE start_d END AS valid_from,
    dates.next_d AS valid_to, dates.next_d IS NULL AS is_current,
    spans.source_file, spans.quality_flags, TRUE AS _rebuilt
  FROM spans JOIN dates ON spans.last_d = dates.d
  UNION ALL
  SELECT {", ".join(f"h.{c}" for c in columns.split(", "))}, h.source_file, h.quality_flags,
    FALSE AS _rebuilt
  FROM prior_{entity.name} h JOIN history_window w ON w.entity = {kind}
  WHERE h.valid_to <= w.since
)
SELECT *, ROW_NUMBER() OVER (ORDER BY {key}, valid_from) AS _version FROM rebuilt"""
