//! Helpers shared by the workspace's tests and benchmarks, each written once:
//!
//! - [`alloc`]: a global allocator that forwards to the system's and counts allocations and live
//!   heap bytes, process-wide and per thread, for the memory-bound tests and the allocation
//!   counts of the benchmarks;
//! - [`SplitMix64`]: a small seeded pseudo-random generator, the same sequence on every
//!   platform, for simulations and randomized splits;
//! - [`hex`]: lowercase hex out, either case in;
//! - [`error_chain`]: an error and its sources on one line, for a test's failure message;
//! - `sdk_h2c` (feature `sdk-h2c`): a cleartext HTTP/2 client for the AWS SDK for Rust, to point
//!   the SDK at the mirror on a loopback port (the end-to-end benchmark);
//! - `pki` (feature `pki`): a throwaway CA and a server certificate it issued, for the TLS
//!   tests.
//!
//! A dev-only crate: never published, no dependencies without a feature, so that any crate of
//! the workspace (the core included) can take it as a dev-dependency without a cycle.

pub mod alloc;
pub mod hex;
#[cfg(feature = "pki")]
pub mod pki;
mod rng;
#[cfg(feature = "sdk-h2c")]
pub mod sdk_h2c;

pub use rng::SplitMix64;

/// An error and its sources, `: `-separated: what a test prints when a call through layers of
/// wrapping errors (the AWS SDK's, say) fails.
///
/// ```
/// let io = std::io::Error::other("connection reset");
/// assert_eq!(eventstream_testkit::error_chain(&io), "connection reset");
/// ```
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
