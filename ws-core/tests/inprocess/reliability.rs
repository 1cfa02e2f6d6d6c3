//! The field reports' failure list (shared/SEEDS.md), each as a test that
//! fails if the bug comes back. Bounded in count and time for CI; the
//! bigger versions are commands of the load tool (ws-bench).

use std::collections::HashMap;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::json;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use ws_core::{Overflow, Protocol};

use crate::support::{Client, RawClient, Server, Test, eventually, test};

/// Raises the open-files limit as far as the hard limit allows and fails,
/// saying so, if that is still too low for `connections` held at once: each
/// costs two descriptors here (the client's socket and the server's, both in
/// this process), plus a margin for the runtime, Redis, and stdio.
fn raise_open_files_limit(connections: u64) {
    const MARGIN: u64 = 256;
    let needed = 2 * connections + MARGIN;
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .unwrap_or_else(|error| panic!("cannot raise the open-files limit: {error}"));
    assert!(
        limit >= needed,
        "the open-files limit is {limit} (hard limit included), this test needs {needed} \
         for {connections} connections; raise it (`ulimit -n {needed}`)"
    );
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Connects `n` clients, `concurrency` at a time.
async fn connect_many(server: &Server, n: usize, concurrency: usize) -> Vec<Client> {
    let url = server.url("");
    let mut clients = Vec::with_capacity(n);
    let mut pending = JoinSet::new();
    for _ in 0..n {
        if pending.len() >= concurrency {
            clients.push(pending.join_next().await.unwrap().unwrap());
        }
        let url = url.clone();
        pending.spawn(async move { Client::connect(&url).await });
    }
    while let Some(client) = pending.join_next().await {
        clients.push(client.unwrap());
    }
    clients
}

/// 1. Thousands admitted at once, all reached by one broadcast, nothing left after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_connections_each_get_the_room_broadcast_and_leave_nothing_behind() {
    raise_open_files_limit(2_000);
    let server = Server::start(Test::CONFIG.with_max_connections(2_000)).await;
    let mut clients = connect_many(&server, 2_000, 200).await;
    let mut joins = JoinSet::new();
    for mut client in clients.drain(..) {
        joins.spawn(async move {
            client.join("all").await;
            client.sync().await;
            client
        });
    }
    while let Some(client) = joins.join_next().await {
        clients.push(client.unwrap());
    }
    assert_eq!(server.manager.room_size("all"), 2_000);

    let delivery = server
        .manager
        .to_room("all")
        .send(test::Said {
            room: "all".into(),
            text: "to everyone".into(),
            from: 0,
        })
        .unwrap();
    assert_eq!(delivery.queued, 2_000);
    let mut reads = JoinSet::new();
    for mut client in clients {
        reads.spawn(async move {
            assert_eq!(client.recv().await["text"], "to everyone");
            client.close(1000, "").await;
        });
    }
    while let Some(read) = reads.join_next().await {
        read.unwrap();
    }
    server
        .until("every connection gone", |m| {
            m.connections() == 0 && m.admitted() == 0
        })
        .await;
    assert_eq!(server.manager.rooms(), 0);
}

/// 2. Connect/disconnect churn: clean closes, dropped sockets, clients that
/// never send a byte. Nothing leaks: connections, rooms, users, slots, tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaves_no_connection_membership_slot_or_task_behind() {
    raise_open_files_limit(500);
    let server = Server::start(Test::CONFIG.with_max_connections(500)).await;
    // Warm up the server's own tasks, then take the baseline.
    server.connect().await.close(1000, "").await;
    server.until("warm-up gone", |m| m.admitted() == 0).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let baseline = alive_tasks();

    for round in 0..20 {
        let mut clients = JoinSet::new();
        for i in 0..500usize {
            let url = server.url(&format!("?user=u{}", i % 50));
            let addr = server.addr;
            clients.spawn(async move {
                match i % 4 {
                    // Clean close after some traffic.
                    0 => {
                        let mut c = Client::connect(&url).await;
                        c.join(&format!("room{}", i % 10)).await;
                        c.sync().await;
                        c.close(1000, "bye").await;
                    }
                    // TCP dropped without a close frame, after joining.
                    1 => {
                        let mut c = Client::connect(&url).await;
                        c.join(&format!("room{}", i % 10)).await;
                        c.send(json!({"type": "login", "user": format!("v{i}")}))
                            .await;
                        drop(c);
                    }
                    // Never sends a byte after the handshake, then vanishes.
                    2 => drop(RawClient::connect(addr).await),
                    // Clean close without ever sending a message.
                    _ => Client::connect(&url).await.close(1000, "").await,
                }
            });
        }
        while let Some(done) = clients.join_next().await {
            done.unwrap();
        }
        server
            .until(&format!("round {round} cleaned up"), |m| {
                m.connections() == 0 && m.admitted() == 0
            })
            .await;
    }
    assert_eq!(server.manager.rooms(), 0);
    assert_eq!(server.manager.users(), 0);
    eventually("tasks back to the baseline", || alive_tasks() <= baseline).await;
    assert_eq!(
        server.manager.stats().rejected,
        0,
        "the cap was never exceeded"
    );
}

/// 3. A client that never reads, under 1 MB broadcasts, is evicted; fast
/// clients get everything in order; memory does not scale with recipients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_evicted_while_fast_readers_get_every_1mb_message_in_order() {
    const FAST: usize = 50;
    const MESSAGES: usize = 200;
    const PAYLOAD: usize = 1 << 20;
    const WINDOW: usize = 8;
    const QUEUE: usize = 16;
    raise_open_files_limit(FAST as u64 + 1);
    let config = Test::CONFIG
        .with_send_queue(QUEUE)
        .with_on_full(Overflow::Close);
    let server = Server::start(config).await;
    let mut slow = server.member("big").await;
    let mut fast = Vec::new();
    for _ in 0..FAST {
        let client = server.member("big").await;
        fast.push(client);
    }

    // Fast readers count what they got, in order, without keeping payloads.
    let (progress_tx, progress) = tokio::sync::watch::channel(vec![0usize; FAST]);
    let progress_tx = std::sync::Arc::new(progress_tx);
    let mut readers = JoinSet::new();
    for (index, mut client) in fast.into_iter().enumerate() {
        let progress_tx = std::sync::Arc::clone(&progress_tx);
        readers.spawn(async move {
            for expected in 0..MESSAGES {
                let Some(Ok(Message::Text(text))) =
                    client.next_frame(&format!("message {expected}")).await
                else {
                    panic!("fast client {index} lost its connection at {expected}");
                };
                let seq: usize = text[..64].split('|').nth(1).unwrap().parse().unwrap();
                assert_eq!(
                    seq, expected,
                    "fast client {index} got messages out of order"
                );
                progress_tx.send_modify(|p| p[index] = expected + 1);
            }
        });
    }

    let rss_before = rss_bytes();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(rss_before));
    let sampler = {
        let peak = std::sync::Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_bytes(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let padding = "x".repeat(PAYLOAD);
    let mut progress = progress;
    for n in 0..MESSAGES {
        // At most WINDOW broadcasts in flight towards the fast readers.
        progress
            .wait_for(|p| p.iter().all(|&got| got + WINDOW > n))
            .await
            .unwrap();
        let text = format!("|{n}|{padding}");
        server
            .manager
            .to_room("big")
            .send(test::Said {
                room: "big".into(),
                text,
                from: 0,
            })
            .unwrap();
    }
    while let Some(reader) = readers.join_next().await {
        reader.unwrap();
    }
    sampler.abort();
    let growth = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(rss_before);

    assert_eq!(
        server.manager.stats().evicted,
        1,
        "only the slow reader is evicted"
    );
    // The server closed it with the configured code. The close frame waits
    // behind megabytes the client never read, so after the writer's grace
    // period the socket is dropped: the client sees the frame or a reset.
    let evicted = |d: &ws_core::Disconnect| d.server_close.as_ref().is_some_and(|c| c.code == 1013);
    eventually("the slow client's disconnect", || {
        server.disconnects().iter().any(evicted)
    })
    .await;
    let mut frames = 0;
    loop {
        match slow.next_frame("the slow client's close").await {
            Some(Ok(Message::Text(_))) => frames += 1,
            Some(Ok(Message::Close(Some(close)))) => {
                assert_eq!(u16::from(close.code), 1013);
                break;
            }
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            Some(Err(_)) | None => break,
        }
    }
    assert!(frames < MESSAGES, "the slow client did not get everything");

    // The bound, derived: shared payloads alive at once are at most the slow
    // queue plus the window (QUEUE + WINDOW); each of the FAST + 1 server
    // writers holds at most one frame in its write buffer; each fast client
    // (same process) holds a read buffer and a message; plus 64 MiB slack.
    // Copying the payload per recipient would add WINDOW * FAST MiB = 400 MiB.
    let bound = (QUEUE + WINDOW) * PAYLOAD + (FAST + 1) * PAYLOAD + FAST * 3 * PAYLOAD + (64 << 20);
    eprintln!("RSS growth {} MiB, bound {} MiB", growth >> 20, bound >> 20);
    assert!(
        growth < bound,
        "RSS grew by {} MiB; bound {} MiB",
        growth >> 20,
        bound >> 20
    );
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// 4. Concurrent broadcasters: each sender's sequence arrives in order, no gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_broadcasts_keep_each_senders_order_without_gaps() {
    const SENDERS: u64 = 8;
    const EACH: u64 = 1_000;
    const CLIENTS: usize = 100;
    raise_open_files_limit(CLIENTS as u64);
    let server = Server::start(Test::CONFIG.with_send_queue(10_000)).await;
    let mut clients = connect_many(&server, CLIENTS, 50).await;
    for client in &mut clients {
        client.join("seq").await;
        client.sync().await;
    }
    let mut readers = JoinSet::new();
    for mut client in clients {
        readers.spawn(async move {
            let mut next = HashMap::new();
            for _ in 0..SENDERS * EACH {
                let Some(Ok(Message::Text(text))) = client.next_frame("a broadcast").await else {
                    panic!("connection lost");
                };
                let message: serde_json::Value = serde_json::from_str(&text).unwrap();
                let sender = message["from"].as_u64().unwrap();
                let n: u64 = message["text"].as_str().unwrap().parse().unwrap();
                let expected = next.entry(sender).or_insert(0u64);
                assert_eq!(n, *expected, "sender {sender}: gap or reorder");
                *expected += 1;
            }
            assert!(next.values().all(|&n| n == EACH));
        });
    }
    let mut senders = JoinSet::new();
    for sender in 0..SENDERS {
        let manager = server.manager.clone();
        senders.spawn(async move {
            for n in 0..EACH {
                let said = test::Said {
                    room: "seq".into(),
                    text: n.to_string(),
                    from: sender,
                };
                manager.to_room("seq").send(said).unwrap();
                if n % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    while let Some(sent) = senders.join_next().await {
        sent.unwrap();
    }
    while let Some(read) = readers.join_next().await {
        read.unwrap();
    }
    assert_eq!(server.manager.stats().dropped, 0);
}

/// 5. Joins and user changes racing with disconnects leave nothing stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_racing_disconnects_leave_no_stale_membership() {
    // 100 at a time, but a dropped socket's server side may linger a while.
    raise_open_files_limit(2_000);
    let server = Server::default().await;
    let mut clients = JoinSet::new();
    for i in 0..2_000u64 {
        let url = server.url("");
        clients.spawn(async move {
            let mut c = Client::connect(&url).await;
            // The spawned join lands before, during or after the disconnect.
            for k in 0..3 {
                c.send(json!({
                    "type": "join_later",
                    "room": format!("race{}", (i + k) % 7),
                    "user": format!("racer{}", i % 13),
                    "delay_us": (i * 37 + k * 101) % 700,
                }))
                .await;
            }
            if i % 2 == 0 {
                c.close(1000, "").await;
            } else {
                drop(c);
            }
        });
        if clients.len() >= 100 {
            clients.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    server
        .until("all gone", |m| m.connections() == 0 && m.admitted() == 0)
        .await;
    // No handler runs once every connection is gone, so no join is spawned
    // after this: wait until each spawned one has done its join and login.
    let app = &server.app;
    eventually("every spawned join has run", || {
        app.joins_later_done.load(SeqCst) == app.joins_later_started.load(SeqCst)
    })
    .await;
    assert_eq!(server.manager.rooms(), 0, "a room kept a closed member");
    assert_eq!(server.manager.users(), 0, "a user kept a closed connection");
}

/// Shuts `server` down with `deadline` and fails if that takes longer than
/// the deadline plus a slack of 1.5 s: up to 1 s that `Manager::shutdown`
/// itself allows killed tasks to end after the deadline (manager.rs), and
/// 0.5 s for a loaded two-core CI runner to schedule those tasks and this one.
async fn shutdown_within_bound(server: &Server, deadline: Duration) -> ws_core::ShutdownReport {
    const SLACK: Duration = Duration::from_millis(1_500);
    let started = Instant::now();
    let report = tokio::time::timeout(deadline + SLACK, server.manager.shutdown(deadline))
        .await
        .unwrap_or_else(|_| {
            panic!("shutdown({deadline:?}) did not return within {SLACK:?} after its deadline")
        });
    eprintln!(
        "shutdown({deadline:?}) returned after {:?}",
        started.elapsed()
    );
    report
}

/// 6. Shutdown with a thousand idle clients: all get 1001, it returns within
/// its deadline, no task is left and new connects get 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_idle_client_with_1001_and_leaves_no_task() {
    raise_open_files_limit(1_000);
    let server = Server::start(Test::CONFIG.with_max_connections(2_000)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let baseline = alive_tasks();
    let mut clients = connect_many(&server, 1_000, 100).await;
    server
        .until("all registered", |m| m.connections() == 1_000)
        .await;
    // Clients read concurrently, as live clients do.
    let mut readers = JoinSet::new();
    for mut client in clients.drain(..) {
        readers.spawn(async move { client.closed().await });
    }

    let report = shutdown_within_bound(&server, Duration::from_secs(10)).await;
    assert_eq!(report.closed, 1_000);
    assert_eq!(report.forced, 0);
    assert_eq!(server.manager.admitted(), 0);
    assert_eq!(server.manager.connections(), 0);
    while let Some(closed) = readers.join_next().await {
        assert_eq!(closed.unwrap(), (1001, "server shutting down".to_owned()));
    }
    let (status, _) = Client::refused(&server.url("")).await;
    assert_eq!(status, 503);
    eventually("no connection task left", || alive_tasks() <= baseline).await;
}

/// 6b. Past the deadline, shutdown ends connections whose peer never reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_forces_stuck_connections_at_its_deadline() {
    let server = Server::start(Test::CONFIG.with_send_queue(1_000)).await;
    let _stuck = server.member("stuck").await;
    // More than the socket buffers hold: the writer blocks; nobody reads.
    let text = "x".repeat(256 << 10);
    for _ in 0..100 {
        let said = test::Said {
            room: "stuck".into(),
            text: text.clone(),
            from: 0,
        };
        server.manager.to_room("stuck").send(said).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Longer than the slack, so that overrunning the deadline by half of it
    // or more fails the bound.
    let report = shutdown_within_bound(&server, Duration::from_secs(3)).await;
    assert_eq!(report.forced, 1);
    assert_eq!(server.manager.admitted(), 0);
    let disconnect = &server.disconnects()[0];
    assert_eq!(disconnect.server_close.as_ref().map(|c| c.code), Some(1001));
}

/// 9. The rate limit drops with a typed error, or closes with 1008.
#[tokio::test]
async fn over_the_rate_limit_messages_are_refused_as_configured() {
    use ws_core::{OnRateLimit, RateLimit};
    let limit = RateLimit::new(5, Duration::from_secs(60)).with_burst(5);
    let server = Server::start(Test::CONFIG.with_rate_limit(Some(limit))).await;
    let mut a = server.connect().await;
    for i in 0..8 {
        a.send(json!({"type": "echo", "text": i.to_string()})).await;
    }
    let mut echoed = 0;
    let mut limited = 0;
    for _ in 0..8 {
        let message = a.recv().await;
        match message["type"].as_str() {
            Some("echo") => echoed += 1,
            Some("error") => {
                assert_eq!(message["code"], "rate_limited");
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((echoed, limited), (5, 3));
    assert_eq!(server.manager.stats().rate_limited, 3);
    // A request over the limit is refused with its correlation id.
    let mut b = server.connect().await;
    for id in 1..=7 {
        b.send(json!({"type": "whoami", "id": id})).await;
    }
    for id in 1..=7 {
        let message = b.recv().await;
        assert_eq!(message["id"], id, "{message}");
        let limited = message["type"] == "error" && message["code"] == "rate_limited";
        assert_eq!(limited, id > 5, "{message}");
    }

    let config = Test::CONFIG
        .with_rate_limit(Some(limit))
        .with_on_rate_limit(OnRateLimit::Close);
    let server = Server::start(config).await;
    let mut flood = server.connect().await;
    let mut calm = server.connect().await;
    for i in 0..20 {
        // The server may close mid-flood; later sends may fail.
        let _ = flood
            .ws
            .send(Message::text(
                json!({"type": "echo", "text": i.to_string()}).to_string(),
            ))
            .await;
    }
    assert_eq!(flood.closed().await.0, 1008);
    calm.sync().await;
}
