//! The AWS event stream protocol over [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`]:
//! async-std, smol, async-net or any other runtime whose byte streams implement them. The
//! library depends on no runtime.
//!
//! This crate only moves bytes; the sans-IO core, [`eventstream`], owns every rule.
//!
//! ```text
//!   application   Sink::send / close               send / finish / abort     Stream::next ▲
//!                       │                                 │                               │
//!   this crate    MessageWriter ──► AsyncWrite     Connection = Sender + Receiver          │
//!                 MessageReader ◄── AsyncRead       │ Session::send, poll_transmit ──► poll_write, poll_close
//!                 (VerifyingDecoder, Stream)        │ poll_read ──► Session::handle_input ──► poll_event
//!   core          frame::Message, sign::{VerifyingDecoder, SigV4Signer, SigV4Verifier}, session::Session
//! ```
//!
//! - [`MessageReader`]: a [`Stream`](futures_core::Stream) of messages from any `AsyncRead`,
//!   with bounded buffering; a partial frame at the end is `truncated`. Optionally verifies and
//!   unwraps signed envelopes.
//! - [`MessageWriter`]: a [`Sink`](futures_sink::Sink) of messages to any `AsyncWrite`,
//!   optionally signed, with the signed end frame when it is closed.
//! - [`Connection`]: one event stream over a duplex byte stream (the plain-socket transport),
//!   driving a core [`Session`](eventstream::session::Session): commands write, events are read
//!   with backpressure, and [`split`](Connection::split) gives a [`Sender`] and a [`Receiver`]
//!   that work at the same time.
//!
//! Timeouts are the runtime's business: wrap a `next_event` in your runtime's timeout; dropping
//! it loses nothing.
//!
//! # The whole loop: a signed client and server over TCP, under smol
//!
//! ```
//! use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
//! use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
//! use eventstream_futures_io::{Connection, Error};
//! use futures::StreamExt;
//!
//! let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
//! let (up, down) = ("11".repeat(32), "22".repeat(32)); // the seeds of the two chains
//! let session = |role, send_seed: &str, recv_seed: &str| {
//!     Session::new(SessionConfig::new(role, Mode::Rpc))
//!         .with_signer(SigV4Signer::new(params.clone(), send_seed))
//!         .with_verifier(SigV4Verifier::new(params.clone(), recv_seed))
//! };
//!
//! smol::block_on(async {
//!     let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let server_session = session(Role::Server, &down, &up);
//!     let server = smol::spawn(async move {
//!         let (socket, _) = listener.accept().await?;
//!         let mut conn = Connection::new(socket, server_session);
//!         conn.send_initial_response(EventBuilder::initial_response().payload(&b"{}"[..]).build()).await?;
//!         let mut echoed = 0;
//!         while let Some(event) = conn.next_event().await? {
//!             match event {
//!                 SessionEvent::InitialRequest(_) => {}
//!                 SessionEvent::Event(m) => {
//!                     conn.send(EventBuilder::new("Echo").payload(m.payload().clone()).build()).await?;
//!                     echoed += 1;
//!                 }
//!                 SessionEvent::End => break,
//!                 other => panic!("unexpected {other:?}"),
//!             }
//!         }
//!         conn.finish().await?; // the signed end frame, then shutdown(Write)
//!         Ok::<_, Error>(echoed)
//!     });
//!
//!     let socket = smol::net::TcpStream::connect(addr).await?;
//!     let (mut tx, rx) = Connection::new(socket, session(Role::Client, &up, &down)).split();
//!     // Send and receive at the same time.
//!     let send = async {
//!         tx.send_initial_request(EventBuilder::initial_request().payload(&b"{}"[..]).build()).await?;
//!         for i in 0..3u8 {
//!             tx.send(EventBuilder::new("Ping").payload(vec![i; 100]).build()).await?;
//!         }
//!         tx.finish().await
//!     };
//!     let (sent, seen) = futures::join!(send, rx.collect::<Vec<_>>());
//!     sent?;
//!     let seen = seen.into_iter().collect::<Result<Vec<_>, _>>()?;
//!     assert!(matches!(seen[0], SessionEvent::InitialResponse(_)));
//!     assert!(matches!(&seen[3], SessionEvent::Event(m) if m.payload()[..] == [2u8; 100]));
//!     assert_eq!(seen[4], SessionEvent::End);
//!     assert_eq!(server.await?, 3);
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
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

pub use connection::{Connection, Receiver, Sender};
pub use error::Error;
pub use reader::{MessageReader, DEFAULT_READ_BUFFER_SIZE};
pub use writer::{MessageWriter, DEFAULT_WRITE_BUFFER_SIZE};
