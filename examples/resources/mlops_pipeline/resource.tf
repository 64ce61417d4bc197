# Sales events → model Lambda (container image, model in S3) → predictions, deployed as versions
# behind the `live` alias. A new image or model run publishes a version, smoke-tests it, then
# moves the alias as a canary watched by an alarm; the mapping on the alias is never touched.
resource "mlops_ecr_image" "model" {
  repository_name = "store-sales/model"
  context         = "${path.module}/lambda"
  platform        = "linux/amd64"
}

resource "mlops_pipeline" "sales" {
  name      = "store-sales-predict"
  image_uri = mlops_ecr_image.model.image_uri # REPO@sha256:…, never a moving tag

  source {
    stream_arn        = "arn:aws:kinesis:eu-west-1:123456789012:stream/sales-events"
    starting_position = "LATEST"
    batch_size        = 200
    # Safe defaults: bisect on, 3 retries, records older than 1 h skipped, partial batch failures.
    on_failure_destination_arn = "arn:aws:sqs:eu-west-1:123456789012:sales-dead-letters"
  }

  output {
    stream_arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/sales-predictions"
  }

  # MODEL_BUCKET, MODEL_PREFIX and RUN_ID are part of each published version.
  model {
    bucket = "store-sales-models"
    prefix = "models/"
    run_id = var.run_id
  }

  memory_size        = 2048
  timeout            = 60
  log_retention_days = 30

  sensitive_environment = {
    PREFECT_API_KEY = var.prefect_api_key
  }

  smoke_test {
    payload = jsonencode({ Records = [] })
    expect  = jsonencode({ batchItemFailures = [] })
  }

  rollout {
    strategy      = "canary"
    canary_weight = 0.1
    bake_seconds  = 300
    alarm_names   = ["store-sales-predict-errors"]
  }
}

variable "run_id" {
  type        = string
  description = "Model run ID whose artifacts the new version loads."
}

variable "prefect_api_key" {
  type        = string
  description = "Prefect API key, passed as a sensitive environment variable."
  sensitive   = true
}
