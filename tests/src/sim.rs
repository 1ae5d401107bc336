//! Deterministic simulation: a client [`Session`] and a server [`Session`] joined by an in-memory
//! link in each direction, driven tick by tick by a virtual clock and a seeded RNG.
//!
//! Nothing here touches a socket, a runtime or a real clock, so a run is a pure function of its
//! [`SimConfig`] (seed included), its two sessions and its two [`Application`]s: the same inputs
//! replay the same run, byte for byte and tick for tick.
//!
//! # The model
//!
//! - **Links.** Each direction has a [`Link`]. What a session hands out with
//!   [`Session::poll_transmit`] is split at random points into chunks, and each chunk is delivered
//!   at a random later tick (never before the chunk ahead of it: a link is a byte stream, like one
//!   direction of a TCP connection or an HTTP/2 stream). [`Transmit::Finish`] travels behind the
//!   last chunk and becomes the receiver's end of input. [`Transmit::Reset`] breaks the link at
//!   once: chunks still in flight are lost, and the receiver's input ends after what had already
//!   been delivered. A link can also be cut ([`Cut`]: at a byte offset of the stream or at a tick;
//!   the receiver then gets its end of input after the bytes before the cut) and can flip a byte
//!   ([`Flip`]).
//! - **Backpressure.** Bytes a session does not consume ([`Session::handle_input`] returns less
//!   than it was offered) stay in the link, and are offered again after the application has
//!   polled events. A [`PollPolicy`] models a fast or a slow application.
//! - **Applications.** Each side's [`Application`] issues commands through an [`Endpoint`] (at
//!   every tick, and for every event it polls); every command is followed by draining
//!   `poll_transmit`, as the drain contract asks. [`Script`] issues commands at given ticks,
//!   [`Echo`] mirrors what it receives, [`Idle`] only listens.
//! - **Time.** Tick `t` is `start + t * seconds_per_tick` seconds after the Unix epoch: every
//!   command signs at that [`SigningTime`], and [`Session::set_now`] is given it at every tick.
//! - **Records.** Everything each application saw ([`Seen`]) and did ([`CommandRecord`]), and the
//!   backpressure each session applied, ends up in the [`Outcome`]'s [`SideReport`]s; the links
//!   keep a transcript of everything their sender sent.
//! - **Hang guard.** A run that has not finished after [`SimConfig::max_ticks`] ticks stops with a
//!   [`Hang`] that describes both sides; [`Sim::run`] panics with it. Nothing loops forever.
//!
//! A run is finished when both applications have seen their terminal event, both report
//! [`Application::is_done`], and both links are quiet (nothing in flight, nothing waiting to be
//! consumed, every end of input handed to its session).
//!
//! ```
//! use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
//! use eventstream_tests::sim::{Echo, Op, Script, Sim, SimConfig};
//!
//! let client = Session::new(SessionConfig::new(Role::Client, Mode::Rpc));
//! let server = Session::new(SessionConfig::new(Role::Server, Mode::Rpc));
//! let script = Script::new()
//!     .at(0, Op::Send(EventBuilder::new("Ping").payload(&b"1"[..]).build()))
//!     .at(3, Op::Finish);
//! let outcome = Sim::new(SimConfig::new(7), client, server, script, Echo::default()).run();
//! assert_eq!(outcome.client.received_messages().len(), 1);
//! assert_eq!(outcome.client.terminal(), Some(&SessionEvent::End));
//! assert_eq!(outcome.server.terminal(), Some(&SessionEvent::End));
//! ```

use std::collections::VecDeque;
use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use eventstream::frame::{Header, HeaderValue, Message, PRELUDE_LEN};
use eventstream::session::{
    error_message, Role, SendError, Session, SessionEvent, Transmit, EVENT_TYPE, INITIAL_RESPONSE,
};
use eventstream::sign::SigningTime;

use crate::fix_message_crc;

// ---------------------------------------------------------------------------------------------
// RNG
// ---------------------------------------------------------------------------------------------

/// A small seeded pseudo-random generator (SplitMix64): the simulation's only source of chance.
///
/// Not for cryptography; chosen because it is tiny, fast, has no dependencies and gives the same
/// sequence on every platform.
#[derive(Clone, Debug)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator that starts from `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    ///
    /// # Panics
    ///
    /// When `n` is zero.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "SimRng::below(0)");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..=hi`.
    ///
    /// # Panics
    ///
    /// When `lo > hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "SimRng::between({lo}, {hi})");
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// `true` with probability `num / den`.
    ///
    /// # Panics
    ///
    /// When `den` is zero.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// An independent generator seeded from this one.
    pub fn fork(&mut self) -> SimRng {
        SimRng::new(self.next_u64())
    }
}

// ---------------------------------------------------------------------------------------------
// Link
// ---------------------------------------------------------------------------------------------

/// Where a [`Link`] breaks by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Only the first `n` bytes of the sender's stream ever get through: the cut happens when the
    /// sender sends byte `n` (counting from 0), and the receiver's input ends right after the byte
    /// before it. A stream that finishes with `n` bytes or fewer is not cut.
    AtByte(u64),
    /// At the start of this tick, chunks still in flight are lost and the receiver's input ends
    /// after what had been delivered. No effect if the sender's end of stream already arrived.
    AtTick(u64),
}

/// A byte the link corrupts (XOR with `mask`) on its way, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flip {
    /// Which byte.
    pub target: FlipTarget,
    /// What it is XORed with (non-zero, or nothing changes).
    pub mask: u8,
    /// Recompute the message CRC of the frame that holds the byte, so that the corruption gets
    /// past the frame layer (the whole frame must then be in one transmitted piece, as a
    /// session hands out whole frames).
    pub fix_crc: bool,
}

/// Which byte a [`Flip`] corrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlipTarget {
    /// This offset of the sender's stream.
    Offset(u64),
    /// The middle byte of the payload of the frame with this index (counting from 0) in the
    /// sender's stream.
    ///
    /// # Panics
    ///
    /// The run panics if that frame has an empty payload.
    PayloadOf {
        /// The frame's index.
        frame: usize,
    },
}

/// How a [`Link`] behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Chunks are `1..=max_chunk` bytes long, uniformly (0 counts as 1).
    pub max_chunk: usize,
    /// Each chunk is delivered `1..=max_delay` ticks after it was sent (0 counts as 1), and never
    /// before the chunk ahead of it.
    pub max_delay: u64,
    /// Where the link breaks, if it does.
    pub cut: Option<Cut>,
    /// A byte to corrupt, if any.
    pub flip: Option<Flip>,
}

impl Default for LinkConfig {
    /// Chunks of up to 64 bytes, delays of up to 3 ticks, no cut, no corruption.
    fn default() -> Self {
        LinkConfig {
            max_chunk: 64,
            max_delay: 3,
            cut: None,
            flip: None,
        }
    }
}

impl LinkConfig {
    /// The [`Default`] link.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`max_chunk`](Self::max_chunk).
    #[must_use]
    pub fn with_max_chunk(mut self, max_chunk: usize) -> Self {
        self.max_chunk = max_chunk;
        self
    }

    /// Sets [`max_delay`](Self::max_delay).
    #[must_use]
    pub fn with_max_delay(mut self, max_delay: u64) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Sets [`cut`](Self::cut).
    #[must_use]
    pub fn with_cut(mut self, cut: Cut) -> Self {
        self.cut = Some(cut);
        self
    }

    /// Sets [`flip`](Self::flip).
    #[must_use]
    pub fn with_flip(mut self, flip: Flip) -> Self {
        self.flip = Some(flip);
        self
    }

    /// A random link: chunks of up to 1, 2..=16, 17..=256 or 4,096 bytes, delays of up to 1..=8
    /// ticks; no cut, no corruption.
    pub fn random(rng: &mut SimRng) -> Self {
        let max_chunk = match rng.below(4) {
            0 => 1,
            1 => rng.between(2, 16),
            2 => rng.between(17, 256),
            _ => 4096,
        } as usize;
        LinkConfig {
            max_chunk,
            max_delay: rng.between(1, 8),
            cut: None,
            flip: None,
        }
    }
}

/// Why a link's input ended at the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkEnd {
    /// The sender's [`Transmit::Finish`], behind all its bytes.
    Finish,
    /// The sender's [`Transmit::Reset`]: what was in flight was lost.
    Reset,
    /// The link's own [`Cut`].
    Cut,
}

/// One direction of the connection: a byte stream with random splits and delays, end of input,
/// resets, cuts and corruption. Read it from an [`Outcome`].
pub struct Link {
    name: &'static str,
    config: LinkConfig,
    rng: SimRng,
    /// Every byte the sender sent, as sent (before any corruption), including those dropped.
    transcript: BytesMut,
    /// Stream offsets where complete frames of the transcript end.
    frame_ends: Vec<u64>,
    /// Start of the first frame of the transcript not yet complete.
    scan: u64,
    in_flight: VecDeque<(u64, Bytes)>,
    last_at: u64,
    /// Delivered and not yet consumed by the receiving session, in the pieces delivered.
    arrived: VecDeque<Bytes>,
    delivered: u64,
    consumed: u64,
    dropped: u64,
    /// The sender's side is over (finished, reset or cut): later bytes are dropped.
    closed: bool,
    pending_end: Option<(u64, LinkEnd)>,
    end: Option<(u64, LinkEnd)>,
    cut_at: Option<u64>,
    flipped_at: Option<u64>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("sent", &self.transcript.len())
            .field("frames", &self.frame_ends.len())
            .field("in_flight_chunks", &self.in_flight.len())
            .field("arrived_unconsumed", &self.arrived_len())
            .field("delivered", &self.delivered)
            .field("consumed", &self.consumed)
            .field("dropped", &self.dropped)
            .field("closed", &self.closed)
            .field("pending_end", &self.pending_end)
            .field("end", &self.end)
            .field("cut_at", &self.cut_at)
            .field("flipped_at", &self.flipped_at)
            .finish()
    }
}

impl Link {
    fn new(name: &'static str, config: LinkConfig, rng: SimRng) -> Self {
        Link {
            name,
            config,
            rng,
            transcript: BytesMut::new(),
            frame_ends: Vec::new(),
            scan: 0,
            in_flight: VecDeque::new(),
            last_at: 0,
            arrived: VecDeque::new(),
            delivered: 0,
            consumed: 0,
            dropped: 0,
            closed: false,
            pending_end: None,
            end: None,
            cut_at: None,
            flipped_at: None,
        }
    }

    /// `"client->server"` or `"server->client"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// How the link was configured.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Every byte the sender sent, in order and uncorrupted, including bytes the link dropped.
    pub fn transcript(&self) -> &[u8] {
        &self.transcript
    }

    /// The stream offsets at which the transcript's complete frames end, in order.
    pub fn frame_ends(&self) -> &[u64] {
        &self.frame_ends
    }

    /// How many bytes reached the receiver (the first `delivered()` bytes of the transcript).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// How many delivered bytes the receiving session consumed (or discarded once terminated).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// How many sent bytes never reached the receiver (lost to a reset or a cut).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Why, and at which tick, the receiver's input ended; `None` if it never did.
    pub fn end(&self) -> Option<(u64, LinkEnd)> {
        self.end
    }

    /// Why the receiver's input ended, if it did.
    pub fn end_kind(&self) -> Option<LinkEnd> {
        self.end.map(|(_, kind)| kind)
    }

    /// The stream offset at which a reset or a cut broke the link, if one did: the receiver got
    /// exactly the bytes before it.
    pub fn cut_at(&self) -> Option<u64> {
        self.cut_at
    }

    /// The stream offset of the byte the link corrupted, if it did.
    pub fn flipped_at(&self) -> Option<u64> {
        self.flipped_at
    }

    /// How many complete frames of the transcript were delivered.
    pub fn frames_delivered(&self) -> usize {
        self.frame_ends
            .partition_point(|&end| end <= self.delivered)
    }

    /// Whether the delivered bytes end exactly at a frame boundary (or are empty).
    pub fn delivered_at_frame_boundary(&self) -> bool {
        self.delivered == 0 || self.frame_ends.binary_search(&self.delivered).is_ok()
    }

    /// Whether nothing is in flight, waiting to be consumed, or waiting to end the input.
    pub fn is_quiet(&self) -> bool {
        self.in_flight.is_empty() && self.arrived.is_empty() && self.pending_end.is_none()
    }

    fn arrived_len(&self) -> usize {
        self.arrived.iter().map(Bytes::len).sum()
    }

    fn next_delivery(&mut self, tick: u64) -> u64 {
        let at = (tick + self.rng.between(1, self.config.max_delay.max(1))).max(self.last_at);
        self.last_at = at;
        at
    }

    fn scan_frames(&mut self) {
        loop {
            let start = self.scan as usize;
            if self.transcript.len() < start + 4 {
                return;
            }
            let total = u32::from_be_bytes(
                self.transcript[start..start + 4]
                    .try_into()
                    .expect("four bytes"),
            ) as usize;
            if total < 16 || self.transcript.len() < start + total {
                // Incomplete (or not a frame at all: then no later frame is recognised either).
                return;
            }
            self.scan += total as u64;
            self.frame_ends.push(self.scan);
        }
    }

    /// Where frame `index` starts, if its prelude has been sent; and its total and headers length.
    fn frame_layout(&self, index: usize) -> Option<(u64, usize, usize)> {
        let start = match index.cmp(&self.frame_ends.len()) {
            std::cmp::Ordering::Less => {
                if index == 0 {
                    0
                } else {
                    self.frame_ends[index - 1]
                }
            }
            std::cmp::Ordering::Equal => self.scan,
            std::cmp::Ordering::Greater => return None,
        };
        let s = start as usize;
        if self.transcript.len() < s + PRELUDE_LEN {
            return None;
        }
        let word = |at: usize| {
            u32::from_be_bytes(self.transcript[at..at + 4].try_into().expect("four bytes")) as usize
        };
        Some((start, word(s), word(s + 4)))
    }

    fn flip_offset(&self) -> Option<(u64, Flip)> {
        let flip = self.config.flip?;
        match flip.target {
            FlipTarget::Offset(o) => Some((o, flip)),
            FlipTarget::PayloadOf { frame } => {
                let (start, total, headers) = self.frame_layout(frame)?;
                let payload = total.saturating_sub(headers + 16);
                assert!(
                    payload > 0,
                    "{}: Flip::PayloadOf {{ frame: {frame} }}: that frame has an empty payload",
                    self.name
                );
                Some((start + (PRELUDE_LEN + headers + payload / 2) as u64, flip))
            }
        }
    }

    /// The sender hands over bytes at `tick`.
    fn push(&mut self, bytes: Bytes, tick: u64) {
        if bytes.is_empty() {
            return;
        }
        let start = self.transcript.len() as u64;
        self.transcript.extend_from_slice(&bytes);
        self.scan_frames();
        if self.closed {
            self.dropped += bytes.len() as u64;
            return;
        }
        let end = start + bytes.len() as u64;
        let mut data = bytes;
        if let (None, Some((at, flip))) = (self.flipped_at, self.flip_offset()) {
            if (start..end).contains(&at) {
                let mut copy = BytesMut::from(&data[..]);
                copy[(at - start) as usize] ^= flip.mask;
                if flip.fix_crc {
                    let frame = self.frame_ends.partition_point(|&e| e <= at);
                    let (frame_start, total, _) = self
                        .frame_layout(frame)
                        .expect("the flipped byte's frame has a prelude");
                    assert!(
                        frame_start >= start && frame_start + total as u64 <= end,
                        "{}: Flip {{ fix_crc: true }} needs the whole frame in one transmitted piece",
                        self.name
                    );
                    let from = (frame_start - start) as usize;
                    assert!(fix_message_crc(&mut copy[from..]));
                }
                data = copy.freeze();
                self.flipped_at = Some(at);
            }
        }
        let mut keep = data.len();
        let mut cut = false;
        if let Some(Cut::AtByte(n)) = self.config.cut {
            if n < end {
                keep = n.saturating_sub(start) as usize;
                cut = true;
            }
        }
        let mut at = 0;
        while at < keep {
            let size =
                (self.rng.between(1, self.config.max_chunk.max(1) as u64) as usize).min(keep - at);
            let when = self.next_delivery(tick);
            self.in_flight.push_back((when, data.slice(at..at + size)));
            at += size;
        }
        if cut {
            self.dropped += (data.len() - keep) as u64;
            self.closed = true;
            self.cut_at = Some(start + keep as u64);
            let when = self.next_delivery(tick);
            self.pending_end = Some((when, LinkEnd::Cut));
        }
    }

    /// The sender's `Finish` or `Reset` at `tick`. A reset after a finish that has not arrived yet
    /// still breaks the link (as an HTTP/2 `RST_STREAM` after `END_STREAM` does); after a reset or
    /// a cut, or once the end arrived, nothing changes.
    fn push_end(&mut self, kind: LinkEnd, tick: u64) {
        let finish_pending = matches!(self.pending_end, Some((_, LinkEnd::Finish)));
        if self.closed && !(kind == LinkEnd::Reset && finish_pending) {
            return;
        }
        self.closed = true;
        match kind {
            LinkEnd::Finish => {
                let when = self.next_delivery(tick);
                self.pending_end = Some((when, LinkEnd::Finish));
            }
            LinkEnd::Reset | LinkEnd::Cut => {
                self.break_now();
                let when = tick + self.rng.between(1, self.config.max_delay.max(1));
                self.pending_end = Some((when, kind));
            }
        }
    }

    /// Loses everything in flight: the receiver gets exactly what was delivered.
    fn break_now(&mut self) {
        self.dropped += self
            .in_flight
            .drain(..)
            .map(|(_, b)| b.len() as u64)
            .sum::<u64>();
        self.cut_at = Some(self.delivered);
    }

    /// Delivers what is due at `tick`, after applying a cut at that tick.
    fn deliver(&mut self, tick: u64) {
        if let Some(Cut::AtTick(t)) = self.config.cut {
            let reset_pending = matches!(self.pending_end, Some((_, LinkEnd::Reset)));
            if tick >= t && self.end.is_none() && !reset_pending && self.cut_at.is_none() {
                self.closed = true;
                self.break_now();
                self.pending_end = Some((tick, LinkEnd::Cut));
            }
        }
        while let Some(&(when, _)) = self.in_flight.front() {
            if when > tick {
                break;
            }
            let (_, chunk) = self.in_flight.pop_front().expect("front exists");
            self.delivered += chunk.len() as u64;
            self.arrived.push_back(chunk);
        }
        if let Some((when, kind)) = self.pending_end {
            if when <= tick && self.in_flight.is_empty() {
                self.pending_end = None;
                self.end = Some((tick, kind));
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.consumed += n as u64;
        let front = self
            .arrived
            .front_mut()
            .expect("consumed from an arrived chunk");
        front.advance(n);
        if front.is_empty() {
            self.arrived.pop_front();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Applications and commands
// ---------------------------------------------------------------------------------------------

/// A command an application gives its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// [`Session::send_initial_request`].
    InitialRequest(Message),
    /// [`Session::send_initial_response`].
    InitialResponse(Message),
    /// [`Session::send`].
    Send(Message),
    /// [`Session::send_exception`].
    Exception(Message),
    /// [`Session::send_error`].
    Error {
        /// `:error-code`.
        code: String,
        /// `:error-message`.
        text: String,
    },
    /// [`Session::finish`].
    Finish,
    /// [`Session::abort`].
    Abort,
}

impl Op {
    /// The message the command puts on the wire, if any (for [`Op::Error`], the message
    /// [`error_message`] builds).
    pub fn message(&self) -> Option<Message> {
        match self {
            Op::InitialRequest(m) | Op::InitialResponse(m) | Op::Send(m) | Op::Exception(m) => {
                Some(m.clone())
            }
            Op::Error { code, text } => Some(error_message(code.as_str(), text.as_str())),
            Op::Finish | Op::Abort => None,
        }
    }

    /// Whether the message it sends ends the stream (an exception or an error).
    pub fn is_final(&self) -> bool {
        matches!(self, Op::Exception(_) | Op::Error { .. })
    }
}

/// One command an application gave, and what the session answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    /// The tick it was given at.
    pub tick: u64,
    /// The command.
    pub op: Op,
    /// The session's answer (`Ok` for `abort`, which cannot fail).
    pub result: Result<(), SendError>,
    /// Whether the session had already queued its terminal event when the command was given.
    pub terminated_before: bool,
}

/// One event an application polled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The tick it was polled at.
    pub tick: u64,
    /// The event.
    pub event: SessionEvent,
}

/// How often an application polls its session's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollPolicy {
    /// Until `None`, after every input, as the drain contract asks.
    Eager,
    /// At most this many events a tick (at least 1): a slow application.
    PerTick(usize),
    /// Until `None`, but only at ticks that are multiples of this (at least 1): a bursty one.
    Every(u64),
}

impl PollPolicy {
    /// A random policy: eager half the time, else 1..=3 events a tick or every 2..=4 ticks.
    pub fn random(rng: &mut SimRng) -> Self {
        match rng.below(4) {
            0 | 1 => PollPolicy::Eager,
            2 => PollPolicy::PerTick(rng.between(1, 3) as usize),
            _ => PollPolicy::Every(rng.between(2, 4)),
        }
    }
}

/// An application on one side: it gives commands and sees events.
///
/// Both hooks run inside a tick: [`on_tick`](Self::on_tick) once at its start, then
/// [`on_event`](Self::on_event) for every event polled, as the side's [`PollPolicy`] allows.
pub trait Application {
    /// Called once a tick, before input is handled: issue scheduled commands here.
    fn on_tick(&mut self, ep: &mut Endpoint<'_>) {
        let _ = ep;
    }

    /// Called for every event the application polls, in order (the harness records it first).
    fn on_event(&mut self, event: &SessionEvent, ep: &mut Endpoint<'_>) {
        let _ = (event, ep);
    }

    /// Whether the application has nothing left to do; the run ends only when both have none.
    fn is_done(&self) -> bool {
        true
    }
}

/// An application that only listens.
#[derive(Clone, Copy, Debug, Default)]
pub struct Idle;

impl Application for Idle {}

/// An application that gives commands at given ticks, in order, whatever it sees.
///
/// A command scheduled for a tick runs at the start of that tick; commands for the same tick run
/// in the order they were added.
#[derive(Clone, Debug, Default)]
pub struct Script {
    steps: VecDeque<(u64, Op)>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `op` at `tick` (after the commands already scheduled for that tick).
    #[must_use]
    pub fn at(mut self, tick: u64, op: Op) -> Self {
        let index = self.steps.partition_point(|&(t, _)| t <= tick);
        self.steps.insert(index, (tick, op));
        self
    }

    /// How many commands have not run yet.
    pub fn remaining(&self) -> usize {
        self.steps.len()
    }
}

impl Application for Script {
    fn on_tick(&mut self, ep: &mut Endpoint<'_>) {
        while self.steps.front().is_some_and(|&(t, _)| t <= ep.tick()) {
            let (_, op) = self.steps.pop_front().expect("front exists");
            let _ = ep.apply(op);
        }
    }

    fn is_done(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The mirror server: answers the initial request with an initial response that has the same
/// headers (but `:event-type` `initial-response`) and payload ([`echo_initial_response`]), sends
/// every event back unchanged, and finishes when the client's side ends ([`SessionEvent::End`]).
/// Refused commands are only recorded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Application for Echo {
    fn on_event(&mut self, event: &SessionEvent, ep: &mut Endpoint<'_>) {
        let _ = match event {
            SessionEvent::InitialRequest(m) => ep.send_initial_response(echo_initial_response(m)),
            SessionEvent::Event(m) => ep.send(m.clone()),
            SessionEvent::End => ep.finish(),
            _ => Ok(()),
        };
    }
}

/// The initial response [`Echo`] answers `request` with: the same headers in the same order,
/// except that every `:event-type` is `initial-response`, and the same payload.
pub fn echo_initial_response(request: &Message) -> Message {
    let headers = request
        .headers()
        .iter()
        .map(|h| {
            if h.name() == EVENT_TYPE {
                Header::from_static(EVENT_TYPE, HeaderValue::from_static(INITIAL_RESPONSE))
            } else {
                h.clone()
            }
        })
        .collect();
    Message::from_parts(headers, request.payload().clone())
}

/// What an [`Application`] acts through: its session (commands only; input is the harness's
/// business), the virtual clock, and what it saw and did so far.
///
/// Every command is recorded, then `poll_transmit` is drained into the outgoing link.
#[derive(Debug)]
pub struct Endpoint<'a> {
    session: &'a mut Session,
    outbound: &'a mut Link,
    report: &'a mut SideReport,
    tick: u64,
    now: SigningTime,
}

impl Endpoint<'_> {
    /// The current tick.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// The virtual clock's time: what commands sign with.
    pub fn now(&self) -> SigningTime {
        self.now
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.session.config().role()
    }

    /// The session, to look at.
    pub fn session(&self) -> &Session {
        self.session
    }

    /// What this side saw and did so far.
    pub fn report(&self) -> &SideReport {
        self.report
    }

    /// Gives the session `op`, signed at [`now`](Self::now); records it with its result, then
    /// drains `poll_transmit` into the link.
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn apply(&mut self, op: Op) -> Result<(), SendError> {
        let terminated_before = self.session.is_terminated();
        let now = self.now;
        let result = match &op {
            Op::InitialRequest(m) => self.session.send_initial_request(m.clone(), now),
            Op::InitialResponse(m) => self.session.send_initial_response(m.clone(), now),
            Op::Send(m) => self.session.send(m.clone(), now),
            Op::Exception(m) => self.session.send_exception(m.clone(), now),
            Op::Error { code, text } => self.session.send_error(code, text, now),
            Op::Finish => self.session.finish(now),
            Op::Abort => {
                self.session.abort();
                Ok(())
            }
        };
        self.report.commands.push(CommandRecord {
            tick: self.tick,
            op,
            result: result.clone(),
            terminated_before,
        });
        drain_transmit(self.session, self.outbound, self.report, self.tick);
        result
    }

    /// [`Op::Send`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        self.apply(Op::Send(message))
    }

    /// [`Op::InitialRequest`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn send_initial_request(&mut self, message: Message) -> Result<(), SendError> {
        self.apply(Op::InitialRequest(message))
    }

    /// [`Op::InitialResponse`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn send_initial_response(&mut self, message: Message) -> Result<(), SendError> {
        self.apply(Op::InitialResponse(message))
    }

    /// [`Op::Exception`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn send_exception(&mut self, message: Message) -> Result<(), SendError> {
        self.apply(Op::Exception(message))
    }

    /// [`Op::Error`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn send_error(&mut self, code: &str, text: &str) -> Result<(), SendError> {
        self.apply(Op::Error {
            code: code.into(),
            text: text.into(),
        })
    }

    /// [`Op::Finish`].
    ///
    /// # Errors
    ///
    /// The session's refusal.
    pub fn finish(&mut self) -> Result<(), SendError> {
        self.apply(Op::Finish)
    }

    /// [`Op::Abort`].
    pub fn abort(&mut self) {
        let _ = self.apply(Op::Abort);
    }
}

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

/// Everything one side's application saw and did, and how its session pushed back.
#[derive(Clone, Debug)]
pub struct SideReport {
    /// The side's role.
    pub role: Role,
    /// Every event the application polled, in order.
    pub events: Vec<Seen>,
    /// Every command the application gave, in order.
    pub commands: Vec<CommandRecord>,
    /// How many events each poll round that yielded any yielded.
    pub poll_rounds: Vec<usize>,
    /// How many times `handle_input` / `handle_bytes` was called.
    pub input_calls: u64,
    /// How many of those calls consumed less than they were offered (backpressure).
    pub short_inputs: u64,
    /// The most complete frames the session had consumed and not yet handed out as events, over
    /// the moments right after each input call while it was not terminated: the events it held.
    pub max_unpolled_frames: usize,
    /// `Transmit::Finish` and `Transmit::Reset`, with their ticks.
    pub signals: Vec<(u64, Transmit)>,
    /// How many bytes the session transmitted.
    pub bytes_transmitted: u64,
    /// The tick at which `handle_end_of_input` was called, if it was.
    pub end_of_input_at: Option<u64>,
}

impl SideReport {
    fn new(role: Role) -> Self {
        SideReport {
            role,
            events: Vec::new(),
            commands: Vec::new(),
            poll_rounds: Vec::new(),
            input_calls: 0,
            short_inputs: 0,
            max_unpolled_frames: 0,
            signals: Vec::new(),
            bytes_transmitted: 0,
            end_of_input_at: None,
        }
    }

    /// The last event, if it is terminal.
    pub fn terminal(&self) -> Option<&SessionEvent> {
        self.events
            .last()
            .map(|s| &s.event)
            .filter(|e| e.is_terminal())
    }

    /// Whether any event seen was terminal.
    pub fn saw_terminal(&self) -> bool {
        self.events.iter().any(|s| s.event.is_terminal())
    }

    /// The kind of the error the side failed with, if its terminal event is `Failed`.
    pub fn failed_kind(&self) -> Option<&'static str> {
        match self.terminal() {
            Some(SessionEvent::Failed(e)) => Some(e.kind()),
            _ => None,
        }
    }

    /// The messages of the non-terminal events seen (initial messages and events), in order.
    pub fn received_messages(&self) -> Vec<&Message> {
        self.events
            .iter()
            .filter_map(|s| match &s.event {
                SessionEvent::InitialRequest(m)
                | SessionEvent::InitialResponse(m)
                | SessionEvent::Event(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// The messages of the accepted commands that do not end the stream (initial messages and
    /// events), in order: what the peer should receive as non-terminal events.
    pub fn sent_messages(&self) -> Vec<Message> {
        self.commands
            .iter()
            .filter(|c| c.result.is_ok() && !c.op.is_final())
            .filter_map(|c| c.op.message())
            .collect()
    }

    /// The first accepted `abort`, if any.
    pub fn abort_command(&self) -> Option<&CommandRecord> {
        self.commands.iter().find(|c| c.op == Op::Abort)
    }

    /// Checks that exactly one terminal event was seen, and that it was the last.
    ///
    /// # Errors
    ///
    /// A description of what is wrong.
    pub fn check_one_terminal_last(&self) -> Result<(), String> {
        let terminals: Vec<usize> = self
            .events
            .iter()
            .enumerate()
            .filter(|(_, s)| s.event.is_terminal())
            .map(|(i, _)| i)
            .collect();
        match terminals[..] {
            [i] if i + 1 == self.events.len() => Ok(()),
            [] => Err(format!("{:?} saw no terminal event", self.role)),
            _ => Err(format!(
                "{:?} saw terminal events at {terminals:?} of {} events: {}",
                self.role,
                self.events.len(),
                self.event_summary()
            )),
        }
    }

    /// The events seen, one short word each: `InitialRequest Event(A) End`.
    pub fn event_summary(&self) -> String {
        self.events
            .iter()
            .map(|s| describe(&s.event))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A short description of an event: its variant and `:event-type`, exception type, error code or
/// failure kind.
pub fn describe(event: &SessionEvent) -> String {
    let ty = |m: &Message| m.header_str(EVENT_TYPE).unwrap_or("?").to_owned();
    match event {
        SessionEvent::InitialRequest(_) => "InitialRequest".into(),
        SessionEvent::InitialResponse(_) => "InitialResponse".into(),
        SessionEvent::Event(m) => format!("Event({})", ty(m)),
        SessionEvent::Exception { exception_type, .. } => format!("Exception({exception_type})"),
        SessionEvent::Error { code, .. } => format!("Error({code})"),
        SessionEvent::End => "End".into(),
        SessionEvent::Closed => "Closed".into(),
        SessionEvent::Failed(e) => format!("Failed({})", e.kind()),
        other => format!("{other:?}"),
    }
}

/// Checks that `received` is a prefix of `sent`: each message delivered once, in order, and
/// byte-identical (equal, and encoding to the same bytes).
///
/// # Errors
///
/// Where the two differ.
pub fn check_prefix<A, B>(sent: &[A], received: &[B]) -> Result<(), String>
where
    A: std::borrow::Borrow<Message>,
    B: std::borrow::Borrow<Message>,
{
    if received.len() > sent.len() {
        return Err(format!(
            "received {} messages, only {} were sent",
            received.len(),
            sent.len()
        ));
    }
    for (i, (s, r)) in sent.iter().zip(received).enumerate() {
        let (s, r) = (s.borrow(), r.borrow());
        if s != r {
            return Err(format!("message {i} differs: sent {s:?}, received {r:?}"));
        }
        if crate::encode(s) != crate::encode(r) {
            return Err(format!("message {i} encodes differently"));
        }
    }
    Ok(())
}

/// Checks what `receiver` saw of what `sender` sent over `link` (the link from `sender` to
/// `receiver`); `verifying` says whether the receiver has a verifier (it then needs the signed end
/// frame).
///
/// - `receiver` saw exactly one terminal event, and last;
/// - the messages it received are a prefix of those `sender` sent ([`check_prefix`]);
/// - unless it closed the stream itself ([`SessionEvent::Closed`]), its terminal event and how
///   many messages it got follow from the link: the sender's exception or error, when that frame
///   got through, is the terminal event, after every message; else after a `Finish`, `End` and
///   every message; after a reset or a cut, the messages of the frames delivered, then `End` if
///   the delivered bytes end at a frame boundary (with a verifier: only once the end frame got
///   through, `Failed(missing_end_frame)` otherwise), `Failed(truncated)` if they end inside a
///   frame.
///
/// # Errors
///
/// What is wrong, with the run's summary.
pub fn check_direction(
    sender: &SideReport,
    receiver: &SideReport,
    link: &Link,
    verifying: bool,
) -> Result<(), String> {
    let sent = sender.sent_messages();
    let received = receiver.received_messages();
    let context = || {
        format!(
            "{:?} -> {:?}: sender did [{}]; receiver saw [{}]; {link:?}",
            sender.role,
            receiver.role,
            sender
                .commands
                .iter()
                .map(|c| format!("{:?}", c.result.as_ref().map_err(SendError::kind)))
                .collect::<Vec<_>>()
                .join(" "),
            receiver.event_summary()
        )
    };
    let wrap = |e: String| format!("{e}\n{}", context());
    receiver.check_one_terminal_last().map_err(wrap)?;
    check_prefix(&sent, &received).map_err(wrap)?;
    let terminal = receiver.terminal().expect("checked above");
    if *terminal == SessionEvent::Closed {
        return Ok(());
    }
    let frames = link.frames_delivered();
    let final_message = sender
        .commands
        .iter()
        .find(|c| c.result.is_ok() && c.op.is_final())
        .and_then(|c| c.op.message());
    let finished = sender
        .commands
        .iter()
        .any(|c| c.result.is_ok() && c.op == Op::Finish);
    let (expected, count): (&str, usize) = match (&final_message, link.end_kind()) {
        (Some(_), _) if frames > sent.len() => ("final", sent.len()),
        (_, None) => {
            return Err(wrap(format!(
                "terminal event {} though the input never ended",
                describe(terminal)
            )))
        }
        (_, Some(LinkEnd::Finish)) => ("End", sent.len()),
        (_, Some(LinkEnd::Reset | LinkEnd::Cut)) => {
            let count = frames.min(sent.len());
            if !link.delivered_at_frame_boundary() {
                ("Failed(truncated)", count)
            } else if verifying && !(finished && frames > sent.len()) {
                ("Failed(missing_end_frame)", count)
            } else {
                ("End", count)
            }
        }
    };
    let ok = match expected {
        "final" => match (terminal, &final_message) {
            (
                SessionEvent::Exception { message, .. } | SessionEvent::Error { message, .. },
                Some(m),
            ) => message == m,
            _ => false,
        },
        other => describe(terminal) == other,
    };
    if !ok {
        return Err(wrap(format!(
            "terminal event {}, expected {expected} ({frames} frames delivered, {} messages sent)",
            describe(terminal),
            sent.len()
        )));
    }
    if received.len() != count {
        return Err(wrap(format!(
            "received {} messages, expected {count} ({frames} frames delivered, {} sent)",
            received.len(),
            sent.len()
        )));
    }
    Ok(())
}

/// Checks the aborting side, if `side` aborted: its terminal event is `Closed` unless one was
/// already queued, and no command after the abort was accepted.
///
/// # Errors
///
/// What is wrong.
pub fn check_abort(side: &SideReport) -> Result<(), String> {
    let Some(at) = side.commands.iter().position(|c| c.op == Op::Abort) else {
        return Ok(());
    };
    let abort = &side.commands[at];
    if !abort.terminated_before && side.terminal() != Some(&SessionEvent::Closed) {
        return Err(format!(
            "{:?} aborted but saw [{}]",
            side.role,
            side.event_summary()
        ));
    }
    if let Some(c) = side.commands[at + 1..]
        .iter()
        .find(|c| c.op != Op::Abort && c.result.is_ok())
    {
        return Err(format!(
            "{:?} accepted {:?} after its abort",
            side.role, c.op
        ));
    }
    if side
        .signals
        .iter()
        .any(|&(tick, t)| t == Transmit::Finish && tick >= abort.tick)
    {
        // A Finish handed out at the abort's own tick must have come before it.
        let finish_before = side.commands[..at]
            .iter()
            .any(|c| c.op == Op::Finish && c.result.is_ok());
        if !finish_before {
            return Err(format!("{:?} half-closed after its abort", side.role));
        }
    }
    Ok(())
}

/// The result of a finished run.
#[derive(Debug)]
pub struct Outcome<C, S> {
    /// The seed of the run.
    pub seed: u64,
    /// How many ticks it took.
    pub ticks: u64,
    /// The client's side.
    pub client: SideReport,
    /// The server's side.
    pub server: SideReport,
    /// The client-to-server link.
    pub to_server: Link,
    /// The server-to-client link.
    pub to_client: Link,
    /// The client's application, as the run left it.
    pub client_app: C,
    /// The server's application, as the run left it.
    pub server_app: S,
}

impl<C, S> Outcome<C, S> {
    /// A few lines that describe the run: for assertion messages.
    pub fn summary(&self) -> String {
        summary(
            self.seed,
            self.ticks,
            [&self.client, &self.server],
            [&self.to_server, &self.to_client],
        )
    }
}

fn summary(seed: u64, ticks: u64, sides: [&SideReport; 2], links: [&Link; 2]) -> String {
    let mut out = format!("seed {seed}, {ticks} ticks\n");
    for side in sides {
        let commands: Vec<String> = side
            .commands
            .iter()
            .map(|c| {
                let what = match &c.op {
                    Op::InitialRequest(_) => "initial_request".to_owned(),
                    Op::InitialResponse(_) => "initial_response".to_owned(),
                    Op::Send(m) => format!("send({})", m.header_str(EVENT_TYPE).unwrap_or("?")),
                    Op::Exception(_) => "exception".to_owned(),
                    Op::Error { code, .. } => format!("error({code})"),
                    Op::Finish => "finish".to_owned(),
                    Op::Abort => "abort".to_owned(),
                };
                match &c.result {
                    Ok(()) => format!("{}@{what}", c.tick),
                    Err(e) => format!("{}@{what}!{}", c.tick, e.kind()),
                }
            })
            .collect();
        out += &format!(
            "{:?}: saw [{}]; did [{}]; signals {:?}; inputs {} ({} short)\n",
            side.role,
            side.event_summary(),
            commands.join(" "),
            side.signals,
            side.input_calls,
            side.short_inputs,
        );
    }
    for link in links {
        out += &format!("{link:?}\n");
    }
    out
}

/// A run that did not finish within [`SimConfig::max_ticks`].
#[derive(Clone, Debug)]
pub struct Hang {
    /// The seed of the run.
    pub seed: u64,
    /// The tick it was stopped at.
    pub tick: u64,
    /// Both sides and both links, described.
    pub message: String,
}

impl fmt::Display for Hang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulation hang guard: seed {} not finished after {} ticks\n{}",
            self.seed, self.tick, self.message
        )
    }
}

impl std::error::Error for Hang {}

// ---------------------------------------------------------------------------------------------
// The simulation
// ---------------------------------------------------------------------------------------------

/// How a run is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// The seed of every random choice of the run.
    pub seed: u64,
    /// The hang guard: the run fails if it has not finished after this many ticks.
    pub max_ticks: u64,
    /// The virtual time of tick 0, in seconds since the Unix epoch.
    pub start_unix_seconds: i64,
    /// How many virtual seconds a tick lasts.
    pub seconds_per_tick: i64,
    /// The client-to-server link.
    pub to_server: LinkConfig,
    /// The server-to-client link.
    pub to_client: LinkConfig,
    /// How the client's application polls.
    pub client_poll: PollPolicy,
    /// How the server's application polls.
    pub server_poll: PollPolicy,
}

impl SimConfig {
    /// 2023-11-14T22:13:20Z (1,700,000,000 s).
    pub const DEFAULT_START: i64 = 1_700_000_000;

    /// Default links both ways, eager applications, tick 0 at [`Self::DEFAULT_START`], one
    /// second a tick, a 10,000-tick hang guard.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            max_ticks: 10_000,
            start_unix_seconds: Self::DEFAULT_START,
            seconds_per_tick: 1,
            to_server: LinkConfig::default(),
            to_client: LinkConfig::default(),
            client_poll: PollPolicy::Eager,
            server_poll: PollPolicy::Eager,
        }
    }

    /// Both links and both poll policies drawn from `seed` ([`LinkConfig::random`],
    /// [`PollPolicy::random`]); otherwise as [`new`](Self::new).
    pub fn random(seed: u64) -> Self {
        let mut rng = SimRng::new(seed ^ 0x5eed_c0f1_6000_0000);
        SimConfig {
            to_server: LinkConfig::random(&mut rng),
            to_client: LinkConfig::random(&mut rng),
            client_poll: PollPolicy::random(&mut rng),
            server_poll: PollPolicy::random(&mut rng),
            ..Self::new(seed)
        }
    }

    /// Sets the client-to-server link.
    #[must_use]
    pub fn with_to_server(mut self, link: LinkConfig) -> Self {
        self.to_server = link;
        self
    }

    /// Sets the server-to-client link.
    #[must_use]
    pub fn with_to_client(mut self, link: LinkConfig) -> Self {
        self.to_client = link;
        self
    }

    /// Sets the client's poll policy.
    #[must_use]
    pub fn with_client_poll(mut self, poll: PollPolicy) -> Self {
        self.client_poll = poll;
        self
    }

    /// Sets the server's poll policy.
    #[must_use]
    pub fn with_server_poll(mut self, poll: PollPolicy) -> Self {
        self.server_poll = poll;
        self
    }

    /// Sets the virtual time of tick 0 and the length of a tick.
    #[must_use]
    pub fn with_clock(mut self, start_unix_seconds: i64, seconds_per_tick: i64) -> Self {
        self.start_unix_seconds = start_unix_seconds;
        self.seconds_per_tick = seconds_per_tick;
        self
    }

    /// Sets the hang guard.
    #[must_use]
    pub fn with_max_ticks(mut self, max_ticks: u64) -> Self {
        self.max_ticks = max_ticks;
        self
    }

    /// The virtual time of `tick`.
    ///
    /// # Panics
    ///
    /// When it is outside what [`SigningTime`] can express.
    pub fn time_at(&self, tick: u64) -> SigningTime {
        let secs = self.start_unix_seconds + tick as i64 * self.seconds_per_tick;
        SigningTime::from_unix_seconds(secs)
            .unwrap_or_else(|e| panic!("virtual clock out of range at tick {tick}: {e}"))
    }
}

#[derive(Debug)]
struct Side {
    session: Session,
    poll: PollPolicy,
    report: SideReport,
    end_of_input_signalled: bool,
    /// The time of the current tick: every input is given it.
    now: SigningTime,
}

/// A client and a server session, their applications, and the two links between them.
#[derive(Debug)]
pub struct Sim<C, S> {
    config: SimConfig,
    rng: SimRng,
    tick: u64,
    client: Side,
    server: Side,
    client_app: C,
    server_app: S,
    to_server: Link,
    to_client: Link,
}

impl<C: Application, S: Application> Sim<C, S> {
    /// A run of `client` and `server` (sessions of those roles, configured as the test wants:
    /// signer, verifier, queue size, mode) driven by `client_app` and `server_app`.
    ///
    /// # Panics
    ///
    /// When the sessions' roles are not client and server.
    pub fn new(
        config: SimConfig,
        client: Session,
        server: Session,
        client_app: C,
        server_app: S,
    ) -> Self {
        assert_eq!(client.config().role(), Role::Client, "the client session");
        assert_eq!(server.config().role(), Role::Server, "the server session");
        let mut rng = SimRng::new(config.seed);
        let to_server = Link::new("client->server", config.to_server, rng.fork());
        let to_client = Link::new("server->client", config.to_client, rng.fork());
        let side = |session: Session, poll| Side {
            report: SideReport::new(session.config().role()),
            session,
            poll,
            end_of_input_signalled: false,
            now: config.time_at(0),
        };
        Sim {
            config,
            rng,
            tick: 0,
            client: side(client, config.client_poll),
            server: side(server, config.server_poll),
            client_app,
            server_app,
            to_server,
            to_client,
        }
    }

    /// Runs to the end.
    ///
    /// # Panics
    ///
    /// With the [`Hang`]'s description when the hang guard stops the run.
    pub fn run(self) -> Outcome<C, S> {
        self.try_run().unwrap_or_else(|hang| panic!("{hang}"))
    }

    /// Runs to the end, or until the hang guard stops it.
    ///
    /// # Errors
    ///
    /// A [`Hang`] after [`SimConfig::max_ticks`] ticks.
    pub fn try_run(mut self) -> Result<Outcome<C, S>, Hang> {
        loop {
            if self.is_finished() {
                return Ok(Outcome {
                    seed: self.config.seed,
                    ticks: self.tick,
                    client: self.client.report,
                    server: self.server.report,
                    to_server: self.to_server,
                    to_client: self.to_client,
                    client_app: self.client_app,
                    server_app: self.server_app,
                });
            }
            if self.tick >= self.config.max_ticks {
                let mut message = summary(
                    self.config.seed,
                    self.tick,
                    [&self.client.report, &self.server.report],
                    [&self.to_server, &self.to_client],
                );
                message += &format!(
                    "client session: {:?}\nserver session: {:?}\nclient app done: {}, server app done: {}\n",
                    self.client.session,
                    self.server.session,
                    self.client_app.is_done(),
                    self.server_app.is_done()
                );
                return Err(Hang {
                    seed: self.config.seed,
                    tick: self.tick,
                    message,
                });
            }
            self.step();
            self.tick += 1;
        }
    }

    fn is_finished(&self) -> bool {
        let side_done = |side: &Side, inbound: &Link| {
            side.report.saw_terminal()
                && inbound.is_quiet()
                && (inbound.end.is_none() || side.end_of_input_signalled)
        };
        side_done(&self.client, &self.to_client)
            && side_done(&self.server, &self.to_server)
            && self.client_app.is_done()
            && self.server_app.is_done()
    }

    fn step(&mut self) {
        let tick = self.tick;
        let now = self.config.time_at(tick);
        self.client.now = now;
        self.server.now = now;
        self.to_server.deliver(tick);
        self.to_client.deliver(tick);
        let client_first = self.rng.chance(1, 2);
        for turn in 0..2 {
            if (turn == 0) == client_first {
                step_side(
                    &mut self.client,
                    &mut self.client_app,
                    &mut self.to_client,
                    &mut self.to_server,
                    tick,
                    now,
                );
            } else {
                step_side(
                    &mut self.server,
                    &mut self.server_app,
                    &mut self.to_server,
                    &mut self.to_client,
                    tick,
                    now,
                );
            }
        }
    }
}

fn step_side(
    side: &mut Side,
    app: &mut impl Application,
    inbound: &mut Link,
    outbound: &mut Link,
    tick: u64,
    now: SigningTime,
) {
    app.on_tick(&mut Endpoint {
        session: &mut side.session,
        outbound,
        report: &mut side.report,
        tick,
        now,
    });
    match side.poll {
        PollPolicy::Eager => eager(side, app, inbound, outbound, tick, now),
        PollPolicy::Every(n) if tick.is_multiple_of(n.max(1)) => {
            eager(side, app, inbound, outbound, tick, now)
        }
        PollPolicy::Every(_) => {
            feed(side, inbound, outbound, tick);
        }
        PollPolicy::PerTick(k) => {
            feed(side, inbound, outbound, tick);
            poll_round(side, app, outbound, tick, now, k.max(1));
            feed(side, inbound, outbound, tick);
        }
    }
}

/// Feeds and polls until neither makes progress, as the drain contract asks.
fn eager(
    side: &mut Side,
    app: &mut impl Application,
    inbound: &mut Link,
    outbound: &mut Link,
    tick: u64,
    now: SigningTime,
) {
    loop {
        let fed = feed(side, inbound, outbound, tick);
        let got = poll_round(side, app, outbound, tick, now, usize::MAX);
        if !fed && got == 0 {
            break;
        }
    }
}

/// Offers the delivered bytes to the session, piece by piece, until it stops consuming; then,
/// once everything delivered was consumed, the end of input. Returns whether anything happened.
fn feed(side: &mut Side, inbound: &mut Link, outbound: &mut Link, tick: u64) -> bool {
    let mut progress = false;
    while let Some(piece) = inbound.arrived.front() {
        let offered = piece.len();
        // Both ways in: copied, or shared without a copy.
        let n = if inbound.rng.chance(1, 2) {
            side.session.handle_bytes(piece, side.now)
        } else {
            side.session.handle_input(piece, side.now)
        };
        assert!(
            n <= offered,
            "{}: handle_input consumed {n} of {offered} bytes",
            inbound.name
        );
        side.report.input_calls += 1;
        if n > 0 {
            inbound.consume(n);
            progress = true;
        }
        if !side.session.is_terminated() {
            let complete = inbound
                .frame_ends
                .partition_point(|&e| e <= inbound.consumed);
            let held = complete.saturating_sub(side.report.events.len());
            side.report.max_unpolled_frames = side.report.max_unpolled_frames.max(held);
        }
        drain_transmit(&mut side.session, outbound, &mut side.report, tick);
        if n < offered {
            side.report.short_inputs += 1;
            break;
        }
    }
    if inbound.arrived.is_empty() && inbound.end.is_some() && !side.end_of_input_signalled {
        side.session.handle_end_of_input(side.now);
        side.end_of_input_signalled = true;
        side.report.end_of_input_at = Some(tick);
        drain_transmit(&mut side.session, outbound, &mut side.report, tick);
        progress = true;
    }
    progress
}

/// Polls at most `limit` events, handing each to the application. Returns how many it got.
fn poll_round(
    side: &mut Side,
    app: &mut impl Application,
    outbound: &mut Link,
    tick: u64,
    now: SigningTime,
    limit: usize,
) -> usize {
    let mut got = 0;
    while got < limit {
        let Some(event) = side.session.poll_event() else {
            break;
        };
        got += 1;
        drain_transmit(&mut side.session, outbound, &mut side.report, tick);
        side.report.events.push(Seen {
            tick,
            event: event.clone(),
        });
        app.on_event(
            &event,
            &mut Endpoint {
                session: &mut side.session,
                outbound,
                report: &mut side.report,
                tick,
                now,
            },
        );
    }
    if got > 0 {
        side.report.poll_rounds.push(got);
    }
    got
}

/// Moves everything the session wants to transmit into the link.
fn drain_transmit(session: &mut Session, outbound: &mut Link, report: &mut SideReport, tick: u64) {
    let mut buf = BytesMut::new();
    while let Some(transmit) = session.poll_transmit(&mut buf) {
        // After a Finish only a Reset may come (to abort what is left of the stream); after a
        // Reset, nothing.
        let after_end = report.signals.last().map(|&(_, t)| t);
        assert!(
            after_end.is_none()
                || (after_end == Some(Transmit::Finish) && matches!(transmit, Transmit::Reset(_))),
            "{}: poll_transmit gave {transmit:?} after {after_end:?}",
            outbound.name
        );
        match transmit {
            Transmit::Data(n) => {
                assert_eq!(
                    n,
                    buf.len(),
                    "{}: Transmit::Data({n}) with {} bytes in the buffer",
                    outbound.name,
                    buf.len()
                );
                report.bytes_transmitted += n as u64;
                outbound.push(buf.split().freeze(), tick);
            }
            Transmit::Finish => {
                report.signals.push((tick, transmit));
                outbound.push_end(LinkEnd::Finish, tick);
            }
            Transmit::Reset(_) => {
                report.signals.push((tick, transmit));
                outbound.push_end(LinkEnd::Reset, tick);
            }
            other => panic!("{}: unknown transmit {other:?}", outbound.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_link(config: LinkConfig, pieces: &[(u64, &[u8])], end: Option<(u64, LinkEnd)>) -> Link {
        let mut link = Link::new("test", config, SimRng::new(9));
        for tick in 0..100 {
            link.deliver(tick);
            for &(at, bytes) in pieces {
                if at == tick {
                    link.push(Bytes::copy_from_slice(bytes), tick);
                }
            }
            if let Some((at, kind)) = end {
                if at == tick {
                    link.push_end(kind, tick);
                }
            }
        }
        link
    }

    fn arrived(link: &Link) -> Vec<u8> {
        link.arrived
            .iter()
            .flat_map(|b| b.iter().copied())
            .collect()
    }

    #[test]
    fn the_rng_is_deterministic_and_in_range() {
        let (mut a, mut b) = (SimRng::new(5), SimRng::new(5));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.between(3, 7);
            assert!((3..=7).contains(&x));
            b.between(3, 7);
        }
        assert!(SimRng::new(1).between(0, u64::MAX) != SimRng::new(2).between(0, u64::MAX));
    }

    #[test]
    fn a_link_delivers_everything_in_order_then_the_finish() {
        let data: Vec<u8> = (0..200).map(|i| i as u8).collect();
        let config = LinkConfig::new().with_max_chunk(7).with_max_delay(5);
        let link = run_link(
            config,
            &[(0, &data[..100]), (3, &data[100..])],
            Some((4, LinkEnd::Finish)),
        );
        assert_eq!(arrived(&link), data);
        assert_eq!(link.end_kind(), Some(LinkEnd::Finish));
        assert_eq!(link.cut_at(), None);
        assert!(link.arrived.len() > 200 / 7, "split into chunks");
    }

    #[test]
    fn a_cut_at_a_byte_delivers_exactly_the_bytes_before_it() {
        let data = [7u8; 50];
        let config = LinkConfig::new().with_cut(Cut::AtByte(30));
        let link = run_link(config, &[(0, &data[..20]), (1, &data[20..])], None);
        assert_eq!(arrived(&link).len(), 30);
        assert_eq!(link.cut_at(), Some(30));
        assert_eq!(link.end_kind(), Some(LinkEnd::Cut));
        assert_eq!(link.dropped(), 20);
        // A stream that ends before the cut is not cut.
        let link = run_link(config, &[(0, &data[..30])], Some((1, LinkEnd::Finish)));
        assert_eq!(link.end_kind(), Some(LinkEnd::Finish));
    }

    #[test]
    fn a_reset_loses_what_is_in_flight() {
        let data = [1u8; 64];
        let config = LinkConfig::new().with_max_chunk(8).with_max_delay(50);
        let link = run_link(config, &[(0, &data)], Some((1, LinkEnd::Reset)));
        assert_eq!(link.end_kind(), Some(LinkEnd::Reset));
        assert_eq!(link.cut_at(), Some(link.delivered()));
        assert_eq!(link.delivered() + link.dropped(), 64);
        assert!(link.dropped() > 0);
    }

    #[test]
    fn frames_are_tracked_and_a_payload_byte_can_be_flipped() {
        let a = crate::encode(&Message::new(&b"first"[..]));
        let b = crate::encode(&Message::new(&b"second"[..]));
        let flip = Flip {
            target: FlipTarget::PayloadOf { frame: 1 },
            mask: 0x20,
            fix_crc: false,
        };
        let link = run_link(LinkConfig::new().with_flip(flip), &[(0, &a), (1, &b)], None);
        let n = a.len() as u64;
        assert_eq!(link.frame_ends(), [n, n + b.len() as u64]);
        assert_eq!(link.frames_delivered(), 2);
        let got = arrived(&link);
        assert_eq!(&got[..a.len()], &a[..]);
        let at = link.flipped_at().unwrap() as usize;
        assert_eq!(got[at], b[at - a.len()] ^ 0x20);
        assert_eq!(&b[12..18], b"second");
        assert_eq!(at - a.len(), 12 + 3, "the middle byte of the payload");
    }
}
