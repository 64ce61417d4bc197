//! The image's own platform against `architecture`, where the provider can read the image: in the
//! registry `ecr_registry_host` names (ECR's API does not expose an image's config).

use crate::clients::registry::Registry;
use crate::provider_data::ProviderData;
use tfplug::diag::Diagnostic;
use tfplug::value::Value;

/// Lambda's name for an OCI architecture.
fn lambda_architecture(oci: &str) -> Option<&'static str> {
    match oci {
        "amd64" => Some("x86_64"),
        "arm64" => Some("arm64"),
        _ => None,
    }
}

/// `REPO@sha256:…` or `REPO:TAG` under `host/` → (repository, reference).
fn split_uri<'a>(uri: &'a str, host: &str) -> Option<(&'a str, &'a str)> {
    let rest = uri.strip_prefix(host)?.strip_prefix('/')?;
    if let Some((repo, digest)) = rest.split_once('@') {
        return Some((repo, digest));
    }
    let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let colon = rest[slash..].rfind(':')? + slash;
    Some((&rest[..colon], &rest[colon + 1..]))
}

/// Fails when the image is known to be built for another architecture than configured. An
/// image the provider cannot read is not checked (logged at debug).
pub async fn check_architecture(data: &ProviderData, config: &Value) -> Result<(), Diagnostic> {
    let (Some(host), Some(uri)) = (data.ecr_registry_host.as_deref(), config.attr_str("image_uri")) else {
        return Ok(());
    };
    let host = host.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
    let Some((repo, reference)) = split_uri(uri, host) else { return Ok(()) };
    let wanted = config.attr_str("architecture").unwrap_or(super::schema::defaults::ARCHITECTURE);
    match Registry::new(host, None).platform(repo, reference).await {
        Ok(Some((os, arch))) => {
            let got = lambda_architecture(&arch);
            if os != "linux" || got != Some(wanted) {
                return Err(Diagnostic::error(
                    "The image is built for another platform",
                    format!(
                        "{uri} is a {os}/{arch} image, but architecture = {wanted:?}. Build the image for \
                         linux/{} (mlops_ecr_image platform), or set architecture to match it.",
                        if wanted == "arm64" { "arm64" } else { "amd64" }
                    ),
                )
                .at_attr("architecture"));
            }
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => {
            tracing::debug!("could not read the platform of {uri}: {e}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_image_uris_under_the_host() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            split_uri(&format!("127.0.0.1:5000/models/churn@{d}"), "127.0.0.1:5000"),
            Some(("models/churn", d.as_str()))
        );
        assert_eq!(split_uri("127.0.0.1:5000/churn:v1", "127.0.0.1:5000"), Some(("churn", "v1")));
        assert_eq!(split_uri("other:5000/churn:v1", "127.0.0.1:5000"), None);
        assert_eq!(lambda_architecture("amd64"), Some("x86_64"));
        assert_eq!(lambda_architecture("s390x"), None);
    }
}
