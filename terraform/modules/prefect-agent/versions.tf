terraform {
  required_version = ">= 1.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
    # Builds and pushes the agent image when build_context is set (mlops_ecr_image).
    mlops = {
      source  = "mlops/mlops"
      version = ">= 0.1.0"
    }
  }
}
