"""The Glue entry point runs under local Spark, with the arguments Glue would pass, and loads
what the embedded engine loads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from tests.engines.parity import contents
from tests.engines.test_parity import DEFECTIVE

from banklake.config import load_settings
from banklake.generate import generate
from banklake.pipeline import run

SCRIPT = Path(__file__).parents[2] / "infra" / "glue" / "banklake_job.py"
BUCKET_ARN = "arn:aws:s3tables:eu-west-1:123456789012:bucket/banking-lakehouse"


def _job(landing: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    arguments = [
        # Glue's own arguments come first and are ignored by the job.
        "--job-bookmark-option", "job-bookmark-disable",
        "--TempDir", "s3://aws-glue-assets-123456789012-eu-west-1/temporary/",
        "--JOB_NAME", "banklake-load",
        "--landing", str(landing),
        "--table_bucket_arn", BUCKET_ARN,
        "--namespace", "analytics_db",
        *extra,
    ]  # fmt: skip
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, timeout=900
    )


@pytest.mark.spark
def test_the_glue_script_loads_what_the_embedded_engine_loads(tmp_path: Path) -> None:
    spec = replace(DEFECTIVE, seed=5)
    generate(spec, tmp_path / "source")
    for name in ("glue", "embedded"):
        shutil.copytree(tmp_path / "source", tmp_path / name / "landing")
    lakehouse = tmp_path / "glue" / "lakehouse"

    job = _job(
        tmp_path / "glue" / "landing", "--catalog_route", "local", "--lakehouse", str(lakehouse)
    )
    # The defects include a file that is not UTF-8: it is refused, and the job says so.
    assert job.returncode == 3, job.stderr[-3000:]
    assert "refused:" in job.stdout and "not UTF-8" in job.stdout
    assert "files loaded" in job.stdout

    embedded = load_settings(
        landing=tmp_path / "embedded" / "landing", lakehouse=tmp_path / "embedded" / "lakehouse"
    )
    run(embedded)
    assert contents(lakehouse, tmp_path / "glue" / "landing") == contents(
        embedded.lakehouse, embedded.landing
    )
    # Run again: nothing new, nothing changes.
    again = _job(
        tmp_path / "glue" / "landing", "--catalog_route", "local", "--lakehouse", str(lakehouse)
    )
    assert "0 files loaded" in again.stdout
    assert contents(lakehouse, tmp_path / "glue" / "landing") == contents(
        embedded.lakehouse, embedded.landing
    )


def test_the_glue_script_refuses_a_route_it_does_not_know(tmp_path: Path) -> None:
    job = _job(tmp_path, "--catalog_route", "s3tables")
    assert job.returncode != 0
    assert "--catalog_route must be one of s3tables-rest, glue-federated, local" in job.stderr


def test_the_glue_script_names_a_missing_argument(tmp_path: Path) -> None:
    job = subprocess.run(
        [sys.executable, str(SCRIPT), "--JOB_NAME", "x", "--landing", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert job.returncode == 2
    assert "--table_bucket_arn" in job.stderr
