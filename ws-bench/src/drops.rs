//! `drops`: delivery under connection drops. N subscribers join a few rooms
//! of a server that keeps history (the chat example's default), a publisher
//! says messages at a fixed rate, and every subscriber's connection is cut
//! (a TCP reset, no close frame) every K seconds, staggered so that the cuts
//! spread evenly over each period. A cut subscriber reconnects at once (or
//! after `--reconnect-delay`) and joins with `since`: the epoch and the last
//! offset it processed. Every `said` carries its room's offset, so each
//! subscriber counts what it got, twice, out of order or never.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::args::{ArgError, Flags, block_on};
use crate::client::{self, Sources, Target, Ws};
use crate::stats::{Percentiles, ServerWatch, merge, round};

pub const USAGE: &str = "\
ws-bench drops: N subscribers in R rooms of a server with history (the chat
example keeps 1,000 messages per room by default); a publisher at a fixed
rate; every subscriber's connection cut (TCP reset, no close frame) every K
seconds, staggered; each reconnects and joins with `since` (epoch and last
offset). Reports the share delivered, duplicates, out-of-order frames,
recovered=false answers by reason, and recovery latency (cut -> joined, and
cut -> first replayed frame) p50/p99.

USAGE: ws-bench drops --url ws://127.0.0.1:3000/ws [options]

  --url U              server URL (loopback only)                     required
  --url2 U             a second node of the same cluster (two chat processes
                       sharing Redis): subscribers start alternating between
                       the nodes and each resumes on the other node; the
                       publisher uses --url
  --clients N          subscribers                                    [1000]
  --rooms R            rooms; subscriber i joins room i mod R          [1]
  --rate M             messages per second, all rooms together        [200]
  --seconds S          how long the publisher runs                    [20]
  --cut-every K        seconds between two cuts of one subscriber     [5]
  --reconnect-delay D  seconds from a cut to the reconnect            [0]
  --size BYTES         length of each message's text                  [32]
  --connect-concurrency C  connects at once while setting up          [100]
  --server-pid PID     read the server's CPU time and RSS from /proc/PID
  --drain-timeout S    after the publisher ends, give up on missing
                       messages after S seconds without progress      [5]
  --max-seconds S      hard limit on the whole run                    [300]
";

const FLAGS: &[&str] = &[
    "url",
    "url2",
    "clients",
    "rooms",
    "rate",
    "seconds",
    "cut-every",
    "reconnect-delay",
    "size",
    "connect-concurrency",
    "server-pid",
    "drain-timeout",
    "max-seconds",
];

struct Opts {
    targets: Vec<Target>,
    clients: usize,
    rooms: usize,
    rate: f64,
    seconds: f64,
    cut_every: Duration,
    reconnect_delay: Duration,
    size: usize,
    concurrency: usize,
    server_pid: Option<u32>,
    drain_timeout: Duration,
    max_time: Duration,
}

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    let f = Flags::parse(args, FLAGS, &[], USAGE)?;
    let mut targets = vec![Target::parse(&f.required("url")?).map_err(ArgError::Bad)?];
    if let Some(url) = f.opt::<String>("url2")? {
        targets.push(Target::parse(&url).map_err(ArgError::Bad)?);
    }
    let positive = |name: &str, x: f64| {
        if x > 0.0 && x.is_finite() {
            Ok(x)
        } else {
            Err(ArgError::Bad(format!(
                "`--{name}` must be a positive number"
            )))
        }
    };
    let opts = Opts {
        targets,
        clients: f.get("clients", 1000usize)?.max(1),
        rooms: f.get("rooms", 1usize)?.max(1),
        rate: positive("rate", f.get("rate", 200.0f64)?)?,
        seconds: positive("seconds", f.get("seconds", 20.0f64)?)?,
        cut_every: Duration::from_secs_f64(positive("cut-every", f.get("cut-every", 5.0f64)?)?),
        reconnect_delay: Duration::from_secs_f64(f.get("reconnect-delay", 0.0f64)?.max(0.0)),
        size: f.get("size", 32usize)?,
        concurrency: f.get("connect-concurrency", 100usize)?.max(1),
        server_pid: f.opt("server-pid")?,
        drain_timeout: Duration::from_secs_f64(f.get("drain-timeout", 5.0f64)?),
        max_time: Duration::from_secs_f64(f.get("max-seconds", 300.0f64)?),
    };
    block_on(run(Arc::new(opts)))
}

fn room_name(r: usize) -> String {
    format!("drops-{r}")
}

/// Where the run is, as the subscribers see it.
#[derive(Clone, Debug)]
enum Phase {
    /// The publisher runs; cut on schedule.
    Running,
    /// The publisher is done; these are the rooms' last offsets: stop
    /// cutting and end once caught up.
    Draining(Arc<Vec<u64>>),
    /// Give up now.
    Stop,
}

/// One subscriber's count.
#[derive(Default)]
struct Outcome {
    /// The room's offset when it first joined: it expects every later one.
    start: u64,
    /// Offsets received once (distinct).
    delivered: u64,
    duplicates: u64,
    /// Frames with an offset below one already received.
    out_of_order: u64,
    /// Frames whose offset skipped past the next one.
    gaps: u64,
    cuts: u64,
    /// Connections the server ended (not a cut of ours).
    server_closes: u64,
    connect_failures: u64,
    resumes: u64,
    /// `recovered: false` answers to a resume, by reason.
    unrecovered: BTreeMap<String, u64>,
    /// Frames with an offset up to the resume answer's: the replay.
    replayed: u64,
    /// Cut to `joined`, ns.
    resume_ns: Vec<u64>,
    /// Cut to the WebSocket handshake's end, ns.
    connect_ns: Vec<u64>,
    /// Connections the server closed, by close code (1006: no close frame).
    closes: BTreeMap<u16, u64>,
    /// Cut to the first replayed frame, ns (resumes that replayed anything).
    replay_ns: Vec<u64>,
    /// Ended before reaching the room's last offset.
    ended_early: bool,
    error: Option<String>,
    /// What the first gap looked like, to tell where it came from.
    first_gap: Option<String>,
}

async fn run(o: Arc<Opts>) -> Result<Value, String> {
    client::raise_nofile();
    let deadline = Instant::now() + o.max_time;
    let sources = Sources::plan(o.clients + 1, &o.targets[0]);
    let received = Arc::new(AtomicU64::new(0));
    let (phase_tx, phase_rx) = watch::channel(Phase::Running);

    // Set-up: every subscriber connected and joined (the `joined` answer
    // means the join is in force) before the publisher starts.
    let setup = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(o.concurrency));
    let mut joins = Vec::with_capacity(o.clients);
    for i in 0..o.clients {
        let (o, sem) = (Arc::clone(&o), Arc::clone(&sem));
        joins.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
            let target = &o.targets[i % o.targets.len()];
            join(target, sources.source(i), &room_name(i % o.rooms), None).await
        }));
    }
    let mut joined = Vec::with_capacity(o.clients);
    for (i, join) in joins.into_iter().enumerate() {
        let (ws, answer) = join
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("subscriber {i}: {e}"))?;
        joined.push((ws, answer));
    }
    let setup_s = setup.elapsed().as_secs_f64();

    let watch = ServerWatch::start(o.server_pid);
    let t0 = tokio::time::Instant::now();
    let mut subscribers = Vec::with_capacity(o.clients);
    for (i, (ws, answer)) in joined.into_iter().enumerate() {
        // Subscriber i's first cut is i/N of the way through the first
        // period: the cuts spread evenly, N/K per second.
        let first_cut = t0 + o.cut_every.mul_f64((i as f64 + 0.5) / o.clients as f64);
        subscribers.push(tokio::spawn(subscribe(
            i,
            Arc::clone(&o),
            sources,
            ws,
            answer,
            first_cut,
            phase_rx.clone(),
            Arc::clone(&received),
        )));
    }

    let (published, heads) = publish(&o, sources.source(o.clients), deadline).await?;
    let _ = phase_tx.send(Phase::Draining(Arc::new(heads.clone())));
    let (mut last, mut since) = (received.load(Ordering::Relaxed), Instant::now());
    while !subscribers.iter().all(|h| h.is_finished())
        && since.elapsed() < o.drain_timeout
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = received.load(Ordering::Relaxed);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    let _ = phase_tx.send(Phase::Stop);
    let mut outcomes = Vec::with_capacity(o.clients);
    for handle in subscribers {
        outcomes.push(handle.await.map_err(|e| e.to_string())?);
    }
    let elapsed_s = t0.elapsed().as_secs_f64();

    let expected: u64 = outcomes
        .iter()
        .enumerate()
        .map(|(i, x)| heads[i % o.rooms].saturating_sub(x.start))
        .sum();
    let sum = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let delivered = sum(|x| x.delivered);
    let mut unrecovered = BTreeMap::<String, u64>::new();
    for x in &outcomes {
        for (reason, n) in &x.unrecovered {
            *unrecovered.entry(reason.clone()).or_default() += n;
        }
    }
    let errors: Vec<&String> = outcomes.iter().filter_map(|x| x.error.as_ref()).collect();
    let mut resume_ns: Vec<u64> = outcomes
        .iter()
        .flat_map(|x| x.resume_ns.iter().copied())
        .collect();
    let mut replay_ns: Vec<u64> = outcomes
        .iter()
        .flat_map(|x| x.replay_ns.iter().copied())
        .collect();
    let resume = Percentiles::from_nanos(&mut resume_ns);
    let mut connect_ns: Vec<u64> = outcomes
        .iter()
        .flat_map(|x| x.connect_ns.iter().copied())
        .collect();
    let connect = Percentiles::from_nanos(&mut connect_ns);
    let mut closes = BTreeMap::<String, u64>::new();
    for x in &outcomes {
        for (code, n) in &x.closes {
            *closes.entry(code.to_string()).or_default() += n;
        }
    }
    let replay = Percentiles::from_nanos(&mut replay_ns);
    let ms = |us: f64| round(us / 1e3);
    let delivered_pct = if expected > 0 {
        delivered as f64 * 100.0 / expected as f64
    } else {
        100.0
    };
    let server = watch.report(delivered, "delivery");
    let mut out = json!({
        "bench": "drops",
        "url": o.targets[0].url,
        "url2": o.targets.get(1).map(|t| t.url.clone()),
        "clients": o.clients,
        "rooms": o.rooms,
        "rate": o.rate,
        "seconds": o.seconds,
        "cut_every_s": o.cut_every.as_secs_f64(),
        "reconnect_delay_s": o.reconnect_delay.as_secs_f64(),
        "size": o.size,
        "published": published,
        "expected": expected,
        "delivered": delivered,
        "delivered_pct": (delivered_pct * 1e4).floor() / 1e4,
        "duplicates": sum(|x| x.duplicates),
        "out_of_order": sum(|x| x.out_of_order),
        "gaps": sum(|x| x.gaps),
        "cuts": sum(|x| x.cuts),
        "server_closes": sum(|x| x.server_closes),
        "resumes": sum(|x| x.resumes),
        "recovered_false": sum(|x| x.unrecovered.values().sum()),
        "recovered_false_by_reason": unrecovered,
        "connect_failures": sum(|x| x.connect_failures),
        "replayed": sum(|x| x.replayed),
        "resumes_with_replay": replay_ns.len(),
        "server_closes_by_code": closes,
        "connect_p50_ms": ms(connect.p50),
        "connect_p99_ms": ms(connect.p99),
        "resume_p50_ms": ms(resume.p50),
        "resume_p99_ms": ms(resume.p99),
        "resume_max_ms": ms(resume.max),
        "replay_p50_ms": ms(replay.p50),
        "replay_p99_ms": ms(replay.p99),
        "replay_max_ms": ms(replay.max),
        "ended_early": outcomes.iter().filter(|x| x.ended_early).count(),
        "errors": errors.len(),
        "first_error": errors.first(),
        "first_gaps": outcomes.iter().filter_map(|x| x.first_gap.as_ref()).take(5).collect::<Vec<_>>(),
        "setup_s": round(setup_s),
        "elapsed_s": round(elapsed_s),
    });
    merge(&mut out, server);
    eprintln!(
        "drops {} clients{}, {} room(s), {}/s for {} s, a cut each {:?}: {} of {} delivered ({:.4}%), {} duplicates, {} out of order, {} cuts, {} recovered=false; cut->joined p50 {:.1} ms p99 {:.1} ms; cut->first replayed p50 {:.1} ms p99 {:.1} ms ({} resumes replayed {} frames)",
        o.clients,
        if o.targets.len() > 1 {
            " on two nodes"
        } else {
            ""
        },
        o.rooms,
        o.rate,
        o.seconds,
        o.cut_every,
        delivered,
        expected,
        delivered_pct,
        out["duplicates"],
        out["out_of_order"],
        out["cuts"],
        out["recovered_false"],
        resume.p50 / 1e3,
        resume.p99 / 1e3,
        replay.p50 / 1e3,
        replay.p99 / 1e3,
        replay_ns.len(),
        out["replayed"],
    );
    Ok(out)
}

/// The server's answer to a join: `{"type":"joined",...}`.
struct Joined {
    /// When the WebSocket handshake was done.
    connected: Instant,
    epoch: String,
    offset: u64,
    recovered: bool,
    reason: Option<String>,
}

/// Connects, joins `room` (from `since` if given) and reads the answer,
/// which the wire contract puts before any frame of the room.
async fn join(
    target: &Target,
    source: Option<std::net::Ipv4Addr>,
    room: &str,
    since: Option<(&str, u64)>,
) -> Result<(Ws, Joined), String> {
    let mut ws = client::connect(target, source, 64 * 1024, Duration::from_secs(10)).await?;
    let connected = Instant::now();
    let mut message = json!({"type": "join", "room": room});
    if let Some((epoch, offset)) = since {
        message["since"] = json!({"epoch": epoch, "offset": offset});
    }
    ws.send(Message::Text(message.to_string().into()))
        .await
        .map_err(|e| e.to_string())?;
    let answer = async {
        while let Some(frame) = ws.next().await {
            match frame.map_err(|e| e.to_string())? {
                Message::Text(text) => {
                    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                    if v["type"] != "joined" {
                        return Err(format!("the first frame is not `joined`: {text}"));
                    }
                    let epoch = v["epoch"].as_str().unwrap_or_default().to_owned();
                    if epoch.is_empty() {
                        return Err(format!("no epoch: does the server keep history? {text}"));
                    }
                    return Ok(Joined {
                        connected,
                        epoch,
                        offset: v["offset"].as_u64().ok_or("`joined` without an offset")?,
                        recovered: v["recovered"] == true,
                        reason: v["reason"].as_str().map(str::to_owned),
                    });
                }
                Message::Close(frame) => return Err(format!("closed by the server: {frame:?}")),
                _ => {}
            }
        }
        Err("connection ended before `joined`".to_owned())
    };
    let joined = tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .unwrap_or_else(|_| Err("no `joined` within 10 s".to_owned()))?;
    Ok((ws, joined))
}

/// Cuts the connection as a network failure does: a reset, no close frame.
fn cut(ws: Ws) {
    let _ = ws.get_ref().set_zero_linger();
    drop(ws);
}

/// The `offset` of a `said` frame, found without a full JSON parse (it is
/// the frame's last field, and this tool's texts hold no quotes).
fn said_offset(frame: &str) -> Option<u64> {
    if !frame.starts_with("{\"type\":\"said\"") {
        return None;
    }
    let at = frame.rfind("\"offset\":")? + 9;
    let digits = &frame[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// What woke a subscriber.
enum Event {
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Cut,
    Phase,
}

#[allow(clippy::too_many_arguments)]
async fn subscribe(
    i: usize,
    o: Arc<Opts>,
    sources: Sources,
    ws: Ws,
    answer: Joined,
    first_cut: tokio::time::Instant,
    mut phase: watch::Receiver<Phase>,
    received: Arc<AtomicU64>,
) -> Outcome {
    let room = room_name(i % o.rooms);
    let mut node = i % o.targets.len();
    let mut out = Outcome {
        start: answer.offset,
        ..Outcome::default()
    };
    let epoch = answer.epoch;
    // Offsets received, as bits from `start + 1`.
    let mut seen: Vec<u64> = Vec::new();
    // The highest offset received: the position a resume sends.
    let mut max = answer.offset;
    // `None` only between a cut and the resume.
    let mut ws = Some(ws);
    let mut next_cut = Some(first_cut);
    // After a resume: the last offset of the replay, and the cut's time
    // until the first replayed frame arrives.
    let (mut replay_until, mut replay_cut) = (0u64, None::<Instant>);
    let mut head: Option<u64> = None;
    let mut last_resume: Option<(Instant, u64, u64, usize)> = None;
    loop {
        if head.is_some_and(|h| max >= h) {
            break;
        }
        let cut_at =
            next_cut.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let Some(conn) = ws.as_mut() else {
            break;
        };
        let event = tokio::select! {
            biased;
            changed = phase.changed() => match changed {
                Ok(()) => Event::Phase,
                Err(_) => {
                    out.ended_early = true;
                    break;
                }
            },
            frame = conn.next() => Event::Frame(frame),
            () = tokio::time::sleep_until(cut_at) => Event::Cut,
        };
        match event {
            Event::Phase => match &*phase.borrow_and_update() {
                Phase::Running => continue,
                Phase::Draining(heads) => {
                    head = Some(heads[i % o.rooms]);
                    next_cut = None;
                    continue;
                }
                Phase::Stop => {
                    out.ended_early = true;
                    break;
                }
            },
            Event::Frame(Some(Ok(Message::Text(text)))) => {
                let Some(offset) = said_offset(&text) else {
                    continue;
                };
                received.fetch_add(1, Ordering::Relaxed);
                let Some(bit) = offset.checked_sub(out.start + 1) else {
                    out.duplicates += 1;
                    continue;
                };
                let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
                if seen.len() <= word {
                    seen.resize(word + 1, 0);
                }
                if seen[word] & mask != 0 {
                    out.duplicates += 1;
                    continue;
                }
                seen[word] |= mask;
                out.delivered += 1;
                if offset < max {
                    out.out_of_order += 1;
                } else {
                    if offset > max + 1 {
                        out.gaps += 1;
                        if out.first_gap.is_none() {
                            out.first_gap = Some(match &last_resume {
                                Some((at, since, answer, node)) => format!(
                                    "offset {offset} after {max}, {:.1} ms after a resume on node {node} from {since} answered recovered at {answer}",
                                    at.elapsed().as_secs_f64() * 1e3
                                ),
                                None => format!("offset {offset} after {max}, before any resume"),
                            });
                        }
                    }
                    max = offset;
                }
                if offset <= replay_until {
                    out.replayed += 1;
                    if let Some(cut_at) = replay_cut.take() {
                        out.replay_ns.push(cut_at.elapsed().as_nanos() as u64);
                    }
                }
                continue;
            }
            Event::Frame(Some(Ok(_))) => continue,
            Event::Frame(frame) => {
                out.server_closes += 1;
                let code = match frame {
                    Some(Ok(Message::Close(Some(close)))) => u16::from(close.code),
                    Some(Ok(Message::Close(None))) => 1005,
                    _ => 1006,
                };
                *out.closes.entry(code).or_default() += 1;
            }
            Event::Cut => {
                next_cut = Some(cut_at + o.cut_every);
                out.cuts += 1;
            }
        }
        // Cut (by us or by the server): come back and resume.
        let cut_at = Instant::now();
        if let Some(old) = ws.take() {
            cut(old);
        }
        if !o.reconnect_delay.is_zero() {
            tokio::time::sleep(o.reconnect_delay).await;
        }
        let mut attempts = 0;
        loop {
            node = (node + 1) % o.targets.len();
            match join(
                &o.targets[node],
                sources.source(i),
                &room,
                Some((&epoch, max)),
            )
            .await
            {
                Ok((conn, joined)) => {
                    out.resumes += 1;
                    out.resume_ns.push(cut_at.elapsed().as_nanos() as u64);
                    out.connect_ns
                        .push(joined.connected.duration_since(cut_at).as_nanos() as u64);
                    ws = Some(conn);
                    last_resume = Some((Instant::now(), max, joined.offset, node));
                    if joined.recovered {
                        replay_until = joined.offset;
                        replay_cut = (joined.offset > max).then_some(cut_at);
                    } else {
                        let reason = joined.reason.unwrap_or_else(|| "none".to_owned());
                        *out.unrecovered.entry(reason).or_default() += 1;
                        if joined.epoch != epoch {
                            // Another stream: this subscriber's count ends here.
                            out.ended_early = true;
                            out.error =
                                Some(format!("epoch changed: {} -> {}", epoch, joined.epoch));
                            return out;
                        }
                        max = max.max(joined.offset);
                    }
                    break;
                }
                Err(error) => {
                    out.connect_failures += 1;
                    attempts += 1;
                    if attempts >= 50 || matches!(*phase.borrow(), Phase::Stop) {
                        out.ended_early = true;
                        out.error = Some(error);
                        return out;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    out
}

/// Says `rate × seconds` messages at the rate (message k into room k mod
/// R), then learns each room's last offset: an echo proves every `say` was
/// handled, and a join without `since` answers the room's latest offset.
async fn publish(
    o: &Opts,
    source: Option<std::net::Ipv4Addr>,
    deadline: Instant,
) -> Result<(u64, Vec<u64>), String> {
    let ws = client::connect(&o.targets[0], source, 64 * 1024, Duration::from_secs(10)).await?;
    let (mut sink, mut stream) = ws.split();
    // The read side keeps moving (pings) and hands over the answers.
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let reader = tokio::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            if let Message::Text(text) = frame
                && !text.starts_with("{\"type\":\"said\"")
                && tx.send(text.to_string()).is_err()
            {
                return;
            }
        }
    });
    let total = (o.rate * o.seconds).round() as u64;
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sent = 0u64;
    let mut text = String::with_capacity(o.size + 24);
    while sent < total {
        tick.tick().await;
        if Instant::now() > deadline {
            break;
        }
        // Catch up to the rate after a late tick: the rate is an average.
        let due = ((start.elapsed().as_secs_f64() * o.rate) as u64).min(total);
        while sent < due {
            use std::fmt::Write as _;
            text.clear();
            let _ = write!(text, "{sent} ");
            while text.len() < o.size {
                text.push('x');
            }
            let room = room_name(sent as usize % o.rooms);
            sink.send(Message::Text(client::say(&room, &text).into()))
                .await
                .map_err(|e| format!("publisher: {e}"))?;
            sent += 1;
        }
    }
    sink.send(Message::Text(client::echo("done").into()))
        .await
        .map_err(|e| e.to_string())?;
    answer(&mut rx, "echo").await?;
    let mut heads = Vec::with_capacity(o.rooms);
    for r in 0..o.rooms {
        sink.send(Message::Text(client::join(&room_name(r)).into()))
            .await
            .map_err(|e| e.to_string())?;
        let joined = answer(&mut rx, "joined").await?;
        heads.push(
            joined["offset"]
                .as_u64()
                .ok_or("`joined` without an offset")?,
        );
    }
    let _ = sink.close().await;
    reader.abort();
    Ok((sent, heads))
}

/// The next answer to the publisher, which must be of type `what`.
async fn answer(rx: &mut mpsc::UnboundedReceiver<String>, what: &str) -> Result<Value, String> {
    let next = async {
        let text = rx.recv().await.ok_or("the publisher's connection ended")?;
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if v["type"] == what {
            Ok(v)
        } else {
            Err(format!("expected `{what}`, got {text}"))
        }
    };
    tokio::time::timeout(Duration::from_secs(30), next)
        .await
        .unwrap_or_else(|_| Err(format!("no `{what}` within 30 s")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_offset_of_said_only() {
        let said =
            r##"{"type":"said","room":"r","text":"7 xx","from":"#1","epoch":"e-1","offset":42}"##;
        assert_eq!(super::said_offset(said), Some(42));
        assert_eq!(
            super::said_offset(
                r#"{"type":"joined","room":"r","epoch":"e","offset":3,"recovered":false}"#
            ),
            None
        );
    }
}
