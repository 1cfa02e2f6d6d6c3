use ws_core::ws_protocol;

/// With every client message correlated, `id` and `ack` are taken.
#[ws_protocol(correlate = "all")]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Game {
    #[ws(client)]
    Kick { id: u32 },
    #[ws(client)]
    Ack,
    /// A server message may still have an `id`.
    #[ws(server)]
    Kicked { id: u32 },
}

#[ws_protocol(correlate = "every")]
#[serde(tag = "type")]
pub enum Typo {
    #[ws(client)]
    Ping,
}

fn main() {}
