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
use eventstream_tests::proxy::Proxy;
use faults_common::*;
use smol::net::{TcpListener, TcpStream};
use smol::{Executor, Timer};
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

#[test]
fn futures_io_fault_matrix() {
    // The reactor thread of async-io is started once and kept: start it before counting.
    smol::block_on(Timer::after(Duration::from_millis(1)));
    run_matrix("futures-io", scenarios(true), run);
}
