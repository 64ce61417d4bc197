//! AutoMTLS: the server side of go-plugin's mutual TLS, with the client certificate *pinned*.
//!
//! Terraform generates a fresh ECDSA P-521 certificate per run and passes it in
//! `PLUGIN_CLIENT_CERT`. We accept a connection only from a peer presenting exactly that
//! certificate and proving possession of its key.
//!
//! The crypto backend is `ring`, which cannot verify P-521. Signatures made with a P-521 client
//! key are therefore checked here: `ring` hashes the signed message (SHA-256/384/512, as the
//! scheme says) and RustCrypto's `p521` + `ecdsa` verify the prehashed DER signature. Every
//! other key type goes through ring's normal path.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, PeerIncompatible, ServerConfig, SignatureScheme,
};

/// Accepts only the one pinned certificate.
#[derive(Debug)]
pub struct PinnedClientCert {
    pinned_der: Vec<u8>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedClientCert {
    pub fn new(pinned_der: Vec<u8>, provider: &CryptoProvider) -> Self {
        Self { pinned_der, algorithms: provider.signature_verification_algorithms }
    }
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if end_entity.as_ref() == self.pinned_der.as_slice() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match p521_public_key(cert)? {
            // TLS 1.2 does not tie the hash to the curve: Go's client may sign with any
            // ECDSA scheme we advertise, whatever its key's curve.
            Some(key) => verify_p521(&key, dss.scheme, message, dss.signature()),
            None => verify_tls12_signature(message, cert, dss, &self.algorithms),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match p521_public_key(cert)? {
            // TLS 1.3 binds the curve to the hash: a P-521 key signs with SHA-512 only.
            Some(key) if dss.scheme == SignatureScheme::ECDSA_NISTP521_SHA512 => {
                verify_p521(&key, dss.scheme, message, dss.signature())
            }
            Some(_) => Err(Error::PeerIncompatible(PeerIncompatible::NoSignatureSchemesInCommon)),
            None => verify_tls13_signature(message, cert, dss, &self.algorithms),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // P-521 first: in TLS 1.2 Go's client signs with the first ECDSA scheme of this list.
        let mut schemes = vec![SignatureScheme::ECDSA_NISTP521_SHA512];
        schemes.extend(
            self.algorithms.supported_schemes().into_iter().filter(|s| *s != SignatureScheme::ECDSA_NISTP521_SHA512),
        );
        schemes
    }
}

/// Verifies an ECDSA signature (ASN.1 DER) made by a P-521 key over `message`, hashed with the
/// scheme's digest.
fn verify_p521(
    key: &p521::PublicKey,
    scheme: SignatureScheme,
    message: &[u8],
    signature: &[u8],
) -> Result<HandshakeSignatureValid, Error> {
    let digest_alg = match scheme {
        SignatureScheme::ECDSA_NISTP256_SHA256 => &ring::digest::SHA256,
        SignatureScheme::ECDSA_NISTP384_SHA384 => &ring::digest::SHA384,
        SignatureScheme::ECDSA_NISTP521_SHA512 => &ring::digest::SHA512,
        _ => return Err(Error::PeerIncompatible(PeerIncompatible::NoSignatureSchemesInCommon)),
    };
    let digest = ring::digest::digest(digest_alg, message);
    // The digest is shorter than the 521-bit order, so it is taken whole (SEC 1, 4.1.4 step 5):
    // left-pad it to the field size; `verify_prehashed` reduces it modulo n.
    let mut z = p521::FieldBytes::default();
    let hash = digest.as_ref();
    let start = z.len() - hash.len();
    z[start..].copy_from_slice(hash);
    let bad = || Error::InvalidCertificate(CertificateError::BadSignature);
    let signature = ecdsa::Signature::<p521::NistP521>::from_der(signature).map_err(|_| bad())?;
    ecdsa::hazmat::verify_prehashed::<p521::NistP521>(&key.to_projective(), &z, &signature).map_err(|_| bad())?;
    Ok(HandshakeSignatureValid::assertion())
}

/// DER: the id-ecPublicKey OID (1.2.840.10045.2.1) and the secp521r1 curve OID (1.3.132.0.35).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_SECP521R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// The certificate's public key if it is an EC P-521 key; `None` for any other key type.
fn p521_public_key(cert: &CertificateDer<'_>) -> Result<Option<p521::PublicKey>, Error> {
    let bad = || Error::InvalidCertificate(CertificateError::BadEncoding);
    let spki = spki_parts(cert.as_ref()).ok_or_else(bad)?;
    if spki.algorithm != OID_EC_PUBLIC_KEY || spki.curve != Some(OID_SECP521R1) {
        return Ok(None);
    }
    p521::PublicKey::from_sec1_bytes(spki.key).map(Some).map_err(|_| bad())
}

/// The parts of a SubjectPublicKeyInfo we look at (OIDs as DER contents, without tag and length).
struct SpkiParts<'a> {
    algorithm: &'a [u8],
    /// The algorithm parameter if it is an OID (an EC key's named curve).
    curve: Option<&'a [u8]>,
    /// The key bits (for EC, the SEC 1 encoded point).
    key: &'a [u8],
}

/// From an X.509 certificate: its SubjectPublicKeyInfo.
fn spki_parts(cert: &[u8]) -> Option<SpkiParts<'_>> {
    const SEQUENCE: u8 = 0x30;
    let (certificate, _) = der_expect(cert, SEQUENCE)?;
    let (mut tbs, _) = der_expect(certificate, SEQUENCE)?;
    // version [0] EXPLICIT (optional), serialNumber, signature, issuer, validity, subject.
    if tbs.first() == Some(&0xa0) {
        tbs = der_tlv(tbs)?.2;
    }
    for tag in [0x02, SEQUENCE, SEQUENCE, SEQUENCE, SEQUENCE] {
        tbs = der_expect(tbs, tag)?.1;
    }
    let (spki, _) = der_expect(tbs, SEQUENCE)?;
    let (algorithm, rest) = der_expect(spki, SEQUENCE)?;
    let (bits, _) = der_expect(rest, 0x03)?;
    let (algorithm, params) = der_expect(algorithm, 0x06)?;
    let curve = der_expect(params, 0x06).map(|(oid, _)| oid);
    // BIT STRING: a leading count of unused bits, which must be 0 for a key.
    match bits.split_first() {
        Some((0, key)) => Some(SpkiParts { algorithm, curve, key }),
        _ => None,
    }
}

/// One DER element of the given tag: (contents, rest).
fn der_expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, contents, rest) = der_tlv(input)?;
    (t == tag).then_some((contents, rest))
}

/// One DER element: (tag, contents, rest). Single-byte tags, definite lengths.
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || input.len() < n {
            return None;
        }
        let (bytes, rest) = input.split_at(n);
        input = rest;
        bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    (input.len() >= len).then(|| (tag, &input[..len], &input[len..]))
}

/// The rustls server configuration for AutoMTLS: our certificate, the pinned client, ALPN h2.
pub fn server_config(
    cert_der: Vec<u8>,
    key_pkcs8_der: Vec<u8>,
    pinned_client_der: Vec<u8>,
) -> Result<ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedClientCert::new(pinned_client_der, &provider));
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8_der));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(cert_der)], key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    //! Real handshakes between a rustls client holding a P-521 certificate (as go-plugin's
    //! AutoMTLS client does) and our server configuration, over memory.

    use super::*;
    use p521::elliptic_curve::sec1::ToEncodedPoint;
    use p521::{NistP521, NonZeroScalar};
    use ring::rand::SecureRandom;
    use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
    use rustls::client::ResolvesClientCert;
    use rustls::pki_types::ServerName;
    use rustls::sign::{CertifiedKey, Signer, SigningKey};
    use rustls::{ClientConfig, ClientConnection, ProtocolVersion, ServerConnection, SignatureAlgorithm};

    fn random_scalar() -> NonZeroScalar {
        loop {
            let mut bytes = p521::FieldBytes::default();
            ring::rand::SystemRandom::new().fill(&mut bytes).expect("random");
            bytes[0] = 0; // below 2^520, hence below the group order
            if let Some(s) = Option::from(NonZeroScalar::from_repr(bytes)) {
                return s;
            }
        }
    }

    /// ECDSA over P-521 with the scheme's hash, DER-encoded.
    fn sign(d: &NonZeroScalar, scheme: SignatureScheme, message: &[u8]) -> Vec<u8> {
        let alg = match scheme {
            SignatureScheme::ECDSA_NISTP256_SHA256 => &ring::digest::SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384 => &ring::digest::SHA384,
            _ => &ring::digest::SHA512,
        };
        let digest = ring::digest::digest(alg, message);
        let mut z = p521::FieldBytes::default();
        z[66 - digest.as_ref().len()..].copy_from_slice(digest.as_ref());
        let (sig, _) = ecdsa::hazmat::sign_prehashed::<NistP521, _>(d, *random_scalar(), &z).expect("sign");
        sig.to_der().as_bytes().to_vec()
    }

    fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = contents.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(contents);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        der(0x30, &parts.concat())
    }

    /// A self-signed X.509 v3 certificate for a P-521 key, signed ecdsa-with-SHA512, like
    /// go-plugin's `generateCert`.
    fn p521_cert(d: &NonZeroScalar) -> Vec<u8> {
        let ecdsa_with_sha512 = seq(&[der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04])]);
        let name = seq(&[der(0x31, &seq(&[der(0x06, &[0x55, 0x04, 0x03]), der(0x0c, b"localhost")]))]);
        let point = p521::PublicKey::from_secret_scalar(d).to_encoded_point(false);
        let spki = seq(&[
            seq(&[der(0x06, OID_EC_PUBLIC_KEY), der(0x06, OID_SECP521R1)]),
            der(0x03, &[&[0u8][..], point.as_bytes()].concat()),
        ]);
        let tbs = seq(&[
            der(0xa0, &der(0x02, &[2])),
            der(0x02, &[0x01, 0x23, 0x45]),
            ecdsa_with_sha512.clone(),
            name.clone(),
            seq(&[der(0x17, b"250101000000Z"), der(0x17, b"350101000000Z")]),
            name,
            spki,
        ]);
        let signature = sign(d, SignatureScheme::ECDSA_NISTP521_SHA512, &tbs);
        seq(&[tbs, ecdsa_with_sha512, der(0x03, &[&[0u8][..], &signature].concat())])
    }

    /// The client's P-521 key, signing with `scheme` (any ECDSA scheme in TLS 1.2, as Go does).
    #[derive(Clone)]
    struct P521Key {
        d: NonZeroScalar,
        scheme: SignatureScheme,
        tamper: bool,
    }

    impl std::fmt::Debug for P521Key {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("P521Key").field("scheme", &self.scheme).field("tamper", &self.tamper).finish()
        }
    }

    impl SigningKey for P521Key {
        fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
            offered.contains(&self.scheme).then(|| Box::new(self.clone()) as Box<dyn Signer>)
        }
        fn algorithm(&self) -> SignatureAlgorithm {
            SignatureAlgorithm::ECDSA
        }
    }

    impl Signer for P521Key {
        fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
            let mut sig = sign(&self.d, self.scheme, message);
            if self.tamper {
                let last = sig.len() - 1;
                sig[last] ^= 1;
            }
            Ok(sig)
        }
        fn scheme(&self) -> SignatureScheme {
            self.scheme
        }
    }

    #[derive(Debug)]
    struct ClientCert(Arc<CertifiedKey>);

    impl ResolvesClientCert for ClientCert {
        fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }

    /// The client side of the test trusts any server certificate but checks its signatures.
    #[derive(Debug)]
    struct AnyServer(WebPkiSupportedAlgorithms);

    impl ServerCertVerifier for AnyServer {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls12_signature(message, cert, dss, &self.0)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls13_signature(message, cert, dss, &self.0)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_schemes()
        }
    }

    struct Client {
        d: NonZeroScalar,
        cert: Vec<u8>,
    }

    fn new_client() -> Client {
        let d = random_scalar();
        let cert = p521_cert(&d);
        Client { d, cert }
    }

    /// Runs a full handshake over memory; Ok(version) if both sides completed it.
    fn handshake(
        client: &Client,
        pinned: &[u8],
        version: &'static rustls::SupportedProtocolVersion,
        scheme: SignatureScheme,
        tamper: bool,
    ) -> Result<ProtocolVersion, Error> {
        let server_cert = crate::handshake::generate_server_cert().expect("server cert");
        let server_config = server_config(server_cert.cert_der, server_cert.key_pkcs8_der, pinned.to_vec())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = P521Key { d: client.d, scheme, tamper };
        let certified = CertifiedKey::new(vec![CertificateDer::from(client.cert.clone())], Arc::new(key));
        let mut client_config = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[version])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider.signature_verification_algorithms)))
            .with_client_cert_resolver(Arc::new(ClientCert(Arc::new(certified))));
        client_config.alpn_protocols = vec![b"h2".to_vec()];
        let name = ServerName::try_from("localhost").expect("name");
        let mut c = ClientConnection::new(Arc::new(client_config), name)?;
        let mut s = ServerConnection::new(Arc::new(server_config))?;
        for _ in 0..10 {
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).expect("client write");
            }
            s.read_tls(&mut buf.as_slice()).expect("server read");
            s.process_new_packets()?;
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf).expect("server write");
            }
            c.read_tls(&mut buf.as_slice()).expect("client read");
            c.process_new_packets()?;
            if !c.is_handshaking() && !s.is_handshaking() {
                let peer = s.peer_certificates().expect("client certificate");
                assert_eq!(peer[0].as_ref(), pinned);
                assert_eq!(s.alpn_protocol(), Some(&b"h2"[..]));
                return Ok(s.protocol_version().expect("version"));
            }
        }
        panic!("handshake did not finish");
    }

    const P521: SignatureScheme = SignatureScheme::ECDSA_NISTP521_SHA512;

    #[test]
    fn p521_client_completes_tls13_and_tls12() {
        let client = new_client();
        let v13 = handshake(&client, &client.cert, &rustls::version::TLS13, P521, false).expect("TLS 1.3");
        assert_eq!(v13, ProtocolVersion::TLSv1_3);
        let v12 = handshake(&client, &client.cert, &rustls::version::TLS12, P521, false).expect("TLS 1.2");
        assert_eq!(v12, ProtocolVersion::TLSv1_2);
    }

    #[test]
    fn tls12_accepts_a_p521_key_signing_with_other_ecdsa_hashes() {
        // Go's TLS 1.2 client may pair its P-521 key with SHA-256 or SHA-384.
        let client = new_client();
        for scheme in [SignatureScheme::ECDSA_NISTP256_SHA256, SignatureScheme::ECDSA_NISTP384_SHA384] {
            let v = handshake(&client, &client.cert, &rustls::version::TLS12, scheme, false).expect("TLS 1.2");
            assert_eq!(v, ProtocolVersion::TLSv1_2);
        }
        // TLS 1.3 ties P-521 to SHA-512: the same pairing is refused there.
        let e =
            handshake(&client, &client.cert, &rustls::version::TLS13, SignatureScheme::ECDSA_NISTP256_SHA256, false);
        assert!(e.is_err(), "{e:?}");
    }

    #[test]
    fn refuses_a_different_p521_certificate() {
        let pinned = new_client();
        let other = new_client();
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let e = handshake(&other, &pinned.cert, version, P521, false).expect_err("refused");
            assert_eq!(e, Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure));
        }
    }

    #[test]
    fn refuses_a_tampered_signature() {
        let client = new_client();
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let e = handshake(&client, &client.cert, version, P521, true).expect_err("refused");
            assert_eq!(e, Error::InvalidCertificate(CertificateError::BadSignature));
        }
    }

    #[test]
    fn refuses_the_pinned_certificate_with_another_key() {
        // The pinned certificate, but a signature by a key other than the one it names.
        let client = new_client();
        let impostor = Client { d: random_scalar(), cert: client.cert.clone() };
        let e = handshake(&impostor, &client.cert, &rustls::version::TLS13, P521, false).expect_err("refused");
        assert_eq!(e, Error::InvalidCertificate(CertificateError::BadSignature));
    }

    #[test]
    fn advertises_p521_first_and_parses_spki() {
        let provider = rustls::crypto::ring::default_provider();
        let verifier = PinnedClientCert::new(Vec::new(), &provider);
        let schemes = verifier.supported_verify_schemes();
        assert_eq!(schemes[0], P521);
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256));
        let client = new_client();
        assert!(p521_public_key(&CertificateDer::from(client.cert.clone())).expect("parse").is_some());
        // rcgen's P-256 server certificate is not P-521: ring's path handles it.
        let p256 = crate::handshake::generate_server_cert().expect("cert");
        assert!(p521_public_key(&CertificateDer::from(p256.cert_der)).expect("parse").is_none());
        assert!(p521_public_key(&CertificateDer::from(vec![0x30, 0x03, 0x02])).is_err());
    }
}
