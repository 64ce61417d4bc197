variable "name" {
  type        = string
  description = "Name of the service; also names the cluster (when created), roles, log group, security group and parameters (1-32 characters: letters, digits, hyphens)."

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,31}$", var.name))
    error_message = "The name must be 1-32 characters of letters, digits and hyphens, starting with a letter."
  }
}

variable "mode" {
  type        = string
  description = "What the container runs: `worker` (`prefect worker start` polling a work pool, current Prefect) or `agent` (`prefect agent start` polling a work queue, Prefect 2 before workers)."
  default     = "worker"

  validation {
    condition     = contains(["worker", "agent"], var.mode)
    error_message = "The mode must be worker or agent."
  }
}

variable "work_pool_name" {
  type        = string
  description = "Work pool the worker polls (mode = worker); the pool is created in Prefect if missing."
  default     = "default"

  validation {
    condition     = length(var.work_pool_name) > 0
    error_message = "The work_pool_name must not be empty."
  }
}

variable "worker_type" {
  type        = string
  description = "Worker type passed to `prefect worker start --type` (mode = worker), e.g. `process` runs flow runs inside this task."
  default     = "process"

  validation {
    condition     = can(regex("^[a-z0-9-]+$", var.worker_type))
    error_message = "The worker_type must be lower-case letters, digits and hyphens (e.g. process)."
  }
}

variable "work_queue_name" {
  type        = string
  description = "Work queue the agent polls (mode = agent); with mode = worker, restricts the worker to this queue of the pool when set."
  default     = "default"

  validation {
    condition     = length(var.work_queue_name) > 0
    error_message = "The work_queue_name must not be empty."
  }
}

variable "image_uri" {
  type        = string
  description = "Container image to run when the module does not build one (build_context = null). Images in private ECR repositories need pull permissions added to the execution role by the caller; prefer build_context for those."
  default     = "prefecthq/prefect:2-python3.11"

  validation {
    condition     = length(var.image_uri) > 0
    error_message = "The image_uri must not be empty."
  }
}

variable "build_context" {
  type        = string
  description = "Directory with a Dockerfile to build the image from (with mlops_ecr_image) and push to ECR repository build_repository_name; the built image then replaces image_uri. Null runs image_uri."
  default     = null
}

variable "build_repository_name" {
  type        = string
  description = "ECR repository for the built image (created when missing); defaults to `prefect/<name>`. Used only with build_context."
  default     = null

  validation {
    condition     = var.build_repository_name == null || can(regex("^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$", var.build_repository_name))
    error_message = "The build_repository_name must be a valid ECR repository name (lower-case, path components separated by /)."
  }
}

variable "build_dockerfile" {
  type        = string
  description = "Dockerfile path relative to build_context."
  default     = "Dockerfile"
}

variable "build_args" {
  type        = map(string)
  description = "Docker build arguments for the built image."
  default     = {}
}

variable "cpu_architecture" {
  type        = string
  description = "CPU architecture of the task (and of the built image): `X86_64` or `ARM64`."
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "The cpu_architecture must be X86_64 or ARM64."
  }
}

variable "create_parameters" {
  type        = bool
  description = "Create the two SSM SecureString parameters from api_url and api_key (their values then sit in the Terraform state). False (default): use api_url_parameter_arn and api_key_parameter_arn, created outside Terraform."
  default     = false
}

variable "api_url_parameter_arn" {
  type        = string
  description = "ARN of an existing SSM SecureString parameter holding PREFECT_API_URL; required unless create_parameters is true."
  default     = null

  validation {
    condition     = var.api_url_parameter_arn == null || can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+$", var.api_url_parameter_arn))
    error_message = "The api_url_parameter_arn must be null or an SSM parameter ARN."
  }
}

variable "api_key_parameter_arn" {
  type        = string
  description = "ARN of an existing SSM SecureString parameter holding PREFECT_API_KEY; required unless create_parameters is true."
  default     = null

  validation {
    condition     = var.api_key_parameter_arn == null || can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+$", var.api_key_parameter_arn))
    error_message = "The api_key_parameter_arn must be null or an SSM parameter ARN."
  }
}

variable "api_url" {
  type        = string
  description = "PREFECT_API_URL (e.g. https://api.prefect.cloud/api/accounts/ACCOUNT/workspaces/WORKSPACE), stored as a SecureString parameter; required with create_parameters = true."
  default     = null
  sensitive   = true

  validation {
    condition     = var.api_url == null || can(regex("^https://", var.api_url))
    error_message = "The api_url must be null or an https:// URL (the task may only reach port 443)."
  }
}

variable "api_key" {
  type        = string
  description = "PREFECT_API_KEY, stored as a SecureString parameter; required with create_parameters = true. It ends up in the Terraform state: prefer api_key_parameter_arn."
  default     = null
  sensitive   = true
}

variable "parameter_name_prefix" {
  type        = string
  description = "Path under which the created parameters are named (`<prefix>/PREFECT_API_URL`, `<prefix>/PREFECT_API_KEY`); defaults to `/prefect/<name>`."
  default     = null

  validation {
    condition     = var.parameter_name_prefix == null || can(regex("^(/[a-zA-Z0-9_.-]+)+$", var.parameter_name_prefix))
    error_message = "The parameter_name_prefix must be null or a path like /prefect/agent (no trailing slash)."
  }
}

variable "parameters_kms_key_arn" {
  type        = string
  description = "KMS key the given (api_*_parameter_arn) parameters are encrypted with; the execution role may decrypt with exactly this key, through SSM only. Null when they use the AWS managed key aws/ssm. Must be known at plan time (whether it is null decides a policy statement)."
  default     = null

  validation {
    condition     = var.parameters_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.parameters_kms_key_arn))
    error_message = "The parameters_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "create_kms_key" {
  type        = bool
  description = "Create a customer managed key (with rotation) for the log group and the created parameters. Set false to use kms_key_arn instead (a flag rather than a null check, so that key may be unknown at plan time)."
  default     = true
}

variable "kms_key_arn" {
  type        = string
  description = "Used only with create_kms_key = false (then required): KMS key of the log group and the created parameters. Its policy must let logs.<region>.amazonaws.com use it for the log group /ecs/<name>."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "The kms_key_arn must be null or a KMS key ARN."
  }
}

variable "create_cluster" {
  type        = bool
  description = "Create an ECS cluster (Container Insights on) named after the service. Set false to run in cluster_arn."
  default     = true
}

variable "cluster_arn" {
  type        = string
  description = "Used only with create_cluster = false (then required): ARN of the ECS cluster to run in."
  default     = null

  validation {
    condition     = var.cluster_arn == null || can(regex("^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/.+$", var.cluster_arn))
    error_message = "The cluster_arn must be null or an ECS cluster ARN."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the security group."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "The vpc_id must look like vpc-0123abcd."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets of the task: private subnets with a NAT gateway or VPC endpoints (the task needs HTTPS to Prefect, ECR/registry, SSM and CloudWatch Logs)."

  validation {
    condition     = length(var.subnet_ids) > 0 && length([for s in var.subnet_ids : s if !can(regex("^subnet-[0-9a-f]+$", s))]) == 0
    error_message = "The subnet_ids must be a non-empty list of subnet IDs (subnet-0123abcd)."
  }
}

variable "assign_public_ip" {
  type        = bool
  description = "Give the task a public IP (only for public subnets without NAT; off by default)."
  default     = false
}

variable "egress_cidr_blocks" {
  type        = list(string)
  description = "Destinations the task may reach on TCP 443 (the only egress allowed). Narrow it to VPC endpoint / proxy ranges where possible."
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.egress_cidr_blocks) > 0 && length([for c in var.egress_cidr_blocks : c if !can(cidrhost(c, 0))]) == 0
    error_message = "The egress_cidr_blocks must be a non-empty list of IPv4 CIDR blocks."
  }
}

variable "cpu" {
  type        = number
  description = "Task CPU units (256, 512, 1024, 2048, 4096, 8192 or 16384)."
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "The cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "memory" {
  type        = number
  description = "Task memory in MiB; must be a Fargate-supported combination with cpu (e.g. 1024-4096 for 512 CPU)."
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880 && floor(var.memory) == var.memory
    error_message = "The memory must be a whole number of MiB between 512 and 122880."
  }
}

variable "desired_count" {
  type        = number
  description = "Number of agent/worker tasks to keep running (0 pauses the service)."
  default     = 1

  validation {
    condition     = var.desired_count >= 0 && var.desired_count <= 10 && floor(var.desired_count) == var.desired_count
    error_message = "The desired_count must be a whole number between 0 and 10."
  }
}

variable "environment" {
  type        = map(string)
  description = "Extra plain environment variables of the container (not secrets: use SSM parameters for those)."
  default     = {}
}

variable "readonly_root_filesystem" {
  type        = bool
  description = "Mount the container's root filesystem read-only; /tmp (HOME and PREFECT_HOME) stays writable on a task-local volume."
  default     = true
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the log group in days (a CloudWatch Logs value: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be a retention period CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "task_role_policy_arns" {
  type        = list(string)
  description = "Managed policy ARNs attached to the task role: what the flow runs themselves may do in AWS (nothing by default)."
  default     = []

  validation {
    condition     = length([for a in var.task_role_policy_arns : a if !can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$", a))]) == 0
    error_message = "The task_role_policy_arns must be IAM policy ARNs."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource the module creates."
  default     = {}
}
