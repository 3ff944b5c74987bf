"""Walk the landing root and account for every file under it (``banklake.bronze.layout``'s rules).

The walk is recursive and sorted by name, so the same tree always gives the same inventory. A
link is followed to a file, never to a folder (a tree could loop); a link to a folder, a broken
link, a pipe and a folder that cannot be listed are refused, so nothing under the root goes
unaccounted for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path, PurePosixPath

from banklake.bronze.files import Candidate, Ignored, Inventory, RefusedFile
from banklake.bronze.layout import Ignore, Loadable, ignored_by, place
from banklake.contracts import ENTITIES
from banklake.errors import LandingError


def inventory(root: Path, since: date | None = None, until: date | None = None) -> Inventory:
    """Every file under ``root``: a candidate (in the range, when one is given), ignored (by
    which rule), refused (why), or out of the range (dated outside it, or undated)."""
    if not root.is_dir():
        raise LandingError(
            root, "landing folder not found; create it with `banklake generate` or pass --landing"
        )
    found = Inventory([], [], [], [])
    for path, walk_problem in _files(root):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        name = str(relative)
        if walk_problem and (rule := ignored_by(relative)):
            found.ignored.append(Ignored(name, path, rule))
        elif walk_problem:
            found.refused.append(RefusedFile(name, path, None, _problem(path, walk_problem)))
        else:
            _account(found, path, relative, since, until)
    order = {entity.name: at for at, entity in enumerate(ENTITIES)}
    # Stable: by entity as before, then in walk order (sorted by path).
    found.candidates.sort(key=lambda candidate: order[candidate.entity.name])
    found.out_of_range.sort(key=lambda candidate: order[candidate.entity.name])
    return found


def _account(
    found: Inventory, path: Path, relative: PurePosixPath, since: date | None, until: date | None
) -> None:
    name = str(relative)
    placement = place(relative)
    if isinstance(placement, Ignore):
        found.ignored.append(Ignored(name, path, placement.rule))
        return
    if not isinstance(placement, Loadable):
        found.refused.append(
            RefusedFile(name, path, placement.entity, _problem(path, placement.problem))
        )
        return
    try:
        stat = path.stat()
    except OSError as error:  # gone, or unreadable, since it was listed
        problem = _problem(path, f"cannot be read ({error.strerror}); check it and run again")
        found.refused.append(RefusedFile(name, path, placement.entity, problem))
        return
    day = placement.business_date
    candidate = Candidate(
        placement.entity, path, day, stat.st_size, stat.st_mtime_ns, landed_as=name
    )
    in_range = not (since or until) or (
        day is not None and (since is None or day >= since) and (until is None or day <= until)
    )
    (found.candidates if in_range else found.out_of_range).append(candidate)
    if placement.note:
        found.notes.append(placement.note)


def _files(folder: Path) -> Iterator[tuple[Path, str | None]]:
    """Every file under ``folder``, sorted, each with what keeps it from being read (if any)."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as error:
        yield folder, f"this folder cannot be listed ({error.strerror}); make it readable"
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            yield from _files(path)
        elif entry.is_file():
            yield path, None
        elif entry.is_symlink():
            what = "a link to a folder, which is not followed" if path.is_dir() else "a broken link"
            yield path, f"{what}; put the files themselves in the landing zone"
        else:
            yield path, "not a regular file (a pipe, socket or device); remove it"


def _problem(path: Path, problem: str) -> str:
    return str(LandingError(path, problem))
