# The file set and content hash Docker would receive for this context.
data "mlops_build_context" "model" {
  context    = "${path.module}/model-service"
  dockerfile = "Dockerfile"
  build_args = {
    MODEL_VERSION = "2024-06-01"
  }
  platform = "linux/amd64"
}

output "model_context_hash" {
  description = "Changes exactly when what Docker would receive changes."
  value       = data.mlops_build_context.model.content_hash
}
