"""Compressed landing files read exactly as their uncompressed text; damaged ones are refused
with the file named; header names match in any case and spacing."""

from __future__ import annotations

import bz2
import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import write_csv

from banklake.bronze.landing import (
    LandedFile,
    RejectedFile,
    discover,
    file_checksum,
    inspect,
    list_landing,
    read_header,
)
from banklake.bronze.reader import LINE_NUMBER, SOURCE_FILE, line_texts, read_file
from banklake.contracts import TRANSACTIONS
from banklake.engines.bronze_files import prepare, write_file
from banklake.errors import LandingError

HEADER = "tx_id,account_id,amount,tx_type,timestamp"


def _arrow(codec: str) -> Callable[[bytes], bytes]:
    def compress(data: bytes) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.CompressedOutputStream(sink, codec) as stream:
            stream.write(data)
        return bytes(sink.getvalue().to_pybytes())

    return compress


# Extension -> compressor: the standard library where it has one, Arrow's writer otherwise.
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.compress,
    ".GZIP": gzip.compress,
    ".bz2": bz2.compress,
    ".zst": _arrow("zstd"),
    ".zstd": _arrow("zstd"),
    ".lz4": _arrow("lz4"),
}


def _landed(path: Path) -> LandedFile:
    (candidate,) = [c for c in list_landing(path.parents[1]) if c.path == path]
    landed = inspect(candidate)
    assert isinstance(landed, LandedFile), landed
    return landed


def _read_as(directory: Path, suffix: str, data: bytes) -> tuple[list[object], dict[int, str]]:
    """Rows, malformed rows (without their file's name) and the text of each of their lines, of
    ``data`` landed as a file ending in ``suffix``."""
    path = directory / "transactions" / f"transactions_2026-11-01.csv{suffix}"
    write_csv(path, COMPRESSORS[suffix](data) if suffix else data)
    landed = _landed(path)
    read = read_file(landed)
    assert set(read.rows.column(SOURCE_FILE).to_pylist()) <= {landed.name}
    rows = read.rows.drop_columns([SOURCE_FILE]).to_pylist()
    malformed = read.malformed.drop_columns([SOURCE_FILE]).to_pylist()
    numbers = [r[LINE_NUMBER] for r in rows] + [m[LINE_NUMBER] for m in malformed]
    texts = line_texts(path, sorted(numbers))
    path.unlink()
    return [*rows, *malformed], texts


FIELD = st.text(alphabet=st.sampled_from('aZ9 .,"\r\n'), max_size=6)
QUOTED = FIELD.map(lambda f: '"' + f.replace('"', '""') + '"')
LINE = st.one_of(
    st.lists(st.one_of(FIELD.filter(lambda f: not set(f) & set(',"\r\n')), QUOTED), max_size=7).map(
        ",".join
    ),
    st.just(""),  # blank
    st.just(",,,,"),  # a row of empty fields
)


@settings(max_examples=40, deadline=None)
@given(
    lines=st.lists(LINE, max_size=12),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    final_newline=st.booleans(),
)
def test_every_codec_reads_exactly_the_uncompressed_rows(
    lines: list[str], line_end: str, bom: bool, final_newline: bool
) -> None:
    body = line_end.join([HEADER, *lines])
    data = ("\ufeff" if bom else "").encode() + (
        body + (line_end if final_newline else "")
    ).encode()
    with TemporaryDirectory() as folder:
        plain = _read_as(Path(folder), "", data)
        for suffix in COMPRESSORS:
            assert _read_as(Path(folder), suffix, data) == plain, suffix


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_compressed_file_is_named_as_landed_and_checksummed_on_disk(
    tmp_path: Path, suffix: str
) -> None:
    data = f"{HEADER}\nT1,A1,1.00,Debit,t\n\nT3,A3,3,Credit,t\n".encode()
    path = write_csv(tmp_path / "Transactions" / "2026" / "11" / f"x_20261101.csv{suffix}", b"")
    path.write_bytes(COMPRESSORS[suffix](data))
    (landed,) = discover(tmp_path).of(TRANSACTIONS)
    assert landed.name == f"Transactions/2026/11/x_20261101.csv{suffix}"
    read = read_file(landed)
    assert read.rows.column(SOURCE_FILE).to_pylist() == [landed.name] * 2
    assert read.rows.column(LINE_NUMBER).to_pylist() == [2, 4]
    assert line_texts(path, [1, 4]) == {1: HEADER, 4: "T3,A3,3,Credit,t"}
    assert file_checksum(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_damaged_compressed_header_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "transactions" / "transactions_2026-11-01.csv.gz", b"not gzip")
    (rejected,) = discover(tmp_path).rejected
    assert isinstance(rejected, RejectedFile)
    assert rejected.name == "transactions/transactions_2026-11-01.csv.gz"
    assert rejected.problem == (
        f"{path}: cannot be decompressed as gzip (zlib inflate failed: incorrect header check): "
        "the file is damaged or is not what its extension .gz says; deliver it again"
    )


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_truncated_after_the_header_is_rejected_when_read(tmp_path: Path, suffix: str) -> None:
    rows = "".join(f"TX_{n},ACC_{n % 97},{n}.00,Debit,2026-11-01 00:00:00\n" for n in range(60000))
    whole = COMPRESSORS[suffix](f"{HEADER}\n{rows}".encode())
    path = write_csv(
        tmp_path / "transactions" / f"t_2026-11-01.csv{suffix}", whole[: len(whole) // 2]
    )
    batch = discover(tmp_path)
    landed = batch.of(TRANSACTIONS)
    if batch.rejected:  # a codec whose first block is the whole file fails on the header probe
        (rejected,) = batch.rejected
    else:
        (file,) = landed
        prepare(tmp_path / "bronze")
        rejected = write_file(file, tmp_path / "bronze").load  # type: ignore[assignment]
    assert isinstance(rejected, RejectedFile)
    assert rejected.name == f"transactions/t_2026-11-01.csv{suffix}"
    assert rejected.problem.startswith(f"{path}: cannot be decompressed as ")
    assert "Truncated compressed stream" in rejected.problem
    with pytest.raises(LandingError, match="cannot be decompressed"):
        line_texts(path, [2])


def test_empty_compressed_file_is_an_empty_file(tmp_path: Path) -> None:
    write_csv(tmp_path / "transactions" / "t_2026-11-01.csv.gz", gzip.compress(b""))
    (rejected,) = discover(tmp_path).rejected
    assert "file is empty; expected a header row" in rejected.problem


@pytest.mark.parametrize(
    "header",
    [
        "TX_ID,Account_Id,AMOUNT,Tx_Type,TimeStamp",
        " tx_id , account_id,amount ,\ttx_type,timestamp ",
        "\ufeffTX_ID,ACCOUNT_ID,AMOUNT,TX_TYPE,TIMESTAMP",
    ],
)
def test_header_names_match_in_any_case_and_spacing(tmp_path: Path, header: str) -> None:
    path = write_csv(tmp_path / "transactions" / "t.csv", f"{header}\r\nT1,A1,1.00,Debit,t\r\n")
    columns, drift = read_header(path, TRANSACTIONS)
    assert columns == TRANSACTIONS.source_columns and drift is None
    rows = read_file(LandedFile(TRANSACTIONS, path, columns, None)).rows
    assert rows.column_names[:5] == list(TRANSACTIONS.source_columns)
    assert rows.to_pylist()[0]["amount"] == "1.00"


def test_header_drift_keeps_the_file_spelling_and_a_repeat_in_any_case_is_refused(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "t.csv", "TX_ID,account_id,amount,tx_type,timestamp, Branch \n")
    assert read_header(path, TRANSACTIONS)[1] == "schema drift: unexpected column(s) Branch"
    write_csv(path, f"{HEADER},TX_ID\n")
    with pytest.raises(LandingError, match="a column name repeats"):
        read_header(path, TRANSACTIONS)
    write_csv(path, "tx id,account_id,amount,tx_type,timestamp\n")  # inner spaces still count
    with pytest.raises(LandingError, match="missing column"):
        read_header(path, TRANSACTIONS)
