//! [`ProviderData`]: what `configure()` produces and every resource and data source receives.
//!
//! Kept apart from [`crate::provider`] so that the provider (which lists the resources) and the
//! resources (which receive this) both depend on it and not on each other.

use std::collections::BTreeMap;

use crate::clients::aws::{AwsError, AwsSettings};
use crate::clients::docker::DockerSettings;
use tfplug::diag::Diagnostic;

/// What every resource receives: the settings, and clients built on first use.
///
/// Configuring the provider touches no network: a configuration using only data sources such as
/// `mlops_build_context` needs no AWS credentials. AWS is loaded, and the credentials checked,
/// the first time a resource asks for [`ProviderData::aws_config`].
pub struct ProviderData {
    pub aws: AwsSettings,
    pub docker: DockerSettings,
    pub default_tags: BTreeMap<String, String>,
    pub ecr_registry_host: Option<String>,
    /// Some provider arguments were unknown at plan time; clients are not usable yet.
    pub config_unknown: bool,
    /// `skip_credentials_validation`: no STS GetCallerIdentity before the first AWS call.
    pub skip_credentials_validation: bool,
    pub terraform_version: String,
    /// The outcome of loading and checking AWS, kept for the life of this provider process
    /// (one Terraform command): a failure is reported by every resource that needs AWS without
    /// asking STS again.
    aws_config: tokio::sync::OnceCell<Result<aws_config::SdkConfig, AwsError>>,
}

impl ProviderData {
    /// Settings as the provider block gave them; nothing is loaded or checked yet.
    pub fn new(aws: AwsSettings, docker: DockerSettings, skip_credentials_validation: bool) -> Self {
        Self {
            aws,
            docker,
            default_tags: BTreeMap::new(),
            ecr_registry_host: None,
            config_unknown: false,
            skip_credentials_validation,
            terraform_version: String::new(),
            aws_config: tokio::sync::OnceCell::new(),
        }
    }

    /// The AWS SDK configuration, loaded on first use. Unless `skip_credentials_validation` is
    /// set (or the configuration is not known yet), the first call also checks the credentials
    /// with STS GetCallerIdentity; later calls return the same configuration or the same error.
    /// The error's text tells the user what to check; callers show it as the detail of a
    /// "Could not configure AWS" diagnostic.
    pub async fn aws_config(&self) -> Result<&aws_config::SdkConfig, AwsError> {
        let outcome = self
            .aws_config
            .get_or_init(|| async {
                let sdk = self.aws.load().await?;
                if !self.skip_credentials_validation && !self.config_unknown {
                    let account = self.aws.validate(&sdk).await?;
                    tracing::debug!("AWS credentials verified with STS (account {account})");
                }
                Ok(sdk)
            })
            .await;
        outcome.as_ref().map_err(Clone::clone)
    }

    /// [`ProviderData::aws_config`] for a resource about to call AWS, as a diagnostic when it
    /// cannot: the provider configuration is not known yet (`what` says what to apply later), or
    /// AWS cannot be configured.
    pub async fn sdk_for(&self, what: &str) -> Result<&aws_config::SdkConfig, Diagnostic> {
        if self.config_unknown {
            return Err(Diagnostic::error(
                "Provider configuration not known yet",
                format!(
                    "Some provider arguments are unknown until other resources are applied. Apply those first \
                     (e.g. with -target), then apply {what}."
                ),
            ));
        }
        self.aws_config().await.map_err(|e| Diagnostic::error("Could not configure AWS", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A fake STS endpoint that accepts connections and drops them at once, counting them.
    async fn dropping_endpoint() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                drop(conn);
            }
        });
        (url, count)
    }

    fn data(sts: &str, skip: bool) -> ProviderData {
        let aws = AwsSettings {
            region: Some("us-east-1".into()),
            access_key: Some("testing".into()),
            secret_key: Some("testing".into()),
            endpoints: [("sts".to_string(), sts.to_string())].into(),
            ..AwsSettings::default()
        };
        ProviderData::new(aws, DockerSettings::default(), skip)
    }

    #[tokio::test]
    async fn credentials_are_checked_once_on_first_use_with_a_clear_error() {
        let (sts, calls) = dropping_endpoint().await;
        let data = data(&sts, false);
        assert_eq!(calls.load(Ordering::SeqCst), 0, "creating the provider data calls nothing");

        let first = data.aws_config().await.expect_err("STS is unusable");
        let text = first.to_string();
        assert!(matches!(first, AwsError::InvalidCredentials(_)), "{first:?}");
        assert!(text.contains("STS GetCallerIdentity") && text.contains("Check the provider block"), "{text}");
        assert!(!text.contains("DispatchFailure {"), "no Debug dump of the SDK error: {text}");
        let attempts = calls.load(Ordering::SeqCst);
        assert!(
            (1..=crate::clients::aws::MAX_ATTEMPTS as usize).contains(&attempts),
            "{attempts} connections for one bounded check"
        );

        // The outcome is kept: a second resource gets the same error without another STS call.
        let second = data.aws_config().await.expect_err("still failing");
        assert_eq!(second.to_string(), text);
        assert_eq!(calls.load(Ordering::SeqCst), attempts);
    }

    #[tokio::test]
    async fn skip_credentials_validation_makes_no_sts_call() {
        let (sts, calls) = dropping_endpoint().await;
        let data = data(&sts, true);
        let sdk = data.aws_config().await.expect("loads without STS");
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn unknown_configuration_is_not_checked() {
        let (sts, calls) = dropping_endpoint().await;
        let data = ProviderData { config_unknown: true, ..data(&sts, false) };
        data.aws_config().await.expect("loads without STS");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
