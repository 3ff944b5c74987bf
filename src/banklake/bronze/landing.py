"""The landing zone: finding the files of a batch, and checking each file's header.

Layout under the landing root (the full rules: ``banklake.bronze.layout``)::

    customers/customers_YYYY-MM-DD.csv        full snapshot as of that date
    accounts/accounts_YYYY-MM-DD.csv          full snapshot as of that date
    transactions/transactions_YYYY-MM-DD.csv  one file per business day

Entity folders in any case, nested folders below them (``transactions/2026/11/01/``,
``transactions/date=2026-11-01/``), files named after their entity directly under the root,
other date spellings (``20261101``) and compressed files (``.csv.gz``, ``.csv.bz2``, ``.csv.zst``,
``.csv.lz4``) are read too. Every file under the root ends in exactly one place: a candidate,
ignored by a named rule, refused with the reason, or out of the date range (``inventory``).

A file whose header does not fit its contract (or that is not UTF-8 CSV text) is rejected as a
whole, with the reason; the other files of the batch go on. Header names match the contract's in
any case and with spaces around them.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from datetime import date
from pathlib import Path

from banklake.bronze.codecs import read_content
from banklake.bronze.files import (
    Candidate,
    Ignored,
    Inventory,
    LandedFile,
    LandingBatch,
    RefusedFile,
    RejectedFile,
)
from banklake.bronze.inventory import inventory
from banklake.bronze.lines import LINE_BREAK
from banklake.contracts import ENTITIES, TRANSACTIONS, Entity
from banklake.errors import LandingError

__all__ = [
    "LINE_BREAK",
    "UTF8_BOM",
    "Candidate",
    "Ignored",
    "Inventory",
    "LandedFile",
    "LandingBatch",
    "RefusedFile",
    "RejectedFile",
    "batch_of",
    "dimension_file_name",
    "discover",
    "file_checksum",
    "inspect",
    "inventory",
    "list_landing",
    "read_header",
    "transactions_file_name",
]

_HEADER_PROBE_BYTES = 64 * 1024
UTF8_BOM = b"\xef\xbb\xbf"


def transactions_file_name(day: date) -> str:
    return f"{TRANSACTIONS.name}_{day.isoformat()}.csv"


def dimension_file_name(entity: Entity, snapshot: date) -> str:
    return f"{entity.name}_{snapshot.isoformat()}.csv"


def list_landing(
    root: Path, since: date | None = None, until: date | None = None
) -> list[Candidate]:
    """The files to load, by entity then path; with a range, only the files dated in it.

    A missing entity folder just holds no files: a day may bring transactions alone. What the
    other files under the root became is in ``inventory``.
    """
    return inventory(root, since, until).candidates


def inspect(candidate: Candidate) -> LandedFile | RejectedFile:
    """Check the file's header: a file that cannot be read as its contract says is rejected."""
    try:
        columns, drift = read_header(candidate.path, candidate.entity)
    except LandingError as error:
        return RejectedFile(
            candidate.entity,
            candidate.path,
            candidate.business_date,
            str(error),
            landed_as=candidate.name,
        )
    return LandedFile(
        candidate.entity,
        candidate.path,
        columns,
        candidate.business_date,
        drift,
        landed_as=candidate.name,
    )


def discover(root: Path, since: date | None = None, until: date | None = None) -> LandingBatch:
    """Every landed file in the range, inspected: what will be read and what is refused."""
    return batch_of(list_landing(root, since, until))


def batch_of(candidates: list[Candidate]) -> LandingBatch:
    files: dict[str, list[LandedFile]] = {entity.name: [] for entity in ENTITIES}
    rejected = []
    for inspected in map(inspect, candidates):
        if isinstance(inspected, RejectedFile):
            rejected.append(inspected)
        else:
            files[inspected.entity.name].append(inspected)
    return LandingBatch(files, rejected)


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_header(path: Path, entity: Entity) -> tuple[tuple[str, ...], str | None]:
    """The header's column names and any schema drift, or ``LandingError`` saying what is wrong.

    Columns are matched by name, in any order, in any case and with spaces around them, and
    returned as the contract spells them; columns the contract does not know are drift:
    reported, and not read.
    """
    probe = read_content(path, _HEADER_PROBE_BYTES)
    expected = ",".join(entity.source_columns)
    if not probe.strip():
        raise LandingError(path, f"file is empty; expected a header row: {expected}")
    probe = probe.removeprefix(UTF8_BOM)
    first_line = LINE_BREAK.split(probe, maxsplit=1)[0]
    # A NUL in the header is a binary or UTF-16 file; in a data line it is that row's problem.
    if b"\x00" in first_line:
        raise LandingError(path, "not a CSV text file (its header contains NUL bytes)", line=1)
    try:
        text = first_line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LandingError(
            path,
            f"not UTF-8 text: byte 0x{first_line[error.start]:02x} cannot be decoded",
            line=1,
            column=len(first_line[: error.start].decode("utf-8", "replace")) + 1,
        ) from None
    try:
        columns = tuple(map(_contract_name(entity), next(csv.reader([text]), [])))
    except csv.Error as error:
        raise LandingError(path, f"the header is not a CSV line: {error}", line=1) from None
    wanted = set(entity.source_columns)
    if not wanted & set(columns):
        raise LandingError(
            path, f"no header row: the first line is {text[:80]!r}; expected {expected}", line=1
        )
    problems = []
    if missing := [c for c in entity.source_columns if c not in columns]:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if len(set(columns)) != len(columns):
        problems.append("a column name repeats")
    if problems:
        raise LandingError(
            path, f"wrong header: {'; '.join(problems)}; expected {expected}", line=1
        )
    unexpected = [c for c in columns if c not in wanted]
    drift = f"schema drift: unexpected column(s) {', '.join(unexpected)}" if unexpected else None
    return columns, drift


def _contract_name(entity: Entity) -> Callable[[str], str]:
    """The contract's spelling of a header name (``" TX_ID "`` -> ``tx_id``), else the name."""
    spellings = {column.casefold(): column for column in entity.source_columns}
    return lambda name: spellings.get(name.strip().casefold(), name.strip())
