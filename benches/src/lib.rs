//! Side-by-side benchmarks of this workspace's frame layer ([`eventstream::frame`]) and SigV4
//! event signing ([`eventstream::sign`]) against the reference Rust implementations,
//! `aws-smithy-eventstream` (with the message model of `aws-smithy-types`) and `aws-sigv4`.
//!
//! This library holds what the `compare` binary and the criterion benches (`benches/frame.rs`,
//! `benches/sign.rs`) share, so that both measure exactly the same work:
//!
//! | module | holds |
//! |---|---|
//! | [`frame`] | the benchmark message in both models and streams of its frames ([`frame::our_message`], [`frame::reference_message`], [`frame::build_stream`], [`frame::frames_for`]); one driver per decoder, fed the way a transport would feed it, and their benchmark forms, which consume every message into a [`frame::Tally`]; the floors ([`frame::crc_floor`], [`frame::copy_crc_floor`] with a [`frame::CopyBuffer`]) and the checksums alone, frame by frame ([`frame::crc_frames_point`]); one encoder call per implementation |
//! | [`sign`] | the signing chain against `aws-sigv4` (`aws_sigv4::event_stream::sign_message`): the shared inputs ([`sign::SIGN_PAYLOAD_LEN`], [`sign::sign_times`], [`sign::our_signer`], [`sign::reference_signer`]) and one driver per way of signing a chain of events |
//! | [`oracle`] | what makes the comparisons fair: an implementation-neutral view of a decoded message ([`oracle::Neutral`]), the full agreement check of the two frame implementations ([`oracle::check_agreement`]) and the frame-by-frame check that both signers produce the same chain ([`oracle::check_signing`]) |
//!
//! The `readers` and `h2_mirror` binaries measure the adapters and need none of this.

#![warn(missing_docs)]

pub mod frame;
pub mod oracle;
pub mod sign;
