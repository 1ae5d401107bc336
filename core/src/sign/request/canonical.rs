//! The canonical forms of SigV4 request signing: path, query, header values, and the canonical
//! request they make up. The signer and the verifier share them, so both sides canonicalize alike.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

/// Writes `bytes` URI-encoded to `out`: every byte but the unreserved characters (`A-Z a-z 0-9
/// - . _ ~`), and the bytes of `keep`, becomes `%XX` with uppercase hex digits.
pub(crate) fn uri_encode(bytes: &[u8], keep: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || keep.contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 15)]));
        }
    }
}

/// Removes `.` and `..` segments and empty segments (`//`) from a path, keeping a trailing slash,
/// as RFC 3986 section 5.2.4 and the SigV4 rules for every service but S3 do. An empty path is `/`.
pub(crate) fn normalize_path(path: &str) -> Cow<'_, str> {
    let rooted = path.starts_with('/');
    if rooted && !path.contains("/.") && !path.contains("//") && !path.starts_with('.') {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    let trailing = ["/", "/.", "/..", "/./", "/../"]
        .iter()
        .any(|end| path.ends_with(end));
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    Cow::Owned(out)
}

/// The canonical URI: the path (normalized when asked), each byte but `/` and the unreserved
/// characters percent-encoded. With `double_encode`, a path that arrives percent-encoded is
/// encoded again (`%3A` becomes `%253A`), as every service but S3 expects; without, it is taken
/// as encoded already: a `%` stays, and only the other bytes are encoded.
pub(crate) fn canonical_path(path: &str, normalize: bool, double_encode: bool, out: &mut String) {
    let path = if normalize {
        normalize_path(path)
    } else if path.is_empty() {
        Cow::Borrowed("/")
    } else {
        Cow::Borrowed(path)
    };
    let keep: &[u8] = if double_encode { b"/" } else { b"/%" };
    uri_encode(path.as_bytes(), keep, out);
}

/// Decodes one `application/x-www-form-urlencoded` name or value: `+` is a space, `%XX` a byte
/// (a `%` not followed by two hex digits stays as it is); bytes that are not UTF-8 become U+FFFD.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let digit = |at: usize| bytes.get(at).copied().and_then(hex_digit);
                match (digit(i + 1), digit(i + 2)) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The canonical query string: each `name=value` pair decoded as a form would be, encoded again
/// with the unreserved characters only, sorted by encoded name then value, joined with `&`. A name
/// without `=` has an empty value; empty pairs (`a=1&&b=2`) are dropped.
pub(crate) fn canonical_query(query: &str, out: &mut String) {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let mut n = String::new();
            uri_encode(form_decode(name).as_bytes(), b"", &mut n);
            let mut v = String::new();
            uri_encode(form_decode(value).as_bytes(), b"", &mut v);
            (n, v)
        })
        .collect();
    pairs.sort();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

/// Appends the canonical form of a header value: a line break (an obsolete line folding)
/// becomes a space, spaces are trimmed from both ends, and each run of spaces becomes one.
pub(crate) fn canonical_value(raw: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let mut pending_space = false;
    for &b in raw {
        let b = if b == b'\r' || b == b'\n' { b' ' } else { b };
        if b == b' ' {
            pending_space = out.len() > start;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(b);
    }
}

/// The headers of a canonical request: lowercase names with their canonical values, grouped by
/// name (a repeated header's values joined by commas in the order given) and sorted by name.
#[derive(Debug, Default)]
pub(crate) struct CanonicalHeaders {
    entries: Vec<(String, Vec<u8>)>,
}

impl CanonicalHeaders {
    /// Adds one header line; `name` is lowercased.
    pub(crate) fn push(&mut self, name: &str, value: &[u8]) {
        let mut v = Vec::with_capacity(value.len());
        canonical_value(value, &mut v);
        self.entries.push((name.to_ascii_lowercase(), v));
    }

    /// Sorts by name (stable, so repeated names keep their order) and joins repeated names.
    fn grouped(mut self) -> Vec<(String, Vec<u8>)> {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, Vec<u8>)> = Vec::with_capacity(self.entries.len());
        for (name, value) in self.entries {
            match out.last_mut() {
                Some((last, joined)) if *last == name => {
                    joined.push(b',');
                    joined.extend_from_slice(&value);
                }
                _ => out.push((name, value)),
            }
        }
        out
    }

    /// The `SignedHeaders` list and the canonical request, sorted and grouped.
    pub(crate) fn finish(self, request: &RequestLine<'_>) -> (String, Vec<u8>) {
        let grouped = self.grouped();
        let mut signed = String::new();
        for (i, (name, _)) in grouped.iter().enumerate() {
            if i > 0 {
                signed.push(';');
            }
            signed.push_str(name);
        }
        let canonical = canonical_request(
            request,
            grouped.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
            &signed,
        );
        (signed, canonical)
    }
}

/// What a canonical request holds besides its headers.
pub(crate) struct RequestLine<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) normalize: bool,
    pub(crate) double_encode: bool,
    pub(crate) payload_hash: &'a str,
}

/// The canonical request: method, canonical URI, canonical query, one `name:value` line per
/// header (already canonical, in order), a blank line, the signed header names, the payload hash.
pub(crate) fn canonical_request<'h>(
    request: &RequestLine<'_>,
    headers: impl Iterator<Item = (&'h str, &'h [u8])>,
    signed_headers: &str,
) -> Vec<u8> {
    let mut text = String::new();
    text.push_str(request.method);
    text.push('\n');
    canonical_path(
        request.path,
        request.normalize,
        request.double_encode,
        &mut text,
    );
    text.push('\n');
    canonical_query(request.query, &mut text);
    text.push('\n');
    let mut out = text.into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(request.payload_hash.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn paths() {
        for (raw, normalized) in [
            ("/", "/"),
            ("", "/"),
            ("/a/b", "/a/b"),
            ("/a/./b/../c", "/a/c"),
            ("//example//", "/example/"),
            ("/example/..", "/"),
            ("/a/..", "/"),
            ("/a/b/.", "/a/b/"),
            ("a/b", "/a/b"),
            ("/..", "/"),
        ] {
            assert_eq!(normalize_path(raw), normalized, "{raw}");
        }
        let mut out = String::new();
        canonical_path("/a b/%3A/\u{1234}/@", false, true, &mut out);
        assert_eq!(out, "/a%20b/%253A/%E1%88%B4/%40");
        out.clear();
        canonical_path("/a b/%3A/\u{1234}/@", false, false, &mut out);
        assert_eq!(out, "/a%20b/%3A/%E1%88%B4/%40");
    }

    #[test]
    fn queries() {
        for (raw, canonical) in [
            ("", ""),
            ("b=2&a=1", "a=1&b=2"),
            ("a=2&a=1", "a=1&a=2"),
            ("a", "a="),
            ("a=1&&b", "a=1&b="),
            ("x=a+b%20c", "x=a%20b%20c"),
            ("k=%zz%4", "k=%25zz%254"),
            ("%E1%88%B4=v", "%E1%88%B4=v"),
            ("-_.~=!*", "-_.~=%21%2A"),
            ("k=a=b", "k=a%3Db"),
        ] {
            let mut out = String::new();
            canonical_query(raw, &mut out);
            assert_eq!(out, canonical, "{raw}");
        }
    }

    #[test]
    fn values() {
        for (raw, canonical) in [
            (&b"  a   b  "[..], "a b"),
            (b"value1\n  value2\r\n     value3", "value1 value2 value3"),
            (b"", ""),
            (b"   ", ""),
            (b"a\tb", "a\tb"),
        ] {
            let mut out = Vec::new();
            canonical_value(raw, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), canonical.to_string());
        }
    }
}
