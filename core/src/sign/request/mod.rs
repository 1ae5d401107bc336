//! SigV4 request signing and its verification: the request that opens a signed stream.
//!
//! A client signs the request head with [`RequestSigner`] and gets a [`SignedRequest`]: the
//! headers to add (`x-amz-date`, `x-amz-security-token`, `x-amz-content-sha256`,
//! `Authorization`) and the signature, which seeds the event chain
//! ([`SignedRequest::event_signer`]). A server checks the head with [`RequestVerifier`], which
//! finds the secret through a [`SecretStore`], checks the credential scope, the clock skew and
//! the signature, and hands a [`VerifiedRequest`] whose [`event_verifier`](VerifiedRequest::event_verifier)
//! checks the events that follow.
//!
//! Both work on a [`RequestHead`] (method, path, query and raw header lines, independent of any
//! HTTP library) and, with the `http` feature, on `http::request::Parts`. The time is always an
//! argument: the core reads no clock.

mod canonical;
mod verify;

pub use verify::{RequestVerifier, SecretStore, StaticSecrets, VerifiedRequest};

#[cfg(feature = "http")]
use super::error::RequestSignError;
use super::sigv4::{hex32, hex32_str, signing_mac, Credentials, SigV4Signer, SigningParams};
use super::time::SigningTime;
use alloc::string::String;
use alloc::vec::Vec;
use canonical::{CanonicalHeaders, RequestLine};
use core::fmt;
use hmac::Mac;
use sha2::{Digest, Sha256};

/// The payload hash of an event stream request, sent as `x-amz-content-sha256`: the body is a
/// stream of signed events, each signed on its own.
pub const STREAMING_EVENTS_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-EVENTS";

/// The SHA-256 of an empty body, in hex: the payload hash the AWS SDK for Rust signs for an event
/// stream request, without an `x-amz-content-sha256` header.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The algorithm of a SigV4 request signature, the first word of its `Authorization` value.
pub const REQUEST_ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The header names the signer sets.
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
const AUTHORIZATION: &str = "authorization";
const HOST: &str = "host";

/// Headers left out of the signature: `authorization` carries it, and proxies and CDNs may
/// change or drop the others (the same set as the AWS SDKs).
const UNSIGNED_HEADERS: &[&str] = &[
    AUTHORIZATION,
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];

/// What a request signature takes as the hash of the body.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PayloadHash {
    /// [`STREAMING_EVENTS_PAYLOAD`], also sent as `x-amz-content-sha256` (the Go, Java and
    /// JavaScript SDKs, and the Transcribe streaming documentation).
    #[default]
    StreamingEvents,
    /// [`EMPTY_BODY_SHA256`], with no `x-amz-content-sha256` header (the AWS SDK for Rust).
    EmptyBody,
    /// The hex SHA-256 of a body the caller hashed; no header is added.
    Precomputed(String),
}

impl PayloadHash {
    /// The value that enters the canonical request.
    pub fn as_str(&self) -> &str {
        match self {
            PayloadHash::StreamingEvents => STREAMING_EVENTS_PAYLOAD,
            PayloadHash::EmptyBody => EMPTY_BODY_SHA256,
            PayloadHash::Precomputed(hash) => hash,
        }
    }
}

/// A request head, independent of any HTTP library: the method, the path and query as on the wire
/// (not decoded), the header lines in order (names in any case, values as raw bytes), and the
/// authority of the URI, if known.
///
/// The header lines are what the signature covers; the authority stands in for a `host` header
/// when there is none (HTTP/2 sends `:authority` instead).
///
/// ```
/// use eventstream::sign::RequestHead;
///
/// let head = RequestHead::new("POST", "/stream-transcription?x=1")
///     .with_header("Host", "transcribestreaming.us-east-1.amazonaws.com:8443")
///     .with_header("x-amzn-transcribe-language-code", "en-US");
/// assert_eq!((head.method(), head.path(), head.query()), ("POST", "/stream-transcription", "x=1"));
/// assert_eq!(head.header("HOST"), Some(&b"transcribestreaming.us-east-1.amazonaws.com:8443"[..]));
/// assert_eq!(head.headers().count(), 2);
/// ```
/// `Debug` shows values as text (bytes that are not UTF-8 as U+FFFD), and no session token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    method: String,
    path: String,
    query: String,
    authority: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
}

impl RequestHead {
    /// A head with no headers, from a method and the request target in origin form
    /// (`/path?query`; a `#fragment` is dropped, an empty path is `/`).
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let target = path_and_query
            .split_once('#')
            .map_or(path_and_query, |(t, _)| t);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        RequestHead {
            method: String::from(method),
            path: String::from(if path.is_empty() { "/" } else { path }),
            query: String::from(query),
            authority: None,
            headers: Vec::new(),
        }
    }

    /// The same head with one more header line.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.push_header(name, value);
        self
    }

    /// Adds a header line after the others (a repeated name adds a value; it does not replace).
    pub fn push_header(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.headers
            .push((String::from(name), value.as_ref().to_vec()));
    }

    /// The same head with the URI's authority (`host[:port]`), which stands in for a missing
    /// `host` header and for a signed `:authority`.
    #[must_use]
    pub fn with_authority(mut self, authority: &str) -> Self {
        self.authority = Some(String::from(authority));
        self
    }

    /// The method, as given.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, as on the wire (percent-encoded or not).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query, without its `?`; empty when there is none.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The URI's authority, if known.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }

    /// The header lines in order: names as given, values as raw bytes.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// The value of the first header line named `name` (in any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// Every value of the header lines named `name` (in any case), in order.
    fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The head of an `http` request: its method, path, query and headers, and the URI's
    /// authority (without the scheme's default port, as the SDKs sign it) for a `host` header
    /// that HTTP/2 does not send.
    ///
    /// ```
    /// use eventstream::sign::RequestHead;
    ///
    /// let (parts, ()) = http::Request::post("https://example.com:443/a?b=c").body(()).unwrap().into_parts();
    /// let head = RequestHead::from_parts(&parts);
    /// assert_eq!((head.path(), head.query(), head.authority()), ("/a", "b=c", Some("example.com")));
    /// ```
    #[cfg(feature = "http")]
    pub fn from_parts(parts: &http::request::Parts) -> Self {
        let uri = &parts.uri;
        let mut head = RequestHead {
            method: String::from(parts.method.as_str()),
            path: String::from(match uri.path() {
                "" => "/",
                p => p,
            }),
            query: String::from(uri.query().unwrap_or_default()),
            authority: None,
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| (String::from(n.as_str()), v.as_bytes().to_vec()))
                .collect(),
        };
        if let Some(authority) = uri.authority() {
            let default_port = matches!(
                (uri.scheme_str(), authority.port_u16()),
                (Some("https"), Some(443)) | (Some("http"), Some(80))
            );
            head.authority = Some(String::from(if default_port {
                authority.host()
            } else {
                authority.as_str()
            }));
        }
        head
    }
}

impl fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a [(String, Vec<u8>)]);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.0.iter().map(|(name, value)| {
                        let shown = if name.eq_ignore_ascii_case(X_AMZ_SECURITY_TOKEN) {
                            alloc::borrow::Cow::Borrowed("<redacted>")
                        } else {
                            String::from_utf8_lossy(value)
                        };
                        (name, shown)
                    }))
                    .finish()
            }
        }
        f.debug_struct("RequestHead")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("authority", &self.authority)
            .field("headers", &Headers(&self.headers))
            .finish()
    }
}

/// Signs request heads with SigV4 (signature in the `Authorization` header).
///
/// The canonical request covers the method; the path, normalized (`.`, `..` and empty segments
/// removed; see [`with_normalized_path`](Self::with_normalized_path)) and percent-encoded segment
/// by segment, so that an already encoded path is encoded twice, as every service but S3 expects;
/// the query, its pairs decoded and encoded again, sorted; every header line but `authorization`,
/// `user-agent`, `x-amzn-trace-id` and `transfer-encoding` (which proxies change), with lowercase
/// names, sorted, values trimmed and inner runs of spaces collapsed, repeated names joined by
/// commas; and the payload hash ([`PayloadHash`]). The signer adds `host` (from the authority,
/// when the head has no `host`), `x-amz-date`, `x-amz-security-token` (with a session token) and
/// `x-amz-content-sha256` (with [`PayloadHash::StreamingEvents`]); each replaces a header of the
/// same name in the head.
///
/// ```
/// use eventstream::sign::{Credentials, RequestHead, RequestSigner, SigningParams, SigningTime};
///
/// let params = SigningParams::new(Credentials::new("AKIDEXAMPLE", "secret"), "us-east-1", "transcribe");
/// let head = RequestHead::new("POST", "/stream-transcription")
///     .with_header("host", "transcribestreaming.us-east-1.amazonaws.com:8443")
///     .with_header("content-type", "application/vnd.amazon.eventstream");
/// let signed = RequestSigner::new(params).sign_head(&head, SigningTime::from_unix_seconds(1_700_000_000)?);
/// assert!(signed.authorization().starts_with(
///     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/transcribe/aws4_request, \
///      SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature="));
/// let names: Vec<&str> = signed.headers().iter().map(|(n, _)| *n).collect();
/// assert_eq!(names, ["x-amz-date", "x-amz-content-sha256", "authorization"]);
/// // The events that follow are chained to the request's signature.
/// let events = signed.event_signer();
/// assert_eq!(events.prior_signature(), signed.signature());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct RequestSigner {
    params: SigningParams,
    payload_hash: PayloadHash,
    normalize: bool,
    double_encode: bool,
    content_sha256_header: Option<bool>,
    sign_session_token: bool,
}

impl RequestSigner {
    /// A signer for these credentials, region and service, with [`PayloadHash::StreamingEvents`]
    /// and a normalized path.
    pub fn new(params: SigningParams) -> Self {
        RequestSigner {
            params,
            payload_hash: PayloadHash::StreamingEvents,
            normalize: true,
            double_encode: true,
            content_sha256_header: None,
            sign_session_token: true,
        }
    }

    /// The same signer with another payload hash.
    #[must_use]
    pub fn with_payload_hash(mut self, hash: PayloadHash) -> Self {
        self.payload_hash = hash;
        self
    }

    /// Whether the path is normalized before it is encoded (on by default; S3 wants it off).
    #[must_use]
    pub fn with_normalized_path(mut self, normalize: bool) -> Self {
        self.normalize = normalize;
        self
    }

    /// Whether the path is percent-encoded again, as every service but S3 expects (on by
    /// default: `%3A` in the path becomes `%253A`). Off, the path is taken as encoded already:
    /// a `%` stays, and only the other bytes outside the unreserved characters and `/` are
    /// encoded (S3, and the official suite's own cases).
    #[must_use]
    pub fn with_double_uri_encode(mut self, double: bool) -> Self {
        self.double_encode = double;
        self
    }

    /// Whether `x-amz-content-sha256` carries the payload hash, and is signed. By default only
    /// [`PayloadHash::StreamingEvents`] sends it; S3 wants it with every form.
    #[must_use]
    pub fn with_content_sha256_header(mut self, send: bool) -> Self {
        self.content_sha256_header = Some(send);
        self
    }

    /// Whether `x-amz-security-token` is signed (on by default). Off, the token is still sent,
    /// but added after signing, outside `SignedHeaders`, as a few services want.
    #[must_use]
    pub fn with_signed_session_token(mut self, signed: bool) -> Self {
        self.sign_session_token = signed;
        self
    }

    /// The credentials, region and service.
    pub fn params(&self) -> &SigningParams {
        &self.params
    }

    /// The same signer with other credentials (fresh ones from a provider), same region and
    /// service.
    #[must_use]
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.params = self.params.with_credentials(credentials);
        self
    }

    /// The payload hash signed.
    pub fn payload_hash(&self) -> &PayloadHash {
        &self.payload_hash
    }

    /// Signs `head` at `time`. The head is not changed: [`SignedRequest::headers`] are the headers
    /// to add to it.
    pub fn sign_head(&self, head: &RequestHead, time: SigningTime) -> SignedRequest {
        let payload_hash = self.payload_hash.as_str();
        let send_hash = self
            .content_sha256_header
            .unwrap_or(self.payload_hash == PayloadHash::StreamingEvents);
        let token = self.params.credentials().session_token();
        let replaced = |name: &str| {
            name.eq_ignore_ascii_case(X_AMZ_DATE)
                || (token.is_some() && name.eq_ignore_ascii_case(X_AMZ_SECURITY_TOKEN))
                || (send_hash && name.eq_ignore_ascii_case(X_AMZ_CONTENT_SHA256))
        };

        let mut canonical = CanonicalHeaders::default();
        let mut has_host = false;
        for (name, value) in head.headers() {
            has_host |= name.eq_ignore_ascii_case(HOST);
            if replaced(name)
                || UNSIGNED_HEADERS
                    .iter()
                    .any(|u| name.eq_ignore_ascii_case(u))
            {
                continue;
            }
            canonical.push(name, value);
        }
        let mut added: Vec<(&'static str, String)> = Vec::with_capacity(5);
        if let (false, Some(authority)) = (has_host, head.authority()) {
            canonical.push(HOST, authority.as_bytes());
            added.push((HOST, String::from(authority)));
        }
        if let Some(token) = token {
            if self.sign_session_token {
                canonical.push(X_AMZ_SECURITY_TOKEN, token.as_bytes());
            }
            added.push((X_AMZ_SECURITY_TOKEN, String::from(token)));
        }
        canonical.push(X_AMZ_DATE, time.amz_date().as_bytes());
        added.push((X_AMZ_DATE, String::from(time.amz_date())));
        if send_hash {
            canonical.push(X_AMZ_CONTENT_SHA256, payload_hash.as_bytes());
            added.push((X_AMZ_CONTENT_SHA256, String::from(payload_hash)));
        }

        let line = RequestLine {
            method: head.method(),
            path: head.path(),
            query: head.query(),
            normalize: self.normalize,
            double_encode: self.double_encode,
            payload_hash,
        };
        let (signed_headers, canonical) = canonical.finish(&line);
        let string_to_sign = request_string_to_sign(&self.params, time, &canonical);
        let signature = request_signature(&self.params, time, &string_to_sign);

        let mut authorization = String::with_capacity(200);
        authorization.push_str(REQUEST_ALGORITHM);
        authorization.push_str(" Credential=");
        authorization.push_str(self.params.credentials().access_key_id());
        authorization.push('/');
        push_scope(&mut authorization, &self.params, time);
        authorization.push_str(", SignedHeaders=");
        authorization.push_str(&signed_headers);
        authorization.push_str(", Signature=");
        authorization.push_str(&signature);
        added.push((AUTHORIZATION, authorization));

        let (canonical_text, canonical_raw) = match String::from_utf8(canonical) {
            Ok(text) => (text, None),
            Err(e) => (
                String::from_utf8_lossy(e.as_bytes()).into_owned(),
                Some(e.into_bytes()),
            ),
        };
        SignedRequest {
            signature,
            canonical: canonical_text,
            canonical_raw,
            string_to_sign,
            signed_headers,
            headers: added,
            params: self.params.clone(),
            time,
        }
    }

    /// Signs an `http` request head at `time` and adds the headers to it: `host` (from the URI's
    /// authority, if absent), `x-amz-date`, `x-amz-security-token` (with a session token),
    /// `x-amz-content-sha256` (with [`PayloadHash::StreamingEvents`]) and `authorization`, each
    /// replacing a header of that name.
    ///
    /// # Errors
    ///
    /// [`RequestSignError::InvalidHeaderValue`] when a value cannot be an HTTP header value (a
    /// session token with a line break, say); `parts` is then unchanged.
    ///
    /// ```
    /// use eventstream::sign::{Credentials, RequestSigner, SigningParams, SigningTime};
    ///
    /// let creds = Credentials::new("AKIDEXAMPLE", "secret").with_session_token("token");
    /// let signer = RequestSigner::new(SigningParams::new(creds, "us-east-1", "transcribe"));
    /// let (mut parts, ()) = http::Request::post("https://transcribestreaming.us-east-1.amazonaws.com:8443/stream-transcription")
    ///     .body(()).unwrap().into_parts();
    /// let signed = signer.sign(&mut parts, SigningTime::from_unix_seconds(1_700_000_000)?)?;
    /// assert_eq!(parts.headers["host"], "transcribestreaming.us-east-1.amazonaws.com:8443");
    /// assert_eq!(parts.headers["x-amz-security-token"], "token");
    /// assert_eq!(parts.headers["authorization"], signed.authorization());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "http")]
    pub fn sign(
        &self,
        parts: &mut http::request::Parts,
        time: SigningTime,
    ) -> Result<SignedRequest, RequestSignError> {
        let signed = self.sign_head(&RequestHead::from_parts(parts), time);
        let mut values = Vec::with_capacity(signed.headers.len());
        for (name, value) in &signed.headers {
            let value = http::HeaderValue::from_str(value)
                .map_err(|_| RequestSignError::InvalidHeaderValue { name })?;
            values.push((http::HeaderName::from_static(name), value));
        }
        for (name, mut value) in values {
            if name == X_AMZ_SECURITY_TOKEN || name == AUTHORIZATION {
                value.set_sensitive(true);
            }
            parts.headers.insert(name, value);
        }
        Ok(signed)
    }
}

/// `YYYYMMDD/region/service/aws4_request`.
fn push_scope(out: &mut String, params: &SigningParams, time: SigningTime) {
    out.push_str(time.scope_date());
    out.push('/');
    out.push_str(params.region());
    out.push('/');
    out.push_str(params.service());
    out.push_str("/aws4_request");
}

/// The string to sign of a request: algorithm, time, scope, hash of the canonical request.
fn request_string_to_sign(params: &SigningParams, time: SigningTime, canonical: &[u8]) -> String {
    let mut s = String::with_capacity(140);
    s.push_str(REQUEST_ALGORITHM);
    s.push('\n');
    s.push_str(time.amz_date());
    s.push('\n');
    push_scope(&mut s, params, time);
    s.push('\n');
    hex32_str(&Sha256::digest(canonical).into(), &mut s);
    s
}

/// The keyed HMAC over a request's string to sign, to finalize or to verify.
fn request_mac(
    params: &SigningParams,
    time: SigningTime,
    string_to_sign: &str,
) -> super::sigv4::HmacSha256 {
    let mut mac = signing_mac(params, time.scope_date().as_bytes());
    mac.update(string_to_sign.as_bytes());
    mac
}

/// The signature of a request's string to sign, in lowercase hex.
fn request_signature(params: &SigningParams, time: SigningTime, string_to_sign: &str) -> String {
    let sig: [u8; 32] = request_mac(params, time, string_to_sign)
        .finalize()
        .into_bytes()
        .into();
    String::from(core::str::from_utf8(&hex32(&sig)).unwrap_or_default())
}

/// A signed request: the headers to add, the signature and the steps that led to it.
#[derive(Clone)]
pub struct SignedRequest {
    signature: String,
    canonical: String,
    canonical_raw: Option<Vec<u8>>,
    string_to_sign: String,
    signed_headers: String,
    headers: Vec<(&'static str, String)>,
    params: SigningParams,
    time: SigningTime,
}

impl SignedRequest {
    /// The signature in lowercase hex: the seed of the event chain.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The canonical request. A header value that is not UTF-8 shows here with U+FFFD in place
    /// of its bytes; the signature covers the bytes themselves ([`canonical_request_bytes`](Self::canonical_request_bytes)).
    pub fn canonical_request(&self) -> &str {
        &self.canonical
    }

    /// The canonical request as the bytes that were hashed.
    pub fn canonical_request_bytes(&self) -> &[u8] {
        self.canonical_raw
            .as_deref()
            .unwrap_or(self.canonical.as_bytes())
    }

    /// The string to sign.
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    /// The signed header names, `;`-separated: the `SignedHeaders` of the `Authorization` value.
    pub fn signed_headers(&self) -> &str {
        &self.signed_headers
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> &str {
        self.headers
            .last()
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The headers to add to the request, in order, lowercase names: `host` (when the head had
    /// none), `x-amz-security-token`, `x-amz-date`, `x-amz-content-sha256`, `authorization`. Each
    /// replaces any header of the same name.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The credentials, region and service it was signed with.
    pub fn params(&self) -> &SigningParams {
        &self.params
    }

    /// The signing time.
    pub fn time(&self) -> SigningTime {
        self.time
    }

    /// An event signer with the same parameters, chained to this request's signature: one call
    /// sets up both the request and its events.
    pub fn event_signer(&self) -> SigV4Signer {
        SigV4Signer::new(self.params.clone(), &self.signature)
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    *n,
                    if *n == X_AMZ_SECURITY_TOKEN {
                        "<redacted>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("SignedRequest")
            .field("signature", &self.signature)
            .field("headers", &headers)
            .field("params", &self.params)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
