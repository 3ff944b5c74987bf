"""An engine whose optional dependencies are not installed says what to install."""

from __future__ import annotations

import subprocess
import sys

from banklake.config import Settings

WITHOUT_PYSPARK = """
import sys
sys.modules["pyspark"] = None  # as where the spark extra was never installed
from banklake.cli import app
app(sys.argv[1:])
"""


def test_the_spark_engine_without_pyspark_says_to_run_spark_setup(settings: Settings) -> None:
    where = ["--landing", str(settings.landing), "--lakehouse", str(settings.lakehouse)]
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PYSPARK, "run", "--engine", "spark", *where],
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = " ".join(result.stderr.split())
    assert result.returncode == 2, said
    assert said == (
        "error: the spark engine needs pyspark, which is not installed: run `make spark-setup` "
        "(it installs PySpark, Java 17 and the Iceberg runtime's jars)"
    )
