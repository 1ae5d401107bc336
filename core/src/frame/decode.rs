//! The streaming frame decoder.

use super::error::FrameError;
use super::header::{Header, HeaderValue, MAX_HEADER_VALUE_LEN};
use super::limits::Limits;
use super::message::Message;
use alloc::vec::Vec;
use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;
use core::fmt;

/// The length of a frame's prelude: total length, headers length, prelude CRC.
pub const PRELUDE_LEN: usize = 12;
/// The length of the smallest frame: a prelude and a message CRC, no headers, no payload.
pub const MIN_FRAME_LEN: usize = 16;

/// The smallest buffer the decoder allocates when it must grow, so that a stream of small frames
/// fed in small pieces does not reallocate for every piece.
const MIN_BUFFER: usize = 8 * 1024;

/// The most the decoder reserves ahead of the bytes that arrived: a frame up to this much larger
/// than what is buffered is reserved whole; a larger one grows as its bytes arrive.
const MAX_AHEAD: usize = 1024 * 1024;

/// The most the decoder reserves beyond the front frame, so that a buffer holds more than one
/// frame without a large frame doubling the memory it reserves.
const MAX_SLACK: usize = 256 * 1024;

/// Frames at least this long are placed in the decoder's buffer so that input is copied with
/// its source and destination equally aligned (see `FrameDecoder::realign`).
const ALIGN_FROM: usize = 16 * 1024;

/// The alignment `FrameDecoder::realign` matches.
const CACHE_LINE: usize = 64;

/// How far past `at` bytes must start so that the byte `offset` bytes after them has the same
/// offset within a cache line as `next[0]`.
fn misalignment(at: *const u8, offset: usize, next: &[u8]) -> usize {
    (next.as_ptr() as usize).wrapping_sub((at as usize).wrapping_add(offset)) % CACHE_LINE
}

/// A CRC-32 of the first `upto` bytes of a frame.
struct RunningCrc {
    hasher: crc32fast::Hasher,
    upto: usize,
}

impl RunningCrc {
    /// Adds `frame[upto..end]`, which were copied in before they were known to belong to a
    /// frame (its prelude arrived with them): the checksum reads them from where the copy put
    /// them, while they are in cache.
    fn update(&mut self, frame: &[u8], end: usize) {
        self.hasher.update(&frame[self.upto..end]);
        self.upto = end;
    }

    /// Adds `frame[upto..end]`, which were not just copied (a frame handed over in a `Bytes`):
    /// when there are many, the bytes before the first cache line boundary go in on their own,
    /// so that the bulk of them starts on one, because the CRC-32 kernel is cheaper on loads
    /// that do not cross cache lines. Bytes just copied are another matter: they are still in
    /// cache from where the copy started, so `update` reads them as they are and does not split.
    fn update_from_memory(&mut self, frame: &[u8], end: usize) {
        /// Below this, a second call costs more than aligned loads save.
        const SPLIT_FROM: usize = 2048;
        let bytes = &frame[self.upto..end];
        let head = (CACHE_LINE - bytes.as_ptr() as usize % CACHE_LINE) % CACHE_LINE;
        if head != 0 && bytes.len() >= SPLIT_FROM {
            self.hasher.update(&bytes[..head]);
            self.hasher.update(&bytes[head..]);
        } else {
            self.hasher.update(bytes);
        }
        self.upto = end;
    }
}

/// A prelude whose checksum, length relations and limits were checked.
#[derive(Clone, Copy, Debug)]
struct Prelude {
    total_len: usize,
    headers_len: usize,
}

/// Checks a prelude in the order the protocol asks for: checksum, `total_length >= 16`,
/// `headers_length <= total_length - 16`, then the limits.
///
/// `hasher` is a new checksum: a reset copy of one the decoder holds, which is cheaper than
/// `crc32fast::hash` (that detects the CPU's features on every call).
fn check_prelude(
    p: &[u8; PRELUDE_LEN],
    frame_offset: u64,
    limits: &Limits,
    mut hasher: crc32fast::Hasher,
) -> Result<Prelude, FrameError> {
    let word = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    let (total_length, headers_length, expected) = (word(0), word(4), word(8));
    hasher.update(&p[..8]);
    let actual = hasher.finalize();
    if actual != expected {
        return Err(FrameError::PreludeChecksumMismatch {
            frame_offset,
            expected,
            actual,
        });
    }
    if total_length < MIN_FRAME_LEN as u32 {
        return Err(FrameError::InvalidMessageLength {
            frame_offset,
            total_length,
        });
    }
    if headers_length > total_length - MIN_FRAME_LEN as u32 {
        return Err(FrameError::InvalidHeadersLength {
            frame_offset,
            headers_length,
            total_length,
        });
    }
    if headers_length > limits.max_headers_len() {
        return Err(FrameError::HeadersTooLong {
            frame_offset,
            headers_length,
            limit: limits.max_headers_len(),
        });
    }
    let payload_length = total_length - MIN_FRAME_LEN as u32 - headers_length;
    if payload_length > limits.max_payload_len() {
        return Err(FrameError::PayloadTooLong {
            frame_offset,
            payload_length,
            limit: limits.max_payload_len(),
        });
    }
    Ok(Prelude {
        total_len: total_length as usize,
        headers_len: headers_length as usize,
    })
}

/// A sans-IO streaming decoder: bytes in, checked messages out.
///
/// # Drain contract
///
/// 1. Feed bytes as they arrive with [`handle_input`](Self::handle_input) (a slice of any size, one
///    byte at a time works) or [`handle_bytes`](Self::handle_bytes) (a `Bytes` holding whole frames
///    is not copied at all).
/// 2. Call [`poll_message`](Self::poll_message) until it returns `Ok(None)`: the decoder then needs
///    [`bytes_needed`](Self::bytes_needed) more bytes before it can hand out the next message.
/// 3. When the input ends, call [`handle_end_of_input`](Self::handle_end_of_input): `Ok(())` means the input ended cleanly
///    between frames, [`FrameError::Truncated`] that it stopped inside one.
///
/// An error from `poll_message` or `handle_end_of_input` is fatal: framing is lost, the decoder drops what it
/// buffered, ignores further input and returns the same error from then on.
///
/// # Checks
///
/// Each check runs as soon as its bytes are present: the prelude checksum once 12 bytes have
/// arrived, before any space is reserved for the body; then `total_length >= 16`,
/// `headers_length <= total_length - 16` and the [`Limits`]; then, once the whole frame is there,
/// the message checksum; then the headers. Nothing is handed out before the message checksum has
/// been verified.
///
/// # Memory
///
/// Input is copied once, into the decoder's buffer; a message's payload and its string and byte
/// array values are views into it. A complete frame is never moved. The only bytes moved after
/// that copy are those of the frame in progress when its buffer runs out of room: the buffer is
/// then reused from its start once the messages that are views into it have been dropped (or
/// replaced while they are alive), and what arrived of that frame moves with it, which with
/// socket-sized reads is less than one read. A frame larger than 1 MiB may also be moved while
/// its buffer grows.
///
/// A frame of 16 KiB or more is placed at the same offset within a cache line as the input that
/// begins it, so that its copy (and, when the input arrives in consecutive slices of one
/// buffer, the copy of the rest of it) runs with source and destination equally aligned: the
/// copy's loads and stores can then all be cache-line aligned, where otherwise one side of it
/// crosses cache lines.
///
/// The decoder holds at most one frame (no more than [`Limits::max_frame_len`]) plus the bytes
/// it was fed and has not handed out yet, and reserves at most 1 MiB (plus some slack for the
/// next frame) ahead of what arrived: a forged length makes it reserve nothing.
///
/// ```
/// use bytes::BytesMut;
/// use eventstream::frame::{FrameDecoder, Message};
///
/// let mut wire = BytesMut::new();
/// Message::new(&b"one"[..]).with_header(":event-type", "A").encode(&mut wire).unwrap();
/// Message::new(&b"two"[..]).encode(&mut wire).unwrap();
///
/// let mut decoder = FrameDecoder::new();
/// let mut got = Vec::new();
/// for chunk in wire.chunks(5) {
///     decoder.handle_input(chunk);
///     while let Some(msg) = decoder.poll_message()? {
///         got.push(msg);
///     }
/// }
/// decoder.handle_end_of_input()?;
/// assert_eq!(got.len(), 2);
/// assert_eq!(got[0].header_str(":event-type"), Some("A"));
/// assert_eq!(&got[1].payload()[..], b"two");
/// # Ok::<(), eventstream::frame::FrameError>(())
/// ```
pub struct FrameDecoder {
    check: Checker,
    reject_duplicates: bool,
    /// The input fed and not handed out yet.
    input: Input,
    /// The checked prelude of the frame at the front of the pending bytes (after the parked
    /// frame, if there is one).
    front: Option<Prelude>,
    /// Stream offset of the first byte not handed out yet.
    offset: u64,
    ended: bool,
    error: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder with the default [`Limits`].
    pub fn new() -> Self {
        Self::with_limits(Limits::DEFAULT)
    }

    /// A decoder with these limits.
    pub fn with_limits(limits: Limits) -> Self {
        let check = Checker::new(limits);
        FrameDecoder {
            input: Input::Copied(Copied::new(BytesMut::new(), &check)),
            check,
            reject_duplicates: false,
            front: None,
            offset: 0,
            ended: false,
            error: None,
        }
    }

    /// Rejects a message in which a header name appears twice, with
    /// [`FrameError::DuplicateHeader`]. Off by default: the wire format allows repeated names and
    /// the decoder keeps them in order.
    #[must_use]
    pub fn reject_duplicate_headers(mut self, reject: bool) -> Self {
        self.reject_duplicates = reject;
        self
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.check.limits
    }

    /// Changes the limits for the frames whose prelude has not been checked yet; what was fed
    /// is kept. (A session that starts verifying reads envelopes, with larger limits.)
    pub fn set_limits(&mut self, limits: Limits) {
        self.check.limits = limits;
    }

    /// Feeds bytes, copying them into the decoder's buffer. Drain with
    /// [`poll_message`](Self::poll_message) afterwards. Ignored once the decoder has failed.
    pub fn handle_input(&mut self, data: &[u8]) {
        if self.error.is_some() || data.is_empty() {
            return;
        }
        match &mut self.input {
            Input::Copied(copied) => copied.feed(data, &mut self.front, &self.check),
            Input::Whole(whole) => {
                let mut copied = whole.spill(data, self.front, &self.check);
                copied.feed(data, &mut self.front, &self.check);
                self.input = Input::Copied(copied);
            }
        }
    }

    /// Feeds bytes the caller already owns as `Bytes`. When nothing is buffered, frames are split
    /// off `data` without copying; only an incomplete frame at its end is copied, once more input
    /// arrives. Ignored once the decoder has failed.
    pub fn handle_bytes(&mut self, data: &Bytes) {
        if self.error.is_some() || data.is_empty() {
            return;
        }
        match &mut self.input {
            Input::Copied(copied) if copied.buf.is_empty() && copied.parked.is_none() => {
                let spare = core::mem::take(&mut copied.buf);
                self.input = Input::Whole(Whole {
                    bytes: data.clone(),
                    spare,
                });
            }
            _ => self.handle_input(data),
        }
    }

    /// The number of bytes fed and not yet handed out as messages.
    pub fn buffered_len(&self) -> usize {
        self.input.pending().len() + self.input.parked().map_or(0, |p| p.frame.len())
    }

    /// How many more bytes the decoder needs before [`poll_message`](Self::poll_message) can hand
    /// out the next message: the rest of the prelude while it is incomplete, then the rest of the
    /// frame. Zero when a message is ready or the decoder has failed.
    pub fn bytes_needed(&self) -> usize {
        if self.error.is_some() || self.input.parked().is_some() {
            return 0;
        }
        let have = self.input.pending().len();
        let want = match self.front {
            Some(p) => p.total_len,
            None if have < PRELUDE_LEN => PRELUDE_LEN,
            // The prelude is here but has not been checked yet: poll_message will decide.
            None => return 0,
        };
        want.saturating_sub(have)
    }

    /// Whether the decoder has failed; it then returns the same error forever.
    pub fn is_failed(&self) -> bool {
        self.error.is_some()
    }

    /// The next complete, checked message, or `Ok(None)` when more bytes are needed (after
    /// [`handle_end_of_input`](Self::handle_end_of_input): when the input is exhausted).
    ///
    /// # Errors
    ///
    /// A [`FrameError`] when the bytes are not a valid frame, or, after `handle_end_of_input`, when the input
    /// ended inside a frame. Every error is fatal and returned again by every later call.
    #[must_use = "a decoded message or an error would be lost"]
    #[inline]
    pub fn poll_message(&mut self) -> Result<Option<Message>, FrameError> {
        // The common answer, decided inline: the front frame is known and not complete yet.
        // (Returned from a call, even `Ok(None)` would travel through memory.)
        if let Some(front) = self.front {
            if self.error.is_none() && !self.ended && self.input.lacks(front.total_len) {
                return Ok(None);
            }
        }
        self.poll_message_slow()
    }

    /// [`poll_message`](Self::poll_message) for everything but an incomplete front frame.
    fn poll_message_slow(&mut self) -> Result<Option<Message>, FrameError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        match self.decode_front() {
            Ok(Some(msg)) => Ok(Some(msg)),
            Ok(None) if self.ended && !self.input.pending().is_empty() => {
                Err(self.fail(self.truncated()))
            }
            Ok(None) => Ok(None),
            Err(err) => Err(self.fail(err)),
        }
    }

    /// Marks the end of the input.
    ///
    /// Call it after [`poll_message`](Self::poll_message) returned `Ok(None)`. It returns `Ok(())`
    /// when the input ended between two frames, and [`FrameError::Truncated`] (fatal) when an
    /// incomplete frame is buffered. Complete frames that were not drained yet are not lost: the
    /// input is then only known to be truncated once `poll_message` has handed them out, and it
    /// reports it.
    ///
    /// # Errors
    ///
    /// [`FrameError::Truncated`], or the error the decoder already failed with.
    pub fn handle_end_of_input(&mut self) -> Result<(), FrameError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        self.ended = true;
        let have = self.input.pending().len();
        if have == 0 || self.input.parked().is_some() {
            // Clean, or a complete frame still to hand out (poll_message then checks the rest).
            return Ok(());
        }
        if have >= PRELUDE_LEN {
            let prelude = match self.front_prelude() {
                Ok(p) => p,
                Err(err) => return Err(self.fail(err)),
            };
            if have >= prelude.total_len {
                return Ok(());
            }
        }
        Err(self.fail(self.truncated()))
    }

    fn truncated(&self) -> FrameError {
        FrameError::Truncated {
            frame_offset: self.offset,
            available: self.input.pending().len(),
            expected: self.front.map_or(PRELUDE_LEN, |p| p.total_len),
        }
    }

    fn fail(&mut self, err: FrameError) -> FrameError {
        self.error = Some(err.clone());
        self.input = Input::Copied(Copied::new(BytesMut::new(), &self.check));
        self.front = None;
        err
    }

    /// The checked prelude of the front frame; at least 12 bytes must be pending.
    fn front_prelude(&mut self) -> Result<Prelude, FrameError> {
        if let Some(p) = self.front {
            return Ok(p);
        }
        let mut prelude = [0u8; PRELUDE_LEN];
        prelude.copy_from_slice(&self.input.pending()[..PRELUDE_LEN]);
        let p = self.check.prelude(&prelude, self.offset)?;
        self.front = Some(p);
        Ok(p)
    }

    fn decode_front(&mut self) -> Result<Option<Message>, FrameError> {
        if let Input::Copied(Copied { parked, .. }) = &mut self.input {
            if let Some(Parked {
                frame,
                prelude,
                crc,
            }) = parked.take()
            {
                let frame_offset = self.offset;
                self.offset += prelude.total_len as u64;
                return decode_frame(
                    frame,
                    prelude,
                    crc,
                    frame_offset,
                    &self.check.limits,
                    self.reject_duplicates,
                )
                .map(Some);
            }
        }
        let have = self.input.pending().len();
        if have < PRELUDE_LEN {
            return Ok(None);
        }
        let prelude = self.front_prelude()?;
        if have < prelude.total_len {
            return Ok(None);
        }
        let (frame, crc) = self.input.split_front(prelude.total_len, &self.check);
        let frame_offset = self.offset;
        self.offset += prelude.total_len as u64;
        self.front = None;
        decode_frame(
            frame,
            prelude,
            crc,
            frame_offset,
            &self.check.limits,
            self.reject_duplicates,
        )
        .map(Some)
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("limits", &self.check.limits)
            .field("buffered_len", &self.buffered_len())
            .field("offset", &self.offset)
            .field("ended", &self.ended)
            .field("error", &self.error)
            .finish()
    }
}

/// How the decoder checks a prelude: its limits, and a new checksum that every checksum it
/// starts is a copy of (cheaper than `crc32fast::Hasher::new`, which detects the CPU's features
/// on every call).
struct Checker {
    limits: Limits,
    hasher: crc32fast::Hasher,
}

impl Checker {
    fn new(limits: Limits) -> Self {
        Checker {
            limits,
            hasher: crc32fast::Hasher::new(),
        }
    }

    /// Checks the prelude of the frame that starts at stream offset `frame_offset`.
    fn prelude(&self, p: &[u8; PRELUDE_LEN], frame_offset: u64) -> Result<Prelude, FrameError> {
        check_prelude(p, frame_offset, &self.limits, self.hasher.clone())
    }

    /// The prelude, if it is valid; an invalid one is reported by `poll_message`, with its
    /// offset, not here.
    fn valid_prelude(&self, p: &[u8; PRELUDE_LEN]) -> Option<Prelude> {
        self.prelude(p, 0).ok()
    }

    /// A checksum of no bytes yet.
    fn running_crc(&self) -> RunningCrc {
        RunningCrc {
            hasher: self.hasher.clone(),
            upto: 0,
        }
    }

    /// The total length of the frame at the front of `first` followed by `second` (`front`,
    /// when its prelude was checked already), if its prelude is present and valid.
    fn peek_front(&self, front: Option<Prelude>, first: &[u8], second: &[u8]) -> Option<usize> {
        if let Some(p) = front {
            return Some(p.total_len);
        }
        if first.len() + second.len() < PRELUDE_LEN {
            return None;
        }
        let mut prelude = [0u8; PRELUDE_LEN];
        let from_first = first.len().min(PRELUDE_LEN);
        prelude[..from_first].copy_from_slice(&first[..from_first]);
        prelude[from_first..].copy_from_slice(&second[..PRELUDE_LEN - from_first]);
        self.valid_prelude(&prelude).map(|p| p.total_len)
    }
}

/// The input the decoder was fed and has not handed out yet. It is in one place at a time:
/// copied into the decoder's buffer, or in a `Bytes` the caller handed over, never partly in
/// each, so the pending bytes are one contiguous slice; and what belongs to copied input only
/// (the running checksum, a parked frame) exists only while the input is copied.
enum Input {
    /// Copied input (possibly none).
    Copied(Copied),
    /// Input handed over with `handle_bytes` while nothing else was pending.
    Whole(Whole),
}

/// Input copied into the decoder's buffer, and what belongs to it.
struct Copied {
    /// The copied bytes not yet handed out.
    buf: BytesMut,
    /// The checksum of the first bytes of `buf`'s front frame, updated as they arrive (while
    /// they are still in cache) instead of after the whole frame arrived.
    crc: RunningCrc,
    /// A complete frame split off `buf` (see `Copied::complete_front`), handed out before
    /// anything in `buf`.
    parked: Option<Parked>,
}

/// A complete frame split off the decoder's buffer, with its checked prelude and the running
/// checksum of its bytes.
struct Parked {
    frame: Bytes,
    prelude: Prelude,
    crc: RunningCrc,
}

/// Input handed over as `Bytes`: frames are split off it without copying.
struct Whole {
    /// The bytes not yet handed out; never empty (once its last frame is split off, the input
    /// is `Copied` again, in `spare`).
    bytes: Bytes,
    /// The decoder's buffer, empty, kept for its allocation: the input goes back to it when more
    /// must follow `bytes` contiguously, or when `bytes` has been handed out.
    spare: BytesMut,
}

impl Input {
    /// The bytes fed and not handed out yet, after the parked frame if there is one.
    #[inline]
    fn pending(&self) -> &[u8] {
        match self {
            Input::Copied(copied) => &copied.buf,
            Input::Whole(whole) => &whole.bytes,
        }
    }

    fn parked(&self) -> Option<&Parked> {
        match self {
            Input::Copied(copied) => copied.parked.as_ref(),
            Input::Whole(_) => None,
        }
    }

    /// Whether the front frame, `total_len` bytes long, is incomplete and no parked frame
    /// comes before it.
    #[inline]
    fn lacks(&self, total_len: usize) -> bool {
        match self {
            Input::Copied(copied) => copied.parked.is_none() && copied.buf.len() < total_len,
            Input::Whole(whole) => whole.bytes.len() < total_len,
        }
    }

    /// Splits off the front frame, `len` bytes that are all pending, with the running checksum
    /// of its bytes.
    fn split_front(&mut self, len: usize, check: &Checker) -> (Bytes, RunningCrc) {
        match self {
            Input::Copied(copied) => {
                let crc = core::mem::replace(&mut copied.crc, check.running_crc());
                (copied.buf.split_to(len).freeze(), crc)
            }
            Input::Whole(whole) => {
                let frame = whole.bytes.split_to(len);
                if whole.bytes.is_empty() {
                    let spare = core::mem::take(&mut whole.spare);
                    *self = Input::Copied(Copied::new(spare, check));
                }
                (frame, check.running_crc())
            }
        }
    }
}

impl Whole {
    /// Moves the pending bytes into the decoder's buffer, because `next` must follow them
    /// contiguously. `front` is their front frame's checked prelude, if it was checked.
    fn spill(&mut self, next: &[u8], front: Option<Prelude>, check: &Checker) -> Copied {
        let mut copied = Copied::new(core::mem::take(&mut self.spare), check);
        let front_len = check.peek_front(front, &self.bytes, next);
        copied.reserve(&self.bytes, next, front_len);
        copied.buf.extend_from_slice(&self.bytes);
        copied
    }
}

impl Copied {
    /// `buf`, empty, as the buffer for copied input.
    fn new(buf: BytesMut, check: &Checker) -> Self {
        Copied {
            buf,
            crc: check.running_crc(),
            parked: None,
        }
    }

    /// Copies `data` in, making room for it first. `front` is the checked prelude of the front
    /// frame of `buf`, when it was checked; it is checked here as soon as its bytes arrive.
    fn feed(&mut self, data: &[u8], front: &mut Option<Prelude>, check: &Checker) {
        let mut data = data;
        if self.buf.capacity() - self.buf.len() < data.len() {
            data = self.complete_front(data, front, check);
            if self.buf.capacity() - self.buf.len() < data.len() {
                let front_len = check.peek_front(*front, &self.buf, data);
                self.reserve(&[], data, front_len);
            }
        }
        self.append(data, front, check);
    }

    /// Copies `data` to the end of `buf`. The bytes of it that belong to the checksummed part of
    /// a front frame whose checksum has caught up are checksummed first, from the caller's
    /// slice, so that the copy then reads them from the first-level cache where the checksum
    /// left them, instead of the checksum reading the copy back afterwards.
    fn append(&mut self, data: &[u8], front: &mut Option<Prelude>, check: &Checker) {
        if let Some(front) = *front {
            let len = self.buf.len();
            let end = (len + data.len()).min(front.total_len - 4);
            if self.crc.upto == len && end > len {
                self.crc.hasher.update(&data[..end - len]);
                self.crc.upto = end;
            }
        }
        self.buf.extend_from_slice(data);
        self.hash_front(front, check);
    }

    /// Brings the running checksum of `buf`'s front frame up to what has arrived of it.
    fn hash_front(&mut self, front: &mut Option<Prelude>, check: &Checker) {
        if let Some(prelude) = self.front_prelude(front, check) {
            let end = self.buf.len().min(prelude.total_len - 4);
            if self.crc.upto < end {
                self.crc.update(&self.buf, end);
            }
        }
    }

    /// When `data` completes the front frame and begins the next one, and does not fit: copies
    /// only what completes the front frame and parks that frame, so the next one starts in a new
    /// buffer instead of the front frame being moved to make room. Returns the rest of `data`.
    fn complete_front<'a>(
        &mut self,
        data: &'a [u8],
        front: &mut Option<Prelude>,
        check: &Checker,
    ) -> &'a [u8] {
        if self.parked.is_some() {
            return data;
        }
        let Some(prelude) = self.front_prelude(front, check) else {
            return data;
        };
        let have = self.buf.len();
        let total = prelude.total_len;
        if have >= total || have + data.len() <= total {
            return data;
        }
        let (head, rest) = data.split_at(total - have);
        self.buf.reserve(head.len());
        self.append(head, front, check);
        *front = None;
        let crc = core::mem::replace(&mut self.crc, check.running_crc());
        self.parked = Some(Parked {
            frame: self.buf.split().freeze(),
            prelude,
            crc,
        });
        rest
    }

    /// The checked prelude of the frame at the front of `buf`, when its 12 bytes are there and
    /// valid (an invalid one is reported by `poll_message`); `front` keeps it.
    fn front_prelude(&self, front: &mut Option<Prelude>, check: &Checker) -> Option<Prelude> {
        if front.is_none() && self.buf.len() >= PRELUDE_LEN {
            let mut prelude = [0u8; PRELUDE_LEN];
            prelude.copy_from_slice(&self.buf[..PRELUDE_LEN]);
            *front = check.valid_prelude(&prelude);
        }
        *front
    }

    /// Makes room for `before` and then `next` after what `buf` holds; `front` is the length of
    /// the frame they begin or continue, when known.
    fn reserve(&mut self, before: &[u8], next: &[u8], front: Option<usize>) {
        let len = self.buf.len() + before.len();
        let want = len + next.len();
        let want = match front {
            // A frame that will soon be complete: reserve all of it at once (its length was
            // checked against the limits), so its bytes are copied once and never moved by a
            // reallocation, and room for about one more (at most `MAX_SLACK`), so that one
            // allocation serves more than one frame.
            Some(front) if front <= want + MAX_AHEAD => {
                let want = want.max(front + front.min(MAX_SLACK) + MIN_BUFFER);
                if front >= ALIGN_FROM {
                    self.realign(want, len, next, front);
                    return;
                }
                want
            }
            // A large frame: grow with what arrives (doubling, so copies stay amortized), never
            // more than `MAX_AHEAD` ahead of it, so that a forged length reserves nothing.
            Some(_) => want.max(len.saturating_mul(2)).min(want + MAX_AHEAD),
            None => want.max(MIN_BUFFER),
        };
        self.buf.reserve(want - self.buf.len());
    }

    /// Makes room for `capacity` bytes from the first pending one, and places the pending bytes
    /// so that `next`, which will follow `pending_len` bytes, lands at the same offset within a
    /// cache line as it has in the caller's slice: a copy whose source and destination are
    /// equally aligned has no load or store crossing a cache line, and the later chunks of a
    /// large frame, which follow contiguously, stay aligned when the caller's chunks are
    /// contiguous. `front` is the length of the frame they belong to.
    ///
    /// The allocation is reused when nothing else holds it: the pending bytes (what arrived of
    /// one frame) then move to its start, and are shifted into place only when they are at most
    /// a quarter of what is still to come of the frame, so that aligning never costs more than
    /// it saves. Otherwise a new allocation is made and they are copied into place.
    fn realign(&mut self, capacity: usize, pending_len: usize, next: &[u8], front: usize) {
        let len = self.buf.len();
        let room = capacity + CACHE_LINE - 1;
        if self.buf.try_reclaim(room - len) {
            let pad = misalignment(self.buf.as_ptr(), pending_len, next);
            if pad != 0 && 4 * len <= front.saturating_sub(len) {
                self.buf.resize(len + pad, 0);
                self.buf.copy_within(..len, pad);
                self.buf.advance(pad);
            }
        } else {
            let mut fresh = BytesMut::with_capacity(room);
            let pad = misalignment(fresh.as_ptr(), pending_len, next);
            fresh.resize(pad, 0);
            fresh.advance(pad);
            fresh.extend_from_slice(&self.buf);
            self.buf = fresh;
        }
    }
}

/// Decodes `frame` when it is exactly one frame (its prelude gives its length as
/// `frame.len()`), making every check [`FrameDecoder`] makes, in the same order and with the
/// same errors (offsets counted from the start of `frame`), without copying it: the payload and
/// the string and byte array values are views into `frame`. `None` when `frame` is shorter than
/// a prelude or its prelude gives another length: a `FrameDecoder` then tells why it is not one
/// frame.
///
/// This is how a verifier reads the message inside an envelope, without setting up a decoder
/// for one frame.
pub(crate) fn decode_exact(frame: &Bytes, limits: &Limits) -> Option<Result<Message, FrameError>> {
    let p: &[u8; PRELUDE_LEN] = frame.get(..PRELUDE_LEN)?.try_into().ok()?;
    if u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize != frame.len() {
        return None;
    }
    let hasher = crc32fast::Hasher::new();
    let prelude = match check_prelude(p, 0, limits, hasher.clone()) {
        Ok(prelude) => prelude,
        Err(e) => return Some(Err(e)),
    };
    let crc = RunningCrc { hasher, upto: 0 };
    Some(decode_frame(frame.clone(), prelude, crc, 0, limits, false))
}

/// Checks the message CRC of a complete frame, then parses its headers and slices its payload.
#[inline(always)]
fn decode_frame(
    frame: Bytes,
    prelude: Prelude,
    mut crc: RunningCrc,
    frame_offset: u64,
    limits: &Limits,
    reject_duplicates: bool,
) -> Result<Message, FrameError> {
    let crc_at = prelude.total_len - 4;
    let expected = (&frame[crc_at..]).get_u32();
    crc.update_from_memory(&frame, crc_at);
    let actual = crc.hasher.finalize();
    if actual != expected {
        return Err(FrameError::MessageChecksumMismatch {
            frame_offset,
            expected,
            actual,
        });
    }
    let headers_end = PRELUDE_LEN + prelude.headers_len;
    let headers = parse_headers(&frame, headers_end, frame_offset, limits, reject_duplicates)?;
    // The frame's own handle becomes the payload: no reference count traffic for it.
    let mut payload = frame;
    payload.truncate(crc_at);
    payload.advance(headers_end);
    Ok(Message::from_parts(headers, payload))
}

/// The header names and string values that nearly every message carries. Decoding them as
/// `&'static str` instead of views into the frame saves a shared reference count update per
/// header, which is most of the cost of a small message.
#[inline(always)]
fn interned(bytes: &[u8]) -> Option<&'static str> {
    // By length first, then literals of that length: fixed-size comparisons, no calls.
    Some(match (bytes.len(), bytes) {
        (5, b":date") => ":date",
        (5, b"event") => "event",
        (5, b"error") => "error",
        (9, b"exception") => "exception",
        (10, b"text/plain") => "text/plain",
        (11, b":event-type") => ":event-type",
        (11, b":error-code") => ":error-code",
        (13, b":message-type") => ":message-type",
        (13, b":content-type") => ":content-type",
        (14, b":error-message") => ":error-message",
        (15, b":exception-type") => ":exception-type",
        (15, b"initial-request") => "initial-request",
        (15, b"application/xml") => "application/xml",
        (16, b":chunk-signature") => ":chunk-signature",
        (16, b"initial-response") => "initial-response",
        (16, b"application/json") => "application/json",
        (16, b"application/cbor") => "application/cbor",
        (24, b"application/octet-stream") => "application/octet-stream",
        _ => return None,
    })
}

/// A string view into `frame[from..to]`, or the interned copy of a common one; `None` when the
/// bytes are not UTF-8.
#[inline(always)]
fn string_at(frame: &Bytes, from: usize, to: usize) -> Option<ByteString> {
    match interned(&frame[from..to]) {
        Some(s) => Some(ByteString::from_static(s)),
        None => ByteString::try_from(frame.slice(from..to)).ok(),
    }
}

/// Parses the header block `frame[12..end]`. Values are views into `frame`.
fn parse_headers(
    frame: &Bytes,
    end: usize,
    frame_offset: u64,
    limits: &Limits,
    reject_duplicates: bool,
) -> Result<Vec<Header>, FrameError> {
    // Room for a few headers up front: growing from empty costs more than allocating.
    let mut headers = if end > PRELUDE_LEN {
        Vec::with_capacity(4)
    } else {
        Vec::new()
    };
    let mut pos = PRELUDE_LEN;
    let at = |pos: usize| frame_offset + pos as u64;
    while pos < end {
        if headers.len() >= limits.max_header_count() as usize {
            return Err(FrameError::TooManyHeaders {
                frame_offset,
                limit: limits.max_header_count(),
            });
        }
        let header_at = pos;
        let name_len = frame[pos];
        pos += 1;
        let remaining = end - pos;
        if name_len == 0 || name_len as usize > remaining {
            return Err(FrameError::InvalidHeaderNameLength {
                offset: at(header_at),
                length: name_len,
                remaining,
            });
        }
        let name_end = pos + name_len as usize;
        let name = string_at(frame, pos, name_end).ok_or(FrameError::InvalidUtf8 {
            offset: at(pos),
            what: "name",
        })?;
        pos = name_end;
        let value_at = pos;
        let invalid = |name: &ByteString, reason| FrameError::InvalidHeaderValue {
            offset: at(value_at),
            name: name.clone(),
            reason,
        };
        if pos >= end {
            return Err(invalid(&name, "the type code is missing"));
        }
        let type_code = frame[pos];
        pos += 1;
        let fixed = |pos: usize, n: usize| -> Result<&[u8], FrameError> {
            if end - pos < n {
                Err(invalid(
                    &name,
                    "the value runs past the end of the header block",
                ))
            } else {
                Ok(&frame[pos..pos + n])
            }
        };
        // Each arm pushes its own variant, so that the header is written straight into the
        // vector instead of being assembled on the stack and copied.
        let len = match type_code {
            0 => push(&mut headers, name, HeaderValue::Bool(true), 0),
            1 => push(&mut headers, name, HeaderValue::Bool(false), 0),
            2 => {
                let v = fixed(pos, 1)?[0] as i8;
                push(&mut headers, name, HeaderValue::Byte(v), 1)
            }
            3 => {
                let v = fixed(pos, 2)?.get_i16();
                push(&mut headers, name, HeaderValue::Short(v), 2)
            }
            4 => {
                let v = fixed(pos, 4)?.get_i32();
                push(&mut headers, name, HeaderValue::Int(v), 4)
            }
            5 => {
                let v = fixed(pos, 8)?.get_i64();
                push(&mut headers, name, HeaderValue::Long(v), 8)
            }
            8 => {
                let v = fixed(pos, 8)?.get_i64();
                push(&mut headers, name, HeaderValue::Timestamp(v), 8)
            }
            9 => {
                let mut uuid = [0u8; 16];
                uuid.copy_from_slice(fixed(pos, 16)?);
                push(&mut headers, name, HeaderValue::Uuid(uuid), 16)
            }
            6 | 7 => {
                let n = fixed(pos, 2)?.get_u16() as usize;
                if n > MAX_HEADER_VALUE_LEN {
                    return Err(invalid(&name, "the value is longer than 32767 bytes"));
                }
                fixed(pos + 2, n)?;
                if type_code == 6 {
                    let v = frame.slice(pos + 2..pos + 2 + n);
                    push(&mut headers, name, HeaderValue::Bytes(v), 2 + n)
                } else {
                    let v =
                        string_at(frame, pos + 2, pos + 2 + n).ok_or(FrameError::InvalidUtf8 {
                            offset: at(pos + 2),
                            what: "string value",
                        })?;
                    push(&mut headers, name, HeaderValue::String(v), 2 + n)
                }
            }
            type_code => {
                return Err(FrameError::InvalidHeaderValueType {
                    offset: at(value_at),
                    name,
                    type_code,
                })
            }
        };
        pos += len;
        if reject_duplicates {
            if let Some((last, earlier)) = headers.split_last() {
                if earlier.iter().any(|h| h.name() == last.name()) {
                    return Err(FrameError::DuplicateHeader {
                        offset: at(header_at),
                        name: last.name_bytes().clone(),
                    });
                }
            }
        }
    }
    Ok(headers)
}

/// Appends a header, returning the length of its value on the wire.
#[inline(always)]
fn push(headers: &mut Vec<Header>, name: ByteString, value: HeaderValue, len: usize) -> usize {
    headers.push(Header::new(name, value));
    len
}
