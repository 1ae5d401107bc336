//! `evs demo`: the project's main job end to end, in one process. The mirror server runs on a
//! loopback port and verifies SigV4 signing chains; a client opens a signed RPC stream over
//! HTTP/2, sends an initial request and N events while the echoes come back, finishes, and the
//! run ends with a summary.

use crate::send::{random_seed, signed_request};
use crate::serve::{describe, fail, runtime};
use clap::Args;
use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{Credentials, SigV4Signer, SigningParams, SigningTime};
use eventstream_tokio::mirror::{Mirror, MirrorReport};
use eventstream_tokio::Client;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// The arguments of `evs demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How many events to send.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=10_000_000)
    )]
    events: u64,
}

/// The demo's credentials: AWS's documentation example keys, which sign nothing real.
const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
/// The demo's secret access key.
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// The region of the demo's signing scope.
const REGION: &str = "us-east-1";
/// The service of the demo's signing scope.
const SERVICE: &str = "demo";
/// Echoes printed before the middle of a long run is elided.
const PRINTED: u64 = 10;

/// Runs `evs demo`.
pub(crate) fn run(args: &DemoArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail("io", e),
    };
    let result = runtime.block_on(demo(args.events));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err((kind, detail)) => fail(&kind, detail),
    }
}

/// What the demo's client saw.
#[derive(Debug, Default)]
struct Seen {
    initial_response: bool,
    events: u64,
    last_echo: Option<Instant>,
}

/// A readable line for an echoed event: its number, type and payload.
fn readable(message: &Message) -> String {
    let event_type = message
        .header_str(":event-type")
        .unwrap_or("(no :event-type)");
    let payload = String::from_utf8_lossy(message.payload());
    format!("{event_type:<16} {payload}")
}

/// Formats a count with thousands separators.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The demo; `Ok(false)` when the server did not verify the chain.
async fn demo(n: u64) -> Result<bool, (String, String)> {
    let io_err = |e: io::Error| ("io".to_string(), e.to_string());
    let stream_err = |e: eventstream_tokio::Error| (e.kind().to_string(), e.to_string());
    let mut out = Lines(io::stdout());
    let params = SigningParams::new(
        Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        REGION,
        SERVICE,
    );

    // The server: the mirror, verifying every chain, on a loopback port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io_err)?;
    let addr = listener.local_addr().map_err(io_err)?;
    let (report_tx, mut reports) = mpsc::unbounded_channel::<MirrorReport>();
    let mirror = Mirror::new()
        .with_signing(params.clone())
        .on_stream_end(move |report| {
            let _ = report_tx.send(report.clone());
        });
    let server = tokio::spawn(mirror.serve(listener));

    // The client: a signed RPC stream. The chain's seed is the signature of the HTTP request.
    let seed = random_seed();
    let time = SigningTime::from_system_time(SystemTime::now())
        .map_err(|e| ("clock_out_of_range".to_string(), e.to_string()))?;
    let request = signed_request(
        http::Request::post(format!("http://{addr}/demo")),
        &params,
        &seed,
        time,
    )
    .body(())
    .map_err(|e| ("usage".to_string(), e.to_string()))?;
    let session = Session::new(SessionConfig::new(Role::Client, Mode::Rpc))
        .with_signer(SigV4Signer::new(params, &seed));

    out.line(format_args!(
        "evs demo: {n} events over a SigV4-signed event stream, HTTP/2 on loopback\n\
         \n  server  mirror on http://{addr}/ (h2c), verifying every signing chain\n  \
         client  RPC mode, {ACCESS_KEY_ID} for {REGION}/{SERVICE}, seed {}…\n",
        &seed[..16]
    ));

    let client = Client::connect(addr).await.map_err(stream_err)?;
    let (mut sender, mut receiver) = client.open(request, session).await.map_err(stream_err)?;

    // Receive while sending: the echoes are printed as they arrive.
    let start = Instant::now();
    let printer = tokio::spawn(async move {
        let mut seen = Seen::default();
        let mut out = Lines(io::stdout());
        loop {
            match receiver.recv().await {
                Some(Ok(SessionEvent::InitialResponse(m))) => {
                    seen.initial_response = true;
                    out.line(format_args!(
                        "  ← initial-response  {}",
                        String::from_utf8_lossy(m.payload())
                    ));
                }
                Some(Ok(SessionEvent::Event(m))) => {
                    seen.events += 1;
                    seen.last_echo = Some(Instant::now());
                    let i = seen.events;
                    if i <= PRINTED || i == n {
                        out.line(format_args!("  ← #{i:<5} {}", readable(&m)));
                    } else if i == PRINTED + 1 {
                        out.line(format_args!("  ← …       ({} more)", n - PRINTED - 1));
                    }
                }
                Some(Ok(SessionEvent::End)) => {
                    out.line(format_args!("  ← end of the response stream"));
                    return Ok((seen, receiver.bytes_received()));
                }
                Some(Ok(other)) => {
                    return Err(("unexpected".to_string(), format!("{other:?}")));
                }
                Some(Err(e)) => return Err((e.kind().to_string(), e.to_string())),
                None => return Err(("unexpected".to_string(), "no end".to_string())),
            }
        }
    });

    let initial = EventBuilder::initial_request()
        .content_type("application/json")
        .payload(&br#"{"demo":true,"language":"en"}"#[..])
        .build();
    sender
        .send_initial_request(initial)
        .await
        .map_err(stream_err)?;
    for i in 1..=n {
        let payload = format!(r#"{{"seq":{i},"text":"hello, event stream #{i}"}}"#);
        let event = EventBuilder::new("Greeting")
            .content_type("application/json")
            .payload(payload.into_bytes())
            .build();
        sender.send(event).await.map_err(stream_err)?;
    }
    sender.finish().await.map_err(stream_err)?;
    let bytes_sent = sender.bytes_sent();
    let (seen, bytes_received) = printer
        .await
        .map_err(|e| ("internal".to_string(), e.to_string()))??;
    let elapsed = seen
        .last_echo
        .map_or(Duration::ZERO, |t| t.duration_since(start));

    // The server's word on the chain.
    let report = reports.recv().await.ok_or((
        "internal".to_string(),
        "the server said nothing".to_string(),
    ))?;
    server.abort();

    let rate = if elapsed.is_zero() {
        0.0
    } else {
        seen.events as f64 / elapsed.as_secs_f64()
    };
    let mut summary = String::new();
    let _ = writeln!(summary, "\nsummary");
    let _ = writeln!(
        summary,
        "  events sent       {} (after the initial request; then the signed end frame)",
        grouped(n)
    );
    let _ = writeln!(
        summary,
        "  events received   {} echoed{}",
        grouped(seen.events),
        if seen.initial_response {
            " (after the initial response)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        summary,
        "  bytes             {} sent (signed envelopes), {} received",
        grouped(bytes_sent),
        grouped(bytes_received)
    );
    let _ = writeln!(
        summary,
        "  time              {:.1} ms, {} events per second",
        elapsed.as_secs_f64() * 1000.0,
        grouped(rate.round() as u64)
    );
    let verified = report.verified_chain() && seen.events == n;
    if verified {
        let _ = writeln!(
            summary,
            "  signing chain     verified by the server: {} envelopes from the seed to the \
             end frame",
            grouped(n + 2)
        );
    } else {
        let _ = writeln!(
            summary,
            "  signing chain     NOT verified: {}",
            describe(&report)
        );
    }
    out.line(format_args!("{}", summary.trim_end()));
    Ok(verified)
}

/// Standard output, a line at a time: never locked across an `.await` (the printing task runs
/// on another thread).
struct Lines(io::Stdout);

impl Lines {
    /// Writes one line and flushes it; output errors are ignored (the summary reports them).
    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        let mut out = self.0.lock();
        let _ = writeln!(out, "{args}").and_then(|()| out.flush());
    }
}
