"""A file larger than the reader's block is read in parts: numbering runs on across them.

Malformed rows, blank lines and lines of only commas spread over several blocks keep exactly
the line numbers and texts a whole-file read gives, and a file that turns out unreadable in a
later block is a ``LandingError`` naming that line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import write_csv

from banklake.bronze.landing import LandedFile, read_header
from banklake.bronze.reader import LINE_NUMBER, FileStream, read_file
from banklake.contracts import TRANSACTIONS
from banklake.errors import LandingError

HEADER = b"tx_id,account_id,amount,tx_type,timestamp\n"
LINES = 700_000  # about 40 MB: three of the reader's 16 MiB blocks


def _line(number: int) -> bytes:
    if number % 99_991 == 0:
        return b""  # blank: not a row, but it takes its number
    if number % 77_777 == 0:
        return b",,,,"  # a row of empty fields, kept
    if number % 65_537 == 0:
        return b"T%d,A1" % number  # malformed: two fields
    return b"T%d,ACC_%06d,1.00,Debit,2020-01-01 10:00:00" % (number, number % 1000)


def _landed(tmp_path: Path, content: bytes) -> LandedFile:
    path = write_csv(tmp_path / "transactions" / "transactions_2020-01-01.csv", content)
    columns, _drift = read_header(path, TRANSACTIONS)
    return LandedFile(TRANSACTIONS, path, columns, None)


def test_numbering_runs_on_across_blocks(tmp_path: Path) -> None:
    numbers = range(2, LINES + 2)
    file = _landed(tmp_path, HEADER + b"\n".join(_line(n) for n in numbers) + b"\n")
    stream = FileStream(file)
    parts = list(stream)
    assert sum(part.rows.num_rows > 0 for part in parts) >= 3  # it did take several blocks

    read = read_file(file)
    kept = [n for n in numbers if n % 99_991 and not (n % 65_537 == 0 and n % 77_777)]
    assert read.rows[LINE_NUMBER].to_pylist() == kept
    expected_ids = [("" if n % 77_777 == 0 else f"T{n}") for n in kept]
    assert read.rows["tx_id"].to_pylist() == expected_ids
    bad = [n for n in numbers if n % 65_537 == 0 and n % 77_777 and n % 99_991]
    assert read.malformed[LINE_NUMBER].to_pylist() == bad
    assert read.malformed["text"].to_pylist() == [f"T{n},A1" for n in bad]
    assert stream.rows == len(kept) + len(bad) + len(stream.blank_lines())
    assert stream.blank_lines() == [n for n in numbers if n % 99_991 == 0]


def test_a_file_unreadable_in_a_later_block_names_the_line(tmp_path: Path) -> None:
    rows = b"\n".join(_line(n) for n in range(2, LINES + 2) if n % 65_537 and n % 99_991)
    file = _landed(tmp_path, HEADER + rows + b"\nT_LAST,ACC_1,1.00,Debit,2020-01-01 \xff\n")
    line = rows.count(b"\n") + 3
    given = []
    with pytest.raises(LandingError, match=rf"line {line}, column 36: not UTF-8 text: byte 0xff"):
        given.extend(FileStream(file))
    assert given and given[0].rows.num_rows > 0  # rows were given before the file failed
