terraform {
  required_version = ">= 1.0"

  # Partial configuration: bucket, key, region and lock table come from vars/<env>.backend.hcl
  # (terraform init -backend-config=vars/stg.backend.hcl). bootstrap/ creates the bucket and the table.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
    mlops = {
      source  = "mlops/mlops"
      version = ">= 0.1.0"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.tags
  }
}

provider "mlops" {
  region = var.aws_region

  default_tags {
    tags = local.tags
  }
}
