//! Streams whose application does not read cannot stop one that does, at the default windows;
//! and the larger windows do not let tiny DATA frames take a server's memory.
//!
//! One client connection to the mirror carries the most streams the server allows (128): on 127
//! of them the client never reads the echoes and keeps sending until its sends block (the
//! mirror's echo waits for the client's window, so the mirror stops reading too, and each such
//! stream holds a whole stream window at both ends). The last stream sends events and reads
//! their echoes: it must finish within [`DEADLINE`]. With the old defaults (65,535-byte stream
//! windows in a 1 MiB connection window) about 17 stuck streams took the whole connection window
//! and this stream stopped; the connection windows now have room for every stream's window plus
//! one.
//!
//! h2 keeps per buffered DATA frame far more than a tiny frame's payload (about 560 bytes for 16),
//! so a 32 MiB connection window of 16-byte frames left unread would take about a gigabyte. The
//! adapter caps h2's budget for small DATA frames at 65,536 frames: a client that sends more on
//! streams the server application does not read is disconnected with `GOAWAY(ENHANCE_YOUR_CALM)`.

mod tokio_common;

use bytes::Bytes;
use eventstream::session::{Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream_tokio::mirror::Mirror;
use eventstream_tokio::{Client, Error, Reason, ServerConnection};
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_common::{client_session, numbered_event, request, start_mirror, within_hang_timeout};

/// The streams that do not read.
const STUCK: usize = 127;
/// Their events: one DATA frame's worth.
const PAYLOAD: usize = 16 * 1024;
/// The events of the stream that reads.
const EVENTS: usize = 20;
/// How long the stream that reads may take.
const DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_streams_do_not_starve_a_stream_that_reads() {
    within_hang_timeout(async {
        let addr = start_mirror(Mirror::new()).await;
        let client = Client::connect(addr).await.expect("connects");

        let sent = Arc::new(AtomicU64::new(0));
        let mut stuck = Vec::new();
        for i in 0..STUCK {
            let (mut sender, receiver) = client
                .open(request(addr, None), client_session(Mode::HttpBinding))
                .await
                .expect("opens");
            let sent = sent.clone();
            let sending = tokio::spawn(async move {
                for seq in 0.. {
                    if sender.send(numbered_event(i, seq, PAYLOAD)).await.is_err() {
                        return;
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            });
            // Never read: its echoes stay in the client's window.
            stuck.push((receiver, sending));
        }

        // Until every stuck stream's sender is blocked.
        let start = Instant::now();
        let (mut last, mut since) = (sent.load(Ordering::SeqCst), Instant::now());
        while since.elapsed() < Duration::from_millis(500) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = sent.load(Ordering::SeqCst);
            if now != last {
                (last, since) = (now, Instant::now());
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "the stuck streams never blocked"
            );
        }
        assert!(
            stuck.iter().all(|(_, sending)| !sending.is_finished()),
            "a stuck stream failed"
        );
        eprintln!(
            "{STUCK} stuck streams blocked after {last} events of {PAYLOAD} bytes in {:.2} s",
            start.elapsed().as_secs_f64()
        );

        // The stream that reads.
        let started = Instant::now();
        let active = async {
            let (mut sender, mut receiver) = client
                .open(request(addr, None), client_session(Mode::HttpBinding))
                .await
                .expect("opens");
            for seq in 0..EVENTS {
                let event = numbered_event(STUCK, seq, PAYLOAD);
                sender.send(event.clone()).await.expect("sends");
                match receiver.recv().await {
                    Some(Ok(SessionEvent::Event(echo))) => assert_eq!(echo, event),
                    other => panic!("expected the echo of event {seq}, got {other:?}"),
                }
            }
            sender.finish().await.expect("finishes");
            assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));
        };
        if tokio::time::timeout(DEADLINE, active).await.is_err() {
            panic!(
                "the stream that reads was starved: not done within {DEADLINE:?} next to \
                 {STUCK} streams that do not read"
            );
        }
        eprintln!(
            "the stream that reads: {EVENTS} echoes and its end in {:.3} s",
            started.elapsed().as_secs_f64()
        );
        for (_, sending) in &stuck {
            sending.abort();
        }
    })
    .await;
}

/// A raw h2 client sends 16-byte DATA frames on 8 streams (room for 131,072 such frames in their
/// windows) to a server whose application accepts the streams and never reads them: the server
/// closes the connection with `GOAWAY(ENHANCE_YOUR_CALM)` at about 65,536 frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_data_frames_left_unread_are_capped() {
    const STREAMS: usize = 8;
    within_hang_timeout(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("an address");
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let mut connection = ServerConnection::handshake(tcp).await.expect("handshake");
            let mut halves = Vec::new();
            loop {
                match connection.accept().await {
                    Some(Ok(incoming)) => {
                        let session =
                            Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
                        // Accepted, never read.
                        halves.push(incoming.accept(session).expect("accepts"));
                    }
                    Some(Err(e)) => return Some(e),
                    None => return None,
                }
            }
        });

        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let (send_request, connection) = h2::client::handshake(tcp).await.expect("handshake");
        let driver = tokio::spawn(connection);
        let frames = Arc::new(AtomicU64::new(0));
        let mut streams = Vec::new();
        for _ in 0..STREAMS {
            let mut ready = send_request.clone().ready().await.expect("ready");
            let request = http::Request::post(format!("http://{addr}/"))
                .header("content-type", "application/vnd.amazon.eventstream")
                .body(())
                .expect("a valid request");
            let (response, mut send) = ready.send_request(request, false).expect("sends");
            let frames = frames.clone();
            streams.push(tokio::spawn(async move {
                let _response = response;
                let tiny = Bytes::from_static(&[0u8; 16]);
                loop {
                    send.reserve_capacity(16);
                    while send.capacity() < 16 {
                        match poll_fn(|cx| send.poll_capacity(cx)).await {
                            Some(Ok(_)) => {}
                            _ => return,
                        }
                    }
                    if send.send_data(tiny.clone(), false).is_err() {
                        return;
                    }
                    frames.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        // Without the cap the server would keep every frame (about 70 MB here) and never end.
        let failure = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server closes the connection")
            .expect("the server does not panic");
        eprintln!(
            "the server's connection ended with {failure:?} (the client had handed {} frames \
             of 16 bytes to h2)",
            frames.load(Ordering::SeqCst)
        );
        match failure {
            Some(Error::H2(e)) if e.reason() == Some(Reason::ENHANCE_YOUR_CALM) => {}
            other => panic!("expected GOAWAY(ENHANCE_YOUR_CALM), got {other:?}"),
        }
        let _ = driver.await.expect("the driver does not panic");
        for stream in streams {
            stream.await.expect("the sender does not panic");
        }
    })
    .await;
}
