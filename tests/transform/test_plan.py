from __future__ import annotations

import pytest
import sqlglot

from banklake.transform import compile_sql, plan
from banklake.transform.plan import FAILED_LINE_TEXTS
from banklake.transform.sql import SOURCE_DIALECT


def test_every_step_parses_as_spark_sql_and_compiles_for_duckdb() -> None:
    for step in plan("20260101T000000.000000Z"):
        sqlglot.parse_one(step.sql, read=SOURCE_DIALECT)  # the definition itself is valid Spark SQL
        compiled = compile_sql(step.sql, "duckdb")
        sqlglot.parse_one(compiled, read="duckdb")
        assert "`" not in compiled  # Spark's identifier quotes were translated


def test_outputs_are_the_contract_tables_in_dependency_order() -> None:
    steps = plan("b1")
    names = [s.name for s in steps]
    assert names.index("silver_customers") < names.index("accounts_checked")
    assert names.index("silver_accounts") < names.index("transactions_checked")
    targets = [s.target.name for s in steps if s.target]
    assert targets == [
        "customers",
        "accounts",
        "transactions",
        "quarantine",
        "enriched_transactions",
    ]


@pytest.mark.parametrize("batch_id", ["", "x'; DROP TABLE t; --", "a b"])
def test_batch_id_cannot_inject_sql(batch_id: str) -> None:
    with pytest.raises(ValueError, match="batch id"):
        plan(batch_id)


def test_a_relation_the_pipeline_computes_is_needed_before_it_is_read() -> None:
    steps = plan("b1")
    readers = [i for i, step in enumerate(steps) if FAILED_LINE_TEXTS in step.sql]
    needing = [i for i, step in enumerate(steps) if FAILED_LINE_TEXTS in step.needs]
    assert readers  # the quarantine reads the failed lines' text
    assert needing == [readers[0]]  # provided once, just before the first step that reads it
