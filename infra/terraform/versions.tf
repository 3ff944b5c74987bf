# The Terraform equivalent of infra/cloudformation/banklake.yaml, which stays the reference:
# the same buckets, Glue job, role and Athena workgroup with the same settings. Two parts of
# the template have no Terraform form in provider 5.x; tables.tf and athena.tf say why.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.80 brought the S3 Tables resources.
      version = ">= 5.80"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
}
