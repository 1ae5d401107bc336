//! The AWS event stream protocol over `std::io`: files of captured frames, pipes, and blocking
//! sockets (`TcpStream`, `UnixStream`), no async runtime.
//!
//! [`MessageReader`] is an [`Iterator`] of messages from any `Read` in constant memory,
//! [`MessageWriter`] writes them to any `Write`, both optionally signed; a [`Connection`] drives
//! one event stream over a [`Socket`]. This crate only reads and writes: the sans-IO core,
//! [`eventstream`], owns every rule, and [`eventstream_io`] what this crate shares with the
//! futures-io adapter.
//!
//! ```text
//!   application   write_message / finish        command / send / finish     next_event ▲
//!   this crate    MessageWriter ──► Write       Connection = Sender + Receiver          │
//!                 MessageReader ◄── Read          write, shutdown ◄─┐   ┌── read         │
//!   core          frame, sign::VerifyingDecoder                     session::Driver ────┘
//! ```
//!
//! `examples/loopback.rs` runs a signed client and server over TCP, in RPC mode with initial
//! messages: `cargo run -p eventstream-blocking --example blocking-loopback`. The README shows the
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

pub use connection::{Connection, Receiver, Sender, Socket};
pub use eventstream_io::{Error, DEFAULT_READ_BUFFER_SIZE};
pub use reader::MessageReader;
pub use writer::MessageWriter;
