//! The mirror over TLS (`Mirror::with_tls`), with a CA made at test time: ours against ours
//! with request verification on (signed request, signed events, request and chain verified);
//! clients whose TLS handshake fails (cleartext, ALPN without `h2`, a silent one) do not stop
//! the accept loop and are closed within the handshake timeout; a client that offers no ALPN
//! gets HTTP/2 over TLS.

mod tokio_common;

use eventstream::session::{Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{Credentials, RequestSigner, RequestVerifier, SigningParams, SigningTime};
use eventstream_tokio::mirror::{Mirror, MirrorReport, Secrets};
use eventstream_tokio::tls::rustls;
use eventstream_tokio::tls::server_config_from_pem;
use eventstream_tokio::{Client, ServerBuilder, EVENT_STREAM_CONTENT_TYPE};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_common::*;

/// The handshake timeout of these tests' servers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(300);

/// The mirror over TLS with `pki`'s certificate, verifying requests from the test user; each
/// finished stream's report comes out of the channel.
async fn start(pki: &TestPki) -> (SocketAddr, mpsc::UnboundedReceiver<MirrorReport>) {
    let tls = server_config_from_pem(pki.cert.as_bytes(), pki.key.as_bytes()).expect("a config");
    let store: Secrets = Arc::new(params().credentials().clone());
    let (tx, rx) = mpsc::unbounded_channel();
    let mirror = Mirror::new()
        .with_tls(tls)
        .with_server(ServerBuilder::new().handshake_timeout(Some(HANDSHAKE_TIMEOUT)))
        .with_request_verifier(RequestVerifier::new(store, "us-east-1", "demo"))
        .on_stream_end(move |report| {
            let _ = tx.send(report.clone());
        });
    (start_mirror(mirror).await, rx)
}

/// A rustls client configuration that trusts `pki`'s CA and offers `alpn`.
fn client_config(pki: &TestPki, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca.as_bytes()).expect("the CA"))
        .expect("a root");
    #[allow(deprecated, reason = "ring, as the adapter uses")]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TLS handshake with the server at `addr`, offering `alpn`.
async fn tls_connect(
    pki: &TestPki,
    addr: SocketAddr,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(client_config(pki, alpn));
    let name = ServerName::try_from("localhost").expect("a name");
    connector.connect(name, tcp).await
}

/// A request to `uri` signed by the test user now, and a client session signing its events
/// from that request's signature.
fn signed(uri: &str) -> (http::Request<()>, Session) {
    let request = http::Request::post(uri)
        .header(http::header::CONTENT_TYPE, EVENT_STREAM_CONTENT_TYPE)
        .body(())
        .expect("a request");
    let (mut parts, ()) = request.into_parts();
    let now = SigningTime::from_system_time(SystemTime::now()).expect("a usable clock");
    let signed = RequestSigner::new(params())
        .sign(&mut parts, now)
        .expect("signs");
    let session = Session::new(SessionConfig::new(Role::Client, Mode::Rpc))
        .with_signer(signed.event_signer());
    (http::Request::from_parts(parts, ()), session)
}

/// An initial request and three events on a signed stream to `uri`, each echoed, then the
/// end; the mirror's report says the request and the whole chain were verified.
async fn assert_signed_round_trip(
    client: &Client,
    uri: &str,
    reports: &mut mpsc::UnboundedReceiver<MirrorReport>,
) {
    let (request, session) = signed(uri);
    let (mut sender, mut receiver) = client.open(request, session).await.expect("opens");
    let initial = eventstream::session::EventBuilder::initial_request()
        .payload(&b"{}"[..])
        .build();
    sender.send_initial_request(initial).await.expect("sends");
    assert!(matches!(
        receiver.recv().await,
        Some(Ok(SessionEvent::InitialResponse(_)))
    ));
    for seq in 0..3 {
        let event = numbered_event(0, seq, 1000);
        sender.send(event.clone()).await.expect("sends");
        match receiver.recv().await {
            Some(Ok(SessionEvent::Event(m))) => assert_eq!(m.payload(), event.payload()),
            other => panic!("expected the echo of event {seq}, got {other:?}"),
        }
    }
    sender.finish().await.expect("finishes");
    assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));
    let report = reports.recv().await.expect("a report");
    assert!(report.verified_chain(), "{report:?}");
    assert_eq!(report.echoed, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_against_ours_over_tls_with_the_request_and_chain_verified() {
    within_hang_timeout(async {
        let pki = test_pki();
        let (addr, mut reports) = start(&pki).await;
        let client = tls_client(&pki);
        let uri = format!("https://localhost:{}/mirror", addr.port());
        assert_signed_round_trip(&client, &uri, &mut reports).await;
        // By IP address too (the certificate names 127.0.0.1).
        let uri = format!("https://{addr}/mirror");
        assert_signed_round_trip(&client, &uri, &mut reports).await;
    })
    .await;
}

/// A request signed with another secret is refused over TLS as over cleartext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_over_tls_gets_403() {
    within_hang_timeout(async {
        let pki = test_pki();
        let (addr, mut reports) = start(&pki).await;
        let client = tls_client(&pki);
        let uri = format!("https://localhost:{}/mirror", addr.port());
        let (mut parts, ()) = http::Request::post(&uri)
            .body(())
            .expect("a request")
            .into_parts();
        let wrong = SigningParams::new(
            Credentials::new(params().credentials().access_key_id(), "wrong"),
            "us-east-1",
            "demo",
        );
        let now = SigningTime::from_system_time(SystemTime::now()).expect("a usable clock");
        let signed = RequestSigner::new(wrong)
            .sign(&mut parts, now)
            .expect("signs");
        let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding))
            .with_signer(signed.event_signer());
        let (_sender, mut receiver) = client
            .open(http::Request::from_parts(parts, ()), session)
            .await
            .expect("opens");
        match receiver.recv().await {
            Some(Err(e)) => {
                assert_aws_refusal(&e, "InvalidSignatureException", "signature_does_not_match");
            }
            other => panic!("expected 403, got {other:?}"),
        }
        let report = reports.recv().await.expect("a report");
        assert_eq!(report.echoed, 0);
    })
    .await;
}

/// Cleartext HTTP/2, a client offering only `http/1.1`, and a client that never says anything
/// each fail their own connection (closed, at the latest, at the handshake timeout); the
/// server goes on accepting, and a good client is served after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tls_handshakes_do_not_stop_the_server() {
    within_hang_timeout(async {
        let pki = test_pki();
        let (addr, mut reports) = start(&pki).await;
        let client = tls_client(&pki);
        let uri = format!("https://localhost:{}/mirror", addr.port());

        // Cleartext HTTP/2 with prior knowledge: the server's TLS fails on the preface.
        let cleartext = async {
            let plain = Client::connect(addr).await?;
            let (_sender, mut receiver) = plain
                .open(request(addr, None), client_session(Mode::HttpBinding))
                .await?;
            match receiver.recv().await {
                Some(Err(e)) => Err::<(), eventstream_tokio::Error>(e),
                other => panic!("expected a failure, got {other:?}"),
            }
        };
        assert!(cleartext.await.is_err(), "cleartext is not served");
        assert_signed_round_trip(&client, &uri, &mut reports).await;

        // ALPN without h2: refused during the handshake (no_application_protocol).
        let refused = tls_connect(&pki, addr, &[b"http/1.1"]).await;
        let err = refused.expect_err("no h2, no handshake");
        assert!(
            err.to_string().contains("NoApplicationProtocol"),
            "the server sent no_application_protocol: {err}"
        );
        assert_signed_round_trip(&client, &uri, &mut reports).await;

        // A client that connects and says nothing is closed at the handshake timeout.
        let mut silent = TcpStream::connect(addr).await.expect("connects");
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(HANDSHAKE_TIMEOUT * 10, silent.read(&mut buf))
            .await
            .expect("closed within the handshake timeout");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert_signed_round_trip(&client, &uri, &mut reports).await;
    })
    .await;
}

/// The handshake timeout bounds the TLS handshake and the HTTP/2 preface together: a client
/// that completes TLS and then sends nothing is closed too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_silent_after_tls_is_closed_at_the_handshake_timeout() {
    within_hang_timeout(async {
        let pki = test_pki();
        let (addr, _reports) = start(&pki).await;
        let mut tls = tls_connect(&pki, addr, &[b"h2"]).await.expect("TLS");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(HANDSHAKE_TIMEOUT * 10, async {
            // The server's SETTINGS may come first; then the end.
            loop {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(read.is_ok(), "closed within the handshake timeout");
    })
    .await;
}

/// A client that offers no ALPN is served HTTP/2 over TLS (prior knowledge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_alpn_gets_http2_over_tls() {
    within_hang_timeout(async {
        let pki = test_pki();
        let (addr, mut reports) = start(&pki).await;
        let tls = tls_connect(&pki, addr, &[]).await.expect("TLS");
        assert_eq!(tls.get_ref().1.alpn_protocol(), None);
        let client = Client::handshake(tls).await.expect("HTTP/2");
        let uri = format!("https://localhost:{}/mirror", addr.port());
        assert_signed_round_trip(&client, &uri, &mut reports).await;
    })
    .await;
}

/// `ServerBuilder::handshake_tls` says why a connection was not served: a client that speaks
/// cleartext fails with kind `tls` (rustls's reason), and a configuration of the application's
/// own that selected another protocol than `h2` with `config`, rather than speak HTTP/2 to an
/// HTTP/1.1 client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_tls_names_what_failed() {
    within_hang_timeout(async {
        let pki = test_pki();
        let tls =
            server_config_from_pem(pki.cert.as_bytes(), pki.key.as_bytes()).expect("a config");
        let mut http1 = (*tls).clone();
        http1.alpn_protocols = vec![b"http/1.1".to_vec()];
        for (config, tls_client) in [(tls, false), (Arc::new(http1), true)] {
            let (listener, addr) = listen().await;
            let server = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.expect("accepts");
                ServerBuilder::new()
                    .handshake_tls(config, tcp)
                    .await
                    .map(drop)
            });
            let client = if tls_client {
                // The handshake completes, with http/1.1.
                let tls = tls_connect(&pki, addr, &[b"http/1.1"]).await.expect("TLS");
                assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
                Some(tls)
            } else {
                let mut tcp = TcpStream::connect(addr).await.expect("connects");
                tokio::io::AsyncWriteExt::write_all(&mut tcp, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                    .await
                    .expect("writes");
                drop(tcp);
                None
            };
            let err = server.await.expect("joins").expect_err("not served");
            let wanted = if tls_client { "config" } else { "tls" };
            assert_eq!(err.kind(), wanted, "{err}");
            drop(client);
        }
    })
    .await;
}
