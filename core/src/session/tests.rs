use super::*;
use crate::frame::Message;
use crate::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
use alloc::vec::Vec;

fn t(secs: i64) -> SigningTime {
    SigningTime::from_unix_seconds(secs).unwrap()
}

fn client(mode: Mode) -> Session {
    Session::new(SessionConfig::new(Role::Client, mode))
}

fn server(mode: Mode) -> Session {
    Session::new(SessionConfig::new(Role::Server, mode))
}

fn ev(name: &str, payload: &'static [u8]) -> Message {
    EventBuilder::new(name).payload(payload).build()
}

/// Everything `from` transmits, and whether it half-closed or reset.
fn drain_transmit(from: &mut Session) -> (BytesMut, Vec<Transmit>) {
    let mut wire = BytesMut::new();
    let mut signals = Vec::new();
    while let Some(tx) = from.poll_transmit(&mut wire) {
        if !matches!(tx, Transmit::Data(_)) {
            signals.push(tx);
        }
    }
    (wire, signals)
}

/// Feeds `wire` to `to` in `chunk`-byte pieces, draining events as needed; then ends the input
/// if `end`.
fn deliver(to: &mut Session, wire: &[u8], chunk: usize, end: bool) -> Vec<SessionEvent> {
    let mut events = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        let mut rest = piece;
        while !rest.is_empty() {
            let n = to.handle_input(rest, SigningTime::EPOCH);
            rest = &rest[n..];
            while let Some(e) = to.poll_event() {
                events.push(e);
            }
        }
    }
    if end {
        to.handle_end_of_input(SigningTime::EPOCH);
    }
    while let Some(e) = to.poll_event() {
        events.push(e);
    }
    events
}

fn pipe(from: &mut Session, to: &mut Session, chunk: usize) -> Vec<SessionEvent> {
    let (wire, signals) = drain_transmit(from);
    deliver(to, &wire, chunk, signals.contains(&Transmit::Finish))
}

fn params() -> SigningParams {
    SigningParams::new(
        Credentials::new("AKID", "secret"),
        "us-west-2",
        "transcribe",
    )
}
const SEED: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn rpc_client_sends_initial_request_first_as_first_link_of_the_chain() {
    let mut c = client(Mode::Rpc).with_signer(SigV4Signer::new(params(), SEED));
    let mut s = server(Mode::Rpc).with_verifier(SigV4Verifier::new(params(), SEED));
    c.send_initial_request(
        EventBuilder::initial_request()
            .payload(&b"{\"a\":1}"[..])
            .build(),
        t(10),
    )
    .unwrap();
    c.send(ev("Audio", b"1"), t(11)).unwrap();
    c.send(ev("Audio", b"2"), t(12)).unwrap();
    c.finish(t(13)).unwrap();
    let events = pipe(&mut c, &mut s, 7);
    assert!(
        matches!(&events[0], SessionEvent::InitialRequest(m) if &m.payload()[..] == b"{\"a\":1}")
    );
    assert!(matches!(&events[1], SessionEvent::Event(m) if &m.payload()[..] == b"1"));
    assert!(matches!(&events[2], SessionEvent::Event(m) if &m.payload()[..] == b"2"));
    assert_eq!(events[3], SessionEvent::End);
    assert_eq!(events.len(), 4);
}

#[test]
fn initial_request_cannot_be_overtaken_or_sent_late() {
    let mut c = client(Mode::Rpc);
    c.send(ev("A", b""), t(0)).unwrap();
    let late = c.send_initial_request(EventBuilder::initial_request().build(), t(0));
    assert_eq!(late.unwrap_err(), SendError::InitialMessageNotFirst);
    // Events cannot pose as initial messages in RPC mode.
    let mut c = client(Mode::Rpc);
    assert_eq!(
        c.send(EventBuilder::initial_request().build(), t(0))
            .unwrap_err()
            .kind(),
        "wrong_kind"
    );
    // A server cannot send an initial request, a client cannot send an initial response.
    let mut s = server(Mode::Rpc);
    assert_eq!(
        s.send_initial_request(EventBuilder::initial_request().build(), t(0))
            .unwrap_err()
            .kind(),
        "not_allowed"
    );
    let mut c = client(Mode::Rpc);
    assert_eq!(
        c.send_initial_response(EventBuilder::initial_response().build(), t(0))
            .unwrap_err()
            .kind(),
        "not_allowed"
    );
    // HTTP-binding mode has no initial messages.
    let mut c = client(Mode::HttpBinding);
    assert_eq!(
        c.send_initial_request(EventBuilder::initial_request().build(), t(0))
            .unwrap_err()
            .kind(),
        "not_allowed"
    );
}

#[test]
fn client_surfaces_initial_response_and_never_waits_for_one() {
    let mut s = server(Mode::Rpc);
    let mut c = client(Mode::Rpc);
    s.send_initial_response(
        EventBuilder::initial_response().payload(&b"{}"[..]).build(),
        t(0),
    )
    .unwrap();
    s.send(ev("A", b"a"), t(0)).unwrap();
    let events = pipe(&mut s, &mut c, 1);
    assert!(matches!(events[0], SessionEvent::InitialResponse(_)));
    assert!(matches!(events[1], SessionEvent::Event(_)));

    // No initial response: the first event is delivered at once, before the stream ends.
    let mut s = server(Mode::Rpc);
    let mut c = client(Mode::Rpc);
    s.send(ev("A", b"a"), t(0)).unwrap();
    let events = pipe(&mut s, &mut c, 3);
    assert_eq!(events.len(), 1);
    assert!(
        matches!(&events[0], SessionEvent::Event(m) if m.header_str(":event-type") == Some("A"))
    );
}

#[test]
fn initial_response_after_events_is_a_protocol_error_that_poisons() {
    let mut c = client(Mode::Rpc);
    let mut wire = BytesMut::new();
    ev("A", b"a").encode(&mut wire).unwrap();
    EventBuilder::initial_response()
        .build()
        .encode(&mut wire)
        .unwrap();
    let events = deliver(&mut c, &wire, 64, false);
    assert!(matches!(events[0], SessionEvent::Event(_)));
    let err = SessionError::Protocol(ProtocolError::InitialResponseAfterEvents { events: 1 });
    assert_eq!(events[1], SessionEvent::Failed(err.clone()));
    assert_eq!(events.len(), 2);
    // Reported once; later commands return the same error; the transport is asked to reset.
    assert_eq!(
        c.send(ev("B", b""), t(0)).unwrap_err(),
        SendError::Failed(err.clone())
    );
    assert_eq!(c.finish(t(0)).unwrap_err(), SendError::Failed(err));
    assert_eq!(
        drain_transmit(&mut c).1,
        [Transmit::Reset(ResetCause::Failed)]
    );
    assert_eq!(c.handle_input(&wire, SigningTime::EPOCH), wire.len());
    c.handle_end_of_input(SigningTime::EPOCH);
    assert!(c.poll_event().is_none());
}

#[test]
fn server_unwraps_signed_envelopes_before_recognising_the_initial_request() {
    let mut c = client(Mode::Rpc).with_signer(SigV4Signer::new(params(), SEED));
    c.send_initial_request(EventBuilder::initial_request().build(), t(5))
        .unwrap();
    c.finish(t(6)).unwrap();
    let mut s = server(Mode::Rpc).with_verifier(SigV4Verifier::new(params(), SEED));
    let events = pipe(&mut c, &mut s, 1000);
    assert!(matches!(events[0], SessionEvent::InitialRequest(_)));
    assert_eq!(events[1], SessionEvent::End);
}

#[test]
fn a_broken_chain_fails_the_server() {
    let mut c = client(Mode::Rpc).with_signer(SigV4Signer::new(params(), SEED));
    c.send(ev("A", b"a"), t(5)).unwrap();
    let mut s = server(Mode::Rpc).with_verifier(SigV4Verifier::new(params(), "00"));
    let events = pipe(&mut c, &mut s, 1000);
    assert!(matches!(&events[0], SessionEvent::Failed(e) if e.kind() == "signature_mismatch"));
}

#[test]
fn missing_end_frame_fails_when_verifying() {
    let mut c = client(Mode::Rpc).with_signer(SigV4Signer::new(params(), SEED));
    c.send(ev("A", b"a"), t(5)).unwrap();
    let (wire, _) = drain_transmit(&mut c);
    let mut s = server(Mode::Rpc).with_verifier(SigV4Verifier::new(params(), SEED));
    let events = deliver(&mut s, &wire, 9, true);
    assert!(matches!(events[0], SessionEvent::Event(_)));
    assert!(matches!(&events[1], SessionEvent::Failed(e) if e.kind() == "missing_end_frame"));
}

#[test]
fn http_binding_surfaces_initial_messages_as_events() {
    let mut c = client(Mode::HttpBinding);
    let mut wire = BytesMut::new();
    EventBuilder::initial_response()
        .build()
        .encode(&mut wire)
        .unwrap();
    let events = deliver(&mut c, &wire, 4, true);
    assert!(
        matches!(&events[0], SessionEvent::Event(m) if m.header_str(":event-type") == Some("initial-response"))
    );
    assert_eq!(events[1], SessionEvent::End);
}

#[test]
fn after_finish_nothing_more_can_be_sent() {
    let mut c = client(Mode::Rpc);
    c.finish(t(0)).unwrap();
    assert_eq!(c.send(ev("A", b""), t(0)).unwrap_err(), SendError::Finished);
    assert_eq!(c.finish(t(0)).unwrap_err(), SendError::Finished);
    let (wire, signals) = drain_transmit(&mut c);
    // An unsigned stream has no end frame: the half-close alone ends it.
    assert!(wire.is_empty());
    assert_eq!(signals, [Transmit::Finish]);
    assert!(c.poll_transmit(&mut BytesMut::new()).is_none());
}

#[test]
fn exceptions_and_errors_end_the_stream_for_both_sides() {
    let mut s = server(Mode::Rpc);
    s.send(ev("A", b"a"), t(0)).unwrap();
    s.send_exception(
        ExceptionBuilder::new("BadRequestException")
            .payload(&b"{}"[..])
            .build(),
        t(0),
    )
    .unwrap();
    assert_eq!(s.send(ev("B", b""), t(0)).unwrap_err(), SendError::Finished);
    assert_eq!(s.poll_event(), Some(SessionEvent::Closed));
    let mut c = client(Mode::Rpc);
    let events = pipe(&mut s, &mut c, 5);
    assert!(matches!(events[0], SessionEvent::Event(_)));
    assert!(
        matches!(&events[1], SessionEvent::Exception { exception_type, .. } if &**exception_type == "BadRequestException")
    );
    assert_eq!(events.len(), 2);
    assert_eq!(
        c.send(ev("C", b""), t(0)).unwrap_err(),
        SendError::StreamOver
    );

    let mut s = server(Mode::HttpBinding);
    s.send_error("InternalFailure", "boom", t(0)).unwrap();
    let mut c = client(Mode::HttpBinding);
    let events = pipe(&mut s, &mut c, 5);
    assert!(
        matches!(&events[0], SessionEvent::Error { code, text, .. } if &**code == "InternalFailure" && &**text == "boom")
    );
    // Only servers end the stream that way.
    assert_eq!(
        c.send_error("X", "y", t(0)).unwrap_err().kind(),
        "stream_over"
    );
    assert_eq!(
        client(Mode::Rpc)
            .send_error("X", "y", t(0))
            .unwrap_err()
            .kind(),
        "not_allowed"
    );
}

#[test]
fn frames_after_the_peers_end_frame_are_a_protocol_error() {
    let mut c = client(Mode::Rpc).with_signer(SigV4Signer::new(params(), SEED));
    c.finish(t(5)).unwrap();
    let (mut wire, _) = drain_transmit(&mut c);
    ev("Late", b"").encode(&mut wire).unwrap();
    let mut s = server(Mode::Rpc).with_verifier(SigV4Verifier::new(params(), SEED));
    let events = deliver(&mut s, &wire, 100, true);
    assert_eq!(
        events,
        [SessionEvent::Failed(ProtocolError::FrameAfterEnd.into())]
    );
}

#[test]
fn truncated_input_fails_and_an_unknown_message_type_is_rejected() {
    let mut wire = BytesMut::new();
    ev("A", b"abc").encode(&mut wire).unwrap();
    let events = deliver(&mut client(Mode::Rpc), &wire[..wire.len() - 1], 3, true);
    assert!(matches!(&events[0], SessionEvent::Failed(e) if e.kind() == "truncated"));

    let mut wire = BytesMut::new();
    Message::default()
        .with_header(":message-type", "ping")
        .encode(&mut wire)
        .unwrap();
    let events = deliver(&mut client(Mode::Rpc), &wire, 3, true);
    assert!(matches!(&events[0], SessionEvent::Failed(e) if e.kind() == "unknown_message_type"));
}

#[test]
fn a_full_queue_stops_consuming_input() {
    let mut c =
        Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding).with_max_queued_events(2));
    let mut wire = BytesMut::new();
    for _ in 0..5 {
        ev("A", b"0123456789").encode(&mut wire).unwrap();
    }
    let frame = wire.len() / 5;
    let n = c.handle_input(&wire, SigningTime::EPOCH);
    assert_eq!(n, 2 * frame, "only two frames fit in the queue");
    assert!(c.poll_event().is_some());
    let m = c.handle_input(&wire[n..], SigningTime::EPOCH);
    assert_eq!(m, frame);
    let events = deliver(&mut c, &wire[n + m..], 1000, true);
    // Two still queued, then the remaining two, then End: nothing lost or reordered.
    assert_eq!(events.len(), 5);
    assert_eq!(events[4], SessionEvent::End);
}

#[test]
fn abort_resets_and_closes() {
    let mut c = client(Mode::Rpc);
    c.send(ev("A", b""), t(0)).unwrap();
    c.abort();
    c.abort();
    assert_eq!(
        drain_transmit(&mut c),
        (
            BytesMut::new(),
            alloc::vec![Transmit::Reset(ResetCause::Aborted)]
        )
    );
    assert_eq!(c.poll_event(), Some(SessionEvent::Closed));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.send(ev("A", b""), t(0)).unwrap_err(), SendError::Aborted);
}

#[test]
fn a_server_can_answer_a_failure_with_an_error_message() {
    let config = SessionConfig::new(Role::Server, Mode::Rpc).with_failures_reported_to_peer(true);
    let mut s = Session::new(config);
    s.send(ev("Before", b"1"), t(1)).unwrap();
    let mut wire = BytesMut::new();
    ev("A", b"a").encode(&mut wire).unwrap();
    let last = wire.len() - 1;
    wire[last] ^= 1; // break the message CRC
    let events = deliver(&mut s, &wire, 100, false);
    assert!(
        matches!(&events[0], SessionEvent::Failed(e) if e.kind() == "message_checksum_mismatch")
    );
    let mut c = client(Mode::Rpc);
    let seen = pipe(&mut s, &mut c, 7);
    assert!(
        matches!(&seen[0], SessionEvent::Event(m) if m.header_str(":event-type") == Some("Before"))
    );
    assert!(
        matches!(&seen[1], SessionEvent::Error { code, .. } if &**code == "message_checksum_mismatch")
    );
    assert_eq!(seen.len(), 2);
    // Without the option, the stream is reset.
    let mut s = server(Mode::Rpc);
    let _ = deliver(&mut s, &wire, 100, false);
    assert_eq!(
        drain_transmit(&mut s).1,
        [Transmit::Reset(ResetCause::Failed)]
    );
}

#[test]
fn handle_bytes_does_not_copy_whole_frames() {
    let mut wire = BytesMut::new();
    ev("A", b"0123456789").encode(&mut wire).unwrap();
    ev("B", b"abcdefghij").encode(&mut wire).unwrap();
    let wire = wire.freeze();
    let range = wire.as_ptr() as usize..wire.as_ptr() as usize + wire.len();
    let mut c = client(Mode::HttpBinding);
    assert_eq!(c.handle_bytes(&wire, SigningTime::EPOCH), wire.len());
    for _ in 0..2 {
        match c.poll_event() {
            Some(SessionEvent::Event(m)) => {
                assert!(range.contains(&(m.payload().as_ptr() as usize)))
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn abort_after_finish_still_resets() {
    let mut c = client(Mode::Rpc);
    c.finish(t(0)).unwrap();
    let mut buf = BytesMut::new();
    assert_eq!(c.poll_transmit(&mut buf), Some(Transmit::Finish));
    c.abort();
    assert_eq!(
        c.poll_transmit(&mut buf),
        Some(Transmit::Reset(ResetCause::Aborted))
    );
    assert_eq!(c.poll_transmit(&mut buf), None);
}

#[test]
fn events_before_a_failure_can_still_be_answered() {
    let config = SessionConfig::new(Role::Server, Mode::Rpc).with_failures_reported_to_peer(true);
    let mut s = Session::new(config);
    let mut wire = BytesMut::new();
    ev("A", b"a").encode(&mut wire).unwrap();
    ev("B", b"b").encode(&mut wire).unwrap();
    assert_eq!(
        s.handle_input(&wire[..wire.len() - 3], SigningTime::EPOCH),
        wire.len() - 3
    );
    s.handle_end_of_input(SigningTime::EPOCH);
    assert_eq!(s.queued_events(), 2);
    // The application echoes what it polls; the failure applies when it is polled.
    let mut echoed = 0;
    while let Some(e) = s.poll_event() {
        if let SessionEvent::Event(m) = e {
            s.send(m, t(0)).unwrap();
            echoed += 1;
        }
    }
    assert_eq!(echoed, 1);
    assert!(s.error().is_some());
    let mut c = client(Mode::Rpc);
    let seen = pipe(&mut s, &mut c, 5);
    assert!(matches!(&seen[0], SessionEvent::Event(m) if m.header_str(":event-type") == Some("A")));
    assert!(matches!(&seen[1], SessionEvent::Error { code, .. } if &**code == "truncated"));
}

#[test]
fn a_received_exception_resets_our_open_side() {
    let mut s = server(Mode::Rpc);
    s.send_exception(ExceptionBuilder::new("Boom").build(), t(0))
        .unwrap();
    let mut c = client(Mode::Rpc);
    c.send(ev("Pending", b"x"), t(0)).unwrap();
    let _ = pipe(&mut s, &mut c, 5);
    let (wire, signals) = drain_transmit(&mut c);
    assert!(wire.is_empty(), "what was still queued is dropped");
    assert_eq!(signals, [Transmit::Reset(ResetCause::StreamOver)]);
}

#[test]
fn a_transport_reset_fails_after_the_received_events() {
    let mut c = client(Mode::Rpc);
    let mut wire = BytesMut::new();
    ev("A", b"a").encode(&mut wire).unwrap();
    assert_eq!(c.handle_input(&wire, SigningTime::EPOCH), wire.len());
    c.send(ev("Mine", b"x"), t(0)).unwrap();
    assert!(c.wants_transmit());
    c.handle_reset("RST_STREAM");
    assert!(!c.wants_transmit());
    assert!(matches!(c.poll_event(), Some(SessionEvent::Event(_))));
    assert_eq!(
        c.poll_event(),
        Some(SessionEvent::Failed(SessionError::Reset {
            reason: "RST_STREAM".into()
        }))
    );
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.poll_transmit(&mut BytesMut::new()), None);
    assert_eq!(c.send(ev("B", b""), t(0)).unwrap_err().kind(), "reset");
}

#[test]
fn an_unsigned_stream_ends_with_the_transport_alone() {
    // Sending: no end frame, only the half-close; a signed stream ends with its envelope.
    let mut c = client(Mode::HttpBinding);
    c.send(ev("A", b"a"), t(0)).unwrap();
    c.finish(t(0)).unwrap();
    let (wire, signals) = drain_transmit(&mut c);
    let mut one = BytesMut::new();
    ev("A", b"a").encode(&mut one).unwrap();
    assert_eq!(wire, one, "the event and nothing after it");
    assert_eq!(signals, [Transmit::Finish]);
    let mut signed = client(Mode::HttpBinding).with_signer(SigV4Signer::new(params(), SEED));
    signed.finish(t(0)).unwrap();
    let (end, _) = drain_transmit(&mut signed);
    assert_eq!(end.len(), 16 + 67, "the signed empty envelope");

    // Receiving: the end of input at a frame boundary is the clean end, and a message without
    // :message-type, even the empty one, is an ordinary event.
    let mut wire = BytesMut::new();
    Message::default().encode(&mut wire).unwrap();
    Message::new(&b"bare"[..]).encode(&mut wire).unwrap();
    let events = deliver(&mut server(Mode::HttpBinding), &wire, 5, true);
    assert_eq!(
        events,
        [
            SessionEvent::Event(Message::default()),
            SessionEvent::Event(Message::new(&b"bare"[..])),
            SessionEvent::End
        ]
    );
}

#[test]
fn nothing_sent_lacks_a_message_type() {
    for session in [client(Mode::HttpBinding), server(Mode::Rpc)] {
        let mut session = session;
        for bare in [Message::default(), Message::new(&b"x"[..])] {
            assert_eq!(session.send(bare, t(0)).unwrap_err().kind(), "wrong_kind");
        }
        assert_eq!(session.pending_transmit_len(), 0);
    }
    let bare_initial = Message::default().with_header(EVENT_TYPE, INITIAL_REQUEST);
    assert_eq!(
        client(Mode::Rpc)
            .send_initial_request(bare_initial, t(0))
            .unwrap_err()
            .kind(),
        "wrong_kind"
    );
    // What a session itself sends (an error report) carries one.
    let config = SessionConfig::new(Role::Server, Mode::Rpc).with_failures_reported_to_peer(true);
    let mut s = Session::new(config);
    let _ = deliver(&mut s, &[0u8; 16], 16, false);
    let (wire, _) = drain_transmit(&mut s);
    let mut d = FrameDecoder::new();
    d.handle_input(&wire);
    let report = d.poll_message().unwrap().unwrap();
    assert_eq!(report.header_str(MESSAGE_TYPE), Some("error"));
}

/// A frame whose payload is `len` bytes of `b'x'`, with an `:event-type`.
fn big(len: usize) -> Message {
    EventBuilder::new("Big")
        .payload(alloc::vec![b'x'; len])
        .build()
}

fn fails_with_payload_limit(events: &[SessionEvent], limit: u32) {
    match events {
        [SessionEvent::Failed(e)] => {
            assert_eq!(e.kind(), "payload_too_long");
            let text = alloc::string::ToString::to_string(e);
            assert!(
                text.ends_with(&alloc::format!("the limit is {limit}")),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_session_limits_govern_every_input_path() {
    let limits = Limits::default().with_max_payload_len(1024);
    let config = SessionConfig::new(Role::Server, Mode::HttpBinding).with_limits(limits);

    // Signed: the verifier unwraps the inner message within the session's limits.
    let mut c = client(Mode::HttpBinding).with_signer(SigV4Signer::new(params(), SEED));
    c.send(big(100_000), t(5)).unwrap();
    let (wire, _) = drain_transmit(&mut c);
    let mut s = Session::new(config).with_verifier(SigV4Verifier::new(params(), SEED));
    fails_with_payload_limit(&deliver(&mut s, &wire, 4096, false), 1024);

    // Unchecked: an unsigned frame passed through, and an unchecked envelope.
    let mut plain = BytesMut::new();
    big(50_000).encode(&mut plain).unwrap();
    let mut s = Session::new(config).with_verifier(crate::sign::Unchecked::default());
    fails_with_payload_limit(&deliver(&mut s, &plain, 4096, false), 1024);
    let mut s = Session::new(config).with_verifier(crate::sign::Unchecked::default());
    fails_with_payload_limit(&deliver(&mut s, &wire, 4096, false), 1024);

    // Plain.
    fails_with_payload_limit(
        &deliver(&mut Session::new(config), &plain, 4096, false),
        1024,
    );

    // Within the limit, every path delivers.
    let mut ok = BytesMut::new();
    big(1024).encode(&mut ok).unwrap();
    let mut s = Session::new(config).with_verifier(crate::sign::Unchecked::default());
    assert!(matches!(
        &deliver(&mut s, &ok, 4096, true)[..],
        [SessionEvent::Event(_), SessionEvent::End]
    ));
}

#[test]
fn an_oversized_frame_is_reported_with_the_configured_limit() {
    // Only the prelude of a frame declaring a 25 MiB payload: past the envelope limit too.
    let payload = 25 * 1024 * 1024u32;
    let total = payload + 16;
    let mut prelude = BytesMut::new();
    prelude.extend_from_slice(&total.to_be_bytes());
    prelude.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32fast::hash(&prelude);
    prelude.extend_from_slice(&crc.to_be_bytes());
    let config = SessionConfig::new(Role::Server, Mode::Rpc);
    for verifier in [false, true] {
        let s = Session::new(config);
        let mut s = if verifier {
            s.with_verifier(crate::sign::Unchecked::default())
        } else {
            s
        };
        fails_with_payload_limit(
            &deliver(&mut s, &prelude, 12, false),
            Limits::DEFAULT_MAX_PAYLOAD_LEN,
        );
    }
}

#[test]
fn a_failure_report_is_signed_at_the_time_of_the_input_that_failed() {
    let config = SessionConfig::new(Role::Server, Mode::Rpc).with_failures_reported_to_peer(true);
    let garbage = [0u8; 16];
    // The input's time, also when a command gave an earlier one.
    for command in [None, Some(800)] {
        let mut s = Session::new(config).with_signer(SigV4Signer::new(params(), SEED));
        if let Some(at) = command {
            s.send(ev("A", b"a"), t(at)).unwrap();
        }
        assert_eq!(s.handle_input(&garbage, t(900)), 16);
        assert!(matches!(s.poll_event(), Some(SessionEvent::Failed(_))));
        let (wire, signals) = drain_transmit(&mut s);
        assert_eq!(signals, [Transmit::Finish]);
        let mut v = SigV4Verifier::new(params(), SEED);
        let mut d = FrameDecoder::with_limits(Limits::DEFAULT.enveloped());
        d.handle_input(&wire);
        let mut last = None;
        while let Some(envelope) = d.poll_message().unwrap() {
            last = Some(envelope.header(":date").and_then(|d| d.as_timestamp()));
            assert!(matches!(
                v.verify(&envelope, &Limits::DEFAULT, None),
                Ok(Verified::Message(_))
            ));
        }
        assert_eq!(last, Some(Some(900_000)));
    }
}

#[test]
fn error_and_is_terminated_agree_and_a_reset_after_the_end_is_no_failure() {
    // A failure: error() is Some from the moment the Failed event is queued.
    let mut s = server(Mode::HttpBinding);
    assert_eq!(s.handle_input(&[0u8; 16], t(0)), 16);
    assert!(s.is_terminated());
    assert_eq!(
        s.error().map(SessionError::kind),
        Some("prelude_checksum_mismatch")
    );
    assert!(matches!(s.poll_event(), Some(SessionEvent::Failed(_))));
    assert!(s.error().is_some());

    // A clean end, then the transport resets: still no error, and no Failed event.
    let mut s = server(Mode::HttpBinding);
    s.handle_end_of_input(t(0));
    assert!(s.is_terminated());
    assert_eq!(s.poll_event(), Some(SessionEvent::End));
    s.handle_reset(alloc::format!("RST_STREAM({})", 8));
    assert_eq!(s.error(), None);
    assert_eq!(s.poll_event(), None);
    assert!(!s.wants_transmit());
    assert!(s.send(ev("Late", b""), t(0)).is_err());
}

#[test]
fn commands_are_values_too() {
    let mut c = client(Mode::Rpc);
    c.apply(
        Command::InitialRequest(EventBuilder::initial_request().build()),
        t(0),
    )
    .unwrap();
    c.apply(Command::Send(ev("A", b"a")), t(0)).unwrap();
    assert_eq!(
        c.apply(
            Command::Error {
                code: "X".into(),
                text: "y".into()
            },
            t(0)
        )
        .unwrap_err()
        .kind(),
        "not_allowed"
    );
    c.apply(Command::Finish, t(0)).unwrap();
    let (_, signals) = drain_transmit(&mut c);
    assert_eq!(signals, [Transmit::Finish]);
    c.apply(Command::Abort, t(0)).unwrap();
    assert_eq!(
        drain_transmit(&mut c).1,
        [Transmit::Reset(ResetCause::Aborted)]
    );
}

#[test]
fn a_verifier_set_after_input_keeps_what_was_fed() {
    let mut c = client(Mode::Rpc).with_signer(SigV4Signer::new(params(), SEED));
    c.send(ev("A", b"a"), t(5)).unwrap();
    c.finish(t(6)).unwrap();
    let (wire, _) = drain_transmit(&mut c);
    let mut s = server(Mode::Rpc);
    // The first bytes arrive before the application knows the seed.
    assert_eq!(s.handle_input(&wire[..5], t(7)), 5);
    s.set_verifier(SigV4Verifier::new(params(), SEED));
    let events = deliver(&mut s, &wire[5..], 9, true);
    assert!(matches!(&events[0], SessionEvent::Event(m) if &m.payload()[..] == b"a"));
    assert_eq!(events[1], SessionEvent::End);
}

#[test]
fn credentials_rotate_through_the_session() {
    let mut c = client(Mode::HttpBinding).with_signer(SigV4Signer::new(params(), SEED));
    c.send(ev("A", b"a"), t(5)).unwrap();
    let rotated = Credentials::new("AKID2", "other secret");
    c.signer_mut::<SigV4Signer>()
        .expect("the SigV4 signer")
        .set_credentials(rotated.clone());
    assert!(c.signer_mut::<crate::sign::Anonymous>().is_none());
    c.send(ev("B", b"b"), t(6)).unwrap();
    c.finish(t(7)).unwrap();
    let (wire, _) = drain_transmit(&mut c);
    let mut s = server(Mode::HttpBinding).with_verifier(SigV4Verifier::new(params(), SEED));
    let first = u32::from_be_bytes([wire[0], wire[1], wire[2], wire[3]]) as usize;
    let mut events = deliver(&mut s, &wire[..first], 7, false);
    // The receiving side follows the rotation once the first envelope is through.
    let v = s
        .verifier_mut::<SigV4Verifier>()
        .expect("the SigV4 verifier");
    assert_eq!(v.verified_count(), 1);
    v.set_credentials(rotated);
    events.extend(deliver(&mut s, &wire[first..], 7, true));
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[2], SessionEvent::End);
}
