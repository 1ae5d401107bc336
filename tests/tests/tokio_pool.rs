//! The pooled tokio client against servers on loopback ports that count the connections they
//! accept: servers that allow 0, 1 and 2 concurrent streams, the limit of connections per
//! authority, `GOAWAY` mid-run, a killed and restarted server, idle connections closed, the open
//! and response timeouts, and authorities forgotten.
//!
//! Every wait is for an event (an echo, a failure, a closed connection); the hang detector is
//! the only clock.

mod tokio_common;

use bytes::Bytes;
use eventstream::session::{Mode, SessionEvent};
use eventstream_tokio::mirror::Mirror;
use eventstream_tokio::{Client, ClientBuilder, Error, Receiver, Sender, ServerBuilder};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_common::*;

/// A server that counts the connections it accepts and reports each one that closes.
struct Counted {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: mpsc::UnboundedReceiver<()>,
}

impl Counted {
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The mirror with `server`'s settings, counting connections.
async fn counted_mirror(server: ServerBuilder) -> Counted {
    let (listener, addr) = listen().await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let (closed_tx, closed) = mpsc::unbounded_channel();
    let mirror = Mirror::new().with_server(server);
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.expect("accepts");
            count.fetch_add(1, Ordering::SeqCst);
            let mirror = mirror.clone();
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let _ = mirror.serve_connection(tcp).await;
                let _ = closed_tx.send(());
            });
        }
    });
    Counted {
        addr,
        accepted,
        closed,
    }
}

fn uri(addr: SocketAddr) -> String {
    format!("http://{addr}/mirror")
}

/// Opens a stream and waits for the echo of one event: the stream is open at the server.
async fn open_live(client: &Client, addr: SocketAddr, stream: usize) -> (Sender, Receiver) {
    let (mut sender, mut receiver) = open(client, addr).await.expect("opens");
    echo(&mut sender, &mut receiver, stream, 0).await;
    (sender, receiver)
}

/// Sends event `seq` of `stream` and waits for its echo.
async fn echo(sender: &mut Sender, receiver: &mut Receiver, stream: usize, seq: usize) {
    sender
        .send(numbered_event(stream, seq, 64))
        .await
        .expect("sends");
    match receiver.recv().await {
        Some(Ok(SessionEvent::Event(m))) => {
            assert_eq!(m.payload(), numbered_event(stream, seq, 64).payload());
        }
        other => panic!("stream {stream}: expected the echo of {seq}, got {other:?}"),
    }
}

/// Finishes a stream and waits for its end; the halves may be kept (the stream's place is free
/// all the same).
async fn finish(sender: &mut Sender, receiver: &mut Receiver) {
    sender.finish().await.expect("finishes");
    match receiver.recv().await {
        Some(Ok(SessionEvent::End)) => {}
        other => panic!("expected the end, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_limit_of_one_stream_gives_each_concurrent_stream_a_connection() {
    within_hang_timeout(async {
        let server = counted_mirror(ServerBuilder::new().max_concurrent_streams(1)).await;
        let client = ClientBuilder::new().build();
        let mut open = Vec::new();
        for stream in 0..3 {
            open.push(open_live(&client, server.addr, stream).await);
        }
        assert_eq!(server.accepted(), 3, "one connection per concurrent stream");
        // Every stream still works.
        for (stream, (sender, receiver)) in open.iter_mut().enumerate() {
            echo(sender, receiver, stream, 1).await;
        }
        for (sender, receiver) in &mut open {
            finish(sender, receiver).await;
        }
        // The places are free again, though the finished halves are still held: no new
        // connection.
        let (mut sender, mut receiver) = open_live(&client, server.addr, 9).await;
        finish(&mut sender, &mut receiver).await;
        assert_eq!(server.accepted(), 3);
        drop(open);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_limit_of_two_streams_shares_connections_by_two() {
    within_hang_timeout(async {
        let server = counted_mirror(ServerBuilder::new().max_concurrent_streams(2)).await;
        let client = ClientBuilder::new().build();
        let mut open = Vec::new();
        for stream in 0..3 {
            open.push(open_live(&client, server.addr, stream).await);
        }
        assert_eq!(server.accepted(), 2);
        // The fourth fits beside the third.
        open.push(open_live(&client, server.addr, 3).await);
        assert_eq!(server.accepted(), 2);
        // Opened all at once, from several tasks: still two streams a connection.
        let server2 = counted_mirror(ServerBuilder::new().max_concurrent_streams(2)).await;
        let racing = ClientBuilder::new().build();
        let opens = (0..4).map(|stream| {
            let client = racing.clone();
            let addr = server2.addr;
            tokio::spawn(async move { open_live(&client, addr, stream).await })
        });
        let mut raced = Vec::new();
        for open in opens.collect::<Vec<_>>() {
            raced.push(open.await.expect("the task"));
        }
        assert_eq!(
            server2.accepted(),
            2,
            "four streams at once on two connections"
        );
        for (mut sender, mut receiver) in open.into_iter().chain(raced) {
            finish(&mut sender, &mut receiver).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_of_connections_makes_a_stream_wait_for_a_place() {
    within_hang_timeout(async {
        let server = counted_mirror(ServerBuilder::new().max_concurrent_streams(1)).await;
        let client = ClientBuilder::new()
            .max_connections_per_authority(2)
            .build();
        let mut first = open_live(&client, server.addr, 0).await;
        let mut second = open_live(&client, server.addr, 1).await;
        assert_eq!(server.accepted(), 2);
        // A third stream has no place: it opens once the first ends, on its connection.
        let third = tokio::spawn({
            let client = client.clone();
            let addr = server.addr;
            async move { open_live(&client, addr, 2).await }
        });
        finish(&mut first.0, &mut first.1).await;
        let mut third = third.await.expect("the task");
        assert_eq!(server.accepted(), 2, "no third connection");
        finish(&mut third.0, &mut third.1).await;
        finish(&mut second.0, &mut second.1).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_closes_after_the_idle_timeout() {
    within_hang_timeout(async {
        // The server never closes an idle connection itself.
        let mut server = counted_mirror(ServerBuilder::new().idle_timeout(None)).await;
        let client = ClientBuilder::new()
            .idle_timeout(Some(Duration::from_millis(100)))
            .build();
        let (mut sender, mut receiver) = open_live(&client, server.addr, 0).await;
        finish(&mut sender, &mut receiver).await;
        // The client closes it.
        server.closed.recv().await.expect("the connection closed");
        assert_eq!(server.accepted(), 1);
        // The next stream connects again.
        let (mut sender, mut receiver) = open_live(&client, server.addr, 1).await;
        finish(&mut sender, &mut receiver).await;
        assert_eq!(server.accepted(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_client_closes_its_idle_connections() {
    within_hang_timeout(async {
        let mut server = counted_mirror(ServerBuilder::new().idle_timeout(None)).await;
        let client = ClientBuilder::new().idle_timeout(None).build();
        let (mut sender, mut receiver) = open_live(&client, server.addr, 0).await;
        finish(&mut sender, &mut receiver).await;
        drop(client);
        server.closed.recv().await.expect("the connection closed");
    })
    .await;
}

/// A relay in front of `target` that holds back everything the server sends on its first
/// connection until `gate` opens, counting connections: the server's SETTINGS arrive when the
/// test says.
async fn gated_relay(target: SocketAddr, gate: tokio::sync::watch::Receiver<bool>) -> Counted {
    let (listener, addr) = listen().await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let (_closed_tx, closed) = mpsc::unbounded_channel();
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.expect("accepts");
            let first = count.fetch_add(1, Ordering::SeqCst) == 0;
            let server = tokio::net::TcpStream::connect(target)
                .await
                .expect("connects");
            let mut gate = gate.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = tokio::io::copy(&mut client_read, &mut server_write);
                let down = async {
                    if first {
                        let _ = gate.wait_for(|open| *open).await;
                    }
                    tokio::io::copy(&mut server_read, &mut client_write).await
                };
                let _ = tokio::join!(up, down);
            });
        }
    });
    Counted {
        addr,
        accepted,
        closed,
    }
}

/// Until the server's SETTINGS arrive, a new connection carries one stream: streams opened
/// meanwhile wait for them, then share the connection as the server allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_wait_for_the_server_settings_of_a_new_connection() {
    within_hang_timeout(async {
        let server = counted_mirror(ServerBuilder::new().max_concurrent_streams(2)).await;
        let (gate, gate_rx) = tokio::sync::watch::channel(false);
        let relay = gated_relay(server.addr, gate_rx).await;
        let client = ClientBuilder::new().build();
        let request = || {
            http::Request::post(uri(relay.addr))
                .body(())
                .expect("a request")
        };
        // The first stream opens on the new connection before anything came back.
        let (mut a_send, mut a_recv) = client
            .open(request(), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        // Two more, from other tasks: they wait for the SETTINGS.
        let more: Vec<_> = (1..3)
            .map(|stream| {
                let client = client.clone();
                let addr = relay.addr;
                tokio::spawn(async move { open_live(&client, addr, stream).await })
            })
            .collect();
        gate.send(true).expect("opens the gate");
        echo(&mut a_send, &mut a_recv, 0, 0).await;
        let mut rest = Vec::new();
        for open in more {
            rest.push(open.await.expect("the task"));
        }
        // The server allows two streams a connection: the third took a second one.
        assert_eq!(relay.accepted(), 2);
        finish(&mut a_send, &mut a_recv).await;
        for (sender, receiver) in &mut rest {
            finish(sender, receiver).await;
        }
    })
    .await;
}

/// A request that HTTP/2 cannot carry fails on its own: the connection keeps its other streams
/// and takes the next ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_fails_alone_and_its_connection_stays_in_use() {
    within_hang_timeout(async {
        let server = counted_mirror(ServerBuilder::new()).await;
        let client = ClientBuilder::new().build();
        let (mut a_send, mut a_recv) = open_live(&client, server.addr, 0).await;
        // A connection-specific header, which HTTP/2 forbids.
        let request = http::Request::post(uri(server.addr))
            .header("connection", "keep-alive")
            .body(())
            .expect("a request");
        let err = client
            .open(request, client_session(Mode::HttpBinding))
            .await
            .expect_err("malformed");
        assert_eq!(err.kind(), "h2", "{err}");
        let (mut b_send, mut b_recv) = open_live(&client, server.addr, 1).await;
        echo(&mut a_send, &mut a_recv, 0, 1).await;
        finish(&mut a_send, &mut a_recv).await;
        finish(&mut b_send, &mut b_recv).await;
        assert_eq!(server.accepted(), 1);
    })
    .await;
}

// A server written with h2 directly, to send GOAWAY at a chosen point and to be killed.

/// The bytes of an event frame that marks a point in the server's script.
fn marker() -> Bytes {
    encode(&numbered_event(99, 99, 16))
}

/// Echoes a request body on its response until the body ends, then ends the response.
async fn echo_body(mut body: h2::RecvStream, mut send: h2::SendStream<Bytes>) {
    while let Some(data) = body.data().await {
        let Ok(data) = data else { return };
        let _ = body.flow_control().release_capacity(data.len());
        if send.send_data(data, false).is_err() {
            return;
        }
    }
    let _ = send.send_data(Bytes::new(), true);
}

/// Answers a request with 200 and the event-stream content type.
fn respond(respond: &mut h2::server::SendResponse<Bytes>) -> h2::SendStream<Bytes> {
    let response = http::Response::builder()
        .header("content-type", "application/vnd.amazon.eventstream")
        .body(())
        .expect("a response");
    respond.send_response(response, false).expect("responds")
}

/// Serves one connection, echoing every stream; with `goaway_after`, once that many streams
/// were accepted it sends GOAWAY (gracefully: those streams go on) and then the marker on the
/// first stream, so that the client has the GOAWAY when it reads the marker.
async fn serve_h2(tcp: tokio::net::TcpStream, goaway_after: Option<usize>) {
    let Ok(mut connection) = h2::server::handshake(tcp).await else {
        return;
    };
    let mut first: Option<(h2::RecvStream, h2::SendStream<Bytes>)> = None;
    let mut accepted = 0;
    while let Some(next) = connection.accept().await {
        let Ok((request, mut responder)) = next else {
            return;
        };
        let send = respond(&mut responder);
        accepted += 1;
        if goaway_after.is_some() && first.is_none() {
            first = Some((request.into_body(), send));
        } else {
            tokio::spawn(echo_body(request.into_body(), send));
        }
        if Some(accepted) == goaway_after {
            connection.graceful_shutdown();
            let (body, mut send) = first.take().expect("the first stream");
            send.send_data(marker(), false).expect("the marker");
            tokio::spawn(echo_body(body, send));
        }
    }
}

/// The h2 server on `listener`: the first connection sends GOAWAY after `goaway_after` streams
/// (if given), the others only echo.
async fn h2_server(listener: TcpListener, accepted: Arc<AtomicUsize>, goaway_after: Option<usize>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let n = accepted.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(serve_h2(tcp, if n == 0 { goaway_after } else { None }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_goaway_open_streams_finish_and_new_ones_take_a_new_connection() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let accepted = Arc::new(AtomicUsize::new(0));
        tokio::spawn(h2_server(listener, accepted.clone(), Some(2)));
        let client = ClientBuilder::new().build();
        let open = || {
            let request = http::Request::post(uri(addr)).body(()).expect("a request");
            client.open(request, client_session(Mode::HttpBinding))
        };
        let (mut a_send, mut a_recv) = open().await.expect("opens");
        let (mut b_send, mut b_recv) = open().await.expect("opens");
        // The server sent GOAWAY, then the marker on the first stream.
        match a_recv.recv().await {
            Some(Ok(SessionEvent::Event(m))) => {
                assert_eq!(m.payload(), numbered_event(99, 99, 16).payload());
            }
            other => panic!("expected the marker, got {other:?}"),
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        // A new stream goes to a new connection.
        let (mut c_send, mut c_recv) = open_live(&client, addr, 2).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        // The streams on the old connection go on to their ends.
        echo(&mut a_send, &mut a_recv, 0, 1).await;
        echo(&mut b_send, &mut b_recv, 1, 1).await;
        finish(&mut a_send, &mut a_recv).await;
        finish(&mut b_send, &mut b_recv).await;
        finish(&mut c_send, &mut c_recv).await;
        // And the new connection takes the next stream.
        let (mut d_send, mut d_recv) = open_live(&client, addr, 3).await;
        finish(&mut d_send, &mut d_recv).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_its_streams_and_a_restarted_one_is_reconnected() {
    within_hang_timeout(async {
        let (listener, addr) = listen().await;
        let accepted = Arc::new(AtomicUsize::new(0));
        // Each connection's task is owned by the server's task: aborting it closes them all.
        let server = tokio::spawn({
            let accepted = accepted.clone();
            async move {
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    connections.spawn(serve_h2(tcp, None));
                }
            }
        });
        let client = ClientBuilder::new().build();
        let (mut a_send, mut a_recv) = open_live(&client, addr, 0).await;
        let (mut b_send, mut b_recv) = open_live(&client, addr, 1).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        server.abort();
        assert!(server.await.expect_err("aborted").is_cancelled());
        // Both streams fail, each with the lost connection, and their senders say so too.
        for (send, recv) in [(&mut a_send, &mut a_recv), (&mut b_send, &mut b_recv)] {
            match recv.recv().await {
                Some(Err(e)) => assert_eq!(e.kind(), "connection_lost", "{e}"),
                other => panic!("expected the lost connection, got {other:?}"),
            }
            assert!(recv.recv().await.is_none());
            let err = send
                .send(numbered_event(0, 1, 64))
                .await
                .expect_err("the connection is gone");
            assert_eq!(err.kind(), "connection_lost", "{err}");
        }
        // Nobody listens: opening fails to connect.
        let request = http::Request::post(uri(addr)).body(()).expect("a request");
        let err = client
            .open(request, client_session(Mode::HttpBinding))
            .await
            .expect_err("no server");
        assert!(matches!(err, Error::Connect(_)), "{err:?}");

        // The server comes back on the same port: the next stream reconnects.
        let listener = TcpListener::bind(addr).await.expect("binds the port again");
        let again = Arc::new(AtomicUsize::new(0));
        tokio::spawn(h2_server(listener, again.clone(), None));
        let (mut c_send, mut c_recv) = open_live(&client, addr, 2).await;
        finish(&mut c_send, &mut c_recv).await;
        assert_eq!(again.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_allows_no_stream_cannot_hold_an_open_or_a_stream_forever() {
    within_hang_timeout(async {
        let server = counted_mirror(ServerBuilder::new().max_concurrent_streams(0)).await;
        let builder = ClientBuilder::new()
            .max_connections_per_authority(1)
            .open_timeout(Some(Duration::from_millis(300)))
            .response_timeout(Some(Duration::from_millis(300)));
        let pooled = builder.build();
        let fixed = builder.connect(server.addr).await.expect("connects");
        for client in [&pooled, &fixed] {
            // Before the server's SETTINGS arrive a first stream may be opened (HTTP/2 allows
            // any number until then). Either the server refuses it, or, when the SETTINGS came
            // first, h2 holds it unsent: then the response timeout ends it.
            if let Ok((_sender, receiver)) = open(client, server.addr).await {
                expect_refused_or_no_response(receiver).await;
            }
        }
        // With the limit known, the pool makes an open wait for a place that never comes, and
        // the open gives up.
        match open(&pooled, server.addr).await {
            Err(e @ Error::TimedOut(_)) => {
                assert_eq!(e.kind(), "timed_out");
                assert!(e.to_string().contains("open timeout"), "{e}");
            }
            Err(e) => panic!("expected the open timeout, got {e}"),
            Ok(_) => panic!("a server that allows no stream opened one"),
        }
        // A client of one connection hands the stream to h2, which holds it until the server
        // allows it: the response timeout ends it.
        let (_sender, receiver) = open(&fixed, server.addr).await.expect("queued by h2");
        expect_refused_or_no_response(receiver).await;
    })
    .await;
}

/// Opens an event stream to the mirror at `addr`.
async fn open(client: &Client, addr: SocketAddr) -> Result<(Sender, Receiver), Error> {
    let request = http::Request::post(uri(addr)).body(()).expect("a request");
    client
        .open(request, client_session(Mode::HttpBinding))
        .await
}

/// The stream's only item is its refusal by the server or the response timeout.
async fn expect_refused_or_no_response(mut receiver: Receiver) {
    match receiver.recv().await {
        Some(Err(e @ Error::TimedOut(_))) => {
            assert!(e.to_string().contains("response timeout"), "{e}");
        }
        Some(Err(Error::Reset { reason })) => assert_eq!(reason, h2::Reason::REFUSED_STREAM),
        other => panic!("expected a timeout or a refusal, got {other:?}"),
    }
    assert!(receiver.recv().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_waiting_for_a_place_times_out_and_gives_its_turn_back() {
    within_hang_timeout(async {
        let server = counted_mirror(ServerBuilder::new().max_concurrent_streams(1)).await;
        let client = ClientBuilder::new()
            .max_connections_per_authority(1)
            .open_timeout(Some(Duration::from_millis(300)))
            .build();
        let mut first = open_live(&client, server.addr, 0).await;
        assert!(
            matches!(open(&client, server.addr).await, Err(Error::TimedOut(_))),
            "the second stream has no place while the first is open"
        );
        // The open that gave up took nothing: once the first ends, the next one opens on the
        // same connection.
        finish(&mut first.0, &mut first.1).await;
        let (mut sender, mut receiver) = open_live(&client, server.addr, 1).await;
        finish(&mut sender, &mut receiver).await;
        assert_eq!(server.accepted(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_that_never_comes_ends_the_stream_after_the_response_timeout() {
    within_hang_timeout(async {
        // A server that takes the stream and never answers it.
        let (listener, addr) = listen().await;
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let mut connection = h2::server::handshake(tcp).await.expect("a handshake");
            let mut held = Vec::new();
            while let Some(Ok(stream)) = connection.accept().await {
                held.push(stream);
            }
        });
        let client = ClientBuilder::new()
            .response_timeout(Some(Duration::from_millis(200)))
            .build();
        let (mut sender, mut receiver) = open(&client, addr).await.expect("opens");
        match receiver.recv().await {
            Some(Err(e @ Error::TimedOut(_))) => {
                assert!(e.to_string().contains("response timeout"), "{e}")
            }
            other => panic!("expected the response timeout, got {other:?}"),
        }
        assert!(receiver.recv().await.is_none());
        // The stream was reset: the sender fails too.
        assert!(sender.send(numbered_event(0, 0, 8)).await.is_err());
    })
    .await;
}

/// How many authorities a pooled client's `Debug` says it keeps.
fn authorities(client: &Client) -> usize {
    let debug = format!("{client:?}");
    let (_, rest) = debug
        .split_once("authorities: ")
        .unwrap_or_else(|| panic!("no count of authorities in {debug}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_forgets_authorities_whose_connections_closed() {
    within_hang_timeout(async {
        let client = ClientBuilder::new()
            .idle_timeout(Some(Duration::from_millis(50)))
            .build();
        let mut servers = Vec::new();
        for stream in 0..4 {
            let mut server = counted_mirror(ServerBuilder::new().idle_timeout(None)).await;
            let (mut sender, mut receiver) = open_live(&client, server.addr, stream).await;
            // The authorities before this one closed their connections: only this one is kept.
            assert_eq!(authorities(&client), 1, "after stream {stream}");
            finish(&mut sender, &mut receiver).await;
            drop((sender, receiver));
            server
                .closed
                .recv()
                .await
                .expect("the idle connection closed");
            servers.push(server);
        }
        // A stream that stays open keeps its authority beside the next one.
        let (mut sender, mut receiver) = open_live(&client, servers[0].addr, 10).await;
        let (mut sender2, mut receiver2) = open_live(&client, servers[1].addr, 11).await;
        assert_eq!(authorities(&client), 2);
        finish(&mut sender, &mut receiver).await;
        finish(&mut sender2, &mut receiver2).await;
    })
    .await;
}
