//! The encoder: a message appended to a caller-owned buffer as one frame.

use super::error::EncodeError;
use super::header::{Header, HeaderValue, MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN};
use super::limits::Limits;
use super::message::Message;
use bytes::{BufMut, BytesMut};

/// The lengths of a frame that passed validation.
pub(crate) struct Sizes {
    /// The frame's length: prelude, headers, payload and message CRC.
    pub(crate) total: u32,
    /// The length of the header block.
    pub(crate) headers: u32,
}

/// Checks that `msg` can be encoded within `limits`, and measures its frame.
pub(crate) fn validate(msg: &Message, limits: &Limits) -> Result<Sizes, EncodeError> {
    let headers = msg.headers();
    if headers.len() > limits.max_header_count() as usize {
        return Err(EncodeError::TooManyHeaders {
            count: headers.len(),
            limit: limits.max_header_count(),
        });
    }
    let mut headers_len = 0usize;
    for (index, h) in headers.iter().enumerate() {
        let name_len = h.name().len();
        if name_len == 0 || name_len > MAX_HEADER_NAME_LEN {
            return Err(EncodeError::InvalidHeaderNameLength {
                index,
                length: name_len,
            });
        }
        let value_len = match h.value() {
            HeaderValue::Bytes(b) => b.len(),
            HeaderValue::String(s) => s.len(),
            _ => 0,
        };
        if value_len > MAX_HEADER_VALUE_LEN {
            return Err(EncodeError::HeaderValueTooLong {
                name: h.name_bytes().clone(),
                length: value_len,
            });
        }
        headers_len += h.encoded_len();
    }
    if headers_len > limits.max_headers_len() as usize {
        return Err(EncodeError::HeadersTooLong {
            length: headers_len,
            limit: limits.max_headers_len(),
        });
    }
    let payload_len = msg.payload().len();
    if payload_len > limits.max_payload_len() as usize {
        return Err(EncodeError::PayloadTooLong {
            length: payload_len,
            limit: limits.max_payload_len(),
        });
    }
    let total = 16u64 + headers_len as u64 + payload_len as u64;
    match u32::try_from(total) {
        // headers_len <= total, so it fits too.
        Ok(total) => Ok(Sizes {
            total,
            headers: headers_len as u32,
        }),
        Err(_) => Err(EncodeError::MessageTooLong { length: total }),
    }
}

#[inline(always)]
fn put_header<B: BufMut>(dst: &mut B, h: &Header) {
    let name = h.name().as_bytes();
    // validate() checked 1..=255.
    dst.put_u8(name.len() as u8);
    dst.put_slice(name);
    let value = h.value();
    dst.put_u8(value.type_code());
    match value {
        HeaderValue::Bool(_) => {}
        HeaderValue::Byte(v) => dst.put_i8(*v),
        HeaderValue::Short(v) => dst.put_i16(*v),
        HeaderValue::Int(v) => dst.put_i32(*v),
        HeaderValue::Long(v) | HeaderValue::Timestamp(v) => dst.put_i64(*v),
        HeaderValue::Bytes(b) => {
            // validate() checked <= 32,767.
            dst.put_u16(b.len() as u16);
            dst.put_slice(b);
        }
        HeaderValue::String(s) => {
            dst.put_u16(s.len() as u16);
            dst.put_slice(s.as_bytes());
        }
        HeaderValue::Uuid(u) => dst.put_slice(u),
    }
}

impl Message {
    /// Appends this message as one frame to `dst`, with the default [`Limits`].
    ///
    /// Returns the number of bytes written ([`Message::encoded_len`]). On error nothing is
    /// written. `dst` grows if needed; reserve [`Message::encoded_len`] bytes first to grow it
    /// once.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use eventstream::frame::Message;
    ///
    /// let msg = Message::new(&b"hello"[..]).with_header(":event-type", "Greeting");
    /// let mut buf = BytesMut::with_capacity(msg.encoded_len());
    /// let n = msg.encode(&mut buf).unwrap();
    /// assert_eq!(n, buf.len());
    /// assert_eq!(&buf[..4], &(n as u32).to_be_bytes());
    /// ```
    pub fn encode(&self, dst: &mut BytesMut) -> Result<usize, EncodeError> {
        self.encode_with_limits(&Limits::DEFAULT, dst)
    }

    /// Appends this message as one frame to `dst`, checked against `limits`.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use eventstream::frame::{Limits, Message};
    ///
    /// let limits = Limits::default().with_max_payload_len(4);
    /// let mut buf = BytesMut::new();
    /// let err = Message::new(&b"hello"[..]).encode_with_limits(&limits, &mut buf).unwrap_err();
    /// assert_eq!(err.kind(), "payload_too_long");
    /// assert!(buf.is_empty());
    /// ```
    pub fn encode_with_limits(
        &self,
        limits: &Limits,
        dst: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        let sizes = validate(self, limits)?;
        dst.reserve(sizes.total as usize);
        self.write_validated(&sizes, dst);
        Ok(sizes.total as usize)
    }

    /// Appends the frame of this message, which [`validate`] measured as `sizes`, to `dst`.
    ///
    /// One checksum runs over the frame: its state after the first 8 bytes gives the prelude
    /// CRC, and it goes on from there to the message CRC, so no byte is checksummed twice.
    #[inline]
    pub(crate) fn write_validated(&self, sizes: &Sizes, dst: &mut BytesMut) {
        let start = dst.len();
        dst.put_u32(sizes.total);
        dst.put_u32(sizes.headers);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&dst[start..]);
        dst.put_u32(crc.clone().finalize());
        for h in self.headers() {
            put_header(dst, h);
        }
        dst.put_slice(self.payload());
        crc.update(&dst[start + 8..]);
        dst.put_u32(crc.finalize());
    }

    /// Appends this message as one frame to any [`BufMut`], checked against `limits`.
    ///
    /// Slower than [`Message::encode_with_limits`], which can checksum the bytes where they were
    /// written; use this for buffers that are not a `BytesMut`. On error nothing is written,
    /// also when a fixed-size buffer (a `&mut [u8]`, say) is too small for the frame.
    ///
    /// ```
    /// use eventstream::frame::{Limits, Message};
    ///
    /// let mut out: Vec<u8> = Vec::new();
    /// Message::new(&b"x"[..]).encode_to(&Limits::default(), &mut out).unwrap();
    /// assert_eq!(out.len(), 17);
    ///
    /// let mut fixed = [0u8; 16];
    /// let err = Message::new(&b"x"[..]).encode_to(&Limits::default(), &mut &mut fixed[..]).unwrap_err();
    /// assert_eq!(err.kind(), "buffer_too_small");
    /// ```
    pub fn encode_to<B: BufMut>(&self, limits: &Limits, dst: &mut B) -> Result<usize, EncodeError> {
        let sizes = validate(self, limits)?;
        let available = dst.remaining_mut();
        if available < sizes.total as usize {
            return Err(EncodeError::BufferTooSmall {
                needed: sizes.total as usize,
                available,
            });
        }
        // The prelude and the header block are small: build them contiguously, then checksum
        // them and the payload in place, without copying the payload.
        let mut head = BytesMut::with_capacity(12 + sizes.headers as usize);
        head.put_u32(sizes.total);
        head.put_u32(sizes.headers);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        head.put_u32(crc.clone().finalize());
        for h in self.headers() {
            put_header(&mut head, h);
        }
        crc.update(&head[8..]);
        crc.update(self.payload());
        dst.put_slice(&head);
        dst.put_slice(self.payload());
        dst.put_u32(crc.finalize());
        Ok(sizes.total as usize)
    }
}
