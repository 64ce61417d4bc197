//! The real binary's go-plugin handshake: refusal when run by hand, the single stdout line,
//! AutoMTLS with the client certificate pinned, health, and controller shutdown.

#[path = "common/pinned.rs"]
mod pinned;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use pinned::PinnedServer;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tfplug::handshake::MAGIC_COOKIE_VALUE;
use tfplug::proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplug::proto::plugin::Empty;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-mlops"))
}

#[test]
fn run_by_hand_it_explains_and_exits_1() {
    let out = Command::new(binary()).env_remove("TF_PLUGIN_MAGIC_COOKIE").output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing may go to stdout: {:?}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plugin for Terraform") && err.contains("--debug"), "{err}");
}

#[test]
fn refuses_protocols_other_than_6() {
    let out = Command::new(binary())
        .env("TF_PLUGIN_MAGIC_COOKIE", MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("speaks only version 6"));
}

/// A P-521 client certificate like the one Terraform makes, as (PEM, DER, PKCS#8 key).
fn client_cert() -> (String, Vec<u8>, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), cert.der().to_vec(), key.serialize_der())
}

struct Plugin {
    child: Child,
    socket: PathBuf,
    server_cert: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(client_pem: &str) -> Plugin {
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = Command::new(binary())
        .env("TF_PLUGIN_MAGIC_COOKIE", MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_CLIENT_CERT", client_pem)
        .env("PLUGIN_UNIX_SOCKET_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("read line");
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(fields.len(), 6, "handshake line {line:?}");
    assert_eq!(&fields[..3], ["1", "6", "unix"]);
    assert_eq!(fields[4], "grpc");
    let socket = PathBuf::from(fields[3]);
    assert!(socket.starts_with(dir.path()), "socket {socket:?} not in PLUGIN_UNIX_SOCKET_DIR");
    assert!(!fields[5].ends_with('='), "base64 must be unpadded");
    let server_cert = base64::engine::general_purpose::STANDARD_NO_PAD.decode(fields[5]).expect("base64 cert");
    Plugin { child, socket, server_cert, _dir: dir }
}

async fn channel(p: &Plugin, client: Option<(&[u8], &[u8])>) -> Result<Channel, tonic::transport::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(p.server_cert.clone(), provider)));
    let mut config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(cert.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
            )
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let socket = p.socket.clone();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let connector = connector.clone();
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
                let tls = connector.connect(name, stream).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
}

async fn health(ch: Channel) -> Result<i32, tonic::Status> {
    let resp = HealthClient::new(ch).check(HealthCheckRequest { service: "plugin".into() }).await?;
    Ok(resp.into_inner().status)
}

#[tokio::test]
async fn automtls_accepts_only_the_pinned_client_certificate() {
    let (pem, der, key) = client_cert();
    let plugin = start(&pem);

    // The right certificate: health says SERVING.
    let ch = channel(&plugin, Some((&der, &key))).await.expect("connect with pinned cert");
    assert_eq!(health(ch).await.expect("health"), ServingStatus::Serving as i32);

    // Another certificate, even a well-formed P-521 one: refused.
    let (_, other_der, other_key) = client_cert();
    let refused = match channel(&plugin, Some((&other_der, &other_key))).await {
        Err(_) => true,
        Ok(ch) => health(ch).await.is_err(),
    };
    assert!(refused, "a foreign client certificate must be refused");

    // No certificate at all: refused.
    let refused = match channel(&plugin, None).await {
        Err(_) => true,
        Ok(ch) => health(ch).await.is_err(),
    };
    assert!(refused, "a client without a certificate must be refused");

    // The pinned client still works after the refusals.
    let ch = channel(&plugin, Some((&der, &key))).await.expect("reconnect");
    assert_eq!(health(ch).await.expect("health again"), ServingStatus::Serving as i32);
}

#[tokio::test]
async fn controller_shutdown_exits_and_removes_the_socket() {
    let (pem, der, key) = client_cert();
    let mut plugin = start(&pem);
    let ch = channel(&plugin, Some((&der, &key))).await.expect("connect");
    GrpcControllerClient::new(ch).shutdown(Empty {}).await.expect("shutdown");
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = plugin.child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "plugin did not exit after Shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(!plugin.socket.exists(), "socket file left behind");
}

#[test]
fn exits_when_terraform_disappears_without_cleaning_up() {
    // A shell plays Terraform: it starts the plugin, prints its pid, and exits without killing it.
    let (pem, _, _) = client_cert();
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' >/dev/null 2>&1 & echo $!; sleep 0.3", binary().display()))
        .env("TF_PLUGIN_MAGIC_COOKIE", MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env("PLUGIN_CLIENT_CERT", &pem)
        .env("PLUGIN_UNIX_SOCKET_DIR", dir.path())
        .output()
        .expect("run sh");
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("pid");
    let alive = || {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    };
    assert!(alive(), "the plugin must outlive the shell that started it");
    let deadline = Instant::now() + Duration::from_secs(6);
    while alive() {
        assert!(Instant::now() < deadline, "the orphaned plugin kept running");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn exits_when_terraform_closes_its_end_of_stdout() {
    // Terraform gone, its parent still alive (here: this test): only the closed pipe tells.
    let (pem, _, _) = client_cert();
    let mut plugin = start(&pem);
    drop(plugin.child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = plugin.child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the plugin kept running after its stdout reader went away");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    assert!(!plugin.socket.exists(), "socket file left behind");
}
