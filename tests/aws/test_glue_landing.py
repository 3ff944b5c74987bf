"""The Glue job copies an S3 landing zone to local disk, exactly, before it reads it."""

from __future__ import annotations

import os
from pathlib import Path

import boto3

from banklake.aws.glue_job import _local_landing
from banklake.bronze.landing import list_landing

FILES = {
    "customers/customers_2026-01-01.csv": b"customer_id,name,email,country\nCUST_1,A,a@x.io,UK\n",
    "transactions/transactions_2026-01-01.csv": b"tx_id,account_id,amount,tx_type,timestamp\n",
    "transactions/transactions_2026-01-02.csv": "caf\u00e9\r\n".encode("latin-1"),  # bytes as sent
}


def test_an_s3_landing_zone_is_copied_with_its_bytes_and_times(aws: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket="banking-raw-data-1", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    for key, body in FILES.items():
        s3.put_object(Bucket="banking-raw-data-1", Key=f"landing/{key}", Body=body)
    s3.put_object(Bucket="banking-raw-data-1", Key="landing/transactions/", Body=b"")  # a folder
    s3.put_object(Bucket="banking-raw-data-1", Key="elsewhere/other.csv", Body=b"not landing\n")

    copy = _local_landing("s3://banking-raw-data-1/landing", tmp_path / "copy")

    found = {p.relative_to(copy).as_posix(): p.read_bytes() for p in copy.rglob("*.csv")}
    assert found == FILES
    for key in FILES:
        head = s3.head_object(Bucket="banking-raw-data-1", Key=f"landing/{key}")
        assert os.stat(copy / key).st_mtime == head["LastModified"].timestamp()
    # The copy is a landing zone like any other.
    assert {c.name for c in list_landing(copy)} == set(FILES)

    # Copied again (the next job run), unchanged files keep size and time: not even re-read.
    again = _local_landing("s3://banking-raw-data-1/landing", tmp_path / "again")
    first = {c.name: c for c in list_landing(copy)}
    second = list_landing(again)
    assert [(c.size_bytes, c.modified_ns) for c in second] == [
        (first[c.name].size_bytes, first[c.name].modified_ns) for c in second
    ]


def test_a_local_landing_zone_is_used_where_it_is(tmp_path: Path) -> None:
    assert _local_landing(str(tmp_path), tmp_path / "unused") == tmp_path
