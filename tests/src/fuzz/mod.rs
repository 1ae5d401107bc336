//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz, nightly), as ordinary code.
//!
//! Each function takes the fuzzer's bytes, drives one entry point of the core with them and
//! panics when an invariant is violated. The cargo-fuzz crate calls them from tiny
//! `fuzz_targets/<name>.rs` files; `tests/fuzz_corpus.rs` replays the committed corpus through
//! them on stable, in `cargo test`, and `tests/fuzz_regressions.rs` replays the inputs that
//! found core bugs.
//!
//! | body | entry points | invariants |
//! |---|---|---|
//! | [`decode()`] | `FrameDecoder` | no panic; whole and chunked feeding give the same messages and the same error; each message re-encodes to its own bytes; errors point at the right bytes and stick |
//! | [`round_trip()`] | `Message::encode*`, `FrameDecoder` | encode → decode is the identity; the encoder fails exactly when the limits or the wire format forbid the message |
//! | [`session()`] | `Session` (client and server) | no panic; every accepted and delivered message arrives once, in order, byte-identical; one terminal event per side, last; the transmit sequence and the failure contract |
//! | [`verify()`] | `SigV4Signer`, `SigV4Verifier`, `VerifyingDecoder`, `Unchecked` | a mutated chain is never accepted; what is handed out is a prefix of what was signed; the core's pipeline agrees |
//!
//! Inputs are read with [`arbitrary::Unstructured`] through [`Input`], whose reads return a
//! default once the bytes run out, so that every input, however short, is a valid run.
//!
//! One module per target, and `input` for reading the fuzzer's bytes. The `session` target
//! drives its two sessions through the simulation's endpoints and reports ([`crate::sim`]).

mod decode;
mod input;
mod round_trip;
mod session;
mod verify;

pub use self::decode::{decode, DecodeSetup};
pub use self::input::{small_message, Input};
pub use self::round_trip::{edge_message, round_trip};
pub use self::session::session;
pub use self::verify::verify;
