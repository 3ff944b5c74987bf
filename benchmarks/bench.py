"""Side-by-side benchmark; writes benchmarks/RESULTS.md.

Every figure is the median of several whole-process runs measured in this one run, with its
peers beside it, so ratios hold even on a noisy machine:

- generator: ``banklake generate`` at 10M transactions vs the seed's own generator at 1M;
- pipeline: ``banklake run`` (CSV → Silver + quarantine + Gold Iceberg) vs the floor
  (``floor.py``: DuckDB reads the same CSVs, joins and writes Parquet) at 1M and 10M;
- spark: ``banklake run --engine spark`` (local[*], the same plan and tables) on the same data,
  beside the embedded run, at 1M and 10M (one run each: it is the slow side);
- incremental: one new day (its transactions and its customer and account snapshots) loaded
  into a lakehouse that holds the 30 days before it, against the same day into an empty one;
- the three verification queries on the 10M-row Gold table.

Usage: python benchmarks/bench.py [--quick]   (--quick: 1M rows only, for a smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
PEER = ROOT.parent / "shared" / "peers" / "seed_generator.py"
# The peer needs pandas, which banklake does not use: it gets a venv of its own, so banklake is
# measured as users run it (importing Arrow probes for pandas when it is installed).
PEER_VENV = WORK / "peer-venv"
BANKLAKE = [sys.executable, "-m", "banklake"]
FLOOR = [sys.executable, str(ROOT / "benchmarks" / "floor.py")]
# Runs the command as its only child, then reports wall time and the child's peak memory.
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))
"""


def measure(
    command: list[str], repeats: int, before: Any = None, env: dict[str, str] | None = None
) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        if before:
            before()
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, *command],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
        ).stdout
        runs.append(json.loads(out))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "runs": len(runs),
    }


def generate_args(transactions: int, landing: Path, *extra: str, days: int = 30) -> list[str]:
    return [
        *BANKLAKE, "generate", "--transactions", str(transactions),
        "--customers", str(transactions // 100), "--accounts", str(transactions * 3 // 200),
        "--days", str(days), "--end-date", date.today().isoformat(), "--landing", str(landing),
        *extra,
    ]  # fmt: skip


def duplicate_share(csv_glob: Path) -> float:
    """Share of transaction rows whose tx_id another row already has."""
    total, distinct = duckdb.execute(
        f"SELECT count(*), count(DISTINCT tx_id) FROM read_csv('{csv_glob}', all_varchar=true)"
    ).fetchone()  # type: ignore[misc]
    return float(1 - distinct / total)


def peer_environment() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        constraints = str(ROOT / "constraints.txt")
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-c", constraints, "pandas"],
            check=True,
        )
    return python


def fresh(path: Path) -> Any:
    return lambda: shutil.rmtree(path, ignore_errors=True)


def bench_generator(big: int, repeats: int) -> dict[str, Any]:
    ours = measure(generate_args(big, WORK / "gen"), repeats, fresh(WORK / "gen"))
    peer_rows = 1_000_000
    peer_python = peer_environment()
    peer = measure([str(peer_python), str(PEER), str(peer_rows), str(WORK / "peer")], repeats)
    return {
        "ours": {**ours, "rows": big, "rows_per_s": big / ours["seconds"],
                 "duplicate_tx_ids": duplicate_share(WORK / "gen" / "transactions" / "*.csv")},
        "peer": {**peer, "rows": peer_rows, "rows_per_s": peer_rows / peer["seconds"],
                 "duplicate_tx_ids": duplicate_share(WORK / "peer" / "transactions.csv")},
    }  # fmt: skip


def bench_pipeline(rows: int, repeats: int) -> dict[str, Any]:
    landing = WORK / f"landing_{rows}"
    if not landing.exists():
        subprocess.run(generate_args(rows, landing), check=True, stdout=subprocess.DEVNULL)
    lakehouse = WORK / f"lakehouse_{rows}"
    ours_cmd = [*BANKLAKE, "run", "--landing", str(landing), "--lakehouse", str(lakehouse)]
    floor_out = WORK / f"floor_{rows}"
    zstd = {"BANKLAKE_PARQUET_COMPRESSION": "zstd"}
    result: dict[str, Any] = {"rows": rows}
    result["ours_zstd"] = measure(ours_cmd, repeats, fresh(lakehouse), zstd)
    result["lakehouse_zstd_mb"] = folder_mb(lakehouse)
    result["ours"] = measure(ours_cmd, repeats, fresh(lakehouse))  # left for bench_queries
    result["lakehouse_mb"] = folder_mb(lakehouse)
    floor_cmd = [*FLOOR, str(landing), str(floor_out)]
    result["floor"] = measure(floor_cmd, repeats, fresh(floor_out))
    result["floor_zstd"] = measure([*floor_cmd, "zstd"], repeats, fresh(floor_out))
    spark_lakehouse = WORK / f"lakehouse_spark_{rows}"
    spark_cmd = [*BANKLAKE, "run", "--engine", "spark", "--landing", str(landing)]
    result["spark"] = measure(
        [*spark_cmd, "--lakehouse", str(spark_lakehouse)], 1, fresh(spark_lakehouse)
    )
    return result


def bench_incremental(rows: int, repeats: int) -> dict[str, Any]:
    """Day 31 into a lakehouse holding days 1-30, and the same day into an empty lakehouse.

    Daily customer and account snapshots, as a bank sends them: the new day brings its own.
    """
    landing = WORK / f"landing_daily_{rows}"
    if not landing.exists():
        days = generate_args(rows * 31 // 30, landing, "--snapshots", "daily", days=31)
        subprocess.run(days, check=True, stdout=subprocess.DEVNULL)
    # The data's last day is the new one (the data may have been generated on an earlier day).
    before, last = sorted(p.name for p in (landing / "transactions").iterdir())[-2:]
    new_day = last.removeprefix("transactions_").removesuffix(".csv")
    history = WORK / f"lakehouse_history_{rows}"
    pristine = WORK / f"lakehouse_history_{rows}.pristine"
    if not pristine.exists():
        shutil.rmtree(history, ignore_errors=True)
        last_old_day = before.removeprefix("transactions_").removesuffix(".csv")
        subprocess.run(
            [*BANKLAKE, "run", "--landing", str(landing), "--lakehouse", str(history),
             "--to", last_old_day],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        shutil.copytree(history, pristine)

    def restore() -> None:  # the catalog records absolute paths: restore it where it was
        shutil.rmtree(history, ignore_errors=True)
        shutil.copytree(pristine, history)

    empty = WORK / f"lakehouse_empty_{rows}"
    one_day = ["--from", new_day, "--to", new_day, "--landing", str(landing)]
    into_history = measure(
        [*BANKLAKE, "run", *one_day, "--lakehouse", str(history)], repeats, restore
    )
    into_empty = measure(
        [*BANKLAKE, "run", *one_day, "--lakehouse", str(empty)], repeats, fresh(empty)
    )
    day_rows = sum(1 for _ in (landing / "transactions" / f"transactions_{new_day}.csv").open()) - 1
    return {
        "rows": rows,
        "day_rows": day_rows,
        "into_history": into_history,
        "into_empty": into_empty,
    }


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def bench_queries(rows: int, repeats: int) -> dict[str, Any]:
    from banklake.config import load_settings
    from banklake.lakehouse.catalog import Lakehouse
    from banklake.verify import checks
    from banklake.verify.query import LocalQueries

    settings = load_settings(lakehouse=WORK / f"lakehouse_{rows}")
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    start = time.perf_counter()
    queries = LocalQueries(lakehouse, settings.table_bucket)
    setup = time.perf_counter() - start
    work = {
        "Test 1: count(*) (seed SQL)": lambda: queries.query(checks.SEED_COUNT_SQL),
        "Test 2: seed SQL": lambda: queries.query(checks.SEED_TOP3_SQL),
        "Test 2: corrected SQL": lambda: queries.query(
            checks.corrected_top3_sql(settings.table_bucket, settings.namespace)
        ),
        "Test 3: maintenance policy": lambda: checks.maintenance(lakehouse.tables()),
    }
    timings = {}
    for name, call in work.items():
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        timings[name] = statistics.median(samples)
    return {"rows": rows, "setup_s": setup, "queries_s": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1M rows only")
    quick = parser.parse_args().quick
    if not PEER.exists():
        sys.exit(f"peer not found: {PEER} (benchmarks expect ../shared beside the repository)")
    WORK.mkdir(parents=True, exist_ok=True)
    big = 1_000_000 if quick else 10_000_000
    repeats = 1 if quick else 3
    results: dict[str, Any] = {"generator": bench_generator(big, repeats)}
    sizes = [1_000_000] if quick else [1_000_000, 10_000_000]
    results["pipeline"] = [bench_pipeline(rows, repeats) for rows in sizes]
    results["incremental"] = bench_incremental(sizes[-1], repeats)
    results["queries"] = bench_queries(sizes[-1], 5)
    (ROOT / "benchmarks" / "RESULTS.md").write_text(render(results, quick))
    (WORK / "results.json").write_text(json.dumps(results, indent=2))
    print((ROOT / "benchmarks" / "RESULTS.md").read_text())


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def render(results: dict[str, Any], quick: bool) -> str:
    gen = results["generator"]
    ratio = gen["ours"]["rows_per_s"] / gen["peer"]["rows_per_s"]
    lines = [
        "# Benchmark results",
        "",
        f"`make bench` on {date.today().isoformat()}: {platform.machine()}, {_cpus()} cores, "
        f"Python {platform.python_version()}"
        + (" (quick run: 1M rows only)" if quick else "")
        + ". Medians of whole-process runs, all measured in this one run; peak memory is the "
        "largest resident set of any run.",
        "",
        "## Generator",
        "",
        "| generator | rows | seconds | rows/s | peak MB | duplicate tx_ids |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key in (("banklake generate", "ours"), ("seed generator (peer)", "peer")):
        r = gen[key]
        lines.append(
            f"| {label} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} "
            f"| {r['peak_mb']:,.0f} | {r['duplicate_tx_ids']:.1%} |"
        )
    lines += [
        "",
        f"banklake generates **{ratio:.1f}×** the seed's rows per second "
        f"(target ≥ 25×: {_verdict(ratio >= 25)}), with unique keys.",
        "",
        "## Pipeline: CSV → Silver + quarantine + Gold Iceberg (month partitions)",
        "",
        "The floor is DuckDB reading the same CSVs, joining them and writing the result to "
        "Parquet: no validation, no Silver tables, no Iceberg. Both write Parquet with snappy, "
        "DuckDB's and banklake's default; the zstd rows show both with "
        '`parquet_compression = "zstd"` (Iceberg\'s default codec), which is slower to write '
        "and gives smaller files.",
        "",
        "| rows | codec | banklake run s | peak MB | floor s | ratio | lakehouse MB |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for p in results["pipeline"]:
        for codec, ours, floor in (
            ("snappy", p["ours"], p["floor"]),
            ("zstd", p["ours_zstd"], p["floor_zstd"]),
        ):
            size = p["lakehouse_mb"] if codec == "snappy" else p["lakehouse_zstd_mb"]
            lines.append(
                f"| {p['rows']:,} | {codec} | {ours['seconds']:.2f} | {ours['peak_mb']:,.0f} "
                f"| {floor['seconds']:.2f} | {ours['seconds'] / floor['seconds']:.2f}× "
                f"| {size:,.0f} |"
            )
    last = results["pipeline"][-1]
    ratio = last["ours"]["seconds"] / last["floor"]["seconds"]
    lines += [
        "",
        f"At {last['rows']:,} rows: {ratio:.2f}× the floor (target ≤ 2.5×: "
        f"{_verdict(ratio <= 2.5)}); peak memory {last['ours']['peak_mb']:,.0f} MB "
        f"(target ≤ 6,144 MB: {_verdict(last['ours']['peak_mb'] <= 6144)}).",
        "",
        *_render_spark(results["pipeline"]),
        *_render_incremental(results["incremental"]),
        f"## Verification queries on {results['queries']['rows']:,} Gold rows",
        "",
        f"Opening the lakehouse for queries (planning files, one view per table): "
        f"{results['queries']['setup_s']:.2f} s.",
        "",
        "| query | seconds (median of 5) | target < 1 s |",
        "|---|---:|---|",
    ]
    for name, seconds in results["queries"]["queries_s"].items():
        lines.append(f"| {name} | {seconds:.3f} | {_verdict(seconds < 1)} |")
    return "\n".join(lines) + "\n"


def _render_spark(pipeline: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Spark engine: the same run on local Spark",
        "",
        "`banklake run --engine spark`: PySpark 3.5 (`local[*]`) with the Iceberg 1.10 runtime "
        "and a JDBC catalog on the same kind of SQLite lakehouse, the same plan and data as the "
        "embedded (snappy) runs above; one run per size, JVM start included.",
        "",
        "| rows | spark s | peak MB | embedded s | spark ÷ embedded |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in pipeline:
        spark, ours = p["spark"], p["ours"]
        lines.append(
            f"| {p['rows']:,} | {spark['seconds']:.1f} | {spark['peak_mb']:,.0f} "
            f"| {ours['seconds']:.2f} | {spark['seconds'] / ours['seconds']:.1f}× |"
        )
    last = pipeline[-1]
    ratio = last["spark"]["seconds"] / last["ours"]["seconds"]
    return [
        *lines,
        "",
        f"At {last['rows']:,} rows the embedded engine is {ratio:.1f}× faster than local Spark "
        f"(target ≥ 4×: {_verdict(ratio >= 4)}).",
        "",
    ]


def _render_incremental(inc: dict[str, Any]) -> list[str]:
    history, empty = inc["into_history"], inc["into_empty"]
    ratio = history["seconds"] / empty["seconds"]
    return [
        "## Incremental: one new day into 30 days of history",
        "",
        f"Data: {inc['rows']:,} transactions over 30 days plus a 31st day of "
        f"{inc['day_rows']:,} rows, with daily customer and account snapshots (customers move, "
        "accounts open, close and change, balances move). Each run takes day 31 "
        "(`--from`/`--to` that day): its transactions file and its two snapshots.",
        "",
        "| lakehouse before the run | seconds | peak MB |",
        "|---|---:|---:|",
        f"| 30 days loaded | {history['seconds']:.2f} | {history['peak_mb']:,.0f} |",
        f"| empty | {empty['seconds']:.2f} | {empty['peak_mb']:,.0f} |",
        "",
        f"Loading the day into 30 days of history takes {ratio:.2f}× loading it into an empty "
        f"lakehouse (target ≤ 1.5×: {_verdict(ratio <= 1.5)}): the cost follows the new data.",
        "",
    ]


def _cpus() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    main()
