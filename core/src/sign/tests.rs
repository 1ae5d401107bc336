use super::*;
use crate::frame::{FrameDecoder, Limits, Message};
use alloc::vec::Vec;
use bytes::BytesMut;

fn params() -> SigningParams {
    SigningParams::new(Credentials::new("access", "secret"), "us-east-1", "demo")
}

const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

fn at(secs: i64) -> SigningTime {
    SigningTime::from_unix_seconds(secs).unwrap()
}

fn event(i: u8) -> Message {
    Message::new(alloc::vec![i; 3]).with_header(":event-type", "E")
}

#[test]
fn aws_c_auth_chain() {
    // The chain asserted by aws-c-auth and the Java SDK: raw chunks A, B, C, then the end frame.
    let mut s = SigV4Signer::new(params(), SEED);
    let expected = [
        "7aabf85b765e6a4d0d500b6e968657b14726fa3e1eb7e839302728ffd77629a5",
        "f72aa9642f571d24a6e1ae42f10f073ad9448d8a028b6bcd82da081335adda02",
        "632af120435b57ec241d8bfbb12e496dfd5e2730a1a02ac0ab6eaa230ae02e9a",
        "c6f679ddb3af68f5e82f0cf6761244cb2338cf11e7d01a24130aea1b7c17e53e",
    ];
    let payloads: [&[u8]; 4] = [b"A", b"B", b"C", b""];
    for (i, (p, want)) in payloads.iter().zip(expected).enumerate() {
        let t = at(348_474_601 + i as i64);
        let sig = s.sign_raw(t, &sigv4_date_header(t), p).unwrap();
        assert_eq!(hex::encode(sig), want);
    }
}

fn sigv4_date_header(t: SigningTime) -> Vec<u8> {
    let mut v = Vec::new();
    v.push(5);
    v.extend_from_slice(b":date");
    v.push(8);
    v.extend_from_slice(&t.unix_millis().to_be_bytes());
    v
}

fn sign_chain(signer: &mut SigV4Signer, times: &[i64]) -> Vec<Message> {
    let mut out: Vec<Message> = times
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            signer
                .sign(&event(i as u8), &Limits::DEFAULT, at(t))
                .unwrap()
        })
        .collect();
    out.push(signer.sign_end(at(*times.last().unwrap())).unwrap());
    out
}

fn verify_all(v: &mut SigV4Verifier, chain: &[Message]) -> Result<Vec<Message>, VerifyError> {
    let mut got = Vec::new();
    for m in chain {
        if let Verified::Message(inner) = v.verify(m, &Limits::DEFAULT, None)? {
            got.push(inner);
        }
    }
    v.handle_end_of_input()?;
    Ok(got)
}

#[test]
fn midnight_crossing_uses_each_events_date() {
    // 23:59:58 .. 00:00:02 UTC.
    let midnight = 1_700_006_400; // 2023-11-15T00:00:00Z
    let times = [midnight - 2, midnight - 1, midnight, midnight + 1];
    let chain = sign_chain(&mut SigV4Signer::new(params(), SEED), &times);
    let got = verify_all(&mut SigV4Verifier::new(params(), SEED), &chain).unwrap();
    assert_eq!(got, (0..4).map(event).collect::<Vec<_>>());
    // The signature after midnight differs from one made with the previous day's key.
    let s = string_to_sign_date(midnight);
    assert!(s.contains("20231115/us-east-1/demo"));
}

fn string_to_sign_date(t: i64) -> alloc::string::String {
    sigv4::string_to_sign(&at(t), "us-east-1", "demo", SEED, b"", b"")
}

#[test]
fn rotation_keeps_the_chain() {
    let new = Credentials::new("access2", "secret2");
    let mut s = SigV4Signer::new(params(), SEED);
    let a = s.sign(&event(1), &Limits::DEFAULT, at(100)).unwrap();
    s.set_credentials(new.clone());
    let b = s.sign(&event(2), &Limits::DEFAULT, at(101)).unwrap();
    let end = s.sign_end(at(102)).unwrap();
    let mut v = SigV4Verifier::new(params(), SEED);
    assert!(matches!(
        v.verify(&a, &Limits::DEFAULT, None),
        Ok(Verified::Message(_))
    ));
    // Without the rotation the next envelope does not verify.
    let mut stale = v.clone();
    assert_eq!(
        stale.verify(&b, &Limits::DEFAULT, None).unwrap_err().kind(),
        "signature_mismatch"
    );
    v.set_credentials(new);
    assert!(matches!(
        v.verify(&b, &Limits::DEFAULT, None),
        Ok(Verified::Message(_))
    ));
    assert_eq!(v.verify(&end, &Limits::DEFAULT, None), Ok(Verified::End));
    v.handle_end_of_input().unwrap();
}

#[test]
fn tampering_dropping_reordering_and_replay_are_detected() {
    let chain = sign_chain(&mut SigV4Signer::new(params(), SEED), &[10, 11, 12]);
    let kind = |c: &[Message]| {
        verify_all(&mut SigV4Verifier::new(params(), SEED), c)
            .unwrap_err()
            .kind()
    };
    let mut dropped = chain.clone();
    dropped.remove(1);
    assert_eq!(kind(&dropped), "signature_mismatch");
    let mut swapped = chain.clone();
    swapped.swap(0, 1);
    assert_eq!(kind(&swapped), "signature_mismatch");
    let mut replayed = chain.clone();
    replayed.insert(1, chain[0].clone());
    assert_eq!(kind(&replayed), "signature_mismatch");
    let mut tampered = chain.clone();
    tampered[1].set_payload(&b"evil"[..]);
    assert_eq!(kind(&tampered), "signature_mismatch");
    let mut no_end = chain.clone();
    no_end.pop();
    assert_eq!(kind(&no_end), "missing_end_frame");
    let mut after_end = chain.clone();
    after_end.push(chain[0].clone());
    assert_eq!(kind(&after_end), "frame_after_end");
    let mut no_date = chain.clone();
    no_date[0].headers_mut().remove(0);
    assert_eq!(kind(&no_date), "invalid_envelope");
    let mut wrong_seed = SigV4Verifier::new(params(), "00");
    assert_eq!(
        wrong_seed
            .verify(&chain[0], &Limits::DEFAULT, None)
            .unwrap_err()
            .kind(),
        "signature_mismatch"
    );
    // Poisoned: the same error again.
    assert_eq!(
        wrong_seed
            .verify(&chain[0], &Limits::DEFAULT, None)
            .unwrap_err()
            .kind(),
        "signature_mismatch"
    );
}

#[test]
fn clock_skew_is_checked_only_when_configured() {
    let chain = sign_chain(&mut SigV4Signer::new(params(), SEED), &[1000]);
    let mut lax = SigV4Verifier::new(params(), SEED);
    assert!(lax
        .verify(&chain[0], &Limits::DEFAULT, Some(at(9999)))
        .is_ok());
    let mut strict = SigV4Verifier::new(params(), SEED).with_max_clock_skew(300);
    assert_eq!(
        strict
            .verify(&chain[0], &Limits::DEFAULT, Some(at(1301)))
            .unwrap_err()
            .kind(),
        "signature_expired"
    );
    let mut ok = SigV4Verifier::new(params(), SEED).with_max_clock_skew(300);
    assert!(ok
        .verify(&chain[0], &Limits::DEFAULT, Some(at(1300)))
        .is_ok());
}

#[test]
fn sign_to_writes_the_same_frame_as_sign() {
    let mut a = SigV4Signer::new(params(), SEED);
    let mut b = SigV4Signer::new(params(), SEED);
    let mut wire_a = BytesMut::new();
    let mut wire_b = BytesMut::new();
    for i in 0..3u8 {
        a.sign(&event(i), &Limits::DEFAULT, at(50 + i as i64))
            .unwrap()
            .encode(&mut wire_a)
            .unwrap();
        b.sign_to(&event(i), at(50 + i as i64), &Limits::DEFAULT, &mut wire_b)
            .unwrap();
    }
    a.sign_end(at(60)).unwrap().encode(&mut wire_a).unwrap();
    b.sign_end_to(at(60), &mut wire_b).unwrap();
    assert_eq!(wire_a, wire_b);
    // And it decodes and verifies.
    let mut d = FrameDecoder::new();
    d.handle_input(&wire_b);
    let mut v = SigV4Verifier::new(params(), SEED);
    let mut n = 0;
    while let Some(m) = d.poll_message().unwrap() {
        if let Verified::Message(inner) = v.verify(&m, &Limits::DEFAULT, None).unwrap() {
            assert_eq!(inner, event(n));
            n += 1;
        }
    }
    v.handle_end_of_input().unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        b.sign_end_to(at(61), &mut wire_b).unwrap_err().kind(),
        "signed_after_end"
    );
}

#[test]
fn a_failed_sign_does_not_advance_the_chain() {
    let mut s = SigV4Signer::new(params(), SEED);
    let before = alloc::string::String::from(s.prior_signature());
    let too_long = Message::default().with_header("", 1i32);
    let mut out = BytesMut::new();
    assert!(s.sign(&too_long, &Limits::DEFAULT, at(1)).is_err());
    assert!(s
        .sign_to(&too_long, at(1), &Limits::DEFAULT, &mut out)
        .is_err());
    assert!(out.is_empty());
    assert_eq!(s.prior_signature(), before);
}

#[test]
fn debug_hides_the_secret() {
    let s = SigV4Signer::new(params(), SEED);
    let text = alloc::format!("{s:?} {:?}", SigV4Verifier::new(params(), SEED));
    assert!(!text.contains("secret\""), "{text}");
    assert!(text.contains("<redacted>"));
}

#[test]
fn verifying_decoder_reports_truncation_and_a_missing_end_frame() {
    use crate::frame::Limits;
    let chain = sign_chain(&mut SigV4Signer::new(params(), SEED), &[10, 11]);
    let mut wire = BytesMut::new();
    for m in &chain {
        m.encode(&mut wire).unwrap();
    }
    let read = |bytes: &[u8]| -> Result<Vec<Message>, VerifyError> {
        let mut r = VerifyingDecoder::new(Limits::DEFAULT)
            .with_verifier(SigV4Verifier::new(params(), SEED));
        let mut got = Vec::new();
        for piece in bytes.chunks(7) {
            r.handle_input(piece);
            while let Some(m) = r.poll_message()? {
                got.push(m);
            }
        }
        r.handle_end_of_input()?;
        Ok(got)
    };
    assert_eq!(read(&wire).unwrap(), [event(0), event(1)]);
    assert_eq!(
        read(&wire[..wire.len() - 3]).unwrap_err().kind(),
        "truncated"
    );
    let end_len = chain.last().unwrap().encoded_len();
    assert_eq!(
        read(&wire[..wire.len() - end_len]).unwrap_err().kind(),
        "missing_end_frame"
    );
    // Without a verifier, frames come out as they are.
    let mut plain = VerifyingDecoder::new(Limits::DEFAULT);
    plain.handle_input(&wire);
    assert_eq!(plain.poll_message().unwrap().as_ref(), Some(&chain[0]));
}

#[test]
fn events_sharing_a_second_are_signed_as_if_each_were_alone() {
    // The signer keeps what the events of one `:date` share; each signature must still be the
    // one the string to sign defines: compared with `sign_raw`, which computes every part.
    // Seconds repeat, go back, cross midnight, and the credentials rotate mid-second.
    let midnight = 1_700_006_400;
    let times = [
        midnight - 1,
        midnight - 1,
        midnight,
        midnight,
        midnight,
        midnight - 1,
        midnight + 86_400,
        midnight + 86_400,
    ];
    let rotate_at = 4;
    let new = Credentials::new("access2", "secret2");
    let mut fast = SigV4Signer::new(params(), SEED);
    let mut reference = SigV4Signer::new(params(), SEED);
    let mut wire = BytesMut::new();
    for (i, &t) in times.iter().enumerate() {
        if i == rotate_at {
            fast.set_credentials(new.clone());
            reference.set_credentials(new.clone());
        }
        let start = wire.len();
        fast.sign_to(&event(i as u8), at(t), &Limits::DEFAULT, &mut wire)
            .unwrap();
        let mut d = FrameDecoder::new();
        d.handle_input(&wire[start..]);
        let envelope = d.poll_message().unwrap().unwrap();
        let want = reference
            .sign_raw(at(t), &sigv4_date_header(at(t)), envelope.payload())
            .unwrap();
        assert_eq!(
            envelope.header(SIGNATURE_HEADER).and_then(|v| v.as_bytes()),
            Some(&bytes::Bytes::copy_from_slice(&want)),
            "event {i}"
        );
    }
    fast.sign_end_to(at(midnight + 86_400), &mut wire).unwrap();
    let end = reference.sign_end(at(midnight + 86_400)).unwrap();
    let mut tail = BytesMut::new();
    end.encode(&mut tail).unwrap();
    assert!(wire.ends_with(&tail));

    // The verifier, which keeps the same, accepts the chain and rotates mid-second too.
    let mut d = FrameDecoder::new();
    d.handle_input(&wire);
    let mut v = SigV4Verifier::new(params(), SEED);
    let mut n = 0;
    while let Some(m) = d.poll_message().unwrap() {
        if n == rotate_at {
            v.set_credentials(new.clone());
        }
        if let Verified::Message(inner) = v.verify(&m, &Limits::DEFAULT, None).unwrap() {
            assert_eq!(inner, event(n as u8));
            n += 1;
        }
    }
    v.handle_end_of_input().unwrap();
    assert_eq!(n, times.len());
}

#[test]
fn the_verifier_hands_out_views_into_the_envelope() {
    // The inner message is decoded where it lies in the received envelope: its payload and its
    // header values point into the envelope's bytes.
    let mut s = SigV4Signer::new(params(), SEED);
    let mut wire = BytesMut::new();
    let msg = Message::new(alloc::vec![9u8; 300]).with_header("name", "a value not interned");
    s.sign_to(&msg, at(5), &Limits::DEFAULT, &mut wire).unwrap();
    let wire = wire.freeze();
    let mut d = FrameDecoder::new();
    d.handle_bytes(&wire);
    let envelope = d.poll_message().unwrap().unwrap();
    let mut v = SigV4Verifier::new(params(), SEED);
    let Verified::Message(inner) = v.verify(&envelope, &Limits::DEFAULT, None).unwrap() else {
        panic!("not a message");
    };
    assert_eq!(inner, msg);
    let range = wire.as_ptr_range();
    assert!(range.contains(&inner.payload().as_ptr()));
    let value = inner.header_str("name").unwrap();
    assert!(range.contains(&value.as_ptr()));
}
