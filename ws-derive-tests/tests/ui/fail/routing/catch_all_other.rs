use ws_core::ws_protocol;

// A catch-all for "anything else" looks handy, but swallows typos.
#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
    #[ws(client)]
    #[serde(other)]
    Unknown,
}

fn main() {}
