from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import write_csv

from banklake.bronze.landing import discover
from banklake.contracts import ACCOUNTS, CUSTOMERS, TRANSACTIONS
from banklake.errors import LandingError

TX_HEADER = "tx_id,account_id,amount,tx_type,timestamp\n"


def _tx_file(landing: Path, name: str = "transactions_2020-01-01.csv") -> Path:
    return landing / "transactions" / name


def test_discovers_every_file_with_its_business_date(landing: Path) -> None:
    batch = discover(landing)
    assert len(batch.files["transactions"]) == 10
    assert all(f.business_date is not None for f in batch.files["transactions"])
    assert [f.name for f in batch.files["customers"]] == [
        p.relative_to(landing).as_posix() for p in (landing / "customers").iterdir()
    ]


def test_missing_landing_folder(tmp_path: Path) -> None:
    with pytest.raises(LandingError, match="landing folder not found") as error:
        discover(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(error.value)


def test_missing_entity_folder_holds_no_files(landing: Path) -> None:
    shutil.rmtree(landing / "accounts")
    batch = discover(landing)
    assert batch.of(ACCOUNTS) == [] and batch.rejected == []
    assert len(batch.of(TRANSACTIONS)) == 10


def test_folder_without_csv_files(landing: Path) -> None:
    for path in (landing / "customers").iterdir():
        path.unlink()
    write_csv(landing / "customers" / "notes.txt", "not data")
    assert discover(landing).of(CUSTOMERS) == []


def _rejected(landing: Path, path: Path) -> str:
    batch = discover(landing)
    (rejected,) = batch.rejected
    assert rejected.path == path
    assert all(f.path != path for f in batch.all_files)  # refused whole; the others go on
    assert len(batch.all_files) == 12
    return rejected.problem


def test_empty_file(landing: Path) -> None:
    path = write_csv(_tx_file(landing), "")
    problem = _rejected(landing, path)
    assert "file is empty; expected a header row" in problem and str(path) in problem


def test_file_without_header(landing: Path) -> None:
    path = write_csv(_tx_file(landing), "TX_1,ACC_000001,10.00,Debit,2020-01-01 10:00:00\n")
    assert "line 1: no header row: the first line is 'TX_1" in _rejected(landing, path)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("tx_id,account_id,amount,tx_type\n", "missing column(s) timestamp"),
        ("tx_id,account_id,amount,tx_type,timestamp,tx_id\n", "a column name repeats"),
    ],
)
def test_wrong_header(landing: Path, header: str, problem: str) -> None:
    path = write_csv(_tx_file(landing), header)
    message = _rejected(landing, path)
    assert "wrong header" in message and problem in message
    assert "expected tx_id,account_id,amount,tx_type,timestamp" in message


def test_unexpected_columns_are_schema_drift_not_fatal(landing: Path) -> None:
    write_csv(_tx_file(landing), "tx_id,account_id,branch,amount,tx_type,timestamp\n")
    file = next(f for f in discover(landing).of(TRANSACTIONS) if "2020" in f.name)
    assert file.drift == "schema drift: unexpected column(s) branch"


def test_columns_in_another_order_are_matched_by_name(landing: Path) -> None:
    write_csv(_tx_file(landing), "timestamp,tx_id,amount,account_id,tx_type\n")
    file = next(f for f in discover(landing).files["transactions"] if "2020" in f.name)
    assert file.columns == ("timestamp", "tx_id", "amount", "account_id", "tx_type")
    assert file.drift is None


def test_header_not_utf8(landing: Path) -> None:
    path = write_csv(_tx_file(landing), b"tx_id,acc\xe9unt_id,amount,tx_type,timestamp\n")
    problem = _rejected(landing, path)
    assert "line 1, column 10: not UTF-8 text: byte 0xe9" in problem


def test_binary_file(landing: Path) -> None:
    path = write_csv(_tx_file(landing), b"PAR1\x00\x15\x04\x15\x00binary")
    assert "not a CSV text file" in _rejected(landing, path)


def test_every_dimension_snapshot_is_listed(landing: Path) -> None:
    current = next((landing / "customers").iterdir())
    older = write_csv(landing / "customers" / "customers_2000-01-01.csv", current.read_text())
    assert [f.path for f in discover(landing).of(CUSTOMERS)] == [older, current]


def test_a_date_range_keeps_the_files_dated_in_it(landing: Path) -> None:
    days = sorted(f.business_date for f in discover(landing).of(TRANSACTIONS))
    batch = discover(landing, since=days[2], until=days[4])
    assert [f.business_date for f in batch.of(TRANSACTIONS)] == days[2:5]
    write_csv(landing / "transactions" / "transactions.csv", TX_HEADER)  # undated
    assert all(f.business_date for f in discover(landing, since=days[0]).all_files)


def test_in_flight_files_are_not_read(landing: Path) -> None:
    write_csv(landing / "transactions" / ".transactions_2020-01-01.csv.partial", "tx_id\n")
    assert all("2020" not in f.name for f in discover(landing).files["transactions"])
