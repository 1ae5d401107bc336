//! `evs send`: opens an event stream to a server over HTTP/2 (TLS with ALPN `h2` for
//! `https://`, cleartext with prior knowledge for `http://`), SigV4-signs the request and chains
//! the events from its signature, sends JSON Lines events while it prints what comes back as
//! JSON Lines, then finishes.

use crate::credentials::{signing_params, CredentialArgs, SigningFailure};
use crate::json::write_message_json;
use crate::request::{self, HeaderArg, ScopeArgs};
use crate::serve::{fail, runtime};
use crate::stream::MessageLines;
use crate::{report, CliError, Input, InputArgs};
use clap::Args;
use eventstream::frame::Message;
use eventstream::kinds;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{RequestSigner, SigV4Signer, SigningParams, SigningTime};
use eventstream_tokio::tls::Roots;
use eventstream_tokio::{Client, ClientBuilder, Receiver, RequestSigning, Sender};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;
use tokio::sync::mpsc;

/// The arguments of `evs send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Where to open the stream: https://HOST[:PORT]/PATH (TLS, the server must select HTTP/2
    /// with ALPN) or http://HOST[:PORT]/PATH (HTTP/2 without TLS, prior knowledge, as
    /// `evs serve` speaks by default).
    #[arg(value_name = "URL", value_parser = request::parse_url)]
    url: http::Uri,

    /// The events to send.
    #[command(flatten)]
    pub(crate) input: InputArgs,

    /// A request header, `name: value` (e.g. -H 'x-amzn-transcribe-language-code: en-US');
    /// repeat for more. Each is sent and signed. content-type is always
    /// application/vnd.amazon.eventstream (one given here is replaced).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = request::parse_header)]
    headers: Vec<HeaderArg>,

    /// RPC mode (awsJson, rpcv2Cbor): the first message each way may be the initial request or
    /// response. Without it, HTTP-binding mode.
    #[arg(long)]
    rpc: bool,

    /// Sends an initial request whose payload is this JSON value (`:content-type`
    /// application/json) before the events; implies --rpc.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    initial_request: Option<String>,

    /// Trust the CA certificates in FILE (PEM) for https:// URLs, as well as the default roots
    /// (webpki's): for a server with a private or self-made certificate.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,

    /// Trust the operating system's certificate store (SSL_CERT_FILE and SSL_CERT_DIR override
    /// it) instead of webpki's roots: behind a proxy that re-signs TLS with its own CA, say.
    #[arg(long)]
    platform_roots: bool,

    /// Send the request and the events unsigned: no credentials are looked for. For servers
    /// that check nothing, such as `evs serve` without --credentials.
    #[arg(
        long,
        help_heading = "Signing options",
        conflicts_with_all = ["access_key_id", "session_token", "profile", "seed_signature"]
    )]
    no_sign: bool,

    /// Region, service and payload hash.
    #[command(flatten, next_help_heading = "Signing options")]
    scope: ScopeArgs,

    /// Where the credentials come from.
    #[command(flatten)]
    credentials: CredentialArgs,

    /// For tests only: do not SigV4-sign the request; send an Authorization header whose
    /// `Signature=` is this value (64 hex digits) and chain the events from it. Only a server
    /// that checks the event chain and not the request (`evs serve` without --credentials)
    /// accepts such a stream; AWS rejects it.
    #[arg(
        long,
        value_name = "HEX",
        value_parser = parse_seed,
        help_heading = "Signing options",
        hide_short_help = true
    )]
    seed_signature: Option<String>,
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

/// Adds an Authorization header shaped like SigV4's whose `Signature=` is `seed` (not the
/// request's signature: the request is not signed), `x-amz-date`, and
/// `x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-EVENTS`. For `--seed-signature` and
/// `evs demo`, whose server checks only the event chain.
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

/// The request head: POST to the URL with the `-H` headers.
fn request_head(args: &SendArgs) -> http::request::Builder {
    let mut builder = http::Request::post(args.url.clone());
    for header in &args.headers {
        builder = builder.header(&header.name, &header.value);
    }
    builder
}

/// The client: pooled, trusting `--ca-cert` besides the roots (webpki's, or the platform's).
fn client(args: &SendArgs) -> Result<Client, (&'static str, String)> {
    let mut builder = ClientBuilder::new();
    if args.platform_roots {
        builder = builder.tls_roots(Roots::Platform);
    }
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path)
            .map_err(|e| ("io", format!("--ca-cert {}: {e}", path.display())))?;
        builder = builder
            .add_ca_pem(&pem)
            .map_err(|e| (e.kind(), format!("--ca-cert {}: {e}", path.display())))?;
    }
    Ok(builder.build())
}

/// Opens the stream: unsigned (`--no-sign`), with a test seed (`--seed-signature`), or
/// SigV4-signed with the events chained from the request's signature.
async fn open(
    args: &SendArgs,
    client: &Client,
    config: SessionConfig,
) -> Result<(Sender, Receiver), ExitCode> {
    let head = request_head(args);
    if args.no_sign {
        let request = head.body(()).map_err(|e| fail("config", e))?;
        return client
            .open(request, Session::new(config))
            .await
            .map_err(|e| fail_with(&e));
    }
    let params = match signing_params(&args.url, &args.scope, &args.credentials, "send").await {
        Ok(params) => params,
        Err(SigningFailure::Credentials(e)) => {
            return Err(fail(
                "credentials",
                format_args!("{e}; --no-sign sends unsigned, for a server that checks nothing"),
            ))
        }
        Err(SigningFailure::Usage(e)) => e.exit(),
    };
    if let Some(seed) = &args.seed_signature {
        let time = SigningTime::from_system_time(SystemTime::now())
            .map_err(|e| fail("clock_out_of_range", e))?;
        let request = signed_request(head, &params, seed, time)
            .body(())
            .map_err(|e| fail("config", e))?;
        let session = Session::new(config).with_signer(SigV4Signer::new(params, seed));
        return client
            .open(request, session)
            .await
            .map_err(|e| fail_with(&e));
    }
    // The credentials were resolved above (one stream: a missing key fails before connecting).
    let signing = RequestSigning::with_signer(
        params.credentials().clone(),
        RequestSigner::new(params).with_payload_hash(args.scope.payload_hash.clone()),
    );
    let request = head.body(()).map_err(|e| fail("config", e))?;
    client
        .open_signed(request, config, &signing)
        .await
        .map_err(|e| fail_with(&e))
}

/// An adapter error as the kind and detail of its one line. A refused request (a status other
/// than 200) says what the server said why: the kind is the server's when it names one of this
/// project's kinds, in its `x-eventstream-error-kind` header or at the start of its message
/// (`evs serve` answers `{"message":"request_expired: ..."}`), and `status` otherwise; the
/// detail adds AWS's exception (`x-amzn-errortype`) and the message of a JSON body, or the text
/// of another.
fn error_line(error: &eventstream_tokio::Error) -> (String, String) {
    let eventstream_tokio::Error::Status { headers, body, .. } = error else {
        return (error.kind().to_owned(), error.to_string());
    };
    let known = |name: &str| {
        kinds::KINDS
            .iter()
            .find(|(k, _)| *k == name.trim())
            .map(|(k, _)| *k)
    };
    let mut kind = headers
        .get(eventstream_tokio::ERROR_KIND_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(known)
        .unwrap_or(error.kind());
    let mut detail = error.to_string();
    if let Some(errortype) = headers
        .get(eventstream_tokio::AWS_ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        // AWS writes `InvalidSignatureException:http://internal.amazon.com/...`.
        detail.push_str(": ");
        detail.push_str(errortype.split(':').next().unwrap_or(errortype));
    }
    let text = String::from_utf8_lossy(body);
    let mut message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|json| {
            ["message", "Message"]
                .iter()
                .find_map(|key| json.get(key)?.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| text.trim().to_owned());
    if let Some((named, rest)) = message.split_once(':') {
        if let Some(named) = known(named) {
            kind = named;
            message = rest.trim().to_owned();
        }
    }
    if !message.is_empty() {
        detail.push_str(": ");
        detail.push_str(&message.replace(['\r', '\n'], " "));
    }
    (kind.to_owned(), detail)
}

/// Reports an adapter error: one line, exit status 1.
fn fail_with(error: &eventstream_tokio::Error) -> ExitCode {
    let (kind, detail) = error_line(error);
    fail(&kind, detail)
}

/// Opens the stream, sends, prints, finishes.
async fn send(args: &SendArgs) -> ExitCode {
    let mode = if args.rpc || args.initial_request.is_some() {
        Mode::Rpc
    } else {
        Mode::HttpBinding
    };
    let client = match client(args) {
        Ok(client) => client,
        Err((kind, detail)) => return fail(kind, detail),
    };
    let (mut sender, receiver) =
        match open(args, &client, SessionConfig::new(Role::Client, mode)).await {
            Ok(halves) => halves,
            Err(status) => return status,
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
        (Ok(()), Err(e)) => fail_with(&e),
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
            Err(e) => return Err(error_line(&e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, StatusCode};

    /// A refused request, as the client reports it.
    fn refused(
        headers: &[(&'static str, &'static str)],
        body: &'static str,
    ) -> eventstream_tokio::Error {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        eventstream_tokio::Error::Status {
            status: StatusCode::FORBIDDEN,
            headers: Box::new(map),
            body: bytes::Bytes::from_static(body.as_bytes()),
        }
    }

    /// AWS's refusal: the error type from its header (without the URL after the colon), the
    /// message from its JSON body, on one line; the kind stays `status`.
    #[test]
    fn aws_refusals_show_their_type_and_message() {
        let error = refused(
            &[(
                "x-amzn-errortype",
                "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            )],
            "{\"message\":\"Signature expired: 20150830T123600Z is now earlier than\\n20150830T124600Z\"}",
        );
        assert_eq!(
            error_line(&error),
            (
                "status".to_owned(),
                "the server answered 403 Forbidden: InvalidSignatureException: Signature \
                 expired: 20150830T123600Z is now earlier than 20150830T124600Z"
                    .to_owned()
            )
        );
    }

    /// `evs serve`'s refusal in AWS's shape: the kind from its header, the exception and the
    /// message (without the kind it starts with) in the detail.
    #[test]
    fn our_servers_aws_shaped_refusal_gives_its_kind() {
        let error = refused(
            &[
                ("x-amzn-errortype", "InvalidSignatureException"),
                ("x-eventstream-error-kind", "request_expired"),
            ],
            "{\"message\":\"request_expired: Signature expired: the request was signed at 0 s\"}",
        );
        assert_eq!(
            error_line(&error),
            (
                "request_expired".to_owned(),
                "the server answered 403 Forbidden: InvalidSignatureException: Signature \
                 expired: the request was signed at 0 s"
                    .to_owned()
            )
        );
        // A header that names no kind of this project is not taken for one.
        let error = refused(
            &[("x-eventstream-error-kind", "no_such_kind")],
            "{\"message\":\"denied\"}",
        );
        assert_eq!(error_line(&error).0, "status");
    }

    /// `evs serve`'s refusal names one of the project's kinds: that is the kind printed.
    #[test]
    fn our_servers_kind_is_the_kind() {
        let error = refused(
            &[],
            "request_expired: signed 3600 s before the server's clock\n",
        );
        assert_eq!(
            error_line(&error),
            (
                "request_expired".to_owned(),
                "the server answered 403 Forbidden: signed 3600 s before the server's clock"
                    .to_owned()
            )
        );
        // Text that is not a kind stays in the detail.
        let error = refused(&[], "Forbidden: go away");
        assert_eq!(
            error_line(&error),
            (
                "status".to_owned(),
                "the server answered 403 Forbidden: Forbidden: go away".to_owned()
            )
        );
        // Other errors keep their own kind and text.
        let error = eventstream_tokio::Error::NoH2 { selected: None };
        assert_eq!(error_line(&error).0, "alpn_not_h2");
    }
}
