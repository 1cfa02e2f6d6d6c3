use ws_core::ws_protocol;

#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
    #[ws(client)]
    #[serde(rename = "join")]
    JoinRoom { room: String },
}

fn main() {}
