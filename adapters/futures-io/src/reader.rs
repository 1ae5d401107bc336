//! Reading messages from a `futures_io::AsyncRead`.

use core::pin::Pin;
use core::task::{ready, Context, Poll};
use eventstream::frame::Message;
use eventstream_io::{Decoding, Error};
use futures_core::stream::{FusedStream, Stream};
use futures_io::AsyncRead;

pin_project_lite::pin_project! {
    /// Reads messages from any [`AsyncRead`]: a [`Stream`] of `Result<Message, Error>`.
    ///
    /// Bytes are read into one fixed buffer (64 KiB by default) and fed to the core's
    /// [`VerifyingDecoder`](eventstream::sign::VerifyingDecoder), which never holds more than one
    /// frame plus the last read; nothing is read while a message waits to be taken. Messages are
    /// checked (checksums, lengths, limits) before they are handed out, and a partial frame at
    /// the end is `truncated`. With [`with_verifier`](Self::with_verifier) the frames are signed
    /// envelopes, each verified and unwrapped, and the input must end with the signed end frame.
    /// An error is yielded once, then the stream ends (but for [`Error::TimedOut`], from a reader
    /// that reports a timeout: poll again).
    ///
    /// ```
    /// use eventstream::frame::Message;
    /// use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
    /// use eventstream_futures_io::{MessageReader, MessageWriter};
    /// use futures::{SinkExt, StreamExt};
    ///
    /// let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
    /// let (seed, wire) = ("00".repeat(32), futures::io::Cursor::new(Vec::new()));
    /// futures::executor::block_on(async {
    ///     let signer = SigV4Signer::new(params.clone(), &seed);
    ///     let mut writer = MessageWriter::new(wire).with_signer(signer);
    ///     writer.send(Message::new(&b"hello"[..])).await?;
    ///     writer.close().await?; // the signed end frame, then close
    ///     let wire = writer.into_inner().into_inner();
    ///     let verifier = || SigV4Verifier::new(params.clone(), &seed);
    ///     let mut reader = MessageReader::new(&wire[..]).with_verifier(verifier());
    ///     assert_eq!(&reader.next().await.unwrap()?.payload()[..], b"hello");
    ///     assert!(reader.next().await.is_none()); // the end frame was verified
    ///     let mut cut = MessageReader::new(&wire[..wire.len() - 3]).with_verifier(verifier());
    ///     assert!(cut.next().await.unwrap().is_ok());
    ///     assert_eq!(cut.next().await.unwrap().unwrap_err().kind(), "truncated");
    ///     Ok::<(), eventstream_futures_io::Error>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub struct MessageReader<R> {
        #[pin]
        reader: R,
        core: Decoding,
    }
}

eventstream_io::message_reader_api!(MessageReader);

impl<R: AsyncRead> Stream for MessageReader<R> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(item) = this.core.poll() {
                return Poll::Ready(item.transpose());
            }
            let read = ready!(this.reader.as_mut().poll_read(cx, this.core.buffer()));
            if let Err(e) = this.core.handle_read(read) {
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}

impl<R: AsyncRead> FusedStream for MessageReader<R> {
    fn is_terminated(&self) -> bool {
        self.core.is_done()
    }
}
