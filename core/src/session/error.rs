//! Errors of the session layer.

use crate::frame::FrameError;
use crate::sign::{SignError, VerifyError};
use alloc::borrow::Cow;
use alloc::string::String;

/// The peer broke the protocol's sequencing rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// `initial-response` arrived after events (RPC client).
    #[error("initial-response arrived after {events} events; it may only come first")]
    InitialResponseAfterEvents {
        /// How many messages came before it.
        events: u64,
    },
    /// `initial-request` arrived after events (RPC server).
    #[error("initial-request arrived after {events} events; it may only come first")]
    InitialRequestAfterEvents {
        /// How many messages came before it.
        events: u64,
    },
    /// An initial message arrived at the wrong end: `initial-request` at a client or
    /// `initial-response` at a server.
    #[error("{event_type} is not for this end of the stream")]
    MisdirectedInitialMessage {
        /// The message's `:event-type`.
        event_type: &'static str,
    },
    /// A frame arrived after the peer's end frame.
    #[error("a frame arrived after the peer's end frame")]
    FrameAfterEnd,
    /// `:message-type` is not `event`, `exception` or `error`.
    #[error("unknown :message-type {message_type:?}")]
    UnknownMessageType {
        /// The value found.
        message_type: String,
    },
    /// A header the message's kind requires is missing or not a string.
    #[error("the message lacks the string header {name}")]
    MissingHeader {
        /// The header's name.
        name: &'static str,
    },
}

impl ProtocolError {
    /// A stable `snake_case` name for the error.
    pub const fn kind(&self) -> &'static str {
        match self {
            ProtocolError::InitialResponseAfterEvents { .. } => "initial_response_after_events",
            ProtocolError::InitialRequestAfterEvents { .. } => "initial_request_after_events",
            ProtocolError::MisdirectedInitialMessage { .. } => "misdirected_initial_message",
            ProtocolError::FrameAfterEnd => "frame_after_end",
            ProtocolError::UnknownMessageType { .. } => "unknown_message_type",
            ProtocolError::MissingHeader { .. } => "missing_header",
        }
    }
}

/// Why a session failed. Every failure is fatal: it is reported once as
/// [`SessionEvent::Failed`](super::SessionEvent::Failed), and every later command returns it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer's bytes are not valid frames.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer's signing chain is broken.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The peer broke the sequencing rules.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The transport reset the stream or lost the connection
    /// ([`Session::handle_reset`](super::Session::handle_reset)).
    #[error("the stream was reset or its connection lost: {reason}")]
    Reset {
        /// What the transport reported.
        reason: Cow<'static, str>,
    },
}

impl SessionError {
    /// A stable `snake_case` name: the kind of the underlying error.
    pub const fn kind(&self) -> &'static str {
        match self {
            SessionError::Frame(e) => e.kind(),
            SessionError::Verify(e) => e.kind(),
            SessionError::Protocol(e) => e.kind(),
            SessionError::Reset { .. } => "reset",
        }
    }
}

/// Why the application's command was refused. Refusals do not harm the session, except
/// [`SendError::Failed`], which reports that it had already failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Our side of the stream is closed: `finish`, an exception or an error was sent.
    #[error("our side of the stream is closed")]
    Finished,
    /// The peer ended the stream with an exception or an error.
    #[error("the peer ended the stream with an exception or an error")]
    StreamOver,
    /// The stream was aborted.
    #[error("the stream was aborted")]
    Aborted,
    /// The session had failed.
    #[error("the session failed: {0}")]
    Failed(SessionError),
    /// This end of the stream, or this mode, cannot send that: for example an exception from a
    /// client, or an initial message in HTTP-binding mode.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// An initial message must be the first message sent.
    #[error("the initial message must be the first message sent")]
    InitialMessageNotFirst,
    /// The message is not of the kind the command sends (for example `send` with an exception,
    /// or `send_initial_request` with another event type).
    #[error("wrong kind of message: {0}")]
    WrongKind(&'static str),
    /// The message could not be signed or encoded.
    #[error(transparent)]
    Sign(#[from] SignError),
}

impl SendError {
    /// A stable `snake_case` name for the error.
    pub const fn kind(&self) -> &'static str {
        match self {
            SendError::Finished => "finished",
            SendError::StreamOver => "stream_over",
            SendError::Aborted => "aborted",
            SendError::Failed(e) => e.kind(),
            SendError::NotAllowed(_) => "not_allowed",
            SendError::InitialMessageNotFirst => "initial_message_not_first",
            SendError::WrongKind(_) => "wrong_kind",
            SendError::Sign(e) => e.kind(),
        }
    }

    /// Whether the session refused this message only: the message is of the wrong kind for the
    /// command, or cannot be encoded within the limits. Nothing was queued, and the session can
    /// still send (an `error` message, say). False when the stream itself can send no more.
    ///
    /// ```
    /// use eventstream::frame::Message;
    /// use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig};
    /// use eventstream::sign::SigningTime;
    ///
    /// let now = SigningTime::from_unix_seconds(0)?;
    /// let mut server = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
    /// let refused = server.send(Message::new(&b"no :message-type"[..]), now).unwrap_err();
    /// assert!(refused.is_refusal());
    /// server.send_error("wrong_kind", &refused.to_string(), now)?;
    /// assert!(!server.send(EventBuilder::new("Late").build(), now).unwrap_err().is_refusal());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn is_refusal(&self) -> bool {
        matches!(
            self,
            SendError::NotAllowed(_)
                | SendError::InitialMessageNotFirst
                | SendError::WrongKind(_)
                | SendError::Sign(SignError::Encode(_))
        )
    }
}
