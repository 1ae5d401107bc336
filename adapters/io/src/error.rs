//! The error of the byte-stream adapters, and the helpers that produce it.

use eventstream::frame::{EncodeError, FrameError};
use eventstream::session::{SendError, SessionError};
use eventstream::sign::{SignError, SigningTime, TimeOutOfRange, VerifyError};
use std::io;

/// Everything that can go wrong when reading, writing or driving a session over a byte stream
/// (`std::io` or `futures-io`).
///
/// Each variant wraps the core's own error, so [`kind`](Self::kind) gives the same stable
/// `snake_case` names as the core (`truncated`, `signature_mismatch`, `finished`, …), plus `io`,
/// `timed_out`, `clock_out_of_range` and `internal`, the names the tokio adapter and `evs` use for
/// the same failures. `From<Error> for std::io::Error` maps them to I/O error kinds for code that
/// only speaks `io::Result`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A read timed out: the reader reported `WouldBlock` or `TimedOut` (a socket's read timeout
    /// expired with no byte received). Not fatal: nothing was lost, and the next read goes on
    /// where this one stopped. An idle stream is not broken.
    #[error("read timed out")]
    TimedOut,
    /// The peer's bytes are not valid frames (including `truncated`: the input ended inside a
    /// frame). Fatal to the reader.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer's signing chain is broken, or its end frame is missing. Fatal to the reader.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A message cannot be encoded within the limits; nothing was written.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A message cannot be signed (or the end frame was already written); nothing was written.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The session failed on the peer's bytes: reported once, the session's terminal event.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The session refused the command.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The system clock is outside the years 0 to 9999, which SigV4 dates cannot express.
    #[error(transparent)]
    Clock(#[from] TimeOutOfRange),
    /// An invariant of the adapter did not hold (a bug): the stream was failed rather than left
    /// to spin or hang. It says which.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl Error {
    /// A stable `snake_case` name: `io`, `timed_out`, `clock_out_of_range`, `internal`, or the
    /// kind of the wrapped core error ([`FrameError::kind`], [`VerifyError::kind`],
    /// [`SessionError::kind`], [`SendError::kind`], …).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io(_) => "io",
            Error::TimedOut => "timed_out",
            Error::Frame(e) => e.kind(),
            Error::Verify(e) => e.kind(),
            Error::Encode(e) => e.kind(),
            Error::Sign(e) => e.kind(),
            Error::Session(e) => e.kind(),
            Error::Send(e) => e.kind(),
            Error::Clock(_) => "clock_out_of_range",
            Error::Internal(_) => "internal",
        }
    }

    /// Whether this is [`Error::TimedOut`]: retry the read, or give up on an idle peer.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::TimedOut)
    }
}

impl From<Error> for io::Error {
    /// The I/O error itself; `TimedOut` for a timeout; `InvalidData` for bad bytes from the peer;
    /// `InvalidInput` for a message that cannot be encoded or signed; `BrokenPipe` for a command
    /// on a closed stream; `Other` for a clock out of range or an internal error.
    fn from(err: Error) -> io::Error {
        let kind = match &err {
            Error::Io(_) => {
                return match err {
                    Error::Io(e) => e,
                    other => io::Error::other(other),
                }
            }
            Error::TimedOut => io::ErrorKind::TimedOut,
            Error::Frame(_) | Error::Verify(_) | Error::Session(_) => io::ErrorKind::InvalidData,
            Error::Send(SendError::Failed(_)) => io::ErrorKind::InvalidData,
            Error::Send(SendError::Sign(_)) | Error::Encode(_) | Error::Sign(_) => {
                io::ErrorKind::InvalidInput
            }
            Error::Send(_) => io::ErrorKind::BrokenPipe,
            Error::Clock(_) | Error::Internal(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// The system clock's time now, for signing and for clock-skew checks.
///
/// # Errors
///
/// [`Error::Clock`] when the clock is outside the years 0 to 9999.
pub fn now() -> Result<SigningTime, Error> {
    Ok(SigningTime::from_system_time(std::time::SystemTime::now())?)
}

/// Maps a failed read: `WouldBlock` and `TimedOut` (a read timeout) are [`Error::TimedOut`],
/// anything else stays an I/O error. Callers retry `Interrupted` themselves.
pub(crate) fn read_error(err: io::Error) -> Error {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::TimedOut,
        _ => Error::Io(err),
    }
}

/// Maps an error of a [`VerifyingDecoder`](eventstream::sign::VerifyingDecoder): a frame error
/// (of an envelope, or of the message inside one) is [`Error::Frame`], as from a plain decoder;
/// anything else is [`Error::Verify`].
pub(crate) fn decode_error(err: VerifyError) -> Error {
    match err {
        VerifyError::Frame(e) => Error::Frame(e),
        other => Error::Verify(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_the_names_every_adapter_uses() {
        assert_eq!(Error::TimedOut.kind(), "timed_out");
        assert_eq!(Error::Internal("x").kind(), "internal");
        assert_eq!(Error::from(io::Error::other("x")).kind(), "io");
        let clock = SigningTime::from_unix_seconds(i64::MAX).unwrap_err();
        assert_eq!(Error::from(clock).kind(), "clock_out_of_range");
        assert_eq!(
            io::Error::from(Error::Send(SendError::Finished)).kind(),
            io::ErrorKind::BrokenPipe
        );
        assert!(read_error(io::ErrorKind::WouldBlock.into()).is_timeout());
    }
}
