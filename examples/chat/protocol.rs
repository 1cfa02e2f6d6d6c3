//! The chat example's protocol, shared with the `export_schema` example.

use ws_core::history::{Position, Unrecovered};
use ws_core::{UserId, ws_protocol};

/// The chat protocol.
#[ws_protocol(
    history = 1000,
    history_ttl = "5m",
    max_connections = 10_000,
    send_queue = 256,
    on_full = "close",
    max_message_size = "64KiB",
    heartbeat = "30s",
    idle_timeout = "60s",
    // The session is the user of `?user=NAME`, or none.
    session = Option<UserId>
)]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    /// Join a room (created on first join); answered with `joined`. With
    /// `since`, the position last processed, what was missed follows.
    #[ws(client)]
    Join {
        room: String,
        since: Option<Position>,
    },
    /// The answer to `join`: the room's epoch and latest offset, and whether
    /// every `said` after `since` follows (`recovered`), or why not.
    #[ws(server)]
    Joined {
        room: String,
        epoch: String,
        offset: u64,
        recovered: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<Unrecovered>,
    },
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
    /// Someone said something in a room you are in. Kept in the room's
    /// history, with its `epoch` and `offset`.
    #[ws(server, history)]
    Said {
        room: String,
        text: String,
        /// The speaker: a user name, or `#<connection id>`.
        from: String,
    },
}
