//! The AWS event stream protocol over [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`]:
//! async-std, smol, async-net or any runtime whose byte streams implement them; the library
//! depends on no runtime.
//!
//! [`MessageReader`] is a `Stream` of messages from any `AsyncRead`, [`MessageWriter`] a `Sink`
//! of them to any `AsyncWrite`, both optionally signed; a [`Connection`] drives one event stream
//! over a duplex byte stream. This crate only polls: the sans-IO core, [`eventstream`], owns every
//! rule, and [`eventstream_io`] what this crate shares with the blocking adapter.
//!
//! ```text
//!   application   Sink::send / close               command / send / finish     Stream::next ▲
//!   this crate    MessageWriter ──► AsyncWrite     Connection = Sender + Receiver            │
//!                 MessageReader ◄── AsyncRead        poll_write, poll_close ◄─┐  ┌── poll_read │
//!   core          frame, sign::VerifyingDecoder                      session::Driver ─────────┘
//! ```
//!
//! `examples/loopback.rs` runs a signed client and server over TCP, in RPC mode with initial
//! messages: `cargo run -p eventstream-futures-io --example futures-io-loopback`. The README shows the
//! shortest uses.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod connection;
mod reader;
mod writer;

pub use connection::{Connection, Receiver, Sender};
pub use eventstream_io::{Error, DEFAULT_READ_BUFFER_SIZE, DEFAULT_WRITE_BUFFER_SIZE};
pub use reader::MessageReader;
pub use writer::MessageWriter;
