use ws_core::ws_protocol;

#[ws_protocol(handshake_timeout = "off", handshake_rate = "10 per second")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
