//! `evs serve`, `evs send` and `evs demo`, run as real processes over loopback: the mirror
//! driven by a client that is not ours (curl with HTTP/2 prior knowledge), by `evs send`, and
//! the demo.

use bytes::BytesMut;
use eventstream::frame::{FrameDecoder, HeaderValue, Message};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a process may take before the test counts as hung (a hang detector only).
const HANG: Duration = Duration::from_secs(20);

/// The environment variables `evs` reads credentials from, removed for every run.
const CREDENTIAL_VARS: [&str; 2] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];

/// A command for the `evs` binary under test.
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

/// A running `evs serve`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts `evs serve --listen 127.0.0.1:0` with these extra arguments and reads the address
    /// it prints.
    fn start(extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = evs_command(&args).spawn().expect("evs serve starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(HANG).expect("evs serve prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for a process with this standard input, failing the test if it hangs.
fn run(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command.spawn().expect("the process starts");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(HANG)
        .expect("the process finishes in time")
        .expect("the process runs")
}

/// Whether curl is installed and speaks HTTP/2.
fn curl_has_http2() -> bool {
    match Command::new("curl").arg("--version").output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.starts_with("Features:") && l.split_whitespace().any(|f| f == "HTTP2")),
        Err(_) => false,
    }
}

/// A file in the target directory's scratch space for this test.
fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("serve-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).expect("writes the scratch file");
    path
}

/// Every message of a byte stream; panics on a bad frame.
fn decode(wire: &[u8]) -> Vec<Message> {
    let mut decoder = FrameDecoder::new();
    decoder.handle_input(wire);
    let mut out = Vec::new();
    while let Some(m) = decoder.poll_message().expect("valid frames") {
        out.push(m);
    }
    decoder.finish().expect("no partial frame");
    out
}

/// The messages curl posts: an initial request, a simple event, one with headers and a JSON
/// payload, one with a binary payload, then the end frame.
fn messages() -> Vec<Message> {
    let event = |event_type: &str| {
        Message::default()
            .with_header(":message-type", "event")
            .with_header(":event-type", event_type.to_owned())
    };
    vec![
        event("initial-request")
            .with_header(":content-type", "application/json")
            .with_payload(&br#"{"name":"curl"}"#[..]),
        event("SimpleEvent"),
        event("NestedEvent")
            .with_header(":content-type", "application/json")
            .with_header("count", 3i32)
            .with_header("when", HeaderValue::Timestamp(1_700_000_000_000))
            .with_payload(&br#"{"values":[1,2,3]}"#[..]),
        event("BinaryEvent")
            .with_header(":content-type", "application/octet-stream")
            .with_payload((0..=255u8).collect::<Vec<u8>>()),
    ]
}

/// Sets a message's payload (the core has no builder method for it on `Message`).
trait WithPayload {
    /// The message with this payload.
    fn with_payload(self, payload: impl Into<bytes::Bytes>) -> Self;
}

impl WithPayload for Message {
    fn with_payload(mut self, payload: impl Into<bytes::Bytes>) -> Self {
        self.set_payload(payload);
        self
    }
}

/// `curl --http2-prior-knowledge` posts a file of frames to `evs serve` and gets the echo: the
/// initial request as the initial response, the events unchanged. Another content type is
/// answered 415, another method 405.
#[test]
fn evs_serve_echoes_a_curl_post() {
    if !curl_has_http2() {
        eprintln!("SKIPPED evs_serve_echoes_a_curl_post: curl is missing or lacks HTTP/2");
        return;
    }
    let server = Server::start(&[]);
    let sent = messages();
    let mut wire = BytesMut::new();
    for m in &sent {
        m.encode(&mut wire).expect("encodes");
    }
    Message::default().encode(&mut wire).expect("the end frame");
    let file = scratch("frames.evs", &wire);
    let url = format!("http://{}/mirror", server.addr);

    let mut curl = Command::new("curl");
    curl.args(["-sS", "--http2-prior-knowledge", "--fail"])
        .args(["-H", "content-type: application/vnd.amazon.eventstream"])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(&url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run(curl, b"");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut echoed = decode(&out.stdout);
    assert_eq!(echoed.len(), sent.len() + 1, "{echoed:?}");
    assert_eq!(
        echoed.pop(),
        Some(Message::default()),
        "the response ends with its end frame"
    );
    assert_eq!(
        echoed[0].header_str(":event-type"),
        Some("initial-response")
    );
    assert_eq!(echoed[0].payload(), sent[0].payload());
    assert_eq!(echoed[1..], sent[1..], "the events come back unchanged");

    // Requests without a body: the server answers before reading the body and then resets the
    // request side with NO_ERROR, as HTTP/2 allows, but curl 7.x takes that reset for a failure
    // when it comes while it is still uploading.
    for (extra, expected) in [
        (
            &["-X", "POST", "-H", "content-type: application/json"][..],
            "415",
        ),
        (&["-X", "GET"][..], "405"),
    ] {
        let mut curl = Command::new("curl");
        curl.args([
            "-sS",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args(extra)
        .arg(&url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let out = run(curl, b"");
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }
}

/// The signing options of the signed tests.
const SIGNING: [&str; 6] = [
    "--access-key-id",
    "AKIDEXAMPLE",
    "--region",
    "us-east-1",
    "--service",
    "demo",
];

/// `evs send` to `evs serve`, both signing: the initial response and the echoes are printed as
/// JSON Lines, and the stream ends cleanly.
#[test]
fn evs_send_streams_signed_events_through_evs_serve() {
    let mut serve_args = SIGNING.to_vec();
    serve_args.extend([
        "--secret-access-key",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    ]);
    let server = Server::start(&serve_args);
    let url = format!("http://{}/mirror", server.addr);
    let lines = concat!(
        r#"{"headers":[{"name":":event-type","type":"string","value":"Chunk"}],"payload":"aGk="}"#,
        "\n",
        r#"{"headers":[{"name":":event-type","type":"string","value":"Chunk"},{"name":"n","type":"int","value":2}],"payload":""}"#,
        "\n",
    );
    let mut args = vec!["send", url.as_str(), "--initial-request", r#"{"a":1}"#];
    args.extend(SIGNING);
    let mut send = evs_command(&args);
    send.env(
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    );
    let out = run(send, lines.as_bytes());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "evs send failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(printed.len(), 3, "{stdout}");
    assert!(printed[0].contains("initial-response"), "{stdout}");
    assert!(
        printed[0].contains(r#""payload":"eyJhIjoxfQ==""#),
        "{stdout}"
    );
    // The events come back unchanged, so their lines are the input's.
    assert_eq!(printed[1..], lines.lines().collect::<Vec<_>>()[..]);

    // With another secret the chain breaks at once: the server's error message is printed and
    // the exit status is 1.
    let mut send = evs_command(&args);
    send.env("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let out = run(send, lines.as_bytes());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: signature_mismatch: "),
        "{stderr}"
    );
}

/// `evs demo` runs the main job end to end and says the chain was verified.
#[test]
fn evs_demo_runs_end_to_end() {
    let out = run(evs_command(&["demo", "--events", "3"]), b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "evs demo failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("← initial-response"), "{stdout}");
    assert!(stdout.contains("#3"), "{stdout}");
    assert!(stdout.contains("events received   3 echoed"), "{stdout}");
    assert!(stdout.contains("events per second"), "{stdout}");
    assert!(stdout.contains("verified by the server"), "{stdout}");
}
