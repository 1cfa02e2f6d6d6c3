//! Two nodes in one process, sharing one Redis: a client on each, in the
//! same room, and a message crossing from one node to the other.
//!
//! ```text
//! redis-server --port 6379 --save ""        # any Redis 6+; 7+ for sharded pub/sub
//! cargo run --example cluster -- [redis://127.0.0.1:6379/] [--stay]
//! ```
//!
//! Each node is what a separate server process would be: its own manager
//! (with the Redis backend), its own axum server, its own port. With
//! `--stay` the nodes keep running, so that the chat page of one
//! (`http://127.0.0.1:PORT/`) can talk to the other's.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use ws_core::axum::response::Html;
use ws_core::axum::{Router, routing::get};
use ws_core::{Manager, endpoint};

// The chat example's protocol and handlers: each node runs exactly the chat.
#[path = "../chat/app.rs"]
mod app;
#[path = "../chat/protocol.rs"]
mod protocol;
use app::App;
use protocol::Chat;

/// One node: a manager with the Redis backend behind its own server.
async fn start_node(redis: &str) -> (Manager<Chat>, String) {
    let manager = Manager::<Chat>::builder()
        .redis(redis)
        .unwrap_or_else(|error| panic!("{error}"))
        .build();
    let app = Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("../chat/index.html")) }),
        )
        .route("/ws", endpoint(manager.clone(), Arc::new(App)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(
        ws_core::serve(listener, app).handshake_timeout(manager.config().handshake_timeout()),
    );
    (manager, format!("ws://{addr}/ws"))
}

async fn until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("gave up waiting: {what} (is Redis running at the URL given?)");
    std::process::exit(1);
}

#[tokio::main]
async fn main() {
    let mut redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let mut stay = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--stay" => stay = true,
            "-h" | "--help" => {
                println!("usage: cluster [REDIS_URL] [--stay]");
                return;
            }
            url => redis = url.to_owned(),
        }
    }

    let (node_a, url_a) = start_node(&redis).await;
    let (node_b, url_b) = start_node(&redis).await;
    for node in [&node_a, &node_b] {
        until("the backend to connect", || {
            node.backend_status().is_some_and(|s| s.up)
        })
        .await;
    }
    println!("node A: {url_a}\nnode B: {url_b}\nsharing {redis}");

    let (mut alice, _) = tokio_tungstenite::connect_async(url_a.as_str())
        .await
        .expect("node A");
    let (mut bob, _) = tokio_tungstenite::connect_async(url_b.as_str())
        .await
        .expect("node B");
    for client in [&mut alice, &mut bob] {
        let join = r#"{"type":"join","room":"lobby"}"#;
        client.send(Message::text(join)).await.expect("join");
    }
    until("both nodes to listen to the lobby", || {
        node_a.backend_status().is_some_and(|s| s.channels >= 2)
            && node_b.backend_status().is_some_and(|s| s.channels >= 2)
    })
    .await;

    let say = r#"{"type":"say","room":"lobby","text":"hello from node A"}"#;
    alice.send(Message::text(say)).await.expect("say");
    for (name, client) in [("alice (node A)", &mut alice), ("bob (node B)", &mut bob)] {
        let frame = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
        match frame {
            Ok(Some(Ok(Message::Text(text)))) => println!("{name} got {text}"),
            other => {
                eprintln!("{name} got nothing: {other:?}");
                std::process::exit(1);
            }
        }
    }
    let status = node_b.backend_status().expect("a backend");
    println!(
        "node B: received {} message(s) from other nodes, lag {:?}, sharded pub/sub: {:?}",
        status.received, status.lag, status.sharded
    );

    if stay {
        println!(
            "open http://{}/ and http://{}/ (ctrl-c to stop)",
            url_a.trim_start_matches("ws://").trim_end_matches("/ws"),
            url_b.trim_start_matches("ws://").trim_end_matches("/ws")
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    for node in [node_a, node_b] {
        node.shutdown(Duration::from_secs(1)).await;
    }
}
