use ws_core::ws_protocol;

#[ws_protocol]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Chat {
    #[ws(client)]
    JoinRoom { room: String },
    #[ws(server)]
    Joinroom { room: String },
}

fn main() {}
