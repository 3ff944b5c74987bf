"""Deleting the data the stack keeps: only on ``banklake aws destroy --force``."""

from __future__ import annotations

from collections.abc import Callable

from banklake.aws.session import AwsTarget, aws_errors
from banklake.errors import AwsError


def delete_data(
    target: AwsTarget, bucket: str, bucket_arn: str, say: Callable[[str], None]
) -> list[str]:
    """Delete the tables, namespace and table bucket ``bucket_arn``, then every object version
    of the landing bucket and the bucket; what was deleted, in order."""
    deleted = []
    s3tables = target.client("s3tables")
    with aws_errors(f"deleting the tables of {bucket_arn}"):
        pages = s3tables.get_paginator("list_tables")
        for page in pages.paginate(tableBucketARN=bucket_arn):
            for table in page["tables"]:
                namespace = table["namespace"][0]
                s3tables.delete_table(
                    tableBucketARN=bucket_arn, namespace=namespace, name=table["name"]
                )
                deleted.append(f"table {namespace}.{table['name']}")
                say(f"deleted table {namespace}.{table['name']}")
        for page in s3tables.get_paginator("list_namespaces").paginate(tableBucketARN=bucket_arn):
            for namespace in page["namespaces"]:
                s3tables.delete_namespace(
                    tableBucketARN=bucket_arn, namespace=namespace["namespace"][0]
                )
                deleted.append(f"namespace {namespace['namespace'][0]}")
        s3tables.delete_table_bucket(tableBucketARN=bucket_arn)
        deleted.append(f"table bucket {bucket_arn}")
        say(f"deleted table bucket {bucket_arn}")
    s3 = target.client("s3")
    with aws_errors(f"emptying and deleting s3://{bucket}"):
        pages = s3.get_paginator("list_object_versions")
        for page in pages.paginate(Bucket=bucket):
            doomed = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if doomed:
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise AwsError(
                        f"s3://{bucket}/{first['Key']} could not be deleted: {first['Message']}"
                        f" ({len(answer['Errors'])} objects in all); the bucket is kept"
                    )
        s3.delete_bucket(Bucket=bucket)
    deleted.append(f"bucket s3://{bucket}")
    say(f"deleted s3://{bucket}")
    return deleted
