//! The official SigV4 request signing suite (`tests/vectors/sigv4-request/v4/`, 40 cases): the
//! signer reproduces every `header-*` file of every case, and the verifier accepts every
//! `header-signed-request.txt` at its time and rejects it when the time leaves the window, when
//! any one byte the signature covers changes, when the key is unknown, the scope another, or a
//! signed header missing.
//!
//! `request.txt` and the expected signed requests are HTTP/1.1 text, parsed here by hand: a request
//! line (`METHOD TARGET HTTP/1.1`; targets may hold spaces and raw UTF-8), header lines
//! `Name:value` (repeated names; a line that starts with whitespace continues the value before
//! it), a blank line, the body. Values are kept as raw bytes, line breaks included, which is why
//! `RequestHead` holds bytes.
//!
//! The suite's cases (from aws-c-auth) were made with the path taken as encoded already
//! (`get-space-normalized` signs `/example%20space/` as it is); the two cases migrated from
//! `aws-sigv4`'s own tests (`double-url-encode`, `double-encode-path`) encode it again, as every
//! service but S3 expects. Those two have no `context.json`: their parameters are the ones
//! `aws-sigv4`'s tests give them, written below.

use std::path::{Path, PathBuf};

use eventstream::sign::{
    Credentials, PayloadHash, RequestHead, RequestSigner, RequestVerifier, SignedRequest,
    SigningParams, SigningTime,
};
use eventstream_testkit::hex::to_hex;
use eventstream_tests::vectors_dir;
use serde_json::Value;
use sha2::{Digest, Sha256};

const CASES: usize = 40;

fn suite_dir() -> PathBuf {
    vectors_dir().join("sigv4-request/v4")
}

fn case_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(suite_dir())
        .expect("the suite's folder")
        .map(|e| {
            e.expect("a folder entry")
                .file_name()
                .into_string()
                .unwrap()
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), CASES, "{names:?}");
    names
}

fn read(case: &str, file: &str) -> Option<Vec<u8>> {
    std::fs::read(suite_dir().join(case).join(file)).ok()
}

/// An expected text file: its content without the line breaks that end the file.
fn read_text(case: &str, file: &str) -> Option<String> {
    read(case, file).map(|b| {
        String::from_utf8(b)
            .expect("UTF-8")
            .trim_end_matches('\n')
            .to_owned()
    })
}

/// What a case is signed with.
#[derive(Clone, Debug)]
struct Context {
    credentials: Credentials,
    region: String,
    service: String,
    time: SigningTime,
    normalize: bool,
    /// Hash the body and send the hash as `x-amz-content-sha256`; otherwise the hash of the body
    /// as given is signed, with no header.
    sign_body: bool,
    /// Send the session token but leave it out of the signature.
    omit_session_token: bool,
    double_encode: bool,
}

fn time(rfc3339: &str) -> SigningTime {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .expect("an RFC 3339 time");
    SigningTime::from_unix_seconds(t.unix_timestamp()).unwrap()
}

fn context(case: &str) -> Context {
    let json: Value =
        serde_json::from_slice(&read(case, "context.json").expect("context.json")).unwrap();
    let c = &json["credentials"];
    let mut credentials = Credentials::new(
        c["access_key_id"].as_str().unwrap(),
        c["secret_access_key"].as_str().unwrap(),
    );
    if let Some(token) = c["token"].as_str() {
        credentials = credentials.with_session_token(token);
    }
    Context {
        credentials,
        region: json["region"].as_str().unwrap().to_owned(),
        service: json["service"].as_str().unwrap().to_owned(),
        time: time(json["timestamp"].as_str().unwrap()),
        normalize: json["normalize"].as_bool().unwrap(),
        sign_body: json["sign_body"].as_bool().unwrap(),
        omit_session_token: json["omit_session_token"].as_bool().unwrap_or(false),
        double_encode: false,
    }
}

/// The contexts of a case: the one its canonical request and string to sign were made with, and
/// the one of its signature and signed request. They differ for `double-encode-path` only, whose
/// canonical request `aws-sigv4` tests at 2021-05-11T15:40:45Z (region `test-region`, service
/// `testservicename`) and whose signed request at 2015-08-30T12:36:00Z (`us-east-1`, `service`),
/// both with its test credentials `ANOTREAL`.
fn contexts(case: &str) -> (Context, Context) {
    let migrated = |id: &str, secret: &str, region: &str, service: &str, t: &str| Context {
        credentials: Credentials::new(id, secret),
        region: region.to_owned(),
        service: service.to_owned(),
        time: time(t),
        normalize: true,
        sign_body: false,
        omit_session_token: false,
        double_encode: true,
    };
    match case {
        "double-url-encode" => {
            let c = migrated(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "us-east-2",
                "lambda",
                "2021-05-11T15:40:45Z",
            );
            (c.clone(), c)
        }
        "double-encode-path" => {
            let secret = "notrealrnrELgWzOk3IfjzDKtFBhDby";
            (
                migrated(
                    "ANOTREAL",
                    secret,
                    "test-region",
                    "testservicename",
                    "2021-05-11T15:40:45Z",
                ),
                migrated(
                    "ANOTREAL",
                    secret,
                    "us-east-1",
                    "service",
                    "2015-08-30T12:36:00Z",
                ),
            )
        }
        _ => {
            let c = context(case);
            (c.clone(), c)
        }
    }
}

/// An HTTP/1.1 request as the suite writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Text {
    method: String,
    /// Path and query, as written.
    target: String,
    /// Names as written; values as raw bytes from after the colon, continuation lines included.
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// Where the head ends: the blank line, or the end of the text.
fn head_len(bytes: &[u8]) -> usize {
    bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(bytes.len())
}

/// The lines of the head, each with the offset it starts at.
fn head_lines(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let head = &bytes[..head_len(bytes)];
    let mut at = 0;
    head.split(|&b| b == b'\n')
        .map(|line| {
            let start = at;
            at += line.len() + 1;
            (start, line)
        })
        .collect()
}

/// Splits the request line into method and target (the protocol, when written, is dropped).
fn request_line(line: &[u8]) -> (&[u8], &[u8]) {
    let space = line.iter().position(|&b| b == b' ').expect("METHOD TARGET");
    let rest = &line[space + 1..];
    let target = rest.strip_suffix(b" HTTP/1.1").unwrap_or(rest);
    (&line[..space], target)
}

fn parse(bytes: &[u8]) -> Text {
    let lines = head_lines(bytes);
    let (method, target) = request_line(lines[0].1);
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for &(_, line) in &lines[1..] {
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            let (_, value) = headers.last_mut().expect("a continuation after a header");
            value.push(b'\n');
            value.extend_from_slice(line);
        } else if !line.is_empty() {
            let colon = line.iter().position(|&b| b == b':').expect("Name:value");
            headers.push((
                String::from_utf8(line[..colon].to_vec()).expect("a UTF-8 name"),
                line[colon + 1..].to_vec(),
            ));
        }
    }
    let body_at = (head_len(bytes) + 2).min(bytes.len());
    Text {
        method: String::from_utf8(method.to_vec()).expect("a UTF-8 method"),
        target: String::from_utf8(target.to_vec()).expect("a UTF-8 target"),
        headers,
        body: bytes[body_at..].to_vec(),
    }
}

fn head(text: &Text) -> RequestHead {
    let mut head = RequestHead::new(&text.method, &text.target);
    for (name, value) in &text.headers {
        head.push_header(name, value);
    }
    head
}

fn signer(ctx: &Context, body: &[u8]) -> RequestSigner {
    let params = SigningParams::new(
        ctx.credentials.clone(),
        ctx.region.clone(),
        ctx.service.clone(),
    );
    RequestSigner::new(params)
        .with_normalized_path(ctx.normalize)
        .with_double_uri_encode(ctx.double_encode)
        .with_payload_hash(PayloadHash::Precomputed(to_hex(&Sha256::digest(body))))
        .with_content_sha256_header(ctx.sign_body)
        .with_signed_session_token(!ctx.omit_session_token)
}

fn verifier(ctx: &Context) -> RequestVerifier<Credentials> {
    RequestVerifier::new(
        ctx.credentials.clone(),
        ctx.region.clone(),
        ctx.service.clone(),
    )
    .with_normalized_path(ctx.normalize)
    .with_double_uri_encode(ctx.double_encode)
}

/// The request with the signer's headers added, each replacing the request's own of that name,
/// in the order the signer gives them.
fn signed_text(request: &Text, signed: &SignedRequest) -> Text {
    let mut out = request.clone();
    out.headers.retain(|(name, _)| {
        !signed
            .headers()
            .iter()
            .any(|(n, _)| name.eq_ignore_ascii_case(n))
    });
    out.headers.extend(
        signed
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())),
    );
    out
}

/// Header lines compared as HTTP reads them: names in any case, the optional whitespace after
/// the colon left out; values otherwise byte for byte.
fn comparable(headers: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(n, v)| {
            let start = v.iter().position(|&b| b != b' ').unwrap_or(v.len());
            (n.to_ascii_lowercase(), v[start..].to_vec())
        })
        .collect()
}

#[test]
fn every_header_file_of_every_case_is_reproduced() {
    let mut checked = 0;
    let mut expected_files = 0;
    for case in case_names() {
        let (canonical_ctx, signed_ctx) = contexts(&case);
        let request = parse(&read(&case, "request.txt").expect("request.txt"));
        let head = head(&request);

        let first = signer(&canonical_ctx, &request.body).sign_head(&head, canonical_ctx.time);
        let want = read_text(&case, "header-canonical-request.txt").expect("a canonical request");
        assert_eq!(first.canonical_request(), want, "{case}: canonical request");
        checked += 1;
        if let Some(want) = read_text(&case, "header-string-to-sign.txt") {
            assert_eq!(first.string_to_sign(), want, "{case}: string to sign");
            checked += 1;
        }

        let signed = signer(&signed_ctx, &request.body).sign_head(&head, signed_ctx.time);
        if let Some(want) = read_text(&case, "header-signature.txt") {
            assert_eq!(signed.signature(), want, "{case}: signature");
            checked += 1;
        }
        let mut want = parse(&read(&case, "header-signed-request.txt").expect("a signed request"));
        let ours = signed_text(&request, &signed);
        if case == "get-space-normalized" {
            // This one file writes the target decoded, `/example space/` for the
            // `/example%20space/` of its request.txt; a signer adds headers, it does not rewrite
            // the target.
            assert_eq!(want.target, "/example space/");
            want.target = request.target.clone();
        }
        assert_eq!(
            (&ours.method, &ours.target, &ours.body),
            (&want.method, &want.target, &want.body),
            "{case}: signed request line and body"
        );
        let (mut ours, mut want) = (comparable(&ours.headers), comparable(&want.headers));
        if canonical_ctx.double_encode {
            // The two migrated cases were written from an `http::HeaderMap`, whose order is its own.
            ours.sort();
            want.sort();
        }
        assert_eq!(ours, want, "{case}: signed request headers");
        checked += 1;

        expected_files += std::fs::read_dir(suite_dir().join(&case))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("header-")
            })
            .count();
    }
    // 38 cases with all four files, double-url-encode without a signature file, double-encode-path
    // with the canonical and signed requests only.
    assert_eq!(checked, expected_files);
    assert_eq!(checked, 38 * 4 + 3 + 2);
}

/// The bytes of a signed request's head that may be changed to test the signature's coverage:
/// the method, the target, and every header name and value. The request line's protocol, the
/// colons and line breaks are the text's structure (changing them makes another text, not
/// another request), and so is the whitespace that opens a continuation line.
fn mutable_positions(bytes: &[u8]) -> Vec<usize> {
    let lines = head_lines(bytes);
    let mut out = Vec::new();
    let (start, line) = lines[0];
    let (method, target) = request_line(line);
    out.extend(start..start + method.len());
    let target_at = start + method.len() + 1;
    out.extend(target_at..target_at + target.len());
    for &(start, line) in &lines[1..] {
        match line.first() {
            None => {}
            Some(b' ' | b'\t') => out.extend(start + 1..start + line.len()),
            Some(_) => {
                let colon = line.iter().position(|&b| b == b':').unwrap();
                out.extend(start..start + colon);
                out.extend(start + colon + 1..start + line.len());
            }
        }
    }
    out
}

/// Another byte in place of `b`, chosen so that the request's canonical form changes: a letter
/// becomes the next letter (so a header name changes in lowercase too, not only in case), a
/// digit the next digit, other ASCII `_` (or `-` for `_`), and a byte of a UTF-8 sequence
/// another byte of the same class, so the text stays UTF-8.
fn replacement(b: u8) -> u8 {
    match b {
        b'a'..=b'y' | b'A'..=b'Y' | b'0'..=b'8' => b + 1,
        b'z' => b'a',
        b'Z' => b'A',
        b'9' => b'0',
        b'_' => b'-',
        0x80..=0xbe => b + 1,
        0xbf => 0x80,
        0xe1..=0xeb => b + 1,
        b if b.is_ascii() => b'_',
        b => panic!("no replacement for byte {b:#04x}"),
    }
}

/// The path of a request text (its target up to `?`) and the offset it starts at.
fn path_of(text: &[u8]) -> (usize, &[u8]) {
    let lines = head_lines(text);
    let (method, target) = request_line(lines[0].1);
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    (method.len() + 1, path)
}

/// The segments a normalized path keeps (`.` and empty segments dropped, `..` dropping the one
/// before), and whether it ends with a slash: a small model of RFC 3986's dot-segment removal,
/// to tell which changes of a path normalization undoes.
fn normalized(path: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut kept = Vec::new();
    for segment in path.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    let trailing = [&b"/"[..], b"/.", b"/.."]
        .iter()
        .any(|end| path.ends_with(end));
    (kept, trailing)
}

#[test]
fn the_verifier_accepts_every_signed_request_and_rejects_every_change() {
    let mut rejected_changes = 0;
    let mut uncovered_changes = 0;
    for case in case_names() {
        let (_, ctx) = contexts(&case);
        let bytes = read(&case, "header-signed-request.txt").unwrap();
        let text = parse(&bytes);
        let request = head(&text);
        let verifier = verifier(&ctx);
        let signature = read_text(&case, "header-signature.txt");

        // At its time, and anywhere in the window around it.
        let at = |delta: i64| ctx.time.checked_add_seconds(delta).unwrap();
        let verified = verifier
            .verify_head(&request, ctx.time)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        if let Some(want) = &signature {
            assert_eq!(verified.signature(), want, "{case}");
        }
        assert_eq!(verified.access_key_id(), ctx.credentials.access_key_id());
        for delta in [-300, 300] {
            assert!(verifier.verify_head(&request, at(delta)).is_ok(), "{case}");
        }
        for delta in [-301, 301, 86_400] {
            let err = verifier.verify_head(&request, at(delta)).unwrap_err();
            assert_eq!(err.kind(), "request_expired", "{case} at {delta}: {err}");
        }
        let wider = verifier.clone().with_max_skew(86_400);
        assert!(wider.verify_head(&request, at(86_400)).is_ok(), "{case}");

        // One byte changed. The signature covers the method, the target (path and query), every
        // header that SignedHeaders names, and the Authorization value itself (algorithm, access
        // key id, scope, the SignedHeaders list, the signature); x-amz-date enters the string to
        // sign; an unsigned x-amz-security-token (post-sts-header-after) is checked against the
        // stored credentials' token. So every change of those bytes that changes the canonical
        // form is rejected, with one exception: the bytes of path segments that normalization
        // removes (`/example` in `/example/..`), which the canonical path no longer holds. A
        // change that leaves the canonical form as it is (a header name's case, the whitespace
        // after a colon or around a value, the protocol) is no change to the request signed;
        // `replacement` never makes one. The body is not in the head: its hash is, through
        // x-amz-content-sha256, and checking the body against it is for whoever reads it.
        let (path_at, path) = path_of(&bytes);
        let path_range = path_at..path_at + path.len();
        for at in mutable_positions(&bytes) {
            let mut changed = bytes.clone();
            changed[at] = replacement(bytes[at]);
            let result = verifier.verify_head(&head(&parse(&changed)), ctx.time);
            let undone = ctx.normalize
                && path_range.contains(&at)
                && normalized(path) == normalized(path_of(&changed).1);
            if undone {
                assert!(result.is_ok(), "{case}: byte {at} is not signed");
                uncovered_changes += 1;
            } else {
                assert!(
                    result.is_err(),
                    "{case}: byte {at} ({:?} -> {:?}) changed and still verified",
                    bytes[at] as char,
                    changed[at] as char
                );
                rejected_changes += 1;
            }
        }

        // Another key, another region or service.
        let secret = ctx.credentials.secret_access_key();
        let stranger = RequestVerifier::new(
            Credentials::new("AKIDSTRANGER", secret),
            ctx.region.clone(),
            ctx.service.clone(),
        );
        let err = stranger.verify_head(&request, ctx.time).unwrap_err();
        assert_eq!(err.kind(), "unknown_access_key", "{case}");
        for (region, service) in [("eu-west-3", ctx.service.as_str()), (&ctx.region, "other")] {
            let elsewhere = RequestVerifier::new(ctx.credentials.clone(), region, service);
            let err = elsewhere.verify_head(&request, ctx.time).unwrap_err();
            assert_eq!(err.kind(), "scope_mismatch", "{case}: {err}");
        }

        // Each signed header missing in turn.
        let signed_headers = parse_signed_headers(&text);
        assert!(signed_headers.len() >= 2, "{case}");
        for name in &signed_headers {
            let mut without = text.clone();
            without
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            let err = verifier.verify_head(&head(&without), ctx.time).unwrap_err();
            // x-amz-date and the session token have checks of their own, before the headers'.
            let want = match name.as_str() {
                "x-amz-date" => "missing_date",
                "x-amz-security-token" => "invalid_security_token",
                _ => "missing_signed_header",
            };
            assert_eq!(err.kind(), want, "{case} without {name}: {err}");
        }
    }
    assert!(rejected_changes > 5_000, "{rejected_changes}");
    // get-relative-normalized drops `/example` (8 bytes), get-relative-relative-normalized
    // `/example1/example2` (18).
    assert_eq!(uncovered_changes, 8 + 18);
}

/// The names of the Authorization value's SignedHeaders.
fn parse_signed_headers(text: &Text) -> Vec<String> {
    let (_, auth) = text
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .expect("an Authorization header");
    let auth = String::from_utf8(auth.clone()).unwrap();
    let list = auth
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("SignedHeaders=");
    list.split(';').map(str::to_owned).collect()
}

#[test]
fn the_copy_holds_what_the_tests_read() {
    // request.txt, context.json (not for the two migrated cases) and the header-* files; the
    // query-* files (presigned URLs) are not part of this project's copy.
    let root: &Path = &suite_dir();
    for case in case_names() {
        for entry in std::fs::read_dir(root.join(&case)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                name == "request.txt" || name == "context.json" || name.starts_with("header-"),
                "{case}/{name}"
            );
        }
        assert!(read(&case, "request.txt").is_some(), "{case}");
        let migrated = case.starts_with("double-");
        assert_eq!(
            read(&case, "context.json").is_some(),
            !migrated,
            "{case}: context.json"
        );
    }
}
