//! `history_memory` bounds what history costs the node (issue 21, item 2):
//! one unauthenticated client `say`s large messages into many rooms nobody
//! joined, round after round, and the chat server's RSS, read from /proc,
//! grows by at most the cap plus the documented overhead over the same
//! flood with history off.
//!
//! The server is the chat example in a child process (this test binary re-run
//! as [`server_process`]), so that its RSS is its own.

use ws_core::Manager;

use crate::support::RawClient;
use crate::support::chat::{Chat, serve_manager};
use crate::support::process::{TestProcess, as_child, until_stdin_closes};

/// The server process reads its options from `{PREFIX}{OPTION}`.
const PREFIX: &str = "WS_E2E_HISTMEM_";
const LISTENING: &str = "history server listening on ";
const SERVER: &str = "history_memory::server_process";

const MIB: usize = 1 << 20;

/// Not a test on its own: the chat server the flood tests start and measure,
/// configured from the environment; it stops when its standard input closes.
#[test]
#[ignore = "the server process of the history memory tests, which start it themselves"]
fn server_process() {
    as_child(SERVER, || async {
        let manager = Manager::<Chat>::builder().from_env(PREFIX).unwrap().build();
        let (addr, _) = serve_manager(manager).await;
        println!("{LISTENING}{addr}");
        until_stdin_closes().await;
    });
}

/// The chat server in a child process with `options`; killed when dropped.
fn start(options: &[(&str, &str)]) -> TestProcess {
    TestProcess::server(SERVER, PREFIX, options, LISTENING)
}

/// The process's RSS and its peak (`VmRSS`, `VmHWM`), in bytes.
fn rss(server: &TestProcess) -> (usize, usize) {
    (server.status_bytes("VmRSS:"), server.status_bytes("VmHWM:"))
}

/// One flood: `rounds` times, a `say` of `size(i)` bytes of text into each
/// of `rooms` rooms nobody joined, then an echo, awaited, so that the server
/// has handled every message of the round. The server's RSS after each
/// round, and its peak.
async fn flood(
    server: &TestProcess,
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
        }
        client.send_text(r#"{"type":"echo","text":"sync"}"#).await;
        loop {
            let (_, payload) = client.next_frame().await;
            if payload == br#"{"type":"echo","text":"sync"}"# {
                break;
            }
        }
        after.push(rss(server).0);
    }
    (after, rss(server).1)
}

/// The history's documented overhead beside `history_memory` (README,
/// "Limits"): buffers kept for reuse, an 8th of the cap, and the
/// allocator's slack, at most 8 MiB.
fn bound(cap: usize) -> usize {
    cap + cap / 8 + 8 * MIB
}

/// The same flood against the chat server with history off, and with
/// history under a cap of `cap` bytes: what history costs the node (peak
/// RSS with, less peak RSS without), in bytes.
async fn history_cost(
    cap: usize,
    rooms: usize,
    rounds: usize,
    size: impl Fn(usize) -> usize + Copy,
) -> usize {
    let off = start(&[("HISTORY", "0")]);
    let (rounds_off, peak_off) = flood(&off, rooms, rounds, size).await;
    drop(off);
    let on = start(&[("HISTORY_MEMORY", &cap.to_string())]);
    let (rounds_on, peak_on) = flood(&on, rooms, rounds, size).await;
    let mib = |v: &[usize]| v.iter().map(|b| b / MIB).collect::<Vec<_>>();
    eprintln!(
        "{rooms} rooms, {rounds} rounds: history off: RSS after each round {:?} MiB, \
         peak {} MiB; history_memory {} MiB: after each round {:?} MiB, peak {} MiB",
        mib(&rounds_off),
        peak_off / MIB,
        cap / MIB,
        mib(&rounds_on),
        peak_on / MIB,
    );
    peak_on.saturating_sub(peak_off)
}

/// The issue's flood at a CI size: messages of 60 KiB into 1,500 rooms
/// nobody joined, four rounds (about 350 MiB, 22 times a cap of 16 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_into_many_rooms_stay_within_the_cap() {
    const CAP: usize = 16 * MIB;
    let cost = history_cost(CAP, 1_500, 4, |_| 60 << 10).await;
    assert!(
        cost <= bound(CAP),
        "history cost {} KiB with a cap of {} KiB",
        cost >> 10,
        CAP >> 10
    );
}

/// The same with sizes from 100 B to 60 KiB, mixed: reused buffers fit
/// less often, and the allocator sees every size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_sizes_stay_within_the_cap() {
    const CAP: usize = 16 * MIB;
    let cost = history_cost(CAP, 1_500, 4, mixed).await;
    assert!(
        cost <= bound(CAP),
        "history cost {} KiB with a cap of {} KiB",
        cost >> 10,
        CAP >> 10
    );
}

/// The `i`th size of a mixed flood: 100 B to 60 KiB, spread by a
/// multiplicative hash.
fn mixed(i: usize) -> usize {
    100 + (i.wrapping_mul(2_654_435_761) >> 7) % ((60 << 10) - 100)
}

/// The big run (BENCHMARKS.md, "History memory"): the issue's flood at the
/// default cap, `HISTMEM_ROUNDS` rounds (7) into `HISTMEM_ROOMS` rooms
/// (1,500) of 60 KiB messages, or of mixed sizes with `HISTMEM_MIXED=1`,
/// under a cap of `HISTMEM_CAP_MIB` MiB (64).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: about a minute per 7 rounds; BENCHMARKS.md has its figures"]
async fn big_flood() {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let cap = env("HISTMEM_CAP_MIB", "64").parse::<usize>().unwrap() * MIB;
    let rooms: usize = env("HISTMEM_ROOMS", "1500").parse().unwrap();
    let rounds: usize = env("HISTMEM_ROUNDS", "7").parse().unwrap();
    let cost = if env("HISTMEM_MIXED", "0") == "1" {
        history_cost(cap, rooms, rounds, mixed).await
    } else {
        history_cost(cap, rooms, rounds, |_| 60 << 10).await
    };
    eprintln!(
        "history cost {} MiB with a cap of {} MiB (bound {} MiB)",
        cost / MIB,
        cap / MIB,
        bound(cap) / MIB
    );
    assert!(cost <= bound(cap));
}
