"""The ETL definition: Bronze text → checked rows → Silver, quarantine and Gold, as SQL.

Written once, in Spark SQL (the language of the production engine, AWS Glue); every engine runs
the same steps, compiled to its dialect by sqlglot (see ``compile_sql``). The steps read these
relations, which an engine provides before it runs the plan:

- ``bronze_<entity>``: the landed rows as text, with ``_source_file`` and ``_line_number``;
- ``bronze_malformed``: lines the CSV reader could not split (``banklake.bronze.reader``).

Data-quality rules come from the contracts; a row that fails any ``error`` rule goes to the
quarantine with every failed rule id and reason, and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from banklake.contracts import (
    ACCOUNTS,
    CUSTOMERS,
    ENRICHED_TRANSACTIONS,
    ENTITIES,
    MALFORMED_ROW_RULE,
    QUARANTINE,
    SILVER_ACCOUNTS,
    SILVER_CUSTOMERS,
    SILVER_TRANSACTIONS,
    TRANSACTIONS,
    Entity,
    Rule,
    Severity,
    TableContract,
    rules_for,
)

SOURCE_DIALECT = "spark"
FAILED_RULES = "_failed_rules"  # error rules: the row is quarantined
WARNED_RULES = "_warned_rules"  # warn rules: the row loads, flagged
_BATCH_ID = re.compile(r"^[0-9A-Za-z_.:-]+$")


@dataclass(frozen=True)
class Step:
    """One SELECT of the plan. ``target`` names the table it is written to, if any;
    ``materialize`` keeps the result for later steps (otherwise it is read where used)."""

    name: str
    sql: str
    target: TableContract | None = None
    materialize: bool = False


# Columns only ever cast: both engines' casts ignore surrounding spaces, so they skip TRIM.
_CAST_ONLY = {"balance", "amount", "timestamp"}


def _text(column: str) -> str:
    """The field without surrounding spaces, and NULL when that leaves nothing.

    Spaces (U+0020) only, as Spark's TRIM does; DuckDB's own TRIM also strips other Unicode
    spaces. The guard skips TRIM's copy for the usual value that has nothing to trim.
    """
    value = f"`{column}`"
    padded = f"{value} LIKE ' %' OR {value} LIKE '% '"
    return f"NULLIF(CASE WHEN {padded} THEN TRIM(BOTH ' ' FROM {value}) ELSE {value} END, '')"


def _trimmed(entity: Entity) -> str:
    # Text is trimmed and an empty field is NULL, so "missing" means one thing in every rule.
    return ",\n    ".join(
        f"`{column}`" if column in _CAST_ONLY else f"{_text(column)} AS `{column}`"
        for column in entity.source_columns
    )


def _prepared(entity: Entity, typed: str = "", lookups: str = "") -> str:
    # Subqueries rather than a shared CTE: an engine would materialise a CTE read twice.
    key = entity.key
    typed = f"{typed},\n  " if typed else ""
    return f"""
SELECT src.*,
  {typed}repeated.{key} IS NULL AS key_unique
FROM (
  SELECT _source_file, _line_number,
    {_trimmed(entity)}
  FROM bronze_{entity.name}
) src
LEFT JOIN (
  SELECT {_text(key)} AS {key} FROM bronze_{entity.name}
  GROUP BY 1 HAVING COUNT(*) > 1
) repeated ON src.{key} = repeated.{key}
{lookups}"""


PREPARED = {
    CUSTOMERS.name: _prepared(CUSTOMERS),
    ACCOUNTS.name: _prepared(
        ACCOUNTS,
        """CASE UPPER(src.account_type) WHEN 'SAVINGS' THEN 'Savings'
    WHEN 'CURRENT' THEN 'Current' END AS account_type_value,
  TRY_CAST(src.balance AS DECIMAL(18,2)) AS balance_value,
  known.customer_id IS NOT NULL AS customer_known""",
        "LEFT JOIN silver_customers known ON src.customer_id = known.customer_id",
    ),
    TRANSACTIONS.name: _prepared(
        TRANSACTIONS,
        """TRY_CAST(src.amount AS DECIMAL(18,2)) AS amount_value,
  CASE UPPER(src.tx_type) WHEN 'CREDIT' THEN 'Credit' WHEN 'DEBIT' THEN 'Debit' END
    AS tx_type_value,
  TRY_CAST(src.`timestamp` AS TIMESTAMP) AS tx_timestamp,
  CAST(TRY_CAST(src.`timestamp` AS TIMESTAMP) AS DATE) AS tx_date,
  known.account_id IS NOT NULL AS account_known""",
        "LEFT JOIN silver_accounts known ON src.account_id = known.account_id",
    ),
}
# What later steps read of each checked relation: keeping only these makes it much cheaper
# to materialise (the raw text is re-read from Bronze for the few quarantined rows).
CHECKED_COLUMNS = {
    CUSTOMERS.name: ("customer_id", "name", "email", "country"),
    ACCOUNTS.name: ("account_id", "customer_id", "account_type_value", "balance_value"),
    TRANSACTIONS.name: (
        "tx_id",
        "account_id",
        "amount_value",
        "tx_type_value",
        "tx_timestamp",
        "tx_date",
    ),
}


def _failure(rule: Rule, outcome: str) -> str:
    # NULL counts as a failure: a check that cannot be evaluated has not been passed.
    return f"CASE WHEN COALESCE({rule.check}, FALSE) THEN NULL ELSE {outcome} END"


def _rule_ids(entity: Entity, severity: Severity) -> str:
    """The ids of the rules of one severity that the row fails, comma-separated ('' if none)."""
    rules = [rule for rule in rules_for(entity.name) if rule.severity is severity]
    if not rules:
        return "''"
    return f"CONCAT_WS(',', {', '.join(_failure(rule, sql_literal(rule.id)) for rule in rules)})"


def checked_sql(entity: Entity) -> str:
    """Every prepared row with the ids of the rules it fails, by severity."""
    return f"""
SELECT _source_file, _line_number, {", ".join(CHECKED_COLUMNS[entity.name])},
  {_rule_ids(entity, Severity.ERROR)} AS {FAILED_RULES},
  {_rule_ids(entity, Severity.WARN)} AS {WARNED_RULES}
FROM ({PREPARED[entity.name]}) prepared"""


def _all_failed(prefix: str = "") -> str:
    return f"CONCAT_WS(',', NULLIF({prefix}{FAILED_RULES}, ''), NULLIF({prefix}{WARNED_RULES}, ''))"


# The warn rules a loaded row failed, as an array (NULL when it passed them all).
_QUALITY_FLAGS = (
    f"CASE WHEN {WARNED_RULES} = '' THEN NULL ELSE SPLIT({WARNED_RULES}, ',') END AS quality_flags"
)


def _reasons(entity: Entity) -> str:
    """The human reasons of a quarantined row, quoting its raw value (``b`` is the Bronze row).

    Built only for the few rows that failed, not for every row checked.
    """
    parts = []
    for rule in rules_for(entity.name):
        reason = sql_literal(rule.reason)
        if rule.column is not None:
            value = f"""CONCAT(' (got "', NULLIF(b.`{rule.column}`, ''), '")')"""
            reason = f"CONCAT({reason}, COALESCE({value}, ' (missing)'))"
        failed = f"CONCAT(',', {_all_failed('c.')}, ',') LIKE '%,{rule.id},%'"
        parts.append(f"CASE WHEN {failed} THEN {reason} END")
    return f"CONCAT_WS('; ', {', '.join(parts)})"


def _quarantined(entity: Entity, batch_id: str) -> str:
    record = ", ".join(f"'{column}', b.`{column}`" for column in entity.source_columns)
    return f"""
SELECT {sql_literal(batch_id)} AS batch_id, '{entity.name}' AS entity,
  c._source_file AS source_file, c._line_number AS line_number,
  SPLIT({_all_failed("c.")}, ',') AS rule_ids, {_reasons(entity)} AS reasons,
  TO_JSON(NAMED_STRUCT({record})) AS record, CURRENT_TIMESTAMP() AS quarantined_at
FROM {entity.name}_checked c
JOIN bronze_{entity.name} b
  ON c._source_file = b._source_file AND c._line_number = b._line_number
WHERE c.{FAILED_RULES} <> ''"""


def quarantine_sql(batch_id: str) -> str:
    malformed = f"""
SELECT {sql_literal(batch_id)} AS batch_id, entity, _source_file AS source_file,
  _line_number AS line_number, ARRAY('{MALFORMED_ROW_RULE}') AS rule_ids, reason AS reasons,
  text AS record, CURRENT_TIMESTAMP() AS quarantined_at
FROM bronze_malformed"""
    parts = [_quarantined(entity, batch_id) for entity in ENTITIES] + [malformed]
    return "\nUNION ALL".join(parts)


_SILVER_CUSTOMERS = f"""
SELECT customer_id, name, email, country, _source_file AS source_file, {_QUALITY_FLAGS}
FROM customers_checked WHERE {FAILED_RULES} = ''"""
_SILVER_ACCOUNTS = f"""
SELECT account_id, customer_id, account_type_value AS account_type,
  balance_value AS balance, _source_file AS source_file, {_QUALITY_FLAGS}
FROM accounts_checked WHERE {FAILED_RULES} = ''"""
_SILVER_TRANSACTIONS = f"""
SELECT tx_id, account_id, amount_value AS amount, tx_type_value AS tx_type,
  tx_timestamp, tx_date, _source_file AS source_file, {_QUALITY_FLAGS}
FROM transactions_checked WHERE {FAILED_RULES} = ''"""
_ENRICHED = f"""
SELECT t.tx_id, t.account_id, a.customer_id, t.amount_value AS amount,
  t.tx_type_value AS tx_type, t.tx_timestamp, t.tx_date,
  a.account_type, a.balance, c.name, c.email, c.country
FROM transactions_checked t
JOIN silver_accounts a ON t.account_id = a.account_id
JOIN silver_customers c ON a.customer_id = c.customer_id
WHERE t.{FAILED_RULES} = ''"""


def plan(batch_id: str) -> list[Step]:
    """The steps of one batch, in the order they must run."""
    if not _BATCH_ID.match(batch_id):
        raise ValueError(f"batch id {batch_id!r} may only use letters, digits and _.:-")
    return [
        Step("customers_checked", checked_sql(CUSTOMERS), materialize=True),
        Step("silver_customers", _SILVER_CUSTOMERS, SILVER_CUSTOMERS, materialize=True),
        Step("accounts_checked", checked_sql(ACCOUNTS), materialize=True),
        Step("silver_accounts", _SILVER_ACCOUNTS, SILVER_ACCOUNTS, materialize=True),
        Step("transactions_checked", checked_sql(TRANSACTIONS), materialize=True),
        Step("silver_transactions", _SILVER_TRANSACTIONS, SILVER_TRANSACTIONS),
        Step("quarantine", quarantine_sql(batch_id), QUARANTINE),
        Step("enriched_transactions", _ENRICHED, ENRICHED_TRANSACTIONS),
    ]


def findings_sql() -> str:
    """Rows per entity, severity and rule: what the run quarantined and what it flagged."""
    parts = [
        f"""SELECT '{entity.name}' AS entity, '{severity}' AS severity, rule_id
FROM {entity.name}_checked LATERAL VIEW EXPLODE(SPLIT({column}, ',')) found AS rule_id
WHERE {column} <> ''"""
        for entity in ENTITIES
        for severity, column in (("error", FAILED_RULES), ("warn", WARNED_RULES))
    ]
    malformed = (
        f"SELECT entity, 'error' AS severity, '{MALFORMED_ROW_RULE}' AS rule_id"
        " FROM bronze_malformed"
    )
    union = "\nUNION ALL\n".join([*parts, malformed])
    return f"""SELECT entity, severity, rule_id, COUNT(*) AS rows FROM ({union}) findings
GROUP BY entity, severity, rule_id ORDER BY entity, severity, rule_id"""


@cache
def compile_sql(sql: str, dialect: str) -> str:
    """The step's SQL in an engine's dialect (sqlglot; parsed once per text and dialect)."""
    import sqlglot

    if dialect == SOURCE_DIALECT:
        return sql
    return sqlglot.transpile(sql, read=SOURCE_DIALECT, write=dialect, pretty=True)[0]


def sql_literal(text: str) -> str:
    """A SQL string literal holding ``text`` exactly (the same in every dialect here)."""
    return "'" + text.replace("'", "''") + "'"
