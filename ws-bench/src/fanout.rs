//! `fanout`: N subscribers join one room; one publisher (not a member)
//! says M messages with at most `window` in flight to the slowest
//! subscriber. Every text is `"<seq> <send nanos> <padding>"`, so each
//! subscriber measures latency and detects loss and reordering by sequence.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::args::{ArgError, Flags};
use crate::client::{self, Sources, Target, Ws};
use crate::deflate::DeflateWs;
use crate::stats::{Percentiles, ProcSample, ServerWatch, merge, now_nanos, round};

pub const USAGE: &str = "\
ws-bench fanout: N clients join one room; one publisher sends M messages
with a bounded window in flight; reports deliveries/s, p50/p99/max latency,
loss and reordering, and the server's CPU time per delivery.

USAGE: ws-bench fanout --url ws://127.0.0.1:3000/ws [options]

  --url U             server URL (loopback only)                     required
  --url2 U            a second node of the same cluster (e.g. two chat
                      processes sharing Redis): subscribers alternate
                      between --url and --url2; the publisher uses --url
  --clients N         subscribers in the room                        [100]
  --messages M        messages the publisher sends                   [1000]
  --size BYTES        length of each message's text                  [100]
  --window W          messages in flight to the slowest subscriber   [128]
  --room R            room name                                      [bench]
  --server-pid PID    read the server's CPU time and RSS from /proc/PID
  --connect-concurrency K  connects at once while setting up         [100]
  --drain-timeout S   give up on missing messages after S seconds
                      without progress                               [3]
  --max-seconds S     hard limit on the whole run                    [300]
  --sample FILE       each text is \"<seq> <nanos> \" and FILE's JSON (compacted)
                      instead of padding to --size
  --deflate           subscribers offer permessage-deflate and inflate what
                      comes compressed; the output gains the wire bytes per
                      delivery either way (text frames, headers included)
";

const FLAGS: &[&str] = &[
    "url",
    "url2",
    "clients",
    "messages",
    "size",
    "window",
    "room",
    "server-pid",
    "connect-concurrency",
    "drain-timeout",
    "max-seconds",
    "sample",
];

struct Opts {
    target: Target,
    /// Odd-numbered subscribers connect here when set.
    second: Option<Target>,
    clients: usize,
    messages: u64,
    size: usize,
    window: u64,
    room: String,
    server_pid: Option<u32>,
    concurrency: usize,
    drain_timeout: Duration,
    max_time: Duration,
    /// The compact JSON each text carries after its sequence and time.
    sample: Option<String>,
    deflate: bool,
}

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    let f = Flags::parse(args, FLAGS, &["deflate"], USAGE)?;
    let sample = match f.opt::<String>("sample")? {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ArgError::Bad(format!("--sample {path}: {e}")))?;
            let json: Value = serde_json::from_str(&text)
                .map_err(|e| ArgError::Bad(format!("--sample {path}: {e}")))?;
            Some(json.to_string())
        }
        None => None,
    };
    let target = Target::parse(&f.required("url")?).map_err(ArgError::Bad)?;
    let second = match f.opt::<String>("url2")? {
        Some(url) => Some(Target::parse(&url).map_err(ArgError::Bad)?),
        None => None,
    };
    let opts = Opts {
        target,
        second,
        clients: f.get("clients", 100usize)?.max(1),
        messages: f.get("messages", 1000u64)?.max(1),
        size: f.get("size", 100usize)?,
        window: f.get("window", 128u64)?.max(1),
        room: f.get("room", "bench".to_owned())?,
        server_pid: f.opt("server-pid")?,
        concurrency: f.get("connect-concurrency", 100usize)?.max(1),
        drain_timeout: Duration::from_secs_f64(f.get("drain-timeout", 3.0f64)?),
        max_time: Duration::from_secs_f64(f.get("max-seconds", 300.0f64)?),
        sample,
        deflate: f.switch("deflate"),
    };
    tokio::runtime::Runtime::new()
        .map_err(|e| ArgError::Bad(e.to_string()))?
        .block_on(run(opts))
        .map_err(ArgError::Bad)
}

/// What the subscribers share with the publisher.
struct Shared {
    /// Per subscriber: highest sequence seen + 1 (`u64::MAX` once it ended).
    progress: Vec<AtomicU64>,
    /// Set while the publisher waits for the window to open.
    waiting: AtomicBool,
    open: Notify,
}

#[derive(Default)]
struct Outcome {
    received: u64,
    reordered: u64,
    duplicates: u64,
    latencies: Vec<u64>,
    last_nanos: u64,
    ended_early: bool,
    /// Bytes of the text frames read, headers included.
    text_bytes: u64,
    /// Whether the server agreed to permessage-deflate.
    deflated: bool,
}

/// A subscriber's connection: tungstenite's, or one that negotiates
/// permessage-deflate.
enum Sub {
    Plain(Ws),
    Deflate(DeflateWs),
}

async fn run(o: Opts) -> Result<Value, String> {
    client::raise_nofile();
    let sources = Sources::plan(o.clients + 1, &o.target);
    let shared = Arc::new(Shared {
        progress: (0..o.clients).map(|_| AtomicU64::new(0)).collect(),
        waiting: AtomicBool::new(false),
        open: Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);

    // Set-up: connect and join, a bounded number at a time; an echo after
    // the join proves the join was handled (a connection's messages are
    // handled in order).
    let setup = Instant::now();
    let mut subscribers = Vec::with_capacity(o.clients);
    let sem = Arc::new(tokio::sync::Semaphore::new(o.concurrency));
    let mut joins = Vec::with_capacity(o.clients);
    for i in 0..o.clients {
        let target = match &o.second {
            Some(second) if i % 2 == 1 => second.clone(),
            _ => o.target.clone(),
        };
        let (room, sem) = (o.room.clone(), Arc::clone(&sem));
        let deflate = o.deflate;
        joins.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
            let within = Duration::from_secs(10);
            if deflate {
                let mut ws = DeflateWs::connect(&target, sources.source(i), within).await?;
                ready_deflate(&mut ws, &room).await?;
                return Ok(Sub::Deflate(ws));
            }
            let mut ws = client::connect(&target, sources.source(i), 64 * 1024, within).await?;
            ready(&mut ws, &room).await?;
            Ok::<Sub, String>(Sub::Plain(ws))
        }));
    }
    for (i, join) in joins.into_iter().enumerate() {
        let ws = join
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("subscriber {i}: {e}"))?;
        let (shared, stop) = (Arc::clone(&shared), stop_rx.clone());
        subscribers.push(tokio::spawn(subscribe(ws, i, o.messages, shared, stop)));
    }
    let publisher = client::connect(
        &o.target,
        sources.source(o.clients),
        64 * 1024,
        Duration::from_secs(10),
    )
    .await?;
    let setup_s = setup.elapsed().as_secs_f64();

    let watch = ServerWatch::start(o.server_pid);
    let start_nanos = now_nanos();
    let deadline = Instant::now() + o.max_time;
    let published = publish(publisher, &o, &shared, deadline).await;

    // Wait for the subscribers until all are complete, or no progress for
    // the drain timeout, or the deadline.
    let target_sum = o.messages.saturating_mul(o.clients as u64);
    let seen_last = |shared: &Shared| {
        shared
            .progress
            .iter()
            .map(|p| p.load(Ordering::Acquire).min(o.messages))
            .sum::<u64>()
    };
    let (mut last, mut since) = (seen_last(&shared), Instant::now());
    let mut grace_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if subscribers.iter().all(|h| h.is_finished())
            || now > deadline
            || since.elapsed() > o.drain_timeout
            || grace_until.is_some_and(|g| now > g)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let seen = seen_last(&shared);
        if seen != last {
            (last, since) = (seen, Instant::now());
        }
        if seen >= target_sum && grace_until.is_none() {
            // Every subscriber has seen the last sequence: what is missing
            // now is lost, bar a late reordered frame.
            grace_until = Some(Instant::now() + Duration::from_millis(200));
        }
    }
    let _ = stop_tx.send(true);
    let mut outcomes = Vec::with_capacity(o.clients);
    for handle in subscribers {
        outcomes.push(handle.await.map_err(|e| e.to_string())?);
    }
    let server = watch.report(outcomes.iter().map(|x| x.received).sum(), "delivery");

    let received: u64 = outcomes.iter().map(|x| x.received).sum();
    let expected = published.sent * o.clients as u64;
    let lost = expected.saturating_sub(received);
    let reordered: u64 = outcomes.iter().map(|x| x.reordered).sum();
    let duplicates: u64 = outcomes.iter().map(|x| x.duplicates).sum();
    let ended_early = outcomes.iter().filter(|x| x.ended_early).count();
    let last_nanos = outcomes
        .iter()
        .map(|x| x.last_nanos)
        .max()
        .unwrap_or(start_nanos);
    let elapsed_s = (last_nanos.saturating_sub(start_nanos)) as f64 / 1e9;
    let text_bytes: u64 = outcomes.iter().map(|x| x.text_bytes).sum();
    let deflated = outcomes.iter().filter(|x| x.deflated).count();
    let mut latencies: Vec<u64> = outcomes.into_iter().flat_map(|x| x.latencies).collect();
    let pct = Percentiles::from_nanos(&mut latencies);
    let rate = if elapsed_s > 0.0 {
        received as f64 / elapsed_s
    } else {
        0.0
    };

    let mut out = json!({
        "bench": "fanout",
        "url": o.target.url,
        "url2": o.second.as_ref().map(|t| t.url.clone()),
        "clients": o.clients,
        "messages": o.messages,
        "sent": published.sent,
        "size": o.sample.as_ref().map_or(o.size, |s| s.len()),
        "sample": o.sample.is_some(),
        "deflate_offered": o.deflate,
        "deflate_agreed": deflated,
        "wire_bytes_per_delivery": if received > 0 { (text_bytes as f64 / received as f64).round() } else { 0.0 },
        "window": o.window,
        "expected": expected,
        "deliveries": received,
        "lost": lost,
        "reordered": reordered,
        "duplicates": duplicates,
        "ended_early": ended_early,
        "stalled": published.stalled,
        "elapsed_s": round(elapsed_s),
        "setup_s": round(setup_s),
        "deliveries_per_s": rate.round(),
    });
    merge(&mut out, pct.to_json());
    merge(&mut out, server);
    if let Some(pid) = o.server_pid
        && let Ok(now) = ProcSample::read(pid)
    {
        merge(&mut out, json!({ "server_peak_rss_kib": now.hwm_kib }));
    }
    let cpu = out
        .get("server_cpu_us_per_delivery")
        .and_then(Value::as_f64);
    eprintln!(
        "fanout {} clients x {} msgs of {} B: {} deliveries in {:.2}s = {:.0}/s; latency p50 {:.0} us, p99 {:.0} us, max {:.0} us; lost {}, reordered {}{}",
        o.clients,
        published.sent,
        o.sample.as_ref().map_or(o.size, |s| s.len()),
        received,
        elapsed_s,
        rate,
        pct.p50,
        pct.p99,
        pct.max,
        lost,
        reordered,
        cpu.map(|c| format!("; server CPU {c:.3} us/delivery"))
            .unwrap_or_default(),
    );
    Ok(out)
}

/// [`ready`] for a subscriber that negotiates deflate.
async fn ready_deflate(ws: &mut DeflateWs, room: &str) -> Result<(), String> {
    ws.send_text(&client::join(room)).await?;
    ws.send_text(&client::echo("ready")).await?;
    let wait = async {
        while let Some(text) = ws.next_text().await {
            if text.contains("\"echo\"") {
                return Ok(());
            }
        }
        Err("connection ended before the join was confirmed".to_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| Err("no echo after join within 10 s".to_owned()))
}

/// Joins `room`, then waits for an echo: once it arrives the join is in force.
pub async fn ready(ws: &mut Ws, room: &str) -> Result<(), String> {
    ws.send(Message::Text(client::join(room).into()))
        .await
        .map_err(|e| e.to_string())?;
    ws.send(Message::Text(client::echo("ready").into()))
        .await
        .map_err(|e| e.to_string())?;
    let wait = async {
        while let Some(frame) = ws.next().await {
            match frame.map_err(|e| e.to_string())? {
                Message::Text(text) if text.contains("\"echo\"") => return Ok(()),
                Message::Close(frame) => return Err(format!("closed by the server: {frame:?}")),
                _ => {}
            }
        }
        Err("connection ended before the join was confirmed".to_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| Err("no echo after join within 10 s".to_owned()))
}

struct Published {
    sent: u64,
    stalled: bool,
}

async fn publish(ws: Ws, o: &Opts, shared: &Shared, deadline: Instant) -> Published {
    let (mut sink, mut stream) = ws.split();
    // Keep the publisher's read side moving (pings, errors), without holding it.
    let drain = async {
        while let Some(Ok(_)) = stream.next().await {}
        std::future::pending::<()>().await
    };
    let send = async {
        let mut sent = 0u64;
        let mut min = 0u64;
        let mut text = String::with_capacity(o.size + 32);
        for seq in 0..o.messages {
            if seq >= min + o.window {
                match open_window(shared, seq, o.window, deadline, o.drain_timeout).await {
                    Some(m) => min = m,
                    None => {
                        return Published {
                            sent,
                            stalled: true,
                        };
                    }
                }
            }
            text.clear();
            use std::fmt::Write as _;
            let _ = write!(text, "{seq} {} ", now_nanos());
            match &o.sample {
                Some(sample) => text.push_str(sample),
                None => {
                    while text.len() < o.size {
                        text.push('x');
                    }
                }
            }
            if sink
                .send(Message::Text(client::say(&o.room, &text).into()))
                .await
                .is_err()
            {
                return Published {
                    sent,
                    stalled: true,
                };
            }
            sent += 1;
        }
        Published {
            sent,
            stalled: false,
        }
    };
    tokio::select! {
        published = send => published,
        () = drain => unreachable!("the drain never ends"),
    }
}

/// Waits until the slowest subscriber has seen `seq - window`; returns the
/// new minimum, or `None` on a stall or past the deadline.
async fn open_window(
    shared: &Shared,
    seq: u64,
    window: u64,
    deadline: Instant,
    stall: Duration,
) -> Option<u64> {
    let min = || {
        shared
            .progress
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX)
    };
    let mut last = min();
    let mut since = Instant::now();
    loop {
        if seq < last.saturating_add(window) {
            return Some(last);
        }
        shared.waiting.store(true, Ordering::SeqCst);
        let m = min();
        if seq < m.saturating_add(window) {
            shared.waiting.store(false, Ordering::SeqCst);
            return Some(m);
        }
        let _ = tokio::time::timeout(Duration::from_millis(20), shared.open.notified()).await;
        shared.waiting.store(false, Ordering::SeqCst);
        let m = min();
        if m != last {
            (last, since) = (m, Instant::now());
        }
        if since.elapsed() > stall || Instant::now() > deadline {
            return None;
        }
    }
}

async fn subscribe(
    mut ws: Sub,
    i: usize,
    messages: u64,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let mut out = Outcome {
        latencies: Vec::with_capacity(messages.min(1 << 24) as usize),
        ..Outcome::default()
    };
    let mut seen = vec![0u64; (messages as usize).div_ceil(64)];
    let mut max_seq: Option<u64> = None;
    let progress = &shared.progress[i];
    if let Sub::Deflate(ws) = &mut ws {
        out.deflated = ws.agreed;
        ws.text_bytes = 0;
    }
    loop {
        // The text's sequence and send time; `None` for another frame,
        // `Some(None)` when the connection ended.
        let next = match &mut ws {
            Sub::Plain(ws) => {
                let frame = tokio::select! {
                    biased;
                    frame = ws.next() => frame,
                    _ = stop.changed() => break,
                };
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        let header = match text.len() {
                            0..=125 => 2,
                            126..=0xffff => 4,
                            _ => 10,
                        };
                        out.text_bytes += (header + text.len()) as u64;
                        Some(client::text_field(&text).and_then(parse_text))
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => None,
                    Some(Ok(_)) => continue,
                }
            }
            Sub::Deflate(ws) => {
                let text = tokio::select! {
                    biased;
                    text = ws.next_text() => text,
                    _ = stop.changed() => break,
                };
                text.map(|text| client::text_field(text).and_then(parse_text))
            }
        };
        let Some(parsed) = next else {
            out.ended_early = out.received < messages;
            break;
        };
        let now = now_nanos();
        let Some((seq, sent)) = parsed else {
            continue;
        };
        if seq >= messages {
            continue;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if seen[word] & bit != 0 {
            out.duplicates += 1;
            continue;
        }
        seen[word] |= bit;
        out.received += 1;
        out.latencies.push(now.saturating_sub(sent));
        out.last_nanos = now;
        match max_seq {
            Some(m) if seq < m => out.reordered += 1,
            _ => {
                max_seq = Some(seq);
                progress.store(seq + 1, Ordering::Release);
                if shared.waiting.load(Ordering::Relaxed) {
                    shared.open.notify_one();
                }
            }
        }
        if out.received == messages {
            break;
        }
    }
    // An ended subscriber no longer holds the window shut.
    progress.store(u64::MAX, Ordering::Release);
    shared.open.notify_one();
    match &mut ws {
        Sub::Plain(ws) => {
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        }
        Sub::Deflate(ws) => {
            out.text_bytes = ws.text_bytes;
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close()).await;
        }
    }
    out
}

/// `"<seq> <nanos> ..."` → (seq, nanos).
fn parse_text(text: &str) -> Option<(u64, u64)> {
    let mut it = text.splitn(3, ' ');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_sequence_and_timestamp() {
        assert_eq!(super::parse_text("12 3456 xxxx"), Some((12, 3456)));
        assert_eq!(super::parse_text("ready"), None);
    }
}
