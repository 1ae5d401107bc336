//! The mirror server: echoes every event stream back to its client. `evs serve`, `evs demo`,
//! the loopback tests and the benchmark all run this one.
//!
//! For each `POST` with `content-type: application/vnd.amazon.eventstream` it answers `200` with
//! that content type at once, then, for each message the core session hands it:
//!
//! - `initial-request`: echoed as `initial-response` (the same headers otherwise, the same
//!   payload);
//! - an event: echoed unchanged (one that cannot be sent, such as a message without
//!   `:message-type`, is answered with an `error` message instead);
//! - an exception or an error message from the client ends the stream: the core session resets
//!   it (nothing can be sent after the peer's);
//! - the end of the client's side (END_STREAM, after its end frame on a signed stream): the
//!   response ends with END_STREAM alone, as an unsigned stream does.
//!
//! With signing parameters, each stream is checked by a `SigV4Verifier` seeded from the
//! `Signature=` of the request's `Authorization` header, and the envelopes are unwrapped; without
//! them, envelopes are unwrapped unchecked (`Unchecked`) and unsigned frames accepted. A bad
//! frame, a broken chain or a sequencing error is answered, by the core session itself
//! ([`with_failures_reported_to_peer`](eventstream::session::SessionConfig::with_failures_reported_to_peer)),
//! with one `error` message (`:error-code` = the error's kind, `:error-message` = its detail),
//! then the response ends. Another content type is answered `415`, another method `405`.
//!
//! With a [request verifier](Mirror::with_request_verifier), each request's own SigV4
//! signature, credential scope and `x-amz-date` are checked first, as an AWS service does: a
//! bad one is answered `403` as AWS answers it (the exception in `x-amzn-errortype`, a JSON
//! `message`) with its error's kind, before any stream is accepted; the events
//! are then checked from the request's signature, each `:date` within the verifier's window.
//! [With TLS](Mirror::with_tls) (a PEM certificate and key, ALPN `h2`), every connection is
//! served over TLS.
//!
//! ```no_run
//! # async fn doc() -> std::io::Result<()> {
//! use eventstream_tokio::mirror::Mirror;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("listening on {}", listener.local_addr()?);
//! Mirror::new().serve(listener).await // runs until the process ends
//! # }
//! ```

use crate::error::Error;
use crate::server::{Incoming, ServerBuilder};
use crate::stream::{Receiver, Sender};
use eventstream::frame::{HeaderValue, Limits, Message};
use eventstream::session::{
    Mode, Role, SendError, Session, SessionConfig, SessionEvent, EVENT_TYPE, INITIAL_RESPONSE,
};
use eventstream::sign::{
    seed_from_authorization, RequestVerifier, SecretStore, SeedError, SigV4Verifier, SigningParams,
    Unchecked,
};
use futures_core::Stream;
use http::{Method, StatusCode};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use std::{fmt, io};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tracing::Instrument as _;

/// The mirror server's configuration; cheap to clone.
#[derive(Clone, Default)]
pub struct Mirror {
    signing: Option<SigningParams>,
    limits: Limits,
    server: ServerBuilder,
    on_stream_end: Option<ReportHook>,
    tls: Option<Arc<rustls::ServerConfig>>,
    request_verifier: Option<RequestVerifier<Secrets>>,
}

/// What [`Mirror::on_stream_end`] calls.
type ReportHook = Arc<dyn Fn(&MirrorReport) + Send + Sync>;

/// The secret store of [`Mirror::with_request_verifier`]: any store, shared by every stream.
pub type Secrets = Arc<dyn SecretStore + Send + Sync>;

impl fmt::Debug for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("signing", &self.signing)
            .field("limits", &self.limits)
            .field("server", &self.server)
            .field("on_stream_end", &self.on_stream_end.is_some())
            .field("tls", &self.tls.is_some())
            .field("request_verifier", &self.request_verifier)
            .finish()
    }
}

/// How one stream went, from the mirror's side.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MirrorReport {
    /// The HTTP/2 stream id.
    pub stream_id: u32,
    /// The messages echoed, the initial response included.
    pub echoed: u64,
    /// Whether the stream was checked with SigV4 (the mirror had signing parameters or a
    /// request verifier).
    pub signed: bool,
    /// How it ended.
    pub outcome: MirrorOutcome,
}

impl MirrorReport {
    /// Whether the whole signing chain was verified: every envelope and the end frame.
    pub fn verified_chain(&self) -> bool {
        self.signed && matches!(self.outcome, MirrorOutcome::Finished)
    }
}

/// How a mirrored stream ended.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum MirrorOutcome {
    /// The client ended its side cleanly (with a verified end frame, on a signed stream), and
    /// the response ended.
    Finished,
    /// The request was refused with this status (405 or 415).
    Rejected(StatusCode),
    /// The request failed [verification](Mirror::with_request_verifier) and was refused,
    /// `403 Forbidden` in AWS's error shape naming the error's kind (`500` when the server's
    /// clock is unusable), before any stream was accepted.
    Unverified(Error),
    /// The request was bad (a bad frame, a broken chain, a sequencing error, no usable seed):
    /// one `error` message was sent, then the response ended.
    ErrorSent {
        /// The `:error-code`.
        code: String,
        /// The `:error-message`.
        text: String,
    },
    /// The stream failed (reset, connection lost), or the client ended it with an exception or
    /// an error message, after which nothing can be sent ([`Error::Send`]).
    Failed(Error),
}

impl Mirror {
    /// A mirror that unwraps envelopes without checking them and accepts unsigned frames.
    pub fn new() -> Mirror {
        Mirror::default()
    }

    /// Verifies every stream's signing chain with these parameters; the seed of each stream is
    /// the `Signature=` of its request's `Authorization` header. The request itself is not
    /// checked: see [`with_request_verifier`](Self::with_request_verifier) for that.
    #[must_use]
    pub fn with_signing(mut self, params: SigningParams) -> Mirror {
        self.signing = Some(params);
        self
    }

    /// Verifies every request before its stream is accepted, then the stream's events, as an AWS
    /// service does (see [`Incoming::verify`]):
    ///
    /// - the request head's SigV4 signature, credential scope (region and service are the
    ///   verifier's), access key (looked up in the verifier's [`SecretStore`]) and `x-amz-date`,
    ///   which must lie within the verifier's skew window around the server's clock
    ///   ([`max_skew`](RequestVerifier::max_skew), 5 minutes by default). A request that fails is
    ///   refused with `403 Forbidden` in AWS's error shape ([`Incoming::reject_unverified`]):
    ///   `x-amzn-errortype` names the exception an AWS service sends (`InvalidSignatureException`,
    ///   `UnrecognizedClientException`, ...), `x-eventstream-error-kind` this project's kind, and
    ///   the JSON body's `message` is `<kind>: <detail>` (for example `request_expired: ...`):
    ///   no stream is accepted and nothing is echoed ([`MirrorOutcome::Unverified`]);
    /// - then the events' chain, seeded with the request's signature
    ///   ([`VerifiedRequest::event_verifier`](eventstream::sign::VerifiedRequest::event_verifier)),
    ///   each event's `:date` within the same window: a broken chain or an event dated outside
    ///   the window is answered with one `error` message, as with
    ///   [`with_signing`](Self::with_signing), which this replaces.
    ///
    /// The server's clock is the system's, or the one given with
    /// [`ServerBuilder::clock`] through [`with_server`](Self::with_server).
    ///
    /// ```
    /// use eventstream::sign::{Credentials, RequestVerifier, StaticSecrets};
    /// use eventstream_tokio::mirror::{Mirror, Secrets};
    /// use std::sync::Arc;
    ///
    /// let users: StaticSecrets = [
    ///     Credentials::new("AKIDALICE", "alice's secret"),
    ///     Credentials::new("AKIDBOB", "bob's secret"),
    /// ]
    /// .into_iter()
    /// .collect();
    /// let store: Secrets = Arc::new(users);
    /// let verifier = RequestVerifier::new(store, "us-east-1", "transcribe").with_max_skew(120);
    /// let mirror = Mirror::new().with_request_verifier(verifier);
    /// # drop(mirror);
    /// ```
    #[must_use]
    pub fn with_request_verifier(mut self, verifier: RequestVerifier<Secrets>) -> Mirror {
        self.request_verifier = Some(verifier);
        self
    }

    /// The frame limits of the messages received and sent (the default limits otherwise): what a
    /// client sends past them, signed or not, is answered with an `error` message that names
    /// them.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Mirror {
        self.limits = limits;
        self
    }

    /// Calls `f` with the report of every stream [`serve`](Self::serve) and
    /// [`serve_connection`](Self::serve_connection) finish serving (not of those given to
    /// [`serve_stream`](Self::serve_stream), which returns its report).
    #[must_use]
    pub fn on_stream_end(mut self, f: impl Fn(&MirrorReport) + Send + Sync + 'static) -> Mirror {
        self.on_stream_end = Some(Arc::new(f));
        self
    }

    /// The HTTP/2 settings of the connections it accepts, and their memory budgets (see
    /// [`ServerBuilder`]): every connection [`serve`](Self::serve) accepts shares `server`'s
    /// [`max_server_buffer`](ServerBuilder::max_server_buffer) budget, and a clone of `server`
    /// kept by the caller reads it with [`buffered_bytes`](ServerBuilder::buffered_bytes).
    #[must_use]
    pub fn with_server(mut self, server: ServerBuilder) -> Mirror {
        self.server = server;
        self
    }

    /// Serves every connection over TLS with `config` (see
    /// [`server_config_from_pem`](crate::tls::server_config_from_pem)), then HTTP/2 inside it.
    ///
    /// The TLS handshake runs in each connection's own task, within the
    /// [handshake timeout](ServerBuilder::handshake_timeout) together with the HTTP/2 preface,
    /// so a slow or silent client holds up no other. A failed TLS handshake (a client that
    /// distrusts the certificate, speaks cleartext, or offers ALPN without `h2`) closes that
    /// connection and is logged (an `info` event with the peer's address and rustls's reason);
    /// [`serve`](Self::serve) goes on accepting.
    ///
    /// ```no_run
    /// # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
    /// use eventstream_tokio::mirror::Mirror;
    ///
    /// let tls = eventstream_tokio::tls::server_config_from_pem(
    ///     &std::fs::read("server.crt")?,
    ///     &std::fs::read("server.key")?,
    /// )?;
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
    /// Mirror::new().with_tls(tls).serve(listener).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> Mirror {
        self.tls = Some(config);
        self
    }

    /// Serves every connection `listener` accepts, each in its own task, its streams
    /// concurrently, until the process ends.
    ///
    /// A failed `accept` does not end it. A connection that failed before it was accepted
    /// (aborted, reset, a network error) is skipped. When the process or the system is out of
    /// a resource (file descriptors: `EMFILE`, `ENFILE`; memory: `ENOBUFS`, `ENOMEM`), the
    /// failure is logged (a `warn` event, once per spell) and `accept` is retried every
    /// [`ACCEPT_BACKOFF`] (100 ms): the connections already open are served meanwhile, and
    /// new ones are accepted as soon as descriptors free up.
    ///
    /// # Errors
    ///
    /// Only a failure of the listener itself: it is not a listening socket any more (`EBADF`,
    /// `ENOTSOCK`, `EINVAL`).
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let mirror = Arc::new(self);
        // The failed attempts of the current spell out of resources.
        let mut failures = 0u64;
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => match AcceptFailure::of(&e) {
                    AcceptFailure::Connection => {
                        tracing::debug!(error = %e, "a connection failed before it was accepted");
                        continue;
                    }
                    AcceptFailure::Resources => {
                        if failures == 0 {
                            tracing::warn!(
                                "cannot accept connections: {e}; retrying every {:?} meanwhile",
                                ACCEPT_BACKOFF
                            );
                        } else {
                            tracing::debug!(error = %e, failures, "accept failed again");
                        }
                        failures += 1;
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                    AcceptFailure::Listener => {
                        tracing::error!("the listener failed: {e}");
                        return Err(e);
                    }
                },
            };
            if failures > 0 {
                tracing::info!("accepting connections again, after {failures} failed attempts");
                failures = 0;
            }
            // Events are small and latency matters more than packet count.
            let _ = tcp.set_nodelay(true);
            let mirror = mirror.clone();
            tokio::spawn(
                async move {
                    match mirror.serve_connection(tcp).await {
                        Ok(()) => {}
                        // A silent client, a dead peer: worth a line in the server's log.
                        Err(e @ Error::TimedOut(_)) => {
                            tracing::info!("connection from {peer} closed: {e}");
                        }
                        Err(e @ Error::Tls(_)) => {
                            tracing::info!("TLS handshake with {peer} failed: {e}");
                        }
                        Err(e) => tracing::debug!(error = %e, "connection ended with an error"),
                    }
                }
                .instrument(tracing::debug_span!("mirror_connection", %peer)),
            );
        }
    }

    /// Serves one connection: the TLS handshake first, [with TLS](Self::with_tls), then every
    /// stream in its own task, until the connection closes.
    ///
    /// # Errors
    ///
    /// The handshake's ([`Error::Tls`] for a failed TLS handshake) or the connection's failure.
    pub async fn serve_connection<T>(&self, io: T) -> Result<(), Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut connection = match &self.tls {
            None => self.server.handshake(io).await?,
            Some(tls) => self.server.handshake_tls(tls.clone(), io).await?,
        };
        while let Some(incoming) = connection.accept().await {
            let incoming = incoming?;
            let mirror = self.clone();
            tokio::spawn(async move {
                let report = mirror.serve_stream(incoming).await;
                tracing::debug!(?report, "stream served");
                if let Some(f) = &mirror.on_stream_end {
                    f(&report);
                }
            });
        }
        Ok(())
    }

    /// Serves one stream to its end and says how it went.
    pub async fn serve_stream(&self, incoming: Incoming) -> MirrorReport {
        let stream_id = incoming.stream_id();
        let mut report = MirrorReport {
            stream_id,
            echoed: 0,
            signed: self.signing.is_some() || self.request_verifier.is_some(),
            outcome: MirrorOutcome::Finished,
        };
        let verified = match &self.request_verifier {
            None => None,
            Some(verifier) => match incoming.verify(verifier) {
                Ok(verified) => Some(verified),
                Err(e) => {
                    report.outcome = match incoming.reject_unverified(&e).await {
                        Ok(()) => MirrorOutcome::Unverified(e),
                        Err(failed) => MirrorOutcome::Failed(failed),
                    };
                    return report;
                }
            },
        };
        let refusal = if incoming.request().method != Method::POST {
            Some((
                StatusCode::METHOD_NOT_ALLOWED,
                "an event stream is opened with POST\n",
            ))
        } else if !incoming.is_event_stream() {
            Some((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the content type must be application/vnd.amazon.eventstream\n",
            ))
        } else {
            None
        };
        if let Some((status, text)) = refusal {
            report.outcome = match incoming.reject(status, text).await {
                Ok(()) => MirrorOutcome::Rejected(status),
                Err(e) => MirrorOutcome::Failed(e),
            };
            return report;
        }
        let config = SessionConfig::new(Role::Server, Mode::Rpc)
            .with_limits(self.limits)
            .with_failures_reported_to_peer(true);
        let session =
            match (&verified, &self.signing) {
                (Some(verified), _) => {
                    Ok(Session::new(config).with_verifier(verified.event_verifier()))
                }
                (None, None) => Ok(Session::new(config).with_verifier(Unchecked::default())),
                (None, Some(params)) => match seed(incoming.request()) {
                    Ok(seed) => Ok(Session::new(config)
                        .with_verifier(SigV4Verifier::new(params.clone(), &seed))),
                    Err((code, text)) => Err((Session::new(config), code, text)),
                },
            };
        let (mut sender, receiver) = match session {
            Ok(session) => match incoming.accept(session) {
                Ok(halves) => halves,
                Err(e) => {
                    report.outcome = MirrorOutcome::Failed(e);
                    return report;
                }
            },
            Err((session, code, text)) => {
                // No chain to verify: say why, and end the response.
                report.outcome = match incoming.accept(session) {
                    Ok((mut sender, _receiver)) => match sender.send_error(code, text).await {
                        Ok(()) => MirrorOutcome::ErrorSent {
                            code: code.into(),
                            text: text.into(),
                        },
                        Err(e) => MirrorOutcome::Failed(e),
                    },
                    Err(e) => MirrorOutcome::Failed(e),
                };
                return report;
            }
        };
        report.outcome = echo(&mut sender, receiver, &mut report.echoed).await;
        report
    }
}

/// How long [`Mirror::serve`] waits before it calls `accept` again after the process or the
/// system ran out of a resource (file descriptors, memory).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a failed `accept` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AcceptFailure {
    /// One connection failed before it was accepted: go on with the next.
    Connection,
    /// Out of file descriptors or memory, or a failure not known to be permanent: wait, then
    /// try again.
    Resources,
    /// The listener itself is unusable.
    Listener,
}

impl AcceptFailure {
    fn of(e: &io::Error) -> AcceptFailure {
        use io::ErrorKind as K;
        match e.kind() {
            // accept(2): the pending connection's own errors (including what a firewall refused),
            // which Linux passes on, are to be treated like EAGAIN.
            K::ConnectionAborted
            | K::ConnectionReset
            | K::ConnectionRefused
            | K::Interrupted
            | K::WouldBlock
            | K::TimedOut
            | K::NetworkDown
            | K::NetworkUnreachable
            | K::HostUnreachable
            | K::PermissionDenied => AcceptFailure::Connection,
            // EINVAL: the socket is not listening.
            K::InvalidInput => AcceptFailure::Listener,
            _ => Self::of_errno(e.raw_os_error()),
        }
    }

    #[cfg(unix)]
    fn of_errno(errno: Option<i32>) -> AcceptFailure {
        match errno {
            Some(libc::EBADF | libc::ENOTSOCK | libc::EFAULT) => AcceptFailure::Listener,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Some(libc::EPROTO | libc::ENOPROTOOPT | libc::EHOSTDOWN | libc::ENONET) => {
                AcceptFailure::Connection
            }
            // EMFILE, ENFILE, ENOBUFS, ENOMEM and anything unknown.
            _ => AcceptFailure::Resources,
        }
    }

    #[cfg(not(unix))]
    fn of_errno(_errno: Option<i32>) -> AcceptFailure {
        AcceptFailure::Resources
    }
}

/// The seed of a signed stream, or the `error` message's code and text.
fn seed(request: &http::request::Parts) -> Result<String, (&'static str, &'static str)> {
    let Some(value) = request.headers.get(http::header::AUTHORIZATION) else {
        return Err((
            "missing_authorization",
            "a signed stream needs the Authorization header of the initial request: its \
             Signature= is the seed of the signing chain",
        ));
    };
    seed_from_authorization(value).map_err(|e| match e {
        SeedError::InvalidSignature => (
            "invalid_seed",
            "the Authorization header's Signature= is not 64 hex digits",
        ),
        _ => (
            "invalid_seed",
            "the Authorization header has no Signature= parameter",
        ),
    })
}

/// The receiver's next item if it is there without waiting.
fn ready_item(receiver: &mut Receiver) -> Option<Option<Result<SessionEvent, Error>>> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(receiver).poll_next(&mut cx) {
        Poll::Ready(item) => Some(item),
        Poll::Pending => None,
    }
}

/// Echoes what `receiver` yields through `sender` until the stream ends. The events that are
/// there together (one DATA frame's worth, say) are fed and then flushed together: their echoes
/// go out in as few DATA frames and writes as the client's frame size allows.
async fn echo(sender: &mut Sender, mut receiver: Receiver, echoed: &mut u64) -> MirrorOutcome {
    let mut fed = false;
    loop {
        let ready = if fed { ready_item(&mut receiver) } else { None };
        let item = match ready {
            Some(item) => item,
            None => {
                if fed {
                    fed = false;
                    match sender.flush().await {
                        // The session failed meanwhile: the receiver says how.
                        Ok(()) | Err(Error::Session(_)) => {}
                        Err(e) => return MirrorOutcome::Failed(e),
                    }
                }
                receiver.recv().await
            }
        };
        let Some(item) = item else { break };
        let sent = match item {
            Ok(SessionEvent::InitialRequest(m)) => {
                sender.send_initial_response(as_initial_response(m)).await
            }
            Ok(SessionEvent::Event(m)) => {
                fed = true;
                sender.feed(m).await
            }
            Ok(SessionEvent::Exception { message, .. }) => sender.send_exception(message).await,
            Ok(SessionEvent::Error { code, text, .. }) => sender.send_error(&code, &text).await,
            Ok(SessionEvent::End) => {
                return match sender.finish().await {
                    Ok(()) => MirrorOutcome::Finished,
                    Err(e) => MirrorOutcome::Failed(e),
                }
            }
            Ok(SessionEvent::Closed) => {
                return MirrorOutcome::Failed(Error::Send(SendError::Aborted))
            }
            Ok(_) => continue,
            Err(Error::Session(e)) => {
                // The session already answered with the error message and ended the response;
                // wait until both went out.
                let _ = sender.flush().await;
                return MirrorOutcome::ErrorSent {
                    code: e.kind().into(),
                    text: e.to_string(),
                };
            }
            Err(e) => return MirrorOutcome::Failed(e),
        };
        match sent {
            Ok(()) => *echoed += 1,
            // The session failed meanwhile: the receiver says how.
            Err(Error::Session(_)) => {}
            // The session refused to send what was received (a message without
            // `:message-type`, one that cannot be encoded within the limits): say so.
            Err(Error::Send(refused)) if refused.is_refusal() => {
                let code = refused.kind();
                let text = format!("the mirror cannot echo this message: {refused}");
                return match sender.send_error(code, &text).await {
                    Ok(()) => MirrorOutcome::ErrorSent {
                        code: code.into(),
                        text,
                    },
                    Err(e) => MirrorOutcome::Failed(e),
                };
            }
            Err(e) => return MirrorOutcome::Failed(e),
        }
    }
    // Unreachable: the receiver's last item returned above.
    MirrorOutcome::Finished
}

/// The initial request as the initial response: `:event-type` changed, every other header and
/// the payload the same.
fn as_initial_response(message: Message) -> Message {
    let (mut headers, payload) = message.into_parts();
    for header in headers.iter_mut().filter(|h| h.name() == EVENT_TYPE) {
        header.set_value(HeaderValue::from_static(INITIAL_RESPONSE));
    }
    Message::from_parts(headers, payload)
}

#[cfg(test)]
mod tests {
    use super::AcceptFailure;
    use std::io;

    /// Out of descriptors or memory: wait and retry; a connection's own failure: go on at once;
    /// a socket that is not listening: give up.
    #[test]
    fn accept_failures_are_classified() {
        let kind = |k: io::ErrorKind| AcceptFailure::of(&io::Error::from(k));
        assert_eq!(
            kind(io::ErrorKind::ConnectionAborted),
            AcceptFailure::Connection
        );
        assert_eq!(kind(io::ErrorKind::Interrupted), AcceptFailure::Connection);
        assert_eq!(kind(io::ErrorKind::InvalidInput), AcceptFailure::Listener);
        assert_eq!(kind(io::ErrorKind::Other), AcceptFailure::Resources);
        #[cfg(unix)]
        {
            let errno = |n: i32| AcceptFailure::of(&io::Error::from_raw_os_error(n));
            for resource in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
                assert_eq!(errno(resource), AcceptFailure::Resources, "{resource}");
            }
            for connection in [libc::ECONNABORTED, libc::EPERM, libc::EINTR] {
                assert_eq!(errno(connection), AcceptFailure::Connection, "{connection}");
            }
            for listener in [libc::EBADF, libc::ENOTSOCK, libc::EINVAL] {
                assert_eq!(errno(listener), AcceptFailure::Listener, "{listener}");
            }
        }
    }
}
