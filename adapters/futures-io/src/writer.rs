//! Writing messages to a `futures_io::AsyncWrite`.

use core::pin::Pin;
use core::task::{ready, Context, Poll};
use eventstream::frame::Message;
use eventstream_io::{Encoding, Error};
use futures_io::AsyncWrite;
use futures_sink::Sink;

pin_project_lite::pin_project! {
    /// Writes messages to any [`AsyncWrite`]: a [`Sink`] of [`Message`]s.
    ///
    /// `start_send` encodes the message (or, with [`with_signer`](Self::with_signer), signs it
    /// at the system clock's time) into a buffer; `poll_ready` writes it out once it holds
    /// [`DEFAULT_WRITE_BUFFER_SIZE`](crate::DEFAULT_WRITE_BUFFER_SIZE) bytes or more (a slow
    /// reader holds the producer back); `poll_flush` writes everything and flushes; `poll_close`
    /// appends the signer's end frame, writes, flushes and closes the writer (async-std's
    /// `poll_close` only flushes: shut its socket down yourself). Example: see
    /// [`MessageReader`](crate::MessageReader).
    pub struct MessageWriter<W> {
        #[pin]
        writer: W,
        core: Encoding,
    }
}

eventstream_io::message_writer_api!(MessageWriter);

impl<W: AsyncWrite> MessageWriter<W> {
    /// Holds up to `bytes` encoded bytes before `poll_ready` writes them out (0: write every
    /// message before accepting the next).
    #[must_use]
    pub fn with_buffer_size(mut self, bytes: usize) -> Self {
        self.core.set_high_water(bytes);
        self
    }

    /// The number of encoded bytes not yet written.
    pub fn buffered_len(&self) -> usize {
        self.core.pending().len()
    }

    fn poll_write_out(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut this = self.project();
        while !this.core.pending().is_empty() {
            let written = ready!(this.writer.as_mut().poll_write(cx, this.core.pending()));
            this.core.handle_write(written)?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite> Sink<Message> for MessageWriter<W> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.core.is_full() {
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        let core = self.project().core;
        core.encode(&message, core.time()?).map(drop)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.as_mut().poll_write_out(cx))?;
        Poll::Ready(Ok(ready!(self.project().writer.poll_flush(cx))?))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let core = self.as_mut().project().core;
        if !core.is_ended() {
            core.end(core.time()?)?;
        }
        ready!(self.as_mut().poll_write_out(cx))?;
        Poll::Ready(Ok(ready!(self.project().writer.poll_close(cx))?))
    }
}
