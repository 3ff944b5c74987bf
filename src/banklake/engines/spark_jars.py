"""The jars local Spark needs for Iceberg, assembled offline from PyPI and Debian packages.

- The Apache Iceberg Spark runtime comes from the PyPI package ``snowpark-connect-deps-iceberg``,
  whose copy lacks the runtime's relocated Jackson classes: every catalog call would fail with
  ``NoClassDefFoundError: org/apache/iceberg/shaded/com/fasterxml/jackson/...``. PySpark's own
  Jackson jars, merged and relocated to that package with Debian's ``jarjar``, complete it.
- Spark's JDBC catalog reads the local SQLite catalog with Debian's ``sqlite-jdbc``.

``make spark-setup`` runs ``assemble()`` once; the CLI and the tests read the cache. Where Maven
Central is reachable, ``spark.jars_source = "maven"`` takes the same artefacts from there instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

from banklake.errors import UsageError

SPARK_LINE = "3.5"
SCALA = "2.12"
ICEBERG = "1.10.2"
RUNTIME_JAR = f"iceberg-spark-runtime-{SPARK_LINE}_{SCALA}-{ICEBERG}.jar"
JACKSON_JAR = "iceberg-shaded-jackson.jar"
SQLITE_JDBC = Path("/usr/share/java/sqlite-jdbc.jar")
JARJAR = Path("/usr/share/java/jarjar.jar")
# Maven coordinates of the same artefacts, for machines that reach Maven Central.
MAVEN_PACKAGES = (
    f"org.apache.iceberg:iceberg-spark-runtime-{SPARK_LINE}_{SCALA}:{ICEBERG}",
    "org.xerial:sqlite-jdbc:3.40.1.0",
)
_JACKSON_MODULES = ("annotations", "core", "databind")
_RELOCATION = "rule com.fasterxml.jackson.** org.apache.iceberg.shaded.com.fasterxml.jackson.@1\n"
_SETUP_HINT = "run `make spark-setup` (it installs the Spark extra and assembles the jars offline)"


def cache_dir() -> Path:
    """Where the assembled jars live: ``$BANKLAKE_SPARK_JARS``, else the user's cache."""
    if explicit := os.environ.get("BANKLAKE_SPARK_JARS"):
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "banklake" / f"spark-{SPARK_LINE}-iceberg-{ICEBERG}"


def jars() -> list[Path]:
    """The jars to put on ``spark.jars``; a clear error when they were never assembled."""
    found = [cache_dir() / RUNTIME_JAR, cache_dir() / JACKSON_JAR, SQLITE_JDBC]
    missing = [str(path) for path in found if not path.is_file()]
    if missing:
        raise UsageError(
            f"the Spark engine's jars are missing ({', '.join(missing)}); {_SETUP_HINT}"
        )
    return found


def assemble() -> Path:
    """Assemble the runtime and the relocated Jackson into the cache; return the cache folder."""
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    runtime = _package_file("snowpark_connect_deps_iceberg", f"jars/{RUNTIME_JAR}")
    shutil.copyfile(runtime, target / RUNTIME_JAR)
    pyspark_jars = _package_file("pyspark", "jars")
    with tempfile.TemporaryDirectory() as work:
        merged = Path(work) / "jackson.jar"
        with zipfile.ZipFile(merged, "w", zipfile.ZIP_DEFLATED) as out:
            for module in _JACKSON_MODULES:
                [jar] = pyspark_jars.glob(f"jackson-{module}-2.*.jar")
                with zipfile.ZipFile(jar) as source:
                    for entry in source.infolist():
                        if entry.is_dir() or entry.filename.startswith("META-INF/"):
                            continue
                        out.writestr(entry, source.read(entry))
        rules = Path(work) / "rules.txt"
        rules.write_text(_RELOCATION)
        if not JARJAR.is_file():
            raise UsageError(
                f"{JARJAR} is missing; install Debian's libjarjar-java, or {_SETUP_HINT}"
            )
        relocated = Path(work) / JACKSON_JAR
        subprocess.run(
            ["java", "-jar", str(JARJAR), "process", str(rules), str(merged), str(relocated)],
            check=True,
            capture_output=True,
        )
        shutil.move(relocated, target / JACKSON_JAR)
    jars()  # every piece is in place
    return target


def _package_file(package: str, inner: str) -> Path:
    try:
        path = Path(str(resources.files(package).joinpath(inner)))
    except ModuleNotFoundError:
        raise UsageError(f"the Python package {package} is missing; {_SETUP_HINT}") from None
    if not path.exists():
        raise UsageError(f"{package} has no {inner}; {_SETUP_HINT}")
    return path


if __name__ == "__main__":
    print(f"Spark jars assembled in {assemble()}")
