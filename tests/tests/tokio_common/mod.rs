//! Helpers shared by the loopback tests of the tokio + h2 adapter (`tokio_*.rs`): a mirror on a
//! loopback port, requests and sessions, messages, and the hang detector.

#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    reason = "each test file uses a part of the helpers"
)]

use bytes::{Bytes, BytesMut};
use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig};
use eventstream::sign::{Credentials, SigV4Signer, SigningParams};
use eventstream_tokio::mirror::Mirror;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a whole test may take before it counts as hung. Only a hang detector: no test
/// waits for it to pass.
pub const HANG: Duration = Duration::from_secs(20);

/// The seed of the signed test streams: the `Signature=` of the request's `Authorization`.
pub const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

/// Runs `test` and fails if it takes longer than [`HANG`].
pub async fn within_hang_timeout<T>(test: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG, test).await {
        Ok(out) => out,
        Err(_) => panic!("the test hung: it did not finish within {HANG:?}"),
    }
}

/// The signing parameters of the test streams.
pub fn params() -> SigningParams {
    SigningParams::new(
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        "demo",
    )
}

/// Starts `mirror` on a loopback port; it runs until the test's runtime ends.
pub async fn start_mirror(mirror: Mirror) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds a loopback port");
    let addr = listener.local_addr().expect("has an address");
    tokio::spawn(mirror.serve(listener));
    addr
}

/// A `POST` to the mirror; with a seed, it carries an `Authorization` header whose
/// `Signature=` is that seed.
pub fn request(addr: SocketAddr, seed: Option<&str>) -> http::Request<()> {
    let mut builder = http::Request::post(format!("http://{addr}/mirror"));
    if let Some(seed) = seed {
        builder = builder
            .header(
                http::header::AUTHORIZATION,
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/demo/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, Signature={seed}"
                ),
            )
            .header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-EVENTS");
    }
    builder.body(()).expect("a valid request")
}

/// An unsigned client session.
pub fn client_session(mode: Mode) -> Session {
    Session::new(SessionConfig::new(Role::Client, mode))
}

/// A client session that signs with the test parameters from [`SEED`].
pub fn signed_client_session(mode: Mode) -> Session {
    client_session(mode).with_signer(SigV4Signer::new(params(), SEED))
}

/// An event whose payload says which stream and which event it is, `len` bytes long.
pub fn numbered_event(stream: usize, seq: usize, len: usize) -> Message {
    let mut payload = format!("stream {stream} event {seq} ").into_bytes();
    payload.resize(len.max(payload.len()), b'.');
    EventBuilder::new("Numbered")
        .content_type("application/octet-stream")
        .header("stream", stream as i32)
        .header("seq", seq as i64)
        .payload(payload)
        .build()
}

/// The wire bytes of a message, unsigned.
pub fn encode(message: &Message) -> Bytes {
    let mut out = BytesMut::new();
    message.encode(&mut out).expect("encodes");
    out.freeze()
}

/// A loopback listener and its address.
pub async fn listen() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("has an address");
    (listener, addr)
}

/// Reads HTTP/2 frames from `tcp` (after the client's preface) until the HEADERS of stream 1:
/// for servers written byte by byte.
pub async fn read_until_headers_of_stream_1(tcp: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut preface = [0u8; 24];
    tcp.read_exact(&mut preface).await.expect("the preface");
    loop {
        let mut head = [0u8; 9];
        tcp.read_exact(&mut head).await.expect("a frame header");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await.expect("a frame payload");
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if head[3] == 0x1 && stream == 1 {
            return;
        }
    }
}

/// One HTTP/2 frame, for servers written byte by byte.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The test CA and server certificate of the TLS tests.
pub use eventstream_testkit::pki::{test_pki, TestPki};

/// A pooled client that trusts the test CA (and the default roots).
pub fn tls_client(pki: &TestPki) -> eventstream_tokio::Client {
    eventstream_tokio::ClientBuilder::new()
        .add_ca_pem(pki.ca.as_bytes())
        .expect("the CA")
        .build()
}

/// Checks a refusal in AWS's error shape, as `Incoming::reject_unverified` answers: `403`,
/// `content-type: application/json`, the AWS `exception` in `x-amzn-errortype`, this project's
/// `kind` in `x-eventstream-error-kind`, and a JSON body whose `message` starts with
/// `<kind>: `. Returns the message.
pub fn assert_aws_refusal(error: &eventstream_tokio::Error, exception: &str, kind: &str) -> String {
    let eventstream_tokio::Error::Status {
        status,
        headers,
        body,
    } = error
    else {
        panic!("expected a refusal, got {error:?}")
    };
    assert_eq!(*status, http::StatusCode::FORBIDDEN, "{body:?}");
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("content-type"), Some("application/json"));
    assert_eq!(
        header(eventstream_tokio::AWS_ERROR_TYPE_HEADER),
        Some(exception),
        "{body:?}"
    );
    assert_eq!(
        header(eventstream_tokio::ERROR_KIND_HEADER),
        Some(kind),
        "{body:?}"
    );
    let json: serde_json::Value = serde_json::from_slice(body).expect("a JSON body");
    let message = json["message"].as_str().expect("a message").to_owned();
    assert!(
        message.starts_with(&format!("{kind}: ")),
        "the message names the kind {kind}: {message:?}"
    );
    message
}
