"""The Spark engine on a real cluster: a standalone master and worker on loopback whose
executors cannot see the driver's temp folder (``tests.spark_cluster``), as on AWS Glue.

The driver is a ``banklake`` process of its own, its temp folder the one the workers cannot see
and its memory 1g: every file an executor reads must be on storage the cluster shares.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from tests.engines.parity import contents
from tests.spark_cluster import LocalCluster, driver_environment

from banklake.config import load_settings
from banklake.generate import GeneratorSpec, generate
from banklake.pipeline import run

pytestmark = pytest.mark.spark

END = date.today()
DEFECTIVE = GeneratorSpec(
    customers=60,
    accounts=90,
    days=4,
    transactions=3_000,
    end_date=END,
    seed=11,
    defect_rate=0.03,
    snapshots="daily",
)


def _driver(
    cluster: LocalCluster, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``banklake ARGS`` as a driver of the cluster, with 1g of memory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKLAKE_")} | (env or {})
    env |= driver_environment(cluster) | {"BANKLAKE_SPARK__DRIVER_MEMORY": "1g"}
    return subprocess.run(
        [sys.executable, "-m", "banklake", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def cluster(spark_cluster: LocalCluster | None) -> LocalCluster:
    if spark_cluster is None:
        pytest.fail("no Spark cluster could be started here: see the warning above")
    return spark_cluster


READ_A_DRIVER_FILE = """
import os, sys, tempfile
import pyarrow as pa, pyarrow.parquet as pq
from pyspark.sql import SparkSession
spark = SparkSession.builder.master(sys.argv[1]).config("spark.ui.enabled", "false").getOrCreate()
path = os.path.join(tempfile.mkdtemp(), "rows.parquet")
pq.write_table(pa.table({"n": [1, 2]}), path)
try:
    print("read", spark.read.parquet(path).count())
except Exception as error:
    print("not read:", type(error).__name__)
spark.stop()
"""


def test_the_executors_cannot_see_the_drivers_temp_folder(cluster: LocalCluster) -> None:
    """The harness is what it claims: a file the driver wrote to its temp folder cannot be read
    by a task, as the Spark engine's hand-offs could not be before they moved."""
    if not cluster.isolated:
        pytest.skip("the workers share the driver's temp folder here (no root or no unshare)")
    env = {**os.environ, **driver_environment(cluster)}
    probe = subprocess.run(
        [sys.executable, "-c", READ_A_DRIVER_FILE, cluster.master],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.stdout.strip().splitlines()[-1] == "not read: Py4JJavaError", probe.stderr


def test_a_run_on_the_cluster_writes_the_embedded_engines_tables(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Two batches (every kind of defect, daily snapshots) on the cluster, with a 1g driver,
    give exactly the tables the embedded engine writes from the same files."""
    generate(DEFECTIVE, tmp_path / "source")
    found, codes = {}, {}
    for engine in ("embedded", "spark"):
        landing = Path(shutil.copytree(tmp_path / "source", tmp_path / engine / "landing"))
        lakehouse = tmp_path / engine / "lakehouse"
        where = ["--landing", str(landing), "--lakehouse", str(lakehouse)]
        for until in (END - timedelta(days=1), None):
            if engine == "embedded":
                settings = load_settings(landing=landing, lakehouse=lakehouse)
                result = run(settings, "embedded", until=until)
                codes.setdefault(engine, []).append(3 if result.rejected else 0)
            else:
                to = ["--to", str(until)] if until else []
                driven = _driver(cluster, "run", "--engine", "spark", *where, *to)
                assert driven.returncode in (0, 3), driven.stderr[-3000:]
                codes.setdefault(engine, []).append(driven.returncode)
        found[engine] = contents(lakehouse, landing)
    assert codes["spark"] == codes["embedded"]
    for table, rows in found["embedded"].items():
        assert found["spark"][table] == rows, f"{table} differs on the cluster"
    assert found["spark"]["quarantine"], "the defects were quarantined"
    assert not list((tmp_path / "spark" / "lakehouse" / ".scratch").glob("*/*"))


def test_a_failed_task_is_one_line_with_the_executors_exception(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Scratch space in the driver's temp folder, which the executors cannot see: the run
    ends in one line naming the executor's exception, not a Py4J traceback."""
    if not cluster.isolated:
        pytest.skip("the workers share the driver's temp folder here (no root or no unshare)")
    generate(replace(DEFECTIVE, transactions=200, days=2), tmp_path / "landing")
    where = ["--landing", str(tmp_path / "landing"), "--lakehouse", str(tmp_path / "lakehouse")]
    scratch = {"BANKLAKE_SPARK__SCRATCH": str(cluster.driver_tmp / "scratch")}
    failed = _driver(cluster, "run", "--engine", "spark", *where, env=scratch)
    assert failed.returncode == 2, failed.stderr[-3000:]
    # Before it, only the JVM's own start-up warnings.
    [message] = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert message.startswith("error: Spark failed reading the batch's files: ")
    assert message.endswith(
        "is not there on executor host "
        f"{socket.gethostname()}: the landing zone and [spark] scratch must be on storage every "
        "executor sees"
    )
    assert "Traceback" not in failed.stderr and "Py4J" not in failed.stderr
    assert not any(contents(tmp_path / "lakehouse", tmp_path / "landing").values())
