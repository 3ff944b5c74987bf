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
_QUALITY_FLAGS = Column(
    "quality_flags", "array<string>", doc="Warn-severity rules the row failed (it still loads)"
)

SILVER_CUSTOMERS = TableContract(
    "customers",
    (
        Column("customer_id", "string"),
        Column("name", "string"),
        Column("email", "string"),
        Column("country", "string"),
        _SOURCE_FILE,
        _QUALITY_FLAGS,
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
        _QUALITY_FLAGS,
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
        _QUALITY_FLAGS,
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
        Column("rule_ids", "array<string>", doc="Every rule the row failed, warnings included"),
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


# Reference data the rules check against. Patterns use [.] for a literal dot: no escaping
# differences between SQL dialects.
ID_PATTERNS = {
    "customer_id": "^CUST_[0-9]{1,12}$",
    "account_id": "^ACC_[0-9]{1,12}$",
    "tx_id": "^TX_[0-9]{1,18}$",
}
KNOWN_COUNTRIES = (
    "USA", "UK", "India", "Germany", "France", "Canada", "Singapore", "Australia",
    "Ireland", "Netherlands", "Spain", "Italy", "Japan", "UAE", "Brazil", "Mexico",
)  # fmt: skip
PLAUSIBLE_AMOUNT_LIMIT = "1000000.00"  # larger single transactions load, flagged for review
FUTURE_TOLERANCE = "INTERVAL 1 DAY"  # clock skew between the bank's systems and ours
_EMAIL = "^[^@ ]+@[^@ ]+[.][^@ ]+$"
_PLAIN_AMOUNT = "^ *-?[0-9]+([.][0-9]{1,2})? *$"


def _present(column: str, entity: str) -> Rule:
    return Rule(f"{column}_present", entity, f"{column} IS NOT NULL", f"{column} is missing")


def _format(column: str, entity: str) -> Rule:
    # A missing value fails only the presence rule, not this one as well.
    return Rule(
        f"{column}_format",
        entity,
        f"{column} IS NULL OR {column} RLIKE '{ID_PATTERNS[column]}'",
        f"{column} does not match {ID_PATTERNS[column]}",
        column,
    )


def _unique(column: str, entity: str, scope: str) -> Rule:
    return Rule(
        f"{column}_unique",
        entity,
        "key_unique",
        f"{column} appears more than once in {scope}",
        column,
    )


_COUNTRIES = ", ".join(f"'{country}'" for country in KNOWN_COUNTRIES)
RULES = (
    _present("customer_id", "customers"),
    _format("customer_id", "customers"),
    _unique("customer_id", "customers", "the file"),
    Rule(
        "email_format",
        "customers",
        f"email RLIKE '{_EMAIL}'",
        "email is missing or not an address",
        "email",
        Severity.WARN,
    ),
    Rule(
        "country_known",
        "customers",
        f"country IN ({_COUNTRIES})",
        "country is not in the known list",
        "country",
        Severity.WARN,
    ),
    _present("account_id", "accounts"),
    _format("account_id", "accounts"),
    _unique("account_id", "accounts", "the file"),
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
    _present("tx_id", "transactions"),
    _format("tx_id", "transactions"),
    _unique("tx_id", "transactions", "the batch"),
    Rule(
        "amount_numeric",
        "transactions",
        "amount_value IS NOT NULL",
        "amount is not a decimal number",
        "amount",
    ),
    Rule(
        "amount_scale",
        "transactions",
        f"amount_value IS NULL OR amount RLIKE '{_PLAIN_AMOUNT}'",
        "amount is not a plain number with at most 2 decimals",
        "amount",
    ),
    Rule(
        "amount_positive",
        "transactions",
        "amount_value IS NULL OR amount_value > 0",
        "amount is not positive",
        "amount",
    ),
    Rule(
        "amount_plausible",
        "transactions",
        f"amount_value IS NULL OR amount_value <= {PLAUSIBLE_AMOUNT_LIMIT}",
        f"amount is above {PLAUSIBLE_AMOUNT_LIMIT}",
        "amount",
        Severity.WARN,
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
        "timestamp is not a valid date and time",
        "timestamp",
    ),
    Rule(
        "timestamp_not_future",
        "transactions",
        f"tx_timestamp IS NULL OR tx_timestamp <= CURRENT_TIMESTAMP() + {FUTURE_TOLERANCE}",
        "timestamp is more than a day in the future",
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
