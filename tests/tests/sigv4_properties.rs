//! Properties of the signing chain: `SigV4Verifier` accepts exactly the chains `SigV4Signer`
//! produced, and rejects any change to them (a flipped byte, reordered, dropped, duplicated or
//! injected envelopes), handing out only the untouched prefix of the messages first. Also: chains
//! across UTC midnight, credential rotation, and the clock skew bound.
//!
//! Envelopes always go through the wire (encoder, frame decoder, verifier: `verify_wire`), so a
//! tampered envelope is re-encoded from the mutated message, with valid CRCs: only the signature
//! chain can catch the change.

use bytes::{Bytes, BytesMut};
use eventstream::frame::{HeaderValue, Limits, Message};
use eventstream::sign::string_to_sign;
use eventstream::sign::{EventSigner, SigV4Signer, Verified, VerifyError};
use eventstream_tests::sigv4::{
    at, chain_times, date_header, envelope, keys, seed, setup, sign_chain, verify_wire, Keys,
    Rotation, Setup, Verification, DAY,
};
use eventstream_tests::{encode_all, message, messages};
use proptest::prelude::*;
use proptest::sample::Index;

/// A signed stream: the setup, the messages, one time per envelope (the end frame included) and
/// maybe a credential rotation on the sender's side.
#[derive(Clone, Debug)]
struct Stream {
    setup: Setup,
    msgs: Vec<Message>,
    times: Vec<i64>,
    rotation: Option<Rotation>,
}

impl Stream {
    /// The envelopes the signer produces: `msgs.len() + 1`, the end frame last.
    fn sign(&self) -> Vec<Message> {
        sign_chain(
            &mut self.setup.signer(),
            &self.msgs,
            &self.times,
            self.rotation.as_ref(),
        )
    }

    /// A signer that has signed the first `count` messages (at most all of them, never the end),
    /// as the sender's was then.
    fn signer_after(&self, count: usize) -> SigV4Signer {
        let mut signer = self.setup.signer();
        let n = count.min(self.msgs.len());
        sign_chain_prefix(
            &mut signer,
            &self.msgs[..n],
            &self.times[..n],
            self.rotation.as_ref(),
        );
        signer
    }

    /// The keys in use for the envelope at `index`.
    fn keys_at(&self, index: usize) -> &Keys {
        match &self.rotation {
            Some(r) if r.index <= index => &r.keys,
            _ => &self.setup.keys,
        }
    }

    /// Verifies `envelopes` through the wire, rotating the receiver's keys as the sender did.
    fn verify(&self, envelopes: &[Message]) -> Verification {
        verify_wire(self.setup.verifier(), envelopes, self.rotation.as_ref())
    }
}

/// Signs `msgs` (no end frame) with `signer`, rotating as `rotation` says.
fn sign_chain_prefix(
    signer: &mut SigV4Signer,
    msgs: &[Message],
    times: &[i64],
    rotation: Option<&Rotation>,
) {
    for (i, (msg, &t)) in msgs.iter().zip(times).enumerate() {
        if let Some(r) = rotation.filter(|r| r.index == i) {
            signer.set_credentials(r.keys.credentials());
        }
        signer
            .sign(msg, &eventstream::frame::Limits::DEFAULT, at(t))
            .expect("signs");
    }
}

/// Keys whose secret differs from every one of `others`.
fn distinct(mut keys: Keys, others: &[&Keys]) -> Keys {
    while others
        .iter()
        .any(|o| o.secret_access_key == keys.secret_access_key)
    {
        keys.secret_access_key.push('x');
    }
    keys
}

fn stream(max_msgs: usize) -> impl Strategy<Value = Stream> {
    (setup(), messages(1..=max_msgs))
        .prop_flat_map(|(setup, msgs)| {
            let n = msgs.len() + 1;
            (
                Just(setup),
                Just(msgs),
                chain_times(n),
                proptest::option::of((0..n, keys())),
            )
        })
        .prop_map(|(setup, msgs, times, rotation)| {
            let rotation = rotation.map(|(index, k)| Rotation {
                index,
                keys: distinct(k, &[&setup.keys]),
            });
            Stream {
                setup,
                msgs,
                times,
                rotation,
            }
        })
}

/// Who signs an injected envelope.
#[derive(Clone, Debug)]
enum Forger {
    /// The sender's chain state, but other keys.
    OtherKeys(Keys),
    /// A chain of the same messages started from another seed.
    OtherSeed(String),
}

/// One change to a signed stream.
#[derive(Clone, Debug)]
enum Tamper {
    /// XOR one byte of a message envelope's payload (the encoded inner message) with `mask`.
    FlipPayload { frame: Index, byte: Index, mask: u8 },
    /// XOR one byte of an envelope's `:chunk-signature` value.
    FlipSignature { frame: Index, byte: Index, mask: u8 },
    /// XOR one byte of an envelope's `:date` value.
    FlipDate { frame: Index, byte: Index, mask: u8 },
    /// Exchange two envelopes.
    Swap { a: Index, b: Index },
    /// Remove one envelope.
    Drop { frame: Index },
    /// Repeat one envelope right after itself.
    Duplicate { frame: Index },
    /// Insert a forged envelope (carrying `msg`) before position `at` (after the end, too).
    Inject {
        at: Index,
        forger: Forger,
        msg: Message,
    },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    let mask = 1..=255u8;
    prop_oneof![
        (any::<Index>(), any::<Index>(), mask.clone())
            .prop_map(|(frame, byte, mask)| Tamper::FlipPayload { frame, byte, mask }),
        (any::<Index>(), any::<Index>(), mask.clone())
            .prop_map(|(frame, byte, mask)| Tamper::FlipSignature { frame, byte, mask }),
        (any::<Index>(), any::<Index>(), mask).prop_map(|(frame, byte, mask)| Tamper::FlipDate {
            frame,
            byte,
            mask
        }),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Tamper::Swap { a, b }),
        any::<Index>().prop_map(|frame| Tamper::Drop { frame }),
        any::<Index>().prop_map(|frame| Tamper::Duplicate { frame }),
        (
            any::<Index>(),
            prop_oneof![
                keys().prop_map(Forger::OtherKeys),
                seed().prop_map(Forger::OtherSeed)
            ],
            message()
        )
            .prop_map(|(at, forger, msg)| Tamper::Inject { at, forger, msg }),
    ]
}

/// What the verifier must say about a tampered stream.
struct Expected {
    /// How many of the original messages it hands out first.
    prefix: usize,
    /// Whether the error is acceptable.
    error_ok: Box<dyn Fn(&VerifyError) -> bool>,
    /// For the failure message.
    described: String,
}

fn mismatch_at(index: usize) -> Expected {
    Expected {
        prefix: index,
        error_ok: Box::new(move |e| {
            *e == VerifyError::SignatureMismatch {
                index: index as u64,
            }
        }),
        described: format!("signature_mismatch at {index}"),
    }
}

/// Applies `tamper` to the signed `envelopes` of `stream`; returns the new envelopes and what the
/// verifier must make of them.
fn apply(stream: &Stream, envelopes: &[Message], tamper: &Tamper) -> (Vec<Message>, Expected) {
    let mut out = envelopes.to_vec();
    let n = stream.msgs.len(); // the end frame's position
    let xor_header = |env: &mut Message, name: &str, byte: &Index, mask: u8| {
        for h in env.headers_mut().iter_mut().filter(|h| h.name() == name) {
            match h.value().clone() {
                HeaderValue::Bytes(b) => {
                    let mut b = b.to_vec();
                    let i = byte.index(b.len());
                    b[i] ^= mask;
                    h.set_value(Bytes::from(b));
                }
                HeaderValue::Timestamp(ms) => {
                    let mut b = ms.to_be_bytes();
                    b[byte.index(8)] ^= mask;
                    h.set_value(HeaderValue::Timestamp(i64::from_be_bytes(b)));
                }
                other => panic!("unexpected {name}: {other:?}"),
            }
        }
    };
    let expected = match tamper {
        Tamper::FlipPayload { frame, byte, mask } => {
            // Message envelopes only: the end frame's payload is empty.
            let i = frame.index(n);
            let mut payload = out[i].payload().to_vec();
            let j = byte.index(payload.len());
            payload[j] ^= mask;
            out[i].set_payload(payload);
            // The signature is checked before the inner frame is decoded, so the core says
            // signature_mismatch; a frame-layer error would also be a rejection.
            Expected {
                prefix: i,
                error_ok: Box::new(move |e| {
                    *e == VerifyError::SignatureMismatch { index: i as u64 }
                        || matches!(e, VerifyError::Frame(_))
                }),
                described: format!("signature_mismatch (or a frame error) at {i}"),
            }
        }
        Tamper::FlipSignature { frame, byte, mask } => {
            let i = frame.index(n + 1);
            xor_header(&mut out[i], ":chunk-signature", byte, *mask);
            mismatch_at(i)
        }
        Tamper::FlipDate { frame, byte, mask } => {
            let i = frame.index(n + 1);
            xor_header(&mut out[i], ":date", byte, *mask);
            // The `:date` bytes are signed; a date past the year 9999 cannot even be checked.
            Expected {
                prefix: i,
                error_ok: Box::new(move |e| match e {
                    VerifyError::SignatureMismatch { index }
                    | VerifyError::InvalidEnvelope { index, .. } => *index == i as u64,
                    _ => false,
                }),
                described: format!("signature_mismatch or invalid_envelope at {i}"),
            }
        }
        Tamper::Swap { a, b } => {
            let (a, b) = (a.index(n + 1), b.index(n + 1));
            let (a, b) = match (a.min(b), a.max(b)) {
                (a, b) if a == b && b < n => (a, b + 1),
                (a, b) if a == b => (a - 1, b),
                ab => ab,
            };
            out.swap(a, b);
            mismatch_at(a)
        }
        Tamper::Drop { frame } => {
            let i = frame.index(n + 1);
            out.remove(i);
            if i == n {
                Expected {
                    prefix: n,
                    error_ok: Box::new(move |e| {
                        *e == VerifyError::MissingEndFrame { verified: n as u64 }
                    }),
                    described: format!("missing_end_frame after {n}"),
                }
            } else {
                mismatch_at(i)
            }
        }
        Tamper::Duplicate { frame } => {
            let i = frame.index(n + 1);
            out.insert(i + 1, out[i].clone());
            if i == n {
                after_end(n)
            } else {
                mismatch_at(i + 1)
            }
        }
        Tamper::Inject {
            at: pos,
            forger,
            msg,
        } => {
            let pos = pos.index(n + 2);
            let time = at(stream.times[pos.min(n)]);
            let mut signer = match forger {
                Forger::OtherKeys(k) => {
                    // After the end the sender cannot sign: forge from its state before the end.
                    let mut s = stream.signer_after(pos);
                    let k = distinct(k.clone(), &[stream.keys_at(pos)]);
                    s.set_credentials(k.credentials());
                    s
                }
                Forger::OtherSeed(seed) => {
                    let seed = if *seed == stream.setup.seed {
                        format!("{seed}0")
                    } else {
                        seed.clone()
                    };
                    let mut setup = stream.setup.clone();
                    setup.seed = seed;
                    let mut s = setup.signer();
                    let k = pos.min(n);
                    sign_chain_prefix(
                        &mut s,
                        &stream.msgs[..k],
                        &stream.times[..k],
                        stream.rotation.as_ref(),
                    );
                    s
                }
            };
            let forged = signer
                .sign(msg, &eventstream::frame::Limits::DEFAULT, time)
                .expect("the forger signs");
            out.insert(pos, forged);
            if pos == n + 1 {
                after_end(n)
            } else {
                mismatch_at(pos)
            }
        }
    };
    (out, expected)
}

fn after_end(n: usize) -> Expected {
    Expected {
        prefix: n,
        error_ok: Box::new(move |e| {
            *e == VerifyError::FrameAfterEnd {
                index: n as u64 + 1,
            }
        }),
        described: format!("frame_after_end at {}", n + 1),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// What the signer produced verifies: every message, in order, then the end; and
    /// `EventSigner::sign_to` writes the same bytes as `sign` + encode.
    #[test]
    fn the_verifier_accepts_signed_chains(stream in stream(6)) {
        let envelopes = stream.sign();
        prop_assert_eq!(envelopes.len(), stream.msgs.len() + 1);
        let got = stream.verify(&envelopes);
        prop_assert_eq!(got.error, None);
        prop_assert!(got.ended);
        prop_assert_eq!(&got.messages, &stream.msgs);

        let mut signer = stream.setup.signer();
        let mut wire = BytesMut::new();
        for (i, &t) in stream.times.iter().enumerate() {
            if let Some(r) = stream.rotation.as_ref().filter(|r| r.index == i) {
                signer.set_credentials(r.keys.credentials());
            }
            let before = wire.len();
            let n = match stream.msgs.get(i) {
                Some(m) => signer.sign_to(m, at(t), &Limits::DEFAULT, &mut wire),
                None => signer.sign_end_to(at(t), &mut wire),
            }
            .expect("signs");
            prop_assert_eq!(n, wire.len() - before);
        }
        prop_assert_eq!(wire.freeze(), encode_all(&envelopes));
    }

    /// Any change to a signed chain is rejected, at the right envelope, after handing out exactly
    /// the messages before it.
    #[test]
    fn the_verifier_rejects_any_change(stream in stream(5), tamper in tamper()) {
        let envelopes = stream.sign();
        let (tampered, expected) = apply(&stream, &envelopes, &tamper);
        prop_assert_ne!(&tampered, &envelopes);
        let got = stream.verify(&tampered);
        let err = got.error.as_ref();
        prop_assert!(
            err.is_some_and(|e| (expected.error_ok)(e)),
            "{:?}: got {:?}, want {}", tamper, err, expected.described
        );
        prop_assert_eq!(&got.messages[..], &stream.msgs[..expected.prefix]);
    }

    /// A sender that rotates its keys before envelope `r` is verified only by a receiver that
    /// rotates before the same envelope; otherwise the chain breaks at the first envelope where
    /// their keys differ.
    #[test]
    fn rotation_must_happen_at_the_same_envelope(
        stream in stream(5),
        receiver_at in proptest::option::of(any::<Index>()),
    ) {
        let Some(rotation) = stream.rotation.clone() else {
            return Ok(());
        };
        let n = stream.msgs.len();
        let envelopes = stream.sign();
        let receiver = receiver_at.map(|i| Rotation {
            index: i.index(n + 1),
            keys: rotation.keys.clone(),
        });
        let got = verify_wire(stream.setup.verifier(), &envelopes, receiver.as_ref());
        match receiver.as_ref().map(|r| r.index) {
            Some(r) if r == rotation.index => {
                prop_assert_eq!(got.error, None);
                prop_assert_eq!(&got.messages, &stream.msgs);
            }
            other => {
                let broken = other.map_or(rotation.index, |r| r.min(rotation.index));
                prop_assert_eq!(
                    got.error,
                    Some(VerifyError::SignatureMismatch { index: broken as u64 })
                );
                prop_assert_eq!(&got.messages[..], &stream.msgs[..broken.min(n)]);
            }
        }
    }
}

const MIDNIGHT: i64 = 1_700_006_400; // 2023-11-15T00:00:00Z

/// A chain that crosses UTC midnight verifies; the event after midnight is scoped (and keyed) to
/// the new day, and an envelope dated after midnight but signed with the day before's scope and
/// key is rejected.
#[test]
fn chains_cross_utc_midnight() {
    assert_eq!(MIDNIGHT % DAY, 0);
    let setup = Setup::new(
        Keys::new("AKID", "SECRET"),
        "eu-west-1",
        "transcribe",
        &"ab".repeat(32),
    );
    let msgs = [
        Message::new(&b"one"[..]),
        Message::new(&b"two"[..]),
        Message::new(&b"three"[..]),
    ];
    let times = [MIDNIGHT - 2, MIDNIGHT - 1, MIDNIGHT, MIDNIGHT + 1];
    let envelopes = sign_chain(&mut setup.signer(), &msgs, &times, None);
    let got = verify_wire(setup.verifier(), &envelopes, None);
    assert_eq!(got.error, None);
    assert_eq!(got.messages, msgs);

    // The scope line of each event's string to sign.
    let mut signer = setup.signer();
    for (i, (msg, &t)) in msgs.iter().zip(&times).enumerate() {
        let inner = eventstream_tests::encode(msg);
        let sts = string_to_sign(
            &at(t),
            &setup.region,
            &setup.service,
            signer.prior_signature(),
            &date_header(t * 1000),
            &inner,
        );
        let scope = sts.split('\n').nth(2).expect("a scope line").to_owned();
        let day = if t < MIDNIGHT { "20231114" } else { "20231115" };
        assert_eq!(
            scope,
            format!("{day}/eu-west-1/transcribe/aws4_request"),
            "event {i}"
        );
        let amz = sts.split('\n').nth(1).expect("a date line").to_owned();
        assert_eq!(amz, at(t).amz_date());
        signer
            .sign(msg, &eventstream::frame::Limits::DEFAULT, at(t))
            .expect("signs");
    }

    // The event at midnight, signed as if it were still the day before (its scope, date and key),
    // but dated after midnight: rejected.
    let mut stale = setup.signer();
    sign_chain_prefix(&mut stale, &msgs[..2], &times[..2], None);
    let inner = eventstream_tests::encode(&msgs[2]);
    let sig = stale
        .sign_raw(at(MIDNIGHT - 1), &date_header(MIDNIGHT * 1000), &inner)
        .expect("signs");
    let forged = envelope(MIDNIGHT * 1000, &sig, inner);
    let mut tampered = envelopes.clone();
    tampered[2] = forged;
    let got = verify_wire(setup.verifier(), &tampered, None);
    assert_eq!(got.error, Some(VerifyError::SignatureMismatch { index: 2 }));
    assert_eq!(got.messages, msgs[..2]);
}

/// With a maximum clock skew of 300 s, an envelope 300 s away from `now` (either way) verifies
/// and one 301 s away is `signature_expired`; without `now` nothing is checked.
#[test]
fn clock_skew_is_bounded() {
    let setup = Setup::new(
        Keys::new("AKID", "SECRET"),
        "us-east-1",
        "svc",
        &"0".repeat(64),
    );
    let t = 1_700_000_000;
    let mut signer = setup.signer();
    let env = signer
        .sign(
            &Message::new(&b"x"[..]),
            &eventstream::frame::Limits::DEFAULT,
            at(t),
        )
        .expect("signs");
    let end = signer.sign_end(at(t)).expect("signs");
    let verify = |now: Option<i64>| {
        let mut v = setup.verifier().with_max_clock_skew(300);
        let first = v.verify(&env, &eventstream::frame::Limits::DEFAULT, now.map(at));
        let second = v.verify(&end, &eventstream::frame::Limits::DEFAULT, now.map(at));
        (first, second)
    };
    for now in [Some(t), Some(t + 300), Some(t - 300), None] {
        let (first, second) = verify(now);
        assert_eq!(
            first,
            Ok(Verified::Message(Message::new(&b"x"[..]))),
            "{now:?}"
        );
        assert_eq!(second, Ok(Verified::End), "{now:?}");
    }
    for now in [t + 301, t - 301] {
        let (first, second) = verify(Some(now));
        let want = VerifyError::SignatureExpired {
            index: 0,
            signed_at: t,
            now,
            max_skew: 300,
        };
        assert_eq!(
            first.as_ref().map_err(VerifyError::kind),
            Err("signature_expired")
        );
        assert_eq!(first, Err(want.clone()));
        assert_eq!(second, Err(want), "the error is fatal");
    }
    // Without a configured bound, any distance is fine.
    let mut v = setup.verifier();
    assert!(v
        .verify(
            &env,
            &eventstream::frame::Limits::DEFAULT,
            Some(at(t + 10 * DAY))
        )
        .is_ok());
}

/// A receiver with another seed, region, service or secret rejects the first envelope; one with
/// another access key id (which does not enter the signature) accepts the chain.
#[test]
fn every_parameter_enters_the_signature() {
    let setup = Setup::new(
        Keys::new("AKID", "SECRET"),
        "us-east-1",
        "svc",
        &"0".repeat(64),
    );
    let msgs = [Message::new(&b"x"[..])];
    let envelopes = sign_chain(&mut setup.signer(), &msgs, &[0, 0], None);
    let others = [
        Setup {
            seed: "1".repeat(64),
            ..setup.clone()
        },
        Setup {
            region: "us-east-2".into(),
            ..setup.clone()
        },
        Setup {
            service: "svd".into(),
            ..setup.clone()
        },
        Setup {
            keys: Keys::new("AKID", "SECRET2"),
            ..setup.clone()
        },
    ];
    for other in others {
        let got = verify_wire(other.verifier(), &envelopes, None);
        assert_eq!(
            got.error,
            Some(VerifyError::SignatureMismatch { index: 0 }),
            "{other:?}"
        );
        assert!(got.messages.is_empty());
    }
    let same_secret = Setup {
        keys: Keys::new("OTHER", "SECRET"),
        ..setup
    };
    assert_eq!(
        verify_wire(same_secret.verifier(), &envelopes, None).error,
        None
    );
}
