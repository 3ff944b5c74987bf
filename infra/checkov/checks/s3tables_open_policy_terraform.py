"""CKV_BANKLAKE_1 for Terraform: aws_s3tables_table_bucket_policy and aws_s3tables_table_policy.

checkov hands the check ``resource_policy`` as a one-element list holding the decoded policy,
whether it was written with ``jsonencode(...)`` or as a JSON string.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from s3tables_open_policy import grants_any_principal


class S3TablesPolicyNotOpen(BaseResourceCheck):
    """See s3tables_open_policy for the rule."""

    def __init__(self) -> None:
        super().__init__(
            name="S3 Tables bucket and table policies do not grant access to any principal",
            id="CKV_BANKLAKE_1",
            categories=(CheckCategories.IAM,),
            supported_resources=(
                "aws_s3tables_table_bucket_policy",
                "aws_s3tables_table_policy",
            ),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["resource_policy"]
        verdict = grants_any_principal(conf.get("resource_policy"))
        if verdict is None:
            return CheckResult.UNKNOWN
        return CheckResult.FAILED if verdict else CheckResult.PASSED


check = S3TablesPolicyNotOpen()
