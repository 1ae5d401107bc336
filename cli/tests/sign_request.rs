//! `evs sign-request` against the official SigV4 request signing suite
//! (`tests/vectors/sigv4-request`), with credentials from the flags and from the standard chain;
//! the event-stream payload hash; the region and service read from an AWS host name.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The official suite's credentials and time.
const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TIME: &str = "2015-08-30T12:36:00Z";

/// A file of a case of the official suite.
fn vector(case: &str, file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors/sigv4-request/v4")
        .join(case)
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The session token of the suite's `get-vanilla-with-session-token` case.
fn session_token() -> String {
    let context: serde_json::Value =
        serde_json::from_str(&vector("get-vanilla-with-session-token", "context.json"))
            .expect("context.json is JSON");
    context["credentials"]["token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// `evs sign-request` with `args`, in an environment without credentials (every `AWS_*`
/// variable removed, profile files that do not exist, no instance metadata).
fn evs(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_evs"));
    cmd.arg("sign-request")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    let nowhere = std::env::temp_dir().join("evs-sign-request-no-such-file");
    cmd.env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// Runs `cmd`, which must succeed, and returns its standard output.
fn stdout_of(mut cmd: Command) -> String {
    let out: Output = cmd.output().expect("evs runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The options of the suite's `get-vanilla-with-session-token` case, but the credentials.
fn session_token_case(print: &str) -> Vec<String> {
    [
        "https://example.amazonaws.com/",
        "-X",
        "GET",
        "--region",
        "us-east-1",
        "--service",
        "service",
        "--time",
        TIME,
        "--payload-hash",
        "empty",
        "--no-content-type",
        "--print",
        print,
    ]
    .map(String::from)
    .to_vec()
}

/// Every part of `get-vanilla-with-session-token`, the credentials and token from the flags and
/// from the environment through the standard chain: canonical request, string to sign,
/// signature and the Authorization header as the suite has them.
#[test]
fn the_suites_session_token_case_is_reproduced() {
    let case = "get-vanilla-with-session-token";
    let token = session_token();
    let signed_request = vector(case, "header-signed-request.txt");
    let authorization = signed_request
        .lines()
        .find_map(|line| line.strip_prefix("Authorization:"))
        .expect("an Authorization line");
    let expected = [
        (
            "canonical-request",
            vector(case, "header-canonical-request.txt"),
        ),
        ("string-to-sign", vector(case, "header-string-to-sign.txt")),
        ("signature", vector(case, "header-signature.txt")),
        ("authorization", authorization.to_owned()),
    ];
    for (part, want) in expected {
        let args = session_token_case(part);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();

        let mut flags = evs(&args);
        flags.args([
            "--access-key-id",
            ACCESS_KEY_ID,
            "--secret-access-key",
            SECRET,
            "--session-token",
            &token,
        ]);
        assert_eq!(stdout_of(flags), format!("{}\n", want.trim_end()), "{part}");

        let mut chain = evs(&args);
        chain
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SESSION_TOKEN", &token);
        assert_eq!(stdout_of(chain), format!("{}\n", want.trim_end()), "{part}");
    }
}

/// A case with a header of the caller's (`post-header-key-sort`); the whole output has every
/// part under its heading, and the signed head every header to send.
#[test]
fn headers_are_signed_and_the_head_lists_them() {
    let case = "post-header-key-sort";
    let mut cmd = evs(&[
        "https://example.amazonaws.com/",
        "-X",
        "POST",
        "-H",
        "My-Header1: value1",
        "--region",
        "us-east-1",
        "--service",
        "service",
        "--time",
        "1440938160",
        "--payload-hash",
        "empty",
        "--no-content-type",
        "--access-key-id",
        ACCESS_KEY_ID,
    ]);
    cmd.env("AWS_SECRET_ACCESS_KEY", SECRET);
    let out = stdout_of(cmd);
    let canonical = vector(case, "header-canonical-request.txt");
    let signature = vector(case, "header-signature.txt");
    assert!(
        out.starts_with(&format!(
            "# canonical request\n{}\n\n",
            canonical.trim_end()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("# signature\n{}\n", signature.trim())),
        "{out}"
    );
    let head = out.split("# signed head\n").nth(1).expect("a signed head");
    assert!(head.starts_with("POST /\n"), "{head}");
    for line in [
        "host: example.amazonaws.com",
        "my-header1: value1",
        "x-amz-date: 20150830T123600Z",
    ] {
        assert!(head.lines().any(|l| l == line), "{line} in {head}");
    }
    assert!(
        head.lines().any(|l| l
            .starts_with("authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && l.ends_with(signature.trim())),
        "{head}"
    );
    assert!(!out.contains(SECRET), "the secret is never printed");
}

/// The default payload hash is the event stream's: signed, and sent as x-amz-content-sha256.
/// The region and service come from a Transcribe host name, with its port in `host`. The
/// signature of the README's Transcribe request (us-east-1, three headers) was computed apart
/// from this project (SigV4 by hand with Python's `hashlib` and `hmac`) for the suite's
/// credentials and time.
#[test]
fn event_stream_requests_sign_the_streaming_payload_hash() {
    let url = "https://transcribestreaming.eu-west-1.amazonaws.com:8443/stream-transcription";
    let mut canonical = evs(&[
        url,
        "-H",
        "x-amzn-transcribe-language-code: en-GB",
        "--time",
        TIME,
        "--print",
        "canonical-request",
        "--access-key-id",
        ACCESS_KEY_ID,
    ]);
    canonical.env("AWS_SECRET_ACCESS_KEY", SECRET);
    let canonical = stdout_of(canonical);
    assert_eq!(
        canonical,
        "POST\n/stream-transcription\n\n\
         content-type:application/vnd.amazon.eventstream\n\
         host:transcribestreaming.eu-west-1.amazonaws.com:8443\n\
         x-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-EVENTS\n\
         x-amz-date:20150830T123600Z\n\
         x-amzn-transcribe-language-code:en-GB\n\n\
         content-type;host;x-amz-content-sha256;x-amz-date;x-amzn-transcribe-language-code\n\
         STREAMING-AWS4-HMAC-SHA256-EVENTS\n"
    );
    let mut scope = evs(&[url, "--time", TIME, "--print", "string-to-sign"]);
    scope
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    assert!(
        stdout_of(scope).contains("\n20150830/eu-west-1/transcribe/aws4_request\n"),
        "the scope from the host name"
    );

    let mut signature = evs(&[
        "https://transcribestreaming.us-east-1.amazonaws.com:8443/stream-transcription",
        "-H",
        "x-amzn-transcribe-language-code: en-US",
        "-H",
        "x-amzn-transcribe-sample-rate: 16000",
        "-H",
        "x-amzn-transcribe-media-encoding: pcm",
        "--time",
        TIME,
        "--print",
        "signature",
    ]);
    signature
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    assert_eq!(
        stdout_of(signature),
        "f0a279e9b8682c623bebc3463b3b019dc4730e72d781739ffc78df5cb2e28098\n"
    );
}

/// No service in the host name and none given: a usage error; no credentials: one error line.
#[test]
fn missing_service_and_credentials_are_explained() {
    let out = evs(&["https://127.0.0.1:8443/", "--region", "us-east-1"])
        .output()
        .expect("evs runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--service"), "{stderr}");

    let out = evs(&["https://transcribestreaming.us-east-1.amazonaws.com:8443/x"])
        .output()
        .expect("evs runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: credentials: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A host that names no region: the region comes from AWS_REGION, or from the profile's
/// `region` in the config file (with the profile's keys); with neither, a usage error.
#[test]
fn the_region_falls_back_to_the_configuration() {
    let url = "https://127.0.0.1:8443/stream";
    let mut from_env = evs(&[
        url,
        "--service",
        "demo",
        "--time",
        TIME,
        "--print",
        "string-to-sign",
        "--access-key-id",
        ACCESS_KEY_ID,
    ]);
    from_env
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "eu-north-1");
    assert!(stdout_of(from_env).contains("\n20150830/eu-north-1/demo/aws4_request\n"));

    let config =
        std::env::temp_dir().join(format!("evs-sign-request-config-{}", std::process::id()));
    std::fs::write(
        &config,
        "[default]\nregion = us-west-2\n\n[profile streaming]\nregion = ap-south-1\n\
         aws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n",
    )
    .expect("config written");
    let mut from_profile = evs(&[
        url,
        "--service",
        "demo",
        "--time",
        TIME,
        "--print",
        "authorization",
        "--profile",
        "streaming",
    ]);
    from_profile.env("AWS_CONFIG_FILE", &config);
    let authorization = stdout_of(from_profile);
    let _ = std::fs::remove_file(&config);
    assert!(
        authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDPROFILE/20150830/ap-south-1/demo/aws4_request, "
        ),
        "{authorization}"
    );

    let out = evs(&[url, "--service", "demo", "--access-key-id", ACCESS_KEY_ID])
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .output()
        .expect("evs runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--region"), "{stderr}");
}
