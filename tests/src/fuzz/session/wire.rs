//! One direction of the connection as the fuzzer drives it: a byte buffer the receiver is
//! offered pieces of, which the fuzzer can also corrupt, cut and extend.
//!
//! Unlike the simulation's [`Link`](crate::sim::Link), nothing here is scheduled: every
//! delivery, flip, drop and injection is an operation the fuzzer's bytes choose, at any byte
//! offset of what is still in flight.

use bytes::Bytes;

use crate::sim::{split_frames, LinkEnd, Wire};

/// Where a sent frame is in its link (`None`: dropped, the link had broken).
pub(super) type Span = Option<(usize, usize)>;

/// A frame `poll_transmit` handed out, and where it is in the link.
pub(super) type SentFrame = (Vec<u8>, Span);

/// One direction: a byte stream the fuzzer splits, corrupts, cuts and extends.
#[derive(Debug, Default)]
pub(super) struct ByteLink {
    pub(super) name: &'static str,
    /// What the receiver gets (or got), corruption included; bytes lost to a reset or a cut are
    /// removed.
    pub(super) bytes: Vec<u8>,
    /// How many the receiving session consumed (or discarded once terminated).
    pub(super) consumed: usize,
    /// The first offset whose byte may differ from what the sender sent.
    pub(super) mutated_from: Option<usize>,
    /// The sender's frames, where they are in `bytes`.
    pub(super) frames: Vec<(usize, usize)>,
    /// The sender's `Finish` is behind the bytes.
    pub(super) finished: bool,
    /// A reset or a cut: nothing more gets through.
    pub(super) broken: bool,
    /// The receiver was told its input ended (or its transport was reset).
    pub(super) ended: bool,
    /// The frames sent since the driver last took them ([`ByteLink::take_sent`]).
    sent: Vec<SentFrame>,
}

impl ByteLink {
    pub(super) fn new(name: &'static str) -> Self {
        ByteLink {
            name,
            ..ByteLink::default()
        }
    }

    fn push(&mut self, frame: &[u8]) -> Span {
        if self.broken {
            return None;
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(frame);
        let range = (start, self.bytes.len());
        self.frames.push(range);
        Some(range)
    }

    /// The frames sent since the last call, with where they are.
    pub(super) fn take_sent(&mut self) -> Vec<SentFrame> {
        std::mem::take(&mut self.sent)
    }

    /// In-flight bytes are lost; nothing more gets through.
    pub(super) fn break_now(&mut self) {
        self.broken = true;
        self.bytes.truncate(self.consumed);
    }

    /// The bytes from `at` on may differ from what the sender sent.
    pub(super) fn mutated(&mut self, at: usize) {
        self.mutated_from = Some(self.mutated_from.map_or(at, |m| m.min(at)));
    }

    /// Bytes in flight: not consumed yet.
    pub(super) fn pending(&self) -> usize {
        self.bytes.len() - self.consumed
    }
}

impl Wire for ByteLink {
    fn name(&self) -> &'static str {
        self.name
    }

    fn data(&mut self, frames: Bytes, _tick: u64) {
        for frame in split_frames(self.name, &frames) {
            let span = self.push(frame);
            self.sent.push((frame.to_vec(), span));
        }
    }

    fn end(&mut self, end: LinkEnd, _tick: u64) {
        match end {
            LinkEnd::Finish if !self.broken => self.finished = true,
            LinkEnd::Finish => {}
            LinkEnd::Reset | LinkEnd::Cut => self.break_now(),
        }
    }
}
