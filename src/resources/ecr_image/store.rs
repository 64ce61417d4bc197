//! Where images live: ECR's API for real registries, the registry HTTP API when the provider
//! points `ecr_registry_host` at an ECR-compatible emulator. The repository itself is always
//! managed through the ECR API.

use super::ownership::classify;
use crate::clients::ecr::{Ecr, ImageRef, RegistryAuth, Repository, RepositorySpec};
use crate::clients::registry::Registry;
use crate::provider_data::ProviderData;
use tfplug::diag::Diagnostic;

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
    /// The token of this operation (registry ID, token): the registry lookups and the push share
    /// one GetAuthorizationToken.
    auth: tokio::sync::OnceCell<(String, RegistryAuth)>,
}

impl Session {
    pub async fn open(data: &ProviderData) -> Result<Self, Diagnostic> {
        let sdk = data.sdk_for("this image").await?;
        Ok(Self {
            ecr: Ecr::new(sdk, data.aws.endpoints.get("ecr").map(String::as_str)),
            host_override: data.ecr_registry_host.clone(),
            auth: tokio::sync::OnceCell::new(),
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
        let (id, auth) = self
            .auth
            .get_or_try_init(|| async {
                Ok::<_, StoreError>((registry_id.to_string(), self.ecr.authorization(registry_id).await?))
            })
            .await?;
        if id == registry_id {
            return Ok(auth.clone());
        }
        Ok(self.ecr.authorization(registry_id).await?)
    }

    /// The image API matching where the bytes are. Only the registry HTTP API needs an ECR
    /// authorization token (as its basic-auth credentials); the ECR API path never asks for one.
    pub async fn images<'a>(&'a self, registry_id: &'a str) -> Result<Images<'a>, StoreError> {
        Ok(match &self.host_override {
            Some(host) => {
                let auth = self.authorization(registry_id).await?;
                Images::Registry(Registry::new(host, Some((auth.username, auth.password))))
            }
            None => Images::Ecr { ecr: &self.ecr, registry_id },
        })
    }
}

/// What [`Images::release`] did with an image.
#[derive(Debug, PartialEq)]
pub enum Release {
    /// Deleted: no other tag pointed at it.
    Deleted,
    /// Kept because these tags, not ours, still point at it (ours were removed).
    Kept(Vec<String>),
    /// It was already gone.
    Gone,
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

    /// Points `tag` at the existing image `digest`, retrying transient failures (a registry
    /// answers 5xx while concurrent pushes of the same manifest settle).
    pub async fn tag(&self, repo: &str, digest: &str, tag: &str) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            match self.tag_once(repo, digest, tag).await {
                Err(e) if e.transient && attempt < 4 => {
                    attempt += 1;
                    tracing::debug!("tagging {repo}@{digest} as {tag} failed ({e}); retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn tag_once(&self, repo: &str, digest: &str, tag: &str) -> Result<(), StoreError> {
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

    /// The tags pointing at `digest`; `None` when the image does not exist.
    pub async fn tags_of(&self, repo: &str, digest: &str) -> Result<Option<Vec<String>>, StoreError> {
        match self {
            Images::Ecr { ecr, registry_id } => Ok(ecr.image_tags(repo, registry_id, digest).await?),
            Images::Registry(r) => {
                if r.manifest(repo, digest).await?.is_none() {
                    return Ok(None);
                }
                let mut on_digest = Vec::new();
                for tag in r.tags(repo).await? {
                    if r.manifest(repo, &tag).await?.is_some_and(|m| m.digest == digest) {
                        on_digest.push(tag);
                    }
                }
                Ok(Some(on_digest))
            }
        }
    }

    /// Lets go of an image: deletes it when nothing but our own tags and content tags points at
    /// it (see [`super::ownership`]); otherwise removes only our tags and says who keeps it.
    pub async fn release(
        &self,
        repo: &str,
        digest: &str,
        owner_id: &str,
        our_extra: &[String],
    ) -> Result<Release, StoreError> {
        let Some(tags) = self.tags_of(repo, digest).await? else { return Ok(Release::Gone) };
        let refs = classify(&tags, owner_id, digest, our_extra);
        if refs.foreign.is_empty() {
            let existed = match self {
                Images::Ecr { ecr, registry_id } => ecr.delete_image(repo, registry_id, digest).await?,
                Images::Registry(r) => r.delete_manifest(repo, digest).await?,
            };
            return Ok(if existed { Release::Deleted } else { Release::Gone });
        }
        self.untag(repo, &refs.ours).await?;
        Ok(Release::Kept(refs.foreign))
    }

    /// Removes those of `tags` that still point at `digest`; a tag someone moved elsewhere stays.
    pub async fn untag_if_on(&self, repo: &str, digest: &str, tags: &[String]) -> Result<(), StoreError> {
        if tags.is_empty() {
            return Ok(());
        }
        let on_digest = self.tags_of(repo, digest).await?.unwrap_or_default();
        let ours: Vec<String> = tags.iter().filter(|t| on_digest.contains(t)).cloned().collect();
        self.untag(repo, &ours).await
    }

    /// Removes tags (ECR: BatchDeleteImage by tag; registry: see [`Registry::untag`]). Callers
    /// make sure the image keeps another tag, or ECR deletes it with its last one.
    pub async fn untag(&self, repo: &str, tags: &[String]) -> Result<(), StoreError> {
        match self {
            Images::Ecr { ecr, registry_id } => Ok(ecr.untag(repo, registry_id, tags).await?),
            Images::Registry(r) => Ok(r.untag(repo, tags).await?),
        }
    }

    /// Whether the repository still holds any tagged image (for the emulator's registry, where
    /// ECR's own listing knows nothing of the images).
    pub async fn registry_has_images(&self, repo: &str) -> Result<Option<bool>, StoreError> {
        match self {
            Images::Ecr { .. } => Ok(None),
            Images::Registry(r) => Ok(Some(!r.tags(repo).await?.is_empty())),
        }
    }
}
