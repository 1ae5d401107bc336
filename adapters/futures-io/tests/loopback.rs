//! The futures-io adapter over real loopback TCP sockets, under async-std and under smol: both
//! directions at once, signed, with random write sizes; end of input mid-frame; resets;
//! cancelled sends.

mod common;

use common::{events, params, signed_session, with_deadline, RandomWrites, CLIENT_SEED};
use eventstream::frame::Message;
use eventstream::session::{
    Command, EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent,
};
use eventstream::sign::{SigV4Signer, SigV4Verifier};
use eventstream_futures_io::{Connection, Error, MessageReader, MessageWriter, Receiver, Sender};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures::{SinkExt, StreamExt};
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

type Outcome = Result<Vec<SessionEvent>, Error>;
type Task = Pin<Box<dyn Future<Output = Outcome> + Send>>;

async fn send_all<W: AsyncWrite + Unpin>(
    mut tx: Sender<W>,
    role: Role,
    messages: Vec<Message>,
) -> Outcome {
    match role {
        Role::Client => {
            tx.command(Command::InitialRequest(
                EventBuilder::initial_request()
                    .payload(&b"{\"client\":1}"[..])
                    .build(),
            ))
            .await?
        }
        Role::Server => {
            tx.command(Command::InitialResponse(
                EventBuilder::initial_response()
                    .payload(&b"{\"server\":1}"[..])
                    .build(),
            ))
            .await?
        }
    }
    for m in messages {
        tx.send(m).await?;
    }
    tx.finish().await?;
    Ok(Vec::new())
}

async fn receive_all<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(rx: Receiver<R, W>) -> Outcome {
    rx.collect::<Vec<_>>().await.into_iter().collect()
}

/// Checks one direction: the initial message, every event in order and intact, then `End`.
fn check(seen: &[SessionEvent], expected: &[Message], initial_response: bool) {
    assert_eq!(seen.len(), expected.len() + 2, "initial + events + End");
    match (&seen[0], initial_response) {
        (SessionEvent::InitialResponse(m), true) | (SessionEvent::InitialRequest(m), false) => {
            assert!(!m.payload().is_empty())
        }
        (other, _) => panic!("expected the initial message, got {other:?}"),
    }
    for (got, want) in seen[1..].iter().zip(expected) {
        match got {
            SessionEvent::Event(m) => assert_eq!(m, want),
            other => panic!("expected an event, got {other:?}"),
        }
    }
    assert_eq!(seen.last(), Some(&SessionEvent::End));
}

/// A signed client and server exchange events both ways at once: each side's sender and
/// receiver run as four separate tasks on the runtime, and every write goes out in random
/// pieces, sometimes after a `Pending`.
async fn exchange<T>(
    client: T,
    server: T,
    shutdown: fn(&T, Shutdown) -> io::Result<()>,
    spawn: impl Fn(Task) -> Task,
) where
    T: AsyncRead + AsyncWrite + Clone + Unpin + Send + 'static,
{
    let up = events(1, 300, 20_000);
    let down = events(2, 300, 20_000);
    let connect = |io: T, seed, role| {
        let socket = io.clone();
        Connection::from_halves(
            io.clone(),
            RandomWrites::new(io, seed, 1500),
            signed_session(role),
        )
        .with_shutdown(move |_, how| shutdown(&socket, how))
    };
    let client = connect(client, 11, Role::Client);
    let server = connect(server, 12, Role::Server);
    let (ctx, crx) = client.split();
    let (stx, srx) = server.split();
    let tasks = [
        spawn(Box::pin(send_all(ctx, Role::Client, up.clone()))),
        spawn(Box::pin(send_all(stx, Role::Server, down.clone()))),
        spawn(Box::pin(receive_all(crx))),
        spawn(Box::pin(receive_all(srx))),
    ];
    let mut results = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap);
    results.next();
    results.next();
    check(&results.next().unwrap(), &down, true);
    check(&results.next().unwrap(), &up, false);
}

#[test]
fn async_std_both_directions_at_once_signed_with_random_write_sizes() {
    with_deadline(LIMIT, || {
        async_std::task::block_on(async {
            let listener = async_std::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = listener.local_addr().unwrap();
            let (client, accepted) =
                futures::join!(async_std::net::TcpStream::connect(addr), listener.accept());
            // async-std's poll_close only flushes: the half-close needs the socket's own shutdown.
            let shutdown = |s: &async_std::net::TcpStream, how| s.shutdown(how);
            exchange(client.unwrap(), accepted.unwrap().0, shutdown, |task| {
                Box::pin(async_std::task::spawn(task))
            })
            .await;
        })
    });
}

#[test]
fn smol_both_directions_at_once_signed_with_random_write_sizes() {
    with_deadline(LIMIT, || {
        smol::block_on(async {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (client, accepted) =
                futures::join!(smol::net::TcpStream::connect(addr), listener.accept());
            let shutdown = |s: &smol::net::TcpStream, how| s.shutdown(how);
            exchange(client.unwrap(), accepted.unwrap().0, shutdown, |task| {
                Box::pin(smol::spawn(task))
            })
            .await;
        })
    });
}

/// Encodes one whole event and `cut` bytes of a second one.
fn one_and_a_half_frames(cut: usize) -> Vec<u8> {
    let mut wire = bytes::BytesMut::new();
    EventBuilder::new("Whole")
        .payload(vec![1u8; 100])
        .build()
        .encode(&mut wire)
        .unwrap();
    let whole = wire.len();
    EventBuilder::new("Cut")
        .payload(vec![2u8; 100])
        .build()
        .encode(&mut wire)
        .unwrap();
    wire[..whole + cut].to_vec()
}

#[test]
fn smol_peer_closing_mid_frame_is_truncated() {
    with_deadline(LIMIT, || {
        smol::block_on(async {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = smol::spawn(async move {
                let mut socket = smol::net::TcpStream::connect(addr).await.unwrap();
                socket.write_all(&one_and_a_half_frames(40)).await.unwrap();
                socket.close().await.unwrap();
            });
            let (socket, _) = listener.accept().await.unwrap();
            let mut conn = Connection::new(
                socket,
                Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding)),
            );
            assert!(matches!(
                conn.next_event().await.unwrap(),
                Some(SessionEvent::Event(_))
            ));
            let err = conn.next_event().await.unwrap_err();
            assert_eq!(err.kind(), "truncated", "{err}");
            assert!(matches!(err, Error::Session(_)));
            assert!(conn.next().await.is_none());
            peer.await;
        })
    });
}

#[test]
fn async_std_message_reader_over_tcp_reports_truncated() {
    with_deadline(LIMIT, || {
        async_std::task::block_on(async {
            let listener = async_std::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = async_std::task::spawn(async move {
                let mut socket = async_std::net::TcpStream::connect(addr).await.unwrap();
                socket.write_all(&one_and_a_half_frames(7)).await.unwrap();
                // Dropping the socket closes it mid-frame.
            });
            let (socket, _) = listener.accept().await.unwrap();
            let mut reader = MessageReader::new(socket);
            let first = reader.next().await.unwrap().unwrap();
            assert_eq!(first.header_str(":event-type"), Some("Whole"));
            let err = reader.next().await.unwrap().unwrap_err();
            assert_eq!(err.kind(), "truncated", "{err}");
            assert!(matches!(err, Error::Frame(_)));
            assert!(reader.next().await.is_none());
            peer.await;
        })
    });
}

#[test]
fn async_std_signed_sink_to_verifying_stream_over_tcp() {
    with_deadline(LIMIT, || {
        async_std::task::block_on(async {
            let listener = async_std::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = listener.local_addr().unwrap();
            let messages = events(3, 400, 10_000);
            let to_send = messages.clone();
            let writer = async_std::task::spawn(async move {
                let socket = async_std::net::TcpStream::connect(addr).await.unwrap();
                let mut sink = MessageWriter::new(RandomWrites::new(socket, 5, 3000))
                    .with_signer(SigV4Signer::new(params(), CLIENT_SEED))
                    .with_buffer_size(16 * 1024);
                sink.send_all(&mut futures::stream::iter(to_send.into_iter().map(Ok)))
                    .await?;
                sink.close().await // the signed end frame, then shutdown(Write)
            });
            let (socket, _) = listener.accept().await.unwrap();
            let reader =
                MessageReader::new(socket).with_verifier(SigV4Verifier::new(params(), CLIENT_SEED));
            let read: Vec<Message> = reader.map(Result::unwrap).collect().await;
            assert_eq!(read, messages);
            writer.await.unwrap();
        })
    });
}

#[test]
fn smol_a_bad_frame_fails_the_session_and_closes_the_writer() {
    with_deadline(LIMIT, || {
        smol::block_on(async {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = smol::spawn(async move {
                let mut socket = smol::net::TcpStream::connect(addr).await.unwrap();
                // A prelude whose checksum is wrong.
                socket
                    .write_all(&[0, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0])
                    .await
                    .unwrap();
                let mut rest = Vec::new();
                socket.read_to_end(&mut rest).await.unwrap();
                rest
            });
            let (socket, _) = listener.accept().await.unwrap();
            let mut conn = Connection::new(
                socket,
                Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding)),
            );
            let err = conn.next_event().await.unwrap_err();
            assert_eq!(err.kind(), "prelude_checksum_mismatch");
            // The writer was closed: the peer reads the end of its input.
            assert!(peer.await.is_empty());
            let refused = conn.send(EventBuilder::new("X").build()).await.unwrap_err();
            assert_eq!(refused.kind(), "prelude_checksum_mismatch");
        })
    });
}

/// A writer that writes at most 100 bytes per call and at most `allowance` bytes in all, then
/// returns `Pending` (without waking) until the allowance is raised.
struct Gate<W> {
    inner: W,
    allowance: Arc<AtomicUsize>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Gate<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let allowed = self.allowance.load(Ordering::SeqCst);
        if allowed == 0 {
            return Poll::Pending;
        }
        let n = buf.len().min(100).min(allowed);
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, &buf[..n]))?;
        self.allowance.fetch_sub(written, Ordering::SeqCst);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[test]
fn smol_a_cancelled_send_tears_no_frame() {
    with_deadline(LIMIT, || {
        smol::block_on(async {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (client, accepted) =
                futures::join!(smol::net::TcpStream::connect(addr), listener.accept());
            let client = client.unwrap();
            let allowance = Arc::new(AtomicUsize::new(usize::MAX / 2));
            let writer = Gate {
                inner: client.clone(),
                allowance: allowance.clone(),
            };
            let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
            let mut conn = Connection::from_halves(client, writer, session);
            let receiver = smol::spawn(async move {
                let server = Connection::new(
                    accepted.unwrap().0,
                    Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding)),
                );
                server.collect::<Vec<_>>().await
            });

            let messages = events(9, 20, 1000);
            conn.send(messages[0].clone()).await.unwrap();

            // Suspended before writing a byte, then dropped: the session had queued the event.
            allowance.store(0, Ordering::SeqCst);
            let mut send = Box::pin(conn.send(messages[1].clone()));
            assert!(futures::poll!(send.as_mut()).is_pending());
            drop(send);

            // Suspended in the middle of a frame, then dropped.
            allowance.store(150, Ordering::SeqCst);
            let mut send = Box::pin(conn.send(messages[2].clone()));
            assert!(futures::poll!(send.as_mut()).is_pending());
            drop(send);
            assert_eq!(allowance.load(Ordering::SeqCst), 0, "150 bytes went out");

            allowance.store(usize::MAX / 2, Ordering::SeqCst);
            for m in &messages[3..] {
                conn.send(m.clone()).await.unwrap();
            }
            conn.finish().await.unwrap();

            let seen = receiver.await;
            let got: Vec<Message> = seen
                .iter()
                .filter_map(|e| match e {
                    Ok(SessionEvent::Event(m)) => Some(m.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!(got, messages, "every queued event arrives whole, in order");
            assert!(matches!(seen.last(), Some(Ok(SessionEvent::End))));
        })
    });
}

#[test]
fn smol_a_slow_receiver_holds_the_peer_back() {
    with_deadline(LIMIT, || {
        smol::block_on(async {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // 64 MiB of events: far more than the socket buffers hold, so the sender can only
            // finish while the receiver is taking events.
            let sender = smol::spawn(async move {
                let socket = smol::net::TcpStream::connect(addr).await.unwrap();
                let mut tx = Connection::new(
                    socket,
                    Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding)),
                );
                for _ in 0..1024 {
                    tx.send(
                        EventBuilder::new("Big")
                            .payload(vec![7u8; 64 * 1024])
                            .build(),
                    )
                    .await?;
                }
                tx.finish().await
            });
            let (socket, _) = listener.accept().await.unwrap();
            let config =
                SessionConfig::new(Role::Server, Mode::HttpBinding).with_max_queued_events(1);
            let mut rx = Connection::new(socket, Session::new(config)).with_read_buffer_size(4096);
            assert!(matches!(
                rx.next_event().await.unwrap(),
                Some(SessionEvent::Event(_))
            ));
            smol::Timer::after(Duration::from_millis(200)).await;
            assert!(
                !sender.is_finished(),
                "the sender should be held back by the slow receiver"
            );
            let mut count = 1;
            while let Some(event) = rx.next_event().await.unwrap() {
                match event {
                    SessionEvent::Event(m) => {
                        assert_eq!(m.payload().len(), 64 * 1024);
                        count += 1;
                    }
                    SessionEvent::End => break,
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(count, 1024);
            sender.await.unwrap();
        })
    });
}

#[allow(dead_code)]
fn halves_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Sender<smol::net::TcpStream>>();
    assert_send::<Receiver<smol::net::TcpStream, smol::net::TcpStream>>();
    assert_send::<Connection<async_std::net::TcpStream, async_std::net::TcpStream>>();
}

#[test]
fn smol_a_failure_while_the_sender_waits_resets_at_once() {
    with_deadline(LIMIT, || {
        smol::block_on(async {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (peer, accepted) =
                futures::join!(smol::net::TcpStream::connect(addr), listener.accept());
            let mut peer = peer.unwrap();
            let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
            let (mut tx, mut rx) = Connection::new(accepted.unwrap().0, session)
                .with_shutdown(|s, how| s.shutdown(how))
                .split();
            // The peer never reads: the sender fills the socket buffers and waits to write.
            let sender = smol::spawn(async move {
                loop {
                    let big = EventBuilder::new("Big")
                        .payload(vec![7u8; 64 * 1024])
                        .build();
                    if let Err(e) = tx.send(big).await {
                        return e;
                    }
                }
            });
            smol::Timer::after(Duration::from_millis(300)).await;
            assert!(!sender.is_finished(), "the sender should be waiting");
            peer.write_all(&[0, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0])
                .await
                .unwrap();
            let err = rx.next_event().await.unwrap_err();
            assert_eq!(err.kind(), "prelude_checksum_mismatch");
            // The waiting sender was woken to carry the reset out; its next send is refused.
            let err = sender.await;
            assert!(
                matches!(err.kind(), "io" | "prelude_checksum_mismatch"),
                "{err}"
            );
            assert!(rx.next_event().await.unwrap().is_none());
        })
    });
}
