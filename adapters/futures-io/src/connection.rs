//! The session driver: one event stream over a duplex byte stream.

use crate::error::{now, Error};
use crate::reader::DEFAULT_READ_BUFFER_SIZE;
use bytes::{Buf, BytesMut};
use core::future::poll_fn;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use eventstream::frame::Message;
use eventstream::session::{SendError, Session, SessionError, SessionEvent, Transmit};
use eventstream::sign::SigningTime;
use futures_core::stream::{FusedStream, Stream};
use futures_io::{AsyncRead, AsyncWrite};
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How a [`Connection`] half-closes or closes its byte stream; see
/// [`Connection::with_shutdown`].
type ShutdownFn<W> = Box<dyn Fn(&W, Shutdown) -> io::Result<()> + Send>;

/// The writing half and the bytes the session handed out that are not on the wire yet.
struct WriteHalf<W> {
    writer: W,
    buf: BytesMut,
    /// A `Finish` or `Reset` to carry out once `buf` is written.
    after: Option<Transmit>,
    needs_flush: bool,
    /// Carries out `Finish` and `Reset`; `poll_close` when absent.
    shutdown: Option<ShutdownFn<W>>,
}

impl<W: AsyncWrite + Unpin> WriteHalf<W> {
    /// Writes `buf` out, flushes, then carries out `Finish` (half-close) and `Reset` (close) with
    /// the shutdown function, or `poll_close` without one. Resumable: unwritten bytes stay in
    /// `buf` when the task is suspended, cancelled or fails.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if matches!(self.after, Some(Transmit::Reset(_))) {
            self.buf.clear();
        }
        while !self.buf.is_empty() {
            match ready!(Pin::new(&mut self.writer).poll_write(cx, &self.buf)) {
                Ok(0) => return Poll::Ready(Err(io::Error::from(ErrorKind::WriteZero).into())),
                Ok(n) => {
                    self.buf.advance(n);
                    self.needs_flush = true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
        if self.needs_flush {
            ready!(Pin::new(&mut self.writer).poll_flush(cx))?;
            self.needs_flush = false;
        }
        if let Some(after) = self.after {
            let closed = match &self.shutdown {
                Some(shutdown) => shutdown(
                    &self.writer,
                    match after {
                        Transmit::Reset(_) => Shutdown::Both,
                        _ => Shutdown::Write,
                    },
                ),
                None => ready!(Pin::new(&mut self.writer).poll_close(cx)),
            };
            self.after = None;
            match closed {
                // The peer was quicker.
                Err(e) if e.kind() != ErrorKind::NotConnected => return Poll::Ready(Err(e.into())),
                _ => {}
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// What both halves share: the session, and the writing half when nobody is writing.
struct State<W> {
    session: Session,
    /// `None` while a half writes: the writer is checked out, so that no lock is held across an
    /// `.await`.
    io: Option<WriteHalf<W>>,
    /// The session has output that the half holding the writer must write before giving it back.
    wanted: bool,
}

type Shared<W> = Arc<Mutex<State<W>>>;

fn lock<W>(shared: &Mutex<State<W>>) -> MutexGuard<'_, State<W>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A write in progress: the writing half, checked out of the shared state. Dropping it (a
/// cancelled send) gives the writer back with its unwritten bytes, which the next write sends
/// first, so cancellation never tears a frame.
struct Checkout<W> {
    shared: Shared<W>,
    io: Option<WriteHalf<W>>,
}

impl<W> Drop for Checkout<W> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            lock(&self.shared).io = Some(io);
        }
    }
}

/// Writes everything the session wants on the wire: bytes, then the half-close or the reset.
/// `Ready(Ok(false))` when the other half holds the writer: it writes this output too before it
/// lets go.
fn poll_drive<W: AsyncWrite + Unpin>(
    shared: &Shared<W>,
    slot: &mut Option<Checkout<W>>,
    cx: &mut Context<'_>,
) -> Poll<Result<bool, Error>> {
    loop {
        let checkout = match slot {
            Some(checkout) => checkout,
            None => {
                let mut st = lock(shared);
                let State {
                    session,
                    io,
                    wanted,
                } = &mut *st;
                let Some(mut io) = io.take() else {
                    *wanted = true;
                    return Poll::Ready(Ok(false));
                };
                *wanted = false;
                while let Some(t) = session.poll_transmit(&mut io.buf) {
                    if !matches!(t, Transmit::Data(_)) {
                        io.after = Some(t);
                    }
                }
                drop(st);
                slot.insert(Checkout {
                    shared: shared.clone(),
                    io: Some(io),
                })
            }
        };
        let result = match &mut checkout.io {
            Some(io) => ready!(io.poll_write_out(cx)),
            None => Ok(()),
        };
        let io = checkout.io.take();
        *slot = None;
        let mut st = lock(shared);
        st.io = io;
        if result.is_err() || !st.wanted {
            return Poll::Ready(result.map(|()| true));
        }
    }
}

/// One event stream over a duplex byte stream: the plain-socket transport, one stream per
/// connection, under any runtime whose sockets implement [`AsyncRead`] and [`AsyncWrite`]
/// (async-std, smol, async-net, …).
///
/// The core [`Session`] owns every rule (sequencing, signing, verification, the end of each
/// side); the connection only moves its bytes:
///
/// - commands ([`send`](Self::send), [`finish`](Self::finish), [`abort`](Self::abort), …) call
///   the session, then write out what [`Session::poll_transmit`] hands over, and carry out its
///   `Finish` and `Reset` with [`AsyncWrite::poll_close`] (for smol's `TcpStream`:
///   `shutdown(Write)`) or the function given to [`with_shutdown`](Self::with_shutdown)
///   (needed for async-std, whose `poll_close` only flushes);
/// - the connection is a [`Stream`] of the session's events: it reads into a fixed buffer and
///   feeds the session, keeping what it did not consume (its event queue was full) and reading
///   nothing more until the application has taken the events, so a slow consumer holds the peer
///   back and memory stays bounded. The end of the input goes to
///   [`Session::handle_end_of_input`]: a partial frame is `truncated`, a missing signed end frame
///   `missing_end_frame`.
///
/// Events come out as the session yields them, except [`SessionEvent::Failed`], which comes out
/// as `Err(`[`Error::Session`]`)`. A failure and the peer's exception or error come out once the
/// session's answer to them (a reset, or a server's `error` message) was written. The stream
/// ends after the terminal event.
///
/// To send and receive at the same time, from one task with `join`/`select` or from two tasks,
/// [`split`](Self::split) it into a [`Sender`] and a [`Receiver`]. They share the session behind
/// a mutex that is never held across an `.await`. Sends are cancel-safe as far as the wire is
/// concerned: a send dropped halfway keeps its unwritten bytes for the next write.
///
/// ```
/// use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
/// use eventstream_futures_io::Connection;
/// use futures::StreamExt;
///
/// smol::block_on(async {
///     let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let server = smol::spawn(async move {
///         let (socket, _) = listener.accept().await?;
///         let mut conn = Connection::new(socket, Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding)));
///         let ping = conn.next_event().await?;
///         conn.send(EventBuilder::new("Pong").build()).await?;
///         conn.finish().await?;
///         assert_eq!(conn.next_event().await?, Some(SessionEvent::End));
///         Ok::<_, eventstream_futures_io::Error>(ping)
///     });
///
///     let socket = smol::net::TcpStream::connect(addr).await?;
///     let mut conn = Connection::new(socket, Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding)));
///     conn.send(EventBuilder::new("Ping").build()).await?;
///     conn.finish().await?; // shutdown(Write) (after the signed end frame when signing)
///     let events: Vec<_> = conn.collect().await;
///     assert!(matches!(&events[0], Ok(SessionEvent::Event(m)) if m.header_str(":event-type") == Some("Pong")));
///     assert!(matches!(events[1], Ok(SessionEvent::End)));
///     assert!(matches!(server.await?, Some(SessionEvent::Event(_))));
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection<R, W> {
    sender: Sender<W>,
    receiver: Receiver<R, W>,
}

impl<T: AsyncRead + AsyncWrite + Clone + Unpin> Connection<T, T> {
    /// Drives `session` over `io`, a byte stream whose clones share one socket (async-std's and
    /// smol's `TcpStream` and `UnixStream`): one clone reads, the other writes. For a stream that
    /// cannot be cloned, split it (`futures::io::AsyncReadExt::split`) and use
    /// [`from_halves`](Connection::from_halves).
    pub fn new(io: T, session: Session) -> Self {
        Self::from_halves(io.clone(), io, session)
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Connection<R, W> {
    /// Drives `session` over a reading half and a writing half of one byte stream.
    pub fn from_halves(reader: R, writer: W, session: Session) -> Self {
        let shared = Arc::new(Mutex::new(State {
            session,
            io: Some(WriteHalf {
                writer,
                buf: BytesMut::new(),
                after: None,
                needs_flush: false,
                shutdown: None,
            }),
            wanted: false,
        }));
        Connection {
            sender: Sender {
                shared: shared.clone(),
            },
            receiver: Receiver {
                shared,
                reader,
                buf: vec![0; DEFAULT_READ_BUFFER_SIZE].into_boxed_slice(),
                start: 0,
                end: 0,
                eof: false,
                end_signalled: false,
                done: false,
                after_drive: None,
                slot: None,
            },
        }
    }

    /// Reads at most `size` bytes at a time (at least 1; 64 KiB by default).
    #[must_use]
    pub fn with_read_buffer_size(mut self, size: usize) -> Self {
        self.receiver = self.receiver.with_read_buffer_size(size);
        self
    }

    /// Half-closes (`Shutdown::Write`, for [`finish`](Self::finish) and the end of an exception
    /// or error) and closes (`Shutdown::Both`, for [`abort`](Self::abort) and failures) the byte
    /// stream with `shutdown` instead of [`AsyncWrite::poll_close`].
    ///
    /// Needed where `poll_close` does not shut the socket down: async-std's `TcpStream` and
    /// `UnixStream` only flush there (their clones share one socket, closed when the last one is
    /// dropped), so the peer would never see the end of our side:
    ///
    /// ```no_run
    /// # use eventstream::session::{Mode, Role, Session, SessionConfig};
    /// # async fn f(socket: async_std::net::TcpStream) {
    /// # let session = Session::new(SessionConfig::new(Role::Client, Mode::Rpc));
    /// let conn = eventstream_futures_io::Connection::new(socket, session)
    ///     .with_shutdown(|socket, how| socket.shutdown(how));
    /// # }
    /// ```
    ///
    /// smol's (async-net's) `TcpStream::poll_close` shuts the writing half down, so it needs
    /// nothing, though `with_shutdown` also lets a reset close the reading half.
    #[must_use]
    pub fn with_shutdown(
        self,
        shutdown: impl Fn(&W, Shutdown) -> io::Result<()> + Send + 'static,
    ) -> Self {
        if let Some(io) = lock(&self.sender.shared).io.as_mut() {
            io.shutdown = Some(Box::new(shutdown));
        }
        self
    }

    /// Sends an event; see [`Sender::send`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.sender.send(message).await
    }

    /// Sends the RPC initial request; see [`Sender::send_initial_request`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub async fn send_initial_request(&mut self, message: Message) -> Result<(), Error> {
        self.sender.send_initial_request(message).await
    }

    /// Sends the RPC initial response; see [`Sender::send_initial_response`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub async fn send_initial_response(&mut self, message: Message) -> Result<(), Error> {
        self.sender.send_initial_response(message).await
    }

    /// Ends the stream with an exception; see [`Sender::send_exception`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub async fn send_exception(&mut self, message: Message) -> Result<(), Error> {
        self.sender.send_exception(message).await
    }

    /// Ends the stream with an error message; see [`Sender::send_error`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub async fn send_error(&mut self, code: &str, text: &str) -> Result<(), Error> {
        self.sender.send_error(code, text).await
    }

    /// Ends our side: the signed end frame when signing, then close the writer; see [`Sender::finish`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub async fn finish(&mut self) -> Result<(), Error> {
        self.sender.finish().await
    }

    /// Aborts the stream and closes the writer; see [`Sender::abort`].
    ///
    /// # Errors
    ///
    /// See [`Sender::abort`].
    pub async fn abort(&mut self) -> Result<(), Error> {
        self.sender.abort().await
    }

    /// Writes out whatever the session has queued; see [`Sender::flush`].
    ///
    /// # Errors
    ///
    /// See [`Sender::flush`].
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.sender.flush().await
    }

    /// The next event from the peer; see [`Receiver::next_event`].
    ///
    /// # Errors
    ///
    /// See [`Receiver::next_event`].
    pub async fn next_event(&mut self) -> Result<Option<SessionEvent>, Error> {
        self.receiver.next_event().await
    }

    /// Runs `f` on the session, for what the connection does not wrap (its configuration, its
    /// error, commands with a time of the caller's choice; then [`flush`](Self::flush)).
    pub fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        self.sender.with_session(f)
    }

    /// Splits the connection into a half that sends and a half that receives.
    pub fn split(self) -> (Sender<W>, Receiver<R, W>) {
        (self.sender, self.receiver)
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Stream for Connection<R, W> {
    type Item = Result<SessionEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.get_mut().receiver).poll_next(cx)
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> FusedStream for Connection<R, W> {
    fn is_terminated(&self) -> bool {
        self.receiver.is_terminated()
    }
}

impl<R, W> fmt::Debug for Connection<R, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("sender", &self.sender)
            .field("receiver", &self.receiver)
            .finish()
    }
}

/// The sending half of a [`Connection`].
///
/// Every command calls the session, then writes its output out before it completes (unless the
/// [`Receiver`] is writing at that moment, after a failure: it then writes that output too).
/// Signing times come from the system clock.
pub struct Sender<W> {
    shared: Shared<W>,
}

impl<W: AsyncWrite + Unpin> Sender<W> {
    async fn command(
        &mut self,
        f: impl FnOnce(&mut Session, SigningTime) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        let time = now()?;
        let result = f(&mut lock(&self.shared).session, time);
        // Even a refused command may follow a failure whose reset is not on the wire yet.
        let flushed = self.flush().await;
        result?;
        flushed
    }

    /// Sends an event (see [`Session::send`]), signed now, and writes it out.
    ///
    /// # Errors
    ///
    /// [`Error::Send`] when the session refuses it (nothing was queued), [`Error::Io`] when the
    /// writer fails (what was not written is kept and retried by the next command).
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

    /// Ends the stream with a modeled error (server; see [`Session::send_exception`]), then
    /// closes the writer.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_exception(&mut self, message: Message) -> Result<(), Error> {
        self.command(|s, t| s.send_exception(message, t)).await
    }

    /// Ends the stream with an unmodeled error (server; see [`Session::send_error`]), then
    /// closes the writer.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_error(&mut self, code: &str, text: &str) -> Result<(), Error> {
        self.command(|s, t| s.send_error(code, text, t)).await
    }

    /// Ends our side cleanly: the (signed) end frame, then the half-close (see
    /// [`Connection::with_shutdown`]). The peer's side stays open: keep receiving until its end.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn finish(&mut self) -> Result<(), Error> {
        self.command(|s, t| s.finish(t)).await
    }

    /// Aborts the stream: queued bytes are dropped and the stream is closed (`poll_close`, or
    /// `Shutdown::Both` with [`Connection::with_shutdown`]); the session's terminal event is
    /// [`SessionEvent::Closed`]. Idempotent. (A byte stream has no reset: the peer sees its input
    /// end. On a signed stream the missing end frame tells it apart from a clean end; an unsigned
    /// stream has no end frame, so there an abort between frames looks like a clean end.)
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when closing fails.
    pub async fn abort(&mut self) -> Result<(), Error> {
        lock(&self.shared).session.abort();
        self.flush().await
    }

    /// Writes out whatever the session has queued, for commands issued through
    /// [`with_session`](Self::with_session).
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub async fn flush(&mut self) -> Result<(), Error> {
        let mut slot = None;
        poll_fn(|cx| poll_drive(&self.shared, &mut slot, cx)).await?;
        Ok(())
    }

    /// Runs `f` on the session (see [`Connection::with_session`]).
    pub fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        f(&mut lock(&self.shared).session)
    }
}

impl<W> fmt::Debug for Sender<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The receiving half of a [`Connection`]: a [`Stream`] of the session's events.
pub struct Receiver<R, W> {
    shared: Shared<W>,
    reader: R,
    buf: Box<[u8]>,
    /// `buf[start..end]`: read and not yet consumed by the session.
    start: usize,
    end: usize,
    eof: bool,
    end_signalled: bool,
    done: bool,
    /// A terminal item to yield once the session's answer to it (a reset, a server's error
    /// message) is on the wire.
    after_drive: Option<Result<SessionEvent, Error>>,
    slot: Option<Checkout<W>>,
}

enum Step {
    Event(SessionEvent),
    Failed(SessionError),
    Continue,
    Read,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Receiver<R, W> {
    /// Reads at most `size` bytes at a time (at least 1; 64 KiB by default). Bytes read and not
    /// yet consumed are kept.
    #[must_use]
    pub fn with_read_buffer_size(mut self, size: usize) -> Self {
        let pending = self.end - self.start;
        let mut buf = vec![0; size.max(pending).max(1)].into_boxed_slice();
        buf[..pending].copy_from_slice(&self.buf[self.start..self.end]);
        self.start = 0;
        self.end = pending;
        self.buf = buf;
        self
    }

    /// The next event from the peer, reading as needed; `Ok(None)` after the terminal event.
    ///
    /// # Errors
    ///
    /// - [`Error::Session`]: the session failed ([`SessionEvent::Failed`]: a bad or `truncated`
    ///   frame, a broken signature chain, a sequencing error). Terminal.
    /// - [`Error::Io`]: the reader failed. Terminal.
    pub async fn next_event(&mut self) -> Result<Option<SessionEvent>, Error> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    /// Runs `f` on the session (see [`Connection::with_session`]).
    pub fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        f(&mut lock(&self.shared).session)
    }

    /// One step under the session's lock: an event if one is ready, else feed it what was read,
    /// else declare the end of the input, else ask for a read.
    fn step(&mut self) -> Result<Step, Error> {
        let mut st = lock(&self.shared);
        match st.session.poll_event() {
            Some(SessionEvent::Failed(err)) => return Ok(Step::Failed(err)),
            Some(event) => return Ok(Step::Event(event)),
            None => {}
        }
        if self.start < self.end {
            let n = st
                .session
                .handle_input(&self.buf[self.start..self.end], now()?);
            if n == 0 {
                // The queue had room (it is empty), so the session must take something.
                return Err(io::Error::other("the session consumed no input").into());
            }
            self.start += n;
            return Ok(Step::Continue);
        }
        if self.eof {
            if self.end_signalled {
                // The session always ends with a terminal event after the end of its input.
                self.done = true;
            } else {
                self.end_signalled = true;
                st.session.handle_end_of_input(now()?);
            }
            return Ok(Step::Continue);
        }
        Ok(Step::Read)
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Stream for Receiver<R, W> {
    type Item = Result<SessionEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.after_drive.take() {
                // Put the session's answer on the wire first: the reset that follows a failure
                // or the peer's exception or error, or a server's error message.
                if poll_drive(&this.shared, &mut this.slot, cx).is_pending() {
                    this.after_drive = Some(item);
                    return Poll::Pending;
                }
                return Poll::Ready(Some(item));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.step() {
                Ok(Step::Event(event)) => {
                    this.done = event.is_terminal();
                    if matches!(
                        event,
                        SessionEvent::Exception { .. } | SessionEvent::Error { .. }
                    ) {
                        this.after_drive = Some(Ok(event));
                        continue;
                    }
                    return Poll::Ready(Some(Ok(event)));
                }
                Ok(Step::Failed(err)) => {
                    this.done = true;
                    this.after_drive = Some(Err(Error::Session(err)));
                }
                Ok(Step::Continue) => {}
                Ok(Step::Read) => {
                    this.start = 0;
                    this.end = 0;
                    match ready!(Pin::new(&mut this.reader).poll_read(cx, &mut this.buf)) {
                        Ok(0) => this.eof = true,
                        Ok(n) => this.end = n,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            this.done = true;
                            return Poll::Ready(Some(Err(e.into())));
                        }
                    }
                }
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> FusedStream for Receiver<R, W> {
    fn is_terminated(&self) -> bool {
        self.done && self.after_drive.is_none()
    }
}

impl<R, W> fmt::Debug for Receiver<R, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("read_buffer_size", &self.buf.len())
            .field("unconsumed", &(self.end - self.start))
            .field("eof", &self.eof)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
