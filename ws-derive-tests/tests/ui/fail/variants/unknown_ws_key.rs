use ws_core::ws_protocol;

#[ws_protocol]
pub enum Chat {
    #[ws(clinet)]
    Join { room: String },
    #[ws(server, server)]
    Kicked,
}

fn main() {}
