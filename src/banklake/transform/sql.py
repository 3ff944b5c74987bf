"""SQL building blocks shared by the plan's steps: dialect, literals, typing and lookups.

Everything here is Spark SQL text (the plan's one dialect); ``compile_sql`` turns it into an
engine's dialect with sqlglot.
"""

from __future__ import annotations

from functools import cache

from banklake.contracts import ACCOUNTS, CUSTOMERS, KEY_STATUS, TRANSACTIONS

SOURCE_DIALECT = "spark"
FAILED_RULES = "_failed_rules"  # error rules: the row is quarantined
WARNED_RULES = "_warned_rules"  # warn rules: the row loads, flagged
DIMENSIONS = (CUSTOMERS, ACCOUNTS)


# Columns only ever cast: both engines' casts ignore surrounding spaces, so they skip TRIM.
CAST_ONLY = {"balance", "amount", "timestamp"}


def text(column: str) -> str:
    """The field without surrounding spaces, and NULL when that leaves nothing.

    Spaces (U+0020) only, as Spark's TRIM does; DuckDB's own TRIM also strips other Unicode
    spaces. The guard skips TRIM's copy for the usual value that has nothing to trim.
    """
    value = f"`{column}`"
    padded = f"{value} LIKE ' %' OR {value} LIKE '% '"
    return f"NULLIF(CASE WHEN {padded} THEN TRIM(BOTH ' ' FROM {value}) ELSE {value} END, '')"


# Typed values, computed from the trimmed text. Names end in ``_value`` where the raw text is
# kept beside them (the rules quote the raw value).
TYPED = {
    CUSTOMERS.name: {},
    ACCOUNTS.name: {
        "account_type_value": "CASE UPPER(account_type) WHEN 'SAVINGS' THEN 'Savings' "
        "WHEN 'CURRENT' THEN 'Current' END",
        "balance_value": "TRY_CAST(balance AS DECIMAL(18,2))",
    },
    TRANSACTIONS.name: {
        "amount_value": "TRY_CAST(amount AS DECIMAL(18,2))",
        "tx_type_value": "CASE UPPER(tx_type) WHEN 'CREDIT' THEN 'Credit' "
        "WHEN 'DEBIT' THEN 'Debit' END",
        "tx_timestamp": "TRY_CAST(`timestamp` AS TIMESTAMP)",
    },
}
# Values derived from the typed ones (computed a level above them, so each text is parsed once).
DERIVED = {TRANSACTIONS.name: {"tx_date": "CAST(tx_timestamp AS DATE)"}}
# What makes two rows with one key "the same": the typed values the Silver table keeps, by
# Silver column name. A dimension's key may repeat across snapshots (that is its history), so
# its rows are compared within one snapshot date.
CONTENT = {
    CUSTOMERS.name: {"name": "name", "email": "email", "country": "country"},
    ACCOUNTS.name: {
        "customer_id": "customer_id",
        "account_type": "account_type_value",
        "balance": "balance_value",
    },
    TRANSACTIONS.name: {
        "account_id": "account_id",
        "amount": "amount_value",
        "tx_type": "tx_type_value",
        "tx_timestamp": "tx_timestamp",
    },
}


def as_of(version: str, day: str) -> str:
    """The dimension version ``version`` holds on business date ``day`` (NULL bounds are open)."""
    return (
        f"({version}.valid_from IS NULL OR {version}.valid_from <= {day})"
        f" AND ({version}.valid_to IS NULL OR {day} < {version}.valid_to)"
    )


def loads(alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    status = f"{prefix}{KEY_STATUS}"
    return f"{prefix}{FAILED_RULES} = '' AND ({status} IS NULL OR {status} <> 'duplicate')"


# The warn rules a loaded row failed, as an array (NULL when it passed them all).
QUALITY_FLAGS = (
    f"CASE WHEN {WARNED_RULES} = '' THEN NULL ELSE SPLIT({WARNED_RULES}, ',') END AS quality_flags"
)


@cache
def compile_sql(sql: str, dialect: str) -> str:
    """The step's SQL in an engine's dialect (sqlglot; parsed once per text and dialect)."""
    import sqlglot

    if dialect == SOURCE_DIALECT:
        return sql
    return sqlglot.transpile(sql, read=SOURCE_DIALECT, write=dialect, pretty=True)[0]


def sql_literal(text: str, dialect: str = SOURCE_DIALECT) -> str:
    """A SQL string literal holding ``text`` exactly, escaped the way ``dialect`` escapes.

    Dialects differ: Spark escapes a quote with a backslash (and reads ``'a''b'`` as two
    adjacent literals, ``ab``); DuckDB and Athena double it.
    """
    from sqlglot import exp

    return exp.Literal.string(text).sql(dialect=dialect)
