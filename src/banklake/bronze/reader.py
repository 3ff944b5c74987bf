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
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from banklake.bronze.codecs import open_content, read_content
from banklake.bronze.landing import LINE_BREAK, UTF8_BOM, LandedFile, RejectedFile
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
    """Read one landed file; raise ``LandingError`` (file, line, column) if it is not UTF-8 CSV
    or cannot be decompressed.

    The file is parsed on one thread, the only mode in which Arrow reports the line of a
    rejected row; read several files at once to use more cores (``read_files``).
    """
    _install_quiet_hook()
    try:
        table, malformed = _parse(file)
    except pa.ArrowInvalid as error:
        raise _located(file, error) from None
    total = table.num_rows + len(malformed)  # the records after the header, blank lines too
    bad_lines = np.array([line for line, _ in malformed], dtype=np.int64)
    good = np.ones(total, dtype=bool)
    good[bad_lines - 2] = False
    numbers = np.arange(2, total + 2)[good]
    if (blank := _blank_rows(file, table, numbers, total + 1)) is not None:
        table, numbers = table.filter(pa.array(~blank)), numbers[~blank]
    rows = table.select(list(file.entity.source_columns))
    rows = rows.append_column(SOURCE_FILE, _repeated(file.name, rows.num_rows))
    rows = rows.append_column(LINE_NUMBER, pa.array(numbers))
    bad = pa.table(
        {
            "entity": pa.repeat(file.entity.name, len(malformed)),
            SOURCE_FILE: pa.repeat(file.name, len(malformed)),
            LINE_NUMBER: bad_lines,
            "text": [text for _, text in malformed],
            "reason": [
                f"expected {len(file.columns)} fields, found {_field_count(text)}"
                for _, text in malformed
            ],
        },
        schema=MALFORMED_SCHEMA,
    )
    return FileRead(rows, bad)


def _quiet_undecodable_rows(
    unraisable: sys.UnraisableHookArgs, previous: Callable[[sys.UnraisableHookArgs], object]
) -> None:
    # Arrow decodes a rejected row's text before it calls our handler; when that text is not
    # UTF-8 the decode fails inside Arrow, which reports it here and then fails the parse, and
    # ``read_file`` turns that into a LandingError with the line and column. Only that report is
    # silenced; every other one goes to the usual hook.
    if not (
        isinstance(unraisable.exc_value, UnicodeDecodeError)
        and getattr(unraisable.object, "__qualname__", "") == "_parse.<locals>.keep"
    ):
        previous(unraisable)


def _install_quiet_hook() -> None:
    """Put the filter in front of whatever hook is current (once; it stays, process-wide)."""
    if getattr(sys.unraisablehook, "func", None) is not _quiet_undecodable_rows:
        sys.unraisablehook = functools.partial(_quiet_undecodable_rows, previous=sys.unraisablehook)


def read_files(files: list[LandedFile]) -> list[FileRead | RejectedFile]:
    """Read files concurrently (Arrow parses without the GIL), results in the given order.

    A file that turns out not to be UTF-8 CSV is rejected whole, with where and why.
    """

    def read_or_reject(file: LandedFile) -> FileRead | RejectedFile:
        try:
            return read_file(file)
        except LandingError as error:
            return RejectedFile(
                file.entity, file.path, file.business_date, str(error), landed_as=file.name
            )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(read_or_reject, files))


def line_texts(path: Path, line_numbers: list[int]) -> dict[int, str]:
    """The exact text of some lines of a file (1-based; without the line break)."""
    data = read_content(path)
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


def _repeated(text: str, count: int) -> pa.Array:
    # Dictionary-encoded: one copy of the text, not one per row.
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, np.int32)), pa.array([text]))


def _parse(file: LandedFile) -> tuple[pa.Table, list[tuple[int, str]]]:
    malformed: list[tuple[int, str]] = []
    if _header_only(file):
        # Arrow cannot skip a header that no line break ends; the file holds no rows at all.
        schema = pa.schema([(name, pa.string()) for name in file.columns])
        return schema.empty_table(), malformed

    def keep(row: pacsv.InvalidRow) -> str:
        malformed.append((row.number, row.text))
        return "skip"

    with open_content(file.path) as content:
        table = pacsv.read_csv(
            content,
            read_options=pacsv.ReadOptions(
                column_names=list(file.columns),
                skip_rows=1,
                use_threads=False,
                block_size=16 << 20,
            ),
            # Empty lines are read as rows of empty fields, so that records keep their numbers
            # (Arrow's own skipping renumbers the rows after a blank line); ``_blank_rows`` then
            # drops them.
            parse_options=pacsv.ParseOptions(invalid_row_handler=keep, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in file.columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    return table, malformed


def _blank_rows(
    file: LandedFile, table: pa.Table, numbers: np.ndarray, records: int
) -> np.ndarray | None:
    """Which rows were blank lines (a mask), or None when none was.

    A blank line and a line of only commas both read as a row of empty fields; only the
    file's text tells them apart, and it is read again only when such a row exists. The common
    case costs one pass over one column.
    """
    if table.num_rows == 0 or pc.min(pc.binary_length(table.column(0))).as_py() > 0:
        return None
    empty = functools.reduce(pc.and_, [pc.equal(column, "") for column in table.columns])
    candidates = empty.to_numpy(zero_copy_only=False)
    if not candidates.any():
        return None
    blank = np.isin(numbers, blank_lines(read_content(file.path), records))
    mask: np.ndarray = candidates & blank
    return mask


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
