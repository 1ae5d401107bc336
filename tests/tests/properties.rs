//! Properties of the frame layer, checked with proptest over arbitrary messages, streams, input
//! shapes, corruptions and garbage.

use bytes::{Bytes, BytesMut};
use eventstream::frame::{FrameDecoder, FrameError, Limits, Message, PRELUDE_LEN};
use eventstream_tests::{
    build_frame, chunking, decode_all, decode_chunked, encode, encode_all, message, messages,
    prelude,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// Small limits for the memory properties.
const SMALL: Limits = Limits::DEFAULT
    .with_max_payload_len(1024)
    .with_max_headers_len(256);

/// Inputs that are mostly not event streams: random bytes; valid frames followed by random bytes;
/// a valid prelude (any declared lengths) followed by random bytes; and frames whose CRCs are
/// valid around a random header block, so that the header parser sees garbage.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..=2048),
        (messages(1..=2), vec(any::<u8>(), 0..=256)).prop_map(|(msgs, tail)| {
            let mut wire = encode_all(&msgs).to_vec();
            wire.extend(tail);
            wire
        }),
        (any::<u32>(), any::<u32>(), vec(any::<u8>(), 0..=512)).prop_map(
            |(total, headers, body)| {
                let mut wire = prelude(total % 4096, headers % 4096).to_vec();
                wire.extend(body);
                wire
            }
        ),
        (
            vec(any::<u8>(), 0..=300),
            vec(any::<u8>(), 0..=64),
            vec(any::<u8>(), 0..=64)
        )
            .prop_map(|(block, payload, tail)| {
                let mut wire = build_frame(&block, &payload);
                wire.extend(tail);
                wire
            }),
    ]
}

proptest! {
    /// (a) decode(encode(m)) == m, and every way of encoding writes `encoded_len()` bytes, the
    /// same ones.
    #[test]
    fn encode_then_decode_is_identity(msg in message()) {
        let mut buf = BytesMut::new();
        let n = msg.encode(&mut buf).expect("the strategy makes encodable messages");
        prop_assert_eq!(n, buf.len());
        prop_assert_eq!(n, msg.encoded_len());
        prop_assert_eq!(msg.headers_len() + 16 + msg.payload().len(), n);

        let mut other: Vec<u8> = Vec::new();
        let m = msg.encode_to(&Limits::DEFAULT, &mut other).expect("encode_to");
        prop_assert_eq!(m, n);
        prop_assert_eq!(&other[..], &buf[..]);

        let got = decode_all(&buf);
        prop_assert!(got.is_clean(), "{:?}", got.error);
        prop_assert_eq!(got.messages, vec![msg]);
    }

    /// (b) However a stream of messages is cut (one piece, one byte at a time, arbitrary sizes,
    /// `handle_bytes` and `handle_input` mixed), it decodes to the same messages as fed whole, and
    /// `finish()` is `Ok`.
    #[test]
    fn chunking_does_not_change_the_messages(msgs in messages(1..=5), chunking in chunking()) {
        let wire = encode_all(&msgs);
        let whole = decode_all(&wire);
        prop_assert!(whole.is_clean(), "{:?}", whole.error);
        prop_assert_eq!(&whole.messages, &msgs);

        let got = decode_chunked(FrameDecoder::new(), &wire, &chunking);
        prop_assert!(got.is_clean(), "{:?} fed {:?}", got.error, chunking);
        prop_assert_eq!(got.messages, whole.messages);
    }

    /// (c) Any single-byte corruption of a frame is rejected and no message comes out: in the
    /// prelude it fails the prelude CRC, anywhere else the message CRC (CRC-32 detects every
    /// error burst of up to 32 bits). Nothing panics, however the bytes are fed.
    #[test]
    fn single_byte_corruption_is_rejected(
        msg in message(),
        at in any::<Index>(),
        flip in 1..=255u8,
        chunking in chunking(),
    ) {
        let mut wire = encode(&msg).to_vec();
        let at = at.index(wire.len());
        wire[at] ^= flip;
        let wire = Bytes::from(wire);

        let got = decode_chunked(FrameDecoder::new(), &wire, &chunking);
        prop_assert!(got.messages.is_empty(), "a corrupted frame was handed out");
        let expected = if at < PRELUDE_LEN {
            "prelude_checksum_mismatch"
        } else {
            "message_checksum_mismatch"
        };
        prop_assert_eq!(got.kind(), Some(expected), "byte {} ^ {:#04x}", at, flip);
    }

    /// (d) Garbage fed in arbitrary pieces never panics, and once the decoder has failed every
    /// later call returns that same error, whatever is fed after it.
    #[test]
    fn errors_are_sticky(data in garbage(), chunking in chunking()) {
        let data = Bytes::from(data);
        let mut decoder = FrameDecoder::new();
        let mut first: Option<FrameError> = None;
        for piece in chunking.pieces(&data) {
            piece.feed(&mut decoder);
            loop {
                match decoder.poll_message() {
                    Ok(Some(_)) => prop_assert!(first.is_none(), "a message after an error"),
                    Ok(None) => {
                        prop_assert!(first.is_none(), "Ok(None) after an error");
                        break;
                    }
                    Err(e) => {
                        match &first {
                            Some(f) => prop_assert_eq!(&e, f),
                            None => first = Some(e),
                        }
                        break;
                    }
                }
            }
            if first.is_some() {
                prop_assert!(decoder.is_failed());
                prop_assert_eq!(decoder.buffered_len(), 0);
                prop_assert_eq!(decoder.bytes_needed(), 0);
            }
        }
        match decoder.handle_end_of_input() {
            Ok(()) => prop_assert!(first.is_none(), "finish() Ok after an error"),
            Err(e) => match &first {
                Some(f) => prop_assert_eq!(&e, f),
                None => first = Some(e),
            },
        }
        match first {
            Some(err) => {
                for _ in 0..2 {
                    decoder.handle_input(&data);
                    decoder.handle_bytes(&data.clone());
                    prop_assert_eq!(decoder.poll_message(), Err(err.clone()));
                    prop_assert_eq!(decoder.handle_end_of_input(), Err(err.clone()));
                    prop_assert!(decoder.is_failed());
                    prop_assert_eq!(decoder.buffered_len(), 0);
                }
            }
            None => prop_assert_eq!(decoder.poll_message(), Ok(None)),
        }
    }

    /// (e) A prelude declaring a payload over the limit fails as soon as its 12th byte is in,
    /// before any of the body is fed, and the decoder then holds nothing.
    #[test]
    fn oversized_payload_fails_from_the_prelude(
        headers_len in 0..=SMALL.max_headers_len(),
        payload_len in SMALL.max_payload_len() + 1..=u32::MAX - 16 - SMALL.max_headers_len(),
        split in 0..PRELUDE_LEN,
        body in vec(any::<u8>(), 0..=64),
    ) {
        let total = 16 + headers_len + payload_len;
        let p = prelude(total, headers_len);
        let mut decoder = FrameDecoder::with_limits(SMALL);
        decoder.handle_input(&p[..split]);
        prop_assert_eq!(decoder.poll_message(), Ok(None));
        prop_assert_eq!(decoder.bytes_needed(), PRELUDE_LEN - split);
        decoder.handle_input(&p[split..]);
        let err = decoder.poll_message().expect_err("the prelude alone must fail");
        prop_assert_eq!(err.kind(), "payload_too_long");
        prop_assert_eq!(decoder.buffered_len(), 0);
        decoder.handle_input(&body);
        prop_assert_eq!(decoder.poll_message(), Err(err.clone()));
        prop_assert_eq!(decoder.buffered_len(), 0);
    }

    /// (e) The same for a header block over the limit.
    #[test]
    fn oversized_headers_fail_from_the_prelude(
        headers_len in SMALL.max_headers_len() + 1..=u32::MAX - 16,
        payload in any::<u32>(),
    ) {
        let payload_len = payload % (u32::MAX - 16 - headers_len + 1);
        let p = prelude(16 + headers_len + payload_len, headers_len);
        let mut decoder = FrameDecoder::with_limits(SMALL);
        decoder.handle_bytes(&Bytes::copy_from_slice(&p));
        let err = decoder.poll_message().expect_err("the prelude alone must fail");
        prop_assert_eq!(err.kind(), "headers_too_long");
        prop_assert_eq!(decoder.buffered_len(), 0);
    }
}

/// Frames at the limits decode with those limits; one byte more fails from the prelude, and the
/// encoder refuses to write it.
#[test]
fn frames_at_the_limits_decode() {
    let at_limit = Message::new(vec![7u8; SMALL.max_payload_len() as usize]).with_header(
        "h",
        "x".repeat(SMALL.max_headers_len() as usize - 1 - 1 - 1 - 2),
    );
    assert_eq!(at_limit.headers_len(), SMALL.max_headers_len() as usize);
    let mut wire = BytesMut::new();
    at_limit
        .encode_with_limits(&SMALL, &mut wire)
        .expect("fits the limits");
    let got = decode_chunked(
        FrameDecoder::with_limits(SMALL),
        &wire.freeze(),
        &eventstream_tests::Chunking::Ones,
    );
    assert!(got.is_clean(), "{:?}", got.error);
    assert_eq!(got.messages, std::slice::from_ref(&at_limit));

    let mut over = at_limit;
    over.set_payload(vec![7u8; SMALL.max_payload_len() as usize + 1]);
    let mut sink = BytesMut::new();
    let err = over
        .encode_with_limits(&SMALL, &mut sink)
        .expect_err("over the limit");
    assert_eq!(err.kind(), "payload_too_long");
    assert!(sink.is_empty());
    let wire = encode(&over);
    let mut decoder = FrameDecoder::with_limits(SMALL);
    decoder.handle_input(&wire[..PRELUDE_LEN]);
    assert_eq!(
        decoder.poll_message().map_err(|e| e.kind()),
        Err("payload_too_long")
    );
}

/// A payload of `len` bytes that differ from one offset to the next (so that a frame placed or
/// moved a few bytes off would not decode to it).
fn patterned(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

/// Streams that mix small frames with frames large enough (16 KiB and more) for the decoder to
/// place each one at its own aligned start, moving what it buffered of it.
fn large_frame_stream() -> impl Strategy<Value = Vec<Message>> {
    let payload_len = prop_oneof![1 => 0..=64usize, 2 => 16 * 1024..=80 * 1024usize];
    vec((payload_len, any::<u8>(), any::<bool>()), 1..=6).prop_map(|specs| {
        specs
            .into_iter()
            .map(|(len, seed, typed)| {
                let msg = Message::new(patterned(len, seed));
                if typed {
                    msg.with_header(":event-type", "Chunk")
                } else {
                    msg
                }
            })
            .collect()
    })
}

/// Pieces the size of socket reads and of odd remainders, some handed over as `Bytes`.
fn socket_chunking() -> impl Strategy<Value = eventstream_tests::Chunking> {
    let size = prop_oneof![1 => 1..=64usize, 3 => 1000..=20_000usize];
    vec(
        (size, prop_oneof![4 => Just(false), 1 => Just(true)]),
        1..=8,
    )
    .prop_map(eventstream_tests::Chunking::Mixed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (g) Large frames come out intact however they are cut, whether the application keeps
    /// every message (so the decoder can never reuse a buffer and must allocate a new one) or
    /// drops each as it arrives (so the decoder reuses its buffer, moving the start of the next
    /// frame within it).
    #[test]
    fn large_frames_survive_buffer_reuse_and_placement(
        msgs in large_frame_stream(),
        chunking in socket_chunking(),
        keep in any::<bool>(),
    ) {
        let wire = encode_all(&msgs);
        if keep {
            let got = decode_chunked(FrameDecoder::new(), &wire, &chunking);
            prop_assert!(got.is_clean(), "{:?} fed {:?}", got.error, chunking);
            prop_assert_eq!(got.messages, msgs);
        } else {
            let mut decoder = FrameDecoder::new();
            let mut expected = msgs.iter();
            for piece in chunking.pieces(&wire) {
                piece.feed(&mut decoder);
                while let Some(msg) = decoder.poll_message().expect("a valid stream") {
                    prop_assert_eq!(Some(&msg), expected.next());
                    // Dropped here, before the next piece, so the buffer can be reused.
                }
            }
            prop_assert_eq!(decoder.handle_end_of_input(), Ok(()));
            prop_assert_eq!(expected.next(), None, "messages were lost");
        }
    }
}
