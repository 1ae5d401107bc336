//! `evs verify`: a SigV4 chain of envelope frames in, the verified inner messages out as JSON
//! Lines, streaming.

use crate::signing::SigningArgs;
use crate::stream::{for_each_frame, write_json_line, CHUNK_LEN};
use crate::{CliError, InputArgs};
use clap::Args;
use eventstream::frame::Limits;
use eventstream::sign::{SigV4Verifier, Verified, VerifyError};
use std::io::{BufWriter, Read, Write};

/// The limits envelopes are decoded with: the default header limits, and room in the payload for
/// the largest inner frame the default limits allow (which the verifier decodes with them).
/// With the default limits themselves, an envelope around a message with a 24 MiB payload would
/// be rejected as `payload_too_long`.
pub(crate) const ENVELOPE_LIMITS: Limits =
    Limits::DEFAULT.with_max_payload_len(Limits::DEFAULT.max_frame_len() as u32);

/// The arguments of `evs verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The input.
    #[command(flatten)]
    pub(crate) input: InputArgs,

    /// The credentials, region, service and seed.
    #[command(flatten)]
    pub(crate) signing: SigningArgs,
}

/// Verifies every envelope of `input` and writes each inner message to `output` as one line of
/// JSON, as soon as its envelope is verified; succeeds only when the chain ends with the signed
/// end frame and nothing follows it.
///
/// The input is read in chunks of 64 KiB, like `evs decode`; memory use is bounded by one
/// envelope plus the buffers. On error, every message verified before it has been written and
/// flushed.
pub(crate) fn run(
    mut input: impl Read,
    output: impl Write,
    args: &VerifyArgs,
) -> Result<(), CliError> {
    let mut verifier = SigV4Verifier::new(args.signing.params(), args.signing.seed());
    let mut out = BufWriter::with_capacity(CHUNK_LEN, output);
    let mut line = String::new();
    let mut index = 0u64;
    let result = for_each_frame(&mut input, ENVELOPE_LIMITS, &mut out, |envelope, out| {
        let verified = verifier
            .verify(&envelope, None)
            .map_err(|e| verify_error(&e, index))?;
        index += 1;
        match verified {
            Verified::Message(inner) => write_json_line(&inner, &mut line, out),
            Verified::End => Ok(()),
        }
    })
    .and_then(|()| verifier.finish().map_err(|e| verify_error(&e, index)));
    let flushed = out.flush().map_err(CliError::Write);
    result.and(flushed)
}

/// The error line of a verification error: its kind, and its message; an inner message that is
/// not a valid frame names its envelope, since the frame error's offsets count from the start
/// of the inner message.
fn verify_error(err: &VerifyError, index: u64) -> CliError {
    let detail = match err {
        VerifyError::Frame(e) => format!("the inner message of envelope {index}: {e}"),
        other => other.to_string(),
    };
    CliError::Kind {
        kind: err.kind(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::message_to_json_line;
    use bytes::{BufMut as _, BytesMut};
    use eventstream::frame::Message;
    use eventstream::sign::{Credentials, SigV4Signer, SigningParams, SigningTime};

    const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

    /// `evs verify` arguments for the test credentials.
    fn verify_args() -> VerifyArgs {
        use clap::Parser as _;
        let argv = [
            "evs",
            "verify",
            "--access-key-id",
            "access",
            "--secret-access-key",
            "secret",
            "--region",
            "us-east-1",
            "--service",
            "demo",
            "--seed-signature",
            SEED,
        ];
        match crate::Cli::try_parse_from(argv)
            .expect("the arguments parse")
            .command
        {
            crate::Command::Verify(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    /// A signer with the test credentials.
    fn signer() -> SigV4Signer {
        let params = SigningParams::new(Credentials::new("access", "secret"), "us-east-1", "demo");
        SigV4Signer::new(params, SEED)
    }

    /// Signs messages and, optionally, the end frame.
    fn signed(messages: &[Message], end: bool) -> Vec<u8> {
        let mut signer = signer();
        let t = SigningTime::from_unix_seconds(348_474_601).expect("in range");
        let mut wire = BytesMut::new();
        for msg in messages {
            // `Message::encode` would apply the default limits to the envelope, whose payload
            // can be longer than they allow.
            signer
                .sign(msg, t)
                .expect("signs")
                .encode_with_limits(&ENVELOPE_LIMITS, &mut wire)
                .expect("encodes");
        }
        if end {
            signer
                .sign_end(t)
                .expect("signs")
                .encode(&mut wire)
                .expect("encodes");
        }
        wire.to_vec()
    }

    /// The JSON Lines of some messages.
    fn lines(messages: &[Message]) -> String {
        messages
            .iter()
            .map(|m| message_to_json_line(m) + "\n")
            .collect()
    }

    /// Runs `evs verify` on `wire`: the result and the output.
    fn verify(wire: &[u8]) -> (Result<(), CliError>, String) {
        let mut out = Vec::new();
        let result = run(wire, &mut out, &verify_args());
        (result, String::from_utf8(out).expect("utf-8"))
    }

    /// The kind of an error, or a panic.
    fn kind(result: Result<(), CliError>) -> &'static str {
        match result {
            Err(CliError::Kind { kind, .. }) => kind,
            Err(CliError::Frame(e)) => e.kind(),
            other => panic!("unexpected result {other:?}"),
        }
    }

    /// An intact chain prints its messages and succeeds.
    #[test]
    fn an_intact_chain_prints_its_messages() {
        let messages = [
            Message::new(&b"one"[..]).with_header(":event-type", "A"),
            Message::default(),
        ];
        let (result, out) = verify(&signed(&messages, true));
        result.expect("verifies");
        assert_eq!(out, lines(&messages));
    }

    /// The end frame is required, and nothing may follow it; the messages come out regardless.
    #[test]
    fn the_end_frame_is_required_and_final() {
        let messages = [Message::new(&b"one"[..]), Message::new(&b"two"[..])];
        let (result, out) = verify(&signed(&messages, false));
        assert_eq!(kind(result), "missing_end_frame");
        assert_eq!(out, lines(&messages));

        let mut wire = signed(&messages, true);
        wire.extend_from_slice(&signed(&messages[..1], false));
        let (result, out) = verify(&wire);
        assert_eq!(kind(result), "frame_after_end");
        assert_eq!(out, lines(&messages));

        let (result, out) = verify(b"");
        assert_eq!(kind(result), "missing_end_frame");
        assert_eq!(out, "");
    }

    /// An inner message that is not a valid frame is reported with its frame kind and envelope.
    #[test]
    fn an_invalid_inner_frame_names_its_envelope() {
        // Sign a payload that is not a frame (a bad CRC) with the raw primitive.
        let mut signer = signer();
        let t = SigningTime::from_unix_seconds(0).expect("in range");
        let mut inner = BytesMut::new();
        Message::new(&b"x"[..]).encode(&mut inner).expect("encodes");
        let last = inner.len() - 1;
        inner[last] ^= 1;
        let mut date = BytesMut::new();
        date.put_u8(5);
        date.put_slice(b":date");
        date.put_u8(8);
        date.put_i64(t.unix_millis());
        let sig = signer.sign_raw(t, &date, &inner).expect("signs");
        let envelope = Message::new(inner.freeze())
            .with_header(
                ":date",
                eventstream::frame::HeaderValue::Timestamp(t.unix_millis()),
            )
            .with_header(":chunk-signature", bytes::Bytes::copy_from_slice(&sig));
        let mut wire = BytesMut::new();
        envelope.encode(&mut wire).expect("encodes");
        let (result, out) = verify(&wire);
        match result {
            Err(CliError::Kind { kind, detail }) => {
                assert_eq!(kind, "message_checksum_mismatch");
                assert!(
                    detail.starts_with("the inner message of envelope 0: "),
                    "{detail}"
                );
            }
            other => panic!("unexpected result {other:?}"),
        }
        assert_eq!(out, "");
    }

    /// The envelope of the largest message the default limits allow is accepted.
    #[test]
    fn envelopes_of_maximal_messages_fit() {
        let big = Message::new(vec![0u8; Limits::DEFAULT_MAX_PAYLOAD_LEN as usize]);
        let (result, out) = verify(&signed(std::slice::from_ref(&big), true));
        result.expect("verifies");
        assert_eq!(out.lines().count(), 1);
    }
}
