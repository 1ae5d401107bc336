//! The two sides and the two links of the `session` target, and the operations the fuzzer's
//! bytes choose: each goes through the side's [`Endpoint`], as in the simulation, and is then
//! checked against what the core documents.

use bytes::{Bytes, BytesMut};
use eventstream::frame::{Limits, Message};
use eventstream::session::{
    error_message, ResetCause, Role, SendError, Session, SessionError, SessionEvent, Transmit,
};
use eventstream::sign::SigningTime;

use super::check::check_sent_frame;
use super::wire::{ByteLink, SentFrame, Span};
use crate::sim::{CommandRecord, Endpoint, Op, SideReport};

/// What a side does with the frames it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unwrap {
    /// Plain frames, no verifier.
    Plain,
    /// The sender signs; a `SigV4Verifier` checks the chain.
    SigV4,
    /// The sender signs; `Unchecked` unwraps without checking.
    Unchecked,
}

/// Which side an operation is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Who {
    Client,
    Server,
}

/// One side of the connection: its session, its [`SideReport`] (what it was told and did, as in
/// the simulation), and what the checks need to know beyond it.
pub(super) struct Peer {
    pub(super) name: &'static str,
    pub(super) role: Role,
    pub(super) session: Session,
    pub(super) report: SideReport,
    pub(super) max_queued: usize,
    pub(super) report_failures: bool,
    /// Whether this side signs its outgoing frames (the peer's [`Unwrap`] is not `Plain`).
    pub(super) signs: bool,
    /// How this side checks its incoming frames.
    pub(super) inbound: Unwrap,
    /// Data-bearing messages accepted (initial messages and events), with their frame's place in
    /// the outbound link.
    pub(super) accepted: Vec<(Message, Span)>,
    /// The exception or error that ended the stream (sent, or the error message a failure was
    /// reported with), with its frame.
    pub(super) final_frame: Option<(Message, Span)>,
    /// The end frame `finish` sent.
    pub(super) end_frame: Option<Span>,
    /// The failure polled.
    pub(super) failed: Option<SessionError>,
    /// A received exception or error reset our side.
    pub(super) reset_by_input: bool,
    /// `handle_reset` was called: whether the session had queued its terminal event before.
    pub(super) transport_reset: Option<bool>,
}

impl Peer {
    pub(super) fn new(name: &'static str, session: Session, signs: bool, inbound: Unwrap) -> Self {
        let role = session.config().role();
        Peer {
            name,
            role,
            max_queued: session.config().max_queued_events(),
            report_failures: session.config().failures_reported_to_peer(),
            report: SideReport::new(role),
            session,
            signs,
            inbound,
            accepted: Vec::new(),
            final_frame: None,
            end_frame: None,
            failed: None,
            reset_by_input: false,
            transport_reset: None,
        }
    }

    /// The last `Finish` or `Reset` handed out.
    fn signal(&self) -> Option<Transmit> {
        self.report.signals.last().map(|&(_, t)| t)
    }

    fn accepted_command(&self, which: impl Fn(&Op) -> bool) -> Option<&CommandRecord> {
        self.report
            .commands
            .iter()
            .find(|c| c.result.is_ok() && which(&c.op))
    }

    /// `finish` was accepted.
    pub(super) fn finished(&self) -> bool {
        self.accepted_command(|op| *op == Op::Finish).is_some()
    }

    /// The accepted exception or error, if one was.
    pub(super) fn final_command(&self) -> Option<&CommandRecord> {
        self.accepted_command(Op::is_final)
    }

    /// Whether the session's sending side is still open, as far as the driver knows.
    fn open(&self) -> bool {
        !self.finished()
            && self.final_command().is_none()
            && self.accepted_command(|op| *op == Op::Abort).is_none()
            && self.failed.is_none()
            && !self.reset_by_input
            && self.transport_reset.is_none()
    }
}

/// Both sides and both links.
pub(super) struct World {
    pub(super) client: Peer,
    pub(super) server: Peer,
    /// Client to server.
    pub(super) up: ByteLink,
    /// Server to client.
    pub(super) down: ByteLink,
    pub(super) limits: Limits,
    pub(super) now: SigningTime,
    /// The operation being run: the records' "tick".
    pub(super) step: u64,
}

impl World {
    /// `who`, its outbound link and its inbound link.
    pub(super) fn parts(&mut self, who: Who) -> (&mut Peer, &mut ByteLink, &mut ByteLink) {
        match who {
            Who::Client => (&mut self.client, &mut self.up, &mut self.down),
            Who::Server => (&mut self.server, &mut self.down, &mut self.up),
        }
    }

    /// Runs `f` on `who`'s [`Endpoint`]; returns its result and the frames it put on the wire.
    fn with_endpoint<R>(
        &mut self,
        who: Who,
        f: impl FnOnce(&mut Endpoint<'_>) -> R,
    ) -> (R, Vec<SentFrame>) {
        let (tick, now) = (self.step, self.now);
        let (peer, out, _) = self.parts(who);
        let signals = peer.report.signals.len();
        let result = f(&mut Endpoint::new(
            &mut peer.session,
            out,
            &mut peer.report,
            tick,
            now,
        ));
        let frames = out.take_sent();
        // "nothing more is sent, and no Transmit::Reset is asked for, since the stream is gone"
        // (Session::handle_reset).
        if peer.transport_reset.is_some() {
            assert!(
                frames.is_empty() && peer.report.signals.len() == signals,
                "{}: transmits after handle_reset: {:?}",
                peer.name,
                &peer.report.signals[signals..]
            );
        }
        (result, frames)
    }

    /// After input or an event, nothing was sent; a `Reset` may have been asked for (a received
    /// exception or error resets an open side), nothing else.
    fn after_input(
        &mut self,
        who: Who,
        frames: &[SentFrame],
        before: Option<Transmit>,
        open: bool,
    ) {
        let peer = self.parts(who).0;
        assert!(frames.is_empty(), "{}: bytes sent on input", peer.name);
        if peer.signal() != before {
            assert_eq!(
                peer.signal(),
                Some(Transmit::Reset(ResetCause::StreamOver)),
                "{}: {:?} on input",
                peer.name,
                peer.signal()
            );
            assert!(open, "{}: reset on input while closed", peer.name);
            peer.reset_by_input = true;
        }
    }

    pub(super) fn set_now(&mut self, now: SigningTime) {
        self.now = now;
    }

    /// Gives `who` a command, and checks the session's answer and what it put on the wire.
    pub(super) fn command(&mut self, who: Who, op: Op) {
        let peer = self.parts(who).0;
        let signal_before = peer.signal();
        let open_before = peer.open();
        let failed = peer.failed.clone();
        let (result, frames) = self.with_endpoint(who, |ep| ep.apply(op.clone()));
        let peer = self.parts(who).0;
        let name = peer.name;
        if op != Op::Abort {
            if let Some(e) = &failed {
                // Refused with the failure, unless the command itself is malformed (the kind of
                // message, the role or the mode), which may be said first.
                let malformed = matches!(
                    result,
                    Err(SendError::WrongKind(_) | SendError::NotAllowed(_))
                );
                assert!(
                    malformed || result == Err(SendError::Failed(e.clone())),
                    "{name}: {op:?} after the failure {e:?} gave {result:?}"
                );
            }
            if !open_before {
                assert!(
                    result.is_err(),
                    "{name}: {op:?} accepted with the sending side closed"
                );
            }
        }
        match (&op, result) {
            (Op::Abort, _) => {
                assert!(frames.is_empty(), "{name}: bytes after abort");
                if peer.transport_reset.is_none() {
                    assert_eq!(
                        peer.signal(),
                        Some(Transmit::Reset(ResetCause::Aborted)),
                        "{name}: abort resets"
                    );
                }
                assert!(peer.session.is_terminated(), "{name}: abort terminates");
            }
            (_, Err(e)) => {
                assert!(
                    frames.is_empty(),
                    "{name}: {op:?} refused ({e}) but queued bytes"
                );
                assert_eq!(
                    peer.signal(),
                    signal_before,
                    "{name}: a refused command changed the transport"
                );
            }
            (Op::Finish, Ok(())) => {
                // A signed stream ends with its end frame, an unsigned one with the half-close
                // alone.
                let expected = usize::from(peer.signs);
                assert_eq!(
                    frames.len(),
                    expected,
                    "{name}: finish sends {expected} end frames"
                );
                if let Some((frame, place)) = frames.first() {
                    check_sent_frame(name, frame, peer.signs, None);
                    peer.end_frame = Some(*place);
                }
                assert_eq!(
                    peer.signal(),
                    Some(Transmit::Finish),
                    "{name}: finish half-closes"
                );
            }
            (Op::Exception(_) | Op::Error { .. }, Ok(())) => {
                let msg = op.message().expect("an exception or error has a message");
                assert_eq!(
                    frames.len(),
                    1,
                    "{name}: one frame for the exception or error"
                );
                check_sent_frame(name, &frames[0].0, peer.signs, Some(&msg));
                assert_eq!(
                    peer.signal(),
                    Some(Transmit::Finish),
                    "{name}: the final message half-closes"
                );
                assert!(
                    peer.session.is_terminated(),
                    "{name}: the final message terminates"
                );
                peer.final_frame = Some((msg, frames[0].1));
            }
            (Op::InitialRequest(m) | Op::InitialResponse(m) | Op::Send(m), Ok(())) => {
                assert_eq!(frames.len(), 1, "{name}: one frame for one message");
                check_sent_frame(name, &frames[0].0, peer.signs, Some(m));
                assert_eq!(peer.signal(), signal_before);
                peer.accepted.push((m.clone(), frames[0].1));
            }
        }
    }

    /// Polls at most `max` events; returns how many came.
    pub(super) fn poll(&mut self, who: Who, max: usize) -> usize {
        let limits = self.limits;
        for polled in 0..max {
            let peer = self.parts(who).0;
            let open = peer.open();
            let signal_before = peer.signal();
            let terminal_before = peer.report.terminal().cloned();
            let (event, frames) = self.with_endpoint(who, |ep| ep.poll_event());
            let Some(event) = event else {
                return polled;
            };
            let peer = self.parts(who).0;
            assert!(
                terminal_before.is_none(),
                "{}: {event:?} after the terminal event {terminal_before:?}",
                peer.name
            );
            let SessionEvent::Failed(e) = event else {
                self.after_input(who, &frames, signal_before, open);
                continue;
            };
            assert_eq!(peer.session.error(), Some(&e), "{}: error()", peer.name);
            let server_reports = peer.report_failures && peer.role == Role::Server && open;
            let reply = error_message(e.kind(), e.to_string());
            let reply_fits = reply
                .encode_with_limits(&limits, &mut BytesMut::new())
                .is_ok();
            peer.failed = Some(e.clone());
            if server_reports && reply_fits {
                assert_eq!(
                    frames.len(),
                    1,
                    "{}: the failure is reported with one message",
                    peer.name
                );
                check_sent_frame(peer.name, &frames[0].0, peer.signs, Some(&reply));
                assert_eq!(
                    peer.signal(),
                    Some(Transmit::Finish),
                    "{}: then the response ends",
                    peer.name
                );
                peer.final_frame = Some((reply, frames[0].1));
            } else {
                assert!(frames.is_empty(), "{}: bytes after {e}", peer.name);
                if peer.transport_reset.is_none()
                    && !matches!(signal_before, Some(Transmit::Reset(_)))
                {
                    assert_eq!(
                        peer.signal(),
                        Some(Transmit::Reset(ResetCause::Failed)),
                        "{}: a failure resets",
                        peer.name
                    );
                }
            }
        }
        max
    }

    /// Offers up to `max` pending bytes to `who`, shared or copied; returns how many it
    /// consumed.
    pub(super) fn deliver(&mut self, who: Who, max: usize, shared: bool) -> usize {
        let (peer, _, inbound) = self.parts(who);
        if inbound.ended {
            return 0;
        }
        let offered = max.min(inbound.pending());
        if offered == 0 {
            return 0;
        }
        let piece = Bytes::copy_from_slice(&inbound.bytes[inbound.consumed..][..offered]);
        let (open, signal_before) = (peer.open(), peer.signal());
        let (n, frames) = self.with_endpoint(who, |ep| {
            if shared {
                ep.offer_bytes(&piece)
            } else {
                ep.offer_slice(&piece)
            }
        });
        let (peer, _, inbound) = self.parts(who);
        if n < offered {
            assert!(
                peer.session.queued_events() >= peer.max_queued && !peer.session.is_terminated(),
                "{}: consumed {n} of {offered} bytes with {} of {} events queued",
                peer.name,
                peer.session.queued_events(),
                peer.max_queued
            );
        }
        inbound.consumed += n;
        self.after_input(who, &frames, signal_before, open);
        n
    }

    /// The input of `who` ends where it is: what was not consumed never arrives.
    pub(super) fn end_input(&mut self, who: Who) {
        let (peer, _, inbound) = self.parts(who);
        if inbound.ended {
            return;
        }
        if inbound.pending() > 0 || !inbound.finished {
            inbound.break_now();
        }
        inbound.ended = true;
        let (open, signal_before) = (peer.open(), peer.signal());
        let ((), frames) = self.with_endpoint(who, |ep| ep.end_of_input());
        self.after_input(who, &frames, signal_before, open);
    }

    /// The transport of `who` was reset: both directions break.
    pub(super) fn transport_reset(&mut self, who: Who, reason: &'static str) {
        let (peer, out, inbound) = self.parts(who);
        if peer.transport_reset.is_some() {
            return;
        }
        peer.transport_reset = Some(peer.session.is_terminated());
        out.break_now();
        if !inbound.ended {
            inbound.break_now();
            inbound.ended = true;
        }
        // `with_endpoint` checks that nothing is transmitted.
        self.with_endpoint(who, |ep| ep.reset(reason));
    }

    /// Everything delivered, every input ended, every event polled; then the terminal state
    /// holds: no more events, late input discarded, nothing to transmit.
    pub(super) fn settle(&mut self) {
        for who in [Who::Server, Who::Client, Who::Server, Who::Client] {
            loop {
                self.poll(who, usize::MAX);
                let (_, _, inbound) = self.parts(who);
                if inbound.ended || inbound.pending() == 0 {
                    break;
                }
                let n = self.deliver(who, usize::MAX, false);
                let polled = self.poll(who, usize::MAX);
                let (peer, _, _) = self.parts(who);
                assert!(
                    n > 0 || polled > 0,
                    "{}: no progress with an empty event queue",
                    peer.name
                );
            }
            self.end_input(who);
            self.poll(who, usize::MAX);
        }
        let now = self.now;
        for who in [Who::Client, Who::Server] {
            let (peer, _, _) = self.parts(who);
            assert!(
                peer.report.terminal().is_some(),
                "{}: no terminal event after the end of input: {}",
                peer.name,
                peer.report.event_summary()
            );
            for _ in 0..3 {
                assert_eq!(
                    peer.session.poll_event(),
                    None,
                    "{}: an event after the terminal one",
                    peer.name
                );
            }
            assert_eq!(
                peer.session.handle_input(b"late bytes", now),
                10,
                "{}: late input",
                peer.name
            );
            peer.session.handle_end_of_input(now);
            assert_eq!(
                peer.session.poll_event(),
                None,
                "{}: an event after the terminal one",
                peer.name
            );
            let ((), frames) = self.with_endpoint(who, |ep| ep.drain());
            assert!(frames.is_empty(), "bytes with nothing commanded");
        }
    }
}
