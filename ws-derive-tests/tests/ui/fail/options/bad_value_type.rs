use ws_core::ws_protocol;

// Every mistake is reported in one compile.
#[ws_protocol(send_queue = "big", heartbeat = 30, on_full = "drop", max_connections = -1)]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
