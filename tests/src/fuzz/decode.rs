//! The `decode` target: arbitrary bytes into the frame decoder, whole and in pieces.

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use eventstream::frame::{FrameDecoder, FrameError, Limits, Message, PRELUDE_LEN};

use super::input::{small_limits, Input};
use crate::be32;

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
        let used = data.len() - input.remaining();
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
