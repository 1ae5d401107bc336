//! What the byte-stream adapters of the AWS event stream protocol share, `eventstream-blocking`
//! (`std::io`) and `eventstream-futures-io` (`futures-io`): everything but their read and write
//! calls.
//!
//! - [`Error`], with the stable [`kind`](Error::kind) names every adapter and `evs` use, and
//!   [`now`], the system clock as a [`SigningTime`](eventstream::sign::SigningTime).
//! - [`Decoding`] and [`Encoding`]: a message reader and a message writer without their reader
//!   and writer, and [`message_reader_api!`] and [`message_writer_api!`], the constructors,
//!   builders and accessors of the adapters' `MessageReader` and `MessageWriter`.
//! - [`Link`]: a connection's [`Driver`](eventstream::session::Driver), shared by its sending and
//!   receiving halves, with [`Writing`] and [`Reading`], which tell each half which IO call to
//!   make next and give the result to the driver. A transport failure resets the driver; a
//!   pending reset is carried out at once, even while a write is blocked.
//!
//! ```text
//!   Sender ── Link::apply(Command) ──► Link { Driver, writer } ◄── Reading ── Receiver
//!     Writing::poll ──► Out::Write / Flush / Close ──► write, flush, shutdown; done(result)
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod error;
mod link;
mod message;

pub use error::{now, Error};
pub use link::{shutdown_for, Inbound, Link, Out, Reading, Writing};
pub use message::{Decoding, Encoding, DEFAULT_READ_BUFFER_SIZE, DEFAULT_WRITE_BUFFER_SIZE};
