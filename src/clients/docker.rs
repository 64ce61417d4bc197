//! Docker: which engine to talk to (unix socket, tcp, tcp+TLS), with the standard DOCKER_*
//! variables as defaults, and whether it answers ([`ping`]).
//!
//! Building and pushing live next door: [`super::build`], [`super::push`], [`super::tarball`].

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;

use super::error_chain;

/// The `docker { … }` block, completed from DOCKER_HOST / DOCKER_CERT_PATH / DOCKER_TLS_VERIFY.
#[derive(Debug, Clone, Default)]
pub struct DockerSettings {
    pub host: Option<String>,
    pub cert_path: Option<PathBuf>,
}

/// Why the Docker client could not be created.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("unsupported Docker host {0:?}: use unix:///path, tcp://host:port (TLS when cert_path is set) or http(s)://host:port")]
    BadHost(String),
    #[error("could not set up the Docker client for {host}: {message}")]
    Connect { host: String, message: String },
    /// The daemon does not answer at `host` (no socket, connection refused, no answer in time).
    #[error("{}", unreachable_text(host, message))]
    Unreachable { host: String, message: String },
}

/// The one message for an engine that does not answer, with what to check.
pub fn unreachable_text(host: &str, message: &str) -> String {
    format!(
        "cannot reach the Docker daemon at {host}: {message}. Check that the daemon is running and that \
         DOCKER_HOST (or the provider's `docker {{ host = ... }}` setting) points at it"
    )
}

/// How long [`ping`] waits for an answer.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Request timeout for engine calls (builds stream and are bounded by resource timeouts instead).
const TIMEOUT_SECS: u64 = 3600;

impl DockerSettings {
    /// Fills unset fields from the environment.
    pub fn with_env_defaults(mut self) -> Self {
        if self.host.is_none() {
            self.host = std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty());
        }
        if self.cert_path.is_none() {
            let verify = std::env::var("DOCKER_TLS_VERIFY").map(|v| !v.is_empty() && v != "0").unwrap_or(false);
            self.cert_path =
                std::env::var("DOCKER_CERT_PATH").ok().filter(|s| !s.is_empty() && verify).map(PathBuf::from);
        }
        self
    }

    /// The host in use, for messages.
    pub fn host_or_default(&self) -> String {
        self.host.clone().unwrap_or_else(|| "unix:///var/run/docker.sock".into())
    }

    /// Creates the client (no connection is made until the first call).
    pub fn connect(&self) -> Result<Docker, DockerError> {
        let host = self.host_or_default();
        let err = |e: bollard::errors::Error| match e {
            bollard::errors::Error::SocketNotFoundError(_) => {
                DockerError::Unreachable { host: host.clone(), message: "the socket does not exist".into() }
            }
            e => DockerError::Connect { host: host.clone(), message: e.to_string() },
        };
        let version = bollard::API_DEFAULT_VERSION;
        if let Some(path) = host.strip_prefix("unix://") {
            return Docker::connect_with_unix(path, TIMEOUT_SECS, version).map_err(err);
        }
        let addr = if let Some(rest) = host.strip_prefix("tcp://") {
            rest.to_string()
        } else if host.starts_with("http://") || host.starts_with("https://") {
            host.split_once("://").map(|(_, r)| r.to_string()).unwrap_or_default()
        } else {
            return Err(DockerError::BadHost(host));
        };
        match &self.cert_path {
            Some(dir) if !host.starts_with("http://") => Docker::connect_with_ssl(
                &format!("https://{addr}"),
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                TIMEOUT_SECS,
                version,
            )
            .map_err(err),
            _ => Docker::connect_with_http(&format!("http://{addr}"), TIMEOUT_SECS, version).map_err(err),
        }
    }
}

/// Checks that the daemon answers (`GET /_ping`, waiting at most 10 s).
pub async fn ping(docker: &Docker, settings: &DockerSettings) -> Result<(), DockerError> {
    let unreachable = |message| DockerError::Unreachable { host: settings.host_or_default(), message };
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(error_chain(&e))),
        Err(_) => Err(unreachable(format!("no answer within {} s", PING_TIMEOUT.as_secs()))),
    }
}

/// The host a client talks to, in DOCKER_HOST form (`unix:///path`, `tcp://host:port`), for
/// messages. bollard does not expose it, so it is read from the client's `Debug` output (unit
/// tested below); `"the configured Docker host"` if that ever changes shape.
pub fn host_of(docker: &Docker) -> String {
    let debug = format!("{docker:?}");
    let field = |name: &str| debug.rfind(name).map(|i| &debug[i + name.len()..]);
    let addr = field("client_addr: \"").and_then(|rest| rest.split('"').next()).filter(|a| !a.is_empty());
    let unix = field("client_type: ").is_some_and(|rest| rest.starts_with("Unix"));
    match addr {
        Some(addr) if unix => format!("unix://{addr}"),
        Some(addr) => format!("tcp://{addr}"),
        None => "the configured Docker host".to_owned(),
    }
}

/// Whether a bollard error means the daemon could not be reached at all (as opposed to an
/// answer that reports a failure).
pub fn is_unreachable(error: &bollard::errors::Error) -> bool {
    use bollard::errors::Error;
    match error {
        Error::HyperLegacyError { err } => err.is_connect(),
        Error::SocketNotFoundError(_) => true,
        Error::IOError { err } => matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_names_the_socket_or_address() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("docker.sock");
        std::fs::write(&sock, b"").expect("placeholder socket file");
        let host = format!("unix://{}", sock.display());
        let unix = DockerSettings { host: Some(host.clone()), cert_path: None }.connect().expect("unix client");
        assert_eq!(host_of(&unix), host);
        let tcp = DockerSettings { host: Some("tcp://127.0.0.1:2375".into()), cert_path: None }.connect().expect("tcp");
        assert_eq!(host_of(&tcp), "tcp://127.0.0.1:2375");
    }

    #[test]
    fn a_missing_socket_is_unreachable_and_says_what_to_check() {
        let settings = DockerSettings { host: Some("unix:///nonexistent.sock".into()), cert_path: None };
        let err = settings.connect().expect_err("no socket");
        assert!(matches!(err, DockerError::Unreachable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("unix:///nonexistent.sock") && text.contains("DOCKER_HOST"), "{text}");
    }

    #[tokio::test]
    async fn ping_reports_a_dead_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&sock).expect("bind"));
        let settings = DockerSettings { host: Some(format!("unix://{}", sock.display())), cert_path: None };
        let docker = settings.connect().expect("client");
        let err = ping(&docker, &settings).await.expect_err("nobody listens");
        let text = err.to_string();
        assert!(text.contains("dead.sock") && text.contains("refused"), "{text}");
    }
}
