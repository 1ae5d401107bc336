//! The `evs` binary, run as a real process.

use bytes::{Bytes, BytesMut};
use eventstream::frame::{HeaderValue, Message};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The committed sample capture.
const SAMPLE_EVS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/transcript.evs");
/// The committed decoding of the sample capture.
const SAMPLE_JSONL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/transcript.jsonl");

/// A command for the `evs` binary under test.
fn evs_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_evs"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `evs` with these arguments and this standard input, and waits for it.
fn evs(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = evs_command(args).spawn().expect("evs starts");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    // Write from another thread so that a large output cannot deadlock the test.
    let writer = thread::spawn(move || {
        // evs may exit before reading everything (on an error); that is not a test failure.
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("evs runs");
    writer.join().expect("the writer thread does not panic");
    output
}

/// The sample capture's bytes.
fn sample_evs() -> Vec<u8> {
    std::fs::read(SAMPLE_EVS).expect("the sample capture exists")
}

/// The sample capture's JSON Lines.
fn sample_jsonl() -> String {
    std::fs::read_to_string(SAMPLE_JSONL).expect("the sample JSON Lines exist")
}

/// A path for a scratch file of this test, in Cargo's temporary directory for integration tests.
fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("evs-cli-{name}"));
    std::fs::write(&path, contents).expect("the scratch file is written");
    path
}

/// Standard output as text.
fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).expect("stdout is UTF-8")
}

/// Standard error as text.
fn stderr(output: &Output) -> &str {
    std::str::from_utf8(&output.stderr).expect("stderr is UTF-8")
}

/// Asserts a successful run with nothing on standard error.
fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "status {:?}, stderr {}",
        output.status,
        stderr(output)
    );
    assert_eq!(stderr(output), "");
}

/// Asserts exit status 1 and exactly one line on standard error, starting with `prefix`.
fn assert_failure(output: &Output, prefix: &str) {
    assert_eq!(output.status.code(), Some(1), "stderr {}", stderr(output));
    let err = stderr(output);
    assert!(
        err.starts_with(prefix),
        "stderr {err:?} should start with {prefix:?}"
    );
    assert!(
        err.ends_with('\n') && err.lines().count() == 1,
        "one line: {err:?}"
    );
}

/// The start offsets of the frames of a stream, and its end.
fn frame_offsets(wire: &[u8]) -> Vec<usize> {
    let mut offsets = vec![0];
    let mut at = 0;
    while at < wire.len() {
        let len = u32::from_be_bytes(wire[at..at + 4].try_into().expect("4 bytes"));
        at += len as usize;
        offsets.push(at);
    }
    assert_eq!(at, wire.len());
    offsets
}

/// The first `n` lines of some JSON Lines, each with its newline.
fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).map(|l| format!("{l}\n")).collect()
}

/// Encodes messages into one stream.
fn wire(messages: &[Message]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for msg in messages {
        msg.encode(&mut buf).expect("the test message encodes");
    }
    buf.to_vec()
}

/// Messages that use every header type with edge values.
fn edge_messages() -> Vec<Message> {
    vec![
        Message::new(Bytes::new())
            .with_header("t", true)
            .with_header("f", false)
            .with_header("byte-min", i8::MIN)
            .with_header("byte-max", i8::MAX)
            .with_header("short-min", i16::MIN)
            .with_header("short-max", i16::MAX)
            .with_header("int-min", i32::MIN)
            .with_header("int-max", i32::MAX)
            .with_header("long-min", i64::MIN)
            .with_header("long-max", i64::MAX)
            .with_header("ts-min", HeaderValue::Timestamp(i64::MIN))
            .with_header("ts-max", HeaderValue::Timestamp(i64::MAX))
            .with_header("empty-string", "")
            .with_header("empty-bytes", Bytes::new())
            .with_header(
                "non-ascii",
                "h\u{e9}llo w\u{f6}rld \u{65e5}\u{672c} \u{1F600}",
            )
            .with_header("control", "\"quoted\"\t\\\n\u{0}\u{1f}")
            .with_header("n".repeat(255), "a 255-byte name")
            .with_header("uuid-zero", [0u8; 16])
            .with_header("uuid-ff", [0xffu8; 16]),
        Message::new(vec![0u8, 1, 2, 253, 254, 255])
            .with_header("big-bytes", Bytes::from(vec![0xa5u8; 32_767]))
            .with_header("big-string", "s".repeat(32_767))
            .with_header("repeated", 1i32)
            .with_header("repeated", 2i32),
        Message::new((0..=255u8).cycle().take(300_000).collect::<Vec<u8>>()),
        Message::default(),
    ]
}

/// Decoding the sample capture prints exactly the committed JSON Lines.
#[test]
fn decode_of_the_sample_prints_the_committed_lines() {
    let output = evs(&["decode", SAMPLE_EVS], b"");
    assert_success(&output);
    assert_eq!(stdout(&output), sample_jsonl());
}

/// The committed capture is what `evs encode` makes of the committed lines.
#[test]
fn the_committed_sample_is_the_encoding_of_its_lines() {
    let output = evs(&["encode", SAMPLE_JSONL], b"");
    assert_success(&output);
    assert!(
        output.stdout == sample_evs(),
        "cli/samples/transcript.evs is stale: regenerate it with \
         `cargo run --bin evs -- encode cli/samples/transcript.jsonl > cli/samples/transcript.evs`"
    );
}

/// `evs decode | evs encode` reproduces the sample, reading standard input.
#[test]
fn decode_then_encode_gives_back_the_sample_byte_for_byte() {
    let decoded = evs(&["decode"], &sample_evs());
    assert_success(&decoded);
    let encoded = evs(&["encode"], &decoded.stdout);
    assert_success(&encoded);
    assert!(encoded.stdout == sample_evs());
}

/// Every header type with edge values survives `evs decode | evs encode` byte for byte.
#[test]
fn decode_then_encode_round_trips_edge_values_byte_for_byte() {
    let original = wire(&edge_messages());
    let path = scratch("edge.evs", &original);
    let decoded = evs(&["decode", path.to_str().expect("a UTF-8 path")], b"");
    assert_success(&decoded);
    let text = stdout(&decoded);
    assert_eq!(text.lines().count(), 4);
    for needle in [
        r#"{"name":"long-min","type":"long","value":-9223372036854775808}"#,
        r#"{"name":"long-max","type":"long","value":9223372036854775807}"#,
        r#"{"name":"ts-min","type":"timestamp","value":-9223372036854775808}"#,
        r#"{"name":"ts-max","type":"timestamp","value":9223372036854775807}"#,
        r#"{"name":"empty-string","type":"string","value":""}"#,
        r#"{"name":"empty-bytes","type":"bytes","value":""}"#,
        "{\"name\":\"non-ascii\",\"type\":\"string\",\"value\":\"h\u{e9}llo w\u{f6}rld \u{65e5}\u{672c} \u{1F600}\"}",
        r#"{"name":"control","type":"string","value":"\"quoted\"\t\\\n\u0000\u001f"}"#,
        r#"{"name":"uuid-ff","type":"uuid","value":"ffffffff-ffff-ffff-ffff-ffffffffffff"}"#,
        r#"{"name":"repeated","type":"int","value":1},{"name":"repeated","type":"int","value":2}"#,
        r#"{"headers":[],"payload":""}"#,
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    let encoded = evs(&["encode", "-"], &decoded.stdout);
    assert_success(&encoded);
    assert!(encoded.stdout == original, "the round trip changed bytes");
}

/// `evs encode | evs decode` gives back canonical JSON Lines unchanged.
#[test]
fn encode_then_decode_gives_back_the_lines() {
    let lines = sample_jsonl();
    let encoded = evs(&["encode"], lines.as_bytes());
    assert_success(&encoded);
    let decoded = evs(&["decode", "-"], &encoded.stdout);
    assert_success(&decoded);
    assert_eq!(stdout(&decoded), lines);
}

/// Omitted keys, blank lines, CRLF, spacing and upper-case uuids are accepted.
#[test]
fn encode_accepts_friendly_input_and_decode_prints_it_canonically() {
    let input = concat!(
        "\n",
        "{\"payload\":\"aGk=\"}\r\n",
        "   \n",
        "{ \"headers\" : [ {\"value\":\"0F8FAD5B-D9CB-469F-A165-70867728950E\",\"type\":\"uuid\",\"name\":\"id\"} ] }\n",
        "{}"
    );
    let encoded = evs(&["encode"], input.as_bytes());
    assert_success(&encoded);
    let decoded = evs(&["decode"], &encoded.stdout);
    assert_success(&decoded);
    assert_eq!(
        stdout(&decoded),
        concat!(
            "{\"headers\":[],\"payload\":\"aGk=\"}\n",
            "{\"headers\":[{\"name\":\"id\",\"type\":\"uuid\",\"value\":\"0f8fad5b-d9cb-469f-a165-70867728950e\"}],\"payload\":\"\"}\n",
            "{\"headers\":[],\"payload\":\"\"}\n",
        )
    );
}

/// A stream cut mid-frame prints the earlier messages, then `error: truncated`, exit 1.
#[test]
fn a_truncated_stream_prints_the_messages_before_it_then_fails() {
    let wire = sample_evs();
    let offsets = frame_offsets(&wire);
    // Cut in the middle of the fourth frame, and in the middle of the fourth frame's prelude.
    for cut in [(offsets[3] + offsets[4]) / 2, offsets[3] + 5] {
        let path = scratch(&format!("truncated-{cut}.evs"), &wire[..cut]);
        let output = evs(&["decode", path.to_str().expect("a UTF-8 path")], b"");
        assert_failure(&output, "error: truncated: ");
        assert_eq!(stdout(&output), first_lines(&sample_jsonl(), 3));
    }
}

/// A flipped bit is caught by the message or prelude checksum, after the earlier messages.
#[test]
fn a_corrupted_byte_is_a_checksum_error() {
    let wire = sample_evs();
    let offsets = frame_offsets(&wire);
    let lines = sample_jsonl();

    // A payload byte of the third frame.
    let mut corrupt = wire.clone();
    corrupt[offsets[3] - 6] ^= 0x20;
    let output = evs(&["decode"], &corrupt);
    assert_failure(&output, "error: message_checksum_mismatch: ");
    assert_eq!(stdout(&output), first_lines(&lines, 2));

    // A length byte of the second frame's prelude.
    let mut corrupt = wire.clone();
    corrupt[offsets[1] + 3] ^= 0x01;
    let output = evs(&["decode"], &corrupt);
    assert_failure(&output, "error: prelude_checksum_mismatch: ");
    assert_eq!(stdout(&output), first_lines(&lines, 1));
}

/// A bad line 3 is reported as `line 3` after the frames of lines 1 and 2.
#[test]
fn a_bad_json_line_names_its_number_after_writing_the_earlier_frames() {
    let lines = sample_jsonl();
    let good: Vec<&str> = lines.lines().take(2).collect();
    let input = format!(
        "{}\n{}\n{{\"headers\":[],\"payload\":\"aGk\"}}\n{}\n",
        good[0], good[1], good[0]
    );
    let output = evs(&["encode"], input.as_bytes());
    assert_failure(&output, "error: line 3: payload: invalid base64");
    let offsets = frame_offsets(&sample_evs());
    assert!(output.stdout == sample_evs()[..offsets[2]]);

    let input = format!("{}\n\n{{\"headers\":[],\"payload\":\"\"\n", good[0]);
    let output = evs(&["encode"], input.as_bytes());
    assert_failure(&output, "error: line 3: invalid JSON");
    assert!(output.stdout == sample_evs()[..offsets[1]]);
}

/// An encoder error names the line and the error's kind.
#[test]
fn a_message_the_encoder_rejects_names_its_line_and_kind() {
    let name = "n".repeat(256);
    let input = format!(
        "{{}}\n{{\"headers\":[{{\"name\":\"{name}\",\"type\":\"bool\",\"value\":true}}]}}\n"
    );
    let output = evs(&["encode"], input.as_bytes());
    assert_failure(&output, "error: line 2: invalid_header_name_length: ");
    assert!(output.stdout == wire(&[Message::default()]));
}

/// A file that cannot be opened is `error: io: <path>: ...`, exit 1.
#[test]
fn a_missing_file_is_an_io_error() {
    for sub in ["decode", "encode"] {
        let output = evs(&[sub, "/nonexistent/evs-test-input"], b"");
        assert_failure(&output, "error: io: /nonexistent/evs-test-input: ");
        assert!(output.stdout.is_empty());
    }
}

/// Usage errors exit 2 with an explanation on standard error.
#[test]
fn usage_errors_exit_with_status_2() {
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["decode", "a", "b"][..],
        &["encode", "--bogus"][..],
    ] {
        let output = evs(args, b"");
        assert_eq!(output.status.code(), Some(2), "evs {args:?}");
        assert!(!output.stderr.is_empty(), "evs {args:?} explains itself");
        assert!(output.stdout.is_empty());
    }
}

/// Every `--help` describes the format; `--version` prints the version.
#[test]
fn help_describes_the_format_and_version_works() {
    for args in [
        &["--help"][..],
        &["decode", "--help"][..],
        &["encode", "--help"][..],
    ] {
        let output = evs(args, b"");
        assert_success(&output);
        let text = stdout(&output);
        for needle in ["headers", "payload", "base64", "timestamp", "uuid"] {
            assert!(
                text.contains(needle),
                "evs {args:?} --help mentions {needle}"
            );
        }
    }
    let output = evs(&["encode", "--help"], b"");
    assert!(stdout(&output).contains("may be omitted"));
    let output = evs(&["--version"], b"");
    assert_success(&output);
    assert!(stdout(&output).starts_with("evs "));
}

/// No input, no output, success.
#[test]
fn empty_input_is_an_empty_stream() {
    for sub in ["decode", "encode"] {
        let output = evs(&[sub], b"");
        assert_success(&output);
        assert!(output.stdout.is_empty());
    }
}

/// A message is printed while standard input is still open: decoding streams.
#[test]
fn decode_prints_each_message_as_soon_as_it_arrives() {
    let mut child = evs_command(&["decode"]).spawn().expect("evs starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        let read = lines.read_line(&mut line).map(|_| line);
        // The receiver may have given up; then nobody cares.
        let _ = tx.send(read);
        // Drain the rest so that evs is never blocked on a full pipe.
        let _ = std::io::copy(&mut lines, &mut std::io::sink());
    });

    let first = Message::new(&b"{\"n\":1}"[..]).with_header(":event-type", "First");
    stdin
        .write_all(&wire(&[first]))
        .expect("evs reads its input");
    stdin.flush().expect("the pipe flushes");

    // stdin is still open: evs must print the message without waiting for the end of the input.
    let got = rx.recv_timeout(Duration::from_secs(10));
    if got.is_err() {
        // Do not let a stuck evs hang the test.
        let _ = child.kill();
    }
    drop(stdin);
    let status = child.wait().expect("evs exits");
    reader.join().expect("the reader thread does not panic");
    let line = match got {
        Ok(read) => read.expect("stdout is readable"),
        Err(_) => panic!("evs decode printed nothing within 10 s of receiving a whole frame"),
    };
    assert_eq!(
        line,
        "{\"headers\":[{\"name\":\":event-type\",\"type\":\"string\",\"value\":\"First\"}],\"payload\":\"eyJuIjoxfQ==\"}\n"
    );
    assert!(status.success());
}
