//! `large`: one large message said to a room of N, measuring what it does to
//! the server's peak RSS. The subscribers here are streaming clients that
//! count a frame's bytes and drop them as they arrive (a normal client holds
//! the whole message: 10,000 of them would need 10 GB in this tool).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::args::{ArgError, Flags, block_on};
use crate::client::{self, Sources, Target};
use crate::stats::{ProcSample, ServerWatch, merge, now_nanos, round};
use crate::wire::{self, TEXT};

pub const USAGE: &str = "\
ws-bench large: N clients join one room; one publisher says one message of
BYTES; reports how long until every client had it all, and (with
--server-pid) the server's peak RSS during the broadcast over its RSS before.

USAGE: ws-bench large --url ws://127.0.0.1:3000/ws [options]

  --url U            server URL (loopback only)                   required
  --clients N        subscribers                                  [1000]
  --size BYTES       length of the message's text                 [1000000]
  --concurrency K    connects at once while setting up            [200]
  --timeout S        give up waiting for deliveries after S s     [60]
  --server-pid PID   read the server's RSS (and reset its peak) in /proc/PID
";

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    let f = Flags::parse(
        args,
        &[
            "url",
            "clients",
            "size",
            "concurrency",
            "timeout",
            "server-pid",
        ],
        &[],
        USAGE,
    )?;
    let target = Target::parse(&f.required("url")?).map_err(ArgError::Bad)?;
    let clients = f.get("clients", 1000usize)?.max(1);
    let size = f.get("size", 1_000_000usize)?.max(32);
    let concurrency = f.get("concurrency", 200usize)?.max(1);
    let timeout = Duration::from_secs_f64(f.get("timeout", 60.0f64)?);
    let pid: Option<u32> = f.opt("server-pid")?;
    block_on(run(target, clients, size, concurrency, timeout, pid))
}

async fn run(
    target: Target,
    clients: usize,
    size: usize,
    concurrency: usize,
    timeout: Duration,
    pid: Option<u32>,
) -> Result<Value, String> {
    client::raise_nofile();
    let room = "large";
    let sources = Sources::plan(clients + 1, &target);
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut setups = Vec::with_capacity(clients);
    for i in 0..clients {
        let (target, sem) = (target.clone(), Arc::clone(&sem));
        setups.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
            tokio::time::timeout(
                Duration::from_secs(20),
                RawClient::join(&target, sources.source(i), room),
            )
            .await
            .unwrap_or_else(|_| Err("join timed out".to_owned()))
        }));
    }
    let mut subscribers = Vec::with_capacity(clients);
    for (i, s) in setups.into_iter().enumerate() {
        subscribers.push(
            s.await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("subscriber {i}: {e}"))?,
        );
    }
    let mut publisher = client::connect(
        &target,
        sources.source(clients),
        64 * 1024,
        Duration::from_secs(10),
    )
    .await?;
    let mut text = format!("0 {} ", now_nanos());
    text.extend(std::iter::repeat_n('x', size.saturating_sub(text.len())));
    let frame = client::say(room, &text);
    drop(text);

    // Settle, then read the baseline and reset the peak.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = pid.and_then(|p| ProcSample::read(p).ok());
    let peak_reset = pid.is_some_and(ProcSample::reset_peak);
    let watch = ServerWatch::start(pid);
    let start = Instant::now();
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|c| tokio::spawn(tokio::time::timeout(timeout, c.receive(size))))
        .collect();
    publisher
        .send(Message::Text(frame.into()))
        .await
        .map_err(|e| format!("publish: {e}"))?;
    let mut delivered = 0usize;
    let mut last = Duration::ZERO;
    for r in readers {
        if let Ok(Ok(Some(at))) = r.await {
            delivered += 1;
            last = last.max(at.duration_since(start));
        }
    }
    let after = pid.and_then(|p| ProcSample::read(p).ok());
    let _ = tokio::time::timeout(Duration::from_secs(2), publisher.close(None)).await;

    let mut out = json!({
        "bench": "large",
        "url": target.url,
        "clients": clients,
        "size": size,
        "delivered": delivered,
        "lost": clients - delivered,
        "last_delivery_s": round(last.as_secs_f64()),
    });
    merge(&mut out, watch.report(delivered as u64, "delivery"));
    if let (Some(b), Some(a)) = (before, after) {
        let rise = a.hwm_kib.saturating_sub(b.rss_kib);
        merge(
            &mut out,
            json!({
                "peak_reset": peak_reset,
                "server_rss_before_kib": b.rss_kib,
                "server_peak_rss_kib": a.hwm_kib,
                "server_peak_rise_mib": round(rise as f64 / 1024.0),
            }),
        );
        eprintln!(
            "large {size} B to {clients}: {delivered} delivered, last after {:.2}s; server RSS {} KiB before, peak {} KiB: +{:.1} MiB{}",
            last.as_secs_f64(),
            b.rss_kib,
            a.hwm_kib,
            rise as f64 / 1024.0,
            if peak_reset {
                ""
            } else {
                " (peak could not be reset: it may predate the run)"
            },
        );
    } else {
        eprintln!(
            "large {size} B to {clients}: {delivered} delivered, last after {:.2}s",
            last.as_secs_f64()
        );
    }
    Ok(out)
}

/// A WebSocket client by hand that never holds a whole message.
struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawClient {
    /// Connects, upgrades, joins `room` and waits for the echo that confirms it.
    async fn join(
        target: &Target,
        source: Option<std::net::Ipv4Addr>,
        room: &str,
    ) -> Result<Self, String> {
        let mut stream = target.tcp(source).await?;
        let path = target.url.splitn(4, '/').nth(3).unwrap_or_default();
        let request = format!(
            "GET /{path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            target.addr
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            if buf.len() > 16 * 1024
                || stream.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0
            {
                return Err("no HTTP response".to_owned());
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            return Err(String::from_utf8_lossy(&buf[..end])
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned());
        }
        buf.advance(end + 4);
        let key = [0x12, 0x34, 0x56, 0x78];
        let mut out = wire::client_frame(TEXT, client::join(room).as_bytes(), key);
        out.extend(wire::client_frame(
            TEXT,
            client::echo("ready").as_bytes(),
            key,
        ));
        stream.write_all(&out).await.map_err(|e| e.to_string())?;
        let mut client = Self { stream, buf };
        loop {
            let (opcode, payload) = client.next_small_frame().await?;
            if opcode == TEXT && payload.windows(6).any(|w| w == b"\"echo\"") {
                return Ok(client);
            }
        }
    }

    /// The next whole frame (for the small set-up frames only).
    async fn next_small_frame(&mut self) -> Result<(u8, BytesMut), String> {
        loop {
            if let Some(h) = wire::parse_header(&self.buf) {
                let total = h.header_len + h.len as usize;
                if self.buf.len() >= total {
                    self.buf.advance(h.header_len);
                    return Ok((h.opcode, self.buf.split_to(h.len as usize)));
                }
            }
            if self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| e.to_string())?
                == 0
            {
                return Err("closed during set-up".to_owned());
            }
        }
    }

    /// Reads frames, dropping their bytes as they come, until a text frame
    /// of at least `size` bytes has ended; returns when.
    async fn receive(mut self, size: usize) -> Option<Instant> {
        let mut remaining: u64 = 0;
        let mut current: Option<u64> = None;
        loop {
            if remaining > 0 {
                let take = remaining.min(self.buf.len() as u64);
                self.buf.advance(take as usize);
                remaining -= take;
                if remaining == 0 && current.take().is_some_and(|len| len >= size as u64) {
                    return Some(Instant::now());
                }
            }
            if remaining == 0 {
                if let Some(h) = wire::parse_header(&self.buf) {
                    self.buf.advance(h.header_len);
                    remaining = h.len;
                    current = (h.opcode == TEXT).then_some(h.len);
                    if remaining == 0 {
                        current = None;
                    }
                    continue;
                }
            } else if !self.buf.is_empty() {
                continue;
            }
            self.buf.reserve(16 * 1024);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}
