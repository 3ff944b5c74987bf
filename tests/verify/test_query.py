from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import SMALL

from banklake.config import Settings, load_settings
from banklake.contracts import SILVER_CUSTOMERS, TABLES
from banklake.engines import create_engine
from banklake.errors import QueryError
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import RunResult, run
from banklake.verify.query import LocalQueries, Queries


@pytest.fixture
def queries(settings: Settings, loaded: RunResult, engine: str) -> Iterator[Queries]:
    """The engine's session of the verification's Athena SQL, on a loaded lakehouse."""
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    with create_engine(engine, settings) as running, running.queries(lakehouse) as queries:
        yield queries


@pytest.mark.parametrize(
    "name",
    [
        '"s3tablescatalog"."analytics_db"."enriched_transactions"',  # the seed
        '"s3tablescatalog/banking-lakehouse"."analytics_db"."enriched_transactions"',  # Athena
        "analytics_db.enriched_transactions",
        "enriched_transactions",  # Athena with the database as execution context
    ],
)
def test_table_names_resolve_as_seed_athena_and_plain(queries: Queries, name: str) -> None:
    assert queries.scalar(f"SELECT count(*) FROM {name}") == SMALL.transactions


def test_athena_functions_translate(queries: Queries, settings: Settings) -> None:
    sql = """
        WITH daily AS (
          SELECT tx_date, count(*) AS n FROM enriched_transactions
          WHERE tx_date >= current_date - INTERVAL '9' DAY GROUP BY tx_date
        )
        SELECT count(*) AS days, sum(n) AS rows, approx_distinct(tx_date) AS distinct_days
        FROM daily"""
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    row = queries.query(sql).to_pylist()[0]
    # The window's start by the same clock, in plain SQL: midnight may have passed since the
    # data was generated (its last day is the day the tests started).
    start = today - timedelta(days=9)
    want = queries.query(
        "SELECT count(DISTINCT tx_date) AS days, count(*) AS rows FROM enriched_transactions "
        f"WHERE tx_date >= DATE '{start}'"
    ).to_pylist()[0]
    assert row == {**want, "distinct_days": want["days"]}
    if today == SMALL.end_date:
        assert row == {"days": 10, "rows": SMALL.transactions, "distinct_days": 10}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            'SELECT * FROM "othercatalog"."analytics_db"."customers"',
            "unknown catalog 'othercatalog'",
        ),
        ("SELECT * FROM other_db.customers", "unknown database 'other_db'"),
        ("SELECT * FROM analytics_db.nope", "unknown table 'nope'"),
        ("SELECT FROM WHERE", "cannot parse the query as Athena SQL"),
        ("SELECT no_such_column FROM customers", "query failed"),
    ],
)
def test_clear_errors(queries: Queries, sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        queries.query(sql)


@pytest.fixture(scope="module")
def shared(small_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalQueries]:
    """One loaded lakehouse for the tests that only read it."""
    lakehouse = tmp_path_factory.mktemp("query") / "lakehouse"
    settings = load_settings(landing=small_landing, lakehouse=lakehouse)
    run(settings, "embedded")
    local = Lakehouse.local(settings.lakehouse, settings.namespace)
    with LocalQueries(local, settings.table_bucket, settings.timezone) as queries:
        yield queries


@pytest.mark.parametrize(
    ("sql", "statement"),
    [
        ("INSERT INTO customers VALUES ('CUST_000001', 'x', 'x@example.com', 'DE')", "INSERT"),
        ("CREATE TABLE copied AS SELECT * FROM customers", "CREATE"),
        ("ATTACH 'other.db' AS other", "ATTACH"),
        ("SET enable_external_access = true", "SET"),
        ("PRAGMA version", "PRAGMA"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("DROP TABLE customers", "DROP"),
        ("DELETE FROM customers", "DELETE"),
        ("UPDATE customers SET name = 'x'", "UPDATE"),
        ("EXPORT DATABASE 'exported'", "EXPORT"),
        ("CALL pragma_version()", "CALL"),
        ("WITH c AS (SELECT * FROM customers) INSERT INTO customers SELECT * FROM c", "INSERT"),
        ("SELECT * INTO copied FROM customers", "SELECT INTO"),
    ],
)
def test_only_read_only_queries_run(shared: LocalQueries, sql: str, statement: str) -> None:
    with pytest.raises(QueryError, match=f"^{statement} statements are refused") as refused:
        shared.query(sql)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "sql", ["SELECT 1; SELECT 2", "SELECT count(*) FROM customers; DROP TABLE customers"]
)
def test_one_statement_at_a_time(shared: LocalQueries, sql: str) -> None:
    with pytest.raises(QueryError, match=r"^2 statements given: run one query at a time$"):
        shared.query(sql)


def test_copy_is_refused_and_writes_nothing(shared: LocalQueries, tmp_path: Path) -> None:
    target = tmp_path / "x.csv"
    with pytest.raises(QueryError, match=r"^COPY statements are refused"):
        shared.query(f"COPY (SELECT 1) TO '{target}'")
    with pytest.raises(duckdb.PermissionException):  # and the session itself would not either
        shared.connection.execute(f"COPY (SELECT 1) TO '{target}'")
    assert not target.exists()


@pytest.mark.parametrize(
    "function", ["read_csv_auto('/etc/passwd')", "read_text('/etc/passwd')", "read_parquet('{}')"]
)
def test_no_file_outside_the_lakehouse_can_be_read(
    shared: LocalQueries, tmp_path: Path, function: str
) -> None:
    outside = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"secret": [1]}), outside)
    with pytest.raises(QueryError, match=r"^refused: a query reads only the lakehouse's tables"):
        shared.query(f"SELECT * FROM {function.format(outside)}")


def test_the_session_itself_is_locked_down(shared: LocalQueries, tmp_path: Path) -> None:
    with pytest.raises(QueryError):  # not Athena SQL: it does not reach DuckDB ...
        shared.query("SELECT * FROM glob('/etc/*')")
    connection = shared.connection  # ... which would refuse it, and every other way out
    for sql in ("SELECT * FROM glob('/etc/*')", f"ATTACH '{tmp_path / 'other.db'}' AS other"):
        with pytest.raises(duckdb.PermissionException):
            connection.execute(sql)
    with pytest.raises(duckdb.InvalidInputException, match="locked"):
        connection.execute("SET enable_external_access = true")
    assert not (tmp_path / "other.db").exists()


def test_describe_and_show_the_lakehouse_tables(shared: LocalQueries) -> None:
    listed = [row["tab_name"] for row in shared.query("SHOW TABLES").to_pylist()]
    assert listed == sorted(table.name for table in TABLES)
    assert shared.query("SHOW TABLES IN analytics_db").to_pylist() == [
        {"tab_name": name} for name in listed
    ]
    described = shared.query('DESCRIBE "s3tablescatalog"."analytics_db"."customers"')
    assert described.column("column_name").to_pylist() == list(SILVER_CUSTOMERS.column_names)
    assert shared.query("SHOW COLUMNS IN customers").equals(described)
    assert shared.query("VALUES (1), (2)").num_rows == 2
    with pytest.raises(QueryError, match="SHOW TABLES"):
        shared.query("SHOW CREATE TABLE customers")
    with pytest.raises(QueryError, match="unknown database 'other_db'"):
        shared.query("SHOW TABLES IN other_db")
