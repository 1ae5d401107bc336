//! `evs send https://...` against the tokio adapter's mirror over TLS, with a CA made at test time
//! (testkit's `pki`, with `rcgen`) and `--ca-cert`: the request is SigV4-signed with credentials
//! from the standard chain (the environment, a profile file) or the flags, the server verifies it
//! and the event chain, and every failure the user can meet (no credentials, an untrusted
//! certificate, no ALPN `h2`, an expired request, an unknown key, a wrong secret) is one
//! `error: <kind>: ...` line and exit status 1. Also `evs send` to `evs serve` over TLS, and the
//! test-only `--seed-signature` in cleartext.

mod common;

use common::{evs, path_str, run, TempDir};
use eventstream::sign::{Credentials, RequestVerifier, StaticSecrets};
use eventstream_testkit::pki::{test_pki, TestPki};
use eventstream_tokio::mirror::{Mirror, MirrorReport, Secrets};
use eventstream_tokio::ServerBuilder;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime};

const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";
const REGION: &str = "us-east-1";
const SERVICE: &str = "transcribe";

/// One event, as `evs send` reads it and prints its echo.
const EVENT_LINE: &str = concat!(
    r#"{"headers":[{"name":":message-type","type":"string","value":"event"},"#,
    r#"{"name":":event-type","type":"string","value":"AudioEvent"}],"payload":"aGk="}"#,
    "\n"
);

/// A mirror over TLS on a loopback port, on a runtime of its own; it reports each stream.
struct TlsMirror {
    addr: SocketAddr,
    reports: mpsc::Receiver<MirrorReport>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsMirror {
    /// Serves `mirror` over TLS with `tls` on 127.0.0.1.
    fn start(mirror: Mirror, tls: Arc<rustls::ServerConfig>) -> TlsMirror {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let (tx, reports) = mpsc::channel();
        let mirror = mirror.with_tls(tls).on_stream_end(move |report| {
            let _ = tx.send(report.clone());
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        runtime.spawn(mirror.serve(listener));
        TlsMirror {
            addr,
            reports,
            _runtime: runtime,
        }
    }

    /// A mirror that verifies requests (the test key only) and event chains, whose clock is
    /// `offset` ahead of the system's.
    fn verifying(pki: &TestPki, offset: Duration) -> TlsMirror {
        let tls =
            eventstream_tokio::tls::server_config_from_pem(pki.cert.as_bytes(), pki.key.as_bytes())
                .expect("the server's TLS configuration");
        let users: StaticSecrets = [Credentials::new(ACCESS_KEY_ID, SECRET)]
            .into_iter()
            .collect();
        let store: Secrets = Arc::new(users);
        let mirror = Mirror::new()
            .with_request_verifier(RequestVerifier::new(store, REGION, SERVICE))
            .with_server(ServerBuilder::new().clock(move || SystemTime::now() + offset));
        TlsMirror::start(mirror, tls)
    }

    fn url(&self) -> String {
        format!("https://{}/stream", self.addr)
    }

    /// The report of the next stream to end.
    fn report(&self) -> MirrorReport {
        self.reports
            .recv_timeout(Duration::from_secs(10))
            .expect("a stream report")
    }
}

/// Writes the CA certificate to a file and returns its path.
fn ca_file(home: &TempDir, pki: &TestPki) -> PathBuf {
    let path = home.path("ca.pem");
    std::fs::write(&path, &pki.ca).expect("CA written");
    path
}

/// The scope flags (the loopback host names none).
const SCOPE: [&str; 4] = ["--region", REGION, "--service", SERVICE];

/// `evs send URL` with the scope flags, the access key id `key` and its `secret` (from the
/// environment), trusting `ca` if given, sending [`EVENT_LINE`].
fn send_with_key(home: &TempDir, url: &str, ca: Option<&Path>, key: &str, secret: &str) -> Output {
    let mut args = vec!["send", url, "--access-key-id", key];
    if let Some(ca) = ca {
        args.extend(["--ca-cert", path_str(ca)]);
    }
    args.extend(SCOPE);
    let mut cmd = evs(home, &args);
    cmd.env("AWS_SECRET_ACCESS_KEY", secret);
    run(cmd, EVENT_LINE)
}

/// Asserts that `out` failed with exactly one standard error line starting with
/// `error: <kind>: `, and returns that line.
fn one_error_line(out: &Output, kind: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {kind}: ")),
        "expected kind {kind}: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

/// Temporary credentials from the environment (through the standard chain), both payload-hash
/// forms: the server verifies the request and the whole event chain, and the event comes back.
#[test]
fn signed_send_over_tls_with_chain_credentials_is_verified() {
    let home = TempDir::new("send-tls", "chain");
    let pki = test_pki();
    let ca = ca_file(&home, &pki);
    let server = TlsMirror::verifying(&pki, Duration::ZERO);
    let url = server.url();
    for hash in ["events", "empty"] {
        let mut args = vec![
            "send",
            &url,
            "--ca-cert",
            path_str(&ca),
            "--payload-hash",
            hash,
            "-H",
            "x-amzn-transcribe-language-code: en-US",
        ];
        args.extend(SCOPE);
        let mut cmd = evs(&home, &args);
        cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN);
        let out = run(cmd, EVENT_LINE);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{hash}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), EVENT_LINE, "{hash}");
        let report = server.report();
        assert!(report.verified_chain(), "{hash}: {report:?}");
        assert_eq!(report.echoed, 1, "{hash}: {report:?}");
    }
}

/// Credentials from a named profile of the shared credentials file.
#[test]
fn profile_credentials_are_used() {
    let home = TempDir::new("send-tls", "profile");
    let pki = test_pki();
    let ca = ca_file(&home, &pki);
    let credentials = home.path("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n\n\
             [streaming]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET}\n"
        ),
    )
    .expect("credentials file written");
    let server = TlsMirror::verifying(&pki, Duration::ZERO);
    let url = server.url();
    let mut args = vec![
        "send",
        &url,
        "--ca-cert",
        path_str(&ca),
        "--profile",
        "streaming",
    ];
    args.extend(SCOPE);
    let mut cmd = evs(&home, &args);
    cmd.env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
    let out = run(cmd, EVENT_LINE);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), EVENT_LINE);
    assert!(server.report().verified_chain());
}

/// No credentials anywhere: one line, before any connection.
#[test]
fn no_credentials_is_one_error_line() {
    let home = TempDir::new("send-tls", "none");
    let mut args = vec!["send", "https://127.0.0.1:9/stream"];
    args.extend(SCOPE);
    let out = run(evs(&home, &args), EVENT_LINE);
    let line = one_error_line(&out, "credentials");
    assert!(line.contains("--access-key-id"), "{line}");
}

/// A server certificate from a CA that is not trusted (no --ca-cert): a TLS error.
#[test]
fn untrusted_certificate_is_a_tls_error() {
    let home = TempDir::new("send-tls", "untrusted");
    let pki = test_pki();
    let server = TlsMirror::verifying(&pki, Duration::ZERO);
    let out = send_with_key(&home, &server.url(), None, ACCESS_KEY_ID, SECRET);
    one_error_line(&out, "tls");
}

/// A TLS server that does not do ALPN: `alpn_not_h2`, no fallback.
#[test]
fn a_server_without_alpn_h2_is_refused() {
    let home = TempDir::new("send-tls", "alpn");
    let pki = test_pki();
    let ca = ca_file(&home, &pki);
    let tls =
        eventstream_tokio::tls::server_config_from_pem(pki.cert.as_bytes(), pki.key.as_bytes())
            .expect("TLS configuration");
    let mut config = (*tls).clone();
    config.alpn_protocols.clear();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a port");
    let addr = listener.local_addr().expect("its address");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    use tokio::io::AsyncReadExt as _;
                    let mut buf = [0; 1024];
                    while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    let url = format!("https://{addr}/stream");
    let out = send_with_key(&home, &url, Some(&ca), ACCESS_KEY_ID, SECRET);
    one_error_line(&out, "alpn_not_h2");
}

/// The failures of request verification, each the kind the server named in its 403, with the
/// exception AWS names for it: a request dated an hour before the server's clock, an access
/// key it does not know, a wrong secret.
#[test]
fn refused_requests_give_the_servers_kind() {
    let home = TempDir::new("send-tls", "refused");
    let pki = test_pki();
    let ca = ca_file(&home, &pki);
    let late = TlsMirror::verifying(&pki, Duration::from_secs(3600));
    let on_time = TlsMirror::verifying(&pki, Duration::ZERO);
    for (server, key, secret, kind, exception) in [
        (
            &late,
            ACCESS_KEY_ID,
            SECRET,
            "request_expired",
            "InvalidSignatureException: Signature expired: ",
        ),
        (
            &on_time,
            "AKIDUNKNOWN",
            SECRET,
            "unknown_access_key",
            "UnrecognizedClientException: ",
        ),
        (
            &on_time,
            ACCESS_KEY_ID,
            "not-the-secret",
            "signature_does_not_match",
            "InvalidSignatureException: ",
        ),
    ] {
        let out = send_with_key(&home, &server.url(), Some(&ca), key, secret);
        let line = one_error_line(&out, kind);
        assert!(
            line.contains(&format!("403 Forbidden: {exception}")),
            "{line}"
        );
        assert!(out.stdout.is_empty(), "nothing echoed: {line}");
        let report = server.report();
        assert!(!report.verified_chain(), "{report:?}");
        assert_eq!(report.echoed, 0, "{report:?}");
    }
}

/// `evs serve` over TLS, verifying requests with a credentials file, until dropped.
struct EvsServe {
    child: std::process::Child,
    addr: String,
}

impl EvsServe {
    /// Starts `evs serve --listen 127.0.0.1:0` with `args` and reads the address it prints.
    fn start(home: &TempDir, args: &[&str]) -> EvsServe {
        let mut cmd = evs(home, &["serve", "--listen", "127.0.0.1:0"]);
        cmd.args(args);
        EvsServe::spawn(cmd)
    }

    /// Starts `cmd`, an `evs serve --listen 127.0.0.1:0`, and reads the address it prints.
    fn spawn(mut cmd: Command) -> EvsServe {
        use std::io::BufRead as _;
        cmd.stdin(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("evs serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("evs serve prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        EvsServe { child, addr }
    }
}

impl Drop for EvsServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `evs send` to `evs serve`, both over TLS, the server verifying requests with a credentials
/// file that holds temporary credentials: the right token is accepted and the event echoed; a
/// request carrying another token is refused with 403 (invalid_security_token) before anything
/// is echoed.
#[test]
fn evs_send_to_evs_serve_over_tls_with_temporary_credentials() {
    let home = TempDir::new("send-tls", "serve");
    let pki = test_pki();
    let ca = ca_file(&home, &pki);
    let (cert, key, credentials) = (
        home.path("cert.pem"),
        home.path("key.pem"),
        home.path("users"),
    );
    std::fs::write(&cert, &pki.cert).expect("certificate written");
    std::fs::write(&key, &pki.key).expect("key written");
    std::fs::write(
        &credentials,
        format!("# the test's user\n{ACCESS_KEY_ID} {SECRET} {SESSION_TOKEN}\n"),
    )
    .expect("credentials written");
    let mut serve_args = vec![
        "--tls-cert",
        path_str(&cert),
        "--tls-key",
        path_str(&key),
        "--credentials",
        path_str(&credentials),
    ];
    serve_args.extend(SCOPE);
    let server = EvsServe::start(&home, &serve_args);
    let url = format!("https://{}/stream", server.addr);
    let send = |token: &str| {
        let mut args = vec!["send", &url, "--ca-cert", path_str(&ca)];
        args.extend(SCOPE);
        let mut cmd = evs(&home, &args);
        cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SESSION_TOKEN", token);
        run(cmd, EVENT_LINE)
    };
    let out = send(SESSION_TOKEN);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), EVENT_LINE);

    let out = send("another-token");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: invalid_security_token: ") && stderr.contains("403"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty(), "nothing echoed");
}

/// `--seed-signature` (for tests only), in cleartext: the request is not signed, its
/// Authorization carries the seed and the events chain from it, which `evs serve` checking the
/// chain alone (--access-key-id) accepts; signed with another secret, the chain is refused.
#[test]
fn a_test_seed_chains_the_events_for_a_chain_only_server() {
    let home = TempDir::new("send-tls", "seed");
    let mut serve_args = vec!["--access-key-id", ACCESS_KEY_ID];
    serve_args.extend(SCOPE);
    let mut serve = evs(&home, &["serve", "--listen", "127.0.0.1:0"]);
    serve.args(&serve_args).env("AWS_SECRET_ACCESS_KEY", SECRET);
    let server = EvsServe::spawn(serve);
    let url = format!("http://{}/stream", server.addr);
    let send = |secret: &str| {
        let mut args = vec![
            "send",
            &url,
            "--seed-signature",
            "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b",
            "--access-key-id",
            ACCESS_KEY_ID,
        ];
        args.extend(SCOPE);
        let mut cmd = evs(&home, &args);
        cmd.env("AWS_SECRET_ACCESS_KEY", secret);
        run(cmd, EVENT_LINE)
    };
    let out = send(SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), EVENT_LINE);
    one_error_line(&send("not-the-secret"), "signature_mismatch");

    let out = run(
        evs(
            &home,
            &[
                "send",
                &url,
                "--no-sign",
                "--seed-signature",
                &"0".repeat(64),
            ],
        ),
        EVENT_LINE,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "--no-sign conflicts with a seed"
    );
}
