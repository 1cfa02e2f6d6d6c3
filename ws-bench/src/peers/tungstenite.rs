//! `serve-tungstenite`: a plain tokio-tungstenite hub (see the module above).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::args::ArgError;
use crate::wire::Inbound;

pub const USAGE: &str = "\
ws-bench serve-tungstenite: a plain tokio-tungstenite hub (feature `peers`),
the chat wire protocol with rooms in a map of unbounded senders, each frame
serialized once per message and shared.

USAGE: ws-bench serve-tungstenite [--addr 127.0.0.1:3003] [--max-seconds S]
";

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    crate::serve_plain(args, USAGE, 3003, serve)
}

type Tx = mpsc::UnboundedSender<Message>;

#[derive(Default)]
struct Hub {
    /// Room → (connection id → its writer's sender).
    rooms: Mutex<HashMap<String, HashMap<u64, Tx>>>,
    next_id: AtomicU64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename = "said")]
struct Said<'a> {
    room: &'a str,
    text: &'a str,
    from: &'a str,
}

async fn serve(addr: SocketAddr) -> Result<(), String> {
    let listener = crate::listen(addr, "tungstenite", "/ws").await?;
    let hub = Arc::new(Hub::default());
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, Arc::clone(&hub)));
    }
}

async fn connection(stream: TcpStream, hub: Arc<Hub>) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let from = format!("#{id}");
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if sink.feed(message).await.is_err() {
                return;
            }
            // Coalesce what is ready into one flush.
            while let Ok(message) = rx.try_recv() {
                if sink.feed(message).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let mut joined: Vec<String> = Vec::new();
    while let Some(Ok(message)) = stream.next().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let Ok(inbound) = serde_json::from_str::<Inbound>(&text) else {
            continue;
        };
        match inbound {
            Inbound::Join { room } => {
                let mut rooms = hub.rooms.lock().unwrap_or_else(|e| e.into_inner());
                rooms
                    .entry(room.clone())
                    .or_default()
                    .insert(id, tx.clone());
                joined.push(room);
            }
            Inbound::Leave { room } => {
                let mut rooms = hub.rooms.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(members) = rooms.get_mut(&room) {
                    members.remove(&id);
                }
                joined.retain(|r| *r != room);
            }
            Inbound::Say { room, text } => {
                let said = Said {
                    room: &room,
                    text: &text,
                    from: &from,
                };
                let frame = Message::Text(Utf8Bytes::from(
                    serde_json::to_string(&said).unwrap_or_default(),
                ));
                let rooms = hub.rooms.lock().unwrap_or_else(|e| e.into_inner());
                for member in rooms.get(&room).into_iter().flat_map(|m| m.values()) {
                    let _ = member.send(frame.clone());
                }
            }
            Inbound::Echo { text } => {
                let echo = serde_json::json!({"type": "echo", "text": text}).to_string();
                let _ = tx.send(Message::Text(echo.into()));
            }
        }
    }
    let mut rooms = hub.rooms.lock().unwrap_or_else(|e| e.into_inner());
    for room in joined {
        if let Some(members) = rooms.get_mut(&room) {
            members.remove(&id);
        }
    }
    drop(rooms);
    drop(tx);
    writer.abort();
}
