"""Shared fixtures: a small generated landing zone, settings isolated per test, and the engines.

Every behaviour test that loads data takes ``engine``, so each engine added to ``ENGINES`` runs
the same assertions.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from banklake.config import Settings, load_settings
from banklake.generate import GeneratorSpec, generate
from banklake.pipeline import RunResult, run

ENGINES = ["embedded"]
SMALL = GeneratorSpec(
    customers=200, accounts=300, days=10, transactions=20_000, end_date=date.today(), seed=7
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's banklake.toml or BANKLAKE_* variables."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("BANKLAKE_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small") / "landing"
    generate(SMALL, path)
    return path


@pytest.fixture
def landing(small_landing: Path, tmp_path: Path) -> Path:
    """A private copy of the small landing zone, free to be modified by the test."""
    return Path(shutil.copytree(small_landing, tmp_path / "landing"))


@pytest.fixture
def settings(landing: Path, tmp_path: Path) -> Settings:
    return load_settings(
        landing=landing, lakehouse=tmp_path / "lakehouse", reports=tmp_path / "reports"
    )


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


@pytest.fixture
def loaded(settings: Settings, engine: str) -> RunResult:
    return run(settings, engine)


def write_csv(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path
