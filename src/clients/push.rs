//! `docker push`, `docker tag` and `docker rmi` through the Engine API.
//!
//! [`push`] streams progress to `TF_LOG` at INFO (`docker push: …`) and returns the manifest
//! digest the daemon reports in its final status line (`TAG: digest: sha256:… size: N`).
//! Credentials go to the daemon in the `X-Registry-Auth` header and are never logged.

use std::time::{Duration, Instant};

use bollard::auth::DockerCredentials;
use bollard::errors::Error as ApiError;
use bollard::query_parameters::{PushImageOptionsBuilder, RemoveImageOptionsBuilder, TagImageOptionsBuilder};
use bollard::Docker;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::docker::{host_of, is_unreachable};
use super::error_chain;

/// Minimum time between two logged byte counts of an ongoing upload.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Why a push (or tag) failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The daemon could not be reached at all.
    #[error("{}", super::docker::unreachable_text(host, message))]
    DaemonUnreachable {
        /// The daemon address, DOCKER_HOST style.
        host: String,
        /// What went wrong.
        message: String,
    },
    /// The daemon or the registry reported a failure; the message names the registry.
    #[error("{message}")]
    Failed {
        /// What happened, and what to check.
        message: String,
    },
    /// The push ended without reporting a digest.
    #[error("pushing {reference} finished without reporting a digest")]
    NoDigest {
        /// The reference pushed.
        reference: String,
    },
    /// The cancellation token fired (Terraform's StopProvider or a timeout).
    #[error("docker push cancelled")]
    Cancelled,
    /// A local tag could not be created.
    #[error("could not tag {image} as {reference}: {message}")]
    Tag {
        /// The image (ID or reference) being tagged.
        image: String,
        /// The new reference.
        reference: String,
        /// What went wrong.
        message: String,
    },
}

/// Pushes `repository:tag` and returns the manifest digest (`sha256:…`).
pub async fn push(
    docker: &Docker,
    repository: &str,
    tag: &str,
    credentials: Option<DockerCredentials>,
    cancel: &CancellationToken,
) -> Result<String, PushError> {
    let reference = format!("{repository}:{tag}");
    let registry = registry_of(repository);
    tracing::info!("docker push: pushing {reference}");
    let options = PushImageOptionsBuilder::new().tag(tag).build();
    let mut stream = Box::pin(docker.push_image(repository, Some(options), credentials));
    let mut progress = Progress::default();
    let mut digest = None;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                drop(stream);
                tracing::info!("docker push: cancelled");
                return Err(PushError::Cancelled);
            }
            item = stream.next() => match item {
                None => break,
                Some(Ok(info)) => {
                    let Some(status) = info.status.as_deref() else { continue };
                    let detail = info.progress_detail.as_ref().map(|d| (d.current, d.total));
                    progress.log(status, detail);
                    if let Some(found) = parse_digest(status) {
                        digest = Some(found);
                    }
                }
                Some(Err(e)) if is_unreachable(&e) => {
                    return Err(PushError::DaemonUnreachable { host: host_of(docker), message: error_chain(&e) });
                }
                Some(Err(e)) => return Err(PushError::Failed { message: failure_message(&registry, &reference, &e) }),
            },
        }
    }
    let digest = digest.ok_or(PushError::NoDigest { reference: reference.clone() })?;
    tracing::info!("docker push: pushed {reference} as {digest}");
    Ok(digest)
}

/// Tags the local image `image` (an ID or a reference) as `repository:tag`.
pub async fn tag(docker: &Docker, image: &str, repository: &str, tag: &str) -> Result<(), PushError> {
    let options = TagImageOptionsBuilder::new().repo(repository).tag(tag).build();
    docker.tag_image(image, Some(options)).await.map_err(|e| {
        if is_unreachable(&e) {
            return PushError::DaemonUnreachable { host: host_of(docker), message: error_chain(&e) };
        }
        PushError::Tag { image: image.to_owned(), reference: format!("{repository}:{tag}"), message: error_chain(&e) }
    })
}

/// Removes the local reference (`repo:tag`, or an ID) if nothing else needs it. Best effort: a
/// missing image is fine, other failures are logged as warnings.
pub async fn remove_local(docker: &Docker, reference: &str) {
    let options = RemoveImageOptionsBuilder::new().force(false).noprune(false).build();
    match docker.remove_image(reference, Some(options), None).await {
        Ok(_) => tracing::debug!("docker: removed the local image {reference}"),
        Err(ApiError::DockerResponseServerError { status_code: 404, .. }) => {}
        Err(e) => tracing::warn!("docker: could not remove the local image {reference}: {}", error_chain(&e)),
    }
}

/// Splits `host:port/repo:tag` into (`host:port/repo`, `tag`); `None` without a tag.
pub fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let (repository, tag) = reference.rsplit_once(':')?;
    if tag.is_empty() || tag.contains('/') || repository.is_empty() || reference.contains('@') {
        return None;
    }
    Some((repository, tag))
}

/// The registry part of a repository (`127.0.0.1:5000/a/b` → `127.0.0.1:5000`), Docker's rule:
/// the first component is a registry if it has a `.` or `:` or is `localhost`.
pub fn registry_of(repository: &str) -> String {
    match repository.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_owned(),
        _ => "docker.io".to_owned(),
    }
}

/// The digest in a final push status line: `t1: digest: sha256:<64 hex> size: 527`.
fn parse_digest(status: &str) -> Option<String> {
    let (_, rest) = status.split_once("digest: ")?;
    let digest = rest.split_whitespace().next()?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| digest.to_owned())
}

/// A user-facing message for a failed push, naming the registry and what to check.
fn failure_message(registry: &str, reference: &str, error: &ApiError) -> String {
    let detail = match error {
        ApiError::DockerStreamError { error } => error.clone(),
        ApiError::DockerResponseServerError { status_code, message } => format!("{message} (HTTP {status_code})"),
        other => error_chain(other),
    };
    let lower = detail.to_ascii_lowercase();
    let unreachable = ["connection refused", "no such host", "i/o timeout", "connection reset", "dial tcp", "eof"]
        .iter()
        .any(|needle| lower.contains(needle));
    let refused = ["unauthorized", "denied", "authentication required", "no basic auth credentials", "forbidden"]
        .iter()
        .any(|needle| lower.contains(needle));
    if unreachable {
        format!(
            "pushing {reference} failed: the registry {registry} is unreachable ({detail}). Check that it is \
             running and reachable from the Docker daemon, then apply again"
        )
    } else if refused {
        format!(
            "pushing {reference} failed: the registry {registry} refused the credentials ({detail}). Check the \
             registry credentials and permissions"
        )
    } else {
        format!("pushing {reference} to the registry {registry} failed: {detail}")
    }
}

/// Logs status changes, and byte counts at most every [`PROGRESS_EVERY`].
#[derive(Default)]
struct Progress {
    last_status: String,
    last_bytes_at: Option<Instant>,
}

impl Progress {
    fn log(&mut self, status: &str, detail: Option<(Option<i64>, Option<i64>)>) {
        let status = status.trim();
        if status != self.last_status {
            tracing::info!("docker push: {status}");
            self.last_status = status.to_owned();
            return;
        }
        let Some((Some(current), total)) = detail else { return };
        if self.last_bytes_at.is_some_and(|at| at.elapsed() < PROGRESS_EVERY) {
            return;
        }
        self.last_bytes_at = Some(Instant::now());
        match total {
            Some(total) if total > 0 => tracing::info!("docker push: {status} {current}/{total} bytes"),
            _ => tracing::info!("docker push: {status} {current} bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_read_from_the_final_status_line() {
        let hex = "a".repeat(64);
        assert_eq!(parse_digest(&format!("t1: digest: sha256:{hex} size: 527")), Some(format!("sha256:{hex}")));
        assert_eq!(parse_digest("Pushed"), None);
        assert_eq!(parse_digest("t1: digest: sha256:abc size: 1"), None);
    }

    #[test]
    fn references_and_registries_split_like_docker() {
        assert_eq!(split_reference("127.0.0.1:5000/a/b:t1"), Some(("127.0.0.1:5000/a/b", "t1")));
        assert_eq!(split_reference("127.0.0.1:5000/a"), None);
        assert_eq!(split_reference("repo@sha256:abc"), None);
        assert_eq!(registry_of("127.0.0.1:5000/a/b"), "127.0.0.1:5000");
        assert_eq!(registry_of("123.dkr.ecr.eu-west-1.amazonaws.com/app"), "123.dkr.ecr.eu-west-1.amazonaws.com");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("library/busybox"), "docker.io");
    }

    #[test]
    fn unreachable_registries_are_named() {
        let err = ApiError::DockerStreamError {
            error: "Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused".into(),
        };
        let text = failure_message("127.0.0.1:1", "127.0.0.1:1/x:t", &err);
        assert!(text.contains("the registry 127.0.0.1:1 is unreachable"), "{text}");
    }
}
