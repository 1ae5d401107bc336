//! Cross-check of the signing chain with the reference implementation, the `aws-sigv4` crate of
//! the AWS SDK for Rust (`aws_sigv4::event_stream::{sign_message, sign_empty_message}`): for random
//! messages, times (across UTC midnight too), regions, services, keys and seeds, both sign the same
//! chain of envelopes, frame by frame: same `:date`, same `:chunk-signature`, same payload, and the
//! prior signature advances identically.
//!
//! One difference, in the envelope only: `aws-sigv4` writes `:chunk-signature` *before* `:date`,
//! while the core (like the Go, Java, JavaScript and C SDKs and the vectors' `derived_frame_hex`)
//! writes `:date` first. The signature covers only the `:date` header's bytes and the payload, so
//! the order does not change it; the tests compare the envelopes with the headers in the core's
//! order, and check that `aws-sigv4`'s bytes are exactly the same frame with the two headers
//! swapped.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::event_stream::{sign_empty_message, sign_message};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::{write_message_to, DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message as TheirMessage;
use bytes::Bytes;
use eventstream::frame::{HeaderValue, Message};
use eventstream::sign::{EventVerifier, SigningTime, Unchecked, Verified};
use eventstream_tests::sigv4::{chain_times, setup, signature_hex, verify_wire, Keys, Setup};
use eventstream_tests::{decode_all, encode, messages};
use proptest::collection::vec;
use proptest::prelude::*;

/// A `SystemTime` `secs` seconds (and `nanos` nanoseconds) after the epoch, either side of it.
fn system_time(secs: i64, nanos: u32) -> SystemTime {
    let whole = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    whole + Duration::from_nanos(u64::from(nanos))
}

/// Our message as theirs: through the wire, encoded by us and decoded by `aws-smithy-eventstream`
/// (`tests/interop.rs` checks that the two frame layers agree on every message).
fn to_theirs(msg: &Message) -> TheirMessage {
    let mut wire = encode(msg);
    match MessageFrameDecoder::new().decode_frame(&mut wire) {
        Ok(DecodedFrame::Complete(m)) => m,
        other => panic!("aws-smithy-eventstream does not read our frame: {other:?}"),
    }
}

/// Their message as ours, and its bytes: encoded by `aws-smithy-eventstream`, decoded by us.
fn from_theirs(msg: &TheirMessage) -> (Message, Bytes) {
    let mut wire = Vec::new();
    write_message_to(msg, &mut wire).expect("aws-smithy-eventstream encodes its envelope");
    let decoded = decode_all(&wire);
    assert!(decoded.is_clean(), "{:?}", decoded.error);
    assert_eq!(decoded.messages.len(), 1);
    (decoded.messages[0].clone(), wire.into())
}

/// The same envelope with its two headers in the other order.
fn swap_headers(envelope: &Message) -> Message {
    let (mut headers, payload) = envelope.clone().into_parts();
    headers.reverse();
    Message::from_parts(headers, payload)
}

/// Signs `msgs` then the end frame with `aws-sigv4`, envelope `i` at `times[i]` seconds plus
/// `nanos[i]` (which it truncates, as the core does). Returns each envelope (as ours) with its
/// bytes and its signature.
fn sign_theirs(
    setup: &Setup,
    msgs: &[Message],
    times: &[i64],
    nanos: &[u32],
) -> Vec<(Message, Bytes, String)> {
    let identity = aws_credential_types::Credentials::new(
        &setup.keys.access_key_id,
        &setup.keys.secret_access_key,
        None,
        None,
        "eventstream-tests",
    )
    .into();
    let mut last = setup.seed.clone();
    let mut out = Vec::new();
    for (i, (&secs, &ns)) in times.iter().zip(nanos).enumerate() {
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&setup.region)
            .name(&setup.service)
            .time(system_time(secs, ns))
            .settings(())
            .build()
            .expect("complete signing parameters");
        let signed = match msgs.get(i) {
            Some(msg) => sign_message(&to_theirs(msg), &last, &params),
            None => sign_empty_message(&last, &params),
        };
        let (envelope, signature) = signed.expect("aws-sigv4 signs").into_parts();
        let (envelope, wire) = from_theirs(&envelope);
        last.clone_from(&signature);
        out.push((envelope, wire, signature));
    }
    out
}

/// Both sign the chain; every envelope agrees.
fn check_chain(
    setup: &Setup,
    msgs: &[Message],
    times: &[i64],
    nanos: &[u32],
) -> Result<(), TestCaseError> {
    let theirs = sign_theirs(setup, msgs, times, nanos);
    let mut signer = setup.signer();
    let mut ours = Vec::new();
    for (i, ((&secs, &ns), (their_env, their_wire, their_sig))) in
        times.iter().zip(nanos).zip(&theirs).enumerate()
    {
        let time = SigningTime::from_system_time(system_time(secs, ns)).expect("in range");
        prop_assert_eq!(time.unix_seconds(), secs, "sub-seconds are truncated");
        let before = signer.prior_signature().to_owned();
        let env = match msgs.get(i) {
            Some(msg) => signer.sign(msg, &eventstream::frame::Limits::DEFAULT, time),
            None => signer.sign_end(time),
        }
        .expect("the core signs");

        // Same signature, and the prior advances to it on both sides.
        prop_assert_eq!(
            &signature_hex(&env),
            their_sig,
            "envelope {} of {}",
            i,
            times.len()
        );
        prop_assert_eq!(signer.prior_signature(), their_sig.as_str());
        prop_assert_ne!(before, signer.prior_signature().to_owned());
        // Same `:date`, whole seconds.
        prop_assert_eq!(env.header(":date"), their_env.header(":date"));
        prop_assert_eq!(
            env.header(":date").and_then(HeaderValue::as_timestamp),
            Some(secs * 1000)
        );
        // Same envelope, headers aside: theirs has `:chunk-signature` first.
        prop_assert_eq!(
            their_env
                .headers()
                .iter()
                .map(|h| h.name())
                .collect::<Vec<_>>(),
            [":chunk-signature", ":date"]
        );
        let reordered = swap_headers(their_env);
        prop_assert_eq!(&reordered, &env);
        prop_assert_eq!(encode(&reordered), encode(&env));
        // Their bytes are exactly our envelope with the two headers swapped.
        prop_assert_eq!(&encode(&swap_headers(&env)), their_wire);
        ours.push(env);
    }
    prop_assert!(signer.is_ended());

    // The core's verifier accepts their chain, once the headers are in its order.
    let reordered: Vec<Message> = theirs.iter().map(|(e, _, _)| swap_headers(e)).collect();
    let verified = verify_wire(setup.verifier(), &reordered, None);
    prop_assert_eq!(verified.error, None);
    prop_assert!(verified.ended);
    prop_assert_eq!(&verified.messages, &msgs.to_vec());
    Ok(())
}

/// A chain of `1..=max` messages with one time (and sub-second part) per envelope, the end
/// frame included.
fn chain(max: usize) -> impl Strategy<Value = (Vec<Message>, Vec<i64>, Vec<u32>)> {
    messages(1..=max).prop_flat_map(|msgs| {
        let n = msgs.len() + 1;
        (
            Just(msgs),
            chain_times(n),
            vec(prop_oneof![Just(0u32), 0..1_000_000_000u32], n),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn our_chain_is_theirs((msgs, times, nanos) in chain(6), setup in setup()) {
        check_chain(&setup, &msgs, &times, &nanos)?;
    }
}

/// Deterministic chains: the documented example of `aws-sigv4`, and one that crosses UTC
/// midnight, signed by both.
#[test]
fn fixed_chains_agree() {
    let setup = Setup::new(
        Keys::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        "exampleservice",
        "example298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    let msgs = [
        Message::new(&b"example"[..]).with_header("some-header", "value"),
        Message::new(Bytes::new()),
        Message::new(vec![0u8; 1000]).with_header(":event-type", "AudioEvent"),
    ];
    let midnight = 1_700_006_400; // 2023-11-15T00:00:00Z
    let times = [midnight - 2, midnight - 1, midnight, midnight + 1];
    check_chain(&setup, &msgs, &times, &[0, 999_999_999, 1, 500_000_000])
        .unwrap_or_else(|e| panic!("{e}"));

    let end = times.len() - 1;
    let theirs = sign_theirs(&setup, &msgs, &times, &[0; 4]);
    let day = |i: usize| {
        let t = SigningTime::from_unix_seconds(times[i]).expect("in range");
        t.scope_date().to_owned()
    };
    assert_eq!(
        (day(1), day(2)),
        ("20231114".to_owned(), "20231115".to_owned())
    );
    assert!(
        theirs[end].0.payload().is_empty(),
        "their end frame is empty"
    );
}

/// Their envelopes for one message and the end frame, as decoded by the core's frame layer.
fn their_envelopes(setup: &Setup, msg: &Message) -> Vec<Message> {
    sign_theirs(setup, std::slice::from_ref(msg), &[0, 0], &[0, 0])
        .into_iter()
        .map(|(e, _, _)| e)
        .collect()
}

fn order_setup() -> Setup {
    Setup::new(
        Keys::new("AKID", "SECRET"),
        "us-east-1",
        "svc",
        &"0".repeat(64),
    )
}

// `aws-sigv4` (the AWS SDK for Rust) writes its envelopes with `:chunk-signature` first and
// `:date` second. The signature does not depend on that order (only the `:date` header's bytes
// and the payload are hashed), so the verifier and the unchecked unwrapper accept both orders.

#[test]
fn verifier_accepts_aws_sigv4_header_order() {
    let setup = order_setup();
    let msg = Message::new(&b"hello"[..]);
    let theirs = their_envelopes(&setup, &msg);
    let mut verifier = setup.verifier();
    assert_eq!(
        verifier.verify(&theirs[0], &eventstream::frame::Limits::DEFAULT, None),
        Ok(Verified::Message(msg))
    );
    assert_eq!(
        verifier.verify(&theirs[1], &eventstream::frame::Limits::DEFAULT, None),
        Ok(Verified::End)
    );
    assert_eq!(verifier.handle_end_of_input(), Ok(()));
}

#[test]
fn unchecked_unwraps_aws_sigv4_header_order() {
    let setup = order_setup();
    let msg = Message::new(&b"hello"[..]);
    let theirs = their_envelopes(&setup, &msg);
    let mut unchecked = Unchecked::default();
    assert_eq!(
        unchecked.verify(&theirs[0], &eventstream::frame::Limits::DEFAULT, None),
        Ok(Verified::Message(msg))
    );
    assert_eq!(
        unchecked.verify(&theirs[1], &eventstream::frame::Limits::DEFAULT, None),
        Ok(Verified::End)
    );
}
