//! `h2_mirror`: events per second through the mirror over HTTP/2 on loopback, our tokio + h2
//! adapter against a plain h2 client and server that echo the same bytes as DATA frames, in the
//! same process and the same run.
//!
//! ```text
//! cargo run --release -p eventstream-benches --bin h2_mirror [-- --events 20000 --runs 5 --payload 1024 --streams 100]
//! cargo run --release -p eventstream-benches --bin h2_mirror -- --only tcp|tls|streams[:ours|:plain]
//! ```
//!
//! Each run opens a fresh connection (not timed: TCP, TLS and the HTTP/2 handshake), then times
//! its streams, a task on the runtime's two worker threads, from the first request to the end of
//! the last response. Every stream sends its events while another task reads the echoes and
//! checks that each is the one sent, intact and in order; a run that loses, alters or reorders
//! an echo panics.
//!
//! - **ours**: `Client::open` + `Sender::send` of each event (the core session encodes it), the
//!   `mirror` server (the core session decodes, checks and hands out each message, the echo is
//!   encoded again), and the client's `Receiver` decodes every echo, which must equal the event
//!   sent;
//! - **ours, signed**: the same with SigV4 signing on the way in and verification at the mirror;
//! - **plain h2**: the same event frames, pre-encoded, sent as one DATA frame each with h2's flow
//!   control, a server that echoes each DATA chunk as it comes, and a client that compares the
//!   bytes with those it sent.
//!
//! Three pairs of rows: one stream over TCP (ours unsigned and signed), one stream over TLS
//! (rustls with the ring provider at both ends, a certificate made at start, ALPN `h2`), and
//! `--streams` concurrent streams on one TCP connection that share the `--events` (each sends
//! its own slice of them, so the total is the same as one stream's). `--only` runs one pair, or
//! one side of it (`--only tls:ours`), to profile it. Both implementations use the same HTTP/2
//! settings at both ends: the adapter's defaults (see [`transport::Settings`]).
//!
//! The variants run interleaved, several times, after one round that is not counted; the table
//! shows the best and the median run. Nothing here fails on a duration.

mod ours;
mod plain;
mod tls;
mod transport;

use bytes::{Bytes, BytesMut};
use eventstream::frame::Message;
use eventstream::session::EventBuilder;
use ours::{OurClient, OurServer};
use plain::{Frames, PlainClient, PlainServer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use transport::{Settings, Transport};

/// What to run.
struct Config {
    /// Events per run (shared between the streams of the concurrent row).
    events: usize,
    /// Counted runs of each variant.
    runs: usize,
    /// Payload bytes of each event.
    payload: usize,
    /// Streams of the concurrent row.
    streams: usize,
    /// The pair of rows to run (an index into [`PAIRS`]); all by default.
    only: Option<usize>,
    /// The side of it to run, ours (`true`) or plain h2's; both by default.
    side: Option<bool>,
}

const USAGE: &str =
    "options: --events N --runs N --payload BYTES --streams N --only tcp|tls|streams[:ours|:plain]";

fn parse_args() -> Config {
    let mut config = Config {
        events: 20_000,
        runs: 5,
        payload: 1024,
        streams: 100,
        only: None,
        side: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--only" {
            let value = args.get(i + 1).map_or("", String::as_str);
            let (pair, side) = value.split_once(':').unwrap_or((value, ""));
            let only = ["tcp", "tls", "streams"].iter().position(|&p| p == pair);
            let side = match side {
                "" => Ok(None),
                "ours" => Ok(Some(true)),
                "plain" => Ok(Some(false)),
                _ => Err(()),
            };
            let (Some(only), Ok(side)) = (only, side) else {
                eprintln!("--only takes tcp, tls or streams, optionally with :ours or :plain");
                std::process::exit(2)
            };
            (config.only, config.side) = (Some(only), side);
            i += 2;
            continue;
        }
        let Some(value) = args.get(i + 1).and_then(|v| v.parse::<usize>().ok()) else {
            eprintln!("{} takes a number; {USAGE}", args[i]);
            std::process::exit(2)
        };
        match args[i].as_str() {
            "--events" => config.events = value.max(1),
            "--runs" => config.runs = value.max(1),
            "--payload" => config.payload = value,
            "--streams" => config.streams = value.max(1),
            other => {
                eprintln!("unknown option {other}; {USAGE}");
                std::process::exit(2)
            }
        }
        i += 2;
    }
    config
}

/// The benchmark's event: a JSON-ish payload of `len` bytes and three headers.
fn event(seq: usize, len: usize) -> Message {
    let mut payload = format!("{{\"seq\":{seq},\"data\":\"").into_bytes();
    payload.resize(len.saturating_sub(2).max(payload.len()), b'x');
    payload.extend_from_slice(b"\"}");
    EventBuilder::new("AudioEvent")
        .content_type("application/json")
        .payload(payload)
        .build()
}

/// The wire form of `message`.
fn encode(message: &Message) -> Bytes {
    let mut out = BytesMut::new();
    message.encode(&mut out).expect("encodes");
    out.freeze()
}

/// The request URI over `transport` (HTTP/2 sends its scheme and authority).
fn uri(transport: &Transport) -> &'static str {
    match transport {
        Transport::Tcp => "http://localhost/bench",
        Transport::Tls(_) => "https://localhost/bench",
    }
}

/// Which implementation a variant runs, with what.
enum Side {
    /// Plain h2: one stream for each entry, which it sends.
    Plain(Vec<Frames>),
    /// Ours: one stream for each entry, which it sends; signed or not.
    Ours {
        streams: Vec<Arc<[Message]>>,
        signed: bool,
    },
}

impl Side {
    fn is_ours(&self) -> bool {
        matches!(self, Side::Ours { .. })
    }
}

/// One row of the table.
struct Variant {
    /// The pair of rows it belongs to (its plain h2 baseline is the pair's first variant).
    pair: usize,
    /// What it runs.
    name: &'static str,
    side: Side,
    transport: Transport,
    /// Its server.
    addr: SocketAddr,
    /// The least ratio of its median to its baseline's aimed at, if any.
    aim: Option<f64>,
    /// How long each counted run took.
    times: Vec<Duration>,
}

impl Variant {
    /// One run on a fresh connection, whose setup is not timed; how long it took.
    async fn run(&self, our_client: &OurClient, plain_client: &PlainClient) -> Duration {
        let uri = uri(&self.transport);
        // Each run is a task of the runtime, so that its two workers do all the work.
        let run: Pin<Box<dyn Future<Output = ()> + Send>> = match &self.side {
            Side::Plain(streams) => {
                let connection = self.transport.connect(self.addr, plain_client).await;
                Box::pin(plain::run(connection, uri, streams.clone()))
            }
            Side::Ours { streams, signed } => {
                let client = self.transport.connect(self.addr, our_client).await;
                Box::pin(ours::run(client, uri, streams.clone(), *signed))
            }
        };
        let start = Instant::now();
        tokio::spawn(run).await.expect("a run does not panic");
        start.elapsed()
    }

    /// Concurrent streams per run.
    fn streams(&self) -> usize {
        match &self.side {
            Side::Plain(streams) => streams.len(),
            Side::Ours { streams, .. } => streams.len(),
        }
    }

    /// Events per run, over all its streams.
    fn events(&self) -> usize {
        match &self.side {
            Side::Plain(streams) => streams.iter().map(|s| s.frames.len()).sum(),
            Side::Ours { streams, .. } => streams.iter().map(|s| s.len()).sum(),
        }
    }
}

/// The median of `times`.
fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The pairs of rows: what they measure.
const PAIRS: [&str; 3] = [
    "one stream, TCP",
    "one stream, TLS",
    "concurrent streams on one TCP connection",
];

fn main() {
    let config = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let settings = Settings::adapter_defaults();
    // The concurrent streams share the events: each sends its own consecutive slice.
    let per_stream = (config.events / config.streams).max(1);
    let events: Vec<Message> = (0..config.events.max(config.streams))
        .map(|i| event(i, config.payload))
        .collect();
    let frames: Vec<Bytes> = events.iter().map(encode).collect();
    let frame_len = frames[0].len();
    let one_stream = (
        vec![Frames::new(frames[..config.events].to_vec())],
        vec![Arc::<[Message]>::from(&events[..config.events])],
    );
    let many_streams = (
        frames
            .chunks_exact(per_stream)
            .take(config.streams)
            .map(|chunk| Frames::new(chunk.to_vec()))
            .collect::<Vec<_>>(),
        events
            .chunks_exact(per_stream)
            .take(config.streams)
            .map(Arc::<[Message]>::from)
            .collect::<Vec<_>>(),
    );
    drop((events, frames));
    let tls = tls::Tls::new();
    let (our_client, plain_client) = (OurClient::new(settings), PlainClient(settings));

    let variants = runtime.block_on(async {
        let tcp = Transport::Tcp;
        let over_tls = Transport::Tls(tls.clone());
        let plain = |(frames, _): &(Vec<Frames>, _)| Side::Plain(frames.clone());
        let ours = |(_, events): &(_, Vec<Arc<[Message]>>), signed| Side::Ours {
            streams: events.clone(),
            signed,
        };
        let unsigned = "ours: adapter + mirror, unsigned";
        let plain_name = "plain h2 echo (same bytes as DATA)";
        let rows = [
            (0, plain_name, plain(&one_stream), &tcp, None),
            (0, unsigned, ours(&one_stream, false), &tcp, Some(0.70)),
            (
                0,
                "ours: adapter + mirror, SigV4 signed + verified",
                ours(&one_stream, true),
                &tcp,
                None,
            ),
            (1, plain_name, plain(&one_stream), &over_tls, None),
            (1, unsigned, ours(&one_stream, false), &over_tls, Some(0.80)),
            (2, plain_name, plain(&many_streams), &tcp, None),
            (2, unsigned, ours(&many_streams, false), &tcp, Some(0.80)),
        ];
        let mut variants = Vec::new();
        for (pair, name, side, transport, aim) in rows {
            if config.only.is_some_and(|only| only != pair)
                || config.side.is_some_and(|ours| ours != side.is_ours())
            {
                continue;
            }
            let addr = match &side {
                Side::Plain(_) => transport.start(PlainServer(settings)).await,
                Side::Ours { signed, .. } => {
                    transport.start(OurServer::new(settings, *signed)).await
                }
            };
            variants.push(Variant {
                pair,
                name,
                side,
                transport: transport.clone(),
                addr,
                aim,
                times: Vec::new(),
            });
        }
        // One round not counted, then the counted ones; every run checks its echoes.
        for round in 0..=config.runs {
            for variant in &mut variants {
                let time = variant.run(&our_client, &plain_client).await;
                if round > 0 {
                    variant.times.push(time);
                }
            }
        }
        variants
    });

    println!(
        "h2_mirror: events of {} B payload ({} B frames) echoed over loopback; {} runs of each \
         variant, interleaved, after one round not counted; 2 worker threads",
        config.payload, frame_len, config.runs
    );
    println!(
        "HTTP/2 settings alike for ours and plain h2, at both ends: {} KiB stream windows, \
         {} KiB connection window, {} KiB max frame, at most {} concurrent streams",
        settings.stream_window / 1024,
        settings.connection_window / 1024,
        settings.max_frame_size / 1024,
        settings.max_concurrent_streams
    );
    println!(
        "TLS: rustls with the ring provider at both ends, ALPN h2, {}; each run's connection \
         setup (TCP, TLS, HTTP/2 handshake) is not timed",
        tls.agreed().unwrap_or("no TLS row run")
    );
    println!();
    println!("| rows | variant | best events/s | median events/s | median vs plain h2 |");
    println!("|---|---|---:|---:|---:|");
    let mut ratios = Vec::new();
    // The pair's plain h2 row and its median.
    let mut baseline: Option<(usize, Duration)> = None;
    for variant in &variants {
        let (streams, events) = (variant.streams(), variant.events());
        let best = *variant.times.iter().min().expect("at least one run");
        let median = median(variant.times.clone());
        if !variant.side.is_ours() {
            baseline = Some((variant.pair, median));
        }
        let ratio = baseline
            .filter(|&(pair, _)| pair == variant.pair)
            .map(|(_, plain)| plain.as_secs_f64() / median.as_secs_f64());
        let pair = PAIRS[variant.pair];
        let rows = if streams > 1 {
            format!("{streams} {pair}: {} events each", events / streams)
        } else {
            format!("{pair}: {events} events")
        };
        println!(
            "| {rows} | {} | {:.0} | {:.0} | {} |",
            variant.name,
            events as f64 / best.as_secs_f64(),
            events as f64 / median.as_secs_f64(),
            ratio.map_or("n/a".into(), |r| format!("{r:.2}x")),
        );
        if let Some((aim, ratio)) = variant.aim.zip(ratio) {
            ratios.push((rows, variant.name, ratio, aim));
        }
    }
    println!();
    for (rows, name, ratio, aim) in ratios {
        println!(
            "ratio of medians, ours / plain h2, {rows}, {name}: {ratio:.2} (aim: at least {aim:.2})"
        );
    }
}
