//! A typed view over messages: what kind of message it is, builders for each kind, and the
//! `Marshal` / `Unmarshal` traits that turn an application's own event types into messages.

use super::error::ProtocolError;
use crate::frame::{ByteString, Header, HeaderValue, Message};
use alloc::string::String;
use bytes::Bytes;

/// `:message-type`: `event`, `exception` or `error`; absent means `event`.
pub const MESSAGE_TYPE: &str = ":message-type";
/// `:event-type`: the name of a modeled event.
pub const EVENT_TYPE: &str = ":event-type";
/// `:exception-type`: the name of a modeled error.
pub const EXCEPTION_TYPE: &str = ":exception-type";
/// `:error-code`: the code of an unmodeled error.
pub const ERROR_CODE: &str = ":error-code";
/// `:error-message`: the text of an unmodeled error.
pub const ERROR_MESSAGE: &str = ":error-message";
/// `:content-type`: the media type of the payload.
pub const CONTENT_TYPE: &str = ":content-type";
/// The `:event-type` of the message that carries an RPC operation's non-stream input.
pub const INITIAL_REQUEST: &str = "initial-request";
/// The `:event-type` of the message that carries an RPC operation's non-stream output.
pub const INITIAL_RESPONSE: &str = "initial-response";

/// What a message is, read from its `:message-type` and the headers that go with it.
///
/// ```
/// use eventstream::session::{EventBuilder, ExceptionBuilder, Kind};
///
/// let ev = EventBuilder::new("Chunk").content_type("application/json").payload(&b"{}"[..]).build();
/// assert_eq!(Kind::of(&ev)?, Kind::Event { event_type: Some("Chunk") });
/// let ex = ExceptionBuilder::new("ThrottlingException").payload(&b"slow down"[..]).build();
/// assert_eq!(Kind::of(&ex)?, Kind::Exception { exception_type: "ThrottlingException" });
/// # Ok::<(), eventstream::session::ProtocolError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A modeled event (`:message-type` `event` or absent), with its `:event-type` if it has one.
    Event {
        /// The `:event-type`.
        event_type: Option<&'a str>,
    },
    /// A modeled error that ends the stream.
    Exception {
        /// The `:exception-type`.
        exception_type: &'a str,
    },
    /// An unmodeled error that ends the stream.
    Error {
        /// The `:error-code`.
        code: &'a str,
        /// The `:error-message`, empty when absent.
        text: &'a str,
    },
}

impl<'a> Kind<'a> {
    /// Reads a message's kind.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::UnknownMessageType`] for a `:message-type` other than the three, or one
    /// that is not a string; [`ProtocolError::MissingHeader`] for an exception without
    /// `:exception-type` or an error without `:error-code`.
    pub fn of(message: &'a Message) -> Result<Kind<'a>, ProtocolError> {
        let message_type = match message.header(MESSAGE_TYPE) {
            None => "event",
            Some(HeaderValue::String(s)) => &**s,
            Some(_) => {
                return Err(ProtocolError::UnknownMessageType {
                    message_type: "<not a string>".into(),
                })
            }
        };
        match message_type {
            "event" => Ok(Kind::Event {
                event_type: message.header_str(EVENT_TYPE),
            }),
            "exception" => Ok(Kind::Exception {
                exception_type: message.header_str(EXCEPTION_TYPE).ok_or(
                    ProtocolError::MissingHeader {
                        name: EXCEPTION_TYPE,
                    },
                )?,
            }),
            "error" => Ok(Kind::Error {
                code: message
                    .header_str(ERROR_CODE)
                    .ok_or(ProtocolError::MissingHeader { name: ERROR_CODE })?,
                text: message.header_str(ERROR_MESSAGE).unwrap_or(""),
            }),
            other => Err(ProtocolError::UnknownMessageType {
                message_type: other.into(),
            }),
        }
    }
}

/// Builds an event message: `:message-type` `event`, `:event-type`, optionally `:content-type`,
/// extra headers, a payload.
///
/// ```
/// use eventstream::session::EventBuilder;
///
/// let m = EventBuilder::new("AudioEvent")
///     .content_type("application/octet-stream")
///     .header("seq", 3i64)
///     .payload(vec![0u8; 320])
///     .build();
/// assert_eq!(m.header_str(":event-type"), Some("AudioEvent"));
/// assert_eq!(m.headers().len(), 4);
/// ```
#[derive(Clone, Debug)]
pub struct EventBuilder {
    message: Message,
}

fn static_name(name: &'static str) -> ByteString {
    ByteString::from_static(name)
}

impl EventBuilder {
    /// An event of this `:event-type`.
    pub fn new(event_type: impl Into<ByteString>) -> Self {
        let message = Message::default()
            .with_header(static_name(MESSAGE_TYPE), HeaderValue::from_static("event"))
            .with_header(
                static_name(EVENT_TYPE),
                HeaderValue::String(event_type.into()),
            );
        EventBuilder { message }
    }

    /// The `initial-request` event of an RPC operation.
    pub fn initial_request() -> Self {
        Self::new(ByteString::from_static(INITIAL_REQUEST))
    }

    /// The `initial-response` event of an RPC operation.
    pub fn initial_response() -> Self {
        Self::new(ByteString::from_static(INITIAL_RESPONSE))
    }

    /// Sets `:content-type`.
    #[must_use]
    pub fn content_type(self, content_type: impl Into<ByteString>) -> Self {
        self.header(
            static_name(CONTENT_TYPE),
            HeaderValue::String(content_type.into()),
        )
    }

    /// Appends a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<ByteString>, value: impl Into<HeaderValue>) -> Self {
        self.message.push_header(Header::new(name, value));
        self
    }

    /// Sets the payload.
    #[must_use]
    pub fn payload(mut self, payload: impl Into<Bytes>) -> Self {
        self.message.set_payload(payload);
        self
    }

    /// The message.
    pub fn build(self) -> Message {
        self.message
    }
}

/// Builds an exception message: `:message-type` `exception`, `:exception-type`, optionally
/// `:content-type`, a payload.
#[derive(Clone, Debug)]
pub struct ExceptionBuilder {
    message: Message,
}

impl ExceptionBuilder {
    /// An exception of this `:exception-type`.
    pub fn new(exception_type: impl Into<ByteString>) -> Self {
        let message = Message::default()
            .with_header(
                static_name(MESSAGE_TYPE),
                HeaderValue::from_static("exception"),
            )
            .with_header(
                static_name(EXCEPTION_TYPE),
                HeaderValue::String(exception_type.into()),
            );
        ExceptionBuilder { message }
    }

    /// Sets `:content-type`.
    #[must_use]
    pub fn content_type(mut self, content_type: impl Into<ByteString>) -> Self {
        self.message.push_header(Header::new(
            static_name(CONTENT_TYPE),
            HeaderValue::String(content_type.into()),
        ));
        self
    }

    /// Sets the payload.
    #[must_use]
    pub fn payload(mut self, payload: impl Into<Bytes>) -> Self {
        self.message.set_payload(payload);
        self
    }

    /// The message.
    pub fn build(self) -> Message {
        self.message
    }
}

/// An unmodeled error message: `:message-type` `error`, `:error-code`, `:error-message`, no payload.
///
/// ```
/// use eventstream::session::{error_message, Kind};
///
/// let m = error_message("InternalFailure", "try again");
/// assert_eq!(Kind::of(&m)?, Kind::Error { code: "InternalFailure", text: "try again" });
/// # Ok::<(), eventstream::session::ProtocolError>(())
/// ```
pub fn error_message(code: impl Into<ByteString>, text: impl Into<ByteString>) -> Message {
    Message::default()
        .with_header(static_name(MESSAGE_TYPE), HeaderValue::from_static("error"))
        .with_header(static_name(ERROR_CODE), HeaderValue::String(code.into()))
        .with_header(static_name(ERROR_MESSAGE), HeaderValue::String(text.into()))
}

/// Why an application value could not become a message, or a message an application value.
///
/// ```
/// use eventstream::session::MarshalError;
///
/// let e = MarshalError::new("missing field `text`");
/// assert_eq!(e.to_string(), "missing field `text`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MarshalError {
    message: String,
}

impl MarshalError {
    /// An error that says `message` (for example a serializer's error, displayed).
    pub fn new(message: impl core::fmt::Display) -> Self {
        MarshalError {
            message: alloc::string::ToString::to_string(&message),
        }
    }
}

/// Turns an application's event into a message.
///
/// See [`Unmarshal`] for a worked example; `core/examples/marshal_json.rs` has one with serde_json
/// payloads.
pub trait Marshal {
    /// The message for this value.
    ///
    /// # Errors
    ///
    /// A [`MarshalError`] when the value cannot be serialized.
    fn marshal(&self) -> Result<Message, MarshalError>;
}

/// What [`Unmarshal::unmarshal`] makes of a message: a known event, or one whose `:event-type`
/// the application does not know, surfaced rather than dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unmarshalled<T> {
    /// An event the application knows.
    Known(T),
    /// An event with an `:event-type` the application does not handle (or none at all).
    Unknown {
        /// Its `:event-type`, if it has one.
        event_type: Option<String>,
        /// The whole message.
        message: Message,
    },
}

/// Turns a message into an application's event, dispatching on `:event-type`.
///
/// ```
/// use eventstream::frame::Message;
/// use eventstream::session::{EventBuilder, Kind, Marshal, MarshalError, Unmarshal, Unmarshalled};
///
/// #[derive(Debug, PartialEq)]
/// enum Transcript { Partial(String), Final(String) }
///
/// impl Marshal for Transcript {
///     fn marshal(&self) -> Result<Message, MarshalError> {
///         let (ty, text) = match self { Transcript::Partial(t) => ("Partial", t), Transcript::Final(t) => ("Final", t) };
///         Ok(EventBuilder::new(ty).content_type("text/plain").payload(text.clone().into_bytes()).build())
///     }
/// }
///
/// impl Unmarshal for Transcript {
///     fn unmarshal(m: &Message) -> Result<Unmarshalled<Self>, MarshalError> {
///         let text = || String::from_utf8(m.payload().to_vec()).map_err(MarshalError::new);
///         Ok(match m.header_str(":event-type") {
///             Some("Partial") => Unmarshalled::Known(Transcript::Partial(text()?)),
///             Some("Final") => Unmarshalled::Known(Transcript::Final(text()?)),
///             other => Unmarshalled::Unknown { event_type: other.map(String::from), message: m.clone() },
///         })
///     }
/// }
///
/// let m = Transcript::Final("hello".into()).marshal()?;
/// assert_eq!(Transcript::unmarshal(&m)?, Unmarshalled::Known(Transcript::Final("hello".into())));
/// let other = EventBuilder::new("Stats").build();
/// assert!(matches!(Transcript::unmarshal(&other)?, Unmarshalled::Unknown { event_type: Some(t), .. } if t == "Stats"));
/// # Ok::<(), MarshalError>(())
/// ```
pub trait Unmarshal: Sized {
    /// The application's value for this message.
    ///
    /// # Errors
    ///
    /// A [`MarshalError`] when a known event's payload cannot be deserialized.
    fn unmarshal(message: &Message) -> Result<Unmarshalled<Self>, MarshalError>;
}
