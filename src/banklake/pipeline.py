"""One pipeline run: the landing zone's new files → Silver, quarantine, Gold and the ledger.

A run takes only what is new (the ledger knows what was loaded, by path and checksum), so
running it again changes nothing. Order matters for safety:

1. Every output is written as uncommitted data files and audited (each file's rows add up)
   before anything is committed: readers never see an unaudited batch.
2. Each table's commit replaces the rows of the batch's files (and, for Gold, of the dates whose
   dimension history changed) atomically; doing it twice gives the same table.
3. The ledger is written last. A run that dies before it has not happened, as far as the next
   run is concerned: that run takes the same files and converges to the same tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from pyiceberg.table import Table

from banklake import __version__
from banklake.bronze.inventory import inventory
from banklake.bronze.landing import LandingBatch, RejectedFile, batch_of, list_landing
from banklake.bronze.reader import line_texts
from banklake.config import Settings
from banklake.contracts import TRANSACTIONS
from banklake.engines import Engine, FileCount, Rows, Staged, create_engine, known_engine
from banklake.errors import AuditError, UsageError
from banklake.faults import crash_point
from banklake.lakehouse.catalog import Lakehouse, catalog_errors
from banklake.lakehouse.ledger import FileOutcome, Ledger, Status, Taken, quarantined_files
from banklake.lakehouse.lock import writer_lock
from banklake.lakehouse.maintenance import JobResult
from banklake.scope import Scope, with_dependents
from banklake.transform import Step, plan
from banklake.transform.plan import (
    FAILED_LINE_TEXTS,
    failed_lines_sql,
    file_outcomes_sql,
    findings_sql,
)
from banklake.transform.sql import DIMENSIONS

Progress = Callable[[str], None]


@dataclass
class TableWrite:
    table: str
    rows: int
    data_files: int
    snapshot_id: int | None


@dataclass
class RunResult:
    batch_id: str
    engine: str
    landing: str
    lakehouse: str
    started_at: str
    seconds: float = 0.0
    files: list[FileOutcome] = field(default_factory=list)  # the ledger rows of this batch
    unchanged_files: int = 0  # landed files already loaded as they are
    not_loaded: list[str] = field(default_factory=list)  # refused, ignored, out of range: why
    tables: list[TableWrite] = field(default_factory=list)
    retracted: int = 0  # rows earlier deliveries of re-delivered or withdrawn files had loaded
    findings: list[dict[str, Any]] = field(default_factory=list)  # rows per rule and severity

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "rejected"]

    def rows_read(self, entity: str) -> int:
        return sum(f.rows_read for f in self.files if f.entity == entity)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quiet(_message: str) -> None:
    pass


def new_batch_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S.%fZ")


def run(
    settings: Settings,
    engine: str | Engine = "embedded",
    progress: Progress | None = None,
    since: date | None = None,
    until: date | None = None,
    lakehouse: Lakehouse | None = None,
) -> RunResult:
    """Load what is new in the landing zone (dated ``since``..``until`` when given).

    The engine is named, or given ready (the Glue job's, on its own Spark session); the
    lakehouse is the local one unless given (the Glue job's S3 Tables catalog).
    """
    say = progress or _quiet
    with writer_lock(settings.lakehouse, "run", settings.lock_timeout_seconds, say):
        lakehouse = lakehouse or Lakehouse.local(settings.lakehouse, settings.namespace)
        tables = lakehouse.ensure_tables(settings)
        ledger = Ledger(tables["load_ledger"])
        say("looking for new files")
        landing = inventory(settings.landing, since, until)
        # Files outside the range are worth a word only while they are still to be loaded.
        pending = {t.candidate.name for t in ledger.take_new(landing.out_of_range)}
        landing = replace(
            landing, out_of_range=[c for c in landing.out_of_range if c.name in pending]
        )
        taken = ledger.take_new(landing.candidates)
        change = Change(taken, "loaded", unloadable=ledger.unloadable(landing))
        result = _load(settings, engine, say, tables, ledger, change)
        result.unchanged_files = len(landing.candidates) - len(taken)
        result.not_loaded = landing.not_loaded()
        return result


def replay(
    settings: Settings, engine: str | Engine = "embedded", progress: Progress | None = None
) -> RunResult:
    """Run again the files that have quarantined rows, so rows that now pass load.

    Their other rows are replaced by themselves; rows that still fail stay quarantined, and
    the ones that load are marked resolved by this batch.
    """
    say = progress or _quiet
    with writer_lock(settings.lakehouse, "quarantine replay", settings.lock_timeout_seconds, say):
        lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
        tables = lakehouse.ensure_tables(settings)
        ledger = Ledger(tables["load_ledger"])
        wanted = quarantined_files(tables["quarantine"])
        candidates = {c.name: c for c in list_landing(settings.landing)}
        taken = []
        for name in sorted(wanted):
            candidate = candidates.get(name)
            if candidate is None or name not in ledger.holdings:
                say(f"cannot replay {name}: it is no longer in the landing zone")
            elif (again := ledger.again(candidate)).redelivered:
                say(
                    f"not replaying {name}: it changed since it was loaded; `banklake run` takes it"
                )
            else:
                taken.append(again)
        return _load(settings, engine, say, tables, ledger, Change(taken, status="reprocessed"))


def withdraw(
    settings: Settings,
    names: list[str],
    engine: str | Engine = "embedded",
    progress: Progress | None = None,
) -> RunResult:
    """Retract every row of loaded files that have left the landing zone, in one batch.

    The ledger records them as withdrawn; rows of other files that were decided together
    with theirs (copies, conflicts, lookups) are decided again without them.
    """
    say = progress or _quiet
    with writer_lock(settings.lakehouse, "withdraw", settings.lock_timeout_seconds, say):
        lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
        tables = lakehouse.ensure_tables(settings)
        ledger = Ledger(tables["load_ledger"])
        known = ledger.holdings
        landed = {c.name for c in list_landing(settings.landing)}
        for name in names:
            if name not in known:
                loaded = ", ".join(sorted(known)[:5]) or "none"
                raise UsageError(
                    f"{name} is not a loaded file (a path relative to the landing root, as "
                    f"the ledger records it; loaded files include: {loaded})"
                )
            if name in landed:
                raise UsageError(
                    f"{name} is still in the landing zone: move or delete it first, "
                    "or it would be loaded again by the next run"
                )
        withdrawn = {name: known[name] for name in names}
        change = Change([], status="reprocessed", withdrawn=withdrawn)
        return _load(settings, engine, say, tables, ledger, change)


@dataclass(frozen=True)
class Change:
    """What a batch changes: files taken from the landing zone, and loaded files withdrawn."""

    taken: list[Taken]
    status: Status  # the ledger status of the taken files
    withdrawn: dict[str, FileOutcome] = field(default_factory=dict)
    unloadable: list[FileOutcome] = field(default_factory=list)  # refused or ignored as found

    def status_of(self, name: str) -> Status:
        """A file decided again only because of the change's files is ``reprocessed``."""
        return self.status if name in self._taken_names else "reprocessed"

    @cached_property
    def _taken_names(self) -> frozenset[str]:
        return frozenset(t.candidate.name for t in self.taken)


def _load(
    settings: Settings,
    engine: str | Engine,
    say: Progress,
    tables: dict[str, Table],
    ledger: Ledger,
    change: Change,
) -> RunResult:
    """Carry out ``change``: take its files and those whose rows depend on them → read them →
    transform and stage → audit → commit each table → record the ledger."""
    clock = time.perf_counter()
    result = _new_result(settings, engine)
    if not change.taken and not change.withdrawn:
        say("nothing new to load")
        result.files = _record_unloadable(settings, ledger, result.batch_id, change)
        result.seconds = round(time.perf_counter() - clock, 3)
        return result
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    taken = with_dependents(settings.landing, ledger, change.taken, change.withdrawn, today)
    # In name order, whatever brought each file in: which of identical copies is the first
    # (and loads) depends on it, as in a clean run.
    batch = batch_of(sorted((t.candidate for t in taken), key=lambda c: c.name))
    summary = {"banklake.batch-id": result.batch_id, "banklake.version": __version__}
    with _started(engine, settings) as engine:
        say(f"reading {len(batch.all_files)} landing files")
        counts, unreadable = engine.load_bronze(batch)
        read = Read(batch, counts, unreadable)
        crash_point("read")
        scope = Scope.of(tables, ledger.holdings, taken, read.files, change.withdrawn, today)
        scope.provide(engine)
        steps = plan(result.batch_id, scope.rebuilt)
        staged = _transform_and_stage(engine, steps, tables, batch, say)
        result.findings = engine.fetch(findings_sql())
        outcomes = _outcomes(result.batch_id, engine, scope, read, change, result.findings)
        _audit(outcomes, staged)
        crash_point("staged")
        result.tables = _commit(engine, staged, scope.replaced, summary, say)
        crash_point("gold-committed")
        outcomes = _recorded(result.batch_id, outcomes, result.tables, change, scope, read)
        ledger.record(outcomes, engine, summary)
    result.files = outcomes
    result.retracted = _retracted(ledger.holdings, change, outcomes)
    result.seconds = round(time.perf_counter() - clock, 3)
    return result


@dataclass(frozen=True)
class Read:
    """What reading the batch found: each file read, with its rows, and the unreadable ones."""

    batch: LandingBatch
    counts: list[FileCount]
    unreadable: list[RejectedFile]

    @property
    def files(self) -> list[str]:
        return [count.file for count in self.counts]

    @property
    def rejected(self) -> list[RejectedFile]:
        """Refused when their header was read, or as their rows were."""
        return [*self.batch.rejected, *self.unreadable]


def _new_result(settings: Settings, engine: str | Engine) -> RunResult:
    started = datetime.now(UTC)
    return RunResult(
        batch_id=new_batch_id(started),
        engine=engine if isinstance(engine, str) else engine.name,
        landing=str(settings.landing),
        lakehouse=str(settings.lakehouse),
        started_at=started.isoformat(timespec="seconds"),
    )


def _record_unloadable(
    settings: Settings, ledger: Ledger, batch_id: str, change: Change
) -> list[FileOutcome]:
    """A batch with nothing to load still records the files found refused or ignored."""
    outcomes = Ledger.of_batch(batch_id, change.unloadable)
    if outcomes:
        with catalog_errors(settings.lakehouse / "catalog.db"):
            ledger.record(outcomes)
    return outcomes


def _started(engine: str | Engine, settings: Settings) -> Engine:
    """The batch's engine: a named one is created only now that there is work for it."""
    return create_engine(engine, settings) if isinstance(engine, str) else engine


def _transform_and_stage(
    engine: Engine, steps: list[Step], tables: dict[str, Table], batch: LandingBatch, say: Progress
) -> list[Staged]:
    """Run the plan's steps, staging (writing, uncommitted) each one that has a target table."""
    # The relations a step may need that only the steps before it can tell.
    computed = {FAILED_LINE_TEXTS: lambda: _failed_line_texts(engine, batch)}
    staged = []
    for step in steps:
        for relation in step.needs:
            engine.register(relation, computed[relation]())
        say(f"transforming: {step.name}")
        engine.run(step)
        if step.target is not None:
            staged.append(engine.stage(step, tables[step.target.name]))
            crash_point("staging")
    return staged


def _failed_line_texts(engine: Engine, batch: LandingBatch) -> pa.Table:
    """The exact text of every line the checks failed, read back from the files."""
    paths = {file.name: file.path for file in batch.all_files}
    parts = [_LINE_TEXTS.empty_table()]
    for row in engine.fetch(failed_lines_sql()):
        texts = line_texts(paths[row["_source_file"]], row["lines"])
        columns = [pa.repeat(row["_source_file"], len(texts)), list(texts), list(texts.values())]
        parts.append(pa.table(columns, schema=_LINE_TEXTS))
    return pa.concat_tables(parts)


_LINE_TEXTS = pa.schema(
    [("_source_file", pa.string()), ("_line_number", pa.int64()), ("text", pa.string())]
)


def _outcomes(
    batch_id: str,
    engine: Engine,
    scope: Scope,
    read: Read,
    change: Change,
    findings: list[dict[str, Any]],
) -> list[FileOutcome]:
    """The ledger rows of the files read, from where the staged outputs put their rows."""
    placed = _placed(engine)
    errors = _errors_by_rule(findings)
    drift = {file.name: file.drift for file in read.batch.all_files}
    outcomes = []
    for count in read.counts:
        taken, row = scope.taken[count.file], placed.get(count.file, {})
        outcomes.append(
            FileOutcome(
                batch_id,
                taken.candidate.entity.name,
                count.file,
                taken.checksum,
                taken.candidate.size_bytes,
                taken.candidate.modified_ns,
                scope.snapshots[count.file]
                if taken.candidate.entity in DIMENSIONS
                else taken.candidate.business_date,
                change.status_of(count.file),
                rows_read=count.rows,
                rows_loaded=row.get("loaded", 0),
                rows_quarantined=row.get("quarantined", 0),
                rows_duplicate=row.get("duplicate", 0),
                rows_flagged=row.get("flagged", 0),
                quarantined_by_rule=errors.get(count.file, {}),
                problem=drift[count.file],
                key_min=row.get("key_min"),
                key_max=row.get("key_max"),
                date_min=row.get("date_min"),
                date_max=row.get("date_max"),
            )
        )
    return outcomes


def _placed(engine: Engine) -> dict[str, dict[str, Any]]:
    """Per file read: its rows loaded, quarantined, duplicate and flagged, and its ranges."""
    placed: dict[str, dict[str, Any]] = {}
    for row in engine.fetch(file_outcomes_sql()):
        sums = placed.setdefault(row["source_file"], {})
        for what in ("loaded", "quarantined", "duplicate", "flagged"):
            sums[what] = sums.get(what, 0) + int(row[what] or 0)
        for bound in ("key_min", "key_max", "date_min", "date_max"):
            if row[bound] is not None:  # only a file's own entity's part has them
                sums[bound] = row[bound]
    return placed


def _errors_by_rule(findings: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per file: the rows each error rule quarantined."""
    by_rule: dict[str, dict[str, int]] = {}
    for finding in findings:
        if finding["severity"] == "error":
            rules = by_rule.setdefault(finding["source_file"], {})
            rules[finding["rule_id"]] = int(finding["rows"])
    return by_rule


def _audit(outcomes: list[FileOutcome], staged: list[Staged]) -> None:
    """The batch's checks, on the staged (uncommitted) outputs: nothing is published otherwise."""
    problems = [
        f"{o.source_file}: read {o.rows_read} != loaded {o.rows_loaded} + quarantined "
        f"{o.rows_quarantined} + duplicate {o.rows_duplicate}"
        for o in outcomes
        if not o.balanced
    ]
    rows = {output.table.name()[-1]: output.rows for output in staged}
    loaded_tx = sum(o.rows_loaded for o in outcomes if o.entity == TRANSACTIONS.name)
    for table in ("transactions", "enriched_transactions"):
        if rows[table] != loaded_tx:
            problems.append(f"{table} staged {rows[table]} != loaded {loaded_tx}")
    if problems:
        raise AuditError(
            "the batch failed its audit; nothing was committed: " + "; ".join(problems)
        )


def _commit(
    engine: Engine,
    staged: list[Staged],
    replaced: dict[str, Rows],
    summary: dict[str, str],
    say: Progress,
) -> list[TableWrite]:
    """Commit each staged table, its ``replaced`` rows replaced in one atomic commit."""
    writes = []
    for output in staged:
        name = output.table.name()[-1]
        say(f"committing {name}")
        commit = engine.commit(output, replaced[name], summary)
        writes.append(TableWrite(name, output.rows, commit.data_files, commit.snapshot_id))
        if name == "transactions":
            crash_point("silver-committed")
    return writes


def _recorded(
    batch_id: str,
    outcomes: list[FileOutcome],
    writes: list[TableWrite],
    change: Change,
    scope: Scope,
    read: Read,
) -> list[FileOutcome]:
    """The batch's ledger rows: the files read and withdrawn, with the snapshots committed,
    then those refused and those found unloadable."""
    snapshot_ids = {w.table: w.snapshot_id for w in writes if w.snapshot_id is not None}
    for outcome in outcomes:
        outcome.snapshot_ids = snapshot_ids
    return [
        *outcomes,
        *Ledger.rejected(batch_id, read.rejected, scope.taken),
        *Ledger.withdrawn(batch_id, change.withdrawn.values(), snapshot_ids),
        *Ledger.of_batch(batch_id, change.unloadable),
    ]


def _retracted(known: dict[str, FileOutcome], change: Change, outcomes: list[FileOutcome]) -> int:
    """Rows that re-delivered and withdrawn files' earlier forms had loaded and that are gone."""
    now = {o.source_file: o.rows_loaded for o in outcomes if o.status != "withdrawn"}
    earlier = [t.candidate.name for t in change.taken if t.redelivered] + list(change.withdrawn)
    return sum(max(known[n].rows_loaded - now.get(n, 0), 0) for n in earlier if n in known)


def maintain(settings: Settings, engine: str = "embedded") -> dict[str, list[JobResult]]:
    """Run every table's maintenance jobs under the configured policy."""
    known_engine(engine)
    with writer_lock(settings.lakehouse, "maintain", settings.lock_timeout_seconds, _quiet):
        lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
        lakehouse.tables()  # fail early, and clearly, when there is nothing to maintain yet
        tables = lakehouse.ensure_tables(settings)
        with create_engine(engine, settings) as running:
            return running.maintain(tables)
