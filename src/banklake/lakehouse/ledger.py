"""The reconciliation ledger: per run and source file, what was read and where every row went.

It is also what makes loads exactly-once. A landed file is identified by its path and checksum:
a run takes only files whose path is new or whose content changed since the ledger last
recorded them (a re-delivery), and the ledger row is written after every table commit of the
batch, so a run that died before it leaves the files to be taken again by the next run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.table import Table

from banklake.bronze.files import Inventory, RejectedFile
from banklake.bronze.landing import Candidate, file_checksum

if TYPE_CHECKING:
    from banklake.engines import Engine

Status = Literal["loaded", "reprocessed", "rejected", "withdrawn", "ignored"]


@dataclass(frozen=True)
class Taken:
    """A landed file this batch takes, and why."""

    candidate: Candidate
    checksum: str
    redelivered: bool  # the path was loaded before with other content: its rows are replaced


@dataclass
class FileOutcome:
    """One ledger row: for every file, read = loaded + quarantined + duplicate."""

    batch_id: str
    entity: str
    source_file: str
    checksum: str
    size_bytes: int
    modified_ns: int
    business_date: date | None
    status: Status
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_flagged: int = 0
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    problem: str | None = None
    snapshot_ids: dict[str, int] = field(default_factory=dict)
    # The ranges its rows span, so later batches know which files theirs may interact with.
    key_min: str | None = None
    key_max: str | None = None
    date_min: date | None = None
    date_max: date | None = None

    @property
    def balanced(self) -> bool:
        placed = self.rows_loaded + self.rows_quarantined + self.rows_duplicate
        return self.status in ("rejected", "withdrawn", "ignored") or self.rows_read == placed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def records(ledger: Table) -> list[FileOutcome]:
    """Every ledger row, oldest first."""
    found = []
    names = set(FileOutcome.__dataclass_fields__)
    for row in ledger.scan().to_arrow().sort_by("recorded_at").to_pylist():
        record = FileOutcome(**{k: v for k, v in row.items() if k in names})
        record.quarantined_by_rule = dict(row["quarantined_by_rule"] or [])
        record.snapshot_ids = dict(row["snapshot_ids"] or [])
        found.append(record)
    return found


def deliveries(history: list[FileOutcome]) -> dict[str, FileOutcome]:
    """The latest record of every path, refusals included: what was last seen of each file."""
    return {record.source_file: record for record in history}


def holdings(history: list[FileOutcome]) -> dict[str, FileOutcome]:
    """The latest record of every path whose rows the tables hold (a refused or withdrawn
    delivery's rows have been retracted)."""
    held: dict[str, FileOutcome] = {}
    for record in history:
        if record.status in ("rejected", "withdrawn", "ignored"):
            held.pop(record.source_file, None)
        else:
            held[record.source_file] = record
    return held


def take_new(candidates: list[Candidate], known: dict[str, FileOutcome]) -> list[Taken]:
    """The files this run must load: new paths, and paths whose content changed.

    A file whose size and modification time are as recorded is not read at all; one that was
    touched but holds the same bytes is not loaded again.
    """
    changed = [
        candidate
        for candidate in candidates
        if (recorded := known.get(candidate.name)) is None
        or recorded.status == "withdrawn"
        or (recorded.size_bytes, recorded.modified_ns)
        != (candidate.size_bytes, candidate.modified_ns)
    ]
    # hashlib releases the GIL on large reads: files hash in parallel.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        checksums = pool.map(lambda c: file_checksum(c.path), changed)
    taken = []
    for candidate, checksum in zip(changed, checksums, strict=True):
        recorded = known.get(candidate.name)
        if recorded and recorded.status == "withdrawn":
            recorded = None  # put back after it was withdrawn: a new delivery
        if recorded and recorded.checksum == checksum:
            continue
        redelivered = recorded is not None and recorded.status != "rejected"
        taken.append(Taken(candidate, checksum, redelivered))
    return taken


def quarantined_files(quarantine: Table) -> set[str]:
    """Files that still have quarantined rows no run has resolved."""
    rows = quarantine.scan(selected_fields=("source_file", "resolved_at")).to_arrow()
    open_rows = rows.filter(pc.is_null(rows["resolved_at"]))
    return set(open_rows["source_file"].to_pylist())


class Ledger:
    """The load ledger, read once per batch: what the tables hold, what is new, and the rows
    that record a batch."""

    def __init__(self, table: Table) -> None:
        self.table = table
        history = records(table)
        self.deliveries = deliveries(history)  # what was last seen of every path
        self.holdings = holdings(history)  # what the tables hold, by path

    def take_new(self, candidates: list[Candidate]) -> list[Taken]:
        """The files to load: new paths, and paths delivered since with other content."""
        return take_new(candidates, self.deliveries)

    def again(self, candidate: Candidate) -> Taken:
        """A loaded file taken again: as it was loaded, or re-delivered if it changed since."""
        recorded = self.holdings[candidate.name]
        changed = take_new([candidate], {candidate.name: recorded})
        return changed[0] if changed else Taken(candidate, recorded.checksum, redelivered=False)

    def unloadable(self, landing: Inventory) -> list[FileOutcome]:
        """Rows for the files found refused or ignored that the ledger has not seen so (their
        batch id is given when they are recorded)."""
        found: list[tuple[str, Path, str, Status, str]] = [
            (r.name, r.path, r.entity.name if r.entity else "unknown", "rejected", r.problem)
            for r in landing.refused
        ] + [(i.name, i.path, "none", "ignored", str(i)) for i in landing.ignored]
        outcomes = []
        for name, path, entity, status, problem in found:
            try:
                stat = path.stat()
            except OSError:
                continue  # gone since it was listed
            seen = self.deliveries.get(name)
            if seen and (seen.status, seen.size_bytes, seen.modified_ns) == (
                status,
                stat.st_size,
                stat.st_mtime_ns,
            ):
                continue
            checksum = file_checksum(path) if path.is_file() else ""
            outcomes.append(
                FileOutcome(
                    "",
                    entity,
                    name,
                    checksum,
                    stat.st_size,
                    stat.st_mtime_ns,
                    None,
                    status,
                    problem=problem,
                )
            )
        return outcomes

    @staticmethod
    def rejected(
        batch_id: str, files: Iterable[RejectedFile], taken: Mapping[str, Taken]
    ) -> list[FileOutcome]:
        """Rows for the batch's files refused as they were read: none of their rows load."""
        return [
            FileOutcome(
                batch_id,
                file.entity.name,
                file.name,
                taken[file.name].checksum,
                taken[file.name].candidate.size_bytes,
                taken[file.name].candidate.modified_ns,
                file.business_date,
                "rejected",
                problem=file.problem,
            )
            for file in files
        ]

    @staticmethod
    def withdrawn(
        batch_id: str, withdrawn: Iterable[FileOutcome], snapshot_ids: dict[str, int]
    ) -> list[FileOutcome]:
        """Rows for the loaded files the batch withdrew, with the commits that retracted them."""
        return [
            replace(record, batch_id=batch_id, status="withdrawn", snapshot_ids=snapshot_ids)
            for record in withdrawn
        ]

    @staticmethod
    def of_batch(batch_id: str, outcomes: Iterable[FileOutcome]) -> list[FileOutcome]:
        """Rows made before the batch had an id (``unloadable``), given its id."""
        return [replace(outcome, batch_id=batch_id) for outcome in outcomes]

    def record(
        self,
        outcomes: list[FileOutcome],
        engine: Engine | None = None,
        summary: Mapping[str, str] | None = None,
    ) -> None:
        """Append a batch's rows: through its engine, in a commit with the batch's summary,
        or directly when no engine was needed (nothing but unloadable files to record)."""
        if engine is None:
            self.table.append(self._rows(outcomes))
        else:
            engine.append(self.table, self._rows(outcomes), summary or {})

    def _rows(self, outcomes: list[FileOutcome]) -> pa.Table:
        recorded_at = datetime.now(UTC)
        rows = [
            {
                **outcome.to_dict(),
                "quarantined_by_rule": list(outcome.quarantined_by_rule.items()),
                "snapshot_ids": list(outcome.snapshot_ids.items()),
                "recorded_at": recorded_at,
            }
            for outcome in outcomes
        ]
        return pa.Table.from_pylist(rows, schema=schema_to_pyarrow(self.table.schema()))
