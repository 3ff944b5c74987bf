"""The ``banklake`` command: one thin command per verb; the work lives in the stage modules.

Exit codes: 0 success, 1 verification failed, 2 a problem the message explains.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from banklake import __version__, progress
from banklake.cli_common import Json, emit_json, err, errors_as_messages, out, print_checks
from banklake.config import Settings, load_settings
from banklake.errors import UsageError

if TYPE_CHECKING:
    from banklake.pipeline import RunResult
    from banklake.verify.checks import WindowEnd

app = typer.Typer(
    help="Banking analytics lakehouse: generate → land → Silver/Gold Iceberg → verify → maintain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals can hold whole tables of data
)

# Every command accepts both paths, so a script can pass the same pair to each of them.
Landing = Annotated[Path | None, typer.Option(help="Landing zone root [default: ./landing]")]
LakehousePath = Annotated[
    Path | None, typer.Option("--lakehouse", help="Local lakehouse folder [default: ./lakehouse]")
]
UnusedLanding = Annotated[
    Path | None, typer.Option("--landing", help="Accepted for uniform scripts; not used here")
]
UnusedLakehouse = Annotated[
    Path | None, typer.Option("--lakehouse", help="Accepted for uniform scripts; not used here")
]
Reports = Annotated[Path | None, typer.Option(help="Report folder [default: ./reports]")]
EngineName = Annotated[
    str, typer.Option(help="Engine: embedded (DuckDB), or spark (needs `make spark-setup`)")
]
SparkRemote = Annotated[
    str | None,
    typer.Option(help="With --engine spark: a Spark Connect server, sc://HOST:PORT"),
]


def _print_version(asked: bool) -> None:
    if asked:
        out.print(f"banklake {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    """Options of ``banklake`` itself, before the command."""


class Snapshots(StrEnum):
    last = "last"
    daily = "daily"


DEMO_MARKER = ".banklake-demo"


def _with_spark_remote(settings: Settings, remote: str | None) -> Settings:
    if remote is None:
        return settings
    if not remote.startswith("sc://"):
        raise UsageError(f"--spark-remote {remote!r} must look like sc://HOST:PORT")
    return settings.model_copy(
        update={"spark": settings.spark.model_copy(update={"remote": remote})}
    )


@app.command()
@errors_as_messages
def generate(
    customers: Annotated[int, typer.Option(help="Number of customers")] = 10_000,
    accounts: Annotated[
        int, typer.Option(help="Number of accounts (a customer may hold several)")
    ] = 15_000,
    days: Annotated[int, typer.Option(help="Business days, ending at --end-date")] = 30,
    transactions: Annotated[int, typer.Option(help="Transactions in total")] = 1_000_000,
    end_date: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last business day [default: today]"),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same options and seed, same bytes")] = 42,
    defect_rate: Annotated[
        float,
        typer.Option(help="Share of rows given a labelled defect; writes defects_manifest.json"),
    ] = 0.0,
    snapshots: Annotated[
        Snapshots,
        typer.Option(
            help="Customer and account snapshots: one as of the last day, or one per day "
            "(customers move, accounts open, close and change, balances move)"
        ),
    ] = Snapshots.last,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Into a landing zone that holds files: replace the generated folders and "
            "defects manifest (other files stay)",
        ),
    ] = False,
    landing: Landing = None,
    lakehouse: UnusedLakehouse = None,
    json_output: Json = False,
) -> None:
    """Generate synthetic customers, accounts and daily transaction files in the landing zone."""
    from banklake.generate import GeneratorSpec
    from banklake.generate import generate as generate_files

    settings = load_settings(landing=landing)
    spec = GeneratorSpec(
        customers=customers,
        accounts=accounts,
        days=days,
        transactions=transactions,
        end_date=end_date.date() if end_date else date.today(),
        seed=seed,
        defect_rate=defect_rate,
        snapshots="daily" if snapshots is Snapshots.daily else "last",
    )
    with progress.bar(progress.enabled(json_output), days, "generating days") as advance:
        files = generate_files(spec, settings.landing, lambda _day: advance(), replace)
    result = {
        "landing": str(settings.landing),
        "rows": files.rows,
        "files": [str(p) for p in (*files.customers, *files.accounts, *files.transactions)],
        "first_day": spec.start_date.isoformat(),
        "last_day": spec.end_date.isoformat(),
        "defects_manifest": str(files.manifest) if files.manifest else None,
    }
    if json_output:
        emit_json(result)
        return
    out.print(
        f"Generated {transactions:,} transactions over {days} days "
        f"({spec.start_date} .. {spec.end_date}), {customers:,} customers and {accounts:,} "
        f"accounts in {settings.landing}/"
    )


@app.command()
@errors_as_messages
def run(
    landing: Landing = None,
    lakehouse: LakehousePath = None,
    engine: EngineName = "embedded",
    spark_remote: SparkRemote = None,
    since: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="Only files dated on or after this day"),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Only files dated on or before this day"),
    ] = None,
    json_output: Json = False,
) -> None:
    """Load what is new in the landing zone into the Silver, quarantine and Gold tables.

    Exit code 3: the run loaded the batch but refused some files (see the ledger).
    """
    from banklake.pipeline import run as run_pipeline

    settings = _with_spark_remote(load_settings(landing=landing, lakehouse=lakehouse), spark_remote)
    with progress.status(progress.enabled(json_output)) as say:
        result = run_pipeline(
            settings,
            engine,
            progress=say,
            since=since.date() if since else None,
            until=until.date() if until else None,
        )
    _report_run(result, json_output)


def _report_run(result: RunResult, json_output: bool) -> None:
    if json_output:
        emit_json(result.to_dict())
    elif not result.tables:
        out.print(f"Nothing new to load ({result.unchanged_files:,} files already loaded).")
    else:
        table = Table(
            title=f"batch {result.batch_id} ({result.seconds:.1f} s, engine {result.engine})"
        )
        for column in ("table", "rows written", "data files", "snapshot"):
            table.add_column(column, justify="right" if column != "table" else "left")
        for write in result.tables:
            table.add_row(
                write.table, f"{write.rows:,}", str(write.data_files), str(write.snapshot_id)
            )
        out.print(table)
        loaded = [f for f in result.files if f.status in ("loaded", "reprocessed")]
        totals = {
            what: sum(getattr(f, f"rows_{what}") for f in loaded)
            for what in ("read", "loaded", "quarantined", "duplicate")
        }
        out.print(
            f"{len(loaded)} files: read {totals['read']:,} rows = loaded {totals['loaded']:,} "
            f"+ quarantined {totals['quarantined']:,} + duplicate {totals['duplicate']:,}"
        )
        for severity, verb in (("error", "Quarantined"), ("warn", "Flagged (loaded)")):
            found: dict[str, int] = {}
            for f in result.findings:
                if f["severity"] == severity:
                    rule = f"{f['entity']}.{f['rule_id']}"
                    found[rule] = found.get(rule, 0) + int(f["rows"])
            if found:
                out.print(f"{verb}: {', '.join(f'{r} {n:,}' for r, n in found.items())}")
        if result.retracted:
            out.print(f"Re-delivered or withdrawn files: {result.retracted:,} rows retracted")
        for file in loaded:
            if file.problem:
                out.print(f"[yellow]warning:[/yellow] {file.source_file}: {file.problem}")
    if not json_output:
        for line in result.not_loaded:
            out.print(f"not loaded: {escape(line)}")
    for file in result.rejected:
        err.print(f"[red]rejected:[/red] {escape(str(file.problem))}")
    if result.rejected:
        raise typer.Exit(3)


@app.command()
@errors_as_messages
def verify(
    landing: Landing = None,
    lakehouse: LakehousePath = None,
    reports: Reports = None,
    engine: EngineName = "embedded",
    spark_remote: SparkRemote = None,
    window_end: Annotated[
        str,
        typer.Option(
            help="Where Test 2's 30 days end: today, latest (the last business date in Gold), "
            "or a date YYYY-MM-DD"
        ),
    ] = "today",
    json_output: Json = False,
) -> None:
    """Run the three verification tests; write the Markdown and JSON reports."""
    from banklake.verify.checks import verify as run_checks
    from banklake.verify.report import write_reports

    settings = _with_spark_remote(
        load_settings(landing=landing, lakehouse=lakehouse, reports=reports), spark_remote
    )
    verification = run_checks(settings, engine, _window_end(window_end))
    markdown, machine = write_reports(verification, settings.reports)
    if json_output:
        emit_json(verification.to_dict())
    else:
        print_checks(verification)
        out.print(f"Reports: {markdown} and {machine}")
    if not verification.passed:
        raise typer.Exit(1)


def _window_end(value: str) -> WindowEnd:
    if value in ("today", "latest"):
        return "today" if value == "today" else "latest"
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--window-end {value!r} must be today, latest or a date YYYY-MM-DD"
        ) from None


@app.command()
@errors_as_messages
def query(
    sql: Annotated[str, typer.Argument(help="Athena (Trino) SQL")],
    lakehouse: LakehousePath = None,
    landing: UnusedLanding = None,
    output_format: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """Run Athena-dialect SQL against the local lakehouse."""
    import pyarrow.csv as pacsv

    from banklake.lakehouse.catalog import Lakehouse
    from banklake.verify.query import LocalQueries

    if output_format not in ("table", "csv", "json"):
        raise UsageError(f"--format must be table, csv or json, not {output_format!r}")
    settings = load_settings(lakehouse=lakehouse)
    lakehouse_ = Lakehouse.local(settings.lakehouse, settings.namespace)
    with LocalQueries(lakehouse_, settings.table_bucket, settings.timezone) as queries:
        result = queries.query(sql)
    if output_format == "json":
        emit_json(result.to_pylist())
    elif output_format == "csv":
        sink = pacsv.CSVWriter(sys.stdout.buffer, result.schema)
        sink.write_table(result)
        sink.close()
    else:
        table = Table(*result.column_names)
        for row in result.to_pylist():
            table.add_row(*("NULL" if v is None else str(v) for v in row.values()))
        out.print(table)


quarantine_app = typer.Typer(help="Inspect the rows that could not load.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
@errors_as_messages
def quarantine_list(
    entity: Annotated[str | None, typer.Option(help="customers, accounts or transactions")] = None,
    rule: Annotated[str | None, typer.Option(help="Only rows that failed this rule id")] = None,
    file: Annotated[
        str | None, typer.Option(help="Only rows from files whose path contains this")
    ] = None,
    batch: Annotated[str | None, typer.Option(help="Only rows of this batch id")] = None,
    unresolved: Annotated[
        bool, typer.Option("--unresolved", help="Only rows no later run has loaded")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows")] = 50,
    lakehouse: LakehousePath = None,
    landing: UnusedLanding = None,
    json_output: Json = False,
) -> None:
    """List quarantined rows with their file, line, failed rules and reasons."""
    from banklake.contracts import ENTITIES, MALFORMED_ROW_RULE, RULES
    from banklake.lakehouse.catalog import Lakehouse
    from banklake.transform import sql_literal
    from banklake.verify.query import ATHENA_DIALECT, LocalQueries

    # A name that can never match is a typo: say so, rather than list 0 rows.
    _one_of("--entity", entity, [e.name for e in ENTITIES])
    _one_of("--rule", rule, sorted({r.id for r in RULES} | {MALFORMED_ROW_RULE}))
    settings = load_settings(lakehouse=lakehouse)
    conditions = ["TRUE"]
    if entity:
        conditions.append(f"entity = {sql_literal(entity, ATHENA_DIALECT)}")
    if rule:
        conditions.append(f"contains(rule_ids, {sql_literal(rule, ATHENA_DIALECT)})")
    if file:
        conditions.append(f"strpos(source_file, {sql_literal(file, ATHENA_DIALECT)}) > 0")
    if batch:
        conditions.append(f"batch_id = {sql_literal(batch, ATHENA_DIALECT)}")
    if unresolved:
        conditions.append("resolved_at IS NULL")
    where = " AND ".join(conditions)
    lakehouse_ = Lakehouse.local(settings.lakehouse, settings.namespace)
    with LocalQueries(lakehouse_, settings.table_bucket, settings.timezone) as queries:
        total = queries.scalar(f"SELECT count(*) FROM quarantine WHERE {where}")
        rows = queries.query(
            f"SELECT * FROM quarantine WHERE {where} "
            f"ORDER BY source_file, line_number LIMIT {max(limit, 0)}"
        ).to_pylist()
    if json_output:
        emit_json({"total": total, "rows": rows})
        return
    out.print(_quarantine_table(rows, total))
    if total > len(rows):
        out.print(f"showing {len(rows):,} of {total:,}; use --limit or filters for more")


def _one_of(option: str, value: str | None, known: list[str]) -> None:
    if value is not None and value not in known:
        raise UsageError(f"{option} {value!r} is not one of: {', '.join(known)}")


def _quarantine_table(rows: list[dict[str, Any]], total: int) -> Table:
    """The rows, with each file:line whole: the other columns fold at a narrow terminal."""
    places = [f"{row['source_file']}:{row['line_number']}" for row in rows]
    table = Table(title=f"{total:,} quarantined rows")
    table.add_column("entity", overflow="fold")
    table.add_column("where", no_wrap=True, min_width=max(map(len, places), default=5))
    for column in ("rules", "reasons", "resolved by"):
        table.add_column(column, overflow="fold")
    for row, place in zip(rows, places, strict=True):
        table.add_row(
            row["entity"],
            place,
            ", ".join(row["rule_ids"]),
            row["reasons"],
            row["resolved_batch_id"] or "",
        )
    return table


@quarantine_app.command("replay")
@errors_as_messages
def quarantine_replay(
    landing: Landing = None,
    lakehouse: LakehousePath = None,
    engine: EngineName = "embedded",
    spark_remote: SparkRemote = None,
    json_output: Json = False,
) -> None:
    """Check quarantined rows again and load those that now pass.

    Rows waiting for late reference data load by themselves when `run` brings it; this is for
    the rest (say, after a rule's reference list changed). Rows that now pass load exactly once
    and are marked resolved; the others stay quarantined.
    """
    from banklake.pipeline import replay

    settings = _with_spark_remote(load_settings(landing=landing, lakehouse=lakehouse), spark_remote)
    with progress.status(progress.enabled(json_output)) as say:
        result = replay(settings, engine, progress=say)
    _report_run(result, json_output)


@app.command()
@errors_as_messages
def withdraw(
    files: Annotated[
        list[str], typer.Argument(help="Loaded files, as the ledger names them (landing-relative)")
    ],
    landing: Landing = None,
    lakehouse: LakehousePath = None,
    engine: EngineName = "embedded",
    spark_remote: SparkRemote = None,
    json_output: Json = False,
) -> None:
    """Retract every row of loaded files that have left the landing zone, in one atomic batch.

    Rows of other files decided together with theirs (copies, conflicts) are decided again;
    the ledger records the files as withdrawn. Put a file back instead to keep its rows.
    """
    from banklake.pipeline import withdraw as withdraw_files

    settings = _with_spark_remote(load_settings(landing=landing, lakehouse=lakehouse), spark_remote)
    with progress.status(progress.enabled(json_output)) as say:
        result = withdraw_files(settings, files, engine, progress=say)
    _report_run(result, json_output)


@app.command()
@errors_as_messages
def maintain(
    lakehouse: LakehousePath = None,
    landing: UnusedLanding = None,
    engine: EngineName = "embedded",
    spark_remote: SparkRemote = None,
    json_output: Json = False,
) -> None:
    """Compact small files, expire old snapshots and remove unreferenced files, by policy."""
    from banklake.pipeline import maintain as run_maintenance

    settings = _with_spark_remote(load_settings(lakehouse=lakehouse), spark_remote)
    with progress.status(progress.enabled(json_output)) as say:
        say("maintaining tables")
        results = run_maintenance(settings, engine)
    if json_output:
        emit_json({name: [vars(job) for job in jobs] for name, jobs in results.items()})
    else:
        table = Table("table", "job", "status", "before → after")
        for name, jobs in results.items():
            for job in jobs:
                change = f"{job.detail}: {job.before} → {job.after}"
                table.add_row(name, job.job, job.status, "" if job.status == "Failed" else change)
        out.print(table)
    # A failed job left its table's data as it was, and the other jobs ran: each failure is
    # one line, and the command ends with 2 (a problem the message explains), not 1, which
    # says a verification test failed.
    failed = [
        (name, job) for name, jobs in results.items() for job in jobs if job.status == "Failed"
    ]
    for name, job in failed:
        err.print(
            f"[red]error:[/red] {settings.namespace}.{name}: {job.job} Failed: "
            f"{escape(job.failure_message)}; the table's data is unchanged; once that is "
            "fixed, run `banklake maintain` again (Test 3 fails until then)"
        )
    if failed:
        raise typer.Exit(2)


@app.command()
@errors_as_messages
def demo(
    landing: Landing = None,
    lakehouse: LakehousePath = None,
    reports: Reports = None,
    transactions: Annotated[int, typer.Option(help="Transactions in total")] = 1_000_000,
    days: Annotated[int, typer.Option(help="Business days, ending today")] = 30,
) -> None:
    """Generate a dataset, run the pipeline, maintain and verify, and write the report."""
    settings = load_settings(landing=landing, lakehouse=lakehouse, reports=reports)
    for folder in (settings.landing, settings.lakehouse):
        _reset_demo_folder(folder)
    out.rule("1/5 generate")
    generate(transactions=transactions, days=days, landing=settings.landing, replace=True)
    out.rule("2/5 run")
    run(landing=settings.landing, lakehouse=settings.lakehouse)
    out.rule("3/5 maintain")
    # A failed job left the data as it was and is named above; Test 3 reports it.
    with contextlib.suppress(typer.Exit):
        maintain(lakehouse=settings.lakehouse)
    out.rule("4/5 verify and report")
    try:
        verify(landing=settings.landing, lakehouse=settings.lakehouse, reports=settings.reports)
    finally:
        out.rule("5/5 where everything went")
        out.print(f"landing zone (Bronze CSVs): {settings.landing}/")
        out.print(f"lakehouse (Iceberg catalog + tables): {settings.lakehouse}/")
        out.print(f"reports: {settings.reports}/")
        out.print('try: banklake query "SELECT count(*) FROM analytics_db.enriched_transactions"')


def _reset_demo_folder(folder: Path) -> None:
    """Start from a clean folder, but never delete one the demo did not create."""
    if folder.exists():
        if not (folder / DEMO_MARKER).exists():
            raise UsageError(
                f"{folder} already exists and was not made by `banklake demo`; "
                "pass another --landing/--lakehouse, or remove it yourself"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / DEMO_MARKER).write_text("made by banklake demo; the demo may replace this folder\n")


def _add_aws_commands() -> None:
    from banklake.aws.cli import aws_app

    app.add_typer(aws_app, name="aws")


_add_aws_commands()

if __name__ == "__main__":
    app()
