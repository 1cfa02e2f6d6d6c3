use ws_core::ws_protocol;

#[ws_protocol(heartbeat = "30 seconds")]
pub enum Malformed {
    #[ws(client)]
    Join { room: String },
}

#[ws_protocol(heartbeat = "0s")]
pub enum Zero {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
