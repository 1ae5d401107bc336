//! `evs serve --tls-cert --tls-key [--credentials]`, run as a real process with a CA made at test
//! time: curl (a client that is not ours) posts frames over TLS with ALPN h2 and gets the echo,
//! or a 403 naming the error's kind when the server verifies requests; `evs send` signs and
//! `evs serve` verifies over TLS; and every bad file (credentials, certificate, key) is one
//! error line before anything listens.

mod common;

use bytes::BytesMut;
use common::{evs, path_str, run, wait_for_line, Server, TempDir};
use eventstream::frame::{FrameDecoder, Message};
use eventstream::session::EventBuilder;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

/// The test user's access key id and secret, in the server's credentials file.
const ACCESS_KEY_ID: &str = "AKIDSERVETLS";
const SECRET: &str = "c2VydmUgdGxzIHRlc3Qgc2VjcmV0";
/// A user with temporary credentials: its session token is in the credentials file too.
const TEMPORARY_KEY_ID: &str = "ASIASERVETLS";
const SESSION_TOKEN: &str = "c2Vzc2lvbiB0b2tlbg==";

/// A CA and the server certificate it issued for `localhost` and `127.0.0.1`, written as PEM
/// files: `ca.pem`, `server.pem`, `server.key`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(dir: &TempDir) -> Pki {
    let pem = eventstream_testkit::pki::test_pki();
    Pki {
        ca: dir.write("ca.pem", pem.ca),
        cert: dir.write("server.pem", pem.cert),
        key: dir.write("server.key", pem.key),
    }
}

/// A running `evs serve` over TLS, its log read as it comes; killed when dropped.
struct TlsServer {
    /// The process, killed when this is dropped.
    _server: Server,
    port: u16,
    log: mpsc::Receiver<String>,
}

impl TlsServer {
    /// Starts `evs serve --listen 127.0.0.1:0` over TLS with `pki`, with these extra
    /// arguments, and reads the address it prints.
    fn start(dir: &TempDir, pki: &Pki, extra: &[&str]) -> TlsServer {
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            path_str(&pki.cert),
            "--tls-key",
            path_str(&pki.key),
        ];
        args.extend_from_slice(extra);
        let mut server = Server::spawn(evs(dir, &args));
        TlsServer {
            port: server.port(),
            log: server.stderr_lines(),
            _server: server,
        }
    }

    /// Waits for a line of the server's log that contains `wanted`.
    fn log_line(&self, wanted: &str) -> String {
        wait_for_line(&self.log, |line| line.contains(wanted))
    }
}

/// Whether curl is installed and speaks HTTP/2 and TLS.
fn curl_has_http2_and_tls() -> bool {
    match Command::new("curl").arg("--version").output() {
        Ok(out) => {
            let version = String::from_utf8_lossy(&out.stdout);
            let features = version
                .lines()
                .find(|l| l.starts_with("Features:"))
                .unwrap_or_default();
            let has = |f: &str| features.split_whitespace().any(|x| x == f);
            has("HTTP2") && has("SSL")
        }
        Err(_) => false,
    }
}

/// The frames curl posts: two events, one with a payload.
fn frames() -> Vec<u8> {
    let mut out = BytesMut::new();
    for (kind, payload) in [("Hello", &b""[..]), ("Data", &b"over TLS"[..])] {
        EventBuilder::new(kind)
            .payload(payload)
            .build()
            .encode(&mut out)
            .expect("encodes");
    }
    out.to_vec()
}

fn decode(wire: &[u8]) -> Vec<Message> {
    let mut decoder = FrameDecoder::new();
    decoder.handle_input(wire);
    let mut messages = Vec::new();
    while let Some(m) = decoder.poll_message().expect("valid frames") {
        messages.push(m);
    }
    decoder.handle_end_of_input().expect("whole frames");
    messages
}

/// curl posting the file `body` to `evs serve` over TLS, trusting the test CA: the response
/// body to `out`, the HTTP version and status on standard output.
fn curl(pki: &Pki, port: u16, body: &Path, out: &Path) -> Command {
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--http2", "--max-time", "15"])
        .arg("--cacert")
        .arg(&pki.ca)
        .args([
            "-H",
            "content-type: application/vnd.amazon.eventstream",
            "-w",
            "%{http_version} %{response_code}",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg("-o")
        .arg(out)
        .arg(format!("https://localhost:{port}/mirror"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    curl
}

/// `curl --http2 --cacert` over TLS (ALPN h2) to `evs serve --tls-cert --tls-key`: the frames
/// come back unchanged.
#[test]
fn evs_serve_over_tls_echoes_a_curl_post() {
    if !curl_has_http2_and_tls() {
        eprintln!(
            "SKIPPED evs_serve_over_tls_echoes_a_curl_post: curl is missing or lacks HTTP/2 or TLS"
        );
        return;
    }
    let dir = TempDir::new("serve-tls", "curl-echo");
    let pki = pki(&dir);
    let server = TlsServer::start(&dir, &pki, &[]);
    server.log_line("serving HTTP/2 over TLS (ALPN h2); verifying nothing");
    let body = dir.write("frames.bin", frames());
    let echo = dir.0.join("echo.bin");

    // A client that does not trust the certificate ends the handshake: the server logs it and
    // serves on.
    let mut untrusting = Command::new("curl");
    untrusting
        .args(["-sS", "--http2", "--max-time", "15", "-o", "/dev/null"])
        .arg(format!("https://localhost:{}/mirror", server.port))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run(untrusting, b"");
    assert!(!out.status.success(), "curl does not trust the test CA");
    let line = server.log_line("TLS handshake with 127.0.0.1:");
    assert!(line.contains("failed: TLS failed: "), "{line}");

    let out = run(curl(&pki, server.port, &body, &echo), b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "2 200", "HTTP/2 (ALPN h2) and 200");
    let echoed = std::fs::read(&echo).expect("the response body");
    assert_eq!(decode(&echoed), decode(&frames()));
    server.log_line("stream 1: 2 messages echoed, ended cleanly");
}

/// With --credentials, curl's unsigned request gets 403 in AWS's error shape (the exception in
/// `x-amzn-errortype`, the kind in `x-eventstream-error-kind`, a JSON message starting with the
/// kind), and nothing is echoed; the server logs the refusal.
#[test]
fn evs_serve_with_credentials_refuses_an_unsigned_curl_post() {
    if !curl_has_http2_and_tls() {
        eprintln!("SKIPPED evs_serve_with_credentials_refuses_an_unsigned_curl_post: curl is missing or lacks HTTP/2 or TLS");
        return;
    }
    let dir = TempDir::new("serve-tls", "curl-403");
    let pki = pki(&dir);
    let users = dir.write("users.txt", format!("{ACCESS_KEY_ID} {SECRET}\n"));
    let server = TlsServer::start(&dir, &pki, &["--credentials", path_str(&users)]);
    server.log_line("verifying requests and events of 1 access key for us-east-1/transcribe, clock skew up to 300 s");
    let body = dir.write("frames.bin", frames());
    let answer = dir.0.join("answer.txt");
    let head = dir.0.join("head.txt");
    let mut curl = curl(&pki, server.port, &body, &answer);
    curl.arg("--dump-header").arg(&head);
    let out = run(curl, b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "2 403");
    let head = std::fs::read_to_string(&head).expect("the response head");
    let header = |name: &str| {
        head.lines()
            .find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} header: {head:?}"))
    };
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(
        header("x-amzn-errortype"),
        "MissingAuthenticationTokenException"
    );
    assert_eq!(header("x-eventstream-error-kind"), "missing_authorization");
    let answer = std::fs::read_to_string(&answer).expect("the response body");
    let json: serde_json::Value = serde_json::from_str(&answer).expect("a JSON body");
    assert!(
        json["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("missing_authorization: ")),
        "the message names the kind: {answer:?}"
    );
    server.log_line("stream 1: refused, 403 Forbidden: missing_authorization: ");
}

/// The event lines `evs send` sends.
const EVENT_LINES: &str = concat!(
    r#"{"headers":[{"name":":message-type","type":"string","value":"event"},{"name":":event-type","type":"string","value":"AudioEvent"}],"payload":"AAEC"}"#,
    "\n",
    r#"{"headers":[{"name":":message-type","type":"string","value":"event"},{"name":":event-type","type":"string","value":"AudioEvent"}],"payload":"AwQF"}"#,
    "\n",
);

/// `evs send` signs the request and the events with credentials from the environment; `evs
/// serve --credentials` verifies both over TLS, at its default region and service, for
/// long-term credentials and for temporary ones (the session token on the file's line). An
/// access key the file does not hold, a wrong secret, and temporary credentials without their
/// session token or with another are refused with their kinds.
#[test]
fn evs_send_signs_and_evs_serve_verifies_over_tls() {
    let dir = TempDir::new("serve-tls", "send");
    let pki = pki(&dir);
    let users = dir.write(
        "users.txt",
        format!(
            "# the test users\n{ACCESS_KEY_ID}\t{SECRET}\nAKIDSOMEONEELSE other-secret\n\
             {TEMPORARY_KEY_ID} {SECRET} {SESSION_TOKEN}\n"
        ),
    );
    let server = TlsServer::start(&dir, &pki, &["--credentials", path_str(&users)]);
    let url = format!("https://localhost:{}/mirror", server.port);
    let send = |key: &str, secret: &str, token: Option<&str>| {
        let mut cmd = evs(
            &dir,
            &[
                "send",
                &url,
                "--ca-cert",
                path_str(&pki.ca),
                "--region",
                "us-east-1",
                "--service",
                "transcribe",
            ],
        );
        cmd.env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret);
        if let Some(token) = token {
            cmd.env("AWS_SESSION_TOKEN", token);
        }
        run(cmd, EVENT_LINES.as_bytes())
    };

    // Long-term credentials, then temporary ones with their session token.
    for (key, token) in [
        (ACCESS_KEY_ID, None),
        (TEMPORARY_KEY_ID, Some(SESSION_TOKEN)),
    ] {
        let out = send(key, SECRET, token);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{key}: evs send failed: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), EVENT_LINES);
        server.log_line("2 messages echoed, ended cleanly, signing chain verified");
    }

    for (key, secret, token, kind) in [
        ("AKIDNOBODY", SECRET, None, "unknown_access_key"),
        (
            ACCESS_KEY_ID,
            "not-the-secret",
            None,
            "signature_does_not_match",
        ),
        // Temporary credentials without their token, or with another one.
        (TEMPORARY_KEY_ID, SECRET, None, "invalid_security_token"),
        (
            TEMPORARY_KEY_ID,
            SECRET,
            Some("another-token"),
            "invalid_security_token",
        ),
    ] {
        let out = send(key, secret, token);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with(&format!("error: {kind}: ")), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(out.stdout.is_empty(), "nothing echoed");
        server.log_line(&format!("refused, 403 Forbidden: {kind}: "));
    }
}

/// Each bad file is one line `error: <kind>: <detail>` and exit status 1, before anything
/// listens; no secret is ever printed.
#[test]
fn bad_files_give_one_error_line() {
    let dir = TempDir::new("serve-tls", "bad-files");
    let pki = pki(&dir);
    let other = TempDir::new("serve-tls", "bad-files-other");
    let other_pki = self::pki(&other);
    let good_users = dir.write("users.txt", format!("{ACCESS_KEY_ID} {SECRET}\n"));
    let short_line = dir.write(
        "short.txt",
        format!("{ACCESS_KEY_ID} {SECRET}\nAKIDALONE\n"),
    );
    let twice = dir.write(
        "twice.txt",
        format!("{ACCESS_KEY_ID} {SECRET}\n# again\n{ACCESS_KEY_ID} {SECRET}2\n"),
    );
    let empty = dir.write("empty.txt", "# nobody\n");
    let not_pem = dir.write("not.pem", "this is not PEM\n");
    let missing = dir.0.join("missing.txt");
    let cert = path_str(&pki.cert);
    let key = path_str(&pki.key);
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["--credentials", path_str(&short_line)],
            "invalid_credentials_file",
            "short.txt: line 2: 1 field, expected ACCESS_KEY_ID SECRET_ACCESS_KEY",
        ),
        (
            vec!["--credentials", path_str(&twice)],
            "invalid_credentials_file",
            "twice.txt: line 3: the access key id AKIDSERVETLS is on line 1 already",
        ),
        (
            vec!["--credentials", path_str(&empty)],
            "invalid_credentials_file",
            "empty.txt: no credentials in it",
        ),
        (
            vec!["--credentials", path_str(&missing)],
            "io",
            "cannot read",
        ),
        (
            vec!["--tls-cert", path_str(&not_pem), "--tls-key", key],
            "invalid_pem",
            "no CERTIFICATE block",
        ),
        (
            vec!["--tls-cert", cert, "--tls-key", path_str(&not_pem)],
            "invalid_pem",
            "no PRIVATE KEY",
        ),
        (
            vec!["--tls-cert", cert, "--tls-key", path_str(&other_pki.key)],
            "tls",
            "--tls-cert",
        ),
        (
            vec!["--tls-cert", path_str(&missing), "--tls-key", key],
            "io",
            "cannot read",
        ),
        (
            // A bad certificate is found before a good credentials file is used.
            vec![
                "--tls-cert",
                key,
                "--tls-key",
                key,
                "--credentials",
                path_str(&good_users),
            ],
            "invalid_pem",
            "no CERTIFICATE block",
        ),
    ];
    for (args, kind, detail) in cases {
        let mut argv = vec!["serve", "--listen", "127.0.0.1:0"];
        argv.extend(&args);
        let out = run(evs(&dir, &argv), b"");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing listens");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {kind}: ")),
            "{args:?}: kind {kind}: {stderr}"
        );
        assert!(stderr.contains(detail), "{args:?}: {detail:?} in {stderr}");
        assert!(!stderr.contains(SECRET), "{args:?}: a secret was printed");
    }

    // Usage errors (status 2): half of TLS, a skew without credentials, both kinds of
    // verification.
    for args in [
        &["--tls-cert", cert][..],
        &["--tls-key", key],
        &["--max-skew", "60"],
        &[
            "--credentials",
            path_str(&good_users),
            "--access-key-id",
            ACCESS_KEY_ID,
            "--secret-access-key",
            SECRET,
        ],
    ] {
        let mut argv = vec!["serve", "--listen", "127.0.0.1:0"];
        argv.extend(args);
        let out = run(evs(&dir, &argv), b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing listens");
    }
}
