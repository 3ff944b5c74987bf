"""Opening a lakehouse as the commands do: readers never create one, and a path that holds no
usable lakehouse (missing, a file, read-only, a damaged catalog, moved) is said in one line.

Commands run for real (in process through the CLI, or as ``python -m banklake``); a read-only
lakehouse is a real read-only bind mount, in a private mount namespace (root and ``unshare``).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests import mounts
from tests.mounts import with_mount
from typer.testing import CliRunner

from banklake.cli import app
from banklake.config import Settings, load_settings
from banklake.errors import LakehouseError
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import run

READERS = {
    "query": ("query", "SELECT count(*) AS n FROM enriched_transactions", "--format", "csv"),
    "verify": ("verify",),
    "quarantine list": ("quarantine", "list", "--json"),
}
WRITERS = {
    "run": ("run",),
    "quarantine replay": ("quarantine", "replay"),
    "maintain": ("maintain",),
}
COMMANDS = {**READERS, **WRITERS}


def banklake(command: str, lakehouse: Path, landing: Path) -> tuple[int, str, str]:
    """Run one of ``COMMANDS`` through the CLI: exit code, stdout, stderr."""
    args = [*COMMANDS[command], "--lakehouse", str(lakehouse), "--landing", str(landing)]
    if command == "verify":
        args += ["--reports", str(lakehouse.parent / "reports")]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def error_line(stderr: str) -> str:
    """The one line a user's error prints, without its ``error:`` prefix."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0].removeprefix("error: ")


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``, with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def loaded_by_another_process(landing: Path, root: Path) -> tuple[Settings, int]:
    """A lakehouse loaded by a process that has exited, as a backup or a mount finds it (SQLite
    has folded its log into catalog.db and removed it), and its Gold row count."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("BANKLAKE_")]:
            patch.delenv(name)
        settings = load_settings(landing=landing, lakehouse=root / "lakehouse")
        paths = ["--landing", str(settings.landing), "--lakehouse", str(settings.lakehouse)]
        loaded = subprocess.run(
            [sys.executable, "-m", "banklake", "run", "--json", *paths],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=root,
        )
    assert loaded.returncode == 0, loaded.stderr
    assert not (settings.lakehouse / "catalog.db-wal").exists()
    tables = json.loads(loaded.stdout)["tables"]
    return settings, next(t["rows"] for t in tables if t["table"] == "enriched_transactions")


@pytest.fixture(scope="module")
def closed_lakehouse(
    small_landing: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, int]:
    """A lakehouse no test opens in its own process (which would leave SQLite's log open)."""
    return loaded_by_another_process(small_landing, tmp_path_factory.mktemp("closed"))


@pytest.fixture(scope="module")
def source_lakehouse(small_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A lakehouse the tests copy, and read in their own process."""
    return loaded_by_another_process(small_landing, tmp_path_factory.mktemp("source"))[0]


def copy_of(settings: Settings, to: Path) -> Path:
    """A copy of the lakehouse as a backup tool makes it of a closed one. Only readers opened it
    since its writer exited, so SQLite's log (open in this process) holds no commit."""
    ignore = shutil.ignore_patterns("catalog.db-wal", "catalog.db-shm")
    return Path(shutil.copytree(settings.lakehouse, to, ignore=ignore))


@pytest.mark.parametrize("command", [*READERS, "quarantine replay", "maintain"])
def test_commands_other_than_run_never_create_a_lakehouse(
    tmp_path: Path, landing: Path, command: str
) -> None:
    missing = tmp_path / "mistyped"
    code, out, err = banklake(command, missing, landing)
    assert code == 2 and out == ""
    assert error_line(err) == (
        f"{missing}: no lakehouse here; run `banklake run` first, or pass --lakehouse"
    )
    assert not missing.exists()


def test_reading_an_empty_folder_leaves_it_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LakehouseError, match="no lakehouse here"):
        Lakehouse.local(empty, "analytics_db").tables()
    assert list(empty.iterdir()) == []


def test_run_creates_the_lakehouse(settings: Settings) -> None:
    assert not settings.lakehouse.exists()
    run(settings)
    assert Lakehouse.local(settings.lakehouse, settings.namespace).tables()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_lakehouse_path_that_is_a_file_is_refused_by_every_command(
    tmp_path: Path, landing: Path, command: str
) -> None:
    a_file = tmp_path / "lakehouse.txt"
    a_file.write_text("not a lakehouse\n")
    code, _, err = banklake(command, a_file, landing)
    assert code == 2
    assert error_line(err).startswith(f"{a_file} is a file, not a lakehouse folder;")
    assert a_file.read_text() == "not a lakehouse\n"


def read_only(lakehouse: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """``banklake ARGS`` run where ``lakehouse`` is a read-only mount of itself."""
    return with_mount(mounts.read_only(lakehouse), "-m", "banklake", *args, cwd=lakehouse.parent)


def test_a_read_only_lakehouse_serves_every_reader(
    closed_lakehouse: tuple[Settings, int], tmp_path: Path
) -> None:
    settings, rows = closed_lakehouse
    lakehouse, landing = settings.lakehouse, settings.landing
    before = tree(lakehouse)
    paths = ("--lakehouse", lakehouse, "--landing", landing)

    queried = read_only(lakehouse, *READERS["query"], *paths)
    assert queried.returncode == 0, queried.stderr
    assert queried.stdout.splitlines() == ['"n"', str(rows)]
    listed = read_only(lakehouse, *READERS["quarantine list"], *paths)
    assert listed.returncode == 0, listed.stderr
    assert '"total": ' in listed.stdout
    verified = read_only(lakehouse, "verify", *paths, "--reports", tmp_path / "reports")
    assert verified.returncode == 0, verified.stderr + verified.stdout
    assert (tmp_path / "reports" / "verification.json").exists()
    assert tree(lakehouse) == before


@pytest.mark.parametrize("command", ["run", "maintain"])
def test_a_writer_on_a_read_only_lakehouse_says_so(
    closed_lakehouse: tuple[Settings, int], command: str
) -> None:
    lakehouse, landing = closed_lakehouse[0].lakehouse, closed_lakehouse[0].landing
    refused = read_only(lakehouse, command, "--lakehouse", lakehouse, "--landing", landing)
    assert refused.returncode == 2
    assert error_line(refused.stderr).startswith(
        f"{lakehouse} is read-only (a read-only mount, or files this user may not write) and "
        f"`banklake {command}` writes to it; nothing was written."
    )


def test_a_read_only_lakehouse_reads_commits_still_in_the_catalog_log(settings: Settings) -> None:
    """A commit another process made and SQLite has not yet folded into catalog.db."""
    run(settings)
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    gold = lakehouse.ensure_tables(settings)["enriched_transactions"]
    gold.delete("tx_type = 'Debit'")  # this process keeps the catalog open: the log stays
    assert (settings.lakehouse / "catalog.db-wal").stat().st_size > 0
    queried = read_only(settings.lakehouse, *READERS["query"], "--lakehouse", settings.lakehouse)
    assert queried.returncode == 0, queried.stderr
    assert queried.stdout.splitlines() == ['"n"', str(len(gold.scan().to_arrow()))]


def _garbage(catalog: Path) -> None:
    catalog.write_bytes(os.urandom(catalog.stat().st_size))


def _half(catalog: Path) -> None:
    os.truncate(catalog, catalog.stat().st_size // 2)


def _zeroed_pages(catalog: Path) -> None:
    with catalog.open("r+b") as handle:
        handle.seek(2 * 4096)
        handle.write(bytes(3 * 4096))


def _emptied(catalog: Path) -> None:
    os.truncate(catalog, 0)


def _deleted(catalog: Path) -> None:
    catalog.unlink()


def _contents(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


@pytest.mark.parametrize("damage", [_garbage, _half, _zeroed_pages, _emptied, _deleted])
@pytest.mark.parametrize("command", ["query", "verify", "run"])
def test_a_damaged_catalog_is_named_with_what_to_do(
    source_lakehouse: Settings, tmp_path: Path, damage: object, command: str
) -> None:
    copy = copy_of(source_lakehouse, tmp_path / "lakehouse")
    catalog = copy / "catalog.db"
    assert callable(damage)
    damage(catalog)
    damaged = _contents(catalog)
    code, _, err = banklake(command, copy, source_lakehouse.landing)
    assert code == 2
    line = error_line(err)
    assert line.startswith(f"the catalog {catalog.resolve()} is ")
    assert "not a readable SQLite database" in line or "is missing or empty, but" in line
    assert line.endswith(
        "restore catalog.db from a backup of this lakehouse (the tables' files are untouched)"
    )
    assert _contents(catalog) == damaged  # even `run` left it as it was


def test_the_damage_check_passes_a_sound_catalog(source_lakehouse: Settings) -> None:
    catalog = source_lakehouse.lakehouse / "catalog.db"
    with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    assert Lakehouse.local(source_lakehouse.lakehouse, source_lakehouse.namespace).tables()


@pytest.mark.parametrize("command", ["query", "verify", "run"])
def test_a_copied_lakehouse_says_where_it_points(
    source_lakehouse: Settings, tmp_path: Path, command: str
) -> None:
    original = source_lakehouse.lakehouse
    copy = copy_of(source_lakehouse, tmp_path / "copy")
    catalog = (copy / "catalog.db").read_bytes()
    code, _, err = banklake(command, copy, source_lakehouse.landing)
    assert code == 2
    line = error_line(err)
    assert line.startswith(f"{copy} was moved or copied from {original.resolve()}: ")
    assert f"Open it at {original.resolve()}, or make a new lakehouse" in line
    assert (copy / "catalog.db").read_bytes() == catalog
    code, out, err = banklake("query", original, source_lakehouse.landing)
    assert code == 0, err
    assert int(out.splitlines()[1]) > 0
