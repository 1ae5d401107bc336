//! The `session` target: a client and a server session joined by two links that the fuzzer's
//! bytes drive, byte by byte.
//!
//! The sides are driven through the simulation's [`Endpoint`](crate::sim::Endpoint) and
//! recorded in its [`SideReport`](crate::sim::SideReport)s, so that the transmit contract and the
//! records are checked once for both harnesses; what differs is the link ([`wire`]: every
//! delivery, corruption and cut is an operation of the input) and the oracles that follow from
//! it ([`check`]).
//!
//! | module | holds |
//! |---|---|
//! | this one | [`session()`]: reading the operations from the input |
//! | `world` | the two sides and links, and each operation's checks |
//! | `wire` | the fuzzer-driven link |
//! | `check` | the oracles run at the end |

mod check;
mod wire;
mod world;

use eventstream::frame::{Limits, Message};
use eventstream::session::{EventBuilder, ExceptionBuilder, Mode, Role, Session, SessionConfig};
use eventstream::sign::{SigV4Signer, SigV4Verifier, SigningParams, Unchecked};

use self::check::{check_delivery, check_side};
use self::wire::ByteLink;
use self::world::{Peer, Unwrap, Who, World};
use super::input::{header_value, small_limits, small_message, Input};
use crate::sigv4::{self, DAY};
use crate::sim::Op;

const SESSION_SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

fn session_params(direction: &str) -> SigningParams {
    SigningParams::new(
        eventstream::sign::Credentials::new("AKIDEXAMPLE", format!("secret-{direction}")),
        "us-east-1",
        "demo",
    )
}

fn event_message(input: &mut Input<'_>) -> Message {
    match input.range(0, 7) {
        0 => Message::default(),
        1 => small_message(input),
        _ => {
            let ty = input.pick_str(&["Ping", "AudioEvent", "initial-request", "initial-response"]);
            let mut b = EventBuilder::new(ty);
            if input.ratio(1, 3) {
                b = b.content_type("application/json");
            }
            for _ in 0..input.range(0, 2) {
                let mut name = input.pick_str(&["seq", "x-id"]);
                if name.is_empty() {
                    name.push('h');
                }
                b = b.header(name, header_value(input, 24));
            }
            let len = input.range(0, 64);
            b.payload(input.filled(len, 64)).build()
        }
    }
}

fn initial_message(input: &mut Input<'_>, request: bool) -> Message {
    let mut b = match input.range(0, 5) {
        0 => return event_message(input),
        1 if request => EventBuilder::initial_response(),
        1 => EventBuilder::initial_request(),
        _ if request => EventBuilder::initial_request(),
        _ => EventBuilder::initial_response(),
    };
    if input.ratio(1, 2) {
        b = b.content_type("application/json");
    }
    let len = input.range(0, 32);
    b.payload(input.filled(len, 32)).build()
}

/// Arbitrary operations against a client and a server session joined by two in-memory links:
/// commands on either side (initial messages, events, exceptions, errors, `finish`, `abort`),
/// deliveries of arbitrary sizes (copied or shared), slow polling, ends of input, transport
/// resets, time passing, and corruption of the links (flipped bytes with or without a fixed
/// checksum, dropped bytes, injected frames: foreign, replayed or raw). Both modes; each direction
/// plain, signed and verified, or signed and unwrapped unchecked; optional small limits, small
/// event queues, clock skew checks and failure reports. At the end every byte is delivered, every
/// input ended and every event polled.
///
/// Invariants: no panic, no livelock; each side yields exactly one terminal event, the last, and
/// nothing after it (`poll_event` stays `None`, late input is discarded); `poll_transmit` hands
/// out whole frames, nothing after a `Reset` or after `handle_reset`, only a `Reset` after a
/// `Finish`; an accepted command puts exactly its frame on the wire (a refused one nothing), and
/// every command after `finish`, an exception, an error, `abort` or a polled failure is refused
/// (after a failure, with that failure); a polled failure resets the stream, or, at a server that
/// reports failures, sends the error message and half-closes; `handle_input` consumes less than
/// offered only with a full event queue; every message accepted and delivered over intact bytes
/// arrives once, in order, byte-identical; a verifier never lets through anything that was not
/// sent, and its `End` means everything arrived; over intact bytes the terminal event is the one
/// the delivered bytes call for (`End`, `truncated`, `missing_end_frame`, the sender's exception or
/// error, `reset`) after exactly the messages delivered.
pub fn session(data: &[u8]) {
    // EVENTSTREAM_FUZZ_TRACE=1 prints the operations, to read a crash.
    let trace = std::env::var_os("EVENTSTREAM_FUZZ_TRACE").is_some();
    let mut input = Input::new(data);
    let flags = input.byte();
    let mode = if flags & 1 == 0 {
        Mode::Rpc
    } else {
        Mode::HttpBinding
    };
    let unwrap = |bits: u8| match bits & 3 {
        1 => Unwrap::SigV4,
        2 => Unwrap::Unchecked,
        _ => Unwrap::Plain,
    };
    let (up_unwrap, down_unwrap) = (unwrap(flags >> 1), unwrap(flags >> 3));
    let limits = if flags & 0x20 != 0 {
        small_limits(&mut input)
    } else {
        Limits::DEFAULT
    };
    let skew = (flags & 0x40 != 0).then(|| input.range(0, 600) as u64);
    let report = flags & 0x80 != 0;
    let mut queue = || match input.range(0, 7) {
        0..=3 => SessionConfig::DEFAULT_MAX_QUEUED_EVENTS,
        n => n - 3,
    };
    let (client_queue, server_queue) = (queue(), queue());
    let start = 1_700_000_000 + input.range(0, 86_400) as i64;

    let build =
        |role: Role, queue: usize, out: Unwrap, inbound: Unwrap, out_dir: &str, in_dir: &str| {
            let config = SessionConfig::new(role, mode)
                .with_limits(limits)
                .with_max_queued_events(queue)
                .with_failures_reported_to_peer(report);
            let mut s = Session::new(config);
            if out != Unwrap::Plain {
                s = s.with_signer(SigV4Signer::new(session_params(out_dir), SESSION_SEED));
            }
            match inbound {
                Unwrap::Plain => s,
                Unwrap::SigV4 => {
                    let mut v = SigV4Verifier::new(session_params(in_dir), SESSION_SEED);
                    if let Some(max) = skew {
                        v = v.with_max_clock_skew(max);
                    }
                    s.with_verifier(v)
                }
                Unwrap::Unchecked => s.with_verifier(Unchecked::default()),
            }
        };
    let client = build(
        Role::Client,
        client_queue,
        up_unwrap,
        down_unwrap,
        "up",
        "down",
    );
    let server = build(
        Role::Server,
        server_queue,
        down_unwrap,
        up_unwrap,
        "down",
        "up",
    );
    let mut world = World {
        client: Peer::new("client", client, up_unwrap != Unwrap::Plain, down_unwrap),
        server: Peer::new("server", server, down_unwrap != Unwrap::Plain, up_unwrap),
        up: ByteLink::new("client->server"),
        down: ByteLink::new("server->client"),
        limits,
        now: sigv4::at(start),
        step: 0,
    };

    for step in 0..64 {
        if input.is_empty() {
            break;
        }
        world.step = step;
        let op = input.byte();
        let who = if op & 0x80 == 0 {
            Who::Client
        } else {
            Who::Server
        };
        if trace {
            eprintln!("op {:3} on the {who:?}", op & 0x7f);
        }
        match op & 0x7f {
            0..=19 => {
                let m = event_message(&mut input);
                world.command(who, Op::Send(m));
            }
            20..=25 => {
                let request = who == Who::Client;
                let m = initial_message(&mut input, request);
                let c = if request ^ input.ratio(1, 8) {
                    Op::InitialRequest(m)
                } else {
                    Op::InitialResponse(m)
                };
                world.command(who, c);
            }
            26..=28 => {
                let m = if input.ratio(3, 4) {
                    let ty = input.pick_str(&["ThrottlingException", "BadRequestException"]);
                    let len = input.range(0, 32);
                    ExceptionBuilder::new(ty)
                        .payload(input.filled(len, 32))
                        .build()
                } else {
                    small_message(&mut input)
                };
                world.command(who, Op::Exception(m));
            }
            29..=30 => {
                let code = input.pick_str(&["InternalFailure", "ServiceUnavailable"]);
                let len = input.range(0, 40);
                let text = input.utf8(len);
                world.command(who, Op::Error { code, text });
            }
            31..=35 => world.command(who, Op::Finish),
            36 => world.command(who, Op::Abort),
            37..=69 => {
                let max = match input.range(0, 3) {
                    0 => 1,
                    1 => input.range(1, 16),
                    2 => input.range(1, 300),
                    _ => usize::MAX,
                };
                let shared = input.ratio(1, 2);
                world.deliver(who, max, shared);
            }
            70..=84 => {
                let max = input.range(1, 4);
                world.poll(who, max);
            }
            85..=87 => world.end_input(who),
            88 => world.transport_reset(who, "RST_STREAM"),
            89..=92 => {
                let secs = match input.range(0, 2) {
                    0 => input.range_i64(1, 5),
                    1 => input.range_i64(1, 900),
                    _ => input.range_i64(1, 3 * DAY),
                };
                let now = world.now.checked_add_seconds(secs).unwrap_or(world.now);
                world.set_now(now);
            }
            93..=96 => {
                // Flip a byte that has not been delivered yet.
                let (_, _, inbound) = world.parts(who);
                if inbound.broken || inbound.pending() == 0 {
                    continue;
                }
                let at = inbound.consumed + input.range(0, inbound.pending() - 1);
                let mask = input.byte().max(1);
                inbound.bytes[at] ^= mask;
                inbound.mutated(at);
                if input.ratio(1, 2) {
                    // Fix the checksums of the frame that holds it, where they are not delivered.
                    let len = inbound.bytes.len();
                    let frame = inbound
                        .frames
                        .iter()
                        .copied()
                        .find(|&(s, e)| s <= at && at < e && e <= len);
                    if let Some((start, end)) = frame {
                        if at < start + 8 && start + 8 >= inbound.consumed {
                            let crc = crc32fast::hash(&inbound.bytes[start..start + 8]);
                            inbound.bytes[start + 8..start + 12]
                                .copy_from_slice(&crc.to_be_bytes());
                        }
                        if end - 4 >= inbound.consumed {
                            let crc = crc32fast::hash(&inbound.bytes[start..end - 4]);
                            inbound.bytes[end - 4..end].copy_from_slice(&crc.to_be_bytes());
                        }
                    }
                }
            }
            97..=98 => {
                // Drop undelivered bytes.
                let (_, _, inbound) = world.parts(who);
                if inbound.broken || inbound.pending() == 0 {
                    continue;
                }
                let at = inbound.consumed + input.range(0, inbound.pending() - 1);
                let len = input.range(1, inbound.bytes.len() - at);
                inbound.bytes.drain(at..at + len);
                inbound.mutated(at);
            }
            99..=102 => {
                // Inject a frame behind what is in flight: a replayed one, a foreign message, or
                // raw bytes.
                let msg = small_message(&mut input);
                let kind = input.range(0, 2);
                let (_, _, inbound) = world.parts(who);
                if inbound.broken {
                    continue;
                }
                let bytes = match kind {
                    0 if !inbound.frames.is_empty() => {
                        let (s, e) = inbound.frames[input.range(0, inbound.frames.len() - 1)];
                        if e > inbound.bytes.len() {
                            continue;
                        }
                        inbound.bytes[s..e].to_vec()
                    }
                    1 => {
                        let len = input.range(1, 48);
                        input.filled(len, 48)
                    }
                    _ => crate::encode(&msg).to_vec(),
                };
                let at = inbound.bytes.len();
                inbound.bytes.extend_from_slice(&bytes);
                inbound.mutated(at);
            }
            _ => {}
        }
    }
    world.step = 64;
    world.settle();
    if trace {
        for peer in [&world.client, &world.server] {
            let accepted: Vec<_> = peer.accepted.iter().map(|(m, _)| m).collect();
            eprintln!("{}: accepted {accepted:?}", peer.name);
            eprintln!("{}: events {}", peer.name, peer.report.event_summary());
        }
    }

    check_side(&world.client);
    check_side(&world.server);
    check_delivery(&world.client, &world.server, &world.up);
    check_delivery(&world.server, &world.client, &world.down);
}
