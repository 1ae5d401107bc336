//! The session driver: one event stream over a duplex socket.

use crate::error::{now, Error};
use crate::reader::DEFAULT_READ_BUFFER_SIZE;
use bytes::{Buf, BytesMut};
use eventstream::frame::Message;
use eventstream::session::{Role, SendError, Session, SessionEvent, Transmit};
use eventstream::sign::SigningTime;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A duplex socket the [`Connection`] can drive: a byte stream that can be cloned into a reading
/// and a writing handle, half-closed and given a read timeout.
///
/// Implemented for [`TcpStream`] and, on Unix, `UnixStream`.
pub trait Socket: Read + Write + Sized {
    /// Another handle to the same socket (`TcpStream::try_clone`).
    ///
    /// # Errors
    ///
    /// The operating system's.
    fn try_clone(&self) -> io::Result<Self>;

    /// Shuts down the reading half, the writing half or both (`TcpStream::shutdown`).
    ///
    /// # Errors
    ///
    /// The operating system's.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;

    /// The read timeout, if one is set.
    ///
    /// # Errors
    ///
    /// The operating system's.
    fn read_timeout(&self) -> io::Result<Option<Duration>>;

    /// Sets the read timeout (`None`: reads block until data arrives).
    ///
    /// # Errors
    ///
    /// The operating system's; a zero duration is an error.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Socket for TcpStream {
    fn try_clone(&self) -> io::Result<Self> {
        TcpStream::try_clone(self)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::read_timeout(self)
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

#[cfg(unix)]
impl Socket for std::os::unix::net::UnixStream {
    fn try_clone(&self) -> io::Result<Self> {
        std::os::unix::net::UnixStream::try_clone(self)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, how)
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        std::os::unix::net::UnixStream::read_timeout(self)
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }
}

/// The writing handle and the bytes the session handed out that are not on the wire yet.
struct WriteHalf<S> {
    socket: S,
    buf: BytesMut,
    /// A `Finish` or `Reset` to carry out once `buf` is written.
    after: Option<Transmit>,
}

impl<S: Socket> WriteHalf<S> {
    /// Writes `buf` out, then half-closes or closes the socket as asked. Unwritten bytes stay in
    /// `buf` on error, so that a later call resumes where this one stopped.
    fn write_out(&mut self) -> Result<(), Error> {
        if matches!(self.after, Some(Transmit::Reset(_))) {
            self.buf.clear();
        }
        let wrote = !self.buf.is_empty();
        while !self.buf.is_empty() {
            match self.socket.write(&self.buf) {
                Ok(0) => return Err(io::Error::from(ErrorKind::WriteZero).into()),
                Ok(n) => self.buf.advance(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if wrote {
            self.socket.flush()?;
        }
        let how = match self.after.take() {
            Some(Transmit::Finish) => Shutdown::Write,
            Some(Transmit::Reset(_)) => Shutdown::Both,
            _ => return Ok(()),
        };
        match self.socket.shutdown(how) {
            // The peer was quicker.
            Err(e) if e.kind() != ErrorKind::NotConnected => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// What both halves share: the session, and the writing handle when nobody is writing.
struct State<S> {
    session: Session,
    /// `None` while one half writes: the handle is checked out, so that no lock is held during
    /// IO.
    io: Option<WriteHalf<S>>,
    /// The session has output that the half holding the handle must write before giving it back.
    wanted: bool,
}

type Shared<S> = Arc<Mutex<State<S>>>;

fn lock<S>(shared: &Mutex<State<S>>) -> MutexGuard<'_, State<S>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Drive {
    /// The session's output is on the wire.
    Done,
    /// The other half is writing; it writes this output too before it lets go.
    Busy,
}

/// Writes everything the session wants on the wire: bytes, then the half-close or the reset.
/// The session's lock is held only to drain `poll_transmit`, never during IO.
fn drive<S: Socket>(shared: &Mutex<State<S>>) -> Result<Drive, Error> {
    loop {
        let mut io = {
            let mut st = lock(shared);
            let State {
                session,
                io,
                wanted,
            } = &mut *st;
            let Some(mut io) = io.take() else {
                *wanted = true;
                return Ok(Drive::Busy);
            };
            *wanted = false;
            while let Some(t) = session.poll_transmit(&mut io.buf) {
                if !matches!(t, Transmit::Data(_)) {
                    io.after = Some(t);
                }
            }
            io
        };
        let result = io.write_out();
        let mut st = lock(shared);
        st.io = Some(io);
        if result.is_err() || !st.wanted {
            return result.map(|()| Drive::Done);
        }
    }
}

/// One event stream over a duplex socket (a [`TcpStream`], a `UnixStream`): the plain-socket
/// transport, one stream per connection.
///
/// The core [`Session`] owns every rule (sequencing, signing, verification, the end of each
/// side); the connection only moves its bytes:
///
/// - commands ([`send`](Self::send), [`finish`](Self::finish), [`abort`](Self::abort), …) call
///   the session, then write out what [`Session::poll_transmit`] hands over, and carry out its
///   `Finish` (`shutdown(Write)`) and `Reset` (`shutdown(Both)`);
/// - [`next_event`](Self::next_event) reads into a fixed buffer and feeds the session, keeping
///   what it did not consume (its event queue was full) and reading nothing more until the
///   application has taken the events: a slow application holds the peer back through TCP flow
///   control, and memory stays bounded. The end of the input goes to
///   [`Session::handle_end_of_input`], so a partial frame is `truncated` and a missing signed end
///   frame is `missing_end_frame`.
///
/// Events come out as the session yields them, except [`SessionEvent::Failed`], which comes out
/// as `Err(`[`Error::Session`]`)`. A failure and the peer's exception or error come out after the
/// session's answer to them was carried out: the socket reset (or, for a server configured with
/// [`with_failures_reported_to_peer`](eventstream::session::SessionConfig::with_failures_reported_to_peer),
/// the `error` message sent). After the terminal event, `next_event` returns `Ok(None)`.
///
/// With a read timeout on the socket ([`set_read_timeout`](Self::set_read_timeout)),
/// `next_event` returns [`Error::TimedOut`] when no byte came in time, and goes on where it
/// stopped when called again: idleness is not an error of the stream.
///
/// To send from one thread and receive on another, [`split`](Self::split) the connection into a
/// [`Sender`] and a [`Receiver`]. They share the session behind a mutex that is never held while
/// blocking on IO: a sender blocked on a full socket never stops the receiver, and the receiver
/// waiting for bytes never stops the sender.
///
/// ```
/// use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
/// use eventstream_blocking::Connection;
/// use std::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = std::thread::spawn(move || -> Result<Vec<SessionEvent>, eventstream_blocking::Error> {
///     let (socket, _) = listener.accept()?;
///     let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
///     let mut conn = Connection::new(socket, session)?;
///     let seen = conn.by_ref().collect::<Result<Vec<_>, _>>()?; // until the client's end
///     conn.send(EventBuilder::new("Pong").build())?;
///     conn.finish()?;
///     Ok(seen)
/// });
///
/// let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
/// let mut conn = Connection::new(TcpStream::connect(addr)?, session)?;
/// conn.send(EventBuilder::new("Ping").payload(&b"1"[..]).build())?;
/// conn.finish()?; // shutdown(Write) (after the signed end frame when signing)
/// let reply = conn.next_event()?.unwrap();
/// assert!(matches!(&reply, SessionEvent::Event(m) if m.header_str(":event-type") == Some("Pong")));
/// assert_eq!(conn.next_event()?, Some(SessionEvent::End));
/// assert_eq!(conn.next_event()?, None);
///
/// let seen = server.join().unwrap()?;
/// assert!(matches!(&seen[0], SessionEvent::Event(m) if &m.payload()[..] == b"1"));
/// assert_eq!(seen[1], SessionEvent::End);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection<S> {
    sender: Sender<S>,
    receiver: Receiver<S>,
}

impl<S: Socket> Connection<S> {
    /// Drives `session` over `socket`. The socket is cloned once ([`Socket::try_clone`]): one
    /// handle reads, the other writes.
    ///
    /// # Errors
    ///
    /// When the socket cannot be cloned.
    pub fn new(socket: S, session: Session) -> io::Result<Self> {
        let reader = socket.try_clone()?;
        let shared = Arc::new(Mutex::new(State {
            session,
            io: Some(WriteHalf {
                socket,
                buf: BytesMut::new(),
                after: None,
            }),
            wanted: false,
        }));
        Ok(Connection {
            sender: Sender {
                shared: shared.clone(),
            },
            receiver: Receiver {
                shared,
                socket: reader,
                buf: vec![0; DEFAULT_READ_BUFFER_SIZE].into_boxed_slice(),
                start: 0,
                end: 0,
                eof: false,
                end_signalled: false,
                done: false,
            },
        })
    }

    /// Reads at most `size` bytes at a time (at least 1; 64 KiB by default).
    #[must_use]
    pub fn with_read_buffer_size(mut self, size: usize) -> Self {
        self.receiver = self.receiver.with_read_buffer_size(size);
        self
    }

    /// Sets the socket's read timeout: [`next_event`](Self::next_event) then returns
    /// [`Error::TimedOut`] instead of waiting longer.
    ///
    /// # Errors
    ///
    /// The operating system's; a zero duration is an error.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.receiver.set_read_timeout(timeout)
    }

    /// Sends an event; see [`Sender::send`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.sender.send(message)
    }

    /// Sends the RPC initial request; see [`Sender::send_initial_request`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub fn send_initial_request(&mut self, message: Message) -> Result<(), Error> {
        self.sender.send_initial_request(message)
    }

    /// Sends the RPC initial response; see [`Sender::send_initial_response`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub fn send_initial_response(&mut self, message: Message) -> Result<(), Error> {
        self.sender.send_initial_response(message)
    }

    /// Ends the stream with an exception; see [`Sender::send_exception`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub fn send_exception(&mut self, message: Message) -> Result<(), Error> {
        self.sender.send_exception(message)
    }

    /// Ends the stream with an error message; see [`Sender::send_error`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub fn send_error(&mut self, code: &str, text: &str) -> Result<(), Error> {
        self.sender.send_error(code, text)
    }

    /// Ends our side: the signed end frame when signing, then `shutdown(Write)`; see [`Sender::finish`].
    ///
    /// # Errors
    ///
    /// See [`Sender::send`].
    pub fn finish(&mut self) -> Result<(), Error> {
        self.sender.finish()
    }

    /// Aborts the stream and shuts the socket down; see [`Sender::abort`].
    ///
    /// # Errors
    ///
    /// See [`Sender::abort`].
    pub fn abort(&mut self) -> Result<(), Error> {
        self.sender.abort()
    }

    /// The next event from the peer; see [`Receiver::next_event`].
    ///
    /// # Errors
    ///
    /// See [`Receiver::next_event`].
    pub fn next_event(&mut self) -> Result<Option<SessionEvent>, Error> {
        self.receiver.next_event()
    }

    /// Runs `f` on the session, for what the connection does not wrap (its configuration, its
    /// error, commands with a time of the caller's choice; then call [`Sender::flush`] through
    /// [`flush`](Self::flush)). Do not block inside `f`: the other half waits for the lock.
    pub fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        self.sender.with_session(f)
    }

    /// Writes out whatever the session has queued; see [`Sender::flush`].
    ///
    /// # Errors
    ///
    /// See [`Sender::flush`].
    pub fn flush(&mut self) -> Result<(), Error> {
        self.sender.flush()
    }

    /// Splits the connection into a half that sends and a half that receives, for two threads.
    pub fn split(self) -> (Sender<S>, Receiver<S>) {
        (self.sender, self.receiver)
    }
}

impl<S: Socket> Iterator for Connection<S> {
    type Item = Result<SessionEvent, Error>;

    /// [`next_event`](Self::next_event), transposed: `None` after the terminal event.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

impl<S> fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("sender", &self.sender)
            .field("receiver", &self.receiver)
            .finish()
    }
}

/// The sending half of a [`Connection`].
///
/// Every command calls the session, then writes out its output before returning (unless the
/// [`Receiver`] is writing at that moment, after a failure: it then writes that output too).
/// Signing times come from the system clock.
pub struct Sender<S> {
    shared: Shared<S>,
}

impl<S: Socket> Sender<S> {
    fn command(
        &mut self,
        f: impl FnOnce(&mut Session, SigningTime) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        let time = now()?;
        let result = f(&mut lock(&self.shared).session, time);
        // Even a refused command may follow a failure whose reset is not on the wire yet.
        let flushed = drive(&self.shared);
        result?;
        flushed.map(|_| ())
    }

    /// Sends an event (see [`Session::send`]), signed now, and writes it out.
    ///
    /// # Errors
    ///
    /// [`Error::Send`] when the session refuses it (nothing was queued), [`Error::Io`] when the
    /// socket fails (what was not written is kept and retried by the next command).
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.command(|s, t| s.send(message, t))
    }

    /// Sends the RPC initial request (client; see [`Session::send_initial_request`]).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_initial_request(&mut self, message: Message) -> Result<(), Error> {
        self.command(|s, t| s.send_initial_request(message, t))
    }

    /// Sends the RPC initial response (server; see [`Session::send_initial_response`]).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_initial_response(&mut self, message: Message) -> Result<(), Error> {
        self.command(|s, t| s.send_initial_response(message, t))
    }

    /// Ends the stream with a modeled error (server; see [`Session::send_exception`]), then
    /// `shutdown(Write)`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_exception(&mut self, message: Message) -> Result<(), Error> {
        self.command(|s, t| s.send_exception(message, t))
    }

    /// Ends the stream with an unmodeled error (server; see [`Session::send_error`]), then
    /// `shutdown(Write)`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_error(&mut self, code: &str, text: &str) -> Result<(), Error> {
        self.command(|s, t| s.send_error(code, text, t))
    }

    /// Ends our side cleanly: the (signed) end frame, then `shutdown(Write)`. The peer's side
    /// stays open: keep receiving until its end.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn finish(&mut self) -> Result<(), Error> {
        self.command(|s, t| s.finish(t))
    }

    /// Aborts the stream: queued bytes are dropped and the socket is shut down both ways, which
    /// also wakes a [`Receiver`] blocked in a read (its terminal event is
    /// [`SessionEvent::Closed`]). Idempotent. (The peer sees its input end. On a signed stream
    /// the missing end frame tells it apart from a clean end; an unsigned stream has no end
    /// frame, so there an abort between frames looks like a clean end.)
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the shutdown fails.
    pub fn abort(&mut self) -> Result<(), Error> {
        lock(&self.shared).session.abort();
        drive(&self.shared).map(|_| ())
    }

    /// Writes out whatever the session has queued, for commands issued through
    /// [`with_session`](Self::with_session).
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn flush(&mut self) -> Result<(), Error> {
        drive(&self.shared).map(|_| ())
    }

    /// Runs `f` on the session (see [`Connection::with_session`]).
    pub fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        f(&mut lock(&self.shared).session)
    }
}

impl<S> fmt::Debug for Sender<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The receiving half of a [`Connection`]: an [`Iterator`] of the session's events.
pub struct Receiver<S> {
    shared: Shared<S>,
    socket: S,
    buf: Box<[u8]>,
    /// `buf[start..end]`: read and not yet consumed by the session.
    start: usize,
    end: usize,
    eof: bool,
    end_signalled: bool,
    done: bool,
}

enum Step {
    Event(SessionEvent),
    Failed(eventstream::session::SessionError),
    Continue,
    Read,
}

impl<S: Socket> Receiver<S> {
    /// Reads at most `size` bytes at a time (at least 1; 64 KiB by default). Bytes read and not
    /// yet consumed are kept.
    #[must_use]
    pub fn with_read_buffer_size(mut self, size: usize) -> Self {
        let mut buf = vec![0; size.max(self.end - self.start).max(1)].into_boxed_slice();
        buf[..self.end - self.start].copy_from_slice(&self.buf[self.start..self.end]);
        self.end -= self.start;
        self.start = 0;
        self.buf = buf;
        self
    }

    /// Sets the socket's read timeout (see [`Connection::set_read_timeout`]).
    ///
    /// # Errors
    ///
    /// The operating system's; a zero duration is an error.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    /// The next event from the peer, reading as needed; `Ok(None)` after the terminal event.
    ///
    /// # Errors
    ///
    /// - [`Error::TimedOut`]: the read timeout expired with no byte; not fatal, call again.
    /// - [`Error::Session`]: the session failed ([`SessionEvent::Failed`]: a bad or `truncated`
    ///   frame, a broken signature chain, a sequencing error); the socket was reset. Terminal.
    /// - [`Error::Io`]: the socket failed. Terminal.
    pub fn next_event(&mut self) -> Result<Option<SessionEvent>, Error> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.step()? {
                Step::Event(event) => {
                    self.done = event.is_terminal();
                    if matches!(
                        event,
                        SessionEvent::Exception { .. } | SessionEvent::Error { .. }
                    ) {
                        // The stream is over for both sides: the session resets ours.
                        self.answer_terminal();
                    }
                    return Ok(Some(event));
                }
                Step::Failed(err) => {
                    self.done = true;
                    self.answer_terminal();
                    return Err(Error::Session(err));
                }
                Step::Continue => {}
                Step::Read => self.read()?,
            }
        }
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
                return Ok(Step::Continue);
            }
            self.end_signalled = true;
            st.session.handle_end_of_input(now()?);
            return Ok(Step::Continue);
        }
        Ok(Step::Read)
    }

    fn read(&mut self) -> Result<(), Error> {
        self.start = 0;
        self.end = 0;
        match self.socket.read(&mut self.buf) {
            Ok(0) => self.eof = true,
            Ok(n) => self.end = n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if e.kind() == ErrorKind::TimedOut
                    || (e.kind() == ErrorKind::WouldBlock
                        && matches!(self.socket.read_timeout(), Ok(Some(_)))) =>
            {
                return Err(Error::TimedOut)
            }
            // A non-blocking socket with nothing to read: not fatal either.
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Err(e.into()),
            Err(e) => {
                self.done = true;
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Puts the session's answer to a failure or to the peer's exception or error on the wire: a
    /// reset (or, for a server that reports failures, its `error` message and a half-close).
    fn answer_terminal(&mut self) {
        let reports = {
            let st = lock(&self.shared);
            let config = st.session.config();
            config.failures_reported_to_peer() && config.role() == Role::Server
        };
        if let Ok(Drive::Busy) = drive(&self.shared) {
            if !reports {
                // The sender is blocked writing: the reset must not wait for it, and the shutdown
                // wakes it up.
                let _ = self.socket.shutdown(Shutdown::Both);
            }
        }
    }

    /// Runs `f` on the session (see [`Connection::with_session`]).
    pub fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        f(&mut lock(&self.shared).session)
    }
}

impl<S: Socket> Iterator for Receiver<S> {
    type Item = Result<SessionEvent, Error>;

    /// [`next_event`](Self::next_event), transposed: `None` after the terminal event.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

impl<S> fmt::Debug for Receiver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("read_buffer_size", &self.buf.len())
            .field("unconsumed", &(self.end - self.start))
            .field("eof", &self.eof)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
