//! Presence on the chat example as run in production: several processes
//! sharing a Redis, real sockets, a process killed with SIGKILL. Checks
//! the `who`/`present` wire contract, that a dead node's users leave
//! presence within its presence TTL, and that the debounce of presence
//! events hides a second tab and a quick reconnect.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::Client;
use crate::support::chat::{diffs_until, names, present_user as typing, typing_update};
use crate::support::process::ChatProcess;
use crate::support::redis::Redis;

/// The presence TTL the nodes run with: the bound on a dead node's users.
const TTL_MS: u64 = 1000;

/// A node: the chat example on `redis` with the presence TTL of the tests.
async fn node(redis: &Redis, extra: &[&str]) -> ChatProcess {
    let ttl = TTL_MS.to_string();
    let mut args = vec!["--redis", redis.url(), "--presence-ttl", &ttl];
    args.extend_from_slice(extra);
    ChatProcess::start("127.0.0.1:0", &args).await
}

/// A tab of `user` on `node`, in `room` (its `joined` read).
async fn tab(node: &ChatProcess, user: &str, room: &str) -> Client {
    let mut client = Client::connect(&format!("ws://{}/ws?user={user}", node.addr)).await;
    client.join(room).await;
    loop {
        let message = client.recv().await;
        if message["type"] == "joined" {
            return client;
        }
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
    typing(name, connections, false)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A Redis of the test's own and two nodes on it, with presence events
/// every `window_ms`.
async fn windowed_nodes(window_ms: u64) -> (Redis, [ChatProcess; 2]) {
    let redis = Redis::own();
    let window = window_ms.to_string();
    let args = ["--presence-events", window.as_str()];
    let nodes = [node(&redis, &args).await, node(&redis, &args).await];
    (redis, nodes)
}

/// The expiry times (ms since the epoch) of the live nodes' presence.
async fn node_expiries(redis: &Redis) -> Vec<u64> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let scored: Vec<(u64, u64)> = redis::cmd("ZRANGE")
        .arg("ws:Chat:{presence}:nodes")
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
    let a = node(&redis, &[]).await;
    let b = node(&redis, &[]).await;
    // Three users with two tabs each: alice on A, carol on B, bob on both.
    let mut tabs = vec![
        tab(&a, "alice", "lobby").await,
        tab(&a, "alice", "lobby").await,
        tab(&a, "bob", "lobby").await,
        tab(&b, "bob", "lobby").await,
        tab(&b, "carol", "lobby").await,
        tab(&b, "carol", "lobby").await,
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

#[tokio::test]
async fn a_second_tab_or_a_quick_reconnect_is_no_presence_event() {
    const WINDOW_MS: u64 = 1000;
    let (_redis, [a, b]) = windowed_nodes(WINDOW_MS).await;
    // Bob is in (in Redis) before alice joins: her node takes the room's
    // baseline, which announces nothing and holds him, before `joined`.
    let mut bob1 = tab(&b, "bob", "lobby").await;
    let bob2 = tab(&b, "bob", "lobby").await;
    who_until(&mut bob1, "lobby", json!([user("bob", 2)])).await;
    let mut alice = tab(&a, "alice", "lobby").await;
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
    let bob = tab(&b, "bob", "lobby").await;

    // Then dave comes and goes for good: the events that must arrive,
    // after any bob's noise would have.
    let dave = tab(&b, "dave", "lobby").await;
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

/// The same across two nodes sharing a Redis: alice on A, then bob on B in
/// the same window; alice hears of bob in a diff, and bob, who came
/// second, reads alice in `who`.
#[tokio::test]
async fn the_first_window_after_an_empty_room_announces_everyone_across_two_nodes() {
    const WINDOW_MS: u64 = 300;
    let (_redis, [a, b]) = windowed_nodes(WINDOW_MS).await;
    for (first, second) in [("alice", "bob"), ("carol", "dave")] {
        let mut early = tab(&a, first, "lobby").await;
        let mut late = tab(&b, second, "lobby").await;
        let mut diffs = Vec::new();
        diffs_until(&mut early, "joined", second, &mut diffs).await;
        who_until(&mut late, "lobby", json!([user(first, 1), user(second, 1)])).await;
        drop((early, late));
        // Both nodes sample the room empty before the next round.
        tokio::time::sleep(Duration::from_millis(WINDOW_MS * 4)).await;
    }
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
        let node = node(&redis, &["--presence-ttl", "60000"]).await;
        let room = format!("r{round}");
        let mut client = Client::connect(&format!("ws://{}/ws?user=u{round}", node.addr)).await;
        client.join(&room).await;
        // Killed as soon as the join's write is in Redis.
        let mut written = false;
        for _ in 0..1000 {
            if redis
                .ttls(&format!("ws:Chat:{{presence}}:present:*:{room}"))
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
        let keys = redis.ttls("ws:Chat:*").await;
        let node_keys: Vec<_> = keys
            .iter()
            .filter(|(key, _)| !key.starts_with("ws:Chat:h{"))
            .collect();
        assert!(
            node_keys.iter().any(|(key, _)| key
                .strip_prefix("ws:Chat:{presence}:")
                .is_some_and(|node| node.parse::<u64>().is_ok())),
            "{keys:?}"
        );
        for (key, ttl) in node_keys {
            assert!(*ttl > 0, "{key} has no expiry ({ttl}); all: {keys:?}");
        }
    }
}

/// The chat's `typing` across two processes sharing a Redis: alice has a
/// tab on A and one on B; her tab on A types, so bob on B reads her typing
/// in `who` (the metas of both her nodes merged) and is sent an `updated`
/// (no join, no leave); then A is SIGKILLed, and within its TTL her tab
/// there and its meta are gone from B's answer.
#[tokio::test]
async fn typing_on_one_node_is_shown_and_announced_on_the_other_and_dies_with_its_node() {
    const WINDOW_MS: u64 = 200;
    let (_redis, [a, b]) = windowed_nodes(WINDOW_MS).await;
    let mut bob = tab(&b, "bob", "lobby").await;
    let mut alice_a = tab(&a, "alice", "lobby").await;
    let mut alice_b = tab(&b, "alice", "lobby").await;
    who_until(&mut bob, "lobby", json!([user("alice", 2), user("bob", 1)])).await;
    let mut diffs = Vec::new();
    diffs_until(&mut bob, "joined", "alice", &mut diffs).await;

    let updated = typing_update(&mut alice_a, "lobby", true, &mut bob).await;
    assert_eq!(
        updated,
        json!({"type": "presence_diff", "room": "lobby", "joined": [], "left": [],
               "updated": [typing("alice", 2, true)]})
    );
    who_until(
        &mut bob,
        "lobby",
        json!([typing("alice", 2, true), user("bob", 1)]),
    )
    .await;
    who_until(
        &mut alice_b,
        "lobby",
        json!([typing("alice", 2, true), user("bob", 1)]),
    )
    .await;

    a.kill().await;
    drop(alice_a);
    who_until(&mut bob, "lobby", json!([user("alice", 1), user("bob", 1)])).await;
}
