//! `serve-socketio`: socketioxide on axum (see the module above). Events
//! `join`, `leave`, `say` and `echo` carry the chat protocol's objects;
//! `said` goes to the room with `within`, the sender included, as the chat
//! example does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::serve::ListenerExt;
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{Data, SocketRef};
use socketioxide::handler::ConnectHandler;

use crate::args::ArgError;

pub const USAGE: &str = "\
ws-bench serve-socketio: socketioxide (feature `peers`), the chat protocol as
Socket.IO events; drive it with a ws://A/socket.io/ URL.

USAGE: ws-bench serve-socketio [--addr 127.0.0.1:3004] [--max-seconds S]
";

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    crate::serve_plain(args, USAGE, 3004, serve)
}

#[derive(Deserialize)]
struct Room {
    room: String,
}

#[derive(Deserialize)]
struct Say {
    room: String,
    text: String,
}

#[derive(Deserialize)]
struct Echo {
    text: String,
}

fn on_events(socket: &SocketRef, from: String) {
    socket.on("join", async |socket: SocketRef, Data::<Room>(r)| {
        socket.join(r.room);
    });
    socket.on("leave", async |socket: SocketRef, Data::<Room>(r)| {
        socket.leave(r.room);
    });
    socket.on("say", async move |socket: SocketRef, Data::<Say>(s)| {
        let said = json!({"type": "said", "room": s.room, "text": s.text, "from": from});
        let _ = socket.within(s.room).emit("said", &said).await;
    });
    socket.on("echo", async |socket: SocketRef, Data::<Echo>(e)| {
        let _ = socket.emit("echo", &json!({"type": "echo", "text": e.text}));
    });
}

async fn serve(addr: SocketAddr) -> Result<(), String> {
    // socketioxide drops an emit when a socket's buffer (128 by default) is
    // full; the bench keeps up to 128 messages in flight to the slowest
    // subscriber, so the default lost some of them. A loss-free run is
    // what makes CPU per delivery comparable.
    let (layer, io) = SocketIo::builder().max_buffer_size(16_384).build_layer();
    let next_id = Arc::new(AtomicU64::new(0));
    // socketioxide acknowledges the namespace connect (`40`) and only then
    // spawns the connect handler, so events a client sends at once can
    // arrive before that handler's `on(..)` and are dropped (seen here: a
    // `join` and `echo` lost in about one connect in a thousand). A connect
    // middleware runs before the acknowledgement: the handlers go there.
    let handlers = move |socket: SocketRef| {
        let from = format!("#{}", next_id.fetch_add(1, Ordering::Relaxed));
        async move {
            on_events(&socket, from);
            Ok::<(), std::convert::Infallible>(())
        }
    };
    io.ns("/", (async |_: SocketRef| {}).with(handlers));
    let app = Router::new().layer(layer);
    let listener = crate::listen(addr, "socketioxide", "/socket.io/").await?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
