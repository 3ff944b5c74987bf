"""Lines of a CSV file's text: where lines break, and which lines are blank.

A line ends at CRLF, CR or LF, as Arrow's CSV reader breaks lines. A blank line has nothing at
all between two line breaks (a line of spaces or of commas is not blank). Lines are numbered
from 1 (the header) the way the reader numbers records: a blank line takes a number, so the rows
after it keep theirs; a quoted field that holds a line break is one record.
"""

from __future__ import annotations

import csv
import io
import re

LINE_BREAK = re.compile(rb"\r\n|\r|\n")
# Two line breaks in a row, as byte pairs: every blank line starts at the second byte of one of
# these, and each of them starts one (CR LF is a single break, so it is not among them).
_BLANK_LINE_STARTS = (b"\n\n", b"\r\r", b"\n\r")


def blank_lines(data: bytes, records: int) -> list[int]:
    """The numbers of the blank lines of ``data``, a file's text of ``records`` records
    (header included), in order."""
    has_cr = b"\r" in data  # a fast scan; without CRs, LF alone breaks lines
    pairs = _BLANK_LINE_STARTS if has_cr else _BLANK_LINE_STARTS[:1]
    starts = sorted(at + 1 for pair in pairs for at in _find_all(data, pair))
    numbers, line, counted = [], 1, 0
    for start in starts:
        # No CR LF straddles a start, so counting breaks up to it is exact.
        line += _breaks(data, counted, start, has_cr)
        counted = start
        numbers.append(line)
    lines = line + _breaks(data, counted, len(data), has_cr)
    lines -= data.endswith((b"\n", b"\r"))  # a final line break ends the last line
    if not numbers or lines == records:
        return numbers  # no quoted field holds a line break: records are lines
    by_record = _blank_records(data)
    return numbers if by_record is None else by_record


def _blank_records(data: bytes) -> list[int] | None:
    """Blank lines by record number, where quoted fields hold line breaks (slow: Python's CSV
    reader, which also yields a blank line as an empty record); None if it cannot parse it."""
    text = io.StringIO(data.decode("utf-8", "replace"), newline="")
    try:
        return [number for number, record in enumerate(csv.reader(text), start=1) if not record]
    except csv.Error:  # e.g. a field beyond its size limit
        return None


def _find_all(data: bytes, pair: bytes) -> list[int]:
    found, at = [], data.find(pair)
    while at >= 0:
        found.append(at)
        at = data.find(pair, at + 1)
    return found


def _breaks(data: bytes, start: int, end: int, has_cr: bool) -> int:
    breaks = data.count(b"\n", start, end)
    if has_cr:
        breaks += data.count(b"\r", start, end) - data.count(b"\r\n", start, end)
    return breaks
