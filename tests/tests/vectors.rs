//! Table-driven runners for every conformance vector in `tests/vectors/frames/`.
//!
//! Each runner reads one set, checks every vector in it, and asserts at the end that it ran as
//! many vectors as the file holds, so none can be skipped silently. Nothing is printed on success;
//! a failure names the set and the vector (all failures of a set are reported together).
//!
//! What a vector asks for is checked the same way in every set:
//!
//! - `success` / `stream`: the bytes decode, whole, shared (`handle_bytes`), in 7-byte reads and
//!   one byte at a time, to exactly the expected messages (names, type codes, values, order,
//!   payload) and end cleanly; the lengths and CRCs the vector states match the raw bytes; both the
//!   decoded messages and the messages built from the expectation re-encode to exactly the input
//!   bytes; and every proper prefix of the input hands out only the frames it holds whole and is
//!   reported `truncated` by `finish()` unless it ends on a frame boundary.
//! - `failure`: the input fails, with no message handed out, with one of the accepted kinds, the
//!   same whole, in 7-byte reads and one byte at a time; a prelude-level error is reported as
//!   soon as the 12 prelude bytes are in.
//! - `empty_input`: no message, clean finish.

use std::panic::{catch_unwind, AssertUnwindSafe};

use base64::Engine as _;
use bytes::Bytes;
use eventstream::frame::{FrameDecoder, Header, HeaderValue, Limits, Message, PRELUDE_LEN};
use eventstream_testkit::hex::{from_hex, to_hex};
use eventstream_tests::{
    build_frame, decode_all, decode_chunked, decode_pieces, encode, encode_all, fix_message_crc,
    frames_dir, read_vector, read_vector_json, vectors_dir, Chunking, Piece,
};
use serde_json::Value;

type Check = Result<(), String>;

/// Like `assert!`, but returns the message as an `Err` so the runner can name the vector.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping
// ---------------------------------------------------------------------------------------------

/// Counts the vectors a runner checks and collects their failures.
struct Tally {
    set: &'static str,
    ran: usize,
    failures: Vec<String>,
}

impl Tally {
    fn new(set: &'static str) -> Self {
        Tally {
            set,
            ran: 0,
            failures: Vec::new(),
        }
    }

    /// Runs one vector's checks; a failure or a panic is recorded under the vector's name.
    fn run(&mut self, vector: &str, check: impl FnOnce() -> Check) {
        self.ran += 1;
        let outcome = catch_unwind(AssertUnwindSafe(check)).unwrap_or_else(|panic| {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {text}"))
        });
        if let Err(e) = outcome {
            self.failures.push(format!("{}/{vector}: {e}", self.set));
        }
    }

    /// Asserts that every vector passed and that `in_file` vectors were run.
    fn finish(self, in_file: usize) {
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} vectors failed:\n{}",
            self.set,
            self.failures.len(),
            self.ran,
            self.failures.join("\n")
        );
        assert_eq!(
            self.ran, in_file,
            "{}: ran {} vectors but the file holds {in_file}",
            self.set, self.ran
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Reading expectations
// ---------------------------------------------------------------------------------------------

/// How a set writes header values that are not numbers or booleans.
#[derive(Clone, Copy, Debug)]
enum Values {
    /// aws-sdk-go's `decoded/` files: base64 for byte arrays (6), strings (7, their UTF-8) and
    /// UUIDs (9).
    Base64,
    /// The JSON sets: lowercase hex for byte arrays (6) and UUIDs (9), plain text for strings (7).
    HexAndText,
}

fn field<'a>(obj: &'a Value, key: &str) -> Result<&'a Value, String> {
    obj.get(key).ok_or_else(|| format!("missing field `{key}`"))
}

fn str_field<'a>(obj: &'a Value, key: &str) -> Result<&'a str, String> {
    field(obj, key)?
        .as_str()
        .ok_or_else(|| format!("`{key}` is not a string"))
}

fn int<T: TryFrom<i64>>(value: &Value, what: &str) -> Result<T, String> {
    value
        .as_i64()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("{what}: {value} is not an integer of the right size"))
}

fn base64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64 {text:?}: {e}"))
}

/// The wire type code a vector's `type_name` stands for.
fn type_code_of_name(name: &str) -> Result<u8, String> {
    Ok(match name {
        "bool_true" => 0,
        "bool_false" => 1,
        "byte" => 2,
        "int16" => 3,
        "int32" => 4,
        "int64" => 5,
        "byte_array" => 6,
        "string" => 7,
        "timestamp" => 8,
        "uuid" => 9,
        other => return Err(format!("unknown type_name {other:?}")),
    })
}

/// The header value a vector expects, from its wire type code and JSON value.
fn expected_value(type_code: u8, value: &Value, values: Values) -> Result<HeaderValue, String> {
    let blob = |value: &Value| -> Result<Vec<u8>, String> {
        let text = value
            .as_str()
            .ok_or_else(|| format!("value {value} is not a string"))?;
        match values {
            Values::Base64 => base64(text),
            Values::HexAndText => from_hex(text),
        }
    };
    Ok(match type_code {
        0 | 1 => {
            let v = value
                .as_bool()
                .ok_or_else(|| format!("value {value} is not a bool"))?;
            ensure!(v == (type_code == 0), "type {type_code} with the value {v}");
            HeaderValue::Bool(v)
        }
        2 => HeaderValue::Byte(int(value, "byte")?),
        3 => HeaderValue::Short(int(value, "int16")?),
        4 => HeaderValue::Int(int(value, "int32")?),
        5 => HeaderValue::Long(int(value, "int64")?),
        6 => HeaderValue::Bytes(blob(value)?.into()),
        7 => match values {
            Values::Base64 => {
                let utf8 = String::from_utf8(blob(value)?).map_err(|e| e.to_string())?;
                HeaderValue::from(utf8)
            }
            Values::HexAndText => HeaderValue::from(
                value
                    .as_str()
                    .ok_or_else(|| format!("value {value} is not a string"))?,
            ),
        },
        8 => HeaderValue::Timestamp(int(value, "timestamp")?),
        9 => {
            let bytes = blob(value)?;
            HeaderValue::Uuid(
                bytes
                    .try_into()
                    .map_err(|b: Vec<u8>| format!("uuid of {} bytes", b.len()))?,
            )
        }
        other => return Err(format!("unknown type code {other}")),
    })
}

/// A header object `{name, type, [type_name], value}`.
fn expected_header(obj: &Value, values: Values) -> Result<Header, String> {
    let name = str_field(obj, "name")?;
    let type_code: u8 = int(field(obj, "type")?, "type")?;
    if let Some(type_name) = obj.get("type_name") {
        let named = type_code_of_name(type_name.as_str().unwrap_or_default())?;
        ensure!(
            named == type_code,
            "header {name:?}: type {type_code} but type_name {type_name}"
        );
    }
    let value = expected_value(type_code, field(obj, "value")?, values)?;
    ensure!(value.type_code() == type_code, "type code mapping is off");
    Ok(Header::new(name, value))
}

fn expected_headers(list: &Value, values: Values) -> Result<Vec<Header>, String> {
    list.as_array()
        .ok_or("`headers` is not an array")?
        .iter()
        .enumerate()
        .map(|(i, h)| expected_header(h, values).map_err(|e| format!("header {i}: {e}")))
        .collect()
}

/// The message a `decoded` object describes.
fn expected_message(decoded: &Value, values: Values) -> Result<Message, String> {
    let headers = expected_headers(field(decoded, "headers")?, values)?;
    let payload = match values {
        Values::Base64 => base64(str_field(decoded, "payload")?)?,
        Values::HexAndText => from_hex(str_field(decoded, "payload_hex")?)?,
    };
    Ok(Message::from_parts(headers, payload.into()))
}

/// Checks the lengths and CRCs a `decoded` object states (any it has) against the raw frame.
/// CRCs may be written signed (aws-sdk-go) or unsigned (the JSON sets): both are masked to 32 bits.
fn check_frame_fields(decoded: &Value, frame: &[u8], msg: &Message) -> Check {
    ensure!(frame.len() >= 16, "frame of {} bytes", frame.len());
    let word =
        |at: usize| u32::from_be_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]);
    let total = word(0) as usize;
    ensure!(
        total == frame.len(),
        "frame of {} bytes declares {total}",
        frame.len()
    );
    let actual = [
        ("total_length", word(0)),
        ("headers_length", word(4)),
        ("prelude_crc", word(8)),
        ("message_crc", word(total - 4)),
    ];
    for (key, actual) in actual {
        if let Some(v) = decoded.get(key) {
            let v: i64 = int(v, key)?;
            ensure!(
                (-(1i64 << 31)..(1i64 << 32)).contains(&v),
                "{key} {v} is not a 32-bit integer"
            );
            let want = (v & 0xffff_ffff) as u32;
            ensure!(
                want == actual,
                "{key}: expected {want:#010x}, the frame has {actual:#010x}"
            );
        }
    }
    ensure!(
        msg.encoded_len() == total,
        "encoded_len() {} != total_length {total}",
        msg.encoded_len()
    );
    ensure!(
        msg.headers_len() == word(4) as usize,
        "headers_len() {} != headers_length {}",
        msg.headers_len(),
        word(4)
    );
    Ok(())
}

/// Compares decoded messages with expected ones, header by header, naming the first difference.
fn check_messages(got: &[Message], want: &[Message]) -> Check {
    ensure!(
        got.len() == want.len(),
        "{} messages decoded, {} expected",
        got.len(),
        want.len()
    );
    for (m, (g, w)) in got.iter().zip(want).enumerate() {
        ensure!(
            g.headers().len() == w.headers().len(),
            "message {m}: {} headers, {} expected: {:?}",
            g.headers().len(),
            w.headers().len(),
            g.headers()
        );
        for (i, (gh, wh)) in g.headers().iter().zip(w.headers()).enumerate() {
            ensure!(
                gh.name() == wh.name(),
                "message {m} header {i}: name {:?}, expected {:?}",
                gh.name(),
                wh.name()
            );
            ensure!(
                gh.value().type_code() == wh.value().type_code(),
                "message {m} header {:?}: type {}, expected {}",
                gh.name(),
                gh.value().type_code(),
                wh.value().type_code()
            );
            ensure!(
                gh.value() == wh.value(),
                "message {m} header {:?}: value {:?}, expected {:?}",
                gh.name(),
                gh.value(),
                wh.value()
            );
        }
        ensure!(
            g.payload() == w.payload(),
            "message {m}: payload {}, expected {}",
            to_hex(g.payload()),
            to_hex(w.payload())
        );
        ensure!(g == w, "message {m}: {g:?} != {w:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Decoder profiles and error kinds
// ---------------------------------------------------------------------------------------------

/// How a set expects the decoder to be configured (its `decoder_profile`).
#[derive(Clone, Copy, Debug)]
struct Profile {
    limits: Limits,
    reject_duplicates: bool,
    /// `false` for a set whose source parses headers before it checks the message CRC.
    crc_before_headers: bool,
}

impl Profile {
    const DEFAULT: Profile = Profile {
        limits: Limits::DEFAULT,
        reject_duplicates: false,
        crc_before_headers: true,
    };

    fn of(file: &Value) -> Result<Profile, String> {
        let mut p = Profile::DEFAULT;
        let Some(profile) = file.get("decoder_profile") else {
            return Ok(p);
        };
        if let Some(v) = profile.get("reject_duplicate_headers") {
            p.reject_duplicates = v.as_bool().ok_or("reject_duplicate_headers not a bool")?;
        }
        if let Some(v) = profile.get("crc_before_headers") {
            p.crc_before_headers = v.as_bool().ok_or("crc_before_headers not a bool")?;
        }
        if let Some(v) = profile.get("max_headers_length") {
            p.limits = p.limits.with_max_headers_len(int(v, "max_headers_length")?);
        }
        if let Some(v) = profile.get("max_payload_length") {
            p.limits = p.limits.with_max_payload_len(int(v, "max_payload_length")?);
        }
        Ok(p)
    }

    fn decoder(&self) -> FrameDecoder {
        FrameDecoder::with_limits(self.limits).reject_duplicate_headers(self.reject_duplicates)
    }
}

/// Our kinds (`FrameError::kind`) for a kind of the README's taxonomy.
fn our_kind(theirs: &str) -> Result<&'static str, String> {
    Ok(match theirs {
        "Truncated" => "truncated",
        "PreludeChecksumMismatch" => "prelude_checksum_mismatch",
        "InvalidMessageLength" => "invalid_message_length",
        "InvalidHeadersLength" => "invalid_headers_length",
        "HeadersTooLong" => "headers_too_long",
        "PayloadTooLong" => "payload_too_long",
        // The decoder reports a string or byte array longer than 32,767 bytes as an invalid value.
        "HeaderValueTooLong" => "invalid_header_value",
        "TooManyHeaders" => "too_many_headers",
        "MessageChecksumMismatch" => "message_checksum_mismatch",
        "InvalidHeaderNameLength" => "invalid_header_name_length",
        "InvalidHeaderValueType" => "invalid_header_value_type",
        "InvalidHeaderValue" => "invalid_header_value",
        "InvalidUtf8" => "invalid_utf8",
        "DuplicateHeader" => "duplicate_header",
        other => return Err(format!("unknown error kind {other:?} in the vector")),
    })
}

/// Errors decided by the 12 prelude bytes alone.
const PRELUDE_KINDS: [&str; 5] = [
    "prelude_checksum_mismatch",
    "invalid_message_length",
    "invalid_headers_length",
    "headers_too_long",
    "payload_too_long",
];

/// Errors found while parsing the header block, after the message CRC.
const HEADER_KINDS: [&str; 4] = [
    "invalid_header_name_length",
    "invalid_header_value_type",
    "invalid_header_value",
    "invalid_utf8",
];

fn accepted_kinds(vector: &Value) -> Result<Vec<&'static str>, String> {
    let kinds = field(field(vector, "error")?, "accepted_kinds")?
        .as_array()
        .ok_or("accepted_kinds is not an array")?;
    ensure!(!kinds.is_empty(), "no accepted kinds");
    kinds
        .iter()
        .map(|k| our_kind(k.as_str().ok_or("a kind is not a string")?))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The checks shared by all sets
// ---------------------------------------------------------------------------------------------

/// Reads a vector's input: `encoded_hex`, `file` (relative to the set's JSON) or
/// `encoded_construction` (`prefix_hex + repeat_byte_hex * repeat_count + suffix_hex`, built in
/// memory). A vector with none of them (`empty_input`) has an empty input.
fn input_of(vector: &Value, set_dir: &str) -> Result<Bytes, String> {
    let bytes = if let Some(hex) = vector.get("encoded_hex") {
        from_hex(hex.as_str().ok_or("encoded_hex is not a string")?)?
    } else if let Some(file) = vector.get("file") {
        let file = file.as_str().ok_or("file is not a string")?;
        read_vector(&format!("{set_dir}/{file}"))
    } else if let Some(c) = vector.get("encoded_construction") {
        let repeat = from_hex(str_field(c, "repeat_byte_hex")?)?;
        let count: usize = int(field(c, "repeat_count")?, "repeat_count")?;
        let mut bytes = from_hex(str_field(c, "prefix_hex")?)?;
        bytes.reserve(repeat.len() * count + 8);
        for _ in 0..count {
            bytes.extend_from_slice(&repeat);
        }
        bytes.extend(from_hex(str_field(c, "suffix_hex")?)?);
        bytes
    } else {
        ensure!(
            vector.get("expect").and_then(Value::as_str) == Some("empty_input"),
            "no encoded_hex, file or encoded_construction"
        );
        Vec::new()
    };
    if let Some(len) = vector.get("encoded_length") {
        let len: usize = int(len, "encoded_length")?;
        ensure!(
            bytes.len() == len,
            "input of {} bytes, encoded_length says {len}",
            bytes.len()
        );
    }
    Ok(bytes.into())
}

/// The ways every input is fed: whole (copied), whole (shared), 7-byte reads (as the aws-c stream
/// test does), one byte at a time, and a mix of shared and copied pieces.
fn feeds(len: usize) -> Vec<Chunking> {
    let mut feeds = vec![Chunking::Whole, Chunking::WholeBytes, Chunking::fixed(7)];
    // Byte-at-a-time over the 24 MiB construction would only repeat the 7-byte run, slowly.
    if len <= 1 << 16 {
        feeds.push(Chunking::Ones);
        feeds.push(Chunking::Mixed(vec![
            (5, true),
            (1, false),
            (12, true),
            (3, false),
        ]));
    }
    feeds
}

/// `bytes` decode to exactly `want` (with `fields[i]` stating frame `i`'s lengths and CRCs) in
/// every feeding, and re-encode to exactly `bytes`; every proper prefix is truncated.
fn check_success(bytes: &Bytes, want: &[Message], fields: &[&Value], profile: &Profile) -> Check {
    for chunking in feeds(bytes.len()) {
        let got = decode_chunked(profile.decoder(), bytes, &chunking);
        ensure!(
            got.is_clean(),
            "fed {chunking:?}: failed with {:?} after {} messages",
            got.error,
            got.messages.len()
        );
        check_messages(&got.messages, want).map_err(|e| format!("fed {chunking:?}: {e}"))?;
    }

    // The frames' lengths and CRCs, frame by frame.
    let mut at = 0;
    let mut boundaries = vec![0];
    for (i, (msg, fields)) in want.iter().zip(fields).enumerate() {
        let end = at + msg.encoded_len();
        ensure!(end <= bytes.len(), "frame {i} runs past the input");
        check_frame_fields(fields, &bytes[at..end], msg).map_err(|e| format!("frame {i}: {e}"))?;
        boundaries.push(end);
        at = end;
    }
    ensure!(
        at == bytes.len(),
        "{} bytes left after the frames",
        bytes.len() - at
    );

    // Byte-identical re-encoding, of what was decoded and of what the vector describes.
    let decoded = decode_pieces(profile.decoder(), [Piece::Bytes(bytes.clone())]).messages;
    let reencoded = encode_all(&decoded);
    ensure!(
        reencoded == bytes,
        "re-encoding the decoded messages gives {}, not {}",
        to_hex(&reencoded),
        to_hex(bytes)
    );
    let built = encode_all(want);
    ensure!(
        built == bytes,
        "encoding the expected messages gives {}, not {}",
        to_hex(&built),
        to_hex(bytes)
    );

    // Every proper prefix: the whole frames it holds, then `truncated` unless it ends between
    // frames (a partial frame is only an error once the input is known to have ended).
    for cut in 0..bytes.len() {
        let got = decode_pieces(profile.decoder(), [Piece::Input(&bytes[..cut])]);
        let whole = boundaries.iter().filter(|&&b| b > 0 && b <= cut).count();
        ensure!(
            got.messages.len() == whole,
            "prefix of {cut} bytes: {} messages, expected {whole}",
            got.messages.len()
        );
        if boundaries.contains(&cut) {
            ensure!(got.is_clean(), "prefix of {cut} bytes: {:?}", got.error);
        } else {
            ensure!(
                got.kind() == Some("truncated") && got.failed_in_finish,
                "prefix of {cut} bytes: expected truncated from finish(), got {:?}",
                got.error
            );
        }
    }
    Ok(())
}

/// One decode of a failing input: no message may come out, and the kind must be the same
/// whichever way the bytes are fed.
fn failing_kind(bytes: &Bytes, profile: &Profile) -> Result<&'static str, String> {
    let mut kind = None;
    for chunking in feeds(bytes.len()) {
        let got = decode_chunked(profile.decoder(), bytes, &chunking);
        ensure!(
            got.messages.is_empty(),
            "fed {chunking:?}: {} messages handed out before the error",
            got.messages.len()
        );
        let k = got
            .kind()
            .ok_or_else(|| format!("fed {chunking:?}: decoded cleanly"))?;
        ensure!(
            kind.is_none_or(|first| first == k),
            "fed {chunking:?}: {k}, but {} fed otherwise",
            kind.unwrap_or_default()
        );
        kind = Some(k);
    }
    kind.ok_or_else(|| "no run".to_string())
}

/// `bytes` fail with one of `accepted`.
///
/// For a set whose source parses headers before checking the message CRC, a header-corruption
/// vector keeps the valid frame's old CRC, so this decoder (CRC first) rightly reports
/// `message_checksum_mismatch`. The check stays strict: the CRC is then recomputed over the
/// corrupted bytes and the header-level error must come out.
fn check_failure(bytes: &Bytes, accepted: &[&'static str], profile: &Profile) -> Check {
    let kind = failing_kind(bytes, profile)?;

    if accepted.iter().all(|k| PRELUDE_KINDS.contains(k)) {
        let head = decode_pieces(
            profile.decoder(),
            [Piece::Input(&bytes[..PRELUDE_LEN.min(bytes.len())])],
        );
        ensure!(
            head.error.is_some() && !head.failed_in_finish,
            "a prelude-level error must be reported from the 12 prelude bytes alone, got {:?}",
            head.error
        );
    }

    if accepted.contains(&kind) {
        return Ok(());
    }
    let header_level = accepted.iter().all(|k| HEADER_KINDS.contains(k));
    ensure!(
        !profile.crc_before_headers && header_level && kind == "message_checksum_mismatch",
        "failed with {kind}, expected one of {accepted:?}"
    );
    let mut fixed = bytes.to_vec();
    ensure!(
        fix_message_crc(&mut fixed),
        "no complete frame to fix the CRC of"
    );
    let fixed_kind = failing_kind(&Bytes::from(fixed), profile)
        .map_err(|e| format!("with the message CRC fixed: {e}"))?;
    ensure!(
        accepted.contains(&fixed_kind),
        "failed with {kind} (stale message CRC) and with {fixed_kind} once the CRC is fixed; \
         expected one of {accepted:?}"
    );
    Ok(())
}

/// Runs every vector of a JSON set (`smithy-rs/expectations.json`, `aws-c-event-stream.json`,
/// `botocore.json`).
fn run_json_set(set: &'static str, json: &str, set_dir: &str) -> usize {
    let file = read_vector_json(json);
    let profile = Profile::of(&file).unwrap_or_else(|e| panic!("{set}: decoder_profile: {e}"));
    let vectors = file["vectors"]
        .as_array()
        .unwrap_or_else(|| panic!("{set}: no vectors array"));
    let mut tally = Tally::new(set);
    for v in vectors {
        let name = v["name"].as_str().unwrap_or("(unnamed)");
        tally.run(name, || {
            let bytes = input_of(v, set_dir)?;
            match str_field(v, "expect")? {
                "success" => {
                    let decoded = field(v, "decoded")?;
                    let want = expected_message(decoded, Values::HexAndText)?;
                    check_success(&bytes, &[want], &[decoded], &profile)
                }
                "stream" => {
                    let frames = field(v, "decoded_frames")?
                        .as_array()
                        .ok_or("decoded_frames is not an array")?;
                    let want = frames
                        .iter()
                        .map(|f| expected_message(f, Values::HexAndText))
                        .collect::<Result<Vec<_>, _>>()?;
                    let fields: Vec<&Value> = frames.iter().collect();
                    check_success(&bytes, &want, &fields, &profile)
                }
                "failure" => check_failure(&bytes, &accepted_kinds(v)?, &profile),
                "empty_input" => {
                    ensure!(bytes.is_empty(), "empty_input with {} bytes", bytes.len());
                    check_success(&bytes, &[], &[], &profile)
                }
                other => Err(format!("unknown expect {other:?}")),
            }
        });
    }
    tally.finish(vectors.len());
    vectors.len()
}

// ---------------------------------------------------------------------------------------------
// The sets
// ---------------------------------------------------------------------------------------------

/// The file names in a folder of the aws-sdk-go set, sorted.
fn names_in(relative: &str) -> Vec<String> {
    let dir = vectors_dir().join(relative);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name")
        })
        .collect();
    names.sort();
    names
}

const SDK_GO: &str = "frames/aws-sdk-go";

#[test]
fn aws_sdk_go_positive() {
    let names = names_in(&format!("{SDK_GO}/encoded/positive"));
    assert_eq!(
        names,
        names_in(&format!("{SDK_GO}/decoded/positive")),
        "aws-sdk-go: encoded/positive and decoded/positive hold different names"
    );
    assert_eq!(
        names.len(),
        5,
        "aws-sdk-go: the README lists 5 positive vectors"
    );
    let mut tally = Tally::new("aws-sdk-go/positive");
    for name in &names {
        tally.run(name, || {
            let bytes = Bytes::from(read_vector(&format!("{SDK_GO}/encoded/positive/{name}")));
            let decoded = read_vector_json(&format!("{SDK_GO}/decoded/positive/{name}"));
            let want = expected_message(&decoded, Values::Base64)?;
            check_success(&bytes, &[want], &[&decoded], &Profile::DEFAULT)
        });
    }
    tally.finish(names.len());
}

#[test]
fn aws_sdk_go_negative() {
    let names = names_in(&format!("{SDK_GO}/encoded/negative"));
    assert_eq!(
        names,
        names_in(&format!("{SDK_GO}/decoded/negative")),
        "aws-sdk-go: encoded/negative and decoded/negative hold different names"
    );
    assert_eq!(
        names.len(),
        4,
        "aws-sdk-go: the README lists 4 negative vectors"
    );
    let mut tally = Tally::new("aws-sdk-go/negative");
    for name in &names {
        tally.run(name, || {
            let kind = match name.as_str() {
                "corrupted_header_len" | "corrupted_length" => "prelude_checksum_mismatch",
                "corrupted_headers" | "corrupted_payload" => "message_checksum_mismatch",
                other => return Err(format!("no expectation known for {other:?}")),
            };
            // The expectation file says the same in words: "Prelude checksum mismatch".
            let text = read_vector(&format!("{SDK_GO}/decoded/negative/{name}"));
            let text = String::from_utf8_lossy(&text)
                .trim()
                .to_lowercase()
                .replace(' ', "_");
            ensure!(
                text == kind,
                "the expectation file says {text:?}, the README {kind:?}"
            );
            let bytes = Bytes::from(read_vector(&format!("{SDK_GO}/encoded/negative/{name}")));
            check_failure(&bytes, &[kind], &Profile::DEFAULT)
        });
    }
    tally.finish(names.len());
}

#[test]
fn aws_sdk_go_header_values() {
    let file = read_vector_json(&format!("{SDK_GO}/header_values.json"));
    let vectors = file["vectors"]
        .as_array()
        .expect("aws-sdk-go header_values: vectors");
    assert_eq!(
        vectors.len(),
        10,
        "aws-sdk-go header_values: one vector per wire type"
    );
    let mut tally = Tally::new("aws-sdk-go/header_values");
    for v in vectors {
        let name = v["name"].as_str().unwrap_or("(unnamed)");
        tally.run(name, || {
            let encoded = from_hex(str_field(v, "encoded_hex")?)?;
            match str_field(v, "kind")? {
                "value" => check_header_value(v, &encoded),
                "block" => {
                    let want = expected_headers(field(v, "headers")?, Values::HexAndText)?;
                    let frame = Bytes::from(build_frame(&encoded, b""));
                    let want = Message::from_parts(want, Bytes::new());
                    check_success(&frame, &[want], &[&Value::Null], &Profile::DEFAULT)
                }
                "block_failure" => {
                    let frame = Bytes::from(build_frame(&encoded, b""));
                    check_failure(&frame, &accepted_kinds(v)?, &Profile::DEFAULT)
                }
                other => Err(format!("unknown kind {other:?}")),
            }
        });
    }
    tally.finish(vectors.len());
}

/// A `value` vector: the value alone (type code and value bytes) encodes to `encoded`, and a frame
/// built around it decodes back to the value.
fn check_header_value(v: &Value, encoded: &[u8]) -> Check {
    let type_code: u8 = int(field(v, "type")?, "type")?;
    let named = type_code_of_name(str_field(v, "type_name")?)?;
    ensure!(
        named == type_code,
        "type {type_code} but type_name says {named}"
    );
    let value = expected_value(type_code, field(v, "value")?, Values::HexAndText)?;
    ensure!(
        value.encoded_len() == encoded.len(),
        "encoded_len() {} for {} bytes",
        value.encoded_len(),
        encoded.len()
    );

    const NAME: &str = "value";
    let msg = Message::new(Bytes::new()).with_header(NAME, value.clone());
    let frame = encode(&msg);
    let block = &frame[PRELUDE_LEN..frame.len() - 4];
    ensure!(
        block.len() == 1 + NAME.len() + encoded.len(),
        "header block of {} bytes",
        block.len()
    );
    let value_bytes = &block[1 + NAME.len()..];
    ensure!(
        value_bytes == encoded,
        "encodes to {}, expected {}",
        to_hex(value_bytes),
        to_hex(encoded)
    );

    let mut block = vec![NAME.len() as u8];
    block.extend_from_slice(NAME.as_bytes());
    block.extend_from_slice(encoded);
    let built = Bytes::from(build_frame(&block, b""));
    check_success(&built, &[msg], &[&Value::Null], &Profile::DEFAULT)
}

#[test]
fn smithy_rs() {
    let n = run_json_set(
        "smithy-rs",
        "frames/smithy-rs/expectations.json",
        "frames/smithy-rs",
    );
    assert_eq!(
        n,
        3 + 8,
        "smithy-rs: the README lists 3 positive and 8 negative vectors"
    );
}

#[test]
fn aws_c_event_stream() {
    let n = run_json_set(
        "aws-c-event-stream",
        "frames/aws-c-event-stream.json",
        "frames",
    );
    assert_eq!(
        n,
        8 + 1 + 2,
        "aws-c-event-stream: the README lists 8 + 1 stream + 2 vectors"
    );
}

#[test]
fn botocore() {
    let file = read_vector_json("frames/botocore.json");
    let profile = Profile::of(&file).expect("botocore decoder_profile");
    assert!(
        profile.reject_duplicates,
        "botocore's profile rejects duplicate headers"
    );
    assert_eq!(
        profile.limits,
        Limits::DEFAULT,
        "the default limits are botocore's (headers 128 KiB, payload 24 MiB)"
    );
    let n = run_json_set("botocore", "frames/botocore.json", "frames");
    assert_eq!(
        n,
        9 + 7,
        "botocore: the README lists 9 positive and 7 negative vectors"
    );
}

/// Rejecting repeated names is botocore's policy, not the wire format's: the default decoder
/// decodes DUPLICATE_HEADER and keeps both headers, in order.
#[test]
fn botocore_duplicate_header_decodes_by_default() {
    let file = read_vector_json("frames/botocore.json");
    let v = file["vectors"]
        .as_array()
        .expect("botocore: vectors")
        .iter()
        .find(|v| v["name"] == "DUPLICATE_HEADER")
        .expect("botocore/DUPLICATE_HEADER is present");
    let bytes = input_of(v, "frames").expect("botocore/DUPLICATE_HEADER: input");
    // Both headers are int32 "asdf".
    let asdf = i32::from_be_bytes(*b"asdf");
    let want = Message::new(Bytes::new())
        .with_header("test", asdf)
        .with_header("test", asdf);
    check_success(&bytes, &[want], &[&Value::Null], &Profile::DEFAULT)
        .unwrap_or_else(|e| panic!("botocore/DUPLICATE_HEADER with the default decoder: {e}"));
    let got = decode_all(&bytes);
    let values: Vec<_> = got.messages[0].headers_named("test").cloned().collect();
    assert_eq!(
        values,
        [HeaderValue::Int(asdf), HeaderValue::Int(asdf)],
        "botocore/DUPLICATE_HEADER: both headers, in wire order"
    );
}

/// `SOURCES.md` names the source repository and commit of every JSON file, and the tests read
/// only the project's copy.
#[test]
fn sources_are_documented() {
    let sources = String::from_utf8(read_vector("SOURCES.md")).expect("SOURCES.md is UTF-8");
    assert!(vectors_dir().starts_with(env!("CARGO_MANIFEST_DIR")));
    assert!(frames_dir().starts_with(vectors_dir()));
    let mut jsons = Vec::new();
    for dir in [
        "frames",
        "frames/aws-sdk-go",
        "frames/smithy-rs",
        "sigv4-event",
    ] {
        for name in names_in(dir) {
            if name.ends_with(".json") {
                jsons.push(format!("{dir}/{name}"));
            }
        }
    }
    assert_eq!(
        jsons.len(),
        4 + 5,
        "4 frame sets with JSON and 5 signing chains"
    );
    for json in jsons {
        let source = &read_vector_json(&json)["source"];
        let repo = source["repo"]
            .as_str()
            .unwrap_or_else(|| panic!("{json}: source.repo"));
        let commit = source["commit"]
            .as_str()
            .unwrap_or_else(|| panic!("{json}: source.commit"));
        let commit = &commit[..40.min(commit.len())];
        for needle in [repo, commit, json.as_str()] {
            assert!(
                sources.contains(needle),
                "SOURCES.md does not mention {needle:?} ({json})"
            );
        }
    }
}
