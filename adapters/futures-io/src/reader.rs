//! Reading messages from a `futures_io::AsyncRead`.

use crate::error::Error;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use eventstream::frame::{FrameDecoder, Limits, Message};
use eventstream::sign::{EventVerifier, Verified};
use futures_core::stream::{FusedStream, Stream};
use futures_io::AsyncRead;
use std::fmt;
use std::io::ErrorKind;

/// The default size of the buffer a reader reads into: 64 KiB.
pub const DEFAULT_READ_BUFFER_SIZE: usize = 64 * 1024;

pin_project_lite::pin_project! {
    /// Reads messages from any [`AsyncRead`]: a [`Stream`] of `Result<Message, Error>`.
    ///
    /// Buffering is bounded: bytes are read into one fixed buffer (64 KiB by default) and fed to
    /// a [`FrameDecoder`], which never holds more than one frame (bounded by its [`Limits`]) plus
    /// the last read, and nothing is read while a decoded message is waiting to be taken.
    /// Messages are checked (both checksums, lengths, limits) before they are handed out.
    ///
    /// At the end of the input a partial frame is an error, `truncated`
    /// ([`FrameError::Truncated`](eventstream::frame::FrameError::Truncated)), never a silent end.
    ///
    /// With [`with_verifier`](Self::with_verifier), the frames are signed envelopes: each one is
    /// verified and unwrapped, the end frame is consumed, and input that ends without it is an
    /// error (for a [`SigV4Verifier`](eventstream::sign::SigV4Verifier), `missing_end_frame`).
    ///
    /// Every error is yielded once; the stream then ends.
    ///
    /// ```
    /// use eventstream::frame::Message;
    /// use eventstream_futures_io::MessageReader;
    /// use futures::StreamExt;
    ///
    /// let mut wire = bytes::BytesMut::new();
    /// Message::new(&b"one"[..]).encode(&mut wire)?;
    /// Message::new(&b"two"[..]).encode(&mut wire)?;
    /// let cut = &wire[..wire.len() - 3]; // the second frame lost its last bytes
    ///
    /// futures::executor::block_on(async {
    ///     let mut reader = MessageReader::new(cut);
    ///     assert_eq!(&reader.next().await.unwrap()?.payload()[..], b"one");
    ///     assert_eq!(reader.next().await.unwrap().unwrap_err().kind(), "truncated");
    ///     assert!(reader.next().await.is_none());
    ///     Ok::<(), eventstream_futures_io::Error>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub struct MessageReader<R> {
        #[pin]
        reader: R,
        decoder: FrameDecoder,
        verifier: Option<Box<dyn EventVerifier + Send>>,
        buf: Box<[u8]>,
        eof: bool,
        done: bool,
    }
}

impl<R: AsyncRead> MessageReader<R> {
    /// A reader of plain frames with the default [`Limits`].
    pub fn new(reader: R) -> Self {
        MessageReader {
            reader,
            decoder: FrameDecoder::new(),
            verifier: None,
            buf: vec![0; DEFAULT_READ_BUFFER_SIZE].into_boxed_slice(),
            eof: false,
            done: false,
        }
    }

    /// Decodes with these limits. Call it before the first read: it replaces the decoder.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.decoder = FrameDecoder::with_limits(limits);
        self
    }

    /// Verifies and unwraps signed envelopes with `verifier` (for example a
    /// [`SigV4Verifier`](eventstream::sign::SigV4Verifier)); the input must then end with the
    /// signed end frame.
    #[must_use]
    pub fn with_verifier(mut self, verifier: impl EventVerifier + Send + 'static) -> Self {
        self.verifier = Some(Box::new(verifier));
        self
    }

    /// Reads at most `size` bytes at a time (at least 1; 64 KiB by default).
    #[must_use]
    pub fn with_read_buffer_size(mut self, size: usize) -> Self {
        self.buf = vec![0; size.max(1)].into_boxed_slice();
        self
    }

    /// The number of bytes read and not yet handed out as messages.
    pub fn buffered_len(&self) -> usize {
        self.decoder.buffered_len()
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

impl<R: AsyncRead> Stream for MessageReader<R> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if *this.done {
                return Poll::Ready(None);
            }
            match this.decoder.poll_message() {
                Ok(Some(frame)) => match this.verifier {
                    None => return Poll::Ready(Some(Ok(frame))),
                    Some(v) => match v.verify(&frame, None) {
                        Ok(Verified::Message(message)) => return Poll::Ready(Some(Ok(message))),
                        // Read on to the end: anything after the end frame is an error.
                        Ok(Verified::End) => continue,
                        Err(e) => {
                            *this.done = true;
                            return Poll::Ready(Some(Err(e.into())));
                        }
                    },
                },
                Ok(None) => {}
                Err(e) => {
                    *this.done = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
            if *this.eof {
                *this.done = true;
                let end =
                    this.decoder
                        .finish()
                        .map_err(Error::from)
                        .and_then(|()| match this.verifier {
                            Some(v) => v.finish().map_err(Error::from),
                            None => Ok(()),
                        });
                return Poll::Ready(end.err().map(Err));
            }
            match ready!(this.reader.as_mut().poll_read(cx, this.buf)) {
                Ok(0) => *this.eof = true,
                Ok(n) => this.decoder.handle_input(&this.buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    *this.done = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }
}

impl<R: AsyncRead> FusedStream for MessageReader<R> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<R> fmt::Debug for MessageReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageReader")
            .field("decoder", &self.decoder)
            .field("verifying", &self.verifier.is_some())
            .field("read_buffer_size", &self.buf.len())
            .field("eof", &self.eof)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
