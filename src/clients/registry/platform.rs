//! The platform an image in the registry was built for, from its config blob.

use http::Method;

use super::{check_repo, Registry, RegistryError};

impl Registry {
    /// `(os, architecture)` of the single-platform image `reference` (tag or digest); `Ok(None)`
    /// when it is unknown or an index (a multi-platform image has no one platform).
    pub async fn platform(&self, repo: &str, reference: &str) -> Result<Option<(String, String)>, RegistryError> {
        let Some((_, body)) = self.get_manifest(repo, reference).await? else { return Ok(None) };
        let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let Some(config) = manifest["config"]["digest"].as_str() else { return Ok(None) };
        check_repo(repo)?;
        if !config.starts_with("sha256:") || !config[7..].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let path = format!("/v2/{repo}/blobs/{config}");
        let answer = self.send(Method::GET, &path, None, None).await?;
        if !answer.status.is_success() {
            return Err(self.status_error(&Method::GET, &path, &answer));
        }
        let c: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        Ok(match (c["os"].as_str(), c["architecture"].as_str()) {
            (Some(os), Some(arch)) => Some((os.to_string(), arch.to_string())),
            _ => None,
        })
    }
}
