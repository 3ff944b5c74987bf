"""Each catalog route as PyIceberg and Spark are given it, pinned key by key against the AWS
facts: both sides of a route reach the same catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyiceberg.catalog import load_catalog

from banklake.aws.glue_job import glue_conf_argument
from banklake.errors import UsageError
from banklake.lakehouse.catalog import open_catalog
from banklake.lakehouse.routes import (
    glue_federated,
    local,
    parse_bucket_arn,
    s3_tables,
    s3_tables_rest,
)

EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"


def test_s3_tables_rest_endpoint() -> None:
    route = s3_tables_rest("eu-west-1", "123456789012", "banking-lakehouse")
    assert route.pyiceberg == {
        "type": "rest",
        "uri": "https://s3tables.eu-west-1.amazonaws.com/iceberg",
        "warehouse": "arn:aws:s3tables:eu-west-1:123456789012:bucket/banking-lakehouse",
        "rest.sigv4-enabled": "true",
        "rest.signing-name": "s3tables",
        "rest.signing-region": "eu-west-1",
    }
    assert route.spark() == {
        "spark.sql.extensions": EXTENSIONS,
        "spark.sql.catalog.s3tables": "org.apache.iceberg.spark.SparkCatalog",
        "spark.sql.catalog.s3tables.type": "rest",
        "spark.sql.catalog.s3tables.uri": "https://s3tables.eu-west-1.amazonaws.com/iceberg",
        "spark.sql.catalog.s3tables.warehouse":
            "arn:aws:s3tables:eu-west-1:123456789012:bucket/banking-lakehouse",
        "spark.sql.catalog.s3tables.rest.sigv4-enabled": "true",
        "spark.sql.catalog.s3tables.rest.signing-name": "s3tables",
        "spark.sql.catalog.s3tables.rest.signing-region": "eu-west-1",
        "spark.sql.catalog.s3tables.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        "spark.sql.catalog.s3tables.rest-metrics-reporting-enabled": "false",
        "spark.sql.defaultCatalog": "s3tables",
    }  # fmt: skip


def test_glue_federated_catalog() -> None:
    route = glue_federated("us-east-1", "123456789012", "banking-lakehouse", catalog="lake")
    assert route.pyiceberg == {
        "type": "glue",
        "glue.id": "123456789012:s3tablescatalog/banking-lakehouse",
        "glue.region": "us-east-1",
    }
    assert route.spark() == {
        "spark.sql.extensions": EXTENSIONS,
        "spark.sql.catalog.lake": "org.apache.iceberg.spark.SparkCatalog",
        "spark.sql.catalog.lake.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
        "spark.sql.catalog.lake.glue.id": "123456789012:s3tablescatalog/banking-lakehouse",
        "spark.sql.catalog.lake.warehouse": "s3://banking-lakehouse/unused",
        "spark.sql.catalog.lake.client.region": "us-east-1",
        "spark.sql.catalog.lake.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        "spark.sql.defaultCatalog": "lake",
    }


def test_the_local_route_reaches_the_catalog_the_lakehouse_opens(tmp_path: Path) -> None:
    lakehouse = tmp_path / "lakehouse"
    open_catalog(lakehouse).create_namespace("analytics_db")
    route = local(lakehouse)
    found = load_catalog(route.catalog, **route.pyiceberg).list_namespaces()
    assert found == [("analytics_db",)]  # the SQLite catalog keeps namespaces by catalog name
    root = lakehouse.resolve()
    assert route.spark() == {
        "spark.sql.extensions": EXTENSIONS,
        "spark.sql.catalog.banklake": "org.apache.iceberg.spark.SparkCatalog",
        "spark.sql.catalog.banklake.type": "jdbc",
        "spark.sql.catalog.banklake.uri": f"jdbc:sqlite:{root}/catalog.db",
        "spark.sql.catalog.banklake.warehouse": f"file://{root}/warehouse",
        "spark.sql.defaultCatalog": "banklake",
    }


def test_glue_conf_argument_is_one_string() -> None:
    conf = {"spark.sql.extensions": "x.Y", "spark.sql.catalog.c": "a.B", "spark.sql.c.k": "v"}
    assert glue_conf_argument(conf) == (
        "spark.sql.extensions=x.Y --conf spark.sql.catalog.c=a.B --conf spark.sql.c.k=v"
    )
    rendered = glue_conf_argument(s3_tables_rest("eu-west-1", "123456789012", "b-1").spark())
    assert rendered.startswith(f"spark.sql.extensions={EXTENSIONS} --conf ")
    assert rendered.count(" --conf ") == 10


def test_a_value_with_spaces_cannot_be_rendered() -> None:
    with pytest.raises(UsageError, match="cannot go into Glue's --conf"):
        glue_conf_argument({"spark.k": "two words"})


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (("eu west 1", "123456789012", "bucket"), "not an AWS region name"),
        (("eu-west-1", "1234", "bucket"), "not a 12-digit AWS account id"),
        (("eu-west-1", "123456789012", "Banking_Lakehouse"), "3-63 characters of a-z, 0-9, -"),
    ],
)
def test_bad_names_say_what_is_wrong(arguments: tuple[str, str, str], problem: str) -> None:
    for route in (s3_tables_rest, glue_federated):
        with pytest.raises(UsageError, match=problem):
            route(*arguments)


def test_a_table_bucket_arn_gives_region_account_and_bucket() -> None:
    arn = "arn:aws:s3tables:eu-west-1:123456789012:bucket/banking-lakehouse"
    assert parse_bucket_arn(arn) == ("eu-west-1", "123456789012", "banking-lakehouse")
    assert s3_tables(arn, "glue-federated") == glue_federated(*parse_bucket_arn(arn))
    with pytest.raises(UsageError, match="'local' is not a route to S3 Tables"):
        s3_tables(arn, "local")


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:s3:::banking-raw-data",  # a general purpose bucket
        "arn:aws:s3tables:eu-west-1:1234:bucket/banking-lakehouse",
        "banking-lakehouse",
    ],
)
def test_anything_but_a_table_bucket_arn_is_refused(arn: str) -> None:
    with pytest.raises(UsageError, match="is not a table bucket ARN like arn:aws:s3tables:"):
        parse_bucket_arn(arn)
