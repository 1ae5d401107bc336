//! Helpers shared by `evs`'s process tests (`serve.rs`, `serve_tls.rs`, `send_tls.rs`): a
//! scratch folder, `evs` in an environment without AWS settings, a process run within a hang
//! bound, and a running `evs serve` with its log.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a part of the helpers"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a process may take before the test counts as hung (a hang detector only).
pub const HANG: Duration = Duration::from_secs(20);

/// A folder of its own under the system's temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `evs-<test>-<pid>-<name>` under the temporary folder, empty.
    pub fn new(test: &str, name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("evs-{test}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a scratch folder");
        TempDir(path)
    }

    /// The path of `file` in the folder.
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// Writes `contents` to `name` in the folder and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("written");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `evs` with `args`, in an environment without credentials or configuration: every `AWS_*`
/// variable removed, `home` as the home folder, profile files that do not exist, no instance
/// metadata.
pub fn evs(home: &TempDir, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_evs"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("HOME", &home.0)
        .env("AWS_CONFIG_FILE", home.path("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// Runs `cmd` with `stdin` as its input, within [`HANG`].
pub fn run(mut cmd: Command, stdin: impl AsRef<[u8]>) -> Output {
    let mut child = cmd.spawn().expect("starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.as_ref().to_vec();
    thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(HANG)
        .expect("the process hung")
        .expect("the process ran")
}

/// `path` as a command-line argument.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// A running `evs serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    /// The address it printed, `127.0.0.1:PORT`.
    pub addr: String,
}

impl Server {
    /// Starts `command`, an `evs serve --listen 127.0.0.1:0` with its output piped, and reads
    /// the address it prints.
    pub fn spawn(mut command: Command) -> Server {
        let mut child = command.spawn().expect("evs serve starts");
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

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .expect("a port")
    }

    /// The lines the server writes to standard error, read by a thread of their own.
    pub fn stderr_lines(&mut self) -> mpsc::Receiver<String> {
        let stderr = self.child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// Fails the test if the server has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("waits") {
            panic!("evs serve exited: {status}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for a line of `lines` that satisfies `wanted`; fails the test with the lines seen if
/// none comes in time.
pub fn wait_for_line(lines: &mpsc::Receiver<String>, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + HANG;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if wanted(&line) => return line,
            Ok(line) => seen.push(line),
            Err(e) => panic!("no such line ({e}); the server wrote {seen:#?}"),
        }
    }
}
