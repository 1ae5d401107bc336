//! `evs send`: opens an event stream to a server over HTTP/2 cleartext, sends JSON Lines events
//! while it prints what comes back as JSON Lines, then finishes.

use crate::json::write_message_json;
use crate::serve::{fail, runtime, CredentialArgs};
use crate::stream::MessageLines;
use crate::{report, CliError, Input, InputArgs};
use clap::Args;
use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{SigV4Signer, SigningParams, SigningTime};
use eventstream_tokio::{Client, Receiver};
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::SystemTime;
use tokio::sync::mpsc;

/// The arguments of `evs send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Where to open the stream: http://HOST[:PORT]/PATH. The server must speak HTTP/2 without
    /// TLS (prior knowledge), as `evs serve` does.
    #[arg(value_name = "URL", value_parser = parse_url)]
    url: http::Uri,

    /// The events to send.
    #[command(flatten)]
    pub(crate) input: InputArgs,

    /// RPC mode (awsJson, rpcv2Cbor): the first message each way may be the initial request or
    /// response. Without it, HTTP-binding mode.
    #[arg(long)]
    rpc: bool,

    /// Sends an initial request whose payload is this JSON value (`:content-type`
    /// application/json) before the events; implies --rpc.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    initial_request: Option<String>,

    /// Signing of the stream.
    #[command(flatten)]
    credentials: CredentialArgs,

    /// The seed of the signing chain: the signature of the initial HTTP request, 64 hex digits.
    /// It is sent as the `Signature=` of the request's Authorization header (the request itself
    /// is not SigV4-signed). Random when absent.
    #[arg(
        long,
        value_name = "HEX",
        value_parser = parse_seed,
        requires = "access_key_id",
        help_heading = "Signing options"
    )]
    seed_signature: Option<String>,
}

/// Parses the URL: `http`, with a host.
fn parse_url(value: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = value.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "https is not supported: use an http:// URL to a server that speaks \
                        HTTP/2 without TLS"
                    .into(),
            )
        }
        _ => return Err("expected an http:// URL".into()),
    }
    if uri.host().is_none() {
        return Err("the URL has no host".into());
    }
    Ok(uri)
}

/// Parses `--initial-request`: any JSON value, kept as written.
fn parse_json(value: &str) -> Result<String, String> {
    serde_json::from_str::<serde_json::Value>(value)
        .map(|_| value.to_owned())
        .map_err(|e| format!("not JSON: {e}"))
}

/// Parses `--seed-signature`: 64 hex digits, lowercased.
fn parse_seed(value: &str) -> Result<String, String> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err("expected 64 hex digits (a SigV4 signature)".into())
    }
}

/// 64 random hex digits, for a seed.
pub(crate) fn random_seed() -> String {
    use std::hash::{BuildHasher, RandomState};
    let state = RandomState::new();
    let now = SystemTime::now();
    (0u8..4)
        .map(|i| format!("{:016x}", state.hash_one((i, now))))
        .collect()
}

/// Adds what a SigV4-signed event stream request carries: `Authorization` (whose
/// `Signature=` is the seed of the chain), `x-amz-date`, and
/// `x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-EVENTS`.
pub(crate) fn signed_request(
    builder: http::request::Builder,
    params: &SigningParams,
    seed: &str,
    time: SigningTime,
) -> http::request::Builder {
    builder
        .header(
            http::header::AUTHORIZATION,
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, \
                 Signature={seed}",
                params.credentials().access_key_id(),
                time.scope_date(),
                params.region(),
                params.service()
            ),
        )
        .header("x-amz-date", time.amz_date())
        .header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-EVENTS")
}

/// The host and port to connect to.
fn connect_address(uri: &http::Uri) -> String {
    let host = uri.host().unwrap_or("localhost");
    let port = uri.port_u16().unwrap_or(80);
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// How the stream ended, as an exit status and a line on standard error.
type Outcome = Result<(), (String, String)>;

/// Runs `evs send`.
pub(crate) fn run(args: &SendArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail("io", e),
    };
    runtime.block_on(send(args))
}

/// Reads the input's messages on a thread of its own (standard input blocks) into `tx`.
fn read_messages(input: Input, tx: mpsc::Sender<Result<Message, CliError>>) {
    std::thread::spawn(move || {
        let reader = match input.open() {
            Ok(reader) => reader,
            Err(e) => {
                let _ = tx.blocking_send(Err(CliError::Read(e)));
                return;
            }
        };
        let mut lines = MessageLines::new(reader);
        loop {
            match lines.next_message() {
                Ok(Some(message)) => {
                    if tx.blocking_send(Ok(message)).is_err() {
                        return; // the stream is over
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
}

/// Opens the stream, sends, prints, finishes.
async fn send(args: &SendArgs) -> ExitCode {
    let time = match SigningTime::from_system_time(SystemTime::now()) {
        Ok(t) => t,
        Err(e) => return fail("clock_out_of_range", e),
    };
    let mode = if args.rpc || args.initial_request.is_some() {
        Mode::Rpc
    } else {
        Mode::HttpBinding
    };
    let mut session = Session::new(SessionConfig::new(Role::Client, mode));
    let mut request = http::Request::post(args.url.clone());
    if let Some(params) = args.credentials.params() {
        let seed = args.seed_signature.clone().unwrap_or_else(random_seed);
        request = signed_request(request, &params, &seed, time);
        session = session.with_signer(SigV4Signer::new(params, &seed));
    }
    let request = match request.body(()) {
        Ok(request) => request,
        Err(e) => return fail("usage", e),
    };

    let client = match Client::connect(connect_address(&args.url)).await {
        Ok(client) => client,
        Err(e) => return fail(e.kind(), e),
    };
    let (mut sender, receiver) = match client.open(request, session).await {
        Ok(halves) => halves,
        Err(e) => return fail(e.kind(), e),
    };
    let printer = tokio::spawn(print_events(receiver));

    let input = Input::from_arg(args.input.file.as_deref());
    let (tx, mut rx) = mpsc::channel(16);
    read_messages(Input::from_arg(args.input.file.as_deref()), tx);

    let mut sent = Ok(());
    if let Some(json) = &args.initial_request {
        let initial = EventBuilder::initial_request()
            .content_type("application/json")
            .payload(json.clone().into_bytes())
            .build();
        sent = sender.send_initial_request(initial).await;
    }
    while sent.is_ok() {
        match rx.recv().await {
            Some(Ok(message)) => {
                sent = sender.send(message).await;
                if let Err(eventstream_tokio::Error::Send(refused)) = &sent {
                    if refused.is_refusal() {
                        // A message the session will not send (one without :message-type, or
                        // over the limits): say so, and abort rather than end cleanly.
                        sender.abort();
                        let _ = printer.await;
                        return fail(refused.kind(), refused);
                    }
                }
            }
            Some(Err(e)) => {
                // Bad input: nothing more is sent, and the stream is not ended cleanly.
                sender.abort();
                let _ = printer.await;
                report(&e, &input);
                return ExitCode::FAILURE;
            }
            None => {
                sent = sender.finish().await;
                break;
            }
        }
    }
    // What comes back says best how the stream ended.
    let printed = match printer.await {
        Ok(outcome) => outcome,
        Err(e) => Err(("internal".into(), e.to_string())),
    };
    match (printed, sent) {
        (Err((kind, detail)), _) => fail(&kind, detail),
        (Ok(()), Err(e)) => fail(e.kind(), e),
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
    }
}

/// Prints each message that comes back as one JSON line; says how the stream ended.
async fn print_events(mut receiver: Receiver) -> Outcome {
    let mut line = String::new();
    let mut print = |message: &Message| -> Result<(), (String, String)> {
        line.clear();
        write_message_json(message, &mut line);
        line.push('\n');
        let mut out = io::stdout().lock();
        match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) => Err(("io".into(), format!("standard output: {e}"))),
        }
    };
    while let Some(item) = receiver.recv().await {
        match item {
            Ok(SessionEvent::InitialResponse(m) | SessionEvent::Event(m)) => print(&m)?,
            Ok(SessionEvent::Exception {
                exception_type,
                message,
            }) => {
                print(&message)?;
                return Err((
                    "exception".into(),
                    format!("the server ended the stream with {exception_type}"),
                ));
            }
            Ok(SessionEvent::Error {
                code,
                text,
                message,
            }) => {
                print(&message)?;
                return Err((code.to_string(), text.to_string()));
            }
            Ok(SessionEvent::End) => return Ok(()),
            Ok(SessionEvent::Closed) => {
                return Err(("aborted".into(), "the stream was aborted".into()))
            }
            Ok(_) => {}
            Err(e) => return Err((e.kind().into(), e.to_string())),
        }
    }
    Ok(())
}
