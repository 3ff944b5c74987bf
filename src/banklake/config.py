"""One typed settings object. Precedence: defaults < ``banklake.toml`` < ``BANKLAKE_*`` env < flags.

The file is ``./banklake.toml`` or the path in ``BANKLAKE_CONFIG``; nested values use a table
(``[maintenance]``) in the file and a double underscore in the environment
(``BANKLAKE_MAINTENANCE__TARGET_FILE_SIZE_MB=128``).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from banklake.contracts import NAMESPACE
from banklake.errors import UsageError

DEFAULT_MAX_QUARANTINE_SHARE = 0.05
# A size as DuckDB's memory_limit takes it: KB/MB/GB/TB are powers of 1000, KiB/MiB/... of 1024.
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT](?:iB|B)?)\s*", re.IGNORECASE)
_UNITS = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_DEFAULT_MEMORY_CAP_MB = 4000
_MIN_MEMORY_MB = 32  # below this DuckDB fails on a single sort or hash table


def memory_bytes(size: str) -> int | None:
    """The bytes a size like '2GB', '512MiB' or '2G' (as DuckDB reads it) stands for, or None."""
    match = _SIZE.fullmatch(size)
    if match is None:
        return None
    unit = match[2].lower()
    scale = 2 ** (10 * (" kmgt".index(unit[0]))) if "i" in unit else _UNITS[unit[0]]
    return int(float(match[1]) * scale)


def default_memory_limit() -> str:
    """A quarter of the machine's memory, at most 4 GB: room left for the OS, Arrow and others."""
    try:
        quarter_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4 // 10**6
    except (ValueError, OSError):  # a platform without these names: the cap
        quarter_mb = _DEFAULT_MEMORY_CAP_MB
    return f"{min(quarter_mb, _DEFAULT_MEMORY_CAP_MB)}MB"


class MaintenancePolicy(BaseModel):
    """Table maintenance, with S3 Tables' settings and defaults so local and AWS behave alike."""

    compaction_enabled: bool = True
    target_file_size_mb: int = Field(512, ge=64, le=512)
    min_snapshots_to_keep: int = Field(1, ge=1)
    max_snapshot_age_hours: int = Field(120, ge=1)
    # Files no snapshot references are removed once they are this old (S3 Tables marks them
    # noncurrent after 3 days); younger ones may belong to a commit still in flight.
    unreferenced_file_age_hours: int = Field(72, ge=0)


class SparkSettings(BaseModel):
    """How the Spark engine gets its session (``banklake run --engine spark``)."""

    master: str = "local[*]"
    # sc://HOST:PORT: run on an existing cluster through Spark Connect instead of a local JVM.
    remote: str | None = None
    # "offline": the jars `make spark-setup` assembled; "maven": spark.jars.packages.
    jars: Literal["offline", "maven"] = "offline"
    driver_memory: str = "4g"
    # Where the engine keeps files every executor reads (the batch's Bronze as Parquet): a
    # folder the whole cluster sees. Each run works in a folder of its own in it, removed
    # after the run; by default in the lakehouse (a killed run's is removed by the next one).
    scratch: Path | None = None
    # Any further Spark properties, e.g. {"spark.sql.shuffle.partitions" = "64"}.
    conf: dict[str, str] = Field(default_factory=dict)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BANKLAKE_", env_nested_delimiter="__")

    landing: Path = Path("landing")
    lakehouse: Path = Path("lakehouse")
    reports: Path = Path("reports")
    namespace: str = NAMESPACE
    table_bucket: str = "banking-lakehouse"
    timezone: str = Field("UTC", description="Timezone of source timestamps and business dates")
    # zstd files are about half the size, and whole runs ~5-10% slower (benchmarks/RESULTS.md).
    # Locally, speed wins; tables on AWS are created by their templates, with their own codec.
    parquet_compression: Literal["snappy", "zstd"] = "snappy"
    maintenance: MaintenancePolicy = MaintenancePolicy()
    spark: SparkSettings = SparkSettings()
    # Test 1 fails when more of the rows read than this are quarantined: a bank's file with
    # more than 1 row in 20 held back points at a broken delivery or missing reference data,
    # not at a few bad rows, and must not pass as verified.
    max_quarantine_share: float = Field(DEFAULT_MAX_QUARANTINE_SHARE, ge=0, le=1)
    # How long a writer waits for another one to finish with the lakehouse before giving up.
    lock_timeout_seconds: float = Field(600, ge=0)
    # The embedded engine's working memory (DuckDB's memory_limit): beyond it, DuckDB spills to
    # a scratch folder in the lakehouse, so a batch's size does not decide the memory it takes.
    memory_limit: str = Field(default_factory=default_memory_limit)

    @field_validator("memory_limit")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        size = memory_bytes(value)
        if size is None:
            raise ValueError(
                f"{value!r} is not a memory size; write a number and a unit, like '4GB' or '512MB'"
            )
        if size < _MIN_MEMORY_MB * 10**6:
            raise ValueError(f"{value!r} is too little to run in; give at least {_MIN_MEMORY_MB}MB")
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name like 'UTC'") from None
        return value

    @field_validator("namespace")
    @classmethod
    def _aws_safe_name(cls, value: str) -> str:
        if not value or not all(c.isdigit() or c == "_" or "a" <= c <= "z" for c in value):
            raise ValueError(
                f"namespace {value!r} must use only 0-9, a-z and _ (S3 Tables, Athena)"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, config_file()))


def config_file() -> Path:
    """The settings file: the one ``BANKLAKE_CONFIG`` names, else ``./banklake.toml``."""
    return Path(os.environ.get("BANKLAKE_CONFIG", "banklake.toml")).expanduser()


def load_settings(**overrides: Any) -> Settings:
    """Settings from every source; ``overrides`` are the command-line flags that were given."""
    path = config_file()
    # ./banklake.toml is optional, but a file named on purpose that is not there is a mistake.
    if "BANKLAKE_CONFIG" in os.environ and not path.is_file():
        which = "is not a file" if path.exists() else "does not exist"
        raise UsageError(f"BANKLAKE_CONFIG names {path}, which {which}; fix or unset it")
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise UsageError(f"invalid settings: {problems}") from None
    except tomllib.TOMLDecodeError as error:  # its message ends "(at line L, column C)"
        raise UsageError(f"{path} is not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except SettingsError as error:  # a BANKLAKE_* value that is not valid JSON, for one
        raise UsageError(f"invalid settings: {error}") from None
