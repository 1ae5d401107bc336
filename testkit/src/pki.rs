//! A throwaway certificate authority made at test time (with `rcgen`), and a server certificate
//! it issued, for the TLS tests: the client trusts [`TestPki::ca`], the server presents
//! [`TestPki::cert`] with [`TestPki::key`].
//!
//! ```
//! let pki = eventstream_testkit::pki::test_pki();
//! assert!(pki.ca.starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(pki.cert.starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(pki.key.starts_with("-----BEGIN PRIVATE KEY-----"));
//! ```

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A CA made at test time and a server certificate it issued for `localhost` and `127.0.0.1`,
/// all in PEM.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The CA's certificate: what a client trusts.
    pub ca: String,
    /// The server's certificate.
    pub cert: String,
    /// The server's private key (PKCS #8).
    pub key: String,
}

/// A new throwaway CA and a server certificate it issued (see [`TestPki`]); each call makes
/// other keys, so that a client trusting one CA refuses the certificates of another.
///
/// # Panics
///
/// When `rcgen` fails to make a key or a certificate.
pub fn test_pki() -> TestPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "eventstream test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("a CA key"))
        .expect("a CA");
    let key = KeyPair::generate().expect("a server key");
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params");
    let cert = params.signed_by(&key, &ca).expect("a server certificate");
    TestPki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}
