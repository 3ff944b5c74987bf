"""checkov over the infrastructure: the CloudFormation and Terraform pass every check, each skip
says why, and banklake's own check (infra/checkov/checks, CKV_BANKLAKE_1) fails an S3 Tables
policy that lets anyone in.

checkov pins old libraries, so it lives in .venv-checkov (`make checkov-setup`, which `make test`
runs first); without it these tests fail rather than skip. It runs offline and says so: no
Prisma Cloud API (``--skip-download``, ``BC_SKIP_MAPPING``), no PyPI query for a newer checkov
(``CKV_SKIP_PACKAGE_UPDATE_CHECK``), and no API key from the caller's environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra.checkov.checks.s3tables_open_policy import grants_any_principal, is_open

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKS = ROOT / "infra" / "checkov" / "checks"
FIXTURES = Path(__file__).parent / "fixtures"
CLOUDFORMATION = ROOT / "infra" / "cloudformation"
TERRAFORM = ROOT / "infra" / "terraform"
CUSTOM_CHECK = "CKV_BANKLAKE_1"

OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    "LOG_LEVEL": "WARNING",
}
PLATFORM_VARIABLES = ("BC_API_KEY", "PRISMA_API_URL")
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")
# checkov's own pattern for an inline Terraform skip (checkov.common.comment.enum.COMMENT_REGEX).
SKIP_COMMENT = re.compile(
    r"(checkov:skip=|bridgecrew:skip=|cortex:skip=) *([A-Za-z_\d-]+(?:,[A-Za-z_\d-]+)*)?(:[^\n]*)?"
)


# --- running checkov --------------------------------------------------------------------------


def run_checkov(directory: Path, *options: str) -> list[dict[str, Any]]:
    """checkov's reports (one per framework that found something) for ``directory``."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(ROOT)} is missing: run `make checkov-setup`")
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARIABLES} | OFFLINE_ENV
    command = [
        str(CHECKOV),
        "--directory",
        str(directory.relative_to(ROOT)),
        "--framework",
        "cloudformation",
        "terraform",
        "--external-checks-dir",
        str(CHECKS.relative_to(ROOT)),
        "--skip-path",
        ".terraform",
        "--skip-download",
        "--output",
        "json",
        *options,
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    # 0: nothing failed, 1: some check failed; anything else, or a logged error (an external
    # check that did not load, a network call attempted), is checkov itself going wrong.
    if done.returncode not in (0, 1) or "[ERROR]" in done.stderr or "Traceback" in done.stderr:
        pytest.fail(f"checkov exited {done.returncode}:\n{done.stderr}")
    return [report for report in _json_documents(done.stdout) if "results" in report]


def _json_documents(text: str) -> Iterator[dict[str, Any]]:
    # A report is an object, several are a list; a scan that found nothing prints only a summary.
    decoder = json.JSONDecoder()
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(text, position)
        yield from document if isinstance(document, list) else [document]


def _describe(check: dict[str, Any]) -> str:
    first, last = check["file_line_range"]
    path = check.get("repo_file_path") or check["file_path"]
    return (
        f"{check['check_id']} {check['resource']} at {path.lstrip('/')}:{first}-{last}"
        f" ({check['check_name']})"
    )


# --- the project's infrastructure passes ------------------------------------------------------


@pytest.mark.parametrize("directory", [CLOUDFORMATION, TERRAFORM], ids=lambda d: d.name)
def test_infrastructure_passes_checkov(directory: Path) -> None:
    if not directory.is_dir():
        pytest.skip(f"{directory.relative_to(ROOT)} does not exist yet")
    reports = run_checkov(directory, "--quiet")

    assert reports, f"checkov found no resources in {directory.relative_to(ROOT)}"
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0, report["results"].get("parsing_errors")
        assert report["summary"]["resource_count"] > 0
    failed = [
        _describe(check) for report in reports for check in report["results"]["failed_checks"]
    ]
    assert not failed, "checkov checks failed (fix, or skip with a reason):\n" + "\n".join(failed)


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub...), whose values matter not here."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _cloudformation_skips() -> Iterator[tuple[str, str, Any]]:
    for path in sorted(CLOUDFORMATION.rglob("*")):
        if path.suffix not in TEMPLATE_SUFFIXES:
            continue
        template = yaml.load(path.read_text(), Loader=_TemplateLoader)
        for name, resource in (template.get("Resources") or {}).items():
            metadata = (resource or {}).get("Metadata") or {}
            for skip in (metadata.get("checkov") or {}).get("skip") or []:
                yield f"{path.relative_to(ROOT)} {name}", str(skip.get("id", "")), skip


def _terraform_skips() -> Iterator[tuple[str, str, str]]:
    for path in sorted(TERRAFORM.rglob("*.tf")) if TERRAFORM.is_dir() else []:
        if ".terraform" in path.relative_to(TERRAFORM).parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for match in SKIP_COMMENT.finditer(line):
                reason = (match.group(3) or "").removeprefix(":").strip()
                yield f"{path.relative_to(ROOT)}:{number}", match.group(2) or "", reason


def test_every_skip_says_why() -> None:
    unjustified = [
        f"{where}: skip {check_id or '(no id)'} without a comment"
        for where, check_id, skip in _cloudformation_skips()
        if not check_id or not str(skip.get("comment") or "").strip()
    ]
    unjustified += [
        f"{where}: checkov:skip={check_id or '(no id)'} without a reason (ID:reason)"
        for where, check_id, reason in _terraform_skips()
        if not check_id or not reason
    ]
    assert not unjustified, "\n".join(unjustified)


# --- banklake's check: CKV_BANKLAKE_1 on fixtures ---------------------------------------------

EXPECTED = {
    ("cloudformation", "AWS::S3Tables::TableBucketPolicy.OpenTableBucketPolicy"): "FAILED",
    ("cloudformation", "AWS::S3Tables::TablePolicy.OpenTablePolicy"): "FAILED",
    ("cloudformation", "AWS::S3Tables::TablePolicy.WildcardAccountTablePolicy"): "FAILED",
    ("cloudformation", "AWS::S3Tables::TableBucketPolicy.AccountScopedTableBucketPolicy"): "PASSED",
    ("cloudformation", "AWS::S3Tables::TablePolicy.AccountPrincipalTablePolicy"): "PASSED",
    ("terraform", "aws_s3tables_table_bucket_policy.open"): "FAILED",
    ("terraform", "aws_s3tables_table_policy.open"): "FAILED",
    ("terraform", "aws_s3tables_table_bucket_policy.account_scoped"): "PASSED",
    ("terraform", "aws_s3tables_table_policy.account_principal"): "PASSED",
}


@pytest.fixture(scope="module")
def fixture_verdicts() -> dict[tuple[str, str], str]:
    """CKV_BANKLAKE_1's verdict on each policy in tests/infra/fixtures, by framework and resource.

    The CloudFormation runner scans the AWS::S3Tables types although no built-in check knows
    them; a verdict for each fixture resource shows it.
    """
    verdicts = {}
    for report in run_checkov(FIXTURES, "--check", CUSTOM_CHECK):
        for outcome, key in (("FAILED", "failed_checks"), ("PASSED", "passed_checks")):
            for check in report["results"][key]:
                assert check["check_id"] == CUSTOM_CHECK, _describe(check)
                verdicts[report["check_type"], check["resource"]] = outcome
    return verdicts


@pytest.mark.parametrize(
    ("resource", "verdict"),
    [pytest.param(resource, verdict, id=resource[1]) for resource, verdict in EXPECTED.items()],
)
def test_custom_check_on_fixtures(
    fixture_verdicts: dict[tuple[str, str], str], resource: tuple[str, str], verdict: str
) -> None:
    assert fixture_verdicts.get(resource) == verdict


def test_custom_check_judges_exactly_the_fixture_policies(
    fixture_verdicts: dict[tuple[str, str], str],
) -> None:
    assert sorted(fixture_verdicts) == sorted(EXPECTED)


# --- the rule itself, statement by statement --------------------------------------------------

ANYONE = {"Effect": "Allow", "Principal": "*", "Action": "s3tables:*", "Resource": "*"}


@pytest.mark.parametrize(
    ("statement", "open_"),
    [
        (ANYONE, True),
        (ANYONE | {"Effect": "Deny"}, False),
        (ANYONE | {"Principal": {"AWS": ["arn:aws:iam::111122223333:root", "*"]}}, True),
        (ANYONE | {"Principal": {"Service": "glue.amazonaws.com"}}, False),
        (
            {k: v for k, v in ANYONE.items() if k != "Principal"} | {"NotPrincipal": {"AWS": "x"}},
            True,
        ),
        (ANYONE | {"Condition": {"StringEquals": {"aws:PrincipalAccount": "111122223333"}}}, False),
        (
            ANYONE
            | {"Condition": {"StringEquals": {"AWS:SourceAccount": {"Ref": "AWS::AccountId"}}}},
            False,
        ),
        (
            ANYONE | {"Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:glue:*:111122223333:*"}}},
            False,
        ),
        (ANYONE | {"Condition": {"StringLike": {"aws:PrincipalOrgID": ["o-abc", "*"]}}}, True),
        (
            ANYONE | {"Condition": {"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}}},
            True,
        ),
        (ANYONE | {"Condition": {"StringEqualsIfExists": {"aws:PrincipalAccount": "1"}}}, True),
        (ANYONE | {"Condition": {"Bool": {"aws:SecureTransport": "true"}}}, True),
    ],
)
def test_open_statement(statement: dict[str, Any], open_: bool) -> None:
    assert is_open(statement) is open_


@pytest.mark.parametrize(
    ("policy", "verdict"),
    [
        ({"Version": "2012-10-17", "Statement": ANYONE}, True),
        ([{"Statement": [ANYONE | {"Effect": "Deny"}]}], False),
        (json.dumps({"Statement": [ANYONE]}), True),
        ({"Fn::Sub": [json.dumps({"Statement": [ANYONE]}), {}]}, True),
        (["data.aws_iam_policy_document.tables.json"], None),
        (None, None),
    ],
)
def test_policy_forms(policy: Any, verdict: bool | None) -> None:
    assert grants_any_principal(policy) is verdict
