//! The one loop every transport runs around a [`Session`]: the read window, the pending write,
//! and the order in which they meet the application.

use super::{Command, ResetCause, SendError, Session, SessionEvent, Transmit};
use crate::sign::SigningTime;
use bytes::{Buf, Bytes, BytesMut};
use core::fmt;

/// The room the driver keeps in the buffer the session encodes into while frames are small:
/// they are encoded one after another into one allocation and split off it as `Bytes`, instead
/// of one allocation each (which the transport frees, often on another thread).
///
/// A shared buffer lives until the last frame split off it is written, so the transport holds
/// up to about two of them beyond its window: small buffers keep that excess small, and
/// frames of [`OUTPUT_MIN_ROOM`] or more, which gain little from sharing, get their own
/// allocation as before.
const OUTPUT_CHUNK: usize = 16 * 1024;

/// Below this much room, the next buffer handed to the session is a fresh [`OUTPUT_CHUNK`], if
/// the frames just encoded were smaller than this.
const OUTPUT_MIN_ROOM: usize = 4 * 1024;

/// How the transport closes our side once the pending bytes are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Close {
    /// Half-close: HTTP/2 END_STREAM, `shutdown(Write)`, the end of a body.
    Finish,
    /// Reset the stream (HTTP/2 RST_STREAM with the cause's code) or close the connection.
    Reset(ResetCause),
}

/// What the transport does next, from [`Driver::step`].
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step<'a> {
    /// Write these bytes, then call [`Driver::written`] with how many went out.
    Write(&'a [u8]),
    /// Every byte was written: close our side this way.
    Close(Close),
    /// An event for the application. A terminal one is the last.
    Event(SessionEvent),
    /// Read, then call [`Driver::handle_read`] (or [`handle_bytes`](Driver::handle_bytes)), or
    /// [`Driver::handle_eof`] at the end of the input.
    NeedInput,
    /// Nothing to do until the application gives a command (or, when the input is not wanted,
    /// takes its events).
    Idle,
    /// The stream is over: the terminal event was yielded and our side was closed.
    Done,
}

/// A [`Session`] with the read window and the pending write that every transport needs: the
/// transport only reads, writes and closes when it is told to, and never keeps protocol state
/// of its own.
///
/// - **Input.** While [`wants_input`](Self::wants_input), read and hand the bytes over with
///   [`handle_read`](Self::handle_read) (a slice; only what the session cannot take yet is
///   copied) or [`handle_bytes`](Self::handle_bytes) (`Bytes`, never copied), and the end of the
///   input with [`handle_eof`](Self::handle_eof). What the session cannot take yet stays in the
///   driver's window and is fed as the application takes events: no more input is wanted until
///   then, which is how a slow application holds the peer back. A transport failure goes to
///   [`handle_reset`](Self::handle_reset).
/// - **Events.** [`poll_event`](Self::poll_event). After the terminal event, the session's answer
///   (a reset, or a server's `error` report and half-close) is pending output, like any other.
/// - **Output.** While [`wants_output`](Self::wants_output): write [`output`](Self::output)
///   and report it with [`written`](Self::written) (or take it whole with
///   [`take_output`](Self::take_output)); once it is all out, [`poll_close`](Self::poll_close)
///   says how to close our side.
/// - **Commands.** [`apply`](Self::apply), with the time now.
///
/// [`step`](Self::step) combines the three for a transport that does one thing at a time, in
/// this order: output first (so that a reset is never held back), then events, then input.
/// Transports whose reads and writes run apart (two tasks, two threads) call the parts.
///
/// ```
/// use eventstream::session::{Command, Driver, EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent, Step};
/// use eventstream::sign::SigningTime;
///
/// let now = SigningTime::from_unix_seconds(1_700_000_000)?;
/// let mut client = Driver::new(Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding)));
/// let mut server = Driver::new(Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding)));
/// client.apply(Command::Send(EventBuilder::new("Ping").payload(&b"1"[..]).build()), now)?;
/// client.apply(Command::Finish, now)?;
///
/// // A transport that moves whole writes from one to the other.
/// let mut seen = Vec::new();
/// loop {
///     match client.step() {
///         Step::Write(bytes) => {
///             let n = bytes.len();
///             server.handle_read(bytes, now);
///             client.written(n);
///         }
///         Step::Close(_) => server.handle_eof(now),
///         _ => break, // nothing more to move: Idle
///     }
/// }
/// while let Some(event) = server.poll_event() {
///     seen.push(event);
/// }
/// assert!(matches!(&seen[0], SessionEvent::Event(m) if &m.payload()[..] == b"1"));
/// assert_eq!(seen[1], SessionEvent::End);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Driver {
    session: Session,
    /// Received bytes the session has not consumed yet.
    input: Bytes,
    /// The transport's input ended; `eof_handled` once the session was told.
    eof: bool,
    eof_handled: bool,
    /// The time of the latest input, for the bytes fed again later.
    now: Option<SigningTime>,
    /// Wire bytes taken from the session and not written yet.
    output: BytesMut,
    /// How our side closes once `output` is written.
    close: Option<Close>,
    /// The half-close was handed to the transport (a reset may still follow: an abort after
    /// finishing cancels what the peer still sends).
    finished: bool,
    /// The reset was handed to the transport, or the transport was reset: nothing more goes out.
    reset: bool,
    /// The terminal event was handed to the application.
    done: bool,
}

impl Driver {
    /// Drives `session`.
    pub fn new(session: Session) -> Self {
        Driver {
            session,
            input: Bytes::new(),
            eof: false,
            eof_handled: false,
            now: None,
            output: BytesMut::new(),
            close: None,
            finished: false,
            reset: false,
            done: false,
        }
    }

    /// The session, for what the driver does not wrap (its configuration, its error).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Whether the session uses the time it is given: its signer signs with it, or its verifier
    /// checks the peer's against it. When neither does, any time will do (for example
    /// [`SigningTime::EPOCH`]), and a transport need not read its clock for every command and
    /// every input.
    pub fn uses_time(&self) -> bool {
        self.session.signs_with_time || self.session.verifier.is_some()
    }

    /// The session, to replace or reach its signer or verifier (rotated credentials).
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Runs an application's command at `now`; its bytes are then pending output.
    ///
    /// # Errors
    ///
    /// The session's refusal; nothing was queued.
    pub fn apply(&mut self, command: Command, now: SigningTime) -> Result<(), SendError> {
        // Output not taken yet goes back to the session, which encodes the command's frames
        // after it, in place: `collect` hands the buffer back whole, so events queued one by
        // one are encoded once and never copied.
        if !self.reset && !self.output.is_empty() {
            self.session.requeue(&mut self.output);
        }
        let result = self.session.apply(command, now);
        self.collect();
        result
    }

    // ---- input ----

    /// Whether the transport should read: the session takes input and the window is empty.
    pub fn wants_input(&self) -> bool {
        !self.eof && self.input.is_empty() && !self.session.is_terminated()
    }

    /// The received bytes held and not delivered yet: the window and the session's frame being
    /// assembled (what a memory budget counts).
    pub fn buffered_input_len(&self) -> usize {
        self.input.len() + self.session.buffered_input_len()
    }

    /// The transport read `data` at `now`. The session takes what its event queue has room for;
    /// the rest is copied into the window.
    pub fn handle_read(&mut self, data: &[u8], now: SigningTime) {
        self.now = Some(now);
        if self.input.is_empty() {
            let n = self.session.handle_input(data, now);
            if n < data.len() {
                self.input = Bytes::copy_from_slice(&data[n..]);
            }
        } else {
            let mut joined = BytesMut::with_capacity(self.input.len() + data.len());
            joined.extend_from_slice(&self.input);
            joined.extend_from_slice(data);
            self.input = joined.freeze();
            self.feed();
        }
        self.collect();
    }

    /// As [`handle_read`](Self::handle_read), for bytes the transport owns as `Bytes` (an h2
    /// DATA frame, a body chunk): never copied.
    pub fn handle_bytes(&mut self, data: Bytes, now: SigningTime) {
        self.now = Some(now);
        if self.input.is_empty() {
            self.input = data;
        } else {
            let mut joined = BytesMut::with_capacity(self.input.len() + data.len());
            joined.extend_from_slice(&self.input);
            joined.extend_from_slice(&data);
            self.input = joined.freeze();
        }
        self.feed();
        self.collect();
    }

    /// The transport's input ended at `now` (HTTP/2 END_STREAM, the end of a body, EOF). The
    /// session learns of it once the window is fed.
    pub fn handle_eof(&mut self, now: SigningTime) {
        self.now = Some(now);
        self.eof = true;
        self.feed();
        self.collect();
    }

    /// The transport failed: reset by the peer, the connection lost, an IO error. The session
    /// fails with `reason` after the events already received (unless it had its terminal event);
    /// nothing more is written.
    pub fn handle_reset(&mut self, reason: impl Into<alloc::borrow::Cow<'static, str>>) {
        self.session.handle_reset(reason);
        self.input = Bytes::new();
        self.output.clear();
        self.close = None;
        self.reset = true;
    }

    /// Feeds the window to the session while it takes bytes; tells it of the end of the input
    /// once the window is empty.
    fn feed(&mut self) {
        let Some(now) = self.now else { return };
        while !self.input.is_empty() {
            let n = self.session.handle_bytes(&self.input, now);
            if n == 0 {
                if self.session.queued_events() == 0 && !self.session.is_terminated() {
                    // The session takes bytes whenever its queue has room: never spin on it.
                    self.session
                        .handle_reset("internal: the session consumed no input");
                }
                return;
            }
            self.input.advance(n);
        }
        if self.eof && !self.eof_handled {
            self.eof_handled = true;
            self.session.handle_end_of_input(now);
        }
    }

    // ---- events ----

    /// The next event for the application. Taking one makes room: the window is fed again, and
    /// the session's answer to a terminal event becomes pending output.
    #[must_use = "events carry the peer's data and the session's failures"]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        if self.done {
            return None;
        }
        let event = match self.session.poll_event() {
            Some(event) => event,
            None => {
                self.feed();
                self.session.poll_event()?
            }
        };
        if event.is_terminal() {
            self.done = true;
            self.input = Bytes::new();
        } else {
            self.feed();
        }
        self.collect();
        Some(event)
    }

    /// Whether the terminal event was handed to the application.
    pub fn is_done(&self) -> bool {
        self.done
    }

    // ---- output ----

    /// Takes what the session wants to transmit.
    fn collect(&mut self) {
        if self.reset {
            return;
        }
        let pending = self.session.pending_transmit_len();
        if self.output.is_empty()
            && self.output.capacity() < OUTPUT_MIN_ROOM
            && (1..OUTPUT_MIN_ROOM).contains(&pending)
        {
            // The session hands its filled buffer over in exchange for this one, and encodes
            // the next frames into it.
            self.output.reserve(OUTPUT_CHUNK);
        }
        while let Some(t) = self.session.poll_transmit(&mut self.output) {
            match t {
                Transmit::Finish => self.close = Some(Close::Finish),
                Transmit::Reset(cause) => {
                    // A reset drops what was not written.
                    self.output.clear();
                    self.close = Some(Close::Reset(cause));
                }
                _ => {}
            }
        }
    }

    /// Whether there is something to write or a close to carry out.
    pub fn wants_output(&self) -> bool {
        !self.reset
            && (!self.output.is_empty() || self.close.is_some() || self.session.wants_transmit())
    }

    /// The reset to carry out, if one is pending: a transport whose writer is blocked carries it
    /// out at once (shutting the socket down wakes the writer).
    pub fn pending_reset(&self) -> Option<ResetCause> {
        match self.close {
            Some(Close::Reset(cause)) => Some(cause),
            _ => None,
        }
    }

    /// The bytes to write next (empty when none).
    pub fn output(&mut self) -> &[u8] {
        self.collect();
        &self.output
    }

    /// The number of bytes pending output.
    pub fn output_len(&self) -> usize {
        self.output.len() + self.session.pending_transmit_len()
    }

    /// `n` bytes of [`output`](Self::output) were written.
    pub fn written(&mut self, n: usize) {
        self.output.advance(n.min(self.output.len()));
    }

    /// Takes at most `max` bytes of the output, to hand to a transport that takes `Bytes`
    /// (h2's `send_data`): no copy.
    pub fn take_output(&mut self, max: usize) -> Bytes {
        self.collect();
        let n = max.min(self.output.len());
        self.output.split_to(n).freeze()
    }

    /// Once every byte was written: how to close our side, handed out once.
    pub fn poll_close(&mut self) -> Option<Close> {
        self.collect();
        if !self.output.is_empty() {
            return None;
        }
        let close = self.close.take()?;
        match close {
            Close::Finish => self.finished = true,
            Close::Reset(_) => self.reset = true,
        }
        Some(close)
    }

    /// Whether our side was closed: half-closed or reset (also by the transport).
    pub fn is_closed(&self) -> bool {
        self.finished || self.reset
    }

    // ---- all at once ----

    /// The next thing to do, for a transport that does one thing at a time: output first, then
    /// events, then input. See [`Step`].
    pub fn step(&mut self) -> Step<'_> {
        self.collect();
        if !self.output.is_empty() {
            return Step::Write(&self.output);
        }
        if let Some(close) = self.poll_close() {
            return Step::Close(close);
        }
        if let Some(event) = self.poll_event() {
            return Step::Event(event);
        }
        if self.wants_output() {
            // The answer to the event just taken.
            return self.step();
        }
        if self.wants_input() {
            return Step::NeedInput;
        }
        if self.done && self.is_closed() {
            return Step::Done;
        }
        Step::Idle
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("session", &self.session)
            .field("window", &self.input.len())
            .field("eof", &self.eof)
            .field("output", &self.output.len())
            .field("close", &self.close)
            .field("finished", &self.finished)
            .field("reset", &self.reset)
            .field("done", &self.done)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{EventBuilder, Mode, Role, SessionConfig};
    use alloc::vec::Vec;

    fn t() -> SigningTime {
        SigningTime::from_unix_seconds(1_700_000_000).unwrap()
    }

    fn driver(role: Role, queue: usize) -> Driver {
        let config = SessionConfig::new(role, Mode::HttpBinding).with_max_queued_events(queue);
        Driver::new(Session::new(config))
    }

    #[test]
    fn uses_time_only_with_a_signer_or_verifier_that_needs_it() {
        use crate::sign::{Credentials, SigV4Signer, SigningParams, Unchecked};
        assert!(!driver(Role::Client, 4).uses_time());
        let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
        let config = SessionConfig::new(Role::Client, Mode::HttpBinding);
        let signed = Session::new(config).with_signer(SigV4Signer::new(params, &"00".repeat(32)));
        assert!(Driver::new(signed).uses_time());
        let verifying = Session::new(config).with_verifier(Unchecked::default());
        assert!(Driver::new(verifying).uses_time());
    }

    /// Frames taken one by one are split off a few shared buffers, not one allocation each.
    #[test]
    fn frames_share_the_output_buffers() {
        let mut d = driver(Role::Client, 4);
        let mut taken = Vec::new();
        for i in 0..40u8 {
            let event = EventBuilder::new("E").payload(alloc::vec![i; 100]).build();
            d.apply(Command::Send(event), t()).unwrap();
            taken.push(d.take_output(usize::MAX));
        }
        // Each frame that directly follows another in memory shares its buffer.
        let mut adjacent = 0;
        for (i, frame) in taken.iter().enumerate() {
            let end = frame.as_ptr() as usize + frame.len();
            adjacent += taken[i + 1..]
                .iter()
                .filter(|f| f.as_ptr() as usize == end)
                .count();
        }
        assert!(adjacent >= 30, "{adjacent} of 40 frames follow another");
    }

    fn frames(n: usize) -> BytesMut {
        let mut wire = BytesMut::new();
        for i in 0..n {
            EventBuilder::new("E")
                .payload(alloc::vec![i as u8; 10])
                .build()
                .encode(&mut wire)
                .unwrap();
        }
        wire
    }

    #[test]
    fn a_full_queue_stops_reading_until_the_application_takes_events() {
        let mut d = driver(Role::Server, 1);
        let wire = frames(5);
        assert!(d.wants_input());
        d.handle_read(&wire, t());
        assert!(
            !d.wants_input(),
            "the window holds what the session could not take"
        );
        assert!(d.buffered_input_len() > 0);
        d.handle_eof(t());
        let mut payloads = Vec::new();
        while let Some(event) = d.poll_event() {
            match event {
                SessionEvent::Event(m) => payloads.push(m.payload()[0]),
                SessionEvent::End => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(payloads, [0, 1, 2, 3, 4], "nothing lost or reordered");
        assert!(d.is_done());
        assert_eq!(d.poll_event(), None);
    }

    #[test]
    fn the_answer_to_a_failure_is_output_after_the_event() {
        let config = SessionConfig::new(Role::Server, Mode::HttpBinding)
            .with_failures_reported_to_peer(true);
        let mut d = Driver::new(Session::new(config));
        d.handle_bytes(Bytes::from_static(&[0; 16]), t());
        assert!(
            !d.wants_output(),
            "nothing goes out before the application knows"
        );
        assert!(matches!(d.poll_event(), Some(SessionEvent::Failed(_))));
        assert!(d.wants_output());
        let report = d.take_output(usize::MAX);
        let mut decoder = crate::frame::FrameDecoder::new();
        decoder.handle_bytes(&report);
        let message = decoder.poll_message().unwrap().unwrap();
        assert_eq!(message.header_str(":message-type"), Some("error"));
        assert_eq!(d.poll_close(), Some(Close::Finish));
        assert!(matches!(d.step(), Step::Done));
    }

    #[test]
    fn a_reset_drops_what_was_not_written() {
        let mut d = driver(Role::Client, 4);
        d.apply(Command::Send(EventBuilder::new("A").build()), t())
            .unwrap();
        assert!(!d.output().is_empty());
        d.written(3);
        d.apply(Command::Abort, t()).unwrap();
        assert!(d.output().is_empty());
        assert_eq!(d.pending_reset(), Some(ResetCause::Aborted));
        assert_eq!(d.poll_close(), Some(Close::Reset(ResetCause::Aborted)));
        assert_eq!(d.poll_close(), None);
        assert_eq!(d.poll_event(), Some(SessionEvent::Closed));
        assert!(matches!(d.step(), Step::Done));
    }

    #[test]
    fn an_abort_after_finishing_still_resets() {
        let mut d = driver(Role::Client, 4);
        d.apply(Command::Finish, t()).unwrap();
        assert_eq!(d.step(), Step::Close(Close::Finish));
        assert!(matches!(d.step(), Step::NeedInput));
        d.apply(Command::Abort, t()).unwrap();
        assert_eq!(d.step(), Step::Close(Close::Reset(ResetCause::Aborted)));
        assert_eq!(d.step(), Step::Event(SessionEvent::Closed));
        assert_eq!(d.step(), Step::Done);
    }

    #[test]
    fn a_transport_reset_fails_after_the_events_received() {
        let mut d = driver(Role::Client, 4);
        d.apply(Command::Send(EventBuilder::new("A").build()), t())
            .unwrap();
        d.handle_read(&frames(1), t());
        d.handle_reset("connection lost");
        assert!(!d.wants_output(), "nothing goes out on a reset stream");
        assert!(!d.wants_input());
        assert!(matches!(d.poll_event(), Some(SessionEvent::Event(_))));
        match d.poll_event() {
            Some(SessionEvent::Failed(e)) => assert_eq!(e.kind(), "reset"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            d.apply(Command::Send(EventBuilder::new("B").build()), t())
                .unwrap_err()
                .kind(),
            "reset"
        );
        assert!(matches!(d.step(), Step::Done));
    }

    /// Commands applied while earlier output is pending, taken in part or written in part, go
    /// out after it and in order: the pending bytes go back to the session, which encodes the
    /// new frames after them.
    #[test]
    fn commands_between_partial_writes_go_out_after_the_pending_bytes() {
        use crate::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
        let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
        let seed = "00".repeat(32);
        for signed in [false, true] {
            for pattern in 0..16u64 {
                let config = SessionConfig::new(Role::Client, Mode::HttpBinding);
                let mut client = Session::new(config);
                let mut server = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
                if signed {
                    client.set_signer(SigV4Signer::new(params.clone(), &seed));
                    server.set_verifier(SigV4Verifier::new(params.clone(), &seed));
                }
                let mut client = Driver::new(client);
                let mut server = Driver::new(server);
                let mut wire = Vec::new();
                // A fixed pseudo-random mix of applying, taking and writing in pieces.
                let mut x = pattern.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for i in 0..30u8 {
                    let event = EventBuilder::new("E")
                        .payload(alloc::vec![i; 50 + usize::from(i) * 7])
                        .build();
                    client.apply(Command::Send(event), t()).unwrap();
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let piece = (x % 300) as usize;
                    match x % 3 {
                        0 => wire.extend_from_slice(&client.take_output(piece)),
                        1 => {
                            let out = client.output();
                            let n = piece.min(out.len());
                            wire.extend_from_slice(&out[..n]);
                            client.written(n);
                        }
                        _ => {}
                    }
                }
                client.apply(Command::Finish, t()).unwrap();
                wire.extend_from_slice(&client.take_output(usize::MAX));
                assert!(matches!(client.poll_close(), Some(Close::Finish)));
                server.handle_bytes(Bytes::from(wire), t());
                server.handle_eof(t());
                for i in 0..30u8 {
                    match server.poll_event() {
                        Some(SessionEvent::Event(m)) => {
                            assert_eq!(m.payload().len(), 50 + usize::from(i) * 7);
                            assert!(m.payload().iter().all(|&b| b == i), "event {i}");
                        }
                        other => panic!("signed {signed}, pattern {pattern}: event {i}: {other:?}"),
                    }
                }
                assert_eq!(server.poll_event(), Some(SessionEvent::End));
            }
        }
    }

    #[test]
    fn step_moves_a_whole_exchange_in_any_pieces() {
        for piece in [1, 7, 64, usize::MAX] {
            let mut client = driver(Role::Client, 2);
            let mut server = driver(Role::Server, 2);
            for i in 0..10u8 {
                let event = EventBuilder::new("E").payload(alloc::vec![i; 100]).build();
                client.apply(Command::Send(event), t()).unwrap();
            }
            client.apply(Command::Finish, t()).unwrap();
            let mut seen = Vec::new();
            loop {
                match client.step() {
                    Step::Write(bytes) => {
                        let n = bytes.len().min(piece);
                        let chunk = Bytes::copy_from_slice(&bytes[..n]);
                        client.written(n);
                        server.handle_bytes(chunk, t());
                        while let Some(e) = server.poll_event() {
                            seen.push(e);
                        }
                    }
                    Step::Close(Close::Finish) => server.handle_eof(t()),
                    _ => break,
                }
            }
            while let Some(e) = server.poll_event() {
                seen.push(e);
            }
            assert_eq!(seen.len(), 11, "piece {piece}");
            for (i, e) in seen[..10].iter().enumerate() {
                assert!(matches!(e, SessionEvent::Event(m) if m.payload()[0] == i as u8));
            }
            assert_eq!(seen[10], SessionEvent::End);
        }
    }
}
