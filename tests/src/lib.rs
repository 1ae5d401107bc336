//! The cross-crate tests' library: what the test files under `tests/` share, the deterministic
//! simulation, and the fuzz target bodies.
//!
//! Modules:
//!
//! - [`sim`]: the deterministic simulation, a client and a server `Session` joined by in-memory
//!   links on a virtual clock (`tests/simulation.rs`, `tests/simulation_props.rs`); its
//!   endpoints and reports are also the harness of the `session` fuzz target;
//! - [`fuzz`]: the bodies of the cargo-fuzz targets in `fuzz/` (`decode`, `round_trip`,
//!   `session`, `verify`) and their oracles, replayed over the committed corpus by
//!   `tests/fuzz_corpus.rs` and `tests/fuzz_regressions.rs`;
//! - [`sigv4`]: signing-chain helpers and strategies (`tests/sigv4_*.rs`);
//! - [`proxy`]: a fault-injecting TCP proxy and resident-memory probes (`tests/faults_*.rs`,
//!   `tests/memory_bounds.rs`, `tests/forged_length.rs`).
//!
//! At the root, for the frame tests (`tests/vectors.rs`, `tests/properties.rs`,
//! `tests/interop.rs`) and the modules above:
//!
//! - where the conformance vectors live: [`vectors_dir`], [`frames_dir`], [`read_vector`],
//!   [`read_vector_json`] (always the project's own copy under `tests/vectors/`, never
//!   `../shared`);
//! - frames built by hand, independently of the encoder: [`prelude`], [`build_frame`],
//!   [`fix_message_crc`];
//! - the encoder in one call: [`encode`], [`encode_all`];
//! - decode-everything drivers: [`decode_all`], [`decode_pieces`], [`decode_chunked`],
//!   [`Chunking`], [`Piece`], [`Decoded`];
//! - proptest strategies for arbitrary messages: [`message`], [`messages`], [`header`],
//!   [`header_name`], [`header_value`], [`string_value`], [`bytes_value`], [`payload`],
//!   [`chunking`].
//!
//! Hex, the seeded generator and the counting allocator come from `eventstream-testkit`. The
//! README's examples are compiled here as doc tests.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use eventstream::frame::{
    FrameDecoder, FrameError, Header, HeaderValue, Limits, Message, MAX_HEADER_NAME_LEN,
    MAX_HEADER_VALUE_LEN, PRELUDE_LEN,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

pub mod fuzz;
pub mod proxy;
pub mod sigv4;
pub mod sim;

// ---------------------------------------------------------------------------------------------
// Vectors
// ---------------------------------------------------------------------------------------------

/// The project's copy of the conformance vectors: `tests/vectors/`.
///
/// Resolved from `CARGO_MANIFEST_DIR` at compile time, so the tests read the same files whatever
/// directory `cargo test` runs in.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// The frame vectors: `tests/vectors/frames/`.
pub fn frames_dir() -> PathBuf {
    vectors_dir().join("frames")
}

/// The bytes of a file under [`vectors_dir`], given its path relative to it.
///
/// # Panics
///
/// When the file cannot be read; the message names the path.
pub fn read_vector(relative: &str) -> Vec<u8> {
    let path = vectors_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A JSON file under [`vectors_dir`], parsed.
///
/// # Panics
///
/// When the file cannot be read or is not JSON; the message names the path.
pub fn read_vector_json(relative: &str) -> serde_json::Value {
    let bytes = read_vector(relative);
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{relative} is not valid JSON: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Frames built by hand
// ---------------------------------------------------------------------------------------------

/// A 12-byte prelude with these lengths and a valid prelude CRC.
pub fn prelude(total_len: u32, headers_len: u32) -> [u8; PRELUDE_LEN] {
    let mut p = [0u8; PRELUDE_LEN];
    p[0..4].copy_from_slice(&total_len.to_be_bytes());
    p[4..8].copy_from_slice(&headers_len.to_be_bytes());
    let crc = crc32fast::hash(&p[..8]);
    p[8..12].copy_from_slice(&crc.to_be_bytes());
    p
}

/// A complete frame around an already encoded header block and a payload, with correct lengths
/// and CRCs. Built byte by byte, without the crate's encoder, so that decoding it tests the
/// decoder alone.
///
/// # Panics
///
/// When the frame would not fit the wire's `u32` length.
pub fn build_frame(header_block: &[u8], payload: &[u8]) -> Vec<u8> {
    let total = 16 + header_block.len() + payload.len();
    let total = u32::try_from(total).expect("frame longer than u32::MAX");
    let headers_len = header_block.len() as u32;
    let mut frame = Vec::with_capacity(total as usize);
    frame.extend_from_slice(&prelude(total, headers_len));
    frame.extend_from_slice(header_block);
    frame.extend_from_slice(payload);
    let crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&crc.to_be_bytes());
    frame
}

/// The big-endian `u32` at `at`: a prelude's total length (`at` = a frame's start) or headers
/// length (`at + 4`).
///
/// # Panics
///
/// When `bytes` holds fewer than four bytes from `at`.
pub(crate) fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Recomputes the trailing message CRC of the frame at the start of `bytes` over the bytes it
/// covers, as they are. Returns `false` (and changes nothing) when `bytes` holds no complete frame
/// according to its declared total length.
pub fn fix_message_crc(bytes: &mut [u8]) -> bool {
    if bytes.len() < PRELUDE_LEN {
        return false;
    }
    let total = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if total < 16 || total > bytes.len() {
        return false;
    }
    let crc = crc32fast::hash(&bytes[..total - 4]);
    bytes[total - 4..total].copy_from_slice(&crc.to_be_bytes());
    true
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// `msg` encoded with the default limits.
///
/// # Panics
///
/// When the message cannot be encoded, or when [`Message::encode`] reports a length other than
/// [`Message::encoded_len`] or than the bytes it wrote.
pub fn encode(msg: &Message) -> Bytes {
    encode_all(std::slice::from_ref(msg))
}

/// The messages encoded one after the other with the default limits, as a sender would write them.
///
/// # Panics
///
/// As [`encode`].
pub fn encode_all(msgs: &[Message]) -> Bytes {
    let mut buf = BytesMut::new();
    for msg in msgs {
        let before = buf.len();
        let n = msg
            .encode(&mut buf)
            .unwrap_or_else(|e| panic!("cannot encode {msg:?}: {e}"));
        assert_eq!(
            n,
            buf.len() - before,
            "encode() returned {n} but wrote {}",
            buf.len() - before
        );
        assert_eq!(
            n,
            msg.encoded_len(),
            "encoded_len() differs from the bytes written"
        );
    }
    buf.freeze()
}

// ---------------------------------------------------------------------------------------------
// Decoding drivers
// ---------------------------------------------------------------------------------------------

/// One piece of input for [`decode_pieces`].
#[derive(Clone, Debug)]
pub enum Piece<'a> {
    /// Fed with [`FrameDecoder::handle_input`] (copied).
    Input(&'a [u8]),
    /// Fed with [`FrameDecoder::handle_bytes`] (shared, not copied).
    Bytes(Bytes),
}

impl Piece<'_> {
    /// The piece's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Piece::Input(s) => s.len(),
            Piece::Bytes(b) => b.len(),
        }
    }

    /// Whether the piece is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Feeds the piece to `decoder` with the method it stands for.
    pub fn feed(&self, decoder: &mut FrameDecoder) {
        match self {
            Piece::Input(s) => decoder.handle_input(s),
            Piece::Bytes(b) => decoder.handle_bytes(&b.clone()),
        }
    }
}

/// How one decoder run went: what [`decode_pieces`] saw.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The messages handed out, in order.
    pub messages: Vec<Message>,
    /// The first error, from `poll_message` or from `finish`; `None` when the input ended cleanly.
    pub error: Option<FrameError>,
    /// Whether that error came from `finish` rather than from `poll_message`.
    pub failed_in_finish: bool,
    /// How many bytes had been fed when the run stopped: all of them, unless `poll_message`
    /// failed first.
    pub bytes_fed: usize,
}

impl Decoded {
    /// The error's kind (`FrameError::kind`), if the run failed.
    pub fn kind(&self) -> Option<&'static str> {
        self.error.as_ref().map(FrameError::kind)
    }

    /// Whether the run ended without an error.
    pub fn is_clean(&self) -> bool {
        self.error.is_none()
    }
}

/// Feeds `pieces` to `decoder` in order, draining `poll_message` after each, then calls `finish`
/// and drains again, following the decoder's drain contract. Stops at the first error.
pub fn decode_pieces<'a>(
    mut decoder: FrameDecoder,
    pieces: impl IntoIterator<Item = Piece<'a>>,
) -> Decoded {
    let mut out = Decoded {
        messages: Vec::new(),
        error: None,
        failed_in_finish: false,
        bytes_fed: 0,
    };
    for piece in pieces {
        piece.feed(&mut decoder);
        out.bytes_fed += piece.len();
        if let Err(e) = drain(&mut decoder, &mut out.messages) {
            out.error = Some(e);
            return out;
        }
    }
    if let Err(e) = decoder.handle_end_of_input() {
        out.error = Some(e);
        out.failed_in_finish = true;
        return out;
    }
    if let Err(e) = drain(&mut decoder, &mut out.messages) {
        out.error = Some(e);
    }
    out
}

fn drain(decoder: &mut FrameDecoder, into: &mut Vec<Message>) -> Result<(), FrameError> {
    while let Some(msg) = decoder.poll_message()? {
        into.push(msg);
    }
    Ok(())
}

/// Decodes `data` fed in one `handle_input` call to a default decoder.
pub fn decode_all(data: &[u8]) -> Decoded {
    decode_pieces(FrameDecoder::new(), [Piece::Input(data)])
}

/// How to cut input into pieces: the shapes a transport may deliver bytes in.
#[derive(Clone, Debug)]
pub enum Chunking {
    /// One `handle_input` call with everything.
    Whole,
    /// One `handle_bytes` call with everything.
    WholeBytes,
    /// One byte per `handle_input` call.
    Ones,
    /// `handle_input` pieces of these sizes, cycled until the input is used up (zeros count as 1).
    Sizes(Vec<usize>),
    /// Pieces of these sizes, cycled, each fed with `handle_bytes` (`true`) or `handle_input`
    /// (`false`).
    Mixed(Vec<(usize, bool)>),
}

impl Chunking {
    /// `handle_input` pieces of `n` bytes (the last one may be shorter).
    pub fn fixed(n: usize) -> Self {
        Chunking::Sizes(vec![n])
    }

    /// `data` cut into pieces this way, lazily (a 24 MiB input cut in 7-byte pieces allocates
    /// nothing per piece).
    pub fn pieces<'a>(&self, data: &'a Bytes) -> Box<dyn Iterator<Item = Piece<'a>> + 'a> {
        let plan: Vec<(usize, bool)> = match self {
            Chunking::Whole => return Box::new(std::iter::once(Piece::Input(&data[..]))),
            Chunking::WholeBytes => return Box::new(std::iter::once(Piece::Bytes(data.clone()))),
            Chunking::Ones => vec![(1, false)],
            Chunking::Sizes(sizes) => sizes.iter().map(|&n| (n.max(1), false)).collect(),
            Chunking::Mixed(plan) => plan.iter().map(|&(n, b)| (n.max(1), b)).collect(),
        };
        let plan = if plan.is_empty() {
            vec![(1, false)]
        } else {
            plan
        };
        let mut at = 0;
        Box::new(plan.into_iter().cycle().map_while(move |(n, shared)| {
            if at >= data.len() {
                return None;
            }
            let end = (at + n).min(data.len());
            let piece = if shared {
                Piece::Bytes(data.slice(at..end))
            } else {
                Piece::Input(&data[at..end])
            };
            at = end;
            Some(piece)
        }))
    }
}

/// Decodes `data` with `decoder`, cut into pieces as `chunking` says.
pub fn decode_chunked(decoder: FrameDecoder, data: &Bytes, chunking: &Chunking) -> Decoded {
    decode_pieces(decoder, chunking.pieces(data))
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// A string of exactly `len` bytes: `pattern` repeated while whole characters fit, then padded
/// with ASCII. Cheap to build at any length, unlike a `Vec<char>` strategy of that size.
fn utf8_of_len(len: usize, pattern: &[char]) -> String {
    let mut s = String::with_capacity(len);
    for &c in pattern.iter().cycle() {
        if s.len() + c.len_utf8() > len {
            break;
        }
        s.push(c);
    }
    while s.len() < len {
        s.push('x');
    }
    s
}

/// Arbitrary UTF-8 of at most `max` bytes (whole characters only), at least one character.
fn utf8_up_to(max: RangeInclusive<usize>) -> impl Strategy<Value = String> {
    (max, vec(any::<char>(), 1..=64)).prop_map(|(max, chars)| {
        let mut s = String::new();
        for c in chars {
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        if s.is_empty() {
            s.push('n');
        }
        s
    })
}

/// Header names: 1 to 255 bytes of UTF-8 (bytes, not characters). Mostly short ASCII names like
/// real ones, often arbitrary Unicode, sometimes exactly 255 bytes.
pub fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => "[:a-z][a-z0-9:-]{0,23}",
        4 => utf8_up_to(1..=MAX_HEADER_NAME_LEN),
        1 => vec(any::<char>(), 1..=8).prop_map(|p| utf8_of_len(MAX_HEADER_NAME_LEN, &p)),
    ]
}

/// String values: usually 0 to 64 characters of arbitrary Unicode; sometimes long, up to the
/// wire's 32,767 bytes (exactly that, sometimes).
pub fn string_value() -> impl Strategy<Value = String> {
    let long_len = prop_oneof![3 => 0..=MAX_HEADER_VALUE_LEN, 1 => Just(MAX_HEADER_VALUE_LEN)];
    prop_oneof![
        30 => vec(any::<char>(), 0..=64).prop_map(|c| c.into_iter().collect::<String>()),
        1 => (long_len, vec(any::<char>(), 1..=16)).prop_map(|(n, p)| utf8_of_len(n, &p)),
    ]
}

/// Pseudo-random bytes from a seed (xorshift), cheap at any length.
fn filler(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Byte array values: usually 0 to 64 arbitrary bytes; sometimes long, up to 32,767 bytes.
pub fn bytes_value() -> impl Strategy<Value = Bytes> {
    let long_len = prop_oneof![3 => 0..=MAX_HEADER_VALUE_LEN, 1 => Just(MAX_HEADER_VALUE_LEN)];
    prop_oneof![
        30 => vec(any::<u8>(), 0..=64).prop_map(Bytes::from),
        1 => (long_len, any::<u64>()).prop_map(|(n, seed)| filler(n, seed)),
    ]
}

/// Header values of every type, with arbitrary contents.
pub fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        any::<bool>().prop_map(HeaderValue::Bool),
        any::<i8>().prop_map(HeaderValue::Byte),
        any::<i16>().prop_map(HeaderValue::Short),
        any::<i32>().prop_map(HeaderValue::Int),
        any::<i64>().prop_map(HeaderValue::Long),
        bytes_value().prop_map(HeaderValue::Bytes),
        string_value().prop_map(HeaderValue::from),
        any::<i64>().prop_map(HeaderValue::Timestamp),
        any::<[u8; 16]>().prop_map(HeaderValue::Uuid),
    ]
}

/// One header: a [`header_name`] and a [`header_value`].
pub fn header() -> impl Strategy<Value = Header> {
    (header_name(), header_value()).prop_map(|(name, value)| Header::new(name, value))
}

/// Payloads: 0 to 4,096 arbitrary bytes, and often exactly empty.
pub fn payload() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        1 => Just(Bytes::new()),
        6 => vec(any::<u8>(), 0..=4096).prop_map(Bytes::from),
    ]
}

/// Arbitrary messages the wire format can carry: 0 to 8 headers of all types (names sometimes
/// repeated) and a [`payload`]. Headers that would push the header block past the default limit
/// (128 KiB) are dropped, so every message encodes with [`Limits::DEFAULT`].
pub fn message() -> impl Strategy<Value = Message> {
    (
        vec(header(), 0..=8),
        vec((any::<Index>(), any::<Index>()), 0..=2),
        payload(),
    )
        .prop_map(|(mut headers, dups, payload)| {
            if !headers.is_empty() {
                for (from, to) in dups {
                    let name = headers[from.index(headers.len())].name_bytes().clone();
                    let to = to.index(headers.len());
                    let value = headers[to].value().clone();
                    headers[to] = Header::new(name, value);
                }
            }
            let budget = Limits::DEFAULT.max_headers_len() as usize;
            let mut used = 0;
            headers.retain(|h| {
                let fits = used + h.encoded_len() <= budget;
                if fits {
                    used += h.encoded_len();
                }
                fits
            });
            Message::from_parts(headers, payload)
        })
}

/// Sequences of [`message`]s, as a stream carries them.
pub fn messages(count: RangeInclusive<usize>) -> impl Strategy<Value = Vec<Message>> {
    vec(message(), count)
}

/// Ways to cut a stream into pieces: whole (copied or shared), one byte at a time, arbitrary
/// sizes, and arbitrary mixes of `handle_bytes` and `handle_input` pieces.
pub fn chunking() -> impl Strategy<Value = Chunking> {
    let size = prop_oneof![3 => 1..=16usize, 1 => 1..=5000usize];
    prop_oneof![
        1 => Just(Chunking::Whole),
        1 => Just(Chunking::WholeBytes),
        1 => Just(Chunking::Ones),
        3 => vec(size.clone(), 1..=8).prop_map(Chunking::Sizes),
        3 => vec((size, any::<bool>()), 1..=8).prop_map(Chunking::Mixed),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_of_len_is_exact() {
        for len in [0, 1, 2, 3, 254, 255, 32_767] {
            let s = utf8_of_len(len, &['\u{10FFFF}', 'é', 'a']);
            assert_eq!(s.len(), len);
        }
    }

    #[test]
    fn chunking_covers_the_input() {
        let data = Bytes::from_static(b"0123456789");
        for c in [
            Chunking::Whole,
            Chunking::WholeBytes,
            Chunking::Ones,
            Chunking::fixed(3),
            Chunking::Sizes(vec![0, 4]),
            Chunking::Mixed(vec![(2, true), (3, false)]),
        ] {
            let mut joined = Vec::new();
            for p in c.pieces(&data) {
                match p {
                    Piece::Input(s) => joined.extend_from_slice(s),
                    Piece::Bytes(b) => joined.extend_from_slice(&b),
                }
            }
            assert_eq!(joined, &data[..], "{c:?}");
        }
    }

    #[test]
    fn build_frame_matches_the_encoder() {
        let msg = Message::new(&b"payload"[..]).with_header("h", 7i32);
        let block = [&[1u8][..], b"h", &[4], &7i32.to_be_bytes()].concat();
        assert_eq!(build_frame(&block, b"payload"), &encode(&msg)[..]);
    }
}

/// The README's examples, compiled (and, where they need no server, run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
