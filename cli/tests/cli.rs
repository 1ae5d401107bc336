//! The `evs` binary, run as a real process.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use eventstream::frame::{FrameDecoder, HeaderValue, Limits, Message};
use eventstream::sign::{Credentials, SigV4Signer, SigningParams, SigningTime};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The committed sample capture.
const SAMPLE_EVS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/transcript.evs");
/// The committed decoding of the sample capture.
const SAMPLE_JSONL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/transcript.jsonl");

/// The environment variables `evs` reads credentials from.
const CREDENTIAL_VARS: [&str; 2] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];

/// The seed signature of the test chains (the one of the SigV4 event signing example).
const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";
/// The signing time of the first test event, in seconds since the Unix epoch.
const TIME: i64 = 348_474_601;

/// A command for the `evs` binary under test, without credentials in its environment.
fn evs_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_evs"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in CREDENTIAL_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `evs` with these arguments and this standard input, and waits for it.
fn evs(args: &[&str], stdin: &[u8]) -> Output {
    run(evs_command(args), stdin)
}

/// Runs a command with this standard input, and waits for it.
fn run(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command.spawn().expect("evs starts");
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
    let path = "/nonexistent/evs-test-input";
    for args in [
        vec!["decode", path],
        vec!["encode", path],
        signing_args("sign", "secret", &["--time", "0", path]),
        signing_args("verify", "secret", &[path]),
    ] {
        let output = evs(&args, b"");
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
        &["sign"][..],
        &signing_args("sign", "secret", &[])[..],
        &signing_args("sign", "secret", &["--time", "soon"])[..],
        &signing_args("sign", "secret", &["--time", "0", "--time-step", "-1"])[..],
        &signing_args("verify", "secret", &["--time", "0"])[..],
        &["verify", "--region", "us-east-1", "--service", "demo"][..],
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
        &["sign", "--help"][..],
        &["verify", "--help"][..],
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
    for sub in ["sign", "verify"] {
        let output = evs(&[sub, "--help"], b"");
        let text = stdout(&output);
        for needle in [
            "--access-key-id",
            "--secret-access-key",
            "--region",
            "--service",
            "--seed-signature",
            "[env: AWS_ACCESS_KEY_ID]",
            "[env: AWS_SECRET_ACCESS_KEY]",
        ] {
            assert!(text.contains(needle), "evs {sub} --help mentions {needle}");
        }
    }
    let output = evs(&["sign", "--help"], b"");
    for needle in [
        "--time <EPOCH_SECONDS>",
        "--time-step",
        "[default: 1]",
        "--end",
    ] {
        assert!(
            stdout(&output).contains(needle),
            "evs sign --help mentions {needle}"
        );
    }
    let output = evs(&["verify", "--help"], b"");
    for needle in [
        "signature_mismatch",
        "missing_end_frame",
        "frame_after_end",
        "invalid_envelope",
        "truncated",
    ] {
        assert!(
            stdout(&output).contains(needle),
            "evs verify --help mentions {needle}"
        );
    }
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
    let output = evs(&signing_args("sign", "secret", &["--time", "0"]), b"");
    assert_success(&output);
    assert!(output.stdout.is_empty());
}

/// Starts `evs` with these arguments, writes `input` to it and keeps its standard input open;
/// returns the first `len` bytes it writes, which must come within 10 s. Then closes standard
/// input and returns the exit status too.
fn output_while_input_is_open(args: &[&str], input: &[u8], len: usize) -> (Vec<u8>, ExitStatus) {
    let mut child = evs_command(args).spawn().expect("evs starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut first = vec![0u8; len];
        let read = stdout.read_exact(&mut first).map(|()| first);
        // The receiver may have given up; then nobody cares.
        let _ = tx.send(read);
        // Drain the rest so that evs is never blocked on a full pipe.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    });

    stdin.write_all(input).expect("evs reads its input");
    stdin.flush().expect("the pipe flushes");

    // stdin is still open: evs must write without waiting for the end of the input.
    let got = rx.recv_timeout(Duration::from_secs(10));
    if got.is_err() {
        // Do not let a stuck evs hang the test.
        let _ = child.kill();
    }
    drop(stdin);
    let status = child.wait().expect("evs exits");
    reader.join().expect("the reader thread does not panic");
    match got {
        Ok(read) => (read.expect("stdout is readable"), status),
        Err(_) => panic!("evs {args:?} wrote nothing within 10 s of receiving its input"),
    }
}

/// A message is printed while standard input is still open: decoding streams.
#[test]
fn decode_prints_each_message_as_soon_as_it_arrives() {
    let first = Message::new(&b"{\"n\":1}"[..]).with_header(":event-type", "First");
    let expected = "{\"headers\":[{\"name\":\":event-type\",\"type\":\"string\",\"value\":\"First\"}],\"payload\":\"eyJuIjoxfQ==\"}\n";
    let (line, status) = output_while_input_is_open(&["decode"], &wire(&[first]), expected.len());
    assert_eq!(String::from_utf8(line).expect("UTF-8"), expected);
    assert!(status.success());
}

/// The arguments of `evs <sub>` with the test credentials (secret `secret`), region, service and
/// seed, then `extra`.
fn signing_args<'a>(sub: &'a str, secret: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        sub,
        "--access-key-id",
        "access",
        "--secret-access-key",
        secret,
        "--region",
        "us-east-1",
        "--service",
        "demo",
        "--seed-signature",
        SEED,
    ];
    args.extend_from_slice(extra);
    args
}

/// `TIME` as an argument.
fn time_arg() -> String {
    TIME.to_string()
}

/// `evs sign --time TIME` of the sample lines, with `extra` arguments; must succeed.
fn sign_sample(extra: &[&str]) -> Vec<u8> {
    let time = time_arg();
    let mut rest = vec!["--time", time.as_str()];
    rest.extend_from_slice(extra);
    let output = evs(
        &signing_args("sign", "secret", &rest),
        sample_jsonl().as_bytes(),
    );
    assert_success(&output);
    output.stdout
}

/// `evs verify` with the test credentials and secret `secret`.
fn verify(stdin: &[u8]) -> Output {
    evs(&signing_args("verify", "secret", &[]), stdin)
}

/// The messages of a stream of frames.
fn messages(wire: &[u8]) -> Vec<Message> {
    let mut decoder = FrameDecoder::new();
    decoder.handle_input(wire);
    let mut out = Vec::new();
    while let Some(msg) = decoder.poll_message().expect("valid frames") {
        out.push(msg);
    }
    decoder.handle_end_of_input().expect("whole frames");
    out
}

/// Recomputes the message CRC of the frame at the start of `frame` (the last 4 bytes of its
/// declared length) after its bytes were changed, so that the frame layer accepts it again.
fn fix_message_crc(frame: &mut [u8]) {
    let len = u32::from_be_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
    let crc = crc32fast::hash(&frame[..len - 4]);
    frame[len - 4..len].copy_from_slice(&crc.to_be_bytes());
}

/// Where the payload of the frame at the start of `frame` begins: after the prelude and headers.
fn payload_offset(frame: &[u8]) -> usize {
    12 + u32::from_be_bytes(frame[4..8].try_into().expect("4 bytes")) as usize
}

/// `evs sign --end | evs verify`, through a real pipe between the two processes, gives back the
/// lines.
#[test]
fn sign_then_verify_gives_back_the_lines() {
    let time = time_arg();
    let mut sign = evs_command(&signing_args("sign", "secret", &["--time", &time, "--end"]));
    let mut signer = sign.spawn().expect("evs sign starts");
    let mut verify = evs_command(&signing_args("verify", "secret", &["-"]));
    verify.stdin(Stdio::from(signer.stdout.take().expect("stdout is piped")));
    let verifier = verify.spawn().expect("evs verify starts");

    let mut stdin = signer.stdin.take().expect("stdin is piped");
    let lines = sample_jsonl();
    let writer = thread::spawn(move || stdin.write_all(lines.as_bytes()));
    let verified = verifier.wait_with_output().expect("evs verify runs");
    let signed = signer.wait_with_output().expect("evs sign runs");
    writer
        .join()
        .expect("the writer thread does not panic")
        .expect("evs sign reads its input");
    assert_success(&signed);
    assert_success(&verified);
    assert_eq!(stdout(&verified), sample_jsonl());
}

/// Each envelope carries `:date` (`--time + i × --time-step`, in milliseconds) and a 32-byte
/// `:chunk-signature`, and its payload is the encoded message; the end frame comes last, one step
/// later, with an empty payload. The bytes are those of the core's `SigV4Signer`, and the same on
/// every run.
#[test]
fn signed_envelopes_carry_the_date_the_signature_and_the_message() {
    for (step, extra) in [
        (1, &[][..]),
        (0, &["--time-step", "0"][..]),
        (90_000, &["--time-step", "90000"][..]),
    ] {
        let mut args = extra.to_vec();
        args.push("--end");
        let signed = sign_sample(&args);
        let decoded = evs(&["decode"], &signed);
        assert_success(&decoded);
        let lines = sample_jsonl();
        let count = lines.lines().count();
        let envelopes: Vec<Value> = stdout(&decoded)
            .lines()
            .map(|l| serde_json::from_str(l).expect("evs decode writes JSON"))
            .collect();
        assert_eq!(
            envelopes.len(),
            count + 1,
            "one envelope per line, and the end"
        );

        let mut inner = Vec::new();
        for (i, envelope) in envelopes.iter().enumerate() {
            let headers = envelope["headers"].as_array().expect("headers");
            assert_eq!(headers.len(), 2, "envelope {i}");
            assert_eq!(headers[0]["name"], ":date");
            assert_eq!(headers[0]["type"], "timestamp");
            assert_eq!(
                headers[0]["value"].as_i64(),
                Some((TIME + i as i64 * step) * 1000),
                "step {step}, envelope {i}"
            );
            assert_eq!(headers[1]["name"], ":chunk-signature");
            assert_eq!(headers[1]["type"], "bytes");
            let signature = STANDARD
                .decode(headers[1]["value"].as_str().expect("base64"))
                .expect("base64");
            assert_eq!(signature.len(), 32);
            let payload = STANDARD
                .decode(envelope["payload"].as_str().expect("base64"))
                .expect("base64");
            assert_eq!(
                payload.is_empty(),
                i == count,
                "only the end frame is empty"
            );
            inner.extend_from_slice(&payload);
        }
        // The payloads, concatenated, are the sample stream: they decode to the original lines.
        assert!(inner == sample_evs());
        let decoded = evs(&["decode"], &inner);
        assert_success(&decoded);
        assert_eq!(stdout(&decoded), lines);

        // The same bytes as the core's signer, and on a second run.
        let params = SigningParams::new(Credentials::new("access", "secret"), "us-east-1", "demo");
        let mut signer = SigV4Signer::new(params, SEED);
        let at = |i: usize| SigningTime::from_unix_seconds(TIME + i as i64 * step).expect("t");
        let mut expected = BytesMut::new();
        for (i, msg) in messages(&sample_evs()).iter().enumerate() {
            let envelope = signer.sign(msg, &Limits::DEFAULT, at(i)).expect("signs");
            envelope.encode(&mut expected).expect("encodes");
        }
        let end = signer.sign_end(at(count)).expect("signs the end");
        end.encode(&mut expected).expect("encodes");
        assert!(
            signed == expected,
            "evs sign differs from SigV4Signer (step {step})"
        );
        if step == 1 {
            // A regression guard, not an external vector: the first signature as this
            // implementation computes it for the sample's first message (which the published
            // vector, signing a raw payload, cannot check).
            let first = STANDARD
                .decode(
                    envelopes[0]["headers"][1]["value"]
                        .as_str()
                        .expect("base64"),
                )
                .expect("base64");
            let hex: String = first.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(
                hex,
                "254ae70a703f77c146ad7c52afc039cb6e1782682703679e240640e2f2bcdbb9"
            );
        }
        assert!(sign_sample(&args) == signed, "evs sign is deterministic");
    }
}

/// Without `--end`, the same envelopes without the end frame.
#[test]
fn without_end_the_end_frame_is_left_out() {
    let open = sign_sample(&[]);
    let ended = sign_sample(&["--end"]);
    let offsets = frame_offsets(&ended);
    assert!(open[..] == ended[..offsets[offsets.len() - 2]]);
}

/// A flipped signature byte, or a flipped payload byte, with the CRC fixed so that the frame
/// layer accepts the envelope, is a broken chain after the earlier messages; without the CRC fix
/// the frame layer catches it first.
#[test]
fn a_tampered_envelope_is_a_signature_mismatch() {
    let signed = sign_sample(&["--end"]);
    let offsets = frame_offsets(&signed);
    let lines = sample_jsonl();
    let third = offsets[2];
    let sig_at = third + payload_offset(&signed[third..]) - 32;
    let payload_at = third + payload_offset(&signed[third..]) + 20;
    for at in [sig_at, sig_at + 31, payload_at] {
        let mut tampered = signed.clone();
        tampered[at] ^= 0x01;
        let unfixed = verify(&tampered);
        assert_failure(&unfixed, "error: message_checksum_mismatch: ");
        assert_eq!(stdout(&unfixed), first_lines(&lines, 2));

        fix_message_crc(&mut tampered[third..]);
        let output = verify(&tampered);
        assert_failure(
            &output,
            "error: signature_mismatch: signature mismatch at envelope 2",
        );
        assert_eq!(stdout(&output), first_lines(&lines, 2));
    }
}

/// Dropping, reordering or replaying an envelope breaks the chain at that point.
#[test]
fn dropped_or_reordered_envelopes_break_the_chain() {
    let signed = sign_sample(&["--end"]);
    let o = frame_offsets(&signed);
    let lines = sample_jsonl();
    let dropped = [&signed[..o[1]], &signed[o[2]..]].concat();
    let swapped = [
        &signed[..o[1]],
        &signed[o[2]..o[3]],
        &signed[o[1]..o[2]],
        &signed[o[3]..],
    ]
    .concat();
    let replayed = [&signed[..o[2]], &signed[o[1]..]].concat();
    for (name, wire, good) in [
        ("dropped", dropped, 1),
        ("swapped", swapped, 1),
        ("replayed", replayed, 2),
    ] {
        let output = verify(&wire);
        assert_failure(&output, "error: signature_mismatch: ");
        assert_eq!(stdout(&output), first_lines(&lines, good), "{name}");
    }
}

/// A stream without the end frame prints every message, then `missing_end_frame`.
#[test]
fn a_missing_end_frame_is_reported_after_the_messages() {
    let output = verify(&sign_sample(&[]));
    assert_failure(
        &output,
        "error: missing_end_frame: the input ended after 7 envelopes",
    );
    assert_eq!(stdout(&output), sample_jsonl());

    let output = verify(b"");
    assert_failure(&output, "error: missing_end_frame: ");
    assert!(output.stdout.is_empty());
}

/// Anything after the end frame is `frame_after_end`, after the messages.
#[test]
fn frames_after_the_end_frame_are_rejected() {
    let signed = sign_sample(&["--end"]);
    let offsets = frame_offsets(&signed);
    for extra in [&signed[..offsets[1]], &wire(&[Message::default()])[..]] {
        let output = verify(&[&signed[..], extra].concat());
        assert_failure(
            &output,
            "error: frame_after_end: envelope 8 arrived after the end frame",
        );
        assert_eq!(stdout(&output), sample_jsonl());
    }
}

/// A stream cut inside an envelope prints the messages before it, then `truncated`.
#[test]
fn a_truncated_signed_stream_is_a_frame_error() {
    let signed = sign_sample(&["--end"]);
    let offsets = frame_offsets(&signed);
    let output = verify(&signed[..offsets[3] + 40]);
    assert_failure(&output, "error: truncated: ");
    assert_eq!(stdout(&output), first_lines(&sample_jsonl(), 3));
}

/// Another secret, region, service or seed recomputes other signatures: the first envelope fails.
#[test]
fn other_signing_parameters_are_a_signature_mismatch() {
    let signed = sign_sample(&["--end"]);
    let other_seed = SEED.replace('e', "f");
    let output = evs(&signing_args("verify", "wrong", &[]), &signed);
    assert_failure(
        &output,
        "error: signature_mismatch: signature mismatch at envelope 0",
    );
    assert!(output.stdout.is_empty());
    for (flag, value) in [
        ("--region", "eu-west-1"),
        ("--service", "other"),
        ("--seed-signature", other_seed.as_str()),
        ("--access-key-id", "other"),
    ] {
        let mut args = signing_args("verify", "secret", &[]);
        let at = args.iter().position(|a| *a == flag).expect("the flag") + 1;
        args[at] = value;
        let output = evs(&args, &signed);
        if flag == "--access-key-id" {
            // The key id is not part of the signature: only the secret is.
            assert_success(&output);
        } else {
            assert_failure(&output, "error: signature_mismatch: ");
        }
    }
    // The seed is case-insensitive.
    let upper = SEED.to_ascii_uppercase();
    let mut args = signing_args("verify", "secret", &[]);
    let at = args.len() - 1;
    args[at] = &upper;
    assert_success(&evs(&args, &signed));
}

/// The credentials can come from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`; the options
/// take precedence over them.
#[test]
fn credentials_can_come_from_the_environment() {
    let time = time_arg();
    let rest = [
        "--region",
        "us-east-1",
        "--service",
        "demo",
        "--seed-signature",
        SEED,
    ];
    let mut sign = evs_command(&[&["sign", "--time", &time, "--end"][..], &rest].concat());
    sign.env("AWS_ACCESS_KEY_ID", "access")
        .env("AWS_SECRET_ACCESS_KEY", "secret");
    let signed = run(sign, sample_jsonl().as_bytes());
    assert_success(&signed);
    assert!(signed.stdout == sign_sample(&["--end"]));

    let mut verify = evs_command(&[&["verify"][..], &rest].concat());
    verify
        .env("AWS_ACCESS_KEY_ID", "access")
        .env("AWS_SECRET_ACCESS_KEY", "secret");
    let output = run(verify, &signed.stdout);
    assert_success(&output);
    assert_eq!(stdout(&output), sample_jsonl());

    // The option wins over the environment.
    let mut verify = evs_command(&signing_args("verify", "secret", &[]));
    verify.env("AWS_SECRET_ACCESS_KEY", "wrong");
    assert_success(&run(verify, &signed.stdout));
}

/// Without credentials, or with an empty one, the command is a usage error that names both the
/// options and the environment variables.
#[test]
fn missing_credentials_are_a_usage_error() {
    let rest = [
        "--region",
        "us-east-1",
        "--service",
        "demo",
        "--seed-signature",
        SEED,
        "--time",
        "0",
    ];
    let both = evs_command(&[&["sign"][..], &rest].concat());
    let mut no_secret = evs_command(&[&["sign"][..], &rest].concat());
    no_secret.env("AWS_ACCESS_KEY_ID", "access");
    let mut empty_key = evs_command(&[&["sign"][..], &rest].concat());
    empty_key
        .env("AWS_ACCESS_KEY_ID", "")
        .env("AWS_SECRET_ACCESS_KEY", "secret");
    let no_key = evs_command(&[
        "verify",
        "--secret-access-key",
        "secret",
        "--region",
        "us-east-1",
        "--service",
        "demo",
        "--seed-signature",
        SEED,
    ]);
    for (name, command, flag) in [
        ("both", both, "--secret-access-key"),
        ("no secret", no_secret, "--secret-access-key"),
        ("empty key id", empty_key, "--access-key-id"),
        ("no key id", no_key, "--access-key-id"),
    ] {
        let output = run(command, b"{}\n");
        assert_eq!(output.status.code(), Some(2), "{name}: {}", stderr(&output));
        assert!(output.stdout.is_empty(), "{name}");
        let err = stderr(&output);
        for needle in [flag, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            assert!(err.contains(needle), "{name}: {err:?} mentions {needle}");
        }
    }
}

/// The secret appears nowhere: not in `--help`, not in usage errors, not in verification errors.
#[test]
fn the_secret_is_never_printed() {
    let secret = "-sEcReT/do-not-print+42";
    let signed = sign_sample(&["--end"]);
    let runs: Vec<(Vec<&str>, &[u8])> = vec![
        (vec!["sign", "--help"], b""),
        (vec!["verify", "--help"], b""),
        (vec!["sign", "-h"], b""),
        (
            signing_args("sign", secret, &["--time", "99999999999999"]),
            b"",
        ),
        (
            signing_args("sign", secret, &["--time", "0", "--bogus"]),
            b"",
        ),
        (signing_args("verify", secret, &[]), &signed),
        (
            signing_args("sign", secret, &["--time", "0"]),
            b"{\"payload\":0}\n",
        ),
    ];
    for (args, input) in runs {
        for (from_env, mut command) in [(false, evs_command(&args)), (true, evs_command(&args))] {
            if from_env {
                command.env("AWS_SECRET_ACCESS_KEY", secret);
            }
            let output = run(command, input);
            for text in [stdout(&output), stderr(&output)] {
                assert!(
                    !text.contains(secret),
                    "evs {args:?} printed the secret: {text}"
                );
                assert!(
                    !text.contains("sEcReT"),
                    "evs {args:?} printed the secret: {text}"
                );
            }
        }
    }
    // A secret that starts with `-` is taken as the value, not as an unknown option.
    let output = evs(&signing_args("verify", secret, &[]), &signed);
    assert_failure(&output, "error: signature_mismatch: ");
}

/// A `--time` outside the years 0 to 9999 is a usage error; a later message or end frame whose
/// time leaves that range fails with `time_out_of_range` after the earlier frames.
#[test]
fn signing_times_out_of_range() {
    let output = evs(
        &signing_args("sign", "secret", &["--time", "253402300800"]),
        b"{}\n",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("outside the years 0 to 9999"));
    assert!(output.stdout.is_empty());

    let last_second = ["--time", "253402300799"];
    let output = evs(&signing_args("sign", "secret", &last_second), b"{}\n{}\n");
    assert_failure(&output, "error: line 2: time_out_of_range: ");
    assert_eq!(messages(&output.stdout).len(), 1);

    let output = evs(
        &signing_args("sign", "secret", &[&last_second[..], &["--end"]].concat()),
        b"{}\n",
    );
    assert_failure(&output, "error: time_out_of_range: the end frame: ");
    assert_eq!(messages(&output.stdout).len(), 1);

    // A step of 0 signs everything at the last second of year 9999; negative times work too.
    for time in [&last_second[..], &["--time", "-62167219200"][..]] {
        let args = [time, &["--time-step", "0", "--end"][..]].concat();
        let output = evs(&signing_args("sign", "secret", &args), b"{}\n{}\n");
        assert_success(&output);
        assert_success(&verify(&output.stdout));
    }
}

/// A bad line is reported by number after the frames of the lines before it.
#[test]
fn sign_reports_a_bad_line_after_the_earlier_frames() {
    let lines = sample_jsonl();
    let input = format!(
        "{}\n{{\"headers\":[],\"payload\":\"aGk\"}}\n",
        first_lines(&lines, 2)
    );
    let output = evs(
        &signing_args("sign", "secret", &["--time", "0"]),
        input.as_bytes(),
    );
    assert_failure(&output, "error: line 4: payload: invalid base64");
    let signed = messages(&output.stdout);
    assert_eq!(signed.len(), 2);
    let verified = verify(&output.stdout);
    assert_failure(&verified, "error: missing_end_frame: ");
    assert_eq!(stdout(&verified), first_lines(&lines, 2));
}

/// `evs sign` writes a frame, and `evs verify` a line, while standard input is still open.
#[test]
fn sign_and_verify_stream() {
    let lines = sample_jsonl();
    let first = first_lines(&lines, 1);
    let time = time_arg();
    let signed = sign_sample(&[]);
    let offsets = frame_offsets(&signed);

    let sign = signing_args("sign", "secret", &["--time", &time]);
    let (frame, status) = output_while_input_is_open(&sign, first.as_bytes(), offsets[1]);
    assert!(frame == signed[..offsets[1]]);
    assert!(status.success());

    let verify = signing_args("verify", "secret", &[]);
    let (line, status) = output_while_input_is_open(&verify, &signed[..offsets[1]], first.len());
    assert_eq!(String::from_utf8(line).expect("UTF-8"), first);
    assert_eq!(status.code(), Some(1), "no end frame");
}
