"""The data contracts: Bronze file layouts, the lakehouse tables and the data-quality rules.

This module is the one source of truth that every stage and engine reads: the generator writes
the Bronze columns listed here, the transform compiles the rules, the lakehouse creates tables
from the table contracts, and the AWS templates are checked against them. It imports nothing
heavier than the standard library, so any engine (or a Glue job) can load it.

Types are written the way Spark SQL spells them (``decimal(18,2)``, ``timestamp``): ``timestamp``
is an instant (Iceberg ``timestamptz``); business dates are taken in the configured timezone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

NAMESPACE = "analytics_db"
MONEY = "decimal(18,2)"


@dataclass(frozen=True)
class Entity:
    """A kind of Bronze file: where it lands and the header it must carry."""

    name: str
    source_columns: tuple[str, ...]
    key: str
    daily: bool  # one file per business day (facts) rather than full snapshots (dimensions)

    @property
    def folder(self) -> str:
        return self.name


CUSTOMERS = Entity("customers", ("customer_id", "name", "email", "country"), "customer_id", False)
ACCOUNTS = Entity(
    "accounts", ("account_id", "customer_id", "account_type", "balance"), "account_id", False
)
TRANSACTIONS = Entity(
    "transactions", ("tx_id", "account_id", "amount", "tx_type", "timestamp"), "tx_id", True
)
ENTITIES = (CUSTOMERS, ACCOUNTS, TRANSACTIONS)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str = ""


@dataclass(frozen=True)
class TableContract:
    name: str
    columns: tuple[Column, ...]
    doc: str
    month_partition_of: str | None = None  # partition by month(<this date column>)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def identifier(self, namespace: str = NAMESPACE) -> str:
        return f"{namespace}.{self.name}"


_SOURCE_FILE = Column("source_file", "string", doc="Landing file the row was read from")

SILVER_CUSTOMERS = TableContract(
    "customers",
    (
        Column("customer_id", "string"),
        Column("name", "string"),
        Column("email", "string"),
        Column("country", "string"),
        _SOURCE_FILE,
    ),
    "Validated customers (Silver).",
)
SILVER_ACCOUNTS = TableContract(
    "accounts",
    (
        Column("account_id", "string"),
        Column("customer_id", "string"),
        Column("account_type", "string"),
        Column("balance", MONEY),
        _SOURCE_FILE,
    ),
    "Validated accounts (Silver); every account's customer exists.",
)
SILVER_TRANSACTIONS = TableContract(
    "transactions",
    (
        Column("tx_id", "string"),
        Column("account_id", "string"),
        Column("amount", MONEY),
        Column("tx_type", "string", doc="Credit or Debit"),
        Column("tx_timestamp", "timestamp", doc="The source timestamp as an instant"),
        Column("tx_date", "date", doc="Business date of tx_timestamp in the configured timezone"),
        _SOURCE_FILE,
    ),
    "Validated, typed transactions (Silver); every transaction's account exists.",
    month_partition_of="tx_date",
)
ENRICHED_TRANSACTIONS = TableContract(
    "enriched_transactions",
    (
        Column("tx_id", "string"),
        Column("account_id", "string"),
        Column("customer_id", "string"),
        Column("amount", MONEY),
        Column("tx_type", "string"),
        Column("tx_timestamp", "timestamp"),
        Column("tx_date", "date"),
        Column("account_type", "string"),
        Column("balance", MONEY),
        Column("name", "string"),
        Column("email", "string"),
        Column("country", "string"),
    ),
    "Each transaction joined to its account and customer (Gold).",
    month_partition_of="tx_date",
)
QUARANTINE = TableContract(
    "quarantine",
    (
        Column("batch_id", "string"),
        Column("entity", "string"),
        Column("source_file", "string"),
        Column("line_number", "long", doc="1-based line in the source file; the header is line 1"),
        Column("rule_ids", "array<string>", doc="Every rule the row failed"),
        Column("reasons", "string", doc="Human-readable reasons, one per failed rule"),
        Column("record", "string", doc="The raw row: a JSON object, or the line's text"),
        Column("quarantined_at", "timestamp"),
    ),
    "Bronze rows that could not be loaded, with the reasons (never silently dropped).",
)
SILVER_TABLES = (SILVER_CUSTOMERS, SILVER_ACCOUNTS, SILVER_TRANSACTIONS)
GOLD_TABLES = (ENRICHED_TRANSACTIONS,)
TABLES = (*SILVER_TABLES, QUARANTINE, *GOLD_TABLES)


class Severity(StrEnum):
    ERROR = "error"  # the row is quarantined
    WARN = "warn"  # the row loads and the finding is counted


@dataclass(frozen=True)
class Rule:
    """A data-quality rule: ``check`` is a Spark SQL predicate that holds for a good row.

    The predicate sees the prepared row of its entity (trimmed text, ``*_value`` typed columns
    and lookups; see ``banklake.transform``). A NULL result counts as a failure. ``reason``
    says what is wrong; the offending value of ``column`` is appended to it.
    """

    id: str
    entity: str
    check: str
    reason: str
    column: str | None = None
    severity: Severity = Severity.ERROR


RULES = (
    Rule("customer_id_present", "customers", "customer_id IS NOT NULL", "customer_id is missing"),
    Rule(
        "customer_id_unique",
        "customers",
        "key_unique",
        "customer_id appears more than once in the file",
        "customer_id",
    ),
    Rule("account_id_present", "accounts", "account_id IS NOT NULL", "account_id is missing"),
    Rule(
        "account_id_unique",
        "accounts",
        "key_unique",
        "account_id appears more than once in the file",
        "account_id",
    ),
    Rule(
        "account_type_valid",
        "accounts",
        "account_type_value IS NOT NULL",
        "account_type is not Savings or Current",
        "account_type",
    ),
    Rule(
        "balance_numeric",
        "accounts",
        "balance_value IS NOT NULL",
        "balance is not a decimal number",
        "balance",
    ),
    Rule(
        "account_customer_known",
        "accounts",
        "customer_known",
        "customer_id is not a known customer",
        "customer_id",
    ),
    Rule("tx_id_present", "transactions", "tx_id IS NOT NULL", "tx_id is missing"),
    Rule(
        "tx_id_unique",
        "transactions",
        "key_unique",
        "tx_id appears more than once in the batch",
        "tx_id",
    ),
    Rule(
        "amount_numeric",
        "transactions",
        "amount_value IS NOT NULL",
        "amount is not a decimal number",
        "amount",
    ),
    Rule(
        "tx_type_valid",
        "transactions",
        "tx_type_value IS NOT NULL",
        "tx_type is not Credit or Debit",
        "tx_type",
    ),
    Rule(
        "timestamp_valid",
        "transactions",
        "tx_timestamp IS NOT NULL",
        "timestamp is not a valid YYYY-MM-DD HH:MM:SS timestamp",
        "timestamp",
    ),
    Rule(
        "tx_account_known",
        "transactions",
        "account_known",
        "account_id is not a known account",
        "account_id",
    ),
)
# Rows the CSV reader could not split into the header's fields never reach the rules.
MALFORMED_ROW_RULE = "row_malformed"


def rules_for(entity: str) -> tuple[Rule, ...]:
    return tuple(rule for rule in RULES if rule.entity == entity)
