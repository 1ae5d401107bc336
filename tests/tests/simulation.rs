//! Deterministic simulations of a client and a server session over in-memory links (see
//! `eventstream_tests::sim`): the mirror test, exceptions and errors, aborts, cut links, signing
//! across UTC midnight, corruption, and backpressure from a slow application.

use bytes::Bytes;
use eventstream::frame::{HeaderValue, Message};
use eventstream::session::{
    EventBuilder, ExceptionBuilder, Mode, ResetCause, Role, SendError, Session, SessionConfig,
    SessionEvent, Transmit,
};
use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams, SigningTime};
use eventstream_testkit::SplitMix64;
use eventstream_tests::sim::{
    check_abort, check_direction, check_prefix, describe, echo_initial_response, Application, Cut,
    Echo, Endpoint, Flip, FlipTarget, LinkConfig, LinkEnd, Op, PollPolicy, Script, Sim, SimConfig,
};
use eventstream_tests::{decode_all, encode};

const SEEDS: u64 = 50;

fn client(mode: Mode) -> Session {
    Session::new(SessionConfig::new(Role::Client, mode))
}

fn server(mode: Mode) -> Session {
    Session::new(SessionConfig::new(Role::Server, mode))
}

fn initial_request() -> Message {
    EventBuilder::initial_request()
        .content_type("application/json")
        .header("x-amz-target", "Transcribe.StartStream")
        .payload(&br#"{"LanguageCode":"en-US","SampleRate":16000}"#[..])
        .build()
}

/// `A`: a JSON payload.
fn event_a() -> Message {
    EventBuilder::new("A")
        .content_type("application/json")
        .payload(r#"{"seq":1,"text":"h\u00e9llo \u2603","ok":true}"#.as_bytes().to_vec())
        .build()
}

/// `B`: a binary payload with every byte value.
fn event_b() -> Message {
    EventBuilder::new("B")
        .content_type("application/octet-stream")
        .payload((0..=255u8).cycle().take(700).collect::<Vec<u8>>())
        .build()
}

/// `C`: extra headers of every type.
fn event_c() -> Message {
    EventBuilder::new("C")
        .header("flag", true)
        .header("off", false)
        .header("byte", -3i8)
        .header("short", 300i16)
        .header("int", -70_000i32)
        .header("long", 1i64 << 40)
        .header("blob", Bytes::from_static(b"\x00\x01\xfe\xff"))
        .header("name", "value \u{1F980}")
        .header("when", HeaderValue::Timestamp(1_700_000_000_123))
        .header("id", HeaderValue::Uuid(*b"0123456789abcdef"))
        .payload(&b"c"[..])
        .build()
}

/// The mirror client: the initial request at tick 0, then A, B and C, then `finish`, with random
/// gaps of 0 to 3 ticks.
fn mirror_script(seed: u64) -> Script {
    let mut rng = SplitMix64::new(seed.wrapping_mul(31).wrapping_add(1));
    let mut tick = 0;
    let mut script = Script::new().at(0, Op::InitialRequest(initial_request()));
    for op in [
        Op::Send(event_a()),
        Op::Send(event_b()),
        Op::Send(event_c()),
        Op::Finish,
    ] {
        tick += rng.below(4);
        script = script.at(tick, op);
    }
    script
}

fn all_ok(commands: &[eventstream_tests::sim::CommandRecord]) {
    for c in commands {
        assert_eq!(
            c.result,
            Ok(()),
            "{:?} at tick {} was refused",
            c.op,
            c.tick
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The mirror test
// ---------------------------------------------------------------------------------------------

#[test]
fn mirror_echoes_everything_byte_identical_for_many_seeds() {
    let mut total_ticks = 0;
    let mut short_inputs = 0;
    for seed in 0..SEEDS {
        let config = SimConfig::random(seed);
        // Every third seed, both sides hold a single event: a slow application holds the link.
        let queue = if seed % 3 == 0 { 1 } else { 32 };
        let session =
            |role| Session::new(SessionConfig::new(role, Mode::Rpc).with_max_queued_events(queue));
        let outcome = Sim::new(
            config,
            session(Role::Client),
            session(Role::Server),
            mirror_script(seed),
            Echo,
        )
        .run();
        let summary = outcome.summary();
        total_ticks += outcome.ticks;
        short_inputs += outcome.server.short_inputs + outcome.client.short_inputs;

        let expected_server = vec![
            SessionEvent::InitialRequest(initial_request()),
            SessionEvent::Event(event_a()),
            SessionEvent::Event(event_b()),
            SessionEvent::Event(event_c()),
            SessionEvent::End,
        ];
        let expected_client = vec![
            SessionEvent::InitialResponse(echo_initial_response(&initial_request())),
            SessionEvent::Event(event_a()),
            SessionEvent::Event(event_b()),
            SessionEvent::Event(event_c()),
            SessionEvent::End,
        ];
        let seen = |events: &[eventstream_tests::sim::Seen]| {
            events.iter().map(|s| s.event.clone()).collect::<Vec<_>>()
        };
        assert_eq!(seen(&outcome.server.events), expected_server, "{summary}");
        assert_eq!(seen(&outcome.client.events), expected_client, "{summary}");

        // Byte-identical: what each side received encodes to exactly what the other sent.
        let sent = [initial_request(), event_a(), event_b(), event_c()];
        check_prefix(&sent, &outcome.server.received_messages()).unwrap();
        check_prefix(
            &outcome.server.sent_messages(),
            &outcome.client.received_messages(),
        )
        .unwrap();
        let response = outcome.client.received_messages()[0].clone();
        assert_eq!(response.header_str(":event-type"), Some("initial-response"));
        assert_eq!(response.payload(), initial_request().payload());
        assert_eq!(response.headers().len(), initial_request().headers().len());

        // Every command was accepted; both sides half-closed, nobody reset.
        all_ok(&outcome.client.commands);
        all_ok(&outcome.server.commands);
        assert_eq!(outcome.client.signals.len(), 1, "{summary}");
        assert_eq!(outcome.client.signals[0].1, Transmit::Finish);
        assert_eq!(outcome.server.signals[0].1, Transmit::Finish);
        assert_eq!(outcome.to_server.end_kind(), Some(LinkEnd::Finish));
        assert_eq!(outcome.to_client.end_kind(), Some(LinkEnd::Finish));
        // The client's wire bytes are exactly the frames of what it sent: an unsigned stream
        // has no end frame, the half-close alone ends it.
        let mut wire = Vec::new();
        for m in &sent {
            wire.extend_from_slice(&encode(m));
        }
        assert_eq!(outcome.to_server.transcript(), &wire[..]);
        assert_eq!(outcome.to_server.frame_ends().len(), 4);
    }
    // The links did split and hold back: backpressure happened somewhere.
    assert!(total_ticks > SEEDS * 5);
    assert!(short_inputs > 0, "no seed made a session push back");
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let outcome = Sim::new(
            SimConfig::random(seed),
            client(Mode::Rpc),
            server(Mode::Rpc),
            mirror_script(seed),
            Echo,
        )
        .run();
        (
            outcome.summary(),
            outcome.client.events,
            outcome.server.events,
            outcome.client.poll_rounds,
            outcome.server.poll_rounds,
            outcome.ticks,
        )
    };
    for seed in [3, 17, 41] {
        assert_eq!(run(seed), run(seed));
    }
    assert_ne!(run(3).0, run(4).0, "different seeds, different runs");
}

// ---------------------------------------------------------------------------------------------
// 2. Exceptions and errors from the server
// ---------------------------------------------------------------------------------------------

/// A server that answers the initial request, echoes events, and after `after` events ends the
/// stream with `end` (an exception or an error); then tries to send once more.
#[derive(Debug)]
struct Thrower {
    after: usize,
    end: Op,
    echoed: usize,
}

impl Application for Thrower {
    fn on_event(&mut self, event: &SessionEvent, ep: &mut Endpoint<'_>) {
        match event {
            SessionEvent::InitialRequest(m) => {
                let _ = ep.send_initial_response(echo_initial_response(m));
            }
            SessionEvent::Event(m) if self.echoed < self.after => {
                let _ = ep.send(m.clone());
                self.echoed += 1;
                if self.echoed == self.after {
                    let _ = ep.apply(self.end.clone());
                    // The stream is over for the server too.
                    assert_eq!(ep.send(m.clone()), Err(SendError::Finished));
                    assert_eq!(ep.finish(), Err(SendError::Finished));
                }
            }
            _ => {}
        }
    }
}

/// A client that runs a script and, as soon as it sees the stream end with an exception or an
/// error, tries to send and to finish.
#[derive(Debug)]
struct Prober {
    script: Script,
    probed: bool,
}

impl Application for Prober {
    fn on_tick(&mut self, ep: &mut Endpoint<'_>) {
        self.script.on_tick(ep);
    }

    fn on_event(&mut self, event: &SessionEvent, ep: &mut Endpoint<'_>) {
        if matches!(
            event,
            SessionEvent::Exception { .. } | SessionEvent::Error { .. }
        ) {
            self.probed = true;
            assert_eq!(ep.send(event_a()), Err(SendError::StreamOver));
            assert_eq!(ep.finish(), Err(SendError::StreamOver));
        }
    }

    fn is_done(&self) -> bool {
        self.script.is_done()
    }
}

fn events_script(mode: Mode, count: usize, late_sends_from: u64) -> Script {
    let mut script = Script::new();
    if mode == Mode::Rpc {
        script = script.at(0, Op::InitialRequest(initial_request()));
    }
    for i in 0..count {
        script = script.at(i as u64, Op::Send(numbered(i)));
    }
    // Long after the stream is over: refused.
    script
        .at(late_sends_from, Op::Send(event_b()))
        .at(late_sends_from + 1, Op::Finish)
}

fn numbered(i: usize) -> Message {
    EventBuilder::new(format!("E{i}"))
        .header("seq", i as i64)
        .payload(format!("payload number {i} {}", "x".repeat(i * 37)).into_bytes())
        .build()
}

#[test]
fn an_exception_from_the_server_is_terminal_for_the_client() {
    for seed in 0..20 {
        let exception = ExceptionBuilder::new("ThrottlingException")
            .content_type("application/json")
            .payload(&br#"{"message":"slow down"}"#[..])
            .build();
        let outcome = Sim::new(
            SimConfig::random(seed),
            client(Mode::Rpc),
            server(Mode::Rpc),
            Prober {
                script: events_script(Mode::Rpc, 5, 300),
                probed: false,
            },
            Thrower {
                after: 2,
                end: Op::Exception(exception.clone()),
                echoed: 0,
            },
        )
        .run();
        let summary = outcome.summary();
        assert!(outcome.client_app.probed, "{summary}");
        // The client: the initial response, the two echoes, the exception, nothing else.
        assert_eq!(
            outcome.client.event_summary(),
            "InitialResponse Event(E0) Event(E1) Exception(ThrottlingException)",
            "{summary}"
        );
        assert!(matches!(
            outcome.client.terminal(),
            Some(SessionEvent::Exception { exception_type, message })
                if &**exception_type == "ThrottlingException" && *message == exception
        ));
        check_direction(&outcome.server, &outcome.client, &outcome.to_client, false).unwrap();
        // Its late commands were refused because the stream is over; its open side was reset
        // (the exception ended the stream for both sides).
        let late: Vec<_> = outcome
            .client
            .commands
            .iter()
            .filter(|c| c.tick >= 300)
            .collect();
        assert_eq!(late.len(), 2);
        assert!(late.iter().all(|c| c.result == Err(SendError::StreamOver)));
        assert_eq!(outcome.client.signals.len(), 1, "{summary}");
        assert_eq!(
            outcome.client.signals[0].1,
            Transmit::Reset(ResetCause::StreamOver),
            "{summary}"
        );
        // The server: it closed the stream itself, then half-closed; what it received after the
        // exception is discarded (Closed is its last event).
        assert_eq!(outcome.server.terminal(), Some(&SessionEvent::Closed));
        outcome.server.check_one_terminal_last().unwrap();
        check_prefix(
            &outcome.client.sent_messages(),
            &outcome.server.received_messages(),
        )
        .unwrap();
        assert_eq!(
            outcome
                .server
                .signals
                .iter()
                .map(|s| s.1)
                .collect::<Vec<_>>(),
            [Transmit::Finish]
        );
        assert_eq!(outcome.to_client.end_kind(), Some(LinkEnd::Finish));
    }
}

#[test]
fn an_error_from_the_server_is_terminal_for_the_client() {
    for seed in 100..120 {
        let outcome = Sim::new(
            SimConfig::random(seed),
            client(Mode::HttpBinding),
            server(Mode::HttpBinding),
            Prober {
                script: events_script(Mode::HttpBinding, 4, 300),
                probed: false,
            },
            Thrower {
                after: 1,
                end: Op::Error {
                    code: "InternalFailure".into(),
                    text: "boom".into(),
                },
                echoed: 0,
            },
        )
        .run();
        let summary = outcome.summary();
        assert!(outcome.client_app.probed, "{summary}");
        assert_eq!(
            outcome.client.event_summary(),
            "Event(E0) Error(InternalFailure)",
            "{summary}"
        );
        assert!(matches!(
            outcome.client.terminal(),
            Some(SessionEvent::Error { code, text, .. }) if &**code == "InternalFailure" && &**text == "boom"
        ));
        check_direction(&outcome.server, &outcome.client, &outcome.to_client, false).unwrap();
        assert_eq!(outcome.server.terminal(), Some(&SessionEvent::Closed));
        let late: Vec<_> = outcome
            .client
            .commands
            .iter()
            .filter(|c| c.tick >= 300)
            .collect();
        assert!(late.iter().all(|c| c.result == Err(SendError::StreamOver)));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Abort in the middle
// ---------------------------------------------------------------------------------------------

#[test]
fn a_client_abort_in_the_middle_cuts_the_server_off_and_closes_the_client() {
    let (mut ends, mut truncations) = (0, 0);
    for seed in 0..SEEDS {
        let mut rng = SplitMix64::new(seed);
        let abort_at = rng.between(2, 6);
        let mut script = Script::new().at(0, Op::InitialRequest(initial_request()));
        for i in 0..8 {
            script = script.at(i, Op::Send(numbered(i as usize)));
        }
        let script = script.at(abort_at, Op::Abort).at(9, Op::Finish);
        let config = SimConfig::random(seed).with_to_server(
            LinkConfig::new()
                .with_max_chunk(rng.between(1, 64) as usize)
                .with_max_delay(rng.between(1, 6)),
        );
        let outcome = Sim::new(config, client(Mode::Rpc), server(Mode::Rpc), script, Echo).run();
        let summary = outcome.summary();

        // The client: Closed, last; a Reset, no Finish; nothing accepted after the abort.
        assert_eq!(
            outcome.client.terminal(),
            Some(&SessionEvent::Closed),
            "{summary}"
        );
        check_abort(&outcome.client).unwrap();
        assert_eq!(
            outcome
                .client
                .signals
                .iter()
                .map(|s| s.1)
                .collect::<Vec<_>>(),
            [Transmit::Reset(ResetCause::Aborted)]
        );
        let after: Vec<_> = outcome
            .client
            .commands
            .iter()
            .filter(|c| c.tick > abort_at)
            .collect();
        assert!(!after.is_empty());
        assert!(
            after.iter().all(|c| c.result == Err(SendError::Aborted)),
            "{summary}"
        );
        // What the client saw is a prefix of what the server echoed.
        check_prefix(
            &outcome.server.sent_messages(),
            &outcome.client.received_messages(),
        )
        .unwrap();

        // The server: the link was reset; it got the messages of the frames delivered before the
        // reset, nothing after, then End or Failed(truncated) as the reset fell.
        assert_eq!(
            outcome.to_server.end_kind(),
            Some(LinkEnd::Reset),
            "{summary}"
        );
        check_direction(&outcome.client, &outcome.server, &outcome.to_server, false).unwrap();
        let sent_before_abort = outcome
            .client
            .commands
            .iter()
            .filter(|c| c.tick <= abort_at && c.op != Op::Abort && c.result.is_ok())
            .count();
        assert!(outcome.server.received_messages().len() <= sent_before_abort);
        assert_eq!(
            outcome.to_server.delivered(),
            outcome.to_server.cut_at().unwrap()
        );
        match outcome.server.terminal() {
            Some(SessionEvent::End) => ends += 1,
            Some(SessionEvent::Failed(e)) if e.kind() == "truncated" => truncations += 1,
            other => panic!("server ended with {other:?}\n{summary}"),
        }
    }
    // Both ways a reset can fall were exercised.
    assert!(
        ends > 0 && truncations > 0,
        "{ends} ends, {truncations} truncations"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. The link cut mid-frame
// ---------------------------------------------------------------------------------------------

#[test]
fn a_link_cut_mid_frame_fails_the_receiver_after_every_complete_event() {
    let sent = [initial_request(), event_a(), event_b(), event_c()];
    let lens: Vec<u64> = sent.iter().map(|m| encode(m).len() as u64).collect();
    for seed in 0..SEEDS {
        // Somewhere strictly inside frame 2 (event B): after the initial request and A.
        let mut rng = SplitMix64::new(seed);
        let cut = lens[0] + lens[1] + rng.between(1, lens[2] - 1);
        let config = SimConfig::random(seed)
            .with_to_server(LinkConfig::random(&mut rng).with_cut(Cut::AtByte(cut)));
        let outcome = Sim::new(
            config,
            client(Mode::Rpc),
            server(Mode::Rpc),
            mirror_script(seed),
            Echo,
        )
        .run();
        let summary = outcome.summary();
        assert_eq!(outcome.to_server.cut_at(), Some(cut));
        assert_eq!(outcome.to_server.end_kind(), Some(LinkEnd::Cut));
        assert_eq!(outcome.to_server.delivered(), cut);
        // The server: the initial request and A, once each, in order; then truncated.
        assert_eq!(
            outcome.server.event_summary(),
            "InitialRequest Event(A) Failed(truncated)",
            "{summary}"
        );
        check_prefix(&sent, &outcome.server.received_messages()).unwrap();
        check_direction(&outcome.client, &outcome.server, &outcome.to_server, false).unwrap();
        // The failed server resets its side: the client gets a prefix of the echoes, then End or
        // Failed(truncated) depending on where the reset fell.
        assert!(outcome
            .server
            .signals
            .iter()
            .any(|s| matches!(s.1, Transmit::Reset(_))));
        check_direction(&outcome.server, &outcome.client, &outcome.to_client, false).unwrap();
    }
}

#[test]
fn a_link_cut_at_a_tick_delivers_a_prefix_once_and_in_order() {
    let (mut ends, mut truncations) = (0, 0);
    for seed in 0..SEEDS {
        let mut rng = SplitMix64::new(seed + 1000);
        let mut script = Script::new().at(0, Op::InitialRequest(initial_request()));
        for i in 0..10 {
            script = script.at(i, Op::Send(numbered(i as usize)));
        }
        let script = script.at(10, Op::Finish);
        // Cut the server's answers short.
        let to_client = LinkConfig::random(&mut rng).with_cut(Cut::AtTick(rng.between(2, 14)));
        let config = SimConfig::random(seed).with_to_client(to_client);
        let outcome = Sim::new(config, client(Mode::Rpc), server(Mode::Rpc), script, Echo).run();
        let summary = outcome.summary();
        check_direction(&outcome.client, &outcome.server, &outcome.to_server, false).unwrap();
        check_direction(&outcome.server, &outcome.client, &outcome.to_client, false).unwrap();
        if outcome.to_client.end_kind() == Some(LinkEnd::Cut) {
            match outcome.client.terminal() {
                Some(SessionEvent::End) => ends += 1,
                Some(SessionEvent::Failed(e)) if e.kind() == "truncated" => truncations += 1,
                other => panic!("client ended with {other:?}\n{summary}"),
            }
        }
    }
    assert!(truncations > 0, "{ends} ends, {truncations} truncations");
}

// ---------------------------------------------------------------------------------------------
// 5. Signing, verified by the server, on the virtual clock
// ---------------------------------------------------------------------------------------------

const SEED_SIGNATURE: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

fn params() -> SigningParams {
    SigningParams::new(
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        "transcribe",
    )
}

fn signing_client() -> Session {
    client(Mode::Rpc).with_signer(SigV4Signer::new(params(), SEED_SIGNATURE))
}

fn verifying_server(max_skew: Option<u64>) -> Session {
    let verifier = SigV4Verifier::new(params(), SEED_SIGNATURE);
    let verifier = match max_skew {
        Some(s) => verifier.with_max_clock_skew(s),
        None => verifier,
    };
    server(Mode::Rpc).with_verifier(verifier)
}

/// The scope dates (`YYYYMMDD`) of the `:date`s of the envelopes in a signed stream.
fn envelope_dates(wire: &[u8]) -> Vec<String> {
    let decoded = decode_all(wire);
    assert!(decoded.is_clean());
    decoded
        .messages
        .iter()
        .map(|m| {
            let ms = m
                .header(":date")
                .and_then(HeaderValue::as_timestamp)
                .unwrap();
            SigningTime::from_unix_millis(ms)
                .unwrap()
                .scope_date()
                .to_owned()
        })
        .collect()
}

/// 2024-03-01T00:00:00Z: the day after a leap day.
const MIDNIGHT: i64 = 1_709_251_200;

#[test]
fn a_signed_stream_verified_by_the_server_crosses_utc_midnight() {
    for seed in 0..20 {
        // Tick 0 is 23:59:52 on 29 February; the client sends once every two or three ticks.
        let mut rng = SplitMix64::new(seed);
        let mut tick = 0;
        let mut script = Script::new().at(0, Op::InitialRequest(initial_request()));
        for i in 0..6 {
            tick += rng.between(2, 3);
            script = script.at(tick, Op::Send(numbered(i)));
        }
        let script = script.at(tick + 1, Op::Finish);
        let config = SimConfig::random(seed).with_clock(MIDNIGHT - 8, 1);
        let outcome = Sim::new(
            config,
            signing_client(),
            verifying_server(Some(60)),
            script,
            Echo,
        )
        .run();
        let summary = outcome.summary();
        let expected: Vec<Message> = std::iter::once(initial_request())
            .chain((0..6).map(numbered))
            .collect();
        assert_eq!(
            outcome.server.terminal(),
            Some(&SessionEvent::End),
            "{summary}"
        );
        check_prefix(&expected, &outcome.server.received_messages()).unwrap();
        assert_eq!(outcome.server.received_messages().len(), expected.len());
        check_direction(&outcome.client, &outcome.server, &outcome.to_server, true).unwrap();
        check_direction(&outcome.server, &outcome.client, &outcome.to_client, false).unwrap();
        assert_eq!(outcome.client.terminal(), Some(&SessionEvent::End));
        // The chain switched signing days on the way: both dates appear, in order, and the last
        // envelope is the (signed, empty) end frame.
        let dates = envelope_dates(outcome.to_server.transcript());
        assert_eq!(dates.len(), expected.len() + 1);
        assert_eq!(dates.first().unwrap(), "20240229", "{dates:?}");
        assert_eq!(dates.last().unwrap(), "20240301", "{dates:?}");
        assert!(dates.windows(2).all(|w| w[0] <= w[1]));
    }
}

#[test]
fn a_signed_stream_spanning_days_verifies_without_a_skew_check() {
    for seed in 0..5 {
        // An hour a tick: the stream spans a few days.
        let config = SimConfig::random(seed).with_clock(MIDNIGHT - 3 * 3600, 3600);
        let mut script = Script::new().at(0, Op::InitialRequest(initial_request()));
        for i in 0..5u64 {
            script = script.at(i * 20, Op::Send(numbered(i as usize)));
        }
        let script = script.at(100, Op::Finish);
        let outcome = Sim::new(
            config,
            signing_client(),
            verifying_server(None),
            script,
            Echo,
        )
        .run();
        check_direction(&outcome.client, &outcome.server, &outcome.to_server, true).unwrap();
        assert_eq!(outcome.server.terminal(), Some(&SessionEvent::End));
        let mut days = envelope_dates(outcome.to_server.transcript());
        days.dedup();
        assert!(days.len() >= 4, "{days:?}");
    }
}

#[test]
fn envelopes_that_arrive_later_than_the_allowed_skew_fail_the_server() {
    // Ten minutes a tick, every chunk delayed at least a tick, five minutes of skew allowed.
    let config = SimConfig::new(1)
        .with_clock(MIDNIGHT, 600)
        .with_to_server(LinkConfig::new().with_max_delay(1));
    let script = Script::new()
        .at(0, Op::InitialRequest(initial_request()))
        .at(1, Op::Finish);
    let outcome = Sim::new(
        config,
        signing_client(),
        verifying_server(Some(300)),
        script,
        Echo,
    )
    .run();
    assert_eq!(
        outcome.server.failed_kind(),
        Some("signature_expired"),
        "{}",
        outcome.summary()
    );
    assert!(outcome.server.received_messages().is_empty());
}

/// Flips the middle byte of the payload of envelope 2 (event A's): the server must fail, and it
/// must have delivered the initial request and event 0, and nothing else.
fn corrupted_run(seed: u64, fix_crc: bool) -> (String, Option<&'static str>, Vec<Message>) {
    let script = Script::new()
        .at(0, Op::InitialRequest(initial_request()))
        .at(1, Op::Send(numbered(0)))
        .at(2, Op::Send(event_a()))
        .at(3, Op::Send(event_b()))
        .at(4, Op::Finish);
    let mut rng = SplitMix64::new(seed);
    let flip = Flip {
        target: FlipTarget::PayloadOf { frame: 2 },
        mask: 1 << rng.below(8),
        fix_crc,
    };
    let config =
        SimConfig::random(seed).with_to_server(LinkConfig::random(&mut rng).with_flip(flip));
    let outcome = Sim::new(
        config,
        signing_client(),
        verifying_server(Some(60)),
        script,
        Echo,
    )
    .run();
    let summary = outcome.summary();
    assert!(outcome.to_server.flipped_at().is_some(), "{summary}");
    outcome.server.check_one_terminal_last().unwrap();
    outcome.client.check_one_terminal_last().unwrap();
    // The failed server resets; the client sees a prefix of the echoes.
    check_direction(&outcome.server, &outcome.client, &outcome.to_client, false).unwrap();
    (
        summary,
        outcome.server.failed_kind(),
        outcome
            .server
            .received_messages()
            .into_iter()
            .cloned()
            .collect(),
    )
}

#[test]
fn a_flipped_payload_byte_fails_the_server_after_a_correct_prefix() {
    let prefix = [initial_request(), numbered(0)];
    for seed in 0..20 {
        // Nothing fixed up: the frame's CRC catches it.
        let (summary, kind, received) = corrupted_run(seed, false);
        assert_eq!(kind, Some("message_checksum_mismatch"), "{summary}");
        assert_eq!(received, prefix, "{summary}");
        // The CRC fixed up: the signature catches it.
        let (summary, kind, received) = corrupted_run(seed, true);
        assert_eq!(kind, Some("signature_mismatch"), "{summary}");
        assert_eq!(received, prefix, "{summary}");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Backpressure with a slow application
// ---------------------------------------------------------------------------------------------

fn burst_script(count: usize) -> Script {
    let mut script = Script::new().at(0, Op::InitialRequest(initial_request()));
    for i in 0..count {
        script = script.at(0, Op::Send(numbered(i)));
    }
    script.at(1, Op::Finish)
}

fn slow_server() -> Session {
    Session::new(SessionConfig::new(Role::Server, Mode::Rpc).with_max_queued_events(2))
}

#[test]
fn a_slow_server_holds_at_most_two_events_and_loses_nothing() {
    const COUNT: usize = 12;
    let expected: Vec<Message> = std::iter::once(initial_request())
        .chain((0..COUNT).map(numbered))
        .collect();
    for seed in 0..20 {
        let mut rng = SplitMix64::new(seed);
        let config = SimConfig::random(seed)
            .with_to_server(
                LinkConfig::new()
                    .with_max_chunk(rng.between(64, 4096) as usize)
                    .with_max_delay(rng.between(1, 2)),
            )
            .with_server_poll(PollPolicy::PerTick(1));
        let outcome = Sim::new(
            config,
            client(Mode::Rpc),
            slow_server(),
            burst_script(COUNT),
            Echo,
        )
        .run();
        let summary = outcome.summary();
        let s = &outcome.server;
        // Never more than two events held: frames consumed but not yet polled.
        assert!(s.max_unpolled_frames <= 2, "{summary}");
        assert_eq!(s.max_unpolled_frames, 2, "the queue did fill up\n{summary}");
        // The session refused input at some point: the rest stayed in the link.
        assert!(s.short_inputs > 0, "{summary}");
        // One event a tick.
        assert!(s.poll_rounds.iter().all(|&n| n == 1), "{summary}");
        // Everything arrived, once, in order, then End; and the echo made it back.
        check_prefix(&expected, &s.received_messages()).unwrap();
        assert_eq!(s.received_messages().len(), expected.len());
        assert_eq!(s.terminal(), Some(&SessionEvent::End));
        check_direction(&outcome.client, &outcome.server, &outcome.to_server, false).unwrap();
        check_direction(&outcome.server, &outcome.client, &outcome.to_client, false).unwrap();
        assert_eq!(outcome.client.received_messages().len(), expected.len());
        // Slow by construction: at least one tick an event.
        assert!(outcome.ticks as usize > expected.len());
    }
}

#[test]
fn a_bursty_server_never_gets_more_than_its_queue_in_one_round() {
    const COUNT: usize = 12;
    for seed in 0..20 {
        let config = SimConfig::random(seed)
            .with_to_server(LinkConfig::new().with_max_chunk(4096).with_max_delay(1))
            .with_server_poll(PollPolicy::Every(5));
        let outcome = Sim::new(
            config,
            client(Mode::Rpc),
            slow_server(),
            burst_script(COUNT),
            Echo,
        )
        .run();
        let summary = outcome.summary();
        let s = &outcome.server;
        assert!(s.max_unpolled_frames <= 2, "{summary}");
        assert!(s.short_inputs > 0, "{summary}");
        // A round between two feeds yields what the queue held: at most two events, plus the
        // terminal event in the last round.
        let (last, rounds) = s.poll_rounds.split_last().unwrap();
        assert!(
            rounds.iter().all(|&n| n <= 2),
            "{:?}\n{summary}",
            s.poll_rounds
        );
        assert!(*last <= 3);
        assert_eq!(s.received_messages().len(), COUNT + 1);
        check_direction(&outcome.client, &outcome.server, &outcome.to_server, false).unwrap();
        assert_eq!(
            describe(s.terminal().unwrap()),
            "End",
            "{}",
            outcome.summary()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Failures reported to the peer, and aborting after finishing
// ---------------------------------------------------------------------------------------------

#[test]
fn a_server_that_reports_failures_answers_a_cut_with_an_error_message() {
    let sent = [initial_request(), event_a(), event_b(), event_c()];
    let lens: Vec<u64> = sent.iter().map(|m| encode(m).len() as u64).collect();
    for seed in 0..20 {
        let mut rng = SplitMix64::new(seed);
        // Inside frame 3 (event C): the initial request, A and B get through.
        let cut = lens[0] + lens[1] + lens[2] + rng.between(1, lens[3] - 1);
        let config = SimConfig::random(seed)
            .with_to_server(LinkConfig::random(&mut rng).with_cut(Cut::AtByte(cut)));
        let reporting = Session::new(
            SessionConfig::new(Role::Server, Mode::Rpc).with_failures_reported_to_peer(true),
        );
        let outcome = Sim::new(
            config,
            client(Mode::Rpc),
            reporting,
            mirror_script(seed),
            Echo,
        )
        .run();
        let summary = outcome.summary();
        assert_eq!(
            outcome.server.event_summary(),
            "InitialRequest Event(A) Event(B) Failed(truncated)",
            "{summary}"
        );
        // Instead of a reset: the echoes, one error message naming the failure, a half-close.
        assert_eq!(
            outcome
                .server
                .signals
                .iter()
                .map(|s| s.1)
                .collect::<Vec<_>>(),
            [Transmit::Finish],
            "{summary}"
        );
        // The client gets every echo the server managed to send, then the error. (The server
        // fails as soon as its input ends inside a frame, before its application has polled the
        // events queued ahead of `Failed`: echoes it attempts after that are refused with
        // `SendError::Failed`, so how many echoes go out depends on timing.)
        let echoed = outcome.server.sent_messages();
        assert!(echoed.len() <= 3, "{summary}");
        let expected_echoes = [
            echo_initial_response(&initial_request()),
            event_a(),
            event_b(),
        ];
        check_prefix(&expected_echoes, &echoed).unwrap();
        assert_eq!(
            outcome.client.received_messages().len(),
            echoed.len(),
            "{summary}"
        );
        check_prefix(&echoed, &outcome.client.received_messages()).unwrap();
        outcome.client.check_one_terminal_last().unwrap();
        match outcome.client.terminal() {
            Some(SessionEvent::Error { code, text, .. }) => {
                assert_eq!(&**code, "truncated");
                assert!(!text.is_empty());
            }
            other => panic!("client ended with {other:?}\n{summary}"),
        }
        for c in &outcome.server.commands {
            if let Err(e) = &c.result {
                assert_eq!(e.kind(), "truncated", "{summary}");
                assert!(c.terminated_before, "{summary}");
            }
        }
    }
}

/// A server that streams one event a tick for `count` ticks, then finishes, whatever it hears.
#[derive(Debug)]
struct Streamer {
    count: u64,
}

impl Application for Streamer {
    fn on_tick(&mut self, ep: &mut Endpoint<'_>) {
        let tick = ep.tick();
        if tick < self.count {
            let _ = ep.send(numbered(tick as usize));
        } else if tick == self.count {
            let _ = ep.finish();
        }
    }

    fn is_done(&self) -> bool {
        true
    }
}

// A client that finished its request and then aborts (a user cancelling a long response) still
// asks its transport to reset the stream, so the server stops streaming into a dead session.
#[test]
fn aborting_after_finishing_still_resets_the_stream() {
    for seed in 0..5 {
        let script = Script::new()
            .at(0, Op::InitialRequest(initial_request()))
            .at(1, Op::Finish)
            .at(6, Op::Abort);
        let outcome = Sim::new(
            SimConfig::new(seed),
            client(Mode::Rpc),
            server(Mode::Rpc),
            script,
            Streamer { count: 30 },
        )
        .run();
        let summary = outcome.summary();
        // The abort came long before the server's end: Closed is the client's terminal event.
        assert_eq!(
            outcome.client.terminal(),
            Some(&SessionEvent::Closed),
            "{summary}"
        );
        check_abort(&outcome.client).unwrap();
        assert_eq!(
            outcome
                .client
                .signals
                .iter()
                .map(|s| s.1)
                .collect::<Vec<_>>(),
            [Transmit::Finish, Transmit::Reset(ResetCause::Aborted)],
            "the abort must reach the transport\n{summary}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The hang guard
// ---------------------------------------------------------------------------------------------

#[test]
fn the_hang_guard_stops_a_run_that_cannot_end() {
    // The server never finishes, so the client never sees a terminal event.
    let script = Script::new().at(0, Op::Send(event_a())).at(1, Op::Finish);
    let hang = Sim::new(
        SimConfig::new(1).with_max_ticks(200),
        client(Mode::HttpBinding),
        server(Mode::HttpBinding),
        script,
        eventstream_tests::sim::Idle,
    )
    .try_run()
    .unwrap_err();
    assert_eq!(hang.tick, 200);
    let message = hang.to_string();
    assert!(
        message.contains("not finished after 200 ticks"),
        "{message}"
    );
    assert!(message.contains("Server: saw [Event(A) End]"), "{message}");
    assert!(message.contains("Client: saw []"), "{message}");
}
