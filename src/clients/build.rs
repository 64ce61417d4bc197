//! `docker build` through the Engine API: the classic builder fed with the hashed context.
//!
//! The classic builder (no BuildKit session) produces a plain single-platform image manifest, with
//! no attestation index for Lambda to reject. The context is the tar of [`super::tarball`]: exactly
//! the file set hashed at plan time, verified while it streams. Progress goes to `TF_LOG` at INFO
//! (`docker build: …`); a failure carries the last [`TAIL_LINES`] lines of the log.
//!
//! ```no_run
//! # async fn demo(docker: &bollard::Docker, entries: Vec<mlops::context::Entry>) -> Result<(), mlops::clients::build::BuildError> {
//! use mlops::clients::build::{build, BuildRequest};
//! let request = BuildRequest {
//!     context: "./app".into(),
//!     dockerfile: "Dockerfile".into(),
//!     entries,
//!     build_args: Default::default(),
//!     target: None,
//!     platform: Some("linux/amd64".into()),
//!     labels: Default::default(),
//!     tags: vec!["127.0.0.1:5000/app:ctx-abc".into()],
//! };
//! let image = build(docker, request, &tokio_util::sync::CancellationToken::new()).await?;
//! println!("{}", image.image_id);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bollard::errors::Error as ApiError;
use bollard::models::BuildInfo;
use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use bollard::Docker;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::docker::{host_of, is_unreachable};
use super::error_chain;
use super::push::{split_reference, tag};
use super::tarball::{stream_tar, TarError, TarSource};
use crate::context::dockerignore::clean_path;
use crate::context::Entry;

/// How many lines of the build log a failure keeps.
pub const TAIL_LINES: usize = 40;

/// How long to wait for the tar thread's verdict once the build stream has ended.
const TAR_VERDICT_WAIT: Duration = Duration::from_secs(2);

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context (`"Dockerfile"` when empty).
    pub dockerfile: String,
    /// The entries hashed at plan time ([`crate::context::ContextSummary::entries`]).
    pub entries: Vec<Entry>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target` stage.
    pub target: Option<String>,
    /// `--platform`, such as `linux/amd64`.
    pub platform: Option<String>,
    /// `--label` values.
    pub labels: BTreeMap<String, String>,
    /// Full references to tag the result with, such as `127.0.0.1:5000/repo:ctx-abc`.
    pub tags: Vec<String>,
}

/// A successful build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The local image ID (`sha256:…`).
    pub image_id: String,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The daemon could not be reached at all.
    #[error("{}", super::docker::unreachable_text(host, message))]
    DaemonUnreachable {
        /// The daemon address, DOCKER_HOST style.
        host: String,
        /// What went wrong.
        message: String,
    },
    /// A file differs from what was hashed at plan time.
    #[error("the build context changed after the plan: {path}; run terraform apply again")]
    ContextChanged {
        /// The path, relative to the context.
        path: String,
    },
    /// The context could not be read or sent for another reason.
    #[error("could not send the build context: {0}")]
    Context(TarError),
    /// The daemon reported a failure (a failing step, a Dockerfile error, a bad option).
    #[error("docker build failed; last lines of the build log:\n{}", Tail(log_tail))]
    StepFailed {
        /// The last lines of the build log, the daemon's error message last.
        log_tail: Vec<String>,
    },
    /// The cancellation token fired (Terraform's StopProvider or a timeout).
    #[error("docker build cancelled")]
    Cancelled,
    /// The connection to the daemon broke during the build.
    #[error("the connection to the Docker daemon at {host} failed during the build: {message}")]
    Daemon {
        /// The daemon address, DOCKER_HOST style.
        host: String,
        /// What went wrong.
        message: String,
    },
    /// The build finished without naming the image it produced.
    #[error("docker build finished without reporting an image ID; last lines of the build log:\n{}", Tail(log_tail))]
    NoImageId {
        /// The last lines of the build log.
        log_tail: Vec<String>,
    },
    /// The image was built but one of its extra tags could not be applied.
    #[error("could not tag the built image {image_id} as {reference}: {message}")]
    Tag {
        /// The built image.
        image_id: String,
        /// The reference that failed.
        reference: String,
        /// What went wrong.
        message: String,
    },
}

impl From<TarError> for BuildError {
    fn from(err: TarError) -> Self {
        match err {
            TarError::ContextChanged { path } => BuildError::ContextChanged { path },
            other => BuildError::Context(other),
        }
    }
}

/// Displays log lines, one per line, indented.
struct Tail<'a>(&'a [String]);

impl fmt::Display for Tail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Builds `req` with the classic builder, tags it with every tag, and returns the image ID.
/// Fires of `cancel` return [`BuildError::Cancelled`] at once; dropping the connection makes the
/// daemon stop the build and remove its intermediate container.
pub async fn build(docker: &Docker, req: BuildRequest, cancel: &CancellationToken) -> Result<BuiltImage, BuildError> {
    let host = host_of(docker);
    let raw = if req.dockerfile.is_empty() { "Dockerfile" } else { req.dockerfile.as_str() };
    let dockerfile = clean_path(raw);
    let mut options = BuildImageOptionsBuilder::new()
        .dockerfile(&dockerfile)
        .rm(true)
        .forcerm(true)
        .version(BuilderVersion::BuilderV1)
        .platform(req.platform.as_deref().unwrap_or_default())
        .target(req.target.as_deref().unwrap_or_default());
    if !req.build_args.is_empty() {
        options = options.buildargs(&req.build_args.iter().collect::<HashMap<_, _>>());
    }
    if !req.labels.is_empty() {
        options = options.labels(&req.labels.iter().collect::<HashMap<_, _>>());
    }
    if let Some(first) = req.tags.first() {
        options = options.t(first);
    }

    tracing::info!("docker build: sending {} context entries to {host}", req.entries.len());
    let source = TarSource { context: req.context, dockerfile, entries: req.entries };
    let tar = stream_tar(source);
    let mut log_tail = LogTail::default();
    let mut image_id = None;
    let mut stream = Box::pin(docker.build_image(options.build(), None, Some(bollard::body_try_stream(tar.body))));
    let outcome = loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                drop(stream);
                tracing::info!("docker build: cancelled");
                return Err(BuildError::Cancelled);
            }
            item = stream.next() => match item {
                None => break Ok(()),
                Some(Ok(info)) => {
                    if let Some(id) = log_tail.record(&info) {
                        image_id = Some(id);
                    }
                }
                Some(Err(e)) => break Err(e),
            },
        }
    };
    drop(stream);

    // A changed context explains whatever the daemon said about the aborted upload.
    match tokio::time::timeout(TAR_VERDICT_WAIT, tar.done).await {
        Ok(Ok(Err(TarError::Aborted))) | Err(_) => {}
        Ok(Ok(Err(err))) => return Err(err.into()),
        Ok(Ok(Ok(_))) | Ok(Err(_)) => {}
    }
    if let Err(e) = outcome {
        return Err(classify(e, host, log_tail));
    }

    let image_id = match (image_id, req.tags.first()) {
        (Some(id), _) => id,
        (None, Some(first)) => match docker.inspect_image(first).await.ok().and_then(|i| i.id) {
            Some(id) => id,
            None => return Err(BuildError::NoImageId { log_tail: log_tail.into_lines() }),
        },
        (None, None) => return Err(BuildError::NoImageId { log_tail: log_tail.into_lines() }),
    };
    for reference in req.tags.iter().skip(1) {
        let fail =
            |message: String| BuildError::Tag { image_id: image_id.clone(), reference: reference.clone(), message };
        let (repository, name) =
            split_reference(reference).ok_or_else(|| fail("not a REPOSITORY:TAG reference".into()))?;
        tag(docker, &image_id, repository, name).await.map_err(|e| fail(e.to_string()))?;
    }
    tracing::info!("docker build: built {image_id}");
    Ok(BuiltImage { image_id })
}

/// Turns a bollard error into the error the user should see.
fn classify(error: ApiError, host: String, mut log_tail: LogTail) -> BuildError {
    if is_unreachable(&error) {
        return BuildError::DaemonUnreachable { host, message: error_chain(&error) };
    }
    let message = match error {
        ApiError::DockerStreamError { error } => error,
        ApiError::DockerResponseServerError { status_code, message } => format!("{message} (HTTP {status_code})"),
        other => return BuildError::Daemon { host, message: error_chain(&other) },
    };
    tracing::info!("docker build: {}", message.trim_end());
    log_tail.push(message.trim_end());
    BuildError::StepFailed { log_tail: log_tail.into_lines() }
}

/// The last [`TAIL_LINES`] log lines; every line also goes to `TF_LOG`.
#[derive(Default)]
struct LogTail(VecDeque<String>);

impl LogTail {
    /// Logs one progress message; returns the image ID if the message carries it.
    fn record(&mut self, info: &BuildInfo) -> Option<String> {
        for text in [&info.stream, &info.status].into_iter().flatten() {
            for line in text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()) {
                tracing::info!("docker build: {line}");
                self.push(line);
            }
        }
        info.aux.as_ref().and_then(|aux| aux.id.clone())
    }

    fn push(&mut self, line: &str) {
        if self.0.len() == TAIL_LINES {
            self.0.pop_front();
        }
        self.0.push_back(line.to_owned());
    }

    fn into_lines(self) -> Vec<String> {
        self.0.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines_and_shows_them() {
        let mut tail = LogTail::default();
        for i in 0..50 {
            tail.push(&format!("line {i}"));
        }
        let err = BuildError::StepFailed { log_tail: tail.into_lines() };
        let text = err.to_string();
        assert!(text.contains("line 10") && text.contains("line 49") && !text.contains("line 9\n"), "{text}");
        assert_eq!(text.lines().count(), 1 + TAIL_LINES);
    }

    #[test]
    fn stream_messages_split_into_lines_and_yield_the_id() {
        let mut tail = LogTail::default();
        let info = BuildInfo { stream: Some("Step 1/2 : FROM scratch\n ---> \n\n".into()), ..Default::default() };
        assert_eq!(tail.record(&info), None);
        let aux =
            BuildInfo { aux: Some(bollard::models::ImageId { id: Some("sha256:ab".into()) }), ..Default::default() };
        assert_eq!(tail.record(&aux).as_deref(), Some("sha256:ab"));
        assert_eq!(tail.into_lines(), ["Step 1/2 : FROM scratch", " --->"]);
    }

    #[test]
    fn daemon_errors_become_step_failures_with_the_message_last() {
        let err =
            ApiError::DockerStreamError { error: "The command '/bin/sh -c exit 3' returned a non-zero code: 3".into() };
        match classify(err, "unix:///d.sock".into(), LogTail::default()) {
            BuildError::StepFailed { log_tail } => assert!(log_tail.last().is_some_and(|l| l.contains("exit 3"))),
            other => panic!("{other:?}"),
        }
    }
}
