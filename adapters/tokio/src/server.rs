//! The server: accepts HTTP/2 connections and the event streams they carry.

use crate::error::Error;
use crate::stream::{Receiver, Sender, Shared};
use crate::{next_connection_id, Settings, EVENT_STREAM_CONTENT_TYPE};
use bytes::Bytes;
use eventstream::session::{Role, Session};
use h2::server::SendResponse;
use h2::RecvStream;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tracing::Instrument as _;

/// Sets up server connections: flow-control windows, frame size, concurrent streams.
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    settings: Settings,
    max_concurrent_streams: u32,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            settings: Settings::default(),
            max_concurrent_streams: 128,
        }
    }
}

impl ServerBuilder {
    /// The default settings: HTTP/2's initial stream window (65,535 bytes), a 1 MiB
    /// connection window, 16 KiB frames, at most 128 concurrent streams per connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// The receive window of each stream (default 65,535).
    #[must_use]
    pub fn initial_stream_window_size(mut self, size: u32) -> Self {
        self.settings.stream_window = size;
        self
    }

    /// The receive window of the whole connection (default 1 MiB).
    #[must_use]
    pub fn initial_connection_window_size(mut self, size: u32) -> Self {
        self.settings.connection_window = size;
        self
    }

    /// The largest DATA frame the client may send (default 16 KiB).
    #[must_use]
    pub fn max_frame_size(mut self, size: u32) -> Self {
        self.settings.max_frame_size = size;
        self
    }

    /// How many streams a client may have open at once on one connection (default 128). It
    /// also bounds the streams waiting in [`ServerConnection::accept`].
    #[must_use]
    pub fn max_concurrent_streams(mut self, n: u32) -> Self {
        self.max_concurrent_streams = n;
        self
    }

    /// Performs the HTTP/2 handshake over `io` (prior knowledge, or after TLS with ALPN `h2`)
    /// and spawns the task that drives the connection.
    ///
    /// The task ends when the connection closes. Once the [`ServerConnection`] is dropped it
    /// sends `GOAWAY`, refuses new streams, and ends when the streams already accepted are done.
    ///
    /// # Errors
    ///
    /// The handshake's failure.
    pub async fn handshake<T>(&self, io: T) -> Result<ServerConnection, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let id = next_connection_id();
        let span = tracing::debug_span!("h2_connection", id, side = "server");
        let connection = h2::server::Builder::new()
            .initial_window_size(self.settings.stream_window)
            .initial_connection_window_size(self.settings.connection_window)
            .max_frame_size(self.settings.max_frame_size)
            .data_frame_budget(crate::data_frame_budget(self.settings.connection_window))
            .max_concurrent_streams(self.max_concurrent_streams)
            .handshake::<T, Bytes>(io)
            .instrument(span.clone())
            .await
            .map_err(Error::from_h2)?;
        tracing::debug!(parent: &span, "accepted");
        // The queue is bounded by the concurrent-stream limit: each entry is an open stream.
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(connection, tx, span.clone()).instrument(span.clone()));
        Ok(ServerConnection { incoming: rx, span })
    }
}

/// Drives a server connection: hands each new stream to the [`ServerConnection`] until the
/// connection ends; once that handle is gone, shuts down gracefully.
async fn drive<T>(
    mut connection: h2::server::Connection<T, Bytes>,
    tx: mpsc::UnboundedSender<Result<Incoming, Error>>,
    span: tracing::Span,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let closed_tx = tx.clone();
    let mut handle_gone = pin!(closed_tx.closed());
    let mut shutting_down = false;
    poll_fn(|cx: &mut Context<'_>| loop {
        if !shutting_down && handle_gone.as_mut().poll(cx).is_ready() {
            tracing::debug!("connection handle dropped: shutting down gracefully");
            connection.graceful_shutdown();
            shutting_down = true;
        }
        match connection.poll_accept(cx) {
            Poll::Ready(Some(Ok((request, respond)))) => {
                let (request, body) = request.into_parts();
                let stream_id = respond.stream_id().as_u32();
                let stream_span =
                    tracing::debug_span!(parent: &span, "event_stream", stream_id);
                tracing::debug!(parent: &stream_span, method = %request.method, uri = %request.uri, "new stream");
                let incoming = Incoming {
                    request,
                    body,
                    respond,
                    span: stream_span,
                    stream_id,
                };
                // When the handle is gone the stream is dropped, and h2 refuses it.
                let _ = tx.send(Ok(incoming));
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::debug!(error = %e, "connection failed");
                let _ = tx.send(Err(Error::from_h2(e)));
                return Poll::Ready(());
            }
            Poll::Ready(None) => {
                tracing::debug!("connection closed");
                return Poll::Ready(());
            }
            Poll::Pending => return Poll::Pending,
        }
    })
    .await;
}

/// An accepted HTTP/2 connection: a source of incoming event streams.
///
/// Its task runs on its own; streams keep working while the application handles others. Drop
/// it to stop accepting: the connection then sends `GOAWAY` and closes once the accepted
/// streams are done.
pub struct ServerConnection {
    incoming: mpsc::UnboundedReceiver<Result<Incoming, Error>>,
    span: tracing::Span,
}

impl ServerConnection {
    /// Performs the handshake over `io` with the default settings; see
    /// [`ServerBuilder::handshake`].
    ///
    /// # Errors
    ///
    /// As [`ServerBuilder::handshake`].
    pub async fn handshake<T>(io: T) -> Result<ServerConnection, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        ServerBuilder::new().handshake(io).await
    }

    /// The next stream the client opened; `None` once the connection is closed. A connection
    /// that failed yields its error once, then `None`.
    pub async fn accept(&mut self) -> Option<Result<Incoming, Error>> {
        self.incoming.recv().await
    }

    /// As [`accept`](Self::accept), as a poll function.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming, Error>>> {
        self.incoming.poll_recv(cx)
    }
}

impl fmt::Debug for ServerConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConnection")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

/// A stream the client opened: its request head, to be accepted as an event stream (or
/// rejected with a status).
///
/// Dropping it without answering resets the stream (`RST_STREAM(CANCEL)`).
pub struct Incoming {
    request: http::request::Parts,
    body: RecvStream,
    respond: SendResponse<Bytes>,
    span: tracing::Span,
    stream_id: u32,
}

impl Incoming {
    /// The request head: method, URI, headers (`Authorization` carries a signed stream's seed).
    pub fn request(&self) -> &http::request::Parts {
        &self.request
    }

    /// The HTTP/2 stream id.
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// Whether the request's `content-type` is `application/vnd.amazon.eventstream` (parameters
    /// and case aside).
    pub fn is_event_stream(&self) -> bool {
        self.request
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(EVENT_STREAM_CONTENT_TYPE))
    }

    /// Accepts the stream: answers `200 OK` with `content-type: application/vnd.amazon.eventstream`
    /// at once, and returns the halves: a [`Sender`] for the response body, a [`Receiver`] for
    /// the request body. `session` must be a server session; give it a verifier (for example a
    /// `SigV4Verifier` seeded from [`seed_from_authorization`](eventstream::sign::seed_from_authorization)
    /// of the request's `Authorization` header) to check a signed stream.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a client session, or the stream's failure.
    pub fn accept(self, session: Session) -> Result<(Sender, Receiver), Error> {
        let mut response = http::Response::new(());
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE),
        );
        self.accept_with(response, session)
    }

    /// As [`accept`](Self::accept), with a response head of the caller's (its status should be
    /// 200).
    ///
    /// # Errors
    ///
    /// As [`accept`](Self::accept).
    pub fn accept_with(
        mut self,
        response: http::Response<()>,
        session: Session,
    ) -> Result<(Sender, Receiver), Error> {
        if session.config().role() != Role::Server {
            return Err(Error::Config(
                "a server stream needs a Role::Server session",
            ));
        }
        let send_stream = self
            .respond
            .send_response(response, false)
            .map_err(Error::from_h2)?;
        tracing::debug!(parent: &self.span, "accepted");
        let shared = Shared::new(session, send_stream, self.span, self.stream_id);
        Ok((
            Sender::new(shared.clone()),
            Receiver::server(shared, self.body),
        ))
    }

    /// Refuses the stream with `status` and a short `text/plain` body (for example 405 or 415).
    /// The request body is not read; h2 then resets the request side with `NO_ERROR`, as HTTP/2
    /// allows after a complete response.
    ///
    /// # Errors
    ///
    /// The stream's failure.
    pub fn reject(mut self, status: StatusCode, body: impl Into<Bytes>) -> Result<(), Error> {
        let body = body.into();
        let mut response = http::Response::new(());
        *response.status_mut() = status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        tracing::debug!(parent: &self.span, %status, "rejected");
        let mut send = self
            .respond
            .send_response(response, body.is_empty())
            .map_err(Error::from_h2)?;
        if !body.is_empty() {
            // A short body: h2 buffers what exceeds the window until the client reads.
            send.send_data(body, true).map_err(Error::from_h2)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("stream_id", &self.stream_id)
            .field("method", &self.request.method)
            .field("uri", &self.request.uri)
            .finish_non_exhaustive()
    }
}
