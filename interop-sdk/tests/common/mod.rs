//! What the SDK tests share: the SDK's side of a `StartStreamTranscription` call, and the
//! mirror's stream reports.

use aws_sdk_transcribestreaming::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_transcribestreaming::error::ProvideErrorMetadata as _;
use aws_sdk_transcribestreaming::primitives::Blob;
use aws_sdk_transcribestreaming::types::{AudioEvent, AudioStream, LanguageCode, MediaEncoding};
use aws_sdk_transcribestreaming::Client;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use eventstream_testkit::error_chain;
use eventstream_tokio::mirror::{Mirror, MirrorReport};
use std::time::Duration;
use tokio::sync::mpsc;

pub(crate) const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub(crate) const REGION: &str = "us-east-1";
/// The signing name of Transcribe streaming.
pub(crate) const SERVICE: &str = "transcribe";
pub(crate) const EVENTS: usize = 50;
const CHUNK: usize = 3200; // 100 ms of 16 kHz 16-bit mono PCM
/// Only so that a hang fails the test instead of blocking CI; never a performance bound.
pub(crate) const HANG: Duration = Duration::from_secs(60);

/// What the SDK saw: how `send()` went (`Err` with the error chain when the call itself
/// failed, and then the HTTP status that refused it, if a response came, and the code and
/// message of the error's metadata, as the SDK parsed them from the response), the `Unknown`
/// events received, then how `recv()` ended (`Ok(())` for `Ok(None)`).
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) started: Result<(), String>,
    pub(crate) refused_with: Option<u16>,
    pub(crate) error_code: Option<String>,
    pub(crate) error_message: Option<String>,
    pub(crate) unknown: usize,
    pub(crate) end: Result<(), String>,
}

impl Seen {
    /// A call that started: `unknown` events received, then `end`.
    fn started(unknown: usize, end: Result<(), String>) -> Seen {
        Seen {
            started: Ok(()),
            refused_with: None,
            error_code: None,
            error_message: None,
            unknown,
            end,
        }
    }
}

/// Streams [`EVENTS`] distinct audio chunks to the mirror at `endpoint` through `http_client`,
/// signed with `secret`, and reads the response to its end.
pub(crate) async fn transcribe(
    endpoint: String,
    http_client: SharedHttpClient,
    secret: &str,
) -> Seen {
    let config = aws_sdk_transcribestreaming::Config::builder()
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(ACCESS_KEY_ID, secret, None, None, "test"))
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client)
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
        .await;
    let mut results = match output {
        Ok(output) => output.transcript_result_stream,
        Err(e) => {
            return Seen {
                refused_with: e.raw_response().map(|r| r.status().as_u16()),
                error_code: e.code().map(str::to_owned),
                error_message: e.message().map(str::to_owned),
                started: Err(error_chain(&e)),
                unknown: 0,
                end: Err("never started".into()),
            }
        }
    };
    let mut unknown = 0;
    loop {
        match results.recv().await {
            Ok(Some(event)) if event.is_unknown() => unknown += 1,
            Ok(Some(other)) => panic!("an event the mirror never sends: {other:?}"),
            Ok(None) => return Seen::started(unknown, Ok(())),
            Err(e) => return Seen::started(unknown, Err(error_chain(&e))),
        }
    }
}

/// `mirror` with its stream reports sent to the returned receiver.
pub(crate) fn reporting(mirror: Mirror) -> (Mirror, mpsc::UnboundedReceiver<MirrorReport>) {
    let (reports, rx) = mpsc::unbounded_channel();
    let mirror = mirror.on_stream_end(move |report| {
        let _ = reports.send(report.clone());
    });
    (mirror, rx)
}
