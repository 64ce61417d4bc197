terraform {
  required_version = ">= 1.0"

  required_providers {
    mlops = {
      source = "mlops/mlops"
    }
  }
}
