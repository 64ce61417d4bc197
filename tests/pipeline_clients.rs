//! The AWS clients `mlops_pipeline` uses (IAM, CloudWatch Logs, Lambda, CloudWatch), against moto.
//!
//! What moto does and does not reproduce is in FACTS.md ("moto 5.2.5"); the quirks these tests
//! depend on are cited where they matter. moto keeps state between runs and is shared with other
//! test binaries: every name is unique per run.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_types::region::Region;
use mlops::clients::cloudwatch::CloudWatch;
use mlops::clients::iam::Iam;
use mlops::clients::lambda::{FunctionSpec, Lambda, LambdaError, MappingSpec};
use mlops::clients::logs::Logs;
use tokio_util::sync::CancellationToken;

const TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;

/// A name no earlier run used (moto keeps state between runs).
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// moto's canned Invoke results are queued per account and region, and any client of the moto
/// server takes the next one (FACTS.md, "Invoke"). The function test owns this region so that
/// other test binaries invoking in us-east-1 at the same time neither take its results nor get them.
const INVOKE_REGION: &str = "eu-west-2";

async fn sdk() -> SdkConfig {
    sdk_in("us-east-1").await
}

async fn sdk_in(region: &'static str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .timeout_config(mlops::clients::aws::timeout_config())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// One HTTP/1.1 request to moto's own API (`/moto-api/…`); returns the status and the body.
fn moto_api(moto: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    moto_http(moto, method, path, "Content-Type: application/json\r\n", body.unwrap_or(""))
}

/// One HTTP/1.1 request to moto with extra header lines (each ending in CRLF).
fn moto_http(moto: &str, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let host = moto.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).expect("connect to moto");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write to moto");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read from moto");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// One CloudWatch call to moto in the JSON protocol, unsigned. aws-sdk-cloudwatch speaks only
/// rpc-v2-cbor, which moto 5.2.5 answers with 404 (see `mlops::clients::cloudwatch`); moto routes
/// by the credential scope of the Authorization header and does not check the signature.
fn moto_cloudwatch(moto: &str, operation: &str, input: serde_json::Value) {
    let headers = format!(
        "Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: GraniteServiceVersion20100801.{operation}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/monitoring/aws4_request, \
         SignedHeaders=host, Signature=0\r\n"
    );
    let (status, body) = moto_http(moto, "POST", "/", &headers, &input.to_string());
    assert_eq!(status, 200, "CloudWatch {operation}: {body}");
}

/// Makes moto answer Invoke with canned results instead of running Docker (FACTS.md, "Invoke").
///
/// Idempotent: it POSTs only when `lambda.use_docker` is not already false, because the switch
/// moves Lambda to a separate store and hides every function created before it in that moto
/// process. `scripts/testenv.sh up` sets it right after moto starts; this only repairs a server
/// started some other way, and must run before any function is created.
fn ensure_lambda_without_docker(moto: &str) {
    let (status, body) = moto_api(moto, "GET", "/moto-api/config", None);
    assert!((200..300).contains(&status), "GET /moto-api/config: {status} {body}");
    let config: serde_json::Value = serde_json::from_str(&body).expect("moto config is JSON");
    if config.pointer("/lambda/use_docker") == Some(&serde_json::Value::Bool(false)) {
        return;
    }
    eprintln!("moto: setting lambda.use_docker=false (functions created before now become invisible)");
    let (status, body) = moto_api(moto, "POST", "/moto-api/config", Some(r#"{"lambda": {"use_docker": false}}"#));
    assert!((200..300).contains(&status), "POST /moto-api/config: {status} {body}");
}

/// Queues canned Invoke results (JSON *strings*, FACTS.md) for `region`. The queue belongs to the
/// account and region, not to a function: any invoke there takes the next result.
fn queue_invoke_results(moto: &str, region: &str, results: &[&str]) {
    let body = serde_json::json!({ "results": results, "region": region }).to_string();
    let (status, text) = moto_api(moto, "POST", "/moto-api/static/lambda-simple/response", Some(&body));
    assert!((200..300).contains(&status), "queue canned results: {status} {text}");
}

/// A digest-pinned image reference; moto does not check the image (MOTO_LAMBDA_STUB_ECR, FACTS.md).
fn image(seed: char) -> String {
    format!("127.0.0.1:5000/mlops-test/model@sha256:{}", seed.to_string().repeat(64))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()))
}

fn spec(name: &str, role_arn: &str, image_uri: &str) -> FunctionSpec {
    FunctionSpec {
        name: name.to_string(),
        role_arn: role_arn.to_string(),
        image_uri: image_uri.to_string(),
        architecture: "x86_64".into(),
        memory_size: 256,
        timeout: 30,
        ephemeral_storage: 1024,
        environment: BTreeMap::from([("MODEL_BUCKET".to_string(), "models".to_string())]),
        tracing_mode: Some("Active".into()),
        log_group: Some(format!("/mlops/{name}")),
        tags: BTreeMap::from([("team".to_string(), "ml".to_string())]),
    }
}

/// The execution role a function needs: moto checks that it exists (FACTS.md).
async fn role(iam: &Iam, cancel: &CancellationToken) -> String {
    iam.create_role(&unique("mlops-t-exec"), TRUST, BTreeMap::new(), cancel).await.expect("create role").arn
}

fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[tokio::test]
async fn role_with_policies_is_created_read_and_deleted_in_hashicorps_order() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let config = sdk().await;
    let iam = Iam::new(&config, Some(&env.moto));
    let raw =
        aws_sdk_iam::Client::from_conf(aws_sdk_iam::config::Builder::from(&config).endpoint_url(&env.moto).build());
    let cancel = CancellationToken::new();
    let name = unique("mlops-t-role");
    let tags = BTreeMap::from([("team".to_string(), "ml".to_string())]);

    let created = iam.create_role(&name, TRUST, tags.clone(), &cancel).await.expect("create");
    assert_eq!(created.name, name);
    assert!(created.arn.ends_with(&format!(":role/{name}")), "{created:?}");
    let compact_trust = serde_json::from_str::<serde_json::Value>(TRUST).expect("json").to_string();
    assert_eq!(created.assume_role_policy.as_deref(), Some(compact_trust.as_str()));
    let listed = raw.list_role_tags().role_name(&name).send().await.expect("tags");
    assert_eq!(listed.tags().iter().map(|t| (t.key(), t.value())).collect::<Vec<_>>(), [("team", "ml")]);

    // A second create is an error naming the role, at once (never retried).
    let started = Instant::now();
    let err = iam.create_role(&name, TRUST, BTreeMap::new(), &cancel).await.expect_err("duplicate");
    assert!(err.is_conflict() && err.code() == Some("EntityAlreadyExists"), "{err}");
    assert!(err.to_string().contains(&format!("role {name} already exists")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let got = iam.get_role(&name).await.expect("get").expect("exists");
    assert_eq!(got, created);
    assert_eq!(iam.get_role(&unique("mlops-t-absent")).await.expect("get missing"), None);

    // IAM (and moto) answer URL-encoded documents; the client hands back compact JSON. The space and
    // the plus in the resource check the decoding ('+' is %2B on the wire, a space %20).
    let policy = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kinesis:GetRecords"], "Resource": "arn:aws:s3:::bucket/a b+c"}]}"#;
    iam.put_role_policy(&name, "pipeline", policy).await.expect("put policy");
    let read = iam.get_role_policy(&name, "pipeline").await.expect("get policy").expect("policy exists");
    assert_eq!(read, serde_json::from_str::<serde_json::Value>(policy).expect("json").to_string());
    assert_eq!(iam.get_role_policy(&name, "absent").await.expect("missing policy"), None);
    assert_eq!(iam.get_role_policy(&unique("mlops-t-absent"), "pipeline").await.expect("missing role"), None);

    // Everything that makes DeleteRole answer DeleteConflict (FACTS.md: moto does, like AWS): an inline
    // policy, a managed policy, an instance profile.
    let managed = raw
        .create_policy()
        .policy_name(unique("mlops-t-managed"))
        .policy_document(policy)
        .send()
        .await
        .expect("create managed policy");
    let managed_arn = managed.policy().and_then(|p| p.arn()).expect("policy arn").to_string();
    raw.attach_role_policy().role_name(&name).policy_arn(&managed_arn).send().await.expect("attach");
    let profile = unique("mlops-t-profile");
    raw.create_instance_profile().instance_profile_name(&profile).send().await.expect("profile");
    raw.add_role_to_instance_profile().instance_profile_name(&profile).role_name(&name).send().await.expect("add");
    let conflict = raw.delete_role().role_name(&name).send().await.expect_err("moto refuses while attached");
    assert_eq!(aws_sdk_iam::error::ProvideErrorMetadata::code(&conflict), Some("DeleteConflict"));

    iam.delete_role(&name, &cancel).await.expect("delete");
    assert_eq!(iam.get_role(&name).await.expect("get deleted"), None);
    let profile_now = raw.get_instance_profile().instance_profile_name(&profile).send().await.expect("profile kept");
    assert!(profile_now.instance_profile().is_some_and(|p| p.roles().is_empty()), "{profile_now:?}");
    // The managed policy itself survives: it was only detached.
    raw.get_policy().policy_arn(&managed_arn).send().await.expect("managed policy kept");
    // Deleting again is success.
    iam.delete_role(&name, &cancel).await.expect("delete again");

    raw.delete_instance_profile().instance_profile_name(&profile).send().await.expect("cleanup profile");
    raw.delete_policy().policy_arn(&managed_arn).send().await.expect("cleanup policy");
}

#[tokio::test]
async fn log_group_is_created_once_retained_described_exactly_and_deleted() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let config = sdk().await;
    let logs = Logs::new(&config, Some(&env.moto));
    let name = format!("/mlops/{}", unique("lg"));
    // A longer name with the same prefix: describe must not answer for it.
    let longer = format!("{name}-other");

    assert_eq!(logs.describe_log_group(&name).await.expect("describe absent"), None);
    assert!(logs.create_log_group(&longer, None, BTreeMap::new()).await.expect("create longer"));
    assert_eq!(logs.describe_log_group(&name).await.expect("prefix only"), None, "a prefix match is not a match");

    let tags = BTreeMap::from([("team".to_string(), "ml".to_string())]);
    assert!(logs.create_log_group(&name, Some(7), tags).await.expect("create"), "created by us");
    assert!(
        !logs.create_log_group(&name, Some(30), BTreeMap::new()).await.expect("exists"),
        "not ours the second time"
    );

    let group = logs.describe_log_group(&name).await.expect("describe").expect("exists");
    assert_eq!(group.name, name);
    assert_eq!(group.retention_days, Some(7), "the second create must not touch the retention");
    assert_eq!(group.arn, format!("arn:aws:logs:us-east-1:123456789012:log-group:{name}"), "no :* suffix");

    logs.put_retention(&name, Some(30)).await.expect("retention 30");
    assert_eq!(logs.describe_log_group(&name).await.expect("describe").and_then(|g| g.retention_days), Some(30));
    logs.put_retention(&name, None).await.expect("never expire");
    assert_eq!(logs.describe_log_group(&name).await.expect("describe").map(|g| g.retention_days), Some(None));

    logs.delete_log_group(&name).await.expect("delete");
    assert_eq!(logs.describe_log_group(&name).await.expect("describe deleted"), None);
    logs.delete_log_group(&name).await.expect("delete again is success");
    logs.delete_log_group(&longer).await.expect("cleanup");
}

#[tokio::test]
async fn image_function_versions_alias_and_invoke() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    ensure_lambda_without_docker(&env.moto);
    let config = sdk_in(INVOKE_REGION).await;
    let iam = Iam::new(&config, Some(&env.moto));
    let lambda = Lambda::new(&config, Some(&env.moto));
    let cancel = CancellationToken::new();
    let bound = Duration::from_secs(60);
    let role_arn = role(&iam, &cancel).await;
    let name = unique("mlops-t-fn");
    let first_image = image('a');
    let mut wanted = spec(&name, &role_arn, &first_image);

    let created = lambda.create_function(&wanted, &cancel).await.expect("create");
    assert_eq!(created.name, name);
    assert_eq!(created.arn, format!("arn:aws:lambda:{INVOKE_REGION}:123456789012:function:{name}"));
    assert_eq!(created.version, "$LATEST");
    assert_eq!(created.role, role_arn);
    assert_eq!((created.memory_size, created.timeout, created.ephemeral_storage), (256, 30, 1024));
    assert_eq!(created.architectures, ["x86_64"]);
    assert_eq!(created.environment, wanted.environment);
    // moto: CodeSha256 is the SHA-256 of the URI string (FACTS.md).
    assert_eq!(created.code_sha256.as_deref(), Some(sha256_hex(&first_image).as_str()));

    // A second create fails at once: "Function already exist" is a conflict no wait resolves.
    let started = Instant::now();
    let err = lambda.create_function(&wanted, &cancel).await.expect_err("duplicate");
    assert!(err.is_conflict() && err.code() == Some("ResourceConflictException"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "not retried: {:?}", started.elapsed());

    // moto: State is always Active and LastUpdateStatus always Successful, so these pass at once
    // (FACTS.md); the Pending/InProgress paths are the fault proxy's to test.
    let active = lambda.wait_active(&name, bound, &cancel).await.expect("active");
    assert_eq!(active.state.as_deref(), Some("Active"));

    let got = lambda.get_function(&name, None).await.expect("get").expect("exists");
    assert_eq!(got.image_uri, first_image);
    assert_eq!(got.tags, wanted.tags);
    assert_eq!(got.environment, wanted.environment);
    assert_eq!(got.tracing_mode.as_deref(), Some("Active"));
    assert_eq!(got.last_update_status.as_deref(), Some("Successful"));
    assert_eq!(lambda.get_function(&unique("mlops-t-absent"), None).await.expect("get missing"), None);
    assert!(!format!("{got:?}").contains("models"), "Debug must not show environment values");

    // Configuration, then code, each followed by the update wait.
    wanted.memory_size = 512;
    wanted.timeout = 60;
    wanted.environment.insert("RUN_ID".into(), "run-1".into());
    let updated = lambda.update_configuration(&wanted, &cancel).await.expect("update configuration");
    assert_eq!((updated.memory_size, updated.timeout), (512, 60));
    lambda.wait_updated(&name, None, bound, &cancel).await.expect("configuration updated");
    let second_image = image('b');
    lambda.update_code(&name, &second_image, "x86_64", &cancel).await.expect("update code");
    let after = lambda.wait_updated(&name, None, bound, &cancel).await.expect("code updated");
    assert_eq!(after.image_uri, second_image);
    assert_eq!(after.environment.get("RUN_ID").map(String::as_str), Some("run-1"));
    assert_eq!(after.memory_size, 512);

    // Two versions, each bound to its configuration.
    let v1 = lambda.publish_version(&name, "first", &cancel).await.expect("publish 1");
    assert_eq!(v1.version, "1");
    assert_eq!(v1.arn, format!("{}:1", created.arn));
    lambda.wait_updated(&name, Some(&v1.version), bound, &cancel).await.expect("version 1 ready");
    wanted.environment.insert("RUN_ID".into(), "run-2".into());
    lambda.update_configuration(&wanted, &cancel).await.expect("update for version 2");
    lambda.wait_updated(&name, None, bound, &cancel).await.expect("updated");
    let v2 = lambda.publish_version(&name, "second", &cancel).await.expect("publish 2");
    assert_eq!(v2.version, "2");
    assert_eq!(lambda.list_versions(&name).await.expect("versions"), ["1", "2"]);
    let at_v1 = lambda.get_function(&name, Some("1")).await.expect("get v1").expect("v1 exists");
    assert_eq!(at_v1.environment.get("RUN_ID").map(String::as_str), Some("run-1"));

    // Reserved concurrency: set, read both ways, removed.
    lambda.put_reserved_concurrency(&name, Some(3)).await.expect("reserve");
    assert_eq!(lambda.get_reserved_concurrency(&name).await.expect("get concurrency"), Some(3));
    let with = lambda.get_function(&name, None).await.expect("get").expect("exists");
    assert_eq!(with.reserved_concurrency, Some(3));
    lambda.put_reserved_concurrency(&name, None).await.expect("unreserve");
    assert_eq!(lambda.get_reserved_concurrency(&name).await.expect("get concurrency"), None);

    // The alias: at version 1, then a canary to version 2 with weights, then all at once.
    let live = lambda.create_alias(&name, "live", "1", &BTreeMap::new()).await.expect("create alias");
    assert_eq!(live.arn, format!("{}:live", created.arn));
    assert_eq!((live.name.as_str(), live.version.as_str()), ("live", "1"));
    assert!(live.additional_weights.is_empty());
    // moto answers a duplicate alias with ConflictException (AWS: ResourceConflictException), FACTS.md.
    let dup = lambda.create_alias(&name, "live", "1", &BTreeMap::new()).await.expect_err("duplicate alias");
    assert!(dup.is_conflict(), "{dup}");

    let canary = BTreeMap::from([("2".to_string(), 0.1)]);
    let moved = lambda.update_alias(&name, "live", "1", &canary).await.expect("canary");
    assert_eq!(moved.additional_weights, canary);
    assert_eq!(lambda.get_alias(&name, "live").await.expect("get alias"), Some(moved.clone()));
    let promoted = lambda.update_alias(&name, "live", "2", &BTreeMap::new()).await.expect("promote");
    assert_eq!(promoted.version, "2");
    assert!(promoted.additional_weights.is_empty(), "{promoted:?}");
    let read = lambda.get_alias(&name, "live").await.expect("get alias").expect("alias exists");
    assert!(read.additional_weights.is_empty() && read.version == "2", "{read:?}");
    assert_eq!(lambda.get_alias(&name, "absent").await.expect("missing alias"), None);

    // Invoke the alias: moto returns the next canned result (FACTS.md, "Invoke"). With an empty
    // queue moto echoes the request payload: first drain what an interrupted earlier run may have
    // left queued in this region.
    let probe = format!(r#"{{"drain": "{}"}}"#, unique("probe"));
    for _ in 0..100 {
        let echo = lambda.invoke(&name, Some("live"), probe.as_bytes()).await.expect("drain invoke");
        if echo.payload == probe.as_bytes() {
            break;
        }
    }
    queue_invoke_results(&env.moto, INVOKE_REGION, &[r#"{"prediction": 0.42}"#]);
    let outcome = lambda.invoke(&name, Some("live"), br#"{"features": [1, 2]}"#).await.expect("invoke");
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.function_error, None);
    assert_eq!(String::from_utf8_lossy(&outcome.payload), r#"{"prediction": 0.42}"#);
    // (moto answers an invoke of a function that does not exist with 200 as well: with use_docker
    // off every invoke takes a canned result, FACTS.md, so NotFound is not checked here.)

    lambda.delete_alias(&name, "live").await.expect("delete alias");
    assert_eq!(lambda.get_alias(&name, "live").await.expect("get deleted alias"), None);
    lambda.delete_alias(&name, "live").await.expect("delete alias again");

    lambda.delete_version(&name, "1").await.expect("delete version 1");
    assert_eq!(lambda.list_versions(&name).await.expect("versions"), ["2"]);
    for refused in ["$LATEST", "", " "] {
        let err = lambda.delete_version(&name, refused).await.expect_err("refused");
        assert!(err.to_string().contains("refusing"), "{err}");
    }
    assert!(lambda.get_function(&name, None).await.expect("still there").is_some());

    lambda.delete_function(&name, &cancel).await.expect("delete function");
    assert_eq!(lambda.get_function(&name, None).await.expect("get deleted"), None);
    lambda.delete_function(&name, &cancel).await.expect("delete again is success");
    iam.delete_role(role_name(&role_arn), &cancel).await.expect("cleanup role");
}

#[tokio::test]
async fn event_source_mapping_on_the_alias_is_created_updated_listed_and_deleted() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    ensure_lambda_without_docker(&env.moto);
    let config = sdk().await;
    let iam = Iam::new(&config, Some(&env.moto));
    let lambda = Lambda::new(&config, Some(&env.moto));
    let kinesis = aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(&config).endpoint_url(&env.moto).build(),
    );
    let cancel = CancellationToken::new();
    let role_arn = role(&iam, &cancel).await;
    let name = unique("mlops-t-esm");
    lambda.create_function(&spec(&name, &role_arn, &image('c')), &cancel).await.expect("create function");
    let v1 = lambda.publish_version(&name, "v1", &cancel).await.expect("publish");
    let alias = lambda.create_alias(&name, "live", &v1.version, &BTreeMap::new()).await.expect("alias");

    // moto: streams are ACTIVE at once; PROVISIONED without ShardCount is a 500, so ON_DEMAND (FACTS.md).
    let stream = unique("mlops-t-in");
    kinesis
        .create_stream()
        .stream_name(&stream)
        .stream_mode_details(
            aws_sdk_kinesis::types::StreamModeDetails::builder()
                .stream_mode(aws_sdk_kinesis::types::StreamMode::OnDemand)
                .build()
                .expect("mode"),
        )
        .send()
        .await
        .expect("create stream");
    let summary = kinesis.describe_stream_summary().stream_name(&stream).send().await.expect("describe stream");
    let stream_arn = summary.stream_description_summary().map(|s| s.stream_arn().to_string()).expect("stream arn");

    let wanted = MappingSpec {
        function_arn: alias.arn.clone(),
        stream_arn: stream_arn.clone(),
        starting_position: "TRIM_HORIZON".into(),
        starting_position_timestamp: None,
        batch_size: 50,
        maximum_batching_window_in_seconds: 2,
        parallelization_factor: 2,
        bisect_batch_on_function_error: true,
        maximum_retry_attempts: 3,
        maximum_record_age_in_seconds: 3600,
        function_response_types: vec!["ReportBatchItemFailures".into()],
        on_failure_destination_arn: Some("arn:aws:sqs:us-east-1:123456789012:mlops-dlq".into()),
        tumbling_window_in_seconds: 0,
        filter_patterns: vec![r#"{"data": {"kind": ["sale"]}}"#.into()],
        enabled: true,
    };
    let created = lambda.create_mapping(&wanted, &cancel).await.expect("create mapping");
    assert!(!created.uuid.is_empty());
    assert_eq!(created.state, "Enabled");
    assert!(created.enabled);
    assert_eq!(created.stream_arn, stream_arn);
    // moto stores the *version* ARN the alias points at (AWS keeps the alias ARN), FACTS.md.
    assert!(created.function_arn == alias.arn || created.function_arn == v1.arn, "{}", created.function_arn);
    assert_eq!(created.starting_position, "TRIM_HORIZON");
    assert_eq!(
        (created.batch_size, created.maximum_batching_window_in_seconds, created.parallelization_factor),
        (50, 2, 2)
    );
    assert!(created.bisect_batch_on_function_error);
    assert_eq!((created.maximum_retry_attempts, created.maximum_record_age_in_seconds), (3, 3600));
    assert_eq!(created.function_response_types, ["ReportBatchItemFailures"]);
    assert_eq!(created.on_failure_destination_arn, wanted.on_failure_destination_arn);
    assert_eq!(created.filter_patterns, wanted.filter_patterns);

    let got = lambda.get_mapping(&created.uuid).await.expect("get mapping").expect("mapping exists");
    assert_eq!(got, created);
    // Listed by what the mapping targets, the alias ARN: moto matches FunctionName literally (a bare
    // function name lists nothing), and AWS keys mappings by the qualified ARN too.
    let listed = lambda.list_mappings(&alias.arn).await.expect("list");
    assert_eq!(listed.iter().map(|m| m.uuid.as_str()).collect::<Vec<_>>(), [created.uuid.as_str()]);

    // In place: smaller batches, disabled, filters / destination / response types removed.
    let changed = MappingSpec {
        batch_size: 10,
        enabled: false,
        maximum_retry_attempts: 5,
        filter_patterns: Vec::new(),
        on_failure_destination_arn: None,
        function_response_types: Vec::new(),
        ..wanted.clone()
    };
    let updated = lambda.update_mapping(&created.uuid, &changed, &cancel).await.expect("update mapping");
    assert_eq!(updated.uuid, created.uuid);
    assert_eq!(updated.state, "Disabled");
    assert!(!updated.enabled);
    assert_eq!((updated.batch_size, updated.maximum_retry_attempts), (10, 5));
    assert!(updated.filter_patterns.is_empty(), "{updated:?}");
    assert!(updated.function_response_types.is_empty(), "{updated:?}");
    assert_eq!(updated.on_failure_destination_arn, None, "{updated:?}");
    assert_eq!(updated.starting_position, "TRIM_HORIZON", "not updatable, unchanged");

    // Unknown UUIDs: get is None; update is NotFound (moto answers 200 {} to update/delete, FACTS.md).
    let absent = "00000000-0000-4000-8000-000000000000";
    assert_eq!(lambda.get_mapping(absent).await.expect("get absent"), None);
    let err = lambda.update_mapping(absent, &changed, &cancel).await.expect_err("update absent");
    assert!(err.is_not_found(), "{err}");

    lambda.delete_mapping(&created.uuid, &cancel).await.expect("delete mapping");
    assert_eq!(lambda.get_mapping(&created.uuid).await.expect("get deleted"), None);
    lambda.delete_mapping(&created.uuid, &cancel).await.expect("delete again is success");
    assert!(lambda.list_mappings(&alias.arn).await.expect("list").is_empty());

    // DeleteFunction leaves mappings behind in moto, so they went first (FACTS.md).
    lambda.delete_function(&name, &cancel).await.expect("delete function");
    kinesis.delete_stream().stream_name(&stream).send().await.expect("cleanup stream");
    iam.delete_role(role_name(&role_arn), &cancel).await.expect("cleanup role");
}

#[tokio::test]
async fn a_cancelled_apply_creates_nothing_and_waits_for_nothing() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    ensure_lambda_without_docker(&env.moto);
    let config = sdk().await;
    let iam = Iam::new(&config, Some(&env.moto));
    let lambda = Lambda::new(&config, Some(&env.moto));
    let live = CancellationToken::new();
    let role_arn = role(&iam, &live).await;
    let stopped = CancellationToken::new();
    stopped.cancel();
    let name = unique("mlops-t-stop");

    let err = lambda.create_function(&spec(&name, &role_arn, &image('d')), &stopped).await.expect_err("cancelled");
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(lambda.get_function(&name, None).await.expect("get"), None, "nothing was created");
    let err = lambda.wait_active(&name, Duration::from_secs(600), &stopped).await.expect_err("cancelled");
    assert!(matches!(err, LambdaError::Cancelled { .. }), "{err}");
    let err = iam.create_role(&unique("mlops-t-stop"), TRUST, BTreeMap::new(), &stopped).await.expect_err("cancelled");
    assert!(err.is_cancelled(), "{err}");

    iam.delete_role(role_name(&role_arn), &live).await.expect("cleanup role");
}

#[tokio::test]
async fn alarm_states_report_alarm_and_leave_unknown_alarms_out() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let config = sdk().await;
    let cloudwatch = CloudWatch::new(&config, Some(&env.moto));
    let firing = unique("mlops-t-errors");
    let quiet = unique("mlops-t-latency");
    for alarm in [&firing, &quiet] {
        moto_cloudwatch(
            &env.moto,
            "PutMetricAlarm",
            serde_json::json!({
                "AlarmName": alarm, "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum",
                "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold"
            }),
        );
    }
    moto_cloudwatch(
        &env.moto,
        "SetAlarmState",
        serde_json::json!({ "AlarmName": firing, "StateValue": "ALARM", "StateReason": "canary errors" }),
    );

    let names = [firing.clone(), quiet.clone(), unique("mlops-t-absent"), firing.clone()];
    let states = cloudwatch.alarm_states(&names).await.expect("states");
    // moto's initial state is OK (AWS: INSUFFICIENT_DATA), FACTS.md.
    let expected = BTreeMap::from([(firing.clone(), "ALARM".to_string()), (quiet.clone(), "OK".to_string())]);
    assert_eq!(states, expected);
    assert!(cloudwatch.alarm_states(&[]).await.expect("no names").is_empty());

    // More names than one request takes (100): every chunk is asked.
    let mut many: Vec<String> = (0..120).map(|i| format!("{}-{i}", unique("mlops-t-none"))).collect();
    many.push(firing.clone());
    assert_eq!(cloudwatch.alarm_states(&many).await.expect("many"), BTreeMap::from([(firing.clone(), "ALARM".into())]));

    // An endpoint that does not answer is a transient error, not a hang or an empty map.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let unreachable = CloudWatch::new(&config, Some(&format!("http://127.0.0.1:{closed}")));
    let err = unreachable.alarm_states(&names).await.expect_err("unreachable");
    assert!(err.is_transient(), "{err}");

    moto_cloudwatch(&env.moto, "DeleteAlarms", serde_json::json!({ "AlarmNames": [firing, quiet] }));
}
