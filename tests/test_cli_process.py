"""``banklake`` as a real process: Ctrl-C, and a missing optional extra."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from banklake.cli_common import INTERRUPTED


def _interrupted(command: list[str], started: Callable[[], bool]) -> tuple[int, str]:
    """Start ``banklake COMMAND`` and send it SIGINT once ``started()``: its exit code and
    stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "banklake", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # A shell starts a background job with SIGINT ignored, and a child inherits that:
        # give the command the default disposition a terminal's Ctrl-C meets.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not started() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def test_ctrl_c_in_generate_is_one_line_and_exit_130(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    code, stderr = _interrupted(
        ["generate", "--transactions", "3000000", "--landing", str(landing)],
        (landing / "transactions").exists,  # the days are being written
    )
    assert code == INTERRUPTED, stderr
    assert stderr == "interrupted; run it again to continue\n"
    assert not list(landing.rglob(".*.partial"))  # the days begun were finished, whole


@pytest.mark.slow
def test_ctrl_c_in_a_run_is_one_line_and_exit_130(tmp_path: Path) -> None:
    landing, lakehouse = tmp_path / "landing", tmp_path / "lakehouse"
    subprocess.run(
        [sys.executable, "-m", "banklake", "generate", "--transactions", "1000000",
         "--landing", str(landing)],
        check=True, capture_output=True,
    )  # fmt: skip
    # Once the Silver transactions are being written, DuckDB is at work (COPY ... TO): it
    # turns Ctrl-C into an error of its own, RuntimeError "Query interrupted".
    staging = lakehouse / "warehouse" / "analytics_db" / "transactions" / "data"
    code, stderr = _interrupted(
        ["run", "--landing", str(landing), "--lakehouse", str(lakehouse)],
        lambda: staging.is_dir() and any(staging.iterdir()),
    )
    assert code == INTERRUPTED, stderr
    assert stderr == "interrupted; run it again to continue\n"


# Fault injection: the import of boto3 and botocore fails, as where the aws extra is missing.
WITHOUT_BOTO3 = """
import sys
sys.modules["boto3"] = sys.modules["botocore"] = None
from banklake.cli import app
app()
"""


@pytest.mark.parametrize(
    "command", ["deploy", "upload", "run", "verify", "report", "destroy --yes"]
)
def test_aws_without_the_aws_extra_says_to_install_it(command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_BOTO3, "aws", *command.split(), "--region", "us-east-1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: `banklake aws` needs boto3 and botocore, the aws extra: "
        "pip install 'banklake[aws]'\n"
    )
    assert done.stdout == ""
