"""The two CloudFormation stacks: create or update them, follow their events, read their
outputs, delete them.

- ``<stack>-data`` (``banklake-data.yaml``): the landing bucket, the table bucket and the
  tables. Termination protection is on, and ``destroy`` leaves it unless forced.
- ``<stack>`` (``banklake.yaml``): the Glue job, its role and the Athena workgroup, which hold
  no data and are deleted and made again freely.

Every other ``banklake aws`` command finds the resources through the two stacks' outputs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from banklake.aws.session import AwsTarget, aws_errors, error_code
from banklake.errors import AwsError, UsageError

DEFAULT_STACK = "banklake"
DATA_TEMPLATE = "banklake-data.yaml"
JOB_TEMPLATE = "banklake.yaml"
INTEGRATION_CATALOG = "s3tablescatalog"
_REPO_INFRA = Path(__file__).resolve().parents[3] / "infra"
Say = Callable[[str], None]


def data_stack(stack: str) -> str:
    return f"{stack}-data"


def infra_file(relative: str) -> Path:
    """A file of ``infra/``: from the source tree, or as packaged into the wheel."""
    in_repo = _REPO_INFRA / relative
    if in_repo.is_file():
        return in_repo
    packaged = resources.files("banklake.aws") / "infra" / relative
    return Path(str(packaged))


def template_body(template: str) -> str:
    return infra_file(f"cloudformation/{template}").read_text(encoding="utf-8")


_OUTPUT_KEYS = (
    "LandingBucketName",
    "LandingLocation",
    "TableBucketArn",
    "NamespaceName",
    "JobName",
    "AthenaCatalog",
)


@dataclass(frozen=True)
class StackOutputs:
    """What the two stacks made, by the names their Outputs give them."""

    landing_bucket: str
    landing_location: str
    table_bucket_arn: str
    namespace: str
    job_name: str
    workgroup: str
    athena_catalog: str

    @classmethod
    def from_outputs(cls, outputs: dict[str, str]) -> StackOutputs:
        return cls(
            landing_bucket=outputs["LandingBucketName"],
            landing_location=outputs["LandingLocation"],
            table_bucket_arn=outputs["TableBucketArn"],
            namespace=outputs["NamespaceName"],
            job_name=outputs["JobName"],
            workgroup=outputs["WorkGroupName"],
            athena_catalog=outputs["AthenaCatalog"],
        )


def describe(target: AwsTarget, stack: str) -> dict[str, Any] | None:
    """The stack (by name, or by id also once deleted), or None when there is none."""
    from botocore.exceptions import ClientError

    with aws_errors(f"reading stack {stack}"):
        try:
            found = target.client("cloudformation").describe_stacks(StackName=stack)
        except ClientError as error:
            if error_code(error) == "ValidationError" and "does not exist" in str(error):
                return None
            raise
    return dict(found["Stacks"][0])


def parameters(target: AwsTarget, stack: str) -> dict[str, str]:
    """The parameters the stack was last deployed with; none when there is no stack."""
    found = describe(target, stack) or {}
    return {p["ParameterKey"]: p["ParameterValue"] for p in found.get("Parameters", [])}


def stack_outputs(target: AwsTarget, stack: str) -> dict[str, str]:
    """One deployed stack's outputs."""
    found = describe(target, stack)
    if found is None:
        raise AwsError(
            f"there is no stack {stack!r} in {target.region_name}; run `banklake aws deploy` first"
        )
    # After a failed update the stack rolls back to its last good state, which is usable.
    status = found["StackStatus"]
    if not status.endswith("_COMPLETE") or status in ("ROLLBACK_COMPLETE", "DELETE_COMPLETE"):
        raise AwsError(
            f"stack {stack} is {found['StackStatus']}, not deployed; run `banklake aws deploy`"
        )
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def outputs(target: AwsTarget, stack: str) -> StackOutputs:
    """Both stacks' outputs: the data stack's and the job stack's."""
    merged = {**stack_outputs(target, data_stack(stack)), **stack_outputs(target, stack)}
    return StackOutputs.from_outputs(merged)


def terraform_outputs(folder: Path) -> StackOutputs:
    """A Terraform deployment's outputs (``terraform output -json`` in ``folder``), which
    have the CloudFormation outputs' names in snake case."""
    import json
    import shutil
    import subprocess

    terraform = shutil.which("terraform")
    if terraform is None:
        raise UsageError("--terraform needs the terraform command on PATH")
    found = subprocess.run(
        [terraform, f"-chdir={folder}", "output", "-json"], capture_output=True, text=True
    )
    values = json.loads(found.stdout or "{}") if found.returncode == 0 else {}
    names = {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): key for key in _OUTPUT_KEYS}
    names["workgroup_name"] = "WorkGroupName"  # the provider's spelling of Athena's WorkGroup
    missing = sorted(set(names) - set(values))
    if missing:
        problem = found.stderr.strip() if found.returncode else f"no outputs {', '.join(missing)}"
        raise UsageError(f"{folder} is not an applied banklake Terraform deployment: {problem}")
    return StackOutputs.from_outputs(
        {names[k]: str(v["value"]) for k, v in values.items() if k in names}
    )


def integration_exists(target: AwsTarget) -> bool:
    """Whether the account's ``s3tablescatalog`` (the analytics integration) is there."""
    from botocore.exceptions import ClientError

    glue = target.client("glue")
    with aws_errors("looking for the S3 Tables analytics integration (glue:GetCatalog)"):
        try:
            glue.get_catalog(CatalogId=f"{target.account}:{INTEGRATION_CATALOG}")
        except ClientError as error:
            if error_code(error) == "EntityNotFoundException":
                return False
            raise
    return True


def deploy(
    target: AwsTarget,
    stack: str,
    template: str,
    parameters: dict[str, str],
    say: Say,
    protect: bool = False,
) -> dict[str, str]:
    """Create the stack, or update it; wait for the end, saying what happened on the way.

    A failed create removes what it made (``RetainExceptOnCreate``, which the data's ``Retain``
    deletion policies would otherwise keep), so the stack is deleted and created again.
    """
    from botocore.exceptions import ClientError

    cloudformation = target.client("cloudformation")
    current = describe(target, stack)
    if current and current["StackStatus"] == "ROLLBACK_COMPLETE":
        say(f"stack {stack} failed to create before and holds nothing: deleting it first")
        destroy(target, stack, say)
        current = None
    request = {
        "StackName": stack,
        "TemplateBody": template_body(template),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Capabilities": ["CAPABILITY_IAM"],
        "RetainExceptOnCreate": True,
    }
    last_seen = _latest_event(target, current["StackId"]) if current else None
    with aws_errors(f"{'updating' if current else 'creating'} stack {stack}"):
        try:
            if current:
                stack_id = cloudformation.update_stack(**request)["StackId"]
            else:
                stack_id = cloudformation.create_stack(
                    **request, OnFailure="ROLLBACK", EnableTerminationProtection=protect
                )["StackId"]
        except ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
            say(f"stack {stack} is already up to date")
            return stack_outputs(target, stack)
    status = follow(target, stack_id, last_seen, say)
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise AwsError(
            f"stack {stack} ended {status}: {failure_reason(target, stack_id, last_seen)}"
        )
    return stack_outputs(target, stack)


def destroy(target: AwsTarget, stack: str, say: Say) -> bool:
    """Delete the stack and wait; False when there was none."""
    current = describe(target, stack)
    if current is None:
        return False
    stack_id = current["StackId"]
    last_seen = _latest_event(target, stack_id)
    cloudformation = target.client("cloudformation")
    with aws_errors(f"deleting stack {stack}"):
        if current.get("EnableTerminationProtection"):
            cloudformation.update_termination_protection(
                EnableTerminationProtection=False, StackName=stack_id
            )
        cloudformation.delete_stack(StackName=stack_id)
    status = follow(target, stack_id, last_seen, say)
    if status != "DELETE_COMPLETE":
        raise AwsError(
            f"stack {stack} ended {status}: {failure_reason(target, stack_id, last_seen)}"
        )
    return True


def follow(target: AwsTarget, stack_id: str, after: str | None, say: Say, poll: float = 5.0) -> str:
    """Say each new stack event until the stack settles, and return its final status."""
    seen: set[str] = set()
    while True:
        for event in reversed(_events(target, stack_id, after)):
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            reason = event.get("ResourceStatusReason")
            say(
                f"{event['LogicalResourceId']} ({event['ResourceType']}) "
                f"{event['ResourceStatus']}{f': {reason}' if reason else ''}"
            )
        found = describe(target, stack_id)
        status = str(found["StackStatus"]) if found else "DELETE_COMPLETE"
        if status.endswith(("_COMPLETE", "_FAILED")):
            return status
        time.sleep(poll)


def failure_reason(target: AwsTarget, stack_id: str, after: str | None) -> str:
    """The first resource that failed in this operation, and why: the cause of a rollback."""
    failed = [
        event
        for event in reversed(_events(target, stack_id, after))
        if event["ResourceStatus"].endswith("_FAILED")
        and event["ResourceType"] != "AWS::CloudFormation::Stack"
        and "cancelled" not in event.get("ResourceStatusReason", "").lower()
    ]
    if not failed:
        return "no resource reported a failure; see the stack's events in the console"
    first = failed[0]
    return (
        f"{first['LogicalResourceId']} ({first['ResourceType']}) {first['ResourceStatus']}: "
        f"{first.get('ResourceStatusReason', 'no reason given')}"
    )


def _latest_event(target: AwsTarget, stack_id: str) -> str | None:
    events = _events(target, stack_id, None, limit=1)
    return str(events[0]["EventId"]) if events else None


def _events(
    target: AwsTarget, stack_id: str, after: str | None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The stack's events newer than the event ``after``, newest first."""
    events: list[dict[str, Any]] = []
    pages = target.client("cloudformation").get_paginator("describe_stack_events")
    with aws_errors("reading the stack's events"):
        for page in pages.paginate(StackName=stack_id):
            for event in page["StackEvents"]:
                if event["EventId"] == after or (limit and len(events) >= limit):
                    return events
                events.append(event)
    return events
