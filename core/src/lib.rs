//! A sans-IO implementation of the AWS event stream protocol (`application/vnd.amazon.eventstream`).
//!
//! Bytes go in, checked messages come out; messages go in, frames come out. This crate does no IO,
//! reads no clock, spawns no thread and needs no async runtime, so the same code runs under tokio,
//! async-std, smol, blocking sockets, or a fuzzer.
//!
//! ```text
//!            peer bytes                                         bytes for the peer
//!                │                                                      ▲
//!   ┌────────────▼──────────────────────────────────────────────────────┴──────────┐
//!   │ frame    FrameDecoder::handle_input ─► poll_message      Message::encode      │
//!   │          (prelude CRC, lengths, limits, message CRC, headers; zero copy)      │
//!   └────────────┬──────────────────────────────────────────────────────▲──────────┘
//!                ▼                                                      │
//!            Message { headers, payload }  ◄── the application ──►  Message
//! ```
//!
//! The frame layer ([`frame`]) is the foundation: the message model, the encoder, the streaming
//! decoder and its limits. The signing chain and the session layer build on it.
//!
//! ```
//! use bytes::BytesMut;
//! use eventstream::frame::{FrameDecoder, Message};
//!
//! // Encode two events into one buffer, as a sender would.
//! let mut wire = BytesMut::new();
//! for text in ["hello", "world"] {
//!     let msg = Message::new(text.as_bytes().to_vec())
//!         .with_header(":message-type", "event")
//!         .with_header(":event-type", "Chunk")
//!         .with_header(":content-type", "text/plain");
//!     msg.encode(&mut wire)?;
//! }
//!
//! // Decode them as a receiver would, in whatever pieces the transport delivers.
//! let mut decoder = FrameDecoder::new();
//! let mut texts = Vec::new();
//! for piece in wire.chunks(7) {
//!     decoder.handle_input(piece);
//!     while let Some(msg) = decoder.poll_message()? {
//!         assert_eq!(msg.header_str(":event-type"), Some("Chunk"));
//!         texts.push(String::from_utf8(msg.payload().to_vec())?);
//!     }
//! }
//! decoder.finish()?; // a frame cut short would be an error here
//! assert_eq!(texts, ["hello", "world"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Without the default `std` feature the crate is `#![no_std]` and needs only `alloc`.

#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;

pub mod frame;
pub mod session;
pub mod sign;
