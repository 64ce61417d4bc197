output "state_bucket" {
  description = "Name of the state bucket: `bucket` in vars/<env>.backend.hcl."
  value       = module.state_bucket.id
}

output "lock_table" {
  description = "Name of the lock table: `dynamodb_table` in vars/<env>.backend.hcl."
  value       = aws_dynamodb_table.lock.name
}

output "kms_key_arn" {
  description = "KMS key of the bucket and the table (whoever runs Terraform needs Encrypt/Decrypt/GenerateDataKey on it)."
  value       = module.state_bucket.kms_key_arn
}

output "backend_config" {
  description = "Backend settings to paste into vars/<env>.backend.hcl (set `key` per environment)."
  value       = <<-EOT
    bucket         = "${module.state_bucket.id}"
    region         = "${var.aws_region}"
    dynamodb_table = "${aws_dynamodb_table.lock.name}"
    encrypt        = true
  EOT
}
