"""The lakehouse: an Iceberg catalog holding the contract tables, through PyIceberg.

Locally the catalog is PyIceberg's SQL catalog on SQLite (``<lakehouse>/catalog.db``) with a
file warehouse (``<lakehouse>/warehouse``); Spark's JDBC catalog can open the same file. Tables are
created from the contracts when missing and are never replaced: a run changes their contents
with ordinary commits, so history and time travel survive.

Only writers create a lakehouse. Readers open an existing one without changing a file, read-only
where it cannot be written. Either way the catalog is checked when it is opened: a damaged file,
or tables recorded somewhere else (a lakehouse copied or moved: Iceberg keeps absolute paths),
stop the command with one line saying what to do.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import random
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlparse

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
    In,
    IsNull,
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
from banklake.errors import BanklakeError, LakehouseError, StorageError
from banklake.lakehouse import routes
from banklake.lakehouse.policy import policy_properties
from banklake.lakehouse.routes import CATALOG_FILE, WAREHOUSE

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


def after(column: str, value: str) -> BooleanExpression:
    return _predicate(GreaterThan, column, value)


def local_path(location: str) -> Path:
    """The local path of a ``file://`` location (as PyIceberg writes them, not percent-encoded)."""
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        raise LakehouseError(
            f"only local warehouses are supported here, not {location}; "
            "point --lakehouse at a local folder"
        )
    return Path(parsed.path)


def open_catalog(lakehouse: Path, writing: bool = True) -> Catalog:
    """The lakehouse's catalog, once it proved to be a readable SQLite file whose tables are here.

    A writer creates the lakehouse where there is none. A reader requires one and changes
    nothing: SQLite opens the file without creating it, and read-only where the lakehouse
    cannot be written (a read-only mount, a backup), so reading works there too.
    """
    database = (lakehouse / CATALOG_FILE).resolve()
    if writing:
        prepare_for_writing(lakehouse)
        with storage_errors(lakehouse, "nothing was written"):
            (lakehouse / WAREHOUSE).mkdir(exist_ok=True)
        options: dict[str, str] = {}
    else:
        _require_lakehouse(lakehouse)
        options = _reader_options(lakehouse, database) if database.exists() else {}
    _check_catalog(lakehouse, database, options, writing)
    with catalog_errors(database):
        if writing:
            # Write-ahead logging: a reader never blocks a writer. Spark's JDBC catalog keeps
            # read transactions open on its pooled connections; with the default rollback
            # journal, those would lock out every commit, its own included. The mode is stored
            # in the file.
            with _sqlite(database, options) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
        route = routes.local(lakehouse, options)
        return SqlCatalog(
            route.catalog, **route.pyiceberg, init_catalog_tables=str(writing).lower()
        )


def prepare_for_writing(lakehouse: Path, command: str = "", create: bool = True) -> None:
    """Make sure ``lakehouse`` is a folder this process can write, creating it when ``create``."""
    if lakehouse.exists() and not lakehouse.is_dir():
        raise LakehouseError(_not_a_folder(lakehouse))
    if not lakehouse.exists():
        if not create:
            raise LakehouseError(_no_lakehouse(lakehouse))
        with storage_errors(lakehouse, "nothing was written"):
            lakehouse.mkdir(parents=True, exist_ok=True)
    if not os.access(lakehouse, os.W_OK | os.X_OK):
        writer = f"`banklake {command}`" if command else "this command"
        raise StorageError(
            f"{lakehouse} is read-only (a read-only mount, or files this user may not write) "
            f"and {writer} writes to it; nothing was written. `banklake query`, `verify` and "
            "`quarantine list` read it as it is; to load, use a writable lakehouse"
        )


def _no_lakehouse(lakehouse: Path) -> str:
    return f"{lakehouse}: no lakehouse here; run `banklake run` first, or pass --lakehouse"


def _not_a_folder(lakehouse: Path) -> str:
    return (
        f"{lakehouse} is a file, not a lakehouse folder; pass --lakehouse the folder "
        "`banklake run` made (or a new one)"
    )


def _require_lakehouse(lakehouse: Path) -> None:
    if lakehouse.exists() and not lakehouse.is_dir():
        raise LakehouseError(_not_a_folder(lakehouse))
    if not lakehouse.exists():
        raise LakehouseError(_no_lakehouse(lakehouse))


def _reader_options(lakehouse: Path, database: Path) -> dict[str, str]:
    """How a reader opens the catalog: never creating it, and read-only where it must be."""
    if os.access(lakehouse, os.W_OK) and os.access(database, os.W_OK):
        return {"mode": "rw"}
    log = database.with_name(f"{database.name}-wal")
    if log.is_file() and log.stat().st_size > 0:
        return {"mode": "ro"}  # commits not yet folded into the file: SQLite reads the log
    # Read-only, SQLite cannot create the shared-memory file a WAL database needs; with no log,
    # every commit is in the file itself, which "immutable" then reads without it.
    return {"mode": "ro", "immutable": "1"}


@contextlib.contextmanager
def _sqlite(database: Path, options: Mapping[str, str]) -> Iterator[sqlite3.Connection]:
    uri = routes.sqlite_file(database) + (f"?{urlencode(options)}" if options else "")
    with catalog_errors(database), contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
        yield connection


def _check_catalog(
    lakehouse: Path, database: Path, options: Mapping[str, str], writing: bool
) -> None:
    """The catalog is whole, and every table it holds is in this lakehouse's warehouse."""
    locations = _table_locations(database, options) if database.exists() else None
    if locations is None and any((lakehouse / WAREHOUSE).glob("*/*/metadata/*.metadata.json")):
        # A deleted or emptied catalog beside tables: creating them again would hide their
        # data and history.
        raise LakehouseError(
            f"the catalog {database} is missing or empty, but {lakehouse / WAREHOUSE} holds "
            f"tables; {_RESTORE}"
        )
    if locations is None and not writing:
        raise LakehouseError(_no_lakehouse(lakehouse))
    warehouse = (lakehouse / WAREHOUSE).resolve()
    for location in filter(None, locations or []):
        table = local_path(location).parent.parent  # <table>/metadata/<version>.metadata.json
        if not table.resolve().is_relative_to(warehouse):
            origin = next((p.parent for p in table.parents if p.name == WAREHOUSE), table)
            raise LakehouseError(
                f"{lakehouse} was moved or copied from {origin}: its catalog records the tables "
                f"there ({table}), as Iceberg keeps absolute paths. Open it at {origin}, or make "
                "a new lakehouse by running the landing zone into it (`banklake run "
                "--lakehouse NEW`)"
            )


def _table_locations(database: Path, options: Mapping[str, str]) -> list[str] | None:
    """Every table's metadata location, once the file proved whole; None: no catalog in it."""
    with _sqlite(database, options) as connection:
        problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise LakehouseError(_unreadable(database, "; ".join(problems[:3])))
        (known,) = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'iceberg_tables'"
        ).fetchone()
        if not known:
            return None
        query = "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ?"
        return [row[0] for row in connection.execute(query, (routes.LOCAL_CATALOG,))]


_RESTORE = "restore catalog.db from a backup of this lakehouse (the tables' files are untouched)"


def _unreadable(database: Path, reason: str) -> str:
    return f"the catalog {database} is not a readable SQLite database ({reason}); {_RESTORE}"


def _sqlite_error(error: BaseException) -> sqlite3.Error | None:
    """The SQLite error behind ``error``: itself, or what SQLAlchemy or PyIceberg wrapped."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None or isinstance(seen, sqlite3.Error):
            return seen
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return None


def _catalog_problem(where: object, error: BaseException) -> LakehouseError | None:
    found = _sqlite_error(error)
    code = getattr(found, "sqlite_errorname", "")
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return LakehouseError(_unreadable(Path(str(where)), str(found)))
    if code == "SQLITE_FULL":
        return StorageError(f"{where}: no space left on device; free some space and run again")
    if code.startswith("SQLITE_READONLY"):
        return StorageError(f"{where} is read-only; writing needs a writable lakehouse")
    if code.startswith("SQLITE_CANTOPEN"):
        return LakehouseError(
            f"cannot open the catalog {where} ({found}); check that it is readable (a read-only "
            "copy needs the catalog.db-wal and catalog.db-shm files copied with it)"
        )
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or any(
        # Spark's JDBC catalog reports it only as text.
        text in str(error)
        for text in ("database is locked", "SQLITE_BUSY")
    ):
        return LakehouseError(
            f"the lakehouse catalog {where} is held by another process (a Spark session, "
            "or another program writing it); nothing of this batch was committed. Stop "
            "that process, then run again"
        )
    return None


@contextlib.contextmanager
def catalog_errors(where: object) -> Iterator[None]:
    """What goes wrong with a SQLite catalog (held by another process, damaged, full), said
    plainly."""
    try:
        yield
    except BanklakeError:
        raise
    except Exception as error:
        problem = _catalog_problem(where, error)
        if problem is None:
            raise
        raise problem from None


# A write the storage refused: what happened, and what to do.
_REFUSED = {
    errno.ENOSPC: "no space left on device; free some space and run again",
    errno.EDQUOT: "disk quota exceeded; free some space and run again",
    errno.EROFS: "read-only file system; load into a writable lakehouse",
    errno.EACCES: "permission denied; make it writable for this user, or pass another --lakehouse",
}


def storage_problem(error: BaseException, where: Path, outcome: str) -> StorageError | None:
    """A write the storage refused (full, read-only, not ours) as one line, else None.

    DuckDB reports the operating system's error only as text, so its message is matched
    against the system's own wording.
    """
    if isinstance(error, BanklakeError):
        return None
    code = error.errno if isinstance(error, OSError) else None
    if code not in _REFUSED:
        code = next((c for c in _REFUSED if os.strerror(c) in str(error)), None)
    if code is None:
        return None
    named = re.search(r'"(/[^"\\]+)', str(error))
    path = getattr(error, "filename", None) or (named.group(1) if named else where)
    return StorageError(f"{path}: {_REFUSED[code]}; {outcome}")


@contextlib.contextmanager
def storage_errors(where: Path, outcome: str) -> Iterator[None]:
    """Writes under ``where`` that the storage refuses end in one line saying ``outcome``."""
    try:
        yield
    except Exception as error:
        problem = storage_problem(error, where, outcome)
        if problem is None:
            raise
        raise problem from None


class Lakehouse:
    """The contract tables of one namespace in a catalog.

    A local lakehouse is opened when first used, for reading (it must exist; nothing is
    created or changed) or, by ``ensure_tables``, for writing (it is created when missing).
    """

    def __init__(self, namespace: str, connect: Callable[[bool], Catalog], where: str) -> None:
        self.namespace = namespace
        self.where = where  # the catalog, as messages name it
        self._connect = connect
        self._opened: tuple[Catalog, bool] | None = None

    @classmethod
    def local(cls, path: Path, namespace: str) -> Lakehouse:
        where = str((path / CATALOG_FILE).resolve())
        return cls(namespace, functools.partial(open_catalog, path), where)

    @property
    def catalog(self) -> Catalog:
        """The catalog, opened for reading unless a writer opened it already."""
        if self._opened is None:
            self._opened = (self._connect(False), False)
        return self._opened[0]

    def _writable_catalog(self) -> Catalog:
        if self._opened is None or not self._opened[1]:
            self._opened = (self._connect(True), True)
        return self._opened[0]

    @classmethod
    def s3_tables(cls, bucket_arn: str, route: str, namespace: str) -> Lakehouse:
        """An S3 Tables bucket through the route the job's Spark session uses too."""
        from pyiceberg.catalog import load_catalog

        chosen = routes.s3_tables(bucket_arn, route)
        catalog = load_catalog(chosen.catalog, **chosen.pyiceberg)
        return cls(namespace, lambda _writing: catalog, bucket_arn)

    def ensure_tables(self, settings: Settings) -> dict[str, Table]:
        """Create the namespace and any missing contract table; record the settings on each."""
        catalog = self._writable_catalog()
        with catalog_errors(self.where):
            if not catalog.namespace_exists(self.namespace):
                with contextlib.suppress(NamespaceAlreadyExistsError):
                    catalog.create_namespace(self.namespace)
            tables = {}
            for contract in TABLES:
                identifier = contract.identifier(self.namespace)
                if catalog.table_exists(identifier):
                    table = _with_added_columns(catalog.load_table(identifier), contract)
                else:
                    table = self._create(catalog, contract)
                tables[contract.name] = set_properties(table, table_properties(settings))
        return tables

    def _create(self, catalog: Catalog, contract: TableContract) -> Table:
        return catalog.create_table_if_not_exists(
            contract.identifier(self.namespace),
            schema=iceberg_schema(contract),
            partition_spec=partition_spec(contract),
            properties=creation_properties(contract),
        )

    def table(self, contract: TableContract) -> Table:
        catalog = self.catalog
        try:
            with catalog_errors(self.where):
                return catalog.load_table(contract.identifier(self.namespace))
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
