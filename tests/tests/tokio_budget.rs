//! The server's budget of buffered frame bytes ([`ServerBuilder::max_connection_buffer`],
//! [`ServerBuilder::max_server_buffer`]), over loopback sockets, against clients written with h2
//! directly (so that they can send part of a frame and stall):
//!
//! 1. Peak RSS. A helper process (this test binary again, run with `--exact
//!    budget_server_child` and `EVENTSTREAM_BUDGET_SERVER=<connection budget in bytes>` or
//!    `none`) runs the mirror; a raw h2 client opens [`STREAMS`] streams on one connection, each
//!    sends [`SENT`] bytes of a frame that declares [`FRAME`] and stalls. With a 16 MiB
//!    connection budget the helper's peak RSS (`VmHWM`) must stay within its RSS before the
//!    flood plus the budget, one frame (the overdraft), the streams' windows and a constant;
//!    without a budget (the ignored control test) the same flood holds every partial frame.
//!    Whole frames still flow on the same connection meanwhile.
//! 2. A stream that waits for the budget resumes and completes its echo once the streams that
//!    hold the budget finish (which takes the overdraft too), and the budget returns to zero.
//! 3. A stream that waits for the budget ends at once when its client resets it, and when the
//!    connection is lost.

mod tokio_common;

use bytes::Bytes;
use eventstream::frame::{FrameDecoder, Message};
use eventstream_tests::proxy::{current_rss, peak_rss};
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport};
use eventstream_tokio::{Error, Reason, ServerBuilder};
use std::future::poll_fn;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_common::{encode, numbered_event, within_hang_timeout};

// ---------------------------------------------------------------------------------------------
// A raw h2 client
// ---------------------------------------------------------------------------------------------

/// An h2 client connection to `addr`; its driver task is returned too (abort it to lose the
/// connection).
async fn raw_connect(
    addr: SocketAddr,
) -> (h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>) {
    let tcp = TcpStream::connect(addr).await.expect("connects");
    tcp.set_nodelay(true).expect("nodelay");
    let (send_request, connection) = h2::client::handshake(tcp).await.expect("handshake");
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (send_request, driver)
}

/// Opens an event stream: its response and its request body.
async fn open(
    send_request: &h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let mut ready = send_request.clone().ready().await.expect("ready");
    let request = http::Request::post(format!("http://{addr}/mirror"))
        .header("content-type", "application/vnd.amazon.eventstream")
        .body(())
        .expect("a valid request");
    ready.send_request(request, false).expect("sends")
}

/// Sends `data` as flow control allows, counting what h2 took in `progress`.
async fn send_with_capacity(
    send: &mut h2::SendStream<Bytes>,
    mut data: Bytes,
    progress: &AtomicU64,
) -> Result<(), h2::Error> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let capacity = poll_fn(|cx| {
            if send.capacity() > 0 {
                return Poll::Ready(Ok(send.capacity()));
            }
            match send.poll_capacity(cx) {
                Poll::Ready(Some(Ok(n))) => Poll::Ready(Ok(n)),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Err(e)),
                Poll::Ready(None) => Poll::Ready(Err(h2::Error::from(Reason::STREAM_CLOSED))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await?;
        let piece = data.split_to(capacity.min(data.len()));
        progress.fetch_add(piece.len() as u64, Ordering::SeqCst);
        send.send_data(piece, false)?;
    }
    Ok(())
}

/// The whole response body: its messages, decoded.
async fn read_messages(response: h2::client::ResponseFuture) -> Result<Vec<Message>, h2::Error> {
    let mut body = response.await?.into_body();
    let mut decoder = FrameDecoder::new();
    let mut messages = Vec::new();
    while let Some(data) = body.data().await {
        let data = data?;
        let _ = body.flow_control().release_capacity(data.len());
        decoder.handle_bytes(&data);
        while let Some(m) = decoder.poll_message().expect("valid frames") {
            messages.push(m);
        }
    }
    decoder.handle_end_of_input().expect("whole frames");
    Ok(messages)
}

/// Waits until `value` has not changed for `quiet`, and returns it; fails past `limit`.
async fn settled(what: &str, quiet: Duration, limit: Duration, value: impl Fn() -> u64) -> u64 {
    let start = Instant::now();
    let (mut last, mut since) = (value(), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = value();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= quiet {
            return now;
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not settle within {limit:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Peak RSS in a helper process
// ---------------------------------------------------------------------------------------------

const CHILD_ENV: &str = "EVENTSTREAM_BUDGET_SERVER";

/// Streams on the one connection.
const STREAMS: usize = 48;
/// What each stream's frame declares.
const FRAME: usize = 8 << 20;
/// What each stream sends of it before it stalls.
const SENT: usize = 6 << 20;
/// The helper's connection budget.
const BUDGET: usize = 16 << 20;
/// What the helper may use besides its RSS before the flood, the budget, one frame and the
/// streams' windows: h2's and the runtime's buffers, allocator slack.
const CONSTANT: u64 = 16 << 20;

/// The bound on the helper's peak RSS.
fn rss_bound(baseline: u64) -> u64 {
    let windows = STREAMS as u64 * u64::from(ServerBuilder::DEFAULT_STREAM_WINDOW);
    baseline + BUDGET as u64 + FRAME as u64 + windows + CONSTANT
}

/// The helper process's entry point: the mirror on a loopback port, with the connection budget
/// `EVENTSTREAM_BUDGET_SERVER` says, until its standard input is closed; then its peak RSS.
/// Does nothing in a normal run.
#[test]
fn budget_server_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let server = match spec.as_str() {
        "none" => ServerBuilder::new()
            .max_connection_buffer(usize::MAX)
            .max_server_buffer(usize::MAX),
        n => ServerBuilder::new().max_connection_buffer(n.parse().expect("a number of bytes")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(Mirror::new().with_server(server.clone()).serve(listener));
        println!(
            "budget_server listening={addr} rss={}",
            current_rss().expect("VmRSS is readable")
        );
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
        })
        .await;
        println!(
            "budget_server peak_rss={} buffered={}",
            peak_rss().expect("VmHWM is readable"),
            server.buffered_bytes()
        );
    });
}

struct Flood {
    /// The helper's RSS before the flood.
    baseline: u64,
    /// Its peak RSS.
    peak: u64,
    /// The bytes h2 took from the flooding streams.
    sent: u64,
    secs: f64,
}

/// Runs the helper with `budget` (`None`: none), floods it, checks that a whole frame still gets
/// its echo on the same connection, and reads the helper's peak.
fn flood(budget: Option<usize>) -> Flood {
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "budget_server_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            budget.map_or_else(|| "none".into(), |b| b.to_string()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs the helper");
    let mut out = BufReader::new(child.stdout.take().expect("its stdout"));
    let field = |line: &str, name: &str| -> String {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            .to_string()
    };
    let line = read_line_with(&mut out, "budget_server listening=");
    let addr: SocketAddr = field(&line, "listening=").parse().expect("an address");
    let baseline: u64 = field(&line, "rss=").parse().expect("a number");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let started = Instant::now();
    let sent = runtime.block_on(async {
        let (send_request, _driver) = raw_connect(addr).await;
        let frame = encode(&numbered_event(0, 0, FRAME - 200));
        assert!(frame.len() <= FRAME && frame.len() > SENT);
        let progress = Arc::new(AtomicU64::new(0));
        for _ in 0..STREAMS {
            let (response, mut send) = open(&send_request, addr).await;
            let (part, progress) = (frame.slice(..SENT), progress.clone());
            tokio::spawn(async move {
                let _response = response;
                let _ = send_with_capacity(&mut send, part, &progress).await;
                // Stall, holding the stream open.
                std::future::pending::<()>().await;
            });
        }
        let sent = settled(
            "the flood",
            Duration::from_millis(500),
            Duration::from_secs(60),
            || progress.load(Ordering::SeqCst),
        )
        .await;
        // Whole frames still get through on the same connection.
        let (response, mut send) = open(&send_request, addr).await;
        let event = numbered_event(STREAMS, 0, 100);
        send.send_data(encode(&event), true).expect("sends");
        let echoed = tokio::time::timeout(Duration::from_secs(10), read_messages(response))
            .await
            .expect("the echo comes while the budget is full")
            .expect("the response");
        assert_eq!(echoed, vec![event], "the echo of a whole frame");
        sent
    });
    let secs = started.elapsed().as_secs_f64();
    drop(child.stdin.take());
    let line = read_line_with(&mut out, "budget_server peak_rss=");
    let peak: u64 = field(&line, "peak_rss=").parse().expect("a number");
    assert!(child.wait().expect("the helper ends").success());
    drop(runtime);
    Flood {
        baseline,
        peak,
        sent,
        secs,
    }
}

/// The first line of `out` that contains `prefix`, from there on.
fn read_line_with(out: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).expect("reads the helper's output");
        assert!(n > 0, "the helper ended without a line with {prefix}");
        if let Some(at) = line.find(prefix) {
            return line[at..].trim_end().to_string();
        }
    }
}

fn report(what: &str, run: &Flood) {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "{what}: {STREAMS} streams x {} MiB of {} MiB frames: {:.1} MiB went through in {:.2} s; \
         helper RSS {:.1} MiB before, peak {:.1} MiB (bound {:.1} MiB)",
        SENT >> 20,
        FRAME >> 20,
        mib(run.sent),
        run.secs,
        mib(run.baseline),
        mib(run.peak),
        mib(rss_bound(run.baseline)),
    );
    let _ = std::io::stderr().flush();
}

#[test]
fn partial_frames_on_many_streams_stay_within_the_connection_budget() {
    if peak_rss().is_none() {
        eprintln!("no /proc/self/status here: the RSS bound cannot be measured");
        return;
    }
    let run = flood(Some(BUDGET));
    report("with a 16 MiB connection budget", &run);
    assert!(
        run.peak <= rss_bound(run.baseline),
        "the helper's peak RSS was {} bytes, over {}",
        run.peak,
        rss_bound(run.baseline)
    );
    // The budget, not the end of the data, stopped the flood.
    assert!(run.sent < (STREAMS * SENT / 4) as u64);
}

#[test]
#[ignore = "the control run: without a budget the helper holds every partial frame, about 300 MiB"]
fn without_a_budget_the_same_flood_goes_over_the_bound() {
    if peak_rss().is_none() {
        return;
    }
    let run = flood(None);
    report("without a budget", &run);
    assert_eq!(run.sent, (STREAMS * SENT) as u64, "everything went through");
    assert!(run.peak > rss_bound(run.baseline));
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. Waiting for the budget, in process
// ---------------------------------------------------------------------------------------------

/// A mirror with a 1 MiB connection budget on a loopback port; its builder (to read the budget)
/// and the reports of its streams.
async fn small_budget_mirror() -> (
    SocketAddr,
    ServerBuilder,
    mpsc::UnboundedReceiver<MirrorReport>,
) {
    let server = ServerBuilder::new().max_connection_buffer(1 << 20);
    let (tx, rx) = mpsc::unbounded_channel();
    let mirror = Mirror::new()
        .with_server(server.clone())
        .on_stream_end(move |report| {
            let _ = tx.send(report.clone());
        });
    (tokio_common::start_mirror(mirror).await, server, rx)
}

/// Waits until the budget charged has settled at `at_least` or more; returns it.
async fn budget_settled(server: &ServerBuilder, at_least: usize) -> usize {
    let start = Instant::now();
    loop {
        let now = settled(
            "the budget",
            Duration::from_millis(200),
            Duration::from_secs(10),
            || server.buffered_bytes() as u64,
        )
        .await as usize;
        if now >= at_least {
            return now;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the budget stayed at {now} bytes, under {at_least}"
        );
    }
}

/// Waits until nothing is charged any more.
async fn budget_empty(server: &ServerBuilder) {
    let start = Instant::now();
    while server.buffered_bytes() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{} bytes still charged after every stream ended",
            server.buffered_bytes()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The report of stream `id`, waiting for it.
async fn report_of(reports: &mut mpsc::UnboundedReceiver<MirrorReport>, id: u32) -> MirrorReport {
    loop {
        let report = reports.recv().await.expect("the mirror reports");
        if report.stream_id == id {
            return report;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_blocked_on_the_budget_resumes_when_the_others_finish() {
    within_hang_timeout(async {
        let (addr, server, mut reports) = small_budget_mirror().await;
        let (send_request, _driver) = raw_connect(addr).await;
        let nothing = Arc::new(AtomicU64::new(0));

        // Three streams send 900 KiB of a 1 MiB frame each and wait: the first fits, the second
        // takes the overdraft, the third waits.
        let mut holders = Vec::new();
        for i in 0..3 {
            let frame = encode(&numbered_event(i, 0, 1 << 20));
            let (response, mut send) = open(&send_request, addr).await;
            let (go, wait) = tokio::sync::oneshot::channel::<()>();
            let nothing = nothing.clone();
            let sending = tokio::spawn(async move {
                send_with_capacity(&mut send, frame.slice(..900 << 10), &nothing).await?;
                let _ = wait.await;
                send_with_capacity(&mut send, frame.slice(900 << 10..), &nothing).await?;
                send.send_data(Bytes::new(), true)
            });
            let reading = tokio::spawn(read_messages(response));
            holders.push((i, go, sending, reading));
        }
        let held = budget_settled(&server, 1 << 20).await;
        assert!(held <= 2 * (900 << 10) + (64 << 10), "{held} bytes charged");

        // A fourth stream's frame needs the budget too: it waits.
        let frame = encode(&numbered_event(3, 0, 512 << 10));
        let (response, mut send) = open(&send_request, addr).await;
        let waiter_id = send.stream_id().as_u32();
        let sending = {
            let (frame, nothing) = (frame.clone(), nothing.clone());
            tokio::spawn(async move {
                send_with_capacity(&mut send, frame, &nothing).await?;
                send.send_data(Bytes::new(), true)
            })
        };
        let reading = tokio::spawn(read_messages(response));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!reading.is_finished(), "the fourth stream did not wait");
        assert_eq!(
            server.buffered_bytes(),
            held,
            "the waiting streams hold nothing"
        );

        // The first three complete their frames and end (the first waits for the second, which
        // has the overdraft): the fourth resumes.
        let holders: Vec<_> = holders
            .into_iter()
            .map(|(i, go, sending, reading)| {
                let _ = go.send(());
                (i, sending, reading)
            })
            .collect();
        for (i, sending, reading) in holders {
            sending.await.expect("no panic").expect("sends");
            let echoed = reading.await.expect("no panic").expect("the response");
            assert_eq!(
                echoed,
                vec![numbered_event(i, 0, 1 << 20)],
                "stream {i}'s echo"
            );
        }
        sending.await.expect("no panic").expect("sends");
        let echoed = reading.await.expect("no panic").expect("the response");
        assert_eq!(
            echoed,
            vec![numbered_event(3, 0, 512 << 10)],
            "the waiter's echo"
        );
        let report = report_of(&mut reports, waiter_id).await;
        assert!(
            matches!(report.outcome, MirrorOutcome::Finished),
            "{report:?}"
        );
        budget_empty(&server).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_waiting_for_the_budget_ends_on_a_reset_and_on_a_lost_connection() {
    within_hang_timeout(async {
        let (addr, server, mut reports) = small_budget_mirror().await;
        let (send_request, driver) = raw_connect(addr).await;
        let nothing = Arc::new(AtomicU64::new(0));

        // One stream takes the whole budget with most of a 2 MiB frame, and stalls.
        let frame = encode(&numbered_event(0, 0, 2 << 20));
        let (holder_response, mut holder) = open(&send_request, addr).await;
        let holder_id = holder.stream_id().as_u32();
        send_with_capacity(&mut holder, frame.slice(..1536 << 10), &nothing)
            .await
            .expect("sends");
        budget_settled(&server, 1536 << 10).await;

        // Two streams send the start of a frame (within their windows) and wait for the budget.
        let mut waiters = Vec::new();
        for i in 1..3 {
            let frame = encode(&numbered_event(i, 0, 512 << 10));
            let (response, mut send) = open(&send_request, addr).await;
            send_with_capacity(&mut send, frame.slice(..100 << 10), &nothing)
                .await
                .expect("sends");
            waiters.push((response, send));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_first_response, mut first) = waiters.remove(0);
        let (_second_response, second) = waiters.remove(0);

        // The client resets the first: the mirror's stream ends with the reset.
        let id = first.stream_id().as_u32();
        let reset_at = Instant::now();
        first.send_reset(Reason::CANCEL);
        let report = report_of(&mut reports, id).await;
        assert!(
            matches!(
                report.outcome,
                MirrorOutcome::Failed(Error::Reset {
                    reason: Reason::CANCEL
                })
            ),
            "{report:?}"
        );
        assert!(reset_at.elapsed() < Duration::from_secs(2));

        // The connection goes away: the second waiter and the holder end with it.
        let second_id = second.stream_id().as_u32();
        let lost_at = Instant::now();
        driver.abort();
        let _ = driver.await;
        drop((second, holder, holder_response, send_request));
        let mut ended = Vec::new();
        while ended.len() < 2 {
            let report = reports.recv().await.expect("the mirror reports");
            if [second_id, holder_id].contains(&report.stream_id) {
                assert!(
                    matches!(report.outcome, MirrorOutcome::Failed(_)),
                    "{report:?}"
                );
                ended.push(report.stream_id);
            }
        }
        assert!(lost_at.elapsed() < Duration::from_secs(2));
        budget_empty(&server).await;
    })
    .await;
}
