variable "name" {
  type        = string
  description = "Name of the stream (1-128 characters: letters, digits, underscores, hyphens and dots)."

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,128}$", var.name))
    error_message = "The name must be 1-128 characters of letters, digits, underscores, hyphens and dots."
  }
}

variable "stream_mode" {
  type        = string
  description = "Capacity mode: `PROVISIONED` (a fixed shard_count) or `ON_DEMAND` (AWS scales the shards; shard_count is ignored)."
  default     = "PROVISIONED"

  validation {
    condition     = contains(["PROVISIONED", "ON_DEMAND"], var.stream_mode)
    error_message = "The stream_mode must be PROVISIONED or ON_DEMAND."
  }
}

variable "shard_count" {
  type        = number
  description = "Number of shards in PROVISIONED mode (1-500; each takes 1 MB/s or 1000 records/s in and gives 2 MB/s out). Ignored in ON_DEMAND mode."
  default     = 1

  validation {
    condition     = var.shard_count >= 1 && var.shard_count <= 500 && floor(var.shard_count) == var.shard_count
    error_message = "The shard_count must be a whole number between 1 and 500."
  }
}

variable "retention_period_hours" {
  type        = number
  description = "How long records stay readable, 24-8760 hours (more than 24 h is billed as extended retention)."
  default     = 24

  validation {
    condition     = var.retention_period_hours >= 24 && var.retention_period_hours <= 8760 && floor(var.retention_period_hours) == var.retention_period_hours
    error_message = "The retention_period_hours must be a whole number between 24 and 8760."
  }
}

variable "create_kms_key" {
  type        = bool
  description = "Create a customer managed key (with rotation) for this module. Set false to use kms_key_arn instead; a flag rather than a null check, so the key may be one created in the same configuration (unknown at plan time)."
  default     = true
}

variable "kms_key_arn" {
  type        = string
  description = "Used only with create_kms_key = false (then required): ARN of the KMS key that encrypts the records. Producers need kms:GenerateDataKey and consumers kms:Decrypt on it."
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

variable "shard_level_metrics" {
  type        = list(string)
  description = "Enhanced (shard-level) CloudWatch metrics to enable, e.g. `IteratorAgeMilliseconds`; empty for none (they are billed per shard)."
  default     = ["IncomingBytes", "IncomingRecords", "IteratorAgeMilliseconds", "OutgoingBytes", "OutgoingRecords", "ReadProvisionedThroughputExceeded", "WriteProvisionedThroughputExceeded"]

  validation {
    condition = length([
      for m in var.shard_level_metrics : m
      if !contains(["IncomingBytes", "IncomingRecords", "IteratorAgeMilliseconds", "OutgoingBytes", "OutgoingRecords", "ReadProvisionedThroughputExceeded", "WriteProvisionedThroughputExceeded", "ALL"], m)
    ]) == 0
    error_message = "The shard_level_metrics may contain only IncomingBytes, IncomingRecords, IteratorAgeMilliseconds, OutgoingBytes, OutgoingRecords, ReadProvisionedThroughputExceeded, WriteProvisionedThroughputExceeded or ALL."
  }
}

variable "enforce_consumer_deletion" {
  type        = bool
  description = "Deregister enhanced fan-out consumers when the stream is destroyed (else the delete fails while consumers exist)."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource the module creates."
  default     = {}
}
