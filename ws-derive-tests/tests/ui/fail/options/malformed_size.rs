use ws_core::ws_protocol;

#[ws_protocol(max_message_size = "64 kilobytes", read_buffer = "0KiB")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
