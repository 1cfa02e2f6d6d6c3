//! `connect`: N connections opened (handshake included) and closed, K at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::args::{ArgError, Flags, block_on};
use crate::client::{self, Sources, Target};
use crate::stats::{ServerWatch, Timed, merge, round};

pub const USAGE: &str = "\
ws-bench connect: opens N WebSocket connections, K at a time, each closed
(close handshake) right after it opens; reports connections/s, failures and
handshake latency percentiles.

USAGE: ws-bench connect --url ws://127.0.0.1:3000/ws [options]

  --url U            server URL (loopback only)                  required
  --count N          connections to open                         [1000]
  --concurrency K    connections being opened at once            [50]
  --server-pid PID   read the server's CPU time and RSS from /proc/PID
";

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    let f = Flags::parse(
        args,
        &["url", "count", "concurrency", "server-pid"],
        &[],
        USAGE,
    )?;
    let target = Target::parse(&f.required("url")?).map_err(ArgError::Bad)?;
    let count = f.get("count", 1000usize)?;
    let concurrency = f.get("concurrency", 50usize)?.max(1);
    let pid: Option<u32> = f.opt("server-pid")?;
    block_on(run(target, count, concurrency, pid))
}

async fn run(
    target: Target,
    count: usize,
    concurrency: usize,
    pid: Option<u32>,
) -> Result<Value, String> {
    client::raise_nofile();
    let sources = Sources::plan(count, &target);
    let next = Arc::new(AtomicUsize::new(0));
    let watch = ServerWatch::start(pid);
    let start = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.min(count.max(1)) {
        let (target, next) = (target.clone(), Arc::clone(&next));
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures: Vec<String> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t0 = Instant::now();
                match client::connect(&target, sources.source(i), 4096, Duration::from_secs(10))
                    .await
                {
                    Ok(mut ws) => {
                        latencies.push(t0.elapsed().as_nanos() as u64);
                        // Close handshake: the server answers and closes the
                        // TCP connection first, so TIME_WAIT stays on its side.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            let _ = ws.close(None).await;
                            while let Some(Ok(_)) = ws.next().await {}
                        })
                        .await;
                    }
                    Err(e) => {
                        if failures.len() < 5 {
                            failures.push(e);
                        } else {
                            failures.push(String::new());
                        }
                    }
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0usize;
    let mut examples: Vec<String> = Vec::new();
    for w in workers {
        let (l, f) = w.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        failures += f.len();
        examples.extend(
            f.into_iter()
                .filter(|e| !e.is_empty())
                .take(5 - examples.len().min(5)),
        );
    }
    let Timed {
        elapsed,
        count: ok,
        rate,
        pct,
        server,
    } = Timed::finish(start, &mut latencies, &watch, "connection");
    let mut out = json!({
        "bench": "connect",
        "url": target.url,
        "count": count,
        "concurrency": concurrency,
        "connected": ok,
        "failures": failures,
        "failure_examples": examples,
        "source_addresses": sources.addresses(count),
        "elapsed_s": round(elapsed),
        "connections_per_s": rate.round(),
    });
    merge(&mut out, pct.to_json());
    merge(&mut out, server);
    eprintln!(
        "connect {count} ({concurrency} at once): {ok} in {elapsed:.2}s = {rate:.0}/s; handshake p50 {:.0} us, p99 {:.0} us; failures {failures}",
        pct.p50, pct.p99
    );
    Ok(out)
}
