output "image_uri" {
  description = "Digest-pinned URI (`REPOSITORY@sha256:…`) of the image the function runs."
  value       = mlops_ecr_image.this.image_uri
}

output "image_digest" {
  description = "`sha256:…` digest of the pushed image."
  value       = mlops_ecr_image.this.image_digest
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = mlops_pipeline.this.id
}

output "function_arn" {
  description = "Unqualified ARN of the Lambda function."
  value       = mlops_pipeline.this.function_arn
}

output "alias_arn" {
  description = "ARN of the alias the event source mapping invokes (`live`)."
  value       = mlops_pipeline.this.alias_arn
}

output "live_version" {
  description = "Function version the alias points at."
  value       = mlops_pipeline.this.live_version
}

output "previous_version" {
  description = "Version the alias pointed at before the last deploy: the rollback target (null after the first deploy)."
  value       = mlops_pipeline.this.previous_version
}

output "role_arn" {
  description = "ARN of the execution role the function runs with: `role_arn` when given, else the role the module created."
  value       = mlops_pipeline.this.execution_role_arn
}

output "log_group_name" {
  description = "CloudWatch Logs group of the function (`/aws/lambda/<name>`)."
  value       = mlops_pipeline.this.log_group_name
}
