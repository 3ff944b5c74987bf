"""The Iceberg runtime's jars, assembled offline; a clear message when they are missing."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from tests.conftest import write_csv
from typer.testing import CliRunner

from banklake.cli import app
from banklake.engines.spark_jars import JACKSON_JAR, RUNTIME_JAR, assemble, jars

pytestmark = pytest.mark.spark


def test_assembly_completes_the_runtime_with_relocated_jackson(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANKLAKE_SPARK_JARS", str(tmp_path / "jars"))
    folder = assemble()
    assert folder == tmp_path / "jars"
    assert [path.name for path in jars()][:2] == [RUNTIME_JAR, JACKSON_JAR]
    with zipfile.ZipFile(folder / JACKSON_JAR) as jar:
        names = set(jar.namelist())
    # The classes the runtime refers to, under the name it refers to them by.
    assert "org/apache/iceberg/shaded/com/fasterxml/jackson/databind/ObjectMapper.class" in names
    assert not any(name.startswith("com/fasterxml/") for name in names)
    with zipfile.ZipFile(folder / RUNTIME_JAR) as jar:
        assert "org/apache/iceberg/spark/SparkCatalog.class" in jar.namelist()


def test_the_spark_engine_without_its_jars_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANKLAKE_SPARK_JARS", str(tmp_path / "never-assembled"))
    write_csv(
        tmp_path / "landing" / "customers" / "customers.csv", "customer_id,name,email,country\n"
    )
    result = CliRunner().invoke(
        app,
        ["run", "--engine", "spark", "--landing", str(tmp_path / "landing"),
         "--lakehouse", str(tmp_path / "lakehouse")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "make spark-setup" in result.output
    assert "never-assembled" in result.output
