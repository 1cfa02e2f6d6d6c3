use ws_core::ws_protocol;

/// `history = 0` keeps nothing: a `history` message would silently be
/// never kept.
#[ws_protocol(history = 0)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    #[ws(server, history)]
    Said { room: String, text: String },
}

fn main() {}
