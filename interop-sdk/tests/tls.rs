//! The official AWS SDK for Rust against our mirror server over TLS with ALPN `h2`.
//!
//! The same `StartStreamTranscription` calls as `transcribe.rs`, now through the SDK's own HTTPS
//! client (`aws-smithy-http-client` on rustls with the ring provider), which offers ALPN `h2`
//! and `http/1.1` and trusts only a CA made at test time with `rcgen`. The mirror
//! ([`Mirror::with_tls`]) holds a certificate for `127.0.0.1` signed by that CA and selects `h2`:
//! it speaks nothing else, so a stream that works was negotiated as `h2` (a client that offered
//! ALPN without `h2` would be refused in the handshake; with `http/1.1` chosen, the SDK would
//! send an HTTP/1.1 request, which an HTTP/2 server cannot read).
//!
//! Why: this is the path an application takes to reach AWS (TLS, ALPN, the SDK's connection
//! pool), with an independent client on the other side of our TLS server, signed request and
//! signed events.

mod common;

use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use common::{reporting, transcribe, ACCESS_KEY_ID, EVENTS, HANG, REGION, SECRET, SERVICE};
use eventstream::sign::{Credentials, RequestVerifier};
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport, Secrets};
use eventstream_tokio::tls::server_config_from_pem;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A throwaway CA (testkit's) and the mirror's TLS configuration with the certificate it
/// issued for `127.0.0.1` and `localhost`.
struct TestPki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn test_pki() -> TestPki {
    let pki = eventstream_testkit::pki::test_pki();
    TestPki {
        server: server_config_from_pem(pki.cert.as_bytes(), pki.key.as_bytes()).unwrap(),
        ca_pem: pki.ca,
    }
}

/// The SDK's own HTTPS client, rustls with ring, trusting `ca_pem` alone (no platform roots).
fn sdk_https_client(ca_pem: &str) -> SharedHttpClient {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(ca_pem.as_bytes());
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_https()
}

/// Serves `mirror` over TLS on a loopback port. Returns the `https://` endpoint and the stream
/// reports.
async fn start(
    mirror: Mirror,
    server: Arc<rustls::ServerConfig>,
) -> (String, mpsc::UnboundedReceiver<MirrorReport>) {
    let (mirror, reports) = reporting(mirror.with_tls(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(mirror.serve(listener));
    (format!("https://{addr}"), reports)
}

/// A mirror that verifies each request's signature, scope and date (within the default five
/// minutes), then each event from the request's signature.
fn verifying_mirror() -> Mirror {
    let store: Secrets = Arc::new(Credentials::new(ACCESS_KEY_ID, SECRET));
    Mirror::new().with_request_verifier(RequestVerifier::new(store, REGION, SERVICE))
}

#[tokio::test]
async fn sdk_over_tls_against_verifying_mirror() {
    tokio::time::timeout(HANG, async {
        let pki = test_pki();
        let (endpoint, mut reports) = start(verifying_mirror(), pki.server).await;
        let seen = transcribe(endpoint, sdk_https_client(&pki.ca_pem), SECRET).await;
        let report = reports.recv().await.unwrap();
        let context = format!("{seen:?}, {report:?}");
        assert_eq!(seen.started, Ok(()), "{context}");
        assert!(report.verified_chain(), "{context}");
        assert_eq!(report.echoed, EVENTS as u64, "{context}");
        assert_eq!(seen.unknown, EVENTS, "{context}");
        assert_eq!(seen.end, Ok(()), "the response must end cleanly");
    })
    .await
    .expect("hung");
}

/// Without the test CA in its trust store, the SDK refuses the mirror's certificate: the
/// trust store above is what lets the other tests through.
#[tokio::test]
async fn sdk_over_tls_refuses_an_untrusted_certificate() {
    tokio::time::timeout(HANG, async {
        let pki = test_pki();
        let other = test_pki();
        let (endpoint, _reports) = start(verifying_mirror(), pki.server).await;
        let seen = transcribe(endpoint, sdk_https_client(&other.ca_pem), SECRET).await;
        let error = seen
            .started
            .expect_err("an untrusted certificate must fail the call");
        assert!(error.contains("certificate"), "{error}");
    })
    .await
    .expect("hung");
}

/// A wrong secret: the mirror refuses the request with 403 before any stream is accepted, and
/// the SDK's call fails with that status, its error's metadata read from the mirror's AWS-shaped
/// answer: the code `InvalidSignatureException` (from `x-amzn-errortype`), the message naming
/// the project's kind.
#[tokio::test]
async fn sdk_over_tls_with_wrong_secret_gets_403() {
    tokio::time::timeout(HANG, async {
        let pki = test_pki();
        let (endpoint, mut reports) = start(verifying_mirror(), pki.server).await;
        let seen = transcribe(endpoint, sdk_https_client(&pki.ca_pem), "not-the-secret").await;
        let report = reports.recv().await.unwrap();
        let context = format!("{seen:?}, {report:?}");
        match &report.outcome {
            MirrorOutcome::Unverified(e) => {
                assert_eq!(e.kind(), "signature_does_not_match", "{context}")
            }
            _ => panic!("the mirror must refuse the request: {context}"),
        }
        assert_eq!(report.echoed, 0, "{context}");
        assert_eq!(seen.unknown, 0, "{context}");
        assert!(seen.started.is_err(), "the call must fail: {context}");
        assert_eq!(seen.refused_with, Some(403), "{context}");
        assert_eq!(
            seen.error_code.as_deref(),
            Some("InvalidSignatureException"),
            "{context}"
        );
        assert_eq!(
            seen.error_message.as_deref(),
            Some("signature_does_not_match: the request signature does not match"),
            "{context}"
        );
    })
    .await
    .expect("hung");
}
