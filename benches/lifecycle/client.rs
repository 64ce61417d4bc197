//! Starting the provider binary the way Terraform's go-plugin client does: the environment, the
//! handshake line, and a gRPC channel over the unix socket with AutoMTLS (our P-521 client
//! certificate, the server's certificate pinned from the handshake line).

#[path = "../../tests/common/pinned.rs"]
mod pinned;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use pinned::PinnedServer;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tfplug::handshake::MAGIC_COOKIE_VALUE;
use tonic::transport::{Channel, Endpoint};

/// Terraform's side of AutoMTLS: a fresh self-signed P-521 certificate per run.
pub struct ClientCert {
    pub pem: String,
    der: Vec<u8>,
    key: Vec<u8>,
}

impl ClientCert {
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("cert");
        Self { pem: cert.pem(), der: cert.der().to_vec(), key: key.serialize_der() }
    }
}

/// A started plugin, after its handshake line.
pub struct Plugin {
    pub child: Child,
    /// Our end of the plugin's stdout pipe; dropping it is what Terraform's exit does.
    pub stdout: Option<BufReader<ChildStdout>>,
    pub socket: PathBuf,
    server_cert: Vec<u8>,
    /// Spawn → handshake line read.
    pub handshake: Duration,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `binary` as go-plugin does and reads its handshake line.
pub fn start(binary: &Path, cert: &ClientCert, socket_dir: &Path) -> Plugin {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env("TF_PLUGIN_MAGIC_COOKIE", MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("PLUGIN_CLIENT_CERT", &cert.pem)
        .env("PLUGIN_UNIX_SOCKET_DIR", socket_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the provider");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("handshake line");
    let handshake = started.elapsed();
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(fields.len(), 6, "handshake line {line:?}");
    let server_cert = base64::engine::general_purpose::STANDARD_NO_PAD.decode(fields[5]).expect("certificate");
    Plugin { child, stdout: Some(stdout), socket: PathBuf::from(fields[3]), server_cert, handshake }
}

/// A gRPC channel to the plugin with AutoMTLS.
pub async fn channel(p: &Plugin, cert: &ClientCert) -> Channel {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(p.server_cert.clone(), provider)))
        .with_client_auth_cert(
            vec![CertificateDer::from(cert.der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone())),
        )
        .expect("client auth");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let socket = p.socket.clone();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, socket) = (connector.clone(), socket.clone());
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(TokioIo::new(connector.connect(name, stream).await?))
            }
        }))
        .await
        .expect("connect to the plugin")
}
