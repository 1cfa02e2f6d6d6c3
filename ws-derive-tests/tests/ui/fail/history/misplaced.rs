use ws_core::ws_protocol;

#[ws_protocol(history = 100)]
#[serde(tag = "type")]
pub enum Chat {
    /// Clients' messages are not a room's history.
    #[ws(client, history)]
    Say { room: String, text: String },
    /// `epoch` and `offset` are the framework's beside the tag.
    #[ws(server, history)]
    Said { room: String, text: String, offset: u64 },
    /// The bounds are protocol options.
    #[ws(server, history = 10)]
    Notice { room: String, text: String },
}

#[ws_protocol(history = 100)]
pub enum External {
    /// Nowhere for `epoch` and `offset` to go.
    #[ws(server, history)]
    Said { room: String, text: String },
}

#[ws_protocol(history_ttl = "0s", history_bytes = 0)]
#[serde(tag = "type")]
pub enum Zeros {
    #[ws(server, history)]
    Said { room: String, text: String },
}

fn main() {}
