//! Delivery guarantees across nodes (issue 10): chat example nodes sharing
//! one Redis (a `redis-server` each test starts), the rooms' histories in
//! Redis, a subscriber resuming on the other node.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use ws_core::{Manager, RedisBackend};

use crate::support::Client;
use crate::support::chat::{Chat, serve};
use crate::support::history::{assert_said, cut, join, resume_then_who};
use crate::support::redis::{Redis, prefix};

/// A chat node with the Redis backend, once it is connected. It notices a
/// Redis that stopped answering within a few hundred milliseconds.
async fn node(redis: &Redis, prefix: &str) -> (SocketAddr, Manager<Chat>) {
    let backend = RedisBackend::new(redis.url())
        .unwrap()
        .prefix(prefix)
        .presence_ttl(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(200));
    let node = serve(|b| b.backend(backend)).await;
    until_up(&node.1).await;
    node
}

/// Says the next `n` numbers in `lobby` from `publisher`, counting them
/// in `said`.
async fn say_numbers(publisher: &mut Client, said: &mut u64, n: u64) {
    for _ in 0..n {
        publisher
            .send(json!({"type": "say", "room": "lobby", "text": said.to_string()}))
            .await;
        *said += 1;
    }
}

/// A Redis of the test's own and two chat nodes on it, under a prefix
/// named for `name`.
async fn two_nodes(name: &str) -> (Redis, [(SocketAddr, Manager<Chat>); 2]) {
    let redis = Redis::own();
    let prefix = prefix(name);
    let nodes = [node(&redis, &prefix).await, node(&redis, &prefix).await];
    (redis, nodes)
}

async fn until_up(manager: &Manager<Chat>) {
    until(manager, true).await;
}

async fn until(manager: &Manager<Chat>, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while manager.backend_status().unwrap().up != up {
        assert!(Instant::now() < deadline, "the backend is not up={up}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Issue 10, test 2 in CI-bounded form: 2,000 messages at about 1,000/s
/// from node A, a subscriber cut (a TCP reset, no close frame) 8 times and
/// resuming on the other node each time. Every gap is a few milliseconds of
/// messages, far inside the 1,000 the chat example keeps.
#[tokio::test]
async fn a_subscriber_resuming_on_the_other_node_gets_every_message_once_in_order() {
    let (_redis, nodes) = two_nodes("resume-across").await;
    resume_across(&nodes).await;
}

/// The body of the test above on any two chat nodes of one engine.
pub(crate) async fn resume_across(nodes: &[(SocketAddr, Manager<Chat>); 2]) {
    const MESSAGES: u64 = 2_000;
    const CUTS: u64 = 8;
    let mut on = 1;
    let (mut subscriber, joined) = join(nodes[on].0, "lobby", None).await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    assert_eq!(joined["offset"], 0);

    let a = nodes[0].0;
    let publisher = tokio::spawn(async move {
        let mut client = Client::connect(&format!("ws://{a}/ws")).await;
        for n in 0..MESSAGES {
            client
                .send(json!({"type": "say", "room": "lobby", "text": n.to_string()}))
                .await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        client
    });

    let mut last = 0;
    let mut cuts = 0;
    while last < MESSAGES {
        let said = subscriber.recv().await;
        assert_said(&said, &epoch, last + 1);
        last += 1;
        if cuts < CUTS && last % (MESSAGES / (CUTS + 1)) == 0 {
            cut(subscriber);
            cuts += 1;
            on = 1 - on;
            let (resumed, joined) = join(nodes[on].0, "lobby", Some((&epoch, last))).await;
            assert_eq!(
                (&joined["recovered"], &joined["epoch"]),
                (&json!(true), &json!(epoch)),
                "{joined}"
            );
            subscriber = resumed;
        }
    }
    assert_eq!(cuts, CUTS);
    let _publisher = publisher.await.unwrap();
}

/// Issue 10, test 3, the Redis cases: the history lives in Redis, so a
/// flush, or a restart (the test's Redis keeps nothing on disk), loses it,
/// and a resume from before is answered `recovered: false` with
/// `epoch_changed`, on either node.
#[tokio::test]
async fn a_redis_flush_or_restart_makes_a_resume_report_epoch_changed() {
    let (mut redis, nodes) = two_nodes("epoch-lost").await;

    let (mut ann, joined) = join(nodes[0].0, "lobby", None).await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    ann.send(json!({"type": "say", "room": "lobby", "text": "0"}))
        .await;
    assert_said(&ann.recv().await, &epoch, 1);

    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("FLUSHALL").exec_async(&mut conn).await.unwrap();
    cut(ann);
    let (mut bob, joined) = join(nodes[1].0, "lobby", Some((&epoch, 1))).await;
    assert_eq!(joined["recovered"], false, "{joined}");
    assert_eq!(joined["reason"], "epoch_changed", "{joined}");
    assert_eq!(joined["offset"], 0, "{joined}");
    let flushed = joined["epoch"].as_str().unwrap().to_owned();
    assert_ne!(flushed, epoch);
    bob.send(json!({"type": "say", "room": "lobby", "text": "0"}))
        .await;
    assert_said(&bob.recv().await, &flushed, 1);

    redis.kill();
    redis.start();
    for (_, manager) in &nodes {
        until_up(manager).await;
    }
    cut(bob);
    let (_carl, joined) = join(nodes[0].0, "lobby", Some((&flushed, 1))).await;
    assert_eq!(joined["recovered"], false, "{joined}");
    assert_eq!(joined["reason"], "epoch_changed", "{joined}");
    assert_ne!(joined["epoch"], json!(flushed));
}

/// While Redis is unreachable (stopped: it keeps its data), a node goes on
/// delivering to its own members under an epoch of its own; when Redis
/// returns, the room's history there is ended, so a client that resumes
/// from before the outage (and so missed what was said during it) is
/// answered `epoch_changed`, never a silent `recovered`.
#[tokio::test]
async fn during_a_redis_outage_a_node_delivers_locally_and_the_history_after_it_is_new() {
    let (redis, nodes) = two_nodes("outage").await;
    let (mut ann, joined) = join(nodes[0].0, "lobby", None).await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    let (mut bob, _) = join(nodes[1].0, "lobby", None).await;
    ann.send(json!({"type": "say", "room": "lobby", "text": "0"}))
        .await;
    assert_said(&ann.recv().await, &epoch, 1);
    assert_said(&bob.recv().await, &epoch, 1);
    cut(bob);

    redis.signal("STOP");
    // The first at once, most likely before the node notices (the
    // publisher's call then times out), the second once it has: either
    // way each reaches the room's members here, under this node's epoch.
    for text in ["1", "2"] {
        ann.send(json!({"type": "say", "room": "lobby", "text": text}))
            .await;
        // The sender may also be told that the cluster did not get it.
        let said = loop {
            let frame = ann.recv().await;
            if frame["type"] == "said" {
                break frame;
            }
            assert_eq!(frame["type"], "error", "{frame}");
        };
        assert_eq!(said["text"], text, "{said}");
        assert_ne!(said["epoch"], json!(epoch), "a node-local epoch: {said}");
        until(&nodes[0].1, false).await;
    }
    redis.signal("CONT");
    for (_, manager) in &nodes {
        until_up(manager).await;
    }

    let (_bob, joined) = join(nodes[1].0, "lobby", Some((&epoch, 1))).await;
    assert_eq!(joined["recovered"], false, "{joined}");
    assert_eq!(joined["reason"], "epoch_changed", "{joined}");
    assert_ne!(joined["epoch"], json!(epoch), "{joined}");
}

/// Two nodes publishing into one room at once: the offsets are one
/// sequence, 1 to 2 × 300 with no gap or repeat, and members on both nodes
/// see the same messages in the same order.
#[tokio::test]
async fn two_nodes_publishing_at_once_give_one_sequence_seen_alike_everywhere() {
    const EACH: u64 = 300;
    let (_redis, nodes) = two_nodes("two-writers").await;
    let (mut ann, joined) = join(nodes[0].0, "lobby", None).await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    let (mut bob, _) = join(nodes[1].0, "lobby", None).await;
    let writers: Vec<_> = nodes
        .iter()
        .map(|(addr, _)| {
            let addr = *addr;
            tokio::spawn(async move {
                let mut client = Client::connect(&format!("ws://{addr}/ws")).await;
                for n in 0..EACH {
                    client
                        .send(
                            json!({"type": "say", "room": "lobby", "text": format!("{addr}/{n}")}),
                        )
                        .await;
                }
                client
            })
        })
        .collect();
    let mut seen = [Vec::new(), Vec::new()];
    for (member, seen) in [&mut ann, &mut bob].into_iter().zip(&mut seen) {
        for offset in 1..=2 * EACH {
            let said = member.recv().await;
            assert_eq!(said["epoch"], json!(epoch), "{said}");
            assert_eq!(said["offset"], offset, "a gap or a repeat: {said}");
            seen.push(said["text"].clone());
        }
    }
    assert_eq!(seen[0], seen[1], "both nodes deliver Redis's order");
    for writer in writers {
        let _ = writer.await.unwrap();
    }
}

/// A resume on a node with the Redis backend: `who` asked at once lists
/// the joiner, whose own node answers for it rather than its copy in Redis
/// (written a round trip later), on the node that has the room's other
/// members and on the one that has none.
#[tokio::test]
async fn a_resuming_joiner_is_in_presence_at_once_across_nodes() {
    let (_redis, nodes) = two_nodes("resume-presence").await;
    let (mut ann, joined) = join(nodes[0].0, "lobby", None).await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    for n in 0..20 {
        ann.send(json!({"type": "say", "room": "lobby", "text": n.to_string()}))
            .await;
    }
    for n in 1..=20 {
        assert_said(&ann.recv().await, &epoch, n);
    }
    let mut clients = Vec::new();
    for i in 0..10 {
        let user = format!("u{i}");
        let (client, users) = resume_then_who(nodes[i % 2].0, "lobby", &user, (&epoch, 0)).await;
        assert!(
            users.as_array().unwrap().iter().any(|u| u["user"] == user),
            "{user} missing from {users}"
        );
        clients.push(client);
    }
}

/// Has Redis drop its client `id` (`CLIENT KILL ID`): a node's connection
/// cut from Redis's side.
async fn kill_client(redis: &Redis, id: u64) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .exec_async(&mut conn)
        .await
        .unwrap();
}

/// Redis's `CLIENT ID`s of its clients but the caller.
async fn client_ids(redis: &Redis) -> Vec<u64> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .unwrap();
    let me: u64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut conn)
        .await
        .unwrap();
    list.lines()
        .filter_map(|line| line.strip_prefix("id=")?.split(' ').next()?.parse().ok())
        .filter(|&id| id != me)
        .collect()
}

/// A resume that races the loss of its node's connection to Redis (Redis
/// up, its data kept: the connection alone is killed, as a proxy or a
/// network blip does) is recovered, with every message once and in order
/// and no `1013`: the node neither answers from its own copy of the room
/// while it is not listening (it missed what was said meanwhile, and the
/// client saw a silent gap) nor reads on a fresh connection it has not
/// subscribed on yet. In both pub/sub modes.
#[tokio::test]
async fn a_resume_racing_the_loss_of_its_nodes_redis_connection_recovers_in_both_modes() {
    use ws_core::PubSubMode;

    for mode in [PubSubMode::Sharded, PubSubMode::Classic] {
        let redis = Redis::own();
        let prefix = prefix("resume-loss");
        let backend = |redis: &Redis| {
            RedisBackend::new(redis.url())
                .unwrap()
                .prefix(&prefix)
                .pubsub(mode)
                .presence_ttl(Duration::from_millis(300))
                .response_timeout(Duration::from_millis(200))
        };
        let a = serve(|b| b.backend(backend(&redis))).await;
        until_up(&a.1).await;
        let before = client_ids(&redis).await;
        let b = serve(|b| b.backend(backend(&redis))).await;
        until_up(&b.1).await;
        let b_ids: Vec<u64> = client_ids(&redis)
            .await
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        assert_eq!(b_ids.len(), 1, "B's one connection: {b_ids:?}");
        let mut b_id = b_ids[0];

        let mut publisher = Client::connect(&format!("ws://{}/ws", a.0)).await;
        let (mut subscriber, joined) = join(b.0, "lobby", None).await;
        let epoch = joined["epoch"].as_str().unwrap().to_owned();
        let mut said = 0;
        let mut last = 0;
        for round in 0..10 {
            say_numbers(&mut publisher, &mut said, 5).await;
            while last < said {
                last += 1;
                assert_said(&subscriber.recv().await, &epoch, last);
            }
            cut(subscriber);
            // B's connection goes; B resumes at once, and more is said.
            kill_client(&redis, b_id).await;
            let mut resumed = Client::connect(&format!("ws://{}/ws", b.0)).await;
            resumed
                .send(json!({"type": "join", "room": "lobby", "since": {"epoch": epoch, "offset": last}}))
                .await;
            say_numbers(&mut publisher, &mut said, 5).await;
            let joined = resumed.recv().await;
            assert_eq!(
                (&joined["type"], &joined["recovered"], &joined["epoch"]),
                (&json!("joined"), &json!(true), &json!(epoch)),
                "{mode:?}, round {round}: {joined}"
            );
            while last < said {
                last += 1;
                assert_said(&resumed.recv().await, &epoch, last);
            }
            subscriber = resumed;
            until_up(&b.1).await;
            let now: Vec<u64> = client_ids(&redis)
                .await
                .into_iter()
                .filter(|id| *id > b_id && !before.contains(id))
                .collect();
            b_id = *now.iter().max().expect("B reconnected");
        }
    }
}

/// A member following a room live on a node whose Redis connection drops
/// (Redis up) misses what is published before the node has resubscribed
/// (pub/sub is at most once): it is never shown a silent gap. It gets every
/// message in order, or is closed with 1013 and its resume recovers them.
#[tokio::test]
async fn a_live_member_across_its_nodes_redis_reconnect_sees_no_silent_gap() {
    use tokio_tungstenite::tungstenite::Message;

    let redis = Redis::own();
    let prefix = prefix("live-loss");
    let a = node(&redis, &prefix).await;
    let before = client_ids(&redis).await;
    let b = node(&redis, &prefix).await;
    let mut b_id = client_ids(&redis)
        .await
        .into_iter()
        .filter(|id| !before.contains(id))
        .max()
        .unwrap();
    let mut publisher = Client::connect(&format!("ws://{}/ws", a.0)).await;
    let (mut member, joined) = join(b.0, "lobby", None).await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    let (mut said, mut last) = (0u64, 0u64);
    for _ in 0..5 {
        kill_client(&redis, b_id).await;
        say_numbers(&mut publisher, &mut said, 10).await;
        while last < said {
            match member.next_frame("said").await {
                Some(Ok(Message::Text(text))) => {
                    last += 1;
                    assert_said(&serde_json::from_str(&text).unwrap(), &epoch, last);
                }
                Some(Ok(Message::Close(Some(close)))) => {
                    // Told to resume, which recovers what the node missed.
                    assert_eq!(u16::from(close.code), 1013, "{close:?}");
                    let (resumed, joined) = join(b.0, "lobby", Some((&epoch, last))).await;
                    assert_eq!(joined["recovered"], true, "{joined}");
                    member = resumed;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("neither a message nor a close: {other:?}"),
            }
        }
        until_up(&b.1).await;
        b_id = client_ids(&redis)
            .await
            .into_iter()
            .filter(|id| *id > b_id && !before.contains(id))
            .max()
            .unwrap();
    }
}
