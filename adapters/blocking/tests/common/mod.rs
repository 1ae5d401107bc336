//! Helpers shared by the blocking adapter's tests.

#![allow(dead_code, unreachable_pub)]

use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig};
use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
use eventstream_blocking::Socket;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

/// The tests' seeded generator: SplitMix64, the same sequence everywhere.
pub use eventstream_testkit::SplitMix64 as Rng;

/// Runs `body` on its own thread and fails the test if it takes longer than `limit`: a hang
/// detector, never a performance check.
pub fn with_deadline<T: Send + 'static>(
    limit: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            handle.join().unwrap();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!(),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test hung for more than {limit:?}"),
    }
}

/// A connected pair of loopback TCP sockets: (client, server).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// A TCP socket whose writes go out in random sizes (1 to `max` bytes per `write` call), from a
/// seeded generator: the receiving side sees frames cut at arbitrary places.
#[derive(Debug)]
pub struct ChoppyTcp {
    inner: TcpStream,
    rng: Rng,
    max: usize,
}

impl ChoppyTcp {
    pub fn new(inner: TcpStream, seed: u64, max: usize) -> Self {
        ChoppyTcp {
            inner,
            rng: Rng::new(seed),
            max,
        }
    }
}

impl Read for ChoppyTcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for ChoppyTcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.rng.range(1, self.max.min(buf.len()));
        self.inner.write(&buf[..n])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Socket for ChoppyTcp {
    fn try_clone(&self) -> io::Result<Self> {
        let mut rng = self.rng.clone();
        Ok(ChoppyTcp::new(
            self.inner.try_clone()?,
            rng.next_u64(),
            self.max,
        ))
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.read_timeout()
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }
}

pub const CLIENT_SEED: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
pub const SERVER_SEED: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

pub fn params() -> SigningParams {
    SigningParams::new(
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        "demo",
    )
}

/// A session that signs what it sends and verifies what it receives, each direction with its
/// own seed, as both ends of one stream agree on.
pub fn signed_session(role: Role) -> Session {
    let (send, recv) = match role {
        Role::Client => (CLIENT_SEED, SERVER_SEED),
        Role::Server => (SERVER_SEED, CLIENT_SEED),
    };
    Session::new(SessionConfig::new(role, Mode::Rpc))
        .with_signer(SigV4Signer::new(params(), send))
        .with_verifier(SigV4Verifier::new(params(), recv))
}

/// The `i`th event of a deterministic sequence: random sizes (up to `max_payload` bytes),
/// contents that tell where each byte belongs.
pub fn events(seed: u64, count: usize, max_payload: usize) -> Vec<Message> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let len = rng.range(0, max_payload);
            let payload: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
            EventBuilder::new("Data")
                .header("index", i as i64)
                .payload(payload)
                .build()
        })
        .collect()
}
