//! Side-by-side benchmarks of this workspace's frame layer ([`eventstream::frame`]) against the
//! reference Rust implementation, `aws-smithy-eventstream` (with the message model of
//! `aws-smithy-types`).
//!
//! This library holds the pieces that the `compare` binary and the criterion benches
//! (`benches/frame.rs`) share, so that both measure exactly the same work:
//!
//! - the messages and the streams of frames ([`our_message`], [`reference_message`],
//!   [`build_stream`], [`frames_for`]);
//! - one driver per decoder, fed the way a transport would feed it
//!   ([`drive_ours_chunked`], [`drive_ours_whole`], [`drive_reference_chunked`]) and their
//!   benchmark forms, which consume every message into a [`Tally`] ([`decode_ours_chunked`],
//!   [`decode_ours_whole`], [`decode_reference_chunked`]);
//! - the two floors ([`crc_floor`], [`copy_crc_floor`]);
//! - one encoder call per implementation ([`encode_ours`], [`encode_reference`]);
//! - an implementation-neutral view of a decoded message ([`Neutral`]) and a full agreement check
//!   of the two implementations ([`check_agreement`]).

#![warn(missing_docs)]

use aws_smithy_eventstream::frame::{write_message_to, DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream as reference;
use bytes::{Bytes, BytesMut};
use eventstream::frame as ours;
use std::hint::black_box;

/// The payload sizes every case is measured at: 64 B, 1 KiB and 64 KiB.
pub const PAYLOAD_SIZES: [usize; 3] = [64, 1024, 64 * 1024];

/// The size of the pieces the chunked decoders are fed, as a socket read would deliver them.
pub const CHUNK_LEN: usize = 8 * 1024;

/// The three string headers of every benchmark message, in wire order.
pub const HEADERS: [(&str, &str); 3] = [
    (":message-type", "event"),
    (":event-type", "Chunk"),
    (":content-type", "application/octet-stream"),
];

/// A short human label for a payload size: `64 B`, `1 KiB`, `64 KiB`.
pub fn size_label(payload_len: usize) -> String {
    if payload_len >= 1024 && payload_len.is_multiple_of(1024) {
        format!("{} KiB", payload_len / 1024)
    } else {
        format!("{payload_len} B")
    }
}

/// A deterministic, non-constant payload of `len` bytes.
pub fn payload(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31).wrapping_add(7) % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// The benchmark message in our model: the three [`HEADERS`] and a [`payload`] of `payload_len`
/// bytes.
pub fn our_message(payload_len: usize) -> ours::Message {
    let mut msg = ours::Message::new(payload(payload_len));
    for (name, value) in HEADERS {
        msg.push_header(ours::Header::from_static(
            name,
            ours::HeaderValue::from_static(value),
        ));
    }
    msg
}

/// The same message as [`our_message`], in the reference's model.
pub fn reference_message(payload_len: usize) -> reference::Message {
    HEADERS.iter().fold(
        reference::Message::new(payload(payload_len)),
        |msg, &(name, value)| {
            msg.add_header(reference::Header::new(
                name,
                reference::HeaderValue::String(value.into()),
            ))
        },
    )
}

/// The length of one encoded benchmark frame with a payload of `payload_len` bytes.
pub fn frame_len(payload_len: usize) -> usize {
    our_message(payload_len).encoded_len()
}

/// How many frames with a payload of `payload_len` bytes make a stream of about `target_bytes`
/// (at least one).
pub fn frames_for(payload_len: usize, target_bytes: usize) -> usize {
    target_bytes.div_ceil(frame_len(payload_len)).max(1)
}

/// A stream of `count` benchmark frames with a payload of `payload_len` bytes, back to back.
///
/// Both encoders produce exactly these bytes (see [`check_agreement`]); ours builds them.
///
/// # Panics
///
/// If the message cannot be encoded (it always can).
pub fn build_stream(payload_len: usize, count: usize) -> Bytes {
    let msg = our_message(payload_len);
    let mut buf = BytesMut::with_capacity(msg.encoded_len() * count);
    for _ in 0..count {
        msg.encode(&mut buf).expect("the benchmark message encodes");
    }
    buf.freeze()
}

/// What a benchmark decode consumed: counts and lengths read from every decoded message, so
/// that no decoding work can be optimised away, and so that two decoders can be compared
/// cheaply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages decoded.
    pub messages: u64,
    /// Headers decoded, summed over the messages.
    pub headers: u64,
    /// Bytes of header names and string values, summed over the messages.
    pub header_bytes: u64,
    /// Payload bytes, summed over the messages.
    pub payload_bytes: u64,
}

impl Tally {
    /// Reads one of our decoded messages into the tally.
    pub fn add_ours(&mut self, msg: &ours::Message) {
        let msg = black_box(msg);
        self.messages += 1;
        self.headers += msg.headers().len() as u64;
        for h in msg.headers() {
            let value = h.value().as_str().map_or(0, str::len);
            self.header_bytes += (h.name().len() + value) as u64;
        }
        self.payload_bytes += msg.payload().len() as u64;
    }

    /// Reads one of the reference's decoded messages into the tally.
    pub fn add_reference(&mut self, msg: &reference::Message) {
        let msg = black_box(msg);
        self.messages += 1;
        self.headers += msg.headers().len() as u64;
        for h in msg.headers() {
            let value = h.value().as_string().map_or(0, |s| s.as_str().len());
            self.header_bytes += (h.name().as_str().len() + value) as u64;
        }
        self.payload_bytes += msg.payload().len() as u64;
    }
}

/// Feeds `stream` to a new [`ours::FrameDecoder`] in pieces of `chunk_len` bytes with
/// `handle_input` (which copies them), drains `poll_message` after each piece, calls `finish` at
/// the end, and hands every message to `on_message`.
///
/// # Errors
///
/// The decoder's error, formatted, if the stream is not a valid sequence of whole frames.
pub fn drive_ours_chunked(
    stream: &[u8],
    chunk_len: usize,
    mut on_message: impl FnMut(ours::Message),
) -> Result<(), String> {
    let mut decoder = ours::FrameDecoder::new();
    for chunk in stream.chunks(chunk_len) {
        decoder.handle_input(chunk);
        while let Some(msg) = decoder.poll_message().map_err(|e| e.to_string())? {
            on_message(msg);
        }
    }
    decoder.finish().map_err(|e| e.to_string())
}

/// Hands the whole of `stream` (whole frames) to a new [`ours::FrameDecoder`] as one `Bytes`
/// with `handle_bytes` (the zero-copy path), drains `poll_message`, calls `finish`, and hands
/// every message to `on_message`.
///
/// # Errors
///
/// The decoder's error, formatted, if the stream is not a valid sequence of whole frames.
pub fn drive_ours_whole(
    stream: &Bytes,
    mut on_message: impl FnMut(ours::Message),
) -> Result<(), String> {
    let mut decoder = ours::FrameDecoder::new();
    decoder.handle_bytes(stream.clone());
    while let Some(msg) = decoder.poll_message().map_err(|e| e.to_string())? {
        on_message(msg);
    }
    decoder.finish().map_err(|e| e.to_string())
}

/// Feeds `stream` to a new reference `MessageFrameDecoder` the way it is meant to be driven:
/// each piece of `chunk_len` bytes is appended to a `BytesMut` that the decoder reads from (and
/// advances), and `decode_frame` is called until it answers `Incomplete`. Every message goes to
/// `on_message`.
///
/// The reference decoder keeps only the prelude of a frame it has started; the caller owns the
/// buffer. It has no `finish`: bytes left in the buffer at the end mean a truncated stream.
///
/// # Errors
///
/// The decoder's error, formatted, or a note that the stream ended inside a frame.
pub fn drive_reference_chunked(
    stream: &[u8],
    chunk_len: usize,
    mut on_message: impl FnMut(reference::Message),
) -> Result<(), String> {
    let mut decoder = MessageFrameDecoder::new();
    let mut buf = BytesMut::new();
    for chunk in stream.chunks(chunk_len) {
        buf.extend_from_slice(chunk);
        while let DecodedFrame::Complete(msg) =
            decoder.decode_frame(&mut buf).map_err(|e| e.to_string())?
        {
            on_message(msg);
        }
    }
    if buf.is_empty() {
        Ok(())
    } else {
        Err(format!("the stream ended {} bytes into a frame", buf.len()))
    }
}

/// Decodes `stream` with [`drive_ours_chunked`] and consumes every message into a [`Tally`].
///
/// # Panics
///
/// If the stream does not decode (the generated streams always do).
pub fn decode_ours_chunked(stream: &[u8], chunk_len: usize) -> Tally {
    let mut tally = Tally::default();
    drive_ours_chunked(stream, chunk_len, |msg| tally.add_ours(&msg))
        .expect("our decoder decodes the generated stream");
    tally
}

/// Decodes `stream` with [`drive_ours_whole`] and consumes every message into a [`Tally`].
///
/// # Panics
///
/// If the stream does not decode (the generated streams always do).
pub fn decode_ours_whole(stream: &Bytes) -> Tally {
    let mut tally = Tally::default();
    drive_ours_whole(stream, |msg| tally.add_ours(&msg))
        .expect("our decoder decodes the generated stream");
    tally
}

/// Decodes `stream` with [`drive_reference_chunked`] and consumes every message into a
/// [`Tally`].
///
/// # Panics
///
/// If the stream does not decode (the generated streams always do).
pub fn decode_reference_chunked(stream: &[u8], chunk_len: usize) -> Tally {
    let mut tally = Tally::default();
    drive_reference_chunked(stream, chunk_len, |msg| tally.add_reference(&msg))
        .expect("the reference decoder decodes the generated stream");
    tally
}

/// The floor for whole frames handed over as `Bytes`: one CRC-32 over the whole stream, which
/// any decoder must at least compute (every byte but the message CRCs is checksummed).
pub fn crc_floor(stream: &[u8]) -> u32 {
    crc32fast::hash(black_box(stream))
}

/// The floor for chunked input: each piece of `chunk_len` bytes is copied into `scratch` (a
/// reused buffer) and checksummed there, which is the least a decoder that must own its input
/// does. Returns the checksums folded together.
pub fn copy_crc_floor(stream: &[u8], chunk_len: usize, scratch: &mut Vec<u8>) -> u32 {
    let mut folded = 0u32;
    for chunk in stream.chunks(chunk_len) {
        scratch.clear();
        scratch.extend_from_slice(black_box(chunk));
        folded = folded.rotate_left(1) ^ crc32fast::hash(black_box(&scratch[..]));
    }
    folded
}

/// Encodes `msg` with our encoder into `buf`, cleared first (a reused buffer). Returns the
/// frame's length.
///
/// # Panics
///
/// If the message cannot be encoded (the benchmark messages always can).
pub fn encode_ours(msg: &ours::Message, buf: &mut BytesMut) -> usize {
    buf.clear();
    msg.encode(buf).expect("the benchmark message encodes")
}

/// Encodes `msg` with the reference encoder (`write_message_to`, which writes to a
/// `&mut dyn BufMut`) into `buf`, cleared first (a reused buffer). Returns the frame's length.
///
/// # Panics
///
/// If the message cannot be encoded (the benchmark messages always can).
pub fn encode_reference(msg: &reference::Message, buf: &mut BytesMut) -> usize {
    buf.clear();
    write_message_to(msg, buf).expect("the benchmark message encodes");
    buf.len()
}

/// A header value in a form both implementations' values convert to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NeutralValue {
    /// A boolean.
    Bool(bool),
    /// A signed byte.
    Byte(i8),
    /// A 16-bit integer.
    Short(i16),
    /// A 32-bit integer.
    Int(i32),
    /// A 64-bit integer.
    Long(i64),
    /// A byte array.
    Bytes(Vec<u8>),
    /// A string.
    String(String),
    /// Milliseconds since the Unix epoch (`None`: the reference could not express it).
    Timestamp(Option<i64>),
    /// A UUID, big-endian.
    Uuid([u8; 16]),
    /// A value of a kind this crate does not know (the reference's enum is non-exhaustive).
    Unknown(String),
}

/// A decoded message in a form both implementations' messages convert to, for comparing them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neutral {
    /// The headers, in wire order: name and value.
    pub headers: Vec<(String, NeutralValue)>,
    /// The payload.
    pub payload: Bytes,
}

impl Neutral {
    /// The neutral form of one of our messages.
    pub fn from_ours(msg: &ours::Message) -> Self {
        use ours::HeaderValue as V;
        let headers = msg
            .headers()
            .iter()
            .map(|h| {
                let value = match h.value() {
                    V::Bool(v) => NeutralValue::Bool(*v),
                    V::Byte(v) => NeutralValue::Byte(*v),
                    V::Short(v) => NeutralValue::Short(*v),
                    V::Int(v) => NeutralValue::Int(*v),
                    V::Long(v) => NeutralValue::Long(*v),
                    V::Bytes(v) => NeutralValue::Bytes(v.to_vec()),
                    V::String(v) => NeutralValue::String(v.to_string()),
                    V::Timestamp(v) => NeutralValue::Timestamp(Some(*v)),
                    V::Uuid(v) => NeutralValue::Uuid(*v),
                };
                (h.name().to_owned(), value)
            })
            .collect();
        Neutral {
            headers,
            payload: msg.payload().clone(),
        }
    }

    /// The neutral form of one of the reference's messages.
    pub fn from_reference(msg: &reference::Message) -> Self {
        use reference::HeaderValue as V;
        let headers = msg
            .headers()
            .iter()
            .map(|h| {
                let value = match h.value() {
                    V::Bool(v) => NeutralValue::Bool(*v),
                    V::Byte(v) => NeutralValue::Byte(*v),
                    V::Int16(v) => NeutralValue::Short(*v),
                    V::Int32(v) => NeutralValue::Int(*v),
                    V::Int64(v) => NeutralValue::Long(*v),
                    V::ByteArray(v) => NeutralValue::Bytes(v.to_vec()),
                    V::String(v) => NeutralValue::String(v.as_str().to_owned()),
                    V::Timestamp(v) => NeutralValue::Timestamp(v.to_millis().ok()),
                    V::Uuid(v) => NeutralValue::Uuid(v.to_be_bytes()),
                    other => NeutralValue::Unknown(format!("{other:?}")),
                };
                (h.name().as_str().to_owned(), value)
            })
            .collect();
        Neutral {
            headers,
            payload: msg.payload().clone(),
        }
    }
}

/// Checks, without timing anything, that the two implementations agree on a stream of `count`
/// frames with a payload of `payload_len` bytes, fed in pieces of `chunk_len` bytes:
///
/// - our chunked decoder, our whole-`Bytes` decoder and the reference decoder return the same
///   messages (headers and payloads), `count` of them, equal to the message that was encoded;
/// - both encoders produce the same bytes for the benchmark message, and each one's frame
///   decodes with the other's decoder.
///
/// Returns the number of messages checked.
///
/// # Errors
///
/// A description of the first disagreement.
pub fn check_agreement(
    payload_len: usize,
    count: usize,
    chunk_len: usize,
) -> Result<usize, String> {
    let expected = Neutral::from_ours(&our_message(payload_len));
    if expected != Neutral::from_reference(&reference_message(payload_len)) {
        return Err("the two benchmark messages differ".into());
    }
    let stream = build_stream(payload_len, count);

    let mut ours_chunked = Vec::with_capacity(count);
    drive_ours_chunked(&stream, chunk_len, |m| {
        ours_chunked.push(Neutral::from_ours(&m))
    })
    .map_err(|e| format!("our decoder (chunked) failed: {e}"))?;
    let mut ours_whole = Vec::with_capacity(count);
    drive_ours_whole(&stream, |m| ours_whole.push(Neutral::from_ours(&m)))
        .map_err(|e| format!("our decoder (whole Bytes) failed: {e}"))?;
    let mut theirs = Vec::with_capacity(count);
    drive_reference_chunked(&stream, chunk_len, |m| {
        theirs.push(Neutral::from_reference(&m))
    })
    .map_err(|e| format!("the reference decoder failed: {e}"))?;

    for (what, got) in [
        ("our decoder (chunked)", &ours_chunked),
        ("our decoder (whole Bytes)", &ours_whole),
        ("the reference decoder", &theirs),
    ] {
        if got.len() != count {
            return Err(format!(
                "{what} decoded {} messages, not {count}",
                got.len()
            ));
        }
        if let Some(i) = got.iter().position(|m| *m != expected) {
            return Err(format!(
                "{what}: message {i} differs from the one encoded: {:?}",
                got[i].headers
            ));
        }
    }
    if let Some(i) = (0..count).find(|&i| ours_chunked[i] != theirs[i]) {
        return Err(format!("the decoders disagree on message {i}"));
    }

    let mut ours_frame = BytesMut::new();
    encode_ours(&our_message(payload_len), &mut ours_frame);
    let mut their_frame = BytesMut::new();
    encode_reference(&reference_message(payload_len), &mut their_frame);
    if ours_frame != their_frame {
        return Err("the encoders produced different bytes".into());
    }
    let mut cross = Vec::new();
    drive_reference_chunked(&ours_frame, chunk_len, |m| {
        cross.push(Neutral::from_reference(&m))
    })
    .map_err(|e| format!("the reference decoder rejects our frame: {e}"))?;
    drive_ours_chunked(&their_frame, chunk_len, |m| {
        cross.push(Neutral::from_ours(&m))
    })
    .map_err(|e| format!("our decoder rejects the reference's frame: {e}"))?;
    if cross != [expected.clone(), expected] {
        return Err("an encoder's frame decodes to another message with the other decoder".into());
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_implementations_agree() {
        for payload_len in PAYLOAD_SIZES {
            let count = if payload_len > 4096 { 5 } else { 40 };
            for chunk_len in [CHUNK_LEN, 1000, 7] {
                assert_eq!(
                    check_agreement(payload_len, count, chunk_len),
                    Ok(count),
                    "payload {payload_len}, chunks of {chunk_len}"
                );
            }
        }
    }

    #[test]
    fn the_benchmark_paths_agree() {
        for payload_len in PAYLOAD_SIZES {
            let stream = build_stream(payload_len, 9);
            let tally = decode_ours_chunked(&stream, CHUNK_LEN);
            assert_eq!(tally.messages, 9);
            assert_eq!(tally.headers, 27);
            assert_eq!(tally.payload_bytes, 9 * payload_len as u64);
            assert_eq!(decode_ours_whole(&stream), tally);
            assert_eq!(decode_reference_chunked(&stream, CHUNK_LEN), tally);
            let frame = frame_len(payload_len);
            assert_eq!(stream.len(), 9 * frame);
            let mut buf = BytesMut::new();
            assert_eq!(encode_ours(&our_message(payload_len), &mut buf), frame);
            assert_eq!(
                encode_reference(&reference_message(payload_len), &mut buf),
                frame
            );
            assert_eq!(crc_floor(&stream), crc32fast::hash(&stream));
            let mut scratch = Vec::new();
            copy_crc_floor(&stream, CHUNK_LEN, &mut scratch);
            assert!(scratch.len() <= CHUNK_LEN);
        }
    }
}
