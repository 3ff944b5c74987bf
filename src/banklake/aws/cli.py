"""``banklake aws``: deploy the stack, land the data, run the Glue job, verify on Athena.

Every command takes the standard AWS credential chain, ``--profile``, ``--region`` and
``--endpoint-url`` (an emulator), and finds the deployed resources through the stack's outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from banklake import progress
from banklake.aws.session import AwsTarget, require_boto3
from banklake.aws.stack import DEFAULT_STACK, StackOutputs
from banklake.cli_common import Json, emit_json, err, errors_as_messages, out, print_checks
from banklake.config import load_settings

aws_app = typer.Typer(
    help="Deploy to AWS (CloudFormation, S3 Tables, Glue, Athena), run and verify there.",
    no_args_is_help=True,
)

Stack = Annotated[str, typer.Option(help="Stack name (the data is in the stack <name>-data)")]
Profile = Annotated[str | None, typer.Option(help="AWS profile [default: the standard chain]")]
Region = Annotated[str | None, typer.Option(help="AWS region [default: the profile's]")]
Terraform = Annotated[
    Path | None,
    typer.Option(
        "--terraform",
        help="Read a Terraform deployment's outputs from this folder instead of the stacks'",
    ),
]
Endpoint = Annotated[
    str | None, typer.Option(help="Send every AWS call here (an emulator, e.g. moto)")
]


class Integration(StrEnum):
    auto = "auto"
    create = "create"
    skip = "skip"


class Route(StrEnum):
    rest = "s3tables-rest"
    federated = "glue-federated"


def _target(profile: str | None, region: str | None, endpoint_url: str | None) -> AwsTarget:
    # Every command starts here, before any of boto3 is imported (stack.py imports botocore's
    # exceptions first thing), so a missing aws extra is said here.
    require_boto3()
    return AwsTarget(profile=profile, region=region, endpoint_url=endpoint_url)


def _deployed(target: AwsTarget, stack: str, terraform: Path | None) -> StackOutputs:
    from banklake.aws.stack import outputs, terraform_outputs

    return terraform_outputs(terraform) if terraform else outputs(target, stack)


def _say(json_output: bool) -> Callable[[str], None]:
    """Progress lines on stderr for a person; nothing when the output is JSON."""
    if json_output:
        return lambda _message: None
    console = progress.stderr_console()
    return lambda message: console.print(message, highlight=False)


@aws_app.command()
@errors_as_messages
def deploy(
    stack: Stack = DEFAULT_STACK,
    glue_version: Annotated[str, typer.Option(help="Glue version (5.0 or 5.1)")] = "5.1",
    worker_type: Annotated[str, typer.Option(help="Glue worker type")] = "G.1X",
    workers: Annotated[int, typer.Option(help="Glue workers, the driver included")] = 2,
    catalog_route: Annotated[
        Route, typer.Option(help="How the job reaches the tables")
    ] = Route.rest,
    integration: Annotated[
        Integration,
        typer.Option(
            help="The account's S3 Tables analytics integration (s3tablescatalog): create it "
            "when missing (auto), always in this stack (create), or leave it (skip)"
        ),
    ] = Integration.auto,
    wheel: Annotated[
        Path | None, typer.Option(help="banklake's wheel [default: built from this source tree]")
    ] = None,
    profile: Profile = None,
    region: Region = None,
    endpoint_url: Endpoint = None,
    json_output: Json = False,
) -> None:
    """Create or update the data stack and the job stack; upload the job's script and wheel."""
    from banklake.aws.artifacts import WHEEL_KEY, upload_job_files
    from banklake.aws.stack import (
        DATA_TEMPLATE,
        JOB_TEMPLATE,
        data_stack,
        integration_exists,
        parameters,
    )
    from banklake.aws.stack import deploy as deploy_stack

    settings = load_settings()
    target = _target(profile, region, endpoint_url)
    say = _say(json_output)
    # auto: create it where it is missing, and keep it in the stack that made it.
    made_here = parameters(target, data_stack(stack)).get("CreateAnalyticsIntegration") == "true"
    create = integration is Integration.create or (
        integration is Integration.auto and (made_here or not integration_exists(target))
    )
    policy = settings.maintenance
    names = {"TableBucketName": settings.table_bucket, "NamespaceName": settings.namespace}
    say(f"deploying stacks {data_stack(stack)} and {stack} to {target.region_name}")
    data = deploy_stack(
        target,
        data_stack(stack),
        DATA_TEMPLATE,
        {
            **names,
            "CompactionTargetFileSizeMB": str(policy.target_file_size_mb),
            "MinSnapshotsToKeep": str(policy.min_snapshots_to_keep),
            "MaxSnapshotAgeHours": str(policy.max_snapshot_age_hours),
            "CreateAnalyticsIntegration": "true" if create else "false",
        },
        say,
        protect=True,
    )
    uploaded = upload_job_files(target, data["LandingBucketName"], wheel)
    for location in uploaded:
        say(f"uploaded {location}")
    job = deploy_stack(
        target,
        stack,
        JOB_TEMPLATE,
        {
            **names,
            "LandingBucketName": data["LandingBucketName"],
            "GlueVersion": glue_version,
            "WorkerType": worker_type,
            "NumberOfWorkers": str(workers),
            "CatalogRoute": catalog_route.value,
            "WheelKey": WHEEL_KEY,
        },
        say,
    )
    deployed = StackOutputs.from_outputs({**data, **job})
    if json_output:
        emit_json({"stack": stack, "outputs": vars(deployed), "uploaded": uploaded})
        return
    out.print(f"Stacks {data_stack(stack)} and {stack} are deployed in {target.region_name}:")
    for name, value in vars(deployed).items():
        out.print(f"  {name}: {value}")
    out.print("Next: banklake aws upload, then banklake aws run")


@aws_app.command()
@errors_as_messages
def upload(
    landing: Annotated[Path | None, typer.Option(help="Landing zone [default: ./landing]")] = None,
    stack: Stack = DEFAULT_STACK,
    terraform: Terraform = None,
    profile: Profile = None,
    region: Region = None,
    endpoint_url: Endpoint = None,
    json_output: Json = False,
) -> None:
    """Upload the landing zone's new and changed files to the stack's landing bucket."""
    from banklake.aws.artifacts import upload_landing

    settings = load_settings(landing=landing)
    target = _target(profile, region, endpoint_url)
    deployed = _deployed(target, stack, terraform)
    say = _say(json_output)
    result = upload_landing(target, deployed, settings.landing, lambda key: say(f"uploaded {key}"))
    if json_output:
        emit_json({"location": deployed.landing_location, **vars(result)})
        return
    out.print(
        f"{len(result.uploaded)} files uploaded to {deployed.landing_location}, "
        f"{result.unchanged} already there unchanged"
    )


@aws_app.command("run")
@errors_as_messages
def run_job(
    wait: Annotated[bool, typer.Option(help="Follow the run to its end")] = True,
    stack: Stack = DEFAULT_STACK,
    terraform: Terraform = None,
    profile: Profile = None,
    region: Region = None,
    endpoint_url: Endpoint = None,
    json_output: Json = False,
) -> None:
    """Start the Glue job and follow it to the end; show its state and where its logs are."""
    from banklake.aws import job

    target = _target(profile, region, endpoint_url)
    deployed = _deployed(target, stack, terraform)
    run_id = job.start(target, deployed)
    say = _say(json_output)
    say(f"started job {deployed.job_name}, run {run_id}")
    if not wait:
        if json_output:
            emit_json({"job": deployed.job_name, "run_id": run_id})
        return
    finished = job.follow(target, deployed, run_id, say)
    if json_output:
        emit_json(finished.to_dict())
        return
    out.print(f"Job {finished.job} run {finished.run_id}: {finished.state} in {finished.seconds} s")
    out.print(f"Logs: {'; '.join(finished.logs)}")
    out.print(f"Console: {finished.console}")


@aws_app.command()
@errors_as_messages
def verify(
    fix: Annotated[
        bool,
        typer.Option(help="Enable compaction at the configured target size where it is not"),
    ] = False,
    stack: Stack = DEFAULT_STACK,
    terraform: Terraform = None,
    profile: Profile = None,
    region: Region = None,
    endpoint_url: Endpoint = None,
    json_output: Json = False,
) -> None:
    """The three tests on AWS: Athena queries and the S3 Tables maintenance configuration."""
    from banklake.aws.checks import verify as verify_on_aws

    target = _target(profile, region, endpoint_url)
    settings = load_settings()
    verification = verify_on_aws(
        target,
        _deployed(target, stack, terraform),
        settings.maintenance,
        fix=fix,
        max_quarantine_share=settings.max_quarantine_share,
    )
    if json_output:
        emit_json(verification.to_dict())
    else:
        print_checks(verification)
        enabled = verification.checks[-1].details["enabled_now"]
        if enabled:
            out.print(f"Compaction enabled now on: {', '.join(enabled)}")
    if not verification.passed:
        raise typer.Exit(1)


@aws_app.command()
@errors_as_messages
def report(
    reports: Annotated[
        Path | None, typer.Option(help="Report folder [default: ./reports]; writes aws/ in it")
    ] = None,
    stack: Stack = DEFAULT_STACK,
    terraform: Terraform = None,
    profile: Profile = None,
    region: Region = None,
    endpoint_url: Endpoint = None,
    json_output: Json = False,
) -> None:
    """Run the three tests on AWS and write the Markdown and JSON reports."""
    from banklake.aws.checks import verify as verify_on_aws
    from banklake.verify.report import write_reports

    settings = load_settings(reports=reports)
    target = _target(profile, region, endpoint_url)
    verification = verify_on_aws(
        target,
        _deployed(target, stack, terraform),
        settings.maintenance,
        max_quarantine_share=settings.max_quarantine_share,
    )
    markdown, machine = write_reports(verification, settings.reports / "aws")
    if json_output:
        emit_json({"passed": verification.passed, "markdown": markdown, "json": machine})
    else:
        verdict = "passed" if verification.passed else "FAILED"
        out.print(f"Verification {verdict}. Reports: {markdown} and {machine}")
    if not verification.passed:
        raise typer.Exit(1)


@aws_app.command()
@errors_as_messages
def destroy(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="Also delete the data stack and its data: the tables, the table bucket and "
            "the landing bucket"
        ),
    ] = False,
    stack: Stack = DEFAULT_STACK,
    profile: Profile = None,
    region: Region = None,
    endpoint_url: Endpoint = None,
    json_output: Json = False,
) -> None:
    """Delete the job stack; the data stack (buckets, tables) stays unless --force."""
    from banklake.aws.stack import data_stack, stack_outputs
    from banklake.aws.stack import destroy as destroy_stack
    from banklake.aws.teardown import delete_data

    target = _target(profile, region, endpoint_url)
    # --force deletes what the data stack names, so it must still be there to name it.
    data = stack_outputs(target, data_stack(stack)) if force else None
    what = (
        f"and the data stack {data_stack(stack)}, DELETING ITS DATA: every table, the table "
        "bucket and the landing bucket with all object versions"
        if force
        else f"(the data stack {data_stack(stack)} with the buckets and tables is kept)"
    )
    if not yes:
        err.print(f"Delete stack {stack} in {target.region_name} {what}?")
        if not typer.confirm("Go ahead?", default=False, err=True):
            raise typer.Exit(1)
    say = _say(json_output)
    existed = destroy_stack(target, stack, say)
    deleted = []
    if data:
        deleted = delete_data(target, data["LandingBucketName"], data["TableBucketArn"], say)
        destroy_stack(target, data_stack(stack), say)
        deleted.append(f"stack {data_stack(stack)}")
    if json_output:
        emit_json({"stack": stack, "deleted_stack": existed, "deleted_data": deleted})
        return
    out.print(f"Stack {stack} {'deleted' if existed else 'was not there'}.")
    if deleted:
        out.print(f"Deleted: {', '.join(deleted)}")
    else:
        out.print(f"Kept: stack {data_stack(stack)} with the buckets and tables (--force deletes)")
