//! AWS: an `SdkConfig` from the provider block (static keys, profiles, shared files, assume
//! role) on top of the standard aws-config chain, with per-service endpoint overrides, bounded
//! timeouts and bounded retries.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_types::region::Region;

/// Services whose endpoint can be overridden in `endpoints { … }`.
pub const SERVICES: [&str; 8] = ["cloudwatch", "ecr", "iam", "kinesis", "lambda", "logs", "s3", "sts"];

/// Time allowed to open a TCP (and TLS) connection to an AWS endpoint. The SDK default (3.1 s)
/// is tight for a laptop on a VPN or a CI runner behind a proxy; 10 s still fails fast on a
/// wrong `endpoints` URL or a black-holed network.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed for one attempt of one AWS call, response included. The control-plane calls this
/// provider makes (STS, ECR, IAM, Kinesis, Lambda management) answer in seconds; a stuck
/// connection is abandoned after a minute and retried. Calls that legitimately run longer (a
/// synchronous Lambda `Invoke`, a large S3 upload) must raise it per operation with
/// `.customize().config_override(…)`.
pub const OPERATION_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Time allowed for one AWS call including every retry and backoff: no single call can hold a
/// `terraform apply` for longer than this. Waits for eventual consistency (IAM propagation, a
/// Lambda update in progress) are loops of calls in the resources, bounded by their own timeouts.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Attempts per AWS call (the first one included), in the SDK's `standard` retry mode: transient
/// errors (connection failures, 5xx, throttling) are retried with jittered exponential backoff
/// (1 s initial, at most 20 s). The SDK default is 3; throttling on accounts shared with other
/// pipelines deserves a little more patience, within [`OPERATION_TIMEOUT`]. This replaces
/// `AWS_MAX_ATTEMPTS` / `max_attempts` from the environment or profile.
pub const MAX_ATTEMPTS: u32 = 5;

/// The timeouts every AWS client of this provider uses (see the constants above).
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(OPERATION_ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The retry policy every AWS client of this provider uses: standard mode, [`MAX_ATTEMPTS`].
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// AWS settings from the provider block. Empty fields fall back to the standard chain.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub token: Option<String>,
    pub shared_config_files: Vec<String>,
    pub shared_credentials_files: Vec<String>,
    pub assume_role: Option<AssumeRole>,
    /// Service name → endpoint URL.
    pub endpoints: BTreeMap<String, String>,
}

/// The `assume_role { … }` block.
#[derive(Debug, Clone, Default)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
}

/// Why AWS could not be set up. The text is shown to the user as the detail of a "Could not
/// configure AWS" diagnostic, so each variant says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    /// No region in the provider block, the environment or the profile.
    #[error("no AWS region: set `region` in the provider block, or AWS_REGION / AWS_DEFAULT_REGION, or a region in your AWS profile")]
    NoRegion,
    /// STS GetCallerIdentity failed: the credentials are wrong or expired, or STS (or the
    /// `endpoints.sts` override) is unreachable. Carries the SDK's error chain.
    #[error(
        "the AWS credentials could not be verified with STS GetCallerIdentity: {0}\n\n\
         Check the provider block (access_key / secret_key, profile, assume_role, endpoints.sts), \
         your AWS profile and environment. For emulators such as moto, set \
         skip_credentials_validation = true or point endpoints.sts at the emulator."
    )]
    InvalidCredentials(String),
}

impl AwsSettings {
    /// Loads the SDK configuration. Credentials are resolved lazily by the SDK on first use; no
    /// network call is made here. Every client built from the result (and the assume-role
    /// provider's STS client) carries [`timeout_config`] and [`retry_config`].
    pub async fn load(&self) -> Result<SdkConfig, AwsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeout_config())
            .retry_config(retry_config());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if !self.shared_config_files.is_empty() || !self.shared_credentials_files.is_empty() {
            let mut files = EnvConfigFiles::builder();
            for f in &self.shared_config_files {
                files = files.with_file(EnvConfigFileKind::Config, f);
            }
            for f in &self.shared_credentials_files {
                files = files.with_file(EnvConfigFileKind::Credentials, f);
            }
            loader = loader.profile_files(files.build());
        }
        if let (Some(ak), Some(sk)) = (&self.access_key, &self.secret_key) {
            loader = loader.credentials_provider(Credentials::new(ak, sk, self.token.clone(), None, "mlops-provider"));
        }
        let base = loader.load().await;
        if base.region().is_none() {
            return Err(AwsError::NoRegion);
        }
        let Some(role) = &self.assume_role else { return Ok(base) };
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
            .session_name(role.session_name.clone().unwrap_or_else(|| "terraform-provider-mlops".into()));
        if let Some(id) = &role.external_id {
            builder = builder.external_id(id);
        }
        // The assume-role call goes to STS: honour the STS override there only.
        let sts_config = match self.endpoints.get("sts") {
            Some(url) => base.to_builder().endpoint_url(url).build(),
            None => base.clone(),
        };
        let provider = builder.configure(&sts_config).build().await;
        Ok(base
            .into_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
            .build())
    }

    /// Checks the credentials with STS GetCallerIdentity; returns the account ID. The error
    /// carries the SDK's cause chain on one line ("dispatch failure: … Connection refused").
    pub async fn validate(&self, config: &SdkConfig) -> Result<String, AwsError> {
        let mut sts = aws_sdk_sts::config::Builder::from(config);
        if let Some(url) = self.endpoints.get("sts") {
            sts = sts.endpoint_url(url);
        }
        let client = aws_sdk_sts::Client::from_conf(sts.build());
        let out = client
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| AwsError::InvalidCredentials(super::error_chain(&e)))?;
        Ok(out.account.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn static_settings() -> AwsSettings {
        AwsSettings {
            region: Some("eu-west-1".into()),
            access_key: Some("AKIDEXAMPLE".into()),
            secret_key: Some("secret".into()),
            ..AwsSettings::default()
        }
    }

    fn assert_bounded(config: &SdkConfig) {
        let t = config.timeout_config().expect("timeout config");
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(OPERATION_ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        let r = config.retry_config().expect("retry config");
        assert_eq!(r.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(r.mode(), aws_config::retry::RetryMode::Standard);
    }

    #[tokio::test]
    async fn loaded_config_carries_timeouts_and_bounded_retries() {
        let config = static_settings().load().await.expect("load");
        assert_bounded(&config);
        // Clients built from it inherit them.
        let sts = aws_sdk_sts::config::Builder::from(&config).build();
        assert_eq!(sts.timeout_config().and_then(|t| t.operation_timeout()), Some(OPERATION_TIMEOUT));
        assert_eq!(sts.retry_config().map(|r| r.max_attempts()), Some(MAX_ATTEMPTS));
    }

    #[tokio::test]
    async fn assume_role_config_keeps_timeouts_and_retries() {
        let settings = AwsSettings {
            assume_role: Some(AssumeRole {
                role_arn: "arn:aws:iam::123456789012:role/deploy".into(),
                ..AssumeRole::default()
            }),
            endpoints: [("sts".to_string(), "http://127.0.0.1:9".to_string())].into(),
            ..static_settings()
        };
        // Building the assume-role provider makes no call: nothing listens on port 9.
        let config = settings.load().await.expect("load");
        assert_bounded(&config);
    }

    #[test]
    fn timeouts_nest() {
        assert!(CONNECT_TIMEOUT < OPERATION_ATTEMPT_TIMEOUT);
        assert!(OPERATION_ATTEMPT_TIMEOUT < OPERATION_TIMEOUT);
    }

    #[test]
    fn invalid_credentials_say_what_to_do() {
        let text = AwsError::InvalidCredentials("dispatch failure: Connection refused".into()).to_string();
        assert!(text.contains("STS GetCallerIdentity"), "{text}");
        assert!(text.contains("Connection refused"), "{text}");
        assert!(text.contains("Check the provider block"), "{text}");
        assert!(text.contains("skip_credentials_validation = true"), "{text}");
    }
}
