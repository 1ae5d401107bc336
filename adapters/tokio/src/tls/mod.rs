//! TLS with rustls (the ring crypto provider) and ALPN `h2`.

mod client;
mod server;

pub use client::Roots;
pub(crate) use client::{certificates_from_pem, handshake, server_name, TlsSettings};
pub use server::server_config_from_pem;

/// The rustls this crate is built with: its [`ServerConfig`](rustls::ServerConfig) and
/// [`Error`](rustls::Error) are part of this crate's API.
pub use rustls;

use std::sync::Arc;

/// The ALPN protocol id of HTTP/2.
pub(crate) const ALPN_H2: &[u8] = b"h2";

/// The crypto provider of every TLS configuration this crate makes: ring, which builds with a C
/// compiler alone (no cmake, unlike aws-lc-rs).
///
/// rustls 0.23.48 deprecated ring's `default_provider` because ring has no post-quantum key
/// exchange; X25519 and the NIST curves remain, as every AWS endpoint accepts.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}
