from __future__ import annotations

import pytest
from tests.conftest import SMALL

from banklake.config import Settings
from banklake.errors import QueryError
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import RunResult
from banklake.verify.query import LocalQueries


@pytest.fixture
def queries(settings: Settings, loaded: RunResult) -> LocalQueries:
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    return LocalQueries(lakehouse, settings.table_bucket, settings.timezone)


@pytest.mark.parametrize(
    "name",
    [
        '"s3tablescatalog"."analytics_db"."enriched_transactions"',  # the seed
        '"s3tablescatalog/banking-lakehouse"."analytics_db"."enriched_transactions"',  # Athena
        "analytics_db.enriched_transactions",
        "enriched_transactions",  # Athena with the database as execution context
    ],
)
def test_table_names_resolve_as_seed_athena_and_plain(queries: LocalQueries, name: str) -> None:
    assert queries.scalar(f"SELECT count(*) FROM {name}") == SMALL.transactions


def test_athena_functions_translate(queries: LocalQueries) -> None:
    sql = """
        WITH daily AS (
          SELECT tx_date, count(*) AS n FROM enriched_transactions
          WHERE tx_date >= current_date - INTERVAL '9' DAY GROUP BY tx_date
        )
        SELECT count(*) AS days, sum(n) AS rows, approx_distinct(tx_date) AS distinct_days
        FROM daily"""
    row = queries.query(sql).to_pylist()[0]
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
def test_clear_errors(queries: LocalQueries, sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        queries.query(sql)
