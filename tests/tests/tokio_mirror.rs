//! The tokio + h2 adapter against the mirror server, over real loopback sockets: the seed's
//! mirroring test, many concurrent streams on one connection, signed streams and a tampered
//! one, and no task left behind.

mod tokio_common;

use bytes::{Bytes, BytesMut};
use eventstream::frame::{HeaderValue, Limits, Message};
use eventstream::session::{EventBuilder, Mode, SendError, SessionEvent};
use eventstream::sign::{EventSigner, SigV4Signer, SignError, SigningTime};
use eventstream_tokio::mirror::{Mirror, MirrorOutcome};
use eventstream_tokio::{Client, Error, ServerConnection, FEED_LIMIT};
use tokio_common::*;

/// The seed's integration test: an initial request echoed as the initial response, a simple
/// event, an event with headers and payload, an event with an explicit binary payload, each
/// echoed and typed; then the finish. A second stream on the same connection is aborted midway,
/// and the connection still serves a third.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_echoes_initial_request_and_events_then_a_stream_is_aborted() {
    within_hang_timeout(async {
        let addr = start_mirror(Mirror::new()).await;
        let client = Client::connect(addr).await.expect("connects");

        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::Rpc))
            .await
            .expect("opens");
        let initial = EventBuilder::initial_request()
            .content_type("application/json")
            .header("x-request-id", "r-1")
            .payload(&br#"{"name":"mirror"}"#[..])
            .build();
        let simple = EventBuilder::new("SimpleEvent").build();
        let nested = EventBuilder::new("NestedEvent")
            .content_type("application/json")
            .header("count", 3i32)
            .header("flag", true)
            .header("when", HeaderValue::Timestamp(1_700_000_000_000))
            .header("id", [7u8; 16])
            .payload(&br#"{"values":[1,2,3]}"#[..])
            .build();
        let binary = EventBuilder::new("BinaryEvent")
            .content_type("application/octet-stream")
            .payload((0..=255u8).collect::<Vec<u8>>())
            .build();
        sender
            .send_initial_request(initial.clone())
            .await
            .expect("sends");

        // The initial response comes back before we send anything else: nothing waits for it.
        match receiver.recv().await {
            Some(Ok(SessionEvent::InitialResponse(m))) => {
                assert_eq!(m.header_str(":event-type"), Some("initial-response"));
                assert_eq!(m.payload(), initial.payload());
                let others = |m: &Message| {
                    m.headers()
                        .iter()
                        .filter(|h| h.name() != ":event-type")
                        .cloned()
                        .collect::<Vec<_>>()
                };
                assert_eq!(others(&m), others(&initial), "the same headers otherwise");
            }
            other => panic!("expected the initial response, got {other:?}"),
        }
        let head = receiver.response_head().expect("the head arrived");
        assert_eq!(head.status, http::StatusCode::OK);
        assert_eq!(
            head.headers[http::header::CONTENT_TYPE],
            "application/vnd.amazon.eventstream"
        );

        for event in [&simple, &nested, &binary] {
            sender.send(event.clone()).await.expect("sends");
            match receiver.recv().await {
                Some(Ok(SessionEvent::Event(m))) => {
                    assert_eq!(&m, event, "echoed unchanged");
                    assert_eq!(m.header_str(":event-type"), event.header_str(":event-type"));
                }
                other => panic!("expected the echo, got {other:?}"),
            }
        }
        sender.finish().await.expect("finishes");
        assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));
        assert!(receiver.recv().await.is_none(), "nothing after the end");
        assert!(matches!(
            sender.send(simple.clone()).await,
            Err(Error::Send(SendError::Finished))
        ));

        // A second stream, aborted midway.
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        sender.send(numbered_event(2, 0, 100)).await.expect("sends");
        assert!(matches!(
            receiver.recv().await,
            Some(Ok(SessionEvent::Event(_)))
        ));
        sender.abort();
        assert!(matches!(
            receiver.recv().await,
            Some(Ok(SessionEvent::Closed))
        ));
        assert!(receiver.recv().await.is_none());
        assert!(matches!(
            sender.send(numbered_event(2, 1, 100)).await,
            Err(Error::Send(SendError::Aborted))
        ));

        // The connection survives the reset of one stream.
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        sender.send(numbered_event(3, 0, 10)).await.expect("sends");
        sender.finish().await.expect("finishes");
        assert!(matches!(
            receiver.recv().await,
            Some(Ok(SessionEvent::Event(_)))
        ));
        assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));
    })
    .await;
}

/// 50 streams at once on one connection, 200 events each, sent while the echoes are read:
/// every event comes back once, in order, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_streams_echo_every_event_once_in_order() {
    const STREAMS: usize = 50;
    const EVENTS: usize = 200;
    within_hang_timeout(async {
        let addr = start_mirror(Mirror::new()).await;
        let client = Client::connect(addr).await.expect("connects");
        let mut tasks = Vec::new();
        for stream in 0..STREAMS {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let (mut sender, mut receiver) = client
                    .open(request(addr, None), client_session(Mode::HttpBinding))
                    .await
                    .expect("opens");
                let reader = tokio::spawn(async move {
                    let mut echoed = Vec::new();
                    loop {
                        match receiver.recv().await {
                            Some(Ok(SessionEvent::Event(m))) => echoed.push(encode(&m)),
                            Some(Ok(SessionEvent::End)) => break,
                            other => panic!("stream {stream}: unexpected {other:?}"),
                        }
                    }
                    assert!(receiver.recv().await.is_none());
                    echoed
                });
                let mut sent = Vec::new();
                for seq in 0..EVENTS {
                    // Sizes from 1 byte to about 3 KiB, so that frames straddle DATA frames.
                    let event = numbered_event(stream, seq, (seq * 37 + stream * 11) % 3000);
                    sent.push(encode(&event));
                    sender.send(event).await.expect("sends");
                }
                sender.finish().await.expect("finishes");
                let echoed = reader.await.expect("the reader does not panic");
                assert_eq!(
                    echoed.len(),
                    EVENTS,
                    "stream {stream}: every event echoed once"
                );
                for (seq, (a, b)) in sent.iter().zip(&echoed).enumerate() {
                    assert_eq!(
                        a, b,
                        "stream {stream}: event {seq} in order, byte-identical"
                    );
                }
            }));
        }
        for task in tasks {
            task.await.expect("a stream task does not panic");
        }
    })
    .await;
}

/// `Sender::feed` holds events until `FEED_LIMIT` bytes are pending or the sender flushes,
/// then hands them to h2 together; signed or not, every event is echoed once, in order, and
/// a `send` after fed events sends them all first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fed_events_go_out_together_and_are_echoed_in_order() {
    within_hang_timeout(async {
        for signed in [false, true] {
            let (mirror, session, seed) = match signed {
                false => (Mirror::new(), client_session(Mode::HttpBinding), None),
                true => (
                    Mirror::new().with_signing(params()),
                    signed_client_session(Mode::HttpBinding),
                    Some(SEED),
                ),
            };
            let addr = start_mirror(mirror).await;
            let client = Client::connect(addr).await.expect("connects");
            let (mut sender, mut receiver) = client
                .open(request(addr, seed), session)
                .await
                .expect("opens");
            // A few small events stay here until the flush.
            for seq in 0..5 {
                sender
                    .feed(numbered_event(0, seq, 100))
                    .await
                    .expect("feeds");
            }
            assert_eq!(sender.bytes_sent(), 0, "signed: {signed}");
            sender.flush().await.expect("flushes");
            let after_flush = sender.bytes_sent();
            assert!(after_flush > 500, "signed: {signed}");
            // Past the limit, fed bytes go out without a flush.
            let mut seq = 5;
            while sender.bytes_sent() == after_flush {
                // At most FEED_LIMIT bytes wait here: less than one event more than that.
                assert!(
                    seq <= 5 + FEED_LIMIT / 1000,
                    "signed: {signed}: nothing went out"
                );
                sender
                    .feed(numbered_event(0, seq, 1000))
                    .await
                    .expect("feeds");
                seq += 1;
            }
            // The rest, then one sent: everything goes out, in order.
            for _ in 0..3 {
                sender
                    .feed(numbered_event(0, seq, 10))
                    .await
                    .expect("feeds");
                seq += 1;
            }
            sender
                .send(numbered_event(0, seq, 10))
                .await
                .expect("sends");
            seq += 1;
            sender.finish().await.expect("finishes");
            for i in 0..seq {
                let len = match i {
                    0..5 => 100,
                    _ if i + 4 >= seq => 10,
                    _ => 1000,
                };
                match receiver.recv().await {
                    Some(Ok(SessionEvent::Event(m))) => {
                        assert_eq!(m, numbered_event(0, i, len), "signed: {signed}")
                    }
                    other => panic!("signed: {signed}: expected echo {i}, got {other:?}"),
                }
            }
            assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));
        }
    })
    .await;
}

/// A signer that signs correctly but corrupts the signature of one envelope (the frame itself
/// stays valid: the CRCs are recomputed).
struct Tamper {
    inner: SigV4Signer,
    count: usize,
    tamper_at: usize,
}

impl EventSigner for Tamper {
    fn sign_to(
        &mut self,
        message: &Message,
        time: SigningTime,
        limits: &Limits,
        dst: &mut BytesMut,
    ) -> Result<usize, SignError> {
        let index = self.count;
        self.count += 1;
        if index != self.tamper_at {
            return self.inner.sign_to(message, time, limits, dst);
        }
        let envelope = self
            .inner
            .sign(message, &eventstream::frame::Limits::DEFAULT, time)?;
        let (mut headers, payload) = envelope.into_parts();
        for h in headers
            .iter_mut()
            .filter(|h| h.name() == ":chunk-signature")
        {
            if let HeaderValue::Bytes(sig) = h.value() {
                let mut sig = sig.to_vec();
                sig[0] ^= 0x01;
                h.set_value(Bytes::from(sig));
            }
        }
        Ok(Message::from_parts(headers, payload).encode(dst)?)
    }

    fn sign_end_to(&mut self, time: SigningTime, dst: &mut BytesMut) -> Result<usize, SignError> {
        self.inner.sign_end_to(time, dst)
    }
}

/// Signed streams end to end: the mirror verifies the chain and unwraps it; a tampered
/// envelope, or a chain from another seed, is answered with one `error` message naming the
/// failure, and the response ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_streams_are_verified_and_a_tampered_frame_is_rejected() {
    within_hang_timeout(async {
        let addr = start_mirror(Mirror::new().with_signing(params())).await;
        let client = Client::connect(addr).await.expect("connects");

        // The whole chain, verified.
        let (mut sender, mut receiver) = client
            .open(request(addr, Some(SEED)), signed_client_session(Mode::Rpc))
            .await
            .expect("opens");
        let initial = EventBuilder::initial_request().payload(&b"{}"[..]).build();
        sender.send_initial_request(initial).await.expect("sends");
        for seq in 0..20 {
            sender
                .send(numbered_event(0, seq, 500))
                .await
                .expect("sends");
        }
        sender.finish().await.expect("finishes");
        assert!(matches!(
            receiver.recv().await,
            Some(Ok(SessionEvent::InitialResponse(_)))
        ));
        for seq in 0..20 {
            match receiver.recv().await {
                Some(Ok(SessionEvent::Event(m))) => assert_eq!(m, numbered_event(0, seq, 500)),
                other => panic!("expected echo {seq}, got {other:?}"),
            }
        }
        assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));

        // The fourth envelope's signature is corrupted.
        let tamper = Tamper {
            inner: SigV4Signer::new(params(), SEED),
            count: 0,
            tamper_at: 3,
        };
        let (mut sender, mut receiver) = client
            .open(
                request(addr, Some(SEED)),
                client_session(Mode::HttpBinding).with_signer(tamper),
            )
            .await
            .expect("opens");
        for seq in 0..3 {
            sender
                .send(numbered_event(1, seq, 100))
                .await
                .expect("sends");
            assert!(matches!(
                receiver.recv().await,
                Some(Ok(SessionEvent::Event(_)))
            ));
        }
        sender.send(numbered_event(1, 3, 100)).await.expect("sends");
        match receiver.recv().await {
            Some(Ok(SessionEvent::Error { code, text, .. })) => {
                assert_eq!(&*code, "signature_mismatch");
                assert!(text.contains("envelope 3"), "{text}");
            }
            other => panic!("expected an error message, got {other:?}"),
        }
        assert!(
            receiver.recv().await.is_none(),
            "the error message ends the response"
        );
        // Nothing can be sent after the server's error.
        assert!(matches!(
            sender.send(numbered_event(1, 4, 100)).await,
            Err(Error::Send(SendError::StreamOver))
        ));

        // A chain from another seed breaks at its first envelope.
        let other_seed = "00".repeat(32);
        let (mut sender, mut receiver) = client
            .open(
                request(addr, Some(&other_seed)),
                signed_client_session(Mode::HttpBinding),
            )
            .await
            .expect("opens");
        sender.send(numbered_event(2, 0, 10)).await.expect("sends");
        match receiver.recv().await {
            Some(Ok(SessionEvent::Error { code, .. })) => assert_eq!(&*code, "signature_mismatch"),
            other => panic!("expected an error message, got {other:?}"),
        }

        // No Authorization header: no seed, no chain to verify.
        let (_sender, mut receiver) = client
            .open(
                request(addr, None),
                signed_client_session(Mode::HttpBinding),
            )
            .await
            .expect("opens");
        match receiver.recv().await {
            Some(Ok(SessionEvent::Error { code, .. })) => {
                assert_eq!(&*code, "missing_authorization")
            }
            other => panic!("expected an error message, got {other:?}"),
        }
    })
    .await;
}

/// The mirror's report of a signed stream says the whole chain was verified, and an unsigned
/// frame among signed ones is a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_reports_a_verified_chain() {
    within_hang_timeout(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("has an address");
        let mirror = Mirror::new().with_signing(params());
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let mut connection = ServerConnection::handshake(tcp).await.expect("handshake");
            let mut reports = Vec::new();
            for _ in 0..2 {
                let incoming = connection.accept().await.expect("a stream").expect("ok");
                reports.push(mirror.serve_stream(incoming).await);
            }
            reports
        });
        let client = Client::connect(addr).await.expect("connects");
        for _ in 0..2 {
            let (mut sender, mut receiver) = client
                .open(
                    request(addr, Some(SEED)),
                    signed_client_session(Mode::HttpBinding),
                )
                .await
                .expect("opens");
            let reader = tokio::spawn(async move {
                let mut items = Vec::new();
                while let Some(item) = receiver.recv().await {
                    items.push(item);
                }
                items
            });
            for seq in 0..5 {
                sender
                    .send(numbered_event(0, seq, 64))
                    .await
                    .expect("sends");
            }
            sender.finish().await.expect("finishes");
            let items = reader.await.expect("reads");
            assert_eq!(items.len(), 6, "five echoes and the end: {items:?}");
        }
        let reports = server.await.expect("the server does not panic");
        for report in reports {
            assert!(report.verified_chain(), "{report:?}");
            assert_eq!(report.echoed, 5);
            assert!(matches!(report.outcome, MirrorOutcome::Finished));
        }
    })
    .await;
}

/// No task outlives the halves: after streams that finish, that are aborted, and whose halves
/// are dropped midway, and once the client is gone, every connection task has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_task_outlives_the_halves_and_the_connection() {
    within_hang_timeout(async {
        let metrics = tokio::runtime::Handle::current().metrics();
        let baseline = metrics.num_alive_tasks();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("has an address");
        // One connection served by the mirror's connection loop, which ends with it; each
        // stream it finishes serving is reported on `ended`.
        let (ended_tx, mut ended) = tokio::sync::mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accepts");
            Mirror::new()
                .on_stream_end(move |report| {
                    let _ = ended_tx.send(report.stream_id);
                })
                .serve_connection(tcp)
                .await
        });
        let client = Client::connect(addr).await.expect("connects");

        // A stream that finishes.
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        sender.send(numbered_event(0, 0, 10)).await.expect("sends");
        sender.finish().await.expect("finishes");
        while receiver.recv().await.is_some() {}
        drop((sender, receiver));

        // A stream whose sender is dropped midway: the receiver sees it closed.
        let (mut sender, mut receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        sender.send(numbered_event(1, 0, 10)).await.expect("sends");
        assert!(matches!(
            receiver.recv().await,
            Some(Ok(SessionEvent::Event(_)))
        ));
        drop(sender);
        assert!(matches!(
            receiver.recv().await,
            Some(Ok(SessionEvent::Closed))
        ));
        drop(receiver);

        // A stream whose receiver is dropped midway: the sender's next command is refused.
        let (mut sender, receiver) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        sender.send(numbered_event(2, 0, 10)).await.expect("sends");
        drop(receiver);
        assert!(matches!(
            sender.send(numbered_event(2, 1, 10)).await,
            Err(Error::Send(SendError::Aborted))
        ));
        drop(sender);

        // Streams whose halves are both dropped while the server still has work to do.
        for stream in 3..6 {
            let (mut sender, receiver) = client
                .open(request(addr, None), client_session(Mode::HttpBinding))
                .await
                .expect("opens");
            sender
                .send(numbered_event(stream, 0, 10_000))
                .await
                .expect("sends");
            drop((sender, receiver));
        }

        // Once the server has seen the end of all six streams it has nothing left to write, so
        // the client's closing the connection ends it cleanly (closed earlier, the socket could
        // meet the last echoes of the dropped streams: a broken pipe, not what is tested here).
        for _ in 0..6 {
            ended.recv().await.expect("the server reports every stream");
        }
        drop(client);
        server
            .await
            .expect("the server task does not panic")
            .expect("the connection ends cleanly");
        // The client's connection task and the server's stream tasks wind down by themselves.
        while metrics.num_alive_tasks() > baseline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(metrics.num_alive_tasks(), baseline);
    })
    .await;
}

/// A server that has sent its whole response may reset the stream with `NO_ERROR` to stop the
/// request (RFC 9113, section 8.1): the mirror does, once it has answered a broken chain with an
/// `error` message while the client is still sending. The client's sender then stops, and the
/// response is not lost: the receiver, read only after the sender gave up, still yields the
/// `error` message, never the reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_with_no_error_after_the_response_keeps_the_response() {
    within_hang_timeout(async {
        let addr = start_mirror(Mirror::new().with_signing(params())).await;
        let client = Client::connect(addr).await.expect("connects");
        // A chain from another seed: the mirror's first verification fails.
        let session = client_session(Mode::HttpBinding)
            .with_signer(SigV4Signer::new(params(), &"0".repeat(64)));
        let (mut sender, mut receiver) = client
            .open(request(addr, Some(SEED)), session)
            .await
            .expect("opens");
        // Send until the server stops us: it reads nothing more after its answer, so the
        // windows fill and the reset ends the wait.
        let mut sent = 0;
        let stopped = loop {
            match sender.send(numbered_event(0, sent, 1024)).await {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 1_000_000, "the server never stopped the request");
        };
        assert!(
            matches!(stopped, Error::Reset { reason } if reason == eventstream_tokio::Reason::NO_ERROR),
            "{stopped:?}"
        );
        match receiver.recv().await {
            Some(Ok(SessionEvent::Error { code, .. })) => assert_eq!(code, "signature_mismatch"),
            other => panic!("the response was lost: {other:?}"),
        }
        assert!(receiver.recv().await.is_none());
        drop(sender);
    })
    .await;
}
