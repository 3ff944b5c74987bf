"""Property-based: whatever text arrives, the reader keeps every record exactly once and raises
only LandingError."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given, settings
from hypothesis import strategies as st

from banklake.bronze.landing import LINE_BREAK, LandedFile
from banklake.bronze.reader import LINE_NUMBER, read_file
from banklake.contracts import TRANSACTIONS
from banklake.errors import LandingError

HEADER = "tx_id,account_id,amount,tx_type,timestamp"
FIELD = st.text(alphabet=st.characters(blacklist_characters=',"\r\n', codec="utf-8"), max_size=8)
GOOD = st.lists(FIELD, min_size=5, max_size=5).map(",".join)
BAD = st.lists(FIELD, min_size=1, max_size=9).filter(lambda f: len(f) != 5).map(",".join)


def _read(directory: str, content: bytes):  # type: ignore[no-untyped-def]
    path = Path(directory) / "transactions_2020-01-01.csv"
    path.write_bytes(content)
    columns = tuple(HEADER.split(","))
    return read_file(LandedFile(TRANSACTIONS, path, columns, None))


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.tuples(st.booleans(), st.one_of(GOOD, BAD, st.just(""))), max_size=30),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    final_newline=st.booleans(),
)
def test_every_line_is_a_row_a_malformed_row_or_blank(
    lines: list[tuple[bool, str]], line_end: str, final_newline: bool
) -> None:
    texts = [text for _, text in lines]
    body = line_end.join([HEADER, *texts]) + (line_end if final_newline else "")
    with TemporaryDirectory() as directory:
        read = _read(directory, body.encode())
    # A blank line is no row (and takes its line number with it); a line of commas is a row.
    fields = {n: t.split(",") for n, t in enumerate(texts, start=2) if t}
    expected_good = {n: f for n, f in fields.items() if len(f) == 5}
    expected_bad = {n: texts[n - 2] for n, f in fields.items() if len(f) != 5}
    rows = read.rows.to_pylist()
    got_good = {row[LINE_NUMBER]: [row[c] for c in HEADER.split(",")] for row in rows}
    got_bad = {row[LINE_NUMBER]: row["text"] for row in read.malformed.to_pylist()}
    assert got_bad == expected_bad
    assert got_good == expected_good


@settings(max_examples=150, deadline=None)
@given(
    content=st.one_of(
        st.binary(max_size=200),
        # Text made of what CSV is made of, so that most examples are read rather than refused.
        st.text(alphabet=st.sampled_from('a,,,,"\r\n\n '), max_size=200).map(str.encode),
    )
)
def test_arbitrary_bytes_raise_only_the_documented_error(content: bytes) -> None:
    with TemporaryDirectory() as directory:
        try:
            read = _read(directory, (HEADER + "\n").encode() + content)
        except LandingError as error:
            assert error.path.name == "transactions_2020-01-01.csv"
            return
    # Every record is kept once, as a row or as a malformed row, at its own line number.
    lines = read.rows[LINE_NUMBER].to_pylist() + read.malformed[LINE_NUMBER].to_pylist()
    assert len(lines) == len(set(lines))
    physical = LINE_BREAK.split(content)
    if content.endswith((b"\n", b"\r")):
        physical.pop()  # the final line break ends the last line; no line follows it
    assert all(2 <= line <= len(physical) + 1 for line in lines)
    # Exactly as many as Python's own CSV reader finds records (a blank line is none).
    text = content.decode("utf-8", "replace")
    assert len(lines) == sum(1 for record in csv.reader(io.StringIO(text, newline="")) if record)
    if b'"' not in content:  # then records are lines: only the blank ones have no row
        blank = {n for n, text in enumerate(physical, start=2) if not text}
        assert set(lines) | blank == set(range(2, len(physical) + 2))
