//! The AWS event stream protocol over `std::io`: files of captured frames, pipes, and blocking
//! sockets (`TcpStream`, `UnixStream`), no async runtime.
//!
//! This crate only moves bytes; the sans-IO core, [`eventstream`], owns every rule.
//!
//! ```text
//!   application   write_message / finish          send / finish / abort       next_event ▲
//!                       │                                 │                               │
//!   this crate    MessageWriter ──► Write       Connection = Sender + Receiver           │
//!                 MessageReader ◄── Read          │ Session::send, poll_transmit ──► write_all, shutdown
//!                 (VerifyingDecoder, Iterator)   │ read ──► Session::handle_input ──► poll_event
//!   core          frame::Message, sign::{VerifyingDecoder, SigV4Signer, SigV4Verifier}, session::Session
//! ```
//!
//! - [`MessageReader`]: an [`Iterator`] of messages from any [`Read`](std::io::Read), in
//!   constant memory whatever the input's size; a partial frame at the end is `truncated`.
//!   Optionally verifies and unwraps signed envelopes.
//! - [`MessageWriter`]: writes messages to any [`Write`](std::io::Write), optionally signed,
//!   with the signed end frame at [`finish`](MessageWriter::finish).
//! - [`Connection`]: one event stream over a duplex [`Socket`] (the plain-socket transport),
//!   driving a core [`Session`](eventstream::session::Session): commands write, events are read
//!   with backpressure, read timeouts come out as [`Error::TimedOut`], and
//!   [`split`](Connection::split) gives a [`Sender`] and a [`Receiver`] for two threads.
//!
//! # The whole loop: a signed client and server over TCP
//!
//! ```
//! use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
//! use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
//! use eventstream_blocking::Connection;
//! use std::net::{TcpListener, TcpStream};
//!
//! let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
//! let (up, down) = ("11".repeat(32), "22".repeat(32)); // the seeds of the two chains
//! let session = |role, send_seed: &str, recv_seed: &str| {
//!     Session::new(SessionConfig::new(role, Mode::Rpc))
//!         .with_signer(SigV4Signer::new(params.clone(), send_seed))
//!         .with_verifier(SigV4Verifier::new(params.clone(), recv_seed))
//! };
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server_session = session(Role::Server, &down, &up);
//! let server = std::thread::spawn(move || -> Result<usize, eventstream_blocking::Error> {
//!     let (socket, _) = listener.accept()?;
//!     let (mut tx, rx) = Connection::new(socket, server_session)?.split();
//!     tx.send_initial_response(EventBuilder::initial_response().payload(&b"{}"[..]).build())?;
//!     let mut echoed = 0;
//!     for event in rx {
//!         match event? {
//!             SessionEvent::InitialRequest(_) => {}
//!             SessionEvent::Event(m) => {
//!                 tx.send(EventBuilder::new("Echo").payload(m.payload().clone()).build())?;
//!                 echoed += 1;
//!             }
//!             SessionEvent::End => break,
//!             other => panic!("unexpected {other:?}"),
//!         }
//!     }
//!     tx.finish()?; // the signed end frame, then shutdown(Write)
//!     Ok(echoed)
//! });
//!
//! let socket = TcpStream::connect(addr)?;
//! let (mut tx, rx) = Connection::new(socket, session(Role::Client, &up, &down))?.split();
//! // Receive on another thread while this one sends.
//! let receiver = std::thread::spawn(move || rx.collect::<Result<Vec<_>, _>>());
//! tx.send_initial_request(EventBuilder::initial_request().payload(&b"{}"[..]).build())?;
//! for i in 0..3u8 {
//!     tx.send(EventBuilder::new("Ping").payload(vec![i; 100]).build())?;
//! }
//! tx.finish()?;
//!
//! let seen = receiver.join().unwrap()?;
//! assert!(matches!(seen[0], SessionEvent::InitialResponse(_)));
//! assert!(matches!(&seen[3], SessionEvent::Event(m) if m.payload()[..] == [2u8; 100]));
//! assert_eq!(seen[4], SessionEvent::End);
//! assert_eq!(server.join().unwrap()?, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod connection;
mod error;
mod reader;
mod writer;

pub use connection::{Connection, Receiver, Sender, Socket};
pub use error::Error;
pub use reader::{MessageReader, DEFAULT_READ_BUFFER_SIZE};
pub use writer::MessageWriter;
