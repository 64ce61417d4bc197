//! The fault-injecting proxy (tests/common/fault_proxy.rs): operation names, and faults as the AWS
//! SDKs see them when the proxy stands in front of moto.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::types::{FunctionCode, LastUpdateStatus, PackageType, State};
use aws_types::region::Region;
use bytes::Bytes;
use common::fault_proxy::{
    lambda_configuration, operation, Action, AwsError, FaultProxy, Rule, ROLE_CANNOT_BE_ASSUMED,
};
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A name no earlier run used (moto keeps state between runs).
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000_000)
}

/// An image URI moto accepts (it does not look the image up).
fn image_uri(seed: char) -> String {
    format!("127.0.0.1:5000/fault-proxy@sha256:{}", seed.to_string().repeat(64))
}

/// SDK settings; `max_attempts = 1` keeps the SDK's own retries from hiding faults.
async fn sdk(max_attempts: u32) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
        )
        .load()
        .await
}

async fn lambda(endpoint: &str, max_attempts: u32) -> aws_sdk_lambda::Client {
    let config = sdk(max_attempts).await;
    aws_sdk_lambda::Client::from_conf(aws_sdk_lambda::config::Builder::from(&config).endpoint_url(endpoint).build())
}

async fn iam(endpoint: &str, max_attempts: u32) -> aws_sdk_iam::Client {
    let config = sdk(max_attempts).await;
    aws_sdk_iam::Client::from_conf(aws_sdk_iam::config::Builder::from(&config).endpoint_url(endpoint).build())
}

async fn kinesis(endpoint: &str, max_attempts: u32) -> aws_sdk_kinesis::Client {
    let config = sdk(max_attempts).await;
    aws_sdk_kinesis::Client::from_conf(aws_sdk_kinesis::config::Builder::from(&config).endpoint_url(endpoint).build())
}

/// (HTTP status, error code, message) of an SDK error.
fn fault<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> (u16, String, String) {
    (
        err.raw_response().map(|r| r.status().as_u16()).unwrap_or_default(),
        err.code().unwrap_or_default().to_string(),
        err.message().unwrap_or_default().to_string(),
    )
}

/// A role in moto (Lambda's CreateFunction needs one), made directly, not through the proxy.
async fn role(moto: &str, name: &str) -> String {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let out = iam(moto, 3).await.create_role().role_name(name).assume_role_policy_document(trust).send().await;
    out.expect("create role in moto").role().map(|r| r.arn().to_string()).expect("role arn")
}

async fn create_function(
    client: &aws_sdk_lambda::Client,
    name: &str,
    role_arn: &str,
) -> Result<
    aws_sdk_lambda::operation::create_function::CreateFunctionOutput,
    SdkError<aws_sdk_lambda::operation::create_function::CreateFunctionError, HttpResponse>,
> {
    client
        .create_function()
        .function_name(name)
        .role(role_arn)
        .package_type(PackageType::Image)
        .code(FunctionCode::builder().image_uri(image_uri('a')).build())
        .send()
        .await
}

/// A function in moto, made directly.
async fn function(moto: &str, prefix: &str) -> String {
    let name = unique(prefix);
    let role_arn = role(moto, &format!("{name}-role")).await;
    create_function(&lambda(moto, 3).await, &name, &role_arn).await.expect("create function in moto");
    name
}

// ---------------------------------------------------------------------------------------------
// Operation names (no environment needed)
// ---------------------------------------------------------------------------------------------

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.insert(*k, HeaderValue::from_str(v).expect("header value"));
    }
    map
}

#[test]
fn lambda_rest_json_routes_are_named_by_method_and_path() {
    let none = HeaderMap::new();
    let cases = [
        ("POST", "/2015-03-31/functions", "CreateFunction"),
        ("GET", "/2015-03-31/functions/", "ListFunctions"),
        ("GET", "/2015-03-31/functions?MaxItems=50", "ListFunctions"),
        ("GET", "/2015-03-31/functions/f1", "GetFunction"),
        ("GET", "/2015-03-31/functions/f1?Qualifier=live", "GetFunction"),
        ("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af1", "GetFunction"),
        ("DELETE", "/2015-03-31/functions/f1", "DeleteFunction"),
        ("GET", "/2015-03-31/functions/f1/configuration", "GetFunctionConfiguration"),
        ("GET", "/2015-03-31/functions/f1/configuration?Qualifier=3", "GetFunctionConfiguration"),
        ("PUT", "/2015-03-31/functions/f1/configuration", "UpdateFunctionConfiguration"),
        ("PUT", "/2015-03-31/functions/f1/code", "UpdateFunctionCode"),
        ("POST", "/2015-03-31/functions/f1/versions", "PublishVersion"),
        ("GET", "/2015-03-31/functions/f1/versions", "ListVersionsByFunction"),
        ("POST", "/2015-03-31/functions/f1/aliases", "CreateAlias"),
        ("GET", "/2015-03-31/functions/f1/aliases", "ListAliases"),
        ("GET", "/2015-03-31/functions/f1/aliases/live", "GetAlias"),
        ("PUT", "/2015-03-31/functions/f1/aliases/live", "UpdateAlias"),
        ("DELETE", "/2015-03-31/functions/f1/aliases/live", "DeleteAlias"),
        ("POST", "/2015-03-31/event-source-mappings/", "CreateEventSourceMapping"),
        ("GET", "/2015-03-31/event-source-mappings?FunctionName=f1", "ListEventSourceMappings"),
        ("GET", "/2015-03-31/event-source-mappings/1b6a1f3e-0000-4000-8000-000000000001", "GetEventSourceMapping"),
        ("PUT", "/2015-03-31/event-source-mappings/1b6a1f3e-0000-4000-8000-000000000001", "UpdateEventSourceMapping"),
        (
            "DELETE",
            "/2015-03-31/event-source-mappings/1b6a1f3e-0000-4000-8000-000000000001",
            "DeleteEventSourceMapping",
        ),
        ("POST", "/2015-03-31/functions/f1/invocations", "Invoke"),
        ("POST", "/2015-03-31/functions/f1/invocations?Qualifier=live", "Invoke"),
        ("PUT", "/2017-10-31/functions/f1/concurrency", "PutFunctionConcurrency"),
        ("DELETE", "/2017-10-31/functions/f1/concurrency", "DeleteFunctionConcurrency"),
        ("GET", "/2019-09-30/functions/f1/concurrency", "GetFunctionConcurrency"),
        ("GET", "/2019-09-30/functions/f1/provisioned-concurrency?Qualifier=live", "GetProvisionedConcurrencyConfig"),
        ("GET", "/2019-09-30/functions/f1/provisioned-concurrency?List=ALL", "ListProvisionedConcurrencyConfigs"),
        ("GET", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af1", "ListTags"),
        ("POST", "/2015-03-31/functions/f1/policy", "AddPermission"),
        ("DELETE", "/2015-03-31/functions/f1/policy/sid1", "RemovePermission"),
    ];
    for (method, path, want) in cases {
        assert_eq!(operation(method, path, &none, b""), want, "{method} {path}");
    }
    // Not a route: named by method and path, so counts still tell them apart.
    assert_eq!(operation("PATCH", "/2015-03-31/functions/f1", &none, b""), "PATCH /2015-03-31/functions/f1");
    assert_eq!(operation("GET", "/moto-api/", &none, b""), "GET /moto-api/");
}

#[test]
fn json_query_and_cbor_protocols_are_named_from_target_action_and_path() {
    let json = headers(&[
        ("x-amz-target", "Kinesis_20131202.DescribeStreamSummary"),
        ("content-type", "application/x-amz-json-1.1"),
    ]);
    assert_eq!(operation("POST", "/", &json, br#"{"StreamName":"s"}"#), "DescribeStreamSummary");
    let ecr = headers(&[("x-amz-target", "AmazonEC2ContainerRegistry_V20150921.PutImage")]);
    assert_eq!(operation("POST", "/", &ecr, b"{}"), "PutImage");

    let form = headers(&[("content-type", "application/x-www-form-urlencoded; charset=utf-8")]);
    assert_eq!(operation("POST", "/", &form, b"Action=GetRole&RoleName=r&Version=2010-05-08"), "GetRole");
    assert_eq!(operation("POST", "/", &form, b"Version=2010-05-08&Action=PutMetricAlarm"), "PutMetricAlarm");
    assert_eq!(
        operation("GET", "/?Action=GetCallerIdentity&Version=2011-06-15", &HeaderMap::new(), b""),
        "GetCallerIdentity"
    );

    let cbor = headers(&[("smithy-protocol", "rpc-v2-cbor"), ("content-type", "application/cbor")]);
    assert_eq!(
        operation("POST", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", &cbor, b"\xa0"),
        "DescribeAlarms"
    );

    // A Lambda-looking path signed for another service is not a Lambda operation.
    let s3 = headers(&[(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
    )]);
    assert_eq!(operation("GET", "/2015-03-31/functions", &s3, b""), "GET /2015-03-31/functions");
}

#[test]
fn the_configuration_is_found_nested_or_at_the_top() {
    let mut get_function = serde_json::json!({"Configuration": {"State": "Active"}, "Code": {}});
    lambda_configuration(&mut get_function).expect("object").insert("State".into(), "Pending".into());
    assert_eq!(get_function["Configuration"]["State"], "Pending");
    let mut get_configuration = serde_json::json!({"State": "Active"});
    lambda_configuration(&mut get_configuration).expect("object").insert("State".into(), "Pending".into());
    assert_eq!(get_configuration["State"], "Pending");
}

// ---------------------------------------------------------------------------------------------
// Forwarding
// ---------------------------------------------------------------------------------------------

/// An upstream that answers with a description of exactly what it received.
async fn echo_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                    let headers: Vec<(String, String)> = parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                        .collect();
                    let description = serde_json::json!({
                        "method": parts.method.as_str(),
                        "uri": parts.uri.to_string(),
                        "headers": headers,
                        "body": body.to_vec(),
                    });
                    let response = http::Response::builder()
                        .status(299)
                        .header("x-echo", "yes")
                        .header("content-type", "application/octet-stream")
                        .body(Full::new(Bytes::from(description.to_string())))
                        .expect("response");
                    Ok::<_, std::convert::Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// moto routes a request by the service in its credential scope (unsigned ones go to S3); it does
/// not check signatures.
const LAMBDA_AUTH: &str =
    "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00";

fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, HeaderMap, Bytes) {
    let mut builder = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let response = client.request(builder.body(Full::new(Bytes::copy_from_slice(body))).expect("request")).await;
    let response = response.expect("send");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.into_body().collect().await.expect("body").to_bytes())
}

#[tokio::test]
async fn unmatched_requests_are_forwarded_unchanged() {
    let upstream = echo_upstream().await;
    let proxy = FaultProxy::start(&upstream);
    // A rule for another operation must not touch this request.
    proxy.add(Rule::throttle("CreateFunction", 5));
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let url = format!("{}/2015-03-31/functions/f%3Ax/code?Qualifier=a%20b&x=1", proxy.url());
    let sent = [
        ("content-type", "application/octet-stream"),
        ("x-amz-date", "20240101T000000Z"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/lambda/aws4_request, Signature=ab"),
        ("x-custom", "  spaced value "),
    ];
    let (status, headers, answer) = send(&http_client(), Method::PUT, &url, &sent, &body).await;

    assert_eq!(status, 299, "the upstream's status comes back");
    assert_eq!(headers.get("x-echo").and_then(|v| v.to_str().ok()), Some("yes"));
    let seen: serde_json::Value = serde_json::from_slice(&answer).expect("echo json");
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["uri"], "/2015-03-31/functions/f%3Ax/code?Qualifier=a%20b&x=1");
    let received: Vec<u8> = serde_json::from_value(seen["body"].clone()).expect("body bytes");
    assert!(received == body, "body bytes must be identical ({} vs {} bytes)", received.len(), body.len());
    let seen_headers: Vec<(String, String)> = serde_json::from_value(seen["headers"].clone()).expect("headers");
    for (k, v) in sent {
        assert!(seen_headers.contains(&(k.to_string(), v.trim().to_string())), "{k} not forwarded: {seen_headers:?}");
    }
    assert!(seen_headers.contains(&("content-length".into(), body.len().to_string())), "{seen_headers:?}");

    assert_eq!(proxy.calls(), ["UpdateFunctionCode"]);
    assert_eq!(proxy.injected("UpdateFunctionCode"), 0);
    assert_eq!(proxy.log()[0].status, 299);
}

#[tokio::test]
async fn moto_answers_come_back_byte_for_byte() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let name = function(&env.moto, "fp-bytes").await;
    let proxy = FaultProxy::start(&env.moto);
    let client = http_client();
    let path = format!("/2015-03-31/functions/{name}/configuration");
    let auth = [("authorization", LAMBDA_AUTH)];
    let (direct_status, _, direct) = send(&client, Method::GET, &format!("{}{path}", env.moto), &auth, b"").await;
    let (status, _, proxied) = send(&client, Method::GET, &format!("{}{path}", proxy.url()), &auth, b"").await;
    assert_eq!((status, direct_status), (200, 200));
    assert_eq!(proxied, direct);
    assert_eq!(proxy.calls(), ["GetFunctionConfiguration"]);
}

/// One raw HTTP/1.1 exchange over a blocking socket: no async runtime on this thread at all,
/// as in a plain #[test] that shells out to terraform.
fn blocking_get(url: &str, path: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {LAMBDA_AUTH}\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

#[test]
fn works_from_a_plain_test_without_a_runtime() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let proxy = FaultProxy::start(&env.moto);
    proxy.add(Rule::throttle("ListFunctions", 1));

    let throttled = blocking_get(&proxy.url(), "/2015-03-31/functions/");
    let lower = throttled.to_ascii_lowercase();
    assert!(throttled.starts_with("HTTP/1.1 429"), "{throttled}");
    assert!(lower.contains("x-amzn-errortype: toomanyrequestsexception\r\n"), "{throttled}");
    assert!(lower.contains("content-type: application/json\r\n"), "{throttled}");
    let body: serde_json::Value =
        serde_json::from_str(throttled.split("\r\n\r\n").nth(1).expect("body")).expect("json body");
    assert_eq!(body["message"], "Rate exceeded");
    assert_eq!(body["Type"], "User");
    assert_eq!(body["Reason"], "CallerRateLimitExceeded");

    let passed = blocking_get(&proxy.url(), "/2015-03-31/functions/");
    assert!(passed.starts_with("HTTP/1.1 200"), "{passed}");
    assert!(passed.contains("\"Functions\""), "{passed}");
    assert_eq!(proxy.count("ListFunctions"), 2);
    assert_eq!(proxy.injected("ListFunctions"), 1);
}

// ---------------------------------------------------------------------------------------------
// Faults as the SDKs see them
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn iam_propagation_error_on_create_function_then_the_call_reaches_moto() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let proxy = FaultProxy::start(&env.moto);
    let name = unique("fp-iam");
    let role_arn = role(&env.moto, &format!("{name}-role")).await;
    let rule = proxy.add(Rule::iam_propagation("CreateFunction", 1));
    let through_proxy = lambda(&proxy.url(), 1).await;

    let err = create_function(&through_proxy, &name, &role_arn).await.expect_err("injected failure");
    assert_eq!(fault(&err), (400, "InvalidParameterValueException".into(), ROLE_CANNOT_BE_ASSUMED.into()));
    assert!(err.into_service_error().is_invalid_parameter_value_exception());
    let direct = lambda(&env.moto, 1).await;
    let missing = direct.get_function().function_name(&name).send().await.expect_err("moto never saw the create");
    assert!(missing.into_service_error().is_resource_not_found_exception());

    let created = create_function(&through_proxy, &name, &role_arn).await.expect("second create reaches moto");
    assert_eq!(created.function_name(), Some(name.as_str()));
    assert_eq!(created.state(), Some(&State::Active));
    assert_eq!(proxy.count("CreateFunction"), 2);
    assert_eq!(proxy.injected("CreateFunction"), 1);
    assert_eq!(rule.hits(), 1);
    assert_eq!(proxy.log().iter().map(|c| c.status).collect::<Vec<_>>(), [400, 201]);

    // The SDK's standard retry does not retry this error: only the caller's own retry does.
    proxy.reset_counts();
    proxy.add(Rule::iam_propagation("CreateFunction", 1));
    let retrying = lambda(&proxy.url(), 3).await;
    let other = unique("fp-iam2");
    let err = create_function(&retrying, &other, &role_arn).await.expect_err("not retried by the SDK");
    assert_eq!(fault(&err).1, "InvalidParameterValueException");
    assert_eq!(proxy.calls(), ["CreateFunction"]);
}

#[tokio::test]
async fn update_in_progress_conflict_on_update_function_code() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let name = function(&env.moto, "fp-conflict").await;
    let proxy = FaultProxy::start(&env.moto);
    proxy.add(Rule::update_in_progress("UpdateFunctionCode", 2));
    // Scoped to another function: never fires for ours.
    let elsewhere =
        proxy.add(Rule::update_in_progress("UpdateFunctionConfiguration", 5).on_path_containing("not-ours"));
    let client = lambda(&proxy.url(), 1).await;
    let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{name}");

    for _ in 0..2 {
        let err = client.update_function_code().function_name(&name).image_uri(image_uri('b')).send().await;
        let err = err.expect_err("conflict");
        let want =
            format!("The operation cannot be performed at this time. An update is in progress for resource: {arn}");
        assert_eq!(fault(&err), (409, "ResourceConflictException".into(), want));
        assert!(err.into_service_error().is_resource_conflict_exception());
    }
    // A function given by ARN names itself in the message.
    proxy.add(Rule::update_in_progress("UpdateFunctionCode", 1));
    let err = client.update_function_code().function_name(&arn).image_uri(image_uri('b')).send().await;
    assert!(fault(&err.expect_err("conflict")).2.ends_with(&format!("resource: {arn}")));

    let updated = client.update_function_code().function_name(&name).image_uri(image_uri('b')).send().await;
    updated.expect("third update reaches moto");
    let config = client.update_function_configuration().function_name(&name).memory_size(256).send().await;
    assert_eq!(config.expect("not ours: passes").memory_size(), Some(256));
    assert_eq!(elsewhere.hits(), 0);

    let got = lambda(&env.moto, 1).await.get_function().function_name(&name).send().await.expect("get");
    assert_eq!(got.code().and_then(|c| c.image_uri()), Some(image_uri('b').as_str()));
    assert_eq!(proxy.count("UpdateFunctionCode"), 4);
    assert_eq!(proxy.injected("UpdateFunctionCode"), 3);
}

#[tokio::test]
async fn throttling_on_a_json_protocol_call_is_retried_by_the_sdk() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let stream = unique("fp-throttle");
    let direct = kinesis(&env.moto, 3).await;
    direct.create_stream().stream_name(&stream).shard_count(1).send().await.expect("create stream");
    let proxy = FaultProxy::start(&env.moto);

    proxy.add(Rule::throttle("DescribeStreamSummary", 1));
    let once = kinesis(&proxy.url(), 1).await;
    let err = once.describe_stream_summary().stream_name(&stream).send().await.expect_err("throttled");
    assert_eq!(fault(&err), (400, "LimitExceededException".into(), "Rate exceeded".into()));
    let raw = err.raw_response().expect("raw response");
    assert_eq!(raw.headers().get("content-type"), Some("application/x-amz-json-1.1"));
    assert!(err.into_service_error().is_limit_exceeded_exception());

    // The SDK classifies it as throttling and retries: three attempts, the last one reaches moto.
    proxy.reset_counts();
    proxy.add(Rule::throttle("DescribeStreamSummary", 2));
    let retrying = kinesis(&proxy.url(), 3).await;
    let summary = retrying.describe_stream_summary().stream_name(&stream).send().await.expect("third attempt");
    assert_eq!(summary.stream_description_summary().map(|s| s.stream_name()), Some(stream.as_str()));
    assert_eq!(proxy.count("DescribeStreamSummary"), 3);
    assert_eq!(proxy.injected("DescribeStreamSummary"), 2);
}

#[tokio::test]
async fn server_errors_surface_with_their_status_and_are_retried() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let name = function(&env.moto, "fp-5xx").await;
    let proxy = FaultProxy::start(&env.moto);

    proxy.add(Rule::server_error("GetFunction", 1));
    let once = lambda(&proxy.url(), 1).await;
    let err = once.get_function().function_name(&name).send().await.expect_err("500");
    let (status, code, _) = fault(&err);
    assert_eq!((status, code.as_str()), (500, "ServiceException"));
    assert!(err.into_service_error().is_service_exception());

    proxy.add(Rule::service_unavailable("GetRole", 1));
    let err = iam(&proxy.url(), 1).await.get_role().role_name(format!("{name}-role")).send().await;
    let (status, code, _) = fault(&err.expect_err("503"));
    assert_eq!((status, code.as_str()), (503, "ServiceUnavailable"));

    // A bare 502 with a non-AWS body, as a load balancer would send.
    proxy.add(Rule::respond("GetFunction", 502, &[("content-type", "text/html")], b"<html>Bad Gateway</html>", 1));
    let err = once.get_function().function_name(&name).send().await.expect_err("502");
    assert_eq!(fault(&err).0, 502);

    proxy.reset_counts();
    proxy.add(Rule::service_unavailable("GetFunction", 2));
    let retrying = lambda(&proxy.url(), 3).await;
    retrying.get_function().function_name(&name).send().await.expect("retried past two 503s");
    assert_eq!(proxy.count("GetFunction"), 3);
    assert_eq!(proxy.log().iter().map(|c| c.status).collect::<Vec<_>>(), [503, 503, 200]);
}

#[tokio::test]
async fn pending_and_in_progress_rewrites_then_the_real_answer() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let name = function(&env.moto, "fp-state").await;
    let proxy = FaultProxy::start(&env.moto);
    let client = lambda(&proxy.url(), 1).await;

    proxy.add(Rule::pending_state(2));
    let first = client.get_function().function_name(&name).send().await.expect("get");
    let config = first.configuration().expect("configuration");
    assert_eq!(config.state(), Some(&State::Pending));
    assert_eq!(config.state_reason_code().map(|c| c.as_str()), Some("Creating"));
    assert_eq!(config.state_reason(), Some("The function is being created."));
    assert!(first.code().and_then(|c| c.image_uri()).is_some(), "the rest of the answer is kept");
    let second = client.get_function_configuration().function_name(&name).send().await.expect("get config");
    assert_eq!(second.state(), Some(&State::Pending));
    let third = client.get_function().function_name(&name).send().await.expect("get");
    assert_eq!(third.configuration().and_then(|c| c.state()), Some(&State::Active));
    assert_eq!(third.configuration().and_then(|c| c.state_reason_code()), None);

    proxy.add(Rule::in_progress_update(1));
    let updating = client.get_function_configuration().function_name(&name).send().await.expect("get config");
    assert_eq!(updating.last_update_status(), Some(&LastUpdateStatus::InProgress));
    let done = client.get_function_configuration().function_name(&name).send().await.expect("get config");
    assert_eq!(done.last_update_status(), Some(&LastUpdateStatus::Successful));

    proxy.add(Rule::last_update_status("Failed", Some(("ImageAccessDenied", "Lambda cannot pull the image.")), 1));
    let failed = client.get_function().function_name(&name).send().await.expect("get");
    let config = failed.configuration().expect("configuration");
    assert_eq!(config.last_update_status(), Some(&LastUpdateStatus::Failed));
    assert_eq!(config.last_update_status_reason_code().map(|c| c.as_str()), Some("ImageAccessDenied"));
    assert_eq!(config.last_update_status_reason(), Some("Lambda cannot pull the image."));

    // An error answer is not rewritten and does not use the rule up.
    proxy.add(Rule::pending_state(1));
    let missing = client.get_function().function_name(format!("{name}-missing")).send().await;
    assert!(missing.expect_err("404").into_service_error().is_resource_not_found_exception());
    let pending = client.get_function_configuration().function_name(&name).send().await.expect("get config");
    assert_eq!(pending.state(), Some(&State::Pending));

    assert_eq!(
        proxy.calls(),
        [
            "GetFunction",
            "GetFunctionConfiguration",
            "GetFunction",
            "GetFunctionConfiguration",
            "GetFunctionConfiguration",
            "GetFunction",
            "GetFunction",
            "GetFunctionConfiguration"
        ]
    );
}

#[tokio::test]
async fn iam_query_protocol_errors_parse_as_their_codes() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let proxy = FaultProxy::start(&env.moto);
    let client = iam(&proxy.url(), 1).await;
    let name = unique("fp-query");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

    proxy.add(Rule::throttle("CreateRole", 1));
    let err = client.create_role().role_name(&name).assume_role_policy_document(trust).send().await;
    let err = err.expect_err("throttled");
    assert_eq!(fault(&err), (400, "Throttling".into(), "Rate exceeded".into()));
    assert_eq!(err.raw_response().and_then(|r| r.headers().get("content-type")), Some("text/xml"));
    client.create_role().role_name(&name).assume_role_policy_document(trust).send().await.expect("create role");

    proxy.add(Rule::error(
        "DeleteRole",
        409,
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
        1,
    ));
    let err = client.delete_role().role_name(&name).send().await.expect_err("conflict");
    assert_eq!(fault(&err).1, "DeleteConflict");
    assert!(err.into_service_error().is_delete_conflict_exception(), "parsed into the modeled error");
    client.delete_role().role_name(&name).send().await.expect("delete reaches moto");

    // moto's own errors pass through untouched.
    let err = client.get_role().role_name(&name).send().await.expect_err("gone");
    assert!(err.into_service_error().is_no_such_entity_exception());
    assert_eq!(proxy.calls(), ["CreateRole", "CreateRole", "DeleteRole", "DeleteRole", "GetRole"]);
    assert_eq!(proxy.log().iter().map(|c| c.injected).collect::<Vec<_>>(), [true, false, true, false, false]);
}

#[tokio::test]
async fn rpc_v2_cbor_errors_parse_as_their_codes() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let proxy = FaultProxy::start(&env.moto);
    let config = sdk(1).await;
    let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&config).endpoint_url(proxy.url()).build(),
    );
    proxy.add(Rule::throttle("DescribeAlarms", 1));
    let err = cloudwatch.describe_alarms().send().await.expect_err("throttled");
    let (status, code, message) = fault(&err);
    assert_eq!((status, code.as_str(), message.as_str()), (400, "Throttling", "Rate exceeded"));
    assert_eq!(proxy.calls(), ["DescribeAlarms"]);
}

#[tokio::test]
async fn counts_and_call_order_are_recorded() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let name = function(&env.moto, "fp-count").await;
    let proxy = FaultProxy::start(&env.moto);
    let l = lambda(&proxy.url(), 1).await;
    let i = iam(&proxy.url(), 1).await;
    let k = kinesis(&proxy.url(), 1).await;

    i.get_role().role_name(format!("{name}-role")).send().await.expect("get role");
    l.get_function().function_name(&name).qualifier("$LATEST").send().await.expect("get function");
    let version = l.publish_version().function_name(&name).send().await.expect("publish");
    let version = version.version().expect("version").to_string();
    l.create_alias().function_name(&name).name("live").function_version(&version).send().await.expect("alias");
    l.get_alias().function_name(&name).name("live").send().await.expect("get alias");
    let _ = k.list_streams().send().await;
    l.get_function().function_name(&name).send().await.expect("get function");

    assert_eq!(
        proxy.calls(),
        ["GetRole", "GetFunction", "PublishVersion", "CreateAlias", "GetAlias", "ListStreams", "GetFunction"]
    );
    assert_eq!(proxy.count("GetFunction"), 2);
    assert_eq!(proxy.count("UpdateFunctionCode"), 0);
    assert_eq!(proxy.counts().values().sum::<usize>(), 7);
    assert!(proxy.log()[1].uri.ends_with("?Qualifier=%24LATEST"), "{:?}", proxy.log()[1]);

    proxy.reset_counts();
    assert!(proxy.calls().is_empty());
    l.list_aliases().function_name(&name).send().await.expect("list aliases");
    assert_eq!(proxy.calls(), ["ListAliases"]);
}

#[tokio::test]
async fn delays_and_skips_and_custom_rewrites() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let name = function(&env.moto, "fp-delay").await;
    let proxy = FaultProxy::start(&env.moto);
    let client = lambda(&proxy.url(), 1).await;

    proxy.add(Rule::delay("GetFunctionConfiguration", Duration::from_millis(400)).times(1));
    let started = Instant::now();
    client.get_function_configuration().function_name(&name).send().await.expect("delayed, then forwarded");
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());

    // The second PublishVersion fails; the first and third pass.
    proxy.add(Rule::update_in_progress("PublishVersion", 1).after(1));
    client.publish_version().function_name(&name).send().await.expect("first passes");
    let err = client.publish_version().function_name(&name).send().await.expect_err("second conflicts");
    assert_eq!(fault(&err).1, "ResourceConflictException");
    client.publish_version().function_name(&name).send().await.expect("third passes");

    // A publish answer without LastUpdateStatus (hashicorp/aws treats missing as InProgress).
    proxy.add(Rule::rewrite_json("PublishVersion", |v| {
        if let Some(config) = lambda_configuration(v) {
            config.remove("LastUpdateStatus");
        }
    }));
    let published = client.publish_version().function_name(&name).send().await.expect("publish");
    assert_eq!(published.last_update_status(), None);

    // An error with extra members, in the Lambda wire shape.
    proxy.add(Rule::new(
        "GetAlias",
        Action::Error(AwsError::new(404, "ResourceNotFoundException", "Alias not found: x").with("Type", "User")),
    ));
    let err = client.get_alias().function_name(&name).name("x").send().await.expect_err("not found");
    assert!(err.into_service_error().is_resource_not_found_exception());
}
