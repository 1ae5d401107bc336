//! SigV4 event signing: the chain of signatures, its signer and its verifier.

use super::error::{SignError, VerifyError};
use super::time::SigningTime;
use super::{EventSigner, EventVerifier, Verified};
use crate::frame::{FrameDecoder, HeaderValue, Limits, Message};
use alloc::string::String;
use bytes::{BufMut, Bytes, BytesMut};
use core::fmt;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The name of the header that carries an envelope's time.
pub const DATE_HEADER: &str = ":date";
/// The name of the header that carries an envelope's signature.
pub const SIGNATURE_HEADER: &str = ":chunk-signature";
/// The first line of every event's string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";

/// The length of an envelope's header block: `:date` (15 bytes) and `:chunk-signature` (52 bytes).
const ENVELOPE_HEADERS_LEN: usize = DATE_HEADER_LEN + 1 + SIGNATURE_HEADER.len() + 1 + 2 + 32;
const DATE_HEADER_LEN: usize = 1 + DATE_HEADER.len() + 1 + 8;

/// Access key id, secret access key and, for temporary credentials, a session token. `Debug`
/// shows the key id, never the secret or the token.
///
/// ```
/// use eventstream::sign::Credentials;
///
/// let c = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
///     .with_session_token("IQoJb3JpZ2luX2VjEXAMPLE");
/// assert_eq!(c.access_key_id(), "AKIDEXAMPLE");
/// assert_eq!(c.session_token(), Some("IQoJb3JpZ2luX2VjEXAMPLE"));
/// let shown = format!("{c:?}");
/// assert!(!shown.contains("wJalr") && !shown.contains("IQoJ"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl Credentials {
    /// Credentials from an access key id and a secret access key.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// The same credentials with a session token (temporary credentials from STS, SSO or an
    /// instance role). A request signer sends it as `x-amz-security-token`.
    #[must_use]
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key, which signing keys are derived from.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The session token of temporary credentials, if any.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What a signature is computed with: credentials, region and service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningParams {
    credentials: Credentials,
    region: String,
    service: String,
}

impl SigningParams {
    /// Parameters from credentials, a region and a service.
    pub fn new(
        credentials: Credentials,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        SigningParams {
            credentials,
            region: region.into(),
            service: service.into(),
        }
    }

    /// The credentials; only the secret enters the signature.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The region, e.g. `us-east-1`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The signing name of the service, e.g. `transcribe`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The same region and service with other credentials (rotated ones, say).
    #[must_use]
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }
}

/// Feeds the string to sign to `out`, piece by piece, without allocating:
/// `ALGORITHM \n amz_date \n scope \n prior \n hex(sha256(headers)) \n hex(sha256(payload))`.
fn string_to_sign_parts(
    time: &SigningTime,
    region: &str,
    service: &str,
    prior: &str,
    headers_hash: &[u8; 32],
    payload_hash: &[u8; 32],
    mut out: impl FnMut(&[u8]),
) {
    string_to_sign_head(time, region, service, &mut out);
    out(prior.as_bytes());
    out(b"\n");
    out(&hex32(headers_hash));
    out(b"\n");
    out(&hex32(payload_hash));
}

/// Feeds the first three lines of the string to sign to `out`, the ones every event signed at
/// the same time shares: `ALGORITHM \n amz_date \n scope \n`.
fn string_to_sign_head(
    time: &SigningTime,
    region: &str,
    service: &str,
    mut out: impl FnMut(&[u8]),
) {
    out(ALGORITHM.as_bytes());
    out(b"\n");
    out(time.amz_date().as_bytes());
    out(b"\n");
    out(time.scope_date().as_bytes());
    out(b"/");
    out(region.as_bytes());
    out(b"/");
    out(service.as_bytes());
    out(b"/aws4_request\n");
}

/// The string to sign for one event, as the SigV4 event signing rules define it.
///
/// `prior` is the previous signature in lowercase hex (for the first event: the seed, written as
/// given); `headers` the encoded `:date` header; `payload` the encoded inner message (empty for
/// the end frame). The signer feeds exactly these bytes to the HMAC.
///
/// ```
/// use eventstream::sign::{string_to_sign, SigningTime};
///
/// let t = SigningTime::from_unix_seconds(0).unwrap();
/// let s = string_to_sign(&t, "us-east-1", "demo", "00", b"", b"");
/// assert!(s.starts_with("AWS4-HMAC-SHA256-PAYLOAD\n19700101T000000Z\n19700101/us-east-1/demo/aws4_request\n00\n"));
/// ```
pub fn string_to_sign(
    time: &SigningTime,
    region: &str,
    service: &str,
    prior: &str,
    headers: &[u8],
    payload: &[u8],
) -> String {
    let mut s = alloc::vec::Vec::new();
    let headers_hash: [u8; 32] = Sha256::digest(headers).into();
    let payload_hash: [u8; 32] = Sha256::digest(payload).into();
    string_to_sign_parts(
        time,
        region,
        service,
        prior,
        &headers_hash,
        &payload_hash,
        |b| s.extend_from_slice(b),
    );
    String::from_utf8_lossy(&s).into_owned()
}

/// The encoded `:date` header for a time: the bytes whose hash enters the string to sign.
fn date_header_bytes(millis: i64) -> [u8; DATE_HEADER_LEN] {
    let mut b = [0u8; DATE_HEADER_LEN];
    b[0] = DATE_HEADER.len() as u8;
    b[1..6].copy_from_slice(DATE_HEADER.as_bytes());
    b[6] = 8;
    b[7..].copy_from_slice(&millis.to_be_bytes());
    b
}

/// The state both ends of a signed stream keep: parameters, the prior signature, the signing
/// key of the current date and what the events of the current `:date` share.
#[derive(Clone)]
struct Chain {
    params: SigningParams,
    /// The prior signature as written into the string to sign (lowercase hex, or the seed).
    prior: String,
    /// The signing key of one scope date, already keyed into an HMAC state.
    key: Option<([u8; 8], HmacSha256)>,
    /// What the events signed at one `:date` share; a stream signs many events per second.
    moment: Moment,
}

/// What every event with the same `:date` value shares, computed for the first of them: the
/// time, the hash of the encoded `:date` header (in hex, as the string to sign has it), and the
/// signing key's HMAC with the string to sign's first three lines (algorithm, time, scope)
/// already absorbed. Each event then hashes only its own lines: two SHA-256 blocks fewer per
/// event, one of the `:date` header and one of the string to sign.
#[derive(Clone)]
struct Moment {
    /// The `:date` value, in milliseconds; `None` until the first event.
    millis: Option<i64>,
    time: SigningTime,
    date_hash: [u8; 64],
    mac: HmacSha256,
}

impl Moment {
    fn new(
        params: &SigningParams,
        key: &mut Option<([u8; 8], HmacSha256)>,
        millis: i64,
        time: SigningTime,
    ) -> Moment {
        let mut mac = keyed(params, key, &time);
        string_to_sign_head(&time, &params.region, &params.service, |b| mac.update(b));
        let date_hash: [u8; 32] = Sha256::digest(date_header_bytes(millis)).into();
        Moment {
            millis: Some(millis),
            time,
            date_hash: hex32(&date_hash),
            mac,
        }
    }

    /// The moment of no event yet, which no `:date` matches.
    fn none() -> Moment {
        Moment {
            millis: None,
            time: SigningTime::EPOCH,
            date_hash: [0; 64],
            // Never used: no `:date` matches `None`.
            mac: <HmacSha256 as KeyInit>::new(&Default::default()),
        }
    }

    /// The HMAC over the string to sign of the event whose `:date` this is, chained to `prior`,
    /// for its `payload`, ready to finalize or verify.
    fn mac(&self, prior: &str, payload: &[u8]) -> HmacSha256 {
        let payload_hash: [u8; 32] = Sha256::digest(payload).into();
        let mut mac = self.mac.clone();
        mac.update(prior.as_bytes());
        // The rest of the string to sign in one piece: `\n hex(headers hash) \n hex(payload hash)`.
        let mut tail = [b'\n'; 2 + 64 + 64];
        tail[1..65].copy_from_slice(&self.date_hash);
        tail[66..].copy_from_slice(&hex32(&payload_hash));
        mac.update(&tail);
        mac
    }
}

/// The keyed HMAC of the signing key for `time`'s date, derived once per date and credentials
/// and kept in `key`.
fn keyed(
    params: &SigningParams,
    key: &mut Option<([u8; 8], HmacSha256)>,
    time: &SigningTime,
) -> HmacSha256 {
    let mut date = [0u8; 8];
    date.copy_from_slice(time.scope_date().as_bytes());
    if let Some((d, mac)) = key {
        if *d == date {
            return mac.clone();
        }
    }
    let mac = signing_mac(params, &date);
    *key = Some((date, mac.clone()));
    mac
}

impl Chain {
    fn new(params: SigningParams, seed: &str) -> Self {
        Chain {
            params,
            prior: String::from(seed),
            key: None,
            moment: Moment::none(),
        }
    }

    /// The HMAC over the string to sign of one event with any encoded `headers`, ready to
    /// finalize: the general form of [`event_mac`](Self::event_mac), for [`SigV4Signer::sign_raw`].
    fn mac(&mut self, time: &SigningTime, headers: &[u8], payload: &[u8]) -> HmacSha256 {
        let headers_hash: [u8; 32] = Sha256::digest(headers).into();
        let payload_hash: [u8; 32] = Sha256::digest(payload).into();
        let mut mac = keyed(&self.params, &mut self.key, time);
        string_to_sign_parts(
            time,
            &self.params.region,
            &self.params.service,
            &self.prior,
            &headers_hash,
            &payload_hash,
            |b| mac.update(b),
        );
        mac
    }

    /// Makes `moment` that of the `:date` value `millis`: kept from the previous event when its
    /// `:date` was the same, otherwise computed for the signing time `time` gives (which is
    /// called only then). Returns the moment's signing time.
    fn refresh<E>(
        &mut self,
        millis: i64,
        time: impl FnOnce() -> Result<SigningTime, E>,
    ) -> Result<SigningTime, E> {
        if self.moment.millis != Some(millis) {
            self.moment = Moment::new(&self.params, &mut self.key, millis, time()?);
        }
        Ok(self.moment.time)
    }

    /// The HMAC over the string to sign of an event whose only header is its `:date`, `millis`,
    /// signed at `time`, carrying `payload`, ready to finalize or verify.
    fn event_mac(&mut self, millis: i64, time: SigningTime, payload: &[u8]) -> HmacSha256 {
        // The error type is uninhabited: the time is at hand.
        let Ok(_) = self.refresh::<core::convert::Infallible>(millis, || Ok(time));
        self.moment.mac(&self.prior, payload)
    }

    fn advance(&mut self, signature: &[u8]) {
        self.prior.clear();
        // Every signature is 32 bytes: the signer makes them so, the verifier checks it.
        if let Ok(sig) = <&[u8; 32]>::try_from(signature) {
            hex32_str(sig, &mut self.prior);
        }
    }

    fn set_credentials(&mut self, credentials: Credentials) {
        self.params.credentials = credentials;
        self.key = None;
        self.moment = Moment::none();
    }
}

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable_key());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The SigV4 signing key of `params` for a scope date (`YYYYMMDD`), keyed into an HMAC state:
/// what both the request signature and every event signature are computed with.
pub(crate) fn signing_mac(params: &SigningParams, scope_date: &[u8]) -> HmacSha256 {
    let secret_key = &params.credentials.secret_access_key;
    let mut secret = alloc::vec::Vec::with_capacity(4 + secret_key.len());
    secret.extend_from_slice(b"AWS4");
    secret.extend_from_slice(secret_key.as_bytes());
    let k_date = hmac_sha256(&secret, scope_date);
    secret.iter_mut().for_each(|b| *b = 0);
    let k_region = hmac_sha256(&k_date, params.region.as_bytes());
    let k_service = hmac_sha256(&k_region, params.service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    <HmacSha256 as KeyInit>::new_from_slice(&k_signing).unwrap_or_else(|_| unreachable_key())
}

/// A SHA-256 digest or HMAC in lowercase hex.
pub(crate) fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    // Nibbles first, then digits: both loops are branch-free over fixed-size arrays, which the
    // compiler turns into vector instructions.
    let mut hex = [0u8; 64];
    for (pair, b) in hex.chunks_exact_mut(2).zip(bytes) {
        pair[0] = b >> 4;
        pair[1] = b & 15;
    }
    for d in &mut hex {
        // 0-9 -> '0'-'9', 10-15 -> 'a'-'f'.
        *d += b'0' + (u8::from(*d > 9) * (b'a' - b'0' - 10));
    }
    hex
}

/// The same, as text.
pub(crate) fn hex32_str(bytes: &[u8; 32], out: &mut String) {
    out.push_str(core::str::from_utf8(&hex32(bytes)).unwrap_or_default());
}

#[cold]
fn unreachable_key() -> HmacSha256 {
    // `Hmac::new_from_slice` only fails for algorithms with fixed key sizes; SHA-256 HMAC takes any.
    <HmacSha256 as KeyInit>::new(&Default::default())
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("credentials", &self.params.credentials)
            .field("region", &self.params.region)
            .field("service", &self.params.service)
            .field("prior", &self.prior)
            .finish_non_exhaustive()
    }
}

/// Signs outgoing messages with SigV4, each chained to the one before.
///
/// Each message is encoded and wrapped in an envelope frame whose headers are `:date`
/// (timestamp, whole seconds) and `:chunk-signature` (32 bytes) and whose payload is the encoded
/// message. The new signature becomes the prior for the next one. The chain starts from the seed:
/// the signature of the initial HTTP request ([`seed_from_authorization`](super::seed_from_authorization)
/// reads it from the request's `Authorization` header). [`sign_end`](Self::sign_end) produces the
/// signed empty frame that ends the stream; signing after it is an error.
///
/// The signing key is derived once per scope date and credentials; the date comes from each
/// event's own time, so a stream that crosses UTC midnight keeps working.
/// [`set_credentials`](Self::set_credentials) rotates credentials without breaking the chain.
///
/// ```
/// use eventstream::frame::{Limits, Message};
/// use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams, SigningTime, Verified};
///
/// let params = SigningParams::new(Credentials::new("AKID", "secret"), "us-east-1", "transcribe");
/// let seed = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";
/// let mut signer = SigV4Signer::new(params.clone(), seed);
/// let t = SigningTime::from_unix_seconds(1_700_000_000)?;
///
/// let limits = Limits::default();
/// let envelope = signer.sign(&Message::new(&b"audio"[..]).with_header(":event-type", "AudioEvent"), &limits, t)?;
/// assert_eq!(envelope.header(":date").and_then(|v| v.as_timestamp()), Some(1_700_000_000_000));
/// let end = signer.sign_end(t)?;
///
/// // The receiving side recomputes the chain from the same seed; the message inside each
/// // envelope is held to the receiver's limits.
/// let mut verifier = SigV4Verifier::new(params, seed);
/// match verifier.verify(&envelope, &limits, None)? {
///     Verified::Message(inner) => assert_eq!(&inner.payload()[..], b"audio"),
///     Verified::End => unreachable!(),
/// }
/// assert_eq!(verifier.verify(&end, &limits, None)?, Verified::End);
/// verifier.handle_end_of_input()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SigV4Signer {
    chain: Chain,
    ended: bool,
}

impl SigV4Signer {
    /// A signer whose first event is chained to `seed` (the initial request's signature in
    /// lowercase hex, written into the first string to sign as given).
    pub fn new(params: SigningParams, seed: &str) -> Self {
        SigV4Signer {
            chain: Chain::new(params, seed),
            ended: false,
        }
    }

    /// The prior signature: what the next event is chained to.
    pub fn prior_signature(&self) -> &str {
        &self.chain.prior
    }

    /// Replaces the credentials: the next event is signed with a key derived from the new ones,
    /// chained to the same prior signature.
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.chain.set_credentials(credentials);
    }

    /// Whether the end frame has been signed.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Signs raw `headers` and `payload` bytes at `time` and advances the chain: the primitive
    /// beneath [`sign`](Self::sign), for vectors and custom envelopes.
    ///
    /// # Errors
    ///
    /// [`SignError::AfterEnd`] once the end frame has been signed.
    pub fn sign_raw(
        &mut self,
        time: SigningTime,
        headers: &[u8],
        payload: &[u8],
    ) -> Result<[u8; 32], SignError> {
        if self.ended {
            return Err(SignError::AfterEnd);
        }
        let sig: [u8; 32] = self
            .chain
            .mac(&time, headers, payload)
            .finalize()
            .into_bytes()
            .into();
        self.chain.advance(&sig);
        Ok(sig)
    }

    /// Encodes `message` within `limits`, signs it at `time`, and returns the envelope message.
    ///
    /// # Errors
    ///
    /// [`SignError::Encode`] when the message cannot be encoded within `limits`,
    /// [`SignError::AfterEnd`] once the end frame has been signed. The chain does not advance on
    /// error.
    pub fn sign(
        &mut self,
        message: &Message,
        limits: &Limits,
        time: SigningTime,
    ) -> Result<Message, SignError> {
        if self.ended {
            return Err(SignError::AfterEnd);
        }
        let mut inner = BytesMut::with_capacity(message.encoded_len());
        message.encode_with_limits(limits, &mut inner)?;
        let inner = inner.freeze();
        let sig = self.sign_event(time, &inner);
        Ok(envelope(time, sig, inner))
    }

    /// Signs the empty end frame at `time`. Nothing can be signed after it.
    ///
    /// # Errors
    ///
    /// [`SignError::AfterEnd`] if the end frame was already signed.
    pub fn sign_end(&mut self, time: SigningTime) -> Result<Message, SignError> {
        if self.ended {
            return Err(SignError::AfterEnd);
        }
        let sig = self.sign_event(time, &[]);
        self.ended = true;
        Ok(envelope(time, sig, Bytes::new()))
    }

    /// Signs an envelope whose `:date` is `time` and whose payload is `payload`, and advances
    /// the chain. The caller checked that the end was not signed yet.
    fn sign_event(&mut self, time: SigningTime, payload: &[u8]) -> [u8; 32] {
        let sig: [u8; 32] = self
            .chain
            .event_mac(time.unix_millis(), time, payload)
            .finalize()
            .into_bytes()
            .into();
        self.chain.advance(&sig);
        sig
    }
}

/// Whether a message has the shape of a signed envelope: exactly `:date` (timestamp) and
/// `:chunk-signature` (32 bytes), in either order.
pub fn is_envelope(message: &Message) -> bool {
    let is_date = |h: &crate::frame::Header| {
        h.name() == DATE_HEADER && matches!(h.value(), HeaderValue::Timestamp(_))
    };
    let is_sig = |h: &crate::frame::Header| {
        h.name() == SIGNATURE_HEADER && matches!(h.value(), HeaderValue::Bytes(b) if b.len() == 32)
    };
    match message.headers() {
        [a, b] => (is_date(a) && is_sig(b)) || (is_sig(a) && is_date(b)),
        _ => false,
    }
}

/// Decodes an envelope's payload, which must be exactly one frame, without copying it.
pub(crate) fn unwrap_inner(
    payload: &Bytes,
    limits: &Limits,
    index: u64,
) -> Result<Message, VerifyError> {
    if let Some(inner) = crate::frame::decode_exact(payload, limits) {
        return Ok(inner?);
    }
    // Not one frame: the decoder says how it falls short or runs over.
    let mut decoder = FrameDecoder::with_limits(*limits);
    decoder.handle_bytes(payload);
    let inner = decoder.poll_message()?;
    decoder.handle_end_of_input()?;
    match inner {
        Some(msg) if decoder.buffered_len() == 0 => Ok(msg),
        _ => Err(VerifyError::InvalidEnvelope {
            index,
            reason: "the payload is not exactly one frame",
        }),
    }
}

fn envelope(time: SigningTime, sig: [u8; 32], payload: Bytes) -> Message {
    Message::new(payload)
        .with_header(
            crate::frame::ByteString::from_static(DATE_HEADER),
            HeaderValue::Timestamp(time.unix_millis()),
        )
        .with_header(
            crate::frame::ByteString::from_static(SIGNATURE_HEADER),
            Bytes::copy_from_slice(&sig),
        )
}

impl EventSigner for SigV4Signer {
    /// Writes the envelope straight into `dst`: the inner message is encoded in place as the
    /// envelope's payload, hashed there, and the signature filled in, so the payload is copied
    /// once. The envelope's checksum runs once over the envelope, after the signature is in.
    fn sign_to(
        &mut self,
        message: &Message,
        time: SigningTime,
        limits: &Limits,
        dst: &mut BytesMut,
    ) -> Result<usize, SignError> {
        if self.ended {
            return Err(SignError::AfterEnd);
        }
        let inner = crate::frame::validate(message, limits)?;
        let start = dst.len();
        let total = 16 + ENVELOPE_HEADERS_LEN + inner.total as usize;
        let Ok(total32) = u32::try_from(total) else {
            return Err(SignError::Encode(
                crate::frame::EncodeError::MessageTooLong {
                    length: total as u64,
                },
            ));
        };
        dst.reserve(total);
        let (mut crc, sig_at) = put_envelope_head(dst, total32, time.unix_millis());
        let payload_at = dst.len();
        message.write_validated(&inner, dst);
        let sig = self.sign_event(time, &dst[payload_at..]);
        dst[sig_at..sig_at + 32].copy_from_slice(&sig);
        crc.update(&dst[start + 8..]);
        dst.put_u32(crc.finalize());
        Ok(total)
    }

    fn sign_end_to(&mut self, time: SigningTime, dst: &mut BytesMut) -> Result<usize, SignError> {
        if self.ended {
            return Err(SignError::AfterEnd);
        }
        let sig = self.sign_event(time, &[]);
        self.ended = true;
        let total = 16 + ENVELOPE_HEADERS_LEN;
        let start = dst.len();
        dst.reserve(total);
        let (mut crc, sig_at) = put_envelope_head(dst, total as u32, time.unix_millis());
        dst[sig_at..sig_at + 32].copy_from_slice(&sig);
        crc.update(&dst[start + 8..]);
        dst.put_u32(crc.finalize());
        Ok(total)
    }
}

/// Appends the prelude and the headers of an envelope of `total` bytes whose `:date` is
/// `millis`, with a zeroed `:chunk-signature` for the caller to fill in. Returns the envelope's
/// checksum over its first 8 bytes, to be continued from byte 8 once the frame is complete, and
/// where the signature goes.
fn put_envelope_head(dst: &mut BytesMut, total: u32, millis: i64) -> (crc32fast::Hasher, usize) {
    let start = dst.len();
    dst.put_u32(total);
    dst.put_u32(ENVELOPE_HEADERS_LEN as u32);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&dst[start..]);
    dst.put_u32(crc.clone().finalize());
    dst.put_slice(&date_header_bytes(millis));
    dst.put_u8(SIGNATURE_HEADER.len() as u8);
    dst.put_slice(SIGNATURE_HEADER.as_bytes());
    dst.put_u8(6);
    dst.put_u16(32);
    let sig_at = dst.len();
    dst.put_bytes(0, 32);
    (crc, sig_at)
}

/// Verifies a chain of signed envelopes on the receiving side and hands out the inner messages.
///
/// Given the sender's credentials, region, service and seed, it recomputes each signature from
/// the envelope's own `:date` and payload and compares it in constant time. A tampered, dropped,
/// reordered, replayed or injected envelope breaks the chain ([`VerifyError::SignatureMismatch`]);
/// so does a missing or malformed `:date` or `:chunk-signature` ([`VerifyError::InvalidEnvelope`]).
/// Envelopes after the end frame are [`VerifyError::FrameAfterEnd`]; input that stops without the
/// end frame is [`VerifyError::MissingEndFrame`], reported by [`handle_end_of_input`](Self::handle_end_of_input).
///
/// With [`with_max_clock_skew`](Self::with_max_clock_skew), an envelope whose `:date` is further
/// than that from the `now` passed to [`verify`](Self::verify) is [`VerifyError::SignatureExpired`].
///
/// Every error is fatal: the verifier returns it from then on. See [`SigV4Signer`] for an example.
#[derive(Debug, Clone)]
pub struct SigV4Verifier {
    chain: Chain,
    max_skew: Option<u64>,
    index: u64,
    ended: bool,
    error: Option<VerifyError>,
}

impl SigV4Verifier {
    /// A verifier for a chain that starts from `seed`.
    pub fn new(params: SigningParams, seed: &str) -> Self {
        SigV4Verifier {
            chain: Chain::new(params, seed),
            max_skew: None,
            index: 0,
            ended: false,
            error: None,
        }
    }

    /// Rejects envelopes whose `:date` differs from the caller's `now` by more than `seconds`.
    /// Off by default.
    #[must_use]
    pub fn with_max_clock_skew(mut self, seconds: u64) -> Self {
        self.max_skew = Some(seconds);
        self
    }

    /// Replaces the credentials, as the sender did when it rotated them.
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.chain.set_credentials(credentials);
    }

    /// The number of envelopes verified so far.
    pub fn verified_count(&self) -> u64 {
        self.index
    }

    /// Whether the end frame has been verified.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Verifies the next envelope of the chain and decodes the message it carries within
    /// `limits` (the receiver's limits). `now` is checked against the envelope's `:date` when a
    /// clock skew is configured; pass `None` otherwise.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`]; every error is fatal and returned again by every later call.
    pub fn verify(
        &mut self,
        envelope: &Message,
        limits: &Limits,
        now: Option<SigningTime>,
    ) -> Result<Verified, VerifyError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        match self.check(envelope, limits, now) {
            Ok(v) => Ok(v),
            Err(err) => {
                self.error = Some(err.clone());
                Err(err)
            }
        }
    }

    fn check(
        &mut self,
        envelope: &Message,
        limits: &Limits,
        now: Option<SigningTime>,
    ) -> Result<Verified, VerifyError> {
        let index = self.index;
        if self.ended {
            return Err(VerifyError::FrameAfterEnd { index });
        }
        let invalid = |reason| VerifyError::InvalidEnvelope { index, reason };
        let headers = envelope.headers();
        if headers.len() != 2 {
            return Err(invalid(
                "an envelope has exactly two headers, :date and :chunk-signature",
            ));
        }
        // Either order: this project and most SDKs write `:date` first, aws-sigv4 writes
        // `:chunk-signature` first. The signature covers the encoded `:date` header, not the order.
        let (date, sig) = match (headers[0].name(), headers[1].name()) {
            (DATE_HEADER, SIGNATURE_HEADER) => (&headers[0], &headers[1]),
            (SIGNATURE_HEADER, DATE_HEADER) => (&headers[1], &headers[0]),
            _ => {
                return Err(invalid(
                    "an envelope's headers are :date and :chunk-signature",
                ))
            }
        };
        let HeaderValue::Timestamp(millis) = *date.value() else {
            return Err(invalid(":date is not a timestamp"));
        };
        let signature = match sig.value() {
            HeaderValue::Bytes(b) if b.len() == 32 => b,
            _ => return Err(invalid(":chunk-signature is not 32 bytes")),
        };
        let time = self.chain.refresh(millis, || {
            SigningTime::from_unix_millis(millis).map_err(|_| invalid(":date is out of range"))
        })?;
        if let (Some(max), Some(now)) = (self.max_skew, now) {
            if time.unix_seconds().abs_diff(now.unix_seconds()) > max {
                return Err(VerifyError::SignatureExpired {
                    index,
                    signed_at: time.unix_seconds(),
                    now: now.unix_seconds(),
                    max_skew: max,
                });
            }
        }
        let payload = envelope.payload();
        let mac = self.chain.moment.mac(&self.chain.prior, payload);
        if mac.verify_slice(signature).is_err() {
            return Err(VerifyError::SignatureMismatch { index });
        }
        self.chain.advance(signature);
        self.index += 1;
        if payload.is_empty() {
            self.ended = true;
            return Ok(Verified::End);
        }
        unwrap_inner(payload, limits, index).map(Verified::Message)
    }

    /// Declares the end of the input.
    ///
    /// # Errors
    ///
    /// [`VerifyError::MissingEndFrame`] unless the end frame was verified, or the error the
    /// verifier already failed with.
    pub fn handle_end_of_input(&mut self) -> Result<(), VerifyError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        if !self.ended {
            let err = VerifyError::MissingEndFrame {
                verified: self.index,
            };
            self.error = Some(err.clone());
            return Err(err);
        }
        Ok(())
    }
}

impl EventVerifier for SigV4Verifier {
    fn verify(
        &mut self,
        envelope: &Message,
        limits: &Limits,
        now: Option<SigningTime>,
    ) -> Result<Verified, VerifyError> {
        SigV4Verifier::verify(self, envelope, limits, now)
    }

    fn handle_end_of_input(&mut self) -> Result<(), VerifyError> {
        SigV4Verifier::handle_end_of_input(self)
    }
}
