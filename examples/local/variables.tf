variable "aws_endpoint" {
  type        = string
  description = "Endpoint of the AWS emulator (moto) every AWS service is pointed at."
  default     = "http://127.0.0.1:5050"
}

variable "registry" {
  type        = string
  description = "host:port of the local OCI registry that receives the image bytes."
  default     = "127.0.0.1:5000"
}

variable "name" {
  type        = string
  description = "Name of the inference function."
}

variable "repository_name" {
  type        = string
  description = "ECR repository of the inference image."
}

variable "image_context" {
  type        = string
  description = "Build context of the inference image, relative to this directory."
  default     = "../store-sales/lambda"
}

variable "base_image" {
  type        = string
  description = "Lambda-compatible Python base image in the local Docker engine (scripts/base-image.sh --print-name)."
  default     = "mlops-local/lambda-python:3.11"
}

variable "source_stream_arn" {
  type        = string
  description = "Kinesis stream of sales events (created in moto by run.sh)."
}

variable "output_stream_arn" {
  type        = string
  description = "Kinesis stream predictions are written to (created in moto by run.sh)."
}

variable "batch_size" {
  type        = number
  description = "Records per invocation."
  default     = 100
}

variable "model_bucket" {
  type        = string
  description = "S3 bucket of the trained models (created in moto by run.sh)."
}

variable "model_prefix" {
  type        = string
  description = "Key prefix of the models: the model of a run is at <prefix><run_id>/model.json."
  default     = "models/store-sales/"
}

variable "model_run_id" {
  type        = string
  description = "Training run whose model the function serves; changing it deploys a new version."
}

variable "failure_queue_arn" {
  type        = string
  description = "SQS queue that receives the invocation record of every batch the mapping gives up on (mlops-local delivers it)."
}
