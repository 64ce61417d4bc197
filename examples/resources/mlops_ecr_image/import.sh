# By digest (REPOSITORY@sha256:…) or by tag (REPOSITORY:TAG); a registry host prefix is allowed.
terraform import mlops_ecr_image.model store-sales/model@sha256:4b1c7e4f9d3e8b2a6f0c5d7e9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b
terraform import mlops_ecr_image.model store-sales/model:stg
