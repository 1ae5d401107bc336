//! One event stream over one HTTP/2 stream: the core [`Session`] shared by a [`Sender`] and a
//! [`Receiver`].
//!
//! Both halves lock the same `Mutex<Inner>` for the length of one synchronous step (a session
//! command, a poll of h2), never across an `.await`. Each half registers its waker there too, so
//! that what one half does (an abort, a failure, a reset) wakes the other.

use crate::budget::{whole_frames_len, Holding};
use crate::error::Error;
use bytes::{Buf, Bytes, BytesMut};
use eventstream::frame::Message;
use eventstream::session::{ResetCause, SendError, Session, SessionEvent, Transmit};
use eventstream::sign::SigningTime;
use futures_core::Stream;
use h2::{Reason, RecvStream, SendStream};
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::Span;

/// The most bytes of a non-200 response's body kept in [`Error::Status`].
pub const MAX_ERROR_BODY_LEN: usize = 64 * 1024;

/// The system clock in whole seconds, for signing and for clock-skew checks: the `SigningTime`
/// of the current second is computed once.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    cached: Option<SigningTime>,
}

impl Clock {
    /// The time now.
    pub(crate) fn now(&mut self) -> Result<SigningTime, Error> {
        let now = SystemTime::now();
        let secs = now
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok());
        match (self.cached, secs) {
            (Some(t), Some(secs)) if t.unix_seconds() == secs => Ok(t),
            _ => {
                let t = SigningTime::from_system_time(now).map_err(Error::Clock)?;
                self.cached = Some(t);
                Ok(t)
            }
        }
    }
}

/// Where our side of the HTTP/2 stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendState {
    /// Data may still be sent.
    Open,
    /// END_STREAM was handed to h2: our side is complete.
    Ended,
    /// RST_STREAM was sent (by us) or received.
    Reset,
}

/// The HTTP/2 reason of a reset the session asks for: CANCEL when this end gave up (an abort,
/// or the peer's exception or error), INTERNAL_ERROR when the session failed on the peer's input.
fn reason_for(cause: ResetCause) -> Reason {
    match cause {
        ResetCause::Failed => Reason::INTERNAL_ERROR,
        _ => Reason::CANCEL,
    }
}

/// The state both halves share.
pub(crate) struct Inner {
    session: Session,
    /// Our side of the h2 stream, until END_STREAM or RST_STREAM.
    send: Option<SendStream<Bytes>>,
    /// Wire bytes taken from the session and not yet handed to h2.
    out: BytesMut,
    /// The session asked for the half-close: END_STREAM goes with the last of `out`.
    finish_queued: bool,
    send_state: SendState,
    /// The stream's failure, reported to both halves.
    error: Option<Error>,
    sender_waker: Option<Waker>,
    receiver_waker: Option<Waker>,
    bytes_sent: u64,
    clock: Clock,
    span: Span,
}

impl Inner {
    /// Records the stream's failure (the first one wins, unless a later one explains it better)
    /// and wakes both halves; returns the failure to report.
    fn record(&mut self, err: Error) -> Error {
        match &self.error {
            Some(first) if !err.supersedes(first) => {}
            _ => {
                tracing::debug!(parent: &self.span, error = %err, "event stream failed");
                self.error = Some(err);
            }
        }
        self.wake_both();
        self.error
            .clone()
            .unwrap_or(Error::Config("no error recorded"))
    }

    fn wake_both(&mut self) {
        if let Some(w) = self.sender_waker.take() {
            w.wake();
        }
        if let Some(w) = self.receiver_waker.take() {
            w.wake();
        }
    }

    /// Takes everything the session wants to transmit: bytes into `out`, a half-close as
    /// `finish_queued`, a reset at once.
    fn collect(&mut self) {
        while let Some(t) = self.session.poll_transmit(&mut self.out) {
            match t {
                Transmit::Finish => self.finish_queued = true,
                Transmit::Reset(cause) => self.reset_stream(reason_for(cause)),
                _ => {}
            }
        }
    }

    /// Sends RST_STREAM with `reason`.
    fn reset_stream(&mut self, reason: Reason) {
        self.out.clear();
        self.finish_queued = false;
        if let Some(mut send) = self.send.take() {
            tracing::debug!(parent: &self.span, %reason, "resetting the stream");
            send.send_reset(reason);
        }
        self.send_state = SendState::Reset;
        self.wake_both();
    }

    /// After the session took input: a reset it asks for (the peer's exception or error ends
    /// our open side) goes out at once.
    fn after_input(&mut self) {
        self.collect();
    }

    /// After the application took the session's terminal event: what it asks of the transport
    /// goes out. A failure resets the stream or, at a server reporting failures, sends the
    /// `error` message and the half-close. That reply is handed to h2 without waiting for
    /// capacity: the failed session accepts no further commands, so what is buffered is at
    /// most one message and the reply.
    fn after_terminal(&mut self) {
        self.collect();
        if self.session.error().is_some()
            && self.send_state == SendState::Open
            && (self.finish_queued || !self.out.is_empty())
        {
            let data = self.out.split().freeze();
            let end = self.finish_queued;
            if let Some(send) = self.send.as_mut() {
                self.bytes_sent += data.len() as u64;
                match send.send_data(data, end) {
                    Ok(()) if end => self.ended(),
                    Ok(()) => {}
                    Err(e) => {
                        let e = Error::from_h2(e);
                        self.record(e);
                    }
                }
            }
        }
        self.wake_both();
    }

    /// END_STREAM was handed to h2. The `SendStream` is kept: dropping the receiver early
    /// still resets the stream.
    fn ended(&mut self) {
        self.finish_queued = false;
        self.send_state = SendState::Ended;
        tracing::trace!(parent: &self.span, "our side is complete");
    }

    /// What a refused or failed send reports: the stream's failure if it has one.
    fn closed_error(&self) -> Error {
        self.error
            .clone()
            .unwrap_or(Error::Send(SendError::Aborted))
    }

    /// Hands `out` to h2 as its send capacity allows, then END_STREAM if the session asked for
    /// it. Ready when everything was handed over.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            match self.send_state {
                SendState::Reset => return Poll::Ready(Err(self.closed_error())),
                SendState::Ended => return Poll::Ready(Ok(())),
                SendState::Open => {}
            }
            if self.out.is_empty() && !self.finish_queued {
                return Poll::Ready(Ok(()));
            }
            let Some(send) = self.send.as_mut() else {
                return Poll::Ready(Err(self.closed_error()));
            };
            if self.out.is_empty() {
                if let Err(e) = send.send_data(Bytes::new(), true) {
                    return Poll::Ready(Err(self.fail_send(e)));
                }
                self.ended();
                return Poll::Ready(Ok(()));
            }
            send.reserve_capacity(self.out.len());
            let capacity = send.capacity();
            if capacity == 0 {
                match send.poll_capacity(cx) {
                    Poll::Ready(Some(Ok(_))) => continue,
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(self.fail_send(e))),
                    Poll::Ready(None) => {
                        // The stream can no longer send: find out why.
                        let err = match send.poll_reset(cx) {
                            Poll::Ready(Ok(reason)) => Error::Reset { reason },
                            Poll::Ready(Err(e)) => Error::from_h2(e),
                            Poll::Pending => self.closed_error(),
                        };
                        self.send = None;
                        self.send_state = SendState::Reset;
                        return Poll::Ready(Err(self.record(err)));
                    }
                    Poll::Pending => {
                        // A reset from the peer ends the wait too.
                        if let Poll::Ready(res) = send.poll_reset(cx) {
                            let err = match res {
                                Ok(reason) => Error::Reset { reason },
                                Err(e) => Error::from_h2(e),
                            };
                            self.send = None;
                            self.send_state = SendState::Reset;
                            return Poll::Ready(Err(self.record(err)));
                        }
                        self.sender_waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                }
            }
            let n = capacity.min(self.out.len());
            let last = n == self.out.len() && self.finish_queued;
            let chunk = self.out.split_to(n).freeze();
            if let Err(e) = send.send_data(chunk, last) {
                return Poll::Ready(Err(self.fail_send(e)));
            }
            self.bytes_sent += n as u64;
            tracing::trace!(parent: &self.span, bytes = n, end_stream = last, "sent");
            if last {
                self.ended();
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// An h2 error on our side of the stream: it is closed, and the stream failed.
    fn fail_send(&mut self, e: h2::Error) -> Error {
        self.send = None;
        self.send_state = SendState::Reset;
        self.out.clear();
        self.finish_queued = false;
        self.record(Error::from_h2(e))
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
                session,
                send: Some(send),
                out: BytesMut::new(),
                finish_queued: false,
                send_state: SendState::Open,
                error: None,
                sender_waker: None,
                receiver_waker: None,
                bytes_sent: 0,
                clock: Clock::default(),
                span: span.clone(),
            }),
            span,
            stream_id,
        })
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
/// Each command takes the time from the system clock for signing, queues the (signed) frame in
/// the core session, and then waits until its bytes have been handed to h2 within the stream's
/// send capacity: a peer that does not read holds the sender back, and at most one message is
/// buffered here. A command whose future is dropped before it completes has still been accepted
/// by the session; its bytes go out with the next command (or with [`flush`](Self::flush)).
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
    async fn command(
        &mut self,
        f: impl FnOnce(&mut Session, SigningTime) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        let leftover = {
            let inner = self.shared.lock();
            if let Some(e) = &inner.error {
                return Err(e.clone());
            }
            !inner.out.is_empty() || inner.finish_queued
        };
        if leftover {
            // Bytes of an earlier command whose future was dropped go first.
            self.flush().await?;
        }
        {
            let _enter = self.shared.span.enter();
            let mut inner = self.shared.lock();
            if let Some(e) = &inner.error {
                return Err(e.clone());
            }
            let now = inner.clock.now()?;
            f(&mut inner.session, now).map_err(Error::from_send)?;
            inner.collect();
        }
        self.flush().await
    }

    /// Sends an event (see [`Session::send`]); waits until its bytes are handed to h2.
    ///
    /// # Errors
    ///
    /// The stream's failure, or [`Error::Send`] when the session refuses the command.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.command(|s, t| s.send(message, t)).await
    }

    /// Sends the RPC initial request (client; see [`Session::send_initial_request`]).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_initial_request(&mut self, message: Message) -> Result<(), Error> {
        self.command(|s, t| s.send_initial_request(message, t))
            .await
    }

    /// Sends the RPC initial response (server; see [`Session::send_initial_response`]).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_initial_response(&mut self, message: Message) -> Result<(), Error> {
        self.command(|s, t| s.send_initial_response(message, t))
            .await
    }

    /// Ends the stream with a modeled error (server; see [`Session::send_exception`]): the
    /// message, then END_STREAM.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_exception(&mut self, message: Message) -> Result<(), Error> {
        self.command(|s, t| s.send_exception(message, t)).await
    }

    /// Ends the stream with an unmodeled error (server; see [`Session::send_error`]): the
    /// `error` message, then END_STREAM.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_error(&mut self, code: &str, text: &str) -> Result<(), Error> {
        self.command(|s, t| s.send_error(code, text, t)).await
    }

    /// Ends our side cleanly: the (signed) end frame, then END_STREAM. Completes when both were
    /// handed to h2. Calling it again after it completed is a refused command
    /// ([`SendError::Finished`]).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn finish(&mut self) -> Result<(), Error> {
        self.command(|s, t| s.finish(t)).await
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
        let mut inner = self.shared.lock();
        abort(&mut inner);
    }
}

/// Aborts the session and resets the stream (even when our side is complete: the receiver
/// stops reading).
fn abort(inner: &mut Inner) {
    if inner.send_state == SendState::Reset {
        return;
    }
    inner.session.abort();
    inner.collect();
    if inner.send_state != SendState::Reset {
        // The session had already handed out its half-close.
        inner.reset_stream(Reason::CANCEL);
    }
    inner.wake_both();
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _enter = self.shared.span.enter();
        let mut inner = self.shared.lock();
        if inner.send_state == SendState::Open {
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
    /// Waiting for the response head.
    Waiting(h2::client::ResponseFuture),
    /// A non-200 response: reading the start of its body for the error.
    ErrorBody {
        parts: http::response::Parts,
        body: BytesMut,
    },
    /// The head arrived (or, at a server, there is none to wait for).
    Ready,
}

/// The receiving half of an event stream: a [`Stream`] of the session's events.
///
/// Items are, in order: `InitialRequest` (server) or `InitialResponse` (client), `Event`s, and a
/// last item that is one of `Ok(End)`, `Ok(Exception { .. })`, `Ok(Error { .. })`,
/// `Ok(Closed)` (this end aborted), or `Err(_)`: a failure of the session
/// ([`Error::Session`]; [`SessionEvent::Failed`] is never yielded), of the stream (a reset, a
/// lost connection) or, at a client, a non-200 response ([`Error::Status`]). Then `None`.
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
    /// Bytes taken from h2 that the session has not consumed yet.
    pending: Bytes,
    /// Chunks taken from h2 while the stream waited for the budget (so that h2 still reports a
    /// reset or a lost connection), fed after `pending`; their capacity is not released.
    backlog: VecDeque<Bytes>,
    /// Bytes the session consumed whose capacity was not released yet.
    consumed: usize,
    eof: bool,
    done: bool,
    received: u64,
    released: u64,
    /// A server stream's share of the buffered-frame budgets.
    budget: Option<Holding>,
}

impl Receiver {
    /// A client's receiver: the response head comes first.
    pub(crate) fn client(shared: Arc<Shared>, response: h2::client::ResponseFuture) -> Receiver {
        Receiver::new(shared, Head::Waiting(response), None, None)
    }

    /// A server's receiver: the request body, within the server's budgets when it has them.
    pub(crate) fn server(
        shared: Arc<Shared>,
        body: RecvStream,
        budget: Option<Holding>,
    ) -> Receiver {
        Receiver::new(shared, Head::Ready, Some(body), budget)
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
            pending: Bytes::new(),
            backlog: VecDeque::new(),
            consumed: 0,
            eof: false,
            done: false,
            received: 0,
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
        poll_fn(|cx| self.poll_head(cx)).await?;
        match &self.head {
            Some(head) => Ok(head),
            None => Err(self
                .shared
                .lock()
                .error
                .clone()
                .unwrap_or(Error::Config("a server stream has no response head"))),
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

    /// Releases the capacity of the bytes the session consumed.
    fn release(&mut self) {
        if self.consumed == 0 {
            return;
        }
        if let Some(recv) = self.recv.as_mut() {
            // Fails only when the stream is gone, and then nothing is owed.
            let _ = recv.flow_control().release_capacity(self.consumed);
        }
        self.released += self.consumed as u64;
        self.consumed = 0;
    }

    /// Drops the bytes not fed to the session, as consumed.
    fn discard_input(&mut self) {
        self.consumed += self.pending.len();
        self.pending = Bytes::new();
        self.consumed += self.backlog.drain(..).map(|b| b.len()).sum::<usize>();
    }

    /// This half is over: release what is owed, give the budget back and let go of the h2
    /// stream.
    fn close(&mut self) {
        self.discard_input();
        self.release();
        self.recv = None;
        self.budget = None;
        self.done = true;
        self.shared.lock().receiver_waker = None;
    }

    /// How many bytes of `pending` may be fed to `session` now, within the budget; at least one
    /// when ready. Pending when the budget is full (the budget wakes `cx`).
    fn admit(&mut self, session: &Session, cx: &mut Context<'_>) -> Poll<usize> {
        let Some(budget) = self.budget.as_mut() else {
            return Poll::Ready(self.pending.len());
        };
        if session.buffered_input_len() > 0 {
            // In the middle of a frame: at most all of it may be buffered.
            return budget.poll_charge(self.pending.len(), cx);
        }
        // At a frame boundary: whole frames are handed on without being buffered; only the
        // start of a frame cut short needs the budget.
        let whole = whole_frames_len(&self.pending);
        let tail = self.pending.len() - whole;
        if tail == 0 {
            return Poll::Ready(whole);
        }
        match budget.poll_charge(tail, cx) {
            Poll::Ready(n) => Poll::Ready(whole + n),
            Poll::Pending if whole > 0 => Poll::Ready(whole),
            Poll::Pending => Poll::Pending,
        }
    }

    /// While the stream waits for the budget: takes what h2 has for it into `backlog` (within
    /// the window: no capacity is released), so that h2 keeps this task's waker and reports a
    /// reset or a lost connection. Ready only with such a failure.
    fn poll_backlog(&mut self, cx: &mut Context<'_>) -> Poll<h2::Error> {
        let Some(recv) = self.recv.as_mut() else {
            return Poll::Pending;
        };
        loop {
            match recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    self.received += data.len() as u64;
                    tracing::trace!(bytes = data.len(), "received while waiting for the budget");
                    self.backlog.push_back(data);
                }
                // The end of the body is found again once the backlog is fed.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(e),
            }
        }
    }

    /// Waits for the response head (client) and reads a non-200 response's body.
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            match &mut self.head_state {
                Head::Ready => return Poll::Ready(Ok(())),
                Head::Waiting(response) => match ready!(Pin::new(response).poll(cx)) {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        tracing::debug!(parent: &self.shared.span, status = %parts.status, "response");
                        self.recv = Some(body);
                        if parts.status == http::StatusCode::OK {
                            self.head = Some(parts);
                            self.head_state = Head::Ready;
                        } else {
                            self.head_state = Head::ErrorBody {
                                parts,
                                body: BytesMut::new(),
                            };
                        }
                    }
                    Err(e) => {
                        self.head_state = Head::Ready;
                        let err = self.shared.lock().record(Error::from_h2(e));
                        self.close();
                        return Poll::Ready(Err(err));
                    }
                },
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
                        std::mem::replace(&mut self.head_state, Head::Ready)
                    else {
                        continue;
                    };
                    let err = Error::Status {
                        status: parts.status,
                        headers: Box::new(parts.headers.clone()),
                        body: body.freeze(),
                    };
                    self.head = Some(parts);
                    let err = {
                        let mut inner = self.shared.lock();
                        let err = inner.record(err);
                        // Nothing we send can matter now.
                        if inner.send_state == SendState::Open {
                            inner.reset_stream(Reason::CANCEL);
                        }
                        err
                    };
                    self.close();
                    return Poll::Ready(Err(err));
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
        if let Err(e) = ready!(this.poll_head(cx)) {
            return Poll::Ready(Some(Err(e)));
        }
        let shared = this.shared.clone();
        let mut inner = shared.lock();
        let mut stalled = false;
        loop {
            if let Some(event) = inner.session.poll_event() {
                if !event.is_terminal() {
                    return Poll::Ready(Some(Ok(event)));
                }
                let item = match event {
                    SessionEvent::Failed(e) => {
                        inner.record(Error::Session(e.clone()));
                        Err(Error::Session(e))
                    }
                    other => Ok(other),
                };
                inner.after_terminal();
                drop(inner);
                this.close();
                return Poll::Ready(Some(item));
            }
            // Every message the session consumed bytes for has been delivered (a frame being
            // assembled aside): give the window back for them, and the budget for the frames
            // the application has taken and come back from.
            if let Some(budget) = this.budget.as_mut() {
                budget.set(inner.session.buffered_input_len());
            }
            this.release();
            if this.pending.is_empty() {
                if let Some(next) = this.backlog.pop_front() {
                    this.pending = next;
                }
            }
            if !this.pending.is_empty() {
                let admitted = match this.admit(&inner.session, cx) {
                    Poll::Ready(n) => n,
                    Poll::Pending => {
                        // Over the budget: feed nothing, release nothing, until a credit wakes
                        // this task; a failure of the stream or an abort wakes it too.
                        if let Poll::Ready(e) = this.poll_backlog(cx) {
                            // What was received and not fed is moot on a dead stream.
                            let err = inner.record(Error::from_h2(e));
                            drop(inner);
                            this.close();
                            return Poll::Ready(Some(Err(err)));
                        }
                        inner.receiver_waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                };
                let now = match inner.clock.now() {
                    Ok(now) => now,
                    Err(e) => {
                        let err = inner.record(e);
                        drop(inner);
                        this.close();
                        return Poll::Ready(Some(Err(err)));
                    }
                };
                let before = inner.session.buffered_input_len();
                let n = if admitted < this.pending.len() {
                    inner
                        .session
                        .handle_bytes(&this.pending.slice(..admitted), now)
                } else {
                    inner.session.handle_bytes(&this.pending, now)
                };
                this.pending.advance(n);
                this.consumed += n;
                if let Some(budget) = this.budget.as_mut() {
                    // Keep charged what the session buffers now and, when a buffered frame was
                    // completed, the bytes of the messages it became until they are delivered;
                    // whole frames taken at a boundary cost nothing. Give back the rest of the
                    // grant.
                    let after = inner.session.buffered_input_len();
                    budget.set(if before == 0 { after } else { before + n });
                }
                inner.after_input();
                if n > 0 || !stalled {
                    // With an empty event queue the session always consumes something; never
                    // spin if it did not.
                    stalled = n == 0;
                    continue;
                }
                let err = inner.record(Error::Config("the session stopped consuming input"));
                drop(inner);
                this.close();
                return Poll::Ready(Some(Err(err)));
            }
            if this.eof {
                // Unreachable while the session keeps its contract (a terminal event follows the
                // end of input); never spin on it.
                drop(inner);
                this.close();
                return Poll::Ready(None);
            }
            let Some(recv) = this.recv.as_mut() else {
                drop(inner);
                this.close();
                return Poll::Ready(None);
            };
            match recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    this.received += data.len() as u64;
                    tracing::trace!(bytes = data.len(), "received");
                    this.pending = data;
                }
                Poll::Ready(None) => {
                    this.eof = true;
                    match inner.clock.now() {
                        Ok(now) => inner.session.handle_end_of_input(now),
                        Err(e) => {
                            let err = inner.record(e);
                            drop(inner);
                            this.close();
                            return Poll::Ready(Some(Err(err)));
                        }
                    }
                    inner.after_input();
                }
                Poll::Ready(Some(Err(e))) => {
                    let err = inner.record(Error::from_h2(e));
                    drop(inner);
                    this.close();
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Pending => {
                    inner.receiver_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
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
        self.discard_input();
        self.release();
        let mut inner = self.shared.lock();
        if !inner.session.is_terminated() && inner.send_state == SendState::Open {
            tracing::debug!("receiver dropped before the end of the stream: aborting");
            abort(&mut inner);
        }
        // With our side complete, h2 resets the stream once both halves are gone and what we
        // sent has gone out; until then what the peer sends is discarded.
        inner.receiver_waker = None;
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
