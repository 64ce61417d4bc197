# The local demo: everything runs against the embedded local default (moto for AWS, the local
# Docker engine and registry), started by scripts/testenv.sh. See run.sh.
terraform {
  required_providers {
    mlops = {
      source = "mlops/mlops"
    }
  }
}

variable "aws_endpoint" {
  type        = string
  description = "Endpoint of the AWS emulator (moto)."
  default     = "http://127.0.0.1:5050"
}

provider "mlops" {
  region     = "us-east-1"
  access_key = "testing"
  secret_key = "testing"
  endpoints {
    sts = var.aws_endpoint
    ecr = var.aws_endpoint
  }
  ecr_registry_host = "127.0.0.1:5000"
}

data "mlops_build_context" "model" {
  context    = "${path.module}/app"
  list_files = true # for the "files" output below; leave it off for large contexts
  build_args = {
    MODEL_VERSION = "1"
  }
  platform = "linux/amd64"
}

# Build the image from app/ and push it: to moto's ECR (repository) and the local registry (bytes).
resource "mlops_ecr_image" "model" {
  repository_name = "demo/model"
  context         = "${path.module}/app"
  build_args = {
    MODEL_VERSION = "1"
  }
  platform = "linux/amd64"
  tags     = ["stg"]
}

output "image_uri" {
  description = "Digest-pinned: what a Lambda function should run."
  value       = mlops_ecr_image.model.image_uri
}

output "rebuild_reason" {
  value = mlops_ecr_image.model.rebuild_reason
}

output "content_hash" {
  value = data.mlops_build_context.model.content_hash
}

output "files" {
  value = data.mlops_build_context.model.files
}
