//! AWS: an `SdkConfig` from the provider block (static keys, profiles, shared files, assume
//! role) on top of the standard aws-config chain, with per-service endpoint overrides.

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_types::region::Region;

/// Services whose endpoint can be overridden in `endpoints { … }`.
pub const SERVICES: [&str; 7] = ["cloudwatch", "ecr", "iam", "kinesis", "lambda", "s3", "sts"];

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

/// Why AWS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS region: set `region` in the provider block, or AWS_REGION / AWS_DEFAULT_REGION, or a region in your AWS profile")]
    NoRegion,
    #[error("AWS credentials are not valid: {0}")]
    InvalidCredentials(String),
}

impl AwsSettings {
    /// Loads the SDK configuration. Credentials are resolved lazily by the SDK on first use.
    pub async fn load(&self) -> Result<SdkConfig, AwsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
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

    /// Checks the credentials with STS GetCallerIdentity; returns the account ID.
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
            .map_err(|e| AwsError::InvalidCredentials(aws_sdk_sts::error::DisplayErrorContext(e).to_string()))?;
        Ok(out.account.unwrap_or_default())
    }
}
