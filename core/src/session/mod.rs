//! Layer 2: one event stream as a sans-IO state machine, seen from either end.
//!
//! A [`Session`] decides what goes on the wire and in which order, and what the application is
//! told: initial-request / initial-response sequencing on RPC protocols, exceptions and errors,
//! the signed end of the stream, and every failure, reported once. Adapters only move its bytes.

mod driver;
mod error;
mod message;

pub use driver::{Close, Driver, Step};
pub use error::{ProtocolError, SendError, SessionError};
pub use message::{
    error_message, EventBuilder, ExceptionBuilder, Kind, Marshal, MarshalError, Unmarshal,
    Unmarshalled, CONTENT_TYPE, ERROR_CODE, ERROR_MESSAGE, EVENT_TYPE, EXCEPTION_TYPE,
    INITIAL_REQUEST, INITIAL_RESPONSE, MESSAGE_TYPE,
};

use crate::frame::{ByteString, FrameDecoder, Limits, Message, PRELUDE_LEN};
use crate::sign::{Anonymous, EventSigner, EventVerifier, SigningTime, Verified};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use bytes::{Bytes, BytesMut};
use core::fmt;

/// Which end of the stream a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that opens the stream: it may send an initial request and receives the initial
    /// response.
    Client,
    /// The end that accepts the stream: it receives the initial request, may send the initial
    /// response, and may end the stream with an exception or an error.
    Server,
}

/// How the operation's non-stream members travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// RPC protocols (awsJson1_0, awsJson1_1, rpcv2Cbor): as `initial-request` and
    /// `initial-response` messages at the start of each direction.
    Rpc,
    /// Protocols with HTTP bindings (restJson1, restXml): in HTTP headers, path and query. No
    /// initial message exists; one that arrives is an ordinary event.
    HttpBinding,
}

/// How a session is set up.
///
/// ```
/// use eventstream::frame::Limits;
/// use eventstream::session::{Mode, Role, SessionConfig};
///
/// let config = SessionConfig::new(Role::Client, Mode::Rpc)
///     .with_limits(Limits::default().with_max_payload_len(1 << 20))
///     .with_max_queued_events(16);
/// assert_eq!(config.max_queued_events(), 16);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    role: Role,
    mode: Mode,
    limits: Limits,
    max_queued_events: usize,
    report_failures: bool,
}

impl SessionConfig {
    /// The default number of received events the session holds before it stops consuming input.
    pub const DEFAULT_MAX_QUEUED_EVENTS: usize = 32;

    /// A configuration with the default limits and queue size.
    pub const fn new(role: Role, mode: Mode) -> Self {
        SessionConfig {
            role,
            mode,
            limits: Limits::DEFAULT,
            max_queued_events: Self::DEFAULT_MAX_QUEUED_EVENTS,
            report_failures: false,
        }
    }

    /// Server only: when the session fails on the client's bytes (a bad frame, a broken
    /// signature chain, a sequencing error), answer with one `error` message (`:error-code` = the
    /// error's [`kind`](SessionError::kind), `:error-message` = its text) and end the response
    /// with [`Transmit::Finish`], instead of [`Transmit::Reset`]. Off by default; ignored at a
    /// client.
    #[must_use]
    pub const fn with_failures_reported_to_peer(mut self, report: bool) -> Self {
        self.report_failures = report;
        self
    }

    /// Whether failures are answered with an `error` message (server only).
    pub const fn failures_reported_to_peer(&self) -> bool {
        self.report_failures
    }

    /// The frame limits for both directions.
    #[must_use]
    pub const fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many received events may wait for [`Session::poll_event`] before
    /// [`Session::handle_input`] stops consuming bytes (at least 1).
    #[must_use]
    pub const fn with_max_queued_events(mut self, n: usize) -> Self {
        self.max_queued_events = if n == 0 { 1 } else { n };
        self
    }

    /// The role.
    pub const fn role(&self) -> Role {
        self.role
    }

    /// The mode.
    pub const fn mode(&self) -> Mode {
        self.mode
    }

    /// The frame limits.
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The received-event queue's capacity.
    pub const fn max_queued_events(&self) -> usize {
        self.max_queued_events
    }
}

/// What the application must see, from [`Session::poll_event`].
///
/// `End`, `Exception`, `Error`, `Closed` and `Failed` are terminal: exactly one of them is the
/// last event a session yields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The RPC initial request (at a server), the first message of the request stream.
    InitialRequest(Message),
    /// The RPC initial response (at a client), the first message of the response stream.
    InitialResponse(Message),
    /// An event.
    Event(Message),
    /// The peer ended the stream with a modeled error (terminal).
    Exception {
        /// Its `:exception-type`.
        exception_type: ByteString,
        /// The whole message.
        message: Message,
    },
    /// The peer ended the stream with an unmodeled error (terminal).
    Error {
        /// Its `:error-code`.
        code: ByteString,
        /// Its `:error-message`, empty when absent.
        text: ByteString,
        /// The whole message.
        message: Message,
    },
    /// The peer finished its side cleanly: its input ended after its end frame (or, without a
    /// verifier, at a frame boundary) (terminal).
    End,
    /// This end closed the stream: it aborted, or sent an exception or an error (terminal).
    Closed,
    /// The session failed (terminal).
    Failed(SessionError),
}

impl SessionEvent {
    /// Whether this is the last event the session yields.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            SessionEvent::Exception { .. }
                | SessionEvent::Error { .. }
                | SessionEvent::End
                | SessionEvent::Closed
                | SessionEvent::Failed(_)
        )
    }
}

/// What [`Session::poll_transmit`] asks the transport to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transmit {
    /// This many bytes were appended to the caller's buffer: send them.
    Data(usize),
    /// Our side is complete: half-close the transport (HTTP/2 END_STREAM, `shutdown(Write)`).
    Finish,
    /// Abort the stream (HTTP/2 RST_STREAM, or close the connection), for this cause.
    Reset(ResetCause),
}

/// Why a session asks the transport to reset the stream: what an adapter maps to a transport's
/// reason (an HTTP/2 error code, say) without asking the session anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResetCause {
    /// The application aborted the stream ([`Session::abort`]). HTTP/2: `CANCEL`.
    Aborted,
    /// The peer ended the stream with an exception or an error while our side was open: what
    /// we still had to send is moot. HTTP/2: `CANCEL`.
    StreamOver,
    /// The session failed on the peer's input: a bad frame, a broken signing chain, a
    /// sequencing error ([`SessionEvent::Failed`]). HTTP/2: `INTERNAL_ERROR`.
    Failed,
}

/// One command of the application, for [`Session::apply`]: what the methods
/// [`send`](Session::send), [`finish`](Session::finish) and the others do, as a value that a
/// transport can queue, log or replay.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
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
        /// The `:error-code`.
        code: ByteString,
        /// The `:error-message`.
        text: ByteString,
    },
    /// [`Session::finish`].
    Finish,
    /// [`Session::abort`].
    Abort,
}

/// Our sending side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Local {
    /// Commands are accepted. An initial message must come before any other.
    Open { sent_any: bool },
    /// Our side is complete (finished, or an exception or an error sent): `Transmit::Finish`
    /// follows the queued bytes; `finish_handed_out` once it did.
    Closing { finish_handed_out: bool },
    /// The stream is reset for `cause`: `Transmit::Reset` is next, unless it was handed out or
    /// the transport reset the stream itself (`handed_out`).
    Reset { cause: Reset, handed_out: bool },
}

/// Why our side was reset, as far as commands are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reset {
    /// A cause of ours ([`ResetCause`]).
    Cause(ResetCause),
    /// The transport reset the stream ([`Session::handle_reset`]).
    Transport,
}

/// The peer's side, as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Remote {
    /// Receiving. `received` messages were delivered; `end_frame` once the peer's end frame was
    /// verified; `input_ended` once the transport's input ended.
    Open {
        received: u64,
        end_frame: bool,
        input_ended: bool,
    },
    /// The terminal event was queued: nothing more is received.
    Done,
}

/// One event stream, client or server, RPC or HTTP-binding, as a sans-IO state machine.
///
/// # Drain contract
///
/// - **Input.** Feed the peer's bytes with [`handle_input`](Self::handle_input) (or
///   [`handle_bytes`](Self::handle_bytes)), with the time now. It returns how many bytes it
///   consumed: fewer than given when its queue of received events is full. Keep the rest, drain
///   [`poll_event`](Self::poll_event), then feed the rest again: that is how backpressure reaches
///   the transport. When the peer's bytes end, call
///   [`handle_end_of_input`](Self::handle_end_of_input); when the transport fails,
///   [`handle_reset`](Self::handle_reset).
/// - **Commands.** [`send`](Self::send), [`finish`](Self::finish), [`abort`](Self::abort) and the
///   server's [`send_initial_response`](Self::send_initial_response),
///   [`send_exception`](Self::send_exception) and [`send_error`](Self::send_error) (and the
///   client's [`send_initial_request`](Self::send_initial_request)), or any of them as a
///   [`Command`] through [`apply`](Self::apply), queue wire bytes at once, in call order.
/// - **Output.** After every input or command, drain [`poll_transmit`](Self::poll_transmit) until
///   `None` (bytes to send, then perhaps a half-close or a reset) and
///   [`poll_event`](Self::poll_event) until `None`. A terminal event (`End`, `Exception`, `Error`,
///   `Closed`, `Failed`) is the last one ever yielded.
///
/// Time is always an argument: every input and every command carries the caller's time, which
/// clock-skew checks compare against and which a failure report is signed at. The session never
/// signs with a time the application did not give.
///
/// A failure (bad bytes, a broken signature chain, a sequencing error) poisons the session: it is
/// reported once as [`SessionEvent::Failed`] after the events received before it. When the
/// application polls it, [`Transmit::Reset`] asks the transport to reset the stream (or, for a
/// server configured with
/// [`with_failures_reported_to_peer`](SessionConfig::with_failures_reported_to_peer), one `error`
/// message and [`Transmit::Finish`]), and later commands return [`SendError::Failed`] with the
/// same error. Nothing panics on the peer's bytes.
///
/// # States
///
/// The session is one state per side. Ours (what [`poll_transmit`](Self::poll_transmit) hands
/// out):
///
/// ```text
///            finish / send_exception / send_error          Transmit::Finish
///   Open ───────────────────────────────────────▶ Closing ─────────────────▶ (half-closed)
///    │  abort; the peer's exception or error; a failure polled
///    └───────────────────────────────────────────▶ Reset(cause) ──Transmit::Reset(cause)──▶ (reset)
///                                 handle_reset, from any state: reset, nothing handed out
/// ```
///
/// The peer's (what [`poll_event`](Self::poll_event) yields):
///
/// ```text
///   Open ──(messages: InitialRequest / InitialResponse / Event)──▶ Open
///    │  the end of input, once every event was polled: End (or truncated, missing_end_frame)
///    │  the peer's exception or error; a failure; abort or our own exception or error (Closed)
///    └──────────────────────────────────────────────────────────▶ Done (the terminal event)
/// ```
///
/// [`is_terminated`](Self::is_terminated) is true from the moment the terminal event is queued,
/// and [`error`](Self::error) is `Some` exactly when that terminal event is
/// [`SessionEvent::Failed`].
///
/// ```
/// use bytes::BytesMut;
/// use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent, Transmit};
/// use eventstream::sign::SigningTime;
///
/// let now = SigningTime::from_unix_seconds(1_700_000_000)?;
/// let mut client = Session::new(SessionConfig::new(Role::Client, Mode::Rpc));
/// let mut server = Session::new(SessionConfig::new(Role::Server, Mode::Rpc));
///
/// client.send_initial_request(EventBuilder::initial_request().payload(&b"{}"[..]).build(), now)?;
/// client.send(EventBuilder::new("Ping").payload(&b"1"[..]).build(), now)?;
/// client.finish(now)?;
///
/// // The transport: move the client's bytes to the server, in whatever pieces.
/// let mut wire = BytesMut::new();
/// let mut half_closed = false;
/// while let Some(t) = client.poll_transmit(&mut wire) {
///     half_closed |= t == Transmit::Finish;
/// }
/// let mut input = &wire[..];
/// let mut seen = Vec::new();
/// loop {
///     let n = server.handle_input(input, now);
///     input = &input[n..];
///     if input.is_empty() && half_closed {
///         server.handle_end_of_input(now);
///     }
///     let mut terminal = false;
///     while let Some(event) = server.poll_event() {
///         terminal = event.is_terminal();
///         seen.push(event);
///     }
///     if terminal {
///         break;
///     }
/// }
/// assert!(matches!(seen[0], SessionEvent::InitialRequest(_)));
/// assert!(matches!(&seen[1], SessionEvent::Event(m) if m.header_str(":event-type") == Some("Ping")));
/// assert_eq!(seen[2], SessionEvent::End);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Session {
    config: SessionConfig,
    signer: Box<dyn EventSigner + Send>,
    verifier: Option<Box<dyn EventVerifier + Send>>,
    decoder: FrameDecoder,
    /// Whether the signer's output depends on the time: then a failure report needs a time the
    /// application gave.
    signs_with_time: bool,
    /// The latest time the application gave, with an input or a command.
    now: Option<SigningTime>,
    out: BytesMut,
    local: Local,
    remote: Remote,
    events: VecDeque<SessionEvent>,
    /// The failure the terminal event reports, from the moment it is queued.
    failure: Option<SessionError>,
}

impl Session {
    /// A session that sends unsigned frames ([`Anonymous`]) and verifies nothing.
    pub fn new(config: SessionConfig) -> Self {
        Session {
            config,
            signer: Box::new(Anonymous::default()),
            verifier: None,
            decoder: FrameDecoder::with_limits(config.limits),
            signs_with_time: false,
            now: None,
            out: BytesMut::new(),
            local: Local::Open { sent_any: false },
            remote: Remote::Open {
                received: 0,
                end_frame: false,
                input_ended: false,
            },
            events: VecDeque::new(),
            failure: None,
        }
    }

    /// Signs what this session sends with `signer` (for example a
    /// [`SigV4Signer`](crate::sign::SigV4Signer)).
    #[must_use]
    pub fn with_signer(mut self, signer: impl EventSigner + Send + 'static) -> Self {
        self.set_signer(signer);
        self
    }

    /// Verifies and unwraps what this session receives with `verifier` (for example a
    /// [`SigV4Verifier`](crate::sign::SigV4Verifier)). The peer must then end its side with its
    /// end frame. Input already fed is kept: only frames whose prelude has not arrived yet are
    /// read with the envelope's limits.
    #[must_use]
    pub fn with_verifier(mut self, verifier: impl EventVerifier + Send + 'static) -> Self {
        self.set_verifier(verifier);
        self
    }

    /// Replaces the signer, for example to continue the chain with rotated credentials (see
    /// [`signer_mut`](Self::signer_mut) to change the one in place).
    pub fn set_signer(&mut self, signer: impl EventSigner + Send + 'static) {
        self.signs_with_time = signer.uses_time();
        self.signer = Box::new(signer);
    }

    /// Replaces the verifier. Received frames are then envelopes around messages of the
    /// configured size; input already fed is kept.
    pub fn set_verifier(&mut self, verifier: impl EventVerifier + Send + 'static) {
        self.verifier = Some(Box::new(verifier));
        self.decoder.set_limits(self.config.limits.enveloped());
    }

    /// The signer, if it is a `T`: for example `signer_mut::<SigV4Signer>()` to rotate
    /// credentials without breaking the chain.
    ///
    /// ```
    /// use eventstream::session::{Mode, Role, Session, SessionConfig};
    /// use eventstream::sign::{Credentials, SigV4Signer, SigningParams};
    ///
    /// let params = SigningParams::new(Credentials::new("AKID", "old"), "us-east-1", "demo");
    /// let mut session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding))
    ///     .with_signer(SigV4Signer::new(params, &"00".repeat(32)));
    /// let signer = session.signer_mut::<SigV4Signer>().expect("a SigV4 signer");
    /// signer.set_credentials(Credentials::new("AKID", "new"));
    /// ```
    pub fn signer_mut<T: EventSigner + 'static>(&mut self) -> Option<&mut T> {
        let signer: &mut dyn core::any::Any = &mut *self.signer;
        signer.downcast_mut::<T>()
    }

    /// The verifier, if one is set and it is a `T`: for example
    /// `verifier_mut::<SigV4Verifier>()` to follow the peer's credential rotation.
    pub fn verifier_mut<T: EventVerifier + 'static>(&mut self) -> Option<&mut T> {
        let verifier: &mut dyn core::any::Any = &mut **self.verifier.as_mut()?;
        verifier.downcast_mut::<T>()
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The error the session failed with: `Some` exactly when its terminal event is
    /// [`SessionEvent::Failed`], from the moment that event is queued.
    pub fn error(&self) -> Option<&SessionError> {
        self.failure.as_ref()
    }

    /// Whether the session yielded or queued its terminal event.
    pub fn is_terminated(&self) -> bool {
        self.remote == Remote::Done
    }

    /// The number of wire bytes queued and not yet handed out by `poll_transmit`.
    pub fn pending_transmit_len(&self) -> usize {
        self.out.len()
    }

    /// The received bytes the session holds in a frame not yet complete: what a transport
    /// counts against a memory budget before it feeds more input.
    pub fn buffered_input_len(&self) -> usize {
        self.decoder.buffered_len()
    }

    // ---- commands ----

    /// The failure, once the application polled it: then it takes effect on our side.
    fn applied_failure(&self) -> Option<&SessionError> {
        // The failure is the terminal event, the last one queued: polled once the queue is empty.
        self.failure.as_ref().filter(|_| self.events.is_empty())
    }

    fn check_send(&self) -> Result<(), SendError> {
        if let Some(err) = self.applied_failure() {
            return Err(SendError::Failed(err.clone()));
        }
        match self.local {
            Local::Open { .. } => Ok(()),
            Local::Closing { .. } => Err(SendError::Finished),
            Local::Reset {
                cause: Reset::Cause(ResetCause::StreamOver),
                ..
            } => Err(SendError::StreamOver),
            Local::Reset { .. } => Err(SendError::Aborted),
        }
    }

    fn transmit(&mut self, message: &Message, time: SigningTime) -> Result<(), SendError> {
        self.now = Some(time);
        self.signer
            .sign_to(message, time, &self.config.limits, &mut self.out)?;
        self.local = Local::Open { sent_any: true };
        Ok(())
    }

    /// Runs one [`Command`] at `now`: the same as calling its method.
    ///
    /// # Errors
    ///
    /// The command's own.
    pub fn apply(&mut self, command: Command, now: SigningTime) -> Result<(), SendError> {
        match command {
            Command::InitialRequest(m) => self.send_initial_request(m, now),
            Command::InitialResponse(m) => self.send_initial_response(m, now),
            Command::Send(m) => self.send(m, now),
            Command::Exception(m) => self.send_exception(m, now),
            Command::Error { code, text } => self.send_error(&code, &text, now),
            Command::Finish => self.finish(now),
            Command::Abort => {
                self.abort();
                Ok(())
            }
        }
    }

    fn send_initial(
        &mut self,
        message: Message,
        time: SigningTime,
        role: Role,
        event_type: &'static str,
    ) -> Result<(), SendError> {
        self.check_send()?;
        if self.config.role != role {
            return Err(SendError::NotAllowed(
                "this end of the stream does not send that initial message",
            ));
        }
        if self.config.mode != Mode::Rpc {
            return Err(SendError::NotAllowed(
                "HTTP-binding mode has no initial messages",
            ));
        }
        if self.local != (Local::Open { sent_any: false }) {
            return Err(SendError::InitialMessageNotFirst);
        }
        require_message_type(&message)?;
        match Kind::of(&message) {
            Ok(Kind::Event {
                event_type: Some(t),
            }) if t == event_type => self.transmit(&message, time),
            _ => Err(SendError::WrongKind(
                "the message's :event-type must be the initial message's",
            )),
        }
    }

    /// Sends the RPC initial request (client, RPC mode): it must come before any event, and it is
    /// the first link of the signing chain. Build it with [`EventBuilder::initial_request`].
    ///
    /// # Errors
    ///
    /// [`SendError::InitialMessageNotFirst`] after another message, [`SendError::NotAllowed`] at
    /// a server or in HTTP-binding mode, [`SendError::WrongKind`] for another message, or the
    /// errors of [`send`](Self::send).
    pub fn send_initial_request(
        &mut self,
        message: Message,
        time: SigningTime,
    ) -> Result<(), SendError> {
        self.send_initial(message, time, Role::Client, INITIAL_REQUEST)
    }

    /// Sends the RPC initial response (server, RPC mode), before any event. Build it with
    /// [`EventBuilder::initial_response`].
    ///
    /// # Errors
    ///
    /// As [`send_initial_request`](Self::send_initial_request), at a client.
    pub fn send_initial_response(
        &mut self,
        message: Message,
        time: SigningTime,
    ) -> Result<(), SendError> {
        self.send_initial(message, time, Role::Server, INITIAL_RESPONSE)
    }

    /// Sends an event (a message whose `:message-type` is `event`), signed at `time`.
    ///
    /// A received message without `:message-type` is an event, but nothing this session sends
    /// lacks one: the AWS SDKs fail a stream on such a message. Build events with
    /// [`EventBuilder`].
    ///
    /// # Errors
    ///
    /// [`SendError::Finished`] after `finish` or an exception or error was sent,
    /// [`SendError::StreamOver`] after the peer's exception or error, [`SendError::Aborted`],
    /// [`SendError::Failed`], [`SendError::WrongKind`] for a message without `:message-type`,
    /// for an exception or error (use their own commands) or, in RPC mode, for an initial
    /// message, [`SendError::Sign`] when it cannot be encoded. Nothing is queued on error.
    pub fn send(&mut self, message: Message, time: SigningTime) -> Result<(), SendError> {
        self.check_send()?;
        require_message_type(&message)?;
        match Kind::of(&message) {
            Ok(Kind::Event { event_type }) => {
                let initial = matches!(event_type, Some(INITIAL_REQUEST | INITIAL_RESPONSE));
                if initial && self.config.mode == Mode::Rpc {
                    return Err(SendError::WrongKind(
                        "initial messages are sent with send_initial_*",
                    ));
                }
                self.transmit(&message, time)
            }
            _ => Err(SendError::WrongKind(
                "send takes events; use send_exception or send_error",
            )),
        }
    }

    /// Ends our side cleanly: on a signed stream the signed end frame, then
    /// [`Transmit::Finish`]; an unsigned stream has no end frame, so only the half-close.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn finish(&mut self, time: SigningTime) -> Result<(), SendError> {
        self.check_send()?;
        self.now = Some(time);
        self.signer.sign_end_to(time, &mut self.out)?;
        self.local = Local::Closing {
            finish_handed_out: false,
        };
        Ok(())
    }

    fn send_final(&mut self, message: Message, time: SigningTime) -> Result<(), SendError> {
        self.check_send()?;
        if self.config.role != Role::Server {
            return Err(SendError::NotAllowed(
                "only a server ends the stream with an exception or an error",
            ));
        }
        self.transmit(&message, time)?;
        self.local = Local::Closing {
            finish_handed_out: false,
        };
        self.terminate(SessionEvent::Closed);
        Ok(())
    }

    /// Ends the stream with a modeled error (server only): the message, then
    /// [`Transmit::Finish`]. The stream is over for both sides: what the client still sends is
    /// discarded, and the session's terminal event is [`SessionEvent::Closed`].
    /// Build it with [`ExceptionBuilder`].
    ///
    /// # Errors
    ///
    /// [`SendError::NotAllowed`] at a client, [`SendError::WrongKind`] for another kind of
    /// message, or the errors of [`send`](Self::send).
    pub fn send_exception(&mut self, message: Message, time: SigningTime) -> Result<(), SendError> {
        if !matches!(Kind::of(&message), Ok(Kind::Exception { .. })) {
            return Err(SendError::WrongKind(
                "send_exception takes an exception message",
            ));
        }
        self.send_final(message, time)
    }

    /// Ends the stream with an unmodeled error (server only): `:error-code` and `:error-message`,
    /// then [`Transmit::Finish`]; as [`send_exception`](Self::send_exception).
    ///
    /// # Errors
    ///
    /// As [`send_exception`](Self::send_exception).
    pub fn send_error(
        &mut self,
        code: &str,
        text: &str,
        time: SigningTime,
    ) -> Result<(), SendError> {
        self.send_final(error_message(code, text), time)
    }

    /// Aborts the stream: queued bytes are dropped, [`Transmit::Reset`] is next (also after our
    /// side finished: the reset cancels what the peer still sends), and the terminal event is
    /// [`SessionEvent::Closed`] (unless one was already queued). Idempotent.
    pub fn abort(&mut self) {
        if !matches!(self.local, Local::Reset { .. }) {
            self.reset(ResetCause::Aborted);
        }
        self.terminate(SessionEvent::Closed);
    }

    fn reset(&mut self, cause: ResetCause) {
        self.out.clear();
        self.local = Local::Reset {
            cause: Reset::Cause(cause),
            handed_out: false,
        };
    }

    // ---- output ----

    /// The next thing for the transport to do: bytes appended to `dst`, then, once our side is
    /// complete, [`Transmit::Finish`] or [`Transmit::Reset`]. `None` when there is nothing to do
    /// now.
    #[must_use = "queued wire bytes must be sent"]
    pub fn poll_transmit(&mut self, dst: &mut BytesMut) -> Option<Transmit> {
        match &mut self.local {
            Local::Reset {
                handed_out: true, ..
            } => return None,
            Local::Reset { cause, handed_out } => {
                *handed_out = true;
                // A transport reset is marked handed out when it happens.
                let Reset::Cause(cause) = *cause else {
                    return None;
                };
                return Some(Transmit::Reset(cause));
            }
            _ => {}
        }
        if !self.out.is_empty() {
            let n = self.out.len();
            if dst.is_empty() {
                // Hand our buffer over and keep the caller's (empty) one: no copy.
                core::mem::swap(dst, &mut self.out);
            } else {
                dst.extend_from_slice(&self.out);
                self.out.clear();
            }
            return Some(Transmit::Data(n));
        }
        match &mut self.local {
            Local::Closing { finish_handed_out } if !*finish_handed_out => {
                *finish_handed_out = true;
                Some(Transmit::Finish)
            }
            _ => None,
        }
    }

    /// Takes back `pending`, bytes [`poll_transmit`](Self::poll_transmit) handed out that are
    /// not written yet, as the start of the queue, so that frames queued next are encoded after
    /// them in the same buffer instead of being copied there later. `pending` is left with the
    /// session's empty buffer. Only while our side is open and nothing is queued; returns
    /// whether it took them.
    pub(crate) fn requeue(&mut self, pending: &mut BytesMut) -> bool {
        if !self.out.is_empty() || !matches!(self.local, Local::Open { .. }) {
            return false;
        }
        core::mem::swap(&mut self.out, pending);
        true
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) has something to hand out: bytes, a
    /// half-close or a reset.
    pub fn wants_transmit(&self) -> bool {
        match self.local {
            Local::Reset {
                cause: Reset::Cause(_),
                handed_out,
            } => !handed_out,
            Local::Reset { .. } => false,
            Local::Closing { finish_handed_out } => !self.out.is_empty() || !finish_handed_out,
            Local::Open { .. } => !self.out.is_empty(),
        }
    }

    /// The next thing the application must see, or `None` for now. See [`SessionEvent`].
    #[must_use = "events carry the peer's data and the session's failures"]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.pump();
        let event = self.events.pop_front();
        match &event {
            // The failure takes effect as the application learns of it, so that the events
            // queued before it can still be answered.
            Some(SessionEvent::Failed(error)) => self.apply_failure(error.clone()),
            // Room was made: frames already buffered may now be delivered.
            Some(_) => self.pump(),
            None => {}
        }
        event
    }

    /// The number of received events waiting for [`poll_event`](Self::poll_event).
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    // ---- input ----

    fn accepting(&self) -> bool {
        matches!(
            self.remote,
            Remote::Open {
                input_ended: false,
                ..
            }
        )
    }

    fn has_room(&self) -> bool {
        self.events.len() < self.config.max_queued_events
    }

    /// Feeds the peer's bytes, received at `now`; returns how many were consumed.
    ///
    /// Consumes bytes only while the received-event queue has room, so a slow application holds
    /// the peer back: feed the rest again after draining [`poll_event`](Self::poll_event). Once the
    /// session has a terminal event (or input has ended), bytes are discarded and counted as
    /// consumed. `now` is what clock-skew checks compare against, and the time a failure report
    /// is signed at.
    #[must_use = "the bytes not consumed must be fed again"]
    pub fn handle_input(&mut self, data: &[u8], now: SigningTime) -> usize {
        self.now = Some(now);
        self.handle_with(data, |decoder, from, to| {
            decoder.handle_input(&data[from..to])
        })
    }

    /// As [`handle_input`](Self::handle_input), for bytes the caller owns as `Bytes`: whole frames
    /// are not copied.
    #[must_use = "the bytes not consumed must be fed again"]
    pub fn handle_bytes(&mut self, data: &Bytes, now: SigningTime) -> usize {
        self.now = Some(now);
        self.handle_with(data, |decoder, from, to| {
            decoder.handle_bytes(&data.slice(from..to))
        })
    }

    fn handle_with(
        &mut self,
        data: &[u8],
        mut feed: impl FnMut(&mut FrameDecoder, usize, usize),
    ) -> usize {
        let len = data.len();
        let mut at = 0;
        while at < len && self.accepting() {
            self.pump();
            if !self.accepting() || !self.has_room() {
                break;
            }
            // Feed exactly what completes the next prelude or frame, so that the decoder never
            // holds more than one frame.
            let need = match data.get(at..at + PRELUDE_LEN) {
                // At a frame boundary with the whole prelude in hand: feed the whole frame at
                // once, so that a frame inside `Bytes` is split off without a copy. The decoder
                // checks the prelude before it trusts the length.
                Some(p) if self.decoder.buffered_len() == 0 => {
                    let total = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                    (total as usize).max(PRELUDE_LEN)
                }
                _ => self.decoder.bytes_needed(),
            };
            if need == 0 {
                // The pump could not deliver a ready frame: only possible while failing.
                break;
            }
            let n = need.min(len - at);
            feed(&mut self.decoder, at, at + n);
            at += n;
        }
        self.pump();
        if !self.accepting() {
            return len;
        }
        at
    }

    /// Declares that the transport reset the stream or lost the connection (HTTP/2
    /// RST_STREAM or GOAWAY, a socket error), for `reason`. Unless the session already had its
    /// terminal event, it fails with [`SessionError::Reset`] after the events already received.
    /// Nothing more is sent, and no [`Transmit::Reset`] is asked for, since the stream is gone;
    /// later commands are refused.
    pub fn handle_reset(&mut self, reason: impl Into<alloc::borrow::Cow<'static, str>>) {
        // The stream is gone whatever was received: nothing more goes out.
        self.out.clear();
        self.local = Local::Reset {
            cause: Reset::Transport,
            handed_out: true,
        };
        self.fail(SessionError::Reset {
            reason: reason.into(),
        });
    }

    /// Declares the end of the peer's bytes (the transport's end of stream) at `now`. A partial
    /// frame is then a failure (`truncated`); so is a missing end frame when a verifier is set.
    /// Otherwise the terminal event is [`SessionEvent::End`], once every received event has been
    /// polled.
    pub fn handle_end_of_input(&mut self, now: SigningTime) {
        self.now = Some(now);
        if let Remote::Open { input_ended, .. } = &mut self.remote {
            *input_ended = true;
        }
        self.pump();
    }

    /// Moves decoded frames into the event queue while it has room; at the end of input, once
    /// everything was delivered, decides the terminal event.
    fn pump(&mut self) {
        while self.remote != Remote::Done && self.has_room() {
            match self.decoder.poll_message() {
                Ok(Some(message)) => self.receive(message),
                Ok(None) => break,
                Err(e) => {
                    // With a verifier the decoder reads envelopes with larger limits; the error
                    // names the limit the application configured.
                    let e = match self.verifier {
                        Some(_) => self.config.limits.name_in_enveloped_error(e),
                        None => e,
                    };
                    self.fail(e.into());
                }
            }
        }
        if let Remote::Open {
            input_ended: true, ..
        } = self.remote
        {
            if self.has_room() {
                self.end_of_input();
            }
        }
    }

    fn end_of_input(&mut self) {
        if let Err(e) = self.decoder.handle_end_of_input() {
            return self.fail(e.into());
        }
        if let Some(v) = self.verifier.as_mut() {
            if let Err(e) = v.handle_end_of_input() {
                return self.fail(e.into());
            }
        }
        self.terminate(SessionEvent::End);
    }

    fn receive(&mut self, message: Message) {
        let Remote::Open {
            received: before,
            end_frame,
            input_ended,
        } = self.remote
        else {
            return;
        };
        if end_frame {
            return self.fail(ProtocolError::FrameAfterEnd.into());
        }
        let message = match self.verifier.as_mut() {
            Some(v) => match v.verify(&message, &self.config.limits, self.now) {
                Ok(Verified::Message(inner)) => inner,
                Ok(Verified::End) => {
                    self.remote = Remote::Open {
                        received: before,
                        end_frame: true,
                        input_ended,
                    };
                    return;
                }
                Err(e) => return self.fail(e.into()),
            },
            // Decoded with the configured limits; an unsigned stream has no end frame, so even
            // the empty message is an event.
            None => message,
        };
        self.remote = Remote::Open {
            received: before + 1,
            end_frame,
            input_ended,
        };
        let first = before == 0;
        let event = match Kind::of(&message) {
            Err(e) => return self.fail(e.into()),
            Ok(Kind::Event { event_type }) => {
                match (self.config.mode, self.config.role, event_type) {
                    (Mode::Rpc, Role::Server, Some(INITIAL_REQUEST)) if first => {
                        SessionEvent::InitialRequest(message)
                    }
                    (Mode::Rpc, Role::Server, Some(INITIAL_REQUEST)) => {
                        return self.fail(
                            ProtocolError::InitialRequestAfterEvents { events: before }.into(),
                        )
                    }
                    (Mode::Rpc, Role::Client, Some(INITIAL_RESPONSE)) if first => {
                        SessionEvent::InitialResponse(message)
                    }
                    (Mode::Rpc, Role::Client, Some(INITIAL_RESPONSE)) => {
                        return self.fail(
                            ProtocolError::InitialResponseAfterEvents { events: before }.into(),
                        )
                    }
                    (Mode::Rpc, Role::Client, Some(INITIAL_REQUEST)) => {
                        return self.fail(
                            ProtocolError::MisdirectedInitialMessage {
                                event_type: INITIAL_REQUEST,
                            }
                            .into(),
                        )
                    }
                    (Mode::Rpc, Role::Server, Some(INITIAL_RESPONSE)) => {
                        return self.fail(
                            ProtocolError::MisdirectedInitialMessage {
                                event_type: INITIAL_RESPONSE,
                            }
                            .into(),
                        )
                    }
                    _ => SessionEvent::Event(message),
                }
            }
            Ok(Kind::Exception { exception_type }) => SessionEvent::Exception {
                exception_type: ByteString::from(exception_type),
                message: message.clone(),
            },
            Ok(Kind::Error { code, text }) => SessionEvent::Error {
                code: ByteString::from(code),
                text: ByteString::from(text),
                message: message.clone(),
            },
        };
        if event.is_terminal() {
            // The peer's exception or error ends the stream for both sides: what we still had
            // to send is moot, and the transport is asked to reset our side.
            if let Local::Open { .. } = self.local {
                self.reset(ResetCause::StreamOver);
            }
            self.terminate(event);
        } else {
            self.events.push_back(event);
        }
    }

    fn terminate(&mut self, event: SessionEvent) {
        if self.remote != Remote::Done {
            self.remote = Remote::Done;
            if let SessionEvent::Failed(e) = &event {
                self.failure = Some(e.clone());
            }
            self.events.push_back(event);
        }
    }

    /// Ends the input side with a failure. It takes effect on the sending side when the
    /// application polls it ([`apply_failure`](Self::apply_failure)).
    fn fail(&mut self, error: SessionError) {
        self.terminate(SessionEvent::Failed(error));
    }

    fn apply_failure(&mut self, error: SessionError) {
        if !matches!(self.local, Local::Open { .. }) {
            // Our side is complete or reset already: nothing more to say.
            if let Local::Closing { .. } = self.local {
                self.reset(ResetCause::Failed);
            }
            return;
        }
        let report = self.config.report_failures && self.config.role == Role::Server;
        // Never sign with a time the application did not give: without one, a signed stream
        // is reset instead. An unsigned report carries no time.
        let time = match (self.now, self.signs_with_time) {
            (Some(t), _) => Some(t),
            (None, false) => Some(SigningTime::EPOCH),
            (None, true) => None,
        };
        if let (true, Some(time)) = (report, time) {
            // What was queued before still goes out, then the error message and the end.
            let reply = error_message(error.kind(), alloc::string::ToString::to_string(&error));
            if self
                .signer
                .sign_to(&reply, time, &self.config.limits, &mut self.out)
                .is_ok()
            {
                self.local = Local::Closing {
                    finish_handed_out: false,
                };
                return;
            }
        }
        self.reset(ResetCause::Failed);
    }
}

/// Nothing a session sends lacks `:message-type`: the AWS SDKs fail a stream on such a message.
fn require_message_type(message: &Message) -> Result<(), SendError> {
    match message.header(MESSAGE_TYPE) {
        Some(_) => Ok(()),
        None => Err(SendError::WrongKind(
            "a message sent needs a :message-type header (build it with EventBuilder)",
        )),
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.config)
            .field("decoder", &self.decoder)
            .field("pending_transmit", &self.out.len())
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("queued_events", &self.events.len())
            .field("error", &self.failure)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
