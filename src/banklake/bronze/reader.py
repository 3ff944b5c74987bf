"""Read Bronze CSV files into Arrow as text, keeping every row and where it came from.

Every field is read as a string: typing is the transform's job, so that a bad value becomes a
quarantined row with a reason instead of a failed file. Each row carries ``_source_file`` and
``_line_number``. A line the parser cannot split into the header's fields is kept too, as a
malformed row with its text. A blank line (nothing between two line breaks) is not a row: it is
skipped, and the rows after it keep their own line numbers. Line numbers count records; they
equal physical lines unless a quoted field itself contains a line break. Compressed files are
read decompressed (``banklake.bronze.codecs``).
"""

from __future__ import annotations

import csv
import functools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from banklake.bronze.codecs import open_content, read_content
from banklake.bronze.landing import LINE_BREAK, UTF8_BOM, LandedFile
from banklake.bronze.lines import blank_lines
from banklake.contracts import Entity
from banklake.errors import LandingError

SOURCE_FILE = "_source_file"
LINE_NUMBER = "_line_number"
MALFORMED_SCHEMA = pa.schema(
    [
        ("entity", pa.string()),
        (SOURCE_FILE, pa.string()),
        (LINE_NUMBER, pa.int64()),
        ("text", pa.string()),
        ("reason", pa.string()),
    ]
)


def bronze_schema(entity: Entity) -> pa.Schema:
    """The rows of an entity's files as read: text columns, then where each row came from."""
    columns = [(name, pa.string()) for name in entity.source_columns]
    source = pa.dictionary(pa.int32(), pa.string())  # one copy of the name per file
    return pa.schema([*columns, (SOURCE_FILE, source), (LINE_NUMBER, pa.int64())])


@dataclass(frozen=True)
class FileRead:
    rows: pa.Table  # the source columns (contract order) + _source_file + _line_number
    malformed: pa.Table  # MALFORMED_SCHEMA


def read_file(file: LandedFile) -> FileRead:
    """Read one landed file whole; raise ``LandingError`` (file, line, column) if it is not
    UTF-8 CSV or cannot be decompressed (``FileStream`` reads it a part at a time)."""
    stream = FileStream(file)
    parts = list(stream)
    rows = pa.concat_tables([bronze_schema(file.entity).empty_table(), *(p.rows for p in parts)])
    if blank := stream.blank_lines():
        rows = rows.filter(pc.invert(pc.is_in(rows[LINE_NUMBER], pa.array(blank, pa.int64()))))
    malformed = pa.concat_tables([MALFORMED_SCHEMA.empty_table(), *(p.malformed for p in parts)])
    return FileRead(rows, malformed)


class FileStream:
    """One landed file's rows, read a block at a time: iterate it for ``FileRead`` parts.

    Iterating raises ``LandingError`` (file, line, column) where the file turns out not to be
    UTF-8 CSV or cannot be decompressed; parts already given are then not the whole file. The
    file is parsed on one thread, the only mode in which Arrow reports the line of a rejected
    row; read several files at once to use more cores. Blank lines read as rows of empty
    fields, told apart from lines of only commas by the file's text: once every part is read,
    ``blank_lines`` names those among the rows given, to be dropped.
    """

    def __init__(self, file: LandedFile) -> None:
        self.file = file
        self.rows = 0  # the data rows read so far, well-formed (blank ones too) and malformed
        self._next_line = 2  # the line number of the next record the parts have not covered
        self._malformed: list[tuple[int, str]] = []  # reported by Arrow, not yet given
        self._empty: list[int] = []  # lines of rows of only empty fields: blank, or commas

    def __iter__(self) -> Iterator[FileRead]:
        _install_quiet_hook()
        if _header_only(self.file):
            # Arrow cannot skip a header that no line break ends; the file holds no rows at all.
            return
        try:
            with open_content(self.file.path) as content:
                for batch in _csv_batches(self.file, content, self._malformed):
                    yield self._part(pa.Table.from_batches([batch]))
            yield self._part(bronze_schema(self.file.entity).empty_table())  # the rest rejected
        except pa.ArrowInvalid as error:
            raise _located(self.file, error) from None

    def blank_lines(self) -> list[int]:
        """The line numbers, among the rows given, of lines that were blank in the file."""
        if not self._empty:
            return []
        blank = blank_lines(read_content(self.file.path), self._next_line - 1)
        return sorted(set(blank).intersection(self._empty))

    def _part(self, table: pa.Table) -> FileRead:
        """The part of ``table``'s rows, numbered: the next lines no rejected row took."""
        # Arrow parses ahead, so rejected rows of later parts may already have been reported.
        self._malformed.sort()
        rejected = np.array([line for line, _ in self._malformed], dtype=np.int64)
        if table.num_rows:
            span = np.arange(self._next_line, self._next_line + table.num_rows + len(rejected))
            numbers = span[~np.isin(span, rejected)][: table.num_rows]
            self._next_line = int(numbers[-1]) + 1
        else:  # the end of the file: every rejected row left is before it
            numbers = np.array([], dtype=np.int64)
            self._next_line = max([self._next_line, *(rejected + 1)])
        given = int(np.searchsorted(rejected, self._next_line))
        malformed, self._malformed[:given] = self._malformed[:given], []
        self.rows += table.num_rows + len(malformed)
        self._note_empty(table, numbers)
        return FileRead(self._rows(table, numbers), _malformed_table(self.file, malformed))

    def _note_empty(self, table: pa.Table, numbers: np.ndarray) -> None:
        # The common case costs one pass over one column.
        if table.num_rows == 0 or pc.min(pc.binary_length(table.column(0))).as_py() > 0:
            return
        empty = functools.reduce(pc.and_, [pc.equal(column, "") for column in table.columns])
        self._empty.extend(numbers[empty.to_numpy(zero_copy_only=False)].tolist())

    def _rows(self, table: pa.Table, numbers: np.ndarray) -> pa.Table:
        rows = table.select(list(self.file.entity.source_columns))
        rows = rows.append_column(SOURCE_FILE, _repeated(self.file.name, rows.num_rows))
        return rows.append_column(LINE_NUMBER, pa.array(numbers, pa.int64()))


def _malformed_table(file: LandedFile, malformed: list[tuple[int, str]]) -> pa.Table:
    return pa.table(
        {
            "entity": pa.repeat(file.entity.name, len(malformed)),
            SOURCE_FILE: pa.repeat(file.name, len(malformed)),
            LINE_NUMBER: pa.array([line for line, _ in malformed], pa.int64()),
            "text": [text for _, text in malformed],
            "reason": [
                f"expected {len(file.columns)} fields, found {_field_count(text)}"
                for _, text in malformed
            ],
        },
        schema=MALFORMED_SCHEMA,
    )


def _quiet_undecodable_rows(
    unraisable: sys.UnraisableHookArgs, previous: Callable[[sys.UnraisableHookArgs], object]
) -> None:
    # Arrow decodes a rejected row's text before it calls our handler; when that text is not
    # UTF-8 the decode fails inside Arrow, which reports it here and then fails the parse, and
    # ``read_file`` turns that into a LandingError with the line and column. Only that report is
    # silenced; every other one goes to the usual hook.
    if not (
        isinstance(unraisable.exc_value, UnicodeDecodeError)
        and getattr(unraisable.object, "__qualname__", "") == "_csv_batches.<locals>.keep"
    ):
        previous(unraisable)


def _install_quiet_hook() -> None:
    """Put the filter in front of whatever hook is current (once; it stays, process-wide)."""
    if getattr(sys.unraisablehook, "func", None) is not _quiet_undecodable_rows:
        sys.unraisablehook = functools.partial(_quiet_undecodable_rows, previous=sys.unraisablehook)


def line_texts(path: Path, line_numbers: list[int], block_size: int = 1 << 20) -> dict[int, str]:
    """The exact text of some lines of a file (1-based; without the line break; lines past the
    end are left out), read a block at a time: memory holds a block and the lines asked for.

    The file is read to its end, so that a damaged stream fails wherever the lines are.
    """
    lines = _WantedLines(line_numbers)
    with open_content(path) as content:
        while block := content.read(block_size):
            lines.feed(block)
    return lines.texts()


class _WantedLines:
    """Some lines' bytes, taken from a file's blocks in order. Line breaks are counted as
    ``LINE_BREAK`` counts them in the whole file (CR LF, LF, a lone CR), a CR LF split between
    two blocks too."""

    def __init__(self, line_numbers: list[int]) -> None:
        self._asked = line_numbers
        self._wanted = sorted(set(line_numbers))
        self._next = 0  # the index of the first wanted line not passed yet
        self._line = 1  # the line the next byte belongs to
        self._after_cr = False  # the last block ended in \r: a \n first is the same break
        self._found: dict[int, bytearray] = {}
        self._enter_line()

    @property
    def done(self) -> bool:
        return self._next == len(self._wanted)

    def feed(self, block: bytes) -> None:
        if self.done:
            return
        if self._after_cr and block.startswith(b"\n"):
            block = block[1:]
        self._after_cr = block.endswith(b"\r")
        breaks = block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
        if self._wanted[self._next] > self._line + breaks:  # no wanted line in this block
            self._line += breaks
            return
        start = 0
        for found in LINE_BREAK.finditer(block):
            self._keep(block[start : found.start()])
            self._line += 1
            self._enter_line()
            if self.done:
                return
            start = found.end()
        self._keep(block[start:])

    def texts(self) -> dict[int, str]:
        if 1 in self._found:
            self._found[1] = self._found[1].removeprefix(UTF8_BOM)
        return {
            line: self._found[line].decode("utf-8", "replace")
            for line in self._asked
            if line in self._found
        }

    def _enter_line(self) -> None:
        while not self.done and self._wanted[self._next] < self._line:
            self._next += 1
        if not self.done and self._wanted[self._next] == self._line:
            self._found[self._line] = bytearray()

    def _keep(self, text: bytes) -> None:
        if self._line in self._found:
            self._found[self._line] += text


def _repeated(text: str, count: int) -> pa.Array:
    # Dictionary-encoded: one copy of the text, not one per row.
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, np.int32)), pa.array([text]))


def _csv_batches(
    file: LandedFile, content: pa.NativeFile, malformed: list[tuple[int, str]]
) -> Iterator[pa.RecordBatch]:
    """The file's records as text columns, blank lines included; rejected rows (line, text)
    are added to ``malformed`` as Arrow meets them."""

    def keep(row: pacsv.InvalidRow) -> str:
        malformed.append((row.number, row.text))
        return "skip"

    yield from pacsv.open_csv(
        content,
        read_options=pacsv.ReadOptions(
            column_names=list(file.columns),
            skip_rows=1,
            use_threads=False,
            block_size=16 << 20,
        ),
        # Empty lines are read as rows of empty fields, so that records keep their numbers
        # (Arrow's own skipping renumbers the rows after a blank line); ``blank_lines`` then
        # names them.
        parse_options=pacsv.ParseOptions(invalid_row_handler=keep, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in file.columns},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _header_only(file: LandedFile) -> bool:
    start = read_content(file.path, _HEADER_ONLY_PROBE + 1)
    return len(start) <= _HEADER_ONLY_PROBE and not LINE_BREAK.search(start)


_HEADER_ONLY_PROBE = 64 * 1024


def _field_count(text: str) -> int:
    return len(next(csv.reader([text]), []))


def _located(file: LandedFile, error: pa.ArrowInvalid) -> LandingError:
    """Turn Arrow's file-wide complaint into one that names the line and column."""
    data = read_content(file.path).removeprefix(UTF8_BOM)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        line_start = data.rfind(b"\n", 0, bad.start) + 1
        column = len(data[line_start : bad.start].decode("utf-8", "replace")) + 1
        return LandingError(
            file.path,
            f"not UTF-8 text: byte 0x{data[bad.start]:02x} cannot be decoded; "
            "re-export the file as UTF-8",
            line=data.count(b"\n", 0, bad.start) + 1,
            column=column,
        )
    return LandingError(file.path, f"cannot be read as CSV: {error}")
