"""What the landing zone holds, file by file: the records every Bronze step passes along.

A file under the landing root is, before anything in it is read, a ``Candidate`` (to load), an
``Ignored`` file (with the rule), a ``RefusedFile`` (with the reason), or, with a date range, a
candidate out of range; an ``Inventory`` holds them all. Once its header is read, a candidate is
a ``LandedFile`` (it will be read) or a ``RejectedFile`` (refused whole, recorded in the ledger).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from banklake.bronze.layout import IgnoreRule
from banklake.contracts import ENTITIES, Entity


@dataclass(frozen=True)
class _InLanding:
    entity: Entity
    path: Path
    # The path relative to the landing root (POSIX); empty: ``<entity>/<file name>``, as made
    # by callers that build one by hand.
    landed_as: str = field(default="", kw_only=True)

    @property
    def name(self) -> str:
        """The path relative to the landing root, as it is recorded in the tables."""
        return self.landed_as or f"{self.entity.folder}/{self.path.name}"


@dataclass(frozen=True)
class Candidate(_InLanding):
    """A file in the landing zone, before anything in it has been read."""

    business_date: date | None  # from the file's name or folders, when they carry one
    size_bytes: int
    modified_ns: int


@dataclass(frozen=True)
class LandedFile(_InLanding):
    """A file whose header checked out: it will be read."""

    columns: tuple[str, ...]  # the header in the file's order, as the contract spells names
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


@dataclass(frozen=True)
class Ignored:
    """A file the layout's rules leave alone, and the rule that does."""

    name: str  # relative to the landing root
    path: Path
    rule: IgnoreRule

    def __str__(self) -> str:
        return f"{self.name}: ignored, {self.rule.description} [rule {self.rule.id}]"


@dataclass(frozen=True)
class RefusedFile:
    """A file that cannot be loaded at all, found before anything in it is read."""

    name: str  # relative to the landing root
    path: Path
    entity: Entity | None  # None: no entity could be told from its path
    problem: str  # naming the file: what is wrong and what to do

    def __str__(self) -> str:
        return self.problem


@dataclass(frozen=True)
class Inventory:
    """Every file under the landing root, each in exactly one of the four lists."""

    candidates: list[Candidate]  # to load (dated in the range, when one is given)
    ignored: list[Ignored]
    refused: list[RefusedFile]
    out_of_range: list[Candidate]  # with a range: dated outside it, or with no known date
    notes: list[str] = field(default_factory=list)  # e.g. a name and a folder disagree on a date

    def not_loaded(self) -> list[str]:
        """One line per file that is not a candidate, saying why, then the notes."""
        lines = [str(refused) for refused in self.refused]
        lines += [str(ignored) for ignored in self.ignored]
        lines += [_out_of_range(candidate) for candidate in self.out_of_range]
        return lines + self.notes


def _out_of_range(candidate: Candidate) -> str:
    if candidate.business_date is None:
        return f"{candidate.name}: not in the date range, its business date is unknown"
    return f"{candidate.name}: dated {candidate.business_date}, outside the date range"
