"""The lakehouse: an Iceberg catalog holding the contract tables, through PyIceberg.

Locally the catalog is PyIceberg's SQL catalog on SQLite (``<lakehouse>/catalog.db``) with a
file warehouse (``<lakehouse>/warehouse``); Spark's JDBC catalog can open the same file. Tables are
created from the contracts when missing and are never replaced: a run changes their contents
with ordinary commits, so history and time travel survive.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    ValidationException,
)
from pyiceberg.expressions import (
    BooleanExpression,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThanOrEqual,
)
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import MonthTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    IcebergType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    TimestamptzType,
)

from banklake.config import Settings
from banklake.contracts import TABLES, TableContract
from banklake.errors import LakehouseError
from banklake.lakehouse.policy import policy_properties

CATALOG_NAME = "banklake"
T = TypeVar("T")
FORMAT_VERSION = "2"  # Athena reads v2, and moving to v3 cannot be undone
_SCALARS: dict[str, IcebergType] = {
    "boolean": BooleanType(),
    "string": StringType(),
    "long": LongType(),
    "date": DateType(),
    "timestamp": TimestamptzType(),
    "decimal(18,2)": DecimalType(18, 2),
}


def iceberg_schema(contract: TableContract) -> Schema:
    """The contract as an Iceberg schema: columns get ids 1..n, nested elements after them.

    Every column is optional in Iceberg terms, as Spark creates them; the rules, not the table
    format, guarantee which columns are filled.
    """
    first_form = [column for column in contract.columns if not column.added]
    next_id = len(first_form) + 1
    fields = []
    for position, column in enumerate(contract.columns, start=1):
        field_id = position
        if column.added:
            field_id, next_id = next_id, next_id + 1
        if column.type == "array<string>":
            kind: IcebergType = ListType(next_id, StringType(), element_required=False)
            next_id += 1
        elif column.type == "map<string,long>":
            kind = MapType(next_id, StringType(), next_id + 1, LongType(), value_required=False)
            next_id += 2
        else:
            kind = _SCALARS[column.type]
        fields.append(NestedField(field_id, column.name, kind, required=False, doc=column.doc))
    return Schema(*fields)


def partition_spec(contract: TableContract) -> PartitionSpec:
    if contract.month_partition_of is None:
        return UNPARTITIONED_PARTITION_SPEC
    source = contract.column_names.index(contract.month_partition_of) + 1
    return PartitionSpec(
        PartitionField(source, 1000, MonthTransform(), f"{contract.month_partition_of}_month")
    )


def parquet_field_ids(schema: Schema) -> dict[str, object]:
    """Column → Iceberg field id, nested the way DuckDB's ``FIELD_IDS`` option expects."""
    ids: dict[str, object] = {}
    for field in schema.fields:
        if isinstance(field.field_type, ListType):
            ids[field.name] = {
                "__duckdb_field_id": field.field_id,
                "element": field.field_type.element_id,
            }
        elif isinstance(field.field_type, MapType):
            ids[field.name] = {
                "__duckdb_field_id": field.field_id,
                "key": field.field_type.key_id,
                "value": field.field_type.value_id,
            }
        else:
            ids[field.name] = field.field_id
    return ids


# Row filters. PyIceberg's predicates take the column and value positionally, but the pydantic
# mypy plugin sees only their fields; these helpers build them untyped, in one place.
def _predicate(kind: type[BooleanExpression], *arguments: object) -> BooleanExpression:
    build: Any = kind
    predicate: BooleanExpression = build(*arguments)
    return predicate


def is_in(column: str, values: Iterable[str]) -> BooleanExpression:
    return _predicate(In, column, set(values))


def is_null(column: str) -> BooleanExpression:
    return _predicate(IsNull, column)


def at_least(column: str, value: str) -> BooleanExpression:
    return _predicate(GreaterThanOrEqual, column, value)


def after(column: str, value: str) -> BooleanExpression:
    return _predicate(GreaterThan, column, value)


def at_most(column: str, value: str) -> BooleanExpression:
    return _predicate(LessThanOrEqual, column, value)


def local_path(location: str) -> Path:
    """The local path of a ``file://`` location (as PyIceberg writes them, not percent-encoded)."""
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        raise LakehouseError(
            f"only local warehouses are supported here, not {location}; "
            "point --lakehouse at a local folder"
        )
    return Path(parsed.path)


def open_catalog(lakehouse: Path) -> Catalog:
    lakehouse.mkdir(parents=True, exist_ok=True)
    warehouse = (lakehouse / "warehouse").resolve()
    warehouse.mkdir(exist_ok=True)
    database = (lakehouse / "catalog.db").resolve()
    # Write-ahead logging: a reader never blocks a writer. Spark's JDBC catalog keeps read
    # transactions open on its pooled connections; with the default rollback journal, those
    # would lock out every commit, its own included. The mode is stored in the file.
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
    return SqlCatalog(CATALOG_NAME, uri=f"sqlite:///{database}", warehouse=warehouse.as_uri())


@contextlib.contextmanager
def catalog_errors(where: object) -> Iterator[None]:
    """A SQLite catalog that another process is writing, said plainly."""
    try:
        yield
    except Exception as error:
        if "database is locked" in str(error) or "SQLITE_BUSY" in str(error):
            raise LakehouseError(
                f"the lakehouse catalog {where} is held by another process (a Spark session, "
                "or another program writing it); nothing of this batch was committed. Stop "
                "that process, then run again"
            ) from None
        raise


@dataclass(frozen=True)
class Lakehouse:
    catalog: Catalog
    namespace: str

    @classmethod
    def local(cls, path: Path, namespace: str) -> Lakehouse:
        return cls(open_catalog(path), namespace)

    @classmethod
    def s3_tables(cls, bucket_arn: str, route: str, namespace: str) -> Lakehouse:
        """An S3 Tables bucket through the route the job's Spark session uses too."""
        from pyiceberg.catalog import load_catalog

        from banklake.aws.spark_conf import parse_bucket_arn

        region, account, bucket = parse_bucket_arn(bucket_arn)
        if route == "s3tables-rest":
            properties = {
                "type": "rest",
                "uri": f"https://s3tables.{region}.amazonaws.com/iceberg",
                "warehouse": bucket_arn,
                "rest.sigv4-enabled": "true",
                "rest.signing-name": "s3tables",
                "rest.signing-region": region,
            }
        elif route == "glue-federated":
            properties = {
                "type": "glue",
                "glue.id": f"{account}:s3tablescatalog/{bucket}",
                "glue.region": region,
            }
        else:
            raise LakehouseError(
                f"{route!r} is not a route to S3 Tables; choose s3tables-rest or glue-federated"
            )
        return cls(load_catalog(CATALOG_NAME, **properties), namespace)

    def ensure_tables(self, settings: Settings) -> dict[str, Table]:
        """Create the namespace and any missing contract table; record the settings on each."""
        with catalog_errors(self.catalog.properties.get("uri", self.catalog.name)):
            if not self.catalog.namespace_exists(self.namespace):
                with contextlib.suppress(NamespaceAlreadyExistsError):
                    self.catalog.create_namespace(self.namespace)
            tables = {}
            for contract in TABLES:
                identifier = contract.identifier(self.namespace)
                if self.catalog.table_exists(identifier):
                    table = _with_added_columns(self.catalog.load_table(identifier), contract)
                else:
                    table = self._create(contract)
                tables[contract.name] = set_properties(table, table_properties(settings))
        return tables

    def _create(self, contract: TableContract) -> Table:
        return self.catalog.create_table_if_not_exists(
            contract.identifier(self.namespace),
            schema=iceberg_schema(contract),
            partition_spec=partition_spec(contract),
            properties=creation_properties(contract),
        )

    def table(self, contract: TableContract) -> Table:
        try:
            return self.catalog.load_table(contract.identifier(self.namespace))
        except NoSuchTableError:
            raise LakehouseError(
                f"table {contract.identifier(self.namespace)} does not exist yet; "
                "run `banklake run` (or `banklake demo`) first"
            ) from None

    def tables(self, contracts: Iterable[TableContract] = TABLES) -> dict[str, Table]:
        return {contract.name: self.table(contract) for contract in contracts}


def _with_added_columns(table: Table, contract: TableContract) -> Table:
    """A table made from an earlier form of its contract gains the columns added since."""
    present = {field.name for field in table.schema().fields}
    if all(column.name in present for column in contract.columns):
        return table
    with table.update_schema() as update:
        update.union_by_name(iceberg_schema(contract))
    return table


def creation_properties(contract: TableContract) -> dict[str, str]:
    """The properties a contract table is created with, here and in the AWS templates."""
    return {
        "format-version": FORMAT_VERSION,
        "write.format.default": "parquet",
        # Loads replace rows by source file: with whole (not truncated) bounds, a data file
        # holding none of a batch's files is skipped without reading it.
        **(
            {"write.metadata.metrics.column.source_file": "full"}
            if "source_file" in contract.column_names
            else {}
        ),
    }


def table_properties(settings: Settings) -> dict[str, str]:
    """What the settings say about every table, as Iceberg table properties."""
    return {
        "write.parquet.compression-codec": settings.parquet_compression,
        **policy_properties(settings.maintenance),
    }


def set_properties(table: Table, properties: Mapping[str, str]) -> Table:
    """Commit the properties that differ (a metadata-only commit; no snapshot is added)."""
    changed = {k: v for k, v in properties.items() if table.properties.get(k) != v}
    if changed:
        with table.transaction() as transaction:
            transaction.set_properties(changed)
    return table


def replace_rows(
    table: Table,
    data_files: list[DataFile],
    where: BooleanExpression,
    summary: Mapping[str, str],
) -> int | None:
    """Delete the rows matching ``where`` and add ``data_files``, in one atomic commit.

    Readers see the old contents or the new, never a mix: the files are already written and
    only the catalog pointer moves. Replacing a file's rows with the rows of the same file makes
    a retried or repeated load change nothing. A commit that loses a race with another writer
    (S3 Tables' own compaction, say) is redone on the table's new state, with backoff. Returns
    the new snapshot id, or None when there was nothing to change.
    """

    def attempt(number: int) -> int | None:
        if number:
            table.refresh()
        return _replace_rows(table, data_files, where, summary)

    return with_commit_retries(
        ".".join(table.name()),
        attempt,
        lambda error: isinstance(error, CommitFailedException | ValidationException),
    )


def with_commit_retries(
    name: str, attempt: Callable[[int], T], lost_race: Callable[[Exception], bool]
) -> T:
    """Run ``attempt`` (given its number) until it does not lose a race with another writer,
    with exponential backoff; give up, saying so, after ``COMMIT_ATTEMPTS``."""
    for number in range(COMMIT_ATTEMPTS):
        try:
            return attempt(number)
        except Exception as error:
            if not lost_race(error):
                raise
            if number == COMMIT_ATTEMPTS - 1:
                raise LakehouseError(
                    f"could not commit to {name} after {COMMIT_ATTEMPTS} attempts; other "
                    f"writers keep changing it ({error}). Nothing of this batch is lost: run "
                    "again once they are done"
                ) from None
            time.sleep(min(COMMIT_BACKOFF_S * 2**number, 5.0) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


COMMIT_ATTEMPTS = 6
COMMIT_BACKOFF_S = 0.1


def _replace_rows(
    table: Table, data_files: list[DataFile], where: BooleanExpression, summary: Mapping[str, str]
) -> int | None:
    before = table.current_snapshot()
    matching = before is not None and any(True for _ in table.scan(row_filter=where).plan_files())
    if not matching and not data_files:
        return None
    with table.transaction() as transaction:
        if matching:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Delete operation did not match any records")
                transaction.delete(where, snapshot_properties=dict(summary))
        if data_files:
            with transaction.update_snapshot(
                snapshot_properties=dict(summary)
            ).fast_append() as append:
                for data_file in data_files:
                    append.append_data_file(data_file)
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot and snapshot != before else None
