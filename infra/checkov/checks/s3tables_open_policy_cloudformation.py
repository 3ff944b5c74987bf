"""CKV_BANKLAKE_1 for CloudFormation: AWS::S3Tables::TableBucketPolicy and TablePolicy."""

from __future__ import annotations

from typing import Any

from checkov.cloudformation.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from s3tables_open_policy import grants_any_principal


class S3TablesPolicyNotOpen(BaseResourceCheck):
    """See s3tables_open_policy for the rule."""

    def __init__(self) -> None:
        super().__init__(
            name="S3 Tables bucket and table policies do not grant access to any principal",
            id="CKV_BANKLAKE_1",
            categories=(CheckCategories.IAM,),
            supported_resources=(
                "AWS::S3Tables::TableBucketPolicy",
                "AWS::S3Tables::TablePolicy",
            ),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["Properties/ResourcePolicy"]
        properties = conf.get("Properties")
        if not isinstance(properties, dict):
            return CheckResult.UNKNOWN
        verdict = grants_any_principal(properties.get("ResourcePolicy"))
        if verdict is None:
            return CheckResult.UNKNOWN
        return CheckResult.FAILED if verdict else CheckResult.PASSED


check = S3TablesPolicyNotOpen()
