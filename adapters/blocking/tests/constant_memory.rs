//! A capture file of 1,000,000 events read back through the blocking reader in constant memory.
//!
//! This test binary counts live heap bytes with a global allocator that wraps the system's
//! (`eventstream_testkit::alloc`), and asserts that the peak during reading stays under a fixed
//! bound whatever the number of events. It holds a single test, so that nothing else allocates
//! while it measures.

use eventstream::session::EventBuilder;
use eventstream_blocking::{MessageReader, MessageWriter};
use eventstream_testkit::alloc::{self, CountingAllocator};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The bound on the heap the reader may use on top of what was live before it started.
const BOUND: usize = 1 << 20;

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("evs-constant-memory-{}-{name}", std::process::id()))
}

/// Distinct events in the capture; event `i` is a copy of event `i % CYCLE`.
const CYCLE: u64 = 4096;

fn event(i: u64) -> eventstream::frame::Message {
    EventBuilder::new("Tick")
        .header("seq", i as i64)
        .payload(i.to_be_bytes().to_vec())
        .build()
}

/// Writes `count` small events, streaming: `CYCLE` distinct events are encoded once by a
/// `MessageWriter` (they all have the same length), and the file is that block written again and
/// again, so that generating a million events stays quick in a debug build.
fn write_capture(path: &Path, count: u64) -> u64 {
    let mut writer = MessageWriter::new(Vec::new());
    for i in 0..CYCLE {
        writer.write_message(&event(i)).unwrap();
    }
    let block = writer.finish().unwrap();
    let frame_len = block.len() / CYCLE as usize;
    let mut file = BufWriter::with_capacity(1 << 16, File::create(path).unwrap());
    for _ in 0..count / CYCLE {
        file.write_all(&block).unwrap();
    }
    file.write_all(&block[..(count % CYCLE) as usize * frame_len])
        .unwrap();
    file.into_inner().unwrap().sync_all().unwrap();
    std::fs::metadata(path).unwrap().len()
}

struct Run {
    count: u64,
    file_len: u64,
    peak: usize,
    write_secs: f64,
    read_secs: f64,
}

fn run(count: u64) -> Run {
    let path = temp_path(&format!("{count}.evs"));
    let started = Instant::now();
    let file_len = write_capture(&path, count);
    let write_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let baseline = alloc::reset_peak();
    let mut seen = 0u64;
    for message in MessageReader::new(File::open(&path).unwrap()) {
        let message = message.unwrap();
        assert_eq!(message.payload()[..], (seen % CYCLE).to_be_bytes());
        seen += 1;
    }
    let peak = usize::try_from(alloc::peak() - baseline).unwrap_or(0);
    let read_secs = started.elapsed().as_secs_f64();
    assert_eq!(seen, count);
    std::fs::remove_file(&path).unwrap();
    Run {
        count,
        file_len,
        peak,
        write_secs,
        read_secs,
    }
}

#[test]
fn a_capture_of_a_million_events_reads_back_in_constant_memory() {
    let runs = [run(100_000), run(1_000_000)];
    for r in &runs {
        eprintln!(
            "{:>9} events, {:>10} bytes: peak live heap while reading {:>7} bytes; write {:.2} s, read {:.2} s",
            r.count, r.file_len, r.peak, r.write_secs, r.read_secs
        );
        assert!(r.peak < BOUND, "{} events: peak {} bytes", r.count, r.peak);
    }
    // Constant: ten times more events need no more memory.
    assert!(
        runs[1].peak <= runs[0].peak,
        "the peak grew with the number of events"
    );
}
