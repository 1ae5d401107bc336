//! The signing benchmarks' shared work: the same inputs for both signers (the benchmark
//! message of [`SIGN_PAYLOAD_LEN`] bytes, credentials, seed, times), and one driver per way of
//! signing a chain of events, ours and `aws-sigv4`'s (`aws_sigv4::event_stream::sign_message`).

use aws_sigv4::event_stream::sign_message;
use aws_sigv4::sign::v4 as reference_v4;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream as reference;
use bytes::BytesMut;
use eventstream::frame as ours;
use eventstream::sign::{Credentials, EventSigner, SigV4Signer, SigningParams, SigningTime};
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::frame::our_message;

/// The payload size of the signed events: the smallest benchmark message, where the per-event
/// cost of signing dominates.
pub const SIGN_PAYLOAD_LEN: usize = 64;

/// The access key id both signers use (the documented example keys).
pub const SIGN_ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
/// The secret access key both signers use.
pub const SIGN_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// The region both signers use.
pub const SIGN_REGION: &str = "us-east-1";
/// The service signing name both signers use.
pub const SIGN_SERVICE: &str = "transcribe";
/// The seed: the prior signature of the first event (the initial request's signature).
pub const SIGN_SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

/// The first event's signing time: 2023-11-14T22:13:20Z, well before a UTC midnight.
pub const SIGN_START_SECS: i64 = 1_700_000_000;
/// The signing time advances by one second every this many events (a busy stream: many events
/// per second).
pub const SIGN_ADVANCE_EVERY: usize = 64;
/// The events in one benchmark chain (one timed pass).
pub const SIGN_CHAIN_EVENTS: usize = 256;

/// The signing times, in seconds, of a chain of `events` events starting at `start_secs`: the
/// time stays constant for `advance_every` events, then moves one second on.
///
/// # Panics
///
/// If `advance_every` is 0.
pub fn sign_times(start_secs: i64, events: usize, advance_every: usize) -> Vec<i64> {
    assert!(advance_every > 0, "the time must advance");
    (0..events)
        .map(|i| start_secs + (i / advance_every) as i64)
        .collect()
}

/// The benchmark's signing times: [`SIGN_CHAIN_EVENTS`] events from [`SIGN_START_SECS`],
/// advancing every [`SIGN_ADVANCE_EVERY`] events.
pub fn bench_sign_times() -> Vec<i64> {
    sign_times(SIGN_START_SECS, SIGN_CHAIN_EVENTS, SIGN_ADVANCE_EVERY)
}

/// Our signing time for `secs` seconds after the epoch.
///
/// # Panics
///
/// Outside the years 0 to 9999 (the benchmark's times never are).
pub(crate) fn our_time(secs: i64) -> SigningTime {
    SigningTime::from_unix_seconds(secs).expect("the benchmark's times are in range")
}

/// The reference's signing time for `secs` seconds after the epoch (either side of it).
pub(crate) fn reference_time(secs: i64) -> SystemTime {
    let d = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

/// Our signing parameters: [`SIGN_ACCESS_KEY_ID`], [`SIGN_SECRET_ACCESS_KEY`], [`SIGN_REGION`],
/// [`SIGN_SERVICE`].
pub fn our_signing_params() -> SigningParams {
    SigningParams::new(
        Credentials::new(SIGN_ACCESS_KEY_ID, SIGN_SECRET_ACCESS_KEY),
        SIGN_REGION,
        SIGN_SERVICE,
    )
}

/// Our signer at the start of the chain ([`SIGN_SEED`]).
pub fn our_signer() -> SigV4Signer {
    SigV4Signer::new(our_signing_params(), SIGN_SEED)
}

/// The reference signer: a function that signs one message with `aws-sigv4` chained to a prior
/// signature at a time, and returns the envelope and its signature (lowercase hex, the next
/// prior).
///
/// The identity (`aws-credential-types` credentials turned into an `Identity`) is built once,
/// here, as a client does once per stream; each call builds the `SigningParams` (which carry
/// the time, so there is one per event, as in the SDK's own message signer) and calls
/// `aws_sigv4::event_stream::sign_message`, which encodes the message and derives the signing
/// key.
///
/// # Panics
///
/// The returned function panics if `aws-sigv4` fails to sign (the benchmark messages always
/// sign).
pub fn reference_signer(
) -> impl Fn(&reference::Message, &str, SystemTime) -> (reference::Message, String) {
    let identity = aws_credential_types::Credentials::new(
        SIGN_ACCESS_KEY_ID,
        SIGN_SECRET_ACCESS_KEY,
        None,
        None,
        "eventstream-benches",
    )
    .into();
    move |msg, prior, time| {
        let params = reference_v4::SigningParams::builder()
            .identity(&identity)
            .region(SIGN_REGION)
            .name(SIGN_SERVICE)
            .time(time)
            .settings(())
            .build()
            .expect("complete signing parameters");
        sign_message(msg, prior, &params)
            .expect("aws-sigv4 signs the benchmark message")
            .into_parts()
    }
}

/// The length of one signed envelope around a benchmark message with a payload of `payload_len`
/// bytes (the same for both implementations: the same two headers, in another order).
///
/// # Panics
///
/// If the message cannot be signed (it always can).
pub fn envelope_len(payload_len: usize) -> usize {
    let mut buf = BytesMut::new();
    sign_ours_to(
        &mut our_signer(),
        &our_message(payload_len),
        &[SIGN_START_SECS],
        &mut buf,
    )
}

/// Ours, the session's path: signs `msg` once per entry of `times` (seconds) with `signer`'s
/// [`EventSigner::sign_to`], which writes the whole envelope frame into `buf` (cleared before
/// each event: a reused buffer whose frame the transport has taken). The time is converted to
/// a [`SigningTime`] per event. Returns the wire bytes written.
///
/// # Panics
///
/// If signing fails (the benchmark messages always sign, and the chain never ends).
pub fn sign_ours_to(
    signer: &mut SigV4Signer,
    msg: &ours::Message,
    times: &[i64],
    buf: &mut BytesMut,
) -> usize {
    let mut written = 0;
    for &secs in times {
        buf.clear();
        written += signer
            .sign_to(msg, our_time(secs), &ours::Limits::DEFAULT, buf)
            .expect("our signer signs the benchmark message");
        black_box(&buf[..]);
    }
    written
}

/// Ours, sign only: signs `msg` once per entry of `times` with [`SigV4Signer::sign`], which
/// returns the envelope as a message (not encoded). Returns the envelopes' payload bytes.
///
/// # Panics
///
/// If signing fails (it never does here).
pub fn sign_ours(signer: &mut SigV4Signer, msg: &ours::Message, times: &[i64]) -> usize {
    let mut payload_bytes = 0;
    for &secs in times {
        let envelope = signer
            .sign(msg, &ours::Limits::DEFAULT, our_time(secs))
            .expect("our signer signs the benchmark message");
        payload_bytes += black_box(&envelope).payload().len();
    }
    payload_bytes
}

/// Ours, sign then encode: [`SigV4Signer::sign`], then `Message::encode` of the envelope into
/// `buf` (cleared before each event). Returns the wire bytes written.
///
/// # Panics
///
/// If signing or encoding fails (neither does here).
pub fn sign_ours_encode(
    signer: &mut SigV4Signer,
    msg: &ours::Message,
    times: &[i64],
    buf: &mut BytesMut,
) -> usize {
    let mut written = 0;
    for &secs in times {
        buf.clear();
        written += signer
            .sign(msg, &ours::Limits::DEFAULT, our_time(secs))
            .expect("our signer signs the benchmark message")
            .encode(buf)
            .expect("the envelope encodes");
        black_box(&buf[..]);
    }
    written
}

/// The reference, sign only: signs `msg` once per entry of `times` with `sign` (from
/// [`reference_signer`]: `aws_sigv4::event_stream::sign_message`), chained to `prior`, which
/// it advances to each new signature. The envelope is returned as a message, not encoded.
/// Returns the envelopes' payload bytes.
pub fn sign_reference(
    sign: &impl Fn(&reference::Message, &str, SystemTime) -> (reference::Message, String),
    prior: &mut String,
    msg: &reference::Message,
    times: &[i64],
) -> usize {
    let mut payload_bytes = 0;
    for &secs in times {
        let (envelope, signature) = sign(msg, prior, reference_time(secs));
        *prior = signature;
        payload_bytes += black_box(&envelope).payload().len();
    }
    payload_bytes
}

/// The reference, sign then encode: as [`sign_reference`], then `write_message_to` of the
/// envelope into `buf` (cleared before each event), so that it produces wire bytes like
/// [`sign_ours_to`]. Returns the wire bytes written.
///
/// # Panics
///
/// If the envelope cannot be encoded (it always can).
pub fn sign_reference_encode(
    sign: &impl Fn(&reference::Message, &str, SystemTime) -> (reference::Message, String),
    prior: &mut String,
    msg: &reference::Message,
    times: &[i64],
    buf: &mut BytesMut,
) -> usize {
    let mut written = 0;
    for &secs in times {
        let (envelope, signature) = sign(msg, prior, reference_time(secs));
        *prior = signature;
        buf.clear();
        write_message_to(&envelope, buf).expect("the reference's envelope encodes");
        written += black_box(&buf[..]).len();
    }
    written
}
