//! Layer 3: the signing chain, and the signed request that opens a stream.
//!
//! A signed stream wraps every outgoing message in an envelope whose `:chunk-signature` chains it
//! to the one before, starting from the signature of the initial HTTP request (the seed), and
//! ends with a signed empty frame. [`SigV4Signer`] produces the chain, [`SigV4Verifier`] checks it
//! on the receiving side. [`EventSigner`] and [`EventVerifier`] let a session sign with SigV4,
//! with nothing ([`Anonymous`]), or with a scheme of the application's own.
//!
//! The request that opens a signed stream is signed too: [`RequestSigner`] signs its head with
//! SigV4 and hands the signature to the event signer as the seed
//! ([`SignedRequest::event_signer`]); on the server side [`RequestVerifier`] checks the head
//! (signature, credential scope, clock skew; secrets from a [`SecretStore`]) and seeds the event
//! verifier ([`VerifiedRequest::event_verifier`]).
//!
//! The core reads no clock: every signature takes its [`SigningTime`] from the caller.

mod decoder;
mod error;
mod request;
mod sigv4;
mod time;

pub use decoder::VerifyingDecoder;
pub use error::{RequestSignError, RequestVerifyError, SeedError, SignError, VerifyError};
pub use request::{
    PayloadHash, RequestHead, RequestSigner, RequestVerifier, SecretStore, SignedRequest,
    StaticSecrets, VerifiedRequest, EMPTY_BODY_SHA256, REQUEST_ALGORITHM, STREAMING_EVENTS_PAYLOAD,
};
pub use sigv4::{
    is_envelope, string_to_sign, Credentials, SigV4Signer, SigV4Verifier, SigningParams, ALGORITHM,
    DATE_HEADER, SIGNATURE_HEADER,
};
pub use time::{SigningTime, TimeOutOfRange};

use crate::frame::{Limits, Message};
use bytes::BytesMut;

/// What a verifier makes of one envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// A verified inner message.
    Message(Message),
    /// The verified end frame: the sender's side of the stream is complete.
    End,
}

/// Turns outgoing messages into wire bytes: signed envelopes, plain frames, or a scheme of the
/// application's own.
pub trait EventSigner: core::any::Any {
    /// Appends `message`, signed at `time`, to `dst` as one frame; returns the bytes written.
    /// On error nothing is written and the signing state does not change.
    ///
    /// # Errors
    ///
    /// A [`SignError`] when the message cannot be encoded within `limits`, or after the end.
    fn sign_to(
        &mut self,
        message: &Message,
        time: SigningTime,
        limits: &Limits,
        dst: &mut BytesMut,
    ) -> Result<usize, SignError>;

    /// Appends the frame that ends the stream, if the scheme has one, and returns its length;
    /// nothing can be signed after it. A signed stream ends with a signed empty envelope; an
    /// unsigned one has no end frame (0 bytes): the transport's end alone ends it.
    ///
    /// # Errors
    ///
    /// [`SignError::AfterEnd`] if the end was already signed.
    fn sign_end_to(&mut self, time: SigningTime, dst: &mut BytesMut) -> Result<usize, SignError>;

    /// Whether what this signer writes depends on the time it is given. A session never signs
    /// with a time the application did not give: when it has none, a signer for which this is
    /// true is not asked to sign its failure report. True unless the scheme ignores time.
    fn uses_time(&self) -> bool {
        true
    }
}

/// Checks incoming envelopes and hands out what they carry.
pub trait EventVerifier: core::any::Any {
    /// Verifies the next envelope. `limits` are the receiver's limits, which the message handed
    /// out must meet (the envelope itself was decoded with [`Limits::enveloped`] of them);
    /// `now` is the caller's time, for clock skew checks.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`]; errors are fatal.
    fn verify(
        &mut self,
        envelope: &Message,
        limits: &Limits,
        now: Option<SigningTime>,
    ) -> Result<Verified, VerifyError>;

    /// Declares the end of the input.
    ///
    /// # Errors
    ///
    /// [`VerifyError::MissingEndFrame`] if the end frame never came.
    fn handle_end_of_input(&mut self) -> Result<(), VerifyError>;
}

/// No signing: messages go out as they are, and the stream has no end frame: the transport's
/// end (HTTP/2 END_STREAM, the end of a body, EOF) alone ends it, as every AWS SDK expects of an
/// unsigned stream.
///
/// ```
/// use bytes::BytesMut;
/// use eventstream::frame::{Limits, Message};
/// use eventstream::sign::{Anonymous, EventSigner, SigningTime};
///
/// let mut out = BytesMut::new();
/// let t = SigningTime::from_unix_seconds(0).unwrap();
/// let mut signer = Anonymous::default();
/// signer.sign_to(&Message::new(&b"hi"[..]), t, &Limits::default(), &mut out).unwrap();
/// assert_eq!(signer.sign_end_to(t, &mut out).unwrap(), 0); // no end frame
/// assert_eq!(out.len(), 18);
/// assert!(signer.sign_end_to(t, &mut out).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Anonymous {
    ended: bool,
}

impl EventSigner for Anonymous {
    fn sign_to(
        &mut self,
        message: &Message,
        _time: SigningTime,
        limits: &Limits,
        dst: &mut BytesMut,
    ) -> Result<usize, SignError> {
        if self.ended {
            return Err(SignError::AfterEnd);
        }
        Ok(message.encode_with_limits(limits, dst)?)
    }

    fn sign_end_to(&mut self, _time: SigningTime, _dst: &mut BytesMut) -> Result<usize, SignError> {
        if self.ended {
            return Err(SignError::AfterEnd);
        }
        self.ended = true;
        Ok(0)
    }

    fn uses_time(&self) -> bool {
        false
    }
}

/// Unwraps envelopes without checking their signatures, and passes unsigned frames through:
/// for mirrors, capture tools and tests that have no credentials.
///
/// A message whose headers are exactly `:date` (timestamp) and `:chunk-signature` (32 bytes) is
/// an envelope: an empty payload is the end frame, any other payload must be one whole frame,
/// the inner message. Anything else is handed out as it is, checked against the receiver's
/// limits (the 16-byte empty message too: an unsigned stream has no end frame). Frames after
/// the end frame are [`VerifyError::FrameAfterEnd`]; unlike [`SigV4Verifier`], a stream without
/// an end frame is accepted.
///
/// ```
/// use eventstream::frame::{Limits, Message};
/// use eventstream::sign::{Credentials, EventVerifier, SigV4Signer, SigningParams, SigningTime, Unchecked, Verified};
///
/// let params = SigningParams::new(Credentials::new("id", "secret"), "us-east-1", "demo");
/// let mut signer = SigV4Signer::new(params, "00");
/// let t = SigningTime::from_unix_seconds(0)?;
/// let limits = Limits::default();
/// let envelope = signer.sign(&Message::new(&b"x"[..]), &limits, t)?;
///
/// let mut v = Unchecked::default();
/// assert_eq!(v.verify(&envelope, &limits, None)?, Verified::Message(Message::new(&b"x"[..])));
/// let plain = Message::new(&b"plain"[..]);
/// assert_eq!(v.verify(&plain, &limits, None)?, Verified::Message(plain.clone()));
/// let small = Limits::default().with_max_payload_len(4);
/// assert_eq!(v.verify(&plain, &small, None).unwrap_err().kind(), "payload_too_long");
/// assert_eq!(v.verify(&signer.sign_end(t)?, &limits, None)?, Verified::End);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Unchecked {
    index: u64,
    ended: bool,
}

impl EventVerifier for Unchecked {
    fn verify(
        &mut self,
        message: &Message,
        limits: &Limits,
        _now: Option<SigningTime>,
    ) -> Result<Verified, VerifyError> {
        let index = self.index;
        if self.ended {
            return Err(VerifyError::FrameAfterEnd { index });
        }
        self.index += 1;
        if !sigv4::is_envelope(message) {
            limits.check(message)?;
            return Ok(Verified::Message(message.clone()));
        }
        if message.payload().is_empty() {
            self.ended = true;
            return Ok(Verified::End);
        }
        sigv4::unwrap_inner(message.payload(), limits, index).map(Verified::Message)
    }

    fn handle_end_of_input(&mut self) -> Result<(), VerifyError> {
        Ok(())
    }
}

/// Reads the seed of a signing chain, the `Signature=` of a SigV4 `Authorization` value
/// (`AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=<64 hex digits>`), as lowercase hex.
///
/// # Errors
///
/// [`SeedError::NoSignature`] when there is no `Signature=` parameter,
/// [`SeedError::InvalidSignature`] when it is not 64 hex digits.
///
/// ```
/// use eventstream::sign::seed_from_authorization_str;
///
/// let auth = "AWS4-HMAC-SHA256 Credential=access/19810116/us-east-1/demo/aws4_request, \
///             SignedHeaders=host;x-amz-date, \
///             Signature=e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";
/// let seed = seed_from_authorization_str(auth).unwrap();
/// assert_eq!(seed, "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b");
/// assert!(seed_from_authorization_str("Bearer abc").is_err());
/// ```
pub fn seed_from_authorization_str(value: &str) -> Result<alloc::string::String, SeedError> {
    let sig = value
        .split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("Signature="))
        .ok_or(SeedError::NoSignature)?;
    if sig.len() != 64 || !sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SeedError::InvalidSignature);
    }
    Ok(sig.to_ascii_lowercase())
}

/// Reads the seed of a signing chain from the initial request's `Authorization` header; see
/// [`seed_from_authorization_str`].
///
/// # Errors
///
/// A [`SeedError`] when the header is absent from the value, not text, or has no valid
/// `Signature=`.
///
/// ```
/// use eventstream::sign::seed_from_authorization;
///
/// let v = http::HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=00000000000000000000000000000000000000000000000000000000000000ff");
/// assert!(seed_from_authorization(&v).unwrap().ends_with("ff"));
/// ```
#[cfg(feature = "http")]
pub fn seed_from_authorization(
    value: &http::HeaderValue,
) -> Result<alloc::string::String, SeedError> {
    let text = value.to_str().map_err(|_| SeedError::NoSignature)?;
    seed_from_authorization_str(text)
}

#[cfg(test)]
mod tests;
