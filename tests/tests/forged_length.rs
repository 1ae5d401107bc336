//! The frame decoder fed a forged length: a valid prelude that declares a frame of almost 4 GiB
//! (`0xFFFF_FFF0` bytes), with the limits raised to the maximum so that the prelude passes them,
//! then 1 MiB of body. Measured, not assumed: this test binary counts the live heap with a global
//! allocator that wraps the system's (`eventstream_testkit::alloc`), and reads the resident set size from `/proc/self/status`.
//!
//! - `forged_length_resident_memory_follows_what_was_fed` (passes): the memory actually used (the
//!   resident set) grows by what was fed, not by the declared length, and the live heap never
//!   exceeds the limit plus what was fed (the bound `FrameDecoder` documents).
//! - `a_forged_length_reserves_nothing_ahead_of_the_input`: the decoder never *reserves* the
//!   declared length either. It reserves a frame whole only when it is less than 1 MiB beyond what
//!   arrived, and otherwise grows with the bytes that come, so 12 bytes of prelude cannot make it
//!   ask the allocator for 4 GiB (which would fail under an address-space limit, without
//!   overcommit, or on a 32-bit or `no_std` target). This was found by this test and fixed.
//!
//! The tests share the counters, so they take turns (a lock), and nothing else in this binary
//! allocates while they measure.

use eventstream::frame::{FrameDecoder, Limits, PRELUDE_LEN};
use eventstream_testkit::alloc::{self, CountingAllocator};
use eventstream_tests::prelude;
use eventstream_tests::proxy::current_rss;
use std::sync::Mutex;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

static TURN: Mutex<()> = Mutex::new(());

/// The declared total length: just under 4 GiB.
const FORGED_TOTAL: u32 = 0xFFFF_FFF0;

/// How much body is fed after the prelude.
const BODY: usize = 1 << 20;

/// The piece size the body is fed in (as a 64 KiB socket read would).
const PIECE: usize = 64 * 1024;

/// What the decoder may hold beyond the bytes it was fed: its bookkeeping and one small
/// buffer's worth of slack.
const SMALL_CONSTANT: usize = 64 * 1024;

/// What the decoder may reserve ahead of its input: 1 MiB, plus its 8 KiB minimum buffer.
const RESERVE_AHEAD: usize = 1024 * 1024 + 8 * 1024;

/// Limits raised to the maximum, so that the forged prelude passes them.
fn max_limits() -> Limits {
    Limits::default()
        .with_max_payload_len(u32::MAX)
        .with_max_headers_len(u32::MAX)
        .with_max_header_count(u32::MAX)
}

struct Fed {
    /// Bytes fed: the prelude and the body.
    fed: usize,
    /// The most live heap above the baseline while feeding.
    peak_heap: usize,
    /// Live heap above the baseline once everything was fed.
    heap_after: usize,
    /// Resident set growth once everything was fed (bytes), where it can be read.
    rss_growth: Option<u64>,
}

/// How many bytes `now` is above `baseline` (0 if below).
fn above(now: isize, baseline: isize) -> usize {
    usize::try_from(now - baseline).unwrap_or(0)
}

/// Feeds the forged prelude and `BODY` bytes of body to a decoder with `limits`, measuring.
fn feed_forged(limits: Limits, total: u32) -> Fed {
    let body = vec![0x5au8; PIECE];
    let rss_before = current_rss();
    let baseline = alloc::reset_peak();

    let mut decoder = FrameDecoder::with_limits(limits);
    decoder.handle_input(&prelude(total, 0));
    assert_eq!(decoder.poll_message(), Ok(None), "the prelude passes");
    let mut fed = PRELUDE_LEN;
    while fed < PRELUDE_LEN + BODY {
        decoder.handle_input(&body);
        fed += body.len();
        assert_eq!(decoder.poll_message(), Ok(None), "the frame is incomplete");
    }
    assert_eq!(decoder.buffered_len(), fed);
    let heap_after = above(alloc::live(), baseline);
    let peak_heap = above(alloc::peak(), baseline);
    let rss_growth = current_rss()
        .zip(rss_before)
        .map(|(after, before)| after.saturating_sub(before));
    drop(decoder);
    Fed {
        fed,
        peak_heap,
        heap_after,
        rss_growth,
    }
}

fn report(what: &str, f: &Fed) {
    eprintln!(
        "{what}: fed {} bytes; live heap peak {} bytes ({} after); resident set grew {}",
        f.fed,
        f.peak_heap,
        f.heap_after,
        f.rss_growth
            .map_or_else(|| "(unknown)".to_string(), |g| format!("{g} bytes")),
    );
}

/// What a forged length costs in memory actually used, and the decoder's documented bound.
#[test]
fn forged_length_resident_memory_follows_what_was_fed() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let limits = max_limits();
    let f = feed_forged(limits, FORGED_TOTAL);
    report("forged 4 GiB length, limits at the maximum", &f);
    // The documented bound: at most one frame (the limit) plus what was fed.
    assert!(
        f.peak_heap as u64 <= limits.max_frame_len() + f.fed as u64 + SMALL_CONSTANT as u64,
        "live heap {} exceeds the limit plus what was fed",
        f.peak_heap
    );
    // What is actually used: the pages written, that is what was fed, not the declared 4 GiB.
    if let Some(growth) = f.rss_growth {
        assert!(
            growth <= (f.fed + 4 * SMALL_CONSTANT) as u64 * 2,
            "the resident set grew by {growth} bytes for {} bytes fed",
            f.fed
        );
    }
    // The default limits refuse the forged prelude outright, holding nothing.
    let mut decoder = FrameDecoder::new();
    decoder.handle_input(&prelude(FORGED_TOTAL, 0));
    assert_eq!(
        decoder.poll_message().map_err(|e| e.kind()),
        Err("payload_too_long")
    );
    assert_eq!(decoder.buffered_len(), 0);
}

/// A forged length reserves nothing: the decoder reserves a frame whole only when it is less
/// than 1 MiB beyond what arrived, and otherwise grows its buffer with the bytes that come
/// (doubling), so its live heap stays within twice what it was fed plus 1 MiB, however large the
/// declared frame (here 4 GiB with the limits raised to the maximum, and 24 MiB with the
/// defaults).
#[test]
fn a_forged_length_reserves_nothing_ahead_of_the_input() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let f = feed_forged(max_limits(), FORGED_TOTAL);
    report("forged 4 GiB length, live heap", &f);
    let default_total = 16 + Limits::DEFAULT_MAX_PAYLOAD_LEN;
    let d = feed_forged(Limits::default(), default_total);
    report("forged 24 MiB payload, default limits, live heap", &d);
    for (what, f) in [("4 GiB", &f), ("24 MiB, default limits", &d)] {
        assert!(
            f.peak_heap <= 2 * f.fed + RESERVE_AHEAD,
            "forged {what} length: the decoder's live heap reached {} bytes after {} bytes fed \
             (allowed: twice what was fed + {RESERVE_AHEAD}): it reserved the declared frame",
            f.peak_heap,
            f.fed
        );
    }
}
