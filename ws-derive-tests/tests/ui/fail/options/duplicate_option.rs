use ws_core::ws_protocol;

#[ws_protocol(send_queue = 8, heartbeat = "10s", send_queue = 16)]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
