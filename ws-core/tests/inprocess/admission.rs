//! The admission cap: 503 past it, no slot consumed, slots back promptly
//! on every kind of end; the auth hook runs before the 101.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use ws_core::axum::http::StatusCode;
use ws_core::{Config, Protocol};

use crate::support::{Client, RawClient, Server, Test, WAIT, close_payload};

#[tokio::test]
async fn past_the_cap_is_503_with_retry_after_and_slots_are_reused() {
    let server = Server::start(Config::DEFAULT.with_max_connections(2)).await;
    let a = server.connect().await;
    let mut b = server.connect().await;

    let (status, retry) = Client::refused(&server.url("")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("1"));
    // A refusal consumed nothing.
    assert_eq!(server.manager.admitted(), 2);
    assert_eq!(server.manager.stats().rejected, 1);

    a.close(1000, "done").await;
    server.until("slot released", |m| m.admitted() == 1).await;
    let mut c = server.connect().await;
    c.sync().await;
    b.sync().await;
    assert_eq!(server.manager.connections(), 2);
}

#[tokio::test]
async fn a_dropped_socket_releases_its_slot() {
    let server = Server::start(Config::DEFAULT.with_max_connections(1)).await;
    let a = server.connect().await;
    drop(a); // no close frame: the TCP socket just goes
    server
        .until("slot released", |m| {
            m.admitted() == 0 && m.connections() == 0
        })
        .await;
    let mut b = server.connect().await;
    b.sync().await;
}

#[tokio::test]
async fn an_idle_client_that_never_sends_is_closed_and_its_slot_released() {
    let config = Config::DEFAULT
        .with_max_connections(1)
        .with_heartbeat(Some(Duration::from_millis(100)))
        .with_idle_timeout(Some(Duration::from_millis(400)));
    let server = Server::start(config).await;
    // Connects, then neither sends nor reads: pings go unanswered.
    let idle = RawClient::connect(server.addr).await;
    server
        .until("idle client closed", |m| m.admitted() == 0)
        .await;
    let mut next = server.connect().await;
    next.sync().await;
    let frames = idle.frames_until_eof().await;
    let (opcode, payload) = frames.last().expect("a close frame");
    assert_eq!(*opcode, 0x8, "the last frame is a close: {frames:?}");
    assert_eq!(close_payload(payload), (1001, "idle timeout".to_owned()));
    assert!(frames.iter().any(|(op, _)| *op == 0x9), "pings were sent");
    let disconnect = &server.disconnects()[0];
    assert_eq!(disconnect.server_close.as_ref().map(|c| c.code), Some(1001));
}

#[tokio::test]
async fn a_client_that_answers_pings_stays() {
    let config = Config::DEFAULT
        .with_heartbeat(Some(Duration::from_millis(50)))
        .with_idle_timeout(Some(Duration::from_millis(300)));
    let server = Server::start(config).await;
    let mut a = server.connect().await;
    // Reading answers the server's pings; stay well past the idle timeout.
    for _ in 0..6 {
        a.silent().await;
    }
    a.sync().await;
    assert_eq!(server.manager.connections(), 1);
}

#[tokio::test]
async fn the_auth_hook_runs_before_the_upgrade() {
    let server = Server::default().await;
    let (status, _) = Client::refused(&server.url("?deny")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.manager.admitted(), 0);
    let mut alice = server.connect_as("alice").await;
    alice
        .send(json!({"type": "whisper", "user": "alice", "text": "me"}))
        .await;
    assert_eq!(alice.recv().await["text"], "me");
}

#[tokio::test]
async fn the_per_user_cap_refuses_a_third_connection() {
    let server = Server::start(Config::DEFAULT.with_max_per_user(2)).await;
    let _a = server.connect_as("erin").await;
    let b = server.connect_as("erin").await;
    let (status, _) = Client::refused(&server.url("?user=erin")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let _other = server.connect_as("frank").await;
    b.close(1000, "").await;
    server
        .until("erin's slot released", |m| m.admitted() == 2)
        .await;
    let mut c = server.connect_as("erin").await;
    c.sync().await;
}

/// A bare HTTP/1.1 GET of `/health`: its status and JSON body.
async fn health(addr: SocketAddr) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("no /health response within the wait")
        .unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap())
}

/// Asserts `/health` answers `status` with `says` in its body; the body.
async fn health_says(addr: SocketAddr, status: u16, says: &str) -> Value {
    let (got, body) = health(addr).await;
    assert_eq!(
        (got, body["status"].as_str()),
        (status, Some(says)),
        "{body}"
    );
    body
}

/// README: `/health` answers 503 with `status` `full` at the cap, and 200
/// again once a slot is free.
#[tokio::test]
async fn health_is_503_full_at_the_connection_cap() {
    let server = Server::start(Test::CONFIG.with_max_connections(2)).await;
    health_says(server.addr, 200, "ok").await;

    let first = server.connect().await;
    health_says(server.addr, 200, "ok").await;
    let _second = server.connect().await;
    let body = health_says(server.addr, 503, "full").await;
    assert_eq!(
        (body["admitted"].as_u64(), body["max_connections"].as_u64()),
        (Some(2), Some(2))
    );
    // What the health check says, admission does.
    let (refused, _) = Client::refused(&server.url("")).await;
    assert_eq!(refused, 503);

    first.close(1000, "").await;
    server.until("a slot is free", |m| m.admitted() == 1).await;
    health_says(server.addr, 200, "ok").await;
}
