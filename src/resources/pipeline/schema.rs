//! The `mlops_pipeline` schema: arguments with the defaults the resource applies when they are
//! null, each default with its reason.

use tfplug::schema::{Attribute, Block, NestedBlock, Schema};
use tfplug::timeouts;
use tfplug::value::Type;

/// Defaults, applied where the configuration leaves a value null.
pub mod defaults {
    pub const ARCHITECTURE: &str = "x86_64";
    pub const MEMORY_SIZE: i64 = 1024;
    pub const TIMEOUT: i64 = 60;
    pub const EPHEMERAL_STORAGE: i64 = 512;
    pub const TRACING: &str = "PassThrough";
    pub const LOG_RETENTION_DAYS: i64 = 30;
    pub const ALIAS: &str = "live";
    pub const STARTING_POSITION: &str = "LATEST";
    pub const BATCH_SIZE: i64 = 100;
    pub const BATCHING_WINDOW: i64 = 0;
    pub const PARALLELIZATION: i64 = 1;
    /// A poison record is isolated by halving the batch instead of blocking the shard.
    pub const BISECT: bool = true;
    /// AWS's default (-1) retries a failing batch until the records expire: the shard stalls.
    pub const MAX_RETRY_ATTEMPTS: i64 = 3;
    /// One hour: a record older than this is not worth predicting any more.
    pub const MAX_RECORD_AGE: i64 = 3600;
    /// The handler reports the records it could not handle; the rest are checkpointed.
    pub const REPORT_BATCH_ITEM_FAILURES: bool = true;
    pub const SMOKE_TEST_TIMEOUT: &str = "30s";
}

/// Attributes whose change publishes a new function version.
pub const VERSIONED: [&str; 10] = [
    "image_uri",
    "architecture",
    "environment",
    "sensitive_environment",
    "memory_size",
    "timeout",
    "ephemeral_storage",
    "tracing",
    "model",
    "output",
];

fn int(name: &str, description: &str) -> Attribute {
    Attribute::new(name, Type::Number).optional().description(description)
}

fn text(name: &str, description: &str) -> Attribute {
    Attribute::new(name, Type::String).optional().description(description)
}

fn flag(name: &str, description: &str) -> Attribute {
    Attribute::new(name, Type::Bool).optional().description(description)
}

fn computed(name: &str, description: &str) -> Attribute {
    Attribute::new(name, Type::String).computed().description(description)
}

fn source_block() -> NestedBlock {
    let b = Block::new("The Kinesis stream the function reads, through an event source mapping on the alias.")
        .attribute(Attribute::new("stream_arn", Type::String).required().description("Source stream ARN. Changing it creates the new mapping before the old one is deleted (both read for a moment; delivery is at least once anyway)."))
        .attribute(text("starting_position", "`LATEST` (default), `TRIM_HORIZON` or `AT_TIMESTAMP`. Changing it replaces the mapping: Lambda allows one mapping per stream and function, so the old one is deleted first and the stream is not read for a moment; the new one starts at this position."))
        .attribute(text("starting_position_timestamp", "RFC 3339 time, whole seconds (`2024-06-01T00:00:00Z`), for `AT_TIMESTAMP`."))
        .attribute(int("batch_size", "Records per invocation, 1-10000. Default 100."))
        .attribute(int("maximum_batching_window_in_seconds", "How long to gather records before invoking, 0-300. Default 0."))
        .attribute(int("parallelization_factor", "Concurrent batches per shard, 1-10 (order kept per partition key). Default 1."))
        .attribute(flag("bisect_batch_on_function_error", "Split a failing batch in two to isolate a poison record. Default `true`."))
        .attribute(int("maximum_retry_attempts", "Retries of a failing batch, -1 (until expiry) to 10000. Default 3, so a poison record cannot stall the shard."))
        .attribute(int("maximum_record_age_in_seconds", "Records older than this are skipped: -1 (never) or 60-604800. Default 3600."))
        .attribute(flag("report_batch_item_failures", "The handler returns `batchItemFailures`; only those records are retried. Default `true`."))
        .attribute(text("on_failure_destination_arn", "SQS queue or SNS topic that receives the metadata of records given up on."))
        .attribute(int("tumbling_window_in_seconds", "Tumbling window for stateful aggregation, 0-900. Default 0 (off)."))
        .attribute(Attribute::new("filter_patterns", Type::list(Type::String)).optional().description("Up to 5 EventBridge patterns (JSON) on the records; filtered-out records count as consumed."))
        .attribute(flag("enabled", "Whether the mapping polls the stream. Default `true`."));
    let mut nb = NestedBlock::single("source", b);
    nb.min_items = 1;
    nb.max_items = 1;
    nb
}

fn output_block() -> NestedBlock {
    let b = Block::new("Where predictions go: the function gets `PREDICTIONS_STREAM_NAME`.")
        .attribute(Attribute::new("stream_arn", Type::String).required().description("Output stream ARN."));
    NestedBlock::single("output", b)
}

fn model_block() -> NestedBlock {
    let b = Block::new(
        "The model the function serves: `MODEL_BUCKET`, `MODEL_PREFIX` and `RUN_ID` in its environment, part of the \
         published version, so each version is bound to its model.",
    )
    .attribute(Attribute::new("bucket", Type::String).required().description("S3 bucket of the model artifacts."))
    .attribute(text("prefix", "Key prefix of the model artifacts (the role may read only below it)."))
    .attribute(
        Attribute::new("run_id", Type::String)
            .required()
            .description("Model run ID; a change publishes a new version."),
    );
    NestedBlock::single("model", b)
}

fn rollout_block() -> NestedBlock {
    let b = Block::new("How the alias moves to a new version.")
        .attribute(text("strategy", "`all_at_once` (default) or `canary`."))
        .attribute(
            Attribute::new("canary_weight", Type::Number)
                .optional()
                .description("Share of invocations the new version gets during the bake, between 0 and 1 (exclusive)."),
        )
        .attribute(int(
            "bake_seconds",
            "How long the canary runs while `alarm_names` are watched. Required for `canary`.",
        ))
        .attribute(
            Attribute::new("alarm_names", Type::list(Type::String))
                .optional()
                .description("CloudWatch alarms; one in ALARM moves the alias back and fails the apply."),
        );
    NestedBlock::single("rollout", b)
}

fn smoke_test_block() -> NestedBlock {
    let b = Block::new("An invocation of each new version before the alias moves to it.")
        .attribute(Attribute::new("payload", Type::String).required().description("JSON event to invoke the new version with."))
        .attribute(text("expect", "JSON value that must be a subset of the response (objects: these keys with these values; arrays: same length, element-wise). Omit to require only a successful invocation."))
        .attribute(text("timeout", "How long the invocation may take, e.g. `30s` (default)."));
    NestedBlock::single("smoke_test", b)
}

pub fn schema() -> Schema {
    let block = Block::new(
        "A real-time inference pipeline as one resource: Kinesis source stream → Lambda container-image function \
         (model in S3) → Kinesis output stream.\n\n\
         It owns the execution role (unless `role_arn` is given) with exactly the permissions the pipeline needs \
         (see `role_policy_json`), the log group, the function, its published versions, the alias, and the event \
         source mapping on the alias. A change to the image, model, environment or function settings publishes a \
         new version, smoke-tests it, then moves the alias at once or as a canary watched by CloudWatch alarms, \
         moving back if one fires. The mapping targets the alias, so deploys never touch it.\n\n\
         Only X-Ray's `PutTraceSegments`/`PutTelemetryRecords` (when `tracing = \"Active\"`) are granted on `*`: \
         X-Ray has no resource-level permissions.",
    )
    .attribute(Attribute::new("name", Type::String).required().description("Function name (1-64 of `A-Za-z0-9-_`). Changing it replaces the pipeline."))
    .attribute(Attribute::new("image_uri", Type::String).required().description("Digest-pinned image `REPO@sha256:…`, e.g. `mlops_ecr_image.model.image_uri`. A `:tag` is accepted with a warning: Terraform cannot see tag moves."))
    .attribute(text("architecture", "`x86_64` (default) or `arm64`. Checked against the image's own platform where the provider can read the image (the `ecr_registry_host` registry); a mismatch fails before anything is created."))
    .attribute(Attribute::new("role_arn", Type::String).optional().computed().description("Execution role to use. Without it the pipeline creates one with a least-privilege inline policy."))
    .attribute(Attribute::new("kms_key_arn", Type::String).optional().description("KMS key the model objects or streams are encrypted with; adds `kms:Decrypt` on exactly this key, and `kms:GenerateDataKey` when there is an `output` stream (writing to an encrypted stream needs it)."))
    .attribute(Attribute::new("environment", Type::map(Type::String)).optional().description("Environment variables (the names the pipeline sets itself are refused)."))
    .attribute(Attribute::new("sensitive_environment", Type::map(Type::String)).optional().sensitive().description("Environment variables whose values never appear in plan output or logs."))
    .attribute(int("memory_size", "Memory in MB, 128-10240. Default 1024."))
    .attribute(int("timeout", "Seconds per invocation, 1-900. Default 60."))
    .attribute(int("ephemeral_storage", "`/tmp` size in MB, 512-10240. Default 512."))
    .attribute(int("reserved_concurrency", "Reserved concurrent executions; unset = unreserved."))
    .attribute(text("tracing", "X-Ray tracing: `PassThrough` (default) or `Active`."))
    .attribute(int("log_retention_days", "Retention of the log group, in days (a value CloudWatch Logs accepts). Default 30."))
    .attribute(Attribute::new("tags", Type::map(Type::String)).optional().description("Tags, merged over the provider's `default_tags`."))
    .attribute(text("alias", "Alias the mapping invokes. Default `live`. Changing it replaces the pipeline."))
    .attribute(computed("id", "The function name."))
    .attribute(computed("execution_role_arn", "ARN of the execution role the function runs with: `role_arn` when given, else the role the pipeline created."))
    .attribute(computed("function_arn", "Unqualified function ARN."))
    .attribute(computed("alias_arn", "ARN of the alias; the mapping invokes it."))
    .attribute(computed("live_version", "Version the alias points at."))
    .attribute(computed("previous_version", "Version the alias pointed at before the last deploy (the rollback target)."))
    .attribute(computed("event_source_mapping_uuid", "UUID of the event source mapping."))
    .attribute(computed("log_group_name", "`/aws/lambda/<name>`."))
    .attribute(computed("role_policy_json", "The inline policy of the role the pipeline created (null with `role_arn`)."))
    .block(source_block())
    .block(output_block())
    .block(model_block())
    .block(rollout_block())
    .block(smoke_test_block())
    .block(timeouts::block(&["create", "update", "delete"]));
    Schema::new(0, block)
}
