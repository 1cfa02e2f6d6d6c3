//! The expansion is warning-free in an ordinary crate. trybuild builds its
//! cases with `-A dead_code`, so this is checked here: a private protocol
//! whose messages, handler trait and schema are never used.

#![deny(warnings, unused_qualifications, unreachable_pub)]

use ws_core::ws_protocol;

/// Never used: no message is built, sent or handled.
#[ws_protocol(send_queue = 4)]
#[derive(Debug, Clone)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Unused {
    /// A client message.
    #[ws(client)]
    Join { room: String, count: u32 },
    #[ws(client, server)]
    Both {},
    /// A server message that is never sent.
    #[ws(server)]
    Kicked { reason: String },
    #[ws(server)]
    Gone,
    /// A request whose reply is never sent.
    #[ws(client, reply = Kicked)]
    Ask { n: u32 },
}

#[test]
fn compiles_without_warnings() {}
