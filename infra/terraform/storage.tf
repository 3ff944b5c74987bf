# The landing bucket. Bronze: the bank's daily files under landing/, banklake's Glue artifacts
# under glue/ and Athena's query results under athena-results/.

locals {
  landing_bucket = "banking-raw-data-${local.account}-${local.region}"
}

resource "aws_s3_bucket" "landing" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket to log to; CloudTrail data events are the account-wide choice
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice per bank, not a default for a training lakehouse
  #checkov:skip=CKV_AWS_145:SSE-S3 encrypts every object; a KMS key adds cost and a key policy for no gain here
  #checkov:skip=CKV2_AWS_62:The Glue job is started on demand, not by S3 events; notifications would have no consumer
  bucket = local.landing_bucket

  # It holds the data: `terraform destroy` refuses to delete it, as the CloudFormation stack
  # retains it. To tear down the rest, `terraform state rm` it first.
  lifecycle {
    prevent_destroy = true
  }
}

# SSE-S3 encrypts every object; a KMS key would add cost and a key policy for no gain here.
resource "aws_s3_bucket_server_side_encryption_configuration" "landing" {
  bucket = aws_s3_bucket.landing.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "landing" {
  bucket = aws_s3_bucket.landing.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs off: the bucket's owner owns every object, whoever wrote it.
resource "aws_s3_bucket_ownership_controls" "landing" {
  bucket = aws_s3_bucket.landing.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "landing" {
  bucket = aws_s3_bucket.landing.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "landing" {
  bucket = aws_s3_bucket.landing.id

  # Rules on noncurrent versions need versioning on first.
  depends_on = [aws_s3_bucket_versioning.landing]

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    # An empty filter: the whole bucket.
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "expire-query-results"
    status = "Enabled"

    filter {
      prefix = "athena-results/"
    }

    expiration {
      days = 30
    }
  }

  rule {
    id     = "expire-job-scratch"
    status = "Enabled"

    filter {
      prefix = "glue/temp/"
    }

    expiration {
      days = 7
    }
  }
}

data "aws_iam_policy_document" "landing_tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.landing.arn, "${aws_s3_bucket.landing.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "landing" {
  bucket = aws_s3_bucket.landing.id
  policy = data.aws_iam_policy_document.landing_tls_only.json

  # S3 refuses a bucket policy while the public access block is still being applied.
  depends_on = [aws_s3_bucket_public_access_block.landing]
}
