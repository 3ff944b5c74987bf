# The Glue job's role: each action named, each on the resources the job uses.

locals {
  # Only the Glue Data Catalog route needs Glue and Lake Formation permissions.
  federated   = var.catalog_route == "glue-federated"
  glue_prefix = "arn:${local.partition}:glue:${local.region}:${local.account}"
}

data "aws_iam_policy_document" "glue_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }

    # Only Glue acting for this account may take the role (no confused deputy).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "glue_job" {
  name               = "${var.job_name}-job"
  description        = "banklake's Glue job; reads the landing zone, writes the S3 Tables"
  assume_role_policy = data.aws_iam_policy_document.glue_assume.json
}

data "aws_iam_policy_document" "glue_job" {
  statement {
    sid       = "ListLandingAndArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.landing.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["landing/*", "glue/*"]
    }
  }

  statement {
    sid     = "ReadLandingAndArtifacts"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.landing.arn}/landing/*",
      "${aws_s3_bucket.landing.arn}/glue/*",
    ]
  }

  # The job writes only its scratch space in the landing bucket.
  statement {
    sid       = "WriteScratch"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.landing.arn}/glue/temp/*"]
  }

  # s3:* would not cover these: S3 Tables has its own actions.
  statement {
    sid = "Tables"
    actions = [
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
    ]
    resources = [
      aws_s3tables_table_bucket.this.arn,
      "${aws_s3tables_table_bucket.this.arn}/table/*",
    ]
  }

  # The glue-federated route reads and creates the tables through the Glue Data Catalog's
  # s3tablescatalog/<bucket> federation.
  dynamic "statement" {
    for_each = local.federated ? [1] : []

    content {
      sid = "FederatedCatalog"
      actions = [
        "glue:GetCatalog",
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:CreateTable",
        "glue:UpdateTable",
      ]
      resources = [
        "${local.glue_prefix}:catalog",
        "${local.glue_prefix}:catalog/s3tablescatalog",
        "${local.glue_prefix}:catalog/s3tablescatalog/${var.table_bucket_name}",
        "${local.glue_prefix}:database/s3tablescatalog/${var.table_bucket_name}/${var.namespace_name}",
        "${local.glue_prefix}:table/s3tablescatalog/${var.table_bucket_name}/${var.namespace_name}/*",
      ]
    }
  }

  # On that route Lake Formation vends the credentials for the table data; the action has no
  # resource-level permissions, hence "*".
  dynamic "statement" {
    for_each = local.federated ? [1] : []

    content {
      sid       = "LakeFormationCredentials"
      actions   = ["lakeformation:GetDataAccess"]
      resources = ["*"]
    }
  }

  statement {
    sid = "JobLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws-glue/*"]
  }
}

resource "aws_iam_role_policy" "glue_job" {
  name   = "banklake-job"
  role   = aws_iam_role.glue_job.id
  policy = data.aws_iam_policy_document.glue_job.json
}
