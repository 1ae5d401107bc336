//! The core's share of one event end to end, for profilers (callgrind counts instructions on a
//! fixed workload, so A/B comparisons do not depend on a busy machine).
//!
//! ```text
//! cargo run --release -p eventstream-benches --example prof_event [-- EVENTS PAYLOAD BATCH unsigned]
//! ```
//!
//! A client session signs `EVENTS` `AudioEvent`s of `PAYLOAD` bytes (defaults 20,000 and 1,024)
//! with `SigV4Signer`; every `BATCH` events (default 1) its queued bytes are handed to a server
//! session as one `Bytes`, as an HTTP/2 DATA frame would be. The server verifies the chain with
//! `SigV4Verifier` and echoes each event unsigned; the echoes go back to the client session the
//! same way, and the client checks each one against what it sent. With `unsigned`, neither side
//! signs nor verifies. It prints the number of events echoed.
use bytes::{Bytes, BytesMut};
use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams, SigningTime};

const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1024);
    let batch: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let signed = args.next().is_none_or(|s| s != "unsigned");
    let params = SigningParams::new(
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        "transcribe",
    );
    let mut client = Session::new(SessionConfig::new(Role::Client, Mode::Rpc));
    let mut server = Session::new(SessionConfig::new(Role::Server, Mode::Rpc));
    if signed {
        client.set_signer(SigV4Signer::new(params.clone(), SEED));
        server.set_verifier(SigV4Verifier::new(params, SEED));
    }
    let payload = Bytes::from((0..size).map(|i| i as u8).collect::<Vec<u8>>());
    let now = SigningTime::from_unix_seconds(1_700_000_000).expect("a valid time");
    let mut wire = BytesMut::new();
    let mut sent: Vec<Message> = Vec::with_capacity(batch);
    let mut echoed = 0usize;
    let mut i = 0;
    while i < events {
        sent.clear();
        for _ in 0..batch.min(events - i) {
            let msg = EventBuilder::new("AudioEvent")
                .content_type("application/octet-stream")
                .payload(payload.clone())
                .build();
            sent.push(msg.clone());
            client_send(&mut client, msg, now);
            i += 1;
        }
        server_receive(&mut client, &mut server, &mut wire, now);
        server_echo(&mut server, now);
        echoed += client_receive(&mut server, &mut client, &mut wire, &sent, now);
    }
    println!("{echoed}");
}

// Each side's share in a function of its own, so that a profiler can tell them apart.

/// The client signs one event into its session's output.
#[inline(never)]
fn client_send(client: &mut Session, msg: Message, now: SigningTime) {
    client.send(msg, now).expect("send");
}

/// The client's bytes to the server, which decodes and verifies them.
#[inline(never)]
fn server_receive(
    client: &mut Session,
    server: &mut Session,
    wire: &mut BytesMut,
    now: SigningTime,
) {
    relay(client, server, wire, now);
}

/// The server hands out each event and echoes it.
#[inline(never)]
fn server_echo(server: &mut Session, now: SigningTime) {
    while let Some(event) = server.poll_event() {
        match event {
            SessionEvent::Event(m) => server.send(m, now).expect("echo"),
            other => panic!("server: {other:?}"),
        }
    }
}

/// The server's echoes to the client, which decodes them and checks each against what it sent.
#[inline(never)]
fn client_receive(
    server: &mut Session,
    client: &mut Session,
    wire: &mut BytesMut,
    sent: &[Message],
    now: SigningTime,
) -> usize {
    relay(server, client, wire, now);
    let mut k = 0;
    while let Some(event) = client.poll_event() {
        match event {
            SessionEvent::Event(m) => assert_eq!(m, sent[k], "echo {k}"),
            other => panic!("client: {other:?}"),
        }
        k += 1;
    }
    assert_eq!(k, sent.len());
    k
}

/// Hands what `from` queued to `to` as one `Bytes`.
#[inline(always)]
fn relay(from: &mut Session, to: &mut Session, wire: &mut BytesMut, now: SigningTime) {
    while from.poll_transmit(wire).is_some() {}
    let data = wire.split().freeze();
    let n = to.handle_bytes(&data, now);
    assert_eq!(n, data.len(), "the receiver took every byte");
}
