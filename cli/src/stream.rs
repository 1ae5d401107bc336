//! The two input loops the subcommands share: binary frames in (`evs decode`, `evs verify`) and
//! JSON Lines in (`evs encode`, `evs sign`), plus the JSON line writer of the commands that print
//! messages.
//!
//! Both loops stream: memory use is bounded by one frame or one line, whatever the length of the
//! input, and output is flushed before every read that may block, so a reader on the other end of
//! a pipe sees each result as soon as its input has arrived.

use crate::json::{message_from_json_line, write_message_json};
use crate::CliError;
use eventstream::frame::Message;
use eventstream_blocking::{Error, MessageReader};
use std::io::{self, BufRead, BufReader, Read, Write};

/// How many bytes are read from the input at a time, and the size of the output buffers.
pub(crate) const CHUNK_LEN: usize = 64 * 1024;

/// The longest line accepted, newline excluded: 64 MiB, room for the largest frame the default
/// limits allow (a 24 MiB payload is 32 MiB of base64, plus up to 128 KiB of headers, escaped).
pub(crate) const MAX_LINE_LEN: usize = 64 * 1024 * 1024;

/// Hands each message `reader` gives (a frame, or the verified inner message of an envelope) to
/// `each`, with `out`.
///
/// The messages decoded from a read are handed out and `out` is flushed before the next read,
/// which may block. At the end of the input, the reader's checks apply: a frame cut short is
/// [`CliError::Frame`] (`truncated`), a signed stream without its end frame `missing_end_frame`
/// (see [`read_error`]). The first error, of the reader or of `each`, stops the loop; `out` is
/// not flushed then (the caller flushes it once, whatever the result).
pub(crate) fn for_each_message<R: Read, W: Write>(
    mut reader: MessageReader<R>,
    out: &mut W,
    mut each: impl FnMut(Message, &mut W) -> Result<(), CliError>,
) -> Result<(), CliError> {
    loop {
        while let Some(msg) = reader.read_buffered().map_err(read_error)? {
            each(msg, out)?;
        }
        out.flush().map_err(CliError::Write)?;
        match reader.read_message().map_err(read_error)? {
            Some(msg) => each(msg, out)?,
            None => return Ok(()),
        }
    }
}

/// The error line of a reader's error: a frame error is `error: <frame kind>: <detail>`, a read
/// error `error: io: <input>: <detail>`, any other (a broken chain, a missing end frame)
/// `error: <kind>: <message>`.
fn read_error(err: Error) -> CliError {
    match err {
        Error::Frame(e) => CliError::Frame(e),
        Error::Io(e) => CliError::Read(e),
        Error::TimedOut => CliError::Read(io::ErrorKind::TimedOut.into()),
        other => CliError::Kind {
            kind: other.kind(),
            detail: other.to_string(),
        },
    }
}

/// Writes `msg` to `out` as one line of JSON with its newline, formatted in `line`, a buffer
/// reused from one message to the next.
pub(crate) fn write_json_line(
    msg: &Message,
    line: &mut String,
    out: &mut impl Write,
) -> Result<(), CliError> {
    line.clear();
    write_message_json(msg, line);
    line.push('\n');
    out.write_all(line.as_bytes()).map_err(CliError::Write)
}

/// Reads messages from JSON Lines, one line at a time: the input side of `evs encode` and
/// `evs sign`.
///
/// Blank lines are skipped (but counted); a line may end in CRLF; a line longer than
/// [`MAX_LINE_LEN`] or not valid UTF-8 is an error, as is a line that is not a message (see
/// [`message_from_json_line`]). Errors name the line, counted from 1.
#[derive(Debug)]
pub(crate) struct MessageLines<R> {
    /// The input, buffered.
    reader: BufReader<R>,
    /// The raw bytes of the current line, reused.
    raw: Vec<u8>,
    /// The number of the line read last, from 1; 0 before the first.
    number: u64,
}

impl<R: Read> MessageLines<R> {
    /// Reads lines from `input` through a 64 KiB buffer.
    pub(crate) fn new(input: R) -> Self {
        MessageLines {
            reader: BufReader::with_capacity(CHUNK_LEN, input),
            raw: Vec::new(),
            number: 0,
        }
    }

    /// Whether the next [`next_message`](Self::next_message) starts with a read that may block,
    /// the input buffer being empty: the moment to flush output, so that the reader on the other
    /// end of a pipe gets everything done so far.
    pub(crate) fn would_block(&self) -> bool {
        self.reader.buffer().is_empty()
    }

    /// An error about the line read last: `error: line N: <detail>`.
    pub(crate) fn line_error(&self, detail: String) -> CliError {
        CliError::Line {
            line: self.number,
            detail,
        }
    }

    /// The message of the next line that is not blank; `None` at the end of the input.
    pub(crate) fn next_message(&mut self) -> Result<Option<Message>, CliError> {
        loop {
            self.raw.clear();
            // Read at most one byte past the limit, enough to tell that a line is too long.
            let limit = MAX_LINE_LEN as u64 + 2;
            let read = self
                .reader
                .by_ref()
                .take(limit)
                .read_until(b'\n', &mut self.raw)
                .map_err(CliError::Read)?;
            if read == 0 {
                return Ok(None);
            }
            self.number += 1;
            let text = strip_newline(&self.raw);
            if text.len() > MAX_LINE_LEN {
                return Err(self.line_error(format!(
                    "the line is longer than the limit of {MAX_LINE_LEN} bytes"
                )));
            }
            let text = match std::str::from_utf8(text) {
                Ok(text) => text,
                Err(e) => return Err(self.line_error(format!("the line is not valid UTF-8: {e}"))),
            };
            if is_blank(text) {
                continue;
            }
            return match message_from_json_line(text) {
                Ok(msg) => Ok(Some(msg)),
                Err(detail) => Err(self.line_error(detail)),
            };
        }
    }
}

/// The line without its terminator, `\n` or `\r\n`.
fn strip_newline(raw: &[u8]) -> &[u8] {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

/// Whether a line holds nothing but JSON whitespace (space, tab, carriage return).
fn is_blank(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads every message of `input`, or the first error.
    fn read_all(input: &[u8]) -> Result<Vec<Message>, CliError> {
        let mut lines = MessageLines::new(input);
        let mut messages = Vec::new();
        while let Some(msg) = lines.next_message()? {
            messages.push(msg);
        }
        Ok(messages)
    }

    /// Blank lines are skipped but counted, CRLF is accepted, a missing last newline too.
    #[test]
    fn skips_blank_lines_and_counts_them() {
        let messages = read_all(b"\n{}\r\n \t\r\n{\"payload\":\"aGk=\"}").expect("reads");
        assert_eq!(
            messages,
            [Message::default(), Message::new(&b"hi"[..])],
            "two messages"
        );
        match read_all(b"{}\n\n\n{\"payload\":1}\n") {
            Err(CliError::Line { line: 4, detail }) => assert!(detail.starts_with("payload: ")),
            other => panic!("unexpected result {other:?}"),
        }
    }

    /// `would_block` is true before the first read and once the buffer is used up.
    #[test]
    fn would_block_follows_the_buffer() {
        let mut lines = MessageLines::new(&b"{}\n{}\n"[..]);
        assert!(lines.would_block());
        lines.next_message().expect("reads").expect("a message");
        assert!(!lines.would_block(), "the second line is buffered");
        lines.next_message().expect("reads").expect("a message");
        assert!(lines.would_block());
        assert_eq!(lines.next_message().expect("reads"), None);
    }

    /// Frames are handed out in order; a frame cut short is `truncated` after the earlier ones.
    #[test]
    fn for_each_message_hands_out_messages_then_checks_the_end() {
        let mut wire = bytes::BytesMut::new();
        for payload in [&b"one"[..], b"two"] {
            Message::new(payload).encode(&mut wire).expect("encodes");
        }
        let mut seen = Vec::new();
        let result = for_each_message(
            MessageReader::new(&wire[..wire.len() - 1]),
            &mut io::sink(),
            |msg, _| {
                seen.push(msg);
                Ok(())
            },
        );
        assert!(
            matches!(&result, Err(CliError::Frame(e)) if e.kind() == "truncated"),
            "{result:?}"
        );
        assert_eq!(seen, [Message::new(&b"one"[..])]);
    }
}
