# store-sales: sales events (Kinesis) -> inference Lambda (container image, model from S3) -> predictions (Kinesis).

locals {
  name          = "${var.name_prefix}-${var.environment}"
  function_name = "${local.name}-inference"

  tags = merge(var.tags, {
    project     = var.name_prefix
    environment = var.environment
    managed-by  = "terraform"
  })
}

# ---------------------------------------------------------------------------------------------------------------
# One customer managed key for the data of this stack (both streams and the model bucket), so the function needs
# permissions on one key only.
# ---------------------------------------------------------------------------------------------------------------

module "data_key" {
  source = "../../terraform/modules/kms-key"

  alias       = "${local.name}-data"
  description = "Encrypts the streams and model artifacts of ${local.name}"
  tags        = local.tags
}

# ---------------------------------------------------------------------------------------------------------------
# Streams and model bucket
# ---------------------------------------------------------------------------------------------------------------

module "sales_events" {
  source = "../../terraform/modules/kinesis"

  name                   = "${local.name}-sales-events"
  stream_mode            = "PROVISIONED"
  shard_count            = var.shard_count
  retention_period_hours = var.retention_period_hours
  create_kms_key         = false
  kms_key_arn            = module.data_key.arn
  tags                   = local.tags
}

module "predictions" {
  source = "../../terraform/modules/kinesis"

  name                   = "${local.name}-predictions"
  stream_mode            = "PROVISIONED"
  shard_count            = var.shard_count
  retention_period_hours = var.retention_period_hours
  create_kms_key         = false
  kms_key_arn            = module.data_key.arn
  tags                   = local.tags
}

module "models" {
  source = "../../terraform/modules/s3"

  bucket_name    = var.model_bucket_name
  create_kms_key = false
  kms_key_arn    = module.data_key.arn
  tags           = local.tags
}

# Metadata of batches the mapping gives up on (after retries / record age) lands here instead of being lost.
# SSE-SQS: the pipeline's role can send to it without a KMS grant.
resource "aws_sqs_queue" "dead_letters" {
  name                      = "${local.name}-inference-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

# ---------------------------------------------------------------------------------------------------------------
# Inference function: image built from ./lambda, fed by sales_events, writing to predictions
# ---------------------------------------------------------------------------------------------------------------

# Watched during canary rollouts: any error of the function moves the alias back.
resource "aws_cloudwatch_metric_alarm" "inference_errors" {
  alarm_name          = "${local.function_name}-errors"
  alarm_description   = "Errors of ${local.function_name}; rolls a canary back"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = local.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  tags                = local.tags
}

module "inference" {
  source = "../../terraform/modules/lambda"

  name            = local.function_name
  repository_name = "${var.name_prefix}/inference-${var.environment}"
  image_context   = "${path.module}/lambda"
  platform        = "linux/amd64"
  image_tags      = [var.environment]

  source_stream_arn          = module.sales_events.arn
  output_stream_arn          = module.predictions.arn
  batch_size                 = var.batch_size
  starting_position          = "LATEST"
  on_failure_destination_arn = aws_sqs_queue.dead_letters.arn

  model_bucket = module.models.id
  model_prefix = var.model_prefix
  model_run_id = var.model_run_id
  kms_key_arn  = module.data_key.arn

  memory_size        = var.lambda_memory_size
  log_retention_days = var.log_retention_days
  tracing            = var.tracing

  rollout_strategy = var.rollout_strategy
  canary_weight    = var.rollout_strategy == "canary" ? var.canary_weight : null
  bake_seconds     = var.rollout_strategy == "canary" ? var.bake_seconds : null
  alarm_names      = var.rollout_strategy == "canary" ? [aws_cloudwatch_metric_alarm.inference_errors.alarm_name] : []

  tags = local.tags
}

# ---------------------------------------------------------------------------------------------------------------
# Optional: a Prefect worker on Fargate for the training flows
# ---------------------------------------------------------------------------------------------------------------

module "prefect_worker" {
  source = "../../terraform/modules/prefect-agent"
  count  = var.enable_prefect_agent ? 1 : 0

  name           = "${local.name}-prefect"
  mode           = "worker"
  work_pool_name = var.prefect_work_pool_name

  vpc_id     = var.vpc_id
  subnet_ids = var.subnet_ids

  api_url_parameter_arn = var.prefect_api_url_parameter_arn
  api_key_parameter_arn = var.prefect_api_key_parameter_arn

  tags = local.tags
}
