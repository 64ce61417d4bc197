//! A local Provider Registry Protocol server (and Provider Network Mirror Protocol server) over HTTPS
//! with a throwaway CA, serving one release of `mlops/mlops` that a test can swap or tamper with.
//!
//! Routes (all under `https://127.0.0.1:PORT`):
//! - `GET /.well-known/terraform.json` → `{"providers.v1": "/v1/providers/"}`
//! - `GET /v1/providers/mlops/mlops/versions`
//! - `GET /v1/providers/mlops/mlops/VERSION/download/OS/ARCH`
//! - `GET|HEAD /files/NAME` → the zip, `…_SHA256SUMS`, `…_SHA256SUMS.sig`
//! - `GET /mirror/HOST/mlops/mlops/index.json` and `/mirror/HOST/mlops/mlops/VERSION.json` (network mirror)

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;

/// What the registry serves: one version for one platform, as `make release` wrote it.
#[derive(Clone)]
pub struct Release {
    pub version: String,
    /// `linux_amd64`, …
    pub platform: String,
    pub zip_name: String,
    pub zip: Vec<u8>,
    /// The `shasum` the download endpoint announces (the zip's SHA-256, hex).
    pub shasum: String,
    pub sums_name: String,
    pub sums: Vec<u8>,
    pub sig: Vec<u8>,
    /// Long key ID (16 hex digits) and ASCII-armored public key announced as the signing key.
    pub key_id: String,
    pub armor: String,
    /// `hashes` of the network mirror's archive entry (lock-file format: `h1:…`, `zh:…`).
    pub mirror_hashes: Vec<String>,
}

#[derive(Default)]
struct State {
    release: Option<Release>,
    requests: Vec<String>,
}

/// The running server; stops when dropped (its runtime goes with it).
pub struct Registry {
    pub port: u16,
    /// PEM of the CA that signed the server certificate (trust it through `SSL_CERT_FILE`).
    pub ca_file: PathBuf,
    /// An empty directory for `SSL_CERT_DIR`, so that only our CA is trusted.
    pub ca_dir: PathBuf,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl Registry {
    /// Starts the server on an ephemeral port of 127.0.0.1, writing the CA into `dir`.
    pub fn start(dir: &Path) -> Self {
        let (acceptor, ca_pem) = tls();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_pem).expect("write ca.pem");
        let ca_dir = dir.join("no-other-cas");
        std::fs::create_dir_all(&ca_dir).expect("mkdir");

        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let state = shared.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(route(&state, port, &req)) }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
        Self { port, ca_file, ca_dir, state, _runtime: runtime }
    }

    /// Serves `release` from now on (replacing what was served).
    pub fn serve(&self, release: Release) {
        lock(&self.state).release = Some(release);
    }

    /// `METHOD /path` of every request since the last call, and forgets them.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.state).requests)
    }

    /// The environment Terraform needs to trust this server, and only it.
    pub fn tls_env(&self) -> Vec<(String, String)> {
        vec![
            ("SSL_CERT_FILE".into(), self.ca_file.display().to_string()),
            ("SSL_CERT_DIR".into(), self.ca_dir.display().to_string()),
        ]
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A CA and a server certificate for 127.0.0.1/localhost signed by it: (acceptor, CA PEM).
fn tls() -> (tokio_rustls::TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.distinguished_name.push(DnType::CommonName, "mlops registry test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("server params");
    params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &issuer).expect("server cert");

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca.pem())
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("response")
}

fn json_response(value: serde_json::Value) -> Response<Full<Bytes>> {
    respond(StatusCode::OK, "application/json", value.to_string())
}

fn not_found() -> Response<Full<Bytes>> {
    respond(StatusCode::NOT_FOUND, "application/json", r#"{"errors":["Not Found"]}"#)
}

fn route(state: &Mutex<State>, port: u16, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let mut st = lock(state);
    st.requests.push(format!("{} {path}", req.method()));
    let Some(rel) = st.release.clone() else { return not_found() };
    drop(st);
    let base = format!("https://127.0.0.1:{port}");
    let (os, arch) = rel.platform.split_once('_').expect("platform is OS_ARCH");
    let is_get = req.method() == Method::GET;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method().clone(), segments.as_slice()) {
        (Method::GET, [".well-known", "terraform.json"]) => json_response(json!({ "providers.v1": "/v1/providers/" })),
        (Method::GET, ["v1", "providers", "mlops", "mlops", "versions"]) => json_response(json!({
            "versions": [{
                "version": rel.version,
                "protocols": ["6.0"],
                "platforms": [{ "os": os, "arch": arch }],
            }]
        })),
        (Method::GET, ["v1", "providers", "mlops", "mlops", v, "download", o, a])
            if *v == rel.version && *o == os && *a == arch =>
        {
            json_response(json!({
                "protocols": ["6.0"],
                "os": os,
                "arch": arch,
                "filename": rel.zip_name,
                "download_url": format!("{base}/files/{}", rel.zip_name),
                "shasums_url": format!("{base}/files/{}", rel.sums_name),
                "shasums_signature_url": format!("{base}/files/{}.sig", rel.sums_name),
                "shasum": rel.shasum,
                "signing_keys": { "gpg_public_keys": [{
                    "key_id": rel.key_id,
                    "ascii_armor": rel.armor,
                    "trust_signature": "",
                    "source": "mlops tests",
                    "source_url": null,
                }]},
            }))
        }
        (Method::GET | Method::HEAD, ["files", name]) => {
            let body = if *name == rel.zip_name {
                rel.zip
            } else if *name == rel.sums_name {
                rel.sums
            } else if *name == format!("{}.sig", rel.sums_name) {
                rel.sig
            } else {
                return not_found();
            };
            let len = body.len();
            let mut resp = respond(StatusCode::OK, "application/octet-stream", if is_get { body } else { Vec::new() });
            resp.headers_mut().insert("content-length", len.into());
            resp
        }
        (Method::GET, ["mirror", _host, "mlops", "mlops", "index.json"]) => {
            json_response(json!({ "versions": { rel.version.clone(): {} } }))
        }
        (Method::GET, ["mirror", _host, "mlops", "mlops", doc]) if *doc == format!("{}.json", rel.version) => {
            json_response(json!({
                "archives": { rel.platform.clone(): {
                    // Relative to this document's URL, as the protocol allows.
                    "url": format!("../../../../files/{}", rel.zip_name),
                    "hashes": rel.mirror_hashes,
                }}
            }))
        }
        _ => not_found(),
    }
}
