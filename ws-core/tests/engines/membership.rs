//! The server moving others out of rooms and off the cluster (issue 24):
//! `to_user(u).leave(room)`, `.join(room)` and `.close(code, reason)` from
//! one node reach the user's connections on every node, through a real
//! Redis.

use std::time::Duration;

use serde_json::json;

use crate::cluster::{join_all, next, node, quiet_everywhere, room_channel, user_channel};
use crate::support::redis::{Redis, prefix};
use crate::support::{Server, test};

/// The users `server` lists in `room`'s presence across the cluster.
async fn present(server: &Server, room: &str) -> Vec<String> {
    let page = server.manager.presence(room).await.unwrap();
    page.users.iter().map(|p| p.user.to_string()).collect()
}

/// Polls `server`'s view of `room`'s presence until it is `expected`.
async fn until_present(server: &Server, room: &str, expected: &[&str]) {
    let mut last = Vec::new();
    for _ in 0..500 {
        last = present(server, room).await;
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("presence of {room} stayed {last:?}, expected {expected:?}");
}

fn said(room: &str, text: &str, from: u64) -> test::Said {
    test::Said {
        room: room.into(),
        text: text.into(),
        from,
    }
}

#[tokio::test]
async fn a_user_on_two_nodes_is_made_to_leave_join_and_is_kicked_from_one() {
    let redis = Redis::own();
    let prefix = prefix("membership");
    let (a, b) = (node(&redis, &prefix).await, node(&redis, &prefix).await);
    let mut alice_a = a.connect_as("alice").await;
    let mut alice_b = b.connect_as("alice").await;
    let mut bob = b.connect_as("bob").await;
    let mut carol = a.connect_as("carol").await;
    join_all(&mut [&mut alice_a, &mut alice_b, &mut bob, &mut carol], "r").await;
    redis
        .until_subscribers(&room_channel(&prefix, "r"), true, 2)
        .await;
    redis
        .until_subscribers(&user_channel(&prefix, "alice"), true, 2)
        .await;
    until_present(&a, "r", &["alice", "bob", "carol"]).await;

    // From A: alice leaves the room on both nodes, no one else does.
    assert_eq!(a.manager.to_user("alice").leave("r").unwrap(), 1);
    b.until("alice left on B", |m| m.room_size("r") == 1).await;
    assert_eq!(a.manager.room_size("r"), 1);
    until_present(&a, "r", &["bob", "carol"]).await;
    until_present(&b, "r", &["bob", "carol"]).await;
    // The room's sends, from either node, reach bob and carol only.
    a.manager.to_room("r").send(said("r", "from A", 0)).unwrap();
    b.manager.to_room("r").send(said("r", "from B", 1)).unwrap();
    for client in [&mut bob, &mut carol] {
        let mut texts = [next(client, "said").await, next(client, "said").await]
            .map(|message| message["text"].as_str().unwrap().to_owned());
        texts.sort();
        assert_eq!(texts, ["from A", "from B"]);
    }
    quiet_everywhere(
        &redis,
        &prefix,
        &[&a, &b],
        &mut [&mut alice_a, &mut alice_b, &mut bob, &mut carol],
    )
    .await;

    // From B: alice joins another room on both nodes, unasked.
    assert_eq!(b.manager.to_user("alice").join("vip").unwrap(), 1);
    a.until("alice joined on A", |m| m.room_size("vip") == 1)
        .await;
    until_present(&b, "vip", &["alice"]).await;
    redis
        .until_subscribers(&room_channel(&prefix, "vip"), true, 2)
        .await;
    carol
        .send(json!({"type": "say", "room": "vip", "text": "welcome"}))
        .await;
    for alice in [&mut alice_a, &mut alice_b] {
        assert_eq!(next(alice, "said").await["text"], "welcome");
    }

    // From B: alice is kicked on both nodes, with the code and reason.
    assert_eq!(b.manager.to_user("alice").close(4009, "kicked").unwrap(), 1);
    for alice in [&mut alice_a, &mut alice_b] {
        assert_eq!(alice.closed().await, (4009, "kicked".into()));
    }
    for node in [&a, &b] {
        node.until("alice is gone", |m| m.user_connections("alice") == 0)
            .await;
    }
    until_present(&a, "vip", &[]).await;
    quiet_everywhere(&redis, &prefix, &[&a, &b], &mut [&mut bob, &mut carol]).await;
}
