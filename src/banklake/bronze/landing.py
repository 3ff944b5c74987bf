"""The landing zone: its layout, finding the files of a batch, and checking each file's header.

Layout under the landing root::

    customers/customers_YYYY-MM-DD.csv        full snapshot as of that date
    accounts/accounts_YYYY-MM-DD.csv          full snapshot as of that date
    transactions/transactions_YYYY-MM-DD.csv  one file per business day

A file whose header does not fit its contract (or that is not UTF-8 CSV text) is rejected as a
whole, with the reason; the other files of the batch go on.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from banklake.contracts import ENTITIES, TRANSACTIONS, Entity
from banklake.errors import LandingError

_DATED_NAME = re.compile(r"^(?P<entity>[a-z_]+)_(?P<date>\d{4}-\d{2}-\d{2})\.csv$")
_HEADER_PROBE_BYTES = 64 * 1024
UTF8_BOM = b"\xef\xbb\xbf"
LINE_BREAK = re.compile(rb"\r\n|\r|\n")  # as the CSV reader breaks lines


def transactions_file_name(day: date) -> str:
    return f"{TRANSACTIONS.name}_{day.isoformat()}.csv"


def dimension_file_name(entity: Entity, snapshot: date) -> str:
    return f"{entity.name}_{snapshot.isoformat()}.csv"


@dataclass(frozen=True)
class _InLanding:
    entity: Entity
    path: Path

    @property
    def name(self) -> str:
        """The path relative to the landing root, as it is recorded in the tables."""
        return f"{self.entity.folder}/{self.path.name}"


@dataclass(frozen=True)
class Candidate(_InLanding):
    """A file in the landing zone, before anything in it has been read."""

    business_date: date | None  # from the file name, when it carries one
    size_bytes: int
    modified_ns: int


@dataclass(frozen=True)
class LandedFile(_InLanding):
    """A file whose header checked out: it will be read."""

    columns: tuple[str, ...]  # the header, in the file's order
    business_date: date | None
    drift: str | None = None  # columns the contract does not know: recorded, not fatal


@dataclass(frozen=True)
class RejectedFile(_InLanding):
    """A file refused as a whole: nothing in it is loaded, and the ledger records why."""

    business_date: date | None
    problem: str  # the error, naming the file and where in it


@dataclass(frozen=True)
class LandingBatch:
    files: dict[str, list[LandedFile]]
    rejected: list[RejectedFile] = field(default_factory=list)

    def of(self, entity: Entity) -> list[LandedFile]:
        return self.files.get(entity.name, [])

    @property
    def all_files(self) -> list[LandedFile]:
        return [file for entity in ENTITIES for file in self.of(entity)]


def list_landing(
    root: Path, since: date | None = None, until: date | None = None
) -> list[Candidate]:
    """Every landed file, oldest business date first; with a range, only the files dated in it.

    A missing entity folder just holds no files: a day may bring transactions alone.
    """
    if not root.is_dir():
        raise LandingError(
            root, "landing folder not found; create it with `banklake generate` or pass --landing"
        )
    found = []
    for entity in ENTITIES:
        folder = root / entity.folder
        paths = sorted(folder.iterdir()) if folder.is_dir() else []
        for path in paths:
            if path.suffix != ".csv" or not _visible(path):
                continue
            day = _business_date(path)
            if (since or until) and (
                day is None or (since and day < since) or (until and day > until)
            ):
                continue
            stat = path.stat()
            found.append(Candidate(entity, path, day, stat.st_size, stat.st_mtime_ns))
    return found


def inspect(candidate: Candidate) -> LandedFile | RejectedFile:
    """Check the file's header: a file that cannot be read as its contract says is rejected."""
    try:
        columns, drift = read_header(candidate.path, candidate.entity)
    except LandingError as error:
        return RejectedFile(candidate.entity, candidate.path, candidate.business_date, str(error))
    return LandedFile(candidate.entity, candidate.path, columns, candidate.business_date, drift)


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


def _visible(path: Path) -> bool:
    # Dot files include the generator's and uploaders' in-flight ``.name.partial`` files.
    return path.is_file() and not path.name.startswith(".")


def _business_date(path: Path) -> date | None:
    match = _DATED_NAME.match(path.name)
    if not match:
        return None
    try:
        return date.fromisoformat(match["date"])
    except ValueError:
        return None


def read_header(path: Path, entity: Entity) -> tuple[tuple[str, ...], str | None]:
    """The header's column names and any schema drift, or ``LandingError`` saying what is wrong.

    Columns are matched by name, in any order; columns the contract does not know are drift:
    reported, and not read.
    """
    with path.open("rb") as handle:
        probe = handle.read(_HEADER_PROBE_BYTES)
    expected = ",".join(entity.source_columns)
    if not probe.strip():
        raise LandingError(path, f"file is empty; expected a header row: {expected}")
    probe = probe.removeprefix(UTF8_BOM)
    first_line = LINE_BREAK.split(probe, maxsplit=1)[0]
    if b"\x00" in probe:
        raise LandingError(path, "not a CSV text file (it contains NUL bytes)", line=1)
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
        columns = tuple(name.strip() for name in next(csv.reader([text]), []))
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
