//! A counting global allocator: forwards every call to [`System`] and counts as it goes.
//!
//! A binary (a test file, a benchmark) opts in by declaring it:
//!
//! ```
//! use eventstream_testkit::alloc::{self, CountingAllocator};
//!
//! #[global_allocator]
//! static ALLOCATOR: CountingAllocator = CountingAllocator;
//!
//! fn main() {
//!     let baseline = alloc::reset_peak();
//!     let (buffer, allocations) = alloc::count_allocations(|| vec![0u8; 4096]);
//!     drop(buffer);
//!     assert_eq!(allocations, 1);
//!     assert!(alloc::peak() - baseline >= 4096);
//! }
//! ```
//!
//! It then counts, while [enabled](set_enabled) (the default):
//!
//! - **live heap bytes, process-wide**: bytes allocated minus bytes freed by every thread;
//!   [`live`], and the highest value since [`reset_peak`], [`peak`];
//! - **live heap bytes, per thread**: the same for the calling thread alone ([`thread_live`],
//!   [`thread_reset_peak`], [`thread_peak`]), for a test that runs each side of a connection on
//!   a thread of its own;
//! - **allocations**: calls to `alloc`, `alloc_zeroed` and `realloc` ([`count_allocations`]).
//!
//! Counts start at zero when the process starts (or when counting is switched on), so they are
//! meaningful as differences: take a baseline, run the work, subtract. A benchmark that times
//! code switches counting off ([`set_enabled`]) so that a timed allocation costs one relaxed
//! load more than the system's, and on only around what it counts.
//!
//! The counters are shared by the whole binary: tests that measure must not run alongside other
//! tests that allocate (take turns behind a lock, or keep one measuring test per binary).

// The only unsafe code of the workspace's tests: forwarding `GlobalAlloc` to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering::Relaxed};

/// The allocator: declare it with `#[global_allocator]` (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAllocator;

static ENABLED: AtomicBool = AtomicBool::new(true);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Bytes this thread allocated minus bytes it freed.
    static THREAD_LIVE: Cell<isize> = const { Cell::new(0) };
    /// The highest `THREAD_LIVE` since the last reset.
    static THREAD_PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Counts an allocation (`alloc: true`) and a change of `delta` live bytes.
fn record(alloc: bool, delta: isize) {
    // A relaxed load is a plain read: with counting off, the allocator costs nothing more.
    if !ENABLED.load(Relaxed) {
        return;
    }
    if alloc {
        ALLOCATIONS.fetch_add(1, Relaxed);
    }
    let live = LIVE.fetch_add(delta, Relaxed) + delta;
    PEAK.fetch_max(live, Relaxed);
    // `try_with`: the counters need no destructor, but never panic inside the allocator (a
    // thread being torn down may still free memory).
    let _ = THREAD_LIVE.try_with(|cell| {
        let now = cell.get() + delta;
        cell.set(now);
        let _ = THREAD_PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards its arguments unchanged to `System`, which implements
// `GlobalAlloc` soundly, and returns its result unchanged; counting touches only atomics and
// constant-initialized thread-locals, and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which is `System.alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            record(true, size(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            record(true, size(layout.size()));
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes through
        // this allocator), and the caller upholds the rest of the contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record(true, size(new_size) - size(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) };
        record(false, -size(layout.size()));
    }
}

/// Switches counting on or off (it starts on); returns whether it was on. While it is off,
/// nothing is counted, and live bytes freed then are never subtracted: compare only values
/// taken while it was on.
pub fn set_enabled(on: bool) -> bool {
    ENABLED.swap(on, Relaxed)
}

/// Live heap bytes, process-wide: allocated minus freed while counting was on.
pub fn live() -> isize {
    LIVE.load(Relaxed)
}

/// The highest [`live`] since the last [`reset_peak`].
pub fn peak() -> isize {
    PEAK.load(Relaxed)
}

/// Sets the [`peak`] to [`live`] and returns it: the baseline of a measurement, whose peak is
/// then `peak() - baseline`.
pub fn reset_peak() -> isize {
    let now = LIVE.load(Relaxed);
    PEAK.store(now, Relaxed);
    now
}

/// Live heap bytes of the calling thread: what it allocated minus what it freed (memory freed
/// by another thread than the one that allocated it counts there).
pub fn thread_live() -> isize {
    THREAD_LIVE.with(Cell::get)
}

/// The highest [`thread_live`] of the calling thread since its last [`thread_reset_peak`].
pub fn thread_peak() -> isize {
    THREAD_PEAK.with(Cell::get)
}

/// Sets the calling thread's [`thread_peak`] to its [`thread_live`] and returns it.
pub fn thread_reset_peak() -> isize {
    let now = thread_live();
    THREAD_PEAK.with(|p| p.set(now));
    now
}

/// Runs `f` with counting on and returns its result and the number of allocations (`alloc`,
/// `alloc_zeroed` and `realloc` calls) made meanwhile, by any thread; counting is then left as
/// it was.
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let was = set_enabled(true);
    let before = ALLOCATIONS.load(Relaxed);
    let result = f();
    let after = ALLOCATIONS.load(Relaxed);
    set_enabled(was);
    (result, after - before)
}
