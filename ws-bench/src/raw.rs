//! `serve-raw`: the ceiling for fan-out. No framework: a tokio listener, the
//! handshake and client frames parsed by hand, rooms in a mutex-guarded map,
//! and for each say the server frame is built once (`Bytes`) and handed to
//! every member's writer task, which coalesces what is ready into one write.
//! No limits, no backpressure, no heartbeats: what the work costs when
//! nothing else is done.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use crate::args::ArgError;
use crate::wire::Inbound;
use crate::wire::{self, CLOSE, PING, PONG, TEXT};

pub const USAGE: &str = "\
ws-bench serve-raw: the raw baseline, the chat wire protocol with no framework
(pre-encoded frames written straight to the sockets).

USAGE: ws-bench serve-raw [--addr 127.0.0.1:3002] [--max-seconds S]

  --addr A          listen address (path is ignored: ws://A/ws)  [127.0.0.1:3002]
  --max-seconds S   exit after S seconds                         [3600]
";

/// The largest client frame taken; larger ones close the connection.
const MAX_FRAME: u64 = 16 << 20;
/// Frames smaller than this are copied into one write buffer; larger ones
/// are written from their shared bytes.
const COALESCE: usize = 16 * 1024;

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    crate::serve_plain(args, USAGE, 3002, serve)
}

#[derive(Default)]
struct Hub {
    rooms: Mutex<HashMap<String, Vec<Member>>>,
    next_id: AtomicU64,
}

struct Member {
    id: u64,
    tx: mpsc::UnboundedSender<Bytes>,
}

#[derive(Serialize)]
struct Said<'a> {
    r#type: &'static str,
    room: &'a str,
    text: &'a str,
    from: &'a str,
}

#[derive(Serialize)]
struct Echo<'a> {
    r#type: &'static str,
    text: &'a str,
}

async fn serve(addr: SocketAddr) -> Result<(), String> {
    let listener = crate::listen(addr, "raw", "/ws").await?;
    let hub = Arc::new(Hub::default());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: back off, keep serving.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, Arc::clone(&hub)));
    }
}

async fn connection(mut stream: TcpStream, hub: Arc<Hub>) {
    let mut buf = BytesMut::with_capacity(4096);
    let Some(key) = handshake(&mut stream, &mut buf).await else {
        return;
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        wire::accept_key(&key)
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let (mut rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(wr, rx));
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let from = format!("#{id}");
    let mut rooms: Vec<String> = Vec::new();
    'read: loop {
        while let Some(h) = wire::parse_header(&buf) {
            if h.len > MAX_FRAME || !h.fin || h.mask.is_none() {
                let _ = tx.send(Bytes::from(wire::server_frame(
                    CLOSE,
                    &1002u16.to_be_bytes(),
                )));
                break 'read;
            }
            let total = h.header_len + h.len as usize;
            if buf.len() < total {
                buf.reserve(total - buf.len());
                break;
            }
            buf.advance(h.header_len);
            let mut payload = buf.split_to(h.len as usize);
            if let Some(key) = h.mask {
                wire::unmask(&mut payload, key);
            }
            match h.opcode {
                TEXT => handle(&hub, id, &from, &tx, &mut rooms, &payload),
                PING => {
                    let _ = tx.send(Bytes::from(wire::server_frame(PONG, &payload)));
                }
                CLOSE => {
                    let code = &payload[..payload.len().min(2)];
                    let _ = tx.send(Bytes::from(wire::server_frame(CLOSE, code)));
                    break 'read;
                }
                _ => {}
            }
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    {
        let mut map = hub.rooms.lock().unwrap_or_else(|e| e.into_inner());
        for room in &rooms {
            if let Some(members) = map.get_mut(room) {
                members.retain(|m| m.id != id);
                if members.is_empty() {
                    map.remove(room);
                }
            }
        }
    }
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// Reads the HTTP request head; returns the `Sec-WebSocket-Key`.
async fn handshake(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).ok()?;
            let key = wire::header_value(head, "sec-websocket-key")?.to_owned();
            buf.advance(end + 4);
            return Some(key);
        }
        if buf.len() > 16 * 1024 || stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

fn handle(
    hub: &Hub,
    id: u64,
    from: &str,
    tx: &mpsc::UnboundedSender<Bytes>,
    rooms: &mut Vec<String>,
    payload: &[u8],
) {
    let Ok(message) = serde_json::from_slice::<Inbound>(payload) else {
        return;
    };
    match message {
        Inbound::Join { room } => {
            if !rooms.contains(&room) {
                let mut map = hub.rooms.lock().unwrap_or_else(|e| e.into_inner());
                map.entry(room.clone())
                    .or_default()
                    .push(Member { id, tx: tx.clone() });
                rooms.push(room);
            }
        }
        Inbound::Leave { room } => {
            if let Some(at) = rooms.iter().position(|r| *r == room) {
                rooms.swap_remove(at);
                let mut map = hub.rooms.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(members) = map.get_mut(&room) {
                    members.retain(|m| m.id != id);
                }
            }
        }
        Inbound::Say { room, text } => {
            let said = Said {
                r#type: "said",
                room: &room,
                text: &text,
                from,
            };
            let Ok(json) = serde_json::to_vec(&said) else {
                return;
            };
            // Encoded once; every member gets a pointer to the same bytes.
            let frame = Bytes::from(wire::server_frame(TEXT, &json));
            let map = hub.rooms.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(members) = map.get(&room) {
                for m in members {
                    let _ = m.tx.send(frame.clone());
                }
            }
        }
        Inbound::Echo { text } => {
            if let Ok(json) = serde_json::to_vec(&Echo {
                r#type: "echo",
                text: &text,
            }) {
                let _ = tx.send(Bytes::from(wire::server_frame(TEXT, &json)));
            }
        }
    }
}

/// Writes every ready frame: small ones copied into one buffer and written
/// together, large ones written from their shared bytes.
async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    let mut batch: Vec<u8> = Vec::with_capacity(COALESCE);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            if frame.len() >= COALESCE {
                if (!batch.is_empty() && wr.write_all(&batch).await.is_err())
                    || wr.write_all(&frame).await.is_err()
                {
                    return;
                }
                batch.clear();
            } else {
                batch.extend_from_slice(&frame);
                if batch.len() >= 4 * COALESCE {
                    if wr.write_all(&batch).await.is_err() {
                        return;
                    }
                    batch.clear();
                }
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            if wr.write_all(&batch).await.is_err() {
                return;
            }
            batch.clear();
        }
    }
    let _ = wr.shutdown().await;
}
