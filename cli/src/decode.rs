//! `evs decode`: binary frames in, JSON Lines out, streaming.

use crate::stream::{for_each_message, write_json_line, CHUNK_LEN};
use crate::CliError;
use eventstream_blocking::MessageReader;
use std::io::{BufWriter, Read, Write};

/// Decodes every frame of `input` and writes each message to `output` as one line of JSON.
///
/// The input is read in chunks of 64 KiB; the messages decoded from a chunk are written and
/// flushed before the next chunk is read, so a reader on the other end of a pipe sees each
/// message as soon as its last byte has arrived. Memory use is bounded by the decoder's limits
/// (one frame) plus the two buffers, whatever the length of the input.
///
/// On error, every message before the bad frame has been written and flushed.
pub(crate) fn run(input: impl Read, output: impl Write) -> Result<(), CliError> {
    let mut out = BufWriter::with_capacity(CHUNK_LEN, output);
    let mut line = String::new();
    let reader = MessageReader::new(input).with_read_buffer_size(CHUNK_LEN);
    let result = for_each_message(reader, &mut out, |msg, out| {
        write_json_line(&msg, &mut line, out)
    });
    let flushed = out.flush().map_err(CliError::Write);
    result.and(flushed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use eventstream::frame::Message;
    use std::io;

    /// A reader that hands out its data in pieces of at most `step` bytes, with an interruption
    /// before each piece, like a slow pipe.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        interrupt: bool,
    }

    impl Read for Trickle {
        /// Fails with `Interrupted` every other call; otherwise hands out the next piece.
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// Encodes messages into one stream.
    fn wire(messages: &[Message]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        for msg in messages {
            msg.encode(&mut buf).expect("encodes");
        }
        buf.to_vec()
    }

    /// The output does not depend on how the input is split, and interruptions are retried.
    #[test]
    fn decodes_in_any_pieces() {
        let messages = [
            Message::new(&b"one"[..]).with_header(":event-type", "A"),
            Message::default(),
            Message::new(vec![7u8; 200_000]).with_header("n", 3i64),
        ];
        let data = wire(&messages);
        let expected: String = messages
            .iter()
            .map(|m| crate::json::message_to_json_line(m) + "\n")
            .collect();
        for step in [1, 7, 4096, 1 << 20] {
            let input = Trickle {
                data: data.clone(),
                pos: 0,
                step,
                interrupt: false,
            };
            let mut out = Vec::new();
            run(input, &mut out).expect("decodes");
            assert_eq!(
                String::from_utf8(out).expect("utf-8"),
                expected,
                "step {step}"
            );
        }
    }

    /// A stream cut inside its last frame prints the messages before it, then fails.
    #[test]
    fn truncation_keeps_earlier_messages() {
        let messages = [Message::new(&b"one"[..]), Message::new(&b"two"[..])];
        let data = wire(&messages);
        let mut out = Vec::new();
        let err = run(&data[..data.len() - 1], &mut out).expect_err("truncated");
        assert!(
            matches!(&err, CliError::Frame(e) if e.kind() == "truncated"),
            "{err:?}"
        );
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            crate::json::message_to_json_line(&messages[0]) + "\n"
        );
    }

    /// An empty input is an empty stream.
    #[test]
    fn empty_input_is_fine() {
        let mut out = Vec::new();
        run(&[][..], &mut out).expect("nothing to decode");
        assert!(out.is_empty());
    }
}
