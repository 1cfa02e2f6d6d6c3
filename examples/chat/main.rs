//! A chat server: rooms, users, echo, and a page at `/` that chats from a
//! browser.
//!
//! ```text
//! cargo run --example chat -- [--addr 127.0.0.1:3000] [--max-connections N] [--send-queue N]
//! ```
//!
//! Wire protocol (JSON text frames), so that any load tool can drive it:
//! - client → `{"type":"join","room":R}`, `{"type":"leave","room":R}`,
//!   `{"type":"say","room":R,"text":T}`, `{"type":"echo","text":T}`
//! - server → `{"type":"said","room":R,"text":T,"from":F}` to every member of R
//!   (the sender included), `{"type":"echo","text":T}` to the sender only.
//!
//! Connect with `?user=NAME` to be registered as user NAME.

use std::net::SocketAddr;
use std::sync::Arc;

use ws_core::axum::http::request::Parts;
use ws_core::axum::response::{Html, Response};
use ws_core::axum::{Router, routing::get};
use ws_core::{Ctx, Disconnect, HandlerResult, Manager, UserId, endpoint};

mod protocol;
use protocol::{Chat, ChatHandler, chat};

struct App;

impl ChatHandler for App {
    async fn authenticate(&self, request: &Parts) -> Result<Option<UserId>, Response> {
        // A real server checks a token here; the demo trusts `?user=NAME`.
        let user = request
            .uri
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("user=")))
            .filter(|name| !name.is_empty())
            .map(UserId::from);
        Ok(user)
    }

    async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
        ctx.join(&msg.room)?;
        Ok(())
    }

    async fn leave(&self, ctx: &Ctx<Chat>, msg: chat::Leave) -> HandlerResult {
        ctx.leave(&msg.room);
        Ok(())
    }

    async fn say(&self, ctx: &Ctx<Chat>, chat::Say { room, text }: chat::Say) -> HandlerResult {
        let from = match ctx.user() {
            Some(user) => user.to_string(),
            None => format!("#{}", ctx.id()),
        };
        ctx.to_room(&room).send(chat::Said { room: room.clone(), text, from })?;
        Ok(())
    }

    async fn echo(&self, ctx: &Ctx<Chat>, msg: chat::Echo) -> HandlerResult {
        ctx.send(msg)?;
        Ok(())
    }

    async fn on_disconnect(&self, ctx: &Ctx<Chat>, disconnect: &Disconnect) {
        tracing::debug!(conn = %ctx.id(), ?disconnect, "left");
    }
}

struct Args {
    addr: SocketAddr,
    max_connections: Option<usize>,
    send_queue: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        max_connections: None,
        send_queue: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--max-connections" => {
                args.max_connections =
                    Some(value()?.parse().map_err(|e| format!("--max-connections: {e}"))?)
            }
            "--send-queue" => {
                args.send_queue = Some(value()?.parse().map_err(|e| format!("--send-queue: {e}"))?)
            }
            "-h" | "--help" => {
                return Err("usage: chat [--addr HOST:PORT] [--max-connections N] [--send-queue N]".into());
            }
            other => return Err(format!("unknown argument `{other}`; try --help")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let mut builder = Manager::<Chat>::builder();
    if let Some(n) = args.max_connections {
        builder = builder.max_connections(n);
    }
    if let Some(n) = args.send_queue {
        builder = builder.send_queue(n);
    }
    let manager = builder.build();
    let app = Router::new()
        .route("/", get(|| async { Html(include_str!("index.html")) }))
        .route("/ws", endpoint(manager, Arc::new(App)));
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {}: {e}", args.addr));
    println!("chat listening on http://{}", listener.local_addr().expect("bound"));
    ws_core::serve(listener, app).await.expect("server failed");
}
