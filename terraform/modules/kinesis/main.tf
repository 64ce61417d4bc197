locals {
  create_kms_key = var.create_kms_key
  kms_key_arn    = local.create_kms_key ? module.kms_key[0].arn : var.kms_key_arn
}

# The key the module creates when create_kms_key is true (the shared key policy lives in ../kms-key).
module "kms_key" {
  source = "../kms-key"
  count  = local.create_kms_key ? 1 : 0

  alias                   = "kinesis-${var.name}"
  description             = "Encrypts the records of Kinesis stream ${var.name}"
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  tags                    = var.tags
}

resource "aws_kinesis_stream" "this" {
  name                      = var.name
  shard_count               = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  retention_period          = var.retention_period_hours
  shard_level_metrics       = var.shard_level_metrics
  enforce_consumer_deletion = var.enforce_consumer_deletion

  encryption_type = "KMS"
  kms_key_id      = local.kms_key_arn

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  tags = var.tags
}
