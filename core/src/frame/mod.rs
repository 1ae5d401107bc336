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

pub use bytestring::ByteString;
pub use decode::{FrameDecoder, MIN_FRAME_LEN, PRELUDE_LEN};
pub use error::{EncodeError, FrameError};
pub use header::{Header, HeaderValue, MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN};
pub use limits::Limits;
pub use message::Message;

#[cfg(test)]
mod tests;
