//! Errors of the signing layer.

use crate::frame::{EncodeError, FrameError};

/// Why a message could not be signed. The chain does not advance on error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The message cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The end frame was already signed: the stream is over.
    #[error("the end frame was already signed: nothing more can be signed on this stream")]
    AfterEnd,
}

impl SignError {
    /// A stable `snake_case` name: the encoder's kind, or `signed_after_end`.
    pub const fn kind(&self) -> &'static str {
        match self {
            SignError::Encode(e) => e.kind(),
            SignError::AfterEnd => "signed_after_end",
        }
    }
}

/// Why a chain of signed envelopes was rejected. Every error is fatal to the verifier.
///
/// `index` counts envelopes from 0 in the order they were verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature does not match the one recomputed from the chain: the envelope was
    /// tampered with, dropped, reordered, replayed or injected, or the credentials or seed differ.
    #[error("signature mismatch at envelope {index}: the chain is broken")]
    SignatureMismatch {
        /// The envelope's position.
        index: u64,
    },
    /// The envelope's `:date` or `:chunk-signature` header is missing or malformed, or its payload
    /// is not one whole frame.
    #[error("invalid envelope at index {index}: {reason}")]
    InvalidEnvelope {
        /// The envelope's position.
        index: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An envelope arrived after the end frame.
    #[error("envelope {index} arrived after the end frame")]
    FrameAfterEnd {
        /// The envelope's position.
        index: u64,
    },
    /// The input ended without the signed end frame.
    #[error("the input ended after {verified} envelopes without the signed end frame")]
    MissingEndFrame {
        /// How many envelopes were verified.
        verified: u64,
    },
    /// The envelope's `:date` is further from the caller's time than the allowed clock skew.
    #[error("envelope {index} was signed at {signed_at} s, {now} s now, more than the allowed {max_skew} s apart")]
    SignatureExpired {
        /// The envelope's position.
        index: u64,
        /// Its `:date`, in seconds since the Unix epoch.
        signed_at: i64,
        /// The caller's time, in seconds since the Unix epoch.
        now: i64,
        /// The allowed skew, in seconds.
        max_skew: u64,
    },
    /// The inner message is not a valid frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl VerifyError {
    /// A stable `snake_case` name: `signature_mismatch`, `invalid_envelope`, `frame_after_end`,
    /// `missing_end_frame`, `signature_expired`, or the frame layer's kind.
    pub const fn kind(&self) -> &'static str {
        match self {
            VerifyError::SignatureMismatch { .. } => "signature_mismatch",
            VerifyError::InvalidEnvelope { .. } => "invalid_envelope",
            VerifyError::FrameAfterEnd { .. } => "frame_after_end",
            VerifyError::MissingEndFrame { .. } => "missing_end_frame",
            VerifyError::SignatureExpired { .. } => "signature_expired",
            VerifyError::Frame(e) => e.kind(),
        }
    }
}

/// Why no seed signature could be read from an `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// The header has no `Signature=` parameter.
    #[error("the Authorization header has no Signature= parameter")]
    NoSignature,
    /// The `Signature=` parameter is not 64 hex digits.
    #[error("the Authorization header's signature is not 64 hex digits")]
    InvalidSignature,
}

impl SeedError {
    /// A stable `snake_case` name: `no_signature` or `invalid_signature`.
    pub const fn kind(&self) -> &'static str {
        match self {
            SeedError::NoSignature => "no_signature",
            SeedError::InvalidSignature => "invalid_signature",
        }
    }
}
