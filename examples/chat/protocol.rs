//! The chat example's protocol, shared with the `export_schema` example.

use ws_core::ws_protocol;

/// The chat protocol.
#[ws_protocol(
    max_connections = 10_000,
    send_queue = 256,
    on_full = "close",
    max_message_size = "64KiB",
    heartbeat = "30s",
    idle_timeout = "60s"
)]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    /// Join a room (created on first join).
    #[ws(client)]
    Join { room: String },
    /// Leave a room (removed when empty).
    #[ws(client)]
    Leave { room: String },
    /// Say something to everyone in a room.
    #[ws(client)]
    Say { room: String, text: String },
    /// Echo `text` back to the sender only.
    #[ws(client, server)]
    Echo { text: String },
    /// Ask how many connections are in a room; answered with `members`.
    #[ws(client, reply = Members)]
    Count { room: String },
    /// The answer to `count`.
    #[ws(server)]
    Members { room: String, count: u64 },
    /// Someone said something in a room you are in.
    #[ws(server)]
    Said {
        room: String,
        text: String,
        /// The speaker: a user name, or `#<connection id>`.
        from: String,
    },
}
