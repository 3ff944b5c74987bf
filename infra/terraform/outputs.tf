# The CloudFormation template's Outputs, in snake_case.

output "landing_bucket_name" {
  value = aws_s3_bucket.landing.id
}

output "landing_location" {
  value = "s3://${aws_s3_bucket.landing.id}/landing/"
}

output "table_bucket_arn" {
  value = aws_s3tables_table_bucket.this.arn
}

output "namespace_name" {
  value = aws_s3tables_namespace.this.namespace
}

output "job_name" {
  value = aws_glue_job.this.name
}

output "workgroup_name" {
  value = aws_athena_workgroup.this.name
}

# Athena's catalog for the tables: the bucket's name is part of it.
output "athena_catalog" {
  value = "s3tablescatalog/${aws_s3tables_table_bucket.this.name}"
}

output "glue_job_role_arn" {
  value = aws_iam_role.glue_job.arn
}
