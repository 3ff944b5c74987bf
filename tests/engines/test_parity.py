"""The Spark engine runs the one plan and gives the embedded engine's tables, row for row.

Both engines load the same Bronze input (clean, then with every kind of defect and daily
dimension snapshots, in two batches) into lakehouses of their own; every table must hold the
same rows, decimals and dates exact, and the verification must say the same. Then each engine
continues a lakehouse the other one wrote.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.engines.parity import contents

from banklake.config import Settings, load_settings
from banklake.generate import GeneratorSpec, generate
from banklake.pipeline import run
from banklake.verify.checks import verify

pytestmark = pytest.mark.spark

END = date.today()
CLEAN = GeneratorSpec(customers=60, accounts=90, days=4, transactions=3_000, end_date=END, seed=3)
DEFECTIVE = replace(CLEAN, seed=11, defect_rate=0.03, snapshots="daily")


def _settings(landing: Path, lakehouse: Path) -> Settings:
    return load_settings(landing=landing, lakehouse=lakehouse, reports=lakehouse / "reports")


def _verified(settings: Settings, engine: str) -> list[tuple[str, bool, Any]]:
    """What the verification found (its queries run by ``engine``), without when it ran."""
    checks = verify(settings, engine).checks
    found = []
    for check in checks:
        details = {k: v for k, v in check.details.items() if k not in {"ledger", "tables"}}
        found.append((check.id, check.passed, details))
    return found


def _load_in_two_batches(settings: Settings, engine: str) -> None:
    """Every day but the last, then the rest (with one earlier day delivered again)."""
    run(settings, engine, until=END - timedelta(days=1))
    again = sorted((settings.landing / "transactions").glob("transactions_*.csv"))[0]
    again.write_bytes(
        again.read_bytes() + b"TX_AGAIN_1,ACC_000001,12.50,Credit,2026-01-05 10:00:00\n"
    )
    run(settings, engine)


@pytest.mark.parametrize("spec", [CLEAN, DEFECTIVE], ids=["clean", "defective"])
def test_engines_write_the_same_tables(spec: GeneratorSpec, tmp_path: Path) -> None:
    generate(spec, tmp_path / "source")
    results = {}
    for engine in ("embedded", "spark"):
        landing = Path(shutil.copytree(tmp_path / "source", tmp_path / engine / "landing"))
        settings = _settings(landing, tmp_path / engine / "lakehouse")
        _load_in_two_batches(settings, engine)
        results[engine] = (contents(settings.lakehouse, landing), _verified(settings, engine))

    embedded, spark = results["embedded"], results["spark"]
    assert embedded[0].keys() == spark[0].keys()
    for table in embedded[0]:
        assert spark[0][table] == embedded[0][table], f"{table} differs between the engines"
    assert spark[1] == embedded[1]
    assert all(passed for _, passed, _ in spark[1][:2])
    assert len(embedded[0]["enriched_transactions"]) > 0
    if spec.defect_rate:
        assert len(embedded[0]["quarantine"]) > 0


def test_each_engine_continues_what_the_other_wrote(tmp_path: Path) -> None:
    """One lakehouse, engines taking turns, equals the embedded engine alone."""
    generate(DEFECTIVE, tmp_path / "source")
    turns = {"alone": ("embedded", "embedded"), "turns": ("spark", "embedded")}
    found = {}
    for name, (first, second) in turns.items():
        landing = Path(shutil.copytree(tmp_path / "source", tmp_path / name / "landing"))
        settings = _settings(landing, tmp_path / name / "lakehouse")
        run(settings, first, until=END - timedelta(days=2))
        run(settings, second, until=END - timedelta(days=1))
        run(settings, first)
        found[name] = contents(settings.lakehouse, landing)
    assert found["turns"] == found["alone"]
