data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name

  create_kms_key = var.create_kms_key
  kms_key_arn    = local.create_kms_key ? module.kms_key[0].arn : var.kms_key_arn

  create_cluster = var.create_cluster
  cluster_arn    = local.create_cluster ? aws_ecs_cluster.this[0].arn : var.cluster_arn

  build                 = var.build_context != null
  build_repository_name = coalesce(var.build_repository_name, "prefect/${lower(var.name)}")
  image                 = local.build ? mlops_ecr_image.this[0].image_uri : var.image_uri

  parameter_prefix      = coalesce(var.parameter_name_prefix, "/prefect/${var.name}")
  api_url_parameter_arn = var.create_parameters ? aws_ssm_parameter.api_url[0].arn : var.api_url_parameter_arn
  api_key_parameter_arn = var.create_parameters ? aws_ssm_parameter.api_key[0].arn : var.api_key_parameter_arn

  # The keys the execution role may decrypt the two parameters with: ours for the ones we create, the given
  # one for given parameters (none when those use the AWS managed aws/ssm key, whose policy already allows it).
  parameter_kms_key_arns = distinct(concat(
    var.create_parameters ? [local.kms_key_arn] : [],
    var.parameters_kms_key_arn == null ? [] : [var.parameters_kms_key_arn],
  ))
  # Known at plan time (variables only), so it can drive count.
  grant_parameter_kms = var.create_parameters || var.parameters_kms_key_arn != null

  log_group_name = "/ecs/${var.name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  command = var.mode == "worker" ? concat(
    ["prefect", "worker", "start", "--pool", var.work_pool_name, "--type", var.worker_type],
    var.work_queue_name == "default" ? [] : ["--work-queue", var.work_queue_name],
  ) : ["prefect", "agent", "start", "--work-queue", var.work_queue_name]

  environment = merge(
    {
      HOME         = "/tmp"
      PREFECT_HOME = "/tmp/.prefect"
    },
    var.environment,
  )
}

# ---------------------------------------------------------------------------------------------------------------
# KMS key (create_kms_key): encrypts the log group and the parameters the module creates.
# ---------------------------------------------------------------------------------------------------------------

module "kms_key" {
  source = "../kms-key"
  count  = local.create_kms_key ? 1 : 0

  alias          = "prefect-${var.name}"
  description    = "Encrypts the logs and Prefect parameters of ECS service ${var.name}"
  log_group_arns = [local.log_group_arn]
  tags           = var.tags
}

# ---------------------------------------------------------------------------------------------------------------
# Prefect connection: SSM SecureString parameters (given, or created from the sensitive variables).
# ---------------------------------------------------------------------------------------------------------------

resource "aws_ssm_parameter" "api_url" {
  count = var.create_parameters ? 1 : 0

  name        = "${local.parameter_prefix}/PREFECT_API_URL"
  description = "PREFECT_API_URL of ECS service ${var.name}"
  type        = "SecureString"
  key_id      = local.kms_key_arn
  value       = var.api_url
  tags        = var.tags
}

resource "aws_ssm_parameter" "api_key" {
  count = var.create_parameters ? 1 : 0

  name        = "${local.parameter_prefix}/PREFECT_API_KEY"
  description = "PREFECT_API_KEY of ECS service ${var.name}"
  type        = "SecureString"
  key_id      = local.kms_key_arn
  value       = var.api_key
  tags        = var.tags
}

# ---------------------------------------------------------------------------------------------------------------
# Image: the given image_uri, or one built from build_context and pushed to ECR.
# ---------------------------------------------------------------------------------------------------------------

resource "mlops_ecr_image" "this" {
  count = local.build ? 1 : 0

  repository_name      = local.build_repository_name
  context              = var.build_context
  dockerfile           = var.build_dockerfile
  build_args           = var.build_args
  platform             = var.cpu_architecture == "ARM64" ? "linux/arm64" : "linux/amd64"
  image_tag_mutability = "IMMUTABLE"
  scan_on_push         = true
}

# ---------------------------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = var.tags
}

# ---------------------------------------------------------------------------------------------------------------
# IAM: the execution role (ECS agent: pull the image, read the two parameters, write the logs) and the task
# role (what flow runs may do; nothing unless task_role_policy_arns say so).
# ---------------------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume_ecs_tasks" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name_prefix        = "${var.name}-exec-"
  description        = "ECS execution role of ${var.name}: image pull, Prefect parameters, logs"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution_base" {
  statement {
    sid       = "ReadPrefectParameters"
    effect    = "Allow"
    actions   = ["ssm:GetParameters"]
    resources = [local.api_url_parameter_arn, local.api_key_parameter_arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:log-stream:*"]
  }
}

data "aws_iam_policy_document" "execution_parameters_kms" {
  count = local.grant_parameter_kms ? 1 : 0

  statement {
    sid       = "DecryptPrefectParameters"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = local.parameter_kms_key_arns

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "execution_ecr" {
  count = local.build ? 1 : 0

  statement {
    sid     = "EcrLogin"
    effect  = "Allow"
    actions = ["ecr:GetAuthorizationToken"]
    # GetAuthorizationToken is account-wide and supports no resource-level permissions: AWS requires "*".
    resources = ["*"]
  }

  statement {
    sid       = "PullBuiltImage"
    effect    = "Allow"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${mlops_ecr_image.this[0].registry_id}:repository/${local.build_repository_name}"]
  }
}

data "aws_iam_policy_document" "execution" {
  source_policy_documents = concat(
    [data.aws_iam_policy_document.execution_base.json],
    data.aws_iam_policy_document.execution_parameters_kms[*].json,
    data.aws_iam_policy_document.execution_ecr[*].json,
  )
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name_prefix        = "${var.name}-task-"
  description        = "ECS task role of ${var.name}: what Prefect flow runs may do"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "task" {
  count = length(var.task_role_policy_arns)

  role       = aws_iam_role.task.name
  policy_arn = var.task_role_policy_arns[count.index]
}

# ---------------------------------------------------------------------------------------------------------------
# Network: egress HTTPS only (Prefect API, image registry, SSM, CloudWatch Logs); no ingress at all.
# DNS through the VPC resolver is not subject to security groups.
# ---------------------------------------------------------------------------------------------------------------

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-"
  description = "Prefect ${var.mode} ${var.name}: no ingress, HTTPS egress only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = var.name })

  egress {
    description = "HTTPS to the Prefect API, the image registry, SSM and CloudWatch Logs"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = var.egress_cidr_blocks
  }

  lifecycle {
    create_before_destroy = true
  }
}

# ---------------------------------------------------------------------------------------------------------------
# ECS: cluster (unless given), task definition, service.
# ---------------------------------------------------------------------------------------------------------------

resource "aws_ecs_cluster" "this" {
  count = local.create_cluster ? 1 : 0

  name = var.name
  tags = var.tags

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  tags                     = var.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # Task-local scratch space, so the root filesystem can stay read-only.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = "prefect"
      image                  = local.image
      essential              = true
      command                = local.command
      readonlyRootFilesystem = var.readonly_root_filesystem
      environment            = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
      secrets = [
        { name = "PREFECT_API_URL", valueFrom = local.api_url_parameter_arn },
        { name = "PREFECT_API_KEY", valueFrom = local.api_key_parameter_arn },
      ]
      mountPoints = [
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
      ]
      linuxParameters = {
        initProcessEnabled = true
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "prefect"
        }
      }
    },
  ])
}

resource "aws_ecs_service" "this" {
  name                   = var.name
  cluster                = local.cluster_arn
  task_definition        = aws_ecs_task_definition.this.arn
  desired_count          = var.desired_count
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  enable_execute_command = false
  propagate_tags         = "SERVICE"
  tags                   = var.tags

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = var.assign_public_ip
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # The role's policy must exist before the first task pulls its secrets.
  depends_on = [aws_iam_role_policy.execution]
}
