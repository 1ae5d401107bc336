//! The `round_trip` target: an arbitrary message encodes, decodes and is equal; encode errors
//! only where due.

use std::collections::HashSet;

use bytes::BytesMut;
use eventstream::frame::{
    EncodeError, FrameDecoder, FrameError, Header, HeaderValue, Limits, Message,
    MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN, PRELUDE_LEN,
};

use super::input::{header_value, small_limits, Input, NAMES};
use crate::{be32, decode_pieces, Piece};

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
