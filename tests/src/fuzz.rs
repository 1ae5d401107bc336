//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz, nightly), as ordinary code.
//!
//! Each function takes the fuzzer's bytes, drives one entry point of the core with them and
//! panics when an invariant is violated. The cargo-fuzz crate calls them from tiny
//! `fuzz_targets/<name>.rs` files; `tests/fuzz_corpus.rs` replays the committed corpus through
//! them on stable, in `cargo test`.
//!
//! | body | entry points | invariants |
//! |---|---|---|
//! | [`decode`] | `FrameDecoder` | no panic; whole and chunked feeding give the same messages and the same error; each message re-encodes to its own bytes; errors point at the right bytes and stick |
//! | [`round_trip`] | `Message::encode*`, `FrameDecoder` | encode → decode is the identity; the encoder fails exactly when the limits or the wire format forbid the message |
//! | [`session`] | `Session` (client and server) | no panic; every accepted and delivered message arrives once, in order, byte-identical; one terminal event per side, last; the transmit sequence and the failure contract |
//! | [`verify`] | `SigV4Signer`, `SigV4Verifier`, `VerifyingDecoder`, `Unchecked` | a mutated chain is never accepted; what is handed out is a prefix of what was signed; the core's pipeline agrees |
//!
//! Inputs are read with [`arbitrary::Unstructured`] through [`Input`], whose reads return a
//! default once the bytes run out, so that every input, however short, is a valid run.
//!
//! Core bugs found and not fixed yet are listed in [`KnownCoreBugs`]: the bodies steer clear of
//! them, and `tests/fuzz_regressions.rs` fails until they are fixed.

use std::collections::HashSet;

use arbitrary::Unstructured;
use bytes::{Bytes, BytesMut};
use eventstream::frame::{
    EncodeError, FrameDecoder, FrameError, Header, HeaderValue, Limits, Message,
    MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN, PRELUDE_LEN,
};
use eventstream::session::{
    error_message, EventBuilder, ExceptionBuilder, Mode, ResetCause, Role, SendError, Session,
    SessionConfig, SessionError, SessionEvent, Transmit,
};
use eventstream::sign::is_envelope;
use eventstream::sign::{
    EventVerifier, SigV4Signer, SigV4Verifier, SigningParams, SigningTime, Unchecked, Verified,
    VerifyError, VerifyingDecoder,
};

use crate::sigv4::{self, Keys, Rotation, Setup, DAY, MAX_SECS, MIN_SECS};
use crate::sim::check_prefix;
use crate::{decode_pieces, fix_message_crc, Piece};

// ---------------------------------------------------------------------------------------------
// Reading the fuzzer's bytes
// ---------------------------------------------------------------------------------------------

/// The fuzzer's bytes, read front to back; every read returns a default (the low end of a range,
/// zero, `false`) once they run out.
#[derive(Debug)]
pub struct Input<'a> {
    u: Unstructured<'a>,
}

impl<'a> Input<'a> {
    /// Reads `data` from its start.
    pub fn new(data: &'a [u8]) -> Self {
        Input {
            u: Unstructured::new(data),
        }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.u.is_empty()
    }

    /// One byte.
    pub fn byte(&mut self) -> u8 {
        self.u.arbitrary().unwrap_or(0)
    }

    /// A number in `lo..=hi` (one byte for ranges of up to 256 values).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        self.u.int_in_range(lo..=hi).unwrap_or(lo)
    }

    /// A number in `lo..=hi`.
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        self.u.int_in_range(lo..=hi).unwrap_or(lo)
    }

    /// `true` with probability `num / den`.
    pub fn ratio(&mut self, num: u8, den: u8) -> bool {
        self.u.ratio(num, den).unwrap_or(false)
    }

    /// Exactly `len` bytes: at most `take` read from the input, then those repeated (zeros if
    /// none could be read). Long values cost the fuzzer few bytes.
    pub fn filled(&mut self, len: usize, take: usize) -> Vec<u8> {
        let n = len.min(take).min(self.u.len());
        let head = self.u.bytes(n).unwrap_or_default().to_vec();
        if head.is_empty() {
            return vec![0; len];
        }
        head.iter().copied().cycle().take(len).collect()
    }

    /// A UTF-8 string of exactly `len` bytes: up to 32 characters from the input, repeated while
    /// whole characters fit, then padded with ASCII.
    pub fn utf8(&mut self, len: usize) -> String {
        let mut chars = Vec::new();
        let mut used = 0;
        while chars.len() < 32 && used < len && !self.u.is_empty() {
            let c: char = self.u.arbitrary().unwrap_or('a');
            if used + c.len_utf8() > len {
                break;
            }
            used += c.len_utf8();
            chars.push(c);
        }
        let mut s = String::with_capacity(len);
        if !chars.is_empty() {
            for &c in chars.iter().cycle() {
                if s.len() + c.len_utf8() > len {
                    break;
                }
                s.push(c);
            }
        }
        while s.len() < len {
            s.push((b'a' + (s.len() % 26) as u8) as char);
        }
        s
    }

    /// A short string: a pick from `pool`, or 0..=12 bytes of input UTF-8.
    pub fn pick_str(&mut self, pool: &[&str]) -> String {
        let i = self.range(0, pool.len());
        match pool.get(i) {
            Some(s) => (*s).to_owned(),
            None => {
                let n = self.range(0, 12);
                self.utf8(n)
            }
        }
    }
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Limits small enough that the fuzzer reaches them.
fn small_limits(input: &mut Input<'_>) -> Limits {
    Limits::default()
        .with_max_payload_len(input.range(0, 255) as u32 * 16)
        .with_max_headers_len(input.range(0, 255) as u32 * 4)
        .with_max_header_count(input.range(0, 40) as u32)
}

/// Names a message's headers often have.
const NAMES: &[&str] = &[
    ":message-type",
    ":event-type",
    ":exception-type",
    ":error-code",
    ":error-message",
    ":content-type",
    ":date",
    ":chunk-signature",
    "x",
];

/// String values with a meaning to the session layer.
const STRINGS: &[&str] = &[
    "event",
    "exception",
    "error",
    "initial-request",
    "initial-response",
    "application/json",
    "Ping",
];

/// A header value of any type; strings and byte arrays of 0..=`max_len` bytes.
fn header_value(input: &mut Input<'_>, max_len: usize) -> HeaderValue {
    match input.range(0, 9) {
        0 => HeaderValue::Bool(true),
        1 => HeaderValue::Bool(false),
        2 => HeaderValue::Byte(input.byte() as i8),
        3 => HeaderValue::Short(i16::from_be_bytes([input.byte(), input.byte()])),
        4 => HeaderValue::Int(i32::from_be_bytes(four(input))),
        5 => HeaderValue::Long(i64::from_be_bytes(eight(input))),
        6 => {
            let n = input.range(0, max_len);
            HeaderValue::Bytes(input.filled(n, 64).into())
        }
        7 => {
            if input.ratio(1, 2) {
                HeaderValue::from(input.pick_str(STRINGS))
            } else {
                let n = input.range(0, max_len);
                HeaderValue::from(input.utf8(n))
            }
        }
        8 => HeaderValue::Timestamp(i64::from_be_bytes(eight(input))),
        _ => {
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(&input.filled(16, 16));
            HeaderValue::Uuid(uuid)
        }
    }
}

fn four(input: &mut Input<'_>) -> [u8; 4] {
    [input.byte(), input.byte(), input.byte(), input.byte()]
}

fn eight(input: &mut Input<'_>) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.iter_mut().for_each(|x| *x = input.byte());
    b
}

/// A small valid message: 0..=4 headers (names from [`NAMES`] or 1..=12 bytes of UTF-8), a
/// payload of 0..=64 bytes.
pub fn small_message(input: &mut Input<'_>) -> Message {
    let count = input.range(0, 4);
    let mut msg = Message::default();
    for _ in 0..count {
        let mut name = input.pick_str(NAMES);
        if name.is_empty() {
            name.push('n');
        }
        let value = header_value(input, 24);
        msg.push_header(Header::new(name, value));
    }
    let len = input.range(0, 64);
    msg.set_payload(input.filled(len, 64));
    msg
}

// ---------------------------------------------------------------------------------------------
// decode
// ---------------------------------------------------------------------------------------------

/// How [`decode`] feeds the stream: the first bytes of its input.
#[derive(Clone, Debug)]
pub struct DecodeSetup {
    /// `FrameDecoder::reject_duplicate_headers`.
    pub reject_duplicates: bool,
    /// The decoder's limits.
    pub limits: Limits,
    /// Call `finish` before the last drain (allowed: complete frames are not lost).
    pub finish_before_drain: bool,
    /// Pieces, cycled until the stream is used up: (length, fed with `handle_bytes`, drained
    /// after).
    pub plan: Vec<(usize, bool, bool)>,
}

impl DecodeSetup {
    /// Reads the setup from the front of `data`; returns it and the stream (the rest).
    ///
    /// Layout: a flag byte (bit 0 reject duplicates, bit 1 small limits from the next three
    /// bytes, bit 2 finish before the last drain), a plan length byte (`% 17`; 0 means 7-byte
    /// `handle_input` reads), then one byte per piece: bits 0-5 the size (0..=47 give 1..=48
    /// bytes, 48..=63 give 64..=1,024), bit 6 `handle_bytes`, bit 7 no drain after it.
    pub fn parse(data: &[u8]) -> (Self, &[u8]) {
        let mut input = Input::new(data);
        let flags = input.byte();
        let limits = if flags & 2 != 0 {
            small_limits(&mut input)
        } else {
            Limits::DEFAULT
        };
        let n = input.byte() as usize % 17;
        let mut plan = Vec::with_capacity(n.max(1));
        for _ in 0..n {
            let b = input.byte();
            let code = (b & 0x3f) as usize;
            let size = if code < 48 {
                code + 1
            } else {
                (code - 47) * 64
            };
            plan.push((size, b & 0x40 != 0, b & 0x80 == 0));
        }
        if plan.is_empty() {
            plan.push((7, false, true));
        }
        let used = data.len() - input.u.len();
        (
            DecodeSetup {
                reject_duplicates: flags & 1 != 0,
                limits,
                finish_before_drain: flags & 4 != 0,
                plan,
            },
            &data[used..],
        )
    }

    /// The bytes [`parse`](Self::parse) reads back as this setup followed by `stream` (small
    /// limits are not encoded: they come back as the defaults).
    pub fn encode(&self, stream: &[u8]) -> Vec<u8> {
        let mut out = vec![
            u8::from(self.reject_duplicates) | (u8::from(self.finish_before_drain) << 2),
            self.plan.len().min(16) as u8,
        ];
        for &(size, shared, drain) in self.plan.iter().take(16) {
            let code = if size <= 48 {
                size.max(1) - 1
            } else {
                47 + (size / 64).clamp(1, 16)
            };
            out.push(code as u8 | (u8::from(shared) << 6) | (u8::from(!drain) << 7));
        }
        out.extend_from_slice(stream);
        out
    }
}

/// A prelude as the protocol checks it: `Ok(total)` or the error it must give.
fn prelude_verdict(stream: &[u8], at: usize, limits: &Limits) -> Result<usize, &'static str> {
    let p = &stream[at..at + PRELUDE_LEN];
    let (total, headers) = (be32(p, 0), be32(p, 4));
    if crc32fast::hash(&p[..8]) != be32(p, 8) {
        return Err("prelude_checksum_mismatch");
    }
    if total < 16 {
        return Err("invalid_message_length");
    }
    if headers > total - 16 {
        return Err("invalid_headers_length");
    }
    if headers > limits.max_headers_len() {
        return Err("headers_too_long");
    }
    if total - 16 - headers > limits.max_payload_len() {
        return Err("payload_too_long");
    }
    Ok(total as usize)
}

/// One decoder run, checked as it goes.
struct DecodeRun<'a> {
    stream: &'a [u8],
    setup: &'a DecodeSetup,
    fed: usize,
    consumed: usize,
    messages: Vec<Message>,
    error: Option<FrameError>,
    label: &'static str,
}

impl<'a> DecodeRun<'a> {
    fn new(stream: &'a [u8], setup: &'a DecodeSetup, label: &'static str) -> Self {
        DecodeRun {
            stream,
            setup,
            fed: 0,
            consumed: 0,
            messages: Vec::new(),
            error: None,
            label,
        }
    }

    fn decoder(&self) -> FrameDecoder {
        FrameDecoder::with_limits(self.setup.limits)
            .reject_duplicate_headers(self.setup.reject_duplicates)
    }

    /// Feeds `stream[fed..fed + len]`.
    fn feed(&mut self, dec: &mut FrameDecoder, len: usize, shared: Option<&Bytes>) {
        let (from, to) = (self.fed, self.fed + len);
        let needed = dec.bytes_needed();
        match shared {
            Some(all) => dec.handle_bytes(&all.slice(from..to)),
            None => dec.handle_input(&self.stream[from..to]),
        }
        self.fed = to;
        if self.error.is_some() {
            return;
        }
        assert_eq!(
            dec.buffered_len(),
            self.fed - self.consumed,
            "{}: buffered_len() after feeding {from}..{to}",
            self.label
        );
        if needed > len {
            // bytes_needed() is what must arrive before anything can come out.
            assert_eq!(
                dec.bytes_needed(),
                needed - len,
                "{}: bytes_needed() after feeding {len} of the {needed} bytes it asked for",
                self.label
            );
            assert_eq!(
                dec.poll_message(),
                Ok(None),
                "{}: a message or an error before the {needed} bytes asked for had arrived",
                self.label
            );
        }
    }

    /// `poll_message` until `Ok(None)` or an error.
    fn drain(&mut self, dec: &mut FrameDecoder, ended: bool) {
        if self.error.is_some() {
            return;
        }
        loop {
            match dec.poll_message() {
                Ok(Some(m)) => self.accept(m),
                Ok(None) => break,
                Err(e) => return self.fail(dec, e),
            }
        }
        // Ok(None): the next frame is incomplete and what is there of it is valid.
        let have = self.fed - self.consumed;
        if ended {
            assert_eq!(
                have, 0,
                "{}: Ok(None) after finish with bytes left",
                self.label
            );
        }
        let expected_need = if have < PRELUDE_LEN {
            PRELUDE_LEN - have
        } else {
            match prelude_verdict(self.stream, self.consumed, &self.setup.limits) {
                Ok(total) => {
                    assert!(
                        have < total,
                        "{}: Ok(None) with the whole frame at {} fed",
                        self.label,
                        self.consumed
                    );
                    total - have
                }
                Err(kind) => panic!(
                    "{}: Ok(None) for a prelude at {} that is {kind}",
                    self.label, self.consumed
                ),
            }
        };
        assert_eq!(
            dec.bytes_needed(),
            expected_need,
            "{}: bytes_needed()",
            self.label
        );
        assert!(!dec.is_failed());
    }

    fn accept(&mut self, m: Message) {
        let start = self.consumed;
        let index = self.messages.len();
        assert!(
            self.fed - start >= 16,
            "{}: message {index} handed out with {} bytes fed",
            self.label,
            self.fed - start
        );
        let total = be32(self.stream, start) as usize;
        assert!(
            total >= 16 && start + total <= self.fed,
            "{}: message {index} handed out before its {total} bytes at {start} were fed",
            self.label
        );
        let frame = &self.stream[start..start + total];
        assert_eq!(
            m.encoded_len(),
            total,
            "{}: message {index}'s encoded_len()",
            self.label
        );
        let mut again = BytesMut::new();
        m.encode_with_limits(&self.setup.limits, &mut again)
            .unwrap_or_else(|e| panic!("{}: message {index} does not re-encode: {e}", self.label));
        assert!(
            again[..] == *frame,
            "{}: message {index} ({m:?}) re-encodes to other bytes than stream[{start}..{}]",
            self.label,
            start + total
        );
        if self.setup.reject_duplicates {
            let mut names = HashSet::new();
            assert!(
                m.headers().iter().all(|h| names.insert(h.name())),
                "{}: duplicate header names in message {index} though they are rejected",
                self.label
            );
        }
        self.consumed += total;
        self.messages.push(m);
    }

    fn fail(&mut self, dec: &mut FrameDecoder, e: FrameError) {
        self.check_error_position(&e);
        // Every error is fatal and sticks; the decoder drops what it buffered, ignores input.
        assert_eq!(
            dec.poll_message(),
            Err(e.clone()),
            "{}: error sticks",
            self.label
        );
        assert_eq!(
            dec.handle_end_of_input(),
            Err(e.clone()),
            "{}: finish after the error",
            self.label
        );
        assert!(dec.is_failed());
        assert_eq!(dec.bytes_needed(), 0);
        assert_eq!(
            dec.buffered_len(),
            0,
            "{}: buffer dropped on error",
            self.label
        );
        dec.handle_input(&crate::encode(&Message::default()));
        dec.handle_bytes(&crate::encode(&Message::new(&b"x"[..])));
        assert_eq!(
            dec.buffered_len(),
            0,
            "{}: input ignored after the error",
            self.label
        );
        assert_eq!(
            dec.poll_message(),
            Err(e.clone()),
            "{}: error sticks",
            self.label
        );
        self.error = Some(e);
    }

    /// The error points at the frame after the last message handed out, and describes its bytes.
    fn check_error_position(&self, e: &FrameError) {
        let (s, at) = (self.stream, self.consumed);
        let have = self.fed - at;
        let label = self.label;
        let limits = &self.setup.limits;
        let ctx = || format!("{label}: {e:?} with {have} bytes of the frame at {at} fed");
        let prelude_error = |frame_offset: u64, kind: &str| {
            assert_eq!(frame_offset, at as u64, "{}", ctx());
            assert!(have >= PRELUDE_LEN, "{}", ctx());
            assert_eq!(prelude_verdict(s, at, limits), Err(kind), "{}", ctx());
        };
        // Header-level errors: only after the message checksum was verified.
        let in_headers = |offset: u64, inclusive_end: bool| {
            assert!(have >= PRELUDE_LEN, "{}", ctx());
            let total = prelude_verdict(s, at, limits).unwrap_or_else(|k| panic!("{k}: {}", ctx()));
            assert!(have >= total, "{}", ctx());
            assert_eq!(
                crc32fast::hash(&s[at..at + total - 4]),
                be32(s, at + total - 4),
                "a header error in a frame whose checksum is wrong: {}",
                ctx()
            );
            let block =
                (at + PRELUDE_LEN) as u64..(at + PRELUDE_LEN) as u64 + u64::from(be32(s, at + 4));
            let inside = block.contains(&offset) || (inclusive_end && offset == block.end);
            assert!(
                inside,
                "offset outside the header block {block:?}: {}",
                ctx()
            );
        };
        match e {
            FrameError::Truncated {
                frame_offset,
                available,
                expected,
            } => {
                assert_eq!(*frame_offset, at as u64, "{}", ctx());
                assert_eq!(*available, have, "{}", ctx());
                assert!(have > 0, "{}", ctx());
                if have < PRELUDE_LEN {
                    assert_eq!(*expected, PRELUDE_LEN, "{}", ctx());
                } else {
                    assert_eq!(prelude_verdict(s, at, limits), Ok(*expected), "{}", ctx());
                    assert!(have < *expected, "{}", ctx());
                }
            }
            FrameError::PreludeChecksumMismatch {
                frame_offset,
                expected,
                actual,
            } => {
                prelude_error(*frame_offset, "prelude_checksum_mismatch");
                assert_eq!(*expected, be32(s, at + 8), "{}", ctx());
                assert_eq!(*actual, crc32fast::hash(&s[at..at + 8]), "{}", ctx());
            }
            FrameError::InvalidMessageLength {
                frame_offset,
                total_length,
            } => {
                prelude_error(*frame_offset, "invalid_message_length");
                assert_eq!(*total_length, be32(s, at), "{}", ctx());
            }
            FrameError::InvalidHeadersLength {
                frame_offset,
                headers_length,
                total_length,
            } => {
                prelude_error(*frame_offset, "invalid_headers_length");
                assert_eq!(
                    (*total_length, *headers_length),
                    (be32(s, at), be32(s, at + 4))
                );
            }
            FrameError::HeadersTooLong {
                frame_offset,
                headers_length,
                limit,
            } => {
                prelude_error(*frame_offset, "headers_too_long");
                assert_eq!(
                    (*headers_length, *limit),
                    (be32(s, at + 4), limits.max_headers_len())
                );
            }
            FrameError::PayloadTooLong {
                frame_offset,
                payload_length,
                limit,
            } => {
                prelude_error(*frame_offset, "payload_too_long");
                let payload = be32(s, at) - 16 - be32(s, at + 4);
                assert_eq!(
                    (*payload_length, *limit),
                    (payload, limits.max_payload_len())
                );
            }
            FrameError::MessageChecksumMismatch {
                frame_offset,
                expected,
                actual,
            } => {
                assert_eq!(*frame_offset, at as u64, "{}", ctx());
                let total =
                    prelude_verdict(s, at, limits).unwrap_or_else(|k| panic!("{k}: {}", ctx()));
                assert!(have >= total, "{}", ctx());
                assert_eq!(*expected, be32(s, at + total - 4), "{}", ctx());
                assert_eq!(
                    *actual,
                    crc32fast::hash(&s[at..at + total - 4]),
                    "{}",
                    ctx()
                );
                assert_ne!(expected, actual, "{}", ctx());
            }
            FrameError::TooManyHeaders {
                frame_offset,
                limit,
            } => {
                assert_eq!(*frame_offset, at as u64, "{}", ctx());
                assert_eq!(*limit, limits.max_header_count(), "{}", ctx());
                in_headers(at as u64 + PRELUDE_LEN as u64, false);
            }
            FrameError::InvalidHeaderNameLength { offset, length, .. } => {
                in_headers(*offset, false);
                assert_eq!(*length, s[*offset as usize], "{}", ctx());
            }
            FrameError::InvalidHeaderValueType {
                offset, type_code, ..
            } => {
                in_headers(*offset, false);
                assert_eq!(*type_code, s[*offset as usize], "{}", ctx());
                assert!(*type_code > 9, "{}", ctx());
            }
            FrameError::InvalidHeaderValue { offset, .. } => in_headers(*offset, true),
            FrameError::InvalidUtf8 { offset, .. } => in_headers(*offset, true),
            FrameError::DuplicateHeader { offset, .. } => {
                assert!(self.setup.reject_duplicates, "{}", ctx());
                in_headers(*offset, false);
            }
            other => panic!("{label}: an error kind this fuzz target does not know: {other:?}"),
        }
    }

    /// Ends the input: `finish` (before or after the last drain), then drains.
    fn end(&mut self, dec: &mut FrameDecoder, finish_first: bool) {
        if !finish_first {
            self.drain(dec, false);
        }
        if self.error.is_none() {
            match dec.handle_end_of_input() {
                Ok(()) => {
                    if !finish_first {
                        assert_eq!(
                            self.fed, self.consumed,
                            "{}: finish() Ok with bytes left",
                            self.label
                        );
                    }
                }
                Err(e) => {
                    if !finish_first {
                        assert!(
                            matches!(e, FrameError::Truncated { .. }),
                            "{}: finish() after a full drain gave {e:?}",
                            self.label
                        );
                    }
                    self.fail(dec, e);
                }
            }
        }
        self.drain(dec, true);
        if self.error.is_none() {
            assert_eq!(
                self.consumed,
                self.stream.len(),
                "{}: clean end with bytes left",
                self.label
            );
            assert_eq!(dec.poll_message(), Ok(None));
            assert_eq!(
                dec.handle_end_of_input(),
                Ok(()),
                "{}: finish() twice",
                self.label
            );
        }
    }
}

/// Arbitrary bytes into the frame decoder, whole (copied and shared) and in pieces chosen by the
/// input ([`DecodeSetup`]), then the end of input.
///
/// Invariants: no panic; the three runs hand out the same messages and end with the same error
/// (same kind and same fields: offsets included); message `i` re-encodes to exactly the bytes of
/// the `i`-th frame of the input; `Ok(None)` only while the next frame is incomplete and its
/// prelude (if present) valid, with `bytes_needed()` saying exactly how many bytes are missing;
/// feeding fewer than that changes nothing else; errors describe the bytes at the offset they
/// name, header errors come only after the message checksum was verified; after an error every
/// call returns it, the buffer is dropped and input is ignored.
pub fn decode(data: &[u8]) {
    let (setup, stream) = DecodeSetup::parse(data);
    let shared = Bytes::copy_from_slice(stream);

    let mut whole = DecodeRun::new(stream, &setup, "whole (handle_input)");
    let mut dec = whole.decoder();
    whole.feed(&mut dec, stream.len(), None);
    whole.end(&mut dec, false);

    let mut whole_shared = DecodeRun::new(stream, &setup, "whole (handle_bytes)");
    let mut dec = whole_shared.decoder();
    whole_shared.feed(&mut dec, stream.len(), Some(&shared));
    whole_shared.end(&mut dec, false);

    let mut pieces = DecodeRun::new(stream, &setup, "in pieces");
    let mut dec = pieces.decoder();
    let mut plan = setup.plan.iter().cycle();
    let mut last_drained = true;
    while pieces.fed < stream.len() {
        let &(size, use_bytes, drain) = plan.next().expect("the plan is not empty");
        let len = size.min(stream.len() - pieces.fed);
        pieces.feed(&mut dec, len, use_bytes.then_some(&shared));
        last_drained = drain;
        if drain {
            pieces.drain(&mut dec, false);
        }
    }
    pieces.end(&mut dec, setup.finish_before_drain && !last_drained);

    for run in [&whole_shared, &pieces] {
        assert_eq!(
            run.messages, whole.messages,
            "{} and whole give different messages",
            run.label
        );
        assert_eq!(
            run.error, whole.error,
            "{} and whole end differently",
            run.label
        );
    }
}

// ---------------------------------------------------------------------------------------------
// round_trip
// ---------------------------------------------------------------------------------------------

/// A message for [`round_trip`]: 0..=40 headers of every type, names of 0..=256 bytes, string
/// and byte array values of up to 32,768 bytes, a payload of up to 4,096 bytes. Edge lengths
/// (0, 255 and 256 for names; 32,767 and 32,768 for values) are frequent.
pub fn edge_message(input: &mut Input<'_>) -> Message {
    let count = input.range(0, 40);
    let mut headers: Vec<Header> = Vec::with_capacity(count);
    for _ in 0..count {
        let name = match input.range(0, 11) {
            0 => String::new(),
            1 => input.utf8(MAX_HEADER_NAME_LEN),
            2 => input.utf8(MAX_HEADER_NAME_LEN + 1),
            3 => {
                let n = input.range(1, MAX_HEADER_NAME_LEN);
                input.utf8(n)
            }
            4 if !headers.is_empty() => {
                // A repeated name.
                let i = input.range(0, headers.len() - 1);
                headers[i].name().to_owned()
            }
            5 => input.pick_str(NAMES),
            _ => {
                let n = input.range(1, 16);
                input.utf8(n)
            }
        };
        let value = match input.range(0, 15) {
            0 => {
                let n = edge_value_len(input);
                HeaderValue::Bytes(input.filled(n, 64).into())
            }
            1 => {
                let n = edge_value_len(input);
                HeaderValue::from(input.utf8(n))
            }
            _ => header_value(input, 64),
        };
        headers.push(Header::new(name, value));
    }
    let len = match input.range(0, 7) {
        0 => 0,
        1 => input.range(0, 4096),
        _ => input.range(0, 256),
    };
    let payload = input.filled(len, 512);
    Message::from_parts(headers, payload.into())
}

fn edge_value_len(input: &mut Input<'_>) -> usize {
    match input.range(0, 5) {
        0 => MAX_HEADER_VALUE_LEN,
        1 => MAX_HEADER_VALUE_LEN + 1,
        2 => input.range(0, MAX_HEADER_VALUE_LEN + 1),
        3 => input.range(250, 260),
        _ => input.range(0, 64),
    }
}

/// Every error the encoder may rightly return for `msg` under `limits` (empty: it must succeed).
/// The encoder picks one; which one is its business.
fn expected_encode_errors(msg: &Message, limits: &Limits) -> Vec<EncodeError> {
    let mut out = Vec::new();
    let headers = msg.headers();
    if headers.len() > limits.max_header_count() as usize {
        out.push(EncodeError::TooManyHeaders {
            count: headers.len(),
            limit: limits.max_header_count(),
        });
    }
    if let Some((index, h)) = headers
        .iter()
        .enumerate()
        .find(|(_, h)| h.name().is_empty() || h.name().len() > MAX_HEADER_NAME_LEN)
    {
        out.push(EncodeError::InvalidHeaderNameLength {
            index,
            length: h.name().len(),
        });
    }
    let value_len = |h: &Header| match h.value() {
        HeaderValue::Bytes(b) => b.len(),
        HeaderValue::String(s) => s.len(),
        _ => 0,
    };
    if let Some(h) = headers.iter().find(|h| value_len(h) > MAX_HEADER_VALUE_LEN) {
        out.push(EncodeError::HeaderValueTooLong {
            name: h.name_bytes().clone(),
            length: value_len(h),
        });
    }
    if msg.headers_len() > limits.max_headers_len() as usize {
        out.push(EncodeError::HeadersTooLong {
            length: msg.headers_len(),
            limit: limits.max_headers_len(),
        });
    }
    if msg.payload().len() > limits.max_payload_len() as usize {
        out.push(EncodeError::PayloadTooLong {
            length: msg.payload().len(),
            limit: limits.max_payload_len(),
        });
    }
    out
}

/// An arbitrary message (see [`edge_message`]), with the default limits or small ones, encodes,
/// decodes and is equal.
///
/// Invariants: the encoder fails exactly when a limit or the wire format forbids the message,
/// with one of the errors that describe what is wrong (fields included), and then writes nothing;
/// otherwise `encode_with_limits` and `encode_to` write the same `encoded_len()` bytes, with the
/// right lengths and checksums, which decode (copied, shared, in two pieces) to an equal message
/// and re-encode to the same bytes; a decoder that rejects duplicate names rejects exactly the
/// first repeated one, at its offset.
pub fn round_trip(data: &[u8]) {
    let mut input = Input::new(data);
    let limits = if input.ratio(1, 4) {
        small_limits(&mut input)
    } else {
        Limits::DEFAULT
    };
    let msg = edge_message(&mut input);
    let split = input.range(0, usize::MAX);
    let expected = expected_encode_errors(&msg, &limits);

    let prefix = b"prefix";
    let mut buf = BytesMut::from(&prefix[..]);
    let result = msg.encode_with_limits(&limits, &mut buf);
    let mut other: Vec<u8> = prefix.to_vec();
    let result_to = msg.encode_to(&limits, &mut other);
    assert_eq!(
        result, result_to,
        "encode_with_limits and encode_to disagree"
    );
    let n = match result {
        Err(e) => {
            assert!(
                expected.contains(&e),
                "the encoder refused {msg:?} with {e:?}; expected one of {expected:?}"
            );
            assert_eq!(&buf[..], prefix, "written although encoding failed");
            assert_eq!(
                &other[..],
                prefix,
                "encode_to wrote although encoding failed"
            );
            return;
        }
        Ok(n) => n,
    };
    assert!(
        expected.is_empty(),
        "the encoder accepted {msg:?}, expected one of {expected:?}"
    );
    let frame = buf.split_off(prefix.len()).freeze();
    assert_eq!(
        &other[prefix.len()..],
        &frame[..],
        "encode_to wrote other bytes"
    );
    assert_eq!(n, frame.len());
    assert_eq!(n, msg.encoded_len());
    assert_eq!(be32(&frame, 0) as usize, n, "total_length");
    assert_eq!(
        be32(&frame, 4) as usize,
        msg.headers_len(),
        "headers_length"
    );
    assert_eq!(be32(&frame, 8), crc32fast::hash(&frame[..8]), "prelude CRC");
    assert_eq!(
        be32(&frame, n - 4),
        crc32fast::hash(&frame[..n - 4]),
        "message CRC"
    );
    assert_eq!(
        &frame[12 + msg.headers_len()..n - 4],
        &msg.payload()[..],
        "payload"
    );

    let cut = split % (n + 1);
    for (label, pieces) in [
        ("copied", vec![Piece::Input(&frame[..])]),
        ("shared", vec![Piece::Bytes(frame.clone())]),
        (
            "in two pieces",
            vec![
                Piece::Bytes(frame.slice(..cut)),
                Piece::Input(&frame[cut..]),
            ],
        ),
    ] {
        let got = decode_pieces(FrameDecoder::with_limits(limits), pieces);
        assert_eq!(
            got.error, None,
            "{label}: the encoded frame does not decode"
        );
        assert_eq!(got.messages.len(), 1, "{label}: one frame, one message");
        assert_eq!(got.messages[0], msg, "{label}: decoded message differs");
        let mut again = BytesMut::new();
        got.messages[0]
            .encode_with_limits(&limits, &mut again)
            .expect("a decoded message re-encodes");
        assert_eq!(&again[..], &frame[..], "{label}: re-encoded bytes differ");
    }

    // Duplicate names: the first repeated one is rejected, at its own offset.
    let mut seen = HashSet::new();
    let mut offset = PRELUDE_LEN as u64;
    let mut duplicate = None;
    for h in msg.headers() {
        if !seen.insert(h.name()) {
            duplicate = Some(FrameError::DuplicateHeader {
                offset,
                name: h.name_bytes().clone(),
            });
            break;
        }
        offset += h.encoded_len() as u64;
    }
    let strict = FrameDecoder::with_limits(limits).reject_duplicate_headers(true);
    let got = decode_pieces(strict, [Piece::Bytes(frame.clone())]);
    match duplicate {
        None => assert_eq!((got.error, &got.messages[..]), (None, &[msg][..])),
        Some(err) => {
            assert_eq!(got.error, Some(err), "rejecting duplicates");
            assert!(got.messages.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------------------------

fn keys(input: &mut Input<'_>) -> Keys {
    let id = input.pick_str(&["AKIDEXAMPLE", ""]);
    let secret = input.pick_str(&["wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "secret", ""]);
    Keys::new(&id, &secret)
}

fn setup(input: &mut Input<'_>) -> Setup {
    let keys = keys(input);
    let region = input.pick_str(&["us-east-1", "eu-west-3"]);
    let service = input.pick_str(&["transcribe", "lex", "s3"]);
    let seed = if input.ratio(1, 2) {
        crate::to_hex(&input.filled(32, 32))
    } else {
        input.pick_str(&[
            "",
            "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b",
        ])
    };
    Setup::new(keys, &region, &service, &seed)
}

/// `count` signing times, in range; often increasing by small steps, sometimes across a UTC
/// midnight, sometimes going back.
fn times(input: &mut Input<'_>, count: usize) -> Vec<i64> {
    let mut t = match input.range(0, 2) {
        0 => input.range_i64(MIN_SECS, MAX_SECS),
        1 => input.range_i64(1_500_000_000, 2_000_000_000),
        _ => input.range_i64(MIN_SECS / DAY + 1, MAX_SECS / DAY) * DAY - input.range_i64(1, 4),
    };
    (0..count)
        .map(|_| {
            let step = match input.range(0, 3) {
                0 => 0,
                1 => input.range_i64(1, 3),
                2 => input.range_i64(0, 3 * DAY),
                _ => -input.range_i64(0, DAY),
            };
            t = (t + step).clamp(MIN_SECS, MAX_SECS);
            t
        })
        .collect()
}

/// What the verifier checks of an envelope: its `:date`, its signature and its payload (the
/// order of the two headers does not matter to it); any other message as it is.
fn chain_view(m: &Message) -> (Option<(i64, Bytes)>, Message) {
    if is_envelope(m) {
        let date = m
            .header(":date")
            .and_then(HeaderValue::as_timestamp)
            .unwrap_or_default();
        let sig = m
            .header(":chunk-signature")
            .and_then(HeaderValue::as_bytes)
            .cloned()
            .unwrap_or_default();
        (Some((date, sig)), Message::new(m.payload().clone()))
    } else {
        (None, m.clone())
    }
}

/// An envelope that does not belong to the chain: signed with other keys, region, service or
/// seed, with a random signature, or not an envelope at all.
///
/// A foreign secret differs from every secret of the chain (`secrets`): one of them would sign
/// a genuine envelope.
fn foreign_envelope(input: &mut Input<'_>, setup: &Setup, secrets: &[&str], time: i64) -> Message {
    let msg = small_message(input);
    let at = sigv4::at(time);
    let mut other = setup.clone();
    match input.range(0, 5) {
        0 => {
            while secrets.contains(&other.keys.secret_access_key.as_str()) {
                other.keys.secret_access_key.push('!');
            }
        }
        1 => other.region.push('!'),
        2 => other.service.push('!'),
        3 => other.seed.push('0'),
        4 => {
            let sig = input.filled(32, 32);
            let payload = if input.ratio(1, 4) {
                Bytes::new()
            } else {
                crate::encode(&msg)
            };
            return sigv4::envelope(at.unix_millis(), &sig, payload);
        }
        _ => return msg,
    }
    let mut signer = other.signer();
    if input.ratio(1, 4) {
        signer.sign_end(at).expect("a fresh signer signs the end")
    } else {
        signer
            .sign(&msg, &Limits::DEFAULT, at)
            .expect("a small message signs")
    }
}

/// Feeds `stream` to `reader` in pieces of `piece` bytes (0: whole), alternately copied and
/// shared, draining after each, then `finish` and a last drain; returns the messages and the
/// error. Checks that the error sticks.
fn read_in_pieces(
    mut reader: VerifyingDecoder,
    stream: &[u8],
    piece: usize,
) -> (Vec<Message>, Option<VerifyError>) {
    let shared = Bytes::copy_from_slice(stream);
    let size = if piece == 0 {
        stream.len().max(1)
    } else {
        piece
    };
    fn drain(reader: &mut VerifyingDecoder, got: &mut Vec<Message>) -> Result<(), VerifyError> {
        while let Some(m) = reader.poll_message()? {
            got.push(m);
        }
        Ok(())
    }
    let mut got = Vec::new();
    let mut result = Ok(());
    for (i, from) in (0..stream.len()).step_by(size).enumerate() {
        let to = (from + size).min(stream.len());
        if i % 2 == 0 {
            reader.handle_input(&stream[from..to]);
        } else {
            reader.handle_bytes(&shared.slice(from..to));
        }
        result = drain(&mut reader, &mut got);
        if result.is_err() {
            break;
        }
    }
    let result = result
        .and_then(|()| reader.handle_end_of_input())
        .and_then(|()| drain(&mut reader, &mut got))
        .and_then(|()| reader.handle_end_of_input());
    match result {
        Ok(()) => (got, None),
        Err(e) => {
            assert_eq!(reader.poll_message(), Err(e.clone()), "the error sticks");
            assert_eq!(
                reader.handle_end_of_input(),
                Err(e.clone()),
                "the error sticks"
            );
            (got, Some(e))
        }
    }
}

/// Signed chains (random messages, times, credentials, seed, an optional credential rotation)
/// with arbitrary mutations of the encoded envelopes (byte flips with or without fixed checksums,
/// truncation, reordering, drops, duplicates, injected foreign envelopes, tampered payloads),
/// decoded again and verified, then `finish`.
///
/// Invariants: no panic; the inner messages handed out are a prefix of those signed; a chain
/// that differs from the original (in what the verifier checks) is never accepted whole; the
/// original chain is accepted, or, with a clock skew limit, fails exactly at the first envelope
/// out of it; errors stick; the signer refuses to sign after the end; the core's
/// [`VerifyingDecoder`], fed the same bytes in pieces, with and without a verifier, hands out the
/// same messages and ends with the same first error; the [`Unchecked`] unwrapper never panics and
/// unwraps the original chain to the same messages.
pub fn verify(data: &[u8]) {
    let mut input = Input::new(data);
    let setup = setup(&mut input);
    let count = input.range(0, 5);
    let msgs: Vec<Message> = (0..count).map(|_| small_message(&mut input)).collect();
    let times = times(&mut input, count + 1);
    let rotation = input.ratio(1, 4).then(|| Rotation {
        index: input.range(0, count),
        keys: keys(&mut input),
    });
    let mut signer = setup.signer();
    let envelopes = sigv4::sign_chain(&mut signer, &msgs, &times, rotation.as_ref());
    assert!(signer.is_ended());
    assert!(
        signer
            .sign(&Message::default(), &Limits::DEFAULT, sigv4::at(0))
            .is_err(),
        "signed after the end"
    );

    let mut wires: Vec<Vec<u8>> = envelopes
        .iter()
        .map(|e| crate::encode(e).to_vec())
        .collect();
    for _ in 0..input.range(0, 4) {
        let len = wires.len();
        let pick = |input: &mut Input<'_>| input.range(0, len.max(1) - 1);
        match input.range(0, 6) {
            0 if len > 0 => {
                let i = pick(&mut input);
                let w = &mut wires[i];
                if w.is_empty() {
                    continue;
                }
                let at = input.range(0, w.len() - 1);
                w[at] ^= input.byte().max(1);
                if input.ratio(1, 2) {
                    if at < 8 && w.len() >= PRELUDE_LEN {
                        let crc = crc32fast::hash(&w[..8]);
                        w[8..12].copy_from_slice(&crc.to_be_bytes());
                    }
                    fix_message_crc(w);
                }
            }
            1 if len > 1 => {
                let (i, j) = (pick(&mut input), pick(&mut input));
                wires.swap(i, j);
            }
            2 if len > 0 => {
                wires.remove(pick(&mut input));
            }
            3 if len > 0 => {
                let copy = wires[pick(&mut input)].clone();
                wires.insert(input.range(0, len), copy);
            }
            4 => {
                let time = times[input.range(0, times.len() - 1)];
                let mut secrets = vec![setup.keys.secret_access_key.as_str()];
                secrets.extend(rotation.iter().map(|r| r.keys.secret_access_key.as_str()));
                let foreign = foreign_envelope(&mut input, &setup, &secrets, time);
                wires.insert(input.range(0, len), crate::encode(&foreign).to_vec());
            }
            5 if len > 0 => {
                // Tamper with a payload, keeping the date and the signature.
                let i = pick(&mut input);
                let msg = small_message(&mut input);
                let (date, sig) = chain_view(&envelopes[i.min(envelopes.len() - 1)])
                    .0
                    .expect("an envelope");
                let payload = if input.ratio(1, 8) {
                    Bytes::new()
                } else {
                    crate::encode(&msg)
                };
                wires[i] = crate::encode(&sigv4::envelope(date, &sig, payload)).to_vec();
            }
            _ if len > 0 => {
                let i = pick(&mut input);
                let keep = input.range(0, wires[i].len());
                wires[i].truncate(keep);
            }
            _ => {}
        }
    }
    let stream = wires.concat();
    let decoded = decode_pieces(
        FrameDecoder::with_limits(Limits::DEFAULT.enveloped()),
        [Piece::Input(&stream)],
    );
    let same = decoded.error.is_none()
        && decoded.messages.len() == envelopes.len()
        && decoded
            .messages
            .iter()
            .zip(&envelopes)
            .all(|(a, b)| chain_view(a) == chain_view(b));

    let skew = input.ratio(1, 4).then(|| {
        let max = input.range(0, 2 * DAY as usize) as u64;
        let now = times[input.range(0, times.len() - 1)] + input.range_i64(-DAY, DAY);
        (max, sigv4::at(now.clamp(MIN_SECS, MAX_SECS)))
    });
    let mut verifier = setup.verifier();
    let mut now = None;
    if let Some((max, at)) = skew {
        verifier = verifier.with_max_clock_skew(max);
        now = Some(at);
    }
    let mut got = Vec::new();
    let mut ended = false;
    let mut error: Option<VerifyError> = None;
    for (i, envelope) in decoded.messages.iter().enumerate() {
        if let Some(r) = rotation.as_ref().filter(|r| r.index == i) {
            verifier.set_credentials(r.keys.credentials());
        }
        match verifier.verify(envelope, &Limits::DEFAULT, now) {
            Ok(Verified::Message(m)) => {
                assert!(!ended, "a message verified after the end frame");
                got.push(m);
            }
            Ok(Verified::End) => {
                assert!(!ended, "two end frames verified");
                ended = true;
            }
            Err(e) => {
                assert_eq!(
                    verifier.verify(envelope, &Limits::DEFAULT, now),
                    Err(e.clone()),
                    "errors stick"
                );
                assert_eq!(
                    verifier.handle_end_of_input(),
                    Err(e.clone()),
                    "errors stick"
                );
                error = Some(e);
                break;
            }
        }
    }
    let mut finish_error = None;
    if error.is_none() {
        let fin = verifier.handle_end_of_input();
        assert_eq!(
            fin.is_ok(),
            ended,
            "finish() {fin:?} after the end frame was seen: {ended}"
        );
        finish_error = fin.err();
    }
    let accepted = decoded.error.is_none() && error.is_none() && finish_error.is_none();
    // The first error in stream order: a verifier's, else the frame layer's, else finish's.
    let first_error = error
        .clone()
        .or_else(|| decoded.error.clone().map(VerifyError::Frame))
        .or(finish_error);

    // The core's own pipeline (frame decoder + verifier, fed in pieces) agrees with the one
    // above, with a verifier (when no credentials rotate: it cannot be told) and without.
    let piece = input.range(0, 64);
    let plain = VerifyingDecoder::new(Limits::DEFAULT.enveloped());
    let (plain_got, plain_error) = read_in_pieces(plain, &stream, piece);
    assert_eq!(
        plain_got, decoded.messages,
        "VerifyingDecoder without a verifier"
    );
    assert_eq!(plain_error, decoded.error.clone().map(VerifyError::Frame));
    if rotation.is_none() {
        let mut v = setup.verifier();
        if let Some((max, _)) = skew {
            v = v.with_max_clock_skew(max);
        }
        let mut reader = VerifyingDecoder::new(Limits::DEFAULT).with_verifier(v);
        if let Some(now) = now {
            reader.set_now(now);
        }
        let (reader_got, reader_error) = read_in_pieces(reader, &stream, piece);
        assert_eq!(reader_got, got, "VerifyingDecoder hands out other messages");
        // It names the payload limit the application configured, not the envelopes' own.
        let configured = first_error.clone().map(|e| match e {
            VerifyError::Frame(FrameError::PayloadTooLong {
                frame_offset,
                payload_length,
                ..
            }) => VerifyError::Frame(FrameError::PayloadTooLong {
                frame_offset,
                payload_length,
                limit: Limits::DEFAULT.max_payload_len(),
            }),
            other => other,
        });
        assert_eq!(reader_error, configured, "VerifyingDecoder ends otherwise");
    }

    check_prefix(&msgs, &got).unwrap_or_else(|e| panic!("the verifier handed out {e}"));
    if !same {
        assert!(
            !accepted,
            "a mutated chain was accepted: {} envelopes signed, {} decoded, handed out {got:?}",
            envelopes.len(),
            decoded.messages.len()
        );
    } else {
        // The original chain: accepted, unless an envelope is further from `now` than allowed.
        let expired = skew.and_then(|(max, now)| {
            times
                .iter()
                .position(|&t| t.abs_diff(now.unix_seconds()) > max)
                .map(|index| {
                    let e = VerifyError::SignatureExpired {
                        index: index as u64,
                        signed_at: times[index],
                        now: now.unix_seconds(),
                        max_skew: max,
                    };
                    (index, e)
                })
        });
        match expired {
            None => {
                assert!(accepted, "the original chain was rejected: {error:?}");
                assert_eq!(got, msgs);
            }
            Some((index, expected)) => {
                assert_eq!(error, Some(expected), "the clock skew check");
                assert_eq!(got, msgs[..index.min(msgs.len())]);
            }
        }
    }

    // The unchecked unwrapper: no panic, and the original chain unwraps to the same messages.
    let mut unchecked = Unchecked::default();
    let mut unwrapped = Vec::new();
    let mut unchecked_end = false;
    for envelope in &decoded.messages {
        match unchecked.verify(envelope, &Limits::DEFAULT, None) {
            Ok(Verified::Message(m)) => unwrapped.push(m),
            Ok(Verified::End) => unchecked_end = true,
            Err(_) => break,
        }
    }
    if same {
        assert_eq!(unwrapped, msgs, "Unchecked unwraps the original chain");
        assert!(unchecked_end);
        assert_eq!(unchecked.handle_end_of_input(), Ok(()));
    }
}

// ---------------------------------------------------------------------------------------------
// session
// ---------------------------------------------------------------------------------------------

/// Core bugs the fuzzers found. While a bug is open, the fuzz targets steer clear of it (its
/// field `true` in [`KnownCoreBugs::GUARDED`]) so that fuzzing goes on past it, and
/// `tests/fuzz_regressions.rs` runs the crashing input with [`KnownCoreBugs::NONE`]. The three
/// below were found by the first campaign and are fixed in the core: their guards are off and
/// their regression tests pass. A new finding gets a field here the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownCoreBugs {
    /// FIXED (the session refuses to send the empty message): without signing, `Session::send` accepts an empty message (no headers,
    /// no payload), which is byte for byte the unsigned end frame: the peer takes it for the end
    /// of the stream, the event is lost, and whatever follows fails the peer with
    /// `frame_after_end`. The guard skips such sends on unsigned directions.
    pub empty_event_is_end_frame: bool,
    /// FIXED (`handle_reset` always closes the sending side): `Session::handle_reset` on a session that has already queued its terminal
    /// event (the peer's `End`, a failure not yet polled) leaves the sending side as it was:
    /// commands are still accepted, `poll_transmit` still hands out data, a finish, or (once the
    /// queued failure is polled) a `Transmit::Reset`, though its documentation says "nothing
    /// more is sent, and no `Transmit::Reset` is asked for". The guard skips `handle_reset` on a
    /// terminated session.
    pub reset_after_terminal: bool,
    /// FIXED (`Limits::enveloped` admits the envelope's headers): `Limits::enveloped` kept the header limits of the inner messages, but an
    /// envelope has 2 headers in 67 bytes: with `max_header_count < 2` or `max_headers_len < 67`
    /// every envelope is rejected (`too_many_headers`, `headers_too_long`), though its
    /// documentation says "an envelope around any acceptable message is itself acceptable". The
    /// guard raises those two limits on sessions with a signed direction.
    pub enveloped_header_limits: bool,
}

impl KnownCoreBugs {
    /// What the fuzz targets avoid today.
    pub const GUARDED: KnownCoreBugs = KnownCoreBugs {
        empty_event_is_end_frame: false,
        reset_after_terminal: false,
        enveloped_header_limits: false,
    };
    /// Nothing avoided: what the regression tests run with.
    pub const NONE: KnownCoreBugs = KnownCoreBugs {
        empty_event_is_end_frame: false,
        reset_after_terminal: false,
        enveloped_header_limits: false,
    };
}

const SESSION_SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

fn session_params(direction: &str) -> SigningParams {
    SigningParams::new(
        eventstream::sign::Credentials::new("AKIDEXAMPLE", format!("secret-{direction}")),
        "us-east-1",
        "demo",
    )
}

/// What a side does with the frames it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unwrap {
    /// Plain frames, no verifier.
    Plain,
    /// The sender signs; a `SigV4Verifier` checks the chain.
    SigV4,
    /// The sender signs; `Unchecked` unwraps without checking.
    Unchecked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Client,
    Server,
}

/// One side of the connection and everything the driver knows about it.
struct Peer {
    name: &'static str,
    role: Role,
    session: Session,
    max_queued: usize,
    report_failures: bool,
    /// How this side's outgoing frames are signed (the peer's [`Unwrap`]).
    signs: bool,
    /// How this side checks its incoming frames.
    inbound: Unwrap,
    events: Vec<SessionEvent>,
    /// The last `Finish` or `Reset` handed out.
    signal: Option<Transmit>,
    /// Data-bearing messages accepted (initial messages and events), with their frame's place in
    /// the outbound link (`None`: the link had broken, the bytes were dropped).
    accepted: Vec<(Message, Option<(usize, usize)>)>,
    /// The exception or error that ended the stream (sent, or the error message a failure was
    /// reported with), with its frame.
    final_frame: Option<(Message, Option<(usize, usize)>)>,
    /// The end frame `finish` sent.
    end_frame: Option<Option<(usize, usize)>>,
    finished: bool,
    final_sent: bool,
    /// `abort` was called: whether the session had queued its terminal event before.
    aborted: Option<bool>,
    /// Whether the session had queued its terminal event when the exception or error was sent.
    final_terminated_before: bool,
    /// The failure polled.
    failed: Option<SessionError>,
    /// A received exception or error reset our side.
    reset_by_input: bool,
    /// `handle_reset` was called: whether the session had queued its terminal event before.
    transport_reset: Option<bool>,
}

impl Peer {
    fn new(name: &'static str, role: Role, session: Session, signs: bool, inbound: Unwrap) -> Self {
        Peer {
            name,
            role,
            max_queued: session.config().max_queued_events(),
            report_failures: session.config().failures_reported_to_peer(),
            session,
            signs,
            inbound,
            events: Vec::new(),
            signal: None,
            accepted: Vec::new(),
            final_frame: None,
            end_frame: None,
            finished: false,
            final_sent: false,
            aborted: None,
            final_terminated_before: false,
            failed: None,
            reset_by_input: false,
            transport_reset: None,
        }
    }

    fn terminal(&self) -> Option<&SessionEvent> {
        self.events.last().filter(|e| e.is_terminal())
    }

    /// Whether the session's sending side is still open, as far as the driver knows.
    fn open(&self) -> bool {
        !self.finished
            && !self.final_sent
            && self.aborted.is_none()
            && self.failed.is_none()
            && !self.reset_by_input
            && self.transport_reset.is_none()
    }

    fn received(&self) -> Vec<&Message> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::InitialRequest(m)
                | SessionEvent::InitialResponse(m)
                | SessionEvent::Event(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

/// One direction: a byte stream the fuzzer splits, corrupts, cuts and extends.
#[derive(Debug, Default)]
struct Link {
    name: &'static str,
    /// What the receiver gets (or got), corruption included; bytes lost to a reset or a cut are
    /// removed.
    bytes: Vec<u8>,
    /// How many the receiving session consumed (or discarded once terminated).
    consumed: usize,
    /// The first offset whose byte may differ from what the sender sent.
    mutated_from: Option<usize>,
    /// The sender's frames, where they are in `bytes`.
    frames: Vec<(usize, usize)>,
    /// The sender's `Finish` is behind the bytes.
    finished: bool,
    /// A reset or a cut: nothing more gets through.
    broken: bool,
    /// The receiver was told its input ended (or its transport was reset).
    ended: bool,
}

impl Link {
    fn push(&mut self, frame: &[u8]) -> Option<(usize, usize)> {
        if self.broken {
            return None;
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(frame);
        let range = (start, self.bytes.len());
        self.frames.push(range);
        Some(range)
    }

    /// In-flight bytes are lost; nothing more gets through.
    fn break_now(&mut self) {
        self.broken = true;
        self.bytes.truncate(self.consumed);
    }

    fn mutated(&mut self, at: usize) {
        self.mutated_from = Some(self.mutated_from.map_or(at, |m| m.min(at)));
    }

    fn pending(&self) -> usize {
        self.bytes.len() - self.consumed
    }
}

/// Where a sent frame is in its link (`None`: dropped, the link had broken).
type Span = Option<(usize, usize)>;

/// A frame `poll_transmit` handed out, and where it is in the link.
type SentFrame = (Vec<u8>, Span);

/// What a command was.
#[derive(Clone, Debug)]
enum Command {
    InitialRequest(Message),
    InitialResponse(Message),
    Send(Message),
    Exception(Message),
    Error(String, String),
    Finish,
    Abort,
}

/// Checks one frame a side sent: `expected` the message inside (`None`: the end frame).
fn check_sent_frame(name: &str, frame: &[u8], signs: bool, expected: Option<&Message>) {
    let limits = if signs {
        Limits::DEFAULT.enveloped()
    } else {
        Limits::DEFAULT
    };
    let got = decode_pieces(FrameDecoder::with_limits(limits), [Piece::Input(frame)]);
    assert!(
        got.is_clean() && got.messages.len() == 1,
        "{name} sent a bad frame: {got:?}"
    );
    let m = &got.messages[0];
    if signs {
        assert!(is_envelope(m), "{name} signs but sent {m:?}");
        match expected {
            None => assert!(
                m.payload().is_empty(),
                "{name}'s signed end frame has a payload"
            ),
            Some(e) => {
                let inner = decode_pieces(FrameDecoder::new(), [Piece::Bytes(m.payload().clone())]);
                assert_eq!(
                    inner.messages,
                    std::slice::from_ref(e),
                    "{name}: the envelope's inner message"
                );
            }
        }
    } else {
        match expected {
            None => assert_eq!(m, &Message::default(), "{name}'s end frame"),
            Some(e) => assert_eq!(m, e, "{name} sent another message than accepted"),
        }
    }
}

struct World {
    client: Peer,
    server: Peer,
    /// Client to server.
    up: Link,
    /// Server to client.
    down: Link,
    limits: Limits,
    now: SigningTime,
    /// Alternates the buffer `poll_transmit` is given: empty, or with a prefix.
    flip_buffer: bool,
    guards: KnownCoreBugs,
}

impl World {
    fn parts(&mut self, who: Who) -> (&mut Peer, &mut Link, &mut Link) {
        match who {
            Who::Client => (&mut self.client, &mut self.up, &mut self.down),
            Who::Server => (&mut self.server, &mut self.down, &mut self.up),
        }
    }

    /// Drains `poll_transmit` into the outbound link; returns the frames handed out.
    fn transmit(&mut self, who: Who) -> Vec<SentFrame> {
        self.flip_buffer = !self.flip_buffer;
        let prefix: &[u8] = if self.flip_buffer { b"" } else { b"junk" };
        let (peer, out, _) = self.parts(who);
        let mut frames = Vec::new();
        for _ in 0..16 {
            let mut buf = BytesMut::from(prefix);
            let Some(t) = peer.session.poll_transmit(&mut buf) else {
                return frames;
            };
            // "nothing more is sent, and no Transmit::Reset is asked for, since the stream is
            // gone" (Session::handle_reset).
            assert!(
                peer.transport_reset.is_none(),
                "{}: {t:?} after handle_reset",
                peer.name
            );
            match t {
                Transmit::Data(n) => {
                    assert!(
                        peer.signal.is_none(),
                        "{}: Data after {:?}",
                        peer.name,
                        peer.signal
                    );
                    assert_eq!(n, buf.len() - prefix.len(), "{}: Data({n})", peer.name);
                    assert!(n > 0, "{}: Data(0)", peer.name);
                    let data = &buf[prefix.len()..];
                    let mut at = 0;
                    while at < data.len() {
                        assert!(data.len() - at >= 16, "{}: a partial frame", peer.name);
                        let total = be32(data, at) as usize;
                        assert!(
                            total >= 16 && at + total <= data.len(),
                            "{}: a partial frame",
                            peer.name
                        );
                        let frame = &data[at..at + total];
                        frames.push((frame.to_vec(), out.push(frame)));
                        at += total;
                    }
                }
                Transmit::Finish => {
                    assert!(
                        peer.signal.is_none(),
                        "{}: Finish after {:?}",
                        peer.name,
                        peer.signal
                    );
                    peer.signal = Some(t);
                    if !out.broken {
                        out.finished = true;
                    }
                }
                Transmit::Reset(_) => {
                    assert!(
                        !matches!(peer.signal, Some(Transmit::Reset(_))),
                        "{}: two resets",
                        peer.name
                    );
                    peer.signal = Some(t);
                    out.break_now();
                }
                other => panic!("{}: unknown transmit {other:?}", peer.name),
            }
        }
        panic!("poll_transmit does not run dry");
    }

    /// After input or an event: a Reset may come (a received exception or error resets an open
    /// side), nothing else.
    fn transmit_after_input(&mut self, who: Who) {
        let before = self.parts(who).0.signal;
        let frames = self.transmit(who);
        let peer = self.parts(who).0;
        assert!(frames.is_empty(), "{}: bytes sent on input", peer.name);
        if peer.signal != before {
            assert_eq!(
                peer.signal,
                Some(Transmit::Reset(ResetCause::StreamOver)),
                "{}: {:?} on input",
                peer.name,
                peer.signal
            );
            assert!(peer.open(), "{}: reset on input while closed", peer.name);
            peer.reset_by_input = true;
        }
    }

    fn set_now(&mut self, now: SigningTime) {
        self.now = now;
    }

    fn command(&mut self, who: Who, command: Command) {
        let now = self.now;
        let guards = self.guards;
        let peer = self.parts(who).0;
        if let Command::InitialRequest(m) | Command::InitialResponse(m) | Command::Send(m) =
            &command
        {
            let empty = m.headers().is_empty() && m.payload().is_empty();
            if guards.empty_event_is_end_frame && empty && !peer.signs {
                return;
            }
        }
        let terminated_before = peer.session.is_terminated();
        let signal_before = peer.signal;
        let s = &mut peer.session;
        let result = match &command {
            Command::InitialRequest(m) => s.send_initial_request(m.clone(), now),
            Command::InitialResponse(m) => s.send_initial_response(m.clone(), now),
            Command::Send(m) => s.send(m.clone(), now),
            Command::Exception(m) => s.send_exception(m.clone(), now),
            Command::Error(code, text) => s.send_error(code, text, now),
            Command::Finish => s.finish(now),
            Command::Abort => {
                s.abort();
                Ok(())
            }
        };
        let frames = self.transmit(who);
        let peer = self.parts(who).0;
        let name = peer.name;
        if !matches!(command, Command::Abort) {
            if let Some(e) = &peer.failed {
                // Refused with the failure, unless the command itself is malformed (the kind of
                // message, the role or the mode), which may be said first.
                let malformed = matches!(
                    result,
                    Err(SendError::WrongKind(_) | SendError::NotAllowed(_))
                );
                assert!(
                    malformed || result == Err(SendError::Failed(e.clone())),
                    "{name}: {command:?} after the failure {e:?} gave {result:?}"
                );
            }
            if !peer.open() {
                assert!(
                    result.is_err(),
                    "{name}: {command:?} accepted with the sending side closed"
                );
            }
        }
        match (&command, result) {
            (Command::Abort, _) => {
                assert!(frames.is_empty(), "{name}: bytes after abort");
                if peer.transport_reset.is_none() {
                    assert_eq!(
                        peer.signal,
                        Some(Transmit::Reset(ResetCause::Aborted)),
                        "{name}: abort resets"
                    );
                }
                assert!(peer.session.is_terminated(), "{name}: abort terminates");
                peer.aborted.get_or_insert(terminated_before);
            }
            (_, Err(e)) => {
                assert!(
                    frames.is_empty(),
                    "{name}: {command:?} refused ({e}) but queued bytes"
                );
                assert_eq!(
                    peer.signal, signal_before,
                    "{name}: a refused command changed the transport"
                );
            }
            (Command::Finish, Ok(())) => {
                // A signed stream ends with its end frame, an unsigned one with the half-close
                // alone.
                let expected = usize::from(peer.signs);
                assert_eq!(
                    frames.len(),
                    expected,
                    "{name}: finish sends {expected} end frames"
                );
                if let Some((frame, place)) = frames.first() {
                    check_sent_frame(name, frame, peer.signs, None);
                    peer.end_frame = Some(*place);
                }
                assert_eq!(
                    peer.signal,
                    Some(Transmit::Finish),
                    "{name}: finish half-closes"
                );
                peer.finished = true;
            }
            (Command::Exception(_) | Command::Error(..), Ok(())) => {
                let msg = match &command {
                    Command::Exception(m) => m.clone(),
                    Command::Error(code, text) => error_message(code.as_str(), text.as_str()),
                    _ => unreachable!(),
                };
                assert_eq!(
                    frames.len(),
                    1,
                    "{name}: one frame for the exception or error"
                );
                check_sent_frame(name, &frames[0].0, peer.signs, Some(&msg));
                assert_eq!(
                    peer.signal,
                    Some(Transmit::Finish),
                    "{name}: the final message half-closes"
                );
                assert!(
                    peer.session.is_terminated(),
                    "{name}: the final message terminates"
                );
                peer.final_sent = true;
                peer.final_terminated_before = terminated_before;
                peer.final_frame = Some((msg, frames[0].1));
            }
            (
                Command::InitialRequest(m) | Command::InitialResponse(m) | Command::Send(m),
                Ok(()),
            ) => {
                assert_eq!(frames.len(), 1, "{name}: one frame for one message");
                check_sent_frame(name, &frames[0].0, peer.signs, Some(m));
                assert_eq!(peer.signal, signal_before);
                peer.accepted.push((m.clone(), frames[0].1));
            }
        }
    }

    /// Polls at most `max` events.
    fn poll(&mut self, who: Who, max: usize) -> usize {
        let limits = self.limits;
        for polled in 0..max {
            let peer = self.parts(who).0;
            let open = peer.open();
            let Some(event) = peer.session.poll_event() else {
                return polled;
            };
            assert!(
                peer.terminal().is_none(),
                "{}: {event:?} after the terminal event {:?}",
                peer.name,
                peer.terminal()
            );
            peer.events.push(event.clone());
            let SessionEvent::Failed(e) = event else {
                self.transmit_after_input(who);
                continue;
            };
            assert_eq!(peer.session.error(), Some(&e), "{}: error()", peer.name);
            let server_reports = peer.report_failures && peer.role == Role::Server && open;
            let reply = error_message(e.kind(), e.to_string());
            let reply_fits = reply
                .encode_with_limits(&limits, &mut BytesMut::new())
                .is_ok();
            let signal_before = peer.signal;
            let frames = self.transmit(who);
            let peer = self.parts(who).0;
            peer.failed = Some(e.clone());
            if server_reports && reply_fits {
                assert_eq!(
                    frames.len(),
                    1,
                    "{}: the failure is reported with one message",
                    peer.name
                );
                check_sent_frame(peer.name, &frames[0].0, peer.signs, Some(&reply));
                assert_eq!(
                    peer.signal,
                    Some(Transmit::Finish),
                    "{}: then the response ends",
                    peer.name
                );
                peer.final_frame = Some((reply, frames[0].1));
            } else {
                assert!(frames.is_empty(), "{}: bytes after {e}", peer.name);
                if peer.transport_reset.is_none()
                    && !matches!(signal_before, Some(Transmit::Reset(_)))
                {
                    assert_eq!(
                        peer.signal,
                        Some(Transmit::Reset(ResetCause::Failed)),
                        "{}: a failure resets",
                        peer.name
                    );
                }
            }
        }
        max
    }

    /// Offers up to `max` pending bytes to `who`.
    fn deliver(&mut self, who: Who, max: usize, shared: bool) -> usize {
        let now = self.now;
        let (peer, _, inbound) = self.parts(who);
        if inbound.ended {
            return 0;
        }
        let offered = max.min(inbound.pending());
        if offered == 0 {
            return 0;
        }
        let piece = &inbound.bytes[inbound.consumed..inbound.consumed + offered];
        let n = if shared {
            peer.session
                .handle_bytes(&Bytes::copy_from_slice(piece), now)
        } else {
            peer.session.handle_input(piece, now)
        };
        assert!(
            n <= offered,
            "{}: consumed {n} of {offered} bytes",
            peer.name
        );
        if n < offered {
            assert!(
                peer.session.queued_events() >= peer.max_queued && !peer.session.is_terminated(),
                "{}: consumed {n} of {offered} bytes with {} of {} events queued",
                peer.name,
                peer.session.queued_events(),
                peer.max_queued
            );
        }
        inbound.consumed += n;
        self.transmit_after_input(who);
        n
    }

    /// The input of `who` ends where it is: what was not consumed never arrives.
    fn end_input(&mut self, who: Who) {
        let now = self.now;
        let (peer, _, inbound) = self.parts(who);
        if inbound.ended {
            return;
        }
        if inbound.pending() > 0 || !inbound.finished {
            inbound.break_now();
        }
        inbound.ended = true;
        peer.session.handle_end_of_input(now);
        self.transmit_after_input(who);
    }

    /// The transport of `who` was reset: both directions break.
    fn transport_reset(&mut self, who: Who, reason: &'static str) {
        let guards = self.guards;
        let (peer, out, inbound) = self.parts(who);
        if peer.transport_reset.is_some() {
            return;
        }
        let terminated_before = peer.session.is_terminated();
        if terminated_before && guards.reset_after_terminal {
            return;
        }
        peer.transport_reset = Some(terminated_before);
        out.break_now();
        if !inbound.ended {
            inbound.break_now();
            inbound.ended = true;
        }
        peer.session.handle_reset(reason);
        let frames = self.transmit(who);
        assert!(frames.is_empty(), "bytes after handle_reset");
    }

    /// Everything delivered, every input ended, every event polled.
    fn settle(&mut self) {
        for who in [Who::Server, Who::Client, Who::Server, Who::Client] {
            loop {
                self.poll(who, usize::MAX);
                let (_, _, inbound) = self.parts(who);
                if inbound.ended || inbound.pending() == 0 {
                    break;
                }
                let n = self.deliver(who, usize::MAX, false);
                let polled = self.poll(who, usize::MAX);
                let (peer, _, _) = self.parts(who);
                assert!(
                    n > 0 || polled > 0,
                    "{}: no progress with an empty event queue",
                    peer.name
                );
            }
            self.end_input(who);
            self.poll(who, usize::MAX);
        }
        let now = self.now;
        for who in [Who::Client, Who::Server] {
            let (peer, _, _) = self.parts(who);
            assert!(
                peer.terminal().is_some(),
                "{}: no terminal event after the end of input: {:?}",
                peer.name,
                peer.events
            );
            for _ in 0..3 {
                assert_eq!(
                    peer.session.poll_event(),
                    None,
                    "{}: an event after the terminal one",
                    peer.name
                );
            }
            assert_eq!(
                peer.session.handle_input(b"late bytes", now),
                10,
                "{}: late input",
                peer.name
            );
            peer.session.handle_end_of_input(now);
            assert_eq!(
                peer.session.poll_event(),
                None,
                "{}: an event after the terminal one",
                peer.name
            );
            let frames = self.transmit(who);
            assert!(frames.is_empty(), "bytes with nothing commanded");
        }
    }
}

/// The events of one side: exactly one terminal event, the last; what the side itself did.
fn check_side(peer: &Peer) {
    let terminals = peer.events.iter().filter(|e| e.is_terminal()).count();
    assert_eq!(
        terminals, 1,
        "{}: {terminals} terminal events in {:?}",
        peer.name, peer.events
    );
    let terminal = peer.terminal().expect("checked");
    if peer.aborted == Some(false) || (peer.final_sent && !peer.final_terminated_before) {
        assert_eq!(
            terminal,
            &SessionEvent::Closed,
            "{}: aborted or ended the stream",
            peer.name
        );
    }
    if peer.reset_by_input {
        assert!(
            matches!(
                terminal,
                SessionEvent::Exception { .. } | SessionEvent::Error { .. }
            ),
            "{}: reset on input, then {terminal:?}",
            peer.name
        );
    }
    if peer.transport_reset == Some(false) {
        assert!(
            matches!(terminal, SessionEvent::Failed(SessionError::Reset { .. })),
            "{}: the transport was reset, then {terminal:?}",
            peer.name
        );
    }
}

/// What `receiver` got of what `sender` sent over `link`.
fn check_direction(sender: &Peer, receiver: &Peer, link: &Link) {
    let received = receiver.received();
    let sent: Vec<&Message> = sender.accepted.iter().map(|(m, _)| m).collect();
    let delivered = link.bytes.len();
    let intact_to = link.mutated_from.unwrap_or(usize::MAX).min(delivered);
    let name = link.name;
    let terminal = receiver.terminal().expect("checked");
    let verifying = receiver.inbound == Unwrap::SigV4;

    // What arrived over intact bytes is what was sent.
    for (i, r) in received.iter().enumerate() {
        match sender.accepted.get(i) {
            Some((m, Some((_, end)))) if *end <= intact_to => {
                check_prefix(&[m], &[*r]).unwrap_or_else(|e| panic!("{name}: message {i}: {e}"));
            }
            _ => {}
        }
    }
    if verifying {
        check_prefix(&sent, &received).unwrap_or_else(|e| panic!("{name}: {e}"));
        if *terminal == SessionEvent::End {
            assert_eq!(
                received.len(),
                sent.len(),
                "{name}: End, but not everything arrived"
            );
            assert!(
                sender.finished,
                "{name}: End verified, but the sender never finished"
            );
        }
    }
    if link.mutated_from.is_some_and(|m| m < delivered) {
        return;
    }
    // Intact: the terminal event and the count follow from what was delivered.
    let whole = |range: &Option<(usize, usize)>| range.is_some_and(|(_, end)| end <= delivered);
    let data_delivered = sender.accepted.iter().take_while(|(_, r)| whole(r)).count();
    let final_delivered = sender.final_frame.as_ref().filter(|(_, r)| whole(r));
    let end_delivered = sender.end_frame.is_some_and(|r| whole(&r));
    let boundary = delivered == 0 || link.frames.iter().any(|&(_, end)| end == delivered);
    let kind = match terminal {
        SessionEvent::Closed => return,
        SessionEvent::Failed(e) if e.kind() == "signature_expired" => return,
        SessionEvent::Failed(e) => e.kind(),
        _ => "",
    };
    let (expected, count): (&str, usize) = if let Some((m, _)) = final_delivered {
        match terminal {
            SessionEvent::Exception { message, .. } | SessionEvent::Error { message, .. } => {
                assert_eq!(message, m, "{name}: the final message");
            }
            other => panic!("{name}: the final message was delivered, the receiver saw {other:?}"),
        }
        ("final", sent.len())
    } else if receiver.transport_reset == Some(false) {
        ("reset", data_delivered)
    } else if !boundary {
        ("truncated", data_delivered)
    } else if verifying && !end_delivered {
        ("missing_end_frame", data_delivered)
    } else {
        ("End", data_delivered)
    };
    let ok = match expected {
        "final" => true,
        "End" => *terminal == SessionEvent::End,
        kind_expected => kind == kind_expected,
    };
    assert!(
        ok,
        "{name}: terminal {terminal:?}, expected {expected} ({delivered} bytes delivered, {} frames, \
         {} messages sent, {data_delivered} delivered)\nsent {sent:?}\nreceived {received:?}",
        link.frames.len(),
        sent.len()
    );
    assert_eq!(
        received.len(),
        count,
        "{name}: received {} of {} messages sent ({data_delivered} delivered), terminal {terminal:?}\n\
         sent {sent:?}\nreceived {received:?}",
        received.len(),
        sent.len()
    );
}

fn event_message(input: &mut Input<'_>) -> Message {
    match input.range(0, 7) {
        0 => Message::default(),
        1 => small_message(input),
        _ => {
            let ty = input.pick_str(&["Ping", "AudioEvent", "initial-request", "initial-response"]);
            let mut b = EventBuilder::new(ty);
            if input.ratio(1, 3) {
                b = b.content_type("application/json");
            }
            for _ in 0..input.range(0, 2) {
                let mut name = input.pick_str(&["seq", "x-id"]);
                if name.is_empty() {
                    name.push('h');
                }
                b = b.header(name, header_value(input, 24));
            }
            let len = input.range(0, 64);
            b.payload(input.filled(len, 64)).build()
        }
    }
}

fn initial_message(input: &mut Input<'_>, request: bool) -> Message {
    let mut b = match input.range(0, 5) {
        0 => return event_message(input),
        1 if request => EventBuilder::initial_response(),
        1 => EventBuilder::initial_request(),
        _ if request => EventBuilder::initial_request(),
        _ => EventBuilder::initial_response(),
    };
    if input.ratio(1, 2) {
        b = b.content_type("application/json");
    }
    let len = input.range(0, 32);
    b.payload(input.filled(len, 32)).build()
}

/// Arbitrary operations against a client and a server session joined by two in-memory links:
/// commands on either side (initial messages, events, exceptions, errors, `finish`, `abort`),
/// deliveries of arbitrary sizes (copied or shared), slow polling, ends of input, transport
/// resets, time passing, and corruption of the links (flipped bytes with or without a fixed
/// checksum, dropped bytes, injected frames: foreign, replayed or raw). Both modes; each direction
/// plain, signed and verified, or signed and unwrapped unchecked; optional small limits, small
/// event queues, clock skew checks and failure reports. At the end every byte is delivered, every
/// input ended and every event polled.
///
/// Invariants: no panic, no livelock; each side yields exactly one terminal event, the last, and
/// nothing after it (`poll_event` stays `None`, late input is discarded); `poll_transmit` hands
/// out whole frames, nothing after a `Reset` or after `handle_reset`, only a `Reset` after a
/// `Finish`; an accepted command puts exactly its frame on the wire (a refused one nothing), and
/// every command after `finish`, an exception, an error, `abort` or a polled failure is refused
/// (after a failure, with that failure); a polled failure resets the stream, or, at a server that
/// reports failures, sends the error message and half-closes; `handle_input` consumes less than
/// offered only with a full event queue; every message accepted and delivered over intact bytes
/// arrives once, in order, byte-identical; a verifier never lets through anything that was not
/// sent, and its `End` means everything arrived; over intact bytes the terminal event is the one
/// the delivered bytes call for (`End`, `truncated`, `missing_end_frame`, the sender's exception or
/// error, `reset`) after exactly the messages delivered.
pub fn session(data: &[u8]) {
    session_with(data, KnownCoreBugs::GUARDED);
}

/// [`session`], steering clear of the known core bugs in `guards` only.
pub fn session_with(data: &[u8], guards: KnownCoreBugs) {
    // EVENTSTREAM_FUZZ_TRACE=1 prints the operations, to read a crash.
    let trace = std::env::var_os("EVENTSTREAM_FUZZ_TRACE").is_some();
    let mut input = Input::new(data);
    let flags = input.byte();
    let mode = if flags & 1 == 0 {
        Mode::Rpc
    } else {
        Mode::HttpBinding
    };
    let unwrap = |bits: u8| match bits & 3 {
        1 => Unwrap::SigV4,
        2 => Unwrap::Unchecked,
        _ => Unwrap::Plain,
    };
    let (up_unwrap, down_unwrap) = (unwrap(flags >> 1), unwrap(flags >> 3));
    let limits = if flags & 0x20 != 0 {
        small_limits(&mut input)
    } else {
        Limits::DEFAULT
    };
    let signed = up_unwrap != Unwrap::Plain || down_unwrap != Unwrap::Plain;
    let limits = if signed && guards.enveloped_header_limits {
        limits
            .with_max_headers_len(limits.max_headers_len().max(67))
            .with_max_header_count(limits.max_header_count().max(2))
    } else {
        limits
    };
    let skew = (flags & 0x40 != 0).then(|| input.range(0, 600) as u64);
    let report = flags & 0x80 != 0;
    let mut queue = || match input.range(0, 7) {
        0..=3 => SessionConfig::DEFAULT_MAX_QUEUED_EVENTS,
        n => n - 3,
    };
    let (client_queue, server_queue) = (queue(), queue());
    let start = 1_700_000_000 + input.range(0, 86_400) as i64;

    let build =
        |role: Role, queue: usize, out: Unwrap, inbound: Unwrap, out_dir: &str, in_dir: &str| {
            let config = SessionConfig::new(role, mode)
                .with_limits(limits)
                .with_max_queued_events(queue)
                .with_failures_reported_to_peer(report);
            let mut s = Session::new(config);
            if out != Unwrap::Plain {
                s = s.with_signer(SigV4Signer::new(session_params(out_dir), SESSION_SEED));
            }
            match inbound {
                Unwrap::Plain => s,
                Unwrap::SigV4 => {
                    let mut v = SigV4Verifier::new(session_params(in_dir), SESSION_SEED);
                    if let Some(max) = skew {
                        v = v.with_max_clock_skew(max);
                    }
                    s.with_verifier(v)
                }
                Unwrap::Unchecked => s.with_verifier(Unchecked::default()),
            }
        };
    let client = build(
        Role::Client,
        client_queue,
        up_unwrap,
        down_unwrap,
        "up",
        "down",
    );
    let server = build(
        Role::Server,
        server_queue,
        down_unwrap,
        up_unwrap,
        "down",
        "up",
    );
    let mut world = World {
        client: Peer::new(
            "client",
            Role::Client,
            client,
            up_unwrap != Unwrap::Plain,
            down_unwrap,
        ),
        server: Peer::new(
            "server",
            Role::Server,
            server,
            down_unwrap != Unwrap::Plain,
            up_unwrap,
        ),
        up: Link {
            name: "client->server",
            ..Link::default()
        },
        down: Link {
            name: "server->client",
            ..Link::default()
        },
        limits,
        now: sigv4::at(start),
        flip_buffer: false,
        guards,
    };
    world.set_now(sigv4::at(start));

    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        let op = input.byte();
        let who = if op & 0x80 == 0 {
            Who::Client
        } else {
            Who::Server
        };
        if trace {
            eprintln!("op {:3} on the {who:?}", op & 0x7f);
        }
        match op & 0x7f {
            0..=19 => {
                let m = event_message(&mut input);
                world.command(who, Command::Send(m));
            }
            20..=25 => {
                let request = who == Who::Client;
                let m = initial_message(&mut input, request);
                let c = if request ^ input.ratio(1, 8) {
                    Command::InitialRequest(m)
                } else {
                    Command::InitialResponse(m)
                };
                world.command(who, c);
            }
            26..=28 => {
                let m = if input.ratio(3, 4) {
                    let ty = input.pick_str(&["ThrottlingException", "BadRequestException"]);
                    let len = input.range(0, 32);
                    ExceptionBuilder::new(ty)
                        .payload(input.filled(len, 32))
                        .build()
                } else {
                    small_message(&mut input)
                };
                world.command(who, Command::Exception(m));
            }
            29..=30 => {
                let code = input.pick_str(&["InternalFailure", "ServiceUnavailable"]);
                let len = input.range(0, 40);
                let text = input.utf8(len);
                world.command(who, Command::Error(code, text));
            }
            31..=35 => world.command(who, Command::Finish),
            36 => world.command(who, Command::Abort),
            37..=69 => {
                let max = match input.range(0, 3) {
                    0 => 1,
                    1 => input.range(1, 16),
                    2 => input.range(1, 300),
                    _ => usize::MAX,
                };
                let shared = input.ratio(1, 2);
                world.deliver(who, max, shared);
            }
            70..=84 => {
                let max = input.range(1, 4);
                world.poll(who, max);
            }
            85..=87 => world.end_input(who),
            88 => world.transport_reset(who, "RST_STREAM"),
            89..=92 => {
                let secs = match input.range(0, 2) {
                    0 => input.range_i64(1, 5),
                    1 => input.range_i64(1, 900),
                    _ => input.range_i64(1, 3 * DAY),
                };
                let now = world.now.checked_add_seconds(secs).unwrap_or(world.now);
                world.set_now(now);
            }
            93..=96 => {
                // Flip a byte that has not been delivered yet.
                let (_, _, inbound) = world.parts(who);
                if inbound.broken || inbound.pending() == 0 {
                    continue;
                }
                let at = inbound.consumed + input.range(0, inbound.pending() - 1);
                let mask = input.byte().max(1);
                inbound.bytes[at] ^= mask;
                inbound.mutated(at);
                if input.ratio(1, 2) {
                    // Fix the checksums of the frame that holds it, where they are not delivered.
                    let len = inbound.bytes.len();
                    let frame = inbound
                        .frames
                        .iter()
                        .copied()
                        .find(|&(s, e)| s <= at && at < e && e <= len);
                    if let Some((start, end)) = frame {
                        if at < start + 8 && start + 8 >= inbound.consumed {
                            let crc = crc32fast::hash(&inbound.bytes[start..start + 8]);
                            inbound.bytes[start + 8..start + 12]
                                .copy_from_slice(&crc.to_be_bytes());
                        }
                        if end - 4 >= inbound.consumed {
                            let crc = crc32fast::hash(&inbound.bytes[start..end - 4]);
                            inbound.bytes[end - 4..end].copy_from_slice(&crc.to_be_bytes());
                        }
                    }
                }
            }
            97..=98 => {
                // Drop undelivered bytes.
                let (_, _, inbound) = world.parts(who);
                if inbound.broken || inbound.pending() == 0 {
                    continue;
                }
                let at = inbound.consumed + input.range(0, inbound.pending() - 1);
                let len = input.range(1, inbound.bytes.len() - at);
                inbound.bytes.drain(at..at + len);
                inbound.mutated(at);
            }
            99..=102 => {
                // Inject a frame behind what is in flight: a replayed one, a foreign message, or
                // raw bytes.
                let msg = small_message(&mut input);
                let kind = input.range(0, 2);
                let (_, _, inbound) = world.parts(who);
                if inbound.broken {
                    continue;
                }
                let bytes = match kind {
                    0 if !inbound.frames.is_empty() => {
                        let (s, e) = inbound.frames[input.range(0, inbound.frames.len() - 1)];
                        if e > inbound.bytes.len() {
                            continue;
                        }
                        inbound.bytes[s..e].to_vec()
                    }
                    1 => {
                        let len = input.range(1, 48);
                        input.filled(len, 48)
                    }
                    _ => crate::encode(&msg).to_vec(),
                };
                let at = inbound.bytes.len();
                inbound.bytes.extend_from_slice(&bytes);
                inbound.mutated(at);
            }
            _ => {}
        }
    }
    world.settle();
    if trace {
        for peer in [&world.client, &world.server] {
            let accepted: Vec<_> = peer.accepted.iter().map(|(m, _)| m).collect();
            eprintln!("{}: accepted {accepted:?}", peer.name);
            eprintln!("{}: events {:?}", peer.name, peer.events);
        }
    }

    check_side(&world.client);
    check_side(&world.server);
    check_direction(&world.client, &world.server, &world.up);
    check_direction(&world.server, &world.client, &world.down);
}
