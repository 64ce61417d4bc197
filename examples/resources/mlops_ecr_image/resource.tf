# Build the model-serving image and push it to ECR. It is rebuilt exactly when what Docker would
# receive changes: the model file, requirements.txt, the code, the Dockerfile or the build args.
resource "mlops_ecr_image" "model" {
  repository_name = "store-sales/model"
  context         = "${path.module}/model-service"
  platform        = "linux/amd64"

  build_args = {
    MODEL_VERSION = var.model_version
  }

  labels = {
    "org.opencontainers.image.source" = "https://github.com/example/store-sales"
  }

  # Mutable convenience tags; Lambda should use the digest-pinned image_uri.
  tags = ["stg"]

  # Superseded images kept for Lambda versions and rollback (default 2).
  keep_previous = 3

  image_tag_mutability = "IMMUTABLE"
  scan_on_push         = true

  timeouts {
    create = "30m"
  }
}

variable "model_version" {
  type        = string
  description = "Model version baked into the image as a build argument."
  default     = "2024-06-01"
}

output "image_uri" {
  # REPOSITORY_URL@sha256:…, what aws_lambda_function.image_uri should get.
  description = "Digest-pinned URI of the pushed image."
  value       = mlops_ecr_image.model.image_uri
}
