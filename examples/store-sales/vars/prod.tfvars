environment       = "prod"
aws_region        = "eu-west-1"
model_bucket_name = "store-sales-models-prod-123456789012"
model_run_id      = "2024-06-01-baseline"

shard_count            = 2
retention_period_hours = 48
batch_size             = 100

lambda_memory_size = 2048
log_retention_days = 731
tracing            = "Active"

# New model versions take 10% of the traffic for 10 minutes; an error alarm moves the alias back.
rollout_strategy = "canary"
canary_weight    = 0.1
bake_seconds     = 600

# Set to true with the VPC, private subnets and the SSM parameter ARNs of the Prefect connection:
enable_prefect_agent = false
# vpc_id                        = "vpc-0123456789abcdef0"
# subnet_ids                    = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
# prefect_api_url_parameter_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/prefect/store-sales/PREFECT_API_URL"
# prefect_api_key_parameter_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/prefect/store-sales/PREFECT_API_KEY"

tags = {
  cost-center = "ml-platform"
}
