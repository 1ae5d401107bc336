//! Memory bounds, measured, not assumed.
//!
//! 1. Peak resident set size over many events, in a helper process. The helper is this test
//!    binary itself, run again with `--exact mem_probe_child` and the `EVENTSTREAM_MEM_PROBE`
//!    variable (`mode:count`); the child runs one workload and prints its peak RSS (`VmHWM` of
//!    `/proc/self/status`). In a normal run `mem_probe_child` does nothing. (Not a `[[bin]]` of
//!    the tests crate: a binary can only use `[dependencies]`, and the cargo-fuzz crate depends
//!    on this crate's library, so tokio and the adapters stay dev-dependencies.) Workloads:
//!    - `blocking`: N events through the blocking `MessageReader` over a generated stream (a
//!      `Read` that produces the frames on the fly, no file);
//!    - `h2`: N small events through the h2 mirror on loopback, in process: the client sends
//!      them and reads the echoes.
//!
//!    Both peaks must stay under [`RSS_BOUND`], and the larger run's peak may not exceed the
//!    smaller run's by more than [`GROWTH`] (flat: independent of the count).
//! 2. A slow h2 consumer: the server keeps sending large events while the client's application
//!    takes one every couple of milliseconds. The live heap of each side is counted per thread (a
//!    global allocator; each side runs on its own single-threaded runtime, on its own thread) and
//!    must stay within the stream's window plus one frame plus a fixed overhead, whatever the
//!    number of events sent.

mod tokio_common;

use bytes::Bytes;
use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream_blocking::{MessageReader, MessageWriter};
use eventstream_testkit::alloc::{self, CountingAllocator};
use eventstream_tests::proxy::peak_rss;
use eventstream_tokio::mirror::Mirror;
use eventstream_tokio::{Client, ClientBuilder, ServerConnection};
use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_common::{client_session, request};

// ---------------------------------------------------------------------------------------------
// The counting allocator (its per-thread counters)
// ---------------------------------------------------------------------------------------------

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

// ---------------------------------------------------------------------------------------------
// Peak RSS in a helper process
// ---------------------------------------------------------------------------------------------

const PROBE_ENV: &str = "EVENTSTREAM_MEM_PROBE";

/// The most a probe may use, whatever the count.
const RSS_BOUND: u64 = 64 << 20;

/// How much more the larger run may use than the smaller one: 25% and 4 MiB.
fn allowed_growth(small: u64) -> u64 {
    small + small / 4 + (4 << 20)
}

/// Distinct frames in the generated stream; frame `i` is a copy of frame `i % CYCLE`.
const CYCLE: usize = 4096;

fn tick(i: usize) -> Message {
    EventBuilder::new("Tick")
        .header("seq", i as i64)
        .payload((i as u64).to_be_bytes().to_vec())
        .build()
}

/// A `Read` that produces `count` frames, cycling through `CYCLE` distinct ones encoded once.
struct Frames {
    block: Vec<u8>,
    at: usize,
    left: u64,
}

impl Frames {
    fn new(count: u64) -> Frames {
        let mut writer = MessageWriter::new(Vec::new());
        for i in 0..CYCLE {
            writer.write_message(&tick(i)).expect("encodes");
        }
        let block = writer.finish().expect("finishes");
        let left = count * (block.len() / CYCLE) as u64;
        Frames { block, at: 0, left }
    }
}

impl Read for Frames {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(self.block.len() - self.at)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at = (self.at + n) % self.block.len();
        self.left -= n as u64;
        Ok(n)
    }
}

fn probe_blocking(count: u64) -> u64 {
    let mut seen = 0u64;
    for message in MessageReader::new(Frames::new(count)) {
        let message = message.expect("a valid frame");
        assert_eq!(
            message.payload()[..],
            (seen % CYCLE as u64).to_be_bytes(),
            "frame {seen}"
        );
        seen += 1;
    }
    seen
}

fn probe_h2(count: u64) -> u64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(Mirror::new().serve(listener));
        let client = Client::connect(addr).await.expect("connects");
        let (mut tx, mut rx) = client
            .open(request(addr, None), client_session(Mode::HttpBinding))
            .await
            .expect("opens");
        let payload = Bytes::from_static(b"sixteen bytes..!");
        let sending = tokio::spawn(async move {
            for i in 0..count {
                let event = EventBuilder::new("Tick")
                    .header("seq", i as i64)
                    .payload(payload.clone())
                    .build();
                tx.send(event).await.expect("sends");
            }
            tx.finish().await.expect("finishes");
        });
        let mut echoed = 0u64;
        while let Some(item) = rx.recv().await {
            match item.expect("no failure") {
                SessionEvent::Event(_) => echoed += 1,
                SessionEvent::End => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        sending.await.expect("the sender does not panic");
        echoed
    })
}

/// The helper process's entry point: runs the workload `EVENTSTREAM_MEM_PROBE` names and prints
/// its peak RSS. Does nothing in a normal run.
#[test]
fn mem_probe_child() {
    let Ok(spec) = std::env::var(PROBE_ENV) else {
        return;
    };
    let (mode, count) = spec.split_once(':').expect("mode:count");
    let count: u64 = count.parse().expect("a count");
    let started = Instant::now();
    let seen = match mode {
        "blocking" => probe_blocking(count),
        "h2" => probe_h2(count),
        other => panic!("unknown probe {other}"),
    };
    assert_eq!(seen, count, "every event went through");
    println!(
        "mem_probe mode={mode} events={seen} peak_rss={} secs={:.2}",
        peak_rss().expect("VmHWM is readable"),
        started.elapsed().as_secs_f64()
    );
}

struct Probe {
    peak_rss: u64,
    secs: f64,
}

/// Runs `mem_probe_child` in a new process of this binary.
fn probe(mode: &str, count: u64) -> Probe {
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([
            "--exact",
            "mem_probe_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, format!("{mode}:{count}"))
        .output()
        .expect("runs the probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the {mode} probe failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("mem_probe mode=").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no report from the {mode} probe:\n{stdout}"));
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            .to_string()
    };
    Probe {
        peak_rss: field("peak_rss=").parse().expect("a number"),
        secs: field("secs=").parse().expect("a number"),
    }
}

fn flat(mode: &str, small: u64, large: u64) {
    if peak_rss().is_none() {
        eprintln!("no /proc/self/status here: the {mode} RSS bound cannot be measured");
        return;
    }
    let runs = [(small, probe(mode, small)), (large, probe(mode, large))];
    for (count, p) in &runs {
        eprintln!(
            "{mode}: {count:>9} events: peak RSS {:>6} KiB ({:.2} s)",
            p.peak_rss / 1024,
            p.secs
        );
        assert!(
            p.peak_rss < RSS_BOUND,
            "{mode}, {count} events: peak RSS {} bytes, over {RSS_BOUND}",
            p.peak_rss
        );
    }
    let (a, b) = (runs[0].1.peak_rss, runs[1].1.peak_rss);
    assert!(
        b <= allowed_growth(a),
        "{mode}: the peak grew with the count: {a} bytes for {small} events, {b} for {large}"
    );
}

#[test]
fn a_million_events_through_the_blocking_reader_in_flat_memory() {
    flat("blocking", 100_000, 1_000_000);
}

#[test]
fn a_million_events_through_the_h2_mirror_in_flat_memory() {
    flat("h2", 100_000, 1_000_000);
}

// ---------------------------------------------------------------------------------------------
// A slow h2 consumer
// ---------------------------------------------------------------------------------------------

/// Events of 16 KiB: one frame each.
const BIG: usize = 16 * 1024;
/// What the h2 connection, the session and the runtime may hold besides the window and one
/// frame: codec buffers, stream state, the scratch of one encoded message.
const OVERHEAD: isize = 128 * 1024;

/// Runs `work` on a new thread with its own single-threaded runtime: every task it spawns runs
/// on that thread too, so the thread's counters see the whole side (its connection's task
/// included). `work` calls [`alloc::thread_reset_peak`] once it is set up, and returns its
/// result and [`alloc::thread_peak`] minus that baseline.
fn on_own_runtime<T, F>(work: impl FnOnce() -> F + Send + 'static) -> std::thread::JoinHandle<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(work())
    })
}

#[test]
fn a_slow_h2_consumer_bounds_the_senders_memory_by_the_window() {
    // HTTP/2's initial window, then a larger one: the bound follows the window.
    slow_consumer(65_535);
}

#[test]
fn a_slow_h2_consumer_with_a_256_kib_window() {
    slow_consumer(256 * 1024);
}

/// The client's stream window is `window` (the server's send window); the server sends 400
/// events of 16 KiB, the client takes one every 2 ms.
fn slow_consumer(window: u32) {
    const EVENTS: usize = 400;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("an address");
    listener.set_nonblocking(true).expect("non-blocking");
    let payload = Bytes::from(vec![0x42u8; BIG]);
    let frame = {
        let mut out = bytes::BytesMut::new();
        big_event(0, &payload).encode(&mut out).expect("encodes") as isize
    };

    // The sender: a server that sends EVENTS events of 16 KiB as fast as the window allows.
    let server = on_own_runtime(move || async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        let (tcp, _) = listener.accept().await.expect("accepts");
        let mut connection = ServerConnection::handshake(tcp).await.expect("handshake");
        let incoming = connection.accept().await.expect("a stream").expect("ok");
        let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
        let (mut sender, _receiver) = incoming.accept(session).expect("accepts");
        // Everything is set up: measure from here.
        let baseline = alloc::thread_reset_peak();
        for seq in 0..EVENTS {
            sender.send(big_event(seq, &payload)).await.expect("sends");
        }
        sender.finish().await.expect("finishes");
        // Until the consumer has taken everything: the stream's end is still buffered.
        let peak = alloc::thread_peak() - baseline;
        // Keep the connection going until the client has read everything and closed it.
        while connection.accept().await.is_some() {}
        (sender.bytes_sent(), peak)
    });

    // The slow consumer.
    let client = on_own_runtime(move || async move {
        let client = ClientBuilder::new()
            .initial_stream_window_size(window)
            .connect(addr)
            .await
            .expect("connects");
        let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
        let (_sender, mut receiver) = client
            .open(request(addr, None), session)
            .await
            .expect("opens");
        receiver.response().await.expect("200");
        let baseline = alloc::thread_reset_peak();
        let mut seen = 0;
        let mut max_unreleased = 0;
        while let Some(item) = receiver.recv().await {
            match item.expect("no failure") {
                SessionEvent::Event(m) => {
                    assert_eq!(m.payload().len(), BIG);
                    seen += 1;
                    max_unreleased = max_unreleased.max(receiver.unreleased_bytes());
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                SessionEvent::End => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        ((seen, max_unreleased), alloc::thread_peak() - baseline)
    });

    let (sent_bytes, sender_peak) = server.join().expect("the server does not panic");
    let ((seen, max_unreleased), consumer_peak) = client.join().expect("the client does not panic");
    assert_eq!(seen, EVENTS);
    let bound = window as isize + frame + OVERHEAD;
    eprintln!(
        "slow h2 consumer: {sent_bytes} bytes sent in {EVENTS} events of {frame} bytes; \
         sender's live heap peak {sender_peak} bytes, consumer's {consumer_peak} bytes \
         (at most {max_unreleased} unreleased); bound: window {window} + frame {frame} + \
         overhead {OVERHEAD} = {bound}"
    );
    assert!(
        sender_peak <= bound,
        "the sender's live heap reached {sender_peak} bytes: more than the window plus one frame \
         (and {OVERHEAD} bytes of overhead)"
    );
    assert!(
        consumer_peak <= bound,
        "the slow consumer's live heap reached {consumer_peak} bytes"
    );
    // The bound is far below what went through: the window really held the sender back.
    assert!(sent_bytes as isize > 10 * bound);
}

fn big_event(seq: usize, payload: &Bytes) -> Message {
    EventBuilder::new("Big")
        .header("seq", seq as i64)
        .payload(payload.clone())
        .build()
}
