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
//! The SDK is built without TLS and without its default HTTPS client: [`h2c_client`] gives it a
//! hyper-util client that speaks HTTP/2 only, with TCP_NODELAY.

use aws_sdk_transcribestreaming::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_transcribestreaming::primitives::Blob;
use aws_sdk_transcribestreaming::types::{AudioEvent, AudioStream, LanguageCode, MediaEncoding};
use aws_sdk_transcribestreaming::Client;
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;
use eventstream::sign::SigningParams;
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport};
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::TokioExecutor;
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const EVENTS: usize = 50;
const CHUNK: usize = 3200; // 100 ms of 16 kHz 16-bit mono PCM
/// Only so that a hang fails the test instead of blocking CI; never a performance bound.
const HANG: Duration = Duration::from_secs(60);

/// A cleartext HTTP/2 (prior knowledge) connector for the SDK, on hyper-util's client.
#[derive(Clone, Debug)]
struct H2c(hyper_util::client::legacy::Client<TcpConnector, SdkBody>);

impl HttpConnector for H2c {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let response = client
                .request(request)
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            Response::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

fn h2c_client() -> SharedHttpClient {
    let mut tcp = TcpConnector::new();
    tcp.set_nodelay(true);
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(tcp);
    let connector = SharedHttpConnector::new(H2c(client));
    http_client_fn(move |_, _| connector.clone())
}

/// Starts `mirror` on a loopback port; its stream reports come out of the receiver.
async fn start(mirror: Mirror) -> (SocketAddr, mpsc::UnboundedReceiver<MirrorReport>) {
    let (reports, rx) = mpsc::unbounded_channel();
    let mirror = mirror.on_stream_end(move |report| {
        let _ = reports.send(report.clone());
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(mirror.serve(listener));
    (addr, rx)
}

fn verifying_mirror() -> Mirror {
    let credentials = eventstream::sign::Credentials::new(ACCESS_KEY_ID, SECRET);
    Mirror::new().with_signing(SigningParams::new(credentials, "us-east-1", "transcribe"))
}

/// What the SDK saw: the `Unknown` events received, then how `recv()` ended (`Ok(())` for
/// `Ok(None)`).
#[derive(Debug)]
struct Seen {
    unknown: usize,
    end: Result<(), String>,
}

/// Streams [`EVENTS`] distinct audio chunks to the mirror at `addr`, signed with `secret`, and
/// reads the response to its end.
async fn transcribe(addr: SocketAddr, secret: &str) -> Seen {
    let config = aws_sdk_transcribestreaming::Config::builder()
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ACCESS_KEY_ID, secret, None, None, "test"))
        .behavior_version(BehaviorVersion::latest())
        .http_client(h2c_client())
        .build();
    let chunks = (0..EVENTS).map(|i| {
        let chunk: Vec<u8> = (0..CHUNK).map(|j| (i * 7 + j) as u8).collect();
        Ok(AudioStream::AudioEvent(
            AudioEvent::builder().audio_chunk(Blob::new(chunk)).build(),
        ))
    });
    let output = Client::from_conf(config)
        .start_stream_transcription()
        .language_code(LanguageCode::EnUs)
        .media_encoding(MediaEncoding::Pcm)
        .media_sample_rate_hertz(16_000)
        .audio_stream(futures::stream::iter(chunks).into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("start_stream_transcription: {}", chain(&e)));
    let mut results = output.transcript_result_stream;
    let mut unknown = 0;
    loop {
        match results.recv().await {
            Ok(Some(event)) if event.is_unknown() => unknown += 1,
            Ok(Some(other)) => panic!("an event the mirror never sends: {other:?}"),
            Ok(None) => {
                return Seen {
                    unknown,
                    end: Ok(()),
                }
            }
            Err(e) => {
                return Seen {
                    unknown,
                    end: Err(chain(&e)),
                }
            }
        }
    }
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[tokio::test]
async fn sdk_against_unchecked_mirror() {
    tokio::time::timeout(HANG, async {
        let (addr, mut reports) = start(Mirror::new()).await;
        let seen = transcribe(addr, SECRET).await;
        let report = reports.recv().await.unwrap();
        let context = format!("{seen:?}, {report:?}");
        assert!(
            matches!(report.outcome, MirrorOutcome::Finished),
            "{context}"
        );
        assert_eq!(report.echoed, EVENTS as u64, "{context}");
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
        let seen = transcribe(addr, SECRET).await;
        let report = reports.recv().await.unwrap();
        let context = format!("{seen:?}, {report:?}");
        assert!(report.verified_chain(), "{context}");
        assert_eq!(report.echoed, EVENTS as u64, "{context}");
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
        let seen = transcribe(addr, "not-the-secret").await;
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
        assert_eq!(seen.unknown, 0, "{context}");
        assert!(seen.end.is_err(), "the receive must fail: {context}");
    })
    .await
    .expect("hung");
}
