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
//! - the two floors ([`crc_floor`], [`copy_crc_floor`] with a [`CopyBuffer`]) and the checksums
//!   alone, frame by frame ([`crc_frames_point`]);
//! - one encoder call per implementation ([`encode_ours`], [`encode_reference`]);
//! - an implementation-neutral view of a decoded message ([`Neutral`]) and a full agreement check
//!   of the two implementations ([`check_agreement`]);
//! - the signing chain against `aws-sigv4` (`aws_sigv4::event_stream::sign_message`): the
//!   shared inputs ([`SIGN_PAYLOAD_LEN`], [`sign_times`], [`our_signer`], [`reference_signer`]),
//!   one driver per way of signing a chain of events ([`sign_ours_to`], [`sign_ours`],
//!   [`sign_ours_encode`], [`sign_reference`], [`sign_reference_encode`]) and a frame-by-frame
//!   check that both chains carry the same signatures ([`check_signing`]).

#![warn(missing_docs)]

use aws_sigv4::event_stream::sign_message;
use aws_sigv4::sign::v4 as reference_v4;
use aws_smithy_eventstream::frame::{write_message_to, DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream as reference;
use bytes::{Bytes, BytesMut};
use eventstream::frame as ours;
use eventstream::sign::{Credentials, EventSigner, SigV4Signer, SigningParams, SigningTime};
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    let mut buf = BytesMut::with_capacity(msg.encoded_len() * count + CACHE_LINE);
    // The stream starts on a cache line, wherever the allocator put the buffer: the CRC-32 of
    // a buffer that does runs about a quarter faster, so the floors are their best case, and
    // every run measures the same thing.
    let pad = (CACHE_LINE - buf.as_ptr() as usize % CACHE_LINE) % CACHE_LINE;
    buf.resize(pad, 0);
    for _ in 0..count {
        msg.encode(&mut buf).expect("the benchmark message encodes");
    }
    buf.freeze().slice(pad..)
}

/// The alignment of the benchmark streams.
const CACHE_LINE: usize = 64;

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
    decoder.handle_end_of_input().map_err(|e| e.to_string())
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
    decoder.handle_bytes(&stream.clone());
    while let Some(msg) = decoder.poll_message().map_err(|e| e.to_string())? {
        on_message(msg);
    }
    decoder.handle_end_of_input().map_err(|e| e.to_string())
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

/// A reference point for whole frames handed over as `Bytes`, not a floor: only the checksums a
/// decoder must compute frame by frame, since every frame carries its own. For each frame of
/// `frame_len` bytes: the prelude's CRC-32 (its first 8 bytes), then the message's (all but its
/// last 4 bytes), whose bulk starts on a cache line as in our decoder (the CRC-32 kernel runs
/// markedly slower on loads that cross cache lines). Its ratio to [`crc_floor`] is what checking
/// frame by frame costs before any decoding: one call's setup and final reduction per checksum
/// instead of one for the whole stream. Returns the checksums folded into one value.
///
/// # Panics
///
/// If `frame_len` is under 16 bytes (the smallest frame).
pub fn crc_frames_point(stream: &[u8], frame_len: usize) -> u32 {
    assert!(frame_len >= 16, "a frame has at least 16 bytes");
    // Cloned per checksum, so that CPU features are detected once (as the decoder does).
    let fresh = crc32fast::Hasher::new();
    let mut folded = 0u32;
    for frame in black_box(stream).chunks(frame_len) {
        let mut prelude = fresh.clone();
        prelude.update(&frame[..8]);
        let body = &frame[..frame.len() - 4];
        let (head, bulk) = body.split_at(
            body.len()
                .min((CACHE_LINE - body.as_ptr() as usize % CACHE_LINE) % CACHE_LINE),
        );
        let mut message = fresh.clone();
        message.update(head);
        message.update(bulk);
        folded = folded.rotate_left(1) ^ prelude.finalize() ^ message.finalize();
    }
    folded
}

/// The buffer a copy floor copies into: `len` bytes, placed half a page past the stream it
/// receives, modulo a page. That is the fastest placement for the copies: source and
/// destination equally aligned within a cache line, and as far as can be from 4 KiB aliasing
/// (a load whose address matches a recent store's in its low 12 bits waits for it). On the
/// development machine the same floor ran up to 1.6x slower at other placements, so placing
/// it makes the floors the best case whatever addresses the allocator returned.
pub struct CopyBuffer {
    /// The buffer's bytes and a page to place them in.
    backing: Vec<u8>,
    start: usize,
}

/// The span a [`CopyBuffer`] is placed within.
const PAGE: usize = 4096;

impl std::fmt::Debug for CopyBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyBuffer")
            .field("len", &(self.backing.len() - PAGE))
            .field("start", &self.start)
            .finish()
    }
}

impl CopyBuffer {
    /// A buffer of `len` bytes placed for copies from `stream`.
    pub fn new(len: usize, stream: &[u8]) -> Self {
        let backing = vec![0u8; len + PAGE];
        let start = (stream.as_ptr() as usize)
            .wrapping_add(PAGE / 2)
            .wrapping_sub(backing.as_ptr() as usize)
            % PAGE;
        CopyBuffer { backing, start }
    }

    /// A buffer for [`copy_crc_floor`] on `stream`: room for a whole frame of this payload
    /// size, and at least one chunk.
    pub fn for_frames(payload_len: usize, chunk_len: usize, stream: &[u8]) -> Self {
        Self::new(frame_len(payload_len).max(chunk_len), stream)
    }

    /// The buffer's bytes.
    pub fn region(&mut self) -> &mut [u8] {
        let len = self.backing.len() - PAGE;
        &mut self.backing[self.start..self.start + len]
    }
}

/// The floor for chunked input, which a decoder must make contiguous: each piece of
/// `chunk_len` bytes is copied to its place in `buf` and checksummed there. The pieces go one
/// after the other and start again at the beginning of `buf` when the next one would run past
/// its end, so with a buffer of [`CopyBuffer::for_frames`] this is the least a decoder that
/// hands out a frame's payload as one slice must do: write every byte into a region that
/// holds a whole frame, and checksum it. Returns the checksums folded together.
///
/// With a buffer of one chunk (`CopyBuffer::new(chunk_len, ..)`) every piece lands in the same
/// few kilobytes, which stay in the first-level cache: that variant is reported as a reference
/// point, not a floor, for frames larger than a chunk, since no decoder can give a 64 KiB
/// payload a home that small.
///
/// # Panics
///
/// If `buf` is shorter than `chunk_len`.
pub fn copy_crc_floor(stream: &[u8], chunk_len: usize, buf: &mut CopyBuffer) -> u32 {
    let region = buf.region();
    assert!(region.len() >= chunk_len, "the buffer holds a chunk");
    let mut folded = 0u32;
    let mut at = 0;
    for chunk in stream.chunks(chunk_len) {
        if at + chunk.len() > region.len() {
            at = 0;
        }
        let place = &mut region[at..at + chunk.len()];
        place.copy_from_slice(black_box(chunk));
        folded = folded.rotate_left(1) ^ crc32fast::hash(black_box(&*place));
        at += chunk.len();
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

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

/// The payload size of the signed events: the smallest benchmark message, where the per-event
/// cost of signing dominates.
pub const SIGN_PAYLOAD_LEN: usize = 64;

/// The access key id both signers use (the documented example keys).
pub const SIGN_ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
/// The secret access key both signers use.
pub const SIGN_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// The region both signers use.
pub const SIGN_REGION: &str = "us-east-1";
/// The service signing name both signers use.
pub const SIGN_SERVICE: &str = "transcribe";
/// The seed: the prior signature of the first event (the initial request's signature).
pub const SIGN_SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

/// The first event's signing time: 2023-11-14T22:13:20Z, well before a UTC midnight.
pub const SIGN_START_SECS: i64 = 1_700_000_000;
/// The signing time advances by one second every this many events (a busy stream: many events
/// per second).
pub const SIGN_ADVANCE_EVERY: usize = 64;
/// The events in one benchmark chain (one timed pass).
pub const SIGN_CHAIN_EVENTS: usize = 256;

/// The signing times, in seconds, of a chain of `events` events starting at `start_secs`: the
/// time stays constant for `advance_every` events, then moves one second on.
///
/// # Panics
///
/// If `advance_every` is 0.
pub fn sign_times(start_secs: i64, events: usize, advance_every: usize) -> Vec<i64> {
    assert!(advance_every > 0, "the time must advance");
    (0..events)
        .map(|i| start_secs + (i / advance_every) as i64)
        .collect()
}

/// The benchmark's signing times: [`SIGN_CHAIN_EVENTS`] events from [`SIGN_START_SECS`],
/// advancing every [`SIGN_ADVANCE_EVERY`] events.
pub fn bench_sign_times() -> Vec<i64> {
    sign_times(SIGN_START_SECS, SIGN_CHAIN_EVENTS, SIGN_ADVANCE_EVERY)
}

/// Our signing time for `secs` seconds after the epoch.
///
/// # Panics
///
/// Outside the years 0 to 9999 (the benchmark's times never are).
fn our_time(secs: i64) -> SigningTime {
    SigningTime::from_unix_seconds(secs).expect("the benchmark's times are in range")
}

/// The reference's signing time for `secs` seconds after the epoch (either side of it).
fn reference_time(secs: i64) -> SystemTime {
    let d = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

/// Our signing parameters: [`SIGN_ACCESS_KEY_ID`], [`SIGN_SECRET_ACCESS_KEY`], [`SIGN_REGION`],
/// [`SIGN_SERVICE`].
pub fn our_signing_params() -> SigningParams {
    SigningParams::new(
        Credentials::new(SIGN_ACCESS_KEY_ID, SIGN_SECRET_ACCESS_KEY),
        SIGN_REGION,
        SIGN_SERVICE,
    )
}

/// Our signer at the start of the chain ([`SIGN_SEED`]).
pub fn our_signer() -> SigV4Signer {
    SigV4Signer::new(our_signing_params(), SIGN_SEED)
}

/// The reference signer: a function that signs one message with `aws-sigv4` chained to a prior
/// signature at a time, and returns the envelope and its signature (lowercase hex, the next
/// prior).
///
/// The identity (`aws-credential-types` credentials turned into an `Identity`) is built once,
/// here, as a client does once per stream; each call builds the `SigningParams` (which carry
/// the time, so there is one per event, as in the SDK's own message signer) and calls
/// `aws_sigv4::event_stream::sign_message`, which encodes the message and derives the signing
/// key.
///
/// # Panics
///
/// The returned function panics if `aws-sigv4` fails to sign (the benchmark messages always
/// sign).
pub fn reference_signer(
) -> impl Fn(&reference::Message, &str, SystemTime) -> (reference::Message, String) {
    let identity = aws_credential_types::Credentials::new(
        SIGN_ACCESS_KEY_ID,
        SIGN_SECRET_ACCESS_KEY,
        None,
        None,
        "eventstream-benches",
    )
    .into();
    move |msg, prior, time| {
        let params = reference_v4::SigningParams::builder()
            .identity(&identity)
            .region(SIGN_REGION)
            .name(SIGN_SERVICE)
            .time(time)
            .settings(())
            .build()
            .expect("complete signing parameters");
        sign_message(msg, prior, &params)
            .expect("aws-sigv4 signs the benchmark message")
            .into_parts()
    }
}

/// The length of one signed envelope around a benchmark message with a payload of `payload_len`
/// bytes (the same for both implementations: the same two headers, in another order).
///
/// # Panics
///
/// If the message cannot be signed (it always can).
pub fn envelope_len(payload_len: usize) -> usize {
    let mut buf = BytesMut::new();
    sign_ours_to(
        &mut our_signer(),
        &our_message(payload_len),
        &[SIGN_START_SECS],
        &mut buf,
    )
}

/// Ours, the session's path: signs `msg` once per entry of `times` (seconds) with `signer`'s
/// [`EventSigner::sign_to`], which writes the whole envelope frame into `buf` (cleared before
/// each event: a reused buffer whose frame the transport has taken). The time is converted to
/// a [`SigningTime`] per event. Returns the wire bytes written.
///
/// # Panics
///
/// If signing fails (the benchmark messages always sign, and the chain never ends).
pub fn sign_ours_to(
    signer: &mut SigV4Signer,
    msg: &ours::Message,
    times: &[i64],
    buf: &mut BytesMut,
) -> usize {
    let mut written = 0;
    for &secs in times {
        buf.clear();
        written += signer
            .sign_to(msg, our_time(secs), &ours::Limits::DEFAULT, buf)
            .expect("our signer signs the benchmark message");
        black_box(&buf[..]);
    }
    written
}

/// Ours, sign only: signs `msg` once per entry of `times` with [`SigV4Signer::sign`], which
/// returns the envelope as a message (not encoded). Returns the envelopes' payload bytes.
///
/// # Panics
///
/// If signing fails (it never does here).
pub fn sign_ours(signer: &mut SigV4Signer, msg: &ours::Message, times: &[i64]) -> usize {
    let mut payload_bytes = 0;
    for &secs in times {
        let envelope = signer
            .sign(msg, &ours::Limits::DEFAULT, our_time(secs))
            .expect("our signer signs the benchmark message");
        payload_bytes += black_box(&envelope).payload().len();
    }
    payload_bytes
}

/// Ours, sign then encode: [`SigV4Signer::sign`], then `Message::encode` of the envelope into
/// `buf` (cleared before each event). Returns the wire bytes written.
///
/// # Panics
///
/// If signing or encoding fails (neither does here).
pub fn sign_ours_encode(
    signer: &mut SigV4Signer,
    msg: &ours::Message,
    times: &[i64],
    buf: &mut BytesMut,
) -> usize {
    let mut written = 0;
    for &secs in times {
        buf.clear();
        written += signer
            .sign(msg, &ours::Limits::DEFAULT, our_time(secs))
            .expect("our signer signs the benchmark message")
            .encode(buf)
            .expect("the envelope encodes");
        black_box(&buf[..]);
    }
    written
}

/// The reference, sign only: signs `msg` once per entry of `times` with `sign` (from
/// [`reference_signer`]: `aws_sigv4::event_stream::sign_message`), chained to `prior`, which
/// it advances to each new signature. The envelope is returned as a message, not encoded.
/// Returns the envelopes' payload bytes.
pub fn sign_reference(
    sign: &impl Fn(&reference::Message, &str, SystemTime) -> (reference::Message, String),
    prior: &mut String,
    msg: &reference::Message,
    times: &[i64],
) -> usize {
    let mut payload_bytes = 0;
    for &secs in times {
        let (envelope, signature) = sign(msg, prior, reference_time(secs));
        *prior = signature;
        payload_bytes += black_box(&envelope).payload().len();
    }
    payload_bytes
}

/// The reference, sign then encode: as [`sign_reference`], then `write_message_to` of the
/// envelope into `buf` (cleared before each event), so that it produces wire bytes like
/// [`sign_ours_to`]. Returns the wire bytes written.
///
/// # Panics
///
/// If the envelope cannot be encoded (it always can).
pub fn sign_reference_encode(
    sign: &impl Fn(&reference::Message, &str, SystemTime) -> (reference::Message, String),
    prior: &mut String,
    msg: &reference::Message,
    times: &[i64],
    buf: &mut BytesMut,
) -> usize {
    let mut written = 0;
    for &secs in times {
        let (envelope, signature) = sign(msg, prior, reference_time(secs));
        *prior = signature;
        buf.clear();
        write_message_to(&envelope, buf).expect("the reference's envelope encodes");
        written += black_box(&buf[..]).len();
    }
    written
}

/// Lowercase hex.
fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Checks, without timing anything, that both implementations sign the same chain: the
/// benchmark message (payload [`SIGN_PAYLOAD_LEN`]) once per entry of `times`, from
/// [`SIGN_SEED`]. Frame by frame:
///
/// - our `sign_to` frames decode (with our decoder) to exactly the envelopes of our `sign`, and
///   their bytes are those envelopes encoded;
/// - our `:chunk-signature` equals the reference envelope's `:chunk-signature` and the signature
///   `sign_message` returns; the `:date` values and the payloads (the encoded inner message)
///   are equal too, and both envelopes encode to frames of the same length;
///
/// and then that the benchmark drivers ([`sign_ours_to`], [`sign_ours`], [`sign_ours_encode`],
/// [`sign_reference`], [`sign_reference_encode`]), each on a fresh chain, end at the same prior
/// signature and write the expected byte counts.
///
/// Returns the number of events checked.
///
/// # Errors
///
/// A description of the first disagreement.
pub fn check_signing(times: &[i64]) -> Result<usize, String> {
    let msg = our_message(SIGN_PAYLOAD_LEN);
    let their_msg = reference_message(SIGN_PAYLOAD_LEN);
    let sign = reference_signer();

    // Ours, both ways, frame by frame.
    let mut to_signer = our_signer();
    let mut msg_signer = our_signer();
    let mut wire = BytesMut::new();
    let mut ours_envelopes = Vec::with_capacity(times.len());
    for (i, &secs) in times.iter().enumerate() {
        let start = wire.len();
        to_signer
            .sign_to(&msg, our_time(secs), &ours::Limits::DEFAULT, &mut wire)
            .map_err(|e| format!("sign_to, event {i}: {e}"))?;
        let envelope = msg_signer
            .sign(&msg, &ours::Limits::DEFAULT, our_time(secs))
            .map_err(|e| format!("sign, event {i}: {e}"))?;
        let mut encoded = BytesMut::new();
        envelope
            .encode(&mut encoded)
            .map_err(|e| format!("encoding our envelope {i}: {e}"))?;
        if wire[start..] != encoded[..] {
            return Err(format!(
                "event {i}: sign_to wrote other bytes than sign + encode"
            ));
        }
        ours_envelopes.push(envelope);
    }
    let mut decoded = Vec::with_capacity(times.len());
    drive_ours_whole(&wire.freeze(), |m| decoded.push(m))
        .map_err(|e| format!("our decoder rejects our signed frames: {e}"))?;
    if decoded != ours_envelopes {
        return Err("sign_to's frames decode to other envelopes than sign's".into());
    }

    // Theirs, and the comparison.
    let mut prior = SIGN_SEED.to_owned();
    for (i, (&secs, ours_env)) in times.iter().zip(&ours_envelopes).enumerate() {
        let (their_env, their_sig) = sign(&their_msg, &prior, reference_time(secs));
        let our_sig = ours_env
            .header(":chunk-signature")
            .and_then(ours::HeaderValue::as_bytes)
            .ok_or_else(|| format!("our envelope {i} has no :chunk-signature"))?;
        let their_header = |name: &str| {
            their_env
                .headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .map(reference::Header::value)
                .ok_or_else(|| format!("the reference's envelope {i} has no {name}"))
        };
        let their_sig_bytes = their_header(":chunk-signature")?
            .as_byte_array()
            .map_err(|v| format!("event {i}: the reference's :chunk-signature is {v:?}"))?;
        if our_sig[..] != their_sig_bytes[..] {
            return Err(format!(
                "event {i} at {secs} s: :chunk-signature {} (ours) != {} (reference)",
                to_hex(our_sig),
                to_hex(their_sig_bytes)
            ));
        }
        if to_hex(our_sig) != their_sig {
            return Err(format!(
                "event {i}: sign_message returned {their_sig}, its envelope carries {}",
                to_hex(their_sig_bytes)
            ));
        }
        let their_date = their_header(":date")?
            .as_timestamp()
            .map_err(|v| format!("event {i}: the reference's :date is {v:?}"))?
            .to_millis()
            .map_err(|e| format!("event {i}: the reference's :date: {e}"))?;
        if ours_env
            .header(":date")
            .and_then(ours::HeaderValue::as_timestamp)
            != Some(their_date)
        {
            return Err(format!("event {i}: the :date values differ"));
        }
        if ours_env.payload() != their_env.payload() {
            return Err(format!("event {i}: the envelopes' payloads differ"));
        }
        let mut their_wire = BytesMut::new();
        write_message_to(&their_env, &mut their_wire)
            .map_err(|e| format!("encoding the reference's envelope {i}: {e}"))?;
        if their_wire.len() != ours_env.encoded_len() {
            return Err(format!("event {i}: the envelopes encode to other lengths"));
        }
        prior = their_sig;
    }
    let Some(last) = ours_envelopes.last() else {
        return Ok(0);
    };
    if to_signer.prior_signature() != prior || msg_signer.prior_signature() != prior {
        return Err("the chains end at different prior signatures".into());
    }

    // The benchmark drivers, each on a fresh chain.
    let frame = last.encoded_len();
    let payload_bytes = last.payload().len() * times.len();
    let wire_bytes = frame * times.len();
    let mut buf = BytesMut::new();
    let mut signer = our_signer();
    let mut results = vec![(
        "sign_ours_to",
        sign_ours_to(&mut signer, &msg, times, &mut buf),
        wire_bytes,
        signer.prior_signature().to_owned(),
    )];
    let mut signer = our_signer();
    results.push((
        "sign_ours",
        sign_ours(&mut signer, &msg, times),
        payload_bytes,
        signer.prior_signature().to_owned(),
    ));
    let mut signer = our_signer();
    results.push((
        "sign_ours_encode",
        sign_ours_encode(&mut signer, &msg, times, &mut buf),
        wire_bytes,
        signer.prior_signature().to_owned(),
    ));
    let mut chain = SIGN_SEED.to_owned();
    let n = sign_reference(&sign, &mut chain, &their_msg, times);
    results.push(("sign_reference", n, payload_bytes, chain));
    let mut chain = SIGN_SEED.to_owned();
    let n = sign_reference_encode(&sign, &mut chain, &their_msg, times, &mut buf);
    results.push(("sign_reference_encode", n, wire_bytes, chain));
    for (what, got, expected, end) in results {
        if got != expected {
            return Err(format!("{what} reported {got} bytes, expected {expected}"));
        }
        if end != prior {
            return Err(format!("{what} ends the chain at another signature"));
        }
    }
    Ok(times.len())
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
            assert_eq!(stream.as_ptr() as usize % CACHE_LINE, 0);
            let mut buf = BytesMut::new();
            assert_eq!(encode_ours(&our_message(payload_len), &mut buf), frame);
            assert_eq!(
                encode_reference(&reference_message(payload_len), &mut buf),
                frame
            );
            assert_eq!(crc_floor(&stream), crc32fast::hash(&stream));
            // The per-frame point checksums each prelude and each message body.
            let per_frame = stream.chunks(frame).fold(0u32, |f, fr| {
                f.rotate_left(1) ^ crc32fast::hash(&fr[..8]) ^ crc32fast::hash(&fr[..frame - 4])
            });
            assert_eq!(crc_frames_point(&stream, frame), per_frame);
            // The copy floor checksums every chunk it copies, wherever it lands.
            let folded = stream
                .chunks(CHUNK_LEN)
                .fold(0u32, |f, c| f.rotate_left(1) ^ crc32fast::hash(c));
            for mut buf in [
                CopyBuffer::for_frames(payload_len, CHUNK_LEN, &stream),
                CopyBuffer::new(CHUNK_LEN, &stream),
            ] {
                assert_eq!(copy_crc_floor(&stream, CHUNK_LEN, &mut buf), folded);
                // Half a page past the stream, modulo a page.
                let gap = (buf.region().as_ptr() as usize).wrapping_sub(stream.as_ptr() as usize);
                assert_eq!(gap % PAGE, PAGE / 2);
            }
            assert_eq!(
                CopyBuffer::for_frames(payload_len, CHUNK_LEN, &stream)
                    .region()
                    .len(),
                frame.max(CHUNK_LEN)
            );
        }
    }

    #[test]
    fn the_signers_agree() {
        // The benchmark's times (a cheap prefix: three time steps), then a chain that crosses UTC
        // midnight (2023-11-15T00:00:00Z is 1_700_006_400), where the signing key changes.
        let bench = sign_times(
            SIGN_START_SECS,
            2 * SIGN_ADVANCE_EVERY + 3,
            SIGN_ADVANCE_EVERY,
        );
        let midnight = sign_times(1_700_006_400 - 2, 9, 2);
        for times in [bench, midnight] {
            assert_eq!(check_signing(&times), Ok(times.len()), "times {times:?}");
        }
        assert_eq!(
            envelope_len(SIGN_PAYLOAD_LEN),
            16 + 15 + 52 + frame_len(SIGN_PAYLOAD_LEN)
        );
        let times = bench_sign_times();
        assert_eq!(times.len(), SIGN_CHAIN_EVENTS);
        assert!(times.windows(2).all(|w| w[1] - w[0] <= 1));
    }
}
