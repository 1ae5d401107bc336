//! Size limits for frames, shared by the encoder and the decoder.

use super::error::FrameError;
use super::message::Message;

/// Size limits applied to every frame, when encoding and when decoding.
///
/// The decoder checks them as soon as a frame's 12-byte prelude has arrived, before it reserves any
/// space for the frame's body, so a forged length can never make it buffer more than
/// [`Limits::max_frame_len`]. The encoder checks them before it writes anything.
///
/// | limit | default | why |
/// |---|---|---|
/// | payload | 25,165,824 bytes (24 MiB) | the limit in the protocol's specification |
/// | header block | 131,072 bytes (128 KiB) | the limit in the protocol's specification |
/// | headers per message | 1,024 | the largest count any peer accepts |
///
/// Whatever the configuration, a frame can never exceed `u32::MAX` bytes: that is what the wire can
/// carry.
///
/// ```
/// use eventstream::frame::Limits;
///
/// let limits = Limits::default().with_max_payload_len(1 << 20).with_max_header_count(16);
/// assert_eq!(limits.max_payload_len(), 1 << 20);
/// assert_eq!(limits.max_headers_len(), 131_072);
/// assert_eq!(limits.max_frame_len(), 16 + 131_072 + (1 << 20));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    max_payload_len: u32,
    max_headers_len: u32,
    max_header_count: u32,
}

impl Limits {
    /// The default payload limit: 24 MiB (25,165,824 bytes).
    pub const DEFAULT_MAX_PAYLOAD_LEN: u32 = 24 * 1024 * 1024;
    /// The default header block limit: 128 KiB (131,072 bytes).
    pub const DEFAULT_MAX_HEADERS_LEN: u32 = 128 * 1024;
    /// The default limit on the number of headers in one message: 1,024.
    pub const DEFAULT_MAX_HEADER_COUNT: u32 = 1024;

    /// The default limits (see the table in the type's documentation).
    pub const DEFAULT: Limits = Limits {
        max_payload_len: Self::DEFAULT_MAX_PAYLOAD_LEN,
        max_headers_len: Self::DEFAULT_MAX_HEADERS_LEN,
        max_header_count: Self::DEFAULT_MAX_HEADER_COUNT,
    };

    /// The default limits (see the table in the type's documentation).
    pub const fn new() -> Self {
        Self::DEFAULT
    }

    /// Sets the largest payload accepted, in bytes.
    #[must_use]
    pub const fn with_max_payload_len(mut self, bytes: u32) -> Self {
        self.max_payload_len = bytes;
        self
    }

    /// Sets the largest header block accepted, in bytes (the encoded headers of one message).
    #[must_use]
    pub const fn with_max_headers_len(mut self, bytes: u32) -> Self {
        self.max_headers_len = bytes;
        self
    }

    /// Sets the largest number of headers accepted in one message.
    #[must_use]
    pub const fn with_max_header_count(mut self, count: u32) -> Self {
        self.max_header_count = count;
        self
    }

    /// The largest payload accepted, in bytes.
    pub const fn max_payload_len(&self) -> u32 {
        self.max_payload_len
    }

    /// The largest header block accepted, in bytes.
    pub const fn max_headers_len(&self) -> u32 {
        self.max_headers_len
    }

    /// The largest number of headers accepted in one message.
    pub const fn max_header_count(&self) -> u32 {
        self.max_header_count
    }

    /// The largest whole frame these limits allow (prelude, headers, payload and CRC), capped at
    /// `u32::MAX`. The decoder never buffers more than this for one frame.
    pub const fn max_frame_len(&self) -> u64 {
        let len = 16 + self.max_headers_len as u64 + self.max_payload_len as u64;
        if len > u32::MAX as u64 {
            u32::MAX as u64
        } else {
            len
        }
    }
}

/// The header block of a signed envelope: `:date` (15 bytes) and `:chunk-signature` (52 bytes).
const ENVELOPE_HEADERS_LEN: u32 = 67;

impl Limits {
    /// The limits for the frames of a signed stream: header limits that admit the envelope's two
    /// headers (67 bytes), and a payload limit raised to the size of the largest inner frame
    /// these limits allow, so that an envelope around any acceptable message is itself
    /// acceptable. The inner message is
    /// checked against `self` when it is unwrapped.
    ///
    /// ```
    /// use eventstream::frame::Limits;
    ///
    /// let inner = Limits::default();
    /// let outer = inner.enveloped();
    /// assert_eq!(outer.max_payload_len() as u64, inner.max_frame_len());
    /// ```
    pub const fn enveloped(&self) -> Limits {
        let frame = self.max_frame_len();
        Limits {
            max_payload_len: if frame > u32::MAX as u64 {
                u32::MAX
            } else {
                frame as u32
            },
            // An envelope carries `:date` and `:chunk-signature`: 2 headers in 67 bytes.
            max_headers_len: if self.max_headers_len < ENVELOPE_HEADERS_LEN {
                ENVELOPE_HEADERS_LEN
            } else {
                self.max_headers_len
            },
            max_header_count: if self.max_header_count < 2 {
                2
            } else {
                self.max_header_count
            },
        }
    }
}

impl Limits {
    /// Checks a decoded message against these limits: for a message that was decoded under
    /// larger ones, such as a plain frame read where envelopes were expected
    /// ([`enveloped`](Self::enveloped)). The errors are the decoder's, naming these limits;
    /// their offset is that of the frame in its own bytes (0).
    ///
    /// # Errors
    ///
    /// `too_many_headers`, `headers_too_long` or `payload_too_long`.
    ///
    /// ```
    /// use eventstream::frame::{Limits, Message};
    ///
    /// let limits = Limits::default().with_max_payload_len(4);
    /// assert!(limits.check(&Message::new(&b"four"[..])).is_ok());
    /// let err = limits.check(&Message::new(&b"five!"[..])).unwrap_err();
    /// assert_eq!(err.kind(), "payload_too_long");
    /// assert!(err.to_string().ends_with("the limit is 4"));
    /// ```
    pub fn check(&self, message: &Message) -> Result<(), FrameError> {
        if message.headers().len() > self.max_header_count as usize {
            return Err(FrameError::TooManyHeaders {
                frame_offset: 0,
                limit: self.max_header_count,
            });
        }
        let headers_length = message.headers_len();
        if headers_length > self.max_headers_len as usize {
            return Err(FrameError::HeadersTooLong {
                frame_offset: 0,
                headers_length: u32::try_from(headers_length).unwrap_or(u32::MAX),
                limit: self.max_headers_len,
            });
        }
        let payload_length = message.payload().len();
        if payload_length > self.max_payload_len as usize {
            return Err(FrameError::PayloadTooLong {
                frame_offset: 0,
                payload_length: u32::try_from(payload_length).unwrap_or(u32::MAX),
                limit: self.max_payload_len,
            });
        }
        Ok(())
    }

    /// Rewrites an error of a decoder configured with [`enveloped`](Self::enveloped)`()` of
    /// these limits so that it names the payload limit the application configured. A frame over
    /// the enveloped payload limit is over that one too, whether it is a plain frame or an
    /// envelope: the message such an envelope carries has a larger payload still. (The header
    /// limits of the two differ only where an envelope's own headers need more room.)
    pub(crate) fn name_in_enveloped_error(&self, error: FrameError) -> FrameError {
        match error {
            FrameError::PayloadTooLong {
                frame_offset,
                payload_length,
                ..
            } => FrameError::PayloadTooLong {
                frame_offset,
                payload_length,
                limit: self.max_payload_len,
            },
            other => other,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}
