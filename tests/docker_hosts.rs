//! Docker over tcp and tcp+TLS (DOCKER_HOST / DOCKER_CERT_PATH style), not only the unix socket:
//! a loopback proxy in front of the real engine's socket, plain or with mutual TLS.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mlops::clients::docker::{ping, DockerSettings};
use tokio::net::{TcpListener, UnixStream};

fn engine_socket() -> PathBuf {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    PathBuf::from(host.trim_start_matches("unix://"))
}

/// Forwards every TCP connection to the engine's unix socket, optionally through TLS.
async fn proxy(acceptor: Option<tokio_rustls::TlsAcceptor>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut engine) = UnixStream::connect(engine_socket()).await else { return };
                match acceptor {
                    None => {
                        let mut tcp = tcp;
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut engine).await;
                    }
                    Some(acceptor) => {
                        if let Ok(mut tls) = acceptor.accept(tcp).await {
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
                        }
                    }
                }
            });
        }
    });
    port
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as Docker's TLS layout
/// (`ca.pem`, `cert.pem`, `key.pem`) in `dir`; returns the server's TLS acceptor.
fn tls_material(dir: &Path) -> tokio_rustls::TlsAcceptor {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server params")
        .signed_by(&server_key, &issuer)
        .expect("server cert");
    let client_key = KeyPair::generate().expect("client key");
    let client = CertificateParams::new(vec!["client".to_string()])
        .expect("client params")
        .signed_by(&client_key, &issuer)
        .expect("client cert");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca.pem");
    std::fs::write(dir.join("cert.pem"), client.pem()).expect("cert.pem");
    std::fs::write(dir.join("key.pem"), client_key.serialize_pem()).expect("key.pem");

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).expect("root");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .expect("client verifier");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        )
        .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn reaches_the_engine_over_plain_tcp() {
    let Some(_env) = common::env(&["DOCKER_HOST"]) else { return };
    let port = proxy(None).await;
    let settings = DockerSettings { host: Some(format!("tcp://127.0.0.1:{port}")), cert_path: None };
    let docker = settings.connect().expect("client");
    ping(&docker, &settings).await.expect("ping over tcp");
    let version = docker.version().await.expect("version over tcp");
    assert!(version.api_version.is_some());
}

#[tokio::test]
async fn reaches_the_engine_over_mutual_tls_and_refuses_a_wrong_ca() {
    let Some(_env) = common::env(&["DOCKER_HOST"]) else { return };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let certs = tempfile::tempdir().expect("certs");
    let port = proxy(Some(tls_material(certs.path()))).await;
    let settings =
        DockerSettings { host: Some(format!("tcp://127.0.0.1:{port}")), cert_path: Some(certs.path().to_path_buf()) };
    let docker = settings.connect().expect("tls client");
    ping(&docker, &settings).await.expect("ping over TLS");

    // Certificates from another CA: the server is not trusted, so the call fails and says where.
    let other = tempfile::tempdir().expect("other certs");
    let _ = tls_material(other.path());
    let wrong = DockerSettings { host: settings.host.clone(), cert_path: Some(other.path().to_path_buf()) };
    let docker = wrong.connect().expect("client");
    let err = ping(&docker, &wrong).await.expect_err("an untrusted server must be refused");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}
