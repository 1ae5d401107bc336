//! `evs serve`: the mirror server over HTTP/2 cleartext (prior knowledge), and the optional
//! credentials that `evs serve` verifies and `evs send` signs with.

use crate::signing::SECRET_ACCESS_KEY_ENV;
use clap::builder::{NonEmptyStringValueParser, TypedValueParser as _};
use clap::Args;
use eventstream::sign::{Credentials, SigningParams};
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport};
use eventstream_tokio::ServerBuilder;
use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

/// The arguments of `evs serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on; port 0 picks a free port (the real address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,

    /// Connection deadlines.
    #[command(flatten)]
    timeouts: TimeoutArgs,

    /// Memory budgets.
    #[command(flatten)]
    buffers: BufferArgs,

    /// Verification of the signing chains.
    #[command(flatten)]
    credentials: CredentialArgs,
}

/// The deadlines of `evs serve`'s connections, in seconds (fractions allowed).
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection options")]
pub(crate) struct TimeoutArgs {
    /// Close a connection whose client has not sent the HTTP/2 connection preface within SECS
    /// seconds. 0 waits forever.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    handshake_timeout: Timeout,

    /// Close a connection (GOAWAY, then close) that has had no open stream for SECS seconds.
    /// 0 keeps idle connections open.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_timeout)]
    idle_timeout: Timeout,

    /// Send a keepalive PING on each connection every SECS seconds; a peer that does not answer
    /// within --keepalive-timeout is taken for gone and its connection closed, with its streams.
    /// A stream that merely stays quiet is never ended: its client answers the PINGs. 0 sends
    /// none.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_timeout)]
    keepalive: Timeout,

    /// How long a client has to answer a keepalive PING, and to acknowledge the GOAWAY of an
    /// idle connection.
    #[arg(long, value_name = "SECS", default_value = "20", value_parser = parse_positive_secs)]
    keepalive_timeout: Duration,
}

impl TimeoutArgs {
    /// The server settings with these deadlines.
    pub(crate) fn server(&self) -> ServerBuilder {
        ServerBuilder::new()
            .handshake_timeout(self.handshake_timeout.0)
            .idle_timeout(self.idle_timeout.0)
            .keepalive(self.keepalive.0)
            .keepalive_timeout(self.keepalive_timeout)
    }
}

/// The budgets of buffered frame bytes of `evs serve`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Memory options")]
pub(crate) struct BufferArgs {
    /// The most bytes of frames still arriving (partly received, being assembled) that the
    /// streams of one connection may hold. Past it a stream stops receiving (no more HTTP/2
    /// window is given to its client) until other streams' frames are complete and echoed, or
    /// their streams end. One stream in the middle of a frame may go past it, so that a frame
    /// larger than the budget still arrives. Whole frames that arrive in one piece do not
    /// count. BYTES is a number, or one with a K, M or G suffix (KiB, MiB, GiB).
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_bytes)]
    max_connection_buffer: usize,

    /// The same budget for all connections together: with the per-connection one, what the
    /// server may hold in frames being assembled (plus one frame, and the HTTP/2 windows: 256 KiB
    /// per stream, 32.25 MiB per connection).
    #[arg(long, value_name = "BYTES", default_value = "512M", value_parser = parse_bytes)]
    max_server_buffer: usize,
}

impl BufferArgs {
    /// `server` with these budgets.
    pub(crate) fn apply(&self, server: ServerBuilder) -> ServerBuilder {
        server
            .max_connection_buffer(self.max_connection_buffer)
            .max_server_buffer(self.max_server_buffer)
    }
}

/// A number of bytes: digits, optionally followed by K, M or G (binary: KiB, MiB, GiB; the
/// `iB` and `B` spellings are accepted too).
fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("{s:?}: the unit must be K, M or G")),
    };
    let n: usize = number
        .parse()
        .map_err(|_| format!("{s:?} is not a number of bytes"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s} is too large"))
}

#[cfg(test)]
mod buffer_tests {
    use super::*;
    use clap::Parser;

    /// The memory flags alone.
    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        buffers: BufferArgs,
    }

    /// The flags' defaults are the library's.
    #[test]
    fn buffer_defaults_are_the_library_defaults() {
        let b = Flags::try_parse_from(["serve"]).expect("parses").buffers;
        assert_eq!(
            b.max_connection_buffer,
            ServerBuilder::DEFAULT_MAX_CONNECTION_BUFFER
        );
        assert_eq!(
            b.max_server_buffer,
            ServerBuilder::DEFAULT_MAX_SERVER_BUFFER
        );
    }

    /// Plain bytes and binary units; nonsense is refused.
    #[test]
    fn sizes_parse() {
        for (text, bytes) in [
            ("1048576", 1 << 20),
            ("0", 0),
            ("16M", 16 << 20),
            ("64KiB", 64 << 10),
            ("1g", 1 << 30),
            ("512 MB", 512 << 20),
        ] {
            assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
        }
        for bad in ["", "-1", "12X", "M", "1.5M", "99999999999999999999G"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?}");
        }
        let b = Flags::try_parse_from([
            "serve",
            "--max-connection-buffer",
            "16M",
            "--max-server-buffer",
            "1G",
        ])
        .expect("parses")
        .buffers;
        assert_eq!(
            (b.max_connection_buffer, b.max_server_buffer),
            (16 << 20, 1 << 30)
        );
    }
}

/// A deadline, or none (given as 0).
#[derive(Clone, Copy, Debug)]
struct Timeout(Option<Duration>);

/// Seconds, as an integer or a decimal fraction, at most a year.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.0..=365.0 * 86_400.0).contains(&secs) {
        return Err(format!(
            "{s} is not between 0 and a year (31536000) seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A timeout in seconds; 0 turns it off.
fn parse_timeout(s: &str) -> Result<Timeout, String> {
    let d = parse_secs(s)?;
    Ok(Timeout((!d.is_zero()).then_some(d)))
}

/// A positive number of seconds.
fn parse_positive_secs(s: &str) -> Result<Duration, String> {
    match parse_secs(s)? {
        d if d.is_zero() => Err("must be more than 0".into()),
        d => Ok(d),
    }
}

/// SigV4 credentials, region and service, all optional: given `--access-key-id`, the others
/// are required. Flatten it into a subcommand's arguments.
#[derive(Debug, Args)]
#[command(next_help_heading = "Signing options")]
pub(crate) struct CredentialArgs {
    /// The access key id. Given it, streams are signed (`evs send`) or verified (`evs serve`)
    /// with SigV4; without it, nothing is signed and envelopes are unwrapped unchecked. Unlike
    /// `evs sign`, it is not read from the environment, so that credentials set there do not
    /// change what these commands do.
    #[arg(
        long,
        value_name = "ID",
        value_parser = NonEmptyStringValueParser::new(),
        requires_all = ["secret_access_key", "region", "service"]
    )]
    access_key_id: Option<String>,

    /// The secret access key (with --access-key-id). Prefer the environment variable: a command
    /// line is visible to other users of the machine. The secret is never printed.
    #[arg(
        long,
        value_name = "KEY",
        env = SECRET_ACCESS_KEY_ENV,
        hide_env_values = true,
        allow_hyphen_values = true,
        value_parser = NonEmptyStringValueParser::new().map(Secret)
    )]
    secret_access_key: Option<Secret>,

    /// The region of the signing scope, e.g. us-east-1 (with --access-key-id).
    #[arg(
        long,
        value_name = "REGION",
        value_parser = NonEmptyStringValueParser::new(),
        requires = "access_key_id"
    )]
    region: Option<String>,

    /// The signing name of the service, e.g. transcribe (with --access-key-id).
    #[arg(
        long,
        value_name = "SERVICE",
        value_parser = NonEmptyStringValueParser::new(),
        requires = "access_key_id"
    )]
    service: Option<String>,
}

impl CredentialArgs {
    /// The signing parameters, when `--access-key-id` was given.
    pub(crate) fn params(&self) -> Option<SigningParams> {
        match (
            &self.access_key_id,
            &self.secret_access_key,
            &self.region,
            &self.service,
        ) {
            (Some(id), Some(secret), Some(region), Some(service)) => Some(SigningParams::new(
                Credentials::new(id.as_str(), secret.0.as_str()),
                region.as_str(),
                service.as_str(),
            )),
            _ => None,
        }
    }
}

/// A secret access key: a string whose `Debug` does not show it.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    /// Writes `<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Writes `error: <kind>: <detail>` to standard error and returns exit status 1.
pub(crate) fn fail(kind: &str, detail: impl fmt::Display) -> ExitCode {
    // If standard error is gone too there is nobody left to tell.
    let _ = writeln!(io::stderr().lock(), "error: {kind}: {detail}");
    ExitCode::FAILURE
}

/// A multi-threaded tokio runtime for the network commands.
pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// One line about a served stream, for standard error.
pub(crate) fn describe(report: &MirrorReport) -> String {
    let verified = if report.verified_chain() {
        ", signing chain verified"
    } else {
        ""
    };
    match &report.outcome {
        MirrorOutcome::Finished => format!(
            "stream {}: {} messages echoed, ended cleanly{verified}",
            report.stream_id, report.echoed
        ),
        MirrorOutcome::Rejected(status) => {
            format!("stream {}: refused, {status}", report.stream_id)
        }
        MirrorOutcome::Failed(eventstream_tokio::Error::Reset { reason }) => format!(
            "stream {}: {} messages echoed, then reset by the client ({reason:?}: {reason})",
            report.stream_id, report.echoed
        ),
        MirrorOutcome::ErrorSent { code, text } => format!(
            "stream {}: {} messages echoed, then error {code}: {text}",
            report.stream_id, report.echoed
        ),
        MirrorOutcome::Failed(e) => format!(
            "stream {}: {} messages echoed, then {}: {e}",
            report.stream_id,
            report.echoed,
            e.kind()
        ),
        _ => format!("stream {}: {:?}", report.stream_id, report.outcome),
    }
}

/// Runs the mirror server until the process is killed.
///
/// Its log (a line per finished stream, accept failures, dead peers) goes to standard error
/// through [`Log`](crate::log::Log), which never blocks the server.
pub(crate) fn run(args: &ServeArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail("io", e),
    };
    let log = crate::log::Log::start();
    let served = runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(&args.listen).await {
            Ok(listener) => listener,
            Err(e) => return Err(format!("cannot listen on {}: {e}", args.listen)),
        };
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        if let Some(log) = &log {
            log.report_drops();
        }
        let mut mirror = Mirror::new()
            .with_server(args.buffers.apply(args.timeouts.server()))
            .on_stream_end(|report| tracing::info!(target: "evs", "{}", describe(report)));
        if let Some(params) = args.credentials.params() {
            mirror = mirror.with_signing(params);
        }
        {
            // When nobody reads our output, serve anyway.
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "listening on {addr}").and_then(|()| out.flush());
        }
        mirror.serve(listener).await.map_err(|e| e.to_string())
    });
    // The lines still queued go out before the last one.
    drop(log);
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("io", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `evs serve`'s arguments alone.
    #[derive(Debug, Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    /// The flags' defaults are the library's.
    #[test]
    fn timeout_defaults_are_the_library_defaults() {
        let t = Serve::try_parse_from(["serve"])
            .expect("parses")
            .args
            .timeouts;
        assert_eq!(
            t.handshake_timeout.0,
            Some(ServerBuilder::DEFAULT_HANDSHAKE_TIMEOUT)
        );
        assert_eq!(t.idle_timeout.0, Some(ServerBuilder::DEFAULT_IDLE_TIMEOUT));
        assert_eq!(
            t.keepalive.0,
            Some(ServerBuilder::DEFAULT_KEEPALIVE_INTERVAL)
        );
        assert_eq!(
            t.keepalive_timeout,
            ServerBuilder::DEFAULT_KEEPALIVE_TIMEOUT
        );
    }

    /// Fractions of seconds are accepted, 0 turns a timeout off, nonsense is refused.
    #[test]
    fn timeouts_parse() {
        let t = Serve::try_parse_from([
            "serve",
            "--handshake-timeout",
            "0.25",
            "--idle-timeout",
            "0",
            "--keepalive",
            "2",
            "--keepalive-timeout",
            "1.5",
        ])
        .expect("parses")
        .args
        .timeouts;
        assert_eq!(t.handshake_timeout.0, Some(Duration::from_millis(250)));
        assert_eq!(t.idle_timeout.0, None);
        assert_eq!(t.keepalive.0, Some(Duration::from_secs(2)));
        assert_eq!(t.keepalive_timeout, Duration::from_millis(1500));
        for bad in [
            &["--idle-timeout", "-1"][..],
            &["--keepalive", "soon"],
            &["--keepalive-timeout", "0"],
            &["--handshake-timeout", "NaN"],
            &["--handshake-timeout", "1e30"],
        ] {
            let mut argv = vec!["serve"];
            argv.extend_from_slice(bad);
            assert!(Serve::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }
}
