output "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in (created or given)."
  value       = local.cluster_arn
}

output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "ARN of the current task definition revision."
  value       = aws_ecs_task_definition.this.arn
}

output "image_uri" {
  description = "Image the task runs (built digest-pinned URI, or the given image_uri)."
  value       = local.image
}

output "execution_role_arn" {
  description = "ARN of the task execution role."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "ARN of the task role (attach what flow runs need with task_role_policy_arns)."
  value       = aws_iam_role.task.arn
}

output "security_group_id" {
  description = "ID of the task's security group (HTTPS egress only)."
  value       = aws_security_group.this.id
}

output "log_group_name" {
  description = "Name of the CloudWatch log group of the container."
  value       = aws_cloudwatch_log_group.this.name
}

output "api_url_parameter_arn" {
  description = "ARN of the SSM parameter holding PREFECT_API_URL."
  value       = local.api_url_parameter_arn
}

output "api_key_parameter_arn" {
  description = "ARN of the SSM parameter holding PREFECT_API_KEY."
  value       = local.api_key_parameter_arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key of the log group and created parameters."
  value       = local.kms_key_arn
}
