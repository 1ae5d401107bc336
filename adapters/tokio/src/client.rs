//! The client: HTTP/2 connections that open event streams, pooled per authority or one fixed
//! connection.

use crate::credentials::RequestSigning;
use crate::error::Error;
use crate::pool::{Authority, Pool, PoolConfig};
use crate::stream::{Receiver, Sender, Shared};
use crate::tls::{Roots, TlsSettings};
use crate::{
    next_connection_id, Settings, DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_STREAM_WINDOW, EVENT_STREAM_CONTENT_TYPE,
};
use bytes::Bytes;
use eventstream::session::{Role, Session, SessionConfig};
use h2::client::SendRequest;
use http::header::CONTENT_TYPE;
use http::HeaderValue;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tracing::Instrument as _;

/// Sets up clients: the pool and its TLS, flow-control windows and frame size.
///
/// [`build`](Self::build) makes a pooled [`Client`] that connects when a stream needs it, to the
/// scheme and authority of each request's URI (`https://` over TLS, `http://` over cleartext
/// HTTP/2); [`connect`](Self::connect) and [`handshake`](Self::handshake) make a client of one
/// fixed connection.
///
/// ```no_run
/// # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
/// use eventstream::session::{Mode, Role, Session, SessionConfig};
/// use eventstream_tokio::ClientBuilder;
/// use std::time::Duration;
///
/// let client = ClientBuilder::new()
///     .idle_timeout(Some(Duration::from_secs(30)))
///     .max_connections_per_authority(4)
///     .build();
/// let request = http::Request::post("https://example.com/stream").body(())?;
/// let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
/// let (sender, receiver) = client.open(request, session).await?;
/// # drop((sender, receiver));
/// # Ok(())
/// # }
/// ```
///
/// # The pool
///
/// Streams to one scheme and authority share a connection up to the server's
/// `SETTINGS_MAX_CONCURRENT_STREAMS`; then another connection opens, up to
/// [`max_connections_per_authority`](Self::max_connections_per_authority) (default
/// [8](Self::DEFAULT_MAX_CONNECTIONS_PER_AUTHORITY)), past which a new stream waits for a
/// stream to end, for at most the [open timeout](Self::open_timeout) (default
/// [30 s](Self::DEFAULT_OPEN_TIMEOUT)). A stream holds its place until our side is closed and the receiver has its
/// last item, or the stream was reset, or both halves are dropped.
///
/// A connection that received `GOAWAY` or failed takes no new stream: its open streams finish
/// (or fail, each with its error), and new ones go to another connection. It no longer counts
/// against the limit of connections. A connection without streams for the
/// [idle timeout](Self::idle_timeout) (default [90 s](Self::DEFAULT_IDLE_TIMEOUT)) is closed; so
/// are idle connections when the last clone of the client is dropped. Connecting (TCP, TLS and
/// the HTTP/2 handshake) must finish within the [connect timeout](Self::connect_timeout)
/// (default [10 s](Self::DEFAULT_CONNECT_TIMEOUT)).
///
/// Until the server's SETTINGS arrive a new connection carries one stream: the client pings
/// the server right after the handshake, and once the answer comes (the server sends its
/// SETTINGS before it) the connection takes streams up to the server's limit.
///
/// The connect, open, response and idle timeouts run on tokio's time driver: the runtime needs
/// it ([`enable_time`](tokio::runtime::Builder::enable_time), or `enable_all`, as
/// `#[tokio::main]` does) unless every timeout is turned off.
///
/// # TLS
///
/// `https://` URIs use rustls (with the ring crypto provider), TLS 1.2 or 1.3, and offer ALPN
/// `h2` alone: a server that selects another protocol or none fails the connection with
/// [`Error::NoH2`] (kind `alpn_not_h2`), never a fallback to HTTP/1.1. Servers are verified
/// against webpki's roots unless [`tls_roots`](Self::tls_roots) says otherwise, plus any
/// [`add_ca_pem`](Self::add_ca_pem) certificates; a certificate that does not verify fails the
/// connection with [`Error::Tls`] (kind `tls`).
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
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    settings: Settings,
    tls: TlsSettings,
    idle_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    open_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
    max_connections_per_authority: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            settings: Settings::default(),
            tls: TlsSettings::default(),
            idle_timeout: Some(Self::DEFAULT_IDLE_TIMEOUT),
            connect_timeout: Some(Self::DEFAULT_CONNECT_TIMEOUT),
            open_timeout: Some(Self::DEFAULT_OPEN_TIMEOUT),
            response_timeout: Some(Self::DEFAULT_RESPONSE_TIMEOUT),
            max_connections_per_authority: Self::DEFAULT_MAX_CONNECTIONS_PER_AUTHORITY,
        }
    }
}

impl ClientBuilder {
    /// The default receive window of each stream: 256 KiB (see [Windows](Self#windows)).
    pub const DEFAULT_STREAM_WINDOW: u32 = DEFAULT_STREAM_WINDOW;

    /// The default largest DATA frame the server may send: 64 KiB, the same as a server's
    /// default (see [`max_frame_size`](Self::max_frame_size)).
    pub const DEFAULT_MAX_FRAME_SIZE: u32 = DEFAULT_MAX_FRAME_SIZE;

    /// How long a pooled connection stays open without streams, by default: 90 s.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

    /// How long connecting (TCP, TLS, the HTTP/2 handshake) may take, by default: 10 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    /// How long [`Client::open`] may wait for a place for its stream, by default: 30 s.
    pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(30);

    /// How long a stream waits for its response head after [`Client::open`] returned, by
    /// default: 30 s.
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

    /// How many connections a pooled client keeps to one scheme and authority, by default: 8
    /// (with a server's usual limit of 100 or 128 streams each, hundreds of streams).
    pub const DEFAULT_MAX_CONNECTIONS_PER_AUTHORITY: usize = 8;

    /// The default settings: 256 KiB stream windows, a connection window of 129 of them
    /// (see [Windows](Self#windows)), 64 KiB frames; webpki's roots; a 90 s idle timeout, a 10 s
    /// connect timeout, at most 8 connections per authority.
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

    /// The largest DATA frame the server may send (default
    /// [64 KiB](Self::DEFAULT_MAX_FRAME_SIZE)): a batch of events (see
    /// [`Sender::feed`](crate::Sender::feed)) goes out in fewer frames, and fewer writes, than at
    /// HTTP/2's minimum of 16 KiB, while a frame holds other streams back for little longer.
    #[must_use]
    pub fn max_frame_size(mut self, size: u32) -> Self {
        self.settings.max_frame_size = size;
        self
    }

    /// The certificate authorities that `https://` servers are verified against (default
    /// [`Roots::WebPki`]); certificates of [`add_ca_pem`](Self::add_ca_pem) are trusted too.
    ///
    /// ```
    /// use eventstream_tokio::{tls::Roots, ClientBuilder};
    ///
    /// let client = ClientBuilder::new().tls_roots(Roots::Platform).build();
    /// # drop(client);
    /// ```
    #[must_use]
    pub fn tls_roots(mut self, roots: Roots) -> Self {
        self.tls.roots = roots;
        self
    }

    /// Trusts the CA certificates of `pem` (one or more `CERTIFICATE` blocks) in addition to
    /// the [roots](Self::tls_roots): a private CA, or a test's.
    ///
    /// ```no_run
    /// # fn doc() -> Result<(), Box<dyn std::error::Error>> {
    /// let ca = std::fs::read("ca.pem")?;
    /// let client = eventstream_tokio::ClientBuilder::new().add_ca_pem(&ca)?.build();
    /// # drop(client);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPem`] (kind `invalid_pem`) when `pem` holds no certificate or a
    /// malformed block.
    pub fn add_ca_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let certs = crate::tls::certificates_from_pem(pem)?;
        self.tls.extra.extend(certs);
        Ok(self)
    }

    /// A whole rustls configuration of the caller's for `https://` (client certificates, a
    /// custom verifier), used instead of the roots; its ALPN protocols are replaced by `h2`.
    #[must_use]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls.config = Some(config);
        self
    }

    /// How long a pooled connection without streams stays open (default
    /// [90 s](Self::DEFAULT_IDLE_TIMEOUT)); `None` keeps it until the server closes it or the
    /// client is dropped.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long a pooled client may take to connect: TCP, TLS and the HTTP/2 handshake (default
    /// [10 s](Self::DEFAULT_CONNECT_TIMEOUT)); past it, [`Client::open`] fails with
    /// [`Error::TimedOut`]. `None` waits as long as the operating system does.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long [`Client::open`] may take to place its stream (default
    /// [30 s](Self::DEFAULT_OPEN_TIMEOUT)): the wait for a stream below the server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (and, pooled, for a connection with room), connecting
    /// included, up to the request head handed to h2. Past it, `open` fails with
    /// [`Error::TimedOut`], so a server that allows no streams, or streams that never end,
    /// cannot hold an open forever. `None` waits as long as it takes.
    #[must_use]
    pub fn open_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.open_timeout = timeout;
        self
    }

    /// How long a stream may wait for the server's response head once [`Client::open`] returned
    /// it (default [30 s](Self::DEFAULT_RESPONSE_TIMEOUT)). Past it, the stream is reset
    /// (`RST_STREAM(CANCEL)`) and its [`Receiver`](crate::Receiver) ends with
    /// [`Error::TimedOut`]; so does a stream h2 could not even send, because the server's
    /// SETTINGS, which arrive after a first stream may go out, allow no stream. Streaming
    /// services answer at once; a server that waits for the first events before it answers
    /// needs them sent within this time. `None` waits as long as the connection lives.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The most connections a pooled client keeps open to one scheme and authority (default
    /// [8](Self::DEFAULT_MAX_CONNECTIONS_PER_AUTHORITY); at least 1). Connections that received
    /// `GOAWAY` and are finishing their streams do not count.
    #[must_use]
    pub fn max_connections_per_authority(mut self, max: usize) -> Self {
        self.max_connections_per_authority = max.max(1);
        self
    }

    /// A pooled client with these settings: it connects when a stream needs it (see
    /// [The pool](Self#the-pool)). Nothing is connected, and no certificate store is read,
    /// before the first [`Client::open`]. Clones share the pool.
    pub fn build(&self) -> Client {
        Client {
            open_timeout: self.open_timeout,
            response_timeout: self.response_timeout,
            inner: Inner::Pooled(Arc::new(Pool::new(PoolConfig {
                settings: self.settings,
                tls: self.tls.clone(),
                idle_timeout: self.idle_timeout,
                connect_timeout: self.connect_timeout,
                max_connections_per_authority: self.max_connections_per_authority,
            }))),
        }
    }

    /// Performs the HTTP/2 handshake over `io` (prior knowledge: the server must speak HTTP/2 at
    /// once, as after TLS with ALPN `h2`) and spawns the task that drives the connection: a
    /// client of this one connection, whatever the requests' URIs say.
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
        let (send_request, connection, span) = h2_handshake(&self.settings, io).await?;
        tokio::spawn(
            async move {
                match connection.await {
                    Ok(()) => tracing::debug!("connection closed"),
                    Err(e) => tracing::debug!(error = %e, "connection failed"),
                }
            }
            .instrument(span.clone()),
        );
        tracing::debug!(parent: &span, "connected");
        Ok(Client {
            inner: Inner::Fixed { send_request, span },
            open_timeout: self.open_timeout,
            response_timeout: self.response_timeout,
        })
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

/// The client side of the HTTP/2 handshake over `io`, with `settings`: the handle that opens
/// streams, the connection future to drive, and the connection's span.
pub(crate) async fn h2_handshake<T>(
    settings: &Settings,
    io: T,
) -> Result<
    (
        SendRequest<Bytes>,
        h2::client::Connection<T, Bytes>,
        tracing::Span,
    ),
    Error,
>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let id = next_connection_id();
    let span = tracing::debug_span!("h2_connection", id, side = "client");
    let connection_window = settings.connection_window_for(DEFAULT_MAX_CONCURRENT_STREAMS);
    let (send_request, connection) = h2::client::Builder::new()
        .initial_window_size(settings.stream_window)
        .initial_connection_window_size(connection_window)
        .max_frame_size(settings.max_frame_size)
        .data_frame_budget(crate::data_frame_budget(connection_window))
        .handshake::<T, Bytes>(io)
        .instrument(span.clone())
        .await
        .map_err(Error::from_h2)?;
    Ok((send_request, connection, span))
}

/// A client that opens event streams over HTTP/2: pooled connections per authority
/// ([`ClientBuilder::build`]), or one fixed connection ([`Client::connect`],
/// [`Client::handshake`]). Clone it to open streams from many tasks at once; clones share the
/// connections.
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
    inner: Inner,
    open_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
}

#[derive(Clone, Debug)]
enum Inner {
    /// One connection, whatever the URI.
    Fixed {
        send_request: SendRequest<Bytes>,
        span: tracing::Span,
    },
    /// Connections per scheme and authority.
    Pooled(Arc<Pool>),
}

/// How many connections a pooled open tries when the one it picked turns out to refuse new
/// streams (a `GOAWAY` that arrived meanwhile).
const OPEN_ATTEMPTS: usize = 3;

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

    /// A pooled client with the default settings: [`ClientBuilder::new().build()`](ClientBuilder::build).
    ///
    /// ```
    /// let client = eventstream_tokio::Client::pooled();
    /// # drop(client);
    /// ```
    pub fn pooled() -> Client {
        ClientBuilder::new().build()
    }

    /// Opens an event stream: sends the request head (its body stays open) with
    /// `content-type: application/vnd.amazon.eventstream`, and returns the two halves at once,
    /// without waiting for the response (in RPC mode the initial request goes first; the
    /// [`Receiver`] waits for the response head).
    ///
    /// The request's URI must be absolute (`https://host/path`): HTTP/2 sends its scheme and
    /// authority, and a pooled client picks (or makes) a connection by them. The method should
    /// be `POST`. A signed stream's seed is the `Signature=` of the request's `Authorization`
    /// header, which the caller computed; `session` carries the matching signer
    /// ([`open_signed`](Self::open_signed) does both). Waits while the server's limit of
    /// concurrent streams is reached (and, pooled, no further connection may open), for at most
    /// the [open timeout](ClientBuilder::open_timeout). A client of one fixed connection hands
    /// h2 one stream beyond the server's limit, which h2 holds unsent until a place frees up;
    /// the [response timeout](ClientBuilder::response_timeout) bounds that wait.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a server session, or (pooled) a URI that is not `http://` or
    /// `https://`; connecting's failure ([`Error::Connect`], [`Error::Tls`], [`Error::NoH2`],
    /// [`Error::TimedOut`]); [`Error::TimedOut`] when the open timeout passes; the connection's
    /// failure.
    pub async fn open(
        &self,
        request: http::Request<()>,
        session: Session,
    ) -> Result<(Sender, Receiver), Error> {
        let opening = self.place(request, session);
        match self.open_timeout {
            None => opening.await,
            Some(limit) => {
                tokio::time::timeout(limit, opening)
                    .await
                    .unwrap_or(Err(Error::TimedOut(
                        "opening a stream: no place for it within the open timeout",
                    )))
            }
        }
    }

    /// [`open`](Self::open) without its timeout. Dropped midway, it gives back what it took
    /// (a connection being made, a stream's place).
    async fn place(
        &self,
        request: http::Request<()>,
        session: Session,
    ) -> Result<(Sender, Receiver), Error> {
        let parts = event_stream_head(request, session.config())?;
        match &self.inner {
            Inner::Fixed { send_request, span } => {
                let request = http::Request::from_parts(parts, ());
                let head = send_head(send_request.clone(), request).await?;
                let (sender, receiver, _) = halves(session, head, span, self.response_timeout);
                Ok((sender, receiver))
            }
            Inner::Pooled(pool) => {
                let authority = Authority::of(&parts.uri)?;
                let mut attempt = 1;
                loop {
                    let picked = pool.pick(&authority).await?;
                    let request = http::Request::from_parts(parts.clone(), ());
                    match send_head(picked.send_request.clone(), request).await {
                        Ok(head) => {
                            let (sender, receiver, shared) =
                                halves(session, head, &picked.span, self.response_timeout);
                            shared.hold(Box::new(picked.lease));
                            return Ok((sender, receiver));
                        }
                        // Nothing was sent: the connection takes no new streams (a GOAWAY
                        // that arrived meanwhile), another one may.
                        Err(e) if attempt < OPEN_ATTEMPTS && pool.refuses(&picked) => {
                            tracing::debug!(parent: &picked.span, error = %e, "the connection refused a stream: another one");
                            attempt += 1;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

impl Client {
    /// Opens a SigV4-signed event stream: takes fresh credentials from `signing`'s provider,
    /// signs the request head with them at the system clock's time (adding `host` when absent,
    /// `x-amz-date`, `x-amz-security-token` for temporary credentials, `x-amz-content-sha256`
    /// for the streaming payload hash, and `authorization`; `content-type` is set first, so it
    /// is signed as sent), and opens the stream with a session of `config` whose events are
    /// signed in a chain seeded by the request's signature. See [`open`](Self::open).
    ///
    /// ```no_run
    /// # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
    /// use eventstream::session::{EventBuilder, Mode, Role, SessionConfig};
    /// use eventstream::sign::Credentials;
    /// use eventstream_tokio::{ClientBuilder, RequestSigning};
    ///
    /// let client = ClientBuilder::new().build();
    /// let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    /// let signing = RequestSigning::new(credentials, "us-east-1", "transcribe");
    /// let request = http::Request::post(
    ///     "https://transcribestreaming.us-east-1.amazonaws.com:8443/stream-transcription",
    /// )
    /// .header("x-amzn-transcribe-language-code", "en-US")
    /// .header("x-amzn-transcribe-sample-rate", "16000")
    /// .header("x-amzn-transcribe-media-encoding", "pcm")
    /// .body(())?;
    /// let config = SessionConfig::new(Role::Client, Mode::HttpBinding);
    /// let (mut sender, mut receiver) = client.open_signed(request, config, &signing).await?;
    /// let audio = vec![0u8; 3200]; // 100 ms of 16 kHz, 16-bit silence
    /// let chunk = EventBuilder::new("AudioEvent")
    ///     .content_type("application/octet-stream")
    ///     .payload(audio)
    ///     .build();
    /// sender.send(chunk).await?;
    /// sender.finish().await?;
    /// while let Some(event) = receiver.recv().await {
    ///     println!("{:?}", event?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`RequestSigning::sign`] ([`Error::Credentials`] when the provider has none), then as
    /// [`open`](Self::open).
    pub async fn open_signed(
        &self,
        request: http::Request<()>,
        config: SessionConfig,
        signing: &RequestSigning,
    ) -> Result<(Sender, Receiver), Error> {
        let mut parts = event_stream_head(request, &config)?;
        let signed = signing.sign(&mut parts).await?;
        let session = Session::new(config).with_signer(signed.event_signer());
        self.open(http::Request::from_parts(parts, ()), session)
            .await
    }
}

/// Sends the request head on the connection of `send_request`: the response to wait for and
/// the request body's stream.
async fn send_head(
    send_request: SendRequest<Bytes>,
    request: http::Request<()>,
) -> Result<(h2::client::ResponseFuture, h2::SendStream<Bytes>), Error> {
    let mut send_request = send_request.ready().await.map_err(Error::from_h2)?;
    send_request
        .send_request(request, false)
        .map_err(Error::from_h2)
}

/// The halves of a stream whose head was sent.
fn halves(
    session: Session,
    (response, send_stream): (h2::client::ResponseFuture, h2::SendStream<Bytes>),
    connection_span: &tracing::Span,
    response_timeout: Option<Duration>,
) -> (Sender, Receiver, Arc<Shared>) {
    let stream_id = send_stream.stream_id().as_u32();
    let span = tracing::debug_span!(parent: connection_span, "event_stream", stream_id);
    tracing::debug!(parent: &span, "opened");
    let shared = Shared::new(session, send_stream, span, stream_id);
    (
        Sender::new(shared.clone()),
        Receiver::client(shared.clone(), response, response_timeout),
        shared,
    )
}

/// The head of a client stream's request, `content-type: application/vnd.amazon.eventstream`
/// set (before signing, so that it is signed), once `config` is known to be a client's.
fn event_stream_head(
    request: http::Request<()>,
    config: &SessionConfig,
) -> Result<http::request::Parts, Error> {
    if config.role() != Role::Client {
        return Err(Error::Config(
            "a client stream needs a Role::Client session",
        ));
    }
    let (mut parts, ()) = request.into_parts();
    parts.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE),
    );
    Ok(parts)
}
