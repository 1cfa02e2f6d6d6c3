//! `serve-core`: the framework under test with knobs the chat example lacks.
//! The chat example's own protocol file and the same handler code, so it
//! speaks the same wire protocol and does the same work per message; its
//! limits come from `CHAT_*` variables (every `#[ws_protocol]` option, e.g.
//! `CHAT_READ_BUFFER=4KiB`) and the flags below. Used where the example's
//! fixed limits do not fit, e.g. a 1 MB message (its `max_message_size` is
//! 64 KiB).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ws_core::axum::Router;
use ws_core::{Manager, endpoint};

use crate::app::App;
use crate::args::{ArgError, Flags};
use crate::protocol::Chat;

pub const USAGE: &str = "\
ws-bench serve-core: the chat example's protocol and handler on ws-core, with
its limits configurable (flags, or any CHAT_* variable, e.g. CHAT_READ_BUFFER).

USAGE: ws-bench serve-core [--addr 127.0.0.1:3000] [options]

  --addr A                 listen address (ws://A/ws)              [127.0.0.1:3000]
  --max-connections N      admission cap                           [the attribute's]
  --send-queue N           frames queued per connection            [the attribute's]
  --max-message-size BYTES largest inbound message                 [the attribute's]
  --history N              messages kept per room; 0 = off         [the attribute's]
  --max-seconds S          exit after S seconds                    [3600]
";

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    let f = Flags::parse(
        args,
        &[
            "addr",
            "max-connections",
            "send-queue",
            "max-message-size",
            "max-seconds",
            "history",
        ],
        &[],
        USAGE,
    )?;
    let addr: SocketAddr = f.get("addr", SocketAddr::from(([127, 0, 0, 1], 3000)))?;
    let mut builder = Manager::<Chat>::builder()
        .from_env("CHAT_")
        .map_err(|e| ArgError::Bad(e.to_string()))?;
    if let Some(n) = f.opt("max-connections")? {
        builder = builder.max_connections(n);
    }
    if let Some(n) = f.opt("send-queue")? {
        builder = builder.send_queue(n);
    }
    if let Some(n) = f.opt("max-message-size")? {
        builder = builder.max_message_size(n);
    }
    if let Some(n) = f.opt("history")? {
        builder = builder.history(n);
    }
    let max = Duration::from_secs_f64(f.get("max-seconds", 3600.0f64)?);
    let manager = builder.build();
    crate::serve_for(max, async move {
        let handshake_timeout = manager.config().handshake_timeout();
        let app = Router::new().route("/ws", endpoint(manager, Arc::new(App)));
        let listener = crate::listen(addr, "core", "/ws").await?;
        ws_core::serve(listener, app)
            .handshake_timeout(handshake_timeout)
            .await
            .map_err(|e| e.to_string())
    })
    .map_err(ArgError::Bad)
}
