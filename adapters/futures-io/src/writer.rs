//! Writing messages to a `futures_io::AsyncWrite`.

use crate::error::{now, Error};
use bytes::{Buf, BytesMut};
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use eventstream::frame::{Limits, Message};
use eventstream::sign::{EventSigner, SignError};
use futures_io::AsyncWrite;
use futures_sink::Sink;
use std::fmt;
use std::io::{self, ErrorKind};

/// The default number of encoded bytes a writer holds before `poll_ready` writes them out.
pub const DEFAULT_WRITE_BUFFER_SIZE: usize = 64 * 1024;

pin_project_lite::pin_project! {
    /// Writes messages to any [`AsyncWrite`]: a [`Sink`] of [`Message`]s.
    ///
    /// `start_send` encodes the message (or, with [`with_signer`](Self::with_signer), signs it:
    /// wraps it in an envelope chained to the previous one, at the system clock's time) into a
    /// buffer; `poll_ready` writes the buffer out once it holds
    /// [`DEFAULT_WRITE_BUFFER_SIZE`] bytes or more (so a slow reader holds the producer back),
    /// `poll_flush` writes everything and flushes, and `poll_close` appends the signer's end
    /// frame (nothing without a signer), writes, flushes and closes the writer (for smol's
    /// `TcpStream`: `shutdown(Write)`; async-std's `poll_close` only flushes, so shut its socket
    /// down yourself, `writer.get_ref().shutdown(Shutdown::Write)`, or drop it).
    ///
    /// ```
    /// use eventstream::frame::Message;
    /// use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
    /// use eventstream_futures_io::{MessageReader, MessageWriter};
    /// use futures::{SinkExt, StreamExt};
    ///
    /// let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
    /// let seed = "00".repeat(32);
    /// futures::executor::block_on(async {
    ///     let mut writer = MessageWriter::new(futures::io::Cursor::new(Vec::new()))
    ///         .with_signer(SigV4Signer::new(params.clone(), &seed));
    ///     writer.send(Message::new(&b"hello"[..])).await?;
    ///     writer.close().await?; // the signed end frame, then close
    ///     let wire = writer.into_inner().into_inner();
    ///
    ///     let mut reader = MessageReader::new(&wire[..]).with_verifier(SigV4Verifier::new(params, &seed));
    ///     assert_eq!(&reader.next().await.unwrap()?.payload()[..], b"hello");
    ///     assert!(reader.next().await.is_none()); // the end frame was verified
    ///     Ok::<(), eventstream_futures_io::Error>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub struct MessageWriter<W> {
        #[pin]
        writer: W,
        signer: Option<Box<dyn EventSigner + Send>>,
        limits: Limits,
        buf: BytesMut,
        high_water: usize,
        ended: bool,
    }
}

impl<W: AsyncWrite> MessageWriter<W> {
    /// A writer of plain frames with the default [`Limits`].
    pub fn new(writer: W) -> Self {
        MessageWriter {
            writer,
            signer: None,
            limits: Limits::DEFAULT,
            buf: BytesMut::new(),
            high_water: DEFAULT_WRITE_BUFFER_SIZE,
            ended: false,
        }
    }

    /// Signs every message with `signer` (for example a
    /// [`SigV4Signer`](eventstream::sign::SigV4Signer)); closing then writes its end frame.
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

    /// Holds up to `bytes` encoded bytes before `poll_ready` writes them out (0: write every
    /// message before accepting the next).
    #[must_use]
    pub fn with_buffer_size(mut self, bytes: usize) -> Self {
        self.high_water = bytes;
        self
    }

    /// The number of encoded bytes not yet written.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.writer
    }

    /// The underlying writer. Writing to it directly corrupts the stream of frames.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    /// The underlying writer; buffered bytes are lost (flush first).
    pub fn into_inner(self) -> W {
        self.writer
    }

    fn poll_write_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut this = self.project();
        while !this.buf.is_empty() {
            match ready!(this.writer.as_mut().poll_write(cx, this.buf)) {
                Ok(0) => return Poll::Ready(Err(io::Error::from(ErrorKind::WriteZero).into())),
                Ok(n) => this.buf.advance(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite> Sink<Message> for MessageWriter<W> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.buf.is_empty() && self.buf.len() >= self.high_water {
            ready!(self.poll_write_buf(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        let this = self.project();
        if *this.ended {
            return Err(SignError::AfterEnd.into());
        }
        match this.signer {
            Some(signer) => signer.sign_to(&message, now()?, this.limits, this.buf)?,
            None => message.encode_with_limits(this.limits, this.buf)?,
        };
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.as_mut().poll_write_buf(cx))?;
        Poll::Ready(Ok(ready!(self.project().writer.poll_flush(cx))?))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.ended {
            let this = self.as_mut().project();
            if let Some(signer) = this.signer {
                let time = match now() {
                    Ok(t) => t,
                    Err(e) => return Poll::Ready(Err(e)),
                };
                signer.sign_end_to(time, this.buf)?;
            }
            *this.ended = true;
        }
        ready!(self.as_mut().poll_write_buf(cx))?;
        Poll::Ready(Ok(ready!(self.project().writer.poll_close(cx))?))
    }
}

impl<W> fmt::Debug for MessageWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageWriter")
            .field("signing", &self.signer.is_some())
            .field("limits", &self.limits)
            .field("buffered", &self.buf.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
