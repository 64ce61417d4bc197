//! A fault-injecting HTTP proxy in front of moto.
//!
//! moto never produces the failures real AWS does: IAM-propagation errors on Lambda
//! `CreateFunction`, `ResourceConflictException` "An update is in progress", `Pending` /
//! `InProgress` function states, throttling, 5xx. [`FaultProxy`] sits between the code under test
//! and moto, forwards every request unchanged, and lets a test inject those failures per AWS
//! operation:
//!
//! ```ignore
//! let proxy = FaultProxy::start(&env.moto);
//! proxy.add(Rule::iam_propagation("CreateFunction", 3));
//! proxy.add(Rule::in_progress_update(2));
//! // point the provider / SDK at proxy.url() ...
//! assert_eq!(proxy.count("CreateFunction"), 4);
//! ```
//!
//! The proxy runs on its own thread with its own tokio runtime, so it works from plain `#[test]`s
//! that shell out to terraform as well as from `#[tokio::test]`s. It stops when dropped.
//!
//! Operations are named as in the AWS API reference (`CreateFunction`, `DescribeStreamSummary`,
//! `GetRole`), derived from the request by [`operation`]. Injected errors are rendered in the wire
//! shape of the request's protocol (REST-JSON for Lambda, AWS JSON 1.0/1.1, query XML, RPC v2 CBOR,
//! REST-XML), so the AWS SDKs parse them into the right error code.
//!
//! This uses hyper's `server` and hyper-util's `server` features, which the provider's own
//! dependencies (tonic's transport server) already enable.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Map, Value};

/// The account moto uses; injected ARNs use it too.
pub const ACCOUNT: &str = "123456789012";

/// The message Lambda returns while a freshly created role has not propagated yet.
pub const ROLE_CANNOT_BE_ASSUMED: &str = "The role defined for the function cannot be assumed by Lambda.";

type ProxyBody = BoxBody<Bytes, hyper::Error>;
type Predicate = dyn Fn(&RequestView<'_>) -> bool + Send + Sync;
type JsonRewrite = dyn Fn(&mut Value) + Send + Sync;

// ---------------------------------------------------------------------------------------------
// Operation names and protocols
// ---------------------------------------------------------------------------------------------

/// The wire protocol of a request, which decides how an injected error is rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Lambda (and other REST-JSON services): `x-amzn-ErrorType` header + JSON body.
    RestJson,
    /// `X-Amz-Target` services (Kinesis, ECR, Logs, ...): `{"__type", "message"}`; the version is
    /// the `application/x-amz-json-1.X` one the request used.
    AwsJson(&'static str),
    /// `Action=` services (IAM, STS, CloudWatch over query): `<ErrorResponse>` XML.
    Query,
    /// Smithy RPC v2 CBOR (CloudWatch in current SDKs): CBOR `{"__type", "message"}`.
    RpcV2Cbor,
    /// S3 and other REST-XML services: `<Error>` XML.
    RestXml,
}

/// What the proxy learned about one request: enough to name it, match it and answer it.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    /// The AWS operation, e.g. `CreateFunction`; `METHOD /path` when unknown.
    pub operation: String,
    /// The signing name (`lambda`, `kinesis`, `iam`, ...) when it can be told, else empty.
    pub service: String,
    pub region: String,
    pub protocol: Protocol,
}

/// A read-only view of a request, for [`Rule::when`] predicates.
pub struct RequestView<'a> {
    pub operation: &'a str,
    pub method: &'a Method,
    /// Path and query, as sent.
    pub uri: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl RequestView<'_> {
    /// The request path, percent-decoded (function names given as ARNs arrive encoded).
    pub fn decoded_path(&self) -> String {
        percent_decode(self.uri.split('?').next().unwrap_or_default())
    }

    /// The body as text (lossy), for matching on JSON or form fields.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(self.body).into_owned()
    }
}

/// The AWS operation a request calls, e.g. `CreateFunction`, `DescribeStreamSummary`, `GetRole`.
///
/// Derived from `X-Amz-Target: Service.Operation` (AWS JSON), `Action=` in the query or form body
/// (query protocol), `/service/S/operation/Op` (RPC v2 CBOR), or method + path for Lambda's
/// REST-JSON API. Anything else is named `METHOD /path`.
pub fn operation(method: &str, path_and_query: &str, headers: &HeaderMap, body: &[u8]) -> String {
    classify(method, path_and_query, headers, body).operation
}

/// Names the operation and tells the protocol, service and region of a request.
pub fn classify(method: &str, path_and_query: &str, headers: &HeaderMap, body: &[u8]) -> RequestInfo {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (scope_service, region) = credential_scope(header("authorization"));
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let content_type = header("content-type").to_ascii_lowercase();
    let info = |operation: String, service: &str, protocol: Protocol| RequestInfo {
        operation,
        service: if scope_service.is_empty() { service.to_string() } else { scope_service.clone() },
        region: region.clone(),
        protocol,
    };

    // Smithy RPC v2 CBOR: POST /service/{ServiceName}/operation/{Operation}
    if header("smithy-protocol").eq_ignore_ascii_case("rpc-v2-cbor") || path.starts_with("/service/") {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if let ["service", svc, "operation", op] = segments.as_slice() {
            return info(op.to_string(), &svc.to_ascii_lowercase(), Protocol::RpcV2Cbor);
        }
    }

    // AWS JSON 1.0 / 1.1: X-Amz-Target: Kinesis_20131202.DescribeStreamSummary
    let target = header("x-amz-target");
    if !target.is_empty() {
        let (prefix, op) = target.rsplit_once('.').unwrap_or(("", target));
        let version = if content_type.contains("x-amz-json-1.0") { "1.0" } else { "1.1" };
        return info(op.to_string(), &json_service(prefix), Protocol::AwsJson(version));
    }

    // Query: Action=GetRole in the query string or the form body
    let form = if content_type.starts_with("application/x-www-form-urlencoded") || !content_type.contains('/') {
        String::from_utf8_lossy(body).into_owned()
    } else {
        String::new()
    };
    if let Some(action) = form_value(query, "Action").or_else(|| form_value(&form, "Action")) {
        return info(action, "", Protocol::Query);
    }

    let method = method.to_ascii_uppercase();
    if let Some(op) = lambda_operation(&method, path, query) {
        if scope_service.is_empty() || scope_service == "lambda" {
            return info(op.to_string(), "lambda", Protocol::RestJson);
        }
    }
    let protocol = if scope_service == "s3" { Protocol::RestXml } else { Protocol::RestJson };
    info(format!("{method} {path}"), "", protocol)
}

/// `(service, region)` from a SigV4 `Authorization` header's credential scope.
fn credential_scope(authorization: &str) -> (String, String) {
    let scope =
        authorization.split(['=', ',', ' ']).skip_while(|part| *part != "Credential").nth(1).unwrap_or_default();
    let parts: Vec<&str> = scope.split('/').collect();
    match parts.as_slice() {
        [_, _, region, service, "aws4_request"] => (service.to_string(), region.to_string()),
        _ => (String::new(), "us-east-1".to_string()),
    }
}

/// The signing name behind an `X-Amz-Target` prefix, for the services our provider calls.
fn json_service(prefix: &str) -> String {
    let known = [
        ("Kinesis_", "kinesis"),
        ("AmazonEC2ContainerRegistry_", "ecr"),
        ("Logs_", "logs"),
        ("AmazonSSM", "ssm"),
        ("AmazonEC2ContainerServiceV", "ecs"),
        ("AWSSecurityTokenServiceV", "sts"),
        ("GraniteServiceVersion", "monitoring"),
    ];
    known
        .iter()
        .find(|(p, _)| prefix.starts_with(p))
        .map(|(_, s)| s.to_string())
        .unwrap_or_else(|| prefix.split('_').next().unwrap_or_default().to_ascii_lowercase())
}

/// The first value of `key` in an `application/x-www-form-urlencoded` string, decoded.
fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (percent_decode(k) == key).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// Lambda's REST-JSON routes (from the API model), `{}` standing for one path segment.
const LAMBDA_ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/2015-03-31/functions", "CreateFunction"),
    ("GET", "/2015-03-31/functions", "ListFunctions"),
    ("GET", "/2015-03-31/functions/{}", "GetFunction"),
    ("DELETE", "/2015-03-31/functions/{}", "DeleteFunction"),
    ("GET", "/2015-03-31/functions/{}/configuration", "GetFunctionConfiguration"),
    ("PUT", "/2015-03-31/functions/{}/configuration", "UpdateFunctionConfiguration"),
    ("PUT", "/2015-03-31/functions/{}/code", "UpdateFunctionCode"),
    ("POST", "/2015-03-31/functions/{}/versions", "PublishVersion"),
    ("GET", "/2015-03-31/functions/{}/versions", "ListVersionsByFunction"),
    ("POST", "/2015-03-31/functions/{}/aliases", "CreateAlias"),
    ("GET", "/2015-03-31/functions/{}/aliases", "ListAliases"),
    ("GET", "/2015-03-31/functions/{}/aliases/{}", "GetAlias"),
    ("PUT", "/2015-03-31/functions/{}/aliases/{}", "UpdateAlias"),
    ("DELETE", "/2015-03-31/functions/{}/aliases/{}", "DeleteAlias"),
    ("POST", "/2015-03-31/functions/{}/invocations", "Invoke"),
    ("POST", "/2015-03-31/functions/{}/policy", "AddPermission"),
    ("GET", "/2015-03-31/functions/{}/policy", "GetPolicy"),
    ("DELETE", "/2015-03-31/functions/{}/policy/{}", "RemovePermission"),
    ("POST", "/2015-03-31/event-source-mappings", "CreateEventSourceMapping"),
    ("GET", "/2015-03-31/event-source-mappings", "ListEventSourceMappings"),
    ("GET", "/2015-03-31/event-source-mappings/{}", "GetEventSourceMapping"),
    ("PUT", "/2015-03-31/event-source-mappings/{}", "UpdateEventSourceMapping"),
    ("DELETE", "/2015-03-31/event-source-mappings/{}", "DeleteEventSourceMapping"),
    ("POST", "/2014-11-13/functions/{}/invoke-async", "InvokeAsync"),
    ("GET", "/2016-08-19/account-settings", "GetAccountSettings"),
    ("GET", "/2017-03-31/tags/{}", "ListTags"),
    ("POST", "/2017-03-31/tags/{}", "TagResource"),
    ("DELETE", "/2017-03-31/tags/{}", "UntagResource"),
    ("PUT", "/2017-10-31/functions/{}/concurrency", "PutFunctionConcurrency"),
    ("DELETE", "/2017-10-31/functions/{}/concurrency", "DeleteFunctionConcurrency"),
    ("GET", "/2019-09-30/functions/{}/concurrency", "GetFunctionConcurrency"),
    ("PUT", "/2019-09-30/functions/{}/provisioned-concurrency", "PutProvisionedConcurrencyConfig"),
    ("GET", "/2019-09-30/functions/{}/provisioned-concurrency", "GetProvisionedConcurrencyConfig"),
    ("DELETE", "/2019-09-30/functions/{}/provisioned-concurrency", "DeleteProvisionedConcurrencyConfig"),
    ("GET", "/2019-09-25/functions/{}/event-invoke-config", "GetFunctionEventInvokeConfig"),
    ("PUT", "/2019-09-25/functions/{}/event-invoke-config", "PutFunctionEventInvokeConfig"),
    ("POST", "/2019-09-25/functions/{}/event-invoke-config", "UpdateFunctionEventInvokeConfig"),
    ("DELETE", "/2019-09-25/functions/{}/event-invoke-config", "DeleteFunctionEventInvokeConfig"),
    ("GET", "/2019-09-25/functions/{}/event-invoke-config/list", "ListFunctionEventInvokeConfigs"),
    ("GET", "/2020-06-30/functions/{}/code-signing-config", "GetFunctionCodeSigningConfig"),
    ("PUT", "/2020-06-30/functions/{}/code-signing-config", "PutFunctionCodeSigningConfig"),
    ("DELETE", "/2020-06-30/functions/{}/code-signing-config", "DeleteFunctionCodeSigningConfig"),
    ("POST", "/2021-10-31/functions/{}/url", "CreateFunctionUrlConfig"),
    ("GET", "/2021-10-31/functions/{}/url", "GetFunctionUrlConfig"),
    ("PUT", "/2021-10-31/functions/{}/url", "UpdateFunctionUrlConfig"),
    ("DELETE", "/2021-10-31/functions/{}/url", "DeleteFunctionUrlConfig"),
    ("GET", "/2021-10-31/functions/{}/urls", "ListFunctionUrlConfigs"),
    ("POST", "/2021-11-15/functions/{}/response-streaming-invocations", "InvokeWithResponseStream"),
    ("GET", "/2021-07-20/functions/{}/runtime-management-config", "GetRuntimeManagementConfig"),
    ("PUT", "/2021-07-20/functions/{}/runtime-management-config", "PutRuntimeManagementConfig"),
    ("GET", "/2024-08-31/functions/{}/recursion-config", "GetFunctionRecursionConfig"),
    ("PUT", "/2024-08-31/functions/{}/recursion-config", "PutFunctionRecursionConfig"),
    ("GET", "/2018-10-31/layers", "ListLayers"),
    ("GET", "/2018-10-31/layers/{}/versions", "ListLayerVersions"),
    ("POST", "/2018-10-31/layers/{}/versions", "PublishLayerVersion"),
    ("GET", "/2018-10-31/layers/{}/versions/{}", "GetLayerVersion"),
    ("DELETE", "/2018-10-31/layers/{}/versions/{}", "DeleteLayerVersion"),
];

/// The Lambda operation for a method + path, if it is one of Lambda's routes.
fn lambda_operation(method: &str, path: &str, query: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (_, _, op) = LAMBDA_ROUTES.iter().find(|(m, pattern, _)| {
        let pattern: Vec<&str> = pattern.split('/').collect();
        *m == method
            && pattern.len() == segments.len()
            && pattern.iter().zip(&segments).all(|(p, s)| *p == "{}" && !s.is_empty() || p == s)
    })?;
    // Two operations share a route and differ by query: the one with `List=ALL` lists.
    Some(match *op {
        "GetProvisionedConcurrencyConfig" if form_value(query, "List").is_some() => "ListProvisionedConcurrencyConfigs",
        "ListLayers" if form_value(query, "find").as_deref() == Some("LayerVersion") => "GetLayerVersionByArn",
        other => other,
    })
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The function a Lambda request concerns, as an ARN (for "An update is in progress for resource").
fn function_arn(path: &str, region: &str) -> String {
    let name = path
        .split('/')
        .skip_while(|s| *s != "functions")
        .nth(1)
        .map(percent_decode)
        .unwrap_or_else(|| "unknown".to_string());
    if name.starts_with("arn:") {
        name
    } else {
        format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name}")
    }
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/// An AWS error, rendered in the wire shape of the request's protocol.
#[derive(Clone, Debug)]
pub struct AwsError {
    pub status: u16,
    /// The error code, e.g. `InvalidParameterValueException`, `Throttling`.
    pub code: String,
    /// The message; `{function_arn}` is replaced by the ARN of the function the request concerns.
    pub message: String,
    /// `true` for client faults (`Type: User` / `Sender`), `false` for service faults.
    pub sender_fault: bool,
    /// Extra members of JSON error bodies (e.g. Lambda's `Reason`).
    pub extra: Map<String, Value>,
}

impl AwsError {
    pub fn new(status: u16, code: &str, message: &str) -> Self {
        Self { status, code: code.into(), message: message.into(), sender_fault: status < 500, extra: Map::new() }
    }

    /// Adds a member to JSON error bodies.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
}

/// What a rule does to a request it matches.
pub enum Action {
    /// Answer with exactly this, without calling the upstream.
    Respond { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// Answer with an AWS error in the request's protocol, without calling the upstream.
    Error(AwsError),
    /// The throttling error of the request's service (Lambda `TooManyRequestsException` 429,
    /// Kinesis `LimitExceededException`, query `Throttling`, else `ThrottlingException`).
    Throttle,
    /// A service-side error with this 5xx status, coded as the request's service does.
    ServerError(u16),
    /// Wait, then forward.
    Delay(Duration),
    /// Forward, then rewrite the upstream's 2xx JSON answer (left alone when it is not JSON). An
    /// error answer passes unchanged and does not count against the rule's `times`.
    RewriteJson(Box<JsonRewrite>),
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Respond { status, .. } => write!(f, "Respond({status})"),
            Action::Error(e) => write!(f, "Error({} {})", e.status, e.code),
            Action::Throttle => write!(f, "Throttle"),
            Action::ServerError(s) => write!(f, "ServerError({s})"),
            Action::Delay(d) => write!(f, "Delay({d:?})"),
            Action::RewriteJson(_) => write!(f, "RewriteJson"),
        }
    }
}

/// Matches requests by operation and acts on them `times` times (or always).
///
/// When several rules match a request, the first one added that still has uses left acts.
pub struct Rule {
    operations: Vec<String>,
    when: Option<Box<Predicate>>,
    action: Action,
    times: Option<u32>,
    skip: u32,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("operations", &self.operations)
            .field("action", &self.action)
            .field("times", &self.times)
            .field("skip", &self.skip)
            .finish()
    }
}

impl Rule {
    /// A rule acting on every request of `operation` (`"*"` matches every operation).
    pub fn new(operation: &str, action: Action) -> Self {
        Self::any_of(&[operation], action)
    }

    /// A rule acting on every request of any of `operations`.
    pub fn any_of(operations: &[&str], action: Action) -> Self {
        Self {
            operations: operations.iter().map(|s| s.to_string()).collect(),
            when: None,
            action,
            times: None,
            skip: 0,
        }
    }

    /// Act on the first `n` matching requests only (after any skipped ones).
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Act on every matching request.
    pub fn always(mut self) -> Self {
        self.times = None;
        self
    }

    /// Let the first `n` matching requests through untouched, then act.
    pub fn after(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    /// Match only requests for which `predicate` holds (e.g. a function name in the path).
    pub fn when(mut self, predicate: impl Fn(&RequestView<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.when = Some(Box::new(predicate));
        self
    }

    /// Match only requests whose decoded path contains `needle` (e.g. a function name).
    pub fn on_path_containing(self, needle: &str) -> Self {
        let needle = needle.to_string();
        self.when(move |r| r.decoded_path().contains(&needle))
    }

    /// An AWS error for the first `n` requests of `operation`.
    pub fn error(operation: &str, status: u16, code: &str, message: &str, n: u32) -> Self {
        Self::new(operation, Action::Error(AwsError::new(status, code, message))).times(n)
    }

    /// A raw answer for the first `n` requests of `operation`.
    pub fn respond(operation: &str, status: u16, headers: &[(&str, &str)], body: &[u8], n: u32) -> Self {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::new(operation, Action::Respond { status, headers, body: body.to_vec() }).times(n)
    }

    /// Lambda's IAM-propagation failure: 400 `InvalidParameterValueException` "The role defined for
    /// the function cannot be assumed by Lambda." for the first `n` requests of `operation`.
    pub fn iam_propagation(operation: &str, n: u32) -> Self {
        Self::error(operation, 400, "InvalidParameterValueException", ROLE_CANNOT_BE_ASSUMED, n)
    }

    /// Lambda's 409 `ResourceConflictException` "The operation cannot be performed at this time. An
    /// update is in progress for resource: arn:..." for the first `n` requests of `operation`.
    pub fn update_in_progress(operation: &str, n: u32) -> Self {
        Self::error(
            operation,
            409,
            "ResourceConflictException",
            "The operation cannot be performed at this time. An update is in progress for resource: {function_arn}",
            n,
        )
    }

    /// The service's throttling error for the first `n` requests of `operation`.
    pub fn throttle(operation: &str, n: u32) -> Self {
        Self::new(operation, Action::Throttle).times(n)
    }

    /// A 500 service error for the first `n` requests of `operation`.
    pub fn server_error(operation: &str, n: u32) -> Self {
        Self::new(operation, Action::ServerError(500)).times(n)
    }

    /// A 503 service-unavailable error for the first `n` requests of `operation`.
    pub fn service_unavailable(operation: &str, n: u32) -> Self {
        Self::new(operation, Action::ServerError(503)).times(n)
    }

    /// Waits `delay` before forwarding every request of `operation`.
    pub fn delay(operation: &str, delay: Duration) -> Self {
        Self::new(operation, Action::Delay(delay))
    }

    /// Rewrites the upstream's JSON answer to every request of `operation`.
    pub fn rewrite_json(operation: &str, f: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        Self::new(operation, Action::RewriteJson(Box::new(f)))
    }

    /// The first `n` `GetFunction` / `GetFunctionConfiguration` answers say `State: Pending`
    /// ("The function is being created.", reason code `Creating`), as after a real CreateFunction.
    pub fn pending_state(n: u32) -> Self {
        Self::function_state("Pending", Some(("Creating", "The function is being created.")), n)
    }

    /// The first `n` `GetFunction` / `GetFunctionConfiguration` answers carry this `State` (and
    /// `StateReasonCode` / `StateReason`), e.g. `Failed` with `ImageAccessDenied`.
    pub fn function_state(state: &str, reason: Option<(&str, &str)>, n: u32) -> Self {
        let state = state.to_string();
        let reason = reason.map(|(c, r)| (c.to_string(), r.to_string()));
        Self::any_of(
            &["GetFunction", "GetFunctionConfiguration"],
            Action::RewriteJson(Box::new(move |v| {
                set_configuration(v, "State", "StateReasonCode", "StateReason", &state, reason.as_ref())
            })),
        )
        .times(n)
    }

    /// The first `n` `GetFunction` / `GetFunctionConfiguration` answers say
    /// `LastUpdateStatus: InProgress`, as right after a real update.
    pub fn in_progress_update(n: u32) -> Self {
        Self::last_update_status("InProgress", None, n)
    }

    /// The first `n` `GetFunction` / `GetFunctionConfiguration` answers carry this
    /// `LastUpdateStatus` (and reason code / reason), e.g. `Failed`.
    pub fn last_update_status(status: &str, reason: Option<(&str, &str)>, n: u32) -> Self {
        let status = status.to_string();
        let reason = reason.map(|(c, r)| (c.to_string(), r.to_string()));
        Self::any_of(
            &["GetFunction", "GetFunctionConfiguration"],
            Action::RewriteJson(Box::new(move |v| {
                set_configuration(
                    v,
                    "LastUpdateStatus",
                    "LastUpdateStatusReasonCode",
                    "LastUpdateStatusReason",
                    &status,
                    reason.as_ref(),
                )
            })),
        )
        .times(n)
    }

    fn matches(&self, view: &RequestView<'_>) -> bool {
        self.operations.iter().any(|o| o == "*" || o == view.operation) && self.when.as_ref().is_none_or(|p| p(view))
    }
}

/// The function configuration inside a Lambda answer: `Configuration` for GetFunction, the
/// top-level object for GetFunctionConfiguration / CreateFunction / Update* / PublishVersion.
pub fn lambda_configuration(v: &mut Value) -> Option<&mut Map<String, Value>> {
    let v = v.as_object_mut()?;
    if v.get("Configuration").is_some_and(Value::is_object) {
        v.get_mut("Configuration").and_then(Value::as_object_mut)
    } else {
        Some(v)
    }
}

fn set_configuration(
    v: &mut Value,
    key: &str,
    code_key: &str,
    reason_key: &str,
    value: &str,
    reason: Option<&(String, String)>,
) {
    let Some(config) = lambda_configuration(v) else { return };
    config.insert(key.into(), value.into());
    config.remove(code_key);
    config.remove(reason_key);
    if let Some((code, text)) = reason {
        config.insert(code_key.into(), code.as_str().into());
        config.insert(reason_key.into(), text.as_str().into());
    }
}

// ---------------------------------------------------------------------------------------------
// The proxy
// ---------------------------------------------------------------------------------------------

/// One request the proxy saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub operation: String,
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    /// The status answered (0 while the answer is pending).
    pub status: u16,
    /// Whether a rule answered instead of the upstream.
    pub injected: bool,
}

struct ActiveRule {
    rule: Rule,
    seen: u32,
    acted: u32,
}

#[derive(Default)]
struct Log {
    generation: u64,
    calls: Vec<Call>,
}

struct Shared {
    upstream: String,
    rules: Mutex<Vec<Arc<Mutex<ActiveRule>>>>,
    log: Mutex<Log>,
    request_ids: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A handle on an added rule, to ask how often it acted.
#[derive(Clone)]
pub struct RuleHandle(Arc<Mutex<ActiveRule>>);

impl RuleHandle {
    /// How many requests this rule acted on.
    pub fn hits(&self) -> u32 {
        lock(&self.0).acted
    }
}

/// A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of one upstream (moto).
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Binds 127.0.0.1:0 and forwards everything to `upstream` (e.g. `http://127.0.0.1:5050`).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("fault proxy: bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("fault proxy: nonblocking listener");
        let addr = listener.local_addr().expect("fault proxy: local addr");
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Log::default()),
            request_ids: AtomicU64::new(1),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || serve(listener, thread_shared, rx))
            .expect("fault proxy: spawn thread");
        FaultProxy { addr, shared, shutdown: Some(tx), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a rule; it acts on requests arriving from now on.
    pub fn add(&self, rule: Rule) -> RuleHandle {
        let active = Arc::new(Mutex::new(ActiveRule { rule, seen: 0, acted: 0 }));
        lock(&self.shared.rules).push(active.clone());
        RuleHandle(active)
    }

    /// Removes every rule.
    pub fn clear_rules(&self) {
        lock(&self.shared.rules).clear();
    }

    /// How many requests of `operation` arrived (injected failures included) since the last reset.
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.shared.log).calls.iter().filter(|c| c.operation == operation).count()
    }

    /// How many requests of `operation` a rule answered instead of the upstream.
    pub fn injected(&self, operation: &str) -> usize {
        lock(&self.shared.log).calls.iter().filter(|c| c.operation == operation && c.injected).count()
    }

    /// Requests per operation since the last reset.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for c in &lock(&self.shared.log).calls {
            *counts.entry(c.operation.clone()).or_default() += 1;
        }
        counts
    }

    /// The operations of all requests since the last reset, in arrival order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.shared.log).calls.iter().map(|c| c.operation.clone()).collect()
    }

    /// Every request since the last reset with its answer, in arrival order.
    pub fn log(&self) -> Vec<Call> {
        lock(&self.shared.log).calls.clone()
    }

    /// Forgets the requests seen so far (rules are kept).
    pub fn reset_counts(&self) {
        let mut log = lock(&self.shared.log);
        log.generation += 1;
        log.calls.clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: std::net::TcpListener, shared: Arc<Shared>, mut shutdown: tokio::sync::oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("fault proxy: runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("fault proxy: tokio listener");
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let client = client.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let shared = shared.clone();
                            let client = client.clone();
                            async move { Ok::<_, Infallible>(handle(&shared, &client, req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
}

/// Headers that belong to one connection and are never forwarded.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"];

/// What a matching rule decided, taken out of the rule table so nothing is locked while waiting.
enum Decision {
    Forward,
    Answer(Response<ProxyBody>),
    Delay(Duration),
    Rewrite(Arc<Mutex<ActiveRule>>),
}

async fn handle(
    shared: &Shared,
    client: &Client<HttpConnector, Full<Bytes>>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("fault proxy: reading the request body: {e}")),
    };
    let uri = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let info = classify(parts.method.as_str(), &uri, &parts.headers, &body);
    let (generation, index) = {
        let mut log = lock(&shared.log);
        log.calls.push(Call {
            operation: info.operation.clone(),
            method: parts.method.to_string(),
            uri: uri.clone(),
            status: 0,
            injected: false,
        });
        (log.generation, log.calls.len() - 1)
    };
    let view = RequestView {
        operation: &info.operation,
        method: &parts.method,
        uri: &uri,
        headers: &parts.headers,
        body: &body,
    };
    let decision = decide(shared, &info, &view);

    let injected = matches!(decision, Decision::Answer(_));
    let response = match decision {
        Decision::Answer(response) => response,
        Decision::Forward => forward(shared, client, &parts, &uri, body, None).await,
        Decision::Delay(d) => {
            tokio::time::sleep(d).await;
            forward(shared, client, &parts, &uri, body, None).await
        }
        Decision::Rewrite(rule) => forward(shared, client, &parts, &uri, body, Some(rule)).await,
    };

    let mut log = lock(&shared.log);
    if log.generation == generation {
        if let Some(call) = log.calls.get_mut(index) {
            call.status = response.status().as_u16();
            call.injected = injected;
        }
    }
    response
}

fn decide(shared: &Shared, info: &RequestInfo, view: &RequestView<'_>) -> Decision {
    let rules: Vec<Arc<Mutex<ActiveRule>>> = lock(&shared.rules).clone();
    for handle in rules {
        let mut active = lock(&handle);
        if !active.rule.matches(view) {
            continue;
        }
        active.seen += 1;
        if active.seen <= active.rule.skip || active.rule.times.is_some_and(|t| active.acted >= t) {
            continue;
        }
        active.acted += 1;
        let request_id = shared.request_ids.fetch_add(1, Ordering::Relaxed);
        return match &active.rule.action {
            Action::Respond { status, headers, body } => Decision::Answer(raw_response(*status, headers, body)),
            Action::Error(e) => Decision::Answer(render_error(info, view, e, request_id)),
            Action::Throttle => Decision::Answer(render_error(info, view, &throttle_error(info), request_id)),
            Action::ServerError(status) => {
                Decision::Answer(render_error(info, view, &server_error(info, *status), request_id))
            }
            Action::Delay(d) => Decision::Delay(*d),
            Action::RewriteJson(_) => {
                drop(active);
                Decision::Rewrite(handle)
            }
        };
    }
    Decision::Forward
}

async fn forward(
    shared: &Shared,
    client: &Client<HttpConnector, Full<Bytes>>,
    parts: &http::request::Parts,
    uri: &str,
    body: Bytes,
    rewrite: Option<Arc<Mutex<ActiveRule>>>,
) -> Response<ProxyBody> {
    let mut builder = Request::builder().method(parts.method.clone()).uri(format!("{}{uri}", shared.upstream));
    let had_length = parts.headers.contains_key(http::header::CONTENT_LENGTH);
    if let Some(headers) = builder.headers_mut() {
        for (name, value) in &parts.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        if !had_length && !body.is_empty() {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
    }
    let request = match builder.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("fault proxy: building the upstream request: {e}")),
    };
    let upstream = match client.request(request).await {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("fault proxy: upstream {}: {e}", shared.upstream)),
    };
    let (mut parts, body) = upstream.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(*name);
    }
    let Some(rule) = rewrite else {
        return Response::from_parts(parts, body.boxed());
    };
    if !parts.status.is_success() {
        // Errors pass unchanged and do not use up the rule.
        let mut active = lock(&rule);
        active.acted = active.acted.saturating_sub(1);
        return Response::from_parts(parts, body.boxed());
    }
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("fault proxy: reading the upstream answer: {e}")),
    };
    let bytes = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut json) => {
            if let Action::RewriteJson(f) = &lock(&rule).rule.action {
                f(&mut json);
            }
            Bytes::from(serde_json::to_vec(&json).unwrap_or_else(|_| bytes.to_vec()))
        }
        Err(_) => bytes,
    };
    parts.headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Response::from_parts(parts, full(bytes))
}

fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

fn plain(status: StatusCode, text: String) -> Response<ProxyBody> {
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn raw_response(status: u16, headers: &[(String, String)], body: &[u8]) -> Response<ProxyBody> {
    let mut response = Response::new(full(body.to_vec()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
            response.headers_mut().append(k, v);
        }
    }
    response
}

/// The throttling error the request's service answers with.
fn throttle_error(info: &RequestInfo) -> AwsError {
    match (&info.protocol, info.service.as_str()) {
        (Protocol::RestJson, _) => {
            AwsError::new(429, "TooManyRequestsException", "Rate exceeded").with("Reason", "CallerRateLimitExceeded")
        }
        (Protocol::AwsJson(_), "kinesis") => AwsError::new(400, "LimitExceededException", "Rate exceeded"),
        (Protocol::Query, _) | (Protocol::RpcV2Cbor, _) => AwsError::new(400, "Throttling", "Rate exceeded"),
        (Protocol::RestXml, _) => AwsError::new(503, "SlowDown", "Please reduce your request rate."),
        _ => AwsError::new(400, "ThrottlingException", "Rate exceeded"),
    }
}

/// The service-side error the request's service answers with for this 5xx status.
fn server_error(info: &RequestInfo, status: u16) -> AwsError {
    let unavailable = status == 503;
    let (code, message) = match (&info.protocol, info.service.as_str(), unavailable) {
        (Protocol::RestJson, _, _) => ("ServiceException", "An internal service error occurred."),
        (Protocol::Query, "iam", false) => {
            ("ServiceFailure", "Request processing has failed due to some unknown error.")
        }
        (Protocol::RpcV2Cbor, _, false) | (Protocol::Query, _, false) => {
            ("InternalFailure", "The request processing has failed because of an unknown error.")
        }
        (Protocol::AwsJson(_), _, false) => {
            ("InternalFailure", "The request processing has failed because of an unknown error.")
        }
        (Protocol::RestXml, _, false) => ("InternalError", "We encountered an internal error. Please try again."),
        (Protocol::AwsJson(_), _, true) => ("ServiceUnavailableException", "Service unavailable"),
        (_, _, true) => ("ServiceUnavailable", "Service is unable to handle request."),
    };
    AwsError::new(status, code, message)
}

/// Renders an error in the wire shape of the request's protocol.
fn render_error(info: &RequestInfo, view: &RequestView<'_>, e: &AwsError, request_id: u64) -> Response<ProxyBody> {
    let request_id = format!("fa017000-0000-4000-8000-{request_id:012x}");
    let message = e.message.replace("{function_arn}", &function_arn(&view.decoded_path(), &info.region));
    let mut headers: Vec<(String, String)> = vec![("x-amzn-RequestId".into(), request_id.clone())];
    let json_body = |code_key: Option<&str>, message_key: &str| {
        let mut body = Map::new();
        if let Some(key) = code_key {
            body.insert(key.into(), e.code.clone().into());
        }
        body.insert(message_key.into(), message.clone().into());
        for (k, v) in &e.extra {
            body.insert(k.clone(), v.clone());
        }
        body
    };
    let fault = if e.sender_fault { "Sender" } else { "Receiver" };
    let body: Vec<u8> = match &info.protocol {
        Protocol::RestJson => {
            headers.push(("x-amzn-ErrorType".into(), e.code.clone()));
            headers.push(("content-type".into(), "application/json".into()));
            let mut body = json_body(None, "message");
            body.entry("Type").or_insert_with(|| if e.sender_fault { "User" } else { "Service" }.into());
            Value::Object(body).to_string().into_bytes()
        }
        Protocol::AwsJson(version) => {
            headers.push(("content-type".into(), format!("application/x-amz-json-{version}")));
            Value::Object(json_body(Some("__type"), "message")).to_string().into_bytes()
        }
        Protocol::Query => {
            headers.push(("content-type".into(), "text/xml".into()));
            let xmlns = match info.service.as_str() {
                "iam" => " xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"",
                "sts" => " xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"",
                "monitoring" => " xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"",
                _ => "",
            };
            format!(
                "<ErrorResponse{xmlns}>\n  <Error>\n    <Type>{fault}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  \
                 </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
                xml_escape(&e.code),
                xml_escape(&message)
            )
            .into_bytes()
        }
        Protocol::RpcV2Cbor => {
            headers.push(("smithy-protocol".into(), "rpc-v2-cbor".into()));
            headers.push(("content-type".into(), "application/cbor".into()));
            headers.push(("x-amzn-query-error".into(), format!("{};{fault}", e.code)));
            cbor_text_map(&[("__type", &e.code), ("message", &message)])
        }
        Protocol::RestXml => {
            headers.push(("content-type".into(), "application/xml".into()));
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                xml_escape(&e.code),
                xml_escape(&message)
            )
            .into_bytes()
        }
    };
    raw_response(e.status, &headers, &body)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// A definite-length CBOR map of text strings to text strings.
fn cbor_text_map(entries: &[(&str, &str)]) -> Vec<u8> {
    fn head(out: &mut Vec<u8>, major: u8, len: usize) {
        let major = major << 5;
        match len {
            0..=23 => out.push(major | len as u8),
            24..=0xff => out.extend([major | 24, len as u8]),
            0x100..=0xffff => {
                out.push(major | 25);
                out.extend((len as u16).to_be_bytes());
            }
            _ => {
                out.push(major | 26);
                out.extend((len as u32).to_be_bytes());
            }
        }
    }
    let mut out = Vec::new();
    head(&mut out, 5, entries.len());
    for (k, v) in entries {
        for s in [k, v] {
            head(&mut out, 3, s.len());
            out.extend(s.as_bytes());
        }
    }
    out
}
