//! Heap allocations per event on the core's hot path, counted with the testkit's counting
//! allocator: a signed stream end to end (the client signs, the server verifies and echoes, the
//! client decodes the echo), the way `benches/examples/prof_event.rs` runs it, in one thread.
//!
//! Each received message owns one allocation, its header list (`Message` keeps its headers in a
//! `Vec`; names, values and the payload are views into the received bytes). Anything more per
//! event is waste: the budgets below are what the code needs today, so that a change that adds
//! an allocation per event fails here.
//!
//! One test in this binary: the allocator's counts are process-wide.

use bytes::{Bytes, BytesMut};
use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams, SigningTime};
use eventstream_testkit::alloc::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

/// Allocations of each phase, summed over the measured events.
#[derive(Debug, Default)]
struct Counts {
    client_send: u64,
    server_receive: u64,
    server_echo: u64,
    client_receive: u64,
}

/// Runs `events` events through a client and a server session, `batch` per transfer, the
/// time advancing one second every `per_second` events, and counts each phase's allocations
/// (the events themselves are built before they are counted).
fn run(events: usize, batch: usize, per_second: usize, signed: bool) -> Counts {
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
    let payload = Bytes::from((0..1024).map(|i| i as u8).collect::<Vec<u8>>());
    let mut wire = BytesMut::new();
    let mut counts = Counts::default();
    let mut echoed: Vec<Message> = Vec::with_capacity(batch);
    let mut sent = 0;
    while sent < events {
        let now = SigningTime::from_unix_seconds(1_700_000_000 + (sent / per_second) as i64)
            .expect("a valid time");
        let n = batch.min(events - sent);
        let messages: Vec<Message> = (0..n)
            .map(|_| {
                EventBuilder::new("AudioEvent")
                    .content_type("application/octet-stream")
                    .payload(payload.clone())
                    .build()
            })
            .collect();
        for msg in messages {
            let ((), count) = alloc::count_allocations(|| client.send(msg, now).expect("send"));
            counts.client_send += count;
        }
        let ((), count) = alloc::count_allocations(|| {
            relay(&mut client, &mut server, &mut wire, now);
        });
        counts.server_receive += count;
        let ((), count) = alloc::count_allocations(|| {
            while let Some(event) = server.poll_event() {
                match event {
                    SessionEvent::Event(m) => server.send(m, now).expect("echo"),
                    other => panic!("server: {other:?}"),
                }
            }
        });
        counts.server_echo += count;
        let ((), count) = alloc::count_allocations(|| {
            relay(&mut server, &mut client, &mut wire, now);
            while let Some(event) = client.poll_event() {
                match event {
                    SessionEvent::Event(m) => echoed.push(m),
                    other => panic!("client: {other:?}"),
                }
            }
        });
        counts.client_receive += count;
        assert_eq!(echoed.len(), n);
        assert!(echoed.iter().all(|m| m.payload() == &payload));
        echoed.clear();
        sent += n;
    }
    counts
}

/// Hands what `from` queued to `to` as one `Bytes`.
fn relay(from: &mut Session, to: &mut Session, wire: &mut BytesMut, now: SigningTime) {
    while from.poll_transmit(wire).is_some() {}
    let data = wire.split().freeze();
    assert_eq!(to.handle_bytes(&data, now), data.len());
}

#[test]
fn allocations_per_event_stay_within_budget() {
    const EVENTS: usize = 2_000;
    for (signed, batch, per_second) in [(true, 1, 100), (true, 16, 1), (false, 1, 100)] {
        // Warm up: buffers grow to their working size.
        run(200, batch, per_second, signed);
        let counts = run(EVENTS, batch, per_second, signed);
        let per_event = |n: u64| n as f64 / EVENTS as f64;
        let what = format!("signed {signed}, {batch} per transfer: {counts:?}");
        println!("{what}");
        // Signing writes into the session's buffer, which is reused: nothing per event.
        assert!(per_event(counts.client_send) <= 0.05, "{what}");
        // The header list of the message handed out, and, signed, that of its envelope.
        let receive = if signed { 2.0 } else { 1.0 };
        assert!(per_event(counts.server_receive) <= receive + 0.05, "{what}");
        // The echo is encoded into the reused buffer.
        assert!(per_event(counts.server_echo) <= 0.05, "{what}");
        // The echo's header list.
        assert!(per_event(counts.client_receive) <= 1.05, "{what}");
    }
}
