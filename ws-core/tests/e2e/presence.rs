//! Presence on the chat example as run in production: several processes
//! sharing a Redis, real sockets, a process killed with SIGKILL. Checks
//! the `who`/`present` wire contract, that a dead node's users leave
//! presence within its presence TTL, and that the debounce of presence
//! events hides a second tab and a quick reconnect.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

use crate::cluster::Redis;
use crate::config::chat_example;
use crate::support::{Client, WAIT};

/// The presence TTL the nodes run with: the bound on a dead node's users.
const TTL_MS: u64 = 1000;

/// A chat example process; killed (SIGKILL) when dropped.
struct Node {
    child: Child,
    addr: SocketAddr,
}

impl Node {
    async fn start(redis: &Redis, extra: &[&str]) -> Node {
        let ttl = TTL_MS.to_string();
        let mut child = Command::new(chat_example())
            .args(["--addr", "127.0.0.1:0", "--redis", redis.url()])
            .args(["--presence-ttl", &ttl])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("run the chat example");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = timeout(WAIT, stdout.next_line())
            .await
            .expect("the chat example did not start within the wait")
            .unwrap()
            .expect("the chat example exited before listening");
        let addr = line
            .strip_prefix("chat listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .parse()
            .unwrap();
        Node { child, addr }
    }

    /// A tab of `user`, in `room` (its `joined` read).
    async fn tab(&self, user: &str, room: &str) -> Client {
        let mut client = Client::connect(&format!("ws://{}/ws?user={user}", self.addr)).await;
        client.join(room).await;
        loop {
            let message = client.recv().await;
            if message["type"] == "joined" {
                return client;
            }
        }
    }

    /// SIGKILL: no close, no withdrawal, nothing said to Redis.
    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Asks `who` and returns the `present` answer, skipping anything else.
async fn who(client: &mut Client, room: &str, id: u64) -> Value {
    client
        .send(json!({"type": "who", "room": room, "id": id}))
        .await;
    loop {
        let message = client.recv().await;
        if message["type"] == "present" {
            return message;
        }
    }
}

/// The `users` of `present` answers until they equal `expected`; fails
/// after the wait, showing the last answer.
async fn who_until(client: &mut Client, room: &str, expected: Value) -> Value {
    let mut last = Value::Null;
    for id in 1..=500u64 {
        last = who(client, room, id).await;
        assert_eq!(
            last,
            json!({"type": "present", "room": room, "users": last["users"], "id": id}),
            "the exact shape of `present`"
        );
        if last["users"] == expected {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("`who` never showed {expected}; last: {last}");
}

fn user(name: &str, connections: u64) -> Value {
    json!({"user": name, "connections": connections})
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The expiry times (ms since the epoch) of the live nodes' presence.
async fn node_expiries(redis: &Redis) -> Vec<u64> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let scored: Vec<(u64, u64)> = redis::cmd("ZRANGE")
        .arg("ws:Chat:nodes")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .unwrap();
    scored.into_iter().map(|(_, at)| at).collect()
}

#[tokio::test]
async fn who_spans_two_nodes_and_a_sigkilled_nodes_users_go_within_its_ttl() {
    let redis = Redis::own();
    let a = Node::start(&redis, &[]).await;
    let b = Node::start(&redis, &[]).await;
    // Three users with two tabs each: alice on A, carol on B, bob on both.
    let mut tabs = vec![
        a.tab("alice", "lobby").await,
        a.tab("alice", "lobby").await,
        a.tab("bob", "lobby").await,
        b.tab("bob", "lobby").await,
        b.tab("carol", "lobby").await,
        b.tab("carol", "lobby").await,
    ];
    let everyone = json!([user("alice", 2), user("bob", 2), user("carol", 2)]);
    who_until(&mut tabs[0], "lobby", everyone.clone()).await;
    who_until(&mut tabs[5], "lobby", everyone).await;
    // Another room, and nobody's room, answer with what they hold.
    who_until(&mut tabs[0], "nowhere", json!([])).await;

    b.kill().await;
    let killed_at = now_ms();
    // The bound, from Redis's own state rather than a stopwatch: every
    // node's presence expires at most one TTL after its last heartbeat,
    // and the killed node's last one was before the kill.
    let expiries = node_expiries(&redis).await;
    assert_eq!(
        expiries.len(),
        2,
        "both nodes listed, the dead one until its expiry"
    );
    for expiry in expiries {
        assert!(
            expiry <= killed_at + TTL_MS,
            "a node's presence outlives the kill by more than its TTL: {expiry} > {killed_at} + {TTL_MS}"
        );
    }
    // A reader ignores a node whose expiry has passed: B's users go.
    who_until(
        &mut tabs[0],
        "lobby",
        json!([user("alice", 2), user("bob", 1)]),
    )
    .await;
    drop(tabs);
}

/// The `presence_diff` messages `client` gets until one has `user` in its
/// `key` (`joined` or `left`), appended to `diffs`.
async fn diffs_until(client: &mut Client, key: &str, user: &str, diffs: &mut Vec<Value>) {
    loop {
        let message = client.recv().await;
        if message["type"] != "presence_diff" {
            continue;
        }
        let done = names(&message, key).contains(&json!(user));
        diffs.push(message);
        if done {
            return;
        }
    }
}

/// The user names in a diff's `joined` or `left`.
fn names(diff: &Value, key: &str) -> Vec<Value> {
    diff[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.get("user").cloned().unwrap_or_else(|| u.clone()))
        .collect()
}

#[tokio::test]
async fn a_second_tab_or_a_quick_reconnect_is_no_presence_event() {
    const WINDOW_MS: u64 = 1000;
    let window = WINDOW_MS.to_string();
    let redis = Redis::own();
    let a = Node::start(&redis, &["--presence-events", &window]).await;
    let b = Node::start(&redis, &["--presence-events", &window]).await;
    // Bob is in (in Redis) before alice joins: her node takes the room's
    // baseline, which announces nothing and holds him, before `joined`.
    let mut bob1 = b.tab("bob", "lobby").await;
    let bob2 = b.tab("bob", "lobby").await;
    who_until(&mut bob1, "lobby", json!([user("bob", 2)])).await;
    let mut alice = a.tab("alice", "lobby").await;
    // Alice's node samples one window after its baseline, taken just before
    // her `joined`: bob's gap below is placed around that sample, so an
    // undebounced tracker would see him gone.
    let baseline = tokio::time::Instant::now();
    tokio::time::sleep_until(baseline + Duration::from_millis(WINDOW_MS * 8 / 10)).await;

    // A second tab closes for good, and the other reconnects after a
    // client's back-off, well short of the window.
    drop(bob2);
    drop(bob1);
    tokio::time::sleep(Duration::from_millis(WINDOW_MS * 4 / 10)).await;
    let bob = b.tab("bob", "lobby").await;

    // Then dave comes and goes for good: the events that must arrive,
    // after any bob's noise would have.
    let dave = b.tab("dave", "lobby").await;
    let mut diffs = Vec::new();
    diffs_until(&mut alice, "joined", "dave", &mut diffs).await;
    drop(dave);
    diffs_until(&mut alice, "left", "dave", &mut diffs).await;
    for diff in &diffs {
        assert_eq!(diff["room"], "lobby", "{diff}");
        assert!(
            !names(diff, "left").contains(&json!("bob"))
                && !names(diff, "joined").contains(&json!("bob")),
            "bob's second tab or reconnect made noise: {diffs:?}"
        );
    }
    // A genuine arrival carries the user's connections.
    let arrival = diffs
        .iter()
        .find(|d| names(d, "joined").contains(&json!("dave")))
        .unwrap();
    assert!(
        arrival["joined"]
            .as_array()
            .unwrap()
            .contains(&user("dave", 1)),
        "{arrival}"
    );
    drop(bob);
}

/// The cost of presence events for a room of N: 200 users enter one by
/// one, then leave one by one, with events on. Sent to every member per
/// join and leave they would be 80,400 messages; batched per window, each
/// window in which something changed costs one message per member, so the
/// total is at most N × (windows with a change), and a window of quiet
/// costs nothing. Prints the figures for BENCHMARKS.md.
#[tokio::test]
async fn presence_events_cost_one_message_per_member_per_changed_window() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::chat_example::protocol::{PresentUser, chat};
    use crate::chat_example::serve;

    const N: usize = 200;
    let (addr, manager) = serve(|builder| builder).await;
    let windows = Arc::new(AtomicUsize::new(0));
    {
        let windows = Arc::clone(&windows);
        assert!(
            manager
                .presence_events(
                    "crowd",
                    Duration::from_millis(50),
                    move |diff: ws_core::presence::PresenceDiff| {
                        windows.fetch_add(1, Ordering::Relaxed);
                        chat::PresenceDiff {
                            room: diff.room.to_string(),
                            joined: diff
                                .joined
                                .iter()
                                .map(|p| PresentUser {
                                    user: p.user.to_string(),
                                    connections: p.connections as u64,
                                })
                                .collect(),
                            left: diff.left.iter().map(ToString::to_string).collect(),
                        }
                    }
                )
                .await
        );
    }
    let before = manager.stats().queued;
    let mut clients = Vec::new();
    for i in 0..N {
        let mut client = Client::connect(&format!("ws://{addr}/ws?user=u{i:03}")).await;
        client.join("crowd").await;
        assert_eq!(client.recv().await["type"], "joined");
        clients.push(client);
    }
    for client in clients {
        drop(client);
    }
    crate::support::eventually("everyone gone", || manager.room_size("crowd") == 0).await;
    // The leaves of the last members reach no one: the room is empty.
    let events = manager.stats().queued - before - N as u64;
    let windows = windows.load(Ordering::Relaxed);
    println!(
        "presence events, room of {N} entering then leaving one by one: \
         {events} messages in {windows} windows with a change \
         (naive per join and leave: 80,400)"
    );
    assert!(events <= (N * windows) as u64);
    assert!(events < 80_400);
}

/// The API across two in-process nodes: typed infos travel through Redis,
/// a user's tabs on two nodes add up, pages follow the cursor.
#[tokio::test]
async fn manager_presence_lists_typed_infos_across_nodes_in_pages() {
    use serde::{Deserialize, Serialize};

    use crate::cluster::{join_all, node, prefix, up};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Info {
        status: String,
    }

    let mut redis = Redis::own();
    let prefix = prefix("presence-api");
    let (a, b) = (node(&redis, &prefix).await, node(&redis, &prefix).await);
    let mut tabs = [
        a.connect_as("alice").await,
        a.connect_as("alice").await,
        b.connect_as("alice").await,
        b.connect_as("bob").await,
        b.connect().await, // anonymous: a connection, not a user
    ];
    let [t0, t1, t2, t3, t4] = &mut tabs;
    join_all(&mut [t0, t1, t2, t3, t4], "r").await;
    for id in b.manager.room_members("r") {
        b.manager
            .set_presence(
                id,
                &Info {
                    status: "busy".into(),
                },
            )
            .unwrap();
    }
    let count = b.manager.presence_count("r");
    assert_eq!((count.users, count.connections), (2, 3), "B alone, O(1)");

    let settled = |page: &ws_core::presence::Presence| {
        let seen: Vec<_> = page
            .users
            .iter()
            .map(|p| (p.user.to_string(), p.connections))
            .collect();
        seen == [("alice".to_owned(), 3), ("bob".to_owned(), 1)]
            && page.users[1].info::<Info>()
                == Some(Info {
                    status: "busy".into(),
                })
            && page.next.is_none()
    };
    let mut last = None;
    for _ in 0..500 {
        match a.manager.presence("r").await {
            Ok(page) if settled(&page) => break,
            other => last = Some(other),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(settled(&a.manager.presence("r").await.unwrap()), "{last:?}");

    // Redis restarts empty: each node writes its copy again on resync.
    redis.restart();
    up(&a).await;
    up(&b).await;
    for _ in 0..500 {
        match a.manager.presence("r").await {
            Ok(page) if settled(&page) => break,
            other => last = Some(other),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(settled(&a.manager.presence("r").await.unwrap()), "{last:?}");

    let first = a.manager.presence_page("r", None, 1).await.unwrap();
    assert_eq!(first.users[0].user.as_str(), "alice");
    let after = first.next.expect("a second page");
    let second = a
        .manager
        .presence_page("r", Some(after.as_str()), 1)
        .await
        .unwrap();
    assert_eq!(second.users[0].user.as_str(), "bob");
    assert!(second.next.is_none());
}

/// The chat's `presence_diff` message for a diff.
fn chat_diff(
    diff: ws_core::presence::PresenceDiff,
) -> crate::chat_example::protocol::chat::PresenceDiff {
    use crate::chat_example::protocol::{PresentUser, chat};
    chat::PresenceDiff {
        room: diff.room.to_string(),
        joined: diff
            .joined
            .iter()
            .map(|p| PresentUser {
                user: p.user.to_string(),
                connections: p.connections as u64,
            })
            .collect(),
        left: diff.left.iter().map(ToString::to_string).collect(),
    }
}

/// A user who joins in the first window after the room was empty (so
/// after the members already there read who is in) is announced to them in
/// the next diff: the first sample of an empty room is no silent baseline.
/// On one node (no backend), when the events start on an empty room and
/// when the room has emptied since.
#[tokio::test]
async fn the_first_window_after_an_empty_room_announces_everyone_on_one_node() {
    use crate::chat_example::serve;

    const WINDOW: Duration = Duration::from_millis(300);
    let (addr, manager) = serve(|builder| builder).await;
    assert!(manager.presence_events("r", WINDOW, chat_diff).await);
    let tab = |user: &'static str| async move {
        let mut client = Client::connect(&format!("ws://{addr}/ws?user={user}")).await;
        client.join("r").await;
        assert_eq!(client.recv().await["type"], "joined");
        client
    };
    for (first, second) in [("alice", "bob"), ("carol", "dave")] {
        // Both within one window of the room's first member.
        let mut early = tab(first).await;
        let late = tab(second).await;
        let mut diffs = Vec::new();
        diffs_until(&mut early, "joined", second, &mut diffs).await;
        drop((early, late));
        crate::support::eventually("the room empty", || manager.room_size("r") == 0).await;
        // A sample of the empty room.
        tokio::time::sleep(WINDOW * 3).await;
    }
}

/// The same across two nodes sharing a Redis: alice on A, then bob on B in
/// the same window; alice hears of bob in a diff, and bob, who came
/// second, reads alice in `who`.
#[tokio::test]
async fn the_first_window_after_an_empty_room_announces_everyone_across_two_nodes() {
    const WINDOW_MS: u64 = 300;
    let window = WINDOW_MS.to_string();
    let redis = Redis::own();
    let a = Node::start(&redis, &["--presence-events", &window]).await;
    let b = Node::start(&redis, &["--presence-events", &window]).await;
    for (first, second) in [("alice", "bob"), ("carol", "dave")] {
        let mut early = a.tab(first, "lobby").await;
        let mut late = b.tab(second, "lobby").await;
        let mut diffs = Vec::new();
        diffs_until(&mut early, "joined", second, &mut diffs).await;
        who_until(&mut late, "lobby", json!([user(first, 1), user(second, 1)])).await;
        drop((early, late));
        // Both nodes sample the room empty before the next round.
        tokio::time::sleep(Duration::from_millis(WINDOW_MS * 4)).await;
    }
}

/// Every key of `redis` matching `pattern`, with its TTL in ms (-1: none).
async fn ttls(redis: &Redis, pattern: &str) -> Vec<(String, i64)> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut out = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        out.push((key, ttl));
    }
    out
}

/// A node SIGKILLed right after its first presence write (a join, well
/// inside its first heartbeat) leaves nothing in Redis without an expiry:
/// its presence hash and its copy of the room expire from the first
/// write, not from the first heartbeat, so a crash-looping node leaks no
/// key per start. (The rooms' histories, `h{ROOM}:*`, are the rooms', not
/// the node's: bounded by count, and by `history_ttl` when set.)
#[tokio::test]
async fn a_node_killed_after_its_first_presence_write_leaves_no_key_without_expiry() {
    // A long TTL: the first heartbeat after the join is 20 s away.
    let redis = Redis::own();
    for round in 0..3 {
        let node = Node::start(&redis, &["--presence-ttl", "60000"]).await;
        let room = format!("r{round}");
        let mut client = Client::connect(&format!("ws://{}/ws?user=u{round}", node.addr)).await;
        client.join(&room).await;
        // Killed as soon as the join's write is in Redis.
        let mut written = false;
        for _ in 0..1000 {
            if ttls(&redis, &format!("ws:Chat:present:*:{room}"))
                .await
                .len()
                == 1
            {
                written = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(written, "the join never reached Redis");
        node.kill().await;
        drop(client);
        let keys = ttls(&redis, "ws:Chat:*").await;
        let node_keys: Vec<_> = keys
            .iter()
            .filter(|(key, _)| !key.starts_with("ws:Chat:h{"))
            .collect();
        assert!(
            node_keys
                .iter()
                .any(|(key, _)| key.starts_with("ws:Chat:presence:")),
            "{keys:?}"
        );
        for (key, ttl) in node_keys {
            assert!(*ttl > 0, "{key} has no expiry ({ttl}); all: {keys:?}");
        }
    }
}
