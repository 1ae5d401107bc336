//! `evs sign`: JSON Lines in, a SigV4 chain of signed envelope frames out, one line at a time.

use crate::signing::{parse_signing_time, SigningArgs};
use crate::stream::{MessageLines, CHUNK_LEN};
use crate::{CliError, InputArgs};
use bytes::BytesMut;
use clap::Args;
use eventstream::frame::Limits;
use eventstream::sign::{EventSigner, SigV4Signer, SigningTime};
use std::io::{Read, Write};

/// The arguments of `evs sign`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The input.
    #[command(flatten)]
    pub(crate) input: InputArgs,

    /// The credentials, region, service and seed.
    #[command(flatten)]
    pub(crate) signing: SigningArgs,

    /// The signing time of the first message, in whole seconds since the Unix epoch (UTC,
    /// within the years 0 to 9999).
    #[arg(
        long,
        value_name = "EPOCH_SECONDS",
        allow_negative_numbers = true,
        value_parser = parse_signing_time,
        help_heading = "Signing options"
    )]
    pub(crate) time: SigningTime,

    /// Seconds between the signing times of successive messages (and of the end frame). 0 signs
    /// everything at --time.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 1,
        help_heading = "Signing options"
    )]
    pub(crate) time_step: u64,

    /// Append the signed end frame (an envelope with an empty payload) after the last message,
    /// signed one step after it. Without it the stream is left open, and `evs verify` reports
    /// missing_end_frame.
    #[arg(long, help_heading = "Signing options")]
    pub(crate) end: bool,
}

impl SignArgs {
    /// The signing time of the event at `index` (the messages from 0, then the end frame):
    /// `--time + index × --time-step`.
    fn time_at(&self, index: u64) -> Result<SigningTime, String> {
        let start = self.time.unix_seconds();
        let explain = |what: &dyn std::fmt::Display| {
            format!(
                "{what} (--time {start} + {index} × --time-step {})",
                self.time_step
            )
        };
        // In 128 bits the product of two `u64`s can still overflow; then it is out of range too.
        let secs = i128::from(index)
            .checked_mul(i128::from(self.time_step))
            .and_then(|offset| offset.checked_add(i128::from(start)))
            .and_then(|secs| i64::try_from(secs).ok());
        match secs {
            Some(secs) => SigningTime::from_unix_seconds(secs).map_err(|e| explain(&e)),
            None => Err(explain(&"the time is far outside the years 0 to 9999")),
        }
    }
}

/// Reads JSON Lines from `input`, signs each message and writes its envelope frame to `output`;
/// with `--end`, the signed end frame follows.
///
/// Lines are handled one at a time, so memory use is bounded by the longest line. The envelopes
/// are signed straight into one reused buffer ([`EventSigner::sign_to`]), which is written out
/// and flushed whenever the input has no more buffered bytes (before a read that may block) and
/// whenever it holds 64 KiB, so a reader on the other end of a pipe gets each frame promptly.
///
/// On error, nothing is written for the bad line and the frames of every line before it have
/// been written and flushed.
pub(crate) fn run(
    input: impl Read,
    mut output: impl Write,
    args: &SignArgs,
) -> Result<(), CliError> {
    let mut signer = SigV4Signer::new(args.signing.params(), args.signing.seed());
    let mut lines = MessageLines::new(input);
    let mut frames = BytesMut::with_capacity(CHUNK_LEN);
    let result = sign_lines(&mut lines, &mut signer, args, &mut frames, &mut output);
    let written = write_frames(&mut frames, &mut output);
    result.and(written)
}

/// The loop of [`run`].
fn sign_lines(
    lines: &mut MessageLines<impl Read>,
    signer: &mut impl EventSigner,
    args: &SignArgs,
    frames: &mut BytesMut,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut index = 0u64;
    loop {
        if lines.would_block() || frames.len() >= CHUNK_LEN {
            write_frames(frames, out)?;
        }
        let Some(msg) = lines.next_message()? else {
            break;
        };
        let time = args
            .time_at(index)
            .map_err(|e| lines.line_error(format!("time_out_of_range: {e}")))?;
        signer
            .sign_to(&msg, time, &Limits::DEFAULT, frames)
            .map_err(|e| lines.line_error(format!("{}: {e}", e.kind())))?;
        index += 1;
    }
    if args.end {
        let time = args.time_at(index).map_err(|e| CliError::Kind {
            kind: "time_out_of_range",
            detail: format!("the end frame: {e}"),
        })?;
        signer
            .sign_end_to(time, frames)
            .map_err(|e| CliError::Kind {
                kind: e.kind(),
                detail: format!("the end frame: {e}"),
            })?;
    }
    Ok(())
}

/// Writes the signed frames to `out`, empties the buffer and flushes `out`.
fn write_frames(frames: &mut BytesMut, out: &mut impl Write) -> Result<(), CliError> {
    if !frames.is_empty() {
        out.write_all(frames).map_err(CliError::Write)?;
        frames.clear();
    }
    out.flush().map_err(CliError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::message_to_json_line;
    use crate::Cli;
    use clap::Parser as _;
    use eventstream::frame::{FrameDecoder, Message};
    use eventstream::sign::{SigV4Verifier, Verified};

    const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

    /// `evs sign` arguments parsed as the command line would be.
    fn sign_args(extra: &[&str]) -> SignArgs {
        let mut argv = vec![
            "evs",
            "sign",
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
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv)
            .expect("the arguments parse")
            .command
        {
            crate::Command::Sign(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    /// Decodes a stream of envelopes.
    fn envelopes(wire: &[u8]) -> Vec<Message> {
        let mut decoder = FrameDecoder::with_limits(Limits::DEFAULT.enveloped());
        decoder.handle_input(wire);
        let mut out = Vec::new();
        while let Some(msg) = decoder.poll_message().expect("valid frames") {
            out.push(msg);
        }
        decoder.handle_end_of_input().expect("whole frames");
        out
    }

    /// The output is what `SigV4Signer::sign` and `sign_end` produce, message by message, at
    /// `--time + i × --time-step`, and it verifies.
    #[test]
    fn signs_like_the_core_and_verifies() {
        let messages = [
            Message::new(&b"one"[..]).with_header(":event-type", "A"),
            Message::default(),
            Message::new(vec![9u8; 100_000]),
        ];
        let input: String = messages
            .iter()
            .map(|m| message_to_json_line(m) + "\n\n")
            .collect();
        let args = sign_args(&["--time", "348474601", "--time-step", "7", "--end"]);
        let mut out = Vec::new();
        run(input.as_bytes(), &mut out, &args).expect("signs");

        let mut signer = SigV4Signer::new(args.signing.params(), SEED);
        let mut expected: Vec<Message> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let t = SigningTime::from_unix_seconds(348_474_601 + 7 * i as i64).expect("t");
                signer.sign(m, &Limits::DEFAULT, t).expect("signs")
            })
            .collect();
        let t_end = SigningTime::from_unix_seconds(348_474_601 + 21).expect("t");
        expected.push(signer.sign_end(t_end).expect("signs the end"));
        let got = envelopes(&out);
        assert_eq!(got, expected);

        let mut verifier = SigV4Verifier::new(args.signing.params(), SEED);
        let inner: Vec<Verified> = got
            .iter()
            .map(|e| {
                verifier
                    .verify(e, &eventstream::frame::Limits::DEFAULT, None)
                    .expect("verifies")
            })
            .collect();
        verifier.handle_end_of_input().expect("ends");
        assert_eq!(inner.last(), Some(&Verified::End));
        assert_eq!(inner[0], Verified::Message(messages[0].clone()));
    }

    /// A time step that leaves the years 0 to 9999 fails at the line that would need it, after
    /// the earlier frames; the end frame has its own message.
    #[test]
    fn time_out_of_range_names_the_line() {
        let args = sign_args(&["--time", "253402300799", "--end"]);
        let mut out = Vec::new();
        match run(&b"{}\n{}\n"[..], &mut out, &args) {
            Err(CliError::Line { line: 2, detail }) => {
                assert!(detail.starts_with("time_out_of_range: "), "{detail}")
            }
            other => panic!("unexpected result {other:?}"),
        }
        assert_eq!(envelopes(&out).len(), 1);

        let mut out = Vec::new();
        match run(&b"{}\n"[..], &mut out, &args) {
            Err(CliError::Kind { kind, detail }) => {
                assert_eq!(kind, "time_out_of_range");
                assert!(detail.starts_with("the end frame: "), "{detail}");
            }
            other => panic!("unexpected result {other:?}"),
        }
        assert_eq!(envelopes(&out).len(), 1);

        let huge = sign_args(&["--time", "0", "--time-step", &u64::MAX.to_string()]);
        assert!(huge.time_at(0).is_ok());
        assert!(huge.time_at(u64::MAX).is_err(), "no overflow");
    }

    /// An encoder error carries its kind and line number, like `evs encode`.
    #[test]
    fn encoder_errors_carry_their_kind() {
        let args = sign_args(&["--time", "0"]);
        let input = format!(
            "{{}}\n{{\"headers\":[{{\"name\":\"{}\",\"type\":\"bool\",\"value\":true}}]}}\n",
            "n".repeat(256)
        );
        let mut out = Vec::new();
        match run(input.as_bytes(), &mut out, &args) {
            Err(CliError::Line { line: 2, detail }) => {
                assert!(
                    detail.starts_with("invalid_header_name_length: "),
                    "{detail}"
                )
            }
            other => panic!("unexpected result {other:?}"),
        }
        assert_eq!(envelopes(&out).len(), 1);
    }
}
