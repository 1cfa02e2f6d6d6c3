use ws_core::ws_protocol;

/// Externally tagged: no tag to put the correlation id beside.
#[ws_protocol]
pub enum External {
    #[ws(client, reply = Pong)]
    Ping,
    #[ws(server)]
    Pong,
}

/// `id` is the correlation id's name.
#[ws_protocol]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Internal {
    #[ws(client, reply = Pong)]
    Ping { id: u32 },
    #[ws(server)]
    Pong {
        #[serde(rename = "id")]
        n: u32,
    },
    /// Not correlated: `id` is fine here.
    #[ws(server)]
    Other { id: u32 },
}

fn main() {}
