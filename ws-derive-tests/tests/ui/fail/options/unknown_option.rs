use ws_core::ws_protocol;

#[ws_protocol(max_conn = 100, send_queue = 8)]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
