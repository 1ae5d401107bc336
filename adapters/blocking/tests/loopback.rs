//! The blocking session driver over real loopback TCP sockets: wiring, both directions at once on
//! separate threads, signing, read timeouts, end of input, resets.

mod common;

use common::{events, signed_session, tcp_pair, with_deadline, ChoppyTcp};
use eventstream::frame::Message;
use eventstream::session::{
    Command, EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent,
};
use eventstream_blocking::{Connection, Error, Receiver, Sender, Socket};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

fn send_all<S: Socket>(mut tx: Sender<S>, role: Role, messages: Vec<Message>) -> Result<(), Error> {
    match role {
        Role::Client => tx.command(Command::InitialRequest(
            EventBuilder::initial_request()
                .payload(&b"{\"client\":1}"[..])
                .build(),
        ))?,
        Role::Server => tx.command(Command::InitialResponse(
            EventBuilder::initial_response()
                .payload(&b"{\"server\":1}"[..])
                .build(),
        ))?,
    }
    for m in messages {
        tx.send(m)?;
    }
    tx.finish()
}

fn receive_all<S: Socket>(rx: Receiver<S>) -> Result<Vec<SessionEvent>, Error> {
    rx.collect()
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

#[test]
fn signed_events_both_ways_on_four_threads() {
    with_deadline(LIMIT, || {
        let (client, server) = tcp_pair();
        let up = events(1, 300, 20_000);
        let down = events(2, 300, 20_000);

        // Writes go out in random pieces of 1 to 1500 bytes.
        let client = Connection::new(
            ChoppyTcp::new(client, 11, 1500),
            signed_session(Role::Client),
        )
        .unwrap();
        let server = Connection::new(
            ChoppyTcp::new(server, 12, 1500),
            signed_session(Role::Server),
        )
        .unwrap();
        let (ctx, crx) = client.split();
        let (stx, srx) = server.split();

        let threads = [
            {
                let up = up.clone();
                std::thread::spawn(move || send_all(ctx, Role::Client, up).map(|()| Vec::new()))
            },
            {
                let down = down.clone();
                std::thread::spawn(move || send_all(stx, Role::Server, down).map(|()| Vec::new()))
            },
            std::thread::spawn(move || receive_all(crx)),
            std::thread::spawn(move || receive_all(srx)),
        ];
        let mut results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect();
        let at_server = results.pop().unwrap();
        let at_client = results.pop().unwrap();
        check(&at_client, &down, true);
        check(&at_server, &up, false);
    });
}

#[test]
fn read_timeout_is_reported_not_a_hang() {
    with_deadline(LIMIT, || {
        let (client, server) = tcp_pair();
        let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
        let mut conn = Connection::new(server, session).unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();

        let started = Instant::now();
        let err = conn.next_event().unwrap_err();
        assert!(matches!(err, Error::TimedOut), "{err:?}");
        assert_eq!(err.kind(), "timed_out");
        assert!(started.elapsed() >= Duration::from_millis(90));

        // The timeout lost nothing: the stream goes on, even from inside a frame.
        let mut wire = bytes::BytesMut::new();
        EventBuilder::new("Late")
            .payload(&b"here"[..])
            .build()
            .encode(&mut wire)
            .unwrap();
        let mut client = client;
        client.write_all(&wire[..7]).unwrap();
        assert!(conn.next_event().unwrap_err().is_timeout());
        client.write_all(&wire[7..]).unwrap();
        let event = conn.next_event().unwrap().unwrap();
        assert!(matches!(&event, SessionEvent::Event(m) if &m.payload()[..] == b"here"));

        drop(client);
        assert_eq!(conn.next_event().unwrap(), Some(SessionEvent::End));
        assert_eq!(conn.next_event().unwrap(), None);
    });
}

#[test]
fn peer_closing_mid_frame_is_truncated() {
    with_deadline(LIMIT, || {
        let (mut client, server) = tcp_pair();
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
        client.write_all(&wire[..whole + 40]).unwrap();
        drop(client);

        let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
        let mut conn = Connection::new(server, session).unwrap();
        assert!(matches!(
            conn.next_event().unwrap(),
            Some(SessionEvent::Event(_))
        ));
        let err = conn.next_event().unwrap_err();
        assert_eq!(err.kind(), "truncated", "{err}");
        assert!(matches!(err, Error::Session(_)));
        assert_eq!(conn.next_event().unwrap(), None);
    });
}

#[test]
fn missing_signed_end_frame_is_an_error() {
    with_deadline(LIMIT, || {
        let (client, server) = tcp_pair();
        let mut client = Connection::new(client, signed_session(Role::Client)).unwrap();
        client.send(EventBuilder::new("Only").build()).unwrap();
        drop(client); // no finish: no end frame

        let mut server = Connection::new(server, signed_session(Role::Server)).unwrap();
        assert!(matches!(
            server.next_event().unwrap(),
            Some(SessionEvent::Event(_))
        ));
        assert_eq!(server.next_event().unwrap_err().kind(), "missing_end_frame");
    });
}

#[test]
fn a_bad_frame_resets_the_connection() {
    with_deadline(LIMIT, || {
        let (mut client, server) = tcp_pair();
        // A prelude whose checksum is wrong.
        client
            .write_all(&[0, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0])
            .unwrap();

        let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
        let mut conn = Connection::new(server, session).unwrap();
        let err = conn.next_event().unwrap_err();
        assert_eq!(err.kind(), "prelude_checksum_mismatch");

        // The server shut the socket down: the client sees the end of its input.
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest);
        assert!(rest.is_empty());
        // And the session refuses to send.
        assert_eq!(
            conn.send(EventBuilder::new("X").build())
                .unwrap_err()
                .kind(),
            "prelude_checksum_mismatch"
        );
    });
}

#[test]
fn a_failing_server_can_report_the_error_to_the_peer() {
    with_deadline(LIMIT, || {
        let (mut client, server) = tcp_pair();
        client
            .write_all(&[0, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0])
            .unwrap();

        let config = SessionConfig::new(Role::Server, Mode::HttpBinding)
            .with_failures_reported_to_peer(true);
        let mut conn = Connection::new(server, Session::new(config)).unwrap();
        assert_eq!(
            conn.next_event().unwrap_err().kind(),
            "prelude_checksum_mismatch"
        );

        // The client reads the error message, then the end of the server's side.
        let mut peer = Connection::new(
            client,
            Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding)),
        )
        .unwrap();
        match peer.next_event().unwrap() {
            Some(SessionEvent::Error { code, .. }) => {
                assert_eq!(&*code, "prelude_checksum_mismatch")
            }
            other => panic!("expected the error message, got {other:?}"),
        }
    });
}

#[test]
fn abort_wakes_a_receiver_blocked_in_a_read() {
    with_deadline(LIMIT, || {
        let (client, _server) = tcp_pair();
        let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
        let (mut tx, rx) = Connection::new(client, session).unwrap().split();
        let receiver = std::thread::spawn(move || receive_all(rx));
        std::thread::sleep(Duration::from_millis(50));
        tx.abort().unwrap();
        assert_eq!(
            receiver.join().unwrap().unwrap(),
            vec![SessionEvent::Closed]
        );
        assert_eq!(
            tx.send(EventBuilder::new("X").build()).unwrap_err().kind(),
            "aborted"
        );
    });
}

#[test]
fn a_slow_reader_holds_the_peer_back() {
    with_deadline(LIMIT, || {
        let (client, server) = tcp_pair();
        let config = SessionConfig::new(Role::Server, Mode::HttpBinding).with_max_queued_events(1);
        let mut server = Connection::new(server, Session::new(config))
            .unwrap()
            .with_read_buffer_size(4096);

        // 64 MiB of events: far more than the socket buffers can hold, so the sender can only
        // finish while the reader is taking events.
        let sender = std::thread::spawn(move || {
            let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
            let mut tx = Connection::new(client, session).unwrap();
            for _ in 0..1024 {
                tx.send(
                    EventBuilder::new("Big")
                        .payload(vec![7u8; 64 * 1024])
                        .build(),
                )?;
            }
            tx.finish()
        });
        // Take one event, then stall: the sender must be stuck.
        assert!(matches!(
            server.next_event().unwrap(),
            Some(SessionEvent::Event(_))
        ));
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !sender.is_finished(),
            "the sender should be held back by the slow reader"
        );
        let mut count = 1;
        while let Some(event) = server.next_event().unwrap() {
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
        sender.join().unwrap().unwrap();
    });
}

#[test]
fn an_exception_ends_the_stream_for_both_sides() {
    with_deadline(LIMIT, || {
        let (client, server) = tcp_pair();
        let mut client = Connection::new(client, signed_session(Role::Client)).unwrap();
        let mut server = Connection::new(server, signed_session(Role::Server)).unwrap();
        client
            .command(Command::InitialRequest(
                EventBuilder::initial_request().payload(&b"{}"[..]).build(),
            ))
            .unwrap();
        assert!(matches!(
            server.next_event().unwrap(),
            Some(SessionEvent::InitialRequest(_))
        ));

        let exception = eventstream::session::ExceptionBuilder::new("ThrottlingException")
            .payload(&b"slow down"[..])
            .build();
        server.command(Command::Exception(exception)).unwrap();
        assert_eq!(server.next_event().unwrap(), Some(SessionEvent::Closed));

        match client.next_event().unwrap() {
            Some(SessionEvent::Exception { exception_type, .. }) => {
                assert_eq!(&*exception_type, "ThrottlingException")
            }
            other => panic!("expected the exception, got {other:?}"),
        }
        assert_eq!(client.next_event().unwrap(), None);
        assert_eq!(
            client
                .send(EventBuilder::new("X").build())
                .unwrap_err()
                .kind(),
            "stream_over"
        );
    });
}

#[cfg(unix)]
#[test]
fn works_over_unix_sockets() {
    with_deadline(LIMIT, || {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut client = Connection::new(a, signed_session(Role::Client)).unwrap();
        let mut server = Connection::new(b, signed_session(Role::Server)).unwrap();
        client
            .command(Command::InitialRequest(
                EventBuilder::initial_request().payload(&b"{}"[..]).build(),
            ))
            .unwrap();
        client.send(EventBuilder::new("Hi").build()).unwrap();
        client.finish().unwrap();
        assert!(matches!(
            server.next_event().unwrap(),
            Some(SessionEvent::InitialRequest(_))
        ));
        assert!(matches!(
            server.next_event().unwrap(),
            Some(SessionEvent::Event(_))
        ));
        assert_eq!(server.next_event().unwrap(), Some(SessionEvent::End));
        server.finish().unwrap();
        assert_eq!(client.next_event().unwrap(), Some(SessionEvent::End));
    });
}

#[allow(dead_code)]
fn assert_send<T: Send>() {}

#[allow(dead_code)]
fn halves_are_send() {
    assert_send::<Sender<TcpStream>>();
    assert_send::<Receiver<TcpStream>>();
    assert_send::<Connection<TcpStream>>();
}

#[cfg(unix)]
#[test]
fn a_failure_while_the_sender_is_blocked_resets_at_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    with_deadline(LIMIT, || {
        // A Unix socket: what the peer sends never opens room for what it does not read.
        let (mut peer, socket) = std::os::unix::net::UnixStream::pair().unwrap();
        let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
        let (mut tx, mut rx) = Connection::new(socket, session).unwrap().split();
        // The peer never reads: the sender fills the socket buffer and blocks in a write.
        let sent = std::sync::Arc::new(AtomicUsize::new(0));
        let sender = {
            let sent = sent.clone();
            std::thread::spawn(move || loop {
                let big = EventBuilder::new("Big")
                    .payload(vec![7u8; 64 * 1024])
                    .build();
                if let Err(e) = tx.send(big) {
                    return e;
                }
                sent.fetch_add(1, Ordering::SeqCst);
            })
        };
        let mut last = usize::MAX;
        while sent.load(Ordering::SeqCst) != last {
            last = sent.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
        }
        assert!(!sender.is_finished(), "the sender should be blocked");
        peer.write_all(&[0, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0])
            .unwrap();
        let err = rx.next_event().unwrap_err();
        assert_eq!(err.kind(), "prelude_checksum_mismatch");
        // The reset did not wait for the blocked write: the shutdown woke it, and the sender
        // failed (in the write, or at its next send).
        let err = sender.join().unwrap();
        assert!(
            matches!(err.kind(), "io" | "prelude_checksum_mismatch"),
            "{err}"
        );
        assert_eq!(rx.next_event().unwrap(), None);
    });
}
