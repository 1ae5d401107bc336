//! The server side: checking a signed request head.

use super::canonical::{canonical_request, canonical_value, RequestLine};
use super::{
    request_mac, RequestHead, AUTHORIZATION, EMPTY_BODY_SHA256, HOST, REQUEST_ALGORITHM,
    X_AMZ_CONTENT_SHA256, X_AMZ_DATE, X_AMZ_SECURITY_TOKEN,
};
use crate::sign::error::RequestVerifyError;
use crate::sign::sigv4::{Credentials, SigV4Verifier, SigningParams};
use crate::sign::time::SigningTime;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use hmac::Mac;

/// Finds the credentials of an access key id: how a server with many users knows their secrets.
///
/// ```
/// use eventstream::sign::{Credentials, SecretStore, StaticSecrets};
///
/// let users: StaticSecrets = [Credentials::new("alice", "s1"), Credentials::new("bob", "s2")].into_iter().collect();
/// assert_eq!(users.credentials("bob").map(|c| c.secret_access_key().to_owned()), Some("s2".to_owned()));
/// assert!(users.credentials("carol").is_none());
/// // One user's credentials are a store of one.
/// assert!(Credentials::new("alice", "s1").credentials("alice").is_some());
/// ```
pub trait SecretStore {
    /// The credentials of `access_key_id`, or `None` when it is unknown. Credentials with a
    /// session token make the verifier require that token in `x-amz-security-token`.
    fn credentials(&self, access_key_id: &str) -> Option<Credentials>;
}

impl SecretStore for Credentials {
    fn credentials(&self, access_key_id: &str) -> Option<Credentials> {
        (self.access_key_id() == access_key_id).then(|| self.clone())
    }
}

impl<T: SecretStore + ?Sized> SecretStore for &T {
    fn credentials(&self, access_key_id: &str) -> Option<Credentials> {
        (**self).credentials(access_key_id)
    }
}

impl<T: SecretStore + ?Sized> SecretStore for Box<T> {
    fn credentials(&self, access_key_id: &str) -> Option<Credentials> {
        (**self).credentials(access_key_id)
    }
}

impl<T: SecretStore + ?Sized> SecretStore for Arc<T> {
    fn credentials(&self, access_key_id: &str) -> Option<Credentials> {
        (**self).credentials(access_key_id)
    }
}

/// A fixed set of credentials, by access key id. `Debug` shows the key ids only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticSecrets {
    by_id: BTreeMap<String, Credentials>,
}

impl StaticSecrets {
    /// An empty store.
    pub fn new() -> Self {
        StaticSecrets::default()
    }

    /// Adds credentials, and returns those they replace (same access key id), if any.
    pub fn insert(&mut self, credentials: Credentials) -> Option<Credentials> {
        self.by_id
            .insert(String::from(credentials.access_key_id()), credentials)
    }

    /// How many access keys the store knows.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the store knows no access key.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl SecretStore for StaticSecrets {
    fn credentials(&self, access_key_id: &str) -> Option<Credentials> {
        self.by_id.get(access_key_id).cloned()
    }
}

impl FromIterator<Credentials> for StaticSecrets {
    fn from_iter<I: IntoIterator<Item = Credentials>>(iter: I) -> Self {
        let mut store = StaticSecrets::new();
        store.extend(iter);
        store
    }
}

impl Extend<Credentials> for StaticSecrets {
    fn extend<I: IntoIterator<Item = Credentials>>(&mut self, iter: I) {
        for credentials in iter {
            self.insert(credentials);
        }
    }
}

/// Checks signed request heads on the server side, before the stream is accepted.
///
/// It canonicalizes exactly the headers that `SignedHeaders` names, whatever they are: `host`
/// and `:authority` come from the head's authority when it has no such header (HTTP/2); any other
/// missing one is [`RequestVerifyError::MissingSignedHeader`]. One of `host` and `:authority`
/// must be signed, as AWS requires, so that a signature cannot be replayed to another host. The payload hash is the
/// `x-amz-content-sha256` value when the request has one (an event stream's
/// `STREAMING-AWS4-HMAC-SHA256-EVENTS`), else the hash of an empty body (the AWS SDK for Rust).
/// Checks run in this order: the `Authorization` form, `x-amz-date`, the credential scope (its
/// date is `x-amz-date`'s, region and service the verifier's), the clock skew against the `now`
/// given, the access key ([`SecretStore`]), the session token of temporary credentials, the signed
/// headers, then the signature, compared in constant time.
///
/// ```
/// use eventstream::sign::{Credentials, RequestHead, RequestSigner, RequestVerifier, SigningParams, SigningTime};
///
/// let creds = Credentials::new("AKIDEXAMPLE", "secret");
/// let t = SigningTime::from_unix_seconds(1_700_000_000)?;
/// let mut head = RequestHead::new("POST", "/stream").with_header("host", "example.com");
/// let signed = RequestSigner::new(SigningParams::new(creds.clone(), "us-east-1", "demo")).sign_head(&head, t);
/// for (name, value) in signed.headers() {
///     head.push_header(name, value);
/// }
///
/// let verifier = RequestVerifier::new(creds, "us-east-1", "demo");
/// let verified = verifier.verify_head(&head, t.checked_add_seconds(60)?)?;
/// assert_eq!(verified.signature(), signed.signature());
/// let later = t.checked_add_seconds(301)?;
/// assert_eq!(verifier.verify_head(&head, later).unwrap_err().kind(), "request_expired");
/// // The events that follow: same seed, same skew window.
/// let events = verified.event_verifier();
/// # let _ = events;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RequestVerifier<S> {
    store: S,
    region: String,
    service: String,
    max_skew: u64,
    normalize: bool,
    double_encode: bool,
}

impl<S> fmt::Debug for RequestVerifier<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestVerifier")
            .field("region", &self.region)
            .field("service", &self.service)
            .field("max_skew", &self.max_skew)
            .field("normalize", &self.normalize)
            .field("double_encode", &self.double_encode)
            .finish_non_exhaustive()
    }
}

/// The most characters of a request's value that an error repeats.
const ECHO_MAX: usize = 64;

fn echo(text: &str) -> String {
    text.chars().take(ECHO_MAX).collect()
}

/// The parts of an `Authorization` value.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: &'a str,
    signature: [u8; 32],
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, RequestVerifyError> {
    let malformed = |reason| RequestVerifyError::MalformedAuthorization { reason };
    let value = value.trim_matches(' ');
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != REQUEST_ALGORITHM {
        return Err(RequestVerifyError::UnsupportedAlgorithm {
            algorithm: echo(algorithm),
        });
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim_matches(' ');
        let (key, v) = part
            .split_once('=')
            .ok_or(malformed("a parameter is not key=value"))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(malformed("unknown parameter")),
        };
        if slot.replace(v).is_some() {
            return Err(malformed("a parameter appears twice"));
        }
    }
    let credential = credential.ok_or(malformed("no Credential"))?;
    let signed_headers = signed_headers.ok_or(malformed("no SignedHeaders"))?;
    let signature = signature.ok_or(malformed("no Signature"))?;
    let mut scope = credential.split('/');
    let mut next = || {
        scope.next().ok_or(malformed(
            "Credential is not id/date/region/service/aws4_request",
        ))
    };
    let (access_key_id, date, region, service, terminator) =
        (next()?, next()?, next()?, next()?, next()?);
    if scope.next().is_some() || access_key_id.is_empty() {
        return Err(malformed(
            "Credential is not id/date/region/service/aws4_request",
        ));
    }
    if signed_headers.is_empty()
        || signed_headers.split(';').any(|n| {
            n.is_empty()
                || n.bytes()
                    .any(|b| b.is_ascii_uppercase() || b <= b' ' || b == b',')
        })
    {
        return Err(malformed("SignedHeaders is not a list of lowercase names"));
    }
    // A signature that does not cover the host could be replayed to another one, in the window.
    if !signed_headers
        .split(';')
        .any(|n| n == HOST || n == ":authority")
    {
        return Err(malformed("SignedHeaders names neither host nor :authority"));
    }
    let mut sig = [0u8; 32];
    if signature.len() != 64 || hex::decode_to_slice(signature, &mut sig).is_err() {
        return Err(malformed("Signature is not 64 hex digits"));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        terminator,
        signed_headers,
        signature: sig,
    })
}

/// Equal bytes, compared in time that depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<S: SecretStore> RequestVerifier<S> {
    /// The clock skew allowed by default: 5 minutes, as AWS services allow.
    pub const DEFAULT_MAX_SKEW_SECONDS: u64 = 300;

    /// A verifier of requests signed for `region` and `service`, whose secrets `store` holds;
    /// the path normalized, as [`RequestSigner`](super::RequestSigner) does by default.
    pub fn new(store: S, region: impl Into<String>, service: impl Into<String>) -> Self {
        RequestVerifier {
            store,
            region: region.into(),
            service: service.into(),
            max_skew: Self::DEFAULT_MAX_SKEW_SECONDS,
            normalize: true,
            double_encode: true,
        }
    }

    /// The same verifier with another allowed clock skew, in seconds, each way: the window around
    /// `now` that `x-amz-date`, and then each event's `:date`, must lie in.
    #[must_use]
    pub fn with_max_skew(mut self, seconds: u64) -> Self {
        self.max_skew = seconds;
        self
    }

    /// The allowed clock skew, in seconds.
    pub fn max_skew(&self) -> u64 {
        self.max_skew
    }

    /// Whether the path is normalized before it is encoded, as the clients signed it (on by
    /// default; off for S3-style signing).
    #[must_use]
    pub fn with_normalized_path(mut self, normalize: bool) -> Self {
        self.normalize = normalize;
        self
    }

    /// Whether the path is percent-encoded again before it is signed, as the clients did (on by
    /// default; off for S3-style signing); see [`RequestSigner::with_double_uri_encode`](super::RequestSigner::with_double_uri_encode).
    #[must_use]
    pub fn with_double_uri_encode(mut self, double: bool) -> Self {
        self.double_encode = double;
        self
    }

    /// The region requests must be signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The service requests must be signed for.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The secret store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Checks a signed request head at the verifier's time `now`.
    ///
    /// # Errors
    ///
    /// A [`RequestVerifyError`] naming the first check that failed.
    pub fn verify_head(
        &self,
        head: &RequestHead,
        now: SigningTime,
    ) -> Result<VerifiedRequest, RequestVerifyError> {
        let mut auth_values = head.values(AUTHORIZATION);
        let auth = auth_values
            .next()
            .ok_or(RequestVerifyError::MissingAuthorization)?;
        if auth_values.next().is_some() {
            return Err(RequestVerifyError::MalformedAuthorization {
                reason: "more than one Authorization header",
            });
        }
        let auth = core::str::from_utf8(auth)
            .map_err(|_| RequestVerifyError::MalformedAuthorization { reason: "not text" })?;
        let auth = parse_authorization(auth)?;

        let mut dates = head.values(X_AMZ_DATE);
        let date = dates.next().ok_or(RequestVerifyError::MissingDate)?;
        if dates.next().is_some() {
            return Err(RequestVerifyError::InvalidDate);
        }
        let mut trimmed = Vec::new();
        canonical_value(date, &mut trimmed);
        let time = core::str::from_utf8(&trimmed)
            .ok()
            .and_then(SigningTime::from_amz_date)
            .ok_or(RequestVerifyError::InvalidDate)?;

        for (part, expected, found) in [
            ("date", time.scope_date(), auth.date),
            ("region", self.region.as_str(), auth.region),
            ("service", self.service.as_str(), auth.service),
            ("terminator", "aws4_request", auth.terminator),
        ] {
            if expected != found {
                return Err(RequestVerifyError::ScopeMismatch {
                    part,
                    expected: String::from(expected),
                    found: echo(found),
                });
            }
        }

        if time.unix_seconds().abs_diff(now.unix_seconds()) > self.max_skew {
            return Err(RequestVerifyError::RequestExpired {
                signed_at: time.unix_seconds(),
                now: now.unix_seconds(),
                max_skew: self.max_skew,
            });
        }

        let credentials = self.store.credentials(auth.access_key_id).ok_or_else(|| {
            RequestVerifyError::UnknownAccessKey {
                access_key_id: echo(auth.access_key_id),
            }
        })?;
        if let Some(token) = credentials.session_token() {
            let mut sent = head.values(X_AMZ_SECURITY_TOKEN);
            let ok = match (sent.next(), sent.next()) {
                (Some(value), None) => {
                    let mut v = Vec::new();
                    canonical_value(value, &mut v);
                    constant_time_eq(&v, token.as_bytes())
                }
                _ => false,
            };
            if !ok {
                return Err(RequestVerifyError::InvalidSecurityToken);
            }
        }

        let mut headers: Vec<(&str, Vec<u8>)> = Vec::new();
        for name in auth.signed_headers.split(';') {
            let mut joined: Option<Vec<u8>> = None;
            for value in head.values(name) {
                match &mut joined {
                    Some(v) => {
                        v.push(b',');
                        canonical_value(value, v);
                    }
                    None => {
                        let mut v = Vec::new();
                        canonical_value(value, &mut v);
                        joined = Some(v);
                    }
                }
            }
            let value = match (joined, head.authority()) {
                (Some(v), _) => v,
                (None, Some(authority)) if name == HOST || name == ":authority" => {
                    authority.as_bytes().to_vec()
                }
                (None, _) => {
                    return Err(RequestVerifyError::MissingSignedHeader { name: echo(name) })
                }
            };
            headers.push((name, value));
        }

        let mut payload = Vec::new();
        let payload_hash = match head.header(X_AMZ_CONTENT_SHA256) {
            Some(value) => {
                canonical_value(value, &mut payload);
                core::str::from_utf8(&payload).unwrap_or_default()
            }
            None => EMPTY_BODY_SHA256,
        };
        let line = RequestLine {
            method: head.method(),
            path: head.path(),
            query: head.query(),
            normalize: self.normalize,
            double_encode: self.double_encode,
            payload_hash,
        };
        let canonical = canonical_request(
            &line,
            headers.iter().map(|(n, v)| (*n, v.as_slice())),
            auth.signed_headers,
        );
        let params = SigningParams::new(credentials, self.region.clone(), self.service.clone());
        let string_to_sign = super::request_string_to_sign(&params, time, &canonical);
        if request_mac(&params, time, &string_to_sign)
            .verify_slice(&auth.signature)
            .is_err()
        {
            return Err(RequestVerifyError::SignatureDoesNotMatch);
        }
        let mut signature = String::with_capacity(64);
        crate::sign::sigv4::hex32_str(&auth.signature, &mut signature);
        Ok(VerifiedRequest {
            signature,
            params,
            time,
            max_skew: self.max_skew,
        })
    }

    /// Checks the head of an `http` request at the verifier's time `now`; see
    /// [`verify_head`](Self::verify_head). `host` and `:authority` come from the URI's authority
    /// when the request has no `host` header (HTTP/2).
    ///
    /// # Errors
    ///
    /// A [`RequestVerifyError`] naming the first check that failed.
    #[cfg(feature = "http")]
    pub fn verify(
        &self,
        parts: &http::request::Parts,
        now: SigningTime,
    ) -> Result<VerifiedRequest, RequestVerifyError> {
        self.verify_head(&RequestHead::from_parts(parts), now)
    }
}

/// A request that passed [`RequestVerifier`]: who signed it, when, and the seed of its events.
#[derive(Clone, Debug)]
pub struct VerifiedRequest {
    signature: String,
    params: SigningParams,
    time: SigningTime,
    max_skew: u64,
}

impl VerifiedRequest {
    /// The request's signature in lowercase hex: the seed of the event chain.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The signer's credentials (from the store), and the region and service.
    pub fn params(&self) -> &SigningParams {
        &self.params
    }

    /// When the request was signed (its `x-amz-date`).
    pub fn time(&self) -> SigningTime {
        self.time
    }

    /// The signer's access key id.
    pub fn access_key_id(&self) -> &str {
        self.params.credentials().access_key_id()
    }

    /// A verifier of the events that follow: chained to this request's signature, with the same
    /// credentials, and rejecting an event whose `:date` is further from the receiver's clock than
    /// the request verifier's skew, which stops a captured stream from being replayed later.
    pub fn event_verifier(&self) -> SigV4Verifier {
        SigV4Verifier::new(self.params.clone(), &self.signature).with_max_clock_skew(self.max_skew)
    }
}
