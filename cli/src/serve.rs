//! `evs serve`: the mirror server over HTTP/2, cleartext (prior knowledge) or TLS with ALPN
//! `h2`, verifying SigV4 requests from a credentials file (or only the events' signing chains),
//! and the helpers the other network commands share (`fail`, `runtime`, `describe`).

use crate::signing::SECRET_ACCESS_KEY_ENV;
use clap::builder::{NonEmptyStringValueParser, TypedValueParser as _};
use clap::Args;
use eventstream::sign::{Credentials, RequestVerifier, SigningParams, StaticSecrets};
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport, Secrets};
use eventstream_tokio::tls::rustls::ServerConfig;
use eventstream_tokio::tls::server_config_from_pem;
use eventstream_tokio::ServerBuilder;
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
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

    /// TLS.
    #[command(flatten)]
    tls: TlsArgs,

    /// Verification of the requests and the signing chains.
    #[command(flatten)]
    verify: VerifyArgs,
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

/// How `evs serve` checks what clients send: the requests themselves (`--credentials`), or
/// only the signing chains of their events (`--access-key-id`); with neither, nothing.
#[derive(Debug, Args)]
#[command(next_help_heading = "Verification options")]
pub(crate) struct VerifyArgs {
    /// Verify every request's SigV4 signature before its stream is accepted, as an AWS service
    /// does, with the access key ids and secret access keys in FILE: one
    /// `ACCESS_KEY_ID SECRET_ACCESS_KEY [SESSION_TOKEN]` per line, separated by spaces or tabs;
    /// blank lines and lines starting with `#` are skipped. A line with a session token holds
    /// temporary credentials, whose requests must carry that token (x-amz-security-token).
    ///
    /// A request with a bad signature, another region or service in its credential scope, an
    /// unknown access key, or an x-amz-date further than --max-skew from the server's clock is
    /// refused with 403 Forbidden as an AWS service refuses it, before any event is echoed: the
    /// exception in x-amzn-errortype (e.g. InvalidSignatureException), the error's kind in
    /// x-eventstream-error-kind, and a JSON body whose message starts with the kind (e.g.
    /// `{"message":"request_expired: ..."}`). The events are then verified from
    /// the request's signature, each :date within --max-skew of the server's clock too, so that
    /// a captured stream cannot be replayed later.
    #[arg(long, value_name = "FILE", conflicts_with = "access_key_id")]
    credentials: Option<PathBuf>,

    /// With --credentials: how far, in seconds, a request's x-amz-date and each event's :date
    /// may be from the server's clock, either way. 300 (5 minutes) is what AWS services allow.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = RequestVerifier::<Secrets>::DEFAULT_MAX_SKEW_SECONDS,
        value_parser = clap::value_parser!(u64).range(..=MAX_SKEW_LIMIT),
        requires = "credentials"
    )]
    max_skew: u64,

    /// The region that requests and events must be signed for (their credential scope).
    #[arg(
        long,
        value_name = "REGION",
        default_value = DEFAULT_REGION,
        value_parser = NonEmptyStringValueParser::new()
    )]
    region: String,

    /// The signing name of the service that requests and events must be signed for. The
    /// default is Amazon Transcribe streaming's, so that its clients (and the AWS SDKs) can be
    /// pointed at `evs serve` as they are.
    #[arg(
        long,
        value_name = "SERVICE",
        default_value = DEFAULT_SERVICE,
        value_parser = NonEmptyStringValueParser::new()
    )]
    service: String,

    /// Verify only the events' signing chains, with this one access key id (and
    /// --secret-access-key), from the seed in each request's Authorization header: the request
    /// itself and the events' dates are not checked (use --credentials for that). Unlike
    /// `evs sign`, it is not read from the environment, so that credentials set there do not
    /// change what the server does.
    #[arg(
        long,
        value_name = "ID",
        value_parser = NonEmptyStringValueParser::new(),
        requires = "secret_access_key"
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
}

/// The default `--region`: the region AWS tools fall back to.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";
/// The default `--service`: the signing name of Amazon Transcribe streaming.
pub(crate) const DEFAULT_SERVICE: &str = "transcribe";
/// The largest `--max-skew`: a year, far past any clock error and still far from overflow.
const MAX_SKEW_LIMIT: u64 = 365 * 86_400;

/// What `evs serve` verifies.
#[derive(Debug)]
enum Verification {
    /// Nothing: envelopes unwrapped unchecked, unsigned frames accepted.
    Nothing,
    /// The events' chains, from the seed in the request's Authorization.
    Chains(SigningParams),
    /// Each request, then its events' chain and dates.
    Requests {
        verifier: RequestVerifier<Secrets>,
        /// How many access keys the credentials file holds.
        users: usize,
    },
}

impl VerifyArgs {
    /// What to verify, the credentials file read and parsed.
    ///
    /// # Errors
    ///
    /// The kind and detail of `evs serve`'s error line: `io` when the file cannot be read,
    /// `invalid_credentials_file` when it is not a credentials file.
    fn verification(&self) -> Result<Verification, (&'static str, String)> {
        if let Some(path) = &self.credentials {
            let bytes = std::fs::read(path)
                .map_err(|e| ("io", format!("cannot read {}: {e}", path.display())))?;
            let users = parse_credentials(&bytes).map_err(|detail| {
                (
                    "invalid_credentials_file",
                    format!("{}: {detail}", path.display()),
                )
            })?;
            let count = users.len();
            let store: Secrets = Arc::new(users);
            let verifier = RequestVerifier::new(store, self.region.as_str(), self.service.as_str())
                .with_max_skew(self.max_skew);
            return Ok(Verification::Requests {
                verifier,
                users: count,
            });
        }
        Ok(match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => Verification::Chains(SigningParams::new(
                Credentials::new(id.as_str(), secret.0.as_str()),
                self.region.as_str(),
                self.service.as_str(),
            )),
            _ => Verification::Nothing,
        })
    }
}

/// Parses a credentials file: `ACCESS_KEY_ID SECRET_ACCESS_KEY [SESSION_TOKEN]` per line,
/// separated by spaces or tabs; blank lines and lines whose first non-blank character is `#`
/// are skipped; a line may end in CRLF.
///
/// # Errors
///
/// What is wrong and on which line (from 1), never a secret: a line with one field or more than
/// three, an access key id that appears twice, a line that is not UTF-8, or no credentials at
/// all.
fn parse_credentials(bytes: &[u8]) -> Result<StaticSecrets, String> {
    let mut users = StaticSecrets::new();
    // Where each access key id was first seen.
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let line = std::str::from_utf8(line)
            .map_err(|_| format!("line {number}: not UTF-8 text"))?
            .trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let credentials = match fields[..] {
            [id, secret] => Credentials::new(id, secret),
            [id, secret, token] => Credentials::new(id, secret).with_session_token(token),
            _ => {
                let n = fields.len();
                return Err(format!(
                    "line {number}: {n} field{}, expected ACCESS_KEY_ID SECRET_ACCESS_KEY \
                     [SESSION_TOKEN] separated by spaces",
                    if n == 1 { "" } else { "s" }
                ));
            }
        };
        let id = credentials.access_key_id().to_owned();
        if let Some((_, first)) = seen.iter().find(|(known, _)| *known == id) {
            return Err(format!(
                "line {number}: the access key id {id} is on line {first} already"
            ));
        }
        seen.push((id, number));
        users.insert(credentials);
    }
    if users.is_empty() {
        return Err(
            "no credentials in it (one ACCESS_KEY_ID SECRET_ACCESS_KEY per line): every request \
             would be refused"
                .into(),
        );
    }
    Ok(users)
}

/// `evs serve`'s TLS: a certificate chain and its key, in PEM.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS options")]
pub(crate) struct TlsArgs {
    /// Serve HTTPS: TLS 1.2 and 1.3 with ALPN h2 (HTTP/2 only; a client offering only
    /// http/1.1 is refused during the handshake), presenting the certificate chain in FILE
    /// (PEM: the server's certificate first, then any intermediates). With --tls-key. Without
    /// both, HTTP/2 cleartext (prior knowledge).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert, in PEM (PKCS#8 `PRIVATE KEY`, `RSA PRIVATE KEY` or
    /// `EC PRIVATE KEY`).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The TLS configuration, when --tls-cert and --tls-key were given.
    ///
    /// # Errors
    ///
    /// The kind and detail of `evs serve`'s error line: `io` when a file cannot be read,
    /// `invalid_pem` when it holds no certificate or key, `tls` when rustls refuses the pair.
    fn config(&self) -> Result<Option<Arc<ServerConfig>>, (&'static str, String)> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| ("io", format!("cannot read {}: {e}", path.display())))
        };
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        server_config_from_pem(&cert_pem, &key_pem)
            .map(Some)
            .map_err(|e| {
                (
                    e.kind(),
                    format!(
                        "{e} (--tls-cert {}, --tls-key {})",
                        cert.display(),
                        key.display()
                    ),
                )
            })
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
        MirrorOutcome::Unverified(e @ eventstream_tokio::Error::RequestVerify(cause)) => format!(
            "stream {}: refused, 403 Forbidden: {}: {cause}",
            report.stream_id,
            e.kind()
        ),
        MirrorOutcome::Unverified(e) => format!(
            "stream {}: refused, 500 Internal Server Error: {}: {e}",
            report.stream_id,
            e.kind()
        ),
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
    // The files first: a bad one is one error line, before anything listens.
    let tls = match args.tls.config() {
        Ok(tls) => tls,
        Err((kind, detail)) => return fail(kind, detail),
    };
    let verification = match args.verify.verification() {
        Ok(verification) => verification,
        Err((kind, detail)) => return fail(kind, detail),
    };
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
        let transport = if tls.is_some() {
            "HTTP/2 over TLS (ALPN h2)"
        } else {
            "HTTP/2 cleartext"
        };
        let plain = tls.is_none();
        if let Some(tls) = tls {
            mirror = mirror.with_tls(tls);
        }
        let scope = format!("{}/{}", args.verify.region, args.verify.service);
        match verification {
            // The default says nothing: the first lines are the streams'.
            Verification::Nothing if plain => {}
            Verification::Nothing => {
                tracing::info!(target: "evs", "serving {transport}; verifying nothing");
            }
            Verification::Chains(params) => {
                tracing::info!(
                    target: "evs",
                    "serving {transport}; verifying the events' signing chains for {scope}, not the requests"
                );
                mirror = mirror.with_signing(params);
            }
            Verification::Requests { verifier, users } => {
                tracing::info!(
                    target: "evs",
                    "serving {transport}; verifying requests and events of {users} access key{} \
                     for {scope}, clock skew up to {} s",
                    if users == 1 { "" } else { "s" },
                    verifier.max_skew()
                );
                mirror = mirror.with_request_verifier(verifier);
            }
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
mod verify_tests {
    use super::*;
    use clap::Parser;
    use eventstream::sign::SecretStore as _;

    /// The verification and TLS flags alone.
    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        tls: TlsArgs,
        #[command(flatten)]
        verify: VerifyArgs,
    }

    #[test]
    fn a_credentials_file_has_pairs_comments_and_session_tokens() {
        let file = b"# users of the test server\n\
                     AKIDALICE  alice/secret+1\r\n\
                     \n\
                     \t# indented comment\n\
                     AKIDBOB\tbob-secret\tbob-session-token\n\
                     AKIDCAROL carol-secret";
        let users = parse_credentials(file).expect("parses");
        assert_eq!(users.len(), 3);
        let alice = users.credentials("AKIDALICE").expect("alice");
        assert_eq!(alice.secret_access_key(), "alice/secret+1");
        assert_eq!(alice.session_token(), None);
        let bob = users.credentials("AKIDBOB").expect("bob");
        assert_eq!(bob.session_token(), Some("bob-session-token"));
        assert!(users.credentials("AKIDCAROL").is_some());
        assert!(users.credentials("AKIDDAVE").is_none());
    }

    /// Each error names its line and never shows a secret.
    #[test]
    fn credentials_file_errors_name_the_line() {
        for (file, wanted) in [
            (&b"AKIDALICE secret\nAKIDBOB\n"[..], "line 2: 1 field,"),
            (b"# c\nAKIDALICE secret token extra\n", "line 2: 4 fields"),
            (
                b"AKIDALICE s1\n\nAKIDALICE s2\n",
                "line 3: the access key id AKIDALICE is on line 1 already",
            ),
            (b"AKIDALICE s1\nAKID\xff s2\n", "line 2: not UTF-8"),
            (b"", "no credentials"),
            (b"# only comments\n\n", "no credentials"),
        ] {
            let err = parse_credentials(file).expect_err("refused");
            assert!(err.starts_with(wanted), "{err:?}, expected {wanted:?}");
            for secret in ["secret", "s1", "s2", "token"] {
                assert!(!err.contains(secret), "{err:?} shows a secret");
            }
        }
    }

    #[test]
    fn verification_flags_and_their_defaults() {
        let f = Flags::try_parse_from(["serve"]).expect("parses");
        assert_eq!(f.verify.region, DEFAULT_REGION);
        assert_eq!(f.verify.service, DEFAULT_SERVICE);
        assert_eq!(f.verify.max_skew, 300);
        assert!(matches!(f.verify.verification(), Ok(Verification::Nothing)));
        assert!(matches!(f.tls.config(), Ok(None)));
        let f = Flags::try_parse_from([
            "serve",
            "--credentials",
            "users.txt",
            "--max-skew",
            "60",
            "--region",
            "eu-west-1",
            "--service",
            "demo",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .expect("parses");
        assert_eq!(f.verify.max_skew, 60);
        assert_eq!(f.verify.credentials, Some(PathBuf::from("users.txt")));
        // Usage errors: half of TLS, a skew without credentials, both kinds of verification,
        // a skew that is not a number of seconds.
        for bad in [
            &["--tls-cert", "c.pem"][..],
            &["--tls-key", "k.pem"],
            &["--max-skew", "60"],
            &[
                "--credentials",
                "u.txt",
                "--access-key-id",
                "AKID",
                "--secret-access-key",
                "s",
            ],
            &["--credentials", "u.txt", "--max-skew", "-1"],
            &["--credentials", "u.txt", "--max-skew", "1.5"],
            &["--credentials", "u.txt", "--max-skew", "99999999999"],
            &["--region", ""],
        ] {
            let mut argv = vec!["serve"];
            argv.extend_from_slice(bad);
            assert!(Flags::try_parse_from(argv).is_err(), "{bad:?}");
        }
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
