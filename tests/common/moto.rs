//! Raw AWS SDK clients on moto itself (never through the fault proxy), for setting up streams and
//! checking what the provider made or left behind.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_types::region::Region;

/// A name no earlier run used (moto and the registry keep state between runs).
pub fn unique(prefix: &str) -> String {
    let n = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{}", std::process::id(), n % 1_000_000_000)
}

/// The SDK configuration the tests use: us-east-1, static test credentials.
pub async fn sdk() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

pub struct Aws {
    pub lambda: aws_sdk_lambda::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Aws {
    pub async fn new(moto: &str) -> Self {
        let c = sdk().await;
        Self {
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&c).endpoint_url(moto).build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(aws_sdk_iam::config::Builder::from(&c).endpoint_url(moto).build()),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(&c).endpoint_url(moto).build(),
            ),
            kinesis: aws_sdk_kinesis::Client::from_conf(
                aws_sdk_kinesis::config::Builder::from(&c).endpoint_url(moto).build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&c).endpoint_url(moto).build()),
        }
    }

    /// Creates a one-shard stream; returns its ARN.
    pub async fn stream(&self, name: &str) -> String {
        self.stream_with_shards(name, 1).await
    }

    /// Creates a stream of `shards` shards; returns its ARN.
    pub async fn stream_with_shards(&self, name: &str, shards: i32) -> String {
        self.kinesis.create_stream().stream_name(name).shard_count(shards).send().await.expect("create stream");
        let d = self.kinesis.describe_stream_summary().stream_name(name).send().await.expect("describe stream");
        d.stream_description_summary().map(|s| s.stream_arn().to_string()).expect("stream arn")
    }

    /// Whether the IAM role exists (any answer but NoSuchEntity fails the test).
    pub async fn role_exists(&self, role: &str) -> bool {
        match self.iam.get_role().role_name(role).send().await {
            Ok(_) => true,
            Err(e) => {
                assert!(e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()), "GetRole: {e:?}");
                false
            }
        }
    }

    /// An inline policy of a role as JSON (IAM answers URL-encoded documents; decoded as the
    /// provider decodes them).
    pub async fn role_policy(&self, role: &str, policy: &str) -> serde_json::Value {
        let p = self.iam.get_role_policy().role_name(role).policy_name(policy).send().await.expect("role policy");
        serde_json::from_str(&mlops::clients::iam::decode_policy(p.policy_document())).expect("policy JSON")
    }

    /// Whether a log group of exactly this name exists.
    pub async fn log_group_exists(&self, name: &str) -> bool {
        let groups =
            self.logs.describe_log_groups().log_group_name_prefix(name).send().await.expect("describe log groups");
        groups.log_groups().iter().any(|g| g.log_group_name() == Some(name))
    }

    pub async fn function_exists(&self, name: &str) -> bool {
        self.lambda.get_function().function_name(name).send().await.is_ok()
    }

    /// UUIDs of the event source mappings reading `stream`.
    pub async fn mappings(&self, stream: &str) -> Vec<String> {
        let out =
            self.lambda.list_event_source_mappings().event_source_arn(stream).send().await.expect("list mappings");
        out.event_source_mappings().iter().filter_map(|m| m.uuid()).map(str::to_string).collect()
    }

    /// The version an alias points at, and how many weighted versions it has.
    pub async fn alias_version(&self, function: &str, alias: &str) -> (String, usize) {
        let a = self.lambda.get_alias().function_name(function).name(alias).send().await.expect("get alias");
        let weights = a.routing_config().and_then(|r| r.additional_version_weights()).map(|w| w.len()).unwrap_or(0);
        (a.function_version().unwrap_or_default().to_string(), weights)
    }

    /// One environment variable of a published version.
    pub async fn version_env(&self, function: &str, version: &str, key: &str) -> Option<String> {
        let f =
            self.lambda.get_function_configuration().function_name(function).qualifier(version).send().await.ok()?;
        f.environment().and_then(|e| e.variables()).and_then(|v| v.get(key)).cloned()
    }
}

/// A digest-pinned image URI that needs no image: moto's Lambda never looks at it (FACTS.md).
pub fn image(name: &str, seed: char) -> String {
    format!("127.0.0.1:5000/{name}@sha256:{}", seed.to_string().repeat(64))
}
