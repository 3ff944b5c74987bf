"""The rule behind CKV_BANKLAKE_1: an S3 Tables resource policy that grants access to anyone.

checkov has no S3 Tables rules, so the table bucket and table policies of the lakehouse are held
to this one. It is deliberately simple.

A statement is *open* when all three hold:

1. its ``Effect`` is ``Allow``;
2. it names every principal: ``Principal`` is ``"*"``, or its ``AWS`` entry is ``"*"`` or a list
   holding ``"*"``; or it uses ``NotPrincipal``, which with ``Allow`` grants everyone not listed;
3. no condition narrows it to known callers. A condition narrows when its operator is one of
   ``StringEquals``, ``StringEqualsIgnoreCase``, ``StringLike``, ``ArnEquals`` or ``ArnLike``
   (optionally ``ForAnyValue:``-prefixed; ``...IfExists`` does not narrow, since an absent key
   passes), its key is an account, organisation or ARN key of the caller or the calling service
   (``aws:PrincipalAccount``, ``aws:PrincipalArn``, ``aws:PrincipalOrgID``,
   ``aws:PrincipalOrgPaths``, ``aws:SourceAccount``, ``aws:SourceArn``, ``aws:SourceOrgID``,
   ``aws:SourceOrgPaths``; case-insensitive), and none of its values is made of wildcards only.
   A value that is not a plain string (a CloudFormation ``!Ref AWS::AccountId``) narrows.

A policy fails when one of its statements is open. A policy given as a JSON string (or a
CloudFormation ``Fn::Sub`` of one) is parsed first; one that cannot be read (a Terraform
reference such as ``data.aws_iam_policy_document.x.json``) gives no verdict.

This module does not import checkov: the two checks beside it (one per framework) share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

NARROWING_OPERATORS = frozenset(
    {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"}
)
CALLER_KEYS = frozenset(
    {
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
    }
)
WILDCARDS = frozenset("*?")


def grants_any_principal(policy: Any) -> bool | None:
    """Whether ``policy`` has an open statement; None when the policy cannot be read."""
    document = _document(policy)
    if document is None:
        return None
    return any(is_open(statement) for statement in _statements(document))


def is_open(statement: Any) -> bool:
    if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
        return False
    if "NotPrincipal" not in statement and not _names_everyone(statement.get("Principal")):
        return False
    return not _narrowed(statement.get("Condition"))


def _document(policy: Any) -> Mapping[str, Any] | None:
    # Terraform presents an attribute as a one-element list, its JSON already decoded.
    if isinstance(policy, list) and len(policy) == 1:
        policy = policy[0]
    if isinstance(policy, Mapping) and "Fn::Sub" in policy:
        template = policy["Fn::Sub"]
        policy = template[0] if isinstance(template, list) and template else template
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return None
    if isinstance(policy, Mapping) and "Statement" in policy:
        return policy
    return None


def _statements(document: Mapping[str, Any]) -> Iterator[Any]:
    statements = document["Statement"]
    yield from statements if isinstance(statements, list) else [statements]


def _names_everyone(principal: Any) -> bool:
    if isinstance(principal, Mapping):
        principal = principal.get("AWS")
    if isinstance(principal, list):
        return "*" in principal
    return principal == "*"


def _narrowed(condition: Any) -> bool:
    if not isinstance(condition, Mapping):
        return False
    for operator, tests in _entries(condition):
        name = operator.lower().removeprefix("foranyvalue:")
        if name not in NARROWING_OPERATORS or not isinstance(tests, Mapping):
            continue
        for key, values in _entries(tests):
            if key.lower() in CALLER_KEYS and _specific(values):
                return True
    return False


def _entries(mapping: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    # checkov's CloudFormation parser adds __file__, __startline__ and __endline__ to each map.
    for key, value in mapping.items():
        if isinstance(key, str) and not key.startswith("__"):
            yield key, value


def _specific(values: Any) -> bool:
    listed = values if isinstance(values, list) else [values]
    return bool(listed) and all(
        not isinstance(value, str) or not set(value) <= WILDCARDS for value in listed
    )
