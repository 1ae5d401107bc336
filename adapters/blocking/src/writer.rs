//! Writing messages to a `std::io::Write`.

use crate::error::{now, Error};
use bytes::BytesMut;
use eventstream::frame::{Limits, Message};
use eventstream::sign::{EventSigner, SigningTime};
use std::fmt;
use std::io::Write;

/// A scratch buffer larger than this is not kept after the message it was grown for.
const KEEP_BUFFER: usize = 1 << 20;

/// Writes messages to any [`Write`]: a file, a socket, a pipe.
///
/// Each message is encoded (or, with [`with_signer`](Self::with_signer), signed: wrapped in an
/// envelope chained to the previous one) into a reused buffer and written whole with
/// `write_all`; nothing is buffered between calls, so wrap a file in a `BufWriter` when writing
/// many small messages. [`finish`](Self::finish) writes the signer's end frame and flushes.
///
/// Without a signer the output is plain frames and `finish` adds nothing. Signing times come
/// from the system clock ([`write_message`](Self::write_message)) or from the caller
/// ([`write_message_at`](Self::write_message_at)).
///
/// ```
/// use eventstream::frame::Message;
/// use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
/// use eventstream_blocking::{MessageReader, MessageWriter};
///
/// let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
/// let seed = "00".repeat(32);
///
/// let mut writer = MessageWriter::new(Vec::new()).with_signer(SigV4Signer::new(params.clone(), &seed));
/// writer.write_message(&Message::new(&b"hello"[..]))?;
/// let wire = writer.finish()?; // the envelope, then the signed end frame
///
/// let mut reader = MessageReader::new(&wire[..]).with_verifier(SigV4Verifier::new(params, &seed));
/// assert_eq!(&reader.next().unwrap()?.payload()[..], b"hello");
/// assert!(reader.next().is_none()); // the end frame was verified
/// # Ok::<(), eventstream_blocking::Error>(())
/// ```
pub struct MessageWriter<W> {
    writer: W,
    signer: Option<Box<dyn EventSigner + Send>>,
    limits: Limits,
    buf: BytesMut,
}

impl<W: Write> MessageWriter<W> {
    /// A writer of plain frames with the default [`Limits`].
    pub fn new(writer: W) -> Self {
        MessageWriter {
            writer,
            signer: None,
            limits: Limits::DEFAULT,
            buf: BytesMut::new(),
        }
    }

    /// Signs every message with `signer` (for example a
    /// [`SigV4Signer`](eventstream::sign::SigV4Signer)); [`finish`](Self::finish) then writes its
    /// end frame.
    #[must_use]
    pub fn with_signer(mut self, signer: impl EventSigner + Send + 'static) -> Self {
        self.signer = Some(Box::new(signer));
        self
    }

    /// Encodes within these limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Writes one message, signed at the system clock's time; returns the bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] or [`Error::Sign`] (nothing written), [`Error::Io`].
    pub fn write_message(&mut self, message: &Message) -> Result<usize, Error> {
        let time = match self.signer {
            Some(_) => now()?,
            None => SigningTime::EPOCH,
        };
        self.write_message_at(message, time)
    }

    /// Writes one message signed at `time`; returns the bytes written.
    ///
    /// # Errors
    ///
    /// As [`write_message`](Self::write_message).
    pub fn write_message_at(
        &mut self,
        message: &Message,
        time: SigningTime,
    ) -> Result<usize, Error> {
        self.buf.clear();
        let n = match &mut self.signer {
            Some(signer) => signer.sign_to(message, time, &self.limits, &mut self.buf)?,
            None => message.encode_with_limits(&self.limits, &mut self.buf)?,
        };
        self.write_buf()?;
        Ok(n)
    }

    fn write_buf(&mut self) -> Result<(), Error> {
        let result = self.writer.write_all(&self.buf);
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = BytesMut::new();
        }
        Ok(result?)
    }

    /// Flushes the underlying writer.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn flush(&mut self) -> Result<(), Error> {
        Ok(self.writer.flush()?)
    }

    /// Ends the stream: the signer's end frame (signed now; nothing without a signer), then a
    /// flush. Returns the writer, for example to `shutdown(Write)` a socket.
    ///
    /// # Errors
    ///
    /// [`Error::Sign`], [`Error::Io`].
    pub fn finish(self) -> Result<W, Error> {
        let time = match self.signer {
            Some(_) => now()?,
            None => SigningTime::EPOCH,
        };
        self.finish_at(time)
    }

    /// As [`finish`](Self::finish), with the end frame signed at `time`.
    ///
    /// # Errors
    ///
    /// As [`finish`](Self::finish).
    pub fn finish_at(mut self, time: SigningTime) -> Result<W, Error> {
        if let Some(signer) = &mut self.signer {
            self.buf.clear();
            signer.sign_end_to(time, &mut self.buf)?;
            self.write_buf()?;
        }
        self.writer.flush()?;
        Ok(self.writer)
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.writer
    }

    /// The underlying writer. Writing to it directly corrupts the stream of frames.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    /// The underlying writer, without an end frame.
    pub fn into_inner(self) -> W {
        self.writer
    }
}

impl<W> fmt::Debug for MessageWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageWriter")
            .field("signing", &self.signer.is_some())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
