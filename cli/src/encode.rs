//! `evs encode`: JSON Lines in, binary frames out, one line at a time.

use crate::stream::{MessageLines, CHUNK_LEN};
use crate::CliError;
use bytes::BytesMut;
use std::io::{BufWriter, Read, Write};

/// Reads JSON Lines from `input` and writes one frame per message to `output`.
///
/// Lines are handled one at a time, so memory use is bounded by the longest line. Output is
/// flushed whenever the input has no more buffered bytes (before a read that may block), so a
/// reader on the other end of a pipe gets each frame promptly. Blank lines are skipped.
///
/// On error, nothing is written for the bad line and the frames of every line before it have
/// been written and flushed.
pub(crate) fn run(input: impl Read, output: impl Write) -> Result<(), CliError> {
    let mut lines = MessageLines::new(input);
    let mut out = BufWriter::with_capacity(CHUNK_LEN, output);
    let result = encode_lines(&mut lines, &mut out);
    let flushed = out.flush().map_err(CliError::Write);
    result.and(flushed)
}

/// The loop of [`run`].
fn encode_lines(lines: &mut MessageLines<impl Read>, out: &mut impl Write) -> Result<(), CliError> {
    let mut frame = BytesMut::new();
    loop {
        if lines.would_block() {
            out.flush().map_err(CliError::Write)?;
        }
        let Some(msg) = lines.next_message()? else {
            return Ok(());
        };
        frame.clear();
        msg.encode(&mut frame)
            .map_err(|e| lines.line_error(format!("{}: {e}", e.kind())))?;
        out.write_all(&frame).map_err(CliError::Write)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::message_to_json_line;
    use eventstream::frame::{FrameDecoder, Message};

    /// Encodes messages into one stream, as `evs encode` should.
    fn frames(messages: &[Message]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        for msg in messages {
            msg.encode(&mut buf).expect("encodes");
        }
        buf.to_vec()
    }

    /// Lines become frames in order; blank lines and CRLF endings are accepted.
    #[test]
    fn encodes_lines_and_skips_blank_ones() {
        let messages = [
            Message::new(&b"one"[..]).with_header(":event-type", "A"),
            Message::default(),
        ];
        let input = format!(
            "\n{}\r\n  \t\n{}",
            message_to_json_line(&messages[0]),
            message_to_json_line(&messages[1])
        );
        let mut out = Vec::new();
        run(input.as_bytes(), &mut out).expect("encodes");
        assert_eq!(out, frames(&messages));

        let mut decoder = FrameDecoder::new();
        decoder.handle_input(&out);
        assert_eq!(decoder.poll_message(), Ok(Some(messages[0].clone())));
    }

    /// A bad line is reported by number (blank lines count) after the earlier frames.
    #[test]
    fn a_bad_line_names_its_number_and_keeps_earlier_frames() {
        let good = message_to_json_line(&Message::new(&b"x"[..]));
        let input = format!("{good}\n\n{{\"payload\":1}}\n{good}\n");
        let mut out = Vec::new();
        let err = run(input.as_bytes(), &mut out).expect_err("line 3 is bad");
        match err {
            CliError::Line { line, detail } => {
                assert_eq!(line, 3);
                assert!(detail.starts_with("payload: "), "{detail}");
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert_eq!(out, frames(&[Message::new(&b"x"[..])]));
    }

    /// A message the encoder rejects is reported with the `EncodeError` kind; nothing is written.
    #[test]
    fn encoder_errors_carry_their_kind() {
        let name = "n".repeat(256);
        let input = format!(r#"{{"headers":[{{"name":"{name}","type":"bool","value":true}}]}}"#);
        let mut out = Vec::new();
        match run(input.as_bytes(), &mut out) {
            Err(CliError::Line { line: 1, detail }) => {
                assert!(
                    detail.starts_with("invalid_header_name_length: "),
                    "{detail}"
                )
            }
            other => panic!("unexpected result {other:?}"),
        }
        assert!(out.is_empty());
    }

    /// A line that is not UTF-8 is a line error, not an IO error.
    #[test]
    fn invalid_utf8_is_a_line_error() {
        let mut out = Vec::new();
        match run(&b"{}\n{\"payload\":\"\xff\"}\n"[..], &mut out) {
            Err(CliError::Line { line: 2, detail }) => assert!(detail.contains("UTF-8")),
            other => panic!("unexpected result {other:?}"),
        }
        assert_eq!(out, frames(&[Message::default()]));
    }
}
