//! Errors of the frame layer.

use bytestring::ByteString;

/// Why bytes from the peer are not a valid frame.
///
/// Every error is fatal to the [`FrameDecoder`](super::FrameDecoder) that reported it: framing is
/// lost, there is no resynchronisation, and the decoder returns the same error from then on.
/// Offsets count bytes from the start of the input the decoder was fed; `frame_offset` is where
/// the bad frame starts.
///
/// [`FrameError::kind`] gives a stable `snake_case` name for each variant, used by the `evs` tool
/// and the tests.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The input ended inside a frame.
    #[error("input ended inside the frame at offset {frame_offset}: {available} of {expected} bytes present")]
    Truncated {
        /// Where the incomplete frame starts.
        frame_offset: u64,
        /// How many bytes of it arrived.
        available: usize,
        /// How many bytes were expected: the declared total length, or 12 when even the prelude
        /// is incomplete.
        expected: usize,
    },
    /// The CRC-32 of the prelude's first 8 bytes differs from the one in bytes 8..12.
    #[error("prelude checksum mismatch in the frame at offset {frame_offset}: the frame says {expected:#010x}, its bytes give {actual:#010x}")]
    PreludeChecksumMismatch {
        /// Where the frame starts.
        frame_offset: u64,
        /// The checksum carried by the frame.
        expected: u32,
        /// The checksum of the bytes received.
        actual: u32,
    },
    /// The declared total length is below 16, the size of an empty frame.
    #[error("invalid message length in the frame at offset {frame_offset}: total length {total_length} is below the minimum of 16")]
    InvalidMessageLength {
        /// Where the frame starts.
        frame_offset: u64,
        /// The declared total length.
        total_length: u32,
    },
    /// The declared header block does not fit in the declared total length.
    #[error("invalid headers length in the frame at offset {frame_offset}: {headers_length} bytes of headers do not fit in a frame of {total_length} bytes")]
    InvalidHeadersLength {
        /// Where the frame starts.
        frame_offset: u64,
        /// The declared header block length.
        headers_length: u32,
        /// The declared total length.
        total_length: u32,
    },
    /// The header block is longer than the configured limit.
    #[error("headers too long in the frame at offset {frame_offset}: {headers_length} bytes, the limit is {limit}")]
    HeadersTooLong {
        /// Where the frame starts.
        frame_offset: u64,
        /// The declared header block length.
        headers_length: u32,
        /// The configured limit.
        limit: u32,
    },
    /// The payload is longer than the configured limit.
    #[error("payload too long in the frame at offset {frame_offset}: {payload_length} bytes, the limit is {limit}")]
    PayloadTooLong {
        /// Where the frame starts.
        frame_offset: u64,
        /// The payload length the prelude implies.
        payload_length: u32,
        /// The configured limit.
        limit: u32,
    },
    /// The message has more headers than the configured limit.
    #[error("too many headers in the frame at offset {frame_offset}: more than {limit}")]
    TooManyHeaders {
        /// Where the frame starts.
        frame_offset: u64,
        /// The configured limit.
        limit: u32,
    },
    /// The CRC-32 of the whole frame differs from the one in its last 4 bytes.
    #[error("message checksum mismatch in the frame at offset {frame_offset}: the frame says {expected:#010x}, its bytes give {actual:#010x}")]
    MessageChecksumMismatch {
        /// Where the frame starts.
        frame_offset: u64,
        /// The checksum carried by the frame.
        expected: u32,
        /// The checksum of the bytes received.
        actual: u32,
    },
    /// A header name is empty or runs past the end of the header block.
    #[error("invalid header name length at offset {offset}: {length} bytes, with {remaining} bytes left in the header block")]
    InvalidHeaderNameLength {
        /// Where the header starts (its name length byte).
        offset: u64,
        /// The declared name length.
        length: u8,
        /// The bytes left in the header block after the length byte.
        remaining: usize,
    },
    /// A header's type code is not one of 0 to 9.
    #[error("invalid header value type {type_code} at offset {offset} (header {name:?})")]
    InvalidHeaderValueType {
        /// Where the type code is.
        offset: u64,
        /// The header's name.
        name: ByteString,
        /// The type code found.
        type_code: u8,
    },
    /// A header value, its type code or its length field runs past the end of the header block,
    /// or a string or byte array is longer than 32,767 bytes.
    #[error("invalid header value at offset {offset} (header {name:?}): {reason}")]
    InvalidHeaderValue {
        /// Where the value is (its type code).
        offset: u64,
        /// The header's name.
        name: ByteString,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header name or string value is not valid UTF-8.
    #[error("invalid UTF-8 at offset {offset} in a header {what}")]
    InvalidUtf8 {
        /// Where the bad name or value starts.
        offset: u64,
        /// `"name"` or `"string value"`.
        what: &'static str,
    },
    /// The same header name appears twice in one message. Only reported by a decoder configured
    /// with [`FrameDecoder::reject_duplicate_headers`](super::FrameDecoder::reject_duplicate_headers);
    /// the wire format itself allows repeated names.
    #[error("duplicate header {name:?} at offset {offset}")]
    DuplicateHeader {
        /// Where the second occurrence starts.
        offset: u64,
        /// The repeated name.
        name: ByteString,
    },
}

impl FrameError {
    /// A stable `snake_case` name for the error: `truncated`, `prelude_checksum_mismatch`,
    /// `invalid_message_length`, `invalid_headers_length`, `headers_too_long`, `payload_too_long`,
    /// `too_many_headers`, `message_checksum_mismatch`, `invalid_header_name_length`,
    /// `invalid_header_value_type`, `invalid_header_value`, `invalid_utf8` or `duplicate_header`.
    ///
    /// ```
    /// use eventstream::frame::FrameDecoder;
    ///
    /// let mut decoder = FrameDecoder::new();
    /// decoder.handle_input(&[0, 0, 0, 16]);
    /// let err = decoder.handle_end_of_input().unwrap_err();
    /// assert_eq!(err.kind(), "truncated");
    /// ```
    pub const fn kind(&self) -> &'static str {
        match self {
            FrameError::Truncated { .. } => "truncated",
            FrameError::PreludeChecksumMismatch { .. } => "prelude_checksum_mismatch",
            FrameError::InvalidMessageLength { .. } => "invalid_message_length",
            FrameError::InvalidHeadersLength { .. } => "invalid_headers_length",
            FrameError::HeadersTooLong { .. } => "headers_too_long",
            FrameError::PayloadTooLong { .. } => "payload_too_long",
            FrameError::TooManyHeaders { .. } => "too_many_headers",
            FrameError::MessageChecksumMismatch { .. } => "message_checksum_mismatch",
            FrameError::InvalidHeaderNameLength { .. } => "invalid_header_name_length",
            FrameError::InvalidHeaderValueType { .. } => "invalid_header_value_type",
            FrameError::InvalidHeaderValue { .. } => "invalid_header_value",
            FrameError::InvalidUtf8 { .. } => "invalid_utf8",
            FrameError::DuplicateHeader { .. } => "duplicate_header",
        }
    }
}

/// Why a message cannot be encoded. Nothing is written when encoding fails.
///
/// [`EncodeError::kind`] gives a stable `snake_case` name for each variant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A header name is empty or longer than 255 bytes.
    #[error("header {index} has a name of {length} bytes; names take 1 to 255 bytes")]
    InvalidHeaderNameLength {
        /// The header's position in the message.
        index: usize,
        /// The name's length in bytes.
        length: usize,
    },
    /// A string or byte array value is longer than 32,767 bytes.
    #[error("header {name:?} has a value of {length} bytes; the limit is 32767")]
    HeaderValueTooLong {
        /// The header's name.
        name: ByteString,
        /// The value's length in bytes.
        length: usize,
    },
    /// The encoded header block is longer than the configured limit.
    #[error("the headers take {length} bytes; the limit is {limit}")]
    HeadersTooLong {
        /// The header block's length.
        length: usize,
        /// The configured limit.
        limit: u32,
    },
    /// The payload is longer than the configured limit.
    #[error("the payload takes {length} bytes; the limit is {limit}")]
    PayloadTooLong {
        /// The payload's length.
        length: usize,
        /// The configured limit.
        limit: u32,
    },
    /// The message has more headers than the configured limit.
    #[error("the message has {count} headers; the limit is {limit}")]
    TooManyHeaders {
        /// The number of headers.
        count: usize,
        /// The configured limit.
        limit: u32,
    },
    /// The whole frame would be longer than `u32::MAX` bytes.
    #[error("the frame would take {length} bytes; the wire carries at most 4294967295")]
    MessageTooLong {
        /// The frame's length.
        length: u64,
    },
    /// A fixed-size buffer has no room for the whole frame.
    #[error("the frame takes {needed} bytes; the buffer has room for {available}")]
    BufferTooSmall {
        /// The frame's length.
        needed: usize,
        /// The room left in the buffer.
        available: usize,
    },
}

impl EncodeError {
    /// A stable `snake_case` name for the error: `invalid_header_name_length`,
    /// `header_value_too_long`, `headers_too_long`, `payload_too_long`, `too_many_headers`,
    /// `message_too_long` or `buffer_too_small`.
    pub const fn kind(&self) -> &'static str {
        match self {
            EncodeError::InvalidHeaderNameLength { .. } => "invalid_header_name_length",
            EncodeError::HeaderValueTooLong { .. } => "header_value_too_long",
            EncodeError::HeadersTooLong { .. } => "headers_too_long",
            EncodeError::PayloadTooLong { .. } => "payload_too_long",
            EncodeError::TooManyHeaders { .. } => "too_many_headers",
            EncodeError::MessageTooLong { .. } => "message_too_long",
            EncodeError::BufferTooSmall { .. } => "buffer_too_small",
        }
    }
}
