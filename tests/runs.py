"""What the behaviour tests do with real runs: start ``banklake`` as a process of its own, give
a lakehouse history, and read every table's contents to compare runs by."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from pyiceberg.table import Table
from tests.engines.parity import RUN_COLUMNS

from banklake.config import Settings, load_settings
from banklake.faults import CRASH_AT, FAIL_AT
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import run

Content = dict[str, list[dict[str, Any]]]


def content(settings: Settings) -> Content:
    """Every table's rows, in a stable order, without the columns that differ between runs."""
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    return {name: table_rows(name, table) for name, table in lakehouse.tables().items()}


def table_rows(name: str, table: Table) -> list[dict[str, Any]]:
    """One table's rows as ``content`` compares them."""
    rows = table.scan().to_arrow()
    if name == "load_ledger":  # files hidden while "not landed yet" are recorded as ignored
        rows = rows.filter(pc.not_equal(rows["status"], "ignored"))
    rows = rows.drop_columns([c for c in rows.column_names if c in RUN_COLUMNS])
    return sorted(rows.to_pylist(), key=repr)


def clean_run(landing: Path, lakehouse: Path) -> Content:
    """What a clean run over ``landing`` gives, in a new lakehouse at ``lakehouse``."""
    reference = load_settings(landing=landing, lakehouse=lakehouse)
    run(reference)
    return content(reference)


def half_loaded(settings: Settings, folders: tuple[str, ...] = ("transactions",)) -> None:
    """A lakehouse with history: all but the last two days loaded (they have not arrived yet)."""
    last = sorted((settings.landing / "transactions").iterdir())[-2].name.split("_")[1]
    later = [
        path
        for folder in folders
        for path in (settings.landing / folder).iterdir()
        if path.name.split("_")[1] >= last
    ]
    for path in later:
        path.rename(path.with_name(f".{path.name}"))  # hidden: not landed yet
    run(settings)
    for path in later:
        path.with_name(f".{path.name}").rename(path)


def banklake(
    settings: Settings,
    *args: str,
    crash_at: str | None = None,
    fail_at: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    under: Sequence[str] = (),
    **popen: Any,
) -> subprocess.Popen[str]:
    """``banklake ARGS`` as a real process (run ``under`` a wrapper command, when given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKLAKE_")}
    env |= extra_env or {}
    if crash_at:
        env[CRASH_AT] = crash_at
    if fail_at:
        env[FAIL_AT] = fail_at
    command = [*under, sys.executable, "-m", "banklake", *args]
    command += ["--lakehouse", str(settings.lakehouse)]
    if args[0] != "maintain":
        command += ["--landing", str(settings.landing)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )
