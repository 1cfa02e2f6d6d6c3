//! `history_memory` bounds what history costs the node (issue 21, item 2):
//! one unauthenticated client `say`s large messages into many rooms nobody
//! joined, round after round, and the chat server's RSS, read from /proc,
//! grows by at most the cap plus the documented overhead over the same
//! flood with history off.
//!
//! The server is the chat example in a child process (this test binary re-run
//! as [`server_process`]), so that its RSS is its own.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use ws_core::{Manager, endpoint};

use crate::chat_example::protocol::Chat;
use crate::support::{RawClient, WAIT};

/// Set in the environment of the server process.
const CHILD: &str = "WS_E2E_HISTMEM_SERVER";
/// The server process reads its options from `{PREFIX}{OPTION}`.
const PREFIX: &str = "WS_E2E_HISTMEM_";
const LISTENING: &str = "history server listening on ";

const MIB: usize = 1 << 20;

/// Not a test on its own: the chat server the flood tests start and measure,
/// configured from the environment; it stops when its standard input closes.
#[test]
#[ignore = "the server process of the history memory tests, which start it themselves"]
fn server_process() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let manager = Manager::<Chat>::builder().from_env(PREFIX).unwrap().build();
        let router = ws_core::axum::Router::new().route(
            "/ws",
            endpoint(manager, Arc::new(crate::chat_example::app::App)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{LISTENING}{}", listener.local_addr().unwrap());
        tokio::spawn(ws_core::serve(listener, router));
        tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new()))
            .await
            .unwrap()
            .ok();
    });
}

/// The chat server in a child process; killed when dropped.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start(options: &[(&str, &str)]) -> ServerProcess {
        let mut command = match std::env::var("WS_E2E_HISTMEM_WRAP") {
            Ok(wrap) => {
                let mut c = Command::new(wrap);
                c.arg(std::env::current_exe().unwrap());
                c
            }
            Err(_) => Command::new(std::env::current_exe().unwrap()),
        };
        command
            .args(["--exact", "history_memory::server_process", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (option, value) in options {
            command.env(format!("{PREFIX}{option}"), value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                // libtest prints the test's name on the same line.
                if let Some((_, addr)) = line.split_once(LISTENING) {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
            }
        });
        let addr = rx
            .recv_timeout(WAIT)
            .expect("the server process did not start");
        ServerProcess { child, addr }
    }

    /// The process's RSS and its peak (`VmRSS`, `VmHWM`), in bytes.
    fn rss(&self) -> (usize, usize) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib = |field: &str| -> usize {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {field} in the server's status"))
        };
        (kib("VmRSS:") << 10, kib("VmHWM:") << 10)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One flood: `rounds` times, a `say` of `size(i)` bytes of text into each
/// of `rooms` rooms nobody joined, then an echo, awaited, so that the server
/// has handled every message of the round. The server's RSS after each
/// round, and its peak.
async fn flood(
    server: &ServerProcess,
    rooms: usize,
    rounds: usize,
    size: impl Fn(usize) -> usize,
) -> (Vec<usize>, usize) {
    let mut client = RawClient::connect(server.addr).await;
    let text = "x".repeat((0..rooms * rounds).map(&size).max().unwrap_or(0));
    let mut after = Vec::new();
    for round in 0..rounds {
        for room in 0..rooms {
            let size = size(round * rooms + room);
            let say = format!(
                r#"{{"type":"say","room":"flood-{room}","text":"{}"}}"#,
                &text[..size]
            );
            client.send_text(&say).await;
            if std::env::var_os("HISTMEM_TRACE").is_some() && room % 100 == 99 {
                client.send_text(r#"{"type":"echo","text":"t"}"#).await;
                while client.next_frame().await.1 != br#"{"type":"echo","text":"t"}"# {}
                eprint!("{} ", server.rss().0 / MIB);
            }
        }
        eprintln!();
        client.send_text(r#"{"type":"echo","text":"sync"}"#).await;
        loop {
            let (_, payload) = client.next_frame().await;
            if payload == br#"{"type":"echo","text":"sync"}"# {
                break;
            }
        }
        after.push(server.rss().0);
    }
    (after, server.rss().1)
}

/// The issue's flood, at a CI size: messages of 60 KiB into 1,500 rooms, with
/// a cap of 8 MiB, until about four times the cap has been recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_into_many_rooms_stay_within_the_cap() {
    const ROOMS: usize = 1_500;
    const ROUNDS: usize = 4;
    const CAP: usize = 8 * MIB;
    let size = |_| 60 << 10;
    let off = ServerProcess::start(&[("HISTORY", "0")]);
    let base = off.rss().0;
    let (rounds_off, peak_off) = flood(&off, ROOMS, ROUNDS, size).await;
    drop(off);
    let on = ServerProcess::start(&[("HISTORY_MEMORY", "8MiB")]);
    let base_on = on.rss().0;
    let (rounds_on, peak_on) = flood(&on, ROOMS, ROUNDS, size).await;
    let mib = |v: &[usize]| v.iter().map(|b| b / MIB).collect::<Vec<_>>();
    eprintln!(
        "history off: start {} MiB, after each round {:?} MiB, peak {} MiB; \
         cap 8 MiB: start {} MiB, after each round {:?} MiB, peak {} MiB",
        base / MIB,
        mib(&rounds_off),
        peak_off / MIB,
        base_on / MIB,
        mib(&rounds_on),
        peak_on / MIB,
    );
    let growth = peak_on.saturating_sub(peak_off);
    assert!(
        growth <= CAP + CAP / 4 + 2 * MIB,
        "history cost {} MiB with a cap of {} MiB",
        growth / MIB,
        CAP / MIB
    );
}
