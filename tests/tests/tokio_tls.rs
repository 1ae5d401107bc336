//! The tokio client over TLS, against servers on loopback ports with certificates from a CA made
//! at test time: ours against ours (the mirror with TLS), an untrusted CA, servers that do not
//! select `h2`, the platform's roots, a handshake that never finishes, and signed streams
//! (`Client::open_signed`) whose request and event chain the mirror verifies.

mod tokio_common;

use eventstream::session::{Mode, Role, SessionConfig, SessionEvent};
use eventstream::sign::{Credentials, PayloadHash, RequestVerifier};
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport, Secrets};
use eventstream_tokio::tls::{server_config_from_pem, Roots};
use eventstream_tokio::{AwsCredentials, RequestSigning};
use eventstream_tokio::{Client, ClientBuilder, Error, Receiver, Sender};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_common::*;

/// The mirror over TLS on a loopback port.
async fn tls_mirror(pki: &TestPki) -> SocketAddr {
    let tls = server_config_from_pem(pki.cert.as_bytes(), pki.key.as_bytes()).expect("a config");
    start_mirror(Mirror::new().with_tls(tls)).await
}

/// Sends three events on a stream to `uri` and checks the mirror's echoes, then the end.
async fn round_trip(client: &Client, uri: &str) -> Result<(), Error> {
    let request = http::Request::post(uri).body(()).expect("a request");
    let (sender, receiver) = client
        .open(request, client_session(Mode::HttpBinding))
        .await?;
    echo_three(sender, receiver).await
}

/// Sends three events and checks the mirror's echoes, then finishes and expects the end.
async fn echo_three(mut sender: Sender, mut receiver: Receiver) -> Result<(), Error> {
    for seq in 0..3 {
        sender.send(numbered_event(0, seq, 100)).await?;
        match receiver.recv().await {
            Some(Ok(SessionEvent::Event(m))) => {
                assert_eq!(m.payload(), numbered_event(0, seq, 100).payload())
            }
            Some(Err(e)) => return Err(e),
            other => panic!("expected the echo of event {seq}, got {other:?}"),
        }
    }
    sender.finish().await?;
    match receiver.recv().await {
        Some(Ok(SessionEvent::End)) => Ok(()),
        Some(Err(e)) => Err(e),
        other => panic!("expected the end, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_against_ours_over_tls_with_a_test_ca() {
    within_hang_timeout(async {
        let pki = test_pki();
        let addr = tls_mirror(&pki).await;
        let client = tls_client(&pki);
        // By name and by address: the certificate carries both.
        round_trip(
            &client,
            &format!("https://localhost:{}/mirror", addr.port()),
        )
        .await
        .expect("a stream by name");
        round_trip(&client, &format!("https://{addr}/mirror"))
            .await
            .expect("a stream by address");
        // The CA as the only root works as well.
        let only_ours = ClientBuilder::new()
            .tls_roots(Roots::from_pem(pki.ca.as_bytes()).expect("roots"))
            .build();
        round_trip(
            &only_ours,
            &format!("https://localhost:{}/mirror", addr.port()),
        )
        .await
        .expect("a stream with the CA as the only root");
    })
    .await;
}

/// An `https://` URI to a cleartext server, and an `http://` URI to a TLS server, fail: no
/// silent downgrade either way, and cleartext still works where it should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_stays_cleartext_and_https_is_tls() {
    within_hang_timeout(async {
        let plain = start_mirror(Mirror::new()).await;
        let client = ClientBuilder::new().build();
        round_trip(&client, &format!("http://{plain}/mirror"))
            .await
            .expect("cleartext h2 with prior knowledge");
        let err = round_trip(&client, &format!("https://{plain}/mirror"))
            .await
            .expect_err("TLS to a cleartext server");
        assert_eq!(err.kind(), "tls", "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_untrusted_ca_is_refused() {
    within_hang_timeout(async {
        let pki = test_pki();
        let addr = tls_mirror(&pki).await;
        let uri = format!("https://localhost:{}/mirror", addr.port());
        // webpki's roots do not know the test CA.
        let err = round_trip(&ClientBuilder::new().build(), &uri)
            .await
            .expect_err("an unknown issuer");
        assert_eq!(err.kind(), "tls", "{err}");
        let Error::Tls(tls) = &err else {
            panic!("not a TLS error: {err:?}")
        };
        assert!(
            matches!(
                **tls,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
            ),
            "{tls:?}"
        );
        // Another CA trusted instead: the same.
        let other = test_pki();
        let client = ClientBuilder::new()
            .tls_roots(Roots::from_pem(other.ca.as_bytes()).expect("roots"))
            .build();
        let err = round_trip(&client, &uri).await.expect_err("another CA");
        assert_eq!(err.kind(), "tls", "{err}");
    })
    .await;
}

/// A TLS server that offers `alpn` (nothing, for a server without ALPN) and then holds each
/// connection open without a word of HTTP/2.
async fn tls_server_with_alpn(pki: &TestPki, alpn: &[&[u8]]) -> SocketAddr {
    let config = server_config_from_pem(pki.cert.as_bytes(), pki.key.as_bytes()).expect("config");
    let mut config = rustls::ServerConfig::clone(&config);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    // Read until the client gives up.
                    let _ = tokio::io::copy(&mut tls, &mut tokio::io::sink()).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_select_h2_gives_the_alpn_error() {
    within_hang_timeout(async {
        let pki = test_pki();
        let client = tls_client(&pki);
        // A server that speaks only HTTP/1.1 refuses our `h2` during the handshake.
        let http1 = tls_server_with_alpn(&pki, &[b"http/1.1"]).await;
        let err = round_trip(&client, &format!("https://localhost:{}/", http1.port()))
            .await
            .expect_err("no h2");
        assert_eq!(err.kind(), "alpn_not_h2", "{err}");
        assert!(err.to_string().contains("HTTP/2"), "{err}");
        // A server without ALPN completes the handshake and selects nothing.
        let none = tls_server_with_alpn(&pki, &[]).await;
        let err = round_trip(&client, &format!("https://localhost:{}/", none.port()))
            .await
            .expect_err("no ALPN");
        assert!(
            matches!(err, Error::NoH2 { selected: None }),
            "expected NoH2 without a protocol, got {err:?}"
        );
    })
    .await;
}

/// The platform's roots, read from `SSL_CERT_FILE` (set here to the test CA: no other test of
/// this file reads the platform's store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_roots_come_from_ssl_cert_file() {
    within_hang_timeout(async {
        let pki = test_pki();
        let addr = tls_mirror(&pki).await;
        let dir = std::env::temp_dir().join(format!("evs-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let file = dir.join("ca.pem");
        std::fs::write(&file, &pki.ca).expect("writes the CA");
        std::env::set_var("SSL_CERT_FILE", &file);
        let client = ClientBuilder::new().tls_roots(Roots::Platform).build();
        let result = round_trip(&client, &format!("https://localhost:{}/m", addr.port())).await;
        std::env::remove_var("SSL_CERT_FILE");
        let _ = std::fs::remove_dir_all(&dir);
        result.expect("the platform's roots trust the test CA");
    })
    .await;
}

/// A server that accepts TCP and never answers the TLS handshake: the connect timeout ends the
/// wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_never_finishes_times_out() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (tcp, _) = listener.accept().await.expect("accepts");
                held.push(tcp);
            }
        });
        let client = ClientBuilder::new()
            .connect_timeout(Some(Duration::from_millis(200)))
            .build();
        let err = round_trip(&client, &format!("https://{addr}/"))
            .await
            .expect_err("no handshake");
        assert_eq!(err.kind(), "timed_out", "{err}");
    })
    .await;
}

/// The mirror over TLS verifying requests signed with `user`'s secret for us-east-1/demo, and
/// the reports of the streams it serves.
async fn verifying_mirror(
    pki: &TestPki,
    user: Credentials,
) -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<MirrorReport>,
) {
    let tls = server_config_from_pem(pki.cert.as_bytes(), pki.key.as_bytes()).expect("a config");
    let store: Secrets = Arc::new(user);
    let (reports, reported) = tokio::sync::mpsc::unbounded_channel();
    let mirror = Mirror::new()
        .with_tls(tls)
        .with_request_verifier(RequestVerifier::new(store, "us-east-1", "demo"))
        .on_stream_end(move |report| {
            let _ = reports.send(report.clone());
        });
    (start_mirror(mirror).await, reported)
}

/// Opens a signed stream, sends three events and checks their echoes, then finishes.
async fn signed_round_trip(
    client: &Client,
    uri: &str,
    signing: &RequestSigning,
) -> Result<(), Error> {
    let request = http::Request::post(uri).body(()).expect("a request");
    let config = SessionConfig::new(Role::Client, Mode::HttpBinding);
    let (sender, receiver) = client.open_signed(request, config, signing).await?;
    echo_three(sender, receiver).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_stream_over_tls_has_its_request_and_chain_verified() {
    within_hang_timeout(async {
        let pki = test_pki();
        let user = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let (addr, mut reports) = verifying_mirror(&pki, user.clone()).await;
        let client = tls_client(&pki);
        let uri = format!("https://localhost:{}/mirror", addr.port());
        // Both payload-hash forms: the streaming one (x-amz-content-sha256), and the empty
        // body's, as the AWS SDK for Rust signs.
        for hash in [PayloadHash::StreamingEvents, PayloadHash::EmptyBody] {
            let signing =
                RequestSigning::new(user.clone(), "us-east-1", "demo").with_payload_hash(hash);
            signed_round_trip(&client, &uri, &signing)
                .await
                .expect("a verified stream");
            let report = reports.recv().await.expect("a report");
            assert!(report.verified_chain(), "{report:?}");
            assert_eq!(report.echoed, 3);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_credentials_send_their_session_token() {
    within_hang_timeout(async {
        let pki = test_pki();
        let user = Credentials::new("ASIAEXAMPLE", "temporary secret")
            .with_session_token("IQoJb3JpZ2luX2VjEXAMPLE");
        let (addr, mut reports) = verifying_mirror(&pki, user.clone()).await;
        let client = tls_client(&pki);
        let uri = format!("https://localhost:{}/mirror", addr.port());
        let signing = RequestSigning::new(user, "us-east-1", "demo");
        signed_round_trip(&client, &uri, &signing)
            .await
            .expect("a verified stream");
        assert!(reports.recv().await.expect("a report").verified_chain());
        // The same key without its token is refused.
        let without = Credentials::new("ASIAEXAMPLE", "temporary secret");
        let err = signed_round_trip(
            &client,
            &uri,
            &RequestSigning::new(without, "us-east-1", "demo"),
        )
        .await
        .expect_err("no token");
        assert_aws_refusal(
            &err,
            "UnrecognizedClientException",
            "invalid_security_token",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_gets_403_before_any_event() {
    within_hang_timeout(async {
        let pki = test_pki();
        let user = Credentials::new("AKIDEXAMPLE", "the right secret");
        let (addr, mut reports) = verifying_mirror(&pki, user).await;
        let client = tls_client(&pki);
        let uri = format!("https://localhost:{}/mirror", addr.port());
        let wrong = Credentials::new("AKIDEXAMPLE", "a wrong secret");
        let err = signed_round_trip(
            &client,
            &uri,
            &RequestSigning::new(wrong, "us-east-1", "demo"),
        )
        .await
        .expect_err("refused");
        assert_aws_refusal(
            &err,
            "InvalidSignatureException",
            "signature_does_not_match",
        );
        let report = reports.recv().await.expect("a report");
        assert!(
            matches!(report.outcome, MirrorOutcome::Unverified(_)),
            "{report:?}"
        );
        assert_eq!(report.echoed, 0);
    })
    .await;
}

/// Credentials from a provider of the AWS SDK for Rust (here its static `Credentials`, which are
/// a provider; `aws-config`'s default chain is another), with a session token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_sdk_credentials_provider_signs_streams() {
    within_hang_timeout(async {
        let pki = test_pki();
        let user = Credentials::new("ASIAEXAMPLE", "temporary secret")
            .with_session_token("IQoJb3JpZ2luX2VjEXAMPLE");
        let (addr, mut reports) = verifying_mirror(&pki, user).await;
        let client = tls_client(&pki);
        let uri = format!("https://localhost:{}/mirror", addr.port());
        let provider = aws_credential_types::Credentials::new(
            "ASIAEXAMPLE",
            "temporary secret",
            Some("IQoJb3JpZ2luX2VjEXAMPLE".to_string()),
            None,
            "test",
        );
        let signing = RequestSigning::new(AwsCredentials(provider), "us-east-1", "demo");
        signed_round_trip(&client, &uri, &signing)
            .await
            .expect("a verified stream");
        assert!(reports.recv().await.expect("a report").verified_chain());
    })
    .await;
}

/// A whole rustls configuration of the caller's: its ALPN is replaced by `h2`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_rustls_config_still_offers_h2() {
    within_hang_timeout(async {
        let pki = test_pki();
        let addr = tls_mirror(&pki).await;
        let mut roots = rustls::RootCertStore::empty();
        let Roots::Custom(store) = Roots::from_pem(pki.ca.as_bytes()).expect("roots") else {
            panic!("custom roots")
        };
        roots.roots.extend(store.roots);
        // ring, as the crate uses (deprecated only for lacking post-quantum key exchange).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client = ClientBuilder::new().tls_config(Arc::new(config)).build();
        round_trip(
            &client,
            &format!("https://localhost:{}/mirror", addr.port()),
        )
        .await
        .expect("h2 over the caller's configuration");
    })
    .await;
}
