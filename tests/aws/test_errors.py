"""The failures users meet on AWS, each as one clear message.

The services' answers come from ``botocore.stub.Stubber``, which checks every request banklake
makes against the service's model; the answers are the shapes the services document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from typer.testing import CliRunner

from banklake.aws import job
from banklake.aws.athena import Athena
from banklake.aws.session import AwsTarget
from banklake.aws.stack import JOB_TEMPLATE, StackOutputs, deploy, integration_exists
from banklake.cli import app
from banklake.errors import AwsError

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/banklake/1"
OUTPUTS = StackOutputs(
    landing_bucket="banking-raw-data-123456789012-us-east-1",
    landing_location="s3://banking-raw-data-123456789012-us-east-1/landing/",
    table_bucket_arn="arn:aws:s3tables:us-east-1:123456789012:bucket/banking-lakehouse",
    namespace="analytics_db",
    job_name="banklake-etl",
    workgroup="banklake",
    athena_catalog="s3tablescatalog/banking-lakehouse",
)


CREATE = {
    key: ANY
    for key in (
        "StackName",
        "TemplateBody",
        "Parameters",
        "Capabilities",
        "OnFailure",
        "RetainExceptOnCreate",  # a failed create removes what it made, kept data included
        "EnableTerminationProtection",
    )
}


def stack_answer(status: str, stack_id: str = STACK_ID) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackId": stack_id,
                "StackName": "banklake",
                "CreationTime": datetime(2026, 11, 27, tzinfo=UTC),
                "StackStatus": status,
                "Outputs": [{"OutputKey": "JobName", "OutputValue": "banklake-etl"}],
            }
        ]
    }


def stubbed(target: AwsTarget, service: str) -> Stubber:
    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    target._clients[service] = client
    stub = Stubber(client)
    stub.activate()
    return stub


@pytest.fixture
def target() -> AwsTarget:
    made = AwsTarget(region="us-east-1")
    made.__dict__["account"] = "123456789012"
    return made


def event(number: int, logical: str, kind: str, status: str, reason: str = "") -> dict[str, Any]:
    found = {
        "StackId": STACK_ID,
        "EventId": str(number),
        "StackName": "banklake",
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "Timestamp": datetime(2026, 11, 27, 3, 0, number, tzinfo=UTC),
        "ResourceStatus": status,
    }
    return {**found, "ResourceStatusReason": reason} if reason else found


def test_a_rolled_back_stack_names_the_resource_that_failed_and_why(target: AwsTarget) -> None:
    stub = stubbed(target, "cloudformation")
    stub.add_client_error(
        "describe_stacks",
        "ValidationError",
        "Stack with id banklake does not exist",
        expected_params={"StackName": "banklake"},
    )
    stub.add_response("create_stack", {"StackId": STACK_ID}, CREATE)
    events = [  # newest first, as CloudFormation lists them
        event(6, "banklake", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE"),
        event(5, "GlueJobRole", "AWS::IAM::Role", "DELETE_COMPLETE"),
        event(4, "GlueJobRole", "AWS::IAM::Role", "CREATE_FAILED", "Resource creation cancelled"),
        event(3, "TableBucket", "AWS::S3Tables::TableBucket", "CREATE_FAILED",
              "banking-lakehouse already exists in stack arn:aws:cloudformation:...:stack/old"),
        event(2, "TableBucket", "AWS::S3Tables::TableBucket", "CREATE_IN_PROGRESS"),
        event(1, "banklake", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
    ]  # fmt: skip
    stub.add_response("describe_stack_events", {"StackEvents": events}, {"StackName": STACK_ID})
    stub.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackId": STACK_ID,
                    "StackName": "banklake",
                    "CreationTime": datetime(2026, 11, 27, tzinfo=UTC),
                    "StackStatus": "ROLLBACK_COMPLETE",
                }
            ]
        },
        {"StackName": STACK_ID},
    )
    stub.add_response("describe_stack_events", {"StackEvents": events}, {"StackName": STACK_ID})
    said: list[str] = []

    with pytest.raises(AwsError) as failed:
        deploy(target, "banklake", JOB_TEMPLATE, {"NamespaceName": "x"}, said.append)

    assert str(failed.value) == (
        "stack banklake ended ROLLBACK_COMPLETE: TableBucket (AWS::S3Tables::TableBucket) "
        "CREATE_FAILED: banking-lakehouse already exists in stack "
        "arn:aws:cloudformation:...:stack/old"
    )
    assert said[0] == "banklake (AWS::CloudFormation::Stack) CREATE_IN_PROGRESS: User Initiated"
    assert said[-1] == "banklake (AWS::CloudFormation::Stack) ROLLBACK_COMPLETE"
    stub.assert_no_pending_responses()


def test_a_stack_that_failed_to_create_is_deleted_and_created_again(target: AwsTarget) -> None:
    stub = stubbed(target, "cloudformation")
    by_name, by_id = {"StackName": "banklake"}, {"StackName": STACK_ID}
    stub.add_response("describe_stacks", stack_answer("ROLLBACK_COMPLETE"), by_name)
    # destroy: the stack, its latest event, the deletion, then its events until it is gone
    stub.add_response("describe_stacks", stack_answer("ROLLBACK_COMPLETE"), by_name)
    old = [event(1, "banklake", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE")]
    stub.add_response("describe_stack_events", {"StackEvents": old}, by_id)
    stub.add_response("delete_stack", {}, by_id)
    gone = [event(2, "banklake", "AWS::CloudFormation::Stack", "DELETE_COMPLETE"), *old]
    stub.add_response("describe_stack_events", {"StackEvents": gone}, by_id)
    stub.add_response("describe_stacks", stack_answer("DELETE_COMPLETE"), by_id)
    # create
    new_id = STACK_ID.replace("/1", "/2")
    stub.add_response("create_stack", {"StackId": new_id}, CREATE)
    created = [event(3, "banklake", "AWS::CloudFormation::Stack", "CREATE_COMPLETE")]
    stub.add_response("describe_stack_events", {"StackEvents": created}, {"StackName": new_id})
    stub.add_response(
        "describe_stacks", stack_answer("CREATE_COMPLETE", new_id), {"StackName": new_id}
    )
    stub.add_response("describe_stacks", stack_answer("CREATE_COMPLETE", new_id), by_name)
    said: list[str] = []

    assert deploy(target, "banklake", JOB_TEMPLATE, {}, said.append) == {"JobName": "banklake-etl"}
    assert said == [
        "stack banklake failed to create before and holds nothing: deleting it first",
        "banklake (AWS::CloudFormation::Stack) DELETE_COMPLETE",
        "banklake (AWS::CloudFormation::Stack) CREATE_COMPLETE",
    ]
    stub.assert_no_pending_responses()


def test_a_failed_glue_run_says_why_and_where_the_logs_are(target: AwsTarget) -> None:
    stub = stubbed(target, "glue")
    stub.add_response(
        "get_job_run",
        {
            "JobRun": {
                "Id": "jr_1",
                "JobName": "banklake-etl",
                "JobRunState": "FAILED",
                "ErrorMessage": "ModuleNotFoundError: No module named 'banklake'",
                "ExecutionTime": 41,
            }
        },
        {"JobName": "banklake-etl", "RunId": "jr_1"},
    )
    said: list[str] = []
    with pytest.raises(AwsError) as failed:
        job.follow(target, OUTPUTS, "jr_1", said.append)
    message = str(failed.value)
    assert message.startswith(
        "Glue job banklake-etl run jr_1 ended FAILED: "
        "ModuleNotFoundError: No module named 'banklake'; logs: "
    )
    assert message.endswith(
        "logs: CloudWatch /aws-glue/jobs/error, streams jr_1*, "
        "CloudWatch /aws-glue/jobs/output, streams jr_1*"
    )
    assert said == ["job banklake-etl run jr_1: FAILED"]


def test_a_failed_athena_query_gives_the_reason_and_the_sql(target: AwsTarget) -> None:
    stub = stubbed(target, "athena")
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {
            "QueryString": "SELECT count(*) FROM quarantine",
            "QueryExecutionContext": {
                "Catalog": "s3tablescatalog/banking-lakehouse",
                "Database": "analytics_db",
            },
            "WorkGroup": "banklake",
        },
    )
    stub.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": "q-1",
                "Status": {
                    "State": "FAILED",
                    "AthenaError": {
                        "ErrorCategory": 2,
                        "ErrorType": 1301,
                        "ErrorMessage": "TABLE_NOT_FOUND: line 1:22: Table "
                        "'awsdatacatalog.analytics_db.quarantine' does not exist",
                    },
                },
            }
        },
        {"QueryExecutionId": "q-1"},
    )
    with pytest.raises(AwsError) as failed:
        Athena(target, OUTPUTS).query("SELECT count(*) FROM quarantine")
    assert str(failed.value) == (
        "Athena query q-1 FAILED: TABLE_NOT_FOUND: line 1:22: Table "
        "'awsdatacatalog.analytics_db.quarantine' does not exist\n"
        "SELECT count(*) FROM quarantine"
    )


def test_a_missing_analytics_integration_is_named(target: AwsTarget) -> None:
    stub = stubbed(target, "athena")
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-2"}, None)
    reason = "Catalog 's3tablescatalog/banking-lakehouse' does not exist"
    stub.add_response(
        "get_query_execution",
        {"QueryExecution": {"Status": {"State": "FAILED", "StateChangeReason": reason}}},
        {"QueryExecutionId": "q-2"},
    )
    with pytest.raises(AwsError, match="analytics integration is missing; run `banklake aws"):
        Athena(target, OUTPUTS).query("SELECT 1")
    # Other failures that name the catalog do not blame the integration.
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-3"}, None)
    denied = (
        "PERMISSION_DENIED: User: arn:aws:iam::123456789012:user/a is not authorized to perform: "
        "glue:GetCatalog on resource: arn:aws:glue:us-east-1:123456789012:catalog/"
        "s3tablescatalog/banking-lakehouse"
    )
    stub.add_response(
        "get_query_execution",
        {"QueryExecution": {"Status": {"State": "FAILED", "StateChangeReason": denied}}},
        {"QueryExecutionId": "q-3"},
    )
    with pytest.raises(AwsError) as failed:
        Athena(target, OUTPUTS).query("SELECT 1")
    assert "integration" not in str(failed.value)

    glue = stubbed(target, "glue")
    where = {"CatalogId": "123456789012:s3tablescatalog"}
    glue.add_client_error("get_catalog", "EntityNotFoundException", "not found", 400, where)
    assert not integration_exists(target)
    glue.add_response("get_catalog", {"Catalog": {"Name": "s3tablescatalog"}}, where)
    assert integration_exists(target)


def test_access_denied_says_what_was_being_done(target: AwsTarget) -> None:
    stub = stubbed(target, "glue")
    denied = (
        "User: arn:aws:iam::123456789012:user/analyst is not authorized to perform: "
        "glue:StartJobRun on resource: arn:aws:glue:us-east-1:123456789012:job/banklake-etl"
    )
    stub.add_client_error("start_job_run", "AccessDeniedException", denied, 400)
    with pytest.raises(AwsError) as failed:
        job.start(target, OUTPUTS)
    assert str(failed.value) == (
        f"starting Glue job banklake-etl: access denied (AccessDeniedException): {denied}. "
        "The identity you run as needs this permission; see the deploy guide in the README"
    )


def test_no_credentials_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = CliRunner().invoke(
        app, ["aws", "run", "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2
    assert "no AWS credentials found" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_an_unknown_profile_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    result = CliRunner().invoke(app, ["aws", "upload", "--profile", "nobody"])
    assert result.exit_code == 2
    assert "AWS profile 'nobody' is not in your AWS config" in result.stderr
