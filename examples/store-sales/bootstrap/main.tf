# The remote state of examples/store-sales: a private, versioned, KMS-encrypted bucket (the s3 module, which
# creates its key with rotation) and a DynamoDB lock table encrypted with the same key, with point-in-time
# recovery. Run once per AWS account, before the first `terraform init` of the stack.

module "state_bucket" {
  source = "../../../terraform/modules/s3"

  bucket_name = var.state_bucket_name

  # Old state versions are the undo history of every apply: keep the last 20 for at least 90 days.
  noncurrent_version_expiration_days = 90
  noncurrent_versions_to_keep        = 20

  tags = var.tags
}

resource "aws_dynamodb_table" "lock" {
  name                        = var.lock_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "LockID"
  deletion_protection_enabled = true
  tags                        = var.tags

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.state_bucket.kms_key_arn
  }
}
