from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import write_csv

from banklake.bronze.landing import discover
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


def test_missing_entity_folder(landing: Path) -> None:
    shutil.rmtree(landing / "accounts")
    with pytest.raises(LandingError, match="folder missing: the landing zone needs accounts/"):
        discover(landing)


def test_folder_without_csv_files(landing: Path) -> None:
    for path in (landing / "customers").iterdir():
        path.unlink()
    write_csv(landing / "customers" / "notes.txt", "not data")
    with pytest.raises(LandingError, match=r"no customers \.csv files"):
        discover(landing)


def test_empty_file(landing: Path) -> None:
    path = write_csv(_tx_file(landing), "")
    with pytest.raises(LandingError, match="file is empty; expected a header row") as error:
        discover(landing)
    assert str(path) in str(error.value)


def test_file_without_header(landing: Path) -> None:
    write_csv(_tx_file(landing), "TX_1,ACC_000001,10.00,Debit,2020-01-01 10:00:00\n")
    with pytest.raises(LandingError, match=r"line 1: no header row: the first line is 'TX_1"):
        discover(landing)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("tx_id,account_id,amount,tx_type\n", "missing column(s) timestamp"),
        ("tx_id,account_id,amount,tx_type,timestamp,branch\n", "unexpected column(s) branch"),
        ("tx_id,account_id,amount,tx_type,timestamp,tx_id\n", "a column name repeats"),
    ],
)
def test_wrong_header(landing: Path, header: str, problem: str) -> None:
    write_csv(_tx_file(landing), header)
    with pytest.raises(LandingError, match="wrong header") as error:
        discover(landing)
    assert problem in str(error.value)
    assert "expected tx_id,account_id,amount,tx_type,timestamp" in str(error.value)


def test_columns_in_another_order_are_matched_by_name(landing: Path) -> None:
    write_csv(_tx_file(landing), "timestamp,tx_id,amount,account_id,tx_type\n")
    file = next(f for f in discover(landing).files["transactions"] if "2020" in f.name)
    assert file.columns == ("timestamp", "tx_id", "amount", "account_id", "tx_type")


def test_header_not_utf8(landing: Path) -> None:
    write_csv(_tx_file(landing), b"tx_id,acc\xe9unt_id,amount,tx_type,timestamp\n")
    with pytest.raises(LandingError, match=r"line 1, column 10: not UTF-8 text: byte 0xe9"):
        discover(landing)


def test_binary_file(landing: Path) -> None:
    write_csv(_tx_file(landing), b"PAR1\x00\x15\x04\x15\x00binary")
    with pytest.raises(LandingError, match="not a CSV text file"):
        discover(landing)


def test_older_dimension_snapshots_are_superseded(landing: Path) -> None:
    current = next((landing / "customers").iterdir())
    older = write_csv(landing / "customers" / "customers_2000-01-01.csv", current.read_text())
    batch = discover(landing)
    assert [f.path for f in batch.files["customers"]] == [current]
    assert batch.superseded == [older]


def test_in_flight_files_are_not_read(landing: Path) -> None:
    write_csv(landing / "transactions" / ".transactions_2020-01-01.csv.partial", "tx_id\n")
    assert all("2020" not in f.name for f in discover(landing).files["transactions"])
