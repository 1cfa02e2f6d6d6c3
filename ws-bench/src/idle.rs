//! `idle`: holds N idle connections for S seconds and reports the server's
//! RSS per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::args::{ArgError, Flags, block_on};
use crate::client::{self, Sources, Target};
use crate::deflate::DeflateWs;
use crate::stats::{ProcSample, merge, round};

pub const USAGE: &str = "\
ws-bench idle: opens N connections, K at a time, and holds them idle for S
seconds (answering the server's pings), then closes them. With --server-pid
reports the server's RSS per connection: (RSS with N held - RSS before) / N.
Source addresses are spread over 127.0.0.2, .3, ... when N exceeds one
address's ephemeral ports; the soft open-files limit is raised to the hard one.

USAGE: ws-bench idle --url ws://127.0.0.1:3000/ws [options]

  --url U            server URL (loopback only)               required
  --count N          connections to hold                      [1000]
  --hold S           seconds to hold them once all are open   [10]
  --concurrency K    connections being opened at once         [200]
  --join R           join room R on each connection (default: stay silent)
  --server-pid PID   read the server's RSS from /proc/PID
  --deflate          offer permessage-deflate (the JSON line counts the
                     connections the server agreed it on)
";

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    let f = Flags::parse(
        args,
        &["url", "count", "hold", "concurrency", "join", "server-pid"],
        &["deflate"],
        USAGE,
    )?;
    let target = Target::parse(&f.required("url")?).map_err(ArgError::Bad)?;
    let count = f.get("count", 1000usize)?;
    let hold = Duration::from_secs_f64(f.get("hold", 10.0f64)?.clamp(0.0, 3600.0));
    let concurrency = f.get("concurrency", 200usize)?.max(1);
    let join: Option<String> = f.opt("join")?;
    let pid: Option<u32> = f.opt("server-pid")?;
    block_on(run(
        target,
        count,
        hold,
        concurrency,
        join,
        pid,
        f.switch("deflate"),
    ))
}

async fn run(
    target: Target,
    count: usize,
    hold: Duration,
    concurrency: usize,
    join: Option<String>,
    pid: Option<u32>,
    deflate: bool,
) -> Result<Value, String> {
    let nofile = client::raise_nofile();
    if (nofile as usize) < count + 100 {
        eprintln!("warning: open-files limit {nofile} is below {count} connections + margin");
    }
    let sources = Sources::plan(count, &target);
    let before = pid.and_then(|p| ProcSample::read(p).ok());
    let (stop_tx, stop_rx) = watch::channel(false);
    let dropped = Arc::new(AtomicUsize::new(0));
    let agreed = Arc::new(AtomicUsize::new(0));
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let (target, sem, join) = (target.clone(), Arc::clone(&sem), join.clone());
        let (mut stop, dropped) = (stop_rx.clone(), Arc::clone(&dropped));
        let agreed = Arc::clone(&agreed);
        tasks.push(tokio::spawn(async move {
            if deflate {
                let mut ws = {
                    let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
                    DeflateWs::connect(&target, sources.source(i), Duration::from_secs(20)).await?
                };
                if ws.agreed {
                    agreed.fetch_add(1, Ordering::Relaxed);
                }
                return Ok::<_, String>(tokio::spawn(async move {
                    // Read until told to stop (pings are answered inside).
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = async { while ws.next_text().await.is_some() {} } => {
                            dropped.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                    ws.close().await;
                }));
            }
            let mut ws = {
                let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
                let mut ws =
                    client::connect(&target, sources.source(i), 4096, Duration::from_secs(20))
                        .await?;
                if let Some(room) = join {
                    crate::fanout::ready(&mut ws, &target, &room).await?;
                }
                ws
            };
            Ok::<_, String>(tokio::spawn(async move {
                // Read until told to stop: that answers pings; anything
                // ending the stream first is an error.
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        frame = ws.next() => match frame {
                            Some(Ok(Message::Text(text))) if client::is_engineio_ping(&text) => {
                                let _ = ws.send(Message::Text("3".into())).await;
                            }
                            Some(Ok(_)) => {}
                            _ => {
                                dropped.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                        },
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    let _ = ws.close(None).await;
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
            }))
        }));
    }
    let mut holders = Vec::with_capacity(count);
    let mut failures = 0usize;
    let mut example = None;
    for t in tasks {
        match t.await.map_err(|e| e.to_string())? {
            Ok(h) => holders.push(h),
            Err(e) => {
                failures += 1;
                example.get_or_insert(e);
            }
        }
    }
    let open_s = start.elapsed().as_secs_f64();
    let held = holders.len();
    eprintln!(
        "idle: {held} connections open after {open_s:.1}s ({failures} failed); holding {:.0}s",
        hold.as_secs_f64()
    );
    // Let the server settle (handshake buffers freed) before reading its RSS,
    // then hold the rest of the time.
    let settle = Duration::from_secs(2).min(hold);
    tokio::time::sleep(settle).await;
    let during = pid.and_then(|p| ProcSample::read(p).ok());
    tokio::time::sleep(hold - settle).await;
    let dropped_during_hold = dropped.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for h in holders {
        let _ = h.await;
    }

    let mut out = json!({
        "bench": "idle",
        "url": target.url,
        "count": count,
        "held": held,
        "failures": failures,
        "failure_example": example,
        "dropped_during_hold": dropped_during_hold,
        "hold_s": hold.as_secs_f64(),
        "open_s": round(open_s),
        "source_addresses": sources.addresses(count),
        "open_files_limit": nofile,
        "deflate_offered": deflate,
        "deflate_agreed": agreed.load(Ordering::Relaxed),
    });
    if let (Some(b), Some(d)) = (before, during) {
        let per = if held > 0 {
            (d.rss_kib as f64 - b.rss_kib as f64) / held as f64
        } else {
            0.0
        };
        merge(
            &mut out,
            json!({
                "server_rss_before_kib": b.rss_kib,
                "server_rss_held_kib": d.rss_kib,
                "server_rss_kib_per_connection": round(per),
            }),
        );
        eprintln!(
            "idle: server RSS {} KiB -> {} KiB with {held} held = {per:.2} KiB per connection; dropped during hold {dropped_during_hold}",
            b.rss_kib, d.rss_kib
        );
    } else {
        eprintln!("idle: held {held}; dropped during hold {dropped_during_hold}");
    }
    Ok(out)
}
