use super::*;
use crate::frame::{Limits, Message};
use crate::sign::error::RequestVerifyError;
use crate::sign::Verified;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn creds() -> Credentials {
    Credentials::new("AKIDEXAMPLE", SECRET)
}

fn params() -> SigningParams {
    SigningParams::new(creds(), "us-east-1", "service")
}

fn at(secs: i64) -> SigningTime {
    SigningTime::from_unix_seconds(secs).unwrap()
}

/// 2015-08-30T12:36:00Z, the official suite's time.
fn t() -> SigningTime {
    at(1_440_938_160)
}

fn head() -> RequestHead {
    RequestHead::new("GET", "/").with_header("Host", "example.amazonaws.com")
}

/// `head` with the signer's headers added, each replacing one of its name.
fn apply(head: &RequestHead, signed: &SignedRequest) -> RequestHead {
    let mut out = RequestHead::new(head.method(), "/");
    out.path = head.path.clone();
    out.query = head.query.clone();
    out.authority = head.authority.clone();
    for (name, value) in head.headers() {
        if !signed
            .headers()
            .iter()
            .any(|(n, _)| name.eq_ignore_ascii_case(n))
        {
            out.push_header(name, value);
        }
    }
    for (name, value) in signed.headers() {
        out.push_header(name, value);
    }
    out
}

#[test]
fn get_vanilla() {
    // The official suite's get-vanilla case, signed as the suite does (empty body, no
    // x-amz-content-sha256).
    let signed = RequestSigner::new(params())
        .with_payload_hash(PayloadHash::EmptyBody)
        .sign_head(&head(), t());
    assert_eq!(
        signed.canonical_request(),
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        signed.signature(),
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert_eq!(signed.signed_headers(), "host;x-amz-date");
    assert_eq!(signed.headers().len(), 2);
}

#[test]
fn streaming_events_adds_and_signs_the_content_hash() {
    let signed = RequestSigner::new(params()).sign_head(&head(), t());
    assert_eq!(
        signed.signed_headers(),
        "host;x-amz-content-sha256;x-amz-date"
    );
    assert!(signed
        .canonical_request()
        .ends_with("\nSTREAMING-AWS4-HMAC-SHA256-EVENTS"));
    assert_eq!(
        signed.headers()[1],
        (
            "x-amz-content-sha256",
            String::from(STREAMING_EVENTS_PAYLOAD)
        )
    );
    // Forced on or off for any form.
    let empty_with_header = RequestSigner::new(params())
        .with_payload_hash(PayloadHash::EmptyBody)
        .with_content_sha256_header(true)
        .sign_head(&head(), t());
    assert!(empty_with_header
        .canonical_request()
        .contains(&alloc::format!(
            "x-amz-content-sha256:{EMPTY_BODY_SHA256}\n"
        )));
    let streaming_without = RequestSigner::new(params())
        .with_content_sha256_header(false)
        .sign_head(&head(), t());
    assert_eq!(streaming_without.signed_headers(), "host;x-amz-date");
}

#[test]
fn session_token_is_sent_and_signed_unless_told_otherwise() {
    let p = params().with_credentials(creds().with_session_token("tok"));
    let signed = RequestSigner::new(p.clone()).sign_head(&head(), t());
    assert_eq!(
        signed.headers()[0],
        ("x-amz-security-token", String::from("tok"))
    );
    assert!(signed.signed_headers().contains("x-amz-security-token"));
    assert!(!alloc::format!("{signed:?}").contains("tok\""));
    let unsigned = RequestSigner::new(p)
        .with_signed_session_token(false)
        .sign_head(&head(), t());
    assert_eq!(unsigned.headers()[0].0, "x-amz-security-token");
    assert!(!unsigned.signed_headers().contains("x-amz-security-token"));
}

#[test]
fn set_headers_replace_the_heads_own_and_unsigned_ones_are_left_out() {
    let h = head()
        .with_header("X-Amz-Date", "19990101T000000Z")
        .with_header("Authorization", "old")
        .with_header("User-Agent", "x")
        .with_header("My-Header", "  a   b ")
        .with_header("my-header", "c");
    let signed = RequestSigner::new(params()).sign_head(&h, t());
    assert_eq!(
        signed.signed_headers(),
        "host;my-header;x-amz-content-sha256;x-amz-date"
    );
    assert!(signed.canonical_request().contains("\nmy-header:a b,c\n"));
    assert!(signed
        .canonical_request()
        .contains("\nx-amz-date:20150830T123600Z\n"));
}

#[test]
fn host_comes_from_the_authority_when_absent() {
    let h = RequestHead::new("POST", "/").with_authority("example.com:8443");
    let signed = RequestSigner::new(params()).sign_head(&h, t());
    assert_eq!(
        signed.headers()[0],
        ("host", String::from("example.com:8443"))
    );
    assert!(signed
        .canonical_request()
        .contains("\nhost:example.com:8443\n"));
    // A head with a host header keeps it and adds none.
    let signed = RequestSigner::new(params()).sign_head(&head().with_authority("other"), t());
    assert!(signed.headers().iter().all(|(n, _)| *n != "host"));
}

#[test]
fn non_utf8_values_are_signed_as_bytes() {
    let h = head().with_header("x-bin", [b'a', 0xff, b'b']);
    let signed = RequestSigner::new(params()).sign_head(&h, t());
    assert!(signed
        .canonical_request_bytes()
        .windows(9)
        .any(|w| w == b"x-bin:a\xffb"));
    assert!(signed.canonical_request().contains("x-bin:a\u{fffd}b"));
    let verifier = RequestVerifier::new(creds(), "us-east-1", "service");
    assert!(verifier.verify_head(&apply(&h, &signed), t()).is_ok());
    let other = head().with_header("x-bin", [b'a', 0xfe, b'b']);
    assert_eq!(
        verifier
            .verify_head(&apply(&other, &signed), t())
            .unwrap_err(),
        RequestVerifyError::SignatureDoesNotMatch
    );
}

#[test]
fn verifier_round_trip_and_each_rejection() {
    let verifier = RequestVerifier::new(creds(), "us-east-1", "service");
    let signed = RequestSigner::new(params()).sign_head(&head(), t());
    let good = apply(&head(), &signed);
    let ok = verifier.verify_head(&good, t()).unwrap();
    assert_eq!(ok.signature(), signed.signature());
    assert_eq!(ok.access_key_id(), "AKIDEXAMPLE");
    assert_eq!(ok.time(), t());

    let kind = |h: &RequestHead, now: SigningTime| verifier.verify_head(h, now).unwrap_err().kind();
    let without = |name: &str| {
        let mut h = good.clone();
        h.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        h
    };
    let with_auth = |value: &str| without("authorization").with_header("authorization", value);
    assert_eq!(
        kind(&without("authorization"), t()),
        "missing_authorization"
    );
    assert_eq!(kind(&without("x-amz-date"), t()), "missing_date");
    assert_eq!(kind(&without("host"), t()), "missing_signed_header");
    assert_eq!(
        kind(&good.clone().with_header("authorization", "x"), t()),
        "malformed_authorization"
    );
    assert_eq!(kind(&with_auth("Bearer abc"), t()), "unsupported_algorithm");
    assert_eq!(
        kind(&with_auth("AWS4-HMAC-SHA256 Credential=a/b"), t()),
        "malformed_authorization"
    );
    assert_eq!(
        kind(
            &without("x-amz-date").with_header("x-amz-date", "20150830T123660Z"),
            t()
        ),
        "invalid_date"
    );
    assert_eq!(kind(&good, at(1_440_938_160 + 301)), "request_expired");
    assert_eq!(kind(&good, at(1_440_938_160 - 301)), "request_expired");
    assert!(verifier.verify_head(&good, at(1_440_938_160 + 300)).is_ok());
    assert!(verifier
        .clone()
        .with_max_skew(1000)
        .verify_head(&good, at(1_440_938_160 + 999))
        .is_ok());
    let east2 = RequestVerifier::new(creds(), "us-east-2", "service");
    assert_eq!(
        east2.verify_head(&good, t()).unwrap_err().kind(),
        "scope_mismatch"
    );
    let other_service = RequestVerifier::new(creds(), "us-east-1", "other");
    assert_eq!(
        other_service.verify_head(&good, t()).unwrap_err().kind(),
        "scope_mismatch"
    );
    let stranger = RequestVerifier::new(Credentials::new("OTHER", SECRET), "us-east-1", "service");
    assert_eq!(
        stranger.verify_head(&good, t()).unwrap_err().kind(),
        "unknown_access_key"
    );
    let wrong_secret = RequestVerifier::new(
        Credentials::new("AKIDEXAMPLE", "nope"),
        "us-east-1",
        "service",
    );
    assert_eq!(
        wrong_secret.verify_head(&good, t()).unwrap_err().kind(),
        "signature_does_not_match"
    );
    let temporary = RequestVerifier::new(creds().with_session_token("tok"), "us-east-1", "service");
    assert_eq!(
        temporary.verify_head(&good, t()).unwrap_err().kind(),
        "invalid_security_token"
    );
    // A signature that does not cover the host.
    let unhosted = RequestHead::new("GET", "/").with_header("x-a", "1");
    let signed_without_host = RequestSigner::new(params()).sign_head(&unhosted, t());
    assert_eq!(
        signed_without_host.signed_headers(),
        "x-a;x-amz-content-sha256;x-amz-date"
    );
    assert_eq!(
        verifier
            .verify_head(&apply(&unhosted, &signed_without_host), t())
            .unwrap_err(),
        RequestVerifyError::MalformedAuthorization {
            reason: "SignedHeaders names neither host nor :authority"
        }
    );
    // A scope date other than x-amz-date's.
    let auth = signed.authorization().replace("/20150830/", "/20150831/");
    assert_eq!(kind(&with_auth(&auth), t()), "scope_mismatch");
}

#[test]
fn verifier_takes_both_payload_hash_forms() {
    let verifier = RequestVerifier::new(creds(), "us-east-1", "service");
    for hash in [PayloadHash::StreamingEvents, PayloadHash::EmptyBody] {
        let signed = RequestSigner::new(params())
            .with_payload_hash(hash)
            .sign_head(&head(), t());
        assert!(verifier.verify_head(&apply(&head(), &signed), t()).is_ok());
    }
}

#[test]
fn verifier_takes_authority_for_host_and_pseudo_authority() {
    // A client over HTTP/2 that signed `:authority` (as the JavaScript SDK does) and sent no host.
    let verifier = RequestVerifier::new(creds(), "us-east-1", "service");
    let signer = RequestSigner::new(params());
    let signed_head = RequestHead::new("POST", "/s").with_header(":authority", "example.com");
    let signed = signer.sign_head(&signed_head, t());
    assert_eq!(
        signed.signed_headers(),
        ":authority;x-amz-content-sha256;x-amz-date"
    );
    let mut received = RequestHead::new("POST", "/s").with_authority("example.com");
    for (name, value) in signed.headers() {
        received.push_header(name, value);
    }
    assert!(verifier.verify_head(&received, t()).is_ok());
    let mut elsewhere = RequestHead::new("POST", "/s").with_authority("example.org");
    for (name, value) in signed.headers() {
        elsewhere.push_header(name, value);
    }
    assert_eq!(
        verifier.verify_head(&elsewhere, t()).unwrap_err(),
        RequestVerifyError::SignatureDoesNotMatch
    );
}

#[test]
fn one_call_sets_up_request_and_events() {
    let signed = RequestSigner::new(params()).sign_head(&head(), t());
    let verified = RequestVerifier::new(creds(), "us-east-1", "service")
        .with_max_skew(60)
        .verify_head(&apply(&head(), &signed), t())
        .unwrap();
    let mut events = signed.event_signer();
    let mut check = verified.event_verifier();
    let limits = Limits::default();
    let envelope = events
        .sign(&Message::new(&b"hi"[..]), &limits, t())
        .unwrap();
    assert_eq!(
        check.verify(&envelope, &limits, Some(t())).unwrap(),
        Verified::Message(Message::new(&b"hi"[..]))
    );
    // The event verifier keeps the request verifier's window.
    let late = events
        .sign(&Message::new(&b"x"[..]), &limits, at(1_440_938_160 + 61))
        .unwrap();
    assert_eq!(
        check.verify(&late, &limits, Some(t())).unwrap_err().kind(),
        "signature_expired"
    );
}

#[test]
fn stores() {
    let store: StaticSecrets = [Credentials::new("a", "1"), Credentials::new("b", "2")]
        .into_iter()
        .collect();
    assert_eq!(store.len(), 2);
    let shared: alloc::sync::Arc<dyn SecretStore + Send + Sync> = alloc::sync::Arc::new(store);
    assert_eq!(shared.credentials("b").unwrap().secret_access_key(), "2");
    let boxed: alloc::boxed::Box<dyn SecretStore> = alloc::boxed::Box::new(creds());
    assert!(boxed.credentials("AKIDEXAMPLE").is_some());
    let by_ref: &dyn SecretStore = &creds();
    assert!(SecretStore::credentials(&by_ref, "other").is_none());
}

#[cfg(feature = "http")]
#[test]
fn http_parts_sign_and_verify() {
    let creds = creds().with_session_token("tok");
    let signer = RequestSigner::new(SigningParams::new(creds.clone(), "us-east-1", "service"));
    let (mut parts, ()) = http::Request::post("https://example.com:443/a%20b?x=1")
        .header("content-type", "application/vnd.amazon.eventstream")
        .body(())
        .unwrap()
        .into_parts();
    let signed = signer.sign(&mut parts, t()).unwrap();
    assert_eq!(parts.headers["host"], "example.com");
    assert_eq!(parts.headers["authorization"], signed.authorization());
    assert!(parts.headers["x-amz-security-token"].is_sensitive());
    let verifier = RequestVerifier::new(creds.clone(), "us-east-1", "service");
    assert_eq!(
        verifier.verify(&parts, t()).unwrap().signature(),
        signed.signature()
    );
    // HTTP/2: the host header is not sent; the URI's authority stands in.
    parts.headers.remove("host");
    assert!(verifier.verify(&parts, t()).is_ok());

    let bad = RequestSigner::new(SigningParams::new(
        creds.with_session_token("line\nbreak"),
        "us-east-1",
        "service",
    ));
    let before = parts.headers.clone();
    assert_eq!(
        bad.sign(&mut parts, t()).unwrap_err().kind(),
        "invalid_http_header_value"
    );
    assert_eq!(parts.headers, before);
}

#[test]
fn request_targets() {
    let h = RequestHead::new("GET", "/a/b?x=1&y#frag");
    assert_eq!((h.path(), h.query()), ("/a/b", "x=1&y"));
    let h = RequestHead::new("GET", "");
    assert_eq!((h.path(), h.query()), ("/", ""));
    let h = RequestHead::new("GET", "?q");
    assert_eq!((h.path(), h.query()), ("/", "q"));
    assert_eq!(h.authority(), None);
    assert_eq!(h.header("x"), None);
    let shown = alloc::format!(
        "{:?}",
        h.with_header("X-Amz-Security-Token", "secret-token")
            .with_header("x", "value")
    );
    assert!(
        shown.contains("\"value\"") && shown.contains("<redacted>"),
        "{shown}"
    );
    assert!(!shown.contains("secret-token"), "{shown}");
}

#[test]
fn authorization_forms() {
    let verifier = RequestVerifier::new(creds(), "us-east-1", "service");
    let signed = RequestSigner::new(params()).sign_head(&head(), t());
    let good = apply(&head(), &signed);
    let sig = signed.signature();
    let with_auth = |value: &str| {
        let mut h = good.clone();
        h.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        h.with_header("Authorization", value)
    };
    let scope = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    let names = "host;x-amz-content-sha256;x-amz-date";
    // Spacing around the parameters is free, their order too.
    for accepted in [
        alloc::format!("AWS4-HMAC-SHA256 Credential={scope},SignedHeaders={names},Signature={sig}"),
        alloc::format!(
            "  AWS4-HMAC-SHA256   Signature={sig},  Credential={scope} , SignedHeaders={names}  "
        ),
        alloc::format!(
            "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={names}, Signature={}",
            sig.to_ascii_uppercase()
        ),
    ] {
        assert!(
            verifier.verify_head(&with_auth(&accepted), t()).is_ok(),
            "{accepted}"
        );
    }
    for (refused, reason) in [
        (
            alloc::format!("AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={names}"),
            "no Signature",
        ),
        (
            alloc::format!("AWS4-HMAC-SHA256 Credential={scope}, Signature={sig}"),
            "no SignedHeaders",
        ),
        (
            alloc::format!("AWS4-HMAC-SHA256 SignedHeaders={names}, Signature={sig}"),
            "no Credential",
        ),
        (
            alloc::format!(
                "AWS4-HMAC-SHA256 Credential={scope}, Credential={scope}, SignedHeaders={names}, Signature={sig}"
            ),
            "a parameter appears twice",
        ),
        (
            alloc::format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={names}, Signature={sig}, Extra=1"
            ),
            "unknown parameter",
        ),
        (
            alloc::format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={names}, Signature={sig}, "
            ),
            "a parameter is not key=value",
        ),
        (
            alloc::format!(
                "AWS4-HMAC-SHA256 Credential={scope}/x, SignedHeaders={names}, Signature={sig}"
            ),
            "Credential is not id/date/region/service/aws4_request",
        ),
        (
            alloc::format!(
                "AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/service/aws4_request, SignedHeaders={names}, Signature={sig}"
            ),
            "Credential is not id/date/region/service/aws4_request",
        ),
        (
            alloc::format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=Host;x-amz-date, Signature={sig}"
            ),
            "SignedHeaders is not a list of lowercase names",
        ),
        (
            alloc::format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;;x-amz-date, Signature={sig}"
            ),
            "SignedHeaders is not a list of lowercase names",
        ),
        (
            alloc::format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={names}, Signature={}",
                &sig[1..]
            ),
            "Signature is not 64 hex digits",
        ),
        (
            alloc::format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={names}, Signature={}g",
                &sig[1..]
            ),
            "Signature is not 64 hex digits",
        ),
    ] {
        assert_eq!(
            verifier.verify_head(&with_auth(&refused), t()).unwrap_err(),
            RequestVerifyError::MalformedAuthorization { reason },
            "{refused}"
        );
    }
    let not_text = {
        let mut h = good.clone();
        h.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        h.with_header("authorization", [0xff, b' '])
    };
    assert_eq!(
        verifier.verify_head(&not_text, t()).unwrap_err().kind(),
        "malformed_authorization"
    );
    assert_eq!(
        verifier
            .verify_head(&with_auth("AWS4-HMAC-SHA512 Credential=x"), t())
            .unwrap_err(),
        RequestVerifyError::UnsupportedAlgorithm {
            algorithm: String::from("AWS4-HMAC-SHA512")
        }
    );
}

#[test]
fn amz_dates() {
    for (text, secs) in [
        ("20150830T123600Z", Some(1_440_938_160)),
        ("19700101T000000Z", Some(0)),
        ("20240229T235959Z", Some(1_709_251_199)),
        ("20230229T000000Z", None),
        ("20150830T123600", None),
        ("20150830 123600Z", None),
        ("2015083OT123600Z", None),
        ("20151330T123600Z", None),
        ("20150830T246000Z", None),
        ("+0150830T123600Z", None),
        ("", None),
    ] {
        assert_eq!(
            SigningTime::from_amz_date(text).map(|t| t.unix_seconds()),
            secs,
            "{text}"
        );
    }
    // Padding around the value is no part of it, as for any header; a second value is refused.
    let verifier = RequestVerifier::new(creds(), "us-east-1", "service");
    let signed = RequestSigner::new(params()).sign_head(&head(), t());
    let mut padded = apply(&head(), &signed);
    for (name, value) in &mut padded.headers {
        if name == "x-amz-date" {
            value.splice(0..0, *b"  ");
        }
    }
    assert!(verifier.verify_head(&padded, t()).is_ok());
    let twice = padded.with_header("X-Amz-Date", "20150830T123600Z");
    assert_eq!(
        verifier.verify_head(&twice, t()).unwrap_err(),
        RequestVerifyError::InvalidDate
    );
}
