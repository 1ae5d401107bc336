//! The `verify` target: signed chains with arbitrary mutations are never accepted.

use bytes::Bytes;
use eventstream::frame::{FrameDecoder, FrameError, HeaderValue, Limits, Message, PRELUDE_LEN};
use eventstream::sign::{
    is_envelope, EventVerifier, Unchecked, Verified, VerifyError, VerifyingDecoder,
};

use eventstream_testkit::hex::to_hex;

use super::input::{small_message, Input};
use crate::sigv4::{self, Keys, Rotation, Setup, DAY, MAX_SECS, MIN_SECS};
use crate::sim::check_prefix;
use crate::{decode_pieces, fix_message_crc, Piece};

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
        to_hex(&input.filled(32, 32))
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
