//! The go-plugin handshake: magic cookie, protocol negotiation, the one stdout line, and the
//! AutoMTLS certificates. Pure functions over an explicit environment, so they are unit-tested.

use std::path::Path;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Environment variable holding the magic cookie that proves Terraform started us.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// The value Terraform sets it to.
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's own protocol version (first field of the handshake line).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The Terraform plugin protocol we speak.
pub const APP_PROTOCOL_VERSION: u32 = 6;

/// The variables the handshake reads, captured once so tests can supply their own.
#[derive(Debug, Clone, Default)]
pub struct HandshakeEnv {
    pub magic_cookie: Option<String>,
    pub protocol_versions: Option<String>,
    pub client_cert_pem: Option<String>,
    pub unix_socket_dir: Option<String>,
}

impl HandshakeEnv {
    pub fn from_process() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            magic_cookie: get(MAGIC_COOKIE_KEY),
            protocol_versions: get("PLUGIN_PROTOCOL_VERSIONS"),
            client_cert_pem: get("PLUGIN_CLIENT_CERT"),
            unix_socket_dir: get("PLUGIN_UNIX_SOCKET_DIR"),
        }
    }
}

/// Why the handshake cannot proceed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HandshakeError {
    /// Run by hand rather than by Terraform.
    #[error(
        "This binary is a plugin for Terraform and is not meant to be run directly.\n\
         Declare it in a terraform {{ required_providers {{ … }} }} block and run `terraform init`,\n\
         or start it with --debug to attach Terraform through TF_REATTACH_PROVIDERS."
    )]
    NotStartedByTerraform,
    /// Terraform asked only for protocol versions we do not speak.
    #[error(
        "Terraform offered plugin protocol versions {offered:?}, but this provider speaks only version 6. \
         Use Terraform 1.0 or newer."
    )]
    UnsupportedProtocol { offered: String },
    /// PLUGIN_CLIENT_CERT did not hold a PEM certificate.
    #[error("PLUGIN_CLIENT_CERT does not contain a PEM certificate: {0}")]
    BadClientCert(String),
}

/// What the handshake settled.
#[derive(Debug, Clone, PartialEq)]
pub struct Negotiated {
    pub protocol_version: u32,
    /// DER of the one client certificate to accept (AutoMTLS), if Terraform sent one.
    pub client_cert_der: Option<Vec<u8>>,
}

/// Checks the cookie, picks protocol 6, and parses the client certificate.
pub fn negotiate(env: &HandshakeEnv) -> Result<Negotiated, HandshakeError> {
    if env.magic_cookie.as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(HandshakeError::NotStartedByTerraform);
    }
    if let Some(offered) = &env.protocol_versions {
        let speaks_ours = offered.split(',').any(|v| v.trim().parse::<u32>() == Ok(APP_PROTOCOL_VERSION));
        if !speaks_ours {
            return Err(HandshakeError::UnsupportedProtocol { offered: offered.clone() });
        }
    }
    let client_cert_der = match &env.client_cert_pem {
        None => None,
        Some(pem) => Some(
            CertificateDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| HandshakeError::BadClientCert(e.to_string()))?
                .to_vec(),
        ),
    };
    Ok(Negotiated { protocol_version: APP_PROTOCOL_VERSION, client_cert_der })
}

/// The single line printed on stdout once the socket listens:
/// `1|6|unix|/path/to/sock|grpc|<server cert DER, base64 without padding>`.
pub fn handshake_line(socket: &Path, server_cert_der: Option<&[u8]>) -> String {
    let cert = server_cert_der.map(|d| base64::engine::general_purpose::STANDARD_NO_PAD.encode(d)).unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|unix|{}|grpc|{cert}", socket.display())
}

/// A self-signed server certificate and its PKCS#8 key.
pub struct ServerCert {
    pub cert_der: Vec<u8>,
    pub key_pkcs8_der: Vec<u8>,
}

/// Generates the per-process server certificate: ECDSA P-256, SAN `localhost`, usable as its
/// own CA (the client puts exactly this certificate in its root pool).
pub fn generate_server_cert() -> Result<ServerCert, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "terraform-provider-mlops");
    params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyCertSign];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.self_signed(&key)?;
    Ok(ServerCert { cert_der: cert.der().to_vec(), key_pkcs8_der: key.serialize_der() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HandshakeEnv {
        HandshakeEnv { magic_cookie: Some(MAGIC_COOKIE_VALUE.into()), ..Default::default() }
    }

    #[test]
    fn refuses_without_cookie() {
        let e = HandshakeEnv::default();
        assert_eq!(negotiate(&e), Err(HandshakeError::NotStartedByTerraform));
        let wrong = HandshakeEnv { magic_cookie: Some("nope".into()), ..Default::default() };
        assert_eq!(negotiate(&wrong), Err(HandshakeError::NotStartedByTerraform));
        assert!(HandshakeError::NotStartedByTerraform.to_string().contains("not meant to be run directly"));
    }

    #[test]
    fn picks_protocol_six() {
        let mut e = env();
        e.protocol_versions = Some("5,6".into());
        assert_eq!(negotiate(&e).map(|n| n.protocol_version), Ok(6));
        e.protocol_versions = Some("4,5".into());
        assert!(matches!(negotiate(&e), Err(HandshakeError::UnsupportedProtocol { .. })));
    }

    #[test]
    fn line_has_six_fields_and_unpadded_base64() {
        let line = handshake_line(Path::new("/tmp/plugin1"), Some(&[1, 2, 3, 4]));
        assert_eq!(line, "1|6|unix|/tmp/plugin1|grpc|AQIDBA");
        assert_eq!(handshake_line(Path::new("/s"), None), "1|6|unix|/s|grpc|");
    }

    #[test]
    fn parses_client_cert_and_rejects_garbage() {
        let cert = generate_server_cert().expect("cert");
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::engine::general_purpose::STANDARD.encode(&cert.cert_der)
        );
        let mut e = env();
        e.client_cert_pem = Some(pem);
        assert_eq!(negotiate(&e).expect("ok").client_cert_der, Some(cert.cert_der));
        e.client_cert_pem = Some("not a cert".into());
        assert!(matches!(negotiate(&e), Err(HandshakeError::BadClientCert(_))));
    }
}
