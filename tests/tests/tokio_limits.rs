//! The mirror's limits hold on every input path, and whatever it cannot echo is answered with an
//! `error` message that names the limit the user configured.
//!
//! The client here is a raw h2 client posting frames built by hand: our own client session
//! refuses to send what these tests need the server to refuse.

mod tokio_common;

use bytes::{Bytes, BytesMut};
use eventstream::frame::{FrameDecoder, Limits, Message};
use eventstream::session::{EventBuilder, ERROR_CODE, ERROR_MESSAGE, MESSAGE_TYPE};
use eventstream::sign::{EventSigner, SigV4Signer, SigningTime};
use eventstream_tokio::mirror::Mirror;
use std::net::SocketAddr;
use tokio_common::{params, request, start_mirror, within_hang_timeout, SEED};

/// Posts `body` to the mirror as one request body and returns every message of the response.
async fn post(addr: SocketAddr, seed: Option<&str>, body: Bytes) -> Vec<Message> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let (send_request, connection) = h2::client::handshake(tcp).await.expect("handshake");
    tokio::spawn(connection);
    let mut send_request = send_request.ready().await.expect("ready");
    let mut head = request(addr, seed);
    head.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    let (response, mut stream) = send_request.send_request(head, false).expect("sends");
    // h2 queues what the window does not admit yet; the server reads while it answers.
    stream.send_data(body, true).expect("queues the body");
    let response = response.await.expect("a response");
    assert_eq!(response.status(), http::StatusCode::OK);
    let mut body = response.into_body();
    let mut wire = BytesMut::new();
    while let Some(data) = body.data().await {
        let Ok(data) = data else { break };
        let _ = body.flow_control().release_capacity(data.len());
        wire.extend_from_slice(&data);
    }
    let mut decoder = FrameDecoder::new();
    decoder.handle_input(&wire);
    let mut messages = Vec::new();
    while let Some(m) = decoder.poll_message().expect("valid frames") {
        messages.push(m);
    }
    decoder
        .handle_end_of_input()
        .expect("the response ends between frames");
    messages
}

/// The one `error` message of a response: its code and text.
fn error_of(messages: &[Message]) -> (String, String) {
    match messages {
        [m] if m.header_str(MESSAGE_TYPE) == Some("error") => (
            m.header_str(ERROR_CODE).unwrap_or_default().to_owned(),
            m.header_str(ERROR_MESSAGE).unwrap_or_default().to_owned(),
        ),
        other => panic!("expected one error message, got {other:?}"),
    }
}

fn frame(message: &Message, limits: &Limits) -> Bytes {
    let mut out = BytesMut::new();
    message
        .encode_with_limits(limits, &mut out)
        .expect("encodes");
    out.freeze()
}

fn big(len: usize) -> Message {
    EventBuilder::new("Big").payload(vec![b'x'; len]).build()
}

const HUGE: Limits = Limits::DEFAULT.with_max_payload_len(u32::MAX - 1024);

/// An unsigned frame just over the payload limit is refused when it arrives, with the payload
/// limit in the text, not accepted and then reset because it cannot be echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_one_byte_over_the_limit_is_answered_with_an_error() {
    within_hang_timeout(async {
        let addr = start_mirror(Mirror::new()).await;
        let len = Limits::DEFAULT_MAX_PAYLOAD_LEN as usize + 1;
        let (code, text) = error_of(&post(addr, None, frame(&big(len), &HUGE)).await);
        assert_eq!(code, "payload_too_long");
        assert!(text.ends_with("the limit is 25165824"), "{text}");

        // Past the envelope limit too: still the payload limit the user has.
        let mut prelude = BytesMut::new();
        let total = 25 * 1024 * 1024u32 + 16;
        prelude.extend_from_slice(&total.to_be_bytes());
        prelude.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32fast::hash(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let (code, text) = error_of(&post(addr, None, prelude.freeze()).await);
        assert_eq!(code, "payload_too_long");
        assert!(text.ends_with("the limit is 25165824"), "{text}");
        assert!(!text.contains("25296912"), "{text}");
    })
    .await;
}

/// `Mirror::with_limits` governs the message inside a signed envelope and a plain frame alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_limits_hold_signed_and_unsigned() {
    within_hang_timeout(async {
        let limits = Limits::default().with_max_payload_len(1024);
        let unchecked = start_mirror(Mirror::new().with_limits(limits)).await;
        let (code, text) = error_of(&post(unchecked, None, frame(&big(50_000), &HUGE)).await);
        assert_eq!(code, "payload_too_long");
        assert!(text.ends_with("the limit is 1024"), "{text}");

        let verifying =
            start_mirror(Mirror::new().with_limits(limits).with_signing(params())).await;
        let mut signer = SigV4Signer::new(params(), SEED);
        let mut envelope = BytesMut::new();
        let now = SigningTime::from_system_time(std::time::SystemTime::now()).expect("a time");
        signer
            .sign_to(&big(100_000), now, &HUGE, &mut envelope)
            .expect("signs");
        for addr in [verifying, unchecked] {
            let response = post(addr, Some(SEED), envelope.clone().freeze()).await;
            let (code, text) = error_of(&response);
            assert_eq!(code, "payload_too_long");
            assert!(text.ends_with("the limit is 1024"), "{text}");
        }
    })
    .await;
}

/// A message the mirror may not send (no `:message-type`) is answered with an `error` message,
/// after the echoes before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_mirror_cannot_echo_is_answered_with_an_error() {
    within_hang_timeout(async {
        let addr = start_mirror(Mirror::new()).await;
        let first = EventBuilder::new("First").payload(&b"1"[..]).build();
        let mut body = BytesMut::new();
        body.extend_from_slice(&frame(&first, &Limits::DEFAULT));
        body.extend_from_slice(&frame(&Message::new(&b"bare"[..]), &Limits::DEFAULT));
        let response = post(addr, None, body.freeze()).await;
        assert_eq!(response.len(), 2, "{response:?}");
        assert_eq!(response[0], first);
        let (code, text) = error_of(&response[1..]);
        assert_eq!(code, "wrong_kind");
        assert!(text.contains(":message-type"), "{text}");
    })
    .await;
}
