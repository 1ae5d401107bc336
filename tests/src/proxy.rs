//! A fault-injecting TCP proxy on loopback, for the fault-injection suites
//! (`tests/faults_tokio.rs`, `tests/faults_futures_io.rs`, `tests/faults_blocking.rs`).
//!
//! It sits between a client and a server and forwards bytes both ways, each direction on its own
//! thread, with blocking `std::net` sockets, so that one proxy serves the tokio, the futures-io
//! and the blocking tests alike. A [`Plan`] says what goes wrong, per direction ([`Dir::Up`]:
//! client to server; [`Dir::Down`]: server to client):
//!
//! - [`Plan::split_writes`]: every forwarded chunk is written in pieces of at most `n` bytes
//!   (1: one byte per `write`, with `TCP_NODELAY`, so the peer sees frames cut everywhere);
//! - [`Plan::delay`]: every piece waits this long before it is written (a piece is what one read
//!   returned, or a part of it with `split_writes`);
//! - [`Plan::stall_reading_after`]: after forwarding this many bytes the proxy stops reading from
//!   the sender (a peer that stopped reading: the sender's socket buffers fill up, and its writes
//!   block) until [`Proxy::release`];
//! - [`Plan::cut_after`]: after forwarding exactly this many bytes the proxy closes both sockets
//!   of the connection, both ways (the connection is cut, typically in the middle of a frame).
//!
//! Failures travel as on a real network: when one side goes away (a write to it fails), that
//! direction stops, and the other one still delivers what is on its way until its own end; the
//! sockets are closed once both directions are done (a peer still writing then gets a reset). A
//! direction blocked on its receiver after the other one failed is closed after a moment (the
//! reset a real network would bring). [`Proxy::log`] says what happened, for failure messages.
//!
//! [`Proxy::cut`] cuts every connection at once, at whatever point it is. [`Proxy::shutdown`]
//! closes everything and joins every thread the proxy started; [`Proxy::live_threads`] counts
//! them, so that the tests can check that the proxy, too, leaves nothing behind.
//!
//! HTTP/2 faults (`RST_STREAM`, `GOAWAY`) are not the proxy's business: it parses nothing, and the
//! tests' servers send them with h2's own API at a chosen event.
//!
//! The module also has the process-level measures the suites use: [`process_threads`] and
//! [`settle_threads`] (entries of `/proc/self/task`), [`peak_rss`] and [`current_rss`].

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a thread blocked in a read or a stall looks at the proxy's flags.
const POLL: Duration = Duration::from_millis(5);

/// The size of each direction's read buffer.
const BUF: usize = 16 * 1024;

/// A direction of traffic through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From the client to the server.
    Up,
    /// From the server to the client.
    Down,
}

impl Dir {
    /// Both directions.
    pub const BOTH: [Dir; 2] = [Dir::Up, Dir::Down];

    fn index(self) -> usize {
        match self {
            Dir::Up => 0,
            Dir::Down => 1,
        }
    }
}

/// What the proxy does to the traffic, per direction. The default forwards everything as it
/// comes.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    split: [Option<usize>; 2],
    delay: [Option<Duration>; 2],
    stall_after: [Option<u64>; 2],
    cut_after: [Option<u64>; 2],
}

impl Plan {
    /// Forward everything unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Both directions are written in pieces of at most `n` bytes (at least 1), one `write` each.
    #[must_use]
    pub fn split_writes(mut self, n: usize) -> Self {
        self.split = [Some(n.max(1)); 2];
        self
    }

    /// As [`split_writes`](Self::split_writes), in one direction.
    #[must_use]
    pub fn split_writes_in(mut self, dir: Dir, n: usize) -> Self {
        self.split[dir.index()] = Some(n.max(1));
        self
    }

    /// Every piece, in both directions, waits `d` before it is written: each chunk read, or each
    /// piece of it with [`split_writes`](Self::split_writes).
    #[must_use]
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = [Some(d); 2];
        self
    }

    /// As [`delay`](Self::delay), in one direction.
    #[must_use]
    pub fn delay_in(mut self, dir: Dir, d: Duration) -> Self {
        self.delay[dir.index()] = Some(d);
        self
    }

    /// Once `bytes` bytes went `dir`, the proxy stops reading from that direction's sender until
    /// [`Proxy::release`].
    #[must_use]
    pub fn stall_reading_after(mut self, dir: Dir, bytes: u64) -> Self {
        self.stall_after[dir.index()] = Some(bytes);
        self
    }

    /// Once exactly `bytes` bytes went `dir`, the proxy closes both sockets of the connection,
    /// both ways.
    #[must_use]
    pub fn cut_after(mut self, dir: Dir, bytes: u64) -> Self {
        self.cut_after[dir.index()] = Some(bytes);
        self
    }
}

/// One proxied connection: both sockets, kept to close them from outside the pump threads.
struct Conn {
    client: TcpStream,
    server: TcpStream,
    closed: AtomicBool,
    /// The pump threads still running; the last one to end lets go of the sockets.
    pumps: AtomicUsize,
    /// Per direction: its receiver is gone (a write failed).
    failed: [AtomicBool; 2],
}

impl Conn {
    /// Closes both sockets both ways: every blocked read and write of the peers and of the pump
    /// threads returns.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

struct Shared {
    plan: Plan,
    upstream: SocketAddr,
    stop: AtomicBool,
    released: [AtomicBool; 2],
    stalled: [AtomicBool; 2],
    forwarded: [AtomicU64; 2],
    cuts: AtomicUsize,
    accepted: AtomicUsize,
    live_threads: AtomicUsize,
    conns: Mutex<Vec<Arc<Conn>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    log: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decrements the live-thread count when a proxy thread ends, however it ends.
struct Alive(Arc<Shared>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.live_threads.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn note(&self, dir: Dir, at: u64, what: &str) {
        lock(&self.log).push(format!("{dir:?} after {at} bytes: {what}"));
    }

    fn spawn(self: &Arc<Self>, name: &str, f: impl FnOnce(Arc<Shared>) + Send + 'static) {
        self.live_threads.fetch_add(1, Ordering::SeqCst);
        let shared = self.clone();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _alive = Alive(shared.clone());
                f(shared);
            })
            .expect("spawns a proxy thread");
        lock(&self.threads).push(handle);
    }
}

/// A running proxy: listens on a loopback port and forwards each connection to the upstream
/// address according to its [`Plan`]. Dropping it is [`shutdown`](Self::shutdown).
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .field("plan", &self.shared.plan)
            .field("forwarded_up", &self.forwarded(Dir::Up))
            .field("forwarded_down", &self.forwarded(Dir::Down))
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Starts a proxy to `upstream` on a fresh loopback port.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub fn start(upstream: SocketAddr, plan: Plan) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds a loopback port");
        let addr = listener.local_addr().expect("has an address");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let shared = Arc::new(Shared {
            plan,
            upstream,
            stop: AtomicBool::new(false),
            released: [AtomicBool::new(false), AtomicBool::new(false)],
            stalled: [AtomicBool::new(false), AtomicBool::new(false)],
            forwarded: [AtomicU64::new(0), AtomicU64::new(0)],
            cuts: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
            live_threads: AtomicUsize::new(0),
            conns: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
        });
        shared.spawn("proxy-accept", move |shared| {
            accept_loop(&shared, &listener)
        });
        Proxy { addr, shared }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bytes forwarded so far in `dir`, over every connection.
    pub fn forwarded(&self, dir: Dir) -> u64 {
        self.shared.forwarded[dir.index()].load(Ordering::SeqCst)
    }

    /// Whether the proxy reached its stall point in `dir` and stopped reading there.
    pub fn is_stalled(&self, dir: Dir) -> bool {
        self.shared.stalled[dir.index()].load(Ordering::SeqCst)
    }

    /// Waits (at most `limit`) until the proxy has stalled in `dir`; returns whether it did.
    pub fn wait_stalled(&self, dir: Dir, limit: Duration) -> bool {
        let start = Instant::now();
        while !self.is_stalled(dir) {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(POLL);
        }
        true
    }

    /// Ends the stall in `dir`: reading and forwarding go on, with no further stall.
    pub fn release(&self, dir: Dir) {
        self.shared.released[dir.index()].store(true, Ordering::SeqCst);
    }

    /// How many connections were cut, by the plan or by [`cut`](Self::cut).
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// How many connections the proxy accepted.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Cuts every connection now: both sockets closed both ways.
    pub fn cut(&self) {
        for conn in lock(&self.shared.conns).iter() {
            if !conn.closed.load(Ordering::SeqCst) {
                self.shared.cuts.fetch_add(1, Ordering::SeqCst);
            }
            conn.close();
        }
    }

    /// What happened to the connections, in order: half-closes passed on, failures that closed a
    /// connection, cuts. For the failure messages of the tests.
    pub fn log(&self) -> Vec<String> {
        lock(&self.shared.log).clone()
    }

    /// The proxy's threads still running: the accept loop and two per open connection.
    pub fn live_threads(&self) -> usize {
        self.shared.live_threads.load(Ordering::SeqCst)
    }

    /// Stops accepting, closes every connection and joins every thread the proxy started.
    /// Returns the number of threads joined. Idempotent.
    pub fn shutdown(&self) -> usize {
        self.shared.stop.store(true, Ordering::SeqCst);
        for conn in lock(&self.shared.conns).iter() {
            conn.close();
        }
        let mut joined = 0;
        loop {
            let handles: Vec<_> = lock(&self.shared.threads).drain(..).collect();
            if handles.is_empty() {
                break;
            }
            for h in handles {
                let _ = h.join();
                joined += 1;
            }
        }
        joined
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    while !shared.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(_) => {
                std::thread::sleep(POLL);
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let Ok(server) = TcpStream::connect(shared.upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        if let Err(e) = start_connection(shared, client, server) {
            panic!("the proxy cannot set up a connection: {e}");
        }
    }
}

fn start_connection(shared: &Arc<Shared>, client: TcpStream, server: TcpStream) -> io::Result<()> {
    client.set_nonblocking(false)?;
    for s in [&client, &server] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(POLL))?;
        s.set_write_timeout(Some(POLL))?;
    }
    let conn = Arc::new(Conn {
        client: client.try_clone()?,
        server: server.try_clone()?,
        closed: AtomicBool::new(false),
        pumps: AtomicUsize::new(2),
        failed: [AtomicBool::new(false), AtomicBool::new(false)],
    });
    lock(&shared.conns).push(conn.clone());
    let (client_w, server_w) = (client.try_clone()?, server.try_clone()?);
    let up_conn = conn.clone();
    shared.spawn("proxy-up", move |shared| {
        pump(&shared, &up_conn, Dir::Up, client, server_w);
        pump_ended(&shared, &up_conn);
    });
    shared.spawn("proxy-down", move |shared| {
        pump(&shared, &conn, Dir::Down, server, client_w);
        pump_ended(&shared, &conn);
    });
    Ok(())
}

/// When both directions of a connection are done, its sockets are closed for good (not only
/// shut down): a peer still writing, or blocked writing into a full window, then gets a reset
/// instead of waiting for a window that will never open.
fn pump_ended(shared: &Shared, conn: &Arc<Conn>) {
    if conn.pumps.fetch_sub(1, Ordering::SeqCst) == 1 {
        lock(&shared.conns).retain(|c| !Arc::ptr_eq(c, conn));
    }
}

/// Forwards `src` to `dst` in direction `dir` until the end of `src`, a failure, a cut or the
/// proxy's shutdown, applying the plan.
fn pump(shared: &Shared, conn: &Conn, dir: Dir, mut src: TcpStream, mut dst: TcpStream) {
    let i = dir.index();
    let plan = &shared.plan;
    let mut buf = vec![0u8; BUF];
    // Bytes forwarded on this connection in this direction.
    let mut done: u64 = 0;
    loop {
        if shared.stop.load(Ordering::SeqCst) || conn.closed.load(Ordering::SeqCst) {
            return;
        }
        if let Some(at) = plan.stall_after[i] {
            if done >= at && !shared.released[i].load(Ordering::SeqCst) {
                shared.stalled[i].store(true, Ordering::SeqCst);
                std::thread::sleep(POLL);
                continue;
            }
        }
        let mut want = buf.len() as u64;
        if let Some(at) = plan.stall_after[i] {
            if !shared.released[i].load(Ordering::SeqCst) {
                want = want.min(at - done);
            }
        }
        if let Some(at) = plan.cut_after[i] {
            want = want.min(at.saturating_sub(done));
        }
        let n = if want == 0 {
            0
        } else {
            match src.read(&mut buf[..want as usize]) {
                Ok(0) => {
                    // The sender half-closed: pass it on, and let the other direction go on.
                    shared.note(dir, done, "end of input passed on");
                    let _ = dst.shutdown(Shutdown::Write);
                    return;
                }
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    // The sender's socket failed (reset): what was forwarded stays forwarded,
                    // then the receiver sees the end; the other direction finds out by itself.
                    shared.note(dir, done, &format!("read failed ({e}): end passed on"));
                    let _ = dst.shutdown(Shutdown::Write);
                    return;
                }
            }
        };
        let piece = plan.split[i].unwrap_or(BUF);
        for chunk in buf[..n].chunks(piece) {
            if let Some(d) = plan.delay[i] {
                std::thread::sleep(d);
            }
            if !write_piece(shared, conn, dir, &mut dst, chunk, &mut done) {
                return;
            }
        }
        if plan.cut_after[i].is_some_and(|at| done >= at) {
            shared.note(dir, done, "cut");
            if !conn.closed.load(Ordering::SeqCst) {
                shared.cuts.fetch_add(1, Ordering::SeqCst);
            }
            conn.close();
            return;
        }
    }
}

/// How long a direction blocked on its receiver may make no progress once the other direction's
/// receiver is gone, before the proxy closes the connection (as the reset of a real network
/// would reach the blocked peer).
const GIVE_UP: Duration = Duration::from_millis(200);

/// Writes one piece to `dst`, counting what went through. `false` when this direction is over.
///
/// When the receiver is gone (a write fails), this direction stops (its sender's writes back
/// up) and the other one goes on to its own end, as the bytes already on their way would on a
/// real network; the sockets are closed once both are done. When the other direction's receiver
/// is gone and this one makes no progress for [`GIVE_UP`] (its receiver is itself blocked, say
/// writing to the proxy), the connection is closed.
fn write_piece(
    shared: &Shared,
    conn: &Conn,
    dir: Dir,
    dst: &mut TcpStream,
    piece: &[u8],
    done: &mut u64,
) -> bool {
    let i = dir.index();
    let mut at = 0;
    let mut stuck_since: Option<Instant> = None;
    while at < piece.len() {
        if shared.stop.load(Ordering::SeqCst) || conn.closed.load(Ordering::SeqCst) {
            return false;
        }
        match dst.write(&piece[at..]) {
            Ok(0) => {
                conn.failed[i].store(true, Ordering::SeqCst);
                shared.note(dir, *done, "write returned 0: direction stopped");
                return false;
            }
            Ok(n) => {
                at += n;
                *done += n as u64;
                shared.forwarded[i].fetch_add(n as u64, Ordering::SeqCst);
                stuck_since = None;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                if conn.failed[1 - i].load(Ordering::SeqCst) {
                    let since = *stuck_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= GIVE_UP {
                        shared.note(
                            dir,
                            *done,
                            "blocked after the other direction failed: connection closed",
                        );
                        conn.close();
                        return false;
                    }
                }
            }
            Err(e) => {
                conn.failed[i].store(true, Ordering::SeqCst);
                if !conn.closed.load(Ordering::SeqCst) {
                    shared.note(
                        dir,
                        *done,
                        &format!("write failed ({e}): direction stopped"),
                    );
                }
                return false;
            }
        }
    }
    true
}

/// The number of threads of this process (entries of `/proc/self/task`), or `None` where that
/// cannot be read (not Linux).
pub fn process_threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(|entries| entries.count())
}

/// Waits (at most `limit`) until the process has at most `expected` threads; returns the last
/// count (`None` where it cannot be counted). Threads that were joined may linger a moment in
/// `/proc/self/task`, and runtimes end their threads asynchronously: this is the settle loop.
pub fn settle_threads(expected: usize, limit: Duration) -> Option<usize> {
    let start = Instant::now();
    loop {
        let n = process_threads()?;
        if n <= expected || start.elapsed() > limit {
            return Some(n);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The peak resident set size of this process (`VmHWM` of `/proc/self/status`), in bytes, or
/// `None` where it cannot be read.
pub fn peak_rss() -> Option<u64> {
    status_kib("VmHWM:").map(|k| k * 1024)
}

/// The current resident set size of this process (`VmRSS`), in bytes, or `None`.
pub fn current_rss() -> Option<u64> {
    status_kib("VmRSS:").map(|k| k * 1024)
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback for one connection; returns its address.
    fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = s.shutdown(Shutdown::Write);
        });
        (addr, h)
    }

    #[test]
    fn forwards_split_and_half_closes() {
        let (addr, server) = echo_server();
        let proxy = Proxy::start(addr, Plan::new().split_writes(1));
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        server.join().unwrap();
        assert_eq!(proxy.forwarded(Dir::Up), 5000);
        assert_eq!(proxy.forwarded(Dir::Down), 5000);
        assert_eq!(proxy.shutdown(), 3);
        assert_eq!(proxy.live_threads(), 0);
    }

    #[test]
    fn cuts_after_the_given_bytes() {
        let (addr, server) = echo_server();
        let proxy = Proxy::start(addr, Plan::new().cut_after(Dir::Down, 1234));
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        let _ = c.write_all(&[7u8; 3000]);
        let mut back = Vec::new();
        let _ = c.read_to_end(&mut back);
        assert_eq!(back.len(), 1234);
        assert_eq!(proxy.cuts(), 1);
        drop(c);
        server.join().unwrap();
        proxy.shutdown();
        assert_eq!(proxy.live_threads(), 0);
    }

    #[test]
    fn stalls_then_releases() {
        let (addr, server) = echo_server();
        let proxy = Proxy::start(addr, Plan::new().stall_reading_after(Dir::Up, 100));
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.write_all(&[1u8; 300]).unwrap();
        assert!(proxy.wait_stalled(Dir::Up, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(proxy.forwarded(Dir::Up), 100);
        proxy.release(Dir::Up);
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), 300);
        server.join().unwrap();
        proxy.shutdown();
    }
}
