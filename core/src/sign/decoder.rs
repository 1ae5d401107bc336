//! A frame decoder followed by a verifier: bytes in, verified messages out.

use super::{EventVerifier, SigningTime, Verified, VerifyError};
use crate::frame::{FrameDecoder, Limits, Message};
use alloc::boxed::Box;
use bytes::Bytes;
use core::fmt;

/// Reads a stream of frames that may be signed: a [`FrameDecoder`], then, when one is set, an
/// [`EventVerifier`] that checks and unwraps each envelope and consumes the end frame.
///
/// This is the one place where the receiving side of a plain (session-less) stream is decided:
/// readers over files, sockets and response bodies drive it instead of repeating the rules. The
/// drain contract is the decoder's: feed with [`handle_input`](Self::handle_input) or
/// [`handle_bytes`](Self::handle_bytes), drain [`poll_message`](Self::poll_message) until
/// `Ok(None)`, and call [`handle_end_of_input`](Self::handle_end_of_input) at the end of the input. Every error is fatal and
/// returned again by later calls.
///
/// ```
/// use bytes::BytesMut;
/// use eventstream::frame::{Limits, Message};
/// use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams, SigningTime, VerifyingDecoder};
///
/// let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
/// let mut signer = SigV4Signer::new(params.clone(), "00");
/// let t = SigningTime::from_unix_seconds(1_700_000_000)?;
/// let mut wire = BytesMut::new();
/// signer.sign(&Message::new(&b"one"[..]), &Limits::DEFAULT, t)?.encode(&mut wire)?;
/// signer.sign_end(t)?.encode(&mut wire)?;
///
/// let mut reader = VerifyingDecoder::new(Limits::default()).with_verifier(SigV4Verifier::new(params, "00"));
/// let mut got = Vec::new();
/// for piece in wire.chunks(10) {
///     reader.handle_input(piece);
///     while let Some(message) = reader.poll_message()? {
///         got.push(message);
///     }
/// }
/// reader.handle_end_of_input()?; // a missing end frame would be an error here
/// assert_eq!(got, [Message::new(&b"one"[..])]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct VerifyingDecoder {
    limits: Limits,
    decoder: FrameDecoder,
    verifier: Option<Box<dyn EventVerifier + Send>>,
    now: Option<SigningTime>,
    error: Option<VerifyError>,
}

impl VerifyingDecoder {
    /// A reader of plain frames checked against `limits`.
    pub fn new(limits: Limits) -> Self {
        VerifyingDecoder {
            limits,
            decoder: FrameDecoder::with_limits(limits),
            verifier: None,
            now: None,
            error: None,
        }
    }

    /// Verifies and unwraps every frame with `verifier`; the frames are then envelopes, decoded
    /// with [`Limits::enveloped`] of the limits given to [`new`](Self::new), and the messages
    /// they carry are held to those limits themselves. Input already fed is kept.
    #[must_use]
    pub fn with_verifier(mut self, verifier: impl EventVerifier + Send + 'static) -> Self {
        self.verifier = Some(Box::new(verifier));
        self.decoder.set_limits(self.limits.enveloped());
        self
    }

    /// Changes the limits for the frames not yet started: the messages' limits (with a verifier,
    /// the envelopes are read with [`Limits::enveloped`] of them). Input already fed is kept.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        let frames = if self.verifier.is_some() {
            limits.enveloped()
        } else {
            limits
        };
        self.decoder.set_limits(frames);
    }

    /// Whether a verifier is set.
    pub fn is_verifying(&self) -> bool {
        self.verifier.is_some()
    }

    /// Sets the time that clock-skew checks compare against.
    pub fn set_now(&mut self, now: SigningTime) {
        self.now = Some(now);
    }

    /// Feeds bytes (copied once into the decoder's buffer).
    pub fn handle_input(&mut self, data: &[u8]) {
        self.decoder.handle_input(data);
    }

    /// Feeds bytes the caller owns as `Bytes` (whole frames are not copied).
    pub fn handle_bytes(&mut self, data: &Bytes) {
        self.decoder.handle_bytes(data);
    }

    /// The number of bytes fed and not yet handed out.
    pub fn buffered_len(&self) -> usize {
        self.decoder.buffered_len()
    }

    /// The next message (the inner message of a verified envelope), or `Ok(None)` when more
    /// bytes are needed. The signed end frame is consumed, not handed out.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] (frame-layer errors come as [`VerifyError::Frame`]); fatal.
    #[must_use = "a decoded message or an error would be lost"]
    pub fn poll_message(&mut self) -> Result<Option<Message>, VerifyError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        loop {
            let frame = match self.decoder.poll_message() {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(None),
                Err(e) => {
                    let e = match self.verifier {
                        Some(_) => self.limits.name_in_enveloped_error(e),
                        None => e,
                    };
                    return Err(self.fail(e.into()));
                }
            };
            let Some(verifier) = self.verifier.as_mut() else {
                return Ok(Some(frame));
            };
            match verifier.verify(&frame, &self.limits, self.now) {
                Ok(Verified::Message(message)) => return Ok(Some(message)),
                // Read on: anything after the end frame is the verifier's error.
                Ok(Verified::End) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// Marks the end of the input: `Ok(())` when it ended between frames (and, when verifying,
    /// after the end frame). Call it after `poll_message` returned `Ok(None)`.
    ///
    /// # Errors
    ///
    /// `truncated` for a partial frame, `missing_end_frame` when verifying and the end frame
    /// never came, or the error the reader already failed with.
    pub fn handle_end_of_input(&mut self) -> Result<(), VerifyError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        if let Err(e) = self.decoder.handle_end_of_input() {
            return Err(self.fail(e.into()));
        }
        if self.decoder.buffered_len() > 0 {
            // Complete frames not drained yet: poll_message reports what follows them.
            return Ok(());
        }
        if let Some(verifier) = self.verifier.as_mut() {
            if let Err(e) = verifier.handle_end_of_input() {
                return Err(self.fail(e));
            }
        }
        Ok(())
    }

    fn fail(&mut self, error: VerifyError) -> VerifyError {
        self.error = Some(error.clone());
        error
    }
}

impl fmt::Debug for VerifyingDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingDecoder")
            .field("decoder", &self.decoder)
            .field("verifying", &self.verifier.is_some())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}
