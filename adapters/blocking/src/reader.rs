//! Reading messages from a `std::io::Read`.

use crate::error::{decode_error, read_error, Error};
use eventstream::frame::{Limits, Message};
use eventstream::sign::{EventVerifier, VerifyingDecoder};
use std::fmt;
use std::io::{ErrorKind, Read};

/// The default size of the buffer a reader reads into: 64 KiB.
pub const DEFAULT_READ_BUFFER_SIZE: usize = 64 * 1024;

/// Reads messages from any [`Read`]: a file of captured frames, a socket, a pipe.
///
/// An [`Iterator`] of `Result<Message, Error>` in constant memory, whatever the input's size:
/// bytes are read into one fixed buffer (64 KiB by default) and fed to the core's
/// [`VerifyingDecoder`], which never holds more than one frame (bounded by its [`Limits`]) plus
/// the last read. Messages are checked (both checksums, lengths, limits) before they are handed
/// out; their payloads are views into the decoder's buffer, which is reused once they are dropped.
///
/// At the end of the input a partial frame is an error, `truncated`
/// ([`FrameError::Truncated`](eventstream::frame::FrameError::Truncated)), never a silent end.
///
/// With [`with_verifier`](Self::with_verifier), the frames are signed envelopes, decoded with
/// [`Limits::enveloped`] of the reader's limits: each one is verified and unwrapped, the end frame
/// is consumed, and input that ends without it is an error (for a
/// [`SigV4Verifier`](eventstream::sign::SigV4Verifier), `missing_end_frame`).
///
/// Errors: a read timeout (`WouldBlock` / `TimedOut` from the reader) is [`Error::TimedOut`] and
/// not fatal: call again to go on. Every other error is returned once, then the reader yields
/// nothing more.
///
/// ```
/// use eventstream::frame::Message;
/// use eventstream_blocking::{MessageReader, MessageWriter};
///
/// let mut writer = MessageWriter::new(Vec::new());
/// for i in 0..3u8 {
///     writer.write_message(&Message::new(vec![i; 10]).with_header(":event-type", "Tick"))?;
/// }
/// let mut file = writer.finish()?;
///
/// let reader = MessageReader::new(&file[..]);
/// let messages = reader.collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(messages.len(), 3);
/// assert_eq!(&messages[2].payload()[..], &[2u8; 10]);
///
/// // A file cut inside the last frame: the complete messages, then `truncated`.
/// file.truncate(file.len() - 5);
/// let mut reader = MessageReader::new(&file[..]);
/// assert!(reader.next().unwrap().is_ok());
/// assert!(reader.next().unwrap().is_ok());
/// assert_eq!(reader.next().unwrap().unwrap_err().kind(), "truncated");
/// assert!(reader.next().is_none());
/// # Ok::<(), eventstream_blocking::Error>(())
/// ```
pub struct MessageReader<R> {
    reader: R,
    /// The limits and the verifier, kept until the first read builds the decoder from them, so
    /// that the builders work in either order.
    limits: Limits,
    verifier: Option<SetVerifier>,
    decoder: Option<VerifyingDecoder>,
    buf: Box<[u8]>,
    eof: bool,
    done: bool,
}

/// [`VerifyingDecoder::with_verifier`] with the verifier given to `with_verifier`.
type SetVerifier = Box<dyn FnOnce(VerifyingDecoder) -> VerifyingDecoder + Send>;

impl<R: Read> MessageReader<R> {
    /// A reader of plain frames with the default [`Limits`].
    pub fn new(reader: R) -> Self {
        MessageReader {
            reader,
            limits: Limits::DEFAULT,
            verifier: None,
            decoder: None,
            buf: vec![0; DEFAULT_READ_BUFFER_SIZE].into_boxed_slice(),
            eof: false,
            done: false,
        }
    }

    /// Decodes with these limits. With a verifier, they are the limits of the messages: the
    /// envelopes are decoded with [`Limits::enveloped`] of them, so that the envelope of a
    /// message at the limits is accepted, and the messages they carry are held to these limits.
    /// Call it before the first read (it has no effect after it), before or after
    /// [`with_verifier`](Self::with_verifier).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Verifies and unwraps signed envelopes with `verifier` (for example a
    /// [`SigV4Verifier`](eventstream::sign::SigV4Verifier)); the input must then end with the
    /// signed end frame. Call it before the first read (after it, it replaces the decoder: bytes
    /// read and not yet decoded are lost).
    #[must_use]
    pub fn with_verifier(mut self, verifier: impl EventVerifier + Send + 'static) -> Self {
        self.verifier = Some(Box::new(|decoder| decoder.with_verifier(verifier)));
        self.decoder = None;
        self
    }

    /// Reads at most `size` bytes at a time (at least 1; 64 KiB by default).
    #[must_use]
    pub fn with_read_buffer_size(mut self, size: usize) -> Self {
        self.buf = vec![0; size.max(1)].into_boxed_slice();
        self
    }

    /// The next message, or `Ok(None)` when the input ended cleanly (or after an error).
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] (not fatal), [`Error::Io`], [`Error::Frame`] (including `truncated`,
    /// and an inner message that is not a valid frame) or [`Error::Verify`]; all but the first
    /// are returned once, and the reader is done.
    pub fn read_message(&mut self) -> Result<Option<Message>, Error> {
        let decoder = self.decoder.get_or_insert_with(|| {
            let decoder = VerifyingDecoder::new(self.limits);
            match self.verifier.take() {
                Some(set_verifier) => set_verifier(decoder),
                None => decoder,
            }
        });
        loop {
            if self.done {
                return Ok(None);
            }
            match decoder.poll_message() {
                Ok(Some(message)) => return Ok(Some(message)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Err(decode_error(e));
                }
            }
            if self.eof {
                self.done = true;
                return decoder
                    .handle_end_of_input()
                    .map(|()| None)
                    .map_err(decode_error);
            }
            match self.reader.read(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(n) => decoder.handle_input(&self.buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    let err = read_error(e);
                    if !err.is_timeout() {
                        self.done = true;
                    }
                    return Err(err);
                }
            }
        }
    }

    /// The number of bytes read and not yet handed out as messages.
    pub fn buffered_len(&self) -> usize {
        self.decoder
            .as_ref()
            .map_or(0, VerifyingDecoder::buffered_len)
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader. Reading from it directly desynchronises the frames.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The underlying reader; bytes read and not yet decoded are lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: Read> Iterator for MessageReader<R> {
    type Item = Result<Message, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_message().transpose()
    }
}

impl<R> fmt::Debug for MessageReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageReader")
            .field("limits", &self.limits)
            .field("verifier_pending", &self.verifier.is_some())
            .field("decoder", &self.decoder)
            .field("read_buffer_size", &self.buf.len())
            .field("eof", &self.eof)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
