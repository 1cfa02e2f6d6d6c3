//! Rooms, users, everyone; except-sender; ordering; pings.

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::support::Server;

#[tokio::test]
async fn room_fan_out_reaches_members_only_and_except_skips_the_sender() {
    let server = Server::default().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    let mut c = server.connect().await;
    let mut outsider = server.connect().await;
    for client in [&mut a, &mut b, &mut c] {
        client.join("r").await;
        client.sync().await;
    }
    assert_eq!(server.manager.room_size("r"), 3);

    a.send(json!({"type": "say", "room": "r", "text": "all"}))
        .await;
    for client in [&mut a, &mut b, &mut c] {
        let said = client.recv().await;
        assert_eq!(said["type"], "said");
        assert_eq!(said["text"], "all");
    }

    a.send(json!({"type": "shout", "room": "r", "text": "others"}))
        .await;
    for client in [&mut b, &mut c] {
        assert_eq!(client.recv().await["text"], "others");
    }
    // Exactly once each; nothing for the sender or the outsider.
    for client in [&mut a, &mut b, &mut c, &mut outsider] {
        client.quiet().await;
    }
}

#[tokio::test]
async fn leaving_the_last_member_removes_the_room() {
    let server = Server::default().await;
    let mut a = server.member("r").await;
    assert_eq!(server.manager.rooms(), 1);
    a.send(json!({"type": "leave", "room": "r"})).await;
    a.sync().await;
    assert_eq!(server.manager.rooms(), 0);
}

#[tokio::test]
async fn a_user_with_two_connections_gets_a_user_message_on_both() {
    let server = Server::default().await;
    let mut alice_1 = server.connect_as("alice").await;
    let mut alice_2 = server.connect_as("alice").await;
    let mut bob = server.connect_as("bob").await;
    server
        .until("alice has two connections", |m| {
            m.user_connections("alice") == 2
        })
        .await;

    bob.send(json!({"type": "whisper", "user": "alice", "text": "hi"}))
        .await;
    assert_eq!(alice_1.recv().await["text"], "hi");
    assert_eq!(alice_2.recv().await["text"], "hi");
    bob.quiet().await;
}

#[tokio::test]
async fn set_user_keeps_the_user_index_in_step() {
    let server = Server::default().await;
    let mut anon = server.connect().await;
    let mut other = server.connect().await;
    anon.send(json!({"type": "login", "user": "carol"})).await;
    anon.sync().await;
    assert_eq!(server.manager.user_connections("carol"), 1);

    other
        .send(json!({"type": "whisper", "user": "carol", "text": "found you"}))
        .await;
    assert_eq!(anon.recv().await["text"], "found you");

    anon.send(json!({"type": "login", "user": "dave"})).await;
    anon.sync().await;
    assert_eq!(server.manager.user_connections("carol"), 0);
    assert_eq!(server.manager.users(), 1);
    other
        .send(json!({"type": "whisper", "user": "carol", "text": "stale"}))
        .await;
    other.sync().await;
    anon.quiet().await;
}

#[tokio::test]
async fn announce_reaches_every_connection() {
    let server = Server::default().await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(server.connect().await);
    }
    server
        .until("five registered", |m| m.connections() == 5)
        .await;
    clients[0]
        .send(json!({"type": "announce", "text": "hello all"}))
        .await;
    for client in &mut clients {
        assert_eq!(client.recv().await["text"], "hello all");
    }
}

#[tokio::test]
async fn messages_to_one_connection_arrive_in_order() {
    let server = Server::start(ws_core::Config::DEFAULT.with_send_queue(10_000)).await;
    let mut a = server.connect().await;
    a.send(json!({"type": "burst", "count": 5000})).await;
    for n in 0..5000 {
        assert_eq!(a.recv().await, json!({"type": "seq", "n": n}));
    }
}

#[tokio::test]
async fn pings_are_answered() {
    use futures_util::StreamExt;
    let server = Server::default().await;
    let mut a = server.connect().await;
    a.send_raw(Message::Ping(b"are you there".to_vec().into()))
        .await;
    let frame = tokio::time::timeout(crate::support::WAIT, a.ws.next()).await;
    match frame.expect("no pong").unwrap().unwrap() {
        Message::Pong(payload) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected the pong, got {other:?}"),
    }
}
