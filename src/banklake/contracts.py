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

    @property
    def attributes(self) -> tuple[str, ...]:
        """The columns that describe the keyed thing (everything but the key)."""
        return tuple(column for column in self.source_columns if column != self.key)


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
    # Columns added after a table's first form take field ids after all of that form's
    # (its nested ones included), as Iceberg's schema evolution gives them to deployed tables.
    added: bool = False


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
# Dimension history (SCD type 2): a version holds from the snapshot date it first appeared in
# until the first later snapshot that changed or dropped it. NULL bounds are open: a version
# from the earliest snapshot on record also holds before it, and the current one has no end.
_HISTORY = (
    Column("valid_from", "date", doc="First business date of this version (NULL: open start)"),
    Column("valid_to", "date", doc="First business date it no longer holds (NULL: current)"),
    Column("is_current", "boolean", doc="Whether this is the version in the latest snapshot"),
)

SILVER_CUSTOMERS = TableContract(
    "customers",
    (
        Column("customer_id", "string"),
        Column("name", "string"),
        Column("email", "string"),
        Column("country", "string"),
        *_HISTORY,
        _SOURCE_FILE,
        _QUALITY_FLAGS,
    ),
    "Validated customers (Silver), with their history (SCD type 2).",
)
SILVER_ACCOUNTS = TableContract(
    "accounts",
    (
        Column("account_id", "string"),
        Column("customer_id", "string"),
        Column("account_type", "string"),
        Column("balance", MONEY),
        *_HISTORY,
        _SOURCE_FILE,
        _QUALITY_FLAGS,
    ),
    "Validated accounts (Silver), with their history; each version's customer exists.",
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
        _SOURCE_FILE,
    ),
    "Each transaction joined to its account and customer as they were on its date (Gold).",
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
        Column("record", "string", doc="The row's fields as a JSON object (NULL if unsplittable)"),
        Column("line_text", "string", doc="The source line exactly as it is in the file"),
        Column("quarantined_at", "timestamp"),
        Column("resolved_at", "timestamp", doc="When a later run loaded the row (NULL: open)"),
        Column("resolved_batch_id", "string", doc="The batch that loaded it"),
    ),
    "Bronze rows that could not be loaded, with the reasons (never silently dropped).",
)
LEDGER = TableContract(
    "load_ledger",
    (
        Column("batch_id", "string"),
        Column("entity", "string"),
        Column("source_file", "string", doc="Path relative to the landing root"),
        Column("checksum", "string", doc="SHA-256 of the file's bytes"),
        Column("size_bytes", "long"),
        Column("modified_ns", "long", doc="The file's modification time when it was read"),
        Column("business_date", "date", doc="The date in the file name, if any"),
        Column("status", "string", doc="loaded, reprocessed or rejected"),
        Column("rows_read", "long"),
        Column("rows_loaded", "long"),
        Column("rows_quarantined", "long"),
        Column("rows_duplicate", "long", doc="Identical copies of a row already loaded"),
        Column("rows_flagged", "long", doc="Loaded rows that failed a warn rule"),
        Column("quarantined_by_rule", "map<string,long>"),
        Column("problem", "string", doc="Why the file was rejected, or its schema drift"),
        Column("snapshot_ids", "map<string,long>", doc="Table -> snapshot this batch committed"),
        Column("recorded_at", "timestamp"),
        # What the file's rows may interact with: rows sharing a key are decided together, and
        # rows dated from a dimension change on are checked again (see banklake.scope).
        Column("key_min", "string", doc="Smallest key in the file (transactions)", added=True),
        Column("key_max", "string", doc="Largest key in the file (transactions)", added=True),
        Column("date_min", "date", doc="Earliest business date of its rows", added=True),
        Column("date_max", "date", doc="Latest business date of its rows", added=True),
    ),
    "One row per run and source file: what was read and where every row went.",
)
SILVER_TABLES = (SILVER_CUSTOMERS, SILVER_ACCOUNTS, SILVER_TRANSACTIONS)
GOLD_TABLES = (ENRICHED_TRANSACTIONS,)
TABLES = (*SILVER_TABLES, QUARANTINE, *GOLD_TABLES, LEDGER)


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


def _conflict(column: str, entity: str, scope: str) -> Rule:
    # Identical copies of a row are duplicates: one loads, the others are counted. Copies that
    # differ cannot both be right, so every one of them is held back; the reason says where the
    # other versions are.
    return Rule(
        f"{column}_conflict",
        entity,
        f"{KEY_STATUS} IS NULL OR {KEY_STATUS} <> 'conflict'",
        f"{column} has different versions {scope}",
        KEY_VERSIONS,
    )


# The key's standing among the rows that share it (see ``banklake.transform``): NULL or
# ``unique``, ``first`` (of identical copies, the one that loads), ``duplicate`` or ``conflict``.
KEY_STATUS = "key_status"
KEY_VERSIONS = "key_versions"  # where a conflicting key's other versions are
_COUNTRIES = ", ".join(f"'{country}'" for country in KNOWN_COUNTRIES)
RULES = (
    _present("customer_id", "customers"),
    _format("customer_id", "customers"),
    _conflict("customer_id", "customers", "in the same snapshot"),
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
    _conflict("account_id", "accounts", "in the same snapshot"),
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
        "customer_id is not a customer in the snapshot of that date",
        "customer_id",
    ),
    _present("tx_id", "transactions"),
    _format("tx_id", "transactions"),
    _conflict("tx_id", "transactions", "in the lakehouse or batch"),
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
    # Without a valid timestamp there is no date to look the account up at: only
    # timestamp_valid fails then.
    Rule(
        "tx_account_known",
        "transactions",
        "tx_date IS NULL OR account_known",
        "account_id is not an account on the transaction's date",
        "account_id",
    ),
    Rule(
        "tx_customer_known",
        "transactions",
        "tx_date IS NULL OR NOT account_known OR customer_known",
        "the account's customer is not a customer on the transaction's date",
        "account_id",
    ),
)
# Rows the CSV reader could not split into the header's fields never reach the rules.
MALFORMED_ROW_RULE = "row_malformed"


def rules_for(entity: str) -> tuple[Rule, ...]:
    return tuple(rule for rule in RULES if rule.entity == entity)
