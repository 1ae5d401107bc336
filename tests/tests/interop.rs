//! Interoperability with smithy-rs' `aws-smithy-eventstream`, the decoder and encoder the AWS SDK
//! for Rust uses: what one encodes, the other decodes to the same headers (names, types, values,
//! order) and payload, and both encoders write the same bytes.

use aws_smithy_eventstream::frame::{write_message_to, DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message as TheirMessage;
use bytes::{Buf, Bytes, BytesMut};
use eventstream::frame::{
    FrameDecoder, HeaderValue, Message, MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN,
};
use eventstream_tests::{chunking, decode_all, decode_chunked, encode_all, messages, Chunking};
use proptest::prelude::*;

/// The one mapping between the two header value models. Theirs has the same nine kinds of value;
/// the differences are representation only: a UUID is a big-endian `u128`, a timestamp a
/// `DateTime` built from (and read back as) epoch milliseconds.
mod model {
    use aws_smithy_types::event_stream::{
        Header as TheirHeader, HeaderValue as TheirValue, Message as TheirMessage,
    };
    use aws_smithy_types::str_bytes::StrBytes;
    use aws_smithy_types::DateTime;
    use eventstream::frame::{Header, HeaderValue, Message};

    pub(crate) fn to_theirs(msg: &Message) -> TheirMessage {
        let headers = msg
            .headers()
            .iter()
            .map(|h| {
                let value = match h.value().clone() {
                    HeaderValue::Bool(v) => TheirValue::Bool(v),
                    HeaderValue::Byte(v) => TheirValue::Byte(v),
                    HeaderValue::Short(v) => TheirValue::Int16(v),
                    HeaderValue::Int(v) => TheirValue::Int32(v),
                    HeaderValue::Long(v) => TheirValue::Int64(v),
                    HeaderValue::Bytes(v) => TheirValue::ByteArray(v),
                    HeaderValue::String(v) => TheirValue::String(StrBytes::from(v.to_string())),
                    HeaderValue::Timestamp(ms) => TheirValue::Timestamp(DateTime::from_millis(ms)),
                    HeaderValue::Uuid(v) => TheirValue::Uuid(u128::from_be_bytes(v)),
                };
                TheirHeader::new(h.name().to_string(), value)
            })
            .collect();
        TheirMessage::new_from_parts(headers, msg.payload().clone())
    }

    pub(crate) fn from_theirs(msg: &TheirMessage) -> Message {
        let headers = msg
            .headers()
            .iter()
            .map(|h| {
                let value = match h.value() {
                    TheirValue::Bool(v) => HeaderValue::Bool(*v),
                    TheirValue::Byte(v) => HeaderValue::Byte(*v),
                    TheirValue::Int16(v) => HeaderValue::Short(*v),
                    TheirValue::Int32(v) => HeaderValue::Int(*v),
                    TheirValue::Int64(v) => HeaderValue::Long(*v),
                    TheirValue::ByteArray(v) => HeaderValue::Bytes(v.clone()),
                    TheirValue::String(v) => HeaderValue::from(v.as_str()),
                    TheirValue::Timestamp(t) => HeaderValue::Timestamp(
                        t.to_millis()
                            .expect("a timestamp read from the wire fits in i64 ms"),
                    ),
                    TheirValue::Uuid(v) => HeaderValue::Uuid(v.to_be_bytes()),
                    other => panic!("a header value kind this test does not know: {other:?}"),
                };
                Header::new(h.name().as_str(), value)
            })
            .collect();
        Message::from_parts(headers, msg.payload().clone())
    }
}

/// Decodes a stream with their streaming decoder, fed in the same pieces ours would get.
fn decode_theirs(wire: &Bytes, chunking: &Chunking) -> Vec<TheirMessage> {
    let mut decoder = MessageFrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in chunking.pieces(wire) {
        match piece {
            eventstream_tests::Piece::Input(s) => buf.extend_from_slice(s),
            eventstream_tests::Piece::Bytes(b) => buf.extend_from_slice(&b),
        }
        loop {
            match decoder.decode_frame(&mut buf) {
                Ok(DecodedFrame::Complete(msg)) => out.push(msg),
                Ok(DecodedFrame::Incomplete) => break,
                Err(e) => panic!("aws-smithy-eventstream rejected our frame: {e}"),
            }
        }
    }
    assert!(
        !buf.has_remaining(),
        "aws-smithy-eventstream left {} bytes",
        buf.remaining()
    );
    out
}

/// Encodes with their encoder.
fn encode_theirs(msgs: &[TheirMessage]) -> Bytes {
    let mut wire: Vec<u8> = Vec::new();
    for msg in msgs {
        write_message_to(msg, &mut wire).expect("aws-smithy-eventstream encodes the message");
    }
    wire.into()
}

/// Checks both directions on `msgs`, with their decoder fed in pieces as `chunking` says.
fn check_both_ways(msgs: &[Message], chunking: &Chunking) -> Result<(), TestCaseError> {
    // Ours -> theirs.
    let ours = encode_all(msgs);
    let decoded = decode_theirs(&ours, chunking);
    prop_assert_eq!(decoded.len(), msgs.len());
    for (theirs, ours) in decoded.iter().zip(msgs) {
        prop_assert_eq!(&model::from_theirs(theirs), ours);
        prop_assert_eq!(theirs, &model::to_theirs(ours));
    }

    // Theirs -> ours, and both encoders agree byte for byte.
    let theirs: Vec<TheirMessage> = msgs.iter().map(model::to_theirs).collect();
    let wire = encode_theirs(&theirs);
    let got = decode_chunked(FrameDecoder::new(), &wire, chunking);
    prop_assert!(got.is_clean(), "{:?}", got.error);
    prop_assert_eq!(&got.messages, &msgs.to_vec());
    prop_assert_eq!(encode_all(&got.messages), wire.clone());
    prop_assert_eq!(ours, wire);
    Ok(())
}

proptest! {
    #[test]
    fn ours_and_theirs_agree(msgs in messages(1..=3), chunking in chunking()) {
        check_both_ways(&msgs, &chunking)?;
    }
}

/// The edges of every type, deterministically: extreme integers and timestamps, empty and longest
/// strings and byte arrays, a 255-byte name, repeated names, an empty payload.
#[test]
fn edges_agree() {
    let longest_name = "n".repeat(MAX_HEADER_NAME_LEN);
    let msg = Message::new(Bytes::new())
        .with_header("t", true)
        .with_header("f", false)
        .with_header("b", i8::MIN)
        .with_header("s", i16::MIN)
        .with_header("i", i32::MIN)
        .with_header("l", i64::MIN)
        .with_header("b", i8::MAX)
        .with_header("s", i16::MAX)
        .with_header("i", i32::MAX)
        .with_header("l", i64::MAX)
        .with_header("ts", HeaderValue::Timestamp(i64::MIN))
        .with_header("ts", HeaderValue::Timestamp(-1))
        .with_header("ts", HeaderValue::Timestamp(i64::MAX))
        .with_header("u", [0xffu8; 16])
        .with_header("u", [0u8; 16])
        .with_header("empty", "")
        .with_header("empty", Bytes::new())
        .with_header("é", "é".repeat(MAX_HEADER_VALUE_LEN / 2))
        .with_header(
            longest_name.as_str(),
            Bytes::from(vec![0xa5; MAX_HEADER_VALUE_LEN]),
        );
    let more = Message::new(vec![1, 2, 3]).with_header(":event-type", "Chunk");
    let msgs = [msg, more];
    for chunking in [Chunking::Whole, Chunking::Ones, Chunking::fixed(7)] {
        check_both_ways(&msgs, &chunking).unwrap_or_else(|e| panic!("fed {chunking:?}: {e}"));
    }
    assert!(decode_all(&encode_all(&msgs)).is_clean());
}
