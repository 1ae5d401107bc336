//! The `transcribe` example against local servers: the mirror (over TLS, the request and the
//! chain verified), and a stand-in for Transcribe that answers each audio event with a
//! `TranscriptEvent`. The example's source is compiled into this test as a module, so that the
//! test calls its `run` with options of its own (endpoint, CA, credentials) and reads its output.
//! WAV files are made at test time.

#[allow(dead_code)] // `main` and the command line: the test builds `Options` itself.
#[path = "../examples/transcribe.rs"]
mod transcribe;

use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{Credentials, RequestVerifier, SigV4Verifier, SigningParams};
use eventstream_tokio::mirror::{Mirror, MirrorReport, Secrets};
use eventstream_tokio::ServerConnection;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use transcribe::{parse_transcript_event, parse_wav, run, Options, RunError, Transcript, Wav};

const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
/// Only so that a hang fails the test instead of blocking CI; never a performance bound.
const HANG: Duration = Duration::from_secs(60);

/// A WAV file: a RIFF header, a `fmt ` chunk (PCM, or extensible PCM), optionally a `LIST`
/// chunk of odd length before `data`, then `samples` of a 440 Hz tone.
fn wav_bytes(sample_rate: u32, channels: u16, bits: u16, samples: usize, extras: bool) -> Vec<u8> {
    let mut fmt = Vec::new();
    let tag: u16 = if extras { 0xFFFE } else { 1 };
    fmt.extend_from_slice(&tag.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&sample_rate.to_le_bytes());
    let block = u32::from(channels) * u32::from(bits / 8);
    fmt.extend_from_slice(&(sample_rate * block).to_le_bytes());
    fmt.extend_from_slice(&(block as u16).to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    if extras {
        fmt.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        fmt.extend_from_slice(&bits.to_le_bytes()); // valid bits
        fmt.extend_from_slice(&0u32.to_le_bytes()); // channel mask
        fmt.extend_from_slice(&1u16.to_le_bytes()); // the sub-format GUID: PCM...
        fmt.extend_from_slice(&[0; 14]);
    }
    let mut data = Vec::new();
    for i in 0..samples {
        let t = i as f64 / f64::from(sample_rate);
        let value = ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16;
        for _ in 0..channels {
            data.extend_from_slice(&value.to_le_bytes());
        }
    }
    let mut file = b"RIFF\0\0\0\0WAVE".to_vec();
    let mut chunk = |id: &[u8], body: &[u8]| {
        file.extend_from_slice(id);
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(body);
        if body.len() % 2 == 1 {
            file.push(0);
        }
    };
    chunk(b"fmt ", &fmt);
    if extras {
        chunk(b"LIST", b"INFOodd");
    }
    chunk(b"data", &data);
    let riff_len = (file.len() - 8) as u32;
    file[4..8].copy_from_slice(&riff_len.to_le_bytes());
    file
}

/// Writes `bytes` to a file of its own in the temporary directory.
fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "eventstream-transcribe-{}-{name}",
        std::process::id()
    ));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A throwaway CA (testkit's) and, signed by it, a certificate for `127.0.0.1` and `localhost`:
/// the CA's PEM and a server configuration offering ALPN `h2`.
fn test_pki() -> (String, Arc<rustls::ServerConfig>) {
    let pki = eventstream_testkit::pki::test_pki();
    let server =
        eventstream_tokio::tls::server_config_from_pem(pki.cert.as_bytes(), pki.key.as_bytes())
            .unwrap();
    (pki.ca, server)
}

fn options(wav: PathBuf, endpoint: String, ca_cert: Option<PathBuf>, secret: &str) -> Options {
    Options {
        wav,
        region: REGION.to_string(),
        endpoint,
        language: "en-US".to_string(),
        ca_cert,
        fast: true,
        credentials: Credentials::new(ACCESS_KEY_ID, secret),
    }
}

fn signing_params() -> SigningParams {
    SigningParams::new(
        Credentials::new(ACCESS_KEY_ID, SECRET),
        REGION,
        "transcribe",
    )
}

/// The mirror over TLS, verifying the request and the chain, on a loopback port: its
/// `https://` endpoint, the CA's PEM in a file, and its stream reports.
async fn tls_mirror(name: &str) -> (String, PathBuf, mpsc::UnboundedReceiver<MirrorReport>) {
    let (ca_pem, server) = test_pki();
    let ca_file = temp_file(&format!("{name}-ca.pem"), ca_pem.as_bytes());
    let (reports, rx) = mpsc::unbounded_channel();
    let store: Secrets = Arc::new(Credentials::new(ACCESS_KEY_ID, SECRET));
    let mirror = Mirror::new()
        .with_tls(server)
        .with_request_verifier(RequestVerifier::new(store, REGION, "transcribe"))
        .on_stream_end(move |report| {
            let _ = reports.send(report.clone());
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(mirror.serve(listener));
    (format!("https://{addr}"), ca_file, rx)
}

#[test]
fn wav_header_is_read() {
    let mono = wav_bytes(16_000, 1, 16, 1000, false);
    assert_eq!(
        parse_wav(&mono),
        Ok(Wav {
            sample_rate: 16_000,
            channels: 1,
            data: 44..2044
        })
    );
    // Extensible PCM, a LIST chunk of odd length (padded) before data.
    let stereo = wav_bytes(8_000, 2, 16, 10, true);
    let wav = parse_wav(&stereo).unwrap();
    assert_eq!((wav.sample_rate, wav.channels), (8_000, 2));
    assert_eq!(wav.data.len(), 40);
    assert_eq!(wav.data.end, stereo.len());
    // 100 ms of whole sample frames.
    assert_eq!(wav.chunk_len(), 800 * 2 * 2);
    // A data size past the end of the file (a recording never finalized): the rest of the file.
    let mut open = mono.clone();
    open[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(parse_wav(&open).unwrap().data, 44..2044);
}

#[test]
fn wav_header_is_checked() {
    let error = |file: &[u8]| parse_wav(file).unwrap_err().to_string();
    assert!(error(&wav_bytes(16_000, 1, 8, 10, false)).contains("8-bit samples, not 16-bit"));
    assert!(error(&wav_bytes(16_000, 3, 16, 10, false)).contains("3 channels"));
    assert!(error(&wav_bytes(96_000, 1, 16, 10, false)).contains("96000 Hz"));
    let mut float = wav_bytes(16_000, 1, 16, 10, false);
    float[20] = 3; // IEEE float
    assert!(error(&float).contains("not PCM"));
    assert!(error(b"RIFF\0\0\0\0WAVX").contains("no RIFF/WAVE header"));
    let mono = wav_bytes(16_000, 1, 16, 10, false);
    assert!(error(&mono[..36]).contains("no data chunk"));
}

#[test]
fn transcript_events_are_read() {
    let payload = br#"{"Transcript":{"Results":[
        {"Alternatives":[{"Transcript":"hello wor","Items":[]}],"IsPartial":true,"ResultId":"a"},
        {"Alternatives":[{"Transcript":"hello world"},{"Transcript":"yellow world"}],
         "IsPartial":false,"ChannelId":"ch_1","ResultId":"b"},
        {"Alternatives":[],"IsPartial":true}]}}"#;
    assert_eq!(
        parse_transcript_event(payload).unwrap(),
        vec![
            Transcript {
                text: "hello wor".to_string(),
                partial: true,
                channel: None
            },
            Transcript {
                text: "hello world".to_string(),
                partial: false,
                channel: Some("ch_1".to_string())
            },
        ]
    );
    assert!(parse_transcript_event(b"{}").is_err());
    assert!(parse_transcript_event(b"not json").is_err());
}

/// 1.05 s of 16 kHz mono: ten 100 ms events and a half one, echoed by the mirror after it
/// verified the request's signature and the chain, over TLS.
#[tokio::test]
async fn example_against_tls_mirror() {
    tokio::time::timeout(HANG, async {
        let wav = temp_file("mirror.wav", &wav_bytes(16_000, 1, 16, 16_800, false));
        let (endpoint, ca, mut reports) = tls_mirror("mirror").await;
        let mut out = Vec::new();
        let summary = run(&options(wav, endpoint, Some(ca), SECRET), &mut out)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let out = String::from_utf8(out).unwrap();
        let report = reports.recv().await.unwrap();
        let context = format!("{summary:?}\n{out}\n{report:?}");
        assert_eq!(summary.audio_events_sent, 11, "{context}");
        assert_eq!(summary.audio_bytes_sent, 33_600, "{context}");
        assert_eq!(summary.echoed_audio_events, 11, "{context}");
        assert_eq!(summary.transcript_events, 0, "{context}");
        assert!(report.verified_chain(), "{context}");
        assert_eq!(report.echoed, 11, "{context}");
        assert_eq!(
            out,
            "sent audio events: 11 (33600 bytes, 1.1 s at 16000 Hz, 1 channel(s))\n\
             echoed audio events: 11 (a mirror server, not Transcribe)\n"
        );
    })
    .await
    .expect("hung");
}

/// Without `--fast` the audio goes out in real time: three 100 ms events take at least 200 ms
/// (the first goes at once). A lower bound only, so a slow machine cannot fail it.
#[tokio::test]
async fn example_paces_audio_in_real_time() {
    tokio::time::timeout(HANG, async {
        let wav = temp_file("paced.wav", &wav_bytes(16_000, 1, 16, 4_800, false));
        let (endpoint, ca, mut reports) = tls_mirror("paced").await;
        let mut options = options(wav, endpoint, Some(ca), SECRET);
        options.fast = false;
        let started = std::time::Instant::now();
        let summary = run(&options, &mut Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let elapsed = started.elapsed();
        assert_eq!(summary.audio_events_sent, 3, "{summary:?}");
        assert_eq!(summary.echoed_audio_events, 3, "{summary:?}");
        assert!(reports.recv().await.unwrap().verified_chain());
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    })
    .await
    .expect("hung");
}

/// A wrong secret: the mirror answers 403 before any event, and the example says so.
#[tokio::test]
async fn example_with_wrong_secret_gets_403() {
    tokio::time::timeout(HANG, async {
        let wav = temp_file("wrong.wav", &wav_bytes(16_000, 1, 16, 3_200, false));
        let (endpoint, ca, _reports) = tls_mirror("wrong").await;
        let mut out = Vec::new();
        let error = run(&options(wav, endpoint, Some(ca), "not-the-secret"), &mut out)
            .await
            .expect_err("a wrong secret must fail");
        assert!(
            matches!(&error, RunError::Stream(eventstream_tokio::Error::Status { status, .. }) if status.as_u16() == 403),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("the service answered 403"), "{error}");
        assert!(out.is_empty());
    })
    .await
    .expect("hung");
}

/// A stand-in for Transcribe over cleartext HTTP/2: it checks the request's headers, verifies
/// the chain, and answers each audio event with a partial result and the end of the audio with
/// a final one, the way Transcribe does; the example prints them.
#[tokio::test]
async fn example_prints_transcripts() {
    tokio::time::timeout(HANG, async {
        let wav = temp_file("stereo.wav", &wav_bytes(8_000, 2, 16, 2_400, false));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut connection = ServerConnection::handshake(tcp).await.unwrap();
            let incoming = connection.accept().await.unwrap().unwrap();
            let head = incoming.request().clone();
            let header = |name: &str| {
                head.headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            };
            assert_eq!(head.uri.path(), "/stream-transcription");
            assert_eq!(header("x-amzn-transcribe-language-code"), "en-US");
            assert_eq!(header("x-amzn-transcribe-sample-rate"), "8000");
            assert_eq!(header("x-amzn-transcribe-media-encoding"), "pcm");
            assert_eq!(header("x-amzn-transcribe-number-of-channels"), "2");
            assert_eq!(
                header("x-amzn-transcribe-enable-channel-identification"),
                "true"
            );
            let seed = header("authorization")
                .rsplit("Signature=")
                .next()
                .unwrap()
                .to_string();
            let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding))
                .with_verifier(SigV4Verifier::new(signing_params(), &seed));
            let (mut sender, mut receiver) = incoming.accept(session).unwrap();
            let mut audio = 0;
            let transcript = |text: &str, partial: bool| {
                let json = format!(
                    r#"{{"Transcript":{{"Results":[{{"Alternatives":[{{"Transcript":"{text}"}}],"IsPartial":{partial},"ChannelId":"ch_0"}}]}}}}"#
                );
                EventBuilder::new("TranscriptEvent")
                    .content_type("application/json")
                    .payload(json.into_bytes())
                    .build()
            };
            while let Some(event) = receiver.recv().await {
                match event.unwrap() {
                    SessionEvent::Event(m) => {
                        assert_eq!(m.header_str(":event-type"), Some("AudioEvent"));
                        assert_eq!(
                            m.header_str(":content-type"),
                            Some("application/octet-stream")
                        );
                        assert_eq!(m.payload().len(), 3_200);
                        audio += 1;
                        let text = format!("tone {audio}");
                        sender.send(transcript(&text, true)).await.unwrap();
                    }
                    SessionEvent::End => break,
                    other => panic!("{other:?}"),
                }
            }
            sender.send(transcript("a tone.", false)).await.unwrap();
            sender.finish().await.unwrap();
            audio
        });
        let mut out = Vec::new();
        let summary = run(
            &options(wav, format!("http://{addr}"), None, SECRET),
            &mut out,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let out = String::from_utf8(out).unwrap();
        assert_eq!(server.await.unwrap(), 3);
        assert_eq!(summary.audio_events_sent, 3, "{out}");
        assert_eq!(summary.transcript_events, 4, "{out}");
        assert_eq!(summary.final_results, 1, "{out}");
        assert_eq!(summary.echoed_audio_events, 0, "{out}");
        assert_eq!(
            out,
            "partial [ch_0]: tone 1\npartial [ch_0]: tone 2\npartial [ch_0]: tone 3\n\
             final [ch_0]: a tone.\n\
             sent audio events: 3 (9600 bytes, 0.3 s at 8000 Hz, 2 channel(s))\n"
        );
    })
    .await
    .expect("hung");
}
