//! Other processes of a test: the chat example's binary, as an operator
//! runs it, and this test binary re-run as one of its ignored tests (a
//! server or a load in a process of its own, so that its file descriptors
//! and RSS are its alone).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::timeout;

use crate::support::WAIT;

/// Set in the environment of a child run of this binary: the ignored test
/// it runs.
const CHILD: &str = "WS_TEST_CHILD";

/// Whether this process is the child run of the ignored test `test` (its
/// path, e.g. `exhaustion::server_process`); run on its own, such a test
/// returns at once.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|running| running == test)
}

/// The body of the ignored test `test`: runs `body` on a runtime of two
/// workers, as a small server has, with the open-files limit raised, when
/// this process is its child run; nothing otherwise.
pub fn as_child<F: Future>(test: &str, body: impl FnOnce() -> F) {
    if !is_child(test) {
        return;
    }
    rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-files limit");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(body());
}

/// Returns when the parent closes the child's standard input (or dies).
pub async fn until_stdin_closes() {
    tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new()))
        .await
        .unwrap()
        .ok();
}

/// This test binary re-run as the ignored test `test`, with `env`; its
/// standard output read line by line; killed when dropped.
pub struct TestProcess {
    /// Where a server child listens (see [`TestProcess::server`]).
    pub addr: SocketAddr,
    child: Child,
    stdin: ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl TestProcess {
    pub fn start(test: &str, env: &[(String, String)]) -> TestProcess {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, test)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let _ = tx.send(line);
            }
        });
        TestProcess {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            child,
            stdin,
            lines,
        }
    }

    /// A server: the child run of `test` with `options` in its environment
    /// as `{prefix}{OPTION}`, listening where it says after `listening`.
    pub fn server(
        test: &str,
        prefix: &str,
        options: &[(&str, &str)],
        listening: &str,
    ) -> TestProcess {
        let env: Vec<(String, String)> = options
            .iter()
            .map(|(option, value)| (format!("{prefix}{option}"), value.to_string()))
            .collect();
        let mut process = TestProcess::start(test, &env);
        process.addr = process.wait_for(listening).parse().unwrap();
        process
    }

    /// The rest of the first line that holds `marker` (libtest prints the
    /// test's name on the same line).
    pub fn wait_for(&self, marker: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("the child process did not say {marker:?}"));
            if let Some((_, rest)) = line.split_once(marker) {
                return rest.to_owned();
            }
        }
    }

    /// Writes `line` to the child's standard input.
    pub fn tell(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's `VmRSS`, `VmHWM` or other size `field` of
    /// `/proc/PID/status`, in bytes.
    pub fn status_bytes(&self, field: &str) -> usize {
        let pid = self.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib: usize = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
        kib << 10
    }

    /// Waits until the child exits by itself, for at most `wait`.
    pub async fn exit_within(&mut self, wait: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the child process did not exit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: the kernel resets every connection at once.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `target/<profile>/examples/chat`, built with this test's profile if
/// `cargo test` has not built it (it does unless run with `--test NAME`).
pub fn chat_example() -> std::path::PathBuf {
    let deps = std::env::current_exe().expect("test binary path");
    let profile_dir = deps
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let chat = profile_dir
        .join("examples")
        .join(format!("chat{}", std::env::consts::EXE_SUFFIX));
    let release = profile_dir
        .file_name()
        .is_some_and(|name| name == "release");
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo.args(["build", "--quiet", "-p", "ws-core", "--example", "chat"]);
    if release {
        cargo.arg("--release");
    }
    // Always asked: cargo answers at once when it is fresh, and rebuilds a
    // stale one rather than testing old code.
    let status = cargo.status().expect("run cargo");
    assert!(status.success(), "cargo build --example chat failed");
    assert!(chat.exists(), "{} was not built", chat.display());
    chat
}

/// The chat example's binary, `chat --addr ADDR ARGS...`, with its
/// standard output and its log read line by line (the log also echoed to
/// the test's output); killed when dropped.
pub struct ChatProcess {
    child: tokio::process::Child,
    /// Where it listens, once [`ChatProcess::until_listening`] returned.
    pub addr: SocketAddr,
    args: Vec<String>,
    stdout: UnboundedReceiver<String>,
    log: UnboundedReceiver<String>,
}

impl ChatProcess {
    /// Starts it on `addr` (`127.0.0.1:0` for any port) and waits until
    /// it listens.
    pub async fn start(addr: &str, args: &[&str]) -> ChatProcess {
        let mut chat = ChatProcess::spawn(addr, args);
        chat.until_listening().await;
        chat
    }

    /// Starts it, not waiting for it to listen.
    pub fn spawn(addr: &str, args: &[&str]) -> ChatProcess {
        let mut child = tokio::process::Command::new(chat_example())
            .args(["--addr", addr])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run the chat example");
        let (out, stdout) = unbounded_channel();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = out.send(line);
            }
        });
        let (err, log) = unbounded_channel();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("chat: {line}");
                let _ = err.send(line);
            }
        });
        ChatProcess {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            args: args.iter().map(|a| a.to_string()).collect(),
            stdout,
            log,
        }
    }

    /// Reads its first line, `chat listening on URL`: its address.
    pub async fn until_listening(&mut self) {
        let line = timeout(WAIT, self.stdout.recv())
            .await
            .expect("the chat example did not start within the wait")
            .expect("the chat example exited before listening");
        self.addr = line
            .strip_prefix("chat listening on http://")
            .or_else(|| line.strip_prefix("chat listening on https://"))
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .parse()
            .unwrap();
    }

    /// The next log line that contains `needle`; fails after [`WAIT`].
    pub async fn log_line(&mut self, needle: &str) -> String {
        let search = async {
            while let Some(line) = self.log.recv().await {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("the chat example's log ended without `{needle}`");
        };
        timeout(WAIT, search)
            .await
            .unwrap_or_else(|_| panic!("no log line with `{needle}` within {WAIT:?}"))
    }

    /// Its standard output after the first line, until it closed it.
    pub async fn rest_of_stdout(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = timeout(WAIT, self.stdout.recv()).await {
            rest.push(line);
        }
        rest
    }

    /// SIGTERM: a deploy.
    pub fn sigterm(&self) {
        let pid = self.child.id().expect("the chat example runs");
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// Waits until it exits by itself, for at most [`WAIT`].
    pub async fn exit(&mut self) -> ExitStatus {
        timeout(WAIT, self.child.wait())
            .await
            .expect("the chat example did not exit within the wait")
            .unwrap()
    }

    /// SIGTERM, then waits for it to exit 0; then starts it again on the
    /// same address with the same arguments.
    pub async fn restart(&mut self) {
        self.sigterm();
        let status = self.exit().await;
        assert_eq!(status.code(), Some(0), "a deploy exits 0");
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        *self = ChatProcess::start(&self.addr.to_string(), &args).await;
    }

    /// SIGKILL: no close, no withdrawal, nothing said to Redis.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}
