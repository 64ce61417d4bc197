variable "aws_region" {
  type        = string
  description = "Region of the state bucket and lock table (the backend's `region`)."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "The aws_region must be a region name such as eu-west-1."
  }
}

variable "state_bucket_name" {
  type        = string
  description = "Globally unique name of the Terraform state bucket (the backend's `bucket`)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "The state_bucket_name must be an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)."
  }
}

variable "lock_table_name" {
  type        = string
  description = "Name of the DynamoDB lock table (the backend's `dynamodb_table`)."
  default     = "store-sales-tfstate-lock"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.lock_table_name))
    error_message = "The lock_table_name must be 3-255 letters, digits, underscores, hyphens and dots."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags on the bucket, the table and the key."
  default     = {}
}
