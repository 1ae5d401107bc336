//! The simulation's [`Link`]: one direction of the connection, a byte stream that splits,
//! delays, cuts and corrupts what its sender transmits, scheduled by its own seeded RNG.

use std::collections::VecDeque;
use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use eventstream::frame::PRELUDE_LEN;
use eventstream_testkit::SplitMix64;

use super::Wire;
use crate::fix_message_crc;

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
    pub fn random(rng: &mut SplitMix64) -> Self {
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
    /// The sender's [`Transmit::Finish`](eventstream::session::Transmit::Finish), behind all its
    /// bytes.
    Finish,
    /// The sender's [`Transmit::Reset`](eventstream::session::Transmit::Reset): what was in
    /// flight was lost.
    Reset,
    /// The link's own [`Cut`].
    Cut,
}

/// One direction of the connection: a byte stream with random splits and delays, end of input,
/// resets, cuts and corruption. Read it from an [`Outcome`](super::Outcome).
pub struct Link {
    name: &'static str,
    config: LinkConfig,
    pub(super) rng: SplitMix64,
    /// Every byte the sender sent, as sent (before any corruption), including those dropped.
    transcript: BytesMut,
    /// Stream offsets where complete frames of the transcript end.
    frame_ends: Vec<u64>,
    /// Start of the first frame of the transcript not yet complete.
    scan: u64,
    in_flight: VecDeque<(u64, Bytes)>,
    last_at: u64,
    /// Delivered and not yet consumed by the receiving session, in the pieces delivered.
    pub(super) arrived: VecDeque<Bytes>,
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
    pub(super) fn new(name: &'static str, config: LinkConfig, rng: SplitMix64) -> Self {
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
    pub(super) fn deliver(&mut self, tick: u64) {
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

    pub(super) fn consume(&mut self, n: usize) {
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

impl Wire for Link {
    fn name(&self) -> &'static str {
        self.name
    }

    fn data(&mut self, frames: Bytes, tick: u64) {
        self.push(frames, tick);
    }

    fn end(&mut self, end: LinkEnd, tick: u64) {
        self.push_end(end, tick);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstream::frame::Message;

    fn run_link(config: LinkConfig, pieces: &[(u64, &[u8])], end: Option<(u64, LinkEnd)>) -> Link {
        let mut link = Link::new("test", config, SplitMix64::new(9));
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
