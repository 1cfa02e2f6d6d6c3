//! `ws-bench`: a load generator for servers speaking the chat example's wire
//! protocol, and two baseline servers speaking it too. See `ws-bench --help`
//! and `BENCHMARKS.md` at the repository root.

mod args;
// The chat example's protocol and handlers, included by path so that
// `serve-core` does exactly the example's work.
#[path = "../../examples/chat/app.rs"]
mod app;
mod client;
mod codec;
mod connect;
mod core_server;
mod deflate;
mod drops;
mod echo;
mod fanout;
mod idle;
mod large;
mod naive;
#[cfg(feature = "peers")]
mod peers;
#[path = "../../examples/chat/protocol.rs"]
mod protocol;
mod raw;
mod stats;
mod summarize;
mod wire;

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use args::ArgError;

const USAGE: &str = "\
ws-bench: load generator and baseline servers for the chat wire protocol
(client: join / say / echo; server: said / echo). Loopback targets only.

USAGE: ws-bench <COMMAND> [--help | options]

Load (one JSON line on stdout per run, a human summary on stderr):
  fanout       N clients in one room, one publisher, M messages: deliveries/s,
               latency p50/p99/max, loss, reordering, server CPU per delivery
  echo         C clients, one echo in flight each, for S seconds: round trips/s
  connect      N connects, K at a time: connections/s, failures
  idle         hold N idle connections: server RSS per connection
  large        one large message to N clients: the server's peak RSS rise
  codec        one message's bytes in JSON and MessagePack, ns per encoding
  drops        N subscribers, a publisher at a fixed rate, every subscriber's
               connection cut every K s and resumed with `since`: share
               delivered, duplicates, recovery latency p50/p99

Servers (run until killed or --max-seconds):
  serve-core   the chat example's protocol and handler on ws-core, configurable
  serve-naive  baseline: axum WebSocketUpgrade + a tokio broadcast per room
  serve-raw    baseline: no framework, pre-encoded frames straight to sockets
  serve-tungstenite  peer (feature `peers`): a plain tokio-tungstenite hub
  serve-socketio     peer (feature `peers`): socketioxide; load commands
               speak Socket.IO to a ws://HOST:PORT/socket.io/ URL

Reports:
  summarize    a Markdown table (medians, ratios) from the JSON lines of runs

Pass --label NAME to a load command to tag its JSON line (core, naive, raw).
Pass --server-pid PID to a load command to read the server's CPU time and
memory from /proc/PID: CPU time per delivered message is the figure that holds
steady on a busy machine, unlike rates.
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("--help", &[][..]),
    };
    // `--label NAME` tags the JSON line of any load command.
    let mut rest = rest.to_vec();
    let mut label = None;
    if let Some(at) = rest.iter().position(|a| a == "--label") {
        rest.remove(at);
        if at < rest.len() {
            label = Some(rest.remove(at));
        }
    }
    let rest = &rest[..];
    let result = match command {
        "fanout" => fanout::parse(rest),
        "codec" => codec::parse(rest),
        "echo" => echo::parse(rest),
        "connect" => connect::parse(rest),
        "idle" => idle::parse(rest),
        "large" => large::parse(rest),
        "drops" => drops::parse(rest),
        "serve-core" => core_server::parse(rest),
        "serve-naive" => naive::parse(rest),
        "serve-raw" => raw::parse(rest),
        #[cfg(feature = "peers")]
        "serve-tungstenite" => peers::tungstenite::parse(rest),
        #[cfg(feature = "peers")]
        "serve-socketio" => peers::socketio::parse(rest),
        "summarize" => summarize::parse(rest),
        "-h" | "--help" | "help" => Err(ArgError::Help(USAGE)),
        other => Err(ArgError::Bad(format!(
            "unknown command `{other}`\n\n{USAGE}"
        ))),
    };
    match result {
        Ok(Value::Null) => {}
        Ok(mut line) => {
            if let (Some(label), Some(object)) = (label, line.as_object_mut()) {
                object.insert("label".to_owned(), Value::String(label));
            }
            println!("{line}");
        }
        Err(ArgError::Help(usage)) => print!("{usage}"),
        Err(ArgError::Bad(message)) => {
            eprintln!("ws-bench: {message}");
            std::process::exit(2);
        }
    }
}

/// `serve-*` commands with no flag but `--addr` (default port `port`) and
/// `--max-seconds`: runs `serve(addr)` for that long.
pub(crate) fn serve_plain<F: Future<Output = Result<(), String>>>(
    args: &[String],
    usage: &'static str,
    port: u16,
    serve: impl FnOnce(std::net::SocketAddr) -> F,
) -> Result<Value, args::ArgError> {
    let f = args::Flags::parse(args, &["addr", "max-seconds"], &[], usage)?;
    let addr = f.get("addr", std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    let max = Duration::from_secs_f64(f.get("max-seconds", 3600.0f64)?);
    serve_for(max, serve(addr)).map_err(args::ArgError::Bad)
}

/// Binds `addr` and says where `name` listens (`ws://ADDR{path}`), the line
/// the benchmark scripts wait for.
pub(crate) async fn listen(
    addr: std::net::SocketAddr,
    name: &str,
    path: &str,
) -> Result<tokio::net::TcpListener, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("{name} listening on ws://{local}{path}");
    Ok(listener)
}

/// Runs a server until it fails or `max` has passed.
pub(crate) fn serve_for(
    max: Duration,
    server: impl Future<Output = Result<(), String>>,
) -> Result<Value, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        match tokio::time::timeout(max, server).await {
            Ok(result) => result.map(|()| Value::Null),
            Err(_) => Ok(Value::Null),
        }
    })
}
