use ws_core::ws_protocol;

// `skip` to "hide" a variant that is not ready yet.
#[ws_protocol]
pub enum Chat {
    #[ws(client)]
    #[serde(skip)]
    Leave { room: String },
    #[ws(server)]
    #[serde(skip_serializing)]
    Kicked,
}

fn main() {}
