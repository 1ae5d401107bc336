//! The official AWS SDK for Rust against our mirror server.
//!
//! `aws-sdk-transcribestreaming` calls `StartStreamTranscription` on the mirror
//! (`eventstream_tokio::mirror::Mirror`), served in-process on a loopback port over cleartext
//! HTTP/2 (prior knowledge). The SDK signs the request and every audio event (a SigV4 event
//! chain seeded by the request's signature, ended by a signed empty frame); the mirror unwraps
//! or verifies the chain and echoes each `AudioEvent` back. The SDK does not model `AudioEvent`
//! as an output event, so each echo arrives as `TranscriptResultStream::Unknown`, and the
//! response must then end cleanly (`recv()` gives `Ok(None)`).
//!
//! Why: our own client and server agree with each other by construction; this is the one test
//! where a widely used independent implementation, both as signer and as receiver, checks our
//! framing, our signing-chain verification and our end of stream (an unsigned response stream
//! ends with END_STREAM alone, PROTOCOL.md section 2).
//!
//! Here the SDK talks cleartext: [`h2c_http_client`] (eventstream-testkit) gives it a
//! hyper-util client that speaks HTTP/2 only, with TCP_NODELAY. `tls.rs` has the same calls over TLS through the SDK's own HTTPS
//! client, with the request signature verified too.

mod common;

use common::{reporting, transcribe, ACCESS_KEY_ID, EVENTS, HANG, REGION, SECRET, SERVICE};
use eventstream::sign::SigningParams;
use eventstream_testkit::sdk_h2c::h2c_http_client;
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport};
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// Starts `mirror` on a loopback port; its stream reports come out of the receiver.
async fn start(mirror: Mirror) -> (String, mpsc::UnboundedReceiver<MirrorReport>) {
    let (mirror, rx) = reporting(mirror);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(mirror.serve(listener));
    (format!("http://{addr}"), rx)
}

fn verifying_mirror() -> Mirror {
    let credentials = eventstream::sign::Credentials::new(ACCESS_KEY_ID, SECRET);
    Mirror::new().with_signing(SigningParams::new(credentials, REGION, SERVICE))
}

#[tokio::test]
async fn sdk_against_unchecked_mirror() {
    tokio::time::timeout(HANG, async {
        let (addr, mut reports) = start(Mirror::new()).await;
        let seen = transcribe(addr, h2c_http_client(), SECRET).await;
        let report = reports.recv().await.unwrap();
        let context = format!("{seen:?}, {report:?}");
        assert!(
            matches!(report.outcome, MirrorOutcome::Finished),
            "{context}"
        );
        assert_eq!(report.echoed, EVENTS as u64, "{context}");
        assert_eq!(seen.started, Ok(()), "{context}");
        assert_eq!(seen.unknown, EVENTS, "{context}");
        assert_eq!(seen.end, Ok(()), "the response must end cleanly");
    })
    .await
    .expect("hung");
}

#[tokio::test]
async fn sdk_against_verifying_mirror() {
    tokio::time::timeout(HANG, async {
        let (addr, mut reports) = start(verifying_mirror()).await;
        let seen = transcribe(addr, h2c_http_client(), SECRET).await;
        let report = reports.recv().await.unwrap();
        let context = format!("{seen:?}, {report:?}");
        assert!(report.verified_chain(), "{context}");
        assert_eq!(report.echoed, EVENTS as u64, "{context}");
        assert_eq!(seen.started, Ok(()), "{context}");
        assert_eq!(seen.unknown, EVENTS, "{context}");
        assert_eq!(seen.end, Ok(()), "the response must end cleanly");
    })
    .await
    .expect("hung");
}

/// The first envelope's signature is wrong: the mirror answers with one `error` message
/// (`:error-code` `signature_mismatch`) and ends the response; the SDK, which has no use for an
/// `error` message on this stream, fails the receive.
#[tokio::test]
async fn sdk_with_wrong_secret_is_refused() {
    tokio::time::timeout(HANG, async {
        let (addr, mut reports) = start(verifying_mirror()).await;
        let seen = transcribe(addr, h2c_http_client(), "not-the-secret").await;
        let report = reports.recv().await.unwrap();
        let context = format!("{seen:?}, {report:?}");
        match &report.outcome {
            MirrorOutcome::ErrorSent { code, text } => {
                assert_eq!(code, "signature_mismatch", "{context}");
                assert_eq!(
                    text, "signature mismatch at envelope 0: the chain is broken",
                    "{context}"
                );
            }
            _ => panic!("the mirror must refuse the stream: {context}"),
        }
        assert_eq!(report.echoed, 0, "{context}");
        // The request itself was accepted (the mirror checks no request signature here).
        assert_eq!(seen.started, Ok(()), "{context}");
        assert_eq!(seen.refused_with, None, "{context}");
        assert_eq!(seen.error_code, None, "{context}");
        assert_eq!(seen.error_message, None, "{context}");
        assert_eq!(seen.unknown, 0, "{context}");
        assert!(seen.end.is_err(), "the receive must fail: {context}");
    })
    .await
    .expect("hung");
}
