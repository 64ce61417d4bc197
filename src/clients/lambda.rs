//! Lambda control plane for `mlops_pipeline`: the Image function, its versions and alias, its
//! reserved concurrency, a synchronous invoke for smoke tests, and the Kinesis event source
//! mapping, through `aws-sdk-lambda`.
//!
//! Waits and retries follow hashicorp/aws (see `FACTS.md`, "How hashicorp/aws does it"):
//!
//! * CreateFunction / UpdateFunctionConfiguration / UpdateFunctionCode retry an
//!   `InvalidParameterValueException` that means "the role has not propagated yet"
//!   ([`FUNCTION_IAM_MESSAGES`]) and any `ResourceConflictException` (an update in progress), for
//!   [`LAMBDA_PROPAGATION`] (15 min), with [`Backoff`](super::retry::Backoff)'s schedule;
//! * [`Lambda::wait_active`] waits `State` Pending → Active, [`Lambda::wait_updated`] waits
//!   `LastUpdateStatus` InProgress → Successful; `Failed` ends either with AWS's reason;
//! * event source mappings retry [`MAPPING_IAM_MESSAGES`] for 15 min, then wait out their
//!   transitional states (create and update 10 min, delete 5 min).
//!
//! Every failure is a [`LambdaError`] that keeps the operation, AWS's error code and message.
//!
//! ```no_run
//! # async fn demo(sdk: &aws_config::SdkConfig, spec: mlops::clients::lambda::FunctionSpec)
//! #     -> Result<(), mlops::clients::lambda::LambdaError> {
//! use std::time::Duration;
//! use mlops::clients::lambda::Lambda;
//! use tokio_util::sync::CancellationToken;
//!
//! let lambda = Lambda::new(sdk, None);
//! let cancel = CancellationToken::new();
//! let created = lambda.create_function(&spec, &cancel).await?;
//! lambda.wait_active(&spec.name, Duration::from_secs(600), &cancel).await?;
//! let v1 = lambda.publish_version(&spec.name, "first", &cancel).await?;
//! lambda.create_alias(&spec.name, "live", &v1.version, &Default::default()).await?;
//! println!("{} live at version {}", created.arn, v1.version);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::primitives::{Blob, DateTime};
use aws_sdk_lambda::types::{
    AliasRoutingConfiguration, Architecture, DestinationConfig, Environment, EphemeralStorage, EventSourcePosition,
    Filter, FilterCriteria, FunctionCode, FunctionResponseType, InvocationType, LogFormat, LoggingConfig, OnFailure,
    PackageType, TracingConfig, TracingMode,
};
use tokio_util::sync::CancellationToken;

use super::retry::{
    code_suffix, human, retry, scale_bound, sdk_failure, wait_until, Failure, Kind, Poll, RetryError,
    LAMBDA_PROPAGATION,
};

/// Messages of the `InvalidParameterValueException`s that CreateFunction and
/// UpdateFunctionConfiguration answer while a new execution role (or its policy, or a KMS grant)
/// propagates. hashicorp/aws retries exactly these.
pub const FUNCTION_IAM_MESSAGES: [&str; 4] = [
    "The role defined for the function cannot be assumed by Lambda",
    "The provided execution role does not have permissions",
    "throttled by EC2",
    "Lambda was unable to configure access to your environment variables because the KMS key is invalid for CreateGrant",
];

/// Messages of the `InvalidParameterValueException`s that Create/UpdateEventSourceMapping answer
/// while the function's role propagates (hashicorp/aws retries these).
pub const MAPPING_IAM_MESSAGES: [&str; 3] =
    ["cannot be assumed by Lambda", "execution role does not have permissions", "ensure the role can perform"];

/// How long [`Lambda::create_mapping`] waits for Creating/Enabling/Disabling to settle (hashicorp: 10 min).
pub const MAPPING_CREATE_WAIT: Duration = Duration::from_secs(10 * 60);
/// How long [`Lambda::update_mapping`] waits for Updating/Enabling/Disabling to settle (hashicorp: 10 min).
pub const MAPPING_UPDATE_WAIT: Duration = Duration::from_secs(10 * 60);
/// How long [`Lambda::delete_mapping`] retries ResourceInUseException, and then waits while
/// Deleting (hashicorp: 5 min each).
pub const MAPPING_DELETE_WAIT: Duration = Duration::from_secs(5 * 60);
/// How long [`Lambda::delete_function`] waits for GetFunction to say the function is gone.
pub const FUNCTION_DELETE_WAIT: Duration = Duration::from_secs(10 * 60);
/// How long [`Lambda::update_alias`] waits for cleared routing weights to disappear from GetAlias.
pub const ALIAS_WEIGHTS_WAIT: Duration = Duration::from_secs(5 * 60);
/// The longest a synchronous [`Lambda::invoke`] may take: Lambda's own limit (15 min) and a margin.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(15 * 60 + 30);

/// Lambda's defaults, for answers that leave a setting out.
const DEFAULT_MEMORY_SIZE: i32 = 128;
const DEFAULT_TIMEOUT: i32 = 3;
const DEFAULT_EPHEMERAL_STORAGE: i32 = 512;

/// GetFunction may not see a function for a moment after CreateFunction; a wait tolerates this
/// many "not found" answers in a row before it concludes the function is gone (hashicorp/aws's
/// `NotFoundChecks`).
const NOT_FOUND_CHECKS: u32 = 20;

/// The Lambda client of one provider configuration.
#[derive(Debug, Clone)]
pub struct Lambda {
    client: aws_sdk_lambda::Client,
}

/// The function `mlops_pipeline` creates: a container-image function. Settings left `None` are
/// not sent (AWS keeps its default or the current value).
#[derive(Clone, PartialEq)]
pub struct FunctionSpec {
    /// Function name.
    pub name: String,
    /// Execution role ARN.
    pub role_arn: String,
    /// Image URI, ideally digest-pinned (`REPO@sha256:…`).
    pub image_uri: String,
    /// `"x86_64"` or `"arm64"`.
    pub architecture: String,
    /// MiB, 128–10240.
    pub memory_size: i32,
    /// Seconds, 1–900.
    pub timeout: i32,
    /// `/tmp` size in MiB, 512–10240.
    pub ephemeral_storage: i32,
    /// Environment variables. May hold secrets: `Debug` shows only the keys.
    pub environment: BTreeMap<String, String>,
    /// `"Active"` or `"PassThrough"`; `None` leaves it unset.
    pub tracing_mode: Option<String>,
    /// `LoggingConfig.LogGroup` (sent with `LogFormat: Text`); `None` leaves Lambda's default
    /// (`/aws/lambda/<name>`) or the current value.
    pub log_group: Option<String>,
    /// Tags set at creation (use [`Lambda::tag_resource`] / [`Lambda::untag_resource`] later).
    pub tags: BTreeMap<String, String>,
}

impl fmt::Debug for FunctionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionSpec")
            .field("name", &self.name)
            .field("role_arn", &self.role_arn)
            .field("image_uri", &self.image_uri)
            .field("architecture", &self.architecture)
            .field("memory_size", &self.memory_size)
            .field("timeout", &self.timeout)
            .field("ephemeral_storage", &self.ephemeral_storage)
            .field("environment", &Keys(&self.environment))
            .field("tracing_mode", &self.tracing_mode)
            .field("log_group", &self.log_group)
            .field("tags", &self.tags)
            .finish()
    }
}

/// A function (or one version of it) as Lambda describes it. Which fields are filled depends on
/// the call: see each field.
#[derive(Clone, PartialEq, Default)]
pub struct FunctionInfo {
    /// Function name.
    pub name: String,
    /// `FunctionArn`: unqualified for `$LATEST`, `…:function:NAME:7` for a version.
    pub arn: String,
    /// `Pending`, `Active`, `Inactive`, `Failed`; `None` when not returned.
    pub state: Option<String>,
    /// `StateReasonCode`, e.g. `ImageAccessDenied`.
    pub state_reason_code: Option<String>,
    /// `StateReason`.
    pub state_reason: Option<String>,
    /// `InProgress`, `Successful`, `Failed`; `None` when not returned.
    pub last_update_status: Option<String>,
    /// `LastUpdateStatusReasonCode`.
    pub last_update_status_reason_code: Option<String>,
    /// `LastUpdateStatusReason`.
    pub last_update_status_reason: Option<String>,
    /// `Code.ImageUri`: only [`Lambda::get_function`] returns it (empty from create/update/publish).
    pub image_uri: String,
    /// `Code.ResolvedImageUri` (the digest Lambda resolved): only from [`Lambda::get_function`]
    /// (empty otherwise).
    pub resolved_image_uri: String,
    /// Execution role ARN.
    pub role: String,
    /// MiB (Lambda's default, 128, when the answer leaves it out).
    pub memory_size: i32,
    /// Seconds (Lambda's default, 3, when the answer leaves it out).
    pub timeout: i32,
    /// MiB (Lambda's default, 512, when the answer leaves it out).
    pub ephemeral_storage: i32,
    /// Environment variables (empty when none). `Debug` shows only the keys.
    pub environment: BTreeMap<String, String>,
    /// `x86_64` / `arm64`.
    pub architectures: Vec<String>,
    /// `$LATEST` or the version number.
    pub version: String,
    /// `CodeSha256` (moto: the SHA-256 of the image URI string, see FACTS.md).
    pub code_sha256: Option<String>,
    /// `TracingConfig.Mode`.
    pub tracing_mode: Option<String>,
    /// `LoggingConfig.LogGroup` (moto does not return it).
    pub log_group: Option<String>,
    /// `Concurrency.ReservedConcurrentExecutions`: only from [`Lambda::get_function`].
    pub reserved_concurrency: Option<i32>,
    /// Tags: only from [`Lambda::get_function`] (empty otherwise).
    pub tags: BTreeMap<String, String>,
}

impl fmt::Debug for FunctionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionInfo")
            .field("name", &self.name)
            .field("arn", &self.arn)
            .field("state", &self.state)
            .field("state_reason_code", &self.state_reason_code)
            .field("state_reason", &self.state_reason)
            .field("last_update_status", &self.last_update_status)
            .field("last_update_status_reason_code", &self.last_update_status_reason_code)
            .field("last_update_status_reason", &self.last_update_status_reason)
            .field("image_uri", &self.image_uri)
            .field("resolved_image_uri", &self.resolved_image_uri)
            .field("role", &self.role)
            .field("memory_size", &self.memory_size)
            .field("timeout", &self.timeout)
            .field("ephemeral_storage", &self.ephemeral_storage)
            .field("environment", &Keys(&self.environment))
            .field("architectures", &self.architectures)
            .field("version", &self.version)
            .field("code_sha256", &self.code_sha256)
            .field("tracing_mode", &self.tracing_mode)
            .field("log_group", &self.log_group)
            .field("reserved_concurrency", &self.reserved_concurrency)
            .field("tags", &self.tags)
            .finish()
    }
}

/// Shows a map's keys only (`{"A": <redacted>, …}`): environment values may be secrets.
struct Keys<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|k| (k, format_args!("<redacted>")))).finish()
    }
}

/// An alias as Lambda describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AliasInfo {
    /// `AliasArn`, e.g. `…:function:NAME:live`.
    pub arn: String,
    /// Alias name.
    pub name: String,
    /// `FunctionVersion` the alias points at.
    pub version: String,
    /// `RoutingConfig.AdditionalVersionWeights`: version → share of invocations (0–1). Empty when
    /// all traffic goes to `version`.
    pub additional_weights: BTreeMap<String, f64>,
}

/// What a synchronous invoke returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeOutcome {
    /// HTTP status of the invoke (200 for RequestResponse).
    pub status: i32,
    /// `Unhandled` / `Handled` when the function failed (its error document is the payload).
    pub function_error: Option<String>,
    /// The response document.
    pub payload: Vec<u8>,
    /// The version that ran (moto does not return it).
    pub executed_version: Option<String>,
}

/// A Kinesis event source mapping. `stream_arn`, `starting_position` and
/// `starting_position_timestamp` are fixed at creation; the rest can be updated in place.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSpec {
    /// The function the mapping invokes: the alias ARN, so a deploy never touches the mapping.
    pub function_arn: String,
    /// Kinesis stream ARN.
    pub stream_arn: String,
    /// `LATEST`, `TRIM_HORIZON` or `AT_TIMESTAMP`.
    pub starting_position: String,
    /// With `AT_TIMESTAMP`: Unix epoch seconds. Whole seconds on purpose: a fractional timestamp
    /// diffs for ever in hashicorp/aws (#20087).
    pub starting_position_timestamp: Option<i64>,
    /// 1–10000.
    pub batch_size: i32,
    /// 0–300.
    pub maximum_batching_window_in_seconds: i32,
    /// 1–10.
    pub parallelization_factor: i32,
    /// Split a failing batch in two.
    pub bisect_batch_on_function_error: bool,
    /// −1 (until the record expires) to 10000.
    pub maximum_retry_attempts: i32,
    /// −1 or 60–604800.
    pub maximum_record_age_in_seconds: i32,
    /// `["ReportBatchItemFailures"]` or empty.
    pub function_response_types: Vec<String>,
    /// SQS queue / SNS topic / S3 bucket ARN for records that exhausted their retries.
    pub on_failure_destination_arn: Option<String>,
    /// 0 (off) to 900.
    pub tumbling_window_in_seconds: i32,
    /// EventBridge patterns (`FilterCriteria.Filters[].Pattern`), at most 5.
    pub filter_patterns: Vec<String>,
    /// Whether the mapping polls the stream.
    pub enabled: bool,
}

/// An event source mapping as Lambda returns it. Settings the answer leaves out read as AWS's
/// defaults for Kinesis. Compare drift with what Lambda returned when the provider last wrote, not
/// with the spec: moto stores the *version* ARN when created on an alias ARN, and never returns
/// `StartingPositionTimestamp` (FACTS.md, "Event source mappings").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MappingInfo {
    /// `UUID`.
    pub uuid: String,
    /// `Creating`, `Enabling`, `Enabled`, `Disabling`, `Disabled`, `Updating`, `Deleting`.
    pub state: String,
    /// Read back from `state` as hashicorp/aws does: false when Disabled or Disabling, else true.
    pub enabled: bool,
    /// `StateTransitionReason`.
    pub state_transition_reason: Option<String>,
    /// `LastProcessingResult`.
    pub last_processing_result: Option<String>,
    /// `FunctionArn` (AWS: as created, e.g. the alias ARN; moto: the version ARN).
    pub function_arn: String,
    /// `EventSourceArn`.
    pub stream_arn: String,
    /// `StartingPosition` (empty when absent).
    pub starting_position: String,
    /// `StartingPositionTimestamp`, Unix epoch seconds (moto never returns it).
    pub starting_position_timestamp: Option<i64>,
    /// `BatchSize` (default 100).
    pub batch_size: i32,
    /// `MaximumBatchingWindowInSeconds` (default 0).
    pub maximum_batching_window_in_seconds: i32,
    /// `ParallelizationFactor` (default 1).
    pub parallelization_factor: i32,
    /// `BisectBatchOnFunctionError` (default false).
    pub bisect_batch_on_function_error: bool,
    /// `MaximumRetryAttempts` (default −1: until the record expires).
    pub maximum_retry_attempts: i32,
    /// `MaximumRecordAgeInSeconds` (default −1: the stream's retention).
    pub maximum_record_age_in_seconds: i32,
    /// `FunctionResponseTypes`.
    pub function_response_types: Vec<String>,
    /// `DestinationConfig.OnFailure.Destination`.
    pub on_failure_destination_arn: Option<String>,
    /// `TumblingWindowInSeconds` (default 0: off).
    pub tumbling_window_in_seconds: i32,
    /// `FilterCriteria.Filters[].Pattern`.
    pub filter_patterns: Vec<String>,
    /// `LastModified`, Unix epoch seconds (fractional): when the mapping was created or last updated.
    pub last_modified: Option<f64>,
}

/// `enabled` as hashicorp/aws reads it back from a mapping's state.
fn enabled_from_state(state: &str) -> bool {
    !matches!(state, "Disabled" | "Disabling")
}

/// Why a Lambda call failed. The service-answer variants name the API operation (`operation`,
/// also the IAM action `lambda:<operation>`) and keep AWS's error code and message.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// The credentials are missing, invalid or expired, or lack a permission.
    #[error(
        "Lambda {operation} was denied{}: {message}. Check the provider's AWS credentials and that they allow \
         lambda:{operation}",
        code_suffix(.code)
    )]
    Auth { operation: &'static str, code: Option<String>, message: String },
    /// Throttling, a server-side failure, a timeout or a network error that outlived the SDK's retries.
    #[error("Lambda {operation} failed{} (transient, retry later): {message}", code_suffix(.code))]
    Transient { operation: &'static str, code: Option<String>, message: String },
    /// The function, version, alias or mapping does not exist.
    #[error("Lambda {operation}: not found{}: {message}", code_suffix(.code))]
    NotFound { operation: &'static str, code: Option<String>, message: String },
    /// `ResourceConflictException` (an update in progress, a name taken), `ResourceInUseException`,
    /// or moto's `ConflictException`.
    #[error("Lambda {operation}: conflict{}: {message}", code_suffix(.code))]
    Conflict { operation: &'static str, code: Option<String>, message: String },
    /// Anything else Lambda refused (invalid parameter, limit exceeded, …) or a response this
    /// provider cannot use.
    #[error("Lambda {operation} failed{}: {message}", code_suffix(.code))]
    Other { operation: &'static str, code: Option<String>, message: String },
    /// The function (or mapping) reached a failed or unexpected state; `reason` is AWS's
    /// (`StateReasonCode: StateReason`, `LastUpdateStatusReasonCode: LastUpdateStatusReason`).
    #[error("Lambda {what}: {reason}")]
    StateFailed { what: String, reason: String },
    /// A retry or wait reached its bound; `last` is the last error or state seen.
    #[error("Lambda {what}: gave up after {}: {last}", human(*.after))]
    TimedOut { what: String, after: Duration, last: String },
    /// Terraform asked the provider to stop while retrying or waiting.
    #[error("Lambda {what}: cancelled")]
    Cancelled { what: String },
    /// An event source mapping was created (its UUID is `uuid`: record it, nothing may be
    /// orphaned) but did not become ready.
    #[error("Lambda event source mapping {uuid} was created but is not ready: {source}")]
    MappingNotReady {
        uuid: String,
        #[source]
        source: Box<LambdaError>,
    },
}

impl LambdaError {
    /// True for throttling, server errors, timeouts and network failures.
    pub fn is_transient(&self) -> bool {
        matches!(self, LambdaError::Transient { .. })
    }

    /// True when the credentials were rejected or lack a permission.
    pub fn is_auth(&self) -> bool {
        matches!(self, LambdaError::Auth { .. })
    }

    /// True when the function, version, alias or mapping does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, LambdaError::NotFound { .. })
    }

    /// True for `ResourceConflictException`, `ResourceInUseException` and moto's `ConflictException`.
    pub fn is_conflict(&self) -> bool {
        matches!(self, LambdaError::Conflict { .. })
    }

    /// True when a retry or wait reached its bound.
    pub fn is_timeout(&self) -> bool {
        matches!(self, LambdaError::TimedOut { .. })
    }

    /// True when cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, LambdaError::Cancelled { .. })
    }

    /// AWS's error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            LambdaError::Auth { code, .. }
            | LambdaError::Transient { code, .. }
            | LambdaError::NotFound { code, .. }
            | LambdaError::Conflict { code, .. }
            | LambdaError::Other { code, .. } => code.as_deref(),
            LambdaError::MappingNotReady { source, .. } => source.code(),
            _ => None,
        }
    }

    /// AWS's message (or this provider's description of the failure).
    pub fn message(&self) -> String {
        match self {
            LambdaError::Auth { message, .. }
            | LambdaError::Transient { message, .. }
            | LambdaError::NotFound { message, .. }
            | LambdaError::Conflict { message, .. }
            | LambdaError::Other { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    fn other(operation: &'static str, message: impl Into<String>) -> Self {
        LambdaError::Other { operation, code: None, message: message.into() }
    }

    fn from_failure(operation: &'static str, f: Failure) -> Self {
        let Failure { kind, code, message } = f;
        match kind {
            Kind::Auth => LambdaError::Auth { operation, code, message },
            Kind::Transient => LambdaError::Transient { operation, code, message },
            Kind::NotFound => LambdaError::NotFound { operation, code, message },
            Kind::Conflict => LambdaError::Conflict { operation, code, message },
            Kind::Other => LambdaError::Other { operation, code, message },
        }
    }

    fn from_retry(what: String, e: RetryError<LambdaError>) -> Self {
        match e {
            RetryError::Failed(e) => e,
            RetryError::TimedOut { last, after } => LambdaError::TimedOut { what, after, last: last.to_string() },
            RetryError::StillPending { state, after } => {
                LambdaError::TimedOut { what, after, last: format!("still {state}") }
            }
            RetryError::Cancelled => LambdaError::Cancelled { what },
        }
    }
}

/// Turns an SDK error into a [`LambdaError`], keeping AWS's code and message.
fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> LambdaError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    LambdaError::from_failure(operation, sdk_failure(&err))
}

/// True for the `InvalidParameterValueException`s CreateFunction / UpdateFunctionConfiguration
/// answer while IAM propagates ([`FUNCTION_IAM_MESSAGES`]).
pub fn is_iam_propagation(err: &LambdaError) -> bool {
    err.code() == Some("InvalidParameterValueException")
        && FUNCTION_IAM_MESSAGES.iter().any(|m| err.message().contains(m))
}

/// True for the `InvalidParameterValueException`s Create/UpdateEventSourceMapping answer while
/// IAM propagates ([`MAPPING_IAM_MESSAGES`]).
pub fn is_mapping_iam_propagation(err: &LambdaError) -> bool {
    err.code() == Some("InvalidParameterValueException")
        && MAPPING_IAM_MESSAGES.iter().any(|m| err.message().contains(m))
}

/// True for `ResourceConflictException` ("An update is in progress for resource …"), except
/// CreateFunction's "Function already exist": that one never resolves by waiting.
pub fn is_update_conflict(err: &LambdaError) -> bool {
    err.code() == Some("ResourceConflictException") && !err.message().contains("already exist")
}

/// What create/update of the function retry: IAM propagation and updates in progress.
fn function_retryable(err: &LambdaError) -> bool {
    is_iam_propagation(err) || is_update_conflict(err)
}

fn to_hash(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn from_hash(map: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

/// `FunctionInfo` from any of the SDK's function-configuration shapes (FunctionConfiguration,
/// CreateFunctionOutput, UpdateFunction*Output, PublishVersionOutput: same accessors).
macro_rules! function_info {
    ($c:expr) => {{
        let c = $c;
        FunctionInfo {
            name: c.function_name().unwrap_or_default().to_string(),
            arn: c.function_arn().unwrap_or_default().to_string(),
            state: c.state().map(|s| s.as_str().to_string()),
            state_reason_code: c.state_reason_code().map(|s| s.as_str().to_string()),
            state_reason: c.state_reason().map(str::to_string),
            last_update_status: c.last_update_status().map(|s| s.as_str().to_string()),
            last_update_status_reason_code: c.last_update_status_reason_code().map(|s| s.as_str().to_string()),
            last_update_status_reason: c.last_update_status_reason().map(str::to_string),
            image_uri: String::new(),
            resolved_image_uri: String::new(),
            role: c.role().unwrap_or_default().to_string(),
            memory_size: c.memory_size().unwrap_or(DEFAULT_MEMORY_SIZE),
            timeout: c.timeout().unwrap_or(DEFAULT_TIMEOUT),
            ephemeral_storage: c.ephemeral_storage().map(|e| e.size()).unwrap_or(DEFAULT_EPHEMERAL_STORAGE),
            environment: from_hash(c.environment().and_then(|e| e.variables())),
            architectures: c.architectures().iter().map(|a| a.as_str().to_string()).collect(),
            version: c.version().unwrap_or_default().to_string(),
            code_sha256: c.code_sha256().map(str::to_string),
            tracing_mode: c.tracing_config().and_then(|t| t.mode()).map(|m| m.as_str().to_string()),
            log_group: c.logging_config().and_then(|l| l.log_group()).map(str::to_string),
            reserved_concurrency: None,
            tags: BTreeMap::new(),
        }
    }};
}

/// `MappingInfo` from any of the SDK's event-source-mapping shapes.
macro_rules! mapping_info {
    ($m:expr) => {{
        let m = $m;
        MappingInfo {
            uuid: m.uuid().unwrap_or_default().to_string(),
            state: m.state().unwrap_or_default().to_string(),
            enabled: enabled_from_state(m.state().unwrap_or_default()),
            state_transition_reason: m.state_transition_reason().map(str::to_string),
            last_processing_result: m.last_processing_result().map(str::to_string),
            function_arn: m.function_arn().unwrap_or_default().to_string(),
            stream_arn: m.event_source_arn().unwrap_or_default().to_string(),
            starting_position: m.starting_position().map(|p| p.as_str().to_string()).unwrap_or_default(),
            starting_position_timestamp: m.starting_position_timestamp().map(|t| t.secs()),
            batch_size: m.batch_size().unwrap_or(100),
            maximum_batching_window_in_seconds: m.maximum_batching_window_in_seconds().unwrap_or(0),
            parallelization_factor: m.parallelization_factor().unwrap_or(1),
            bisect_batch_on_function_error: m.bisect_batch_on_function_error().unwrap_or(false),
            maximum_retry_attempts: m.maximum_retry_attempts().unwrap_or(-1),
            maximum_record_age_in_seconds: m.maximum_record_age_in_seconds().unwrap_or(-1),
            function_response_types: m.function_response_types().iter().map(|t| t.as_str().to_string()).collect(),
            on_failure_destination_arn: m
                .destination_config()
                .and_then(|d| d.on_failure())
                .and_then(|o| o.destination())
                .map(str::to_string),
            tumbling_window_in_seconds: m.tumbling_window_in_seconds().unwrap_or(0),
            filter_patterns: m
                .filter_criteria()
                .map(|f| f.filters().iter().filter_map(|x| x.pattern()).map(str::to_string).collect())
                .unwrap_or_default(),
            last_modified: m.last_modified().map(|t| t.as_secs_f64()),
        }
    }};
}

/// `AliasInfo` from any of the SDK's alias shapes.
macro_rules! alias_info {
    ($a:expr) => {{
        let a = $a;
        AliasInfo {
            arn: a.alias_arn().unwrap_or_default().to_string(),
            name: a.name().unwrap_or_default().to_string(),
            version: a.function_version().unwrap_or_default().to_string(),
            additional_weights: a
                .routing_config()
                .and_then(|r| r.additional_version_weights())
                .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
                .unwrap_or_default(),
        }
    }};
}

/// The settings of a mapping that UpdateEventSourceMapping accepts, applied to a Create or Update
/// request (same setter names). `clear` sends empty values for absent optional settings so an
/// update removes them (as hashicorp/aws does); a create just leaves them out.
macro_rules! mapping_settings {
    ($req:expr, $spec:expr, $clear:expr) => {{
        let spec: &MappingSpec = $spec;
        let mut req = $req
            .function_name(&spec.function_arn)
            .enabled(spec.enabled)
            .batch_size(spec.batch_size)
            .maximum_batching_window_in_seconds(spec.maximum_batching_window_in_seconds)
            .parallelization_factor(spec.parallelization_factor)
            .bisect_batch_on_function_error(spec.bisect_batch_on_function_error)
            .maximum_retry_attempts(spec.maximum_retry_attempts)
            .maximum_record_age_in_seconds(spec.maximum_record_age_in_seconds)
            .tumbling_window_in_seconds(spec.tumbling_window_in_seconds);
        if !spec.function_response_types.is_empty() || $clear {
            let types = spec.function_response_types.iter().map(|t| FunctionResponseType::from(t.as_str())).collect();
            req = req.set_function_response_types(Some(types));
        }
        if !spec.filter_patterns.is_empty() || $clear {
            let filters = spec.filter_patterns.iter().map(|p| Filter::builder().pattern(p).build()).collect();
            req = req.filter_criteria(FilterCriteria::builder().set_filters(Some(filters)).build());
        }
        match spec.on_failure_destination_arn.as_deref().filter(|d| !d.is_empty()) {
            Some(dest) => {
                let on_failure = OnFailure::builder().destination(dest).build();
                req = req.destination_config(DestinationConfig::builder().on_failure(on_failure).build());
            }
            None if $clear => {
                let on_failure = OnFailure::builder().build();
                req = req.destination_config(DestinationConfig::builder().on_failure(on_failure).build());
            }
            None => {}
        }
        req
    }};
}

impl Lambda {
    /// A client from the provider's SDK configuration.
    ///
    /// `endpoint` is the provider's `endpoints.lambda` override, if any.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Self {
        let mut config = aws_sdk_lambda::config::Builder::from(sdk);
        if let Some(url) = endpoint.filter(|u| !u.is_empty()) {
            config = config.endpoint_url(url);
        }
        Self { client: aws_sdk_lambda::Client::from_conf(config.build()) }
    }

    // ----- functions -------------------------------------------------------------------------

    /// CreateFunction (PackageType Image, not published), retried while IAM propagates or an
    /// update is in progress (15 min, [`LAMBDA_PROPAGATION`] scaled by `MLOPS_RETRY_SCALE`).
    /// Does not wait for Active: call [`Lambda::wait_active`].
    ///
    /// A function of that name already existing is a [`LambdaError::Conflict`] at once.
    pub async fn create_function(
        &self,
        spec: &FunctionSpec,
        cancel: &CancellationToken,
    ) -> Result<FunctionInfo, LambdaError> {
        const OP: &str = "CreateFunction";
        let storage = EphemeralStorage::builder()
            .size(spec.ephemeral_storage)
            .build()
            .map_err(|e| LambdaError::other(OP, e.to_string()))?;
        let mut request = self
            .client
            .create_function()
            .function_name(&spec.name)
            .role(&spec.role_arn)
            .package_type(PackageType::Image)
            .code(FunctionCode::builder().image_uri(&spec.image_uri).build())
            .architectures(Architecture::from(spec.architecture.as_str()))
            .memory_size(spec.memory_size)
            .timeout(spec.timeout)
            .ephemeral_storage(storage)
            .publish(false);
        if !spec.environment.is_empty() {
            request =
                request.environment(Environment::builder().set_variables(Some(to_hash(&spec.environment))).build());
        }
        if let Some(mode) = spec.tracing_mode.as_deref().filter(|m| !m.is_empty()) {
            request = request.tracing_config(TracingConfig::builder().mode(TracingMode::from(mode)).build());
        }
        if let Some(group) = spec.log_group.as_deref().filter(|g| !g.is_empty()) {
            request =
                request.logging_config(LoggingConfig::builder().log_group(group).log_format(LogFormat::Text).build());
        }
        if !spec.tags.is_empty() {
            request = request.set_tags(Some(to_hash(&spec.tags)));
        }
        tracing::info!("lambda: creating function {} from {}", spec.name, spec.image_uri);
        let what = format!("CreateFunction {}", spec.name);
        let out = retry(&what, scale_bound(LAMBDA_PROPAGATION), cancel, function_retryable, || {
            let request = request.clone();
            async move { request.send().await.map_err(|e| classify(OP, e)) }
        })
        .await
        .map_err(|e| LambdaError::from_retry(what.clone(), e))?;
        let info = function_info!(&out);
        checked(OP, info)
    }

    /// GetFunction of `$LATEST` (or `qualifier`: a version or alias); `Ok(None)` when it does not exist.
    /// The only call that fills `image_uri`, `resolved_image_uri`, `reserved_concurrency` and `tags`.
    pub async fn get_function(&self, name: &str, qualifier: Option<&str>) -> Result<Option<FunctionInfo>, LambdaError> {
        const OP: &str = "GetFunction";
        let out = match self
            .client
            .get_function()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_string))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => return Ok(None),
            Err(e) => return Err(classify(OP, e)),
        };
        let Some(config) = out.configuration() else {
            return Err(LambdaError::other(OP, format!("function {name}: the response has no configuration")));
        };
        let mut info = function_info!(config);
        info.image_uri = out.code().and_then(|c| c.image_uri()).unwrap_or_default().to_string();
        info.resolved_image_uri = out.code().and_then(|c| c.resolved_image_uri()).unwrap_or_default().to_string();
        info.reserved_concurrency = out.concurrency().and_then(|c| c.reserved_concurrent_executions());
        info.tags = from_hash(out.tags());
        checked(OP, info).map(Some)
    }

    /// Waits until the function's `State` is `Active` (`Pending` or absent: keep waiting).
    /// `Failed` → [`LambdaError::StateFailed`] with `StateReasonCode: StateReason`.
    pub async fn wait_active(
        &self,
        name: &str,
        bound: Duration,
        cancel: &CancellationToken,
    ) -> Result<FunctionInfo, LambdaError> {
        let what = format!("function {name} to become Active");
        let missing = &AtomicU32::new(0);
        let result = wait_until(&format!("waiting for {what}"), bound, cancel, move || {
            let poll = self.get_function(name, None);
            async move {
                let Some(info) = poll.await? else { return not_found_poll(missing, "GetFunction", name) };
                missing.store(0, Ordering::Relaxed);
                match info.state.as_deref() {
                    Some("Active") => Ok(Poll::Ready(info)),
                    Some("Pending") | None => Ok(Poll::Pending(info.state.clone().unwrap_or_else(|| "Pending".into()))),
                    Some("Failed") => Err(LambdaError::StateFailed {
                        what: format!("function {name} failed to become Active"),
                        reason: reason(info.state_reason_code.as_deref(), info.state_reason.as_deref()),
                    }),
                    Some(other) => Err(LambdaError::StateFailed {
                        what: format!("function {name} did not become Active"),
                        reason: format!(
                            "unexpected state {other}: {}",
                            reason(info.state_reason_code.as_deref(), info.state_reason.as_deref())
                        ),
                    }),
                }
            }
        })
        .await;
        result.map_err(|e| LambdaError::from_retry(format!("waiting for {what}"), e))
    }

    /// UpdateFunctionConfiguration with every setting of `spec` except the image, architecture and
    /// tags (an empty `environment` clears the variables), retried like
    /// [`Lambda::create_function`]. Call [`Lambda::wait_updated`] next.
    ///
    /// moto ignores EphemeralStorage and TracingConfig here (FACTS.md).
    pub async fn update_configuration(
        &self,
        spec: &FunctionSpec,
        cancel: &CancellationToken,
    ) -> Result<FunctionInfo, LambdaError> {
        const OP: &str = "UpdateFunctionConfiguration";
        let storage = EphemeralStorage::builder()
            .size(spec.ephemeral_storage)
            .build()
            .map_err(|e| LambdaError::other(OP, e.to_string()))?;
        let mut request = self
            .client
            .update_function_configuration()
            .function_name(&spec.name)
            .role(&spec.role_arn)
            .memory_size(spec.memory_size)
            .timeout(spec.timeout)
            .ephemeral_storage(storage)
            .environment(Environment::builder().set_variables(Some(to_hash(&spec.environment))).build());
        if let Some(mode) = spec.tracing_mode.as_deref().filter(|m| !m.is_empty()) {
            request = request.tracing_config(TracingConfig::builder().mode(TracingMode::from(mode)).build());
        }
        if let Some(group) = spec.log_group.as_deref().filter(|g| !g.is_empty()) {
            request =
                request.logging_config(LoggingConfig::builder().log_group(group).log_format(LogFormat::Text).build());
        }
        tracing::info!("lambda: updating the configuration of {}", spec.name);
        let what = format!("UpdateFunctionConfiguration {}", spec.name);
        let out = retry(&what, scale_bound(LAMBDA_PROPAGATION), cancel, function_retryable, || {
            let request = request.clone();
            async move { request.send().await.map_err(|e| classify(OP, e)) }
        })
        .await
        .map_err(|e| LambdaError::from_retry(what.clone(), e))?;
        checked(OP, function_info!(&out))
    }

    /// UpdateFunctionCode to `image_uri` and `architecture` (not published), retried like
    /// [`Lambda::create_function`]. Call [`Lambda::wait_updated`] next.
    ///
    /// moto ignores Architectures here (FACTS.md).
    pub async fn update_code(
        &self,
        name: &str,
        image_uri: &str,
        architecture: &str,
        cancel: &CancellationToken,
    ) -> Result<FunctionInfo, LambdaError> {
        const OP: &str = "UpdateFunctionCode";
        let request = self
            .client
            .update_function_code()
            .function_name(name)
            .image_uri(image_uri)
            .architectures(Architecture::from(architecture))
            .publish(false);
        tracing::info!("lambda: updating the code of {name} to {image_uri}");
        let what = format!("UpdateFunctionCode {name}");
        let out = retry(&what, scale_bound(LAMBDA_PROPAGATION), cancel, function_retryable, || {
            let request = request.clone();
            async move { request.send().await.map_err(|e| classify(OP, e)) }
        })
        .await
        .map_err(|e| LambdaError::from_retry(what.clone(), e))?;
        checked(OP, function_info!(&out))
    }

    /// Waits until `LastUpdateStatus` of `$LATEST` (or `qualifier`, e.g. a just-published version)
    /// is `Successful`; `InProgress` or absent: keep waiting. `Failed` →
    /// [`LambdaError::StateFailed`] with `LastUpdateStatusReasonCode: LastUpdateStatusReason`.
    pub async fn wait_updated(
        &self,
        name: &str,
        qualifier: Option<&str>,
        bound: Duration,
        cancel: &CancellationToken,
    ) -> Result<FunctionInfo, LambdaError> {
        let target = match qualifier {
            Some(q) => format!("{name}:{q}"),
            None => name.to_string(),
        };
        let what = format!("the update of function {target} to finish");
        let missing = &AtomicU32::new(0);
        let target = target.as_str();
        let result = wait_until(&format!("waiting for {what}"), bound, cancel, move || {
            let poll = self.get_function(name, qualifier);
            async move {
                let Some(info) = poll.await? else { return not_found_poll(missing, "GetFunction", target) };
                missing.store(0, Ordering::Relaxed);
                match info.last_update_status.as_deref() {
                    Some("Successful") => Ok(Poll::Ready(info)),
                    Some("InProgress") | None => Ok(Poll::Pending("InProgress".into())),
                    Some("Failed") => Err(LambdaError::StateFailed {
                        what: format!("the update of function {target} failed"),
                        reason: reason(
                            info.last_update_status_reason_code.as_deref(),
                            info.last_update_status_reason.as_deref(),
                        ),
                    }),
                    Some(other) => Err(LambdaError::StateFailed {
                        what: format!("the update of function {target} did not finish"),
                        reason: format!("unexpected LastUpdateStatus {other}"),
                    }),
                }
            }
        })
        .await;
        result.map_err(|e| LambdaError::from_retry(format!("waiting for {what}"), e))
    }

    /// PublishVersion of `$LATEST`, retried on `ResourceConflictException` (an update still in
    /// progress) for 15 min. Returns the new version (its `version` is the number). Wait for it
    /// with [`Lambda::wait_updated`] and `Some(&info.version)`.
    ///
    /// Lambda (and moto) return the existing version when nothing changed since it was published.
    pub async fn publish_version(
        &self,
        name: &str,
        description: &str,
        cancel: &CancellationToken,
    ) -> Result<FunctionInfo, LambdaError> {
        const OP: &str = "PublishVersion";
        let request = self.client.publish_version().function_name(name).description(description);
        let what = format!("PublishVersion {name}");
        let out = retry(&what, scale_bound(LAMBDA_PROPAGATION), cancel, is_update_conflict, || {
            let request = request.clone();
            async move { request.send().await.map_err(|e| classify(OP, e)) }
        })
        .await
        .map_err(|e| LambdaError::from_retry(what.clone(), e))?;
        let info = checked(OP, function_info!(&out))?;
        tracing::info!("lambda: published {name} version {}", info.version);
        Ok(info)
    }

    /// PutFunctionConcurrency with `Some(n)`; DeleteFunctionConcurrency with `None` (unreserved).
    pub async fn put_reserved_concurrency(&self, name: &str, reserved: Option<i32>) -> Result<(), LambdaError> {
        match reserved {
            Some(n) => {
                tracing::info!("lambda: reserving {n} concurrent executions for {name}");
                self.client
                    .put_function_concurrency()
                    .function_name(name)
                    .reserved_concurrent_executions(n)
                    .send()
                    .await
                    .map_err(|e| classify("PutFunctionConcurrency", e))?;
            }
            None => {
                tracing::info!("lambda: removing the reserved concurrency of {name}");
                self.client
                    .delete_function_concurrency()
                    .function_name(name)
                    .send()
                    .await
                    .map_err(|e| classify("DeleteFunctionConcurrency", e))?;
            }
        }
        Ok(())
    }

    /// GetFunctionConcurrency: the reserved concurrency, `None` when unreserved.
    /// ([`Lambda::get_function`] returns it too, without an extra call.)
    pub async fn get_reserved_concurrency(&self, name: &str) -> Result<Option<i32>, LambdaError> {
        let out = self
            .client
            .get_function_concurrency()
            .function_name(name)
            .send()
            .await
            .map_err(|e| classify("GetFunctionConcurrency", e))?;
        Ok(out.reserved_concurrent_executions())
    }

    /// DeleteFunction (all versions and aliases); already gone is success. Retried on
    /// `ResourceConflictException` (an update in progress), then waits until GetFunction says the
    /// function is gone (10 min). Delete its event source mappings first: DeleteFunction leaves
    /// them behind (moto; AWS deletes them asynchronously).
    pub async fn delete_function(&self, name: &str, cancel: &CancellationToken) -> Result<(), LambdaError> {
        const OP: &str = "DeleteFunction";
        tracing::info!("lambda: deleting function {name}");
        let request = self.client.delete_function().function_name(name);
        let what = format!("DeleteFunction {name}");
        let result = retry(&what, scale_bound(LAMBDA_PROPAGATION), cancel, is_update_conflict, || {
            let request = request.clone();
            async move {
                match request.send().await {
                    Ok(_) => Ok(()),
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
                    Err(e) => Err(classify(OP, e)),
                }
            }
        })
        .await;
        result.map_err(|e| LambdaError::from_retry(what.clone(), e))?;
        let gone = format!("waiting for function {name} to be deleted");
        wait_until(&gone, scale_bound(FUNCTION_DELETE_WAIT), cancel, || {
            let poll = self.get_function(name, None);
            async move { Ok(if poll.await?.is_some() { Poll::Pending("still present".into()) } else { Poll::Ready(()) }) }
        })
        .await
        .map_err(|e| LambdaError::from_retry(gone.clone(), e))
    }

    /// The published versions (ListVersionsByFunction, all pages), in numeric order, without `$LATEST`.
    pub async fn list_versions(&self, name: &str) -> Result<Vec<String>, LambdaError> {
        const OP: &str = "ListVersionsByFunction";
        let mut versions = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_versions_by_function()
                .function_name(name)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify(OP, e))?;
            versions.extend(
                out.versions().iter().filter_map(|v| v.version()).filter(|v| *v != "$LATEST").map(str::to_string),
            );
            match out.next_marker().filter(|m| !m.is_empty()) {
                Some(next) => marker = Some(next.to_string()),
                None => break,
            }
        }
        versions.sort_by_key(|v| (v.parse::<u64>().unwrap_or(u64::MAX), v.clone()));
        versions.dedup();
        Ok(versions)
    }

    /// DeleteFunction of one published version; already gone is success. Refuses `$LATEST` and an
    /// empty version (which would delete the whole function).
    pub async fn delete_version(&self, name: &str, version: &str) -> Result<(), LambdaError> {
        const OP: &str = "DeleteFunction";
        let version = version.trim();
        if version.is_empty() || version == "$LATEST" {
            return Err(LambdaError::other(OP, format!("refusing to delete version {version:?} of {name}")));
        }
        tracing::info!("lambda: deleting {name} version {version}");
        match self.client.delete_function().function_name(name).qualifier(version).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
            Err(e) => Err(classify(OP, e)),
        }
    }

    /// TagResource on a function ARN (no-op when `tags` is empty).
    pub async fn tag_resource(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), LambdaError> {
        if tags.is_empty() {
            return Ok(());
        }
        self.client
            .tag_resource()
            .resource(arn)
            .set_tags(Some(to_hash(tags)))
            .send()
            .await
            .map_err(|e| classify("TagResource", e))?;
        Ok(())
    }

    /// UntagResource on a function ARN (no-op when `keys` is empty).
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), LambdaError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.client
            .untag_resource()
            .resource(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| classify("UntagResource", e))?;
        Ok(())
    }

    // ----- aliases ---------------------------------------------------------------------------

    /// CreateAlias `alias` → `version`, with canary `weights` (version → share, empty: none).
    /// AWS allows at most one additional version; moto accepts more (FACTS.md).
    pub async fn create_alias(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        weights: &BTreeMap<String, f64>,
    ) -> Result<AliasInfo, LambdaError> {
        tracing::info!("lambda: creating alias {function}:{alias} -> {version}{}", weights_text(weights));
        let mut request = self.client.create_alias().function_name(function).name(alias).function_version(version);
        if !weights.is_empty() {
            request = request.routing_config(routing(weights));
        }
        let out = request.send().await.map_err(|e| classify("CreateAlias", e))?;
        Ok(alias_info!(&out))
    }

    /// UpdateAlias to `version` with `weights` (empty clears the routing weights; then polls
    /// GetAlias until they are gone, as hashicorp/aws does, up to [`ALIAS_WEIGHTS_WAIT`]).
    pub async fn update_alias(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        weights: &BTreeMap<String, f64>,
    ) -> Result<AliasInfo, LambdaError> {
        tracing::info!("lambda: moving alias {function}:{alias} -> {version}{}", weights_text(weights));
        let out = self
            .client
            .update_alias()
            .function_name(function)
            .name(alias)
            .function_version(version)
            .routing_config(routing(weights))
            .send()
            .await
            .map_err(|e| classify("UpdateAlias", e))?;
        let info = alias_info!(&out);
        if !weights.is_empty() || info.additional_weights.is_empty() {
            return Ok(info);
        }
        // The weights were cleared but the answer still shows some: wait for GetAlias to agree.
        let what = format!("waiting for the routing weights of alias {function}:{alias} to clear");
        let never = CancellationToken::new();
        wait_until(&what, scale_bound(ALIAS_WEIGHTS_WAIT), &never, || {
            let poll = self.get_alias(function, alias);
            async move {
                match poll.await? {
                    Some(a) if a.additional_weights.is_empty() => Ok(Poll::Ready(a)),
                    Some(_) => Ok(Poll::Pending("weighted".into())),
                    None => Err(LambdaError::NotFound {
                        operation: "GetAlias",
                        code: None,
                        message: format!("alias {function}:{alias} disappeared"),
                    }),
                }
            }
        })
        .await
        .map_err(|e| LambdaError::from_retry(what.clone(), e))
    }

    /// GetAlias; `Ok(None)` when the alias (or the function) does not exist.
    pub async fn get_alias(&self, function: &str, alias: &str) -> Result<Option<AliasInfo>, LambdaError> {
        match self.client.get_alias().function_name(function).name(alias).send().await {
            Ok(out) => Ok(Some(alias_info!(&out))),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(classify("GetAlias", e)),
        }
    }

    /// DeleteAlias; already gone is success.
    pub async fn delete_alias(&self, function: &str, alias: &str) -> Result<(), LambdaError> {
        tracing::info!("lambda: deleting alias {function}:{alias}");
        match self.client.delete_alias().function_name(function).name(alias).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
            Err(e) => Err(classify("DeleteAlias", e)),
        }
    }

    // ----- invoke ----------------------------------------------------------------------------

    /// A synchronous (RequestResponse) Invoke of `function` at `qualifier` (version or alias) with
    /// `payload`. The per-call timeouts are raised to [`INVOKE_TIMEOUT`] (Lambda's 15 min): bound
    /// a smoke test with [`Lambda::invoke_within`] or your own `tokio::time::timeout`.
    ///
    /// A function error is not an `Err`: see [`InvokeOutcome::function_error`]. moto answers with
    /// canned results (FACTS.md: `/moto-api/static/lambda-simple/response`) and never sets
    /// FunctionError or ExecutedVersion.
    pub async fn invoke(
        &self,
        function: &str,
        qualifier: Option<&str>,
        payload: &[u8],
    ) -> Result<InvokeOutcome, LambdaError> {
        self.invoke_within(function, qualifier, payload, INVOKE_TIMEOUT).await
    }

    /// [`Lambda::invoke`] with every attempt and the whole call bounded by `timeout` (a Terraform
    /// `smoke_test.timeout`). A timeout is a [`LambdaError::Transient`].
    pub async fn invoke_within(
        &self,
        function: &str,
        qualifier: Option<&str>,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<InvokeOutcome, LambdaError> {
        const OP: &str = "Invoke";
        let timeouts = aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(timeout)
            .operation_timeout(timeout)
            .build();
        tracing::debug!(
            "lambda: invoking {function}{} ({} bytes)",
            qualifier.map(|q| format!(":{q}")).unwrap_or_default(),
            payload.len()
        );
        let out = self
            .client
            .invoke()
            .function_name(function)
            .set_qualifier(qualifier.map(str::to_string))
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload.to_vec()))
            .customize()
            .config_override(aws_sdk_lambda::config::Builder::default().timeout_config(timeouts))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(InvokeOutcome {
            status: out.status_code(),
            function_error: out.function_error().filter(|e| !e.is_empty()).map(str::to_string),
            payload: out.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default(),
            executed_version: out.executed_version().map(str::to_string),
        })
    }

    // ----- event source mappings -------------------------------------------------------------

    /// CreateEventSourceMapping, retried while the function's role propagates
    /// ([`MAPPING_IAM_MESSAGES`], 15 min); then waits while Creating/Enabling/Disabling (10 min).
    ///
    /// If the wait fails the mapping exists: the error is [`LambdaError::MappingNotReady`] with its UUID.
    pub async fn create_mapping(
        &self,
        spec: &MappingSpec,
        cancel: &CancellationToken,
    ) -> Result<MappingInfo, LambdaError> {
        const OP: &str = "CreateEventSourceMapping";
        let request = mapping_settings!(self.client.create_event_source_mapping(), spec, false)
            .event_source_arn(&spec.stream_arn)
            .starting_position(EventSourcePosition::from(spec.starting_position.as_str()))
            .set_starting_position_timestamp(spec.starting_position_timestamp.map(DateTime::from_secs));
        tracing::info!("lambda: creating the event source mapping {} -> {}", spec.stream_arn, spec.function_arn);
        let what = format!("CreateEventSourceMapping {} -> {}", spec.stream_arn, spec.function_arn);
        let out = retry(&what, scale_bound(LAMBDA_PROPAGATION), cancel, is_mapping_iam_propagation, || {
            let request = request.clone();
            async move { request.send().await.map_err(|e| classify(OP, e)) }
        })
        .await
        .map_err(|e| LambdaError::from_retry(what.clone(), e))?;
        let info = mapping_info!(&out);
        if info.uuid.is_empty() {
            return Err(LambdaError::other(OP, "the response has no UUID"));
        }
        let uuid = info.uuid.clone();
        self.wait_mapping(&uuid, &["Creating", "Enabling", "Disabling"], scale_bound(MAPPING_CREATE_WAIT), cancel)
            .await
            .map_err(|e| LambdaError::MappingNotReady { uuid, source: Box::new(e) })
    }

    /// GetEventSourceMapping; `Ok(None)` when it does not exist (ResourceNotFoundException, or an
    /// answer without a UUID: moto answers some unknown-UUID calls with 200 `{}`, FACTS.md).
    pub async fn get_mapping(&self, uuid: &str) -> Result<Option<MappingInfo>, LambdaError> {
        match self.client.get_event_source_mapping().uuid(uuid).send().await {
            Ok(out) => {
                let info = mapping_info!(&out);
                Ok(Some(info).filter(|i| !i.uuid.is_empty()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(classify("GetEventSourceMapping", e)),
        }
    }

    /// UpdateEventSourceMapping with the updatable settings of `spec` (`function_arn`, `enabled`,
    /// batching, retries, destination, filters, response types, tumbling window; an absent
    /// destination, empty filters or empty response types are cleared). `stream_arn` and the
    /// starting position cannot change: that needs a new mapping. Retried while IAM propagates or
    /// the mapping is in use (15 min), then waits while Updating/Enabling/Disabling (10 min).
    ///
    /// A mapping that does not exist is [`LambdaError::NotFound`] (moto answers 200 `{}`).
    pub async fn update_mapping(
        &self,
        uuid: &str,
        spec: &MappingSpec,
        cancel: &CancellationToken,
    ) -> Result<MappingInfo, LambdaError> {
        const OP: &str = "UpdateEventSourceMapping";
        let request = mapping_settings!(self.client.update_event_source_mapping().uuid(uuid), spec, true);
        tracing::info!("lambda: updating the event source mapping {uuid}");
        let what = format!("UpdateEventSourceMapping {uuid}");
        let retryable = |e: &LambdaError| is_mapping_iam_propagation(e) || e.code() == Some("ResourceInUseException");
        let out = retry(&what, scale_bound(LAMBDA_PROPAGATION), cancel, retryable, || {
            let request = request.clone();
            async move { request.send().await.map_err(|e| classify(OP, e)) }
        })
        .await
        .map_err(|e| LambdaError::from_retry(what.clone(), e))?;
        if out.uuid().is_none_or(str::is_empty) {
            return Err(LambdaError::NotFound {
                operation: OP,
                code: None,
                message: format!("event source mapping {uuid} does not exist"),
            });
        }
        self.wait_mapping(uuid, &["Updating", "Enabling", "Disabling"], scale_bound(MAPPING_UPDATE_WAIT), cancel).await
    }

    /// DeleteEventSourceMapping, retried on `ResourceInUseException` (5 min); then waits while
    /// Deleting until it is gone (5 min). Already gone is success.
    pub async fn delete_mapping(&self, uuid: &str, cancel: &CancellationToken) -> Result<(), LambdaError> {
        const OP: &str = "DeleteEventSourceMapping";
        tracing::info!("lambda: deleting the event source mapping {uuid}");
        let request = self.client.delete_event_source_mapping().uuid(uuid);
        let what = format!("DeleteEventSourceMapping {uuid}");
        let in_use = |e: &LambdaError| e.code() == Some("ResourceInUseException");
        retry(&what, scale_bound(MAPPING_DELETE_WAIT), cancel, in_use, || {
            let request = request.clone();
            async move {
                match request.send().await {
                    Ok(_) => Ok(()),
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
                    Err(e) => Err(classify(OP, e)),
                }
            }
        })
        .await
        .map_err(|e| LambdaError::from_retry(what.clone(), e))?;
        let gone = format!("waiting for the event source mapping {uuid} to be deleted");
        wait_until(&gone, scale_bound(MAPPING_DELETE_WAIT), cancel, || {
            let poll = self.get_mapping(uuid);
            async move {
                match poll.await? {
                    None => Ok(Poll::Ready(())),
                    Some(m) if m.state == "Deleting" => Ok(Poll::Pending(m.state)),
                    Some(m) => Err(LambdaError::StateFailed {
                        what: format!("event source mapping {uuid} was not deleted"),
                        reason: format!("unexpected state {}{}", m.state, transition(&m)),
                    }),
                }
            }
        })
        .await
        .map_err(|e| LambdaError::from_retry(gone.clone(), e))
    }

    /// ListEventSourceMappings of the whole account and region (no filter), all pages.
    pub async fn list_all_mappings(&self) -> Result<Vec<MappingInfo>, LambdaError> {
        self.list_mappings_where(None).await
    }

    /// ListAliases of `function`, all pages.
    pub async fn list_aliases(&self, function: &str) -> Result<Vec<AliasInfo>, LambdaError> {
        let mut aliases = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_aliases()
                .function_name(function)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify("ListAliases", e))?;
            aliases.extend(out.aliases().iter().map(|a| alias_info!(a)));
            match out.next_marker().filter(|m| !m.is_empty()) {
                Some(next) => marker = Some(next.to_string()),
                None => break,
            }
        }
        Ok(aliases)
    }

    /// ListEventSourceMappings for `function`, all pages. Pass what the mappings target — for
    /// `mlops_pipeline` the alias ARN: mappings are listed by their qualified function ARN, and moto
    /// matches `FunctionName` literally (a bare function name lists none of the alias's mappings).
    pub async fn list_mappings(&self, function: &str) -> Result<Vec<MappingInfo>, LambdaError> {
        self.list_mappings_where(Some(function)).await
    }

    async fn list_mappings_where(&self, function: Option<&str>) -> Result<Vec<MappingInfo>, LambdaError> {
        const OP: &str = "ListEventSourceMappings";
        let mut mappings = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_event_source_mappings()
                .set_function_name(function.map(str::to_string))
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify(OP, e))?;
            mappings.extend(out.event_source_mappings().iter().map(|m| mapping_info!(m)));
            match out.next_marker().filter(|m| !m.is_empty()) {
                Some(next) => marker = Some(next.to_string()),
                None => break,
            }
        }
        Ok(mappings)
    }

    /// Polls the mapping while its state is one of `pending`; Enabled or Disabled ends the wait.
    async fn wait_mapping(
        &self,
        uuid: &str,
        pending: &[&str],
        bound: Duration,
        cancel: &CancellationToken,
    ) -> Result<MappingInfo, LambdaError> {
        let what = format!("waiting for the event source mapping {uuid} to settle");
        let missing = &AtomicU32::new(0);
        let result = wait_until(&what, bound, cancel, move || {
            let poll = self.get_mapping(uuid);
            async move {
                let Some(info) = poll.await? else { return not_found_poll(missing, "GetEventSourceMapping", uuid) };
                missing.store(0, Ordering::Relaxed);
                match info.state.as_str() {
                    "Enabled" | "Disabled" => Ok(Poll::Ready(info)),
                    s if pending.contains(&s) => Ok(Poll::Pending(info.state.clone())),
                    s => Err(LambdaError::StateFailed {
                        what: format!("event source mapping {uuid} did not become Enabled or Disabled"),
                        reason: format!("unexpected state {s:?}{}", transition(&info)),
                    }),
                }
            }
        })
        .await;
        result.map_err(|e| LambdaError::from_retry(what.clone(), e))
    }
}

/// One more "not found" during a wait: keep waiting (eventual consistency) up to
/// [`NOT_FOUND_CHECKS`] in a row, then fail.
fn not_found_poll<T>(missing: &AtomicU32, operation: &'static str, what: &str) -> Result<Poll<T>, LambdaError> {
    if missing.fetch_add(1, Ordering::Relaxed) + 1 >= NOT_FOUND_CHECKS {
        return Err(LambdaError::NotFound { operation, code: None, message: format!("{what} does not exist") });
    }
    Ok(Poll::Pending("not found yet".into()))
}

/// `Code: Reason`, or whichever of the two AWS gave.
fn reason(code: Option<&str>, reason: Option<&str>) -> String {
    match (code.filter(|c| !c.is_empty()), reason.filter(|r| !r.is_empty())) {
        (Some(c), Some(r)) => format!("{c}: {r}"),
        (Some(c), None) => c.to_string(),
        (None, Some(r)) => r.to_string(),
        (None, None) => "no reason given".to_string(),
    }
}

fn transition(m: &MappingInfo) -> String {
    m.state_transition_reason.as_deref().filter(|r| !r.is_empty()).map(|r| format!(" ({r})")).unwrap_or_default()
}

fn routing(weights: &BTreeMap<String, f64>) -> AliasRoutingConfiguration {
    let map: HashMap<String, f64> = weights.iter().map(|(k, v)| (k.clone(), *v)).collect();
    AliasRoutingConfiguration::builder().set_additional_version_weights(Some(map)).build()
}

fn weights_text(weights: &BTreeMap<String, f64>) -> String {
    if weights.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = weights.iter().map(|(v, w)| format!("{v}={w}")).collect();
    format!(" (weights {})", parts.join(", "))
}

/// A function answer must carry its ARN.
fn checked(operation: &'static str, info: FunctionInfo) -> Result<FunctionInfo, LambdaError> {
    if info.arn.is_empty() {
        return Err(LambdaError::other(operation, "the response has no FunctionArn"));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: Kind, code: &str, message: &str) -> LambdaError {
        LambdaError::from_failure("CreateFunction", Failure { kind, code: Some(code.into()), message: message.into() })
    }

    #[test]
    fn iam_propagation_is_the_four_hashicorp_messages_on_invalid_parameter() {
        for m in [
            "The role defined for the function cannot be assumed by Lambda",
            "The provided execution role does not have permissions to call CreateNetworkInterface on EC2",
            "Your request has been throttled by EC2, please make sure you have enough API rate limit",
            "Lambda was unable to configure access to your environment variables because the KMS key is invalid \
             for CreateGrant. Please check your KMS key settings",
        ] {
            let e = err(Kind::Other, "InvalidParameterValueException", m);
            assert!(is_iam_propagation(&e), "{m}");
            assert!(function_retryable(&e));
        }
        let e = err(Kind::Other, "InvalidParameterValueException", "MemorySize must be at least 128");
        assert!(!is_iam_propagation(&e) && !function_retryable(&e));
        // The message alone is not enough: it must be that exception.
        let e =
            err(Kind::Other, "ValidationException", "The role defined for the function cannot be assumed by Lambda");
        assert!(!is_iam_propagation(&e));
    }

    #[test]
    fn mapping_propagation_is_the_three_hashicorp_messages() {
        for m in [
            "The function execution role cannot be assumed by Lambda",
            "The provided execution role does not have permissions to call GetRecords on Kinesis",
            "Please ensure the role can perform the kinesis:DescribeStream action",
        ] {
            assert!(is_mapping_iam_propagation(&err(Kind::Other, "InvalidParameterValueException", m)), "{m}");
        }
        assert!(!is_mapping_iam_propagation(&err(Kind::Other, "InvalidParameterValueException", "BatchSize too big")));
    }

    #[test]
    fn update_conflicts_are_retried_but_not_an_existing_function() {
        let busy = err(
            Kind::Conflict,
            "ResourceConflictException",
            "The operation cannot be performed at this time. An update is in progress for resource: arn:…",
        );
        assert!(is_update_conflict(&busy) && function_retryable(&busy) && busy.is_conflict());
        let exists = err(Kind::Conflict, "ResourceConflictException", "Function already exist: churn");
        assert!(!is_update_conflict(&exists) && !function_retryable(&exists) && exists.is_conflict());
        let moto_alias = err(Kind::Conflict, "ConflictException", "Alias already exists");
        assert!(!is_update_conflict(&moto_alias) && moto_alias.is_conflict());
    }

    #[test]
    fn retry_outcomes_become_errors_that_say_what_was_waited_for() {
        let last = err(
            Kind::Other,
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda",
        );
        let e = LambdaError::from_retry(
            "CreateFunction churn".into(),
            RetryError::TimedOut { last, after: Duration::from_secs(900) },
        );
        assert!(e.is_timeout());
        let text = e.to_string();
        assert!(text.starts_with("Lambda CreateFunction churn: gave up after 15m: "), "{text}");
        assert!(text.contains("(InvalidParameterValueException)") && text.contains("cannot be assumed"), "{text}");

        let e = LambdaError::from_retry(
            "waiting for function churn to become Active".into(),
            RetryError::StillPending { state: "Pending".into(), after: Duration::from_secs(600) },
        );
        assert_eq!(
            e.to_string(),
            "Lambda waiting for function churn to become Active: gave up after 10m: still Pending"
        );

        let e = LambdaError::from_retry("x".into(), RetryError::Cancelled);
        assert!(e.is_cancelled());
    }

    #[test]
    fn failed_states_carry_aws_reasons() {
        assert_eq!(
            reason(Some("ImageAccessDenied"), Some("Lambda does not have permission to access the ECR image")),
            "ImageAccessDenied: Lambda does not have permission to access the ECR image"
        );
        assert_eq!(reason(None, Some("r")), "r");
        assert_eq!(reason(Some("c"), Some("")), "c");
        assert_eq!(reason(None, None), "no reason given");
        let e = LambdaError::StateFailed {
            what: "function churn failed to become Active".into(),
            reason: reason(Some("ImageAccessDenied"), Some("no access")),
        };
        assert_eq!(e.to_string(), "Lambda function churn failed to become Active: ImageAccessDenied: no access");
    }

    #[test]
    fn mapping_not_ready_keeps_the_uuid_and_the_cause() {
        let e = LambdaError::MappingNotReady {
            uuid: "1234-abcd".into(),
            source: Box::new(LambdaError::TimedOut {
                what: "waiting".into(),
                after: Duration::from_secs(600),
                last: "still Creating".into(),
            }),
        };
        let text = e.to_string();
        assert!(text.contains("1234-abcd") && text.contains("still Creating"), "{text}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn enabled_is_read_back_from_the_state() {
        assert!(enabled_from_state("Enabled"));
        assert!(enabled_from_state("Enabling"));
        assert!(!enabled_from_state("Disabled"));
        assert!(!enabled_from_state("Disabling"));
        // Transitional states settle within the client's waits; until then hashicorp keeps `true`.
        assert!(enabled_from_state("Creating"));
    }

    #[test]
    fn debug_never_shows_environment_values() {
        let spec = FunctionSpec {
            name: "f".into(),
            role_arn: "arn:aws:iam::1:role/r".into(),
            image_uri: "x@sha256:00".into(),
            architecture: "x86_64".into(),
            memory_size: 128,
            timeout: 3,
            ephemeral_storage: 512,
            environment: BTreeMap::from([("API_KEY".to_string(), "hunter2".to_string())]),
            tracing_mode: None,
            log_group: None,
            tags: BTreeMap::new(),
        };
        let info = FunctionInfo { environment: spec.environment.clone(), ..FunctionInfo::default() };
        let shown = format!("{spec:?} {spec:#?} {info:?} {info:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("API_KEY") && shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn weights_are_logged_readably() {
        assert_eq!(weights_text(&BTreeMap::new()), "");
        assert_eq!(weights_text(&BTreeMap::from([("3".to_string(), 0.1)])), " (weights 3=0.1)");
    }
}
