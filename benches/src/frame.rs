//! The frame benchmarks' shared work: the benchmark message in both models, streams of its
//! frames, one driver per decoder fed as a transport would feed it (and their benchmark forms,
//! which consume every message into a [`Tally`]), the floors (what any decoder must at least do:
//! [`crc_floor`], [`copy_crc_floor`] with a [`CopyBuffer`]), the checksums alone frame by frame
//! ([`crc_frames_point`]), and one encoder call per implementation.

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
/// Both encoders produce exactly these bytes (see [`check_agreement`](crate::oracle::check_agreement)); ours builds them.
///
/// # Panics
///
/// If the message cannot be encoded (it always can).
pub fn build_stream(payload_len: usize, count: usize) -> Bytes {
    let msg = our_message(payload_len);
    let mut buf = BytesMut::with_capacity(msg.encoded_len() * count + CACHE_LINE);
    // The stream starts on a cache line, wherever the allocator put the buffer: the CRC-32
    // kernel is cheapest on loads that do not cross cache lines, so the floors are their best
    // case, and every run measures the same thing.
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
/// last 4 bytes), whose bulk starts on a cache line as in our decoder (the CRC-32 kernel is
/// cheapest on loads that do not cross cache lines). Its ratio to [`crc_floor`] is what checking
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
/// (a load whose address matches a recent store's in its low 12 bits waits for it). Placing it
/// makes the floors their best case whatever addresses the allocator returned, and the same
/// from one run to the next.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
