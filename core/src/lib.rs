//! A sans-IO implementation of the AWS event stream protocol (`application/vnd.amazon.eventstream`).
//!
//! Bytes go in; checked messages, signing-chain state and initial-request/response sequencing come
//! out. This crate does no IO, reads no clock, spawns no thread and needs no async runtime, so the
//! same code runs under tokio, async-std, smol, blocking sockets, a fuzzer or a simulation.
//!
//! ```text
//!   application      send / finish / abort              poll_event ▲ InitialRequest, InitialResponse,
//!                    send_initial_* / send_exception …             │ Event, Exception, Error, End, …
//!   ─────────────────────────┬──────────────────────────────────────┴──────────────────────────────
//!   session (layer 2)        │ sequencing: initial messages first, end of stream, exceptions,
//!                            │ errors; bounded event queue; every failure reported once
//!   ─────────────────────────┼──────────────────────────────────────▲──────────────────────────────
//!   sign (layer 3)           ▼ SigV4Signer: envelope + chained     │ SigV4Verifier: recompute the
//!                              :chunk-signature, end frame         │ chain, unwrap the inner message
//!   ─────────────────────────┼──────────────────────────────────────┼──────────────────────────────
//!   frame (layer 1)          ▼ Message::encode                     │ FrameDecoder: prelude CRC,
//!                              (exact length, limits)              │ lengths, limits, message CRC
//!   ─────────────────────────┼──────────────────────────────────────┼──────────────────────────────
//!   driver (session layer)   ▼ output() / take_output(), written   │ handle_read / handle_bytes,
//!                              poll_close: Finish / Reset(cause)   │ handle_eof, handle_reset;
//!                              the pending write                   │ the read window, backpressure
//!   ─────────────────────────┼──────────────────────────────────────┼──────────────────────────────
//!   transport (adapter)      ▼ write, half-close, reset            │ read, end of input, failure
//! ```
//!
//! The [`session::Driver`] is the loop every adapter runs: it owns the read window and the
//! pending write around a [`session::Session`], so that an adapter only reads, writes and closes
//! when the driver says so, and wakes the tasks or threads that wait.
//!
//! - [`frame`]: the message model ([`frame::Message`], [`frame::Header`],
//!   [`frame::HeaderValue`]), the encoder, the streaming [`frame::FrameDecoder`] and its
//!   [`frame::Limits`].
//! - [`sign`]: the SigV4 event signing chain ([`sign::SigV4Signer`]) and its mirror image on the
//!   receiving side ([`sign::SigV4Verifier`]), and the signed request that opens a stream
//!   ([`sign::RequestSigner`], whose signature seeds the chain, and [`sign::RequestVerifier`] for
//!   servers); time is always an argument.
//! - [`session`]: one event stream as a state machine, client or server, RPC or HTTP-binding
//!   ([`session::Session`]), and the [`session::Driver`] that adapters run it with.
//! - [`kinds`]: every stable error kind (each error's `kind()`) and what it means.
//!
//! # A client and a server, in memory
//!
//! The loop every adapter runs: commands queue bytes, `poll_transmit` hands them to the transport,
//! the other side's `handle_input` takes them, and `poll_event` tells its application.
//!
//! ```
//! use bytes::BytesMut;
//! use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent, Transmit};
//! use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams, SigningTime};
//!
//! /// Moves everything `from` wants to send into `to`; returns what `to`'s application sees.
//! fn deliver(from: &mut Session, to: &mut Session, now: SigningTime) -> Vec<SessionEvent> {
//!     let (mut wire, mut events, mut eof) = (BytesMut::new(), Vec::new(), false);
//!     while let Some(t) = from.poll_transmit(&mut wire) {
//!         eof |= t == Transmit::Finish;
//!     }
//!     let mut rest = &wire[..];
//!     while !rest.is_empty() {
//!         let n = to.handle_input(rest, now); // fewer than offered when the event queue is full
//!         rest = &rest[n..];
//!         events.extend(std::iter::from_fn(|| to.poll_event()));
//!     }
//!     if eof {
//!         to.handle_end_of_input(now);
//!     }
//!     events.extend(std::iter::from_fn(|| to.poll_event()));
//!     events
//! }
//!
//! let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "transcribe");
//! let seed = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b"; // the request's signature
//! let now = SigningTime::from_unix_seconds(1_700_000_000)?;
//!
//! let mut client = Session::new(SessionConfig::new(Role::Client, Mode::Rpc))
//!     .with_signer(SigV4Signer::new(params.clone(), seed));
//! let mut server = Session::new(SessionConfig::new(Role::Server, Mode::Rpc))
//!     .with_verifier(SigV4Verifier::new(params, seed));
//!
//! // Client: the initial request (first link of the signing chain), an event, the end frame.
//! client.send_initial_request(EventBuilder::initial_request().payload(&b"{}"[..]).build(), now)?;
//! client.send(EventBuilder::new("AudioEvent").payload(vec![0u8; 320]).build(), now)?;
//! client.finish(now)?;
//!
//! // Server: verified and unwrapped, in order, then the clean end of the client's side.
//! let seen = deliver(&mut client, &mut server, now);
//! assert!(matches!(seen[0], SessionEvent::InitialRequest(_)));
//! assert!(matches!(&seen[1], SessionEvent::Event(m) if m.payload().len() == 320));
//! assert_eq!(seen[2], SessionEvent::End);
//!
//! // Server: its initial response, one event, then its end.
//! server.send_initial_response(EventBuilder::initial_response().payload(&b"{}"[..]).build(), now)?;
//! server.send(EventBuilder::new("TranscriptEvent").payload(&b"{\"text\":\"hi\"}"[..]).build(), now)?;
//! server.finish(now)?;
//! let seen = deliver(&mut server, &mut client, now);
//! assert!(matches!(seen[0], SessionEvent::InitialResponse(_)));
//! assert!(matches!(&seen[1], SessionEvent::Event(m) if m.header_str(":event-type") == Some("TranscriptEvent")));
//! assert_eq!(seen[2], SessionEvent::End);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Without the default `std` feature the crate is `#![no_std]` and needs only `alloc`; the `http`
//! feature (on by default) adds [`sign::seed_from_authorization`] and the `http::request::Parts`
//! forms of request signing and verification ([`sign::RequestSigner::sign`],
//! [`sign::RequestVerifier::verify`], [`sign::RequestHead::from_parts`]).

#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;

pub mod frame;
pub mod kinds;
pub mod session;
pub mod sign;
