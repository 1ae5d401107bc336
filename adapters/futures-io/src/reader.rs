//! Reading messages from a `futures_io::AsyncRead`.

use crate::error::{decode_error, Error};
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use eventstream::frame::{Limits, Message};
use eventstream::sign::{EventVerifier, VerifyingDecoder};
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
    /// the core's [`VerifyingDecoder`], which never holds more than one frame (bounded by its
    /// [`Limits`]) plus the last read, and nothing is read while a decoded message is waiting to
    /// be taken.
    /// Messages are checked (both checksums, lengths, limits) before they are handed out.
    ///
    /// At the end of the input a partial frame is an error, `truncated`
    /// ([`FrameError::Truncated`](eventstream::frame::FrameError::Truncated)), never a silent end.
    ///
    /// With [`with_verifier`](Self::with_verifier), the frames are signed envelopes, decoded with
    /// [`Limits::enveloped`] of the reader's limits: each one is verified and unwrapped, the end
    /// frame is consumed, and input that ends without it is an error (for a
    /// [`SigV4Verifier`](eventstream::sign::SigV4Verifier), `missing_end_frame`).
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
        // The limits and the verifier, kept until the first read builds the decoder from them,
        // so that the builders work in either order.
        limits: Limits,
        verifier: Option<SetVerifier>,
        decoder: Option<VerifyingDecoder>,
        buf: Box<[u8]>,
        eof: bool,
        done: bool,
    }
}

/// [`VerifyingDecoder::with_verifier`] with the verifier given to `with_verifier`.
type SetVerifier = Box<dyn FnOnce(VerifyingDecoder) -> VerifyingDecoder + Send>;

impl<R: AsyncRead> MessageReader<R> {
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

impl<R: AsyncRead> Stream for MessageReader<R> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let decoder = this.decoder.get_or_insert_with(|| {
            let decoder = VerifyingDecoder::new(*this.limits);
            match this.verifier.take() {
                Some(set_verifier) => set_verifier(decoder),
                None => decoder,
            }
        });
        loop {
            if *this.done {
                return Poll::Ready(None);
            }
            match decoder.poll_message() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(e) => {
                    *this.done = true;
                    return Poll::Ready(Some(Err(decode_error(e))));
                }
            }
            if *this.eof {
                *this.done = true;
                return Poll::Ready(
                    decoder
                        .handle_end_of_input()
                        .err()
                        .map(|e| Err(decode_error(e))),
                );
            }
            match ready!(this.reader.as_mut().poll_read(cx, this.buf)) {
                Ok(0) => *this.eof = true,
                Ok(n) => decoder.handle_input(&this.buf[..n]),
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
            .field("limits", &self.limits)
            .field("verifier_pending", &self.verifier.is_some())
            .field("decoder", &self.decoder)
            .field("read_buffer_size", &self.buf.len())
            .field("eof", &self.eof)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstream::sign::{
        Credentials, EventSigner as _, SigV4Signer, SigV4Verifier, SigningParams, SigningTime,
    };
    use futures::StreamExt;

    /// With a verifier, the reader's limits are the messages': their envelopes are decoded with
    /// `Limits::enveloped`, so a message at the limits is read, whichever builder comes first. An
    /// inner message over the reader's limits is a frame error, like a bad frame on the wire.
    #[test]
    fn signed_messages_at_the_limits_are_read() {
        let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
        let seed = "00".repeat(32);
        let limits = Limits::default().with_max_payload_len(1000);
        let message = Message::new(vec![7u8; 1000]);
        let t = SigningTime::from_unix_seconds(1_700_000_000).unwrap();
        let mut signer = SigV4Signer::new(params.clone(), &seed);
        let mut wire = bytes::BytesMut::new();
        signer.sign_to(&message, t, &limits, &mut wire).unwrap();
        signer.sign_end_to(t, &mut wire).unwrap();
        let verifier = || SigV4Verifier::new(params.clone(), &seed);
        let read = |reader: MessageReader<&[u8]>| {
            futures::executor::block_on(reader.collect::<Vec<_>>())
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
        };

        let first = MessageReader::new(&wire[..]).with_limits(limits);
        assert_eq!(
            read(first.with_verifier(verifier())).unwrap(),
            std::slice::from_ref(&message)
        );
        let then = MessageReader::new(&wire[..]).with_verifier(verifier());
        assert_eq!(read(then.with_limits(limits)).unwrap(), [message]);

        let tight = limits.with_max_payload_len(999);
        let reader = MessageReader::new(&wire[..]).with_limits(tight);
        let err = read(reader.with_verifier(verifier())).unwrap_err();
        assert_eq!(err.kind(), "payload_too_long");
        assert!(matches!(err, Error::Frame(_)), "{err:?}");
    }
}
