"""The routes to a lakehouse's Iceberg catalog, each rendered for PyIceberg and for Spark.

- ``local``: the local lakehouse's SQLite catalog and file warehouse (PyIceberg's SQL catalog,
  Spark's JDBC catalog on the same file);
- ``s3tables-rest``: S3 Tables' own Iceberg REST endpoint, signed with SigV4 (the route AWS
  recommends for Glue 5.x jobs);
- ``glue-federated``: the Glue Data Catalog's ``s3tablescatalog/<bucket>`` federated catalog.

Both S3 Tables endpoints refuse staged creates, so writers create a missing table, then insert;
never CTAS or ``createOrReplace``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL

from banklake.errors import UsageError

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
SPARK_CATALOG = "org.apache.iceberg.spark.SparkCatalog"
S3_FILE_IO = "org.apache.iceberg.aws.s3.S3FileIO"
GLUE_CATALOG = "org.apache.iceberg.aws.glue.GlueCatalog"
DEFAULT_CATALOG = "s3tables"
# The local catalog's name: the SQLite catalog records each table under it, so PyIceberg and
# Spark must both use it.
LOCAL_CATALOG = "banklake"
CATALOG_FILE = "catalog.db"
WAREHOUSE = "warehouse"
ROUTES = ("s3tables-rest", "glue-federated", "local")
_BUCKET_ARN = re.compile(r"^arn:aws:s3tables:([a-z0-9-]+):(\d{12}):bucket/([a-z0-9-]+)$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_CATALOG = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Route:
    """One way to a catalog: ``pyiceberg`` is what ``load_catalog`` takes, ``spark_catalog``
    the properties of Iceberg's ``SparkCatalog`` named ``catalog``."""

    catalog: str
    pyiceberg: dict[str, str]
    spark_catalog: dict[str, str]

    def spark_session(self) -> dict[str, str]:
        """The catalog's Spark properties, as the session's default catalog: what a running
        session can be given."""
        prefix = f"spark.sql.catalog.{self.catalog}"
        return {
            prefix: SPARK_CATALOG,
            **{f"{prefix}.{key}": value for key, value in self.spark_catalog.items()},
            "spark.sql.defaultCatalog": self.catalog,
        }

    def spark(self) -> dict[str, str]:
        """Every Spark property the route needs, Iceberg's session extensions first: what a
        session is started with (on Glue, the job's ``--conf``)."""
        return {"spark.sql.extensions": ICEBERG_EXTENSIONS, **self.spark_session()}


def local(lakehouse: Path, sqlite_options: Mapping[str, str] | None = None) -> Route:
    """The local lakehouse's catalog; PyIceberg opens the SQLite file with ``sqlite_options``
    (SQLite's URI parameters: ``mode=ro``, say)."""
    root = lakehouse.resolve()
    database, warehouse = root / CATALOG_FILE, (root / WAREHOUSE).as_uri()
    url = URL.create(
        "sqlite", database=sqlite_file(database), query={**(sqlite_options or {}), "uri": "true"}
    )
    return Route(
        LOCAL_CATALOG,
        {"type": "sql", "uri": url.render_as_string(hide_password=False), "warehouse": warehouse},
        {"type": "jdbc", "uri": f"jdbc:sqlite:{database}", "warehouse": warehouse},
    )


def sqlite_file(database: Path) -> str:
    """The SQLite URI filename of ``database``."""
    return f"file:{quote(str(database))}"


def s3_tables_rest(
    region: str, account: str, table_bucket: str, catalog: str = DEFAULT_CATALOG
) -> Route:
    """S3 Tables' Iceberg REST endpoint for ``table_bucket``."""
    _check_names(region, account, table_bucket, catalog)
    endpoint = {
        "type": "rest",
        "uri": f"https://s3tables.{region}.amazonaws.com/iceberg",
        "warehouse": f"arn:aws:s3tables:{region}:{account}:bucket/{table_bucket}",
        "rest.sigv4-enabled": "true",
        "rest.signing-name": "s3tables",
        "rest.signing-region": region,
    }
    return Route(
        catalog,
        endpoint,
        {
            **endpoint,
            "io-impl": S3_FILE_IO,
            # The endpoint has no metrics route: reporting would fail every commit's report.
            "rest-metrics-reporting-enabled": "false",
        },
    )


def glue_federated(
    region: str, account: str, table_bucket: str, catalog: str = DEFAULT_CATALOG
) -> Route:
    """The Glue Data Catalog's federated ``s3tablescatalog/<bucket>`` catalog."""
    _check_names(region, account, table_bucket, catalog)
    # Without glue.id the catalog answers "namespace does not exist" for every namespace.
    glue_id = f"{account}:s3tablescatalog/{table_bucket}"
    return Route(
        catalog,
        {"type": "glue", "glue.id": glue_id, "glue.region": region},
        {
            "catalog-impl": GLUE_CATALOG,
            "glue.id": glue_id,
            # Required by the catalog, and ignored: S3 Tables decides where data goes.
            "warehouse": f"s3://{table_bucket}/unused",
            "client.region": region,
            "io-impl": S3_FILE_IO,
        },
    )


def s3_tables(bucket_arn: str, route: str, catalog: str = DEFAULT_CATALOG) -> Route:
    """The table bucket ``bucket_arn`` through the named route."""
    routes = {"s3tables-rest": s3_tables_rest, "glue-federated": glue_federated}
    if route not in routes:
        raise UsageError(
            f"{route!r} is not a route to S3 Tables; choose s3tables-rest or glue-federated"
        )
    return routes[route](*parse_bucket_arn(bucket_arn), catalog=catalog)


def parse_bucket_arn(arn: str) -> tuple[str, str, str]:
    """A table bucket ARN's region, account and bucket name."""
    found = _BUCKET_ARN.match(arn)
    if not found:
        raise UsageError(
            f"{arn!r} is not a table bucket ARN like "
            "arn:aws:s3tables:eu-west-1:123456789012:bucket/banking-lakehouse"
        )
    region, account, bucket = found.groups()
    return region, account, bucket


def _check_names(region: str, account: str, table_bucket: str, catalog: str) -> None:
    problems = []
    if not _REGION.match(region):
        problems.append(f"region {region!r} is not an AWS region name like 'eu-west-1'")
    if not _ACCOUNT.match(account):
        problems.append(f"account {account!r} is not a 12-digit AWS account id")
    if not _BUCKET.match(table_bucket):
        problems.append(f"table bucket {table_bucket!r} must be 3-63 characters of a-z, 0-9, -")
    if not _CATALOG.match(catalog):
        problems.append(f"catalog name {catalog!r} must use only a-z, 0-9 and _")
    if problems:
        raise UsageError("; ".join(problems))
