//! Properties of whole sessions, checked by deterministic simulation (`eventstream_tests::sim`)
//! over random client commands (an optional initial request, events built from the shared
//! message strategy, `finish`, an `abort` anywhere) and random link behaviour (split sizes,
//! delays, an optional cut in either direction, slow applications, small event queues, signing).
//!
//! The server is the mirror (as [`Echo`](eventstream_tests::sim::Echo)): it answers the initial
//! request and sends every event back, and finishes when the client's side ends; in some runs it
//! ends the stream with an exception or an error after a few events instead. Both modes (RPC and
//! HTTP binding) are used. Invariants, in both directions:
//!
//! - every message sent before the sender's `finish` (and before an abort, a reset or a cut) that
//!   the link delivered whole arrives exactly once, in order, byte-identical, and nothing else;
//! - each side's application sees exactly one terminal event, and it is the last;
//! - the terminal event is the right one: `End` after a finish that got through, `End` or
//!   `Failed(truncated)` after a reset or a cut depending on whether it fell between frames or
//!   inside one (with a verifier, `Failed(missing_end_frame)` when the signed end frame was lost),
//!   `Closed` for the side that aborted; the server's exception or error for the client when the
//!   server threw and the frame got through, and `Closed` for the server;
//! - nothing is accepted after an abort, and no run hangs.

use eventstream::frame::{Header, Limits, Message};
use eventstream::session::{
    ExceptionBuilder, Mode, Role, Session, SessionConfig, SessionEvent, Transmit, EVENT_TYPE,
    MESSAGE_TYPE,
};
use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
use eventstream_tests::message;
use eventstream_tests::sim::{
    check_abort, check_direction, Application, Cut, Echo, Endpoint, LinkConfig, LinkEnd, Op,
    PollPolicy, Script, Sim, SimConfig,
};
use proptest::prelude::*;

/// `m`'s headers and payload as an event of type `event_type`: `:message-type` and `:event-type`
/// first, the other headers after (without any `:message-type` or `:event-type` of their own),
/// trimmed so that the header block leaves room to spare under the default limit.
fn as_event(m: Message, event_type: &str) -> Message {
    let (headers, payload) = m.into_parts();
    let mut all = vec![
        Header::new(MESSAGE_TYPE, "event"),
        Header::new(EVENT_TYPE, event_type),
    ];
    all.extend(
        headers
            .into_iter()
            .filter(|h| h.name() != MESSAGE_TYPE && h.name() != EVENT_TYPE),
    );
    let budget = Limits::DEFAULT.max_headers_len() as usize - 64;
    let mut msg = Message::from_parts(all, payload);
    while msg.headers_len() > budget {
        msg.headers_mut().pop();
    }
    msg
}

fn event() -> impl Strategy<Value = Message> {
    (message(), "[A-Z][A-Za-z0-9]{0,11}").prop_map(|(m, ty)| as_event(m, &ty))
}

fn initial_request() -> impl Strategy<Value = Message> {
    message().prop_map(|m| as_event(m, "initial-request"))
}

/// The mirror server, which may end the stream after `throw.0` received messages with `throw.1`
/// (an exception or an error) instead of echoing on.
#[derive(Clone, Debug, Default)]
struct Mirror {
    throw: Option<(usize, Op)>,
    received: usize,
}

impl Application for Mirror {
    fn on_event(&mut self, event: &SessionEvent, ep: &mut Endpoint<'_>) {
        Echo.on_event(event, ep);
        if matches!(
            event,
            SessionEvent::InitialRequest(_) | SessionEvent::Event(_)
        ) {
            self.received += 1;
            if let Some((after, op)) = &self.throw {
                if *after == self.received {
                    let _ = ep.apply(op.clone());
                }
            }
        }
    }
}

fn throw() -> impl Strategy<Value = Option<(usize, Op)>> {
    let op = prop_oneof![
        (message(), "[A-Z][A-Za-z]{0,20}Exception").prop_map(|(m, ty)| {
            Op::Exception(
                ExceptionBuilder::new(ty)
                    .payload(m.payload().clone())
                    .build(),
            )
        }),
        ("[A-Z][A-Za-z]{0,20}", ".{0,40}").prop_map(|(code, text)| Op::Error { code, text }),
    ];
    proptest::option::weighted(0.25, (1..=5usize, op))
}

/// Where a link breaks: at a fraction (per mille) of the client's stream, or at a tick.
#[derive(Clone, Copy, Debug)]
enum CutPlan {
    PerMille(u64),
    Tick(u64),
}

fn cut_plan() -> impl Strategy<Value = Option<CutPlan>> {
    prop_oneof![
        2 => Just(None),
        1 => (0..=1000u64).prop_map(|p| Some(CutPlan::PerMille(p))),
        1 => (1..=40u64).prop_map(|t| Some(CutPlan::Tick(t))),
    ]
}

fn link() -> impl Strategy<Value = LinkConfig> {
    let chunk = prop_oneof![1..=8usize, 9..=300usize, Just(1 << 16)];
    (chunk, 1..=6u64).prop_map(|(max_chunk, max_delay)| {
        LinkConfig::new()
            .with_max_chunk(max_chunk)
            .with_max_delay(max_delay)
    })
}

fn poll() -> impl Strategy<Value = PollPolicy> {
    prop_oneof![
        2 => Just(PollPolicy::Eager),
        1 => (1..=3usize).prop_map(PollPolicy::PerTick),
        1 => (2..=4u64).prop_map(PollPolicy::Every),
    ]
}

/// One run: the client's commands and everything random about the run (`signed`: both directions
/// signed and verified).
#[derive(Clone, Debug)]
struct Plan {
    initial: Option<Message>,
    events: Vec<Message>,
    /// Ticks between consecutive commands.
    gaps: Vec<u64>,
    /// Where `abort` goes among the commands, if anywhere (after the last one: after `finish`).
    abort_at: Option<usize>,
    signed: bool,
    mode: Mode,
    throw: Option<(usize, Op)>,
    seed: u64,
    to_server: LinkConfig,
    to_client: LinkConfig,
    to_server_cut: Option<CutPlan>,
    to_client_cut: Option<CutPlan>,
    client_poll: PollPolicy,
    server_poll: PollPolicy,
    server_queue: usize,
    client_queue: usize,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        (
            proptest::option::weighted(0.7, initial_request()),
            proptest::collection::vec(event(), 0..=6),
            proptest::collection::vec(0..=3u64, 9),
            proptest::option::weighted(0.3, 0..=8usize),
            proptest::bool::weighted(0.25),
            any::<u64>(),
        ),
        (link(), link(), cut_plan(), cut_plan()),
        (
            poll(),
            poll(),
            1..=4usize,
            1..=4usize,
            any::<bool>(),
            throw(),
        ),
    )
        .prop_map(
            |(
                (initial, events, gaps, abort_at, signed, seed),
                (to_server, to_client, to_server_cut, to_client_cut),
                (client_poll, server_poll, server_queue, client_queue, http, throw),
            )| Plan {
                // HTTP-binding mode has no initial messages.
                initial: if http { None } else { initial },
                events,
                gaps,
                abort_at,
                signed,
                mode: if http { Mode::HttpBinding } else { Mode::Rpc },
                throw,
                seed,
                to_server,
                to_client,
                to_server_cut,
                to_client_cut,
                client_poll,
                server_poll,
                server_queue,
                client_queue,
            },
        )
}

const SEED_SIGNATURE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const RESPONSE_SEED: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

fn params() -> SigningParams {
    SigningParams::new(Credentials::new("AKID", "secret"), "eu-west-1", "kinesis")
}

impl Plan {
    fn ops(&self) -> Vec<Op> {
        let mut ops: Vec<Op> = self
            .initial
            .iter()
            .cloned()
            .map(Op::InitialRequest)
            .collect();
        ops.extend(self.events.iter().cloned().map(Op::Send));
        ops.push(Op::Finish);
        if let Some(at) = self.abort_at {
            ops.insert(at.min(ops.len()), Op::Abort);
        }
        ops
    }

    fn script(&self) -> Script {
        let mut tick = 0;
        let mut script = Script::new();
        for (i, op) in self.ops().into_iter().enumerate() {
            tick += self.gaps[i % self.gaps.len()];
            script = script.at(tick, op);
        }
        script
    }

    /// Roughly how long the client's stream is (signed envelopes add about 100 bytes a frame).
    fn stream_len(&self) -> u64 {
        let per_frame = if self.signed { 100 } else { 0 };
        self.ops()
            .iter()
            .filter_map(Op::message)
            .map(|m| (m.encoded_len() + per_frame) as u64)
            .sum::<u64>()
            + 16
            + per_frame as u64
    }

    fn link(&self, config: LinkConfig, cut: Option<CutPlan>) -> LinkConfig {
        match cut {
            None => config,
            Some(CutPlan::Tick(t)) => config.with_cut(Cut::AtTick(t)),
            Some(CutPlan::PerMille(p)) => {
                config.with_cut(Cut::AtByte(self.stream_len() * p / 1000))
            }
        }
    }

    fn sim(&self) -> Sim<Script, Mirror> {
        let config = SimConfig::new(self.seed)
            .with_max_ticks(5_000)
            .with_to_server(self.link(self.to_server, self.to_server_cut))
            .with_to_client(self.link(self.to_client, self.to_client_cut))
            .with_client_poll(self.client_poll)
            .with_server_poll(self.server_poll);
        let mut client = Session::new(
            SessionConfig::new(Role::Client, self.mode).with_max_queued_events(self.client_queue),
        );
        let mut server = Session::new(
            SessionConfig::new(Role::Server, self.mode).with_max_queued_events(self.server_queue),
        );
        if self.signed {
            // Both directions signed, each with its own chain.
            client = client
                .with_signer(SigV4Signer::new(params(), SEED_SIGNATURE))
                .with_verifier(SigV4Verifier::new(params(), RESPONSE_SEED));
            server = server
                .with_verifier(SigV4Verifier::new(params(), SEED_SIGNATURE))
                .with_signer(SigV4Signer::new(params(), RESPONSE_SEED));
        }
        let mirror = Mirror {
            throw: self.throw.clone(),
            received: 0,
        };
        Sim::new(config, client, server, self.script(), mirror)
    }
}

proptest! {
    // 96 cases by default; SIM_CASES=n runs n (for a deeper search).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("SIM_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(96)
    ))]

    #[test]
    fn sessions_deliver_a_prefix_once_in_order_and_end_right(plan in plan()) {
        let outcome = match plan.sim().try_run() {
            Ok(outcome) => outcome,
            Err(hang) => return Err(TestCaseError::fail(hang.to_string())),
        };
        let summary = outcome.summary();

        // Both directions: a byte-identical prefix, exactly one terminal event, last, and the
        // right one for how the link ended.
        check_direction(&outcome.client, &outcome.server, &outcome.to_server, plan.signed)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{summary}")))?;
        check_direction(&outcome.server, &outcome.client, &outcome.to_client, plan.signed)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{summary}")))?;
        // The side that aborted: Closed (unless it already had its terminal event), and nothing
        // accepted after.
        check_abort(&outcome.client).map_err(|e| TestCaseError::fail(format!("{e}\n{summary}")))?;

        // Whatever the client sent before its abort and finish was accepted, unless its session
        // had failed or been ended by the server first.
        let ops = plan.ops();
        let abort = ops.iter().position(|op| *op == Op::Abort);
        for (i, c) in outcome.client.commands.iter().enumerate() {
            let before_abort = abort.is_none_or(|a| i < a);
            if before_abort && !c.terminated_before {
                prop_assert!(c.result.is_ok(), "{:?} refused: {:?}\n{summary}", c.op, c.result);
            }
        }

        // The server that threw closed the stream (unless it failed or ended first); the client
        // then saw the exception or error if its frame got through (checked above).
        let throw = outcome.server.commands.iter().find(|c| c.op.is_final() && c.result.is_ok());
        let threw = throw.is_some();
        if throw.is_some_and(|c| !c.terminated_before) {
            prop_assert_eq!(outcome.server.terminal(), Some(&SessionEvent::Closed), "{}", summary);
        }

        // With no cut, no abort and no exception, the stream ran to completion both ways.
        let clean = plan.abort_at.is_none()
            && !threw
            && outcome.to_server.config().cut.is_none()
            && outcome.to_client.config().cut.is_none();
        if clean {
            prop_assert_eq!(outcome.server.terminal(), Some(&SessionEvent::End), "{}", summary);
            prop_assert_eq!(outcome.client.terminal(), Some(&SessionEvent::End), "{}", summary);
            let sent = ops.iter().filter(|op| op.message().is_some()).count();
            prop_assert_eq!(outcome.server.received_messages().len(), sent, "{}", summary);
            prop_assert_eq!(outcome.client.received_messages().len(), sent, "{}", summary);
            prop_assert_eq!(outcome.to_server.end_kind(), Some(LinkEnd::Finish));
            prop_assert_eq!(outcome.to_client.end_kind(), Some(LinkEnd::Finish));
        }
        // A session half-closes at most once and resets at most once, and nothing follows a reset.
        for side in [&outcome.client, &outcome.server] {
            let signals: Vec<Transmit> = side.signals.iter().map(|s| s.1).collect();
            prop_assert!(
                matches!(
                    signals[..],
                    [] | [Transmit::Finish] | [Transmit::Reset(_)] | [Transmit::Finish, Transmit::Reset(_)]
                ),
                "{:?}\n{}",
                signals,
                summary
            );
        }
    }
}
