"""Queries on Athena, in the stack's workgroup and the S3 Tables catalog of its table bucket."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from banklake.aws.session import AwsTarget, aws_errors
from banklake.aws.stack import StackOutputs
from banklake.errors import AwsError

_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")
_MISSING_CATALOG = re.compile(r"catalog '?s3tablescatalog[^ ]*'? (does not exist|not found)", re.I)
_CONVERT: dict[str, Callable[[str], Any]] = {
    "tinyint": int,
    "smallint": int,
    "integer": int,
    "bigint": int,
    "decimal": Decimal,
    "double": float,
    "real": float,
    "boolean": lambda value: value == "true",
}


class Athena:
    """Runs SQL with ``QueryExecutionContext`` = the table bucket's catalog and namespace, so
    unqualified table names resolve to the lakehouse tables."""

    def __init__(self, target: AwsTarget, stack: StackOutputs, poll: float = 1.0):
        self.client = target.client("athena")
        self.stack = stack
        self.poll = poll

    def query(self, sql: str) -> list[dict[str, Any]]:
        with aws_errors(f"starting an Athena query in workgroup {self.stack.workgroup}"):
            query_id = self.client.start_query_execution(
                QueryString=sql,
                QueryExecutionContext={
                    "Catalog": self.stack.athena_catalog,
                    "Database": self.stack.namespace,
                },
                WorkGroup=self.stack.workgroup,
            )["QueryExecutionId"]
        status = self._wait(query_id)
        if status["State"] != "SUCCEEDED":
            raise AwsError(self._failure(query_id, status, sql))
        return self._rows(query_id)

    def scalar(self, sql: str) -> Any:
        rows = self.query(sql)
        if not rows:
            raise AwsError(f"Athena returned no rows for: {sql}")
        return next(iter(rows[0].values()))

    def _wait(self, query_id: str) -> dict[str, Any]:
        while True:
            with aws_errors(f"reading Athena query {query_id}"):
                execution = self.client.get_query_execution(QueryExecutionId=query_id)
            status: dict[str, Any] = execution["QueryExecution"]["Status"]
            if status["State"] in _DONE:
                return status
            time.sleep(self.poll)

    def _failure(self, query_id: str, status: dict[str, Any], sql: str) -> str:
        reason = status.get("AthenaError", {}).get("ErrorMessage") or status.get(
            "StateChangeReason", "no reason given"
        )
        message = f"Athena query {query_id} {status['State']}: {reason}\n{sql}"
        if "CATALOG_NOT_FOUND" in reason or _MISSING_CATALOG.search(reason):
            message += (
                "\nAthena does not see the S3 Tables catalog: the account's analytics "
                "integration is missing; run `banklake aws deploy --integration create`"
            )
        return message

    def _rows(self, query_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        columns: list[tuple[str, str]] = []
        pages = self.client.get_paginator("get_query_results")
        with aws_errors(f"reading the results of Athena query {query_id}"):
            for page in pages.paginate(QueryExecutionId=query_id):
                result = page["ResultSet"]
                if not columns:
                    info = result["ResultSetMetadata"]["ColumnInfo"]
                    columns = [(c["Name"], c["Type"]) for c in info]
                data = result["Rows"]
                if not rows and data and _is_header(data[0], columns):
                    data = data[1:]  # a SELECT's first row repeats the column names
                rows += [_row(columns, row) for row in data]
        return rows


def _is_header(row: dict[str, Any], columns: list[tuple[str, str]]) -> bool:
    return [cell.get("VarCharValue") for cell in row["Data"]] == [name for name, _ in columns]


def _row(columns: list[tuple[str, str]], row: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for (name, kind), cell in zip(columns, row["Data"], strict=True):
        text = cell.get("VarCharValue")
        convert = _CONVERT.get(kind)
        values[name] = None if text is None else (convert(text) if convert else text)
    return values
