//! The client: an HTTP/2 connection that opens event streams.

use crate::error::Error;
use crate::stream::{Receiver, Sender, Shared};
use crate::{
    next_connection_id, Settings, DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_STREAM_WINDOW,
    EVENT_STREAM_CONTENT_TYPE,
};
use bytes::Bytes;
use eventstream::session::{Role, Session};
use http::header::CONTENT_TYPE;
use http::HeaderValue;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tracing::Instrument as _;

/// Sets up client connections: flow-control windows and frame size.
///
/// # Windows
///
/// Each stream's receive window defaults to [256 KiB](Self::DEFAULT_STREAM_WINDOW): what the
/// server may send on a stream ahead of the application, so larger windows carry more per round
/// trip and cost that much memory per stream that is not read. The connection's window defaults
/// to 129 stream windows (32.25 MiB): the server's usual limit of 128 concurrent streams may
/// each hold a whole window unread and one window is still free, so streams whose application
/// does not read cannot stop one that does. Opening more streams than that on one connection,
/// or setting a smaller connection window, gives that guarantee up. As at the server, a
/// connection whose server leaves more than about 65,536 DATA frames of under 256 bytes unread
/// by the application is closed with `GOAWAY(ENHANCE_YOUR_CALM)`: h2 keeps some 560 bytes of
/// bookkeeping for each.
///
/// ```no_run
/// # async fn doc() -> Result<(), eventstream_tokio::Error> {
/// use eventstream_tokio::ClientBuilder;
///
/// let client = ClientBuilder::new()
///     .initial_stream_window_size(256 * 1024)
///     .connect("127.0.0.1:8080")
///     .await?;
/// # drop(client);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClientBuilder {
    settings: Settings,
}

impl ClientBuilder {
    /// The default receive window of each stream: 256 KiB (see [Windows](Self#windows)).
    pub const DEFAULT_STREAM_WINDOW: u32 = DEFAULT_STREAM_WINDOW;

    /// The default settings: 256 KiB stream windows, a connection window of 129 of them
    /// (see [Windows](Self#windows)), 16 KiB frames.
    pub fn new() -> Self {
        Self::default()
    }

    /// The receive window of each stream: how many bytes the server may send on a stream that
    /// the application has not consumed (default [256 KiB](Self::DEFAULT_STREAM_WINDOW)). Unless
    /// it is set too, the connection window follows: 129 times this.
    #[must_use]
    pub fn initial_stream_window_size(mut self, size: u32) -> Self {
        self.settings.stream_window = size;
        self
    }

    /// The receive window of the whole connection (default: 129 stream windows, for 128
    /// concurrent streams plus one; see [Windows](Self#windows)). A window smaller than that
    /// lets streams that are not read stop the others.
    #[must_use]
    pub fn initial_connection_window_size(mut self, size: u32) -> Self {
        self.settings.connection_window = Some(size);
        self
    }

    /// The largest DATA frame the server may send (default 16 KiB).
    #[must_use]
    pub fn max_frame_size(mut self, size: u32) -> Self {
        self.settings.max_frame_size = size;
        self
    }

    /// Performs the HTTP/2 handshake over `io` (prior knowledge: the server must speak HTTP/2 at
    /// once, as after TLS with ALPN `h2`) and spawns the task that drives the connection.
    ///
    /// The task ends when the connection closes, or once the [`Client`] (all its clones) and
    /// every stream opened on it are gone.
    ///
    /// # Errors
    ///
    /// The handshake's failure.
    pub async fn handshake<T>(&self, io: T) -> Result<Client, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let id = next_connection_id();
        let span = tracing::debug_span!("h2_connection", id, side = "client");
        let connection_window = self
            .settings
            .connection_window_for(DEFAULT_MAX_CONCURRENT_STREAMS);
        let (send_request, connection) = h2::client::Builder::new()
            .initial_window_size(self.settings.stream_window)
            .initial_connection_window_size(connection_window)
            .max_frame_size(self.settings.max_frame_size)
            .data_frame_budget(crate::data_frame_budget(connection_window))
            .handshake::<T, Bytes>(io)
            .instrument(span.clone())
            .await
            .map_err(Error::from_h2)?;
        let task_span = span.clone();
        tokio::spawn(
            async move {
                match connection.await {
                    Ok(()) => tracing::debug!("connection closed"),
                    Err(e) => tracing::debug!(error = %e, "connection failed"),
                }
            }
            .instrument(task_span),
        );
        tracing::debug!(parent: &span, "connected");
        Ok(Client { send_request, span })
    }

    /// Connects over TCP (no TLS) and performs the handshake; see
    /// [`handshake`](Self::handshake).
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when the TCP connection fails, or the handshake's failure.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> Result<Client, Error> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| Error::Connect(Arc::new(e)))?;
        // Events are small and latency matters more than packet count.
        tcp.set_nodelay(true)
            .map_err(|e| Error::Connect(Arc::new(e)))?;
        self.handshake(tcp).await
    }
}

/// An HTTP/2 client connection that opens event streams; clone it to open streams from many
/// tasks at once over the one connection.
///
/// ```no_run
/// # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
/// use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig};
/// use eventstream_tokio::Client;
///
/// let client = Client::connect("127.0.0.1:8080").await?;
/// let request = http::Request::post("http://127.0.0.1:8080/stream").body(())?;
/// let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
/// let (mut sender, mut receiver) = client.open(request, session).await?;
/// sender.send(EventBuilder::new("Ping").payload(&b"1"[..]).build()).await?;
/// sender.finish().await?;
/// while let Some(event) = receiver.recv().await {
///     println!("{:?}", event?);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    send_request: h2::client::SendRequest<Bytes>,
    span: tracing::Span,
}

impl Client {
    /// Connects over TCP with the default settings; see [`ClientBuilder::connect`].
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::connect`].
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Client, Error> {
        ClientBuilder::new().connect(addr).await
    }

    /// Performs the handshake over `io` with the default settings; see
    /// [`ClientBuilder::handshake`].
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::handshake`].
    pub async fn handshake<T>(io: T) -> Result<Client, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        ClientBuilder::new().handshake(io).await
    }

    /// Opens an event stream: sends the request head (its body stays open) with
    /// `content-type: application/vnd.amazon.eventstream`, and returns the two halves at once,
    /// without waiting for the response (in RPC mode the initial request goes first; the
    /// [`Receiver`] waits for the response head).
    ///
    /// The request's URI must be absolute (`http://host/path`): HTTP/2 sends its scheme and
    /// authority. The method should be `POST`. A signed stream's seed is the `Signature=` of the
    /// request's `Authorization` header, which the caller computed; `session` carries the
    /// matching signer. Waits while the server's limit of concurrent streams is reached.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a server session, or the connection's failure.
    pub async fn open(
        &self,
        request: http::Request<()>,
        session: Session,
    ) -> Result<(Sender, Receiver), Error> {
        if session.config().role() != Role::Client {
            return Err(Error::Config(
                "a client stream needs a Role::Client session",
            ));
        }
        let (mut parts, ()) = request.into_parts();
        parts.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE),
        );
        let request = http::Request::from_parts(parts, ());
        let mut send_request = self
            .send_request
            .clone()
            .ready()
            .await
            .map_err(Error::from_h2)?;
        let (response, send_stream) = send_request
            .send_request(request, false)
            .map_err(Error::from_h2)?;
        let stream_id = send_stream.stream_id().as_u32();
        let span = tracing::debug_span!(parent: &self.span, "event_stream", stream_id);
        tracing::debug!(parent: &span, "opened");
        let shared = Shared::new(session, send_stream, span, stream_id);
        Ok((
            Sender::new(shared.clone()),
            Receiver::client(shared, response),
        ))
    }
}
