//! Arbitrary operations against a client and a server session joined by corruptible links.
//! The body and its invariants: `eventstream_tests::fuzz::session`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventstream_tests::fuzz::session(data));
