# terraform init -backend-config=vars/prod.backend.hcl  (bucket and table made by ../bootstrap)
bucket         = "store-sales-tfstate-123456789012"
key            = "store-sales/prod/terraform.tfstate"
region         = "eu-west-1"
dynamodb_table = "store-sales-tfstate-lock"
encrypt        = true
