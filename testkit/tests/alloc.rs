//! The counting allocator, installed in this test binary: its counters follow what a test
//! allocates. One test, so that nothing else allocates while it measures.

use eventstream_testkit::alloc::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn counts_live_bytes_peaks_and_allocations() {
    let baseline = alloc::reset_peak();
    let thread_baseline = alloc::thread_reset_peak();
    let (v, n) = alloc::count_allocations(|| vec![0u8; 1 << 20]);
    assert_eq!(n, 1);
    assert!(alloc::live() - baseline >= 1 << 20);
    assert!(alloc::thread_live() - thread_baseline >= 1 << 20);
    drop(v);
    assert!(alloc::live() - baseline < 1 << 20);
    assert!(alloc::peak() - baseline >= 1 << 20);
    assert!(alloc::thread_peak() - thread_baseline >= 1 << 20);

    // Another thread's allocations count process-wide, not on this thread.
    let thread_before = alloc::thread_live();
    let peak_before = alloc::reset_peak();
    std::thread::spawn(|| drop(std::hint::black_box(vec![1u8; 4 << 20])))
        .join()
        .unwrap();
    assert!(alloc::peak() - peak_before >= 4 << 20);
    assert!(alloc::thread_live() - thread_before < 4 << 20);

    // Switched off, nothing is counted.
    let was = alloc::set_enabled(false);
    assert!(was);
    let before = alloc::live();
    let kept = std::hint::black_box(vec![2u8; 1 << 20]);
    assert_eq!(alloc::live(), before);
    alloc::set_enabled(true);
    drop(kept);
}
