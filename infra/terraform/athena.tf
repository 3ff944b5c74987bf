# Athena engine version 3 with a per-query scan limit. Results are SSE-S3 encrypted: a
# workgroup whose results are KMS-encrypted cannot run DML on S3 Tables.
resource "aws_athena_workgroup" "this" {
  name        = var.workgroup_name
  description = "banklake's verification queries"
  # Deletes the workgroup with its saved queries, as RecursiveDeleteOption does.
  force_destroy = true

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${aws_s3_bucket.landing.id}/athena-results/"

      encryption_configuration {
        encryption_option = "SSE_S3"
      }
    }
  }
}

# No analytics integration here, unlike the CloudFormation template's AnalyticsIntegration.
#
# Athena sees S3 Tables only once the account and region are integrated with the AWS analytics
# services: a Glue Data Catalog catalog named s3tablescatalog, federated to
# arn:<partition>:s3tables:<region>:<account>:bucket/* through the connection aws:s3tables
# (AWS::Glue::Catalog in CloudFormation). Provider 5.100 has no resource for a Glue catalog
# (aws_glue_catalog_database, _table and _table_optimizer exist; aws_glue_catalog does not), so
# Terraform cannot declare it. It is also one per account and region, shared by every table
# bucket there. `banklake aws deploy` checks for it and creates it through the CloudFormation
# data stack where it is missing; where Terraform deploys banklake, create it once per account and
# region as the README describes (the S3 console's integration, or Glue's CreateCatalog with the
# template's AnalyticsIntegration settings). Until then the glue-federated route and Athena find
# no tables; the s3tables-rest route does not need it.
