//! Fault injection for the futures-io adapter (`eventstream-futures-io`), under smol: a client
//! [`Connection`], split into a sender task and a receiver task, talks through the
//! fault-injecting [`Proxy`] to an echo server (a task on its own thread and executor, as a
//! separate process would be). For each fault:
//!
//! - both halves of the client and the server end with a typed error or a clean end within the
//!   hang detector's limit;
//! - what the server received is a prefix of what the client sent, each event once and in order,
//!   and the echoes the client's application saw are a prefix of that;
//! - a sender whose peer stopped reading waits (backpressure); dropping the connection (a
//!   shutdown from another task), a cut, or cancelling the blocked send and aborting wakes it
//!   with an error; releasing the stall lets the stream complete;
//! - no task and no thread is left behind: the client's tasks and the server's run on their own
//!   `smol::Executor`s, which must be empty once the client's halves are done and the server's
//!   thread ended by itself, and the entries of `/proc/self/task` are counted before and after
//!   each scenario (with a settle loop), the proxy's threads included.
//!
//! The scenarios run one after the other in a single test, so that no other test's threads are
//! counted; the test prints the fault matrix.

mod faults_common;

use eventstream::session::{Role, SessionEvent};
use eventstream_futures_io::Connection;
use eventstream_tests::proxy::{process_threads, settle_threads, Dir, Plan, Proxy};
use faults_common::*;
use smol::net::{TcpListener, TcpStream};
use smol::{Executor, Timer};
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the test does once the proxy's stall has blocked the client's sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Nothing to do: the stream runs to its end, or to the plan's cut.
    RunToEnd,
    /// Release the stall: the stream completes.
    Release,
    /// The client's application drops the connection: `shutdown(Both)` on its socket, from
    /// another task than the blocked sender's.
    DropConnection,
    /// The proxy cuts the connection.
    Cut,
    /// The sender task cancels its blocked send and aborts the stream (`Sender::abort`); its
    /// next command must fail.
    Abort,
}

struct Scenario {
    name: &'static str,
    plan: Plan,
    stall: Option<Dir>,
    then: Then,
    events: usize,
    payload: usize,
    signed: bool,
    clean: bool,
    /// Exactly this many events must reach the server (a cut after that many complete frames).
    received: Option<usize>,
}

struct Outcome {
    attempted: usize,
    sender: End,
    receiver: End,
    server: End,
    received: Vec<usize>,
    acked: Vec<usize>,
    blocked_after: Option<u64>,
    tasks_left: bool,
    proxy_threads: usize,
}

fn client_connection(socket: TcpStream, signed: bool) -> Connection<TcpStream, TcpStream> {
    // A reset (abort, failure) closes both ways; `finish` half-closes.
    Connection::new(socket, session(Role::Client, signed)).with_shutdown(|s, how| s.shutdown(how))
}

/// The echo server: records the number of each event, then echoes it; finishes after the
/// client's end. Reports how it ended through `end`.
async fn serve(
    listener: TcpListener,
    signed: bool,
    payload: usize,
    log: Arc<Mutex<Vec<usize>>>,
    end: Arc<Mutex<Option<End>>>,
) {
    let (socket, _) = listener.accept().await.expect("accepts");
    let mut conn = Connection::new(socket, session(Role::Server, signed))
        .with_shutdown(|s: &TcpStream, how| s.shutdown(how));
    let mut failed = None;
    let outcome = loop {
        match conn.next_event().await {
            Ok(Some(SessionEvent::Event(m))) => {
                log.lock().unwrap().push(seq_of(&m, payload));
                // After a failed echo, go on reading: every complete event must still arrive.
                if failed.is_none() {
                    if let Err(e) = conn.send(m).await {
                        failed = Some(End::Error(e.kind().into()));
                    }
                }
            }
            Ok(Some(SessionEvent::End)) if failed.is_none() => {
                break match conn.finish().await {
                    Ok(()) => End::Clean,
                    Err(e) => End::Error(e.kind().into()),
                }
            }
            Ok(Some(SessionEvent::End)) => break End::Clean,
            Ok(other) => break End::Error(format!("unexpected {other:?}")),
            Err(e) => break End::Error(e.kind().into()),
        }
    };
    *end.lock().unwrap() = Some(failed.unwrap_or(outcome));
}

/// As `faults_common::wait_blocked`, without blocking the executor.
async fn wait_blocked_async(
    limit: Duration,
    progress: impl Fn() -> u64,
    still_running: impl Fn() -> bool,
) -> bool {
    let start = Instant::now();
    let mut last = progress();
    let mut since = Instant::now();
    while start.elapsed() < limit {
        Timer::after(Duration::from_millis(20)).await;
        if !still_running() {
            return false;
        }
        let now = progress();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= BLOCKED_FOR {
            return true;
        }
    }
    false
}

async fn scenario(ex: &Executor<'static>, s: &Scenario) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let proxy = Proxy::start(listener.local_addr().expect("an address"), s.plan.clone());
    let log = Arc::new(Mutex::new(Vec::new()));
    let server_end = Arc::new(Mutex::new(None));
    // The server runs on its own thread and executor, as a separate process would.
    let server = {
        let (signed, payload, log, end) = (s.signed, s.payload, log.clone(), server_end.clone());
        std::thread::spawn(move || {
            let ex = Executor::new();
            smol::block_on(ex.run(serve(listener, signed, payload, log, end)));
            ex.is_empty()
        })
    };

    let socket = TcpStream::connect(proxy.addr()).await.expect("connects");
    let killer = socket.clone();
    let (mut tx, rx) = client_connection(socket, s.signed).split();
    let progress = Arc::new(AtomicU64::new(0));
    let (abort_tx, abort_rx) = smol::channel::bounded::<()>(1);
    let sender = {
        let (events, payload, progress) = (s.events, s.payload, progress.clone());
        ex.spawn(async move {
            for seq in 0..events {
                let send = async { Some(tx.send(event(seq, payload)).await) };
                let abort = async {
                    let _ = abort_rx.recv().await;
                    None
                };
                match smol::future::or(send, abort).await {
                    Some(Ok(())) => {
                        progress.fetch_add(1, Ordering::SeqCst);
                        // smol has no cooperative budget: a send into a socket with room never
                        // returns `Pending`, so let the receiver task run between events.
                        smol::future::yield_now().await;
                    }
                    Some(Err(e)) => return (seq + 1, End::Error(e.kind().into())),
                    None => {
                        // The blocked send was cancelled: abort the stream, which must not wait
                        // for the stalled peer; the next command is refused.
                        tx.abort().await.expect("abort closes the socket");
                        return match tx.send(event(seq + 1, payload)).await {
                            Ok(()) => (seq + 2, End::Clean),
                            Err(e) => (seq + 1, End::Error(e.kind().into())),
                        };
                    }
                }
            }
            match tx.finish().await {
                Ok(()) => (events, End::Clean),
                Err(e) => (events, End::Error(e.kind().into())),
            }
        })
    };
    let payload = s.payload;
    let receiver = ex.spawn(async move {
        let mut rx = rx;
        let mut acked = Vec::new();
        loop {
            match rx.next_event().await {
                Ok(Some(SessionEvent::Event(m))) => acked.push(seq_of(&m, payload)),
                Ok(Some(SessionEvent::End)) => return (acked, End::Clean),
                Ok(Some(SessionEvent::Closed)) => return (acked, End::Closed),
                Ok(other) => return (acked, End::Error(format!("unexpected {other:?}"))),
                Err(e) => return (acked, End::Error(e.kind().into())),
            }
        }
    });

    let mut blocked_after = None;
    if let Some(dir) = s.stall {
        let start = Instant::now();
        while !proxy.is_stalled(dir) {
            assert!(
                start.elapsed() < HANG / 2,
                "{}: the proxy never reached its stall point",
                s.name
            );
            Timer::after(Duration::from_millis(5)).await;
        }
        let blocked = wait_blocked_async(
            HANG / 2,
            || progress.load(Ordering::SeqCst),
            || !sender.is_finished(),
        )
        .await;
        assert!(
            blocked,
            "{}: the sender was not held back by the stalled peer ({} events sent)",
            s.name,
            progress.load(Ordering::SeqCst)
        );
        blocked_after = Some(progress.load(Ordering::SeqCst));
        match s.then {
            Then::RunToEnd => {}
            Then::Release => proxy.release(dir),
            Then::DropConnection => killer.shutdown(Shutdown::Both).expect("shuts down"),
            Then::Cut => proxy.cut(),
            Then::Abort => abort_tx.send(()).await.expect("the sender listens"),
        }
    }
    let (attempted, sender_end) = sender.await;
    let (acked, receiver_end) = receiver.await;
    // The client is done; a server still waiting behind a stall gets the rest and the end.
    if let Some(dir) = s.stall {
        proxy.release(dir);
    }
    drop(killer);
    // The server's thread ends by itself.
    let start = Instant::now();
    while !server.is_finished() && start.elapsed() < HANG / 2 {
        Timer::after(Duration::from_millis(10)).await;
    }
    let server_tasks_left = !server.join().expect("the server does not panic");
    // Every task of the client's executor ended by itself.
    let start = Instant::now();
    while !ex.is_empty() && start.elapsed() < SETTLE {
        Timer::after(Duration::from_millis(10)).await;
    }
    let tasks_left = server_tasks_left || !ex.is_empty();
    proxy.shutdown();
    let received = log.lock().unwrap().clone();
    let server = server_end
        .lock()
        .unwrap()
        .take()
        .unwrap_or_else(|| End::Error("still running".into()));
    Outcome {
        attempted,
        sender: sender_end,
        receiver: receiver_end,
        server,
        received,
        acked,
        blocked_after,
        tasks_left,
        proxy_threads: proxy.live_threads(),
    }
}

fn run(s: &Scenario) -> Outcome {
    let ex = Executor::new();
    smol::block_on(ex.run(scenario(&ex, s)))
}

fn scenarios() -> Vec<Scenario> {
    let small = 64;
    let l = frame_len(small, false) as u64;
    let ls = frame_len(small, true) as u64;
    let big = 16 * 1024;
    let lb = frame_len(big, false) as u64;
    let stall_up = Plan::new().stall_reading_after(Dir::Up, 20 * lb + 100);
    vec![
        Scenario {
            name: "split writes into 1-byte pieces",
            plan: Plan::new().split_writes(1),
            stall: None,
            then: Then::RunToEnd,
            events: 100,
            payload: small,
            signed: true,
            clean: true,
            received: None,
        },
        Scenario {
            name: "delay every 256-byte piece by 1 ms",
            plan: Plan::new()
                .split_writes(256)
                .delay(Duration::from_millis(1)),
            stall: None,
            then: Then::RunToEnd,
            events: 100,
            payload: small,
            signed: false,
            clean: true,
            received: None,
        },
        Scenario {
            name: "cut mid-frame, server to client",
            plan: Plan::new().cut_after(Dir::Down, 10 * l + l / 2),
            stall: None,
            then: Then::RunToEnd,
            events: 1_000_000,
            payload: small,
            signed: false,
            clean: false,
            received: None,
        },
        Scenario {
            name: "cut mid-frame, client to server (signed)",
            plan: Plan::new().cut_after(Dir::Up, 10 * ls + ls / 2),
            stall: None,
            then: Then::RunToEnd,
            events: 1_000_000,
            payload: small,
            signed: true,
            clean: false,
            received: Some(10),
        },
        Scenario {
            name: "cut between frames, server to client (signed)",
            plan: Plan::new().cut_after(Dir::Down, 10 * ls),
            stall: None,
            then: Then::RunToEnd,
            events: 1_000_000,
            payload: small,
            signed: true,
            clean: false,
            received: None,
        },
        Scenario {
            name: "stall client to server, then release",
            plan: stall_up.clone(),
            stall: Some(Dir::Up),
            then: Then::Release,
            events: 1500,
            payload: big,
            signed: false,
            clean: true,
            received: None,
        },
        Scenario {
            name: "stall client to server, then drop the connection",
            plan: stall_up.clone(),
            stall: Some(Dir::Up),
            then: Then::DropConnection,
            events: 1_000_000,
            payload: big,
            signed: true,
            clean: false,
            received: None,
        },
        Scenario {
            name: "stall client to server, then cut",
            plan: stall_up.clone(),
            stall: Some(Dir::Up),
            then: Then::Cut,
            events: 1_000_000,
            payload: big,
            signed: false,
            clean: false,
            received: None,
        },
        Scenario {
            name: "stall client to server, then cancel and abort",
            plan: stall_up,
            stall: Some(Dir::Up),
            then: Then::Abort,
            events: 1_000_000,
            payload: big,
            signed: true,
            clean: false,
            received: None,
        },
        Scenario {
            name: "stall server to client, then drop the connection",
            plan: Plan::new().stall_reading_after(Dir::Down, 20 * lb + 100),
            stall: Some(Dir::Down),
            then: Then::DropConnection,
            events: 1_000_000,
            payload: big,
            signed: false,
            clean: false,
            received: None,
        },
    ]
}

#[test]
fn futures_io_fault_matrix() {
    // The reactor thread of async-io is started once and kept: start it before counting.
    smol::block_on(Timer::after(Duration::from_millis(1)));
    let baseline = process_threads();
    let mut failures = Vec::new();
    eprintln!("futures-io fault matrix: sender | receiver | server | sent, received, echoed | ms");
    // FAULT_SCENARIO=<part of a name> runs only the matching scenarios (by hand, to debug one).
    let only = std::env::var("FAULT_SCENARIO").unwrap_or_default();
    for s in scenarios().into_iter().filter(|s| s.name.contains(&only)) {
        let before = process_threads();
        let started = Instant::now();
        let name = s.name;
        let s = Arc::new(s);
        let outcome = {
            let s = s.clone();
            with_hang_detector(name, move || run(&s))
        };
        let millis = started.elapsed().as_millis();
        let after = before.and_then(|b| settle_threads(b, SETTLE));
        let (k, j) = check_prefixes(name, outcome.attempted, &outcome.received, &outcome.acked);
        eprintln!(
            "  {name:<50} {:<20} {:<20} {:<20} {:>5} {k:>5} {j:>5} {millis:>6}{}",
            outcome.sender.to_string(),
            outcome.receiver.to_string(),
            outcome.server.to_string(),
            outcome.attempted,
            outcome
                .blocked_after
                .map(|n| format!("  (sender blocked after {n} events)"))
                .unwrap_or_default(),
        );
        if after != before {
            failures.push(format!(
                "{name}: {before:?} threads before, {after:?} after: a thread was left behind"
            ));
        }
        if outcome.tasks_left {
            failures.push(format!("{name}: a task was left behind on the executor"));
        }
        if outcome.proxy_threads != 0 {
            failures.push(format!(
                "{name}: the proxy left {} threads",
                outcome.proxy_threads
            ));
        }
        if s.received.is_some_and(|n| n != k) {
            failures.push(format!(
                "{name}: {k} events reached the server, expected {:?}",
                s.received
            ));
        }
        if s.clean {
            let all_clean = [&outcome.sender, &outcome.receiver, &outcome.server]
                .iter()
                .all(|e| e.is_clean());
            if !all_clean || k != s.events || j != s.events {
                failures.push(format!(
                    "{name}: expected a clean end with all {} events echoed, got sender {}, \
                     receiver {}, server {}, {k} received, {j} echoed",
                    s.events, outcome.sender, outcome.receiver, outcome.server
                ));
            }
        } else {
            if outcome.receiver.is_clean() && outcome.server.is_clean() && j == s.events {
                failures.push(format!("{name}: the fault went unnoticed"));
            }
            if matches!(s.then, Then::DropConnection | Then::Cut | Then::Abort)
                && outcome.sender.is_clean()
            {
                failures.push(format!(
                    "{name}: the blocked sender was not woken with an error"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        baseline.and_then(|b| settle_threads(b, SETTLE)),
        baseline,
        "threads left behind by the matrix"
    );
}
