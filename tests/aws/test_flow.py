"""deploy → upload → run → verify → report → destroy, as a user runs it, against a moto server.

moto lacks some of what the flow touches; ``stand_ins`` says how each gap is filled, the S3
Tables maintenance calls among them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.aws.stand_ins import (
    athena_runs_on,
    create_skipped_resources,
    maintenance_answers,
    termination_protection,
)
from typer.testing import CliRunner

from banklake.aws import cli as aws_cli
from banklake.aws.artifacts import SCRIPT_KEY, WHEEL_KEY, upload_landing
from banklake.aws.glue_job import _local_landing
from banklake.aws.session import AwsTarget
from banklake.aws.stack import StackOutputs
from banklake.cli import app
from banklake.config import load_settings
from banklake.lakehouse.policy import COMPACTION
from banklake.pipeline import run
from banklake.verify.checks import verify as verify_locally

REGION = "us-east-1"  # moto serves S3 Tables in us-east-1, us-east-2 and us-west-2 only
runner = CliRunner()


@pytest.fixture(autouse=True)
def _termination_protection(monkeypatch: pytest.MonkeyPatch) -> None:
    termination_protection(monkeypatch)


def banklake(endpoint: str, *args: str | Path, region: str = REGION) -> Any:
    """Run ``banklake aws ...`` with --json; the parsed output (the process must succeed)."""
    command = ["aws", *map(str, args), "--region", region, "--endpoint-url", endpoint, "--json"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.stderr + result.stdout
    return json.loads(result.stdout) if result.stdout.strip() else None


@pytest.fixture
def stubbed_maintenance(aws: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Route ``banklake aws``'s s3tables client to the stubbed one made by the test."""
    clients: dict[str, Any] = {}

    def target(profile: str | None, region: str | None, endpoint_url: str | None) -> AwsTarget:
        made = AwsTarget(profile=profile, region=region, endpoint_url=endpoint_url)
        made._clients.update(clients)
        return made

    monkeypatch.setattr(aws_cli, "_target", target)
    return clients


def test_deploy_upload_run_verify_report_destroy(
    aws: str,
    landing: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stubbed_maintenance: dict[str, Any],
) -> None:
    target = AwsTarget(region=REGION, endpoint_url=aws)

    deployed = banklake(aws, "deploy", "--integration", "create")
    outputs = deployed["outputs"]
    bucket = outputs["landing_bucket"]
    assert bucket == f"banking-raw-data-123456789012-{REGION}"
    assert outputs["athena_catalog"] == "s3tablescatalog/banking-lakehouse"
    assert deployed["uploaded"] == [f"s3://{bucket}/{SCRIPT_KEY}", f"s3://{bucket}/{WHEEL_KEY}"]
    cloudformation = target.client("cloudformation")
    (data,) = cloudformation.describe_stacks(StackName="banklake-data")["Stacks"]
    (stack,) = cloudformation.describe_stacks(StackName="banklake")["Stacks"]
    assert data["EnableTerminationProtection"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in data["Parameters"]}
    assert parameters["CreateAnalyticsIntegration"] == "true"
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert (parameters["WheelKey"], parameters["LandingBucketName"]) == (WHEEL_KEY, bucket)
    # Deploying again updates the job stack in place (here: a bigger Glue job); the stack that
    # made the analytics integration keeps it without asking Glue again.
    updated = banklake(aws, "deploy", "--integration", "auto", "--workers", "4")
    assert updated["outputs"] == outputs
    (data,) = cloudformation.describe_stacks(StackName="banklake-data")["Stacks"]
    kept = {p["ParameterKey"]: p["ParameterValue"] for p in data["Parameters"]}
    assert kept["CreateAnalyticsIntegration"] == "true"
    (stack,) = cloudformation.describe_stacks(StackName="banklake")["Stacks"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert (stack["StackStatus"], parameters["NumberOfWorkers"]) == ("UPDATE_COMPLETE", "4")
    created = {}
    for name in ("banklake-data", "banklake"):
        (deployed_stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        raw = {o["OutputKey"]: o["OutputValue"] for o in deployed_stack["Outputs"]}
        created.update(create_skipped_resources(target, name, raw))
    assert {"TableBucket", "Namespace", "GlueJob", "AthenaWorkGroup"} <= set(created)

    # The Glue job runs banklake's script with the stack's arguments.
    job = target.client("glue").get_job(JobName="banklake-etl")["Job"]
    assert job["Command"]["ScriptLocation"] == f"s3://{bucket}/{SCRIPT_KEY}"
    assert job["DefaultArguments"]["--additional-python-modules"] == f"s3://{bucket}/{WHEEL_KEY}"
    assert job["DefaultArguments"]["--landing"] == f"s3://{bucket}/landing/"
    assert job["GlueVersion"] == "5.1"

    # The bucket refuses requests that do not use TLS. The emulator speaks plain HTTP only, so
    # once that is shown, the rest of the flow goes on without the policy.
    refused = runner.invoke(
        app, ["aws", "upload", "--landing", str(landing), "--region", REGION, "--endpoint-url", aws]
    )
    assert refused.exit_code == 2
    assert "Forbidden" in refused.stderr
    target.client("s3").delete_bucket_policy(Bucket=bucket)

    # A file the pipeline refuses whole (not UTF-8): Test 1 counts its rows on both sides.
    refused_file = landing / "transactions" / "transactions_2020-01-01.csv"
    refused_file.write_bytes(
        "tx_id,account_id,amount,tx_type,timestamp\nTX_1,ACC_1,1.00,Credit,2020-01-01 10:00:00"
        "\nTX_2,ACC_1,2.00,D\xe9bit,2020-01-01 11:00:00\n".encode("latin-1")
    )
    first = banklake(aws, "upload", "--landing", landing)
    assert len(first["uploaded"]) == len(list(landing.rglob("*.csv")))
    again = banklake(aws, "upload", "--landing", landing)
    assert (again["uploaded"], again["unchanged"]) == ([], len(first["uploaded"]))

    finished = banklake(aws, "run")
    assert finished["state"] == "SUCCEEDED"
    assert any(
        run["Id"] == finished["run_id"]
        for run in target.client("glue").get_job_runs(JobName="banklake-etl")["JobRuns"]
    )
    assert finished["console"].endswith(f"#/job/banklake-etl/run/{finished['run_id']}")

    # moto's job run loads nothing: load what the job loads, from the uploaded files.
    copy = _local_landing(f"s3://{bucket}/landing", tmp_path / "copy")
    settings = load_settings(landing=copy, lakehouse=tmp_path / "tables")
    run(settings)
    local = verify_locally(settings)

    table_bucket = outputs["table_bucket_arn"]
    client, stub = maintenance_answers(target, table_bucket, disabled=("quarantine",))
    stubbed_maintenance["s3tables"] = client
    with athena_runs_on(settings.lakehouse, "banking-lakehouse") as queries:
        verified = banklake(aws, "verify", "--fix")
    stub.assert_no_pending_responses()
    assert verified["passed"], verified
    integrity, business, maintenance = verified["checks"]
    assert integrity["details"]["rows_in_gold"] == local.checks[0].details["rows_in_gold"]
    assert integrity["details"]["rows_read"] == local.checks[0].details["rows_read"]
    assert integrity["details"]["rows_in_rejected_files"] == 2
    assert local.checks[0].details["rows_in_rejected_files"] == 2
    assert business["details"]["corrected_result"] == [
        {**row, "total_volume": str(row["total_volume"])}
        for row in local.checks[1].details["corrected_result"]
    ]
    assert maintenance["details"]["enabled_now"] == ["quarantine"]
    assert maintenance["details"]["glue_job"]["state"] == "SUCCEEDED"
    # Every query named the seed's catalog as Athena needs it, or ran in the stack's context.
    assert all('"s3tablescatalog".' not in query for query in queries)
    assert any('"s3tablescatalog/banking-lakehouse"."analytics_db"' in q for q in queries)

    client, stub = maintenance_answers(target, table_bucket)
    stubbed_maintenance["s3tables"] = client
    with athena_runs_on(settings.lakehouse, "banking-lakehouse"):
        reported = banklake(aws, "report", "--reports", tmp_path / "reports")
    assert reported["passed"]
    markdown = Path(reported["markdown"]).read_text()
    assert "Test 3: automatic compaction enabled" in markdown
    assert "a second Athena query" in markdown
    assert f"Glue job banklake-etl, last run {finished['run_id']}: SUCCEEDED." in markdown

    # S3 Tables says a table's compaction Failed: Test 3 fails alone, naming the job and why.
    reason = "The table's data files could not be read: access to the KMS key was denied"
    client, stub = maintenance_answers(
        target, table_bucket, failed={"enriched_transactions": (COMPACTION, reason)}
    )
    stubbed_maintenance["s3tables"] = client
    with athena_runs_on(settings.lakehouse, "banking-lakehouse"):
        failed_job = runner.invoke(
            app, ["aws", "verify", "--region", REGION, "--endpoint-url", aws, "--json"]
        )
    stub.assert_no_pending_responses()
    assert failed_job.exit_code == 1, failed_job.stderr
    checks = json.loads(failed_job.stdout)["checks"]
    assert [check["passed"] for check in checks] == [True, True, False]
    assert checks[2]["details"]["failed_jobs"] == ["enriched_transactions.icebergCompaction"]
    assert checks[2]["details"]["problems"] == [
        f"enriched_transactions.icebergCompaction Failed: {reason}"
    ]
    status = checks[2]["details"]["tables"]["enriched_transactions"]["jobs"][COMPACTION]
    assert (status["status"], status["failure_message"]) == ("Failed", reason)

    # A file changed in the bucket after the load: Test 1 says which one, and fails.
    changed_key = max(k for k in first["uploaded"] if k.startswith("landing/transactions/"))
    body = target.client("s3").get_object(Bucket=bucket, Key=changed_key)["Body"].read()
    target.client("s3").put_object(Bucket=bucket, Key=changed_key, Body=body + body[-60:])
    client, stub = maintenance_answers(target, table_bucket)
    stubbed_maintenance["s3tables"] = client
    with athena_runs_on(settings.lakehouse, "banking-lakehouse"):
        failing = runner.invoke(
            app, ["aws", "verify", "--region", REGION, "--endpoint-url", aws, "--json"]
        )
    assert failing.exit_code == 1
    problems = json.loads(failing.stdout)["checks"][0]["details"]["problems"]
    name = changed_key.removeprefix("landing/")
    assert problems[0] == f"{name} has not been loaded as it is now"

    del stubbed_maintenance["s3tables"]
    destroyed = banklake(aws, "destroy", "--yes", "--force")
    assert destroyed["deleted_stack"]
    assert destroyed["deleted_data"][-2:] == [f"bucket s3://{bucket}", "stack banklake-data"]
    assert "table analytics_db.enriched_transactions" in destroyed["deleted_data"]
    summaries = cloudformation.list_stacks()["StackSummaries"]
    assert {s["StackName"]: s["StackStatus"] for s in summaries} == {
        "banklake": "DELETE_COMPLETE",
        "banklake-data": "DELETE_COMPLETE",
    }
    assert target.client("s3tables").list_table_buckets()["tableBuckets"] == []
    assert bucket not in [b["Name"] for b in target.client("s3").list_buckets()["Buckets"]]


def test_destroy_keeps_the_data_and_a_later_deploy_carries_on(aws: str) -> None:
    region = "us-west-2"
    target = AwsTarget(region=region, endpoint_url=aws)
    deployed = banklake(aws, "deploy", "--integration", "skip", "--stack", "kept", region=region)
    bucket = deployed["outputs"]["landing_bucket"]
    target.client("s3").put_object(Bucket=bucket, Key="landing/customers/c.csv", Body=b"x\n")

    result = runner.invoke(
        app, ["aws", "destroy", "--stack", "kept", "--region", region, "--endpoint-url", aws],
        input="y\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    asked = " ".join(result.stderr.split())
    assert "(the data stack kept-data with the buckets and tables is kept)?" in asked
    assert "DELETING" not in asked
    assert "Kept: stack kept-data" in result.stdout
    cloudformation = target.client("cloudformation")
    statuses = {
        s["StackName"]: s["StackStatus"] for s in cloudformation.list_stacks()["StackSummaries"]
    }
    assert statuses == {"kept": "DELETE_COMPLETE", "kept-data": "CREATE_COMPLETE"}

    # Nothing deletes the data stack by mistake: it is protected.
    with pytest.raises(ClientError, match="TerminationProtection"):
        cloudformation.delete_stack(StackName="kept-data")

    # The job stack comes back on the same data: nothing was lost, nothing is in the way.
    again = banklake(aws, "deploy", "--integration", "skip", "--stack", "kept", region=region)
    assert again["outputs"] == deployed["outputs"]
    body = target.client("s3").get_object(Bucket=bucket, Key="landing/customers/c.csv")["Body"]
    assert body.read() == b"x\n"


def test_destroy_asks_first(aws: str) -> None:
    region = "us-east-2"
    banklake(aws, "deploy", "--integration", "skip", "--stack", "asked", region=region)
    result = runner.invoke(
        app,
        [
            "aws",
            "destroy",
            "--stack",
            "asked",
            "--force",
            "--region",
            region,
            "--endpoint-url",
            aws,
        ],
        input="n\n",
    )
    assert result.exit_code == 1
    assert "and the data stack asked-data, DELETING ITS DATA" in " ".join(result.stderr.split())
    target = AwsTarget(region=region, endpoint_url=aws)
    (stack,) = target.client("cloudformation").describe_stacks(StackName="asked")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"


def test_forcing_needs_the_stack_that_names_the_data(aws: str) -> None:
    result = runner.invoke(
        app, ["aws", "destroy", "--stack", "gone", "--force", "--yes", "--region", REGION,
              "--endpoint-url", aws],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "there is no stack 'gone-data' in us-east-1" in result.stderr


def test_upload_recognises_unchanged_files_uploaded_in_parts(aws: str, tmp_path: Path) -> None:
    target = AwsTarget(region=REGION, endpoint_url=aws)
    target.client("s3").create_bucket(Bucket="parts")
    stack = StackOutputs("parts", "s3://parts/landing/", "", "analytics_db", "", "", "")
    landing = tmp_path / "landing"
    (landing / "transactions").mkdir(parents=True)
    big = landing / "transactions" / "transactions_2026-01-01.csv"
    big.write_bytes(b"tx_id,account_id,amount,tx_type,timestamp\n" + b"x" * (17 << 20))
    (landing / "customers").mkdir()
    small = landing / "customers" / "customers_2026-01-01.csv"
    small.write_bytes(b"customer_id,name,email,country\n")

    first = upload_landing(target, stack, landing)
    assert sorted(first.uploaded) == [
        "landing/customers/customers_2026-01-01.csv",
        "landing/transactions/transactions_2026-01-01.csv",
    ]
    head = target.client("s3").head_object(Bucket="parts", Key=first.uploaded[1])
    assert head["ETag"].endswith('-3"')  # three 8 MB parts: the ETag is not the file's MD5
    assert (upload_landing(target, stack, landing).uploaded, first.unchanged) == ([], 0)

    small.write_bytes(b"customer_id,name,email,country\nCUST_1,A,a@b.io,UK\n")
    changed = upload_landing(target, stack, landing)
    assert (changed.uploaded, changed.unchanged) == (
        ["landing/customers/customers_2026-01-01.csv"],
        1,
    )


needs_terraform = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="no terraform binary on PATH"
)


@needs_terraform
def test_a_terraform_deployment_is_found_by_its_outputs(aws: str, tmp_path: Path) -> None:
    """upload and run read what `terraform apply` of infra/terraform outputs (its names are
    held to the CloudFormation outputs' in tests/infra)."""
    target = AwsTarget(region=REGION, endpoint_url=aws)
    target.client("s3").create_bucket(Bucket="tf-landing")
    target.client("glue").create_job(
        Name="tf-job",
        Role="arn:aws:iam::123456789012:role/tf-job",
        Command={"Name": "glueetl", "ScriptLocation": "s3://tf-landing/glue/banklake_job.py"},
        GlueVersion="5.1",
    )
    values = {
        "landing_bucket_name": "tf-landing",
        "landing_location": "s3://tf-landing/landing/",
        "table_bucket_arn": "arn:aws:s3tables:us-east-1:123456789012:bucket/banking-lakehouse",
        "namespace_name": "analytics_db",
        "job_name": "tf-job",
        "workgroup_name": "banklake",
        "athena_catalog": "s3tablescatalog/banking-lakehouse",
        "glue_job_role_arn": "arn:aws:iam::123456789012:role/tf-job",
    }
    state = {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 1,
        "lineage": "banklake",
        "outputs": {k: {"value": v, "type": "string"} for k, v in values.items()},
        "resources": [],
    }
    deployment = tmp_path / "terraform"
    deployment.mkdir()
    (deployment / "terraform.tfstate").write_text(json.dumps(state))
    landing = tmp_path / "landing" / "customers"
    landing.mkdir(parents=True)
    (landing / "customers_2026-01-01.csv").write_bytes(b"customer_id,name,email,country\n")

    uploaded = banklake(aws, "upload", "--landing", landing.parent, "--terraform", deployment)
    assert uploaded["location"] == "s3://tf-landing/landing/"
    assert uploaded["uploaded"] == ["landing/customers/customers_2026-01-01.csv"]
    assert banklake(aws, "run", "--terraform", deployment)["job"] == "tf-job"

    empty = tmp_path / "nothing"
    empty.mkdir()
    result = runner.invoke(
        app, ["aws", "run", "--terraform", str(empty), "--region", REGION, "--endpoint-url", aws]
    )
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "is not an applied banklake Terraform deployment: no outputs athena_catalog" in message


def test_upload_and_test_1_follow_the_landing_layout(aws: str, tmp_path: Path) -> None:
    """Respelled, nested and compressed files go up as the pipeline sees them, and the landed
    transactions are counted through their codec; notes and in-flight files stay behind."""
    import gzip

    from banklake.aws.checks import landed_transactions

    target = AwsTarget(region=REGION, endpoint_url=aws)
    target.client("s3").create_bucket(Bucket="layout")
    stack = StackOutputs("layout", "s3://layout/landing/", "", "analytics_db", "", "", "")
    landing = tmp_path / "landing"
    rows = (
        b"tx_id,account_id,amount,tx_type,timestamp\nTX_1,ACC_1,1.00,Credit,2026-01-01 09:00:00\n"
    )
    nested = landing / "Transactions" / "date=2026-01-01" / "part-0.csv.gz"
    nested.parent.mkdir(parents=True)
    nested.write_bytes(gzip.compress(rows + b"TX_2,ACC_1,2.00,Debit,2026-01-01 10:00:00\n"))
    (landing / "transactions_2026-01-02.CSV").write_bytes(rows)
    (landing / "README.md").write_text("notes\n")
    (landing / "Transactions" / ".part-1.csv.partial").write_bytes(rows)

    uploaded = upload_landing(target, stack, landing).uploaded
    assert sorted(uploaded) == [
        "landing/Transactions/date=2026-01-01/part-0.csv.gz",
        "landing/transactions_2026-01-02.CSV",
    ]
    counted = {name: count for name, (count, _) in landed_transactions(target, stack).items()}
    assert counted == {
        "Transactions/date=2026-01-01/part-0.csv.gz": 2,
        "transactions_2026-01-02.CSV": 1,
    }
