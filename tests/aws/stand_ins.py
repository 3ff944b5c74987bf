"""What the AWS emulator lacks, stood in for with the services' own APIs and a real SQL engine.

- moto's CloudFormation creates the stack's S3 bucket and IAM role, and skips the types it does
  not know (S3 Tables, Glue, Athena, bucket policies). ``create_skipped_resources`` stands in
  for CloudFormation on those: it reads the deployed template, resolves its intrinsic functions
  with the stack's parameters, and creates each resource through its service's API on the same
  moto server. botocore checks every property against the service's request model on the way.
- moto records a stack's termination protection but neither enforces it nor lets it be
  turned off (``UpdateTerminationProtection``). ``termination_protection`` adds both, as
  CloudFormation behaves.
- moto has none of the S3 Tables maintenance calls. ``maintenance_answers`` gives a client
  whose calls are answered by ``botocore.stub.Stubber`` (which checks each request against
  the service's model) with the shapes S3 Tables documents: a job that ``Failed`` comes with
  its ``failureMessage``.
- moto records Athena queries but does not run them. ``athena_runs_on`` gives it a SQL engine:
  each query is run by DuckDB (``LocalQueries``, which translates Athena SQL as it does for
  ``banklake query``) over a local lakehouse loaded from the same landing files.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest
from botocore.stub import Stubber
from cfnlint.decode import decode_str
from moto.athena.models import AthenaBackend, QueryResults
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult

from banklake.aws.session import AwsTarget
from banklake.contracts import TABLES
from banklake.lakehouse.catalog import Lakehouse
from banklake.lakehouse.policy import COMPACTION, JOBS, SNAPSHOT_MANAGEMENT
from banklake.verify.query import LocalQueries

_NO_VALUE = object()


class Resolver:
    """CloudFormation's intrinsic functions, over known references and attributes."""

    def __init__(self, template: dict[str, Any], refs: dict[str, str]):
        self.refs = {
            **{k: str(v.get("Default", "")) for k, v in template["Parameters"].items()},
            **refs,
        }
        self.attributes: dict[tuple[str, str], str] = {}
        self.conditions = {
            name: self(body) for name, body in template.get("Conditions", {}).items()
        }

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self(item) for item in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return _NO_VALUE if argument == "AWS::NoValue" else self.refs[argument]
            if function == "Fn::GetAtt":
                resource, attribute = (
                    argument if isinstance(argument, list) else argument.split(".")
                )
                return self.attributes[(resource, attribute)]
            if function == "Fn::Sub":
                return self._sub(argument)
            if function == "Fn::If":
                name, when_true, when_false = argument
                return self(when_true if self.conditions[name] else when_false)
            if function == "Fn::Equals":
                left, right = self(argument)
                return left == right
        resolved = {k: self(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _sub(self, text: str) -> str:
        def name(found: re.Match[str]) -> str:
            ref = found.group(1)
            if "." in ref and not ref.startswith("AWS::"):
                return self.attributes[tuple(ref.split(".", 1))]  # type: ignore[index]
            return self.refs[ref]

        return re.sub(r"\$\{([^}]+)\}", name, text)


def create_skipped_resources(
    target: AwsTarget, stack: str, outputs: dict[str, str]
) -> dict[str, Any]:
    """Create what moto's CloudFormation skipped; the resolved properties, by logical id."""
    cloudformation = target.client("cloudformation")
    template = decode_str(cloudformation.get_template(StackName=stack)["TemplateBody"])[0]
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    # What moto's CloudFormation did create: the landing bucket (data stack), the role (job).
    made: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    if "LandingBucketName" in outputs:
        bucket = outputs["LandingBucketName"]
        made["LandingBucket"] = bucket
        attributes[("LandingBucket", "Arn")] = f"arn:aws:s3:::{bucket}"
    if "GlueJobRoleArn" in outputs:
        made["GlueJobRole"] = outputs["GlueJobRoleArn"].rsplit("/", 1)[1]
        attributes[("GlueJobRole", "Arn")] = outputs["GlueJobRoleArn"]
    resolve = Resolver(
        template,
        {
            **parameters,
            "AWS::AccountId": target.account,
            "AWS::Region": target.region_name,
            "AWS::Partition": "aws",
            "AWS::StackName": stack,
            **made,
        },
    )
    resolve.attributes.update(attributes)
    created: dict[str, Any] = {}
    for logical_id, resource in template["Resources"].items():
        condition = resource.get("Condition")
        if condition and not resolve.conditions[condition]:
            continue
        create = _CREATORS.get(resource["Type"])
        if create:
            properties = resolve(resource.get("Properties", {}))
            create(target, logical_id, properties, resolve)
            created[logical_id] = properties
    return created


def _table_bucket(target: AwsTarget, logical_id: str, p: dict[str, Any], r: Resolver) -> None:
    made = target.client("s3tables").create_table_bucket(
        name=p["TableBucketName"],
        encryptionConfiguration={"sseAlgorithm": p["EncryptionConfiguration"]["SSEAlgorithm"]},
    )
    r.attributes[(logical_id, "TableBucketARN")] = made["arn"]


def _namespace(target: AwsTarget, _logical_id: str, p: dict[str, Any], _r: Resolver) -> None:
    target.client("s3tables").create_namespace(
        tableBucketARN=p["TableBucketARN"], namespace=[p["Namespace"]]
    )


def _table(target: AwsTarget, _logical_id: str, p: dict[str, Any], _r: Resolver) -> None:
    metadata = p["IcebergMetadata"]
    iceberg: dict[str, Any] = {
        "schemaV2": {
            "type": metadata["IcebergSchemaV2"]["SchemaV2FieldType"],
            "fields": [
                {k[0].lower() + k[1:]: v for k, v in field.items()}
                for field in metadata["IcebergSchemaV2"]["SchemaV2FieldList"]
            ],
        },
        "properties": metadata["TableProperties"],
    }
    if "IcebergPartitionSpec" in metadata:
        iceberg["partitionSpec"] = {
            "fields": [
                {k[0].lower() + k[1:]: v for k, v in field.items()}
                for field in metadata["IcebergPartitionSpec"]["Fields"]
            ]
        }
    target.client("s3tables").create_table(
        tableBucketARN=p["TableBucketARN"],
        namespace=p["Namespace"],
        name=p["TableName"],
        format=p["OpenTableFormat"],
        metadata={"iceberg": iceberg},
    )


def _security_configuration(
    target: AwsTarget, logical_id: str, p: dict[str, Any], r: Resolver
) -> None:
    encryption = p["EncryptionConfiguration"]
    target.client("glue").create_security_configuration(
        Name=p["Name"],
        EncryptionConfiguration={"S3Encryption": encryption["S3Encryptions"]},
    )
    r.refs[logical_id] = p["Name"]


def _glue_job(target: AwsTarget, _logical_id: str, p: dict[str, Any], _r: Resolver) -> None:
    target.client("glue").create_job(
        **{k: v for k, v in p.items() if k not in ("NumberOfWorkers", "Timeout", "MaxRetries")},
        NumberOfWorkers=int(p["NumberOfWorkers"]),
        Timeout=int(p["Timeout"]),
        MaxRetries=int(p["MaxRetries"]),
    )


def _work_group(target: AwsTarget, _logical_id: str, p: dict[str, Any], _r: Resolver) -> None:
    configuration = dict(p["WorkGroupConfiguration"])
    configuration["BytesScannedCutoffPerQuery"] = int(configuration["BytesScannedCutoffPerQuery"])
    target.client("athena").create_work_group(
        Name=p["Name"], Description=p["Description"], Configuration=configuration
    )


def _bucket_policy(target: AwsTarget, _logical_id: str, p: dict[str, Any], _r: Resolver) -> None:
    target.client("s3").put_bucket_policy(
        Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"])
    )


_CREATORS = {
    "AWS::S3Tables::TableBucket": _table_bucket,
    "AWS::S3Tables::Namespace": _namespace,
    "AWS::S3Tables::Table": _table,
    "AWS::Glue::SecurityConfiguration": _security_configuration,
    "AWS::Glue::Job": _glue_job,
    "AWS::Athena::WorkGroup": _work_group,
    "AWS::S3::BucketPolicy": _bucket_policy,
}


def maintenance_answers(
    target: AwsTarget,
    table_bucket_arn: str,
    *,
    disabled: tuple[str, ...] = (),
    failed: dict[str, tuple[str, str]] | None = None,
) -> Any:
    """An s3tables client whose maintenance calls are stubbed, one table after another: with
    compaction off on the ``disabled`` tables (enabled again by ``--fix``), and, in ``failed``,
    a table's job that ``Failed`` with its message."""
    client = boto3.client("s3tables", region_name=target.region_name)
    stub = Stubber(client)
    for contract in TABLES:
        where = {"tableBucketARN": table_bucket_arn, "namespace": "analytics_db"}
        where["name"] = contract.name
        arn = f"{table_bucket_arn}/table/{contract.name}"
        configuration = {
            COMPACTION: {
                "status": "disabled" if contract.name in disabled else "enabled",
                "settings": {COMPACTION: {"targetFileSizeMB": 512, "strategy": "auto"}},
            },
            SNAPSHOT_MANAGEMENT: {
                "status": "enabled",
                "settings": {
                    SNAPSHOT_MANAGEMENT: {"minSnapshotsToKeep": 1, "maxSnapshotAgeHours": 120}
                },
            },
        }
        stub.add_response(
            "get_table_maintenance_configuration",
            {"tableARN": arn, "configuration": copy.deepcopy(configuration)},
            where,
        )
        if contract.name in disabled:
            stub.add_response(
                "put_table_maintenance_configuration",
                {},
                {
                    **where,
                    "type": COMPACTION,
                    "value": {
                        "status": "enabled",
                        "settings": {COMPACTION: {"targetFileSizeMB": 512}},
                    },
                },
            )
            configuration[COMPACTION]["status"] = "enabled"
            stub.add_response(
                "get_table_maintenance_configuration",
                {"tableARN": arn, "configuration": configuration},
                where,
            )
        statuses: dict[str, dict[str, Any]] = {job: {"status": "Not_Yet_Run"} for job in JOBS}
        if contract.name in (failed or {}):
            job, message = (failed or {})[contract.name]
            statuses[job] = {
                "status": "Failed",
                "lastRunTimestamp": datetime(2026, 11, 30, 4, 0, tzinfo=UTC),
                "failureMessage": message,
            }
        stub.add_response(
            "get_table_maintenance_job_status", {"tableARN": arn, "status": statuses}, where
        )
    stub.activate()
    return client, stub


_ATHENA_TYPES = (
    (pa.types.is_integer, "bigint"),
    (pa.types.is_decimal, "decimal"),
    (pa.types.is_floating, "double"),
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_date, "date"),
    (pa.types.is_timestamp, "timestamp"),
)


@contextmanager
def athena_runs_on(lakehouse: Path, table_bucket: str) -> Iterator[list[str]]:
    """Every Athena query moto receives is run on ``lakehouse``; yields the queries seen."""
    seen: list[str] = []
    start = AthenaBackend.start_query_execution
    with LocalQueries(Lakehouse.local(lakehouse, "analytics_db"), table_bucket) as queries:

        def start_and_answer(backend: AthenaBackend, query: str, *args: Any, **kw: Any) -> str:
            query_id: str = start(backend, query, *args, **kw)
            seen.append(query)
            backend.query_results[query_id] = _results(queries.query(query))
            return query_id

        AthenaBackend.start_query_execution = start_and_answer  # type: ignore[method-assign]
        try:
            yield seen
        finally:
            AthenaBackend.start_query_execution = start  # type: ignore[method-assign]


def _results(table: pa.Table) -> QueryResults:
    """An Arrow result as Athena returns it: every value as text, the names as the first row."""
    columns = [{"Name": field.name, "Type": _athena_type(field.type)} for field in table.schema]
    header = {"Data": [{"VarCharValue": field.name} for field in table.schema]}
    rows = [
        {"Data": [{} if v is None else {"VarCharValue": _text(v)} for v in row.values()]}
        for row in table.to_pylist()
    ]
    return QueryResults(rows=[header, *rows], column_info=columns)


def _athena_type(kind: pa.DataType) -> str:
    return next((name for test, name in _ATHENA_TYPES if test(kind)), "varchar")


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def termination_protection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A protected stack cannot be deleted, and ``UpdateTerminationProtection`` works."""
    delete = CloudFormationBackend.delete_stack

    def delete_unless_protected(backend: CloudFormationBackend, name_or_id: str) -> None:
        stack = backend.get_stack(name_or_id)
        if stack.enable_termination_protection:
            raise ValidationError(
                message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection "
                "is enabled"
            )
        delete(backend, name_or_id)

    def update_termination_protection(response: CloudFormationResponse) -> ActionResult:
        stack = response.cloudformation_backend.get_stack(response._get_param("StackName"))
        stack.enable_termination_protection = response._get_param("EnableTerminationProtection")
        return ActionResult({"StackId": stack.stack_id})

    monkeypatch.setattr(CloudFormationBackend, "delete_stack", delete_unless_protected)
    monkeypatch.setattr(
        CloudFormationResponse,
        "update_termination_protection",
        update_termination_protection,
        raising=False,
    )
