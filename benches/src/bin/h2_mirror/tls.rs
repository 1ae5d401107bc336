//! The TLS rows' transport: rustls with the ring provider at both ends, a certificate for
//! `localhost` made at start, ALPN `h2` offered by the client and required at both ends.

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::sync::{Arc, OnceLock};
use tokio::net::TcpStream;
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

/// Both ends of the TLS rows, one throwaway certificate between them.
#[derive(Clone)]
pub(crate) struct Tls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    /// What the first client connection agreed on: protocol version and cipher suite.
    agreed: Arc<OnceLock<String>>,
}

/// The name the certificate is for and the client asks for.
const NAME: &str = "localhost";

/// The only protocol either end speaks.
const ALPN_H2: &[u8] = b"h2";

impl Tls {
    /// A new self-signed certificate for `localhost`, a server that presents it, and a client
    /// that trusts it alone; both with the ring provider's default suites and ALPN `h2`.
    pub(crate) fn new() -> Tls {
        let certified = rcgen::generate_simple_self_signed(vec![NAME.to_string()])
            .expect("makes a certificate");
        let cert = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        // The provider the adapter's TLS uses. rustls 0.23.48 deprecated ring's default
        // provider for its lack of post-quantum key exchange; both ends here agree on X25519.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());

        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the provider supports the default versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .expect("a usable certificate and key");
        server.alpn_protocols = vec![ALPN_H2.to_vec()];

        let mut roots = RootCertStore::empty();
        roots.add(cert).expect("a usable root");
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the provider supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![ALPN_H2.to_vec()];

        Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            agreed: Arc::default(),
        }
    }

    /// The server's handshake on an accepted connection; `h2` must have been agreed.
    pub(crate) async fn accept(&self, tcp: TcpStream) -> server::TlsStream<TcpStream> {
        let tls = self.acceptor.accept(tcp).await.expect("a TLS handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(ALPN_H2), "ALPN h2");
        tls
    }

    /// The client's handshake; `h2` must have been agreed.
    pub(crate) async fn connect(&self, tcp: TcpStream) -> client::TlsStream<TcpStream> {
        let name = ServerName::try_from(NAME).expect("a valid name");
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .expect("a TLS handshake");
        let connection = tls.get_ref().1;
        assert_eq!(connection.alpn_protocol(), Some(ALPN_H2), "ALPN h2");
        self.agreed.get_or_init(|| {
            format!(
                "{:?} {:?}",
                connection.protocol_version().expect("agreed"),
                connection
                    .negotiated_cipher_suite()
                    .expect("agreed")
                    .suite()
            )
        });
        tls
    }

    /// The protocol version and cipher suite the client's connections agreed on (once one was
    /// made).
    pub(crate) fn agreed(&self) -> Option<&str> {
        self.agreed.get().map(String::as_str)
    }
}
