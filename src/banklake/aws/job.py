"""Start the Glue job, follow it to the end, and say where its logs are."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from banklake.aws.session import AwsTarget, aws_errors
from banklake.aws.stack import StackOutputs
from banklake.errors import AwsError

RUNNING = ("STARTING", "RUNNING", "STOPPING", "WAITING")
SUCCEEDED = "SUCCEEDED"
# Glue 5 logs every run as it goes: driver and executor streams, named after the run id, in
# these groups (the continuous-logging option and its logs-v2 group are for Glue 4 and older).
LOG_GROUPS = ("/aws-glue/jobs/error", "/aws-glue/jobs/output")


@dataclass
class JobRun:
    job: str
    run_id: str
    state: str
    seconds: int
    error: str | None
    logs: list[str]
    console: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def start(target: AwsTarget, stack: StackOutputs) -> str:
    with aws_errors(f"starting Glue job {stack.job_name}"):
        return str(target.client("glue").start_job_run(JobName=stack.job_name)["JobRunId"])


def follow(
    target: AwsTarget,
    stack: StackOutputs,
    run_id: str,
    say: Callable[[str], None],
    poll: float = 15.0,
) -> JobRun:
    """Wait for the run to end, saying each change of state; a failed run raises."""
    glue = target.client("glue")
    state = ""
    while True:
        with aws_errors(f"reading Glue job run {run_id}"):
            run = glue.get_job_run(JobName=stack.job_name, RunId=run_id)["JobRun"]
        if run["JobRunState"] != state:
            state = run["JobRunState"]
            say(f"job {stack.job_name} run {run_id}: {state}")
        if state not in RUNNING:
            break
        time.sleep(poll)
    result = described(target, stack, run)
    if state != SUCCEEDED:
        raise AwsError(
            f"Glue job {stack.job_name} run {run_id} ended {state}: "
            f"{result.error or 'no error message'}; logs: {', '.join(result.logs)}"
        )
    return result


def latest(target: AwsTarget, stack: StackOutputs) -> JobRun | None:
    """The job's most recent run, if it ever ran."""
    with aws_errors(f"reading the runs of Glue job {stack.job_name}"):
        runs = target.client("glue").get_job_runs(JobName=stack.job_name, MaxResults=1)
    found = runs.get("JobRuns", [])
    return described(target, stack, found[0]) if found else None


def described(target: AwsTarget, stack: StackOutputs, run: dict[str, Any]) -> JobRun:
    run_id = run["Id"]
    region = target.region_name
    return JobRun(
        job=stack.job_name,
        run_id=run_id,
        state=run["JobRunState"],
        seconds=int(run.get("ExecutionTime", 0)),
        error=run.get("ErrorMessage"),
        logs=[f"CloudWatch {group}, streams {run_id}*" for group in LOG_GROUPS],
        console=(
            f"https://{region}.console.aws.amazon.com/gluestudio/home?region={region}"
            f"#/job/{stack.job_name}/run/{run_id}"
        ),
    )
