//! A chat server: rooms, users, echo, and a page at `/` that chats from a
//! browser.
//!
//! ```text
//! cargo run --example chat -- [--addr 127.0.0.1:3000] [--max-connections N] [--send-queue N]
//!                                [--redis redis://127.0.0.1:6379/] [--history N]
//!                                [--redis-cluster redis://10.0.0.1:7000/,redis://10.0.0.2:7000/]
//!                                [--nats nats://127.0.0.1:4222]
//!                                [--redis-wait SECS] [--presence-events MS] [--presence-ttl MS]
//!                                [--tls-cert cert.pem --tls-key key.pem]
//! ```
//!
//! One port serves HTTP/1.1 and HTTP/2: browsers and clients open
//! WebSockets with an HTTP/1.1 upgrade or, over HTTP/2, with an extended
//! CONNECT (RFC 8441), many on one connection. With `--tls-cert` and
//! `--tls-key` (PEM files; ws-core feature `tls`) it serves HTTPS and
//! `wss://` only, HTTP/2 chosen by ALPN, and a renewed certificate written
//! over the files is served from the next connection on.
//!
//! With `--redis URL`, the process listens only once its Redis backend is
//! connected (at most `--redis-wait` seconds, default 30, then it exits 1):
//! a client that resumed on a node still without Redis would be answered
//! from a node-local history (`epoch_changed`), though Redis has the room's.
//!
//! With `--redis URL` (cargo feature `redis`), several chat processes
//! sharing one Redis behave as one chat: rooms and users span them, each
//! process keeping its own limits. A process that dies without a word
//! (SIGKILL) drops out of `who` within its presence TTL (`--presence-ttl
//! MS`, default 15 s).
//!
//! With `--redis-cluster URL[,URL...]` instead, the processes share a Redis
//! Cluster (any of its nodes' URLs; the others are found): the same chat,
//! each room's history and channel on the master of its slot. A master
//! that dies is replaced by its replica; a resume across that is told
//! `epoch_changed` (the new master may lack the last records).
//!
//! With `--nats URL` (cargo feature `nats`), the same through NATS
//! JetStream (`nats-server -js`): rooms, users and the histories (a stream
//! per room) span the processes, presence lives in a key-value bucket.
//! It waits for NATS as for Redis (`--redis-wait SECS`, any engine).
//!
//! Wire protocol (JSON text frames), so that any load tool can drive it:
//! - client → `{"type":"join","room":R}`, `{"type":"leave","room":R}`,
//!   `{"type":"say","room":R,"text":T}`, `{"type":"echo","text":T}`
//! - server → `{"type":"said","room":R,"text":T,"from":F,"epoch":E,"offset":N}`
//!   to every member of R (the sender included), `{"type":"echo","text":T}`
//!   to the sender only.
//! - `say` into any room, joined or not, is this example's wire contract:
//!   load tools and tests publish into rooms they do not read. A real app
//!   checks membership first, with one line at the top of its `say`
//!   handler:
//!   `if !ctx.rooms().iter().any(|r| **r == *room) { return Err(HandlerError::reply("not_in_room", "join the room first")); }`
//!   (or an `authorize_join` and a membership check alike, as
//!   `examples/auth` does).
//! - every join is answered with
//!   `{"type":"joined","room":R,"epoch":E,"offset":N,"recovered":B}`, N the
//!   room's latest offset, before anything else of R.
//!   `{"type":"join","room":R,"since":{"epoch":E,"offset":N}}` resumes: the
//!   answer has `"recovered":true` and every `said` of R after N follows in
//!   order, then the live ones; or `"recovered":false` with a `"reason"`
//!   (`epoch_changed`, `too_far_behind`, `expired`) and only live ones.
//!   History keeps 1,000 messages of 5 minutes per room; `--history N`
//!   changes the count, and `--history 0` turns it off (no `epoch`, no
//!   `offset` on `said`).
//! - request/reply: `{"type":"count","room":R,"id":7}` is answered with
//!   `{"type":"members","room":R,"count":N,"id":7}`, and
//!   `{"type":"who","room":R,"id":8}` with
//!   `{"type":"present","room":R,"users":[{"user":U,"connections":C,"typing":T},...],"id":8}`
//!   (users by name, at most 100; across nodes with `--redis`).
//! - `{"type":"typing","room":R,"typing":true}` (or `false`) sets whether
//!   this connection is typing in R, in its presence meta: `typing` of its
//!   user in R is true while one of the user's connections (on any node)
//!   is.
//! - with `--presence-events MS`, the members of a room get
//!   `{"type":"presence_diff","room":R,"joined":[{"user":U,"connections":C,"typing":T}],"left":[U],"updated":[...]}`
//!   at most once per window of MS milliseconds, when someone came or went
//!   or started or stopped typing (`updated`: the user's entry now);
//!   a user away for less than the window is no event.
//!
//! Connect with `?user=NAME` to be registered as user NAME.
//!
//! Operating it: logs go to stderr, filtered by `RUST_LOG` (default `info`;
//! e.g. `RUST_LOG=ws_core=debug`), including a warning when the Redis
//! backend goes down and again when it is back; `GET /health` answers 200 or
//! 503 ([`ws_core::health`]); `GET /metrics` is the Prometheus text format
//! of every metric in the README's table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use ws_core::axum::http::header;
use ws_core::axum::response::{Html, IntoResponse};
use ws_core::axum::{Router, routing::get};
use ws_core::{CloseInfo, Manager, close_code, endpoint};

mod app;
mod protocol;
use app::App;
use protocol::Chat;

struct Args {
    addr: SocketAddr,
    max_connections: Option<usize>,
    send_queue: Option<usize>,
    redis: Option<String>,
    redis_cluster: Option<Vec<String>>,
    redis_wait: Duration,
    nats: Option<String>,
    history: Option<usize>,
    presence_events: Option<Duration>,
    presence_ttl: Option<Duration>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        max_connections: None,
        send_queue: None,
        redis: None,
        redis_cluster: None,
        redis_wait: Duration::from_secs(30),
        nats: None,
        history: None,
        presence_events: None,
        presence_ttl: None,
        tls_cert: None,
        tls_key: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--max-connections" => {
                args.max_connections = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--max-connections: {e}"))?,
                )
            }
            "--send-queue" => {
                args.send_queue = Some(value()?.parse().map_err(|e| format!("--send-queue: {e}"))?)
            }
            "--redis" => args.redis = Some(value()?),
            "--redis-cluster" => {
                args.redis_cluster = Some(value()?.split(',').map(str::to_owned).collect())
            }
            "--nats" => args.nats = Some(value()?),
            "--redis-wait" => {
                let secs: u64 = value()?.parse().map_err(|e| format!("--redis-wait: {e}"))?;
                args.redis_wait = Duration::from_secs(secs);
            }
            "--history" => {
                args.history = Some(value()?.parse().map_err(|e| format!("--history: {e}"))?)
            }
            "--presence-events" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--presence-events: {e}"))?;
                args.presence_events = Some(Duration::from_millis(ms));
            }
            "--presence-ttl" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--presence-ttl: {e}"))?;
                args.presence_ttl = Some(Duration::from_millis(ms));
            }
            "--tls-cert" => args.tls_cert = Some(value()?.into()),
            "--tls-key" => args.tls_key = Some(value()?.into()),
            "-h" | "--help" => {
                return Err("usage: chat [--addr HOST:PORT] [--max-connections N] [--send-queue N] [--redis URL | --redis-cluster URL[,URL...] | --nats URL] [--redis-wait SECS] [--history N] [--presence-events MS] [--presence-ttl MS] [--tls-cert PEM --tls-key PEM]".into());
            }
            other => return Err(format!("unknown argument `{other}`; try --help")),
        }
    }
    let engines = [
        args.redis.is_some(),
        args.redis_cluster.is_some(),
        args.nats.is_some(),
    ];
    if engines.iter().filter(|on| **on).count() > 1 {
        return Err("--redis, --redis-cluster and --nats: one engine at a time".into());
    }
    if args.tls_cert.is_some() != args.tls_key.is_some() {
        return Err("--tls-cert and --tls-key go together".into());
    }
    Ok(args)
}

/// Waits until the Redis backend is connected, before the process listens:
/// until then a join would be answered from a node-local history, whose
/// epoch is not Redis's, and a resume would be told `epoch_changed` though
/// nothing was lost. Not listening (rather than answering 503) also keeps
/// `/health` and `/metrics` honest: nothing answers before the node can
/// serve. Exits 1 when Redis does not come within `within`.
async fn backend_ready(manager: &Manager<Chat>, engine: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while !manager.backend_status().is_some_and(|status| status.up) {
        if tokio::time::Instant::now() >= deadline {
            eprintln!(
                "{engine} not reachable within {}s; is it running? (--redis-wait SECS waits longer)",
                within.as_secs()
            );
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The certificate and key of `--tls-cert` and `--tls-key`; exits 2 with
/// the reason when they cannot be used.
#[cfg(feature = "tls")]
fn tls(args: &Args) -> Option<ws_core::Tls> {
    let (cert, key) = args.tls_cert.as_ref().zip(args.tls_key.as_ref())?;
    match ws_core::Tls::from_pem_files(cert, key) {
        Ok(tls) => Some(tls),
        Err(error) => {
            eprintln!("--tls-cert/--tls-key: {error}");
            std::process::exit(2);
        }
    }
}

#[cfg(not(feature = "tls"))]
fn tls(args: &Args) {
    if args.tls_cert.is_some() {
        eprintln!("--tls-cert: no TLS in this build (ws-core feature `tls`)");
        std::process::exit(2);
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// A Prometheus recorder for the `metrics` facade, installed globally; it
/// must be in place before the manager is built, which registers its
/// metrics then. The exporter's own HTTP listener is not built: `/metrics` is
/// a route of this app, rendered through the handle.
fn init_metrics() -> PrometheusHandle {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("no other metrics recorder is installed");
    // Histograms (rendered as summaries) age out their samples on upkeep.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    handle
}

async fn metrics_text(handle: PrometheusHandle) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}

#[tokio::main]
async fn main() {
    init_logging();
    let prometheus = init_metrics();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    // Every limit can be tuned from the environment: CHAT_MAX_CONNECTIONS,
    // CHAT_SEND_QUEUE, CHAT_READ_BUFFER, CHAT_HEARTBEAT, ...; flags win.
    let mut builder = match Manager::<Chat>::builder().from_env("CHAT_") {
        Ok(builder) => builder,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    if let Some(n) = args.max_connections {
        builder = builder.max_connections(n);
    }
    if let Some(n) = args.send_queue {
        builder = builder.send_queue(n);
    }
    if let Some(n) = args.history {
        builder = builder.history(n);
    }
    let redis_flag = match (&args.redis, &args.redis_cluster) {
        (Some(url), _) => Some(("--redis", vec![url.as_str()])),
        (None, Some(urls)) => Some(("--redis-cluster", urls.iter().map(String::as_str).collect())),
        (None, None) => None,
    };
    if let Some((flag, urls)) = redis_flag {
        #[cfg(feature = "redis")]
        {
            let redis = match flag {
                "--redis" => ws_core::RedisBackend::new(urls[0]),
                _ => ws_core::RedisBackend::cluster(&urls),
            };
            let mut redis = redis.unwrap_or_else(|error| {
                eprintln!("{flag}: {error}");
                std::process::exit(2);
            });
            if let Some(ttl) = args.presence_ttl {
                redis = redis.presence_ttl(ttl);
            }
            builder = builder.backend(redis);
        }
        #[cfg(not(feature = "redis"))]
        {
            eprintln!("{flag} {urls:?}: no Redis backend in this build (ws-core feature `redis`)");
            std::process::exit(2);
        }
    }
    if let Some(url) = &args.nats {
        #[cfg(feature = "nats")]
        {
            let mut nats = ws_core::NatsBackend::new(url).unwrap_or_else(|error| {
                eprintln!("--nats: {error}");
                std::process::exit(2);
            });
            if let Some(ttl) = args.presence_ttl {
                nats = nats.presence_ttl(ttl);
            }
            builder = builder.backend(nats);
        }
        #[cfg(not(feature = "nats"))]
        {
            eprintln!("--nats {url}: no NATS backend in this build (ws-core feature `nats`)");
            std::process::exit(2);
        }
    }
    if let Some(window) = args.presence_events {
        let _ = app::PRESENCE_EVENTS.set(window);
    }
    // A refused value (`CHAT_HEARTBEAT=0s`, `--send-queue 0`) is a usage
    // error: say which and how to fix it, and exit 2 as for a bad flag.
    let manager = builder.try_build().unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(2);
    });
    if args.redis.is_some() {
        backend_ready(&manager, "--redis: Redis", args.redis_wait).await;
    } else if args.redis_cluster.is_some() {
        backend_ready(&manager, "--redis-cluster: Redis Cluster", args.redis_wait).await;
    } else if args.nats.is_some() {
        backend_ready(&manager, "--nats: NATS", args.redis_wait).await;
    }
    let handshake_timeout = manager.config().handshake_timeout();
    let app = Router::new()
        .route("/", get(|| async { Html(include_str!("index.html")) }))
        .route("/health", ws_core::health(manager.clone()))
        .route("/metrics", get(move || metrics_text(prometheus.clone())))
        .route("/ws", endpoint(manager.clone(), Arc::new(App)));
    // Read before listening, so that unusable files are a usage error.
    let tls = tls(&args);
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {}: {e}", args.addr));
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "chat listening on {scheme}://{}",
        listener.local_addr().expect("bound")
    );
    let serve = ws_core::serve(listener, app).handshake_timeout(handshake_timeout);
    #[cfg(feature = "tls")]
    let serve = match tls {
        Some(tls) => serve.tls(tls),
        None => serve,
    };
    #[cfg(not(feature = "tls"))]
    let () = tls;
    // A deploy (SIGTERM) or Ctrl-C: stop admitting, send every client close
    // 1012 (service restart: reconnect) after what is queued for it, drain
    // for up to 10 s, and exit 0.
    serve
        .with_graceful_shutdown(async move {
            ws_core::shutdown_signal().await;
            let restart = CloseInfo::new(close_code::SERVICE_RESTART, "server restarting");
            let report = manager
                .shutdown_with(restart, Duration::from_secs(10))
                .await;
            println!(
                "chat stopped: {} connections closed, {} forcibly",
                report.closed, report.forced
            );
        })
        .await
        .expect("server failed");
}
