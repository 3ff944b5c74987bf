"""Shared fixtures: a small generated landing zone, settings isolated per test, and the engines.

Every behaviour test that loads data takes ``engine``, so each engine added to ``ENGINES`` runs
the same assertions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from tests.oracle import Expected, expected
from tests.runs import Content, clean_run
from tests.spark_cluster import LocalCluster, driver_environment

from banklake.config import Settings, load_settings
from banklake.contracts import ENRICHED_TRANSACTIONS
from banklake.generate import GeneratorSpec, generate
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import RunResult, run
from banklake.verify.checks import verify

# Spark cases run on the session's cluster (``spark_cluster``), on local[*] where none starts.
ENGINES = ["embedded", pytest.param("spark", marks=pytest.mark.spark)]
# A small Spark run costs 10-15 s of this machine's 2 cores (some 70 Spark jobs), so the Spark
# cases take 25 minutes, the embedded ones 12: `make test` runs the Spark cases of the load, its
# verification and maintenance, the first of each test's parametrisations
# (`--spark-cases=some`), besides the Spark engine's own tests; `make test-spark` runs all.
SPARK_CASES_IN_MAKE_TEST = ("test_pipeline.py", "verify/", "lakehouse/test_maintenance.py")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--spark-cases",
        choices=("some", "all"),
        default="some",
        help="the Spark cases of the behaviour suite to run (default: those of make test)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--spark-cases") == "all":
        return
    left_out, functions = [], set()
    for item in items:
        engine = getattr(item, "callspec", None) and item.callspec.params.get("engine")
        chosen = any("engine" in mark.args[0] for mark in item.iter_markers("parametrize"))
        if engine != "spark" or chosen:  # a test that names its Spark cases runs them all
            continue
        first = (item.path, item.originalname) not in functions  # type: ignore[attr-defined]
        functions.add((item.path, item.originalname))  # type: ignore[attr-defined]
        if not (first and any(part in str(item.path) for part in SPARK_CASES_IN_MAKE_TEST)):
            left_out.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


def pytest_report_header(config: pytest.Config) -> str:
    chosen = config.getoption("--spark-cases")
    return f"Spark cases of the behaviour suite: {chosen} (make test-spark runs all)"


SMALL = GeneratorSpec(
    customers=200, accounts=300, days=10, transactions=20_000, end_date=date.today(), seed=7
)


@pytest.fixture(autouse=True)
def _isolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """No test reads the developer's banklake.toml or BANKLAKE_* variables; a Spark test's
    settings take the cluster, and its driver's temp folder is the one the workers cannot see."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BANKLAKE_")]:
        monkeypatch.delenv(name)
    spark = request.node.get_closest_marker("spark") is not None
    cluster = request.getfixturevalue("spark_cluster") if spark else None
    if cluster is not None:
        for name, value in driver_environment(cluster).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(tempfile, "tempdir", None)  # found again, from TMPDIR


def generated(spec: GeneratorSpec, factory: pytest.TempPathFactory, name: str) -> Path:
    """A landing zone generated from ``spec`` in a new temporary folder named after ``name``."""
    path = factory.mktemp(name) / "landing"
    generate(spec, path)
    return path


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(SMALL, tmp_path_factory, "small")


@pytest.fixture
def landing(small_landing: Path, tmp_path: Path) -> Path:
    """A private copy of the small landing zone, free to be modified by the test."""
    return Path(shutil.copytree(small_landing, tmp_path / "landing"))


@pytest.fixture
def settings(landing: Path, tmp_path: Path) -> Settings:
    return load_settings(
        landing=landing, lakehouse=tmp_path / "lakehouse", reports=tmp_path / "reports"
    )


# The small landing's shape with every day in one month, whatever today's date: both batches of
# ``half_loaded`` put files in the same partitions, so compaction has files to merge.
ONE_MONTH = replace(SMALL, end_date=date(2026, 3, 15))


@pytest.fixture(scope="session")
def one_month_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(ONE_MONTH, tmp_path_factory, "one-month")


@pytest.fixture
def one_month(one_month_landing: Path, tmp_path: Path) -> Settings:
    """A private copy of the one-month landing zone, and a lakehouse to load it into."""
    landing = Path(shutil.copytree(one_month_landing, tmp_path / "landing"))
    return load_settings(landing=landing, lakehouse=tmp_path / "lakehouse")


@pytest.fixture
def clean(settings: Settings, tmp_path: Path) -> Content:
    """What a clean run over the test's landing zone gives."""
    return clean_run(settings.landing, tmp_path / "reference")


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster | None]:
    """One Spark standalone cluster for the session, its workers blind to the driver's temp;
    None where it cannot start (the Spark cases then run on local[*])."""
    with contextlib.ExitStack() as stack:
        try:
            # Room for two drivers: the tests' own, and a banklake process's.
            folder = tmp_path_factory.mktemp("spark-cluster")
            cluster = stack.enter_context(LocalCluster(folder, cores=4, app_cores=2))
        except RuntimeError as error:
            warnings.warn(f"{error}: the Spark cases run on local[*]", stacklevel=1)
            yield None
            return
        if not cluster.isolated:
            warnings.warn(
                "the Spark cluster's workers share the driver's temp folder here (no root or "
                "no unshare): driver-local files go unnoticed",
                stacklevel=1,
            )
        yield cluster
        from banklake.engines.spark import stop_application

        stop_application()  # before its cluster: the executors are not lost under it


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


@pytest.fixture
def loaded(settings: Settings) -> RunResult:
    """The small landing zone loaded (by the embedded engine: a test of an engine's own
    behaviour runs it itself, with ``engine``)."""
    return run(settings)


def write_csv(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _gold(settings: Settings) -> set[tuple[object, ...]]:
    gold = Lakehouse.local(settings.lakehouse, settings.namespace).table(ENRICHED_TRANSACTIONS)
    columns = ["tx_id", "customer_id", "name", "amount", "tx_type", "tx_date"]
    rows = gold.scan(selected_fields=tuple(columns)).to_arrow().to_pylist()
    return {tuple(row[c] for c in columns) for row in rows}


def assert_matches_the_files(settings: Settings, want: Expected | None = None) -> None:
    """Test 1's terms are the counts of an independent model of the landing files
    (``tests.oracle``), Gold holds exactly the rows it dictates, and the verdict is what those
    numbers make it."""
    want = want or expected(settings.landing)
    integrity = verify(settings).checks[0]
    details = integrity.details
    assert details["rows_read"] == want.rows_read
    assert details["rows_in_gold"] == len(want.gold)
    assert details["rows_quarantined"] == want.quarantined
    assert details["rows_duplicate"] == want.duplicates
    assert details["rows_in_rejected_files"] == want.rows_in_rejected_files
    rows = {(t.tx_id, t.customer_id, t.name, t.amount, t.tx_type, t.tx_date) for t in want.gold}
    assert _gold(settings) == rows
    share = want.quarantined / want.rows_read if want.rows_read else 0
    holds = (bool(want.gold) or not want.rows_read) and share <= settings.max_quarantine_share
    assert integrity.passed == holds, details["problems"]
