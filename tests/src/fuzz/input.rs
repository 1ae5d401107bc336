//! Reading the fuzzer's bytes: [`Input`], and the small values and messages every target
//! builds from them.

use arbitrary::Unstructured;
use eventstream::frame::{Header, HeaderValue, Limits, Message};

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

    /// How many bytes are left to read.
    pub fn remaining(&self) -> usize {
        self.u.len()
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

/// Limits small enough that the fuzzer reaches them.
pub(super) fn small_limits(input: &mut Input<'_>) -> Limits {
    Limits::default()
        .with_max_payload_len(input.range(0, 255) as u32 * 16)
        .with_max_headers_len(input.range(0, 255) as u32 * 4)
        .with_max_header_count(input.range(0, 40) as u32)
}

/// Names a message's headers often have.
pub(super) const NAMES: &[&str] = &[
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
pub(super) const STRINGS: &[&str] = &[
    "event",
    "exception",
    "error",
    "initial-request",
    "initial-response",
    "application/json",
    "Ping",
];

/// A header value of any type; strings and byte arrays of 0..=`max_len` bytes.
pub(super) fn header_value(input: &mut Input<'_>, max_len: usize) -> HeaderValue {
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

/// A small valid message: 0..=4 headers (names from `NAMES`, those a message often has, or 1..=12 bytes of UTF-8), a
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
