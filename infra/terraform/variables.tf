variable "table_bucket_name" {
  description = "S3 table bucket (3-63 characters of a-z, 0-9 and -)"
  type        = string
  default     = "banking-lakehouse"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.table_bucket_name))
    error_message = "table_bucket_name must be 3-63 characters of a-z, 0-9 and -, starting and ending with a letter or digit."
  }
}

variable "namespace_name" {
  description = "Namespace of the tables"
  type        = string
  default     = "analytics_db"

  # Athena hides tables whose names have any other character.
  validation {
    condition     = can(regex("^[0-9a-z_]+$", var.namespace_name))
    error_message = "namespace_name may use only a-z, 0-9 and _ (Athena hides names with other characters)."
  }
}

variable "job_name" {
  description = "Name of the Glue job"
  type        = string
  default     = "banklake-etl"
}

variable "glue_version" {
  description = "Glue version; 5.1 runs Spark 3.5.6 with Iceberg 1.10, as banklake's Spark engine does"
  type        = string
  # Explicit: a job without a version silently gets the newest one.
  default = "5.1"

  # S3 Tables needs Glue 5.0 or later; 6.0 moves to Spark 4, which banklake does not run on.
  validation {
    condition     = contains(["5.0", "5.1"], var.glue_version)
    error_message = "glue_version must be 5.0 or 5.1."
  }
}

variable "worker_type" {
  description = "Glue worker type (G.1X is 4 vCPU and 16 GB)"
  type        = string
  default     = "G.1X"

  validation {
    condition     = contains(["G.1X", "G.2X", "G.4X", "G.8X"], var.worker_type)
    error_message = "worker_type must be one of G.1X, G.2X, G.4X, G.8X."
  }
}

variable "number_of_workers" {
  description = "Glue workers, the driver included"
  type        = number
  default     = 2

  validation {
    condition     = var.number_of_workers >= 2 && var.number_of_workers <= 100 && floor(var.number_of_workers) == var.number_of_workers
    error_message = "number_of_workers must be a whole number from 2 to 100."
  }
}

variable "catalog_route" {
  description = "How the job reaches the tables: the S3 Tables Iceberg REST endpoint, or the Glue Data Catalog's s3tablescatalog federation (needs the analytics integration)"
  type        = string
  default     = "s3tables-rest"

  validation {
    condition     = contains(["s3tables-rest", "glue-federated"], var.catalog_route)
    error_message = "catalog_route must be s3tables-rest or glue-federated."
  }
}

variable "wheel_key" {
  description = "Key of banklake's wheel in the landing bucket (`banklake aws deploy` uploads it)"
  type        = string
  default     = "glue/dist/banklake-0.1.0-py3-none-any.whl"

  # The role may read glue/* only, so the wheel must lie there.
  validation {
    condition     = can(regex("^glue/dist/[A-Za-z0-9_.-]+\\.whl$", var.wheel_key))
    error_message = "wheel_key must be a .whl under glue/dist/."
  }
}

variable "unreferenced_days" {
  description = "Days after which files no snapshot references become noncurrent"
  type        = number
  default     = 3

  validation {
    condition     = var.unreferenced_days >= 1
    error_message = "unreferenced_days must be at least 1."
  }
}

variable "noncurrent_days" {
  description = "Days after which noncurrent files are deleted"
  type        = number
  default     = 10

  validation {
    condition     = var.noncurrent_days >= 1
    error_message = "noncurrent_days must be at least 1."
  }
}

variable "workgroup_name" {
  description = "Athena workgroup for banklake's verification queries (the CloudFormation stack names it after itself)"
  type        = string
  default     = "banklake"
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Largest scan one Athena query may make, in bytes (10 GB by default)"
  type        = number
  default     = 10737418240

  # Athena's own lower bound.
  validation {
    condition     = var.bytes_scanned_cutoff_per_query >= 10000000
    error_message = "bytes_scanned_cutoff_per_query must be at least 10000000 (10 MB)."
  }
}
