output "image_uri" {
  description = "Digest-pinned image the function runs."
  value       = module.predict.image_uri
}

output "function_name" {
  description = "Name of the inference function."
  value       = module.predict.function_name
}

output "alias_arn" {
  description = "Alias the event source mapping invokes."
  value       = module.predict.alias_arn
}

output "live_version" {
  description = "Version serving traffic."
  value       = module.predict.live_version
}

output "previous_version" {
  description = "Version served before the last deploy (the rollback target)."
  value       = module.predict.previous_version
}

output "role_arn" {
  description = "Execution role of the function."
  value       = module.predict.role_arn
}

output "log_group_name" {
  description = "Log group of the function."
  value       = module.predict.log_group_name
}
