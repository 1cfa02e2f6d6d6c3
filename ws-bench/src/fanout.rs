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

use crate::args::{ArgError, Flags, block_on};
use crate::client::{self, Sources, Target, Ws};
use crate::deflate::DeflateWs;
use crate::stats::{Percentiles, ProcSample, ServerWatch, merge, now_nanos, round};

/// Set by `--wall-clock` (and `--subscribe-only`): texts carry wall-clock
/// nanos, so that subscribers in another process can measure latency.
static WALL_CLOCK: AtomicBool = AtomicBool::new(false);

fn stamp() -> u64 {
    if WALL_CLOCK.load(Ordering::Relaxed) {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    } else {
        now_nanos()
    }
}

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
  --codec C           json | msgpack: the subscribers' codec, asked for
                      as the subprotocol <--subprotocol>.msgpack      [json]
  --subprotocol B     the protocol's subprotocol base name           [chat.v1]
  --text-file F       each text is \"<seq> <nanos> \" and the content of F
                      (compacted if JSON, e.g. ws-bench/samples/message-2k.json),
                      not padding; --size is then ignored
  --server-pid PID    read the server's CPU time and RSS from /proc/PID
  --connect-concurrency K  connects at once while setting up         [100]
  --drain-timeout S   give up on missing messages after S seconds
                      without progress                               [3]
  --max-seconds S     hard limit on the whole run                    [300]
  --rooms K           subscriber i joins room <--room>-<i mod K> and
                      message s goes to room <--room>-<s mod K>, so each
                      message reaches N/K subscribers; --window is then
                      per subscriber (K x W messages in flight)       [1]
  --subscribe-only    no publisher: connect and join the subscribers,
                      write --ready-file, then count the deliveries of
                      another process's publisher (M messages, same
                      --rooms), their loss and reordering, until all
                      arrived or no progress for --drain-timeout once
                      the first arrived; implies --wall-clock
  --ready-file F      with --subscribe-only: written once all joined
  --wall-clock        texts carry wall-clock nanos (for latency measured
                      in another process: a --subscribe-only one)
  --deflate           subscribers offer permessage-deflate and inflate what
                      comes compressed (JSON only); bytes_per_delivery is
                      then what came on the wire, compressed
";

const FLAGS: &[&str] = &[
    "url",
    "url2",
    "clients",
    "messages",
    "size",
    "window",
    "room",
    "codec",
    "subprotocol",
    "text-file",
    "server-pid",
    "connect-concurrency",
    "drain-timeout",
    "max-seconds",
    "rooms",
    "ready-file",
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
    /// The subprotocol the subscribers ask for; `None`: JSON, no header.
    offered: Option<String>,
    codec: String,
    /// The body of every text after its sequence and time, if given.
    body: Option<String>,
    server_pid: Option<u32>,
    concurrency: usize,
    drain_timeout: Duration,
    max_time: Duration,
    deflate: bool,
    rooms: u64,
    subscribe_only: bool,
    ready_file: Option<String>,
}

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    let f = Flags::parse(
        args,
        FLAGS,
        &["deflate", "subscribe-only", "wall-clock"],
        USAGE,
    )?;
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
        offered: None,
        codec: f.get("codec", "json".to_owned())?,
        body: match f.opt::<String>("text-file")? {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ArgError::Bad(format!("--text-file {path}: {e}")))?;
                // A JSON sample is sent as a client would: compact.
                Some(match serde_json::from_str::<Value>(&text) {
                    Ok(json) => json.to_string(),
                    Err(_) => text.trim_end().to_owned(),
                })
            }
            None => None,
        },
        server_pid: f.opt("server-pid")?,
        concurrency: f.get("connect-concurrency", 100usize)?.max(1),
        drain_timeout: Duration::from_secs_f64(f.get("drain-timeout", 3.0f64)?),
        max_time: Duration::from_secs_f64(f.get("max-seconds", 300.0f64)?),
        deflate: f.switch("deflate"),
        rooms: f.get("rooms", 1u64)?.max(1),
        subscribe_only: f.switch("subscribe-only"),
        ready_file: f.opt("ready-file")?,
    };
    if opts.subscribe_only || f.switch("wall-clock") {
        WALL_CLOCK.store(true, Ordering::Relaxed);
    }
    let mut opts = opts;
    let base = f.get("subprotocol", "chat.v1".to_owned())?;
    opts.offered = match opts.codec.as_str() {
        "json" => None,
        "msgpack" => Some(format!("{base}.msgpack")),
        other => {
            return Err(ArgError::Bad(format!(
                "--codec {other}: expected json or msgpack"
            )));
        }
    };
    block_on(run(opts))
}

/// What the subscribers share with the publisher.
struct Shared {
    /// Per subscriber: highest sequence seen + 1 (`u64::MAX` once it ended).
    progress: Vec<AtomicU64>,
    /// Set while the publisher waits for the window to open.
    waiting: AtomicBool,
    open: Notify,
}

/// A subscriber's connection: tungstenite's, or one that negotiates
/// permessage-deflate.
enum Sub {
    Plain(Ws),
    Deflate(DeflateWs),
}

#[derive(Default)]
struct Outcome {
    received: u64,
    /// Bytes of the frames counted in `received`, headers included.
    bytes: u64,
    /// Whether the server agreed to permessage-deflate.
    deflated: bool,
    reordered: u64,
    duplicates: u64,
    latencies: Vec<u64>,
    last_nanos: u64,
    ended_early: bool,
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
        let (room, sem) = (room_of(&o.room, i as u64, o.rooms), Arc::clone(&sem));
        let offered = o.offered.clone();
        let deflate = o.deflate;
        joins.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
            if deflate {
                let within = Duration::from_secs(10);
                let mut ws = DeflateWs::connect(&target, sources.source(i), within).await?;
                ready_deflate(&mut ws, &room).await?;
                return Ok(Sub::Deflate(ws));
            }
            let mut ws = client::connect_offering(
                &target,
                sources.source(i),
                64 * 1024,
                Duration::from_secs(10),
                offered.as_deref(),
            )
            .await?;
            ready(&mut ws, &target, &room).await?;
            Ok::<Sub, String>(Sub::Plain(ws))
        }));
    }
    for (i, join) in joins.into_iter().enumerate() {
        let ws = join
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("subscriber {i}: {e}"))?;
        let (shared, stop) = (Arc::clone(&shared), stop_rx.clone());
        let want = in_room(o.messages, i as u64, o.rooms);
        subscribers.push(tokio::spawn(subscribe(
            ws, i, o.messages, want, shared, stop,
        )));
    }
    let publisher = if o.subscribe_only {
        None
    } else {
        Some(
            client::connect(
                &o.target,
                sources.source(o.clients),
                64 * 1024,
                Duration::from_secs(10),
            )
            .await?,
        )
    };
    let setup_s = setup.elapsed().as_secs_f64();
    if let Some(path) = &o.ready_file {
        std::fs::write(path, format!("{}\n", o.clients))
            .map_err(|e| format!("--ready-file {path}: {e}"))?;
    }

    let watch = ServerWatch::start(o.server_pid);
    let start_nanos = stamp();
    let deadline = Instant::now() + o.max_time;
    let mut publisher = publisher.map(Publisher::start);
    let published = match &mut publisher {
        Some(publisher) => publish(publisher, &o, &shared, deadline).await,
        // Another process publishes them all, unless it stalls: then what
        // is missing here shows as lost.
        None => Published {
            sent: o.messages,
            stalled: false,
        },
    };

    // Wait for the subscribers until all are complete, or no progress for
    // the drain timeout, or the deadline.
    // Per subscriber: its room's last sequence + 1.
    let lasts: Vec<u64> = (0..o.clients as u64)
        .map(|i| last_in_room(o.messages, i, o.rooms))
        .collect();
    let target_sum: u64 = lasts.iter().sum();
    let seen_last = |shared: &Shared| {
        shared
            .progress
            .iter()
            .zip(&lasts)
            .map(|(p, last)| p.load(Ordering::Acquire).min(*last))
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
        } else if o.subscribe_only && seen == 0 {
            // Waiting for the publisher of another process to start.
            since = Instant::now();
        }
        if seen >= target_sum && grace_until.is_none() {
            // Every subscriber has seen the last sequence: what is missing
            // now is lost, bar a late reordered frame.
            grace_until = Some(Instant::now() + Duration::from_millis(200));
        }
    }
    let _ = stop_tx.send(true);
    let publisher_closed = match publisher {
        Some(publisher) => publisher.close().await,
        None => None,
    };
    let mut outcomes = Vec::with_capacity(o.clients);
    for handle in subscribers {
        outcomes.push(handle.await.map_err(|e| e.to_string())?);
    }
    let server = watch.report(outcomes.iter().map(|x| x.received).sum(), "delivery");

    let received: u64 = outcomes.iter().map(|x| x.received).sum();
    let bytes: u64 = outcomes.iter().map(|x| x.bytes).sum();
    let expected: u64 = (0..o.clients as u64)
        .map(|i| in_room(published.sent, i, o.rooms))
        .sum();
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
        "size": o.body.as_ref().map_or(o.size, String::len),
        "codec": o.codec,
        "deflate_offered": o.deflate,
        "deflate_agreed": deflated,
        "text_file": o.body.is_some(),
        "bytes_per_delivery": if received > 0 { (bytes as f64 / received as f64).round() } else { 0.0 },
        "window": o.window,
        "rooms": o.rooms,
        // Comparable across processes with --wall-clock: a set-up of several
        // processes takes its elapsed time from the publisher's start to the
        // last delivery anywhere.
        "start_nanos": start_nanos,
        "last_nanos": last_nanos,
        "subscribe_only": o.subscribe_only,
        "expected": expected,
        "deliveries": received,
        "lost": lost,
        "reordered": reordered,
        "duplicates": duplicates,
        "ended_early": ended_early,
        "stalled": published.stalled,
        // How the server ended the publisher's connection before the run
        // did (null: it did not).
        "publisher_closed": publisher_closed,
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
        o.body.as_ref().map_or(o.size, String::len),
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
    if let Some(how) = out["publisher_closed"].as_str() {
        eprintln!("fanout: the publisher's connection ended before the run did: {how}");
    }
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

/// Joins `room` (in `target`'s dialect), then waits for an echo: once it
/// arrives the join is in force.
pub async fn ready(ws: &mut Ws, target: &Target, room: &str) -> Result<(), String> {
    ws.send(Message::Text(target.join(room).into()))
        .await
        .map_err(|e| e.to_string())?;
    ws.send(Message::Text(target.echo("ready").into()))
        .await
        .map_err(|e| e.to_string())?;
    let wait = async {
        while let Some(frame) = ws.next().await {
            match frame.map_err(|e| e.to_string())? {
                Message::Text(text) if text.contains("\"echo\"") => return Ok(()),
                Message::Binary(bytes) if bytes.windows(5).any(|w| w == b"\xa4echo") => {
                    return Ok(());
                }
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

/// The publisher's connection once its says are written: kept open, its
/// read side drained, until the subscribers are done. Dropping a socket
/// with unread data in it resets the connection, and the server then never
/// reads the says still in its receive buffer: the tail of a run would be
/// lost by the load tool, not by the server.
struct Publisher {
    sink: futures_util::stream::SplitSink<Ws, Message>,
    /// Set once this side starts the close handshake.
    closing: Arc<AtomicBool>,
    /// The drain: ends with the server's close (or the connection's end)
    /// and says how the server ended it if it did so first.
    drain: tokio::task::JoinHandle<Option<String>>,
}

impl Publisher {
    fn start(ws: Ws) -> Self {
        let (sink, mut stream) = ws.split();
        let closing = Arc::new(AtomicBool::new(false));
        let ours = Arc::clone(&closing);
        // Keeps the read side moving (pings, error replies), without
        // holding the says.
        let drain = tokio::spawn(async move {
            loop {
                let next = stream.next().await;
                let early = !ours.load(Ordering::Acquire);
                match next {
                    Some(Ok(Message::Close(frame))) => {
                        return early.then(|| format!("closed by the server: {frame:?}"));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return early.then(|| error.to_string()),
                    None => return early.then(|| "connection ended".to_owned()),
                }
            }
        });
        Self {
            sink,
            closing,
            drain,
        }
    }

    /// Closes with the handshake, after everything sent was read; `Some`
    /// when the server had ended the connection first (an eviction): the
    /// says after that point were never handled.
    async fn close(mut self) -> Option<String> {
        self.closing.store(true, Ordering::Release);
        let _ = self.sink.send(Message::Close(None)).await;
        match tokio::time::timeout(Duration::from_secs(10), self.drain).await {
            Ok(Ok(early)) => early,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some("no close reply within 10 s".to_owned()),
        }
    }
}

async fn publish(
    publisher: &mut Publisher,
    o: &Opts,
    shared: &Shared,
    deadline: Instant,
) -> Published {
    let sink = &mut publisher.sink;
    let mut sent = 0u64;
    let mut min = 0u64;
    let mut text = String::with_capacity(o.size + 32);
    for seq in 0..o.messages {
        // With K rooms a caught-up subscriber may be K - 1 sequences
        // behind the last one sent: the window is per subscriber.
        let window = o.window.saturating_mul(o.rooms);
        if seq >= min + window {
            match open_window(shared, seq, window, deadline, o.drain_timeout).await {
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
        let _ = write!(text, "{seq} {} ", stamp());
        match &o.body {
            Some(body) => text.push_str(body),
            None => {
                while text.len() < o.size {
                    text.push('x');
                }
            }
        }
        if sink
            .send(Message::Text(
                o.target.say(&room_of(&o.room, seq, o.rooms), &text).into(),
            ))
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
    want: u64,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let mut out = Outcome {
        latencies: Vec::with_capacity(want.min(1 << 24) as usize),
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
        let ws = match &mut ws {
            Sub::Plain(ws) => ws,
            Sub::Deflate(ws) => {
                let text = tokio::select! {
                    biased;
                    text = ws.next_text() => text,
                    _ = stop.changed() => break,
                };
                let Some(text) = text else {
                    out.ended_early = out.received < want;
                    break;
                };
                let now = stamp();
                if let Some((seq, sent)) = client::text_field(text).and_then(parse_text) {
                    // The wire bytes are the connection's, counted as it reads.
                    out.record(
                        seq,
                        sent,
                        now,
                        0,
                        messages,
                        &mut seen,
                        &mut max_seq,
                        progress,
                        &shared,
                    );
                }
                if out.received == want {
                    break;
                }
                continue;
            }
        };
        let frame = tokio::select! {
            biased;
            frame = ws.next() => frame,
            _ = stop.changed() => break,
        };
        let now;
        let (found, len) = match frame {
            Some(Ok(Message::Text(text))) if client::is_engineio_ping(&text) => {
                let _ = ws.send(Message::Text("3".into())).await;
                continue;
            }
            Some(Ok(Message::Text(text))) => {
                now = stamp();
                (client::text_field(&text).and_then(parse_text), text.len())
            }
            Some(Ok(Message::Binary(bytes))) => {
                now = stamp();
                // Only the sequence and the time are read: a prefix.
                let text = client::packed_text_field(&bytes)
                    .map(|t| String::from_utf8_lossy(&t[..t.len().min(48)]).into_owned());
                (text.as_deref().and_then(parse_text), bytes.len())
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                out.ended_early = out.received < want;
                break;
            }
            Some(Ok(_)) => continue,
        };
        let Some((seq, sent)) = found else {
            continue;
        };
        let wire = (len + frame_header(len)) as u64;
        out.record(
            seq,
            sent,
            now,
            wire,
            messages,
            &mut seen,
            &mut max_seq,
            progress,
            &shared,
        );
        if out.received == want {
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
            out.bytes = ws.text_bytes;
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close()).await;
        }
    }
    out
}

impl Outcome {
    /// Counts message `seq` (sent at `sent`, read at `now`, `wire` bytes):
    /// a duplicate, or a delivery that may open the publisher's window.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        seq: u64,
        sent: u64,
        now: u64,
        wire: u64,
        messages: u64,
        seen: &mut [u64],
        max_seq: &mut Option<u64>,
        progress: &AtomicU64,
        shared: &Shared,
    ) {
        if seq >= messages {
            return;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if seen[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        seen[word] |= bit;
        self.received += 1;
        self.bytes += wire;
        self.latencies.push(now.saturating_sub(sent));
        self.last_nanos = now;
        match *max_seq {
            Some(m) if seq < m => self.reordered += 1,
            _ => {
                *max_seq = Some(seq);
                progress.store(seq + 1, Ordering::Release);
                if shared.waiting.load(Ordering::Relaxed) {
                    shared.open.notify_one();
                }
            }
        }
    }
}

/// Subscriber (or message) `i`'s room: `room` itself when there is one.
fn room_of(room: &str, i: u64, rooms: u64) -> String {
    if rooms <= 1 {
        room.to_owned()
    } else {
        format!("{room}-{}", i % rooms)
    }
}

/// How many of sequences `0..sent` go to subscriber `i`'s room.
fn in_room(sent: u64, i: u64, rooms: u64) -> u64 {
    let r = i % rooms;
    if r >= sent {
        0
    } else {
        (sent - r).div_ceil(rooms)
    }
}

/// The last sequence of `0..messages` in subscriber `i`'s room, + 1 (0 if
/// none).
fn last_in_room(messages: u64, i: u64, rooms: u64) -> u64 {
    match in_room(messages, i, rooms) {
        0 => 0,
        n => i % rooms + (n - 1) * rooms + 1,
    }
}

/// The header of a server (unmasked) frame of `len` bytes.
fn frame_header(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    }
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

    #[test]
    fn rooms_split_the_sequences() {
        use super::{in_room, last_in_room, room_of};
        assert_eq!(room_of("bench", 7, 1), "bench");
        assert_eq!(room_of("bench", 7, 3), "bench-1");
        // 10 messages over 3 rooms: 0,3,6,9 | 1,4,7 | 2,5,8.
        assert_eq!([0, 1, 2].map(|i| in_room(10, i, 3)), [4, 3, 3]);
        assert_eq!([0, 1, 2].map(|i| last_in_room(10, i, 3)), [10, 8, 9]);
        assert_eq!((in_room(2, 5, 10), last_in_room(2, 5, 10)), (0, 0));
        assert_eq!((in_room(10, 4, 1), last_in_room(10, 4, 1)), (10, 10));
    }
}
