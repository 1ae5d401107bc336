//! One event stream over a duplex socket: the core's driver, and the read and write calls.

use eventstream::frame::Message;
use eventstream::session::{Command, Session, SessionEvent};
use eventstream_io::{shutdown_for, Error, Inbound, Link, Out, Reading, Writing};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::{Deref, DerefMut};
use std::{sync::Arc, time::Duration};

/// A duplex socket a [`Connection`] can drive: cloned into handles that read, write and shut
/// down, with a read timeout. Implemented for [`TcpStream`] and, on Unix, `UnixStream`; each
/// method is theirs, failing as the operating system says.
pub trait Socket: Read + Write + Sized {
    /// Another handle to the same socket (`TcpStream::try_clone`).
    fn try_clone(&self) -> io::Result<Self>;
    /// Shuts down the reading half, the writing half or both (`TcpStream::shutdown`).
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    /// The read timeout, if one is set.
    fn read_timeout(&self) -> io::Result<Option<Duration>>;
    /// Sets the read timeout (`None`: reads block until data arrives; zero is an error).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

macro_rules! socket {
    ($t:ty) => {
        impl Socket for $t {
            fn try_clone(&self) -> io::Result<Self> {
                <$t>::try_clone(self)
            }
            fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                <$t>::shutdown(self, how)
            }
            fn read_timeout(&self) -> io::Result<Option<Duration>> {
                <$t>::read_timeout(self)
            }
            fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
                <$t>::set_read_timeout(self, t)
            }
        }
    };
}
socket!(TcpStream);
#[cfg(unix)]
socket!(std::os::unix::net::UnixStream);

/// Writes what the driver has, then closes as it says. When the other half holds the writer, it
/// writes this too, and a reset pending meanwhile is carried out at once on `control`: the
/// shutdown wakes a write blocked on a peer that does not read.
fn drive<S: Socket>(link: &Arc<Link<S>>, control: &S) -> Result<(), Error> {
    let mut writing = Writing::new(link.clone());
    loop {
        let result = match writing.poll() {
            Out::Write(socket, bytes) => socket.write(bytes),
            Out::Flush(socket) => socket.flush().map(|()| 0),
            Out::Close(socket, close) => socket.shutdown(shutdown_for(close)).map(|()| 0),
            Out::Busy(reset) => {
                if reset {
                    let _ = control.shutdown(Shutdown::Both);
                }
                return Ok(());
            }
            Out::Done => return Ok(()),
        };
        writing.done(result)?;
    }
}

/// One event stream over a duplex socket: a [`Sender`] (its methods are the connection's,
/// through `Deref`) and a [`Receiver`], which [`split`](Self::split) gives to two threads. The
/// core's [`Driver`](eventstream::session::Driver) owns every rule and buffer (the read window,
/// the pending write); the connection reads while the driver wants input (a slow application
/// holds the peer back through TCP flow control), writes while it has output, and carries out
/// `Finish` and `Reset` as `shutdown(Write)` and `shutdown(Both)`. No lock is held during IO: a
/// sender blocked on a full socket never stops the receiver, and a reset wakes both at once.
#[derive(Debug)]
pub struct Connection<S> {
    sender: Sender<S>,
    receiver: Receiver<S>,
}

impl<S: Socket> Connection<S> {
    /// Drives `session` over `socket`, cloned twice: one handle writes, one reads, one shuts
    /// down. Fails when the socket cannot be cloned.
    pub fn new(socket: S, session: Session) -> io::Result<Self> {
        let (reader, control) = (socket.try_clone()?, socket.try_clone()?);
        let link = Link::new(session, socket);
        let reading = Reading::new(eventstream_io::DEFAULT_READ_BUFFER_SIZE);
        let sender = Sender {
            link: link.clone(),
            control,
        };
        let receiver = Receiver {
            link,
            socket: reader,
            reading,
        };
        Ok(Connection { sender, receiver })
    }

    /// Reads at most `size` bytes at a time (at least 1; 64 KiB by default).
    #[must_use]
    pub fn with_read_buffer_size(mut self, size: usize) -> Self {
        self.receiver.reading = Reading::new(size);
        self
    }

    /// Sets the socket's read timeout (see [`Receiver::next_event`]).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.receiver.set_read_timeout(timeout)
    }

    /// The next event from the peer; see [`Receiver::next_event`].
    pub fn next_event(&mut self) -> Result<Option<SessionEvent>, Error> {
        self.receiver.next_event()
    }

    /// Splits the connection into a half that sends and a half that receives, for two threads.
    pub fn split(self) -> (Sender<S>, Receiver<S>) {
        (self.sender, self.receiver)
    }
}

impl<S> Deref for Connection<S> {
    type Target = Sender<S>;

    fn deref(&self) -> &Sender<S> {
        &self.sender
    }
}

impl<S> DerefMut for Connection<S> {
    fn deref_mut(&mut self) -> &mut Sender<S> {
        &mut self.sender
    }
}

impl<S: Socket> Iterator for Connection<S> {
    type Item = Result<SessionEvent, Error>;

    /// [`next_event`](Self::next_event), transposed: `None` after the terminal event.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

/// The sending half of a [`Connection`]: commands, signed at the system clock's time.
#[derive(Debug)]
pub struct Sender<S> {
    link: Arc<Link<S>>,
    control: S,
}

impl<S: Socket> Sender<S> {
    /// Runs `command` (see [`Command`]), then writes out what the driver has before it returns
    /// (unless the [`Receiver`] is writing: it then writes this too). An abort drops what is
    /// queued and shuts the socket down both ways, which wakes a blocked read.
    ///
    /// # Errors
    ///
    /// [`Error::Send`] when the session refuses it (nothing was queued), [`Error::Io`] when the
    /// socket fails: nothing more is sent, and the receiver fails once the input ends.
    pub fn command(&mut self, command: Command) -> Result<(), Error> {
        let applied = self.link.apply(command);
        // Even a refused command may follow a failure whose reset is not on the wire yet.
        let written = self.flush();
        applied.and(written)
    }

    /// Sends an event, `command(Command::Send(message))`.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.command(Command::Send(message))
    }

    /// Ends our side cleanly, `command(Command::Finish)`: the end frame when signing, then
    /// `shutdown(Write)`. Keep receiving until the peer's end.
    pub fn finish(&mut self) -> Result<(), Error> {
        self.command(Command::Finish)
    }

    /// Aborts the stream, `command(Command::Abort)`; idempotent. The peer sees its input end: a
    /// signed stream misses its end frame, but on an unsigned one an abort between frames looks
    /// like a clean end.
    pub fn abort(&mut self) -> Result<(), Error> {
        self.command(Command::Abort)
    }

    /// Writes out what the session has queued, after commands given through
    /// [`with_session`](Self::with_session).
    pub fn flush(&mut self) -> Result<(), Error> {
        drive(&self.link, &self.control)
    }

    /// Runs `f` on the session, for what the connection does not wrap (its configuration, its
    /// error, commands at a time of the caller's choice, then [`flush`](Self::flush)). Do not
    /// block inside `f`: the other half waits for the lock.
    pub fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        self.link.with_driver(|d| f(d.session_mut()))
    }
}

/// The receiving half of a [`Connection`]: an [`Iterator`] of the session's events.
#[derive(Debug)]
pub struct Receiver<S> {
    link: Arc<Link<S>>,
    socket: S,
    reading: Reading,
}

impl<S: Socket> Receiver<S> {
    /// Sets the socket's read timeout (see [`next_event`](Self::next_event)).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    /// The next event, reading as needed; `Ok(None)` after the terminal one, which comes once
    /// the session's answer to it (a reset, a server's `error` message) is on the wire.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`]: no byte came before the read timeout; not fatal, call again.
    /// [`Error::Session`]: the session failed (a bad or `truncated` frame, a broken signature
    /// chain, a sequencing error). [`Error::Io`]: the socket failed.
    pub fn next_event(&mut self) -> Result<Option<SessionEvent>, Error> {
        loop {
            match self.reading.poll(&self.link)? {
                Inbound::Item(item) => return item.map(Some),
                Inbound::Last(item) => {
                    // The answer first; failing to write it reset the driver already.
                    let _ = drive(&self.link, &self.socket);
                    return item.map(Some);
                }
                Inbound::Read => {
                    let read = self.socket.read(self.reading.buffer());
                    self.reading.handle_read(&self.link, read)?;
                }
                Inbound::Done => return Ok(None),
            }
        }
    }
}

impl<S: Socket> Iterator for Receiver<S> {
    type Item = Result<SessionEvent, Error>;

    /// [`next_event`](Self::next_event), transposed: `None` after the terminal event.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}
