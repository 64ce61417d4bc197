//! Where images live: ECR's API for real registries, the registry HTTP API when the provider
//! points `ecr_registry_host` at an ECR-compatible emulator. The repository itself is always
//! managed through the ECR API.

use crate::clients::ecr::{Ecr, ImageRef, RegistryAuth, Repository, RepositorySpec};
use crate::clients::registry::Registry;
use crate::provider::ProviderData;
use crate::tfplug::diag::Diagnostic;

/// An error from ECR or the registry, with how the caller should treat it.
#[derive(Debug)]
pub struct StoreError {
    pub message: String,
    /// Network trouble or throttling: keep state, warn, retry later.
    pub transient: bool,
    /// Credentials or permissions.
    pub auth: bool,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::clients::ecr::EcrError> for StoreError {
    fn from(e: crate::clients::ecr::EcrError) -> Self {
        Self { transient: e.is_transient(), auth: e.is_auth(), message: e.to_string() }
    }
}

impl From<crate::clients::registry::RegistryError> for StoreError {
    fn from(e: crate::clients::registry::RegistryError) -> Self {
        Self { transient: e.is_transient(), auth: false, message: e.to_string() }
    }
}

/// The clients one operation needs.
pub struct Session {
    pub ecr: Ecr,
    /// `ecr_registry_host`, when images go to an emulator's registry.
    pub host_override: Option<String>,
}

impl Session {
    pub async fn open(data: &ProviderData) -> Result<Self, Diagnostic> {
        if data.config_unknown {
            return Err(Diagnostic::error(
                "Provider configuration not known yet",
                "Some provider arguments are unknown until other resources are applied. Apply those first \
                 (e.g. with -target), then apply this image.",
            ));
        }
        let sdk = data.aws_config().await.map_err(|e| Diagnostic::error("Could not configure AWS", e.to_string()))?;
        Ok(Self {
            ecr: Ecr::new(sdk, data.aws.endpoints.get("ecr").map(String::as_str)),
            host_override: data.ecr_registry_host.clone(),
        })
    }

    pub async fn ensure_repository(&self, spec: &RepositorySpec) -> Result<Repository, StoreError> {
        Ok(self.ecr.ensure_repository(spec).await?)
    }

    /// The URL images are pushed to: the emulator's host when overridden, else ECR's URI.
    pub fn repository_url(&self, repo: &Repository) -> String {
        match &self.host_override {
            Some(host) => format!("{host}/{}", repo.name),
            None => repo.uri.clone(),
        }
    }

    pub async fn authorization(&self, registry_id: &str) -> Result<RegistryAuth, StoreError> {
        Ok(self.ecr.authorization(registry_id).await?)
    }

    /// The image API matching where the bytes are.
    pub fn images<'a>(&'a self, registry_id: &'a str, auth: Option<&RegistryAuth>) -> Images<'a> {
        match &self.host_override {
            Some(host) => Images::Registry(Registry::new(host, auth.map(|a| (a.username.clone(), a.password.clone())))),
            None => Images::Ecr { ecr: &self.ecr, registry_id },
        }
    }
}

/// Image operations on one registry.
pub enum Images<'a> {
    Ecr { ecr: &'a Ecr, registry_id: &'a str },
    Registry(Registry),
}

impl Images<'_> {
    /// The digest behind a tag or digest; `None` when it does not exist.
    pub async fn digest(&self, repo: &str, reference: &ImageRef) -> Result<Option<String>, StoreError> {
        match self {
            Images::Ecr { ecr, registry_id } => Ok(ecr.image_digest(repo, registry_id, reference).await?),
            Images::Registry(r) => {
                let reference = match reference {
                    ImageRef::Tag(t) => t.as_str(),
                    ImageRef::Digest(d) => d.as_str(),
                };
                Ok(r.manifest(repo, reference).await?.map(|m| m.digest))
            }
        }
    }

    /// Points `tag` at the existing image `digest`.
    pub async fn tag(&self, repo: &str, digest: &str, tag: &str) -> Result<(), StoreError> {
        match self {
            Images::Ecr { ecr, registry_id } => Ok(ecr.tag_image(repo, registry_id, digest, tag).await?),
            Images::Registry(r) => {
                let Some((info, body)) = r.get_manifest(repo, digest).await? else {
                    return Err(StoreError {
                        message: format!("image {digest} is no longer in {repo}"),
                        transient: false,
                        auth: false,
                    });
                };
                r.put_manifest(repo, tag, &info.media_type, body).await?;
                Ok(())
            }
        }
    }

    /// Deletes the image by digest; `false` when it was already gone.
    pub async fn delete(&self, repo: &str, digest: &str) -> Result<bool, StoreError> {
        match self {
            Images::Ecr { ecr, registry_id } => Ok(ecr.delete_image(repo, registry_id, digest).await?),
            Images::Registry(r) => Ok(r.delete_manifest(repo, digest).await?),
        }
    }
}
