//! Delivery under drops and deploys (issue 10, tests 1 and 2 in full, and
//! the deploy test), every part its own process: the chat example as the
//! server (one node, or two sharing a `redis-server` this test starts), a
//! publisher in a child process (this test binary re-run as
//! [`publisher_process`]), and the subscriber in this test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::support::history::{assert_said, cut, join};
use crate::support::process::{ChatProcess, TestProcess, chat_example, is_child};
use crate::support::redis::Redis;
use crate::support::{Client, WAIT};

/// Set in the publisher process's environment: `ADDR[,ADDR...];ROOM;COUNT;RATE`.
const PUBLISH: &str = "WS_E2E_PUBLISH";

const PUBLISHER: &str = "drops::publisher_process";

/// The publisher in a child process; killed when dropped.
struct Publisher(TestProcess);

impl Publisher {
    /// Says `count` messages into `room` at `rate` per second, texts `0`,
    /// `1`, ...; connected to the first of `nodes`, and to the next one
    /// whenever its node closes (a deploy).
    fn start(nodes: &[SocketAddr], room: &str, count: u64, rate: u64) -> Publisher {
        let nodes: Vec<String> = nodes.iter().map(ToString::to_string).collect();
        let spec = format!("{};{room};{count};{rate}", nodes.join(","));
        Publisher(TestProcess::start(PUBLISHER, &[(PUBLISH.to_owned(), spec)]))
    }

    /// Waits until it has said everything and each `say` was handled.
    async fn finish(mut self) {
        let status = self.0.exit_within(Duration::from_secs(120)).await;
        assert!(status.success(), "the publisher failed: {status}");
    }
}

/// Not a test on its own: the publisher process of the tests below.
#[test]
#[ignore = "the publisher process of the drops tests, which start it themselves"]
fn publisher_process() {
    if !is_child(PUBLISHER) {
        return;
    }
    let spec = std::env::var(PUBLISH).unwrap();
    let parts: Vec<&str> = spec.split(';').collect();
    let nodes: Vec<SocketAddr> = parts[0].split(',').map(|a| a.parse().unwrap()).collect();
    let (room, count, rate): (&str, u64, u64) = (
        parts[1],
        parts[2].parse().unwrap(),
        parts[3].parse().unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut on = 0;
        let mut ws = connect_any(&nodes, &mut on).await;
        let start = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let mut sent = 0;
        while sent < count {
            tick.tick().await;
            // Late ticks catch up: the rate is an average.
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due.min(count) {
                let say = json!({"type": "say", "room": room, "text": sent.to_string()});
                let sending = ws.send(Message::Text(say.to_string().into()));
                // A closing node (1012) refuses it: say it on the next one.
                // What was in flight to the old node may be lost: client to
                // server delivery is the acks' business, not history's.
                if sending.await.is_err() {
                    ws = connect_any(&nodes, &mut on).await;
                    continue;
                }
                sent += 1;
                // Keep the read side moving: pings, and the close of a deploy.
                while let Ok(Some(frame)) = timeout(Duration::ZERO, ws.next()).await {
                    if !matches!(
                        frame,
                        Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))
                    ) {
                        ws = connect_any(&nodes, &mut on).await;
                        break;
                    }
                }
            }
        }
        // Every `say` handled: an echo comes back after them.
        loop {
            let echo = json!({"type": "echo", "text": "done"}).to_string();
            if ws.send(Message::Text(echo.into())).await.is_ok() {
                let answer = timeout(WAIT, async {
                    while let Some(Ok(frame)) = ws.next().await {
                        if let Message::Text(text) = frame
                            && text.contains("\"echo\"")
                        {
                            return true;
                        }
                    }
                    false
                });
                if answer.await == Ok(true) {
                    break;
                }
            }
            ws = connect_any(&nodes, &mut on).await;
        }
    });
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection to the first node from `on` that accepts one (a node
/// shutting down refuses, one restarting is not listening yet); `on` moves
/// past it, so the next call tries another node first.
async fn connect_any(nodes: &[SocketAddr], on: &mut usize) -> Ws {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let addr = nodes[*on % nodes.len()];
        *on += 1;
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
            return ws;
        }
        assert!(tokio::time::Instant::now() < deadline, "no node accepts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Tests 1 and 2: a subscriber cut 20 times (a TCP reset, no close frame)
/// while the publisher process says `MESSAGES` at 1,000 per second, back
/// within a second each time (a pause of 10 to 290 ms, so that each resume
/// has something to replay), on `nodes` in turn. It ends with every message
/// exactly once and in order; and so does a member on each node that is
/// never cut (a resume on its node must not take its messages: it did on
/// two nodes, when a resume's read ran ahead of the node's subscription).
async fn cut_twenty_times(nodes: &[SocketAddr]) {
    const MESSAGES: u64 = 10_000;
    const CUTS: u64 = 20;
    let (mut sub, joined) = join(nodes[0], "feed", None).await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    assert_eq!(joined["offset"], 0);
    let mut bystanders = Vec::new();
    for &node in nodes {
        let (mut member, joined) = join(node, "feed", None).await;
        assert_eq!(joined["epoch"], epoch.as_str());
        let epoch = epoch.clone();
        bystanders.push(tokio::spawn(async move {
            for offset in 1..=MESSAGES {
                assert_said(&member.recv().await, &epoch, offset);
            }
        }));
    }
    let publisher = Publisher::start(&nodes[..1], "feed", MESSAGES, 1_000);
    let every = MESSAGES / (CUTS + 1);
    let (mut cuts, mut replayed) = (0, 0);
    let mut offset = 0;
    while offset < MESSAGES {
        offset += 1;
        assert_said(&sub.recv().await, &epoch, offset);
        if cuts < CUTS && offset % every == 0 {
            cut(sub);
            cuts += 1;
            tokio::time::sleep(Duration::from_millis(10 + 70 * cuts % 290)).await;
            let node = nodes[cuts as usize % nodes.len()];
            let (resumed, joined) = join(node, "feed", Some((&epoch, offset))).await;
            assert_eq!(joined["recovered"], true, "{joined}");
            assert_eq!(joined["epoch"], epoch.as_str());
            assert!(joined.get("reason").is_none(), "{joined}");
            replayed += joined["offset"].as_u64().unwrap() - offset;
            sub = resumed;
        }
    }
    assert_eq!(cuts, CUTS);
    publisher.finish().await;
    sub.quiet().await;
    for bystander in bystanders {
        bystander.await.unwrap();
    }
    eprintln!("{CUTS} cuts, {replayed} messages replayed in all");
}

/// Issue 10, test 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_twenty_times_during_10_000_messages_from_another_process() {
    let chat = ChatProcess::start("127.0.0.1:0", &[]).await;
    cut_twenty_times(&[chat.addr]).await;
}

/// Issue 10, test 2: each resume on the other node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_twenty_times_resuming_on_the_other_node() {
    let redis = Redis::own();
    let a = ChatProcess::start("127.0.0.1:0", &["--redis", redis.url()]).await;
    let b = ChatProcess::start("127.0.0.1:0", &["--redis", redis.url()]).await;
    until_in_cluster(&[a.addr, b.addr], "feed", None).await;
    cut_twenty_times(&[a.addr, b.addr]).await;
}

/// Waits until every node answers a join of `room` under one epoch (or
/// `epoch`): the room's epoch in Redis, so each node's link to it is up (a
/// node without it answers an epoch of its own). Returns that epoch.
async fn until_in_cluster(nodes: &[SocketAddr], room: &str, epoch: Option<&str>) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut epochs = Vec::new();
        for &node in nodes {
            let (_client, joined) = join(node, room, None).await;
            epochs.push(joined["epoch"].as_str().unwrap().to_owned());
        }
        let agreed = epochs.iter().all(|e| *e == epochs[0]);
        if agreed && epoch.is_none_or(|e| e == epochs[0]) {
            return epochs.swap_remove(0);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not one cluster: {epochs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A subscriber that, when its node closes it (a deploy: 1012), joins
/// again on the other node with its position, as the clients do.
struct Resuming {
    client: Client,
    nodes: [SocketAddr; 2],
    on: usize,
    epoch: String,
    last: u64,
    /// The publisher's counter of each message, in the order received.
    texts: Vec<u64>,
    closes: Vec<u16>,
}

impl Resuming {
    async fn start(nodes: [SocketAddr; 2], on: usize) -> Resuming {
        let (client, joined) = join(nodes[on], "deploy", None).await;
        Resuming {
            client,
            nodes,
            on,
            epoch: joined["epoch"].as_str().unwrap().to_owned(),
            last: joined["offset"].as_u64().unwrap(),
            texts: Vec::new(),
            closes: Vec::new(),
        }
    }

    /// Reads until it has processed offset `head`.
    async fn until(&mut self, head: &AtomicU64, progress: &AtomicU64) {
        while self.last < head.load(Ordering::Acquire) {
            let frame = timeout(Duration::from_millis(50), self.client.ws.next()).await;
            let frame = match frame {
                Err(_) => continue,
                Ok(frame) => frame,
            };
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let said: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(said["type"], "said", "{said}");
                    assert_eq!(said["epoch"], self.epoch.as_str(), "{said}");
                    assert_eq!(
                        said["offset"],
                        self.last + 1,
                        "a gap or a duplicate: {said}"
                    );
                    self.last += 1;
                    progress.fetch_max(self.last, Ordering::AcqRel);
                    self.texts
                        .push(said["text"].as_str().unwrap().parse().unwrap());
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or(1005, |CloseFrame { code, .. }| code.into());
                    assert_eq!(code, 1012, "a deploy closes with 1012");
                    self.closes.push(code);
                    self.resume().await;
                }
                Some(Ok(_)) => {}
                other => panic!("the connection ended without a close frame: {other:?}"),
            }
        }
    }

    /// Joins on the other node (or this one, restarted) from `last`.
    async fn resume(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            self.on = 1 - self.on;
            let url = format!("ws://{}/ws", self.nodes[self.on]);
            if let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await {
                let mut client = Client {
                    ws,
                    sent: Vec::new(),
                    received: Vec::new(),
                };
                client
                    .send(json!({"type": "join", "room": "deploy",
                        "since": {"epoch": self.epoch, "offset": self.last}}))
                    .await;
                let joined = client.recv().await;
                assert_eq!(joined["type"], "joined", "{joined}");
                assert_eq!(joined["recovered"], true, "{joined}");
                assert_eq!(joined["epoch"], self.epoch.as_str(), "{joined}");
                self.client = client;
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "no node accepts");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The deploy test: a rolling restart of two nodes (SIGTERM to A, A started
/// again, then the same for B) while a publisher process says 6,000
/// messages at 1,000 per second. Subscribers on both nodes, closed with
/// 1012, resume on the other node; each ends with every message of the
/// room exactly once and in order, the same sequence for all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_two_nodes_loses_nothing_for_resuming_clients() {
    const MESSAGES: u64 = 6_000;
    let redis = Redis::own();
    let mut a = ChatProcess::start("127.0.0.1:0", &["--redis", redis.url()]).await;
    let mut b = ChatProcess::start("127.0.0.1:0", &["--redis", redis.url()]).await;
    let nodes = [a.addr, b.addr];
    let epoch = until_in_cluster(&nodes, "deploy", None).await;

    let head = Arc::new(AtomicU64::new(u64::MAX));
    let progress = Arc::new(AtomicU64::new(0));
    let mut subscribers = Vec::new();
    for i in 0..4 {
        let mut sub = Resuming::start(nodes, i % 2).await;
        assert_eq!(sub.epoch, epoch);
        let (head, progress) = (Arc::clone(&head), Arc::clone(&progress));
        subscribers.push(tokio::spawn(async move {
            sub.until(&head, &progress).await;
            sub
        }));
    }
    let publisher = Publisher::start(&nodes, "deploy", MESSAGES, 1_000);

    // Each restart under the publisher: once the room has moved on.
    let moved_past = |n: u64| {
        let progress = Arc::clone(&progress);
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while progress.load(Ordering::Acquire) < n {
                assert!(tokio::time::Instant::now() < deadline, "the room is stuck");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    moved_past(1_000).await;
    a.restart().await;
    until_in_cluster(&[a.addr], "deploy", Some(&epoch)).await;
    moved_past(progress.load(Ordering::Acquire) + 1_000).await;
    b.restart().await;
    until_in_cluster(&[b.addr], "deploy", Some(&epoch)).await;

    publisher.finish().await;
    // The room's head: a join answers its latest offset.
    let (_probe, joined) = join(a.addr, "deploy", None).await;
    assert_eq!(
        joined["epoch"],
        epoch.as_str(),
        "the history outlived both restarts"
    );
    let last = joined["offset"].as_u64().unwrap();
    head.store(last, Ordering::Release);
    let mut sequences = Vec::new();
    for subscriber in subscribers {
        let sub = subscriber.await.unwrap();
        assert_eq!(sub.last, last);
        assert!(
            !sub.closes.is_empty(),
            "every subscriber lived through a restart"
        );
        sequences.push(sub.texts);
    }
    // Every message the cluster took, in the publisher's order.
    assert!(sequences[0].windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(
        sequences.iter().all(|s| *s == sequences[0]),
        "the same for all"
    );
    // At most what the publisher said: what was in flight to a closing
    // node may be missing (client to server delivery is the acks' issue).
    assert!(last <= MESSAGES, "{last} of {MESSAGES}");
    eprintln!("the cluster took {last} of {MESSAGES}; every subscriber got all {last}");
}

/// The chat example listens only once its Redis backend is connected, so
/// that no join is answered from a node-local history (a resume told
/// `epoch_changed` though Redis has the room). Without Redis within
/// `--redis-wait` it never listens, says why and exits 1; started before
/// its Redis, it listens once Redis is up and resumes from Redis's history.
#[tokio::test]
async fn the_chat_example_listens_only_once_its_redis_is_connected() {
    let mut redis = Redis::not_started();
    let alone = tokio::process::Command::new(chat_example())
        .args(["--addr", "127.0.0.1:0", "--redis", redis.url()])
        .args(["--redis-wait", "1"])
        .output();
    let alone = timeout(WAIT, alone).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&alone.stdout);
    let stderr = String::from_utf8_lossy(&alone.stderr);
    assert_eq!(alone.status.code(), Some(1), "{stderr}");
    assert!(!stdout.contains("chat listening"), "it listened: {stdout}");
    assert!(stderr.contains("Redis not reachable within 1s"), "{stderr}");

    let mut early = ChatProcess::spawn("127.0.0.1:0", &["--redis", redis.url()]);
    redis.start();
    early.until_listening().await;
    let other = ChatProcess::start("127.0.0.1:0", &["--redis", redis.url()]).await;
    let (mut speaker, _) = join(other.addr, "e", None).await;
    speaker
        .send(json!({"type": "say", "room": "e", "text": "hi"}))
        .await;
    let said = speaker.recv().await;
    assert_eq!(said["offset"], 1, "{said}");
    let epoch = said["epoch"].as_str().unwrap();
    let (_, joined) = join(early.addr, "e", Some((epoch, 0))).await;
    assert_eq!(joined["recovered"], true, "{joined}");
}
