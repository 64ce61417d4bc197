# Defaults are the provider's own (docs/resources/pipeline.md, docs/resources/ecr_image.md); null
# where the provider's argument is optional without a default. Empty maps and lists mean "none".

# --- Function and image ---------------------------------------------------------------------------

variable "name" {
  type        = string
  description = "Name of the Lambda function (and of the role and log group the pipeline creates). Changing it replaces the function."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.name))
    error_message = "The name must be 1-64 letters, digits, `-` or `_`."
  }
}

variable "repository_name" {
  type        = string
  description = "ECR repository the image is pushed to; created when missing."

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.repository_name)) && length(var.repository_name) <= 256
    error_message = "The repository_name must be an ECR repository name: lowercase letters, digits, `.`, `_`, `-`, separated by `/`, at most 256 characters."
  }
}

variable "image_context" {
  type        = string
  description = "Path of the Docker build context directory (relative paths are relative to the working directory; use path.module or path.root)."

  validation {
    condition     = length(var.image_context) > 0
    error_message = "The image_context must be a directory path."
  }
}

variable "dockerfile" {
  type        = string
  description = "Dockerfile path relative to image_context."
  default     = "Dockerfile"

  validation {
    condition     = length(var.dockerfile) > 0 && substr(var.dockerfile, 0, 1) != "/"
    error_message = "The dockerfile must be a path relative to image_context."
  }
}

variable "build_args" {
  type        = map(string)
  description = "Docker build arguments (`--build-arg`), e.g. { BASE_IMAGE = \"...\" }."
  default     = {}
}

variable "platform" {
  type        = string
  description = "Target platform of the image, `linux/amd64` or `linux/arm64`; the function's architecture (x86_64 or arm64) follows it. Null builds for the Docker engine's own platform and runs on x86_64."
  default     = null

  validation {
    condition     = var.platform == null || contains(["linux/amd64", "linux/arm64"], coalesce(var.platform, "linux/amd64"))
    error_message = "The platform must be \"linux/amd64\" or \"linux/arm64\" (the two Lambda supports)."
  }
}

variable "image_tags" {
  type        = list(string)
  description = "Extra tags pushed for the same digest (e.g. [\"stg\"]); the content tag is always pushed."
  default     = []

  validation {
    condition     = alltrue([for t in var.image_tags : can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", t))])
    error_message = "Each image tag must be 1-128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`."
  }
}

variable "keep_previous_images" {
  type        = number
  description = "How many superseded images are kept after a new one is pushed (newest first), so the alias can roll back to the previous version."
  default     = 2

  validation {
    condition     = var.keep_previous_images >= 0 && var.keep_previous_images <= 100 && floor(var.keep_previous_images) == var.keep_previous_images
    error_message = "The keep_previous_images must be a whole number from 0 to 100."
  }
}

# --- Streams --------------------------------------------------------------------------------------

variable "source_stream_arn" {
  type        = string
  description = "ARN of the Kinesis stream the function reads."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[A-Za-z0-9_.-]{1,128}$", var.source_stream_arn))
    error_message = "The source_stream_arn must be a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)."
  }
}

variable "output_stream_arn" {
  type        = string
  description = "ARN of the Kinesis stream predictions are written to (the function gets its name as PREDICTIONS_STREAM_NAME). Must differ from the source stream."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[A-Za-z0-9_.-]{1,128}$", var.output_stream_arn))
    error_message = "The output_stream_arn must be a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)."
  }
}

# --- Model ----------------------------------------------------------------------------------------

variable "model_bucket" {
  type        = string
  description = "S3 bucket of the model artifacts (MODEL_BUCKET); the role may read it only below model_prefix."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.model_bucket))
    error_message = "The model_bucket must be an S3 bucket name (3-63 lowercase letters, digits, `.` or `-`)."
  }
}

variable "model_prefix" {
  type        = string
  description = "Key prefix of the model artifacts (MODEL_PREFIX), e.g. \"models/store-sales/\"; the model of a run is at <prefix><run_id>/model.json. Null: the bucket's root."
  default     = null

  validation {
    condition     = var.model_prefix == null || !can(regex("^/|\\*", coalesce(var.model_prefix, "x")))
    error_message = "The model_prefix must not start with `/` or contain wildcards."
  }
}

variable "model_run_id" {
  type        = string
  description = "Run ID of the model to serve (RUN_ID). A change publishes a new function version and moves the alias to it."

  validation {
    condition     = can(regex("^[A-Za-z0-9._:-]{1,128}$", var.model_run_id))
    error_message = "The model_run_id must be 1-128 letters, digits, `.`, `_`, `:` or `-`."
  }
}

# --- Event source mapping -------------------------------------------------------------------------

variable "batch_size" {
  type        = number
  description = "Records per invocation, 1-10000."
  default     = 100

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "The batch_size must be a whole number from 1 to 10000."
  }
}

variable "starting_position" {
  type        = string
  description = "Where a new mapping starts reading: `LATEST` or `TRIM_HORIZON`. Changing it replaces the mapping."
  default     = "LATEST"

  validation {
    condition     = contains(["LATEST", "TRIM_HORIZON"], var.starting_position)
    error_message = "The starting_position must be \"LATEST\" or \"TRIM_HORIZON\"."
  }
}

variable "maximum_batching_window_in_seconds" {
  type        = number
  description = "How long records are gathered before an invocation, 0-300 seconds."
  default     = 0

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300 && floor(var.maximum_batching_window_in_seconds) == var.maximum_batching_window_in_seconds
    error_message = "The maximum_batching_window_in_seconds must be a whole number from 0 to 300."
  }
}

variable "parallelization_factor" {
  type        = number
  description = "Concurrent batches per shard, 1-10 (order is kept per partition key)."
  default     = 1

  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10 && floor(var.parallelization_factor) == var.parallelization_factor
    error_message = "The parallelization_factor must be a whole number from 1 to 10."
  }
}

variable "maximum_retry_attempts" {
  type        = number
  description = "Retries of a failing batch, -1 (until the records expire) to 10000. The default 3 keeps a poison record from stalling the shard."
  default     = 3

  validation {
    condition     = var.maximum_retry_attempts >= -1 && var.maximum_retry_attempts <= 10000 && floor(var.maximum_retry_attempts) == var.maximum_retry_attempts
    error_message = "The maximum_retry_attempts must be a whole number from -1 to 10000."
  }
}

variable "maximum_record_age_in_seconds" {
  type        = number
  description = "Records older than this are skipped: -1 (never) or 60-604800 seconds."
  default     = 3600

  validation {
    condition     = floor(var.maximum_record_age_in_seconds) == var.maximum_record_age_in_seconds && (var.maximum_record_age_in_seconds == -1 || (var.maximum_record_age_in_seconds >= 60 && var.maximum_record_age_in_seconds <= 604800))
    error_message = "The maximum_record_age_in_seconds must be -1 or a whole number from 60 to 604800."
  }
}

variable "bisect_batch_on_function_error" {
  type        = bool
  description = "Split a failing batch in two to isolate a poison record."
  default     = true
}

variable "report_batch_item_failures" {
  type        = bool
  description = "The handler returns `batchItemFailures`, and only those records are retried."
  default     = true
}

variable "on_failure_destination_arn" {
  type        = string
  description = "SQS queue or SNS topic ARN that receives the metadata of batches given up on. Null: none."
  default     = null

  validation {
    condition     = var.on_failure_destination_arn == null || can(regex("^arn:aws[a-z-]*:(sqs|sns):[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$", coalesce(var.on_failure_destination_arn, "x")))
    error_message = "The on_failure_destination_arn must be an SQS queue or SNS topic ARN."
  }
}

# --- Function settings ----------------------------------------------------------------------------

variable "memory_size" {
  type        = number
  description = "Memory of the function in MB, 128-10240."
  default     = 1024

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "The memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "timeout" {
  type        = number
  description = "Seconds an invocation may take, 1-900."
  default     = 60

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "The timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "environment" {
  type        = map(string)
  description = "Extra environment variables. MODEL_BUCKET, MODEL_PREFIX, RUN_ID, PREDICTIONS_STREAM_NAME and AWS_* are set by the pipeline and refused here."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Za-z][A-Za-z0-9_]*$", k)) && !contains(["MODEL_BUCKET", "MODEL_PREFIX", "RUN_ID", "PREDICTIONS_STREAM_NAME"], k) && substr(k, 0, 4) != "AWS_"])
    error_message = "Environment variable names must be letters, digits and `_`, start with a letter, and not be one the pipeline or Lambda sets (MODEL_BUCKET, MODEL_PREFIX, RUN_ID, PREDICTIONS_STREAM_NAME, AWS_*)."
  }
}

variable "sensitive_environment" {
  type        = map(string)
  description = "Environment variables whose values never appear in plan output or logs (e.g. API keys). Names must not repeat those of `environment`."
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for k in keys(var.sensitive_environment) : can(regex("^[A-Za-z][A-Za-z0-9_]*$", k)) && !contains(["MODEL_BUCKET", "MODEL_PREFIX", "RUN_ID", "PREDICTIONS_STREAM_NAME"], k) && substr(k, 0, 4) != "AWS_"])
    error_message = "Sensitive environment variable names must be letters, digits and `_`, start with a letter, and not be one the pipeline or Lambda sets."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's log group in days (a value CloudWatch Logs accepts)."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "reserved_concurrency" {
  type        = number
  description = "Reserved concurrent executions of the function. Null: unreserved."
  default     = null

  validation {
    condition     = var.reserved_concurrency == null || (coalesce(var.reserved_concurrency, 0) >= 0 && floor(coalesce(var.reserved_concurrency, 0)) == coalesce(var.reserved_concurrency, 0))
    error_message = "The reserved_concurrency must be null or a whole number >= 0."
  }
}

variable "tracing" {
  type        = string
  description = "X-Ray tracing mode: `PassThrough` or `Active` (adds the X-Ray write permissions to the role)."
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing)
    error_message = "The tracing must be \"PassThrough\" or \"Active\"."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key the model objects or streams are encrypted with; the role gets kms:Decrypt on exactly this key, and kms:GenerateDataKey to write to an encrypted output stream. Null: none."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+$", coalesce(var.kms_key_arn, "x")))
    error_message = "The kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "role_arn" {
  type        = string
  description = "Execution role to use. Null: the pipeline creates one with a least-privilege inline policy (and deletes it on destroy)."
  default     = null

  validation {
    condition     = var.role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", coalesce(var.role_arn, "x")))
    error_message = "The role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags of the role, log group and function, merged over the provider's default_tags."
  default     = {}
}

# --- Deploys --------------------------------------------------------------------------------------

variable "smoke_test_payload" {
  type        = string
  description = "JSON event each new version is invoked with before the alias moves to it, e.g. jsonencode({ Records = [] }). Null: no smoke test."
  default     = null

  validation {
    condition     = var.smoke_test_payload == null || can(jsondecode(coalesce(var.smoke_test_payload, "null")))
    error_message = "The smoke_test_payload must be valid JSON."
  }
}

variable "smoke_test_expect" {
  type        = string
  description = "JSON value the smoke test's response must contain (objects: these keys with these values). Null: any successful invocation passes. Used only with smoke_test_payload."
  default     = null

  validation {
    condition     = var.smoke_test_expect == null || can(jsondecode(coalesce(var.smoke_test_expect, "null")))
    error_message = "The smoke_test_expect must be valid JSON."
  }
}

variable "rollout_strategy" {
  type        = string
  description = "How the alias moves to a new version: `all_at_once` or `canary` (needs canary_weight and bake_seconds)."
  default     = "all_at_once"

  validation {
    condition     = contains(["all_at_once", "canary"], var.rollout_strategy)
    error_message = "The rollout_strategy must be \"all_at_once\" or \"canary\"."
  }
}

variable "canary_weight" {
  type        = number
  description = "Share of invocations the new version gets during a canary, strictly between 0 and 1 (e.g. 0.1). Required for `canary`."
  default     = null

  validation {
    condition     = var.canary_weight == null || (coalesce(var.canary_weight, 0.5) > 0 && coalesce(var.canary_weight, 0.5) < 1)
    error_message = "The canary_weight must be strictly between 0 and 1."
  }
}

variable "bake_seconds" {
  type        = number
  description = "How long a canary runs while alarm_names are watched, 0-86400 seconds. Required for `canary`."
  default     = null

  validation {
    condition     = var.bake_seconds == null || (coalesce(var.bake_seconds, 0) >= 0 && coalesce(var.bake_seconds, 0) <= 86400 && floor(coalesce(var.bake_seconds, 0)) == coalesce(var.bake_seconds, 0))
    error_message = "The bake_seconds must be a whole number from 0 to 86400."
  }
}

variable "alarm_names" {
  type        = list(string)
  description = "CloudWatch alarms watched during a canary; one in ALARM moves the alias back and fails the apply."
  default     = []

  validation {
    condition     = alltrue([for a in var.alarm_names : length(a) > 0 && length(a) <= 255])
    error_message = "Each alarm name must be 1-255 characters."
  }
}
