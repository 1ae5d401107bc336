//! Helpers shared by `evs`'s TLS tests (`send_tls.rs`, `serve_tls.rs`): a scratch folder, `evs`
//! in an environment without AWS settings, and a process run within a hang bound.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a part of the helpers"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
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
