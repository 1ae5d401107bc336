//! Reading messages from a `std::io::Read`.

use eventstream::frame::Message;
use eventstream_io::{Decoding, Error};
use std::io::Read;

/// Reads messages from any [`Read`]: a file of captured frames, a socket, a pipe.
///
/// An [`Iterator`] of `Result<Message, Error>` in constant memory: bytes are read into one
/// fixed buffer (64 KiB by default) and fed to the core's
/// [`VerifyingDecoder`](eventstream::sign::VerifyingDecoder), which holds at most one frame plus
/// the last read. Messages are checked (checksums, lengths, limits) before they are handed out,
/// and a partial frame at the end is `truncated`. With [`with_verifier`](Self::with_verifier)
/// the frames are signed envelopes, each verified and unwrapped, and the input must end with
/// the signed end frame. A read timeout is [`Error::TimedOut`], not fatal: call again. Any other
/// error is returned once, then the reader yields nothing more.
///
/// ```
/// use eventstream::frame::Message;
/// use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
/// use eventstream_blocking::{MessageReader, MessageWriter};
///
/// let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
/// let seed = "00".repeat(32);
/// let signer = SigV4Signer::new(params.clone(), &seed);
/// let mut writer = MessageWriter::new(Vec::new()).with_signer(signer);
/// for i in 0..3u8 {
///     writer.write_message(&Message::new(vec![i; 10]).with_header(":event-type", "Tick"))?;
/// }
/// let file = writer.finish()?; // the envelopes, then the signed end frame
///
/// let verifier = || SigV4Verifier::new(params.clone(), &seed);
/// let messages = MessageReader::new(&file[..]).with_verifier(verifier());
/// assert_eq!(&messages.collect::<Result<Vec<_>, _>>()?[2].payload()[..], &[2u8; 10]);
/// // Cut inside the end frame: the messages, then `truncated`.
/// let mut reader = MessageReader::new(&file[..file.len() - 5]).with_verifier(verifier());
/// assert_eq!(reader.nth(3).unwrap().unwrap_err().kind(), "truncated");
/// assert!(reader.next().is_none());
/// # Ok::<(), eventstream_blocking::Error>(())
/// ```
pub struct MessageReader<R> {
    reader: R,
    core: Decoding,
}

eventstream_io::message_reader_api!(MessageReader);

impl<R: Read> MessageReader<R> {
    /// The next message, or `Ok(None)` when the input ended cleanly (or after an error).
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] (not fatal), [`Error::Io`], [`Error::Frame`] (including `truncated`,
    /// and an inner message that is not a valid frame) or [`Error::Verify`].
    pub fn read_message(&mut self) -> Result<Option<Message>, Error> {
        loop {
            if let Some(item) = self.core.poll() {
                return item;
            }
            let read = self.reader.read(self.core.buffer());
            self.core.handle_read(read)?;
        }
    }

    /// The next message among the bytes already read, never reading: `Ok(None)` when the next
    /// one needs a read (or the input is over). For a caller that flushes its own output before
    /// a read that may block. Errors as [`read_message`](Self::read_message)'s, but never IO.
    pub fn read_buffered(&mut self) -> Result<Option<Message>, Error> {
        self.core.poll().unwrap_or(Ok(None))
    }
}

impl<R: Read> Iterator for MessageReader<R> {
    type Item = Result<Message, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_message().transpose()
    }
}
