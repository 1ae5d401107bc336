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

/// Why a request head could not be signed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestSignError {
    /// A header the signer adds cannot be an HTTP header value: a session token or an
    /// authority with a control character, say.
    #[error("the {name} header's value cannot be an HTTP header value")]
    InvalidHeaderValue {
        /// The header's name.
        name: &'static str,
    },
}

impl RequestSignError {
    /// A stable `snake_case` name: `invalid_http_header_value`.
    pub const fn kind(&self) -> &'static str {
        match self {
            RequestSignError::InvalidHeaderValue { .. } => "invalid_http_header_value",
        }
    }
}

/// Why a signed request was rejected. Each is one clear reason, and none says more about the
/// secret than that the signature does not match.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestVerifyError {
    /// The request has no `Authorization` header.
    #[error("the request has no Authorization header")]
    MissingAuthorization,
    /// The `Authorization` value is not `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
    /// Signature=…`, or appears twice.
    #[error("malformed Authorization header: {reason}")]
    MalformedAuthorization {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The `Authorization` value names an algorithm other than `AWS4-HMAC-SHA256`.
    #[error("unsupported signing algorithm {algorithm:?}: only AWS4-HMAC-SHA256 is accepted")]
    UnsupportedAlgorithm {
        /// The algorithm named (at most 64 characters of it).
        algorithm: alloc::string::String,
    },
    /// A header that `SignedHeaders` names is not in the request.
    #[error("the signed header {name:?} is not in the request")]
    MissingSignedHeader {
        /// The header's name.
        name: alloc::string::String,
    },
    /// The request has no `x-amz-date` header.
    #[error("the request has no x-amz-date header")]
    MissingDate,
    /// The `x-amz-date` value is not a `YYYYMMDDTHHMMSSZ` time, or appears twice.
    #[error("the x-amz-date header is not a YYYYMMDDTHHMMSSZ time")]
    InvalidDate,
    /// The request was signed further from the verifier's time than the allowed clock skew.
    #[error(
        "{}: the request was signed at {signed_at} s, {now} s now, more than the allowed {max_skew} s apart",
        expiry(.signed_at, .now)
    )]
    RequestExpired {
        /// The `x-amz-date`, in seconds since the Unix epoch.
        signed_at: i64,
        /// The verifier's time, in seconds since the Unix epoch.
        now: i64,
        /// The allowed skew, in seconds.
        max_skew: u64,
    },
    /// The credential scope is not the verifier's: another date than `x-amz-date`'s, another
    /// region or service, or a terminator other than `aws4_request`.
    #[error("credential scope mismatch: the {part} is {found:?}, expected {expected:?}")]
    ScopeMismatch {
        /// `date`, `region`, `service` or `terminator`.
        part: &'static str,
        /// What the verifier expects.
        expected: alloc::string::String,
        /// What the request has (at most 64 characters of it).
        found: alloc::string::String,
    },
    /// No secret is known for the access key id.
    #[error("unknown access key id {access_key_id:?}")]
    UnknownAccessKey {
        /// The access key id (at most 64 characters of it).
        access_key_id: alloc::string::String,
    },
    /// The credentials are temporary and the request's `x-amz-security-token` is missing or
    /// is not their session token.
    #[error(
        "the x-amz-security-token header is missing or not the session token of the access key"
    )]
    InvalidSecurityToken,
    /// The signature is not the one recomputed from the request and the secret.
    #[error("the request signature does not match")]
    SignatureDoesNotMatch,
}

/// AWS's words for a request signed too long ago, or too far ahead of the verifier's clock.
fn expiry(signed_at: &i64, now: &i64) -> &'static str {
    if signed_at < now {
        "Signature expired"
    } else {
        "Signature not yet current"
    }
}

impl RequestVerifyError {
    /// A stable `snake_case` name: `missing_authorization`, `malformed_authorization`,
    /// `unsupported_algorithm`, `missing_signed_header`, `missing_date`, `invalid_date`,
    /// `request_expired`, `scope_mismatch`, `unknown_access_key`, `invalid_security_token` or
    /// `signature_does_not_match`.
    pub const fn kind(&self) -> &'static str {
        match self {
            RequestVerifyError::MissingAuthorization => "missing_authorization",
            RequestVerifyError::MalformedAuthorization { .. } => "malformed_authorization",
            RequestVerifyError::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            RequestVerifyError::MissingSignedHeader { .. } => "missing_signed_header",
            RequestVerifyError::MissingDate => "missing_date",
            RequestVerifyError::InvalidDate => "invalid_date",
            RequestVerifyError::RequestExpired { .. } => "request_expired",
            RequestVerifyError::ScopeMismatch { .. } => "scope_mismatch",
            RequestVerifyError::UnknownAccessKey { .. } => "unknown_access_key",
            RequestVerifyError::InvalidSecurityToken => "invalid_security_token",
            RequestVerifyError::SignatureDoesNotMatch => "signature_does_not_match",
        }
    }

    /// The exception an AWS service names for this failure (in its `x-amzn-errortype` header
    /// and the `__type` of a JSON error body), for a server that answers as AWS does:
    ///
    /// - `MissingAuthenticationTokenException`: no `Authorization` header;
    /// - `IncompleteSignatureException`: a signature that does not follow SigV4's form (a
    ///   malformed `Authorization`, another algorithm, a signed header or `x-amz-date` missing,
    ///   a date not in `YYYYMMDDTHHMMSSZ`);
    /// - `InvalidSignatureException`: a well-formed signature that is wrong (its value, its
    ///   credential scope, or a time outside the skew window: AWS's "Signature expired");
    /// - `UnrecognizedClientException`: an access key or session token the service does not
    ///   know ("The security token included in the request is invalid").
    ///
    /// ```
    /// use eventstream::sign::RequestVerifyError;
    ///
    /// let e = RequestVerifyError::SignatureDoesNotMatch;
    /// assert_eq!(e.aws_error_code(), "InvalidSignatureException");
    /// let e = RequestVerifyError::InvalidSecurityToken;
    /// assert_eq!(e.aws_error_code(), "UnrecognizedClientException");
    /// ```
    pub const fn aws_error_code(&self) -> &'static str {
        match self {
            RequestVerifyError::MissingAuthorization => "MissingAuthenticationTokenException",
            RequestVerifyError::MalformedAuthorization { .. }
            | RequestVerifyError::UnsupportedAlgorithm { .. }
            | RequestVerifyError::MissingSignedHeader { .. }
            | RequestVerifyError::MissingDate
            | RequestVerifyError::InvalidDate => "IncompleteSignatureException",
            RequestVerifyError::RequestExpired { .. }
            | RequestVerifyError::ScopeMismatch { .. }
            | RequestVerifyError::SignatureDoesNotMatch => "InvalidSignatureException",
            RequestVerifyError::UnknownAccessKey { .. }
            | RequestVerifyError::InvalidSecurityToken => "UnrecognizedClientException",
        }
    }
}
