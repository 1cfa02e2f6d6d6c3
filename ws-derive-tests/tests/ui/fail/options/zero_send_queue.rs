use ws_core::ws_protocol;

#[ws_protocol(send_queue = 0)]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
