//! An arbitrary message encodes, decodes and is equal; encode errors only where due.
//! The body and its invariants: `eventstream_tests::fuzz::round_trip`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventstream_tests::fuzz::round_trip(data));
