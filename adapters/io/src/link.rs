//! What the two halves of a connection share: the core's [`Driver`], and the writing half while
//! nobody writes. The adapters only make the IO calls that [`Writing`] and [`Reading`] ask for.

use crate::error::{now, read_error, Error};
use eventstream::session::{Close, Command, Driver, Session, SessionEvent};
use eventstream::sign::SigningTime;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::{fmt, io, net::Shutdown};

/// The most bytes handed to one write call.
const CHUNK: usize = 64 * 1024;

/// A [`Driver`] shared by the two halves of a connection, with the writing half `W` of the
/// transport. The lock is never held during IO: a half that writes checks the writer out
/// ([`Writing`]), and whoever holds it writes everything the driver has before giving it back,
/// so that the other half never waits for it.
pub struct Link<W> {
    state: Mutex<State<W>>,
}

struct State<W> {
    driver: Driver,
    /// `None` while checked out.
    writer: Option<W>,
    /// A close handed out by the driver and not carried out yet.
    closing: Option<Close>,
    /// The task that waits for the writer to make progress: woken when a reset is pending.
    parked: Option<Waker>,
    /// Why writing failed: nothing more is written, and the driver is reset once the input the
    /// transport still holds was read (at its end), so that nothing received is lost.
    write_failed: Option<String>,
    /// The transport's input ended (or failed).
    input_ended: bool,
}

impl<W> Link<W> {
    /// Drives `session`; `writer` writes.
    pub fn new(session: Session, writer: W) -> Arc<Self> {
        Arc::new(Link {
            state: Mutex::new(State {
                driver: Driver::new(session),
                writer: Some(writer),
                closing: None,
                parked: None,
                write_failed: None,
                input_ended: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<W>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the driver. Do not block inside `f`: the other half waits for the lock.
    pub fn with_driver<T>(&self, f: impl FnOnce(&mut Driver) -> T) -> T {
        f(&mut self.lock().driver)
    }

    /// Runs `f` on the writer, unless it is checked out.
    pub fn with_writer(&self, f: impl FnOnce(&mut W)) {
        self.lock().writer.as_mut().map(f);
    }

    /// Applies the application's command at the system clock's time; then write with
    /// [`Writing`].
    ///
    /// # Errors
    ///
    /// [`Error::Send`] when the session refuses it, [`Error::Clock`] (but for an abort), and
    /// [`Error::Io`] (`BrokenPipe`) once writing failed (but for an abort).
    pub fn apply(&self, command: Command) -> Result<(), Error> {
        let abort = command == Command::Abort;
        let now = match now() {
            Ok(now) => now,
            // An abort signs nothing: it needs no clock.
            Err(_) if abort => SigningTime::EPOCH,
            Err(e) => return Err(e),
        };
        let mut st = self.lock();
        match &st.write_failed {
            Some(reason) if !abort => {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, reason.clone()))?
            }
            _ => Ok(st.driver.apply(command, now)?),
        }
    }
}

impl<W> fmt::Debug for Link<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Link")
            .field("driver", &st.driver)
            .field("writing", &st.writer.is_none())
            .finish_non_exhaustive()
    }
}

/// How the transport closes our side: [`Shutdown::Write`] to finish, [`Shutdown::Both`] to reset.
pub fn shutdown_for(close: Close) -> Shutdown {
    match close {
        Close::Finish => Shutdown::Write,
        _ => Shutdown::Both,
    }
}

/// The next IO call of a [`Writing`], from [`Writing::poll`].
#[derive(Debug)]
pub enum Out<'a, W> {
    /// Write (some of) these bytes, then report with [`Writing::done`].
    Write(&'a mut W, &'a [u8]),
    /// Flush the writer, then report (`Ok(0)`).
    Flush(&'a mut W),
    /// Close our side this way ([`shutdown_for`]), then report (`Ok(0)`).
    Close(&'a mut W, Close),
    /// The other half holds the writer and writes this output too. `true` when a reset is
    /// pending: carry it out at once where the transport can (shutting the socket down both
    /// ways wakes a writer blocked in a write); a parked task was woken.
    Busy(bool),
    /// Everything is written; the writer was given back.
    Done,
}

/// The writer checked out of a [`Link`], to write what the driver has. Dropping it (a cancelled
/// write) gives the writer back; bytes not reported written stay in the driver, so the next
/// write sends them first and no frame is torn.
pub struct Writing<W> {
    link: Arc<Link<W>>,
    writer: Option<W>,
    chunk: Vec<u8>,
    /// Bytes were written since the last flush.
    dirty: bool,
    last: Op,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Write,
    Flush,
    Close,
}

impl<W> Writing<W> {
    /// Nothing checked out yet: the first [`poll`](Self::poll) does it.
    pub fn new(link: Arc<Link<W>>) -> Self {
        Writing {
            link,
            writer: None,
            chunk: Vec::new(),
            dirty: false,
            last: Op::Write,
        }
    }

    /// The next IO call: output first, then a flush, then the close the driver asks for.
    pub fn poll(&mut self) -> Out<'_, W> {
        let mut st = self.link.lock();
        let st = &mut *st;
        // Once writing failed, only a reset is still carried out.
        let dead = st.write_failed.is_some() && st.driver.pending_reset().is_none();
        if self.writer.is_none() {
            if dead || (!st.driver.wants_output() && st.closing.is_none()) {
                return Out::Done;
            }
            let Some(writer) = st.writer.take() else {
                let reset = st.driver.pending_reset().is_some();
                if let (true, Some(task)) = (reset, st.parked.take()) {
                    task.wake();
                }
                return Out::Busy(reset);
            };
            self.writer = Some(writer);
        }
        let out = st.driver.output();
        let close = match st.closing {
            None if !out.is_empty() => {
                self.chunk.clear();
                self.chunk.extend_from_slice(&out[..out.len().min(CHUNK)]);
                self.last = Op::Write;
                return match self.writer.as_mut() {
                    Some(w) => Out::Write(w, &self.chunk),
                    None => Out::Done,
                };
            }
            None if self.dirty && st.driver.pending_reset().is_none() => None,
            // A close in progress goes on, unless a reset supersedes a finish.
            Some(close) if st.driver.pending_reset().is_none() => Some(close),
            _ => st.driver.poll_close(),
        };
        st.closing = close;
        self.last = if close.is_some() {
            Op::Close
        } else {
            Op::Flush
        };
        if close.is_none() && !self.dirty {
            st.writer = self.writer.take();
            return Out::Done;
        }
        match (self.writer.as_mut(), close) {
            (Some(w), Some(close)) => Out::Close(w, close),
            (Some(w), None) => Out::Flush(w),
            (None, _) => Out::Done,
        }
    }

    /// Reports the IO call [`poll`](Self::poll) asked for: bytes written, or done (`Ok(0)`).
    /// `Interrupted` is ignored (call again); closing a socket the peer closed first is done.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the call failed or a write wrote nothing. The writer is given back and
    /// nothing more is written (later commands fail, but for an abort); the driver is reset
    /// with this cause ([`Driver::handle_reset`]) once the input the transport still holds was
    /// read, at its end, so that every event the peer got through is delivered first.
    pub fn done(&mut self, result: io::Result<usize>) -> Result<(), Error> {
        let mut st = self.link.lock();
        let err = match (result, self.last) {
            (Err(e), _) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            (Ok(0), Op::Write) => io::Error::from(io::ErrorKind::WriteZero),
            (Ok(n), Op::Write) => {
                st.driver.written(n);
                self.dirty = true;
                return Ok(());
            }
            (Ok(_), Op::Flush) => {
                self.dirty = false;
                return Ok(());
            }
            (Err(e), Op::Close) if e.kind() != io::ErrorKind::NotConnected => e,
            (_, Op::Close) => {
                st.closing = None;
                return Ok(());
            }
            (Err(e), _) => e,
        };
        let err = Error::Io(err);
        if st.input_ended && st.driver.buffered_input_len() == 0 {
            st.driver.handle_reset(err.to_string());
        }
        st.write_failed = Some(err.to_string());
        st.closing = None;
        st.writer = self.writer.take();
        Err(err)
    }

    /// Before a task waits for the writer: `false` once `waker` is registered to be woken when
    /// a reset becomes pending; `true` when one already is (call [`poll`](Self::poll) again).
    pub fn park(&mut self, waker: &Waker) -> bool {
        let mut st = self.link.lock();
        if st.driver.pending_reset().is_some() {
            return true;
        }
        st.parked = Some(waker.clone());
        false
    }
}

impl<W> Drop for Writing<W> {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            self.link.lock().writer = Some(writer);
        }
    }
}

impl<W> fmt::Debug for Writing<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writing")
            .field("holding", &self.writer.is_some())
            .field("dirty", &self.dirty)
            .finish_non_exhaustive()
    }
}

/// The next step of a receiving half, from [`Reading::poll`].
#[derive(Debug)]
pub enum Inbound {
    /// An event for the application.
    Item(Result<SessionEvent, Error>),
    /// The terminal one: put the session's answer to it on the wire first (write with
    /// [`Writing`] until [`Out::Done`] or [`Out::Busy`]), then hand it to the application.
    Last(Result<SessionEvent, Error>),
    /// Read into [`Reading::buffer`], then hand the result to [`Reading::handle_read`].
    Read,
    /// The terminal event was handed out: nothing more.
    Done,
}

/// A receiving half without its reader: the buffer that reads go into (the driver keeps what
/// the session cannot take yet), and the transport's failure.
pub struct Reading {
    buf: Box<[u8]>,
    /// The failure of the transport (or of the clock) that reset the driver, handed out instead
    /// of the driver's [`SessionEvent::Failed`].
    failed: Option<Error>,
}

impl Reading {
    /// Reads at most `size` bytes at a time (at least 1).
    pub fn new(size: usize) -> Self {
        Reading {
            buf: vec![0; size.max(1)].into_boxed_slice(),
            failed: None,
        }
    }

    /// The buffer to read into.
    pub fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The next step: an event if the driver has one, else a read while it wants input.
    /// A [`SessionEvent::Failed`] comes out as `Err(`[`Error::Session`]`)`, or as the read's
    /// [`Error::Io`] when the transport failed (or [`Error::Clock`]).
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] when the driver has no event and wants no input before its terminal
    /// event (a bug): the driver is reset rather than left to spin.
    pub fn poll<W>(&mut self, link: &Link<W>) -> Result<Inbound, Error> {
        let mut st = link.lock();
        let Some(event) = st.driver.poll_event() else {
            return match (st.driver.is_done(), st.driver.wants_input()) {
                (true, _) => Ok(Inbound::Done),
                (false, true) => Ok(Inbound::Read),
                (false, false) => {
                    st.driver
                        .handle_reset("internal: no event and no input wanted");
                    Err(Error::Internal(
                        "the driver has no event and wants no input",
                    ))
                }
            };
        };
        let last = event.is_terminal();
        let item = match event {
            SessionEvent::Failed(e) => Err(self.failed.take().unwrap_or(Error::Session(e))),
            event => Ok(event),
        };
        Ok(if last {
            Inbound::Last(item)
        } else {
            Inbound::Item(item)
        })
    }

    /// Hands the driver what a read into [`buffer`](Self::buffer) returned: bytes, the end of
    /// the input (`Ok(0)`; after a failed write, the driver is reset with the write's cause),
    /// or a failure, which resets it ([`Driver::handle_reset`]) and comes out of
    /// [`poll`](Self::poll) after the events received before it.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] for `WouldBlock` and `TimedOut`: nothing changed, read again.
    pub fn handle_read<W>(&mut self, link: &Link<W>, read: io::Result<usize>) -> Result<(), Error> {
        let read = match read {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => Err(read_error(e)),
            Ok(n) => now().map(|t| (n, t)),
        };
        let mut st = link.lock();
        let st = &mut *st;
        st.input_ended = !matches!(read, Ok((1.., _)) | Err(Error::TimedOut));
        match (read, &st.write_failed) {
            (Err(Error::TimedOut), _) => return Err(Error::TimedOut),
            (Ok((0, _)), Some(write_failed)) => st.driver.handle_reset(write_failed.clone()),
            (Ok((0, now)), None) => st.driver.handle_eof(now),
            (Ok((n, now)), _) => st.driver.handle_read(&self.buf[..n], now),
            (Err(e), _) => {
                st.driver.handle_reset(e.to_string());
                self.failed = Some(e);
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reading")
            .field("read_buffer_size", &self.buf.len())
            .field("failed", &self.failed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstream::session::{EventBuilder, Mode, ResetCause, Role, SessionConfig};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    fn link() -> Arc<Link<Vec<u8>>> {
        let session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
        Link::new(session, Vec::new())
    }

    fn event() -> Command {
        Command::Send(EventBuilder::new("E").payload(vec![1u8; 100]).build())
    }

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_write_failure_stops_writing_and_resets_the_driver_at_the_end_of_the_input() {
        let link = link();
        link.apply(event()).unwrap();
        let mut writing = Writing::new(link.clone());
        assert!(matches!(writing.poll(), Out::Write(_, bytes) if !bytes.is_empty()));
        let err = writing
            .done(Err(io::ErrorKind::BrokenPipe.into()))
            .unwrap_err();
        assert_eq!(err.kind(), "io");
        assert!(
            matches!(writing.poll(), Out::Done),
            "nothing more is written"
        );
        assert_eq!(link.apply(event()).unwrap_err().kind(), "io");
        link.with_writer(|w| assert!(w.is_empty(), "nothing was written"));

        // What the peer got through is still delivered, then the failure.
        let mut wire = bytes::BytesMut::new();
        EventBuilder::new("E").build().encode(&mut wire).unwrap();
        let mut reading = Reading::new(1024);
        assert!(matches!(reading.poll(&link), Ok(Inbound::Read)));
        reading.buffer()[..wire.len()].copy_from_slice(&wire);
        reading.handle_read(&link, Ok(wire.len())).unwrap();
        assert!(matches!(
            reading.poll(&link),
            Ok(Inbound::Item(Ok(SessionEvent::Event(_))))
        ));
        assert!(matches!(reading.poll(&link), Ok(Inbound::Read)));
        reading.handle_read(&link, Ok(0)).unwrap();
        match reading.poll(&link) {
            Ok(Inbound::Last(Err(e))) => assert_eq!(e.kind(), "reset", "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(link.with_driver(|d| d.is_closed() && !d.wants_output()));
        // An abort still goes through.
        link.apply(Command::Abort).unwrap();
    }

    #[test]
    fn a_cancelled_write_leaves_its_bytes_in_the_driver() {
        let link = link();
        link.apply(event()).unwrap();
        let total = link.with_driver(|d| d.output_len());
        let mut writing = Writing::new(link.clone());
        assert!(matches!(writing.poll(), Out::Write(..)));
        writing.done(Ok(10)).unwrap();
        assert!(matches!(writing.poll(), Out::Write(..)));
        drop(writing); // cancelled: the writer goes back, the rest stays pending
        assert_eq!(link.with_driver(|d| d.output_len()), total - 10);
        let mut writing = Writing::new(link.clone());
        assert!(matches!(writing.poll(), Out::Write(_, bytes) if bytes.len() == total - 10));
    }

    #[test]
    fn a_reset_pending_while_the_writer_waits_wakes_it_and_drops_the_output() {
        let link = link();
        link.apply(event()).unwrap();
        let mut blocked = Writing::new(link.clone());
        assert!(matches!(blocked.poll(), Out::Write(..)));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        assert!(!blocked.park(&Waker::from(count.clone())));

        link.apply(Command::Abort).unwrap();
        let mut other = Writing::new(link.clone());
        assert!(matches!(other.poll(), Out::Busy(true)));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "the waiting task was woken"
        );
        assert!(blocked.park(&Waker::from(count)), "a reset is pending");
        match blocked.poll() {
            Out::Close(_, close) => assert_eq!(close, Close::Reset(ResetCause::Aborted)),
            other => panic!("{other:?}"),
        }
        blocked.done(Ok(0)).unwrap();
        assert!(matches!(blocked.poll(), Out::Done));
    }

    #[test]
    fn a_reset_supersedes_a_finish_being_carried_out() {
        let link = link();
        link.apply(Command::Finish).unwrap();
        let mut writing = Writing::new(link.clone());
        assert!(matches!(writing.poll(), Out::Close(_, Close::Finish)));
        // The half-close is pending (a `poll_close` that did not complete) when the abort comes.
        link.apply(Command::Abort).unwrap();
        assert!(writing.park(&Waker::noop().clone()), "a reset is pending");
        match writing.poll() {
            Out::Close(_, close) => assert_eq!(close, Close::Reset(ResetCause::Aborted)),
            other => panic!("{other:?}"),
        }
        assert!(
            !writing.park(&Waker::noop().clone()),
            "nothing more is pending"
        );
        writing.done(Ok(0)).unwrap();
        assert!(matches!(writing.poll(), Out::Done));
    }

    #[test]
    fn a_read_failure_comes_after_the_events_received_as_the_io_error() {
        let link = link();
        let mut wire = bytes::BytesMut::new();
        EventBuilder::new("E").build().encode(&mut wire).unwrap();
        let mut reading = Reading::new(1024);
        assert!(matches!(reading.poll(&link), Ok(Inbound::Read)));
        reading.buffer()[..wire.len()].copy_from_slice(&wire);
        reading.handle_read(&link, Ok(wire.len())).unwrap();
        let timeout = reading.handle_read(&link, Err(io::ErrorKind::WouldBlock.into()));
        assert!(
            timeout.unwrap_err().is_timeout(),
            "a timeout changes nothing"
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        reading.handle_read(&link, Err(reset)).unwrap();
        assert!(matches!(
            reading.poll(&link),
            Ok(Inbound::Item(Ok(SessionEvent::Event(_))))
        ));
        match reading.poll(&link) {
            Ok(Inbound::Last(Err(Error::Io(e)))) => {
                assert_eq!(e.kind(), io::ErrorKind::ConnectionReset)
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(reading.poll(&link), Ok(Inbound::Done)));
        assert_eq!(link.apply(event()).unwrap_err().kind(), "reset");
    }
}
