//! `evs verify`: a SigV4 chain of envelope frames in, the verified inner messages out as JSON
//! Lines, streaming.

use crate::signing::SigningArgs;
use crate::stream::{for_each_message, write_json_line, CHUNK_LEN};
use crate::{CliError, InputArgs};
use clap::Args;
use eventstream::frame::{Limits, Message};
use eventstream::sign::{EventVerifier, SigV4Verifier, SigningTime, Verified, VerifyError};
use eventstream_blocking::MessageReader;
use std::io::{BufWriter, Read, Write};
use std::sync::{Arc, OnceLock};

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
pub(crate) fn run(input: impl Read, output: impl Write, args: &VerifyArgs) -> Result<(), CliError> {
    let bad_inner = Arc::new(OnceLock::new());
    let verifier = NamesBadInner {
        verifier: SigV4Verifier::new(args.signing.params(), args.signing.seed()),
        bad_inner: Arc::clone(&bad_inner),
    };
    // The messages are checked against the default limits, their envelopes against
    // `Limits::enveloped` of them: the envelope of a message with a 24 MiB payload fits.
    let reader = MessageReader::new(input)
        .with_limits(Limits::DEFAULT)
        .with_read_buffer_size(CHUNK_LEN)
        .with_verifier(verifier);
    let mut out = BufWriter::with_capacity(CHUNK_LEN, output);
    let mut line = String::new();
    let result = for_each_message(reader, &mut out, |inner, out| {
        write_json_line(&inner, &mut line, out)
    })
    .map_err(|err| match (err, bad_inner.get()) {
        // An inner message that is not a valid frame names its envelope, since the frame error's
        // offsets count from the start of the inner message.
        (CliError::Frame(e), Some(index)) => CliError::Kind {
            kind: e.kind(),
            detail: format!("the inner message of envelope {index}: {e}"),
        },
        (err, _) => err,
    });
    let flushed = out.flush().map_err(CliError::Write);
    result.and(flushed)
}

/// A [`SigV4Verifier`] that notes the index of the envelope whose inner message is not a valid
/// frame, for the error line: the reader reports the frame errors of the envelopes and of the
/// messages inside them alike.
struct NamesBadInner {
    verifier: SigV4Verifier,
    bad_inner: Arc<OnceLock<u64>>,
}

impl EventVerifier for NamesBadInner {
    fn verify(
        &mut self,
        envelope: &Message,
        limits: &Limits,
        now: Option<SigningTime>,
    ) -> Result<Verified, VerifyError> {
        let index = self.verifier.verified_count();
        let verified = self.verifier.verify(envelope, limits, now);
        if let Err(VerifyError::Frame(_)) = verified {
            let _ = self.bad_inner.set(index);
        }
        verified
    }

    fn handle_end_of_input(&mut self) -> Result<(), VerifyError> {
        self.verifier.handle_end_of_input()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::message_to_json_line;
    use bytes::{BufMut as _, BytesMut};
    use eventstream::sign::{Credentials, SigV4Signer, SigningParams};

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
                .sign(msg, &Limits::DEFAULT, t)
                .expect("signs")
                .encode_with_limits(&Limits::DEFAULT.enveloped(), &mut wire)
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
