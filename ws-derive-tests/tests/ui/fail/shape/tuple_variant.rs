use ws_core::ws_protocol;

#[ws_protocol]
pub enum Chat {
    #[ws(client)]
    Join(String),
    #[ws(server)]
    Kicked,
}

fn main() {}
