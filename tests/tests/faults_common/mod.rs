//! Helpers shared by the fault-injection suites (`faults_*.rs`): numbered events, sessions, the
//! "nothing acknowledged is lost or duplicated" check, the hang detector for threads, and the
//! scenario matrix that the blocking and futures-io suites both run ([`scenarios`],
//! [`run_matrix`]).

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
use eventstream_tests::proxy::{process_threads, settle_threads, Dir, Plan};
use std::sync::{mpsc, Arc};
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

/// What a matrix scenario does once the proxy's stall has blocked the client's sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Nothing to do: the stream runs to its end, or to the plan's cut.
    RunToEnd,
    /// Release the stall: the stream completes.
    Release,
    /// The client's application drops the connection: `shutdown(Both)` on its socket (a clone
    /// of it for the blocking adapter), from another thread or task than the blocked sender's.
    DropConnection,
    /// The proxy cuts the connection.
    Cut,
    /// The sender cancels its blocked send and aborts the stream (`Sender::abort`); its next
    /// command must fail. Only where a blocked send can be cancelled: [`scenarios`] includes it
    /// when asked to.
    Abort,
}

/// One fault of the matrix: a proxy plan, what to do once it blocked the sender, and what the
/// run must show.
pub struct Scenario {
    pub name: &'static str,
    pub plan: Plan,
    /// The stall that blocks the client's sender, if the plan has one.
    pub stall: Option<Dir>,
    pub then: Then,
    pub events: usize,
    pub payload: usize,
    pub signed: bool,
    /// Every event must be echoed and every half must end cleanly.
    pub clean: bool,
    /// Exactly this many events must reach the server (a cut after that many complete frames).
    pub received: Option<usize>,
}

/// What one run of a scenario showed.
pub struct Outcome {
    /// Events the sender tried to send (the failed one included).
    pub attempted: usize,
    pub sender: End,
    pub receiver: End,
    pub server: End,
    /// Event numbers the server received, in order.
    pub received: Vec<usize>,
    /// Event numbers echoed back to the client's application, in order.
    pub acked: Vec<usize>,
    /// Events sent when the sender was found blocked by the stall.
    pub blocked_after: Option<u64>,
    /// A task was left on an executor (always false where there are none).
    pub tasks_left: bool,
    /// The proxy's threads still alive after its shutdown.
    pub proxy_threads: usize,
}

/// The fault matrix: writes split and delayed, cuts mid-frame and between frames in both
/// directions, and stalls in both directions followed by a release, a dropped connection, a cut
/// and, with `with_abort`, a cancelled send and an abort.
pub fn scenarios(with_abort: bool) -> Vec<Scenario> {
    let small = 64;
    let l = frame_len(small, false) as u64;
    let ls = frame_len(small, true) as u64;
    let big = 16 * 1024;
    let lb = frame_len(big, false) as u64;
    let stall_up = Plan::new().stall_reading_after(Dir::Up, 20 * lb + 100);
    let mut all = vec![
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
            signed: false,
            clean: false,
            received: None,
        },
        Scenario {
            name: "stall client to server, then drop the connection (signed)",
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
    ];
    if with_abort {
        all.push(Scenario {
            name: "stall client to server, then cancel and abort",
            plan: stall_up,
            stall: Some(Dir::Up),
            then: Then::Abort,
            events: 1_000_000,
            payload: big,
            signed: true,
            clean: false,
            received: None,
        });
    }
    all
}

/// Runs each scenario through `run` under the hang detector, prints the matrix under `adapter`'s
/// name, and fails with every broken promise at once: a thread, task or proxy thread left
/// behind, the wrong number of events at the server, an unclean end where the stream should
/// complete, a fault nobody noticed, or a blocked sender not woken with an error.
///
/// `FAULT_SCENARIO=<part of a name>` runs only the matching scenarios (by hand, to debug one).
pub fn run_matrix(adapter: &str, scenarios: Vec<Scenario>, run: fn(&Scenario) -> Outcome) {
    let baseline = process_threads();
    let mut failures = Vec::new();
    eprintln!("{adapter} fault matrix: sender | receiver | server | sent, received, echoed | ms");
    let only = std::env::var("FAULT_SCENARIO").unwrap_or_default();
    for s in scenarios.into_iter().filter(|s| s.name.contains(&only)) {
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
            "  {name:<58} {:<20} {:<20} {:<20} {:>5} {k:>5} {j:>5} {millis:>6}{}",
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
            // The fault must show: the stream cannot look complete at both ends.
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
