//! `e2e`: our tokio client against the AWS SDK for Rust (`aws-sdk-transcribestreaming`), end to
//! end, side by side in one process, against the same in-process mirror server.
//!
//! ```text
//! cargo bench -p eventstream-benches --bench e2e [-- --events 20000 --runs 5 --payload 1024]
//! ```
//!
//! Variants, run interleaved (one run of each per round, the order rotated every round):
//!
//! - **ours, signed**: `eventstream_tokio::Client` with a SigV4 event chain (`SigV4Signer`),
//!   against the mirror verifying the chain (`Mirror::new().with_signing(..)`);
//! - **SDK, signed**: `start_stream_transcription` with `AudioEvent`s, which the SDK signs (the
//!   request head and the event chain), against the same verifying mirror, over cleartext
//!   HTTP/2 (testkit's `sdk_h2c`: hyper-util, HTTP/2 only, TCP_NODELAY);
//! - **ours, unsigned**: our client without signing, against `Mirror::new()`.
//!
//! Each run opens one stream on a fresh connection, sends N `AudioEvent`s with distinct payloads,
//! reads every echo and the end of the response. Every run checks its echoes after the clock
//! stops: ours compares each echoed message with what was sent, in order; the SDK hands its
//! caller no bytes for the echoes (they arrive as `TranscriptResultStream::Unknown`), so its run
//! counts them and checks content and order on the raw response body its HTTP client received
//! (a `Bytes` clone of each DATA frame kept until the clock stops, decoded afterwards). The
//! mirror's report of each stream must show every event echoed and, signed, the whole chain
//! verified.
//!
//! The server and the client each run on a tokio runtime of their own, on named threads; CPU is
//! the on-CPU time of those threads over a run, from `/proc/self/task/<tid>/schedstat`
//! (nanoseconds; `stat`'s utime + stime in clock ticks where there is no schedstat). The main
//! thread only waits and is not counted.
//!
//! The latency rows send single events at a paced rate (1,000 events/s by default) on one
//! stream and take, for each event, the time from handing it over (ours: `Sender::send`; the SDK:
//! into its input stream) to its echo arriving (ours: out of `Receiver::recv`; the SDK: out of
//! `recv()`).
//!
//! Nothing here fails on a duration; the figures are noisy on a busy machine.

use aws_sdk_transcribestreaming::config::{BehaviorVersion, Credentials as SdkCredentials, Region};
use aws_sdk_transcribestreaming::primitives::event_stream::EventStreamSender;
use aws_sdk_transcribestreaming::primitives::Blob;
use aws_sdk_transcribestreaming::types::error::AudioStreamError;
use aws_sdk_transcribestreaming::types::{AudioEvent, AudioStream, LanguageCode, MediaEncoding};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use eventstream::frame::{FrameDecoder, Message};
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{Credentials, SigV4Signer, SigningParams};
use eventstream_testkit::sdk_h2c::H2cConnector;
use eventstream_testkit::{error_chain, SplitMix64};
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport};
use eventstream_tokio::Client;
use futures::StreamExt as _;
use hyper::body::{Body, Frame, SizeHint};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
/// The SDK signs for `transcribe`; our client signs with the same parameters.
const SERVICE: &str = "transcribe";
/// The seed of our client's chain, carried in its request's `Authorization` header, from which
/// the mirror seeds its verifier (our request head itself is not signed here; the SDK's is, once
/// per stream).
const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";
const CLIENT_THREADS: &str = "e2e-client";
const SERVER_THREADS: &str = "e2e-server";
/// Only so that a lost report stops the benchmark instead of hanging it; never a performance
/// bound.
const HANG: Duration = Duration::from_secs(120);

/// What to run: `E2E_*` environment variables, overridden by arguments.
#[derive(Debug)]
struct Config {
    events: usize,
    runs: usize,
    payload: usize,
    latency_events: usize,
    rate: u32,
    client_threads: usize,
    server_threads: usize,
}

const OPTIONS: &[(&str, &str)] = &[
    ("--events", "E2E_EVENTS"),
    ("--runs", "E2E_RUNS"),
    ("--payload", "E2E_PAYLOAD"),
    ("--latency-events", "E2E_LATENCY_EVENTS"),
    ("--rate", "E2E_RATE"),
    ("--client-threads", "E2E_CLIENT_THREADS"),
    ("--server-threads", "E2E_SERVER_THREADS"),
];

fn usage() -> ! {
    eprintln!("options (or the environment variables):");
    for (option, var) in OPTIONS {
        eprintln!("  {option} N  ({var})");
    }
    std::process::exit(2)
}

fn parse_config() -> Config {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut config = Config {
        events: 20_000,
        runs: 5,
        payload: 1024,
        latency_events: 1_000,
        rate: 1_000,
        client_threads: cores,
        server_threads: cores,
    };
    let mut set = |option: &str, value: &str| {
        let Ok(n) = value.parse::<usize>() else {
            eprintln!("{option} takes a number, not {value:?}");
            usage()
        };
        match option {
            "--events" => config.events = n.max(1),
            "--runs" => config.runs = n.max(1),
            "--payload" => config.payload = n,
            "--latency-events" => config.latency_events = n,
            "--rate" => config.rate = u32::try_from(n.max(1)).unwrap_or(u32::MAX),
            "--client-threads" => config.client_threads = n.max(1),
            "--server-threads" => config.server_threads = n.max(1),
            _ => usage(),
        }
    };
    for (option, var) in OPTIONS {
        if let Ok(value) = std::env::var(var) {
            set(option, &value);
        }
    }
    // `cargo bench` passes `--bench`; a filter or anything else is refused.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut args = args.iter();
    while let Some(option) = args.next() {
        let Some(value) = args.next() else { usage() };
        set(option, value);
    }
    config
}

/// The variants, in the order of the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// Ours, signed, events queued with `Sender::feed` (one flush at the end).
    OursSigned,
    /// Ours, signed, each event awaited with `Sender::send` (one DATA frame each).
    OursSignedSend,
    SdkSigned,
    /// Ours, unsigned, with `Sender::feed`.
    OursUnsigned,
}

const VARIANTS: [Variant; 4] = [
    Variant::OursSigned,
    Variant::OursSignedSend,
    Variant::SdkSigned,
    Variant::OursUnsigned,
];

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::OursSigned => "our tokio client, signed (feed)",
            Variant::OursSignedSend => "our tokio client, signed (send per event)",
            Variant::SdkSigned => "AWS SDK for Rust (aws-sdk-transcribestreaming), signed",
            Variant::OursUnsigned => "our tokio client, unsigned (feed)",
        }
    }
}

/// Distinct payloads: the sequence number, then bytes of a generator seeded with it.
fn payloads(n: usize, len: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            let mut rng = SplitMix64::new(i as u64);
            let mut payload: Vec<u8> = (i as u64).to_be_bytes().to_vec();
            while payload.len() < len {
                payload.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
            payload.truncate(len);
            Bytes::from(payload)
        })
        .collect()
}

/// Our `AudioEvent`: the headers the SDK writes for one (`:message-type`, `:event-type`,
/// `:content-type` `application/octet-stream`).
fn our_events(payloads: &[Bytes]) -> Vec<Message> {
    payloads
        .iter()
        .map(|p| {
            EventBuilder::new("AudioEvent")
                .content_type("application/octet-stream")
                .payload(p.clone())
                .build()
        })
        .collect()
}

fn sdk_events(payloads: &[Bytes]) -> Vec<AudioStream> {
    payloads
        .iter()
        .map(|p| {
            AudioStream::AudioEvent(
                AudioEvent::builder()
                    .audio_chunk(Blob::new(p.to_vec()))
                    .build(),
            )
        })
        .collect()
}

fn params() -> SigningParams {
    SigningParams::new(Credentials::new(ACCESS_KEY_ID, SECRET), REGION, SERVICE)
}

// ---- CPU time of a runtime's threads ----

/// Where thread CPU time comes from.
#[derive(Clone, Copy, Debug)]
enum CpuSource {
    /// `/proc/self/task/<tid>/schedstat`: nanoseconds on a CPU.
    SchedStat,
    /// `/proc/self/task/<tid>/stat`: utime + stime, in ticks of 10 ms (USER_HZ is 100).
    Stat,
    /// Neither (not Linux).
    None,
}

impl CpuSource {
    fn detect() -> CpuSource {
        if std::fs::read_to_string("/proc/thread-self/schedstat").is_ok() {
            CpuSource::SchedStat
        } else if std::fs::read_to_string("/proc/thread-self/stat").is_ok() {
            CpuSource::Stat
        } else {
            CpuSource::None
        }
    }

    fn describe(self) -> &'static str {
        match self {
            CpuSource::SchedStat => "/proc/self/task/<tid>/schedstat (on-CPU nanoseconds)",
            CpuSource::Stat => "/proc/self/task/<tid>/stat utime + stime (10 ms ticks)",
            CpuSource::None => "unavailable on this system",
        }
    }

    /// The CPU time of one thread so far.
    fn thread(self, dir: &Path) -> Option<Duration> {
        match self {
            CpuSource::SchedStat => {
                let text = std::fs::read_to_string(dir.join("schedstat")).ok()?;
                let ns = text.split_whitespace().next()?.parse().ok()?;
                Some(Duration::from_nanos(ns))
            }
            CpuSource::Stat => {
                let text = std::fs::read_to_string(dir.join("stat")).ok()?;
                // After the command name in parentheses: state is field 3, utime 14, stime 15.
                let rest = &text[text.rfind(')')? + 1..];
                let mut fields = rest.split_whitespace().skip(11);
                let utime: u64 = fields.next()?.parse().ok()?;
                let stime: u64 = fields.next()?.parse().ok()?;
                Some(Duration::from_millis((utime + stime) * 10))
            }
            CpuSource::None => None,
        }
    }

    /// The CPU time so far of this process's threads named `name` (a runtime's workers and
    /// blocking threads).
    fn threads_named(self, name: &str) -> Option<Duration> {
        if let CpuSource::None = self {
            return None;
        }
        let mut total = Duration::ZERO;
        for entry in std::fs::read_dir("/proc/self/task").ok()? {
            let Ok(entry) = entry else { continue };
            let dir = entry.path();
            let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
                continue; // the thread ended
            };
            if comm.trim_end() == name {
                total += self.thread(&dir).unwrap_or_default();
            }
        }
        Some(total)
    }
}

/// CPU of the client's and the server's threads at one moment.
#[derive(Clone, Copy, Debug)]
struct CpuSnapshot {
    client: Option<Duration>,
    server: Option<Duration>,
}

impl CpuSnapshot {
    fn take(source: CpuSource) -> CpuSnapshot {
        CpuSnapshot {
            client: source.threads_named(CLIENT_THREADS),
            server: source.threads_named(SERVER_THREADS),
        }
    }

    /// The CPU spent since `earlier`, in µs per event.
    fn per_event_since(&self, earlier: &CpuSnapshot, events: usize) -> (Option<f64>, Option<f64>) {
        let per = |now: Option<Duration>, then: Option<Duration>| {
            Some(now?.saturating_sub(then?).as_secs_f64() * 1e6 / events as f64)
        };
        (
            per(self.client, earlier.client),
            per(self.server, earlier.server),
        )
    }
}

fn runtime(name: &'static str, threads: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        // A blocking thread that ended during a run would take its CPU time with it.
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

// ---- the server ----

/// The mirrors, on the server runtime; their stream reports come out of `reports`.
struct Servers {
    verifying: SocketAddr,
    unchecked: SocketAddr,
    reports: mpsc::Receiver<MirrorReport>,
}

fn start_servers(server: &Runtime) -> Servers {
    let (tx, reports) = mpsc::channel();
    let start = |mirror: Mirror| {
        let tx = tx.clone();
        let mirror = mirror.on_stream_end(move |report| {
            let _ = tx.send(report.clone());
        });
        let listener = server
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("binds a loopback port");
        let addr = listener.local_addr().expect("has an address");
        server.spawn(mirror.serve(listener));
        addr
    };
    Servers {
        verifying: start(Mirror::new().with_signing(params())),
        unchecked: start(Mirror::new()),
        reports,
    }
}

/// Checks the mirror's report of the stream just run.
fn check_report(reports: &mpsc::Receiver<MirrorReport>, variant: Variant, events: usize) {
    let report = reports
        .recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{}: the mirror never reported the stream", variant.label()));
    assert_eq!(
        report.echoed,
        events as u64,
        "{}: echoed by the mirror: {report:?}",
        variant.label()
    );
    match variant {
        Variant::OursSigned | Variant::OursSignedSend | Variant::SdkSigned => assert!(
            report.verified_chain(),
            "{}: the chain must be verified: {report:?}",
            variant.label()
        ),
        Variant::OursUnsigned => assert!(
            matches!(report.outcome, MirrorOutcome::Finished),
            "{}: {report:?}",
            variant.label()
        ),
    }
}

// ---- our client ----

/// What a run of our client saw: its duration, each echo, and (paced runs only) when each
/// event was handed over and each echo came out.
struct OursRun {
    elapsed: Duration,
    echoes: Vec<Message>,
    sent_at: Vec<Instant>,
    echoed_at: Vec<Instant>,
}

async fn run_ours(
    addr: SocketAddr,
    events: Vec<Message>,
    signed: bool,
    batch: bool,
    pace: Option<Duration>,
) -> OursRun {
    let start = Instant::now();
    let client = Client::connect(addr).await.expect("connects");
    let mut request = http::Request::post(format!("http://{addr}/stream-transcription"));
    let mut session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
    if signed {
        request = request.header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20240101/{REGION}/{SERVICE}/aws4_request, \
                 SignedHeaders=host, Signature={SEED}"
            ),
        );
        session = session.with_signer(SigV4Signer::new(params(), SEED));
    }
    let request = request.body(()).expect("a request");
    let (mut sender, mut receiver) = client.open(request, session).await.expect("opens");
    let expected = events.len();
    let timed = pace.is_some();
    let reader = tokio::spawn(async move {
        let mut echoes = Vec::with_capacity(expected);
        let mut echoed_at = Vec::with_capacity(if timed { expected } else { 0 });
        loop {
            match receiver.recv().await {
                Some(Ok(SessionEvent::Event(m))) => {
                    if timed {
                        echoed_at.push(Instant::now());
                    }
                    echoes.push(m);
                }
                Some(Ok(SessionEvent::End)) => break,
                other => panic!("ours: unexpected {other:?}"),
            }
        }
        (echoes, echoed_at)
    });
    let mut sent_at = Vec::with_capacity(if timed { expected } else { 0 });
    let mut ticks = pace.map(ticker);
    for event in events {
        if let Some(ticks) = &mut ticks {
            ticks.tick().await;
            sent_at.push(Instant::now());
        }
        // A paced event goes out at once; a burst is queued and goes out in as few DATA frames
        // as the stream's window allows.
        if batch && !timed {
            sender.feed(event).await.expect("sends");
        } else {
            sender.send(event).await.expect("sends");
        }
    }
    sender.finish().await.expect("finishes");
    let (echoes, echoed_at) = reader.await.expect("the reader does not panic");
    OursRun {
        elapsed: start.elapsed(),
        echoes,
        sent_at,
        echoed_at,
    }
}

fn ticker(period: Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// Every echo intact and in order.
fn check_ours(label: &str, echoes: &[Message], payloads: &[Bytes]) {
    assert_eq!(echoes.len(), payloads.len(), "{label}: echoes");
    for (i, (echo, payload)) in echoes.iter().zip(payloads).enumerate() {
        assert_eq!(
            echo.header_str(":event-type"),
            Some("AudioEvent"),
            "{label}: echo {i}"
        );
        assert!(echo.payload() == payload, "{label}: echo {i} differs");
    }
}

// ---- the SDK ----

/// The SDK's connector: testkit's cleartext HTTP/2 connector, with every DATA frame of the
/// response body kept (a `Bytes` clone) for the check after the run.
#[derive(Clone, Debug)]
struct Keeping {
    inner: H2cConnector,
    kept: Arc<Mutex<Vec<Bytes>>>,
}

impl HttpConnector for Keeping {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let response = self.inner.call(request);
        let kept = self.kept.clone();
        HttpConnectorFuture::new(async move {
            let mut response = response.await?;
            let body = response.take_body();
            *response.body_mut() = SdkBody::from_body_1_x(KeptBody { body, kept });
            Ok(response)
        })
    }
}

/// A response body that hands on every frame and keeps a clone of each DATA frame.
struct KeptBody {
    body: SdkBody,
    kept: Arc<Mutex<Vec<Bytes>>>,
}

impl Body for KeptBody {
    type Data = Bytes;
    type Error = <SdkBody as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.kept.lock().expect("not poisoned").push(data.clone());
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        Body::size_hint(&self.body)
    }
}

/// What a run of the SDK saw.
struct SdkRun {
    elapsed: Duration,
    unknown: usize,
    kept: Vec<Bytes>,
    sent_at: Vec<Instant>,
    echoed_at: Vec<Instant>,
}

async fn run_sdk(addr: SocketAddr, events: Vec<AudioStream>, pace: Option<Duration>) -> SdkRun {
    let start = Instant::now();
    let kept = Arc::new(Mutex::new(Vec::with_capacity(events.len())));
    let connector = SharedHttpConnector::new(Keeping {
        inner: H2cConnector::new(),
        kept: kept.clone(),
    });
    let config = aws_sdk_transcribestreaming::Config::builder()
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new(REGION))
        .credentials_provider(SdkCredentials::new(
            ACCESS_KEY_ID,
            SECRET,
            None,
            None,
            "e2e",
        ))
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client_fn(move |_, _| connector.clone()))
        .build();
    let expected = events.len();
    let timed = pace.is_some();
    // Paced: a task hands each event to the input stream on its tick and notes when.
    let (input, feeder): (EventStreamSender<AudioStream, AudioStreamError>, _) = match pace {
        None => (
            futures::stream::iter(events.into_iter().map(Ok)).into(),
            None,
        ),
        Some(period) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<AudioStream>();
            let feeder = tokio::spawn(async move {
                let mut sent_at = Vec::with_capacity(expected);
                let mut ticks = ticker(period);
                for event in events {
                    ticks.tick().await;
                    sent_at.push(Instant::now());
                    tx.send(event).expect("the SDK reads its input");
                }
                sent_at
            });
            // Fused: the SDK polls its input once more after the end.
            let input = futures::stream::unfold(rx, |mut rx| async move {
                let event = rx.recv().await?;
                Some((Ok::<_, AudioStreamError>(event), rx))
            })
            .fuse();
            (input.into(), Some(feeder))
        }
    };
    let output = aws_sdk_transcribestreaming::Client::from_conf(config)
        .start_stream_transcription()
        .language_code(LanguageCode::EnUs)
        .media_encoding(MediaEncoding::Pcm)
        .media_sample_rate_hertz(16_000)
        .audio_stream(input)
        .send()
        .await
        .unwrap_or_else(|e| panic!("SDK: start_stream_transcription: {}", error_chain(&e)));
    let mut results = output.transcript_result_stream;
    let mut unknown = 0;
    let mut echoed_at = Vec::with_capacity(if timed { expected } else { 0 });
    loop {
        match results.recv().await {
            Ok(Some(event)) if event.is_unknown() => {
                if timed {
                    echoed_at.push(Instant::now());
                }
                unknown += 1;
            }
            Ok(Some(other)) => panic!("SDK: an event the mirror never sends: {other:?}"),
            Ok(None) => break,
            Err(e) => panic!("SDK: receive failed: {}", error_chain(&e)),
        }
    }
    let elapsed = start.elapsed();
    let sent_at = match feeder {
        Some(feeder) => feeder.await.expect("the feeder does not panic"),
        None => Vec::new(),
    };
    let kept = std::mem::take(&mut *kept.lock().expect("not poisoned"));
    SdkRun {
        elapsed,
        unknown,
        kept,
        sent_at,
        echoed_at,
    }
}

/// The SDK saw every echo (count), and the response body it received holds every event intact
/// and in order.
fn check_sdk(run: &SdkRun, payloads: &[Bytes]) {
    let label = Variant::SdkSigned.label();
    assert_eq!(
        run.unknown,
        payloads.len(),
        "{label}: echoes the SDK handed out"
    );
    let mut decoder = FrameDecoder::new();
    let mut expected = payloads.iter().enumerate();
    let mut check = |decoder: &mut FrameDecoder| {
        while let Some(message) = decoder.poll_message().expect("a valid response body") {
            let (i, payload) = expected.next().expect("no more echoes than events");
            assert_eq!(
                message.header_str(":event-type"),
                Some("AudioEvent"),
                "{label}: echo {i}"
            );
            assert!(message.payload() == payload, "{label}: echo {i} differs");
        }
    };
    for data in &run.kept {
        decoder.handle_bytes(data);
        check(&mut decoder);
    }
    decoder
        .handle_end_of_input()
        .expect("the body ends on a frame boundary");
    check(&mut decoder);
    assert!(expected.next().is_none(), "{label}: an echo is missing");
}

// ---- one run of a variant ----

/// One throughput run: events/s, client and server CPU µs per event.
struct Sample {
    rate: f64,
    client_cpu: Option<f64>,
    server_cpu: Option<f64>,
}

struct Bench {
    client: Runtime,
    servers: Servers,
    source: CpuSource,
    payloads: Arc<Vec<Bytes>>,
}

impl Bench {
    fn addr(&self, variant: Variant) -> SocketAddr {
        match variant {
            Variant::OursSigned | Variant::OursSignedSend | Variant::SdkSigned => {
                self.servers.verifying
            }
            Variant::OursUnsigned => self.servers.unchecked,
        }
    }

    /// Runs `variant` over the first `n` payloads; paced runs return each event's round trip.
    fn run(&self, variant: Variant, n: usize, pace: Option<Duration>) -> (Sample, Vec<Duration>) {
        let payloads = &self.payloads[..n];
        let addr = self.addr(variant);
        eprintln!(
            "{}: {n} events{}",
            variant.label(),
            if pace.is_some() { ", paced" } else { "" }
        );
        // The events are built here, on the main thread, outside the CPU measured.
        let (elapsed, before, after, latencies) = match variant {
            Variant::OursSigned | Variant::OursSignedSend | Variant::OursUnsigned => {
                let events = our_events(payloads);
                let signed = variant != Variant::OursUnsigned;
                let batch = variant != Variant::OursSignedSend;
                let before = CpuSnapshot::take(self.source);
                let run = self
                    .client
                    .block_on(
                        self.client
                            .spawn(unhung(run_ours(addr, events, signed, batch, pace))),
                    )
                    .expect("the run does not panic");
                // The mirror reports when it has ended the stream: its work is in the window.
                check_report(&self.servers.reports, variant, n);
                let after = CpuSnapshot::take(self.source);
                check_ours(variant.label(), &run.echoes, payloads);
                let latencies = round_trips(&run.sent_at, &run.echoed_at);
                (run.elapsed, before, after, latencies)
            }
            Variant::SdkSigned => {
                let events = sdk_events(payloads);
                let before = CpuSnapshot::take(self.source);
                let run = self
                    .client
                    .block_on(self.client.spawn(unhung(run_sdk(addr, events, pace))))
                    .expect("the run does not panic");
                // The mirror reports when it has ended the stream: its work is in the window.
                check_report(&self.servers.reports, variant, n);
                let after = CpuSnapshot::take(self.source);
                check_sdk(&run, payloads);
                let latencies = round_trips(&run.sent_at, &run.echoed_at);
                (run.elapsed, before, after, latencies)
            }
        };
        let (client_cpu, server_cpu) = after.per_event_since(&before, n);
        let sample = Sample {
            rate: n as f64 / elapsed.as_secs_f64(),
            client_cpu,
            server_cpu,
        };
        (sample, latencies)
    }
}

/// `run`, or a panic if it has not ended after [`HANG`] (a task that panicked inside the SDK's
/// HTTP client leaves its caller waiting).
async fn unhung<T>(run: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, run)
        .await
        .expect("the run ends (a hang guard, not a performance bound)")
}

fn round_trips(sent_at: &[Instant], echoed_at: &[Instant]) -> Vec<Duration> {
    assert_eq!(sent_at.len(), echoed_at.len(), "a time for every echo");
    sent_at
        .iter()
        .zip(echoed_at)
        .map(|(sent, echoed)| echoed.saturating_duration_since(*sent))
        .collect()
}

// ---- figures ----

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of the per-run figures that exist.
fn median_of(samples: &[Sample], f: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
    let mut values: Vec<f64> = samples.iter().filter_map(f).collect();
    (values.len() == samples.len() && !values.is_empty()).then(|| median(&mut values))
}

fn micros(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1} µs"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".to_string())
}

fn main() {
    let config = parse_config();
    let source = CpuSource::detect();
    let server = runtime(SERVER_THREADS, config.server_threads);
    let client = runtime(CLIENT_THREADS, config.client_threads);
    let servers = start_servers(&server);
    let bench = Bench {
        client,
        servers,
        source,
        payloads: Arc::new(payloads(
            config.events.max(config.latency_events),
            config.payload,
        )),
    };
    let period = Duration::from_secs(1) / config.rate;

    println!(
        "e2e: {} AudioEvents of {} bytes (distinct payloads) to the mirror and back, one stream on \
         a fresh HTTP/2 cleartext connection per run; {} interleaved runs per variant, the order \
         rotated every round, after one warm-up run each",
        config.events, config.payload, config.runs
    );
    println!(
        "server: eventstream_tokio::mirror::Mirror on 127.0.0.1 (verifying the SigV4 chain for the \
         signed variants), on its own tokio runtime: {} worker threads named {SERVER_THREADS}",
        config.server_threads
    );
    println!(
        "client: its own tokio runtime, {} worker threads named {CLIENT_THREADS}; the SDK through \
         testkit's sdk_h2c connector (hyper-util, HTTP/2 prior knowledge, TCP_NODELAY)",
        config.client_threads
    );
    println!(
        "signing: ours signs the event chain (SigV4Signer) from a fixed seed in its request's \
         Authorization header, its request head unsigned; the SDK signs its request head (once per \
         stream) and its event chain; ours queues a burst with Sender::feed (feed rows) or awaits \
         Sender::send per event (send row); paced rows always use send"
    );
    println!(
        "CPU: per run, the CPU time of each runtime's threads from {}, divided by the events; the \
         main thread, which only waits, is not counted",
        source.describe()
    );
    println!(
        "checks: every echo intact and in order (ours: each echoed message; the SDK: the count of \
         TranscriptResultStream::Unknown it handed out, and content and order on the raw response \
         body its HTTP client received); the mirror verified every signed chain"
    );
    println!("load average at start: {}", load_average());

    for variant in VARIANTS {
        bench.run(variant, config.events.min(1_000), None);
    }
    let mut samples: Vec<Vec<Sample>> = VARIANTS.iter().map(|_| Vec::new()).collect();
    let mut latencies: Vec<Vec<Duration>> = VARIANTS.iter().map(|_| Vec::new()).collect();
    for round in 0..config.runs {
        for k in 0..VARIANTS.len() {
            let v = (round + k) % VARIANTS.len();
            samples[v].push(bench.run(VARIANTS[v], config.events, None).0);
        }
        if config.latency_events > 0 {
            for k in 0..VARIANTS.len() {
                let v = (round + k) % VARIANTS.len();
                let (_, mut rtt) = bench.run(VARIANTS[v], config.latency_events, Some(period));
                latencies[v].append(&mut rtt);
            }
        }
    }
    println!("load average at end: {}", load_average());
    println!();

    println!(
        "| variant | events/s (median) | events/s (min-max) | client CPU per event | server CPU per event |"
    );
    println!("|---|---:|---:|---:|---:|");
    let mut medians = Vec::new();
    for (variant, samples) in VARIANTS.iter().zip(&samples) {
        let rate = median_of(samples, |s| Some(s.rate)).unwrap_or(0.0);
        let (lo, hi) = samples.iter().fold((f64::MAX, 0.0f64), |(lo, hi), s| {
            (lo.min(s.rate), hi.max(s.rate))
        });
        let client_cpu = median_of(samples, |s| s.client_cpu);
        let server_cpu = median_of(samples, |s| s.server_cpu);
        println!(
            "| {} | {:.1} k | {:.1}-{:.1} k | {} | {} |",
            variant.label(),
            rate / 1e3,
            lo / 1e3,
            hi / 1e3,
            micros(client_cpu),
            micros(server_cpu)
        );
        medians.push((rate, client_cpu, server_cpu));
    }
    let sdk = medians[2];
    println!();
    for (name, ours) in [("feed", medians[0]), ("send per event", medians[1])] {
        println!(
            "ours signed ({name}) / SDK signed (medians): events/s {:.2}x; client CPU per event {}; \
             server CPU per event {}",
            ours.0 / sdk.0,
            ours.1
                .zip(sdk.1)
                .map_or_else(|| "n/a".to_string(), |(o, s)| format!("{:.2}x", o / s)),
            ours.2
                .zip(sdk.2)
                .map_or_else(|| "n/a".to_string(), |(o, s)| format!("{:.2}x", o / s)),
        );
    }

    if config.latency_events > 0 {
        println!();
        println!(
            "round trip of single events at {} events/s ({} events x {} runs per variant):",
            config.rate, config.latency_events, config.runs
        );
        println!("| variant | p50 | p99 | max |");
        println!("|---|---:|---:|---:|");
        for (variant, rtt) in VARIANTS.iter().zip(&mut latencies) {
            rtt.sort();
            println!(
                "| {} | {:.0} µs | {:.0} µs | {:.0} µs |",
                variant.label(),
                percentile(rtt, 50.0).as_secs_f64() * 1e6,
                percentile(rtt, 99.0).as_secs_f64() * 1e6,
                rtt.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
            );
        }
    }
    // The server runtime drops last: the mirrors' connections are closed by then.
    drop(bench);
    drop(server);
}
