use ws_core::ws_protocol;

// A notification with a `type` of its own, in an enum tagged `type`.
#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
    #[ws(server)]
    Notice { r#type: String, text: String },
}

fn main() {}
