//! One event stream over a duplex byte stream: the core's driver, and the poll calls.

use core::future::poll_fn;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use eventstream::frame::Message;
use eventstream::session::{Command, Session, SessionEvent};
use eventstream_io::{shutdown_for, Error, Inbound, Link, Out, Reading, Writing};
use futures_core::stream::{FusedStream, Stream};
use futures_io::{AsyncRead, AsyncWrite};
use std::ops::{Deref, DerefMut};
use std::{io, net::Shutdown, sync::Arc};

/// How a [`Connection`] half-closes and closes its writer; see [`Connection::with_shutdown`].
type ShutdownFn<W> = Box<dyn Fn(&W, Shutdown) -> io::Result<()> + Send>;

/// What the receiving half yields.
type Event = Result<SessionEvent, Error>;

/// The writer, and how it half-closes and closes (`poll_close` without a function).
struct Half<W>(W, Option<ShutdownFn<W>>);

/// Writes what the driver has, then closes as it says. When the other half holds the writer, it
/// writes this too, and a reset pending meanwhile wakes it to carry the reset out at once.
fn poll_drive<W: AsyncWrite + Unpin>(
    writing: &mut Writing<Half<W>>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    loop {
        let poll = match writing.poll() {
            Out::Write(Half(w, _), bytes) => Pin::new(w).poll_write(cx, bytes),
            Out::Flush(Half(w, _)) => Pin::new(w).poll_flush(cx).map_ok(|()| 0),
            Out::Close(Half(w, Some(f)), close) => {
                Poll::Ready(f(w, shutdown_for(close)).map(|()| 0))
            }
            Out::Close(Half(w, None), _) => Pin::new(w).poll_close(cx).map_ok(|()| 0),
            Out::Busy(_) | Out::Done => return Poll::Ready(Ok(())),
        };
        match poll {
            Poll::Ready(result) => writing.done(result)?,
            Poll::Pending if !writing.park(cx.waker()) => return Poll::Pending,
            Poll::Pending => {}
        }
    }
}

/// One event stream over a duplex byte stream: a [`Sender`] (its methods are the connection's,
/// through `Deref`) and a [`Receiver`], a [`Stream`] of events; [`split`](Self::split) gives
/// them to two tasks, or to `join` in one. The core's [`Driver`](eventstream::session::Driver)
/// owns every rule and buffer (the read window, the pending write); the connection polls the
/// reader while the driver wants input (a slow consumer holds the peer back) and the writer
/// while it has output, closing with [`AsyncWrite::poll_close`] or
/// [`with_shutdown`](Self::with_shutdown)'s function. No lock is held across an `.await`, and a
/// send dropped halfway leaves its unwritten bytes in the driver: no frame is torn.
#[derive(Debug)]
pub struct Connection<R, W> {
    sender: Sender<W>,
    receiver: Receiver<R, W>,
}

impl<T: AsyncRead + AsyncWrite + Clone + Unpin> Connection<T, T> {
    /// Drives `session` over `io`, whose clones share one socket (async-std's and smol's
    /// `TcpStream` and `UnixStream`): one clone reads, the other writes.
    pub fn new(io: T, session: Session) -> Self {
        Self::from_halves(io.clone(), io, session)
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Connection<R, W> {
    /// Drives `session` with the two halves of one byte stream (for one that cannot be cloned:
    /// `futures::io::AsyncReadExt::split`).
    pub fn from_halves(reader: R, writer: W, session: Session) -> Self {
        let link = Link::new(session, Half(writer, None));
        let reading = Reading::new(eventstream_io::DEFAULT_READ_BUFFER_SIZE);
        let receiver = Receiver {
            link: link.clone(),
            reader,
            reading,
            answer: None,
        };
        let sender = Sender { link };
        Connection { sender, receiver }
    }

    /// Reads at most `size` bytes at a time (at least 1; 64 KiB by default).
    #[must_use]
    pub fn with_read_buffer_size(mut self, size: usize) -> Self {
        self.receiver.reading = Reading::new(size);
        self
    }

    /// Carries out `Finish` and `Reset` with `f(writer, Shutdown::Write)` and
    /// `f(writer, Shutdown::Both)` instead of `poll_close`. Needed for async-std, whose
    /// `poll_close` only flushes: `.with_shutdown(|socket, how| socket.shutdown(how))`.
    #[must_use]
    pub fn with_shutdown(
        self,
        f: impl Fn(&W, Shutdown) -> io::Result<()> + Send + 'static,
    ) -> Self {
        self.sender
            .link
            .with_writer(|half| half.1 = Some(Box::new(f)));
        self
    }

    /// The next event from the peer; see [`Receiver::next_event`].
    pub async fn next_event(&mut self) -> Result<Option<SessionEvent>, Error> {
        self.receiver.next_event().await
    }

    /// Splits the connection into a half that sends and a half that receives.
    pub fn split(self) -> (Sender<W>, Receiver<R, W>) {
        (self.sender, self.receiver)
    }
}

impl<R, W> Deref for Connection<R, W> {
    type Target = Sender<W>;

    fn deref(&self) -> &Sender<W> {
        &self.sender
    }
}

impl<R, W> DerefMut for Connection<R, W> {
    fn deref_mut(&mut self) -> &mut Sender<W> {
        &mut self.sender
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Stream for Connection<R, W> {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.receiver).poll_next(cx)
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> FusedStream for Connection<R, W> {
    fn is_terminated(&self) -> bool {
        self.receiver.is_terminated()
    }
}

/// The sending half of a [`Connection`]: commands, signed at the system clock's time.
#[derive(Debug)]
pub struct Sender<W> {
    link: Arc<Link<Half<W>>>,
}

impl<W: AsyncWrite + Unpin> Sender<W> {
    /// Runs `command` (see [`Command`]), then writes out what the driver has before it completes
    /// (unless the [`Receiver`] is writing: it then writes this too). An abort drops what is
    /// queued and closes the writer, even if a send waits on a peer that does not read.
    ///
    /// # Errors
    ///
    /// [`Error::Send`] when the session refuses it (nothing was queued), [`Error::Io`] when the
    /// writer fails: nothing more is sent, and the receiver fails once the input ends.
    pub async fn command(&mut self, command: Command) -> Result<(), Error> {
        let applied = self.link.apply(command);
        // Even a refused command may follow a failure whose reset is not on the wire yet.
        let written = self.flush().await;
        applied.and(written)
    }

    /// Sends an event, `command(Command::Send(message))`.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.command(Command::Send(message)).await
    }

    /// Ends our side cleanly, `command(Command::Finish)`: the end frame when signing, then the
    /// half-close. Keep receiving until the peer's end.
    pub async fn finish(&mut self) -> Result<(), Error> {
        self.command(Command::Finish).await
    }

    /// Aborts the stream, `command(Command::Abort)`; idempotent. A byte stream has no reset: the
    /// peer sees its input end, which a signed stream tells from a clean end by the missing end
    /// frame, but an unsigned one cannot, between frames.
    pub async fn abort(&mut self) -> Result<(), Error> {
        self.command(Command::Abort).await
    }

    /// Writes out what the session has queued, after commands given through
    /// [`with_session`](Self::with_session).
    pub async fn flush(&mut self) -> Result<(), Error> {
        let mut writing = Writing::new(self.link.clone());
        poll_fn(|cx| poll_drive(&mut writing, cx)).await
    }

    /// Runs `f` on the session, for what the connection does not wrap (its configuration, its
    /// error, commands at a time of the caller's choice, then [`flush`](Self::flush)).
    pub fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        self.link.with_driver(|driver| f(driver.session_mut()))
    }
}

/// The receiving half of a [`Connection`]: a [`Stream`] of the session's events; see
/// [`next_event`](Self::next_event).
#[derive(Debug)]
pub struct Receiver<R, W> {
    link: Arc<Link<Half<W>>>,
    reader: R,
    reading: Reading,
    /// The terminal event, held while the answer to it is written.
    answer: Option<(Event, Writing<Half<W>>)>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Receiver<R, W> {
    /// The next event, reading as needed; `Ok(None)` after the terminal one, which comes once
    /// the session's answer to it (a reset, a server's `error` message) is on the wire.
    ///
    /// # Errors
    ///
    /// [`Error::Session`]: the session failed (a bad or `truncated` frame, a broken signature
    /// chain, a sequencing error). [`Error::Io`]: the reader failed.
    pub async fn next_event(&mut self) -> Result<Option<SessionEvent>, Error> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Stream for Receiver<R, W> {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some((_, writing)) = &mut this.answer {
                // Failing to write the answer reset the driver already.
                let _ = ready!(poll_drive(writing, cx));
                return Poll::Ready(this.answer.take().map(|(last, _)| last));
            }
            match this.reading.poll(&this.link)? {
                Inbound::Item(item) => return Poll::Ready(Some(item)),
                Inbound::Last(last) => this.answer = Some((last, Writing::new(this.link.clone()))),
                Inbound::Read => {
                    let read =
                        ready!(Pin::new(&mut this.reader).poll_read(cx, this.reading.buffer()));
                    this.reading.handle_read(&this.link, read)?;
                }
                Inbound::Done => return Poll::Ready(None),
            }
        }
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> FusedStream for Receiver<R, W> {
    fn is_terminated(&self) -> bool {
        self.answer.is_none() && self.link.with_driver(|driver| driver.is_done())
    }
}
