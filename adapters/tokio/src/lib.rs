//! The AWS event stream protocol (`application/vnd.amazon.eventstream`) over HTTP/2, with tokio
//! and h2: a client, a server, and the [`mirror`] server.
//!
//! Every protocol decision is the core's: each event stream is one
//! [`eventstream::session::Session`] in the core's [`Driver`](eventstream::session::Driver),
//! and this crate only moves its bytes between the driver and an h2 stream, tells it when the
//! transport fails, and wakes the tasks that wait on it.
//!
//! ```text
//!   application task A                       application task B
//!   Sender::send / finish / abort            Receiver (a Stream of SessionEvent)
//!        │ lock, apply(command)                    ▲ lock, poll_event
//!        ▼                                         │
//!   ┌──────────────── Mutex<Driver> + wakers (never held across .await) ────────────────┐
//!   └────────────────────────────────────────────────────────────────────────────────────┘
//!        │ take_output → send_data (capacity),     ▲ DATA → handle_bytes, END_STREAM →
//!        │ poll_close → END_STREAM or RST_STREAM   │ handle_eof, RST_STREAM / GOAWAY / IO →
//!        ▼                                         │ handle_reset; release_capacity as the
//!                                                  │ application takes events
//!   h2 connection task (one per connection) ─── TCP / TLS ─── the peer
//! ```
//!
//! - [`Client`] opens streams. [`ClientBuilder::build`] makes a pooled client that connects
//!   when a stream needs it, by the scheme and authority of each request's URI: `https://` over
//!   TLS (rustls, ALPN `h2`, see [`tls`]), `http://` over cleartext HTTP/2; streams to one
//!   authority share a connection up to the server's limit, then another opens (see
//!   [The pool](ClientBuilder#the-pool)). [`Client::connect`] and [`Client::handshake`] make a
//!   client of one fixed connection. Clone a client to open streams from many tasks;
//!   [`Client::open`] returns a [`Sender`] and a [`Receiver`], usable from different tasks.
//! - [`Client::open_signed`] signs the request with SigV4, with fresh credentials from a
//!   [`ProvideCredentials`] for each stream (static [`Credentials`](eventstream::sign::Credentials),
//!   or any AWS SDK provider through `AwsCredentials` with the `aws-credential-types`
//!   feature), and chains the stream's signed events to the request's signature
//!   ([`RequestSigning`]).
//! - [`ServerConnection`] yields each [`Incoming`] stream: its request head, then
//!   [`Incoming::accept`] with a server session gives the same two halves.
//! - [`Sender`] commands wait for HTTP/2 send capacity (backpressure); the [`Receiver`] releases
//!   receive capacity only as the application takes messages (a slow consumer holds the peer
//!   back by one window). The default windows (256 KiB per stream, a connection window with
//!   room for every concurrent stream's plus one) keep streams that are not read from stopping
//!   one that is, and a server holds the frames it is assembling within memory budgets (see
//!   [`ServerBuilder`]'s [Windows](ServerBuilder#windows) and
//!   [Memory budget](ServerBuilder#memory-budget)).
//! - A failure (a reset, `GOAWAY`, a lost connection, a non-200 response, a session failure,
//!   which resets the stream) reaches both halves: the receiver yields it once as its last item,
//!   the sender's commands return it. No send waits forever on a dead connection, and no task
//!   outlives the connection's handles and streams.
//! - [`BodyEvents`] reads the events of a response body of any HTTP version (an HTTP/1.1
//!   chunked response from hyper or reqwest, say): a [`Stream`](futures_core::Stream) of
//!   `Bytes` chunks becomes a stream of the session's events, with the [`Receiver`]'s items.
//! - Spans: `h2_connection` (`id`, `side`) and, inside it, `event_stream` (`stream_id`). The
//!   library prints nothing.
//!
//! # A loopback client and server
//!
//! ```
//! use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
//! use eventstream_tokio::{Client, ServerConnection};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//!
//! // The server: accept one stream and answer each event with an event of its own.
//! let server = tokio::spawn(async move {
//!     let (tcp, _) = listener.accept().await?;
//!     let mut connection = ServerConnection::handshake(tcp).await?;
//!     let incoming = connection.accept().await.ok_or("no stream")??;
//!     let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
//!     let (mut sender, mut receiver) = incoming.accept(session)?;
//!     while let Some(event) = receiver.recv().await {
//!         match event? {
//!             SessionEvent::Event(m) => {
//!                 let reply = EventBuilder::new("Pong").payload(m.payload().clone()).build();
//!                 sender.send(reply).await?;
//!             }
//!             SessionEvent::End => sender.finish().await?,
//!             _ => {}
//!         }
//!     }
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//!
//! // The client.
//! let client = Client::connect(addr).await?;
//! let request = http::Request::post(format!("http://{addr}/ping")).body(())?;
//! let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
//! let (mut sender, mut receiver) = client.open(request, session).await?;
//! sender.send(EventBuilder::new("Ping").payload(&b"hello"[..]).build()).await?;
//! sender.finish().await?;
//! let Some(Ok(SessionEvent::Event(pong))) = receiver.recv().await else { panic!("no pong") };
//! assert_eq!(pong.header_str(":event-type"), Some("Pong"));
//! assert_eq!(&pong.payload()[..], b"hello");
//! assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));
//! server.await?.map_err(|e| e.to_string())?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
mod budget;
mod client;
mod clock;
mod credentials;
mod error;
pub mod mirror;
mod pool;
mod server;
mod stream;
pub mod tls;

pub use body::BodyEvents;
pub use client::{Client, ClientBuilder};
#[cfg(feature = "aws-credential-types")]
pub use credentials::AwsCredentials;
pub use credentials::{CredentialsFuture, ProvideCredentials, RequestSigning};
pub use error::Error;
pub use server::{
    Incoming, ServerBuilder, ServerConnection, AWS_ERROR_TYPE_HEADER, ERROR_KIND_HEADER,
    REJECT_DRAIN_LIMIT, REJECT_DRAIN_TIME,
};
pub use stream::{Receiver, Sender, FEED_LIMIT, MAX_ERROR_BODY_LEN};

pub use h2::Reason;

use std::sync::atomic::{AtomicU64, Ordering};

/// The media type of an event stream, sent as the `content-type` of the request and the response.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// The default receive window of each stream, at both ends: 256 KiB.
///
/// A stream's window is what the peer may send ahead of the application: larger windows carry
/// more per round trip (hyper uses 2 MiB), and cost that much memory per stream whose
/// application does not read. 256 KiB keeps a stream busy at data-centre round trips while 128
/// stalled streams hold 32 MiB.
const DEFAULT_STREAM_WINDOW: u32 = 256 * 1024;

/// The default largest DATA frame each end accepts: 64 KiB.
///
/// Events are small and many, and the sender hands h2 everything it has together (see
/// [`Sender::feed`]): h2 writes each DATA frame with a write of its own, so a batch of events
/// goes out in a quarter of the frames and writes that HTTP/2's minimum of 16 KiB would take.
/// A larger frame holds the connection's other streams back longer: at 64 KiB that is half a
/// millisecond at a gigabit per second.
const DEFAULT_MAX_FRAME_SIZE: u32 = 64 * 1024;

/// The default limit on concurrent streams per connection (the server's setting; the client
/// sizes its connection window for as many).
const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 128;

/// HTTP/2's largest flow-control window, 2^31 - 1.
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// The HTTP/2 settings both sides configure.
#[derive(Clone, Copy, Debug)]
struct Settings {
    /// Each stream's receive window.
    stream_window: u32,
    /// The connection's receive window as configured; `None` sizes it for the streams (see
    /// [`Settings::connection_window_for`]).
    connection_window: Option<u32>,
    /// The largest DATA frame the peer may send.
    max_frame_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            stream_window: DEFAULT_STREAM_WINDOW,
            connection_window: None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        }
    }
}

impl Settings {
    /// The smallest connection window with which `streams` concurrent streams cannot starve
    /// another: each may hold a whole stream window unread, and one more window stays free for
    /// a stream that reads, `(streams + 1) × stream window` (at most HTTP/2's largest window).
    ///
    /// With a smaller connection window, streams whose applications do not read take all of it
    /// and every other stream on the connection stops: 17 such streams at the old defaults
    /// (65,535-byte stream windows in a 1 MiB connection window) stopped a well-behaved stream.
    fn fair_connection_window(&self, streams: u32) -> u32 {
        let fair = (u64::from(streams) + 1) * u64::from(self.stream_window);
        u32::try_from(fair).unwrap_or(MAX_WINDOW).min(MAX_WINDOW)
    }

    /// The connection window for at most `streams` concurrent streams: the configured one, or
    /// the [fair](Self::fair_connection_window) one.
    fn connection_window_for(&self, streams: u32) -> u32 {
        self.connection_window
            .unwrap_or_else(|| self.fair_connection_window(streams))
    }
}

/// The most small DATA frames (under 256 payload bytes) a connection leaves buffered in h2
/// before h2 closes it: 65,536, as many 16-byte frames as a 1 MiB window holds.
const MAX_BUFFERED_SMALL_DATA_FRAMES: usize = 65_536;

/// The h2 budget for buffered small DATA frames: what the connection window admits, up to
/// [`MAX_BUFFERED_SMALL_DATA_FRAMES`].
///
/// h2 charges every buffered DATA frame of fewer than 256 payload bytes `256 - len` against a
/// connection-wide budget (half the window by default) and closes the connection with
/// `GOAWAY(ENHANCE_YOUR_CALM)` when it runs out. Events go out one per DATA frame, and the
/// receiver deliberately leaves them in h2 until the application takes them (that is the
/// backpressure), so small events on several streams would exhaust the default. The smallest
/// frame carries 16 bytes, so the window holds at most `window / 16` of them: budgeting 240 for
/// each keeps the peer bounded by flow control alone, up to a 1 MiB window.
///
/// Past that the budget stops growing with the window, because every buffered DATA frame costs
/// h2 bookkeeping far larger than a tiny payload: scaled to the default connection window, the
/// budget would let one connection of tiny frames take about a gigabyte. Capped, h2 closes a
/// connection that leaves about 65,536 small frames unread. Events of 256 bytes or more never
/// count, and smaller ones only when tens of thousands wait unread on streams whose
/// applications do not read.
fn data_frame_budget(connection_window: u32) -> usize {
    (connection_window as usize / 16)
        .min(MAX_BUFFERED_SMALL_DATA_FRAMES)
        .saturating_mul(240)
        .max(25_600)
}

/// A process-wide id for a connection's span.
fn next_connection_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
