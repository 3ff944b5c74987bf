"""The landing zone: its layout, finding the files of a batch, and checking each file's header.

Layout under the landing root::

    customers/customers_YYYY-MM-DD.csv        full snapshot as of that date
    accounts/accounts_YYYY-MM-DD.csv          full snapshot as of that date
    transactions/transactions_YYYY-MM-DD.csv  one file per business day

Everything here runs before any table is touched, so a bad file stops the run with nothing written.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from banklake.contracts import ENTITIES, TRANSACTIONS, Entity
from banklake.errors import LandingError

_DATED_NAME = re.compile(r"^(?P<entity>[a-z_]+)_(?P<date>\d{4}-\d{2}-\d{2})\.csv$")
_HEADER_PROBE_BYTES = 64 * 1024
UTF8_BOM = b"\xef\xbb\xbf"


def transactions_file_name(day: date) -> str:
    return f"{TRANSACTIONS.name}_{day.isoformat()}.csv"


def dimension_file_name(entity: Entity, snapshot: date) -> str:
    return f"{entity.name}_{snapshot.isoformat()}.csv"


@dataclass(frozen=True)
class LandedFile:
    entity: Entity
    path: Path
    columns: tuple[str, ...]  # the header, in the file's order
    business_date: date | None  # from the file name, when it carries one

    @property
    def name(self) -> str:
        """The path relative to the landing root, as it is recorded in the tables."""
        return f"{self.entity.folder}/{self.path.name}"


@dataclass(frozen=True)
class LandingBatch:
    root: Path
    files: dict[str, list[LandedFile]]
    superseded: list[Path] = field(default_factory=list)  # older dimension snapshots

    def of(self, entity: Entity) -> list[LandedFile]:
        return self.files[entity.name]


def discover(root: Path) -> LandingBatch:
    """Find the batch's files and check every header; raise ``LandingError`` on a problem."""
    if not root.is_dir():
        raise LandingError(
            root, "landing folder not found; create it with `banklake generate` or pass --landing"
        )
    files: dict[str, list[LandedFile]] = {}
    superseded: list[Path] = []
    for entity in ENTITIES:
        folder = root / entity.folder
        if not folder.is_dir():
            raise LandingError(folder, f"folder missing: the landing zone needs {entity.folder}/")
        paths = sorted(p for p in folder.iterdir() if p.suffix == ".csv" and _visible(p))
        if not paths:
            raise LandingError(folder, f"no {entity.name} .csv files in this folder")
        if not entity.daily:
            # Dimensions arrive as full snapshots: the newest one is the current state.
            superseded.extend(paths[:-1])
            paths = paths[-1:]
        files[entity.name] = [
            LandedFile(entity, p, read_header(p, entity), _business_date(p)) for p in paths
        ]
    return LandingBatch(root, files, superseded)


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


def read_header(path: Path, entity: Entity) -> tuple[str, ...]:
    """Return the header's column names, or raise ``LandingError`` saying what is wrong."""
    with path.open("rb") as handle:
        probe = handle.read(_HEADER_PROBE_BYTES)
    expected = ",".join(entity.source_columns)
    if not probe.strip():
        raise LandingError(path, f"file is empty; expected a header row: {expected}")
    probe = probe.removeprefix(UTF8_BOM)
    first_line = probe.split(b"\n", 1)[0].rstrip(b"\r")
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
    columns = tuple(name.strip() for name in next(csv.reader([text]), []))
    wanted = set(entity.source_columns)
    if not wanted & set(columns):
        raise LandingError(
            path, f"no header row: the first line is {text[:80]!r}; expected {expected}", line=1
        )
    problems = []
    if missing := [c for c in entity.source_columns if c not in columns]:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unexpected := [c for c in columns if c not in wanted]:
        problems.append(f"unexpected column(s) {', '.join(unexpected)}")
    if len(set(columns)) != len(columns):
        problems.append("a column name repeats")
    if problems:
        raise LandingError(
            path, f"wrong header: {'; '.join(problems)}; expected {expected}", line=1
        )
    return columns
