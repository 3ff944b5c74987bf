from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import write_csv

from banklake.bronze.landing import LandedFile, read_header
from banklake.bronze.reader import LINE_NUMBER, SOURCE_FILE, read_file
from banklake.contracts import TRANSACTIONS
from banklake.errors import LandingError

HEADER = "tx_id,account_id,amount,tx_type,timestamp"


def _read(tmp_path: Path, content: str | bytes):  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "transactions" / "transactions_2020-01-01.csv", content)
    columns, _drift = read_header(path, TRANSACTIONS)
    return read_file(LandedFile(TRANSACTIONS, path, columns, None))


def test_rows_keep_source_and_line(tmp_path: Path) -> None:
    read = _read(tmp_path, f"{HEADER}\nT1,A1,1.00,Debit,2020-01-01 00:00:00\nT2,A2,2,Credit,x\n")
    assert (
        read.rows.column(SOURCE_FILE).to_pylist()
        == ["transactions/transactions_2020-01-01.csv"] * 2
    )
    assert read.rows.column(LINE_NUMBER).to_pylist() == [2, 3]
    assert read.rows.column("amount").to_pylist() == ["1.00", "2"]  # text: typing comes later
    assert read.malformed.num_rows == 0


def test_malformed_rows_are_kept_with_their_line(tmp_path: Path) -> None:
    content = f"{HEADER}\nT1,A1,1,Debit,t\nT2,A2\nT3,A3,3,Debit,t,extra\nT4,A4,4,Debit,t"
    read = _read(tmp_path, content)
    assert read.rows.column("tx_id").to_pylist() == ["T1", "T4"]
    assert read.rows.column(LINE_NUMBER).to_pylist() == [2, 5]
    assert read.malformed.to_pylist() == [
        {"entity": "transactions", SOURCE_FILE: "transactions/transactions_2020-01-01.csv",
         LINE_NUMBER: 3, "text": "T2,A2", "reason": "expected 5 fields, found 2"},
        {"entity": "transactions", SOURCE_FILE: "transactions/transactions_2020-01-01.csv",
         LINE_NUMBER: 4, "text": "T3,A3,3,Debit,t,extra", "reason": "expected 5 fields, found 6"},
    ]  # fmt: skip


def test_bom_crlf_quotes_and_no_final_newline(tmp_path: Path) -> None:
    content = (
        b"\xef\xbb\xbf" + f'{HEADER}\r\n"T,1",A1,"1,000.00",Debit,t\r\nT2,A2,2,Debit,t'.encode()
    )
    read = _read(tmp_path, content)
    assert read.rows.column("tx_id").to_pylist() == ["T,1", "T2"]
    assert read.rows.column("amount").to_pylist() == ["1,000.00", "2"]
    assert read.rows.column("timestamp").to_pylist() == ["t", "t"]


@pytest.mark.parametrize("end", ["\r", ""])
def test_carriage_returns_alone_end_lines(tmp_path: Path, end: str) -> None:
    read = _read(tmp_path, f"{HEADER}\rT1,A1,1,Debit,t\rT2,A2,2,Debit,t{end}")
    assert read.rows.column(LINE_NUMBER).to_pylist() == [2, 3]


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_blank_lines_are_skipped_and_later_rows_keep_their_line(tmp_path: Path, end: str) -> None:
    lines = [HEADER, "T1,A1,1,Debit,t", "", "", "T4,A4,4,Debit,t", "T5,A5", "", "T7,A7,7,Debit,t"]
    read = _read(tmp_path, end.join([*lines, "", ""]))  # and a blank line at the very end
    assert read.rows.column("tx_id").to_pylist() == ["T1", "T4", "T7"]
    assert read.rows.column(LINE_NUMBER).to_pylist() == [2, 5, 8]
    assert read.malformed.column(LINE_NUMBER).to_pylist() == [6]


def test_a_line_of_commas_is_a_row_not_a_blank_line(tmp_path: Path) -> None:
    read = _read(tmp_path, f"{HEADER}\n\n,,,,\nT4,A4,4,Debit,t\n\n,,,,\n")
    assert read.rows.column("tx_id").to_pylist() == ["", "T4", ""]
    assert read.rows.column(LINE_NUMBER).to_pylist() == [3, 4, 6]


def test_blank_lines_after_a_quoted_line_break_keep_record_numbers(tmp_path: Path) -> None:
    # Records, not physical lines, are numbered when a quoted field holds a line break.
    read = _read(tmp_path, f'{HEADER}\n"T\n\n1",A1,1,Debit,t\n\n,,,,\nT5,A5,5,Debit,t\n')
    assert read.rows.column("tx_id").to_pylist() == ["T\n\n1", "", "T5"]
    assert read.rows.column(LINE_NUMBER).to_pylist() == [2, 4, 5]


@pytest.mark.parametrize("blank", ["\n", "\n\n\n", "\r\n\r\n"])
def test_header_and_blank_lines_only_has_no_rows(tmp_path: Path, blank: str) -> None:
    read = _read(tmp_path, HEADER + blank)
    assert read.rows.num_rows == 0 and read.malformed.num_rows == 0


def test_invalid_utf8_names_line_and_column(tmp_path: Path) -> None:
    content = f"{HEADER}\nT1,A1,1,Debit,t\nT2,Ab".encode() + b"\xff" + b"c,2,Debit,t\n"
    with pytest.raises(LandingError, match=r"line 3, column 6: not UTF-8 text: byte 0xff"):
        _read(tmp_path, content)


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    read = _read(tmp_path, f"{HEADER}\n")
    assert read.rows.num_rows == 0 and read.malformed.num_rows == 0


def test_header_without_final_newline_has_no_rows(tmp_path: Path) -> None:
    read = _read(tmp_path, HEADER)
    assert read.rows.num_rows == 0 and read.malformed.num_rows == 0
