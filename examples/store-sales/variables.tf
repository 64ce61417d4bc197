variable "aws_region" {
  type        = string
  description = "AWS region of the whole stack."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "The aws_region must be a region name such as eu-west-1."
  }
}

variable "environment" {
  type        = string
  description = "Deployment environment: `stg` or `prod`; part of every name."

  validation {
    condition     = contains(["stg", "prod"], var.environment)
    error_message = "The environment must be stg or prod."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name."
  default     = "store-sales"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "The name_prefix must be 2-21 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "shard_count" {
  type        = number
  description = "Shards of the source and the output stream."
  default     = 2

  validation {
    condition     = var.shard_count >= 1 && var.shard_count <= 500 && floor(var.shard_count) == var.shard_count
    error_message = "The shard_count must be a whole number between 1 and 500."
  }
}

variable "retention_period_hours" {
  type        = number
  description = "Retention of the source and the output stream in hours (24-8760)."
  default     = 48

  validation {
    condition     = var.retention_period_hours >= 24 && var.retention_period_hours <= 8760 && floor(var.retention_period_hours) == var.retention_period_hours
    error_message = "The retention_period_hours must be a whole number between 24 and 8760."
  }
}

variable "model_bucket_name" {
  type        = string
  description = "Globally unique name of the model-artifact bucket."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.model_bucket_name))
    error_message = "The model_bucket_name must be an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)."
  }
}

variable "model_prefix" {
  type        = string
  description = "Key prefix of the model artifacts in the bucket; a run's model is at <prefix><run_id>/."
  default     = "models/store-sales/"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.()'-]+(/[A-Za-z0-9!_.()'-]+)*/$", var.model_prefix))
    error_message = "The model_prefix must be a relative key prefix ending in / (e.g. models/store-sales/)."
  }
}

variable "model_run_id" {
  type        = string
  description = "Run ID of the trained model to serve (e.g. the MLflow run ID); changing it rolls out a new function version."

  validation {
    condition     = can(regex("^[A-Za-z0-9._:-]{1,128}$", var.model_run_id))
    error_message = "The model_run_id must be 1-128 letters, digits, dots, underscores, colons or hyphens."
  }
}

variable "batch_size" {
  type        = number
  description = "Records per Lambda invocation from the source stream (1-10000)."
  default     = 100

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "The batch_size must be a whole number between 1 and 10000."
  }
}

variable "lambda_memory_size" {
  type        = number
  description = "Memory of the inference function in MB (128-10240)."
  default     = 1024

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240 && floor(var.lambda_memory_size) == var.lambda_memory_size
    error_message = "The lambda_memory_size must be a whole number between 128 and 10240."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's log group in days (a value CloudWatch Logs accepts)."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be a retention period CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "tracing" {
  type        = string
  description = "X-Ray tracing of the function: `PassThrough` or `Active`."
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing)
    error_message = "The tracing must be PassThrough or Active."
  }
}

variable "rollout_strategy" {
  type        = string
  description = "How a new function version goes live: `all_at_once`, or `canary` watched by the function's error alarm."
  default     = "all_at_once"

  validation {
    condition     = contains(["all_at_once", "canary"], var.rollout_strategy)
    error_message = "The rollout_strategy must be all_at_once or canary."
  }
}

variable "canary_weight" {
  type        = number
  description = "Share of invocations the new version gets during a canary, strictly between 0 and 1."
  default     = 0.1

  validation {
    condition     = var.canary_weight > 0 && var.canary_weight < 1
    error_message = "The canary_weight must be strictly between 0 and 1."
  }
}

variable "bake_seconds" {
  type        = number
  description = "How long a canary runs while the error alarm is watched (0-86400 s)."
  default     = 600

  validation {
    condition     = var.bake_seconds >= 0 && var.bake_seconds <= 86400 && floor(var.bake_seconds) == var.bake_seconds
    error_message = "The bake_seconds must be a whole number between 0 and 86400."
  }
}

variable "enable_prefect_agent" {
  type        = bool
  description = "Run a Prefect worker on ECS Fargate (for the training flows); needs vpc_id, subnet_ids and the two Prefect parameter ARNs."
  default     = false
}

variable "vpc_id" {
  type        = string
  description = "VPC of the Prefect worker (used only with enable_prefect_agent)."
  default     = null
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the Prefect worker, with HTTPS egress (used only with enable_prefect_agent)."
  default     = []
}

variable "prefect_work_pool_name" {
  type        = string
  description = "Work pool the Prefect worker polls."
  default     = "store-sales"

  validation {
    condition     = length(var.prefect_work_pool_name) > 0
    error_message = "The prefect_work_pool_name must not be empty."
  }
}

variable "prefect_api_url_parameter_arn" {
  type        = string
  description = "ARN of the SSM SecureString parameter holding PREFECT_API_URL (created outside Terraform so no secret reaches the state)."
  default     = null

  validation {
    condition     = var.prefect_api_url_parameter_arn == null || can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+$", var.prefect_api_url_parameter_arn))
    error_message = "The prefect_api_url_parameter_arn must be null or an SSM parameter ARN."
  }
}

variable "prefect_api_key_parameter_arn" {
  type        = string
  description = "ARN of the SSM SecureString parameter holding PREFECT_API_KEY (created outside Terraform so no secret reaches the state)."
  default     = null

  validation {
    condition     = var.prefect_api_key_parameter_arn == null || can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+$", var.prefect_api_key_parameter_arn))
    error_message = "The prefect_api_key_parameter_arn must be null or an SSM parameter ARN."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags on every resource (project and environment are always set)."
  default     = {}
}
