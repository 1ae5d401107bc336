//! The `evs` command: AWS event streams (`application/vnd.amazon.eventstream`) from the command
//! line. Decode and encode frames as JSON Lines, sign and verify signing chains, serve, send
//! and demonstrate event streams over HTTP/2 (and TLS), and show a request's SigV4 signature.
//!
//! This file parses the command line, opens the input, dispatches to a subcommand and turns its
//! result into a message on standard error and an exit status: 0 on success, 1 on bad input or an
//! IO error, 2 on a usage error (clap's default).

mod credentials;
mod decode;
mod demo;
mod encode;
mod endpoint;
mod json;
mod log;
mod request;
mod send;
mod serve;
mod sign;
mod sign_request;
mod signing;
mod stream;
mod verify;

use clap::{Args, Parser, Subcommand};
use eventstream::frame::FrameError;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The JSON Lines format, shown by `--help` of the command and of each subcommand.
const FORMAT_HELP: &str = "\
JSON Lines format:
  One message per line, keys in this order (header names may repeat; order is kept):
    {\"headers\":[{\"name\":\":event-type\",\"type\":\"string\",\"value\":\"Chunk\"}],\"payload\":\"aGk=\"}
  payload     the payload, standard base64 with padding
  headers     the headers in wire order, each {\"name\", \"type\", \"value\"}:
    bool        true or false
    byte        integer, -128 to 127
    short       integer, -32768 to 32767
    int         integer, -2147483648 to 2147483647
    long        integer, 64-bit signed
    bytes       standard base64 with padding
    string      JSON string
    timestamp   integer, milliseconds since the Unix epoch (64-bit signed)
    uuid        hyphenated hex, e.g. 123e4567-e89b-12d3-a456-426614174000

Exit status:
  0 success; 1 bad input or IO error, with one `error: ...` line on standard error; 2 usage error";

/// `evs send --help`: how to call a real service, the region and service inference, the JSON
/// Lines format.
fn send_help() -> String {
    format!(
        "\
Example: stream 16-bit PCM audio (AudioEvent messages as JSON Lines, their payloads the audio
in chunks of about 100 ms) to Amazon Transcribe, with credentials from the standard chain and
the region and service from the host name:
  evs send https://transcribestreaming.us-east-1.amazonaws.com:8443/stream-transcription \\
    -H 'x-amzn-transcribe-language-code: en-US' \\
    -H 'x-amzn-transcribe-sample-rate: 16000' \\
    -H 'x-amzn-transcribe-media-encoding: pcm' audio.jsonl

{}

{FORMAT_HELP}",
        request::INFERENCE_HELP
    )
}

/// Decode, encode, sign, verify, serve and send AWS event streams (application/vnd.amazon.eventstream).
///
/// `evs decode` turns binary frames into JSON Lines, one message per line; `evs encode` turns
/// such lines back into frames. `evs decode f | evs encode` reproduces f byte for byte.
///
/// `evs sign` turns JSON Lines into a SigV4 chain of signed envelope frames; `evs verify` checks
/// such a chain and prints the messages inside. `evs sign --end ... | evs verify ...` gives back
/// the lines.
///
/// `evs serve` is an HTTP/2 mirror server, `evs send` streams JSON Lines events to a server (an
/// AWS service over https, its request SigV4-signed with credentials from the standard chain),
/// and `evs demo` runs a signed stream end to end on loopback. `evs sign-request` shows, without
/// a network, how a request is signed: canonical request, string to sign, signed head.
#[derive(Debug, Parser)]
#[command(name = "evs", version, after_long_help = FORMAT_HELP)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Decode binary frames into JSON Lines, one message per line.
    ///
    /// Reads frames from FILE (standard input when FILE is absent or `-`), checks each frame's
    /// checksums and writes each message as soon as it is decoded. Memory use stays bounded
    /// (one frame) however long the input is.
    ///
    /// On bad input the messages before the bad frame are written, then one line
    /// `error: <kind>: <detail>` goes to standard error and the exit status is 1. <kind> is one
    /// of truncated, prelude_checksum_mismatch, message_checksum_mismatch,
    /// invalid_message_length, invalid_headers_length, headers_too_long, payload_too_long,
    /// too_many_headers, invalid_header_name_length, invalid_header_value_type,
    /// invalid_header_value, invalid_utf8.
    #[command(after_long_help = FORMAT_HELP)]
    Decode(InputArgs),
    /// Encode JSON Lines (as `evs decode` writes them) into binary frames.
    ///
    /// Reads one message per line from FILE (standard input when FILE is absent or `-`) and
    /// writes one frame per message to standard output, a line at a time.
    ///
    /// Parsing is strict: `headers` may be omitted (no headers) and `payload` may be omitted
    /// (empty payload), but any other key is an error, as is a header without `name`, `type` or
    /// `value` or with another key, an unknown type, an integer outside its type's range, base64
    /// that is not standard with padding, or a malformed uuid (either case is accepted). Blank
    /// lines are skipped; a line may end in CRLF.
    ///
    /// On a bad line the frames of the lines before it are written, nothing is written for it,
    /// one line `error: line N: <detail>` goes to standard error and the exit status is 1. When
    /// the frame encoder rejects a message (for example a header name longer than 255 bytes),
    /// <detail> starts with the error's kind.
    #[command(after_long_help = FORMAT_HELP)]
    Encode(InputArgs),
    /// Sign JSON Lines messages into a SigV4 chain of envelope frames.
    ///
    /// Reads one message per line from FILE (standard input when FILE is absent or `-`), in the
    /// format of `evs decode` and parsed as strictly as by `evs encode`, and writes one signed
    /// envelope frame per message to standard output, a line at a time. An envelope has two
    /// headers, `:date` (timestamp, whole seconds) and `:chunk-signature` (32 bytes), and the
    /// encoded message as its payload; each signature chains the envelope to the one before,
    /// starting from --seed-signature, so that nothing can be dropped, reordered or injected.
    ///
    /// Message i (counted from 0, blank lines skipped) is signed at --time + i × --time-step
    /// seconds (the step is 1 by default: one second per message). With --end the signed end
    /// frame (an envelope with an empty payload) follows, signed one step after the last
    /// message: --time + n × --time-step for n messages. The output does not depend on the clock,
    /// so the same input and options always give the same bytes.
    ///
    /// The credentials come from --access-key-id and --secret-access-key or, when those are
    /// absent, from the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables
    /// (better for the secret: a command line is visible to other users). The secret is never
    /// printed.
    ///
    /// On a bad line the frames of the lines before it are written, nothing is written for it,
    /// one line `error: line N: <detail>` goes to standard error and the exit status is 1. When
    /// the encoder rejects the message, <detail> starts with the error's kind; when its signing
    /// time falls outside the years 0 to 9999, with time_out_of_range (for the end frame the
    /// line is `error: time_out_of_range: the end frame: ...`). A --time outside those years, a
    /// --seed-signature that is not 64 hex digits and missing credentials are usage errors
    /// (exit status 2, nothing read).
    #[command(after_long_help = FORMAT_HELP)]
    Sign(sign::SignArgs),
    /// Verify a SigV4 chain of envelope frames and print the messages inside as JSON Lines.
    ///
    /// Reads envelope frames from FILE (standard input when FILE is absent or `-`), as
    /// `evs sign` or an AWS client writes them, recomputes each `:chunk-signature` from the
    /// credentials, region, service and seed and the envelope's own `:date` and payload, and
    /// writes each inner message as one line of JSON (as `evs decode` does) as soon as its
    /// envelope is verified. Signing times are not compared with the clock. Memory use stays
    /// bounded (one envelope) however long the input is.
    ///
    /// The exit status is 0 only when the whole chain is intact and ends with the signed end
    /// frame. Otherwise the messages verified so far are written, then one line
    /// `error: <kind>: <detail>` goes to standard error and the exit status is 1. <kind> is
    /// signature_mismatch (an envelope was tampered with, dropped, reordered, replayed or
    /// injected, or the credentials, region, service or seed differ), missing_end_frame (the
    /// input ended without the end frame), frame_after_end (something follows the end frame),
    /// invalid_envelope (`:date` or `:chunk-signature` missing or malformed, or a payload that
    /// is not one whole frame), or one of the kinds of `evs decode` when an envelope, or the
    /// message inside one, is not a valid frame (truncated, message_checksum_mismatch, ...).
    ///
    /// The credentials come from the options or the environment, as for `evs sign`.
    #[command(after_long_help = FORMAT_HELP)]
    Verify(verify::VerifyArgs),
    /// Run the mirror server: HTTP/2 that echoes event streams, over TLS or cleartext.
    ///
    /// Prints `listening on ADDR` (the real address when the port is 0), then serves
    /// connections and streams concurrently until killed. Each POST with content type
    /// application/vnd.amazon.eventstream is answered 200 at once; then each message is echoed
    /// (an initial-request as the initial-response, events unchanged) and the response ends when
    /// the request does. A bad frame or signature is answered with one `error` message
    /// (:error-code = its kind, :error-message = the detail), then the response ends. Another
    /// content type is answered 415, another method 405 (after reading up to 256 KiB of the
    /// request body, so that the client sees the status). One line per finished stream goes to
    /// standard error, through a writer thread: when standard error is not read, lines are
    /// dropped and counted rather than the server stalled.
    ///
    /// With --tls-cert and --tls-key (PEM) it speaks TLS with ALPN h2, as AWS streaming
    /// endpoints do; without, HTTP/2 cleartext with prior knowledge. A client whose TLS
    /// handshake fails is logged and its connection closed; the others are served on.
    ///
    /// With --credentials FILE it verifies every request as an AWS service does: the SigV4
    /// signature (with the secret of the request's access key id, from FILE), the credential
    /// scope (--region, default us-east-1; --service, default transcribe) and x-amz-date within
    /// --max-skew seconds (default 300) of the server's clock. A request that fails is answered
    /// 403 and no stream, as AWS answers it (the exception in x-amzn-errortype, a JSON message)
    /// naming the error's kind (request_expired, unknown_access_key, signature_does_not_match,
    /// ...); then the events' signing chain is verified
    /// from the request's signature, and each event's :date within --max-skew too. With
    /// --access-key-id (and the secret) only the events' chains are verified, from the seed in
    /// each request's Authorization header; with neither, signed envelopes are unwrapped
    /// unchecked and unsigned frames accepted.
    ///
    /// A credentials file that cannot be read or parsed, a certificate or key that is not PEM
    /// or that do not belong together, each give one line `error: <kind>: <detail>`
    /// (invalid_credentials_file with the line number, invalid_pem, tls, io) and exit status 1,
    /// before anything listens.
    ///
    /// Connections that do not complete the HTTP/2 handshake (--handshake-timeout), that have no
    /// open stream for a while (--idle-timeout: GOAWAY, then close) or whose client stops
    /// answering keepalive PINGs (--keepalive, --keepalive-timeout) are closed. A stream that is
    /// merely quiet stays open as long as its client answers the PINGs. Running out of file
    /// descriptors is logged, and connections are accepted again as soon as some are free.
    ///
    /// Frames still arriving are held within --max-connection-buffer and --max-server-buffer;
    /// a stream past them waits (its client gets no more HTTP/2 window) until others' frames
    /// are echoed or their streams end. Each stream's window is 256 KiB, and each connection's
    /// has room for all 128 streams a client may open plus one, so that streams whose client
    /// does not read the echoes cannot stop one that does.
    Serve(serve::ServeArgs),
    /// Open an event stream to URL, send JSON Lines events, print what comes back.
    ///
    /// Reads one message per line from FILE (standard input when FILE is absent or `-`), in the
    /// format of `evs decode`, and sends each as an event while it prints every message that
    /// comes back as one JSON line; at the end of the input it finishes the stream (the signed
    /// end frame, then the half-close) and waits for the server's end.
    ///
    /// https:// URLs use TLS (rustls) and need the server to select HTTP/2 with ALPN, as AWS
    /// streaming endpoints do (e.g. https://transcribestreaming.us-east-1.amazonaws.com:8443);
    /// http:// URLs speak HTTP/2 without TLS. The request is SigV4-signed (its payload hash
    /// STREAMING-AWS4-HMAC-SHA256-EVENTS by default) and every event is signed in a chain that
    /// starts from the request's signature, as AWS services expect. The credentials come from
    /// --access-key-id and --secret-access-key, or else from the standard chain of the AWS SDKs:
    /// the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the
    /// profile (--profile, AWS_PROFILE) in ~/.aws/credentials and ~/.aws/config (with SSO and
    /// credential_process), web identity, the container's and the instance's role. --no-sign
    /// sends everything unsigned.
    ///
    /// The exit status is 0 when the server ended the stream cleanly; otherwise one line
    /// `error: <kind>: <detail>` goes to standard error and the status is 1: credentials (none
    /// found, or a provider failed), tls (e.g. an untrusted certificate: see --ca-cert),
    /// alpn_not_h2 (the server does not speak HTTP/2 over TLS), connect, status (the server
    /// refused the request, e.g. 403 for a bad or expired signature; the detail has the
    /// server's reason, and the kind is the server's when it names one of this project's, such
    /// as request_expired or unknown_access_key from `evs serve`), or the :error-code of an
    /// `error` message from the server.
    #[command(after_long_help = send_help())]
    Send(send::SendArgs),
    /// Show the SigV4 signature of a request, step by step, without a network.
    ///
    /// Signs the request head of URL (method -X, default POST; headers -H; the URL's authority
    /// as `host`; content-type application/vnd.amazon.eventstream unless --no-content-type) as
    /// `evs send` would, at --time (default now), and prints the canonical request, the string
    /// to sign, the signature and the signed head: the request line and every header line to
    /// send, including x-amz-date, x-amz-security-token (with temporary credentials),
    /// x-amz-content-sha256 (with --payload-hash events) and authorization. Compare them with
    /// what a server (AWS's SignatureDoesNotMatch message shows its canonical request and string
    /// to sign) or another client computes. --print shows one part alone, exactly. The secret
    /// key is never printed; a session token is, in its header.
    ///
    /// Region, service and credentials are found as for `evs send`. Missing credentials give
    /// `error: credentials: ...` and exit status 1.
    #[command(after_long_help = request::INFERENCE_HELP)]
    SignRequest(sign_request::SignRequestArgs),
    /// Run the main job end to end: a signed event stream through the mirror, on loopback.
    ///
    /// Starts the mirror server in-process on a loopback port, verifying SigV4 chains; connects a
    /// client that signs with demo credentials, in RPC mode; sends an initial request and N events
    /// while the echoes come back and are printed; finishes; and ends with a summary: events sent
    /// and received, bytes, events per second, and whether the server verified the whole signing
    /// chain (exit status 1 if not).
    Demo(demo::DemoArgs),
}

/// The input of the commands that have none (`serve`, `demo`).
static NO_INPUT: InputArgs = InputArgs { file: None };

impl Command {
    /// The input arguments of the subcommand.
    fn input(&self) -> &InputArgs {
        match self {
            Command::Decode(input) | Command::Encode(input) => input,
            Command::Sign(args) => &args.input,
            Command::Verify(args) => &args.input,
            Command::Send(args) => &args.input,
            Command::Serve(_) | Command::Demo(_) | Command::SignRequest(_) => &NO_INPUT,
        }
    }
}

/// The input of a subcommand.
#[derive(Debug, Args)]
struct InputArgs {
    /// The file to read; standard input when absent or `-`.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
}

/// Why a subcommand failed. Each variant becomes one line on standard error and exit status 1.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The input is not a valid stream of frames.
    Frame(FrameError),
    /// A line of JSON is invalid or its message cannot be encoded.
    Line {
        /// The line's number, from 1.
        line: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// Reading the input failed.
    Read(io::Error),
    /// Writing standard output failed.
    Write(io::Error),
    /// Another failure with a stable kind, such as a broken signature chain.
    Kind {
        /// The stable `snake_case` name of the failure, e.g. `signature_mismatch`.
        kind: &'static str,
        /// What happened.
        detail: String,
    },
}

/// Where a subcommand reads from.
#[derive(Debug)]
enum Input {
    /// Standard input.
    Stdin,
    /// A file, by path.
    File(PathBuf),
}

impl Input {
    /// The input named on the command line: standard input for no name or `-`.
    fn from_arg(file: Option<&Path>) -> Self {
        match file {
            Some(path) if path != Path::new("-") => Input::File(path.to_owned()),
            _ => Input::Stdin,
        }
    }

    /// Opens the input for reading.
    fn open(&self) -> io::Result<Box<dyn Read>> {
        match self {
            Input::Stdin => Ok(Box::new(io::stdin().lock())),
            Input::File(path) => Ok(Box::new(File::open(path)?)),
        }
    }
}

/// Names the input in error messages.
impl fmt::Display for Input {
    /// Writes the input's name: its path, or `standard input`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Stdin => f.write_str("standard input"),
            Input::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Parses the command line, runs the subcommand and returns the exit status.
fn main() -> ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|mut err| {
        signing::explain_missing_credentials(&mut err);
        err.exit()
    });
    // The network commands read their input, and report their errors, themselves.
    match &cli.command {
        Command::Serve(args) => return serve::run(args),
        Command::Send(args) => return send::run(args),
        Command::SignRequest(args) => return sign_request::run(args),
        Command::Demo(args) => return demo::run(args),
        _ => {}
    }
    let input = Input::from_arg(cli.command.input().file.as_deref());
    let result = input.open().map_err(CliError::Read).and_then(|reader| {
        let out = io::stdout().lock();
        match &cli.command {
            Command::Decode(_) => decode::run(reader, out),
            Command::Encode(_) => encode::run(reader, out),
            Command::Sign(args) => sign::run(reader, out, args),
            Command::Verify(args) => verify::run(reader, out, args),
            // Run above.
            Command::Serve(_) | Command::Send(_) | Command::Demo(_) | Command::SignRequest(_) => {
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (as in `evs decode f | head`): not our failure.
        Err(CliError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            report(&err, &input);
            ExitCode::FAILURE
        }
    }
}

/// Writes the one-line description of `err` to standard error.
fn report(err: &CliError, input: &Input) {
    let message = match err {
        CliError::Frame(e) => format!("error: {}: {e}", e.kind()),
        CliError::Line { line, detail } => format!("error: line {line}: {detail}"),
        CliError::Read(e) => format!("error: io: {input}: {e}"),
        CliError::Write(e) => format!("error: io: standard output: {e}"),
        CliError::Kind { kind, detail } => format!("error: {kind}: {detail}"),
    };
    // If standard error is gone too there is nobody left to tell.
    let _ = writeln!(io::stderr().lock(), "{message}");
}
