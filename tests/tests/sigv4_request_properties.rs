//! Properties of request signing and verification, ours against ours, on heads that no HTTP
//! library would build: header values as raw bytes (non-UTF-8 bytes, obsolete line folding, tabs,
//! padding), names in any case and repeated, UTF-8 and spaces in paths. The verifier accepts
//! exactly what the signer produced: every signed head, within the skew window, and no head with
//! one byte changed in a signed header's value or (without normalization) in the path.

use eventstream::sign::{
    Credentials, PayloadHash, RequestHead, RequestSigner, RequestVerifier, SignedRequest,
    SigningParams, SigningTime,
};
use proptest::collection::vec;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Case {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    token: Option<String>,
    payload: PayloadHash,
    /// Whether an empty-body hash goes in x-amz-content-sha256 too (a precomputed hash always
    /// does: the verifier could not know it otherwise; the streaming one always does).
    empty_body_header: bool,
    normalize: bool,
    double_encode: bool,
    time: i64,
    skew: i64,
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>().prop_filter("no bare line breaks", |b| *b != b'\r' && *b != b'\n'), 0..16),
        1 => "[ -~]{0,6}(\r?\n[ \t]{1,3}[ -~]{0,6}){1,2}".prop_map(String::into_bytes),
        1 => " {0,3}[a-z]{1,3}[ \t]{1,4}[a-z]{1,3} {0,3}".prop_map(String::into_bytes),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let name = prop_oneof![
        Just("x-a".to_owned()),
        Just("X-A".to_owned()),
        Just("x-b".to_owned()),
        Just("Content-Type".to_owned()),
        "[A-Za-z][A-Za-z0-9-]{0,8}",
    ];
    let payload = prop_oneof![
        Just(PayloadHash::StreamingEvents),
        Just(PayloadHash::EmptyBody),
        "[0-9a-f]{64}".prop_map(PayloadHash::Precomputed),
    ];
    (
        prop::sample::select(vec!["POST", "GET", "PUT"]).prop_map(str::to_owned),
        "(/[a-zA-Z0-9 ._~%!@ሴé-]{0,6}){0,4}/?",
        "([a-z0-9%+=&]{0,12})",
        vec((name, header_value()), 0..6),
        proptest::option::of("[A-Za-z0-9/+=]{1,40}"),
        payload,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0i64..7_258_118_400,
        -300i64..=300,
    )
        .prop_map(
            |(
                method,
                path,
                query,
                headers,
                token,
                payload,
                empty_body_header,
                normalize,
                double_encode,
                time,
                skew,
            )| {
                Case {
                    method,
                    path,
                    query,
                    headers,
                    token,
                    payload,
                    empty_body_header,
                    normalize,
                    double_encode,
                    time,
                    skew,
                }
            },
        )
        .prop_filter("headers the signer sets are not random ones", |c| {
            c.headers.iter().all(|(n, _)| {
                let n = n.to_ascii_lowercase();
                !n.starts_with("x-amz-") && n != "authorization" && n != "host"
            })
        })
}

fn target(case: &Case) -> String {
    let path = if case.path.is_empty() {
        "/"
    } else {
        &case.path
    };
    if case.query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", case.query)
    }
}

fn head(case: &Case, path: &str) -> RequestHead {
    let mut head = RequestHead::new(&case.method, path).with_header("host", "example.com");
    for (name, value) in &case.headers {
        head.push_header(name, value);
    }
    head
}

fn credentials(case: &Case) -> Credentials {
    let c = Credentials::new("AKIDEXAMPLE", "secret");
    match &case.token {
        Some(token) => c.with_session_token(token),
        None => c,
    }
}

fn sign(case: &Case) -> (RequestHead, SignedRequest) {
    let header = match case.payload {
        PayloadHash::EmptyBody => case.empty_body_header,
        _ => true,
    };
    let signer = RequestSigner::new(SigningParams::new(credentials(case), "eu-west-1", "demo"))
        .with_payload_hash(case.payload.clone())
        .with_content_sha256_header(header)
        .with_normalized_path(case.normalize)
        .with_double_uri_encode(case.double_encode);
    let head = head(case, &target(case));
    let signed = signer.sign_head(&head, SigningTime::from_unix_seconds(case.time).unwrap());
    (head, signed)
}

/// `head` as sent: the signer's headers added after its own.
fn sent(head: &RequestHead, signed: &SignedRequest) -> RequestHead {
    let mut out = head.clone();
    for (name, value) in signed.headers() {
        out.push_header(name, value);
    }
    out
}

fn verifier(case: &Case) -> RequestVerifier<Credentials> {
    RequestVerifier::new(credentials(case), "eu-west-1", "demo")
        .with_normalized_path(case.normalize)
        .with_double_uri_encode(case.double_encode)
}

/// `head` with its `index`-th header line's value changed at `at` (modulo its length).
fn with_value_changed(head: &RequestHead, index: usize, at: usize) -> Option<RequestHead> {
    let lines: Vec<(String, Vec<u8>)> = head
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_vec()))
        .collect();
    let (_, value) = &lines[index];
    if value.is_empty() {
        return None;
    }
    let mut out = RequestHead::new(head.method(), &rebuild_target(head));
    for (i, (name, value)) in lines.iter().enumerate() {
        let mut value = value.clone();
        if i == index {
            let at = at % value.len();
            // Never whitespace, and always another byte: the canonical value changes.
            value[at] = if value[at] == b'x' { b'y' } else { b'x' };
        }
        out.push_header(name, value);
    }
    Some(out)
}

fn rebuild_target(head: &RequestHead) -> String {
    if head.query().is_empty() {
        head.path().to_owned()
    } else {
        format!("{}?{}", head.path(), head.query())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_verifier_accepts_what_the_signer_produced(case in case()) {
        let (head, signed) = sign(&case);
        let now = SigningTime::from_unix_seconds(case.time + case.skew);
        prop_assume!(now.is_ok());
        let verified = verifier(&case).verify_head(&sent(&head, &signed), now.unwrap());
        prop_assert!(verified.is_ok(), "{:?}\n{}", verified, signed.canonical_request());
        let verified = verified.unwrap();
        prop_assert_eq!(verified.signature(), signed.signature());
    }

    #[test]
    fn one_byte_changed_in_a_signed_value_is_refused(case in case(), pick in any::<usize>(), at in any::<usize>()) {
        prop_assume!(!case.headers.is_empty());
        let (head, signed) = sign(&case);
        let t = SigningTime::from_unix_seconds(case.time).unwrap();
        let changed = with_value_changed(&sent(&head, &signed), pick % case.headers.len() + 1, at);
        prop_assume!(changed.is_some());
        let err = verifier(&case).verify_head(&changed.unwrap(), t).unwrap_err();
        prop_assert_eq!(err.kind(), "signature_does_not_match");
    }

    #[test]
    fn one_byte_changed_in_an_unnormalized_path_is_refused(case in case(), at in any::<usize>()) {
        // Encoded twice and not normalized, the canonical path maps each byte of the path to
        // itself or to its %XX: a changed byte always changes it.
        let case = Case { normalize: false, double_encode: true, ..case };
        let (head, signed) = sign(&case);
        let path = head.path().as_bytes().to_vec();
        let at = at % path.len();
        prop_assume!(path[at].is_ascii());
        let mut changed = path.clone();
        changed[at] = if path[at] == b'x' { b'y' } else { b'x' };
        let changed = String::from_utf8(changed).unwrap();
        let target = if head.query().is_empty() { changed } else { format!("{changed}?{}", head.query()) };
        let mut moved = RequestHead::new(head.method(), &target);
        for (name, value) in sent(&head, &signed).headers() {
            moved.push_header(name, value);
        }
        let t = SigningTime::from_unix_seconds(case.time).unwrap();
        let err = verifier(&case).verify_head(&moved, t).unwrap_err();
        prop_assert_eq!(err.kind(), "signature_does_not_match");
    }
}
