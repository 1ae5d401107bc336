//! Regression tests for the core bugs the fuzzers found (issue 7), all fixed: each states the
//! behaviour the core documents, through the public API and through the fuzz input that found it
//! (`fuzz/regressions/session/core-bug-*`, run through the `session` fuzz body).

use bytes::BytesMut;
use eventstream::frame::{FrameDecoder, Limits, Message};
use eventstream::session::{
    EventBuilder, Mode, Role, Session, SessionConfig, SessionError, SessionEvent, Transmit,
};
use eventstream::sign::{Credentials, EventSigner, SigV4Signer, SigningParams, SigningTime};
use eventstream_tests::fuzz::session;

fn t0() -> SigningTime {
    SigningTime::from_unix_seconds(1_700_000_000).expect("in range")
}

/// Runs `fuzz/regressions/session/<name>` through the session body.
fn replay(name: &str) {
    let path = format!(
        "{}/../fuzz/regressions/session/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    session(&data);
}

/// Everything `from` transmits.
fn wire_of(from: &mut Session) -> BytesMut {
    let mut wire = BytesMut::new();
    while let Some(t) = from.poll_transmit(&mut wire) {
        assert!(!matches!(t, Transmit::Reset(_)), "{t:?}");
    }
    wire
}

fn all_events(s: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// FIXED CORE BUG (session, unsigned streams): `send` accepted an empty message (no headers, no
/// payload), which is byte for byte the unsigned end frame. The peer takes it for the end of the
/// stream: the event is lost, and the next frame fails the peer with `frame_after_end`.
///
/// Minimal fuzz input (`core-bug-empty-event-is-end-frame`, 8 bytes): `0000000000008000` (RPC,
/// unsigned both ways; the server sends `Message::default()`; the client sees `End` and no
/// event).
#[test]
fn an_empty_event_is_refused_not_taken_for_the_end_frame() {
    let mut client = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
    let mut server = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
    // Either the core refuses the empty event, or it must arrive as an event.
    let accepted = client.send(Message::default(), t0()).is_ok();
    client
        .send(EventBuilder::new("A").payload(&b"a"[..]).build(), t0())
        .expect("an event");
    client.finish(t0()).expect("finishes");
    let wire = wire_of(&mut client);
    assert_eq!(
        server.handle_input(&wire, eventstream::sign::SigningTime::EPOCH),
        wire.len()
    );
    server.handle_end_of_input(eventstream::sign::SigningTime::EPOCH);
    let events = all_events(&mut server);
    let mut expected = Vec::new();
    if accepted {
        expected.push(SessionEvent::Event(Message::default()));
    }
    expected.push(SessionEvent::Event(
        EventBuilder::new("A").payload(&b"a"[..]).build(),
    ));
    expected.push(SessionEvent::End);
    assert_eq!(
        events, expected,
        "an accepted event must arrive as an event"
    );

    replay("core-bug-empty-event-is-end-frame");
}

/// FIXED CORE BUG (session): `handle_reset` on a session that has already queued its terminal
/// event leaves the sending side open. Its documentation says "nothing more is sent, and no
/// `Transmit::Reset` is asked for, since the stream is gone", but commands are still accepted and
/// `poll_transmit` still hands out data and a finish, or, once a queued failure is polled, a
/// `Transmit::Reset`.
///
/// Minimal fuzz input (`core-bug-reset-after-terminal`, 10 bytes): `000000000000d5d88002` (the
/// server's input ends, its transport is reset, then it sends: `Data` after `handle_reset`).
#[test]
fn handle_reset_after_the_terminal_event_transmits_nothing() {
    // The peer's End is queued (terminal), then the transport is reset.
    let mut server = Session::new(SessionConfig::new(Role::Server, Mode::Rpc));
    server.handle_end_of_input(eventstream::sign::SigningTime::EPOCH);
    server.handle_reset("RST_STREAM");
    assert_eq!(all_events(&mut server), [SessionEvent::End]);
    let sent = server.send(EventBuilder::new("Late").build(), t0());
    assert!(sent.is_err(), "a send after handle_reset was accepted");
    assert_eq!(
        server.poll_transmit(&mut BytesMut::new()),
        None,
        "poll_transmit after handle_reset"
    );

    // A failure is queued (a truncated frame), then the transport is reset: polling the failure
    // must not ask for a Transmit::Reset.
    let mut client = Session::new(SessionConfig::new(Role::Client, Mode::Rpc));
    assert_eq!(
        client.handle_input(&[0, 0, 0], eventstream::sign::SigningTime::EPOCH),
        3
    );
    client.handle_end_of_input(eventstream::sign::SigningTime::EPOCH);
    client.handle_reset("RST_STREAM");
    let events = all_events(&mut client);
    assert!(
        matches!(events[..], [SessionEvent::Failed(SessionError::Frame(_))]),
        "{events:?}"
    );
    assert_eq!(
        client.poll_transmit(&mut BytesMut::new()),
        None,
        "poll_transmit after handle_reset"
    );

    replay("core-bug-reset-after-terminal");
}

/// FIXED CORE BUG (frame limits, signed streams): `Limits::enveloped` kept the header limits of
/// the inner messages, but an envelope carries 2 headers in 67 bytes. With
/// `max_header_count < 2` or `max_headers_len < 67` every envelope is rejected
/// (`too_many_headers`, `headers_too_long`), though its documentation says "an envelope around
/// any acceptable message is itself acceptable" — a signed session with such limits can send
/// nothing its peer accepts.
///
/// Minimal fuzz input (`core-bug-enveloped-header-limits`, 15 bytes):
/// `221010040000000000000200010000` (client to server signed and verified, headers limit 64
/// bytes; the client sends one small event; the server fails with `headers_too_long`, 67 > 64).
#[test]
fn enveloped_limits_admit_the_envelopes_of_acceptable_messages() {
    let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
    for limits in [
        Limits::default().with_max_header_count(1),
        Limits::default().with_max_headers_len(64),
    ] {
        let msg = Message::new(&b"x"[..]).with_header("k", 1i32);
        let mut inner = BytesMut::new();
        msg.encode_with_limits(&limits, &mut inner)
            .expect("the inner message is acceptable");
        let mut signer = SigV4Signer::new(params.clone(), "00");
        let mut wire = BytesMut::new();
        signer
            .sign_to(&msg, t0(), &limits, &mut wire)
            .expect("signs");
        let mut decoder = FrameDecoder::with_limits(limits.enveloped());
        decoder.handle_input(&wire);
        assert!(
            matches!(decoder.poll_message(), Ok(Some(_))),
            "{limits:?}: the envelope of an acceptable message is rejected by limits.enveloped()"
        );
    }

    replay("core-bug-enveloped-header-limits");
}
