//! Deterministic simulation: a client [`Session`] and a server [`Session`] joined by an in-memory
//! link in each direction, driven tick by tick by a virtual clock and a seeded RNG.
//!
//! Nothing here touches a socket, a runtime or a real clock, so a run is a pure function of its
//! [`SimConfig`] (seed included), its two sessions and its two [`Application`]s: the same inputs
//! replay the same run, byte for byte and tick for tick.
//!
//! # The model
//!
//! - **Links.** Each direction has a [`Link`]. What a session hands out with
//!   [`Session::poll_transmit`] is split at random points into chunks, and each chunk is delivered
//!   at a random later tick (never before the chunk ahead of it: a link is a byte stream, like one
//!   direction of a TCP connection or an HTTP/2 stream). [`Transmit::Finish`] travels behind the
//!   last chunk and becomes the receiver's end of input. [`Transmit::Reset`] breaks the link at
//!   once: chunks still in flight are lost, and the receiver's input ends after what had already
//!   been delivered. A link can also be cut ([`Cut`]: at a byte offset of the stream or at a tick;
//!   the receiver then gets its end of input after the bytes before the cut) and can flip a byte
//!   ([`Flip`]).
//! - **Backpressure.** Bytes a session does not consume ([`Session::handle_input`] returns less
//!   than it was offered) stay in the link, and are offered again after the application has
//!   polled events. A [`PollPolicy`] models a fast or a slow application.
//! - **Applications.** Each side's [`Application`] issues commands through an [`Endpoint`] (at
//!   every tick, and for every event it polls); every command is followed by draining
//!   `poll_transmit`, as the drain contract asks. [`Script`] issues commands at given ticks,
//!   [`Echo`] mirrors what it receives, [`Idle`] only listens.
//! - **Time.** Tick `t` is `start + t * seconds_per_tick` seconds after the Unix epoch: every
//!   input and every command of that tick is given that [`SigningTime`] (commands sign with it).
//! - **Records.** Everything each application saw ([`Seen`]) and did ([`CommandRecord`]), and the
//!   backpressure each session applied, ends up in the [`Outcome`]'s [`SideReport`]s; the links
//!   keep a transcript of everything their sender sent.
//! - **Endpoints.** Everything done to a session goes through an [`Endpoint`], which records
//!   it and then drains `poll_transmit` into the outgoing link, checking the transmit contract
//!   ([`drain_transmit`]). The `session` fuzz target ([`crate::fuzz::session()`]) drives its two
//!   sessions through the same endpoints and reports, over a [`Wire`] of its own that the
//!   fuzzer's bytes deliver, corrupt and cut instead of a scheduled [`Link`].
//! - **Hang guard.** A run that has not finished after [`SimConfig::max_ticks`] ticks stops with a
//!   [`Hang`] that describes both sides; [`Sim::run`] panics with it. Nothing loops forever.
//!
//! A run is finished when both applications have seen their terminal event, both report
//! [`Application::is_done`], and both links are quiet (nothing in flight, nothing waiting to be
//! consumed, every end of input handed to its session).
//!
//! ```
//! use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
//! use eventstream_tests::sim::{Echo, Op, Script, Sim, SimConfig};
//!
//! let client = Session::new(SessionConfig::new(Role::Client, Mode::Rpc));
//! let server = Session::new(SessionConfig::new(Role::Server, Mode::Rpc));
//! let script = Script::new()
//!     .at(0, Op::Send(EventBuilder::new("Ping").payload(&b"1"[..]).build()))
//!     .at(3, Op::Finish);
//! let outcome = Sim::new(SimConfig::new(7), client, server, script, Echo::default()).run();
//! assert_eq!(outcome.client.received_messages().len(), 1);
//! assert_eq!(outcome.client.terminal(), Some(&SessionEvent::End));
//! assert_eq!(outcome.server.terminal(), Some(&SessionEvent::End));
//! ```
//!
//! # Modules
//!
//! | module | holds |
//! |---|---|
//! | `link` | [`Link`], [`LinkConfig`], [`Cut`], [`Flip`], [`LinkEnd`] |
//! | `endpoint` | [`Endpoint`], [`Op`], [`CommandRecord`], [`Seen`], [`Wire`], [`drain_transmit`] |
//! | `app` | [`Application`], [`PollPolicy`], [`Idle`], [`Script`], [`Echo`] |
//! | `report` | [`SideReport`], the checks, [`Outcome`], [`Hang`] |
//! | `run` | [`SimConfig`], [`Sim`] |
//!
//! The seeded generator is [`eventstream_testkit::SplitMix64`].
//!
//! [`Session`]: eventstream::session::Session
//! [`Session::poll_transmit`]: eventstream::session::Session::poll_transmit
//! [`Session::handle_input`]: eventstream::session::Session::handle_input
//! [`Transmit::Finish`]: eventstream::session::Transmit::Finish
//! [`Transmit::Reset`]: eventstream::session::Transmit::Reset
//! [`SigningTime`]: eventstream::sign::SigningTime

mod app;
mod endpoint;
mod link;
mod report;
mod run;

pub use app::{echo_initial_response, Application, Echo, Idle, PollPolicy, Script};
pub(crate) use endpoint::split_frames;
pub use endpoint::{drain_transmit, CommandRecord, Endpoint, Op, Seen, Wire};
pub use link::{Cut, Flip, FlipTarget, Link, LinkConfig, LinkEnd};
pub use report::{check_abort, check_direction, check_prefix, describe, Hang, Outcome, SideReport};
pub use run::{Sim, SimConfig};
