//! Docker: which engine to talk to (unix socket, tcp, tcp+TLS), with the standard DOCKER_*
//! variables as defaults.

use std::path::PathBuf;

use bollard::Docker;

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
}

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
            self.cert_path = std::env::var("DOCKER_CERT_PATH").ok().filter(|s| !s.is_empty() && verify).map(PathBuf::from);
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
        let err = |e: bollard::errors::Error| DockerError::Connect { host: host.clone(), message: e.to_string() };
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
