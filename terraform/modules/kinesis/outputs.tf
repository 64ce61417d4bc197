output "arn" {
  description = "ARN of the stream."
  value       = aws_kinesis_stream.this.arn
}

output "name" {
  description = "Name of the stream."
  value       = aws_kinesis_stream.this.name
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the records (the given one or the one the module created)."
  value       = local.kms_key_arn
}
