"""Athena (Trino) SQL against the local lakehouse, so the same text runs here and on Athena.

sqlglot parses the query as Athena SQL, rewrites table names to the local namespace and writes
DuckDB SQL. A table may be named as the seed writes it (``"s3tablescatalog"."analytics_db".t``),
as Athena does (``"s3tablescatalog/banking-lakehouse"."analytics_db".t``), as ``analytics_db.t``,
or just ``t``. Each table is a DuckDB view over the Parquet files PyIceberg plans for the current
snapshot; tables whose files need Iceberg's read path (delete files, evolved schemas) are read
through PyIceberg instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.table import Table
from sqlglot import exp

from banklake.errors import QueryError
from banklake.lakehouse.catalog import Lakehouse, local_path

ATHENA_DIALECT = "athena"
S3_TABLES_CATALOG = "s3tablescatalog"


class Queries(ABC):
    """Athena SQL on the lakehouse's tables, through a local SQL engine."""

    dialect: str

    def __init__(self, lakehouse: Lakehouse, table_bucket: str):
        self.namespace = lakehouse.namespace
        self.catalogs = {S3_TABLES_CATALOG, f"{S3_TABLES_CATALOG}/{table_bucket}", "awsdatacatalog"}
        self.tables = {
            identifier[-1]: lakehouse.catalog.load_table(identifier)
            for identifier in lakehouse.catalog.list_tables(self.namespace)
        }

    def translate(self, sql: str) -> str:
        """The query in the engine's SQL, with Athena's table names resolved to local tables."""
        try:
            tree = sqlglot.parse_one(sql, read=ATHENA_DIALECT)
        except sqlglot.errors.ParseError as error:
            raise QueryError(f"cannot parse the query as Athena SQL: {error}") from None
        ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if not table.name or (not table.db and table.name in ctes):
                continue
            self._resolve(table)
        return tree.sql(dialect=self.dialect)

    def _resolve(self, table: exp.Table) -> None:
        catalog, database = table.catalog, table.db
        if catalog and catalog not in self.catalogs:
            raise QueryError(
                f"unknown catalog {catalog!r}; local tables are in "
                f"{' or '.join(sorted(repr(c) for c in self.catalogs))}"
            )
        if database and database != self.namespace:
            raise QueryError(f"unknown database {database!r}; the tables are in {self.namespace!r}")
        if table.name not in self.tables:
            known = ", ".join(sorted(self.tables)) or "none yet: run `banklake run` first"
            raise QueryError(f"unknown table {table.name!r}; tables: {known}")
        table.set("catalog", None)
        table.set("db", exp.to_identifier(self.namespace, quoted=True))

    @abstractmethod
    def query(self, sql: str) -> pa.Table:
        """The query's result; a ``QueryError`` saying what failed, and the SQL that ran."""

    def scalar(self, sql: str) -> Any:
        return self.query(sql).column(0)[0].as_py()

    def close(self) -> None:  # noqa: B027 - engines holding no resources need not override
        pass

    def __enter__(self) -> Queries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalQueries(Queries):
    """A DuckDB session whose schema ``<namespace>`` holds one view per lakehouse table."""

    dialect = "duckdb"

    def __init__(self, lakehouse: Lakehouse, table_bucket: str, timezone: str = "UTC"):
        super().__init__(lakehouse, table_bucket)
        self.connection = duckdb.connect()
        self.connection.execute("SET TimeZone = ?", [timezone])
        self.connection.execute(f'CREATE SCHEMA "{self.namespace}"')
        for name, table in self.tables.items():
            self._expose(name, table)

    def _expose(self, name: str, table: Table) -> None:
        target = f'"{self.namespace}"."{name}"'
        tasks = list(table.scan().plan_files())
        plain = len(table.metadata.schemas) == 1 and not any(task.delete_files for task in tasks)
        if tasks and plain:
            files = ", ".join(f"'{local_path(task.file.file_path)}'" for task in tasks)
            self.connection.execute(
                f"CREATE VIEW {target} AS SELECT * FROM read_parquet([{files}])"
            )
            return
        data = table.scan().to_arrow() if tasks else schema_to_pyarrow(table.schema()).empty_table()
        relation = f"__{name}_arrow"
        self.connection.register(relation, data)
        self.connection.execute(f"CREATE VIEW {target} AS SELECT * FROM {relation}")

    def query(self, sql: str) -> pa.Table:
        translated = self.translate(sql)
        try:
            result: pa.Table = self.connection.sql(translated).to_arrow_table()
        except duckdb.Error as error:
            raise QueryError(f"query failed: {error}\nas run locally: {translated}") from None
        return result

    def close(self) -> None:
        self.connection.close()
