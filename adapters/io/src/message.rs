//! The cores of the message readers and writers: everything but the read and write calls.

use crate::error::{decode_error, now, read_error, Error};
use bytes::{Buf, BytesMut};
use eventstream::frame::{Limits, Message};
use eventstream::sign::{EventSigner, EventVerifier, SignError, SigningTime, VerifyingDecoder};
use std::{fmt, io};

/// The default size of the buffer a reader reads into: 64 KiB.
pub const DEFAULT_READ_BUFFER_SIZE: usize = 64 * 1024;

/// The default number of encoded bytes a writer that buffers holds before it writes them out
/// ([`Encoding::is_full`]): 64 KiB.
pub const DEFAULT_WRITE_BUFFER_SIZE: usize = 64 * 1024;

/// A writer's scratch buffer larger than this is not kept after the message it was grown for.
const KEEP_BUFFER: usize = 1 << 20;

/// A message reader without its reader: a [`VerifyingDecoder`] and the fixed buffer that reads
/// go into. The adapter's loop: [`poll`](Self::poll); on `None`, read into
/// [`buffer`](Self::buffer) and hand the result to [`handle_read`](Self::handle_read).
pub struct Decoding {
    decoder: VerifyingDecoder,
    buf: Box<[u8]>,
    eof: bool,
    done: bool,
}

impl Default for Decoding {
    fn default() -> Self {
        Decoding {
            decoder: VerifyingDecoder::new(Limits::DEFAULT),
            buf: vec![0; DEFAULT_READ_BUFFER_SIZE].into_boxed_slice(),
            eof: false,
            done: false,
        }
    }
}

impl Decoding {
    /// Sets the limits of the messages for the frames not yet started (with a verifier, the
    /// envelopes are decoded with [`Limits::enveloped`] of them).
    pub fn set_limits(&mut self, limits: Limits) {
        self.decoder.set_limits(limits);
    }

    /// Verifies and unwraps envelopes with `verifier`; bytes already read are kept.
    #[must_use]
    pub fn with_verifier(mut self, verifier: impl EventVerifier + Send + 'static) -> Self {
        self.decoder = self.decoder.with_verifier(verifier);
        self
    }

    /// Reads at most `size` bytes at a time (at least 1).
    pub fn set_read_buffer_size(&mut self, size: usize) {
        self.buf = vec![0; size.max(1)].into_boxed_slice();
    }

    /// The next item from the bytes already read: a message, `Ok(None)` at the end of the input
    /// (and after an error), or an error, returned once. `None`: read first.
    pub fn poll(&mut self) -> Option<Result<Option<Message>, Error>> {
        if self.done {
            return Some(Ok(None));
        }
        let item = match self.decoder.poll_message() {
            Ok(None) if !self.eof => return None,
            Ok(None) => self.decoder.handle_end_of_input().map(|()| None),
            other => other,
        };
        self.done = !matches!(item, Ok(Some(_)));
        Some(item.map_err(decode_error))
    }

    /// The buffer to read into.
    pub fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Takes what a read into [`buffer`](Self::buffer) returned: bytes, the end of the input
    /// (`Ok(0)`) or a failure. `Interrupted` is ignored (read again).
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] for `WouldBlock` and `TimedOut` (not fatal: read again), else
    /// [`Error::Io`], after which the reader is done.
    pub fn handle_read(&mut self, read: io::Result<usize>) -> Result<(), Error> {
        match read {
            Ok(0) => self.eof = true,
            Ok(n) => self.decoder.handle_input(&self.buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let err = read_error(e);
                self.done = !err.is_timeout();
                return Err(err);
            }
        }
        Ok(())
    }

    /// Whether the reader is done: its input ended, or it failed.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The number of bytes read and not yet handed out as messages.
    pub fn buffered_len(&self) -> usize {
        self.decoder.buffered_len()
    }
}

impl fmt::Debug for Decoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoding")
            .field("decoder", &self.decoder)
            .field("read_buffer_size", &self.buf.len())
            .field("eof", &self.eof)
            .field("done", &self.done)
            .finish()
    }
}

/// A message writer without its writer: the optional signer, the limits, and the encoded bytes
/// not written yet ([`pending`](Self::pending), then [`handle_write`](Self::handle_write)).
pub struct Encoding {
    signer: Option<Box<dyn EventSigner + Send>>,
    limits: Limits,
    buf: BytesMut,
    ended: bool,
    high_water: usize,
}

impl Default for Encoding {
    fn default() -> Self {
        Encoding {
            signer: None,
            limits: Limits::DEFAULT,
            buf: BytesMut::new(),
            ended: false,
            high_water: DEFAULT_WRITE_BUFFER_SIZE,
        }
    }
}

impl Encoding {
    /// Signs every message with `signer`; the end of the stream is then its end frame.
    pub fn set_signer(&mut self, signer: impl EventSigner + Send + 'static) {
        self.signer = Some(Box::new(signer));
    }

    /// Encodes within these limits.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The time to sign at: the system clock's when signing, else any (the epoch).
    ///
    /// # Errors
    ///
    /// [`Error::Clock`].
    pub fn time(&self) -> Result<SigningTime, Error> {
        match self.signer {
            Some(_) => now(),
            None => Ok(SigningTime::EPOCH),
        }
    }

    /// Appends one message, signed at `time` when signing; returns its length on the wire.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] or [`Error::Sign`] (nothing appended), and `after_end` once
    /// [`end`](Self::end) was called.
    pub fn encode(&mut self, message: &Message, time: SigningTime) -> Result<usize, Error> {
        if self.ended {
            return Err(SignError::AfterEnd.into());
        }
        Ok(match &mut self.signer {
            Some(signer) => signer.sign_to(message, time, &self.limits, &mut self.buf)?,
            None => message.encode_with_limits(&self.limits, &mut self.buf)?,
        })
    }

    /// Appends the signer's end frame signed at `time` (nothing without a signer), once.
    ///
    /// # Errors
    ///
    /// [`Error::Sign`].
    pub fn end(&mut self, time: SigningTime) -> Result<(), Error> {
        if let (Some(signer), false) = (&mut self.signer, self.ended) {
            signer.sign_end_to(time, &mut self.buf)?;
        }
        self.ended = true;
        Ok(())
    }

    /// Whether [`end`](Self::end) was called.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The encoded bytes not written yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// `n` bytes of [`pending`](Self::pending) were written; a large buffer is let go once empty.
    pub fn advance(&mut self, n: usize) {
        self.buf.advance(n.min(self.buf.len()));
        if self.buf.is_empty() && self.buf.capacity() > KEEP_BUFFER {
            self.buf = BytesMut::new();
        }
    }

    /// Takes what a write of [`pending`](Self::pending) returned. `Interrupted` is ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Io`], also for a write that wrote nothing (`WriteZero`).
    pub fn handle_write(&mut self, written: io::Result<usize>) -> Result<(), Error> {
        match written {
            Ok(0) => Err(io::Error::from(io::ErrorKind::WriteZero).into()),
            Ok(n) => {
                self.advance(n);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Holds up to `bytes` encoded bytes before [`is_full`](Self::is_full) (64 KiB by default).
    pub fn set_high_water(&mut self, bytes: usize) {
        self.high_water = bytes;
    }

    /// Whether the pending bytes reached the high water mark: write them out before encoding
    /// more.
    pub fn is_full(&self) -> bool {
        !self.buf.is_empty() && self.buf.len() >= self.high_water
    }
}

impl fmt::Debug for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoding")
            .field("signing", &self.signer.is_some())
            .field("limits", &self.limits)
            .field("pending", &self.buf.len())
            .field("ended", &self.ended)
            .finish()
    }
}

/// The constructor, builders and accessors of an adapter's `MessageReader<R>`, whose fields are
/// `reader: R` and `core:` [`Decoding`]: one definition for every adapter. Expands to an
/// `impl<R>` block and a `Debug` implementation.
#[macro_export]
macro_rules! message_reader_api {
    ($name:ident) => {
        impl<R> $name<R> {
            /// A reader of plain frames with the default
            /// [`Limits`](eventstream::frame::Limits).
            pub fn new(reader: R) -> Self {
                $name {
                    reader,
                    core: $crate::Decoding::default(),
                }
            }

            /// Decodes with these limits. With a verifier, they are the limits of the messages:
            /// the envelopes are decoded with
            /// [`Limits::enveloped`](eventstream::frame::Limits::enveloped) of them, so that the
            /// envelope of a message at the limits is accepted, and the messages they carry are
            /// held to these limits. Before or after
            /// [`with_verifier`](Self::with_verifier); frames already started keep theirs.
            #[must_use]
            pub fn with_limits(mut self, limits: eventstream::frame::Limits) -> Self {
                self.core.set_limits(limits);
                self
            }

            /// Verifies and unwraps signed envelopes with `verifier` (for example a
            /// [`SigV4Verifier`](eventstream::sign::SigV4Verifier)); the input must then end
            /// with the signed end frame, else it is an error (`missing_end_frame`).
            #[must_use]
            pub fn with_verifier(
                mut self,
                verifier: impl eventstream::sign::EventVerifier + Send + 'static,
            ) -> Self {
                self.core = self.core.with_verifier(verifier);
                self
            }

            /// Reads at most `size` bytes at a time (at least 1; 64 KiB by default).
            #[must_use]
            pub fn with_read_buffer_size(mut self, size: usize) -> Self {
                self.core.set_read_buffer_size(size);
                self
            }

            /// The number of bytes read and not yet handed out as messages.
            pub fn buffered_len(&self) -> usize {
                self.core.buffered_len()
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

        impl<R> ::std::fmt::Debug for $name<R> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("core", &self.core)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// The constructor, builders and accessors of an adapter's `MessageWriter<W>`, whose fields are
/// `writer: W` and `core:` [`Encoding`]: one definition for every adapter. Expands to an
/// `impl<W>` block and a `Debug` implementation.
#[macro_export]
macro_rules! message_writer_api {
    ($name:ident) => {
        impl<W> $name<W> {
            /// A writer of plain frames with the default
            /// [`Limits`](eventstream::frame::Limits).
            pub fn new(writer: W) -> Self {
                $name {
                    writer,
                    core: $crate::Encoding::default(),
                }
            }

            /// Signs every message with `signer` (for example a
            /// [`SigV4Signer`](eventstream::sign::SigV4Signer)): each one is wrapped in an
            /// envelope chained to the previous one, and the end of the stream is the signed end
            /// frame.
            #[must_use]
            pub fn with_signer(
                mut self,
                signer: impl eventstream::sign::EventSigner + Send + 'static,
            ) -> Self {
                self.core.set_signer(signer);
                self
            }

            /// Encodes within these limits.
            #[must_use]
            pub fn with_limits(mut self, limits: eventstream::frame::Limits) -> Self {
                self.core.set_limits(limits);
                self
            }

            /// The underlying writer.
            pub fn get_ref(&self) -> &W {
                &self.writer
            }

            /// The underlying writer. Writing to it directly corrupts the stream of frames.
            pub fn get_mut(&mut self) -> &mut W {
                &mut self.writer
            }

            /// The underlying writer; bytes encoded and not written, and the end frame, are
            /// lost.
            pub fn into_inner(self) -> W {
                self.writer
            }
        }

        impl<W> ::std::fmt::Debug for $name<W> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("core", &self.core)
                    .finish_non_exhaustive()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};

    /// Reads `wire` through a `Decoding` in reads of `step` bytes.
    fn read(mut core: Decoding, wire: &[u8], step: usize) -> Result<Vec<Message>, Error> {
        let (mut out, mut at) = (Vec::new(), 0);
        loop {
            match core.poll() {
                Some(Ok(Some(m))) => out.push(m),
                Some(Ok(None)) => return Ok(out),
                Some(Err(e)) => return Err(e),
                None => {
                    let n = step.min(wire.len() - at).min(core.buffer().len());
                    core.buffer()[..n].copy_from_slice(&wire[at..at + n]);
                    at += n;
                    core.handle_read(Ok(n))?;
                }
            }
        }
    }

    #[test]
    fn signed_messages_round_trip_in_any_reads_and_a_cut_is_truncated() {
        let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
        let seed = "00".repeat(32);
        let mut enc = Encoding::default();
        enc.set_signer(SigV4Signer::new(params.clone(), &seed));
        let t = SigningTime::from_unix_seconds(1_700_000_000).unwrap();
        let messages = [Message::new(&b"one"[..]), Message::new(vec![7u8; 3000])];
        for m in &messages {
            enc.encode(m, t).unwrap();
        }
        enc.end(t).unwrap();
        enc.end(t).unwrap(); // once
        assert_eq!(
            enc.encode(&messages[0], t).unwrap_err().kind(),
            "signed_after_end"
        );
        let wire = enc.pending().to_vec();
        enc.advance(wire.len());
        assert!(enc.pending().is_empty());

        let verifying =
            || Decoding::default().with_verifier(SigV4Verifier::new(params.clone(), &seed));
        for step in [1, 7, 4096] {
            assert_eq!(read(verifying(), &wire, step).unwrap(), messages);
        }
        let err = read(verifying(), &wire[..wire.len() - 1], 100).unwrap_err();
        assert_eq!(err.kind(), "truncated");
        assert!(matches!(err, Error::Frame(_)));
    }

    #[test]
    fn read_errors_end_the_reader_except_timeouts() {
        let mut core = Decoding::default();
        assert!(core.poll().is_none());
        core.handle_read(Err(io::ErrorKind::Interrupted.into()))
            .unwrap();
        let timeout = core.handle_read(Err(io::ErrorKind::WouldBlock.into()));
        assert!(timeout.unwrap_err().is_timeout());
        assert!(!core.is_done());
        let broken = core.handle_read(Err(io::ErrorKind::ConnectionReset.into()));
        assert_eq!(broken.unwrap_err().kind(), "io");
        assert!(core.is_done());
        assert!(matches!(core.poll(), Some(Ok(None))));
    }
}
