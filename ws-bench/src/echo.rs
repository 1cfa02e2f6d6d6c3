//! `echo`: C clients, each with one echo in flight, for S seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::args::{ArgError, Flags, block_on};
use crate::client::{self, Sources, Target};
use crate::stats::{ServerWatch, Timed, merge, round};

pub const USAGE: &str = "\
ws-bench echo: C clients each send an echo and wait for it, again and again,
for S seconds; reports round trips/s, latency percentiles and the server's
CPU time per round trip.

USAGE: ws-bench echo --url ws://127.0.0.1:3000/ws [options]

  --url U           server URL (loopback only)                 required
  --clients C       concurrent clients, one echo in flight each [50]
  --seconds S       duration of the measured run               [5]
  --size BYTES      length of each echo's text                 [32]
  --server-pid PID  read the server's CPU time and RSS from /proc/PID
";

/// A ceiling on round trips per client, so the loop is bounded in count
/// as well as in time.
const MAX_PER_CLIENT: u64 = 50_000_000;

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    let f = Flags::parse(
        args,
        &["url", "clients", "seconds", "size", "server-pid"],
        &[],
        USAGE,
    )?;
    let target = Target::parse(&f.required("url")?).map_err(ArgError::Bad)?;
    let clients = f.get("clients", 50usize)?.max(1);
    let seconds = f.get("seconds", 5.0f64)?.clamp(0.1, 3600.0);
    let size = f.get("size", 32usize)?;
    let pid: Option<u32> = f.opt("server-pid")?;
    block_on(run(
        target,
        clients,
        Duration::from_secs_f64(seconds),
        size,
        pid,
    ))
}

async fn run(
    target: Target,
    clients: usize,
    duration: Duration,
    size: usize,
    pid: Option<u32>,
) -> Result<Value, String> {
    client::raise_nofile();
    let sources = Sources::plan(clients, &target);
    let mut sockets = Vec::with_capacity(clients);
    for i in 0..clients {
        sockets.push(
            client::connect(
                &target,
                sources.source(i),
                16 * 1024,
                Duration::from_secs(10),
            )
            .await?,
        );
    }
    let text: Arc<str> = Arc::from("e".repeat(size.max(1)));
    let watch = ServerWatch::start(pid);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for mut ws in sockets {
        let frame = target.echo(&text);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline && (latencies.len() as u64) < MAX_PER_CLIENT {
                let t0 = Instant::now();
                if ws.send(Message::Text(frame.as_str().into())).await.is_err() {
                    errors += 1;
                    break;
                }
                let reply = tokio::time::timeout(Duration::from_secs(5), async {
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) if t.contains("\"echo\"") => return true,
                            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                            _ => return false,
                        }
                    }
                })
                .await;
                if reply != Ok(true) {
                    errors += 1;
                    break;
                }
                latencies.push(t0.elapsed().as_nanos() as u64);
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        errors += e;
    }
    let Timed {
        elapsed,
        count: trips,
        rate,
        pct,
        server,
    } = Timed::finish(start, &mut latencies, &watch, "round_trip");
    let mut out = json!({
        "bench": "echo",
        "url": target.url,
        "clients": clients,
        "size": size,
        "round_trips": trips,
        "errors": errors,
        "elapsed_s": round(elapsed),
        "round_trips_per_s": rate.round(),
    });
    merge(&mut out, pct.to_json());
    let cpu = server
        .get("server_cpu_us_per_round_trip")
        .and_then(Value::as_f64);
    merge(&mut out, server);
    eprintln!(
        "echo {clients} clients for {elapsed:.1}s: {trips} round trips = {rate:.0}/s; latency p50 {:.0} us, p99 {:.0} us, max {:.0} us; errors {errors}{}",
        pct.p50,
        pct.p99,
        pct.max,
        cpu.map(|c| format!("; server CPU {c:.3} us/round trip"))
            .unwrap_or_default(),
    );
    Ok(out)
}
