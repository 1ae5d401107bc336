//! Arbitrary bytes into the frame decoder, whole and in pieces.
//! The body and its invariants: `eventstream_tests::fuzz::decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eventstream_tests::fuzz::decode(data));
