"""The ETL definition: Bronze text → checked rows → Silver, quarantine and Gold, as SQL.

Written once, in Spark SQL (the language of the production engine, AWS Glue); every engine runs
the same steps, compiled to its dialect by sqlglot (see ``compile_sql``). A batch is the files
that are new since the last run. The steps read these relations, which an engine provides
before it runs the plan:

- ``bronze_<entity>``: the batch's rows as text, with ``_source_file`` and ``_line_number``;
- ``bronze_malformed``: lines the CSV reader could not split (``banklake.bronze.reader``);
- ``batch_files``: the batch's files (``entity, source_file, snapshot_date``);
- ``snapshot_dates``, ``history_window``: the dimension snapshot dates the history is rebuilt
  over, and where that window starts (``banklake.transform.history``);
- ``prior_customers``, ``prior_accounts``: the Silver dimension history before the batch;
- ``prior_quarantine``: quarantined rows of the batch's files, from earlier runs of them;
- ``bronze_lines``: the exact text of the lines the checks failed (``failed_lines_sql``),
  provided before the step that ``needs`` it, once the checks have run.

A batch holds every file whose rows its decisions depend on (``banklake.scope``): no row
outside it shares a key with one inside, or looks up a dimension version the batch changes.

Data-quality rules come from the contracts; a row that fails any ``error`` rule goes to the
quarantine with every failed rule id and reason, and nowhere else. Identical copies of a key
load once and are counted as duplicates; differing copies are a conflict and are quarantined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from banklake.contracts import (
    ACCOUNTS,
    CUSTOMERS,
    ENRICHED_TRANSACTIONS,
    ENTITIES,
    KEY_STATUS,
    KEY_VERSIONS,
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
from banklake.transform.history import history_sql
from banklake.transform.sql import (
    CAST_ONLY,
    CONTENT,
    DERIVED,
    DIMENSIONS,
    FAILED_RULES,
    QUALITY_FLAGS,
    TYPED,
    WARNED_RULES,
    as_of,
    loads,
    sql_literal,
    text,
)

_BATCH_ID = re.compile(r"^[0-9A-Za-z_.:-]+$")


@dataclass(frozen=True)
class Step:
    """One SELECT of the plan. ``target`` names the table it is written to, if any;
    ``materialize`` keeps the result for later steps (otherwise it is read where used).
    ``dates_from`` is a cheaper query whose column holds every partition date of the result
    (a superset will do), for engines that write one partition at a time. ``needs`` names the
    relations the pipeline computes from the steps before this one and provides before it."""

    name: str
    sql: str
    target: TableContract | None = None
    materialize: bool = False
    dates_from: str | None = None
    needs: tuple[str, ...] = ()


def _typed(entity: Entity) -> str:
    """The batch's rows of ``entity``: trimmed text, typed values and (dimensions) the date."""
    trimmed = ",\n    ".join(
        f"b.`{column}`" if column in CAST_ONLY else f"{text(column)} AS `{column}`"
        for column in entity.source_columns
    )
    typed = "".join(f",\n  {sql} AS {name}" for name, sql in TYPED[entity.name].items())
    snapshot, dated = "", ""
    if entity in DIMENSIONS:
        snapshot = ", f.snapshot_date AS _snapshot_date"
        dated = "\n  JOIN batch_files f ON b._source_file = f.source_file"
    rows = f"""SELECT t.*{typed}
FROM (
  SELECT b._source_file, b._line_number{snapshot},
    {trimmed}
  FROM bronze_{entity.name} b{dated}
) t"""
    derived = DERIVED.get(entity.name)
    if not derived:
        return rows
    columns = "".join(f", {sql} AS {name}" for name, sql in derived.items())
    return f"SELECT typed.*{columns} FROM ({rows}) typed"


def _content(entity: Entity) -> str:
    fields = ", ".join(f"'{name}', {column}" for name, column in CONTENT[entity.name].items())
    return f"TO_JSON(NAMED_STRUCT({fields}))"


def keys_sql(entity: Entity) -> str:
    """The standing of every row whose key is not unique: first, duplicate or conflict.

    Only rows whose key repeats in the batch are looked at, so the usual all-unique batch
    costs one grouping.
    """
    key = entity.key
    scope = f"{key}, _snapshot_date" if entity in DIMENSIONS else key
    window = f"PARTITION BY {scope}"
    # Keys whose hash repeats: grouping by a number is cheaper than by the text, and a hash
    # collision only sends a few more rows through the exact comparison below.
    repeated = f"SELECT HASH({text(key)}) FROM bronze_{entity.name} GROUP BY 1 HAVING COUNT(*) > 1"
    location = "CONCAT(_source_file, ':', CAST(_line_number AS STRING))"
    return f"""
SELECT x._source_file, x._line_number,
  CASE
    WHEN x._fewest <> x._most THEN 'conflict'
    WHEN x._copy > 1 THEN 'duplicate'
    WHEN x._copies > 1 THEN 'first'
    ELSE 'unique' END AS {KEY_STATUS},
  CASE WHEN x._fewest <> x._most THEN CONCAT('versions at ', x._where) END
    AS {KEY_VERSIONS}
FROM (
  SELECT typed.*, {_content(entity)} AS _content,
    MIN({_content(entity)}) OVER ({window}) AS _fewest,
    MAX({_content(entity)}) OVER ({window}) AS _most,
    COUNT(*) OVER ({window}) AS _copies,
    ROW_NUMBER() OVER ({window} ORDER BY _source_file, _line_number) AS _copy,
    ARRAY_JOIN(SORT_ARRAY(COLLECT_LIST({location}) OVER ({window})), ', ') AS _where
  FROM ({_typed(entity)}) typed
  WHERE {key} IS NOT NULL AND HASH({key}) IN ({repeated})
) x"""


# Lookups each entity's rules need, joined to its typed rows (``src``). A transaction keeps the
# row ids (``_version``) of the account and customer versions it resolved to, and Gold joins
# those: cheaper than carrying their attributes through the checks.
_LOOKUPS = {
    CUSTOMERS.name: ("", ""),
    ACCOUNTS.name: (
        ",\n  known.customer_id IS NOT NULL AS customer_known",
        "LEFT JOIN silver_customers known ON src.customer_id = known.customer_id"
        f" AND {as_of('known', 'src._snapshot_date')}",
    ),
    TRANSACTIONS.name: (
        ",\n  a._version AS _account_version, c._version AS _customer_version,"
        "\n  a._version IS NOT NULL AS account_known, c._version IS NOT NULL AS customer_known",
        "LEFT JOIN silver_accounts a ON src.account_id = a.account_id"
        f" AND {as_of('a', 'src.tx_date')}"
        "\nLEFT JOIN silver_customers c ON a.customer_id = c.customer_id"
        f" AND {as_of('c', 'src.tx_date')}",
    ),
}
# What later steps read of each checked relation: keeping only these makes it much cheaper
# to materialise (the raw text is re-read from Bronze for the few quarantined rows).
CHECKED_COLUMNS = {
    CUSTOMERS.name: ("_snapshot_date", "customer_id", "name", "email", "country"),
    ACCOUNTS.name: (
        "_snapshot_date",
        "account_id",
        "customer_id",
        "account_type_value",
        "balance_value",
    ),
    TRANSACTIONS.name: (
        "tx_id",
        "account_id",
        "amount_value",
        "tx_type_value",
        "tx_timestamp",
        "tx_date",
        "_account_version",
        "_customer_version",
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
    passed = " AND ".join(f"COALESCE({rule.check}, FALSE)" for rule in rules)
    failed = ", ".join(_failure(rule, sql_literal(rule.id)) for rule in rules)
    # The list is built only for rows that fail something: most rows pass everything.
    return f"CASE WHEN {passed} THEN '' ELSE CONCAT_WS(',', {failed}) END"


def checked_sql(entity: Entity) -> str:
    """Every row of the batch with the ids of the rules it fails, by severity."""
    lookup_columns, lookup_joins = _LOOKUPS[entity.name]
    prepared = f"""
SELECT src.*, keys.{KEY_STATUS}{lookup_columns}
FROM ({_typed(entity)}) src
LEFT JOIN {entity.name}_keys keys
  ON src._source_file = keys._source_file AND src._line_number = keys._line_number
{lookup_joins}"""
    return f"""
SELECT _source_file, _line_number, {", ".join(CHECKED_COLUMNS[entity.name])},
  {KEY_STATUS},
  {_rule_ids(entity, Severity.ERROR)} AS {FAILED_RULES},
  {_rule_ids(entity, Severity.WARN)} AS {WARNED_RULES}
FROM ({prepared}) prepared"""


def _all_failed(prefix: str = "") -> str:
    return f"CONCAT_WS(',', NULLIF({prefix}{FAILED_RULES}, ''), NULLIF({prefix}{WARNED_RULES}, ''))"


# The rows that load: they pass every error rule and are not a copy of a row that loads.
def _reasons(entity: Entity) -> str:
    """The human reasons of a quarantined row, quoting its raw value (``b`` is the Bronze row).

    Built only for the few rows that failed, not for every row checked.
    """
    parts = []
    for rule in rules_for(entity.name):
        reason = sql_literal(rule.reason)
        if rule.column == KEY_VERSIONS:
            reason = f"CONCAT({reason}, ' (', k.{KEY_VERSIONS}, ')')"
        elif rule.column is not None:
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
  TO_JSON(NAMED_STRUCT({record})) AS record, l.text AS line_text,
  CURRENT_TIMESTAMP() AS quarantined_at
FROM {entity.name}_checked c
JOIN bronze_{entity.name} b
  ON c._source_file = b._source_file AND c._line_number = b._line_number
LEFT JOIN {entity.name}_keys k
  ON c._source_file = k._source_file AND c._line_number = k._line_number
LEFT JOIN bronze_lines l
  ON c._source_file = l._source_file AND c._line_number = l._line_number
WHERE c.{FAILED_RULES} <> ''"""


def failed_lines_sql() -> str:
    """Where the rows that failed a check are, a row per file with its line numbers: their
    lines' text goes into the quarantine."""
    failed = "\nUNION ALL\n".join(
        f"SELECT _source_file, _line_number FROM {entity.name}_checked WHERE {FAILED_RULES} <> ''"
        for entity in ENTITIES
    )
    return f"""SELECT _source_file, COLLECT_LIST(_line_number) AS lines FROM ({failed}) failed
GROUP BY _source_file"""


def new_quarantine_sql(batch_id: str) -> str:
    malformed = f"""
SELECT {sql_literal(batch_id)} AS batch_id, entity, _source_file AS source_file,
  _line_number AS line_number, ARRAY('{MALFORMED_ROW_RULE}') AS rule_ids, reason AS reasons,
  CAST(NULL AS STRING) AS record, text AS line_text, CURRENT_TIMESTAMP() AS quarantined_at
FROM bronze_malformed"""
    parts = [_quarantined(entity, batch_id) for entity in ENTITIES] + [malformed]
    return "\nUNION ALL".join(parts)


def quarantine_sql(batch_id: str) -> str:
    """The quarantine of the batch's files: this run's rejects, and the rows earlier runs of the
    same files rejected that now load, marked resolved by this batch."""
    columns = ", ".join(column.name for column in QUARANTINE.columns[:-2])
    return f"""
SELECT {columns}, CAST(NULL AS TIMESTAMP) AS resolved_at,
  CAST(NULL AS STRING) AS resolved_batch_id
FROM quarantine_new
UNION ALL
SELECT {", ".join(f"q.{c}" for c in columns.split(", "))},
  COALESCE(q.resolved_at, CURRENT_TIMESTAMP()) AS resolved_at,
  COALESCE(q.resolved_batch_id, {sql_literal(batch_id)}) AS resolved_batch_id
FROM prior_quarantine q
LEFT JOIN quarantine_new n ON q.source_file = n.source_file AND q.line_number = n.line_number
WHERE q.resolved_at IS NOT NULL OR n.line_number IS NULL"""


_SILVER_TRANSACTIONS = f"""
SELECT tx_id, account_id, amount_value AS amount, tx_type_value AS tx_type,
  tx_timestamp, tx_date, _source_file AS source_file, {QUALITY_FLAGS}
FROM transactions_checked WHERE {loads()}"""


_ENRICHED = f"""
SELECT t.tx_id, t.account_id, a.customer_id, t.amount_value AS amount,
  t.tx_type_value AS tx_type, t.tx_timestamp, t.tx_date,
  a.account_type, a.balance, c.name, c.email, c.country, t._source_file AS source_file
FROM transactions_checked t
JOIN silver_accounts a ON t._account_version = a._version
JOIN silver_customers c ON t._customer_version = c._version
WHERE {loads("t")}"""


ALL_DIMENSIONS = frozenset(entity.name for entity in DIMENSIONS)
# The relation of failed lines' text, which the pipeline reads back from the files.
FAILED_LINE_TEXTS = "bronze_lines"


def plan(batch_id: str, rebuilt: frozenset[str] = ALL_DIMENSIONS) -> list[Step]:
    """The steps of one batch, in the order they must run.

    ``rebuilt`` names the dimensions whose history the batch rewrites (those it has snapshots
    of); the others are read as they are.
    """
    if not _BATCH_ID.match(batch_id):
        raise ValueError(f"batch id {batch_id!r} may only use letters, digits and _.:-")
    steps = []
    for entity, contract in ((CUSTOMERS, SILVER_CUSTOMERS), (ACCOUNTS, SILVER_ACCOUNTS)):
        steps += [
            Step(f"{entity.name}_keys", keys_sql(entity), materialize=True),
            Step(f"{entity.name}_checked", checked_sql(entity), materialize=True),
        ]
        if entity.name in rebuilt:
            history = f"silver_{entity.name}"
            steps += [
                Step(history, history_sql(entity, contract), materialize=True),
                Step(f"{history}_rebuilt", f"SELECT * FROM {history} WHERE _rebuilt", contract),
            ]
        else:
            unchanged = (
                f"SELECT *, ROW_NUMBER() OVER (ORDER BY {entity.key}, valid_from) AS _version "
                f"FROM prior_{entity.name}"
            )
            steps.append(Step(f"silver_{entity.name}", unchanged, materialize=True))
    return [
        *steps,
        Step("transactions_keys", keys_sql(TRANSACTIONS), materialize=True),
        Step("transactions_checked", checked_sql(TRANSACTIONS), materialize=True),
        Step(
            "silver_transactions",
            _SILVER_TRANSACTIONS,
            SILVER_TRANSACTIONS,
            dates_from=f"SELECT tx_date FROM transactions_checked WHERE {FAILED_RULES} = ''",
        ),
        Step(
            "quarantine_new",
            new_quarantine_sql(batch_id),
            materialize=True,
            needs=(FAILED_LINE_TEXTS,),
        ),
        Step("quarantine", quarantine_sql(batch_id), QUARANTINE),
        Step(
            "enriched_transactions",
            _ENRICHED,
            ENRICHED_TRANSACTIONS,
            dates_from=f"SELECT tx_date FROM transactions_checked WHERE {FAILED_RULES} = ''",
        ),
    ]


def file_outcomes_sql() -> str:
    """Rows per source file by where they went: loaded, quarantined or duplicate (and flagged),
    and the ranges of its keys and dates (transactions), which later batches' scopes use."""
    parts = []
    for entity in ENTITIES:
        ranges = "NULL AS key_min, NULL AS key_max, NULL AS date_min, NULL AS date_max"
        if entity is TRANSACTIONS:
            ranges = (
                "MIN(tx_id) AS key_min, MAX(tx_id) AS key_max, "
                "MIN(tx_date) AS date_min, MAX(tx_date) AS date_max"
            )
        parts.append(f"""SELECT '{entity.name}' AS entity, _source_file AS source_file,
  SUM(CASE WHEN {loads()} THEN 1 ELSE 0 END) AS loaded,
  SUM(CASE WHEN {FAILED_RULES} <> '' THEN 1 ELSE 0 END) AS quarantined,
  SUM(CASE WHEN {FAILED_RULES} = '' AND {KEY_STATUS} = 'duplicate' THEN 1 ELSE 0 END)
    AS duplicate,
  SUM(CASE WHEN {loads()} AND {WARNED_RULES} <> '' THEN 1 ELSE 0 END) AS flagged,
  {ranges}
FROM {entity.name}_checked GROUP BY _source_file""")
    malformed = """SELECT entity, _source_file AS source_file, 0 AS loaded,
  COUNT(*) AS quarantined, 0 AS duplicate, 0 AS flagged,
  NULL AS key_min, NULL AS key_max, NULL AS date_min, NULL AS date_max
FROM bronze_malformed GROUP BY entity, _source_file"""
    return "\nUNION ALL\n".join([*parts, malformed])


def findings_sql() -> str:
    """Rows per file, entity, severity and rule: what the run quarantined and what it flagged.

    Warnings count for loaded rows only; a quarantined row's warnings are in its reasons.
    """
    parts = [
        f"""SELECT '{entity.name}' AS entity, _source_file AS source_file,
  '{severity}' AS severity, rule_id
FROM {entity.name}_checked LATERAL VIEW EXPLODE(SPLIT({column}, ',')) found AS rule_id
WHERE {column} <> ''{extra}"""
        for entity in ENTITIES
        for severity, column, extra in (
            ("error", FAILED_RULES, ""),
            ("warn", WARNED_RULES, f" AND {loads()}"),
        )
    ]
    malformed = (
        "SELECT entity, _source_file AS source_file, 'error' AS severity,"
        f" '{MALFORMED_ROW_RULE}' AS rule_id FROM bronze_malformed"
    )
    union = "\nUNION ALL\n".join([*parts, malformed])
    return f"""SELECT entity, source_file, severity, rule_id, COUNT(*) AS rows FROM ({union}) found
GROUP BY entity, source_file, severity, rule_id
ORDER BY entity, source_file, severity, rule_id"""
