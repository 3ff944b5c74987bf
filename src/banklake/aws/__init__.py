"""AWS: the Spark configuration for S3 Tables (and, later, the Glue job and deployment)."""
