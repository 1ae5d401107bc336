//! `BodyEvents` over HTTP/1.1: a hyper server on a loopback port sends encoded frames as a
//! chunked response in odd chunk sizes, and a hyper client turns the response body into events.
//! Plus in-memory bodies for what the network hides (copies, backpressure, modes).

use bytes::{Bytes, BytesMut};
use eventstream::frame::Message;
use eventstream::session::{
    error_message, EventBuilder, ExceptionBuilder, Mode, Role, Session, SessionConfig,
    SessionEvent, Transmit,
};
use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams, SigningTime};
use eventstream_tokio::{BodyEvents, Error, EVENT_STREAM_CONTENT_TYPE};
use futures::StreamExt as _;
use futures_core::stream::FusedStream as _;
use http::header::{CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use http_body_util::{BodyDataStream, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long one test may take before it counts as hung. Only a hang detector: no test waits
/// for it to pass.
const HANG: Duration = Duration::from_secs(5);

/// The sizes of the body chunks the server sends, in turn.
const CHUNK_SIZES: [usize; 6] = [1, 7, 13, 4093, 2, 301];

/// Runs `test` and fails if it takes longer than [`HANG`].
async fn within_hang_timeout<T>(test: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG, test).await {
        Ok(out) => out,
        Err(_) => panic!("the test hung: it did not finish within {HANG:?}"),
    }
}

// ---- messages ----

/// Event `seq`: its payload says which it is and is padded to a size that varies from none to
/// several chunks.
fn event(seq: usize) -> Message {
    const LENS: [usize; 7] = [0, 1, 40, 5000, 3, 17_000, 600];
    let len = LENS[seq % LENS.len()];
    let mut payload = format!("event {seq} ").into_bytes();
    payload.resize(len.max(payload.len()), b'a' + (seq % 26) as u8);
    EventBuilder::new("Tick")
        .header("seq", seq as i64)
        .payload(payload)
        .build()
}

/// The wire bytes of `messages` (unsigned), and the offset where each frame ends.
fn encode_all(messages: &[Message]) -> (Bytes, Vec<usize>) {
    let mut wire = BytesMut::new();
    let mut ends = Vec::new();
    for m in messages {
        m.encode(&mut wire).expect("encodes");
        ends.push(wire.len());
    }
    (wire.freeze(), ends)
}

/// `wire` cut in pieces of [`CHUNK_SIZES`], in turn.
fn odd_chunks(wire: &Bytes) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let mut at = 0;
    for size in CHUNK_SIZES.iter().cycle() {
        if at == wire.len() {
            break;
        }
        let end = (at + size).min(wire.len());
        chunks.push(wire.slice(at..end));
        at = end;
    }
    chunks
}

fn assert_events(seen: &[SessionEvent], expected: &[Message]) {
    assert_eq!(seen.len(), expected.len(), "the number of events");
    for (i, (seen, expected)) in seen.iter().zip(expected).enumerate() {
        match seen {
            SessionEvent::Event(m) => assert_eq!(m, expected, "event {i}"),
            other => panic!("item {i}: expected an event, got {other:?}"),
        }
    }
}

// ---- the server ----

/// What the server's response body does next.
type BodyItem = Result<Bytes, io::Error>;

/// Serves one HTTP/1.1 connection on a loopback port: one request, answered with a chunked
/// `200` whose body chunks are what the test sends on the returned channel. Dropping the sender
/// ends the body cleanly (the last chunk); sending an error makes hyper abort the connection.
/// With `cut_body_at`, the connection is dropped once that many bytes of the body (chunk
/// framing included) were written.
async fn start_server(cut_body_at: Option<usize>) -> (SocketAddr, mpsc::UnboundedSender<BodyItem>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds a loopback port");
    let addr = listener.local_addr().expect("has an address");
    let (tx, rx) = mpsc::unbounded_channel::<BodyItem>();
    let rx = Mutex::new(Some(rx));
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accepts");
        let service = service_fn(move |_request: Request<Incoming>| {
            let mut rx = rx.lock().unwrap().take().expect("one request");
            async move {
                let frames = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
                    .map(|item| item.map(Frame::data));
                let response = Response::builder()
                    .header(CONTENT_TYPE, EVENT_STREAM_CONTENT_TYPE)
                    .body(StreamBody::new(frames))
                    .expect("a valid response");
                Ok::<_, Infallible>(response)
            }
        });
        let io = TokioIo::new(CutOff::new(tcp, cut_body_at));
        // A test that aborts the body makes this fail: that is the point.
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await;
    });
    (addr, tx)
}

/// Sends `chunks` as the server's body chunks.
fn send_chunks(tx: &mpsc::UnboundedSender<BodyItem>, chunks: impl IntoIterator<Item = Bytes>) {
    for chunk in chunks {
        tx.send(Ok(chunk)).expect("the server is there");
    }
}

/// Where the written bytes are: in the response head, or how far into the body.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    /// How many bytes of the head's closing `\r\n\r\n` were just seen.
    matched: usize,
    head_done: bool,
    body: usize,
}

impl Progress {
    fn step(&mut self, byte: u8) {
        const END_OF_HEAD: &[u8; 4] = b"\r\n\r\n";
        if self.head_done {
            self.body += 1;
        } else if byte == END_OF_HEAD[self.matched] {
            self.matched += 1;
            self.head_done = self.matched == END_OF_HEAD.len();
        } else {
            self.matched = usize::from(byte == b'\r');
        }
    }

    /// How many of `bytes` may be written before the body reaches `cut`.
    fn fits(mut self, bytes: &[u8], cut: usize) -> usize {
        for (i, &b) in bytes.iter().enumerate() {
            if self.head_done && self.body >= cut {
                return i;
            }
            self.step(b);
        }
        bytes.len()
    }
}

/// The server's connection: a TCP stream that, with a cut, fails every write once the body
/// reached it, so that hyper drops the connection there.
struct CutOff {
    tcp: TcpStream,
    cut_body_at: Option<usize>,
    progress: Progress,
}

impl CutOff {
    fn new(tcp: TcpStream, cut_body_at: Option<usize>) -> Self {
        CutOff {
            tcp,
            cut_body_at,
            progress: Progress::default(),
        }
    }
}

impl AsyncRead for CutOff {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for CutOff {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let allowed = match this.cut_body_at {
            Some(cut) => this.progress.fits(buf, cut),
            None => buf.len(),
        };
        if allowed == 0 && !buf.is_empty() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = std::task::ready!(Pin::new(&mut this.tcp).poll_write(cx, &buf[..allowed]))?;
        for &b in &buf[..n] {
            this.progress.step(b);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

// ---- the client ----

/// `GET`s the event stream over a new HTTP/1.1 connection; checks the response head and returns
/// its body as a stream of data chunks.
async fn get(addr: SocketAddr) -> BodyDataStream<Incoming> {
    let tcp = TcpStream::connect(addr).await.expect("connects");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshakes");
    let request = Request::get("/events")
        .header(HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .expect("a valid request");
    let response = sender.send_request(request);
    // The connection runs until the server closes it (or the test's runtime ends); the sender
    // stays with it, so that only the server decides when it closes.
    tokio::spawn(async move {
        let _sender = sender;
        let _ = connection.await;
    });
    let response = response.await.expect("a response");
    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], EVENT_STREAM_CONTENT_TYPE);
    assert_eq!(response.headers()[TRANSFER_ENCODING], "chunked");
    BodyDataStream::new(response.into_body())
}

/// Reads every item: the events and the terminal item (an `Ok` or the error). Checks that the
/// stream then stays at `None`.
async fn read_all<B, E>(
    events: &mut BodyEvents<B>,
) -> (Vec<SessionEvent>, Result<SessionEvent, Error>)
where
    B: futures_core::Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut seen = Vec::new();
    let last = loop {
        match events.recv().await {
            Some(Ok(event)) if !event.is_terminal() => seen.push(event),
            Some(last) => break last,
            None => panic!("the stream ended without a terminal item"),
        }
    };
    assert!(events.is_terminated());
    assert!(events.recv().await.is_none());
    assert!(events.next().await.is_none());
    (seen, last)
}

// ---- over HTTP/1.1 ----

#[tokio::test]
async fn events_then_a_clean_end() {
    within_hang_timeout(async {
        let (addr, tx) = start_server(None).await;
        let messages: Vec<Message> = (0..40).map(event).collect();
        let (wire, _) = encode_all(&messages);
        send_chunks(&tx, odd_chunks(&wire));
        drop(tx);

        let mut events = BodyEvents::new(get(addr).await);
        let (seen, last) = read_all(&mut events).await;
        assert_events(&seen, &messages);
        assert_eq!(last.expect("a clean end"), SessionEvent::End);
        assert_eq!(events.bytes_received(), wire.len() as u64);
    })
    .await;
}

#[tokio::test]
async fn a_slow_consumer_with_a_small_queue_gets_everything() {
    within_hang_timeout(async {
        let (addr, tx) = start_server(None).await;
        let messages: Vec<Message> = (0..30).map(event).collect();
        let (wire, _) = encode_all(&messages);
        // Big chunks: many frames wait in each for room in the queue.
        send_chunks(&tx, wire.chunks(50_000).map(|c| wire.slice_ref(c)));
        drop(tx);

        let session = Session::new(
            SessionConfig::new(Role::Client, Mode::HttpBinding).with_max_queued_events(1),
        );
        let mut events = BodyEvents::with_session(get(addr).await, session);
        let mut seen = Vec::new();
        while let Some(item) = events.recv().await {
            let event = item.expect("no error");
            if event.is_terminal() {
                assert_eq!(event, SessionEvent::End);
            } else {
                seen.push(event);
                tokio::task::yield_now().await;
            }
        }
        assert_events(&seen, &messages);
    })
    .await;
}

#[tokio::test]
async fn an_exception_mid_stream_is_the_last_item() {
    within_hang_timeout(async {
        let (addr, tx) = start_server(None).await;
        let before: Vec<Message> = (0..5).map(event).collect();
        let exception = ExceptionBuilder::new("ThrottlingException")
            .content_type("application/json")
            .payload(&b"{\"message\":\"slow down\"}"[..])
            .build();
        // What follows the exception is never delivered, even bytes that are no frame at all.
        let mut all = before.clone();
        all.push(exception.clone());
        all.extend((5..8).map(event));
        let (wire, _) = encode_all(&all);
        let mut wire = BytesMut::from(&wire[..]);
        wire.extend_from_slice(b"not a frame");
        send_chunks(&tx, odd_chunks(&wire.freeze()));
        drop(tx);

        let mut events = BodyEvents::new(get(addr).await);
        let (seen, last) = read_all(&mut events).await;
        assert_events(&seen, &before);
        match last.expect("the exception") {
            SessionEvent::Exception {
                exception_type,
                message,
            } => {
                assert_eq!(&*exception_type, "ThrottlingException");
                assert_eq!(message, exception);
            }
            other => panic!("expected the exception, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn an_error_message_is_the_last_item() {
    within_hang_timeout(async {
        let (addr, tx) = start_server(None).await;
        let before: Vec<Message> = (0..4).map(event).collect();
        let mut all = before.clone();
        all.push(error_message("InternalFailure", "the shard moved"));
        all.push(event(4));
        let (wire, _) = encode_all(&all);
        send_chunks(&tx, odd_chunks(&wire));
        drop(tx);

        let mut events = BodyEvents::new(get(addr).await);
        let (seen, last) = read_all(&mut events).await;
        assert_events(&seen, &before);
        match last.expect("the error message") {
            SessionEvent::Error { code, text, .. } => {
                assert_eq!(&*code, "InternalFailure");
                assert_eq!(&*text, "the shard moved");
            }
            other => panic!("expected the error message, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_clean_end_inside_a_frame_is_truncated() {
    within_hang_timeout(async {
        let (addr, tx) = start_server(None).await;
        let messages: Vec<Message> = (0..7).map(event).collect();
        let (wire, ends) = encode_all(&messages);
        // The body ends properly (the last chunk) in the middle of the sixth frame.
        let cut = ends[4] + (ends[5] - ends[4]) / 2;
        send_chunks(&tx, odd_chunks(&wire.slice(..cut)));
        drop(tx);

        let mut events = BodyEvents::new(get(addr).await);
        let (seen, last) = read_all(&mut events).await;
        assert_events(&seen, &messages[..5]);
        let err = last.expect_err("a truncated stream is no clean end");
        assert!(matches!(err, Error::Session(_)), "{err:?}");
        assert_eq!(err.kind(), "truncated");
        assert_eq!(events.bytes_received(), cut as u64);
    })
    .await;
}

#[tokio::test]
async fn a_connection_dropped_inside_a_chunk_is_a_body_error() {
    within_hang_timeout(async {
        let messages: Vec<Message> = (0..12).map(event).collect();
        let (wire, ends) = encode_all(&messages);
        let chunks = odd_chunks(&wire);
        // Drop the connection 100 bytes into the data of the first big chunk that starts after
        // the third frame: the body's framing as hyper writes it is `{len:x}\r\n{data}\r\n`.
        let mut body_offset = 0;
        let mut data_offset = 0;
        let (cut_body_at, cut_data_at) = chunks
            .iter()
            .find_map(|chunk| {
                let header = format!("{:x}\r\n", chunk.len()).len();
                let found = (chunk.len() > 1000 && data_offset > ends[2])
                    .then(|| (body_offset + header + 100, data_offset + 100));
                body_offset += header + chunk.len() + 2;
                data_offset += chunk.len();
                found
            })
            .expect("a big chunk after the third frame");
        assert!(!ends.contains(&cut_data_at), "the cut is inside a frame");
        let (addr, tx) = start_server(Some(cut_body_at)).await;
        send_chunks(&tx, chunks);
        drop(tx);

        let mut events = BodyEvents::new(get(addr).await);
        let (seen, last) = read_all(&mut events).await;
        let whole = ends.iter().filter(|&&end| end <= cut_data_at).count();
        assert_events(&seen, &messages[..whole]);
        let err = last.expect_err("a lost connection is no end");
        assert!(matches!(err, Error::Body(_)), "{err:?}");
        assert_eq!(err.kind(), "body");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(events.bytes_received(), cut_data_at as u64);
    })
    .await;
}

#[tokio::test]
async fn a_body_aborted_at_a_frame_boundary_is_a_body_error() {
    within_hang_timeout(async {
        let (addr, tx) = start_server(None).await;
        let messages: Vec<Message> = (0..3).map(event).collect();
        let (wire, _) = encode_all(&messages);
        send_chunks(&tx, odd_chunks(&wire));

        let mut events = BodyEvents::new(get(addr).await);
        for expected in &messages {
            match events.recv().await {
                Some(Ok(SessionEvent::Event(m))) => assert_eq!(&m, expected),
                other => panic!("expected an event, got {other:?}"),
            }
        }
        // Everything sent so far was whole frames: a clean end here would be `End`. The server's
        // body fails instead, and hyper drops the connection without the last chunk.
        tx.send(Err(io::Error::other("the producer failed")))
            .expect("the server is there");
        let (seen, last) = read_all(&mut events).await;
        assert!(seen.is_empty(), "{seen:?}");
        let err = last.expect_err("an aborted body is no end");
        assert_eq!(err.kind(), "body", "{err:?}");
    })
    .await;
}

/// The wire bytes of a server session that signs `messages` and ends its side with the end frame.
fn signed_wire(messages: &[Message]) -> (Bytes, Vec<usize>) {
    let now = SigningTime::from_system_time(SystemTime::now()).expect("a usable clock");
    let mut server = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding))
        .with_signer(SigV4Signer::new(params(), SEED));
    let mut wire = BytesMut::new();
    let mut ends = Vec::new();
    for m in messages {
        server.send(m.clone(), now).expect("sends");
        while let Some(Transmit::Data(_)) = server.poll_transmit(&mut wire) {}
        ends.push(wire.len());
    }
    server.finish(now).expect("finishes");
    while let Some(t) = server.poll_transmit(&mut wire) {
        assert!(matches!(t, Transmit::Data(_) | Transmit::Finish), "{t:?}");
    }
    ends.push(wire.len());
    (wire.freeze(), ends)
}

const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

fn params() -> SigningParams {
    SigningParams::new(
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        "demo",
    )
}

fn verifying_session() -> Session {
    Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding))
        .with_verifier(SigV4Verifier::new(params(), SEED).with_max_clock_skew(300))
}

#[tokio::test]
async fn a_signed_stream_is_verified() {
    within_hang_timeout(async {
        let messages: Vec<Message> = (0..9).map(event).collect();
        let (wire, ends) = signed_wire(&messages);

        // Whole, with its end frame: a clean end.
        let (addr, tx) = start_server(None).await;
        send_chunks(&tx, odd_chunks(&wire));
        drop(tx);
        let mut events = BodyEvents::with_session(get(addr).await, verifying_session());
        let (seen, last) = read_all(&mut events).await;
        assert_events(&seen, &messages);
        assert_eq!(last.expect("a clean end"), SessionEvent::End);

        // Without the end frame, at a frame boundary: not a clean end.
        let (addr, tx) = start_server(None).await;
        send_chunks(&tx, odd_chunks(&wire.slice(..ends[messages.len() - 1])));
        drop(tx);
        let mut events = BodyEvents::with_session(get(addr).await, verifying_session());
        let (seen, last) = read_all(&mut events).await;
        assert_events(&seen, &messages);
        assert_eq!(last.expect_err("no end frame").kind(), "missing_end_frame");
    })
    .await;
}

// ---- in memory ----

/// A body of `chunks` that counts the chunks taken from it.
fn counted(
    chunks: Vec<Bytes>,
) -> (
    impl futures_core::Stream<Item = Result<Bytes, io::Error>> + Unpin,
    Arc<AtomicUsize>,
) {
    let taken = Arc::new(AtomicUsize::new(0));
    let counter = taken.clone();
    let body = futures::stream::iter(chunks.into_iter().map(Ok)).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (body, taken)
}

#[tokio::test]
async fn the_body_is_polled_again_only_once_its_chunk_was_consumed() {
    let messages: Vec<Message> = (0..6).map(|i| event(i * 7 + 1)).collect();
    let (first, _) = encode_all(&messages[..5]);
    let (second, _) = encode_all(&messages[5..]);
    let (body, taken) = counted(vec![first, second]);
    let session =
        Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding).with_max_queued_events(1));
    let mut events = BodyEvents::with_session(body, session);
    for (i, expected) in messages.iter().enumerate() {
        match events.recv().await {
            Some(Ok(SessionEvent::Event(m))) => assert_eq!(&m, expected),
            other => panic!("expected event {i}, got {other:?}"),
        }
        let chunks = if i < 5 { 1 } else { 2 };
        assert_eq!(taken.load(Ordering::SeqCst), chunks, "after event {i}");
    }
    assert_eq!(events.recv().await.unwrap().unwrap(), SessionEvent::End);
    assert!(events.recv().await.is_none());
}

#[tokio::test]
async fn whole_frames_in_a_chunk_are_not_copied() {
    let messages: Vec<Message> = (0..4).map(|i| event(i * 7 + 3)).collect();
    let (wire, _) = encode_all(&messages);
    let range = wire.as_ptr() as usize..wire.as_ptr() as usize + wire.len();
    let mut events = BodyEvents::new(futures::stream::iter([Ok::<_, io::Error>(wire.clone())]));
    let (seen, last) = read_all(&mut events).await;
    assert_events(&seen, &messages);
    assert_eq!(last.unwrap(), SessionEvent::End);
    for event in &seen {
        let SessionEvent::Event(m) = event else {
            unreachable!()
        };
        assert!(range.contains(&(m.payload().as_ptr() as usize)), "a copy");
    }
}

#[tokio::test]
async fn http_binding_has_no_initial_messages_and_rpc_does() {
    let initial = EventBuilder::initial_response().payload(&b"{}"[..]).build();
    let (wire, _) = encode_all(&[initial.clone(), event(1)]);
    let body = || futures::stream::iter(odd_chunks(&wire).into_iter().map(Ok::<_, io::Error>));

    // HTTP binding (the default): an initial-response is an ordinary event.
    let mut events = BodyEvents::new(body());
    let (seen, last) = read_all(&mut events).await;
    assert_events(&seen, &[initial.clone(), event(1)]);
    assert_eq!(last.unwrap(), SessionEvent::End);

    // RPC: it is the initial response.
    let session = Session::new(SessionConfig::new(Role::Client, Mode::Rpc));
    let mut events = BodyEvents::with_session(body(), session);
    let (seen, last) = read_all(&mut events).await;
    assert_eq!(seen[0], SessionEvent::InitialResponse(initial));
    assert_events(&seen[1..], &[event(1)]);
    assert_eq!(last.unwrap(), SessionEvent::End);
}

#[tokio::test]
async fn a_bad_frame_is_a_session_error_and_empty_chunks_are_harmless() {
    let (wire, ends) = encode_all(&[event(1), event(2)]);
    let mut bad = BytesMut::from(&wire[..]);
    // Corrupt the second frame's payload: its message CRC no longer matches.
    bad[ends[1] - 6] ^= 0x55;
    let chunks = vec![
        Bytes::new(),
        bad.clone().freeze().slice(..10),
        Bytes::new(),
        bad.freeze().slice(10..),
    ];
    let mut events = BodyEvents::new(futures::stream::iter(
        chunks.into_iter().map(Ok::<_, io::Error>),
    ));
    let (seen, last) = read_all(&mut events).await;
    assert_events(&seen, &[event(1)]);
    let err = last.expect_err("a corrupt frame");
    assert!(matches!(err, Error::Session(_)), "{err:?}");
    assert_eq!(err.kind(), "message_checksum_mismatch");
}

#[tokio::test]
async fn an_empty_body_is_a_clean_end() {
    let mut events = BodyEvents::new(futures::stream::empty::<Result<Bytes, io::Error>>());
    let (seen, last) = read_all(&mut events).await;
    assert!(seen.is_empty());
    assert_eq!(last.unwrap(), SessionEvent::End);
}

#[tokio::test]
async fn a_body_that_is_not_unpin_can_be_boxed() {
    let (wire, _) = encode_all(&[event(2)]);
    let body = futures::stream::once(async move { Ok::<_, io::Error>(wire) });
    let mut events = BodyEvents::new(Box::pin(body));
    let (seen, last) = read_all(&mut events).await;
    assert_events(&seen, &[event(2)]);
    assert_eq!(last.unwrap(), SessionEvent::End);
}

#[test]
fn body_events_can_move_to_another_task() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<BodyEvents<BodyDataStream<Incoming>>>();
}
