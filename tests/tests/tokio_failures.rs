//! The tokio + h2 adapter when things go wrong, over real loopback sockets: a slow consumer
//! holds the peer back by one window; a reset mid-frame, a lost connection, a GOAWAY and a 500
//! each reach both halves as a typed error, and no send waits forever.
//!
//! The misbehaving peers are written with h2 directly, so that they can do what our adapter
//! never does.

mod tokio_common;

use bytes::Bytes;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream_tokio::{Client, ClientBuilder, Error, Reason, Receiver, ServerConnection};
use futures_core::Stream;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_common::*;

/// The HTTP/2 initial stream window: the client's receive window in these tests (given to it
/// explicitly where the adapter's client is the receiver: its default is larger).
const WINDOW: u64 = 65_535;

/// A `200` answer with the event stream content type.
fn ok_response() -> http::Response<()> {
    http::Response::builder()
        .header("content-type", "application/vnd.amazon.eventstream")
        .body(())
        .expect("a valid response")
}

/// Polls the receiver once: it must have nothing to yield yet.
async fn poll_nothing(receiver: &mut Receiver) {
    let polled = poll_fn(|cx| Poll::Ready(Pin::new(&mut *receiver).poll_next(cx))).await;
    assert!(polled.is_pending(), "unexpected item {polled:?}");
}

/// Waits until `receiver` has taken at least `n` bytes from h2 without yielding anything.
async fn wait_for_bytes(receiver: &mut Receiver, n: u64) {
    while receiver.bytes_received() < n {
        poll_nothing(receiver).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The server keeps sending while the client reads slowly: the server is never more than one
/// window (plus one frame) ahead of what the client's application took, so the client never
/// buffers more than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_holds_the_server_back_by_one_window() {
    const EVENTS: usize = 300;
    const PAYLOAD: usize = 4096;
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let sent = Arc::new(AtomicU64::new(0));
        let server_sent = sent.clone();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let mut connection = ServerConnection::handshake(tcp).await.expect("handshake");
            let incoming = connection.accept().await.expect("a stream").expect("ok");
            let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
            let (mut sender, _receiver) = incoming.accept(session).expect("accepts");
            for seq in 0..EVENTS {
                sender
                    .send(numbered_event(0, seq, PAYLOAD))
                    .await
                    .expect("sends");
                server_sent.store(sender.bytes_sent(), Ordering::SeqCst);
            }
            sender.finish().await.expect("finishes");
        });

        let client = ClientBuilder::new()
            .initial_stream_window_size(WINDOW as u32)
            .connect(addr)
            .await
            .expect("connects");
        let (_sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        let frame = encode(&numbered_event(0, 0, PAYLOAD)).len() as u64;
        let (mut delivered, mut max_ahead, mut max_unreleased) = (0u64, 0u64, 0u64);
        for seq in 0..EVENTS {
            let event = match receiver.recv().await {
                Some(Ok(SessionEvent::Event(m))) => m,
                other => panic!("expected event {seq}, got {other:?}"),
            };
            assert_eq!(event, numbered_event(0, seq, PAYLOAD));
            delivered += encode(&event).len() as u64;
            // What the server has handed to h2, less what our application took: all of it is
            // buffered between the two (in flight, in h2, in the adapter, in the session).
            let ahead = sent.load(Ordering::SeqCst).saturating_sub(delivered);
            max_ahead = max_ahead.max(ahead);
            max_unreleased = max_unreleased.max(receiver.unreleased_bytes());
            assert!(
                ahead <= WINDOW + frame,
                "event {seq}: the server is {ahead} bytes ahead, more than a window ({WINDOW}) \
                 plus a frame ({frame})"
            );
            assert!(receiver.unreleased_bytes() <= WINDOW + frame);
            // The slow part.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));
        server.await.expect("the server does not panic");
        // The bound was approached: the server really was held back by the window.
        assert!(
            max_ahead > WINDOW / 2,
            "the server was at most {max_ahead} bytes ahead: the test did not exercise the window"
        );
        eprintln!(
            "slow consumer: {} bytes sent in all; at most {max_ahead} bytes ahead of the \
             application, {max_unreleased} unreleased (window {WINDOW}, frame {frame})",
            sent.load(Ordering::SeqCst)
        );
    })
    .await;
}

/// A server resets the stream in the middle of a frame: the client's receiver and sender both
/// fail with the reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mid_frame_from_the_server_reaches_both_halves() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let (go, reset_now) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let mut connection = h2::server::handshake(tcp).await.expect("handshake");
            let (_request, mut respond) = connection.accept().await.expect("a stream").expect("ok");
            let driver = tokio::spawn(async move {
                let _ = poll_fn(|cx| connection.poll_closed(cx)).await;
            });
            let mut send = respond
                .send_response(ok_response(), false)
                .expect("responds");
            let frame = encode(&numbered_event(0, 0, 100));
            send.send_data(frame.slice(..20), false).expect("sends");
            reset_now.await.expect("the client says when");
            send.send_reset(Reason::INTERNAL_ERROR);
            driver.await.expect("the driver does not panic");
        });

        let client = Client::connect(addr).await.expect("connects");
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        sender.send(numbered_event(0, 0, 10)).await.expect("sends");
        wait_for_bytes(&mut receiver, 20).await;
        go.send(()).expect("the server waits");

        match receiver.recv().await {
            Some(Err(Error::Reset { reason })) => assert_eq!(reason, Reason::INTERNAL_ERROR),
            other => panic!("expected the reset, got {other:?}"),
        }
        assert!(
            receiver.recv().await.is_none(),
            "the failure is the last item"
        );
        match sender.send(numbered_event(0, 1, 10)).await {
            Err(Error::Reset { reason }) => assert_eq!(reason, Reason::INTERNAL_ERROR),
            other => panic!("expected the reset, got {other:?}"),
        }
        drop((sender, receiver, client));
        server.await.expect("the server does not panic");
    })
    .await;
}

/// A client resets the stream in the middle of a frame: the server's receiver and sender both
/// fail with the reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mid_frame_from_the_client_reaches_both_halves() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let (go, reset_now) = tokio::sync::oneshot::channel::<()>();
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.expect("connects");
            let (send_request, connection) = h2::client::handshake(tcp).await.expect("handshake");
            let driver = tokio::spawn(async move {
                let _ = connection.await;
            });
            let mut send_request = send_request.ready().await.expect("ready");
            let request = http::Request::post(format!("http://{addr}/"))
                .header("content-type", "application/vnd.amazon.eventstream")
                .body(())
                .expect("a valid request");
            let (_response, mut send) = send_request.send_request(request, false).expect("sends");
            let frame = encode(&numbered_event(0, 0, 100));
            send.send_data(frame.slice(..20), false).expect("sends");
            reset_now.await.expect("the server says when");
            send.send_reset(Reason::CANCEL);
            drop(send_request);
            driver.await.expect("the driver does not panic");
        });

        let (tcp, _) = listener.accept().await.expect("accepts");
        let mut connection = ServerConnection::handshake(tcp).await.expect("handshake");
        let incoming = connection.accept().await.expect("a stream").expect("ok");
        assert!(incoming.is_event_stream());
        let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
        let (mut sender, mut receiver) = incoming.accept(session).expect("accepts");
        wait_for_bytes(&mut receiver, 20).await;
        go.send(()).expect("the client waits");

        match receiver.recv().await {
            Some(Err(Error::Reset { reason })) => assert_eq!(reason, Reason::CANCEL),
            other => panic!("expected the reset, got {other:?}"),
        }
        assert!(receiver.recv().await.is_none());
        match sender.send(numbered_event(0, 0, 10)).await {
            Err(Error::Reset { reason }) => assert_eq!(reason, Reason::CANCEL),
            other => panic!("expected the reset, got {other:?}"),
        }
        drop((sender, receiver, connection));
        client.await.expect("the client does not panic");
    })
    .await;
}

/// The server's connection drops while the client's sender is blocked on flow control (the
/// server never reads): the blocked send and the receiver both fail with the lost connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_fails_a_blocked_sender_and_the_receiver() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let mut connection = h2::server::handshake(tcp).await.expect("handshake");
            let (request, mut respond) = connection.accept().await.expect("a stream").expect("ok");
            let _send = respond
                .send_response(ok_response(), false)
                .expect("responds");
            // Never read the body; keep the connection going until this task is aborted.
            let _body = request.into_body();
            let _ = poll_fn(|cx| connection.poll_closed(cx)).await;
        });

        let client = Client::connect(addr).await.expect("connects");
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let sending = tokio::spawn(async move {
            for seq in 0.. {
                if let Err(e) = sender.send(numbered_event(0, seq, 4096)).await {
                    return e;
                }
                counter.store(sender.bytes_sent(), Ordering::SeqCst);
            }
            unreachable!("the sends block, then fail")
        });
        // Wait until the sender is blocked: a window's worth sent, nothing more accepted.
        while sent.load(Ordering::SeqCst) + 8192 < WINDOW {
            poll_nothing(&mut receiver).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !sending.is_finished(),
            "the sender is blocked on flow control"
        );
        assert!(
            sent.load(Ordering::SeqCst) <= WINDOW,
            "no more than the window was accepted"
        );

        server.abort();
        let _ = server.await;

        match receiver.recv().await {
            Some(Err(Error::ConnectionLost(_))) => {}
            other => panic!("expected the lost connection, got {other:?}"),
        }
        assert!(receiver.recv().await.is_none());
        match sending.await.expect("the sending task does not panic") {
            Error::ConnectionLost(_) => {}
            other => panic!("expected the lost connection, got {other:?}"),
        }
    })
    .await;
}

/// The client's connection drops: the server's receiver and sender both fail with the lost
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_reaches_both_halves_at_the_server() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let (go, drop_now) = tokio::sync::oneshot::channel::<()>();
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.expect("connects");
            let (send_request, connection) = h2::client::handshake(tcp).await.expect("handshake");
            let driver = tokio::spawn(async move {
                let _ = connection.await;
            });
            let mut send_request = send_request.ready().await.expect("ready");
            let request = http::Request::post(format!("http://{addr}/"))
                .header("content-type", "application/vnd.amazon.eventstream")
                .body(())
                .expect("a valid request");
            let (_response, mut send) = send_request.send_request(request, false).expect("sends");
            send.send_data(encode(&numbered_event(0, 0, 100)), false)
                .expect("sends");
            drop_now.await.expect("the server says when");
            // The whole connection goes away: no RST_STREAM, no GOAWAY. The driver is gone (and
            // the socket with it) before the stream's handles are dropped, so that dropping them
            // cannot queue a reset that a driver still running on another worker would flush.
            driver.abort();
            let _ = driver.await;
            drop((send, send_request));
        });

        let (tcp, _) = listener.accept().await.expect("accepts");
        let mut connection = ServerConnection::handshake(tcp).await.expect("handshake");
        let incoming = connection.accept().await.expect("a stream").expect("ok");
        let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
        let (mut sender, mut receiver) = incoming.accept(session).expect("accepts");
        assert!(matches!(
            receiver.recv().await,
            Some(Ok(SessionEvent::Event(_)))
        ));
        go.send(()).expect("the client waits");
        client.await.expect("the client does not panic");

        match receiver.recv().await {
            Some(Err(Error::ConnectionLost(_))) => {}
            other => panic!("expected the lost connection, got {other:?}"),
        }
        match sender.send(numbered_event(0, 0, 10)).await {
            Err(Error::ConnectionLost(_)) => {}
            other => panic!("expected the lost connection, got {other:?}"),
        }
    })
    .await;
}

/// A server that never processed the stream sends GOAWAY with an error (written by hand: last
/// stream id 0, ENHANCE_YOUR_CALM) and keeps the connection open: both halves fail with the
/// GOAWAY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goaway_reaches_both_halves() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.expect("accepts");
            // The server preface: an empty SETTINGS.
            tcp.write_all(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0])
                .await
                .expect("writes");
            read_until_headers_of_stream_1(&mut tcp).await;
            let mut goaway = vec![0, 0, 8, 0x7, 0, 0, 0, 0, 0];
            goaway.extend_from_slice(&0u32.to_be_bytes()); // last stream id
            goaway.extend_from_slice(&u32::from(Reason::ENHANCE_YOUR_CALM).to_be_bytes());
            tcp.write_all(&goaway).await.expect("writes");
            // Keep the connection open until the client closes it.
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest).await;
        });

        let client = Client::connect(addr).await.expect("connects");
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        match receiver.recv().await {
            Some(Err(Error::GoAway { reason })) => assert_eq!(reason, Reason::ENHANCE_YOUR_CALM),
            other => panic!("expected the GOAWAY, got {other:?}"),
        }
        assert!(receiver.recv().await.is_none());
        match sender.send(numbered_event(0, 0, 10)).await {
            Err(Error::GoAway { reason }) => assert_eq!(reason, Reason::ENHANCE_YOUR_CALM),
            other => panic!("expected the GOAWAY, got {other:?}"),
        }
        drop((sender, receiver, client));
        server.await.expect("the server does not panic");
    })
    .await;
}

/// The server answers 500 with a body: the receiver fails with the status and the body, and so
/// does the sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_reaches_both_halves_with_its_body() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let mut connection = ServerConnection::handshake(tcp).await.expect("handshake");
            let incoming = connection.accept().await.expect("a stream").expect("ok");
            incoming
                .reject(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "the service is down",
                )
                .await
                .expect("rejects");
            // Keep the connection until the client is done.
            assert!(connection.accept().await.is_none());
        });

        let client = Client::connect(addr).await.expect("connects");
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::Rpc))
            .await
            .expect("opens");
        // The answer may arrive first (the server waits for the rest of the body only for a
        // moment, and this client never ends it): then the send fails with the reset that
        // follows the complete response, or with the status.
        match sender
            .send_initial_request(EventBuilder::initial_request().build())
            .await
        {
            Ok(())
            | Err(Error::Reset {
                reason: Reason::NO_ERROR,
            })
            | Err(Error::Status { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
        match receiver.recv().await {
            Some(Err(Error::Status { status, body, .. })) => {
                assert_eq!(status, http::StatusCode::INTERNAL_SERVER_ERROR);
                assert_eq!(body, Bytes::from_static(b"the service is down"));
            }
            other => panic!("expected the status, got {other:?}"),
        }
        assert!(receiver.recv().await.is_none());
        assert_eq!(
            receiver.response_head().map(|h| h.status),
            Some(http::StatusCode::INTERNAL_SERVER_ERROR)
        );
        match sender.send(numbered_event(0, 0, 10)).await {
            Err(Error::Status { status, .. }) => {
                assert_eq!(status, http::StatusCode::INTERNAL_SERVER_ERROR)
            }
            other => panic!("expected the status, got {other:?}"),
        }
        drop((sender, receiver, client));
        server.await.expect("the server does not panic");
    })
    .await;
}

/// A frame the client cannot decode fails the client's session: the receiver yields the
/// session's error once, the stream is reset (the server's halves see it), and the sender
/// reports the same failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_frame_fails_the_session_and_resets_the_stream() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let mut connection = h2::server::handshake(tcp).await.expect("handshake");
            let (request, mut respond) = connection.accept().await.expect("a stream").expect("ok");
            let driver = tokio::spawn(async move {
                let _ = poll_fn(|cx| connection.poll_closed(cx)).await;
            });
            let mut send = respond
                .send_response(ok_response(), false)
                .expect("responds");
            let mut frame = encode(&numbered_event(0, 0, 100)).to_vec();
            let last = frame.len() - 1;
            frame[last] ^= 0xff; // break the message CRC
            send.send_data(Bytes::from(frame), false).expect("sends");
            // The client resets the stream: our side sees it.
            let reason = poll_fn(|cx| send.poll_reset(cx)).await.expect("a reset");
            drop((request, send));
            driver.abort();
            reason
        });

        let client = Client::connect(addr).await.expect("connects");
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        match receiver.recv().await {
            Some(Err(Error::Session(e))) => assert_eq!(e.kind(), "message_checksum_mismatch"),
            other => panic!("expected the session's failure, got {other:?}"),
        }
        assert!(receiver.recv().await.is_none());
        match sender.send(numbered_event(0, 0, 10)).await {
            Err(Error::Session(e)) => assert_eq!(e.kind(), "message_checksum_mismatch"),
            other => panic!("expected the session's failure, got {other:?}"),
        }
        let reason = server.await.expect("the server does not panic");
        assert_eq!(reason, Reason::INTERNAL_ERROR);
    })
    .await;
}
