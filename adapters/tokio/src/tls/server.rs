//! The server's TLS configuration: a certificate chain and its private key, from PEM, with ALPN
//! `h2`.

use super::ALPN_H2;
use crate::error::Error;
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::sync::Arc;

/// A rustls server configuration (the ring crypto provider, TLS 1.2 and 1.3, no client
/// certificates) that presents the certificate chain of `cert_pem` with the private key of
/// `key_pem`, and selects ALPN `h2`.
///
/// `cert_pem` holds one or more `CERTIFICATE` blocks, the server's own first, then the
/// intermediates; `key_pem` one private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or
/// `EC PRIVATE KEY`); other blocks are skipped. A client that offers ALPN without `h2` is
/// refused during the handshake (`no_application_protocol`); one that offers no ALPN at all is
/// accepted and must speak HTTP/2 (prior knowledge over TLS).
///
/// Give the configuration to [`Mirror::with_tls`](crate::mirror::Mirror::with_tls) or
/// [`ServerBuilder::handshake_tls`](crate::ServerBuilder::handshake_tls).
///
/// ```no_run
/// # fn doc() -> Result<(), Box<dyn std::error::Error>> {
/// let cert = std::fs::read("server.crt")?;
/// let key = std::fs::read("server.key")?;
/// let tls = eventstream_tokio::tls::server_config_from_pem(&cert, &key)?;
/// assert_eq!(tls.alpn_protocols, [b"h2".to_vec()]);
/// let mirror = eventstream_tokio::mirror::Mirror::new().with_tls(tls);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Error::InvalidPem`] (kind `invalid_pem`) when `cert_pem` has no certificate, `key_pem` no
/// private key, or a block is malformed; [`Error::Tls`] (kind `tls`) when rustls refuses the
/// pair: a key of an unsupported type, or one that does not belong to the certificate.
pub fn server_config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, Error> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("the certificate", e))?;
    if certs.is_empty() {
        return Err(Error::InvalidPem(
            "the certificate file has no CERTIFICATE block".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => Error::InvalidPem(
            "the key file has no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block".into(),
        ),
        e => pem_error("the private key", e),
    })?;
    let mut config = ServerConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(tls_error)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// A PEM parsing failure of `what`.
fn pem_error(what: &str, e: pem::Error) -> Error {
    Error::InvalidPem(format!("{what}: {e}"))
}

/// A rustls configuration failure.
fn tls_error(e: rustls::Error) -> Error {
    Error::Tls(Arc::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key, in PEM.
    fn pair() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("a key");
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("a certificate");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_certificate_and_its_key_make_an_h2_config() {
        let (cert, key) = pair();
        let config = server_config_from_pem(cert.as_bytes(), key.as_bytes()).expect("a config");
        assert_eq!(config.alpn_protocols, [b"h2".to_vec()]);
    }

    #[test]
    fn bad_pem_is_named() {
        let (cert, key) = pair();
        let (_, other_key) = pair();
        let kind = |c: &str, k: &str| {
            server_config_from_pem(c.as_bytes(), k.as_bytes())
                .expect_err("refused")
                .kind()
        };
        assert_eq!(kind("", &key), "invalid_pem");
        assert_eq!(kind(&cert, ""), "invalid_pem");
        assert_eq!(kind(&key, &key), "invalid_pem");
        assert_eq!(kind(&cert, &cert), "invalid_pem");
        let truncated = &cert[..cert.len() / 2];
        assert_eq!(kind(truncated, &key), "invalid_pem");
        // A well-formed key of another certificate.
        assert_eq!(kind(&cert, &other_key), "tls");
    }
}
