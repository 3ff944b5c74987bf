"""The CloudFormation templates: cfn-lint clean, tables from the contracts, least privilege.

The data stack (``banklake-data.yaml``) holds the buckets and tables; the job stack
(``banklake.yaml``) the Glue job, its role and the Athena workgroup.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.decode import cfn_yaml
from tests.infra.expected import S3TABLES_ACTIONS

from banklake.aws.glue_job import glue_conf_argument
from banklake.aws.tables import iceberg_metadata
from banklake.contracts import TABLES
from banklake.lakehouse.routes import glue_federated, s3_tables_rest

TEMPLATES = Path(__file__).parents[2] / "infra" / "cloudformation"
DATA = TEMPLATES / "banklake-data.yaml"
JOB = TEMPLATES / "banklake.yaml"


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(DATA))
    return loaded


@pytest.fixture(scope="module")
def job() -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(JOB))
    return loaded


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


@pytest.mark.parametrize("path", [DATA, JOB], ids=lambda p: p.name)
def test_cfn_lint_is_clean(path: Path) -> None:
    matches = lint_file(path)
    assert not matches, "\n".join(str(m) for m in matches)


def test_tables_are_the_contracts(data: dict[str, Any]) -> None:
    """Each table is declared as its contract says, or as an earlier form of it: a deployed
    table's IcebergMetadata cannot change (CloudFormation would have to replace the table), so
    a contract may only add columns after the declared ones; a deployed table gains them by
    Iceberg schema evolution, not through the template."""
    tables = {
        t["Properties"]["TableName"]: t for t in of_type(data, "AWS::S3Tables::Table").values()
    }
    assert set(tables) == {contract.name for contract in TABLES}
    for contract in TABLES:
        declared = copy.deepcopy(tables[contract.name]["Properties"]["IcebergMetadata"])
        expected = iceberg_metadata(contract)
        fields = declared["IcebergSchemaV2"].pop("SchemaV2FieldList")
        wanted = expected["IcebergSchemaV2"].pop("SchemaV2FieldList")
        assert fields == wanted[: len(fields)], (
            f"{contract.name}: the template's columns differ from banklake.contracts; render "
            "new tables with banklake.aws.tables.iceberg_metadata, never edit deployed ones"
        )
        assert declared == expected, contract.name
        assert tables[contract.name]["Properties"]["Namespace"] == {"Ref": "NamespaceName"}
        assert tables[contract.name]["Properties"]["OpenTableFormat"] == "ICEBERG"


def test_gold_is_partitioned_by_month_and_every_table_is_format_2(data: dict[str, Any]) -> None:
    tables = of_type(data, "AWS::S3Tables::Table")
    gold = tables["EnrichedTransactionsTable"]["Properties"]["IcebergMetadata"]
    assert gold["IcebergPartitionSpec"]["Fields"] == [
        {"FieldId": 1000, "Name": "tx_date_month", "SourceId": 7, "Transform": "month"}
    ]
    fields = gold["IcebergSchemaV2"]["SchemaV2FieldList"]
    assert next(f for f in fields if f["Id"] == 7)["Name"] == "tx_date"
    assert all(
        t["Properties"]["IcebergMetadata"]["TableProperties"]["format-version"] == "2"
        for t in tables.values()
    )


def test_every_table_compacts_and_manages_snapshots(data: dict[str, Any]) -> None:
    parameters = data["Parameters"]
    size = parameters["CompactionTargetFileSizeMB"]
    assert (size["MinValue"], size["MaxValue"], size["Default"]) == (64, 512, 512)
    for name, table in of_type(data, "AWS::S3Tables::Table").items():
        properties = table["Properties"]
        assert properties["Compaction"] == {
            "Status": "enabled",  # lower case here, unlike the table bucket's Enabled
            "TargetFileSizeMB": {"Ref": "CompactionTargetFileSizeMB"},
        }, name
        assert properties["SnapshotManagement"]["Status"] == "enabled", name


def test_data_is_kept_when_the_stack_goes_or_a_table_would_be_replaced(
    data: dict[str, Any],
) -> None:
    kinds = ("AWS::S3Tables::Table", "AWS::S3Tables::TableBucket", "AWS::S3Tables::Namespace")
    for kind in (*kinds, "AWS::S3::Bucket"):
        for name, resource in of_type(data, kind).items():
            assert resource["DeletionPolicy"] == "Retain", name
            assert resource["UpdateReplacePolicy"] == "Retain", name


def test_names(data: dict[str, Any], job: dict[str, Any]) -> None:
    for template in (data, job):
        assert template["Parameters"]["TableBucketName"]["Default"] == "banking-lakehouse"
        assert template["Parameters"]["NamespaceName"]["Default"] == "analytics_db"
    landing = data["Resources"]["LandingBucket"]["Properties"]
    assert landing["BucketName"] == {"Fn::Sub": "banking-raw-data-${AWS::AccountId}-${AWS::Region}"}
    for contract in TABLES:
        assert re.fullmatch(r"[0-9a-z_]+", contract.name)
        assert all(re.fullmatch(r"[0-9a-z_]+", c) for c in contract.column_names)


def test_landing_bucket_is_private_encrypted_versioned_and_tls_only(
    data: dict[str, Any],
) -> None:
    bucket = data["Resources"]["LandingBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (deny,) = data["Resources"]["LandingBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    table_bucket = data["Resources"]["TableBucket"]["Properties"]
    assert table_bucket["UnreferencedFileRemoval"]["Status"] == "Enabled"
    assert table_bucket["EncryptionConfiguration"] == {"SSEAlgorithm": "AES256"}


def _statements(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job role's statements, both catalog routes' conditional ones included."""
    (policy,) = job["Resources"]["GlueJobRole"]["Properties"]["Policies"]
    found = []
    for statement in policy["PolicyDocument"]["Statement"]:
        if "Fn::If" in statement:
            _condition, *branches = statement["Fn::If"]
            found += [b for b in branches if b != {"Ref": "AWS::NoValue"}]
        else:
            found.append(statement)
    return found


def test_job_role_names_every_action_on_named_resources(job: dict[str, Any]) -> None:
    statements = _statements(job)
    actions = [
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not [a for a in actions if "*" in a], "wildcard actions"
    assert {a for a in actions if a.startswith("s3tables:")} == S3TABLES_ACTIONS
    for statement in statements:
        assert statement["Effect"] == "Allow"
        if statement["Sid"] != "LakeFormationCredentials":  # GetDataAccess has no resource
            assert statement["Resource"] != "*", statement["Sid"]
    tables = next(s for s in statements if s["Sid"] == "Tables")
    bucket = "arn:${AWS::Partition}:s3tables:${AWS::Region}:${AWS::AccountId}:bucket/"
    assert tables["Resource"] == [
        {"Fn::Sub": bucket + "${TableBucketName}"},
        {"Fn::Sub": bucket + "${TableBucketName}/table/*"},  # a table's ARN ends in its id
    ]
    writes = next(s for s in statements if s["Sid"] == "WriteScratch")
    assert writes["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${LandingBucketName}/glue/temp/*"
    }
    reads = next(s for s in statements if s["Sid"] == "ReadLandingAndArtifacts")
    assert reads["Action"] == "s3:GetObject"


def _sub(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], text)


def test_glue_job(job: dict[str, Any]) -> None:
    properties = job["Resources"]["GlueJob"]["Properties"]
    assert properties["GlueVersion"] == {"Ref": "GlueVersion"}
    assert job["Parameters"]["GlueVersion"]["Default"] == "5.1"
    assert properties["WorkerType"] == {"Ref": "WorkerType"}
    assert properties["NumberOfWorkers"] == {"Ref": "NumberOfWorkers"}
    assert properties["ExecutionProperty"] == {"MaxConcurrentRuns": 1}  # one writer at a time
    assert properties["Command"]["Name"] == "glueetl"
    arguments = properties["DefaultArguments"]
    assert arguments["--datalake-formats"] == "iceberg"
    assert arguments["--additional-python-modules"] == {
        "Fn::Sub": "s3://${LandingBucketName}/${WheelKey}"
    }
    values = {
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "TableBucketName": "banking-lakehouse",
    }
    rest, federated = (
        _sub(branch["Fn::Sub"], values) for branch in arguments["--conf"]["Fn::If"][1:]
    )
    assert rest == glue_conf_argument(
        s3_tables_rest("eu-west-1", "123456789012", "banking-lakehouse").spark()
    )
    assert federated == glue_conf_argument(
        glue_federated("eu-west-1", "123456789012", "banking-lakehouse").spark()
    )


def test_athena_workgroup(job: dict[str, Any]) -> None:
    configuration = job["Resources"]["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert configuration["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    assert configuration["EnforceWorkGroupConfiguration"] is True
    results = configuration["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}  # not KMS
    assert results["OutputLocation"] == {"Fn::Sub": "s3://${LandingBucketName}/athena-results/"}


def test_the_analytics_integration_is_optional_and_kept(data: dict[str, Any]) -> None:
    integration = data["Resources"]["AnalyticsIntegration"]
    assert integration["Condition"] == "CreateIntegration"
    assert data["Parameters"]["CreateAnalyticsIntegration"]["Default"] == "false"
    assert integration["DeletionPolicy"] == "Retain"
    properties = integration["Properties"]
    assert properties["Name"] == "s3tablescatalog"
    assert properties["FederatedCatalog"]["ConnectionName"] == "aws:s3tables"
    assert properties["AllowFullTableExternalDataAccess"] == "True"
