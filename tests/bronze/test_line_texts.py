"""``line_texts`` reads a file a block at a time and gives what a whole-file read gives."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given, settings
from hypothesis import strategies as st

from banklake.bronze.landing import LINE_BREAK, UTF8_BOM
from banklake.bronze.reader import line_texts

# Line breaks of every kind, runs of them (CR CR LF, LF CR, ...), a BOM and multi-byte text, so
# that tiny blocks split breaks, the BOM and characters between them.
PIECES = st.sampled_from(["a", "é", "€", ",", '"', " ", "\r", "\n", "\r\n", "\ufeff"])
TEXT = st.lists(PIECES, max_size=60).map("".join)


def whole_file_answer(data: bytes, line_numbers: list[int]) -> dict[int, str]:
    """The lines' text, found in all of the file's bytes at once."""
    breaks = [(m.start(), m.end()) for m in LINE_BREAK.finditer(data)]
    texts = {}
    for line in line_numbers:
        start = breaks[line - 2][1] if line > 1 else 0
        end = breaks[line - 1][0] if line - 1 < len(breaks) else len(data)
        raw = data[start:end]
        if line == 1:
            raw = raw.removeprefix(UTF8_BOM)
        texts[line] = raw.decode("utf-8", "replace")
    return texts


@settings(max_examples=300, deadline=None)
@given(
    text=TEXT,
    bom=st.booleans(),
    block_size=st.integers(min_value=1, max_value=9),
    picks=st.lists(st.integers(min_value=0), max_size=8),
    compressed=st.booleans(),
)
def test_streamed_lines_are_the_whole_file_answer(
    text: str, bom: bool, block_size: int, picks: list[int], compressed: bool
) -> None:
    data = (UTF8_BOM if bom else b"") + text.encode()
    lines = len(LINE_BREAK.findall(data)) + 1  # the last one may be empty
    wanted = [1 + pick % lines for pick in picks]  # repeats and any order, as asked
    with TemporaryDirectory() as directory:
        path = Path(directory) / ("lines.csv.gz" if compressed else "lines.csv")
        path.write_bytes(gzip.compress(data) if compressed else data)
        streamed = line_texts(path, wanted, block_size=block_size)
    assert streamed == whole_file_answer(data, wanted)
    assert list(streamed) == list(dict.fromkeys(wanted))


def test_a_cr_lf_split_between_blocks_is_one_break(tmp_path: Path) -> None:
    path = tmp_path / "split.csv"
    path.write_bytes(b"h\r\nab\r\ncd\rx\n")
    # Blocks of 3 bytes split both CR LFs: b"h\r\n", b"ab\r", b"\ncd", b"\rx\n".
    assert line_texts(path, [2, 3, 4, 5], block_size=3) == {2: "ab", 3: "cd", 4: "x", 5: ""}


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    row = b"TX_0000000,ACC_1,12.50,Debit,2026-11-01 09:00:00\r\n"
    lines = 600_000  # about 30 MB
    with path.open("wb") as out:
        for _ in range(lines // 10_000):
            out.write(row * 10_000)
    tracemalloc.start()
    try:
        texts = line_texts(path, [2, lines], block_size=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert texts == {2: row[:-2].decode(), lines: row[:-2].decode()}
    assert peak < 8 << 20  # a few blocks, not the file's 30 MB


def test_lines_past_the_end_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_bytes(b"h\nrow\n")
    assert line_texts(path, [2, 3, 10]) == {2: "row", 3: ""}  # line 3: after the last break
