//! CloudWatch Logs for `mlops_pipeline`: the function's log group and its retention, through
//! `aws-sdk-cloudwatchlogs`.
//!
//! ```no_run
//! # async fn demo(sdk: &aws_config::SdkConfig) -> Result<(), mlops::clients::logs::LogsError> {
//! use mlops::clients::logs::Logs;
//!
//! let logs = Logs::new(sdk, None);
//! let created = logs.create_log_group("/aws/lambda/churn", Some(14), Default::default()).await?;
//! let group = logs.describe_log_group("/aws/lambda/churn").await?;
//! println!("created by us: {created}; {group:?}");
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};

use aws_sdk_cloudwatchlogs::config::http::HttpResponse;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};

use super::retry::{code_suffix, sdk_failure, Failure, Kind};

/// The CloudWatch Logs client of one provider configuration.
#[derive(Debug, Clone)]
pub struct Logs {
    client: aws_sdk_cloudwatchlogs::Client,
}

/// A log group as CloudWatch Logs describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogGroupInfo {
    /// Log group name, e.g. `/aws/lambda/churn`.
    pub name: String,
    /// The ARN without the `:*` suffix (`logGroupArn`; `arn` minus `:*` when absent), the form IAM
    /// policies append `:*` or `:log-stream:*` to.
    pub arn: String,
    /// Retention in days; `None` means logs never expire.
    pub retention_days: Option<i32>,
}

/// Why a CloudWatch Logs call failed. Every variant names the API operation (`operation`, also
/// the IAM action `logs:<operation>`) and keeps AWS's error code and message.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// The credentials are missing, invalid or expired, or lack a permission.
    #[error(
        "CloudWatch Logs {operation} was denied{}: {message}. Check the provider's AWS credentials and that they \
         allow logs:{operation}",
        code_suffix(.code)
    )]
    Auth { operation: &'static str, code: Option<String>, message: String },
    /// Throttling, a server-side failure, a timeout or a network error that outlived the SDK's retries.
    #[error("CloudWatch Logs {operation} failed{} (transient, retry later): {message}", code_suffix(.code))]
    Transient { operation: &'static str, code: Option<String>, message: String },
    /// The log group does not exist.
    #[error("CloudWatch Logs {operation}: not found{}: {message}", code_suffix(.code))]
    NotFound { operation: &'static str, code: Option<String>, message: String },
    /// `ResourceAlreadyExistsException` or `OperationAbortedException` (a concurrent change).
    #[error("CloudWatch Logs {operation}: conflict{}: {message}", code_suffix(.code))]
    Conflict { operation: &'static str, code: Option<String>, message: String },
    /// Anything else CloudWatch Logs refused (invalid retention, limit exceeded, …).
    #[error("CloudWatch Logs {operation} failed{}: {message}", code_suffix(.code))]
    Other { operation: &'static str, code: Option<String>, message: String },
}

impl LogsError {
    /// True for throttling, server errors, timeouts and network failures.
    pub fn is_transient(&self) -> bool {
        matches!(self, LogsError::Transient { .. })
    }

    /// True when the credentials were rejected or lack a permission.
    pub fn is_auth(&self) -> bool {
        matches!(self, LogsError::Auth { .. })
    }

    /// True when the log group does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, LogsError::NotFound { .. })
    }

    /// True when the log group exists already or is being changed concurrently.
    pub fn is_conflict(&self) -> bool {
        matches!(self, LogsError::Conflict { .. })
    }

    /// AWS's error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            LogsError::Auth { code, .. }
            | LogsError::Transient { code, .. }
            | LogsError::NotFound { code, .. }
            | LogsError::Conflict { code, .. }
            | LogsError::Other { code, .. } => code.as_deref(),
        }
    }

    fn from_failure(operation: &'static str, f: Failure) -> Self {
        let Failure { kind, code, message } = f;
        match kind {
            Kind::Auth => LogsError::Auth { operation, code, message },
            Kind::Transient => LogsError::Transient { operation, code, message },
            Kind::NotFound => LogsError::NotFound { operation, code, message },
            Kind::Conflict => LogsError::Conflict { operation, code, message },
            Kind::Other => LogsError::Other { operation, code, message },
        }
    }
}

fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> LogsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    LogsError::from_failure(operation, sdk_failure(&err))
}

impl Logs {
    /// A client from the provider's SDK configuration.
    ///
    /// `endpoint` is the provider's `endpoints.logs` override, if any.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Self {
        let mut config = aws_sdk_cloudwatchlogs::config::Builder::from(sdk);
        if let Some(url) = endpoint.filter(|u| !u.is_empty()) {
            config = config.endpoint_url(url);
        }
        Self { client: aws_sdk_cloudwatchlogs::Client::from_conf(config.build()) }
    }

    /// CreateLogGroup with tags, then PutRetentionPolicy when `retention_days` is given.
    ///
    /// `Ok(true)`: created by this call. `Ok(false)`: it already existed (ResourceAlreadyExists),
    /// so it is not ours: nothing about it is changed, not even its retention.
    pub async fn create_log_group(
        &self,
        name: &str,
        retention_days: Option<i32>,
        tags: BTreeMap<String, String>,
    ) -> Result<bool, LogsError> {
        const OP: &str = "CreateLogGroup";
        let tags: HashMap<String, String> = tags.into_iter().collect();
        let request =
            self.client.create_log_group().log_group_name(name).set_tags(Some(tags).filter(|t| !t.is_empty()));
        match request.send().await {
            Ok(_) => tracing::info!("logs: created log group {name}"),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception()) => {
                tracing::info!("logs: log group {name} already exists; leaving it as it is");
                return Ok(false);
            }
            Err(e) => return Err(classify(OP, e)),
        }
        if retention_days.is_some() {
            self.put_retention(name, retention_days).await?;
        }
        Ok(true)
    }

    /// CreateLogStream; an existing stream is fine.
    pub async fn create_log_stream(&self, group: &str, stream: &str) -> Result<(), LogsError> {
        match self.client.create_log_stream().log_group_name(group).log_stream_name(stream).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception()) => Ok(()),
            Err(e) => Err(classify("CreateLogStream", e)),
        }
    }

    /// PutLogEvents: `(epoch milliseconds, message)` in time order, at most 10,000 per call.
    pub async fn put_log_events(&self, group: &str, stream: &str, events: &[(i64, String)]) -> Result<(), LogsError> {
        let events = events
            .iter()
            .map(|(ts, m)| aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(*ts).message(m).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LogsError::Transient { operation: "PutLogEvents", code: None, message: e.to_string() })?;
        self.client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutLogEvents", e))
    }

    /// PutRetentionPolicy with `Some(days)`; DeleteRetentionPolicy (never expire) with `None`.
    pub async fn put_retention(&self, name: &str, retention_days: Option<i32>) -> Result<(), LogsError> {
        match retention_days {
            Some(days) => {
                tracing::info!("logs: retention of {name}: {days} days");
                self.client
                    .put_retention_policy()
                    .log_group_name(name)
                    .retention_in_days(days)
                    .send()
                    .await
                    .map_err(|e| classify("PutRetentionPolicy", e))?;
            }
            None => {
                tracing::info!("logs: retention of {name}: never expire");
                self.client
                    .delete_retention_policy()
                    .log_group_name(name)
                    .send()
                    .await
                    .map_err(|e| classify("DeleteRetentionPolicy", e))?;
            }
        }
        Ok(())
    }

    /// The log group named exactly `name` (DescribeLogGroups by prefix, every page, then an exact
    /// match: `/aws/lambda/a` must not answer for `/aws/lambda/ab`); `Ok(None)` when absent.
    pub async fn describe_log_group(&self, name: &str) -> Result<Option<LogGroupInfo>, LogsError> {
        const OP: &str = "DescribeLogGroups";
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(name)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify(OP, e))?;
            if let Some(group) = out.log_groups().iter().find(|g| g.log_group_name() == Some(name)) {
                let arn = match group.log_group_arn() {
                    Some(arn) if !arn.is_empty() => arn.to_string(),
                    _ => group.arn().unwrap_or_default().trim_end_matches(":*").to_string(),
                };
                return Ok(Some(LogGroupInfo {
                    name: name.to_string(),
                    arn,
                    retention_days: group.retention_in_days(),
                }));
            }
            match out.next_token().filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next.to_string()),
                None => return Ok(None),
            }
        }
    }

    /// DeleteLogGroup (and every log in it); already gone is success.
    pub async fn delete_log_group(&self, name: &str) -> Result<(), LogsError> {
        tracing::info!("logs: deleting log group {name}");
        match self.client.delete_log_group().log_group_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
            Err(e) => Err(classify("DeleteLogGroup", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_and_name_the_action() {
        let e = LogsError::from_failure(
            "CreateLogGroup",
            Failure { kind: Kind::Auth, code: Some("AccessDeniedException".into()), message: "no".into() },
        );
        assert!(e.is_auth() && !e.is_transient());
        assert!(e.to_string().contains("logs:CreateLogGroup"), "{e}");
        let e = LogsError::from_failure(
            "DeleteLogGroup",
            Failure { kind: Kind::NotFound, code: Some("ResourceNotFoundException".into()), message: "gone".into() },
        );
        assert!(e.is_not_found());
        assert_eq!(e.code(), Some("ResourceNotFoundException"));
    }
}
