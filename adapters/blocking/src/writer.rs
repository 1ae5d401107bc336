//! Writing messages to a `std::io::Write`.

use eventstream::frame::Message;
use eventstream::sign::SigningTime;
use eventstream_io::{Encoding, Error};
use std::io::Write;

/// Writes messages to any [`Write`]: a file, a socket, a pipe.
///
/// Each message is encoded (or, with [`with_signer`](Self::with_signer), signed) into a reused
/// buffer and written whole with `write_all`; nothing is buffered between calls, so wrap a file
/// in a `BufWriter` when writing many small messages. [`finish`](Self::finish) writes the
/// signer's end frame (nothing without a signer) and flushes. Signing times come from the system
/// clock, or from the caller (the `_at` methods). See [`MessageReader`](crate::MessageReader)
/// for an example.
pub struct MessageWriter<W> {
    writer: W,
    core: Encoding,
}

eventstream_io::message_writer_api!(MessageWriter);

impl<W: Write> MessageWriter<W> {
    /// Writes one message, signed at the system clock's time; returns the bytes written. Fails
    /// with [`Error::Encode`] or [`Error::Sign`] (nothing written), or [`Error::Io`].
    pub fn write_message(&mut self, message: &Message) -> Result<usize, Error> {
        let time = self.core.time()?;
        self.write_message_at(message, time)
    }

    /// Writes one message signed at `at`; as [`write_message`](Self::write_message).
    pub fn write_message_at(&mut self, message: &Message, at: SigningTime) -> Result<usize, Error> {
        let n = self.core.encode(message, at)?;
        self.write_out()?;
        Ok(n)
    }

    /// Writes the encoded bytes whole; what a failed write left is dropped.
    fn write_out(&mut self) -> Result<(), Error> {
        let written = self.writer.write_all(self.core.pending());
        self.core.advance(usize::MAX);
        Ok(written?)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), Error> {
        Ok(self.writer.flush()?)
    }

    /// Ends the stream: the signer's end frame (signed now), then a flush. Returns the writer,
    /// for example to `shutdown(Write)` a socket. Fails with [`Error::Sign`] or [`Error::Io`].
    pub fn finish(self) -> Result<W, Error> {
        let time = self.core.time()?;
        self.finish_at(time)
    }

    /// As [`finish`](Self::finish), with the end frame signed at `time`.
    pub fn finish_at(mut self, time: SigningTime) -> Result<W, Error> {
        self.core.end(time)?;
        self.write_out()?;
        self.writer.flush()?;
        Ok(self.writer)
    }
}
