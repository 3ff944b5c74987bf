"""The pipeline on real Iceberg tables, read back through an independent path (PyIceberg scans)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pyiceberg.transforms import MonthTransform
from pyiceberg.types import DateType, DecimalType, StringType, TimestamptzType
from tests.conftest import SMALL, assert_matches_the_files, write_csv

from banklake.config import Settings, load_settings
from banklake.contracts import ENRICHED_TRANSACTIONS, NAMESPACE, TABLES
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import run

TX_HEADER = "tx_id,account_id,amount,tx_type,timestamp\n"


def _lakehouse(settings: Settings) -> Lakehouse:
    return Lakehouse.local(settings.lakehouse, settings.namespace)


def _scan(settings: Settings, name: str) -> pa.Table:
    return _lakehouse(settings).catalog.load_table(f"{NAMESPACE}.{name}").scan().to_arrow()


def _snapshots(settings: Settings) -> dict[str, int | None]:
    tables = _lakehouse(settings).tables()
    return {
        name: (t.current_snapshot().snapshot_id if t.current_snapshot() else None)  # type: ignore[union-attr]
        for name, t in tables.items()
    }


def _column_map(table: pa.Table, key: str, value: str) -> dict[str, str]:
    return dict(zip(table[key].to_pylist(), table[value].to_pylist(), strict=True))


def test_gold_schema_types_names_and_partitioning(settings: Settings, engine: str) -> None:
    run(settings, engine)
    gold = _lakehouse(settings).table(ENRICHED_TRANSACTIONS)
    fields = {f.name: f.field_type for f in gold.schema().fields}
    assert list(fields) == list(ENRICHED_TRANSACTIONS.column_names)
    assert fields["amount"] == DecimalType(18, 2)
    assert fields["balance"] == DecimalType(18, 2)
    assert fields["tx_date"] == DateType()
    assert fields["tx_timestamp"] == TimestamptzType()
    assert fields["name"] == StringType()
    assert gold.metadata.format_version == 2
    (partition,) = gold.spec().fields
    assert isinstance(partition.transform, MonthTransform)
    assert gold.schema().find_column_name(partition.source_id) == "tx_date"
    for contract in TABLES:  # AWS-safe names everywhere
        for name in (contract.name, *contract.column_names):
            assert name == name.lower() and name.replace("_", "").isalnum()


def test_every_transaction_lands_joined_to_its_account_and_customer(
    settings: Settings, engine: str
) -> None:
    loaded = run(settings, engine)
    gold = _scan(settings, "enriched_transactions")
    assert gold.num_rows == SMALL.transactions == loaded.rows_read("transactions")
    assert pc.count_distinct(gold["tx_id"]).as_py() == gold.num_rows
    owner = _column_map(_scan(settings, "accounts"), "account_id", "customer_id")
    name = _column_map(_scan(settings, "customers"), "customer_id", "name")
    for row in gold.select(["account_id", "customer_id", "name"]).to_pylist():
        assert owner[row["account_id"]] == row["customer_id"]
        assert name[row["customer_id"]] == row["name"]
    assert _scan(settings, "quarantine").num_rows == 0


def test_amount_and_dates_are_exact(settings: Settings, landing: Path, engine: str) -> None:
    write_csv(
        landing / "transactions" / "transactions_2020-01-31.csv",
        TX_HEADER + "TX_910001,ACC_000001,12.30,Credit,2020-01-31 23:59:59\n"
        "TX_910002,ACC_000001, 0.05 ,debit ,2020-02-01 00:00:00\n",
    )
    run(settings, engine)
    gold = (
        _scan(settings, "enriched_transactions")
        .filter(pc.starts_with(pc.field("tx_id"), "TX_91000"))
        .sort_by("tx_id")
        .to_pylist()
    )
    assert [(r["amount"], r["tx_type"], r["tx_date"].isoformat()) for r in gold] == [
        (pa.scalar("12.30").cast(pa.decimal128(18, 2)).as_py(), "Credit", "2020-01-31"),
        (pa.scalar("0.05").cast(pa.decimal128(18, 2)).as_py(), "Debit", "2020-02-01"),
    ]
    assert gold[0]["tx_timestamp"].isoformat() == "2020-01-31T23:59:59+00:00"


def test_business_date_follows_the_configured_timezone(
    landing: Path, tmp_path: Path, engine: str
) -> None:
    write_csv(
        landing / "transactions" / "transactions_2020-01-31.csv",
        TX_HEADER + "TX_920001,ACC_000001,1.00,Credit,2020-01-31 23:30:00\n",
    )
    settings = load_settings(landing=landing, lakehouse=tmp_path / "lh", timezone="Asia/Kolkata")
    run(settings, engine)
    row = _scan(settings, "transactions").filter(pc.field("tx_id") == "TX_920001").to_pylist()[0]
    assert row["tx_date"].isoformat() == "2020-01-31"  # the wall-clock date where it happened
    assert row["tx_timestamp"].isoformat() == "2020-01-31T18:00:00+00:00"  # the instant, in UTC


def test_bad_rows_are_quarantined_with_reasons(
    settings: Settings, landing: Path, engine: str
) -> None:
    write_csv(
        landing / "transactions" / "transactions_2020-01-01.csv",
        TX_HEADER
        + "TX_930001,ACC_000001,abc,Credit,2020-01-01 10:00:00\n"  # line 2: amount
        + "TX_930002,ACC_000001,5.00,Refund,2020-01-01 10:00:00\n"  # line 3: tx_type
        + "TX_930003,ACC_000001,5.00,Debit,yesterday\n"  # line 4: timestamp
        + "TX_930004,ACC_999999,5.00,Debit,2020-01-01 10:00:00\n"  # line 5: unknown account
        + "TX_930005,ACC_000001\n"  # line 6: malformed
        + ",ACC_000001,5.00,Debit,2020-01-01 10:00:00\n"  # line 7: no tx_id
        + "TX_930007,ACC_000001,5.00,Debit,2020-01-01 10:00:00\n"  # line 8: duplicated tx_id
        + "TX_930007,ACC_000001,6.00,Debit,2020-01-01 10:00:00\n"  # line 9
        + "TX_930009,ACC_000001,x,Bogus,2020-01-01 10:00:00\n",  # line 10: two rules at once
    )
    result = run(settings, engine)
    rows = {
        r["line_number"]: r
        for r in _scan(settings, "quarantine").to_pylist()
        if r["source_file"] == "transactions/transactions_2020-01-01.csv"
    }
    rules = {line: row["rule_ids"] for line, row in rows.items()}
    assert rules == {
        2: ["amount_numeric"],
        3: ["tx_type_valid"],
        4: ["timestamp_valid"],
        5: ["tx_account_known"],
        6: ["row_malformed"],
        7: ["tx_id_present"],
        8: ["tx_id_conflict"],
        9: ["tx_id_conflict"],
        10: ["amount_numeric", "tx_type_valid"],
    }
    assert rows[2]["reasons"] == 'amount is not a decimal number (got "abc")'
    assert rows[6]["reasons"] == "expected 5 fields, found 2" and rows[6]["record"] is None
    assert rows[6]["line_text"] == "TX_930005,ACC_000001"
    assert json.loads(rows[5]["record"])["account_id"] == "ACC_999999"
    assert rows[5]["line_text"] == "TX_930004,ACC_999999,5.00,Debit,2020-01-01 10:00:00"
    # Both versions of a conflicting key are held back, each naming where the others are.
    file = "transactions/transactions_2020-01-01.csv"
    versions = f"versions at {file}:8, {file}:9"
    expected = f"tx_id has different versions in the lakehouse or batch ({versions})"
    assert rows[8]["reasons"] == rows[9]["reasons"] == expected
    assert {r["batch_id"] for r in rows.values()} == {result.batch_id}
    gold = _scan(settings, "enriched_transactions")
    assert not pc.any(pc.starts_with(gold["tx_id"], "TX_93000")).as_py()
    assert gold.num_rows + len(rows) == result.rows_read("transactions")


def test_orphan_account_cascades_to_its_transactions(
    settings: Settings, landing: Path, engine: str
) -> None:
    accounts = next((landing / "accounts").iterdir())
    accounts.write_text(accounts.read_text() + "ACC_999999999,CUST_999999999,Savings,10.00\n")
    write_csv(
        landing / "transactions" / "transactions_2020-01-01.csv",
        TX_HEADER + "TX_940001,ACC_999999999,5.00,Debit,2020-01-01 10:00:00\n",
    )
    run(settings, engine)
    quarantine = {
        (r["entity"], tuple(r["rule_ids"])) for r in _scan(settings, "quarantine").to_pylist()
    }
    assert quarantine == {
        ("accounts", ("account_customer_known",)),
        ("transactions", ("tx_account_known",)),
    }


def test_rerun_with_nothing_new_commits_nothing(settings: Settings, engine: str) -> None:
    loaded = run(settings, engine)
    before = _snapshots(settings)
    again = run(settings, engine)
    assert again.files == [] and again.tables == []
    assert again.unchanged_files == len(loaded.files) == 12
    assert _snapshots(settings) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"tx_id,amount\n", "wrong header: missing column(s) account_id, tx_type, timestamp"),
        (TX_HEADER.encode() + b"TX_X,ACC_000001,1.00,Debit,2020-01-01 \xff\n", "not UTF-8"),
    ],
)
def test_a_bad_file_is_rejected_and_the_rest_of_the_batch_loads(
    settings: Settings, landing: Path, engine: str, content: bytes, message: str
) -> None:
    bad = write_csv(landing / "transactions" / "transactions_2020-01-01.csv", content)
    result = run(settings, engine)
    (rejected,) = result.rejected
    assert rejected.source_file == "transactions/transactions_2020-01-01.csv"
    assert str(bad) in str(rejected.problem) and message in str(rejected.problem)
    assert _scan(settings, "enriched_transactions").num_rows == SMALL.transactions
    ledger = _scan(settings, "load_ledger").to_pylist()
    assert {r["source_file"]: r["status"] for r in ledger}[rejected.source_file] == "rejected"
    # A corrected delivery of the same file is taken by the next run.
    write_csv(bad, TX_HEADER + "TX_990001,ACC_000001,1.00,Debit,2020-01-01 10:00:00\n")
    fixed = run(settings, engine)
    assert [(f.source_file, f.status, f.rows_loaded) for f in fixed.files] == [
        (rejected.source_file, "loaded", 1)
    ]


@pytest.mark.parametrize("codec", ["snappy", "zstd"])
def test_parquet_compression_setting_reaches_table_and_files(
    landing: Path, tmp_path: Path, engine: str, codec: str
) -> None:
    settings = load_settings(landing=landing, lakehouse=tmp_path / "lh", parquet_compression=codec)
    run(settings, engine)
    gold = _lakehouse(settings).table(ENRICHED_TRANSACTIONS)
    assert gold.properties["write.parquet.compression-codec"] == codec
    for task in gold.scan().plan_files():
        metadata = pq.read_metadata(task.file.file_path.removeprefix("file://"))
        assert metadata.row_group(0).column(0).compression == codec.upper()


def test_only_spaces_are_trimmed(settings: Settings, landing: Path, engine: str) -> None:
    """Spaces around a value are cleaning; any other character is part of the value (as in
    Spark, whose TRIM removes spaces only)."""
    write_csv(
        landing / "transactions" / "transactions_2020-01-01.csv",
        TX_HEADER + "  TX_950001 ,  ACC_000001  ,1.00,Debit,2020-01-01 10:00:00\n"
        "TX_950002,\u00a0ACC_000001,1.00,Debit,2020-01-01 10:00:00\n"
        "TX_950003,\tACC_000001,1.00,Debit,2020-01-01 10:00:00\n",
    )
    run(settings, engine)
    gold_ids = set(_scan(settings, "enriched_transactions")["tx_id"].to_pylist())
    assert "TX_950001" in gold_ids
    quarantined = {
        json.loads(r["record"])["tx_id"]: r["rule_ids"]
        for r in _scan(settings, "quarantine").to_pylist()
    }
    assert quarantined == {"TX_950002": ["tx_account_known"], "TX_950003": ["tx_account_known"]}


def test_blank_lines_are_not_rows_and_the_rows_after_them_keep_their_line(
    settings: Settings, landing: Path, engine: str
) -> None:
    """Blank lines are told apart only once a file is read to its end: the engine then takes
    them out of the rows it had already kept."""
    name = "transactions/transactions_2020-01-01.csv"
    write_csv(
        landing / name,
        TX_HEADER
        + "TX_940001,ACC_000001,5.00,Debit,2020-01-01 10:00:00\n"  # line 2
        + "\n"  # line 3: blank
        + "TX_940003,ACC_000001,abc,Debit,2020-01-01 10:00:00\n"  # line 4: amount
        + "\r\n"  # line 5: blank
        + ",,,,\n"  # line 6: a row of empty fields, not a blank line
        + "TX_940007,ACC_000001,7.00,Credit,2020-01-01 10:00:00\n",  # line 7
    )
    result = run(settings, engine)
    [file] = [f for f in result.files if f.source_file == name]
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (4, 2, 2)
    quarantined = {
        r["line_number"]: r["line_text"]
        for r in _scan(settings, "quarantine").to_pylist()
        if r["source_file"] == name
    }
    assert quarantined == {
        4: "TX_940003,ACC_000001,abc,Debit,2020-01-01 10:00:00",
        6: ",,,,",
    }
    assert_matches_the_files(settings)
