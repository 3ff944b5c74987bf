"""What both infrastructure templates must grant the Glue job (AWS_NOTES: IAM)."""

# The least-privilege s3tables actions of the job's role (s3:* covers none of them).
S3TABLES_ACTIONS = {
    "s3tables:GetTableBucket",
    "s3tables:GetNamespace",
    "s3tables:ListNamespaces",
    "s3tables:CreateNamespace",
    "s3tables:GetTable",
    "s3tables:ListTables",
    "s3tables:CreateTable",
    "s3tables:GetTableMetadataLocation",
    "s3tables:UpdateTableMetadataLocation",
    "s3tables:GetTableData",
    "s3tables:PutTableData",
}
