# The local demo: the lambda module of this repository on the embedded local default — every AWS
# endpoint is the AWS emulator (moto), images go to the local registry, the Docker engine is the
# local one (all started by `scripts/testenv.sh up`). `run.sh` seeds the streams and the model,
# then applies this root; see README.md.
terraform {
  required_version = ">= 1.0"

  required_providers {
    mlops = {
      source = "mlops/mlops"
    }
  }
}

provider "mlops" {
  region     = "us-east-1"
  access_key = "testing"
  secret_key = "testing"

  endpoints {
    sts        = var.aws_endpoint
    ecr        = var.aws_endpoint
    lambda     = var.aws_endpoint
    iam        = var.aws_endpoint
    logs       = var.aws_endpoint
    cloudwatch = var.aws_endpoint
    kinesis    = var.aws_endpoint
    s3         = var.aws_endpoint
  }

  # Image bytes go to the local registry; moto's ECR holds only the repository.
  ecr_registry_host = var.registry
}

module "predict" {
  source = "../../terraform/modules/lambda"

  name            = var.name
  repository_name = var.repository_name
  image_context   = "${path.root}/${var.image_context}"
  platform        = "linux/amd64"
  image_tags      = ["local"]

  # No image can be pulled here: the Dockerfile's BASE_IMAGE is the Lambda-compatible Python base
  # made locally by scripts/base-image.sh.
  build_args = {
    BASE_IMAGE = var.base_image
  }

  source_stream_arn = var.source_stream_arn
  output_stream_arn = var.output_stream_arn
  # The streams outlive each demo run: a new mapping reads only what is sent after it exists.
  starting_position = "LATEST"
  batch_size        = var.batch_size

  # A malformed event is reported by the handler (batchItemFailures); the batch is bisected down
  # to it, it is retried twice, then its invocation record goes to the failure queue.
  report_batch_item_failures     = true
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = 2
  on_failure_destination_arn     = var.failure_queue_arn

  model_bucket = var.model_bucket
  model_prefix = var.model_prefix
  model_run_id = var.model_run_id

  memory_size        = 512
  timeout            = 30
  log_retention_days = 7

  environment = {
    LOG_LEVEL = "INFO"
  }

  # No smoke test here. moto cannot run image functions: an invoke only returns the next canned
  # result from one queue shared by everything talking to this moto (FACTS.md), so a smoke test
  # would prove nothing and could take a result another test queued for its own deploy. The
  # store-sales root configures the smoke test against real Lambda.

  tags = {
    environment = "local"
  }
}
