//! The message model: ordered headers and a payload.

use super::header::{Header, HeaderValue};
use alloc::vec::Vec;
use bytes::Bytes;
use bytestring::ByteString;
use core::fmt;

/// One event stream message: headers in wire order, then a payload.
///
/// Names may repeat (the wire allows it); the lookup helpers return the first header with a name.
/// A decoded message's payload and its byte array and string values are views into the frame it
/// was decoded from. `Debug` shows the headers and the payload's length, never the payload.
///
/// ```
/// use eventstream::frame::{HeaderValue, Message};
///
/// let msg = Message::new(&b"{\"text\":\"hi\"}"[..])
///     .with_header(":message-type", "event")
///     .with_header(":event-type", "Chunk")
///     .with_header("seq", 7i64);
///
/// assert_eq!(msg.header_str(":event-type"), Some("Chunk"));
/// assert_eq!(msg.header("seq"), Some(&HeaderValue::Long(7)));
/// assert_eq!(msg.payload().len(), 13);
/// assert_eq!(format!("{msg:?}"), r#"Message { headers: [":message-type": String("event"), ":event-type": String("Chunk"), "seq": Long(7)], payload_len: 13 }"#);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Message {
    headers: Vec<Header>,
    payload: Bytes,
}

impl Message {
    /// A message with no headers and this payload.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Message {
            headers: Vec::new(),
            payload: payload.into(),
        }
    }

    /// A message from its parts.
    pub fn from_parts(headers: Vec<Header>, payload: Bytes) -> Self {
        Message { headers, payload }
    }

    /// Appends a header and returns the message, for building messages in one expression.
    #[must_use]
    pub fn with_header(
        mut self,
        name: impl Into<ByteString>,
        value: impl Into<HeaderValue>,
    ) -> Self {
        self.headers.push(Header::new(name, value));
        self
    }

    /// Appends a header (after any with the same name).
    pub fn push_header(&mut self, header: Header) {
        self.headers.push(header);
    }

    /// The headers, in wire order.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The headers, to edit in place.
    pub fn headers_mut(&mut self) -> &mut Vec<Header> {
        &mut self.headers
    }

    /// The value of the first header with this name.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|h| h.name() == name)
            .map(Header::value)
    }

    /// The values of every header with this name, in wire order.
    pub fn headers_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a HeaderValue> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name() == name)
            .map(Header::value)
    }

    /// The first header with this name, if it is a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(HeaderValue::as_str)
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Replaces the payload.
    pub fn set_payload(&mut self, payload: impl Into<Bytes>) {
        self.payload = payload.into();
    }

    /// The headers and the payload.
    pub fn into_parts(self) -> (Vec<Header>, Bytes) {
        (self.headers, self.payload)
    }

    /// The length of the encoded header block.
    pub fn headers_len(&self) -> usize {
        self.headers.iter().map(Header::encoded_len).sum()
    }

    /// The exact length of the encoded frame: 16 bytes of prelude and checksums, the header block
    /// and the payload. Use it to reserve space once before [`Message::encode`].
    pub fn encoded_len(&self) -> usize {
        16 + self.headers_len() + self.payload.len()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("headers", &self.headers)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}
