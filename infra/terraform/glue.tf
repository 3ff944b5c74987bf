# The Glue job that loads the landing files into the tables.

locals {
  # All of the catalog's Spark settings go into the one --conf argument: on Glue 5.x setting
  # spark.sql.extensions from the job's code fails ("Cannot modify the value of a static
  # config"). One list per catalog route, the same properties banklake.lakehouse.routes builds;
  # glue_conf joins them as Glue wants: `k=v --conf k=v ...`.
  spark_conf = {
    # The S3 Tables Iceberg REST endpoint, signed with SigV4.
    "s3tables-rest" = [
      "spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
      "spark.sql.catalog.s3tables=org.apache.iceberg.spark.SparkCatalog",
      "spark.sql.catalog.s3tables.type=rest",
      "spark.sql.catalog.s3tables.uri=https://s3tables.${local.region}.amazonaws.com/iceberg",
      "spark.sql.catalog.s3tables.warehouse=${aws_s3tables_table_bucket.this.arn}",
      "spark.sql.catalog.s3tables.rest.sigv4-enabled=true",
      "spark.sql.catalog.s3tables.rest.signing-name=s3tables",
      "spark.sql.catalog.s3tables.rest.signing-region=${local.region}",
      "spark.sql.catalog.s3tables.io-impl=org.apache.iceberg.aws.s3.S3FileIO",
      # The endpoint has no metrics route: reporting would fail every commit's report.
      "spark.sql.catalog.s3tables.rest-metrics-reporting-enabled=false",
      "spark.sql.defaultCatalog=s3tables",
    ]
    # The Glue Data Catalog's federated s3tablescatalog/<bucket> catalog.
    "glue-federated" = [
      "spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
      "spark.sql.catalog.s3tables=org.apache.iceberg.spark.SparkCatalog",
      "spark.sql.catalog.s3tables.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog",
      # Without glue.id the catalog answers "namespace does not exist" for every namespace.
      "spark.sql.catalog.s3tables.glue.id=${local.account}:s3tablescatalog/${var.table_bucket_name}",
      # Required by the catalog, and ignored: S3 Tables decides where data goes.
      "spark.sql.catalog.s3tables.warehouse=s3://${var.table_bucket_name}/unused",
      "spark.sql.catalog.s3tables.client.region=${local.region}",
      "spark.sql.catalog.s3tables.io-impl=org.apache.iceberg.aws.s3.S3FileIO",
      "spark.sql.defaultCatalog=s3tables",
    ]
  }
  glue_conf = join(" --conf ", local.spark_conf[var.catalog_route])
}

# Only S3 encryption is asked for; Glue requires the other two blocks, and DISABLED is what
# CloudFormation's security configuration leaves them at.
resource "aws_glue_security_configuration" "this" {
  #checkov:skip=CKV_AWS_99:S3 output is SSE-S3 encrypted; CloudWatch Logs encrypts log data at rest by default and the job keeps no bookmarks, so the KMS-only modes would add a key and key policy for no gain
  name = "${var.job_name}-security"

  encryption_configuration {
    s3_encryption {
      s3_encryption_mode = "SSE-S3"
    }

    cloudwatch_encryption {
      cloudwatch_encryption_mode = "DISABLED"
    }

    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "DISABLED"
    }
  }
}

resource "aws_glue_job" "this" {
  name                   = var.job_name
  description            = "banklake ETL; landing CSVs to the Silver, quarantine, Gold and ledger tables"
  role_arn               = aws_iam_role.glue_job.arn
  glue_version           = var.glue_version
  worker_type            = var.worker_type
  number_of_workers      = var.number_of_workers
  security_configuration = aws_glue_security_configuration.this.name
  timeout                = 120
  max_retries            = 0

  # One run at a time: the job is the lakehouse's only writer, as the local writer lock is.
  execution_property {
    max_concurrent_runs = 1
  }

  command {
    name            = "glueetl"
    python_version  = "3"
    script_location = "s3://${aws_s3_bucket.landing.id}/glue/banklake_job.py"
  }

  default_arguments = {
    "--job-language" = "python"
    # Glue's bundled Iceberg (1.10 on Glue 5.1).
    "--datalake-formats"          = "iceberg"
    "--additional-python-modules" = "s3://${aws_s3_bucket.landing.id}/${var.wheel_key}"
    "--TempDir"                   = "s3://${aws_s3_bucket.landing.id}/glue/temp/"
    "--landing"                   = "s3://${aws_s3_bucket.landing.id}/landing/"
    "--table_bucket_arn"          = aws_s3tables_table_bucket.this.arn
    "--namespace"                 = aws_s3tables_namespace.this.namespace
    "--catalog_route"             = var.catalog_route
    "--conf"                      = local.glue_conf
  }
}
