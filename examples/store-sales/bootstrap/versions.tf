terraform {
  required_version = ">= 1.0"

  # Local state on purpose: this root creates the remote state's bucket and lock table. Keep its
  # terraform.tfstate safe (or migrate it into the bucket afterwards with a backend "s3" block and init).

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(var.tags, { managed-by = "terraform", purpose = "terraform-state" })
  }
}
