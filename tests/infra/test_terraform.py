"""The Terraform configuration in infra/terraform: valid against the real AWS provider's schema,
its settings pinned, and the same as the CloudFormation template wherever both say one thing.

Validation and the evaluated ``--conf`` need a ``terraform`` binary and a local mirror of the
hashicorp/aws provider (no registry is reachable); without them those tests skip and say why.
The parsed-HCL checks run everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from cfnlint.decode import cfn_yaml
from hcl2 import SerializationOptions
from tests.infra.expected import S3TABLES_ACTIONS

from banklake.aws.glue_job import glue_conf_argument
from banklake.lakehouse.routes import glue_federated, s3_tables_rest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
# The CloudFormation deployment is two stacks (data, job); Terraform is one configuration.
TEMPLATES = [
    ROOT / "infra" / "cloudformation" / name for name in ("banklake-data.yaml", "banklake.yaml")
]

# The provider versions the configuration is written for: the S3 Tables resources came in 5.80.
MIN_PROVIDER = (5, 80)
PLUGIN_DIRS = ("/opt/tf-plugins", "~/.terraform.d/plugins", "/usr/share/terraform/plugins")


# Stand-ins for what Terraform knows only at plan time, the same in both kinds of check.
REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE_BUCKET = "banking-lakehouse"
TABLE_BUCKET_ARN = f"arn:aws:s3tables:{REGION}:{ACCOUNT}:bucket/{TABLE_BUCKET}"


# --- the parsed configuration ---------------------------------------------------------------


def _parse(path: Path) -> dict[str, Any]:
    options = SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True
    )
    parsed: dict[str, Any] = hcl2.loads(path.read_text(), serialization_options=options)
    return parsed


def _configuration() -> dict[str, Any]:
    """Every .tf file merged: blocks by type and name, locals and the terraform block."""
    merged: dict[str, Any] = {
        "resource": {},
        "data": {},
        "variable": {},
        "output": {},
        "locals": {},
        "terraform": [],
    }
    for path in sorted(TERRAFORM.glob("*.tf")):
        parsed = _parse(path)
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for type_, named in block.items():
                    merged[kind].setdefault(type_, {}).update(named)
        for kind in ("variable", "output"):
            for block in parsed.get(kind, []):
                merged[kind].update(block)
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        merged["terraform"] += parsed.get("terraform", [])
    return merged


CONFIG = _configuration()


def _resource(type_: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = CONFIG["resource"][type_][name]
    return body


def _default(variable: str) -> Any:
    return CONFIG["variable"][variable]["default"]


def _policy_statements() -> list[dict[str, Any]]:
    """The job role's statements, those of the dynamic (per-route) blocks included."""
    document = CONFIG["data"]["aws_iam_policy_document"]["glue_job"]
    statements: list[dict[str, Any]] = list(document["statement"])
    for dynamic in document.get("dynamic", []):
        statements += dynamic["statement"]["content"]
    return statements


def _substitute(text: str) -> str:
    """``text`` with the interpolations the Spark settings use replaced by the stand-ins."""
    values = {
        "local.region": REGION,
        "local.account": ACCOUNT,
        "var.table_bucket_name": _default("table_bucket_name"),
        "aws_s3tables_table_bucket.this.arn": TABLE_BUCKET_ARN,
    }
    result = re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m[1], m[0]), text)
    assert "${" not in result, f"an interpolation the test does not know: {result}"
    return result


def test_provider_and_terraform_versions() -> None:
    (terraform,) = CONFIG["terraform"]
    (providers,) = terraform["required_providers"]
    assert providers["aws"] == {"source": "hashicorp/aws", "version": ">= 5.80"}
    assert terraform["required_version"] == ">= 1.5"


def test_no_s3tables_table_resources() -> None:
    assert "aws_s3tables_table" not in CONFIG["resource"], (
        "provider 5.x's aws_s3tables_table takes no schema (metadata came in 6.2), and a table "
        "without one has no metadata location that Iceberg clients could load: the Glue job "
        "creates the tables instead"
    )


def test_every_variable_is_used() -> None:
    text = "\n".join(path.read_text() for path in TERRAFORM.glob("*.tf"))
    unused = [name for name in CONFIG["variable"] if f"var.{name}" not in text]
    assert not unused


def test_names_default_to_the_projects() -> None:
    assert _default("namespace_name") == "analytics_db"
    assert _default("table_bucket_name") == TABLE_BUCKET
    assert _resource("aws_s3tables_namespace", "this")["namespace"] == "${var.namespace_name}"
    assert _resource("aws_s3tables_table_bucket", "this")["name"] == "${var.table_bucket_name}"
    assert CONFIG["locals"]["landing_bucket"] == "banking-raw-data-${local.account}-${local.region}"


def test_landing_bucket_is_private_versioned_and_tls_only() -> None:
    block = _resource("aws_s3_bucket_public_access_block", "landing")
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls")
    assert all(block[flag] is True for flag in (*flags, "restrict_public_buckets"))
    versioning = _resource("aws_s3_bucket_versioning", "landing")
    assert versioning["versioning_configuration"] == [{"status": "Enabled"}]
    (ownership,) = _resource("aws_s3_bucket_ownership_controls", "landing")["rule"]
    assert ownership["object_ownership"] == "BucketOwnerEnforced"
    (rule,) = _resource("aws_s3_bucket_server_side_encryption_configuration", "landing")["rule"]
    assert rule["apply_server_side_encryption_by_default"] == [{"sse_algorithm": "AES256"}]
    assert rule["bucket_key_enabled"] is True

    policy = _resource("aws_s3_bucket_policy", "landing")
    assert policy["policy"] == "${data.aws_iam_policy_document.landing_tls_only.json}"
    (deny,) = CONFIG["data"]["aws_iam_policy_document"]["landing_tls_only"]["statement"]
    assert deny["effect"] == "Deny"
    assert deny["actions"] == ["s3:*"]
    assert deny["principals"] == [{"type": "*", "identifiers": ["*"]}]
    assert deny["condition"] == [
        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
    ]
    assert set(deny["resources"]) == {
        "${aws_s3_bucket.landing.arn}",
        "${aws_s3_bucket.landing.arn}/*",
    }


def test_landing_lifecycle_rules_match_the_template() -> None:
    rules = {
        r["id"]: r for r in _resource("aws_s3_bucket_lifecycle_configuration", "landing")["rule"]
    }
    assert set(rules) == {"expire-old-versions", "expire-query-results", "expire-job-scratch"}
    assert all(rule["status"] == "Enabled" for rule in rules.values())
    old_versions = rules["expire-old-versions"]
    assert old_versions["noncurrent_version_expiration"] == [{"noncurrent_days": 30}]
    assert old_versions["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]
    assert rules["expire-query-results"]["filter"] == [{"prefix": "athena-results/"}]
    assert rules["expire-query-results"]["expiration"] == [{"days": 30}]
    assert rules["expire-job-scratch"]["filter"] == [{"prefix": "glue/temp/"}]
    assert rules["expire-job-scratch"]["expiration"] == [{"days": 7}]


def test_table_bucket_removes_unreferenced_files() -> None:
    bucket = _resource("aws_s3tables_table_bucket", "this")
    removal = bucket["maintenance_configuration"]["iceberg_unreferenced_file_removal"]
    # Lower-case: the S3 Tables API's value (CloudFormation alone writes "Enabled").
    assert removal["status"] == "enabled"
    assert removal["settings"] == {
        "unreferenced_days": "${var.unreferenced_days}",
        "non_current_days": "${var.noncurrent_days}",
    }
    assert (_default("unreferenced_days"), _default("noncurrent_days")) == (3, 10)
    assert bucket["encryption_configuration"]["sse_algorithm"] == "AES256"


def test_glue_job_settings() -> None:
    job = _resource("aws_glue_job", "this")
    assert job["glue_version"] == "${var.glue_version}"
    assert _default("glue_version") == "5.1"
    assert job["execution_property"] == [{"max_concurrent_runs": 1}]
    assert (job["timeout"], job["max_retries"]) == (120, 0)
    assert job["command"] == [
        {
            "name": "glueetl",
            "python_version": "3",
            "script_location": "s3://${aws_s3_bucket.landing.id}/glue/banklake_job.py",
        }
    ]
    arguments = job["default_arguments"]
    assert arguments["--datalake-formats"] == "iceberg"
    assert arguments["--catalog_route"] == "${var.catalog_route}"
    assert arguments["--conf"] == "${local.glue_conf}"
    assert arguments["--additional-python-modules"] == (
        "s3://${aws_s3_bucket.landing.id}/${var.wheel_key}"
    )
    for name in ("--TempDir", "--landing", "--table_bucket_arn", "--namespace"):
        assert name in arguments
    security = _resource("aws_glue_security_configuration", "this")
    (encryption,) = security["encryption_configuration"]
    assert encryption["s3_encryption"] == [{"s3_encryption_mode": "SSE-S3"}]


@pytest.mark.parametrize(
    ("route", "conf"),
    [("s3tables-rest", s3_tables_rest), ("glue-federated", glue_federated)],
)
def test_spark_conf_is_the_one_banklake_builds(route: str, conf: Any) -> None:
    settings = CONFIG["locals"]["spark_conf"][route]
    rendered = _substitute(" --conf ".join(settings))
    assert rendered == glue_conf_argument(conf(REGION, ACCOUNT, TABLE_BUCKET).spark())


def test_job_role_is_least_privilege() -> None:
    statements = _policy_statements()
    actions = [action for s in statements for action in s["actions"]]
    assert not [a for a in actions if "*" in a], "every action is named"
    assert {a for a in actions if a.startswith("s3tables:")} == S3TABLES_ACTIONS
    # The Glue and Lake Formation statements exist only for the glue-federated route.
    federated = {"FederatedCatalog", "LakeFormationCredentials"}
    document = CONFIG["data"]["aws_iam_policy_document"]["glue_job"]
    for dynamic in document["dynamic"]:
        assert dynamic["statement"]["for_each"] == "${local.federated ? [1] : []}"
    assert {s["sid"] for d in document["dynamic"] for s in d["statement"]["content"]} == federated
    assert CONFIG["locals"]["federated"] == '${var.catalog_route == "glue-federated"}'


def test_athena_workgroup() -> None:
    workgroup = _resource("aws_athena_workgroup", "this")
    assert workgroup["force_destroy"] is True
    (configuration,) = workgroup["configuration"]
    assert configuration["enforce_workgroup_configuration"] is True
    assert configuration["engine_version"] == [
        {"selected_engine_version": "Athena engine version 3"}
    ]
    assert configuration["bytes_scanned_cutoff_per_query"] == (
        "${var.bytes_scanned_cutoff_per_query}"
    )
    assert _default("bytes_scanned_cutoff_per_query") == 10737418240
    (results,) = configuration["result_configuration"]
    assert results["output_location"] == "s3://${aws_s3_bucket.landing.id}/athena-results/"
    # A workgroup with KMS-encrypted results cannot run DML on S3 Tables.
    assert results["encryption_configuration"] == [{"encryption_option": "SSE_S3"}]


# --- the same as the CloudFormation template ------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """Both CloudFormation templates' resources and outputs together."""
    merged: dict[str, Any] = {"Resources": {}, "Outputs": {}}
    for path in TEMPLATES:
        loaded = cfn_yaml.load(str(path))
        merged["Resources"].update(loaded["Resources"])
        merged["Outputs"].update(loaded["Outputs"])
    return merged


def _snake_case(name: str) -> str:
    # Terraform's provider spells Athena's WorkGroup as one word (aws_athena_workgroup).
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("work_group", "workgroup")


def test_outputs_match_the_template(template: dict[str, Any]) -> None:
    assert set(CONFIG["output"]) == {_snake_case(name) for name in template["Outputs"]}


def test_job_role_matches_the_template(template: dict[str, Any]) -> None:
    """The same statements, each with the same actions (the federated route's included)."""
    role = template["Resources"]["GlueJobRole"]["Properties"]
    (policy,) = role["Policies"]
    declared = {}
    for statement in policy["PolicyDocument"]["Statement"]:
        if "Fn::If" in statement:  # [RestRoute, AWS::NoValue, the federated route's]
            statement = statement["Fn::If"][2]
        action = statement["Action"]
        declared[statement["Sid"]] = sorted([action] if isinstance(action, str) else action)
    assert {s["sid"]: sorted(s["actions"]) for s in _policy_statements()} == declared


def test_spark_conf_matches_the_template(template: dict[str, Any]) -> None:
    job = template["Resources"]["GlueJob"]["Properties"]
    _condition, rest, federated = job["DefaultArguments"]["--conf"]["Fn::If"]
    for route, sub in (("s3tables-rest", rest), ("glue-federated", federated)):
        keys = [setting.split("=", 1)[0] for setting in sub["Fn::Sub"].split(" --conf ")]
        ours = [setting.split("=", 1)[0] for setting in CONFIG["locals"]["spark_conf"][route]]
        assert ours == keys


# --- terraform itself -----------------------------------------------------------------------


def _version(name: str) -> tuple[int, ...] | None:
    return (
        tuple(int(part) for part in name.split(".")) if re.fullmatch(r"\d+(\.\d+)*", name) else None
    )


def _provider_mirror() -> Path | None:
    """The first plugin folder holding hashicorp/aws at a version the configuration accepts."""
    for candidate in (os.environ.get("BANKLAKE_TF_PLUGIN_DIR"), *PLUGIN_DIRS):
        if not candidate:
            continue
        folder = Path(candidate).expanduser()
        versions = folder / "registry.terraform.io" / "hashicorp" / "aws"
        if versions.is_dir() and any(
            (v := _version(child.name)) is not None and v >= MIN_PROVIDER
            for child in versions.iterdir()
        ):
            return folder
    return None


def _terraform(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        ["terraform", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def initialised(tmp_path: Path) -> Iterator[Path]:
    """A copy of the configuration, initialised offline against the provider mirror."""
    if shutil.which("terraform") is None:
        pytest.skip("no terraform binary on PATH")
    mirror = _provider_mirror()
    if mirror is None:
        searched = [os.environ.get("BANKLAKE_TF_PLUGIN_DIR") or "$BANKLAKE_TF_PLUGIN_DIR"]
        searched += PLUGIN_DIRS
        pytest.skip(f"no hashicorp/aws provider mirror (>= 5.80) found in {', '.join(searched)}")
    for path in TERRAFORM.glob("*.tf"):
        shutil.copy(path, tmp_path)
    init = _terraform(
        tmp_path, "init", "-backend=false", f"-plugin-dir={mirror}", "-input=false", "-no-color"
    )
    assert init.returncode == 0, init.stdout + init.stderr
    yield tmp_path


def test_terraform_validate(initialised: Path) -> None:
    validate = _terraform(initialised, "validate", "-json", "-no-color")
    result = json.loads(validate.stdout)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)


def test_terraform_plans_each_route(initialised: Path) -> None:
    """Terraform itself evaluates --conf for each route (a mocked provider: nothing reaches AWS),
    and refuses the values the variables' validations exclude."""
    # JSON strings are HCL strings too (none of these holds "${").
    rest = json.dumps(glue_conf_argument(s3_tables_rest(REGION, ACCOUNT, TABLE_BUCKET).spark()))
    federated = json.dumps(
        glue_conf_argument(glue_federated(REGION, ACCOUNT, TABLE_BUCKET).spark())
    )
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    (initialised / "tests").mkdir()
    (initialised / "tests" / "plan.tftest.hcl").write_text(
        f"""
mock_provider "aws" {{
  override_during = plan
  mock_data "aws_caller_identity" {{
    defaults = {{ account_id = "{ACCOUNT}" }}
  }}
  mock_data "aws_region" {{
    defaults = {{ name = "{REGION}" }}
  }}
  mock_data "aws_partition" {{
    defaults = {{ partition = "aws" }}
  }}
  mock_data "aws_iam_policy_document" {{
    defaults = {{ json = {json.dumps(policy)} }}
  }}
  mock_resource "aws_s3tables_table_bucket" {{
    defaults = {{ arn = "{TABLE_BUCKET_ARN}" }}
  }}
}}

run "rest" {{
  command = plan
  assert {{
    condition     = aws_glue_job.this.default_arguments["--conf"] == {rest}
    error_message = "--conf differs from banklake.lakehouse.routes'"
  }}
}}

run "federated" {{
  command = plan
  variables {{
    catalog_route = "glue-federated"
  }}
  assert {{
    condition     = aws_glue_job.this.default_arguments["--conf"] == {federated}
    error_message = "--conf differs from banklake.lakehouse.routes'"
  }}
}}

run "no_local_route" {{
  command = plan
  variables {{
    catalog_route = "local"
  }}
  expect_failures = [var.catalog_route]
}}

run "no_glue_6" {{
  command = plan
  variables {{
    glue_version = "6.0"
  }}
  expect_failures = [var.glue_version]
}}
"""
    )
    tested = _terraform(initialised, "test", "-no-color")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "4 passed, 0 failed" in tested.stdout
