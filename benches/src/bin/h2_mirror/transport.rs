//! What both implementations share in a run: the HTTP/2 settings, the transport (TCP, or TLS
//! over TCP), the accept loop of a server and the connecting of a client.

use crate::tls::Tls;
use std::future::Future;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

/// The HTTP/2 settings of every connection, ours and plain h2's, at both ends: the adapter's
/// defaults, set explicitly on both, so that a ratio compares the work per event and not the
/// windows. (The adapter also sizes h2's budget of buffered small DATA frames; frames of 256
/// bytes or more, as here, never count against it.)
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Each stream's receive window.
    pub(crate) stream_window: u32,
    /// The connection's receive window.
    pub(crate) connection_window: u32,
    /// The largest DATA frame a peer may send.
    pub(crate) max_frame_size: u32,
    /// The servers' limit on concurrent streams.
    pub(crate) max_concurrent_streams: u32,
}

impl Settings {
    /// The adapter's defaults: 256 KiB stream windows, a connection window of one more stream
    /// window than the server's stream limit (129 × 256 KiB), 64 KiB frames, 128 streams.
    pub(crate) fn adapter_defaults() -> Settings {
        let stream_window = eventstream_tokio::ClientBuilder::DEFAULT_STREAM_WINDOW;
        let max_concurrent_streams =
            eventstream_tokio::ServerBuilder::DEFAULT_MAX_CONCURRENT_STREAMS;
        Settings {
            stream_window,
            connection_window: (max_concurrent_streams + 1) * stream_window,
            max_frame_size: eventstream_tokio::ClientBuilder::DEFAULT_MAX_FRAME_SIZE,
            max_concurrent_streams,
        }
    }
}

/// How a client reaches a server.
#[derive(Clone)]
pub(crate) enum Transport {
    /// HTTP/2 over TCP, prior knowledge.
    Tcp,
    /// HTTP/2 over TLS over TCP, ALPN `h2`.
    Tls(Tls),
}

/// The server end of one implementation: serves one connection, whatever carries it.
pub(crate) trait Serve: Clone + Send + Sync + 'static {
    /// Serves `io` until the connection ends.
    fn serve<T>(&self, io: T) -> impl Future<Output = ()> + Send
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static;
}

/// The client end of one implementation: the HTTP/2 handshake over any transport.
pub(crate) trait Handshake {
    /// What the handshake yields: a handle that opens streams.
    type Connection;

    /// The HTTP/2 handshake over `io`; the connection is driven by a task of its own.
    fn handshake_over<T>(&self, io: T) -> impl Future<Output = Self::Connection> + Send
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static;
}

impl Transport {
    /// Starts `server` on a loopback port: every accepted connection in a task of its own.
    pub(crate) async fn start(&self, server: impl Serve) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("has an address");
        let transport = self.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.expect("accepts");
                tcp.set_nodelay(true).expect("nodelay");
                let (transport, server) = (transport.clone(), server.clone());
                tokio::spawn(async move {
                    match transport {
                        Transport::Tcp => server.serve(tcp).await,
                        Transport::Tls(tls) => server.serve(tls.accept(tcp).await).await,
                    }
                });
            }
        });
        addr
    }

    /// Connects to `addr` and performs `client`'s handshake.
    pub(crate) async fn connect<H: Handshake>(
        &self,
        addr: SocketAddr,
        client: &H,
    ) -> H::Connection {
        let tcp = TcpStream::connect(addr).await.expect("connects");
        tcp.set_nodelay(true).expect("nodelay");
        match self {
            Transport::Tcp => client.handshake_over(tcp).await,
            Transport::Tls(tls) => client.handshake_over(tls.connect(tcp).await).await,
        }
    }
}
