data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  create_kms_key = var.create_kms_key
  kms_key_arn    = local.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  account_root   = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
}

# Key policy of the key the module creates when create_kms_key is true: the account administers and uses it;
# IAM policies in the account decide which producers and consumers may (the default delegation, action by action).
data "aws_iam_policy_document" "kms" {
  count = local.create_kms_key ? 1 : 0

  # checkov:skip=CKV_AWS_109: key policy; its Resource "*" means this key only, and the account must keep PutKeyPolicy or the key becomes unmanageable
  # checkov:skip=CKV_AWS_111: key policy; its Resource "*" means this key only (a key policy cannot name the key it belongs to)
  # checkov:skip=CKV_AWS_356: key policy; its Resource "*" means this key only (a key policy cannot name the key it belongs to)
  statement {
    sid    = "AccountAdministersAndUsesTheKey"
    effect = "Allow"
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:DeleteAlias",
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListGrants",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    # In a key policy "*" is the key the policy is attached to; nothing else can be named here.
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }
}

resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "Encrypts the records of Kinesis stream ${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.kms[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  count = local.create_kms_key ? 1 : 0

  name          = "alias/kinesis-${replace(var.name, ".", "-")}" # aliases allow no dots
  target_key_id = aws_kms_key.this[0].key_id
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
