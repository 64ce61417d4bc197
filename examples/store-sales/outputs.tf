output "sales_events_stream_name" {
  description = "Source stream: producers put sales events here."
  value       = module.sales_events.name
}

output "predictions_stream_name" {
  description = "Output stream the inference function writes predictions to."
  value       = module.predictions.name
}

output "model_bucket" {
  description = "Bucket of the model artifacts (upload a run's model below model_prefix/<run_id>/)."
  value       = module.models.id
}

output "data_kms_key_arn" {
  description = "KMS key of the streams and the bucket (producers need kms:GenerateDataKey, consumers kms:Decrypt)."
  value       = module.data_key.arn
}

output "function_name" {
  description = "Name of the inference function."
  value       = module.inference.function_name
}

output "alias_arn" {
  description = "ARN of the live alias the stream mapping invokes."
  value       = module.inference.alias_arn
}

output "live_version" {
  description = "Function version the alias serves."
  value       = module.inference.live_version
}

output "image_uri" {
  description = "Digest-pinned image the function runs."
  value       = module.inference.image_uri
}

output "dead_letter_queue_url" {
  description = "URL of the queue that receives the metadata of batches given up on."
  value       = aws_sqs_queue.dead_letters.url
}

output "prefect_service_name" {
  description = "ECS service of the Prefect worker (null when enable_prefect_agent is false)."
  value       = one(module.prefect_worker[*].service_name)
}
