//! Layer 1: the binary message format.
//!
//! ```text
//! | total_length u32 | headers_length u32 | prelude_crc u32 | headers | payload | message_crc u32 |
//! ```
//!
//! [`Message`], [`Header`] and [`HeaderValue`] model a frame; [`Message::encode`] appends one to a
//! caller-owned buffer; [`FrameDecoder`] turns bytes into checked messages, whatever the pieces
//! they arrive in; [`Limits`] bounds both; [`FrameError`] and [`EncodeError`] say what was wrong.

mod decode;
mod encode;
mod error;
mod header;
mod limits;
mod message;

/// The type of header names and string values: UTF-8 text that shares the frame's `Bytes`.
///
/// It stays in the public API on purpose: a decoded header name or value is a view into the
/// frame that was received, checked once for UTF-8, so that handing it to the application (or
/// echoing it) copies nothing, and cloning it is a reference count. A `String` would cost an
/// allocation and a copy per header; `&str` could not outlive the decoder's buffer. It converts
/// from `&'static str` and `String`, and derefs to `str`.
pub use bytestring::ByteString;
pub(crate) use decode::decode_exact;
pub use decode::{FrameDecoder, MIN_FRAME_LEN, PRELUDE_LEN};
pub(crate) use encode::validate;
pub use error::{EncodeError, FrameError};
pub use header::{Header, HeaderValue, MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN};
pub use limits::Limits;
pub use message::Message;

#[cfg(test)]
mod tests;
