//! A failure of the transport (the peer's `RST_STREAM`, `GOAWAY`, a lost connection) reaches the
//! core session, which reports it as the stream's last item: after the events it received before
//! the failure, whichever half of the stream found the failure first, with the HTTP/2 detail
//! (the reset's reason, the GOAWAY's) in the error the application sees.
//!
//! The peers are written with h2 directly, or byte by byte, so that they can fail at a chosen
//! point: three whole events and part of a fourth in one DATA frame, then the failure.

mod tokio_common;

use bytes::{Bytes, BytesMut};
use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream_tokio::{Client, Error, Reason, Receiver};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_common::{frame, listen, read_until_headers_of_stream_1, within_hang_timeout};

fn event(seq: u8) -> Message {
    EventBuilder::new("Tick").payload(vec![seq; 100]).build()
}

/// What the peer sends before it fails: events 0, 1 and 2 whole, and the first 20 bytes of
/// event 3.
fn three_events_and_a_cut() -> Bytes {
    let mut wire = BytesMut::new();
    for seq in 0..4 {
        event(seq).encode(&mut wire).expect("encodes");
    }
    let cut = wire.len() - (wire.len() / 4) + 20;
    wire.freeze().slice(..cut)
}

async fn open(addr: SocketAddr) -> (eventstream_tokio::Sender, Receiver) {
    let client = Client::connect(addr).await.expect("connects");
    let request = http::Request::post(format!("http://{addr}/"))
        .body(())
        .expect("a valid request");
    let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
    client.open(request, session).await.expect("opens")
}

/// Takes event 0; by then the receiver has handed the whole DATA frame to its session.
async fn first_event(receiver: &mut Receiver, wire: &Bytes) {
    match receiver.recv().await {
        Some(Ok(SessionEvent::Event(m))) => assert_eq!(m, event(0)),
        other => panic!("expected event 0, got {other:?}"),
    }
    assert_eq!(receiver.bytes_received(), wire.len() as u64);
}

/// Events 1 and 2, which the session received before the failure, then the failure: `check`
/// says whether it is the expected one. Then nothing.
async fn rest_then_failure(receiver: &mut Receiver, check: impl Fn(&Error) -> bool) {
    for seq in 1..3 {
        match receiver.recv().await {
            Some(Ok(SessionEvent::Event(m))) => assert_eq!(m, event(seq)),
            other => panic!("expected event {seq} before the failure, got {other:?}"),
        }
    }
    match receiver.recv().await {
        Some(Err(e)) if check(&e) => {}
        other => panic!("expected the transport's failure, got {other:?}"),
    }
    assert!(
        receiver.recv().await.is_none(),
        "the failure is the last item"
    );
}

/// An h2 server that answers 200, sends `wire` in one DATA frame, and on `go` resets the stream
/// with `reason` (or, without one, drops the whole connection: no RST_STREAM, no GOAWAY).
async fn h2_server(
    listener: TcpListener,
    wire: Bytes,
    go: oneshot::Receiver<()>,
    reset: Option<Reason>,
) {
    let (tcp, _) = listener.accept().await.expect("accepts");
    let mut connection = h2::server::handshake(tcp).await.expect("handshake");
    let (request, mut respond) = connection.accept().await.expect("a stream").expect("ok");
    let driver = tokio::spawn(async move {
        let _ = poll_fn(|cx| connection.poll_closed(cx)).await;
    });
    let mut send = respond
        .send_response(http::Response::new(()), false)
        .expect("responds");
    send.send_data(wire, false).expect("sends");
    go.await.expect("the client says when");
    match reset {
        Some(reason) => {
            send.send_reset(reason);
            // Keep the connection until the client is done with it.
            let _ = driver.await;
        }
        None => {
            // The driver, and the socket with it, is gone before the stream's handles are
            // dropped, so that dropping them cannot queue a reset.
            driver.abort();
            let _ = driver.await;
        }
    }
    drop((request, send));
}

/// The peer resets the stream while the client's sender waits for flow control (the peer never
/// reads): the sender finds the reset first and tells the session, and the receiver still yields
/// the events the session had received, then the reset, with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_found_by_the_sender_comes_after_the_events_received_before_it() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let wire = three_events_and_a_cut();
        let (go, wait) = oneshot::channel();
        let server = tokio::spawn(h2_server(
            listener,
            wire.clone(),
            wait,
            Some(Reason::INTERNAL_ERROR),
        ));
        let (mut sender, mut receiver) = open(addr).await;
        first_event(&mut receiver, &wire).await;
        go.send(()).expect("the server waits");
        // Send until the stream fails: the sends fill the peer's window, then wait until the
        // reset wakes them.
        let found = loop {
            if let Err(e) = sender.send(event(9)).await {
                break e;
            }
        };
        assert!(
            matches!(
                found,
                Error::Reset {
                    reason: Reason::INTERNAL_ERROR
                }
            ),
            "{found:?}"
        );
        rest_then_failure(&mut receiver, |e| {
            matches!(
                e,
                Error::Reset {
                    reason: Reason::INTERNAL_ERROR
                }
            )
        })
        .await;
        assert_eq!(found.kind(), "reset");
        drop((sender, receiver));
        server.await.expect("the server does not panic");
    })
    .await;
}

/// The peer resets the stream while the receiver's session still holds events: the receiver
/// yields them, then the reset; the sender's next command reports the same reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_found_by_the_receiver_comes_after_the_events_received_before_it() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let wire = three_events_and_a_cut();
        let (go, wait) = oneshot::channel();
        let server = tokio::spawn(h2_server(
            listener,
            wire.clone(),
            wait,
            Some(Reason::CANCEL),
        ));
        let (mut sender, mut receiver) = open(addr).await;
        first_event(&mut receiver, &wire).await;
        go.send(()).expect("the server waits");
        tokio::time::sleep(Duration::from_millis(50)).await;
        rest_then_failure(&mut receiver, |e| {
            matches!(
                e,
                Error::Reset {
                    reason: Reason::CANCEL
                }
            )
        })
        .await;
        match sender.send(event(9)).await {
            Err(Error::Reset { reason }) => assert_eq!(reason, Reason::CANCEL),
            other => panic!("expected the reset, got {other:?}"),
        }
        drop((sender, receiver));
        server.await.expect("the server does not panic");
    })
    .await;
}

/// The connection is lost (no RST_STREAM, no GOAWAY) while the receiver's session holds
/// events: they come first, then the lost connection, at both halves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_comes_after_the_events_received_before_it() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let wire = three_events_and_a_cut();
        let (go, wait) = oneshot::channel();
        let server = tokio::spawn(h2_server(listener, wire.clone(), wait, None));
        let (mut sender, mut receiver) = open(addr).await;
        first_event(&mut receiver, &wire).await;
        go.send(()).expect("the server waits");
        server.await.expect("the server does not panic");
        rest_then_failure(&mut receiver, |e| matches!(e, Error::ConnectionLost(_))).await;
        match sender.send(event(9)).await {
            Err(e @ Error::ConnectionLost(_)) => assert_eq!(e.kind(), "connection_lost"),
            other => panic!("expected the lost connection, got {other:?}"),
        }
    })
    .await;
}

/// A server, written byte by byte, answers 200 and sends the events, then GOAWAY with an error
/// and a last stream id of 0 (it will not process stream 1) while keeping the connection open:
/// the events the session received come first, then the GOAWAY with its reason, at both halves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goaway_comes_after_the_events_received_before_it() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let wire = three_events_and_a_cut();
        let (go, wait) = oneshot::channel::<()>();
        let sent = wire.clone();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.expect("accepts");
            tcp.write_all(&frame(0x4, 0, 0, &[]))
                .await
                .expect("SETTINGS");
            read_until_headers_of_stream_1(&mut tcp).await;
            // HEADERS (END_HEADERS): `:status: 200`, index 8 of HPACK's static table.
            tcp.write_all(&frame(0x1, 0x4, 1, &[0x88]))
                .await
                .expect("HEADERS");
            tcp.write_all(&frame(0x0, 0, 1, &sent)).await.expect("DATA");
            wait.await.expect("the client says when");
            let mut goaway = 0u32.to_be_bytes().to_vec(); // last stream id
            goaway.extend_from_slice(&u32::from(Reason::ENHANCE_YOUR_CALM).to_be_bytes());
            tcp.write_all(&frame(0x7, 0, 0, &goaway))
                .await
                .expect("GOAWAY");
            // Keep the connection open until the client closes it.
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest).await;
        });
        let (mut sender, mut receiver) = open(addr).await;
        first_event(&mut receiver, &wire).await;
        go.send(()).expect("the server waits");
        rest_then_failure(&mut receiver, |e| {
            matches!(
                e,
                Error::GoAway {
                    reason: Reason::ENHANCE_YOUR_CALM
                }
            )
        })
        .await;
        match sender.send(event(9)).await {
            Err(e @ Error::GoAway { .. }) => assert_eq!(e.kind(), "go_away"),
            other => panic!("expected the GOAWAY, got {other:?}"),
        }
        drop((sender, receiver));
        server.await.expect("the server does not panic");
    })
    .await;
}

/// A non-200 answer reaches the session like a transport failure: `response()` delivers it once
/// (with the status and the body), the stream then ends without it, and the sender reports it.
/// At a server, `response()` is a configuration error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_200_answer_is_delivered_once_by_response() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let mut connection = eventstream_tokio::ServerConnection::handshake(tcp)
                .await
                .expect("handshake");
            let first = connection.accept().await.expect("a stream").expect("ok");
            let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
            let (_sender, mut receiver) = first.accept(session).expect("accepts");
            match receiver.response().await {
                Err(e @ Error::Config(_)) => assert_eq!(e.kind(), "config"),
                other => panic!("a server stream has no response head: {other:?}"),
            }
            let second = connection.accept().await.expect("a stream").expect("ok");
            second
                .reject(http::StatusCode::SERVICE_UNAVAILABLE, "try later")
                .await
                .expect("rejects");
            // Keep the connection until the client is done.
            while connection.accept().await.is_some() {}
        });
        let client = Client::connect(addr).await.expect("connects");
        let request = || {
            http::Request::post(format!("http://{addr}/"))
                .body(())
                .expect("a valid request")
        };
        let session = || Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
        let first = client.open(request(), session()).await.expect("opens");
        let (mut sender, mut receiver) = client.open(request(), session()).await.expect("opens");
        match receiver.response().await {
            Err(Error::Status { status, body, .. }) => {
                assert_eq!(status, http::StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(body, Bytes::from_static(b"try later"));
            }
            other => panic!("expected the status, got {other:?}"),
        }
        assert!(receiver.recv().await.is_none(), "delivered once");
        let head = receiver.response().await.expect("then the head that came");
        assert_eq!(head.status, http::StatusCode::SERVICE_UNAVAILABLE);
        match sender.send(event(0)).await {
            Err(e @ Error::Status { .. }) => assert_eq!(e.kind(), "status"),
            other => panic!("expected the status, got {other:?}"),
        }
        drop((first, sender, receiver, client));
        server.await.expect("the server does not panic");
    })
    .await;
}
