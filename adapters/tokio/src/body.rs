//! An event stream read from an HTTP body of any HTTP version: a [`Stream`] of `Bytes` chunks
//! (a hyper or reqwest response body, for example an HTTP/1.1 chunked response) turned into a
//! stream of the session's events.

use crate::clock::Clock;
use crate::error::Error;
use bytes::Bytes;
use eventstream::session::{
    Driver, Mode, Role, Session, SessionConfig, SessionError, SessionEvent,
};
use futures_core::stream::FusedStream;
use futures_core::Stream;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

pin_project_lite::pin_project! {
    /// The events of an event stream read from an HTTP body: a [`Stream`] of
    /// `Result<SessionEvent, Error>`, with the same items as the HTTP/2
    /// [`Receiver`](crate::Receiver).
    ///
    /// The body is any [`Stream`] of `Result<Bytes, E>` chunks, in whatever pieces they come:
    /// a hyper response body as `http_body_util::BodyDataStream::new(response.into_body())`, a
    /// reqwest response as `response.bytes_stream()`. The HTTP exchange itself (the request,
    /// the status, the `content-type`) is the caller's: this type only reads the body.
    ///
    /// # Items
    ///
    /// In order: `Event`s (or, with an RPC session passed to
    /// [`with_session`](Self::with_session), first `InitialResponse`), and a last item that is
    /// one of
    ///
    /// - `Ok(End)`: the body ended at a frame boundary (after the end frame, when the session
    ///   verifies signatures);
    /// - `Ok(Exception { .. })` or `Ok(Error { .. })`: the server ended the stream with a
    ///   modeled or an unmodeled error (`:message-type` `exception` or `error`); whatever the
    ///   body still holds is discarded;
    /// - `Err(Error::Session(_))`: the session failed on the server's bytes (a bad frame, a
    ///   broken signature chain, a sequencing error), or the body ended inside a frame (kind
    ///   `truncated`) or before the end frame a verifier requires. [`SessionEvent::Failed`] is
    ///   never yielded;
    /// - `Err(Error::Body(_))`: the body itself failed (the connection was lost, the HTTP
    ///   framing was broken or cut short), even at a frame boundary: an incomplete body is
    ///   never a clean end.
    ///
    /// Then `None`, forever. The body is dropped with the last item: a body that was not read
    /// to its end (after an exception, say) lets its HTTP library close the connection.
    ///
    /// # Memory and backpressure
    ///
    /// Chunks are handed to the core [`Driver`] as they are ([`Driver::handle_bytes`]): a frame
    /// that lies whole in one chunk is not copied, its payload is a slice of the chunk. The
    /// session consumes bytes only while its queue of received events has room; the rest of a
    /// chunk is kept in the driver, and the body is polled again only once the session has
    /// consumed all of it ([`Driver::wants_input`]). So an application that stops polling holds
    /// the body, and through it the connection and the server, back: at most one chunk, one
    /// partial frame and the session's queue are buffered.
    ///
    /// # Example
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use eventstream::session::{EventBuilder, ExceptionBuilder, SessionEvent};
    /// use eventstream_tokio::BodyEvents;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // What a server sends: two events and an exception...
    /// let mut wire = BytesMut::new();
    /// EventBuilder::new("Tick").payload(&b"1"[..]).build().encode(&mut wire)?;
    /// EventBuilder::new("Tick").payload(&b"2"[..]).build().encode(&mut wire)?;
    /// ExceptionBuilder::new("ThrottlingException")
    ///     .payload(&b"{\"message\":\"slow down\"}"[..])
    ///     .build()
    ///     .encode(&mut wire)?;
    /// let wire = wire.freeze();
    ///
    /// // ...as a body that arrives in 7-byte chunks.
    /// let chunks: Vec<Result<Bytes, std::io::Error>> =
    ///     wire.chunks(7).map(|chunk| Ok(wire.slice_ref(chunk))).collect();
    /// let body = futures::stream::iter(chunks);
    ///
    /// let mut events = BodyEvents::new(body);
    /// let mut ticks = Vec::new();
    /// while let Some(item) = events.recv().await {
    ///     match item? {
    ///         SessionEvent::Event(m) => ticks.push(m.payload().clone()),
    ///         SessionEvent::Exception { exception_type, .. } => {
    ///             assert_eq!(&*exception_type, "ThrottlingException");
    ///         }
    ///         other => panic!("unexpected {other:?}"),
    ///     }
    /// }
    /// assert_eq!(ticks, [&b"1"[..], &b"2"[..]]);
    /// assert!(events.recv().await.is_none());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// With hyper (HTTP/1.1 or HTTP/2), once the response head has been checked:
    ///
    /// ```no_run
    /// use eventstream::session::SessionEvent;
    /// use eventstream_tokio::BodyEvents;
    /// use http_body_util::BodyDataStream;
    ///
    /// async fn read(response: hyper::Response<hyper::body::Incoming>) -> Result<(), eventstream_tokio::Error> {
    ///     let mut events = BodyEvents::new(BodyDataStream::new(response.into_body()));
    ///     while let Some(event) = events.recv().await {
    ///         if let SessionEvent::Event(m) = event? {
    ///             println!("{:?}: {} bytes", m.header_str(":event-type"), m.payload().len());
    ///         }
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub struct BodyEvents<B> {
        // `None` once the last item was yielded.
        #[pin]
        body: Option<B>,
        // Its input side only: nothing it would send goes anywhere.
        driver: Driver,
        // How the body failed, which the session knows only as a reset.
        failure: Option<Error>,
        // The last item was yielded.
        done: bool,
        received: u64,
        clock: Clock,
    }
}

impl<B> BodyEvents<B> {
    /// Reads the events of `body` with a client session in HTTP-binding mode (restJson1,
    /// restXml: no initial messages) with the default limits, which verifies no signatures.
    pub fn new(body: B) -> Self {
        Self::with_session(
            body,
            Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding)),
        )
    }

    /// Reads the events of `body` with `session`: for example one with other
    /// [`Limits`](eventstream::frame::Limits) or queue size, in [`Mode::Rpc`] (its first item is
    /// then the `InitialResponse`), or with a verifier (the body must then end with the signed
    /// end frame).
    ///
    /// Only the session's receiving side is used: nothing it queues for transmission (a reset
    /// after a failure, say) is sent anywhere. A server session reading a request body works
    /// too.
    pub fn with_session(body: B, session: Session) -> Self {
        BodyEvents {
            body: Some(body),
            driver: Driver::new(session),
            failure: None,
            done: false,
            received: 0,
            clock: Clock::default(),
        }
    }

    /// The body bytes received so far.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }
}

impl<B, E> BodyEvents<B>
where
    B: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// The next item: as [`Stream::poll_next`], as an `async fn`. (For a body that is not
    /// [`Unpin`], pin it first: `BodyEvents::new(Box::pin(body))`.)
    pub async fn recv(&mut self) -> Option<Result<SessionEvent, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl<B, E> Stream for BodyEvents<B>
where
    B: Stream<Item = Result<Bytes, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<SessionEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        loop {
            if let Some(event) = this.driver.poll_event() {
                if !event.is_terminal() {
                    return Poll::Ready(Some(Ok(event)));
                }
                *this.done = true;
                this.body.set(None);
                return Poll::Ready(Some(match (event, this.failure.take()) {
                    // The body's own failure, with its cause.
                    (SessionEvent::Failed(SessionError::Reset { .. }), Some(failure)) => {
                        Err(failure)
                    }
                    (SessionEvent::Failed(e), _) => Err(Error::Session(e)),
                    (other, _) => Ok(other),
                }));
            }
            let body = match this.body.as_mut().as_pin_mut() {
                Some(body) if this.driver.wants_input() => body,
                // Unreachable while the driver keeps its contract (with no event to take, it
                // wants input until its terminal event); never spin on it.
                _ => {
                    *this.done = true;
                    this.body.set(None);
                    let err = "the body has no event and wants no input";
                    return Poll::Ready(Some(Err(Error::Internal(err))));
                }
            };
            let input = match ready!(body.poll_next(cx)) {
                Some(Ok(chunk)) => {
                    *this.received += chunk.len() as u64;
                    Ok(Some(chunk))
                }
                None => Ok(None),
                Some(Err(e)) => {
                    let cause: Box<dyn std::error::Error + Send + Sync> = e.into();
                    Err(Error::Body(Arc::from(cause)))
                }
            };
            match input.and_then(|input| Ok((input, this.clock.now()?))) {
                Ok((Some(chunk), now)) => this.driver.handle_bytes(chunk, now),
                Ok((None, now)) => this.driver.handle_eof(now),
                // The body failed, or cannot be read on (the clock): the session fails with a
                // reset after the events of the frames received whole; what a partial frame
                // held is lost with the body. `failure` is what the application is told.
                Err(err) => {
                    this.driver.handle_reset(err.to_string());
                    *this.failure = Some(err);
                }
            }
        }
    }
}

impl<B, E> FusedStream for BodyEvents<B>
where
    B: Stream<Item = Result<Bytes, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<B> fmt::Debug for BodyEvents<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyEvents")
            .field("driver", &self.driver)
            .field("done", &self.done)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}
