//! Fault injection for the tokio + h2 adapter (`eventstream-tokio`): a [`Client`] stream, its
//! [`Sender`](eventstream_tokio::Sender) and [`Receiver`](eventstream_tokio::Receiver) in two
//! tasks, talks through the fault-injecting [`Proxy`] to an echo server. The faults: the proxy's
//! (1-byte writes, delays, a stalled reader, a cut mid-frame), and HTTP/2's, sent by the server
//! with h2's own API at a chosen event (`RST_STREAM` from the adapter's `Sender::abort` or from a
//! raw h2 server in the middle of a frame, a graceful `GOAWAY` from dropping the
//! `ServerConnection`, an abrupt `GOAWAY` with an error from a raw h2 server), and the client's
//! own abort. For each fault:
//!
//! - both halves of the client and the server end with a typed error (of the expected kind) or
//!   a clean end within the hang detector's limit;
//! - what the server received is a prefix of what the client sent, each event once and in order,
//!   and the echoes the client's application saw are a prefix of that;
//! - a sender whose peer stopped reading waits (HTTP/2 flow control, then TCP), and dropping the
//!   receiving half, cancelling and aborting, or a cut wakes it with an error; releasing the
//!   stall lets the stream complete; while it waits it has handed h2 no more than the stream's
//!   window beyond what the server took;
//! - no task is left behind: the runtime's `num_alive_tasks()` is back to its value at the start
//!   of the test once the client's handles are dropped (with a settle loop), the server's task
//!   having ended by itself; the proxy's threads are joined and counted.

mod faults_common;
mod tokio_common;

use bytes::BytesMut;
use eventstream::frame::FrameDecoder;
use eventstream::session::{Role, SessionEvent};
use eventstream_tests::proxy::{Dir, Plan, Proxy};
use eventstream_tokio::{Client, ClientBuilder, Reason, ServerBuilder, ServerConnection};
use faults_common::{check_prefixes, event, frame_len, seq_of, session, End, BLOCKED_FOR, SETTLE};
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_common::{request, within_hang_timeout};

/// The stream window both sides are given here (HTTP/2's initial window, smaller than the
/// adapter's default, so that a stall blocks the sender soon): each side's send window on the
/// stream.
const WINDOW: u64 = 65_535;

/// What the test does once the proxy's stall has blocked the client's sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Nothing: the stream runs to its end, or to the fault.
    RunToEnd,
    /// Release the stall: the stream completes.
    Release,
    /// The client's application drops its receiving half (its task is aborted): the stream is
    /// aborted, which wakes the blocked send.
    DropReceiver,
    /// The sender task cancels its blocked send and aborts the stream; its next command fails.
    CancelAndAbort,
    /// The proxy cuts the connection.
    Cut,
}

/// The server at the other end.
#[derive(Clone, Copy, Debug)]
enum Server {
    /// An echo server on the adapter's `ServerConnection`.
    Adapter {
        /// After echoing this many events, `Sender::abort`: `RST_STREAM(CANCEL)`.
        reset_after: Option<usize>,
        /// After echoing this many events, drop the `ServerConnection`: a graceful `GOAWAY`;
        /// the stream goes on.
        goaway_after: Option<usize>,
    },
    /// An echo server written with h2 directly (unsigned frames only).
    Raw { after: usize, fault: RawFault },
}

const ECHO: Server = Server::Adapter {
    reset_after: None,
    goaway_after: None,
};

#[derive(Clone, Copy, Debug)]
enum RawFault {
    /// Half of the next echo's frame, then `RST_STREAM` with this reason.
    ResetMidFrame(Reason),
    /// `GOAWAY` with this reason (h2's `abrupt_shutdown`), then the connection closes.
    GoAway(Reason),
}

struct Scenario {
    name: &'static str,
    plan: Plan,
    stall: Option<Dir>,
    then: Then,
    server: Server,
    /// The client aborts the stream once it has seen this many echoes.
    client_abort_after: Option<usize>,
    events: usize,
    payload: usize,
    signed: bool,
    /// The kinds each half may end with (`clean`, `closed`, `dropped` or an error's kind):
    /// client sender, client receiver, server.
    expect: [&'static [&'static str]; 3],
    /// Every event echoed.
    complete: bool,
}

impl Scenario {
    fn new(name: &'static str, plan: Plan) -> Self {
        Scenario {
            name,
            plan,
            stall: None,
            then: Then::RunToEnd,
            server: ECHO,
            client_abort_after: None,
            events: 100,
            payload: 64,
            signed: false,
            expect: [&["clean"], &["clean"], &["clean"]],
            complete: true,
        }
    }
}

fn kind(end: &End) -> String {
    match end {
        End::Error(k) => k.clone(),
        other => other.to_string(),
    }
}

/// The adapter's echo server: records each event's number, echoes it, finishes after the
/// client's end; with a fault, resets the stream or drops the connection handle at its event.
async fn adapter_server(
    listener: TcpListener,
    signed: bool,
    payload: usize,
    reset_after: Option<usize>,
    goaway_after: Option<usize>,
    log: Arc<Mutex<Vec<usize>>>,
) -> End {
    let (tcp, _) = listener.accept().await.expect("accepts");
    let server = ServerBuilder::new().initial_stream_window_size(WINDOW as u32);
    let mut connection = match server.handshake(tcp).await {
        Ok(c) => Some(c),
        Err(e) => return End::Error(e.kind().into()),
    };
    let incoming = match connection.as_mut().expect("kept").accept().await {
        Some(Ok(incoming)) => incoming,
        Some(Err(e)) => return End::Error(e.kind().into()),
        None => return End::Error("no stream".into()),
    };
    let (mut sender, mut receiver) = match incoming.accept(session(Role::Server, signed)) {
        Ok(halves) => halves,
        Err(e) => return End::Error(e.kind().into()),
    };
    let mut echoed = 0;
    let mut failed = None;
    let end = loop {
        match receiver.recv().await {
            Some(Ok(SessionEvent::Event(m))) => {
                log.lock().unwrap().push(seq_of(&m, payload));
                if failed.is_some() {
                    // After a failed echo, go on reading until the receiver's own end.
                    continue;
                }
                if let Err(e) = sender.send(m).await {
                    failed = Some(End::Error(e.kind().into()));
                    continue;
                }
                echoed += 1;
                if reset_after == Some(echoed) {
                    sender.abort();
                }
                if goaway_after == Some(echoed) {
                    drop(connection.take());
                }
            }
            Some(Ok(SessionEvent::End)) if failed.is_none() => {
                break match sender.finish().await {
                    Ok(()) => End::Clean,
                    Err(e) => End::Error(e.kind().into()),
                };
            }
            Some(Ok(SessionEvent::End)) => break End::Clean,
            Some(Ok(SessionEvent::Closed)) => break End::Closed,
            Some(Ok(other)) => break End::Error(format!("unexpected {other:?}")),
            Some(Err(e)) => break End::Error(e.kind().into()),
            None => break End::Error("no terminal event".into()),
        }
    };
    failed.unwrap_or(end)
}

/// The raw h2 echo server: decodes the request body with the core's decoder, echoes each event's
/// frame, and at event `after` commits its fault.
async fn raw_server(
    listener: TcpListener,
    payload: usize,
    after: usize,
    fault: RawFault,
    log: Arc<Mutex<Vec<usize>>>,
) -> End {
    let (tcp, _) = listener.accept().await.expect("accepts");
    // h2 (0.4.20 and later) closes a connection whose peer's small DATA frames pile up unread
    // (`GOAWAY(ENHANCE_YOUR_CALM)`, "too_many_data_frames"); with h2's default budget (half of
    // its 64 KiB connection window) that happens to this test peer whenever its task is
    // scheduled late. The peer's own protection is not under test: raise it.
    let mut conn = h2::server::Builder::new()
        .data_frame_budget(64 << 20)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .expect("handshake");
    let (request, mut respond) = conn.accept().await.expect("a stream").expect("ok");
    let mut body = request.into_body();
    let response = http::Response::builder()
        .header("content-type", "application/vnd.amazon.eventstream")
        .body(())
        .expect("a valid response");
    let mut send = respond.send_response(response, false).expect("responds");
    let mut decoder = FrameDecoder::new();
    let mut echoed = 0;
    loop {
        tokio::select! {
            accepted = conn.accept() => match accepted {
                // Another stream: refused by dropping it.
                Some(Ok(_)) => {}
                Some(Err(e)) => return End::Error(h2_error(e).kind().into()),
                None => return End::Error("connection closed".into()),
            },
            data = body.data() => {
                let data = match data {
                    Some(Ok(data)) => data,
                    Some(Err(e)) => return End::Error(h2_error(e).kind().into()),
                    None => return End::Error("end of body before the fault".into()),
                };
                let _ = body.flow_control().release_capacity(data.len());
                decoder.handle_bytes(&data);
                while let Some(m) = decoder.poll_message().expect("valid frames") {
                    log.lock().unwrap().push(seq_of(&m, payload));
                    let mut frame = BytesMut::new();
                    m.encode(&mut frame).expect("encodes");
                    if echoed == after {
                        match fault {
                            RawFault::ResetMidFrame(reason) => {
                                let half = frame.split_to(frame.len() / 2).freeze();
                                send.send_data(half, false).expect("sends");
                                send.send_reset(reason);
                            }
                            RawFault::GoAway(reason) => conn.abrupt_shutdown(reason),
                        }
                        // Drive the connection until the client closes it.
                        let _ = poll_fn(|cx| conn.poll_closed(cx)).await;
                        return End::Error(
                            match fault {
                                RawFault::ResetMidFrame(_) => "sent_reset",
                                RawFault::GoAway(_) => "sent_go_away",
                            }
                            .into(),
                        );
                    }
                    send.send_data(frame.freeze(), false).expect("sends");
                    echoed += 1;
                }
            }
        }
    }
}

/// An h2 error as the adapter classifies it (for its kind).
fn h2_error(e: h2::Error) -> eventstream_tokio::Error {
    if e.is_io() {
        return eventstream_tokio::Error::ConnectionLost(Arc::new(
            e.into_io()
                .unwrap_or_else(|| std::io::ErrorKind::Other.into()),
        ));
    }
    match e.reason() {
        Some(reason) if e.is_reset() => eventstream_tokio::Error::Reset { reason },
        Some(reason) if e.is_go_away() => eventstream_tokio::Error::GoAway { reason },
        _ => eventstream_tokio::Error::H2(Arc::new(e)),
    }
}

struct Outcome {
    attempted: usize,
    sender: End,
    receiver: End,
    server: End,
    received: Vec<usize>,
    acked: Vec<usize>,
    blocked: Option<(u64, u64)>,
    proxy_log: Vec<String>,
}

/// The number of tasks alive on this runtime.
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

async fn run(s: Scenario) {
    let baseline = alive_tasks();
    let started = Instant::now();
    let outcome = within_hang_timeout(scenario(&s)).await;
    // Every handle is gone: the connections' tasks and the server's must end by themselves.
    let settle = Instant::now();
    while alive_tasks() > baseline && settle.elapsed() < SETTLE {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = alive_tasks();
    let name = s.name;
    let (k, j) = check_prefixes(name, outcome.attempted, &outcome.received, &outcome.acked);
    eprintln!(
        "tokio fault matrix | {name} | sender {} | receiver {} | server {} | sent {}, received \
         {k}, echoed {j} | {} ms{}",
        outcome.sender,
        outcome.receiver,
        outcome.server,
        outcome.attempted,
        started.elapsed().as_millis(),
        outcome
            .blocked
            .map(|(n, b)| format!(" | sender blocked after {n} events, {b} bytes handed to h2"))
            .unwrap_or_default(),
    );
    assert_eq!(
        left, baseline,
        "{name}: {left} tasks alive after the scenario, {baseline} before: a task was left behind"
    );
    for (half, end, allowed) in [
        ("client sender", &outcome.sender, s.expect[0]),
        ("client receiver", &outcome.receiver, s.expect[1]),
        ("server", &outcome.server, s.expect[2]),
    ] {
        assert!(
            allowed.contains(&kind(end).as_str()),
            "{name}: the {half} ended {end}, expected one of {allowed:?}; the proxy saw {:?}",
            outcome.proxy_log
        );
    }
    if s.complete {
        assert_eq!(
            (k, j),
            (s.events, s.events),
            "{name}: not every event echoed"
        );
    }
}

async fn scenario(s: &Scenario) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let proxy = Proxy::start(listener.local_addr().expect("an address"), s.plan.clone());
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = match s.server {
        Server::Adapter {
            reset_after,
            goaway_after,
        } => tokio::spawn(adapter_server(
            listener,
            s.signed,
            s.payload,
            reset_after,
            goaway_after,
            log.clone(),
        )),
        Server::Raw { after, fault } => {
            assert!(!s.signed, "the raw server reads unsigned frames");
            tokio::spawn(raw_server(listener, s.payload, after, fault, log.clone()))
        }
    };

    let client = ClientBuilder::new()
        .initial_stream_window_size(WINDOW as u32)
        .connect(proxy.addr())
        .await
        .expect("connects");
    let (mut tx, mut rx) = client
        .open(request(proxy.addr(), None), session(Role::Client, s.signed))
        .await
        .expect("opens");
    drop(client);
    let progress = Arc::new(AtomicU64::new(0));
    let handed = Arc::new(AtomicU64::new(0));
    let abort = Arc::new(Notify::new());
    let sender = {
        let (events, payload) = (s.events, s.payload);
        let (progress, handed, abort) = (progress.clone(), handed.clone(), abort.clone());
        tokio::spawn(async move {
            for seq in 0..events {
                tokio::select! {
                    biased;
                    () = abort.notified() => {
                        // The send in progress (if any) is cancelled; the abort must not wait.
                        tx.abort();
                        return match tx.send(event(seq, payload)).await {
                            Ok(()) => (seq + 1, End::Clean),
                            Err(e) => (seq, End::Error(e.kind().into())),
                        };
                    }
                    sent = tx.send(event(seq, payload)) => match sent {
                        Ok(()) => {
                            progress.fetch_add(1, Ordering::SeqCst);
                            handed.store(tx.bytes_sent(), Ordering::SeqCst);
                        }
                        Err(e) => return (seq + 1, End::Error(e.kind().into())),
                    },
                }
            }
            match tx.finish().await {
                Ok(()) => (events, End::Clean),
                Err(e) => (events, End::Error(e.kind().into())),
            }
        })
    };
    let acked = Arc::new(Mutex::new(Vec::new()));
    let receiver = {
        let (payload, acked, abort) = (s.payload, acked.clone(), abort.clone());
        let abort_after = s.client_abort_after;
        tokio::spawn(async move {
            while let Some(item) = rx.recv().await {
                match item {
                    Ok(SessionEvent::Event(m)) => {
                        let n = {
                            let mut acked = acked.lock().unwrap();
                            acked.push(seq_of(&m, payload));
                            acked.len()
                        };
                        if abort_after == Some(n) {
                            abort.notify_one();
                        }
                    }
                    Ok(SessionEvent::End) => return End::Clean,
                    Ok(SessionEvent::Closed) => return End::Closed,
                    Ok(other) => return End::Error(format!("unexpected {other:?}")),
                    Err(e) => return End::Error(e.kind().into()),
                }
            }
            End::Error("no terminal event".into())
        })
    };

    let mut blocked = None;
    if let Some(dir) = s.stall {
        let start = Instant::now();
        while !proxy.is_stalled(dir) {
            assert!(
                start.elapsed() < faults_common::HANG / 2,
                "{}: the proxy never reached its stall point",
                s.name
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut last = progress.load(Ordering::SeqCst);
        let mut since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(
                !sender.is_finished(),
                "{}: the sender was not held back by the stalled peer",
                s.name
            );
            let now = progress.load(Ordering::SeqCst);
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() >= BLOCKED_FOR {
                break;
            }
        }
        let handed_now = handed.load(Ordering::SeqCst);
        blocked = Some((last, handed_now));
        if dir == Dir::Up {
            // The server released the window for what it took; h2 took no more than one
            // window beyond that (the frames of one event may straddle).
            let frame = frame_len(s.payload, s.signed) as u64;
            let through = proxy.forwarded(Dir::Up);
            assert!(
                handed_now <= through + WINDOW + frame,
                "{}: {handed_now} bytes handed to h2 while only {through} went through the \
                 proxy: more than a window ({WINDOW}) and a frame ({frame}) beyond",
                s.name
            );
        }
        match s.then {
            Then::RunToEnd => {}
            Then::Release => proxy.release(dir),
            Then::DropReceiver => receiver.abort(),
            Then::CancelAndAbort => abort.notify_one(),
            Then::Cut => proxy.cut(),
        }
    }
    let (attempted, sender_end) = sender.await.expect("the sender does not panic");
    let receiver_end = match receiver.await {
        Ok(end) => end,
        Err(e) if e.is_cancelled() => End::Dropped,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    // The client is done; a server still waiting behind a stall gets the rest and the end.
    if let Some(dir) = s.stall {
        proxy.release(dir);
    }
    let server_end = server.await.expect("the server does not panic");
    proxy.shutdown();
    assert_eq!(proxy.live_threads(), 0, "the proxy left threads");
    let received = log.lock().unwrap().clone();
    let acked = acked.lock().unwrap().clone();
    Outcome {
        attempted,
        sender: sender_end,
        receiver: receiver_end,
        server: server_end,
        received,
        acked,
        blocked,
        proxy_log: proxy.log(),
    }
}

/// The payload of the events of the stall scenarios: a few events fill the window.
const BIG: usize = 16 * 1024;

fn stall_up() -> Plan {
    // Past the h2 preface, the SETTINGS and the request head, and a few events.
    Plan::new().stall_reading_after(Dir::Up, 5 * frame_len(BIG, false) as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_writes_into_1_byte_pieces() {
    run(Scenario {
        signed: true,
        ..Scenario::new(
            "split writes into 1-byte pieces",
            Plan::new().split_writes(1),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_every_piece() {
    run(Scenario::new(
        "delay every 256-byte piece by 1 ms",
        Plan::new()
            .split_writes(256)
            .delay(Duration::from_millis(1)),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_mid_frame_server_to_client() {
    run(Scenario {
        events: 1_000_000,
        expect: [
            &["connection_lost"],
            &["connection_lost"],
            &["connection_lost"],
        ],
        complete: false,
        ..Scenario::new(
            "cut mid-frame, server to client",
            Plan::new().cut_after(Dir::Down, 4000),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_mid_frame_client_to_server() {
    run(Scenario {
        events: 1_000_000,
        signed: true,
        expect: [
            &["connection_lost"],
            &["connection_lost"],
            &["connection_lost"],
        ],
        complete: false,
        ..Scenario::new(
            "cut mid-frame, client to server (signed)",
            Plan::new().cut_after(Dir::Up, 4000),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_then_release() {
    run(Scenario {
        stall: Some(Dir::Up),
        then: Then::Release,
        events: 200,
        payload: BIG,
        ..Scenario::new("stall client to server, then release", stall_up())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_then_drop_the_receiver() {
    run(Scenario {
        stall: Some(Dir::Up),
        then: Then::DropReceiver,
        events: 1_000_000,
        payload: BIG,
        // The client's RST_STREAM waits behind the stalled bytes; once the client's handles are
        // gone its connection task ends without waiting for the stalled socket, so the server
        // may see the connection's loss rather than the reset.
        expect: [&["aborted"], &["dropped"], &["reset", "connection_lost"]],
        complete: false,
        ..Scenario::new("stall client to server, then drop the receiver", stall_up())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_then_cancel_and_abort() {
    run(Scenario {
        stall: Some(Dir::Up),
        then: Then::CancelAndAbort,
        events: 1_000_000,
        payload: BIG,
        // As above: the reset may not get past the stall before the client is gone.
        expect: [&["aborted"], &["closed"], &["reset", "connection_lost"]],
        complete: false,
        ..Scenario::new("stall client to server, then cancel and abort", stall_up())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_then_cut() {
    run(Scenario {
        stall: Some(Dir::Up),
        then: Then::Cut,
        events: 1_000_000,
        payload: BIG,
        signed: true,
        expect: [
            &["connection_lost"],
            &["connection_lost"],
            &["connection_lost"],
        ],
        complete: false,
        ..Scenario::new("stall client to server, then cut", stall_up())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_server_to_client_then_drop_the_receiver() {
    run(Scenario {
        stall: Some(Dir::Down),
        then: Then::DropReceiver,
        events: 1_000_000,
        payload: BIG,
        expect: [&["aborted"], &["dropped"], &["reset"]],
        complete: false,
        ..Scenario::new(
            "stall server to client, then drop the receiver",
            Plan::new().stall_reading_after(Dir::Down, 5 * frame_len(BIG, false) as u64),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_resets_the_stream_at_event_20() {
    run(Scenario {
        server: Server::Adapter {
            reset_after: Some(20),
            goaway_after: None,
        },
        events: 1_000_000,
        expect: [&["reset"], &["reset"], &["closed"]],
        complete: false,
        ..Scenario::new("server RST_STREAM(CANCEL) after 20 echoes", Plan::new())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_resets_mid_frame_at_event_20() {
    run(Scenario {
        server: Server::Raw {
            after: 20,
            fault: RawFault::ResetMidFrame(Reason::INTERNAL_ERROR),
        },
        events: 1_000_000,
        expect: [&["reset"], &["reset"], &["sent_reset"]],
        complete: false,
        ..Scenario::new(
            "server RST_STREAM(INTERNAL_ERROR) mid-frame after 20 echoes",
            Plan::new(),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_goes_away_gracefully_at_event_20() {
    run(Scenario {
        server: Server::Adapter {
            reset_after: None,
            goaway_after: Some(20),
        },
        signed: true,
        ..Scenario::new(
            "server GOAWAY(NO_ERROR) after 20 echoes: the stream completes",
            Plan::new(),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_goes_away_with_an_error_at_event_20() {
    run(Scenario {
        server: Server::Raw {
            after: 20,
            fault: RawFault::GoAway(Reason::ENHANCE_YOUR_CALM),
        },
        // The stream was processed (GOAWAY's last stream id is 1), so h2 reports the connection's
        // end to it as an I/O error, not as the GOAWAY.
        events: 1_000_000,
        expect: [
            &["go_away", "connection_lost"],
            &["go_away", "connection_lost"],
            &["sent_go_away"],
        ],
        complete: false,
        ..Scenario::new(
            "server GOAWAY(ENHANCE_YOUR_CALM) after 20 echoes",
            Plan::new(),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_aborts_after_20_echoes() {
    run(Scenario {
        client_abort_after: Some(20),
        events: 1_000_000,
        signed: true,
        expect: [&["aborted"], &["closed"], &["reset"]],
        complete: false,
        ..Scenario::new("client RST_STREAM(CANCEL) after 20 echoes", Plan::new())
    })
    .await;
}

/// Small events on several streams with a slow server application: every event arrives and no
/// stream fails. h2 charges every buffered small DATA frame against a connection-wide budget and
/// closes the connection with `GOAWAY(ENHANCE_YOUR_CALM)` when it runs out; the adapter leaves
/// events in h2 until the application takes them (backpressure), so it sizes that budget for
/// everything the flow-control windows admit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_events_on_concurrent_streams_with_a_slow_application_all_arrive() {
    const STREAMS: usize = 4;
    within_hang_timeout(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("an address");
        let read_now = Arc::new(Notify::new());
        let server = {
            let read_now = read_now.clone();
            tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.expect("accepts");
                let mut connection = ServerConnection::handshake(tcp).await.expect("handshake");
                let mut halves = Vec::new();
                for _ in 0..STREAMS {
                    let incoming = connection.accept().await.expect("a stream").expect("ok");
                    halves.push(
                        incoming
                            .accept(session(Role::Server, false))
                            .expect("accepts"),
                    );
                }
                // A slow application: it reads nothing until every client is blocked.
                read_now.notified().await;
                let mut seen = Vec::new();
                for (_sender, mut receiver) in halves {
                    let mut n = 0u64;
                    let end = loop {
                        match tokio::time::timeout(Duration::from_millis(500), receiver.recv())
                            .await
                        {
                            Ok(Some(Ok(SessionEvent::Event(_)))) => n += 1,
                            Ok(Some(Err(e))) => break Some(e.to_string()),
                            Ok(other) => break Some(format!("{other:?}")),
                            // Idle: every event sent so far was taken.
                            Err(_) => break None,
                        }
                    };
                    seen.push((n, end));
                }
                seen
            })
        };

        let client = Client::connect(addr).await.expect("connects");
        let mut streams = Vec::new();
        for _ in 0..STREAMS {
            streams.push(
                client
                    .open(request(addr, None), session(Role::Client, false))
                    .await
                    .expect("opens"),
            );
        }
        let mut sent = Vec::new();
        let mut failures = Vec::new();
        for (tx, _rx) in &mut streams {
            // Send empty events until the stream's window is full (a send waits).
            let mut n = 0u64;
            loop {
                let event = eventstream::session::EventBuilder::new("E").build();
                match tokio::time::timeout(BLOCKED_FOR, tx.send(event)).await {
                    Ok(Ok(())) => n += 1,
                    Ok(Err(e)) => {
                        failures.push(format!("client stream failed: {e}"));
                        break;
                    }
                    // Blocked: the window is full. (The cancelled send's event was accepted by
                    // the session and may still go out.)
                    Err(_) => break,
                }
            }
            sent.push(n);
        }
        read_now.notify_one();
        let seen = server.await.expect("the server does not panic");
        eprintln!("small events on {STREAMS} streams: sent {sent:?}; the server saw {seen:?}");
        for (i, (n, end)) in seen.iter().enumerate() {
            if let Some(e) = end {
                failures.push(format!("server stream {i} failed after {n} events: {e}"));
            } else if *n < sent[i] {
                failures.push(format!("server stream {i}: {n} events of {}", sent[i]));
            }
        }
        drop((streams, client));
        assert!(
            failures.is_empty(),
            "a slow server application with small events on {STREAMS} streams lost the \
             connection: {failures:#?}"
        );
    })
    .await;
}
