"""Athena (Trino) SQL against the local lakehouse, so the same text runs here and on Athena.

sqlglot parses the query as Athena SQL, rewrites table names to the local namespace and writes
DuckDB SQL. A table may be named as the seed writes it (``"s3tablescatalog"."analytics_db".t``),
as Athena does (``"s3tablescatalog/banking-lakehouse"."analytics_db".t``), as ``analytics_db.t``,
or just ``t``. Each table is a DuckDB view over the Parquet files PyIceberg plans for the current
snapshot; tables whose files need Iceberg's read path (delete files, evolved schemas) are read
through PyIceberg instead.

Queries are read-only and stay inside the lakehouse: one SELECT, WITH, VALUES, DESCRIBE or SHOW
statement runs, anything else is refused before an engine sees it, and the DuckDB session may
read only the files its views read.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.table import Table
from sqlglot import Token, TokenType, exp

from banklake.errors import QueryError
from banklake.lakehouse.catalog import Lakehouse, local_path

ATHENA_DIALECT = "athena"
S3_TABLES_CATALOG = "s3tablescatalog"
# The first words of the statements that only read; "(" opens a parenthesised query.
READ_ONLY_STATEMENTS = ("SELECT", "WITH", "VALUES", "DESCRIBE", "DESC", "SHOW", "(")
_SHOW_TABLES = re.compile(r"SHOW\s+TABLES(?:\s+(?:IN|FROM)\s+(?P<database>\S+))?", re.IGNORECASE)
_SHOW_COLUMNS = re.compile(
    r"SHOW\s+COLUMNS\s+(?:IN|FROM)\s+(?P<table>\S+)(?:\s+(?:IN|FROM)\s+(?P<database>\S+))?",
    re.IGNORECASE,
)


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
        """The query in the engine's SQL, with Athena's table names resolved to local tables.

        Only one read-only statement is translated; any other is a ``QueryError`` naming it.
        """
        keyword = _statement_keyword(sql)
        if keyword == "SHOW":
            return self._show(sql.strip().rstrip(";").strip())
        if keyword not in READ_ONLY_STATEMENTS:
            raise _refused(keyword)
        try:
            tree = sqlglot.parse_one(sql, read=ATHENA_DIALECT)
        except sqlglot.errors.ParseError as error:
            raise QueryError(f"cannot parse the query as Athena SQL: {_first(error)}") from None
        _check_read_only(tree)
        ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if not table.name or (not table.db and table.name in ctes):
                continue
            self._resolve(table)
        return tree.sql(dialect=self.dialect)

    def _show(self, statement: str) -> str:
        """Athena's SHOW TABLES and SHOW COLUMNS, as queries every engine answers alike."""
        if found := _SHOW_TABLES.fullmatch(statement):
            if found["database"]:
                place = exp.to_table(found["database"], dialect=ATHENA_DIALECT)
                self._check_database(place.db, place.name)
            names: list[tuple[str | None]] = [(name,) for name in sorted(self.tables)] or [(None,)]
            listing = exp.values(names, alias="t", columns=["tab_name"])
            query = exp.select("tab_name").from_(listing).where("tab_name IS NOT NULL")
            return query.order_by("tab_name").sql(dialect=self.dialect)
        if found := _SHOW_COLUMNS.fullmatch(statement):
            table = exp.to_table(found["table"], dialect=ATHENA_DIALECT)
            if found["database"] and not table.db:
                table.set("db", exp.to_identifier(found["database"]))
            self._resolve(table)
            return exp.Describe(this=table).sql(dialect=self.dialect)
        raise QueryError(
            f"cannot run {statement!r}: of the SHOW statements, SHOW TABLES [IN database] and "
            "SHOW COLUMNS IN table run here"
        )

    def _check_database(self, catalog: str, database: str) -> None:
        if catalog and catalog not in self.catalogs:
            raise QueryError(
                f"unknown catalog {catalog!r}; local tables are in "
                f"{' or '.join(sorted(repr(c) for c in self.catalogs))}"
            )
        if database and database != self.namespace:
            raise QueryError(f"unknown database {database!r}; the tables are in {self.namespace!r}")

    def _resolve(self, table: exp.Table) -> None:
        self._check_database(table.catalog, table.db)
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


def _statement_keyword(sql: str) -> str:
    """The first word of the one statement in ``sql``; several statements are refused."""
    try:
        tokens = sqlglot.tokenize(sql, read=ATHENA_DIALECT)
    except sqlglot.errors.TokenError as error:
        raise QueryError(f"cannot parse the query as Athena SQL: {error}") from None
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.HIVE_TOKEN_STREAM:  # Athena's marker for Hive DDL
            continue
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    statements = [statement for statement in statements if statement]
    if not statements:
        raise QueryError("no query given: pass one SELECT statement")
    if len(statements) > 1:
        raise QueryError(f"{len(statements)} statements given: run one query at a time")
    return statements[0][0].text.upper()


def _check_read_only(tree: exp.Expr) -> None:
    """Refuse a statement that writes, whatever its first word (``WITH ... INSERT``)."""
    if not isinstance(tree, exp.Query | exp.Values | exp.Describe):
        raise _refused(tree.key.upper())
    for node in tree.walk():
        if isinstance(node, exp.Into):
            raise _refused("SELECT INTO")
        if isinstance(node, exp.DML | exp.DDL | exp.Command):
            raise _refused(node.key.upper())


def _refused(statement: str) -> QueryError:
    return QueryError(
        f"{statement} statements are refused: only read-only queries run on the lakehouse "
        "(SELECT, WITH, VALUES, DESCRIBE, SHOW TABLES or SHOW COLUMNS), one at a time"
    )


def _first(error: sqlglot.errors.ParseError) -> str:
    """The first problem sqlglot found, on one line."""
    if not error.errors:
        return str(error).splitlines()[0]
    found = error.errors[0]
    return f"{found['description']} (line {found['line']}, column {found['col']})"


class LocalQueries(Queries):
    """A DuckDB session whose schema ``<namespace>`` holds one view per lakehouse table.

    Once the views are made, the session is locked down: it may read only the data files the
    views read (no other file, URL or database, no extension), and no setting can change.
    """

    dialect = "duckdb"

    def __init__(self, lakehouse: Lakehouse, table_bucket: str, timezone: str = "UTC"):
        super().__init__(lakehouse, table_bucket)
        self.connection = duckdb.connect()
        self.connection.execute("SET TimeZone = ?", [timezone])
        self.connection.execute(f'CREATE SCHEMA "{self.namespace}"')
        files = [file for name, table in self.tables.items() for file in self._expose(name, table)]
        self._lock_down(files)

    def _expose(self, name: str, table: Table) -> list[str]:
        """Make the table's view; returns the files it reads when queried."""
        target = f'"{self.namespace}"."{name}"'
        tasks = list(table.scan().plan_files())
        plain = len(table.metadata.schemas) == 1 and not any(task.delete_files for task in tasks)
        if tasks and plain:
            files = [str(local_path(task.file.file_path)) for task in tasks]
            listed = ", ".join(f"'{file}'" for file in files)
            self.connection.execute(
                f"CREATE VIEW {target} AS SELECT * FROM read_parquet([{listed}])"
            )
            return files
        data = table.scan().to_arrow() if tasks else schema_to_pyarrow(table.schema()).empty_table()
        relation = f"__{name}_arrow"
        self.connection.register(relation, data)
        self.connection.execute(f"CREATE VIEW {target} AS SELECT * FROM {relation}")
        return []

    def _lock_down(self, files: list[str]) -> None:
        # The views read their Parquet files at query time, so exactly those stay readable
        # (allowed_paths, not the warehouse folder: nothing can be written there either).
        # lock_configuration last: after it, no statement can undo the others.
        for setting, value in (
            ("allowed_paths", files),
            ("enable_external_access", False),
            ("autoinstall_known_extensions", False),
            ("autoload_known_extensions", False),
            ("lock_configuration", True),
        ):
            self.connection.execute(f"SET {setting} = ?", [value])

    def query(self, sql: str) -> pa.Table:
        translated = self.translate(sql)
        try:
            result: pa.Table = self.connection.sql(translated).to_arrow_table()
        except duckdb.PermissionException as error:
            raise QueryError(
                f"refused: a query reads only the lakehouse's tables ({error})"
            ) from None
        except duckdb.Error as error:
            raise QueryError(f"query failed: {error}\nas run locally: {translated}") from None
        return result

    def close(self) -> None:
        self.connection.close()
