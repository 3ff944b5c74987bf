# The S3 table bucket and the namespace of banklake's tables.

resource "aws_s3tables_table_bucket" "this" {
  name = var.table_bucket_name

  # Stated although AES256 is S3 Tables' default: in provider 5.x the attribute is not
  # computed, so leaving it out makes the apply fail with "inconsistent result after apply"
  # when AWS reports the default back. The object type wants every attribute named.
  encryption_configuration = {
    sse_algorithm = "AES256"
    kms_key_arn   = null
  }

  # The table-bucket-level maintenance: files no snapshot references become noncurrent after
  # unreferenced_days and are deleted non_current_days later (S3 Tables' defaults: 3 and 10).
  maintenance_configuration = {
    iceberg_unreferenced_file_removal = {
      status = "enabled"
      settings = {
        unreferenced_days = var.unreferenced_days
        non_current_days  = var.noncurrent_days
      }
    }
  }

  # It holds the data: kept, as the CloudFormation stack retains it.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3tables_namespace" "this" {
  namespace        = var.namespace_name
  table_bucket_arn = aws_s3tables_table_bucket.this.arn

  lifecycle {
    prevent_destroy = true
  }
}

# No aws_s3tables_table resources, on purpose.
#
# The CloudFormation template declares the six tables (customers, accounts, transactions,
# quarantine, enriched_transactions, load_ledger) with their schemas. Terraform cannot: in
# provider 5.x aws_s3tables_table takes no schema (its `metadata` block arrived in provider
# 6.2), and a table created without a schema has no metadata location, so no Iceberg client
# (Spark, PyIceberg, Athena) can load it, and the job could not write to it either.
#
# So the Glue job's first run creates the tables: it creates each missing table through the
# catalog (create if not exists, never CTAS or create-or-replace, which both S3 Tables
# endpoints refuse) with the schema, partition spec and properties of banklake's contracts,
# the same ones the CloudFormation template declares.
#
# S3 Tables then applies its defaults to every new table: compaction enabled with a 512 MB
# target file size, and snapshot management enabled, keeping at least 1 snapshot and expiring
# those older than 120 hours. Another target size is one call per table:
# `aws s3tables put-table-maintenance-configuration --type icebergCompaction ...`.
# Unreferenced file removal is set for the whole bucket above.
