//! The client's TLS: which roots to trust, the rustls configuration (the ring provider, ALPN
//! `h2`), and the handshake that insists on `h2`.

use crate::error::Error;
use crate::tls::{provider, ALPN_H2};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::fmt;
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;

/// The certificate authorities a client trusts for `https://` URIs.
///
/// Certificates added with [`ClientBuilder::add_ca_pem`](crate::ClientBuilder::add_ca_pem) are
/// trusted in addition to these.
///
/// ```
/// use eventstream_tokio::tls::Roots;
/// use eventstream_tokio::ClientBuilder;
///
/// // The operating system's store (for a corporate proxy's CA, say) instead of webpki's.
/// let client = ClientBuilder::new().tls_roots(Roots::Platform);
/// # drop(client);
/// // Nothing but one's own CA.
/// let only_ours = Roots::Custom(rustls::RootCertStore::empty());
/// # drop(only_ours);
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Roots {
    /// Mozilla's root certificates as compiled into the `webpki-roots` crate (the default):
    /// the same on every machine, no file read.
    #[default]
    WebPki,
    /// The platform's trust store, read by `rustls-native-certs` when the first `https://`
    /// connection is made (`SSL_CERT_FILE` and `SSL_CERT_DIR` override it, as with OpenSSL).
    Platform,
    /// These roots alone.
    Custom(RootCertStore),
}

impl Roots {
    /// The certificates of a PEM file (one or more `CERTIFICATE` blocks; other blocks are
    /// skipped) as the only roots.
    ///
    /// ```
    /// # fn doc(ca_pem: &[u8]) -> Result<(), eventstream_tokio::Error> {
    /// use eventstream_tokio::tls::Roots;
    ///
    /// let client = eventstream_tokio::ClientBuilder::new()
    ///     .tls_roots(Roots::from_pem(ca_pem)?)
    ///     .build();
    /// # drop(client);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPem`] (kind `invalid_pem`) when `pem` holds no certificate or a malformed
    /// block, [`Error::Tls`] (kind `tls`) when a certificate cannot be a root.
    pub fn from_pem(pem: &[u8]) -> Result<Roots, Error> {
        let mut store = RootCertStore::empty();
        add_pem(&mut store, pem)?;
        Ok(Roots::Custom(store))
    }
}

/// The certificates of `pem` (one or more `CERTIFICATE` blocks).
pub(crate) fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::InvalidPem(format!("the CA certificate: {e}")))?;
    if certs.is_empty() {
        return Err(Error::InvalidPem(
            "the CA file has no CERTIFICATE block".into(),
        ));
    }
    Ok(certs)
}

/// Adds the certificates of `pem` to `store`.
fn add_pem(store: &mut RootCertStore, pem: &[u8]) -> Result<(), Error> {
    for cert in certificates_from_pem(pem)? {
        store.add(cert).map_err(|e| Error::Tls(Arc::new(e)))?;
    }
    Ok(())
}

/// What a client's TLS configuration is made of; the configuration itself is made once, when the
/// first `https://` connection needs it.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    pub(crate) roots: Roots,
    /// CA certificates trusted in addition to the roots.
    pub(crate) extra: Vec<CertificateDer<'static>>,
    /// A whole configuration of the caller's, used instead (with ALPN set to `h2`).
    pub(crate) config: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("roots", &self.roots_name())
            .field("extra_cas", &self.extra.len())
            .field("custom_config", &self.config.is_some())
            .finish()
    }
}

impl TlsSettings {
    fn roots_name(&self) -> &'static str {
        match self.roots {
            Roots::WebPki => "webpki",
            Roots::Platform => "platform",
            Roots::Custom(_) => "custom",
        }
    }

    /// The rustls configuration: the ring provider, TLS 1.2 and 1.3, the roots, ALPN `h2`.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] when the platform's store yields no certificate at all, or rustls refuses
    /// the configuration.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>, Error> {
        if let Some(config) = &self.config {
            let mut config = ClientConfig::clone(config);
            config.alpn_protocols = vec![ALPN_H2.to_vec()];
            return Ok(Arc::new(config));
        }
        let mut store = match &self.roots {
            Roots::WebPki => webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect(),
            Roots::Custom(store) => store.clone(),
            Roots::Platform => {
                let found = rustls_native_certs::load_native_certs();
                let mut store = RootCertStore::empty();
                let (added, _ignored) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found
                        .errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ");
                    return Err(Error::Tls(Arc::new(rustls::Error::General(format!(
                        "no usable certificate in the platform's trust store{}{why}",
                        if why.is_empty() { "" } else { ": " }
                    )))));
                }
                store
            }
        };
        for cert in &self.extra {
            store
                .add(cert.clone())
                .map_err(|e| Error::Tls(Arc::new(e)))?;
        }
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(Arc::new(e)))?
            .with_root_certificates(store)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }
}

/// The name the server's certificate must carry: the URI's host (an IP address, or a DNS name;
/// IPv6 without its brackets).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|_| Error::Config("the URI's host is not a valid TLS server name"))
}

/// The TLS handshake over `io`, offering ALPN `h2`; fails unless the server selected it.
///
/// # Errors
///
/// [`Error::NoH2`] (kind `alpn_not_h2`) when the server selected another protocol, none, or
/// refused `h2` with a `no_application_protocol` alert; [`Error::Tls`] (kind `tls`) when the
/// handshake failed otherwise (an untrusted certificate, say); [`Error::Connect`] when the
/// connection failed during the handshake.
pub(crate) async fn handshake<T>(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    io: T,
) -> Result<TlsStream<T>, Error>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, io)
        .await
        .map_err(handshake_error)?;
    match tls.get_ref().1.alpn_protocol() {
        Some(ALPN_H2) => Ok(tls),
        other => Err(Error::NoH2 {
            selected: other.map(|p| String::from_utf8_lossy(p).into_owned()),
        }),
    }
}

/// Classifies a failed handshake: a refusal of `h2`, another TLS failure, or the connection's.
fn handshake_error(e: io::Error) -> Error {
    let Some(tls) = e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) else {
        return Error::Connect(Arc::new(e));
    };
    match tls {
        rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol) => {
            Error::NoH2 { selected: None }
        }
        rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SelectedUnofferedApplicationProtocol,
        ) => Error::NoH2 {
            selected: Some("a protocol it was not offered".into()),
        },
        other => Error::Tls(Arc::new(other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_become_server_names() {
        assert!(matches!(
            server_name("example.com"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert_eq!(server_name("bad name!").unwrap_err().kind(), "config");
    }

    #[test]
    fn the_configuration_offers_h2_alone() {
        let config = TlsSettings::default().client_config().expect("a config");
        assert_eq!(config.alpn_protocols, [b"h2".to_vec()]);
    }

    #[test]
    fn pem_without_certificates_is_refused() {
        assert_eq!(Roots::from_pem(b"").unwrap_err().kind(), "invalid_pem");
        let garbage = b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        assert_eq!(Roots::from_pem(garbage).unwrap_err().kind(), "invalid_pem");
    }
}
