use super::*;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use eventstream_testkit::hex::hex;

fn all_types() -> Message {
    Message::new(&b"{'foo':'bar'}"[..])
        .with_header("t", true)
        .with_header("f", false)
        .with_header("b", -3i8)
        .with_header("s", 20000i16)
        .with_header("i", 500_000i32)
        .with_header("l", 50_000_000_000i64)
        .with_header("bytes", Bytes::from_static(b"\x00\x01"))
        .with_header("str", "value")
        .with_header("ts", HeaderValue::Timestamp(-8_675_309))
        .with_header("uuid", [7u8; 16])
}

fn encode(m: &Message) -> BytesMut {
    let mut buf = BytesMut::new();
    let n = m.encode(&mut buf).unwrap();
    assert_eq!(n, m.encoded_len());
    assert_eq!(buf.len(), n);
    buf
}

fn decode_all(chunks: &[&[u8]]) -> Result<Vec<Message>, FrameError> {
    let mut d = FrameDecoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.handle_input(c);
        while let Some(m) = d.poll_message()? {
            out.push(m);
        }
    }
    d.handle_end_of_input()?;
    while let Some(m) = d.poll_message()? {
        out.push(m);
    }
    Ok(out)
}

#[test]
fn round_trip_all_types_one_byte_at_a_time() {
    let m = all_types();
    let wire = encode(&m);
    let pieces: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(decode_all(&pieces).unwrap(), core::slice::from_ref(&m));
    assert_eq!(decode_all(&[&wire]).unwrap(), [m]);
}

#[test]
fn generic_encoder_matches_bytes_mut_encoder() {
    let m = all_types();
    let mut v: Vec<u8> = Vec::new();
    m.encode_to(&Limits::default(), &mut v).unwrap();
    assert_eq!(&v[..], &encode(&m)[..]);
}

#[test]
fn empty_message_is_sixteen_bytes() {
    let wire = encode(&Message::default());
    assert_eq!(&wire[..], &hex("000000100000000005c248eb7d98c8ff")[..]);
}

#[test]
fn handle_bytes_splits_whole_frames_without_copying() {
    let mut wire = encode(&all_types());
    wire.extend_from_slice(&encode(&Message::new(&b"second"[..])));
    let whole = wire.freeze();
    let base = whole.as_ptr() as usize;
    let mut d = FrameDecoder::new();
    d.handle_bytes(&whole.clone());
    let a = d.poll_message().unwrap().unwrap();
    let b = d.poll_message().unwrap().unwrap();
    assert!(d.poll_message().unwrap().is_none());
    d.handle_end_of_input().unwrap();
    // The payloads point into the buffer that was handed over.
    let range = base..base + whole.len();
    assert!(range.contains(&(a.payload().as_ptr() as usize)));
    assert!(range.contains(&(b.payload().as_ptr() as usize)));
    assert_eq!(&b.payload()[..], b"second");
}

#[test]
fn handle_bytes_then_slices_keeps_order() {
    let one = encode(&Message::new(&b"one"[..]));
    let two = encode(&Message::new(&b"two"[..]));
    let mut d = FrameDecoder::new();
    // Whole frame plus the first half of the next, then the rest as a slice.
    let mut first = one.clone();
    first.extend_from_slice(&two[..14]);
    d.handle_bytes(&first.freeze());
    assert_eq!(&d.poll_message().unwrap().unwrap().payload()[..], b"one");
    assert!(d.poll_message().unwrap().is_none());
    assert_eq!(d.bytes_needed(), two.len() - 14);
    d.handle_input(&two[14..]);
    assert_eq!(&d.poll_message().unwrap().unwrap().payload()[..], b"two");
    d.handle_end_of_input().unwrap();
}

/// The input moves between the `Bytes` handed over and the decoder's buffer: a frame split
/// across a `Bytes` and a slice is copied, and once everything copied has been handed out, the
/// next `Bytes` is split without copying again.
#[test]
fn handle_bytes_after_copied_input_splits_without_copying_again() {
    let one = encode(&Message::new(&b"one"[..]));
    let two = encode(&Message::new(&b"two"[..]));
    let three = encode(&Message::new(&b"three"[..])).freeze();
    let within = |m: &Message, b: &Bytes| {
        let base = b.as_ptr() as usize;
        (base..base + b.len()).contains(&(m.payload().as_ptr() as usize))
    };
    let mut d = FrameDecoder::new();
    let mut first = one.clone();
    first.extend_from_slice(&two[..14]);
    let first = first.freeze();
    d.handle_bytes(&first);
    assert_eq!(d.buffered_len(), first.len());
    let m = d.poll_message().unwrap().unwrap();
    assert!(within(&m, &first));
    assert!(d.poll_message().unwrap().is_none());
    assert_eq!(d.buffered_len(), 14);
    // The rest of the second frame and a whole third one, as a slice: both are copied.
    let mut rest = two[14..].to_vec();
    rest.extend_from_slice(&three);
    d.handle_input(&rest);
    assert_eq!(d.buffered_len(), two.len() + three.len());
    let m = d.poll_message().unwrap().unwrap();
    assert_eq!(&m.payload()[..], b"two");
    assert!(!within(&m, &first));
    let m = d.poll_message().unwrap().unwrap();
    assert_eq!(&m.payload()[..], b"three");
    assert!(d.poll_message().unwrap().is_none());
    assert_eq!(d.buffered_len(), 0);
    d.handle_bytes(&three);
    let m = d.poll_message().unwrap().unwrap();
    assert!(within(&m, &three));
    assert!(d.poll_message().unwrap().is_none());
    d.handle_end_of_input().unwrap();
}
#[test]
fn forged_length_is_rejected_before_the_body_is_buffered() {
    // A valid prelude CRC with a total length of 0xFFFFFFF0.
    let mut prelude = Vec::new();
    prelude.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    prelude.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32fast::hash(&prelude);
    prelude.extend_from_slice(&crc.to_be_bytes());
    let mut d = FrameDecoder::new();
    d.handle_input(&prelude);
    let err = d.poll_message().unwrap_err();
    assert_eq!(err.kind(), "payload_too_long");
    // Poisoned: the same error forever, and input is ignored.
    d.handle_input(&[0; 64]);
    assert_eq!(d.poll_message().unwrap_err(), err);
    assert_eq!(d.handle_end_of_input().unwrap_err(), err);
    assert_eq!(d.buffered_len(), 0);
}

#[test]
fn zero_total_length_is_rejected_at_once() {
    let mut prelude = Vec::new();
    prelude.extend_from_slice(&0u32.to_be_bytes());
    prelude.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32fast::hash(&prelude);
    prelude.extend_from_slice(&crc.to_be_bytes());
    let mut d = FrameDecoder::new();
    d.handle_input(&prelude);
    assert_eq!(
        d.poll_message().unwrap_err().kind(),
        "invalid_message_length"
    );
}

#[test]
fn truncation_is_reported_at_end_of_input() {
    let wire = encode(&all_types());
    for cut in 1..wire.len() {
        let err = decode_all(&[&wire[..cut]]).unwrap_err();
        assert_eq!(err.kind(), "truncated", "cut at {cut}");
        match err {
            FrameError::Truncated {
                available,
                expected,
                ..
            } => {
                assert_eq!(available, cut);
                assert_eq!(expected, if cut < 12 { 12 } else { wire.len() });
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(decode_all(&[]).unwrap().is_empty());
}

#[test]
fn finish_before_draining_loses_nothing() {
    let wire = encode(&Message::new(&b"x"[..]));
    let mut d = FrameDecoder::new();
    d.handle_input(&wire);
    d.handle_input(&wire[..3]);
    d.handle_end_of_input().unwrap();
    assert!(d.poll_message().unwrap().is_some());
    assert_eq!(d.poll_message().unwrap_err().kind(), "truncated");
}

#[test]
fn bytes_needed_tracks_the_prelude_then_the_frame() {
    let wire = encode(&all_types());
    let mut d = FrameDecoder::new();
    assert_eq!(d.bytes_needed(), 12);
    d.handle_input(&wire[..5]);
    assert_eq!(d.bytes_needed(), 7);
    d.handle_input(&wire[5..20]);
    assert!(d.poll_message().unwrap().is_none());
    assert_eq!(d.bytes_needed(), wire.len() - 20);
}

#[test]
fn encoder_rejects_what_the_wire_cannot_carry() {
    let mut buf = BytesMut::new();
    let kind = |m: Message, buf: &mut BytesMut| m.encode(buf).unwrap_err().kind();
    assert_eq!(
        kind(Message::default().with_header("", 1i32), &mut buf),
        "invalid_header_name_length"
    );
    let long_name: alloc::string::String = "n".repeat(256);
    assert_eq!(
        kind(Message::default().with_header(long_name, 1i32), &mut buf),
        "invalid_header_name_length"
    );
    let long_value: alloc::string::String = "v".repeat(32_768);
    assert_eq!(
        kind(Message::default().with_header("a", long_value), &mut buf),
        "header_value_too_long"
    );
    let long_bytes = Bytes::from(alloc::vec![0u8; 32_768]);
    assert_eq!(
        kind(Message::default().with_header("a", long_bytes), &mut buf),
        "header_value_too_long"
    );
    assert!(buf.is_empty());
    // The largest value the wire carries is fine.
    let max_value: alloc::string::String = "v".repeat(32_767);
    Message::default()
        .with_header("a", max_value)
        .encode(&mut buf)
        .unwrap();
    let lim = Limits::default()
        .with_max_header_count(1)
        .with_max_headers_len(10);
    let two = Message::default()
        .with_header("a", true)
        .with_header("b", true);
    assert_eq!(
        two.encode_with_limits(&lim, &mut BytesMut::new())
            .unwrap_err()
            .kind(),
        "too_many_headers"
    );
    let big = Message::default().with_header("abcdefghijk", true);
    assert_eq!(
        big.encode_with_limits(&lim, &mut BytesMut::new())
            .unwrap_err()
            .kind(),
        "headers_too_long"
    );
}

/// A frame with this header block and no payload, with correct lengths and checksums.
fn frame_with_header_block(block: &[u8]) -> Vec<u8> {
    let total = (MIN_FRAME_LEN + block.len()) as u32;
    let mut wire = Vec::new();
    wire.extend_from_slice(&total.to_be_bytes());
    wire.extend_from_slice(&(block.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&wire);
    wire.extend_from_slice(&prelude_crc.to_be_bytes());
    wire.extend_from_slice(block);
    let crc = crc32fast::hash(&wire);
    wire.extend_from_slice(&crc.to_be_bytes());
    wire
}

#[test]
fn duplicates_are_kept_unless_rejected() {
    let m = Message::new(Bytes::new())
        .with_header("a", 1i32)
        .with_header("a", 2i32);
    let wire = encode(&m);
    let got = decode_all(&[&wire]).unwrap();
    assert_eq!(got[0].headers_named("a").count(), 2);
    assert_eq!(got[0].header("a"), Some(&HeaderValue::Int(1)));
    let mut d = FrameDecoder::new().reject_duplicate_headers(true);
    d.handle_input(&wire);
    match d.poll_message().unwrap_err() {
        // The second header starts after the prelude and the first one (1 + 1 + 1 + 4 bytes).
        FrameError::DuplicateHeader { offset, name } => {
            assert_eq!((offset, &*name), (19, "a"));
        }
        other => panic!("expected a duplicate header, got {other:?}"),
    }
    // A repeated name whose value is malformed reports the value: the more basic fault.
    let wire = frame_with_header_block(&[1, b'a', 4, 0, 0, 0, 1, 1, b'a', 4, 0, 0]);
    let mut d = FrameDecoder::new().reject_duplicate_headers(true);
    d.handle_input(&wire);
    assert_eq!(d.poll_message().unwrap_err().kind(), "invalid_header_value");
}

#[test]
fn debug_never_prints_payloads() {
    let m = Message::new(alloc::vec![b'z'; 1000]).with_header("b", Bytes::from_static(b"secret"));
    let s = alloc::format!("{m:?}");
    assert!(!s.contains("zzz"));
    assert!(!s.contains("secret"));
    assert!(s.contains("payload_len: 1000"));
}

/// Large frames fed as contiguous slices of one buffer land at the same offset within a cache
/// line as in that buffer, so that the decoder's copies run with source and destination equally
/// aligned: whether it reuses its buffer (the messages are dropped) or must take a new one (they
/// are kept).
#[test]
fn large_frames_are_placed_like_their_input() {
    const PAYLOAD: usize = 64 * 1024;
    let mut wire = BytesMut::new();
    for i in 0..4u8 {
        Message::new(Vec::from([i; PAYLOAD]))
            .with_header(":event-type", "Chunk")
            .encode(&mut wire)
            .unwrap();
    }
    let wire = wire.freeze();
    for keep in [false, true] {
        let mut decoder = FrameDecoder::new();
        let mut kept = Vec::new();
        let mut at = 0;
        for chunk in wire.chunks(8192) {
            decoder.handle_input(chunk);
            while let Some(msg) = decoder.poll_message().unwrap() {
                let frame_len = msg.encoded_len();
                let source = wire.as_ptr() as usize + at + frame_len - 4 - PAYLOAD;
                let placed = msg.payload().as_ptr() as usize;
                assert_eq!(
                    placed.wrapping_sub(source) % 64,
                    0,
                    "frame at {at}, keep {keep}"
                );
                assert_eq!(
                    msg.payload()[..],
                    wire[source - wire.as_ptr() as usize..][..PAYLOAD]
                );
                at += frame_len;
                if keep {
                    kept.push(msg);
                }
            }
        }
        decoder.handle_end_of_input().unwrap();
        assert_eq!(at, wire.len());
    }
}

/// What a `FrameDecoder` makes of `frame` fed whole: its first message or its error.
fn decoder_first(frame: &Bytes, limits: Limits) -> Option<Result<Message, FrameError>> {
    let mut d = FrameDecoder::with_limits(limits);
    d.handle_bytes(frame);
    d.poll_message().transpose()
}

#[test]
fn decode_exact_agrees_with_the_decoder_on_every_corruption() {
    // Every byte of a frame flipped, and the frame cut or extended: whenever the frame is
    // exactly one frame by its prelude, decode_exact gives the decoder's message or error.
    let wire = encode(&all_types()).freeze();
    let small = Limits::default().with_max_header_count(3);
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for i in 0..wire.len() {
        for bit in [0x01u8, 0x80] {
            let mut v = wire.to_vec();
            v[i] ^= bit;
            cases.push(v);
        }
    }
    cases.push(wire[..wire.len() - 1].to_vec());
    cases.push(wire[..11].to_vec());
    cases.push([&wire[..], b"x"].concat());
    let mut exact = 0;
    for case in cases {
        let frame = Bytes::from(case);
        for limits in [Limits::default(), small] {
            match decode_exact(&frame, &limits) {
                Some(got) => {
                    exact += 1;
                    assert_eq!(Some(got), decoder_first(&frame, limits));
                }
                None => {
                    let total = frame
                        .get(..4)
                        .map(|p| u32::from_be_bytes(p.try_into().unwrap()));
                    assert_ne!(total, Some(frame.len() as u32));
                }
            }
        }
    }
    // The flips of the length field's low bits and the cut and extended frames are not one
    // frame; nearly everything else is.
    assert!(exact > 4 * wire.len() - 40, "{exact}");
    let m = decode_exact(&wire, &Limits::default()).unwrap().unwrap();
    assert_eq!(m, all_types());
}
