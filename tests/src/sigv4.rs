//! Shared helpers for the signing-chain tests (`tests/sigv4_vectors.rs`, `tests/sigv4_interop.rs`,
//! `tests/sigv4_properties.rs`):
//!
//! - times: [`parse_signing_time`] (RFC 3339, UTC, whole seconds), [`at`], the bounds
//!   [`MIN_SECS`] and [`MAX_SECS`];
//! - envelopes built by hand: [`date_header`] (the exact bytes whose hash is signed) and
//!   [`envelope`] (the `:date` + `:chunk-signature` frame around a payload);
//! - whole chains: [`Setup`] (credentials, region, service, seed), [`sign_chain`] and
//!   [`verify_wire`], which runs envelopes through the encoder, the frame decoder and the verifier;
//! - proptest strategies: [`keys`], [`region`], [`service`], [`seed`], [`setup`], [`chain_times`].

use bytes::Bytes;
use eventstream::frame::{HeaderValue, Limits, Message};
use eventstream::sign::{
    Credentials, SigV4Signer, SigV4Verifier, SigningParams, SigningTime, Verified, VerifyError,
};
use eventstream_testkit::hex::to_hex;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::{decode_all, encode_all};

// ---------------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------------

/// 0000-01-01T00:00:00Z, the earliest time SigV4 dates can express.
pub const MIN_SECS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z, the latest time SigV4 dates can express.
pub const MAX_SECS: i64 = 253_402_300_799;
/// Seconds in a UTC day.
pub const DAY: i64 = 86_400;

/// The signing time `secs` seconds after the Unix epoch.
///
/// # Panics
///
/// Outside [`MIN_SECS`]..=[`MAX_SECS`].
pub fn at(secs: i64) -> SigningTime {
    SigningTime::from_unix_seconds(secs).unwrap_or_else(|e| panic!("{e}"))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds: the form of the vectors'
/// `signing_time`).
///
/// # Errors
///
/// Any other form, or a field out of range.
pub fn parse_signing_time(s: &str) -> Result<SigningTime, String> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(format!("{s:?} is not YYYY-MM-DDTHH:MM:SSZ"));
    }
    let num = |from: usize, to: usize| -> i64 {
        b[from..to]
            .iter()
            .fold(0, |n, &c| n * 10 + i64::from(c - b'0'))
    };
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let (hour, minute, second) = (num(11, 13), num(14, 16), num(17, 19));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || !(1..=month_days[(month - 1) as usize]).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(format!("{s:?} has a field out of range"));
    }
    let secs = days_from_civil(year, month, day) * DAY + hour * 3600 + minute * 60 + second;
    SigningTime::from_unix_seconds(secs).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Envelopes built by hand
// ---------------------------------------------------------------------------------------------

/// The encoded `:date` header for `millis`, written byte by byte:
/// `05 ":date" 08 <i64 big-endian>`. These are the "headers" bytes of every event's string to sign.
pub fn date_header(millis: i64) -> [u8; 15] {
    let mut b = [0u8; 15];
    b[0] = 5;
    b[1..6].copy_from_slice(b":date");
    b[6] = 8;
    b[7..].copy_from_slice(&millis.to_be_bytes());
    b
}

/// The signed envelope around `payload`: headers `:date` (timestamp `millis`) then
/// `:chunk-signature` (`signature`, 32 bytes), built with the frame layer only.
pub fn envelope(millis: i64, signature: &[u8], payload: impl Into<Bytes>) -> Message {
    Message::new(payload)
        .with_header(":date", HeaderValue::Timestamp(millis))
        .with_header(":chunk-signature", Bytes::copy_from_slice(signature))
}

/// An envelope's `:chunk-signature`, in lowercase hex.
///
/// # Panics
///
/// When the message has no byte-array `:chunk-signature`.
pub fn signature_hex(envelope: &Message) -> String {
    let sig = envelope
        .header(":chunk-signature")
        .and_then(HeaderValue::as_bytes)
        .unwrap_or_else(|| panic!("no :chunk-signature in {envelope:?}"));
    to_hex(sig)
}

// ---------------------------------------------------------------------------------------------
// Chains
// ---------------------------------------------------------------------------------------------

/// An access key id and its secret, kept as text (the core's [`Credentials`] does not hand the
/// secret back, and the reference signer needs it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl Keys {
    /// Keys from an id and a secret.
    pub fn new(access_key_id: &str, secret_access_key: &str) -> Self {
        Keys {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
        }
    }

    /// The core's credentials.
    pub fn credentials(&self) -> Credentials {
        Credentials::new(&self.access_key_id, &self.secret_access_key)
    }
}

/// Everything both ends of a signed stream agree on: keys, region, service and seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// The keys the chain starts with.
    pub keys: Keys,
    /// The region.
    pub region: String,
    /// The service's signing name.
    pub service: String,
    /// The seed: the prior signature of the first event.
    pub seed: String,
}

impl Setup {
    /// A setup from its parts.
    pub fn new(keys: Keys, region: &str, service: &str, seed: &str) -> Self {
        Setup {
            keys,
            region: region.to_owned(),
            service: service.to_owned(),
            seed: seed.to_owned(),
        }
    }

    /// The core's signing parameters.
    pub fn params(&self) -> SigningParams {
        SigningParams::new(self.keys.credentials(), &self.region, &self.service)
    }

    /// A signer at the start of the chain.
    pub fn signer(&self) -> SigV4Signer {
        SigV4Signer::new(self.params(), &self.seed)
    }

    /// A verifier at the start of the chain.
    pub fn verifier(&self) -> SigV4Verifier {
        SigV4Verifier::new(self.params(), &self.seed)
    }
}

/// A credential rotation: before the envelope at `index` (counting from 0, the end frame
/// included), switch to `keys`.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// The first envelope signed (or verified) with the new keys.
    pub index: usize,
    /// The new keys.
    pub keys: Keys,
}

/// Signs `msgs` then the end frame with `signer`, envelope `i` at `times[i]` seconds, rotating the
/// keys as `rotation` says. Returns `msgs.len() + 1` envelopes.
///
/// # Panics
///
/// When `times` does not have `msgs.len() + 1` entries, or signing fails.
pub fn sign_chain(
    signer: &mut SigV4Signer,
    msgs: &[Message],
    times: &[i64],
    rotation: Option<&Rotation>,
) -> Vec<Message> {
    assert_eq!(
        times.len(),
        msgs.len() + 1,
        "one time per message, plus the end"
    );
    let mut out = Vec::with_capacity(times.len());
    for (i, &t) in times.iter().enumerate() {
        if let Some(r) = rotation.filter(|r| r.index == i) {
            signer.set_credentials(r.keys.credentials());
        }
        let envelope = match msgs.get(i) {
            Some(msg) => signer.sign(msg, &Limits::DEFAULT, at(t)),
            None => signer.sign_end(at(t)),
        };
        out.push(envelope.unwrap_or_else(|e| panic!("signing envelope {i}: {e}")));
    }
    out
}

/// What the receiving side made of a stream of envelopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The inner messages handed out, in order, before the end or the first error.
    pub messages: Vec<Message>,
    /// Whether the end frame was verified.
    pub ended: bool,
    /// The first error, from `verify` or from `finish`; `None` when the whole chain verified.
    pub error: Option<VerifyError>,
}

impl Verification {
    /// The error's kind, if any.
    pub fn kind(&self) -> Option<&'static str> {
        self.error.as_ref().map(VerifyError::kind)
    }
}

/// Sends `envelopes` through the wire: encodes them one after the other, decodes the bytes with a
/// default frame decoder (which must accept them), then verifies each decoded envelope in order
/// with `verifier` (rotating its keys as `rotation` says), stopping at the first error, and
/// finally calls `finish`. After an error it also checks that the verifier stays failed.
///
/// # Panics
///
/// When the frame layer rejects the envelopes, or a failed verifier later accepts something.
pub fn verify_wire(
    mut verifier: SigV4Verifier,
    envelopes: &[Message],
    rotation: Option<&Rotation>,
) -> Verification {
    let wire = encode_all(envelopes);
    let decoded = decode_all(&wire);
    assert!(decoded.is_clean(), "frame layer: {:?}", decoded.error);
    assert_eq!(
        &decoded.messages, envelopes,
        "the envelopes survive the wire"
    );
    let mut out = Verification {
        messages: Vec::new(),
        ended: false,
        error: None,
    };
    for (i, envelope) in decoded.messages.iter().enumerate() {
        if let Some(r) = rotation.filter(|r| r.index == i) {
            verifier.set_credentials(r.keys.credentials());
        }
        match verifier.verify(envelope, &eventstream::frame::Limits::DEFAULT, None) {
            Ok(Verified::Message(m)) => out.messages.push(m),
            Ok(Verified::End) => out.ended = true,
            Err(e) => {
                // Errors are fatal: the same error again, whatever comes next.
                assert_eq!(
                    verifier
                        .verify(envelope, &eventstream::frame::Limits::DEFAULT, None)
                        .as_ref(),
                    Err(&e)
                );
                assert_eq!(verifier.handle_end_of_input().as_ref(), Err(&e));
                out.error = Some(e);
                return out;
            }
        }
    }
    if let Err(e) = verifier.handle_end_of_input() {
        out.error = Some(e);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Keys: AWS-like ids and secrets, or arbitrary (non-control) Unicode, sometimes empty.
pub fn keys() -> impl Strategy<Value = Keys> {
    (
        prop_oneof!["[A-Z0-9]{16,20}", "\\PC{0,12}"],
        prop_oneof!["[A-Za-z0-9/+]{40}", "\\PC{0,24}"],
    )
        .prop_map(|(id, secret)| Keys {
            access_key_id: id,
            secret_access_key: secret,
        })
}

/// Regions: real-looking ones, or arbitrary Unicode (the string to sign carries them as bytes).
pub fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "(us|eu|ap|sa|ca|me|af|il)-(east|west|north|south|central|northeast|southeast)-[1-9]",
        1 => "\\PC{0,24}",
    ]
}

/// Service signing names: real-looking ones, or arbitrary Unicode.
pub fn service() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z][a-z0-9-]{0,23}",
        1 => "\\PC{0,24}",
    ]
}

/// Seeds: 64 lowercase hex digits, like a request signature.
pub fn seed() -> impl Strategy<Value = String> {
    any::<[u8; 32]>().prop_map(|b| to_hex(&b))
}

/// A whole [`Setup`].
pub fn setup() -> impl Strategy<Value = Setup> {
    (keys(), region(), service(), seed()).prop_map(|(keys, region, service, seed)| Setup {
        keys,
        region,
        service,
        seed,
    })
}

/// `count` non-decreasing signing times, in seconds, within [`MIN_SECS`]..=[`MAX_SECS`]. A third
/// of the chains start a few seconds before a UTC midnight and move in small steps, so that they
/// cross it; the others start anywhere in the years 0 to 9999 or near today.
pub fn chain_times(count: usize) -> impl Strategy<Value = Vec<i64>> {
    let first_day = MIN_SECS / DAY + 1;
    let last_day = MAX_SECS / DAY;
    let start = prop_oneof![
        1 => MIN_SECS..=MAX_SECS,
        1 => 1_500_000_000i64..=2_000_000_000,
        1 => (first_day..=last_day, 1..=4i64).prop_map(|(day, before)| day * DAY - before),
    ];
    let step = prop_oneof![
        3 => Just(0i64),
        4 => 1..=3i64,
        1 => 0..=(3 * DAY),
    ];
    (start, vec(step, count)).prop_map(|(start, steps)| {
        let mut t = start;
        steps
            .into_iter()
            .map(|s| {
                t = (t + s).min(MAX_SECS);
                t
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signing_times() {
        assert_eq!(
            parse_signing_time("1970-01-01T00:00:00Z").map(|t| t.unix_seconds()),
            Ok(0)
        );
        assert_eq!(
            parse_signing_time("2023-11-14T22:13:20Z").map(|t| t.unix_seconds()),
            Ok(1_700_000_000)
        );
        assert_eq!(
            parse_signing_time("0000-01-01T00:00:00Z").map(|t| t.unix_seconds()),
            Ok(MIN_SECS)
        );
        assert_eq!(
            parse_signing_time("9999-12-31T23:59:59Z").map(|t| t.unix_seconds()),
            Ok(MAX_SECS)
        );
        assert_eq!(
            parse_signing_time("2024-02-29T12:00:00Z").map(|t| t.amz_date().to_owned()),
            Ok("20240229T120000Z".to_owned())
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "2023-01-01T00:00:00+00:00",
            "2023-01-01 00:00:00Z",
            "2023-01-01T00:00:00.5Z",
        ] {
            assert!(parse_signing_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn date_header_is_the_encoded_header() {
        let msg = Message::new(Bytes::new()).with_header(":date", HeaderValue::Timestamp(-2));
        let wire = crate::encode(&msg);
        assert_eq!(&wire[12..12 + 15], &date_header(-2)[..]);
    }
}
