//! The client's connection pool: per scheme and authority, the HTTP/2 connections that carry
//! its streams, each up to the server's `SETTINGS_MAX_CONCURRENT_STREAMS`.
//!
//! One lock per authority guards its connections and their counts of open streams; it is never
//! held across an `.await`. Every change (a stream reserved or released, a connection made,
//! settled, refused by `GOAWAY` or closed) wakes whoever waits on the authority's [`Notify`],
//! and each waiter looks again.
//!
//! A connection's limit is not known until the server's SETTINGS arrive, which h2 applies
//! before any later frame: the pool sends a `PING` right after the handshake and, until its
//! answer comes, lets the connection carry one stream only, so that a server that allows one
//! stream gets a second connection for the second stream rather than a queued stream.

use crate::error::Error;
use crate::tls::TlsSettings;
use crate::Settings;
use bytes::Bytes;
use h2::client::SendRequest;
use rustls::ClientConfig;
use std::collections::HashMap;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument as _;

/// How a pooled client connects and keeps its connections.
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    pub(crate) settings: Settings,
    pub(crate) tls: TlsSettings,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) max_connections_per_authority: usize,
}

/// Where a stream goes: `http` or `https`, host and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Authority {
    tls: bool,
    host: String,
    port: u16,
}

impl Authority {
    /// The scheme and authority of an absolute `http://` or `https://` URI.
    pub(crate) fn of(uri: &http::Uri) -> Result<Authority, Error> {
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(_) => {
                return Err(Error::Config(
                    "a pooled client opens http:// and https:// URIs only",
                ))
            }
            None => {
                return Err(Error::Config(
                    "a pooled client needs an absolute URI (http:// or https://)",
                ))
            }
        };
        let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
            return Err(Error::Config("the request's URI has no host"));
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Authority {
            tls,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The host as a socket address takes it (IPv6 without brackets).
    fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// The pool: an entry per authority in use (see [`Pool::host`]).
pub(crate) struct Pool {
    config: PoolConfig,
    /// The rustls configuration, made when the first `https://` connection needs it.
    tls_config: OnceLock<Result<Arc<ClientConfig>, Error>>,
    hosts: Mutex<HashMap<Authority, Arc<Host>>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.config)
            .field("authorities", &lock(&self.hosts).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One authority's connections.
struct Host {
    state: Mutex<HostState>,
    changed: Notify,
    idle_timeout: Option<Duration>,
}

#[derive(Default)]
struct HostState {
    connections: Vec<Connection>,
    /// Connections being made.
    connecting: usize,
    next_id: u64,
}

/// A connection of the pool.
struct Connection {
    id: u64,
    send_request: SendRequest<Bytes>,
    span: tracing::Span,
    /// Streams reserved or open on it.
    open: usize,
    /// The server's SETTINGS were applied (the answer to our first `PING` came).
    settled: bool,
    /// `GOAWAY` received or the connection failed: no new streams.
    refused: bool,
    /// The client is gone: the connection closes once its streams end.
    retired: bool,
    /// Since when no stream is open.
    idle_since: Option<Instant>,
}

impl Connection {
    /// How many streams it may carry: the server's limit once known, one until then.
    fn limit(&self) -> usize {
        if self.settled {
            self.send_request.current_max_send_streams()
        } else {
            1
        }
    }

    /// Whether the connection takes no new stream: it received `GOAWAY`, failed, or ran out of
    /// stream ids (h2 reports all of them when asked whether a stream can be opened).
    fn check_refused(&mut self) -> bool {
        if !self.refused {
            let mut cx = Context::from_waker(Waker::noop());
            if let Poll::Ready(Err(e)) = self.send_request.poll_ready(&mut cx) {
                tracing::debug!(parent: &self.span, error = %e, "no new streams on this connection");
                self.refused = true;
            }
        }
        self.refused
    }
}

impl HostState {
    fn get(&mut self, id: u64) -> Option<&mut Connection> {
        self.connections.iter_mut().find(|c| c.id == id)
    }

    fn remove(&mut self, id: u64) -> Option<Connection> {
        let at = self.connections.iter().position(|c| c.id == id)?;
        Some(self.connections.swap_remove(at))
    }
}

/// A stream's place on a connection, given back when dropped.
pub(crate) struct Lease {
    host: Arc<Host>,
    id: u64,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = lock(&self.host.state);
        if let Some(c) = state.get(self.id) {
            c.open = c.open.saturating_sub(1);
            if c.open == 0 {
                c.idle_since = Some(Instant::now());
            }
        }
        drop(state);
        self.host.changed.notify_waiters();
    }
}

/// What a stream needs of the connection the pool picked.
pub(crate) struct Picked {
    pub(crate) send_request: SendRequest<Bytes>,
    pub(crate) span: tracing::Span,
    pub(crate) lease: Lease,
}

/// Gives back a connection being made if its maker is dropped midway.
struct Connecting<'a>(&'a Host);

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).connecting -= 1;
        self.0.changed.notify_waiters();
    }
}

impl Pool {
    pub(crate) fn new(config: PoolConfig) -> Pool {
        Pool {
            config,
            tls_config: OnceLock::new(),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The entry of `authority`, made if there is none. Making one forgets every authority
    /// nothing refers to any more (no connection, stream or waiting open holds its [`Host`]),
    /// so the map holds the authorities in use and at most one more.
    fn host(&self, authority: &Authority) -> Arc<Host> {
        let mut hosts = lock(&self.hosts);
        if let Some(host) = hosts.get(authority) {
            return host.clone();
        }
        // Only this lock hands out a `Host` nobody else holds: a count of one stays one.
        hosts.retain(|_, host| Arc::strong_count(host) > 1);
        let host = Arc::new(Host {
            state: Mutex::default(),
            changed: Notify::new(),
            idle_timeout: self.config.idle_timeout,
        });
        hosts.insert(authority.clone(), host.clone());
        host
    }

    /// A place for one more stream to `authority`: on a connection with room, on a new
    /// connection when none has room and the limit of connections allows, or, after waiting,
    /// on whichever has room first.
    ///
    /// # Errors
    ///
    /// Connecting failed or timed out.
    pub(crate) async fn pick(&self, authority: &Authority) -> Result<Picked, Error> {
        let host = self.host(authority);
        loop {
            let mut changed = pin!(host.changed.notified());
            changed.as_mut().enable();
            let connect = {
                let mut state = lock(&host.state);
                if let Some(c) = state
                    .connections
                    .iter_mut()
                    .find_map(|c| (!c.check_refused() && c.open < c.limit()).then_some(c))
                {
                    c.open += 1;
                    c.idle_since = None;
                    return Ok(Picked {
                        send_request: c.send_request.clone(),
                        span: c.span.clone(),
                        lease: Lease {
                            host: host.clone(),
                            id: c.id,
                        },
                    });
                }
                // Connections draining after GOAWAY do not count.
                let usable = state.connections.iter().filter(|c| !c.refused);
                let unsettled = usable.clone().any(|c| !c.settled) || state.connecting > 0;
                let count = usable.count() + state.connecting;
                if !unsettled && count < self.config.max_connections_per_authority {
                    state.connecting += 1;
                    true
                } else {
                    false
                }
            };
            if !connect {
                // A connection being made, or one whose limit is not known yet, may have room:
                // wait for it, or for a stream to end.
                changed.await;
                continue;
            }
            let connecting = Connecting(&host);
            let made = match self.config.connect_timeout {
                None => self.connect(authority).await,
                Some(limit) => tokio::time::timeout(limit, self.connect(authority))
                    .await
                    .unwrap_or(Err(Error::TimedOut("connecting"))),
            };
            let (send_request, connection, span) = made?;
            let mut state = lock(&host.state);
            state.next_id += 1;
            let id = state.next_id;
            // The maker's own stream takes the first place.
            state.connections.push(Connection {
                id,
                send_request: send_request.clone(),
                span: span.clone(),
                open: 1,
                settled: false,
                refused: false,
                retired: false,
                idle_since: None,
            });
            drop(state);
            drop(connecting);
            tokio::spawn(drive(host.clone(), id, connection).instrument(span.clone()));
            return Ok(Picked {
                send_request,
                span,
                lease: Lease {
                    host: host.clone(),
                    id,
                },
            });
        }
    }

    /// Whether the connection behind `picked` takes no new streams (`GOAWAY`, a failure): then
    /// no stream goes there any more. A stream refused for its own sake (a malformed request)
    /// leaves the connection in use.
    pub(crate) fn refuses(&self, picked: &Picked) -> bool {
        let host = &picked.lease.host;
        let refused = lock(&host.state)
            .get(picked.lease.id)
            .is_some_and(Connection::check_refused);
        if refused {
            host.changed.notify_waiters();
        }
        refused
    }

    /// Connects to `authority`: TCP, TLS for `https`, the HTTP/2 handshake.
    async fn connect(
        &self,
        authority: &Authority,
    ) -> Result<
        (
            SendRequest<Bytes>,
            h2::client::Connection<Io, Bytes>,
            tracing::Span,
        ),
        Error,
    > {
        let tcp = TcpStream::connect((authority.bare_host(), authority.port))
            .await
            .map_err(|e| Error::Connect(Arc::new(e)))?;
        // Events are small and latency matters more than packet count.
        tcp.set_nodelay(true)
            .map_err(|e| Error::Connect(Arc::new(e)))?;
        let io = if authority.tls {
            let config = self
                .tls_config
                .get_or_init(|| self.config.tls.client_config())
                .clone()?;
            let name = crate::tls::server_name(authority.bare_host())?;
            Io::Tls(Box::new(crate::tls::handshake(config, name, tcp).await?))
        } else {
            Io::Plain(tcp)
        };
        let (send_request, connection, span) =
            crate::client::h2_handshake(&self.config.settings, io).await?;
        tracing::debug!(parent: &span, %authority, "connected");
        Ok((send_request, connection, span))
    }
}

impl Drop for Pool {
    /// The client is gone: idle connections close now, the others once their streams end.
    fn drop(&mut self) {
        for host in lock(&self.hosts).values() {
            for c in &mut lock(&host.state).connections {
                c.retired = true;
            }
            host.changed.notify_waiters();
        }
    }
}

/// Drives one pooled connection until it closes: h2's connection future, the `PING` that tells
/// when the server's SETTINGS were applied, `GOAWAY`, and closing it once it is of no more use
/// (see [`until_closable`]).
async fn drive(host: Arc<Host>, id: u64, mut connection: h2::client::Connection<Io, Bytes>) {
    let mut ping = connection.ping_pong();
    if let Some(p) = ping.as_mut() {
        if p.send_ping(h2::Ping::opaque()).is_err() {
            ping = None;
        }
    }
    if ping.is_none() {
        // No way to tell when the limit is known: trust what h2 has.
        settle(&host, id);
    }
    let result = {
        let mut closable = pin!(until_closable(&host, id));
        poll_fn(|cx| {
            if let Poll::Ready(result) = Pin::new(&mut connection).poll(cx) {
                return Poll::Ready(Some(result));
            }
            if let Some(p) = ping.as_mut() {
                if p.poll_pong(cx).is_ready() {
                    ping = None;
                    settle(&host, id);
                }
            }
            let refused_now = lock(&host.state)
                .get(id)
                .is_some_and(|c| !c.refused && c.check_refused());
            if refused_now {
                host.changed.notify_waiters();
            }
            if closable.as_mut().poll(cx).is_ready() {
                // It left the pool with no stream open: one more turn for h2 to write what it
                // holds (and, when nothing refers to the connection any more, its GOAWAY), then
                // the connection is dropped, which closes it.
                let _ = Pin::new(&mut connection).poll(cx);
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    };
    match result {
        Some(Ok(())) => tracing::debug!("connection closed"),
        Some(Err(e)) => tracing::debug!(error = %e, "connection failed"),
        None => tracing::debug!("connection closed by the pool"),
    }
    lock(&host.state).remove(id);
    host.changed.notify_waiters();
    // The pool may forget the authority before the peer sees the connection close.
    drop(host);
    drop(connection);
}

/// The server's SETTINGS were applied on connection `id`: its limit is known.
fn settle(host: &Host, id: u64) {
    if let Some(c) = lock(&host.state).get(id) {
        c.settled = true;
        tracing::debug!(
            parent: &c.span,
            max_concurrent_streams = c.send_request.current_max_send_streams(),
            "settings applied"
        );
    }
    host.changed.notify_waiters();
}

/// Completes when connection `id` has no stream open and is of no more use: idle for the idle
/// timeout, or taking no new streams (`GOAWAY`, a failure, the client dropped). It then leaves
/// the pool. Completes at once if it already left.
async fn until_closable(host: &Host, id: u64) {
    loop {
        let mut changed = pin!(host.changed.notified());
        changed.as_mut().enable();
        let deadline = {
            let mut state = lock(&host.state);
            let Some(c) = state.get(id) else { return };
            if c.open == 0 && (c.retired || c.refused) {
                tracing::debug!(parent: &c.span, "no more use: closing");
                state.remove(id);
                drop(state);
                host.changed.notify_waiters();
                return;
            }
            match (c.idle_since, host.idle_timeout) {
                (Some(since), Some(timeout)) if c.open == 0 => Some(since + timeout),
                _ => None,
            }
        };
        let Some(deadline) = deadline else {
            changed.await;
            continue;
        };
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep_until(deadline) => {
                let mut state = lock(&host.state);
                let now = Instant::now();
                let idle = state.get(id).is_some_and(|c| {
                    c.open == 0
                        && matches!((c.idle_since, host.idle_timeout), (Some(since), Some(t)) if since + t <= now)
                });
                if idle {
                    if let Some(c) = state.remove(id) {
                        tracing::debug!(parent: &c.span, timeout = ?host.idle_timeout, "idle: closing");
                    }
                    drop(state);
                    host.changed.notify_waiters();
                    return;
                }
            }
        }
    }
}

/// A pooled connection's transport: TCP, or TLS over TCP.
#[derive(Debug)]
pub(crate) enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Io::Tls(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Io::Tls(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Io::Tls(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(io) => io.is_write_vectored(),
            Io::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(io) => Pin::new(io).poll_flush(cx),
            Io::Tls(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Io::Tls(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(uri: &str) -> Result<Authority, &'static str> {
        Authority::of(&uri.parse().expect("a URI")).map_err(|e| e.kind())
    }

    #[test]
    fn authorities_take_default_ports_and_ignore_case() {
        let a = authority("https://Example.COM/x").expect("https");
        assert_eq!(a.to_string(), "https://example.com:443");
        assert_eq!(authority("https://example.com:443/y"), Ok(a));
        assert_eq!(
            authority("http://127.0.0.1/x").map(|a| a.to_string()),
            Ok("http://127.0.0.1:80".into())
        );
        assert_ne!(authority("http://h:8443/"), authority("https://h:8443/"));
        assert_eq!(authority("http://[::1]:9/").unwrap().bare_host(), "::1");
        assert_eq!(authority("/relative"), Err("config"));
        assert_eq!(authority("ftp://h/"), Err("config"));
    }
}
