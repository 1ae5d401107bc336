//! Fault injection for the blocking adapter (`eventstream-blocking`): a client [`Connection`],
//! split into a sender thread and a receiver thread, talks through the fault-injecting
//! [`Proxy`] to an echo server thread. For each fault:
//!
//! - both halves of the client and the server end with a typed error or a clean end within the
//!   hang detector's limit;
//! - what the server received is a prefix of what the client sent, each event once and in order,
//!   and the echoes the client's application saw are a prefix of that (nothing acknowledged is
//!   lost or duplicated);
//! - a sender whose peer stopped reading blocks (backpressure), and dropping the connection (a
//!   shutdown from another thread) or a cut wakes it with an error; releasing the stall lets the
//!   stream complete;
//! - no thread is left behind: the entries of `/proc/self/task` are counted before and after
//!   each scenario (with a settle loop), and the proxy's own threads are joined and counted.
//!
//! The scenarios run one after the other in a single test, so that no other test's threads are
//! counted; the test prints the fault matrix.

mod faults_common;

use eventstream::session::{Role, SessionEvent};
use eventstream_blocking::Connection;
use eventstream_tests::proxy::{process_threads, settle_threads, Dir, Plan, Proxy};
use faults_common::*;
use std::net::{Shutdown, TcpListener, TcpStream};
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
    /// The client's application drops the connection: `shutdown(Both)` on a clone of its socket,
    /// from another thread than the blocked sender's. (The adapter has no other way to wake a
    /// sender blocked in a write: `Sender::abort` needs the sender itself, and the `Receiver`
    /// has no abort.)
    DropConnection,
    /// The proxy cuts the connection.
    Cut,
}

struct Scenario {
    name: &'static str,
    plan: Plan,
    /// The stall that blocks the client's sender, if the plan has one.
    stall: Option<Dir>,
    then: Then,
    events: usize,
    payload: usize,
    signed: bool,
    /// Every event must be echoed and every half must end cleanly.
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
    proxy_threads: usize,
}

/// The echo server: records the number of each event, then echoes it; finishes after the
/// client's end.
fn serve(listener: TcpListener, signed: bool, payload: usize, log: Arc<Mutex<Vec<usize>>>) -> End {
    let (socket, _) = listener.accept().expect("accepts");
    let mut conn = Connection::new(socket, session(Role::Server, signed)).expect("clones");
    let mut failed = None;
    let end = loop {
        match conn.next_event() {
            Ok(Some(SessionEvent::Event(m))) => {
                log.lock().unwrap().push(seq_of(&m, payload));
                // After a failed echo, go on reading: every complete event must still arrive.
                if failed.is_none() {
                    if let Err(e) = conn.send(m) {
                        failed = Some(End::Error(e.kind().into()));
                    }
                }
            }
            Ok(Some(SessionEvent::End)) if failed.is_none() => {
                break match conn.finish() {
                    Ok(()) => End::Clean,
                    Err(e) => End::Error(e.kind().into()),
                };
            }
            Ok(Some(SessionEvent::End)) => break End::Clean,
            Ok(other) => break End::Error(format!("unexpected {other:?}")),
            Err(e) => break End::Error(e.kind().into()),
        }
    };
    failed.unwrap_or(end)
}

fn run(s: &Scenario) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let proxy = Proxy::start(listener.local_addr().expect("an address"), s.plan.clone());
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let (signed, payload, log) = (s.signed, s.payload, log.clone());
        std::thread::spawn(move || serve(listener, signed, payload, log))
    };

    let socket = TcpStream::connect(proxy.addr()).expect("connects");
    let killer = socket.try_clone().expect("clones");
    let (mut tx, rx) = Connection::new(socket, session(Role::Client, s.signed))
        .expect("clones")
        .split();
    let progress = Arc::new(AtomicU64::new(0));
    let sender = {
        let (events, payload, progress) = (s.events, s.payload, progress.clone());
        std::thread::spawn(move || {
            for seq in 0..events {
                if let Err(e) = tx.send(event(seq, payload)) {
                    return (seq + 1, End::Error(e.kind().into()));
                }
                progress.fetch_add(1, Ordering::SeqCst);
            }
            match tx.finish() {
                Ok(()) => (events, End::Clean),
                Err(e) => (events, End::Error(e.kind().into())),
            }
        })
    };
    let payload = s.payload;
    let receiver = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for item in rx {
            match item {
                Ok(SessionEvent::Event(m)) => acked.push(seq_of(&m, payload)),
                Ok(SessionEvent::End) => return (acked, End::Clean),
                Ok(SessionEvent::Closed) => return (acked, End::Closed),
                Ok(other) => return (acked, End::Error(format!("unexpected {other:?}"))),
                Err(e) => return (acked, End::Error(e.kind().into())),
            }
        }
        (acked, End::Error("no terminal event".into()))
    });

    let mut blocked_after = None;
    if let Some(dir) = s.stall {
        assert!(
            proxy.wait_stalled(dir, HANG / 2),
            "{}: the proxy never reached its stall point",
            s.name
        );
        let blocked = wait_blocked(
            HANG / 2,
            || progress.load(Ordering::SeqCst),
            || !sender.is_finished(),
        );
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
            Then::DropConnection => {
                killer.shutdown(Shutdown::Both).expect("shuts down");
            }
            Then::Cut => proxy.cut(),
        }
    }
    let (attempted, sender_end) = sender.join().expect("the sender does not panic");
    let (acked, receiver_end) = receiver.join().expect("the receiver does not panic");
    // The client is done; a server still waiting behind a stall gets the rest and the end.
    if let Some(dir) = s.stall {
        proxy.release(dir);
    }
    drop(killer);
    let server_end = server.join().expect("the server does not panic");
    proxy.shutdown();
    let received = log.lock().unwrap().clone();
    Outcome {
        attempted,
        sender: sender_end,
        receiver: receiver_end,
        server: server_end,
        received,
        acked,
        blocked_after,
        proxy_threads: proxy.live_threads(),
    }
}

fn scenarios() -> Vec<Scenario> {
    let small = 64;
    let l = frame_len(small, false) as u64;
    let ls = frame_len(small, true) as u64;
    let big = 16 * 1024;
    let lb = frame_len(big, false) as u64;
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
            plan: Plan::new().stall_reading_after(Dir::Up, 20 * lb + 100),
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
            plan: Plan::new().stall_reading_after(Dir::Up, 20 * lb + 100),
            stall: Some(Dir::Up),
            then: Then::DropConnection,
            events: 1_000_000,
            payload: big,
            signed: false,
            clean: false,
            received: None,
        },
        Scenario {
            name: "stall client to server, then cut",
            plan: Plan::new().stall_reading_after(Dir::Up, 20 * lb + 100),
            stall: Some(Dir::Up),
            then: Then::Cut,
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
fn blocking_fault_matrix() {
    let baseline = process_threads();
    let mut failures = Vec::new();
    eprintln!("blocking fault matrix: sender | receiver | server | sent, received, echoed | ms");
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
            // The fault must show: the stream cannot look complete at both ends.
            if outcome.receiver.is_clean() && outcome.server.is_clean() && j == s.events {
                failures.push(format!("{name}: the fault went unnoticed"));
            }
            if matches!(s.then, Then::DropConnection | Then::Cut) && outcome.sender.is_clean() {
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
