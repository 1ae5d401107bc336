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
use eventstream_tests::proxy::Proxy;
use faults_common::*;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
            Then::Abort => unreachable!("the blocking matrix has no abort scenario"),
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
        tasks_left: false,
        proxy_threads: proxy.live_threads(),
    }
}

#[test]
fn blocking_fault_matrix() {
    // The blocking adapter cannot cancel a send blocked in a write: no abort scenario.
    run_matrix("blocking", scenarios(false), run);
}
