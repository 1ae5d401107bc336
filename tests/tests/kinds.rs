//! Every error kind is in the one table, `eventstream::kinds::KINDS`, and the README's "Error kinds"
//! table is that table.
//!
//! One value of every variant of every error type (the core's `FrameError`, `EncodeError`,
//! `SignError`, `VerifyError`, `SeedError`, `RequestSignError`, `RequestVerifyError`,
//! `ProtocolError`, `SessionError`, `SendError`, and each
//! adapter's `Error`; a variant that wraps another error once per wrapped variant) is built here,
//! and its `kind()` must be listed; every listed kind must come from one of them (or from `evs`
//! alone, said below). A variant added to an error type needs a line here: the tests cannot see
//! it otherwise, since the enums are `#[non_exhaustive]` outside their crates.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use eventstream::frame::{ByteString, EncodeError, FrameError};
use eventstream::kinds::{meaning, KINDS};
use eventstream::session::{ProtocolError, SendError, SessionError};
use eventstream::sign::{
    RequestSignError, RequestVerifyError, SeedError, SignError, SigningTime, TimeOutOfRange,
    VerifyError,
};

/// Kinds that only `evs` reports (its own failures, not an error type's `kind()`), and where
/// its tests check them.
const EVS_ONLY: &[(&str, &str)] = &[
    ("time_out_of_range", "cli/tests/cli.rs"),
    ("invalid_credentials_file", "cli/tests/serve_tls.rs"),
];

fn name() -> ByteString {
    ByteString::from_static("x-name")
}

fn frame_errors() -> Vec<FrameError> {
    vec![
        FrameError::Truncated {
            frame_offset: 0,
            available: 3,
            expected: 12,
        },
        FrameError::PreludeChecksumMismatch {
            frame_offset: 0,
            expected: 1,
            actual: 2,
        },
        FrameError::InvalidMessageLength {
            frame_offset: 0,
            total_length: 3,
        },
        FrameError::InvalidHeadersLength {
            frame_offset: 0,
            headers_length: 100,
            total_length: 20,
        },
        FrameError::HeadersTooLong {
            frame_offset: 0,
            headers_length: 100,
            limit: 10,
        },
        FrameError::PayloadTooLong {
            frame_offset: 0,
            payload_length: 100,
            limit: 10,
        },
        FrameError::TooManyHeaders {
            frame_offset: 0,
            limit: 1,
        },
        FrameError::MessageChecksumMismatch {
            frame_offset: 0,
            expected: 1,
            actual: 2,
        },
        FrameError::InvalidHeaderNameLength {
            offset: 12,
            length: 0,
            remaining: 4,
        },
        FrameError::InvalidHeaderValueType {
            offset: 14,
            name: name(),
            type_code: 10,
        },
        FrameError::InvalidHeaderValue {
            offset: 14,
            name: name(),
            reason: "runs past the header block",
        },
        FrameError::InvalidUtf8 {
            offset: 13,
            what: "name",
        },
        FrameError::DuplicateHeader {
            offset: 20,
            name: name(),
        },
    ]
}

fn encode_errors() -> Vec<EncodeError> {
    vec![
        EncodeError::InvalidHeaderNameLength {
            index: 0,
            length: 0,
        },
        EncodeError::HeaderValueTooLong {
            name: name(),
            length: 40_000,
        },
        EncodeError::HeadersTooLong {
            length: 100,
            limit: 10,
        },
        EncodeError::PayloadTooLong {
            length: 100,
            limit: 10,
        },
        EncodeError::TooManyHeaders { count: 3, limit: 1 },
        EncodeError::MessageTooLong { length: 1 << 33 },
        EncodeError::BufferTooSmall {
            needed: 16,
            available: 4,
        },
    ]
}

fn sign_errors() -> Vec<SignError> {
    let mut all: Vec<SignError> = encode_errors().into_iter().map(SignError::Encode).collect();
    all.push(SignError::AfterEnd);
    all
}

fn verify_errors() -> Vec<VerifyError> {
    let mut all = vec![
        VerifyError::SignatureMismatch { index: 1 },
        VerifyError::InvalidEnvelope {
            index: 1,
            reason: "no :date",
        },
        VerifyError::FrameAfterEnd { index: 2 },
        VerifyError::MissingEndFrame { verified: 2 },
        VerifyError::SignatureExpired {
            index: 1,
            signed_at: 0,
            now: 1_000,
            max_skew: 300,
        },
    ];
    all.extend(frame_errors().into_iter().map(VerifyError::Frame));
    all
}

fn seed_errors() -> Vec<SeedError> {
    vec![SeedError::NoSignature, SeedError::InvalidSignature]
}

fn request_sign_errors() -> Vec<RequestSignError> {
    vec![RequestSignError::InvalidHeaderValue {
        name: "x-amz-security-token",
    }]
}

fn request_verify_errors() -> Vec<RequestVerifyError> {
    vec![
        RequestVerifyError::MissingAuthorization,
        RequestVerifyError::MalformedAuthorization {
            reason: "no Signature",
        },
        RequestVerifyError::UnsupportedAlgorithm {
            algorithm: "AWS4-ECDSA-P256-SHA256".into(),
        },
        RequestVerifyError::MissingSignedHeader {
            name: "host".into(),
        },
        RequestVerifyError::MissingDate,
        RequestVerifyError::InvalidDate,
        RequestVerifyError::RequestExpired {
            signed_at: 0,
            now: 301,
            max_skew: 300,
        },
        RequestVerifyError::ScopeMismatch {
            part: "region",
            expected: "us-east-1".into(),
            found: "eu-west-1".into(),
        },
        RequestVerifyError::UnknownAccessKey {
            access_key_id: "AKIDUNKNOWN".into(),
        },
        RequestVerifyError::InvalidSecurityToken,
        RequestVerifyError::SignatureDoesNotMatch,
    ]
}

fn protocol_errors() -> Vec<ProtocolError> {
    vec![
        ProtocolError::InitialResponseAfterEvents { events: 1 },
        ProtocolError::InitialRequestAfterEvents { events: 1 },
        ProtocolError::MisdirectedInitialMessage {
            event_type: "initial-request",
        },
        ProtocolError::FrameAfterEnd,
        ProtocolError::UnknownMessageType {
            message_type: "other".into(),
        },
        ProtocolError::MissingHeader {
            name: ":event-type",
        },
    ]
}

fn session_errors() -> Vec<SessionError> {
    let mut all: Vec<SessionError> = frame_errors().into_iter().map(SessionError::from).collect();
    all.extend(verify_errors().into_iter().map(SessionError::from));
    all.extend(protocol_errors().into_iter().map(SessionError::from));
    all.push(SessionError::Reset {
        reason: "RST_STREAM".into(),
    });
    all
}

fn send_errors() -> Vec<SendError> {
    let mut all = vec![
        SendError::Finished,
        SendError::StreamOver,
        SendError::Aborted,
        SendError::NotAllowed("an exception from a client"),
        SendError::InitialMessageNotFirst,
        SendError::WrongKind("not an event"),
    ];
    all.extend(session_errors().into_iter().map(SendError::Failed));
    all.extend(sign_errors().into_iter().map(SendError::Sign));
    all
}

fn clock() -> TimeOutOfRange {
    SigningTime::from_unix_seconds(i64::MAX).expect_err("outside the years 0 to 9999")
}

/// The byte-stream adapters' error: every variant, each wrapping variant once per wrapped one.
macro_rules! io_adapter_errors {
    ($error:ty) => {{
        let mut all: Vec<$error> = vec![
            <$error>::Io(std::io::Error::other("broken pipe")),
            <$error>::TimedOut,
            <$error>::Clock(clock()),
            <$error>::Internal("an invariant"),
        ];
        all.extend(frame_errors().into_iter().map(<$error>::Frame));
        all.extend(verify_errors().into_iter().map(<$error>::Verify));
        all.extend(encode_errors().into_iter().map(<$error>::Encode));
        all.extend(sign_errors().into_iter().map(<$error>::Sign));
        all.extend(session_errors().into_iter().map(<$error>::Session));
        all.extend(send_errors().into_iter().map(<$error>::Send));
        all
    }};
}

fn blocking_errors() -> Vec<eventstream_blocking::Error> {
    io_adapter_errors!(eventstream_blocking::Error)
}

fn futures_io_errors() -> Vec<eventstream_futures_io::Error> {
    io_adapter_errors!(eventstream_futures_io::Error)
}

fn tokio_errors() -> Vec<eventstream_tokio::Error> {
    use eventstream_tokio::{Error, Reason};
    let io = || Arc::new(std::io::Error::other("connection reset"));
    let mut all = vec![
        Error::Reset {
            reason: Reason::CANCEL,
        },
        Error::GoAway {
            reason: Reason::NO_ERROR,
        },
        Error::ConnectionLost(io()),
        Error::H2(Arc::new(h2::Error::from(Reason::PROTOCOL_ERROR))),
        Error::Status {
            status: http::StatusCode::NOT_FOUND,
            headers: Box::default(),
            body: Bytes::from_static(b"not here"),
        },
        Error::Config("a server session on a client stream"),
        Error::Internal("an invariant"),
        Error::TimedOut("handshake"),
        Error::Connect(io()),
        Error::Clock(clock()),
        Error::Body(Arc::new(std::io::Error::other("body cut short"))),
        Error::Tls(Arc::new(eventstream_tokio::tls::rustls::Error::General(
            "handshake".into(),
        ))),
        Error::InvalidPem("no certificate".into()),
        Error::NoH2 {
            selected: Some("http/1.1".into()),
        },
        Error::Credentials(Arc::new(std::io::Error::other("no credentials configured"))),
    ];
    all.extend(session_errors().into_iter().map(Error::Session));
    all.extend(send_errors().into_iter().map(Error::Send));
    all.extend(
        request_verify_errors()
            .into_iter()
            .map(Error::RequestVerify),
    );
    all.extend(request_sign_errors().into_iter().map(Error::RequestSign));
    all
}

/// Every kind the error types report, with where each came from.
fn reported() -> Vec<(&'static str, String)> {
    fn each<E: std::fmt::Debug>(
        out: &mut Vec<(&'static str, String)>,
        errors: Vec<E>,
        kind: impl Fn(&E) -> &'static str,
    ) {
        out.extend(errors.iter().map(|e| (kind(e), format!("{e:?}"))));
    }
    let mut out = Vec::new();
    each(&mut out, frame_errors(), FrameError::kind);
    each(&mut out, encode_errors(), EncodeError::kind);
    each(&mut out, sign_errors(), SignError::kind);
    each(&mut out, verify_errors(), VerifyError::kind);
    each(&mut out, seed_errors(), SeedError::kind);
    each(&mut out, request_sign_errors(), RequestSignError::kind);
    each(&mut out, request_verify_errors(), RequestVerifyError::kind);
    each(&mut out, protocol_errors(), ProtocolError::kind);
    each(&mut out, session_errors(), SessionError::kind);
    each(&mut out, send_errors(), SendError::kind);
    each(
        &mut out,
        blocking_errors(),
        eventstream_blocking::Error::kind,
    );
    each(
        &mut out,
        futures_io_errors(),
        eventstream_futures_io::Error::kind,
    );
    each(&mut out, tokio_errors(), eventstream_tokio::Error::kind);
    out
}

#[test]
fn every_kind_an_error_reports_is_in_the_table() {
    let missing: Vec<_> = reported()
        .into_iter()
        .filter(|(kind, _)| meaning(kind).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "kinds missing from eventstream::kinds::KINDS: {missing:#?}"
    );
}

#[test]
fn every_kind_in_the_table_is_reported() {
    let reported: BTreeSet<&str> = reported().into_iter().map(|(kind, _)| kind).collect();
    let stale: Vec<&str> = KINDS
        .iter()
        .map(|&(kind, _)| kind)
        .filter(|kind| !reported.contains(kind) && !EVS_ONLY.iter().any(|(k, _)| k == kind))
        .collect();
    assert!(stale.is_empty(), "kinds no error type reports: {stale:?}");
}

/// The same failure has the same kind in every adapter.
#[test]
fn the_adapters_name_the_same_failure_alike() {
    let io = std::io::Error::other;
    let cases: [(&str, &str, &str, &str); 3] = [
        (
            "clock",
            eventstream_blocking::Error::Clock(clock()).kind(),
            eventstream_futures_io::Error::Clock(clock()).kind(),
            eventstream_tokio::Error::Clock(clock()).kind(),
        ),
        (
            "internal",
            eventstream_blocking::Error::Internal("x").kind(),
            eventstream_futures_io::Error::Internal("x").kind(),
            eventstream_tokio::Error::Internal("x").kind(),
        ),
        (
            "timeout",
            eventstream_blocking::Error::TimedOut.kind(),
            eventstream_futures_io::Error::TimedOut.kind(),
            eventstream_tokio::Error::TimedOut("keepalive").kind(),
        ),
    ];
    for (failure, blocking, futures_io, tokio) in cases {
        assert!(
            blocking == futures_io && futures_io == tokio,
            "{failure}: blocking {blocking}, futures-io {futures_io}, tokio {tokio}"
        );
    }
    // A wrapped core error keeps its kind in every adapter.
    for e in session_errors() {
        assert_eq!(
            eventstream_blocking::Error::Session(e.clone()).kind(),
            e.kind()
        );
        assert_eq!(
            eventstream_futures_io::Error::Session(e.clone()).kind(),
            e.kind()
        );
        assert_eq!(
            eventstream_tokio::Error::Session(e.clone()).kind(),
            e.kind()
        );
    }
    assert_eq!(eventstream_blocking::Error::Io(io("x")).kind(), "io");
    assert_eq!(eventstream_futures_io::Error::Io(io("x")).kind(), "io");
    // A refused request keeps the core's kind at the server.
    for e in request_verify_errors() {
        assert_eq!(
            eventstream_tokio::Error::RequestVerify(e.clone()).kind(),
            e.kind()
        );
    }
}

#[test]
fn the_readme_table_is_the_kinds_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the README");
    let section = readme
        .split("\n## Error kinds\n")
        .nth(1)
        .expect("an Error kinds section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let rows: Vec<(String, String)> = section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split(" | ")
                .collect();
            let [kind, meaning] = cells[..] else {
                return None;
            };
            let kind = kind.trim().strip_prefix('`')?.strip_suffix('`')?;
            Some((kind.to_owned(), meaning.trim().to_owned()))
        })
        .collect();
    let table: Vec<(String, String)> = KINDS
        .iter()
        .map(|&(k, m)| (k.to_owned(), m.to_owned()))
        .collect();
    assert_eq!(
        rows, table,
        "README.md's Error kinds table and eventstream::kinds::KINDS"
    );
}
