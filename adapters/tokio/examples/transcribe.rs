//! A client of Amazon Transcribe's streaming API: streams a 16-bit PCM WAV file and prints the
//! transcripts as they arrive.
//!
//! ```text
//! export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...   # and AWS_SESSION_TOKEN if any
//! cargo run -p eventstream-tokio --example transcribe -- --region us-east-1 speech.wav
//! ```
//!
//! What it does:
//! - reads the WAV header: PCM (or extensible PCM), 16 bits per sample, one or two channels,
//!   8 to 48 kHz;
//! - opens `POST /stream-transcription` on `https://transcribestreaming.REGION.amazonaws.com:8443`
//!   over TLS with ALPN `h2`, with the `x-amzn-transcribe-language-code`, `-sample-rate` and
//!   `-media-encoding: pcm` headers (and channel identification for stereo), signed with SigV4
//!   by [`Client::open_signed`], which seeds the chain that signs every event with the
//!   request's signature;
//! - sends the audio as `AudioEvent` messages of 100 ms each, paced in real time (`--fast`
//!   sends them at once), then ends the stream with the signed end frame;
//! - prints each `TranscriptEvent`'s results as they arrive: `partial: ...` while Transcribe
//!   still revises a segment, `final: ...` once it settles (with the channel for stereo).
//!
//! Options (flags win over the environment):
//!
//! | flag | environment | default |
//! |---|---|---|
//! | `--region R` | `AWS_REGION`, `AWS_DEFAULT_REGION` | `us-east-1` |
//! | `--endpoint URL` | `TRANSCRIBE_ENDPOINT` | `https://transcribestreaming.R.amazonaws.com:8443` |
//! | `--language CODE` | | `en-US` |
//! | `--ca-cert FILE` | | the webpki roots only |
//! | `--fast` | | real-time pacing |
//!
//! Credentials come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for temporary ones,
//! `AWS_SESSION_TOKEN`. An application that wants profiles, SSO or instance roles gives
//! [`RequestSigning`] `aws-config`'s provider chain instead, through the adapter's
//! `aws-credential-types` feature (`AwsCredentials`): fresh credentials for each stream.
//!
//! Against a local mirror server (`evs serve`, or `eventstream_tokio::mirror::Mirror`) the
//! example works too: point `--endpoint` at it (with `--ca-cert` for a TLS mirror whose CA is
//! not a public one). The mirror verifies the request and the chain, then echoes each
//! `AudioEvent` back instead of transcribing it: the example counts the echoed audio events
//! and prints the count at the end (`echoed audio events: N`) rather than failing on them.

use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, SessionConfig, SessionEvent};
use eventstream::sign::Credentials;
use eventstream_tokio::{Client, ClientBuilder, Error, RequestSigning};
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The signing name of Transcribe streaming.
const SERVICE: &str = "transcribe";
/// The length of the audio in each `AudioEvent`.
const CHUNK_DURATION: Duration = Duration::from_millis(100);

#[tokio::main]
async fn main() {
    let code = match Options::from_args(std::env::args().skip(1)) {
        Ok(Some(options)) => match run(&options, &mut std::io::stdout()).await {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("transcribe: {e}");
                1
            }
        },
        Ok(None) => {
            println!("{USAGE}");
            0
        }
        Err(e) => {
            eprintln!("transcribe: {e}\n\n{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

const USAGE: &str = "\
usage: transcribe [--region R] [--endpoint URL] [--language CODE] [--ca-cert FILE] [--fast] FILE.wav

Streams a 16-bit PCM WAV file to Amazon Transcribe and prints the transcripts.
Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.
Region: --region, else AWS_REGION or AWS_DEFAULT_REGION, else us-east-1.
Endpoint: --endpoint, else TRANSCRIBE_ENDPOINT, else https://transcribestreaming.REGION.amazonaws.com:8443";

/// What a run needs.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// The WAV file.
    pub(crate) wav: PathBuf,
    /// The signing region.
    pub(crate) region: String,
    /// The base URL (scheme, authority); the request goes to its `/stream-transcription`.
    pub(crate) endpoint: String,
    /// The language code, e.g. `en-US`.
    pub(crate) language: String,
    /// A PEM file of CA certificates to trust besides the webpki roots.
    pub(crate) ca_cert: Option<PathBuf>,
    /// Send the audio at once instead of in real time.
    pub(crate) fast: bool,
    /// The credentials that sign the request and the events.
    pub(crate) credentials: Credentials,
}

impl Options {
    /// Reads the flags and, for what they leave out, the environment. `Ok(None)` for `--help`.
    fn from_args(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (mut wav, mut region, mut endpoint, mut language, mut ca_cert, mut fast) =
            (None, None, None, None, None, false);
        let mut args = args;
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--region" => region = Some(value(&arg)?),
                "--endpoint" => endpoint = Some(value(&arg)?),
                "--language" => language = Some(value(&arg)?),
                "--ca-cert" => ca_cert = Some(PathBuf::from(value(&arg)?)),
                "--fast" => fast = true,
                flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
                _ if wav.is_some() => return Err(format!("one WAV file only, not also {arg}")),
                _ => wav = Some(PathBuf::from(arg)),
            }
        }
        let wav = wav.ok_or("no WAV file given")?;
        let region = region
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_string());
        let endpoint = endpoint
            .or_else(|| env("TRANSCRIBE_ENDPOINT"))
            .unwrap_or_else(|| format!("https://transcribestreaming.{region}.amazonaws.com:8443"));
        let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_string());
        };
        let mut credentials = Credentials::new(id, secret);
        if let Some(token) = env("AWS_SESSION_TOKEN") {
            credentials = credentials.with_session_token(token);
        }
        Ok(Some(Options {
            wav,
            region,
            endpoint,
            language: language.unwrap_or_else(|| "en-US".to_string()),
            ca_cert,
            fast,
            credentials,
        }))
    }
}

/// The format of a WAV file's audio, and where its samples are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wav {
    /// Samples per second.
    pub(crate) sample_rate: u32,
    /// Interleaved channels: 1 or 2.
    pub(crate) channels: u16,
    /// The byte range of the `data` chunk in the file.
    pub(crate) data: std::ops::Range<usize>,
}

impl Wav {
    /// The bytes of [`CHUNK_DURATION`] of audio: whole sample frames.
    pub(crate) fn chunk_len(&self) -> usize {
        let frames = self.sample_rate as usize * CHUNK_DURATION.as_millis() as usize / 1000;
        frames.max(1) * usize::from(self.channels) * 2
    }
}

/// Why a file is not a WAV file this example can stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WavError(pub(crate) String);

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a WAV file Transcribe can take: {}", self.0)
    }
}

impl std::error::Error for WavError {}

/// Reads a RIFF/WAVE header: the `fmt ` chunk (PCM or extensible PCM, 16 bits per sample,
/// one or two channels, 8 to 48 kHz) and the `data` chunk; other chunks are skipped. A `data`
/// chunk whose size runs past the end of the file (a recording that was never finalized)
/// takes the rest of the file.
pub(crate) fn parse_wav(file: &[u8]) -> Result<Wav, WavError> {
    let bad = |text: &str| WavError(text.to_string());
    let u16_at = |at: usize| u16::from_le_bytes([file[at], file[at + 1]]);
    let u32_at =
        |at: usize| u32::from_le_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
    if file.len() < 12 || &file[0..4] != b"RIFF" || &file[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header"));
    }
    let mut format = None;
    let mut at = 12;
    while at + 8 <= file.len() {
        let id = &file[at..at + 4];
        let len = u32_at(at + 4) as usize;
        let body = at + 8;
        match id {
            b"fmt " => {
                if len < 16 || body + 16 > file.len() {
                    return Err(bad("a fmt chunk shorter than 16 bytes"));
                }
                let tag = u16_at(body);
                let channels = u16_at(body + 2);
                let sample_rate = u32_at(body + 4);
                let bits = u16_at(body + 14);
                // WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first two bytes.
                let tag = if tag == 0xFFFE && len >= 40 && body + 26 <= file.len() {
                    u16_at(body + 24)
                } else {
                    tag
                };
                if tag != 1 {
                    return Err(WavError(format!("format {tag:#06x}, not PCM (1)")));
                }
                if bits != 16 {
                    return Err(WavError(format!("{bits}-bit samples, not 16-bit")));
                }
                if !(1..=2).contains(&channels) {
                    return Err(WavError(format!("{channels} channels, not 1 or 2")));
                }
                if !(8_000..=48_000).contains(&sample_rate) {
                    return Err(WavError(format!(
                        "a sample rate of {sample_rate} Hz, not 8000 to 48000"
                    )));
                }
                format = Some((sample_rate, channels));
            }
            b"data" => {
                let (sample_rate, channels) = format.ok_or(bad("a data chunk before fmt"))?;
                let end = body.saturating_add(len).min(file.len());
                return Ok(Wav {
                    sample_rate,
                    channels,
                    data: body..end,
                });
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body.saturating_add(len).saturating_add(len & 1);
    }
    Err(bad(if format.is_some() {
        "no data chunk"
    } else {
        "no fmt chunk"
    }))
}

/// One transcript result of a `TranscriptEvent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Transcript {
    /// The best alternative's text.
    pub(crate) text: String,
    /// Whether Transcribe may still revise it.
    pub(crate) partial: bool,
    /// The channel (`ch_0`, `ch_1`) with channel identification on.
    pub(crate) channel: Option<String>,
}

/// The results of a `TranscriptEvent`'s JSON payload:
/// `Transcript.Results[].Alternatives[0].Transcript`, with `IsPartial` and `ChannelId`.
/// Results without an alternative are left out.
pub(crate) fn parse_transcript_event(payload: &[u8]) -> Result<Vec<Transcript>, String> {
    let json: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| format!("a TranscriptEvent that is not JSON: {e}"))?;
    let results = json
        .pointer("/Transcript/Results")
        .and_then(|r| r.as_array())
        .ok_or("a TranscriptEvent without Transcript.Results")?;
    Ok(results
        .iter()
        .filter_map(|result| {
            let text = result.pointer("/Alternatives/0/Transcript")?.as_str()?;
            Some(Transcript {
                text: text.to_string(),
                partial: result
                    .get("IsPartial")
                    .and_then(|p| p.as_bool())
                    .unwrap_or(false),
                channel: result
                    .get("ChannelId")
                    .and_then(|c| c.as_str())
                    .map(str::to_string),
            })
        })
        .collect())
}

/// How a run went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// `AudioEvent` messages sent.
    pub(crate) audio_events_sent: usize,
    /// Audio bytes sent.
    pub(crate) audio_bytes_sent: usize,
    /// `TranscriptEvent` messages received.
    pub(crate) transcript_events: usize,
    /// The final results among them.
    pub(crate) final_results: usize,
    /// `AudioEvent` messages that came back: a mirror server echoes them.
    pub(crate) echoed_audio_events: usize,
    /// Other events received.
    pub(crate) other_events: usize,
}

/// Why a run failed.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The WAV file could not be read or is not 16-bit PCM.
    Wav(String),
    /// The CA file or the request could not be set up.
    Setup(String),
    /// Setting up the client or the stream, or the stream itself, failed.
    Stream(Error),
    /// The service ended the stream with an exception (`BadRequestException`, ...) or an error.
    Service { kind: String, message: String },
    /// A `TranscriptEvent` that could not be read.
    Protocol(String),
    /// Writing the output failed.
    Output(std::io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Wav(e) | RunError::Setup(e) => f.write_str(e),
            RunError::Stream(Error::Status { status, body, .. }) => write!(
                f,
                "the service answered {status}: {}",
                String::from_utf8_lossy(body).trim()
            ),
            RunError::Stream(e) => write!(f, "{e} [{}]", e.kind()),
            RunError::Service { kind, message } => write!(f, "{kind}: {message}"),
            RunError::Protocol(e) => f.write_str(e),
            RunError::Output(e) => write!(f, "cannot write the output: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<Error> for RunError {
    fn from(e: Error) -> Self {
        RunError::Stream(e)
    }
}

/// Streams `options.wav` and writes what comes back to `out`: the transcripts, then a summary
/// line of the audio sent and, when there were any, of the audio events echoed back.
pub(crate) async fn run(options: &Options, out: &mut impl Write) -> Result<Summary, RunError> {
    let file = std::fs::read(&options.wav)
        .map_err(|e| RunError::Wav(format!("cannot read {}: {e}", options.wav.display())))?;
    let wav =
        parse_wav(&file).map_err(|e| RunError::Wav(format!("{}: {e}", options.wav.display())))?;
    let audio = &file[wav.data.clone()];

    let mut builder = ClientBuilder::new();
    if let Some(path) = &options.ca_cert {
        let pem = std::fs::read(path)
            .map_err(|e| RunError::Setup(format!("cannot read {}: {e}", path.display())))?;
        builder = builder.add_ca_pem(&pem)?;
    }
    let client: Client = builder.build();

    let uri = format!(
        "{}/stream-transcription",
        options.endpoint.trim_end_matches('/')
    );
    let mut request = http::Request::post(uri)
        .header("x-amzn-transcribe-language-code", &options.language)
        .header("x-amzn-transcribe-sample-rate", wav.sample_rate.to_string())
        .header("x-amzn-transcribe-media-encoding", "pcm");
    if wav.channels == 2 {
        request = request
            .header("x-amzn-transcribe-enable-channel-identification", "true")
            .header("x-amzn-transcribe-number-of-channels", "2");
    }
    let request = request
        .body(())
        .map_err(|e| RunError::Setup(format!("a request http cannot hold: {e}")))?;
    // One call signs the request (SigV4 at the system clock's time, with the streaming payload
    // hash) and seeds the chain that signs every event with the request's signature.
    let signing = RequestSigning::new(options.credentials.clone(), &options.region, SERVICE);
    let config = SessionConfig::new(Role::Client, Mode::HttpBinding);
    let (mut sender, mut receiver) = client.open_signed(request, config, &signing).await?;

    let mut summary = Summary::default();
    let send = async {
        let mut sent = (0, 0);
        let mut pace = tokio::time::interval(CHUNK_DURATION);
        for chunk in audio.chunks(wav.chunk_len()) {
            if !options.fast {
                pace.tick().await;
            }
            sender.send(audio_event(chunk)).await?;
            sent = (sent.0 + 1, sent.1 + chunk.len());
        }
        sender.finish().await?;
        Ok::<_, Error>(sent)
    };
    let receive = async {
        while let Some(event) = receiver.recv().await {
            match event? {
                SessionEvent::Event(message) => on_event(&message, &mut summary, out)?,
                SessionEvent::Exception {
                    exception_type,
                    message,
                } => {
                    return Err(RunError::Service {
                        kind: exception_type.to_string(),
                        message: service_message(message.payload()),
                    })
                }
                SessionEvent::Error { code, text, .. } => {
                    return Err(RunError::Service {
                        kind: code.to_string(),
                        message: text.to_string(),
                    })
                }
                SessionEvent::End => break,
                SessionEvent::Failed(e) => return Err(RunError::Stream(Error::Session(e))),
                _ => summary.other_events += 1,
            }
        }
        Ok(())
    };
    let (sent, received) = tokio::join!(send, receive);
    // The receiving side knows why a stream failed (an exception, a status): its error first.
    received?;
    let (events, bytes) = sent?;
    summary.audio_events_sent = events;
    summary.audio_bytes_sent = bytes;
    let seconds = bytes as f64 / (f64::from(wav.sample_rate) * f64::from(wav.channels) * 2.0);
    let output = |out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(
            out,
            "sent audio events: {events} ({bytes} bytes, {seconds:.1} s at {} Hz, {} channel(s))",
            wav.sample_rate, wav.channels
        )?;
        if summary.echoed_audio_events > 0 {
            writeln!(
                out,
                "echoed audio events: {} (a mirror server, not Transcribe)",
                summary.echoed_audio_events
            )?;
        }
        out.flush()
    };
    output(out).map_err(RunError::Output)?;
    Ok(summary)
}

/// One `AudioEvent`: the raw PCM bytes of `chunk`.
fn audio_event(chunk: &[u8]) -> Message {
    EventBuilder::new("AudioEvent")
        .content_type("application/octet-stream")
        .payload(chunk.to_vec())
        .build()
}

/// Prints a `TranscriptEvent`'s results, counts an echoed `AudioEvent`.
fn on_event(
    message: &Message,
    summary: &mut Summary,
    out: &mut impl Write,
) -> Result<(), RunError> {
    match message.header_str(":event-type") {
        Some("TranscriptEvent") => {
            summary.transcript_events += 1;
            for result in parse_transcript_event(message.payload()).map_err(RunError::Protocol)? {
                if !result.partial {
                    summary.final_results += 1;
                }
                let state = if result.partial { "partial" } else { "final" };
                match &result.channel {
                    Some(channel) => writeln!(out, "{state} [{channel}]: {}", result.text),
                    None => writeln!(out, "{state}: {}", result.text),
                }
                .and_then(|()| out.flush())
                .map_err(RunError::Output)?;
            }
        }
        Some("AudioEvent") => summary.echoed_audio_events += 1,
        _ => summary.other_events += 1,
    }
    Ok(())
}

/// The `Message` of an exception's JSON payload, else the payload as text.
fn service_message(payload: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|json| {
            json.get("Message")
                .or_else(|| json.get("message"))
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned())
}
