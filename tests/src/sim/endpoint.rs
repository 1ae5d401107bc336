//! One side of a two-session harness: what is done to its session and what is recorded.
//!
//! The simulation ([`Sim`](super::Sim)) and the `session` fuzz target
//! ([`fuzz::session`](crate::fuzz::session)) drive a client and a server session through the
//! same [`Endpoint`]: commands ([`Op`]) given and recorded with their result, input offered,
//! events polled and recorded ([`Seen`]), and after each of them `poll_transmit` drained into
//! the outgoing [`Wire`] with the transmit contract checked ([`drain_transmit`]). They differ only
//! in what decides the next step (ticks, applications and a seeded RNG; or the fuzzer's bytes)
//! and in the wire between the sides.

use std::fmt;

use bytes::{Bytes, BytesMut};
use eventstream::frame::Message;
use eventstream::session::{error_message, Role, SendError, Session, SessionEvent, Transmit};
use eventstream::sign::SigningTime;

use super::{LinkEnd, SideReport};
use crate::be32;

/// A command an application gives its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// [`Session::send_initial_request`].
    InitialRequest(Message),
    /// [`Session::send_initial_response`].
    InitialResponse(Message),
    /// [`Session::send`].
    Send(Message),
    /// [`Session::send_exception`].
    Exception(Message),
    /// [`Session::send_error`].
    Error {
        /// `:error-code`.
        code: String,
        /// `:error-message`.
        text: String,
    },
    /// [`Session::finish`].
    Finish,
    /// [`Session::abort`].
    Abort,
}

impl Op {
    /// The message the command puts on the wire, if any (for [`Op::Error`], the message
    /// [`error_message`] builds).
    pub fn message(&self) -> Option<Message> {
        match self {
            Op::InitialRequest(m) | Op::InitialResponse(m) | Op::Send(m) | Op::Exception(m) => {
                Some(m.clone())
            }
            Op::Error { code, text } => Some(error_message(code.as_str(), text.as_str())),
            Op::Finish | Op::Abort => None,
        }
    }

    /// Whether the message it sends ends the stream (an exception or an error).
    pub fn is_final(&self) -> bool {
        matches!(self, Op::Exception(_) | Op::Error { .. })
    }

    /// Gives `op` to `session`, signed at `now`; `abort` cannot fail.
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn apply_to(&self, session: &mut Session, now: SigningTime) -> Result<(), SendError> {
        match self {
            Op::InitialRequest(m) => session.send_initial_request(m.clone(), now),
            Op::InitialResponse(m) => session.send_initial_response(m.clone(), now),
            Op::Send(m) => session.send(m.clone(), now),
            Op::Exception(m) => session.send_exception(m.clone(), now),
            Op::Error { code, text } => session.send_error(code, text, now),
            Op::Finish => session.finish(now),
            Op::Abort => {
                session.abort();
                Ok(())
            }
        }
    }
}

/// One command an application gave, and what the session answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    /// The tick it was given at.
    pub tick: u64,
    /// The command.
    pub op: Op,
    /// The session's answer (`Ok` for `abort`, which cannot fail).
    pub result: Result<(), SendError>,
    /// Whether the session had already queued its terminal event when the command was given.
    pub terminated_before: bool,
}

/// One event an application polled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The tick it was polled at.
    pub tick: u64,
    /// The event.
    pub event: SessionEvent,
}

/// Where a side's transmissions go: one direction of the connection, seen from its sender.
///
/// [`drain_transmit`] hands it what `poll_transmit` hands out, once the transmit contract has
/// been checked: the bytes of each `Transmit::Data` (whole frames, in order), then the end of
/// the stream, `Finish` or `Reset`.
pub trait Wire: fmt::Debug {
    /// `"client->server"` or `"server->client"`, for messages.
    fn name(&self) -> &'static str;

    /// The bytes of one `Transmit::Data` at `tick`: one or more whole frames.
    fn data(&mut self, frames: Bytes, tick: u64);

    /// The sender's `Transmit::Finish` ([`LinkEnd::Finish`]) or `Transmit::Reset`
    /// ([`LinkEnd::Reset`]) at `tick`.
    fn end(&mut self, end: LinkEnd, tick: u64);
}

/// What acts on one side's session: the harness (input, events, resets) and the side's
/// [`Application`](super::Application) (commands only: input is the harness's business), at one
/// tick and one time, recording everything in the side's [`SideReport`].
///
/// After every call that reaches the session, `poll_transmit` is drained into the outgoing
/// [`Wire`] ([`drain_transmit`]), as the drain contract asks.
#[derive(Debug)]
pub struct Endpoint<'a> {
    session: &'a mut Session,
    outbound: &'a mut dyn Wire,
    report: &'a mut SideReport,
    tick: u64,
    now: SigningTime,
}

impl<'a> Endpoint<'a> {
    /// `session` at `tick`, sending into `outbound`, recording in `report`; every input and
    /// command is given `now`.
    pub fn new(
        session: &'a mut Session,
        outbound: &'a mut dyn Wire,
        report: &'a mut SideReport,
        tick: u64,
        now: SigningTime,
    ) -> Self {
        Endpoint {
            session,
            outbound,
            report,
            tick,
            now,
        }
    }
}

impl Endpoint<'_> {
    /// The current tick.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// The virtual clock's time: what commands sign with.
    pub fn now(&self) -> SigningTime {
        self.now
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.session.config().role()
    }

    /// The session, to look at.
    pub fn session(&self) -> &Session {
        self.session
    }

    /// What this side saw and did so far.
    pub fn report(&self) -> &SideReport {
        self.report
    }

    /// Gives the session `op`, signed at [`now`](Self::now); records it with its result, then
    /// drains `poll_transmit` into the wire.
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn apply(&mut self, op: Op) -> Result<(), SendError> {
        let terminated_before = self.session.is_terminated();
        let result = op.apply_to(self.session, self.now);
        self.report.commands.push(CommandRecord {
            tick: self.tick,
            op,
            result: result.clone(),
            terminated_before,
        });
        self.drain();
        result
    }

    /// Offers `piece` to the session, shared ([`Session::handle_bytes`], no copy); returns how
    /// many bytes it consumed.
    ///
    /// # Panics
    ///
    /// When the session claims more than it was offered.
    pub(crate) fn offer_bytes(&mut self, piece: &Bytes) -> usize {
        let n = self.session.handle_bytes(piece, self.now);
        self.offered(piece.len(), n)
    }

    /// Offers `piece` to the session, copied ([`Session::handle_input`]); returns how many
    /// bytes it consumed.
    ///
    /// # Panics
    ///
    /// When the session claims more than it was offered.
    pub(crate) fn offer_slice(&mut self, piece: &[u8]) -> usize {
        let n = self.session.handle_input(piece, self.now);
        self.offered(piece.len(), n)
    }

    fn offered(&mut self, offered: usize, n: usize) -> usize {
        assert!(
            n <= offered,
            "{}: handle_input consumed {n} of {offered} bytes",
            self.outbound.name()
        );
        self.report.input_calls += 1;
        if n < offered {
            self.report.short_inputs += 1;
        }
        self.drain();
        n
    }

    /// Tells the session its input ended ([`Session::handle_end_of_input`]) and records when.
    pub(crate) fn end_of_input(&mut self) {
        self.session.handle_end_of_input(self.now);
        self.report.end_of_input_at = Some(self.tick);
        self.drain();
    }

    /// Tells the session its transport was reset ([`Session::handle_reset`]).
    pub(crate) fn reset(&mut self, reason: &'static str) {
        self.session.handle_reset(reason);
        self.drain();
    }

    /// Polls one event; records it ([`Seen`]) after draining what polling queued.
    pub(crate) fn poll_event(&mut self) -> Option<SessionEvent> {
        let event = self.session.poll_event()?;
        self.drain();
        self.report.events.push(Seen {
            tick: self.tick,
            event: event.clone(),
        });
        Some(event)
    }

    /// Drains `poll_transmit` into the wire ([`drain_transmit`]).
    pub(crate) fn drain(&mut self) {
        drain_transmit(self.session, self.outbound, self.report, self.tick);
    }

    /// [`Op::Send`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        self.apply(Op::Send(message))
    }

    /// [`Op::InitialRequest`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn send_initial_request(&mut self, message: Message) -> Result<(), SendError> {
        self.apply(Op::InitialRequest(message))
    }

    /// [`Op::InitialResponse`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn send_initial_response(&mut self, message: Message) -> Result<(), SendError> {
        self.apply(Op::InitialResponse(message))
    }

    /// [`Op::Exception`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn send_exception(&mut self, message: Message) -> Result<(), SendError> {
        self.apply(Op::Exception(message))
    }

    /// [`Op::Error`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn send_error(&mut self, code: &str, text: &str) -> Result<(), SendError> {
        self.apply(Op::Error {
            code: code.into(),
            text: text.into(),
        })
    }

    /// [`Op::Finish`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn finish(&mut self) -> Result<(), SendError> {
        self.apply(Op::Finish)
    }

    /// [`Op::Abort`].
    pub fn abort(&mut self) {
        let _ = self.apply(Op::Abort);
    }
}

/// How many transmits one drain may hand out before the harness calls it a livelock.
const MAX_TRANSMITS_PER_DRAIN: usize = 64;

/// Moves everything the session wants to transmit into `outbound`, checking the transmit
/// contract on the way and recording it in `report` (`signals`, `bytes_transmitted`,
/// `transmit_calls`):
///
/// - every other call gets a buffer that already holds bytes, which must stay in front:
///   `poll_transmit` appends;
/// - `Transmit::Data(n)`: `n > 0` bytes were appended, and they are whole frames;
/// - after a `Finish` only a `Reset` may come (to abort what is left of the stream); after a
///   `Reset`, nothing;
/// - `poll_transmit` runs dry.
///
/// # Panics
///
/// When the contract is broken; the message names the wire.
pub fn drain_transmit(
    session: &mut Session,
    outbound: &mut dyn Wire,
    report: &mut SideReport,
    tick: u64,
) {
    let name = outbound.name();
    for _ in 0..MAX_TRANSMITS_PER_DRAIN {
        let prefix: &[u8] = if report.transmit_calls.is_multiple_of(2) {
            b""
        } else {
            b"junk"
        };
        report.transmit_calls += 1;
        let mut buf = BytesMut::from(prefix);
        let Some(transmit) = session.poll_transmit(&mut buf) else {
            assert_eq!(
                &buf[..],
                prefix,
                "{name}: poll_transmit gave None, wrote bytes"
            );
            return;
        };
        let after_end = report.signals.last().map(|&(_, t)| t);
        assert!(
            after_end.is_none()
                || (after_end == Some(Transmit::Finish) && matches!(transmit, Transmit::Reset(_))),
            "{name}: poll_transmit gave {transmit:?} after {after_end:?}"
        );
        assert_eq!(
            &buf[..prefix.len()],
            prefix,
            "{name}: poll_transmit overwrote the buffer"
        );
        match transmit {
            Transmit::Data(n) => {
                assert!(n > 0, "{name}: Transmit::Data(0)");
                assert_eq!(
                    n,
                    buf.len() - prefix.len(),
                    "{name}: Transmit::Data({n}) with {} bytes appended",
                    buf.len() - prefix.len()
                );
                let data = buf.split_off(prefix.len()).freeze();
                // Whole frames only.
                split_frames(name, &data);
                report.bytes_transmitted += n as u64;
                outbound.data(data, tick);
            }
            Transmit::Finish => {
                assert_eq!(buf.len(), prefix.len(), "{name}: bytes with {transmit:?}");
                report.signals.push((tick, transmit));
                outbound.end(LinkEnd::Finish, tick);
            }
            Transmit::Reset(_) => {
                assert_eq!(buf.len(), prefix.len(), "{name}: bytes with {transmit:?}");
                report.signals.push((tick, transmit));
                outbound.end(LinkEnd::Reset, tick);
            }
            other => panic!("{name}: unknown transmit {other:?}"),
        }
    }
    panic!("{name}: poll_transmit does not run dry");
}

/// Splits `data` into the frames it holds, by their declared total lengths.
///
/// # Panics
///
/// When `data` does not end at a frame boundary; the message names the wire.
pub(crate) fn split_frames<'d>(name: &str, data: &'d [u8]) -> Vec<&'d [u8]> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < data.len() {
        assert!(data.len() - at >= 16, "{name}: a partial frame");
        let total = be32(data, at) as usize;
        assert!(
            total >= 16 && at + total <= data.len(),
            "{name}: a partial frame"
        );
        frames.push(&data[at..at + total]);
        at += total;
    }
    frames
}
