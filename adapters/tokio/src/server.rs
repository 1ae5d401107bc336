//! The server: accepts HTTP/2 connections and the event streams they carry.

use crate::budget::{Budgets, Holding, Pool};
use crate::clock::{Clock, TimeSource};
use crate::error::Error;
use crate::stream::{Receiver, Sender, Shared};
use crate::{
    next_connection_id, Settings, DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_STREAM_WINDOW, EVENT_STREAM_CONTENT_TYPE,
};
use bytes::Bytes;
use eventstream::session::{Role, Session};
use eventstream::sign::{RequestVerifier, SecretStore, VerifiedRequest};
use h2::server::SendResponse;
use h2::{Ping, PingPong, RecvStream};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, EXPECT};
use http::{HeaderValue, StatusCode};
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tracing::Instrument as _;

/// Sets up server connections: flow-control windows, frame size, concurrent streams, and the
/// deadlines that keep a server from holding dead or idle connections forever.
///
/// # Timeouts
///
/// | what | default | what happens |
/// |---|---|---|
/// | [`handshake_timeout`](Self::handshake_timeout) | 10 s | the client's connection preface (after TLS, with [`handshake_tls`](Self::handshake_tls): the TLS handshake and the preface together) has not arrived: the handshake fails with [`Error::TimedOut`] and the socket is closed |
/// | [`idle_timeout`](Self::idle_timeout) | 60 s | the connection had no open stream for that long: `GOAWAY(NO_ERROR)`, then it closes (at the latest [`keepalive_timeout`](Self::keepalive_timeout) later, if the client does not acknowledge) |
/// | [`keepalive`](Self::keepalive) | every 30 s | a `PING`; unanswered within [`keepalive_timeout`](Self::keepalive_timeout) (20 s), the peer is taken for dead and the connection is closed: its streams fail with [`Error::ConnectionLost`], and [`ServerConnection::accept`] yields [`Error::TimedOut`] |
///
/// A stream whose client stops sending is not ended by any of these: an event stream may be
/// quiet for minutes (some services end idle streams themselves, and that is not an error),
/// so a stream stays open as long as its peer answers the keepalive `PING`s. A peer that is
/// gone (its host down, the network cut, without a FIN or RST) stops answering, and then its
/// connection and all its streams are ended.
///
/// The timers run on tokio's time driver: the runtime needs it
/// ([`enable_time`](tokio::runtime::Builder::enable_time), or `enable_all`, as `#[tokio::main]`
/// does) unless every timeout is turned off.
///
/// # Windows
///
/// Each stream's receive window defaults to [256 KiB](Self::DEFAULT_STREAM_WINDOW): what a
/// client may send on a stream ahead of the application, so larger windows carry more per round
/// trip (hyper uses 2 MiB) and cost that much memory per stream that is not read. The
/// connection's window is never smaller than `(max_concurrent_streams + 1) × stream window`
/// (32.25 MiB by default, up to HTTP/2's largest window): every stream the client may open can
/// hold a whole window unread and one window is still free, so streams whose application does
/// not read (or whose echo waits for a client that does not read) cannot stop one that does.
/// A smaller [`initial_connection_window_size`](Self::initial_connection_window_size) is raised
/// to that; lower the stream window or the stream limit to use less.
///
/// h2 keeps some 560 bytes of bookkeeping for each DATA frame it buffers, which a window full of
/// tiny frames would multiply many times over: a connection that leaves more than about 65,536
/// DATA frames of under 256 bytes unread is closed with `GOAWAY(ENHANCE_YOUR_CALM)`. Larger
/// frames, and streams whose application reads, never come near it.
///
/// # Memory budget
///
/// A stream's session buffers the frame it is assembling, and the stream releases the window
/// for those bytes so that frames larger than the window can arrive. Those buffers are charged
/// to two budgets: [`max_connection_buffer`](Self::max_connection_buffer) (64 MiB by default)
/// for each connection, and [`max_server_buffer`](Self::max_server_buffer) (512 MiB) for every
/// connection this builder (or a clone of it) handshakes. A frame stays charged until the
/// application has taken its message and come back for the next one. Past either budget a
/// stream stops receiving: it feeds nothing more to its session and releases no window, so its
/// client is held back by flow control, until the budget frees up (another stream's frame was
/// delivered, a stream ended); a reset, an abort or a lost connection still ends it at once.
/// Whole frames that arrive in one piece cost nothing: flow control bounds them already.
///
/// So that streams that each hold part of a full budget cannot wait on each other forever, one
/// stream at a time, one that is in the middle of a frame, may go past the budget until that
/// frame is delivered; this is also how a single frame larger than the whole budget gets
/// through. A server's memory for frames is thus at most the budget plus one frame (at most the
/// frame limit of its sessions), plus the windows.
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    settings: Settings,
    max_concurrent_streams: u32,
    /// Each connection's budget of buffered frame bytes.
    max_connection_buffer: usize,
    /// The budget shared by every connection handshaken with this builder and its clones.
    server_budget: Arc<Pool>,
    timeouts: Timeouts,
    /// The clock of request verification and of the streams' `:date` checks.
    time: TimeSource,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            settings: Settings::default(),
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            max_connection_buffer: ServerBuilder::DEFAULT_MAX_CONNECTION_BUFFER,
            server_budget: Pool::new(ServerBuilder::DEFAULT_MAX_SERVER_BUFFER),
            timeouts: Timeouts::default(),
            time: TimeSource::default(),
        }
    }
}

/// The deadlines of a server connection.
#[derive(Clone, Copy, Debug)]
struct Timeouts {
    handshake: Option<Duration>,
    idle: Option<Duration>,
    keepalive: Option<Duration>,
    keepalive_timeout: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: Some(ServerBuilder::DEFAULT_HANDSHAKE_TIMEOUT),
            idle: Some(ServerBuilder::DEFAULT_IDLE_TIMEOUT),
            keepalive: Some(ServerBuilder::DEFAULT_KEEPALIVE_INTERVAL),
            keepalive_timeout: ServerBuilder::DEFAULT_KEEPALIVE_TIMEOUT,
        }
    }
}

impl ServerBuilder {
    /// The default [`handshake_timeout`](Self::handshake_timeout): 10 seconds, ample for a
    /// client that means it, short enough that silent sockets do not pile up.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default [`idle_timeout`](Self::idle_timeout): 60 seconds, longer than the idle
    /// lifetime of the connection pools of common HTTP clients, which then close first.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default [`keepalive`](Self::keepalive) interval: 30 seconds, frequent enough to find
    /// a dead peer within a minute, at the cost of a 17-byte frame each way.
    pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
    /// The default [`keepalive_timeout`](Self::keepalive_timeout): 20 seconds, many round
    /// trips even on a bad network.
    pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

    /// The default receive window of each stream: 256 KiB (see [Windows](Self#windows)).
    pub const DEFAULT_STREAM_WINDOW: u32 = DEFAULT_STREAM_WINDOW;
    /// The default largest DATA frame the client may send: 64 KiB, the same as a client's
    /// default (see [`max_frame_size`](Self::max_frame_size)).
    pub const DEFAULT_MAX_FRAME_SIZE: u32 = DEFAULT_MAX_FRAME_SIZE;
    /// The default limit on concurrent streams per connection: 128.
    pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = DEFAULT_MAX_CONCURRENT_STREAMS;
    /// The default [`max_connection_buffer`](Self::max_connection_buffer): 64 MiB, room for two
    /// frames at the default 24 MiB payload limit and many smaller ones.
    pub const DEFAULT_MAX_CONNECTION_BUFFER: usize = 64 << 20;
    /// The default [`max_server_buffer`](Self::max_server_buffer): 512 MiB, so that a small
    /// machine survives eight connections that each fill their budget.
    pub const DEFAULT_MAX_SERVER_BUFFER: usize = 512 << 20;

    /// The default settings: 256 KiB stream windows, a connection window of 129 of them, 64 KiB
    /// frames, at most 128 concurrent streams per connection (see [Windows](Self#windows)),
    /// budgets of 64 MiB of buffered frames per connection and 512 MiB in all (see
    /// [Memory budget](Self#memory-budget)), and the default timeouts (see
    /// [Timeouts](Self#timeouts)).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long [`handshake`](Self::handshake) waits for the client's connection preface, and
    /// [`handshake_tls`](Self::handshake_tls) for the TLS handshake and the preface together
    /// (default [10 s](Self::DEFAULT_HANDSHAKE_TIMEOUT)); `None` waits forever.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeouts.handshake = timeout;
        self
    }

    /// How long a connection may have no open stream before the server closes it with
    /// `GOAWAY(NO_ERROR)` (default [60 s](Self::DEFAULT_IDLE_TIMEOUT)); `None` keeps idle
    /// connections open. Streams accepted but not yet answered count as open.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeouts.idle = timeout;
        self
    }

    /// How often the server sends a keepalive `PING` (default every
    /// [30 s](Self::DEFAULT_KEEPALIVE_INTERVAL)); `None` sends none, and then a peer that
    /// vanished without closing its connection holds that connection's streams until the
    /// operating system gives up on the socket.
    #[must_use]
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.timeouts.keepalive = interval;
        self
    }

    /// How long the peer has to answer a keepalive `PING`, and to acknowledge the `GOAWAY` of an
    /// idle connection (default [20 s](Self::DEFAULT_KEEPALIVE_TIMEOUT)). Past it the
    /// connection is closed.
    #[must_use]
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.keepalive_timeout = timeout;
        self
    }

    /// The receive window of each stream (default [256 KiB](Self::DEFAULT_STREAM_WINDOW)). The
    /// connection window grows with it (see [Windows](Self#windows)).
    #[must_use]
    pub fn initial_stream_window_size(mut self, size: u32) -> Self {
        self.settings.stream_window = size;
        self
    }

    /// The receive window of the whole connection: at least `(max_concurrent_streams + 1) ×
    /// stream window`, which is also the default (see [Windows](Self#windows)); a smaller
    /// size is raised to it.
    #[must_use]
    pub fn initial_connection_window_size(mut self, size: u32) -> Self {
        self.settings.connection_window = Some(size);
        self
    }

    /// The connection window the handshake announces: the configured one, raised to what the
    /// concurrent streams need (see [Windows](Self#windows)).
    fn connection_window(&self) -> u32 {
        let fair = self
            .settings
            .fair_connection_window(self.max_concurrent_streams);
        self.settings
            .connection_window_for(self.max_concurrent_streams)
            .max(fair)
    }

    /// The most bytes of frames being assembled that one connection's streams may buffer
    /// (default [64 MiB](Self::DEFAULT_MAX_CONNECTION_BUFFER)); see
    /// [Memory budget](Self#memory-budget).
    #[must_use]
    pub fn max_connection_buffer(mut self, bytes: usize) -> Self {
        self.max_connection_buffer = bytes;
        self
    }

    /// The most bytes of frames being assembled that the streams of all the connections
    /// handshaken with this builder may buffer together (default
    /// [512 MiB](Self::DEFAULT_MAX_SERVER_BUFFER)); see [Memory budget](Self#memory-budget).
    ///
    /// The budget is shared by this builder and the clones made of it after this call (a
    /// [`Mirror`](crate::mirror::Mirror) clones its builder for each connection), and starts
    /// empty: set it before handshaking.
    #[must_use]
    pub fn max_server_buffer(mut self, bytes: usize) -> Self {
        self.server_budget = Pool::new(bytes);
        self
    }

    /// The bytes of frames being assembled that the streams of this builder's connections hold
    /// now, charged against [`max_server_buffer`](Self::max_server_buffer) (which it may exceed
    /// by one frame: see [Memory budget](Self#memory-budget)).
    pub fn buffered_bytes(&self) -> usize {
        self.server_budget.used()
    }

    /// The largest DATA frame the client may send (default
    /// [64 KiB](Self::DEFAULT_MAX_FRAME_SIZE)): a batch of events goes out in fewer frames, and
    /// fewer writes, than at HTTP/2's minimum of 16 KiB, while a frame holds other streams back
    /// for little longer.
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

    /// Where the server takes the time from (the system clock by default): the clock of
    /// [`Incoming::verify`] (a request's `x-amz-date` against the skew window) and of every
    /// stream the connections accept (each event's `:date` against its verifier's window, the
    /// signing time of what the server signs).
    ///
    /// Tests use it to move time without waiting: a request replayed after its window, an event
    /// dated too far from the server's clock.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use std::time::{Duration, SystemTime};
    ///
    /// // The system clock, moved forward by `ahead` seconds.
    /// let ahead = Arc::new(AtomicU64::new(0));
    /// let offset = ahead.clone();
    /// let server = eventstream_tokio::ServerBuilder::new().clock(move || {
    ///     SystemTime::now() + Duration::from_secs(offset.load(Ordering::Relaxed))
    /// });
    /// ahead.store(600, Ordering::Relaxed); // ten minutes later, for every connection of `server`
    /// # drop(server);
    /// ```
    #[must_use]
    pub fn clock(mut self, now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.time = TimeSource::from_fn(now);
        self
    }

    /// Performs the HTTP/2 handshake over `io` (prior knowledge, or after TLS with ALPN `h2`)
    /// and spawns the task that drives the connection.
    ///
    /// The task ends when the connection closes, is idle too long, or its peer stops answering
    /// `PING`s (see [Timeouts](Self#timeouts)). Once the [`ServerConnection`] is dropped it
    /// sends `GOAWAY`, refuses new streams, and ends when the streams already accepted are done.
    ///
    /// # Errors
    ///
    /// The handshake's failure, or [`Error::TimedOut`] when the client's preface did not come
    /// within the [handshake timeout](Self::handshake_timeout) (`io` is then dropped).
    pub async fn handshake<T>(&self, io: T) -> Result<ServerConnection, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.handshake_within(io, self.timeouts.handshake).await
    }

    /// Performs the TLS handshake over `io` with `tls`, then the HTTP/2 handshake over the TLS
    /// stream, as [`handshake`](Self::handshake) does; the
    /// [handshake timeout](Self::handshake_timeout) bounds both together.
    ///
    /// `tls` should select ALPN `h2`, as
    /// [`server_config_from_pem`](crate::tls::server_config_from_pem)'s does; a client that
    /// offers no ALPN is served too (HTTP/2 with prior knowledge over TLS).
    ///
    /// ```no_run
    /// # async fn doc(cert: &[u8], key: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    /// use eventstream_tokio::ServerBuilder;
    ///
    /// let tls = eventstream_tokio::tls::server_config_from_pem(cert, key)?;
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
    /// let server = ServerBuilder::new();
    /// loop {
    ///     let (tcp, _) = listener.accept().await?;
    ///     let (server, tls) = (server.clone(), tls.clone());
    ///     tokio::spawn(async move {
    ///         // The handshakes run in the connection's task: a slow client holds up no other.
    ///         let Ok(mut connection) = server.handshake_tls(tls, tcp).await else { return };
    ///         while let Some(Ok(incoming)) = connection.accept().await {
    ///             // ... verify, accept and serve `incoming`
    /// #           drop(incoming);
    ///         }
    ///     });
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] when the TLS handshake fails (the client refused the certificate, offered
    /// ALPN without `h2`, or does not speak TLS), [`Error::ConnectionLost`] when the connection
    /// broke during it, [`Error::Config`] when `tls` selected an ALPN protocol other than `h2`,
    /// [`Error::TimedOut`] past the handshake timeout, or the HTTP/2 handshake's failure.
    pub async fn handshake_tls<T>(
        &self,
        tls: Arc<rustls::ServerConfig>,
        io: T,
    ) -> Result<ServerConnection, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let started = Instant::now();
        let accept = tokio_rustls::TlsAcceptor::from(tls).accept(io);
        let accepted = match self.timeouts.handshake {
            None => accept.await,
            Some(limit) => match tokio::time::timeout(limit, accept).await {
                Ok(done) => done,
                Err(_) => {
                    tracing::debug!(?limit, "no TLS handshake in time");
                    return Err(Error::TimedOut(
                        "the client did not complete the TLS handshake in time",
                    ));
                }
            },
        };
        let stream = accepted.map_err(tls_failure)?;
        match stream.get_ref().1.alpn_protocol() {
            None | Some(crate::tls::ALPN_H2) => {}
            Some(_) => {
                return Err(Error::Config(
                    "the TLS configuration selected an ALPN protocol other than h2",
                ))
            }
        }
        let left = self
            .timeouts
            .handshake
            .map(|limit| limit.saturating_sub(started.elapsed()));
        self.handshake_within(stream, left).await
    }

    /// [`handshake`](Self::handshake) with a preface deadline of `limit`.
    async fn handshake_within<T>(
        &self,
        io: T,
        limit: Option<Duration>,
    ) -> Result<ServerConnection, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let id = next_connection_id();
        let span = tracing::debug_span!("h2_connection", id, side = "server");
        let connection_window = self.connection_window();
        let handshake = h2::server::Builder::new()
            .initial_window_size(self.settings.stream_window)
            .initial_connection_window_size(connection_window)
            .max_frame_size(self.settings.max_frame_size)
            .data_frame_budget(crate::data_frame_budget(connection_window))
            .max_concurrent_streams(self.max_concurrent_streams)
            .handshake::<T, Bytes>(io)
            .instrument(span.clone());
        let connection = match limit {
            None => handshake.await,
            Some(limit) => match tokio::time::timeout(limit, handshake).await {
                Ok(done) => done,
                Err(_) => {
                    tracing::debug!(parent: &span, ?limit, "no connection preface in time");
                    return Err(Error::TimedOut(
                        "the client did not complete the HTTP/2 handshake in time",
                    ));
                }
            },
        }
        .map_err(Error::from_h2)?;
        tracing::debug!(parent: &span, "accepted");
        // The queue is bounded by the concurrent-stream limit: each entry is an open stream.
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(connection, tx, span.clone(), self.timeouts).instrument(span.clone()));
        let budgets = Budgets {
            connection: Pool::new(self.max_connection_buffer),
            server: self.server_budget.clone(),
        };
        Ok(ServerConnection {
            incoming: rx,
            span,
            budgets,
            time: self.time.clone(),
        })
    }
}

/// The error of a failed TLS handshake: rustls's own, or the transport's.
fn tls_failure(e: std::io::Error) -> Error {
    let is_tls = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    if is_tls {
        if let Some(inner) = e.into_inner() {
            if let Ok(tls) = inner.downcast::<rustls::Error>() {
                return Error::Tls(Arc::new(*tls));
            }
        }
        return Error::Internal("a TLS error was lost on the way");
    }
    Error::ConnectionLost(Arc::new(e))
}

/// Drives a server connection: hands each new stream to the [`ServerConnection`] until the
/// connection ends; once that handle is gone, shuts down gracefully. Closes the connection when
/// it stays idle, or when its peer stops answering keepalive `PING`s.
async fn drive<T>(
    mut connection: h2::server::Connection<T, Bytes>,
    tx: mpsc::UnboundedSender<Result<Incoming, Error>>,
    span: tracing::Span,
    timeouts: Timeouts,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let closed_tx = tx.clone();
    let mut handle_gone = pin!(closed_tx.closed());
    let mut shutting_down = false;
    let mut idle = timeouts
        .idle
        .map(|limit| IdleTimer::new(limit, timeouts.keepalive_timeout));
    let mut keepalive = match (timeouts.keepalive, connection.ping_pong()) {
        (Some(interval), Some(ping_pong)) => Some(Keepalive::new(
            ping_pong,
            interval,
            timeouts.keepalive_timeout,
        )),
        _ => None,
    };
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
                    budgets: None,
                    time: TimeSource::default(),
                };
                // When the handle is gone the stream is dropped, and h2 refuses it.
                let _ = tx.send(Ok(incoming));
                continue;
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
            Poll::Pending => {}
        }
        // The connection has nothing more for now: the timers decide whether to wait.
        if let Some(keepalive) = keepalive.as_mut() {
            match keepalive.poll(cx) {
                KeepaliveAction::Wait => {}
                // Polling the connection again writes the PING.
                KeepaliveAction::PingSent => continue,
                KeepaliveAction::Dead(limit) => {
                    tracing::debug!(
                        "no answer to a keepalive PING within {limit:?}: the peer is gone, \
                         closing the connection"
                    );
                    let _ = tx.send(Err(Error::TimedOut(
                        "the client did not answer a keepalive PING in time",
                    )));
                    return Poll::Ready(());
                }
            }
        }
        if let Some(idle) = idle.as_mut() {
            match idle.poll(cx, connection.has_streams()) {
                IdleAction::Wait => {}
                IdleAction::GoAway(limit) => {
                    tracing::debug!("no open stream for {limit:?}: closing with GOAWAY");
                    connection.graceful_shutdown();
                    shutting_down = true;
                    // Polling the connection again writes the GOAWAY.
                    continue;
                }
                IdleAction::Close(limit) => {
                    tracing::debug!(
                        "the idle connection's GOAWAY was not acknowledged within {limit:?}: \
                         closing it"
                    );
                    return Poll::Ready(());
                }
            }
        }
        return Poll::Pending;
    })
    .await;
}

/// A deadline `after` from now (far in the future when that overflows).
fn deadline(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

/// Where an idle connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdleState {
    /// Streams are open: no timer.
    Busy,
    /// No stream is open: the idle timer runs.
    Idle,
    /// GOAWAY was sent and no stream is open: the close deadline runs.
    GoingAway,
    /// GOAWAY was sent, but streams that raced it are open: h2 closes the connection when they
    /// are done.
    Draining,
}

/// What the idle timer asks of the connection.
#[derive(Debug)]
enum IdleAction {
    /// Nothing yet.
    Wait,
    /// The connection was idle for this long: send GOAWAY.
    GoAway(Duration),
    /// The GOAWAY was not acknowledged within this grace: close the connection.
    Close(Duration),
}

/// Closes a connection that has had no open stream for a while.
struct IdleTimer {
    limit: Duration,
    /// How long the client has to acknowledge the GOAWAY (h2 waits for a PING's answer).
    grace: Duration,
    state: IdleState,
    sleep: Pin<Box<Sleep>>,
}

impl IdleTimer {
    fn new(limit: Duration, grace: Duration) -> IdleTimer {
        IdleTimer {
            limit,
            grace,
            state: IdleState::Busy,
            sleep: Box::pin(tokio::time::sleep_until(deadline(limit))),
        }
    }

    /// Updates the state with whether the connection has open streams, and polls the deadline
    /// that applies.
    fn poll(&mut self, cx: &mut Context<'_>, has_streams: bool) -> IdleAction {
        match (self.state, has_streams) {
            (IdleState::Busy, true) | (IdleState::Draining, true) => return IdleAction::Wait,
            (IdleState::Busy, false) => {
                self.sleep.as_mut().reset(deadline(self.limit));
                self.state = IdleState::Idle;
            }
            (IdleState::Idle, true) => {
                self.state = IdleState::Busy;
                return IdleAction::Wait;
            }
            (IdleState::GoingAway, true) => {
                self.state = IdleState::Draining;
                return IdleAction::Wait;
            }
            (IdleState::Draining, false) => {
                self.sleep.as_mut().reset(deadline(self.grace));
                self.state = IdleState::GoingAway;
            }
            (IdleState::Idle, false) | (IdleState::GoingAway, false) => {}
        }
        if self.sleep.as_mut().poll(cx).is_pending() {
            return IdleAction::Wait;
        }
        if self.state == IdleState::Idle {
            self.sleep.as_mut().reset(deadline(self.grace));
            self.state = IdleState::GoingAway;
            IdleAction::GoAway(self.limit)
        } else {
            IdleAction::Close(self.grace)
        }
    }
}

/// What the keepalive asks of the connection.
#[derive(Debug)]
enum KeepaliveAction {
    /// Nothing yet.
    Wait,
    /// A PING was queued: the connection must be polled to write it.
    PingSent,
    /// The PING was not answered within this timeout.
    Dead(Duration),
}

/// Sends a PING every interval and expects its answer within the timeout.
struct Keepalive {
    ping_pong: PingPong,
    interval: Duration,
    timeout: Duration,
    /// A PING is out and its answer has not come.
    waiting: bool,
    /// The connection is closing: h2 refuses PINGs, and says why through `poll_accept`.
    closed: bool,
    sleep: Pin<Box<Sleep>>,
}

impl Keepalive {
    fn new(ping_pong: PingPong, interval: Duration, timeout: Duration) -> Keepalive {
        Keepalive {
            ping_pong,
            interval,
            timeout,
            waiting: false,
            closed: false,
            sleep: Box::pin(tokio::time::sleep_until(deadline(interval))),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> KeepaliveAction {
        if self.closed {
            return KeepaliveAction::Wait;
        }
        if self.waiting {
            match self.ping_pong.poll_pong(cx) {
                Poll::Ready(Ok(_)) => {
                    self.waiting = false;
                    self.sleep.as_mut().reset(deadline(self.interval));
                }
                Poll::Ready(Err(_)) => {
                    self.closed = true;
                    return KeepaliveAction::Wait;
                }
                Poll::Pending => {
                    return match self.sleep.as_mut().poll(cx) {
                        Poll::Ready(()) => KeepaliveAction::Dead(self.timeout),
                        Poll::Pending => KeepaliveAction::Wait,
                    };
                }
            }
        }
        if self.sleep.as_mut().poll(cx).is_pending() {
            return KeepaliveAction::Wait;
        }
        match self.ping_pong.send_ping(Ping::opaque()) {
            Ok(()) => {
                tracing::trace!("keepalive PING");
                self.waiting = true;
                self.sleep.as_mut().reset(deadline(self.timeout));
                KeepaliveAction::PingSent
            }
            Err(_) => {
                self.closed = true;
                KeepaliveAction::Wait
            }
        }
    }
}

/// An accepted HTTP/2 connection: a source of incoming event streams.
///
/// Its task runs on its own; streams keep working while the application handles others. Drop
/// it to stop accepting: the connection then sends `GOAWAY` and closes once the accepted
/// streams are done.
pub struct ServerConnection {
    incoming: mpsc::UnboundedReceiver<Result<Incoming, Error>>,
    span: tracing::Span,
    /// The budgets of buffered frame bytes its streams charge.
    budgets: Budgets,
    /// The server's clock, for its streams.
    time: TimeSource,
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
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// As [`accept`](Self::accept), as a poll function.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming, Error>>> {
        self.incoming.poll_recv(cx).map(|next| {
            next.map(|incoming| {
                incoming.map(|mut incoming| {
                    incoming.budgets = Some(self.budgets.clone());
                    incoming.time = self.time.clone();
                    incoming
                })
            })
        })
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
    /// The connection's budgets, given by [`ServerConnection::accept`].
    budgets: Option<Budgets>,
    /// The server's clock, given by [`ServerConnection::accept`].
    time: TimeSource,
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

    /// Checks the request's SigV4 signature with `verifier` at the server's clock (the system's,
    /// or [`ServerBuilder::clock`]'s): the `Authorization` header, the credential scope, the
    /// access key, the signed headers, and `x-amz-date` within the verifier's skew window.
    /// Call it before [`accept`](Self::accept), and give the session
    /// [`VerifiedRequest::event_verifier`], which checks the events' chain from the request's
    /// signature and each event's `:date` against the same window; on failure, answer with
    /// [`reject_unverified`](Self::reject_unverified) (`403 Forbidden` in AWS's error shape), as
    /// the [mirror](crate::mirror::Mirror::with_request_verifier) does.
    ///
    /// ```no_run
    /// use eventstream::session::{Mode, Role, Session, SessionConfig};
    /// use eventstream::sign::{Credentials, RequestVerifier};
    ///
    /// # async fn doc(incoming: eventstream_tokio::Incoming) -> Result<(), eventstream_tokio::Error> {
    /// let verifier = RequestVerifier::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
    /// match incoming.verify(&verifier) {
    ///     Ok(verified) => {
    ///         let config = SessionConfig::new(Role::Server, Mode::HttpBinding);
    ///         let session = Session::new(config).with_verifier(verified.event_verifier());
    ///         let (sender, receiver) = incoming.accept(session)?;
    ///         // ...
    /// #       drop((sender, receiver));
    ///     }
    ///     Err(e) => incoming.reject_unverified(&e).await?,
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::RequestVerify`], with the kind of the check that failed (`request_expired`,
    /// `unknown_access_key`, `signature_does_not_match`, ...), or [`Error::Clock`] when the
    /// server's clock is outside the years 0 to 9999.
    pub fn verify<S: SecretStore>(
        &self,
        verifier: &RequestVerifier<S>,
    ) -> Result<VerifiedRequest, Error> {
        let now = self.time.signing_time()?;
        let verified = verifier.verify(&self.request, now);
        match &verified {
            Ok(v) => {
                tracing::debug!(parent: &self.span, access_key_id = v.access_key_id(), "request verified");
            }
            Err(e) => tracing::debug!(parent: &self.span, error = %e, "request refused"),
        }
        verified.map_err(Error::RequestVerify)
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
        let send_stream = match self.respond.send_response(response, false) {
            Ok(send_stream) => send_stream,
            Err(e) => return Err(self.response_failed(e)),
        };
        tracing::debug!(parent: &self.span, "accepted");
        let shared = Shared::new(session, send_stream, self.span, self.stream_id);
        shared.set_clock(Clock::new(self.time));
        Ok((
            Sender::new(shared.clone()),
            Receiver::server(shared, self.body, self.budgets.map(Holding::new)),
        ))
    }

    /// Refuses the stream with `status` and a short `text/plain` body (for example 405 or 415).
    ///
    /// The rest of the request body is read and discarded first, up to
    /// [`REJECT_DRAIN_LIMIT`] bytes and for at most [`REJECT_DRAIN_TIME`]: a client still
    /// uploading when the answer comes is then not cut short by the reset that HTTP/2 requires
    /// after a complete response (`RST_STREAM(NO_ERROR)`, which some clients, curl 7.x among
    /// them, report as a failure instead of the status). A request that announces a larger body
    /// (`content-length`) or waits for the answer (`expect: 100-continue`) is answered at once.
    ///
    /// # Errors
    ///
    /// The stream's failure: [`Error::Reset`] when the client reset it before the answer.
    pub async fn reject(self, status: StatusCode, body: impl Into<Bytes>) -> Result<(), Error> {
        let mut response = http::Response::new(());
        *response.status_mut() = status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        self.refuse(response, body.into()).await
    }

    /// Refuses the stream as an AWS service refuses a request, in the error shape the AWS SDKs
    /// read: `status`, the headers `content-type: application/json`,
    /// `x-amzn-errortype: <exception>` and [`x-eventstream-error-kind: <kind>`](ERROR_KIND_HEADER),
    /// and the body `{"message":"<kind>: <detail>"}` (JSON-escaped). An SDK reports `exception`
    /// as the error's code and the message as its message; this project's clients (`evs send`)
    /// read the kind from its header. The request body is drained first, as by
    /// [`reject`](Self::reject).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `exception` or `kind` cannot be an HTTP header value; otherwise
    /// as [`reject`](Self::reject).
    pub async fn reject_aws(
        self,
        status: StatusCode,
        exception: &str,
        kind: &str,
        detail: impl fmt::Display,
    ) -> Result<(), Error> {
        let (Ok(exception), Ok(kind_value)) = (
            HeaderValue::from_str(exception),
            HeaderValue::from_str(kind),
        ) else {
            return Err(Error::Config(
                "an AWS error's exception and kind must be HTTP header values",
            ));
        };
        let mut response = http::Response::new(());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(AWS_ERROR_TYPE_HEADER, exception);
        headers.insert(ERROR_KIND_HEADER, kind_value);
        let mut body = String::from("{\"message\":\"");
        push_json_escaped(&mut body, &format!("{kind}: {detail}"));
        body.push_str("\"}");
        self.refuse(response, Bytes::from(body)).await
    }

    /// Refuses a request that [`verify`](Self::verify) failed, with
    /// [`reject_aws`](Self::reject_aws): `403 Forbidden` and the exception an AWS service names
    /// for the failure ([`RequestVerifyError::aws_error_code`](eventstream::sign::RequestVerifyError::aws_error_code): `InvalidSignatureException` for
    /// a wrong signature or one outside the skew window, `UnrecognizedClientException` for an
    /// unknown access key or session token, `MissingAuthenticationTokenException` without
    /// `Authorization`, `IncompleteSignatureException` for a malformed one), the message
    /// `<kind>: <detail>`. Another error (the server's clock outside the years 0 to 9999) is
    /// the server's fault: `500 Internal Server Error`, `InternalFailure`.
    ///
    /// # Errors
    ///
    /// As [`reject`](Self::reject).
    pub async fn reject_unverified(self, error: &Error) -> Result<(), Error> {
        match error {
            Error::RequestVerify(cause) => {
                self.reject_aws(
                    StatusCode::FORBIDDEN,
                    cause.aws_error_code(),
                    cause.kind(),
                    cause,
                )
                .await
            }
            other => {
                self.reject_aws(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    other.kind(),
                    other,
                )
                .await
            }
        }
    }

    /// Sends a refusal's head and body, after draining the request body.
    async fn refuse(mut self, response: http::Response<()>, body: Bytes) -> Result<(), Error> {
        let drained = self.drain_body().await;
        let status = response.status();
        tracing::debug!(parent: &self.span, %status, drained, "rejected");
        let mut send = match self.respond.send_response(response, body.is_empty()) {
            Ok(send) => send,
            Err(e) => return Err(self.response_failed(e)),
        };
        if !body.is_empty() {
            // A short body: h2 buffers what exceeds the window until the client reads.
            send.send_data(body, true).map_err(Error::from_h2)?;
        }
        Ok(())
    }

    /// Reads and discards the request body within the bounds of [`reject`](Self::reject);
    /// returns the bytes read.
    async fn drain_body(&mut self) -> usize {
        let announced = self
            .request
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if self.body.is_end_stream()
            || self.request.headers.contains_key(EXPECT)
            || announced.is_some_and(|n| n > REJECT_DRAIN_LIMIT as u64)
        {
            return 0;
        }
        let mut drained = 0;
        let body = &mut self.body;
        let read = async {
            while drained < REJECT_DRAIN_LIMIT {
                match body.data().await {
                    Some(Ok(data)) => {
                        drained += data.len();
                        // Fails only when the stream is gone, and then nothing is owed.
                        let _ = body.flow_control().release_capacity(data.len());
                    }
                    // The end of the body, or a reset: either way, nothing more to wait for.
                    Some(Err(_)) | None => break,
                }
            }
        };
        let _ = tokio::time::timeout(REJECT_DRAIN_TIME, read).await;
        drained
    }

    /// The error of a failed `send_response`: the client's reset when it reset the stream
    /// first (h2 itself only says that a response cannot be sent on a closed stream).
    fn response_failed(&mut self, err: h2::Error) -> Error {
        let mut cx = Context::from_waker(Waker::noop());
        match self.respond.poll_reset(&mut cx) {
            Poll::Ready(Ok(reason)) => {
                tracing::debug!(parent: &self.span, %reason, "reset by the client before the response");
                Error::Reset { reason }
            }
            Poll::Ready(Err(e)) if e.is_io() || e.is_remote() => Error::from_h2(e),
            _ => Error::from_h2(err),
        }
    }
}

/// The header of [`Incoming::reject_aws`]'s answers that names the AWS exception
/// (`InvalidSignatureException`, ...), as AWS services send it.
pub const AWS_ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

/// The header of [`Incoming::reject_aws`]'s answers that names this project's error kind
/// (`signature_does_not_match`, `request_expired`, ...), which the AWS exception alone does
/// not tell apart.
pub const ERROR_KIND_HEADER: &str = "x-eventstream-error-kind";

/// Appends `text` to `out` as the inside of a JSON string: quotes, backslashes and control
/// characters escaped.
fn push_json_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
}

/// The most request body bytes [`Incoming::reject`] reads and discards before it answers: 256
/// KiB, four times HTTP/2's initial stream window, so that a client sending a small body in
/// one go is not still waiting for window when the answer comes. Reading and discarding costs
/// no memory beyond a frame.
pub const REJECT_DRAIN_LIMIT: usize = 256 * 1024;

/// The longest [`Incoming::reject`] waits for the rest of the request body before it answers.
pub const REJECT_DRAIN_TIME: Duration = Duration::from_millis(250);

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("stream_id", &self.stream_id)
            .field("method", &self.request.method)
            .field("uri", &self.request.uri)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::push_json_escaped;

    /// What JSON requires escaped is escaped; the rest, non-ASCII included, is kept.
    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_escaped(&mut out, "id \"AKID\\x\"\n\r\t\u{1}\u{1f} é");
        assert_eq!(out, r#"id \"AKID\\x\"\n\r\t\u0001\u001f é"#);
    }
}
