//! The tokio + h2 server under faults, over real loopback sockets: a client that never
//! completes the handshake, an idle connection, a peer that stops answering PINGs and one that
//! answers them on a quiet stream, a refused request whose body is still coming, and a stream
//! reset by its client before the answer.
//!
//! The misbehaving clients are written with h2 directly (or with a bare socket), so that they
//! can do what our client never does. Deadlines are a few hundred milliseconds.

mod tokio_common;

use bytes::Bytes;
use eventstream::session::{Mode, SessionEvent};
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport};
use eventstream_tokio::{
    Client, Error, Reason, ServerBuilder, ServerConnection, REJECT_DRAIN_TIME,
};
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_common::*;

/// Server settings with every timeout off: each test turns on the ones it is about.
fn no_timeouts() -> ServerBuilder {
    ServerBuilder::new()
        .handshake_timeout(None)
        .idle_timeout(None)
        .keepalive(None)
}

/// Starts `mirror` with these server settings; its stream reports come on the channel.
async fn start(server: ServerBuilder) -> (SocketAddr, mpsc::UnboundedReceiver<MirrorReport>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mirror = Mirror::new()
        .with_server(server)
        .on_stream_end(move |report| {
            let _ = tx.send(report.clone());
        });
    (start_mirror(mirror).await, rx)
}

/// A raw h2 client connection to `addr` over `io`, driven by a task of its own.
async fn h2_client<T>(io: T) -> h2::client::SendRequest<Bytes>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send_request, connection) = h2::client::handshake(io).await.expect("handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send_request.ready().await.expect("ready")
}

/// A POST to the mirror with this content type.
fn post(addr: SocketAddr, content_type: &str) -> http::Request<()> {
    http::Request::post(format!("http://{addr}/mirror"))
        .header("content-type", content_type)
        .body(())
        .expect("a valid request")
}

/// Whether `fut` is ready now (polled once).
async fn ready_now<F: Future + Unpin>(fut: &mut F) -> bool {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx).is_ready())).await
}

/// A client that sends nothing at all is disconnected after the handshake timeout (and not
/// before), while a client that does its handshake is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_completes_the_handshake_is_disconnected() {
    const LIMIT: Duration = Duration::from_millis(300);
    within_hang_timeout(async {
        let (addr, _reports) = start(no_timeouts().handshake_timeout(Some(LIMIT))).await;
        let started = Instant::now();
        let mut silent = TcpStream::connect(addr).await.expect("connects");
        // The server's SETTINGS come first, then the end of the connection.
        let mut seen = Vec::new();
        let closed = silent.read_to_end(&mut seen).await;
        let waited = started.elapsed();
        assert!(
            closed.is_ok()
                || closed
                    .as_ref()
                    .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionReset),
            "{closed:?}"
        );
        assert!(
            waited >= LIMIT - Duration::from_millis(50) && waited < LIMIT * 10,
            "disconnected after {waited:?}"
        );

        let client = Client::connect(addr).await.expect("connects");
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        sender.send(numbered_event(0, 0, 10)).await.expect("sends");
        sender.finish().await.expect("finishes");
        assert!(matches!(
            receiver.recv().await,
            Some(Ok(SessionEvent::Event(_)))
        ));
        assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));
    })
    .await;
}

/// A connection without streams gets GOAWAY after the idle timeout, and is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_with_goaway() {
    const IDLE: Duration = Duration::from_millis(300);
    within_hang_timeout(async {
        let (addr, _reports) = start(no_timeouts().idle_timeout(Some(IDLE))).await;
        let started = Instant::now();
        let tcp = TcpStream::connect(addr).await.expect("connects");
        let (send_request, connection) = h2::client::handshake(tcp).await.expect("handshake");
        // The connection ends by itself (the handle to open streams is kept).
        let ended = connection.await;
        let waited = started.elapsed();
        assert!(
            ended.is_ok(),
            "a clean end after GOAWAY(NO_ERROR): {ended:?}"
        );
        assert!(
            waited >= IDLE - Duration::from_millis(50) && waited < IDLE * 10,
            "closed after {waited:?}"
        );
        assert!(
            send_request.ready().await.is_err(),
            "no stream can be opened"
        );
    })
    .await;
}

/// A stream that stays quiet much longer than the idle timeout is not ended while its client
/// answers the keepalive PINGs; once it is done, the connection is idle and closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_whose_client_answers_pings_stays_open() {
    const IDLE: Duration = Duration::from_millis(150);
    within_hang_timeout(async {
        let server = no_timeouts()
            .idle_timeout(Some(IDLE))
            .keepalive(Some(Duration::from_millis(50)))
            // Generous: a slow machine must not take the client for gone.
            .keepalive_timeout(Duration::from_secs(2));
        let (addr, mut reports) = start(server).await;
        let client = Client::connect(addr).await.expect("connects");
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        sender.send(numbered_event(0, 0, 10)).await.expect("sends");
        assert!(matches!(
            receiver.recv().await,
            Some(Ok(SessionEvent::Event(_)))
        ));
        // Quiet for four idle timeouts, a dozen PINGs.
        tokio::time::sleep(IDLE * 4).await;
        sender.send(numbered_event(0, 1, 10)).await.expect("sends");
        assert_eq!(
            receiver.recv().await.expect("an item").expect("the echo"),
            SessionEvent::Event(numbered_event(0, 1, 10))
        );
        sender.finish().await.expect("finishes");
        assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));
        let report = reports.recv().await.expect("a report");
        assert!(
            matches!(report.outcome, MirrorOutcome::Finished),
            "{report:?}"
        );
        assert_eq!(report.echoed, 2);

        // Now idle: the connection is closed.
        tokio::time::sleep(IDLE * 4).await;
        match client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
        {
            Err(Error::GoAway { .. } | Error::ConnectionLost(_) | Error::H2(_)) => {}
            other => panic!("expected the closed connection, got {other:?}"),
        }
    })
    .await;
}

/// A socket that can be frozen: reads and writes then wait forever, as with a peer whose host
/// went down without closing anything.
struct Freezable {
    io: TcpStream,
    frozen: Arc<AtomicBool>,
}

impl AsyncRead for Freezable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.frozen.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Freezable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.frozen.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.frozen.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.frozen.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A client that stops answering in the middle of a stream (its socket stays open) is taken
/// for gone after the keepalive timeout: the connection is closed and the stream fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_answering_pings_is_disconnected() {
    const INTERVAL: Duration = Duration::from_millis(100);
    // Generous: a slow machine must not take the client for gone before it is frozen.
    const TIMEOUT: Duration = Duration::from_millis(500);
    within_hang_timeout(async {
        let server = no_timeouts()
            .keepalive(Some(INTERVAL))
            .keepalive_timeout(TIMEOUT);
        let (addr, mut reports) = start(server).await;
        let frozen = Arc::new(AtomicBool::new(false));
        let io = Freezable {
            io: TcpStream::connect(addr).await.expect("connects"),
            frozen: frozen.clone(),
        };
        let mut send_request = h2_client(io).await;
        let (response, mut send) = send_request
            .send_request(post(addr, "application/vnd.amazon.eventstream"), false)
            .expect("sends");
        send.send_data(encode(&numbered_event(0, 0, 10)), false)
            .expect("sends");
        let mut body = response.await.expect("a response").into_body();
        assert!(body.data().await.is_some(), "the echo");
        // Answered PINGs keep it open.
        tokio::time::sleep(INTERVAL * 4).await;
        assert!(reports.try_recv().is_err(), "the stream is still open");

        frozen.store(true, Ordering::SeqCst);
        let started = Instant::now();
        let report = reports.recv().await.expect("a report");
        let waited = started.elapsed();
        assert!(
            matches!(
                report.outcome,
                MirrorOutcome::Failed(Error::ConnectionLost(_))
            ),
            "{report:?}"
        );
        // Not at once: a PING had to go unanswered (one may have been out already).
        assert!(waited >= TIMEOUT / 2, "after {waited:?}");
        drop((body, send, send_request));
    })
    .await;
}

/// A refused request whose body is still coming: the server reads the rest of the body before
/// it answers, so the client finishes its upload and the stream ends without a reset. A client
/// that sends no body gets the answer after the time bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_waits_for_the_rest_of_the_request_body() {
    within_hang_timeout(async {
        let (addr, mut reports) = start(no_timeouts()).await;
        let mut send_request = h2_client(TcpStream::connect(addr).await.expect("connects")).await;

        // The body in two parts, the second well after the first.
        let (mut response, mut send) = send_request
            .send_request(post(addr, "application/json"), false)
            .expect("sends");
        send.send_data(Bytes::from(vec![b'x'; 40_000]), false)
            .expect("sends");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !ready_now(&mut response).await,
            "no answer while the body is coming"
        );
        send.send_data(Bytes::from(vec![b'x'; 40_000]), true)
            .expect("the rest of the body is sent: the stream was not reset");
        let response = response.await.expect("a response");
        assert_eq!(response.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let mut body = response.into_body();
        let mut text = Vec::new();
        while let Some(chunk) = body.data().await {
            text.extend_from_slice(&chunk.expect("the body"));
        }
        assert!(String::from_utf8_lossy(&text).contains("content type"));
        let report = reports.recv().await.expect("a report");
        assert!(
            matches!(
                report.outcome,
                MirrorOutcome::Rejected(http::StatusCode::UNSUPPORTED_MEDIA_TYPE)
            ),
            "{report:?}"
        );
        // The stream ended cleanly: nothing reset it.
        let mut reset = Box::pin(poll_fn(|cx| send.poll_reset(cx)));
        assert!(!ready_now(&mut reset).await, "the stream was reset");
        drop(reset);

        // No body at all: the answer comes after the time bound.
        let started = Instant::now();
        let (response, _send) = send_request
            .send_request(post(addr, "application/json"), false)
            .expect("sends");
        let response = response.await.expect("a response");
        let waited = started.elapsed();
        assert_eq!(response.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(
            waited >= REJECT_DRAIN_TIME - Duration::from_millis(50),
            "answered after {waited:?}"
        );
    })
    .await;
}

/// A stream reset by its client before the server answered is reported as that reset, with
/// its reason, when the server accepts it or refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reset_before_the_answer_is_reported_as_a_reset() {
    within_hang_timeout(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("has an address");
        let (to_server, mut from_client) = mpsc::unbounded_channel::<()>();
        let (to_client, mut from_server) = mpsc::unbounded_channel::<()>();
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.expect("connects");
            let (send_request, mut connection) =
                h2::client::handshake(tcp).await.expect("handshake");
            let mut ping_pong = connection.ping_pong().expect("the PING handle");
            tokio::spawn(async move {
                let _ = connection.await;
            });
            let mut send_request = send_request.ready().await.expect("ready");
            let mut streams = Vec::new();
            for content_type in ["application/vnd.amazon.eventstream", "application/json"] {
                let (response, mut send) = send_request
                    .send_request(post(addr, content_type), false)
                    .expect("sends");
                // The server has the stream: reset it, and make sure the reset got there (a
                // PING sent after it is answered after it was processed).
                from_server.recv().await.expect("the server says when");
                send.send_reset(Reason::CANCEL);
                ping_pong.ping(h2::Ping::opaque()).await.expect("a PONG");
                to_server.send(()).expect("the server waits");
                streams.push((response, send));
            }
            streams
        });

        let (tcp, _) = listener.accept().await.expect("accepts");
        let mut connection = ServerConnection::handshake(tcp).await.expect("handshake");
        let mirror = Mirror::new();
        for expected in ["accepted", "refused"] {
            let incoming = connection.accept().await.expect("a stream").expect("ok");
            to_client.send(()).expect("the client waits");
            from_client.recv().await.expect("the client reset it");
            let report = mirror.serve_stream(incoming).await;
            match report.outcome {
                MirrorOutcome::Failed(Error::Reset { reason }) => {
                    assert_eq!(reason, Reason::CANCEL, "{expected}")
                }
                other => panic!("{expected}: expected the reset, got {other:?}"),
            }
        }
        drop(client.await.expect("the client does not panic"));
    })
    .await;
}
