//! `serve-naive`: the hub people copy. axum's `WebSocketUpgrade` with its
//! defaults, one `tokio::sync::broadcast` channel per room (capacity 100, as
//! in axum's chat example), one forwarding task per joined room that
//! serializes each message for its own socket, and the socket's sink behind
//! a mutex. A receiver that lags skips what it missed (that is the loss).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::args::{ArgError, Flags};
use crate::wire::Inbound;

pub const USAGE: &str = "\
ws-bench serve-naive: the naive baseline, the chat wire protocol served the
way tutorials do it (axum WebSocketUpgrade defaults, a tokio broadcast channel
per room, serialization per recipient).

USAGE: ws-bench serve-naive [--addr 127.0.0.1:3001] [--capacity N] [--nodelay] [--max-seconds S]

  --addr A          listen address (ws://A/ws)                    [127.0.0.1:3001]
  --capacity N      broadcast channel capacity per room           [100]
  --nodelay         set TCP_NODELAY on accepted sockets (axum::serve does not)
  --max-seconds S   exit after S seconds                          [3600]
";

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    let f = Flags::parse(
        args,
        &["addr", "capacity", "max-seconds"],
        &["nodelay"],
        USAGE,
    )?;
    let addr: SocketAddr = f.get("addr", SocketAddr::from(([127, 0, 0, 1], 3001)))?;
    let capacity = f.get("capacity", 100usize)?.max(1);
    let nodelay = f.switch("nodelay");
    let max = Duration::from_secs_f64(f.get("max-seconds", 3600.0f64)?);
    crate::serve_for(max, serve(addr, capacity, nodelay)).map_err(ArgError::Bad)
}

#[derive(Clone)]
struct Hub {
    rooms: Arc<Mutex<HashMap<String, broadcast::Sender<Said>>>>,
    next_id: Arc<AtomicU64>,
    capacity: usize,
}

impl Hub {
    fn room(&self, room: &str) -> broadcast::Sender<Said> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms
            .entry(room.to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .clone()
    }
}

#[derive(Clone, Serialize)]
#[serde(tag = "type", rename = "said")]
struct Said {
    room: String,
    text: String,
    from: String,
}

#[derive(Serialize)]
#[serde(tag = "type", rename = "echo")]
struct Echo {
    text: String,
}

type Sink = Arc<tokio::sync::Mutex<SplitSink<WebSocket, Message>>>;

async fn serve(addr: SocketAddr, capacity: usize, nodelay: bool) -> Result<(), String> {
    let hub = Hub {
        rooms: Arc::default(),
        next_id: Arc::default(),
        capacity,
    };
    let app = Router::new().route("/ws", get(upgrade)).with_state(hub);
    let listener = crate::listen(addr, "naive", "/ws").await?;
    let result = if nodelay {
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await
    } else {
        axum::serve(listener, app).await
    };
    result.map_err(|e| e.to_string())
}

async fn upgrade(ws: WebSocketUpgrade, State(hub): State<Hub>) -> Response {
    ws.on_upgrade(move |socket| connection(socket, hub))
}

async fn connection(socket: WebSocket, hub: Hub) {
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let (sink, mut stream) = socket.split();
    let sink: Sink = Arc::new(tokio::sync::Mutex::new(sink));
    let mut forwarders: HashMap<String, JoinHandle<()>> = HashMap::new();
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else {
            if matches!(message, Message::Close(_)) {
                break;
            }
            continue;
        };
        let Ok(inbound) = serde_json::from_str::<Inbound>(&text) else {
            continue;
        };
        match inbound {
            Inbound::Join { room } => {
                if let std::collections::hash_map::Entry::Vacant(entry) = forwarders.entry(room) {
                    let rx = hub.room(entry.key()).subscribe();
                    entry.insert(tokio::spawn(forward(rx, Arc::clone(&sink))));
                }
            }
            Inbound::Leave { room } => {
                if let Some(task) = forwarders.remove(&room) {
                    task.abort();
                }
            }
            Inbound::Say { room, text } => {
                let _ = hub.room(&room).send(Said {
                    room,
                    text,
                    from: format!("#{id}"),
                });
            }
            Inbound::Echo { text } => {
                if send_json(&sink, &Echo { text }).await.is_err() {
                    break;
                }
            }
        }
    }
    for task in forwarders.into_values() {
        task.abort();
    }
}

/// Serializes `message` for this socket alone and sends it, as the copied
/// hubs do.
async fn send_json(sink: &Sink, message: &impl Serialize) -> Result<(), axum::Error> {
    let json = serde_json::to_string(message).unwrap_or_default();
    sink.lock().await.send(Message::Text(json.into())).await
}

/// One per joined room: every message serialized for this socket alone.
async fn forward(mut rx: broadcast::Receiver<Said>, sink: Sink) {
    loop {
        match rx.recv().await {
            Ok(said) => {
                if send_json(&sink, &said).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
