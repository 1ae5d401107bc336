//! Budgets of buffered frame bytes: how much of the frames still being assembled a server keeps
//! in memory, per connection and for the whole server.
//!
//! Each server stream's session buffers the frame it is assembling
//! ([`Session::buffered_input_len`](eventstream::session::Session::buffered_input_len)), and the
//! [`Receiver`](crate::Receiver) releases HTTP/2 receive capacity for what the session took, so
//! that a frame larger than the stream's window can arrive at all. Without a budget, a client
//! could open many streams, send most of a large frame on each and stall, and the server would
//! hold all of those partial frames. With one, a stream charges the growth of its session's
//! buffer to two [`Pool`]s, its connection's and the server's, before it feeds the bytes; past
//! either limit it waits: it feeds nothing and releases no capacity, so the peer is held back
//! by the stream's flow-control window.
//!
//! # Accounting
//!
//! - Bytes that arrive as whole frames (a frame entirely inside the bytes the stream took from
//!   h2, at a frame boundary) cost nothing: the session hands them on without buffering them,
//!   and flow control bounds them already.
//! - The bytes of a frame being assembled are charged as they are fed, and stay charged until
//!   the frame has been delivered: until the application comes back to the receiver with every
//!   event taken (so a mirror that echoes a large frame keeps it charged while the echo waits
//!   for the client's window).
//! - Everything a stream holds is credited back when its receiver ends or is dropped; a credit
//!   wakes the streams waiting on either pool.
//!
//! # Why it cannot deadlock
//!
//! Streams charge bit by bit, so several streams could each hold part of a full pool while each
//! needs more to complete its frame. To break that, one stream at a time per pool, the
//! *overdraft holder*, may go past the limit: a stream that already holds budget (it is in the
//! middle of a frame) and finds the pool full takes the pool's overdraft when nobody else has
//! it, and keeps it until one of its frames is delivered (or it ends). A stream may take the
//! server's overdraft only together with its connection's, so the server's overdraft holder can
//! always go on: whenever every holder waits for budget, one of them proceeds, finishes its
//! frame and frees its share, and the others follow. A single frame larger than the whole budget
//! therefore still arrives (through the overdraft), and a stream holding nothing never overdraws
//! (it waits for the holders). What a stalled peer holds stays held: that is the point.
//!
//! Memory: a pool never exceeds its limit by more than one frame (the overdraft holder's, at
//! most the session's frame limit) plus one read of h2 data (the upper bound charged before a
//! feed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// One budget of buffered frame bytes: a connection's or a server's.
#[derive(Debug)]
pub(crate) struct Pool {
    state: Mutex<PoolState>,
}

#[derive(Debug)]
struct PoolState {
    limit: usize,
    used: usize,
    /// The stream allowed past the limit, by [`Holding`] id.
    overdraft: Option<u64>,
    /// The streams waiting for budget, by [`Holding`] id.
    waiters: Vec<(u64, Waker)>,
}

impl PoolState {
    fn room(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    fn overdraft_free_for(&self, id: u64) -> bool {
        self.overdraft.is_none_or(|holder| holder == id)
    }

    fn wait(&mut self, id: u64, waker: &Waker) {
        match self.waiters.iter_mut().find(|(w, _)| *w == id) {
            Some((_, old)) => old.clone_from(waker),
            None => self.waiters.push((id, waker.clone())),
        }
    }

    fn forget(&mut self, id: u64) {
        self.waiters.retain(|(w, _)| *w != id);
        if self.overdraft == Some(id) {
            self.overdraft = None;
        }
    }
}

impl Pool {
    /// A pool of `limit` bytes.
    pub(crate) fn new(limit: usize) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(PoolState {
                limit,
                used: 0,
                overdraft: None,
                waiters: Vec::new(),
            }),
        })
    }

    /// The bytes charged now.
    pub(crate) fn used(&self) -> usize {
        self.lock().used
    }

    /// Every step completes or returns early under the lock: a poisoned lock is still consistent.
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The two pools a server stream charges: its connection's and the server's.
#[derive(Clone, Debug)]
pub(crate) struct Budgets {
    pub(crate) connection: Arc<Pool>,
    pub(crate) server: Arc<Pool>,
}

/// A process-wide id for each holding: who holds an overdraft, who waits.
fn next_holding_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One stream's share of its [`Budgets`]: what it has charged, credited back when dropped.
#[derive(Debug)]
pub(crate) struct Holding {
    id: u64,
    pools: Budgets,
    held: usize,
    /// Waiting for budget since the last grant (for the log).
    waiting: bool,
}

impl Holding {
    pub(crate) fn new(pools: Budgets) -> Holding {
        Holding {
            id: next_holding_id(),
            pools,
            held: 0,
            waiting: false,
        }
    }

    /// Asks for up to `want` more bytes (at least one). Ready with the bytes granted, between
    /// one and `want` (all of `want` through the overdraft); otherwise the stream waits, and
    /// `cx` is woken when either pool is credited.
    pub(crate) fn poll_charge(&mut self, want: usize, cx: &mut Context<'_>) -> Poll<usize> {
        debug_assert!(want > 0);
        let (mut conn, mut server) = (self.pools.connection.lock(), self.pools.server.lock());
        let room = conn.room().min(server.room());
        let granted = if room > 0 {
            Some(want.min(room))
        } else if self.held > 0 {
            // In the middle of a frame with a full pool: the overdraft, if it is free. The
            // server's goes only with the connection's, so that its holder can always proceed.
            let server_full = server.room() == 0;
            let free = conn.overdraft_free_for(self.id)
                && (!server_full || server.overdraft_free_for(self.id));
            if free {
                if conn.overdraft.is_none() || (server_full && server.overdraft.is_none()) {
                    tracing::debug!(
                        held = self.held,
                        connection_limit = conn.limit,
                        server_limit = server.limit,
                        "frame buffer budget full: this stream takes the overdraft"
                    );
                }
                conn.overdraft = Some(self.id);
                if server_full {
                    server.overdraft = Some(self.id);
                }
                Some(want)
            } else {
                None
            }
        } else {
            None
        };
        match granted {
            Some(n) => {
                conn.used += n;
                server.used += n;
                self.held += n;
                if self.waiting {
                    conn.waiters.retain(|(w, _)| *w != self.id);
                    server.waiters.retain(|(w, _)| *w != self.id);
                    self.waiting = false;
                    tracing::debug!(held = self.held, "frame buffer budget granted: resuming");
                }
                Poll::Ready(n)
            }
            None => {
                conn.wait(self.id, cx.waker());
                server.wait(self.id, cx.waker());
                if !self.waiting {
                    self.waiting = true;
                    tracing::debug!(
                        held = self.held,
                        connection_used = conn.used,
                        connection_limit = conn.limit,
                        server_used = server.used,
                        server_limit = server.limit,
                        "frame buffer budget full: the stream stops receiving"
                    );
                }
                Poll::Pending
            }
        }
    }

    /// Makes the holding exactly `to` bytes: credits what is over it (which ends an overdraft
    /// and wakes the waiting streams), or charges what is missing without asking (for bytes the
    /// session holds beyond what was granted; at most one read).
    pub(crate) fn set(&mut self, to: usize) {
        if to == self.held {
            return;
        }
        let wake = {
            let (mut conn, mut server) = (self.pools.connection.lock(), self.pools.server.lock());
            if to > self.held {
                let more = to - self.held;
                conn.used += more;
                server.used += more;
                self.held = to;
                return;
            }
            let less = self.held - to;
            conn.used -= less;
            server.used -= less;
            self.held = to;
            for pool in [&mut conn, &mut server] {
                if pool.overdraft == Some(self.id) {
                    pool.overdraft = None;
                }
            }
            let mut wake = std::mem::take(&mut conn.waiters);
            wake.append(&mut server.waiters);
            // A stream waits on both pools: wake it once.
            wake.sort_unstable_by_key(|(id, _)| *id);
            wake.dedup_by_key(|(id, _)| *id);
            wake
        };
        for (_, waker) in wake {
            waker.wake();
        }
    }
}

impl Holding {
    /// How many bytes of `chunk`, the next bytes of the stream, may be fed to its session now,
    /// given `assembling`, the bytes of a frame it is assembling: at least one when ready. In the
    /// middle of a frame all of them are charged; at a frame boundary the whole frames are free
    /// and only the start of a frame cut short is charged. Pending when the budget is full
    /// (`cx` is woken by a credit).
    pub(crate) fn poll_admit(
        &mut self,
        chunk: &[u8],
        assembling: usize,
        cx: &mut Context<'_>,
    ) -> Poll<usize> {
        if assembling > 0 {
            return self.poll_charge(chunk.len(), cx);
        }
        let whole = whole_frames_len(chunk);
        let tail = chunk.len() - whole;
        if tail == 0 {
            return Poll::Ready(whole);
        }
        match self.poll_charge(tail, cx) {
            Poll::Ready(n) => Poll::Ready(whole + n),
            Poll::Pending if whole > 0 => Poll::Ready(whole),
            Poll::Pending => Poll::Pending,
        }
    }

    /// After bytes admitted by [`poll_admit`](Self::poll_admit) were fed, `before` being what the
    /// session was assembling then: keeps charged what it assembles now (`assembling`) and,
    /// when a frame being assembled was completed, the bytes of the messages it became
    /// (`before + consumed`) until they are delivered; gives back the rest of the grant.
    pub(crate) fn fed(&mut self, before: usize, consumed: usize, assembling: usize) {
        self.set(if before == 0 {
            assembling
        } else {
            before + consumed
        });
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.set(0);
        let (mut conn, mut server) = (self.pools.connection.lock(), self.pools.server.lock());
        conn.forget(self.id);
        server.forget(self.id);
    }
}

/// How many leading bytes of `data` are whole frames, read from their preludes' lengths as the
/// session reads them (a declared length under a prelude counts as a prelude). `data` starts at
/// a frame boundary.
fn whole_frames_len(data: &[u8]) -> usize {
    const PRELUDE_LEN: usize = 12;
    let mut at = 0;
    while let Some(p) = data.get(at..at + PRELUDE_LEN) {
        let total = (u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize).max(PRELUDE_LEN);
        if total > data.len() - at {
            break;
        }
        at += total;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    fn budgets(connection: usize, server: &Arc<Pool>) -> Budgets {
        Budgets {
            connection: Pool::new(connection),
            server: server.clone(),
        }
    }

    fn charge(h: &mut Holding, want: usize, waker: &Waker) -> Poll<usize> {
        h.poll_charge(want, &mut Context::from_waker(waker))
    }

    #[test]
    fn grants_up_to_the_room_then_waits_and_is_woken_by_a_credit() {
        let server = Pool::new(1000);
        let pools = budgets(100, &server);
        let (mut a, mut b) = (Holding::new(pools.clone()), Holding::new(pools.clone()));
        let (woken, w) = waker();
        assert_eq!(charge(&mut a, 60, &w), Poll::Ready(60));
        assert_eq!(charge(&mut b, 60, &w), Poll::Ready(40), "the room only");
        // Both hold and the pool is full: the first to ask takes the overdraft.
        assert_eq!(charge(&mut b, 10, &w), Poll::Ready(10));
        assert_eq!(
            charge(&mut a, 10, &w),
            Poll::Pending,
            "one overdraft at a time"
        );
        assert_eq!(pools.connection.used(), 110);
        assert_eq!(server.used(), 110);
        // B's frame is delivered: the overdraft ends and A is woken.
        b.set(0);
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert_eq!(charge(&mut a, 10, &w), Poll::Ready(10));
        drop((a, b));
        assert_eq!((pools.connection.used(), server.used()), (0, 0));
    }

    #[test]
    fn a_stream_holding_nothing_never_overdraws() {
        let server = Pool::new(1000);
        let pools = budgets(100, &server);
        let (mut a, mut b) = (Holding::new(pools.clone()), Holding::new(pools.clone()));
        let (woken, w) = waker();
        assert_eq!(charge(&mut a, 100, &w), Poll::Ready(100));
        assert_eq!(charge(&mut b, 1, &w), Poll::Pending);
        drop(a);
        assert_eq!(
            woken.0.load(Ordering::SeqCst),
            1,
            "dropping a holding wakes"
        );
        assert_eq!(charge(&mut b, 1, &w), Poll::Ready(1));
    }

    #[test]
    fn a_frame_larger_than_the_budget_goes_through_alone() {
        let server = Pool::new(50);
        let pools = budgets(100, &server);
        let mut a = Holding::new(pools.clone());
        let (_, w) = waker();
        assert_eq!(charge(&mut a, 80, &w), Poll::Ready(50));
        assert_eq!(charge(&mut a, 1000, &w), Poll::Ready(1000));
        assert_eq!(a.held, 1050);
        a.set(0);
        assert_eq!(server.used(), 0);
    }

    #[test]
    fn the_server_overdraft_goes_with_the_connection_overdraft() {
        // Two connections sharing a full server pool; on connection 1, stream Y holds the
        // connection's overdraft.
        let server = Pool::new(100);
        let one = budgets(60, &server);
        let two = budgets(1000, &server);
        let (mut x, mut y) = (Holding::new(one.clone()), Holding::new(one.clone()));
        let mut z = Holding::new(two.clone());
        let (_, w) = waker();
        assert_eq!(charge(&mut x, 30, &w), Poll::Ready(30));
        assert_eq!(charge(&mut y, 30, &w), Poll::Ready(30));
        assert_eq!(
            charge(&mut y, 5, &w),
            Poll::Ready(5),
            "Y: connection overdraft"
        );
        assert_eq!(charge(&mut z, 40, &w), Poll::Ready(35), "the server's room");
        // X cannot take the server's overdraft without the connection's, which Y has.
        assert_eq!(charge(&mut x, 5, &w), Poll::Pending);
        // Y can: it has its connection's.
        assert_eq!(charge(&mut y, 5, &w), Poll::Ready(5));
        // Z, on the other connection, waits for Y.
        assert_eq!(charge(&mut z, 5, &w), Poll::Pending);
        y.set(0);
        assert_eq!(charge(&mut z, 5, &w), Poll::Ready(5));
    }

    #[test]
    fn whole_frames_at_a_boundary_are_free_and_a_cut_frame_is_charged() {
        let server = Pool::new(1000);
        let pools = budgets(10, &server);
        let mut a = Holding::new(pools.clone());
        let (_, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut chunk = 16u32.to_be_bytes().to_vec();
        chunk.resize(16, 0);
        chunk.extend(100u32.to_be_bytes());
        chunk.resize(16 + 30, 0);
        // The whole frame, and as much of the cut one as the budget has room for.
        assert_eq!(a.poll_admit(&chunk, 0, &mut cx), Poll::Ready(26));
        a.fed(0, 26, 10);
        assert_eq!(pools.connection.used(), 10);
        // In the middle of a frame, with a full budget: the overdraft.
        assert_eq!(a.poll_admit(&chunk[26..], 10, &mut cx), Poll::Ready(20));
        a.fed(10, 20, 30);
        assert_eq!(pools.connection.used(), 30);
        // Whole frames only: free, even with a full budget.
        let mut b = Holding::new(pools.clone());
        assert_eq!(b.poll_admit(&chunk[..16], 0, &mut cx), Poll::Ready(16));
        assert_eq!(b.poll_admit(&chunk[16..], 0, &mut cx), Poll::Pending);
    }

    #[test]
    fn whole_frames_are_found_by_their_lengths() {
        let frame = |len: u32| {
            let mut f = len.to_be_bytes().to_vec();
            f.resize(len as usize, 0);
            f
        };
        let mut data = frame(16);
        data.extend(frame(20));
        assert_eq!(whole_frames_len(&data), 36);
        data.extend(&frame(100)[..50]);
        assert_eq!(whole_frames_len(&data), 36);
        assert_eq!(whole_frames_len(&data[..10]), 0);
        assert_eq!(whole_frames_len(&[]), 0);
    }
}
