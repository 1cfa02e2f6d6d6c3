//! The chat example's protocol, shared with the `export_schema` example.

use serde::{Deserialize, Serialize};
use ws_core::history::{Position, Unrecovered};
use ws_core::schemars::{self, JsonSchema};
use ws_core::{UserId, ws_protocol};

/// A user in a room, in `present` and `presence_diff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "schemars")]
pub struct PresentUser {
    pub user: String,
    /// The user's connections in the room (across nodes with `--redis`).
    pub connections: u64,
    /// Whether one of the user's connections is typing in the room (sent
    /// `typing` with `typing: true` for it, and not `false` since).
    pub typing: bool,
}

/// A connection's presence meta: the rooms it is typing in. Kept by the
/// server (`Ctx::set_presence`); clients see, per room, only whether a
/// user is typing in it ([`PresentUser::typing`]), not its other rooms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMeta {
    pub typing: Vec<String>,
}

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
    // Clients ask for `chat.v1.json` or `chat.v1.msgpack` (or nothing: JSON).
    subprotocol = "chat.v1",
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
    /// Say something to everyone in a room, joined or not: this example's
    /// wire contract (load tools publish into rooms they do not read); a
    /// real app checks membership in its handler (see `App::say`).
    #[ws(client)]
    Say { room: String, text: String },
    /// Echo `text` back to the sender only.
    #[ws(client, server)]
    Echo { text: String },
    /// Typing in a room (`true`) or no longer (`false`): shown to its
    /// members in `present` and, with `--presence-events MS`, as an
    /// `updated` user in `presence_diff`.
    #[ws(client)]
    Typing { room: String, typing: bool },
    /// Ask how many connections are in a room; answered with `members`.
    #[ws(client, reply = Members)]
    Count { room: String },
    /// The answer to `count`.
    #[ws(server)]
    Members { room: String, count: u64 },
    /// Ask who is in a room, by user (across nodes with `--redis`);
    /// answered with `present`.
    #[ws(client, reply = Present)]
    Who { room: String },
    /// The answer to `who`: the room's first 100 users by name, each with
    /// its connection count and whether it is typing.
    #[ws(server)]
    Present {
        room: String,
        users: Vec<PresentUser>,
    },
    /// With `--presence-events MS`: the users who came to and went from a
    /// room you are in, and those who started or stopped typing in it
    /// (`updated`: replace what you hold of them), at most one message per
    /// window; a user away for less than the window (a second tab, a
    /// reconnect) is no event.
    #[ws(server)]
    PresenceDiff {
        room: String,
        joined: Vec<PresentUser>,
        left: Vec<String>,
        updated: Vec<PresentUser>,
    },
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
