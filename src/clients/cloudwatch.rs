//! CloudWatch alarms for `mlops_pipeline`'s canary: the states of the alarms watched during a
//! bake, through `aws-sdk-cloudwatch`.
//!
//! **Wire protocol.** aws-sdk-cloudwatch (1.140) speaks only Smithy RPC v2 CBOR
//! (`POST /service/GraniteServiceVersion20100801/operation/…`). CloudWatch also serves the JSON
//! protocol (`POST /` with `X-Amz-Target: GraniteServiceVersion20100801.<Operation>`), which is
//! what botocore uses against AWS today; moto 5.2.5 serves JSON and Query but answers every CBOR
//! request with a 404 HTML page. So each call here goes out as JSON: the SDK still resolves the
//! endpoint, the credentials, SigV4, timeouts and retries, and an interceptor (`JsonProtocol`)
//! swaps the CBOR request for the JSON one before signing and keeps the raw answer, which this
//! module reads itself. One code path for AWS and moto.
//!
//! ```no_run
//! # async fn demo(sdk: &aws_config::SdkConfig) -> Result<(), mlops::clients::cloudwatch::CloudWatchError> {
//! use mlops::clients::cloudwatch::CloudWatch;
//!
//! let cw = CloudWatch::new(sdk, None);
//! let states = cw.alarm_states(&["churn-errors".to_string()]).await?;
//! if states.get("churn-errors").map(String::as_str) == Some("ALARM") {
//!     println!("roll back");
//! }
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::config::http::HttpResponse;
use aws_sdk_cloudwatch::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_cloudwatch::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_cloudwatch::error::{BoxError, ProvideErrorMetadata, SdkError};
use serde_json::{json, Value};

use super::retry::{classify_code, code_suffix, sdk_failure, Failure, Kind};

/// DescribeAlarms accepts at most this many names per request.
const NAMES_PER_REQUEST: usize = 100;

/// The CloudWatch client of one provider configuration.
#[derive(Debug, Clone)]
pub struct CloudWatch {
    client: aws_sdk_cloudwatch::Client,
}

/// Why a CloudWatch call failed. Every variant names the API operation (`operation`, also the IAM
/// action `cloudwatch:<operation>`) and keeps AWS's error code and message.
#[derive(Debug, thiserror::Error)]
pub enum CloudWatchError {
    /// The credentials are missing, invalid or expired, or lack a permission.
    #[error(
        "CloudWatch {operation} was denied{}: {message}. Check the provider's AWS credentials and that they allow \
         cloudwatch:{operation}",
        code_suffix(.code)
    )]
    Auth { operation: &'static str, code: Option<String>, message: String },
    /// Throttling, a server-side failure, a timeout or a network error that outlived the SDK's retries.
    #[error("CloudWatch {operation} failed{} (transient, retry later): {message}", code_suffix(.code))]
    Transient { operation: &'static str, code: Option<String>, message: String },
    /// Something asked about does not exist (DescribeAlarms itself just leaves unknown names out).
    #[error("CloudWatch {operation}: not found{}: {message}", code_suffix(.code))]
    NotFound { operation: &'static str, code: Option<String>, message: String },
    /// A concurrent change.
    #[error("CloudWatch {operation}: conflict{}: {message}", code_suffix(.code))]
    Conflict { operation: &'static str, code: Option<String>, message: String },
    /// Anything else CloudWatch refused, or a response this provider cannot use.
    #[error("CloudWatch {operation} failed{}: {message}", code_suffix(.code))]
    Other { operation: &'static str, code: Option<String>, message: String },
}

impl CloudWatchError {
    /// True for throttling, server errors, timeouts and network failures.
    pub fn is_transient(&self) -> bool {
        matches!(self, CloudWatchError::Transient { .. })
    }

    /// True when the credentials were rejected or lack a permission.
    pub fn is_auth(&self) -> bool {
        matches!(self, CloudWatchError::Auth { .. })
    }

    /// True when something asked about does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CloudWatchError::NotFound { .. })
    }

    /// True for a concurrent change.
    pub fn is_conflict(&self) -> bool {
        matches!(self, CloudWatchError::Conflict { .. })
    }

    /// AWS's error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            CloudWatchError::Auth { code, .. }
            | CloudWatchError::Transient { code, .. }
            | CloudWatchError::NotFound { code, .. }
            | CloudWatchError::Conflict { code, .. }
            | CloudWatchError::Other { code, .. } => code.as_deref(),
        }
    }

    fn from_failure(operation: &'static str, f: Failure) -> Self {
        let Failure { kind, code, message } = f;
        match kind {
            Kind::Auth => CloudWatchError::Auth { operation, code, message },
            Kind::Transient => CloudWatchError::Transient { operation, code, message },
            Kind::NotFound => CloudWatchError::NotFound { operation, code, message },
            Kind::Conflict => CloudWatchError::Conflict { operation, code, message },
            Kind::Other => CloudWatchError::Other { operation, code, message },
        }
    }
}

fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> CloudWatchError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    CloudWatchError::from_failure(operation, sdk_failure(&err))
}

impl CloudWatch {
    /// A client from the provider's SDK configuration.
    ///
    /// `endpoint` is the provider's `endpoints.cloudwatch` override, if any.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Self {
        let mut config = aws_sdk_cloudwatch::config::Builder::from(sdk);
        if let Some(url) = endpoint.filter(|u| !u.is_empty()) {
            config = config.endpoint_url(url);
        }
        Self { client: aws_sdk_cloudwatch::Client::from_conf(config.build()) }
    }

    /// The state (`OK`, `ALARM`, `INSUFFICIENT_DATA`) of each named metric or composite alarm
    /// (DescribeAlarms by name, 100 names per request, every page). Alarms that do not exist are
    /// absent from the map: the caller decides whether that is an error.
    pub async fn alarm_states(&self, names: &[String]) -> Result<BTreeMap<String, String>, CloudWatchError> {
        const OP: &str = "DescribeAlarms";
        let mut wanted: Vec<String> = names.iter().filter(|n| !n.is_empty()).cloned().collect();
        wanted.sort();
        wanted.dedup();
        let mut states = BTreeMap::new();
        for chunk in wanted.chunks(NAMES_PER_REQUEST) {
            let mut token: Option<String> = None;
            loop {
                let mut input = json!({ "AlarmNames": chunk, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"] });
                if let Some(t) = token.take() {
                    input["NextToken"] = Value::String(t);
                }
                let page = self.call_json(OP, input).await?;
                states.extend(page_states(&page));
                match page.get("NextToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    Some(next) => token = Some(next.to_string()),
                    None => break,
                }
            }
        }
        Ok(states)
    }

    /// One CloudWatch call over the JSON protocol (see the module docs): `input` is the operation's
    /// JSON request, the answer its JSON response. The SDK's DescribeAlarms carries the request
    /// (endpoint, SigV4, timeouts, retries); [`JsonProtocol`] replaces what it sends.
    async fn call_json(&self, operation: &'static str, input: Value) -> Result<Value, CloudWatchError> {
        let answer = Arc::new(Mutex::new(None));
        let shim = JsonProtocol { operation, body: input.to_string(), answer: answer.clone() };
        // The SDK cannot read the JSON answer (it expects CBOR): its own result only matters when
        // no answer arrived at all (connection, timeout, credentials).
        let sent = self.client.describe_alarms().customize().interceptor(shim).send().await;
        let received = answer.lock().ok().and_then(|mut a| a.take());
        match (received, sent) {
            (Some((status, body)), _) => read_answer(operation, status, &body),
            (None, Err(e)) => Err(classify(operation, e)),
            (None, Ok(_)) => Err(CloudWatchError::from_failure(
                operation,
                Failure { kind: Kind::Other, code: None, message: "no answer was received".into() },
            )),
        }
    }
}

/// Name → state of every alarm in a DescribeAlarms page.
fn page_states(page: &Value) -> Vec<(String, String)> {
    ["MetricAlarms", "CompositeAlarms"]
        .iter()
        .filter_map(|key| page.get(key).and_then(Value::as_array))
        .flatten()
        .filter_map(|alarm| {
            let name = alarm.get("AlarmName").and_then(Value::as_str)?;
            let state = alarm.get("StateValue").and_then(Value::as_str)?;
            Some((name.to_string(), state.to_string()))
        })
        .collect()
}

/// A JSON-protocol answer: the document on 2xx, else the error it describes
/// (`{"__type": "…#Code", "message": "…"}`), classified by code and status.
fn read_answer(operation: &'static str, status: u16, body: &[u8]) -> Result<Value, CloudWatchError> {
    let parsed = serde_json::from_slice::<Value>(body);
    if (200..300).contains(&status) {
        return parsed.map_err(|e| {
            CloudWatchError::from_failure(
                operation,
                Failure { kind: Kind::Other, code: None, message: format!("the answer is not JSON: {e}") },
            )
        });
    }
    let doc = parsed.unwrap_or(Value::Null);
    let code = doc
        .get("__type")
        .or_else(|| doc.get("code"))
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or(t))
        .map(|t| t.split(':').next().unwrap_or(t).to_string())
        .filter(|c| !c.is_empty());
    let message = doc
        .get("message")
        .or_else(|| doc.get("Message"))
        .and_then(Value::as_str)
        .map(|m| m.trim_end().trim_end_matches('.').to_string())
        .unwrap_or_else(|| {
            format!("HTTP {status}: {}", String::from_utf8_lossy(body).chars().take(200).collect::<String>())
        });
    let kind = classify_code(code.as_deref(), Some(status));
    Err(CloudWatchError::from_failure(operation, Failure { kind, code, message }))
}

/// The prefix of CloudWatch's JSON-protocol `X-Amz-Target`.
const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";

/// Rewrites the SDK's CBOR request into CloudWatch's JSON protocol before it is signed, and keeps
/// the raw answer (status, body) of the last attempt for [`read_answer`].
#[derive(Debug)]
struct JsonProtocol {
    operation: &'static str,
    body: String,
    answer: AnswerSlot,
}

/// Where [`JsonProtocol`] leaves the last attempt's HTTP status and body.
type AnswerSlot = Arc<Mutex<Option<(u16, Vec<u8>)>>>;

impl Intercept for JsonProtocol {
    fn name(&self) -> &'static str {
        "mlops-cloudwatch-json-protocol"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let uri = json_uri(request.uri());
        request.set_uri(uri)?;
        let headers = request.headers_mut();
        headers.remove("smithy-protocol");
        headers.remove("accept");
        headers.insert("content-type", "application/x-amz-json-1.0");
        headers.insert("x-amz-target", format!("{TARGET_PREFIX}{}", self.operation));
        // What botocore sends for this awsQueryCompatible service: Query-style error codes.
        headers.insert("x-amzn-query-mode", "true");
        headers.insert("content-length", self.body.len().to_string());
        *request.body_mut() = self.body.clone().into();
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        let body = response.body().bytes().map(<[u8]>::to_vec).unwrap_or_default();
        if let Ok(mut slot) = self.answer.lock() {
            *slot = Some((response.status().as_u16(), body));
        }
        Ok(())
    }
}

/// The JSON protocol's URI: the endpoint (with any path prefix it has) and `/`, without the CBOR
/// operation path.
fn json_uri(cbor_uri: &str) -> String {
    let base = match cbor_uri.find("/service/") {
        Some(i) => &cbor_uri[..i],
        None => cbor_uri.split('?').next().unwrap_or(cbor_uri).trim_end_matches('/'),
    };
    format!("{base}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_and_name_the_action() {
        let e = CloudWatchError::from_failure(
            "DescribeAlarms",
            Failure { kind: Kind::Transient, code: Some("Throttling".into()), message: "Rate exceeded".into() },
        );
        assert!(e.is_transient() && !e.is_auth() && !e.is_not_found() && !e.is_conflict());
        assert_eq!(
            e.to_string(),
            "CloudWatch DescribeAlarms failed (Throttling) (transient, retry later): Rate exceeded"
        );
        let e = CloudWatchError::from_failure(
            "DescribeAlarms",
            Failure { kind: Kind::Auth, code: None, message: "no".into() },
        );
        assert!(e.to_string().contains("cloudwatch:DescribeAlarms"), "{e}");
    }

    #[test]
    fn the_json_uri_drops_the_cbor_operation_path_only() {
        let op = "/service/GraniteServiceVersion20100801/operation/DescribeAlarms";
        assert_eq!(
            json_uri(&format!("https://monitoring.us-east-1.amazonaws.com{op}")),
            "https://monitoring.us-east-1.amazonaws.com/"
        );
        assert_eq!(json_uri(&format!("http://127.0.0.1:5050{op}")), "http://127.0.0.1:5050/");
        assert_eq!(json_uri(&format!("http://proxy:8080/aws{op}")), "http://proxy:8080/aws/");
        assert_eq!(json_uri("http://127.0.0.1:5050/"), "http://127.0.0.1:5050/");
    }

    #[test]
    fn pages_yield_metric_and_composite_states() {
        let page = json!({
            "MetricAlarms": [
                {"AlarmName": "errors", "StateValue": "ALARM", "StateReason": "x"},
                {"AlarmName": "no-state"}
            ],
            "CompositeAlarms": [{"AlarmName": "any", "StateValue": "OK"}]
        });
        let states: BTreeMap<String, String> = page_states(&page).into_iter().collect();
        assert_eq!(states, BTreeMap::from([("errors".into(), "ALARM".into()), ("any".into(), "OK".into())]));
        assert!(page_states(&json!({})).is_empty());
    }

    #[test]
    fn json_errors_keep_the_code_and_message() {
        let e = read_answer(
            "DescribeAlarms",
            400,
            br#"{"__type": "com.amazonaws.cloudwatch#InvalidNextToken", "message": "The token is invalid."}"#,
        )
        .expect_err("error");
        assert_eq!(e.code(), Some("InvalidNextToken"));
        assert_eq!(e.to_string(), "CloudWatch DescribeAlarms failed (InvalidNextToken): The token is invalid");
        let e = read_answer(
            "DescribeAlarms",
            400,
            br#"{"__type": "Throttling:http://internal", "Message": "Rate exceeded"}"#,
        )
        .expect_err("throttled");
        assert!(e.is_transient() && e.code() == Some("Throttling"), "{e}");
        let e = read_answer("DescribeAlarms", 403, br#"{"__type": "AccessDeniedException", "message": "no"}"#)
            .expect_err("denied");
        assert!(e.is_auth());
        let e = read_answer("DescribeAlarms", 503, b"<html>busy</html>").expect_err("unavailable");
        assert!(e.is_transient() && e.to_string().contains("HTTP 503: <html>busy</html>"), "{e}");
        let e = read_answer("DescribeAlarms", 200, b"<html/>").expect_err("not json");
        assert!(e.to_string().contains("not JSON"), "{e}");
        assert_eq!(read_answer("DescribeAlarms", 200, b"{}").ok(), Some(json!({})));
    }
}
