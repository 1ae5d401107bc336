//! The correctness oracles: what the benchmarks compare does the same work on both sides. An
//! implementation-neutral view of a decoded message ([`Neutral`]), the full agreement check of
//! the two frame implementations ([`check_agreement`]), and the frame-by-frame check that both
//! signers produce the same chain ([`check_signing`]). `compare` runs them before it times
//! anything and fails when they disagree; the unit tests below run them too.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream as reference;
use bytes::{Bytes, BytesMut};
use eventstream::frame as ours;
use eventstream::sign::EventSigner;
use eventstream_testkit::hex::to_hex;

use crate::frame::{
    build_stream, drive_ours_chunked, drive_ours_whole, drive_reference_chunked, encode_ours,
    encode_reference, our_message, reference_message,
};
use crate::sign::{
    our_signer, our_time, reference_signer, reference_time, sign_ours, sign_ours_encode,
    sign_ours_to, sign_reference, sign_reference_encode, SIGN_PAYLOAD_LEN, SIGN_SEED,
};

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
    use crate::frame::{frame_len, CHUNK_LEN, PAYLOAD_SIZES};
    use crate::sign::{
        bench_sign_times, envelope_len, sign_times, SIGN_ADVANCE_EVERY, SIGN_CHAIN_EVENTS,
        SIGN_START_SECS,
    };

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
