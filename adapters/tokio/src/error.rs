//! The adapter's error: what went wrong with a connection or an event stream.

use bytes::Bytes;
use eventstream::session::{SendError, SessionError};
use eventstream::sign::{RequestSignError, RequestVerifyError, TimeOutOfRange};
use h2::Reason;
use http::{HeaderMap, StatusCode};
use std::io;
use std::sync::Arc;

/// Why a connection or an event stream failed, or why a command was refused.
///
/// A stream's failure is delivered to both halves: the [`Receiver`](crate::Receiver) yields it
/// once as its last item, and every later command of the [`Sender`](crate::Sender) returns it.
/// The error is cheap to clone (the HTTP/2, IO and body causes are shared).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer reset the stream (`RST_STREAM`).
    #[error("the peer reset the stream ({reason})")]
    Reset {
        /// The reset's error code.
        reason: Reason,
    },
    /// The peer is closing the connection (`GOAWAY`) and will not process this stream.
    #[error("the peer closed the connection (GOAWAY {reason})")]
    GoAway {
        /// The GOAWAY's error code.
        reason: Reason,
    },
    /// The connection was lost: an IO error, or the peer closed it without `GOAWAY`.
    #[error("the connection was lost: {0}")]
    ConnectionLost(#[source] Arc<io::Error>),
    /// Another HTTP/2 error: a protocol error detected locally, or a misuse of the connection.
    #[error("HTTP/2 error: {0}")]
    H2(#[source] Arc<h2::Error>),
    /// The server answered with a status other than 200 OK. Its body is kept up to
    /// [`MAX_ERROR_BODY_LEN`](crate::MAX_ERROR_BODY_LEN) bytes.
    #[error("the server answered {status}")]
    Status {
        /// The response's status.
        status: StatusCode,
        /// The response's headers.
        headers: Box<HeaderMap>,
        /// The start of the response's body.
        body: Bytes,
    },
    /// The event stream failed on the peer's bytes: a bad frame, a broken signing chain, a
    /// sequencing error. The core session decided it; the stream was reset (or, at a server
    /// configured to report failures, answered with an `error` message).
    #[error("the event stream failed: {0}")]
    Session(#[source] SessionError),
    /// A command was refused: after `finish`, after `abort`, after the peer's exception, or a
    /// message of the wrong kind. Harmless to the stream, except that an aborted stream stays
    /// aborted.
    #[error("the command was refused: {0}")]
    Send(#[source] SendError),
    /// The configuration cannot work: for example a server session given to a client stream,
    /// or a response head asked of a server stream.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// An invariant of this crate did not hold (a bug): the stream was failed rather than left
    /// to spin or hang. It says which.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// A deadline passed: at a server, the client did not complete the HTTP/2 handshake within
    /// [`ServerBuilder::handshake_timeout`](crate::ServerBuilder::handshake_timeout), or did not
    /// answer a keepalive `PING` within
    /// [`ServerBuilder::keepalive_timeout`](crate::ServerBuilder::keepalive_timeout); at a
    /// pooled client, connecting (TCP, TLS, the HTTP/2 handshake) took longer than
    /// [`ClientBuilder::connect_timeout`](crate::ClientBuilder::connect_timeout); at a client,
    /// a stream found no place within
    /// [`ClientBuilder::open_timeout`](crate::ClientBuilder::open_timeout), or its response head
    /// did not come within
    /// [`ClientBuilder::response_timeout`](crate::ClientBuilder::response_timeout). It says
    /// which.
    #[error("timed out: {0}")]
    TimedOut(&'static str),
    /// Connecting failed.
    #[error("could not connect: {0}")]
    Connect(#[source] Arc<io::Error>),
    /// The system clock is outside the years 0 to 9999, so events cannot be signed nor their
    /// clock skew checked. Kind `clock_out_of_range`, as in every adapter and in `evs`.
    #[error("the system clock is unusable for signing: {0}")]
    Clock(#[source] TimeOutOfRange),
    /// An HTTP body read by [`BodyEvents`](crate::BodyEvents) failed: its connection was lost,
    /// or the HTTP library found the body malformed or incomplete. The cause is the body
    /// stream's own error (for example a `hyper::Error` or a `reqwest::Error`).
    #[error("the body failed: {0}")]
    Body(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// TLS failed: a handshake (the peer's certificate is not trusted, no protocol version or
    /// cipher suite in common, the peer offered ALPN without `h2`), or rustls refused a
    /// configuration (a private key that does not belong to its certificate). Kind `tls`.
    #[error("TLS failed: {0}")]
    Tls(#[source] Arc<rustls::Error>),
    /// A PEM input is unusable: it holds no certificate, or no private key, where one is
    /// needed, or a block is malformed. It says which. Kind `invalid_pem`.
    #[error("invalid PEM: {0}")]
    InvalidPem(String),
    /// A request head failed SigV4 verification
    /// ([`Incoming::verify`](crate::Incoming::verify)): the kind is the failed check's
    /// (`request_expired`, `unknown_access_key`, `signature_does_not_match`, ...).
    #[error("the request failed verification: {0}")]
    RequestVerify(#[source] RequestVerifyError),
    /// The server of an `https://` URI did not select HTTP/2 with ALPN: it selected another
    /// protocol (`http/1.1`), none (it does not do ALPN), or refused `h2` during the handshake
    /// (a `no_application_protocol` alert). There is no fallback to HTTP/1.1: event streams
    /// that send need HTTP/2. Kind `alpn_not_h2`.
    #[error("the server did not select HTTP/2 with ALPN ({})", match selected {
        Some(p) => format!("it selected {p}"),
        None => "it selected no protocol".to_owned(),
    })]
    NoH2 {
        /// The protocol the server selected, if any.
        selected: Option<String>,
    },
    /// A [`ProvideCredentials`](crate::ProvideCredentials) could not give credentials for a
    /// signed stream (none configured, an expired session, an unreachable credentials
    /// endpoint). The cause is the provider's own error. Kind `credentials`.
    #[error("no credentials: {0}")]
    Credentials(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// A request could not be signed: a header the signer adds cannot hold its value (a
    /// session token with a control character, say). The kind is the signing error's
    /// (`invalid_http_header_value`).
    #[error("the request cannot be signed: {0}")]
    RequestSign(#[source] RequestSignError),
}

impl Error {
    /// A stable `snake_case` name for the error: `reset`, `go_away`, `connection_lost`, `h2`,
    /// `status`, the session error's own kind (for example `signature_mismatch`), the refused
    /// command's kind (for example `finished`), `config`, `internal`, `timed_out`, `connect`,
    /// `clock_out_of_range`, `body`, `tls`, `invalid_pem`, `alpn_not_h2`, `credentials`, the
    /// failed request check's kind (for example `request_expired`), or the request signing
    /// error's (`invalid_http_header_value`). The same failure has
    /// the same kind in every adapter of this project and in `evs`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Reset { .. } => "reset",
            Error::GoAway { .. } => "go_away",
            Error::ConnectionLost(_) => "connection_lost",
            Error::H2(_) => "h2",
            Error::Status { .. } => "status",
            Error::Session(e) => e.kind(),
            Error::Send(e) => e.kind(),
            Error::Config(_) => "config",
            Error::Internal(_) => "internal",
            Error::TimedOut(_) => "timed_out",
            Error::Connect(_) => "connect",
            Error::Clock(_) => "clock_out_of_range",
            Error::Body(_) => "body",
            Error::Tls(_) => "tls",
            Error::InvalidPem(_) => "invalid_pem",
            Error::RequestVerify(e) => e.kind(),
            Error::NoH2 { .. } => "alpn_not_h2",
            Error::Credentials(_) => "credentials",
            Error::RequestSign(e) => e.kind(),
        }
    }

    /// Classifies an h2 error: a reset or GOAWAY from the peer, a lost connection, or another
    /// HTTP/2 error.
    pub(crate) fn from_h2(err: h2::Error) -> Error {
        if err.is_io() {
            return match err.into_io() {
                Some(io) => Error::ConnectionLost(Arc::new(io)),
                None => Error::ConnectionLost(Arc::new(io::ErrorKind::Other.into())),
            };
        }
        match err.reason() {
            Some(reason) if err.is_remote() && err.is_reset() => Error::Reset { reason },
            Some(reason) if err.is_remote() && err.is_go_away() => Error::GoAway { reason },
            _ => Error::H2(Arc::new(err)),
        }
    }

    /// Whether this error explains a stream's end better than `earlier`, which was recorded
    /// first: a non-200 status explains the reset that follows it.
    pub(crate) fn supersedes(&self, earlier: &Error) -> bool {
        matches!(self, Error::Status { .. })
            && matches!(
                earlier,
                Error::Reset { .. } | Error::GoAway { .. } | Error::H2(_)
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds every adapter and `evs` share for the same failure.
    #[test]
    fn kinds_are_shared_with_the_other_adapters() {
        let clock = Error::Clock(TimeOutOfRange { secs: i64::MAX });
        assert_eq!(clock.kind(), "clock_out_of_range");
        assert_eq!(Error::Internal("a bug").kind(), "internal");
        assert_eq!(Error::Config("a server session").kind(), "config");
        let refused = Error::Send(SendError::Finished);
        assert_eq!(refused.kind(), SendError::Finished.kind());
    }
}
