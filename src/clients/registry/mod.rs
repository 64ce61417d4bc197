//! A minimal Docker Registry HTTP API v2 client: manifests by tag or digest, re-tagging, deletion,
//! untagging ([`untag`]).
//!
//! Used when the provider sets `ecr_registry_host` (an emulator's registry, e.g. `127.0.0.1:5000`):
//! then image records live in that registry rather than behind ECR's APIs. Loopback hosts
//! (`localhost`, `127.0.0.0/8`, `[::1]`) and hosts written `http://…` are spoken to in plain HTTP,
//! as Docker does; any other host would need TLS, which this client leaves to the ECR APIs
//! ([`RegistryError::TlsUnsupported`]).
//!
//! Every request has a timeout (30 s by default). Basic-auth credentials, when given, are sent on
//! every request and never appear in `Debug` output or errors.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mlops::clients::registry::RegistryError> {
//! use mlops::clients::registry::Registry;
//!
//! let registry = Registry::new("127.0.0.1:5000", None);
//! registry.ping().await?;
//! if let Some((info, body)) = registry.get_manifest("models/churn", "build-1a2b").await? {
//!     registry.put_manifest("models/churn", "latest", &info.media_type, body).await?;
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::error_chain;

mod platform;
mod untag;

/// Manifest media types this client asks for, in order of preference.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

/// Default bound on one request, from connecting to the last byte of the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Bound on establishing the TCP connection (within [`DEFAULT_TIMEOUT`]).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an unexpected answer's body goes into an error.
const BODY_EXCERPT_CHARS: usize = 300;

/// A registry at one host.
#[derive(Clone)]
pub struct Registry {
    /// `host[:port]`, without scheme.
    host: String,
    tls: bool,
    /// Precomputed `Basic …` header, marked sensitive.
    auth: Option<HeaderValue>,
    timeout: Duration,
    /// Shared (the client is large, and clones should share its connection pool).
    client: Arc<Client<HttpConnector, Full<Bytes>>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host)
            .field("tls", &self.tls)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What the registry says about one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    /// `sha256:…`, from `Docker-Content-Digest` (or computed over the bytes when the header is absent).
    pub digest: String,
    /// The manifest's media type (`Content-Type`).
    pub media_type: String,
    /// Size of the manifest in bytes.
    pub size: u64,
}

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Connection refused, DNS failure, connection dropped, or no answer within the timeout.
    #[error("the registry at {host} is not reachable: {message}. Check that it is running and that ecr_registry_host is right")]
    Unreachable { host: String, message: String },
    /// The registry refused the request for lack of (valid) credentials: 401 or 403.
    #[error("the registry at {host} refused {method} {path} ({status}): check the registry credentials and permissions{}", excerpt_suffix(.body))]
    Unauthorized { host: String, method: String, path: String, status: u16, body: String },
    /// Any other answer than the ones the API defines for the call.
    #[error("the registry at {host} answered {method} {path} with HTTP {status}{}", excerpt_suffix(.body))]
    UnexpectedStatus { host: String, method: String, path: String, status: u16, body: String },
    /// A successful answer this client cannot use (e.g. no digest, invalid headers).
    #[error("the registry at {host} answered {method} {path} with an unusable response: {message}")]
    InvalidResponse { host: String, method: String, path: String, message: String },
    /// The host would need HTTPS, which this client does not speak.
    #[error("the registry at {host} needs TLS: TLS registries are reached through ECR APIs (leave ecr_registry_host unset), or write http://{host} if it serves plain HTTP")]
    TlsUnsupported { host: String },
    /// A repository name, tag or digest with characters that cannot be part of a registry URL.
    #[error("invalid registry request: {0}")]
    InvalidRequest(String),
}

fn excerpt_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl RegistryError {
    /// True when retrying later may succeed: unreachable, 429, or a 5xx answer.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } => true,
            RegistryError::UnexpectedStatus { status, .. } => *status == 429 || (500..=599).contains(status),
            _ => false,
        }
    }

    /// True for 401/403 answers.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, RegistryError::Unauthorized { .. })
    }
}

/// One exchanged request, as far as the callers need it.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Registry {
    /// A client for `host` (`host:port`, optionally prefixed `http://` or `https://`).
    ///
    /// With `auth = Some((user, password))` every request carries basic auth. No connection is made here.
    pub fn new(host: &str, auth: Option<(String, String)>) -> Self {
        let (host, tls) = split_scheme(host);
        let auth = auth.and_then(|(user, password)| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Arc::new(Client::builder(TokioExecutor::new()).build(connector));
        Self { host, tls, auth, timeout: DEFAULT_TIMEOUT, client }
    }

    /// The same client with another per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `host[:port]` as requests address it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `GET /v2/`: the registry is up and accepts the credentials.
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let path = "/v2/";
        let answer = self.send(Method::GET, path, None, None).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.status_error(&Method::GET, path, &answer))
        }
    }

    /// `HEAD /v2/<repo>/manifests/<reference>` accepting Docker v2 and OCI manifests and indexes.
    /// `Ok(None)` when the repository, tag or digest is unknown.
    pub async fn manifest(&self, repo: &str, reference: &str) -> Result<Option<ManifestInfo>, RegistryError> {
        let path = manifest_path(repo, reference)?;
        let answer = self.send(Method::HEAD, &path, Some(accept_header()), None).await?;
        if answer.status.is_success() {
            let digest = header(&answer.headers, "docker-content-digest");
            let Some(digest) = digest.filter(|d| !d.is_empty()) else {
                // Registries must send the digest; when one does not, the bytes tell it.
                return Ok(self.get_manifest(repo, reference).await?.map(|(info, _)| info));
            };
            let size = header(&answer.headers, CONTENT_LENGTH.as_str()).and_then(|s| s.parse().ok()).unwrap_or(0);
            return Ok(Some(ManifestInfo { digest, media_type: media_type(&answer.headers), size }));
        }
        if is_unknown(&answer) {
            return Ok(None);
        }
        Err(self.status_error(&Method::HEAD, &path, &answer))
    }

    /// `GET /v2/<repo>/manifests/<reference>` (same `Accept` as [`Registry::manifest`]): the manifest bytes,
    /// exactly as stored, for re-tagging. `Ok(None)` when unknown.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<(ManifestInfo, Bytes)>, RegistryError> {
        let path = manifest_path(repo, reference)?;
        let answer = self.send(Method::GET, &path, Some(accept_header()), None).await?;
        if answer.status.is_success() {
            let digest = header(&answer.headers, "docker-content-digest")
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| sha256_digest(&answer.body));
            let info = ManifestInfo { digest, media_type: media_type(&answer.headers), size: answer.body.len() as u64 };
            return Ok(Some((info, answer.body)));
        }
        if is_unknown(&answer) {
            return Ok(None);
        }
        Err(self.status_error(&Method::GET, &path, &answer))
    }

    /// `PUT /v2/<repo>/manifests/<tag>` with the manifest bytes; returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        repo: &str,
        tag: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<String, RegistryError> {
        let path = manifest_path(repo, tag)?;
        let content_type = HeaderValue::from_str(media_type)
            .map_err(|_| RegistryError::InvalidRequest(format!("invalid media type {media_type:?}")))?;
        let local_digest = sha256_digest(&body);
        let answer = self.send(Method::PUT, &path, Some(content_type), Some(body)).await?;
        if answer.status.is_success() {
            return Ok(header(&answer.headers, "docker-content-digest")
                .filter(|d| !d.is_empty())
                .unwrap_or(local_digest));
        }
        Err(self.status_error(&Method::PUT, &path, &answer))
    }

    /// `DELETE /v2/<repo>/manifests/<digest>`: `Ok(true)` when deleted (202), `Ok(false)` when unknown (404).
    ///
    /// Registries only delete by digest, and only with deletion enabled (otherwise an error with HTTP 405).
    pub async fn delete_manifest(&self, repo: &str, digest: &str) -> Result<bool, RegistryError> {
        if !digest.contains(':') {
            return Err(RegistryError::InvalidRequest(format!("manifests are deleted by digest, not {digest:?}")));
        }
        let path = manifest_path(repo, digest)?;
        let answer = self.send(Method::DELETE, &path, None, None).await?;
        if answer.status.is_success() {
            return Ok(true);
        }
        if is_unknown(&answer) {
            return Ok(false);
        }
        Err(self.status_error(&Method::DELETE, &path, &answer))
    }

    /// `GET /v2/<repo>/tags/list`: every tag of the repository (empty when the repository is unknown).
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        check_repo(repo)?;
        let path = format!("/v2/{repo}/tags/list");
        let answer = self.send(Method::GET, &path, None, None).await?;
        if is_unknown(&answer) {
            return Ok(Vec::new());
        }
        if !answer.status.is_success() {
            return Err(self.status_error(&Method::GET, &path, &answer));
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|e| RegistryError::InvalidResponse {
                host: self.host.clone(),
                method: "GET".into(),
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(doc["tags"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }

    /// Sends one request and reads the whole answer, within the timeout.
    async fn send(
        &self,
        method: Method,
        path: &str,
        header_value: Option<HeaderValue>,
        body: Option<Bytes>,
    ) -> Result<Answer, RegistryError> {
        if self.tls {
            return Err(RegistryError::TlsUnsupported { host: self.host.clone() });
        }
        let uri = format!("http://{}{}", self.host, path);
        let mut builder = Request::builder().method(method.clone()).uri(&uri);
        if let Some(value) = header_value {
            let name = if body.is_some() { CONTENT_TYPE } else { ACCEPT };
            builder = builder.header(name, value);
        }
        if let Some(auth) = &self.auth {
            builder = builder.header(AUTHORIZATION, auth.clone());
        }
        let request = builder
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| RegistryError::InvalidRequest(format!("{method} {uri}: {e}")))?;
        let unreachable = |message: String| RegistryError::Unreachable { host: self.host.clone(), message };
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| unreachable(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| unreachable(error_chain(&e)))?.to_bytes();
            Ok(Answer { status: parts.status, headers: parts.headers, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(unreachable(format!("no answer to {method} {path} within {} s", self.timeout.as_secs_f32()))),
        }
    }

    fn status_error(&self, method: &Method, path: &str, answer: &Answer) -> RegistryError {
        let (host, method, path) = (self.host.clone(), method.to_string(), path.to_string());
        let status = answer.status.as_u16();
        let body = excerpt(&answer.body);
        match answer.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                RegistryError::Unauthorized { host, method, path, status, body }
            }
            _ => RegistryError::UnexpectedStatus { host, method, path, status, body },
        }
    }
}

/// Splits an optional scheme off; loopback hosts are plain HTTP, others TLS unless written `http://`.
fn split_scheme(host: &str) -> (String, bool) {
    let host = host.trim().trim_end_matches('/');
    if let Some(rest) = host.strip_prefix("http://") {
        return (rest.to_string(), false);
    }
    if let Some(rest) = host.strip_prefix("https://") {
        return (rest.to_string(), true);
    }
    (host.to_string(), !is_loopback(host))
}

/// `localhost`, `127.0.0.0/8` or `::1`, with or without a port.
fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `/v2/<repo>/manifests/<reference>`, refusing characters that have no place in either.
fn manifest_path(repo: &str, reference: &str) -> Result<String, RegistryError> {
    check_repo(repo)?;
    let reference_ok = !reference.is_empty()
        && reference.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '+'));
    if !reference_ok {
        return Err(RegistryError::InvalidRequest(format!("invalid tag or digest {reference:?}")));
    }
    Ok(format!("/v2/{repo}/manifests/{reference}"))
}

/// A repository name safe to put in a URL path.
fn check_repo(repo: &str) -> Result<(), RegistryError> {
    // Components of [a-zA-Z0-9._-], each starting and ending alphanumeric (so no "..", no empty component).
    let repo_ok = !repo.is_empty()
        && repo.split('/').all(|part| {
            part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part.ends_with(|c: char| c.is_ascii_alphanumeric())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        });
    if !repo_ok {
        return Err(RegistryError::InvalidRequest(format!("invalid repository name {repo:?}")));
    }
    Ok(())
}

fn accept_header() -> HeaderValue {
    // Only constant ASCII goes in: the fallback is never taken.
    HeaderValue::from_str(&MANIFEST_MEDIA_TYPES.join(", "))
        .unwrap_or_else(|_| HeaderValue::from_static(MANIFEST_MEDIA_TYPES[0]))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string())
}

/// The `Content-Type` without parameters.
fn media_type(headers: &HeaderMap) -> String {
    header(headers, CONTENT_TYPE.as_str())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
        .unwrap_or_default()
}

/// 404, or an error body naming an unknown manifest or repository (some registries use other statuses).
fn is_unknown(answer: &Answer) -> bool {
    if answer.status == StatusCode::NOT_FOUND {
        return true;
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&answer.body) else { return false };
    body.get("errors").and_then(|e| e.as_array()).is_some_and(|errors| {
        errors
            .iter()
            .any(|e| matches!(e.get("code").and_then(|c| c.as_str()), Some("MANIFEST_UNKNOWN" | "NAME_UNKNOWN")))
    })
}

fn sha256_digest(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    format!("sha256:{}", hex::encode(digest.as_ref()))
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
    if text.chars().count() > BODY_EXCERPT_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_plain_http_others_need_tls() {
        for host in ["127.0.0.1:5000", "localhost:5000", "LOCALHOST", "127.1.2.3", "[::1]:5000", "[::1]"] {
            assert!(!split_scheme(host).1, "{host} should be plain HTTP");
        }
        for host in ["registry:5000", "123.dkr.ecr.us-east-1.amazonaws.com", "10.0.0.1:5000", "https://127.0.0.1:5000"]
        {
            assert!(split_scheme(host).1, "{host} should need TLS");
        }
        assert_eq!(split_scheme("http://registry:5000/"), ("registry:5000".to_string(), false));
    }

    #[test]
    fn manifest_paths_refuse_url_metacharacters() {
        assert_eq!(manifest_path("models/churn", "v1").ok().as_deref(), Some("/v2/models/churn/manifests/v1"));
        assert!(manifest_path("a", "sha256:0123abcd").is_ok());
        for (repo, reference) in [
            ("", "v1"),
            ("a?x=1", "v1"),
            ("a/../b", "v1"),
            ("a//b", "v1"),
            ("a", "v1/x"),
            ("/a", "v1"),
            ("a", "v1#x"),
            ("a", ""),
        ] {
            assert!(manifest_path(repo, reference).is_err(), "{repo:?} {reference:?}");
        }
    }

    #[test]
    fn unknown_manifests_are_recognised_by_status_or_error_code() {
        let answer = |status: u16, body: &str| Answer {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        };
        assert!(is_unknown(&answer(404, "")));
        assert!(is_unknown(&answer(400, r#"{"errors":[{"code":"NAME_UNKNOWN","message":"x"}]}"#)));
        assert!(!is_unknown(&answer(400, r#"{"errors":[{"code":"DIGEST_INVALID"}]}"#)));
        assert!(!is_unknown(&answer(500, "boom")));
    }

    #[test]
    fn accept_lists_docker_and_oci_manifests_and_indexes() {
        let accept = accept_header();
        let accept = accept.to_str().unwrap_or_default();
        for media_type in MANIFEST_MEDIA_TYPES {
            assert!(accept.contains(media_type), "{accept}");
        }
    }

    #[test]
    fn debug_never_shows_credentials() {
        let r = Registry::new("127.0.0.1:5000", Some(("AWS".into(), "p4ssw0rd".into())));
        let shown = format!("{r:?}");
        assert!(!shown.contains("p4ssw0rd") && !shown.contains("QVdTOnA0c3N3MHJk"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn errors_say_what_happened_and_whether_to_retry() {
        let e = RegistryError::Unreachable { host: "127.0.0.1:1".into(), message: "connection refused".into() };
        assert!(e.is_transient() && e.to_string().contains("127.0.0.1:1 is not reachable"));
        let status = |s: u16| RegistryError::UnexpectedStatus {
            host: "h".into(),
            method: "PUT".into(),
            path: "/v2/a/manifests/t".into(),
            status: s,
            body: String::new(),
        };
        assert!(status(503).is_transient() && status(429).is_transient() && !status(400).is_transient());
        assert!(!RegistryError::TlsUnsupported { host: "h".into() }.is_transient());
        assert_eq!(excerpt(&[b'x'; 400]).chars().count(), BODY_EXCERPT_CHARS + 1);
        assert_eq!(sha256_digest(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
