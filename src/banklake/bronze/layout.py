"""The landing zone's layout rules: what a path under the root says about the file it names.

Each file under the landing root is placed by its path alone (relative to the root), before
anything in it is read, in exactly one of three ways:

- **ignored** by one of ``IGNORE_RULES`` (hidden files and folders, notes, markers...): each rule
  has an id and a description, and the first that applies is named;
- **refused**, with what is wrong and what to do (not under an entity folder nor named after an
  entity; not a CSV file; a compression Arrow cannot read; two business dates in its name);
- **loadable**: its entity and business date (or ``None``).

The **entity** is the first folder under the root, in any case (``Transactions/``); a file
directly under the root is named after its entity (``transactions_2026-11-01.csv``). Folders
below an entity folder are read at any depth. The **business date** is a whole token of the
file's name (``2026-11-01``, ``20261101`` or ``2026_11_01``), else the innermost date folder:
``date=``/``dt=``/``business_date=``/``day=`` followed by such a date, or ``YYYY/MM/DD``. The
name wins over the folders; where they disagree, a note says so. An impossible date
(``2026-02-30``) is no date. A file is CSV by its extension, in any case: ``.csv``, optionally
compressed (``banklake.bronze.codecs``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath

from banklake.bronze.codecs import (
    READABLE,
    compression_of,
    missing_codec,
    unreadable_compression,
)
from banklake.contracts import ENTITIES, Entity


@dataclass(frozen=True)
class IgnoreRule:
    id: str
    description: str
    applies: Callable[[PurePosixPath], bool]  # given the path relative to the landing root


def _suffix_in(*suffixes: str) -> Callable[[PurePosixPath], bool]:
    return lambda path: path.suffix.lower() in suffixes


# In order: a file is ignored by the first rule that applies. The generator's manifest name is
# banklake.generate.defects.MANIFEST_NAME (not imported: generate imports bronze).
IGNORE_RULES = (
    IgnoreRule(
        "hidden",
        "a hidden file or folder (its name starts with '.'), e.g. an upload in flight "
        "(.name.partial)",
        lambda path: any(part.startswith(".") for part in path.parts),
    ),
    IgnoreRule(
        "in_flight",
        "an upload in progress (*.tmp, *.part, *.partial, *.filepart, *._COPYING_)",
        lambda path: (
            path.suffix.lower() in {".tmp", ".part", ".partial", ".filepart"}
            or path.name.endswith("._COPYING_")
        ),
    ),
    IgnoreRule(
        "notes",
        "notes for people (README*, *.md, *.txt)",
        lambda path: (
            path.name.lower().startswith("readme") or path.suffix.lower() in {".md", ".txt"}
        ),
    ),
    IgnoreRule(
        "generator_manifest",
        "the generator's list of the defects it injected (defects_manifest.json)",
        lambda path: path.name == "defects_manifest.json",
    ),
    IgnoreRule(
        "job_markers",
        "a job's marker file (_SUCCESS, _started_*, _committed_*, *.crc, _temporary/)",
        lambda path: (
            path.name == "_SUCCESS"
            or path.name.startswith(("_started_", "_committed_"))
            or path.suffix.lower() == ".crc"
            or "_temporary" in path.parts[:-1]
        ),
    ),
    IgnoreRule(
        "control_files",
        "a delivery's control or checksum file (*.ctl, *.done, *.md5, *.sha256)",
        _suffix_in(".ctl", ".done", ".md5", ".sha256"),
    ),
)


@dataclass(frozen=True)
class Ignore:
    rule: IgnoreRule


@dataclass(frozen=True)
class Refuse:
    problem: str  # what is wrong and what to do, without the path (the caller names it)
    entity: Entity | None


@dataclass(frozen=True)
class Loadable:
    entity: Entity
    business_date: date | None
    note: str | None = None  # something worth saying that does not stop the file


Placement = Ignore | Refuse | Loadable

_ENTITY_NAMES = ", ".join(entity.folder for entity in ENTITIES)
# A date as a whole token: YYYY-MM-DD, YYYY_MM_DD or YYYYMMDD, not touching a letter or digit.
_DATE_TOKEN = re.compile(r"(?<![0-9A-Za-z])(\d{4})([-_]?)(\d{2})\2(\d{2})(?![0-9A-Za-z])")
_HIVE_DATE = re.compile(r"^(?:date|dt|business_date|day)=(.+)$", re.IGNORECASE)
_YEAR, _TWO_DIGITS = re.compile(r"^\d{4}$"), re.compile(r"^\d{2}$")
# A file directly under the root starts with its entity's name, then no letter or digit.
_NAMED_AFTER = tuple((entity, re.compile(rf"{entity.name}(?![0-9a-z])")) for entity in ENTITIES)


def ignored_by(path: PurePosixPath) -> IgnoreRule | None:
    """The first of ``IGNORE_RULES`` that applies to ``path`` (relative to the landing root)."""
    return next((rule for rule in IGNORE_RULES if rule.applies(path)), None)


def place(path: PurePosixPath) -> Placement:
    """What the layout says about the file at ``path`` (relative to the landing root)."""
    if rule := ignored_by(path):
        return Ignore(rule)
    entity = _entity_of(path)
    if entity is None:
        return Refuse(_no_entity(path), None)
    if problem := _format_problem(path):
        return Refuse(problem, entity)
    named = _dates_in(path.name)
    if len(named) > 1:
        days = ", ".join(day.isoformat() for day in named)
        return Refuse(f"its name holds {len(named)} dates ({days}); rename it to hold one", entity)
    foldered = _folder_date(path.parts[1:-1])
    day = named[0] if named else foldered
    note = None
    if named and foldered and foldered != named[0]:
        note = (
            f"{path}: its name says {named[0]} and its folder {foldered}; the name's date is taken"
        )
    return Loadable(entity, day, note)


def _entity_of(path: PurePosixPath) -> Entity | None:
    if len(path.parts) > 1:
        folder = path.parts[0].lower()
        return next((entity for entity in ENTITIES if entity.folder == folder), None)
    name = path.name.lower()
    return next((entity for entity, start in _NAMED_AFTER if start.match(name)), None)


def _no_entity(path: PurePosixPath) -> str:
    if len(path.parts) > 1:
        return (
            f"{path.parts[0]}/ is not an entity folder ({_ENTITY_NAMES}, in any case); move the "
            "file into one, or out of the landing zone"
        )
    return (
        f"not in an entity folder and its name does not start with an entity ({_ENTITY_NAMES}); "
        "move it into its entity's folder, or out of the landing zone"
    )


def _format_problem(path: PurePosixPath) -> str | None:
    """Why the file cannot be read as CSV, judged by its extensions; ``None`` when it can."""
    if kind := unreadable_compression(path):
        return f"compressed as {kind}, which cannot be read; deliver it as {READABLE}"
    codec = compression_of(path)
    inner = path.with_suffix("") if codec else path
    if inner.suffix.lower() != ".csv":
        what = f"a {inner.suffix} file" if inner.suffix else "a file without extension"
        inside = f" inside {codec}" if codec else ""
        return f"not a CSV file ({what}{inside}); deliver it as {READABLE}"
    if codec and missing_codec(codec):
        return f"this PyArrow build cannot decompress {codec}; deliver it as {READABLE}"
    return None


def _dates_in(text: str) -> list[date]:
    """The distinct valid dates written in ``text`` as whole tokens, in order."""
    found = []
    for match in _DATE_TOKEN.finditer(text):
        day = _valid(int(match[1]), int(match[3]), int(match[4]))
        if day is not None and day not in found:
            found.append(day)
    return found


def _folder_date(folders: tuple[str, ...]) -> date | None:
    """The innermost date the folders say: ``date=2026-11-01`` (and kin) or ``2026/11/01``."""
    found: date | None = None
    for at, folder in enumerate(folders):
        if hive := _HIVE_DATE.match(folder):
            match = _DATE_TOKEN.fullmatch(hive[1])
            if match and (day := _valid(int(match[1]), int(match[3]), int(match[4]))):
                found = day
        elif _YEAR.match(folder) and at + 2 < len(folders):
            month, day_of_month = folders[at + 1], folders[at + 2]
            if _TWO_DIGITS.match(month) and _TWO_DIGITS.match(day_of_month):
                found = _valid(int(folder), int(month), int(day_of_month)) or found
    return found


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
