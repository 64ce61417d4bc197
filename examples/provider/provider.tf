terraform {
  required_providers {
    mlops = {
      source = "mlops/mlops"
    }
  }
}

# Credentials and region come from the standard AWS chain (environment, profile, SSO, IMDS).
provider "mlops" {
  region = "eu-west-1"

  default_tags {
    tags = {
      team = "ml-platform"
    }
  }
}
