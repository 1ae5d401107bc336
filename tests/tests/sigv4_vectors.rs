//! The SigV4 event-signing vectors (`tests/vectors/sigv4-event/*.json`): every case of every file
//! reproduces its expected signatures frame by frame, chained from the seed, and, where the
//! vector gives them, its exact string to sign and its signed envelope frames.
//!
//! The format (each file's `format` field, and `tests/vectors/README.md`): per case, credentials,
//! region, service and the seed (`seed_signature_hex`, written into the first string to sign as
//! given, or the signature of `initial_request`); per event, `signing_time`, the bytes hashed as
//! headers (`headers_hex`, or the encoded `:date` header for `date_header_epoch_ms`), the payload
//! bytes (`payload_hex`), `expected_signature_hex`, and optionally `expected_string_to_sign` and
//! `derived_frame_hex` (the signed envelope, `:date` then `:chunk-signature`).

use std::collections::BTreeMap;

use eventstream::frame::Message;
use eventstream::sign::string_to_sign;
use eventstream::sign::{seed_from_authorization, SigningTime, Verified, VerifyError};
use eventstream_testkit::hex::{from_hex, to_hex};
use eventstream_tests::sigv4::{date_header, envelope, parse_signing_time, Keys, Setup};
use eventstream_tests::{decode_all, encode, read_vector_json, vectors_dir};
use serde_json::Value;

/// The files and how many cases and events each holds (the README's table: aws-c-auth asserts the
/// request signature, the seed, plus four events).
const EXPECTED: [(&str, usize, usize); 5] = [
    ("aws-c-auth_test_event_signing.json", 1, 4),
    ("aws-sdk-go-v2_stream_test.json", 1, 4),
    ("aws-sdk-go_v1_stream_test.json", 1, 2),
    ("aws-sdk-ruby_smithy-typescript_sign_event.json", 1, 1),
    ("smithy-rs_aws-sigv4_event_stream.json", 1, 1),
];

/// What running one file checked, for the totals.
#[derive(Debug, Default, PartialEq, Eq)]
struct Ran {
    cases: usize,
    events: usize,
    strings_to_sign: usize,
    frames_rebuilt: usize,
    frames_signed: usize,
    chains_verified: usize,
}

fn str_field<'a>(v: &'a Value, key: &str, ctx: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{ctx}: `{key}` is not a string"))
}

fn hex_field(v: &Value, key: &str, ctx: &str) -> Vec<u8> {
    from_hex(str_field(v, key, ctx)).unwrap_or_else(|e| panic!("{ctx}: `{key}`: {e}"))
}

/// One event of a vector, read.
struct Event {
    ctx: String,
    time: SigningTime,
    /// `date_header_epoch_ms`, when the vector gives the header as a `:date` value.
    date_ms: Option<i64>,
    headers: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
    string_to_sign: Option<String>,
    frame: Option<Vec<u8>>,
}

impl Event {
    fn read(v: &Value, ctx: String) -> Self {
        let time = parse_signing_time(str_field(v, "signing_time", &ctx))
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let date_ms = v.get("date_header_epoch_ms").map(|ms| {
            ms.as_i64()
                .unwrap_or_else(|| panic!("{ctx}: date_header_epoch_ms"))
        });
        let headers = match (v.get("headers_hex"), date_ms) {
            (Some(_), None) => hex_field(v, "headers_hex", &ctx),
            (None, Some(ms)) => date_header(ms).to_vec(),
            _ => panic!("{ctx}: exactly one of headers_hex and date_header_epoch_ms"),
        };
        if let (Some(ms), Some(reference)) = (date_ms, v.get("headers_hex_for_reference")) {
            let reference = from_hex(reference.as_str().unwrap_or_default()).unwrap_or_default();
            assert_eq!(
                reference,
                date_header(ms),
                "{ctx}: headers_hex_for_reference"
            );
        }
        let signature = hex_field(v, "expected_signature_hex", &ctx);
        assert_eq!(signature.len(), 32, "{ctx}: a signature is 32 bytes");
        Event {
            time,
            date_ms,
            headers,
            payload: hex_field(v, "payload_hex", &ctx),
            signature,
            string_to_sign: v
                .get("expected_string_to_sign")
                .map(|s| s.as_str().expect("a string").to_owned()),
            frame: v
                .get("derived_frame_hex")
                .map(|_| hex_field(v, "derived_frame_hex", &ctx)),
            ctx,
        }
    }

    /// Whether the `:date` header is the signing time, so that `SigV4Signer::sign` (which takes
    /// both from one time) can reproduce the event.
    fn date_is_signing_time(&self) -> bool {
        self.date_ms == Some(self.time.unix_millis())
    }

    /// The inner message, when the payload is one encoded frame; `None` for raw payloads.
    fn inner(&self) -> Option<Message> {
        if self.payload.is_empty() {
            return None;
        }
        let d = decode_all(&self.payload);
        (d.is_clean() && d.messages.len() == 1 && encode(&d.messages[0])[..] == self.payload[..])
            .then(|| d.messages[0].clone())
    }
}

/// The seed of a case: `seed_signature_hex` as given, or the initial request's signature, which
/// `seed_from_authorization` must also read from its `Authorization` header.
fn seed_of(case: &Value, ctx: &str) -> String {
    if let Some(seed) = case.get("seed_signature_hex") {
        assert!(case.get("initial_request").is_none(), "{ctx}: two seeds");
        return seed.as_str().expect("seed_signature_hex").to_owned();
    }
    let request = &case["initial_request"];
    let seed = str_field(request, "expected_signature_hex", ctx).to_owned();
    if let Some(auth) = request.get("expected_authorization_header") {
        let auth = http::HeaderValue::from_str(auth.as_str().expect("a string"))
            .unwrap_or_else(|e| panic!("{ctx}: Authorization: {e}"));
        assert_eq!(
            seed_from_authorization(&auth).as_ref(),
            Ok(&seed),
            "{ctx}: seed_from_authorization"
        );
    }
    seed
}

fn run_file(name: &str) -> Ran {
    let json = read_vector_json(&format!("sigv4-event/{name}"));
    assert_eq!(json["kind"], "sigv4_event_chain", "{name}: kind");
    let format = str_field(&json, "format", name);
    for key in [
        "seed_signature_hex",
        "initial_request",
        "signing_time",
        "headers_hex",
        "date_header_epoch_ms",
        "payload_hex",
        "expected_signature_hex",
        "derived_frame_hex",
    ] {
        assert!(format.contains(key), "{name}: the format describes `{key}`");
    }
    let cases = json["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: cases"));
    let mut ran = Ran::default();
    for (c, case) in cases.iter().enumerate() {
        let ctx = format!("{name} case {c} ({})", case["name"].as_str().unwrap_or("?"));
        let creds = &case["credentials"];
        let setup = Setup::new(
            Keys::new(
                str_field(creds, "access_key_id", &ctx),
                str_field(creds, "secret_access_key", &ctx),
            ),
            str_field(case, "region", &ctx),
            str_field(case, "service", &ctx),
            &seed_of(case, &ctx),
        );
        let events: Vec<Event> = case["events"]
            .as_array()
            .unwrap_or_else(|| panic!("{ctx}: events"))
            .iter()
            .enumerate()
            .map(|(i, e)| Event::read(e, format!("{ctx} event {i}")))
            .collect();
        assert!(!events.is_empty(), "{ctx}: no events");
        check_signatures(&setup, &events, &mut ran);
        check_frames(&setup, &events, &mut ran);
        ran.cases += 1;
    }
    ran
}

/// The primitive: every signature, from `sign_raw` over the exact bytes, chained from the seed;
/// and the exact string to sign where the vector gives it.
fn check_signatures(setup: &Setup, events: &[Event], ran: &mut Ran) {
    let mut signer = setup.signer();
    assert_eq!(signer.prior_signature(), setup.seed, "the seed, as given");
    for e in events {
        let prior = signer.prior_signature().to_owned();
        let sts = string_to_sign(
            &e.time,
            &setup.region,
            &setup.service,
            &prior,
            &e.headers,
            &e.payload,
        );
        let lines: Vec<&str> = sts.split('\n').collect();
        assert_eq!(lines.len(), 6, "{}: six lines", e.ctx);
        assert_eq!(lines[1], e.time.amz_date(), "{}: amz date", e.ctx);
        assert_eq!(lines[3], prior, "{}: prior", e.ctx);
        if let Some(want) = &e.string_to_sign {
            assert_eq!(&sts, want, "{}: string to sign", e.ctx);
            ran.strings_to_sign += 1;
        }
        let sig = signer
            .sign_raw(e.time, &e.headers, &e.payload)
            .unwrap_or_else(|err| panic!("{}: {err}", e.ctx));
        assert_eq!(to_hex(&sig), to_hex(&e.signature), "{}: signature", e.ctx);
        assert_eq!(
            signer.prior_signature(),
            to_hex(&e.signature),
            "{}: the chain advances to the new signature",
            e.ctx
        );
        ran.events += 1;
    }
}

/// The envelopes: each `derived_frame_hex` is the frame the frame layer builds around the
/// signature; where the `:date` is the signing time, `sign` / `sign_end` produce it themselves;
/// and the verifier accepts the chain of those frames.
fn check_frames(setup: &Setup, events: &[Event], ran: &mut Ran) {
    if events.iter().all(|e| e.frame.is_none()) {
        return;
    }
    // Every event of a vector with frames has them, and a `:date` header.
    let mut signer = setup.signer();
    let mut frames = Vec::new();
    for e in events {
        let frame = e
            .frame
            .as_ref()
            .unwrap_or_else(|| panic!("{}: derived_frame_hex", e.ctx));
        let ms = e
            .date_ms
            .unwrap_or_else(|| panic!("{}: a frame needs date_header_epoch_ms", e.ctx));

        // Built with the frame layer around the signature.
        let built = envelope(ms, &e.signature, e.payload.clone());
        assert_eq!(
            to_hex(&encode(&built)),
            to_hex(frame),
            "{}: the envelope built around the signature",
            e.ctx
        );
        ran.frames_rebuilt += 1;

        let decoded = decode_all(frame);
        assert!(decoded.is_clean(), "{}: {:?}", e.ctx, decoded.error);
        assert_eq!(
            decoded.messages,
            std::slice::from_ref(&built),
            "{}: decoded frame",
            e.ctx
        );
        frames.push(built);

        // Signed by `sign` / `sign_end`: only when the `:date` is the signing time (the Ruby /
        // smithy-typescript vector deliberately uses two different instants) and the payload is
        // an encoded message or empty (aws-c-auth's payloads are the raw bytes 'A', 'B', 'C',
        // which `sign` cannot produce: for those the signature is checked with `sign_raw` only).
        let sig = if !e.date_is_signing_time() {
            signer.sign_raw(e.time, &e.headers, &e.payload)
        } else if e.payload.is_empty() {
            signer.sign_end(e.time).map(|env| {
                assert_eq!(&encode(&env)[..], &frame[..], "{}: sign_end", e.ctx);
                ran.frames_signed += 1;
                e.signature.clone().try_into().expect("32 bytes")
            })
        } else if let Some(inner) = e.inner() {
            signer
                .sign(&inner, &eventstream::frame::Limits::DEFAULT, e.time)
                .map(|env| {
                    assert_eq!(&encode(&env)[..], &frame[..], "{}: sign", e.ctx);
                    ran.frames_signed += 1;
                    e.signature.clone().try_into().expect("32 bytes")
                })
        } else {
            signer.sign_raw(e.time, &e.headers, &e.payload)
        };
        let sig = sig.unwrap_or_else(|err| panic!("{}: {err}", e.ctx));
        assert_eq!(to_hex(&sig), to_hex(&e.signature), "{}: signature", e.ctx);
    }

    // The verifier recomputes the chain from each frame's own `:date`, so it needs the `:date` to
    // be the signing time.
    if !events.iter().all(Event::date_is_signing_time) {
        return;
    }
    let mut verifier = setup.verifier();
    for (i, (e, frame)) in events.iter().zip(&frames).enumerate() {
        let got = verifier.verify(frame, &eventstream::frame::Limits::DEFAULT, None);
        if e.payload.is_empty() {
            assert_eq!(got, Ok(Verified::End), "{}: end frame", e.ctx);
        } else if let Some(inner) = e.inner() {
            assert_eq!(
                got,
                Ok(Verified::Message(inner)),
                "{}: inner message",
                e.ctx
            );
        } else {
            // A raw payload: the signature matches (it is checked first), but the verifier hands
            // out only whole inner frames, so it rejects the payload at the frame layer, for good.
            match got {
                Err(VerifyError::Frame(_)) => {}
                other => panic!(
                    "{}: a raw payload must fail at the frame layer: {other:?}",
                    e.ctx
                ),
            }
            assert_eq!(verifier.verified_count(), i as u64 + 1, "{}", e.ctx);
            return;
        }
    }
    match events.last().map(|e| e.payload.is_empty()) {
        Some(true) => assert_eq!(verifier.handle_end_of_input(), Ok(())),
        _ => assert_eq!(
            verifier.handle_end_of_input(),
            Err(VerifyError::MissingEndFrame {
                verified: events.len() as u64
            }),
            "a vector without its end frame is an incomplete stream"
        ),
    }
    ran.chains_verified += 1;
}

/// Every file, every case, every event; and the totals.
#[test]
fn every_vector_reproduces_its_chain() {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir().join("sigv4-event"))
        .expect("tests/vectors/sigv4-event")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let expected: Vec<&str> = EXPECTED.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(names, expected, "the signing chain vectors");

    let mut results = BTreeMap::new();
    for (name, cases, events) in EXPECTED {
        let json = read_vector_json(&format!("sigv4-event/{name}"));
        let in_file: usize = json["cases"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| c["events"].as_array().map_or(0, Vec::len))
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(in_file, events, "{name}: events in the file");
        let ran = run_file(name);
        assert_eq!(
            (ran.cases, ran.events),
            (cases, events),
            "{name}: cases and events run"
        );
        results.insert(name, ran);
    }
    let total = |f: fn(&Ran) -> usize| results.values().map(f).sum::<usize>();
    assert_eq!(total(|r| r.cases), 5, "cases");
    assert_eq!(total(|r| r.events), 12, "signatures reproduced");
    assert_eq!(
        total(|r| r.strings_to_sign),
        1,
        "exact strings to sign (smithy-rs)"
    );
    // aws-c-auth 4, Ruby / smithy-typescript 1, smithy-rs 1.
    assert_eq!(total(|r| r.frames_rebuilt), 6, "envelopes rebuilt");
    // aws-c-auth's end frame and smithy-rs' message.
    assert_eq!(
        total(|r| r.frames_signed),
        2,
        "envelopes produced by sign / sign_end"
    );
    // smithy-rs (aws-c-auth's raw payloads stop the verifier at the frame layer).
    assert_eq!(total(|r| r.chains_verified), 1, "chains verified");
}

/// The small RFC 3339 reader of the helpers agrees with the `time` crate on every vector time.
#[test]
fn signing_times_parse_like_the_time_crate() {
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    let mut seen = 0;
    for (name, _, _) in EXPECTED {
        let json = read_vector_json(&format!("sigv4-event/{name}"));
        for case in json["cases"].as_array().into_iter().flatten() {
            for event in case["events"].as_array().into_iter().flatten() {
                let s = event["signing_time"].as_str().expect("signing_time");
                let theirs = OffsetDateTime::parse(s, &Rfc3339).expect("RFC 3339");
                let ours = parse_signing_time(s).expect("ours");
                assert_eq!(ours.unix_seconds(), theirs.unix_timestamp(), "{s}");
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 12);
    let t = time::macros::datetime!(1981-01-16 06:30:01 UTC);
    assert_eq!(
        parse_signing_time("1981-01-16T06:30:01Z").map(|s| s.unix_seconds()),
        Ok(t.unix_timestamp())
    );
}

/// The seed is written into the first string to sign as given: the Ruby vector's empty seed
/// leaves that line empty, and an upper-case seed is not lower-cased.
#[test]
fn seeds_are_written_as_given() {
    let t = SigningTime::from_unix_seconds(0).expect("in range");
    let sts = string_to_sign(&t, "r", "s", "", b"", b"");
    assert_eq!(sts.split('\n').nth(3), Some(""));
    let setup = Setup::new(Keys::new("a", "b"), "r", "s", "ABCDEF");
    let mut upper = setup.signer();
    let mut lower = Setup {
        seed: "abcdef".into(),
        ..setup
    }
    .signer();
    assert_eq!(upper.prior_signature(), "ABCDEF");
    let a = upper.sign_raw(t, b"h", b"p").expect("signs");
    let b = lower.sign_raw(t, b"h", b"p").expect("signs");
    assert_ne!(a, b, "the seed is not normalised");
    // After the first event, the prior is always lower-case hex.
    assert_eq!(upper.prior_signature(), to_hex(&a));
}
