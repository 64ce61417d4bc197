variable "bucket_name" {
  type        = string
  description = "Globally unique name of the bucket (3-63 characters: lower-case letters, digits, dots and hyphens)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "The bucket_name must be 3-63 characters of lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete the bucket with every object version in it. Off by default: model artifacts outlive a stack."
  default     = false
}

variable "create_kms_key" {
  type        = bool
  description = "Create a customer managed key (with rotation) for this module. Set false to use kms_key_arn instead; a flag rather than a null check, so the key may be one created in the same configuration (unknown at plan time)."
  default     = true
}

variable "kms_key_arn" {
  type        = string
  description = "Used only with create_kms_key = false (then required): ARN of the KMS key that encrypts the objects (SSE-KMS)."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "The kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "kms_key_deletion_window_in_days" {
  type        = number
  description = "Waiting period before the key the module creates is deleted, 7-30 days (unused with kms_key_arn)."
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "The kms_key_deletion_window_in_days must be between 7 and 30."
  }
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days after which a superseded object version is deleted (the newest `noncurrent_versions_to_keep` versions are kept regardless)."
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "The noncurrent_version_expiration_days must be a whole number of at least 1."
  }
}

variable "noncurrent_versions_to_keep" {
  type        = number
  description = "How many superseded versions of each object are kept past `noncurrent_version_expiration_days` (0-100), e.g. to roll a model back."
  default     = 3

  validation {
    condition     = var.noncurrent_versions_to_keep >= 0 && var.noncurrent_versions_to_keep <= 100 && floor(var.noncurrent_versions_to_keep) == var.noncurrent_versions_to_keep
    error_message = "The noncurrent_versions_to_keep must be a whole number between 0 and 100."
  }
}

variable "noncurrent_version_transition_days" {
  type        = number
  description = "Days after which a superseded version moves to STANDARD_IA (at least 30, S3's minimum); null keeps it in STANDARD."
  default     = 30

  validation {
    condition     = var.noncurrent_version_transition_days == null || try(var.noncurrent_version_transition_days >= 30, false)
    error_message = "The noncurrent_version_transition_days must be null or at least 30."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  type        = number
  description = "Days after which incomplete multipart uploads are aborted and their parts deleted."
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1
    error_message = "The abort_incomplete_multipart_upload_days must be at least 1."
  }
}

variable "access_log_bucket" {
  type        = string
  description = "Name of an existing bucket that receives the server access logs of this one; null disables access logging."
  default     = null
}

variable "access_log_prefix" {
  type        = string
  description = "Key prefix of the access logs in `access_log_bucket`; defaults to `<bucket_name>/`."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource the module creates."
  default     = {}
}
