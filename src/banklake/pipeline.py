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
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from pyiceberg.table import Table

from banklake import __version__
from banklake.bronze.inventory import inventory
from banklake.bronze.landing import LandingBatch, batch_of, list_landing
from banklake.bronze.reader import line_texts
from banklake.config import Settings
from banklake.contracts import TRANSACTIONS
from banklake.engines import Engine, FileCount, create_engine, known_engine
from banklake.errors import AuditError, UsageError
from banklake.faults import crash_point
from banklake.lakehouse.catalog import Lakehouse, catalog_errors
from banklake.lakehouse.ledger import (
    FileOutcome,
    Status,
    Taken,
    deliveries,
    holdings,
    ledger_rows,
    quarantined_files,
    records,
    take_new,
    unloadable,
)
from banklake.lakehouse.lock import writer_lock
from banklake.lakehouse.maintenance import JobResult
from banklake.lakehouse.maintenance import maintain as run_maintenance
from banklake.scope import from_window, of_files, provide, snapshot_date, with_dependents
from banklake.transform import plan
from banklake.transform.plan import failed_lines_sql, file_outcomes_sql, findings_sql
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
        history = records(tables["load_ledger"])
        say("looking for new files")
        landing = inventory(settings.landing, since, until)
        # Files outside the range are worth a word only while they are still to be loaded.
        pending = {t.candidate.name for t in take_new(landing.out_of_range, deliveries(history))}
        landing = replace(
            landing, out_of_range=[c for c in landing.out_of_range if c.name in pending]
        )
        taken = take_new(landing.candidates, deliveries(history))
        change = Change(taken, "loaded", unloadable=unloadable(landing, deliveries(history)))
        result = _load(settings, engine, say, tables, holdings(history), change)
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
        known = holdings(records(tables["load_ledger"]))
        wanted = quarantined_files(tables["quarantine"])
        candidates = {c.name: c for c in list_landing(settings.landing)}
        taken = []
        for name in sorted(wanted):
            candidate, recorded = candidates.get(name), known.get(name)
            if candidate is None or recorded is None:
                say(f"cannot replay {name}: it is no longer in the landing zone")
            elif take_new([candidate], known):
                say(
                    f"not replaying {name}: it changed since it was loaded; `banklake run` takes it"
                )
            else:
                taken.append(Taken(candidate, recorded.checksum, redelivered=False))
        return _load(settings, engine, say, tables, known, Change(taken, status="reprocessed"))


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
        known = holdings(records(tables["load_ledger"]))
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
        return _load(settings, engine, say, tables, known, change)


@dataclass(frozen=True)
class Change:
    """What a batch changes: files taken from the landing zone, and loaded files withdrawn."""

    taken: list[Taken]
    status: Status  # the ledger status of the taken files
    withdrawn: dict[str, FileOutcome] = field(default_factory=dict)
    unloadable: list[FileOutcome] = field(default_factory=list)  # refused or ignored as found


def _load(
    settings: Settings,
    engine: str | Engine,
    say: Progress,
    tables: dict[str, Table],
    known: dict[str, FileOutcome],
    change: Change,
) -> RunResult:
    """Carry out ``change``; ``known`` is what the tables already hold, by path.

    Phases: find the files to decide (the change, and every loaded file whose rows depend on
    it) → read them → transform and stage → audit → commit each table → record the ledger.
    """
    started = datetime.now(UTC)
    clock = time.perf_counter()
    result = RunResult(
        batch_id=new_batch_id(started),
        engine=engine if isinstance(engine, str) else engine.name,
        landing=str(settings.landing),
        lakehouse=str(settings.lakehouse),
        started_at=started.isoformat(timespec="seconds"),
    )
    if not change.taken and not change.withdrawn:
        say("nothing new to load")
        if change.unloadable:
            ledger = tables["load_ledger"]
            outcomes = [replace(o, batch_id=result.batch_id) for o in change.unloadable]
            with catalog_errors(settings.lakehouse / "catalog.db"):
                ledger.append(ledger_rows(outcomes, ledger))
            result.files = outcomes
        result.seconds = round(time.perf_counter() - clock, 3)
        return result
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    taken = with_dependents(settings.landing, known, change.taken, change.withdrawn, today)
    # In name order, whatever brought each file in: which of identical copies is the first
    # (and loads) depends on it, as in a clean run.
    batch = batch_of(sorted((t.candidate for t in taken), key=lambda c: c.name))
    by_name = {t.candidate.name: t for t in taken}
    if isinstance(engine, str):
        engine = create_engine(engine, settings)  # started only when there is work for it
    with engine:
        say(f"reading {len(batch.all_files)} landing files")
        counts, unreadable = engine.load_bronze(batch)
        crash_point("read")
        rejected = [*batch.rejected, *unreadable]
        accepted = [by_name[c.file] for c in counts]
        snapshot_of = {t.candidate.name: snapshot_date(t.candidate, today) for t in accepted}
        batch_files = {n: (by_name[n].candidate.entity.name, d) for n, d in snapshot_of.items()}
        earlier = {n: known[n] for n in by_name if n in known} | change.withdrawn
        changed_snapshots = _snapshots(earlier)
        prior_snapshots = _snapshots({n: r for n, r in known.items() if n not in earlier})
        rerun = [
            t.candidate.name for t in accepted if t.candidate.name in known and not t.redelivered
        ]
        windows = provide(engine, tables, batch_files, prior_snapshots, changed_snapshots, rerun)
        # The dimensions whose history the batch rewrites: those it has snapshots of, or had.
        rebuilt = frozenset(
            {entity for entity, _ in batch_files.values() if entity in changed_snapshots}
            | {entity for entity, days in changed_snapshots.items() if days}
        )
        staged = []
        for step in plan(result.batch_id, rebuilt):
            if step.name == "quarantine_new":
                engine.register("bronze_lines", _failed_line_texts(engine, batch))
            say(f"transforming: {step.name}")
            engine.run(step)
            if step.target is not None:
                staged.append(engine.stage(step, tables[step.target.name]))
                crash_point("staging")
        result.findings = engine.fetch(findings_sql())
        status = {t.candidate.name: change.status for t in change.taken}
        outcomes = _outcomes(
            result.batch_id, accepted, counts, engine, status, snapshot_of, result.findings
        )
        drift = {file.name: file.drift for file in batch.all_files}
        for outcome in outcomes:
            outcome.problem = drift[outcome.source_file]
        _audit(outcomes, {s.table.name()[-1]: s.rows for s in staged})
        crash_point("staged")

        summary = {"banklake.batch-id": result.batch_id, "banklake.version": __version__}
        # Every table loses the rows of the batch's files (read, refused or withdrawn) and
        # gains what the batch made of them.
        files = [*by_name, *change.withdrawn]
        replaced = {
            # A dimension's versions from its history window on are replaced by the rebuilt ones.
            **{name: from_window(tables[name], window) for name, window in windows.items()},
            "transactions": of_files(tables["transactions"], files),
            "quarantine": of_files(tables["quarantine"], files),
            "enriched_transactions": of_files(tables["enriched_transactions"], files),
        }
        snapshot_ids: dict[str, int] = {}
        for output in staged:
            name = output.table.name()[-1]
            say(f"committing {name}")
            commit = engine.commit(output, replaced[name], summary)
            if commit.snapshot_id is not None:
                snapshot_ids[name] = commit.snapshot_id
            result.tables.append(
                TableWrite(name, output.rows, commit.data_files, commit.snapshot_id)
            )
            if name == "transactions":
                crash_point("silver-committed")
        crash_point("gold-committed")

        for outcome in outcomes:
            outcome.snapshot_ids = snapshot_ids
        outcomes += [
            FileOutcome(
                result.batch_id,
                file.entity.name,
                file.name,
                by_name[file.name].checksum,
                by_name[file.name].candidate.size_bytes,
                by_name[file.name].candidate.modified_ns,
                file.business_date,
                "rejected",
                problem=file.problem,
            )
            for file in rejected
        ]
        outcomes += [
            replace(record, batch_id=result.batch_id, status="withdrawn", snapshot_ids=snapshot_ids)
            for record in change.withdrawn.values()
        ]
        outcomes += [replace(o, batch_id=result.batch_id) for o in change.unloadable]
        ledger = tables["load_ledger"]
        engine.append(ledger, ledger_rows(outcomes, ledger), summary)
    result.files = outcomes
    result.retracted = _retracted(known, change, outcomes)
    result.seconds = round(time.perf_counter() - clock, 3)
    return result


def _snapshots(records: dict[str, FileOutcome]) -> dict[str, set[date]]:
    """Each dimension's snapshot dates among ``records``."""
    found: dict[str, set[date]] = {entity.name: set() for entity in DIMENSIONS}
    for record in records.values():
        if record.entity in found and record.business_date:
            found[record.entity].add(record.business_date)
    return found


def _retracted(known: dict[str, FileOutcome], change: Change, outcomes: list[FileOutcome]) -> int:
    """Rows that re-delivered and withdrawn files' earlier forms had loaded and that are gone."""
    now = {o.source_file: o.rows_loaded for o in outcomes if o.status != "withdrawn"}
    earlier = [t.candidate.name for t in change.taken if t.redelivered] + list(change.withdrawn)
    return sum(max(known[n].rows_loaded - now.get(n, 0), 0) for n in earlier if n in known)


def _failed_line_texts(engine: Engine, batch: LandingBatch) -> pa.Table:
    """The exact text of every line the checks failed, read back from the files."""
    lines: dict[str, list[int]] = {}
    for row in engine.fetch(failed_lines_sql()):
        lines.setdefault(row["_source_file"], []).append(row["_line_number"])
    paths = {file.name: file.path for file in batch.all_files}
    files, numbers, texts = [], [], []
    for name, wanted in lines.items():
        for number, text in line_texts(paths[name], wanted).items():
            files.append(name)
            numbers.append(number)
            texts.append(text)
    return pa.table(
        {
            "_source_file": pa.array(files, pa.string()),
            "_line_number": pa.array(numbers, pa.int64()),
            "text": pa.array(texts, pa.string()),
        }
    )


def _outcomes(
    batch_id: str,
    accepted: list[Taken],
    counts: list[FileCount],
    engine: Engine,
    status: dict[str, Status],
    snapshot_of: dict[str, date | None],
    findings: list[dict[str, Any]],
) -> list[FileOutcome]:
    """The ledger rows of the files read; a file decided again only because of others is
    ``reprocessed``."""
    placed: dict[str, dict[str, Any]] = {}
    for row in engine.fetch(file_outcomes_sql()):
        sums = placed.setdefault(row["source_file"], {})
        for what in ("loaded", "quarantined", "duplicate", "flagged"):
            sums[what] = sums.get(what, 0) + int(row[what] or 0)
        for bound in ("key_min", "key_max", "date_min", "date_max"):
            if row[bound] is not None:  # only a file's own entity's part has them
                sums[bound] = row[bound]
    by_rule: dict[str, dict[str, int]] = {}
    for finding in findings:
        if finding["severity"] == "error":
            rules = by_rule.setdefault(finding["source_file"], {})
            rules[finding["rule_id"]] = int(finding["rows"])
    outcomes = []
    for taken, count in zip(accepted, counts, strict=True):
        name = taken.candidate.name
        row = placed.get(name, {})
        outcomes.append(
            FileOutcome(
                batch_id,
                taken.candidate.entity.name,
                name,
                taken.checksum,
                taken.candidate.size_bytes,
                taken.candidate.modified_ns,
                snapshot_of[name]
                if taken.candidate.entity in DIMENSIONS
                else taken.candidate.business_date,
                status.get(name, "reprocessed"),
                rows_read=count.rows,
                rows_loaded=row.get("loaded", 0),
                rows_quarantined=row.get("quarantined", 0),
                rows_duplicate=row.get("duplicate", 0),
                rows_flagged=row.get("flagged", 0),
                quarantined_by_rule=by_rule.get(name, {}),
                key_min=row.get("key_min"),
                key_max=row.get("key_max"),
                date_min=row.get("date_min"),
                date_max=row.get("date_max"),
            )
        )
    return outcomes


def _audit(outcomes: list[FileOutcome], staged: dict[str, int]) -> None:
    """The batch's checks, on the staged (uncommitted) outputs: nothing is published otherwise."""
    problems = [
        f"{o.source_file}: read {o.rows_read} != loaded {o.rows_loaded} + quarantined "
        f"{o.rows_quarantined} + duplicate {o.rows_duplicate}"
        for o in outcomes
        if not o.balanced
    ]
    loaded_tx = sum(o.rows_loaded for o in outcomes if o.entity == TRANSACTIONS.name)
    for table in ("transactions", "enriched_transactions"):
        if staged[table] != loaded_tx:
            problems.append(f"{table} staged {staged[table]} != loaded {loaded_tx}")
    if problems:
        raise AuditError(
            "the batch failed its audit; nothing was committed: " + "; ".join(problems)
        )


def maintain(settings: Settings, engine: str = "embedded") -> dict[str, list[JobResult]]:
    """Run every table's maintenance jobs under the configured policy."""
    known_engine(engine)
    with writer_lock(settings.lakehouse, "maintain", settings.lock_timeout_seconds, _quiet):
        lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
        lakehouse.tables()  # fail early, and clearly, when there is nothing to maintain yet
        tables = lakehouse.ensure_tables(settings)
        if engine == "spark":
            return _maintain_on_spark(settings, tables)
        from banklake.engines.embedded import rewrite_data_files

        return {name: run_maintenance(table, rewrite_data_files) for name, table in tables.items()}


def _maintain_on_spark(settings: Settings, tables: dict[str, Table]) -> dict[str, list[JobResult]]:
    """Iceberg's Spark procedures, on the Spark engine's session."""
    from banklake.engines.spark import SparkEngine
    from banklake.engines.spark_maintenance import maintain as maintain_table

    now = datetime.now(UTC)
    engine = SparkEngine(settings)
    with engine:
        catalog = str(engine.spark.conf.get("spark.sql.defaultCatalog"))
        return {
            name: maintain_table(engine.spark, catalog, table, now)
            for name, table in tables.items()
        }
