//! Signed chains with arbitrary mutations are never accepted.
//! The body and its invariants: `eventstream_tests::fuzz::verify`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventstream_tests::fuzz::verify(data));
