use ws_core::ws_protocol;

// A catch-all for "anything else" looks handy, but swallows typos.
#[ws_protocol]
pub enum Chat {
    #[ws(client)]
    #[serde(other)]
    Unknown,
}

fn main() {}
