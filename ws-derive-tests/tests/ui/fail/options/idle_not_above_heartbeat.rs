use ws_core::ws_protocol;

#[ws_protocol(heartbeat = "30s", idle_timeout = "30s")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
