"""The AWS Glue 5.x job: the pipeline on the job's Spark session, into S3 Tables.

Glue runs ``infra/glue/banklake_job.py``, which calls ``main``; banklake itself arrives as a
wheel (``--additional-python-modules``). The job's arguments:

- ``--landing``: the landing zone, ``s3://bucket/prefix`` (copied to local disk first: the
  Bronze reader needs a file's exact bytes for line numbers and checksums) or a local folder;
- ``--table_bucket_arn``: ``arn:aws:s3tables:<region>:<account>:bucket/<name>``;
- ``--namespace``: ``analytics_db``;
- ``--catalog_route``: ``s3tables-rest`` or ``glue-federated`` (the route the job's ``--conf``
  configures Spark with; banklake's own catalog reads take the same one), or ``local`` with
  ``--lakehouse <folder>`` to run the same job on a laptop's lakehouse.

Without ``awsglue`` (any Spark, or a laptop), the script starts a plain Spark session with the
same arguments: the local route's session is the Spark engine's own.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from banklake.config import load_settings
from banklake.errors import UsageError
from banklake.lakehouse.catalog import Lakehouse
from banklake.lakehouse.routes import ROUTES

ARGUMENTS = ("JOB_NAME", "landing", "table_bucket_arn", "namespace", "catalog_route")


def resolved_options(argv: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """Glue's ``getResolvedOptions`` where ``awsglue`` is installed, its equivalent elsewhere."""
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        parser = argparse.ArgumentParser(prog="banklake-glue-job")
        for name in names:
            parser.add_argument(f"--{name}", required=True)
        known, _glue_own = parser.parse_known_args(argv[1:])
        return dict(vars(known))
    options: dict[str, str] = getResolvedOptions(list(argv), list(names))
    return options


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    local = "--lakehouse" in argv
    args = resolved_options(argv, ARGUMENTS + (("lakehouse",) if local else ()))
    route = args["catalog_route"]
    if route not in ROUTES or (route == "local") != local:
        raise SystemExit(
            f"--catalog_route must be one of {', '.join(ROUTES)}; "
            "the local route (and only it) takes --lakehouse"
        )
    from banklake.engines.spark import SparkEngine
    from banklake.pipeline import run

    with tempfile.TemporaryDirectory(prefix="banklake-glue-") as work:
        landing = _local_landing(args["landing"], Path(work) / "landing")
        settings = load_settings(
            landing=landing,
            lakehouse=Path(args.get("lakehouse") or Path(work) / "lakehouse"),
            namespace=args["namespace"],
        )
        if local:
            lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
            engine = SparkEngine(settings)
        else:
            lakehouse = Lakehouse.s3_tables(args["table_bucket_arn"], route, settings.namespace)
            engine = SparkEngine(settings, session=_glue_session(args))
        result = run(settings, engine, progress=_log, lakehouse=lakehouse)
    loaded = [f for f in result.files if f.status != "rejected"]
    _log(
        f"batch {result.batch_id}: {len(loaded)} files loaded, {len(result.rejected)} refused, "
        f"{sum(f.rows_loaded for f in loaded)} rows loaded, "
        f"{sum(f.rows_quarantined for f in loaded)} quarantined"
    )
    for refused in result.rejected:
        _log(f"refused: {refused.problem}")
    return 3 if result.rejected else 0


def glue_conf_argument(conf: dict[str, str]) -> str:
    """Glue's ``--conf`` value for Spark properties (a route's ``spark()``): ``k=v``, then
    `` --conf k=v`` for every further property. On Glue every Iceberg property must go there:
    ``spark.sql.extensions`` cannot be set from the job's code."""
    for key, value in conf.items():
        if not key or any(c.isspace() for c in key + value):
            raise UsageError(f"Spark property {key}={value!r} cannot go into Glue's --conf")
    return " --conf ".join(f"{key}={value}" for key, value in conf.items())


def _glue_session(args: dict[str, str]) -> Any:
    """The job's session: Glue's (its catalog comes from the job's --conf), else any Spark's."""
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext
    except ImportError:
        from pyspark.sql import SparkSession

        return SparkSession.builder.appName(args["JOB_NAME"]).getOrCreate()
    glue = GlueContext(SparkContext.getOrCreate())
    Job(glue).init(args["JOB_NAME"], args)
    return glue.spark_session


def _local_landing(location: str, folder: Path) -> Path:
    """The landing zone as a local folder: an ``s3://`` one is copied, keeping modification
    times, so that unchanged files are recognised without reading them."""
    if not location.startswith("s3://"):
        return Path(location)
    import boto3

    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue
            target = folder / item["Key"][len(prefix) :].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(target))
            stamp = item["LastModified"].timestamp()
            os.utime(target, (stamp, stamp))
    return folder


def _log(message: str) -> None:
    print(f"banklake: {message}", flush=True)  # Glue's driver log (CloudWatch)


if __name__ == "__main__":
    sys.exit(main())
