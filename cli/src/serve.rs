//! `evs serve`: the mirror server over HTTP/2 cleartext (prior knowledge), and the optional
//! credentials that `evs serve` verifies and `evs send` signs with.

use crate::signing::SECRET_ACCESS_KEY_ENV;
use clap::builder::{NonEmptyStringValueParser, TypedValueParser as _};
use clap::Args;
use eventstream::sign::{Credentials, SigningParams};
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport};
use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

/// The arguments of `evs serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on; port 0 picks a free port (the real address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,

    /// Verification of the signing chains.
    #[command(flatten)]
    credentials: CredentialArgs,
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
pub(crate) fn run(args: &ServeArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail("io", e),
    };
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(&args.listen).await {
            Ok(listener) => listener,
            Err(e) => return fail("io", format_args!("cannot listen on {}: {e}", args.listen)),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => return fail("io", e),
        };
        let mut mirror = Mirror::new().on_stream_end(|report| {
            let _ = writeln!(io::stderr().lock(), "{}", describe(report));
        });
        if let Some(params) = args.credentials.params() {
            mirror = mirror.with_signing(params);
        }
        {
            // When nobody reads our output, serve anyway.
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "listening on {addr}").and_then(|()| out.flush());
        }
        match mirror.serve(listener).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail("io", e),
        }
    })
}
