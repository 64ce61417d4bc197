//! ECR control plane: repositories, authorization tokens and image records through `aws-sdk-ecr`.
//!
//! The image *bytes* never pass through here: they go to the registry (Docker engine push, or
//! [`super::registry`] for re-tagging). This module answers the questions `mlops_ecr_image` asks
//! of ECR itself:
//!
//! * [`Ecr::ensure_repository`] — find the repository, create it with the requested settings when missing;
//! * [`Ecr::authorization`] — mint a registry login at apply time (the password is never printed);
//! * [`Ecr::image_digest`], [`Ecr::tag_image`], [`Ecr::delete_image`] — image records by tag or digest;
//! * [`Ecr::delete_repository_if_empty`] — the cautious cleanup for repositories this provider created.
//!
//! Every failure is an [`EcrError`] that keeps AWS's error code and message and says whether it is
//! worth retrying ([`EcrError::is_transient`]) or a credentials problem ([`EcrError::is_auth`]).
//!
//! ```no_run
//! # async fn demo(sdk: &aws_config::SdkConfig) -> Result<(), mlops::clients::ecr::EcrError> {
//! use mlops::clients::ecr::{Ecr, ImageRef, RepositorySpec};
//!
//! let ecr = Ecr::new(sdk, None);
//! let repo = ecr.ensure_repository(&RepositorySpec::new("models/churn")).await?;
//! let digest = ecr.image_digest(&repo.name, &repo.registry_id, &ImageRef::Tag("build-1a2b".into())).await?;
//! println!("{} -> {digest:?}", repo.uri);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageFailureCode, ImageIdentifier, ImageScanningConfiguration,
    ImageTagMutability, Tag,
};
use base64::Engine as _;

use super::registry::MANIFEST_MEDIA_TYPES;

/// The ECR client of one provider configuration.
#[derive(Debug, Clone)]
pub struct Ecr {
    client: aws_sdk_ecr::Client,
}

/// What a repository created by [`Ecr::ensure_repository`] should look like.
///
/// The settings apply only at creation: an existing repository is used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySpec {
    /// Repository name, e.g. `models/churn`.
    pub name: String,
    /// `"MUTABLE"` or `"IMMUTABLE"`.
    pub image_tag_mutability: String,
    /// Whether ECR scans images on push.
    pub scan_on_push: bool,
    /// `"AES256"` or `"KMS"`.
    pub encryption_type: String,
    /// KMS key ARN or alias when `encryption_type` is `"KMS"` (AWS's managed key when `None`).
    pub kms_key: Option<String>,
    /// Resource tags set on the repository at creation.
    pub tags: BTreeMap<String, String>,
}

impl RepositorySpec {
    /// A spec with ECR's defaults: mutable tags, no scan on push, AES256, no tags.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            image_tag_mutability: "MUTABLE".into(),
            scan_on_push: false,
            encryption_type: "AES256".into(),
            kms_key: None,
            tags: BTreeMap::new(),
        }
    }
}

/// A repository as ECR describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// Repository name.
    pub name: String,
    /// `repositoryUri`, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com/models/churn`.
    pub uri: String,
    /// The account ID of the registry holding the repository.
    pub registry_id: String,
    /// True when this call created the repository.
    pub created: bool,
}

/// An image in a repository, by tag or by digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageRef {
    /// A tag, e.g. `build-1a2b3c`.
    Tag(String),
    /// A manifest digest, e.g. `sha256:…`.
    Digest(String),
}

impl ImageRef {
    fn identifier(&self) -> ImageIdentifier {
        match self {
            ImageRef::Tag(t) => ImageIdentifier::builder().image_tag(t).build(),
            ImageRef::Digest(d) => ImageIdentifier::builder().image_digest(d).build(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Tag(t) => write!(f, ":{t}"),
            ImageRef::Digest(d) => write!(f, "@{d}"),
        }
    }
}

/// Registry login minted by GetAuthorizationToken. Short-lived (12 h): never store or log it.
///
/// `Debug` redacts the password and there is deliberately no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    /// Always `AWS` for ECR.
    pub username: String,
    /// The token; a secret.
    pub password: String,
    /// `proxyEndpoint`, e.g. `https://123456789012.dkr.ecr.us-east-1.amazonaws.com`.
    pub endpoint: String,
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Why an ECR call failed. Every variant names the API operation (`operation`, also the IAM action
/// `ecr:<operation>`) and keeps AWS's error code (when the service answered) and message.
#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    /// The credentials are missing, invalid or expired, or lack a permission.
    #[error(
        "ECR {operation} was denied{}: {message}. Check the provider's AWS credentials and that they allow \
         ecr:{operation}",
        code_suffix(.code)
    )]
    Auth { operation: &'static str, code: Option<String>, message: String },
    /// Throttling, a server-side failure, a timeout or a network error: retrying later may succeed.
    #[error("ECR {operation} failed{} (transient, retry later): {message}", code_suffix(.code))]
    Transient { operation: &'static str, code: Option<String>, message: String },
    /// The repository or image does not exist.
    #[error("ECR {operation}: not found{}: {message}", code_suffix(.code))]
    NotFound { operation: &'static str, code: Option<String>, message: String },
    /// Anything else ECR refused (invalid parameter, limit exceeded, immutable tag taken, …) or a
    /// response this provider cannot use.
    #[error("ECR {operation} failed{}: {message}", code_suffix(.code))]
    Other { operation: &'static str, code: Option<String>, message: String },
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()
}

impl EcrError {
    /// True for throttling, server errors, timeouts and network failures.
    pub fn is_transient(&self) -> bool {
        matches!(self, EcrError::Transient { .. })
    }

    /// True when the credentials were rejected or lack a permission.
    pub fn is_auth(&self) -> bool {
        matches!(self, EcrError::Auth { .. })
    }

    /// True when the repository or image does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, EcrError::NotFound { .. })
    }

    /// AWS's error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            EcrError::Auth { code, .. }
            | EcrError::Transient { code, .. }
            | EcrError::NotFound { code, .. }
            | EcrError::Other { code, .. } => code.as_deref(),
        }
    }

    fn other(operation: &'static str, message: impl Into<String>) -> Self {
        EcrError::Other { operation, code: None, message: message.into() }
    }
}

/// How a failure should be treated; decided from the error code and HTTP status alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Auth,
    Transient,
    NotFound,
    Other,
}

/// ECR's kind of a failure the shared classification ([`super::retry`]) judged: ECR has no conflict
/// kind, and BatchGetImage/BatchDeleteImage report a missing image as the code `ImageNotFound`.
fn ecr_kind(shared: super::retry::Kind, code: Option<&str>) -> Kind {
    use super::retry::Kind as Shared;
    match shared {
        _ if code == Some("ImageNotFound") => Kind::NotFound,
        Shared::Auth => Kind::Auth,
        Shared::Transient => Kind::Transient,
        Shared::NotFound => Kind::NotFound,
        Shared::Conflict | Shared::Other => Kind::Other,
    }
}

#[cfg(test)]
fn classify_service(code: Option<&str>, status: Option<u16>) -> Kind {
    ecr_kind(super::retry::classify_code(code, status), code)
}

/// Turns an SDK error into an [`EcrError`], keeping AWS's code and message (the reading every
/// client shares, [`super::retry::sdk_failure`], with ECR's kinds).
fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> EcrError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let failure = super::retry::sdk_failure(&err);
    let (code, message) = (failure.code, failure.message);
    match ecr_kind(failure.kind, code.as_deref()) {
        Kind::Auth => EcrError::Auth { operation, code, message },
        Kind::Transient => EcrError::Transient { operation, code, message },
        Kind::NotFound => EcrError::NotFound { operation, code, message },
        Kind::Other => EcrError::Other { operation, code, message },
    }
}

/// `None` for the caller's default registry, so the parameter is left out of the request.
fn registry(registry_id: &str) -> Option<String> {
    Some(registry_id.trim()).filter(|s| !s.is_empty()).map(str::to_string)
}

impl Ecr {
    /// A client from the provider's SDK configuration.
    ///
    /// `endpoint` is the provider's `endpoints.ecr` override, if any.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Self {
        let mut config = aws_sdk_ecr::config::Builder::from(sdk);
        if let Some(url) = endpoint.filter(|u| !u.is_empty()) {
            config = config.endpoint_url(url);
        }
        Self { client: aws_sdk_ecr::Client::from_conf(config.build()) }
    }

    /// The repository `name` in `registry_id` (empty: the caller's account), or `None` when it does not exist.
    /// The result has `created == false`.
    pub async fn repository(&self, name: &str, registry_id: &str) -> Result<Option<Repository>, EcrError> {
        const OP: &str = "DescribeRepositories";
        let out = match self
            .client
            .describe_repositories()
            .set_registry_id(registry(registry_id))
            .repository_names(name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => return Ok(None),
            Err(e) => return Err(classify(OP, e)),
        };
        let Some(repo) = out.repositories().iter().find(|r| r.repository_name() == Some(name)) else {
            return Ok(None);
        };
        repository_from(OP, repo, false).map(Some)
    }

    /// DescribeRepositories by name; when missing (RepositoryNotFoundException), CreateRepository with the spec.
    ///
    /// An existing repository is returned as it is (`created == false`); its settings are not changed.
    pub async fn ensure_repository(&self, spec: &RepositorySpec) -> Result<Repository, EcrError> {
        if let Some(existing) = self.repository(&spec.name, "").await? {
            return Ok(existing);
        }
        const OP: &str = "CreateRepository";
        let mut encryption =
            EncryptionConfiguration::builder().encryption_type(EncryptionType::from(spec.encryption_type.as_str()));
        if let Some(key) = spec.kms_key.as_deref().filter(|k| !k.is_empty()) {
            encryption = encryption.kms_key(key);
        }
        let encryption = encryption.build().map_err(|e| EcrError::other(OP, e.to_string()))?;
        let mut request = self
            .client
            .create_repository()
            .repository_name(&spec.name)
            .image_tag_mutability(ImageTagMutability::from(spec.image_tag_mutability.as_str()))
            .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(spec.scan_on_push).build())
            .encryption_configuration(encryption);
        for (key, value) in &spec.tags {
            let tag = Tag::builder().key(key).value(value).build().map_err(|e| EcrError::other(OP, e.to_string()))?;
            request = request.tags(tag);
        }
        match request.send().await {
            Ok(out) => {
                let repo = out.repository().ok_or_else(|| EcrError::other(OP, "the response has no repository"))?;
                repository_from(OP, repo, true)
            }
            // Created concurrently by someone else between our describe and create: use it.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_already_exists_exception()) => self
                .repository(&spec.name, "")
                .await?
                .ok_or_else(|| EcrError::other(OP, format!("repository {} exists but cannot be described", spec.name))),
            Err(e) => Err(classify(OP, e)),
        }
    }

    /// GetAuthorizationToken for the registry (empty `registry_id`: the caller's account); decodes the
    /// base64 `user:password` token.
    pub async fn authorization(&self, registry_id: &str) -> Result<RegistryAuth, EcrError> {
        const OP: &str = "GetAuthorizationToken";
        #[allow(deprecated)] // registryIds is deprecated by AWS but still the way to pick another account's registry.
        let out = self
            .client
            .get_authorization_token()
            .set_registry_ids(registry(registry_id).map(|r| vec![r]))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| EcrError::other(OP, "the response has no authorization data"))?;
        let token = data.authorization_token().ok_or_else(|| EcrError::other(OP, "the response has no token"))?;
        // Error messages below never include the token or its decoding.
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .map_err(|_| EcrError::other(OP, "the authorization token is not valid base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| EcrError::other(OP, "the authorization token is not UTF-8"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| EcrError::other(OP, "the authorization token is not of the form user:password"))?;
        Ok(RegistryAuth {
            username: username.to_string(),
            password: password.to_string(),
            endpoint: data.proxy_endpoint().unwrap_or_default().to_string(),
        })
    }

    /// DescribeImages for one image; `Ok(None)` when the image or tag does not exist (ImageNotFoundException),
    /// or when the repository itself does not exist.
    pub async fn image_digest(
        &self,
        repo: &str,
        registry_id: &str,
        reference: &ImageRef,
    ) -> Result<Option<String>, EcrError> {
        Ok(self.describe_one(repo, registry_id, reference).await?.and_then(|d| d.image_digest().map(str::to_string)))
    }

    /// DescribeImages for one image; `Ok(None)` when the image or the repository does not exist.
    async fn describe_one(
        &self,
        repo: &str,
        registry_id: &str,
        reference: &ImageRef,
    ) -> Result<Option<aws_sdk_ecr::types::ImageDetail>, EcrError> {
        const OP: &str = "DescribeImages";
        let result = self
            .client
            .describe_images()
            .set_registry_id(registry(registry_id))
            .repository_name(repo)
            .image_ids(reference.identifier())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.image_details().first().cloned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_image_not_found_exception() || s.is_repository_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify(OP, e)),
        }
    }

    /// The tags on the image `digest` (DescribeImages); `Ok(None)` when the image does not exist.
    pub async fn image_tags(
        &self,
        repo: &str,
        registry_id: &str,
        digest: &str,
    ) -> Result<Option<Vec<String>>, EcrError> {
        let reference = ImageRef::Digest(digest.to_string());
        Ok(self.describe_one(repo, registry_id, &reference).await?.map(|d| d.image_tags().to_vec()))
    }

    /// Removes tags (BatchDeleteImage by tag). ECR deletes the image when its last tag goes.
    pub async fn untag(&self, repo: &str, registry_id: &str, tags: &[String]) -> Result<(), EcrError> {
        if tags.is_empty() {
            return Ok(());
        }
        let ids = tags.iter().map(|t| ImageIdentifier::builder().image_tag(t).build()).collect::<Vec<_>>();
        let result = self
            .client
            .batch_delete_image()
            .set_registry_id(registry(registry_id))
            .repository_name(repo)
            .set_image_ids(Some(ids))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => Ok(()),
            Err(e) => Err(classify("BatchDeleteImage", e)),
        }
    }

    /// Adds `tag` to the existing image `digest`: BatchGetImage (manifest and media type, unconverted) then
    /// PutImage with the tag. The tag already on that digest → `Ok(())`.
    ///
    /// In an IMMUTABLE repository a tag already on another image fails (`ImageTagAlreadyExistsException`).
    pub async fn tag_image(&self, repo: &str, registry_id: &str, digest: &str, tag: &str) -> Result<(), EcrError> {
        const GET: &str = "BatchGetImage";
        let mut get = self
            .client
            .batch_get_image()
            .set_registry_id(registry(registry_id))
            .repository_name(repo)
            .image_ids(ImageIdentifier::builder().image_digest(digest).build());
        // Ask for every manifest kind so ECR hands the manifest back unchanged (no schema conversion).
        for media_type in MANIFEST_MEDIA_TYPES {
            get = get.accepted_media_types(media_type);
        }
        let out = get.send().await.map_err(|e| classify(GET, e))?;
        let Some(image) = out.images().iter().find(|i| i.image_manifest().is_some()) else {
            let failure = out.failures().first();
            let code = failure.and_then(|f| f.failure_code()).map(|c| c.as_str().to_string());
            let reason = failure.and_then(|f| f.failure_reason()).unwrap_or("no image in the response");
            let message = format!("image {repo}@{digest}: {reason}");
            let missing = failure.and_then(|f| f.failure_code()).is_none_or(|c| *c == ImageFailureCode::ImageNotFound);
            return Err(if missing {
                EcrError::NotFound { operation: GET, code, message }
            } else {
                EcrError::Other { operation: GET, code, message }
            });
        };
        let manifest = image.image_manifest().unwrap_or_default();

        const PUT: &str = "PutImage";
        let result = self
            .client
            .put_image()
            .set_registry_id(registry(registry_id))
            .repository_name(repo)
            .image_manifest(manifest)
            .set_image_manifest_media_type(image.image_manifest_media_type().map(str::to_string))
            .image_digest(digest)
            .image_tag(tag)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_image_already_exists_exception()) => Ok(()),
            Err(e) => Err(classify(PUT, e)),
        }
    }

    /// BatchDeleteImage by digest (the image and all its tags); `Ok(false)` if it did not exist
    /// (nor its repository).
    pub async fn delete_image(&self, repo: &str, registry_id: &str, digest: &str) -> Result<bool, EcrError> {
        const OP: &str = "BatchDeleteImage";
        let result = self
            .client
            .batch_delete_image()
            .set_registry_id(registry(registry_id))
            .repository_name(repo)
            .image_ids(ImageIdentifier::builder().image_digest(digest).build())
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => return Ok(false),
            Err(e) => return Err(classify(OP, e)),
        };
        if !out.image_ids().is_empty() {
            return Ok(true);
        }
        match out.failures().first() {
            None => Ok(false),
            Some(f) if f.failure_code() == Some(&ImageFailureCode::ImageNotFound) => Ok(false),
            Some(f) => Err(EcrError::Other {
                operation: OP,
                code: f.failure_code().map(|c| c.as_str().to_string()),
                message: format!("image {repo}@{digest}: {}", f.failure_reason().unwrap_or("not deleted")),
            }),
        }
    }

    /// DeleteRepository (without force) only when DescribeImages lists no image. `Ok(true)` if deleted,
    /// `Ok(false)` if not empty or already gone.
    pub async fn delete_repository_if_empty(&self, repo: &str, registry_id: &str) -> Result<bool, EcrError> {
        const LIST: &str = "DescribeImages";
        let result = self
            .client
            .describe_images()
            .set_registry_id(registry(registry_id))
            .repository_name(repo)
            .max_results(1)
            .send()
            .await;
        match result {
            Ok(out) if !out.image_details().is_empty() => return Ok(false),
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => return Ok(false),
            Err(e) => return Err(classify(LIST, e)),
        }
        const OP: &str = "DeleteRepository";
        let result =
            self.client.delete_repository().set_registry_id(registry(registry_id)).repository_name(repo).send().await;
        match result {
            Ok(_) => Ok(true),
            // An image pushed between the two calls, or the repository deleted meanwhile.
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_repository_not_empty_exception() || s.is_repository_not_found_exception()
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify(OP, e)),
        }
    }
}

fn repository_from(
    operation: &'static str,
    repo: &aws_sdk_ecr::types::Repository,
    created: bool,
) -> Result<Repository, EcrError> {
    let field = |value: Option<&str>, what: &str| {
        value
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| EcrError::other(operation, format!("the repository in the response has no {what}")))
    };
    Ok(Repository {
        name: field(repo.repository_name(), "repositoryName")?,
        uri: field(repo.repository_uri(), "repositoryUri")?,
        registry_id: field(repo.registry_id(), "registryId")?,
        created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_debug_redacts_the_password() {
        let auth = RegistryAuth {
            username: "AWS".into(),
            password: "s3cr3t-token".into(),
            endpoint: "https://1.dkr.ecr.us-east-1.amazonaws.com".into(),
        };
        let shown = format!("{auth:?} {auth:#?}");
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        assert!(shown.contains("AWS") && shown.contains("<redacted>") && shown.contains("dkr.ecr"), "{shown}");
    }

    #[test]
    fn service_errors_are_classified_by_code_then_status() {
        assert_eq!(classify_service(Some("AccessDeniedException"), Some(400)), Kind::Auth);
        assert_eq!(classify_service(Some("UnrecognizedClientException"), Some(400)), Kind::Auth);
        assert_eq!(classify_service(Some("ThrottlingException"), Some(400)), Kind::Transient);
        assert_eq!(classify_service(Some("ServerException"), Some(500)), Kind::Transient);
        assert_eq!(classify_service(Some("RepositoryNotFoundException"), Some(400)), Kind::NotFound);
        assert_eq!(classify_service(Some("ImageNotFoundException"), Some(400)), Kind::NotFound);
        assert_eq!(classify_service(Some("InvalidParameterException"), Some(400)), Kind::Other);
        assert_eq!(classify_service(Some("LimitExceededException"), Some(400)), Kind::Other);
        assert_eq!(classify_service(None, Some(403)), Kind::Auth);
        assert_eq!(classify_service(None, Some(429)), Kind::Transient);
        assert_eq!(classify_service(None, Some(503)), Kind::Transient);
        assert_eq!(classify_service(None, None), Kind::Other);
    }

    #[test]
    fn error_messages_keep_the_code_and_say_what_to_do() {
        let e = EcrError::Auth {
            operation: "CreateRepository",
            code: Some("AccessDeniedException".into()),
            message: "User: arn:aws:iam::1:user/ci is not authorized".into(),
        };
        let text = e.to_string();
        assert!(text.contains("(AccessDeniedException)") && text.contains("not authorized"), "{text}");
        assert!(text.contains("credentials") && text.contains("ecr:CreateRepository"), "{text}");
        assert!(e.is_auth() && !e.is_transient());
        assert_eq!(e.code(), Some("AccessDeniedException"));

        let t = EcrError::Transient { operation: "DescribeImages", code: None, message: "connection refused".into() };
        assert!(t.is_transient() && !t.is_auth());
        assert_eq!(t.to_string(), "ECR DescribeImages failed (transient, retry later): connection refused");
    }

    #[test]
    fn empty_registry_id_means_the_default_registry() {
        assert_eq!(registry(""), None);
        assert_eq!(registry("123456789012"), Some("123456789012".into()));
    }

    #[test]
    fn image_refs_print_like_docker_references() {
        assert_eq!(ImageRef::Tag("v1".into()).to_string(), ":v1");
        assert_eq!(ImageRef::Digest("sha256:ab".into()).to_string(), "@sha256:ab");
    }
}
