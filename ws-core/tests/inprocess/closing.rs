//! Close codes both ways, and the disconnect hook.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::timeout;
use ws_core::{Config, Protocol};

use crate::support::{RawClient, Server, Test, WAIT, close_payload, test};

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

/// README: shutdown "sends close 1001 to every connection after what is
/// already queued for it". A peer that was not reading while 100 frames of
/// 256 KiB were queued for it, and reads only once shutdown has begun, gets
/// every frame, whole and in order, then the 1001, then the end of the
/// stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_1001_after_every_queued_frame() {
    const FRAMES: usize = 100;
    const SIZE: usize = 256 << 10;
    const RCVBUF: u32 = 64 << 10;
    // Most of the frames are still in the server's queue, not in the
    // kernel, when shutdown begins: the socket holds at most the server's
    // send buffer (tcp_wmem's maximum) plus the client's receive buffer
    // (fixed at twice RCVBUF once set, with no autotuning).
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .map(|s| s.split_whitespace().nth(2).unwrap().parse().unwrap())
        .unwrap_or(4 << 20);
    let in_kernel = wmem_max + 2 * RCVBUF as usize;
    assert!(
        FRAMES * SIZE >= 4 * in_kernel,
        "the socket could hold a quarter of the frames ({in_kernel} bytes)"
    );

    let server = Server::start(Test::CONFIG.with_send_queue(FRAMES * 2)).await;
    let mut peer = RawClient::connect_with(server.addr, Some(RCVBUF)).await;
    peer.send_text(r#"{"type":"join","room":"queued"}"#).await;
    peer.send_text(r#"{"type":"echo","text":"joined"}"#).await;
    let (opcode, echo) = peer.next_frame().await;
    assert_eq!(
        (opcode, echo.as_slice()),
        (1, br#"{"type":"echo","text":"joined"}"#.as_slice())
    );

    let filler = "x".repeat(SIZE);
    for n in 0..FRAMES {
        let said = test::Said {
            room: "queued".into(),
            text: format!("{n:04}{filler}"),
            from: 0,
        };
        server.manager.to_room("queued").send(said).unwrap();
    }
    let manager = server.manager.clone();
    let shutdown = tokio::spawn(async move { manager.shutdown(Duration::from_secs(30)).await });

    let frames = peer.frames_until_eof().await;
    let report = timeout(WAIT, shutdown)
        .await
        .expect("shutdown did not return once the peer had read everything")
        .unwrap();
    assert_eq!((report.closed, report.forced), (1, 0));
    let texts: Vec<String> = frames
        .iter()
        .filter(|(opcode, _)| *opcode == 1)
        .map(|(_, payload)| {
            let said: Value = serde_json::from_slice(payload).unwrap();
            said["text"].as_str().unwrap()[..4].to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..FRAMES).map(|n| format!("{n:04}")).collect();
    assert_eq!(texts, expected, "every queued frame, once, in order");
    let (opcode, payload) = frames.last().unwrap();
    assert_eq!(*opcode, 8, "the last frame is the close");
    assert_eq!(
        close_payload(payload),
        (1001, "server shutting down".to_owned())
    );
    assert_eq!(
        frames.len(),
        FRAMES + 1,
        "nothing but the frames and the close"
    );
}
