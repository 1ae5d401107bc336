//! Messages as JSON Lines: one message per line, the format `evs decode` writes and `evs encode`
//! reads (and that later commands such as `evs sign` and `evs verify` share).
//!
//! ```text
//! {"headers":[{"name":":event-type","type":"string","value":"Chunk"}],"payload":"aGk="}
//! ```
//!
//! The writer always emits both keys, in that order, and each header's keys as `name`, `type`,
//! `value`. The reader is strict but friendly: `headers` may be omitted (no headers) and `payload`
//! may be omitted (empty payload); any other key, a header without `name`, `type` or `value`, an
//! unknown type, an integer outside its type's range, base64 that is not standard with padding, or
//! a malformed uuid is an error. Header names and value lengths are checked by the encoder, not
//! here, so that its errors keep their `kind`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use eventstream::frame::{ByteString, Header, HeaderValue, Message};
use serde_json::{Map, Number, Value};

/// The nine type names of the format, in wire-code order.
pub(crate) const TYPE_NAMES: [&str; 9] = [
    "bool",
    "byte",
    "short",
    "int",
    "long",
    "bytes",
    "string",
    "timestamp",
    "uuid",
];

/// The byte offsets of the hyphens in a hyphenated uuid (`8-4-4-4-12`).
const UUID_HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// Formats one message as one line of JSON, without the trailing newline.
#[allow(
    dead_code,
    reason = "the shared entry point for commands that print one message; decode reuses a buffer"
)]
pub(crate) fn message_to_json_line(msg: &Message) -> String {
    let mut out = String::with_capacity(json_len_hint(msg));
    write_message_json(msg, &mut out);
    out
}

/// Appends one message as JSON to `out`, without a newline; lets a caller reuse one buffer for
/// many messages. The output is the same as [`message_to_json_line`]'s.
pub(crate) fn write_message_json(msg: &Message, out: &mut String) {
    out.reserve(json_len_hint(msg));
    out.push_str("{\"headers\":[");
    for (i, header) in msg.headers().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_json_string(out, header.name());
        out.push_str(",\"type\":\"");
        out.push_str(header.value().type_name());
        out.push_str("\",\"value\":");
        push_header_value(out, header.value());
        out.push('}');
    }
    out.push_str("],\"payload\":\"");
    STANDARD.encode_string(msg.payload(), out);
    out.push_str("\"}");
}

/// A rough estimate of the JSON length of a message, to reserve space once.
fn json_len_hint(msg: &Message) -> usize {
    32 + msg.headers().len() * 40 + msg.headers_len() * 2 + msg.payload().len().div_ceil(3) * 4
}

/// Appends a header value as a JSON value.
fn push_header_value(out: &mut String, value: &HeaderValue) {
    match value {
        HeaderValue::Bool(v) => out.push_str(if *v { "true" } else { "false" }),
        HeaderValue::Byte(v) => push_integer(out, i64::from(*v)),
        HeaderValue::Short(v) => push_integer(out, i64::from(*v)),
        HeaderValue::Int(v) => push_integer(out, i64::from(*v)),
        HeaderValue::Long(v) | HeaderValue::Timestamp(v) => push_integer(out, *v),
        HeaderValue::Bytes(v) => {
            out.push('"');
            STANDARD.encode_string(v, out);
            out.push('"');
        }
        HeaderValue::String(v) => push_json_string(out, v),
        HeaderValue::Uuid(v) => {
            out.push('"');
            push_uuid(out, v);
            out.push('"');
        }
    }
}

/// Appends an integer in decimal, exactly.
fn push_integer(out: &mut String, value: i64) {
    use std::fmt::Write as _;
    // Formatting into a `String` cannot fail.
    let _ = write!(out, "{value}");
}

/// Appends a uuid as lowercase hyphenated hex: `8-4-4-4-12`.
fn push_uuid(out: &mut String, uuid: &[u8; 16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
}

/// Appends `s` as a JSON string literal, escaped the way `serde_json` escapes it: `"` and `\`,
/// the short forms `\b \t \n \f \r`, `\u00XX` for the other control characters, everything else
/// as is.
fn push_json_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let short = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `byte` is ASCII, so `i` and `i + 1` are character boundaries.
        out.push_str(&s[start..i]);
        start = i + 1;
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Parses one line of JSON into a message. The error says what is wrong and where (for example
/// `headers[1].value: 300 is out of range for byte (-128 to 127)`), without the line number,
/// which only the caller knows.
pub(crate) fn message_from_json_line(line: &str) -> Result<Message, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| describe_json_error(&e))?;
    let Value::Object(object) = value else {
        return Err(format!(
            "expected a JSON object with \"headers\" and \"payload\", found {}",
            describe(&value)
        ));
    };
    let mut headers = Vec::new();
    let mut payload = Bytes::new();
    for (key, value) in object {
        match key.as_str() {
            "headers" => headers = parse_headers(value)?,
            "payload" => payload = parse_base64(value).map_err(|e| format!("payload: {e}"))?,
            _ => {
                return Err(format!(
                    "unknown key {}; a message has only \"headers\" and \"payload\"",
                    quote(&key)
                ))
            }
        }
    }
    Ok(Message::from_parts(headers, payload))
}

/// A `serde_json` error without its `at line 1 column N` suffix, which would be confusing next to
/// the caller's line number; the column is kept.
fn describe_json_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&suffix) {
        Some(message) => format!("invalid JSON at column {}: {message}", err.column()),
        None => format!("invalid JSON: {text}"),
    }
}

/// Parses the `headers` array.
fn parse_headers(value: Value) -> Result<Vec<Header>, String> {
    let Value::Array(items) = value else {
        return Err(format!(
            "headers: expected an array, found {}",
            describe(&value)
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| parse_header(item).map_err(|e| format!("headers[{index}]{e}")))
        .collect()
}

/// Parses one header object. Errors start with `: ` or `.key: ` so that the caller can prefix
/// the header's position.
fn parse_header(value: Value) -> Result<Header, String> {
    let Value::Object(object) = value else {
        return Err(format!(
            ": expected an object with \"name\", \"type\" and \"value\", found {}",
            describe(&value)
        ));
    };
    let (name, type_name, value) = header_fields(object)?;
    let name = match name {
        Value::String(name) => name,
        other => {
            return Err(format!(
                ".name: expected a string, found {}",
                describe(&other)
            ))
        }
    };
    let type_name = match type_name {
        Value::String(type_name) => type_name,
        other => {
            return Err(format!(
                ".type: expected a string, found {}",
                describe(&other)
            ))
        }
    };
    let value = parse_header_value(&type_name, value).map_err(|e| format!(".{e}"))?;
    Ok(Header::new(name, value))
}

/// Takes the `name`, `type` and `value` of a header object; rejects missing and unknown keys.
fn header_fields(object: Map<String, Value>) -> Result<(Value, Value, Value), String> {
    let (mut name, mut type_name, mut value) = (None, None, None);
    for (key, field) in object {
        let slot = match key.as_str() {
            "name" => &mut name,
            "type" => &mut type_name,
            "value" => &mut value,
            _ => {
                return Err(format!(
                    ": unknown key {}; a header has only \"name\", \"type\" and \"value\"",
                    quote(&key)
                ))
            }
        };
        *slot = Some(field);
    }
    match (name, type_name, value) {
        (Some(name), Some(type_name), Some(value)) => Ok((name, type_name, value)),
        (None, _, _) => Err(": missing \"name\"".to_owned()),
        (_, None, _) => Err(": missing \"type\"".to_owned()),
        (_, _, None) => Err(": missing \"value\"".to_owned()),
    }
}

/// Parses a header value of the named type. Errors start with `type: ` or `value: `.
fn parse_header_value(type_name: &str, value: Value) -> Result<HeaderValue, String> {
    let parsed = match type_name {
        "bool" => match value {
            Value::Bool(v) => Ok(HeaderValue::Bool(v)),
            other => Err(format!(
                "expected true or false, found {}",
                describe(&other)
            )),
        },
        "byte" => parse_integer(&value, "byte", i8::MIN.into(), i8::MAX.into())
            .and_then(|v| i8::try_from(v).map_err(|e| e.to_string()))
            .map(HeaderValue::Byte),
        "short" => parse_integer(&value, "short", i16::MIN.into(), i16::MAX.into())
            .and_then(|v| i16::try_from(v).map_err(|e| e.to_string()))
            .map(HeaderValue::Short),
        "int" => parse_integer(&value, "int", i32::MIN.into(), i32::MAX.into())
            .and_then(|v| i32::try_from(v).map_err(|e| e.to_string()))
            .map(HeaderValue::Int),
        "long" => parse_integer(&value, "long", i64::MIN, i64::MAX).map(HeaderValue::Long),
        "timestamp" => {
            parse_integer(&value, "timestamp", i64::MIN, i64::MAX).map(HeaderValue::Timestamp)
        }
        "bytes" => parse_base64(value).map(HeaderValue::Bytes),
        "string" => match value {
            Value::String(v) => Ok(HeaderValue::String(ByteString::from(v))),
            other => Err(format!("expected a string, found {}", describe(&other))),
        },
        "uuid" => match value {
            Value::String(v) => parse_uuid(&v).map(HeaderValue::Uuid),
            other => Err(format!(
                "expected a uuid string (8-4-4-4-12 hex digits), found {}",
                describe(&other)
            )),
        },
        _ => {
            return Err(format!(
                "type: unknown type {}; expected one of {}",
                quote(type_name),
                TYPE_NAMES.join(", ")
            ))
        }
    };
    parsed.map_err(|e| format!("value: {e}"))
}

/// Reads a JSON integer and checks that it lies in `min..=max`, the range of the named type.
fn parse_integer(value: &Value, type_name: &str, min: i64, max: i64) -> Result<i64, String> {
    let out_of_range = || format!("{value} is out of range for {type_name} ({min} to {max})");
    let Value::Number(number) = value else {
        return Err(format!("expected an integer, found {}", describe(value)));
    };
    match number.as_i64() {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(_) => Err(out_of_range()),
        None if is_integral(number) => Err(out_of_range()),
        None => Err(format!("expected an integer, found {value}")),
    }
}

/// Whether a number that does not fit in an `i64` is still written as an integer (a large
/// positive one, or one too large even for a `u64`, which `serde_json` keeps as a float).
fn is_integral(number: &Number) -> bool {
    number.is_u64()
        || number
            .as_f64()
            .is_some_and(|f| f.fract() == 0.0 && f.abs() >= 1e18)
}

/// Decodes a JSON string of standard base64 with padding.
fn parse_base64(value: Value) -> Result<Bytes, String> {
    let Value::String(text) = value else {
        return Err(format!(
            "expected a base64 string, found {}",
            describe(&value)
        ));
    };
    STANDARD
        .decode(text.as_bytes())
        .map(Bytes::from)
        .map_err(|e| format!("invalid base64 (standard alphabet, with padding): {e}"))
}

/// Parses a hyphenated uuid, `8-4-4-4-12` hex digits in either case.
fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    let invalid = || {
        format!(
            "invalid uuid {}: expected 8-4-4-4-12 hex digits, like 123e4567-e89b-12d3-a456-426614174000",
            quote(text)
        )
    };
    let bytes = text.as_bytes();
    if bytes.len() != 36 || UUID_HYPHENS.iter().any(|&i| bytes[i] != b'-') {
        return Err(invalid());
    }
    let mut digits = bytes
        .iter()
        .enumerate()
        .filter(|(i, _)| !UUID_HYPHENS.contains(i))
        .map(|(_, &c)| char::from(c).to_digit(16));
    let mut uuid = [0u8; 16];
    for byte in &mut uuid {
        match (digits.next().flatten(), digits.next().flatten()) {
            // Both digits are below 16, so the byte fits.
            (Some(hi), Some(lo)) => *byte = (hi * 16 + lo) as u8,
            _ => return Err(invalid()),
        }
    }
    Ok(uuid)
}

/// A short description of a JSON value for error messages: its kind, and the value itself when
/// it is short.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(v) => v.to_string(),
        Value::Number(v) => format!("the number {v}"),
        Value::String(v) if v.len() <= 40 => format!("the string {}", quote(v)),
        Value::String(v) => format!("a string of {} bytes", v.len()),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// A string as a JSON literal, for error messages.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_string(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message with one header of each type (both booleans) and a payload.
    fn all_types() -> Message {
        Message::new(&b"{\"a\":1}"[..])
            .with_header("t", true)
            .with_header("f", false)
            .with_header("b", i8::MIN)
            .with_header("s", i16::MAX)
            .with_header("i", i32::MIN)
            .with_header("l", i64::MAX)
            .with_header("y", Bytes::from_static(&[0, 1, 254, 255]))
            .with_header("str", "h\u{e9}llo \"w\"\n")
            .with_header("ts", HeaderValue::Timestamp(i64::MIN))
            .with_header(
                "u",
                [
                    0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14,
                    0x17, 0x40, 0x00,
                ],
            )
    }

    /// The example of the format's documentation, and the empty message.
    #[test]
    fn writes_the_documented_format() {
        let msg = Message::new(&b"hi"[..]).with_header(":event-type", "Chunk");
        assert_eq!(
            message_to_json_line(&msg),
            r#"{"headers":[{"name":":event-type","type":"string","value":"Chunk"}],"payload":"aGk="}"#
        );
        assert_eq!(
            message_to_json_line(&Message::default()),
            r#"{"headers":[],"payload":""}"#
        );
    }

    /// Each type's value is written as documented, in wire order.
    #[test]
    fn writes_every_type() {
        let line = message_to_json_line(&all_types());
        assert_eq!(
            line,
            concat!(
                r#"{"headers":["#,
                r#"{"name":"t","type":"bool","value":true},"#,
                r#"{"name":"f","type":"bool","value":false},"#,
                r#"{"name":"b","type":"byte","value":-128},"#,
                r#"{"name":"s","type":"short","value":32767},"#,
                r#"{"name":"i","type":"int","value":-2147483648},"#,
                r#"{"name":"l","type":"long","value":9223372036854775807},"#,
                r#"{"name":"y","type":"bytes","value":"AAH+/w=="},"#,
                "{\"name\":\"str\",\"type\":\"string\",\"value\":\"h\u{e9}llo \\\"w\\\"\\n\"},",
                r#"{"name":"ts","type":"timestamp","value":-9223372036854775808},"#,
                r#"{"name":"u","type":"uuid","value":"123e4567-e89b-12d3-a456-426614174000"}"#,
                r#"],"payload":"eyJhIjoxfQ=="}"#,
            )
        );
        // The output is valid JSON with the same content.
        let parsed: Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(
            parsed["headers"][9]["value"],
            "123e4567-e89b-12d3-a456-426614174000"
        );
    }

    /// Parsing what was written gives back the message.
    #[test]
    fn round_trips_every_type() {
        let msg = all_types();
        let back = message_from_json_line(&message_to_json_line(&msg)).expect("parses");
        assert_eq!(back, msg);
    }

    /// Extreme integers, empty values, control characters and a 255-byte name survive.
    #[test]
    fn round_trips_edge_values() {
        let msg = Message::new(Bytes::new())
            .with_header("x".repeat(255), "")
            .with_header("e", Bytes::new())
            .with_header("l", i64::MIN)
            .with_header("ts", HeaderValue::Timestamp(i64::MAX))
            .with_header("ctl", "\u{0}\u{1f}\u{7f}\t\u{8}\u{c}\r\\/\u{1F600}")
            .with_header("u", [0xff; 16]);
        let line = message_to_json_line(&msg);
        assert_eq!(message_from_json_line(&line), Ok(msg));
    }

    /// The string escaper agrees with `serde_json` on every ASCII character and a few others.
    #[test]
    fn escapes_strings_like_serde_json() {
        let mut samples: Vec<String> = (0u8..=0x7f).map(|b| char::from(b).to_string()).collect();
        samples.extend(
            [
                "",
                "plain",
                "a\"b\\c",
                "\u{2028}\u{2029}",
                "\u{10ffff}",
                "caf\u{e9}\n\t",
            ]
            .map(String::from),
        );
        for s in samples {
            let mut ours = String::new();
            push_json_string(&mut ours, &s);
            let theirs = serde_json::to_string(&s).expect("a string serializes");
            assert_eq!(ours, theirs, "escaping {s:?}");
        }
    }

    /// Omitted keys default to no headers and an empty payload; key order does not matter.
    #[test]
    fn headers_and_payload_are_optional() {
        assert_eq!(message_from_json_line("{}"), Ok(Message::default()));
        assert_eq!(
            message_from_json_line(r#"{"payload":"aGk="}"#),
            Ok(Message::new(&b"hi"[..]))
        );
        assert_eq!(
            message_from_json_line(r#"{"headers":[{"name":"a","type":"int","value":5}]}"#),
            Ok(Message::default().with_header("a", 5i32))
        );
        // Key order and whitespace do not matter.
        assert_eq!(
            message_from_json_line(
                r#" { "payload" : "" , "headers" : [ { "value" : 1 , "type" : "byte" , "name" : "n" } ] } "#
            ),
            Ok(Message::default().with_header("n", 1i8))
        );
    }

    /// Uuids are accepted in upper case and written back in lower case.
    #[test]
    fn accepts_uuids_in_either_case() {
        let lower = r#"{"headers":[{"name":"u","type":"uuid","value":"abcdef01-2345-6789-abcd-ef0123456789"}]}"#;
        let upper = lower.to_uppercase().replace("HEADERS", "headers");
        let upper = upper
            .replace("\"NAME\"", "\"name\"")
            .replace("\"TYPE\"", "\"type\"")
            .replace("\"VALUE\"", "\"value\"")
            .replace("\"UUID\"", "\"uuid\"")
            .replace("\"U\"", "\"u\"");
        let a = message_from_json_line(lower).expect("lowercase parses");
        let b = message_from_json_line(&upper).expect("uppercase parses");
        assert_eq!(a, b);
        assert!(message_to_json_line(&b).contains("abcdef01-2345-6789-abcd-ef0123456789"));
    }

    /// Parses a message with one header of this type and value (written as JSON) and returns the
    /// error.
    fn header_error(type_name: &str, value: &str) -> String {
        let line = format!(
            r#"{{"headers":[{{"name":"h","type":"{type_name}","value":{value}}}],"payload":""}}"#
        );
        match message_from_json_line(&line) {
            Ok(msg) => panic!("{type_name} {value} was accepted as {msg:?}"),
            Err(e) => e,
        }
    }

    /// Each integer type accepts its extremes and rejects one beyond them.
    #[test]
    fn integer_ranges_are_checked() {
        for (ty, ok, bad) in [
            ("byte", ["-128", "127"], ["-129", "128"]),
            ("short", ["-32768", "32767"], ["-32769", "32768"]),
            (
                "int",
                ["-2147483648", "2147483647"],
                ["-2147483649", "2147483648"],
            ),
            (
                "long",
                ["-9223372036854775808", "9223372036854775807"],
                ["-9223372036854775809", "9223372036854775808"],
            ),
            (
                "timestamp",
                ["-9223372036854775808", "9223372036854775807"],
                ["-9223372036854775809", "18446744073709551616"],
            ),
        ] {
            for v in ok {
                let line = format!(r#"{{"headers":[{{"name":"h","type":"{ty}","value":{v}}}]}}"#);
                let msg = message_from_json_line(&line).expect("in range");
                assert!(message_to_json_line(&msg).contains(&format!("\"value\":{v}}}")));
            }
            for v in bad {
                let err = header_error(ty, v);
                assert!(err.starts_with("headers[0].value: "), "{err}");
                assert!(err.contains(&format!("out of range for {ty}")), "{err}");
            }
        }
    }

    /// A value of the wrong JSON kind or shape for its type is rejected.
    #[test]
    fn values_must_match_their_type() {
        for (ty, value, wanted) in [
            ("bool", "1", "expected true or false"),
            ("bool", "\"true\"", "expected true or false"),
            ("byte", "1.5", "expected an integer"),
            ("int", "1e3", "expected an integer"),
            ("int", "\"7\"", "expected an integer"),
            ("long", "null", "expected an integer, found null"),
            ("string", "5", "expected a string"),
            ("bytes", "[1]", "expected a base64 string"),
            ("bytes", "\"aGk\"", "invalid base64"),
            ("bytes", "\"aG k=\"", "invalid base64"),
            ("bytes", "\"aGk-\"", "invalid base64"),
            (
                "uuid",
                "\"123e4567e89b12d3a456426614174000\"",
                "invalid uuid",
            ),
            (
                "uuid",
                "\"123e4567-e89b-12d3-a456-42661417400g\"",
                "invalid uuid",
            ),
            (
                "uuid",
                "\"123e4567-e89b-12d3-a456-4266141740000\"",
                "invalid uuid",
            ),
            (
                "uuid",
                "\"{23e4567-e89b-12d3-a456-42661417400}\"",
                "invalid uuid",
            ),
            (
                "uuid",
                "\"+23e4567-e89b-12d3-a456-426614174000\"",
                "invalid uuid",
            ),
            (
                "uuid",
                "\"123e4567-e89b-12d3-a456-42661417400\u{e9}\"",
                "invalid uuid",
            ),
            ("uuid", "17", "expected a uuid string"),
        ] {
            let err = header_error(ty, value);
            assert!(err.starts_with("headers[0].value: "), "{ty} {value}: {err}");
            assert!(err.contains(wanted), "{ty} {value}: {err}");
        }
    }

    /// Type names are exact and case-sensitive.
    #[test]
    fn rejects_unknown_types() {
        for ty in ["Bool", "string ", "uint", "", "float"] {
            let err = header_error(ty, "1");
            assert!(err.starts_with("headers[0].type: unknown type"), "{err}");
        }
        let err = header_error("int\", \"x\": \"y", "1");
        assert!(err.contains("unknown key \"x\""), "{err}");
    }

    /// Invalid JSON, unknown or missing keys and wrong kinds are rejected, with a path.
    #[test]
    fn rejects_bad_structure() {
        for (line, wanted) in [
            ("", "invalid JSON at column 0: EOF while parsing a value"),
            ("{", "invalid JSON"),
            (
                "{\"headers\":[]} x",
                "invalid JSON at column 16: trailing characters",
            ),
            (
                "[]",
                "expected a JSON object with \"headers\" and \"payload\", found an array",
            ),
            ("null", "found null"),
            ("\"hi\"", "found the string \"hi\""),
            (
                r#"{"headers":[],"payload":"","extra":1}"#,
                "unknown key \"extra\"",
            ),
            (r#"{"Headers":[]}"#, "unknown key \"Headers\""),
            (
                r#"{"headers":{}}"#,
                "headers: expected an array, found an object",
            ),
            (
                r#"{"headers":null}"#,
                "headers: expected an array, found null",
            ),
            (
                r#"{"payload":null}"#,
                "payload: expected a base64 string, found null",
            ),
            (r#"{"payload":"aGk"}"#, "payload: invalid base64"),
            (r#"{"headers":[1]}"#, "headers[0]: expected an object"),
            (
                r#"{"headers":[{"name":"a","type":"int","value":1},{"type":"int","value":1}]}"#,
                "headers[1]: missing \"name\"",
            ),
            (
                r#"{"headers":[{"name":"a","value":1}]}"#,
                "headers[0]: missing \"type\"",
            ),
            (
                r#"{"headers":[{"name":"a","type":"int"}]}"#,
                "headers[0]: missing \"value\"",
            ),
            (
                r#"{"headers":[{"name":"a","type":"int","value":1,"comment":""}]}"#,
                "headers[0]: unknown key \"comment\"",
            ),
            (
                r#"{"headers":[{"name":1,"type":"int","value":1}]}"#,
                "headers[0].name: expected a string, found the number 1",
            ),
            (
                r#"{"headers":[{"name":"a","type":4,"value":1}]}"#,
                "headers[0].type: expected a string",
            ),
        ] {
            match message_from_json_line(line) {
                Ok(msg) => panic!("{line} was accepted as {msg:?}"),
                Err(err) => assert!(err.contains(wanted), "{line}: {err}"),
            }
        }
    }

    /// Name lengths are the encoder's business, so its error kind reaches the user.
    #[test]
    fn leaves_name_checks_to_the_encoder() {
        // An empty name parses; the encoder rejects it with its own error kind.
        let msg = message_from_json_line(r#"{"headers":[{"name":"","type":"bool","value":true}]}"#)
            .expect("parses");
        let err = msg
            .encode(&mut bytes::BytesMut::new())
            .expect_err("rejected");
        assert_eq!(err.kind(), "invalid_header_name_length");
    }

    /// The format's type names are the core's `HeaderValue::type_name`s.
    #[test]
    fn type_names_match_the_core() {
        let values = [
            HeaderValue::Bool(true),
            HeaderValue::Byte(0),
            HeaderValue::Short(0),
            HeaderValue::Int(0),
            HeaderValue::Long(0),
            HeaderValue::Bytes(Bytes::new()),
            HeaderValue::from(""),
            HeaderValue::Timestamp(0),
            HeaderValue::Uuid([0; 16]),
        ];
        let names: Vec<&str> = values.iter().map(HeaderValue::type_name).collect();
        assert_eq!(names, TYPE_NAMES);
    }
}
