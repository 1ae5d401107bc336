//! One event stream over one HTTP/2 stream: the core [`Driver`] shared by a [`Sender`] and a
//! [`Receiver`].
//!
//! Both halves lock the same `Mutex<Inner>` for the length of one synchronous step (a command,
//! a poll of h2), never across an `.await`. Each half registers its waker there too, so that what
//! one half does (an abort, a failure, a reset) wakes the other. The driver decides what goes on
//! the wire and what the application is told; this module only moves its bytes to and from h2
//! and tells it when the transport fails ([`Driver::handle_reset`]).

use crate::budget::Holding;
use crate::clock::Clock;
use crate::error::Error;
use bytes::{Bytes, BytesMut};
use eventstream::frame::Message;
use eventstream::session::{
    Close, Command, Driver, ResetCause, SendError, Session, SessionError, SessionEvent,
};
use eventstream::sign::SigningTime;
use futures_core::Stream;
use h2::{Reason, RecvStream, SendStream};
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};
use tracing::Span;

/// The bytes [`Sender::feed`] lets accumulate before it hands them to h2: 64 KiB, four DATA
/// frames of HTTP/2's smallest maximum frame size, so a burst of small events costs a few
/// writes instead of one each, and little memory.
pub const FEED_LIMIT: usize = 64 * 1024;

/// The most bytes of a non-200 response's body kept in [`Error::Status`].
pub const MAX_ERROR_BODY_LEN: usize = 64 * 1024;

/// The HTTP/2 reason of a reset the session asks for: CANCEL when this end gave up (an abort,
/// or the peer's exception or error), INTERNAL_ERROR when the session failed on the peer's input.
fn reason_for(cause: ResetCause) -> Reason {
    match cause {
        ResetCause::Failed => Reason::INTERNAL_ERROR,
        _ => Reason::CANCEL,
    }
}

/// The bytes handed to the driver that its session has not taken yet (its window): not released
/// to the peer, whose flow-control window bounds them.
fn window_len(driver: &Driver) -> usize {
    driver.buffered_input_len() - driver.session().buffered_input_len()
}

/// The state both halves share.
pub(crate) struct Inner {
    driver: Driver,
    /// Our side of the h2 stream, until it is reset (by us or by the transport). Kept after
    /// END_STREAM, so that dropping the receiver early still resets the stream.
    send: Option<SendStream<Bytes>>,
    /// How the transport failed, which the session knows only as a reset
    /// ([`SessionError::Reset`]): the application is told this instead, with its HTTP/2 detail.
    transport: Option<Error>,
    sender_waker: Option<Waker>,
    receiver_waker: Option<Waker>,
    bytes_sent: u64,
    clock: Clock,
    /// The time of the commands whose bytes are still in the driver (a batch of
    /// [`Sender::feed`]s): one clock read for all of them.
    batch_time: Option<SigningTime>,
    span: Span,
    /// Held while the HTTP/2 stream is open at this end (a client pool's count of a
    /// connection's streams): dropped once our side is reset, or half-closed with the receiver's
    /// last item taken, or when both halves are gone.
    lease: Option<Box<dyn Send>>,
    /// The receiver took its last item.
    receiver_done: bool,
    /// The peer reset the stream with `NO_ERROR` while we were sending: it has sent its whole
    /// response and wants no more of the request (RFC 9113, section 8.1). Our sending is over;
    /// what it sent is still delivered.
    stopped_by_peer: bool,
}

impl Inner {
    /// The time for the session's input: the clock's, or any time when the session uses none
    /// (no signer that signs with the time, no verifier).
    fn now(&mut self) -> Result<SigningTime, Error> {
        if self.driver.uses_time() {
            self.clock.now()
        } else {
            Ok(SigningTime::EPOCH)
        }
    }

    /// The time for a command: read once for the commands whose bytes go out together (those
    /// applied while earlier ones are still in the driver), and not at all when the session
    /// uses none.
    fn command_time(&mut self) -> Result<SigningTime, Error> {
        match self.batch_time {
            Some(t) if !self.driver.output().is_empty() => Ok(t),
            _ => {
                let now = self.now()?;
                self.batch_time = Some(now);
                Ok(now)
            }
        }
    }

    fn wake_both(&mut self) {
        if let Some(w) = self.sender_waker.take() {
            w.wake();
        }
        if let Some(w) = self.receiver_waker.take() {
            w.wake();
        }
    }

    /// Lets the lease go once the HTTP/2 stream is over at this end: our side reset (by us or
    /// the transport), or half-closed after the receiver's last item.
    fn release_if_over(&mut self) {
        if self.send.is_none() || (self.driver.is_closed() && self.receiver_done) {
            self.lease = None;
        }
    }

    /// The transport failed with `err` (a reset, GOAWAY, a lost connection, an h2 error, a
    /// non-200 response), or the stream cannot go on (the clock): the session is told, and fails
    /// with a reset after the events it received; our side of the h2 stream is reset (CANCEL)
    /// unless it is closed already, and both halves are woken. Returns what to report.
    fn fail(&mut self, err: Error) -> Error {
        tracing::debug!(parent: &self.span, error = %err, "event stream failed");
        if let Some(mut send) = self.send.take() {
            if !self.driver.is_closed() {
                send.send_reset(Reason::CANCEL);
            }
        }
        self.driver.handle_reset(err.to_string());
        match &self.transport {
            Some(first) if !err.supersedes(first) => {}
            _ => self.transport = Some(err),
        }
        self.release_if_over();
        self.wake_both();
        self.closed_error()
    }

    /// What the application is told of the session's failure: a reset is the transport's
    /// failure, with its HTTP/2 detail.
    fn failure(&self, err: SessionError) -> Error {
        match (&err, &self.transport) {
            (SessionError::Reset { .. }, Some(transport)) => transport.clone(),
            _ => Error::Session(err),
        }
    }

    /// What a refused command is reported as: a refusal that reports a failure is that failure,
    /// and after the transport failed, the transport's failure.
    fn refused(&self, err: SendError) -> Error {
        match (err, &self.transport) {
            (SendError::Failed(e), _) => self.failure(e),
            (SendError::Aborted, Some(transport)) => transport.clone(),
            (other, _) => Error::Send(other),
        }
    }

    /// Why our side of the stream can send nothing more: the transport's failure, the session's,
    /// or an abort.
    fn closed_error(&self) -> Error {
        match (&self.transport, self.driver.session().error()) {
            (Some(transport), _) => transport.clone(),
            (None, Some(e)) => Error::Session(e.clone()),
            (None, None) => Error::Send(SendError::Aborted),
        }
    }

    /// Sends RST_STREAM for the session's `cause`.
    fn reset_stream(&mut self, cause: ResetCause) {
        if let Some(mut send) = self.send.take() {
            let reason = reason_for(cause);
            tracing::debug!(parent: &self.span, %reason, "resetting the stream");
            send.send_reset(reason);
        }
        self.release_if_over();
        self.wake_both();
    }

    /// Our side could not send, for `err`. A peer that resets the stream with `NO_ERROR` has
    /// sent its whole response and asks us to stop sending (RFC 9113, section 8.1), which must
    /// not cost the response: only our sending ends (later commands return `err`), and the
    /// receiver still delivers what arrived before h2 reports the reset to it. Any other
    /// failure fails the stream at once. Returns what to report.
    fn send_failed(&mut self, err: Error) -> Error {
        let stop = matches!(err, Error::Reset { reason } if reason == Reason::NO_ERROR);
        if !stop || self.receiver_done {
            return self.fail(err);
        }
        tracing::debug!(parent: &self.span, "the peer wants no more of the request (NO_ERROR): reading its response");
        self.send = None;
        self.stopped_by_peer = true;
        if self.transport.is_none() {
            self.transport = Some(err.clone());
        }
        self.release_if_over();
        self.wake_both();
        err
    }

    /// Hands `data` to h2, with END_STREAM when `end`; a failure fails the stream.
    fn send_data(&mut self, data: Bytes, end: bool) -> Result<(), Error> {
        let Some(send) = self.send.as_mut() else {
            return Err(self.closed_error());
        };
        let n = data.len();
        if let Err(e) = send.send_data(data, end) {
            // h2 may say only that the stream cannot send: its reset, or the connection's end,
            // says why.
            let mut cx = Context::from_waker(Waker::noop());
            let err = match send.poll_reset(&mut cx) {
                Poll::Ready(Ok(reason)) => Error::Reset { reason },
                Poll::Ready(Err(gone)) if gone.is_io() || gone.is_remote() => Error::from_h2(gone),
                _ => Error::from_h2(e),
            };
            return Err(self.send_failed(err));
        }
        self.bytes_sent += n as u64;
        tracing::trace!(parent: &self.span, bytes = n, end_stream = end, "sent");
        Ok(())
    }

    /// Hands up to `max` bytes of the driver's output to h2 and, once it is all out, closes our
    /// side as the driver says: END_STREAM with the last bytes, or RST_STREAM. True once there is
    /// nothing left to do.
    fn write(&mut self, max: usize) -> Result<bool, Error> {
        let data = self.driver.take_output(max);
        let close = self.driver.poll_close();
        let end = close == Some(Close::Finish);
        if !data.is_empty() || end {
            self.send_data(data, end)?;
        }
        if let Some(Close::Reset(cause)) = close {
            self.reset_stream(cause);
            return Err(self.closed_error());
        }
        if end {
            self.release_if_over();
        }
        Ok(close.is_some() || self.driver.output().is_empty())
    }

    /// Carries out what the session asks of the transport when the receiver fed it input or
    /// took an event, without waiting for the sender: a reset at once (the peer's exception or
    /// error ended the stream, the application learned of a failure), and after the terminal
    /// event (`terminal`) whatever the session still sends and its close, such as a server's
    /// `error` report and the half-close. That is handed to h2 without waiting for capacity:
    /// what is pending then is at most one message (a command whose future was dropped) and
    /// the session's answer.
    fn answer(&mut self, terminal: bool) {
        if terminal || self.driver.pending_reset().is_some() {
            // A failure is the session's now, and reported by it.
            let _ = self.write(if terminal { usize::MAX } else { 0 });
            self.wake_both();
        }
    }

    /// Hands the driver's output to h2 as its send capacity allows, then closes our side as the
    /// driver says. Ready when everything was handed over.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            let pending = self.driver.output().len();
            let Some(send) = self.send.as_mut() else {
                // Reset: by us (an abort, the session's answer) or by the transport.
                return Poll::Ready(Err(self.closed_error()));
            };
            let capacity = match pending {
                0 => 0,
                _ => {
                    send.reserve_capacity(pending);
                    send.capacity()
                }
            };
            if pending > 0 && capacity == 0 {
                let err = match send.poll_capacity(cx) {
                    Poll::Ready(Some(Ok(_))) => continue,
                    Poll::Ready(Some(Err(e))) => Error::from_h2(e),
                    // The stream can no longer send, or a reset from the peer ends the wait.
                    polled => match send.poll_reset(cx) {
                        Poll::Ready(Ok(reason)) => Error::Reset { reason },
                        Poll::Ready(Err(e)) => Error::from_h2(e),
                        Poll::Pending if polled.is_ready() => {
                            Error::Internal("h2 ended the stream's sending side without a reset")
                        }
                        Poll::Pending => {
                            self.sender_waker = Some(cx.waker().clone());
                            return Poll::Pending;
                        }
                    },
                };
                return Poll::Ready(Err(self.send_failed(err)));
            }
            match self.write(capacity) {
                Ok(false) => {}
                done => return Poll::Ready(done.map(drop)),
            }
        }
    }
}

/// The state of one stream, shared by its two halves.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    span: Span,
    stream_id: u32,
}

impl Shared {
    pub(crate) fn new(
        session: Session,
        send: SendStream<Bytes>,
        span: Span,
        stream_id: u32,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            inner: Mutex::new(Inner {
                driver: Driver::new(session),
                send: Some(send),
                transport: None,
                sender_waker: None,
                receiver_waker: None,
                bytes_sent: 0,
                clock: Clock::default(),
                batch_time: None,
                span: span.clone(),
                lease: None,
                receiver_done: false,
                stopped_by_peer: false,
            }),
            span,
            stream_id,
        })
    }

    /// Makes the stream take its time from `clock` (a server's injected clock, see
    /// [`ServerBuilder::clock`](crate::ServerBuilder::clock)) instead of the system's.
    pub(crate) fn set_clock(&self, clock: Clock) {
        self.lock().clock = clock;
    }

    /// Holds `lease` while the HTTP/2 stream is open at this end (see [`Inner::release_if_over`]).
    pub(crate) fn hold(&self, lease: Box<dyn Send>) {
        self.lock().lease = Some(lease);
    }

    /// Locks the state. A panic while it was held leaves it consistent enough to report and
    /// reset: every step either completes or returns early.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending half of an event stream: session commands whose bytes go out on the HTTP/2
/// stream as its flow control allows.
///
/// Each command takes the time from the system clock for signing (unless the session signs
/// without it), queues the (signed) frame in the core session, and then waits until its bytes
/// have been handed to h2 within the stream's send capacity: a peer that does not read holds the
/// sender back, and at most one message is buffered here ([`feed`](Self::feed) queues up to
/// [`FEED_LIMIT`] bytes more, to send several events in one DATA frame). A command whose future is dropped before it completes has still been accepted
/// by the session; its bytes go out with the next command (or with [`flush`](Self::flush)).
///
/// A failure of the stream found while sending (the peer's `RST_STREAM`, `GOAWAY`, a lost
/// connection) is told to the session, as one found while receiving is: the command returns it
/// with its HTTP/2 detail, and the [`Receiver`] yields it after the events the session had
/// received.
///
/// # Dropping
///
/// Dropping the sender after [`finish`](Self::finish) completed, or after the stream ended
/// otherwise (an exception or an error sent, a failure, an abort), does nothing. Dropping it
/// earlier aborts the stream like [`abort`](Self::abort): `RST_STREAM(CANCEL)`, and the
/// [`Receiver`] ends with [`SessionEvent::Closed`] (unless it already had its last event). A
/// signed stream is never half-closed without its end frame.
pub struct Sender {
    shared: Arc<Shared>,
}

impl Sender {
    pub(crate) fn new(shared: Arc<Shared>) -> Sender {
        Sender { shared }
    }

    /// The HTTP/2 stream id.
    pub fn stream_id(&self) -> u32 {
        self.shared.stream_id
    }

    /// The wire bytes handed to h2 so far.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.lock().bytes_sent
    }

    /// Runs a session command at the current time, then flushes.
    async fn command(&mut self, command: Command) -> Result<(), Error> {
        self.queue(command, 0).await
    }

    /// Runs a session command at the current time once fewer than `limit` bytes are pending
    /// (all of them when `limit` is 0), then hands the driver's output to h2 if at least `limit`
    /// bytes are pending (always when 0). The command is not run if the future is dropped
    /// while it waits for the earlier bytes.
    async fn queue(&mut self, command: Command, limit: usize) -> Result<(), Error> {
        let shared = &self.shared;
        let mut command = Some(command);
        poll_fn(move |cx| {
            let _enter = shared.span.enter();
            let mut inner = shared.lock();
            if command.is_some() {
                let earlier = match limit {
                    // Bytes (or the close) of an earlier command whose future was dropped.
                    0 => inner.driver.wants_output(),
                    _ => {
                        inner.driver.output_len() >= limit || inner.driver.pending_reset().is_some()
                    }
                };
                if earlier {
                    ready!(inner.poll_flush(cx))?;
                }
                let Some(command) = command.take() else {
                    return Poll::Ready(Ok(()));
                };
                let now = inner.command_time()?;
                if let Err(e) = inner.driver.apply(command, now) {
                    return Poll::Ready(Err(inner.refused(e)));
                }
            }
            if limit == 0 || inner.driver.output_len() >= limit {
                inner.poll_flush(cx)
            } else {
                Poll::Ready(Ok(()))
            }
        })
        .await
    }

    /// Sends an event (see [`Session::send`]); waits until its bytes are handed to h2.
    ///
    /// # Errors
    ///
    /// The stream's failure, or [`Error::Send`] when the session refuses the command.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.command(Command::Send(message)).await
    }

    /// Queues an event (see [`Session::send`]) to go out with the events queued after it, in as
    /// few HTTP/2 DATA frames and writes as the peer's frame size allows: the pending bytes are
    /// handed to h2 once [`FEED_LIMIT`] of them are pending, or by [`flush`](Self::flush),
    /// [`send`](Self::send) or any other command. Waits, as `send` does, while h2's send
    /// capacity leaves `FEED_LIMIT` bytes or more pending: at most `FEED_LIMIT` bytes and one
    /// message are buffered here.
    ///
    /// For an application that has several events at hand (a burst of audio, an echo of what
    /// arrived together): `feed` each, then `flush`. A single event is sent at once with `send`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        self.queue(Command::Send(message), FEED_LIMIT).await
    }

    /// Sends the RPC initial request (client; see [`Session::send_initial_request`]).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_initial_request(&mut self, message: Message) -> Result<(), Error> {
        self.command(Command::InitialRequest(message)).await
    }

    /// Sends the RPC initial response (server; see [`Session::send_initial_response`]).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_initial_response(&mut self, message: Message) -> Result<(), Error> {
        self.command(Command::InitialResponse(message)).await
    }

    /// Ends the stream with a modeled error (server; see [`Session::send_exception`]): the
    /// message, then END_STREAM.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_exception(&mut self, message: Message) -> Result<(), Error> {
        self.command(Command::Exception(message)).await
    }

    /// Ends the stream with an unmodeled error (server; see [`Session::send_error`]): the
    /// `error` message, then END_STREAM.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_error(&mut self, code: &str, text: &str) -> Result<(), Error> {
        let (code, text) = (code.into(), text.into());
        self.command(Command::Error { code, text }).await
    }

    /// Ends our side cleanly: the (signed) end frame, then END_STREAM. Completes when both were
    /// handed to h2. Calling it again after it completed is a refused command
    /// ([`SendError::Finished`]).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn finish(&mut self) -> Result<(), Error> {
        self.command(Command::Finish).await
    }

    /// Waits until every byte the session queued was handed to h2 (and END_STREAM, after
    /// `finish`).
    ///
    /// # Errors
    ///
    /// The stream's failure.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| {
            let _enter = self.shared.span.enter();
            self.shared.lock().poll_flush(cx)
        })
        .await
    }

    /// Aborts the stream at once: `RST_STREAM(CANCEL)`, queued bytes dropped, and the
    /// [`Receiver`] ends with [`SessionEvent::Closed`] (unless it already had its last event).
    /// Later commands return [`Error::Send`] with [`SendError::Aborted`]. Idempotent.
    pub fn abort(&mut self) {
        let _enter = self.shared.span.enter();
        abort(&mut self.shared.lock());
    }
}

/// Aborts the session, and resets the stream as it asks (even when our side is complete: the
/// receiver stops reading).
fn abort(inner: &mut Inner) {
    // An abort signs nothing: any time does, even when the clock is unusable.
    let now = inner.clock.now().unwrap_or(SigningTime::EPOCH);
    // Never refused.
    let _ = inner.driver.apply(Command::Abort, now);
    inner.answer(false);
    inner.wake_both();
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _enter = self.shared.span.enter();
        let mut inner = self.shared.lock();
        // After the peer stopped our sending, an abort would only cost the receiver its response.
        if !inner.driver.is_closed() && !inner.stopped_by_peer {
            tracing::debug!("sender dropped before the end of the stream: aborting");
            abort(&mut inner);
        }
        inner.sender_waker = None;
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("stream_id", &self.shared.stream_id)
            .finish_non_exhaustive()
    }
}

/// The client's wait for the response head.
enum Head {
    /// Waiting for the response head, until the deadline when there is one.
    Waiting(
        h2::client::ResponseFuture,
        Option<Pin<Box<tokio::time::Sleep>>>,
    ),
    /// A non-200 response: reading the start of its body for the error.
    ErrorBody {
        parts: http::response::Parts,
        body: BytesMut,
    },
    /// The head arrived, or its wait failed.
    Done,
    /// A server's receiver: there is no head to wait for.
    Server,
}

/// The receiving half of an event stream: a [`Stream`] of the session's events.
///
/// Items are, in order: `InitialRequest` (server) or `InitialResponse` (client), `Event`s, and a
/// last item that is one of `Ok(End)`, `Ok(Exception { .. })`, `Ok(Error { .. })`,
/// `Ok(Closed)` (this end aborted), or `Err(_)`: a failure of the session
/// ([`Error::Session`]; [`SessionEvent::Failed`] is never yielded), of the stream (a reset, a
/// lost connection) or, at a client, a non-200 response ([`Error::Status`]). Then `None`.
///
/// A failure of the stream reaches the session like any other input: it is the last item, after
/// the events the session received before it, reported with its HTTP/2 detail
/// ([`Error::Reset`], [`Error::GoAway`], [`Error::ConnectionLost`], [`Error::H2`]).
///
/// # Flow control
///
/// HTTP/2 receive capacity is released only for bytes whose messages the application has taken
/// from this stream (plus, at most, one frame's worth of a frame being assembled), so a slow
/// consumer holds the peer back by the stream's window instead of growing memory.
///
/// At a server, the frames being assembled are also charged to the connection's and the
/// server's budgets of buffered frame bytes
/// ([`ServerBuilder::max_connection_buffer`](crate::ServerBuilder::max_connection_buffer),
/// [`max_server_buffer`](crate::ServerBuilder::max_server_buffer)). Past them the stream stops
/// receiving (it feeds the session nothing more and releases no capacity, so the peer is held
/// back by the stream's window) until other streams' frames are delivered or their streams end;
/// a reset, an abort or a lost connection still ends it at once.
///
/// # Dropping
///
/// Dropping the receiver after its last item does nothing. Dropping it earlier while our side is
/// still open aborts the stream (`RST_STREAM(CANCEL)`; the [`Sender`]'s later commands fail with
/// [`SendError::Aborted`]): nobody would read what the peer sends, and a peer that cannot send
/// may stop reading. Once our side is complete ([`Sender::finish`] done, or an exception or an
/// error sent), dropping it only discards what the peer still sends: what we sent still goes
/// out, and h2 resets the stream once the sender is gone too (`NO_ERROR` from a server, as
/// HTTP/2 asks after a complete response).
pub struct Receiver {
    shared: Arc<Shared>,
    head_state: Head,
    head: Option<http::response::Parts>,
    recv: Option<RecvStream>,
    /// Chunks taken from h2 and not handed to the driver yet: held back by the budget, and taken
    /// while waiting for it, so that h2 still reports a reset or a lost connection. Their
    /// capacity is not released.
    held: VecDeque<Bytes>,
    done: bool,
    received: u64,
    /// The bytes handed to the driver.
    fed: u64,
    released: u64,
    /// A server stream's share of the buffered-frame budgets.
    budget: Option<Holding>,
}

impl Receiver {
    /// A client's receiver: the response head comes first, within `timeout` from now when
    /// there is one.
    pub(crate) fn client(
        shared: Arc<Shared>,
        response: h2::client::ResponseFuture,
        timeout: Option<std::time::Duration>,
    ) -> Receiver {
        let deadline = timeout.map(|limit| Box::pin(tokio::time::sleep(limit)));
        Receiver::new(shared, Head::Waiting(response, deadline), None, None)
    }

    /// A server's receiver: the request body, within the server's budgets when it has them.
    pub(crate) fn server(
        shared: Arc<Shared>,
        body: RecvStream,
        budget: Option<Holding>,
    ) -> Receiver {
        Receiver::new(shared, Head::Server, Some(body), budget)
    }

    fn new(
        shared: Arc<Shared>,
        head_state: Head,
        recv: Option<RecvStream>,
        budget: Option<Holding>,
    ) -> Receiver {
        Receiver {
            shared,
            head_state,
            head: None,
            recv,
            held: VecDeque::new(),
            done: false,
            received: 0,
            fed: 0,
            released: 0,
            budget,
        }
    }

    /// The HTTP/2 stream id.
    pub fn stream_id(&self) -> u32 {
        self.shared.stream_id
    }

    /// The response head (client), once it arrived; `None` at a server.
    pub fn response_head(&self) -> Option<&http::response::Parts> {
        self.head.as_ref()
    }

    /// Waits for the response head (client). Does not consume any event.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] for a status other than 200, or the stream's failure;
    /// [`Error::Config`] at a server, which has no response head to wait for. A failure is
    /// delivered once to the application: when this method returns it, the stream then ends
    /// without it (once the stream yielded it, this method returns the head that came, or the
    /// failure again).
    pub async fn response(&mut self) -> Result<&http::response::Parts, Error> {
        if let Head::Server = self.head_state {
            return Err(Error::Config("a server stream has no response head"));
        }
        poll_fn(|cx| self.poll_head(cx)).await;
        let ok = matches!(&self.head, Some(head) if head.status == http::StatusCode::OK);
        if !ok && !self.done {
            // The head's failure is the stream's last item (no event comes before the head).
            if let Some(Err(e)) = self.recv().await {
                return Err(e);
            }
        }
        match &self.head {
            Some(head) => Ok(head),
            None => Err(self.shared.lock().closed_error()),
        }
    }

    /// The next event: as [`Stream::poll_next`], as an `async fn`.
    pub async fn recv(&mut self) -> Option<Result<SessionEvent, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The DATA bytes received so far.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// The bytes received and not yet released to the peer's flow-control window: the adapter's
    /// and the session's buffers for this stream (h2 holds at most a window's worth more).
    pub fn unreleased_bytes(&self) -> u64 {
        self.received - self.released
    }

    /// Releases capacity up to `total` bytes in all.
    fn release_to(&mut self, total: u64) {
        let Some(owed) = total.checked_sub(self.released).filter(|&n| n > 0) else {
            return;
        };
        if let Some(recv) = self.recv.as_mut() {
            // Fails only when the stream is gone, and then nothing is owed.
            let _ = recv.flow_control().release_capacity(owed as usize);
        }
        self.released = total;
    }

    /// This half is over: what was received and not consumed is discarded, its capacity
    /// released; the budget goes back and the h2 stream is let go.
    fn close(&mut self) {
        self.held.clear();
        self.release_to(self.received);
        self.recv = None;
        self.budget = None;
        self.done = true;
        let mut inner = self.shared.lock();
        inner.receiver_waker = None;
        inner.receiver_done = true;
        inner.release_if_over();
    }

    /// Takes the next DATA chunk from h2 into `held`; `None` at the end of the body.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<(), h2::Error>>> {
        let Some(recv) = self.recv.as_mut() else {
            return Poll::Ready(None);
        };
        let data = match ready!(recv.poll_data(cx)) {
            Some(Ok(data)) => data,
            Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            None => return Poll::Ready(None),
        };
        self.received += data.len() as u64;
        tracing::trace!(bytes = data.len(), "received");
        if !data.is_empty() {
            self.held.push_back(data);
        }
        Poll::Ready(Some(Ok(())))
    }

    /// Moves input to the driver: bytes held back by the budget, then from h2; the end of the
    /// body; a failure of the stream. Ready when something moved, pending when nothing can.
    fn poll_input(&mut self, inner: &mut Inner, cx: &mut Context<'_>) -> Poll<()> {
        if self.held.is_empty() {
            match ready!(self.poll_data(cx)) {
                Some(Ok(())) if self.held.is_empty() => return Poll::Ready(()),
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    inner.fail(Error::from_h2(e));
                    return Poll::Ready(());
                }
                None => {
                    match inner.now() {
                        Ok(now) => inner.driver.handle_eof(now),
                        Err(e) => {
                            inner.fail(e);
                        }
                    }
                    inner.answer(false);
                    return Poll::Ready(());
                }
            }
        }
        // The window is empty here: what the driver buffers is the frame being assembled.
        let before = inner.driver.buffered_input_len();
        let (Some(chunk), budget) = (self.held.front_mut(), self.budget.as_mut()) else {
            return Poll::Ready(());
        };
        let admitted = match budget {
            None => chunk.len(),
            Some(budget) => match budget.poll_admit(chunk, before, cx) {
                Poll::Ready(n) => n,
                // Over the budget: feed nothing, release nothing, until a credit wakes this
                // task. Meanwhile take what h2 has (within the window), so that a failure of the
                // stream, or an abort, wakes it too; the end of the body is found again later.
                Poll::Pending => loop {
                    match self.poll_data(cx) {
                        Poll::Ready(Some(Ok(()))) => {}
                        Poll::Ready(Some(Err(e))) => {
                            inner.fail(Error::from_h2(e));
                            return Poll::Ready(());
                        }
                        Poll::Ready(None) | Poll::Pending => return Poll::Pending,
                    }
                },
            },
        };
        let now = match inner.now() {
            Ok(now) => now,
            Err(e) => {
                inner.fail(e);
                return Poll::Ready(());
            }
        };
        let data = chunk.split_to(admitted);
        if chunk.is_empty() {
            self.held.pop_front();
        }
        inner.driver.handle_bytes(data, now);
        self.fed += admitted as u64;
        if let Some(budget) = self.budget.as_mut() {
            // The driver's window is not charged: it is not released, so flow control bounds it.
            let window = window_len(&inner.driver);
            let assembling = inner.driver.buffered_input_len() - window;
            budget.fed(before, admitted - window, assembling);
        }
        inner.answer(false);
        Poll::Ready(())
    }

    /// Waits for the response head (client) and reads a non-200 response's body; a failure of
    /// either goes to the session. Ready once the head arrived or failed.
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match &mut self.head_state {
                Head::Done | Head::Server => return Poll::Ready(()),
                Head::Waiting(response, deadline) => {
                    let Poll::Ready(response) = Pin::new(response).poll(cx) else {
                        if deadline
                            .as_mut()
                            .is_some_and(|d| d.as_mut().poll(cx).is_ready())
                        {
                            // No answer (or, on a connection whose server allows no stream, not
                            // even sent): the stream is reset.
                            self.head_state = Head::Done;
                            self.shared.lock().fail(Error::TimedOut(
                                "no response head within the response timeout",
                            ));
                            continue;
                        }
                        return Poll::Pending;
                    };
                    self.head_state = Head::Done;
                    match response {
                        Ok(response) => {
                            let (parts, body) = response.into_parts();
                            tracing::debug!(parent: &self.shared.span, status = %parts.status, "response");
                            self.recv = Some(body);
                            if parts.status == http::StatusCode::OK {
                                self.head = Some(parts);
                            } else {
                                let body = BytesMut::new();
                                self.head_state = Head::ErrorBody { parts, body };
                            }
                        }
                        Err(e) => {
                            self.shared.lock().fail(Error::from_h2(e));
                        }
                    }
                }
                Head::ErrorBody { body, .. } => {
                    if let Some(recv) = self.recv.as_mut() {
                        while body.len() < MAX_ERROR_BODY_LEN {
                            match ready!(recv.poll_data(cx)) {
                                Some(Ok(data)) => {
                                    let _ = recv.flow_control().release_capacity(data.len());
                                    let room = MAX_ERROR_BODY_LEN - body.len();
                                    body.extend_from_slice(&data[..data.len().min(room)]);
                                }
                                Some(Err(_)) | None => break,
                            }
                        }
                    }
                    let Head::ErrorBody { parts, body } =
                        std::mem::replace(&mut self.head_state, Head::Done)
                    else {
                        continue;
                    };
                    let err = Error::Status {
                        status: parts.status,
                        headers: Box::new(parts.headers.clone()),
                        body: body.freeze(),
                    };
                    self.head = Some(parts);
                    // Nothing we send can matter now: the stream is reset.
                    self.shared.lock().fail(err);
                }
            }
        }
    }
}

impl Stream for Receiver {
    type Item = Result<SessionEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let span = this.shared.span.clone();
        let _enter = span.enter();
        ready!(this.poll_head(cx));
        let shared = this.shared.clone();
        let mut inner = shared.lock();
        loop {
            if let Some(event) = inner.driver.poll_event() {
                let terminal = event.is_terminal();
                inner.answer(terminal);
                if !terminal {
                    return Poll::Ready(Some(Ok(event)));
                }
                let item = match event {
                    SessionEvent::Failed(e) => Err(inner.failure(e)),
                    other => Ok(other),
                };
                drop(inner);
                this.close();
                return Poll::Ready(Some(item));
            }
            // Every event was taken, so the session consumed everything fed (a frame being
            // assembled aside): give the window back for it, and the budget for the frames the
            // application has taken and come back from.
            if let Some(budget) = this.budget.as_mut() {
                budget.set(inner.driver.buffered_input_len());
            }
            this.release_to(this.fed - window_len(&inner.driver) as u64);
            if !inner.driver.wants_input() {
                // Unreachable while the driver keeps its contract (with no event to take, it
                // wants input until its terminal event); never spin on it.
                let err = inner.fail(Error::Internal(
                    "the stream has no event and wants no input",
                ));
                drop(inner);
                this.close();
                return Poll::Ready(Some(Err(err)));
            }
            if this.poll_input(&mut inner, cx).is_pending() {
                inner.receiver_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let span = self.shared.span.clone();
        let _enter = span.enter();
        {
            let mut inner = self.shared.lock();
            if !inner.driver.session().is_terminated() && !inner.driver.is_closed() {
                tracing::debug!("receiver dropped before the end of the stream: aborting");
                abort(&mut inner);
            }
            // With our side complete, h2 resets the stream once both halves are gone and what
            // we sent has gone out; until then what the peer sends is discarded.
            inner.receiver_waker = None;
        }
        self.release_to(self.received);
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("stream_id", &self.shared.stream_id)
            .field("done", &self.done)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}
