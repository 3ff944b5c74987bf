"""Spark configuration for banklake's Iceberg catalog: one pure function per catalog route.

- ``s3_tables_rest``: S3 Tables' own Iceberg REST endpoint, signed with SigV4 (the route AWS
  recommends for Glue 5.x jobs);
- ``glue_federated``: the Glue Data Catalog's ``s3tablescatalog/<bucket>`` federated catalog;
- ``local_jdbc``: the local lakehouse's SQLite catalog, the same file PyIceberg uses.

Each returns the Spark properties as a dict. On Glue every one of them must go into the single
``--conf`` job argument (``spark.sql.extensions`` cannot be set from the job's code there):
``glue_conf_argument`` renders that string. Both S3 Tables endpoints refuse staged creates, so
writers create a missing table, then insert; never CTAS or ``createOrReplace``.
"""

from __future__ import annotations

import re
from pathlib import Path

from banklake.errors import UsageError

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
SPARK_CATALOG = "org.apache.iceberg.spark.SparkCatalog"
S3_FILE_IO = "org.apache.iceberg.aws.s3.S3FileIO"
GLUE_CATALOG = "org.apache.iceberg.aws.glue.GlueCatalog"
DEFAULT_CATALOG = "s3tables"
# The local catalog's name is the one PyIceberg records its tables under: both must agree.
LOCAL_CATALOG = "banklake"
# The catalog routes a job can take to its tables (the Glue job's --catalog_route).
ROUTES = ("s3tables-rest", "glue-federated", "local")
_BUCKET_ARN = re.compile(r"^arn:aws:s3tables:([a-z0-9-]+):(\d{12}):bucket/([a-z0-9-]+)$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_CATALOG = re.compile(r"^[a-z_][a-z0-9_]*$")


def s3_tables_rest(
    region: str, account: str, table_bucket: str, catalog: str = DEFAULT_CATALOG
) -> dict[str, str]:
    """The S3 Tables Iceberg REST endpoint for ``table_bucket``."""
    return _s3_tables_catalog(
        region,
        account,
        table_bucket,
        catalog,
        {
            "type": "rest",
            "uri": f"https://s3tables.{region}.amazonaws.com/iceberg",
            "warehouse": f"arn:aws:s3tables:{region}:{account}:bucket/{table_bucket}",
            "rest.sigv4-enabled": "true",
            "rest.signing-name": "s3tables",
            "rest.signing-region": region,
            "io-impl": S3_FILE_IO,
            # The endpoint has no metrics route: reporting would fail every commit's report.
            "rest-metrics-reporting-enabled": "false",
        },
    )


def glue_federated(
    region: str, account: str, table_bucket: str, catalog: str = DEFAULT_CATALOG
) -> dict[str, str]:
    """The Glue Data Catalog's federated ``s3tablescatalog/<bucket>`` catalog."""
    return _s3_tables_catalog(
        region,
        account,
        table_bucket,
        catalog,
        {
            "catalog-impl": GLUE_CATALOG,
            # Without glue.id the catalog answers "namespace does not exist" for every namespace.
            "glue.id": f"{account}:s3tablescatalog/{table_bucket}",
            # Required by the catalog, and ignored: S3 Tables decides where data goes.
            "warehouse": f"s3://{table_bucket}/unused",
            "client.region": region,
            "io-impl": S3_FILE_IO,
        },
    )


def local_jdbc(lakehouse: Path) -> dict[str, str]:
    """The local lakehouse's SQLite catalog and file warehouse, shared with PyIceberg."""
    root = lakehouse.resolve()
    return _catalog(
        LOCAL_CATALOG,
        {
            "type": "jdbc",
            "uri": f"jdbc:sqlite:{root / 'catalog.db'}",
            "warehouse": (root / "warehouse").as_uri(),
        },
    )


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


def glue_conf_argument(conf: dict[str, str]) -> str:
    """Glue's ``--conf`` value: ``k=v``, then `` --conf k=v`` for every further property."""
    for key, value in conf.items():
        if not key or any(c.isspace() for c in key + value):
            raise UsageError(f"Spark property {key}={value!r} cannot go into Glue's --conf")
    return " --conf ".join(f"{key}={value}" for key, value in conf.items())


def _catalog(name: str, properties: dict[str, str]) -> dict[str, str]:
    prefix = f"spark.sql.catalog.{name}"
    return {
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
        prefix: SPARK_CATALOG,
        **{f"{prefix}.{key}": value for key, value in properties.items()},
        "spark.sql.defaultCatalog": name,
    }


def _s3_tables_catalog(
    region: str, account: str, table_bucket: str, catalog: str, properties: dict[str, str]
) -> dict[str, str]:
    """A catalog on an S3 Tables bucket, once its names are checked."""
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
    return _catalog(catalog, properties)
