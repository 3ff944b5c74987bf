"""Engines run the one transform definition: ``embedded`` (DuckDB, the default) and others.

Engines are looked up by name and imported only when asked for, so a missing optional
dependency only matters to the engine that needs it.
"""

from __future__ import annotations

from importlib import import_module

from banklake.config import Settings
from banklake.engines.base import Commit, Engine, FileCount, Rows, Staged
from banklake.errors import UsageError

ENGINES = {
    "embedded": "banklake.engines.embedded:EmbeddedEngine",
    "spark": "banklake.engines.spark:SparkEngine",
}


def known_engine(name: str) -> str:
    if name not in ENGINES:
        raise UsageError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
    return name


# What an engine needs beyond banklake's own dependencies, and how to install it.
_EXTRAS = {
    "spark": (
        {"pyspark", "py4j", "pandas"},
        "run `make spark-setup` (it installs PySpark, Java 17 and the Iceberg runtime's jars)",
    ),
}


def create_engine(name: str, settings: Settings) -> Engine:
    module, _, attribute = ENGINES[known_engine(name)].partition(":")
    try:
        loaded = import_module(module)
    except ModuleNotFoundError as missing:
        needs, setup = _EXTRAS.get(name, (set(), ""))
        package = (missing.name or "").partition(".")[0]
        if package not in needs:
            raise
        raise UsageError(
            f"the {name} engine needs {package}, which is not installed: {setup}"
        ) from None
    engine_class: type[Engine] = getattr(loaded, attribute)
    return engine_class(settings)


__all__ = [
    "ENGINES",
    "Commit",
    "Engine",
    "FileCount",
    "Rows",
    "Staged",
    "create_engine",
    "known_engine",
]
