//! The message reader's limits with a verifier (moved from the unit tests of `src/reader.rs`).

use eventstream::frame::{Limits, Message};
use eventstream::sign::{
    Credentials, EventSigner as _, SigV4Signer, SigV4Verifier, SigningParams, SigningTime,
};
use eventstream_futures_io::{Error, MessageReader};
use futures::StreamExt;

/// With a verifier, the reader's limits are the messages': their envelopes are decoded with
/// `Limits::enveloped`, so a message at the limits is read, whichever builder comes first. An
/// inner message over the reader's limits is a frame error, like a bad frame on the wire.
#[test]
fn signed_messages_at_the_limits_are_read() {
    let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
    let seed = "00".repeat(32);
    let limits = Limits::default().with_max_payload_len(1000);
    let message = Message::new(vec![7u8; 1000]);
    let t = SigningTime::from_unix_seconds(1_700_000_000).unwrap();
    let mut signer = SigV4Signer::new(params.clone(), &seed);
    let mut wire = bytes::BytesMut::new();
    signer.sign_to(&message, t, &limits, &mut wire).unwrap();
    signer.sign_end_to(t, &mut wire).unwrap();
    let verifier = || SigV4Verifier::new(params.clone(), &seed);
    let read = |reader: MessageReader<&[u8]>| {
        futures::executor::block_on(reader.collect::<Vec<_>>())
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
    };

    let first = MessageReader::new(&wire[..]).with_limits(limits);
    assert_eq!(
        read(first.with_verifier(verifier())).unwrap(),
        std::slice::from_ref(&message)
    );
    let then = MessageReader::new(&wire[..]).with_verifier(verifier());
    assert_eq!(read(then.with_limits(limits)).unwrap(), [message]);

    let tight = limits.with_max_payload_len(999);
    let reader = MessageReader::new(&wire[..]).with_limits(tight);
    let err = read(reader.with_verifier(verifier())).unwrap_err();
    assert_eq!(err.kind(), "payload_too_long");
    assert!(matches!(err, Error::Frame(_)), "{err:?}");
}
