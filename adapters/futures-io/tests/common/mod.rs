//! Helpers shared by the futures-io adapter's tests.

#![allow(dead_code, unreachable_pub)]

use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig};
use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
use futures::io::AsyncWrite;
use std::io;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
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

/// A writer whose writes go out in random sizes (1 to `max` bytes per `poll_write`), and which
/// now and then returns `Pending` (waking itself at once), from a seeded generator: the receiving
/// side sees frames cut at arbitrary places, and the sending side is suspended mid-frame.
#[derive(Debug)]
pub struct RandomWrites<W> {
    inner: W,
    rng: Rng,
    max: usize,
}

impl<W> RandomWrites<W> {
    pub fn new(inner: W, seed: u64, max: usize) -> Self {
        RandomWrites {
            inner,
            rng: Rng::new(seed),
            max,
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for RandomWrites<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.rng.range(0, 7) == 0 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let max = self.max.min(buf.len());
        let n = self.rng.range(1, max);
        Pin::new(&mut self.inner).poll_write(cx, &buf[..n])
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
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
