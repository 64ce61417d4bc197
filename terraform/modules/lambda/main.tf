# One inference Lambda: the image built from `image_context` and pushed to ECR (mlops_ecr_image),
# and the pipeline around it (mlops_pipeline): execution role, log group, function, versions
# behind the `live` alias, and the Kinesis event source mapping on the alias.

locals {
  # Lambda names architectures differently from Docker platforms; null leaves the provider's
  # default (x86_64) and builds for the engine's own platform.
  architecture = var.platform == null ? null : (var.platform == "linux/arm64" ? "arm64" : "x86_64")

  # Empty collections are passed as null: the provider treats both alike, null keeps the plan
  # output short.
  build_args            = length(var.build_args) > 0 ? var.build_args : null
  image_tags            = length(var.image_tags) > 0 ? var.image_tags : null
  environment           = length(var.environment) > 0 ? var.environment : null
  sensitive_environment = length(var.sensitive_environment) > 0 ? var.sensitive_environment : null
  tags                  = length(var.tags) > 0 ? var.tags : null
  alarm_names           = length(var.alarm_names) > 0 ? var.alarm_names : null

  smoke_tests = var.smoke_test_payload == null ? [] : [{
    payload = var.smoke_test_payload
    expect  = var.smoke_test_expect
  }]
}

resource "mlops_ecr_image" "this" {
  repository_name = var.repository_name
  context         = var.image_context
  dockerfile      = var.dockerfile
  build_args      = local.build_args
  platform        = var.platform
  tags            = local.image_tags
  keep_previous   = var.keep_previous_images
}

resource "mlops_pipeline" "this" {
  name         = var.name
  image_uri    = mlops_ecr_image.this.image_uri
  architecture = local.architecture
  role_arn     = var.role_arn
  kms_key_arn  = var.kms_key_arn

  environment           = local.environment
  sensitive_environment = local.sensitive_environment

  memory_size          = var.memory_size
  timeout              = var.timeout
  reserved_concurrency = var.reserved_concurrency
  tracing              = var.tracing
  log_retention_days   = var.log_retention_days
  tags                 = local.tags

  source {
    stream_arn                         = var.source_stream_arn
    starting_position                  = var.starting_position
    batch_size                         = var.batch_size
    maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
    parallelization_factor             = var.parallelization_factor
    maximum_retry_attempts             = var.maximum_retry_attempts
    maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds
    bisect_batch_on_function_error     = var.bisect_batch_on_function_error
    report_batch_item_failures         = var.report_batch_item_failures
    on_failure_destination_arn         = var.on_failure_destination_arn
  }

  output {
    stream_arn = var.output_stream_arn
  }

  # MODEL_BUCKET, MODEL_PREFIX and RUN_ID: a new run ID publishes a new version.
  model {
    bucket = var.model_bucket
    prefix = var.model_prefix
    run_id = var.model_run_id
  }

  # Each new version is invoked with this payload before the alias moves to it.
  dynamic "smoke_test" {
    for_each = local.smoke_tests
    content {
      payload = smoke_test.value.payload
      expect  = smoke_test.value.expect
    }
  }

  rollout {
    strategy      = var.rollout_strategy
    canary_weight = var.canary_weight
    bake_seconds  = var.bake_seconds
    alarm_names   = local.alarm_names
  }
}
