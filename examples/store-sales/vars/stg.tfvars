environment       = "stg"
aws_region        = "eu-west-1"
model_bucket_name = "store-sales-models-stg-123456789012"
model_run_id      = "2024-06-01-baseline"

shard_count            = 2
retention_period_hours = 48
batch_size             = 100

lambda_memory_size = 1024
log_retention_days = 365
tracing            = "PassThrough"
rollout_strategy   = "all_at_once"

enable_prefect_agent = false

tags = {
  cost-center = "ml-platform"
}
