use ws_core::ws_protocol;

#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Board {
    #[ws(client)]
    Post { board: String, text: String },
    /// Kept, but clients could not tell which room's position it moves.
    #[ws(server, history)]
    Posted { board: String, text: String },
    /// The wire name is what counts: `room` renamed away is not a room.
    #[ws(server, history)]
    Moved {
        #[serde(rename = "to")]
        room: String,
    },
    /// A unit message has no room at all.
    #[ws(server, history)]
    Cleared,
}

fn main() {}
