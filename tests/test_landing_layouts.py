"""The pipeline over a landing zone in other spellings (folder case, nesting, date spellings,
compression, notes and markers around the files) loads exactly what the plain layout loads."""

from __future__ import annotations

import bz2
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

from banklake.config import Settings, load_settings
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import run


def _respelled(plain: Path, root: Path) -> dict[str, str]:
    """Copy the plain landing zone into other spellings; plain name -> new name."""
    renamed = {}
    for number, path in enumerate(sorted(plain.rglob("*.csv"))):
        data, name = path.read_bytes(), path.relative_to(plain).as_posix()
        day = path.stem.rsplit("_", 1)[1]  # YYYY-MM-DD
        if path.parent.name == "customers":
            new, data = f"Customers/customers_{day.replace('-', '')}.csv.gz", gzip.compress(data)
        elif path.parent.name == "accounts":
            new = f"ACCOUNTS_{day.replace('-', '_')}.CSV"  # directly under the root
        elif number % 2:
            new, data = f"TRANSACTIONS/{day.replace('-', '/')}/part-0.csv.bz2", bz2.compress(data)
        else:
            new = f"transactions/date={day}/Transactions_{day}.csv"
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        (root / new).write_bytes(data)
        renamed[name] = new
    for marker in ("README.md", "transactions/_SUCCESS", "transactions/.next.csv.partial"):
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).write_text("not data")
    return renamed


def _gold(settings: Settings) -> list[tuple[object, ...]]:
    tables = Lakehouse.local(settings.lakehouse, settings.namespace).tables()
    gold = tables["enriched_transactions"].scan().to_arrow().drop_columns(["source_file"])
    return sorted(tuple(row.values()) for row in gold.to_pylist())


def test_respelled_landing_loads_the_same_rows_under_its_own_names(
    settings: Settings, tmp_path: Path
) -> None:
    plain = run(settings)
    respelled = load_settings(landing=tmp_path / "respelled", lakehouse=tmp_path / "lake2")
    renamed = _respelled(settings.landing, respelled.landing)
    result = run(respelled)

    assert result.rejected == [] and plain.rejected == []
    loaded = [f for f in result.files if f.status != "ignored"]
    assert sorted(f.source_file for f in loaded) == sorted(renamed.values())
    by_name = {f.source_file: f for f in result.files}
    for old in plain.files:
        new = by_name[renamed[old.source_file]]
        assert (new.rows_read, new.rows_loaded, new.rows_quarantined, new.rows_duplicate) == (
            old.rows_read,
            old.rows_loaded,
            old.rows_quarantined,
            old.rows_duplicate,
        )
    assert _gold(respelled) == _gold(settings)
    assert run(respelled).files == []  # nothing new: the names are stable from run to run


def test_damaged_gzip_is_refused_naming_it_and_the_run_exits_3(settings: Settings) -> None:
    damaged = settings.landing / "transactions" / "transactions_2026-01-01.csv.gz"
    damaged.write_bytes(gzip.compress(b"tx_id,account_id,amount,tx_type,timestamp\n")[:-12])
    shutil.copy(damaged, settings.landing / "transactions" / "copy_2026-01-02.csv.GZ")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKLAKE_")}
    landing, lakehouse = str(settings.landing), str(settings.lakehouse)
    done = subprocess.run(
        [sys.executable, "-m", "banklake", "run", "--landing", landing, "--lakehouse", lakehouse],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{damaged}: cannot be decompressed as gzip (Truncated compressed stream)" in (
        done.stderr
    )
    assert "copy_2026-01-02.csv.GZ: cannot be decompressed as gzip" in done.stderr
