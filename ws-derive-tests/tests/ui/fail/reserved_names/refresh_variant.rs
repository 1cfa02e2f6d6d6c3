use ws_core::ws_protocol;

// An application message named like the framework's refresh frame, which
// the read loop would take for a new credential.
#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Game {
    #[ws(client)]
    Refresh { token: String },
    #[ws(server)]
    Started,
}

fn main() {}
