//! The chat example's protocol and handlers, compiled into the tests (as
//! ws-bench does) so its wire contract is tested in-process, on real
//! sockets; and a client's view of its presence events.

#[path = "../../../examples/chat/app.rs"]
pub mod app;
#[path = "../../../examples/chat/protocol.rs"]
pub mod protocol;

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};
use ws_core::axum::Router;
use ws_core::{Manager, ManagerBuilder, endpoint};

use crate::support::Client;

pub use protocol::Chat;

/// The chat example's route, `/ws`, served by `manager`.
pub fn router(manager: Manager<Chat>) -> Router {
    Router::new().route("/ws", endpoint(manager, Arc::new(app::App)))
}

/// A chat server on 127.0.0.1:0 with `configure` applied to its builder.
pub async fn serve(
    configure: impl FnOnce(ManagerBuilder<Chat>) -> ManagerBuilder<Chat>,
) -> (SocketAddr, Manager<Chat>) {
    serve_manager(configure(Manager::<Chat>::builder()).build()).await
}

/// A chat server of `manager` on 127.0.0.1:0.
pub async fn serve_manager(manager: Manager<Chat>) -> (SocketAddr, Manager<Chat>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ws_core::serve(listener, router(manager.clone())));
    (addr, manager)
}

/// A chat server on `addr` (a port chosen earlier, e.g. one a client is
/// already trying), with `configure` applied to its builder.
pub async fn serve_at(
    addr: SocketAddr,
    configure: impl FnOnce(ManagerBuilder<Chat>) -> ManagerBuilder<Chat>,
) -> Manager<Chat> {
    let manager = configure(Manager::<Chat>::builder()).build();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(ws_core::serve(listener, router(manager.clone())));
    manager
}

/// The `presence_diff` messages `client` gets until one has `user` in its
/// `key` (`joined` or `left`), appended to `diffs`.
pub async fn diffs_until(client: &mut Client, key: &str, user: &str, diffs: &mut Vec<Value>) {
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
pub fn names(diff: &Value, key: &str) -> Vec<Value> {
    diff[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.get("user").cloned().unwrap_or_else(|| u.clone()))
        .collect()
}

/// The next `presence_diff` `client` gets with users in `updated`, after
/// `typing` (`true` or `false`) was sent by `typist` for `room`.
pub async fn typing_update(
    typist: &mut Client,
    room: &str,
    typing: bool,
    client: &mut Client,
) -> Value {
    typist
        .send(json!({"type": "typing", "room": room, "typing": typing}))
        .await;
    loop {
        let message = client.recv().await;
        if message["type"] == "presence_diff" && message["updated"] != json!([]) {
            return message;
        }
    }
}

/// A user of the chat's `present` or `presence_diff`.
pub fn present_user(name: &str, connections: u64, typing: bool) -> Value {
    json!({"user": name, "connections": connections, "typing": typing})
}
