"""Property-based: over generated landing trees, every file under the root lands in exactly one of
candidates, ignored, refused and out of range, with the entity, name and date it was made with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import write_csv

from banklake.bronze.landing import inventory
from banklake.contracts import ENTITIES


@dataclass(frozen=True)
class Made:
    """A file the test put in the tree, and where it must end up."""

    name: str  # relative to the root
    outcome: str  # "load" (a candidate or out of range), "ignored" or "refused"
    entity: str | None = None
    day: date | None = None
    detail: str = ""  # the ignore rule's id, or a phrase of the refusal


DAYS = st.dates(date(2020, 1, 1), date(2030, 12, 31))
SAFE_FOLDER = st.sampled_from(["in", "bank_a", "batch-7", "Upload", "x1"])
CODEC = st.sampled_from(["", ".gz", ".GZ", ".gzip", ".bz2", ".zst", ".zstd", ".lz4"])
CSV = st.sampled_from([".csv", ".CSV", ".Csv"])


def _spelled(day: date, how: str) -> str:
    return {"dash": day.isoformat(), "plain": f"{day:%Y%m%d}", "under": f"{day:%Y_%m_%d}"}[how]


SPELLING = st.sampled_from(["dash", "plain", "under"])


@st.composite
def date_in_name(draw: st.DrawFn) -> tuple[str, date | None]:
    """A name's date token (with its separator), or an impossible one, or none."""
    kind = draw(st.sampled_from(["none", "valid", "valid", "impossible"]))
    if kind == "none":
        return "", None
    if kind == "impossible":
        return "_" + draw(st.sampled_from(["2026-02-30", "20261301", "2025_02_29"])), None
    day = draw(DAYS)
    return draw(st.sampled_from(["_", "-", "."])) + _spelled(day, draw(SPELLING)), day


@st.composite
def date_folders(draw: st.DrawFn) -> tuple[list[str], date | None]:
    kind = draw(st.sampled_from(["none", "hive", "ymd"]))
    if kind == "none":
        return [], None
    day = draw(DAYS)
    if kind == "ymd":
        return [f"{day:%Y}", f"{day:%m}", f"{day:%d}"], day
    key = draw(st.sampled_from(["date", "dt", "business_date", "day", "DT", "Date"]))
    return [f"{key}={_spelled(day, draw(SPELLING))}"], day


@st.composite
def loadable(draw: st.DrawFn, index: int) -> Made:
    entity = draw(st.sampled_from(ENTITIES)).name
    token, named = draw(date_in_name())
    extension = draw(CSV) + draw(CODEC)
    if draw(st.booleans()):  # directly under the root: named after its entity
        prefix = draw(st.sampled_from([entity, entity.upper(), entity.title()]))
        return Made(f"{prefix}_f{index}{token}{extension}", "load", entity, named)
    folder = draw(st.sampled_from([entity, entity.upper(), entity.title()]))
    above = draw(st.lists(SAFE_FOLDER, max_size=2))
    dated, in_folder = draw(date_folders())
    below = draw(st.lists(SAFE_FOLDER, max_size=1))
    stem = draw(st.sampled_from(["part", entity, "Export", "x"]))
    name = "/".join([folder, *above, *dated, *below, f"{stem}_f{index}{token}{extension}"])
    return Made(name, "load", entity, named or in_folder)


@st.composite
def ignored(draw: st.DrawFn, index: int) -> Made:
    where = draw(st.sampled_from(["", "transactions/", "Accounts/in/", "loans/"]))
    rule, name = draw(
        st.sampled_from(
            [
                ("hidden", f".f{index}.csv.partial"),
                ("hidden", f".hidden{index}/transactions_2026-11-01.csv"),
                ("hidden", ".DS_Store"),
                ("in_flight", f"transactions_f{index}.csv.tmp"),
                ("notes", f"README{index}"),
                ("notes", f"notes{index}.MD"),
                ("notes", f"f{index}.txt"),
                ("generator_manifest", "defects_manifest.json"),
                ("job_markers", "_SUCCESS"),
                ("job_markers", f"part-{index}.csv.crc"),
                ("job_markers", f"_temporary/{index}/part-0.csv"),
                ("control_files", f"f{index}.ctl"),
            ]
        )
    )
    return Made(where + name, "ignored", detail=rule)


@st.composite
def refused(draw: st.DrawFn, index: int) -> Made:
    entity = draw(st.sampled_from(ENTITIES)).name
    folder = draw(st.sampled_from([entity, entity.upper()]))
    return draw(
        st.sampled_from(
            [
                Made(f"{folder}/f{index}.xlsx", "refused", entity, detail="not a CSV file"),
                Made(f"{folder}/in/f{index}.json.gz", "refused", entity, detail="not a CSV"),
                Made(f"{folder}/f{index}.csv.xz", "refused", entity, detail="compressed as xz"),
                Made(f"{folder}/f{index}.zip", "refused", entity, detail="a zip archive"),
                Made(f"loans/f{index}.csv", "refused", detail="loans/ is not an entity folder"),
                Made(f"misc_f{index}.csv", "refused", detail="its name does not start with"),
            ]
        )
    )


@st.composite
def trees(draw: st.DrawFn) -> list[Made]:
    count = draw(st.integers(0, 14))
    made: dict[str, Made] = {}
    for index in range(count):
        kind = draw(st.sampled_from([loadable, loadable, ignored, refused]))
        file = draw(kind(index))
        made.setdefault(file.name, file)  # shared names (_SUCCESS, .DS_Store...) once
    return list(made.values())


def _range(draw_since: date | None, draw_until: date | None, day: date | None) -> bool:
    if draw_since is None and draw_until is None:
        return True
    return day is not None and (draw_since or day) <= day <= (draw_until or day)


@settings(max_examples=120, deadline=None)
@given(tree=trees(), since=st.none() | DAYS, until=st.none() | DAYS)
def test_every_file_is_accounted_for_exactly_once(
    tree: list[Made], since: date | None, until: date | None
) -> None:
    with TemporaryDirectory() as folder:
        root = Path(folder)
        for file in tree:
            write_csv(root / file.name, b"x")
        found = inventory(root, since, until)

    outcomes = {
        **{c.name: ("candidate", c.entity.name, c.business_date) for c in found.candidates},
        **{c.name: ("out_of_range", c.entity.name, c.business_date) for c in found.out_of_range},
        **{i.name: ("ignored", i.rule.id) for i in found.ignored},
        **{
            r.name: ("refused", r.entity.name if r.entity else None, r.problem)
            for r in found.refused
        },
    }
    listed = len(found.candidates) + len(found.out_of_range) + len(found.ignored)
    assert listed + len(found.refused) == len(outcomes) == len(tree)  # each once, none extra
    for file in tree:
        got = outcomes[file.name]
        if file.outcome == "load":
            where = "candidate" if _range(since, until, file.day) else "out_of_range"
            assert got == (where, file.entity, file.day), file
        elif file.outcome == "ignored":
            assert got == ("ignored", file.detail), file
        else:
            assert got[:2] == ("refused", file.entity), file
            assert file.detail in str(got[2]), file
    assert sorted(c.name for c in found.candidates) == sorted(
        f.name for f in tree if f.outcome == "load" and _range(since, until, f.day)
    )
