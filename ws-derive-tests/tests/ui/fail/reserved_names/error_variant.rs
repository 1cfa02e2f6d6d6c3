use ws_core::ws_protocol;

// An application error message, named like the framework's error frame.
#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Game {
    #[ws(client)]
    Start,
    #[ws(server)]
    Error { reason: String },
}

fn main() {}
