//! Helpers shared by the fault-injection suites (`faults_*.rs`): numbered events, sessions, the
//! "nothing acknowledged is lost or duplicated" check, and the hang detector for threads.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each suite uses a part of the helpers"
)]

use bytes::BytesMut;
use eventstream::frame::{HeaderValue, Message};
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig};
use eventstream::sign::{
    Credentials, EventSigner, SigV4Signer, SigV4Verifier, SigningParams, SigningTime,
};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one scenario may take before it counts as hung. Only a hang detector: nothing waits
/// for it to pass.
pub const HANG: Duration = Duration::from_secs(20);

/// How long the checks for leftover tasks and threads wait for them to end.
pub const SETTLE: Duration = Duration::from_secs(5);

/// How long a sender must make no progress, while the proxy stalls, to count as blocked.
pub const BLOCKED_FOR: Duration = Duration::from_millis(300);

const CLIENT_SEED: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
const SERVER_SEED: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

fn params() -> SigningParams {
    SigningParams::new(
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        "demo",
    )
}

/// A session for one end of a test stream (HTTP binding mode: no initial messages). Signed
/// sessions sign what they send and verify what they receive, each direction with its own seed,
/// so that a cut connection can never pass for a complete stream (the end frame is missing).
pub fn session(role: Role, signed: bool) -> Session {
    let s = Session::new(SessionConfig::new(role, Mode::HttpBinding));
    if !signed {
        return s;
    }
    let (send, recv) = match role {
        Role::Client => (CLIENT_SEED, SERVER_SEED),
        Role::Server => (SERVER_SEED, CLIENT_SEED),
    };
    s.with_signer(SigV4Signer::new(params(), send))
        .with_verifier(SigV4Verifier::new(params(), recv))
}

/// Event number `seq`: a `seq` header and a payload of `len` bytes that names it.
pub fn event(seq: usize, len: usize) -> Message {
    let mut payload = format!("event {seq} ").into_bytes();
    payload.resize(len.max(payload.len()), b'.');
    EventBuilder::new("Numbered")
        .header("seq", seq as i64)
        .payload(payload)
        .build()
}

/// The number of an [`event`], checking that the payload is the one it was sent with.
///
/// # Panics
///
/// When the message is not one of the [`event`]s, or its payload was damaged.
pub fn seq_of(message: &Message, len: usize) -> usize {
    let seq = match message.header("seq") {
        Some(HeaderValue::Long(n)) => *n as usize,
        other => panic!("not a numbered event: seq = {other:?}"),
    };
    assert_eq!(message, &event(seq, len), "event {seq} arrived damaged");
    seq
}

/// The wire length of one [`event`] of a `len`-byte payload (every number encodes to the same
/// length), signed or not.
pub fn frame_len(len: usize, signed: bool) -> usize {
    let e = event(0, len);
    let mut out = BytesMut::new();
    if signed {
        let mut signer = SigV4Signer::new(params(), CLIENT_SEED);
        let t = SigningTime::from_unix_seconds(1_700_000_000).expect("in range");
        signer
            .sign_to(&e, t, &Default::default(), &mut out)
            .expect("signs")
    } else {
        e.encode(&mut out).expect("encodes")
    }
}

/// The check that follows every fault: what the server received is `0..k` (each event once, in
/// order), what the client's application saw echoed is `0..j` with `j <= k`, and the server
/// received nothing the client did not try to send. Returns `(k, j)`.
///
/// # Panics
///
/// When one of these does not hold.
pub fn check_prefixes(
    scenario: &str,
    attempted: usize,
    received: &[usize],
    acked: &[usize],
) -> (usize, usize) {
    let k = received.len();
    let j = acked.len();
    assert!(
        received.iter().copied().eq(0..k),
        "{scenario}: the server received {received:?}, not 0..{k} once each in order"
    );
    assert!(
        acked.iter().copied().eq(0..j),
        "{scenario}: the client saw echoes {acked:?}, not 0..{j} once each in order"
    );
    assert!(
        j <= k,
        "{scenario}: {j} echoes acknowledged but the server received only {k}"
    );
    assert!(
        k <= attempted,
        "{scenario}: the server received {k} events, the client tried to send {attempted}"
    );
    (k, j)
}

/// Runs `body` on its own thread and fails the test if it takes longer than [`HANG`]: a hang
/// detector, never a performance check. The thread is joined before this returns.
pub fn with_hang_detector<T: Send + 'static>(
    scenario: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("scenario".into())
        .spawn(move || {
            let _ = tx.send(body());
        })
        .expect("spawns");
    match rx.recv_timeout(HANG) {
        Ok(v) => {
            handle.join().expect("the scenario thread ends");
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the scenario sent nothing and did not panic"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{scenario}: hung for more than {HANG:?}")
        }
    }
}

/// Waits until `progress()` has not changed for [`BLOCKED_FOR`] while `still_running()`; returns
/// whether that happened within `limit` (a sender blocked on backpressure).
pub fn wait_blocked(
    limit: Duration,
    progress: impl Fn() -> u64,
    still_running: impl Fn() -> bool,
) -> bool {
    let start = Instant::now();
    let mut last = progress();
    let mut since = Instant::now();
    while start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(20));
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

/// How one half ended, for the matrix printed by each suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// A clean end (`SessionEvent::End`, a completed `finish`).
    Clean,
    /// `SessionEvent::Closed`: this end aborted the stream.
    Closed,
    /// The application dropped this half before its end.
    Dropped,
    /// A typed error, by its `kind()`.
    Error(String),
}

impl End {
    pub fn is_clean(&self) -> bool {
        matches!(self, End::Clean)
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Clean => f.write_str("clean"),
            End::Closed => f.write_str("closed"),
            End::Dropped => f.write_str("dropped"),
            End::Error(kind) => write!(f, "err:{kind}"),
        }
    }
}
