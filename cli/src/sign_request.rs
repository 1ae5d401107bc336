//! `evs sign-request`: the SigV4 signature of the request that opens a stream, computed without a
//! network, step by step: canonical request, string to sign, signature and the signed head.

use crate::credentials::{signing_params, CredentialArgs, SigningFailure};
use crate::request::{self, HeaderArg, ScopeArgs};
use crate::serve::{fail, runtime};
use clap::{Args, ValueEnum};
use eventstream::sign::{RequestSigner, SignedRequest, SigningTime};
use eventstream_tokio::EVENT_STREAM_CONTENT_TYPE;
use http::header::CONTENT_TYPE;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::SystemTime;

/// The arguments of `evs sign-request`.
#[derive(Debug, Args)]
pub(crate) struct SignRequestArgs {
    /// The request's URL: https://HOST[:PORT]/PATH[?QUERY] (or http://). Its authority is
    /// signed as the `host` header unless -H gives one.
    #[arg(value_name = "URL", value_parser = request::parse_url)]
    url: http::Uri,

    /// The request method.
    #[arg(short = 'X', long, value_name = "METHOD", default_value = "POST")]
    method: http::Method,

    /// A request header to sign, `name: value`; repeat for more, in order.
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = request::parse_header)]
    headers: Vec<HeaderArg>,

    /// The signing time: seconds since the Unix epoch, an RFC 3339 time (2015-08-30T12:36:00Z)
    /// or an x-amz-date (20150830T123600Z). Default: now.
    #[arg(long, value_name = "TIME", value_parser = request::parse_time)]
    time: Option<SigningTime>,

    /// Do not add `content-type: application/vnd.amazon.eventstream` (which `evs send` always
    /// sends, signed): sign only the headers given, as for a request that is not an event
    /// stream. A content-type given with -H is kept either way.
    #[arg(long)]
    no_content_type: bool,

    /// Sign the path as given, without normalizing it (removing `.` and `..` segments and
    /// duplicate slashes), as S3 requires.
    #[arg(long)]
    no_normalize_path: bool,

    /// What to print: everything, or one part alone, exactly, for scripts and diffs.
    #[arg(long, value_name = "PART", value_enum, default_value_t = Part::All)]
    print: Part,

    /// Region, service and payload hash.
    #[command(flatten)]
    scope: ScopeArgs,

    /// Where the credentials come from.
    #[command(flatten)]
    credentials: CredentialArgs,
}

/// A part of the output of `evs sign-request`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Every part below, each under its heading.
    All,
    /// The canonical request.
    CanonicalRequest,
    /// The string to sign.
    StringToSign,
    /// The signature, hex (the seed of the event signing chain).
    Signature,
    /// The value of the Authorization header.
    Authorization,
    /// The signed head: the request line, then every header line to send.
    Head,
}

/// Runs `evs sign-request`.
pub(crate) fn run(args: &SignRequestArgs) -> ExitCode {
    let time = match args.time {
        Some(time) => time,
        None => match SigningTime::from_system_time(SystemTime::now()) {
            Ok(time) => time,
            Err(e) => return fail("clock_out_of_range", e),
        },
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail("io", e),
    };
    let params = match runtime.block_on(signing_params(
        &args.url,
        &args.scope,
        &args.credentials,
        "sign-request",
    )) {
        Ok(params) => params,
        Err(SigningFailure::Credentials(e)) => return fail("credentials", e),
        Err(SigningFailure::Usage(e)) => e.exit(),
    };
    let signer = RequestSigner::new(params)
        .with_payload_hash(args.scope.payload_hash.clone())
        .with_normalized_path(!args.no_normalize_path);

    let mut builder = http::Request::builder()
        .method(args.method.clone())
        .uri(args.url.clone());
    for header in &args.headers {
        builder = builder.header(&header.name, &header.value);
    }
    let has_content_type = args.headers.iter().any(|h| h.name == CONTENT_TYPE);
    if !args.no_content_type && !has_content_type {
        builder = builder.header(CONTENT_TYPE, EVENT_STREAM_CONTENT_TYPE);
    }
    let (mut parts, ()) = match builder.body(()) {
        Ok(request) => request.into_parts(),
        Err(e) => return fail("config", e),
    };
    let signed = match signer.sign(&mut parts, time) {
        Ok(signed) => signed,
        Err(e) => return fail(e.kind(), e),
    };
    let text = render(args.print, &signed, &parts);
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail("io", format!("standard output: {e}")),
    }
}

/// The output: one part alone (with a final newline), or all under headings.
fn render(part: Part, signed: &SignedRequest, parts: &http::request::Parts) -> String {
    let head = || {
        let target = parts
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let mut head = format!("{} {target}\n", parts.method);
        for (name, value) in &parts.headers {
            let _ = writeln!(
                head,
                "{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            );
        }
        head
    };
    match part {
        Part::CanonicalRequest => format!("{}\n", signed.canonical_request()),
        Part::StringToSign => format!("{}\n", signed.string_to_sign()),
        Part::Signature => format!("{}\n", signed.signature()),
        Part::Authorization => format!("{}\n", signed.authorization()),
        Part::Head => head(),
        Part::All => format!(
            "# canonical request\n{}\n\n# string to sign\n{}\n\n# signature\n{}\n\n\
             # signed head\n{}",
            signed.canonical_request(),
            signed.string_to_sign(),
            signed.signature(),
            head()
        ),
    }
}
