//! Close codes both ways, and the disconnect hook.

use serde_json::json;
use ws_core::Config;

use crate::support::Server;

#[tokio::test]
async fn the_peer_close_code_and_reason_reach_the_disconnect_hook() {
    let server = Server::default().await;
    let mut a = server.connect_as("gina").await;
    a.join("r1").await;
    a.join("r2").await;
    a.sync().await;
    a.close(4001, "gone fishing").await;
    server
        .until("hook ran", |_| !server.disconnects().is_empty())
        .await;
    let disconnect = &server.disconnects()[0];
    let peer = disconnect.peer_close.as_ref().expect("peer close recorded");
    assert_eq!((peer.code, peer.reason.as_str()), (4001, "gone fishing"));
    assert!(disconnect.server_close.is_none());
    assert_eq!(disconnect.user.as_deref(), Some("gina"));
    let mut rooms: Vec<&str> = disconnect.rooms.iter().map(|r| &**r).collect();
    rooms.sort();
    assert_eq!(rooms, ["r1", "r2"]);
    // It left every index.
    assert_eq!(server.manager.rooms(), 0);
    assert_eq!(server.manager.users(), 0);
    assert_eq!(server.manager.connections(), 0);
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_with_1009() {
    let server = Server::start(Config::DEFAULT.with_max_message_size(1024)).await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    a.send(json!({"type": "echo", "text": "x".repeat(2000)}))
        .await;
    assert_eq!(a.closed().await.0, 1009);
    // Just under the limit is fine.
    b.send(json!({"type": "echo", "text": "y".repeat(900)}))
        .await;
    assert_eq!(b.recv().await["text"].as_str().unwrap().len(), 900);
}

#[tokio::test]
async fn handler_errors_reply_close_or_stay_internal() {
    let server = Server::default().await;
    let mut a = server.connect().await;
    a.send(json!({"type": "fail", "how": "reply"})).await;
    assert_eq!(
        a.recv().await,
        json!({"type": "error", "code": "not_allowed", "message": "you may not"})
    );
    a.send(json!({"type": "fail", "how": "internal"})).await;
    let internal = a.recv().await;
    assert_eq!(internal["code"], "internal");
    assert!(
        !internal["message"].as_str().unwrap().contains("disk"),
        "details stay on the server"
    );
    a.send(json!({"type": "fail", "how": "close"})).await;
    assert_eq!(a.closed().await, (4000, "handler closed".to_owned()));
}

#[tokio::test]
async fn a_panicking_handler_closes_its_connection_with_1011_only() {
    let server = Server::default().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    a.send(json!({"type": "fail", "how": "panic"})).await;
    assert_eq!(a.closed().await.0, 1011);
    b.sync().await;
    server
        .until("cleaned up", |m| m.connections() == 1 && m.admitted() == 1)
        .await;
}
