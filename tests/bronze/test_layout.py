"""The landing zone's layout, one named form at a time: every file under the root is a
candidate, ignored by a named rule, refused with the reason, or out of the date range."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from tests.conftest import write_csv

from banklake.bronze.landing import Inventory, inventory, list_landing
from banklake.bronze.layout import IGNORE_RULES
from banklake.contracts import ACCOUNTS, CUSTOMERS, TRANSACTIONS
from banklake.errors import LandingError
from banklake.generate.defects import MANIFEST_NAME


def _landing(root: Path, *names: str) -> Path:
    for name in names:
        write_csv(root / name, "a,b\n")
    return root


def _only(found: Inventory) -> tuple[str, str | None, date | None]:
    (candidate,) = found.candidates
    assert not (found.ignored or found.refused or found.out_of_range)
    return candidate.name, candidate.entity.name, candidate.business_date


def _one(tmp_path: Path, name: str) -> tuple[str, str | None, date | None]:
    return _only(inventory(_landing(tmp_path, name)))


def test_todays_layout_keeps_its_names(landing: Path) -> None:
    found = inventory(landing)
    assert found.ignored == found.refused == found.out_of_range == []
    expected = [
        p.relative_to(landing).as_posix()
        for entity in (CUSTOMERS, ACCOUNTS, TRANSACTIONS)
        for p in sorted((landing / entity.folder).iterdir())
    ]
    assert [c.name for c in found.candidates] == expected
    assert found.candidates == list_landing(landing)
    assert expected[-1].startswith("transactions/transactions_")


@pytest.mark.parametrize("folder", ["transactions", "Transactions", "TRANSACTIONS"])
def test_entity_folder_in_any_case(tmp_path: Path, folder: str) -> None:
    name = f"{folder}/Transactions_20261101.CSV"
    assert _one(tmp_path, name) == (name, "transactions", date(2026, 11, 1))


@pytest.mark.parametrize(
    "name",
    ["transactions_2026-11-01.csv", "TRANSACTIONS-2026-11-01.csv", "Transactions.20261101.csv"],
)
def test_file_directly_under_the_root_is_named_after_its_entity(tmp_path: Path, name: str) -> None:
    assert _one(tmp_path, name) == (name, "transactions", date(2026, 11, 1))


def test_root_file_without_a_date_is_a_candidate_with_no_date(tmp_path: Path) -> None:
    assert _one(tmp_path, "customers.csv") == ("customers.csv", "customers", None)


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("transactions/2026/11/01/x.csv", date(2026, 11, 1)),
        ("transactions/date=2026-11-02/part-0.csv", date(2026, 11, 2)),
        ("transactions/dt=20261103/part-0.csv", date(2026, 11, 3)),
        ("transactions/BUSINESS_DATE=2026_11_04/part-0.csv", date(2026, 11, 4)),
        ("transactions/day=2026-11-05/part-0.csv", date(2026, 11, 5)),
        ("transactions/bank_a/in/x.csv", None),  # nested, no date anywhere
        ("transactions/2026/11/x.csv", None),  # a year and a month are not a date
        ("transactions/2026/02/30/x.csv", None),  # no such day
        ("transactions/month=2026-11-06/x.csv", None),  # not a date key
    ],
)
def test_nested_folders_and_their_dates(tmp_path: Path, name: str, day: date | None) -> None:
    assert _one(tmp_path, name) == (name, "transactions", day)


@pytest.mark.parametrize(
    ("file", "day"),
    [
        ("transactions_2026-11-01.csv", date(2026, 11, 1)),
        ("transactions_20261101.csv", date(2026, 11, 1)),
        ("transactions_2026_11_01.csv", date(2026, 11, 1)),
        ("export-2026-11-01-final.csv", date(2026, 11, 1)),
        ("transactions_2026-11-01_2026-11-01.csv", date(2026, 11, 1)),  # the same date twice
        ("tx20261101.csv", None),  # not a whole token: it touches a letter
        ("transactions_202611011.csv", None),  # nine digits
        ("transactions_2026-11_01.csv", None),  # mixed separators
        ("transactions_2026-02-30.csv", None),  # no such day
        ("transactions_2026-13-01.csv", None),  # no such month
    ],
)
def test_date_spellings_in_the_name(tmp_path: Path, file: str, day: date | None) -> None:
    assert _one(tmp_path, f"transactions/{file}")[2] == day


def test_the_name_date_wins_over_the_folder_and_a_note_says_so(tmp_path: Path) -> None:
    name = "transactions/date=2026-11-01/transactions_2026-11-02.csv"
    found = inventory(_landing(tmp_path, name))
    assert [c.business_date for c in found.candidates] == [date(2026, 11, 2)]
    assert found.notes == [f"{name}: its name says 2026-11-02 and its folder 2026-11-01; "
                           "the name's date is taken"]  # fmt: skip


def test_the_innermost_folder_date_wins(tmp_path: Path) -> None:
    assert _one(tmp_path, "transactions/2026/11/01/day=2026-11-09/x.csv")[2] == date(2026, 11, 9)


@pytest.mark.parametrize(
    "file",
    [
        "x.csv", "x.CSV", "x.Csv", "x.csv.gz", "x.CSV.GZ", "x.csv.gzip", "x.csv.bz2",
        "x.csv.zst", "x.csv.zstd", "x.csv.lz4", "x.csv.LZ4",
    ],
)  # fmt: skip
def test_csv_extensions_and_codecs_in_any_case(tmp_path: Path, file: str) -> None:
    assert _one(tmp_path, f"accounts/{file}") == (f"accounts/{file}", "accounts", None)


@pytest.mark.parametrize(
    ("name", "entity", "reason"),
    [
        ("transactions/x.xlsx", "transactions", "not a CSV file (a .xlsx file)"),
        ("transactions/x", "transactions", "not a CSV file (a file without extension)"),
        ("transactions/x.json.gz", "transactions", "not a CSV file (a .json file inside gzip)"),
        ("transactions/x.gz", "transactions", "not a CSV file (a file without extension inside"),
        ("transactions/x.csv.xz", "transactions", "compressed as xz, which cannot be read"),
        ("transactions/x.zip", "transactions", "compressed as a zip archive"),
        ("transactions/x.csv.snappy", "transactions", "compressed as snappy"),
        ("transactions/t_2026-11-01_20261102.csv", "transactions", "its name holds 2 dates"),
        ("transactions_2026-11-01.xlsx", "transactions", "not a CSV file"),
        ("loans/loans_2026-11-01.csv", None, "loans/ is not an entity folder"),
        ("archive/transactions_2026-11-01.csv", None, "archive/ is not an entity folder"),
        ("payments_2026-11-01.csv", None, "not in an entity folder and its name does not start"),
        ("transactionsX_2026-11-01.csv", None, "not in an entity folder"),
    ],
)
def test_refused_with_what_is_wrong_and_what_to_do(
    tmp_path: Path, name: str, entity: str | None, reason: str
) -> None:
    found = inventory(_landing(tmp_path, name))
    (refused,) = found.refused
    assert not (found.candidates or found.ignored or found.out_of_range)
    assert (refused.name, refused.path) == (name, tmp_path / name)
    assert (refused.entity.name if refused.entity else None) == entity
    assert refused.problem.startswith(f"{tmp_path / name}: ")  # naming the file
    assert reason in refused.problem
    assert "; " in refused.problem  # ...then what to do
    assert found.not_loaded() == [refused.problem]


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        (".DS_Store", "hidden"),
        ("transactions/.transactions_2026-11-01.csv.partial", "hidden"),
        (".staging/transactions/transactions_2026-11-01.csv", "hidden"),
        ("transactions/.old/x.csv", "hidden"),
        ("transactions/transactions_2026-11-01.csv.tmp", "in_flight"),
        ("transactions/transactions_2026-11-01.csv._COPYING_", "in_flight"),
        ("transactions/x.csv.filepart", "in_flight"),
        ("README", "notes"),
        ("transactions/ReadMe.rst", "notes"),
        ("notes.md", "notes"),
        ("transactions/delivery.TXT", "notes"),
        (MANIFEST_NAME, "generator_manifest"),
        ("transactions/_SUCCESS", "job_markers"),
        ("transactions/_committed_123", "job_markers"),
        ("transactions/date=2026-11-01/.part-0.csv.crc", "hidden"),
        ("transactions/part-0.csv.crc", "job_markers"),
        ("transactions/_temporary/0/part-0.csv", "job_markers"),
        ("transactions/transactions_2026-11-01.ctl", "control_files"),
        ("transactions/transactions_2026-11-01.csv.md5", "control_files"),
        ("transactions_2026-11-01.DONE", "control_files"),
    ],
)
def test_ignored_by_a_named_rule(tmp_path: Path, name: str, rule: str) -> None:
    found = inventory(_landing(tmp_path, name))
    (ignored,) = found.ignored
    assert not (found.candidates or found.refused or found.out_of_range)
    assert (ignored.name, ignored.path, ignored.rule.id) == (name, tmp_path / name, rule)
    assert found.not_loaded() == [f"{name}: ignored, {ignored.rule.description} [rule {rule}]"]


def test_ignore_rules_are_one_documented_list() -> None:
    ids = [rule.id for rule in IGNORE_RULES]
    assert len(ids) == len(set(ids))
    assert all(rule.description for rule in IGNORE_RULES)


def test_date_range_puts_the_others_out_of_range_undated_ones_too(tmp_path: Path) -> None:
    root = _landing(
        tmp_path,
        "customers/customers.csv",  # no date: not in any range
        "transactions/transactions_2026-10-31.csv",
        "transactions/transactions_2026-11-01.csv",
        "transactions/2026/11/02/x.csv",
        "transactions/transactions_2026-11-03.csv",
    )
    found = inventory(root, date(2026, 11, 1), date(2026, 11, 2))
    assert [c.name for c in found.candidates] == [
        "transactions/2026/11/02/x.csv",
        "transactions/transactions_2026-11-01.csv",
    ]
    assert [c.name for c in found.out_of_range] == [
        "customers/customers.csv",
        "transactions/transactions_2026-10-31.csv",
        "transactions/transactions_2026-11-03.csv",
    ]
    assert found.not_loaded()[0] == (
        "customers/customers.csv: not in the date range, its business date is unknown"
    )
    assert "dated 2026-10-31, outside the date range" in found.not_loaded()[1]
    assert list_landing(root, date(2026, 11, 1), date(2026, 11, 2)) == found.candidates
    since_only = inventory(root, since=date(2026, 11, 3))
    assert [c.name for c in since_only.candidates] == ["transactions/transactions_2026-11-03.csv"]


def test_candidates_keep_size_and_modification_time(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "Transactions" / "2026" / "11" / "01" / "x.csv.gz", b"12345")
    (candidate,) = inventory(tmp_path).candidates
    assert candidate.path == path and candidate.entity is TRANSACTIONS
    assert (candidate.size_bytes, candidate.modified_ns) == (5, path.stat().st_mtime_ns)


def test_links_to_files_are_read_links_to_folders_and_broken_links_refused(tmp_path: Path) -> None:
    target = write_csv(tmp_path / "elsewhere" / "t.csv", "a\n")
    root = _landing(tmp_path / "landing", "transactions/transactions_2026-11-01.csv")
    (root / "transactions" / "linked_2026-11-02.csv").symlink_to(target)
    (root / "transactions" / "folder").symlink_to(target.parent, target_is_directory=True)
    (root / "transactions" / "broken.csv").symlink_to(tmp_path / "nowhere.csv")
    (root / "transactions" / ".hidden_link").symlink_to(tmp_path / "nowhere")
    found = inventory(root)
    assert [c.name for c in found.candidates] == [
        "transactions/linked_2026-11-02.csv",
        "transactions/transactions_2026-11-01.csv",
    ]
    assert {r.name: r.problem.split(": ", 1)[1] for r in found.refused} == {
        "transactions/broken.csv": "a broken link; put the files themselves in the landing zone",
        "transactions/folder": "a link to a folder, which is not followed; put the files "
        "themselves in the landing zone",
    }
    assert [(i.name, i.rule.id) for i in found.ignored] == [("transactions/.hidden_link", "hidden")]


def test_a_folder_that_cannot_be_listed_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _landing(tmp_path, "transactions/a/x.csv", "transactions/b/y.csv")
    real_scandir = os.scandir

    def scandir(path: str) -> object:  # the fault: permission denied on one folder
        if Path(path) == root / "transactions" / "a":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = inventory(root)
    assert [c.name for c in found.candidates] == ["transactions/b/y.csv"]
    (refused,) = found.refused
    assert refused.name == "transactions/a"
    assert refused.problem == (
        f"{root / 'transactions' / 'a'}: this folder cannot be listed (Permission denied); "
        "make it readable"
    )


def test_missing_root_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(LandingError, match="landing folder not found"):
        inventory(tmp_path / "nowhere")


def test_walk_is_sorted_and_deterministic(tmp_path: Path) -> None:
    names = ["transactions/b/2.csv", "transactions/a/1.csv", "Transactions/z.csv",
             "accounts/x.csv", "transactions/a.csv"]  # fmt: skip
    found = inventory(_landing(tmp_path, *names))
    assert [c.name for c in found.candidates] == [
        "accounts/x.csv",  # by entity first, as before, then as the sorted walk meets them
        "Transactions/z.csv",
        "transactions/a/1.csv",
        "transactions/a.csv",
        "transactions/b/2.csv",
    ]
    assert inventory(tmp_path) == found
