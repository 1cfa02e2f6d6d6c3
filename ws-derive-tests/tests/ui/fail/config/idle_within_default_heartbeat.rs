use ws_core::ws_protocol;

// Only one of the two is given; the other is ws-core's default, not a copy
// of it in the macro.
#[ws_protocol(idle_timeout = "30s")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

#[ws_protocol(heartbeat = "2m")]
pub enum Late {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
